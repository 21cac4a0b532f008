/*
 * fhir_in_referral.c - the Task of a referral or handover message and
 * what it points to (ServiceRequest, Patient, PractitionerRole,
 * Observation, Consent by identifier) as kansrijk's "referral" or
 * "handover" description. docs/FHIR.md, "Messages in".
 */
#include "fhir_in_internal.h"

#include <stdio.h>
#include <string.h>

/* Task.priority and ServiceRequest.priority: kansrijk knows two. */
static int
s_priority(json_object *o, const char *path, json_object *out, const char *key,
           struct fhir_error *e)
{
    const char *s;
    char p[FIN_PATH];
    int rc;

    if ((rc = fin_str(o, path, "priority", false, &s, e)) != KR_OK || s == NULL)
        return rc;
    if (strcmp(s, "routine") == 0) {
        fin_put(out, key, "routine");
    } else if (strcmp(s, "urgent") == 0 || strcmp(s, "asap") == 0 ||
               strcmp(s, "stat") == 0) {
        fin_put(out, key, "urgent");
    } else {
        fin_join(p, path, "priority");
        return fhir_error_set(e, 422, "value", p,
                              "not a request priority (routine, urgent, "
                              "asap, stat)");
    }
    return KR_OK;
}

/* The first telecom of 'system' (phone, email). */
static int
s_telecom(json_object *o, const char *path, const char *system,
          const char **value, struct fhir_error *e)
{
    json_object *a, *t;
    const char *sys;
    char p[FIN_PATH];
    size_t n;
    int rc;

    *value = NULL;
    if ((rc = fin_arr(o, path, "telecom", false, &a, &n, e)) != KR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = fin_item(a, path, "telecom", i, &t, e)) != KR_OK)
            return rc;
        fin_index(p, path, "telecom", i);
        if ((rc = fin_str(t, p, "system", false, &sys, e)) != KR_OK)
            return rc;
        if (sys != NULL && strcmp(sys, system) == 0)
            return fin_str(t, p, "value", true, value, e);
    }
    return KR_OK;
}

/* Address.line[0] "street house_number", its parts in the ADXP
 * extensions of _line[0] where the sender gives them. */
static int
s_address(json_object *pat, const char *path, json_object *out,
          struct fhir_error *e)
{
    json_object *a, *ad, *lines, *ul, *ext, *x;
    const char *s, *url, *street = NULL, *house = NULL;
    char p[FIN_PATH], lp[FIN_PATH], buf[512];
    size_t n, nx;
    int rc;

    if ((rc = fin_arr(pat, path, "address", false, &a, &n, e)) != KR_OK ||
        a == NULL)
        return rc;
    if ((rc = fin_item(a, path, "address", 0, &ad, e)) != KR_OK)
        return rc;
    fin_index(p, path, "address", 0);
    json_object *addr = json_object_new_object();
    json_object_object_add(out, "address", addr);
    if ((rc = fin_get(ad, p, "_line", json_type_array, false, &ul, e)) != KR_OK)
        return rc;
    if (ul != NULL && json_object_array_length(ul) > 0 &&
        json_object_is_type(json_object_array_get_idx(ul, 0),
                            json_type_object)) {
        fin_index(lp, p, "_line", 0);
        if ((rc = fin_arr(json_object_array_get_idx(ul, 0), lp, "extension",
                          false, &ext, &nx, e)) != KR_OK)
            return rc;
        for (size_t i = 0; i < nx; i++) {
            char xp[FIN_PATH];
            if ((rc = fin_item(ext, lp, "extension", i, &x, e)) != KR_OK)
                return rc;
            fin_index(xp, lp, "extension", i);
            if ((rc = fin_str(x, xp, "url", true, &url, e)) != KR_OK)
                return rc;
            if (strcmp(url, FIN_ADXP "streetName") == 0)
                rc = fin_str(x, xp, "valueString", true, &street, e);
            else if (strcmp(url, FIN_ADXP "houseNumber") == 0)
                rc = fin_str(x, xp, "valueString", true, &house, e);
            if (rc != KR_OK)
                return rc;
        }
    }
    if (street == NULL) {
        /* No parts given: the line is "street house_number", split at
         * its last space. */
        if ((rc = fin_arr(ad, p, "line", false, &lines, &n, e)) != KR_OK)
            return rc;
        if (lines != NULL) {
            json_object *l0 = json_object_array_get_idx(lines, 0);
            fin_index(lp, p, "line", 0);
            if (!json_object_is_type(l0, json_type_string))
                return fhir_error_set(e, 400, "structure", lp,
                                      "wrong type: expected a string");
            snprintf(buf, sizeof(buf), "%s", json_object_get_string(l0));
            char *sp = strrchr(buf, ' ');
            if (sp != NULL && house == NULL) {
                *sp = '\0';
                fin_put(addr, "house_number", sp + 1);
            }
            fin_put(addr, "street", buf);
        }
    } else {
        fin_put(addr, "street", street);
    }
    fin_put(addr, "house_number", house);
    if ((rc = fin_str(ad, p, "postalCode", false, &s, e)) != KR_OK)
        return rc;
    fin_put(addr, "postal_code", s);
    if ((rc = fin_str(ad, p, "city", false, &s, e)) != KR_OK)
        return rc;
    fin_put(addr, "city", s);
    return KR_OK;
}

