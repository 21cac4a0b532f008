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
#include "util.h"
#include "kr.h"
#include "local.pb-c.h"
#include "store.pb-c.h"

/* 2026-11-01T00:00:00Z: "now" for every parse, before the not_after of the
 * descriptions below. */
#define NOW_MS 1793491200000ull

static const char s_full[] =
    "{\n"
    "  \"type\": \"referral\",\n"
    "  \"recipient\": \"ura:87654321\",\n"
    "  \"msg_id\": \"00112233445566778899aabbccddeeff\",\n"
    "  \"referral_id\": \"0123456789abcdef0123456789abcdef\",\n"
    "  \"case_id\": \"fedcba9876543210fedcba9876543210\",\n"
    "  \"in_reply_to\": \"ffeeddccbbaa99887766554433221100\",\n"
    "  \"purpose\": \"prenataal-huisbezoek\",\n"
    "  \"data_category\": \"medisch\",\n"
    "  \"legal_basis\": \"consent\",\n"
    "  \"consent_id\": \"c0115e4700000000000000000000a001\",\n"
    "  \"priority\": \"urgent\",\n"
    "  \"not_after\": \"2026-12-31T00:00:00.250Z\",\n"
    "  \"actor_ref\": \"vlk-medewerker-0042\",\n"
    "  \"referral\": {\n"
    "    \"mother\": {\n"
    "      \"bsn\": \"111222333\",\n"
    "      \"given_name\": \"Anna\",\n"
    "      \"family_name\": \"Voorbeeld\",\n"
    "      \"birth_date\": \"1994-03-12\",\n"
    "      \"address\": {\"street\": \"Proefstraat\", \"house_number\": "
    "\"12a\",\n"
    "                  \"postal_code\": \"1234 AB\", \"city\": "
    "\"Teststad\"},\n"
    "      \"phone\": \"06-12345678\"\n"
    "    },\n"
    "    \"expected_delivery_date\": \"2027-02-14\",\n"
    "    \"reason_codes\": [\"psychosociaal\", \"financiele-zorgen\"],\n"
    "    \"reason_text\": \"Fictief voorbeeld: cli\\u00ebnte, \\\"quotes\\\" "
    "en / slashes.\",\n"
    "    \"requested_service\": \"prenataal-huisbezoek\",\n"
    "    \"urgency\": \"urgent\",\n"
    "    \"referrer\": {\"name\": \"J. de Proef\", \"role\": "
    "\"verloskundige\",\n"
    "                 \"phone\": \"020-1234567\",\n"
    "                 \"email\": \"j.deproef@praktijk.example\",\n"
    "                 \"agb\": \"01234567\"}\n"
    "  }\n"
    "}\n";

static json_object *
s_load(const char *text)
{
    json_object *j = NULL;
    char err[256];

    if (json_map_parse_text(text, strlen(text), &j, err, sizeof(err)) != KR_OK)
        fail_msg("%s: %s", text, err);
    assert_non_null(j);
    return j;
}

/* Parse, pack, unpack: the request exactly as a node would read it. The
 * caller frees it with kr__v1__local_request__free_unpacked(). */
static Kr__V1__LocalRequest *
s_through_bytes(json_object *in)
{
    Kr__V1__LocalRequest *lr;
    uint8_t *req = NULL;
    size_t len = 0;
    char err[256] = "";
    int rc;

    rc = json_map_send_parse(in, NOW_MS, &req, &len, err, sizeof(err));
    if (rc != KR_OK)
        fail_msg("unexpected parse error: %s", err);
    lr = kr__v1__local_request__unpack(NULL, len, req);
    free(req);
    assert_non_null(lr);
    assert_int_equal(lr->op_case, KR__V1__LOCAL_REQUEST__OP_SEND);
    assert_non_null(lr->send);
    return lr;
}

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

/* Set (val != NULL) or delete the key at a dotted path of 'root'. */
static void
s_set(json_object *root, const char *path, json_object *val)
{
    char buf[256], *p, *dot;
    json_object *o = root, *next;

    snprintf(buf, sizeof(buf), "%s", path);
    for (p = buf; (dot = strchr(p, '.')) != NULL; p = dot + 1) {
        *dot = '\0';
        assert_true(json_object_object_get_ex(o, p, &next));
        o = next;
    }
    if (val == NULL)
        json_object_object_del(o, p);
    else
        json_object_object_add(o, p, val);
}

