/* json_map.c - see json_map.h. */
#include "json_map.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "names.h"
#include "util.h"

/* Bounds on what a description may hold. They keep a mistaken file (a
 * whole letter pasted into a name) from becoming a message, and keep the
 * sealed content well below the broker's envelope limit. */
#define S_SHORT_MAX 256        /* names, streets, roles, ... */
#define S_CODE_MAX 64          /* purpose, reason codes */
#define S_TEXT_MAX (64 * 1024) /* free text */
#define S_OPAQUE_MAX (512 * 1024)
#define S_REASON_CODES_MAX 64
#define S_ACTOR_REF_MAX 128 /* bytes */
#define S_PATH_MAX 128

/*
 * Errors
 */

static void
s_join(char out[S_PATH_MAX], const char *path, const char *key)
{
    int n;

    if (path == NULL || *path == '\0')
        n = snprintf(out, S_PATH_MAX, "%s", key);
    else
        n = snprintf(out, S_PATH_MAX, "%s.%s", path, key);
    /* Our paths are a few words deep; a cut one still names the place. */
    if (n < 0)
        out[0] = '\0';
}

/* "<path>.<key>: <message>" into err; returns KR_EINVAL. */
static int s_fail(char *err, size_t errlen, const char *path, const char *key,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
s_fail(char *err, size_t errlen, const char *path, const char *key,
       const char *fmt, ...)
{
    char where[S_PATH_MAX], msg[256];
    va_list ap;

    if (key != NULL)
        s_join(where, path, key);
    else
        snprintf(where, sizeof(where), "%s",
                 path != NULL && *path ? path : "(top level)");
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s", where, msg);
    return KR_EINVAL;
}

static const char *
s_type_name(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
    case json_type_int:
        return "a number";
    case json_type_object:
        return "an object";
    case json_type_array:
        return "an array";
    case json_type_string:
        return "a string";
    }
    return "something else";
}

/* Every key of 'o' must be in 'allowed' (NULL-terminated). The key is
 * named in the error, cut short and with anything unprintable replaced:
 * it is structure, not data, but it came from the file. */
static int
s_check_keys(json_object *o, const char *path, const char *const *allowed,
             char *err, size_t errlen)
{
    json_object_object_foreach(o, key, val)
    {
        const char *const *a = allowed;
        (void)val;
        while (*a != NULL && strcmp(*a, key) != 0)
            a++;
        if (*a == NULL) {
            char shown[41];
            size_t i;
            for (i = 0; i < sizeof(shown) - 1 && key[i] != '\0'; i++)
                shown[i] = key[i] >= 0x20 && key[i] < 0x7f ? key[i] : '?';
            shown[i] = '\0';
            return s_fail(err, errlen, path, shown, "unknown key");
        }
    }
    return KR_OK;
}

/*
 * Reading values. Each s_get_* looks 'key' up in 'o': absent or null
 * leaves *out untouched and is an error only if 'required'.
 */

static int
s_get(json_object *o, const char *path, const char *key, json_type want,
      const char *want_name, int required, json_object **out, char *err,
      size_t errlen)
{
    json_object *v = NULL;

    *out = NULL;
    if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
        if (required)
            return s_fail(err, errlen, path, key, "missing");
        return KR_OK;
    }
    if (!json_object_is_type(v, want))
        return s_fail(err, errlen, path, key, "wrong type: expected %s, got %s",
                      want_name, s_type_name(v));
    *out = v;
    return KR_OK;
}

/* A string of at most 'max' bytes, without NUL characters (they would cut
 * the protobuf string short). A required string must not be empty. */
static int
s_check_str(json_object *v, const char *path, const char *key, int required,
            size_t max, const char **out, char *err, size_t errlen)
{
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);

    if (strlen(s) != len)
        return s_fail(err, errlen, path, key, "contains a NUL character");
    if (len > max)
        return s_fail(err, errlen, path, key, "longer than %zu bytes", max);
    if (required && len == 0)
        return s_fail(err, errlen, path, key, "empty");
    *out = s;
    return KR_OK;
}

static int
s_get_str(json_object *o, const char *path, const char *key, int required,
          size_t max, const char **out, char *err, size_t errlen)
{
    json_object *v;
    int rc;

    if ((rc = s_get(o, path, key, json_type_string, "a string", required, &v,
                    err, errlen)) != KR_OK ||
        v == NULL)
        return rc;
    return s_check_str(v, path, key, required, max, out, err, errlen);
}

static int
s_get_obj(json_object *o, const char *path, const char *key, int required,
          json_object **out, char *err, size_t errlen)
{
    return s_get(o, path, key, json_type_object, "an object", required, out,
                 err, errlen);
}

/* A code in the clear envelope: lower-case letters, digits, '-' and '.',
 * starting with a letter or digit. The restriction keeps free text, and
 * with it person data, out of the fields the broker reads. */
static int
s_get_code(json_object *o, const char *path, const char *key, int required,
           const char **out, char *err, size_t errlen)
{
    const char *s = NULL;
    int rc;

    if ((rc = s_get_str(o, path, key, required, S_CODE_MAX, &s, err, errlen)) !=
            KR_OK ||
        s == NULL || *s == '\0')
        return rc;
    for (const char *p = s; *p != '\0'; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                 (p > s && (*p == '-' || *p == '.'));
        if (!ok)
            return s_fail(err, errlen, path, key,
                          "not a code: use lower-case letters, digits, '-' "
                          "and '.'");
    }
    *out = s;
    return KR_OK;
}

/* A name from one of the tables of names.h. */
static int
s_get_enum(json_object *o, const char *path, const char *key, int required,
           int (*parse)(const char *), const char *choices, int *out, char *err,
           size_t errlen)
{
    const char *s = NULL;
    int rc, v;

    if ((rc = s_get_str(o, path, key, required, S_CODE_MAX, &s, err, errlen)) !=
            KR_OK ||
        s == NULL)
        return rc;
    if ((v = parse(s)) <= 0)
        return s_fail(err, errlen, path, key, "must be one of: %s", choices);
    *out = v;
    return KR_OK;
}

/* Exactly 32 hex digits, into 16 bytes. */
static int
s_get_id(json_object *o, const char *path, const char *key,
         uint8_t id[KR_ID_LEN], ProtobufCBinaryData *out, char *err,
         size_t errlen)
{
    const char *s = NULL;
    int rc;

    if ((rc = s_get_str(o, path, key, 0, 2 * KR_ID_LEN, &s, err, errlen)) !=
            KR_OK ||
        s == NULL)
        return rc;
    if (util_unhex(s, id, KR_ID_LEN) != KR_OK)
        return s_fail(err, errlen, path, key, "not an id of 32 hex digits");
    out->data = id;
    out->len = KR_ID_LEN;
    return KR_OK;
}

static int
s_get_date(json_object *o, const char *path, const char *key, const char **out,
           char *err, size_t errlen)
{
    const char *s = NULL;
    int rc;

    if ((rc = s_get_str(o, path, key, 0, 10, &s, err, errlen)) != KR_OK ||
        s == NULL)
        return rc;
    if (!json_map_date_valid(s))
        return s_fail(err, errlen, path, key, "not a date (YYYY-MM-DD)");
    *out = s;
    return KR_OK;
}

/* An optional string or date: sets *field only if the key is there, so
 * that absent keys keep protobuf's empty default. */
static int
s_take_str(json_object *o, const char *path, const char *key, size_t max,
           char **field, char *err, size_t errlen)
{
    const char *s = NULL;
    int rc = s_get_str(o, path, key, 0, max, &s, err, errlen);

    if (rc == KR_OK && s != NULL)
        *field = (char *)s;
    return rc;
}

static int
s_take_date(json_object *o, const char *path, const char *key, char **field,
            char *err, size_t errlen)
{
    const char *s = NULL;
    int rc = s_get_date(o, path, key, &s, err, errlen);

    if (rc == KR_OK && s != NULL)
        *field = (char *)s;
    return rc;
}

/*
 * Times and dates
 */

static int
s_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
s_days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && s_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). Pure arithmetic: no time zone, no timegm(). */
static int64_t
s_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

static void
s_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* 'n' decimal digits at s into *out; 0 if any is not a digit. */
static int
s_digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* "YYYY-MM-DD" at the start of s, a real calendar date. */
static int
s_date_prefix(const char *s, int ymin, int ymax, int *y, int *m, int *d)
{
    if (strnlen(s, 10) < 10 || s[4] != '-' || s[7] != '-' ||
        !s_digits(s, 4, y) || !s_digits(s + 5, 2, m) || !s_digits(s + 8, 2, d))
        return 0;
    return *y >= ymin && *y <= ymax && *m >= 1 && *m <= 12 && *d >= 1 &&
           *d <= s_days_in_month(*y, *m);
}

