/* gw_http.c - krfhir's HTTP server on libmicrohttpd.
 *
 * A thread per connection (MHD_USE_THREAD_PER_CONNECTION): a route may
 * wait on the node (a send waits for the broker's answer, a long poll for
 * a change), and such a wait must hold only its own connection. The
 * limits against clients that hold the server:
 *   - max_connections open at once (libmicrohttpd refuses more);
 *   - idle_timeout_s: a connection that sends nothing this long is closed
 *     (half a request line, half the headers, half a body);
 *   - request_timeout_ms: a body that trickles in is cut off this long
 *     after its headers, however steadily it trickles;
 *   - max_body_bytes: a larger Content-Length is answered 413 before a
 *     byte of the body is read; a chunked body that grows past it is read
 *     to its end (bounded by request_timeout_ms), thrown away and answered
 *     413.
 * Every answer is FHIR JSON: errors are OperationOutcomes. The log says
 * method, path, status and time, never a body or a query (a search may
 * name a person's data one day; the path holds only ids and types). */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "log.h"
#include "util.h"

#define S_CTYPE_FHIR "application/fhir+json; charset=utf-8"

struct gw_server {
    struct MHD_Daemon *mhd;
    struct gw *g;
};

/* One request's state across the handler's calls. */
struct s_conn {
    uint64_t start_ms; /* monotonic: when its headers were read */
    char *body;
    size_t len, cap;
    bool too_big; /* the body passed max_body_bytes: answer 413 */
};

const char *
gw_req_arg(const struct gw_req *r, const char *key)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)r->conn,
                                       MHD_GET_ARGUMENT_KIND, key);
}

const char *
gw_req_header(const struct gw_req *r, const char *key)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)r->conn,
                                       MHD_HEADER_KIND, key);
}

void
gw_resp_error(struct gw_resp *out, const struct fhir_error *e)
{
    if (out->body != NULL)
        json_object_put(out->body);
    out->status = e->status >= 400 && e->status < 600 ? e->status : 500;
    out->body = fhir_operation_outcome(e);
}

