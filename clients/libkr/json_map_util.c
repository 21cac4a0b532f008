/* json_map_util.c - what the parts of json_map share: error messages that
 * name the path, checked getters for the keys of a description, dates and
 * times, and the strict JSON text parser. See json_map.h and
 * json_map_internal.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "json_map_internal.h"
#include "json_map_oom.h"
#include "util.h"

/* The real adders below, not json_map_oom.h's. */
#undef json_object_object_add
#undef json_object_array_add

/*
 * Errors
 */

void
jm_join(char out[JM_PATH_MAX], const char *path, const char *key)
{
    int n;

    if (path == NULL || *path == '\0')
        n = snprintf(out, JM_PATH_MAX, "%s", key);
    else
        n = snprintf(out, JM_PATH_MAX, "%s.%s", path, key);
    /* Our paths are a few words deep; a cut one still names the place. */
    if (n < 0)
        out[0] = '\0';
}

int
jm_fail(char *err, size_t errlen, const char *path, const char *key,
        const char *fmt, ...)
{
    char where[JM_PATH_MAX], msg[256];
    va_list ap;

    if (key != NULL)
        jm_join(where, path, key);
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

const char *
jm_type_name(json_object *v)
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

int
jm_check_keys(json_object *o, const char *path, const char *const *allowed,
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
            return jm_fail(err, errlen, path, shown, "unknown key");
        }
    }
    return KR_OK;
}

/*
 * Reading values
 */

int
jm_get(json_object *o, const char *path, const char *key, json_type want,
       const char *want_name, int required, json_object **out, char *err,
       size_t errlen)
{
    json_object *v = NULL;

    *out = NULL;
    if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
        if (required)
            return jm_fail(err, errlen, path, key, "missing");
        return KR_OK;
    }
    if (!json_object_is_type(v, want))
        return jm_fail(err, errlen, path, key,
                       "wrong type: expected %s, got %s", want_name,
                       jm_type_name(v));
    *out = v;
    return KR_OK;
}

int
jm_check_str(json_object *v, const char *path, const char *key, int required,
             size_t max, const char **out, char *err, size_t errlen)
{
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);

    if (strlen(s) != len)
        return jm_fail(err, errlen, path, key, "contains a NUL character");
    if (len > max)
        return jm_fail(err, errlen, path, key, "longer than %zu bytes", max);
    if (required && len == 0)
        return jm_fail(err, errlen, path, key, "empty");
    *out = s;
    return KR_OK;
}

int
jm_get_str(json_object *o, const char *path, const char *key, int required,
           size_t max, const char **out, char *err, size_t errlen)
{
    json_object *v;
    int rc;

    if ((rc = jm_get(o, path, key, json_type_string, "a string", required, &v,
                     err, errlen)) != KR_OK ||
        v == NULL)
        return rc;
    return jm_check_str(v, path, key, required, max, out, err, errlen);
}

int
jm_get_obj(json_object *o, const char *path, const char *key, int required,
           json_object **out, char *err, size_t errlen)
{
    return jm_get(o, path, key, json_type_object, "an object", required, out,
                  err, errlen);
}

int
jm_get_code(json_object *o, const char *path, const char *key, int required,
            const char **out, char *err, size_t errlen)
{
    const char *s = NULL;
    int rc;

    if ((rc = jm_get_str(o, path, key, required, JM_CODE_MAX, &s, err,
                         errlen)) != KR_OK ||
        s == NULL || *s == '\0')
        return rc;
    for (const char *p = s; *p != '\0'; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                 (p > s && (*p == '-' || *p == '.'));
        if (!ok)
            return jm_fail(err, errlen, path, key,
                           "not a code: use lower-case letters, digits, '-' "
                           "and '.'");
    }
    *out = s;
    return KR_OK;
}

int
jm_get_enum(json_object *o, const char *path, const char *key, int required,
            int (*parse)(const char *), const char *choices, int *out,
            char *err, size_t errlen)
{
    const char *s = NULL;
    int rc, v;

    if ((rc = jm_get_str(o, path, key, required, JM_CODE_MAX, &s, err,
                         errlen)) != KR_OK ||
        s == NULL)
        return rc;
    if ((v = parse(s)) <= 0)
        return jm_fail(err, errlen, path, key, "must be one of: %s", choices);
    *out = v;
    return KR_OK;
}

int
jm_get_id(json_object *o, const char *path, const char *key,
          uint8_t id[KR_ID_LEN], ProtobufCBinaryData *out, char *err,
          size_t errlen)
{
    const char *s = NULL;
    int rc;

    if ((rc = jm_get_str(o, path, key, 0, 2 * KR_ID_LEN, &s, err, errlen)) !=
            KR_OK ||
        s == NULL)
        return rc;
    if (util_unhex(s, id, KR_ID_LEN) != KR_OK)
        return jm_fail(err, errlen, path, key, "not an id of 32 hex digits");
    out->data = id;
    out->len = KR_ID_LEN;
    return KR_OK;
}

int
jm_get_date(json_object *o, const char *path, const char *key, const char **out,
            char *err, size_t errlen)
{
    const char *s = NULL;
    int rc;

    if ((rc = jm_get_str(o, path, key, 0, 10, &s, err, errlen)) != KR_OK ||
        s == NULL)
        return rc;
    if (!json_map_date_valid(s))
        return jm_fail(err, errlen, path, key, "not a date (YYYY-MM-DD)");
    *out = s;
    return KR_OK;
}

int
jm_take_str(json_object *o, const char *path, const char *key, size_t max,
            char **field, char *err, size_t errlen)
{
    const char *s = NULL;
    int rc = jm_get_str(o, path, key, 0, max, &s, err, errlen);

    if (rc == KR_OK && s != NULL)
        *field = (char *)s;
    return rc;
}