int
json_map_date_valid(const char *s)
{
    int y, m, d;

    return s != NULL && strlen(s) == 10 &&
           s_date_prefix(s, 1900, 2199, &y, &m, &d);
}

int
json_map_time_parse(const char *s, uint64_t *ms)
{
    int y, mo, d, h, mi, sec, frac = 0, nfrac = 0;
    const char *p;

    if (s == NULL || !s_date_prefix(s, 1970, 9999, &y, &mo, &d) ||
        s[10] != 'T' || strnlen(s, 20) < 19 || !s_digits(s + 11, 2, &h) ||
        s[13] != ':' || !s_digits(s + 14, 2, &mi) || s[16] != ':' ||
        !s_digits(s + 17, 2, &sec) || h > 23 || mi > 59 || sec > 59)
        return KR_EINVAL;
    p = s + 19;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, nfrac++)
            if (nfrac < 3)
                frac = frac * 10 + (*p - '0');
        /* Milliseconds are what the protocol keeps; more digits would be
         * silently lost, so they are refused. */
        if (nfrac == 0 || nfrac > 3)
            return KR_EINVAL;
        for (int i = nfrac; i < 3; i++)
            frac *= 10;
    }
    if (p[0] != 'Z' || p[1] != '\0')
        return KR_EINVAL;
    *ms = ((uint64_t)s_days_from_civil(y, mo, d) * 86400u +
           (uint64_t)h * 3600u + (uint64_t)mi * 60u + (uint64_t)sec) *
              1000u +
          (uint64_t)frac;
    return KR_OK;
}

int
json_map_period_parse(const char *s, int end_of_day, uint64_t *ms)
{
    int y, m, d;

    if (s != NULL && strlen(s) == 10) {
        if (!s_date_prefix(s, 1970, 9999, &y, &m, &d))
            return KR_EINVAL;
        /* A date is the whole day: from its first millisecond, until its
         * last one (inclusive, as the scope's bounds are). */
        *ms = (uint64_t)s_days_from_civil(y, m, d) * 86400000u +
              (end_of_day ? 86399999u : 0u);
        return KR_OK;
    }
    return json_map_time_parse(s, ms);
}

int
json_map_time_format(uint64_t ms, char out[JSON_MAP_TIME_LEN])
{
    /* 9999-12-31T23:59:59.999Z */
    static const uint64_t max_ms = 253402300799999ull;
    uint64_t secs = ms / 1000u, days = secs / 86400u, rem = secs % 86400u;
    int y, m, d;

    if (ms > max_ms) {
        out[0] = '\0';
        return KR_EINVAL;
    }
    s_civil_from_days((int64_t)days, &y, &m, &d);
    /* y is at most 9999 (checked above), so the text fits; the wider
     * buffer only spares the compiler the proof. */
    char t[64];
    if (ms % 1000u != 0)
        snprintf(t, sizeof(t), "%04d-%02d-%02dT%02u:%02u:%02u.%03uZ", y, m, d,
                 (unsigned)(rem / 3600u), (unsigned)(rem / 60u % 60u),
                 (unsigned)(rem % 60u), (unsigned)(ms % 1000u));
    else
        snprintf(t, sizeof(t), "%04d-%02d-%02dT%02u:%02u:%02uZ", y, m, d,
                 (unsigned)(rem / 3600u), (unsigned)(rem / 60u % 60u),
                 (unsigned)(rem % 60u));
    if (strlen(t) >= JSON_MAP_TIME_LEN) {
        out[0] = '\0';
        return KR_EINVAL;
    }
    memcpy(out, t, strlen(t) + 1);
    return KR_OK;
}

/*
 * Text
 */

