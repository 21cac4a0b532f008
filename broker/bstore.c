/* bstore.c - see bstore.h. */
#include "bstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kr.h"
#include "log.h"
#include "util.h"

struct broker_store {
    MDB_env *env;
    MDB_dbi directory, messages, payloads, queue, expiry, events, meta;
    uint64_t next_event; /* next event seq, loaded at open */
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
        {"directory", &st->directory}, {"messages", &st->messages},
        {"payloads", &st->payloads},   {"queue", &st->queue},
        {"expiry", &st->expiry},       {"events", &st->events},
        {"meta", &st->meta},
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

    /* The next event seq follows the last record. */
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, st->events, &cur)) != 0)
        goto fail;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    st->next_event = (rc == 0 && k.mv_size == 8) ? s_unbe64(k.mv_data) + 1 : 1;
    mdb_cursor_close(cur);
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
bstore_event_append(struct broker_store *st, MDB_txn *txn,
                    Kr__V1__EventRecord *ev)
{
    uint8_t key[8];
    MDB_val k = {8, key};
    int rc;

    ev->seq = st->next_event;
    s_be64(ev->seq, key);
    if ((rc = s_put_msg(txn, st->events, &k, &ev->base)) != 0)
        return rc;
    /* Counted on success only; an aborted pass leaves a gap at worst, and
     * a gap is never reused. */
    st->next_event++;
    return KR_OK;
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
    MDB_cursor *cur;
    MDB_val k, v;

    /* Seqs handed out inside an aborted transaction were never written;
     * start again after the last record that was. */
    if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
        return;
    if (mdb_cursor_open(txn, st->events, &cur) == 0) {
        int rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        st->next_event =
            (rc == 0 && k.mv_size == 8) ? s_unbe64(k.mv_data) + 1 : 1;
        mdb_cursor_close(cur);
    }
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
