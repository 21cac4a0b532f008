/* json_map_out.c - protobuf -> JSON for krctl's output and libkr's JSON
 * reads: opened content, a SendRequest as a description again, inbox and
 * outbox items (the operator's records are in json_map_ops.c). See
 * json_map.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "json_map.h"
#include "json_map_oom.h"
#include "json_map_out_internal.h"
#include "names.h"
#include "referral_table.h"
#include "util.h"

/*
 * protobuf -> JSON
 */

void
jmo_put_str(json_object *o, const char *key, const char *s)
{
    if (s != NULL && *s != '\0')
        json_object_object_add(o, key, json_object_new_string(s));
}

void
jmo_put_str_or_null(json_object *o, const char *key, const char *s)
{
    json_object_object_add(
        o, key, s != NULL && *s != '\0' ? json_object_new_string(s) : NULL);
}

json_object *
jmo_hex(const ProtobufCBinaryData *b)
{
    char *hex;
    json_object *j;

    if (b->len == 0)
        return NULL;
    if ((hex = malloc(2 * b->len + 1)) == NULL)
        return NULL; /* errno ENOMEM: json_map_oom.h */
    util_hex(b->data, b->len, hex);
    j = json_object_new_string(hex);
    free(hex);
    return j;
}

void
jmo_put_hex(json_object *o, const char *key, const ProtobufCBinaryData *b)
{
    if (b->len > 0)
        json_object_object_add(o, key, jmo_hex(b));
}

json_object *
jmo_time(uint64_t ms)
{
    char t[JSON_MAP_TIME_LEN];

    if (ms == 0 || json_map_time_format(ms, t) != KR_OK)
        return NULL;
    return json_object_new_string(t);
}

/* An enum by its name, or null for the zero value. */
json_object *
jmo_enum(int v, const char *(*name)(int))
{
    return v != 0 ? json_object_new_string(name(v)) : NULL;
}

/* 1 if the bytes are UTF-8 text without NUL: only then are they shown as
 * a JSON string. */
static int
s_utf8_text(const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = p[i];
        size_t k;
        uint32_t cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF. */
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += k + 1;
    }
    return 1;
}

static json_object *
s_address_json(const Kr__V1__Address *a)
{
    json_object *o = json_object_new_object();

    jmo_put_str(o, "street", a->street);
    jmo_put_str(o, "house_number", a->house_number);
    jmo_put_str(o, "postal_code", a->postal_code);
    jmo_put_str(o, "city", a->city);
    return o;
}

static json_object *
s_person_json(const Kr__V1__Person *p)
{
    json_object *o = json_object_new_object();

    jmo_put_str(o, "bsn", p->bsn);
    jmo_put_str(o, "given_name", p->given_name);
    jmo_put_str(o, "family_name", p->family_name);
    jmo_put_str(o, "birth_date", p->birth_date);
    if (p->address != NULL)
        json_object_object_add(o, "address", s_address_json(p->address));
    jmo_put_str(o, "phone", p->phone);
    return o;
}

static json_object *
s_professional_json(const Kr__V1__Professional *p)
{
    json_object *o = json_object_new_object();

    jmo_put_str(o, "name", p->name);
    jmo_put_str(o, "role", p->role);
    jmo_put_str(o, "phone", p->phone);
    jmo_put_str(o, "email", p->email);
    jmo_put_str(o, "agb", p->agb);
    return o;
}

static json_object *
s_referral_json(const Kr__V1__Referral *r)
{
    json_object *o = json_object_new_object();

    if (r->mother != NULL)
        json_object_object_add(o, "mother", s_person_json(r->mother));
    jmo_put_str(o, "expected_delivery_date", r->expected_delivery_date);
    if (r->n_reason_codes > 0) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < r->n_reason_codes; i++)
            json_object_array_add(a,
                                  json_object_new_string(r->reason_codes[i]));
        json_object_object_add(o, "reason_codes", a);
    }
    jmo_put_str(o, "reason_text", r->reason_text);
    jmo_put_str(o, "requested_service", r->requested_service);
    if (r->urgency != 0)
        json_object_object_add(o, "urgency",
                               jmo_enum((int)r->urgency, priority_name));
    if (r->referrer != NULL)
        json_object_object_add(o, "referrer", s_professional_json(r->referrer));
    return o;
}

