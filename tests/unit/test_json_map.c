/*
 * test_json_map.c - krctl's JSON <-> protobuf mapping: a full referral
 * description survives JSON -> LocalRequest bytes -> JSON unchanged, and
 * every kind of bad input is refused with an error naming the field (and
 * never quoting a BSN).
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
test_round_trip_full(void **state)
{
    json_object *in = s_load(s_full), *out;
    Kr__V1__LocalRequest *lr;
    char err[256];

    (void)state;
    lr = s_through_bytes(in);
    /* The envelope side: what the node turns into clear fields. */
    assert_int_equal(lr->version, KR__V1__VERSION__VERSION_1);
    assert_int_equal(lr->send->type, KR__V1__MESSAGE_TYPE__REFERRAL);
    assert_string_equal(lr->send->recipient, "ura:87654321");
    assert_string_equal(lr->send->subject_bsn, "111222333");
    assert_int_equal(lr->send->msg_id.len, 16);
    assert_int_equal(lr->send->consent_id.len, 16);
    assert_int_equal(lr->send->not_after_ms, 1798675200250ull);
    assert_int_equal(lr->send->priority, KR__V1__PRIORITY__URGENT);
    assert_true(lr->send->content.len > 0);

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

/* examples/handover.json: the birth-care-to-JGZ handover, through bytes
 * and back unchanged; a bad field is named. */
static void
test_round_trip_handover(void **state)
{
    char *text = NULL, err[256];
    size_t len;

    (void)state;
    assert_int_equal(util_read_file(KR_SOURCE_DIR "/examples/handover.json",
                                    1u << 20, &text, &len),
                     KR_OK);
    json_object *in = s_load(text), *out;
    Kr__V1__LocalRequest *lr = s_through_bytes(in);
    assert_int_equal(lr->send->type, KR__V1__MESSAGE_TYPE__HANDOVER);
    assert_string_equal(lr->send->subject_bsn, "111222333");
    out = json_map_send_to_json(lr->send, err, sizeof(err));
    assert_non_null(out);
    if (!json_object_equal(in, out))
        fail_msg("round trip differs:\n%s\n%s",
                 json_object_to_json_string_ext(in, JSON_C_TO_STRING_PRETTY),
                 json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY));
    json_object_put(out);
    kr__v1__local_request__free_unpacked(lr, NULL);
    /* A birth time that is no time, an Apgar of 11. */
    json_object *h = json_object_object_get(in, "handover");
    json_object_object_add(h, "birth_datetime",
                           json_object_new_string("2027-02-10 04:32"));
    uint8_t *req = NULL;
    assert_int_not_equal(
        json_map_send_parse(in, NOW_MS, &req, &len, err, sizeof(err)), KR_OK);
    assert_non_null(strstr(err, "handover.birth_datetime"));
    json_object_object_add(h, "birth_datetime",
                           json_object_new_string("2027-02-10T04:32"));
    json_object_object_add(h, "apgar_5", json_object_new_int(11));
    assert_int_not_equal(
        json_map_send_parse(in, NOW_MS, &req, &len, err, sizeof(err)), KR_OK);
    assert_non_null(strstr(err, "handover.apgar_5"));
    json_object_put(in);
    free(text);
}

/* A description with only what a referral needs: the defaults are filled
 * in (type), and nothing appears that was not given. */
static void
test_round_trip_minimal(void **state)
{
    static const char text[] =
        "{\"recipient\": \"agb:12345678\", \"purpose\": \"overdracht-jgz\","
        " \"data_category\": \"sociaal\", \"legal_basis\": \"meldrecht\","
        " \"justification\": \"Meldcode doorlopen; zie dossier.\","
        " \"referral\": {\"mother\": {\"bsn\": \"111222333\"}}}";
    json_object *in = s_load(text), *out, *t;
    Kr__V1__LocalRequest *lr;
    char err[256];

    (void)state;
    lr = s_through_bytes(in);
    out = json_map_send_to_json(lr->send, err, sizeof(err));
    assert_non_null(out);
    assert_true(json_object_object_get_ex(out, "type", &t));
    assert_string_equal(json_object_get_string(t), "referral");
    json_object_object_del(out, "type");
    assert_true(json_object_equal(in, out));
    json_object_put(out);
    kr__v1__local_request__free_unpacked(lr, NULL);
    json_object_put(in);
}

