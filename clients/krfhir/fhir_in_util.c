/*
 * fhir_in_util.c - the inbound mappers' readers (fhir_in_internal.h):
 * elements by FHIRPath, codings and identifiers by system, references in
 * a Bundle, dates, derived ids; and fhir_in_parse, fhir_bundle_msg_id.
 *
 * Refusals say what is wrong with an element and where, never what it
 * held: a value may be a BSN or a name.
 */
#include "fhir_in_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"

/* Append src to out at *at, truncating at FIN_PATH - 1 as snprintf would. */
static void
s_put(char *out, size_t *at, const char *src, size_t n)
{
    if (*at + n > FIN_PATH - 1)
        n = FIN_PATH - 1 - *at;
    memcpy(out + *at, src, n);
    *at += n;
}

/* Both may write into the path they extend (fin_join(p, p, "x")). Made
 * by hand, not by snprintf: every element a mapper reads has its path
 * made, and formatting them was a third of a Bundle's mapping time. */
void
fin_join(char out[FIN_PATH], const char *path, const char *key)
{
    char tmp[FIN_PATH];
    size_t at = 0;

    s_put(tmp, &at, path, strlen(path));
    if (path[0] != '\0')
        s_put(tmp, &at, ".", 1);
    s_put(tmp, &at, key, strlen(key));
    tmp[at] = '\0';
    memcpy(out, tmp, at + 1);
}

void
fin_index(char out[FIN_PATH], const char *path, const char *key, size_t i)
{
    char tmp[FIN_PATH], num[24];
    size_t at = 0, nd = 0;

    s_put(tmp, &at, path, strlen(path));
    if (path[0] != '\0')
        s_put(tmp, &at, ".", 1);
    s_put(tmp, &at, key, strlen(key));
    do
        num[sizeof(num) - 1 - nd++] = (char)('0' + i % 10);
    while ((i /= 10) != 0 && nd < sizeof(num) - 2);
    num[sizeof(num) - 1 - nd++] = '[';
    s_put(tmp, &at, num + sizeof(num) - nd, nd);
    s_put(tmp, &at, "]", 1);
    tmp[at] = '\0';
    memcpy(out, tmp, at + 1);
}

static const char *
s_type_name(json_type t)
{
    switch (t) {
    case json_type_object:
        return "an object";
    case json_type_array:
        return "an array";
    case json_type_string:
        return "a string";
    case json_type_int:
        return "an integer";
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
        return "a number";
    default:
        return "null";
    }
}

int
fin_get(json_object *o, const char *path, const char *key, json_type t,
        bool required, json_object **out, struct fhir_error *e)
{
    char p[FIN_PATH];
    json_object *v = NULL;

    *out = NULL;
    if (!json_object_is_type(o, json_type_object))
        return fhir_error_set(e, 400, "structure", path, "not an object");
    /* FHIR JSON has no nulls: an element is there or it is not. Its path
     * is made only for a refusal. */
    if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
        fin_join(p, path, key);
        if (json_object_object_get_ex(o, key, NULL))
            return fhir_error_set(e, 400, "structure", p,
                                  "null is not a FHIR value: leave the "
                                  "element out");
        if (required)
            return fhir_error_set(e, 400, "required", p, "missing");
        return KR_OK;
    }
    if (t != json_type_null && !json_object_is_type(v, t)) {
        fin_join(p, path, key);
        return fhir_error_set(e, 400, "structure", p,
                              "wrong type: expected %s, got %s", s_type_name(t),
                              s_type_name(json_object_get_type(v)));
    }
    *out = v;
    return KR_OK;
}

int
fin_str(json_object *o, const char *path, const char *key, bool required,
        const char **out, struct fhir_error *e)
{
    json_object *v;
    int rc;

    *out = NULL;
    if ((rc = fin_get(o, path, key, json_type_string, required, &v, e)) !=
            KR_OK ||
        v == NULL)
        return rc;
    if (json_object_get_string_len(v) == 0) {
        char p[FIN_PATH];
        fin_join(p, path, key);
        /* FHIR: a string has at least one character. */
        return fhir_error_set(e, 400, "structure", p, "empty string");
    }
    *out = json_object_get_string(v);
    return KR_OK;
}

