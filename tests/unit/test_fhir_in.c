/*
 * test_fhir_in.c - krfhir's inbound mappers (clients/krfhir/fhir_in_*.c)
 * for what a client POSTs: the example Bundles of examples/fhir/ become
 * exactly the descriptions of examples/ (referral.json, ...) (and pass
 * kr_check_json), the same Bundle twice is the same message; every bad
 * input is refused with its HTTP status, IssueType and the FHIRPath of
 * the element, never quoting a value; a Consent and a consent Bundle.
 * (Task changes and JSON Patch: test_fhir_in_task.c; the fixtures:
 * fhir_fixture.c.)
 *
 * The refusals are cells: the example Bundle with one JSON Patch applied
 * (by the mapper's own fhir_json_patch_apply, tested in
 * test_fhir_in_task.c) and the refusal it must give.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fhir_in.h"
#include "fhir_out.h"
#include "kr.h"
#include "util.h"
#include "fhir_fixture.h"

static void
test_referral_bundle(void **state)
{
    static const char *const skip[] = {"msg_id", "not_after", NULL};
    json_object *b = fx_load("examples/fhir/referral-bundle.json"), *out, *v;
    const char *kind;
    char want[KR_MSG_ID_HEX_LEN];
    struct fhir_error e;

    (void)state;
    assert_int_equal(fhir_in_message(&fx_practice, b, &out, &kind, &e), KR_OK);
    assert_string_equal(kind, "referral");
    fx_valid(out);
    fx_same(out, "examples/referral.json", skip);
    assert_true(json_object_object_get_ex(out, "not_after", &v));
    assert_string_equal(json_object_get_string(v), "2030-12-31T00:00:00Z");
    /* msg_id from Bundle.id: the same Bundle again is the same message. */
    assert_int_equal(
        fhir_bundle_msg_id("ura:00001234", "vlk-verwijzing-2026-0815", want),
        KR_OK);
    assert_true(json_object_object_get_ex(out, "msg_id", &v));
    assert_string_equal(json_object_get_string(v), want);
    json_object *again;
    assert_int_equal(fhir_in_message(&fx_practice, b, &again, NULL, &e), KR_OK);
    assert_true(json_object_equal(out, again));
    json_object_put(again);
    /* Without the organisation (the gateway's node never answered) the
     * sender stands for it: the same description, and a Bundle that
     * fails its checks still fails them. */
    const struct fhir_ctx unknown = {NULL, fx_practice.base_url, FX_NOW_MS};
    assert_int_equal(fhir_in_message(&unknown, b, &again, NULL, &e), KR_OK);
    assert_true(json_object_equal(out, again));
    json_object_put(again);
    json_object *bare = fx_json("{\"resourceType\":\"Bundle\"}");
    assert_int_equal(fhir_in_message(&unknown, bare, &again, NULL, &e),
                     KR_EINVAL);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.expression, "Bundle.type");
    json_object_put(bare);
    /* Another organisation's gateway would derive another id. */
    char other[KR_MSG_ID_HEX_LEN];
    fhir_bundle_msg_id("ura:00005678", "vlk-verwijzing-2026-0815", other);
    assert_string_not_equal(other, want);
    json_object_put(out);

    /* Without Task.identifier the referral_id derives from Bundle.id too. */
    struct fhir_error pe;
    json_object *patch = fx_json(
        "[{\"op\":\"remove\",\"path\":\"/entry/1/resource/identifier\"}]");
    assert_int_equal(fhir_json_patch_apply(b, patch, &pe), KR_OK);
    json_object *o1, *o2;
    assert_int_equal(fhir_in_message(&fx_practice, b, &o1, NULL, &e), KR_OK);
    assert_int_equal(fhir_in_message(&fx_practice, b, &o2, NULL, &e), KR_OK);
    json_object_object_get_ex(o1, "referral_id", &v);
    assert_string_not_equal(json_object_get_string(v),
                            "b0e0a1e2c3d4e5f60718293a4b5c6d7e");
    assert_int_equal(strlen(json_object_get_string(v)), 32);
    assert_true(json_object_equal(o1, o2));
    fx_valid(o1);
    json_object_put(o1);
    json_object_put(o2);
    json_object_put(patch);
    json_object_put(b);
}

