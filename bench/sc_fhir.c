/*
 * sc_fhir.c - the FHIR gateway's cost: referrals as FHIR message Bundles
 * POSTed at organisation A's krfhir until their Task is readable at
 * organisation B's krfhir, paced at 100 msgs/s; beside it, in the same
 * run and cluster, the same messages through libkr (kr_send_json at A
 * until kr_referral_json answers at B), also at 100/s. The target:
 * the gateway adds at most 1 ms to the p50.
 *
 * How time is taken: a message starts at its scheduled moment (its
 * sender sleeps until then, so a late sender is not hidden); it ends when
 * B's system has read it, told as each of three paths tells it: through
 * libkr, B's inbox (a long poll) and then kr_referral_json answering;
 * through krfhir told by its rest-hook, the notification (krbench
 * listens) and then GET /Task/{id} answering 200; through krfhir's own
 * long poll, GET /Task?_lastUpdated=gt...&_wait=1 answering with the
 * Task in its searchset. Both ways mark what was read processed at the
 * node (a commit each): krfhir by default (mark_processed), and the
 * libkr path's reader by handing it to S_MARKERS marker threads, as
 * krfhir does, so that both paths do the same durable work. B's system
 * does not wait for A's answer to A's client; when A answered (the POST,
 * which waits for the broker's answer; the send, which does not) is a
 * figure of its own ("sent"). The paths run in turn in blocks of S_BLOCK
 * messages, each round starting with the next path, so that a machine
 * whose load drifts weighs on all alike. Each message gets its own
 * referral_id (Task.identifier), so B's answer names exactly it. The
 * kansrijk descriptions of the libkr path are made from the same Bundles
 * by the same mapper (fhir_in_message) before the clock.
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
#include "fhir_in.h"
#include "util.h"

#ifndef KR_BENCH_SOURCE_DIR
#define KR_BENCH_SOURCE_DIR "."
#endif

#define S_EXAMPLE KR_BENCH_SOURCE_DIR "/examples/fhir/referral-bundle.json"
#define S_CONSENT KR_BENCH_SOURCE_DIR "/examples/consent-grant.json"
#define S_RATE 100 /* msgs/s */
#define S_MAX_N 1000
#define S_WORKERS 8
#define S_POLL_US 500
#define S_MSG_MS 30000 /* one message's bound */
#define S_CLIENT_MS 30000
#define S_QUEUE 1024 /* notified, not yet read (at least S_MAX_N) */
#define S_BLOCK 100  /* messages of one path in a row */
#define S_MARKERS 4  /* the libkr path's markers, as many as krfhir's */
#define S_PATHS 3    /* libkr, the gateway's rest-hook, its long poll */
#define S_BODY_MAX (8u << 20) /* a searchset's bound */

struct s_gw {
    char port_file[BENCH_PATH + 16];
    char dir[BENCH_PATH];
    char log[BENCH_PATH];
    int port;
    struct bproc proc;
};

/* The paths: [0] libkr, [1] the gateway told by its rest-hook, [2] the
 * gateway told by its long poll. */
struct s_run {
    int path;           /* this block's path */
    int port_a, port_b; /* the gateways */
    const char *node_a, *node_b;
    uint64_t n;                               /* messages per path */
    uint64_t lo, hi, t0, interval_ns;         /* this block: [lo, hi) from t0 */
    char **bundles[S_PATHS];                  /* [1], [2]: the Bundles */
    char **descs;                             /* [0]: the descriptions */
    char (*rids[S_PATHS])[KR_MSG_ID_HEX_LEN]; /* the referral_ids */
    /* Per message and path: its scheduled moment, how long until A
     * answered, until B's system had it. */
    uint64_t *sched[S_PATHS], *sent[S_PATHS], *lat[S_PATHS];
    atomic_ullong nseen[S_PATHS]; /* messages seen at B */
    uint64_t busy_ns[S_PATHS];    /* the blocks' spans, for msgs/s */
    uint8_t prefix[S_PATHS][12];  /* the referral_ids (bench_msg_id) */
    int hook_fd;                  /* the rest-hook's listening socket */
    /* Notified messages waiting for a reader (the FHIR path). */
    pthread_mutex_t q_lock;
    pthread_cond_t q_cv;
    uint64_t q[S_QUEUE];
    size_t q_head, q_len;
    /* Read at B by the libkr path, to be marked processed. */
    pthread_cond_t m_cv;
    char (*marks)[KR_MSG_ID_HEX_LEN];
    size_t nmarks;
    atomic_int quit; /* the readers end */
    atomic_int stop; /* a thread failed: the others give up */
    char err[BENCH_ERR];
    pthread_mutex_t err_lock;
};

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

