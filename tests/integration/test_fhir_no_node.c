/*
 * test_fhir_no_node.c - what a krfhir answers without its node: one whose
 * node socket does not exist, spoken to with the real curl. No broker
 * and no node run.
 *
 *   1. What needs no node is answered at once (each well within the
 *      node_timeout_ms an ask of the node would take): ids not 32 hex
 *      (404), a Bundle the mapper refuses and a non-Bundle (400), other
 *      methods (405 with Allow, not-supported).
 *   2. What needs the node: 503 naming the node's endpoint.
 *   3. Every answer validates (tests/fhir/validate.js); krfhir exits 0
 *      after SIGTERM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_fhir.h"
#include "util.h"

#define S_DOWN_TIMEOUT_MS "4000" /* node_timeout_ms of the krfhir */
#define S_DOWN_TIMEOUT_MS_N 4000u

static struct h_cluster s_c;

static const char *
s_path(const char *name)
{
    return h_fhir_path(&s_c, name);
}

int
main(void)
{
    /* Each ask of the node waits node_timeout_ms: what answers sooner did
     * not ask it. */
    static const char *const opts[] = {"--node_timeout_ms", S_DOWN_TIMEOUT_MS,
                                       NULL};
    static const struct {
        const char *what, *method, *path, *body, *needle;
        int status;
    } at_once[] = {
        {"GET /Task/abc (not a referral id), node down", "GET", "/Task/abc",
         NULL, "32 lower-case hex", 404},
        {"GET /ServiceRequest/abc, node down", "GET", "/ServiceRequest/abc",
         NULL, "32 lower-case hex", 404},
        {"GET /Patient/abc, node down", "GET", "/Patient/abc", NULL,
         "32 lower-case hex", 404},
        {"PUT /Consent/abc (not a consent id), node down", "PUT",
         "/Consent/abc", KR_SOURCE_DIR "/examples/fhir/consent.json",
         "32 lower-case hex", 404},
        {"POST $process-message {\"resourceType\":\"Bundle\"}, node down: the "
         "mapper's refusal, not 503",
         "POST", "/$process-message", "bare-bundle.json", "Bundle.type", 400},
        {"POST $process-message with a Patient, node down: 400 structure",
         "POST", "/$process-message", "patient-body.json", "Bundle", 400},
    };
    struct h_fhir_gw gd;
    char dead[H_PATH + 16], allow[64], curl[H_PATH];
    const char *f;
    uint64_t ms, slowest = 0;
    json_object *o;

    h_init("test_fhir_no_node", 120);
    h_cluster_init(&s_c, "fhirdown");
    H_REQUIRE(h_fhir_which("curl", curl), "curl is installed");
    H_ENSURE(h_write_file(s_path("bare-bundle.json"),
                          "{\"resourceType\":\"Bundle\"}", 0600) == KR_OK &&
                 h_write_file(s_path("patient-body.json"),
                              "{\"resourceType\":\"Patient\"}", 0600) == KR_OK,
             "write the bodies");
    snprintf(dead, sizeof(dead), "ipc://%s/no-such-node.sock", s_c.tmp);
    h_fhir_gw_start(&gd, &s_c, "down", dead, NULL, opts);

    h_note("== what needs no node");
    for (size_t i = 0; i < sizeof(at_once) / sizeof(at_once[0]); i++) {
        const char *body = at_once[i].body;
        if (body != NULL && body[0] != '/')
            body = s_path(body);
        h_fhir_expect(&s_c, at_once[i].what, &gd, at_once[i].method,
                      at_once[i].path, body, at_once[i].status,
                      at_once[i].needle, &ms);
        slowest = ms > slowest ? ms : slowest;
    }
    f = h_fhir_expect(&s_c, "DELETE /Task/x, node down: 405", &gd, "DELETE",
                      "/Task/x", NULL, 405, "GET, PUT, PATCH", &ms);
    slowest = ms > slowest ? ms : slowest;
    H_CHECK(slowest < S_DOWN_TIMEOUT_MS_N,
            "the 404s, 400s and the 405 come at once, without the node: "
            "the slowest in %llu ms (an ask of the node takes %s ms)",
            (unsigned long long)slowest, S_DOWN_TIMEOUT_MS);
    h_fhir_header_of(f, "Allow", allow, sizeof(allow));
    H_CHECK(h_fhir_eq(allow, "GET, PUT, PATCH"),
            "its Allow header names GET, PUT, PATCH (%s)", allow);
    o = h_fhir_read(f);
    H_CHECK(h_fhir_eq(h_fhir_str(h_fhir_issue(o), "code"), "not-supported"),
            "its OperationOutcome says not-supported");
    json_object_put(o);
    f = h_fhir_expect(&s_c, "DELETE /Task (the search), node down: 405", &gd,
                      "DELETE", "/Task", NULL, 405, "GET", NULL);
    h_fhir_header_of(f, "Allow", allow, sizeof(allow));
    H_CHECK(h_fhir_eq(allow, "GET"), "its Allow header is GET (%s)", allow);
    f = h_fhir_expect(&s_c, "GET /$process-message: 405", &gd, "GET",
                      "/$process-message", NULL, 405, "POST", NULL);
    h_fhir_header_of(f, "Allow", allow, sizeof(allow));
    H_CHECK(h_fhir_eq(allow, "POST"), "its Allow header is POST (%s)", allow);

    h_note("== what needs the node");
    h_fhir_expect(
        &s_c, "GET /Task/{a referral id}, node down: 503 naming the node", &gd,
        "GET", "/Task/0123456789abcdef0123456789abcdef", NULL, 503, dead, NULL);
    h_fhir_expect(
        &s_c, "POST the example Bundle, node down: 503 naming the node", &gd,
        "POST", "/$process-message", H_FHIR_EXAMPLE, 503, dead, NULL);

    h_note("== validation");
    h_fhir_validate();
    h_fhir_gw_stop(&gd);
    return h_finish(&s_c);
}
