/*
 * test_fhir_refusals.c - what krfhir refuses, between a real broker, two
 * real krnodes and the practice's krfhir, spoken to with the real curl:
 * each refusal an OperationOutcome with its status, and nothing sent
 * (the practice's outbox unchanged, or only handed to the node where the
 * broker is the one to refuse; nothing arrives at JGZ, while the
 * coalition still serves a round trip).
 *
 *   1. Malformed JSON (400), a Bundle without MessageHeader, an unknown
 *      resource type, a BSN failing the eleven-test (each 4xx), an
 *      unknown recipient and no consent (422, the broker's refusals).
 *   2. Limits: a body over max_body_bytes (413 before it is read); a slow
 *      client cut off after idle_timeout_s while another client is served.
 *   3. The organisation is remembered once known: with the practice's node
 *      stopped, a Bundle from another sender is still refused as such
 *      (403), and a read is 503 naming the node.
 *   4. Every answer validates (tests/fhir/validate.js); no BSN or name in
 *      krfhir's logs.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness_fhir.h"
#include "util.h"

#define S_BODY_MAX "65536"
#define S_IDLE_S 2

static struct h_cluster s_c;
static int s_vl, s_jgz;

static const char *
s_path(const char *name)
{
    return h_fhir_path(&s_c, name);
}

/* POST a Bundle (a file) at the practice and check the refusal: HTTP
 * 'status' (4: any 4xx), an OperationOutcome whose diagnostics (or
 * expression) mention 'needle', and nothing sent (the practice's outbox
 * unchanged unless 'node_took': the broker refused it; JGZ's inbox
 * unchanged either way). */
static void
s_refused(const char *what, const struct h_fhir_gw *g, const char *path,
          int status, const char *needle, bool node_took)
{
    char out[H_PATH + 8], url[256];
    const char *from = s_c.nodes[s_vl].org;
    size_t ob = h_fhir_outbox_total(&s_c, s_vl),
           ib = h_fhir_referrals_at(&s_c, s_jgz, from);
    json_object *o, *iss;

    snprintf(out, sizeof(out), "%s.out", path);
    snprintf(url, sizeof(url), "%s/$process-message", g->base);
    int code = h_fhir_curl("POST", url, "application/fhir+json", path, out);
    o = h_fhir_read(out);
    iss = h_fhir_issue(o);
    const char *diag = h_fhir_str(iss, "diagnostics"),
               *expr = h_fhir_str(iss, "expression.0");
    bool mentions = (diag != NULL && strcasestr(diag, needle) != NULL) ||
                    (expr != NULL && strcasestr(expr, needle) != NULL);
    bool status_ok = status == 4 ? code >= 400 && code < 500 : code == status;
    H_CHECK(status_ok && iss != NULL && mentions &&
                h_fhir_eq(h_fhir_str(iss, "severity"), "error"),
            "%s: %d (want %s%d), an OperationOutcome saying '%s' (%s%s%s)",
            what, code, status == 4 ? "4xx: " : "", status, needle,
            diag ? diag : "no issue", expr ? " at " : "", expr ? expr : "");
    if (o != NULL)
        h_fhir_keep(out);
    json_object_put(o);
    if (!node_took)
        H_CHECK(h_fhir_outbox_total(&s_c, s_vl) == ob,
                "%s: nothing handed to the node", what);
    /* A message the broker refused is never delivered. */
    h_roundtrip(&s_c, s_vl, s_jgz, "the coalition still serves", 30000);
    H_CHECK(h_fhir_referrals_at(&s_c, s_jgz, from) == ib + 1,
            "%s: nothing arrived at JGZ (only the round trip's referral)",
            what);
}

/* The example as text, with every 'from' (of the same length) replaced
 * by 'to', parsed, made a new message 'id' and written to <tmp>/<id>.json;
 * returns that path. */
