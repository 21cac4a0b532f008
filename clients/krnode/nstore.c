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

#define S_SCHEMA "3" /* 2: envelopes apart; 3: inbox keyed by arrival */

enum {
    S_DBI_OUTBOX,
    S_DBI_OUTBOX_ENV,
    S_DBI_OUTBOX_ALL,
    S_DBI_OUTBOX_ORDER,
    S_DBI_OUTBOX_OPEN,
    S_DBI_INBOX,
    S_DBI_INBOX_IDS,
    S_DBI_INBOX_UNPROCESSED,
    S_DBI_PEERS,
    S_DBI_META,
    S_DBI_REFERRALS, /* referral_id -> kr.v1.NodeReferral (referrals.c) */
    S_DBI_DONE,      /* done_at (8) || 'i'/'o' || msg_id -> seq: retention */
    S_NDBI
};

static const char *s_dbi_names[S_NDBI] = {
    "outbox",      "outbox_env", "outbox_all",  "outbox_order",
    "outbox_open", "inbox",      "inbox_order", "inbox_unprocessed",
    "peers",       "meta",       "referrals",   "done",
};

/* An inbox_unprocessed value of msg_id and this byte marks a delivery held
 * for the broker's pass result (provisional.c). A held delivery is never
 * processed (it is not shown), so every one is in that index, at its tail
 * where the pass writes anyway: marking and releasing it costs no page of
 * another tree. */
#define S_HELD_MARK 0x01
/* The first chunk of the arena records are read into to be rewritten. */
#define S_ARENA_BYTES (16u << 10)

struct nstore {
    MDB_env *env;
    MDB_dbi dbi[S_NDBI];
    struct prefill *prefill; /* NULL unless nstore_prefill() started it */
    MDB_txn *wtxn;           /* the write transaction open, if any */
    unsigned psize;
    struct latency commit_lat; /* commits that wrote (nstore_commit) */
    struct arena pb;           /* records read to be rewritten (arena.h) */
    /* The disk (nstore_room): looked at no more than every S_DISK_MS. */
    struct diskspace disk;
    uint64_t disk_mono;           /* when; 0: look at the next call */
    struct log_every commit_fail; /* failed commits, for the log */
};

#define S_DISK_MS 100

/* LMDB's errors in ours, once. A full map and any failure of a write leave
 * the transaction unusable; the caller's pass then aborts. */
static int
s_err(int rc)
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
static void
s_log_fail(const char *op, int rc)
{
    if (rc == MDB_MAP_FULL)
        log_debug("store: %s: %s", op, mdb_strerror(rc));
    else
        log_errorx("store: %s: %s", op, mdb_strerror(rc));
}

static void
s_seq_key(uint64_t seq, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(seq & 0xff);
        seq >>= 8;
    }
}

static uint64_t
s_seq_from(const uint8_t in[8])
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

static int
s_index_dbi(enum nstore_index idx)
{
    switch (idx) {
    case NSTORE_OUTBOX_ALL:
        return S_DBI_OUTBOX_ALL;
    case NSTORE_OUTBOX_PENDING:
        return S_DBI_OUTBOX_ORDER;
    case NSTORE_OUTBOX_OPEN:
        return S_DBI_OUTBOX_OPEN;
    case NSTORE_INBOX_ALL:
        return S_DBI_INBOX; /* keyed by arrival seq itself */
    case NSTORE_INBOX_UNPROCESSED:
        return S_DBI_INBOX_UNPROCESSED;
    case NSTORE_PEERS:
        return S_DBI_PEERS;
    }
    return -1;
}

/* The msg_id-keyed record database an index points into. The inbox's
 * indexes are keyed by its own arrival seq and are read by seq instead
 * (nstore_iter_next): -1 for them. */
static int
s_index_target(enum nstore_index idx)
{
    switch (idx) {
    case NSTORE_OUTBOX_ALL:
    case NSTORE_OUTBOX_PENDING:
    case NSTORE_OUTBOX_OPEN:
        return S_DBI_OUTBOX;
    case NSTORE_INBOX_ALL:
    case NSTORE_INBOX_UNPROCESSED:
        return -1;
    case NSTORE_PEERS:
        return S_DBI_PEERS;
    }
    return -1;
}

/* Pack a message straight into the page LMDB reserves for it: no copy. */
static int
s_put_msg(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, const ProtobufCMessage *m,
          unsigned flags)
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

static int
s_put_index(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, const uint8_t *msg_id)
{
    uint8_t k[8];
    MDB_val key = {sizeof(k), k}, val = {KR_ID_LEN, (void *)msg_id};

    s_seq_key(seq, k);
    return mdb_put(txn, dbi, &key, &val, 0);
}

static int
s_del_index(MDB_txn *txn, MDB_dbi dbi, uint64_t seq)
{
    uint8_t k[8];
    MDB_val key = {sizeof(k), k};
    int rc;

    s_seq_key(seq, k);
    rc = mdb_del(txn, dbi, &key, NULL);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

/* The next seq of an order index: one after its last key. Records are
 * never removed from the "all" indexes, except an inbox record held for
 * the broker's pass that never committed (nstore_inbox_remove): its seq
 * may come again, but no adapter ever saw it. */
static int
s_next_seq(MDB_txn *txn, MDB_dbi dbi, uint64_t *out)
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
    *out = s_seq_from(key.mv_data) + 1;
    return MDB_SUCCESS;
}