static void
s_put_u32(json_object *o, const char *key, uint32_t v)
{
    if (v != 0)
        json_object_object_add(o, key, json_object_new_int64(v));
}

static json_object *
s_handover_json(const Kr__V1__Handover *h)
{
    json_object *o = json_object_new_object();

    if (h->mother != NULL)
        json_object_object_add(o, "mother", s_person_json(h->mother));
    jmo_put_str(o, "child_bsn", h->child_bsn);
    jmo_put_str(o, "child_given_name", h->child_given_name);
    jmo_put_str(o, "birth_datetime", h->birth_datetime);
    s_put_u32(o, "gestational_age_days", h->gestational_age_days);
    s_put_u32(o, "birth_weight_g", h->birth_weight_g);
    /* An Apgar of 0 is a score, but 0 is also "not given": both are
     * written when either is set. */
    if (h->apgar_1 != 0 || h->apgar_5 != 0) {
        json_object_object_add(o, "apgar_1", json_object_new_int64(h->apgar_1));
        json_object_object_add(o, "apgar_5", json_object_new_int64(h->apgar_5));
    }
    jmo_put_str(o, "feeding", h->feeding);
    jmo_put_str(o, "heel_prick", h->heel_prick);
    jmo_put_str(o, "hearing_screening", h->hearing_screening);
    jmo_put_str(o, "family_situation", h->family_situation);
    if (h->n_risk_factors > 0) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < h->n_risk_factors; i++)
            json_object_array_add(a,
                                  json_object_new_string(h->risk_factors[i]));
        json_object_object_add(o, "risk_factors", a);
    }
    if (h->responsible != NULL)
        json_object_object_add(o, "responsible",
                               s_professional_json(h->responsible));
    jmo_put_str(o, "notes", h->notes);
    return o;
}

static json_object *
s_referral_status_json(const Kr__V1__ReferralStatus *r)
{
    json_object *o = json_object_new_object();

    jmo_put_str(o, "status", r->status);
    jmo_put_str(o, "status_reason", r->status_reason);
    jmo_put_str(o, "outcome", r->outcome);
    jmo_put_str(o, "note", r->note);
    jmo_put_str(o, "planned_date", r->planned_date);
    if (r->contact != NULL)
        json_object_object_add(o, "contact", s_professional_json(r->contact));
    return o;
}

static json_object *
s_evidence_json(const Kr__V1__ConsentEvidence *ev)
{
    json_object *o = json_object_new_object();

    jmo_put_str(o, "given_on", ev->given_on);
    jmo_put_str(o, "given_by_name", ev->given_by_name);
    jmo_put_str(o, "given_by_role", ev->given_by_role);
    jmo_put_str(o, "representation_checked", ev->representation_checked);
    jmo_put_str(o, "form_reference", ev->form_reference);
    jmo_put_str(o, "recorded_by", ev->recorded_by);
    jmo_put_str(o, "notes", ev->notes);
    return o;
}

/* The body of a Content into 'o' ("referral", "referral_status",
 * "consent_evidence", "opaque" or "opaque_hex", and "justification"), so
 * that the same keys serve the inbox and the send description. */