/* Another message type, with opaque text and its own subject. */
static void
test_round_trip_opaque(void **state)
{
    static const char text[] =
        "{\"type\": \"communication\", \"recipient\": \"oin:"
        "00000001234567890000\", \"subject_bsn\": \"111222333\","
        " \"in_reply_to\": \"ffeeddccbbaa99887766554433221100\","
        " \"opaque\": \"Is het huisbezoek gepland? \\u00e9\\u00e9n vraag\"}";
    json_object *in = s_load(text), *out;
    Kr__V1__LocalRequest *lr;
    char err[256];

    (void)state;
    lr = s_through_bytes(in);
    assert_string_equal(lr->send->subject_bsn, "111222333");
    out = json_map_send_to_json(lr->send, err, sizeof(err));
    assert_non_null(out);
    assert_true(json_object_equal(in, out));
    json_object_put(out);
    kr__v1__local_request__free_unpacked(lr, NULL);
    json_object_put(in);
}

static const struct bad_case s_bad[] = {
    /* Unknown keys, at each level. */
    {"colour", "\"blue\"", "colour: unknown key"},
    {"referral.nickname", "\"x\"", "referral.nickname: unknown key"},
    {"referral.mother.fone", "\"06\"", "referral.mother.fone: unknown key"},
    {"referral.mother.address.country", "\"NL\"",
     "referral.mother.address.country: unknown key"},
    {"referral.referrer.big", "\"x\"", "referral.referrer.big: unknown key"},
    /* Wrong types. */
    {"priority", "1", "priority: wrong type: expected a string, got a number"},
    {"recipient", "[\"ura:1\"]", "recipient: wrong type"},
    {"referral", "\"text\"", "referral: wrong type: expected an object"},
    {"referral.mother.birth_date", "19940312",
     "referral.mother.birth_date: wrong type"},
    {"referral.mother.address", "\"Proefstraat 12\"",
     "referral.mother.address: wrong type"},
    {"referral.reason_codes", "\"psychosociaal\"",
     "referral.reason_codes: wrong type: expected an array"},
    {"referral.reason_codes", "[\"a\", 2]",
     "referral.reason_codes[1]: wrong type: expected a string"},
    {"referral.mother.bsn", "111222333", "referral.mother.bsn: wrong type"},
    /* Bad hex ids. */
    {"msg_id", "\"xyz\"", "msg_id: not an id of 32 hex digits"},
    {"referral_id", "\"0123456789abcdef0123456789abcde\"",
     "referral_id: not an id"},
    {"case_id", "\"fedcba9876543210fedcba987654321g\"", "case_id: not an id"},
    {"in_reply_to", "\"\"", "in_reply_to: not an id"},
    {"consent_id", "\"abc\"", "consent_id: not an id of 32 hex digits"},
    {"consent_id", "\"c0115e47a001\"", "consent_id: not an id"},
    /* Consent and meldrecht fields where they do not belong. */
    {"consent_scope", "{}",
     "consent_scope: only in a message of type consent-grant"},
    {"consent_evidence", "{}",
     "consent_evidence: only in a message of type consent-grant"},
    {"justification", "\"omdat\"",
     "justification: only with legal_basis meldrecht"},
    {"justification", "1", "justification: wrong type"},
    /* Bad codes. */
    {"data_category", "\"medish\"",
     "data_category: must be one of: medisch, "
     "sociaal"},
    {"data_category", "\"unspecified\"", "data_category: must be one of"},
    {"legal_basis", "\"toestemming\"", "legal_basis: must be one of"},
    {"priority", "\"high\"", "priority: must be one of: routine, urgent"},
    {"type", "\"REFERRAL\"", "type: must be one of"},
    {"referral.urgency", "\"asap\"", "referral.urgency: must be one of"},
    {"purpose", "\"Prenataal huisbezoek\"", "purpose: not a code"},
    {"recipient", "\"ura:abc\"", "recipient: not an organisation id"},
    {"recipient", "\"ura:123456789\"", "recipient: not an organisation id"},
    /* Bad times and dates. */
    {"not_after", "\"2026-12-31\"", "not_after: not an ISO 8601 UTC time"},
    {"not_after", "\"2026-12-31 00:00:00Z\"", "not_after: not an ISO 8601"},
    {"not_after", "\"2026-12-31T00:00:00\"", "not_after: not an ISO 8601"},
    {"not_after", "\"2026-12-31T00:00:00+01:00\"",
     "not_after: not an ISO 8601"},
    {"not_after", "\"2027-02-29T00:00:00Z\"", "not_after: not an ISO 8601"},
    {"not_after", "\"2026-12-31T24:00:00Z\"", "not_after: not an ISO 8601"},
    {"not_after", "\"2026-12-31T00:00:00.1234Z\"",
     "not_after: not an ISO 8601"},
    {"not_after", "\"2026-01-01T00:00:00Z\"", "not_after: lies in the past"},
    {"referral.mother.birth_date", "\"1994-13-01\"",
     "referral.mother.birth_date: not a date (YYYY-MM-DD)"},
    {"referral.expected_delivery_date", "\"14-02-2027\"",
     "referral.expected_delivery_date: not a date"},
    /* Person data checks. */
    {"referral.mother.bsn", "\"111222334\"",
     "referral.mother.bsn: not a BSN (9 digits that pass the eleven-test)"},
    {"referral.mother.bsn", "\"000000000\"", "referral.mother.bsn: not a BSN"},
    {"referral.mother.bsn", NULL, "referral.mother.bsn: missing"},
    {"subject_bsn", "\"123456782\"",
     "subject_bsn: differs from referral.mother.bsn"},
    {"referral.referrer.agb", "\"1234\"", "referral.referrer.agb: not an AGB"},
    {"referral.referrer.email", "\"geen adres\"",
     "referral.referrer.email: not an e-mail address"},
    {"referral.mother.given_name", "\"An\\u0000na\"",
     "referral.mother.given_name: contains a NUL character"},
    /* What a referral needs. */
    {"recipient", NULL, "recipient: missing"},
    {"referral", NULL, "referral: missing"},
    {"purpose", NULL, "purpose: missing"},
    {"data_category", NULL, "data_category: missing"},
    {"legal_basis", NULL, "legal_basis: missing"},
    {"opaque", "\"x\"", "opaque: not allowed together with \"referral\""},
};

