/*
 * names.h - the stable text names of the protocol's enums, as they appear
 * in logs, in krctl's output and in the JSON that adapters read and write.
 *
 * Names are lower-case kebab-case ("bad-signature", "referral-status") and
 * never change once released: scripts and log queries depend on them. Each
 * *_name() returns a static string for every value, also for 0 and for
 * values this build does not know ("unspecified", "unknown"), so that it can
 * always be printed. Each *_parse() takes any name its *_name() returns,
 * except "unspecified" and "unknown", and gives the enum value; -1 for any
 * other text. So reason "none" and outcome "pending" parse to 0, while a
 * type, category, basis or priority must be named.
 */
#ifndef KR_NAMES_H
#define KR_NAMES_H

/* kr.v1.Reason: "malformed", "too-large", ... "not-authorised",
 * "unknown-consent", "not-party", "invalid-scope", "missing-justification";
 * 0 is "none". */
const char *reason_name(int reason);
int reason_parse(const char *name);

/* kr.v1.Outcome as the sender sees it: 0 (no receipt yet) is "pending",
 * then "accepted", "delivered", "refused", "expired", "withdrawn". */
const char *outcome_name(int outcome);
int outcome_parse(const char *name);

/* kr.v1.MessageType: "referral", "referral-status", "supplement",
 * "handover", "subject-link", "signal", "communication", "consent-grant",
 * "consent-revoke", "erasure-request". */
const char *message_type_name(int type);
int message_type_parse(const char *name);

/* kr.v1.DataCategory: "medisch", "sociaal". */
const char *data_category_name(int cat);
int data_category_parse(const char *name);

/* kr.v1.LegalBasis: "consent", "meldrecht". */
const char *legal_basis_name(int basis);
int legal_basis_parse(const char *name);

/* kr.v1.Priority: "routine", "urgent". */
const char *priority_name(int prio);
int priority_parse(const char *name);

/* kr.v1.Grantor: "self", "parent-with-authority", "guardian". */
const char *grantor_name(int grantor);
int grantor_parse(const char *name);

/* kr.v1.ConsentStatus (a broker's consent record): "active", "revoked",
 * "superseded". */
const char *consent_status_name(int status);
int consent_status_parse(const char *name);

/* kr.v1.NoticeKind: "consent-revoked". */
const char *notice_kind_name(int kind);
int notice_kind_parse(const char *name);

#endif
