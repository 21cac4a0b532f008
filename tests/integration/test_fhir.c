/*
 * test_fhir.c - krfhir, the HL7 FHIR R4 gateway, between a real broker,
 * two real krnodes and two krfhir daemons (one per organisation), spoken
 * to with the real curl, as an EPD would: the round trip of a referral.
 * (Refusals: test_fhir_refusals; the rest-hook and long poll:
 * test_fhir_notify; a krfhir without its node: test_fhir_no_node; the
 * rest-hook over https: test_fhir_tls.)
 *
 *   1. GET /metadata: a CapabilityStatement of FHIR 4.0.1.
 *   2. The example Bundle (examples/fhir/referral-bundle.json) POSTed at
 *      the practice's /$process-message arrives at JGZ: a long poll there
 *      (GET /Task?requester=...&_wait=) finds its Task; GET Task,
 *      ServiceRequest and Patient at JGZ hold the Bundle's patient (BSN,
 *      family name), reason and requester; JGZ's PATCH to accepted shows
 *      at the practice as accepted, and its search holds the Task as GET
 *      gives it; the same Bundle POSTed again is one referral (JGZ's node
 *      holds it once); a status change the state table refuses is 409.
 *   3. A write waits for the broker's answer, held by the node: with the
 *      broker down, 202 transient-error after accept_wait_ms; with it
 *      back, the same Bundle is 200 ok.
 *   4. A Consent POSTed (granted) and PUT with status inactive (revoked).
 *   5. Every resource krfhir returned validates with the independent
 *      validator (tests/fhir/validate.js, node); no BSN or name in
 *      krfhir's logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_fhir.h"
#include "util.h"

static struct h_cluster s_c;

static const char *
s_path(const char *name)
{
    return h_fhir_path(&s_c, name);
}

/* GET a Task into 'file'; whether its status is 'want'. */
static bool
s_status_is(const char *url, const char *file, const char *want)
{
    json_object *o;
    bool ok;

    if (h_fhir_curl("GET", url, NULL, NULL, file) != 200 ||
        (o = h_fhir_read(file)) == NULL)
        return false;
    ok = h_fhir_eq(h_fhir_str(o, "status"), want);
    json_object_put(o);
    return ok;
}

/* The searchset at 'search' holds the Task 'tid' equal to what GET 'one'
 * gives. */
static bool
s_search_as_read(const char *search, const char *one, const char *tid)
{
    int c1 = h_fhir_curl("GET", search, NULL, NULL, s_path("search-vl.json"));
    int c2 = h_fhir_curl("GET", one, NULL, NULL, s_path("task-vl-one.json"));
    json_object *b = h_fhir_read(s_path("search-vl.json"));
    json_object *t = h_fhir_read(s_path("task-vl-one.json"));
    json_object *e = b != NULL ? h_json_path(b, "entry") : NULL, *found = NULL;
    for (size_t i = 0; e != NULL && json_object_is_type(e, json_type_array) &&
                       i < json_object_array_length(e);
         i++) {
        json_object *r =
            h_json_path(json_object_array_get_idx(e, i), "resource");
        if (r != NULL && h_fhir_eq(h_fhir_str(r, "id"), tid))
            found = r;
    }
    bool ok = c1 == 200 && c2 == 200 && found != NULL && t != NULL &&
              json_object_equal(found, t);
    json_object_put(b);
    json_object_put(t);
    return ok;
}

/* POST 'file' at gv's /$process-message into 'out': the HTTP status; the
 * response code of its MessageHeader into 'rc' ("" if none). */
static int
s_process(const struct h_fhir_gw *gv, const char *file, const char *out,
          char rc[32])
{
    char url[256];
    json_object *o;

    snprintf(url, sizeof(url), "%s/$process-message", gv->base);
    int code = h_fhir_curl("POST", url, "application/fhir+json", file, out);
    o = h_fhir_read(out);
    const char *s =
        h_fhir_str(h_fhir_entry(o, "MessageHeader"), "response.code");
    snprintf(rc, 32, "%s", s != NULL ? s : "");
    json_object_put(o);
    return code;
}

