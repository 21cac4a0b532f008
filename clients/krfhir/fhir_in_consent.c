/*
 * fhir_in_consent.c - a Consent as kansrijk's "consent-grant" (status
 * active) or "consent-revoke" (status inactive): in a message Bundle
 * (event consent-grant) or on its own (POST or PUT Consent).
 * docs/FHIR.md, "Consent".
 *
 * The scope (purpose, data category, parties, period) travels in the
 * clear and the broker enforces it; the evidence (who consented, when,
 * the form) is sealed. R4's Consent has no element for some of the
 * evidence: those travel as extensions FIN_EXT_CONSENT<key>.
 */
#include "fhir_in_internal.h"

#include <stdio.h>
#include <string.h>

#define S_PARTICIPATION                                                        \
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
#define S_SCOPE "http://terminology.hl7.org/CodeSystem/consentscope"

/* The evidence and scope keys that travel as extensions. */
static const struct {
    const char *key;
    const char *value; /* value[x] */
    bool scope;        /* consent_scope (else consent_evidence) */
} s_exts[] = {
    {"grantor", "valueCode", true},
    {"supersedes", "valueString", true},
    {"given_by_role", "valueString", false},
    {"representation_checked", "valueString", false},
    {"recorded_by", "valueString", false},
    {"notes", "valueString", false},
};

static int
s_extensions(json_object *c, const char *path, json_object *scope,
             json_object *ev, struct fhir_error *e)
{
    json_object *a, *x;
    const char *url, *s;
    char p[FIN_PATH], hex[KR_ID_HEX_LEN];
    size_t n, k;
    int rc;

    if ((rc = fin_arr(c, path, "extension", false, &a, &n, e)) != KR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = fin_item(a, path, "extension", i, &x, e)) != KR_OK)
            return rc;
        fin_index(p, path, "extension", i);
        if ((rc = fin_str(x, p, "url", true, &url, e)) != KR_OK)
            return rc;
        if (strncmp(url, FIN_EXT_CONSENT, strlen(FIN_EXT_CONSENT)) != 0)
            continue; /* someone else's: not ours to judge */
        url += strlen(FIN_EXT_CONSENT);
        for (k = 0; k < sizeof(s_exts) / sizeof(s_exts[0]) &&
                    strcmp(s_exts[k].key, url) != 0;
             k++)
            ;
        if (k == sizeof(s_exts) / sizeof(s_exts[0])) {
            fin_join(p, p, "url");
            return fhir_error_set(e, 422, "not-supported", p,
                                  "not a consent extension this gateway "
                                  "knows");
        }
        if ((rc = fin_str(x, p, s_exts[k].value, true, &s, e)) != KR_OK)
            return rc;
        if (strcmp(url, "supersedes") == 0) {
            fin_join(p, p, s_exts[k].value);
            if ((rc = fin_hex_id_get(s, p, hex, e)) != KR_OK)
                return rc;
            s = hex;
        }
        fin_put(s_exts[k].scope ? scope : ev, url, s);
    }
    return KR_OK;
}

/* Consent.patient: a Patient in the Bundle, or by identifier (BSN). */
static int
s_subject(const struct fin_bundle *b, json_object *c, const char *path,
          json_object *out, struct fhir_error *e)
{
    json_object *ref, *id, *pat;
    const char *sys, *val;
    char p[FIN_PATH], ip[FIN_PATH], pp[FIN_PATH];
    int rc;

    if ((rc = fin_get(c, path, "patient", json_type_object, true, &ref, e)) !=
        KR_OK)
        return rc;
    fin_join(p, path, "patient");
    if ((rc = fin_get(ref, p, "identifier", json_type_object, false, &id, e)) !=
        KR_OK)
        return rc;
    if (id == NULL) {
        if (b == NULL)
            return fhir_error_set(e, 400, "required", p,
                                  "a Consent on its own names its patient "
                                  "by identifier (the BSN, %s)",
                                  FHIR_SYS_BSN);
        if ((rc = fin_resolve(b, ref, p, "Patient", &pat, pp, e)) != KR_OK ||
            (rc = fin_patient_bsn(pat, pp, &val, e)) != KR_OK)
            return rc;
        fin_put(out, "subject_bsn", val);
        return KR_OK;
    }
    fin_join(ip, p, "identifier");
    if ((rc = fin_str(id, ip, "system", true, &sys, e)) != KR_OK ||
        (rc = fin_str(id, ip, "value", true, &val, e)) != KR_OK)
        return rc;
    if (strcmp(sys, FHIR_SYS_BSN) != 0) {
        fin_join(ip, ip, "system");
        return fhir_error_set(e, 422, "not-supported", ip,
                              "the patient is named by the BSN (%s)",
                              FHIR_SYS_BSN);
    }
    fin_join(ip, ip, "value");
    if (!fhir_bsn_valid(val))
        return fhir_error_set(e, 422, "value", ip,
                              "not a BSN: nine digits that pass the "
                              "eleven-test");
    fin_put(out, "subject_bsn", val);
    return KR_OK;
}

