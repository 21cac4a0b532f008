/* loop.c - the node: start-up, the event loop and its passes.
 *
 * A pass reads up to NODE_DRAIN_MAX frames from the broker and as many
 * requests from adapters, writes all of it in ONE LMDB transaction, commits
 * (one fsync), and only then sends what the commit made true: acks to the
 * broker, replies to adapters. If the commit fails, nothing of the pass
 * was saved: no ack goes out (the broker resends) and every adapter gets
 * the error. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "node.h"
#include "nmetrics.h"

#define S_FULL_LOG_MS 10000
#define S_DEFER_MS 2 /* longest a pass of receipts alone waits to commit */

/*
 * The pass
 */

int
pass_txn(struct node *n, MDB_txn **out)
{
    struct pass *p = &n->pass;
    int rc;

    if (p->read != NULL) {
        *out = p->read;
        return KR_OK;
    }
    if (p->err != KR_OK)
        return p->err;
    if (p->txn == NULL && (rc = nstore_begin(n->store, true, &p->txn)) != 0) {
        p->err = rc;
        return rc;
    }
    *out = p->txn;
    return KR_OK;
}

void
pass_fail(struct node *n, int err)
{
    /* Only failures that leave LMDB's transaction unusable end the pass;
     * "not found" and "exists" are answers, not failures. */
    if ((err == KR_EFULL || err == KR_EDISKFULL || err == KR_ESTORE) &&
        n->pass.err == KR_OK)
        n->pass.err = err;
}

void
pass_add_ack(struct node *n, uint64_t seq, const uint8_t *msg_id,
             size_t msg_id_len, bool refused, int reason)
{
    struct pass *p = &n->pass;
    struct pass_ack *a;

    if (p->nacks == p->capacks) {
        p->capacks = p->capacks ? 2 * p->capacks : 64;
        p->acks = xrealloc(p->acks, p->capacks * sizeof(*p->acks));
    }
    a = &p->acks[p->nacks++];
    a->seq = seq;
    a->msg_id_len = msg_id != NULL && msg_id_len == KR_ID_LEN ? KR_ID_LEN : 0;
    if (a->msg_id_len)
        memcpy(a->msg_id, msg_id, KR_ID_LEN);
    a->refused = refused;
    a->reason = reason;
}

void
pass_add_reply(struct node *n, const uint8_t *rid, size_t rid_len, bool delim,
               uint8_t *data, size_t len)
{
    struct pass *p = &n->pass;
    struct reply *r;

    if (p->nreplies == p->capreplies) {
        p->capreplies = p->capreplies ? 2 * p->capreplies : 16;
        p->replies = xrealloc(p->replies, p->capreplies * sizeof(*p->replies));
    }
    r = &p->replies[p->nreplies++];
    r->rid_len = rid_len < NODE_RID_MAX ? rid_len : NODE_RID_MAX;
    memcpy(r->rid, rid, r->rid_len);
    r->delim = delim;
    r->data = data;
    r->len = len;
    r->went_ahead = false;
}

void
pass_add_ahead(struct node *n, const uint8_t *msg_id, const uint8_t *sig,
               const uint8_t *env, size_t env_len)
{
    struct pass *p = &n->pass;
    struct ahead *a;

    if (p->nahead == p->capahead) {
        p->capahead = p->capahead ? 2 * p->capahead : 16;
        p->ahead = xrealloc(p->ahead, p->capahead * sizeof(*p->ahead));
    }
    a = &p->ahead[p->nahead++];
    memcpy(a->msg_id, msg_id, KR_ID_LEN);
    memcpy(a->sig, sig, KR_SIG_LEN);
    buf_reserve(&p->ahead_bytes, p->ahead_bytes.len + env_len);
    memcpy(p->ahead_bytes.data + p->ahead_bytes.len, env, env_len);
    a->env_off = p->ahead_bytes.len;
    a->env_len = env_len;
    p->ahead_bytes.len += env_len;
    a->reply = p->nreplies;
    a->sent = false;
}

