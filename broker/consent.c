/* consent.c - see consent.h. Deny by default. */
#include "consent.h"

#include <string.h>

#include "envelope.pb-c.h"
#include "wire.pb-c.h"

bool
consent_required(int message_type)
{
    switch (message_type) {
    case KR__V1__MESSAGE_TYPE__REFERRAL:
    case KR__V1__MESSAGE_TYPE__HANDOVER:
    case KR__V1__MESSAGE_TYPE__SUPPLEMENT:
    case KR__V1__MESSAGE_TYPE__SIGNAL:
    case KR__V1__MESSAGE_TYPE__SUBJECT_LINK:
        return true;
    default:
        return false;
    }
}

static bool
s_str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* A party of a record covers an organisation if it names that
 * organisation, or names no organisation and the organisation's category. */
static bool
s_party_covers(const char *rec_org, int rec_cat, const char *org, int cat)
{
    if (rec_org != NULL && rec_org[0] != '\0')
        return s_str_eq(rec_org, org);
    return rec_cat != 0 && rec_cat == cat;
}

/* Why one record does not cover the query; NULL if it does. Checked from
 * the most to the least telling, so that the audit names the real cause. */
static const char *
s_mismatch(const struct consent_record *r, const struct consent_query *q,
           uint64_t now)
{
    if (memcmp(r->subject, q->subject, 32) != 0)
        return "subject";
    if (r->key_version != q->key_version)
        return "subject key version";
    if (r->status == CONSENT_REVOKED)
        return "revoked";
    if (r->status == CONSENT_SUPERSEDED)
        return "superseded";
    if (r->status != CONSENT_ACTIVE)
        return "not active";
    if (now < r->valid_from_ms)
        return "not yet valid";
    if (now > r->valid_until_ms)
        return "period ended";
    if (!s_str_eq(r->purpose, q->purpose))
        return "purpose";
    if (r->data_category != q->data_category)
        return "data category";
    if (!s_party_covers(r->from_org, r->from_category, q->from_org,
                        q->from_category))
        return "sender";
    if (!s_party_covers(r->to_org, r->to_category, q->to_org, q->to_category))
        return "recipient";
    return NULL;
}

static void
s_deny(struct consent_decision *out, int reason, const char *check,
       const struct consent_record *r)
{
    out->verdict = CONSENT_DENY;
    out->reason = reason;
    out->check = check;
    out->decided_by = r;
}

void
consent_decide(const struct consent_record *recs, size_t n,
               const struct consent_query *q, uint64_t now_ms,
               struct consent_decision *out)
{
    memset(out, 0, sizeof(*out));
    if (!consent_required(q->message_type)) {
        out->verdict = CONSENT_NOT_NEEDED;
        out->check = "type carries no person data";
        return;
    }
    /* Meldrecht (Wmo 2015 art. 5.2.6): without consent, towards Veilig
     * Thuis only, and only with a justification sealed for it. */
    if (q->legal_basis == KR__V1__LEGAL_BASIS__MELDRECHT) {
        if (q->to_category != KR__V1__ORG_CATEGORY__VEILIG_THUIS)
            s_deny(out, KR__V1__REASON__NO_CONSENT,
                   "meldrecht: recipient is not veilig-thuis", NULL);
        else if (!q->has_justification)
            s_deny(out, KR__V1__REASON__NO_CONSENT,
                   "meldrecht: no sealed justification", NULL);
        else {
            out->verdict = CONSENT_ALLOW_MELDRECHT;
            out->check = "meldrecht towards veilig-thuis, justified";
        }
        return;
    }
    if (q->legal_basis != KR__V1__LEGAL_BASIS__CONSENT) {
        s_deny(out, KR__V1__REASON__NO_CONSENT, "no legal basis", NULL);
        return;
    }
    if (q->subject == NULL) {
        s_deny(out, KR__V1__REASON__NO_CONSENT, "no subject pseudonym", NULL);
        return;
    }
    /* A named consent is checked alone: the sender said which one it
     * relies on, and the audit trail must show that one. Otherwise any
     * active record of the subject that covers the message will do. */
    const struct consent_record *closest = NULL;
    const char *why = "no consent recorded for this subject";
    for (size_t i = 0; i < n; i++) {
        const struct consent_record *r = &recs[i];
        if (q->consent_id != NULL &&
            memcmp(r->consent_id, q->consent_id, 16) != 0)
            continue;
        if (memcmp(r->subject, q->subject, 32) != 0)
            continue;
        const char *m = s_mismatch(r, q, now_ms);
        if (m == NULL) {
            out->verdict = CONSENT_ALLOW;
            out->decided_by = r;
            out->check = "covered by active consent";
            return;
        }
        closest = r;
        why = m;
    }
    if (q->consent_id != NULL && closest == NULL)
        why = "named consent not found for this subject";
    s_deny(out, KR__V1__REASON__NO_CONSENT, why, closest);
}
