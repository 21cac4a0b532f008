/*
 * test_fhir_in.c - krfhir's inbound mappers (clients/krfhir/fhir_in_*.c):
 * the example Bundles of examples/fhir/ become exactly the descriptions
 * of examples/ (referral.json, ...) (and pass kr_check_json), the same Bundle
 * twice is the same message; every bad input is refused with its HTTP status,
 * IssueType and the FHIRPath of the element, never quoting a value; Task
 * changes become the referral-status the referral table expects; JSON
 * Patch follows RFC 6902.
 *
 * The refusals are cells: the example Bundle with one JSON Patch applied
 * (by the mapper's own fhir_json_patch_apply, itself tested below) and
 * the refusal it must give.
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

/* 2026-12-05T00:00:00Z: before every date the examples hold. */
#define NOW_MS 1796428800000ull

static const struct fhir_ctx s_practice = {"ura:00001234",
                                           "http://127.0.0.1:8380", NOW_MS};
static const struct fhir_ctx s_jgz = {"ura:87654321", "http://127.0.0.1:8381",
                                      NOW_MS};

static json_object *
s_load(const char *rel)
{
    char path[512], *text = NULL;
    size_t len = 0;
    json_object *o = NULL;
    struct fhir_error e;

    snprintf(path, sizeof(path), "%s/%s", KR_SOURCE_DIR, rel);
    assert_int_equal(util_read_file(path, 1u << 20, &text, &len), 0);
    assert_int_equal(fhir_in_parse(text, len, &o, &e), KR_OK);
    free(text);
    return o;
}

static json_object *
s_json(const char *text)
{
    json_object *o = NULL;
    struct fhir_error e;

    if (fhir_in_parse(text, strlen(text), &o, &e) != KR_OK) {
        /* arrays are not bodies fhir_in_parse takes; tests build them */
        o = json_tokener_parse(text);
    }
    assert_non_null(o);
    return o;
}

/* The description passes libkr's own check (as kr_send_json would). */
static void
s_valid(json_object *desc)
{
    char err[512];
    const char *s =
        json_object_to_json_string_ext(desc, JSON_C_TO_STRING_PLAIN);

    if (kr_check_json(s, strlen(s), err, sizeof(err)) != KR_OK)
        fail_msg("not a valid description: %s", err);
}

/* 'got' equals the example 'rel' but for the keys listed (NULL-ended). */
static void
s_same(json_object *got, const char *rel, const char *const *skip)
{
    json_object *want = s_load(rel), *g = NULL;

    assert_int_equal(json_object_deep_copy(got, &g, NULL), 0);
    for (size_t i = 0; skip != NULL && skip[i] != NULL; i++) {
        json_object_object_del(g, skip[i]);
        json_object_object_del(want, skip[i]);
    }
    if (!json_object_equal(g, want))
        fail_msg("differs from %s:\n%s\nwant\n%s", rel,
                 json_object_to_json_string_ext(g, JSON_C_TO_STRING_PRETTY),
                 json_object_to_json_string_ext(want, JSON_C_TO_STRING_PRETTY));
    json_object_put(g);
    json_object_put(want);
}

static void
test_referral_bundle(void **state)
{
    static const char *const skip[] = {"msg_id", "not_after", NULL};
    json_object *b = s_load("examples/fhir/referral-bundle.json"), *out, *v;
    const char *kind;
    char want[KR_MSG_ID_HEX_LEN];
    struct fhir_error e;

    (void)state;
    assert_int_equal(fhir_in_message(&s_practice, b, &out, &kind, &e), KR_OK);
    assert_string_equal(kind, "referral");
    s_valid(out);
    s_same(out, "examples/referral.json", skip);
    assert_true(json_object_object_get_ex(out, "not_after", &v));
    assert_string_equal(json_object_get_string(v), "2030-12-31T00:00:00Z");
    /* msg_id from Bundle.id: the same Bundle again is the same message. */
    assert_int_equal(
        fhir_bundle_msg_id("ura:00001234", "vlk-verwijzing-2026-0815", want),
        KR_OK);
    assert_true(json_object_object_get_ex(out, "msg_id", &v));
    assert_string_equal(json_object_get_string(v), want);
    json_object *again;
    assert_int_equal(fhir_in_message(&s_practice, b, &again, NULL, &e), KR_OK);
    assert_true(json_object_equal(out, again));
    json_object_put(again);
    /* Without the organisation (the gateway's node never answered) the
     * sender stands for it: the same description, and a Bundle that
     * fails its checks still fails them. */
    const struct fhir_ctx unknown = {NULL, s_practice.base_url, NOW_MS};
    assert_int_equal(fhir_in_message(&unknown, b, &again, NULL, &e), KR_OK);
    assert_true(json_object_equal(out, again));
    json_object_put(again);
    json_object *bare = s_json("{\"resourceType\":\"Bundle\"}");
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
    json_object *patch = s_json(
        "[{\"op\":\"remove\",\"path\":\"/entry/1/resource/identifier\"}]");
    assert_int_equal(fhir_json_patch_apply(b, patch, &pe), KR_OK);
    json_object *o1, *o2;
    assert_int_equal(fhir_in_message(&s_practice, b, &o1, NULL, &e), KR_OK);
    assert_int_equal(fhir_in_message(&s_practice, b, &o2, NULL, &e), KR_OK);
    json_object_object_get_ex(o1, "referral_id", &v);
    assert_string_not_equal(json_object_get_string(v),
                            "b0e0a1e2c3d4e5f60718293a4b5c6d7e");
    assert_int_equal(strlen(json_object_get_string(v)), 32);
    assert_true(json_object_equal(o1, o2));
    s_valid(o1);
    json_object_put(o1);
    json_object_put(o2);
    json_object_put(patch);
    json_object_put(b);
}

/* One refusal: the example with 'patch' applied gives status, code and
 * expression. */
struct s_cell {
    const char *patch;
    int status;
    const char *code;
    const char *expression;
};

