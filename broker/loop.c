/*
 * loop.c - the event loop and the group commit.
 *
 * A pass: wait on the sockets; read up to max_frames_per_pass frames and
 * apply them in ONE LMDB write transaction; commit; only then send the
 * receipts the commit made true; then pump deliveries. A receipt that says
 * ACCEPTED is therefore never sent for a message that is not on disk, and
 * one fsync covers every message of the pass.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include "broker.h"
#include "bstore.h"
#include "log.h"
#include "metrics.h"
#include "names.h"

#define S_ACK_LIMIT_MAX (1u << 20)
#define S_DEFER_MS 2 /* longest a pass of acks alone waits for its commit */

/* Receipts waiting for the pass to commit. */
struct s_reply {
    size_t conn; /* index into s_conns */
    Kr__V1__Receipt r;
    uint8_t id[16];
    char detail[256];
};

struct s_conn {
    uint8_t rid[BROKER_ROUTING_ID_MAX];
    size_t len;
};

/* Reused across passes so that the hot path does not allocate. */
static struct s_reply *s_replies;
static size_t s_nreplies, s_replies_cap;
static struct s_conn *s_conns;
static size_t s_nconns, s_conns_cap;
static Kr__V1__Receipt **s_rptrs;
/* Failed passes, for the log: in a full store every pass fails alike. */
static struct log_every s_failed_log;
static size_t s_rptrs_cap;

MDB_txn *
broker_txn(struct broker *b)
{
    if (b->txn == NULL && bstore_begin(b->store, false, &b->txn) != 0)
        b->txn = NULL;
    return b->txn;
}

static size_t
s_conn_index(const uint8_t *rid, size_t len)
{
    for (size_t i = 0; i < s_nconns; i++)
        if (s_conns[i].len == len && memcmp(s_conns[i].rid, rid, len) == 0)
            return i;
    if (s_nconns == s_conns_cap) {
        s_conns_cap = s_conns_cap ? 2 * s_conns_cap : 16;
        s_conns = xrealloc(s_conns, s_conns_cap * sizeof(*s_conns));
    }
    memcpy(s_conns[s_nconns].rid, rid, len);
    s_conns[s_nconns].len = len;
    return s_nconns++;
}

void
broker_reply_receipt(struct broker *b, const uint8_t *rid, size_t rid_len,
                     const uint8_t msg_id[16], int outcome, int reason,
                     const char *detail)
{
    if (s_nreplies == s_replies_cap) {
        s_replies_cap = s_replies_cap ? 2 * s_replies_cap : 256;
        s_replies = xrealloc(s_replies, s_replies_cap * sizeof(*s_replies));
    }
    struct s_reply *p = &s_replies[s_nreplies++];
    p->conn = s_conn_index(rid, rid_len);
    kr__v1__receipt__init(&p->r);
    if (msg_id != NULL)
        memcpy(p->id, msg_id, 16);
    p->r.msg_id.data = p->id;
    p->r.msg_id.len = msg_id != NULL ? 16 : 0;
    p->r.outcome = outcome;
    p->r.reason = reason;
    snprintf(p->detail, sizeof(p->detail), "%s", detail ? detail : "");
    p->r.detail = p->detail;
    p->r.at_ms = b->now_ms;
}

