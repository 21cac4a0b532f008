/*
 * fhir_in_bundle.c - a $process-message Bundle as one kansrijk message
 * description: the Bundle and its MessageHeader (event, sender, receiver,
 * author, focus), then the focus by event: a Task (referral, handover:
 * fhir_in_referral.c), a Communication (supplement, communication), a
 * Flag (signal), a Consent (consent-grant: fhir_in_consent.c).
 * docs/FHIR.md, "Messages in".
 */
#include "fhir_in_internal.h"

#include <stdio.h>
#include <string.h>

/* The resources a message Bundle may hold: anything else is refused, so
 * that nothing a sender meant to say is silently dropped. */
static const char *const s_known[] = {
    "MessageHeader",    "Task",          "ServiceRequest", "Patient",
    "PractitionerRole", "Practitioner",  "Organization",   "Consent",
    "Observation",      "Communication", "Flag",           NULL};

/* event code -> the resource its focus is */
static const struct {
    const char *event;
    const char *focus;
} s_events[] = {
    {"referral", "Task"},
    {"handover", "Task"},
    {"supplement", "Communication"},
    {"communication", "Communication"},
    {"signal", "Flag"},
    {"consent-grant", "Consent"},
};

/* Bundle.id: a FHIR id ([A-Za-z0-9-.]{1,64}). */
static bool
s_fhir_id(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
            return false;
    return true;
}

/* Every entry an object with a resource of a type we know. */
static int
s_entries(const struct fin_bundle *b, struct fhir_error *e)
{
    json_object *ent, *res;
    const char *rt;
    char p[FIN_PATH];
    int rc;

    for (size_t i = 0; i < b->n; i++) {
        if ((rc = fin_item(b->entries, "Bundle", "entry", i, &ent, e)) != KR_OK)
            return rc;
        fin_index(p, "Bundle", "entry", i);
        if ((rc = fin_get(ent, p, "resource", json_type_object, true, &res,
                          e)) != KR_OK)
            return rc;
        fin_join(p, p, "resource");
        if ((rc = fin_str(res, p, "resourceType", true, &rt, e)) != KR_OK)
            return rc;
        size_t k;
        for (k = 0; s_known[k] != NULL && strcmp(s_known[k], rt) != 0; k++)
            ;
        if (s_known[k] == NULL) {
            fin_join(p, p, "resourceType");
            return fhir_error_set(e, 422, "not-supported", p,
                                  "a resource type this gateway does not "
                                  "take in a message Bundle");
        }
        if (i > 0 && strcmp(rt, "MessageHeader") == 0)
            return fhir_error_set(e, 400, "structure", p,
                                  "a second MessageHeader: a message "
                                  "Bundle has one, as its first entry");
    }
    return KR_OK;
}

/* Supplement and communication: a Communication whose payload is the
 * sealed text; about[] names the referral, case and consent by
 * identifier; subject (optional) the Patient. */
