/* bstore.c - see bstore.h. */
#include "bstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "kr.h"
#include "log.h"
#include "util.h"

struct broker_store {
    MDB_env *env;
    MDB_dbi directory, messages, payloads, queue, expiry, audit, meta;
    MDB_dbi consents, consent_subject, consent_msgs;
    uint64_t next_audit;   /* next audit seq, loaded at open */
    uint8_t last_hash[32]; /* hash of the last audit record */
};

/* Set when any call saw MDB_MAP_FULL: LMDB then fails every later call in
 * that transaction with MDB_BAD_TXN, which would hide the cause. */
static bool s_full_seen;

bool
bstore_full_seen(void)
{
    bool seen = s_full_seen;

    s_full_seen = false;
    return seen;
}

static int
s_from_mdb(int rc)
{
    if (rc == MDB_MAP_FULL)
        s_full_seen = true;
    switch (rc) {
    case 0:
        return KR_OK;
    case MDB_NOTFOUND:
        return KR_ENOTFOUND;
    case MDB_KEYEXIST:
        return KR_EEXIST;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
        return KR_EFULL;
    case ENOMEM:
        return KR_ENOMEM;
    case EIO:
    case ENOSPC:
        return KR_EIO;
    default:
        return KR_ESTORE;
    }
}

/* The chain: H(prev || record bytes). */
static void
s_chain_hash(const uint8_t prev[32], const uint8_t *rec, size_t len,
             uint8_t out[32])
{
    kcrypto_hash2(prev, 32, rec, len, out);
}

static void
s_be64(uint64_t v, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t
s_unbe64(const uint8_t in[8])
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

/* The next audit seq and the hash to chain to: from the last record. */
static int
s_load_audit_tail(struct broker_store *st, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->audit, &cur)) != 0)
        return rc;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 8 && v.mv_size >= 32) {
        st->next_audit = s_unbe64(k.mv_data) + 1;
        memcpy(st->last_hash, v.mv_data, 32);
    } else {
        st->next_audit = 1;
        memset(st->last_hash, 0, 32);
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : rc;
}

int
bstore_open(const char *dir, uint64_t map_size_mb, bool nosync,
            struct broker_store **out)
{
    struct broker_store *st = xcalloc(1, sizeof(*st));
    MDB_txn *txn = NULL;
    unsigned flags = MDB_NOTLS;
    int rc;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        log_errorx("store: %s: cannot create: %s", dir, strerror(errno));
        free(st);
        return KR_EIO;
    }
    /* Full sync is the rule. The one exception is a flag whose name says
     * that it is unsafe, for benchmarks that want to see the cost of sync. */
    if (nosync)
        flags |= MDB_NOSYNC | MDB_NOMETASYNC;
    if ((rc = mdb_env_create(&st->env)) != 0)
        goto fail;
    if ((rc = mdb_env_set_maxdbs(st->env, 16)) != 0)
        goto fail;
    if ((rc = mdb_env_set_mapsize(st->env, (size_t)map_size_mb << 20)) != 0)
        goto fail;
    if ((rc = mdb_env_open(st->env, dir, flags, 0600)) != 0)
        goto fail;
    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        goto fail;
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        {"directory", &st->directory},
        {"messages", &st->messages},
        {"payloads", &st->payloads},
        {"queue", &st->queue},
        {"expiry", &st->expiry},
        {"audit", &st->audit},
        {"meta", &st->meta},
        {"consents", &st->consents},
        {"consent_subject", &st->consent_subject},
        {"consent_msgs", &st->consent_msgs},
    };
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++)
        if ((rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi)) != 0)
            goto fail;

    /* A store of another schema version is not ours to interpret. */
    MDB_val k = {6, "schema"}, v;
    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        v.mv_data = BSTORE_SCHEMA;
        v.mv_size = strlen(BSTORE_SCHEMA);
        if ((rc = mdb_put(txn, st->meta, &k, &v, 0)) != 0)
            goto fail;
    } else if (rc != 0) {
        goto fail;
    } else if (v.mv_size != strlen(BSTORE_SCHEMA) ||
               memcmp(v.mv_data, BSTORE_SCHEMA, v.mv_size) != 0) {
        log_errorx("store: %s: schema version %.*s, this broker reads %s", dir,
                   (int)v.mv_size, (const char *)v.mv_data, BSTORE_SCHEMA);
        mdb_txn_abort(txn);
        mdb_env_close(st->env);
        free(st);
        return KR_ESTORE;
    }

    /* The chain continues from the last record. */
    if ((rc = s_load_audit_tail(st, txn)) != 0)
        goto fail;
    if ((rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        goto fail;
    }
    *out = st;
    return KR_OK;
fail:
    log_errorx("store: %s: open: %s", dir, mdb_strerror(rc));
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (st->env != NULL)
        mdb_env_close(st->env);
    free(st);
    return s_from_mdb(rc);
}

