/*
 * routes.c - the routes file; see routes.h and PROTOCOL.md "Routes".
 *
 *   # comment
 *   [route prenataal-huisbezoek]
 *   from = verloskunde, ziekenhuis
 *   to = jgz
 *   data_category = medisch
 *   legal_basis = consent
 *   coordinator = ura:00009999
 *   t_ack = 1 workday
 *   t_decide = 5 workdays, 10 workdays
 *   t_contact = 10 workdays
 *   t_handover = 8 days, 10 days, 14 days
 *   signal_lifetime = 730 days
 *   signal_basis = consent
 *   match_coordinator = yes
 *
 * Every error names the file and the line. A route leaves out a timer to
 * take its default (DESIGN.md) or says "none" to have none.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "names.h"
#include "routes.h"
#include "workdays.h"

#define S_MAX_ROUTES 256
#define S_LINE_MAX 1024

static struct routes *s_active;

static int s_err(char *err, size_t errlen, const char *path, unsigned line,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
s_err(char *err, size_t errlen, const char *path, unsigned line,
      const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(err, errlen, "%s:%u: ", path, line);

    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return KR_ECONFIG;
}

static char *
s_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* "verloskunde, ziekenhuis" -> a mask; the bad word in *bad. */
static int
s_categories(char *v, uint32_t *mask, const char **bad)
{
    *mask = 0;
    for (char *save = NULL, *w = strtok_r(v, ",", &save); w != NULL;
         w = strtok_r(NULL, ",", &save)) {
        w = s_trim(w);
        int c = util_category_parse(w);
        if (c <= 0 || c >= 32) {
            *bad = w;
            return -1;
        }
        *mask |= 1u << c;
    }
    return *mask != 0 ? 0 : -1;
}

/* "5 workdays" (also "1 workday", "2 hours", "8 days", "2 seconds"), or
 * "none". */
static int
s_span(char *w, struct route_span *s)
{
    char unit[16];
    unsigned long long n;
    int used = 0;

    w = s_trim(w);
    if (strcmp(w, "none") == 0) {
        s->n = 0;
        s->unit = ROUTE_UNIT_NONE;
        return 0;
    }
    if (sscanf(w, "%llu %15s%n", &n, unit, &used) != 2 || w[used] != '\0' ||
        n == 0 || n > 100000)
        return -1;
    static const struct {
        const char *one, *many;
        enum route_unit u;
    } units[] = {
        {"second", "seconds", ROUTE_UNIT_SECONDS},
        {"hour", "hours", ROUTE_UNIT_HOURS},
        {"day", "days", ROUTE_UNIT_DAYS},
        {"workday", "workdays", ROUTE_UNIT_WORKDAYS},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(unit, units[i].one) == 0 ||
            strcmp(unit, units[i].many) == 0) {
            s->n = n;
            s->unit = units[i].u;
            return 0;
        }
    return -1;
}

/* One to 'max' spans, comma separated; each later one no earlier. */
static int
s_spans(char *v, struct route_span *out, size_t max, size_t *n)
{
    *n = 0;
    for (char *save = NULL, *w = strtok_r(v, ",", &save); w != NULL;
         w = strtok_r(NULL, ",", &save)) {
        if (*n == max || s_span(w, &out[*n]) != 0)
            return -1;
        (*n)++;
    }
    return *n > 0 ? 0 : -1;
}

static void
s_defaults(struct route *r)
{
    memset(r, 0, sizeof(*r));
    r->legal_mask = 1u << KR__V1__LEGAL_BASIS__CONSENT;
    r->ack = (struct route_span){1, ROUTE_UNIT_WORKDAYS};
    r->decide[0] = (struct route_span){5, ROUTE_UNIT_WORKDAYS};
    r->decide[1] = (struct route_span){10, ROUTE_UNIT_WORKDAYS};
    r->contact = (struct route_span){10, ROUTE_UNIT_WORKDAYS};
    r->handover[0] = (struct route_span){8, ROUTE_UNIT_DAYS};
    r->handover[1] = (struct route_span){10, ROUTE_UNIT_DAYS};
    r->handover[2] = (struct route_span){14, ROUTE_UNIT_DAYS};
    r->signal_lifetime = (struct route_span){730, ROUTE_UNIT_DAYS};
}

