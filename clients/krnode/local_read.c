/* local_read.c - the adapters' reads: answered at once from a snapshot
 * of the last commit (ARCHITECTURE departure 32), and the referral reads
 * (referral_get and _list, referral_view). The listings are in
 * local_list.c. */
#include <string.h>

#include "log.h"
#include "node.h"

#include "local_internal.h"

/* A referral's state, or a listing (referrals.c). */
void
local_referrals(struct node *n, const struct origin *from,
                const Kr__V1__LocalRequest *req)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    const char *why = "";
    MDB_txn *txn;
    int rc;

    if ((rc = pass_txn(n, &txn)) != KR_OK ||
        (rc = referrals_local(n, txn, req, &resp, &why)) != KR_OK) {
        referrals_local_free(&resp);
        local_reply_err(n, from, rc, "%s", why);
        return;
    }
    local_reply(n, from, &resp);
    referrals_local_free(&resp);
}

/* A referral and the messages of its history that this node received
 * (the one that opened it, at the performer, and the other party's
 * status changes), from one snapshot: the FHIR gateway's Task in one
 * round trip. */
#define S_VIEW_ITEMS 64

void
local_referral_view(struct node *n, const struct origin *from,
                    const Kr__V1__LocalRequest *req)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    Kr__V1__LocalRequest get = *req;
    struct arena_mark mark = arena_mark(&n->pb);
    Kr__V1__InboxItem *items[S_VIEW_ITEMS];
    size_t nitems = 0;
    const char *why = "";
    MDB_txn *txn;
    int rc;

    get.op_case = KR__V1__LOCAL_REQUEST__OP_REFERRAL_GET;
    get.referral_get = req->referral_view;
    if ((rc = pass_txn(n, &txn)) != KR_OK ||
        (rc = referrals_local(n, txn, &get, &resp, &why)) != KR_OK) {
        referrals_local_free(&resp);
        local_reply_err(n, from, rc, "%s", why);
        return;
    }
    /* Its own steps' messages are in the outbox, not here. */
    const Kr__V1__NodeReferral *r = resp.referrals[0];
    for (size_t i = 0; i < r->n_history && nitems < S_VIEW_ITEMS; i++) {
        const ProtobufCBinaryData *id = &r->history[i]->msg_id;
        if (id->len != KR_ID_LEN)
            continue; /* a broker's notice */
        rc = local_inbox_item(n, txn, id->data, &items[nitems]);
        if (rc == KR_OK)
            nitems++;
        else if (rc != KR_ENOTFOUND) {
            referrals_local_free(&resp);
            arena_release(&n->pb, mark);
            local_reply_err(n, from, rc, "inbox: %s", kr_strerror(rc));
            return;
        }
    }
    resp.inbox = nitems > 0 ? items : NULL;
    resp.n_inbox = nitems;
    local_reply(n, from, &resp);
    referrals_local_free(&resp);
    arena_release(&n->pb, mark);
}

/* Requests that only read the store. */
static bool
s_read_only(const Kr__V1__LocalRequest *req)
{
    switch (req->op_case) {
    case KR__V1__LOCAL_REQUEST__OP_INBOX:
    case KR__V1__LOCAL_REQUEST__OP_OUTBOX:
    case KR__V1__LOCAL_REQUEST__OP_REFERRAL_GET:
    case KR__V1__LOCAL_REQUEST__OP_REFERRAL_LIST:
    case KR__V1__LOCAL_REQUEST__OP_OUTBOX_GET:
    case KR__V1__LOCAL_REQUEST__OP_INBOX_GET:
    case KR__V1__LOCAL_REQUEST__OP_REFERRAL_VIEW:
    case KR__V1__LOCAL_REQUEST__OP_OUTBOX_WAIT:
    case KR__V1__LOCAL_REQUEST__OP_STATUS:
        return true;
    default:
        return false;
    }
}

/* A read is answered at once from a snapshot of the last commit, not
 * after this pass's commit: what the pass writes is not durable yet, so
 * the read could not show it anyway, and its answer need not wait behind
 * an fsync (the FHIR gateway reads a Task right while the marks of what
 * it announced commit). A client sees what it was answered about before:
 * its writes are answered after their commit. The request goes through
 * the same handlers as in the pass: pass_txn() gives them the snapshot.
 * false: not a read, or no snapshot (handled in the pass as before). */
bool
local_read_begin(struct node *n, const Kr__V1__LocalRequest *req,
                 size_t *before)
{
    MDB_txn *txn = NULL;

    if (!s_read_only(req) || nstore_begin(n->store, false, &txn) != KR_OK)
        return false;
    *before = n->pass.nreplies;
    n->pass.read = txn;
    return true;
}

void
local_read_end(struct node *n, size_t before)
{
    struct pass *p = &n->pass;
    MDB_txn *txn = p->read;

    p->read = NULL;
    nstore_abort(&txn);
    local_send_replies(n, before, p->nreplies, KR_OK);
    p->nreplies = before;
}