/* provision.actor[] with role IRCP (information recipient): to_org. */
static int
s_recipient(json_object *prov, const char *path, char org[KR_ORG_ID_MAX + 1],
            struct fhir_error *e)
{
    json_object *a, *act, *ref;
    const char *role;
    char p[FIN_PATH], rp[FIN_PATH];
    size_t n;
    int rc, found = 0;

    if ((rc = fin_arr(prov, path, "actor", true, &a, &n, e)) != KR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = fin_item(a, path, "actor", i, &act, e)) != KR_OK)
            return rc;
        fin_index(p, path, "actor", i);
        if ((rc = fin_concept_code(act, p, "role", S_PARTICIPATION, true, &role,
                                   e)) != KR_OK)
            return rc;
        if (strcmp(role, "IRCP") != 0) {
            fin_join(rp, p, "role");
            return fhir_error_set(e, 422, "not-supported", rp,
                                  "the actor this gateway takes is the "
                                  "information recipient (IRCP)");
        }
        if (found++) {
            fin_join(rp, p, "role");
            return fhir_error_set(e, 422, "not-supported", rp,
                                  "a consent of kansrijk has one recipient "
                                  "organisation");
        }
        if ((rc = fin_get(act, p, "reference", json_type_object, true, &ref,
                          e)) != KR_OK)
            return rc;
        fin_join(rp, p, "reference");
        if ((rc = fin_org_ref(ref, rp, org, e)) != KR_OK)
            return rc;
    }
    return KR_OK;
}

int
fin_consent(const struct fhir_ctx *ctx, const struct fin_bundle *b,
            json_object *c, const char *path, json_object *out,
            struct fhir_error *e)
{
    json_object *v, *a, *it, *prov, *per, *scope = NULL, *ev = NULL;
    const char *s, *status;
    char p[FIN_PATH], pp[FIN_PATH], hex[KR_ID_HEX_LEN], org[KR_ORG_ID_MAX + 1],
        t[JSON_MAP_TIME_LEN], d[11];
    size_t n;
    bool revoke;
    int rc;

    if ((rc = fin_str(c, path, "status", true, &status, e)) != KR_OK)
        return rc;
    revoke = strcmp(status, "inactive") == 0;
    fin_join(p, path, "status");
    if (!revoke && strcmp(status, "active") != 0)
        return fhir_error_set(e, 422, "value", p,
                              "active grants a consent, inactive revokes "
                              "it: nothing else is sent");
    if (revoke && b != NULL)
        return fhir_error_set(e, 422, "business-rule", p,
                              "a consent-grant message carries an active "
                              "Consent (PUT it with status inactive to "
                              "revoke it)");
    if ((rc = fin_identifier(c, path, "identifier", FIN_ID_CONSENT, revoke, &s,
                             pp, e)) != KR_OK)
        return rc;
    if (s != NULL && (rc = fin_hex_id_get(s, pp, hex, e)) != KR_OK)
        return rc;
    if ((rc = fin_get(c, path, "provision", json_type_object, true, &prov,
                      e)) != KR_OK)
        return rc;
    fin_join(pp, path, "provision");
    if ((rc = s_recipient(prov, pp, org, e)) != KR_OK)
        return rc;
    if (b == NULL)
        fin_put(out, "recipient", org);
    else if (json_object_object_get_ex(out, "recipient", &v) &&
             strcmp(json_object_get_string(v), org) != 0)
        return fhir_error_set(e, 422, "invalid", pp,
                              "the information recipient differs from the "
                              "MessageHeader's destination receiver");
    if (revoke) {
        fin_put(out, "type", "consent-revoke");
        fin_put(out, "consent_id", hex);
        return KR_OK;
    }
    fin_put(out, "type", "consent-grant");
    scope = json_object_new_object();
    json_object_object_add(out, "consent_scope", scope);
    ev = json_object_new_object();
    json_object_object_add(out, "consent_evidence", ev);
    if (s != NULL)
        fin_put(scope, "consent_id", hex);

    if ((rc = fin_concept_code(c, path, "scope", S_SCOPE, true, &s, e)) !=
        KR_OK)
        return rc;
    if (strcmp(s, "patient-privacy") != 0) {
        fin_join(p, path, "scope");
        return fhir_error_set(e, 422, "not-supported", p,
                              "not patient-privacy: a kansrijk consent is "
                              "about sharing information");
    }
    if ((rc = s_subject(b, c, path, out, e)) != KR_OK)
        return rc;

