/* local_list.c - the listings an adapter asks for: its inbox (which may
 * wait for an arrival), its outbox, and one item of either by msg_id. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"

#include "local_internal.h"

static uint32_t
s_limit(const Kr__V1__ListRequest *lr)
{
    if (lr->limit == 0)
        return NODE_LIST_DEFAULT;
    return lr->limit > NODE_LIST_MAX ? NODE_LIST_MAX : lr->limit;
}

/* Park an inbox request until something arrives or its deadline. */
static bool
s_wait_inbox(struct node *n, const struct origin *from,
             const Kr__V1__ListRequest *lr, uint64_t deadline_mono)
{
    struct local *lo = &n->local;

    if (lo->nwaits == NODE_WAIT_MAX)
        return false; /* answered at once: the adapter asks again */
    struct inbox_wait *w = &lo->waits[lo->nwaits++];
    w->from = *from;
    kr__v1__list_request__init(&w->lr);
    w->lr.after_seq = lr->after_seq;
    w->lr.limit = lr->limit;
    w->lr.unprocessed_only = lr->unprocessed_only;
    w->lr.wait_ms = lr->wait_ms;
    w->deadline_mono = deadline_mono;
    return true;
}

/* deadline_mono: 0 for a new request (it may wait wait_ms from now),
 * else the deadline of a wait being answered again (UINT64_MAX: answer,
 * whatever there is). */
void
local_list_inbox(struct node *n, MDB_txn *txn, const struct origin *from,
                 const Kr__V1__ListRequest *lr, uint64_t deadline_mono)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    uint32_t limit = s_limit(lr);
    /* The records listed live in one arena scope, gone after the reply. */
    struct arena_mark mark = arena_mark(&n->pb);
    Kr__V1__InboxItem **items = arena_alloc(&n->pb, limit * sizeof(*items));
    struct nstore_iter it;
    size_t count = 0, bytes = 0;
    int rc;

    if (txn == NULL && (rc = pass_txn(n, &txn)) != KR_OK)
        goto fail;
    rc = nstore_iter_open(n->store, txn,
                          lr->unprocessed_only ? NSTORE_INBOX_UNPROCESSED
                                               : NSTORE_INBOX_ALL,
                          lr->after_seq, &it);
    if (rc != KR_OK)
        goto fail;
    /* A page ends at 'limit' items or, with large content, at about
     * NODE_LIST_BYTES: the adapter asks again after the last seq. */
    while (count < limit && bytes < NODE_LIST_BYTES) {
        const uint8_t *id, *v;
        size_t len;
        uint64_t seq;

        if ((rc = nstore_iter_next(&it, &seq, &id, &v, &len)) != KR_OK)
            break;
        /* A delivery held for the broker's pass result ends the page: an
         * adapter that went on past it would never ask for it again. */
        if (n->prov.n > 0 && prov_hidden(n, seq, id))
            break;
        Kr__V1__InboxRecord *rec =
            kr__v1__inbox_record__unpack(arena_allocator(&n->pb), len, v);
        if (rec == NULL || rec->item == NULL) {
            log_errorx("local: inbox record seq=%llu does not parse: skipped",
                       (unsigned long long)seq);
            continue;
        }
        items[count] = rec->item;
        bytes += len;
        count++;
    }
    nstore_iter_close(&it);
    if (rc != KR_OK && rc != KR_ENOTFOUND)
        goto fail;
    if (count == 0 && lr->wait_ms > 0 && deadline_mono != UINT64_MAX) {
        uint32_t ms =
            lr->wait_ms < NODE_WAIT_MS_MAX ? lr->wait_ms : NODE_WAIT_MS_MAX;
        if (deadline_mono == 0)
            deadline_mono = n->pass.now_mono + ms;
        if (n->pass.now_mono < deadline_mono &&
            s_wait_inbox(n, from, lr, deadline_mono))
            goto done;
    }
    resp.inbox = items;
    resp.n_inbox = count;
    local_reply(n, from, &resp);
    goto done;
fail:
    local_reply_err(n, from, rc, "inbox: %s", kr_strerror(rc));
done:
    arena_release(&n->pb, mark);
}

void
local_list_outbox(struct node *n, const struct origin *from,
                  const Kr__V1__ListRequest *lr)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    uint32_t limit = s_limit(lr);
    /* The records listed live in one arena scope, gone after the reply. */
    struct arena_mark mark = arena_mark(&n->pb);
    Kr__V1__OutboxItem **items = arena_alloc(&n->pb, limit * sizeof(*items));
    struct nstore_iter it;
    size_t count = 0;
    MDB_txn *txn;
    int rc;

    if ((rc = pass_txn(n, &txn)) != KR_OK)
        goto fail;
    rc = nstore_iter_open(n->store, txn, NSTORE_OUTBOX_ALL, lr->after_seq, &it);
    if (rc != KR_OK)
        goto fail;
    while (count < limit) {
        const uint8_t *id, *v;
        size_t len;
        uint64_t seq;

        if ((rc = nstore_iter_next(&it, &seq, &id, &v, &len)) != KR_OK)
            break;
        Kr__V1__OutboxRecord *rec =
            kr__v1__outbox_record__unpack(arena_allocator(&n->pb), len, v);
        if (rec == NULL || rec->item == NULL) {
            log_errorx("local: outbox record seq=%llu does not parse: "
                       "skipped",
                       (unsigned long long)seq);
            continue;
        }
        items[count] = rec->item;
        count++;
    }
    nstore_iter_close(&it);
    if (rc != KR_OK && rc != KR_ENOTFOUND)
        goto fail;
    resp.outbox = items;
    resp.n_outbox = count;
    local_reply(n, from, &resp);
    goto done;