/* JGZ reads the referral 'tid': Task, ServiceRequest and Patient. */
static void
s_read_at_jgz(const struct h_fhir_gw *gj, const struct h_fhir_example *x,
              const char *tid)
{
    char url[512], req_org[64];
    json_object *o;

    snprintf(url, sizeof(url), "%s/Task/%s", gj->base, tid);
    int code = h_fhir_curl("GET", url, NULL, NULL, s_path("task-jgz.json"));
    o = h_fhir_read(s_path("task-jgz.json"));
    h_fhir_org_of(h_json_path(o, "requester"), req_org);
    H_CHECK(code == 200 && h_fhir_eq(h_fhir_str(o, "resourceType"), "Task") &&
                h_fhir_eq(h_fhir_str(o, "status"), "requested") &&
                h_fhir_eq(req_org, x->sender),
            "GET Task at JGZ: requested, requester %s", x->sender);
    json_object_put(o);
    h_fhir_keep(s_path("task-jgz.json"));

    snprintf(url, sizeof(url), "%s/ServiceRequest/%s", gj->base, tid);
    code = h_fhir_curl("GET", url, NULL, NULL, s_path("sr-jgz.json"));
    o = h_fhir_read(s_path("sr-jgz.json"));
    H_CHECK(
        code == 200 &&
            h_fhir_eq(h_fhir_str(o, "resourceType"), "ServiceRequest") &&
            h_fhir_eq(h_fhir_str(o, "reasonCode.0.coding.0.code"), x->reason),
        "GET ServiceRequest at JGZ: the Bundle's reason (%s)", x->reason);
    json_object_put(o);
    h_fhir_keep(s_path("sr-jgz.json"));

    snprintf(url, sizeof(url), "%s/Patient/%s", gj->base, tid);
    code = h_fhir_curl("GET", url, NULL, NULL, s_path("patient-jgz.json"));
    o = h_fhir_read(s_path("patient-jgz.json"));
    H_CHECK(code == 200 &&
                h_fhir_eq(h_fhir_str(o, "resourceType"), "Patient") &&
                h_fhir_eq(h_fhir_ident(o, "identifier", H_FHIR_BSN_SYSTEM),
                          x->bsn) &&
                (x->family[0] == '\0' ||
                 h_fhir_eq(h_fhir_str(o, "name.0.family"), x->family)),
            "GET Patient at JGZ: the Bundle's patient (BSN, family name)");
    json_object_put(o);
    h_fhir_keep(s_path("patient-jgz.json"));
}

/* JGZ accepts by a JSON Patch, with its planned date and a note; the
 * practice sees accepted, the date and the note, and its search holds
 * the Task as GET gives it. */
static void
s_accept(const struct h_fhir_gw *gv, const struct h_fhir_gw *gj,
         const struct h_fhir_example *x, const char *tid)
{
    char url[512], one[H_PATH + 64];
    json_object *o;
    bool ok;

    H_ENSURE(
        h_write_file(s_path("accept.json"),
                     "[{\"op\": \"replace\", \"path\": \"/status\", "
                     "\"value\": \"accepted\"}, {\"op\": \"add\", \"path\": "
                     "\"/executionPeriod\", \"value\": {\"start\": "
                     "\"2027-01-12\"}}, {\"op\": \"add\", \"path\": \"/note\", "
                     "\"value\": [{\"text\": \"Home visit planned\"}]}]",
                     0600) == KR_OK,
        "write accept.json");
    snprintf(url, sizeof(url), "%s/Task/%s", gj->base, tid);
    int code = h_fhir_curl("PATCH", url, "application/json-patch+json",
                           s_path("accept.json"), s_path("task-accepted.json"));
    o = h_fhir_read(s_path("task-accepted.json"));
    H_CHECK(code == 200 && h_fhir_eq(h_fhir_str(o, "status"), "accepted"),
            "JGZ's PATCH status -> accepted: 200, the Task says accepted "
            "(HTTP %d, %s)",
            code, h_fhir_str(o, "status") ? h_fhir_str(o, "status") : "-");
    json_object_put(o);
    h_fhir_keep(s_path("task-accepted.json"));
    snprintf(url, sizeof(url), "%s/Task/%s", gv->base, tid);
    H_POLL(ok, 20000, s_status_is(url, s_path("task-vl.json"), "accepted"));
    H_CHECK(ok, "the practice's GET Task says accepted");
    o = h_fhir_read(s_path("task-vl.json"));
    const char *note = h_fhir_str(o, "note.0.text"),
               *start = h_fhir_str(o, "executionPeriod.start");
    H_CHECK(
        h_fhir_eq(start, "2027-01-12") && note != NULL &&
            strstr(note, "Home visit planned") != NULL &&
            h_fhir_eq(h_fhir_str(o, "note.0.authorReference.identifier.value"),
                      strchr(x->receiver, ':') + 1),
        "the practice's Task shows JGZ's planned date and note, by JGZ "
        "(%s; %s)",
        start ? start : "no date", note != NULL ? note : "no note");
    json_object_put(o);
    h_fhir_keep(s_path("task-vl.json"));

    /* A search shows each Task as GET /Task/{id} does (one node call a
     * page: the views hold the history and the received messages). */
    snprintf(url, sizeof(url), "%s/Task?status=accepted", gv->base);
    snprintf(one, sizeof(one), "%s/Task/%s", gv->base, tid);
    H_POLL(ok, 20000, s_search_as_read(url, one, tid));
    H_CHECK(ok, "the practice's GET /Task?status=accepted holds the Task as "
                "GET /Task/{id} gives it (its note, date and status)");
}