/* Patient -> "mother". */
static int
s_patient(json_object *pat, const char *path, json_object *out,
          struct fhir_error *e)
{
    json_object *a, *nm, *g;
    const char *s;
    char p[FIN_PATH], d[11];
    size_t n, ng;
    int rc;

    if ((rc = fin_patient_bsn(pat, path, &s, e)) != KR_OK)
        return rc;
    fin_put(out, "bsn", s);
    if ((rc = fin_arr(pat, path, "name", false, &a, &n, e)) != KR_OK)
        return rc;
    if (a != NULL) {
        if ((rc = fin_item(a, path, "name", 0, &nm, e)) != KR_OK)
            return rc;
        fin_index(p, path, "name", 0);
        if ((rc = fin_arr(nm, p, "given", false, &g, &ng, e)) != KR_OK)
            return rc;
        if (g != NULL) {
            char buf[512] = "";
            size_t used = 0;
            for (size_t i = 0; i < ng; i++) {
                json_object *gi = json_object_array_get_idx(g, i);
                if (!json_object_is_type(gi, json_type_string)) {
                    char gp[FIN_PATH];
                    fin_index(gp, p, "given", i);
                    return fhir_error_set(e, 400, "structure", gp,
                                          "wrong type: expected a string");
                }
                int w = snprintf(buf + used, sizeof(buf) - used, "%s%s",
                                 i > 0 ? " " : "", json_object_get_string(gi));
                if (w < 0 || (size_t)w >= sizeof(buf) - used)
                    break;
                used += (size_t)w;
            }
            fin_put(out, "given_name", buf);
        }
        if ((rc = fin_str(nm, p, "family", false, &s, e)) != KR_OK)
            return rc;
        fin_put(out, "family_name", s);
    }
    if ((rc = fin_str(pat, path, "birthDate", false, &s, e)) != KR_OK)
        return rc;
    if (s != NULL) {
        fin_join(p, path, "birthDate");
        if ((rc = fin_date(s, p, d, e)) != KR_OK)
            return rc;
        fin_put(out, "birth_date", d);
    }
    if ((rc = s_address(pat, path, out, e)) != KR_OK ||
        (rc = s_telecom(pat, path, "phone", &s, e)) != KR_OK)
        return rc;
    fin_put(out, "phone", s);
    return KR_OK;
}

/* PractitionerRole -> "referrer" / "responsible". */
static int
s_professional(json_object *pr, const char *path, json_object *out,
               struct fhir_error *e)
{
    json_object *v, *a, *c;
    const char *s;
    char p[FIN_PATH];
    size_t n;
    int rc;

    if ((rc = fin_get(pr, path, "practitioner", json_type_object, false, &v,
                      e)) != KR_OK)
        return rc;
    if (v != NULL) {
        fin_join(p, path, "practitioner");
        if ((rc = fin_str(v, p, "display", false, &s, e)) != KR_OK)
            return rc;
        fin_put(out, "name", s);
    }
    if ((rc = fin_arr(pr, path, "code", false, &a, &n, e)) != KR_OK)
        return rc;
    if (a != NULL) {
        if ((rc = fin_item(a, path, "code", 0, &c, e)) != KR_OK)
            return rc;
        fin_index(p, path, "code", 0);
        if ((rc = fin_str(c, p, "text", false, &s, e)) != KR_OK)
            return rc;
        fin_put(out, "role", s);
    }
    if ((rc = s_telecom(pr, path, "phone", &s, e)) != KR_OK)
        return rc;
    fin_put(out, "phone", s);
    if ((rc = s_telecom(pr, path, "email", &s, e)) != KR_OK)
        return rc;
    fin_put(out, "email", s);
    if ((rc = fin_identifier(pr, path, "identifier", FHIR_SYS_AGB, false, &s,
                             NULL, e)) != KR_OK)
        return rc;
    fin_put(out, "agb", s);
    return KR_OK;
}