fail:
    local_reply_err(n, from, rc, "outbox: %s", kr_strerror(rc));
done:
    arena_release(&n->pb, mark);
}

/* One sent message by msg_id, for `krctl send --wait`. */
void
local_outbox_get(struct node *n, const struct origin *from,
                 const ProtobufCBinaryData *id)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    struct arena_mark mark = arena_mark(&n->pb);
    const uint8_t *v;
    size_t len;
    MDB_txn *txn;
    int rc;

    if (id->len != KR_ID_LEN) {
        local_reply_err(n, from, KR_EINVAL, "outbox: msg_id is 16 bytes");
        return;
    }
    if ((rc = pass_txn(n, &txn)) != KR_OK ||
        (rc = nstore_outbox_get(n->store, txn, id->data, &v, &len)) != KR_OK) {
        local_reply_err(n, from, rc, "outbox: %s", kr_strerror(rc));
        return;
    }
    Kr__V1__OutboxRecord *rec =
        kr__v1__outbox_record__unpack(arena_allocator(&n->pb), len, v);
    if (rec == NULL || rec->item == NULL) {
        local_reply_err(n, from, KR_ESTORE, "outbox: record does not parse");
    } else {
        resp.outbox = &rec->item;
        resp.n_outbox = 1;
        local_reply(n, from, &resp);
    }
    arena_release(&n->pb, mark);
}

/* The inbox item with this msg_id, unpacked in the node's arena (the
 * caller releases it), or KR_ENOTFOUND: not held, or held back for the
 * broker's pass result (not shown, as in the listing). */
int
local_inbox_item(struct node *n, MDB_txn *txn, const uint8_t id[KR_ID_LEN],
                 Kr__V1__InboxItem **out)
{
    const struct prov_entry *held = prov_find(n, id);
    const uint8_t *v;
    size_t len;
    int rc;

    *out = NULL;
    if (held != NULL && held->state != PROV_CONFIRMED)
        return KR_ENOTFOUND;
    if ((rc = nstore_inbox_get(n->store, txn, id, &v, &len)) != KR_OK)
        return rc;
    Kr__V1__InboxRecord *rec =
        kr__v1__inbox_record__unpack(arena_allocator(&n->pb), len, v);
    if (rec == NULL || rec->item == NULL)
        return KR_ESTORE;
    *out = rec->item;
    return KR_OK;
}

/* One received item by msg_id (libkr's kr_inbox_get_json). */
void
local_inbox_get(struct node *n, const struct origin *from,
                const ProtobufCBinaryData *id)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    struct arena_mark mark = arena_mark(&n->pb);
    char hex[KR_ID_HEX_LEN];
    Kr__V1__InboxItem *item;
    MDB_txn *txn;
    int rc;

    if (id->len != KR_ID_LEN) {
        local_reply_err(n, from, KR_EINVAL, "inbox: msg_id is 16 bytes");
        return;
    }
    util_hex(id->data, KR_ID_LEN, hex);
    if ((rc = pass_txn(n, &txn)) != KR_OK)
        local_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
    else if ((rc = local_inbox_item(n, txn, id->data, &item)) == KR_ENOTFOUND)
        local_reply_err(n, from, rc, "no message %s in the inbox", hex);
    else if (rc == KR_ESTORE)
        local_reply_err(n, from, rc, "inbox: record does not parse");
    else if (rc != KR_OK)
        local_reply_err(n, from, rc, "inbox: %s", kr_strerror(rc));
    else {
        resp.inbox = &item;
        resp.n_inbox = 1;
        local_reply(n, from, &resp);
    }
    arena_release(&n->pb, mark);
}

/* Inbox waits: after an arrival (all) each looks again, and waits on if
 * nothing it asked for came; past its deadline one gets what there is, an
 * empty page. Taken out first: looking again may park it anew. */
void
local_answer_waits(struct node *n, MDB_txn *txn, bool arrival)
{
    struct local *lo = &n->local;
    bool any = arrival && lo->nwaits > 0;

    for (size_t i = 0; i < lo->nwaits && !any; i++)
        any = n->pass.now_mono >= lo->waits[i].deadline_mono;
    if (!any)
        return;
    size_t count = lo->nwaits;
    struct inbox_wait *ws = xmalloc(count * sizeof(*ws));
    memcpy(ws, lo->waits, count * sizeof(*ws));
    lo->nwaits = 0;
    for (size_t i = 0; i < count; i++) {
        bool due = n->pass.now_mono >= ws[i].deadline_mono;
        if (!due && !arrival) {
            lo->waits[lo->nwaits++] = ws[i];
            continue;
        }
        local_list_inbox(n, txn, &ws[i].from, &ws[i].lr,
                         due ? UINT64_MAX : ws[i].deadline_mono);
    }
    free(ws);
}