static int
s_communication(const struct fin_bundle *b, json_object *c, const char *cp,
                json_object *out, struct fhir_error *e)
{
    json_object *a, *it, *pl, *subj, *pat;
    const char *s, *sys, *val, *purpose;
    char p[FIN_PATH], ip[FIN_PATH], id[KR_ID_HEX_LEN];
    size_t n;
    int rc;

    if ((rc = fin_security(c, cp, false, out, e)) != KR_OK)
        return rc;
    if ((rc = fin_arr(c, cp, "category", false, &a, &n, e)) != KR_OK)
        return rc;
    if (a != NULL) {
        if ((rc = fin_item(a, cp, "category", 0, &it, e)) != KR_OK)
            return rc;
        fin_index(p, cp, "category", 0);
        if ((rc = fin_codings_code(it, p, "coding", FIN_CS_PURPOSE, false,
                                   &purpose, e)) != KR_OK)
            return rc;
        fin_put(out, "purpose", purpose);
    }
    if ((rc = fin_str(c, cp, "priority", false, &s, e)) != KR_OK)
        return rc;
    if (s != NULL) {
        fin_join(p, cp, "priority");
        if (strcmp(s, "routine") == 0)
            fin_put(out, "priority", "routine");
        else if (strcmp(s, "urgent") == 0 || strcmp(s, "asap") == 0 ||
                 strcmp(s, "stat") == 0)
            fin_put(out, "priority", "urgent");
        else
            return fhir_error_set(e, 422, "value", p,
                                  "not a request priority (routine, urgent, "
                                  "asap, stat)");
    }
    /* about[]: the referral, the case and the consent, by identifier. */
    if ((rc = fin_arr(c, cp, "about", false, &a, &n, e)) != KR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        json_object *ident;
        if ((rc = fin_item(a, cp, "about", i, &it, e)) != KR_OK)
            return rc;
        fin_index(p, cp, "about", i);
        if ((rc = fin_get(it, p, "identifier", json_type_object, true, &ident,
                          e)) != KR_OK)
            return rc;
        fin_join(ip, p, "identifier");
        if ((rc = fin_str(ident, ip, "system", true, &sys, e)) != KR_OK ||
            (rc = fin_str(ident, ip, "value", true, &val, e)) != KR_OK)
            return rc;
        fin_join(ip, ip, "value");
        const char *key = strcmp(sys, FIN_ID_REFERRAL) == 0  ? "referral_id"
                          : strcmp(sys, FIN_ID_CASE) == 0    ? "case_id"
                          : strcmp(sys, FIN_ID_CONSENT) == 0 ? "consent_id"
                                                             : NULL;
        if (key == NULL) {
            fin_join(ip, p, "identifier.system");
            return fhir_error_set(e, 422, "not-supported", ip,
                                  "about names a referral (%s), a case (%s) "
                                  "or a consent (%s)",
                                  FIN_ID_REFERRAL, FIN_ID_CASE, FIN_ID_CONSENT);
        }
        if ((rc = fin_hex_id_get(val, ip, id, e)) != KR_OK)
            return rc;
        fin_put(out, key, id);
    }
    if ((rc = fin_get(c, cp, "subject", json_type_object, false, &subj, e)) !=
        KR_OK)
        return rc;
    if (subj != NULL) {
        char pp[FIN_PATH];
        fin_join(p, cp, "subject");
        if ((rc = fin_resolve(b, subj, p, "Patient", &pat, pp, e)) != KR_OK ||
            (rc = fin_patient_bsn(pat, pp, &s, e)) != KR_OK)
            return rc;
        fin_put(out, "subject_bsn", s);
    }
    if ((rc = fin_arr(c, cp, "payload", true, &a, &n, e)) != KR_OK)
        return rc;
    if (n != 1) {
        fin_join(p, cp, "payload");
        return fhir_error_set(e, 422, "not-supported", p,
                              "one payload: its contentString is the "
                              "message's text");
    }
    if ((rc = fin_item(a, cp, "payload", 0, &pl, e)) != KR_OK)
        return rc;
    fin_index(p, cp, "payload", 0);
    if ((rc = fin_str(pl, p, "contentString", true, &s, e)) != KR_OK)
        return rc;
    fin_put(out, "opaque", s);
    return KR_OK;
}

/* Flag has no priority element; R4's extension flag-priority gives one:
 * high (PH) is urgent, the others routine. */
static int
s_flag_priority(json_object *f, const char *fp, json_object *out,
                struct fhir_error *e)
{
    json_object *a, *x;
    const char *url, *code;
    char p[FIN_PATH];
    size_t n;
    int rc;

    if ((rc = fin_arr(f, fp, "extension", false, &a, &n, e)) != KR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = fin_item(a, fp, "extension", i, &x, e)) != KR_OK)
            return rc;
        fin_index(p, fp, "extension", i);
        if ((rc = fin_str(x, p, "url", true, &url, e)) != KR_OK)
            return rc;
        if (strcmp(url, FIN_FLAG_PRIORITY) != 0)
            continue;
        if ((rc = fin_concept_code(x, p, "valueCodeableConcept",
                                   FIN_FLAG_PRIORITY_CS, true, &code, e)) !=
            KR_OK)
            return rc;
        if (strcmp(code, "PH") == 0) {
            fin_put(out, "priority", "urgent");
        } else if (strcmp(code, "PM") == 0 || strcmp(code, "PL") == 0 ||
                   strcmp(code, "PN") == 0) {
            fin_put(out, "priority", "routine");
        } else {
            fin_join(p, p, "valueCodeableConcept");
            return fhir_error_set(e, 422, "value", p,
                                  "not a flag priority (PN, PL, PM, PH)");
        }
    }
    return KR_OK;
}