int
json_map_parse_text(const char *text, size_t len, json_object **out, char *err,
                    size_t errlen)
{
    json_tokener *tok;
    json_object *j;
    enum json_tokener_error e;
    size_t used, line = 1, col = 1;

    *out = NULL;
    if (len > (size_t)INT32_MAX) {
        snprintf(err, errlen, "input too large");
        return KR_EINVAL;
    }
    if ((tok = json_tokener_new()) == NULL) {
        snprintf(err, errlen, "out of memory");
        return KR_ENOMEM;
    }
    json_tokener_set_flags(tok,
                           JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    j = json_tokener_parse_ex(tok, text, (int)len);
    e = json_tokener_get_error(tok);
    used = json_tokener_get_parse_end(tok);
    if (e == json_tokener_continue) {
        /* A top-level number may still be going on for all the tokener
         * knows: a NUL byte tells it that the text has ended. */
        used = len;
        j = json_tokener_parse_ex(tok, "", 1);
        if ((e = json_tokener_get_error(tok)) != json_tokener_success)
            e = json_tokener_continue;
    }
    /* Anything but white space after the value is an error too: a second
     * object glued to the first is a mistake, not something to ignore. */
    if (j != NULL && e == json_tokener_success) {
        size_t i = used;
        while (i < len && strchr(" \t\r\n", text[i]) != NULL)
            i++;
        if (i == len) {
            json_tokener_free(tok);
            *out = j;
            return KR_OK;
        }
        used = i;
    }
    for (size_t i = 0; i < used && i < len; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(err, errlen, "line %zu, column %zu: %s", line, col,
             e == json_tokener_success    ? "text after the JSON value"
             : e == json_tokener_continue ? "unexpected end of input"
                                          : json_tokener_error_desc(e));
    json_object_put(j);
    json_tokener_free(tok);
    return KR_EINVAL;
}

/*
 * Description -> protobuf
 */

/* Everything the protobuf structures of one send point to. Strings are
 * borrowed from the JSON object, which outlives the packing. */
struct s_build {
    Kr__V1__LocalRequest lreq;
    Kr__V1__SendRequest send;
    Kr__V1__Content content;
    Kr__V1__Referral referral;
    Kr__V1__Person mother;
    Kr__V1__Address address;
    Kr__V1__Professional referrer;
    Kr__V1__ReferralStatus status;
    Kr__V1__Professional contact;
    Kr__V1__ConsentScope scope;
    Kr__V1__ConsentEvidence evidence;
    uint8_t msg_id[KR_ID_LEN];
    uint8_t referral_id[KR_ID_LEN];
    uint8_t case_id[KR_ID_LEN];
    uint8_t in_reply_to[KR_ID_LEN];
    uint8_t consent_id[KR_ID_LEN];
    uint8_t scope_consent_id[KR_ID_LEN];
    uint8_t supersedes[KR_ID_LEN];
    char **reason_codes;  /* malloc'd array of borrowed strings */
    uint8_t *content_buf; /* the packed Content, holds the BSN */
    size_t content_len;
};

static int
s_parse_address(json_object *o, const char *path, Kr__V1__Address *a, char *err,
                size_t errlen)
{
    static const char *const keys[] = {"street", "house_number", "postal_code",
                                       "city", NULL};
    int rc;

    if ((rc = s_check_keys(o, path, keys, err, errlen)) != KR_OK ||
        (rc = s_take_str(o, path, "street", S_SHORT_MAX, &a->street, err,
                         errlen)) != KR_OK ||
        (rc = s_take_str(o, path, "house_number", 32, &a->house_number, err,
                         errlen)) != KR_OK ||
        (rc = s_take_str(o, path, "postal_code", 16, &a->postal_code, err,
                         errlen)) != KR_OK ||
        (rc = s_take_str(o, path, "city", S_SHORT_MAX, &a->city, err,
                         errlen)) != KR_OK)
        return rc;
    return KR_OK;
}

static int
s_parse_person(json_object *o, const char *path, struct s_build *b, char *err,
               size_t errlen)
{
    static const char *const keys[] = {
        "bsn",     "given_name", "family_name", "birth_date",
        "address", "phone",      NULL};
    Kr__V1__Person *p = &b->mother;
    json_object *addr;
    char sub[S_PATH_MAX];
    const char *s;
    int rc;

    if ((rc = s_check_keys(o, path, keys, err, errlen)) != KR_OK)
        return rc;
    s = NULL;
    if ((rc = s_get_str(o, path, "bsn", 1, 9, &s, err, errlen)) != KR_OK)
        return rc;
    /* The value is never quoted: this is the one field that must not end
     * up in a terminal's scroll-back or a log. */
    if (!kcrypto_bsn_valid(s))
        return s_fail(err, errlen, path, "bsn",
                      "not a BSN (9 digits that pass the eleven-test)");
    p->bsn = (char *)s;
    if ((rc = s_take_str(o, path, "given_name", S_SHORT_MAX, &p->given_name,
                         err, errlen)) != KR_OK)
        return rc;
    if ((rc = s_take_str(o, path, "family_name", S_SHORT_MAX, &p->family_name,
                         err, errlen)) != KR_OK)
        return rc;
    if ((rc = s_take_date(o, path, "birth_date", &p->birth_date, err,
                          errlen)) != KR_OK)
        return rc;
    if ((rc = s_get_obj(o, path, "address", 0, &addr, err, errlen)) != KR_OK)
        return rc;
    if (addr != NULL) {
        s_join(sub, path, "address");
        if ((rc = s_parse_address(addr, sub, &b->address, err, errlen)) !=
            KR_OK)
            return rc;
        p->address = &b->address;
    }
    if ((rc = s_take_str(o, path, "phone", 32, &p->phone, err, errlen)) !=
        KR_OK)
        return rc;
    return KR_OK;
}

static int
s_parse_professional(json_object *o, const char *path, Kr__V1__Professional *p,
                     char *err, size_t errlen)
{
    static const char *const keys[] = {"name",  "role", "phone",
                                       "email", "agb",  NULL};
    const char *s;
    int rc;

    if ((rc = s_check_keys(o, path, keys, err, errlen)) != KR_OK)
        return rc;
    if ((rc = s_take_str(o, path, "name", S_SHORT_MAX, &p->name, err,
                         errlen)) != KR_OK)
        return rc;
    if ((rc = s_take_str(o, path, "role", S_SHORT_MAX, &p->role, err,
                         errlen)) != KR_OK)
        return rc;
    if ((rc = s_take_str(o, path, "phone", 32, &p->phone, err, errlen)) !=
        KR_OK)
        return rc;
    s = NULL;
    if ((rc = s_get_str(o, path, "email", 0, S_SHORT_MAX, &s, err, errlen)) !=
        KR_OK)
        return rc;
    if (s != NULL && *s != '\0' &&
        (strchr(s, '@') == NULL || *s == '@' || strchr(s, ' ') != NULL))
        return s_fail(err, errlen, path, "email", "not an e-mail address");
    if (s != NULL)
        p->email = (char *)s;
    s = NULL;
    if ((rc = s_get_str(o, path, "agb", 0, 8, &s, err, errlen)) != KR_OK)
        return rc;
    if (s != NULL && *s != '\0') {
        int v;
        if (strlen(s) != 8 || !s_digits(s, 8, &v))
            return s_fail(err, errlen, path, "agb",
                          "not an AGB code (8 digits)");
    }
    if (s != NULL)
        p->agb = (char *)s;
    return KR_OK;
}

static int
s_parse_referral(json_object *o, const char *path, struct s_build *b, char *err,
                 size_t errlen)
{
    static const char *const keys[] = {"mother",
                                       "expected_delivery_date",
                                       "reason_codes",
                                       "reason_text",
                                       "requested_service",
                                       "urgency",
                                       "referrer",
                                       NULL};
    Kr__V1__Referral *r = &b->referral;
    json_object *v;
    char sub[S_PATH_MAX];
    const char *s;
    int rc, e;

    if ((rc = s_check_keys(o, path, keys, err, errlen)) != KR_OK)
        return rc;
    if ((rc = s_get_obj(o, path, "mother", 1, &v, err, errlen)) != KR_OK)
        return rc;
    s_join(sub, path, "mother");
    if ((rc = s_parse_person(v, sub, b, err, errlen)) != KR_OK)
        return rc;
    r->mother = &b->mother;
    if ((rc = s_take_date(o, path, "expected_delivery_date",
                          &r->expected_delivery_date, err, errlen)) != KR_OK)
        return rc;

    if ((rc = s_get(o, path, "reason_codes", json_type_array, "an array", 0, &v,
                    err, errlen)) != KR_OK)
        return rc;
    if (v != NULL) {
        size_t n = json_object_array_length(v);
        if (n > S_REASON_CODES_MAX)
            return s_fail(err, errlen, path, "reason_codes",
                          "more than %d codes", S_REASON_CODES_MAX);
        b->reason_codes = xcalloc(n > 0 ? n : 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            json_object *c = json_object_array_get_idx(v, i);
            char key[32];
            snprintf(key, sizeof(key), "reason_codes[%zu]", i);
            if (c == NULL || !json_object_is_type(c, json_type_string))
                return s_fail(err, errlen, path, key,
                              "wrong type: expected a string, got %s",
                              c == NULL ? "null" : s_type_name(c));
            if ((rc = s_check_str(c, path, key, 1, S_CODE_MAX, &s, err,
                                  errlen)) != KR_OK)
                return rc;
            b->reason_codes[i] = (char *)s;
        }
        r->n_reason_codes = n;
        r->reason_codes = b->reason_codes;
    }
    if ((rc = s_take_str(o, path, "reason_text", S_TEXT_MAX, &r->reason_text,
                         err, errlen)) != KR_OK)
        return rc;
    if ((rc = s_take_str(o, path, "requested_service", S_SHORT_MAX,
                         &r->requested_service, err, errlen)) != KR_OK)
        return rc;
    e = 0;
    if ((rc = s_get_enum(o, path, "urgency", 0, priority_parse,
                         "routine, urgent", &e, err, errlen)) != KR_OK)
        return rc;
    r->urgency = (Kr__V1__Priority)e;
    if ((rc = s_get_obj(o, path, "referrer", 0, &v, err, errlen)) != KR_OK)
        return rc;
    if (v != NULL) {
        s_join(sub, path, "referrer");
        if ((rc = s_parse_professional(v, sub, &b->referrer, err, errlen)) !=
            KR_OK)
            return rc;
        r->referrer = &b->referrer;
    }
    return KR_OK;
}

/* A performer's answer: a FHIR Task status code and what goes with it. */
static int
s_parse_referral_status(json_object *o, const char *path, struct s_build *b,
                        char *err, size_t errlen)
{
    static const char *const keys[] = {"status",       "status_reason", "note",
                                       "planned_date", "contact",       NULL};
    static const char *const codes[] = {
        "received",  "accepted", "rejected",  "in-progress",      "on-hold",
        "completed", "failed",   "cancelled", "entered-in-error", NULL};
    Kr__V1__ReferralStatus *r = &b->status;
    json_object *v;
    char sub[S_PATH_MAX];
    const char *s;
    size_t i;
    int rc;

    if ((rc = s_check_keys(o, path, keys, err, errlen)) != KR_OK ||
        (rc = s_get_str(o, path, "status", 1, S_CODE_MAX, &s, err, errlen)) !=
            KR_OK)
        return rc;
    for (i = 0; codes[i] != NULL && strcmp(codes[i], s) != 0; i++)
        ;
    if (codes[i] == NULL)
        return s_fail(err, errlen, path, "status",
                      "not a FHIR Task status: received, accepted, rejected, "
                      "in-progress, on-hold, completed, failed, cancelled, "
                      "entered-in-error");
    r->status = (char *)s;
    if ((rc = s_take_str(o, path, "status_reason", S_TEXT_MAX,
                         &r->status_reason, err, errlen)) != KR_OK ||
        (rc = s_take_str(o, path, "note", S_TEXT_MAX, &r->note, err, errlen)) !=
            KR_OK ||
        (rc = s_take_date(o, path, "planned_date", &r->planned_date, err,
                          errlen)) != KR_OK ||
        (rc = s_get_obj(o, path, "contact", 0, &v, err, errlen)) != KR_OK)
        return rc;
    if (v != NULL) {
        s_join(sub, path, "contact");
        if ((rc = s_parse_professional(v, sub, &b->contact, err, errlen)) !=
            KR_OK)
            return rc;
        r->contact = &b->contact;
    }
    return KR_OK;
}

/* One party of a consent scope: "<side>_org" or "<side>_category",
 * exactly one of them. */
static int
s_parse_party(json_object *o, const char *path, const char *side, char **org,
              Kr__V1__OrgCategory *category, char *err, size_t errlen)
{
    char korg[16], kcat[16];
    const char *so = NULL, *sc = NULL;
    int rc, cat;

    snprintf(korg, sizeof(korg), "%s_org", side);
    snprintf(kcat, sizeof(kcat), "%s_category", side);
    if ((rc = s_get_str(o, path, korg, 0, KR_ORG_ID_MAX, &so, err, errlen)) !=
            KR_OK ||
        (rc = s_get_str(o, path, kcat, 0, S_CODE_MAX, &sc, err, errlen)) !=
            KR_OK)
        return rc;
    if (so != NULL && sc != NULL)
        return s_fail(err, errlen, path, kcat,
                      "not allowed together with \"%s\": a party is one "
                      "organisation or one category",
                      korg);
    if (so == NULL && sc == NULL)
        return s_fail(err, errlen, path, korg, "missing (or \"%s\")", kcat);
    if (so != NULL) {
        if (!util_org_id_valid(so))
            return s_fail(err, errlen, path, korg,
                          "not an organisation id (ura:, agb:, kvk: or oin: "
                          "and digits)");
        *org = (char *)so;
        return KR_OK;
    }
    if ((cat = util_category_parse(sc)) <= 0)
        return s_fail(err, errlen, path, kcat,
                      "must be one of: verloskunde, kraamzorg, ziekenhuis, "
                      "jgz, wijkteam, gemeente, veilig-thuis, coordinator");
    *category = (Kr__V1__OrgCategory)cat;
    return KR_OK;
}

/* valid_from or valid_until: an ISO 8601 UTC time, or a date meaning the
 * start (from) or the end (until) of that day. */
static int
s_parse_period_end(json_object *o, const char *path, const char *key,
                   int end_of_day, uint64_t *ms, char *err, size_t errlen)
{
    const char *s = NULL;
    int rc;

    if ((rc = s_get_str(o, path, key, 1, 32, &s, err, errlen)) != KR_OK)
        return rc;
    if (json_map_period_parse(s, end_of_day, ms) != KR_OK)
        return s_fail(err, errlen, path, key,
                      "not an ISO 8601 UTC time such as "
                      "2026-12-31T00:00:00Z, nor a date (YYYY-MM-DD)");
    return KR_OK;
}

/* The clear scope of a consent-grant: what the broker enforces. The
 * subject is not here: it is the description's subject_bsn, which the node
 * turns into the pseudonym. */
static int
s_parse_scope(json_object *o, const char *path, uint64_t now_ms,
              struct s_build *b, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "consent_id",    "purpose", "data_category", "from_org",
        "from_category", "to_org",  "to_category",   "valid_from",
        "valid_until",   "grantor", "supersedes",    NULL};
    Kr__V1__ConsentScope *sc = &b->scope;
    const char *s = NULL;
    int rc, e;

    if ((rc = s_check_keys(o, path, keys, err, errlen)) != KR_OK ||
        (rc = s_get_id(o, path, "consent_id", b->scope_consent_id,
                       &sc->consent_id, err, errlen)) != KR_OK ||
        (rc = s_get_code(o, path, "purpose", 1, &s, err, errlen)) != KR_OK)
        return rc;
    sc->purpose = (char *)s;
    e = 0;
    if ((rc = s_get_enum(o, path, "data_category", 1, data_category_parse,
                         "medisch, sociaal", &e, err, errlen)) != KR_OK)
        return rc;
    sc->data_category = (Kr__V1__DataCategory)e;
    if ((rc = s_parse_party(o, path, "from", &sc->from_org, &sc->from_category,
                            err, errlen)) != KR_OK ||
        (rc = s_parse_party(o, path, "to", &sc->to_org, &sc->to_category, err,
                            errlen)) != KR_OK ||
        (rc = s_parse_period_end(o, path, "valid_from", 0, &sc->valid_from_ms,
                                 err, errlen)) != KR_OK ||
        (rc = s_parse_period_end(o, path, "valid_until", 1, &sc->valid_until_ms,
                                 err, errlen)) != KR_OK)
        return rc;
    /* The broker refuses these too (invalid-scope); a file that says them
     * is a mistake best seen before anything is sent. */
    if (sc->valid_until_ms < sc->valid_from_ms)
        return s_fail(err, errlen, path, "valid_until", "before valid_from");
    if (sc->valid_until_ms <= now_ms)
        return s_fail(err, errlen, path, "valid_until", "lies in the past");
    e = 0;
    if ((rc = s_get_enum(o, path, "grantor", 1, grantor_parse,
                         "self, parent-with-authority, guardian", &e, err,
                         errlen)) != KR_OK)
        return rc;
    sc->grantor = (Kr__V1__Grantor)e;
    if ((rc = s_get_id(o, path, "supersedes", b->supersedes, &sc->supersedes,
                       err, errlen)) != KR_OK)
        return rc;
    if (sc->consent_id.len == KR_ID_LEN && sc->supersedes.len == KR_ID_LEN &&
        memcmp(b->scope_consent_id, b->supersedes, KR_ID_LEN) == 0)
        return s_fail(err, errlen, path, "supersedes",
                      "names the consent itself");
    return KR_OK;
}

/* The sealed evidence of a consent-grant: who consented, when, and where
 * the signed form is. Who and when are required. Consent given for
 * someone else (grantor other than self) must say how the authority to do
 * so was checked. */
static int
s_parse_evidence(json_object *o, const char *path, int grantor,
                 struct s_build *b, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "given_on",       "given_by_name",
        "given_by_role",  "representation_checked",
        "form_reference", "recorded_by",
        "notes",          NULL};
    Kr__V1__ConsentEvidence *ev = &b->evidence;
    const char *s = NULL;
    int rc;

    if ((rc = s_check_keys(o, path, keys, err, errlen)) != KR_OK ||
        (rc = s_get_date(o, path, "given_on", &s, err, errlen)) != KR_OK)
        return rc;
    if (s == NULL)
        return s_fail(err, errlen, path, "given_on", "missing");
    ev->given_on = (char *)s;
    s = NULL;
    if ((rc = s_get_str(o, path, "given_by_name", 1, S_SHORT_MAX, &s, err,
                        errlen)) != KR_OK)
        return rc;
    ev->given_by_name = (char *)s;
    if ((rc = s_take_str(o, path, "given_by_role", S_SHORT_MAX,
                         &ev->given_by_role, err, errlen)) != KR_OK ||
        (rc = s_take_str(o, path, "representation_checked", S_TEXT_MAX,
                         &ev->representation_checked, err, errlen)) != KR_OK ||
        (rc = s_take_str(o, path, "form_reference", S_SHORT_MAX,
                         &ev->form_reference, err, errlen)) != KR_OK ||
        (rc = s_take_str(o, path, "recorded_by", S_SHORT_MAX, &ev->recorded_by,
                         err, errlen)) != KR_OK ||
        (rc = s_take_str(o, path, "notes", S_TEXT_MAX, &ev->notes, err,
                         errlen)) != KR_OK)
        return rc;
    if (grantor != KR__V1__GRANTOR__SELF && *ev->representation_checked == '\0')
        return s_fail(err, errlen, path, "representation_checked",
                      "missing (grantor %s needs it)", grantor_name(grantor));
    return KR_OK;
}

