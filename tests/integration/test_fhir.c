/*
 * test_fhir.c - krfhir, the HL7 FHIR R4 gateway, between a real broker,
 * two real krnodes and two krfhir daemons (one per organisation), spoken
 * to with the real curl, as an EPD would.
 *
 *   1. Round trip: the example Bundle (examples/fhir/referral-bundle.json)
 *      POSTed at the practice's /$process-message arrives at JGZ: a long
 *      poll there (GET /Task?requester=...&_wait=) finds its Task; GET
 *      Task, ServiceRequest and Patient at JGZ hold the Bundle's patient
 *      (BSN, family name), reason and requester; JGZ's PATCH to accepted
 *      shows at the practice as accepted, and its search holds the Task
 *      as GET gives it; the same Bundle POSTed again is one referral
 *      (JGZ's node holds it once).
 *   2. Every resource krfhir returned validates with the independent
 *      validator (tests/fhir/validate.js, node).
 *   3. Bad input, each an OperationOutcome with its status and nothing
 *      sent: malformed JSON, a Bundle without MessageHeader, an unknown
 *      resource type, a BSN failing the eleven-test, an unknown recipient,
 *      no consent, a status change the state table refuses (409), a body
 *      over max_body_bytes (413), a slow client cut off after
 *      idle_timeout_s while another client is served.
 *   4. The rest-hook: JGZ's krfhir notifies a listener of the test's own
 *      (a real socket on 127.0.0.1) that first refuses connections, then
 *      answers 500 once, then 200: the notification arrives after the
 *      retries, names the Task without its content, and the item is then
 *      processed at JGZ's node.
 *   5. A Consent POSTed (granted) and PUT with status inactive (revoked).
 *   6. What needs no node, answered by a krfhir whose node socket does
 *      not exist, at once: ids not 32 hex (404), a Bundle the mapper
 *      refuses and a non-Bundle (400), other methods (405 with Allow);
 *      what needs it: 503 naming the node's endpoint. A long poll that
 *      finds nothing: an empty searchset after the wait. With the
 *      practice's node stopped, its krfhir still refuses another sender's
 *      Bundle (403: the organisation is remembered).
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "harness.h"
#include "util.h"

#define S_KRFHIR KR_BIN_DIR "/clients/krfhir/krfhir"
#define S_EXAMPLE KR_SOURCE_DIR "/examples/fhir/referral-bundle.json"
#define S_VALIDATOR KR_SOURCE_DIR "/tests/fhir/validate.js"
#define S_BODY_MAX "65536"
#define S_IDLE_S 2
#define S_DOWN_TIMEOUT_MS "4000" /* node_timeout_ms of the node-down krfhir */
#define S_DOWN_TIMEOUT_MS_N 4000u

struct s_gw {
    char label[16];
    char dir[H_PATH];
    char log[H_PATH];
    char port_file[H_PATH + 16];
    char base[128]; /* http://127.0.0.1:PORT */
    struct h_proc proc;
};

static struct h_cluster s_c;
static char s_curl_bin[H_PATH], s_node_bin[H_PATH];

/* A program in PATH (h_run takes a path). */
static bool
s_which(const char *name, char out[H_PATH])
{
    const char *path = getenv("PATH");
    char buf[4096];

    snprintf(buf, sizeof(buf), "%s",
             path != NULL ? path : "/usr/local/bin:/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(buf, ":", &save); d != NULL;
         d = strtok_r(NULL, ":", &save)) {
        snprintf(out, H_PATH, "%s/%s", d, name);
        if (access(out, X_OK) == 0)
            return true;
    }
    out[0] = '\0';
    return false;
}
static int s_nfiles; /* resources saved for the validator */
static char s_files[64][H_PATH];

/* A krfhir for 'node'; 'hook' (or NULL) its rest-hook; 'node_timeout_ms'
 * (or NULL: the default) its bound on each call to the node. */
static void
s_gw_start(struct s_gw *g, const char *label, const char *node,
           const char *hook, const char *node_timeout_ms)
{
    char name[64], *text = NULL;
    size_t len;
    bool ok;

    snprintf(g->label, sizeof(g->label), "%s", label);
    snprintf(g->dir, sizeof(g->dir), "%s/fhir-%s", s_c.tmp, label);
    snprintf(g->log, sizeof(g->log), "%s/krfhir-%s.log", s_c.tmp, label);
    snprintf(g->port_file, sizeof(g->port_file), "%s/port", g->dir);
    H_ENSURE(mkdir(g->dir, 0750) == 0, "mkdir %s", g->dir);
    char *argv[] = {S_KRFHIR,      "--node",
                    (char *)node,  "--listen",
                    "127.0.0.1:0", "--port_file",
                    g->port_file,  "--state_dir",
                    g->dir,        "--max_body_bytes",
                    S_BODY_MAX,    "--idle_timeout_s",
                    "2",           "--retry_initial_ms",
                    "200",         "--retry_max_ms",
                    "1000",        "--log_level",
                    "debug",       NULL,
                    NULL,          NULL,
                    NULL,          NULL};
    int k = (int)(sizeof(argv) / sizeof(argv[0])) - 5;
    if (hook != NULL) {
        argv[k++] = "--subscription_endpoint";
        argv[k++] = (char *)hook;
    }
    if (node_timeout_ms != NULL) {
        argv[k++] = "--node_timeout_ms";
        argv[k++] = (char *)node_timeout_ms;
    }
    snprintf(name, sizeof(name), "krfhir %s", label);
    H_ENSURE(h_proc_spawn(&g->proc, name, g->log, argv) == KR_OK, "start %s",
             name);
    H_POLL(ok, H_START_MS,
           util_read_file(g->port_file, 64, &text, &len) == KR_OK);
    H_ENSURE(ok, "%s writes its port within %d ms", name, H_START_MS);
    text[strcspn(text, "\n")] = '\0';
    snprintf(g->base, sizeof(g->base), "http://127.0.0.1:%s", text);
    free(text);
}

/* curl: METHOD url [body file with content type] -> HTTP status; the
 * answer is written to 'out', its headers to 'out'.hdr. */
static int
s_curl(const char *method, const char *url, const char *ctype,
       const char *body_file, const char *out)
{
    struct h_run r;
    char data[H_PATH + 2], hdr[128], dump[H_PATH + 8];
    int code = -1;

    snprintf(dump, sizeof(dump), "%s.hdr", out);

    snprintf(data, sizeof(data), "@%s", body_file ? body_file : "");
    snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype ? ctype : "");
    char *argv_body[] = {s_curl_bin,
                         "-sS",
                         "-o",
                         (char *)out,
                         "-D",
                         dump,
                         "-w",
                         "%{http_code}",
                         "-X",
                         (char *)method,
                         "-H",
                         hdr,
                         "-H",
                         "Accept: application/fhir+json",
                         "--data-binary",
                         data,
                         "--max-time",
                         "60",
                         (char *)url,
                         NULL};
    char *argv_get[] = {s_curl_bin,   "-sS",
                        "-o",         (char *)out,
                        "-D",         dump,
                        "-w",         "%{http_code}",
                        "-X",         (char *)method,
                        "-H",         "Accept: application/fhir+json",
                        "--max-time", "90",
                        (char *)url,  NULL};
    if (h_run(&r, 100000, body_file ? argv_body : argv_get) == KR_OK &&
        r.code == 0)
        code = (int)strtol(r.out, NULL, 10); /* curl -w %{http_code} */
    else
        h_note("curl %s %s: exit %d: %s", method, url, r.code,
               r.err ? r.err : "");
    h_run_free(&r);
    return code;
}

