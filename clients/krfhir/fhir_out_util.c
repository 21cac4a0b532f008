/*
 * fhir_out_util.c - the outbound mapping's helpers (fhir_out_internal.h):
 * checked reads of kansrijk's JSON and FHIR datatypes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fhir_out_internal.h"
#include "json_map.h"
#include "util.h"

/* The bytes of the white-space character at p (what JavaScript's \s
 * matches, which the FHIR JSON schema's patterns use), 0 if it is none. */
size_t
fo_ws_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if (*p == ' ' || (*p >= '\t' && *p <= '\r'))
        return 1;
    if (p[0] == 0xc2 && p[1] == 0xa0) /* U+00A0 */
        return 2;
    if (p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) /* U+1680 */
        return 3;
    if (p[0] == 0xe2 && p[1] == 0x80 &&
        ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 || p[2] == 0xa9 ||
         p[2] == 0xaf)) /* U+2000-200A, 2028, 2029, 202F */
        return 3;
    if (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) /* U+205F */
        return 3;
    if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80) /* U+3000 */
        return 3;
    if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) /* U+FEFF */
        return 3;
    return 0;
}

int
fo_is_string(const char *s)
{
    /* At least one character that is not white space, nor a control
     * character (fo_string makes those spaces too: a fuzzed name of BEL
     * characters became a blank one). */
    for (const char *p = s; p != NULL && *p != '\0';) {
        size_t n = fo_ws_len(p);
        unsigned char c = (unsigned char)*p;
        if (n == 0 && c >= 0x20 && c != 0x7f)
            return 1;
        p += n > 0 ? n : 1;
    }
    return 0;
}

const char *
fo_str(json_object *o, const char *key)
{
    json_object *v;
    const char *s;

    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    s = json_object_get_string(v);
    /* A FHIR string has a character that is not white space (the JSON
     * schema's pattern): blank is as good as absent. */
    return fo_is_string(s) ? s : NULL;
}

json_object *
fo_string(const char *s)
{
    size_t n = strlen(s), j = 0;
    char *buf = xmalloc(n + 1);
    json_object *v;

    /* FHIR strings allow, of the white space and control characters,
     * only space, tab, CR and LF: the others (a form feed, a no-break
     * space pasted from a letter) become a space. Never longer. */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t w = fo_ws_len(s + i);
        if ((w > 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n') ||
            c < 0x20 || c == 0x7f) {
            buf[j++] = ' ';
            i += w > 0 ? w : 1;
        } else {
            buf[j++] = (char)c;
            i++;
        }
    }
    buf[j] = '\0';
    v = json_object_new_string(buf);
    free(buf);
    return v;
}

int
fo_is_code(const char *s)
{
    size_t n;

    if (s == NULL || (n = strlen(s)) == 0 || s[0] == ' ' || s[n - 1] == ' ')
        return 0;
    /* FHIR's code: no white space but single spaces between words. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t w = fo_ws_len(s + i);
        if (c < 0x20 || c == 0x7f || (w > 0 && c != ' ') ||
            (c == ' ' && s[i + 1] == ' '))
            return 0;
    }
    return 1;
}

int
fo_is_id(const char *s)
{
    size_t n;

    if (s == NULL || (n = strlen(s)) == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
            return 0;
    return 1;
}

int
fo_is_uri(const char *s)
{
    size_t n;

    if (s == NULL || (n = strlen(s)) == 0 || n > 1024)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

const char *
fo_code(json_object *o, const char *key)
{
    const char *s = fo_str(o, key);

    return fo_is_code(s) ? s : NULL;
}

const char *
fo_hex32(json_object *o, const char *key)
{
    const char *s = fo_str(o, key);

    if (s == NULL || strlen(s) != 32)
        return NULL;
    for (size_t i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return NULL;
    return s;
}

const char *
fo_date(json_object *o, const char *key)
{
    const char *s = fo_str(o, key);

    return s != NULL && strlen(s) == 10 && json_map_date_valid(s) ? s : NULL;
}

const char *
fo_time(json_object *o, const char *key)
{
    const char *s = fo_str(o, key);
    uint64_t ms;

    /* What json_map_time_format writes: "YYYY-MM-DDTHH:MM:SS[.fff]Z",
     * which is a FHIR instant. Anything else is left out. */
    if (s == NULL || json_map_time_parse(s, &ms) != 0)
        return NULL;
    size_t n = strlen(s);
    if ((n != 20 && n != 24) || s[n - 1] != 'Z' || s[10] != 'T' || s[0] == '0')
        return NULL;
    return s;
}

json_object *
fo_obj(json_object *o, const char *key)
{
    json_object *v;

    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_object))
        return NULL;
    return v;
}