/* The example with each cell's patch applied is refused as the cell
 * says. */
static void
s_cells(const char *example, const struct fhir_ctx *ctx,
        const struct fx_cell *cells, size_t n, int mapper)
{
    for (size_t i = 0; i < n; i++) {
        json_object *b = fx_load(example), *patch = fx_json(cells[i].patch);
        json_object *out = (json_object *)1;
        struct fhir_error e, pe;
        int rc;

        memset(&e, 0, sizeof(e));
        if (fhir_json_patch_apply(b, patch, &pe) != KR_OK)
            fail_msg("%s cell %zu: the patch does not apply: %s %s", example, i,
                     pe.expression, pe.diagnostics);
        rc = mapper == 0   ? fhir_in_message(ctx, b, &out, NULL, &e)
             : mapper == 1 ? fhir_in_consent(ctx, b, &out, &e)
                           : -1;
        if (rc == KR_OK)
            fail_msg("cell %zu (%s): accepted", i, cells[i].patch);
        assert_null(out);
        if (e.status != cells[i].status || strcmp(e.code, cells[i].code) != 0 ||
            strcmp(e.expression, cells[i].expression) != 0)
            fail_msg("cell %zu (%s): got %d %s %s (%s), want %d %s %s", i,
                     cells[i].patch, e.status, e.code, e.expression,
                     e.diagnostics, cells[i].status, cells[i].code,
                     cells[i].expression);
        /* Never a value: not the BSN, not the name. */
        assert_null(strstr(e.diagnostics, "111222333"));
        assert_null(strstr(e.diagnostics, "Voorbeeld"));
        assert_null(strstr(e.diagnostics, "123456789"));
        json_object_put(patch);
        json_object_put(b);
    }
}

