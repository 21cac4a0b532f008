/* nstore.c - the node's LMDB store; see node.h for its databases. The only
 * module of krnode that speaks LMDB: it turns LMDB's errors into ours. */
#include <stdlib.h>
#include <string.h>

#include <errno.h>

#include "diskspace.h"
#include "log.h"
#include "node.h"
#include "prefill.h"
#include "util.h"

#include "nstore_internal.h"

/* 2: envelopes apart; 3: inbox keyed by arrival; 4: referrals_changed */
#define S_SCHEMA "4"

static const char *s_dbi_names[NSTORE_NDBI] = {
    "outbox",
    "outbox_env",
    "outbox_all",
    "outbox_order",
    "outbox_open",
    "inbox",
    "inbox_order",
    "inbox_unprocessed",
    "peers",
    "meta",
    "referrals",
    "done",
    "referrals_changed",
};

/* The first chunk of the arena records are read into to be rewritten. */
#define S_ARENA_BYTES (16u << 10)

#define S_DISK_MS 100

/* LMDB's errors in ours, once. A full map and any failure of a write leave
 * the transaction unusable; the caller's pass then aborts. */
int
nstore_from_mdb(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return KR_OK;
    case MDB_NOTFOUND:
        return KR_ENOTFOUND;
    case MDB_KEYEXIST:
        return KR_EEXIST;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
        return KR_EFULL;
    case ENOSPC:
    case EDQUOT:
        return KR_EDISKFULL;
    default:
        return KR_ESTORE;
    }
}

/* A failed write. A full map is the caller's to report, once per pass
 * rather than once per record. */
void
nstore_log_fail(const char *op, int rc)
{
    if (rc == MDB_MAP_FULL)
        log_debug("store: %s: %s", op, mdb_strerror(rc));
    else
        log_errorx("store: %s: %s", op, mdb_strerror(rc));
}

void
nstore_seq_key(uint64_t seq, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(seq & 0xff);
        seq >>= 8;
    }
}

uint64_t
nstore_seq_from(const uint8_t in[8])
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

/* Pack a message straight into the page LMDB reserves for it: no copy. */
int
nstore_put_msg(MDB_txn *txn, MDB_dbi dbi, MDB_val *key,
               const ProtobufCMessage *m, unsigned flags)
{
    MDB_val val;
    int rc;

    val.mv_size = protobuf_c_message_get_packed_size(m);
    val.mv_data = NULL;
    rc = mdb_put(txn, dbi, key, &val, flags | MDB_RESERVE);
    if (rc != MDB_SUCCESS)
        return rc;
    protobuf_c_message_pack(m, val.mv_data);
    return MDB_SUCCESS;
}

int
nstore_put_index(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, const uint8_t *msg_id)
{
    uint8_t k[8];
    MDB_val key = {sizeof(k), k}, val = {KR_ID_LEN, (void *)msg_id};

    nstore_seq_key(seq, k);
    return mdb_put(txn, dbi, &key, &val, 0);
}

int
nstore_del_index(MDB_txn *txn, MDB_dbi dbi, uint64_t seq)
{
    uint8_t k[8];
    MDB_val key = {sizeof(k), k};
    int rc;

    nstore_seq_key(seq, k);
    rc = mdb_del(txn, dbi, &key, NULL);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

/* The next seq of an order index: one after its last key. Records are
 * never removed from the "all" indexes, except an inbox record held for
 * the broker's pass that never committed (nstore_inbox_remove): its seq
 * may come again, but no adapter ever saw it. */
int
nstore_next_seq(MDB_txn *txn, MDB_dbi dbi, uint64_t *out)
{
    MDB_cursor *cur;
    MDB_val key, val;
    int rc;

    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != MDB_SUCCESS)
        return rc;
    rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) {
        *out = 1;
        return MDB_SUCCESS;
    }
    if (rc != MDB_SUCCESS)
        return rc;
    if (key.mv_size != 8)
        return MDB_CORRUPTED;
    *out = nstore_seq_from(key.mv_data) + 1;
    return MDB_SUCCESS;
}

