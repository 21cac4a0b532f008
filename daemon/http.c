/* http.c - the HTTP endpoint on libmicrohttpd (daemon.h).
 *
 * libmicrohttpd runs one thread of its own (MHD_USE_INTERNAL_POLLING_
 * THREAD) that polls every connection: a slow client holds only its own
 * connection, which times out after S_TIMEOUT_S, and at most S_CONN_MAX
 * are open at once. The handlers are fast (they format what is already in
 * memory), and the loop thread never waits on this one. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "daemon_internal.h"
#include "kr.h"
#include "log.h"
#include "util.h"

#define S_CONN_MAX 16
#define S_TIMEOUT_S 5

struct http_server {
    struct MHD_Daemon *mhd;
    const struct http_route *routes;
    size_t nroutes;
    void *ctx;
};

static enum MHD_Result
s_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
        const void *data, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)data, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result
s_handle(void *cls, struct MHD_Connection *c, const char *url,
         const char *method, const char *version, const char *upload,
         size_t *upload_len, void **state)
{
    struct http_server *s = cls;
    static const char not_found[] = "not found: try /metrics, /healthz or "
                                    "/readyz\n";
    static const char bad_method[] = "only GET and HEAD\n";

    (void)version;
    (void)upload;
    (void)state;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        if (*upload_len != 0) {
            *upload_len = 0; /* a body is read and thrown away */
            return MHD_YES;
        }
        return s_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", bad_method,
                       sizeof(bad_method) - 1);
    }
    for (size_t i = 0; i < s->nroutes; i++) {
        if (strcmp(url, s->routes[i].path) != 0)
            continue;
        struct kr_buf out = {0};
        buf_reserve(&out, 4096);
        int status = s->routes[i].fn(s->ctx, &out);
        enum MHD_Result ret = s_reply(
            c, (unsigned)status, s->routes[i].content_type, out.data, out.len);
        buf_free(&out);
        return ret;
    }
    return s_reply(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found,
                   sizeof(not_found) - 1);
}

int
http_start(const char *listen, const struct http_route *routes, size_t nroutes,
           void *ctx, const char *port_file, struct http_server **out)
{
    struct http_server *s = xcalloc(1, sizeof(*s));
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    char host[64];
    unsigned port;

    memset(&ss, 0, sizeof(ss));
    if (daemon_http_split(listen, host, sizeof(host), &port) != KR_OK)
        goto bad;
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host,
                         &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        goto bad;
    }
    s->routes = routes;
    s->nroutes = nroutes;
    s->ctx = ctx;
    s->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, s_handle, s,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)S_CONN_MAX,
                              MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned)S_TIMEOUT_S, MHD_OPTION_END);
    if (s->mhd == NULL) {
        log_errorx("http: cannot listen on %s: %s", listen,
                   errno != 0 ? strerror(errno) : "libmicrohttpd failed");
        free(s);
        return KR_ESYS;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info != NULL ? info->port : port;
    char paths[256] = "";
    for (size_t i = 0, n = 0; i < nroutes && n < sizeof(paths); i++)
        n += (size_t)snprintf(paths + n, sizeof(paths) - n, "%s%s",
                              i ? " " : "", routes[i].path);
    log_info("http: listening on %s port=%u (%s)", listen, bound, paths);
    if (port_file != NULL) {
        char text[16];
        int n = snprintf(text, sizeof(text), "%u\n", bound);
        if (util_write_file_atomic(port_file, text, (size_t)n, 0644) != 0)
            log_warnx("http: cannot write %s", port_file);
    }
    *out = s;
    return KR_OK;
bad:
    log_errorx("http: '%s' is not ADDRESS:PORT", listen);
    free(s);
    return KR_ECONFIG;
}

void
http_stop(struct http_server **sp)
{
    struct http_server *s = *sp;

    if (s == NULL)
        return;
    MHD_stop_daemon(s->mhd);
    free(s);
    *sp = NULL;
}

/*
 * The Prometheus text format (exposition format 0.0.4)
 */

void
kbuf_printf(struct kr_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        n = vsnprintf((char *)b->data + b->len, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        buf_reserve(b, b->len + (size_t)n + 1024);
    }
}

void
prom_head(struct kr_buf *b, const char *name, const char *type,
          const char *help)
{
    kbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
prom_u64(struct kr_buf *b, const char *name, const char *labels, uint64_t v)
{
    if (labels != NULL && labels[0] != '\0')
        kbuf_printf(b, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
    else
        kbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

void
prom_f64(struct kr_buf *b, const char *name, const char *labels, double v)
{
    if (labels != NULL && labels[0] != '\0')
        kbuf_printf(b, "%s{%s} %.6f\n", name, labels, v);
    else
        kbuf_printf(b, "%s %.6f\n", name, v);
}

/* From 0.5 ms (a commit on a tmpfs) to 2.5 s (a disk in trouble). */
const uint64_t daemon_hist_bounds_us[DAEMON_HIST_N] = {
    500,   1000,   2500,   5000,   10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000};

size_t
daemon_hist_bucket(uint64_t us)
{
    size_t i = 0;

    while (i < DAEMON_HIST_N && us > daemon_hist_bounds_us[i])
        i++;
    return i;
}

void
prom_hist(struct kr_buf *b, const char *name, const char *help,
          const struct daemon_hist *h)
{
    uint64_t cum = 0;

    prom_head(b, name, "histogram", help);
    for (size_t i = 0; i < DAEMON_HIST_N; i++) {
        cum += h->counts[i];
        kbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
                    (double)daemon_hist_bounds_us[i] / 1e6,
                    (unsigned long long)cum);
    }
    cum += h->counts[DAEMON_HIST_N];
    kbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                (unsigned long long)cum);
    kbuf_printf(b, "%s_sum %.6f\n%s_count %llu\n", name,
                (double)h->sum_us / 1e6, name, (unsigned long long)cum);
}
