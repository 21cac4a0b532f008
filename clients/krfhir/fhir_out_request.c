/*
 * fhir_out_request.c - the ServiceRequest and the Patient of a referral
 * this organisation received (the REFERRAL or HANDOVER that opened it, as
 * its node holds it). docs/FHIR.md, "The mapping out"; the Task is in
 * fhir_out.c, and the helpers both use in fhir_out_internal.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir_out_internal.h"
#include "json_map.h"
#include "util.h"

/*
 * ServiceRequest and Patient
 */

/* The referrer (or a handover's responsible professional) as a contained
 * PractitionerRole "#referrer". */
static json_object *
s_practitioner_role(json_object *p, const char *placer)
{
    json_object *r, *a;
    const char *name = fo_str(p, "name"), *role = fo_str(p, "role");
    const char *phone = fo_str(p, "phone"), *email = fo_str(p, "email");
    const char *agb = fo_str(p, "agb");

    if (p == NULL)
        return NULL;
    r = json_object_new_object();
    json_object_object_add(r, "resourceType",
                           json_object_new_string("PractitionerRole"));
    json_object_object_add(r, "id", json_object_new_string("referrer"));
    if (agb != NULL) {
        a = json_object_new_array();
        json_object_array_add(a, fo_identifier(FHIR_SYS_AGB, agb));
        json_object_object_add(r, "identifier", a);
    }
    if (name != NULL) {
        json_object *pr = json_object_new_object();
        json_object_object_add(pr, "display", fo_string(name));
        json_object_object_add(r, "practitioner", pr);
    }
    fo_add(r, "organization", fo_org_ref(placer));
    if (role != NULL) {
        a = json_object_new_array();
        json_object_array_add(a, fo_cc_text(role));
        json_object_object_add(r, "code", a);
    }
    a = json_object_new_array();
    if (phone != NULL) {
        json_object *cp = json_object_new_object();
        json_object_object_add(cp, "system", json_object_new_string("phone"));
        json_object_object_add(cp, "value", fo_string(phone));
        json_object_array_add(a, cp);
    }
    if (email != NULL) {
        json_object *cp = json_object_new_object();
        json_object_object_add(cp, "system", json_object_new_string("email"));
        json_object_object_add(cp, "value", fo_string(email));
        json_object_array_add(a, cp);
    }
    fo_add_array(r, "telecom", a);
    return r;
}

/* The expected delivery date as a contained Observation "#edd" (LOINC
 * 11778-8, Delivery date Estimated). */
static json_object *
s_edd(const char *date, const char *patient_id)
{
    json_object *o = json_object_new_object(), *code, *a;

    json_object_object_add(o, "resourceType",
                           json_object_new_string("Observation"));
    json_object_object_add(o, "id", json_object_new_string("edd"));
    json_object_object_add(o, "status", json_object_new_string("final"));
    code = fo_cc(FO_LOINC, "11778-8");
    a = json_object_object_get(code, "coding");
    json_object_object_add(json_object_array_get_idx(a, 0), "display",
                           json_object_new_string("Delivery date Estimated"));
    json_object_object_add(o, "code", code);
    json_object_object_add(o, "subject", fo_ref("Patient", patient_id));
    json_object_object_add(o, "valueDateTime", json_object_new_string(date));
    return o;
}

/* A ServiceRequest's status from the referral's state: active while it
 * runs, then what FHIR's RequestStatus says of the end. */
static const char *
s_request_status(json_object *referral)
{
    const char *s = fo_task_status(referral);

    if (s == NULL)
        return "active";
    if (strcmp(s, "completed") == 0)
        return "completed";
    if (strcmp(s, "cancelled") == 0 || strcmp(s, "rejected") == 0 ||
        strcmp(s, "failed") == 0)
        return "revoked";
    if (strcmp(s, "entered-in-error") == 0)
        return "entered-in-error";
    if (strcmp(s, "on-hold") == 0)
        return "on-hold";
    return "active";
}

static void
s_texts(json_object *notes, const char *text)
{
    if (text != NULL) {
        json_object *n = json_object_new_object();
        json_object_object_add(n, "text", fo_string(text));
        json_object_array_add(notes, n);
    }
}

