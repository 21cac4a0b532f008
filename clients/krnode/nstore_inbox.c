/* nstore_inbox.c - the node store's inbox: records keyed by arrival seq,
 * their msg_id index, the unprocessed index and the deliveries held for
 * the broker's pass result (provisional.c). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"

#include "nstore_internal.h"

/*
 * The inbox is keyed by arrival seq: msg_ids come from the senders, and
 * random ones would scatter every arrival over the tree (copy-on-write
 * rewrites a page per insert). inbox: seq -> msg_id || InboxRecord;
 * inbox_ids: msg_id -> seq, for deduplication and lookups by id.
 */

/* The stored value of seq (BE key k): msg_id, then the record. */
int
nstore_inbox_at(nstore_t *st, MDB_txn *txn, const uint8_t k[8],
                const uint8_t **msg_id, const uint8_t **val, size_t *len)
{
    MDB_val key = {8, (void *)k}, v;
    int rc = mdb_get(txn, st->dbi[NSTORE_DBI_INBOX], &key, &v);

    if (rc != MDB_SUCCESS)
        return nstore_from_mdb(rc);
    if (v.mv_size < KR_ID_LEN)
        return KR_ESTORE;
    *msg_id = v.mv_data;
    *val = (const uint8_t *)v.mv_data + KR_ID_LEN;
    *len = v.mv_size - KR_ID_LEN;
    return KR_OK;
}

static int
s_inbox_seq(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id, uint8_t k[8])
{
    const uint8_t *v;
    size_t len;
    int rc = nstore_get(st, txn, NSTORE_DBI_INBOX_IDS, msg_id, &v, &len);

    if (rc != KR_OK)
        return rc;
    if (len != 8)
        return KR_ESTORE;
    memcpy(k, v, 8);
    return KR_OK;
}

int
nstore_inbox_get(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                 const uint8_t **val, size_t *len)
{
    const uint8_t *id;
    uint8_t k[8];
    int rc = s_inbox_seq(st, txn, msg_id, k);

    return rc != KR_OK ? rc : nstore_inbox_at(st, txn, k, &id, val, len);
}

/* Write the record at seq k, behind its msg_id. */
static int
s_inbox_put(nstore_t *st, MDB_txn *txn, const uint8_t k[8],
            const uint8_t *msg_id, const Kr__V1__InboxRecord *rec,
            unsigned flags)
{
    MDB_val key = {8, (void *)k}, v;
    size_t n = kr__v1__inbox_record__get_packed_size(rec);
    int rc;

    v.mv_size = KR_ID_LEN + n;
    v.mv_data = NULL;
    if ((rc = mdb_put(txn, st->dbi[NSTORE_DBI_INBOX], &key, &v,
                      flags | MDB_RESERVE)) != MDB_SUCCESS)
        return rc;
    memcpy(v.mv_data, msg_id, KR_ID_LEN);
    kr__v1__inbox_record__pack(rec, (uint8_t *)v.mv_data + KR_ID_LEN);
    return MDB_SUCCESS;
}

