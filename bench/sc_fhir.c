/*
 * sc_fhir.c - the FHIR gateway's cost: referrals as FHIR message Bundles
 * POSTed at organisation A's krfhir until their Task is readable at
 * organisation B's krfhir, paced at 100 msgs/s; beside it, in the same
 * run and cluster, the same messages through libkr (kr_send_json at A
 * until kr_referral_json answers at the receiver), also at 100/s. The
 * issue's target: the gateway adds at most 1 ms to the p50.
 *
 * The libkr path's receiver is C, an organisation of B's kind whose node
 * is configured as B's, but without a gateway: at B, krfhir's notifier
 * works on every message that arrives, and B's inbox read through libkr
 * would be read by two systems at once. With its own receiver each path
 * meets at the receiving end only its own reader, as an organisation
 * that is told one way would; A, its node and the broker are shared.
 *
 * How time is taken: a message starts at its scheduled moment (its
 * sender sleeps until then, so a late sender is not hidden); it ends when
 * the receiver's system has read it, told as each of three paths tells
 * it: through libkr, C's inbox (a long poll) and then kr_referral_json
 * answering; through krfhir told by its rest-hook, the notification
 * (krbench listens) and then GET /Task/{id} answering 200; through
 * krfhir's own long poll, GET /Task?_lastUpdated=gt...&_wait=1 answering
 * with the Task in its searchset. Both ways mark what was read processed
 * at the node (a commit each): krfhir by default (mark_processed), and the
 * libkr path's reader by handing it to S_MARKERS marker threads, as
 * krfhir does, so that both paths do the same durable work. The receiver
 * does not wait for A's answer to A's client; when A answered (the POST,
 * which waits for the broker's answer; the send, which does not) is a
 * figure of its own ("sent"). The paths run in turn in blocks of S_BLOCK
 * messages, each round starting with the next path, so that a machine
 * whose load drifts weighs on all alike. B's krfhir notifies of the
 * messages of both its paths (its rest-hook is configured), but krbench's
 * long poll asks only during its own blocks: a system is told one way.
 * Each message gets its own referral_id (Task.identifier), so the
 * receiver's answer names exactly it. The kansrijk descriptions of the
 * libkr path are made from the same Bundles by the same mapper
 * (fhir_in_message) before the clock.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bench.h"
#include "bench_http.h"
#include "fhir_in.h"
#include "util.h"

#include "sc_fhir.h"

struct s_worker {
    struct s_run *r;
    int k;
};

static void s_fail(struct s_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
s_fail(struct s_run *r, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&r->err_lock);
    if (r->err[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(r->err, sizeof(r->err), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&r->err_lock);
    atomic_store(&r->stop, 1);
}

/* One block's messages of sender w->k: handed to A at their moments. */
static void
s_send_block(struct s_worker *w, kr_client_t *ka)
{
    struct s_run *r = w->r;
    int p = atomic_load(&r->path), rc;
    char err[256], mid[KR_MSG_ID_HEX_LEN];

    for (uint64_t i = r->lo + (uint64_t)w->k;
         i < r->hi && !atomic_load(&r->stop); i += S_WORKERS) {
        uint64_t at = r->t0 + (i - r->lo) * r->interval_ns;
        bench_sleep_until_ns(at);
        __atomic_store_n(&r->sched[p][i], at, __ATOMIC_RELEASE);
        if (p != 0) {
            rc = bench_http(r->port_a, "POST", "/$process-message",
                            r->bundles[p][i], strlen(r->bundles[p][i]), NULL);
            if (rc != 200) {
                s_fail(r, "message %llu: POST /$process-message: %d",
                       (unsigned long long)i, rc);
                break;
            }
        } else {
            rc = kr_send_json(ka, r->descs[i], strlen(r->descs[i]), mid, err,
                              sizeof(err));
            if (rc != KR_OK) {
                s_fail(r, "message %llu: kr_send_json: %s: %s",
                       (unsigned long long)i, kr_strerror(rc), err);
                break;
            }
        }
        r->sent[p][i] = bench_now_ns() - at;
    }
}

/* A sender, for the whole scenario: its share of each block's messages,
 * through its own client of A's node and its own connection to A's
 * gateway, both kept from block to block as a system's would be (a new
 * connection costs the gateway a thread). */
