/*
 * test_coalition.c - the coalition's report (issue 15.8) through the
 * real daemons: a routes file with two purposes; on one, a referral
 * completed with an outcome, one rejected with a reason and one only
 * accepted; on the other, one nobody answers, escalated by its 1-second
 * ack timer. Then `krctl report --json` must give exactly those figures
 * (the times to acceptance and first contact from the broker's own
 * history of each referral), `--csv` and `--month` the same data, the
 * page /coalition (curl) the same figures and no pseudonym or case_id,
 * and headless Chromium must render it: its DOM holds an element per
 * route with the counts, and a screenshot is kept as
 * <build>/tests/artifacts/coalition.png. Without a runnable `chromium`
 * the test says SKIP and exits 77 after the other checks.
 */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"

#define S_VL "ura:00001234"
#define S_JGZ "ura:00005678"
#define S_P1 "prenataal-huisbezoek"
#define S_P2 "nu-niet-zwanger"

static struct h_cluster s_c;
static int s_vl, s_jgz;
static struct h_referral s_ref;

/* One message through a node: a referral or a status. */
static int
s_send(kr_client_t *kc, int type, const char *to, const char *purpose,
       const uint8_t *rid, const char *status, const char *reason,
       const char *outcome, uint8_t msg_id[16])
{
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    Kr__V1__ReferralStatus rs = KR__V1__REFERRAL_STATUS__INIT;
    uint8_t *content = NULL;
    size_t clen = 0;
    int rc;

    s.type = type;
    s.recipient = (char *)to;
    s.purpose = (char *)purpose;
    s.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    s.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
    s.priority = KR__V1__PRIORITY__ROUTINE;
    if (rid != NULL)
        s.referral_id = (ProtobufCBinaryData){16, (uint8_t *)rid};
    c.version = KR__V1__VERSION__VERSION_1;
    if (type == KR__V1__MESSAGE_TYPE__REFERRAL) {
        if ((rc = h_content_pack(&s_ref, &content, &clen)) != KR_OK)
            return rc;
        s.subject_bsn = (char *)s_ref.bsn;
    } else {
        rs.status = (char *)status;
        rs.status_reason = (char *)(reason ? reason : "");
        rs.outcome = (char *)(outcome ? outcome : "");
        c.body_case = KR__V1__CONTENT__BODY_REFERRAL_STATUS;
        c.referral_status = &rs;
        clen = kr__v1__content__get_packed_size(&c);
        content = malloc(clen);
        kr__v1__content__pack(&c, content);
    }
    s.content = (ProtobufCBinaryData){clen, content};
    rc = h_send_request(kc, &s, msg_id);
    free(content);
    return rc;
}

/* Send and require delivery; the referral_id it belongs to. */
static void
s_do(int node, int type, const char *to, const char *purpose, uint8_t rid[16],
     const char *status, const char *reason, const char *outcome)
{
    kr_client_t *kc = h_node_client(&s_c, node);
    uint8_t id[16];

    int rc = s_send(kc, type, to, purpose,
                    type == KR__V1__MESSAGE_TYPE__REFERRAL ? NULL : rid, status,
                    reason, outcome, id);
    H_REQUIRE(rc == KR_OK, "the node takes the message (%s)", kr_strerror(rc));
    struct h_fate f = h_fate_wait(kc, id);
    H_REQUIRE(f.outcome == KR__V1__OUTCOME__DELIVERED,
              "%s %s: delivered (outcome %d %s)", purpose ? purpose : "",
              status ? status : "referral", f.outcome, f.detail);
    if (type == KR__V1__MESSAGE_TYPE__REFERRAL)
        memcpy(rid, f.referral_id, 16);
}

static void
s_open(const char *purpose, uint8_t rid[16])
{
    s_do(s_vl, KR__V1__MESSAGE_TYPE__REFERRAL, S_JGZ, purpose, rid, NULL, NULL,
         NULL);
}