static void
s_content_into(json_object *o, const Kr__V1__Content *c)
{
    jmo_put_str(o, "justification", c->justification);
    switch (c->body_case) {
    case KR__V1__CONTENT__BODY_CONSENT_EVIDENCE:
        if (c->consent_evidence != NULL)
            json_object_object_add(o, "consent_evidence",
                                   s_evidence_json(c->consent_evidence));
        break;
    case KR__V1__CONTENT__BODY_REFERRAL:
        if (c->referral != NULL)
            json_object_object_add(o, "referral", s_referral_json(c->referral));
        break;
    case KR__V1__CONTENT__BODY_REFERRAL_STATUS:
        if (c->referral_status != NULL)
            json_object_object_add(o, "referral_status",
                                   s_referral_status_json(c->referral_status));
        break;
    case KR__V1__CONTENT__BODY_HANDOVER:
        if (c->handover != NULL)
            json_object_object_add(o, "handover", s_handover_json(c->handover));
        break;
    case KR__V1__CONTENT__BODY_OPAQUE:
        if (s_utf8_text(c->opaque.data, c->opaque.len))
            json_object_object_add(
                o, "opaque",
                json_object_new_string_len((const char *)c->opaque.data,
                                           (int)c->opaque.len));
        else
            json_object_object_add(o, "opaque_hex", jmo_hex(&c->opaque));
        break;
    default:
        break;
    }
}

json_object *
json_map_content_to_json(const Kr__V1__Content *c)
{
    json_object *o = json_object_new_object();

    s_content_into(o, c);
    return o;
}

/* One party of a scope: the organisation id, or else the category name
 * (the two cannot be confused: an org id has a colon). */
static json_object *
s_party(const char *org, int category)
{
    if (org != NULL && *org != '\0')
        return json_object_new_string(org);
    if (category != 0)
        return json_object_new_string(util_category_name(category));
    return NULL;
}

/* A scope as the send description writes it (with only what is set), or,
 * 'record' != 0, with every key of a ledger record. */
json_object *
jmo_scope_json(const Kr__V1__ConsentScope *sc, int record)
{
    json_object *o = json_object_new_object();

    if (record) {
        json_object_object_add(o, "consent_id", jmo_hex(&sc->consent_id));
        json_object_object_add(o, "subject_pseudonym",
                               jmo_hex(&sc->subject_pseudonym));
        json_object_object_add(o, "key_version",
                               json_object_new_uint64(sc->subject_key_version));
        jmo_put_str_or_null(o, "purpose", sc->purpose);
        json_object_object_add(
            o, "data_category",
            jmo_enum((int)sc->data_category, data_category_name));
        json_object_object_add(o, "from",
                               s_party(sc->from_org, (int)sc->from_category));
        json_object_object_add(o, "to",
                               s_party(sc->to_org, (int)sc->to_category));
        json_object_object_add(o, "valid_from", jmo_time(sc->valid_from_ms));
        json_object_object_add(o, "valid_until", jmo_time(sc->valid_until_ms));
        json_object_object_add(o, "grantor",
                               jmo_enum((int)sc->grantor, grantor_name));
        json_object_object_add(o, "supersedes", jmo_hex(&sc->supersedes));
        return o;
    }
    jmo_put_hex(o, "consent_id", &sc->consent_id);
    jmo_put_str(o, "purpose", sc->purpose);
    if (sc->data_category != 0)
        json_object_object_add(
            o, "data_category",
            json_object_new_string(data_category_name(sc->data_category)));
    jmo_put_str(o, "from_org", sc->from_org);
    if (sc->from_category != 0)
        json_object_object_add(
            o, "from_category",
            json_object_new_string(util_category_name(sc->from_category)));
    jmo_put_str(o, "to_org", sc->to_org);
    if (sc->to_category != 0)
        json_object_object_add(
            o, "to_category",
            json_object_new_string(util_category_name(sc->to_category)));
    if (sc->valid_from_ms != 0)
        json_object_object_add(o, "valid_from", jmo_time(sc->valid_from_ms));
    if (sc->valid_until_ms != 0)
        json_object_object_add(o, "valid_until", jmo_time(sc->valid_until_ms));
    if (sc->grantor != 0)
        json_object_object_add(
            o, "grantor", json_object_new_string(grantor_name(sc->grantor)));
    jmo_put_hex(o, "supersedes", &sc->supersedes);
    return o;
}