static void
test_referral_refusals(void **state)
{
    static const struct fx_cell cells[] = {
        /* Not a message Bundle. */
        {FX_P("replace", "/resourceType", FX_V("\"Task\"")), 400, "structure",
         "resourceType"},
        {FX_P("replace", "/type", FX_V("\"transaction\"")), 422, "value",
         "Bundle.type"},
        {FX_P("remove", "/id", ""), 400, "required", "Bundle.id"},
        {FX_P("replace", "/id", FX_V("\"has space\"")), 400, "value",
         "Bundle.id"},
        {FX_P("replace", "/entry", FX_V("[]")), 400, "structure",
         "Bundle.entry"},
        {FX_P("replace", "/entry", FX_V("{}")), 400, "structure",
         "Bundle.entry"},
        /* A Bundle without MessageHeader. */
        {FX_P("remove", "/entry/0", ""), 400, "structure",
         "Bundle.entry[0].resource.resourceType"},
        {"[{\"op\":\"move\",\"from\":\"/entry/0\",\"path\":\"/entry/-\"}]", 400,
         "structure", "Bundle.entry[5].resource"},
        /* An unknown resource type. */
        {FX_P("replace", "/entry/5/resource/resourceType",
              FX_V("\"Medication\"")),
         422, "not-supported", "Bundle.entry[5].resource.resourceType"},
        {FX_P("remove", "/entry/3/resource", ""), 400, "required",
         "Bundle.entry[3].resource"},
        /* An unknown event code, or system. */
        {FX_P("replace", "/entry/0/resource/eventCoding/code",
              FX_V("\"diagnosis\"")),
         422, "not-supported", "Bundle.entry[0].resource.eventCoding.code"},
        {FX_P("replace", "/entry/0/resource/eventCoding/system",
              FX_V("\"http://example.org/events\"")),
         422, "not-supported", "Bundle.entry[0].resource.eventCoding.system"},
        {FX_P("remove", "/entry/0/resource/eventCoding", ""), 400, "required",
         "Bundle.entry[0].resource.eventCoding"},
        /* A sender that is not this organisation. */
        {FX_P("replace", "/entry/0/resource/sender/identifier/value",
              FX_V("\"00005678\"")),
         403, "security", "Bundle.entry[0].resource.sender"},
        {FX_P("replace", "/entry/0/resource/sender",
              FX_V("{\"reference\":\"Organization/x\"}")),
         400, "required", "Bundle.entry[0].resource.sender"},
        {FX_P("replace", "/entry/0/resource/sender/identifier/system",
              FX_V("\"http://example.org/kvk\"")),
         422, "value", "Bundle.entry[0].resource.sender.identifier"},
        /* The receiver. */
        {FX_P("remove", "/entry/0/resource/destination", ""), 400, "required",
         "Bundle.entry[0].resource.destination"},
        {FX_P("replace",
              "/entry/0/resource/destination/0/receiver/identifier/value",
              FX_V("\"123456789\"")),
         422, "value",
         "Bundle.entry[0].resource.destination[0].receiver.identifier"},
        {FX_P("replace", "/entry/0/resource/author/identifier/system",
              FX_V("\"http://example.org/staff\"")),
         422, "not-supported",
         "Bundle.entry[0].resource.author.identifier.system"},
        /* The focus. */
        {FX_P("replace", "/entry/0/resource/focus/0/reference",
              FX_V("\"urn:uuid:nowhere\"")),
         422, "not-found", "Bundle.entry[0].resource.focus[0].reference"},
        {FX_P("replace", "/entry/0/resource/focus/0/reference",
              FX_V("\"urn:uuid:6f1c2a52-8d1e-4b7a-9c3e-0a1b2c3d4e04\"")),
         422, "invalid", "Bundle.entry[0].resource.focus[0].reference"},
        /* A Patient BSN that fails the eleven-test, or none. */
        {FX_P("replace", "/entry/3/resource/identifier/0/value",
              FX_V("\"123456789\"")),
         422, "value", "Bundle.entry[3].resource.identifier[0].value"},
        {FX_P("replace", "/entry/3/resource/identifier/0/value",
              FX_V("\"11122233\"")),
         422, "value", "Bundle.entry[3].resource.identifier[0].value"},
        {FX_P("replace", "/entry/3/resource/identifier/0/system",
              FX_V("\"http://example.org/mrn\"")),
         400, "required", "Bundle.entry[3].resource.identifier"},
        {FX_P("remove", "/entry/3/resource/identifier", ""), 400, "required",
         "Bundle.entry[3].resource.identifier"},
        {FX_P("replace", "/entry/3/resource/birthDate", FX_V("\"1994\"")), 422,
         "value", "Bundle.entry[3].resource.birthDate"},
        {FX_P("replace", "/entry/3/resource/name/0/given", FX_V("[7]")), 400,
         "structure", "Bundle.entry[3].resource.name[0].given[0]"},
        /* The Task. */
        {FX_P("replace", "/entry/1/resource/status", FX_V("\"accepted\"")), 422,
         "business-rule", "Bundle.entry[1].resource.status"},
        {FX_P("replace", "/entry/1/resource/intent", FX_V("\"plan\"")), 422,
         "value", "Bundle.entry[1].resource.intent"},
        {FX_P("remove", "/entry/1/resource/for", ""), 400, "required",
         "Bundle.entry[1].resource.for"},
        {FX_P("remove", "/entry/1/resource/focus", ""), 400, "required",
         "Bundle.entry[1].resource.focus"},
        {FX_P("remove", "/entry/1/resource/meta", ""), 400, "required",
         "Bundle.entry[1].resource.meta"},
        {FX_P("remove", "/entry/1/resource/meta/security/1", ""), 400,
         "required", "Bundle.entry[1].resource.meta.security"},
        {FX_P("replace", "/entry/1/resource/meta/security/0/code",
              FX_V("\"financieel\"")),
         422, "invalid", "Bundle"},
        {FX_P("replace", "/entry/1/resource/priority", FX_V("\"soon\"")), 422,
         "value", "Bundle.entry[1].resource.priority"},
        {FX_P("replace", "/entry/1/resource/identifier/0/value",
              FX_V("\"b0e0\"")),
         422, "value", "Bundle.entry[1].resource.identifier[0].value"},
        {FX_P("replace", "/entry/1/resource/requester/identifier/value",
              FX_V("\"00005678\"")),
         403, "security", "Bundle.entry[1].resource.requester"},
        {FX_P("replace", "/entry/1/resource/owner/identifier/value",
              FX_V("\"00005678\"")),
         422, "invalid", "Bundle.entry[1].resource.owner"},
        {FX_P("replace", "/entry/1/resource/restriction/period/end",
              FX_V("\"2020-01-01T00:00:00Z\"")),
         422, "business-rule",
         "Bundle.entry[1].resource.restriction.period.end"},
        {FX_P("replace", "/entry/1/resource/restriction/period/end",
              FX_V("\"2030-12-31T25:00:00Z\"")),
         422, "value", "Bundle.entry[1].resource.restriction.period.end"},
        {FX_P("replace", "/entry/1/resource/restriction/period/end",
              FX_V("\"2030-12-31T10:00:00\"")),
         422, "value", "Bundle.entry[1].resource.restriction.period.end"},
        /* The ServiceRequest. */
        {FX_P("remove", "/entry/2/resource/category", ""), 400, "required",
         "Bundle.entry[2].resource.category"},
        {FX_P("replace", "/entry/2/resource/category/0/coding/0/system",
              FX_V("\"http://snomed.info/sct\"")),
         400, "required", "Bundle.entry[2].resource.category[0].coding"},
        {FX_P("replace", "/entry/2/resource/reasonCode/1/coding/0/system",
              FX_V("\"http://snomed.info/sct\"")),
         400, "required", "Bundle.entry[2].resource.reasonCode[1].coding"},
        {FX_P("replace", "/entry/2/resource/subject/reference",
              FX_V("\"Patient/other\"")),
         422, "not-found", "Bundle.entry[2].resource.subject.reference"},
        {FX_P("replace", "/entry/2/resource/supportingInfo/0/identifier/value",
              FX_V("\"not-hex\"")),
         422, "value",
         "Bundle.entry[2].resource.supportingInfo[0].identifier.value"},
        {FX_P("replace", "/entry/5/resource/code/coding/0/code",
              FX_V("\"8339-4\"")),
         422, "not-supported", "Bundle.entry[5].resource.code"},
        {FX_P("replace", "/entry/5/resource/valueDateTime", FX_V("\"2027\"")),
         422, "value", "Bundle.entry[5].resource.valueDateTime"},
        {FX_P("replace", "/entry/4/resource/telecom/1/value",
              FX_V("\"no-at-sign\"")),
         422, "invalid", "Bundle"},
        /* JSON types and nulls. */
        {FX_P("replace", "/entry/1/resource/status", FX_V("null")), 400,
         "structure", "Bundle.entry[1].resource.status"},
        {FX_P("replace", "/entry/1/resource/status", FX_V("\"\"")), 400,
         "structure", "Bundle.entry[1].resource.status"},
        {FX_P("replace", "/entry/3/resource/address", FX_V("\"x\"")), 400,
         "structure", "Bundle.entry[3].resource.address"},
    };

    (void)state;
    s_cells("examples/fhir/referral-bundle.json", &fx_practice, cells,
            sizeof(cells) / sizeof(cells[0]), 0);
}