/* ServiceRequest.supportingInfo: the consent relied on (by identifier, or
 * a Consent entry) and the expected delivery date (an Observation). */
static int
s_supporting(const struct fin_bundle *b, json_object *sr, const char *path,
             json_object *out, json_object *content, struct fhir_error *e)
{
    json_object *a, *ref, *id, *res;
    const char *sys, *val;
    char p[FIN_PATH], ip[FIN_PATH], rp[FIN_PATH], hex[KR_ID_HEX_LEN];
    size_t n;
    int rc;

    if ((rc = fin_arr(sr, path, "supportingInfo", false, &a, &n, e)) != KR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = fin_item(a, path, "supportingInfo", i, &ref, e)) != KR_OK)
            return rc;
        fin_index(p, path, "supportingInfo", i);
        if ((rc = fin_get(ref, p, "identifier", json_type_object, false, &id,
                          e)) != KR_OK)
            return rc;
        if (id != NULL) {
            fin_join(ip, p, "identifier");
            if ((rc = fin_str(id, ip, "system", true, &sys, e)) != KR_OK ||
                (rc = fin_str(id, ip, "value", true, &val, e)) != KR_OK)
                return rc;
            if (strcmp(sys, FIN_ID_CONSENT) != 0) {
                fin_join(ip, ip, "system");
                return fhir_error_set(e, 422, "not-supported", ip,
                                      "supportingInfo by identifier names a "
                                      "consent (%s)",
                                      FIN_ID_CONSENT);
            }
            fin_join(ip, ip, "value");
            if ((rc = fin_hex_id_get(val, ip, hex, e)) != KR_OK)
                return rc;
            fin_put(out, "consent_id", hex);
            continue;
        }
        /* A reference into the Bundle: an Observation or a Consent. */
        if ((rc = fin_str(ref, p, "reference", true, &val, e)) != KR_OK)
            return rc;
        const char *type =
            strstr(val, "Consent/") != NULL ? "Consent" : "Observation";
        if ((rc = fin_resolve(b, ref, p, type, &res, rp, e)) != KR_OK) {
            /* urn:uuid references say nothing of the type: try the other. */
            type = type[0] == 'C' ? "Observation" : "Consent";
            if (fin_resolve(b, ref, p, type, &res, rp, NULL) != KR_OK)
                return rc;
        }
        if (type[0] == 'C') {
            if ((rc = fin_identifier(res, rp, "identifier", FIN_ID_CONSENT,
                                     true, &val, ip, e)) != KR_OK ||
                (rc = fin_hex_id_get(val, ip, hex, e)) != KR_OK)
                return rc;
            fin_put(out, "consent_id", hex);
            continue;
        }
        const char *loinc;
        if ((rc = fin_concept_code(res, rp, "code", FIN_LOINC, true, &loinc,
                                   e)) != KR_OK)
            return rc;
        if (strcmp(loinc, "11778-8") != 0) {
            fin_join(ip, rp, "code");
            return fhir_error_set(e, 422, "not-supported", ip,
                                  "the Observation this gateway takes is "
                                  "the estimated delivery date (LOINC "
                                  "11778-8)");
        }
        if ((rc = fin_str(res, rp, "valueDateTime", true, &val, e)) != KR_OK)
            return rc;
        char d[11];
        fin_join(ip, rp, "valueDateTime");
        if (strlen(val) < 10)
            return fhir_error_set(e, 422, "value", ip,
                                  "not a full date (YYYY-MM-DD)");
        memcpy(d, val, 10);
        d[10] = '\0';
        if ((rc = fin_date(d, ip, d, e)) != KR_OK)
            return rc;
        if (content != NULL)
            fin_put(content, "expected_delivery_date", d);
    }
    return KR_OK;
}

