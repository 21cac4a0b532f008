/* names.c - see names.h. The tables are indexed by enum value; the static
 * asserts tie them to the generated enums, so that a renumbered .proto
 * breaks the build instead of the logs. */
#include "names.h"

#include <stddef.h>
#include <string.h>

#include "envelope.pb-c.h"
#include "store.pb-c.h"
#include "wire.pb-c.h"

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const s_reasons[] = {
    "none",
    "malformed",
    "too-large",
    "bad-version",
    "missing-field",
    "unknown-recipient",
    "recipient-suspended",
    "sender-mismatch",
    "sender-suspended",
    "store-full",
    "duplicate-id",
    "expired",
    "bad-signature",
    "cannot-open",
    "no-consent",
    "internal",
    "unknown-sender-key",
    "not-authorised",
    "unknown-consent",
    "not-party",
    "invalid-scope",
    "missing-justification",
    "disk-full",
    /* Referral state and routes (30-39): the gap between is unnamed. */
    [KR__V1__REASON__UNKNOWN_REFERRAL] = "unknown-referral",
    [KR__V1__REASON__NOT_REFERRAL_PARTY] = "not-referral-party",
    [KR__V1__REASON__BAD_TRANSITION] = "bad-transition",
    [KR__V1__REASON__REFERRAL_CLOSED] = "referral-closed",
    [KR__V1__REASON__BAD_STATUS] = "bad-status",
    [KR__V1__REASON__BAD_STATUS_REASON] = "bad-status-reason",
    [KR__V1__REASON__BAD_OUTCOME] = "bad-outcome",
    [KR__V1__REASON__REFERRAL_CONFLICT] = "referral-conflict",
    [KR__V1__REASON__NO_ROUTE] = "no-route",
    [KR__V1__REASON__NO_CANCEL_REQUEST] = "no-cancel-request",
    /* Signals (70-79). */
    [KR__V1__REASON__UNKNOWN_SIGNAL] = "unknown-signal",
    [KR__V1__REASON__NOT_SIGNAL_OWNER] = "not-signal-owner",
    [KR__V1__REASON__BAD_SIGNAL] = "bad-signal",
    [KR__V1__REASON__UNKNOWN_SUBJECT] = "unknown-subject",
};
_Static_assert(S_COUNT(s_reasons) == KR__V1__REASON__UNKNOWN_SUBJECT + 1,
               "s_reasons must name every kr.v1.Reason");
_Static_assert(KR__V1__REASON__BAD_SIGNATURE == 12, "Reason renumbered");
_Static_assert(KR__V1__REASON__UNKNOWN_CONSENT == 18, "Reason renumbered");

static const char *const s_outcomes[] = {
    "pending", "accepted", "delivered", "refused", "expired", "withdrawn",
};
_Static_assert(S_COUNT(s_outcomes) == KR__V1__OUTCOME__WITHDRAWN + 1,
               "s_outcomes must name every kr.v1.Outcome");
_Static_assert(KR__V1__OUTCOME__EXPIRED_OUTCOME == 4, "Outcome renumbered");

static const char *const s_types[] = {
    "unspecified",     "referral",
    "referral-status", "supplement",
    "handover",        "subject-link",
    "signal",          "communication",
    "consent-grant",   "consent-revoke",
    "erasure-request", [KR__V1__MESSAGE_TYPE__ESCALATION] = "escalation",
};
_Static_assert(S_COUNT(s_types) == KR__V1__MESSAGE_TYPE__ESCALATION + 1,
               "s_types must name every kr.v1.MessageType");
_Static_assert(KR__V1__MESSAGE_TYPE__SUBJECT_LINK == 5,
               "MessageType renumbered");

static const char *const s_data_categories[] = {
    "unspecified",
    "medisch",
    "sociaal",
};
_Static_assert(S_COUNT(s_data_categories) == KR__V1__DATA_CATEGORY__SOCIAAL + 1,
               "s_data_categories must name every kr.v1.DataCategory");

static const char *const s_legal_bases[] = {
    "unspecified",
    "consent",
    "meldrecht",
};
_Static_assert(S_COUNT(s_legal_bases) == KR__V1__LEGAL_BASIS__MELDRECHT + 1,
               "s_legal_bases must name every kr.v1.LegalBasis");

static const char *const s_priorities[] = {
    "unspecified",
    "routine",
    "urgent",
};
_Static_assert(S_COUNT(s_priorities) == KR__V1__PRIORITY__URGENT + 1,
               "s_priorities must name every kr.v1.Priority");