void
bstore_close(struct broker_store **stp)
{
    if (*stp == NULL)
        return;
    mdb_env_close((*stp)->env);
    free(*stp);
    *stp = NULL;
}

int
bstore_begin(struct broker_store *st, bool rdonly, MDB_txn **out)
{
    int rc = mdb_txn_begin(st->env, NULL, rdonly ? MDB_RDONLY : 0, out);

    if (rc != 0)
        log_errorx("store: begin: %s", mdb_strerror(rc));
    return s_from_mdb(rc);
}

int
bstore_commit(MDB_txn *txn)
{
    int rc = mdb_txn_commit(txn);

    if (rc != 0)
        log_errorx("store: commit: %s", mdb_strerror(rc));
    return s_from_mdb(rc);
}

void
bstore_abort(MDB_txn *txn)
{
    if (txn != NULL)
        mdb_txn_abort(txn);
}

/* Pack a protobuf message straight into the page LMDB reserves for it. */
static int
s_put_msg(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, const ProtobufCMessage *m)
{
    MDB_val v;
    int rc;

    v.mv_size = protobuf_c_message_get_packed_size(m);
    if ((rc = mdb_put(txn, dbi, k, &v, MDB_RESERVE)) != 0)
        return s_from_mdb(rc);
    protobuf_c_message_pack(m, v.mv_data);
    return KR_OK;
}

int
bstore_org_put(struct broker_store *st, MDB_txn *txn, const Kr__V1__OrgEntry *e)
{
    MDB_val k = {strlen(e->org_id), e->org_id};

    return s_put_msg(txn, st->directory, &k, &e->base);
}

int
bstore_org_get(struct broker_store *st, MDB_txn *txn, const char *id,
               Kr__V1__OrgEntry **out)
{
    MDB_val k = {strlen(id), (void *)id}, v;
    int rc = mdb_get(txn, st->directory, &k, &v);

    if (rc != 0)
        return s_from_mdb(rc);
    *out = kr__v1__org_entry__unpack(NULL, v.mv_size, v.mv_data);
    return *out != NULL ? KR_OK : KR_ESTORE;
}

int
bstore_org_foreach(struct broker_store *st, MDB_txn *txn,
                   void (*fn)(const Kr__V1__OrgEntry *, void *), void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->directory, &cur)) != 0)
        return s_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        Kr__V1__OrgEntry *e =
            kr__v1__org_entry__unpack(NULL, v.mv_size, v.mv_data);
        if (e == NULL) {
            log_errorx("store: directory: entry %.*s does not parse",
                       (int)k.mv_size, (const char *)k.mv_data);
            mdb_cursor_close(cur);
            return KR_ESTORE;
        }
        fn(e, arg);
        kr__v1__org_entry__free_unpacked(e, NULL);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? KR_OK : s_from_mdb(rc);
}

int
bstore_msg_get(struct broker_store *st, MDB_txn *txn, const uint8_t msg_id[16],
               Kr__V1__StoredMessage **out)
{
    MDB_val k = {16, (void *)msg_id}, v;
    int rc = mdb_get(txn, st->messages, &k, &v);

    if (rc != 0)
        return s_from_mdb(rc);
    *out = kr__v1__stored_message__unpack(NULL, v.mv_size, v.mv_data);
    return *out != NULL ? KR_OK : KR_ESTORE;
}