struct bad_case {
    const char *path;   /* what to change in s_full */
    const char *json;   /* its new value as JSON text; NULL: delete it */
    const char *expect; /* the start of the error message */
};

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
    (void)state;
    for (size_t i = 0; i < sizeof(s_bad) / sizeof(s_bad[0]); i++) {
        const struct bad_case *c = &s_bad[i];
        json_object *in = s_load(s_full);
        uint8_t *req = (uint8_t *)"sentinel";
        size_t len = 1;
        char err[256] = "";
        int rc;

        s_set(in, c->path, c->json != NULL ? s_load(c->json) : NULL);
        rc = json_map_send_parse(in, NOW_MS, &req, &len, err, sizeof(err));
        if (rc != KR_EINVAL)
            fail_msg("case %zu (%s): accepted", i, c->path);
        assert_null(req);
        assert_int_equal(len, 0);
        if (strncmp(err, c->expect, strlen(c->expect)) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s...\"", i, err, c->expect);
        /* Errors end up on terminals and in logs: never a BSN in them. */
        assert_null(strstr(err, "111222333"));
        assert_null(strstr(err, "111222334"));
        assert_null(strstr(err, "123456782"));
        json_object_put(in);
    }
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

static void
test_inbox_item(void **state)
{
    json_object *in = s_load(s_full), *o, *v, *ref;
    Kr__V1__LocalRequest *lr;
    Kr__V1__InboxItem it = KR__V1__INBOX_ITEM__INIT;
    uint8_t id[16], pseud[32];
    int ok = -1;

    (void)state;
    lr = s_through_bytes(in);
    memset(id, 0xab, sizeof(id));
    memset(pseud, 0x5c, sizeof(pseud));
    it.msg_id = (ProtobufCBinaryData){16, id};
    it.sender = "ura:12345678";
    it.type = KR__V1__MESSAGE_TYPE__REFERRAL;
    it.subject_pseudonym = (ProtobufCBinaryData){32, pseud};
    it.purpose = "prenataal-huisbezoek";
    it.created_at_ms = 1798675200000ull;
    it.received_at_ms = 1798675200123ull;
    it.seq = 7;
    it.priority = KR__V1__PRIORITY__ROUTINE;
    it.content = lr->send->content;

    o = json_map_inbox_item(&it, &ok);
    assert_int_equal(ok, 1);
    assert_true(json_object_object_get_ex(o, "msg_id", &v));
    assert_string_equal(json_object_get_string(v),
                        "abababababababababababababababab");
    assert_true(json_object_object_get_ex(o, "seq", &v));
    assert_int_equal(json_object_get_uint64(v), 7);
    assert_true(json_object_object_get_ex(o, "type", &v));
    assert_string_equal(json_object_get_string(v), "referral");
    assert_true(json_object_object_get_ex(o, "received_at", &v));
    assert_string_equal(json_object_get_string(v), "2026-12-31T00:00:00.123Z");
    /* Absent fields are present as null: one stable shape. */
    assert_true(json_object_object_get_ex(o, "referral_id", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(o, "legal_basis", &v));
    assert_null(v);
    /* The content is the opened referral, as the sender described it. */
    assert_true(json_object_object_get_ex(o, "content", &v));
    assert_true(json_object_object_get_ex(v, "referral", &ref));
    {
        json_object *want;
        json_object_object_get_ex(in, "referral", &want);
        assert_true(json_object_equal(ref, want));
    }
    json_object_put(o);

    /* Content that is not a kr.v1.Content is reported, not hidden. */
    it.content = (ProtobufCBinaryData){3, (uint8_t *)"\xff\xff\xff"};
    o = json_map_inbox_item(&it, &ok);
    assert_int_equal(ok, 0);
    assert_true(json_object_object_get_ex(o, "content", &v));
    assert_null(v);
    json_object_put(o);

    kr__v1__local_request__free_unpacked(lr, NULL);
    json_object_put(in);
}

static void
test_outbox_item(void **state)
{
    Kr__V1__OutboxItem it = KR__V1__OUTBOX_ITEM__INIT;
    uint8_t id[16] = {0};
    json_object *o, *v;

    (void)state;
    it.msg_id = (ProtobufCBinaryData){16, id};
    it.recipient = "ura:87654321";
    it.type = KR__V1__MESSAGE_TYPE__REFERRAL;
    o = json_map_outbox_item(&it);
    assert_true(json_object_object_get_ex(o, "outcome", &v));
    assert_string_equal(json_object_get_string(v), "pending");
    assert_true(json_object_object_get_ex(o, "reason", &v));
    assert_null(v);
    json_object_put(o);

    it.outcome = KR__V1__OUTCOME__REFUSED;
    it.reason = KR__V1__REASON__BAD_SIGNATURE;
    it.detail = "signature does not verify";
    it.final_at_ms = 1798675200000ull;
    o = json_map_outbox_item(&it);
    assert_true(json_object_object_get_ex(o, "outcome", &v));
    assert_string_equal(json_object_get_string(v), "refused");
    assert_true(json_object_object_get_ex(o, "reason", &v));
    assert_string_equal(json_object_get_string(v), "bad-signature");
    assert_true(json_object_object_get_ex(o, "final_at", &v));
    assert_string_equal(json_object_get_string(v), "2026-12-31T00:00:00Z");
    json_object_put(o);
}

/*
 * Consent grants, revocations and the meldrecht
 */

static const char s_grant[] =
    "{\n"
    "  \"type\": \"consent-grant\",\n"
    "  \"recipient\": \"ura:87654321\",\n"
    "  \"msg_id\": \"00112233445566778899aabbccddeeff\",\n"
    "  \"subject_bsn\": \"111222333\",\n"
    "  \"actor_ref\": \"vlk-medewerker-0042\",\n"
    "  \"consent_scope\": {\n"
    "    \"consent_id\": \"c0115e4700000000000000000000a001\",\n"
    "    \"purpose\": \"prenataal-huisbezoek\",\n"
    "    \"data_category\": \"medisch\",\n"
    "    \"from_org\": \"ura:00001234\",\n"
    "    \"to_category\": \"jgz\",\n"
    "    \"valid_from\": \"2026-11-20T00:00:00Z\",\n"
    "    \"valid_until\": \"2027-11-19T23:59:59.999Z\",\n"
    "    \"grantor\": \"parent-with-authority\",\n"
    "    \"supersedes\": \"c0115e4700000000000000000000a000\"\n"
    "  },\n"
    "  \"consent_evidence\": {\n"
    "    \"given_on\": \"2026-11-20\",\n"
    "    \"given_by_name\": \"P. Voorbeeld\",\n"
    "    \"given_by_role\": \"ouder met gezag\",\n"
    "    \"representation_checked\": \"gezagsregister geraadpleegd\",\n"
    "    \"form_reference\": \"TF-2026-0815\",\n"
    "    \"recorded_by\": \"J. de Proef, verloskundige\",\n"
    "    \"notes\": \"Fictief voorbeeld.\"\n"
    "  }\n"
    "}\n";

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
    (void)state;
    for (size_t i = 0; i < sizeof(s_bad_grant) / sizeof(s_bad_grant[0]); i++) {
        const struct bad_case *c = &s_bad_grant[i];
        json_object *in = s_load(s_grant);
        uint8_t *req = (uint8_t *)"sentinel";
        size_t len = 1;
        char err[256] = "";
        int rc;

        s_set(in, c->path, c->json != NULL ? s_load(c->json) : NULL);
        rc = json_map_send_parse(in, NOW_MS, &req, &len, err, sizeof(err));
        if (rc != KR_EINVAL)
            fail_msg("case %zu (%s): accepted", i, c->path);
        assert_null(req);
        assert_int_equal(len, 0);
        if (strncmp(err, c->expect, strlen(c->expect)) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s...\"", i, err, c->expect);
        /* Never a BSN, and never the name of the one who consented. */
        assert_null(strstr(err, "111222333"));
        assert_null(strstr(err, "111222334"));
        assert_null(strstr(err, "Voorbeeld"));
        json_object_put(in);
    }
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

/* A grant as a recipient's inbox shows it, and a notice from the broker. */
static void
test_inbox_consent_and_notice(void **state)
{
    json_object *in = s_load(s_grant), *o, *v, *n, *w;
    Kr__V1__LocalRequest *lr;
    Kr__V1__InboxItem it = KR__V1__INBOX_ITEM__INIT;
    Kr__V1__Notice nt = KR__V1__NOTICE__INIT;
    uint8_t id[16], cid[16], m1[16], m2[16];
    ProtobufCBinaryData ids[2];
    int ok = -1;

    (void)state;
    lr = s_through_bytes(in);
    memset(id, 0xab, sizeof(id));
    memset(cid, 0xc0, sizeof(cid));
    it.msg_id = (ProtobufCBinaryData){16, id};
    it.sender = "ura:00001234";
    it.type = KR__V1__MESSAGE_TYPE__CONSENT_GRANT;
    it.consent_id = (ProtobufCBinaryData){16, cid};
    it.content = lr->send->content;
    o = json_map_inbox_item(&it, &ok);
    assert_int_equal(ok, 1);
    assert_true(json_object_object_get_ex(o, "consent_id", &v));
    assert_string_equal(json_object_get_string(v),
                        "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0");
    assert_true(json_object_object_get_ex(o, "notice", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(o, "content", &v));
    assert_true(json_object_object_get_ex(v, "consent_evidence", &v));
    json_object_object_get_ex(in, "consent_evidence", &w);
    assert_true(json_object_equal(v, w));
    json_object_put(o);

    /* A notice: no sender, no content, the revoked consent and the
     * messages received under it. */
    memset(m1, 0x11, sizeof(m1));
    memset(m2, 0x22, sizeof(m2));
    ids[0] = (ProtobufCBinaryData){16, m1};
    ids[1] = (ProtobufCBinaryData){16, m2};
    nt.seq = 9;
    nt.notice_id = (ProtobufCBinaryData){16, id};
    nt.kind = KR__V1__NOTICE_KIND__NOTICE_CONSENT_REVOKED;
    nt.consent_id = (ProtobufCBinaryData){16, cid};
    nt.msg_ids = ids;
    nt.n_msg_ids = 2;
    nt.at_ms = 1798675200000ull;
    nt.revoked_by = "ura:00001234";
    kr__v1__inbox_item__init(&it);
    it.msg_id = nt.notice_id;
    it.type = KR__V1__MESSAGE_TYPE__CONSENT_REVOKE;
    it.consent_id = nt.consent_id;
    it.notice = &nt;
    o = json_map_inbox_item(&it, &ok);
    assert_int_equal(ok, 1);
    assert_true(json_object_object_get_ex(o, "sender", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(o, "type", &v));
    assert_string_equal(json_object_get_string(v), "consent-revoke");
    assert_true(json_object_object_get_ex(o, "content", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(o, "notice", &n));
    assert_true(json_object_object_get_ex(n, "kind", &v));
    assert_string_equal(json_object_get_string(v), "consent-revoked");
    assert_true(json_object_object_get_ex(n, "consent_id", &v));
    assert_string_equal(json_object_get_string(v),
                        "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0");
    assert_true(json_object_object_get_ex(n, "msg_ids", &v));
    assert_int_equal(json_object_array_length(v), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)),
                        "22222222222222222222222222222222");
    assert_true(json_object_object_get_ex(n, "revoked_by", &v));
    assert_string_equal(json_object_get_string(v), "ura:00001234");
    assert_true(json_object_object_get_ex(n, "at", &v));
    assert_string_equal(json_object_get_string(v), "2026-12-31T00:00:00Z");
    assert_false(json_object_object_get_ex(n, "timer", &v));
    json_object_put(o);

    /* A referral's escalation: its id, timer, step, state and lateness. */
    kr__v1__notice__init(&nt);
    nt.notice_id = (ProtobufCBinaryData){16, id};
    nt.kind = KR__V1__NOTICE_KIND__NOTICE_ESCALATION;
    nt.referral_id = (ProtobufCBinaryData){16, m1};
    nt.timer = "decide";
    nt.step = 2;
    nt.state = KR__V1__TASK_STATUS__TASK_RECEIVED;
    nt.due_at_ms = 1798675200000ull;
    nt.overdue_ms = 1500;
    nt.at_ms = 1798675201500ull;
    it.notice = &nt;
    o = json_map_inbox_item(&it, &ok);
    assert_true(json_object_object_get_ex(o, "notice", &n));
    assert_true(json_object_object_get_ex(n, "kind", &v));
    assert_string_equal(json_object_get_string(v), "escalation");
    assert_true(json_object_object_get_ex(n, "referral_id", &v));
    assert_string_equal(json_object_get_string(v),
                        "11111111111111111111111111111111");
    assert_true(json_object_object_get_ex(n, "timer", &v));
    assert_string_equal(json_object_get_string(v), "decide");
    assert_true(json_object_object_get_ex(n, "step", &v));
    assert_int_equal(json_object_get_int(v), 2);
    assert_true(json_object_object_get_ex(n, "state", &v));
    assert_string_equal(json_object_get_string(v), "received");
    assert_true(json_object_object_get_ex(n, "due", &v));
    assert_string_equal(json_object_get_string(v), "2026-12-31T00:00:00Z");
    assert_true(json_object_object_get_ex(n, "overdue_ms", &v));
    assert_int_equal(json_object_get_int(v), 1500);
    assert_true(json_object_object_get_ex(n, "reason", &v));
    assert_null(v);
    json_object_put(o);

    kr__v1__local_request__free_unpacked(lr, NULL);
    json_object_put(in);
}

static void
s_expect_str(json_object *o, const char *key, const char *want)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v))
        fail_msg("no key %s", key);
    if (want == NULL) {
        if (v != NULL)
            fail_msg("%s: want null, got %s", key, json_object_get_string(v));
        return;
    }
    if (v == NULL)
        fail_msg("%s: want \"%s\", got null", key, want);
    assert_string_equal(json_object_get_string(v), want);
}

