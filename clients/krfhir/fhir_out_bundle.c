/*
 * fhir_out_bundle.c - the gateway's own resources: the CapabilityStatement
 * (GET /metadata), the $process-message response Bundle, searchset
 * Bundles, and a broker's notice as a Communication. docs/FHIR.md.
 */
#include <stdio.h>
#include <string.h>

#include "fhir_out_internal.h"

/*
 * Notices
 */

/* The business-status code of a notice's kind: the same codes as
 * Task.businessStatus where there is one, the kind's name otherwise. */
static const char *
s_notice_code(const char *kind)
{
    if (kind == NULL)
        return "notice";
    if (strcmp(kind, "escalation") == 0)
        return "escalated";
    if (strcmp(kind, "cancel-request") == 0)
        return "cancel-requested";
    return fo_is_code(kind) ? kind : "notice";
}

/* What the notice says, in words (codes and times only: no person). */
static void
s_notice_text(json_object *nt, const char *kind, char *out, size_t outlen)
{
    const char *timer = fo_code(nt, "timer"), *state = fo_code(nt, "state");
    const char *due = fo_time(nt, "due"), *reason = fo_code(nt, "reason");
    json_object *v;
    int64_t step = 0, late = 0;

    if (json_object_object_get_ex(nt, "step", &v) &&
        json_object_is_type(v, json_type_int))
        step = json_object_get_int64(v);
    if (json_object_object_get_ex(nt, "overdue_ms", &v) &&
        json_object_is_type(v, json_type_int))
        late = json_object_get_int64(v);
    if (kind != NULL && strcmp(kind, "escalation") == 0)
        snprintf(out, outlen,
                 "Escalation: the %s timer ran out (step %lld) while the "
                 "referral was %s%s%s, %lld ms late",
                 timer ? timer : "referral's", (long long)step,
                 state ? state : "open", due ? "; it was due " : "",
                 due ? due : "", (long long)late);
    else if (kind != NULL && strcmp(kind, "cancel-request") == 0)
        snprintf(out, outlen,
                 "Cancellation requested%s%s: confirm or decline it by "
                 "updating the Task",
                 reason ? ", reason " : "", reason ? reason : "");
    else if (kind != NULL && strcmp(kind, "referral-cancelled") == 0)
        snprintf(out, outlen, "The broker cancelled the referral%s%s",
                 reason ? ", reason " : "", reason ? reason : "");
    else if (kind != NULL && strcmp(kind, "consent-revoked") == 0)
        snprintf(out, outlen,
                 "A consent under which messages were received "
                 "was revoked");
    else
        snprintf(out, outlen, "A notice from the broker (%s)",
                 kind != NULL && fo_is_code(kind) ? kind : "unknown kind");
}