int
bstore_msg_put(struct broker_store *st, MDB_txn *txn, const uint8_t msg_id[16],
               const Kr__V1__StoredMessage *m)
{
    MDB_val k = {16, (void *)msg_id};

    return s_put_msg(txn, st->messages, &k, &m->base);
}

int
bstore_payload_put(struct broker_store *st, MDB_txn *txn,
                   const uint8_t msg_id[16], const uint8_t *sig, size_t sig_len,
                   const uint8_t *env, size_t env_len)
{
    MDB_val k = {16, (void *)msg_id}, v = {64 + env_len, NULL};
    int rc;

    if (sig_len != 64)
        return KR_EINVAL;
    if ((rc = mdb_put(txn, st->payloads, &k, &v, MDB_RESERVE)) != 0)
        return s_from_mdb(rc);
    memcpy(v.mv_data, sig, 64);
    memcpy((uint8_t *)v.mv_data + 64, env, env_len);
    return KR_OK;
}

int
bstore_payload_get(struct broker_store *st, MDB_txn *txn,
                   const uint8_t msg_id[16], const uint8_t **sig,
                   const uint8_t **env, size_t *env_len)
{
    MDB_val k = {16, (void *)msg_id}, v;
    int rc = mdb_get(txn, st->payloads, &k, &v);

    if (rc != 0)
        return s_from_mdb(rc);
    if (v.mv_size < 64)
        return KR_ESTORE;
    *sig = v.mv_data;
    *env = (const uint8_t *)v.mv_data + 64;
    *env_len = v.mv_size - 64;
    return KR_OK;
}

int
bstore_payload_del(struct broker_store *st, MDB_txn *txn,
                   const uint8_t msg_id[16])
{
    MDB_val k = {16, (void *)msg_id};
    int rc = mdb_del(txn, st->payloads, &k, NULL);

    return rc == MDB_NOTFOUND ? KR_OK : s_from_mdb(rc);
}

/* Queue keys: org id, a NUL, the seq big-endian, so that one org's items
 * are adjacent and in order. */
static size_t
s_qkey(const char *org, uint64_t seq, uint8_t *key)
{
    size_t n = strlen(org);

    memcpy(key, org, n);
    key[n] = '\0';
    s_be64(seq, key + n + 1);
    return n + 9;
}

int
bstore_queue_put(struct broker_store *st, MDB_txn *txn, const char *org,
                 uint64_t seq, const Kr__V1__QueueItem *item)
{
    uint8_t key[KR_ORG_ID_MAX + 9];
    MDB_val k = {s_qkey(org, seq, key), key};

    return s_put_msg(txn, st->queue, &k, &item->base);
}

int
bstore_queue_get(struct broker_store *st, MDB_txn *txn, const char *org,
                 uint64_t seq, const uint8_t **data, size_t *len)
{
    uint8_t key[KR_ORG_ID_MAX + 9];
    MDB_val k = {s_qkey(org, seq, key), key}, v;
    int rc = mdb_get(txn, st->queue, &k, &v);

    if (rc != 0)
        return s_from_mdb(rc);
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

    return rc == MDB_NOTFOUND ? KR_OK : s_from_mdb(rc);
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
        return s_from_mdb(rc);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && s_is_org_key(&k, org, n)) {
        *seq = UINT64_MAX; /* cannot happen: seqs stay far below */
    } else {
        rc = mdb_cursor_get(cur, &k, &v,
                            rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
        *seq = (rc == 0 && s_is_org_key(&k, org, n))
                   ? s_unbe64((const uint8_t *)k.mv_data + n + 1)
                   : 0;
        rc = (rc == MDB_NOTFOUND) ? 0 : rc;
    }
    mdb_cursor_close(cur);
    return s_from_mdb(rc);
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
        return s_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (!s_is_org_key(&k, org, n))
            break;
        if (fn(s_unbe64((const uint8_t *)k.mv_data + n + 1), v.mv_data,
               v.mv_size, arg) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : s_from_mdb(rc);
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

    s_be64(not_after, key);
    memcpy(key + 8, msg_id, 16);
    return s_from_mdb(mdb_put(txn, st->expiry, &k, &v, 0));
}

int
bstore_expiry_del(struct broker_store *st, MDB_txn *txn, uint64_t not_after,
                  const uint8_t msg_id[16])
{
    uint8_t key[24];
    MDB_val k = {24, key};
    int rc;

    s_be64(not_after, key);
    memcpy(key + 8, msg_id, 16);
    rc = mdb_del(txn, st->expiry, &k, NULL);
    return rc == MDB_NOTFOUND ? KR_OK : s_from_mdb(rc);
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
        return s_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 24)
            continue;
        uint64_t t = s_unbe64(k.mv_data);
        if (t > now)
            break;
        when[*n] = t;
        memcpy(ids[*n], (const uint8_t *)k.mv_data + 8, 16);
        (*n)++;
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : s_from_mdb(rc);
}