static void
test_consent_record(void **state)
{
    Kr__V1__ConsentRecord r = KR__V1__CONSENT_RECORD__INIT;
    Kr__V1__ConsentScope sc = KR__V1__CONSENT_SCOPE__INIT;
    uint8_t cid[16], subj[32], next[16], gm[16];
    json_object *o, *v;

    (void)state;
    memset(cid, 0xc0, sizeof(cid));
    memset(subj, 0x5c, sizeof(subj));
    memset(next, 0xc1, sizeof(next));
    memset(gm, 0x01, sizeof(gm));
    sc.consent_id = (ProtobufCBinaryData){16, cid};
    sc.subject_pseudonym = (ProtobufCBinaryData){32, subj};
    sc.subject_key_version = 3;
    sc.purpose = "prenataal-huisbezoek";
    sc.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    sc.from_org = "ura:00001234";
    sc.to_category = KR__V1__ORG_CATEGORY__JGZ;
    sc.valid_from_ms = 1795132800000ull;
    sc.valid_until_ms = 1826668799999ull;
    sc.grantor = KR__V1__GRANTOR__SELF;
    r.scope = &sc;
    r.status = KR__V1__CONSENT_STATUS__CONSENT_SUPERSEDED;
    r.recorded_by = "ura:00001234";
    r.recorded_at_ms = 1795132800123ull;
    r.grant_msg_id = (ProtobufCBinaryData){16, gm};
    r.ended_at_ms = 1798675200000ull;
    r.superseded_by = (ProtobufCBinaryData){16, next};

    o = json_map_consent_record(&r);
    s_expect_str(o, "consent_id", "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0");
    s_expect_str(o, "subject_pseudonym",
                 "5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c"
                 "5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c");
    assert_true(json_object_object_get_ex(o, "key_version", &v));
    assert_int_equal(json_object_get_int(v), 3);
    s_expect_str(o, "purpose", "prenataal-huisbezoek");
    s_expect_str(o, "data_category", "medisch");
    s_expect_str(o, "from", "ura:00001234");
    s_expect_str(o, "to", "jgz");
    s_expect_str(o, "valid_from", "2026-11-20T00:00:00Z");
    s_expect_str(o, "valid_until", "2027-11-19T23:59:59.999Z");
    s_expect_str(o, "grantor", "self");
    s_expect_str(o, "supersedes", NULL);
    s_expect_str(o, "status", "superseded");
    s_expect_str(o, "recorded_by", "ura:00001234");
    s_expect_str(o, "recorded_at", "2026-11-20T00:00:00.123Z");
    s_expect_str(o, "ended_at", "2026-12-31T00:00:00Z");
    s_expect_str(o, "ended_by", NULL);
    s_expect_str(o, "superseded_by", "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1");
    json_object_put(o);

    /* A record without a scope (a broker bug) still prints, all null. */
    r.scope = NULL;
    o = json_map_consent_record(&r);
    s_expect_str(o, "consent_id", NULL);
    s_expect_str(o, "from", NULL);
    json_object_put(o);
}