json_object *
fhir_out_notice_communication(const struct fhir_ctx *ctx, json_object *item)
{
    json_object *nt = fo_obj(item, "notice"), *c, *a, *v;
    const char *id = fo_hex32(item, "msg_id");
    char text[512], now[32];

    if (nt == NULL || id == NULL)
        return NULL;
    const char *kind = fo_str(nt, "kind");
    const char *rid = fo_hex32(nt, "referral_id");
    if (rid == NULL)
        rid = fo_hex32(item, "referral_id");

    c = json_object_new_object();
    json_object_object_add(c, "resourceType",
                           json_object_new_string("Communication"));
    json_object_object_add(c, "id", json_object_new_string(id));
    v = json_object_new_object();
    const char *at = fo_time(item, "received_at");
    if (at == NULL) {
        fo_now(ctx, now);
        at = now;
    }
    json_object_object_add(v, "lastUpdated", json_object_new_string(at));
    json_object_object_add(c, "meta", v);
    json_object_object_add(c, "status", json_object_new_string("completed"));
    a = json_object_new_array();
    json_object_array_add(a, fo_cc(FO_CS_BUSINESS_STATUS, s_notice_code(kind)));
    json_object_object_add(c, "category", a);
    if (rid != NULL) {
        a = json_object_new_array();
        json_object_array_add(a, fo_ref("Task", rid));
        json_object_object_add(c, "about", a);
    }
    fo_add_str(c, "sent", fo_time(nt, "at"));
    fo_add_str(c, "received", fo_time(item, "received_at"));
    json_object *me = fo_org_ref(ctx != NULL ? ctx->org_id : NULL);
    if (me != NULL) {
        a = json_object_new_array();
        json_object_array_add(a, me);
        json_object_object_add(c, "recipient", a);
    }
    v = json_object_new_object();
    json_object_object_add(v, "display",
                           json_object_new_string("kansrijk broker"));
    json_object_object_add(c, "sender", v);
    const char *reason = fo_code(nt, "reason");
    if (reason != NULL) {
        a = json_object_new_array();
        json_object_array_add(a, fo_cc(FO_CS_STATUS_REASON, reason));
        json_object_object_add(c, "reasonCode", a);
    }
    s_notice_text(nt, kind, text, sizeof(text));
    v = json_object_new_object();
    json_object_object_add(v, "contentString", json_object_new_string(text));
    a = json_object_new_array();
    json_object_array_add(a, v);
    json_object_object_add(c, "payload", a);
    return c;
}

/*
 * CapabilityStatement
 */

static json_object *
s_strings(const char *const *v)
{
    json_object *a = json_object_new_array();

    for (; *v != NULL; v++)
        json_object_array_add(a, json_object_new_string(*v));
    return a;
}

static json_object *
s_interactions(const char *const *codes)
{
    json_object *a = json_object_new_array();

    for (; *codes != NULL; codes++) {
        json_object *i = json_object_new_object();
        json_object_object_add(i, "code", json_object_new_string(*codes));
        json_object_array_add(a, i);
    }
    return a;
}

static json_object *
s_search_param(const char *name, const char *type, const char *doc)
{
    json_object *p = json_object_new_object();

    json_object_object_add(p, "name", json_object_new_string(name));
    json_object_object_add(p, "type", json_object_new_string(type));
    json_object_object_add(p, "documentation", json_object_new_string(doc));
    return p;
}

static json_object *
s_resource(const char *type, const char *const *interactions, const char *doc)
{
    json_object *r = json_object_new_object();

    json_object_object_add(r, "type", json_object_new_string(type));
    json_object_object_add(r, "documentation", json_object_new_string(doc));
    json_object_object_add(r, "interaction", s_interactions(interactions));
    return r;
}