static json_object *
s_read(const char *path)
{
    char *text = NULL;
    size_t len;
    json_object *o;

    if (util_read_file(path, 8 << 20, &text, &len) != KR_OK)
        return NULL;
    o = json_tokener_parse(text);
    free(text);
    return o;
}

static void
s_write_json(const char *path, json_object *o)
{
    const char *t = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    H_ENSURE(h_write_file(path, t, 0600) == KR_OK, "write %s", path);
}

/* Keep a returned resource for the validator. */
static void
s_keep(const char *path)
{
    if (s_nfiles < 64)
        snprintf(s_files[s_nfiles++], H_PATH, "%s", path);
}

static const char *
s_str(json_object *o, const char *path)
{
    return o != NULL ? h_json_str(o, path) : NULL;
}

static bool
s_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The entry of 'bundle' whose resource has type 'type'. */
static json_object *
s_entry(json_object *bundle, const char *type)
{
    json_object *entries, *res;

    if (!json_object_object_get_ex(bundle, "entry", &entries))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(entries); i++) {
        json_object *e = json_object_array_get_idx(entries, i);
        if (json_object_object_get_ex(e, "resource", &res) &&
            s_eq(s_str(res, "resourceType"), type))
            return res;
    }
    return NULL;
}

/* The value of the identifier with 'system' in resource 'r'. */
static const char *
s_ident(json_object *r, const char *key, const char *system)
{
    json_object *ids;

    if (r == NULL || !json_object_object_get_ex(r, key, &ids))
        return NULL;
    if (json_object_is_type(ids, json_type_object))
        return s_eq(s_str(ids, "system"), system) ? s_str(ids, "value") : NULL;
    for (size_t i = 0; i < json_object_array_length(ids); i++) {
        json_object *id = json_object_array_get_idx(ids, i);
        if (s_eq(s_str(id, "system"), system))
            return s_str(id, "value");
    }
    return NULL;
}

/* A variant of the example as a new message: its own Bundle.id, and no
 * Task.identifier, so that its referral_id derives from that id instead
 * of reusing the example's referral. */
static void
s_fresh(json_object *b, const char *bundle_id)
{
    json_object *task = s_entry(b, "Task");

    json_object_object_add(b, "id", json_object_new_string(bundle_id));
    if (task != NULL)
        json_object_object_del(task, "identifier");
}

/* What the example Bundle says, to compare against. */
struct s_example {
    char sender[64], receiver[64]; /* org ids: "ura:..." */
    char bsn[16], family[128], reason[128], purpose[64];
    uint8_t consent_id[16]; /* the consent the ServiceRequest names */
    bool has_consent_id;
};

static void
s_org_of(json_object *ref, char out[64])
{
    json_object *id;

    out[0] = '\0';
    if (ref == NULL || !json_object_object_get_ex(ref, "identifier", &id))
        return;
    const char *sys = s_str(id, "system"), *val = s_str(id, "value");
    if (sys == NULL || val == NULL)
        return;
    snprintf(out, 64, "%s:%s", strstr(sys, "/ura") != NULL ? "ura" : "agb",
             val);
}

static void
s_example_read(json_object *b, struct s_example *x)
{
    json_object *mh = s_entry(b, "MessageHeader"), *v, *dest;

    memset(x, 0, sizeof(*x));
    H_ENSURE(mh != NULL, "the example has a MessageHeader");
    if (json_object_object_get_ex(mh, "sender", &v))
        s_org_of(v, x->sender);
    if (json_object_object_get_ex(mh, "destination", &dest) &&
        json_object_array_length(dest) > 0 &&
        json_object_object_get_ex(json_object_array_get_idx(dest, 0),
                                  "receiver", &v))
        s_org_of(v, x->receiver);
    json_object *pat = s_entry(b, "Patient"),
                *sr = s_entry(b, "ServiceRequest");
    const char *s;
    if ((s = s_ident(pat, "identifier",
                     "http://fhir.nl/fhir/NamingSystem/"
                     "bsn")) != NULL)
        snprintf(x->bsn, sizeof(x->bsn), "%s", s);
    if ((s = s_str(pat, "name.0.family")) != NULL)
        snprintf(x->family, sizeof(x->family), "%s", s);
    if ((s = s_str(sr, "reasonCode.0.coding.0.code")) != NULL)
        snprintf(x->reason, sizeof(x->reason), "%s", s);
    if ((s = s_str(sr, "category.0.coding.0.code")) != NULL)
        snprintf(x->purpose, sizeof(x->purpose), "%s", s);
    json_object *si;
    if (sr != NULL && json_object_object_get_ex(sr, "supportingInfo", &si))
        for (size_t i = 0; i < json_object_array_length(si); i++) {
            json_object *ref = json_object_array_get_idx(si, i);
            if (s_eq(s_str(ref, "identifier.system"),
                     "urn:kansrijk:id:consent") &&
                (s = s_str(ref, "identifier.value")) != NULL &&
                util_unhex(s, x->consent_id, 16) == 0)
                x->has_consent_id = true;
        }
    H_ENSURE(x->sender[0] && x->receiver[0] && x->bsn[0] && x->reason[0],
             "the example names sender, receiver, BSN and reason");
}

/* Referrals from 'from' in the node's inbox. */
struct s_tally {
    const char *from;
    size_t n;
};

static int
s_tally_cb(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_tally *t = arg;

    if (strcmp(it->sender, t->from) == 0 &&
        it->type == KR__V1__MESSAGE_TYPE__REFERRAL)
        t->n++;
    return 0;
}

static size_t
s_referrals_at(int node, const char *from)
{
    struct s_tally t = {from, 0};

    h_inbox_foreach(h_node_client(&s_c, node), s_tally_cb, &t);
    return t.n;
}

/* Whether the REFERRAL from 'from' that opened referral 'rid' is marked
 * processed at the node. */
struct s_proc_arg {
    const char *from;
    uint8_t rid[16];
    bool processed;
};

static int
s_proc_cb(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_proc_arg *a = arg;

    if (strcmp(it->sender, a->from) == 0 &&
        it->type == KR__V1__MESSAGE_TYPE__REFERRAL &&
        it->referral_id.len == 16 &&
        memcmp(it->referral_id.data, a->rid, 16) == 0)
        a->processed = it->processed;
    return 0;
}

static bool
s_processed(int node, const char *from, const char *rid_hex)
{
    struct s_proc_arg a = {.from = from};

    if (util_unhex(rid_hex, a.rid, 16) != 0)
        return false;
    h_inbox_foreach_all(h_node_client(&s_c, node), s_proc_cb, &a);
    return a.processed;
}

static size_t
s_outbox_total(int node)
{
    struct h_outbox_stats st;

    memset(&st, 0, sizeof(st));
    h_outbox_stats(h_node_client(&s_c, node), &st);
    return st.total;
}

/* The status and the first issue of an answer: an OperationOutcome, or a
 * response Bundle whose entries hold one. */
