/* local_read.c - the adapters' reads: answered at once from a snapshot
 * of the last commit (ARCHITECTURE departure 32), and the referral reads
 * (referral_get and _list, referral_view). The listings are in
 * local_list.c. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"

#include "local_internal.h"

/* A referral and the messages of its history that this node received
 * (the one that opened it, at the performer, and the other party's
 * status changes), from one snapshot: the FHIR gateway's Task in one
 * round trip. At most this many messages a referral. */
#define S_VIEW_ITEMS 64
/* A page of views (referral_list with views) ends after the referral
 * whose received items bring the page's to this many bytes (packed), or
 * to what the request asks, up to the inbox listing's bound: the reply
 * stays within what a client takes (libkr: 64 MiB) whatever the
 * referrals hold, at the cost of a page shorter than its limit, which the
 * client tells from the listing's end by those bytes (proto/local.proto,
 * ReferralListRequest.views_bytes). */
#define S_VIEWS_BYTES (4u << 20)

/* The messages of r's history received here, in order, at most
 * S_VIEW_ITEMS, unpacked in the node's arena (the caller releases it):
 * stored from items[*nitems] on (room for S_VIEW_ITEMS), *nitems and
 * *bytes (their packed size) grown. */
static int
s_view_items(struct node *n, MDB_txn *txn, const Kr__V1__NodeReferral *r,
             Kr__V1__InboxItem **items, size_t *nitems, size_t *bytes)
{
    size_t k = 0;
    int rc;

    /* Its own steps' messages are in the outbox, not here. */
    for (size_t i = 0; i < r->n_history && k < S_VIEW_ITEMS; i++) {
        const ProtobufCBinaryData *id = &r->history[i]->msg_id;
        Kr__V1__InboxItem *it;
        if (id->len != KR_ID_LEN)
            continue; /* a broker's notice */
        rc = local_inbox_item(n, txn, id->data, &it);
        if (rc == KR_ENOTFOUND)
            continue;
        if (rc != KR_OK)
            return rc;
        items[*nitems + k++] = it;
        *bytes += kr__v1__inbox_item__get_packed_size(it);
    }
    *nitems += k;
    return KR_OK;
}

/* A listing's page with views: the received messages of each referral in
 * resp->inbox (items: room for S_VIEW_ITEMS per referral), the page cut
 * after the referral that brings them to the bound (the referrals cut
 * are freed). */
static int
s_views(struct node *n, MDB_txn *txn, const Kr__V1__ReferralListRequest *q,
        Kr__V1__LocalResponse *resp, Kr__V1__InboxItem **items)
{
    size_t bound = q->views_bytes == 0                ? S_VIEWS_BYTES
                   : q->views_bytes > NODE_LIST_BYTES ? NODE_LIST_BYTES
                                                      : q->views_bytes;
    size_t nitems = 0, bytes = 0, i;
    int rc;

    for (i = 0; i < resp->n_referrals && (i == 0 || bytes < bound); i++)
        if ((rc = s_view_items(n, txn, resp->referrals[i], items, &nitems,
                               &bytes)) != KR_OK)
            return rc;
    for (size_t k = i; k < resp->n_referrals; k++)
        kr__v1__node_referral__free_unpacked(resp->referrals[k], NULL);
    resp->n_referrals = i;
    resp->inbox = nitems > 0 ? items : NULL;
    resp->n_inbox = nitems;
    return KR_OK;
}

/* A referral's state, or a listing (referrals.c), with views if asked. */
void
local_referrals(struct node *n, const struct origin *from,
                const Kr__V1__LocalRequest *req)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    struct arena_mark mark = arena_mark(&n->pb);
    const Kr__V1__ReferralListRequest *q =
        req->op_case == KR__V1__LOCAL_REQUEST__OP_REFERRAL_LIST
            ? req->referral_list
            : NULL;
    Kr__V1__InboxItem **items = NULL;
    const char *why = "";
    MDB_txn *txn;
    int rc;

    if ((rc = pass_txn(n, &txn)) != KR_OK ||
        (rc = referrals_local(n, txn, req, &resp, &why)) != KR_OK)
        goto fail;
    if (q != NULL && q->views && resp.n_referrals > 0) {
        items = xmalloc(resp.n_referrals * S_VIEW_ITEMS * sizeof(*items));
        if ((rc = s_views(n, txn, q, &resp, items)) != KR_OK) {
            local_reply_err(n, from, rc, "inbox: %s", kr_strerror(rc));
            goto done;
        }
    }
    local_reply(n, from, &resp);
    goto done;
fail:
    local_reply_err(n, from, rc, "%s", why);
done:
    referrals_local_free(&resp);
    free(items);
    arena_release(&n->pb, mark);
}

void
local_referral_view(struct node *n, const struct origin *from,
                    const Kr__V1__LocalRequest *req)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    Kr__V1__LocalRequest get = *req;
    struct arena_mark mark = arena_mark(&n->pb);
    Kr__V1__InboxItem *items[S_VIEW_ITEMS];
    size_t nitems = 0, bytes = 0;
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
    rc = s_view_items(n, txn, resp.referrals[0], items, &nitems, &bytes);
    if (rc != KR_OK) {
        referrals_local_free(&resp);
        arena_release(&n->pb, mark);
        local_reply_err(n, from, rc, "inbox: %s", kr_strerror(rc));
        return;
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
