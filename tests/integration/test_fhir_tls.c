/*
 * test_fhir_tls.c - krfhir's rest-hook over https, between a real broker,
 * two real krnodes, JGZ's krfhir and a real HTTPS receiver (Node.js's
 * https module, as a care system's endpoint would be), with a certificate
 * for 127.0.0.1 made here by the openssl CLI.
 *
 *   1. A subscription_ca_file that does not exist: krfhir --check-config
 *      refuses it (exit 2) naming the option and the cause.
 *   2. Without subscription_ca_file the system's CAs do not trust the
 *      self-signed certificate: the notification fails, GET /Subscription
 *      says status error with the TLS verification failure, the receiver
 *      gets nothing, and attempts go on.
 *   3. krfhir restarted on the same state_dir with subscription_ca_file =
 *      the certificate and a subscription_header: the waiting
 *      notification arrives (an id-only history Bundle naming a Task that
 *      krfhir serves, Content-Type application/fhir+json, the header as
 *      configured), GET /Subscription says active; a second referral's
 *      notification arrives on the same TLS connection (kept open).
 *   4. An endpoint that does not answer: "no answer within
 *      notify_timeout_ms"; one that stops answering on the kept
 *      connection: the same error, then the notification goes through on
 *      a new connection; one that answers 302: a failed attempt (the
 *      redirect is not followed), "the endpoint answered 302"; one that
 *      answers 200 with a body of 4 MiB: delivered (the body is read up to
 *      a bound and dropped).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "harness_fhir.h"
#include "util.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_SECRET "Authorization: Bearer hook-test-token"

static struct h_cluster s_c;
static char s_curl_bin[H_PATH], s_node_bin[H_PATH], s_openssl_bin[H_PATH];

/* The receiver: /slow is never answered, /stall only the first request
 * of each connection, /moved is answered 302 to /hook, /big 200 with a body of
 * 4 MiB; every other request is answered 200 after its body is written to
 * DIR/hook-N.json and what came with it (the TLS connection's number,
 * method, path, content type, the Authorization header) to
 * DIR/hook-N.meta, each by a rename so that a poll never reads half. */
static const char s_receiver_js[] =
    "'use strict';\n"
    "const https = require('https'), fs = require('fs');\n"
    "const [key, cert, dir, portFile] = process.argv.slice(2);\n"
    "let n = 0, conns = 0;\n"
    "function put(name, data) {\n"
    "  fs.writeFileSync(dir + '/.' + name, data);\n"
    "  fs.renameSync(dir + '/.' + name, dir + '/' + name);\n"
    "}\n"
    "const srv = https.createServer({key: fs.readFileSync(key),\n"
    "                                cert: fs.readFileSync(cert)},\n"
    "                               (req, res) => {\n"
    "  const chunks = [];\n"
    "  let size = 0;\n"
    "  req.on('data', (c) => { size += c.length;\n"
    "                         if (size <= 1 << 20) chunks.push(c); });\n"
    "  req.on('end', () => {\n"
    "    req.socket.krCount = (req.socket.krCount || 0) + 1;\n"
    "    if (req.url === '/stall') {\n"
    "      if (req.socket.krCount > 1) {\n"
    "        console.log('receiver: /stall, not answered');\n"
    "        return;\n"
    "      }\n"
    "      res.writeHead(200);\n"
    "      res.end();\n"
    "      return;\n"
    "    }\n"
    "    if (req.url === '/slow') {\n"
    "      console.log('receiver: /slow, not answered');\n"
    "      return;\n"
    "    }\n"
    "    if (req.url === '/big') {\n"
    "      res.writeHead(200, {'Content-Type': 'text/plain'});\n"
    "      res.end(Buffer.alloc(4 << 20, 'x'));\n"
    "      return;\n"
    "    }\n"
    "    if (req.url === '/moved') {\n"
    "      res.writeHead(302, {'Location': '/hook'});\n"
    "      res.end();\n"
    "      return;\n"
    "    }\n"
    "    const k = ++n;\n"
    "    put('hook-' + k + '.json', Buffer.concat(chunks));\n"
    "    put('hook-' + k + '.meta', JSON.stringify({\n"
    "      conn: req.socket.krConn, method: req.method, url: req.url,\n"
    "      ctype: req.headers['content-type'] || '',\n"
    "      auth: req.headers['authorization'] || ''}));\n"
    "    console.log('receiver: request ' + k + ' on connection ' +\n"
    "                req.socket.krConn);\n"
    "    res.writeHead(200, {'Content-Type': 'application/fhir+json'});\n"
    "    res.end('{\"resourceType\":\"OperationOutcome\"}');\n"
    "  });\n"
    "});\n"
    "srv.keepAliveTimeout = 120000;\n"
    "srv.on('secureConnection', (s) => {\n"
    "  s.krConn = ++conns;\n"
    "  console.log('receiver: connection ' + conns);\n"
    "});\n"
    "srv.on('tlsClientError', (e) => {\n"
    "  console.log('receiver: a TLS handshake failed: ' + e.message);\n"
    "});\n"
    "srv.listen(0, '127.0.0.1', () => {\n"
    "  put('port', String(srv.address().port));\n"
    "  console.log('receiver: listening on ' + srv.address().port);\n"
    "});\n";

