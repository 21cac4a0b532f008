/*
 * harness_fhir.c - krfhir for the integration tests: see harness_fhir.h.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_fhir.h"
#include "util.h"

#define S_MAX_KEPT 64

static int s_nkept; /* resources kept for the validator */
static char s_kept[S_MAX_KEPT][H_PATH];

void
h_fhir_gw_start(struct h_fhir_gw *g, const struct h_cluster *c,
                const char *label, const char *node, const char *dir,
                const char *const *opts)
{
    char name[64], port_file[H_PATH + 16];
    char *argv[48] = {H_KRFHIR,      "--node",
                      (char *)node,  "--listen",
                      "127.0.0.1:0", "--port_file",
                      port_file,     "--state_dir",
                      g->dir,        "--retry_initial_ms",
                      "200",         "--retry_max_ms",
                      "1000",        "--log_level",
                      "debug"};
    int k = 15, port = 0;
    bool ok;

    memset(g, 0, sizeof(*g));
    snprintf(g->label, sizeof(g->label), "%s", label);
    snprintf(g->log, sizeof(g->log), "%s/krfhir-%s.log", c->tmp, label);
    if (dir != NULL) {
        snprintf(g->dir, sizeof(g->dir), "%s", dir);
    } else {
        snprintf(g->dir, sizeof(g->dir), "%s/fhir-%s", c->tmp, label);
        H_ENSURE(mkdir(g->dir, 0750) == 0, "mkdir %s", g->dir);
    }
    /* Bounded by argv's room: the rest stays NULL-ended. */
    for (int i = 0; opts != NULL && opts[i] != NULL && k < 46; i++)
        argv[k++] = (char *)opts[i];
    argv[k] = NULL;
    snprintf(port_file, sizeof(port_file), "%s/port", g->dir);
    unlink(port_file); /* a restart waits for the new port */
    snprintf(name, sizeof(name), "krfhir %s", label);
    H_ENSURE(h_proc_spawn(&g->proc, name, g->log, argv) == KR_OK, "start %s",
             name);
    H_POLL(ok, H_START_MS, (port = h_fhir_port_of(port_file)) > 0);
    H_ENSURE(ok, "%s writes its port within %d ms", name, H_START_MS);
    snprintf(g->base, sizeof(g->base), "http://127.0.0.1:%d", port);
}

bool
h_fhir_gw_stop(struct h_fhir_gw *g)
{
    int st = 0;
    char buf[32];

    return H_CHECK(h_proc_stop(&g->proc, SIGTERM, H_STOP_MS, &st) == KR_OK &&
                       WIFEXITED(st) && WEXITSTATUS(st) == 0,
                   "%s exits 0 after SIGTERM (%s)", g->proc.name,
                   h_status_str(st, buf, sizeof(buf)));
}

bool
h_fhir_which(const char *name, char out[H_PATH])
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

int
h_fhir_curl(const char *method, const char *url, const char *ctype,
            const char *body, const char *out)
{
    static char curl[H_PATH];
    struct h_run r;
    char data[H_PATH + 2], hdr[128], dump[H_PATH + 8];
    int code = -1;

    if (curl[0] == '\0' && !h_fhir_which("curl", curl)) {
        h_note("curl is not installed");
        return -1;
    }
    snprintf(dump, sizeof(dump), "%s.hdr", out);
    snprintf(data, sizeof(data), "@%s", body ? body : "");
    snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype ? ctype : "");
    char *argv[] = {curl,         "-sS",
                    "-o",         (char *)out,
                    "-D",         dump,
                    "-w",         "%{http_code}",
                    "-X",         (char *)method,
                    "-H",         "Accept: application/fhir+json",
                    "--max-time", "90",
                    (char *)url,  body ? "-H" : NULL,
                    hdr,          "--data-binary",
                    data,         NULL};
    if (h_run(&r, 100000, argv) == KR_OK && r.code == 0)
        code = (int)strtol(r.out, NULL, 10); /* curl -w %{http_code} */
    else
        h_note("curl %s %s: exit %d: %s", method, url, r.code,
               r.err ? r.err : "");
    h_run_free(&r);
    return code;
}

void
h_fhir_header_of(const char *out, const char *name, char *val, size_t len)
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

