/*
 * test_json_map_consent.c - krctl's JSON <-> protobuf mapping of the
 * consent messages: a grant and a revoke survive JSON -> LocalRequest
 * bytes -> JSON; their dates, their minimal forms and every kind of bad
 * input (refused with an error naming the field); a meldrecht send needs
 * its justification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_map.h"
#include "json_map_samples.h"
#include "util.h"
#include "kr.h"
#include "local.pb-c.h"
#include "store.pb-c.h"

static void
test_grant_round_trip(void **state)
{
    json_object *in = s_load(s_grant), *out;
    Kr__V1__LocalRequest *lr;
    Kr__V1__ConsentScope *sc;
    Kr__V1__Content *c;
    char err[256];

    (void)state;
    lr = s_through_bytes(in);
    assert_int_equal(lr->send->type, KR__V1__MESSAGE_TYPE__CONSENT_GRANT);
    assert_string_equal(lr->send->subject_bsn, "111222333");
    /* The scope travels as such; the node fills in its subject. */
    sc = lr->send->consent_scope;
    assert_non_null(sc);
    assert_int_equal(sc->consent_id.len, 16);
    assert_int_equal(sc->consent_id.data[0], 0xc0);
    assert_int_equal(sc->subject_pseudonym.len, 0);
    assert_string_equal(sc->purpose, "prenataal-huisbezoek");
    assert_int_equal(sc->data_category, KR__V1__DATA_CATEGORY__MEDISCH);
    assert_string_equal(sc->from_org, "ura:00001234");
    assert_int_equal(sc->from_category, 0);
    assert_string_equal(sc->to_org, "");
    assert_int_equal(sc->to_category, KR__V1__ORG_CATEGORY__JGZ);
    assert_int_equal(sc->valid_from_ms, 1795132800000ull);
    assert_int_equal(sc->valid_until_ms, 1826668799999ull);
    assert_int_equal(sc->grantor, KR__V1__GRANTOR__PARENT_WITH_AUTHORITY);
    assert_int_equal(sc->supersedes.len, 16);
    /* The evidence is the sealed content. */
    c = kr__v1__content__unpack(NULL, lr->send->content.len,
                                lr->send->content.data);
    assert_non_null(c);
    assert_int_equal(c->body_case, KR__V1__CONTENT__BODY_CONSENT_EVIDENCE);
    assert_string_equal(c->consent_evidence->given_by_name, "P. Voorbeeld");
    assert_string_equal(c->justification, "");
    kr__v1__content__free_unpacked(c, NULL);

    out = json_map_send_to_json(lr->send, err, sizeof(err));
    assert_non_null(out);
    if (!json_object_equal(in, out))
        fail_msg("round trip differs:\n%s\n%s",
                 json_object_to_json_string_ext(in, JSON_C_TO_STRING_PRETTY),
                 json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY));
    json_object_put(out);
    kr__v1__local_request__free_unpacked(lr, NULL);
    json_object_put(in);
}

/* Dates mean whole days: from the first millisecond of valid_from to the
 * last of valid_until. */
static void
test_grant_dates(void **state)
{
    json_object *in = s_load(s_grant);
    Kr__V1__LocalRequest *lr;
    uint64_t ms;

    (void)state;
    s_set(in, "consent_scope.valid_from", s_load("\"2026-11-20\""));
    s_set(in, "consent_scope.valid_until", s_load("\"2027-11-19\""));
    lr = s_through_bytes(in);
    assert_int_equal(lr->send->consent_scope->valid_from_ms, 1795132800000ull);
    assert_int_equal(lr->send->consent_scope->valid_until_ms, 1826668799999ull);
    kr__v1__local_request__free_unpacked(lr, NULL);
    json_object_put(in);

    /* A one-day consent: from and until the same date. */
    assert_int_equal(json_map_period_parse("2028-02-29", 0, &ms), KR_OK);
    assert_int_equal(ms, 1835395200000ull);
    assert_int_equal(json_map_period_parse("2028-02-29", 1, &ms), KR_OK);
    assert_int_equal(ms, 1835481599999ull);
    assert_int_equal(json_map_period_parse("2028-02-29T12:00:00Z", 1, &ms),
                     KR_OK);
    assert_int_equal(ms, 1835438400000ull);
    assert_int_equal(json_map_period_parse("2027-02-29", 0, &ms), KR_EINVAL);
    assert_int_equal(json_map_period_parse("1969-12-31", 0, &ms), KR_EINVAL);
    assert_int_equal(json_map_period_parse("2027-2-28", 0, &ms), KR_EINVAL);
    assert_int_equal(json_map_period_parse("", 0, &ms), KR_EINVAL);
}

