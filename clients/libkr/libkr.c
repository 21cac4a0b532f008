/*
 * libkr.c - the adapter's side of the local protocol (see include/kr.h and
 * docs/PROTOCOL.md, "Local sockets"): one request frame on a DEALER socket,
 * one reply frame back, bounded by the client's timeout.
 *
 * libkr runs inside other people's processes, so it never aborts: every
 * allocation failure becomes KR_ENOMEM, and it owns its ZeroMQ context so
 * that it shares no state with a host that uses ZeroMQ itself. All of
 * libkr's clients in a process share that one context (s_ctx_get).
 */
#include "kr.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "libkr_internal.h"
#include "local.pb-c.h"
#include "util.h"

#define S_DEFAULT_TIMEOUT_MS 10000
/* A reply larger than this closes the connection instead of being read: a
 * bound on what a confused or hostile peer can make us allocate. An inbox
 * listing of the node's default page size stays far below it. */
#define S_MAX_REPLY_BYTES (64 * 1024 * 1024)

struct kr_client {
    void *ctx;      /* libkr's ZeroMQ context (s_ctx_get) */
    void *sock;     /* DEALER; NULL if re-creating it failed */
    char *endpoint; /* kept to re-create the socket after a timeout */
    int timeout_ms; /* bound on each call, > 0 */
    /* The node's organisation, as it said (kr_send_json derives ids from
     * it): asked once, not before every send; "" while not known, and
     * again whenever the socket is made anew (after a timeout). It is the
     * node's configuration: a node behind the same endpoint restarted
     * with another organisation keeps another store, whose ids never meet
     * the old one's. */
    char org[KR_ORG_ID_MAX + 1];
};

/*
 * The context. ZeroMQ's advice is one context a process: each brings an
 * I/O thread, and an adapter with a client per worker thread had as many
 * I/O threads as workers, each woken for every message (krbench's 32
 * adapters: a tenth of the machine). Counted, so that the last client to
 * go ends it. A child after fork() starts its own: the parent's I/O
 * thread did not come along, so the inherited context is left alone.
 */

static pthread_mutex_t s_ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t s_ctx_once = PTHREAD_ONCE_INIT;
static void *s_ctx;
static size_t s_ctx_users;
static pid_t s_ctx_pid;

/* fork() while another thread holds the lock must not leave the child
 * with a lock nobody will release. */
static void
s_ctx_prefork(void)
{
    pthread_mutex_lock(&s_ctx_lock);
}

static void
s_ctx_postfork(void)
{
    pthread_mutex_unlock(&s_ctx_lock);
}

static void
s_ctx_atfork(void)
{
    pthread_atfork(s_ctx_prefork, s_ctx_postfork, s_ctx_postfork);
}

static void *
s_ctx_get(void)
{
    void *ctx;

    pthread_once(&s_ctx_once, s_ctx_atfork);
    pthread_mutex_lock(&s_ctx_lock);
    if (s_ctx != NULL && s_ctx_pid != getpid()) {
        s_ctx = NULL; /* the parent's: see above */
        s_ctx_users = 0;
    }
    if (s_ctx == NULL) {
        s_ctx = zmq_ctx_new();
        s_ctx_pid = getpid();
    }
    if (s_ctx != NULL)
        s_ctx_users++;
    ctx = s_ctx;
    pthread_mutex_unlock(&s_ctx_lock);
    return ctx;
}

static void
s_ctx_put(void *ctx)
{
    pthread_mutex_lock(&s_ctx_lock);
    /* The last user's socket is closed (LINGER 0): ending returns. */
    if (ctx == s_ctx && s_ctx_pid == getpid() && --s_ctx_users == 0) {
        zmq_ctx_term(s_ctx);
        s_ctx = NULL;
    }
    pthread_mutex_unlock(&s_ctx_lock);
}

/* How many libkr clients of this process hold the context (0 when none:
 * its I/O thread is gone). For the test harness, which must not fork while
 * that thread runs (libkr_internal.h). */
size_t
libkr_ctx_users(void)
{
    size_t n = 0;

    pthread_mutex_lock(&s_ctx_lock);
    if (s_ctx != NULL && s_ctx_pid == getpid())
        n = s_ctx_users;
    pthread_mutex_unlock(&s_ctx_lock);
    return n;
}

static uint64_t
s_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The time left until 'deadline', as zmq_poll and ZMQ_SNDTIMEO take it. */
static int
s_left_ms(uint64_t deadline)
{
    uint64_t now = s_mono_ms();

    return now >= deadline ? 0 : (int)(deadline - now);
}