/* A consent-grant: the scope in clear, the evidence sealed, the subject's
 * BSN for the pseudonym. */
static int
s_parse_grant(json_object *in, uint64_t now_ms, struct s_build *b, char *err,
              size_t errlen)
{
    Kr__V1__SendRequest *sr = &b->send;
    Kr__V1__ConsentScope *sc = &b->scope;
    json_object *v;
    int rc;

    if ((rc = s_get_obj(in, "", "consent_scope", 0, &v, err, errlen)) != KR_OK)
        return rc;
    if (sr->type != KR__V1__MESSAGE_TYPE__CONSENT_GRANT) {
        if (v != NULL)
            return s_fail(err, errlen, "", "consent_scope",
                          "only in a message of type consent-grant");
        if (json_object_object_get_ex(in, "consent_evidence", NULL))
            return s_fail(err, errlen, "", "consent_evidence",
                          "only in a message of type consent-grant");
        return KR_OK;
    }
    if (v == NULL)
        return s_fail(err, errlen, "", "consent_scope",
                      "missing (a consent-grant needs one)");
    if ((rc = s_parse_scope(v, "consent_scope", now_ms, b, err, errlen)) !=
        KR_OK)
        return rc;
    if (sr->subject_bsn == NULL || *sr->subject_bsn == '\0')
        return s_fail(err, errlen, "", "subject_bsn",
                      "missing (a consent-grant needs the subject's BSN)");
    /* The envelope's consent_id, purpose and category are the scope's: the
     * description may repeat them, not contradict them. */
    if (sr->consent_id.len == KR_ID_LEN && sc->consent_id.len == KR_ID_LEN &&
        memcmp(b->consent_id, b->scope_consent_id, KR_ID_LEN) != 0)
        return s_fail(err, errlen, "consent_scope", "consent_id",
                      "differs from consent_id");
    if (sr->purpose != NULL && *sr->purpose != '\0' &&
        strcmp(sr->purpose, sc->purpose) != 0)
        return s_fail(err, errlen, "", "purpose",
                      "differs from consent_scope.purpose");
    if (sr->data_category != 0 && sr->data_category != sc->data_category)
        return s_fail(err, errlen, "", "data_category",
                      "differs from consent_scope.data_category");
    if ((rc = s_get_obj(in, "", "consent_evidence", 0, &v, err, errlen)) !=
        KR_OK)
        return rc;
    if (v == NULL)
        return s_fail(err, errlen, "", "consent_evidence",
                      "missing (a consent-grant needs one)");
    if (json_object_object_get_ex(in, "referral", NULL) ||
        json_object_object_get_ex(in, "referral_status", NULL) ||
        json_object_object_get_ex(in, "opaque", NULL))
        return s_fail(err, errlen, "", "consent_evidence",
                      "not allowed together with \"referral\", "
                      "\"referral_status\" or \"opaque\"");
    if ((rc = s_parse_evidence(v, "consent_evidence", (int)sc->grantor, b, err,
                               errlen)) != KR_OK)
        return rc;
    sr->consent_scope = sc;
    b->content.version = KR__V1__VERSION__VERSION_1;
    b->content.body_case = KR__V1__CONTENT__BODY_CONSENT_EVIDENCE;
    b->content.consent_evidence = &b->evidence;
    return KR_OK;
}