/* Malformed JSON: where, never what. */
static void
test_parse(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "{\"resourceType\": \"Bundle\",}",
        "{\"a\": 1} {\"b\": 2}",
        "\"111222333\"",
        "12",
        "{\"a\": \"\xff\xfe\"}",
        "{\"a\": 1 /* comment */}",
        "{'a': 1}",
    };
    struct fhir_error e;
    json_object *o;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&e, 0, sizeof(e));
        assert_int_equal(fhir_in_parse(bad[i], strlen(bad[i]), &o, &e),
                         KR_EINVAL);
        assert_null(o);
        assert_int_equal(e.status, 400);
        assert_string_equal(e.code, "structure");
        assert_null(strstr(e.diagnostics, "111222333"));
    }
    memset(&e, 0, sizeof(e));
    const char *two = "{\n  \"a\": tru\n}";
    assert_int_equal(fhir_in_parse(two, strlen(two), &o, &e), KR_EINVAL);
    assert_non_null(strstr(e.diagnostics, "line 2"));
    assert_int_equal(fhir_in_parse(" {\"a\": 1}\n", 10, &o, &e), KR_OK);
    json_object_put(o);
    /* Not a Bundle at all. */
    assert_int_equal(fhir_in_message(&fx_practice, NULL, &o, NULL, &e),
                     KR_EINVAL);
    assert_int_equal(e.status, 400);
}

