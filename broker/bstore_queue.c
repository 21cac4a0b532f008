/* bstore_queue.c - delivery state: messages, payloads, per-organisation
 * queues and the expiry index; see bstore.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bstore_internal.h"
#include "crypto.h"
#include "kr.h"
#include "log.h"
#include "util.h"

/*
 * Messages and payloads are keyed by acceptance order (a store-wide seq),
 * not by msg_id. Senders choose msg_ids; random ones would land every
 * insert on a random leaf of a large B-tree, and copy-on-write rewrites a
 * page for each (krbench --random-ids: 27 KiB written per message instead
 * of 6). Keyed by seq, inserts append and the payloads, deleted in about
 * the order they came, leave whole pages. msg_index (msg_id -> seq) is
 * the one tree random ids still scatter, with entries of 24 bytes.
 */

int
bstore_load_msg_seq(struct broker_store *st, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    st->next_msg_seq = 1;
    if ((rc = mdb_cursor_open(txn, st->messages, &cur)) != 0)
        return rc;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 8)
        st->next_msg_seq = bstore_unbe64(k.mv_data) + 1;
    mdb_cursor_close(cur);
    /* Past every purged message too (bstore_retention.h). */
    MDB_val fk = {13, "msg_seq_floor"}, fv;
    if (mdb_get(txn, st->meta, &fk, &fv) == 0 && fv.mv_size == 8 &&
        bstore_unbe64(fv.mv_data) > st->next_msg_seq)
        st->next_msg_seq = bstore_unbe64(fv.mv_data);
    return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : rc;
}

int
bstore_msg_key(struct broker_store *st, MDB_txn *txn, const uint8_t msg_id[16],
               bool create, uint8_t key[8])
{
    MDB_val k = {16, (void *)msg_id}, v;
    uint64_t seq;
    int rc;

    if (st->seq_cache_valid && memcmp(st->seq_cache_id, msg_id, 16) == 0) {
        bstore_be64(st->seq_cache, key);
        return KR_OK;
    }
    rc = mdb_get(txn, st->msg_index, &k, &v);
    if (rc == 0) {
        if (v.mv_size != 8)
            return KR_ESTORE;
        seq = bstore_unbe64(v.mv_data);
    } else if (rc == MDB_NOTFOUND && create) {
        seq = st->next_msg_seq;
        bstore_be64(seq, key);
        v.mv_size = 8;
        v.mv_data = key;
        if ((rc = mdb_put(txn, st->msg_index, &k, &v, MDB_NOOVERWRITE)) != 0)
            return bstore_from_mdb(rc);
        st->next_msg_seq++;
    } else {
        return bstore_from_mdb(rc);
    }
    bstore_be64(seq, key);
    memcpy(st->seq_cache_id, msg_id, 16);
    st->seq_cache = seq;
    st->seq_cache_valid = true;
    return KR_OK;
}

int
bstore_msg_seq(struct broker_store *st, MDB_txn *txn, const uint8_t msg_id[16],
               bool create, uint64_t *seq)
{
    uint8_t key[8];
    int rc = bstore_msg_key(st, txn, msg_id, create, key);

    if (rc == KR_OK)
        *seq = bstore_unbe64(key);
    return rc;
}

void
bstore_msg_seq_known(struct broker_store *st, const uint8_t msg_id[16],
                     uint64_t seq)
{
    memcpy(st->seq_cache_id, msg_id, 16);
    st->seq_cache = seq;
    st->seq_cache_valid = true;
}

int
bstore_msg_get_at(struct broker_store *st, MDB_txn *txn, uint64_t seq,
                  ProtobufCAllocator *pa, Kr__V1__StoredMessage **out)
{
    uint8_t key[8];
    MDB_val k = {8, key}, v;
    int rc;

    bstore_be64(seq, key);
    if ((rc = mdb_get(txn, st->messages, &k, &v)) != 0)
        return bstore_from_mdb(rc);
    *out = kr__v1__stored_message__unpack(pa, v.mv_size, v.mv_data);
    return *out != NULL ? KR_OK : KR_ESTORE;
}

static int
s_payload_at(struct broker_store *st, MDB_txn *txn, const uint8_t key[8],
             const uint8_t **sig, const uint8_t **env, size_t *env_len)
{
    MDB_val k = {8, (void *)key}, v;
    int rc = mdb_get(txn, st->payloads, &k, &v);

    if (rc != 0)
        return bstore_from_mdb(rc);
    if (v.mv_size < 64)
        return KR_ESTORE;
    *sig = v.mv_data;
    *env = (const uint8_t *)v.mv_data + 64;
    *env_len = v.mv_size - 64;
    return KR_OK;
}

