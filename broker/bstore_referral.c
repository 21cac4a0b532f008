/* bstore_referral.c - referral records and their timers; see bstore.h. */
#include <string.h>

#include "bstore_internal.h"
#include "kr.h"

int
bstore_referral_get(struct broker_store *st, MDB_txn *txn,
                    const uint8_t referral_id[16], ProtobufCAllocator *pa,
                    Kr__V1__ReferralRecord **out)
{
    MDB_val k = {16, (void *)referral_id}, v;
    int rc = mdb_get(txn, st->referrals, &k, &v);

    if (rc != 0)
        return bstore_from_mdb(rc);
    *out = kr__v1__referral_record__unpack(pa, v.mv_size, v.mv_data);
    return *out != NULL ? KR_OK : KR_ESTORE;
}

int
bstore_referral_put(struct broker_store *st, MDB_txn *txn,
                    const Kr__V1__ReferralRecord *r)
{
    MDB_val k = {16, r->referral_id.data};

    if (r->referral_id.len != 16)
        return KR_EINVAL;
    return bstore_put_msg(txn, st->referrals, &k, &r->base);
}

int
bstore_referral_add(struct broker_store *st, MDB_txn *txn,
                    const Kr__V1__ReferralRecord *r, const uint8_t **old,
                    size_t *old_len)
{
    MDB_val k = {16, r->referral_id.data}, v;
    int rc;

    if (r->referral_id.len != 16)
        return KR_EINVAL;
    v.mv_size = protobuf_c_message_get_packed_size(&r->base);
    rc = mdb_put(txn, st->referrals, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE);
    if (rc == MDB_KEYEXIST) {
        *old = v.mv_data; /* LMDB returns the existing value */
        *old_len = v.mv_size;
        return KR_EEXIST;
    }
    if (rc != 0)
        return bstore_from_mdb(rc);
    protobuf_c_message_pack(&r->base, v.mv_data);
    return KR_OK;
}

int
bstore_referral_scan(struct broker_store *st, MDB_txn *txn,
                     const uint8_t *after, ProtobufCAllocator *pa,
                     int (*fn)(Kr__V1__ReferralRecord *r, void *arg), void *arg)
{
    MDB_cursor *cur;
    MDB_val k = {16, (void *)after}, v;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->referrals, &cur)) != 0)
        return bstore_from_mdb(rc);
    rc = mdb_cursor_get(cur, &k, &v, after != NULL ? MDB_SET_RANGE : MDB_FIRST);
    if (rc == 0 && after != NULL && k.mv_size == 16 &&
        memcmp(k.mv_data, after, 16) == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        Kr__V1__ReferralRecord *r =
            kr__v1__referral_record__unpack(pa, v.mv_size, v.mv_data);
        if (r == NULL)
            continue;
        if (fn(r, arg) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

static void
s_tkey(const struct bstore_timer *t, uint8_t key[25])
{
    bstore_be64(t->due_ms, key);
    memcpy(key + 8, t->referral_id, 16);
    key[24] = t->step;
}

int
bstore_timer_put(struct broker_store *st, MDB_txn *txn,
                 const struct bstore_timer *t)
{
    uint8_t key[25];
    MDB_val k = {25, key},
            v = {strnlen(t->name, sizeof(t->name)), (void *)t->name};

    s_tkey(t, key);
    return bstore_from_mdb(mdb_put(txn, st->timers, &k, &v, 0));
}

int
bstore_timer_del(struct broker_store *st, MDB_txn *txn,
                 const struct bstore_timer *t)
{
    uint8_t key[25];
    MDB_val k = {25, key};
    int rc;

    s_tkey(t, key);
    rc = mdb_del(txn, st->timers, &k, NULL);
    return rc == MDB_NOTFOUND ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_timer_due(struct broker_store *st, MDB_txn *txn, uint64_t now,
                 size_t max, struct bstore_timer *out, size_t *n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    *n = 0;
    if ((rc = mdb_cursor_open(txn, st->timers, &cur)) != 0)
        return bstore_from_mdb(rc);
    /* From the front: the first entry not yet due ends the scan, so a
     * pass costs what is due, not what is pending. */
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 25)
            continue;
        uint64_t t = bstore_unbe64(k.mv_data);
        if (t > now)
            break;
        struct bstore_timer *o = &out[(*n)++];
        memset(o, 0, sizeof(*o));
        o->due_ms = t;
        memcpy(o->referral_id, (const uint8_t *)k.mv_data + 8, 16);
        o->step = ((const uint8_t *)k.mv_data)[24];
        size_t nl =
            v.mv_size < sizeof(o->name) - 1 ? v.mv_size : sizeof(o->name) - 1;
        memcpy(o->name, v.mv_data, nl);
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_timer_count(struct broker_store *st, MDB_txn *txn, uint64_t *n)
{
    MDB_stat s;
    int rc = mdb_stat(txn, st->timers, &s);

    *n = rc == 0 ? s.ms_entries : 0;
    return bstore_from_mdb(rc);
}

int
bstore_referral_count(struct broker_store *st, MDB_txn *txn, uint64_t *n)
{
    MDB_stat s;
    int rc = mdb_stat(txn, st->referrals, &s);

    *n = rc == 0 ? s.ms_entries : 0;
    return bstore_from_mdb(rc);
}