json_object *
json_map_send_to_json(const Kr__V1__SendRequest *s, char *err, size_t errlen)
{
    Kr__V1__Content *c = NULL;
    json_object *o;
    char t[JSON_MAP_TIME_LEN];

    if (s->content.len > 0 &&
        (c = kr__v1__content__unpack(NULL, s->content.len, s->content.data)) ==
            NULL) {
        snprintf(err, errlen, "content: does not parse as kr.v1.Content");
        return NULL;
    }
    o = json_object_new_object();
    if (s->type != 0)
        json_object_object_add(
            o, "type", json_object_new_string(message_type_name(s->type)));
    jmo_put_str(o, "recipient", s->recipient);
    jmo_put_hex(o, "msg_id", &s->msg_id);
    jmo_put_hex(o, "referral_id", &s->referral_id);
    jmo_put_hex(o, "case_id", &s->case_id);
    jmo_put_hex(o, "in_reply_to", &s->in_reply_to);
    /* The subject of a referral is its mother; the key is only written
     * when it says something the referral does not. */
    const Kr__V1__Person *mother =
        c == NULL ? NULL
        : c->body_case == KR__V1__CONTENT__BODY_REFERRAL && c->referral
            ? c->referral->mother
        : c->body_case == KR__V1__CONTENT__BODY_HANDOVER && c->handover
            ? c->handover->mother
            : NULL;
    if (s->subject_bsn != NULL && *s->subject_bsn != '\0' &&
        !(mother != NULL && strcmp(mother->bsn, s->subject_bsn) == 0))
        jmo_put_str(o, "subject_bsn", s->subject_bsn);
    jmo_put_str(o, "purpose", s->purpose);
    if (s->data_category != 0)
        json_object_object_add(
            o, "data_category",
            json_object_new_string(data_category_name(s->data_category)));
    if (s->legal_basis != 0)
        json_object_object_add(
            o, "legal_basis",
            json_object_new_string(legal_basis_name(s->legal_basis)));
    jmo_put_hex(o, "consent_id", &s->consent_id);
    if (s->priority != 0)
        json_object_object_add(
            o, "priority", json_object_new_string(priority_name(s->priority)));
    if (s->not_after_ms != 0 &&
        json_map_time_format(s->not_after_ms, t) == KR_OK)
        json_object_object_add(o, "not_after", json_object_new_string(t));
    if (s->actor_ref.len > 0)
        json_object_object_add(
            o, "actor_ref",
            s_utf8_text(s->actor_ref.data, s->actor_ref.len)
                ? json_object_new_string_len((const char *)s->actor_ref.data,
                                             (int)s->actor_ref.len)
                : jmo_hex(&s->actor_ref));
    if (s->consent_scope != NULL)
        json_object_object_add(o, "consent_scope",
                               jmo_scope_json(s->consent_scope, 0));
    if (c != NULL) {
        s_content_into(o, c);
        kr__v1__content__free_unpacked(c, NULL);
    }
    return o;
}

static json_object *
s_notice_json(const Kr__V1__Notice *nt)
{
    json_object *o = json_object_new_object(), *a = json_object_new_array();

    json_object_object_add(o, "kind",
                           json_object_new_string(notice_kind_name(nt->kind)));
    json_object_object_add(o, "consent_id", jmo_hex(&nt->consent_id));
    for (size_t i = 0; i < nt->n_msg_ids; i++)
        json_object_array_add(a, jmo_hex(&nt->msg_ids[i]));
    json_object_object_add(o, "msg_ids", a);
    jmo_put_str_or_null(o, "revoked_by", nt->revoked_by);
    json_object_object_add(o, "at", jmo_time(nt->at_ms));
    /* A referral's notice (escalation, referral-cancelled,
     * cancel-request): its ids, codes and times, which the FHIR gateway
     * shows as Task.businessStatus and a Communication. */
    if (nt->referral_id.len > 0) {
        json_object_object_add(o, "referral_id", jmo_hex(&nt->referral_id));
        jmo_put_str_or_null(o, "timer", nt->timer);
        json_object_object_add(o, "step",
                               json_object_new_int64((int64_t)nt->step));
        json_object_object_add(
            o, "state",
            nt->state != 0
                ? json_object_new_string(task_status_name((int)nt->state))
                : NULL);
        json_object_object_add(o, "due", jmo_time(nt->due_at_ms));
        json_object_object_add(o, "overdue_ms",
                               json_object_new_int64((int64_t)nt->overdue_ms));
        jmo_put_str_or_null(o, "reason", nt->reason);
    }
    return o;
}