int
h_fhir_port_of(const char *file)
{
    char *text = NULL;
    size_t len;
    long v = 0;

    if (util_read_file(file, 64, &text, &len) == KR_OK)
        v = strtol(text, NULL, 10);
    free(text);
    return v > 0 && v < 65536 ? (int)v : 0;
}

int
h_fhir_free_port(void)
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

const char *
h_fhir_path(const struct h_cluster *c, const char *name)
{
    static char bufs[8][H_PATH];
    static int k;
    char *b = bufs[k++ % 8];

    snprintf(b, H_PATH, "%s/%s", c->tmp, name);
    return b;
}

json_object *
h_fhir_read(const char *path)
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

void
h_fhir_write_json(const char *path, json_object *o)
{
    const char *t = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    H_ENSURE(h_write_file(path, t, 0600) == KR_OK, "write %s", path);
}

const char *
h_fhir_str(json_object *o, const char *path)
{
    return o != NULL ? h_json_str(o, path) : NULL;
}

bool
h_fhir_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

json_object *
h_fhir_entry(json_object *bundle, const char *type)
{
    json_object *entries, *res;

    if (bundle == NULL || !json_object_object_get_ex(bundle, "entry", &entries))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(entries); i++) {
        json_object *e = json_object_array_get_idx(entries, i);
        if (json_object_object_get_ex(e, "resource", &res) &&
            h_fhir_eq(h_fhir_str(res, "resourceType"), type))
            return res;
    }
    return NULL;
}

const char *
h_fhir_ident(json_object *r, const char *key, const char *system)
{
    json_object *ids;

    if (r == NULL || !json_object_object_get_ex(r, key, &ids))
        return NULL;
    if (json_object_is_type(ids, json_type_object))
        return h_fhir_eq(h_fhir_str(ids, "system"), system)
                   ? h_fhir_str(ids, "value")
                   : NULL;
    for (size_t i = 0; i < json_object_array_length(ids); i++) {
        json_object *id = json_object_array_get_idx(ids, i);
        if (h_fhir_eq(h_fhir_str(id, "system"), system))
            return h_fhir_str(id, "value");
    }
    return NULL;
}

void
h_fhir_org_of(json_object *ref, char out[64])
{
    json_object *id;

    out[0] = '\0';
    if (ref == NULL || !json_object_object_get_ex(ref, "identifier", &id))
        return;
    const char *sys = h_fhir_str(id, "system"), *val = h_fhir_str(id, "value");
    if (sys == NULL || val == NULL)
        return;
    snprintf(out, 64, "%s:%s", strstr(sys, "/ura") != NULL ? "ura" : "agb",
             val);
}

json_object *
h_fhir_issue(json_object *o)
{
    json_object *oo = o;

    if (o != NULL && h_fhir_eq(h_fhir_str(o, "resourceType"), "Bundle"))
        oo = h_fhir_entry(o, "OperationOutcome");
    if (oo == NULL ||
        !h_fhir_eq(h_fhir_str(oo, "resourceType"), "OperationOutcome"))
        return NULL;
    return h_json_path(oo, "issue.0");
}

const char *
h_fhir_expect(const struct h_cluster *c, const char *what,
              const struct h_fhir_gw *g, const char *method, const char *path,
              const char *body, int status, const char *needle, uint64_t *ms)
{
    static char outs[32][H_PATH];
    static int k;
    char *out = outs[k % 32], url[512];
    json_object *o, *iss;

    snprintf(out, H_PATH, "%s/expect-%d.json", c->tmp, k++);
    snprintf(url, sizeof(url), "%s%s", g->base, path);
    uint64_t t0 = h_mono_ms();
    int code = h_fhir_curl(method, url, body ? "application/fhir+json" : NULL,
                           body, out);
    uint64_t took = h_mono_ms() - t0;
    if (ms != NULL)
        *ms = took;
    o = h_fhir_read(out);
    iss = h_fhir_issue(o);
    const char *diag = h_fhir_str(iss, "diagnostics"),
               *expr = h_fhir_str(iss, "expression.0");
    bool mentions = (diag != NULL && strcasestr(diag, needle) != NULL) ||
                    (expr != NULL && strcasestr(expr, needle) != NULL);
    H_CHECK(code == status && mentions,
            "%s: %d (want %d) in %llu ms, an OperationOutcome saying '%s' "
            "(%s%s%s)",
            what, code, status, (unsigned long long)took, needle,
            diag ? diag : "no issue", expr ? " at " : "", expr ? expr : "");
    if (o != NULL)
        h_fhir_keep(out);
    json_object_put(o);
    return out;
}