json_object *
fhir_out_capability(const struct fhir_ctx *ctx, const char *software_version)
{
    static const char *const formats[] = {"json", "application/fhir+json",
                                          NULL};
    static const char *const task_i[] = {"read", "search-type", "update",
                                         "patch", NULL};
    static const char *const read_i[] = {"read", NULL};
    static const char *const consent_i[] = {"create", "update", NULL};
    static const char *const sub_i[] = {"read", "search-type", NULL};
    json_object *cs = json_object_new_object(), *o, *rest, *res, *a, *r;
    char now[32];

    fo_now(ctx, now);
    json_object_object_add(cs, "resourceType",
                           json_object_new_string("CapabilityStatement"));
    json_object_object_add(cs, "id", json_object_new_string("krfhir"));
    json_object_object_add(cs, "name", json_object_new_string("krfhir"));
    json_object_object_add(cs, "title",
                           json_object_new_string("kansrijk FHIR gateway"));
    json_object_object_add(cs, "status", json_object_new_string("active"));
    json_object_object_add(cs, "date", json_object_new_string(now));
    json_object_object_add(cs, "publisher", json_object_new_string("kansrijk"));
    json_object_object_add(
        cs, "description",
        json_object_new_string(
            "The HL7 FHIR R4 gateway of one organisation to kansrijk, the "
            "referral broker of Kansrijke Start: referrals and handovers "
            "in by $process-message, their Tasks read, searched and "
            "updated, consents granted and revoked."));
    json_object_object_add(cs, "kind", json_object_new_string("instance"));
    o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string("krfhir"));
    if (fo_is_code(software_version))
        json_object_object_add(o, "version",
                               json_object_new_string(software_version));
    json_object_object_add(cs, "software", o);
    o = json_object_new_object();
    char desc[256];
    snprintf(desc, sizeof(desc), "krfhir of %s",
             ctx != NULL && ctx->org_id != NULL && fo_is_code(ctx->org_id)
                 ? ctx->org_id
                 : "this organisation");
    json_object_object_add(o, "description", json_object_new_string(desc));
    if (ctx != NULL && ctx->base_url != NULL && fo_is_uri(ctx->base_url))
        json_object_object_add(o, "url", json_object_new_string(ctx->base_url));
    json_object_object_add(cs, "implementation", o);
    json_object_object_add(cs, "fhirVersion", json_object_new_string("4.0.1"));
    json_object_object_add(cs, "format", s_strings(formats));

    r = json_object_new_object();
    json_object_object_add(r, "mode", json_object_new_string("server"));
    json_object_object_add(
        r, "documentation",
        json_object_new_string(
            "Resources of the referrals this organisation sent and received, "
            "read from its kansrijk node (nothing is stored twice). Ids of "
            "Task, ServiceRequest and Patient are the referral_id. "
            "Organisations are referenced by URA or AGB identifier."));
    res = json_object_new_array();

    json_object *task =
        s_resource("Task", task_i,
                   "A referral or handover and its state as the broker "
                   "tracks it. PUT or PATCH (JSON Patch) changes status, "
                   "statusReason, businessStatus (cancellation steps), "
                   "output, note and executionPeriod.start: a "
                   "REFERRAL_STATUS message.");
    json_object_object_add(task, "versioning",
                           json_object_new_string("no-version"));
    json_object_object_add(task, "readHistory", json_object_new_boolean(0));
    json_object_object_add(task, "updateCreate", json_object_new_boolean(0));
    a = json_object_new_array();
    json_object_array_add(a, s_search_param("status", "token",
                                            "The Task's status (the "
                                            "referral's state)."));
    json_object_array_add(a, s_search_param("_lastUpdated", "date",
                                            "When the state last changed "
                                            "(gt, ge, lt, le)."));
    json_object_array_add(a,
                          s_search_param("owner", "reference",
                                         "The performer, by identifier "
                                         "(owner:identifier=SYSTEM|VALUE)."));
    json_object_array_add(a, s_search_param("requester", "reference",
                                            "The placer, by identifier "
                                            "(requester:identifier="
                                            "SYSTEM|VALUE)."));
    json_object_array_add(
        a, s_search_param("_wait", "number",
                          "A long poll: with _lastUpdated=gt..., wait up to "
                          "this many seconds for a Task to match (at most "
                          "the gateway's long_poll_max_s)."));
    json_object_object_add(task, "searchParam", a);
    json_object_array_add(res, task);
    json_object_array_add(
        res, s_resource("ServiceRequest", read_i,
                        "What was asked, for whom and why: at the "
                        "organisation that received the referral."));
    json_object_array_add(
        res, s_resource("Patient", read_i,
                        "The mother, with her BSN: at the organisation "
                        "that received the referral."));
    json_object_array_add(
        res, s_resource("Consent", consent_i,
                        "POST grants a consent (CONSENT_GRANT); PUT with "
                        "status inactive revokes it (CONSENT_REVOKE)."));
    json_object_array_add(
        res, s_resource("Subscription", sub_i,
                        "The configured notification of new and changed "
                        "Tasks: channel rest-hook, payload id-only, with "
                        "retries."));
    json_object_object_add(r, "resource", res);

    a = json_object_new_array();
    o = json_object_new_object();
    json_object_object_add(o, "name",
                           json_object_new_string("process-message"));
    json_object_object_add(
        o, "definition",
        json_object_new_string(
            "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-"
            "message"));
    json_object_object_add(
        o, "documentation",
        json_object_new_string(
            "A message Bundle (MessageHeader, then Task, ServiceRequest, "
            "Patient, PractitionerRole, Consent as needed) becomes one "
            "kansrijk message; the same Bundle.id again is the same "
            "message."));
    json_object_array_add(a, o);
    json_object_object_add(r, "operation", a);

    rest = json_object_new_array();
    json_object_array_add(rest, r);
    json_object_object_add(cs, "rest", rest);
    return cs;
}