int
nstore_inbox_add(nstore_t *st, MDB_txn *txn, Kr__V1__InboxRecord *rec)
{
    MDB_val key, sv;
    uint8_t k[8];
    uint64_t seq;
    int rc;

    if (rec->item == NULL || rec->item->msg_id.len != KR_ID_LEN)
        return KR_EINVAL;
    key.mv_size = KR_ID_LEN;
    key.mv_data = rec->item->msg_id.data;
    if ((rc = nstore_next_seq(txn, st->dbi[NSTORE_DBI_INBOX], &seq)) != 0)
        goto fail;
    nstore_seq_key(seq, k);
    sv.mv_size = sizeof(k);
    sv.mv_data = k;
    rc =
        mdb_put(txn, st->dbi[NSTORE_DBI_INBOX_IDS], &key, &sv, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return KR_EEXIST;
    if (rc != MDB_SUCCESS)
        goto fail;
    rec->item->seq = seq;
    rec->item->processed = 0;
    /* Arrival seqs only grow: APPEND skips the search for the place. */
    rc = s_inbox_put(st, txn, k, key.mv_data, rec, MDB_APPEND);
    if (rc != MDB_SUCCESS)
        goto fail;
    rc = nstore_put_index(txn, st->dbi[NSTORE_DBI_INBOX_UNPROCESSED], seq,
                          key.mv_data);
    if (rc != MDB_SUCCESS)
        goto fail;
    return KR_OK;
fail:
    nstore_log_fail("inbox add", rc);
    return nstore_from_mdb(rc);
}

int
nstore_inbox_set_processed(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                           bool *changed)
{
    Kr__V1__InboxRecord *rec = NULL;
    struct arena_mark mark;
    const uint8_t *v, *id;
    uint8_t k[8];
    size_t vlen;
    int rc;

    *changed = false;
    if ((rc = s_inbox_seq(st, txn, msg_id, k)) != KR_OK ||
        (rc = nstore_inbox_at(st, txn, k, &id, &v, &vlen)) != KR_OK)
        return rc;
    mark = arena_mark(&st->pb);
    rec = kr__v1__inbox_record__unpack(arena_allocator(&st->pb), vlen, v);
    if (rec == NULL || rec->item == NULL) {
        log_errorx("store: inbox record does not parse: leaving it as is");
        rc = KR_ESTORE;
        goto done;
    }
    if (rec->item->processed) {
        rc = KR_OK;
        goto done;
    }
    rec->item->processed = 1;
    rc = s_inbox_put(st, txn, k, msg_id, rec, 0);
    if (rc == MDB_SUCCESS)
        rc = nstore_del_index(txn, st->dbi[NSTORE_DBI_INBOX_UNPROCESSED],
                              rec->item->seq);
    if (rc == MDB_SUCCESS)
        rc = nstore_done_put(st, txn, util_now_ms(), 'i', msg_id,
                             rec->item->seq);
    if (rc != MDB_SUCCESS) {
        nstore_log_fail("inbox processed", rc);
        rc = nstore_from_mdb(rc);
        goto done;
    }
    *changed = true;
    rc = KR_OK;
done:
    arena_release(&st->pb, mark);
    return rc;
}

int
nstore_inbox_hold(nstore_t *st, MDB_txn *txn, uint64_t seq,
                  const uint8_t *msg_id)
{
    uint8_t k[8], v[KR_ID_LEN + 1];
    MDB_val key = {sizeof(k), k}, val = {sizeof(v), v};
    int rc;

    nstore_seq_key(seq, k);
    memcpy(v, msg_id, KR_ID_LEN);
    v[KR_ID_LEN] = NSTORE_HELD_MARK;
    rc = mdb_put(txn, st->dbi[NSTORE_DBI_INBOX_UNPROCESSED], &key, &val, 0);
    if (rc != MDB_SUCCESS) {
        nstore_log_fail("inbox hold", rc);
        return nstore_from_mdb(rc);
    }
    return KR_OK;
}

int
nstore_inbox_release(nstore_t *st, MDB_txn *txn, uint64_t seq)
{
    uint8_t k[8], id[KR_ID_LEN];
    MDB_val key = {sizeof(k), k}, val;
    int rc;

    nstore_seq_key(seq, k);
    rc = mdb_get(txn, st->dbi[NSTORE_DBI_INBOX_UNPROCESSED], &key, &val);
    if (rc == MDB_NOTFOUND || (rc == MDB_SUCCESS && val.mv_size == KR_ID_LEN))
        return KR_OK; /* not held (any more) */
    if (rc == MDB_SUCCESS && val.mv_size == KR_ID_LEN + 1) {
        memcpy(id, val.mv_data, KR_ID_LEN);
        rc = nstore_put_index(txn, st->dbi[NSTORE_DBI_INBOX_UNPROCESSED], seq,
                              id);
    } else if (rc == MDB_SUCCESS) {
        rc = MDB_CORRUPTED;
    }
    if (rc != MDB_SUCCESS) {
        nstore_log_fail("inbox release", rc);
        return nstore_from_mdb(rc);
    }
    return KR_OK;
}

int
nstore_inbox_remove(nstore_t *st, MDB_txn *txn, uint64_t seq,
                    const uint8_t *msg_id)
{
    uint8_t k[8];
    MDB_val key = {sizeof(k), k}, id = {KR_ID_LEN, (void *)msg_id}, v;
    int rc;

    nstore_seq_key(seq, k);
    /* Only the record at seq with this msg_id: the id may have arrived
     * again since, under another seq. */
    rc = mdb_get(txn, st->dbi[NSTORE_DBI_INBOX_IDS], &id, &v);
    if (rc == MDB_SUCCESS && v.mv_size == 8 && memcmp(v.mv_data, k, 8) == 0)
        rc = mdb_del(txn, st->dbi[NSTORE_DBI_INBOX_IDS], &id, NULL);
    if (rc == MDB_SUCCESS || rc == MDB_NOTFOUND) {
        rc = mdb_get(txn, st->dbi[NSTORE_DBI_INBOX], &key, &v);
        if (rc == MDB_SUCCESS && v.mv_size >= KR_ID_LEN &&
            memcmp(v.mv_data, msg_id, KR_ID_LEN) == 0)
            rc = mdb_del(txn, st->dbi[NSTORE_DBI_INBOX], &key, NULL);
    }
    if (rc == MDB_SUCCESS || rc == MDB_NOTFOUND) {
        rc = mdb_get(txn, st->dbi[NSTORE_DBI_INBOX_UNPROCESSED], &key, &v);
        if (rc == MDB_SUCCESS && v.mv_size >= KR_ID_LEN &&
            memcmp(v.mv_data, msg_id, KR_ID_LEN) == 0)
            rc =
                mdb_del(txn, st->dbi[NSTORE_DBI_INBOX_UNPROCESSED], &key, NULL);
    }
    if (rc == MDB_NOTFOUND)
        rc = MDB_SUCCESS;
    if (rc != MDB_SUCCESS) {
        nstore_log_fail("inbox remove", rc);
        return nstore_from_mdb(rc);
    }
    return KR_OK;
}

int
nstore_inbox_drop_held(nstore_t *st, MDB_txn *txn, uint64_t *dropped)
{
    struct {
        uint64_t seq;
        uint8_t id[KR_ID_LEN];
    } *held = NULL;
    size_t n = 0, cap = 0;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc;

    *dropped = 0;
    /* A walk of the unprocessed index (only held deliveries carry the
     * mark), then the removals: not while the cursor walks. */
    if ((rc = mdb_cursor_open(txn, st->dbi[NSTORE_DBI_INBOX_UNPROCESSED],
                              &cur)) != MDB_SUCCESS)
        return nstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != 8 || val.mv_size != KR_ID_LEN + 1 ||
            ((const uint8_t *)val.mv_data)[KR_ID_LEN] != NSTORE_HELD_MARK)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            held = xrealloc(held, cap * sizeof(*held));
        }
        held[n].seq = nstore_seq_from(key.mv_data);
        memcpy(held[n].id, val.mv_data, KR_ID_LEN);
        n++;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        free(held);
        nstore_log_fail("inbox drop held", rc);
        return nstore_from_mdb(rc);
    }
    rc = KR_OK;
    for (size_t i = 0; i < n && rc == KR_OK; i++)
        rc = nstore_inbox_remove(st, txn, held[i].seq, held[i].id);
    free(held);
    if (rc == KR_OK)
        *dropped = n;
    return rc;
}
