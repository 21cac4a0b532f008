/* bstore.c - the broker store's environment, transactions, directory,
 * counters and space; see bstore.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bstore_internal.h"
#include "crypto.h"
#include "diskspace.h"
#include "kr.h"
#include "log.h"
#include "prefill.h"
#include "util.h"

/* Set when any call saw MDB_MAP_FULL: LMDB then fails every later call in
 * that transaction with MDB_BAD_TXN, which would hide the cause. */
static bool s_full_seen;

int
bstore_from_mdb(int rc)
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
    case ENOSPC:
    case EDQUOT:
        return KR_EDISKFULL;
    case EIO:
        return KR_EIO;
    default:
        return KR_ESTORE;
    }
}

void
bstore_be64(uint64_t v, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t
bstore_unbe64(const uint8_t in[8])
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

/* Pack a protobuf message straight into the page LMDB reserves for it. */
int
bstore_put_msg(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, const ProtobufCMessage *m)
{
    MDB_val v;
    int rc;

    v.mv_size = protobuf_c_message_get_packed_size(m);
    if ((rc = mdb_put(txn, dbi, k, &v, MDB_RESERVE)) != 0)
        return bstore_from_mdb(rc);
    protobuf_c_message_pack(m, v.mv_data);
    return KR_OK;
}

bool
bstore_full_seen(void)
{
    bool seen = s_full_seen;

    s_full_seen = false;
    return seen;
}

int
bstore_open(const char *dir, uint64_t map_size_mb, bool nosync,
            struct broker_store **out)
{
    struct broker_store *st = xcalloc(1, sizeof(*st));
    MDB_txn *txn = NULL;
    unsigned flags = MDB_NOTLS;
    int rc, krc;

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
    if ((rc = mdb_env_set_maxdbs(st->env, 32)) != 0)
        goto fail;
    if ((rc = mdb_env_set_userctx(st->env, st)) != 0)
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
        {"msg_index", &st->msg_index},
        {"queue", &st->queue},
        {"expiry", &st->expiry},
        {"audit", &st->audit},
        {"meta", &st->meta},
        {"consents", &st->consents},
        {"consent_subject", &st->consent_subject},
        {"consent_msgs", &st->consent_msgs},
        {"referrals", &st->referrals},
        {"timers", &st->timers},
        {"signal_log", &st->signals}, /* schema 3; "signals" was 2's */
        {"signal_due", &st->signal_due},
        {"subject_links", &st->subject_links},
        {"case_subjects", &st->case_subjects},
        {"finals", &st->finals},
    };
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++)
        if ((rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi)) != 0)
            goto fail;

    /* A store of another schema version is not ours to interpret, but
     * for 2, whose signals are rewritten (bstore_signal.c). */
    MDB_val k = {6, "schema"}, v;
    bool migrate = false;
    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == 0 && v.mv_size == 1 && memcmp(v.mv_data, "2", 1) == 0)
        migrate = true, rc = MDB_NOTFOUND;
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

    /* The chain continues from the last record, message seqs from the
     * last message. */
    if ((rc = bstore_load_audit_tail(st, txn)) != 0 ||
        (rc = bstore_load_msg_seq(st, txn)) != 0)
        goto fail;
    if ((krc = bstore_signal_open(st, txn, dir, migrate)) != KR_OK)
        goto fail_kr;
    if ((rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        goto fail;
    }
    *out = st;
    return KR_OK;
fail:
    log_errorx("store: %s: open: %s", dir, mdb_strerror(rc));
    krc = bstore_from_mdb(rc);
fail_kr:
    if (txn != NULL)
        mdb_txn_abort(txn);
    bstore_signal_close(st);
    if (st->env != NULL)
        mdb_env_close(st->env);
    free(st);
    return krc;
}

void
bstore_close(struct broker_store **stp)
{
    if (*stp == NULL)
        return;
    prefill_stop(&(*stp)->prefill); /* before LMDB closes the file */
    mdb_env_close((*stp)->env);
    bstore_signal_close(*stp);
    free(*stp);
    *stp = NULL;
}

int
bstore_begin(struct broker_store *st, bool rdonly, MDB_txn **out)
{
    if (!rdonly)
        prefill_writer_enter(st->prefill);
    int rc = mdb_txn_begin(st->env, NULL, rdonly ? MDB_RDONLY : 0, out);

    /* A cached msg_id -> seq never outlives the write transaction that
     * may have made it (an abort would take the index entry with it). */
    if (!rdonly)
        st->seq_cache_valid = false;
    if (rc != 0) {
        if (!rdonly)
            prefill_writer_leave(st->prefill);
        log_errorx("store: begin: %s", mdb_strerror(rc));
    } else if (!rdonly) {
        st->wtxn = *out;
    }
    return bstore_from_mdb(rc);
}

/* A write transaction has ended: the prefill helper may write again. */
static void
s_txn_ended(struct broker_store *st, MDB_txn *txn)
{
    if (st != NULL && st->wtxn == txn) {
        st->wtxn = NULL;
        prefill_writer_leave(st->prefill);
    }
}

int
bstore_disk(struct broker_store *st, struct diskspace *out)
{
    int fd, rc;

    if ((rc = mdb_env_get_fd(st->env, &fd)) != 0)
        return bstore_from_mdb(rc);
    if ((rc = diskspace_probe(fd, out)) != 0) {
        log_warnx("store: disk space: %s", strerror(rc));
        return KR_ESYS;
    }
    return KR_OK;
}