static int
s_finish(const struct route *r, const char *path, char *err, size_t errlen)
{
    if (r->from_mask == 0)
        return s_err(err, errlen, path, r->line,
                     "route %s: no \"from\" categories", r->purpose);
    if (r->to_mask == 0)
        return s_err(err, errlen, path, r->line,
                     "route %s: no \"to\" categories", r->purpose);
    return KR_OK;
}

static int
s_key(struct route *r, const char *key, char *val, const char *path,
      unsigned line, char *err, size_t errlen)
{
    const char *bad = NULL;
    size_t n;

    if (strcmp(key, "from") == 0 || strcmp(key, "to") == 0) {
        uint32_t *m = key[0] == 'f' ? &r->from_mask : &r->to_mask;
        if (s_categories(val, m, &bad) != 0)
            return s_err(err, errlen, path, line,
                         "%s: \"%s\" is not an organisation category "
                         "(verloskunde, kraamzorg, ziekenhuis, jgz, "
                         "wijkteam, gemeente, veilig-thuis, coordinator)",
                         key, bad ? bad : "");
        return KR_OK;
    }
    if (strcmp(key, "data_category") == 0) {
        int c = data_category_parse(val);
        if (c <= 0)
            return s_err(err, errlen, path, line,
                         "data_category: \"%s\" is not medisch or sociaal",
                         val);
        r->data_category = c;
        return KR_OK;
    }
    if (strcmp(key, "legal_basis") == 0) {
        r->legal_mask = 0;
        for (char *save = NULL, *w = strtok_r(val, ",", &save); w != NULL;
             w = strtok_r(NULL, ",", &save)) {
            int lb = legal_basis_parse(s_trim(w));
            if (lb <= 0)
                return s_err(err, errlen, path, line,
                             "legal_basis: \"%s\" is not consent or "
                             "meldrecht",
                             w);
            r->legal_mask |= 1u << lb;
        }
        return KR_OK;
    }
    if (strcmp(key, "coordinator") == 0) {
        if (!util_org_id_valid(val))
            return s_err(err, errlen, path, line,
                         "coordinator: \"%s\" is not an organisation id "
                         "(ura:, agb:, kvk: or oin: and digits)",
                         val);
        snprintf(r->coordinator, sizeof(r->coordinator), "%s", val);
        return KR_OK;
    }
    static const char span_help[] =
        "a length such as \"1 workday\", \"5 workdays\", \"24 hours\", "
        "\"8 days\" (\"2 seconds\" for tests), or \"none\"";
    if (strcmp(key, "t_ack") == 0 || strcmp(key, "t_contact") == 0) {
        struct route_span *s = key[2] == 'a' ? &r->ack : &r->contact;
        if (s_spans(val, s, 1, &n) != 0)
            return s_err(err, errlen, path, line, "%s: not %s", key, span_help);
        return KR_OK;
    }
    if (strcmp(key, "t_decide") == 0) {
        if (s_spans(val, r->decide, 2, &n) != 0)
            return s_err(err, errlen, path, line,
                         "t_decide: one or two lengths (to the placer, then "
                         "also to the coordinator), each %s",
                         span_help);
        if (n == 1)
            r->decide[1] = (struct route_span){0, ROUTE_UNIT_NONE};
        return KR_OK;
    }
    if (strcmp(key, "t_handover") == 0) {
        if (s_spans(val, r->handover, 3, &n) != 0)
            return s_err(err, errlen, path, line,
                         "t_handover: one to three lengths, each %s",
                         span_help);
        for (size_t i = n; i < 3; i++)
            r->handover[i] = (struct route_span){0, ROUTE_UNIT_NONE};
        return KR_OK;
    }
    if (strcmp(key, "signal_lifetime") == 0) {
        /* At most two years (DESIGN.md "Signals"), whatever the file says;
         * workdays are refused: a lifetime is a calendar matter. */
        if (s_spans(val, &r->signal_lifetime, 1, &n) != 0 ||
            r->signal_lifetime.unit == ROUTE_UNIT_NONE ||
            r->signal_lifetime.unit == ROUTE_UNIT_WORKDAYS ||
            routes_due(&r->signal_lifetime, 0) > ROUTE_SIGNAL_MAX_MS)
            return s_err(err, errlen, path, line,
                         "signal_lifetime: a length in seconds, hours or "
                         "days of at most two years (731 days)");
        return KR_OK;
    }
    if (strcmp(key, "signal_basis") == 0) {
        if (strcmp(val, "consent") == 0)
            r->signal_basis = ROUTE_BASIS_CONSENT;
        else if (strcmp(val, "route") == 0)
            r->signal_basis = ROUTE_BASIS_ROUTE;
        else
            return s_err(err, errlen, path, line,
                         "signal_basis: \"%s\" is not consent or route", val);
        return KR_OK;
    }
    if (strcmp(key, "match_coordinator") == 0) {
        if (strcmp(val, "yes") != 0 && strcmp(val, "no") != 0)
            return s_err(err, errlen, path, line,
                         "match_coordinator: \"%s\" is not yes or no", val);
        r->match_coordinator = val[0] == 'y';
        return KR_OK;
    }
    return s_err(err, errlen, path, line,
                 "unknown key \"%s\" (from, to, data_category, legal_basis, "
                 "coordinator, t_ack, t_decide, t_contact, t_handover, "
                 "signal_lifetime, signal_basis, match_coordinator)",
                 key);
}

