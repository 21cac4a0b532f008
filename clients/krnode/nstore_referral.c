/* nstore_referral.c - the node store's referral table: referral_id ->
 * kr.v1.NodeReferral (referrals.c). */
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

int
nstore_referral_put(nstore_t *st, MDB_txn *txn, const uint8_t id[KR_ID_LEN],
                    const uint8_t *val, size_t len)
{
    MDB_val k = {KR_ID_LEN, (void *)id}, v = {len, (void *)val};

    return nstore_from_mdb(
        mdb_put(txn, st->dbi[NSTORE_DBI_REFERRALS], &k, &v, 0));
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
    MDB_val key = {KR_ID_LEN, (void *)id};
    int rc = mdb_del(txn, st->dbi[NSTORE_DBI_REFERRALS], &key, NULL);

    return rc == MDB_NOTFOUND ? KR_OK : nstore_from_mdb(rc);
}
