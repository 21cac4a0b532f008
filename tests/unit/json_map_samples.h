/*
 * json_map_samples.h - what the tests of the JSON mapping share
 * (test_json_map*.c): "now", a full referral description and a consent
 * grant, and helpers to parse, to pass a request through its bytes, and to
 * change one key of a description.
 */
#ifndef JSON_MAP_SAMPLES_H
#define JSON_MAP_SAMPLES_H

#include <string.h>

/* After <cmocka.h>: the helpers fail the test with its asserts. */
#include "json_map.h"
#include "kr.h"
#include "local.pb-c.h"

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

static inline json_object *
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
static inline Kr__V1__LocalRequest *
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

/* Set (val != NULL) or delete the key at a dotted path of 'root'. */
static inline void
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
    const char *path;   /* what to change in the description */
    const char *json;   /* its new value as JSON text; NULL: delete it */
    const char *expect; /* the start of the error message */
};

/* Each case applied to the description 'base' is refused KR_EINVAL, with
 * no request, an error that starts with the case's text, and none of the
 * strings in 'never' (NULL-ended: BSNs, names) in it: errors end up on
 * terminals and in logs. */
static inline void
s_refusals(const char *base, const struct bad_case *cases, size_t n,
           const char *const *never)
{
    for (size_t i = 0; i < n; i++) {
        const struct bad_case *c = &cases[i];
        json_object *in = s_load(base);
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
        for (size_t k = 0; never[k] != NULL; k++)
            if (strstr(err, never[k]) != NULL)
                fail_msg("case %zu: the error holds \"%s\": %s", i, never[k],
                         err);
        json_object_put(in);
    }
}

#endif
