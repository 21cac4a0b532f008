/* json_map_send_consent.c - a consent-grant's part of a send description
 * (json_map_send.c): its scope in clear and its evidence sealed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "json_map_internal.h"
#include "json_map_send_internal.h"
#include "names.h"
#include "util.h"

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
              struct jm_send *b, char *err, size_t errlen)
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
                 struct jm_send *b, char *err, size_t errlen)
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
int
jm_send_grant(json_object *in, uint64_t now_ms, struct jm_send *b, char *err,
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