/* A status change the state table refuses: accepted -> received. */
static void
s_back(const struct h_fhir_gw *gv, const struct h_fhir_gw *gj, int jgz,
       const char *tid)
{
    char url[512], out[H_PATH + 8];
    json_object *o;

    H_ENSURE(h_write_file(s_path("back.json"),
                          "[{\"op\": \"replace\", \"path\": \"/status\", "
                          "\"value\": \"received\"}]",
                          0600) == KR_OK,
             "write back.json");
    size_t before = h_fhir_outbox_total(&s_c, jgz);
    snprintf(url, sizeof(url), "%s/Task/%s", gj->base, tid);
    snprintf(out, sizeof(out), "%s.out", s_path("back.json"));
    int code = h_fhir_curl("PATCH", url, "application/json-patch+json",
                           s_path("back.json"), out);
    o = h_fhir_read(out);
    const char *diag = h_fhir_str(h_fhir_issue(o), "diagnostics");
    H_CHECK(code == 409 && diag != NULL &&
                strstr(diag, "bad-transition") != NULL,
            "a status change the state table refuses (accepted -> "
            "received): 409, bad-transition (HTTP %d)",
            code);
    json_object_put(o);
    h_fhir_keep(out);
    snprintf(url, sizeof(url), "%s/Task/%s", gv->base, tid);
    h_fhir_curl("GET", url, NULL, NULL, s_path("task-vl2.json"));
    o = h_fhir_read(s_path("task-vl2.json"));
    H_CHECK(h_fhir_eq(h_fhir_str(o, "status"), "accepted") &&
                h_fhir_outbox_total(&s_c, jgz) == before + 1,
            "the referral stays accepted at the practice");
    json_object_put(o);
}

/* A write waits for the broker's answer, held by the node (no polling):
 * with the broker down the answer is 202 transient-error once
 * accept_wait_ms (5 s) has passed; with the broker back, the same Bundle
 * is the same message, and its answer is 200 ok. */
static void
s_broker_down(const struct h_fhir_gw *gv, const struct h_fhir_example *x)
{
    json_object *o = h_fhir_example_copy(x);
    char rc[32];
    bool ok200 = false;

    h_fhir_fresh(o, "broker-down-1");
    h_fhir_write_json(s_path("broker-down.json"), o);
    json_object_put(o);
    H_ENSURE(h_broker_stop(&s_c), "stop the broker");
    uint64_t t0 = util_mono_ms();
    int code =
        s_process(gv, s_path("broker-down.json"), s_path("bd1.json"), rc);
    uint64_t took = util_mono_ms() - t0;
    H_CHECK(code == 202 && h_fhir_eq(rc, "transient-error") && took >= 4500,
            "broker down: 202 transient-error after accept_wait_ms "
            "(HTTP %d, %llu ms)",
            code, (unsigned long long)took);
    h_fhir_keep(s_path("bd1.json"));
    h_broker_start(&s_c);
    H_POLL(ok200, 30000,
           s_process(gv, s_path("broker-down.json"), s_path("bd2.json"), rc) ==
               200);
    H_CHECK(ok200 && h_fhir_eq(rc, "ok"),
            "broker back: the same Bundle again is 200 ok (%s)",
            rc[0] ? rc : "no answer");
}