/* The clear envelope fields of the description. */
static int
s_parse_envelope(json_object *in, uint64_t now_ms, struct s_build *b, char *err,
                 size_t errlen)
{
    Kr__V1__SendRequest *sr = &b->send;
    const char *s;
    int rc, e;

    e = KR__V1__MESSAGE_TYPE__REFERRAL;
    if ((rc = s_get_enum(in, "", "type", 0, message_type_parse,
                         "referral, referral-status, supplement, handover, "
                         "subject-link, signal, communication, "
                         "consent-grant, consent-revoke, erasure-request",
                         &e, err, errlen)) != KR_OK)
        return rc;
    sr->type = (Kr__V1__MessageType)e;

    s = NULL;
    if ((rc = s_get_str(in, "", "recipient", 1, KR_ORG_ID_MAX, &s, err,
                        errlen)) != KR_OK)
        return rc;
    if (!util_org_id_valid(s))
        return s_fail(err, errlen, "", "recipient",
                      "not an organisation id (ura:, agb:, kvk: or oin: "
                      "and digits)");
    sr->recipient = (char *)s;

    if ((rc = s_get_id(in, "", "msg_id", b->msg_id, &sr->msg_id, err,
                       errlen)) != KR_OK ||
        (rc = s_get_id(in, "", "referral_id", b->referral_id, &sr->referral_id,
                       err, errlen)) != KR_OK ||
        (rc = s_get_id(in, "", "case_id", b->case_id, &sr->case_id, err,
                       errlen)) != KR_OK ||
        (rc = s_get_id(in, "", "in_reply_to", b->in_reply_to, &sr->in_reply_to,
                       err, errlen)) != KR_OK)
        return rc;

    s = NULL;
    if ((rc = s_get_str(in, "", "subject_bsn", 0, 9, &s, err, errlen)) != KR_OK)
        return rc;
    if (s != NULL && !kcrypto_bsn_valid(s))
        return s_fail(err, errlen, "", "subject_bsn",
                      "not a BSN (9 digits that pass the eleven-test)");
    if (s != NULL)
        sr->subject_bsn = (char *)s;

    s = NULL;
    if ((rc = s_get_code(in, "", "purpose", 0, &s, err, errlen)) != KR_OK)
        return rc;
    if (s != NULL)
        sr->purpose = (char *)s;
    e = 0;
    if ((rc = s_get_enum(in, "", "data_category", 0, data_category_parse,
                         "medisch, sociaal", &e, err, errlen)) != KR_OK)
        return rc;
    sr->data_category = (Kr__V1__DataCategory)e;
    e = 0;
    if ((rc = s_get_enum(in, "", "legal_basis", 0, legal_basis_parse,
                         "consent, meldrecht", &e, err, errlen)) != KR_OK)
        return rc;
    sr->legal_basis = (Kr__V1__LegalBasis)e;

    if ((rc = s_get_id(in, "", "consent_id", b->consent_id, &sr->consent_id,
                       err, errlen)) != KR_OK)
        return rc;

    e = 0;
    if ((rc = s_get_enum(in, "", "priority", 0, priority_parse,
                         "routine, urgent", &e, err, errlen)) != KR_OK)
        return rc;
    sr->priority = (Kr__V1__Priority)e;

    s = NULL;
    if ((rc = s_get_str(in, "", "not_after", 0, 32, &s, err, errlen)) != KR_OK)
        return rc;
    if (s != NULL) {
        if (json_map_time_parse(s, &sr->not_after_ms) != KR_OK)
            return s_fail(err, errlen, "", "not_after",
                          "not an ISO 8601 UTC time such as "
                          "2026-12-31T00:00:00Z");
        if (sr->not_after_ms <= now_ms)
            return s_fail(err, errlen, "", "not_after", "lies in the past");
    }

    s = NULL;
    if ((rc = s_get_str(in, "", "actor_ref", 0, S_ACTOR_REF_MAX, &s, err,
                        errlen)) != KR_OK)
        return rc;
    if (s != NULL) {
        sr->actor_ref.data = (uint8_t *)s;
        sr->actor_ref.len = strlen(s);
    }
    return KR_OK;
}

/* The sealed part: "referral" or "opaque", and the subject's BSN. */
static int
s_parse_content(json_object *in, struct s_build *b, char *err, size_t errlen)
{
    Kr__V1__SendRequest *sr = &b->send;
    json_object *ref, *opq, *st;
    const char *s = NULL;
    int rc;

    if ((rc = s_get_obj(in, "", "referral_status", 0, &st, err, errlen)) !=
        KR_OK)
        return rc;
    if (st != NULL) {
        if (json_object_object_length(in) > 0 &&
            (json_object_object_get_ex(in, "referral", NULL) ||
             json_object_object_get_ex(in, "opaque", NULL)))
            return s_fail(err, errlen, "", "referral_status",
                          "not allowed together with \"referral\" or "
                          "\"opaque\"");
        if (sr->type != KR__V1__MESSAGE_TYPE__REFERRAL_STATUS)
            return s_fail(err, errlen, "", "referral_status",
                          "only in a message of type referral-status");
        if ((rc = s_parse_referral_status(st, "referral_status", b, err,
                                          errlen)) != KR_OK)
            return rc;
        b->content.version = KR__V1__VERSION__VERSION_1;
        b->content.body_case = KR__V1__CONTENT__BODY_REFERRAL_STATUS;
        b->content.referral_status = &b->status;
        return KR_OK;
    }
    if ((rc = s_get_obj(in, "", "referral", 0, &ref, err, errlen)) != KR_OK ||
        (rc = s_get(in, "", "opaque", json_type_string, "a string", 0, &opq,
                    err, errlen)) != KR_OK)
        return rc;
    if (ref != NULL && opq != NULL)
        return s_fail(err, errlen, "", "opaque",
                      "not allowed together with \"referral\"");
    if (ref == NULL && sr->type == KR__V1__MESSAGE_TYPE__REFERRAL)
        return s_fail(err, errlen, "", "referral",
                      "missing (a message of type referral needs one)");
    b->content.version = KR__V1__VERSION__VERSION_1;
    if (ref != NULL) {
        if ((rc = s_parse_referral(ref, "referral", b, err, errlen)) != KR_OK)
            return rc;
        b->content.body_case = KR__V1__CONTENT__BODY_REFERRAL;
        b->content.referral = &b->referral;
        /* The referral is about the mother: her BSN is the subject the
         * node turns into the pseudonym. */
        if (sr->subject_bsn != NULL && *sr->subject_bsn != '\0' &&
            strcmp(sr->subject_bsn, b->mother.bsn) != 0)
            return s_fail(err, errlen, "", "subject_bsn",
                          "differs from referral.mother.bsn");
        sr->subject_bsn = b->mother.bsn;
    } else if (opq != NULL) {
        if ((rc = s_check_str(opq, "", "opaque", 0, S_OPAQUE_MAX, &s, err,
                              errlen)) != KR_OK)
            return rc;
        b->content.body_case = KR__V1__CONTENT__BODY_OPAQUE;
        b->content.opaque.data = (uint8_t *)s;
        b->content.opaque.len = strlen(s);
    }
    return KR_OK;
}

/* The meldrecht's sealed justification: required with that legal basis,
 * and only there (elsewhere it would be sealed text nobody asked for). */