static void *
s_sender_main(void *arg)
{
    struct s_worker *w = arg;
    struct s_run *r = w->r;
    kr_client_t *ka = NULL;
    uint64_t done = 0;
    int rc;

    if ((rc = kr_client_connect(r->node_a, S_CLIENT_MS, &ka)) != KR_OK)
        s_fail(r, "sender %d: connect: %s", w->k, kr_strerror(rc));
    /* Bounded by quit, set at the scenario's end. */
    for (;;) {
        pthread_mutex_lock(&r->blk_lock);
        while (r->blk_gen == done && !atomic_load(&r->quit))
            pthread_cond_wait(&r->blk_cv, &r->blk_lock);
        done = r->blk_gen;
        pthread_mutex_unlock(&r->blk_lock);
        if (atomic_load(&r->quit))
            break;
        if (ka != NULL)
            s_send_block(w, ka);
        pthread_mutex_lock(&r->blk_lock);
        r->blk_done++;
        pthread_cond_broadcast(&r->blk_cv);
        pthread_mutex_unlock(&r->blk_lock);
    }
    kr_client_destroy(&ka);
    bench_http_close();
    return NULL;
}

/* Message i of path p is at the receiver's system: note when (once). */
static void
s_seen(struct s_run *r, int p, uint64_t i)
{
    uint64_t at = __atomic_load_n(&r->sched[p][i], __ATOMIC_ACQUIRE);
    uint64_t now = bench_now_ns(), zero = 0;

    if (at == 0)
        return; /* not ours (yet) */
    if (__atomic_compare_exchange_n(&r->lat[p][i], &zero,
                                    now > at ? now - at : 1, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        atomic_fetch_add(&r->nseen[p], 1);
}

/* A notification's body: the message of the gateway path it names; false
 * if it names none (another path's, or one already read). */
static bool
s_hook_note(struct s_run *r, const char *body, uint64_t *idx)
{
    const char *t = strstr(body, "/Task/");
    uint8_t id[16];
    char hex[KR_MSG_ID_HEX_LEN];

    if (t == NULL || strlen(t) < 6 + 32)
        return false;
    memcpy(hex, t + 6, 32);
    hex[32] = '\0';
    return util_unhex(hex, id, 16) == 0 &&
           bench_msg_index(r->prefix[1], id, 16, idx) && *idx < r->n &&
           __atomic_load_n(&r->lat[1][*idx], __ATOMIC_ACQUIRE) == 0;
}

/* The FHIR path's reader: B's system as krfhir tells it, the rest-hook
 * (bench_http_listen, on a kept connection). It runs through the whole
 * scenario (B's krfhir notifies of the long poll's referrals too). A
 * notification of the gateway path's message is answered once its Task
 * has been read, GET /Task/{id} at B, in the listener's thread: 200 when
 * it was, else 500, so that krfhir notifies again. A system that
 * answers a notification only once it holds what it announced is told
 * of every change at least once, not only pinged; and, as the libkr
 * path's reader reads the referral in the thread that took the inbox
 * item, no hand-over between krbench's own threads is counted against
 * the gateway. */
static bool
s_hook_on(void *arg, const char *body)
{
    struct s_run *r = arg;
    char path[64];
    uint64_t idx;

    if (!s_hook_note(r, body, &idx))
        return true;
    snprintf(path, sizeof(path), "/Task/%s", r->rids[1][idx]);
    if (bench_http(r->port_b, "GET", path, NULL, 0, NULL) != 200)
        return false;
    s_seen(r, 1, idx);
    return true;
}

static void *
s_hook_main(void *arg)
{
    struct s_run *r = arg;

    bench_http_listen(r->hook_fd, &r->quit, s_hook_on, r);
    bench_http_close();
    return NULL;
}

/* A FHIR instant (YYYY-MM-DDTHH:MM:SS[.fff]Z) in ms since the epoch; 0
 * if it is not one. */
static uint64_t
s_instant_ms(const char *s)
{
    struct tm tm;
    int ms = 0, n = 0;

    memset(&tm, 0, sizeof(tm));
    if (s == NULL ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return 0;
    if (s[n] == '.' && sscanf(s + n, ".%3d", &ms) != 1)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t > 0 ? (uint64_t)t * 1000u + (uint64_t)ms : 0;
}

/* The long poll's reader (path [2]): B's system as it asks the gateway
 * itself, GET /Task?_lastUpdated=gt<the latest meta.lastUpdated seen>
 * &_wait=1, following the next links; a Task in the answer is read (the
 * searchset holds it whole). meta.lastUpdated is B's node time of the
 * state (ms) at the node pass that stored it; a pass's referrals commit
 * together and passes follow each other, so the cursor passes none. */
static void *
s_poll_main(void *arg)
{
    struct s_run *r = arg;
    uint64_t cursor = 0;
    char path[1200];
    int fails = 0;

    /* Bounded by quit: each long poll ends within about a second, and
     * between its blocks the reader looks every millisecond. */
    while (!atomic_load(&r->quit) && !atomic_load(&r->stop)) {
        /* It asks during its own blocks only, from a second before each:
         * an organisation is told one way, and a search that another
         * path's message sets off is no cost of that path's. */
        if (atomic_load(&r->path) != 2) {
            cursor = 0;
            bench_sleep_ns(1000000);
            continue;
        }
        if (cursor == 0)
            cursor = (uint64_t)(time(NULL) - 1) * 1000u;
        time_t sec = (time_t)(cursor / 1000u);
        struct tm tm;
        char at[32];
        uint64_t best = cursor;
        bool whole = true; /* every page read: the cursor may move */
        gmtime_r(&sec, &tm);
        strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(path, sizeof(path), "/Task?_lastUpdated=gt%s.%03uZ&_wait=1",
                 at, (unsigned)(cursor % 1000u));
        for (int pg = 0; pg < 100 && path[0] != '\0'; pg++) {
            char *body = NULL;
            int st = bench_http(r->port_b, "GET", path, NULL, 0, &body);
            json_object *b = body != NULL ? json_tokener_parse(body) : NULL;
            json_object *entries = NULL, *links = NULL, *v;
            free(body);
            path[0] = '\0';
            if (st != 200 || b == NULL) {
                /* A 503 (the node slow to answer on a loaded machine) is
                 * asked again, a few times in a row at most. */
                json_object_put(b);
                if (++fails >= 5 && !atomic_load(&r->quit)) {
                    s_fail(r, "long poll: GET /Task?_lastUpdated: %d", st);
                    return NULL;
                }
                bench_sleep_ns(100000000ull);
                whole = false;
                break;
            }
            fails = 0;
            json_object_object_get_ex(b, "entry", &entries);
            for (size_t k = 0; json_object_is_type(entries, json_type_array) &&
                               k < json_object_array_length(entries);
                 k++) {
                json_object *res = NULL, *meta = NULL;
                uint8_t id[16];
                uint64_t idx, ms;
                if (!json_object_object_get_ex(
                        json_object_array_get_idx(entries, k), "resource",
                        &res))
                    continue;
                if (json_object_object_get_ex(res, "meta", &meta) &&
                    json_object_object_get_ex(meta, "lastUpdated", &v) &&
                    (ms = s_instant_ms(json_object_get_string(v))) > best)
                    best = ms;
                if (json_object_object_get_ex(res, "id", &v) &&
                    util_unhex(json_object_get_string(v), id, 16) == 0 &&
                    bench_msg_index(r->prefix[2], id, 16, &idx) && idx < r->n)
                    s_seen(r, 2, idx);
            }
            json_object_object_get_ex(b, "link", &links);
            for (size_t k = 0; json_object_is_type(links, json_type_array) &&
                               k < json_object_array_length(links);
                 k++) {
                json_object *l = json_object_array_get_idx(links, k), *u;
                const char *q;
                if (json_object_object_get_ex(l, "relation", &v) &&
                    strcmp(json_object_get_string(v), "next") == 0 &&
                    json_object_object_get_ex(l, "url", &u) &&
                    (q = strstr(json_object_get_string(u), "/Task?")) != NULL)
                    snprintf(path, sizeof(path), "%s", q);
            }
            json_object_put(b);
        }
        /* The pages go in referral_id order, not in time: the cursor moves
         * only past a whole answer. */
        if (whole && path[0] == '\0')
            cursor = best;
    }
    bench_http_close();
    return NULL;
}

/* A marker of the libkr path: as krfhir does by default (gw_notify.c),
 * what C's system read is marked processed (kr_processed, a commit at the
 * node) by threads of their own, one item at a time each, so that the
 * marks share the node's commits and do not hold back the reading. */
static void *
s_mark_main(void *arg)
{
    struct s_run *r = arg;
    kr_client_t *kb = NULL;
    char todo[KR_MSG_ID_HEX_LEN], err[256];
    int rc;

    if ((rc = kr_client_connect(r->node_c, S_CLIENT_MS, &kb)) != KR_OK) {
        s_fail(r, "marker: connect: %s", kr_strerror(rc));
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&r->q_lock);
        /* Bounded: quit is set at the end of the scenario. */
        while (r->nmarks == 0 && !atomic_load(&r->quit))
            pthread_cond_wait(&r->m_cv, &r->q_lock);
        if (r->nmarks == 0) {
            pthread_mutex_unlock(&r->q_lock);
            break;
        }
        memcpy(todo, r->marks[--r->nmarks], sizeof(todo));
        pthread_mutex_unlock(&r->q_lock);
        if ((rc = kr_processed(kb, todo, err, sizeof(err))) != KR_OK) {
            s_fail(r, "marker: processed: %s: %s", kr_strerror(rc), err);
            break;
        }
    }
    kr_client_destroy(&kb);
    return NULL;
}

/* The libkr path's reader: C's inbox, a long poll as sc_e2e's receiver
 * asks it, then kr_referral_json of each new referral, which it hands to
 * the markers. */
static void *
s_inbox_main(void *arg)
{
    struct s_run *r = arg;
    kr_client_t *kb = NULL;
    uint64_t after = 0;
    char err[256];
    int rc;

    if ((rc = kr_client_connect(r->node_c, S_CLIENT_MS, &kb)) != KR_OK) {
        s_fail(r, "reader: connect: %s", kr_strerror(rc));
        return NULL;
    }
    /* Bounded by quit: each long poll ends within a second. */
    while (!atomic_load(&r->quit)) {
        char *json = NULL;
        size_t jl = 0;
        if ((rc = kr_inbox_json(kb, after, 200, 1000, KR_INBOX_ALL, &json, &jl,
                                err, sizeof(err))) != KR_OK) {
            s_fail(r, "reader: inbox: %s: %s", kr_strerror(rc), err);
            break;
        }
        json_object *arr = json_tokener_parse(json), *v, *mid;
        kr_json_free(json);
        for (size_t k = 0; arr != NULL && k < json_object_array_length(arr);
             k++) {
            json_object *it = json_object_array_get_idx(arr, k);
            uint8_t id[16];
            uint64_t idx;
            if (json_object_object_get_ex(it, "seq", &v) &&
                (uint64_t)json_object_get_int64(v) > after)
                after = (uint64_t)json_object_get_int64(v);
            if (!json_object_object_get_ex(it, "referral_id", &v) ||
                !json_object_is_type(v, json_type_string) ||
                util_unhex(json_object_get_string(v), id, 16) != 0 ||
                !bench_msg_index(r->prefix[0], id, 16, &idx) || idx >= r->n)
                continue;
            for (int t = 0; t < 1000 && !atomic_load(&r->quit); t++) {
                char *rj = NULL;
                size_t rl = 0;
                rc = kr_referral_json(kb, json_object_get_string(v), &rj, &rl,
                                      err, sizeof(err));
                kr_json_free(rj);
                if (rc == KR_OK) {
                    s_seen(r, 0, idx);
                    if (json_object_object_get_ex(it, "msg_id", &mid) &&
                        json_object_is_type(mid, json_type_string) &&
                        strlen(json_object_get_string(mid)) ==
                            KR_MSG_ID_HEX_LEN - 1) {
                        pthread_mutex_lock(&r->q_lock);
                        if (r->nmarks < S_MAX_N)
                            memcpy(r->marks[r->nmarks++],
                                   json_object_get_string(mid),
                                   KR_MSG_ID_HEX_LEN);
                        pthread_cond_signal(&r->m_cv);
                        pthread_mutex_unlock(&r->q_lock);
                    }
                    break;
                }
                bench_sleep_ns(S_POLL_US * 1000ull);
            }
        }
        json_object_put(arr);
    }
    kr_client_destroy(&kb);
    return NULL;
}

/* One block: messages [lo, hi) of one path at 100 msgs/s, until the
 * receiver's
 * system has them all. */
static int
s_block(struct s_run *r, int p, uint64_t lo, uint64_t hi, char *why, size_t len)
{
    static const char *const names[S_PATHS] = {"libkr", "gateway rest-hook",
                                               "gateway long poll"};

    atomic_store(&r->path, p);
    r->lo = lo;
    r->hi = hi;
    r->interval_ns = 1000000000ull / S_RATE;
    r->t0 = bench_now_ns() + 50000000ull;
    uint64_t deadline =
        r->t0 + (hi - lo) * r->interval_ns + (uint64_t)S_MSG_MS * 1000000ull;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)((deadline - bench_now_ns()) / 1000000000ull) + 1;
    pthread_mutex_lock(&r->blk_lock);
    r->blk_done = 0;
    r->blk_gen++;
    pthread_cond_broadcast(&r->blk_cv);
    /* Bounded by the deadline: the senders are done by then. */
    while (r->blk_done < r->nsenders)
        if (pthread_cond_timedwait(&r->blk_cv, &r->blk_lock, &ts) != 0) {
            pthread_mutex_unlock(&r->blk_lock);
            s_fail(r, "the senders did not finish their block");
            snprintf(why, len, "%s", r->err);
            return KR_ETIMEDOUT;
        }
    pthread_mutex_unlock(&r->blk_lock);
    /* Bounded by the deadline. */
    while (atomic_load(&r->nseen[p]) < hi && !atomic_load(&r->stop) &&
           bench_now_ns() < deadline)
        bench_sleep_ns(1000000);
    r->busy_ns[p] += bench_now_ns() - r->t0;
    if (r->err[0] == '\0' && atomic_load(&r->nseen[p]) < hi)
        s_fail(r, "%llu of the %s path's messages not read within %d ms",
               (unsigned long long)(hi - atomic_load(&r->nseen[p])), names[p],
               S_MSG_MS);
    if (r->err[0] != '\0') {
        snprintf(why, len, "%s", r->err);
        return KR_EIO;
    }
    return KR_OK;
}

/* The paths in blocks of S_BLOCK messages, in turn, each block of blocks
 * starting with the next path (libkr, rest-hook, long poll; rest-hook,
 * long poll, libkr; ...), so that a machine whose load drifts weighs on
 * all alike. The readers run throughout; the long poll's asks only in
 * its own blocks (s_poll_main). */
static int
s_run_all(struct s_run *r, char *why, size_t len)
{
    pthread_t hth, ith, pth, mth[S_MARKERS], sth[S_WORKERS];
    struct s_worker w[S_WORKERS];
    int nm = 0, rc = KR_OK;
    bool hs, is, ps;

    atomic_store(&r->quit, 0);
    hs = pthread_create(&hth, NULL, s_hook_main, r) == 0;
    is = pthread_create(&ith, NULL, s_inbox_main, r) == 0;
    ps = pthread_create(&pth, NULL, s_poll_main, r) == 0;
    for (int k = 0; k < S_MARKERS; k++)
        if (pthread_create(&mth[nm], NULL, s_mark_main, r) == 0)
            nm++;
    for (int k = 0; k < S_WORKERS; k++) {
        w[r->nsenders].r = r;
        w[r->nsenders].k = k;
        if (pthread_create(&sth[r->nsenders], NULL, s_sender_main,
                           &w[r->nsenders]) == 0)
            r->nsenders++;
    }
    if (!hs || !is || !ps || nm == 0 || r->nsenders < S_WORKERS) {
        s_fail(r, "cannot start the readers");
        snprintf(why, len, "%s", r->err);
        rc = KR_ESYS;
    }
    for (uint64_t lo = 0, b = 0; rc == KR_OK && lo < r->n; lo += S_BLOCK, b++) {
        uint64_t hi = lo + S_BLOCK < r->n ? lo + S_BLOCK : r->n;
        for (int k = 0; k < S_PATHS && rc == KR_OK; k++)
            rc = s_block(r, (int)((b + (uint64_t)k) % S_PATHS), lo, hi, why,
                         len);
    }
    atomic_store(&r->quit, 1);
    pthread_mutex_lock(&r->q_lock);
    pthread_cond_broadcast(&r->m_cv);
    pthread_mutex_unlock(&r->q_lock);
    pthread_mutex_lock(&r->blk_lock);
    pthread_cond_broadcast(&r->blk_cv);
    pthread_mutex_unlock(&r->blk_lock);
    for (int k = 0; k < r->nsenders; k++)
        pthread_join(sth[k], NULL);
    if (hs)
        pthread_join(hth, NULL);
    if (is)
        pthread_join(ith, NULL);
    if (ps)
        pthread_join(pth, NULL);
    for (int k = 0; k < nm; k++)
        pthread_join(mth[k], NULL);
    return rc;
}

static void
s_figures(const char *prefix, struct s_run *r, int p, double *p50)
{
    char name[64];
    uint64_t *v = xcalloc(r->n, sizeof(uint64_t));

    memcpy(v, r->lat[p], r->n * sizeof(uint64_t));
    *p50 = stats_percentile(v, r->n, 50) / 1e6;
    double p99 = stats_percentile(v, r->n, 99) / 1e6;
    double rate =
        r->busy_ns[p] > 0 ? (double)r->n * 1e9 / (double)r->busy_ns[p] : 0;
    snprintf(name, sizeof(name), "%s_100_p50_ms", prefix);
    figures_add(name, "ms", r->n, TARGET_NONE, 0, NULL, *p50);
    snprintf(name, sizeof(name), "%s_100_p99_ms", prefix);
    figures_add(name, "ms", r->n, TARGET_NONE, 0, NULL, p99);
    memcpy(v, r->sent[p], r->n * sizeof(uint64_t));
    double sent50 = stats_percentile(v, r->n, 50) / 1e6;
    snprintf(name, sizeof(name), "%s_100_sent_p50_ms", prefix);
    figures_add(name, "ms", r->n, TARGET_NONE, 0, NULL, sent50);
    snprintf(name, sizeof(name), "%s_100_msgs_per_s", prefix);
    figures_add(name, "msg/s", r->n, TARGET_NONE, 0, NULL, rate);
    /* The first and the last block apart: a cost that grows with what the
     * receiver holds (B's referrals, 2 per index by the end) shows there. */
    uint64_t nb = r->n < S_BLOCK ? r->n : S_BLOCK;
    memcpy(v, r->lat[p], nb * sizeof(uint64_t));
    double first50 = stats_percentile(v, nb, 50) / 1e6;
    memcpy(v, r->lat[p] + (r->n - nb), nb * sizeof(uint64_t));
    double last50 = stats_percentile(v, nb, 50) / 1e6;
    fprintf(stderr,
            "krbench:   %s at %d msgs/s: %llu messages, p50 %.3f ms, p99 "
            "%.3f ms, %.1f msgs/s; A answered after %.3f ms (p50); p50 "
            "of the first %llu %.3f ms, of the last %.3f ms\n",
            prefix, S_RATE, (unsigned long long)r->n, *p50, p99, rate, sent50,
            (unsigned long long)nb, first50, last50);
    free(v);
}

int
sc_fhir(const struct bench_opts *o, uint64_t n, const char *krfhir_bin,
        char *why, size_t len)
{
    struct cluster c;
    struct s_gw ga, gb;
    struct s_run r;
    int a, b, cc, rc;
    bool failed = true;
    char hook[64];

    memset(&r, 0, sizeof(r));
    r.hook_fd = -1;
    memset(&ga, 0, sizeof(ga));
    memset(&gb, 0, sizeof(gb));
    pthread_mutex_init(&r.err_lock, NULL);
    pthread_mutex_init(&r.q_lock, NULL);
    pthread_mutex_init(&r.blk_lock, NULL);
    pthread_cond_init(&r.blk_cv, NULL);
    r.n = n > S_MAX_N ? S_MAX_N : n < 10 ? 10 : n;
    for (int p = 0; p < S_PATHS; p++) {
        r.sched[p] = xcalloc(S_MAX_N, sizeof(uint64_t));
        r.sent[p] = xcalloc(S_MAX_N, sizeof(uint64_t));
        r.lat[p] = xcalloc(S_MAX_N, sizeof(uint64_t));
        r.bundles[p] = xcalloc(r.n, sizeof(char *));
        r.rids[p] = xcalloc(r.n, sizeof(*r.rids[p]));
    }
    pthread_cond_init(&r.m_cv, NULL);
    r.marks = xcalloc(S_MAX_N, sizeof(*r.marks));
    r.descs = xcalloc(r.n, sizeof(char *));
    /* The example's parties. */
    if ((rc = cluster_init(&c, o, "fhir")) != KR_OK ||
        (rc = cluster_broker_start(&c)) != KR_OK ||
        (a = rc = cluster_org_add(&c, "a", "ura:00001234", "verloskunde")) <
            0 ||
        (b = rc = cluster_org_add(&c, "b", "ura:87654321", "jgz")) < 0 ||
        (cc = rc = cluster_org_add(&c, "c", S_ORG_C, "jgz")) < 0 ||
        (rc = cluster_node_start(&c, a)) != KR_OK ||
        (rc = cluster_node_start(&c, b)) != KR_OK ||
        (rc = cluster_node_start(&c, cc)) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    r.node_a = c.orgs[a].local;
    r.node_b = c.orgs[b].local;
    r.node_c = c.orgs[cc].local;
    if ((rc = fhir_consent(r.node_a, NULL, NULL, why, len)) != KR_OK ||
        (rc = fhir_consent(r.node_a, S_ORG_C, S_CONSENT_C, why, len)) !=
            KR_OK ||
        (rc = fhir_messages(&r, c.orgs[a].id, why, len)) != KR_OK ||
        (rc = fhir_hook_listen(&r, hook, sizeof(hook), why, len)) != KR_OK ||
        (rc = fhir_gw_start(&c, a, krfhir_bin, NULL, &ga, why, len)) != KR_OK ||
        (rc = fhir_gw_start(&c, b, krfhir_bin, hook, &gb, why, len)) != KR_OK)
        goto done;
    r.port_a = ga.port;
    r.port_b = gb.port;

    /* Both paths on the same cluster, in alternating blocks. */
    double p50_kr, p50_hook, p50_poll;
    if ((rc = s_run_all(&r, why, len)) != KR_OK)
        goto done;
    s_figures("fhir_libkr", &r, 0, &p50_kr);
    s_figures("fhir_gateway", &r, 1, &p50_hook);
    s_figures("fhir_gateway_poll", &r, 2, &p50_poll);
    figures_add("fhir_gateway_added_p50_ms", "ms", r.n, TARGET_LE, 1.0, NULL,
                p50_hook - p50_kr);
    figures_add("fhir_gateway_poll_added_p50_ms", "ms", r.n, TARGET_LE, 1.0,
                NULL, p50_poll - p50_kr);
    fprintf(stderr,
            "krbench:   the gateway adds %.3f ms to the p50 (rest-hook), "
            "%.3f ms (long poll)\n",
            p50_hook - p50_kr, p50_poll - p50_kr);
    failed = false;
done:
    if (ga.proc.running)
        bproc_stop(&ga.proc, SIGTERM, 10000, &rc);
    if (gb.proc.running)
        bproc_stop(&gb.proc, SIGTERM, 10000, &rc);
    for (uint64_t i = 0; i < r.n; i++)
        free(r.descs[i]);
    free(r.descs);
    for (int p = 0; p < S_PATHS; p++) {
        for (uint64_t i = 0; i < r.n; i++)
            free(r.bundles[p][i]);
        free(r.bundles[p]);
        free(r.rids[p]);
        free(r.sched[p]);
        free(r.sent[p]);
        free(r.lat[p]);
    }
    pthread_mutex_destroy(&r.err_lock);
    pthread_mutex_destroy(&r.q_lock);
    pthread_mutex_destroy(&r.blk_lock);
    pthread_cond_destroy(&r.blk_cv);
    pthread_cond_destroy(&r.m_cv);
    free(r.marks);
    if (r.hook_fd >= 0)
        close(r.hook_fd);
    cluster_destroy(&c, failed);
    return failed ? KR_EIO : KR_OK;
}