json_object *
fo_arr(json_object *o, const char *key)
{
    json_object *v;

    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_array))
        return NULL;
    return v;
}

void
fo_add(json_object *o, const char *key, json_object *v)
{
    if (v != NULL)
        json_object_object_add(o, key, v);
}

void
fo_add_str(json_object *o, const char *key, const char *s)
{
    if (s != NULL && fo_is_string(s))
        json_object_object_add(o, key, fo_string(s));
}

void
fo_push(json_object *a, json_object *v)
{
    if (v != NULL)
        json_object_array_add(a, v);
}

void
fo_add_array(json_object *o, const char *key, json_object *a)
{
    if (json_object_array_length(a) > 0)
        json_object_object_add(o, key, a);
    else
        json_object_put(a);
}

json_object *
fo_coding(const char *system, const char *code)
{
    json_object *c = json_object_new_object();

    json_object_object_add(c, "system", json_object_new_string(system));
    json_object_object_add(c, "code", json_object_new_string(code));
    return c;
}

json_object *
fo_cc(const char *system, const char *code)
{
    json_object *cc, *a;

    if (!fo_is_code(code))
        return NULL;
    cc = json_object_new_object();
    a = json_object_new_array();
    json_object_array_add(a, fo_coding(system, code));
    json_object_object_add(cc, "coding", a);
    return cc;
}

json_object *
fo_cc_text(const char *text)
{
    json_object *cc = json_object_new_object();

    json_object_object_add(cc, "text", fo_string(text));
    return cc;
}

json_object *
fo_identifier(const char *system, const char *value)
{
    json_object *id = json_object_new_object();

    json_object_object_add(id, "system", json_object_new_string(system));
    json_object_object_add(id, "value", fo_string(value));
    return id;
}

json_object *
fo_ref(const char *type, const char *id)
{
    json_object *r = json_object_new_object();
    char buf[160];

    snprintf(buf, sizeof(buf), "%s/%s", type, id);
    json_object_object_add(r, "reference", json_object_new_string(buf));
    return r;
}

json_object *
fo_org_ref(const char *org_id)
{
    json_object *id = fhir_identifier_from_org_id(org_id), *r;

    if (id == NULL)
        return NULL;
    /* As the contract has it, {"identifier": ...} only: what a client PUTs
     * back compares equal to what it read. */
    r = json_object_new_object();
    json_object_object_add(r, "identifier", id);
    return r;
}

void
fo_now(const struct fhir_ctx *ctx, char out[32])
{
    char t[JSON_MAP_TIME_LEN];
    uint64_t ms = ctx != NULL ? ctx->now_ms : 0;

    /* A clock before 1970 + 1 s or after 9999 is a broken clock: the
     * epoch's second keeps the resource valid and the mistake visible. */
    if (ms < 1000 || json_map_time_format(ms, t) != 0)
        json_map_time_format(1000, t);
    snprintf(out, 32, "%s", t);
}

void
fo_uuid(char urn[46], char hex[33], const char *part, ...)
{
    uint8_t h[32], acc[32];
    char x[33];
    va_list ap;

    memset(acc, 0, sizeof(acc));
    va_start(ap, part);
    for (const char *p = part; p != NULL; p = va_arg(ap, const char *)) {
        /* acc = H(acc || p || NUL): each part delimited. */
        uint8_t buf[33];
        memcpy(buf, acc, 32);
        buf[32] = 0;
        kcrypto_hash2(buf, sizeof(buf), (const uint8_t *)p, strlen(p), h);
        memcpy(acc, h, 32);
    }
    va_end(ap);
    /* RFC 4122 version 4 and variant bits, so that it reads as a uuid. */
    acc[6] = (uint8_t)((acc[6] & 0x0f) | 0x40);
    acc[8] = (uint8_t)((acc[8] & 0x3f) | 0x80);
    util_hex(acc, 16, x);
    if (hex != NULL)
        memcpy(hex, x, 33);
    snprintf(urn, 46, "urn:uuid:%.8s-%.4s-%.4s-%.4s-%.12s", x, x + 8, x + 12,
             x + 16, x + 20);
}

json_object *
fo_security(json_object *item)
{
    json_object *a = json_object_new_array();
    const char *dc = fo_code(item, "data_category");
    const char *lb = fo_code(item, "legal_basis");

    if (dc != NULL)
        json_object_array_add(a, fo_coding(FO_CS_DATA_CATEGORY, dc));
    if (lb != NULL)
        json_object_array_add(a, fo_coding(FO_CS_LEGAL_BASIS, lb));
    if (json_object_array_length(a) == 0) {
        json_object_put(a);
        return NULL;
    }
    return a;
}