static void
test_other_bundles(void **state)
{
    static const char *const skip_ho[] = {"msg_id", "referral_id", NULL};
    static const char *const skip[] = {"msg_id", NULL};
    json_object *b, *out;
    const char *kind;
    struct fhir_error e;

    (void)state;
    b = fx_load("examples/fhir/handover-bundle.json");
    assert_int_equal(fhir_in_message(&fx_practice, b, &out, &kind, &e), KR_OK);
    assert_string_equal(kind, "handover");
    fx_valid(out);
    fx_same(out, "examples/handover.json", skip_ho);
    json_object_put(out);
    json_object_put(b);

    b = fx_load("examples/fhir/signal-bundle.json");
    assert_int_equal(fhir_in_message(&fx_practice, b, &out, &kind, &e), KR_OK);
    assert_string_equal(kind, "signal");
    fx_valid(out);
    fx_same(out, "examples/veilig-thuis-melding.json", skip);
    json_object_put(out);
    json_object_put(b);

    b = fx_load("examples/fhir/supplement-bundle.json");
    assert_int_equal(fhir_in_message(&fx_practice, b, &out, &kind, &e), KR_OK);
    assert_string_equal(kind, "supplement");
    fx_valid(out);
    fx_same(out, "examples/supplement.json", skip);
    json_object_put(out);
    json_object_put(b);

    /* The same Communication as event communication, JGZ to the
     * practice, as examples/communication.json. */
    b = fx_load("examples/fhir/supplement-bundle.json");
    json_object *patch = fx_json(
        "[{\"op\":\"replace\",\"path\":\"/entry/0/resource/eventCoding/code\","
        "\"value\":\"communication\"},"
        "{\"op\":\"replace\",\"path\":\"/entry/0/resource/sender/identifier/"
        "value\",\"value\":\"87654321\"},"
        "{\"op\":\"replace\",\"path\":\"/entry/0/resource/destination/0/"
        "receiver/identifier/value\",\"value\":\"00001234\"},"
        "{\"op\":\"remove\",\"path\":\"/entry/0/resource/author\"},"
        "{\"op\":\"remove\",\"path\":\"/entry/1/resource/subject\"},"
        "{\"op\":\"remove\",\"path\":\"/entry/1/resource/about/1\"},"
        "{\"op\":\"replace\",\"path\":\"/entry/1/resource/payload/0/"
        "contentString\",\"value\":\"Fictief voorbeeld. Vraag van de JGZ: "
        "mogen wij de cliënte ook op haar werk bellen?\"}]");
    assert_int_equal(fhir_json_patch_apply(b, patch, &e), KR_OK);
    assert_int_equal(fhir_in_message(&fx_jgz, b, &out, &kind, &e), KR_OK);
    assert_string_equal(kind, "communication");
    fx_valid(out);
    fx_same(out, "examples/communication.json", skip);
    json_object_put(out);
    json_object_put(patch);
    json_object_put(b);
}