int
bstore_audit_append(struct broker_store *st, MDB_txn *txn,
                    Kr__V1__AuditRecord *rec)
{
    uint8_t key[8];
    MDB_val k = {8, key}, v;
    int rc;

    rec->seq = st->next_audit;
    rec->prev_hash.data = st->last_hash;
    rec->prev_hash.len = 32;
    rec->hash.data = NULL;
    rec->hash.len = 0;
    s_be64(rec->seq, key);
    size_t len = protobuf_c_message_get_packed_size(&rec->base);
    v.mv_size = 32 + len;
    if ((rc = mdb_put(txn, st->audit, &k, &v, MDB_RESERVE)) != 0)
        return s_from_mdb(rc);
    uint8_t *p = v.mv_data;
    protobuf_c_message_pack(&rec->base, p + 32);
    /* hash = H(prev_hash || record): the record also holds prev_hash, so
     * the hash covers it twice; what matters is that it covers it. */
    s_chain_hash(st->last_hash, p + 32, len, p);
    /* Advanced on success only; an aborted pass reloads the tail. */
    memcpy(st->last_hash, p, 32);
    rec->prev_hash.data = NULL;
    rec->prev_hash.len = 0;
    st->next_audit++;
    return KR_OK;
}

uint64_t
bstore_audit_last(struct broker_store *st)
{
    return st->next_audit - 1;
}

int
bstore_audit_range(struct broker_store *st, MDB_txn *txn, uint64_t after,
                   size_t max, Kr__V1__AuditRecord **out, size_t *n)
{
    uint8_t key[8];
    MDB_val k = {8, key}, v;
    MDB_cursor *cur;
    int rc;

    *n = 0;
    s_be64(after + 1, key);
    if ((rc = mdb_cursor_open(txn, st->audit, &cur)) != 0)
        return s_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (v.mv_size < 32)
            continue;
        Kr__V1__AuditRecord *r = kr__v1__audit_record__unpack(
            NULL, v.mv_size - 32, (const uint8_t *)v.mv_data + 32);
        if (r == NULL)
            continue; /* verify reports it; a listing skips it */
        /* Hand the stored hash out with the record. */
        r->hash.data = malloc(32);
        if (r->hash.data != NULL) {
            memcpy(r->hash.data, v.mv_data, 32);
            r->hash.len = 32;
        }
        out[(*n)++] = r;
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : s_from_mdb(rc);
}

