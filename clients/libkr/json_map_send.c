/* json_map_send.c - a send description (see `krctl send --help`) into a
 * kr.v1.LocalRequest: the clear envelope fields, the sealed referral,
 * referral_status or opaque content, a consent-grant's scope and evidence,
 * and the meldrecht's justification. See json_map.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "json_map_internal.h"
#include "names.h"
#include "util.h"

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
    Kr__V1__Handover handover;
    Kr__V1__Professional responsible;
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

/* libkr runs in other people's processes: out of memory is an answer. */
static int
s_oom(char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory");
    return KR_ENOMEM;
}

static int
s_parse_address(json_object *o, const char *path, Kr__V1__Address *a, char *err,
                size_t errlen)
{
    static const char *const keys[] = {"street", "house_number", "postal_code",
                                       "city", NULL};
    int rc;

    if ((rc = jm_check_keys(o, path, keys, err, errlen)) != KR_OK ||
        (rc = jm_take_str(o, path, "street", JM_SHORT_MAX, &a->street, err,
                          errlen)) != KR_OK ||
        (rc = jm_take_str(o, path, "house_number", 32, &a->house_number, err,
                          errlen)) != KR_OK ||
        (rc = jm_take_str(o, path, "postal_code", 16, &a->postal_code, err,
                          errlen)) != KR_OK ||
        (rc = jm_take_str(o, path, "city", JM_SHORT_MAX, &a->city, err,
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
    char sub[JM_PATH_MAX];
    const char *s;
    int rc;

    if ((rc = jm_check_keys(o, path, keys, err, errlen)) != KR_OK)
        return rc;
    s = NULL;
    if ((rc = jm_get_str(o, path, "bsn", 1, 9, &s, err, errlen)) != KR_OK)
        return rc;
    /* The value is never quoted: this is the one field that must not end
     * up in a terminal's scroll-back or a log. */
    if (!kcrypto_bsn_valid(s))
        return jm_fail(err, errlen, path, "bsn",
                       "not a BSN (9 digits that pass the eleven-test)");
    p->bsn = (char *)s;
    if ((rc = jm_take_str(o, path, "given_name", JM_SHORT_MAX, &p->given_name,
                          err, errlen)) != KR_OK)
        return rc;
    if ((rc = jm_take_str(o, path, "family_name", JM_SHORT_MAX, &p->family_name,
                          err, errlen)) != KR_OK)
        return rc;
    if ((rc = jm_take_date(o, path, "birth_date", &p->birth_date, err,
                           errlen)) != KR_OK)
        return rc;
    if ((rc = jm_get_obj(o, path, "address", 0, &addr, err, errlen)) != KR_OK)
        return rc;
    if (addr != NULL) {
        jm_join(sub, path, "address");
        if ((rc = s_parse_address(addr, sub, &b->address, err, errlen)) !=
            KR_OK)
            return rc;
        p->address = &b->address;
    }
    if ((rc = jm_take_str(o, path, "phone", 32, &p->phone, err, errlen)) !=
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

    if ((rc = jm_check_keys(o, path, keys, err, errlen)) != KR_OK)
        return rc;
    if ((rc = jm_take_str(o, path, "name", JM_SHORT_MAX, &p->name, err,
                          errlen)) != KR_OK)
        return rc;
    if ((rc = jm_take_str(o, path, "role", JM_SHORT_MAX, &p->role, err,
                          errlen)) != KR_OK)
        return rc;
    if ((rc = jm_take_str(o, path, "phone", 32, &p->phone, err, errlen)) !=
        KR_OK)
        return rc;
    s = NULL;
    if ((rc = jm_get_str(o, path, "email", 0, JM_SHORT_MAX, &s, err, errlen)) !=
        KR_OK)
        return rc;
    if (s != NULL && *s != '\0' &&
        (strchr(s, '@') == NULL || *s == '@' || strchr(s, ' ') != NULL))
        return jm_fail(err, errlen, path, "email", "not an e-mail address");
    if (s != NULL)
        p->email = (char *)s;
    s = NULL;
    if ((rc = jm_get_str(o, path, "agb", 0, 8, &s, err, errlen)) != KR_OK)
        return rc;
    if (s != NULL && *s != '\0') {
        int v;
        if (strlen(s) != 8 || !jm_digits(s, 8, &v))
            return jm_fail(err, errlen, path, "agb",
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
    char sub[JM_PATH_MAX];
    const char *s;
    int rc, e;

    if ((rc = jm_check_keys(o, path, keys, err, errlen)) != KR_OK)
        return rc;
    if ((rc = jm_get_obj(o, path, "mother", 1, &v, err, errlen)) != KR_OK)
        return rc;
    jm_join(sub, path, "mother");
    if ((rc = s_parse_person(v, sub, b, err, errlen)) != KR_OK)
        return rc;
    r->mother = &b->mother;
    if ((rc = jm_take_date(o, path, "expected_delivery_date",
                           &r->expected_delivery_date, err, errlen)) != KR_OK)
        return rc;

    if ((rc = jm_get(o, path, "reason_codes", json_type_array, "an array", 0,
                     &v, err, errlen)) != KR_OK)
        return rc;
    if (v != NULL) {
        size_t n = json_object_array_length(v);
        if (n > JM_REASON_CODES_MAX)
            return jm_fail(err, errlen, path, "reason_codes",
                           "more than %d codes", JM_REASON_CODES_MAX);
        b->reason_codes = calloc(n > 0 ? n : 1, sizeof(char *));
        if (b->reason_codes == NULL)
            return s_oom(err, errlen);
        for (size_t i = 0; i < n; i++) {
            json_object *c = json_object_array_get_idx(v, i);
            char key[32];
            snprintf(key, sizeof(key), "reason_codes[%zu]", i);
            if (c == NULL || !json_object_is_type(c, json_type_string))
                return jm_fail(err, errlen, path, key,
                               "wrong type: expected a string, got %s",
                               c == NULL ? "null" : jm_type_name(c));
            if ((rc = jm_check_str(c, path, key, 1, JM_CODE_MAX, &s, err,
                                   errlen)) != KR_OK)
                return rc;
            b->reason_codes[i] = (char *)s;
        }
        r->n_reason_codes = n;
        r->reason_codes = b->reason_codes;
    }
    if ((rc = jm_take_str(o, path, "reason_text", JM_TEXT_MAX, &r->reason_text,
                          err, errlen)) != KR_OK)
        return rc;
    if ((rc = jm_take_str(o, path, "requested_service", JM_SHORT_MAX,
                          &r->requested_service, err, errlen)) != KR_OK)
        return rc;
    e = 0;
    if ((rc = jm_get_enum(o, path, "urgency", 0, priority_parse,
                          "routine, urgent", &e, err, errlen)) != KR_OK)
        return rc;
    r->urgency = (Kr__V1__Priority)e;
    if ((rc = jm_get_obj(o, path, "referrer", 0, &v, err, errlen)) != KR_OK)
        return rc;
    if (v != NULL) {
        jm_join(sub, path, "referrer");
        if ((rc = s_parse_professional(v, sub, &b->referrer, err, errlen)) !=
            KR_OK)
            return rc;
        r->referrer = &b->referrer;
    }
    return KR_OK;
}

/* A whole number in [0, max], or absent (0). */
static int
s_take_u32(json_object *o, const char *path, const char *key, uint32_t max,
           uint32_t *out, char *err, size_t errlen)
{
    json_object *v;
    int rc;

    if ((rc = jm_get(o, path, key, json_type_int, "a whole number", 0, &v,
                     err, errlen)) != KR_OK)
        return rc;
    if (v == NULL)
        return KR_OK;
    int64_t n = json_object_get_int64(v);
    if (n < 0 || n > (int64_t)max)
        return jm_fail(err, errlen, path, key, "not 0 to %u", max);
    *out = (uint32_t)n;
    return KR_OK;
}

/* One of a closed list of codes, or absent. */
static int
s_take_code(json_object *o, const char *path, const char *key,
            const char *const *codes, const char *names, char **out,
            char *err, size_t errlen)
{
    const char *s = NULL;
    int rc;

    if ((rc = jm_get_str(o, path, key, 0, JM_CODE_MAX, &s, err, errlen)) !=
            KR_OK ||
        s == NULL)
        return rc;
    for (size_t i = 0; codes[i] != NULL; i++)
        if (strcmp(codes[i], s) == 0) {
            *out = (char *)s;
            return KR_OK;
        }
    return jm_fail(err, errlen, path, key, "not one of %s", names);
}

/* The birth-care-to-JGZ handover (content.proto Handover). */
static int
s_parse_handover(json_object *o, const char *path, struct s_build *b,
                 char *err, size_t errlen)
{
    static const char *const keys[] = {
        "mother",          "child_bsn",          "child_given_name",
        "birth_datetime",  "gestational_age_days", "birth_weight_g",
        "apgar_1",         "apgar_5",            "feeding",
        "heel_prick",      "hearing_screening",  "family_situation",
        "risk_factors",    "responsible",        "notes",
        NULL};
    static const char *const feeding[] = {"borstvoeding", "kunstvoeding",
                                          "gemengd", NULL};
    static const char *const heel[] = {"done", "planned", "not-done",
                                       "referred", NULL};
    static const char *const hearing[] = {"pass", "refer", "planned",
                                          "not-done", NULL};
    Kr__V1__Handover *h = &b->handover;
    json_object *v;
    char sub[JM_PATH_MAX];
    const char *s = NULL;
    int rc;

    if ((rc = jm_check_keys(o, path, keys, err, errlen)) != KR_OK ||
        (rc = jm_get_obj(o, path, "mother", 1, &v, err, errlen)) != KR_OK)
        return rc;
    jm_join(sub, path, "mother");
    if ((rc = s_parse_person(v, sub, b, err, errlen)) != KR_OK)
        return rc;
    h->mother = &b->mother;
    if ((rc = jm_get_str(o, path, "child_bsn", 0, 9, &s, err, errlen)) !=
        KR_OK)
        return rc;
    if (s != NULL && !kcrypto_bsn_valid(s))
        return jm_fail(err, errlen, path, "child_bsn",
                       "not a BSN (9 digits that pass the eleven-test)");
    if (s != NULL)
        h->child_bsn = (char *)s;
    s = NULL;
    if ((rc = jm_take_str(o, path, "child_given_name", JM_SHORT_MAX,
                          &h->child_given_name, err, errlen)) != KR_OK ||
        (rc = jm_get_str(o, path, "birth_datetime", 1, 16, &s, err,
                         errlen)) != KR_OK)
        return rc;
    int hh, mm;
    if (strlen(s) != 16 || s[10] != 'T' || s[13] != ':' ||
        !jm_digits(s + 11, 2, &hh) || !jm_digits(s + 14, 2, &mm) ||
        hh > 23 || mm > 59) {
        return jm_fail(err, errlen, path, "birth_datetime",
                       "not a local date and time (YYYY-MM-DDThh:mm)");
    }
    char day[11];
    memcpy(day, s, 10);
    day[10] = '\0';
    if (!json_map_date_valid(day))
        return jm_fail(err, errlen, path, "birth_datetime",
                       "not a local date and time (YYYY-MM-DDThh:mm)");
    h->birth_datetime = (char *)s;
    if ((rc = s_take_u32(o, path, "gestational_age_days", 320,
                         &h->gestational_age_days, err, errlen)) != KR_OK ||
        (rc = s_take_u32(o, path, "birth_weight_g", 8000, &h->birth_weight_g,
                         err, errlen)) != KR_OK ||
        (rc = s_take_u32(o, path, "apgar_1", 10, &h->apgar_1, err, errlen)) !=
            KR_OK ||
        (rc = s_take_u32(o, path, "apgar_5", 10, &h->apgar_5, err, errlen)) !=
            KR_OK ||
        (rc = s_take_code(o, path, "feeding", feeding,
                          "borstvoeding, kunstvoeding, gemengd", &h->feeding,
                          err, errlen)) != KR_OK ||
        (rc = s_take_code(o, path, "heel_prick", heel,
                          "done, planned, not-done, referred",
                          &h->heel_prick, err, errlen)) != KR_OK ||
        (rc = s_take_code(o, path, "hearing_screening", hearing,
                          "pass, refer, planned, not-done",
                          &h->hearing_screening, err, errlen)) != KR_OK ||
        (rc = jm_take_str(o, path, "family_situation", JM_TEXT_MAX,
                          &h->family_situation, err, errlen)) != KR_OK ||
        (rc = jm_take_str(o, path, "notes", JM_TEXT_MAX, &h->notes, err,
                          errlen)) != KR_OK)
        return rc;
    if ((rc = jm_get(o, path, "risk_factors", json_type_array, "an array", 0,
                     &v, err, errlen)) != KR_OK)
        return rc;
    if (v != NULL) {
        size_t n = json_object_array_length(v);
        if (n > JM_REASON_CODES_MAX)
            return jm_fail(err, errlen, path, "risk_factors",
                           "more than %d codes", JM_REASON_CODES_MAX);
        b->reason_codes = calloc(n > 0 ? n : 1, sizeof(char *));
        if (b->reason_codes == NULL)
            return s_oom(err, errlen);
        for (size_t i = 0; i < n; i++) {
            json_object *c = json_object_array_get_idx(v, i);
            char key[32];
            snprintf(key, sizeof(key), "risk_factors[%zu]", i);
            if (c == NULL || !json_object_is_type(c, json_type_string))
                return jm_fail(err, errlen, path, key,
                               "wrong type: expected a string");
            if ((rc = jm_check_str(c, path, key, 1, JM_CODE_MAX, &s, err,
                                   errlen)) != KR_OK)
                return rc;
            b->reason_codes[i] = (char *)s;
        }
        h->n_risk_factors = n;
        h->risk_factors = b->reason_codes;
    }
    if ((rc = jm_get_obj(o, path, "responsible", 0, &v, err, errlen)) !=
        KR_OK)
        return rc;
    if (v != NULL) {
        jm_join(sub, path, "responsible");
        if ((rc = s_parse_professional(v, sub, &b->responsible, err,
                                       errlen)) != KR_OK)
            return rc;
        h->responsible = &b->responsible;
    }
    return KR_OK;
}

/* A performer's answer: a FHIR Task status code and what goes with it. */
static int
s_parse_referral_status(json_object *o, const char *path, struct s_build *b,
                        char *err, size_t errlen)
{
    static const char *const keys[] = {
        "status",  "status_reason", "note", "planned_date",
        "contact", "outcome",       NULL};
    static const char *const codes[] = {
        "received",         "accepted",         "rejected",
        "in-progress",      "on-hold",          "completed",
        "failed",           "cancelled",        "entered-in-error",
        "cancel-requested", "cancel-confirmed", "cancel-declined",
        NULL};
    Kr__V1__ReferralStatus *r = &b->status;
    json_object *v;
    char sub[JM_PATH_MAX];
    const char *s;
    size_t i;
    int rc;

    if ((rc = jm_check_keys(o, path, keys, err, errlen)) != KR_OK ||
        (rc = jm_get_str(o, path, "status", 1, JM_CODE_MAX, &s, err, errlen)) !=
            KR_OK)
        return rc;
    for (i = 0; codes[i] != NULL && strcmp(codes[i], s) != 0; i++)
        ;
    if (codes[i] == NULL)
        return jm_fail(err, errlen, path, "status",
                       "not a FHIR Task status (received, accepted, "
                       "rejected, in-progress, on-hold, completed, failed, "
                       "cancelled, entered-in-error) nor a cancellation step "
                       "(cancel-requested, cancel-confirmed, "
                       "cancel-declined)");
    r->status = (char *)s;
    if ((rc = jm_take_str(o, path, "status_reason", JM_TEXT_MAX,
                          &r->status_reason, err, errlen)) != KR_OK ||
        (rc = jm_take_str(o, path, "outcome", JM_TEXT_MAX, &r->outcome, err,
                          errlen)) != KR_OK ||
        (rc = jm_take_str(o, path, "note", JM_TEXT_MAX, &r->note, err,
                          errlen)) != KR_OK ||
        (rc = jm_take_date(o, path, "planned_date", &r->planned_date, err,
                           errlen)) != KR_OK ||
        (rc = jm_get_obj(o, path, "contact", 0, &v, err, errlen)) != KR_OK)
        return rc;
    if (v != NULL) {
        jm_join(sub, path, "contact");
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
    if ((rc = jm_get_str(o, path, korg, 0, KR_ORG_ID_MAX, &so, err, errlen)) !=
            KR_OK ||
        (rc = jm_get_str(o, path, kcat, 0, JM_CODE_MAX, &sc, err, errlen)) !=
            KR_OK)
        return rc;
    if (so != NULL && sc != NULL)
        return jm_fail(err, errlen, path, kcat,
                       "not allowed together with \"%s\": a party is one "
                       "organisation or one category",
                       korg);
    if (so == NULL && sc == NULL)
        return jm_fail(err, errlen, path, korg, "missing (or \"%s\")", kcat);
    if (so != NULL) {
        if (!util_org_id_valid(so))
            return jm_fail(err, errlen, path, korg,
                           "not an organisation id (ura:, agb:, kvk: or oin: "
                           "and digits)");
        *org = (char *)so;
        return KR_OK;
    }
    if ((cat = util_category_parse(sc)) <= 0)
        return jm_fail(err, errlen, path, kcat,
                       "must be one of: verloskunde, kraamzorg, ziekenhuis, "
                       "jgz, wijkteam, gemeente, veilig-thuis, coordinator");
    *category = (Kr__V1__OrgCategory)cat;
    return KR_OK;
}

/* valid_from or valid_until: an ISO 8601 UTC time, or a date meaning the
 * start (from) or the end (until) of that day, given as such or relative
 * to today ("today+365d"). */
static int
s_parse_period_end(json_object *o, const char *path, const char *key,
                   int end_of_day, uint64_t now_ms, uint64_t *ms, char *err,
                   size_t errlen)
{
    const char *s = NULL;
    int rc;

    if ((rc = jm_get_str(o, path, key, 1, 32, &s, err, errlen)) != KR_OK)
        return rc;
    rc = json_map_relative_parse(s, now_ms, end_of_day, ms);
    if (rc == KR_ENOTFOUND)
        rc = json_map_period_parse(s, end_of_day, ms);
    if (rc != KR_OK)
        return jm_fail(err, errlen, path, key,
                       "not an ISO 8601 UTC time such as "
                       "2026-12-31T00:00:00Z, a date (YYYY-MM-DD) or a day "
                       "relative to today (today, today+30d, today-1d)");
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

    if ((rc = jm_check_keys(o, path, keys, err, errlen)) != KR_OK ||
        (rc = jm_get_id(o, path, "consent_id", b->scope_consent_id,
                        &sc->consent_id, err, errlen)) != KR_OK ||
        (rc = jm_get_code(o, path, "purpose", 1, &s, err, errlen)) != KR_OK)
        return rc;
    sc->purpose = (char *)s;
    e = 0;
    if ((rc = jm_get_enum(o, path, "data_category", 1, data_category_parse,
                          "medisch, sociaal", &e, err, errlen)) != KR_OK)
        return rc;
    sc->data_category = (Kr__V1__DataCategory)e;
    if ((rc = s_parse_party(o, path, "from", &sc->from_org, &sc->from_category,
                            err, errlen)) != KR_OK ||
        (rc = s_parse_party(o, path, "to", &sc->to_org, &sc->to_category, err,
                            errlen)) != KR_OK ||
        (rc = s_parse_period_end(o, path, "valid_from", 0, now_ms,
                                 &sc->valid_from_ms, err, errlen)) != KR_OK ||
        (rc = s_parse_period_end(o, path, "valid_until", 1, now_ms,
                                 &sc->valid_until_ms, err, errlen)) != KR_OK)
        return rc;
    /* The broker refuses these too (invalid-scope); a file that says them
     * is a mistake best seen before anything is sent. */
    if (sc->valid_until_ms < sc->valid_from_ms)
        return jm_fail(err, errlen, path, "valid_until", "before valid_from");
    if (sc->valid_until_ms <= now_ms)
        return jm_fail(err, errlen, path, "valid_until", "lies in the past");
    e = 0;
    if ((rc = jm_get_enum(o, path, "grantor", 1, grantor_parse,
                          "self, parent-with-authority, guardian", &e, err,
                          errlen)) != KR_OK)
        return rc;
    sc->grantor = (Kr__V1__Grantor)e;
    if ((rc = jm_get_id(o, path, "supersedes", b->supersedes, &sc->supersedes,
                        err, errlen)) != KR_OK)
        return rc;
    if (sc->consent_id.len == KR_ID_LEN && sc->supersedes.len == KR_ID_LEN &&
        memcmp(b->scope_consent_id, b->supersedes, KR_ID_LEN) == 0)
        return jm_fail(err, errlen, path, "supersedes",
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

    if ((rc = jm_check_keys(o, path, keys, err, errlen)) != KR_OK ||
        (rc = jm_get_date(o, path, "given_on", &s, err, errlen)) != KR_OK)
        return rc;
    if (s == NULL)
        return jm_fail(err, errlen, path, "given_on", "missing");
    ev->given_on = (char *)s;
    s = NULL;
    if ((rc = jm_get_str(o, path, "given_by_name", 1, JM_SHORT_MAX, &s, err,
                         errlen)) != KR_OK)
        return rc;
    ev->given_by_name = (char *)s;
    if ((rc = jm_take_str(o, path, "given_by_role", JM_SHORT_MAX,
                          &ev->given_by_role, err, errlen)) != KR_OK ||
        (rc = jm_take_str(o, path, "representation_checked", JM_TEXT_MAX,
                          &ev->representation_checked, err, errlen)) != KR_OK ||
        (rc = jm_take_str(o, path, "form_reference", JM_SHORT_MAX,
                          &ev->form_reference, err, errlen)) != KR_OK ||
        (rc = jm_take_str(o, path, "recorded_by", JM_SHORT_MAX,
                          &ev->recorded_by, err, errlen)) != KR_OK ||
        (rc = jm_take_str(o, path, "notes", JM_TEXT_MAX, &ev->notes, err,
                          errlen)) != KR_OK)
        return rc;
    if (grantor != KR__V1__GRANTOR__SELF && *ev->representation_checked == '\0')
        return jm_fail(err, errlen, path, "representation_checked",
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

    if ((rc = jm_get_obj(in, "", "consent_scope", 0, &v, err, errlen)) != KR_OK)
        return rc;
    if (sr->type != KR__V1__MESSAGE_TYPE__CONSENT_GRANT) {
        if (v != NULL)
            return jm_fail(err, errlen, "", "consent_scope",
                           "only in a message of type consent-grant");
        if (json_object_object_get_ex(in, "consent_evidence", NULL))
            return jm_fail(err, errlen, "", "consent_evidence",
                           "only in a message of type consent-grant");
        return KR_OK;
    }
    if (v == NULL)
        return jm_fail(err, errlen, "", "consent_scope",
                       "missing (a consent-grant needs one)");
    if ((rc = s_parse_scope(v, "consent_scope", now_ms, b, err, errlen)) !=
        KR_OK)
        return rc;
    if (sr->subject_bsn == NULL || *sr->subject_bsn == '\0')
        return jm_fail(err, errlen, "", "subject_bsn",
                       "missing (a consent-grant needs the subject's BSN)");
    /* The envelope's consent_id, purpose and category are the scope's: the
     * description may repeat them, not contradict them. */
    if (sr->consent_id.len == KR_ID_LEN && sc->consent_id.len == KR_ID_LEN &&
        memcmp(b->consent_id, b->scope_consent_id, KR_ID_LEN) != 0)
        return jm_fail(err, errlen, "consent_scope", "consent_id",
                       "differs from consent_id");
    if (sr->purpose != NULL && *sr->purpose != '\0' &&
        strcmp(sr->purpose, sc->purpose) != 0)
        return jm_fail(err, errlen, "", "purpose",
                       "differs from consent_scope.purpose");
    if (sr->data_category != 0 && sr->data_category != sc->data_category)
        return jm_fail(err, errlen, "", "data_category",
                       "differs from consent_scope.data_category");
    if ((rc = jm_get_obj(in, "", "consent_evidence", 0, &v, err, errlen)) !=
        KR_OK)
        return rc;
    if (v == NULL)
        return jm_fail(err, errlen, "", "consent_evidence",
                       "missing (a consent-grant needs one)");
    if (json_object_object_get_ex(in, "referral", NULL) ||
        json_object_object_get_ex(in, "referral_status", NULL) ||
        json_object_object_get_ex(in, "opaque", NULL))
        return jm_fail(err, errlen, "", "consent_evidence",
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
    if ((rc = jm_get_enum(in, "", "type", 0, message_type_parse,
                          "referral, referral-status, supplement, handover, "
                          "subject-link, signal, communication, "
                          "consent-grant, consent-revoke, erasure-request",
                          &e, err, errlen)) != KR_OK)
        return rc;
    sr->type = (Kr__V1__MessageType)e;

    s = NULL;
    if ((rc = jm_get_str(in, "", "recipient", 1, KR_ORG_ID_MAX, &s, err,
                         errlen)) != KR_OK)
        return rc;
    if (!util_org_id_valid(s))
        return jm_fail(err, errlen, "", "recipient",
                       "not an organisation id (ura:, agb:, kvk: or oin: "
                       "and digits)");
    sr->recipient = (char *)s;

    if ((rc = jm_get_id(in, "", "msg_id", b->msg_id, &sr->msg_id, err,
                        errlen)) != KR_OK ||
        (rc = jm_get_id(in, "", "referral_id", b->referral_id, &sr->referral_id,
                        err, errlen)) != KR_OK ||
        (rc = jm_get_id(in, "", "case_id", b->case_id, &sr->case_id, err,
                        errlen)) != KR_OK ||
        (rc = jm_get_id(in, "", "in_reply_to", b->in_reply_to, &sr->in_reply_to,
                        err, errlen)) != KR_OK)
        return rc;

    s = NULL;
    if ((rc = jm_get_str(in, "", "subject_bsn", 0, 9, &s, err, errlen)) !=
        KR_OK)
        return rc;
    if (s != NULL && !kcrypto_bsn_valid(s))
        return jm_fail(err, errlen, "", "subject_bsn",
                       "not a BSN (9 digits that pass the eleven-test)");
    if (s != NULL)
        sr->subject_bsn = (char *)s;

    s = NULL;
    if ((rc = jm_get_code(in, "", "purpose", 0, &s, err, errlen)) != KR_OK)
        return rc;
    if (s != NULL)
        sr->purpose = (char *)s;
    e = 0;
    if ((rc = jm_get_enum(in, "", "data_category", 0, data_category_parse,
                          "medisch, sociaal", &e, err, errlen)) != KR_OK)
        return rc;
    sr->data_category = (Kr__V1__DataCategory)e;
    e = 0;
    if ((rc = jm_get_enum(in, "", "legal_basis", 0, legal_basis_parse,
                          "consent, meldrecht", &e, err, errlen)) != KR_OK)
        return rc;
    sr->legal_basis = (Kr__V1__LegalBasis)e;

    if ((rc = jm_get_id(in, "", "consent_id", b->consent_id, &sr->consent_id,
                        err, errlen)) != KR_OK)
        return rc;

    e = 0;
    if ((rc = jm_get_enum(in, "", "priority", 0, priority_parse,
                          "routine, urgent", &e, err, errlen)) != KR_OK)
        return rc;
    sr->priority = (Kr__V1__Priority)e;

    s = NULL;
    if ((rc = jm_get_str(in, "", "not_after", 0, 32, &s, err, errlen)) != KR_OK)
        return rc;
    if (s != NULL) {
        rc = json_map_relative_parse(s, now_ms, 0, &sr->not_after_ms);
        if (rc == KR_ENOTFOUND)
            rc = json_map_time_parse(s, &sr->not_after_ms);
        if (rc != KR_OK)
            return jm_fail(err, errlen, "", "not_after",
                           "not an ISO 8601 UTC time such as "
                           "2026-12-31T00:00:00Z, nor a day relative to "
                           "today (today+90d)");
        if (sr->not_after_ms <= now_ms)
            return jm_fail(err, errlen, "", "not_after", "lies in the past");
    }

    s = NULL;
    if ((rc = jm_get_str(in, "", "actor_ref", 0, JM_ACTOR_REF_MAX, &s, err,
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

    if ((rc = jm_get_obj(in, "", "referral_status", 0, &st, err, errlen)) !=
        KR_OK)
        return rc;
    if (st != NULL) {
        if (json_object_object_length(in) > 0 &&
            (json_object_object_get_ex(in, "referral", NULL) ||
             json_object_object_get_ex(in, "opaque", NULL)))
            return jm_fail(err, errlen, "", "referral_status",
                           "not allowed together with \"referral\" or "
                           "\"opaque\"");
        if (sr->type != KR__V1__MESSAGE_TYPE__REFERRAL_STATUS)
            return jm_fail(err, errlen, "", "referral_status",
                           "only in a message of type referral-status");
        if ((rc = s_parse_referral_status(st, "referral_status", b, err,
                                          errlen)) != KR_OK)
            return rc;
        b->content.version = KR__V1__VERSION__VERSION_1;
        b->content.body_case = KR__V1__CONTENT__BODY_REFERRAL_STATUS;
        b->content.referral_status = &b->status;
        return KR_OK;
    }
    json_object *ho = NULL;
    if ((rc = jm_get_obj(in, "", "handover", 0, &ho, err, errlen)) != KR_OK)
        return rc;
    if (ho != NULL) {
        if (json_object_object_get_ex(in, "referral", NULL) ||
            json_object_object_get_ex(in, "opaque", NULL))
            return jm_fail(err, errlen, "", "handover",
                           "not allowed together with \"referral\" or "
                           "\"opaque\"");
        if (sr->type != KR__V1__MESSAGE_TYPE__HANDOVER)
            return jm_fail(err, errlen, "", "handover",
                           "only in a message of type handover");
        if ((rc = s_parse_handover(ho, "handover", b, err, errlen)) != KR_OK)
            return rc;
        b->content.version = KR__V1__VERSION__VERSION_1;
        b->content.body_case = KR__V1__CONTENT__BODY_HANDOVER;
        b->content.handover = &b->handover;
        /* About the mother: her BSN is the subject, as for a referral. */
        if (sr->subject_bsn != NULL && *sr->subject_bsn != '\0' &&
            strcmp(sr->subject_bsn, b->mother.bsn) != 0)
            return jm_fail(err, errlen, "", "subject_bsn",
                           "differs from handover.mother.bsn");
        sr->subject_bsn = b->mother.bsn;
        return KR_OK;
    }
    if ((rc = jm_get_obj(in, "", "referral", 0, &ref, err, errlen)) != KR_OK ||
        (rc = jm_get(in, "", "opaque", json_type_string, "a string", 0, &opq,
                     err, errlen)) != KR_OK)
        return rc;
    if (ref != NULL && opq != NULL)
        return jm_fail(err, errlen, "", "opaque",
                       "not allowed together with \"referral\"");
    if (ref == NULL && sr->type == KR__V1__MESSAGE_TYPE__REFERRAL)
        return jm_fail(err, errlen, "", "referral",
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
            return jm_fail(err, errlen, "", "subject_bsn",
                           "differs from referral.mother.bsn");
        sr->subject_bsn = b->mother.bsn;
    } else if (opq != NULL) {
        if ((rc = jm_check_str(opq, "", "opaque", 0, JM_OPAQUE_MAX, &s, err,
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

    if ((rc = jm_get_str(in, "", "justification", 0, JM_TEXT_MAX, &s, err,
                         errlen)) != KR_OK)
        return rc;
    if (b->send.legal_basis != KR__V1__LEGAL_BASIS__MELDRECHT) {
        if (s != NULL)
            return jm_fail(err, errlen, "", "justification",
                           "only with legal_basis meldrecht");
        return KR_OK;
    }
    if (s == NULL || *s == '\0')
        return jm_fail(err, errlen, "", "justification",
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
                                       "handover",
                                       "consent_scope",
                                       "consent_evidence",
                                       "justification",
                                       NULL};
    struct s_build *b;
    int rc;

    *req = NULL;
    *req_len = 0;
    if (in == NULL || !json_object_is_type(in, json_type_object))
        return jm_fail(err, errlen, NULL, NULL,
                       "wrong type: expected an object, got %s",
                       in == NULL ? "null" : jm_type_name(in));
    if ((b = calloc(1, sizeof(*b))) == NULL)
        return s_oom(err, errlen);
    kr__v1__local_request__init(&b->lreq);
    kr__v1__send_request__init(&b->send);
    kr__v1__content__init(&b->content);
    kr__v1__referral__init(&b->referral);
    kr__v1__person__init(&b->mother);
    kr__v1__address__init(&b->address);
    kr__v1__professional__init(&b->referrer);
    kr__v1__referral_status__init(&b->status);
    kr__v1__professional__init(&b->contact);
    kr__v1__handover__init(&b->handover);
    kr__v1__professional__init(&b->responsible);
    kr__v1__consent_scope__init(&b->scope);
    kr__v1__consent_evidence__init(&b->evidence);

    if ((rc = jm_check_keys(in, "", keys, err, errlen)) != KR_OK ||
        (rc = s_parse_envelope(in, now_ms, b, err, errlen)) != KR_OK ||
        (rc = s_parse_grant(in, now_ms, b, err, errlen)) != KR_OK ||
        (rc = s_parse_content(in, b, err, errlen)) != KR_OK ||
        (rc = s_parse_justification(in, b, err, errlen)) != KR_OK)
        goto done;
    if (b->send.type == KR__V1__MESSAGE_TYPE__CONSENT_REVOKE &&
        b->send.consent_id.len == 0) {
        rc = jm_fail(err, errlen, "", "consent_id",
                     "missing (a consent-revoke names the consent)");
        goto done;
    }
    /* A referral is what consent is checked against: without purpose,
     * category and basis the broker can only refuse it. Say so now. */
    if (b->send.type == KR__V1__MESSAGE_TYPE__REFERRAL) {
        if (b->send.purpose == NULL || *b->send.purpose == '\0')
            rc = jm_fail(err, errlen, "", "purpose",
                         "missing (a referral needs one)");
        else if (b->send.data_category == 0)
            rc = jm_fail(err, errlen, "", "data_category",
                         "missing (a referral needs one)");
        else if (b->send.legal_basis == 0)
            rc = jm_fail(err, errlen, "", "legal_basis",
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
        b->content_buf = malloc(b->content_len > 0 ? b->content_len : 1);
        if (b->content_buf == NULL) {
            rc = s_oom(err, errlen);
            goto done;
        }
        kr__v1__content__pack(&b->content, b->content_buf);
        b->send.content.data = b->content_buf;
        b->send.content.len = b->content_len;
    }
    b->lreq.version = KR__V1__VERSION__VERSION_1;
    b->lreq.op_case = KR__V1__LOCAL_REQUEST__OP_SEND;
    b->lreq.send = &b->send;
    *req_len = kr__v1__local_request__get_packed_size(&b->lreq);
    if ((*req = malloc(*req_len > 0 ? *req_len : 1)) == NULL) {
        *req_len = 0;
        rc = s_oom(err, errlen);
        goto done;
    }
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