int
broker_send_frame(struct broker *b, const uint8_t *rid, size_t rid_len,
                  const Kr__V1__Frame *f)
{
    buf_pack(&b->packbuf, &f->base);
    if (zmq_send(b->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return errno == EAGAIN ? KR_EFULL : KR_EUNAVAIL;
    if (zmq_send(b->router, b->packbuf.data, b->packbuf.len, ZMQ_DONTWAIT) < 0)
        return errno == EAGAIN ? KR_EFULL : KR_EUNAVAIL;
    return KR_OK;
}

void
broker_send_error(struct broker *b, const uint8_t *rid, size_t rid_len,
                  int reason, const char *detail, bool fatal)
{
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__FrameError e = KR__V1__FRAME_ERROR__INIT;

    f.version = KR__V1__VERSION__VERSION_1;
    e.reason = reason;
    e.detail = (char *)detail;
    e.fatal = fatal;
    f.error = &e;
    broker_send_frame(b, rid, rid_len, &f);
}

/* Commit the pass. On failure nothing of it happened: every ACCEPTED
 * becomes a refusal the sender retries, and every node is rewound so that
 * acknowledgements lost with the pass are asked for again. */
static bool
s_commit(struct broker *b, bool test_fail)
{
    int rc = KR_OK;

    uint32_t acks = b->acks_in_pass;

    b->acks_in_pass = 0;
    b->items_in_pass = 0;
    b->new_in_pass = 0;
    if (b->txn != NULL) {
        rc = deliver_persist_seqs(b);
        if (rc == KR_OK && test_fail) {
            log_errorx("loop: test: this commit fails (KRBROKER_TEST_FAIL_"
                       "COMMIT)");
            rc = KR_ESTORE;
        }
        if (rc == KR_OK) {
            uint64_t t0 = metrics_now_us();
            rc = bstore_commit(b->txn);
            metrics_commit_observe(metrics_now_us() - t0);
        } else
            bstore_abort(b->txn);
        b->txn = NULL;
    }
    if (bstore_full_seen() && rc != KR_OK)
        rc = KR_EFULL;
    if (rc == KR_OK) {
        uint64_t dur, n;
        log_every_clear(&s_failed_log, util_mono_ms(), &dur, &n);
        if (acks > 0 && b->ack_limit < S_ACK_LIMIT_MAX)
            b->ack_limit *= 2;
        metrics_pass_end(b, true);
        return true;
    }
    /* Deleting needs pages too (copy on write), so in a full store a pass
     * of many acks can fail where a few would fit. Halve the acks per pass
     * until they fit: a full broker must still be able to drain. */
    bool full = rc == KR_EFULL || rc == KR_EDISKFULL;
    if (full && acks > 1)
        b->ack_limit = acks / 2;
    /* A full map or a full disk: refuse submits for a moment (full.c). */
    int reason = full ? full_commit_failed(b, rc) : KR__V1__REASON__INTERNAL;
    const char *why =
        rc == KR_EDISKFULL ? "the broker's disk is full" : kr_strerror(rc);
    b->commits_failed++;
    uint64_t unlogged;
    if (log_every_hit(&s_failed_log, util_mono_ms(), 10000, &unlogged))
        log_errorx("loop: pass not committed: %s: refusing its messages "
                   "reason=%s failed_since_last_line=%llu",
                   why, reason_name(reason), (unsigned long long)unlogged);
    metrics_pass_end(b, false); /* nothing of it happened */
    for (size_t i = 0; i < s_nreplies; i++) {
        if (s_replies[i].r.outcome == KR__V1__OUTCOME__ACCEPTED) {
            metrics_refused(b, reason);
            s_replies[i].r.outcome = KR__V1__OUTCOME__REFUSED;
            s_replies[i].r.reason = reason;
            snprintf(s_replies[i].detail, sizeof(s_replies[i].detail),
                     "not stored: %s; retry later", why);
        }
    }
    metrics_pass_end(b, true); /* the refusals that replace them */
    ORGS_FOREACH(b, o)
    deliver_rewind(o);
    deliver_forget_reserved(b);
    bstore_reload_after_abort(b->store);
    return false;
}

/* Send the pass's receipts, one frame per connection. */
static void
s_flush(struct broker *b)
{
    if (s_rptrs_cap < s_nreplies) {
        s_rptrs_cap = s_nreplies;
        s_rptrs = xrealloc(s_rptrs, s_rptrs_cap * sizeof(*s_rptrs));
    }
    for (size_t c = 0; c < s_nconns; c++) {
        size_t n = 0;
        for (size_t i = 0; i < s_nreplies; i++) {
            struct s_reply *p = &s_replies[i];
            if (p->conn != c)
                continue;
            /* The array may have moved since the receipt was queued
             * (xrealloc as it grew): point into where it is now. */
            if (p->r.msg_id.len != 0)
                p->r.msg_id.data = p->id;
            p->r.detail = p->detail;
            s_rptrs[n++] = &p->r;
        }
        if (n == 0)
            continue;
        Kr__V1__Frame f = KR__V1__FRAME__INIT;
        f.version = KR__V1__VERSION__VERSION_1;
        f.n_receipt = n;
        f.receipt = s_rptrs;
        if (broker_send_frame(b, s_conns[c].rid, s_conns[c].len, &f) != 0)
            log_debug("loop: receipts not sent: peer gone or full n=%zu", n);
    }
    s_nreplies = 0;
    s_nconns = 0;
}

void
broker_handle_frame(struct broker *b, const char *org_id, const uint8_t *rid,
                    size_t rid_len, const uint8_t *bytes, size_t len)
{
    struct org *o = org_id != NULL ? orgs_find(b, org_id) : NULL;

    if (o == NULL || o->suspended) {
        /* Suspended after its handshake: it is served no more. libzmq
         * cannot close one ROUTER peer, so the node is told to go. */
        broker_send_error(b, rid, rid_len,
                          o ? KR__V1__REASON__SENDER_SUSPENDED
                            : KR__V1__REASON__NOT_AUTHORISED,
                          o ? "organisation suspended"
                            : "connection has no organisation",
                          true);
        if (o != NULL && o->connected && o->rid_len == rid_len &&
            memcmp(o->rid, rid, rid_len) == 0)
            o->connected = false;
        return;
    }
    /* The frame and all that its handling unpacks live in one arena
     * scope: gone at once at the end, without a malloc per field. */
    struct arena_mark mark = arena_mark(&b->pb);
    Kr__V1__Frame *f =
        kr__v1__frame__unpack(arena_allocator(&b->pb), len, bytes);
    if (f == NULL) {
        arena_release(&b->pb, mark);
        log_warnx("loop: org=%s: frame does not parse bytes=%zu", o->id, len);
        broker_send_error(b, rid, rid_len, KR__V1__REASON__MALFORMED,
                          "frame does not parse as kr.v1.Frame", false);
        return;
    }
    if (f->version != KR__V1__VERSION__VERSION_1) {
        broker_send_error(b, rid, rid_len, KR__V1__REASON__BAD_VERSION,
                          "frame version is not 1", false);
        goto done;
    }
    if (f->hello != NULL)
        handle_hello(b, o, rid, rid_len, f->hello);
    if (f->dir_request != NULL)
        handle_dir_request(b, rid, rid_len, f->dir_request);
    if (f->coalition_query != NULL)
        handle_referral_query(b, o, rid, rid_len, f->coalition_query);
    b->items_in_pass += f->n_ack + f->n_submit;
    for (size_t i = 0; i < f->n_ack; i++) {
        if (b->acks_in_pass >= b->ack_limit) {
            /* Over this pass's budget: leave the rest unapplied and send
             * the node its unacknowledged items again, so that their acks
             * come back in a later pass. */
            deliver_rewind(o);
            break;
        }
        b->acks_in_pass++;
        handle_ack(b, o, f->ack[i]);
    }
    for (size_t i = 0; i < f->n_submit; i++)
        handle_submit(b, o, rid, rid_len, f->submit[i]);
done:
    arena_release(&b->pb, mark);
}

/* Read at most 'max' frames without blocking. */
static void
s_read_router(struct broker *b, uint64_t max)
{
    /* A pass ends at max frames or at max_items_per_pass items, whichever
     * comes first. A pass that drains every frame waiting takes a busy
     * producer's whole window, and the producer idles until that commit;
     * bounded passes let one pass's receipts go out while the next is
     * read (krbench, window 256: 41k -> 47k msg/s at 512 items; 128 is
     * too few, the commits no longer amortise). Frames are never split. */
    for (uint64_t n = 0;
         n < max && b->items_in_pass < b->cfg.max_items_per_pass; n++) {
        zmq_msg_t rid, body;
        zmq_msg_init(&rid);
        if (zmq_msg_recv(&rid, b->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            return;
        }
        zmq_msg_init(&body);
        if (!zmq_msg_more(&rid) ||
            zmq_msg_recv(&body, b->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            zmq_msg_close(&body);
            continue;
        }
        if (zmq_msg_more(&body)) {
            /* One frame per message is the protocol: drop extra parts. */
            int more = 1;
            while (more) {
                zmq_msg_t extra;
                zmq_msg_init(&extra);
                if (zmq_msg_recv(&extra, b->router, ZMQ_DONTWAIT) < 0)
                    more = 0;
                else
                    more = zmq_msg_more(&extra);
                zmq_msg_close(&extra);
            }
            broker_send_error(b, zmq_msg_data(&rid), zmq_msg_size(&rid),
                              KR__V1__REASON__MALFORMED,
                              "a message must be one frame", false);
        } else if (zmq_msg_size(&rid) <= BROKER_ROUTING_ID_MAX) {
            broker_handle_frame(b, zmq_msg_gets(&body, "User-Id"),
                                zmq_msg_data(&rid), zmq_msg_size(&rid),
                                zmq_msg_data(&body), zmq_msg_size(&body));
        }
        zmq_msg_close(&rid);
        zmq_msg_close(&body);
    }
}

static void
s_drain_signals(struct broker *b)
{
    char c[16], name[32];
    ssize_t n;
    bool reload = false;

    /* Each byte is a signal number (main.c): SIGHUP reloads, and never
     * stops; any other stops, and is named in the last log line. */
    while ((n = read(b->sig_fd, c, sizeof(c))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (c[i] == SIGHUP) {
                reload = true;
            } else if (!b->stopping) {
                b->stopping = true;
                b->exit_signal = c[i];
                daemon_notify_stopping(
                    daemon_signal_name(c[i], name, sizeof(name)));
            }
        }
    }
    if (reload && !b->stopping)
        broker_reload(b);
}

/* KRBROKER_TEST_HANG_BEFORE_COMMIT: stop between the early deliveries and
 * the commit, for good, so that a test can kill -9 the broker there: a
 * crash at exactly that point. The loop thread stops; ZeroMQ's I/O thread
 * goes on and delivers what was sent (an exit here could lose it). */
static void __attribute__((noreturn)) s_test_hang(void)
{
    log_errorx("loop: test: stopped before a commit, after early deliveries "
               "(KRBROKER_TEST_HANG_BEFORE_COMMIT)");
    for (;;)
        pause();
}

/* The test faults (main.c) wait for a pass that sent a new message early,
 * not one that only sent old ones again. Returns whether this pass's
 * commit is to fail; a hang does not return. */
static bool
s_test_fault(struct broker *b, size_t early_sent)
{
    if (early_sent == 0 || b->new_in_pass == 0)
        return false;
    if (b->test_hang_after_early != 0 && --b->test_hang_after_early == 0)
        s_test_hang();
    return b->test_fail_after_early != 0 && --b->test_fail_after_early == 0;
}

int
broker_run(struct broker *b)
{
    zmq_pollitem_t items[] = {
        {b->router, 0, ZMQ_POLLIN, 0},
        {b->admin, 0, ZMQ_POLLIN, 0},
        {b->zap, 0, ZMQ_POLLIN, 0},
        {NULL, b->sig_fd, ZMQ_POLLIN, 0},
    };

    b->ack_limit = S_ACK_LIMIT_MAX;
    b->started_mono_ms = util_mono_ms();
    randombytes_buf(&b->pass_id, sizeof(b->pass_id));
    b->pass_id = (b->pass_id >> 2) + 1; /* never 0, never wraps */
    /* The cron measures the store's free space before the first submit. */
    b->now_ms = util_now_ms();
    deliver_cron(b);
    s_commit(b, false);
    b->next_cron_ms = util_mono_ms() + 100;
    log_info("loop: serving");
    metrics_serving(b, true);
    daemon_notify_ready("serving");
    uint64_t commit_by = 0; /* a deferred pass commits by then (mono) */
    while (!b->stopping) {
        uint64_t mono = util_mono_ms();
        uint64_t wake = b->next_cron_ms;
        if (commit_by != 0 && commit_by < wake)
            wake = commit_by;
        long timeout = wake > mono ? (long)(wake - mono) : 0;
        if (zmq_poll(items, 4, timeout) < 0 && errno != EINTR) {
            log_errorx("loop: poll: %s", zmq_strerror(errno));
            return KR_ESYS;
        }
        b->now_ms = util_now_ms();
        if (items[3].revents & ZMQ_POLLIN)
            s_drain_signals(b);
        if (items[2].revents & ZMQ_POLLIN)
            auth_handle(b);
        if (items[0].revents & ZMQ_POLLIN)
            s_read_router(b, b->cfg.max_frames_per_pass);
        if (util_mono_ms() >= b->next_cron_ms) {
            deliver_cron(b);
            metrics_cron(b);
            b->next_cron_ms = util_mono_ms() + 100;
        }
        /* Commit when someone waits on it: a receipt of this pass, the
         * admin socket, a stop. A pass of acknowledgements alone (and the
         * cron's work) waits for the next commit, S_DEFER_MS at most, so
         * that one fsync covers it and the next pass's messages. Nothing
         * is lost by waiting: what it would make true (a DELIVERED receipt
         * in the sender's queue) is pumped only once committed, and acks
         * lost in a crash are asked for again. */
        bool urgent = s_nreplies > 0 || (items[1].revents & ZMQ_POLLIN) ||
                      b->stopping ||
                      b->items_in_pass >= b->cfg.max_items_per_pass;
        if (b->txn != NULL && !urgent) {
            if (commit_by == 0)
                commit_by = util_mono_ms() + S_DEFER_MS;
            /* No pump either: it reads committed state only, and would
             * mark clean a queue whose new items it cannot yet see. */
            if (util_mono_ms() < commit_by)
                continue;
        }
        /* The pass's deliveries leave now and are verified and stored by
         * their recipients while this commit runs (deliver.c, "Early
         * delivery"); the results follow the commit. */
        bool fail = s_test_fault(b, deliver_pump_early(b));
        if (b->test_early_ack != 0)
            s_flush(b); /* TEST ONLY: acknowledges before the commit */
        bool committed = s_commit(b, fail);
        deliver_send_results(b, committed);
        referral_query_flush(b, committed);
        commit_by = 0;
        s_flush(b);
        if (items[1].revents & ZMQ_POLLIN)
            admin_handle(b);
        deliver_pump(b);
    }
    metrics_serving(b, false);
    log_info("loop: stopping: pass committed, exiting");
    return KR_OK;
}

/* The fuzz targets' end of a pass (tests/fuzz/): the steps broker_run
 * takes after reading, in its order (early deliveries, commit, their
 * results, receipts, pump), without its test faults. */
void
broker_end_pass(struct broker *b)
{
    deliver_pump_early(b);
    bool committed = s_commit(b, false);
    deliver_send_results(b, committed);
    referral_query_flush(b, committed);
    s_flush(b);
    deliver_pump(b);
}

void
broker_reset(void)
{
    free(s_replies);
    free(s_conns);
    free(s_rptrs);
    s_replies = NULL;
    s_conns = NULL;
    s_rptrs = NULL;
    s_nreplies = s_replies_cap = s_nconns = s_conns_cap = s_rptrs_cap = 0;
    referral_query_reset();
}