int
routes_load(const char *path, struct routes **out, char *err, size_t errlen)
{
    struct routes *rs = xcalloc(1, sizeof(*rs));
    struct route *cur = NULL;
    char line[S_LINE_MAX + 2];
    unsigned lineno = 0;
    int rc = KR_OK;
    FILE *f;

    *out = NULL;
    snprintf(rs->path, sizeof(rs->path), "%s", path);
    if ((f = fopen(path, "r")) == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(rs);
        return KR_ECONFIG;
    }
    rs->v = xcalloc(S_MAX_ROUTES, sizeof(*rs->v));
    while (rc == KR_OK && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (strlen(line) > S_LINE_MAX) {
            rc = s_err(err, errlen, path, lineno, "line too long");
            break;
        }
        char *s = s_trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char name[ROUTE_PURPOSE_MAX + 1];
            size_t n = strlen(s);
            if (s[n - 1] != ']' || strncmp(s, "[route ", 7) != 0) {
                rc = s_err(err, errlen, path, lineno,
                           "a section is [route PURPOSE]");
                break;
            }
            s[n - 1] = '\0';
            char *p = s_trim(s + 7);
            if (*p == '\0' || strlen(p) >= sizeof(name) ||
                strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
                    strlen(p)) {
                rc = s_err(err, errlen, path, lineno,
                           "purpose \"%s\": lower-case letters, digits and "
                           "'-', at most %d",
                           p, ROUTE_PURPOSE_MAX - 1);
                break;
            }
            if (cur != NULL && (rc = s_finish(cur, path, err, errlen)) != KR_OK)
                break;
            if (rs->n == S_MAX_ROUTES) {
                rc = s_err(err, errlen, path, lineno, "more than %d routes",
                           S_MAX_ROUTES);
                break;
            }
            cur = &rs->v[rs->n++];
            s_defaults(cur);
            snprintf(cur->purpose, sizeof(cur->purpose), "%s", p);
            cur->line = lineno;
            continue;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            rc = s_err(err, errlen, path, lineno,
                       "expected \"key = value\" or [route PURPOSE]");
            break;
        }
        if (cur == NULL) {
            rc = s_err(err, errlen, path, lineno,
                       "\"key = value\" before the first [route PURPOSE]");
            break;
        }
        *eq = '\0';
        char *key = s_trim(s), *val = s_trim(eq + 1);
        if (*val == '\0') {
            rc = s_err(err, errlen, path, lineno, "%s: empty value", key);
            break;
        }
        rc = s_key(cur, key, val, path, lineno, err, errlen);
    }
    if (rc == KR_OK && ferror(f))
        rc = s_err(err, errlen, path, lineno, "read error");
    fclose(f);
    if (rc == KR_OK && cur != NULL)
        rc = s_finish(cur, path, err, errlen);
    if (rc == KR_OK && rs->n == 0)
        rc = s_err(err, errlen, path, lineno, "no [route PURPOSE] in the file");
    if (rc != KR_OK) {
        routes_free(&rs);
        return rc;
    }
    *out = rs;
    return KR_OK;
}