int
bstore_payload_get_at(struct broker_store *st, MDB_txn *txn, uint64_t seq,
                      const uint8_t **sig, const uint8_t **env, size_t *env_len)
{
    uint8_t key[8];

    bstore_be64(seq, key);
    return s_payload_at(st, txn, key, sig, env, env_len);
}

int
bstore_msg_get(struct broker_store *st, MDB_txn *txn, const uint8_t msg_id[16],
               ProtobufCAllocator *pa, Kr__V1__StoredMessage **out)
{
    uint64_t seq;
    int rc = bstore_msg_seq(st, txn, msg_id, false, &seq);

    return rc != KR_OK ? rc : bstore_msg_get_at(st, txn, seq, pa, out);
}

int
bstore_msg_put(struct broker_store *st, MDB_txn *txn, const uint8_t msg_id[16],
               const Kr__V1__StoredMessage *m)
{
    uint8_t key[8];
    MDB_val k = {8, key};
    int rc;

    if ((rc = bstore_msg_key(st, txn, msg_id, true, key)) != KR_OK)
        return rc;
    return bstore_put_msg(txn, st->messages, &k, &m->base);
}

int
bstore_payload_put(struct broker_store *st, MDB_txn *txn,
                   const uint8_t msg_id[16], const uint8_t *sig, size_t sig_len,
                   const uint8_t *env, size_t env_len)
{
    uint8_t key[8];
    MDB_val k = {8, key}, v = {64 + env_len, NULL};
    int rc;

    if (sig_len != 64)
        return KR_EINVAL;
    if ((rc = bstore_msg_key(st, txn, msg_id, true, key)) != KR_OK)
        return rc;
    if ((rc = mdb_put(txn, st->payloads, &k, &v, MDB_RESERVE)) != 0)
        return bstore_from_mdb(rc);
    memcpy(v.mv_data, sig, 64);
    memcpy((uint8_t *)v.mv_data + 64, env, env_len);
    return KR_OK;
}

int
bstore_payload_get(struct broker_store *st, MDB_txn *txn,
                   const uint8_t msg_id[16], const uint8_t **sig,
                   const uint8_t **env, size_t *env_len)
{
    uint8_t key[8];
    int rc = bstore_msg_key(st, txn, msg_id, false, key);

    return rc != KR_OK ? rc : s_payload_at(st, txn, key, sig, env, env_len);
}

int
bstore_payload_del(struct broker_store *st, MDB_txn *txn,
                   const uint8_t msg_id[16])
{
    uint8_t key[8];
    MDB_val k = {8, key};
    int rc;

    if ((rc = bstore_msg_key(st, txn, msg_id, false, key)) != KR_OK)
        return rc == KR_ENOTFOUND ? KR_OK : rc;
    rc = mdb_del(txn, st->payloads, &k, NULL);
    return rc == MDB_NOTFOUND ? KR_OK : bstore_from_mdb(rc);
}

/* Queue keys: org id, a NUL, the seq big-endian, so that one org's items
 * are adjacent and in order. */
static size_t
s_qkey(const char *org, uint64_t seq, uint8_t *key)
{
    size_t n = strlen(org);

    memcpy(key, org, n);
    key[n] = '\0';
    bstore_be64(seq, key + n + 1);
    return n + 9;
}

int
bstore_queue_put(struct broker_store *st, MDB_txn *txn, const char *org,
                 uint64_t seq, const Kr__V1__QueueItem *item)
{
    uint8_t key[KR_ORG_ID_MAX + 9];
    MDB_val k = {s_qkey(org, seq, key), key};

    return bstore_put_msg(txn, st->queue, &k, &item->base);
}

int
bstore_queue_get(struct broker_store *st, MDB_txn *txn, const char *org,
                 uint64_t seq, const uint8_t **data, size_t *len)
{
    uint8_t key[KR_ORG_ID_MAX + 9];
    MDB_val k = {s_qkey(org, seq, key), key}, v;
    int rc = mdb_get(txn, st->queue, &k, &v);

    if (rc != 0)
        return bstore_from_mdb(rc);
    *data = v.mv_data;
    *len = v.mv_size;
    return KR_OK;
}