/* reasonCode[] -> an array of our reason codes. */
static int
s_reasons(json_object *sr, const char *path, json_object *content,
          const char *key, struct fhir_error *e)
{
    json_object *a, *c, *codes;
    const char *code;
    char p[FIN_PATH];
    size_t n;
    int rc;

    if ((rc = fin_arr(sr, path, "reasonCode", false, &a, &n, e)) != KR_OK ||
        a == NULL)
        return rc;
    codes = json_object_new_array();
    json_object_object_add(content, key, codes);
    for (size_t i = 0; i < n; i++) {
        if ((rc = fin_item(a, path, "reasonCode", i, &c, e)) != KR_OK)
            return rc;
        fin_index(p, path, "reasonCode", i);
        if ((rc = fin_codings_code(c, p, "coding", FIN_CS_REASON, true, &code,
                                   e)) != KR_OK)
            return rc;
        json_object_array_add(codes, json_object_new_string(code));
    }
    return KR_OK;
}

/* Task.input[] of a handover: {type {FIN_CS_HANDOVER, key}, value[x]}. */
static int
s_handover_inputs(json_object *task, const char *path, json_object *ho,
                  struct fhir_error *e)
{
    static const struct {
        const char *key;
        const char *value; /* value[x] */
    } keys[] = {
        {"child_given_name", "valueString"},
        {"child_bsn", "valueIdentifier"},
        {"birth_datetime", "valueDateTime"},
        {"gestational_age_days", "valueInteger"},
        {"birth_weight_g", "valueInteger"},
        {"apgar_1", "valueInteger"},
        {"apgar_5", "valueInteger"},
        {"feeding", "valueCode"},
        {"heel_prick", "valueCode"},
        {"hearing_screening", "valueCode"},
        {"family_situation", "valueString"},
    };
    json_object *a, *in, *v;
    const char *key;
    char p[FIN_PATH], vp[FIN_PATH];
    size_t n, k;
    int rc;

    if ((rc = fin_arr(task, path, "input", false, &a, &n, e)) != KR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = fin_item(a, path, "input", i, &in, e)) != KR_OK)
            return rc;
        fin_index(p, path, "input", i);
        if ((rc = fin_concept_code(in, p, "type", FIN_CS_HANDOVER, true, &key,
                                   e)) != KR_OK)
            return rc;
        for (k = 0; k < sizeof(keys) / sizeof(keys[0]) &&
                    strcmp(keys[k].key, key) != 0;
             k++)
            ;
        if (k == sizeof(keys) / sizeof(keys[0])) {
            fin_join(vp, p, "type");
            return fhir_error_set(e, 422, "not-supported", vp,
                                  "not a handover item this gateway "
                                  "carries");
        }
        fin_join(vp, p, keys[k].value);
        if (strcmp(keys[k].value, "valueInteger") == 0) {
            if ((rc = fin_get(in, p, keys[k].value, json_type_int, true, &v,
                              e)) != KR_OK)
                return rc;
            json_object_object_add(
                ho, key, json_object_new_int64(json_object_get_int64(v)));
        } else if (strcmp(keys[k].value, "valueIdentifier") == 0) {
            const char *sys, *val;
            if ((rc = fin_get(in, p, keys[k].value, json_type_object, true, &v,
                              e)) != KR_OK ||
                (rc = fin_str(v, vp, "system", true, &sys, e)) != KR_OK ||
                (rc = fin_str(v, vp, "value", true, &val, e)) != KR_OK)
                return rc;
            fin_join(vp, vp, "value");
            if (strcmp(sys, FHIR_SYS_BSN) != 0 || !fhir_bsn_valid(val))
                return fhir_error_set(e, 422, "value", vp,
                                      "not a BSN (system %s, nine digits "
                                      "that pass the eleven-test)",
                                      FHIR_SYS_BSN);
            fin_put(ho, key, val);
        } else if (strcmp(keys[k].value, "valueDateTime") == 0) {
            const char *s;
            char local[17];
            if ((rc = fin_str(in, p, keys[k].value, true, &s, e)) != KR_OK)
                return rc;
            /* Kept as the local time it was written in: the birth is
             * recorded as the clock in the room showed it. */
            if (strlen(s) < 16 || s[10] != 'T')
                return fhir_error_set(e, 422, "value", vp,
                                      "not a dateTime with a time");
            memcpy(local, s, 16);
            local[16] = '\0';
            fin_put(ho, key, local);
        } else {
            const char *s;
            if ((rc = fin_str(in, p, keys[k].value, true, &s, e)) != KR_OK)
                return rc;
            fin_put(ho, key, s);
        }
    }
    return KR_OK;
}