void
h_fhir_poll_task(const struct h_cluster *c, const struct h_fhir_gw *g,
                 const char *from, char tid[64])
{
    char url[512];
    const char *out = h_fhir_path(c, "search.json");
    uint64_t t0 = h_mono_ms();
    json_object *o;

    snprintf(url, sizeof(url), "%s/Task?requester=%s&_wait=30", g->base, from);
    int code = h_fhir_curl("GET", url, NULL, NULL, out);
    o = h_fhir_read(out);
    const char *t = h_fhir_str(o, "entry.0.resource.id");
    snprintf(tid, 64, "%s", t != NULL ? t : "");
    H_REQUIRE(code == 200 && h_fhir_eq(h_fhir_str(o, "type"), "searchset") &&
                  tid[0] != '\0',
              "JGZ's long poll GET /Task?requester=...&_wait=30 returns the "
              "Task (HTTP %d) after %llu ms",
              code, (unsigned long long)(h_mono_ms() - t0));
    json_object_put(o);
    h_fhir_keep(out);
}

void
h_fhir_keep(const char *path)
{
    if (s_nkept < S_MAX_KEPT)
        snprintf(s_kept[s_nkept++], H_PATH, "%s", path);
}

void
h_fhir_validate(void)
{
    struct h_run r;
    char node[H_PATH], *argv[S_MAX_KEPT + 3];
    int n = 0;

    if (!h_fhir_which("node", node)) {
        H_CHECK(false, "node (nodejs) is installed, for the validator");
        return;
    }
    if (access(H_FHIR_VALIDATOR, R_OK) != 0) {
        H_CHECK(false, "the validator %s is there", H_FHIR_VALIDATOR);
        return;
    }
    argv[n++] = node;
    argv[n++] = H_FHIR_VALIDATOR;
    for (int i = 0; i < s_nkept; i++)
        argv[n++] = s_kept[i];
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
            s_nkept, r.code);
    if (r.code != 0)
        h_note("validator: %s%s", r.out ? r.out : "", r.err ? r.err : "");
    h_run_free(&r);
}

void
h_fhir_example_read(struct h_fhir_example *x)
{
    json_object *b, *mh, *v, *dest;

    memset(x, 0, sizeof(*x));
    b = x->bundle = h_fhir_read(H_FHIR_EXAMPLE);
    H_REQUIRE(b != NULL, "the example Bundle %s reads", H_FHIR_EXAMPLE);
    mh = h_fhir_entry(b, "MessageHeader");
    H_ENSURE(mh != NULL, "the example has a MessageHeader");
    if (json_object_object_get_ex(mh, "sender", &v))
        h_fhir_org_of(v, x->sender);
    if (json_object_object_get_ex(mh, "destination", &dest) &&
        json_object_array_length(dest) > 0 &&
        json_object_object_get_ex(json_object_array_get_idx(dest, 0),
                                  "receiver", &v))
        h_fhir_org_of(v, x->receiver);
    json_object *pat = h_fhir_entry(b, "Patient"),
                *sr = h_fhir_entry(b, "ServiceRequest");
    const char *s;
    if ((s = h_fhir_ident(pat, "identifier", H_FHIR_BSN_SYSTEM)) != NULL)
        snprintf(x->bsn, sizeof(x->bsn), "%s", s);
    if ((s = h_fhir_str(pat, "name.0.family")) != NULL)
        snprintf(x->family, sizeof(x->family), "%s", s);
    if ((s = h_fhir_str(sr, "reasonCode.0.coding.0.code")) != NULL)
        snprintf(x->reason, sizeof(x->reason), "%s", s);
    if ((s = h_fhir_str(sr, "category.0.coding.0.code")) != NULL)
        snprintf(x->purpose, sizeof(x->purpose), "%s", s);
    json_object *si;
    if (sr != NULL && json_object_object_get_ex(sr, "supportingInfo", &si))
        for (size_t i = 0; i < json_object_array_length(si); i++) {
            json_object *ref = json_object_array_get_idx(si, i);
            if (h_fhir_eq(h_fhir_str(ref, "identifier.system"),
                          "urn:kansrijk:id:consent") &&
                (s = h_fhir_str(ref, "identifier.value")) != NULL &&
                util_unhex(s, x->consent_id, 16) == 0)
                x->has_consent_id = true;
        }
    H_ENSURE(x->sender[0] && x->receiver[0] && x->bsn[0] && x->reason[0],
             "the example names sender, receiver, BSN and reason");
    h_note("the example: %s -> %s, reason %s", x->sender, x->receiver,
           x->reason);
}