int
nstore_get(nstore_t *st, MDB_txn *txn, int dbi, const uint8_t *msg_id,
           const uint8_t **val, size_t *len)
{
    MDB_val key = {KR_ID_LEN, (void *)msg_id}, v;
    int rc;

    if ((rc = mdb_get(txn, st->dbi[dbi], &key, &v)) != MDB_SUCCESS)
        return nstore_from_mdb(rc);
    *val = v.mv_data;
    *len = v.mv_size;
    return KR_OK;
}

static int
s_init_dbs(nstore_t *st)
{
    MDB_txn *txn = NULL;
    MDB_val key = {6, "schema"}, val;
    int rc;

    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != MDB_SUCCESS)
        goto fail;
    for (int i = 0; i < NSTORE_NDBI; i++) {
        rc = mdb_dbi_open(txn, s_dbi_names[i], MDB_CREATE, &st->dbi[i]);
        if (rc != MDB_SUCCESS)
            goto fail;
    }
    rc = mdb_get(txn, st->dbi[NSTORE_DBI_META], &key, &val);
    if (rc == MDB_SUCCESS && val.mv_size == 1 &&
        memcmp(val.mv_data, "3", 1) == 0) {
        /* Schema 3 had no referrals_changed: made from the records once,
         * in this transaction. */
        if ((rc = nstore_referral_index_build(st, txn)) != KR_OK) {
            mdb_txn_abort(txn);
            return rc;
        }
        rc = MDB_NOTFOUND; /* then written as the current schema */
    }
    if (rc == MDB_NOTFOUND) {
        val.mv_size = strlen(S_SCHEMA);
        val.mv_data = S_SCHEMA;
        rc = mdb_put(txn, st->dbi[NSTORE_DBI_META], &key, &val, 0);
    } else if (rc == MDB_SUCCESS &&
               (val.mv_size != strlen(S_SCHEMA) ||
                memcmp(val.mv_data, S_SCHEMA, val.mv_size) != 0)) {
        log_errorx("store: open: schema version '%.*s' is not '%s': "
                   "refusing a store this krnode does not know",
                   (int)(val.mv_size > 16 ? 16 : val.mv_size),
                   (const char *)val.mv_data, S_SCHEMA);
        mdb_txn_abort(txn);
        return KR_ESTORE;
    }
    if (rc != MDB_SUCCESS)
        goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != MDB_SUCCESS)
        goto fail;
    return KR_OK;
fail:
    if (txn != NULL)
        mdb_txn_abort(txn);
    log_errorx("store: open: %s", mdb_strerror(rc));
    return nstore_from_mdb(rc);
}

int
nstore_open(const char *path, size_t map_size, nstore_t **out)
{
    nstore_t *st = xcalloc(1, sizeof(*st));
    int rc;

    arena_init(&st->pb, S_ARENA_BYTES);
    if ((rc = mdb_env_create(&st->env)) != MDB_SUCCESS)
        goto fail;
    if ((rc = mdb_env_set_maxdbs(st->env, NSTORE_NDBI)) != MDB_SUCCESS)
        goto fail;
    if ((rc = mdb_env_set_userctx(st->env, st)) != MDB_SUCCESS)
        goto fail;
    if ((rc = mdb_env_set_mapsize(st->env, map_size)) != MDB_SUCCESS)
        goto fail;
    /* Full sync, always: a commit that returned is on disk, because what
     * it makes true (an ack, a reply) goes out right after it. MDB_NOTLS:
     * read transactions are not tied to a thread's slot. */
    rc = mdb_env_open(st->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600);
    if (rc != MDB_SUCCESS)
        goto fail;
    if ((rc = s_init_dbs(st)) != KR_OK) {
        mdb_env_close(st->env);
        arena_fini(&st->pb);
        free(st);
        return rc;
    }
    *out = st;
    return KR_OK;
fail:
    log_errorx("store: open: %s: %s", path, mdb_strerror(rc));
    if (st->env != NULL)
        mdb_env_close(st->env);
    arena_fini(&st->pb);
    free(st);
    return nstore_from_mdb(rc);
}

void
nstore_close(nstore_t **sp)
{
    nstore_t *st = *sp;

    if (st == NULL)
        return;
    prefill_stop(&st->prefill); /* before LMDB closes the file */
    mdb_env_close(st->env);
    arena_fini(&st->pb);
    free(st);
    *sp = NULL;
}