void
pass_add_unknown(struct node *n, const char *org_id)
{
    struct pass *p = &n->pass;

    if (p->nunknown == p->capunknown) {
        p->capunknown = p->capunknown ? 2 * p->capunknown : 16;
        p->unknown = xrealloc(p->unknown, p->capunknown * sizeof(*p->unknown));
    }
    snprintf(p->unknown[p->nunknown++], KR_ORG_ID_MAX, "%s", org_id);
}

void
node_pass_begin(struct node *n)
{
    struct pass *p = &n->pass;

    p->id++;
    p->txn = NULL;
    p->err = KR_OK;
    p->now_ms = util_now_ms();
    p->now_mono = util_mono_ms();
    p->nacks = 0;
    p->nreplies = 0;
    p->nunknown = 0;
    p->dir_changed = false;
    p->urgent = false;
    p->inbox_added = false;
    p->awaited = false;
}

/* Someone waits on this pass's commit: an adapter for its reply, the
 * broker for the ack of a delivery (its window) and the adapter for the
 * inbox, a stop. Receipts alone do not: their acks can wait for the next
 * commit, and if the node dies first the broker sends them again. */
static bool
s_pass_urgent(const struct node *n, bool stop)
{
    const struct pass *p = &n->pass;

    return stop || p->err != KR_OK || p->nreplies > 0 || p->urgent ||
           p->dir_changed || p->nunknown > 0;
}

static int
s_pass_commit(struct node *n)
{
    struct pass *p = &n->pass;
    int rc;

    if (p->err != KR_OK) {
        nstore_abort(&p->txn);
        rc = p->err;
    } else if (p->txn == NULL) {
        return KR_OK;
    } else {
        uint64_t t0 = nmetrics_now_us();
        rc = nstore_commit(&p->txn);
        nmetrics_commit_observe(nmetrics_now_us() - t0);
    }
    if (rc == KR_EFULL || rc == KR_EDISKFULL) {
        n->full_failing = true;
        n->full_check_mono = p->now_mono;
    }
    if (rc == KR_EFULL) {
        /* Once, then every S_FULL_LOG_MS with a count: a full store fails
         * every pass until an operator acts. */
        n->full_passes++;
        if (n->full_log_mono == 0 ||
            p->now_mono - n->full_log_mono >= S_FULL_LOG_MS) {
            log_errorx("store: full (map_size_mb=%llu): pass not saved "
                       "failed_passes=%llu; sends are refused and acks held "
                       "back until there is room (raise map_size_mb)",
                       (unsigned long long)n->cfg->map_size_mb,
                       (unsigned long long)n->full_passes);
            n->full_log_mono = p->now_mono;
        }
    } else if (rc == KR_EDISKFULL) {
        /* As for a full map: the store's own line is rate-limited
         * (nstore.c); this one says what it means for the node. */
        n->full_passes++;
        if (n->full_log_mono == 0 ||
            p->now_mono - n->full_log_mono >= S_FULL_LOG_MS) {
            log_errorx("store: disk full at the node: pass not saved "
                       "failed_passes=%llu; sends are refused "
                       "(KR_EDISKFULL) and acks held back until the "
                       "file system has room",
                       (unsigned long long)n->full_passes);
            n->full_log_mono = p->now_mono;
        }
    } else if (rc != KR_OK)
        log_errorx("store: pass not saved: %s", kr_strerror(rc));
    return rc;
}

void
node_pass_end(struct node *n, bool stop)
{
    int rc;

    link_send_ahead(n);
    prov_settle(n);
    if (n->test_early_ack) { /* TEST ONLY: acknowledges before commit */
        link_flush(n, KR_OK);
        n->pass.nacks = 0;
        local_flush(n, KR_OK);
    }
    rc = s_pass_commit(n);
    prov_after_commit(n, rc);
    link_flush(n, rc);
    local_flush(n, rc);
    if (rc == KR_OK && n->pass.inbox_added)
        local_inbox_grew(n);
    if (rc == KR_OK && n->pass.awaited)
        local_outbox_committed(n);
    if (!stop)
        link_pump(n);
}