static void
s_status(const uint8_t rid[16], const char *status, const char *reason,
         const char *outcome)
{
    s_do(s_jgz, KR__V1__MESSAGE_TYPE__REFERRAL_STATUS, S_VL, NULL,
         (uint8_t *)rid, status, reason, outcome);
}

static json_object *
s_broker_referral(const uint8_t rid[16])
{
    struct h_run r;
    char hex[33];

    h_krctl(&r, "--admin", s_c.admin, "referral", "show", h_hex16(rid, hex),
            "--json", NULL);
    json_object *o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    h_run_free(&r);
    return o;
}

/* "2026-12-05T00:55:00.123Z" (or without the ms) -> ms; 0 if not. */
static uint64_t
s_iso_ms(const char *s)
{
    struct tm tm = {0};
    unsigned ms = 0;
    char *end;

    if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
        return 0;
    if (*end == '.')
        ms = (unsigned)strtoul(end + 1, &end, 10);
    return (uint64_t)timegm(&tm) * 1000u + ms;
}

/* The ms from the referral's opening to its first step into 'a' or 'b',
 * from the broker's own record; 0 if none. */
static uint64_t
s_since_open(const uint8_t rid[16], const char *a, const char *b)
{
    json_object *o = s_broker_referral(rid);
    json_object *h = o ? h_json_path(o, "history") : NULL;
    uint64_t opened = o ? s_iso_ms(h_json_str(o, "opened_at")) : 0, v = 0;

    for (size_t i = 0; h != NULL && i < json_object_array_length(h); i++) {
        json_object *st = json_object_array_get_idx(h, i);
        const char *to = h_json_str(st, "to");
        if (to != NULL && (strcmp(to, a) == 0 || strcmp(to, b) == 0)) {
            v = s_iso_ms(h_json_str(st, "at")) - opened;
            break;
        }
    }
    json_object_put(o);
    return v;
}

static long long
s_int(json_object *o, const char *path)
{
    json_object *v = h_json_path(o, path);
    return v != NULL ? json_object_get_int64(v) : -1;
}

/* The route's section of a page or DOM: [id="route-X", </section>). */
static char *
s_section(const char *page, const char *purpose)
{
    char id[128];
    const char *p, *e;

    snprintf(id, sizeof(id), "id=\"route-%s\"", purpose);
    for (char *q = id + 11; *q != '"'; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9')))
            *q = '-';
    if (page == NULL || (p = strstr(page, id)) == NULL ||
        (e = strstr(p, "</section>")) == NULL)
        return NULL;
    return strndup(p, (size_t)(e - p));
}

/* The figures of the known run in a page (curl) or a DOM (Chromium). */
static void
s_check_page(const char *page, const char *what)
{
    char *s1 = s_section(page, S_P1), *s2 = s_section(page, S_P2);

    H_CHECK(s1 != NULL && strstr(s1, "<td class=\"opened\">3</td>") &&
                strstr(s1, "<td class=\"accepted\">2</td>") &&
                strstr(s1, "<td class=\"rejected\">1</td>") &&
                strstr(s1, "data-code=\"no-capacity\">no-capacity 1<") &&
                strstr(s1, "<td class=\"completed\">1</td>") &&
                strstr(s1, "data-code=\"visit-done\">visit-done 1<") &&
                strstr(s1, "<td class=\"escalated\">0</td>") &&
                strstr(s1, "<svg class=\"chart counts\""),
            "%s: the section of %s holds its figures and a chart", what, S_P1);
    H_CHECK(s2 != NULL && strstr(s2, "<td class=\"opened\">1</td>") &&
                strstr(s2, "<td class=\"escalated\">1</td>") &&
                strstr(s2, "<td class=\"accepted\">0</td>"),
            "%s: the section of %s holds its figures", what, S_P2);
    H_CHECK(page != NULL &&
                strstr(page, "<tr class=\"org\" data-org=\"" S_JGZ "\">") &&
                strstr(page, "<td class=\"overdue\">1</td>"),
            "%s: JGZ's row says one overdue referral", what);
    free(s1);
    free(s2);
}

/* The program's path on PATH into buf (h_run does not search PATH). */
static bool
s_exec(const char *prog, char buf[H_PATH])
{
    const char *path = getenv("PATH");

    if (path == NULL)
        path = "/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(buf, H_PATH, "%.*s/%s", (int)n, p, prog);
        if (access(buf, X_OK) == 0)
            return true;
        p += n;
        if (*p == ':')
            p++;
    }
    return false;
}