static enum MHD_Result
s_send(struct MHD_Connection *c, const struct gw_resp *resp)
{
    const char *text = "";
    size_t len = 0;
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (resp->body != NULL)
        text = json_object_to_json_string_ext(
            resp->body,
            JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    len = strlen(text);
    r = MHD_create_response_from_buffer(len, (void *)text,
                                        MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type",
                            resp->ctype[0] ? resp->ctype : S_CTYPE_FHIR);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (resp->location[0] != '\0')
        MHD_add_response_header(r, "Location", resp->location);
    if (resp->allow[0] != '\0')
        MHD_add_response_header(r, "Allow", resp->allow);
    ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A media type without its parameters equals 'want' (case-insensitive). */
static bool
s_media_is(const char *value, const char *want)
{
    size_t n = strlen(want);

    while (*value == ' ')
        value++;
    return strncasecmp(value, want, n) == 0 &&
           (value[n] == '\0' || value[n] == ';' || value[n] == ' ');
}

/* Whether an Accept header admits FHIR JSON: any of its ranges is
 * application/fhir+json, application/json, application/(any) or (any)/(any). */
static bool
s_accept_ok(const char *accept)
{
    char buf[512], *save = NULL;

    if (accept == NULL || accept[0] == '\0')
        return true;
    snprintf(buf, sizeof(buf), "%s", accept);
    for (char *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        if (s_media_is(t, "application/fhir+json") ||
            s_media_is(t, "application/json") ||
            s_media_is(t, "application/*") || s_media_is(t, "*/*") ||
            s_media_is(t, "application/json+fhir"))
            return true;
    }
    return false;
}

static bool
s_format_ok(const char *f)
{
    return f == NULL || strcmp(f, "json") == 0 ||
           strcmp(f, "application/json") == 0 ||
           strcmp(f, "application/fhir+json") == 0;
}

/* Check what HTTP can decide before a route runs: negotiation and the
 * body's type. 0 if fine, else 'out' holds the refusal. */
static int
s_precheck(const struct gw_req *r, struct gw_resp *out)
{
    struct fhir_error e;
    const char *ct;

    if (!s_format_ok(gw_req_arg(r, "_format")) ||
        !s_accept_ok(gw_req_header(r, "Accept"))) {
        fhir_error_set(&e, 406, "not-supported", NULL,
                       "only JSON is served: ask for application/fhir+json "
                       "(Accept or _format)");
        gw_resp_error(out, &e);
        return -1;
    }
    if (strcmp(r->method, "POST") != 0 && strcmp(r->method, "PUT") != 0 &&
        strcmp(r->method, "PATCH") != 0)
        return 0;
    ct = gw_req_header(r, "Content-Type");
    if (strcmp(r->method, "PATCH") == 0) {
        if (ct == NULL || !s_media_is(ct, "application/json-patch+json")) {
            fhir_error_set(&e, 415, "not-supported", NULL,
                           "a PATCH body must be a JSON Patch "
                           "(Content-Type: application/json-patch+json)");
            gw_resp_error(out, &e);
            return -1;
        }
        return 0;
    }
    if (ct == NULL || !(s_media_is(ct, "application/fhir+json") ||
                        s_media_is(ct, "application/json") ||
                        s_media_is(ct, "application/json+fhir"))) {
        fhir_error_set(&e, 415, "not-supported", NULL,
                       "the body must be FHIR JSON (Content-Type: "
                       "application/fhir+json)");
        gw_resp_error(out, &e);
        return -1;
    }
    return 0;
}

static enum MHD_Result
s_handle(void *cls, struct MHD_Connection *c, const char *url,
         const char *method, const char *version, const char *upload,
         size_t *upload_len, void **state)
{
    struct gw_server *s = cls;
    const struct gw_config *cfg = s->g->cfg;
    struct s_conn *cc = *state;
    struct gw_resp resp;
    struct fhir_error e;
    enum MHD_Result ret;

    (void)version;
    if (cc == NULL) {
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        uint64_t n = 0;
        cc = xcalloc(1, sizeof(*cc));
        cc->start_ms = util_mono_ms();
        *state = cc;
        if (cl != NULL && util_parse_u64(cl, 0, UINT64_MAX, &n) == KR_OK &&
            n > cfg->max_body_bytes) {
            /* Answered before the body is read: libmicrohttpd then
             * closes the connection instead of reading it. */
            memset(&resp, 0, sizeof(resp));
            fhir_error_set(&e, 413, "too-long", NULL,
                           "the body is %llu bytes; this gateway takes at "
                           "most %llu (max_body_bytes)",
                           (unsigned long long)n,
                           (unsigned long long)cfg->max_body_bytes);
            gw_resp_error(&resp, &e);
            log_info("http: %s %s 413 (body of %llu bytes)", method, url,
                     (unsigned long long)n);
            ret = s_send(c, &resp);
            json_object_put(resp.body);
            return ret;
        }
        return MHD_YES;
    }
    if (*upload_len != 0) {
        if (util_mono_ms() - cc->start_ms > cfg->request_timeout_ms) {
            log_info("http: %s %s: body not complete after %llu ms: "
                     "connection closed",
                     method, url, (unsigned long long)cfg->request_timeout_ms);
            return MHD_NO;
        }
        if (!cc->too_big && cc->len + *upload_len > cfg->max_body_bytes) {
            cc->too_big = true;
            free(cc->body);
            cc->body = NULL;
            cc->len = cc->cap = 0;
        }
        if (!cc->too_big) {
            if (cc->len + *upload_len + 1 > cc->cap) {
                size_t cap = cc->cap ? cc->cap : 4096;
                while (cap < cc->len + *upload_len + 1)
                    cap *= 2;
                cc->body = xrealloc(cc->body, cap);
                cc->cap = cap;
            }
            memcpy(cc->body + cc->len, upload, *upload_len);
            cc->len += *upload_len;
            cc->body[cc->len] = '\0';
        }
        *upload_len = 0;
        return MHD_YES;
    }

    memset(&resp, 0, sizeof(resp));
    struct gw_req req = {
        .conn = c,
        .method = method,
        .path = url,
        .body = cc->body != NULL ? cc->body : "",
        .body_len = cc->len,
    };
    uint64_t t0 = util_mono_ms();
    if (cc->too_big) {
        fhir_error_set(&e, 413, "too-long", NULL,
                       "the body is larger than this gateway takes (%llu "
                       "bytes, max_body_bytes)",
                       (unsigned long long)cfg->max_body_bytes);
        gw_resp_error(&resp, &e);
    } else if (s_precheck(&req, &resp) == 0) {
        gw_route(s->g, &req, &resp);
    }
    if (resp.status == 0) {
        fhir_error_set(&e, 500, "exception", NULL, "no answer was made");
        gw_resp_error(&resp, &e);
    }
    atomic_fetch_add(&s->g->requests, 1);
    if (resp.status >= 400) {
        /* The diagnostics never quote a value (fhir.h), so they may be
         * logged: they say which element and why. */
        json_object *iss = NULL, *d = NULL, *oo = resp.body, *ents, *res;
        /* A response message holds its OperationOutcome in an entry. */
        if (oo != NULL && json_object_object_get_ex(oo, "entry", &ents) &&
            json_object_is_type(ents, json_type_array))
            for (size_t i = 0; i < json_object_array_length(ents); i++)
                if (json_object_object_get_ex(
                        json_object_array_get_idx(ents, i), "resource", &res) &&
                    json_object_object_get_ex(res, "issue", &iss))
                    oo = res;
        if (oo != NULL && json_object_object_get_ex(oo, "issue", &iss) &&
            json_object_is_type(iss, json_type_array) &&
            json_object_array_length(iss) > 0)
            json_object_object_get_ex(json_object_array_get_idx(iss, 0),
                                      "diagnostics", &d);
        log_info("http: %s %s %d %llums: %s", method, url, resp.status,
                 (unsigned long long)(util_mono_ms() - t0),
                 d != NULL ? json_object_get_string(d) : "");
    } else {
        log_debug("http: %s %s %d %llums", method, url, resp.status,
                  (unsigned long long)(util_mono_ms() - t0));
    }
    ret = s_send(c, &resp);
    if (resp.body != NULL)
        json_object_put(resp.body);
    return ret;
}

static void
s_completed(void *cls, struct MHD_Connection *c, void **state,
            enum MHD_RequestTerminationCode toe)
{
    struct s_conn *cc = *state;

    (void)cls;
    (void)c;
    if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
        log_info("http: a connection was silent for its idle timeout: "
                 "closed");
    if (cc != NULL) {
        free(cc->body);
        free(cc);
        *state = NULL;
    }
}

int
gw_http_start(struct gw *g, struct gw_server **out)
{
    struct gw_server *s = xcalloc(1, sizeof(*s));
    const struct gw_config *cfg = g->cfg;
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    char host[64];
    unsigned port;

    memset(&ss, 0, sizeof(ss));
    if (gw_split_listen(cfg->listen, host, sizeof(host), &port) != KR_OK)
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
    s->g = g;
    s->mhd = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, s_handle, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->idle_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, s_completed,
        s, MHD_OPTION_END);
    if (s->mhd == NULL) {
        log_errorx("http: cannot listen on %s: %s", cfg->listen,
                   errno != 0 ? strerror(errno) : "libmicrohttpd failed");
        free(s);
        return KR_ESYS;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info != NULL ? info->port : port;
    if (g->base_url[0] == '\0') {
        if (strchr(host, ':') != NULL)
            snprintf(g->base_url, sizeof(g->base_url), "http://[%s]:%u", host,
                     bound);
        else
            snprintf(g->base_url, sizeof(g->base_url), "http://%s:%u", host,
                     bound);
    }
    log_info("http: listening on %s port=%u base_url=%s", cfg->listen, bound,
             g->base_url);
    if (cfg->port_file[0] != '\0') {
        char text[16];
        int n = snprintf(text, sizeof(text), "%u\n", bound);
        if (util_write_file_atomic(cfg->port_file, text, (size_t)n, 0644) != 0)
            log_warnx("http: cannot write port_file %s", cfg->port_file);
    }
    *out = s;
    return KR_OK;
bad:
    log_errorx("http: listen '%s' is not ADDRESS:PORT", cfg->listen);
    free(s);
    return KR_ECONFIG;
}

void
gw_http_stop(struct gw_server **sp)
{
    struct gw_server *s = *sp;

    if (s == NULL)
        return;
    MHD_stop_daemon(s->mhd);
    free(s);
    *sp = NULL;
}
