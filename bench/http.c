/*
 * http.c - krbench's HTTP/1.1 on loopback, for the FHIR scenario: a
 * client that keeps one connection per thread (as a care system's FHIR
 * client does: a fresh connection per request would add a TCP handshake
 * and, at krfhir, a thread's start to every figure), and a listener for
 * krfhir's rest-hook that answers on kept connections too.
 */
#define _GNU_SOURCE /* strcasestr, accept4 */
#include "bench_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kr.h"
#include "util.h"

#define H_ANSWER_MS 30000     /* one answer's bound */
#define H_BODY_MAX (8u << 20) /* a searchset's bound */

static __thread int t_fd = -1, t_port = -1;

void
bench_http_close(void)
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
    bench_http_close();
    t_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (t_fd < 0)
        return KR_ESYS;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(t_fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        bench_http_close();
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
    /* Bounded: each read waits at most H_ANSWER_MS; the answer is read to
     * its Content-Length. */
    for (int i = 0; i < 100000; i++) {
        struct pollfd pf = {t_fd, POLLIN, 0};
        if (poll(&pf, 1, H_ANSWER_MS) <= 0)
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
                if (alen + m + 1 > H_BODY_MAX)
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
        bench_http_close();
    return status;
fail:
    bench_http_close();
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
int
bench_http(int port, const char *method, const char *path, const char *body,
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

#define H_CONNS 8

/* One connection of the rest-hook's listener: what it sent so far. */
struct h_conn {
    int fd;
    size_t got;
    char buf[16384];
};

/* Answer every whole request in c's buffer; false: close it. */
static bool
s_serve(struct h_conn *c, bool (*on)(void *arg, const char *body), void *arg)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    static const char bad[] =
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";

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
        char save = c->buf[whole];
        c->buf[whole] = '\0';
        bool good = on(arg, end + 4);
        c->buf[whole] = save;
        if (send(c->fd, good ? ok : bad,
                 good ? sizeof(ok) - 1 : sizeof(bad) - 1, MSG_NOSIGNAL) < 0)
            return false;
        memmove(c->buf, c->buf + whole, c->got - whole);
        c->got -= whole;
        c->buf[c->got] = '\0';
    }
    return true;
}

void
bench_http_listen(int lfd, atomic_int *quit,
                  bool (*on)(void *arg, const char *body), void *arg)
{
    struct h_conn *conns = xcalloc(H_CONNS, sizeof(*conns));
    size_t nc = 0;

    /* Bounded by quit, looked at every 100 ms. */
    while (!atomic_load(quit)) {
        struct pollfd pf[H_CONNS + 1];
        pf[0] = (struct pollfd){lfd, POLLIN, 0};
        for (size_t i = 0; i < nc; i++)
            pf[i + 1] = (struct pollfd){conns[i].fd, POLLIN, 0};
        if (poll(pf, (nfds_t)(nc + 1), 100) <= 0)
            continue;
        for (size_t i = nc; i-- > 0;) {
            if (pf[i + 1].revents == 0)
                continue;
            struct h_conn *c = &conns[i];
            ssize_t n =
                recv(c->fd, c->buf + c->got, sizeof(c->buf) - 1 - c->got, 0);
            bool keep = n > 0;
            if (keep) {
                c->got += (size_t)n;
                c->buf[c->got] = '\0';
                keep = s_serve(c, on, arg);
            }
            if (!keep) {
                close(c->fd);
                conns[i] = conns[--nc];
            }
        }
        if ((pf[0].revents & POLLIN) != 0) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0 && nc == H_CONNS)
                close(fd); /* more than a notifier opens */
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
    free(conns);
}
