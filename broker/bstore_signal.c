/* bstore_signal.c - signals, their expiry, mother-child links; see
 * bstore_signal.h. */
#include "bstore_signal.h"

#include <string.h>

#include "bstore_internal.h"
#include "kr.h"
#include "util.h"

#define S_KEY_MAX (32 + KR_ORG_ID_MAX + 1 + 64)

/* <subject><org>\0<purpose>; 0 if the parts do not fit. */
static size_t
s_key(const uint8_t subject[32], const char *org, const char *purpose,
      uint8_t key[S_KEY_MAX])
{
    size_t ol = strlen(org), pl = strlen(purpose);

    if (32 + ol + 1 + pl > S_KEY_MAX)
        return 0;
    memcpy(key, subject, 32);
    memcpy(key + 32, org, ol);
    key[32 + ol] = '\0';
    memcpy(key + 33 + ol, purpose, pl);
    return 33 + ol + pl;
}

static void
s_due_key(uint64_t due, const uint8_t id[16], uint8_t key[24])
{
    bstore_be64(due, key);
    memcpy(key + 8, id, 16);
}

int
bstore_signal_get(struct broker_store *st, MDB_txn *txn,
                  const uint8_t subject[32], const char *org,
                  const char *purpose, ProtobufCAllocator *pa,
                  Kr__V1__SignalRecord **out)
{
    uint8_t key[S_KEY_MAX];
    MDB_val k = {s_key(subject, org, purpose, key), key}, v;
    int rc;

    if (k.mv_size == 0)
        return KR_EINVAL;
    if ((rc = mdb_get(txn, st->signals, &k, &v)) != 0)
        return bstore_from_mdb(rc);
    *out = kr__v1__signal_record__unpack(pa, v.mv_size, v.mv_data);
    return *out != NULL ? KR_OK : KR_ESTORE;
}

int
bstore_signal_get_id(struct broker_store *st, MDB_txn *txn,
                     const uint8_t id[16], ProtobufCAllocator *pa,
                     Kr__V1__SignalRecord **out)
{
    MDB_val k = {16, (void *)id}, v;
    int rc;

    if ((rc = mdb_get(txn, st->signal_ids, &k, &v)) != 0)
        return bstore_from_mdb(rc);
    MDB_val sk = v;
    if ((rc = mdb_get(txn, st->signals, &sk, &v)) != 0)
        return bstore_from_mdb(rc);
    *out = kr__v1__signal_record__unpack(pa, v.mv_size, v.mv_data);
    return *out != NULL ? KR_OK : KR_ESTORE;
}

int
bstore_signal_put(struct broker_store *st, MDB_txn *txn,
                  const Kr__V1__SignalRecord *r)
{
    uint8_t key[S_KEY_MAX], dkey[24];
    MDB_val k, v;
    int rc;

    if (r->signal_id.len != 16 || r->subject_pseudonym.len != 32)
        return KR_EINVAL;
    k.mv_data = key;
    k.mv_size = s_key(r->subject_pseudonym.data, r->org_id, r->purpose, key);
    if (k.mv_size == 0)
        return KR_EINVAL;
    if ((rc = bstore_put_msg(txn, st->signals, &k, &r->base)) != 0)
        return rc;
    MDB_val ik = {16, r->signal_id.data};
    v = k;
    if ((rc = mdb_put(txn, st->signal_ids, &ik, &v, 0)) != 0)
        return bstore_from_mdb(rc);
    if (r->expires_at_ms != 0) {
        s_due_key(r->expires_at_ms, r->signal_id.data, dkey);
        MDB_val dk = {24, dkey};
        v = k;
        if ((rc = mdb_put(txn, st->signal_due, &dk, &v, 0)) != 0)
            return bstore_from_mdb(rc);
    }
    return KR_OK;
}