/* Signal: a Flag about a Patient (the BSN is the subject) whose
 * code.text is the sealed text. */
static int
s_signal(const struct fin_bundle *b, json_object *f, const char *fp,
         json_object *out, struct fhir_error *e)
{
    json_object *a, *it, *subj, *pat, *code;
    const char *s, *purpose;
    char p[FIN_PATH], pp[FIN_PATH];
    size_t n;
    int rc;

    if ((rc = fin_security(f, fp, true, out, e)) != KR_OK ||
        (rc = fin_str(f, fp, "status", true, &s, e)) != KR_OK)
        return rc;
    if (strcmp(s, "active") != 0) {
        fin_join(p, fp, "status");
        return fhir_error_set(e, 422, "value", p,
                              "a signal is sent with status active");
    }
    if ((rc = fin_arr(f, fp, "category", true, &a, &n, e)) != KR_OK ||
        (rc = fin_item(a, fp, "category", 0, &it, e)) != KR_OK)
        return rc;
    fin_index(p, fp, "category", 0);
    if ((rc = fin_codings_code(it, p, "coding", FIN_CS_PURPOSE, true, &purpose,
                               e)) != KR_OK)
        return rc;
    fin_put(out, "purpose", purpose);
    if ((rc = fin_get(f, fp, "subject", json_type_object, true, &subj, e)) !=
        KR_OK)
        return rc;
    fin_join(p, fp, "subject");
    if ((rc = fin_resolve(b, subj, p, "Patient", &pat, pp, e)) != KR_OK ||
        (rc = fin_patient_bsn(pat, pp, &s, e)) != KR_OK)
        return rc;
    fin_put(out, "subject_bsn", s);
    if ((rc = fin_get(f, fp, "code", json_type_object, true, &code, e)) !=
        KR_OK)
        return rc;
    fin_join(p, fp, "code");
    if ((rc = fin_str(code, p, "text", true, &s, e)) != KR_OK)
        return rc;
    fin_put(out, "opaque", s);
    return s_flag_priority(f, fp, out, e);
}

/* MessageHeader: the event, the sender (this organisation), the
 * receiver, the author, and the focus resolved. Without ctx->org_id (the
 * gateway does not know it yet) the sender stands for this organisation,
 * copied into 'self': a check of everything else (fhir_in.h). */
static int
s_header(struct fhir_ctx *ctx, char self[KR_ORG_ID_MAX + 1],
         const struct fin_bundle *b, json_object *mh, const char **event,
         json_object **focus, char fpath[FIN_PATH], json_object *out,
         struct fhir_error *e)
{
    static const char *const mhp = "Bundle.entry[0].resource";
    json_object *ec, *v, *a, *it, *reason;
    const char *sys, *s;
    char p[FIN_PATH], org[KR_ORG_ID_MAX + 1];
    size_t n, k;
    int rc;

    if ((rc = fin_get(mh, mhp, "eventCoding", json_type_object, true, &ec,
                      e)) != KR_OK)
        return rc;
    fin_join(p, mhp, "eventCoding");
    if ((rc = fin_str(ec, p, "system", true, &sys, e)) != KR_OK ||
        (rc = fin_str(ec, p, "code", true, event, e)) != KR_OK)
        return rc;
    if (strcmp(sys, FIN_CS_EVENT) != 0) {
        fin_join(p, p, "system");
        return fhir_error_set(e, 422, "not-supported", p,
                              "not the event system %s", FIN_CS_EVENT);
    }
    for (k = 0; k < sizeof(s_events) / sizeof(s_events[0]) &&
                strcmp(s_events[k].event, *event) != 0;
         k++)
        ;
    if (k == sizeof(s_events) / sizeof(s_events[0])) {
        fin_join(p, p, "code");
        return fhir_error_set(e, 422, "not-supported", p,
                              "not an event this gateway takes (referral, "
                              "handover, supplement, communication, signal, "
                              "consent-grant)");
    }