json_object *
fhir_out_service_request(const struct fhir_ctx *ctx, json_object *referral,
                         json_object *item, struct fhir_error *e)
{
    const char *id = fo_referral_id(referral, item);
    json_object *sr, *a, *contained, *codes;
    int handover;
    json_object *c = fo_content(item, &handover);

    if (id == NULL) {
        fhir_error_set(e, 404, "not-found", "ServiceRequest.id",
                       "no such referral");
        return NULL;
    }
    if (c == NULL) {
        fhir_error_set(e, 404, "not-found", "ServiceRequest",
                       "this organisation holds no opened content of the "
                       "referral (it is the placer, or the item is gone)");
        return NULL;
    }
    const char *placer = fo_str(referral, "placer");
    if (placer == NULL)
        placer = fo_str(item, "sender");

    sr = json_object_new_object();
    json_object_object_add(sr, "resourceType",
                           json_object_new_string("ServiceRequest"));
    json_object_object_add(sr, "id", json_object_new_string(id));
    json_object_object_add(sr, "meta", fo_meta(ctx, referral, item));

    contained = json_object_new_array();
    json_object *role = s_practitioner_role(
        fo_obj(c, handover ? "responsible" : "referrer"), placer);
    fo_push(contained, role);
    const char *edd = handover ? NULL : fo_date(c, "expected_delivery_date");
    if (edd != NULL)
        json_object_array_add(contained, s_edd(edd, id));
    fo_add_array(sr, "contained", contained);

    a = json_object_new_array();
    json_object_array_add(a, fo_identifier(FO_ID_REFERRAL, id));
    json_object_object_add(sr, "identifier", a);
    json_object_object_add(sr, "status",
                           json_object_new_string(s_request_status(referral)));
    json_object_object_add(sr, "intent", json_object_new_string("order"));

    const char *purpose = fo_code(referral, "purpose");
    if (purpose == NULL)
        purpose = fo_code(item, "purpose");
    if (purpose != NULL) {
        a = json_object_new_array();
        json_object_array_add(a, fo_cc(FO_CS_PURPOSE, purpose));
        json_object_object_add(sr, "category", a);
    }
    const char *prio = fo_priority(handover ? NULL : fo_code(c, "urgency"));
    if (prio == NULL)
        prio = fo_priority(fo_code(item, "priority"));
    fo_add_str(sr, "priority", prio);
    if (!handover)
        fo_add(sr, "code",
               fo_cc(FO_CS_SERVICE, fo_code(c, "requested_service")));
    json_object_object_add(sr, "subject", fo_ref("Patient", id));
    fo_add_str(sr, "authoredOn", fo_time(item, "created_at"));
    if (role != NULL) {
        json_object *r = json_object_new_object();
        json_object_object_add(r, "reference",
                               json_object_new_string("#referrer"));
        json_object_object_add(sr, "requester", r);
    } else {
        fo_add(sr, "requester", fo_org_ref(placer));
    }
    const char *performer = fo_str(referral, "performer");
    json_object *perf = fo_org_ref(performer != NULL ? performer
                                   : ctx != NULL     ? ctx->org_id
                                                     : NULL);
    if (perf != NULL) {
        a = json_object_new_array();
        json_object_array_add(a, perf);
        json_object_object_add(sr, "performer", a);
    }

    codes = fo_arr(c, handover ? "risk_factors" : "reason_codes");
    a = json_object_new_array();
    for (size_t i = 0; codes != NULL && i < json_object_array_length(codes);
         i++) {
        json_object *v = json_object_array_get_idx(codes, i);
        if (json_object_is_type(v, json_type_string))
            fo_push(a, fo_cc(FO_CS_REASON, json_object_get_string(v)));
    }
    fo_add_array(sr, "reasonCode", a);

    a = json_object_new_array();
    const char *consent = fo_hex32(item, "consent_id");
    if (consent != NULL) {
        json_object *r = json_object_new_object();
        json_object_object_add(r, "type", json_object_new_string("Consent"));
        json_object_object_add(r, "identifier",
                               fo_identifier(FO_ID_CONSENT, consent));
        json_object_array_add(a, r);
    }
    if (edd != NULL) {
        json_object *r = json_object_new_object();
        json_object_object_add(r, "reference", json_object_new_string("#edd"));
        json_object_array_add(a, r);
    }
    fo_add_array(sr, "supportingInfo", a);

    a = json_object_new_array();
    if (handover) {
        s_texts(a, fo_str(c, "notes"));
    } else {
        s_texts(a, fo_str(c, "reason_text"));
    }
    fo_add_array(sr, "note", a);
    return sr;
}