int
bstore_queue_del(struct broker_store *st, MDB_txn *txn, const char *org,
                 uint64_t seq)
{
    uint8_t key[KR_ORG_ID_MAX + 9];
    MDB_val k = {s_qkey(org, seq, key), key};
    int rc = mdb_del(txn, st->queue, &k, NULL);

    return rc == MDB_NOTFOUND ? KR_OK : bstore_from_mdb(rc);
}

static bool
s_is_org_key(const MDB_val *k, const char *org, size_t n)
{
    return k->mv_size == n + 9 && memcmp(k->mv_data, org, n) == 0 &&
           ((const uint8_t *)k->mv_data)[n] == '\0';
}

int
bstore_queue_last(struct broker_store *st, MDB_txn *txn, const char *org,
                  uint64_t *seq)
{
    uint8_t key[KR_ORG_ID_MAX + 9];
    size_t n = strlen(org);
    MDB_val k = {s_qkey(org, UINT64_MAX, key), key}, v;
    MDB_cursor *cur;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->queue, &cur)) != 0)
        return bstore_from_mdb(rc);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && s_is_org_key(&k, org, n)) {
        *seq = UINT64_MAX; /* cannot happen: seqs stay far below */
    } else {
        rc = mdb_cursor_get(cur, &k, &v,
                            rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
        *seq = (rc == 0 && s_is_org_key(&k, org, n))
                   ? bstore_unbe64((const uint8_t *)k.mv_data + n + 1)
                   : 0;
        rc = (rc == MDB_NOTFOUND) ? 0 : rc;
    }
    mdb_cursor_close(cur);
    return bstore_from_mdb(rc);
}

int
bstore_queue_scan(struct broker_store *st, MDB_txn *txn, const char *org,
                  uint64_t from,
                  int (*fn)(uint64_t seq, const uint8_t *data, size_t len,
                            void *arg),
                  void *arg)
{
    uint8_t key[KR_ORG_ID_MAX + 9];
    size_t n = strlen(org);
    MDB_val k = {s_qkey(org, from, key), key}, v;
    MDB_cursor *cur;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->queue, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (!s_is_org_key(&k, org, n))
            break;
        if (fn(bstore_unbe64((const uint8_t *)k.mv_data + n + 1), v.mv_data,
               v.mv_size, arg) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

struct s_stat_arg {
    uint64_t count, first;
};

static int
s_stat_cb(uint64_t seq, const uint8_t *data, size_t len, void *arg)
{
    struct s_stat_arg *a = arg;

    (void)data;
    (void)len;
    if (a->count++ == 0)
        a->first = seq;
    return 0;
}

int
bstore_queue_stat(struct broker_store *st, MDB_txn *txn, const char *org,
                  uint64_t *count, uint64_t *first_seq)
{
    struct s_stat_arg a = {0, 0};
    int rc = bstore_queue_scan(st, txn, org, 0, s_stat_cb, &a);

    *count = a.count;
    *first_seq = a.first;
    return rc;
}

int
bstore_expiry_put(struct broker_store *st, MDB_txn *txn, uint64_t not_after,
                  const uint8_t msg_id[16])
{
    uint8_t key[24];
    MDB_val k = {24, key}, v = {0, ""};

    bstore_be64(not_after, key);
    memcpy(key + 8, msg_id, 16);
    return bstore_from_mdb(mdb_put(txn, st->expiry, &k, &v, 0));
}

int
bstore_expiry_del(struct broker_store *st, MDB_txn *txn, uint64_t not_after,
                  const uint8_t msg_id[16])
{
    uint8_t key[24];
    MDB_val k = {24, key};
    int rc;

    bstore_be64(not_after, key);
    memcpy(key + 8, msg_id, 16);
    rc = mdb_del(txn, st->expiry, &k, NULL);
    return rc == MDB_NOTFOUND ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_expiry_due(struct broker_store *st, MDB_txn *txn, uint64_t now,
                  size_t max, uint8_t (*ids)[16], uint64_t *when, size_t *n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    *n = 0;
    if ((rc = mdb_cursor_open(txn, st->expiry, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 24)
            continue;
        uint64_t t = bstore_unbe64(k.mv_data);
        if (t > now)
            break;
        when[*n] = t;
        memcpy(ids[*n], (const uint8_t *)k.mv_data + 8, 16);
        (*n)++;
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}