    /* The sender is this organisation: a gateway speaks for its own
     * organisation only, whatever a client writes. */
    if ((rc = fin_get(mh, mhp, "sender", json_type_object, true, &v, e)) !=
        KR_OK)
        return rc;
    fin_join(p, mhp, "sender");
    if ((rc = fin_org_ref(v, p, org, e)) != KR_OK)
        return rc;
    if (ctx->org_id == NULL) {
        snprintf(self, KR_ORG_ID_MAX + 1, "%s", org);
        ctx->org_id = self;
    } else if (strcmp(org, ctx->org_id) != 0)
        return fhir_error_set(e, 403, "security", p,
                              "not this gateway's organisation: a gateway "
                              "sends for its own organisation only");

    if ((rc = fin_arr(mh, mhp, "destination", true, &a, &n, e)) != KR_OK)
        return rc;
    if (n != 1) {
        fin_join(p, mhp, "destination");
        return fhir_error_set(e, 422, "not-supported", p,
                              "a message goes to one destination");
    }
    if ((rc = fin_item(a, mhp, "destination", 0, &it, e)) != KR_OK)
        return rc;
    fin_index(p, mhp, "destination", 0);
    if ((rc = fin_get(it, p, "receiver", json_type_object, true, &v, e)) !=
        KR_OK)
        return rc;
    fin_join(p, p, "receiver");
    if ((rc = fin_org_ref(v, p, org, e)) != KR_OK)
        return rc;
    fin_put(out, "recipient", org);

    if ((rc = fin_get(mh, mhp, "author", json_type_object, false, &v, e)) !=
        KR_OK)
        return rc;
    if (v != NULL) {
        json_object *id;
        fin_join(p, mhp, "author");
        if ((rc = fin_get(v, p, "identifier", json_type_object, true, &id,
                          e)) != KR_OK)
            return rc;
        fin_join(p, p, "identifier");
        if ((rc = fin_str(id, p, "system", true, &sys, e)) != KR_OK ||
            (rc = fin_str(id, p, "value", true, &s, e)) != KR_OK)
            return rc;
        if (strcmp(sys, FIN_ID_ACTOR) != 0) {
            fin_join(p, p, "system");
            return fhir_error_set(e, 422, "not-supported", p,
                                  "the author is named by an identifier "
                                  "with system %s (an actor reference the "
                                  "organisation resolves)",
                                  FIN_ID_ACTOR);
        }
        fin_put(out, "actor_ref", s);
    }
    /* reason.text: why the meldrecht is used (sealed). */
    if ((rc = fin_get(mh, mhp, "reason", json_type_object, false, &reason,
                      e)) != KR_OK)
        return rc;
    if (reason != NULL) {
        fin_join(p, mhp, "reason");
        if ((rc = fin_str(reason, p, "text", true, &s, e)) != KR_OK)
            return rc;
        fin_put(out, "justification", s);
    }

    if ((rc = fin_arr(mh, mhp, "focus", true, &a, &n, e)) != KR_OK)
        return rc;
    if (n != 1) {
        fin_join(p, mhp, "focus");
        return fhir_error_set(e, 422, "not-supported", p,
                              "a message has one focus");
    }
    fin_index(p, mhp, "focus", 0);
    return fin_resolve(b, json_object_array_get_idx(a, 0), p, s_events[k].focus,
                       focus, fpath, e);
}

