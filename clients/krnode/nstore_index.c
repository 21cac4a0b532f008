/* nstore_index.c - reading the node store's order indexes in seq order
 * (nstore_iter_*). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"

#include "nstore_internal.h"

static int
s_index_dbi(enum nstore_index idx)
{
    switch (idx) {
    case NSTORE_OUTBOX_ALL:
        return NSTORE_DBI_OUTBOX_ALL;
    case NSTORE_OUTBOX_PENDING:
        return NSTORE_DBI_OUTBOX_ORDER;
    case NSTORE_OUTBOX_OPEN:
        return NSTORE_DBI_OUTBOX_OPEN;
    case NSTORE_INBOX_ALL:
        return NSTORE_DBI_INBOX; /* keyed by arrival seq itself */
    case NSTORE_INBOX_UNPROCESSED:
        return NSTORE_DBI_INBOX_UNPROCESSED;
    case NSTORE_PEERS:
        return NSTORE_DBI_PEERS;
    }
    return -1;
}

/* The msg_id-keyed record database an index points into. The inbox's
 * indexes are keyed by its own arrival seq and are read by seq instead
 * (nstore_iter_next): -1 for them. */
static int
s_index_target(enum nstore_index idx)
{
    switch (idx) {
    case NSTORE_OUTBOX_ALL:
    case NSTORE_OUTBOX_PENDING:
    case NSTORE_OUTBOX_OPEN:
        return NSTORE_DBI_OUTBOX;
    case NSTORE_INBOX_ALL:
    case NSTORE_INBOX_UNPROCESSED:
        return -1;
    case NSTORE_PEERS:
        return NSTORE_DBI_PEERS;
    }
    return -1;
}

int
nstore_iter_open(nstore_t *st, MDB_txn *txn, enum nstore_index idx,
                 uint64_t after_seq, struct nstore_iter *it)
{
    int dbi = s_index_dbi(idx), rc;

    memset(it, 0, sizeof(*it));
    if (dbi < 0)
        return KR_EINVAL;
    if ((rc = mdb_cursor_open(txn, st->dbi[dbi], &it->cur)) != MDB_SUCCESS)
        return nstore_from_mdb(rc);
    it->st = st;
    it->txn = txn;
    it->idx = idx;
    it->after = after_seq;
    return KR_OK;
}

int
nstore_iter_next(struct nstore_iter *it, uint64_t *seq, const uint8_t **msg_id,
                 const uint8_t **val, size_t *len)
{
    MDB_val key, v;
    uint8_t k[8];
    int rc;

    if (it->cur == NULL)
        return KR_ENOTFOUND;
    if (!it->started) {
        it->started = true;
        if (it->idx == NSTORE_PEERS) {
            rc = mdb_cursor_get(it->cur, &key, &v, MDB_FIRST);
        } else {
            if (it->after == UINT64_MAX)
                return KR_ENOTFOUND;
            nstore_seq_key(it->after + 1, k);
            key.mv_size = sizeof(k);
            key.mv_data = k;
            rc = mdb_cursor_get(it->cur, &key, &v, MDB_SET_RANGE);
        }
    } else {
        rc = mdb_cursor_get(it->cur, &key, &v, MDB_NEXT);
    }
    if (rc != MDB_SUCCESS)
        return nstore_from_mdb(rc);
    if (it->idx == NSTORE_PEERS) {
        *seq = 0;
        *msg_id = NULL;
        *val = v.mv_data;
        *len = v.mv_size;
        return KR_OK;
    }
    if (key.mv_size != 8)
        return KR_ESTORE;
    *seq = nstore_seq_from(key.mv_data);
    if (it->idx == NSTORE_INBOX_ALL) {
        /* The inbox itself, in arrival order. */
        if (v.mv_size < KR_ID_LEN)
            return KR_ESTORE;
        *msg_id = v.mv_data;
        *val = (const uint8_t *)v.mv_data + KR_ID_LEN;
        *len = v.mv_size - KR_ID_LEN;
        return KR_OK;
    }
    /* A held delivery's entry carries a mark after its msg_id. */
    if (v.mv_size != KR_ID_LEN &&
        !(it->idx == NSTORE_INBOX_UNPROCESSED && v.mv_size == KR_ID_LEN + 1))
        return KR_ESTORE;
    *msg_id = v.mv_data;
    if (it->idx == NSTORE_INBOX_UNPROCESSED) {
        const uint8_t *id;
        return nstore_inbox_at(it->st, it->txn, key.mv_data, &id, val, len);
    }
    int target = s_index_target(it->idx);
    if (target < 0)
        return KR_EINVAL;
    return nstore_get(it->st, it->txn, target, v.mv_data, val, len);
}

void
nstore_iter_close(struct nstore_iter *it)
{
    if (it->cur != NULL)
        mdb_cursor_close(it->cur);
    it->cur = NULL;
}