static const char *
s_path(const char *name)
{
    return h_fhir_path(&s_c, name);
}

/* JGZ's krfhir 'label' on 'dir' (its state_dir, kept across starts),
 * notifying 'hook'; with 'ca_file', 'header' and 'timeout_ms'
 * (notify_timeout_ms) if not NULL. */
static void
s_gw_start(struct h_fhir_gw *g, const char *label, const char *node,
           const char *dir, const char *hook, const char *ca_file,
           const char *header, const char *timeout_ms)
{
    const char *opts[10] = {"--subscription_endpoint", hook};
    int k = 2;

    if (ca_file != NULL) {
        opts[k++] = "--subscription_ca_file";
        opts[k++] = ca_file;
    }
    if (header != NULL) {
        opts[k++] = "--subscription_header";
        opts[k++] = header;
    }
    if (timeout_ms != NULL) {
        opts[k++] = "--notify_timeout_ms";
        opts[k++] = timeout_ms;
    }
    opts[k] = NULL;
    h_fhir_gw_start(g, &s_c, label, node, dir, opts);
}

/* GET /Subscription's first resource into *out (the caller puts it). */
static bool
s_subscription(const struct h_fhir_gw *g, json_object **out)
{
    char url[160];

    *out = NULL;
    snprintf(url, sizeof(url), "%s/Subscription", g->base);
    if (h_fhir_curl("GET", url, NULL, NULL, s_path("subscription.json")) != 200)
        return false;
    json_object *o = h_fhir_read(s_path("subscription.json"));
    json_object *res = o != NULL ? h_json_path(o, "entry.0.resource") : NULL;
    if (res != NULL)
        *out = json_object_get(res);
    json_object_put(o);
    return *out != NULL;
}

/* Whether GET /Subscription says status error with 'needle' in it. */
static bool
s_sub_error(const struct h_fhir_gw *g, const char *needle)
{
    json_object *s;
    bool ok;

    if (!s_subscription(g, &s))
        return false;
    ok = h_fhir_eq(h_fhir_str(s, "status"), "error") &&
         h_fhir_str(s, "error") != NULL &&
         strstr(h_fhir_str(s, "error"), needle) != NULL;
    json_object_put(s);
    return ok;
}

/* Whether GET /Subscription says status active without an error. */
static bool
s_sub_active(const struct h_fhir_gw *g)
{
    json_object *s;
    bool ok;

    if (!s_subscription(g, &s))
        return false;
    ok = h_fhir_eq(h_fhir_str(s, "status"), "active") &&
         h_fhir_str(s, "error") == NULL;
    json_object_put(s);
    return ok;
}

/* How many notifications the receiver has (hook-1.json ... in a row). */
static int
s_received(void)
{
    char p[64];
    int n = 0;

    /* Bounded: a run makes a handful. */
    while (n < 1000) {
        snprintf(p, sizeof(p), "hook-%d.meta", n + 1);
        if (access(s_path(p), R_OK) != 0)
            break;
        n++;
    }
    return n;
}