static const char *
s_variant(const struct h_fhir_example *x, const char *from, const char *to,
          const char *id)
{
    char *text = xstrdup(json_object_to_json_string_ext(
        x->bundle, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    size_t n = strlen(from);
    json_object *o;
    char name[80];

    H_ENSURE(strlen(to) == n && strstr(text, from) != NULL,
             "'%s' is in the example's text", from);
    /* Bounded: each step moves past a match. */
    for (char *p = strstr(text, from); p != NULL; p = strstr(p + n, from))
        memcpy(p, to, n);
    o = json_tokener_parse(text);
    free(text);
    H_ENSURE(o != NULL, "the %s Bundle parses", id);
    h_fhir_fresh(o, id);
    snprintf(name, sizeof(name), "%s.json", id);
    const char *path = s_path(name);
    h_fhir_write_json(path, o);
    json_object_put(o);
    return path;
}

/* The bad Bundles, each refused. */
static void
s_bad_bundles(const struct h_fhir_gw *gv, const struct h_fhir_example *x)
{
    json_object *o, *entries, *last, *lres;

    H_ENSURE(h_write_file(s_path("bad-json.json"),
                          "{\"resourceType\": \"Bundle\", \"type\": ", 0600) ==
                 KR_OK,
             "write");
    s_refused("malformed JSON", gv, s_path("bad-json.json"), 400, "JSON",
              false);

    o = h_fhir_example_copy(x);
    json_object_object_get_ex(o, "entry", &entries);
    json_object_array_del_idx(entries, 0, 1);
    h_fhir_fresh(o, "no-header-1");
    h_fhir_write_json(s_path("no-header.json"), o);
    json_object_put(o);
    s_refused("a Bundle without MessageHeader", gv, s_path("no-header.json"), 4,
              "MessageHeader", false);

    o = h_fhir_example_copy(x);
    json_object_object_get_ex(o, "entry", &entries);
    last = json_object_array_get_idx(entries,
                                     json_object_array_length(entries) - 1);
    json_object_object_get_ex(last, "resource", &lres);
    json_object_object_add(lres, "resourceType",
                           json_object_new_string("Spaceship"));
    h_fhir_fresh(o, "unknown-type-1");
    h_fhir_write_json(s_path("unknown-type.json"), o);
    json_object_put(o);
    s_refused("an unknown resource type", gv, s_path("unknown-type.json"), 4,
              "resourceType", false);

    /* The BSN: 123456789 fails the eleven-test. */
    s_refused("a BSN that fails the eleven-test", gv,
              s_variant(x, x->bsn, "123456789", "bad-bsn-1"), 4, "identifier",
              false);

    /* An unknown recipient: a URA the directory does not hold, wherever
     * the example names the receiver's. */
    char quoted[80], nines[80];
    snprintf(quoted, sizeof(quoted), "\"%s\"", strchr(x->receiver, ':') + 1);
    snprintf(nines, sizeof(nines), "%s", quoted);
    for (size_t k = 1; k + 1 < strlen(nines); k++)
        nines[k] = '9';
    s_refused("an unknown recipient", gv,
              s_variant(x, quoted, nines, "unknown-rcpt"), 422, "recipient",
              true);

    /* No consent: another woman (a valid BSN no consent covers). */
    char other[10];
    h_bsn(4711, other);
    if (strcmp(other, x->bsn) == 0)
        h_bsn(4712, other);
    s_refused("no consent", gv, s_variant(x, x->bsn, other, "no-consent-1"),
              422, "consent", true);
}

/* A slow client: half a request, then silence. Returns the ms until the
 * server closed the connection (-1 if it did not within 'limit_ms'). The
 * other client is served meanwhile: checked through 'other'. */
static long
s_slow_client(const struct h_fhir_gw *g, int limit_ms, bool *other_served)
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
    snprintf(out, sizeof(out), "%s", s_path("slow-other.json"));
    snprintf(url, sizeof(url), "%s/metadata", g->base);
    *other_served = h_fhir_curl("GET", url, NULL, NULL, out) == 200;
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

static void
s_limits(const struct h_fhir_gw *gv)
{
    /* An oversized body: 413 before it is read. */
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
    s_refused("a body over max_body_bytes", gv, s_path("big.json"), 413,
              "max_body_bytes", false);

    bool other = false;
    long cut = s_slow_client(gv, (S_IDLE_S + 8) * 1000, &other);
    H_CHECK(other, "another client is served while the slow one stalls");
    H_CHECK(cut >= (S_IDLE_S - 1) * 1000L && cut >= 0,
            "the slow client (half a request, then silence) is cut off "
            "after the idle timeout of %d s: %ld ms",
            S_IDLE_S, cut);
}

/* With the practice's node stopped, a Bundle from another sender is
 * still refused as such (403, which needs the organisation), and a read
 * is 503 naming the node. */
static void
s_node_stopped(const struct h_fhir_gw *gv, const struct h_fhir_example *x)
{
    json_object *o = h_fhir_example_copy(x), *sid;
    json_object *hdr = h_fhir_entry(o, "MessageHeader");

    H_ENSURE(hdr != NULL &&
                 (sid = h_json_path(hdr, "sender.identifier")) != NULL,
             "the example's sender identifier");
    json_object_object_add(sid, "value", json_object_new_string("99999999"));
    h_fhir_fresh(o, "other-sender-1");
    h_fhir_write_json(s_path("other-sender.json"), o);
    json_object_put(o);
    H_REQUIRE(h_node_stop(&s_c, s_vl), "the practice's node stops");
    h_fhir_expect(&s_c, "a Bundle from another sender, the node stopped: 403",
                  gv, "POST", "/$process-message", s_path("other-sender.json"),
                  403, "organisation", NULL);
    h_fhir_expect(&s_c, "GET Task, the node stopped: 503 naming the node", gv,
                  "GET", "/Task/0123456789abcdef0123456789abcdef", NULL, 503,
                  s_c.nodes[s_vl].local, NULL);
    /* Back up, so that krfhir stops as usual (its notifier is not left
     * waiting on a dead node). */
    h_node_start(&s_c, s_vl);
    H_CHECK(h_node_wait_connected(&s_c, s_vl, H_CONNECT_MS),
            "the practice's node is back");
}

int
main(void)
{
    static const char *const opts[] = {"--max_body_bytes", S_BODY_MAX,
                                       "--idle_timeout_s", "2", NULL};
    struct h_fhir_gw gv;
    struct h_fhir_example x;

    h_init("test_fhir_refusals", 240);
    h_cluster_init(&s_c, "fhirref");
    h_fhir_example_read(&x);
    h_fhir_cluster(&s_c, &x, &s_vl, &s_jgz);
    h_fhir_gw_start(&gv, &s_c, "vl", s_c.nodes[s_vl].local, NULL, opts);

    h_note("== bad input");
    s_bad_bundles(&gv, &x);
    h_note("== limits");
    s_limits(&gv);
    h_note("== practice node stopped");
    s_node_stopped(&gv, &x);

    h_note("== validation");
    struct h_fhir_gw *gws[] = {&gv};
    return h_fhir_finish(&s_c, &x, gws, 1);
}