/*
 * Bundles
 */

json_object *
fhir_out_message_response(const struct fhir_ctx *ctx,
                          const char *request_header_id, const char *code,
                          json_object *outcome, json_object *focus)
{
    json_object *b = json_object_new_object(), *entries, *e, *mh, *v, *resp;
    char now[32], burn[46], bhex[33], hurn[46], hhex[33], ourn[46];
    const char *req_id =
        fo_is_id(request_header_id) ? request_header_id : "unknown";
    const char *org = ctx != NULL && ctx->org_id != NULL ? ctx->org_id : "";

    if (code == NULL ||
        (strcmp(code, "ok") != 0 && strcmp(code, "transient-error") != 0 &&
         strcmp(code, "fatal-error") != 0))
        code = "fatal-error";
    fo_now(ctx, now);
    /* Ids derived from the request: the same request answered again is
     * the same response. */
    fo_uuid(burn, bhex, "bundle", org, req_id, code, NULL);
    fo_uuid(hurn, hhex, "header", org, req_id, code, NULL);
    fo_uuid(ourn, NULL, "outcome", org, req_id, code, NULL);

    json_object_object_add(b, "resourceType", json_object_new_string("Bundle"));
    json_object_object_add(b, "id", json_object_new_string(bhex));
    v = json_object_new_object();
    json_object_object_add(v, "system",
                           json_object_new_string("urn:ietf:rfc:3986"));
    json_object_object_add(v, "value", json_object_new_string(burn));
    json_object_object_add(b, "identifier", v);
    json_object_object_add(b, "type", json_object_new_string("message"));
    json_object_object_add(b, "timestamp", json_object_new_string(now));
    entries = json_object_new_array();

    mh = json_object_new_object();
    json_object_object_add(mh, "resourceType",
                           json_object_new_string("MessageHeader"));
    json_object_object_add(mh, "id", json_object_new_string(hhex));
    json_object_object_add(mh, "eventCoding",
                           fo_coding(FO_CS_EVENT, "response"));
    fo_add(mh, "sender", fo_org_ref(org));
    v = json_object_new_object();
    json_object_object_add(v, "name", json_object_new_string("krfhir"));
    json_object_object_add(
        v, "endpoint",
        json_object_new_string(ctx != NULL && ctx->base_url != NULL &&
                                       fo_is_uri(ctx->base_url)
                                   ? ctx->base_url
                                   : "urn:kansrijk:krfhir"));
    json_object_object_add(mh, "source", v);
    resp = json_object_new_object();
    json_object_object_add(resp, "identifier", json_object_new_string(req_id));
    json_object_object_add(resp, "code", json_object_new_string(code));
    if (outcome != NULL) {
        v = json_object_new_object();
        json_object_object_add(v, "reference", json_object_new_string(ourn));
        json_object_object_add(resp, "details", v);
    }
    json_object_object_add(mh, "response", resp);

    char furl[256] = "";
    const char *ftype = fo_str(focus, "resourceType");
    const char *fid = fo_str(focus, "id");
    if (focus != NULL && ftype != NULL && fid != NULL && fo_is_id(fid) &&
        fo_is_id(ftype)) {
        snprintf(furl, sizeof(furl), "%s/%s/%s",
                 ctx != NULL && ctx->base_url != NULL &&
                         fo_is_uri(ctx->base_url)
                     ? ctx->base_url
                     : "urn:kansrijk:krfhir",
                 ftype, fid);
        v = json_object_new_array();
        json_object *r = json_object_new_object();
        json_object_object_add(r, "reference", json_object_new_string(furl));
        json_object_array_add(v, r);
        json_object_object_add(mh, "focus", v);
    }

    e = json_object_new_object();
    json_object_object_add(e, "fullUrl", json_object_new_string(hurn));
    json_object_object_add(e, "resource", mh);
    json_object_array_add(entries, e);
    if (outcome != NULL) {
        e = json_object_new_object();
        json_object_object_add(e, "fullUrl", json_object_new_string(ourn));
        json_object_object_add(e, "resource", outcome);
        json_object_array_add(entries, e);
    }
    if (focus != NULL) {
        if (furl[0] != '\0') {
            e = json_object_new_object();
            json_object_object_add(e, "fullUrl", json_object_new_string(furl));
            json_object_object_add(e, "resource", focus);
            json_object_array_add(entries, e);
        } else {
            json_object_put(focus);
        }
    }
    json_object_object_add(b, "entry", entries);
    return b;
}