/* A Consent granted (POST) and revoked (PUT, status inactive). */
static void
s_consent(const struct h_fhir_gw *gv)
{
    const char *cid = "c0115e47000000000000000000b00002";
    char url[512], out[H_PATH];
    json_object *o, *ids;
    json_object *c = h_fhir_read(KR_SOURCE_DIR "/examples/fhir/consent.json");

    H_REQUIRE(c != NULL, "examples/fhir/consent.json reads");
    json_object_object_add(c, "id", json_object_new_string(cid));
    if (json_object_object_get_ex(c, "identifier", &ids) &&
        json_object_array_length(ids) > 0)
        json_object_object_add(json_object_array_get_idx(ids, 0), "value",
                               json_object_new_string(cid));
    h_fhir_write_json(s_path("consent.json"), c);
    snprintf(url, sizeof(url), "%s/Consent", gv->base);
    snprintf(out, sizeof(out), "%s", s_path("consent-post.json"));
    int code = h_fhir_curl("POST", url, "application/fhir+json",
                           s_path("consent.json"), out);
    o = h_fhir_read(out);
    H_CHECK(code == 201 &&
                h_fhir_eq(h_fhir_str(o, "resourceType"), "Consent") &&
                h_fhir_eq(h_fhir_str(o, "id"), cid),
            "POST /Consent at the practice: 201, the Consent with its id "
            "(HTTP %d)",
            code);
    json_object_put(o);
    h_fhir_keep(out);
    json_object_object_add(c, "status", json_object_new_string("inactive"));
    h_fhir_write_json(s_path("consent-revoke.json"), c);
    json_object_put(c);
    snprintf(url, sizeof(url), "%s/Consent/%s", gv->base, cid);
    snprintf(out, sizeof(out), "%s", s_path("consent-put.json"));
    code = h_fhir_curl("PUT", url, "application/fhir+json",
                       s_path("consent-revoke.json"), out);
    o = h_fhir_read(out);
    H_CHECK(code == 200 && h_fhir_eq(h_fhir_str(o, "resourceType"), "Consent"),
            "PUT /Consent/{id} with status inactive: 200, revoked (HTTP %d)",
            code);
    json_object_put(o);
    h_fhir_keep(out);
}

int
main(void)
{
    static const char *const opts[] = {"--max_body_bytes", "65536",
                                       "--idle_timeout_s", "2", NULL};
    struct h_fhir_gw gv, gj;
    struct h_fhir_example x;
    json_object *o;
    char url[512], tid[64] = "", rc[32];
    int vl, jgz;

    h_init("test_fhir", 240);
    h_cluster_init(&s_c, "fhir");
    h_fhir_example_read(&x);
    h_fhir_cluster(&s_c, &x, &vl, &jgz);
    h_fhir_gw_start(&gv, &s_c, "vl", s_c.nodes[vl].local, NULL, opts);
    h_fhir_gw_start(&gj, &s_c, "jgz", s_c.nodes[jgz].local, NULL, opts);

    h_note("== metadata");
    snprintf(url, sizeof(url), "%s/metadata", gv.base);
    H_CHECK(h_fhir_curl("GET", url, NULL, NULL, s_path("metadata.json")) == 200,
            "GET /metadata: 200");
    o = h_fhir_read(s_path("metadata.json"));
    H_CHECK(h_fhir_eq(h_fhir_str(o, "resourceType"), "CapabilityStatement") &&
                h_fhir_eq(h_fhir_str(o, "fhirVersion"), "4.0.1"),
            "a CapabilityStatement of FHIR 4.0.1");
    json_object_put(o);
    h_fhir_keep(s_path("metadata.json"));

    h_note("== round trip");
    int code = s_process(&gv, H_FHIR_EXAMPLE, s_path("pm1.json"), rc);
    H_CHECK(code == 200 && h_fhir_eq(rc, "ok"),
            "POST the example Bundle at the practice's /$process-message: "
            "200, response code ok (HTTP %d, %s)",
            code, rc[0] ? rc : "no response");
    h_fhir_keep(s_path("pm1.json"));
    h_fhir_poll_task(&s_c, &gj, x.sender, tid);
    s_read_at_jgz(&gj, &x, tid);
    s_accept(&gv, &gj, &x, tid);

    /* The same Bundle again: one referral. */
    code = s_process(&gv, H_FHIR_EXAMPLE, s_path("pm2.json"), rc);
    H_CHECK(code == 200 && h_fhir_eq(rc, "ok"),
            "the same Bundle POSTed again: 200, ok (HTTP %d)", code);
    h_roundtrip(&s_c, vl, jgz, "a referral after it", 30000);
    size_t held = h_fhir_referrals_at(&s_c, jgz, x.sender);
    H_CHECK(held == 2,
            "JGZ's node holds the example's referral once (and the round "
            "trip's): %zu",
            held);
    s_back(&gv, &gj, jgz, tid);

    h_note("== broker down");
    s_broker_down(&gv, &x);
    h_note("== consent");
    s_consent(&gv);

    h_note("== validation");
    struct h_fhir_gw *gws[] = {&gv, &gj};
    return h_fhir_finish(&s_c, &x, gws, 2);
}