static int
s_parse_justification(json_object *in, struct s_build *b, char *err,
                      size_t errlen)
{
    const char *s = NULL;
    int rc;

    if ((rc = s_get_str(in, "", "justification", 0, S_TEXT_MAX, &s, err,
                        errlen)) != KR_OK)
        return rc;
    if (b->send.legal_basis != KR__V1__LEGAL_BASIS__MELDRECHT) {
        if (s != NULL)
            return s_fail(err, errlen, "", "justification",
                          "only with legal_basis meldrecht");
        return KR_OK;
    }
    if (s == NULL || *s == '\0')
        return s_fail(err, errlen, "", "justification",
                      s == NULL ? "missing (meldrecht needs one)"
                                : "empty (meldrecht needs one)");
    b->content.justification = (char *)s;
    return KR_OK;
}

int
json_map_send_parse(json_object *in, uint64_t now_ms, uint8_t **req,
                    size_t *req_len, char *err, size_t errlen)
{
    static const char *const keys[] = {"type",
                                       "recipient",
                                       "msg_id",
                                       "referral_id",
                                       "case_id",
                                       "in_reply_to",
                                       "subject_bsn",
                                       "purpose",
                                       "data_category",
                                       "legal_basis",
                                       "consent_id",
                                       "priority",
                                       "not_after",
                                       "actor_ref",
                                       "referral",
                                       "opaque",
                                       "referral_status",
                                       "consent_scope",
                                       "consent_evidence",
                                       "justification",
                                       NULL};
    struct s_build *b;
    int rc;

    *req = NULL;
    *req_len = 0;
    if (in == NULL || !json_object_is_type(in, json_type_object))
        return s_fail(err, errlen, NULL, NULL,
                      "wrong type: expected an object, got %s",
                      in == NULL ? "null" : s_type_name(in));
    b = xcalloc(1, sizeof(*b));
    kr__v1__local_request__init(&b->lreq);
    kr__v1__send_request__init(&b->send);
    kr__v1__content__init(&b->content);
    kr__v1__referral__init(&b->referral);
    kr__v1__person__init(&b->mother);
    kr__v1__address__init(&b->address);
    kr__v1__professional__init(&b->referrer);
    kr__v1__referral_status__init(&b->status);
    kr__v1__professional__init(&b->contact);
    kr__v1__consent_scope__init(&b->scope);
    kr__v1__consent_evidence__init(&b->evidence);

    if ((rc = s_check_keys(in, "", keys, err, errlen)) != KR_OK ||
        (rc = s_parse_envelope(in, now_ms, b, err, errlen)) != KR_OK ||
        (rc = s_parse_grant(in, now_ms, b, err, errlen)) != KR_OK ||
        (rc = s_parse_content(in, b, err, errlen)) != KR_OK ||
        (rc = s_parse_justification(in, b, err, errlen)) != KR_OK)
        goto done;
    if (b->send.type == KR__V1__MESSAGE_TYPE__CONSENT_REVOKE &&
        b->send.consent_id.len == 0) {
        rc = s_fail(err, errlen, "", "consent_id",
                    "missing (a consent-revoke names the consent)");
        goto done;
    }
    /* A referral is what consent is checked against: without purpose,
     * category and basis the broker can only refuse it. Say so now. */
    if (b->send.type == KR__V1__MESSAGE_TYPE__REFERRAL) {
        if (b->send.purpose == NULL || *b->send.purpose == '\0')
            rc = s_fail(err, errlen, "", "purpose",
                        "missing (a referral needs one)");
        else if (b->send.data_category == 0)
            rc = s_fail(err, errlen, "", "data_category",
                        "missing (a referral needs one)");
        else if (b->send.legal_basis == 0)
            rc = s_fail(err, errlen, "", "legal_basis",
                        "missing (a referral needs one)");
        if (rc != KR_OK)
            goto done;
    }

    /* A revocation needs no words: its content may be just the version
     * (the node refuses empty content, which would seal nothing). */
    if (b->content.body_case != KR__V1__CONTENT__BODY__NOT_SET ||
        *b->content.justification != '\0' ||
        b->send.type == KR__V1__MESSAGE_TYPE__CONSENT_REVOKE) {
        b->content.version = KR__V1__VERSION__VERSION_1;
        b->content_len = kr__v1__content__get_packed_size(&b->content);
        b->content_buf = xmalloc(b->content_len > 0 ? b->content_len : 1);
        kr__v1__content__pack(&b->content, b->content_buf);
        b->send.content.data = b->content_buf;
        b->send.content.len = b->content_len;
    }
    b->lreq.version = KR__V1__VERSION__VERSION_1;
    b->lreq.op_case = KR__V1__LOCAL_REQUEST__OP_SEND;
    b->lreq.send = &b->send;
    *req_len = kr__v1__local_request__get_packed_size(&b->lreq);
    *req = xmalloc(*req_len > 0 ? *req_len : 1);
    kr__v1__local_request__pack(&b->lreq, *req);
    rc = KR_OK;
done:
    if (b->content_buf != NULL) {
        /* It holds the BSN and the rest in plain text. */
        explicit_bzero(b->content_buf, b->content_len);
        free(b->content_buf);
    }
    free(b->reason_codes);
    free(b);
    return rc;
}

/*
 * protobuf -> JSON
 */

static void
s_put_str(json_object *o, const char *key, const char *s)
{
    if (s != NULL && *s != '\0')
        json_object_object_add(o, key, json_object_new_string(s));
}

static void
s_put_str_or_null(json_object *o, const char *key, const char *s)
{
    json_object_object_add(
        o, key, s != NULL && *s != '\0' ? json_object_new_string(s) : NULL);
}

static json_object *
s_hex(const ProtobufCBinaryData *b)
{
    char *hex;
    json_object *j;

    if (b->len == 0)
        return NULL;
    hex = xmalloc(2 * b->len + 1);
    util_hex(b->data, b->len, hex);
    j = json_object_new_string(hex);
    free(hex);
    return j;
}

static void
s_put_hex(json_object *o, const char *key, const ProtobufCBinaryData *b)
{
    if (b->len > 0)
        json_object_object_add(o, key, s_hex(b));
}

static json_object *
s_time(uint64_t ms)
{
    char t[JSON_MAP_TIME_LEN];

    if (ms == 0 || json_map_time_format(ms, t) != KR_OK)
        return NULL;
    return json_object_new_string(t);
}

/* An enum by its name, or null for the zero value. */
static json_object *
s_enum(int v, const char *(*name)(int))
{
    return v != 0 ? json_object_new_string(name(v)) : NULL;
}

/* 1 if the bytes are UTF-8 text without NUL: only then are they shown as
 * a JSON string. */
static int
s_utf8_text(const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = p[i];
        size_t k;
        uint32_t cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF. */
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += k + 1;
    }
    return 1;
}

static json_object *
s_address_json(const Kr__V1__Address *a)
{
    json_object *o = json_object_new_object();

    s_put_str(o, "street", a->street);
    s_put_str(o, "house_number", a->house_number);
    s_put_str(o, "postal_code", a->postal_code);
    s_put_str(o, "city", a->city);
    return o;
}

static json_object *
s_person_json(const Kr__V1__Person *p)
{
    json_object *o = json_object_new_object();

    s_put_str(o, "bsn", p->bsn);
    s_put_str(o, "given_name", p->given_name);
    s_put_str(o, "family_name", p->family_name);
    s_put_str(o, "birth_date", p->birth_date);
    if (p->address != NULL)
        json_object_object_add(o, "address", s_address_json(p->address));
    s_put_str(o, "phone", p->phone);
    return o;
}

static json_object *
s_professional_json(const Kr__V1__Professional *p)
{
    json_object *o = json_object_new_object();

    s_put_str(o, "name", p->name);
    s_put_str(o, "role", p->role);
    s_put_str(o, "phone", p->phone);
    s_put_str(o, "email", p->email);
    s_put_str(o, "agb", p->agb);
    return o;
}

static json_object *
s_referral_json(const Kr__V1__Referral *r)
{
    json_object *o = json_object_new_object();

    if (r->mother != NULL)
        json_object_object_add(o, "mother", s_person_json(r->mother));
    s_put_str(o, "expected_delivery_date", r->expected_delivery_date);
    if (r->n_reason_codes > 0) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < r->n_reason_codes; i++)
            json_object_array_add(a,
                                  json_object_new_string(r->reason_codes[i]));
        json_object_object_add(o, "reason_codes", a);
    }
    s_put_str(o, "reason_text", r->reason_text);
    s_put_str(o, "requested_service", r->requested_service);
    if (r->urgency != 0)
        json_object_object_add(o, "urgency",
                               s_enum((int)r->urgency, priority_name));
    if (r->referrer != NULL)
        json_object_object_add(o, "referrer", s_professional_json(r->referrer));
    return o;
}