static json_object *
s_issue(json_object *o)
{
    json_object *oo = o;

    if (o != NULL && s_eq(s_str(o, "resourceType"), "Bundle"))
        oo = s_entry(o, "OperationOutcome");
    if (oo == NULL || !s_eq(s_str(oo, "resourceType"), "OperationOutcome"))
        return NULL;
    return h_json_path(oo, "issue.0");
}

/* POST a Bundle (a file) and check the refusal: HTTP 'status', an
 * OperationOutcome whose diagnostics (or expression) mention 'needle',
 * and nothing sent (the practice's outbox and JGZ's inbox unchanged, or
 * only JGZ's when the broker refused it). */
static void
s_refused(const char *what, const struct s_gw *g, const char *path,
          const char *url_path, const char *method, const char *ctype,
          int status, const char *needle, int vl, int jgz, bool node_took)
{
    char out[H_PATH], url[256];
    size_t ob = s_outbox_total(vl), ib = s_referrals_at(jgz, s_c.nodes[vl].org);
    json_object *o, *iss;

    snprintf(out, sizeof(out), "%s.out", path);
    snprintf(url, sizeof(url), "%s%s", g->base, url_path);
    int code = s_curl(method, url, ctype, path, out);
    o = s_read(out);
    iss = s_issue(o);
    const char *diag = s_str(iss, "diagnostics"),
               *expr = s_str(iss, "expression.0");
    bool mentions = needle == NULL ||
                    (diag != NULL && strcasestr(diag, needle) != NULL) ||
                    (expr != NULL && strcasestr(expr, needle) != NULL);
    bool status_ok = status == 4 ? code >= 400 && code < 500 : code == status;
    H_CHECK(status_ok && iss != NULL && mentions &&
                s_eq(s_str(iss, "severity"), "error"),
            "%s: %d (want %s%d), an OperationOutcome saying '%s' (%s%s%s)",
            what, code, status == 4 ? "4xx: " : "", status,
            needle ? needle : "-", diag ? diag : "no issue", expr ? " at " : "",
            expr ? expr : "");
    if (o != NULL)
        s_keep(out);
    json_object_put(o);
    if (!node_took)
        H_CHECK(s_outbox_total(vl) == ob, "%s: nothing handed to the node",
                what);
    /* A message the broker refused is never delivered. */
    h_roundtrip(&s_c, vl, jgz, "the coalition still serves", 30000);
    H_CHECK(s_referrals_at(jgz, s_c.nodes[vl].org) == ib + 1,
            "%s: nothing arrived at JGZ (only the round trip's referral)",
            what);
}

/* The value of header 'name' in the answer s_curl wrote to 'out' ("" if
 * none). */
static void
s_header_of(const char *out, const char *name, char *val, size_t len)
{
    char path[H_PATH + 8], *text = NULL;
    size_t n, nl = strlen(name);

    val[0] = '\0';
    snprintf(path, sizeof(path), "%s.hdr", out);
    if (util_read_file(path, 1 << 16, &text, &n) != KR_OK)
        return;
    for (char *save = NULL, *l = strtok_r(text, "\r\n", &save); l != NULL;
         l = strtok_r(NULL, "\r\n", &save))
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            snprintf(val, len, "%s", l + nl + 1 + strspn(l + nl + 1, " "));
            break;
        }
    free(text);
}

/* The ms the last s_expect took. */
static uint64_t s_expect_ms;

/* METHOD a gateway's path (body file or NULL) and check the answer: HTTP
 * 'status' and an OperationOutcome whose diagnostics or expression
 * mention 'needle'. The answer is kept for the validator; its file is
 * returned (for its headers). */
static const char *
s_expect(const char *what, const struct s_gw *g, const char *method,
         const char *path, const char *body, int status, const char *needle)
{
    static char outs[32][H_PATH];
    static int k;
    char *out = outs[k % 32], url[512];
    json_object *o, *iss;

    snprintf(out, H_PATH, "%s/expect-%d.json", s_c.tmp, k++);
    snprintf(url, sizeof(url), "%s%s", g->base, path);
    uint64_t t0 = h_mono_ms();
    int code =
        s_curl(method, url, body ? "application/fhir+json" : NULL, body, out);
    uint64_t ms = s_expect_ms = h_mono_ms() - t0;
    o = s_read(out);
    iss = s_issue(o);
    const char *diag = s_str(iss, "diagnostics"),
               *expr = s_str(iss, "expression.0");
    bool mentions = (diag != NULL && strcasestr(diag, needle) != NULL) ||
                    (expr != NULL && strcasestr(expr, needle) != NULL);
    H_CHECK(code == status && mentions,
            "%s: %d (want %d) in %llu ms, an OperationOutcome saying '%s' "
            "(%s%s%s)",
            what, code, status, (unsigned long long)ms, needle,
            diag ? diag : "no issue", expr ? " at " : "", expr ? expr : "");
    if (o != NULL)
        s_keep(out);
    json_object_put(o);
    return out;
}

/*
 * The rest-hook listener: a child process on a real socket. It answers
 * the first request 500 and every later one 200, writing each body to
 * <tmp>/hook-N.json.
 */

struct s_hook {
    int port;
    char dir[H_PATH];
};

static int
s_hook_run(void *arg)
{
    struct s_hook *h = arg;
    struct sockaddr_in a;
    int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)h->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(ls, 8) != 0) {
        fprintf(stderr, "hook: cannot listen on %d: %s\n", h->port,
                strerror(errno));
        return 1;
    }
    printf("hook: listening on %d\n", h->port);
    fflush(stdout);
    for (int n = 1; n <= 500; n++) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        char buf[65536];
        size_t got = 0;
        char *end = NULL;
        long clen = -1;
        /* Bounded: at most sizeof(buf) bytes, each read waits 5 s. */
        while (got < sizeof(buf) - 1) {
            struct pollfd pf = {fd, POLLIN, 0};
            if (poll(&pf, 1, 5000) <= 0)
                break;
            ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            buf[got] = '\0';
            if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
                char *cl = strcasestr(buf, "Content-Length:");
                clen = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;
            }
            if (end != NULL && (long)(got - (size_t)(end + 4 - buf)) >= clen)
                break;
        }
        const char *reply = n == 1 ? "HTTP/1.1 500 Not yet\r\nContent-Length: "
                                     "0\r\nConnection: close\r\n\r\n"
                                   : "HTTP/1.1 200 OK\r\nContent-Length: "
                                     "0\r\nConnection: close\r\n\r\n";
        if (n > 1 && end != NULL) {
            char p[H_PATH + 32], t[H_PATH + 32];
            snprintf(t, sizeof(t), "%s/.hook-%d.tmp", h->dir, n - 1);
            snprintf(p, sizeof(p), "%s/hook-%d.json", h->dir, n - 1);
            FILE *f = fopen(t, "w");
            if (f != NULL) {
                fputs(end + 4, f);
                fclose(f);
                rename(t, p);
            }
        }
        if (write(fd, reply, strlen(reply)) < 0)
            perror("hook: write");
        close(fd);
        printf("hook: request %d answered %s\n", n, n == 1 ? "500" : "200");
        fflush(stdout);
    }
    return 0;
}