static uint64_t
s_used_bytes(void *arg)
{
    nstore_t *st = arg;
    MDB_envinfo info;

    if (mdb_env_info(st->env, &info) != MDB_SUCCESS)
        return UINT64_MAX;
    return ((uint64_t)info.me_last_pgno + 1) * st->psize;
}

void
nstore_prefill(nstore_t *st, uint64_t ahead)
{
    MDB_envinfo info;
    MDB_stat stat;
    int fd;

    if (ahead == 0 || st->prefill != NULL ||
        mdb_env_get_fd(st->env, &fd) != MDB_SUCCESS ||
        mdb_env_info(st->env, &info) != MDB_SUCCESS ||
        mdb_env_stat(st->env, &stat) != MDB_SUCCESS)
        return;
    st->psize = stat.ms_psize;
    st->prefill =
        prefill_start(fd, ahead, (uint64_t)info.me_mapsize, s_used_bytes, st);
}

int
nstore_begin(nstore_t *st, bool write, MDB_txn **out)
{
    if (write)
        prefill_writer_enter(st->prefill);
    int rc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, out);

    if (rc != MDB_SUCCESS) {
        if (write)
            prefill_writer_leave(st->prefill);
        log_errorx("store: begin: %s", mdb_strerror(rc));
        return nstore_from_mdb(rc);
    }
    if (write)
        st->wtxn = *out;
    return KR_OK;
}

/* A write transaction has ended: the prefill helper may write again. */
static void
s_txn_ended(MDB_txn *txn, nstore_t *st)
{
    if (st != NULL && st->wtxn == txn) {
        st->wtxn = NULL;
        prefill_writer_leave(st->prefill);
    }
}

int
nstore_disk(nstore_t *st, struct diskspace *out)
{
    int fd, rc;

    if ((rc = mdb_env_get_fd(st->env, &fd)) != MDB_SUCCESS)
        return nstore_from_mdb(rc);
    if ((rc = diskspace_probe(fd, out)) != 0) {
        log_warnx("store: disk space: %s", strerror(rc));
        return KR_ESYS;
    }
    return KR_OK;
}

/* A failed commit on a full file system says ENOSPC, or EIO when LMDB's
 * write came back short: the free space read now tells them apart
 * (diskspace.h). Every pass fails alike until there is room: the line is
 * written once, then every 10 s with a count, and once at the end. */
static int
s_commit_result(nstore_t *st, int rc)
{
    uint64_t now = util_mono_ms(), n, dur;
    int err = nstore_from_mdb(rc);

    if (rc == MDB_SUCCESS) {
        if (log_every_clear(&st->commit_fail, now, &dur, &n))
            log_warnx("store: commits succeed again after %llu ms "
                      "failed_commits=%llu",
                      (unsigned long long)dur, (unsigned long long)n);
        return KR_OK;
    }
    st->disk_mono = 0; /* nstore_room looks again */
    if ((rc == EIO || rc == ENOSPC || rc == EDQUOT) &&
        nstore_disk(st, &st->disk) == KR_OK) {
        st->disk_mono = now;
        if (diskspace_errno_full(rc, st->disk.fs_free))
            err = KR_EDISKFULL;
    }
    if (log_every_hit(&st->commit_fail, now, 10000, &n))
        log_errorx("store: commit: %s%s failed_since_last_line=%llu",
                   mdb_strerror(rc),
                   err == KR_EDISKFULL ? ": the file system is full" : "",
                   (unsigned long long)n);
    return err;
}

int
nstore_commit(MDB_txn **txn)
{
    nstore_t *st = mdb_env_get_userctx(mdb_txn_env(*txn));
    size_t id = mdb_txn_id(*txn);
    uint64_t t0 = latency_now_us();
    int rc = mdb_txn_commit(*txn);
    MDB_envinfo info;

    /* Timed only if it wrote: a pass that only read commits at once. */
    if (rc == MDB_SUCCESS && mdb_env_info(st->env, &info) == MDB_SUCCESS &&
        info.me_last_txnid == id)
        latency_add(&st->commit_lat, latency_now_us() - t0);
    s_txn_ended(*txn, st);
    *txn = NULL;
    return s_commit_result(st, rc);
}