/* "street house_number" with each part in its ADXP extension. */
static json_object *
s_address(json_object *ad)
{
    const char *street = fo_str(ad, "street");
    const char *number = fo_str(ad, "house_number");
    const char *postal = fo_str(ad, "postal_code");
    const char *city = fo_str(ad, "city");
    json_object *o, *a;

    if (street == NULL && number == NULL && postal == NULL && city == NULL)
        return NULL;
    o = json_object_new_object();
    if (street != NULL || number != NULL) {
        size_t n = (street ? strlen(street) : 0) + 1 +
                   (number ? strlen(number) : 0) + 1;
        char *line = xmalloc(n);
        json_object *ext = json_object_new_array(), *lx, *l;
        /* Whole, never cut: a cut could split a UTF-8 character. */
        snprintf(line, n, "%s%s%s", street ? street : "",
                 street && number ? " " : "", number ? number : "");
        a = json_object_new_array();
        json_object_array_add(a, fo_string(line));
        free(line);
        json_object_object_add(o, "line", a);
        if (street != NULL) {
            json_object *x = json_object_new_object();
            json_object_object_add(
                x, "url",
                json_object_new_string(
                    "http://hl7.org/fhir/StructureDefinition/"
                    "iso21090-ADXP-streetName"));
            json_object_object_add(x, "valueString", fo_string(street));
            json_object_array_add(ext, x);
        }
        if (number != NULL) {
            json_object *x = json_object_new_object();
            json_object_object_add(
                x, "url",
                json_object_new_string(
                    "http://hl7.org/fhir/StructureDefinition/"
                    "iso21090-ADXP-houseNumber"));
            json_object_object_add(x, "valueString", fo_string(number));
            json_object_array_add(ext, x);
        }
        lx = json_object_new_object();
        json_object_object_add(lx, "extension", ext);
        l = json_object_new_array();
        json_object_array_add(l, lx);
        json_object_object_add(o, "_line", l);
    }
    fo_add_str(o, "city", city);
    fo_add_str(o, "postalCode", postal);
    return o;
}

json_object *
fhir_out_patient(const struct fhir_ctx *ctx, json_object *referral,
                 json_object *item, struct fhir_error *e)
{
    const char *id = fo_referral_id(referral, item);
    json_object *p, *a;
    int handover;
    json_object *c = fo_content(item, &handover);
    json_object *m = fo_obj(c, "mother");

    if (id == NULL) {
        fhir_error_set(e, 404, "not-found", "Patient.id", "no such referral");
        return NULL;
    }
    if (m == NULL) {
        fhir_error_set(e, 404, "not-found", "Patient",
                       "this organisation holds no opened content of the "
                       "referral (it is the placer, or the item is gone)");
        return NULL;
    }
    p = json_object_new_object();
    json_object_object_add(p, "resourceType",
                           json_object_new_string("Patient"));
    json_object_object_add(p, "id", json_object_new_string(id));
    json_object_object_add(p, "meta", fo_meta(ctx, referral, item));
    /* The BSN as the opened content holds it: only here, at the
     * recipient, never in a log line. */
    const char *bsn = fo_str(m, "bsn");
    if (bsn != NULL) {
        a = json_object_new_array();
        json_object_array_add(a, fo_identifier(FHIR_SYS_BSN, bsn));
        json_object_object_add(p, "identifier", a);
    }
    const char *family = fo_str(m, "family_name");
    const char *given = fo_str(m, "given_name");
    if (family != NULL || given != NULL) {
        json_object *n = json_object_new_object();
        fo_add_str(n, "family", family);
        if (given != NULL) {
            json_object *g = json_object_new_array();
            json_object_array_add(g, fo_string(given));
            json_object_object_add(n, "given", g);
        }
        a = json_object_new_array();
        json_object_array_add(a, n);
        json_object_object_add(p, "name", a);
    }
    const char *phone = fo_str(m, "phone");
    if (phone != NULL) {
        json_object *cp = json_object_new_object();
        json_object_object_add(cp, "system", json_object_new_string("phone"));
        json_object_object_add(cp, "value", fo_string(phone));
        a = json_object_new_array();
        json_object_array_add(a, cp);
        json_object_object_add(p, "telecom", a);
    }
    fo_add_str(p, "birthDate", fo_date(m, "birth_date"));
    json_object *ad = s_address(fo_obj(m, "address"));
    if (ad != NULL) {
        a = json_object_new_array();
        json_object_array_add(a, ad);
        json_object_object_add(p, "address", a);
    }
    return p;
}