/* A failed commit on a full file system says ENOSPC, or EIO when LMDB's
 * write came back short: the free space read now tells the two apart
 * (diskspace.h). Every pass fails alike until there is room, so the line
 * is written once, then every 10 s with a count, then once at the end. */
static int
s_commit_result(struct broker_store *st, int rc)
{
    struct diskspace d;
    uint64_t now = util_mono_ms(), n, dur;
    int err = bstore_from_mdb(rc);

    if (rc == 0) {
        if (log_every_clear(&st->commit_fail, now, &dur, &n))
            log_warnx("store: commits succeed again after %llu ms "
                      "failed_commits=%llu",
                      (unsigned long long)dur, (unsigned long long)n);
        return KR_OK;
    }
    if ((rc == EIO || rc == ENOSPC || rc == EDQUOT) &&
        bstore_disk(st, &d) == KR_OK && diskspace_errno_full(rc, d.fs_free))
        err = KR_EDISKFULL;
    if (log_every_hit(&st->commit_fail, now, 10000, &n))
        log_errorx("store: commit: %s%s failed_since_last_line=%llu",
                   mdb_strerror(rc),
                   err == KR_EDISKFULL ? ": the file system is full" : "",
                   (unsigned long long)n);
    return err;
}

int
bstore_commit(MDB_txn *txn)
{
    struct broker_store *st = mdb_env_get_userctx(mdb_txn_env(txn));
    size_t id = mdb_txn_id(txn);
    uint64_t t0 = latency_now_us();
    int rc = mdb_txn_commit(txn);
    MDB_envinfo info;

    /* Timed only if it wrote: LMDB returns at once from a transaction
     * that changed nothing, and those would hide the real ones. */
    if (rc == 0 && mdb_env_info(st->env, &info) == 0 &&
        info.me_last_txnid == id)
        latency_add(&st->commit_lat, latency_now_us() - t0);

    if (st->wtxn == txn) /* the index keeps, or undoes, what it did */
        bstore_signal_txn_end(st, rc == 0);
    s_txn_ended(st, txn);
    return s_commit_result(st, rc);
}

void
bstore_commit_latency(struct broker_store *st, struct latency_summary *out)
{
    latency_summarise(&st->commit_lat, out);
}

void
bstore_abort(MDB_txn *txn)
{
    if (txn != NULL) {
        struct broker_store *st = mdb_env_get_userctx(mdb_txn_env(txn));
        if (st != NULL && st->wtxn == txn)
            bstore_signal_txn_end(st, false);
        mdb_txn_abort(txn);
        s_txn_ended(st, txn);
    }
}

static uint64_t
s_used_bytes(void *arg)
{
    struct broker_store *st = arg;
    MDB_envinfo info;

    if (mdb_env_info(st->env, &info) != 0)
        return UINT64_MAX;
    return ((uint64_t)info.me_last_pgno + 1) * st->psize;
}

void
bstore_prefill(struct broker_store *st, uint64_t ahead)
{
    MDB_envinfo info;
    MDB_stat stat;
    int fd;

    if (ahead == 0 || st->prefill != NULL ||
        mdb_env_get_fd(st->env, &fd) != 0 ||
        mdb_env_info(st->env, &info) != 0 || mdb_env_stat(st->env, &stat) != 0)
        return;
    st->psize = stat.ms_psize;
    st->prefill =
        prefill_start(fd, ahead, (uint64_t)info.me_mapsize, s_used_bytes, st);
}

int
bstore_org_put(struct broker_store *st, MDB_txn *txn, const Kr__V1__OrgEntry *e)
{
    MDB_val k = {strlen(e->org_id), e->org_id};

    return bstore_put_msg(txn, st->directory, &k, &e->base);
}

int
bstore_org_get(struct broker_store *st, MDB_txn *txn, const char *id,
               Kr__V1__OrgEntry **out)
{
    MDB_val k = {strlen(id), (void *)id}, v;
    int rc = mdb_get(txn, st->directory, &k, &v);

    if (rc != 0)
        return bstore_from_mdb(rc);
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
        return bstore_from_mdb(rc);
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
    return rc == MDB_NOTFOUND ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_meta_get_u64(struct broker_store *st, MDB_txn *txn, const char *name,
                    uint64_t *out)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(txn, st->meta, &k, &v);

    if (rc != 0)
        return bstore_from_mdb(rc);
    if (v.mv_size != 8)
        return KR_ESTORE;
    *out = bstore_unbe64(v.mv_data);
    return KR_OK;
}

int
bstore_meta_put_u64(struct broker_store *st, MDB_txn *txn, const char *name,
                    uint64_t val)
{
    uint8_t buf[8];
    MDB_val k = {strlen(name), (void *)name}, v = {8, buf};

    bstore_be64(val, buf);
    return bstore_from_mdb(mdb_put(txn, st->meta, &k, &v, 0));
}

void
bstore_reload_after_abort(struct broker_store *st)
{
    MDB_txn *txn;

    /* Seqs and hashes handed out inside an aborted transaction were never
     * written; the chain goes on from the last record that was. (Message
     * seqs just skip what was lost.) */
    st->seq_cache_valid = false;
    if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
        return;
    bstore_load_audit_tail(st, txn);
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
        return bstore_from_mdb(rc);
    if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
        return bstore_from_mdb(rc);
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
        return bstore_from_mdb(rc);
    uint64_t pages = (uint64_t)info.me_last_pgno + 1;
    *used = (pages > free_pages ? pages - free_pages : 0) * stat.ms_psize;
    *map = info.me_mapsize;
    return KR_OK;
}
