/* nstore_retention.c - the node store's "done" tree: processed inbox and
 * final outbox records by when they became so, and their purge. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"

#include "nstore_internal.h"

/* Retention (nstore_purge_due): a processed inbox record or a final
 * outbox record, by when it became so. */
int
nstore_done_put(nstore_t *st, MDB_txn *txn, uint64_t at, char kind,
                const uint8_t *msg_id, uint64_t seq)
{
    uint8_t k[25], v[8];
    MDB_val key = {sizeof(k), k}, val = {sizeof(v), v};

    nstore_seq_key(at, k);
    k[8] = (uint8_t)kind;
    memcpy(k + 9, msg_id, KR_ID_LEN);
    nstore_seq_key(seq, v);
    return mdb_put(txn, st->dbi[NSTORE_DBI_DONE], &key, &val, 0);
}

/* Whether seq is the last key of an index (its tail stays: nstore_next_seq). */
static bool
s_is_tail(MDB_txn *txn, MDB_dbi dbi, uint64_t seq)
{
    MDB_cursor *cur;
    MDB_val key, val;
    bool tail = true;

    if (mdb_cursor_open(txn, dbi, &cur) != MDB_SUCCESS)
        return true;
    if (mdb_cursor_get(cur, &key, &val, MDB_LAST) == MDB_SUCCESS &&
        key.mv_size == 8) {
        uint8_t k[8];
        nstore_seq_key(seq, k);
        tail = memcmp(key.mv_data, k, 8) == 0;
    }
    mdb_cursor_close(cur);
    return tail;
}

int
nstore_purge_due(nstore_t *st, MDB_txn *txn, uint64_t before, size_t max,
                 uint64_t *n_inbox, uint64_t *n_outbox)
{
    MDB_cursor *cur;
    MDB_val key, val;
    size_t seen = 0;
    int rc;

    *n_inbox = *n_outbox = 0;
    if ((rc = mdb_cursor_open(txn, st->dbi[NSTORE_DBI_DONE], &cur)) !=
        MDB_SUCCESS)
        return nstore_from_mdb(rc);
    /* From the front: the first record not yet due ends the pass, so a
     * pass costs what is due, not what is stored. */
    rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    while (rc == MDB_SUCCESS && seen++ < max) {
        if (key.mv_size != 25 || val.mv_size != 8) {
            rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
            continue;
        }
        const uint8_t *k = key.mv_data;
        uint64_t at = 0, seq = 0;
        for (int i = 0; i < 8; i++) {
            at = at << 8 | k[i];
            seq = seq << 8 | ((const uint8_t *)val.mv_data)[i];
        }
        if (at > before)
            break;
        uint8_t id[KR_ID_LEN];
        memcpy(id, k + 9, KR_ID_LEN);
        MDB_dbi all = k[8] == 'i' ? st->dbi[NSTORE_DBI_INBOX]
                                  : st->dbi[NSTORE_DBI_OUTBOX_ALL];
        if (s_is_tail(txn, all, seq)) {
            /* The newest record stays until a newer one comes: seqs are
             * taken from the tail and must never go back. */
            rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
            continue;
        }
        if (k[8] == 'i') {
            if ((rc = nstore_inbox_remove(st, txn, seq, id)) != KR_OK)
                goto out;
            (*n_inbox)++;
        } else {
            MDB_val ik = {KR_ID_LEN, id};
            if (((rc = mdb_del(txn, st->dbi[NSTORE_DBI_OUTBOX], &ik, NULL)) !=
                     MDB_SUCCESS &&
                 rc != MDB_NOTFOUND) ||
                ((rc = mdb_del(txn, st->dbi[NSTORE_DBI_OUTBOX_ENV], &ik,
                               NULL)) != MDB_SUCCESS &&
                 rc != MDB_NOTFOUND) ||
                (rc = nstore_del_index(txn, st->dbi[NSTORE_DBI_OUTBOX_ALL],
                                       seq)) != MDB_SUCCESS) {
                rc = nstore_from_mdb(rc);
                goto out;
            }
            (*n_outbox)++;
        }
        if ((rc = mdb_cursor_del(cur, 0)) != MDB_SUCCESS) {
            rc = nstore_from_mdb(rc);
            goto out;
        }
        rc = mdb_cursor_get(cur, &key, &val, MDB_GET_CURRENT);
    }
    rc = KR_OK;
out:
    mdb_cursor_close(cur);
    return rc;
}