/* What may be left out of a grant: the scope's consent_id (the node picks
 * one) and supersedes, and the evidence's details; the grantor self needs
 * no representation check. "type" is never implied by krctl send. */
static void
test_grant_minimal(void **state)
{
    static const char text[] =
        "{\"type\": \"consent-grant\", \"recipient\": \"ura:87654321\","
        " \"subject_bsn\": \"111222333\","
        " \"consent_scope\": {\"purpose\": \"prenataal-huisbezoek\","
        " \"data_category\": \"medisch\", \"from_category\": \"verloskunde\","
        " \"to_org\": \"ura:87654321\","
        " \"valid_from\": \"2026-11-20T00:00:00Z\","
        " \"valid_until\": \"2027-11-19T00:00:00Z\", \"grantor\": \"self\"},"
        " \"consent_evidence\": {\"given_on\": \"2026-11-20\","
        " \"given_by_name\": \"A. Voorbeeld\"}}";
    json_object *in = s_load(text), *out;
    Kr__V1__LocalRequest *lr;
    char err[256];

    (void)state;
    lr = s_through_bytes(in);
    assert_int_equal(lr->send->consent_scope->consent_id.len, 0);
    assert_int_equal(lr->send->consent_scope->from_category,
                     KR__V1__ORG_CATEGORY__VERLOSKUNDE);
    out = json_map_send_to_json(lr->send, err, sizeof(err));
    assert_non_null(out);
    assert_true(json_object_equal(in, out));
    json_object_put(out);
    kr__v1__local_request__free_unpacked(lr, NULL);
    json_object_put(in);
}