static int
s_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *k)
{
    int rc = mdb_del(txn, dbi, k, NULL);
    return rc == MDB_NOTFOUND ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_signal_del(struct broker_store *st, MDB_txn *txn,
                  const Kr__V1__SignalRecord *r)
{
    uint8_t key[S_KEY_MAX], dkey[24];
    MDB_val k;
    int rc;

    if (r->signal_id.len != 16 || r->subject_pseudonym.len != 32)
        return KR_EINVAL;
    k.mv_data = key;
    k.mv_size = s_key(r->subject_pseudonym.data, r->org_id, r->purpose, key);
    if (k.mv_size == 0)
        return KR_EINVAL;
    if ((rc = s_del(txn, st->signals, &k)) != 0)
        return rc;
    MDB_val ik = {16, r->signal_id.data};
    if ((rc = s_del(txn, st->signal_ids, &ik)) != 0)
        return rc;
    s_due_key(r->expires_at_ms, r->signal_id.data, dkey);
    MDB_val dk = {24, dkey};
    return s_del(txn, st->signal_due, &dk);
}

int
bstore_signal_scan(struct broker_store *st, MDB_txn *txn,
                   const uint8_t subject[32], size_t max,
                   ProtobufCAllocator *pa,
                   int (*fn)(Kr__V1__SignalRecord *r, void *arg), void *arg)
{
    MDB_cursor *cur;
    MDB_val k = {32, (void *)subject}, v;
    size_t n = 0;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->signals, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
        if (k.mv_size < 32 || memcmp(k.mv_data, subject, 32) != 0)
            break;
        Kr__V1__SignalRecord *r =
            kr__v1__signal_record__unpack(pa, v.mv_size, v.mv_data);
        if (r == NULL)
            continue;
        if (fn(r, arg) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_signal_due(struct broker_store *st, MDB_txn *txn, uint64_t now,
                  size_t max, uint8_t (*ids)[16], size_t *n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    *n = 0;
    if ((rc = mdb_cursor_open(txn, st->signal_due, &cur)) != 0)
        return bstore_from_mdb(rc);
    /* From the front: the first signal not yet due ends the scan. */
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 24)
            continue;
        if (bstore_unbe64(k.mv_data) > now)
            break;
        memcpy(ids[(*n)++], (const uint8_t *)k.mv_data + 8, 16);
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_signal_count(struct broker_store *st, MDB_txn *txn, uint64_t *n)
{
    MDB_stat s;
    int rc = mdb_stat(txn, st->signals, &s);

    *n = rc == 0 ? s.ms_entries : 0;
    return bstore_from_mdb(rc);
}

int
bstore_link_put(struct broker_store *st, MDB_txn *txn, const uint8_t a[32],
                const uint8_t b[32], const uint8_t case_id[16])
{
    uint8_t key[64];
    MDB_val k = {64, key}, v = {16, (void *)case_id};
    int rc;

    memcpy(key, a, 32);
    memcpy(key + 32, b, 32);
    if ((rc = mdb_put(txn, st->subject_links, &k, &v, 0)) != 0)
        return bstore_from_mdb(rc);
    memcpy(key, b, 32);
    memcpy(key + 32, a, 32);
    v = (MDB_val){16, (void *)case_id};
    return bstore_from_mdb(mdb_put(txn, st->subject_links, &k, &v, 0));
}

int
bstore_link_list(struct broker_store *st, MDB_txn *txn, const uint8_t a[32],
                 size_t max, uint8_t (*out)[32], size_t *n)
{
    MDB_cursor *cur;
    MDB_val k = {32, (void *)a}, v;
    int rc;

    *n = 0;
    if ((rc = mdb_cursor_open(txn, st->subject_links, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 64 || memcmp(k.mv_data, a, 32) != 0)
            break;
        memcpy(out[(*n)++], (const uint8_t *)k.mv_data + 32, 32);
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_case_subject_put(struct broker_store *st, MDB_txn *txn,
                        const uint8_t case_id[16], const uint8_t subject[32])
{
    MDB_val k = {16, (void *)case_id}, v = {32, (void *)subject};
    int rc = mdb_put(txn, st->case_subjects, &k, &v, MDB_NOOVERWRITE);

    return rc == MDB_KEYEXIST ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_case_subject_get(struct broker_store *st, MDB_txn *txn,
                        const uint8_t case_id[16], uint8_t subject[32])
{
    MDB_val k = {16, (void *)case_id}, v;
    int rc = mdb_get(txn, st->case_subjects, &k, &v);

    if (rc != 0)
        return bstore_from_mdb(rc);
    if (v.mv_size != 32)
        return KR_ESTORE;
    memcpy(subject, v.mv_data, 32);
    return KR_OK;
}

int
bstore_link_del_all(struct broker_store *st, MDB_txn *txn, const uint8_t a[32],
                    size_t *n)
{
    uint8_t others[16][32], key[64];
    size_t k = 0;
    int rc;

    *n = 0;
    if ((rc = bstore_link_list(st, txn, a, 16, others, &k)) != 0)
        return rc;
    for (size_t i = 0; i < k; i++) {
        MDB_val dk = {64, key};
        memcpy(key, a, 32);
        memcpy(key + 32, others[i], 32);
        rc = mdb_del(txn, st->subject_links, &dk, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return bstore_from_mdb(rc);
        memcpy(key, others[i], 32);
        memcpy(key + 32, a, 32);
        rc = mdb_del(txn, st->subject_links, &dk, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return bstore_from_mdb(rc);
        (*n)++;
    }
    return KR_OK;
}

int
bstore_consent_del(struct broker_store *st, MDB_txn *txn,
                   const uint8_t consent_id[16], const uint8_t subject[32])
{
    uint8_t sk[48];
    MDB_val k = {16, (void *)consent_id}, ik = {48, sk};
    int rc = mdb_del(txn, st->consents, &k, NULL);

    if (rc != 0 && rc != MDB_NOTFOUND)
        return bstore_from_mdb(rc);
    memcpy(sk, subject, 32);
    memcpy(sk + 32, consent_id, 16);
    rc = mdb_del(txn, st->consent_subject, &ik, NULL);
    return rc == MDB_NOTFOUND ? KR_OK : bstore_from_mdb(rc);
}