int
fin_arr(json_object *o, const char *path, const char *key, bool required,
        json_object **out, size_t *n, struct fhir_error *e)
{
    int rc;

    *n = 0;
    if ((rc = fin_get(o, path, key, json_type_array, required, out, e)) !=
            KR_OK ||
        *out == NULL)
        return rc;
    *n = json_object_array_length(*out);
    if (*n == 0) {
        char p[FIN_PATH];
        fin_join(p, path, key);
        /* FHIR: an array has at least one item. */
        return fhir_error_set(e, 400, "structure", p, "empty array");
    }
    if (*n > FIN_MAX_ITEMS) {
        char p[FIN_PATH];
        fin_join(p, path, key);
        return fhir_error_set(e, 422, "too-long", p, "more than %d items",
                              FIN_MAX_ITEMS);
    }
    return KR_OK;
}

int
fin_item(json_object *a, const char *path, const char *key, size_t i,
         json_object **out, struct fhir_error *e)
{
    char p[FIN_PATH];

    *out = json_object_array_get_idx(a, i);
    if (!json_object_is_type(*out, json_type_object)) {
        fin_index(p, path, key, i);
        return fhir_error_set(e, 400, "structure", p,
                              "wrong type: expected an object");
    }
    return KR_OK;
}

int
fin_codings_code(json_object *o, const char *path, const char *key,
                 const char *system, bool required, const char **code,
                 struct fhir_error *e)
{
    json_object *a, *c;
    const char *sys;
    char p[FIN_PATH];
    size_t n;
    int rc;

    *code = NULL;
    if ((rc = fin_arr(o, path, key, false, &a, &n, e)) != KR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = fin_item(a, path, key, i, &c, e)) != KR_OK)
            return rc;
        fin_index(p, path, key, i);
        if ((rc = fin_str(c, p, "system", false, &sys, e)) != KR_OK)
            return rc;
        if (sys == NULL || strcmp(sys, system) != 0)
            continue;
        return fin_str(c, p, "code", true, code, e);
    }
    if (required) {
        fin_join(p, path, key);
        return fhir_error_set(e, 400, "required", p, "no coding with system %s",
                              system);
    }
    return KR_OK;
}

int
fin_concept_code(json_object *o, const char *path, const char *key,
                 const char *system, bool required, const char **code,
                 struct fhir_error *e)
{
    json_object *cc;
    char p[FIN_PATH];
    int rc;

    *code = NULL;
    if ((rc = fin_get(o, path, key, json_type_object, required, &cc, e)) !=
            KR_OK ||
        cc == NULL)
        return rc;
    fin_join(p, path, key);
    return fin_codings_code(cc, p, "coding", system, required, code, e);
}

int
fin_identifier(json_object *o, const char *path, const char *key,
               const char *system, bool required, const char **value,
               char vpath[FIN_PATH], struct fhir_error *e)
{
    json_object *a, *id;
    const char *sys;
    char p[FIN_PATH];
    size_t n;
    int rc;

    *value = NULL;
    if ((rc = fin_arr(o, path, key, false, &a, &n, e)) != KR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = fin_item(a, path, key, i, &id, e)) != KR_OK)
            return rc;
        fin_index(p, path, key, i);
        if ((rc = fin_str(id, p, "system", false, &sys, e)) != KR_OK)
            return rc;
        if (sys == NULL || strcmp(sys, system) != 0)
            continue;
        if (vpath != NULL)
            fin_join(vpath, p, "value");
        return fin_str(id, p, "value", true, value, e);
    }
    if (required) {
        fin_join(p, path, key);
        return fhir_error_set(e, 400, "required", p,
                              "no identifier with system %s", system);
    }
    return KR_OK;
}

