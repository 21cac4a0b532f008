/*
 * admin_keys.c - the directory's lifecycle (docs/OPERATIONS.md "Keys and
 * the directory"): krctl org remove and krctl org rekey.
 *
 * A removed organisation keeps its entry, marked removed and suspended:
 * ZAP refuses its key like a suspended one, and `org add` cannot give its
 * id to another by accident. What still waits for it is withdrawn with
 * reason RECIPIENT_REMOVED (its senders get the final receipt), and its own
 * queue (receipts and notices for it) is dropped: it has no node any more.
 *
 * A rekey keeps the old box and sign keys in the entry until the grace
 * period ends, so that messages signed or sealed with them before the
 * change still verify and open; the transport key is the new one only (the
 * node restarts with its new keys).
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "bstore.h"
#include "crypto.h"
#include "log.h"

#define S_DAY_MS (24ull * 3600 * 1000)
#define S_GRACE_MAX_DAYS 365

static int
s_fail(Kr__V1__AdminResponse *resp, int err, const char *detail)
{
    resp->error = err;
    resp->detail = (char *)detail;
    return err;
}

static int
s_abort(struct broker *b, Kr__V1__AdminResponse *resp, int rc,
        const char *detail)
{
    if (b->txn != NULL) {
        bstore_abort(b->txn);
        b->txn = NULL;
        bstore_reload_after_abort(b->store);
    }
    /* Queue seqs and receipts handed out in memory did not commit: the
     * queues are read again from the store (deliver.c). */
    deliver_forget_reserved(b);
    ORGS_FOREACH(b, o)
    deliver_rewind(o);
    return s_fail(resp, rc, detail);
}

struct s_item {
    uint64_t seq;
    uint8_t msg_id[16];
    bool delivery;
};

struct s_items {
    struct s_item *v;
    size_t n, cap;
};

static int
s_collect(uint64_t seq, const uint8_t *data, size_t len, void *arg)
{
    struct s_items *it = arg;
    Kr__V1__QueueItem *q = kr__v1__queue_item__unpack(NULL, len, data);

    if (it->n == it->cap) {
        it->cap = it->cap ? 2 * it->cap : 256;
        it->v = xrealloc(it->v, it->cap * sizeof(*it->v));
    }
    struct s_item *x = &it->v[it->n++];
    memset(x, 0, sizeof(*x));
    x->seq = seq;
    /* An item that does not parse is dropped with the rest. */
    if (q != NULL && !q->is_receipt && q->notice == NULL &&
        q->msg_id.len == 16) {
        x->delivery = true;
        memcpy(x->msg_id, q->msg_id.data, 16);
    }
    if (q != NULL)
        kr__v1__queue_item__free_unpacked(q, NULL);
    return 0;
}

/* Withdraw each message still queued for the removed organisation. */
static int
s_withdraw(struct broker *b, const char *id, struct s_items *items,
           uint64_t *withdrawn)
{
    MDB_txn *txn = broker_txn(b);
    int rc = KR_OK;

    for (size_t i = 0; i < items->n && rc == KR_OK; i++) {
        Kr__V1__StoredMessage *m = NULL;
        const uint8_t *mid = items->v[i].msg_id;
        if (!items->v[i].delivery ||
            bstore_msg_get(b->store, txn, mid, NULL, &m) != 0)
            continue;
        if (m->state == KR__V1__MESSAGE_STATE__QUEUED &&
            strcmp(m->recipient, id) == 0) {
            rc = deliver_finalize(
                b, mid, m, KR__V1__MESSAGE_STATE__STATE_WITHDRAWN,
                KR__V1__OUTCOME__WITHDRAWN, KR__V1__REASON__RECIPIENT_REMOVED,
                "recipient removed from the directory");
            if (rc == KR_OK)
                rc = audit_write(
                    b, &(struct audit_ev){.event = "message.withdrawn",
                                          .action = 'D',
                                          .msg = m,
                                          .msg_id = mid,
                                          .reason =
                                              KR__V1__REASON__RECIPIENT_REMOVED,
                                          .check = "recipient removed"});
            if (rc == KR_OK)
                (*withdrawn)++;
        }
        kr__v1__stored_message__free_unpacked(m, NULL);
    }
    return rc;
}

