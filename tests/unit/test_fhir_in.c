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
            fail_msg("cell %zu: the patch does not apply: %s %s", i,
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
        {S_P("replace", "/resourceType", S_V("\"Task\"")), 422, "not-supported",
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
        "[1, 2]",
        "\"111222333\"",
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_referral_bundle),
        cmocka_unit_test(test_referral_refusals),
        cmocka_unit_test(test_parse),
    };
    (void)s_jgz;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