static const struct bad_case s_bad_grant[] = {
    /* Unknown keys and wrong types, at each level. */
    {"consent_scope.subject_bsn", "\"111222333\"",
     "consent_scope.subject_bsn: unknown key"},
    {"consent_evidence.signature", "\"x\"",
     "consent_evidence.signature: unknown key"},
    {"consent_scope", "[]", "consent_scope: wrong type: expected an object"},
    {"consent_evidence", "\"ja\"", "consent_evidence: wrong type"},
    {"consent_scope.valid_from", "1795132800000",
     "consent_scope.valid_from: wrong type: expected a string, got a number"},
    {"consent_scope.grantor", "true", "consent_scope.grantor: wrong type"},
    {"consent_evidence.given_by_name", "[\"A\"]",
     "consent_evidence.given_by_name: wrong type"},
    /* What a grant needs. */
    {"consent_scope", NULL, "consent_scope: missing (a consent-grant"},
    {"consent_evidence", NULL, "consent_evidence: missing"},
    {"subject_bsn", NULL, "subject_bsn: missing"},
    {"consent_scope.purpose", NULL, "consent_scope.purpose: missing"},
    {"consent_scope.data_category", NULL,
     "consent_scope.data_category: missing"},
    {"consent_scope.valid_from", NULL, "consent_scope.valid_from: missing"},
    {"consent_scope.valid_until", NULL, "consent_scope.valid_until: missing"},
    {"consent_scope.grantor", NULL, "consent_scope.grantor: missing"},
    {"consent_scope.from_org", NULL,
     "consent_scope.from_org: missing (or \"from_category\")"},
    {"consent_evidence.given_on", NULL, "consent_evidence.given_on: missing"},
    {"consent_evidence.given_by_name", NULL,
     "consent_evidence.given_by_name: missing"},
    {"consent_evidence.representation_checked", NULL,
     "consent_evidence.representation_checked: missing (grantor "
     "parent-with-authority needs it)"},
    /* Bad values. */
    {"consent_scope.consent_id", "\"c0115e47\"",
     "consent_scope.consent_id: not an id of 32 hex digits"},
    {"consent_scope.supersedes", "\"xyz\"",
     "consent_scope.supersedes: not an id"},
    {"consent_scope.supersedes", "\"c0115e4700000000000000000000a001\"",
     "consent_scope.supersedes: names the consent itself"},
    {"consent_scope.purpose", "\"Prenataal huisbezoek\"",
     "consent_scope.purpose: not a code"},
    {"consent_scope.data_category", "\"medical\"",
     "consent_scope.data_category: must be one of: medisch, sociaal"},
    {"consent_scope.from_org", "\"ura:abc\"",
     "consent_scope.from_org: not an organisation id"},
    {"consent_scope.from_category", "\"verloskunde\"",
     "consent_scope.from_category: not allowed together with \"from_org\""},
    {"consent_scope.to_category", "\"jeugdzorg\"",
     "consent_scope.to_category: must be one of: verloskunde"},
    {"consent_scope.grantor", "\"mother\"",
     "consent_scope.grantor: must be one of: self, parent-with-authority, "
     "guardian"},
    {"consent_scope.grantor", "\"unspecified\"",
     "consent_scope.grantor: must be one of"},
    {"consent_scope.valid_from", "\"20-11-2026\"",
     "consent_scope.valid_from: not an ISO 8601 UTC time"},
    {"consent_scope.valid_until", "\"2027-11-19T23:59:59+01:00\"",
     "consent_scope.valid_until: not an ISO 8601 UTC time"},
    {"consent_scope.valid_until", "\"2026-11-19\"",
     "consent_scope.valid_until: before valid_from"},
    {"consent_scope.valid_until", "\"2026-10-31\"",
     "consent_scope.valid_until: before valid_from"},
    {"consent_evidence.given_on", "\"2026-11-31\"",
     "consent_evidence.given_on: not a date (YYYY-MM-DD)"},
    {"consent_evidence.given_by_name", "\"\"",
     "consent_evidence.given_by_name: empty"},
    {"subject_bsn", "\"111222334\"", "subject_bsn: not a BSN"},
    /* The envelope may repeat the scope, not contradict it. */
    {"consent_id", "\"c0115e4700000000000000000000a002\"",
     "consent_scope.consent_id: differs from consent_id"},
    {"purpose", "\"overdracht-jgz\"",
     "purpose: differs from consent_scope.purpose"},
    {"data_category", "\"sociaal\"",
     "data_category: differs from consent_scope.data_category"},
    /* The evidence is the content; there is no other. */
    {"opaque", "\"x\"",
     "consent_evidence: not allowed together with \"referral\", "
     "\"referral_status\" or \"opaque\""},
    {"type", "\"referral\"",
     "consent_scope: only in a message of type consent-grant"},
};

static void
test_grant_bad_input(void **state)
{
    /* Never a BSN, and never the name of the one who consented. */
    static const char *const never[] = {"111222333", "111222334", "Voorbeeld",
                                        NULL};

    (void)state;
    s_refusals(s_grant, s_bad_grant,
               sizeof(s_bad_grant) / sizeof(s_bad_grant[0]), never);
}

/* A consent that has ended before it is recorded is a mistake. */
static void
test_grant_in_the_past(void **state)
{
    json_object *in = s_load(s_grant);
    uint8_t *req = NULL;
    size_t len = 0;
    char err[256] = "";

    (void)state;
    s_set(in, "consent_scope.valid_from", s_load("\"2025-01-01\""));
    s_set(in, "consent_scope.valid_until", s_load("\"2026-10-31\""));
    assert_int_equal(
        json_map_send_parse(in, NOW_MS, &req, &len, err, sizeof(err)),
        KR_EINVAL);
    assert_string_equal(err, "consent_scope.valid_until: lies in the past");
    json_object_put(in);
}