static void
test_bad_input_names_the_field(void **state)
{
    /* Errors end up on terminals and in logs: never a BSN in them. */
    static const char *const never[] = {"111222333", "111222334", "123456782",
                                        NULL};

    (void)state;
    s_refusals(s_full, s_bad, sizeof(s_bad) / sizeof(s_bad[0]), never);
}

static void
test_top_level_must_be_object(void **state)
{
    json_object *in = s_load("[1, 2]");
    uint8_t *req = NULL;
    size_t len = 0;
    char err[256];

    (void)state;
    assert_int_equal(
        json_map_send_parse(in, NOW_MS, &req, &len, err, sizeof(err)),
        KR_EINVAL);
    assert_string_equal(err,
                        "(top level): wrong type: expected an object, got an "
                        "array");
    json_object_put(in);
}

static void
test_parse_text_is_strict(void **state)
{
    json_object *j = NULL;
    char err[256];
    static const char two[] = "{\"a\": 1}\n{\"b\": 2}";
    static const char comma[] = "{\"a\": 1,\n \"b\": 2,\n}";
    static const char cut[] = "{\"a\": ";
    static const char ws[] = "  {\"a\": [1, 2]}  \n\n";

    (void)state;
    assert_int_equal(
        json_map_parse_text(two, strlen(two), &j, err, sizeof(err)), KR_EINVAL);
    assert_null(j);
    assert_non_null(strstr(err, "line 2"));
    assert_int_equal(
        json_map_parse_text(comma, strlen(comma), &j, err, sizeof(err)),
        KR_EINVAL);
    assert_non_null(strstr(err, "line 3"));
    assert_int_equal(
        json_map_parse_text(cut, strlen(cut), &j, err, sizeof(err)), KR_EINVAL);
    assert_non_null(strstr(err, "unexpected end of input"));
    assert_int_equal(json_map_parse_text("\"\xff\"", 3, &j, err, sizeof(err)),
                     KR_EINVAL);
    assert_int_equal(json_map_parse_text(ws, strlen(ws), &j, err, sizeof(err)),
                     KR_OK);
    json_object_put(j);
}

/* json-c 0.16 takes 'single-quoted' strings even in strict mode: refused,
 * at the quote mark, and only outside strings. */