/*
 * Start and stop
 */

/* mkdir -p, with 0700 for what it creates. */
static int
s_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf))
        return KR_EINVAL;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return KR_ESYS;
        buf[i] = c;
    }
    return KR_OK;
}

static int
s_prepare_dir(struct node *n)
{
    const char *dir = n->cfg->data_dir;
    char path[PATH_MAX];
    struct stat st;

    if (s_mkdirs(dir) != KR_OK || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_errorx("data_dir: cannot create %s: %s", dir, strerror(errno));
        return KR_ESYS;
    }
    if (st.st_mode & 077)
        log_warnx("data_dir: %s is accessible by group or others "
                  "(mode %03o); 0700 is advised",
                  dir, (unsigned)(st.st_mode & 0777));
    /* One node per data_dir: a second one would share LMDB (which
     * allows it) but also take over the local socket. */
    if (snprintf(path, sizeof(path), "%s/node.lock", dir) >= (int)sizeof(path))
        return KR_EINVAL;
    n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (n->lock_fd < 0) {
        log_errorx("data_dir: open %s: %s", path, strerror(errno));
        return KR_ESYS;
    }
    if (flock(n->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        log_errorx("data_dir: %s is in use by another krnode", dir);
        return KR_EEXIST;
    }
    return KR_OK;
}

static int
s_load_keys(struct node *n)
{
    const struct node_config *cfg = n->cfg;
    int rc;

    if (daemon_keys_is_public(cfg->keys)) {
        log_errorx("keys: %s is the PUBLIC key file: give the .secret file "
                   "that krctl keygen wrote beside it",
                   cfg->keys);
        return KR_EINVAL;
    }
    rc = kcrypto_keys_load(cfg->keys, &n->keys);
    if (rc == KR_EPERM) {
        log_errorx("keys: %s is accessible by group or others, or not a "
                   "regular file: refusing to start (chmod 600 it)",
                   cfg->keys);
        return rc;
    }
    if (rc != KR_OK) {
        log_errorx("keys: cannot load %s: %s", cfg->keys, kr_strerror(rc));
        return rc;
    }
    rc = kcrypto_pubkeys_load(cfg->broker_key, &n->broker_pub);
    if (rc != KR_OK) {
        log_errorx("broker_key: cannot load %s: %s", cfg->broker_key,
                   kr_strerror(rc));
        return rc;
    }
    if (cfg->coalition_key[0] != '\0') {
        rc = kcrypto_coalition_key_load(cfg->coalition_key, &n->coalition);
        if (rc == KR_EPERM) {
            log_errorx("coalition_key: %s is accessible by group or others: "
                       "refusing to start (chmod 600 it)",
                       cfg->coalition_key);
            return rc;
        }
        if (rc != KR_OK) {
            log_errorx("coalition_key: cannot load %s: %s", cfg->coalition_key,
                       kr_strerror(rc));
            return rc;
        }
    }
    if (cfg->previous_coalition_key[0] != '\0') {
        rc = kcrypto_coalition_key_load(cfg->previous_coalition_key,
                                        &n->prev_coalition);
        if (rc != KR_OK) {
            log_errorx("previous_coalition_key: cannot load %s: %s%s",
                       cfg->previous_coalition_key, kr_strerror(rc),
                       rc == KR_EPERM ? " (chmod 600 it)" : "");
            return rc;
        }
        if (n->coalition == NULL ||
            n->prev_coalition->version == n->coalition->version) {
            log_errorx("previous_coalition_key: needs coalition_key, of "
                       "another version");
            return KR_EINVAL;
        }
    }
    return KR_OK;
}

int
node_open(struct node_config *cfg, struct node **out)
{
    struct node *n = xcalloc(1, sizeof(*n));
    char path[PATH_MAX], sign_id[KR_KEY_ID_LEN];
    int rc;

    n->cfg = cfg;
    n->lock_fd = -1;
    arena_init(&n->pb, NODE_ARENA_BYTES);
    peers_init(&n->peers);
    if ((rc = kcrypto_init()) != KR_OK)
        goto fail;
    /* Keys first: a node that will not start leaves no directory. */
    if ((rc = s_load_keys(n)) != KR_OK)
        goto fail;
    if ((rc = s_prepare_dir(n)) != KR_OK)
        goto fail;
    if (snprintf(path, sizeof(path), "%s/node.mdb", cfg->data_dir) >=
        (int)sizeof(path)) {
        rc = KR_EINVAL;
        goto fail;
    }
    rc = nstore_open(path, (size_t)cfg->map_size_mb << 20, &n->store);
    if (rc != KR_OK)
        goto fail;
    nstore_prefill(n->store, cfg->prefill_mb << 20);
    /* For the power-cut tests only: never set in a deployment. */
    if (getenv("KRNODE_TEST_EARLY_ACK") != NULL) {
        n->test_early_ack = true;
        log_warnx("loop: KRNODE_TEST_EARLY_ACK: this node acknowledges "
                  "before its commit on purpose (a test)");
    }
    if ((rc = prov_recover(n)) != KR_OK)
        goto fail;
    if ((rc = peers_load(&n->peers, n->store)) != KR_OK)
        goto fail;
    if ((rc = seal_init(&n->seal, n->keys, &n->pb)) != KR_OK)
        goto fail;
    if (cfg->previous_keys[0] != '\0' &&
        (rc = seal_load_previous(&n->seal, cfg->previous_keys)) != KR_OK)
        goto fail;
    if ((n->zctx = zmq_ctx_new()) == NULL) {
        log_errorx("zmq: context: %s", zmq_strerror(errno));
        rc = KR_ESYS;
        goto fail;
    }
    if ((rc = local_open(n)) != KR_OK)
        goto fail;
    if ((rc = link_open(n)) != KR_OK)
        goto fail;
    if ((rc = workers_open(workers_default(), &n->workers)) != KR_OK)
        goto fail;
    kcrypto_key_id(n->keys->pub.sign, sign_id);
    log_info("ready org=%s local=%s broker=%s sign_key=%s", cfg->org,
             n->local.endpoint, cfg->broker, sign_id);
    *out = n;
    return KR_OK;
fail:
    node_close(&n);
    return rc;
}

void
node_close(struct node **np)
{
    struct node *n = *np;

    if (n == NULL)
        return;
    nstore_abort(&n->pass.txn);
    workers_close(&n->workers);
    link_close(n);
    local_close(n);
    if (n->zctx != NULL)
        zmq_ctx_term(n->zctx);
    peers_fini(&n->peers);
    seal_fini(&n->seal);
    nstore_close(&n->store);
    kcrypto_keys_destroy(&n->keys);
    kcrypto_coalition_key_destroy(&n->coalition);
    kcrypto_coalition_key_destroy(&n->prev_coalition);
    if (n->lock_fd >= 0)
        close(n->lock_fd);
    for (size_t i = 0; i < n->pass.nreplies; i++)
        free(n->pass.replies[i].data);
    free(n->pass.replies);
    free(n->pass.ahead);
    buf_free(&n->pass.ahead_bytes);
    free(n->pass.acks);
    free(n->pass.unknown);
    prov_free(n);
    arena_fini(&n->pb);
    free(n);
    *np = NULL;
}

/*
 * The loop
 */

/* After passes failed for a full map or disk: once a second, whether
 * there is room again; then a Hello, so that the broker sends again at
 * once what this node could not store (its resends have backed off). */
static void
s_full_timer(struct node *n)
{
    if (!n->full_failing || n->pass.now_mono - n->full_check_mono < 1000)
        return;
    n->full_check_mono = n->pass.now_mono;
    if (nstore_room(n->store, n->pass.now_mono, NULL) != KR_OK)
        return;
    n->full_failing = false;
    if (n->link.connected) {
        log_warnx("store: room again: saying Hello so that the broker "
                  "sends again what was not stored");
        /* As prov_timers does: the broker rewinds our queue and sends
         * again what it committed, held deliveries included. */
        prov_drop_waiting(n, "room again after a full store");
        n->link.hello_due = true;
    }
}

/* Each byte of the pipe is a signal number (main.c): SIGHUP reloads and
 * never stops; any other stops (this pass still runs and commits).
 * Returns whether to stop. */
static bool
s_signals(struct node *n, int fd)
{
    char buf[16], name[32];
    ssize_t got;
    bool stop = false, reload = false;

    while ((got = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == SIGHUP) {
                reload = true;
            } else if (n->exit_signal == 0) {
                n->exit_signal = buf[i];
                stop = true;
            }
        }
    }
    if (stop) {
        const char *sig =
            daemon_signal_name(n->exit_signal, name, sizeof(name));
        log_info("stopping: %s received", sig);
        daemon_notify_stopping(sig);
    } else if (reload) {
        node_reload(n);
    }
    return stop;
}