/* A loopback port nobody listens on (yet). */
static int
s_free_port(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* A slow client: half a request, then silence. Returns the ms until the
 * server closed the connection (-1 if it did not within 'limit_ms'). The
 * other client is served meanwhile: checked through 'other'. */
static long
s_slow_client(const struct s_gw *g, int limit_ms, bool *other_served)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    const char *p = strrchr(g->base, ':');
    char out[H_PATH], url[256];

    if (p != NULL) {
        long v = strtol(p + 1, NULL, 10);
        port = v > 0 && v < 65536 ? (int)v : 0;
    }
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    H_ENSURE(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0,
             "the slow client connects");
    const char half[] = "POST /$process-message HTTP/1.1\r\nHost: x\r\n"
                        "Content-Type: application/fhir+json\r\n"
                        "Content-Length: 5000\r\n\r\n{\"resourceType\":";
    H_ENSURE(write(fd, half, sizeof(half) - 1) == (ssize_t)sizeof(half) - 1,
             "the slow client sends half a request");
    uint64_t t0 = h_mono_ms();
    snprintf(out, sizeof(out), "%s/slow-other.json", s_c.tmp);
    snprintf(url, sizeof(url), "%s/metadata", g->base);
    *other_served = s_curl("GET", url, NULL, NULL, out) == 200;
    long closed = -1;
    /* Bounded by limit_ms. */
    while (h_mono_ms() - t0 < (uint64_t)h_scale(limit_ms)) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 100) > 0) {
            char b[512];
            ssize_t r = read(fd, b, sizeof(b));
            if (r <= 0) {
                closed = (long)(h_mono_ms() - t0);
                break;
            }
        }
    }
    close(fd);
    return closed;
}

/* Run the validator on every kept file. */
static void
s_validate(void)
{
    struct h_run r;
    char *argv[70];
    int n = 0;

    if (!s_which("node", s_node_bin)) {
        H_CHECK(false, "node (nodejs) is installed, for the validator");
        return;
    }
    if (access(S_VALIDATOR, R_OK) != 0) {
        H_CHECK(false, "the validator %s is there", S_VALIDATOR);
        return;
    }
    argv[n++] = s_node_bin;
    argv[n++] = S_VALIDATOR;
    for (int i = 0; i < s_nfiles && n < 68; i++)
        argv[n++] = s_files[i];
    argv[n] = NULL;
    h_run(&r, 300000, argv);
    const char *ci = getenv("CI");
    if (r.code == 77 && (ci == NULL || strcmp(ci, "true") != 0)) {
        h_note("SKIP validation: the validator's npm packages are not "
               "installed (scripts/install-deps.sh, or npm ci in "
               "tests/fhir)");
        h_run_free(&r);
        return;
    }
    H_CHECK(r.code == 0,
            "every resource krfhir returned (%d files) validates against FHIR "
            "R4 (node tests/fhir/validate.js: exit %d)",
            s_nfiles, r.code);
    if (r.code != 0)
        h_note("validator: %s%s", r.out ? r.out : "", r.err ? r.err : "");
    h_run_free(&r);
}

/* GET a Task into 'file'; whether its status is 'want'. */
static bool
s_status_is(const char *url, const char *file, const char *want)
{
    json_object *o;
    bool ok;

    if (s_curl("GET", url, NULL, NULL, file) != 200 ||
        (o = s_read(file)) == NULL)
        return false;
    ok = s_eq(s_str(o, "status"), want);
    json_object_put(o);
    return ok;
}

static const char *
s_path(const char *name)
{
    static char bufs[8][H_PATH];
    static int k;
    char *b = bufs[k++ % 8];

    snprintf(b, H_PATH, "%s/%s", s_c.tmp, name);
    return b;
}

/* The searchset at 'search' holds the Task 'tid' equal to what GET 'one'
 * gives. */
static bool
s_search_as_read(const char *search, const char *one, const char *tid)
{
    int c1 = s_curl("GET", search, NULL, NULL, s_path("search-vl.json"));
    int c2 = s_curl("GET", one, NULL, NULL, s_path("task-vl-one.json"));
    json_object *b = s_read(s_path("search-vl.json"));
    json_object *t = s_read(s_path("task-vl-one.json"));
    json_object *e = b != NULL ? h_json_path(b, "entry") : NULL, *found = NULL;
    for (size_t i = 0; e != NULL && json_object_is_type(e, json_type_array) &&
                       i < json_object_array_length(e);
         i++) {
        json_object *r =
            h_json_path(json_object_array_get_idx(e, i), "resource");
        if (r != NULL && s_eq(s_str(r, "id"), tid))
            found = r;
    }
    bool ok = c1 == 200 && c2 == 200 && found != NULL && t != NULL &&
              json_object_equal(found, t);
    json_object_put(b);
    json_object_put(t);
    return ok;
}