int
bstore_audit_verify(struct broker_store *st, MDB_txn *txn, uint64_t *checked,
                    uint64_t *bad_seq, char *why, size_t whylen)
{
    uint8_t prev[32] = {0}, h[32];
    uint64_t expect = 1;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, result = KR_OK;

    *checked = 0;
    *bad_seq = 0;
    if ((rc = mdb_cursor_open(txn, st->audit, &cur)) != 0)
        return s_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t seq = k.mv_size == 8 ? s_unbe64(k.mv_data) : 0;
        const char *bad = NULL;
        Kr__V1__AuditRecord *r = NULL;
        if (seq != expect)
            bad = seq > expect ? "a record is missing before this one"
                               : "out of order";
        else if (v.mv_size < 32)
            bad = "too short";
        if (bad == NULL) {
            const uint8_t *p = v.mv_data;
            r = kr__v1__audit_record__unpack(NULL, v.mv_size - 32, p + 32);
            s_chain_hash(prev, p + 32, v.mv_size - 32, h);
            if (r == NULL)
                bad = "does not parse";
            else if (r->seq != seq)
                bad = "its seq differs from its key";
            else if (r->prev_hash.len != 32 ||
                     memcmp(r->prev_hash.data, prev, 32) != 0)
                bad = "does not chain to the record before it";
            else if (memcmp(h, p, 32) != 0)
                bad = "its content does not match its hash";
            else
                memcpy(prev, p, 32);
        }
        if (r != NULL)
            kr__v1__audit_record__free_unpacked(r, NULL);
        if (bad != NULL) {
            *bad_seq = seq ? seq : expect;
            snprintf(why, whylen, "record %llu: %s",
                     (unsigned long long)*bad_seq, bad);
            result = KR_ECRYPTO;
            break;
        }
        (*checked)++;
        expect++;
    }
    mdb_cursor_close(cur);
    if (result != KR_OK)
        return result;
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : s_from_mdb(rc);
}

int
bstore_consent_get(struct broker_store *st, MDB_txn *txn,
                   const uint8_t consent_id[16], Kr__V1__ConsentRecord **out)
{
    MDB_val k = {16, (void *)consent_id}, v;
    int rc = mdb_get(txn, st->consents, &k, &v);

    if (rc != 0)
        return s_from_mdb(rc);
    *out = kr__v1__consent_record__unpack(NULL, v.mv_size, v.mv_data);
    return *out != NULL ? KR_OK : KR_ESTORE;
}

int
bstore_consent_put(struct broker_store *st, MDB_txn *txn,
                   const Kr__V1__ConsentRecord *r)
{
    const Kr__V1__ConsentScope *sc = r->scope;
    uint8_t sk[48];
    MDB_val k = {16, sc->consent_id.data}, ik = {48, sk}, iv = {0, ""};
    int rc;

    if (sc->consent_id.len != 16 || sc->subject_pseudonym.len != 32)
        return KR_EINVAL;
    if ((rc = s_put_msg(txn, st->consents, &k, &r->base)) != 0)
        return rc;
    memcpy(sk, sc->subject_pseudonym.data, 32);
    memcpy(sk + 32, sc->consent_id.data, 16);
    return s_from_mdb(mdb_put(txn, st->consent_subject, &ik, &iv, 0));
}

int
bstore_consent_by_subject(struct broker_store *st, MDB_txn *txn,
                          const uint8_t subject[32],
                          Kr__V1__ConsentRecord ***out, size_t *n)
{
    uint8_t sk[48];
    MDB_val k = {48, sk}, v;
    MDB_cursor *cur;
    Kr__V1__ConsentRecord **recs = NULL;
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    memcpy(sk, subject, 32);
    memset(sk + 32, 0, 16);
    if ((rc = mdb_cursor_open(txn, st->consent_subject, &cur)) != 0)
        return s_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 48 || memcmp(k.mv_data, subject, 32) != 0)
            break;
        Kr__V1__ConsentRecord *r;
        if (bstore_consent_get(st, txn, (const uint8_t *)k.mv_data + 32, &r) !=
            KR_OK)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            recs = xrealloc(recs, cap * sizeof(*recs));
        }
        recs[(*n)++] = r;
    }
    mdb_cursor_close(cur);
    *out = recs;
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : s_from_mdb(rc);
}