static int
s_get(nstore_t *st, MDB_txn *txn, int dbi, const uint8_t *msg_id,
      const uint8_t **val, size_t *len)
{
    MDB_val key = {KR_ID_LEN, (void *)msg_id}, v;
    int rc;

    if ((rc = mdb_get(txn, st->dbi[dbi], &key, &v)) != MDB_SUCCESS)
        return s_err(rc);
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
    for (int i = 0; i < S_NDBI; i++) {
        rc = mdb_dbi_open(txn, s_dbi_names[i], MDB_CREATE, &st->dbi[i]);
        if (rc != MDB_SUCCESS)
            goto fail;
    }
    rc = mdb_get(txn, st->dbi[S_DBI_META], &key, &val);
    if (rc == MDB_NOTFOUND) {
        val.mv_size = strlen(S_SCHEMA);
        val.mv_data = S_SCHEMA;
        rc = mdb_put(txn, st->dbi[S_DBI_META], &key, &val, 0);
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
    return s_err(rc);
}

int
nstore_open(const char *path, size_t map_size, nstore_t **out)
{
    nstore_t *st = xcalloc(1, sizeof(*st));
    int rc;

    arena_init(&st->pb, S_ARENA_BYTES);
    if ((rc = mdb_env_create(&st->env)) != MDB_SUCCESS)
        goto fail;
    if ((rc = mdb_env_set_maxdbs(st->env, S_NDBI)) != MDB_SUCCESS)
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
    return s_err(rc);
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
        return s_err(rc);
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
        return s_err(rc);
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
    int err = s_err(rc);

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
nstore_outbox_get(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                  const uint8_t **val, size_t *len)
{
    return s_get(st, txn, S_DBI_OUTBOX, msg_id, val, len);
}

int
nstore_outbox_envelope(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                       const uint8_t **sig, const uint8_t **env,
                       size_t *env_len)
{
    const uint8_t *v;
    size_t len;
    int rc = s_get(st, txn, S_DBI_OUTBOX_ENV, msg_id, &v, &len);

    if (rc != KR_OK)
        return rc;
    if (len < KR_SIG_LEN)
        return KR_ESTORE;
    *sig = v;
    *env = v + KR_SIG_LEN;
    *env_len = len - KR_SIG_LEN;
    return KR_OK;
}

int
nstore_outbox_drop_envelope(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id)
{
    MDB_val key = {KR_ID_LEN, (void *)msg_id};
    int rc = mdb_del(txn, st->dbi[S_DBI_OUTBOX_ENV], &key, NULL);

    return rc == MDB_NOTFOUND ? KR_OK : s_err(rc);
}

int
nstore_outbox_mark_erased(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id)
{
    MDB_val key = {KR_ID_LEN, (void *)msg_id};
    const uint8_t *v;
    size_t vlen;
    int rc;

    if ((rc = nstore_outbox_get(st, txn, msg_id, &v, &vlen)) != KR_OK)
        return rc == KR_ENOTFOUND ? KR_OK : rc;
    struct arena_mark mark = arena_mark(&st->pb);
    Kr__V1__OutboxRecord *rec =
        kr__v1__outbox_record__unpack(arena_allocator(&st->pb), vlen, v);
    if (rec == NULL) {
        rc = KR_ESTORE;
        goto done;
    }
    rec->erased = true;
    if ((rc = s_put_msg(txn, st->dbi[S_DBI_OUTBOX], &key, &rec->base, 0)) !=
        MDB_SUCCESS) {
        s_log_fail("outbox mark erased", rc);
        rc = s_err(rc);
    }
done:
    arena_release(&st->pb, mark);
    return rc;
}

/*
 * The inbox is keyed by arrival seq: msg_ids come from the senders, and
 * random ones would scatter every arrival over the tree (copy-on-write
 * rewrites a page per insert). inbox: seq -> msg_id || InboxRecord;
 * inbox_ids: msg_id -> seq, for deduplication and lookups by id.
 */

/* The stored value of seq (BE key k): msg_id, then the record. */
static int
s_inbox_at(nstore_t *st, MDB_txn *txn, const uint8_t k[8],
           const uint8_t **msg_id, const uint8_t **val, size_t *len)
{
    MDB_val key = {8, (void *)k}, v;
    int rc = mdb_get(txn, st->dbi[S_DBI_INBOX], &key, &v);

    if (rc != MDB_SUCCESS)
        return s_err(rc);
    if (v.mv_size < KR_ID_LEN)
        return KR_ESTORE;
    *msg_id = v.mv_data;
    *val = (const uint8_t *)v.mv_data + KR_ID_LEN;
    *len = v.mv_size - KR_ID_LEN;
    return KR_OK;
}

static int
s_inbox_seq(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id, uint8_t k[8])
{
    const uint8_t *v;
    size_t len;
    int rc = s_get(st, txn, S_DBI_INBOX_IDS, msg_id, &v, &len);

    if (rc != KR_OK)
        return rc;
    if (len != 8)
        return KR_ESTORE;
    memcpy(k, v, 8);
    return KR_OK;
}

int
nstore_inbox_get(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                 const uint8_t **val, size_t *len)
{
    const uint8_t *id;
    uint8_t k[8];
    int rc = s_inbox_seq(st, txn, msg_id, k);

    return rc != KR_OK ? rc : s_inbox_at(st, txn, k, &id, val, len);
}

/* Write the record at seq k, behind its msg_id. */
static int
s_inbox_put(nstore_t *st, MDB_txn *txn, const uint8_t k[8],
            const uint8_t *msg_id, const Kr__V1__InboxRecord *rec,
            unsigned flags)
{
    MDB_val key = {8, (void *)k}, v;
    size_t n = kr__v1__inbox_record__get_packed_size(rec);
    int rc;

    v.mv_size = KR_ID_LEN + n;
    v.mv_data = NULL;
    if ((rc = mdb_put(txn, st->dbi[S_DBI_INBOX], &key, &v,
                      flags | MDB_RESERVE)) != MDB_SUCCESS)
        return rc;
    memcpy(v.mv_data, msg_id, KR_ID_LEN);
    kr__v1__inbox_record__pack(rec, (uint8_t *)v.mv_data + KR_ID_LEN);
    return MDB_SUCCESS;
}

static bool s_outcome_final(int outcome);
static int s_done_put(nstore_t *st, MDB_txn *txn, uint64_t at, char kind,
                      const uint8_t *msg_id, uint64_t seq);

/* If the outbox holds a not-held record (a receipt for a message the node
 * had not committed) under rec's msg_id, move its outcome into rec and
 * remove it with its index entries, so that rec takes its place. */
static int
s_adopt_not_held(nstore_t *st, MDB_txn *txn, MDB_val *key,
                 Kr__V1__OutboxRecord *rec)
{
    MDB_val v;
    int rc = mdb_get(txn, st->dbi[S_DBI_OUTBOX], key, &v);

    if (rc == MDB_NOTFOUND)
        return MDB_SUCCESS;
    if (rc != MDB_SUCCESS)
        return rc;
    Kr__V1__OutboxRecord *old = kr__v1__outbox_record__unpack(
        arena_allocator(&st->pb), v.mv_size, v.mv_data);
    if (old == NULL || old->item == NULL || !old->item->not_held)
        return MDB_KEYEXIST; /* a real record: the caller's KR_EEXIST */
    rec->item->outcome = old->item->outcome;
    rec->item->reason = old->item->reason;
    rec->item->detail = old->item->detail; /* in st->pb until the commit */
    rec->item->accepted_at_ms = old->item->accepted_at_ms;
    rec->item->final_at_ms = old->item->final_at_ms;
    if ((rc = s_del_index(txn, st->dbi[S_DBI_OUTBOX_ALL], old->seq)) != 0)
        return rc;
    if (old->item->outcome == KR__V1__OUTCOME__ACCEPTED &&
        (rc = s_del_index(txn, st->dbi[S_DBI_OUTBOX_OPEN], old->seq)) != 0)
        return rc;
    return mdb_del(txn, st->dbi[S_DBI_OUTBOX], key, NULL);
}

int
nstore_outbox_add_not_held(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                           int outcome, int reason, const char *detail,
                           uint64_t at_ms)
{
    Kr__V1__OutboxRecord rec = KR__V1__OUTBOX_RECORD__INIT;
    Kr__V1__OutboxItem it = KR__V1__OUTBOX_ITEM__INIT;
    MDB_val key = {KR_ID_LEN, (void *)msg_id};
    uint64_t seq;
    int rc;

    if (outcome != KR__V1__OUTCOME__ACCEPTED && !s_outcome_final(outcome))
        return KR_EINVAL;
    if ((rc = s_next_seq(txn, st->dbi[S_DBI_OUTBOX_ALL], &seq)) != 0)
        goto fail;
    it.msg_id.data = (uint8_t *)msg_id;
    it.msg_id.len = KR_ID_LEN;
    it.recipient = "";
    it.outcome = outcome;
    it.reason = reason;
    it.detail = (char *)(detail != NULL ? detail : "");
    if (outcome == KR__V1__OUTCOME__ACCEPTED)
        it.accepted_at_ms = at_ms;
    else
        it.final_at_ms = at_ms;
    it.not_held = true;
    it.seq = seq;
    rec.seq = seq;
    rec.item = &it;
    rc =
        s_put_msg(txn, st->dbi[S_DBI_OUTBOX], &key, &rec.base, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return KR_EEXIST;
    if (rc != MDB_SUCCESS)
        goto fail;
    if ((rc = s_put_index(txn, st->dbi[S_DBI_OUTBOX_ALL], seq, msg_id)) != 0)
        goto fail;
    if (outcome == KR__V1__OUTCOME__ACCEPTED &&
        (rc = s_put_index(txn, st->dbi[S_DBI_OUTBOX_OPEN], seq, msg_id)) != 0)
        goto fail;
    /* Final already: retention purges it like any final record. */
    if (outcome != KR__V1__OUTCOME__ACCEPTED &&
        (rc = s_done_put(st, txn, at_ms, 'o', msg_id, seq)) != 0)
        goto fail;
    return KR_OK;
fail:
    s_log_fail("outbox add not held", rc);
    return s_err(rc);
}

/* Retention (nstore_purge_due): a processed inbox record or a final
 * outbox record, by when it became so. */
static int
s_done_put(nstore_t *st, MDB_txn *txn, uint64_t at, char kind,
           const uint8_t *msg_id, uint64_t seq)
{
    uint8_t k[25], v[8];
    MDB_val key = {sizeof(k), k}, val = {sizeof(v), v};

    s_seq_key(at, k);
    k[8] = (uint8_t)kind;
    memcpy(k + 9, msg_id, KR_ID_LEN);
    s_seq_key(seq, v);
    return mdb_put(txn, st->dbi[S_DBI_DONE], &key, &val, 0);
}

/* Whether seq is the last key of an index (its tail stays: s_next_seq). */
static bool
s_is_tail(MDB_txn *txn, MDB_dbi dbi, uint64_t seq)
{
    MDB_cursor *cur;
    MDB_val key, val;
    bool tail = true;

    if (mdb_cursor_open(txn, dbi, &cur) != MDB_SUCCESS)
        return true;
    if (mdb_cursor_get(cur, &key, &val, MDB_LAST) == MDB_SUCCESS &&
        key.mv_size == 8) {
        uint8_t k[8];
        s_seq_key(seq, k);
        tail = memcmp(key.mv_data, k, 8) == 0;
    }
    mdb_cursor_close(cur);
    return tail;
}

int
nstore_purge_due(nstore_t *st, MDB_txn *txn, uint64_t before, size_t max,
                 uint64_t *n_inbox, uint64_t *n_outbox)
{
    MDB_cursor *cur;
    MDB_val key, val;
    size_t seen = 0;
    int rc;

    *n_inbox = *n_outbox = 0;
    if ((rc = mdb_cursor_open(txn, st->dbi[S_DBI_DONE], &cur)) != MDB_SUCCESS)
        return s_err(rc);
    /* From the front: the first record not yet due ends the pass, so a
     * pass costs what is due, not what is stored. */
    rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    while (rc == MDB_SUCCESS && seen++ < max) {
        if (key.mv_size != 25 || val.mv_size != 8) {
            rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
            continue;
        }
        const uint8_t *k = key.mv_data;
        uint64_t at = 0, seq = 0;
        for (int i = 0; i < 8; i++) {
            at = at << 8 | k[i];
            seq = seq << 8 | ((const uint8_t *)val.mv_data)[i];
        }
        if (at > before)
            break;
        uint8_t id[KR_ID_LEN];
        memcpy(id, k + 9, KR_ID_LEN);
        MDB_dbi all =
            k[8] == 'i' ? st->dbi[S_DBI_INBOX] : st->dbi[S_DBI_OUTBOX_ALL];
        if (s_is_tail(txn, all, seq)) {
            /* The newest record stays until a newer one comes: seqs are
             * taken from the tail and must never go back. */
            rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
            continue;
        }
        if (k[8] == 'i') {
            if ((rc = nstore_inbox_remove(st, txn, seq, id)) != KR_OK)
                goto out;
            (*n_inbox)++;
        } else {
            MDB_val ik = {KR_ID_LEN, id};
            if (((rc = mdb_del(txn, st->dbi[S_DBI_OUTBOX], &ik, NULL)) !=
                     MDB_SUCCESS &&
                 rc != MDB_NOTFOUND) ||
                ((rc = mdb_del(txn, st->dbi[S_DBI_OUTBOX_ENV], &ik, NULL)) !=
                     MDB_SUCCESS &&
                 rc != MDB_NOTFOUND) ||
                (rc = s_del_index(txn, st->dbi[S_DBI_OUTBOX_ALL], seq)) !=
                    MDB_SUCCESS) {
                rc = s_err(rc);
                goto out;
            }
            (*n_outbox)++;
        }
        if ((rc = mdb_cursor_del(cur, 0)) != MDB_SUCCESS) {
            rc = s_err(rc);
            goto out;
        }
        rc = mdb_cursor_get(cur, &key, &val, MDB_GET_CURRENT);
    }
    rc = KR_OK;
out:
    mdb_cursor_close(cur);
    return rc;
}

int
nstore_outbox_add(nstore_t *st, MDB_txn *txn, Kr__V1__OutboxRecord *rec)
{
    MDB_val key;
    uint64_t seq;
    int rc;

    if (rec->item == NULL || rec->item->msg_id.len != KR_ID_LEN ||
        rec->signature.len != KR_SIG_LEN)
        return KR_EINVAL;
    key.mv_size = KR_ID_LEN;
    key.mv_data = rec->item->msg_id.data;
    if ((rc = s_adopt_not_held(st, txn, &key, rec)) == MDB_KEYEXIST)
        return KR_EEXIST;
    if (rc != MDB_SUCCESS)
        goto fail;
    if ((rc = s_next_seq(txn, st->dbi[S_DBI_OUTBOX_ALL], &seq)) != 0)
        goto fail;
    rec->seq = seq;
    rec->item->seq = seq;
    /* The record without its envelope: each receipt rewrites the record,
     * and should not copy 1.5 KiB of ciphertext to do it. The envelope and
     * its signature go to outbox_env, written once. */
    Kr__V1__OutboxRecord small = *rec;
    small.envelope.len = 0;
    small.envelope.data = NULL;
    small.signature.len = 0;
    small.signature.data = NULL;
    rc = s_put_msg(txn, st->dbi[S_DBI_OUTBOX], &key, &small.base,
                   MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return KR_EEXIST;
    if (rc != MDB_SUCCESS)
        goto fail;
    MDB_val ev = {KR_SIG_LEN + rec->envelope.len, NULL};
    rc = mdb_put(txn, st->dbi[S_DBI_OUTBOX_ENV], &key, &ev, MDB_RESERVE);
    if (rc != MDB_SUCCESS)
        goto fail;
    memcpy(ev.mv_data, rec->signature.data, KR_SIG_LEN);
    if (rec->envelope.len > 0)
        memcpy((uint8_t *)ev.mv_data + KR_SIG_LEN, rec->envelope.data,
               rec->envelope.len);
    rc = s_put_index(txn, st->dbi[S_DBI_OUTBOX_ALL], seq, key.mv_data);
    if (rc != MDB_SUCCESS)
        goto fail;
    /* A record that arrives with its outcome (not the node's own path,
     * but cheap to get right) is not pending. */
    if (rec->item->outcome == KR__V1__OUTCOME__OUTCOME_UNSPECIFIED)
        rc = s_put_index(txn, st->dbi[S_DBI_OUTBOX_ORDER], seq, key.mv_data);
    else if (rec->item->outcome == KR__V1__OUTCOME__ACCEPTED)
        rc = s_put_index(txn, st->dbi[S_DBI_OUTBOX_OPEN], seq, key.mv_data);
    else /* final (a not-held record taken over): due for retention, under
          * its new seq (the entry's key is the same: rewritten) */
        rc = s_done_put(st, txn, rec->item->final_at_ms, 'o', key.mv_data, seq);
    if (rc != MDB_SUCCESS)
        goto fail;
    return KR_OK;
fail:
    s_log_fail("outbox add", rc);
    return s_err(rc);
}

static bool
s_outcome_final(int outcome)
{
    return outcome == KR__V1__OUTCOME__DELIVERED ||
           outcome == KR__V1__OUTCOME__REFUSED ||
           outcome == KR__V1__OUTCOME__EXPIRED_OUTCOME ||
           outcome == KR__V1__OUTCOME__WITHDRAWN;
}

int
nstore_outbox_set_outcome(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                          int outcome, int reason, const char *detail,
                          uint64_t at_ms, struct nstore_outcome *out)
{
    Kr__V1__OutboxRecord *rec = NULL;
    Kr__V1__OutboxItem *it;
    MDB_val key = {KR_ID_LEN, (void *)msg_id};
    const uint8_t *v;
    size_t vlen;
    struct arena_mark mark;
    int rc, prev;

    memset(out, 0, sizeof(*out));
    if (outcome != KR__V1__OUTCOME__ACCEPTED && !s_outcome_final(outcome))
        return KR_EINVAL;
    if ((rc = nstore_outbox_get(st, txn, msg_id, &v, &vlen)) != KR_OK)
        return rc;
    mark = arena_mark(&st->pb);
    rec = kr__v1__outbox_record__unpack(arena_allocator(&st->pb), vlen, v);
    if (rec == NULL || rec->item == NULL) {
        log_errorx("store: outbox record does not parse: leaving it as is");
        rc = KR_ESTORE;
        goto done;
    }
    it = rec->item;
    prev = it->outcome;
    out->seq = rec->seq;
    out->prev_outcome = prev;
    out->type = it->type;
    snprintf(out->recipient, sizeof(out->recipient), "%s", it->recipient);
    /* Receipts come more than once and in any order after a reconnect:
     * only a step forward changes the record. */
    if (outcome == KR__V1__OUTCOME__ACCEPTED
            ? prev != KR__V1__OUTCOME__OUTCOME_UNSPECIFIED
            : s_outcome_final(prev)) {
        rc = KR_OK;
        goto done;
    }
    it->outcome = outcome;
    it->reason = reason;
    /* A final outcome straight from pending (refused at submission, or the
     * answer to a resent submit whose ACCEPTED we missed) leaves
     * accepted_at_ms 0: we do not know it. */
    if (outcome == KR__V1__OUTCOME__ACCEPTED)
        it->accepted_at_ms = at_ms;
    else
        it->final_at_ms = at_ms;
    it->detail = (char *)(detail != NULL ? detail : "");
    rc = s_put_msg(txn, st->dbi[S_DBI_OUTBOX], &key, &rec->base, 0);
    if (rc != MDB_SUCCESS)
        goto store_fail;
    if (prev == KR__V1__OUTCOME__OUTCOME_UNSPECIFIED) {
        rc = s_del_index(txn, st->dbi[S_DBI_OUTBOX_ORDER], rec->seq);
        if (rc != MDB_SUCCESS)
            goto store_fail;
    }
    if (outcome == KR__V1__OUTCOME__ACCEPTED)
        rc = s_put_index(txn, st->dbi[S_DBI_OUTBOX_OPEN], rec->seq, msg_id);
    else if (prev == KR__V1__OUTCOME__ACCEPTED)
        rc = s_del_index(txn, st->dbi[S_DBI_OUTBOX_OPEN], rec->seq);
    if (rc == MDB_SUCCESS && outcome != KR__V1__OUTCOME__ACCEPTED)
        rc = s_done_put(st, txn, at_ms, 'o', msg_id, rec->seq);
    /* Its subject was erased while it was open: now that no resend needs
     * the envelope, it goes (krnode/erasure.c). */
    if (rc == MDB_SUCCESS && outcome != KR__V1__OUTCOME__ACCEPTED &&
        rec->erased) {
        rc = mdb_del(txn, st->dbi[S_DBI_OUTBOX_ENV], &key, NULL);
        if (rc == MDB_NOTFOUND)
            rc = MDB_SUCCESS;
    }
    if (rc != MDB_SUCCESS)
        goto store_fail;
    out->changed = true;
    rc = KR_OK;
    goto done;
store_fail:
    s_log_fail("outbox outcome", rc);
    rc = s_err(rc);
done:
    arena_release(&st->pb, mark);
    return rc;
}

int
nstore_inbox_add(nstore_t *st, MDB_txn *txn, Kr__V1__InboxRecord *rec)
{
    MDB_val key, sv;
    uint8_t k[8];
    uint64_t seq;
    int rc;

    if (rec->item == NULL || rec->item->msg_id.len != KR_ID_LEN)
        return KR_EINVAL;
    key.mv_size = KR_ID_LEN;
    key.mv_data = rec->item->msg_id.data;
    if ((rc = s_next_seq(txn, st->dbi[S_DBI_INBOX], &seq)) != 0)
        goto fail;
    s_seq_key(seq, k);
    sv.mv_size = sizeof(k);
    sv.mv_data = k;
    rc = mdb_put(txn, st->dbi[S_DBI_INBOX_IDS], &key, &sv, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return KR_EEXIST;
    if (rc != MDB_SUCCESS)
        goto fail;
    rec->item->seq = seq;
    rec->item->processed = 0;
    /* Arrival seqs only grow: APPEND skips the search for the place. */
    rc = s_inbox_put(st, txn, k, key.mv_data, rec, MDB_APPEND);
    if (rc != MDB_SUCCESS)
        goto fail;
    rc = s_put_index(txn, st->dbi[S_DBI_INBOX_UNPROCESSED], seq, key.mv_data);
    if (rc != MDB_SUCCESS)
        goto fail;
    return KR_OK;
fail:
    s_log_fail("inbox add", rc);
    return s_err(rc);
}

int
nstore_inbox_set_processed(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                           bool *changed)
{
    Kr__V1__InboxRecord *rec = NULL;
    struct arena_mark mark;
    const uint8_t *v, *id;
    uint8_t k[8];
    size_t vlen;
    int rc;

    *changed = false;
    if ((rc = s_inbox_seq(st, txn, msg_id, k)) != KR_OK ||
        (rc = s_inbox_at(st, txn, k, &id, &v, &vlen)) != KR_OK)
        return rc;
    mark = arena_mark(&st->pb);
    rec = kr__v1__inbox_record__unpack(arena_allocator(&st->pb), vlen, v);
    if (rec == NULL || rec->item == NULL) {
        log_errorx("store: inbox record does not parse: leaving it as is");
        rc = KR_ESTORE;
        goto done;
    }
    if (rec->item->processed) {
        rc = KR_OK;
        goto done;
    }
    rec->item->processed = 1;
    rc = s_inbox_put(st, txn, k, msg_id, rec, 0);
    if (rc == MDB_SUCCESS)
        rc = s_del_index(txn, st->dbi[S_DBI_INBOX_UNPROCESSED], rec->item->seq);
    if (rc == MDB_SUCCESS)
        rc = s_done_put(st, txn, util_now_ms(), 'i', msg_id, rec->item->seq);
    if (rc != MDB_SUCCESS) {
        s_log_fail("inbox processed", rc);
        rc = s_err(rc);
        goto done;
    }
    *changed = true;
    rc = KR_OK;
done:
    arena_release(&st->pb, mark);
    return rc;
}

int
nstore_inbox_hold(nstore_t *st, MDB_txn *txn, uint64_t seq,
                  const uint8_t *msg_id)
{
    uint8_t k[8], v[KR_ID_LEN + 1];
    MDB_val key = {sizeof(k), k}, val = {sizeof(v), v};
    int rc;

    s_seq_key(seq, k);
    memcpy(v, msg_id, KR_ID_LEN);
    v[KR_ID_LEN] = S_HELD_MARK;
    rc = mdb_put(txn, st->dbi[S_DBI_INBOX_UNPROCESSED], &key, &val, 0);
    if (rc != MDB_SUCCESS) {
        s_log_fail("inbox hold", rc);
        return s_err(rc);
    }
    return KR_OK;
}

int
nstore_inbox_release(nstore_t *st, MDB_txn *txn, uint64_t seq)
{
    uint8_t k[8], id[KR_ID_LEN];
    MDB_val key = {sizeof(k), k}, val;
    int rc;

    s_seq_key(seq, k);
    rc = mdb_get(txn, st->dbi[S_DBI_INBOX_UNPROCESSED], &key, &val);
    if (rc == MDB_NOTFOUND || (rc == MDB_SUCCESS && val.mv_size == KR_ID_LEN))
        return KR_OK; /* not held (any more) */
    if (rc == MDB_SUCCESS && val.mv_size == KR_ID_LEN + 1) {
        memcpy(id, val.mv_data, KR_ID_LEN);
        rc = s_put_index(txn, st->dbi[S_DBI_INBOX_UNPROCESSED], seq, id);
    } else if (rc == MDB_SUCCESS) {
        rc = MDB_CORRUPTED;
    }
    if (rc != MDB_SUCCESS) {
        s_log_fail("inbox release", rc);
        return s_err(rc);
    }
    return KR_OK;
}

int
nstore_inbox_remove(nstore_t *st, MDB_txn *txn, uint64_t seq,
                    const uint8_t *msg_id)
{
    uint8_t k[8];
    MDB_val key = {sizeof(k), k}, id = {KR_ID_LEN, (void *)msg_id}, v;
    int rc;

    s_seq_key(seq, k);
    /* Only the record at seq with this msg_id: the id may have arrived
     * again since, under another seq. */
    rc = mdb_get(txn, st->dbi[S_DBI_INBOX_IDS], &id, &v);
    if (rc == MDB_SUCCESS && v.mv_size == 8 && memcmp(v.mv_data, k, 8) == 0)
        rc = mdb_del(txn, st->dbi[S_DBI_INBOX_IDS], &id, NULL);
    if (rc == MDB_SUCCESS || rc == MDB_NOTFOUND) {
        rc = mdb_get(txn, st->dbi[S_DBI_INBOX], &key, &v);
        if (rc == MDB_SUCCESS && v.mv_size >= KR_ID_LEN &&
            memcmp(v.mv_data, msg_id, KR_ID_LEN) == 0)
            rc = mdb_del(txn, st->dbi[S_DBI_INBOX], &key, NULL);
    }
    if (rc == MDB_SUCCESS || rc == MDB_NOTFOUND) {
        rc = mdb_get(txn, st->dbi[S_DBI_INBOX_UNPROCESSED], &key, &v);
        if (rc == MDB_SUCCESS && v.mv_size >= KR_ID_LEN &&
            memcmp(v.mv_data, msg_id, KR_ID_LEN) == 0)
            rc = mdb_del(txn, st->dbi[S_DBI_INBOX_UNPROCESSED], &key, NULL);
    }
    if (rc == MDB_NOTFOUND)
        rc = MDB_SUCCESS;
    if (rc != MDB_SUCCESS) {
        s_log_fail("inbox remove", rc);
        return s_err(rc);
    }
    return KR_OK;
}

int
nstore_inbox_drop_held(nstore_t *st, MDB_txn *txn, uint64_t *dropped)
{
    struct {
        uint64_t seq;
        uint8_t id[KR_ID_LEN];
    } *held = NULL;
    size_t n = 0, cap = 0;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc;

    *dropped = 0;
    /* A walk of the unprocessed index (only held deliveries carry the
     * mark), then the removals: not while the cursor walks. */
    if ((rc = mdb_cursor_open(txn, st->dbi[S_DBI_INBOX_UNPROCESSED], &cur)) !=
        MDB_SUCCESS)
        return s_err(rc);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != 8 || val.mv_size != KR_ID_LEN + 1 ||
            ((const uint8_t *)val.mv_data)[KR_ID_LEN] != S_HELD_MARK)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            held = xrealloc(held, cap * sizeof(*held));
        }
        held[n].seq = s_seq_from(key.mv_data);
        memcpy(held[n].id, val.mv_data, KR_ID_LEN);
        n++;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        free(held);
        s_log_fail("inbox drop held", rc);
        return s_err(rc);
    }
    rc = KR_OK;
    for (size_t i = 0; i < n && rc == KR_OK; i++)
        rc = nstore_inbox_remove(st, txn, held[i].seq, held[i].id);
    free(held);
    if (rc == KR_OK)
        *dropped = n;
    return rc;
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
    rc = s_put_msg(txn, st->dbi[S_DBI_PEERS], &key, &e->base, 0);
    if (rc != MDB_SUCCESS) {
        s_log_fail("peer put", rc);
        return s_err(rc);
    }
    return KR_OK;
}

static int
s_entries(MDB_txn *txn, MDB_dbi dbi, uint64_t *out)
{
    MDB_stat ms;
    int rc = mdb_stat(txn, dbi, &ms);

    if (rc != MDB_SUCCESS)
        return s_err(rc);
    *out = ms.ms_entries;
    return KR_OK;
}

int
nstore_counts(nstore_t *st, MDB_txn *txn, struct nstore_counts *out)
{
    int rc;

    /* Each count is an index's size: one read of its root, no walk. */
    if ((rc = s_entries(txn, st->dbi[S_DBI_OUTBOX_ALL], &out->outbox_total)) ||
        (rc = s_entries(txn, st->dbi[S_DBI_OUTBOX_ORDER],
                        &out->outbox_pending)) ||
        (rc = s_entries(txn, st->dbi[S_DBI_OUTBOX_OPEN], &out->outbox_open)) ||
        (rc = s_entries(txn, st->dbi[S_DBI_INBOX], &out->inbox_total)) ||
        (rc = s_entries(txn, st->dbi[S_DBI_INBOX_UNPROCESSED],
                        &out->inbox_unprocessed)))
        return rc;
    return KR_OK;
}

int
nstore_iter_open(nstore_t *st, MDB_txn *txn, enum nstore_index idx,
                 uint64_t after_seq, struct nstore_iter *it)
{
    int dbi = s_index_dbi(idx), rc;

    memset(it, 0, sizeof(*it));
    if (dbi < 0)
        return KR_EINVAL;
    if ((rc = mdb_cursor_open(txn, st->dbi[dbi], &it->cur)) != MDB_SUCCESS)
        return s_err(rc);
    it->st = st;
    it->txn = txn;
    it->idx = idx;
    it->after = after_seq;
    return KR_OK;
}

int
nstore_iter_next(struct nstore_iter *it, uint64_t *seq, const uint8_t **msg_id,
                 const uint8_t **val, size_t *len)
{
    MDB_val key, v;
    uint8_t k[8];
    int rc;

    if (it->cur == NULL)
        return KR_ENOTFOUND;
    if (!it->started) {
        it->started = true;
        if (it->idx == NSTORE_PEERS) {
            rc = mdb_cursor_get(it->cur, &key, &v, MDB_FIRST);
        } else {
            if (it->after == UINT64_MAX)
                return KR_ENOTFOUND;
            s_seq_key(it->after + 1, k);
            key.mv_size = sizeof(k);
            key.mv_data = k;
            rc = mdb_cursor_get(it->cur, &key, &v, MDB_SET_RANGE);
        }
    } else {
        rc = mdb_cursor_get(it->cur, &key, &v, MDB_NEXT);
    }
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    if (it->idx == NSTORE_PEERS) {
        *seq = 0;
        *msg_id = NULL;
        *val = v.mv_data;
        *len = v.mv_size;
        return KR_OK;
    }
    if (key.mv_size != 8)
        return KR_ESTORE;
    *seq = s_seq_from(key.mv_data);
    if (it->idx == NSTORE_INBOX_ALL) {
        /* The inbox itself, in arrival order. */
        if (v.mv_size < KR_ID_LEN)
            return KR_ESTORE;
        *msg_id = v.mv_data;
        *val = (const uint8_t *)v.mv_data + KR_ID_LEN;
        *len = v.mv_size - KR_ID_LEN;
        return KR_OK;
    }
    /* A held delivery's entry carries a mark after its msg_id. */
    if (v.mv_size != KR_ID_LEN &&
        !(it->idx == NSTORE_INBOX_UNPROCESSED && v.mv_size == KR_ID_LEN + 1))
        return KR_ESTORE;
    *msg_id = v.mv_data;
    if (it->idx == NSTORE_INBOX_UNPROCESSED) {
        const uint8_t *id;
        return s_inbox_at(it->st, it->txn, key.mv_data, &id, val, len);
    }
    int target = s_index_target(it->idx);
    if (target < 0)
        return KR_EINVAL;
    return s_get(it->st, it->txn, target, v.mv_data, val, len);
}

void
nstore_iter_close(struct nstore_iter *it)
{
    if (it->cur != NULL)
        mdb_cursor_close(it->cur);
    it->cur = NULL;
}

int
nstore_referral_get(nstore_t *st, MDB_txn *txn, const uint8_t id[KR_ID_LEN],
                    const uint8_t **val, size_t *len)
{
    MDB_val k = {KR_ID_LEN, (void *)id}, v;
    int rc = mdb_get(txn, st->dbi[S_DBI_REFERRALS], &k, &v);

    if (rc != MDB_SUCCESS)
        return s_err(rc);
    *val = v.mv_data;
    *len = v.mv_size;
    return KR_OK;
}

int
nstore_referral_put(nstore_t *st, MDB_txn *txn, const uint8_t id[KR_ID_LEN],
                    const uint8_t *val, size_t len)
{
    MDB_val k = {KR_ID_LEN, (void *)id}, v = {len, (void *)val};

    return s_err(mdb_put(txn, st->dbi[S_DBI_REFERRALS], &k, &v, 0));
}

int
nstore_referral_scan(nstore_t *st, MDB_txn *txn, const uint8_t *after,
                     int (*fn)(const uint8_t *val, size_t len, void *arg),
                     void *arg)
{
    MDB_cursor *cur;
    MDB_val k = {KR_ID_LEN, (void *)after}, v;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->dbi[S_DBI_REFERRALS], &cur)) != 0)
        return s_err(rc);
    rc = mdb_cursor_get(cur, &k, &v, after != NULL ? MDB_SET_RANGE : MDB_FIRST);
    if (rc == 0 && after != NULL && k.mv_size == KR_ID_LEN &&
        memcmp(k.mv_data, after, KR_ID_LEN) == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (fn(v.mv_data, v.mv_size, arg) != 0)
            break;
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : s_err(rc);
}

int
nstore_referral_del(nstore_t *st, MDB_txn *txn, const uint8_t id[KR_ID_LEN])
{
    MDB_val key = {KR_ID_LEN, (void *)id};
    int rc = mdb_del(txn, st->dbi[S_DBI_REFERRALS], &key, NULL);

    return rc == MDB_NOTFOUND ? KR_OK : s_err(rc);
}