json_object *
json_map_inbox_item(const Kr__V1__InboxItem *it, int *content_ok)
{
    json_object *o = json_object_new_object();
    Kr__V1__Content *c;

    json_object_object_add(o, "msg_id", jmo_hex(&it->msg_id));
    json_object_object_add(o, "seq", json_object_new_uint64(it->seq));
    jmo_put_str_or_null(o, "sender", it->sender);
    json_object_object_add(o, "type",
                           jmo_enum((int)it->type, message_type_name));
    json_object_object_add(o, "referral_id", jmo_hex(&it->referral_id));
    json_object_object_add(o, "case_id", jmo_hex(&it->case_id));
    json_object_object_add(o, "subject_pseudonym",
                           jmo_hex(&it->subject_pseudonym));
    jmo_put_str_or_null(o, "purpose", it->purpose);
    json_object_object_add(
        o, "data_category",
        jmo_enum((int)it->data_category, data_category_name));
    json_object_object_add(o, "legal_basis",
                           jmo_enum((int)it->legal_basis, legal_basis_name));
    json_object_object_add(o, "priority",
                           jmo_enum((int)it->priority, priority_name));
    json_object_object_add(o, "created_at", jmo_time(it->created_at_ms));
    json_object_object_add(o, "received_at", jmo_time(it->received_at_ms));
    json_object_object_add(o, "processed",
                           json_object_new_boolean(it->processed));
    json_object_object_add(o, "consent_id", jmo_hex(&it->consent_id));
    json_object_object_add(
        o, "notice", it->notice != NULL ? s_notice_json(it->notice) : NULL);
    /* A notice comes from the broker, which has no content to give. */
    if (it->notice != NULL) {
        *content_ok = 1;
        json_object_object_add(o, "content", NULL);
        return o;
    }
    c = kr__v1__content__unpack(NULL, it->content.len, it->content.data);
    *content_ok = c != NULL;
    json_object_object_add(o, "content",
                           c != NULL ? json_map_content_to_json(c) : NULL);
    if (c != NULL)
        kr__v1__content__free_unpacked(c, NULL);
    return o;
}

json_object *
json_map_outbox_item(const Kr__V1__OutboxItem *it)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "msg_id", jmo_hex(&it->msg_id));
    json_object_object_add(o, "seq", json_object_new_uint64(it->seq));
    jmo_put_str_or_null(o, "recipient", it->recipient);
    json_object_object_add(o, "type",
                           jmo_enum((int)it->type, message_type_name));
    json_object_object_add(o, "referral_id", jmo_hex(&it->referral_id));
    json_object_object_add(o, "created_at", jmo_time(it->created_at_ms));
    json_object_object_add(
        o, "outcome", json_object_new_string(outcome_name((int)it->outcome)));
    json_object_object_add(o, "reason", jmo_enum((int)it->reason, reason_name));
    jmo_put_str_or_null(o, "detail", it->detail);
    json_object_object_add(o, "accepted_at", jmo_time(it->accepted_at_ms));
    json_object_object_add(o, "final_at", jmo_time(it->final_at_ms));
    if (it->not_held)
        json_object_object_add(o, "not_held", json_object_new_boolean(1));
    return o;
}