static int
s_from_zmq(int e)
{
    switch (e) {
    case ENOMEM:
        return KR_ENOMEM;
    case EINVAL:
    case EPROTONOSUPPORT:
    case ENOCOMPATPROTO:
        return KR_EINVAL;
    default:
        return KR_ESYS;
    }
}

static int
s_socket_open(kr_client_t *c)
{
    int linger = 0, immediate = 1;
    int64_t maxmsg = S_MAX_REPLY_BYTES;
    void *s;
    int rc;

    if ((s = zmq_socket(c->ctx, ZMQ_DEALER)) == NULL)
        return s_from_zmq(errno);
    /* LINGER 0: a request nobody took must not keep the host process from
     * exiting. IMMEDIATE: queue a request only on a completed connection,
     * so that "not sent" (KR_EUNAVAIL) and "sent, no reply" (KR_ETIMEDOUT)
     * can be told apart, which decides whether a retry may duplicate. */
    if (zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_setsockopt(s, ZMQ_IMMEDIATE, &immediate, sizeof(immediate)) != 0 ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) != 0 ||
        zmq_connect(s, c->endpoint) != 0) {
        rc = s_from_zmq(errno);
        zmq_close(s);
        return rc;
    }
    c->sock = s;
    return KR_OK;
}

static void
s_socket_close(kr_client_t *c)
{
    if (c->sock != NULL) {
        zmq_close(c->sock);
        c->sock = NULL;
    }
    c->org[0] = '\0';
}

int
kr_client_connect(const char *endpoint, int timeout_ms, kr_client_t **out)
{
    kr_client_t *c;
    int rc;

    if (endpoint == NULL || *endpoint == '\0' || timeout_ms < 0 || out == NULL)
        return KR_EINVAL;
    *out = NULL;
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return KR_ENOMEM;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : S_DEFAULT_TIMEOUT_MS;
    if ((c->endpoint = strdup(endpoint)) == NULL) {
        rc = KR_ENOMEM;
        goto fail;
    }
    if ((c->ctx = s_ctx_get()) == NULL) {
        rc = s_from_zmq(errno);
        goto fail;
    }
    if ((rc = s_socket_open(c)) != KR_OK)
        goto fail;
    *out = c;
    return KR_OK;
fail:
    kr_client_destroy(&c);
    return rc;
}

void
kr_client_destroy(kr_client_t **cp)
{
    kr_client_t *c;

    if (cp == NULL || (c = *cp) == NULL)
        return;
    s_socket_close(c);
    if (c->ctx != NULL)
        s_ctx_put(c->ctx);
    free(c->endpoint);
    free(c);
    *cp = NULL;
}

/* Read whatever follows a first frame that had ZMQ_RCVMORE, so that the
 * socket is clean for the next call. */
static void
s_drain(void *s)
{
    int more = 1;
    size_t sz = sizeof(more);

    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        zmq_msg_close(&m);
        if (zmq_getsockopt(s, ZMQ_RCVMORE, &more, &sz) != 0)
            return;
    }
}

/* Wait for the socket to become readable or writable before 'deadline'.
 * Returns 1 when ready, 0 at the deadline, or a negative KR_E*. */
static int
s_wait(void *s, short events, uint64_t deadline)
{
    for (;;) {
        zmq_pollitem_t it = {.socket = s, .events = events};
        int n = zmq_poll(&it, 1, s_left_ms(deadline));
        if (n > 0)
            return 1;
        /* A signal for the host process is no reason to give up early. */
        if (n < 0 && errno != EINTR)
            return s_from_zmq(errno);
        if (s_left_ms(deadline) == 0)
            return 0;
    }
}

