/* bstore_erasure.c - see bstore_erasure.h. */
#define _GNU_SOURCE
#include "bstore_erasure.h"

#include <string.h>

#include "bstore_internal.h"
#include "kr.h"

int
bstore_payload_scan(struct broker_store *st, MDB_txn *txn,
                    int (*fn)(uint64_t seq, const uint8_t *env, size_t env_len,
                              void *arg),
                    void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->payloads, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || v.mv_size < 64)
            continue;
        if (fn(bstore_unbe64(k.mv_data), (const uint8_t *)v.mv_data + 64,
               v.mv_size - 64, arg) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_case_subject_del(struct broker_store *st, MDB_txn *txn,
                        const uint8_t case_id[16], const uint8_t subject[32],
                        bool *gone)
{
    MDB_val k = {16, (void *)case_id}, v;
    int rc = mdb_get(txn, st->case_subjects, &k, &v);

    *gone = false;
    if (rc == MDB_NOTFOUND)
        return KR_OK;
    if (rc != 0)
        return bstore_from_mdb(rc);
    if (v.mv_size != 32 || memcmp(v.mv_data, subject, 32) != 0)
        return KR_OK;
    if ((rc = mdb_del(txn, st->case_subjects, &k, NULL)) != 0)
        return bstore_from_mdb(rc);
    *gone = true;
    return KR_OK;
}

int
bstore_referrals_about(struct broker_store *st, MDB_txn *txn,
                       const uint8_t subject[32], size_t max,
                       uint8_t (*ids)[16], size_t *n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    *n = 0;
    if ((rc = mdb_cursor_open(txn, st->referrals, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 ||
            memmem(v.mv_data, v.mv_size, subject, 32) == NULL)
            continue;
        Kr__V1__ReferralRecord *r =
            kr__v1__referral_record__unpack(NULL, v.mv_size, v.mv_data);
        if (r != NULL && r->subject_pseudonym.len == 32 &&
            memcmp(r->subject_pseudonym.data, subject, 32) == 0)
            memcpy(ids[(*n)++], k.mv_data, 16);
        if (r != NULL)
            kr__v1__referral_record__free_unpacked(r, NULL);
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}