void
nstore_commit_latency(nstore_t *st, struct latency_summary *out)
{
    latency_summarise(&st->commit_lat, out);
}

void
nstore_abort(MDB_txn **txn)
{
    if (*txn != NULL) {
        nstore_t *st = mdb_env_get_userctx(mdb_txn_env(*txn));
        mdb_txn_abort(*txn);
        s_txn_ended(*txn, st);
    }
    *txn = NULL;
}

bool
nstore_nearly_full(nstore_t *st)
{
    MDB_envinfo info;
    MDB_stat stat;

    if (mdb_env_info(st->env, &info) != MDB_SUCCESS ||
        mdb_env_stat(st->env, &stat) != MDB_SUCCESS)
        return false;
    /* Pages ever used, as LMDB grows the file; freed pages are reused
     * first, and the node frees few. An eighth of the map stays for the
     * receipts and deliveries that let the node's work drain. */
    return (uint64_t)(info.me_last_pgno + 1) * stat.ms_psize >
           (uint64_t)info.me_mapsize / 8 * 7;
}

int
nstore_room(nstore_t *st, uint64_t now_mono, struct diskspace *disk)
{
    MDB_envinfo info;
    MDB_stat stat;

    if (st->disk_mono == 0 || now_mono - st->disk_mono >= S_DISK_MS) {
        if (nstore_disk(st, &st->disk) == KR_OK)
            st->disk_mono = now_mono != 0 ? now_mono : 1;
    }
    if (disk != NULL)
        *disk = st->disk;
    if (mdb_env_info(st->env, &info) != MDB_SUCCESS ||
        mdb_env_stat(st->env, &stat) != MDB_SUCCESS)
        return KR_OK;
    /* As nstore_nearly_full, against the smaller of the map and the disk:
     * the store's file as it is (LMDB writes inside it, and the prefill
     * helper writes it ahead) plus what its file system has free. */
    uint64_t map = (uint64_t)info.me_mapsize;
    uint64_t cap =
        st->disk_mono != 0 ? diskspace_capacity(map, &st->disk) : map;
    uint64_t used = (uint64_t)(info.me_last_pgno + 1) * stat.ms_psize;
    if (used <= cap / 8 * 7)
        return KR_OK;
    return cap < map ? KR_EDISKFULL : KR_EFULL;
}

int
nstore_peer_put(nstore_t *st, MDB_txn *txn, const Kr__V1__OrgEntry *e)
{
    MDB_val key;
    int rc;

    if (e->org_id == NULL || e->org_id[0] == '\0' ||
        strlen(e->org_id) >= KR_ORG_ID_MAX)
        return KR_EINVAL;
    key.mv_size = strlen(e->org_id);
    key.mv_data = e->org_id;
    rc = nstore_put_msg(txn, st->dbi[NSTORE_DBI_PEERS], &key, &e->base, 0);
    if (rc != MDB_SUCCESS) {
        nstore_log_fail("peer put", rc);
        return nstore_from_mdb(rc);
    }
    return KR_OK;
}

static int
s_entries(MDB_txn *txn, MDB_dbi dbi, uint64_t *out)
{
    MDB_stat ms;
    int rc = mdb_stat(txn, dbi, &ms);

    if (rc != MDB_SUCCESS)
        return nstore_from_mdb(rc);
    *out = ms.ms_entries;
    return KR_OK;
}

int
nstore_counts(nstore_t *st, MDB_txn *txn, struct nstore_counts *out)
{
    int rc;

    /* Each count is an index's size: one read of its root, no walk. */
    if ((rc = s_entries(txn, st->dbi[NSTORE_DBI_OUTBOX_ALL],
                        &out->outbox_total)) ||
        (rc = s_entries(txn, st->dbi[NSTORE_DBI_OUTBOX_ORDER],
                        &out->outbox_pending)) ||
        (rc = s_entries(txn, st->dbi[NSTORE_DBI_OUTBOX_OPEN],
                        &out->outbox_open)) ||
        (rc = s_entries(txn, st->dbi[NSTORE_DBI_INBOX], &out->inbox_total)) ||
        (rc = s_entries(txn, st->dbi[NSTORE_DBI_INBOX_UNPROCESSED],
                        &out->inbox_unprocessed)))
        return rc;
    return KR_OK;
}