int
fin_referral(const struct fhir_ctx *ctx, const struct fin_bundle *b,
             json_object *task, const char *tpath, bool handover,
             const char *bundle_id, json_object *out, struct fhir_error *e)
{
    json_object *v, *sr, *pat, *pr, *content, *person, *a, *c;
    const char *s;
    char p[FIN_PATH], srp[FIN_PATH], pp[FIN_PATH], prp[FIN_PATH],
        org[KR_ORG_ID_MAX + 1], hex[KR_ID_HEX_LEN], vp[FIN_PATH];
    size_t n;
    int rc;

    /* Task: an order, requested, from this organisation to the
     * receiver. */
    if ((rc = fin_str(task, tpath, "intent", true, &s, e)) != KR_OK)
        return rc;
    if (strcmp(s, "order") != 0) {
        fin_join(p, tpath, "intent");
        return fhir_error_set(e, 422, "value", p, "not order");
    }
    if ((rc = fin_str(task, tpath, "status", true, &s, e)) != KR_OK)
        return rc;
    if (strcmp(s, "requested") != 0) {
        fin_join(p, tpath, "status");
        return fhir_error_set(e, 422, "business-rule", p,
                              "a new referral is requested: the recipient "
                              "sets the status from there");
    }
    if ((rc = fin_identifier(task, tpath, "identifier", FIN_ID_REFERRAL, false,
                             &s, vp, e)) != KR_OK)
        return rc;
    if (s != NULL) {
        if ((rc = fin_hex_id_get(s, vp, hex, e)) != KR_OK)
            return rc;
    } else {
        /* Derived from Bundle.id, as the msg_id is: a retry names the
         * same referral. */
        fin_derive_id("referral", ctx->org_id, bundle_id, strlen(bundle_id),
                      hex);
    }
    fin_put(out, "referral_id", hex);
    if ((rc = fin_identifier(task, tpath, "identifier", FIN_ID_CASE, false, &s,
                             vp, e)) != KR_OK)
        return rc;
    if (s != NULL) {
        if ((rc = fin_hex_id_get(s, vp, hex, e)) != KR_OK)
            return rc;
        fin_put(out, "case_id", hex);
    }
    if ((rc = s_priority(task, tpath, out, "priority", e)) != KR_OK ||
        (rc = fin_security(task, tpath, true, out, e)) != KR_OK)
        return rc;
    if ((rc = fin_get(task, tpath, "requester", json_type_object, false, &v,
                      e)) != KR_OK)
        return rc;
    if (v != NULL) {
        fin_join(p, tpath, "requester");
        if ((rc = fin_org_ref(v, p, org, e)) != KR_OK)
            return rc;
        if (strcmp(org, ctx->org_id) != 0)
            return fhir_error_set(e, 403, "security", p,
                                  "not this gateway's organisation: the "
                                  "placer is the sender");
    }
    if ((rc = fin_get(task, tpath, "owner", json_type_object, false, &v, e)) !=
        KR_OK)
        return rc;
    if (v != NULL) {
        json_object *rcp;
        fin_join(p, tpath, "owner");
        if ((rc = fin_org_ref(v, p, org, e)) != KR_OK)
            return rc;
        json_object_object_get_ex(out, "recipient", &rcp);
        if (strcmp(org, json_object_get_string(rcp)) != 0)
            return fhir_error_set(e, 422, "invalid", p,
                                  "differs from the MessageHeader's "
                                  "destination receiver");
    }
    if ((rc = fin_get(task, tpath, "restriction", json_type_object, false, &v,
                      e)) != KR_OK)
        return rc;
    if (v != NULL) {
        json_object *per;
        char t[JSON_MAP_TIME_LEN];
        uint64_t ms;
        fin_join(p, tpath, "restriction");
        if ((rc = fin_get(v, p, "period", json_type_object, false, &per, e)) !=
            KR_OK)
            return rc;
        fin_join(p, p, "period");
        if (per != NULL && (rc = fin_str(per, p, "end", false, &s, e)) != KR_OK)
            return rc;
        if (per != NULL && s != NULL) {
            fin_join(p, p, "end");
            if ((rc = fin_datetime(s, p, false, t, &ms, e)) != KR_OK)
                return rc;
            if (ms <= ctx->now_ms)
                return fhir_error_set(e, 422, "business-rule", p,
                                      "lies in the past: the message could "
                                      "never be delivered");
            fin_put(out, "not_after", t);
        }
    }

    /* Task.focus -> ServiceRequest, Task.for -> Patient. */
    if ((rc = fin_get(task, tpath, "focus", json_type_object, true, &v, e)) !=
        KR_OK)
        return rc;
    fin_join(p, tpath, "focus");
    if ((rc = fin_resolve(b, v, p, "ServiceRequest", &sr, srp, e)) != KR_OK)
        return rc;
    if ((rc = fin_get(task, tpath, "for", json_type_object, true, &v, e)) !=
        KR_OK)
        return rc;
    fin_join(p, tpath, "for");
    if ((rc = fin_resolve(b, v, p, "Patient", &pat, pp, e)) != KR_OK)
        return rc;

    content = json_object_new_object();
    json_object_object_add(out, handover ? "handover" : "referral", content);
    person = json_object_new_object();
    json_object_object_add(content, "mother", person);
    if ((rc = s_patient(pat, pp, person, e)) != KR_OK)
        return rc;

    /* ServiceRequest: purpose, service, reasons, text, urgency, the
     * referrer, the consent, the expected delivery date. */
    if ((rc = fin_get(sr, srp, "subject", json_type_object, false, &v, e)) !=
        KR_OK)
        return rc;
    if (v != NULL) {
        json_object *pat2;
        fin_join(p, srp, "subject");
        if ((rc = fin_resolve(b, v, p, "Patient", &pat2, NULL, e)) != KR_OK)
            return rc;
        if (pat2 != pat)
            return fhir_error_set(e, 422, "invalid", p,
                                  "not the Patient of Task.for");
    }
    if ((rc = fin_arr(sr, srp, "category", true, &a, &n, e)) != KR_OK ||
        (rc = fin_item(a, srp, "category", 0, &c, e)) != KR_OK)
        return rc;
    fin_index(p, srp, "category", 0);
    if ((rc = fin_codings_code(c, p, "coding", FIN_CS_PURPOSE, true, &s, e)) !=
        KR_OK)
        return rc;
    fin_put(out, "purpose", s);
    if (!handover) {
        if ((rc = fin_concept_code(sr, srp, "code", FIN_CS_SERVICE, false, &s,
                                   e)) != KR_OK)
            return rc;
        fin_put(content, "requested_service", s);
        if ((rc = s_priority(sr, srp, content, "urgency", e)) != KR_OK)
            return rc;
    }
    if ((rc = s_reasons(sr, srp, content,
                        handover ? "risk_factors" : "reason_codes", e)) !=
        KR_OK)
        return rc;
    if ((rc = fin_arr(sr, srp, "note", false, &a, &n, e)) != KR_OK)
        return rc;
    if (a != NULL) {
        if ((rc = fin_item(a, srp, "note", 0, &c, e)) != KR_OK)
            return rc;
        fin_index(p, srp, "note", 0);
        if ((rc = fin_str(c, p, "text", true, &s, e)) != KR_OK)
            return rc;
        fin_put(content, handover ? "notes" : "reason_text", s);
    }
    if ((rc = fin_get(sr, srp, "requester", json_type_object, false, &v, e)) !=
        KR_OK)
        return rc;
    if (v != NULL) {
        json_object *prof = json_object_new_object();
        json_object_object_add(content, handover ? "responsible" : "referrer",
                               prof);
        fin_join(p, srp, "requester");
        if ((rc = fin_resolve(b, v, p, "PractitionerRole", &pr, prp, e)) !=
                KR_OK ||
            (rc = s_professional(pr, prp, prof, e)) != KR_OK)
            return rc;
    }
    if ((rc = s_supporting(b, sr, srp, out, handover ? NULL : content, e)) !=
        KR_OK)
        return rc;
    if (handover)
        return s_handover_inputs(task, tpath, content, e);
    return KR_OK;
}