static json_object *
s_referral_status_json(const Kr__V1__ReferralStatus *r)
{
    json_object *o = json_object_new_object();

    s_put_str(o, "status", r->status);
    s_put_str(o, "status_reason", r->status_reason);
    s_put_str(o, "note", r->note);
    s_put_str(o, "planned_date", r->planned_date);
    if (r->contact != NULL)
        json_object_object_add(o, "contact", s_professional_json(r->contact));
    return o;
}

static json_object *
s_evidence_json(const Kr__V1__ConsentEvidence *ev)
{
    json_object *o = json_object_new_object();

    s_put_str(o, "given_on", ev->given_on);
    s_put_str(o, "given_by_name", ev->given_by_name);
    s_put_str(o, "given_by_role", ev->given_by_role);
    s_put_str(o, "representation_checked", ev->representation_checked);
    s_put_str(o, "form_reference", ev->form_reference);
    s_put_str(o, "recorded_by", ev->recorded_by);
    s_put_str(o, "notes", ev->notes);
    return o;
}

/* The body of a Content into 'o' ("referral", "referral_status",
 * "consent_evidence", "opaque" or "opaque_hex", and "justification"), so
 * that the same keys serve the inbox and the send description. */
static void
s_content_into(json_object *o, const Kr__V1__Content *c)
{
    s_put_str(o, "justification", c->justification);
    switch (c->body_case) {
    case KR__V1__CONTENT__BODY_CONSENT_EVIDENCE:
        if (c->consent_evidence != NULL)
            json_object_object_add(o, "consent_evidence",
                                   s_evidence_json(c->consent_evidence));
        break;
    case KR__V1__CONTENT__BODY_REFERRAL:
        if (c->referral != NULL)
            json_object_object_add(o, "referral", s_referral_json(c->referral));
        break;
    case KR__V1__CONTENT__BODY_REFERRAL_STATUS:
        if (c->referral_status != NULL)
            json_object_object_add(o, "referral_status",
                                   s_referral_status_json(c->referral_status));
        break;
    case KR__V1__CONTENT__BODY_OPAQUE:
        if (s_utf8_text(c->opaque.data, c->opaque.len))
            json_object_object_add(
                o, "opaque",
                json_object_new_string_len((const char *)c->opaque.data,
                                           (int)c->opaque.len));
        else
            json_object_object_add(o, "opaque_hex", s_hex(&c->opaque));
        break;
    default:
        break;
    }
}

json_object *
json_map_content_to_json(const Kr__V1__Content *c)
{
    json_object *o = json_object_new_object();

    s_content_into(o, c);
    return o;
}

/* One party of a scope: the organisation id, or else the category name
 * (the two cannot be confused: an org id has a colon). */
static json_object *
s_party(const char *org, int category)
{
    if (org != NULL && *org != '\0')
        return json_object_new_string(org);
    if (category != 0)
        return json_object_new_string(util_category_name(category));
    return NULL;
}

/* A scope as the send description writes it (with only what is set), or,
 * 'record' != 0, with every key of a ledger record. */
static json_object *
s_scope_json(const Kr__V1__ConsentScope *sc, int record)
{
    json_object *o = json_object_new_object();

    if (record) {
        json_object_object_add(o, "consent_id", s_hex(&sc->consent_id));
        json_object_object_add(o, "subject_pseudonym",
                               s_hex(&sc->subject_pseudonym));
        json_object_object_add(o, "key_version",
                               json_object_new_uint64(sc->subject_key_version));
        s_put_str_or_null(o, "purpose", sc->purpose);
        json_object_object_add(
            o, "data_category",
            s_enum((int)sc->data_category, data_category_name));
        json_object_object_add(o, "from",
                               s_party(sc->from_org, (int)sc->from_category));
        json_object_object_add(o, "to",
                               s_party(sc->to_org, (int)sc->to_category));
        json_object_object_add(o, "valid_from", s_time(sc->valid_from_ms));
        json_object_object_add(o, "valid_until", s_time(sc->valid_until_ms));
        json_object_object_add(o, "grantor",
                               s_enum((int)sc->grantor, grantor_name));
        json_object_object_add(o, "supersedes", s_hex(&sc->supersedes));
        return o;
    }
    s_put_hex(o, "consent_id", &sc->consent_id);
    s_put_str(o, "purpose", sc->purpose);
    if (sc->data_category != 0)
        json_object_object_add(
            o, "data_category",
            json_object_new_string(data_category_name(sc->data_category)));
    s_put_str(o, "from_org", sc->from_org);
    if (sc->from_category != 0)
        json_object_object_add(
            o, "from_category",
            json_object_new_string(util_category_name(sc->from_category)));
    s_put_str(o, "to_org", sc->to_org);
    if (sc->to_category != 0)
        json_object_object_add(
            o, "to_category",
            json_object_new_string(util_category_name(sc->to_category)));
    if (sc->valid_from_ms != 0)
        json_object_object_add(o, "valid_from", s_time(sc->valid_from_ms));
    if (sc->valid_until_ms != 0)
        json_object_object_add(o, "valid_until", s_time(sc->valid_until_ms));
    if (sc->grantor != 0)
        json_object_object_add(
            o, "grantor", json_object_new_string(grantor_name(sc->grantor)));
    s_put_hex(o, "supersedes", &sc->supersedes);
    return o;
}

json_object *
json_map_send_to_json(const Kr__V1__SendRequest *s, char *err, size_t errlen)
{
    Kr__V1__Content *c = NULL;
    json_object *o;
    char t[JSON_MAP_TIME_LEN];

    if (s->content.len > 0 &&
        (c = kr__v1__content__unpack(NULL, s->content.len, s->content.data)) ==
            NULL) {
        snprintf(err, errlen, "content: does not parse as kr.v1.Content");
        return NULL;
    }
    o = json_object_new_object();
    if (s->type != 0)
        json_object_object_add(
            o, "type", json_object_new_string(message_type_name(s->type)));
    s_put_str(o, "recipient", s->recipient);
    s_put_hex(o, "msg_id", &s->msg_id);
    s_put_hex(o, "referral_id", &s->referral_id);
    s_put_hex(o, "case_id", &s->case_id);
    s_put_hex(o, "in_reply_to", &s->in_reply_to);
    /* The subject of a referral is its mother; the key is only written
     * when it says something the referral does not. */
    if (s->subject_bsn != NULL && *s->subject_bsn != '\0' &&
        !(c != NULL && c->body_case == KR__V1__CONTENT__BODY_REFERRAL &&
          c->referral != NULL && c->referral->mother != NULL &&
          strcmp(c->referral->mother->bsn, s->subject_bsn) == 0))
        s_put_str(o, "subject_bsn", s->subject_bsn);
    s_put_str(o, "purpose", s->purpose);
    if (s->data_category != 0)
        json_object_object_add(
            o, "data_category",
            json_object_new_string(data_category_name(s->data_category)));
    if (s->legal_basis != 0)
        json_object_object_add(
            o, "legal_basis",
            json_object_new_string(legal_basis_name(s->legal_basis)));
    s_put_hex(o, "consent_id", &s->consent_id);
    if (s->priority != 0)
        json_object_object_add(
            o, "priority", json_object_new_string(priority_name(s->priority)));
    if (s->not_after_ms != 0 &&
        json_map_time_format(s->not_after_ms, t) == KR_OK)
        json_object_object_add(o, "not_after", json_object_new_string(t));
    if (s->actor_ref.len > 0)
        json_object_object_add(
            o, "actor_ref",
            s_utf8_text(s->actor_ref.data, s->actor_ref.len)
                ? json_object_new_string_len((const char *)s->actor_ref.data,
                                             (int)s->actor_ref.len)
                : s_hex(&s->actor_ref));
    if (s->consent_scope != NULL)
        json_object_object_add(o, "consent_scope",
                               s_scope_json(s->consent_scope, 0));
    if (c != NULL) {
        s_content_into(o, c);
        kr__v1__content__free_unpacked(c, NULL);
    }
    return o;
}

static json_object *
s_notice_json(const Kr__V1__Notice *nt)
{
    json_object *o = json_object_new_object(), *a = json_object_new_array();

    json_object_object_add(o, "kind",
                           json_object_new_string(notice_kind_name(nt->kind)));
    json_object_object_add(o, "consent_id", s_hex(&nt->consent_id));
    for (size_t i = 0; i < nt->n_msg_ids; i++)
        json_object_array_add(a, s_hex(&nt->msg_ids[i]));
    json_object_object_add(o, "msg_ids", a);
    s_put_str_or_null(o, "revoked_by", nt->revoked_by);
    json_object_object_add(o, "at", s_time(nt->at_ms));
    return o;
}

