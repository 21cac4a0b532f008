/* bstore_retention.c - purges by due time; see bstore_retention.h. */
#include "bstore_retention.h"

#include <string.h>

#include "bstore_internal.h"
#include "kr.h"
#include "store.pb-c.h"

int
bstore_final_put(struct broker_store *st, MDB_txn *txn, uint64_t final_at,
                 const uint8_t msg_id[16])
{
    uint8_t key[16];
    MDB_val k = {16, key}, v = {16, (void *)msg_id};
    int rc;

    bstore_be64(final_at, key);
    if ((rc = bstore_msg_key(st, txn, msg_id, false, key + 8)) != KR_OK)
        return rc;
    return bstore_from_mdb(mdb_put(txn, st->finals, &k, &v, 0));
}

int
bstore_final_due(struct broker_store *st, MDB_txn *txn, uint64_t before,
                 size_t max, struct bstore_final *out, size_t *n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    *n = 0;
    if ((rc = mdb_cursor_open(txn, st->finals, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || v.mv_size != 16)
            continue;
        uint64_t t = bstore_unbe64(k.mv_data);
        if (t > before)
            break;
        struct bstore_final *f = &out[(*n)++];
        f->final_at = t;
        f->seq = bstore_unbe64((const uint8_t *)k.mv_data + 8);
        memcpy(f->msg_id, v.mv_data, 16);
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

static int
s_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *k)
{
    int rc = mdb_del(txn, dbi, k, NULL);
    return rc == MDB_NOTFOUND ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_msg_purge(struct broker_store *st, MDB_txn *txn,
                 const struct bstore_final *f, const uint8_t *consent_id)
{
    uint8_t key[16], ckey[24];
    MDB_val sk = {8, key + 8}, ik = {16, (void *)f->msg_id}, fk = {16, key},
            ck = {24, ckey};
    int rc;

    bstore_be64(f->final_at, key);
    bstore_be64(f->seq, key + 8);
    if ((rc = s_del(txn, st->messages, &sk)) != 0 ||
        (rc = s_del(txn, st->payloads, &sk)) != 0 ||
        (rc = s_del(txn, st->msg_index, &ik)) != 0 ||
        (rc = s_del(txn, st->finals, &fk)) != 0)
        return rc;
    if (consent_id != NULL) {
        memcpy(ckey, consent_id, 16);
        memcpy(ckey + 16, key + 8, 8);
        if ((rc = s_del(txn, st->consent_msgs, &ck)) != 0)
            return rc;
    }
    if (st->seq_cache_valid && memcmp(st->seq_cache_id, f->msg_id, 16) == 0)
        st->seq_cache_valid = false;
    /* Seqs are never reused, even when every message is gone. */
    uint8_t floor[8];
    MDB_val mk = {13, "msg_seq_floor"}, mv;
    if (mdb_get(txn, st->meta, &mk, &mv) != 0 || mv.mv_size != 8 ||
        bstore_unbe64(mv.mv_data) <= f->seq) {
        bstore_be64(f->seq + 1, floor);
        mv = (MDB_val){8, floor};
        if ((rc = mdb_put(txn, st->meta, &mk, &mv, 0)) != 0)
            return bstore_from_mdb(rc);
    }
    return KR_OK;
}

int
bstore_audit_anchor(struct broker_store *st, MDB_txn *txn, uint64_t *seq,
                    uint8_t hash[32])
{
    MDB_val k = {12, "audit_anchor"}, v;
    int rc = mdb_get(txn, st->meta, &k, &v);

    if (rc != 0)
        return bstore_from_mdb(rc);
    if (v.mv_size != 40)
        return KR_ESTORE;
    *seq = bstore_unbe64(v.mv_data);
    memcpy(hash, (const uint8_t *)v.mv_data + 8, 32);
    return KR_OK;
}

int
bstore_audit_purge_block(struct broker_store *st, MDB_txn *txn, uint64_t block,
                         uint64_t before, uint64_t *purged,
                         uint64_t *anchor_seq)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t last[8], anchor[40];
    int rc;

    *purged = 0;
    if (block == 0)
        return KR_OK;
    if ((rc = mdb_cursor_open(txn, st->audit, &cur)) != 0)
        return bstore_from_mdb(rc);
    if ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) != 0 || k.mv_size != 8)
        goto out;
    uint64_t first = bstore_unbe64(k.mv_data), end = first + block - 1;
    /* Never the newest record: the chain's tail stays in the store. */
    if (end + 1 >= st->next_audit)
        goto out;
    bstore_be64(end, last);
    MDB_val lk = {8, last}, lv;
    if ((rc = mdb_get(txn, st->audit, &lk, &lv)) != 0 || lv.mv_size < 32) {
        rc = rc == 0 ? MDB_CORRUPTED : rc;
        goto out;
    }
    Kr__V1__AuditRecord *r = kr__v1__audit_record__unpack(
        NULL, lv.mv_size - 32, (const uint8_t *)lv.mv_data + 32);
    if (r == NULL) {
        rc = MDB_CORRUPTED;
        goto out;
    }
    uint64_t at = r->at_ms;
    kr__v1__audit_record__free_unpacked(r, NULL);
    if (at > before)
        goto out; /* the block is not old enough as a whole */
    memcpy(anchor + 8, lv.mv_data, 32);
    bstore_be64(end, anchor);
    /* Delete first..end: a whole block, from the front. */
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (uint64_t i = 0; rc == 0 && i < block; i++) {
        if (k.mv_size != 8 || bstore_unbe64(k.mv_data) > end)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        (*purged)++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        goto out;
    MDB_val ak = {12, "audit_anchor"}, av = {40, anchor};
    rc = mdb_put(txn, st->meta, &ak, &av, 0);
    *anchor_seq = end;
out:
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_final_count(struct broker_store *st, MDB_txn *txn, uint64_t *n)
{
    MDB_stat s;
    int rc = mdb_stat(txn, st->finals, &s);

    *n = rc == 0 ? s.ms_entries : 0;
    return bstore_from_mdb(rc);
}