int
jm_take_date(json_object *o, const char *path, const char *key, char **field,
             char *err, size_t errlen)
{
    const char *s = NULL;
    int rc = jm_get_date(o, path, key, &s, err, errlen);

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

int
jm_digits(const char *s, int n, int *out)
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
        !jm_digits(s, 4, y) || !jm_digits(s + 5, 2, m) ||
        !jm_digits(s + 8, 2, d))
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
        s[10] != 'T' || strnlen(s, 20) < 19 || !jm_digits(s + 11, 2, &h) ||
        s[13] != ':' || !jm_digits(s + 14, 2, &mi) || s[16] != ':' ||
        !jm_digits(s + 17, 2, &sec) || h > 23 || mi > 59 || sec > 59)
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
json_map_relative_parse(const char *s, uint64_t now_ms, int end_of_day,
                        uint64_t *ms)
{
    uint64_t today = now_ms / 86400000u, days = 0;
    int sign = 0;
    size_t i = 5;

    if (s == NULL || strncmp(s, "today", 5) != 0)
        return KR_ENOTFOUND;
    if (s[5] == '+' || s[5] == '-') {
        sign = s[5] == '+' ? 1 : -1;
        /* One to five digits and a 'd': at most 99999 days. */
        for (i = 6; s[i] >= '0' && s[i] <= '9' && i < 11; i++)
            days = days * 10 + (uint64_t)(s[i] - '0');
        if (i == 6 || s[i] != 'd')
            return KR_EINVAL;
        i++;
    }
    if (s[i] != '\0' || (sign < 0 && days > today))
        return KR_EINVAL;
    today = sign < 0 ? today - days : today + days;
    *ms = today * 86400000u + (end_of_day ? 86399999u : 0u);
    return KR_OK;
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
 * Out of memory (json_map_oom.h)
 */

int
jm_object_add(json_object *o, const char *key, json_object *v)
{
    /* Not a key of ours: every key we write is a word. */
    static const char probe[] = "\x01jm-grow";

    if (o == NULL || !json_object_is_type(o, json_type_object))
        goto fail;
    /* json-c (0.16) copies a new key, then grows the table for it, and
     * when the growing fails it returns -1 and leaks the copy. A key it
     * does not copy (constant) goes first, so that the table has grown
     * (or failed to, leaking nothing) before the real key is copied. */
    if (!json_object_object_get_ex(o, key, NULL)) {
        if (json_object_object_add_ex(o, probe, NULL,
                                      JSON_C_OBJECT_ADD_CONSTANT_KEY) != 0)
            goto fail;
        json_object_object_del(o, probe);
    }
    if (json_object_object_add(o, key, v) != 0)
        goto fail;
    return 0;
fail:
    json_object_put(v);
    errno = ENOMEM;
    return -1;
}

int
jm_array_add(json_object *a, json_object *v)
{
    if (a == NULL || !json_object_is_type(a, json_type_array) ||
        json_object_array_add(a, v) != 0) {
        json_object_put(v);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/*
 * Text
 */

/* json-c 0.16 takes 'single-quoted' strings even in strict mode; RFC 8259
 * does not, and a description that only json-c reads would be refused by
 * every other JSON reader. Outside a string a quote mark is never JSON:
 * the offset of the first one, or len. */
static size_t
s_single_quote_at(const char *text, size_t len)
{
    bool in = false;

    for (size_t i = 0; i < len; i++) {
        if (in) {
            if (text[i] == '\\')
                i++;
            else if (text[i] == '"')
                in = false;
        } else if (text[i] == '"') {
            in = true;
        } else if (text[i] == '\'') {
            return i;
        }
    }
    return len;
}

int
json_map_parse_text(const char *text, size_t len, json_object **out, char *err,
                    size_t errlen)
{
    json_tokener *tok;
    json_object *j;
    enum json_tokener_error e;
    size_t used, quote, line = 1, col = 1;
    const char *why;

    *out = NULL;
    if (len > (size_t)INT32_MAX) {
        snprintf(err, errlen, "input too large");
        return KR_EINVAL;
    }
    quote = s_single_quote_at(text, len);
    /* json-c (0.16) does not report every failed allocation of its parser
     * (a string that cannot grow is cut short, a key that cannot be added
     * left out), but the malloc behind it leaves errno at ENOMEM. */
    errno = 0;
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
    if (errno == ENOMEM || (j == NULL && e == json_tokener_success)) {
        json_object_put(j);
        json_tokener_free(tok);
        snprintf(err, errlen, "out of memory");
        return KR_ENOMEM;
    }
    /* Anything but white space after the value is an error too: a second
     * object glued to the first is a mistake, not something to ignore. */
    if (j != NULL && e == json_tokener_success) {
        size_t i = used;
        while (i < len && strchr(" \t\r\n", text[i]) != NULL)
            i++;
        if (i == len && quote == len) {
            json_tokener_free(tok);
            *out = j;
            return KR_OK;
        }
        used = i;
    }
    why = e == json_tokener_success    ? "text after the JSON value"
          : e == json_tokener_continue ? "unexpected end of input"
                                       : json_tokener_error_desc(e);
    /* The first mistake is the one reported: a quote mark at or before
     * where json-c stopped. */
    if (quote < len && quote <= used) {
        used = quote;
        why = "single-quoted string (JSON strings take double quotes)";
    }
    for (size_t i = 0; i < used && i < len; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(err, errlen, "line %zu, column %zu: %s", line, col, why);
    json_object_put(j);
    json_tokener_free(tok);
    return KR_EINVAL;
}