static void
test_other_refusals(void **state)
{
    static const struct fx_cell handover[] = {
        {FX_P("replace", "/entry/1/resource/input/0/type/coding/0/code",
              FX_V("\"eye_colour\"")),
         422, "not-supported", "Bundle.entry[1].resource.input[0].type"},
        {FX_P("replace", "/entry/1/resource/input/2/valueInteger",
              FX_V("\"276\"")),
         400, "structure", "Bundle.entry[1].resource.input[2].valueInteger"},
        {FX_P("replace", "/entry/1/resource/input/1/valueDateTime",
              FX_V("\"2027-02-10\"")),
         422, "value", "Bundle.entry[1].resource.input[1].valueDateTime"},
        {FX_P("add", "/entry/1/resource/input/-",
              FX_V("{\"type\":{\"coding\":[{\"system\":\"urn:kansrijk:cs:"
                   "handover\",\"code\":\"child_bsn\"}]},\"valueIdentifier\":{"
                   "\"system\":\"http://fhir.nl/fhir/NamingSystem/bsn\","
                   "\"value\":\"123456789\"}}")),
         422, "value",
         "Bundle.entry[1].resource.input[10].valueIdentifier.value"},
        {FX_P("replace", "/entry/1/resource/input/5/valueInteger", FX_V("11")),
         422, "invalid", "Bundle"},
    };
    static const struct fx_cell signal[] = {
        {FX_P("remove", "/entry/1/resource/subject", ""), 400, "required",
         "Bundle.entry[1].resource.subject"},
        {FX_P("remove", "/entry/0/resource/reason", ""), 422, "invalid",
         "Bundle"},
        {FX_P("replace", "/entry/1/resource/status", FX_V("\"inactive\"")), 422,
         "value", "Bundle.entry[1].resource.status"},
        {FX_P("replace",
              "/entry/1/resource/extension/0/valueCodeableConcept/coding/0/"
              "code",
              FX_V("\"PX\"")),
         422, "value",
         "Bundle.entry[1].resource.extension[0].valueCodeableConcept"},
        {FX_P("remove", "/entry/1/resource/code", ""), 400, "required",
         "Bundle.entry[1].resource.code"},
        {FX_P("replace", "/entry/2/resource/identifier/0/value",
              FX_V("\"111222334\"")),
         422, "value", "Bundle.entry[2].resource.identifier[0].value"},
    };
    static const struct fx_cell supplement[] = {
        {FX_P("remove", "/entry/1/resource/payload", ""), 400, "required",
         "Bundle.entry[1].resource.payload"},
        {FX_P("add", "/entry/1/resource/payload/-",
              FX_V("{\"contentString\":\"x\"}")),
         422, "not-supported", "Bundle.entry[1].resource.payload"},
        {FX_P("replace", "/entry/1/resource/about/0/identifier/system",
              FX_V("\"urn:other\"")),
         422, "not-supported",
         "Bundle.entry[1].resource.about[0].identifier.system"},
        {FX_P("add", "/entry/1/resource/priority", FX_V("\"later\"")), 422,
         "value", "Bundle.entry[1].resource.priority"},
    };
    static const struct fx_cell consent[] = {
        {FX_P("replace", "/status", FX_V("\"draft\"")), 422, "value",
         "Consent.status"},
        {FX_P("replace", "/resourceType", FX_V("\"Patient\"")), 400,
         "structure", "resourceType"},
        {FX_P("replace", "/patient/identifier/value", FX_V("\"123456789\"")),
         422, "value", "Consent.patient.identifier.value"},
        {FX_P("replace", "/patient/identifier/system", FX_V("\"urn:x\"")), 422,
         "not-supported", "Consent.patient.identifier.system"},
        {FX_P("replace", "/patient", FX_V("{\"reference\":\"Patient/x\"}")),
         400, "required", "Consent.patient"},
        {FX_P("remove", "/provision/period", ""), 400, "required",
         "Consent.provision.period"},
        {FX_P("replace", "/provision/period/end", FX_V("\"2020-01-01\"")), 422,
         "invalid", "Consent"},
        {FX_P("replace", "/provision/period/start", FX_V("\"2026-13-01\"")),
         422, "value", "Consent.provision.period.start"},
        {FX_P("replace", "/provision/actor/0/role/coding/0/code",
              FX_V("\"PRCP\"")),
         422, "not-supported", "Consent.provision.actor[0].role"},
        {FX_P("remove", "/provision/securityLabel", ""), 400, "required",
         "Consent.provision.securityLabel"},
        {FX_P("remove", "/performer", ""), 400, "required",
         "Consent.performer"},
        {FX_P("replace", "/scope/coding/0/code", FX_V("\"research\"")), 422,
         "not-supported", "Consent.scope"},
        {FX_P("replace", "/extension/0/url",
              FX_V("\"urn:kansrijk:ext:consent-evidence#colour\"")),
         422, "not-supported", "Consent.extension[0].url"},
        {FX_P("replace", "/extension/0/valueCode", FX_V("\"guardian\"")), 422,
         "invalid", "Consent"},
        {FX_P("replace", "/identifier/0/value", FX_V("\"c0115e47\"")), 422,
         "value", "Consent.identifier[0].value"},
        {"[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"inactive\"},"
         "{\"op\":\"remove\",\"path\":\"/identifier\"}]",
         400, "required", "Consent.identifier"},
    };

    (void)state;
    s_cells("examples/fhir/handover-bundle.json", &fx_practice, handover,
            sizeof(handover) / sizeof(handover[0]), 0);
    s_cells("examples/fhir/signal-bundle.json", &fx_practice, signal,
            sizeof(signal) / sizeof(signal[0]), 0);
    s_cells("examples/fhir/supplement-bundle.json", &fx_practice, supplement,
            sizeof(supplement) / sizeof(supplement[0]), 0);
    s_cells("examples/fhir/consent.json", &fx_practice, consent,
            sizeof(consent) / sizeof(consent[0]), 1);
}