bool
fin_hex_id(const char *s)
{
    if (s == NULL || strlen(s) != KR_ID_HEX_LEN - 1)
        return false;
    for (size_t i = 0; s[i] != '\0'; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int
fin_hex_id_get(const char *s, const char *path, char out[KR_ID_HEX_LEN],
               struct fhir_error *e)
{
    if (s == NULL || strlen(s) != KR_ID_HEX_LEN - 1)
        return fhir_error_set(e, 422, "value", path,
                              "not an id of 32 hexadecimal digits");
    for (size_t i = 0; i < KR_ID_HEX_LEN - 1; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return fhir_error_set(e, 422, "value", path,
                                  "not an id of 32 hexadecimal digits");
        out[i] = c;
    }
    out[KR_ID_HEX_LEN - 1] = '\0';
    return KR_OK;
}

/* 'n' digits at s as a number, or -1. */
static int
s_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int
fin_date(const char *s, const char *path, char out[11], struct fhir_error *e)
{
    if (s == NULL || strlen(s) != 10 || !json_map_date_valid(s))
        return fhir_error_set(e, 422, "value", path,
                              "not a full date (YYYY-MM-DD)");
    memcpy(out, s, 11);
    return KR_OK;
}

int
fin_datetime(const char *s, const char *path, bool keep_date,
             char out[JSON_MAP_TIME_LEN], uint64_t *ms, struct fhir_error *e)
{
    static const char *const why =
        "not a FHIR dateTime with a time and a zone "
        "(2030-01-31T00:00:00Z, 2030-01-31T01:00:00+01:00) nor a full date";
    char day[11];
    struct tm tm;
    size_t len, i;
    int hh, mi, ss, msec = 0, off = 0;
    int64_t t;

    if (s == NULL || (len = strlen(s)) < 10)
        return fhir_error_set(e, 422, "value", path, "%s", why);
    memcpy(day, s, 10);
    day[10] = '\0';
    if (!json_map_date_valid(day))
        return fhir_error_set(e, 422, "value", path, "%s", why);
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = s_digits(s, 4) - 1900;
    tm.tm_mon = s_digits(s + 5, 2) - 1;
    tm.tm_mday = s_digits(s + 8, 2);
    if (len == 10) {
        if (keep_date) {
            memcpy(out, day, 11);
            if (ms != NULL)
                *ms = (uint64_t)timegm(&tm) * 1000;
            return KR_OK;
        }
        hh = mi = ss = 0;
        i = 10;
    } else {
        if (len < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
            (hh = s_digits(s + 11, 2)) < 0 || hh > 23 ||
            (mi = s_digits(s + 14, 2)) < 0 || mi > 59 ||
            (ss = s_digits(s + 17, 2)) < 0 || ss > 59)
            return fhir_error_set(e, 422, "value", path, "%s", why);
        i = 19;
        if (s[i] == '.') {
            size_t d = 0;
            i++;
            /* FHIR allows any number of decimals; kansrijk keeps ms. */
            while (i < len && s[i] >= '0' && s[i] <= '9' && d < 9) {
                if (d < 3)
                    msec = msec * 10 + (s[i] - '0');
                d++;
                i++;
            }
            if (d == 0)
                return fhir_error_set(e, 422, "value", path, "%s", why);
            for (; d < 3; d++)
                msec *= 10;
        }
        if (i + 1 == len && s[i] == 'Z') {
            off = 0;
        } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') &&
                   s[i + 3] == ':') {
            int oh = s_digits(s + i + 1, 2), om = s_digits(s + i + 4, 2);
            if (oh < 0 || oh > 14 || om < 0 || om > 59)
                return fhir_error_set(e, 422, "value", path, "%s", why);
            off = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        } else {
            return fhir_error_set(e, 422, "value", path, "%s", why);
        }
        i = len;
    }
    (void)i;
    tm.tm_hour = hh;
    tm.tm_min = mi;
    tm.tm_sec = ss;
    t = (int64_t)timegm(&tm) - (int64_t)off * 60;
    if (t < 0)
        return fhir_error_set(e, 422, "value", path, "%s", why);
    uint64_t v = (uint64_t)t * 1000 + (uint64_t)msec;
    if (json_map_time_format(v, out) != KR_OK)
        return fhir_error_set(e, 422, "value", path, "%s", why);
    if (ms != NULL)
        *ms = v;
    return KR_OK;
}

int
fin_org_ref(json_object *ref, const char *path, char out[KR_ORG_ID_MAX + 1],
            struct fhir_error *e)
{
    json_object *id;
    char p[FIN_PATH];
    int rc;

    if (!json_object_is_type(ref, json_type_object))
        return fhir_error_set(e, 400, "structure", path,
                              "wrong type: expected a Reference");
    if ((rc = fin_get(ref, path, "identifier", json_type_object, false, &id,
                      e)) != KR_OK)
        return rc;
    if (id == NULL)
        return fhir_error_set(e, 400, "required", path,
                              "an organisation is referenced by its "
                              "identifier (URA or AGB), not as a resource");
    fin_join(p, path, "identifier");
    return fhir_org_id_from_identifier(id, p, out, KR_ORG_ID_MAX + 1, e);
}

/* Whether 'full' (a fullUrl) ends in "/<type>/<id>" or is it. */
static bool
s_url_is(const char *full, const char *ref)
{
    size_t fl = strlen(full), rl = strlen(ref);

    if (strcmp(full, ref) == 0)
        return true;
    return fl > rl && full[fl - rl - 1] == '/' &&
           strcmp(full + fl - rl, ref) == 0;
}

int
fin_resolve(const struct fin_bundle *b, json_object *ref, const char *path,
            const char *type, json_object **res, char rpath[FIN_PATH],
            struct fhir_error *e)
{
    const char *r, *full, *rt, *id;
    json_object *ent, *rv, *v;
    char want[FIN_PATH];
    int rc;

    *res = NULL;
    if (!json_object_is_type(ref, json_type_object))
        return fhir_error_set(e, 400, "structure", path,
                              "wrong type: expected a Reference");
    if ((rc = fin_str(ref, path, "reference", true, &r, e)) != KR_OK)
        return rc;
    for (size_t i = 0; b != NULL && i < b->n; i++) {
        ent = json_object_array_get_idx(b->entries, i);
        if (!json_object_object_get_ex(ent, "resource", &rv) ||
            !json_object_is_type(rv, json_type_object))
            continue;
        full = NULL;
        if (json_object_object_get_ex(ent, "fullUrl", &v) &&
            json_object_is_type(v, json_type_string))
            full = json_object_get_string(v);
        rt = json_object_object_get_ex(rv, "resourceType", &v) &&
                     json_object_is_type(v, json_type_string)
                 ? json_object_get_string(v)
                 : "";
        id = json_object_object_get_ex(rv, "id", &v) &&
                     json_object_is_type(v, json_type_string)
                 ? json_object_get_string(v)
                 : NULL;
        snprintf(want, sizeof(want), "%s/%s", rt, id != NULL ? id : "");
        if ((full != NULL && s_url_is(full, r)) ||
            (id != NULL && strcmp(want, r) == 0)) {
            char p[FIN_PATH];
            snprintf(p, sizeof(p), "Bundle.entry[%zu].resource", i);
            if (strcmp(rt, type) != 0) {
                char rp[FIN_PATH];
                fin_join(rp, path, "reference");
                return fhir_error_set(e, 422, "invalid", rp,
                                      "points to a resource that is not a "
                                      "%s",
                                      type);
            }
            *res = rv;
            if (rpath != NULL)
                snprintf(rpath, FIN_PATH, "%s", p);
            return KR_OK;
        }
    }
    fin_join(want, path, "reference");
    return fhir_error_set(e, 422, "not-found", want,
                          "does not resolve to an entry of the Bundle (by "
                          "fullUrl or %s/id)",
                          type);
}

int
fin_patient_bsn(json_object *patient, const char *path, const char **bsn,
                struct fhir_error *e)
{
    char vp[FIN_PATH];
    int rc;

    if ((rc = fin_identifier(patient, path, "identifier", FHIR_SYS_BSN, true,
                             bsn, vp, e)) != KR_OK)
        return rc;
    if (!fhir_bsn_valid(*bsn))
        return fhir_error_set(e, 422, "value", vp,
                              "not a BSN: nine digits that pass the "
                              "eleven-test");
    return KR_OK;
}

int
fin_security(json_object *res, const char *path, bool required,
             json_object *out, struct fhir_error *e)
{
    json_object *meta;
    const char *cat, *basis;
    char p[FIN_PATH];
    int rc;

    if ((rc = fin_get(res, path, "meta", json_type_object, required, &meta,
                      e)) != KR_OK)
        return rc;
    if (meta == NULL)
        return KR_OK;
    fin_join(p, path, "meta");
    if ((rc = fin_codings_code(meta, p, "security", FIN_CS_CATEGORY, required,
                               &cat, e)) != KR_OK ||
        (rc = fin_codings_code(meta, p, "security", FIN_CS_BASIS, required,
                               &basis, e)) != KR_OK)
        return rc;
    fin_put(out, "data_category", cat);
    fin_put(out, "legal_basis", basis);
    return KR_OK;
}

#define S_ID_DOMAIN "kr.v1 krfhir "

void
fin_derive_id(const char *what, const char *org, const void *data, size_t len,
              char out[KR_ID_HEX_LEN])
{
    char domain[sizeof(S_ID_DOMAIN) + 32 + KR_ORG_ID_MAX];
    uint8_t h[32];
    int n;

    n = snprintf(domain, sizeof(domain), S_ID_DOMAIN "%s %s", what, org);
    if (n < 0 || (size_t)n >= sizeof(domain))
        n = (int)sizeof(domain) - 1;
    /* The NUL separates the organisation from the bytes, as in
     * kr_json_msg_id. */
    kcrypto_hash2((const uint8_t *)domain, (size_t)n + 1,
                  (const uint8_t *)(data != NULL ? data : ""), len, h);
    util_hex(h, KR_ID_LEN, out);
}

int
fin_check(const struct fhir_ctx *ctx, json_object *desc, const char *path,
          struct fhir_error *e)
{
    char err[384];
    uint8_t *req = NULL;
    size_t req_len = 0;
    int rc;

    rc = json_map_send_parse(desc, ctx->now_ms, &req, &req_len, err,
                             sizeof(err));
    if (req != NULL) {
        /* It holds the BSN and the content in plain text. */
        explicit_bzero(req, req_len);
        free(req);
    }
    if (rc != KR_OK)
        /* The JSON layer's words never quote a value either. */
        return fhir_error_set(e, 422, "invalid", path,
                              "not a kansrijk message: %s", err);
    return KR_OK;
}

void
fin_put(json_object *o, const char *key, const char *s)
{
    if (s != NULL)
        json_object_object_add(o, key, json_object_new_string(s));
}

/* json-c 0.16 takes 'single-quoted' strings even in strict mode: RFC
 * 8259 does not. Outside a string, a quote mark is never JSON. */
static int
s_single_quote(const char *text, size_t len, struct fhir_error *e)
{
    size_t line = 1, col = 1;
    bool in = false;

    for (size_t i = 0; i < len; i++, col++) {
        char c = text[i];
        if (in) {
            if (c == '\\')
                i++, col++;
            else if (c == '"')
                in = false;
        } else if (c == '"') {
            in = true;
        } else if (c == '\'') {
            return fhir_error_set(e, 400, "structure", "",
                                  "not valid JSON (RFC 8259, UTF-8): line "
                                  "%zu, column %zu: unexpected character",
                                  line, col);
        }
        if (c == '\n')
            line++, col = 0;
    }
    return KR_OK;
}

int
fhir_in_parse(const char *text, size_t len, json_object **out,
              struct fhir_error *e)
{
    char err[160];
    int rc;

    *out = NULL;
    if (text == NULL)
        return fhir_error_set(e, 400, "structure", "", "no body");
    if ((rc = s_single_quote(text, len, e)) != KR_OK)
        return rc;
    rc = json_map_parse_text(text, len, out, err, sizeof(err));
    if (rc == KR_ENOMEM)
        return fhir_error_set(e, 500, "exception", "", "out of memory");
    if (rc != KR_OK)
        return fhir_error_set(e, 400, "structure", "",
                              "not valid JSON (RFC 8259, UTF-8): %s", err);
    if (!json_object_is_type(*out, json_type_object) &&
        !json_object_is_type(*out, json_type_array)) {
        json_object_put(*out);
        *out = NULL;
        return fhir_error_set(e, 400, "structure", "",
                              "not a FHIR resource nor a JSON Patch: the "
                              "body is neither a JSON object nor an array");
    }
    return KR_OK;
}

int
fhir_bundle_msg_id(const char *org_id, const char *bundle_id,
                   char msg_id_hex[KR_MSG_ID_HEX_LEN])
{
    if (org_id == NULL || bundle_id == NULL || msg_id_hex == NULL ||
        strlen(org_id) > KR_ORG_ID_MAX)
        return KR_EINVAL;
    fin_derive_id("bundle", org_id, bundle_id, strlen(bundle_id), msg_id_hex);
    return KR_OK;
}