/* Headless Chromium: the DOM after load, and a screenshot. false: it
 * could not run at all (not installed, or it failed to start). */
static bool
s_chromium(int port, const char *secret_hex)
{
    char url[128], udd[H_PATH + 32], shot[H_PATH + 32], shot_arg[H_PATH + 48],
        udd_arg[H_PATH + 48];
    struct h_run r;
    char chromium[H_PATH];

    if (!s_exec("chromium", chromium)) {
        h_note("SKIP: no chromium on PATH (apt-get install chromium; "
               "scripts/install-deps.sh installs it)");
        return false;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/coalition", port);
    snprintf(udd, sizeof(udd), "%s/chromium", s_c.tmp);
    snprintf(udd_arg, sizeof(udd_arg), "--user-data-dir=%s", udd);
    char *dom_argv[] = {chromium,
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-quic",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--disable-dev-shm-usage",
                        udd_arg,
                        "--dump-dom",
                        url,
                        NULL};
    h_run(&r, 90000, dom_argv);
    if (r.code != 0 || r.out == NULL || strstr(r.out, "<html") == NULL) {
        h_note("SKIP: chromium did not run (exit %d): %.400s", r.code,
               r.err ? r.err : "");
        h_run_free(&r);
        return false;
    }
    s_check_page(r.out, "Chromium's DOM");
    H_CHECK(strstr(r.out, "<rect class=\"bar\"") != NULL &&
                strstr(r.out, "<script") == NULL,
            "Chromium's DOM: SVG bars drawn by the broker, no script");
    H_CHECK(strstr(r.out, secret_hex) == NULL, "Chromium's DOM: no pseudonym");
    h_run_free(&r);

    snprintf(shot, sizeof(shot), "%s/coalition.png", s_c.tmp);
    snprintf(shot_arg, sizeof(shot_arg), "--screenshot=%s", shot);
    char *shot_argv[] = {chromium,
                         "--headless",
                         "--no-sandbox",
                         "--disable-gpu",
                         "--disable-quic",
                         "--no-first-run",
                         "--disable-background-networking",
                         "--disable-component-update",
                         "--disable-sync",
                         "--disable-dev-shm-usage",
                         "--hide-scrollbars",
                         udd_arg,
                         shot_arg,
                         "--window-size=1200,1600",
                         url,
                         NULL};
    h_run(&r, 90000, shot_argv);
    struct stat st;
    unsigned char magic[8] = {0};
    FILE *f = fopen(shot, "rb");
    if (f != NULL) {
        if (fread(magic, 1, 8, f) != 8)
            magic[0] = 0;
        fclose(f);
    }
    H_CHECK(r.code == 0 && stat(shot, &st) == 0 && st.st_size > 10000 &&
                memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0,
            "Chromium wrote a screenshot of the page (%s, exit %d)", shot,
            r.code);
    h_run_free(&r);
    /* Kept in the build tree, the test's directory goes on success. */
    char dir[H_PATH], dst[H_PATH + 32], cmd[3 * H_PATH];
    snprintf(dir, sizeof(dir), "%s/tests/artifacts", KR_BIN_DIR);
    mkdir(dir, 0755);
    snprintf(dst, sizeof(dst), "%s/coalition.png", dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", shot, dst);
    H_CHECK(system(cmd) == 0, "the screenshot kept as %s", dst);
    return true;
}

int
main(void)
{
    char routes[H_PATH + 32], text[1024], month[16], hex[33], case_hex[33];
    uint8_t a1[16], a2[16], a3[16], b1[16];
    struct h_run r;
    bool ok;

    h_init("coalition", 280);
    h_referral_default(&s_ref);
    h_cluster_init(&s_c, "coalition");
    snprintf(routes, sizeof(routes), "%s/routes.ini", s_c.tmp);
    snprintf(text, sizeof(text),
             "[route " S_P1 "]\nfrom = verloskunde\nto = jgz\n\n"
             "[route " S_P2 "]\nfrom = verloskunde\nto = jgz\n"
             "t_ack = 1 second\n");
    H_REQUIRE(h_write_file(routes, text, 0600) == KR_OK, "write routes");
    h_broker_set(&s_c, "routes", routes);
    h_broker_set(&s_c, "http_listen", "127.0.0.1:0");
    /* Debug: the broker logs each computation of the page. */
    h_broker_set(&s_c, "log_level", "debug");
    h_broker_start(&s_c);
    s_vl = h_org_add(&s_c, "vl", S_VL, "verloskunde", "Praktijk De Wieg");
    s_jgz = h_org_add(&s_c, "jgz", S_JGZ, "jgz", "JGZ Utrecht");
    h_node_start(&s_c, s_vl);
    h_node_start(&s_c, s_jgz);
    if (!h_node_wait_connected(&s_c, s_vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&s_c, s_jgz, H_CONNECT_MS))
        h_abort();
    static const char *const purposes[] = {S_P1, S_P2};
    uint64_t now = util_now_ms();
    for (size_t i = 0; i < 2; i++) {
        struct h_consent g = {0};
        uint8_t id[16];
        g.recipient = S_JGZ;
        g.bsn = s_ref.bsn;
        g.purpose = purposes[i];
        g.from_org = S_VL;
        g.to_category = KR__V1__ORG_CATEGORY__JGZ;
        g.from_ms = now - 3600000;
        g.until_ms = now + 365ull * 86400000;
        H_REQUIRE(h_send_consent(h_node_client(&s_c, s_vl), &g, NULL, id) ==
                      KR_OK,
                  "consent for %s", purposes[i]);
        H_POLL(ok, 20000,
               h_outcome(h_node_client(&s_c, s_vl), id) >=
                   KR__V1__OUTCOME__ACCEPTED);
        H_REQUIRE(ok, "the broker accepts the consent for %s", purposes[i]);
    }

    h_note("== the known run");
    uint64_t month_ms = util_now_ms();
    s_open(S_P1, a1);
    s_status(a1, "received", NULL, NULL);
    s_status(a1, "accepted", NULL, NULL);
    s_status(a1, "in-progress", NULL, NULL);
    s_status(a1, "completed", NULL, "visit-done");
    s_open(S_P1, a2);
    s_status(a2, "rejected", "no-capacity", NULL);
    s_open(S_P1, a3);
    s_status(a3, "received", NULL, NULL);
    s_status(a3, "accepted", NULL, NULL);
    s_open(S_P2, b1);
    json_object *o = NULL;
    H_POLL(ok, 20000,
           (json_object_put(o), o = s_broker_referral(b1)) != NULL &&
               s_int(o, "escalations") == 1);
    H_CHECK(ok, "the referral nobody answers is escalated by its 1 s timer");
    /* Person data that must appear nowhere in the report. */
    const char *subj = o ? h_json_str(o, "subject_pseudonym") : NULL;
    const char *cid = o ? h_json_str(o, "case_id") : NULL;
    snprintf(hex, sizeof(hex), "%.32s", subj ? subj : "no-subject-found");
    snprintf(case_hex, sizeof(case_hex), "%.32s", cid ? cid : "no-case-id");
    H_CHECK(subj != NULL && strlen(subj) >= 32,
            "the broker's record names a pseudonym (%s)", hex);
    json_object_put(o);
    uint64_t acc1 = s_since_open(a1, "accepted", "in-progress");
    uint64_t acc3 = s_since_open(a3, "accepted", "in-progress");
    uint64_t con1 = s_since_open(a1, "in-progress", "completed");
    H_CHECK(acc1 > 0 && acc3 > 0 && con1 > 0,
            "times from the broker's records: %llu, %llu, %llu ms",
            (unsigned long long)acc1, (unsigned long long)acc3,
            (unsigned long long)con1);

    h_note("== krctl report --json");
    time_t t = (time_t)(month_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(month, sizeof(month), "%Y-%m", &tm);
    h_krctl(&r, "--admin", s_c.admin, "report", "--json", NULL);
    o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    H_REQUIRE(o != NULL, "krctl report --json: JSON (exit %d: %s)", r.code,
              r.err);
    const char *p0 = h_json_str(o, "routes.0.purpose");
    const char *p1 = h_json_str(o, "routes.1.purpose");
    H_CHECK(json_object_array_length(h_json_path(o, "routes")) == 2 && p0 &&
                p1 && strcmp(p0, S_P2) == 0 && strcmp(p1, S_P1) == 0,
            "two routes, by purpose");
    H_CHECK(json_object_array_length(h_json_path(o, "routes.1.months")) == 1 &&
                strcmp(h_json_str(o, "routes.1.months.0.month"), month) == 0,
            "one month, %s", month);
    const char *m1 = "routes.1.months.0.";
    struct {
        const char *k;
        long long v;
    } want1[] = {
        {"opened", 3},
        {"accepted", 2},
        {"rejected", 1},
        {"rejected_by.no-capacity", 1},
        {"completed", 1},
        {"completed_by.visit-done", 1},
        {"escalated", 0},
        {"open", 1},
        {"cancelled", 0},
        {"to_acceptance.n", 2},
        {"to_acceptance.median_ms", (long long)(acc1 < acc3 ? acc1 : acc3)},
        {"to_acceptance.p90_ms", (long long)(acc1 < acc3 ? acc3 : acc1)},
        {"to_first_contact.n", 1},
        {"to_first_contact.median_ms", (long long)con1},
        {"to_first_contact.p90_ms", (long long)con1},
    };
    for (size_t i = 0; i < sizeof(want1) / sizeof(want1[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s%s", m1, want1[i].k);
        H_CHECK(s_int(o, path) == want1[i].v, "%s: %s = %lld (%lld)", S_P1,
                want1[i].k, want1[i].v, s_int(o, path));
    }
    const char *m2 = "routes.0.months.0.";
    struct {
        const char *k;
        long long v;
    } want2[] = {{"opened", 1},         {"accepted", 0},  {"rejected", 0},
                 {"completed", 0},      {"escalated", 1}, {"open", 1},
                 {"to_acceptance.n", 0}};
    for (size_t i = 0; i < sizeof(want2) / sizeof(want2[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s%s", m2, want2[i].k);
        H_CHECK(s_int(o, path) == want2[i].v, "%s: %s = %lld (%lld)", S_P2,
                want2[i].k, want2[i].v, s_int(o, path));
    }
    /* Organisations: JGZ performs the two open ones, one overdue. */
    json_object *orgs = h_json_path(o, "organisations");
    int jgz_i = -1;
    for (size_t i = 0; orgs != NULL && i < json_object_array_length(orgs); i++)
        if (strcmp(h_json_str(json_object_array_get_idx(orgs, i), "org_id"),
                   S_JGZ) == 0)
            jgz_i = (int)i;
    char pj[64];
    snprintf(pj, sizeof(pj), "organisations.%d.", jgz_i);
    char po[96], pv[96];
    snprintf(po, sizeof(po), "%sopen", pj);
    snprintf(pv, sizeof(pv), "%soverdue", pj);
    H_CHECK(jgz_i >= 0 && s_int(o, po) == 2 && s_int(o, pv) == 1,
            "JGZ: 2 open referrals, 1 overdue (%lld, %lld)", s_int(o, po),
            s_int(o, pv));
    H_CHECK(strstr(r.out, hex) == NULL && strstr(r.out, case_hex) == NULL &&
                strstr(r.out, s_ref.bsn) == NULL,
            "no pseudonym, case_id or BSN in the report");
    json_object_put(o);
    h_run_free(&r);

    h_krctl(&r, "--admin", s_c.admin, "report", "--csv", "--month", month,
            NULL);
    char line[256];
    snprintf(line, sizeof(line), "route,%s,%s,rejected:no-capacity,1\n", S_P1,
             month);
    H_CHECK(r.code == 0 &&
                strncmp(r.out, "kind,name,month,figure,value\n", 29) == 0 &&
                strstr(r.out, line) != NULL &&
                strstr(r.out, "organisation," S_JGZ ",,overdue,1\n"),
            "krctl report --csv --month %s: the same figures", month);
    h_run_free(&r);
    h_krctl(&r, "--admin", s_c.admin, "report", NULL);
    H_CHECK(r.code == 0 && strstr(r.out, "route " S_P1 "\n") != NULL &&
                strstr(r.out, "rejected: no-capacity=1") != NULL,
            "krctl report: the same as text");
    for (char *l = r.out, *e; l != NULL && *l; l = e ? e + 1 : NULL) {
        e = strchr(l, '\n');
        h_note("%.*s", e ? (int)(e - l) : (int)strlen(l), l);
    }
    h_run_free(&r);
    h_krctl(&r, "--admin", s_c.admin, "report", "--month", "2001-01", NULL);
    H_CHECK(r.code == 0 && strstr(r.out, "no referrals") != NULL &&
                strstr(r.out, S_JGZ) != NULL,
            "krctl report --month 2001-01: no referrals, the organisations");
    h_run_free(&r);
    h_krctl(&r, "--admin", s_c.admin, "report", "--month", "2026-13", NULL);
    H_CHECK(r.code == 2 && strstr(r.err, "YYYY-MM") != NULL,
            "krctl report --month 2026-13: a usage error (exit %d)", r.code);
    h_run_free(&r);

    h_note("== the page");
    char pfile[H_PATH + 16], pbuf[32] = "", url[128];
    snprintf(pfile, sizeof(pfile), "%s/http.port", s_c.broker_dir);
    FILE *f = fopen(pfile, "r");
    if (f != NULL) {
        if (fgets(pbuf, sizeof(pbuf), f) == NULL)
            pbuf[0] = '\0';
        fclose(f);
    }
    int port = (int)strtol(pbuf, NULL, 10);
    H_REQUIRE(port > 0, "broker: http.port written (%d)", port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/coalition", port);
    H_CHECK(h_log_count(s_c.broker_log, "report: page computed") == 0,
            "nobody asked for the page: the broker never computed it");
    char curl_path[H_PATH];
    H_REQUIRE(s_exec("curl", curl_path), "curl on PATH");
    char *curl[] = {curl_path, "-sS", "-D", "-", "--max-time", "20", url, NULL};
    /* The first request finds no page yet: the loop computes one at its
     * next tick, and a slow one may answer 503 "not ready": again. */
    r.out = r.err = NULL;
    H_POLL(ok, 20000,
           (h_run_free(&r), h_run(&r, 30000, curl),
            r.code == 0 && r.out && strstr(r.out, "HTTP/1.1 503") == NULL));
    H_CHECK(r.code == 0 && strstr(r.out, "HTTP/1.1 200") &&
                strstr(r.out, "text/html; charset=utf-8") &&
                strstr(r.out, "<!DOCTYPE html>"),
            "curl %s: 200, an HTML document", url);
    s_check_page(r.out, "the page");
    H_CHECK(strstr(r.out, hex) == NULL && strstr(r.out, case_hex) == NULL &&
                strstr(r.out, s_ref.bsn) == NULL,
            "the page: no pseudonym, case_id or BSN");
    H_CHECK(strstr(r.out, "<script") == NULL && strstr(r.out, "src=") == NULL &&
                strstr(r.out, "href=") == NULL,
            "the page: no script, no external asset");
    h_run_free(&r);
    H_CHECK(h_log_count(s_c.broker_log, "report: page computed") >= 1,
            "asked for, the loop computed the page");

    h_note("== headless Chromium");
    bool ran = s_chromium(port, hex);
    int rc = h_finish(&s_c);
    if (rc == 0 && !ran) {
        printf("SKIP: the Chromium part did not run (see above); every "
               "other check passed\n");
        return 77;
    }
    return rc;
}