static void
test_audit_record(void **state)
{
    Kr__V1__AuditRecord r = KR__V1__AUDIT_RECORD__INIT;
    uint8_t prev[32], hash[32], msg[16];
    json_object *o, *v;
    size_t n = 0;

    (void)state;
    memset(prev, 0x00, sizeof(prev));
    memset(hash, 0xee, sizeof(hash));
    memset(msg, 0x42, sizeof(msg));
    r.seq = 77;
    r.at_ms = 1798675200000ull;
    r.event = "message.refused";
    r.action = "C";
    r.result = "refused";
    r.check = "consent";
    r.org_id = "ura:00001234";
    r.msg_id = (ProtobufCBinaryData){16, msg};
    r.object = "ura:00009876";
    r.purpose = "melding-veilig-thuis";
    r.legal_basis = KR__V1__LEGAL_BASIS__MELDRECHT;
    r.noodknop = 1;
    r.reason = KR__V1__REASON__MISSING_JUSTIFICATION;
    r.instance = "broker-1";
    r.message_type = KR__V1__MESSAGE_TYPE__SIGNAL;
    r.data_category = KR__V1__DATA_CATEGORY__SOCIAAL;
    r.prev_hash = (ProtobufCBinaryData){32, prev};
    r.hash = (ProtobufCBinaryData){32, hash};

    o = json_map_audit_record(&r);
    assert_true(json_object_object_get_ex(o, "seq", &v));
    assert_int_equal(json_object_get_uint64(v), 77);
    s_expect_str(o, "at", "2026-12-31T00:00:00Z");
    s_expect_str(o, "event", "message.refused");
    s_expect_str(o, "action", "C");
    s_expect_str(o, "result", "refused");
    s_expect_str(o, "check", "consent");
    s_expect_str(o, "org_id", "ura:00001234");
    s_expect_str(o, "actor_ref", NULL);
    s_expect_str(o, "msg_id", "42424242424242424242424242424242");
    s_expect_str(o, "referral_id", NULL);
    s_expect_str(o, "consent_id", NULL);
    s_expect_str(o, "subject_pseudonym", NULL);
    s_expect_str(o, "object", "ura:00009876");
    s_expect_str(o, "purpose", "melding-veilig-thuis");
    s_expect_str(o, "legal_basis", "meldrecht");
    assert_true(json_object_object_get_ex(o, "noodknop", &v));
    assert_true(json_object_get_boolean(v));
    s_expect_str(o, "reason", "missing-justification");
    s_expect_str(o, "detail", NULL);
    s_expect_str(o, "instance", "broker-1");
    s_expect_str(o, "message_type", "signal");
    s_expect_str(o, "data_category", "sociaal");
    s_expect_str(o, "prev_hash",
                 "00000000000000000000000000000000"
                 "00000000000000000000000000000000");
    s_expect_str(o, "hash",
                 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
                 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
    /* One stable shape: every field of the record, always. */
    json_object_object_foreach(o, key, val)
    {
        (void)key;
        (void)val;
        n++;
    }
    assert_int_equal(n, 23);
    json_object_put(o);
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
        cmocka_unit_test(test_inbox_item),
        cmocka_unit_test(test_outbox_item),
        cmocka_unit_test(test_grant_round_trip),
        cmocka_unit_test(test_grant_dates),
        cmocka_unit_test(test_grant_minimal),
        cmocka_unit_test(test_grant_bad_input),
        cmocka_unit_test(test_grant_in_the_past),
        cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_meldrecht_justification),
        cmocka_unit_test(test_inbox_consent_and_notice),
        cmocka_unit_test(test_consent_record),
        cmocka_unit_test(test_audit_record),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
