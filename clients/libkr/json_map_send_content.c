/* json_map_send_content.c - the sealed content of a send description
 * (json_map_send.c): a referral, a handover, a referral_status or opaque
 * text, and the subject's BSN that comes with them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "json_map_internal.h"
#include "json_map_send_internal.h"
#include "names.h"
#include "util.h"

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
s_parse_person(json_object *o, const char *path, struct jm_send *b, char *err,
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
s_parse_referral(json_object *o, const char *path, struct jm_send *b, char *err,
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
            return jm_send_oom(err, errlen);
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

    if ((rc = jm_get(o, path, key, json_type_int, "a whole number", 0, &v, err,
                     errlen)) != KR_OK)
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
            const char *const *codes, const char *names, char **out, char *err,
            size_t errlen)
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
s_parse_handover(json_object *o, const char *path, struct jm_send *b, char *err,
                 size_t errlen)
{
    /* clang-format off */
    static const char *const keys[] = {
        "mother",          "child_bsn",          "child_given_name",
        "birth_datetime",  "gestational_age_days", "birth_weight_g",
        "apgar_1",         "apgar_5",            "feeding",
        "heel_prick",      "hearing_screening",  "family_situation",
        "risk_factors",    "responsible",        "notes",
        NULL};
    /* clang-format on */
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
    if ((rc = jm_get_str(o, path, "child_bsn", 0, 9, &s, err, errlen)) != KR_OK)
        return rc;
    if (s != NULL && !kcrypto_bsn_valid(s))
        return jm_fail(err, errlen, path, "child_bsn",
                       "not a BSN (9 digits that pass the eleven-test)");
    if (s != NULL)
        h->child_bsn = (char *)s;
    s = NULL;
    if ((rc = jm_take_str(o, path, "child_given_name", JM_SHORT_MAX,
                          &h->child_given_name, err, errlen)) != KR_OK ||
        (rc = jm_get_str(o, path, "birth_datetime", 1, 16, &s, err, errlen)) !=
            KR_OK)
        return rc;
    int hh, mm;
    if (strlen(s) != 16 || s[10] != 'T' || s[13] != ':' ||
        !jm_digits(s + 11, 2, &hh) || !jm_digits(s + 14, 2, &mm) || hh > 23 ||
        mm > 59) {
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
                          "done, planned, not-done, referred", &h->heel_prick,
                          err, errlen)) != KR_OK ||
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
            return jm_send_oom(err, errlen);
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
    if ((rc = jm_get_obj(o, path, "responsible", 0, &v, err, errlen)) != KR_OK)
        return rc;
    if (v != NULL) {
        jm_join(sub, path, "responsible");
        if ((rc = s_parse_professional(v, sub, &b->responsible, err, errlen)) !=
            KR_OK)
            return rc;
        h->responsible = &b->responsible;
    }
    return KR_OK;
}

/* A performer's answer: a FHIR Task status code and what goes with it. */
static int
s_parse_referral_status(json_object *o, const char *path, struct jm_send *b,
                        char *err, size_t errlen)
{
    static const char *const keys[] = {
        "status",  "status_reason", "note", "planned_date",
        "contact", "outcome",       NULL};
    /* clang-format off */
    static const char *const codes[] = {
        "received",         "accepted",         "rejected",
        "in-progress",      "on-hold",          "completed",
        "failed",           "cancelled",        "entered-in-error",
        "cancel-requested", "cancel-confirmed", "cancel-declined",
        NULL};
    /* clang-format on */
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

/* The sealed part: "referral" or "opaque", and the subject's BSN. */
int
jm_send_content(json_object *in, struct jm_send *b, char *err, size_t errlen)
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