/* Each thread keeps one HTTP/1.1 connection open (keep-alive), as a
 * care system's FHIR client does: a fresh connection per request would
 * add a TCP handshake and, at krfhir, a thread's start to every figure. */
static __thread int t_fd = -1, t_port = -1;

static void
s_http_close(void)
{
    if (t_fd >= 0)
        close(t_fd);
    t_fd = t_port = -1;
}

static int
s_http_connect(int port)
{
    struct sockaddr_in a;
    int one = 1;

    if (t_fd >= 0 && t_port == port)
        return KR_OK;
    s_http_close();
    t_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (t_fd < 0)
        return KR_ESYS;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(t_fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        s_http_close();
        return KR_EUNAVAIL;
    }
    /* Requests go in one write each; no reason to hold them back. */
    setsockopt(t_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    t_port = port;
    return KR_OK;
}

/* One exchange on the thread's connection: the status, or a negative
 * KR_E* (then the connection is closed). *reused: the connection had
 * served before (a failure there may be the server's idle close). */
static int
s_http_once(int port, const char *req, size_t rlen, char **ans, bool *reused)
{
    char buf[16384];
    size_t acap = 0, alen = 0, got = 0;
    long clen = -1;
    char *end = NULL;
    int status = KR_EIO;
    bool close_after = false;

    *reused = t_fd >= 0 && t_port == port;
    if (s_http_connect(port) != KR_OK)
        return KR_EUNAVAIL;
    if (send(t_fd, req, rlen, MSG_NOSIGNAL) != (ssize_t)rlen)
        goto fail;
    /* Bounded: each read waits at most S_MSG_MS; the answer is read to
     * its Content-Length. */
    for (int i = 0; i < 100000; i++) {
        struct pollfd pf = {t_fd, POLLIN, 0};
        if (poll(&pf, 1, S_MSG_MS) <= 0)
            goto fail;
        ssize_t r = recv(t_fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (r <= 0)
            goto fail;
        got += (size_t)r;
        buf[got] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            char *cl = strcasestr(buf, "Content-Length:");
            char *cc = strcasestr(buf, "Connection: close");
            clen = cl != NULL && cl < end ? strtol(cl + 15, NULL, 10) : -1;
            close_after = cc != NULL && cc < end;
            if (clen < 0 || sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
                status = KR_EPROTO;
                goto fail;
            }
        }
        size_t keep = end != NULL ? (size_t)(end + 4 - buf) : 0;
        if (end != NULL && (long)(got - keep) >= clen)
            break;
        if (got >= sizeof(buf) - 1) {
            if (end == NULL)
                goto fail; /* a head this long is not krfhir's */
            /* Move the body read so far out (or drop it). */
            size_t m = got - keep;
            if (ans != NULL) {
                if (alen + m + 1 > S_BODY_MAX)
                    goto fail;
                if (alen + m + 1 > acap) {
                    acap = (alen + m + 1) * 2;
                    *ans = xrealloc(*ans, acap);
                }
                memcpy(*ans + alen, buf + keep, m);
                alen += m;
            }
            clen -= (long)m;
            got = keep;
        }
    }
    if (ans != NULL) {
        size_t keep = (size_t)(end + 4 - buf), m = got - keep;
        *ans = xrealloc(*ans, alen + m + 1);
        memcpy(*ans + alen, buf + keep, m);
        (*ans)[alen + m] = '\0';
    }
    if (close_after)
        s_http_close();
    return status;
fail:
    s_http_close();
    if (ans != NULL) {
        free(*ans);
        *ans = NULL;
    }
    return status == KR_EPROTO ? status : KR_EIO;
}

/* One HTTP/1.1 exchange with krfhir on loopback: the status, or a
 * negative KR_E*. The answer's body is kept in *ans (NUL-terminated, to
 * free) when ans is not NULL, else read and dropped. A kept connection
 * that fails before answering (krfhir closed it while idle) is replaced
 * once: every request here may be repeated (the POSTs are idempotent by
 * Bundle.id). */
static int
s_http(int port, const char *method, const char *path, const char *body,
       size_t len, char **ans)
{
    char head[512];
    bool reused;
    int n = snprintf(
        head, sizeof(head),
        "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
        "application/fhir+json\r\n%sContent-Length: %zu\r\n\r\n",
        method, path,
        body != NULL ? "Content-Type: application/fhir+json\r\n" : "", len);
    /* One write: a head and a body in two small segments would wait for
     * the server's delayed ACK (Nagle), 40 ms on Linux. */
    char *req = xmalloc((size_t)n + len);
    memcpy(req, head, (size_t)n);
    if (len > 0)
        memcpy(req + n, body, len);
    if (ans != NULL)
        *ans = NULL;
    int status = s_http_once(port, req, (size_t)n + len, ans, &reused);
    if (status < 0 && status != KR_EPROTO && reused)
        status = s_http_once(port, req, (size_t)n + len, ans, &reused);
    free(req);
    return status;
}

/* A sender: hands the block's messages to A at their moments. */
static void *
s_sender_main(void *arg)
{
    struct s_worker *w = arg;
    struct s_run *r = w->r;
    int p = r->path;
    kr_client_t *ka = NULL;
    char err[256], mid[KR_MSG_ID_HEX_LEN];
    int rc;

    if (p == 0 &&
        (rc = kr_client_connect(r->node_a, S_CLIENT_MS, &ka)) != KR_OK) {
        s_fail(r, "sender %d: connect: %s", w->k, kr_strerror(rc));
        return NULL;
    }
    for (uint64_t i = r->lo + (uint64_t)w->k;
         i < r->hi && !atomic_load(&r->stop); i += S_WORKERS) {
        uint64_t at = r->t0 + (i - r->lo) * r->interval_ns;
        bench_sleep_until_ns(at);
        __atomic_store_n(&r->sched[p][i], at, __ATOMIC_RELEASE);
        if (p != 0) {
            rc = s_http(r->port_a, "POST", "/$process-message",
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
    kr_client_destroy(&ka);
    s_http_close();
    return NULL;
}

/* Message i of path p is at B's system: note when (once). */
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

/* A reader of the FHIR path: GET /Task/{id} at B for each notified
 * message, until it answers 200. */
static void *
s_get_main(void *arg)
{
    struct s_run *r = arg;
    char path[64];

    for (;;) {
        uint64_t idx;
        pthread_mutex_lock(&r->q_lock);
        /* Bounded: quit is set at the end of the scenario. */
        while (r->q_len == 0 && !atomic_load(&r->quit))
            pthread_cond_wait(&r->q_cv, &r->q_lock);
        if (r->q_len == 0) {
            pthread_mutex_unlock(&r->q_lock);
            break;
        }
        idx = r->q[r->q_head];
        r->q_head = (r->q_head + 1) % S_QUEUE;
        r->q_len--;
        pthread_mutex_unlock(&r->q_lock);
        snprintf(path, sizeof(path), "/Task/%s", r->rids[1][idx]);
        for (int k = 0; k < 1000 && !atomic_load(&r->quit); k++) {
            if (s_http(r->port_b, "GET", path, NULL, 0, NULL) == 200) {
                s_seen(r, 1, idx);
                break;
            }
            bench_sleep_ns(S_POLL_US * 1000ull);
        }
    }
    s_http_close();
    return NULL;
}

/* A notification's body: hand its Task to a reader (once per message of
 * the gateway path; the libkr path's and repeats are dropped). */
static void
s_hook_note(struct s_run *r, const char *body)
{
    const char *t = strstr(body, "/Task/");
    uint8_t id[16];
    uint64_t idx;
    char hex[KR_MSG_ID_HEX_LEN];

    if (t == NULL || strlen(t) < 6 + 32)
        return;
    memcpy(hex, t + 6, 32);
    hex[32] = '\0';
    if (util_unhex(hex, id, 16) != 0 ||
        !bench_msg_index(r->prefix[1], id, 16, &idx) || idx >= r->n ||
        __atomic_load_n(&r->lat[1][idx], __ATOMIC_ACQUIRE) != 0)
        return;
    pthread_mutex_lock(&r->q_lock);
    if (r->q_len < S_QUEUE)
        r->q[(r->q_head + r->q_len++) % S_QUEUE] = idx;
    pthread_cond_signal(&r->q_cv);
    pthread_mutex_unlock(&r->q_lock);
}

#define S_HOOK_CONNS 8

/* One connection of the rest-hook's listener: what it sent so far. */
struct s_hook_conn {
    int fd;
    size_t got;
    char buf[16384];
};

/* Answer every whole request in c's buffer; false: close it. */
static bool
s_hook_serve(struct s_run *r, struct s_hook_conn *c)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

    /* Bounded: each round takes one request out of the buffer. */
    for (int k = 0; k < 64; k++) {
        char *end = strstr(c->buf, "\r\n\r\n");
        if (end == NULL)
            return c->got < sizeof(c->buf) - 1;
        char *cl = strcasestr(c->buf, "Content-Length:");
        long clen = cl != NULL && cl < end ? strtol(cl + 15, NULL, 10) : 0;
        size_t whole = (size_t)(end + 4 - c->buf) + (size_t)clen;
        if (clen < 0 || whole > sizeof(c->buf) - 1)
            return false;
        if (c->got < whole)
            return true; /* the body is still coming */
        /* A failed answer: krfhir tries again. */
        if (send(c->fd, ok, sizeof(ok) - 1, MSG_NOSIGNAL) < 0)
            return false;
        char save = c->buf[whole];
        c->buf[whole] = '\0';
        s_hook_note(r, end + 4);
        c->buf[whole] = save;
        memmove(c->buf, c->buf + whole, c->got - whole);
        c->got -= whole;
        c->buf[c->got] = '\0';
    }
    return true;
}

/* The FHIR path's reader: B's system as krfhir tells it, the rest-hook.
 * It runs through the whole scenario (B's krfhir notifies of the libkr
 * path's referrals too): each notification is answered 200 at once on a
 * connection kept open for the next (HTTP/1.1 keep-alive, as a care
 * system's endpoint would), and one of the gateway's messages goes to a
 * reader of the pool. */
static void *
s_hook_main(void *arg)
{
    struct s_run *r = arg;
    static struct s_hook_conn conns[S_HOOK_CONNS];
    size_t nc = 0;

    /* Bounded by quit, looked at every 100 ms. */
    while (!atomic_load(&r->quit)) {
        struct pollfd pf[S_HOOK_CONNS + 1];
        pf[0] = (struct pollfd){r->hook_fd, POLLIN, 0};
        for (size_t i = 0; i < nc; i++)
            pf[i + 1] = (struct pollfd){conns[i].fd, POLLIN, 0};
        if (poll(pf, (nfds_t)(nc + 1), 100) <= 0)
            continue;
        for (size_t i = nc; i-- > 0;) {
            if (pf[i + 1].revents == 0)
                continue;
            struct s_hook_conn *c = &conns[i];
            ssize_t n =
                recv(c->fd, c->buf + c->got, sizeof(c->buf) - 1 - c->got, 0);
            bool keep = n > 0;
            if (keep) {
                c->got += (size_t)n;
                c->buf[c->got] = '\0';
                keep = s_hook_serve(r, c);
            }
            if (!keep) {
                close(c->fd);
                conns[i] = conns[--nc];
            }
        }
        if ((pf[0].revents & POLLIN) != 0) {
            int fd = accept4(r->hook_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0 && nc == S_HOOK_CONNS)
                close(fd); /* krfhir has one: more are not ours */
            else if (fd >= 0) {
                conns[nc].fd = fd;
                conns[nc].got = 0;
                conns[nc].buf[0] = '\0';
                nc++;
            }
        }
    }
    for (size_t i = 0; i < nc; i++)
        close(conns[i].fd);
    pthread_mutex_lock(&r->q_lock);
    pthread_cond_broadcast(&r->q_cv);
    pthread_mutex_unlock(&r->q_lock);
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
    uint64_t cursor = (uint64_t)(time(NULL) - 1) * 1000u;
    char path[1200];
    int fails = 0;

    /* Bounded by quit: each long poll ends within about a second. */
    while (!atomic_load(&r->quit) && !atomic_load(&r->stop)) {
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
            int st = s_http(r->port_b, "GET", path, NULL, 0, &body);
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
    s_http_close();
    return NULL;
}

/* A marker of the libkr path: as krfhir does by default (gw_notify.c),
 * what B's system read is marked processed (kr_processed, a commit at the
 * node) by threads of their own, one item at a time each, so that the
 * marks share the node's commits and do not hold back the reading. */
static void *
s_mark_main(void *arg)
{
    struct s_run *r = arg;
    kr_client_t *kb = NULL;
    char todo[KR_MSG_ID_HEX_LEN], err[256];
    int rc;

    if ((rc = kr_client_connect(r->node_b, S_CLIENT_MS, &kb)) != KR_OK) {
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

/* The libkr path's reader: B's inbox, a long poll as sc_e2e's receiver
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

    if ((rc = kr_client_connect(r->node_b, S_CLIENT_MS, &kb)) != KR_OK) {
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

/* One block: messages [lo, hi) of one path at 100 msgs/s, until B's
 * system has them all. */
static int
s_block(struct s_run *r, int p, uint64_t lo, uint64_t hi, char *why, size_t len)
{
    static const char *const names[S_PATHS] = {"libkr", "gateway rest-hook",
                                               "gateway long poll"};
    pthread_t th[S_WORKERS];
    struct s_worker w[S_WORKERS];
    int started = 0;

    r->path = p;
    r->lo = lo;
    r->hi = hi;
    r->interval_ns = 1000000000ull / S_RATE;
    r->t0 = bench_now_ns() + 50000000ull;
    for (int k = 0; k < S_WORKERS; k++) {
        w[k].r = r;
        w[k].k = k;
        if (pthread_create(&th[k], NULL, s_sender_main, &w[k]) != 0) {
            s_fail(r, "cannot start sender %d", k);
            break;
        }
        started++;
    }
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    uint64_t deadline =
        r->t0 + (hi - lo) * r->interval_ns + (uint64_t)S_MSG_MS * 1000000ull;
    /* Bounded by the deadline. */
    while (atomic_load(&r->nseen[p]) < hi && !atomic_load(&r->stop) &&
           bench_now_ns() < deadline)
        bench_sleep_ns(1000000);
    r->busy_ns[p] += bench_now_ns() - r->t0;
    if (r->err[0] == '\0' && atomic_load(&r->nseen[p]) < hi)
        s_fail(r, "%llu of the %s path's messages not at B within %d ms",
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
 * all alike; the readers run throughout. */
static int
s_run_all(struct s_run *r, char *why, size_t len)
{
    pthread_t hth, ith, pth, gth[S_WORKERS], mth[S_MARKERS];
    int ng = 0, nm = 0, rc = KR_OK;
    bool hs, is, ps;

    atomic_store(&r->quit, 0);
    hs = pthread_create(&hth, NULL, s_hook_main, r) == 0;
    is = pthread_create(&ith, NULL, s_inbox_main, r) == 0;
    ps = pthread_create(&pth, NULL, s_poll_main, r) == 0;
    for (int k = 0; k < S_WORKERS; k++)
        if (pthread_create(&gth[ng], NULL, s_get_main, r) == 0)
            ng++;
    for (int k = 0; k < S_MARKERS; k++)
        if (pthread_create(&mth[nm], NULL, s_mark_main, r) == 0)
            nm++;
    if (!hs || !is || !ps || ng == 0 || nm == 0) {
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
    pthread_cond_broadcast(&r->q_cv);
    pthread_cond_broadcast(&r->m_cv);
    pthread_mutex_unlock(&r->q_lock);
    if (hs)
        pthread_join(hth, NULL);
    if (is)
        pthread_join(ith, NULL);
    if (ps)
        pthread_join(pth, NULL);
    for (int k = 0; k < ng; k++)
        pthread_join(gth[k], NULL);
    for (int k = 0; k < nm; k++)
        pthread_join(mth[k], NULL);
    return rc;
}

/* The rest-hook's socket: krbench listens where B's krfhir notifies. */
static int
s_hook_listen(struct s_run *r, char *url, size_t urllen, char *why, size_t len)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        snprintf(why, len, "the rest-hook's socket: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return KR_ESYS;
    }
    r->hook_fd = fd;
    snprintf(url, urllen, "http://127.0.0.1:%d/notify", ntohs(a.sin_port));
    return KR_OK;
}

/* krfhir of one organisation, on a free port it writes to a file. */
static int
s_gw_start(struct cluster *c, int i, const char *bin, const char *hook,
           struct s_gw *g, char *why, size_t len)
{
    char name[64], *text = NULL;
    size_t tl;

    snprintf(g->dir, sizeof(g->dir), "%s/fhir-%s", c->tmp, c->orgs[i].label);
    snprintf(g->port_file, sizeof(g->port_file), "%s/port", g->dir);
    snprintf(g->log, sizeof(g->log), "%s/krfhir-%s.log", c->tmp,
             c->orgs[i].label);
    char *argv[] = {(char *)bin,
                    "--node",
                    c->orgs[i].local,
                    "--listen",
                    "127.0.0.1:0",
                    "--port_file",
                    g->port_file,
                    "--state_dir",
                    g->dir,
                    "--log_level",
                    (char *)c->opts->log_level,
                    hook != NULL ? "--subscription_endpoint" : NULL,
                    (char *)hook,
                    NULL};
    snprintf(name, sizeof(name), "krfhir %s", c->orgs[i].label);
    if (bproc_spawn(&g->proc, name, g->log, argv) != KR_OK) {
        snprintf(why, len, "cannot start %s (%s)", name, bin);
        return KR_ESYS;
    }
    uint64_t deadline = bench_now_ns() + 15000000000ull;
    while (bench_now_ns() < deadline) {
        if (util_read_file(g->port_file, 64, &text, &tl) == KR_OK) {
            long v = strtol(text, NULL, 10);
            free(text);
            if (v > 0 && v <= 65535) { /* else not yet written whole */
                g->port = (int)v;
                return KR_OK;
            }
        }
        if (!bproc_alive(&g->proc))
            break;
        bench_sleep_ns(10000000);
    }
    snprintf(why, len, "%s did not start (see %s)", name, g->log);
    return KR_ETIMEDOUT;
}

/* The consent (examples/consent-grant.json) through A, accepted by the
 * broker. */
static int
s_consent(const char *node_a, char *why, size_t len)
{
    kr_client_t *kc = NULL;
    char *text = NULL, err[256], mid[KR_MSG_ID_HEX_LEN];
    size_t tl = 0;
    int rc;

    if ((rc = util_read_file(S_CONSENT, 1 << 20, &text, &tl)) != KR_OK ||
        (rc = kr_client_connect(node_a, S_CLIENT_MS, &kc)) != KR_OK ||
        (rc = kr_send_json(kc, text, tl, mid, err, sizeof(err))) != KR_OK) {
        snprintf(why, len, "consent: %s", kr_strerror(rc));
        goto done;
    }
    rc = KR_ETIMEDOUT;
    uint64_t deadline = bench_now_ns() + 30000000000ull;
    while (bench_now_ns() < deadline) {
        char *json = NULL;
        size_t jl = 0;
        if (kr_receipts_json(kc, 0, 0, &json, &jl, err, sizeof(err)) == KR_OK &&
            strstr(json, mid) != NULL) {
            json_object *arr = json_tokener_parse(json), *v;
            for (size_t k = 0; arr != NULL && k < json_object_array_length(arr);
                 k++) {
                json_object *it = json_object_array_get_idx(arr, k);
                if (json_object_object_get_ex(it, "msg_id", &v) &&
                    strcmp(json_object_get_string(v), mid) == 0 &&
                    json_object_object_get_ex(it, "outcome", &v) &&
                    strcmp(json_object_get_string(v), "pending") != 0)
                    rc = strcmp(json_object_get_string(v), "refused") == 0
                             ? KR_EREFUSED
                             : KR_OK;
            }
            json_object_put(arr);
        }
        kr_json_free(json);
        if (rc != KR_ETIMEDOUT)
            break;
        bench_sleep_ns(10000000);
    }
    if (rc != KR_OK)
        snprintf(why, len, "consent not accepted: %s", kr_strerror(rc));
done:
    free(text);
    kr_client_destroy(&kc);
    return rc;
}

/* The Bundles (each its own Bundle.id and referral_id) and the
 * descriptions the mapper makes of them. */
static int
s_messages(struct s_run *r, const char *org_a, char *why, size_t len)
{
    char *text = NULL;
    size_t tl = 0;
    json_object *ex;
    uint8_t run[16];

    if (util_read_file(S_EXAMPLE, 1 << 20, &text, &tl) != KR_OK ||
        (ex = json_tokener_parse(text)) == NULL) {
        free(text);
        snprintf(why, len, "cannot read %s", S_EXAMPLE);
        return KR_EIO;
    }
    free(text);
    util_random_id(run);
    for (int p = 0; p < S_PATHS; p++) {
        uint8_t pfx[16];
        util_random_id(pfx);
        memcpy(r->prefix[p], pfx, sizeof(r->prefix[p]));
    }
    for (uint64_t i = 0; i < r->n; i++) {
        json_object *b = json_tokener_parse(json_object_to_json_string(ex));
        json_object *entries, *task = NULL, *kr = NULL, *v;
        struct fhir_ctx ctx = {org_a, "http://127.0.0.1", util_now_ms()};
        struct fhir_error e;
        uint8_t rid[16];
        char bid[64];

        json_object_object_get_ex(b, "entry", &entries);
        for (size_t k = 0; k < json_object_array_length(entries); k++) {
            json_object *res;
            if (json_object_object_get_ex(json_object_array_get_idx(entries, k),
                                          "resource", &res) &&
                json_object_object_get_ex(res, "resourceType", &v) &&
                strcmp(json_object_get_string(v), "Task") == 0)
                task = res;
        }
        /* The gateway's paths: the same Bundle under their own Bundle.id
         * and referral_id each (the last, [1], stays in b for the
         * mapper). */
        for (int p = S_PATHS - 1; p >= 1; p--) {
            snprintf(bid, sizeof(bid), "bench-%02x%02x%02x%02x-%d-%llu", run[0],
                     run[1], run[2], run[3], p, (unsigned long long)i);
            json_object_object_add(b, "id", json_object_new_string(bid));
            bench_msg_id(r->prefix[p], i, rid);
            util_hex(rid, 16, r->rids[p][i]);
            if (task != NULL &&
                json_object_object_get_ex(task, "identifier", &v) &&
                json_object_array_length(v) > 0)
                json_object_object_add(json_object_array_get_idx(v, 0), "value",
                                       json_object_new_string(r->rids[p][i]));
            r->bundles[p][i] = xstrdup(json_object_to_json_string_ext(
                b, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        }
        memset(&e, 0, sizeof(e));
        if (fhir_in_message(&ctx, b, &kr, NULL, &e) != KR_OK) {
            snprintf(why, len, "the mapper refuses the example: %s",
                     e.diagnostics);
            json_object_put(b);
            json_object_put(ex);
            return KR_EINVAL;
        }
        /* The libkr path sends the same message under another msg_id and
         * referral_id: it must not be taken for the Bundle's. */
        bench_msg_id(r->prefix[0], i, rid);
        util_hex(rid, 16, r->rids[0][i]);
        json_object_object_del(kr, "msg_id");
        json_object_object_add(kr, "referral_id",
                               json_object_new_string(r->rids[0][i]));
        r->descs[i] = xstrdup(json_object_to_json_string_ext(
            kr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(kr);
        json_object_put(b);
    }
    json_object_put(ex);
    return KR_OK;
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
    /* The first and the last block apart: a cost that grows with what B
     * holds (B's referrals, 3 per index by the end) shows there. */
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
    int a, b, rc;
    bool failed = true;
    char hook[64];

    memset(&r, 0, sizeof(r));
    r.hook_fd = -1;
    memset(&ga, 0, sizeof(ga));
    memset(&gb, 0, sizeof(gb));
    pthread_mutex_init(&r.err_lock, NULL);
    pthread_mutex_init(&r.q_lock, NULL);
    r.n = n > S_MAX_N ? S_MAX_N : n < 10 ? 10 : n;
    for (int p = 0; p < S_PATHS; p++) {
        r.sched[p] = xcalloc(S_MAX_N, sizeof(uint64_t));
        r.sent[p] = xcalloc(S_MAX_N, sizeof(uint64_t));
        r.lat[p] = xcalloc(S_MAX_N, sizeof(uint64_t));
        r.bundles[p] = xcalloc(r.n, sizeof(char *));
        r.rids[p] = xcalloc(r.n, sizeof(*r.rids[p]));
    }
    pthread_cond_init(&r.q_cv, NULL);
    pthread_cond_init(&r.m_cv, NULL);
    r.marks = xcalloc(S_MAX_N, sizeof(*r.marks));
    r.descs = xcalloc(r.n, sizeof(char *));
    /* The example's parties. */
    if ((rc = cluster_init(&c, o, "fhir")) != KR_OK ||
        (rc = cluster_broker_start(&c)) != KR_OK ||
        (a = rc = cluster_org_add(&c, "a", "ura:00001234", "verloskunde")) <
            0 ||
        (b = rc = cluster_org_add(&c, "b", "ura:87654321", "jgz")) < 0 ||
        (rc = cluster_node_start(&c, a)) != KR_OK ||
        (rc = cluster_node_start(&c, b)) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    r.node_a = c.orgs[a].local;
    r.node_b = c.orgs[b].local;
    if ((rc = s_consent(r.node_a, why, len)) != KR_OK ||
        (rc = s_messages(&r, c.orgs[a].id, why, len)) != KR_OK ||
        (rc = s_hook_listen(&r, hook, sizeof(hook), why, len)) != KR_OK ||
        (rc = s_gw_start(&c, a, krfhir_bin, NULL, &ga, why, len)) != KR_OK ||
        (rc = s_gw_start(&c, b, krfhir_bin, hook, &gb, why, len)) != KR_OK)
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
    pthread_cond_destroy(&r.q_cv);
    pthread_cond_destroy(&r.m_cv);
    free(r.marks);
    if (r.hook_fd >= 0)
        close(r.hook_fd);
    cluster_destroy(&c, failed);
    return failed ? KR_EIO : KR_OK;
}