static void
test_parse_text_single_quotes(void **state)
{
    json_object *j = NULL;
    char err[256];
    static const char one[] = "{'a': 1}";
    static const char later[] = "{\"a\": 1,\n \"b\": 'two'}";
    static const char after[] = "{\"a\": 1} 'x'";
    static const char earlier[] = "{\"a\": 1,, 'b': 2}";
    static const char inside[] = "{\"it's\": \"don't \\\" isn't\"}";

    (void)state;
    assert_int_equal(
        json_map_parse_text(one, strlen(one), &j, err, sizeof(err)), KR_EINVAL);
    assert_null(j);
    assert_non_null(strstr(err, "line 1, column 2: single-quoted string"));
    assert_int_equal(
        json_map_parse_text(later, strlen(later), &j, err, sizeof(err)),
        KR_EINVAL);
    assert_null(j);
    assert_non_null(strstr(err, "line 2, column 7: single-quoted string"));
    assert_int_equal(
        json_map_parse_text(after, strlen(after), &j, err, sizeof(err)),
        KR_EINVAL);
    assert_non_null(strstr(err, "line 1, column 10: single-quoted string"));
    /* The first mistake is the one named. */
    assert_int_equal(
        json_map_parse_text(earlier, strlen(earlier), &j, err, sizeof(err)),
        KR_EINVAL);
    assert_null(strstr(err, "single-quoted"));
    assert_non_null(strstr(err, "line 1, column 9"));
    /* Quote marks inside strings, after an escaped double quote too. */
    assert_int_equal(
        json_map_parse_text(inside, strlen(inside), &j, err, sizeof(err)),
        KR_OK);
    assert_string_equal(
        json_object_get_string(json_object_object_get(j, "it's")),
        "don't \" isn't");
    json_object_put(j);
}

static void
test_times(void **state)
{
    static const struct {
        const char *text;
        uint64_t ms;
    } good[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2000-03-01T12:34:56Z", 951914096000ull},
        {"2026-12-31T00:00:00Z", 1798675200000ull},
        {"2028-02-29T23:59:59Z", 1835481599000ull},
        {"2028-02-29T23:59:59.5Z", 1835481599500ull},
        {"2028-02-29T23:59:59.007Z", 1835481599007ull},
    };
    static const char *const bad[] = {
        "",
        "2026-12-31T00:00Z",
        "2026-12-31T00:00:60Z",
        "1969-12-31T23:59:59Z",
        "2100-02-29T00:00:00Z",
        "2026-12-31T00:00:00.Z",
        "2026-12-31t00:00:00z",
        "2026-12-31T00:00:00Z ",
        "+2026-12-31T00:00:00Z",
    };
    char t[JSON_MAP_TIME_LEN];
    uint64_t ms;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(json_map_time_parse(good[i].text, &ms), KR_OK);
        assert_int_equal(ms, good[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (json_map_time_parse(bad[i], &ms) == KR_OK)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(json_map_time_format(1798675200000ull, t), KR_OK);
    assert_string_equal(t, "2026-12-31T00:00:00Z");
    assert_int_equal(json_map_time_format(1835481599007ull, t), KR_OK);
    assert_string_equal(t, "2028-02-29T23:59:59.007Z");
    assert_int_equal(json_map_time_format(253402300799999ull, t), KR_OK);
    assert_string_equal(t, "9999-12-31T23:59:59.999Z");
    assert_int_equal(json_map_time_format(253402300800000ull, t), KR_EINVAL);

    assert_true(json_map_date_valid("2028-02-29"));
    assert_false(json_map_date_valid("2027-02-29"));
    assert_false(json_map_date_valid("2027-2-28"));
    assert_false(json_map_date_valid("2027-02-28x"));
    assert_false(json_map_date_valid("1899-12-31"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_full),
        cmocka_unit_test(test_round_trip_handover),
        cmocka_unit_test(test_round_trip_minimal),
        cmocka_unit_test(test_round_trip_opaque),
        cmocka_unit_test(test_bad_input_names_the_field),
        cmocka_unit_test(test_top_level_must_be_object),
        cmocka_unit_test(test_parse_text_is_strict),
        cmocka_unit_test(test_parse_text_single_quotes),
        cmocka_unit_test(test_times),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