static const char *const s_grantors[] = {
    "unspecified",
    "self",
    "parent-with-authority",
    "guardian",
};
_Static_assert(S_COUNT(s_grantors) == KR__V1__GRANTOR__GUARDIAN + 1,
               "s_grantors must name every kr.v1.Grantor");

static const char *const s_consent_statuses[] = {
    "unspecified",
    "active",
    "revoked",
    "superseded",
};
_Static_assert(S_COUNT(s_consent_statuses) ==
                   KR__V1__CONSENT_STATUS__CONSENT_SUPERSEDED + 1,
               "s_consent_statuses must name every kr.v1.ConsentStatus");

static const char *const s_notice_kinds[] = {
    "unspecified",
    "consent-revoked",
    [KR__V1__NOTICE_KIND__NOTICE_ESCALATION] = "escalation",
    [KR__V1__NOTICE_KIND__NOTICE_REFERRAL_CANCELLED] = "referral-cancelled",
    [KR__V1__NOTICE_KIND__NOTICE_CANCEL_REQUEST] = "cancel-request",
    [KR__V1__NOTICE_KIND__NOTICE_MATCH] = "match",
    [KR__V1__NOTICE_KIND__NOTICE_ERASURE] = "erasure",
};
_Static_assert(S_COUNT(s_notice_kinds) ==
                   KR__V1__NOTICE_KIND__NOTICE_ERASURE + 1,
               "s_notice_kinds must name every kr.v1.NoticeKind");

static const char *
s_name(const char *const *table, size_t n, int value)
{
    if (value < 0 || (size_t)value >= n || table[value] == NULL)
        return "unknown";
    return table[value];
}

/* "unspecified" names the zero value for printing only: a caller that
 * parses it would send a message without the field it meant to set. */
static int
s_parse(const char *const *table, size_t n, const char *name)
{
    if (name == NULL || strcmp(name, "unspecified") == 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (table[i] != NULL && strcmp(name, table[i]) == 0)
            return (int)i;
    return -1;
}

const char *
reason_name(int reason)
{
    /* Reasons past the table's run are numbered in ranges of their own. */
    if (reason == KR__V1__REASON__RECIPIENT_REMOVED)
        return "recipient-removed";
    if (reason == KR__V1__REASON__ERASED)
        return "erased";
    return s_name(s_reasons, S_COUNT(s_reasons), reason);
}

int
reason_parse(const char *name)
{
    if (name != NULL && strcmp(name, "recipient-removed") == 0)
        return KR__V1__REASON__RECIPIENT_REMOVED;
    if (name != NULL && strcmp(name, "erased") == 0)
        return KR__V1__REASON__ERASED;
    return s_parse(s_reasons, S_COUNT(s_reasons), name);
}

const char *
outcome_name(int outcome)
{
    return s_name(s_outcomes, S_COUNT(s_outcomes), outcome);
}

int
outcome_parse(const char *name)
{
    return s_parse(s_outcomes, S_COUNT(s_outcomes), name);
}

const char *
message_type_name(int type)
{
    return s_name(s_types, S_COUNT(s_types), type);
}

int
message_type_parse(const char *name)
{
    return s_parse(s_types, S_COUNT(s_types), name);
}

const char *
data_category_name(int cat)
{
    return s_name(s_data_categories, S_COUNT(s_data_categories), cat);
}

int
data_category_parse(const char *name)
{
    return s_parse(s_data_categories, S_COUNT(s_data_categories), name);
}

const char *
legal_basis_name(int basis)
{
    return s_name(s_legal_bases, S_COUNT(s_legal_bases), basis);
}

int
legal_basis_parse(const char *name)
{
    return s_parse(s_legal_bases, S_COUNT(s_legal_bases), name);
}

const char *
priority_name(int prio)
{
    return s_name(s_priorities, S_COUNT(s_priorities), prio);
}

int
priority_parse(const char *name)
{
    return s_parse(s_priorities, S_COUNT(s_priorities), name);
}

const char *
grantor_name(int grantor)
{
    return s_name(s_grantors, S_COUNT(s_grantors), grantor);
}

int
grantor_parse(const char *name)
{
    return s_parse(s_grantors, S_COUNT(s_grantors), name);
}

const char *
consent_status_name(int status)
{
    return s_name(s_consent_statuses, S_COUNT(s_consent_statuses), status);
}

int
consent_status_parse(const char *name)
{
    return s_parse(s_consent_statuses, S_COUNT(s_consent_statuses), name);
}

const char *
notice_kind_name(int kind)
{
    return s_name(s_notice_kinds, S_COUNT(s_notice_kinds), kind);
}

int
notice_kind_parse(const char *name)
{
    return s_parse(s_notice_kinds, S_COUNT(s_notice_kinds), name);
}