json_object *
fhir_out_searchset(const struct fhir_ctx *ctx, json_object *resources,
                   size_t total, const char *self_url, const char *next_url)
{
    json_object *b = json_object_new_object(), *links, *entries, *v;
    const char *base = ctx != NULL && fo_is_uri(ctx->base_url)
                           ? ctx->base_url
                           : "urn:kansrijk:krfhir";
    char now[32], hex[33], urn[46], tot[32];

    fo_now(ctx, now);
    snprintf(tot, sizeof(tot), "%zu", total);
    fo_uuid(urn, hex, "searchset", self_url != NULL ? self_url : "", now, tot,
            NULL);
    json_object_object_add(b, "resourceType", json_object_new_string("Bundle"));
    json_object_object_add(b, "id", json_object_new_string(hex));
    v = json_object_new_object();
    json_object_object_add(v, "lastUpdated", json_object_new_string(now));
    json_object_object_add(b, "meta", v);
    json_object_object_add(b, "type", json_object_new_string("searchset"));
    json_object_object_add(
        b, "total",
        json_object_new_int64(total > INT32_MAX ? INT32_MAX : (int64_t)total));
    links = json_object_new_array();
    if (self_url != NULL && fo_is_uri(self_url)) {
        v = json_object_new_object();
        json_object_object_add(v, "relation", json_object_new_string("self"));
        json_object_object_add(v, "url", json_object_new_string(self_url));
        json_object_array_add(links, v);
    }
    if (next_url != NULL && fo_is_uri(next_url)) {
        v = json_object_new_object();
        json_object_object_add(v, "relation", json_object_new_string("next"));
        json_object_object_add(v, "url", json_object_new_string(next_url));
        json_object_array_add(links, v);
    }
    fo_add_array(b, "link", links);
    entries = json_object_new_array();
    for (size_t i = 0;
         resources != NULL && json_object_is_type(resources, json_type_array) &&
         i < json_object_array_length(resources);
         i++) {
        json_object *r = json_object_array_get_idx(resources, i);
        const char *type = fo_str(r, "resourceType"), *id = fo_str(r, "id");
        json_object *e = json_object_new_object(), *s;
        if (type != NULL && id != NULL && fo_is_id(type) && fo_is_id(id)) {
            char url[512];
            snprintf(url, sizeof(url), "%s/%s/%s", base, type, id);
            json_object_object_add(e, "fullUrl", json_object_new_string(url));
        }
        json_object_object_add(e, "resource", json_object_get(r));
        s = json_object_new_object();
        json_object_object_add(s, "mode", json_object_new_string("match"));
        json_object_object_add(e, "search", s);
        json_object_array_add(entries, e);
    }
    json_object_put(resources);
    fo_add_array(b, "entry", entries);
    return b;
}