int
admin_org_remove(struct broker *b, const char *id, Kr__V1__AdminResponse *resp)
{
    struct s_items items = {NULL, 0, 0};
    Kr__V1__OrgEntry *e = NULL;
    struct org *o = orgs_find(b, id);
    uint64_t withdrawn = 0;
    char detail[64];
    MDB_txn *txn;
    int rc;

    if (o == NULL)
        return s_fail(resp, KR_ENOTFOUND, "no such organisation");
    if (o->removed)
        return s_fail(resp, KR_EEXIST, "organisation already removed");
    if ((txn = broker_txn(b)) == NULL)
        return s_fail(resp, KR_ESTORE, "store unavailable");
    if ((rc = bstore_org_get(b->store, txn, id, &e)) != 0) {
        rc = s_abort(b, resp, rc, "store: read failed");
        goto done;
    }
    e->removed = true;
    e->suspended = true;
    e->changed_at_ms = b->now_ms;
    /* Set now, so that no receipt is queued for it while its own are
     * withdrawn (deliver_final_receipt); undone if nothing commits. */
    o->removed = true;
    if ((rc = bstore_org_put(b->store, txn, e)) != 0 ||
        (rc = bstore_queue_scan(b->store, txn, id, 0, s_collect, &items)) !=
            0 ||
        (rc = s_withdraw(b, id, &items, &withdrawn)) != 0) {
        rc = s_abort(b, resp, rc, "store: write failed");
        goto done;
    }
    /* Its own queue goes too: the deliveries just withdrawn and whatever
     * receipts and notices waited for its node. */
    for (size_t i = 0; i < items.n; i++)
        if ((rc = bstore_queue_del(b->store, txn, id, items.v[i].seq)) != 0 &&
            rc != KR_ENOTFOUND) {
            rc = s_abort(b, resp, rc, "store: write failed");
            goto done;
        }
    snprintf(detail, sizeof(detail), "withdrawn=%llu dropped=%zu",
             (unsigned long long)withdrawn, items.n);
    if ((rc = audit_write(b, &(struct audit_ev){.event = "org.removed",
                                                .action = 'D',
                                                .object = id,
                                                .detail = detail,
                                                .check = "admin socket"})) !=
        0) {
        rc = s_abort(b, resp, rc, "store: write failed");
        goto done;
    }
    rc = bstore_commit(b->txn);
    b->txn = NULL;
    if (rc != 0) {
        bstore_reload_after_abort(b->store);
        rc = s_abort(b, resp, rc, "store: commit failed");
        goto done;
    }
    o = orgs_upsert(b, e);
    if (o->connected) {
        broker_send_error(b, o->rid, o->rid_len,
                          KR__V1__REASON__SENDER_SUSPENDED,
                          "organisation removed from the directory", true);
        o->connected = false;
    }
    o->inflight = 0;
    o->cursor = 0;
    resp->withdrawn = withdrawn;
    resp->dropped = items.n;
    log_info("admin: org removed org=%s withdrawn=%llu dropped=%zu", id,
             (unsigned long long)withdrawn, items.n);
done:
    if (rc != KR_OK)
        o->removed = false;
    free(items.v);
    if (e != NULL)
        kr__v1__org_entry__free_unpacked(e, NULL);
    return rc;
}

/* Tell every connected node the new entry now, so that a sender seals to
 * the new key from its next message on. A node that misses it learns the
 * entry at its next handshake or key-id mismatch (link_recv.c). */
static void
s_push_entry(struct broker *b, const struct org *skip, Kr__V1__OrgEntry *e)
{
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__DirectoryResponse dr = KR__V1__DIRECTORY_RESPONSE__INIT;
    Kr__V1__OrgEntry *entries[1] = {e};
    size_t sent = 0;

    f.version = KR__V1__VERSION__VERSION_1;
    dr.entries = entries;
    dr.n_entries = 1;
    f.dir_response = &dr;
    ORGS_FOREACH(b, o)
    {
        if (o == skip || !o->connected)
            continue;
        if (broker_send_frame(b, o->rid, o->rid_len, &f) == KR_OK)
            sent++;
    }
    log_info("admin: directory entry org=%s pushed to nodes=%zu", e->org_id,
             sent);
}