static void
test_consent(void **state)
{
    json_object *c = fx_load("examples/fhir/consent.json"), *out, *want, *v;
    json_object *ws, *gs;
    struct fhir_error e;

    (void)state;
    assert_int_equal(fhir_in_consent(&fx_practice, c, &out, &e), KR_OK);
    fx_valid(out);
    /* examples/consent-grant.json but for its relative period and its
     * actor_ref (a Consent has no author). */
    want = fx_load("examples/consent-grant.json");
    json_object_object_del(want, "actor_ref");
    json_object_object_get_ex(want, "consent_scope", &ws);
    json_object_object_get_ex(out, "consent_scope", &gs);
    json_object_object_get_ex(gs, "valid_from", &v);
    assert_string_equal(json_object_get_string(v), "2026-11-20");
    json_object_object_get_ex(gs, "valid_until", &v);
    assert_string_equal(json_object_get_string(v), "2030-12-31");
    json_object_object_add(ws, "valid_from",
                           json_object_new_string("2026-11-20"));
    json_object_object_add(ws, "valid_until",
                           json_object_new_string("2030-12-31"));
    if (!json_object_equal(out, want))
        fail_msg("%s", json_object_to_json_string(out));
    json_object_put(want);
    json_object_put(out);

    /* A dateTime with a zone is UTC for kansrijk. */
    json_object_object_get_ex(c, "provision", &v);
    json_object_object_get_ex(v, "period", &v);
    json_object_object_add(v, "end",
                           json_object_new_string("2030-12-31T23:30:00-02:00"));
    assert_int_equal(fhir_in_consent(&fx_practice, c, &out, &e), KR_OK);
    json_object_object_get_ex(out, "consent_scope", &gs);
    json_object_object_get_ex(gs, "valid_until", &v);
    assert_string_equal(json_object_get_string(v), "2031-01-01T01:30:00Z");
    json_object_put(out);

    /* Status inactive revokes it: examples/consent-revoke.json. */
    json_object_object_add(c, "status", json_object_new_string("inactive"));
    assert_int_equal(fhir_in_consent(&fx_practice, c, &out, &e), KR_OK);
    fx_valid(out);
    want = fx_load("examples/consent-revoke.json");
    json_object_object_del(want, "actor_ref");
    assert_true(json_object_equal(out, want));
    json_object_put(want);
    json_object_put(out);
    json_object_put(c);
}

/* The same Consent as the focus of a consent-grant message Bundle, its
 * patient an entry of the Bundle. */