void
h_fhir_example_free(struct h_fhir_example *x)
{
    json_object_put(x->bundle);
    x->bundle = NULL;
}

json_object *
h_fhir_example_copy(const struct h_fhir_example *x)
{
    json_object *o = json_tokener_parse(json_object_to_json_string(x->bundle));

    H_ENSURE(o != NULL, "a copy of the example");
    return o;
}

void
h_fhir_fresh(json_object *b, const char *bundle_id)
{
    json_object *task = h_fhir_entry(b, "Task");

    json_object_object_add(b, "id", json_object_new_string(bundle_id));
    if (task != NULL)
        json_object_object_del(task, "identifier");
}

void
h_fhir_cluster(struct h_cluster *c, const struct h_fhir_example *x, int *vl,
               int *jgz)
{
    struct h_consent g = {0};
    uint8_t cmsg[16];
    uint64_t now = util_now_ms();
    char curl[H_PATH];
    bool ok;

    H_REQUIRE(h_fhir_which("curl", curl), "curl is installed");
    h_broker_start(c);
    *vl = h_org_add(c, "vl", x->sender, "verloskunde", "De Wieg");
    *jgz = h_org_add(c, "jgz", x->receiver, "jgz", "JGZ Noord");
    h_node_start(c, *vl);
    h_node_start(c, *jgz);
    H_REQUIRE(h_node_wait_connected(c, *vl, H_CONNECT_MS) &&
                  h_node_wait_connected(c, *jgz, H_CONNECT_MS),
              "both nodes connected");
    /* The woman's consent for the example's purpose, recorded by the
     * practice's node. */
    g.recipient = x->receiver;
    g.bsn = x->bsn;
    g.purpose = x->purpose[0] ? x->purpose : NULL;
    g.from_org = x->sender;
    g.to_org = x->receiver;
    g.from_ms = now - 3600 * 1000ull;
    g.until_ms = now + 365 * 24 * 3600 * 1000ull;
    g.consent_id = x->has_consent_id ? x->consent_id : NULL;
    H_REQUIRE(h_send_consent(h_node_client(c, *vl), &g, NULL, cmsg) == KR_OK,
              "the consent is recorded");
    H_POLL(ok, 20000,
           h_outcome(h_node_client(c, *vl), cmsg) >= KR__V1__OUTCOME__ACCEPTED);
    H_REQUIRE(ok, "the broker accepts the consent");
    /* And the harness's own woman's, for h_roundtrip. */
    H_REQUIRE(h_consent_default(c, *vl, *jgz), "the round trip's consent");
}

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

size_t
h_fhir_referrals_at(struct h_cluster *c, int node, const char *from)
{
    struct s_tally t = {from, 0};

    h_inbox_foreach(h_node_client(c, node), s_tally_cb, &t);
    return t.n;
}

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

bool
h_fhir_processed(struct h_cluster *c, int node, const char *from,
                 const char *rid_hex)
{
    struct s_proc_arg a = {.from = from};

    if (util_unhex(rid_hex, a.rid, 16) != 0)
        return false;
    h_inbox_foreach_all(h_node_client(c, node), s_proc_cb, &a);
    return a.processed;
}

size_t
h_fhir_outbox_total(struct h_cluster *c, int node)
{
    struct h_outbox_stats st;

    memset(&st, 0, sizeof(st));
    h_outbox_stats(h_node_client(c, node), &st);
    return st.total;
}

int
h_fhir_finish(struct h_cluster *c, struct h_fhir_example *x,
              struct h_fhir_gw *const *gws, int n)
{
    bool clean = true;

    h_fhir_validate();
    for (int i = 0; i < n; i++) {
        h_fhir_gw_stop(gws[i]);
        clean =
            clean && !h_log_contains(gws[i]->log, x->bsn) &&
            (x->family[0] == '\0' || !h_log_contains(gws[i]->log, x->family));
    }
    H_CHECK(clean,
            "krfhir's logs (%d) hold neither the BSN nor the family name", n);
    h_fhir_example_free(x);
    return h_finish(c);
}