int
fhir_in_message(const struct fhir_ctx *ctx_in, json_object *bundle,
                json_object **kr_out, const char **kind_out,
                struct fhir_error *e)
{
    struct fhir_ctx own = *ctx_in, *ctx = &own;
    char self[KR_ORG_ID_MAX + 1];
    struct fin_bundle b = {NULL, 0};
    json_object *out = NULL, *mh, *v, *focus;
    const char *s, *bundle_id, *event = NULL;
    char msg_id[KR_ID_HEX_LEN], fpath[FIN_PATH];
    int rc;

    *kr_out = NULL;
    if (kind_out != NULL)
        *kind_out = NULL;
    if (!json_object_is_type(bundle, json_type_object))
        return fhir_error_set(e, 400, "structure", "", "not a JSON object");
    if ((rc = fin_str(bundle, "", "resourceType", true, &s, e)) != KR_OK)
        return rc;
    if (strcmp(s, "Bundle") != 0)
        return fhir_error_set(e, 400, "structure", "resourceType",
                              "$process-message takes a Bundle");
    if ((rc = fin_str(bundle, "Bundle", "type", true, &s, e)) != KR_OK)
        return rc;
    if (strcmp(s, "message") != 0)
        return fhir_error_set(e, 422, "value", "Bundle.type",
                              "not message: $process-message takes a "
                              "message Bundle");
    /* The msg_id derives from Bundle.id: without it a retry would be a
     * second message. */
    if ((rc = fin_str(bundle, "Bundle", "id", true, &bundle_id, e)) != KR_OK)
        return rc;
    if (!s_fhir_id(bundle_id))
        return fhir_error_set(e, 400, "value", "Bundle.id",
                              "not a FHIR id (1 to 64 of A-Z, a-z, 0-9, "
                              "'-', '.')");
    if ((rc = fin_get(bundle, "Bundle", "entry", json_type_array, true, &v,
                      e)) != KR_OK)
        return rc;
    b.entries = v;
    b.n = json_object_array_length(v);
    if (b.n == 0)
        return fhir_error_set(e, 400, "structure", "Bundle.entry",
                              "empty: a message Bundle starts with its "
                              "MessageHeader");
    if (b.n > FIN_MAX_ENTRIES)
        return fhir_error_set(e, 422, "too-long", "Bundle.entry",
                              "more than %d entries", FIN_MAX_ENTRIES);
    if ((rc = s_entries(&b, e)) != KR_OK)
        return rc;
    json_object_object_get_ex(json_object_array_get_idx(b.entries, 0),
                              "resource", &mh);
    json_object_object_get_ex(mh, "resourceType", &v);
    if (strcmp(json_object_get_string(v), "MessageHeader") != 0)
        return fhir_error_set(e, 400, "structure",
                              "Bundle.entry[0].resource.resourceType",
                              "not MessageHeader: a message Bundle starts "
                              "with its MessageHeader");

    out = json_object_new_object();
    if ((rc = s_header(ctx, self, &b, mh, &event, &focus, fpath, out, e)) !=
        KR_OK)
        goto fail;
    fin_put(out, "type", event);
    if (strcmp(event, "referral") == 0 || strcmp(event, "handover") == 0)
        rc = fin_referral(ctx, &b, focus, fpath, event[0] == 'h', bundle_id,
                          out, e);
    else if (strcmp(event, "signal") == 0)
        rc = s_signal(&b, focus, fpath, out, e);
    else if (strcmp(event, "consent-grant") == 0)
        rc = fin_consent(ctx, &b, focus, fpath, out, e);
    else
        rc = s_communication(&b, focus, fpath, out, e);
    if (rc != KR_OK)
        goto fail;
    fhir_bundle_msg_id(ctx->org_id, bundle_id, msg_id);
    fin_put(out, "msg_id", msg_id);
    if ((rc = fin_check(ctx, out, "Bundle", e)) != KR_OK)
        goto fail;
    *kr_out = out;
    if (kind_out != NULL) {
        /* A static name, not a pointer into the Bundle or the result. */
        for (size_t k = 0; k < sizeof(s_events) / sizeof(s_events[0]); k++)
            if (strcmp(s_events[k].event, event) == 0)
                *kind_out = s_events[k].event;
    }
    return KR_OK;
fail:
    json_object_put(out);
    return rc;
}