int
bstore_consent_msg_put(struct broker_store *st, MDB_txn *txn,
                       const uint8_t consent_id[16], const uint8_t msg_id[16],
                       char state, const char *recipient)
{
    uint8_t key[32], val[1 + KR_ORG_ID_MAX];
    size_t rl = strlen(recipient);
    MDB_val k = {32, key}, v = {1 + rl, val};

    if (rl >= KR_ORG_ID_MAX)
        return KR_EINVAL;
    memcpy(key, consent_id, 16);
    memcpy(key + 16, msg_id, 16);
    val[0] = (uint8_t)state;
    memcpy(val + 1, recipient, rl);
    return s_from_mdb(mdb_put(txn, st->consent_msgs, &k, &v, 0));
}

int
bstore_consent_msg_del(struct broker_store *st, MDB_txn *txn,
                       const uint8_t consent_id[16], const uint8_t msg_id[16])
{
    uint8_t key[32];
    MDB_val k = {32, key};
    int rc;

    memcpy(key, consent_id, 16);
    memcpy(key + 16, msg_id, 16);
    rc = mdb_del(txn, st->consent_msgs, &k, NULL);
    return rc == MDB_NOTFOUND ? KR_OK : s_from_mdb(rc);
}

int
bstore_consent_msg_scan(struct broker_store *st, MDB_txn *txn,
                        const uint8_t consent_id[16],
                        void (*fn)(const uint8_t msg_id[16], char state,
                                   const char *recipient, void *arg),
                        void *arg)
{
    uint8_t key[32];
    MDB_val k = {32, key}, v;
    MDB_cursor *cur;
    char rcpt[KR_ORG_ID_MAX];
    int rc;

    memcpy(key, consent_id, 16);
    memset(key + 16, 0, 16);
    if ((rc = mdb_cursor_open(txn, st->consent_msgs, &cur)) != 0)
        return s_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 32 || memcmp(k.mv_data, consent_id, 16) != 0)
            break;
        if (v.mv_size < 1 || v.mv_size > KR_ORG_ID_MAX)
            continue;
        memcpy(rcpt, (const char *)v.mv_data + 1, v.mv_size - 1);
        rcpt[v.mv_size - 1] = '\0';
        fn((const uint8_t *)k.mv_data + 16, *(const char *)v.mv_data, rcpt,
           arg);
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : s_from_mdb(rc);
}

int
bstore_meta_get_u64(struct broker_store *st, MDB_txn *txn, const char *name,
                    uint64_t *out)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(txn, st->meta, &k, &v);

    if (rc != 0)
        return s_from_mdb(rc);
    if (v.mv_size != 8)
        return KR_ESTORE;
    *out = s_unbe64(v.mv_data);
    return KR_OK;
}

int
bstore_meta_put_u64(struct broker_store *st, MDB_txn *txn, const char *name,
                    uint64_t val)
{
    uint8_t buf[8];
    MDB_val k = {strlen(name), (void *)name}, v = {8, buf};

    s_be64(val, buf);
    return s_from_mdb(mdb_put(txn, st->meta, &k, &v, 0));
}

void
bstore_reload_after_abort(struct broker_store *st)
{
    MDB_txn *txn;

    /* Seqs and hashes handed out inside an aborted transaction were never
     * written; the chain goes on from the last record that was. */
    if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
        return;
    s_load_audit_tail(st, txn);
    mdb_txn_abort(txn);
}

int
bstore_space(struct broker_store *st, uint64_t *used, uint64_t *map)
{
    MDB_envinfo info;
    MDB_stat stat;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t free_pages = 0;
    int rc;

    if ((rc = mdb_env_info(st->env, &info)) != 0 ||
        (rc = mdb_env_stat(st->env, &stat)) != 0)
        return s_from_mdb(rc);
    if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
        return s_from_mdb(rc);
    /* The free list is database 0; each record is a list of page numbers
     * whose first word is its length (as mdb_stat -f reads it). */
    if ((rc = mdb_cursor_open(txn, 0, &cur)) == 0) {
        while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
            if (v.mv_size >= sizeof(size_t))
                free_pages += *(const size_t *)v.mv_data;
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return s_from_mdb(rc);
    uint64_t pages = (uint64_t)info.me_last_pgno + 1;
    *used = (pages > free_pages ? pages - free_pages : 0) * stat.ms_psize;
    *map = info.me_mapsize;
    return KR_OK;
}