static void
test_consent_bundle(void **state)
{
    json_object *c = fx_load("examples/fhir/consent.json"), *out, *v;
    json_object *b = fx_json(
        "{\"resourceType\":\"Bundle\",\"id\":\"toestemming-1\",\"type\":"
        "\"message\",\"entry\":[{\"fullUrl\":\"urn:uuid:1\",\"resource\":{"
        "\"resourceType\":\"MessageHeader\",\"eventCoding\":{\"system\":"
        "\"urn:kansrijk:cs:message-event\",\"code\":\"consent-grant\"},"
        "\"destination\":[{\"endpoint\":\"urn:x\",\"receiver\":{"
        "\"identifier\":{\"system\":\"http://fhir.nl/fhir/NamingSystem/"
        "ura\",\"value\":\"87654321\"}}}],\"sender\":{\"identifier\":{"
        "\"system\":\"http://fhir.nl/fhir/NamingSystem/ura\",\"value\":"
        "\"00001234\"}},\"author\":{\"identifier\":{\"system\":\"urn:"
        "kansrijk:id:actor\",\"value\":\"vlk-medewerker-0042\"}},\"source\":"
        "{\"endpoint\":\"urn:y\"},\"focus\":[{\"reference\":\"Consent/"
        "c1\"}]}},{\"fullUrl\":\"urn:uuid:3\",\"resource\":{\"resourceType\":"
        "\"Patient\",\"id\":\"p1\",\"identifier\":[{\"system\":\"http://"
        "fhir.nl/fhir/NamingSystem/bsn\",\"value\":\"111222333\"}]}}]}");
    json_object *ent = json_object_new_object(), *entries;
    struct fhir_error e;
    const char *kind;

    (void)state;
    json_object_object_add(c, "id", json_object_new_string("c1"));
    json_object_object_add(c, "patient",
                           fx_json("{\"reference\":\"urn:uuid:3\"}"));
    json_object_object_add(ent, "fullUrl",
                           json_object_new_string("urn:uuid:2"));
    json_object_object_add(ent, "resource", c);
    json_object_object_get_ex(b, "entry", &entries);
    json_object_array_add(entries, ent);
    assert_int_equal(fhir_in_message(&fx_practice, b, &out, &kind, &e), KR_OK);
    assert_string_equal(kind, "consent-grant");
    fx_valid(out);
    json_object_object_get_ex(out, "subject_bsn", &v);
    assert_string_equal(json_object_get_string(v), "111222333");
    json_object_object_get_ex(out, "actor_ref", &v);
    assert_string_equal(json_object_get_string(v), "vlk-medewerker-0042");
    json_object_put(out);
    /* Inactive is a revoke: not what a consent-grant message says. */
    json_object_object_add(c, "status", json_object_new_string("inactive"));
    assert_int_equal(fhir_in_message(&fx_practice, b, &out, &kind, &e),
                     KR_EINVAL);
    assert_int_equal(e.status, 422);
    assert_string_equal(e.expression, "Bundle.entry[2].resource.status");
    /* Another receiver than the consent's recipient. */
    json_object_object_add(c, "status", json_object_new_string("active"));
    json_object *d;
    json_object_object_get_ex(json_object_array_get_idx(entries, 0), "resource",
                              &d);
    json_object_object_get_ex(d, "destination", &d);
    d = json_object_array_get_idx(d, 0);
    json_object_object_get_ex(d, "receiver", &d);
    json_object_object_get_ex(d, "identifier", &d);
    json_object_object_add(d, "value", json_object_new_string("00009876"));
    assert_int_equal(fhir_in_message(&fx_practice, b, &out, &kind, &e),
                     KR_EINVAL);
    assert_int_equal(e.status, 422);
    assert_string_equal(e.expression, "Bundle.entry[2].resource.provision");
    json_object_put(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_referral_bundle),
        cmocka_unit_test(test_referral_refusals),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_other_bundles),
        cmocka_unit_test(test_other_refusals),
        cmocka_unit_test(test_consent),
        cmocka_unit_test(test_consent_bundle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