static void
s_cells(const char *example, const struct fhir_ctx *ctx,
        const struct s_cell *cells, size_t n, int mapper)
{
    for (size_t i = 0; i < n; i++) {
        json_object *b = s_load(example), *patch = s_json(cells[i].patch);
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

#define S_P(op, path, value)                                                   \
    "[{\"op\":\"" op "\",\"path\":\"" path "\"" value "}]"
#define S_V(v) ",\"value\":" v

static void
test_referral_refusals(void **state)
{
    static const struct s_cell cells[] = {
        /* Not a message Bundle. */
        {S_P("replace", "/resourceType", S_V("\"Task\"")), 400, "structure",
         "resourceType"},
        {S_P("replace", "/type", S_V("\"transaction\"")), 422, "value",
         "Bundle.type"},
        {S_P("remove", "/id", ""), 400, "required", "Bundle.id"},
        {S_P("replace", "/id", S_V("\"has space\"")), 400, "value",
         "Bundle.id"},
        {S_P("replace", "/entry", S_V("[]")), 400, "structure", "Bundle.entry"},
        {S_P("replace", "/entry", S_V("{}")), 400, "structure", "Bundle.entry"},
        /* A Bundle without MessageHeader. */
        {S_P("remove", "/entry/0", ""), 400, "structure",
         "Bundle.entry[0].resource.resourceType"},
        {"[{\"op\":\"move\",\"from\":\"/entry/0\",\"path\":\"/entry/-\"}]", 400,
         "structure", "Bundle.entry[5].resource"},
        /* An unknown resource type. */
        {S_P("replace", "/entry/5/resource/resourceType",
             S_V("\"Medication\"")),
         422, "not-supported", "Bundle.entry[5].resource.resourceType"},
        {S_P("remove", "/entry/3/resource", ""), 400, "required",
         "Bundle.entry[3].resource"},
        /* An unknown event code, or system. */
        {S_P("replace", "/entry/0/resource/eventCoding/code",
             S_V("\"diagnosis\"")),
         422, "not-supported", "Bundle.entry[0].resource.eventCoding.code"},
        {S_P("replace", "/entry/0/resource/eventCoding/system",
             S_V("\"http://example.org/events\"")),
         422, "not-supported", "Bundle.entry[0].resource.eventCoding.system"},
        {S_P("remove", "/entry/0/resource/eventCoding", ""), 400, "required",
         "Bundle.entry[0].resource.eventCoding"},
        /* A sender that is not this organisation. */
        {S_P("replace", "/entry/0/resource/sender/identifier/value",
             S_V("\"00005678\"")),
         403, "security", "Bundle.entry[0].resource.sender"},
        {S_P("replace", "/entry/0/resource/sender",
             S_V("{\"reference\":\"Organization/x\"}")),
         400, "required", "Bundle.entry[0].resource.sender"},
        {S_P("replace", "/entry/0/resource/sender/identifier/system",
             S_V("\"http://example.org/kvk\"")),
         422, "value", "Bundle.entry[0].resource.sender.identifier"},
        /* The receiver. */
        {S_P("remove", "/entry/0/resource/destination", ""), 400, "required",
         "Bundle.entry[0].resource.destination"},
        {S_P("replace",
             "/entry/0/resource/destination/0/receiver/identifier/value",
             S_V("\"123456789\"")),
         422, "value",
         "Bundle.entry[0].resource.destination[0].receiver.identifier"},
        {S_P("replace", "/entry/0/resource/author/identifier/system",
             S_V("\"http://example.org/staff\"")),
         422, "not-supported",
         "Bundle.entry[0].resource.author.identifier.system"},
        /* The focus. */
        {S_P("replace", "/entry/0/resource/focus/0/reference",
             S_V("\"urn:uuid:nowhere\"")),
         422, "not-found", "Bundle.entry[0].resource.focus[0].reference"},
        {S_P("replace", "/entry/0/resource/focus/0/reference",
             S_V("\"urn:uuid:6f1c2a52-8d1e-4b7a-9c3e-0a1b2c3d4e04\"")),
         422, "invalid", "Bundle.entry[0].resource.focus[0].reference"},
        /* A Patient BSN that fails the eleven-test, or none. */
        {S_P("replace", "/entry/3/resource/identifier/0/value",
             S_V("\"123456789\"")),
         422, "value", "Bundle.entry[3].resource.identifier[0].value"},
        {S_P("replace", "/entry/3/resource/identifier/0/value",
             S_V("\"11122233\"")),
         422, "value", "Bundle.entry[3].resource.identifier[0].value"},
        {S_P("replace", "/entry/3/resource/identifier/0/system",
             S_V("\"http://example.org/mrn\"")),
         400, "required", "Bundle.entry[3].resource.identifier"},
        {S_P("remove", "/entry/3/resource/identifier", ""), 400, "required",
         "Bundle.entry[3].resource.identifier"},
        {S_P("replace", "/entry/3/resource/birthDate", S_V("\"1994\"")), 422,
         "value", "Bundle.entry[3].resource.birthDate"},
        {S_P("replace", "/entry/3/resource/name/0/given", S_V("[7]")), 400,
         "structure", "Bundle.entry[3].resource.name[0].given[0]"},
        /* The Task. */
        {S_P("replace", "/entry/1/resource/status", S_V("\"accepted\"")), 422,
         "business-rule", "Bundle.entry[1].resource.status"},
        {S_P("replace", "/entry/1/resource/intent", S_V("\"plan\"")), 422,
         "value", "Bundle.entry[1].resource.intent"},
        {S_P("remove", "/entry/1/resource/for", ""), 400, "required",
         "Bundle.entry[1].resource.for"},
        {S_P("remove", "/entry/1/resource/focus", ""), 400, "required",
         "Bundle.entry[1].resource.focus"},
        {S_P("remove", "/entry/1/resource/meta", ""), 400, "required",
         "Bundle.entry[1].resource.meta"},
        {S_P("remove", "/entry/1/resource/meta/security/1", ""), 400,
         "required", "Bundle.entry[1].resource.meta.security"},
        {S_P("replace", "/entry/1/resource/meta/security/0/code",
             S_V("\"financieel\"")),
         422, "invalid", "Bundle"},
        {S_P("replace", "/entry/1/resource/priority", S_V("\"soon\"")), 422,
         "value", "Bundle.entry[1].resource.priority"},
        {S_P("replace", "/entry/1/resource/identifier/0/value",
             S_V("\"b0e0\"")),
         422, "value", "Bundle.entry[1].resource.identifier[0].value"},
        {S_P("replace", "/entry/1/resource/requester/identifier/value",
             S_V("\"00005678\"")),
         403, "security", "Bundle.entry[1].resource.requester"},
        {S_P("replace", "/entry/1/resource/owner/identifier/value",
             S_V("\"00005678\"")),
         422, "invalid", "Bundle.entry[1].resource.owner"},
        {S_P("replace", "/entry/1/resource/restriction/period/end",
             S_V("\"2020-01-01T00:00:00Z\"")),
         422, "business-rule",
         "Bundle.entry[1].resource.restriction.period.end"},
        {S_P("replace", "/entry/1/resource/restriction/period/end",
             S_V("\"2030-12-31T25:00:00Z\"")),
         422, "value", "Bundle.entry[1].resource.restriction.period.end"},
        {S_P("replace", "/entry/1/resource/restriction/period/end",
             S_V("\"2030-12-31T10:00:00\"")),
         422, "value", "Bundle.entry[1].resource.restriction.period.end"},
        /* The ServiceRequest. */
        {S_P("remove", "/entry/2/resource/category", ""), 400, "required",
         "Bundle.entry[2].resource.category"},
        {S_P("replace", "/entry/2/resource/category/0/coding/0/system",
             S_V("\"http://snomed.info/sct\"")),
         400, "required", "Bundle.entry[2].resource.category[0].coding"},
        {S_P("replace", "/entry/2/resource/reasonCode/1/coding/0/system",
             S_V("\"http://snomed.info/sct\"")),
         400, "required", "Bundle.entry[2].resource.reasonCode[1].coding"},
        {S_P("replace", "/entry/2/resource/subject/reference",
             S_V("\"Patient/other\"")),
         422, "not-found", "Bundle.entry[2].resource.subject.reference"},
        {S_P("replace", "/entry/2/resource/supportingInfo/0/identifier/value",
             S_V("\"not-hex\"")),
         422, "value",
         "Bundle.entry[2].resource.supportingInfo[0].identifier.value"},
        {S_P("replace", "/entry/5/resource/code/coding/0/code",
             S_V("\"8339-4\"")),
         422, "not-supported", "Bundle.entry[5].resource.code"},
        {S_P("replace", "/entry/5/resource/valueDateTime", S_V("\"2027\"")),
         422, "value", "Bundle.entry[5].resource.valueDateTime"},
        {S_P("replace", "/entry/4/resource/telecom/1/value",
             S_V("\"no-at-sign\"")),
         422, "invalid", "Bundle"},
        /* JSON types and nulls. */
        {S_P("replace", "/entry/1/resource/status", S_V("null")), 400,
         "structure", "Bundle.entry[1].resource.status"},
        {S_P("replace", "/entry/1/resource/status", S_V("\"\"")), 400,
         "structure", "Bundle.entry[1].resource.status"},
        {S_P("replace", "/entry/3/resource/address", S_V("\"x\"")), 400,
         "structure", "Bundle.entry[3].resource.address"},
    };

    (void)state;
    s_cells("examples/fhir/referral-bundle.json", &s_practice, cells,
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
    assert_int_equal(fhir_in_message(&s_practice, NULL, &o, NULL, &e),
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
    b = s_load("examples/fhir/handover-bundle.json");
    assert_int_equal(fhir_in_message(&s_practice, b, &out, &kind, &e), KR_OK);
    assert_string_equal(kind, "handover");
    s_valid(out);
    s_same(out, "examples/handover.json", skip_ho);
    json_object_put(out);
    json_object_put(b);

    b = s_load("examples/fhir/signal-bundle.json");
    assert_int_equal(fhir_in_message(&s_practice, b, &out, &kind, &e), KR_OK);
    assert_string_equal(kind, "signal");
    s_valid(out);
    s_same(out, "examples/veilig-thuis-melding.json", skip);
    json_object_put(out);
    json_object_put(b);

    b = s_load("examples/fhir/supplement-bundle.json");
    assert_int_equal(fhir_in_message(&s_practice, b, &out, &kind, &e), KR_OK);
    assert_string_equal(kind, "supplement");
    s_valid(out);
    s_same(out, "examples/supplement.json", skip);
    json_object_put(out);
    json_object_put(b);

    /* The same Communication as event communication, JGZ to the
     * practice, as examples/communication.json. */
    b = s_load("examples/fhir/supplement-bundle.json");
    json_object *patch = s_json(
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
    assert_int_equal(fhir_in_message(&s_jgz, b, &out, &kind, &e), KR_OK);
    assert_string_equal(kind, "communication");
    s_valid(out);
    s_same(out, "examples/communication.json", skip);
    json_object_put(out);
    json_object_put(patch);
    json_object_put(b);
}

static void
test_other_refusals(void **state)
{
    static const struct s_cell handover[] = {
        {S_P("replace", "/entry/1/resource/input/0/type/coding/0/code",
             S_V("\"eye_colour\"")),
         422, "not-supported", "Bundle.entry[1].resource.input[0].type"},
        {S_P("replace", "/entry/1/resource/input/2/valueInteger",
             S_V("\"276\"")),
         400, "structure", "Bundle.entry[1].resource.input[2].valueInteger"},
        {S_P("replace", "/entry/1/resource/input/1/valueDateTime",
             S_V("\"2027-02-10\"")),
         422, "value", "Bundle.entry[1].resource.input[1].valueDateTime"},
        {S_P("add", "/entry/1/resource/input/-",
             S_V("{\"type\":{\"coding\":[{\"system\":\"urn:kansrijk:cs:"
                 "handover\",\"code\":\"child_bsn\"}]},\"valueIdentifier\":{"
                 "\"system\":\"http://fhir.nl/fhir/NamingSystem/bsn\","
                 "\"value\":\"123456789\"}}")),
         422, "value",
         "Bundle.entry[1].resource.input[10].valueIdentifier.value"},
        {S_P("replace", "/entry/1/resource/input/5/valueInteger", S_V("11")),
         422, "invalid", "Bundle"},
    };
    static const struct s_cell signal[] = {
        {S_P("remove", "/entry/1/resource/subject", ""), 400, "required",
         "Bundle.entry[1].resource.subject"},
        {S_P("remove", "/entry/0/resource/reason", ""), 422, "invalid",
         "Bundle"},
        {S_P("replace", "/entry/1/resource/status", S_V("\"inactive\"")), 422,
         "value", "Bundle.entry[1].resource.status"},
        {S_P("replace",
             "/entry/1/resource/extension/0/valueCodeableConcept/coding/0/"
             "code",
             S_V("\"PX\"")),
         422, "value",
         "Bundle.entry[1].resource.extension[0].valueCodeableConcept"},
        {S_P("remove", "/entry/1/resource/code", ""), 400, "required",
         "Bundle.entry[1].resource.code"},
        {S_P("replace", "/entry/2/resource/identifier/0/value",
             S_V("\"111222334\"")),
         422, "value", "Bundle.entry[2].resource.identifier[0].value"},
    };
    static const struct s_cell supplement[] = {
        {S_P("remove", "/entry/1/resource/payload", ""), 400, "required",
         "Bundle.entry[1].resource.payload"},
        {S_P("add", "/entry/1/resource/payload/-",
             S_V("{\"contentString\":\"x\"}")),
         422, "not-supported", "Bundle.entry[1].resource.payload"},
        {S_P("replace", "/entry/1/resource/about/0/identifier/system",
             S_V("\"urn:other\"")),
         422, "not-supported",
         "Bundle.entry[1].resource.about[0].identifier.system"},
        {S_P("add", "/entry/1/resource/priority", S_V("\"later\"")), 422,
         "value", "Bundle.entry[1].resource.priority"},
    };
    static const struct s_cell consent[] = {
        {S_P("replace", "/status", S_V("\"draft\"")), 422, "value",
         "Consent.status"},
        {S_P("replace", "/resourceType", S_V("\"Patient\"")), 400, "structure",
         "resourceType"},
        {S_P("replace", "/patient/identifier/value", S_V("\"123456789\"")), 422,
         "value", "Consent.patient.identifier.value"},
        {S_P("replace", "/patient/identifier/system", S_V("\"urn:x\"")), 422,
         "not-supported", "Consent.patient.identifier.system"},
        {S_P("replace", "/patient", S_V("{\"reference\":\"Patient/x\"}")), 400,
         "required", "Consent.patient"},
        {S_P("remove", "/provision/period", ""), 400, "required",
         "Consent.provision.period"},
        {S_P("replace", "/provision/period/end", S_V("\"2020-01-01\"")), 422,
         "invalid", "Consent"},
        {S_P("replace", "/provision/period/start", S_V("\"2026-13-01\"")), 422,
         "value", "Consent.provision.period.start"},
        {S_P("replace", "/provision/actor/0/role/coding/0/code",
             S_V("\"PRCP\"")),
         422, "not-supported", "Consent.provision.actor[0].role"},
        {S_P("remove", "/provision/securityLabel", ""), 400, "required",
         "Consent.provision.securityLabel"},
        {S_P("remove", "/performer", ""), 400, "required", "Consent.performer"},
        {S_P("replace", "/scope/coding/0/code", S_V("\"research\"")), 422,
         "not-supported", "Consent.scope"},
        {S_P("replace", "/extension/0/url",
             S_V("\"urn:kansrijk:ext:consent-evidence#colour\"")),
         422, "not-supported", "Consent.extension[0].url"},
        {S_P("replace", "/extension/0/valueCode", S_V("\"guardian\"")), 422,
         "invalid", "Consent"},
        {S_P("replace", "/identifier/0/value", S_V("\"c0115e47\"")), 422,
         "value", "Consent.identifier[0].value"},
        {"[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"inactive\"},"
         "{\"op\":\"remove\",\"path\":\"/identifier\"}]",
         400, "required", "Consent.identifier"},
    };

    (void)state;
    s_cells("examples/fhir/handover-bundle.json", &s_practice, handover,
            sizeof(handover) / sizeof(handover[0]), 0);
    s_cells("examples/fhir/signal-bundle.json", &s_practice, signal,
            sizeof(signal) / sizeof(signal[0]), 0);
    s_cells("examples/fhir/supplement-bundle.json", &s_practice, supplement,
            sizeof(supplement) / sizeof(supplement[0]), 0);
    s_cells("examples/fhir/consent.json", &s_practice, consent,
            sizeof(consent) / sizeof(consent[0]), 1);
}

static void
test_consent(void **state)
{
    json_object *c = s_load("examples/fhir/consent.json"), *out, *want, *v;
    json_object *ws, *gs;
    struct fhir_error e;

    (void)state;
    assert_int_equal(fhir_in_consent(&s_practice, c, &out, &e), KR_OK);
    s_valid(out);
    /* examples/consent-grant.json but for its relative period and its
     * actor_ref (a Consent has no author). */
    want = s_load("examples/consent-grant.json");
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
    assert_int_equal(fhir_in_consent(&s_practice, c, &out, &e), KR_OK);
    json_object_object_get_ex(out, "consent_scope", &gs);
    json_object_object_get_ex(gs, "valid_until", &v);
    assert_string_equal(json_object_get_string(v), "2031-01-01T01:30:00Z");
    json_object_put(out);

    /* Status inactive revokes it: examples/consent-revoke.json. */
    json_object_object_add(c, "status", json_object_new_string("inactive"));
    assert_int_equal(fhir_in_consent(&s_practice, c, &out, &e), KR_OK);
    s_valid(out);
    want = s_load("examples/consent-revoke.json");
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
    json_object *c = s_load("examples/fhir/consent.json"), *out, *v;
    json_object *b = s_json(
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
                           s_json("{\"reference\":\"urn:uuid:3\"}"));
    json_object_object_add(ent, "fullUrl",
                           json_object_new_string("urn:uuid:2"));
    json_object_object_add(ent, "resource", c);
    json_object_object_get_ex(b, "entry", &entries);
    json_object_array_add(entries, ent);
    assert_int_equal(fhir_in_message(&s_practice, b, &out, &kind, &e), KR_OK);
    assert_string_equal(kind, "consent-grant");
    s_valid(out);
    json_object_object_get_ex(out, "subject_bsn", &v);
    assert_string_equal(json_object_get_string(v), "111222333");
    json_object_object_get_ex(out, "actor_ref", &v);
    assert_string_equal(json_object_get_string(v), "vlk-medewerker-0042");
    json_object_put(out);
    /* Inactive is a revoke: not what a consent-grant message says. */
    json_object_object_add(c, "status", json_object_new_string("inactive"));
    assert_int_equal(fhir_in_message(&s_practice, b, &out, &kind, &e),
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
    assert_int_equal(fhir_in_message(&s_practice, b, &out, &kind, &e),
                     KR_EINVAL);
    assert_int_equal(e.status, 422);
    assert_string_equal(e.expression, "Bundle.entry[2].resource.provision");
    json_object_put(b);
}

/* The node's record (kr_referral_json) in 'state'. */
static json_object *
s_referral(const char *state, bool cancel_pending, int steps)
{
    char text[2048];
    int n = snprintf(
        text, sizeof(text),
        "{\"referral_id\": \"b0e0a1e2c3d4e5f60718293a4b5c6d7e\", \"type\": "
        "\"referral\", \"case_id\": null, \"placer\": \"ura:00001234\", "
        "\"performer\": \"ura:87654321\", \"purpose\": "
        "\"prenataal-huisbezoek\", \"state\": \"%s\", \"state_at\": "
        "\"2026-12-05T09:12:44.120Z\", \"opened_at\": "
        "\"2026-12-05T09:12:40.031Z\", \"cancel_pending\": %s, \"reason\": "
        "null, \"outcome\": null, \"escalations\": 0, \"last_escalation\": "
        "null, \"overdue\": false, \"history\": [",
        state, cancel_pending ? "true" : "false");
    for (int i = 0; i < steps; i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n,
                      "%s{\"at\": \"2026-12-05T09:12:40.031Z\", \"org_id\": "
                      "\"ura:00001234\", \"to\": \"requested\"}",
                      i ? "," : "");
    snprintf(text + n, sizeof(text) - (size_t)n, "]}");
    return s_json(text);
}

/* The Task as the gateway shows it at 'status'. */
static json_object *
s_task(const char *status)
{
    char text[2048];
    snprintf(
        text, sizeof(text),
        "{\"resourceType\": \"Task\", \"id\": "
        "\"b0e0a1e2c3d4e5f60718293a4b5c6d7e\", \"meta\": {\"security\": "
        "[{\"system\": \"urn:kansrijk:cs:data-category\", \"code\": "
        "\"medisch\"}]}, \"identifier\": [{\"system\": "
        "\"urn:kansrijk:id:referral\", \"value\": "
        "\"b0e0a1e2c3d4e5f60718293a4b5c6d7e\"}], \"status\": \"%s\", "
        "\"intent\": \"order\", \"priority\": \"routine\", \"focus\": "
        "{\"reference\": "
        "\"ServiceRequest/b0e0a1e2c3d4e5f60718293a4b5c6d7e\"}, \"for\": "
        "{\"reference\": "
        "\"http://127.0.0.1:8381/Patient/b0e0a1e2c3d4e5f60718293a4b5c6d7e\"}, "
        "\"authoredOn\": \"2026-12-05T09:12:40.031Z\", \"lastModified\": "
        "\"2026-12-05T09:12:44.120Z\", \"requester\": {\"identifier\": "
        "{\"system\": \"http://fhir.nl/fhir/NamingSystem/ura\", \"value\": "
        "\"00001234\"}}, \"owner\": {\"identifier\": {\"system\": "
        "\"http://fhir.nl/fhir/NamingSystem/ura\", \"value\": "
        "\"87654321\"}}}",
        status);
    return s_json(text);
}

static void
s_status_is(json_object *out, const char *rel)
{
    static const char *const skip[] = {"msg_id", "data_category", "legal_basis",
                                       "priority", NULL};
    s_valid(out);
    s_same(out, rel, skip);
}

static void
test_task_update(void **state)
{
    json_object *ref = s_referral("requested", false, 1), *task, *out, *o2;
    json_object *patch = s_load("examples/fhir/task-accept-patch.json");
    json_object *st, *v, *want, *ws;
    struct fhir_error e;

    (void)state;
    /* The Task as read: nothing to send. */
    task = s_task("requested");
    out = (json_object *)1;
    assert_int_equal(fhir_in_task_update(&s_jgz, ref, task, &out, &e), KR_OK);
    assert_null(out);

    /* JGZ's PATCH to accepted: examples/referral-accepted.json but the
     * contact (not carried by a Task) and the clear codes the referral
     * already has. */
    assert_int_equal(fhir_json_patch_apply(task, patch, &e), KR_OK);
    assert_int_equal(fhir_in_task_update(&s_jgz, ref, task, &out, &e), KR_OK);
    assert_non_null(out);
    s_valid(out);
    want = s_load("examples/referral-accepted.json");
    json_object_object_get_ex(want, "referral_status", &ws);
    json_object_object_del(ws, "contact");
    json_object_object_get_ex(out, "referral_status", &st);
    assert_true(json_object_equal(st, ws));
    json_object_put(want);
    json_object_object_get_ex(out, "recipient", &v);
    assert_string_equal(json_object_get_string(v), "ura:00001234");

    /* A retried PUT is the same message; after another step, another. */
    assert_int_equal(fhir_in_task_update(&s_jgz, ref, task, &o2, &e), KR_OK);
    assert_true(json_object_equal(out, o2));
    json_object_put(o2);
    json_object *ref3 = s_referral("requested", false, 3);
    assert_int_equal(fhir_in_task_update(&s_jgz, ref3, task, &o2, &e), KR_OK);
    json_object *m1, *m2;
    json_object_object_get_ex(out, "msg_id", &m1);
    json_object_object_get_ex(o2, "msg_id", &m2);
    assert_string_not_equal(json_object_get_string(m1),
                            json_object_get_string(m2));
    json_object_put(o2);
    json_object_put(ref3);
    json_object_put(out);
    json_object_put(task);
    json_object_put(ref);
    json_object_put(patch);

    /* The placer asks to cancel work in progress. */
    ref = s_referral("in-progress", false, 4);
    task = s_task("in-progress");
    patch = s_json(
        "[{\"op\":\"add\",\"path\":\"/businessStatus\",\"value\":{\"coding\":"
        "[{\"system\":\"urn:kansrijk:cs:business-status\",\"code\":\"cancel-"
        "requested\"}]}},{\"op\":\"add\",\"path\":\"/statusReason\","
        "\"value\":{\"coding\":[{\"system\":\"urn:kansrijk:cs:status-"
        "reason\",\"code\":\"consent-revoked\"}]}},{\"op\":\"add\",\"path\":"
        "\"/note\",\"value\":[{\"text\":\"earlier\",\"time\":\"2026-12-05T09:"
        "12:44Z\"},{\"text\":\"The client withdrew her consent; please "
        "stop.\"}]}]");
    assert_int_equal(fhir_json_patch_apply(task, patch, &e), KR_OK);
    assert_int_equal(fhir_in_task_update(&s_practice, ref, task, &out, &e),
                     KR_OK);
    s_status_is(out, "examples/referral-cancel-requested.json");
    json_object_put(out);
    json_object_put(ref);
    json_object_put(patch);

    /* JGZ, with the request open: cancelled confirms it, businessStatus
     * cancel-declined declines it; the statusReason still shown from the
     * request is not sent with a step that takes none. */
    ref = s_referral("in-progress", true, 5);
    json_object_object_add(task, "status", json_object_new_string("cancelled"));
    json_object_object_del(task, "businessStatus");
    json_object_object_del(task, "note");
    assert_int_equal(fhir_in_task_update(&s_jgz, ref, task, &out, &e), KR_OK);
    s_valid(out);
    json_object_object_get_ex(out, "referral_status", &st);
    assert_string_equal(
        json_object_get_string(json_object_object_get(st, "status")),
        "cancel-confirmed");
    assert_null(json_object_object_get(st, "status_reason"));
    json_object_put(out);
    json_object_object_add(task, "status",
                           json_object_new_string("in-progress"));
    patch = s_json("[{\"op\":\"add\",\"path\":\"/businessStatus\",\"value\":{"
                   "\"coding\":[{\"system\":\"urn:kansrijk:cs:business-"
                   "status\",\"code\":\"cancel-declined\"}]}}]");
    assert_int_equal(fhir_json_patch_apply(task, patch, &e), KR_OK);
    assert_int_equal(fhir_in_task_update(&s_jgz, ref, task, &out, &e), KR_OK);
    json_object_object_get_ex(out, "referral_status", &st);
    assert_string_equal(
        json_object_get_string(json_object_object_get(st, "status")),
        "cancel-declined");
    json_object_put(out);
    json_object_put(patch);
    json_object_put(ref);

    /* Completed with its outcome: examples/referral-completed.json. */
    ref = s_referral("in-progress", false, 6);
    json_object_object_del(task, "businessStatus");
    patch = s_json(
        "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"completed\"},"
        "{\"op\":\"add\",\"path\":\"/output\",\"value\":[{\"type\":{\"coding\""
        ":[{\"system\":\"urn:kansrijk:cs:output-type\",\"code\":\"outcome\"}]"
        "},\"valueCodeableConcept\":{\"coding\":[{\"system\":\"urn:kansrijk:"
        "cs:outcome\",\"code\":\"visit-done\"}]}}]},{\"op\":\"add\",\"path\":"
        "\"/note\",\"value\":[{\"text\":\"Prenatal home visit done; follow-up "
        "by JGZ after birth.\"}]}]");
    assert_int_equal(fhir_json_patch_apply(task, patch, &e), KR_OK);
    assert_int_equal(fhir_in_task_update(&s_jgz, ref, task, &out, &e), KR_OK);
    s_status_is(out, "examples/referral-completed.json");
    json_object_put(out);
    json_object_put(patch);
    json_object_put(ref);
    json_object_put(task);
}

static void
test_task_refusals(void **state)
{
    static const struct s_cell cells[] = {
        {S_P("replace", "/owner/identifier/value", S_V("\"00005678\"")), 422,
         "not-supported", "Task.owner"},
        {S_P("replace", "/requester/identifier/value", S_V("\"00005678\"")),
         422, "not-supported", "Task.requester"},
        {S_P("replace", "/for/reference", S_V("\"Patient/other\"")), 422,
         "not-supported", "Task.for.reference"},
        {S_P("replace", "/focus/reference", S_V("\"ServiceRequest/x\"")), 422,
         "not-supported", "Task.focus.reference"},
        {S_P("add", "/description", S_V("\"x\"")), 422, "not-supported",
         "Task.description"},
        {S_P("add", "/code", S_V("{\"text\":\"x\"}")), 422, "not-supported",
         "Task.code"},
        {S_P("replace", "/id", S_V("\"other\"")), 400, "invalid", "Task.id"},
        {S_P("replace", "/identifier/0/value",
             S_V("\"00000000000000000000000000000000\"")),
         422, "not-supported", "Task.identifier[0].value"},
        {S_P("replace", "/intent", S_V("\"plan\"")), 422, "not-supported",
         "Task.intent"},
        {S_P("replace", "/status", S_V("\"ready\"")), 422, "value",
         "Task.status"},
        {S_P("remove", "/status", ""), 400, "required", "Task.status"},
        {S_P("add", "/businessStatus",
             S_V("{\"coding\":[{\"system\":\"urn:kansrijk:cs:business-"
                 "status\",\"code\":\"paused\"}]}")),
         422, "value", "Task.businessStatus"},
        {"[{\"op\":\"add\",\"path\":\"/businessStatus\",\"value\":{\"coding\":"
         "[{\"system\":\"urn:kansrijk:cs:business-status\",\"code\":\"cancel-"
         "requested\"}]}},{\"op\":\"replace\",\"path\":\"/status\",\"value\":"
         "\"cancelled\"}]",
         422, "business-rule", "Task.businessStatus"},
        {S_P("add", "/output",
             S_V("[{\"type\":{\"coding\":[{\"system\":\"urn:kansrijk:cs:"
                 "output-type\",\"code\":\"report\"}]}}]")),
         422, "not-supported", "Task.output[0].type"},
        {"[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"accepted\"},"
         "{\"op\":\"add\",\"path\":\"/executionPeriod\",\"value\":{\"start\":"
         "\"2027\"}}]",
         422, "value", "Task.executionPeriod.start"},
        {"[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"rejected\"},"
         "{\"op\":\"add\",\"path\":\"/statusReason\",\"value\":{\"coding\":[{"
         "\"system\":\"urn:kansrijk:cs:status-reason\",\"code\":\"\"}]}}]",
         400, "structure", "Task.statusReason.coding[0].code"},
        {S_P("replace", "/resourceType", S_V("\"ServiceRequest\"")), 400,
         "structure", "resourceType"},
    };
    json_object *ref = s_referral("in-progress", false, 4);

    (void)state;
    for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
        json_object *task = s_task("in-progress"),
                    *patch = s_json(cells[i].patch);
        json_object *out = (json_object *)1;
        struct fhir_error e, pe;

        memset(&e, 0, sizeof(e));
        if (fhir_json_patch_apply(task, patch, &pe) != KR_OK)
            fail_msg("cell %zu: the patch does not apply", i);
        if (fhir_in_task_update(&s_jgz, ref, task, &out, &e) == KR_OK)
            fail_msg("cell %zu (%s): accepted", i, cells[i].patch);
        assert_null(out);
        if (e.status != cells[i].status || strcmp(e.code, cells[i].code) != 0 ||
            strcmp(e.expression, cells[i].expression) != 0)
            fail_msg("cell %zu (%s): got %d %s %s (%s)", i, cells[i].patch,
                     e.status, e.code, e.expression, e.diagnostics);
        json_object_put(patch);
        json_object_put(task);
    }
    /* An organisation that is neither party. */
    static const struct fhir_ctx other = {"ura:00005678", "", NOW_MS};
    json_object *task = s_task("completed"), *out;
    struct fhir_error e;
    assert_int_equal(fhir_in_task_update(&other, ref, task, &out, &e),
                     KR_EINVAL);
    assert_int_equal(e.status, 403);
    assert_string_equal(e.code, "security");
    json_object_put(task);
    json_object_put(ref);
}

/* The Task as the gateway shows it (fhir_out_task), PUT back unchanged,
 * is no change, in every state, with a cancellation request open or
 * answered, escalated; and the example PATCH on it accepts. */
static void
test_task_as_shown(void **state)
{
    static const char *const states[] = {
        "requested", "received",        "accepted",    "rejected",
        "cancelled", "on-hold",         "in-progress", "completed",
        "failed",    "entered-in-error"};
    static const char *const steps[] = {NULL, "cancel-requested",
                                        "cancel-declined"};
    struct fhir_error e;

    (void)state;
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        for (size_t k = 0; k < 3; k++) {
            char text[1536];
            const char *step = steps[k];
            snprintf(
                text, sizeof(text),
                "{\"referral_id\": \"b0e0a1e2c3d4e5f60718293a4b5c6d7e\", "
                "\"type\": \"referral\", \"case_id\": null, \"placer\": "
                "\"ura:00001234\", \"performer\": \"ura:87654321\", "
                "\"purpose\": \"prenataal-huisbezoek\", \"state\": \"%s\", "
                "\"state_at\": \"2026-12-05T09:12:44.120Z\", \"opened_at\": "
                "\"2026-12-05T09:12:40.031Z\", \"cancel_pending\": %s, "
                "\"reason\": %s, \"outcome\": %s, \"escalations\": 1, "
                "\"last_escalation\": \"2026-12-06T09:00:00Z\", "
                "\"overdue\": true, \"history\": [{\"at\": "
                "\"2026-12-05T09:12:44.120Z\", \"org_id\": "
                "\"ura:00001234\", \"to\": \"%s\", \"cancel_step\": "
                "%s%s%s}]}",
                states[i], k == 1 ? "true" : "false",
                k > 0 ? "\"consent-revoked\"" : "null",
                strcmp(states[i], "completed") == 0 ? "\"visit-done\"" : "null",
                states[i], step ? "\"" : "", step ? step : "null",
                step ? "\"" : "");
            json_object *ref = s_json(text);
            json_object *task = fhir_out_task(&s_jgz, ref, NULL), *out;
            assert_non_null(task);
            for (int who = 0; who < 2; who++) {
                out = (json_object *)1;
                if (fhir_in_task_update(who ? &s_practice : &s_jgz, ref, task,
                                        &out, &e) != KR_OK)
                    fail_msg("%s step %zu: %s %s", states[i], k, e.expression,
                             e.diagnostics);
                if (out != NULL)
                    fail_msg("%s step %zu: a change: %s", states[i], k,
                             json_object_to_json_string(out));
            }
            if (strcmp(states[i], "requested") == 0 && k == 0) {
                json_object *patch =
                    s_load("examples/fhir/task-accept-patch.json");
                assert_int_equal(fhir_json_patch_apply(task, patch, &e), KR_OK);
                assert_int_equal(
                    fhir_in_task_update(&s_jgz, ref, task, &out, &e), KR_OK);
                assert_non_null(out);
                s_valid(out);
                json_object_put(out);
                json_object_put(patch);
            }
            json_object_put(task);
            json_object_put(ref);
        }
    }
}

/* RFC 6902: what each operation does, and that a refused patch leaves
 * the document as it was. */
static void
test_json_patch(void **state)
{
    static const struct {
        const char *doc, *patch, *want;
        int status;
    } cases[] = {
        {"{\"foo\":\"bar\"}",
         "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":"
         "\"qux\"}]",
         "{\"foo\":\"bar\",\"baz\":\"qux\"}", 0},
        {"{\"foo\":[\"bar\",\"baz\"]}",
         "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
         "{\"foo\":[\"bar\",\"qux\",\"baz\"]}", 0},
        {"{\"foo\":[\"bar\"]}",
         "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\"]}]",
         "{\"foo\":[\"bar\",[\"abc\"]]}", 0},
        {"{\"foo\":[\"bar\",\"qux\",\"baz\"]}",
         "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
         "{\"foo\":[\"bar\",\"baz\"]}", 0},
        {"{\"baz\":\"qux\",\"foo\":\"bar\"}",
         "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
         "{\"baz\":\"boo\",\"foo\":\"bar\"}", 0},
        {"{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":"
         "\"grault\"}}",
         "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
         "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":"
         "\"fred\"}}",
         0},
        {"{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
         "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
         "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}", 0},
        {"{\"a\":{\"b\":1}}",
         "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"}]",
         "{\"a\":{\"b\":1},\"c\":{\"b\":1}}", 0},
        {"{\"a/b\":1,\"m~n\":2}",
         "[{\"op\":\"test\",\"path\":\"/a~1b\",\"value\":1},{\"op\":\"remove\","
         "\"path\":\"/m~0n\"}]",
         "{\"a/b\":1}", 0},
        {"{\"a\":null}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":null}]",
         "{\"a\":null}", 0},
        /* Refusals: the document stays as it was. */
        {"{\"baz\":\"qux\"}",
         "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"x\"},{\"op\":"
         "\"test\",\"path\":\"/baz\",\"value\":\"qux\"}]",
         NULL, 409},
        {"{\"foo\":\"bar\"}",
         "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1},{\"op\":\"add\","
         "\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
         NULL, 422},
        {"{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/01\",\"value\":2}]",
         NULL, 422},
        {"{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/2\",\"value\":2}]",
         NULL, 422},
        {"{\"foo\":[1]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]", NULL,
         422},
        {"{\"foo\":1}", "[{\"op\":\"remove\",\"path\":\"/bar\"}]", NULL, 422},
        {"{\"foo\":1}", "[{\"op\":\"remove\",\"path\":\"\"}]", NULL, 422},
        {"{\"foo\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[]}]",
         NULL, 422},
        {"{\"foo\":{\"a\":1}}",
         "[{\"op\":\"move\",\"from\":\"/foo\",\"path\":\"/foo/a/b\"}]", NULL,
         422},
        {"{\"foo\":1}", "[{\"op\":\"jump\",\"path\":\"/foo\"}]", NULL, 400},
        {"{\"foo\":1}", "[{\"op\":\"add\",\"path\":\"/foo\"}]", NULL, 400},
        {"{\"foo\":1}", "[{\"op\":\"add\",\"path\":\"foo\",\"value\":1}]", NULL,
         400},
        {"{\"foo\":1}", "[{\"op\":\"add\",\"path\":\"/~2\",\"value\":1}]", NULL,
         400},
        {"{\"foo\":1}", "{\"op\":\"add\"}", NULL, 400},
        {"{\"foo\":1}", "[3]", NULL, 400},
        {"{\"foo\":1}", "[{\"path\":\"/foo\"}]", NULL, 400},
    };
    struct fhir_error e;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_object *doc = s_json(cases[i].doc),
                    *patch = s_json(cases[i].patch);
        json_object *before = s_json(cases[i].doc);
        int rc = fhir_json_patch_apply(doc, patch, &e);
        if (cases[i].status == 0) {
            json_object *want = s_json(cases[i].want);
            if (rc != KR_OK || !json_object_equal(doc, want))
                fail_msg("case %zu: rc %d %s: %s", i, rc, e.diagnostics,
                         json_object_to_json_string(doc));
            json_object_put(want);
        } else {
            if (rc == KR_OK || e.status != cases[i].status)
                fail_msg("case %zu: rc %d status %d", i, rc, e.status);
            assert_true(json_object_equal(doc, before));
        }
        json_object_put(before);
        json_object_put(patch);
        json_object_put(doc);
    }
    /* Bounded: more operations than a Task change needs is refused. */
    json_object *doc = s_json("{\"a\":1}"), *many = json_object_new_array();
    for (int i = 0; i < 200; i++)
        json_object_array_add(
            many, s_json("{\"op\":\"test\",\"path\":\"/a\",\"value\":1}"));
    assert_int_equal(fhir_json_patch_apply(doc, many, &e), KR_EINVAL);
    assert_string_equal(e.code, "too-long");
    json_object_put(many);
    json_object_put(doc);
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
        cmocka_unit_test(test_task_update),
        cmocka_unit_test(test_task_refusals),
        cmocka_unit_test(test_task_as_shown),
        cmocka_unit_test(test_json_patch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