int
kr_call_raw(kr_client_t *c, const uint8_t *req, size_t req_len, uint8_t **resp,
            size_t *resp_len)
{
    uint64_t deadline;
    zmq_msg_t m;
    int more = 0, rc;
    size_t sz = sizeof(more);
    uint8_t *copy;

    if (c == NULL || (req == NULL && req_len > 0) || resp == NULL ||
        resp_len == NULL)
        return KR_EINVAL;
    *resp = NULL;
    *resp_len = 0;
    /* A failed re-creation after the last timeout is retried here, so that
     * a client never stays broken because of one passing fault. */
    if (c->sock == NULL && (rc = s_socket_open(c)) != KR_OK)
        return rc;
    deadline = s_mono_ms() + (uint64_t)c->timeout_ms;

    /* With ZMQ_IMMEDIATE a send succeeds only once a connection is up;
     * until then nothing has left this process. Sent at once when it is
     * (the usual case, and no poll for it: a system call saved on every
     * call), else once one is up, by the deadline. */
    while (zmq_send(c->sock, req_len > 0 ? req : (const uint8_t *)"", req_len,
                    ZMQ_DONTWAIT) < 0) {
        if (errno != EAGAIN && errno != EINTR)
            return s_from_zmq(errno);
        if ((rc = s_wait(c->sock, ZMQ_POLLOUT, deadline)) <= 0)
            return rc == 0 ? KR_EUNAVAIL : rc;
    }

    if ((rc = s_wait(c->sock, ZMQ_POLLIN, deadline)) <= 0) {
        /* The request is out, its answer may still come. A fresh socket
         * makes sure it is never read as the answer to the next call. */
        s_socket_close(c);
        s_socket_open(c);
        return rc == 0 ? KR_ETIMEDOUT : rc;
    }
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) < 0) {
        rc = s_from_zmq(errno);
        zmq_msg_close(&m);
        return rc;
    }
    if (zmq_getsockopt(c->sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_close(&m);
        s_drain(c->sock);
        return KR_EPROTO;
    }
    /* malloc(0) may return NULL; an empty reply is a valid message (every
     * field at its default), so allocate one byte for it. */
    if ((copy = malloc(zmq_msg_size(&m) > 0 ? zmq_msg_size(&m) : 1)) == NULL) {
        zmq_msg_close(&m);
        return KR_ENOMEM;
    }
    memcpy(copy, zmq_msg_data(&m), zmq_msg_size(&m));
    *resp = copy;
    *resp_len = zmq_msg_size(&m);
    zmq_msg_close(&m);
    return KR_OK;
}

/* The error a LocalResponse carries: 0, a KR_E* code, or KR_EPROTO if the
 * bytes are not a LocalResponse or carry a code this library does not
 * know. */
static int
s_response_error(const uint8_t *buf, size_t len)
{
    Kr__V1__LocalResponse *r;
    int err;

    /* protobuf-c returns NULL both for bytes that do not parse and for an
     * allocation failure; neither lets us read the answer. */
    if ((r = kr__v1__local_response__unpack(NULL, len, buf)) == NULL)
        return KR_EPROTO;
    err = r->error;
    kr__v1__local_response__free_unpacked(r, NULL);
    if (err > 0 || err <= KR_EMAX_)
        return KR_EPROTO;
    return err;
}

int
kr_call(kr_client_t *c, const uint8_t *req, size_t req_len, uint8_t **resp,
        size_t *resp_len)
{
    int rc;

    if ((rc = kr_call_raw(c, req, req_len, resp, resp_len)) != KR_OK)
        return rc;
    if ((rc = s_response_error(*resp, *resp_len)) == KR_EPROTO) {
        kr_buf_free(*resp);
        *resp = NULL;
        *resp_len = 0;
    }
    return rc;
}

int
kr_send(kr_client_t *c, const uint8_t *req, size_t req_len, uint8_t msg_id[16])
{
    Kr__V1__LocalResponse *r = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (msg_id == NULL)
        return KR_EINVAL;
    if ((rc = kr_call(c, req, req_len, &buf, &len)) != KR_OK)
        goto done;
    if ((r = kr__v1__local_response__unpack(NULL, len, buf)) == NULL) {
        rc = KR_EPROTO;
        goto done;
    }
    /* A node that says yes without an id has not told us which message it
     * committed: treat it as a protocol error, not as success. */
    if (r->msg_id.len != 16) {
        rc = KR_EPROTO;
        goto done;
    }
    memcpy(msg_id, r->msg_id.data, 16);
    rc = KR_OK;
done:
    if (r != NULL)
        kr__v1__local_response__free_unpacked(r, NULL);
    kr_buf_free(buf);
    return rc;
}

void
kr_buf_free(uint8_t *buf)
{
    free(buf);
}

const char *
libkr_org(const kr_client_t *c)
{
    return c->org;
}

void
libkr_org_remember(kr_client_t *c, const char *org)
{
    snprintf(c->org, sizeof(c->org), "%s", org);
}

int
libkr_timeout_set(kr_client_t *c, int timeout_ms)
{
    int old = c->timeout_ms;

    c->timeout_ms = timeout_ms;
    return old;
}