/* The connection number request 'k' came on (-1 if unknown). */
static int
s_conn_of(int k)
{
    char p[64];
    json_object *m, *v;
    int conn = -1;

    snprintf(p, sizeof(p), "hook-%d.meta", k);
    m = h_fhir_read(s_path(p));
    if (m != NULL && json_object_object_get_ex(m, "conn", &v) &&
        json_object_is_type(v, json_type_int))
        conn = json_object_get_int(v);
    json_object_put(m);
    return conn;
}

int
main(void)
{
    struct h_fhir_gw g1, g2;
    struct h_proc recv;
    struct h_run r;
    char hook_url[128], gw_dir[H_PATH], url[256];
    json_object *o;
    bool ok;
    int port = 0;

    h_init("test_fhir_tls", 240);
    h_cluster_init(&s_c, "fhirtls");
    H_REQUIRE(h_fhir_which("curl", s_curl_bin), "curl is installed");
    H_REQUIRE(h_fhir_which("node", s_node_bin),
              "node (nodejs) is installed, for the HTTPS receiver");
    H_REQUIRE(h_fhir_which("openssl", s_openssl_bin),
              "openssl is installed, for the certificate");

    /* A self-signed certificate for 127.0.0.1 (subjectAltName: curl
     * matches the address there, not in the CN). */
    char *gen[] = {s_openssl_bin,
                   "req",
                   "-x509",
                   "-newkey",
                   "ec",
                   "-pkeyopt",
                   "ec_paramgen_curve:prime256v1",
                   "-nodes",
                   "-days",
                   "2",
                   "-subj",
                   "/CN=127.0.0.1",
                   "-addext",
                   "subjectAltName=IP:127.0.0.1",
                   "-keyout",
                   (char *)s_path("hook-key.pem"),
                   "-out",
                   (char *)s_path("hook-cert.pem"),
                   NULL};
    /* Run first: the check's arguments are evaluated in no set order. */
    ok = h_run(&r, 30000, gen) == KR_OK && r.code == 0;
    if (!ok)
        h_note("openssl: %s", r.err ? r.err : "");
    H_REQUIRE(ok, "openssl makes a certificate for 127.0.0.1 (exit %d)",
              r.code);
    h_run_free(&r);

    H_ENSURE(h_write_file(s_path("receiver.js"), s_receiver_js, 0600) == KR_OK,
             "write receiver.js");
    char *rargv[] = {s_node_bin,
                     (char *)s_path("receiver.js"),
                     (char *)s_path("hook-key.pem"),
                     (char *)s_path("hook-cert.pem"),
                     s_c.tmp,
                     "port",
                     NULL};
    H_ENSURE(h_proc_spawn(&recv, "receiver", s_path("receiver.log"), rargv) ==
                 KR_OK,
             "start the HTTPS receiver");
    H_POLL(ok, H_START_MS, (port = h_fhir_port_of(s_path("port"))) > 0);
    H_REQUIRE(ok, "the HTTPS receiver listens");
    snprintf(hook_url, sizeof(hook_url), "https://127.0.0.1:%d/hook", port);

    h_broker_start(&s_c);
    int vl = h_org_add(&s_c, "vl", S_VL_ORG, "verloskunde", "De Wieg");
    int jgz = h_org_add(&s_c, "jgz", S_JGZ_ORG, "jgz", "JGZ Noord");
    h_node_start(&s_c, vl);
    h_node_start(&s_c, jgz);
    H_REQUIRE(h_node_wait_connected(&s_c, vl, H_CONNECT_MS) &&
                  h_node_wait_connected(&s_c, jgz, H_CONNECT_MS),
              "both nodes connected");
    H_REQUIRE(h_consent_default(&s_c, vl, jgz), "the referrals' consent");
    snprintf(gw_dir, sizeof(gw_dir), "%s/fhir-jgz", s_c.tmp);
    H_ENSURE(mkdir(gw_dir, 0750) == 0, "mkdir %s", gw_dir);

    /* 1. A CA file that is not there stops the start, saying so. */
    h_note("== a missing subscription_ca_file");
    char *check[] = {H_KRFHIR,
                     "--node",
                     s_c.nodes[jgz].local,
                     "--state_dir",
                     gw_dir,
                     "--subscription_endpoint",
                     hook_url,
                     "--subscription_ca_file",
                     (char *)s_path("no-such-ca.pem"),
                     "--check-config",
                     NULL};
    h_run(&r, 20000, check);
    H_CHECK(r.code == 2 && r.err != NULL &&
                strstr(r.err, "subscription_ca_file") != NULL &&
                strstr(r.err, "no-such-ca.pem") != NULL &&
                strstr(r.err, "No such file or directory") != NULL,
            "krfhir --check-config with a subscription_ca_file that does not "
            "exist: exit 2 naming the option, the file and the cause (exit "
            "%d: %s)",
            r.code, r.err ? r.err : "");
    h_run_free(&r);

    /* 2. The system's CAs do not know the receiver's certificate. */
    h_note("== https, the certificate not trusted");
    s_gw_start(&g1, "jgz-1", s_c.nodes[jgz].local, gw_dir, hook_url, NULL, NULL,
               NULL);
    h_roundtrip(&s_c, vl, jgz, "a referral to JGZ", 30000);
    H_POLL(ok, 20000, s_sub_error(&g1, "certificate"));
    H_CHECK(ok, "GET /Subscription: status error, naming the certificate that "
                "did not verify");
    json_object *s;
    if (s_subscription(&g1, &s)) {
        h_note("its error: %s",
               h_fhir_str(s, "error") ? h_fhir_str(s, "error") : "-");
        json_object_put(s);
    }
    H_POLL(ok, 20000, h_log_count(g1.log, "failed: TLS: ") >= 2);
    H_CHECK(ok, "krfhir logs the TLS failure and tries again");
    H_CHECK(s_received() == 0 && h_log_contains(s_path("receiver.log"),
                                                "a TLS handshake failed"),
            "the receiver got no request: the handshake failed");
    h_fhir_gw_stop(&g1);

    /* 3. The certificate as the CA: the waiting notification arrives. */
    h_note("== https with subscription_ca_file");
    s_gw_start(&g2, "jgz-2", s_c.nodes[jgz].local, gw_dir, hook_url,
               s_path("hook-cert.pem"), S_SECRET, NULL);
    uint64_t t0 = h_mono_ms();
    H_POLL(ok, 30000, s_received() >= 1);
    H_CHECK(ok,
            "restarted with subscription_ca_file, krfhir delivers the "
            "notification that waited, in %llu ms",
            (unsigned long long)(h_mono_ms() - t0));
    o = h_fhir_read(s_path("hook-1.json"));
    const char *full = h_fhir_str(o, "entry.1.fullUrl");
    const char *tid = full != NULL ? strstr(full, "/Task/") : NULL;
    H_CHECK(h_fhir_eq(h_fhir_str(o, "resourceType"), "Bundle") &&
                h_fhir_eq(h_fhir_str(o, "type"), "history") && tid != NULL &&
                strlen(tid + 6) == 32 &&
                h_json_path(o, "entry.1.resource") == NULL,
            "it is id-only: a history Bundle naming a Task, no content (%s)",
            full ? full : "-");
    if (tid != NULL) {
        snprintf(url, sizeof(url), "%s%s", g2.base, tid);
        H_CHECK(h_fhir_curl("GET", url, NULL, NULL, s_path("task.json")) == 200,
                "the Task it names is served by krfhir: GET %s: 200", tid);
    }
    json_object_put(o);
    o = h_fhir_read(s_path("hook-1.meta"));
    H_CHECK(h_fhir_eq(h_fhir_str(o, "method"), "POST") &&
                h_fhir_eq(h_fhir_str(o, "url"), "/hook") &&
                h_fhir_eq(h_fhir_str(o, "ctype"), "application/fhir+json") &&
                h_fhir_eq(h_fhir_str(o, "auth"), "Bearer hook-test-token"),
            "a POST to /hook, application/fhir+json, with the configured "
            "header");
    json_object_put(o);
    H_POLL(ok, 10000, s_sub_active(&g2));
    H_CHECK(ok, "GET /Subscription: status active, no error");

    /* Another referral: its notification on the same connection. */
    int before = s_received();
    h_roundtrip(&s_c, vl, jgz, "a second referral to JGZ", 30000);
    H_POLL(ok, 30000, s_received() > before);
    H_CHECK(ok, "the second referral's notification arrives");
    int last = s_received(), first_conn = s_conn_of(1);
    bool same = first_conn > 0;
    for (int k = 2; k <= last; k++)
        same = same && s_conn_of(k) == first_conn;
    H_CHECK(same,
            "all %d notifications came on one TLS connection (kept open): "
            "connection %d",
            last, first_conn);
    /* The harness's line that starts krfhir holds its arguments. */
    H_CHECK(h_log_count(g2.log, "hook-test-token") ==
                h_log_count(g2.log, "==== harness: start"),
            "the header's secret is in none of krfhir's own log lines");
    h_fhir_gw_stop(&g2);

    /* 4. No answer, and a redirect: failed attempts, each named. Each
     * krfhir has a state_dir of its own, so it starts from the first
     * inbox item. */
    h_note("== no answer, a redirect");
    struct h_fhir_gw g3, g4, g5;
    char dir3[H_PATH], dir4[H_PATH], dir5[H_PATH], slow_url[160],
        moved_url[160], big_url[160];
    snprintf(dir3, sizeof(dir3), "%s/fhir-jgz-slow", s_c.tmp);
    snprintf(dir4, sizeof(dir4), "%s/fhir-jgz-moved", s_c.tmp);
    snprintf(dir5, sizeof(dir5), "%s/fhir-jgz-big", s_c.tmp);
    H_ENSURE(mkdir(dir3, 0750) == 0 && mkdir(dir4, 0750) == 0 &&
                 mkdir(dir5, 0750) == 0,
             "mkdir");
    snprintf(slow_url, sizeof(slow_url), "https://127.0.0.1:%d/slow", port);
    snprintf(moved_url, sizeof(moved_url), "https://127.0.0.1:%d/moved", port);
    snprintf(big_url, sizeof(big_url), "https://127.0.0.1:%d/big", port);
    int got = s_received();
    s_gw_start(&g3, "jgz-slow", s_c.nodes[jgz].local, dir3, slow_url,
               s_path("hook-cert.pem"), NULL, "300");
    s_gw_start(&g4, "jgz-moved", s_c.nodes[jgz].local, dir4, moved_url,
               s_path("hook-cert.pem"), NULL, NULL);
    H_POLL(ok, 20000, s_sub_error(&g3, "no answer within 300 ms"));
    H_CHECK(ok, "an endpoint that does not answer: GET /Subscription says "
                "'no answer within 300 ms'");
    H_POLL(ok, 20000, s_sub_error(&g4, "the endpoint answered 302"));
    H_CHECK(ok, "an endpoint that answers 302: GET /Subscription says 'the "
                "endpoint answered 302'");
    H_CHECK(s_received() == got,
            "the redirect was not followed: nothing more reached /hook");
    h_fhir_gw_stop(&g3);
    h_fhir_gw_stop(&g4);
    /* Two referrals came, so two notifications are announced. */
    s_gw_start(&g5, "jgz-big", s_c.nodes[jgz].local, dir5, big_url,
               s_path("hook-cert.pem"), NULL, NULL);
    H_POLL(ok, 20000, h_log_count(g5.log, "announced") >= 2);
    H_CHECK(ok && s_sub_active(&g5),
            "an endpoint that answers 200 with 4 MiB: the notifications "
            "count as delivered, the body dropped");
    h_fhir_gw_stop(&g5);
    /* The kept connection goes silent after one answer: the second
     * notification times out on it, and goes through on a new one. */
    struct h_fhir_gw g6;
    char dir6[H_PATH], stall_url[160];
    snprintf(dir6, sizeof(dir6), "%s/fhir-jgz-stall", s_c.tmp);
    H_ENSURE(mkdir(dir6, 0750) == 0, "mkdir");
    snprintf(stall_url, sizeof(stall_url), "https://127.0.0.1:%d/stall", port);
    s_gw_start(&g6, "jgz-stall", s_c.nodes[jgz].local, dir6, stall_url,
               s_path("hook-cert.pem"), NULL, "1000");
    H_POLL(ok, 30000, h_log_count(g6.log, "announced") >= 2);
    H_CHECK(ok && h_log_contains(g6.log, "failed: no answer within 1000 ms"),
            "an endpoint silent on the kept connection: 'no answer within "
            "1000 ms', then both notifications delivered on new connections");
    h_fhir_gw_stop(&g6);
    int st = 0;
    h_proc_stop(&recv, SIGTERM, H_STOP_MS, &st);
    return h_finish(&s_c);
}