static void
test_revoke(void **state)
{
    static const char text[] =
        "{\"type\": \"consent-revoke\", \"recipient\": \"ura:87654321\","
        " \"consent_id\": \"c0115e4700000000000000000000a001\"}";
    json_object *in = s_load(text), *out;
    Kr__V1__LocalRequest *lr;
    Kr__V1__Content *c;
    uint8_t *req = NULL;
    size_t len = 0;
    char err[256] = "";

    (void)state;
    lr = s_through_bytes(in);
    assert_int_equal(lr->send->type, KR__V1__MESSAGE_TYPE__CONSENT_REVOKE);
    assert_int_equal(lr->send->consent_id.len, 16);
    /* No words needed, but never empty content: the node seals it. */
    assert_true(lr->send->content.len > 0);
    c = kr__v1__content__unpack(NULL, lr->send->content.len,
                                lr->send->content.data);
    assert_non_null(c);
    assert_int_equal(c->version, KR__V1__VERSION__VERSION_1);
    assert_int_equal(c->body_case, KR__V1__CONTENT__BODY__NOT_SET);
    kr__v1__content__free_unpacked(c, NULL);
    out = json_map_send_to_json(lr->send, err, sizeof(err));
    assert_non_null(out);
    assert_true(json_object_equal(in, out));
    json_object_put(out);
    kr__v1__local_request__free_unpacked(lr, NULL);

    s_set(in, "consent_id", NULL);
    assert_int_equal(
        json_map_send_parse(in, NOW_MS, &req, &len, err, sizeof(err)),
        KR_EINVAL);
    assert_string_equal(err, "consent_id: missing (a consent-revoke names "
                             "the consent)");
    json_object_put(in);
}

static void
test_meldrecht_justification(void **state)
{
    static const char text[] =
        "{\"type\": \"signal\", \"recipient\": \"ura:00009876\","
        " \"subject_bsn\": \"111222333\", \"purpose\": "
        "\"melding-veilig-thuis\","
        " \"data_category\": \"sociaal\", \"legal_basis\": \"meldrecht\","
        " \"justification\": \"Meldcode doorlopen: acuut onveilig.\","
        " \"opaque\": \"Waarnemingen, fictief.\"}";
    json_object *in = s_load(text), *out;
    Kr__V1__LocalRequest *lr;
    Kr__V1__Content *c;
    uint8_t *req = NULL;
    size_t len = 0;
    char err[256] = "";

    (void)state;
    lr = s_through_bytes(in);
    c = kr__v1__content__unpack(NULL, lr->send->content.len,
                                lr->send->content.data);
    assert_non_null(c);
    assert_string_equal(c->justification,
                        "Meldcode doorlopen: acuut onveilig.");
    assert_int_equal(c->body_case, KR__V1__CONTENT__BODY_OPAQUE);
    kr__v1__content__free_unpacked(c, NULL);
    out = json_map_send_to_json(lr->send, err, sizeof(err));
    assert_non_null(out);
    assert_true(json_object_equal(in, out));
    json_object_put(out);
    kr__v1__local_request__free_unpacked(lr, NULL);

    /* The justification alone is content enough. */
    s_set(in, "opaque", NULL);
    lr = s_through_bytes(in);
    assert_true(lr->send->content.len > 0);
    kr__v1__local_request__free_unpacked(lr, NULL);

    s_set(in, "justification", s_load("\"\""));
    assert_int_equal(
        json_map_send_parse(in, NOW_MS, &req, &len, err, sizeof(err)),
        KR_EINVAL);
    assert_string_equal(err, "justification: empty (meldrecht needs one)");
    s_set(in, "justification", NULL);
    assert_int_equal(
        json_map_send_parse(in, NOW_MS, &req, &len, err, sizeof(err)),
        KR_EINVAL);
    assert_string_equal(err, "justification: missing (meldrecht needs one)");
    json_object_put(in);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grant_round_trip),
        cmocka_unit_test(test_grant_dates),
        cmocka_unit_test(test_grant_minimal),
        cmocka_unit_test(test_grant_bad_input),
        cmocka_unit_test(test_grant_in_the_past),
        cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_meldrecht_justification),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