int
admin_org_rekey(struct broker *b, const Kr__V1__OrgRekey *req,
                Kr__V1__AdminResponse *resp)
{
    Kr__V1__OrgEntry *e = NULL;
    struct org *o, *other;
    uint8_t old_box[32], old_sign[32];
    char detail[96], kid[KR_KEY_ID_LEN];
    MDB_txn *txn;
    int rc;

    if (req == NULL || req->org_id == NULL ||
        (o = orgs_find(b, req->org_id)) == NULL)
        return s_fail(resp, KR_ENOTFOUND, "no such organisation");
    if (o->removed)
        return s_fail(resp, KR_EINVAL, "organisation was removed");
    if (req->curve_public.len != 32 || req->box_public.len != 32 ||
        req->sign_public.len != 32)
        return s_fail(resp, KR_EINVAL, "each public key must be 32 bytes");
    if (req->grace_days > S_GRACE_MAX_DAYS)
        return s_fail(resp, KR_EINVAL, "grace: at most 365 days");
    other = orgs_find_curve(b, req->curve_public.data);
    if (other != NULL)
        return s_fail(resp, KR_EEXIST,
                      other == o ? "the new transport key is the current one: "
                                   "make new keys with krctl keygen"
                                 : "transport key already belongs to another "
                                   "organisation");
    if ((txn = broker_txn(b)) == NULL)
        return s_fail(resp, KR_ESTORE, "store unavailable");
    if ((rc = bstore_org_get(b->store, txn, req->org_id, &e)) != 0) {
        rc = s_abort(b, resp, rc, "store: read failed");
        goto done;
    }
    if (e->box_public.len != 32 || e->sign_public.len != 32 ||
        memcmp(e->box_public.data, req->box_public.data, 32) == 0 ||
        memcmp(e->sign_public.data, req->sign_public.data, 32) == 0) {
        rc = s_abort(b, resp, KR_EINVAL,
                     "the new sealing or signing key is the current one: "
                     "make new keys with krctl keygen");
        goto done;
    }
    memcpy(old_box, e->box_public.data, 32);
    memcpy(old_sign, e->sign_public.data, 32);
    /* The entry's byte fields point into its own unpacked buffer or the
     * request: neither is freed before the entry is packed. */
    Kr__V1__OrgEntry copy = *e;
    copy.curve_public = req->curve_public;
    copy.box_public = req->box_public;
    copy.sign_public = req->sign_public;
    copy.previous_box_public.data = old_box;
    copy.previous_box_public.len = 32;
    copy.previous_sign_public.data = old_sign;
    copy.previous_sign_public.len = 32;
    copy.previous_until_ms = b->now_ms + req->grace_days * S_DAY_MS;
    copy.changed_at_ms = b->now_ms;
    kcrypto_key_id(req->sign_public.data, kid);
    snprintf(detail, sizeof(detail), "grace_days=%u sign_key=%s",
             (unsigned)req->grace_days, kid);
    if ((rc = bstore_org_put(b->store, txn, &copy)) != 0 ||
        (rc = audit_write(b, &(struct audit_ev){.event = "org.rekeyed",
                                                .action = 'U',
                                                .object = req->org_id,
                                                .detail = detail,
                                                .check = "admin socket"})) !=
            0) {
        rc = s_abort(b, resp, rc, "store: write failed");
        goto done;
    }
    rc = bstore_commit(b->txn);
    b->txn = NULL;
    if (rc != 0) {
        bstore_reload_after_abort(b->store);
        rc = s_fail(resp, rc, "store: commit failed");
        goto done;
    }
    o = orgs_upsert(b, &copy);
    if (o->connected) {
        /* Its link was admitted with the old transport key: it connects
         * again, and only the new key passes ZAP. */
        broker_send_error(b, o->rid, o->rid_len, KR__V1__REASON__NOT_AUTHORISED,
                          "organisation rekeyed: restart the node with its "
                          "new keys",
                          true);
        o->connected = false;
    }
    s_push_entry(b, o, &copy);
    log_info("admin: org rekeyed org=%s sign_key=%s grace_days=%u", req->org_id,
             kid, (unsigned)req->grace_days);
done:
    if (e != NULL)
        kr__v1__org_entry__free_unpacked(e, NULL);
    return rc;
}