    /* Scope: purpose, category, parties, period. */
    if ((rc = fin_arr(prov, pp, "purpose", true, &a, &n, e)) != KR_OK ||
        (rc = fin_codings_code(prov, pp, "purpose", FIN_CS_PURPOSE, true, &s,
                               e)) != KR_OK)
        return rc;
    fin_put(scope, "purpose", s);
    if ((rc = fin_codings_code(prov, pp, "securityLabel", FIN_CS_CATEGORY, true,
                               &s, e)) != KR_OK)
        return rc;
    fin_put(scope, "data_category", s);
    if ((rc = fin_arr(c, path, "organization", false, &a, &n, e)) != KR_OK)
        return rc;
    if (a != NULL) {
        char from[KR_ORG_ID_MAX + 1];
        fin_index(p, path, "organization", 0);
        if ((rc = fin_org_ref(json_object_array_get_idx(a, 0), p, from, e)) !=
            KR_OK)
            return rc;
        fin_put(scope, "from_org", from);
    } else {
        fin_put(scope, "from_org", ctx->org_id);
    }
    fin_put(scope, "to_org", org);
    if ((rc = fin_get(prov, pp, "period", json_type_object, true, &per, e)) !=
        KR_OK)
        return rc;
    fin_join(p, pp, "period");
    for (int end = 0; end < 2; end++) {
        char ep[FIN_PATH];
        if ((rc = fin_str(per, p, end ? "end" : "start", true, &s, e)) != KR_OK)
            return rc;
        fin_join(ep, p, end ? "end" : "start");
        /* A date keeps its whole day (kansrijk's inclusive bounds). */
        if ((rc = fin_datetime(s, ep, true, t, NULL, e)) != KR_OK)
            return rc;
        fin_put(scope, end ? "valid_until" : "valid_from", t);
    }

    /* Evidence: when, by whom, the form. */
    if ((rc = fin_str(c, path, "dateTime", true, &s, e)) != KR_OK)
        return rc;
    fin_join(p, path, "dateTime");
    if (strlen(s) < 10)
        return fhir_error_set(e, 422, "value", p,
                              "not a full date or dateTime");
    memcpy(d, s, 10);
    d[10] = '\0';
    if ((rc = fin_date(d, p, d, e)) != KR_OK)
        return rc;
    fin_put(ev, "given_on", d);
    if ((rc = fin_arr(c, path, "performer", true, &a, &n, e)) != KR_OK ||
        (rc = fin_item(a, path, "performer", 0, &it, e)) != KR_OK)
        return rc;
    fin_index(p, path, "performer", 0);
    if ((rc = fin_str(it, p, "display", true, &s, e)) != KR_OK)
        return rc;
    fin_put(ev, "given_by_name", s);
    if ((rc = fin_get(c, path, "sourceReference", json_type_object, false, &v,
                      e)) != KR_OK)
        return rc;
    if (v != NULL) {
        fin_join(p, path, "sourceReference");
        if ((rc = fin_str(v, p, "display", true, &s, e)) != KR_OK)
            return rc;
        fin_put(ev, "form_reference", s);
    } else {
        if ((rc = fin_get(c, path, "sourceAttachment", json_type_object, false,
                          &v, e)) != KR_OK)
            return rc;
        if (v != NULL) {
            fin_join(p, path, "sourceAttachment");
            if ((rc = fin_str(v, p, "title", true, &s, e)) != KR_OK)
                return rc;
            fin_put(ev, "form_reference", s);
        }
    }
    if ((rc = s_extensions(c, path, scope, ev, e)) != KR_OK)
        return rc;
    if (!json_object_object_get_ex(scope, "grantor", NULL))
        fin_put(scope, "grantor", "self");
    return KR_OK;
}

int
fhir_in_consent(const struct fhir_ctx *ctx, json_object *consent,
                json_object **kr_out, struct fhir_error *e)
{
    json_object *out;
    const char *s;
    int rc;

    *kr_out = NULL;
    if (!json_object_is_type(consent, json_type_object))
        return fhir_error_set(e, 400, "structure", "", "not a JSON object");
    if ((rc = fin_str(consent, "", "resourceType", true, &s, e)) != KR_OK)
        return rc;
    if (strcmp(s, "Consent") != 0)
        return fhir_error_set(e, 400, "structure", "resourceType",
                              "not a Consent");
    out = json_object_new_object();
    if ((rc = fin_consent(ctx, NULL, consent, "Consent", out, e)) != KR_OK ||
        (rc = fin_check(ctx, out, "Consent", e)) != KR_OK) {
        json_object_put(out);
        return rc;
    }
    *kr_out = out;
    return KR_OK;
}
