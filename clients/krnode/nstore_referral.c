/* nstore_referral.c - the node store's referral table: referral_id ->
 * kr.v1.NodeReferral (referrals.c), and referrals_changed, the same
 * referrals by when they last changed: a search for what changed since a
 * moment (krfhir's GET Task?_lastUpdated=gt..., its long poll) reads only
 * those, not every referral the node holds. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"

#include "nstore_internal.h"

int
nstore_referral_get(nstore_t *st, MDB_txn *txn, const uint8_t id[KR_ID_LEN],
                    const uint8_t **val, size_t *len)
{
    MDB_val k = {KR_ID_LEN, (void *)id}, v;
    int rc = mdb_get(txn, st->dbi[NSTORE_DBI_REFERRALS], &k, &v);

    if (rc != MDB_SUCCESS)
        return nstore_from_mdb(rc);
    *val = v.mv_data;
    *len = v.mv_size;
    return KR_OK;
}

static void
s_changed_key(uint64_t at, const uint8_t id[KR_ID_LEN],
              uint8_t key[8 + KR_ID_LEN])
{
    nstore_seq_key(at, key);
    memcpy(key + 8, id, KR_ID_LEN);
}

int
nstore_referral_put(nstore_t *st, MDB_txn *txn, const uint8_t id[KR_ID_LEN],
                    const uint8_t *val, size_t len, uint64_t old_at,
                    uint64_t new_at)
{
    MDB_val k = {KR_ID_LEN, (void *)id}, v = {len, (void *)val};
    uint8_t ck[8 + KR_ID_LEN];
    MDB_val ckey = {sizeof(ck), ck}, none = {0, ""};
    int rc;

    if ((rc = mdb_put(txn, st->dbi[NSTORE_DBI_REFERRALS], &k, &v, 0)) != 0)
        return nstore_from_mdb(rc);
    if (old_at == new_at && old_at != 0)
        return KR_OK;
    if (old_at != 0) {
        s_changed_key(old_at, id, ck);
        rc = mdb_del(txn, st->dbi[NSTORE_DBI_REFERRALS_CHANGED], &ckey, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return nstore_from_mdb(rc);
    }
    s_changed_key(new_at, id, ck);
    return nstore_from_mdb(
        mdb_put(txn, st->dbi[NSTORE_DBI_REFERRALS_CHANGED], &ckey, &none, 0));
}

/* When a record last changed, as its index key has it: updated_at_ms,
 * else (a record a schema 3 node wrote) when its state was set. */
static uint64_t
s_changed_at(const uint8_t *val, size_t len)
{
    Kr__V1__NodeReferral *r = kr__v1__node_referral__unpack(NULL, len, val);
    uint64_t at = 0;

    if (r != NULL) {
        at = r->updated_at_ms != 0 ? r->updated_at_ms
             : r->state_at_ms != 0 ? r->state_at_ms
                                   : r->opened_at_ms;
        kr__v1__node_referral__free_unpacked(r, NULL);
    }
    return at != 0 ? at : 1;
}

int
nstore_referral_index_build(nstore_t *st, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v, none = {0, ""};
    uint8_t ck[8 + KR_ID_LEN];
    MDB_val ckey = {sizeof(ck), ck};
    uint64_t count = 0;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->dbi[NSTORE_DBI_REFERRALS], &cur)) != 0)
        return nstore_from_mdb(rc);
    /* Bounded by the table: one pass over it. */
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != KR_ID_LEN)
            continue;
        s_changed_key(s_changed_at(v.mv_data, v.mv_size), k.mv_data, ck);
        rc = mdb_put(txn, st->dbi[NSTORE_DBI_REFERRALS_CHANGED], &ckey, &none,
                     0);
        if (rc != 0)
            break;
        count++;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        log_errorx("store: open: indexing the referrals by change: %s",
                   mdb_strerror(rc));
        return nstore_from_mdb(rc);
    }
    log_info("store: schema 3 -> 4: %llu referrals indexed by when they "
             "changed",
             (unsigned long long)count);
    return KR_OK;
}

int
nstore_referral_changed_scan(
    nstore_t *st, MDB_txn *txn, uint64_t since, const uint8_t *after,
    int (*fn)(const uint8_t *val, size_t len, void *arg), void *arg)
{
    MDB_cursor *cur;
    uint8_t ck[8 + KR_ID_LEN];
    MDB_val k = {sizeof(ck), ck}, v;
    int rc;

    nstore_seq_key(since, ck);
    if (after != NULL)
        memcpy(ck + 8, after, KR_ID_LEN);
    else
        memset(ck + 8, 0, KR_ID_LEN);
    rc = mdb_cursor_open(txn, st->dbi[NSTORE_DBI_REFERRALS_CHANGED], &cur);
    if (rc != 0)
        return nstore_from_mdb(rc);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && after != NULL && k.mv_size == sizeof(ck) &&
        memcmp(k.mv_data, ck, sizeof(ck)) == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    /* Bounded by the index; fn ends it when its page is full. */
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *val;
        size_t len;
        if (k.mv_size != sizeof(ck))
            continue;
        int got = nstore_referral_get(st, txn, (const uint8_t *)k.mv_data + 8,
                                      &val, &len);
        if (got == KR_ENOTFOUND)
            continue; /* cannot be (put and del keep both): skipped */
        if (got != KR_OK) {
            mdb_cursor_close(cur);
            return got;
        }
        if (fn(val, len, arg) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : nstore_from_mdb(rc);
}

int
nstore_referral_scan(nstore_t *st, MDB_txn *txn, const uint8_t *after,
                     int (*fn)(const uint8_t *val, size_t len, void *arg),
                     void *arg)
{
    MDB_cursor *cur;
    MDB_val k = {KR_ID_LEN, (void *)after}, v;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->dbi[NSTORE_DBI_REFERRALS], &cur)) != 0)
        return nstore_from_mdb(rc);
    rc = mdb_cursor_get(cur, &k, &v, after != NULL ? MDB_SET_RANGE : MDB_FIRST);
    if (rc == 0 && after != NULL && k.mv_size == KR_ID_LEN &&
        memcmp(k.mv_data, after, KR_ID_LEN) == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (fn(v.mv_data, v.mv_size, arg) != 0)
            break;
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : nstore_from_mdb(rc);
}

int
nstore_referral_del(nstore_t *st, MDB_txn *txn, const uint8_t id[KR_ID_LEN])
{
    MDB_val key = {KR_ID_LEN, (void *)id}, v;
    uint8_t ck[8 + KR_ID_LEN];
    MDB_val ckey = {sizeof(ck), ck};
    int rc = mdb_get(txn, st->dbi[NSTORE_DBI_REFERRALS], &key, &v);

    if (rc == MDB_NOTFOUND)
        return KR_OK;
    if (rc != 0)
        return nstore_from_mdb(rc);
    s_changed_key(s_changed_at(v.mv_data, v.mv_size), id, ck);
    rc = mdb_del(txn, st->dbi[NSTORE_DBI_REFERRALS_CHANGED], &ckey, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return nstore_from_mdb(rc);
    rc = mdb_del(txn, st->dbi[NSTORE_DBI_REFERRALS], &key, NULL);
    return rc == MDB_NOTFOUND ? KR_OK : nstore_from_mdb(rc);
}