int
main(void)
{
    struct s_gw gv, gj;
    struct s_example x;
    json_object *ex, *o;
    char url[512], tid[64] = "", hook_url[128];
    bool ok;

    h_init("test_fhir", 280);
    h_cluster_init(&s_c, "fhir");
    H_REQUIRE(s_which("curl", s_curl_bin), "curl is installed");
    ex = s_read(S_EXAMPLE);
    H_REQUIRE(ex != NULL, "the example Bundle %s reads", S_EXAMPLE);
    s_example_read(ex, &x);
    h_note("the example: %s -> %s, reason %s", x.sender, x.receiver, x.reason);

    h_broker_start(&s_c);
    int vl = h_org_add(&s_c, "vl", x.sender, "verloskunde", "De Wieg");
    int jgz = h_org_add(&s_c, "jgz", x.receiver, "jgz", "JGZ Noord");
    h_node_start(&s_c, vl);
    h_node_start(&s_c, jgz);
    H_REQUIRE(h_node_wait_connected(&s_c, vl, H_CONNECT_MS) &&
                  h_node_wait_connected(&s_c, jgz, H_CONNECT_MS),
              "both nodes connected");

    /* The woman's consent for the example's purpose, recorded by the
     * practice's node. */
    struct h_consent g = {0};
    uint8_t cmsg[16];
    uint64_t now = util_now_ms();
    g.recipient = x.receiver;
    g.bsn = x.bsn;
    g.purpose = x.purpose[0] ? x.purpose : NULL;
    g.from_org = x.sender;
    g.to_org = x.receiver;
    g.from_ms = now - 3600 * 1000ull;
    g.until_ms = now + 365 * 24 * 3600 * 1000ull;
    g.consent_id = x.has_consent_id ? x.consent_id : NULL;
    H_REQUIRE(h_send_consent(h_node_client(&s_c, vl), &g, NULL, cmsg) == KR_OK,
              "the consent is recorded");
    H_POLL(ok, 20000,
           h_outcome(h_node_client(&s_c, vl), cmsg) >=
               KR__V1__OUTCOME__ACCEPTED);
    H_REQUIRE(ok, "the broker accepts the consent");
    /* And the harness's own woman's, for h_roundtrip. */
    H_REQUIRE(h_consent_default(&s_c, vl, jgz), "the round trip's consent");

    /* JGZ's rest-hook goes to a port where nothing listens yet. */
    struct s_hook hook = {.port = s_free_port()};
    H_ENSURE(hook.port > 0, "a free port for the listener");
    snprintf(hook.dir, sizeof(hook.dir), "%s", s_c.tmp);
    snprintf(hook_url, sizeof(hook_url), "http://127.0.0.1:%d/hook", hook.port);
    s_gw_start(&gv, "vl", s_c.nodes[vl].local, NULL, NULL);
    s_gw_start(&gj, "jgz", s_c.nodes[jgz].local, hook_url, NULL);

    /* GET /metadata. */
    h_note("== metadata");
    snprintf(url, sizeof(url), "%s/metadata", gv.base);
    H_CHECK(s_curl("GET", url, NULL, NULL, s_path("metadata.json")) == 200,
            "GET /metadata: 200");
    o = s_read(s_path("metadata.json"));
    H_CHECK(s_eq(s_str(o, "resourceType"), "CapabilityStatement") &&
                s_eq(s_str(o, "fhirVersion"), "4.0.1"),
            "a CapabilityStatement of FHIR 4.0.1");
    json_object_put(o);
    s_keep(s_path("metadata.json"));

    /* 1. The round trip. */
    h_note("== round trip");
    snprintf(url, sizeof(url), "%s/$process-message", gv.base);
    uint64_t t0 = h_mono_ms();
    int code = s_curl("POST", url, "application/fhir+json", S_EXAMPLE,
                      s_path("pm1.json"));
    o = s_read(s_path("pm1.json"));
    json_object *mh = o != NULL ? s_entry(o, "MessageHeader") : NULL;
    H_CHECK(code == 200 && mh != NULL && s_eq(s_str(mh, "response.code"), "ok"),
            "POST the example Bundle at the practice's /$process-message: "
            "200, response code ok (HTTP %d, %s)",
            code,
            s_str(mh, "response.code") ? s_str(mh, "response.code")
                                       : "no response");
    json_object_put(o);
    s_keep(s_path("pm1.json"));

    /* The long poll at JGZ finds the new Task. */
    snprintf(url, sizeof(url), "%s/Task?requester=%s&_wait=30", gj.base,
             x.sender);
    code = s_curl("GET", url, NULL, NULL, s_path("search.json"));
    o = s_read(s_path("search.json"));
    const char *t = s_str(o, "entry.0.resource.id");
    if (t != NULL)
        snprintf(tid, sizeof(tid), "%s", t);
    H_REQUIRE(code == 200 && s_eq(s_str(o, "type"), "searchset") &&
                  tid[0] != '\0',
              "JGZ's long poll GET /Task?requester=...&_wait=30 returns the "
              "Task (HTTP %d) after %llu ms",
              code, (unsigned long long)(h_mono_ms() - t0));
    json_object_put(o);
    s_keep(s_path("search.json"));

    snprintf(url, sizeof(url), "%s/Task/%s", gj.base, tid);
    code = s_curl("GET", url, NULL, NULL, s_path("task-jgz.json"));
    o = s_read(s_path("task-jgz.json"));
    char req_org[64];
    json_object *rq = h_json_path(o, "requester");
    s_org_of(rq, req_org);
    H_CHECK(code == 200 && s_eq(s_str(o, "resourceType"), "Task") &&
                s_eq(s_str(o, "status"), "requested") &&
                s_eq(req_org, x.sender),
            "GET Task at JGZ: requested, requester %s", x.sender);
    json_object_put(o);
    s_keep(s_path("task-jgz.json"));

    snprintf(url, sizeof(url), "%s/ServiceRequest/%s", gj.base, tid);
    code = s_curl("GET", url, NULL, NULL, s_path("sr-jgz.json"));
    o = s_read(s_path("sr-jgz.json"));
    H_CHECK(code == 200 && s_eq(s_str(o, "resourceType"), "ServiceRequest") &&
                s_eq(s_str(o, "reasonCode.0.coding.0.code"), x.reason),
            "GET ServiceRequest at JGZ: the Bundle's reason (%s)", x.reason);
    json_object_put(o);
    s_keep(s_path("sr-jgz.json"));

    snprintf(url, sizeof(url), "%s/Patient/%s", gj.base, tid);
    code = s_curl("GET", url, NULL, NULL, s_path("patient-jgz.json"));
    o = s_read(s_path("patient-jgz.json"));
    H_CHECK(
        code == 200 && s_eq(s_str(o, "resourceType"), "Patient") &&
            s_eq(s_ident(o, "identifier",
                         "http://fhir.nl/fhir/NamingSystem/bsn"),
                 x.bsn) &&
            (x.family[0] == '\0' || s_eq(s_str(o, "name.0.family"), x.family)),
        "GET Patient at JGZ: the Bundle's patient (BSN, family name)");
    json_object_put(o);
    s_keep(s_path("patient-jgz.json"));

    /* JGZ accepts by a JSON Patch, with its planned date and a note; the
     * practice sees accepted, the date and the note. */
    H_ENSURE(
        h_write_file(s_path("accept.json"),
                     "[{\"op\": \"replace\", \"path\": \"/status\", "
                     "\"value\": \"accepted\"}, {\"op\": \"add\", \"path\": "
                     "\"/executionPeriod\", \"value\": {\"start\": "
                     "\"2027-01-12\"}}, {\"op\": \"add\", \"path\": \"/note\", "
                     "\"value\": [{\"text\": \"Home visit planned\"}]}]",
                     0600) == KR_OK,
        "write accept.json");
    snprintf(url, sizeof(url), "%s/Task/%s", gj.base, tid);
    code = s_curl("PATCH", url, "application/json-patch+json",
                  s_path("accept.json"), s_path("task-accepted.json"));
    o = s_read(s_path("task-accepted.json"));
    H_CHECK(code == 200 && s_eq(s_str(o, "status"), "accepted"),
            "JGZ's PATCH status -> accepted: 200, the Task says accepted "
            "(HTTP %d, %s)",
            code, s_str(o, "status") ? s_str(o, "status") : "-");
    json_object_put(o);
    s_keep(s_path("task-accepted.json"));
    snprintf(url, sizeof(url), "%s/Task/%s", gv.base, tid);
    H_POLL(ok, 20000, s_status_is(url, s_path("task-vl.json"), "accepted"));
    H_CHECK(ok, "the practice's GET Task says accepted");
    o = s_read(s_path("task-vl.json"));
    const char *note = s_str(o, "note.0.text");
    H_CHECK(s_eq(s_str(o, "executionPeriod.start"), "2027-01-12") &&
                note != NULL && strstr(note, "Home visit planned") != NULL &&
                x.receiver[0] != '\0' &&
                s_eq(s_str(o, "note.0.authorReference.identifier.value"),
                     strchr(x.receiver, ':') + 1),
            "the practice's Task shows JGZ's planned date and note, by JGZ "
            "(%s; %s)",
            s_str(o, "executionPeriod.start")
                ? s_str(o, "executionPeriod.start")
                : "no date",
            note != NULL ? note : "no note");
    json_object_put(o);
    s_keep(s_path("task-vl.json"));

    /* A search shows each Task as GET /Task/{id} does (one node call a
     * page: the views hold the history and the received messages). */
    snprintf(url, sizeof(url), "%s/Task?status=accepted", gv.base);
    char one[H_PATH + 64];
    snprintf(one, sizeof(one), "%s/Task/%s", gv.base, tid);
    H_POLL(ok, 20000, s_search_as_read(url, one, tid));
    H_CHECK(ok, "the practice's GET /Task?status=accepted holds the Task as "
                "GET /Task/{id} gives it (its note, date and status)");

    /* The same Bundle again: one referral. */
    snprintf(url, sizeof(url), "%s/$process-message", gv.base);
    code = s_curl("POST", url, "application/fhir+json", S_EXAMPLE,
                  s_path("pm2.json"));
    o = s_read(s_path("pm2.json"));
    mh = o != NULL ? s_entry(o, "MessageHeader") : NULL;
    H_CHECK(code == 200 && s_eq(s_str(mh, "response.code"), "ok"),
            "the same Bundle POSTed again: 200, ok (HTTP %d)", code);
    json_object_put(o);
    h_roundtrip(&s_c, vl, jgz, "a referral after it", 30000);
    H_CHECK(s_referrals_at(jgz, x.sender) == 2,
            "JGZ's node holds the example's referral once (and the round "
            "trip's): %zu",
            s_referrals_at(jgz, x.sender));

    /* 4. The rest-hook: refused, then 500, then delivered. */
    h_note("== rest-hook");
    H_POLL(ok, 20000, h_log_contains(gj.log, "notify: attempt 2"));
    H_CHECK(ok, "JGZ's krfhir retries while the listener refuses");
    struct h_proc hp;
    H_ENSURE(h_proc_fork(&hp, "hook", s_path("hook.log"), s_hook_run, &hook) ==
                 KR_OK,
             "start the listener");
    char hook1[H_PATH];
    snprintf(hook1, sizeof(hook1), "%s/hook-1.json", s_c.tmp);
    H_POLL(ok, 30000, access(hook1, R_OK) == 0);
    H_CHECK(ok, "a notification reaches the listener after a refusal and a "
                "500");
    o = s_read(hook1);
    char want[160];
    snprintf(want, sizeof(want), "/Task/%s", tid);
    const char *full = s_str(o, "entry.1.fullUrl");
    H_CHECK(s_eq(s_str(o, "type"), "history") && full != NULL &&
                strstr(full, want) != NULL &&
                h_json_path(o, "entry.1.resource") == NULL,
            "it is id-only: a history Bundle naming Task/%s, no content", tid);
    json_object_put(o);
    s_keep(hook1);
    snprintf(url, sizeof(url), "%s/Subscription", gj.base);
    H_CHECK(s_curl("GET", url, NULL, NULL, s_path("subscription.json")) == 200,
            "GET /Subscription at JGZ: 200");
    o = s_read(s_path("subscription.json"));
    H_CHECK(s_eq(s_str(o, "entry.0.resource.channel.type"), "rest-hook") &&
                s_eq(s_str(o, "entry.0.resource.channel.endpoint"), hook_url),
            "it shows the configured rest-hook");
    json_object_put(o);
    s_keep(s_path("subscription.json"));
    H_POLL(ok, 20000, s_processed(jgz, x.sender, tid));
    H_CHECK(ok, "once announced, the referral is processed at JGZ's node");

    /* 3. Bad input at the practice. */
    h_note("== bad input");
    H_ENSURE(h_write_file(s_path("bad-json.json"),
                          "{\"resourceType\": \"Bundle\", \"type\": ", 0600) ==
                 KR_OK,
             "write");
    s_refused("malformed JSON", &gv, s_path("bad-json.json"),
              "/$process-message", "POST", "application/fhir+json", 400, "JSON",
              vl, jgz, false);

    o = json_tokener_parse(json_object_to_json_string(ex));
    json_object *entries;
    json_object_object_get_ex(o, "entry", &entries);
    json_object_array_del_idx(entries, 0, 1);
    s_fresh(o, "no-header-1");
    s_write_json(s_path("no-header.json"), o);
    json_object_put(o);
    s_refused("a Bundle without MessageHeader", &gv, s_path("no-header.json"),
              "/$process-message", "POST", "application/fhir+json", 4,
              "MessageHeader", vl, jgz, false);

    o = json_tokener_parse(json_object_to_json_string(ex));
    json_object_object_get_ex(o, "entry", &entries);
    json_object *last = json_object_array_get_idx(
        entries, json_object_array_length(entries) - 1);
    json_object *lres;
    json_object_object_get_ex(last, "resource", &lres);
    json_object_object_add(lres, "resourceType",
                           json_object_new_string("Spaceship"));
    s_fresh(o, "unknown-type-1");
    s_write_json(s_path("unknown-type.json"), o);
    json_object_put(o);
    s_refused("an unknown resource type", &gv, s_path("unknown-type.json"),
              "/$process-message", "POST", "application/fhir+json", 4,
              "resourceType", vl, jgz, false);

    /* The BSN: 123456789 fails the eleven-test. */
    {
        char *text = xstrdup(json_object_to_json_string_ext(
            ex, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        char *p = strstr(text, x.bsn);
        H_ENSURE(p != NULL, "the BSN is in the example's text");
        memcpy(p, "123456789", 9);
        o = json_tokener_parse(text);
        free(text);
        s_fresh(o, "bad-bsn-1");
        s_write_json(s_path("bad-bsn.json"), o);
        json_object_put(o);
    }
    s_refused("a BSN that fails the eleven-test", &gv, s_path("bad-bsn.json"),
              "/$process-message", "POST", "application/fhir+json", 4,
              "identifier", vl, jgz, false);

    /* An unknown recipient: a URA the directory does not hold. */
    {
        char *text = xstrdup(json_object_to_json_string_ext(
            ex, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        const char *digits = strchr(x.receiver, ':') + 1;
        char quoted[80];
        snprintf(quoted, sizeof(quoted), "\"%s\"", digits);
        /* The receiver's value, wherever the example names it. */
        for (char *p = strstr(text, quoted); p != NULL;
             p = strstr(p + 1, quoted))
            for (size_t k = 1; k < strlen(quoted) - 1; k++)
                p[k] = '9';
        o = json_tokener_parse(text);
        free(text);
        H_ENSURE(o != NULL, "the unknown-recipient Bundle parses");
        s_fresh(o, "unknown-rcpt");
        s_write_json(s_path("unknown-rcpt.json"), o);
        json_object_put(o);
    }
    s_refused("an unknown recipient", &gv, s_path("unknown-rcpt.json"),
              "/$process-message", "POST", "application/fhir+json", 422,
              "recipient", vl, jgz, true);

    /* No consent: another woman (a valid BSN no consent covers). */
    {
        char *text = xstrdup(json_object_to_json_string_ext(
            ex, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        char other[10];
        h_bsn(4711, other);
        if (strcmp(other, x.bsn) == 0)
            h_bsn(4712, other);
        for (char *p = strstr(text, x.bsn); p != NULL; p = strstr(p, x.bsn))
            memcpy(p, other, 9);
        o = json_tokener_parse(text);
        free(text);
        s_fresh(o, "no-consent-1");
        s_write_json(s_path("no-consent.json"), o);
        json_object_put(o);
    }
    s_refused("no consent", &gv, s_path("no-consent.json"), "/$process-message",
              "POST", "application/fhir+json", 422, "consent", vl, jgz, true);

    /* A status change the state table refuses: accepted -> received. */
    H_ENSURE(h_write_file(s_path("back.json"),
                          "[{\"op\": \"replace\", \"path\": \"/status\", "
                          "\"value\": \"received\"}]",
                          0600) == KR_OK,
             "write back.json");
    {
        char turl[128];
        snprintf(turl, sizeof(turl), "/Task/%s", tid);
        size_t before = s_outbox_total(jgz);
        char out[H_PATH];
        snprintf(url, sizeof(url), "%s%s", gj.base, turl);
        snprintf(out, sizeof(out), "%s.out", s_path("back.json"));
        code = s_curl("PATCH", url, "application/json-patch+json",
                      s_path("back.json"), out);
        o = s_read(out);
        json_object *iss = s_issue(o);
        H_CHECK(code == 409 && iss != NULL &&
                    strstr(s_str(iss, "diagnostics") ? s_str(iss, "diagnostics")
                                                     : "",
                           "bad-transition") != NULL,
                "a status change the state table refuses (accepted -> "
                "received): 409, bad-transition (HTTP %d)",
                code);
        json_object_put(o);
        s_keep(out);
        snprintf(url, sizeof(url), "%s/Task/%s", gv.base, tid);
        s_curl("GET", url, NULL, NULL, s_path("task-vl2.json"));
        o = s_read(s_path("task-vl2.json"));
        H_CHECK(s_eq(s_str(o, "status"), "accepted") &&
                    s_outbox_total(jgz) == before + 1,
                "the referral stays accepted at the practice");
        json_object_put(o);
    }

    /* An oversized body: 413 before it is read. */
    {
        size_t n = 70000;
        char *big = malloc(n + 1);
        H_ENSURE(big != NULL, "memory");
        memset(big, ' ', n);
        big[0] = '{';
        big[n - 1] = '}';
        big[n] = '\0';
        H_ENSURE(h_write_file(s_path("big.json"), big, 0600) == KR_OK,
                 "write big.json");
        free(big);
    }
    s_refused("a body over max_body_bytes", &gv, s_path("big.json"),
              "/$process-message", "POST", "application/fhir+json", 413,
              "max_body_bytes", vl, jgz, false);

    /* A slow client. */
    bool other = false;
    long cut = s_slow_client(&gv, (S_IDLE_S + 8) * 1000, &other);
    H_CHECK(other, "another client is served while the slow one stalls");
    H_CHECK(cut >= (S_IDLE_S - 1) * 1000L && cut >= 0,
            "the slow client (half a request, then silence) is cut off "
            "after the idle timeout of %d s: %ld ms",
            S_IDLE_S, cut);

    /* A consent granted and revoked through the gateway. */
    /* 4b. A write waits for the broker's answer, held by the node (no
     * polling): with the broker down the answer is 202 transient-error
     * once accept_wait_ms (5 s) has passed; with the broker back, the
     * same Bundle is the same message, and its answer is 200 ok. */
    h_note("== broker down");
    {
        o = json_tokener_parse(json_object_to_json_string(ex));
        s_fresh(o, "broker-down-1");
        s_write_json(s_path("broker-down.json"), o);
        json_object_put(o);
        H_ENSURE(h_broker_stop(&s_c), "stop the broker");
        snprintf(url, sizeof(url), "%s/$process-message", gv.base);
        uint64_t bt0 = util_mono_ms();
        code = s_curl("POST", url, "application/fhir+json",
                      s_path("broker-down.json"), s_path("bd1.json"));
        uint64_t took = util_mono_ms() - bt0;
        o = s_read(s_path("bd1.json"));
        mh = o != NULL ? s_entry(o, "MessageHeader") : NULL;
        H_CHECK(code == 202 &&
                    s_eq(s_str(mh, "response.code"), "transient-error") &&
                    took >= 4500,
                "broker down: 202 transient-error after accept_wait_ms "
                "(HTTP %d, %llu ms)",
                code, (unsigned long long)took);
        json_object_put(o);
        s_keep(s_path("bd1.json"));
        h_broker_start(&s_c);
        bool ok200 = false;
        H_POLL(ok200, 30000,
               s_curl("POST", url, "application/fhir+json",
                      s_path("broker-down.json"), s_path("bd2.json")) == 200);
        o = s_read(s_path("bd2.json"));
        mh = o != NULL ? s_entry(o, "MessageHeader") : NULL;
        H_CHECK(ok200 && s_eq(s_str(mh, "response.code"), "ok"),
                "broker back: the same Bundle again is 200 ok (%s)",
                s_str(mh, "response.code") ? s_str(mh, "response.code")
                                           : "no answer");
        json_object_put(o);
    }

    h_note("== consent");
    {
        const char *cid = "c0115e47000000000000000000b00002";
        char curl_[512], out[H_PATH];
        json_object *c = s_read(KR_SOURCE_DIR "/examples/fhir/consent.json"),
                    *ids;
        H_REQUIRE(c != NULL, "examples/fhir/consent.json reads");
        json_object_object_add(c, "id", json_object_new_string(cid));
        if (json_object_object_get_ex(c, "identifier", &ids) &&
            json_object_array_length(ids) > 0)
            json_object_object_add(json_object_array_get_idx(ids, 0), "value",
                                   json_object_new_string(cid));
        s_write_json(s_path("consent.json"), c);
        snprintf(curl_, sizeof(curl_), "%s/Consent", gv.base);
        snprintf(out, sizeof(out), "%s", s_path("consent-post.json"));
        code = s_curl("POST", curl_, "application/fhir+json",
                      s_path("consent.json"), out);
        o = s_read(out);
        H_CHECK(code == 201 && s_eq(s_str(o, "resourceType"), "Consent") &&
                    s_eq(s_str(o, "id"), cid),
                "POST /Consent at the practice: 201, the Consent with its id "
                "(HTTP %d)",
                code);
        json_object_put(o);
        s_keep(out);
        json_object_object_add(c, "status", json_object_new_string("inactive"));
        s_write_json(s_path("consent-revoke.json"), c);
        json_object_put(c);
        snprintf(curl_, sizeof(curl_), "%s/Consent/%s", gv.base, cid);
        snprintf(out, sizeof(out), "%s", s_path("consent-put.json"));
        code = s_curl("PUT", curl_, "application/fhir+json",
                      s_path("consent-revoke.json"), out);
        o = s_read(out);
        H_CHECK(
            code == 200 && s_eq(s_str(o, "resourceType"), "Consent"),
            "PUT /Consent/{id} with status inactive: 200, revoked (HTTP %d)",
            code);
        json_object_put(o);
        s_keep(out);
    }

    /* 6. What needs no node is answered without it: a krfhir whose node
     * socket does not exist. */
    h_note("== node down");
    {
        struct s_gw gd;
        char dead[H_PATH + 16], allow[64];
        const char *f;
        snprintf(dead, sizeof(dead), "ipc://%s/no-such-node.sock", s_c.tmp);
        /* Each ask of the node waits node_timeout_ms: what answers
         * sooner did not ask it. */
        s_gw_start(&gd, "down", dead, NULL, S_DOWN_TIMEOUT_MS);
        uint64_t slowest = 0;
        s_expect("GET /Task/abc (not a referral id), node down", &gd, "GET",
                 "/Task/abc", NULL, 404, "32 lower-case hex");
        slowest = s_expect_ms > slowest ? s_expect_ms : slowest;
        s_expect("GET /ServiceRequest/abc, node down", &gd, "GET",
                 "/ServiceRequest/abc", NULL, 404, "32 lower-case hex");
        slowest = s_expect_ms > slowest ? s_expect_ms : slowest;
        s_expect("GET /Patient/abc, node down", &gd, "GET", "/Patient/abc",
                 NULL, 404, "32 lower-case hex");
        slowest = s_expect_ms > slowest ? s_expect_ms : slowest;
        s_expect("PUT /Consent/abc (not a consent id), node down", &gd, "PUT",
                 "/Consent/abc", s_path("consent-revoke.json"), 404,
                 "32 lower-case hex");
        slowest = s_expect_ms > slowest ? s_expect_ms : slowest;
        H_ENSURE(h_write_file(s_path("bare-bundle.json"),
                              "{\"resourceType\":\"Bundle\"}", 0600) == KR_OK,
                 "write bare-bundle.json");
        s_expect("POST $process-message {\"resourceType\":\"Bundle\"}, node "
                 "down: the mapper's refusal, not 503",
                 &gd, "POST", "/$process-message", s_path("bare-bundle.json"),
                 400, "Bundle.type");
        slowest = s_expect_ms > slowest ? s_expect_ms : slowest;
        H_ENSURE(h_write_file(s_path("patient-body.json"),
                              "{\"resourceType\":\"Patient\"}", 0600) == KR_OK,
                 "write patient-body.json");
        s_expect("POST $process-message with a Patient, node down: 400 "
                 "structure",
                 &gd, "POST", "/$process-message", s_path("patient-body.json"),
                 400, "Bundle");
        slowest = s_expect_ms > slowest ? s_expect_ms : slowest;
        f = s_expect("DELETE /Task/x, node down: 405", &gd, "DELETE", "/Task/x",
                     NULL, 405, "GET, PUT, PATCH");
        slowest = s_expect_ms > slowest ? s_expect_ms : slowest;
        H_CHECK(slowest < S_DOWN_TIMEOUT_MS_N,
                "the 404s, 400s and the 405 come at once, without the node: "
                "the slowest in %llu ms (an ask of the node takes %s ms)",
                (unsigned long long)slowest, S_DOWN_TIMEOUT_MS);
        s_header_of(f, "Allow", allow, sizeof(allow));
        H_CHECK(s_eq(allow, "GET, PUT, PATCH"),
                "its Allow header names GET, PUT, PATCH (%s)", allow);
        o = s_read(f);
        H_CHECK(s_eq(s_str(s_issue(o), "code"), "not-supported"),
                "its OperationOutcome says not-supported");
        json_object_put(o);
        f = s_expect("DELETE /Task (the search), node down: 405", &gd, "DELETE",
                     "/Task", NULL, 405, "GET");
        s_header_of(f, "Allow", allow, sizeof(allow));
        H_CHECK(s_eq(allow, "GET"), "its Allow header is GET (%s)", allow);
        f = s_expect("GET /$process-message: 405", &gd, "GET",
                     "/$process-message", NULL, 405, "POST");
        s_header_of(f, "Allow", allow, sizeof(allow));
        H_CHECK(s_eq(allow, "POST"), "its Allow header is POST (%s)", allow);
        /* What does need the node: 503 naming its endpoint. */
        s_expect("GET /Task/{a referral id}, node down: 503 naming the node",
                 &gd, "GET", "/Task/0123456789abcdef0123456789abcdef", NULL,
                 503, dead);
        s_expect("POST the example Bundle, node down: 503 naming the node", &gd,
                 "POST", "/$process-message", S_EXAMPLE, 503, dead);
        int st = 0;
        char buf[32];
        H_CHECK(h_proc_stop(&gd.proc, SIGTERM, H_STOP_MS, &st) == KR_OK &&
                    WIFEXITED(st) && WEXITSTATUS(st) == 0,
                "krfhir down exits 0 after SIGTERM (%s)",
                h_status_str(st, buf, sizeof(buf)));
    }

    /* A long poll that finds nothing: an empty searchset after the wait. */
    h_note("== long poll, nothing");
    {
        snprintf(url, sizeof(url),
                 "%s/Task?_lastUpdated=gt2099-01-01T00:00:00Z&_wait=2",
                 gj.base);
        uint64_t t1 = h_mono_ms();
        code = s_curl("GET", url, NULL, NULL, s_path("poll-empty.json"));
        uint64_t waited = h_mono_ms() - t1;
        o = s_read(s_path("poll-empty.json"));
        json_object *tot;
        H_CHECK(code == 200 && s_eq(s_str(o, "type"), "searchset") &&
                    (tot = h_json_path(o, "total")) != NULL &&
                    json_object_is_type(tot, json_type_int) &&
                    json_object_get_int(tot) == 0 &&
                    h_json_path(o, "entry.0") == NULL,
                "a long poll that finds nothing: 200, an empty searchset, "
                "total 0 (HTTP %d)",
                code);
        H_CHECK(waited >= 1900 && waited < 2000 + 15000,
                "it answers after about the wait of 2 s: %llu ms",
                (unsigned long long)waited);
        json_object_put(o);
        s_keep(s_path("poll-empty.json"));
    }

    /* The organisation is remembered once known: with the practice's
     * node stopped, a Bundle from another sender is still refused as such
     * (403, which needs the organisation), and a read is 503 naming the
     * node. */
    h_note("== practice node stopped");
    {
        o = json_tokener_parse(json_object_to_json_string(ex));
        json_object *hdr = s_entry(o, "MessageHeader"), *sid;
        H_ENSURE(hdr != NULL &&
                     (sid = h_json_path(hdr, "sender.identifier")) != NULL,
                 "the example's sender identifier");
        json_object_object_add(sid, "value",
                               json_object_new_string("99999999"));
        s_fresh(o, "other-sender-1");
        s_write_json(s_path("other-sender.json"), o);
        json_object_put(o);
        H_REQUIRE(h_node_stop(&s_c, vl), "the practice's node stops");
        s_expect("a Bundle from another sender, the node stopped: 403", &gv,
                 "POST", "/$process-message", s_path("other-sender.json"), 403,
                 "organisation");
        char tpath[80];
        snprintf(tpath, sizeof(tpath), "/Task/%s", tid);
        s_expect("GET Task, the node stopped: 503 naming the node", &gv, "GET",
                 tpath, NULL, 503, s_c.nodes[vl].local);
        /* Back up, so that krfhir stops as usual (its notifier is not
         * left waiting on a dead node). */
        h_node_start(&s_c, vl);
        H_CHECK(h_node_wait_connected(&s_c, vl, H_CONNECT_MS),
                "the practice's node is back");
    }

    /* 2. The validator on everything returned. */
    h_note("== validation");
    s_validate();

    h_proc_kill9(&hp);
    json_object_put(ex);
    int st = 0;
    char buf[32];
    H_CHECK(h_proc_stop(&gv.proc, SIGTERM, H_STOP_MS, &st) == KR_OK &&
                WIFEXITED(st) && WEXITSTATUS(st) == 0,
            "krfhir vl exits 0 after SIGTERM (%s)",
            h_status_str(st, buf, sizeof(buf)));
    H_CHECK(h_proc_stop(&gj.proc, SIGTERM, H_STOP_MS, &st) == KR_OK &&
                WIFEXITED(st) && WEXITSTATUS(st) == 0,
            "krfhir jgz exits 0 after SIGTERM (%s)",
            h_status_str(st, buf, sizeof(buf)));
    H_CHECK(!h_log_contains(gv.log, x.bsn) && !h_log_contains(gj.log, x.bsn) &&
                (x.family[0] == '\0' || (!h_log_contains(gv.log, x.family) &&
                                         !h_log_contains(gj.log, x.family))),
            "krfhir's logs hold neither the BSN nor the family name");
    return h_finish(&s_c);
}