void
routes_free(struct routes **r)
{
    if (*r == NULL)
        return;
    free((*r)->v);
    free(*r);
    *r = NULL;
}

void
routes_swap(struct routes **nr)
{
    struct routes *old = s_active;

    s_active = *nr;
    *nr = NULL;
    routes_free(&old);
}

const struct routes *
routes_active(void)
{
    return s_active;
}

const struct route *
routes_find(const char *purpose)
{
    for (size_t i = 0; s_active != NULL && i < s_active->n; i++)
        if (purpose != NULL && strcmp(s_active->v[i].purpose, purpose) == 0)
            return &s_active->v[i];
    return NULL;
}

const char *
routes_coordinator(const struct route *r)
{
    return r != NULL ? r->coordinator : "";
}

int
routes_check(struct broker *b, struct org *from, struct org *to,
             const Kr__V1__Envelope *env, const struct route **out,
             const char **why)
{
    static char buf[256];
    bool purpose_seen = false;

    (void)b;
    *out = NULL;
    if (s_active == NULL)
        return 0;
    for (size_t i = 0; i < s_active->n; i++) {
        const struct route *r = &s_active->v[i];
        if (strcmp(r->purpose, env->purpose) != 0)
            continue;
        purpose_seen = true;
        if ((r->from_mask & (1u << from->category)) == 0 ||
            (r->to_mask & (1u << to->category)) == 0 ||
            (r->data_category != 0 &&
             r->data_category != (int)env->data_category) ||
            (env->legal_basis < 32 &&
             (r->legal_mask & (1u << env->legal_basis)) == 0))
            continue;
        *out = r;
        return 0;
    }
    if (!purpose_seen)
        snprintf(buf, sizeof(buf), "no route for purpose \"%.64s\"",
                 env->purpose);
    else
        snprintf(buf, sizeof(buf),
                 "no route for purpose \"%.64s\" from %s to %s with %s data "
                 "under %s",
                 env->purpose, util_category_name(from->category),
                 util_category_name(to->category),
                 data_category_name(env->data_category),
                 legal_basis_name(env->legal_basis));
    *why = buf;
    return KR__V1__REASON__NO_ROUTE;
}

uint64_t
routes_due(const struct route_span *s, uint64_t from_ms)
{
    switch (s->unit) {
    case ROUTE_UNIT_SECONDS:
        return from_ms + s->n * 1000;
    case ROUTE_UNIT_HOURS:
        return from_ms + s->n * 3600000;
    case ROUTE_UNIT_DAYS:
        return from_ms + s->n * 86400000;
    case ROUTE_UNIT_WORKDAYS:
        return workdays_add(from_ms, (unsigned)s->n);
    default:
        return 0;
    }
}

const char *
routes_span_str(const struct route_span *s, char *buf, size_t len)
{
    static const char *const names[] = {"none", "second", "hour", "day",
                                        "workday"};

    if (s->unit == ROUTE_UNIT_NONE)
        snprintf(buf, len, "none");
    else
        snprintf(buf, len, "%llu %s%s", (unsigned long long)s->n,
                 names[s->unit], s->n == 1 ? "" : "s");
    return buf;
}