int
node_run(struct node *n, int stop_fd)
{
    bool stop = false, open = false;
    uint64_t commit_by = 0; /* a deferred pass commits by then (mono) */

    while (!stop) {
        zmq_pollitem_t items[] = {
            {n->link.sock, 0, ZMQ_POLLIN, 0},
            {n->link.mon, 0, ZMQ_POLLIN, 0},
            {n->local.sock, 0, ZMQ_POLLIN, 0},
            {NULL, stop_fd, ZMQ_POLLIN, 0},
        };
        /* Timers (resends, parked sends, reconnects) need a short wait;
         * an idle node wakes once a second. */
        long timeout = link_busy(n) || n->local.nparked > 0 ? 50 : 1000;

        timeout = local_timeout(n, timeout);
        if (commit_by != 0) {
            uint64_t mono = util_mono_ms();
            long left = commit_by > mono ? (long)(commit_by - mono) : 0;
            if (left < timeout)
                timeout = left;
        }

        if (zmq_poll(items, 4, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_errorx("loop: poll: %s", zmq_strerror(errno));
            return KR_ESYS;
        }
        if (items[3].revents & ZMQ_POLLIN)
            stop = s_signals(n, stop_fd) || stop;
        nmetrics_tick(n);
        if (open) {
            /* A deferred pass goes on: new work joins its transaction. */
            n->pass.now_ms = util_now_ms();
            n->pass.now_mono = util_mono_ms();
        } else {
            node_pass_begin(n);
            open = true;
        }
        /* Every socket is read, not only those the poll found readable:
         * what arrived while this pass worked joins it and its commit.
         * Reading only the readable ones saves ZeroMQ's two system calls
         * per empty read, but measured no better (e2e burst -6% in four
         * pairs on a tmpfs, where the same build against itself varies
         * by 3-4%). Reading again while a round found something measured
         * worse (-10%). */
        link_on_monitor(n);
        link_drain(n);
        if (n->prov.show_now)
            local_inbox_shown(n);
        local_drain(n);
        if (n->pass.dir_changed || n->pass.nunknown > 0)
            local_on_directory(n);
        prov_timers(n);
        s_full_timer(n);
        local_timers(n);
        node_retention(n);
        if (stop)
            local_stop(n);
        /* A pass of receipts alone waits up to S_DEFER_MS so that one
         * fsync covers it and the next pass's work. No flush or pump
         * meanwhile: its acks must not leave before the commit. */
        if (n->pass.txn != NULL && !s_pass_urgent(n, stop)) {
            if (commit_by == 0)
                commit_by = util_mono_ms() + S_DEFER_MS;
            if (util_mono_ms() < commit_by)
                continue;
        }
        commit_by = 0;
        open = false;
        node_pass_end(n, stop);
    }
    return KR_OK;
}