json_object *
json_map_inbox_item(const Kr__V1__InboxItem *it, int *content_ok)
{
    json_object *o = json_object_new_object();
    Kr__V1__Content *c;

    json_object_object_add(o, "msg_id", s_hex(&it->msg_id));
    json_object_object_add(o, "seq", json_object_new_uint64(it->seq));
    s_put_str_or_null(o, "sender", it->sender);
    json_object_object_add(o, "type", s_enum((int)it->type, message_type_name));
    json_object_object_add(o, "referral_id", s_hex(&it->referral_id));
    json_object_object_add(o, "case_id", s_hex(&it->case_id));
    json_object_object_add(o, "subject_pseudonym",
                           s_hex(&it->subject_pseudonym));
    s_put_str_or_null(o, "purpose", it->purpose);
    json_object_object_add(o, "data_category",
                           s_enum((int)it->data_category, data_category_name));
    json_object_object_add(o, "legal_basis",
                           s_enum((int)it->legal_basis, legal_basis_name));
    json_object_object_add(o, "priority",
                           s_enum((int)it->priority, priority_name));
    json_object_object_add(o, "created_at", s_time(it->created_at_ms));
    json_object_object_add(o, "received_at", s_time(it->received_at_ms));
    json_object_object_add(o, "processed",
                           json_object_new_boolean(it->processed));
    json_object_object_add(o, "consent_id", s_hex(&it->consent_id));
    json_object_object_add(
        o, "notice", it->notice != NULL ? s_notice_json(it->notice) : NULL);
    /* A notice comes from the broker, which has no content to give. */
    if (it->notice != NULL) {
        *content_ok = 1;
        json_object_object_add(o, "content", NULL);
        return o;
    }
    c = kr__v1__content__unpack(NULL, it->content.len, it->content.data);
    *content_ok = c != NULL;
    json_object_object_add(o, "content",
                           c != NULL ? json_map_content_to_json(c) : NULL);
    if (c != NULL)
        kr__v1__content__free_unpacked(c, NULL);
    return o;
}

json_object *
json_map_outbox_item(const Kr__V1__OutboxItem *it)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "msg_id", s_hex(&it->msg_id));
    json_object_object_add(o, "seq", json_object_new_uint64(it->seq));
    s_put_str_or_null(o, "recipient", it->recipient);
    json_object_object_add(o, "type", s_enum((int)it->type, message_type_name));
    json_object_object_add(o, "referral_id", s_hex(&it->referral_id));
    json_object_object_add(o, "created_at", s_time(it->created_at_ms));
    json_object_object_add(
        o, "outcome", json_object_new_string(outcome_name((int)it->outcome)));
    json_object_object_add(o, "reason", s_enum((int)it->reason, reason_name));
    s_put_str_or_null(o, "detail", it->detail);
    json_object_object_add(o, "accepted_at", s_time(it->accepted_at_ms));
    json_object_object_add(o, "final_at", s_time(it->final_at_ms));
    return o;
}

static json_object *
s_key_z85(const ProtobufCBinaryData *k)
{
    char z85[KR_Z85_KEY_LEN];

    if (k->len != KR_KEY_LEN || kcrypto_z85_encode(k->data, z85) != KR_OK)
        return NULL;
    return json_object_new_string(z85);
}

static json_object *
s_key_id(const ProtobufCBinaryData *k)
{
    char id[KR_KEY_ID_LEN];

    if (k->len != KR_KEY_LEN)
        return NULL;
    kcrypto_key_id(k->data, id);
    return json_object_new_string(id);
}

json_object *
json_map_org(const Kr__V1__OrgEntry *e)
{
    json_object *o = json_object_new_object();

    s_put_str_or_null(o, "org_id", e->org_id);
    json_object_object_add(
        o, "category",
        e->category != 0
            ? json_object_new_string(util_category_name((int)e->category))
            : NULL);
    s_put_str_or_null(o, "name", e->name);
    json_object_object_add(
        o, "status",
        json_object_new_string(e->suspended ? "suspended" : "active"));
    json_object_object_add(o, "curve_public", s_key_z85(&e->curve_public));
    json_object_object_add(o, "box_public", s_key_z85(&e->box_public));
    json_object_object_add(o, "sign_public", s_key_z85(&e->sign_public));
    json_object_object_add(o, "curve_key_id", s_key_id(&e->curve_public));
    json_object_object_add(o, "box_key_id", s_key_id(&e->box_public));
    json_object_object_add(o, "sign_key_id", s_key_id(&e->sign_public));
    json_object_object_add(o, "added_at", s_time(e->added_at_ms));
    json_object_object_add(o, "changed_at", s_time(e->changed_at_ms));
    return o;
}

json_object *
json_map_queue(const Kr__V1__QueueStat *q)
{
    json_object *o = json_object_new_object();

    s_put_str_or_null(o, "org_id", q->org_id);
    json_object_object_add(o, "depth", json_object_new_uint64(q->depth));
    json_object_object_add(o, "oldest_age_ms",
                           json_object_new_uint64(q->oldest_age_ms));
    json_object_object_add(o, "connected",
                           json_object_new_boolean(q->connected));
    json_object_object_add(o, "inflight", json_object_new_uint64(q->inflight));
    return o;
}

json_object *
json_map_status(const Kr__V1__NodeStatus *st)
{
    json_object *o = json_object_new_object();

    s_put_str_or_null(o, "org_id", st->org_id);
    json_object_object_add(o, "connected",
                           json_object_new_boolean(st->connected));
    json_object_object_add(o, "outbox_pending",
                           json_object_new_uint64(st->outbox_pending));
    json_object_object_add(o, "outbox_open",
                           json_object_new_uint64(st->outbox_open));
    json_object_object_add(o, "inbox_unprocessed",
                           json_object_new_uint64(st->inbox_unprocessed));
    return o;
}

json_object *
json_map_consent_record(const Kr__V1__ConsentRecord *r)
{
    Kr__V1__ConsentScope empty = KR__V1__CONSENT_SCOPE__INIT;
    json_object *o = s_scope_json(r->scope != NULL ? r->scope : &empty, 1);

    json_object_object_add(o, "status",
                           s_enum((int)r->status, consent_status_name));
    s_put_str_or_null(o, "recorded_by", r->recorded_by);
    json_object_object_add(o, "recorded_at", s_time(r->recorded_at_ms));
    json_object_object_add(o, "grant_msg_id", s_hex(&r->grant_msg_id));
    json_object_object_add(o, "ended_at", s_time(r->ended_at_ms));
    s_put_str_or_null(o, "ended_by", r->ended_by);
    json_object_object_add(o, "superseded_by", s_hex(&r->superseded_by));
    return o;
}

json_object *
json_map_audit_record(const Kr__V1__AuditRecord *r)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "seq", json_object_new_uint64(r->seq));
    json_object_object_add(o, "at", s_time(r->at_ms));
    s_put_str_or_null(o, "event", r->event);
    s_put_str_or_null(o, "action", r->action);
    s_put_str_or_null(o, "result", r->result);
    s_put_str_or_null(o, "check", r->check);
    s_put_str_or_null(o, "org_id", r->org_id);
    json_object_object_add(o, "actor_ref", s_hex(&r->actor_ref));
    json_object_object_add(o, "msg_id", s_hex(&r->msg_id));
    json_object_object_add(o, "referral_id", s_hex(&r->referral_id));
    json_object_object_add(o, "consent_id", s_hex(&r->consent_id));
    json_object_object_add(o, "subject_pseudonym",
                           s_hex(&r->subject_pseudonym));
    s_put_str_or_null(o, "object", r->object);
    s_put_str_or_null(o, "purpose", r->purpose);
    json_object_object_add(o, "legal_basis",
                           s_enum((int)r->legal_basis, legal_basis_name));
    json_object_object_add(o, "noodknop", json_object_new_boolean(r->noodknop));
    json_object_object_add(o, "reason", s_enum((int)r->reason, reason_name));
    s_put_str_or_null(o, "detail", r->detail);
    s_put_str_or_null(o, "instance", r->instance);
    json_object_object_add(o, "message_type",
                           s_enum((int)r->message_type, message_type_name));
    json_object_object_add(o, "data_category",
                           s_enum((int)r->data_category, data_category_name));
    json_object_object_add(o, "prev_hash", s_hex(&r->prev_hash));
    json_object_object_add(o, "hash", s_hex(&r->hash));
    return o;
}
