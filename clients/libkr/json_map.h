/*
 * json_map.h - the JSON <-> protobuf mapping of libkr (krctl, krspool and the
 * JSON entry points of kr.h use it): the referral description that `krctl send`
 * reads, the opened kr.v1.Content of received messages, and the directory,
 * queue, outbox and status records that krctl prints.
 *
 * These are pure functions (no sockets, no clock: "now" is an argument), so
 * that every rule can be tested. Every parse error is written into 'err'
 * as "<path>: <problem>", e.g. "referral.mother.birth_date: not a date
 * (YYYY-MM-DD)". Errors never quote the value that was given: it may be a
 * BSN or a name in the wrong place, and stderr ends up in logs.
 *
 * JSON conventions: ids and other bytes as lower-case hex, times as ISO
 * 8601 UTC ("2026-12-31T00:00:00Z", with ".mmm" only when the milliseconds
 * are not zero), codes by their names in common/names.h.
 */
#ifndef KRCTL_JSON_MAP_H
#define KRCTL_JSON_MAP_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "admin.pb-c.h"
#include "content.pb-c.h"
#include "local.pb-c.h"
#include "store.pb-c.h"

/* "2026-12-31T00:00:00.123Z" and a NUL. */
#define JSON_MAP_TIME_LEN 25

/* Parse JSON text strictly (RFC 8259, valid UTF-8, one value and nothing
 * but white space after it). On error, 'err' gives line and column. */
int json_map_parse_text(const char *text, size_t len, json_object **out,
                        char *err, size_t errlen);

/* A message description (see `krctl send --help`) into a packed
 * kr.v1.LocalRequest whose op is 'send' (*req, *req_len; free()). Every
 * key is checked: unknown keys, wrong types and bad values are errors that
 * name the key. 'now_ms' is the current time, against which not_after and
 * a consent's valid_until are checked. The mother's BSN goes into the
 * sealed Content and into SendRequest.subject_bsn.
 *
 * A consent-grant needs "consent_scope" (SendRequest.consent_scope, the
 * clear scope: purpose, data_category, from_org | from_category, to_org |
 * to_category, valid_from, valid_until, grantor, and optionally
 * consent_id and supersedes), "subject_bsn" and "consent_evidence" (the
 * sealed Content.consent_evidence). A consent-revoke needs "consent_id".
 * legal_basis meldrecht needs "justification" (Content.justification),
 * which no other basis may carry. KR_EINVAL on bad input. */
int json_map_send_parse(json_object *in, uint64_t now_ms, uint8_t **req,
                        size_t *req_len, char *err, size_t errlen);

/* The reverse: a SendRequest as a description, with only the fields that
 * are set, so that parse -> pack -> unpack -> this gives the input back.
 * NULL (err set) if its content does not parse. */
json_object *json_map_send_to_json(const Kr__V1__SendRequest *s, char *err,
                                   size_t errlen);

/* Opened content: {"referral": {...}}, {"referral_status": {...}},
 * {"consent_evidence": {...}} or {"opaque": "..."} (text), or
 * {"opaque_hex": "..."} for bytes that are not UTF-8 text, each with
 * "justification" beside it when the content has one; {} if empty. */
json_object *json_map_content_to_json(const Kr__V1__Content *c);

/* Records for krctl's output. Every key is always present (null when the
 * record does not carry it), so that a consumer sees one stable shape.
 * json_map_inbox_item() sets *content_ok to 0 (and "content" to null) when
 * the item's content does not parse as a kr.v1.Content. An item that is a
 * broker's notice has "notice": {"kind", "consent_id", "msg_ids",
 * "revoked_by", "at"} and "content": null; others have "notice": null. */
json_object *json_map_inbox_item(const Kr__V1__InboxItem *it, int *content_ok);
json_object *json_map_outbox_item(const Kr__V1__OutboxItem *it);
json_object *json_map_org(const Kr__V1__OrgEntry *e);
json_object *json_map_queue(const Kr__V1__QueueStat *q);
json_object *json_map_status(const Kr__V1__NodeStatus *st);
json_object *json_map_broker_stats(const Kr__V1__BrokerStats *st);
/* Signals, matches and retention into o (json_map_signal.c). */
void json_map_signal_stats(json_object *o, const Kr__V1__BrokerStats *st);
/* A consent record of the broker's ledger: consent_id, subject_pseudonym
 * (hex), key_version, purpose, data_category, from and to (an org id or a
 * category name), valid_from, valid_until, grantor, supersedes, status
 * (active, revoked, superseded), recorded_by, recorded_at, grant_msg_id,
 * ended_at, ended_by, superseded_by. */
json_object *json_map_consent_record(const Kr__V1__ConsentRecord *r);
/* An audit record, every field of kr.v1.AuditRecord, times as ISO 8601,
 * bytes as hex, codes by name. */
json_object *json_map_audit_record(const Kr__V1__AuditRecord *r);

/* A referral as this organisation's node keeps it (json_map_referral.c):
 * referral_id, type, case_id, placer, performer, purpose, state,
 * state_at, opened_at, cancel_pending, reason, outcome, escalations,
 * last_escalation, overdue and, with 'with_history', "history": every
 * step {at, org_id (also as "org"; "broker" for a notice), from, to,
 * cancel_step, reason, outcome, msg_id}. docs/JSON.md, "Referral state". */
json_object *json_map_node_referral(const Kr__V1__NodeReferral *r,
                                    int with_history);

/* ISO 8601 UTC times ("YYYY-MM-DDTHH:MM:SS[.fff]Z") <-> Unix ms. */
int json_map_time_parse(const char *s, uint64_t *ms);
/* One end of a consent's period: an ISO 8601 UTC time, or a date
 * "YYYY-MM-DD" meaning 00:00:00.000Z of that day, or with 'end_of_day'
 * 23:59:59.999Z (the bounds are inclusive). */
int json_map_period_parse(const char *s, int end_of_day, uint64_t *ms);
/* A date relative to the day of 'now_ms' (UTC): "today", "today+30d",
 * "today-1d", as 00:00:00.000Z of that day, or with 'end_of_day'
 * 23:59:59.999Z. Accepted wherever a time or period end is checked
 * against the clock (not_after, valid_from, valid_until), so that a
 * description such as those in examples/ stays valid as it is.
 * KR_ENOTFOUND if 's' does not start with "today", KR_EINVAL if the rest
 * is not "+Nd" or "-Nd" (N: 1 to 5 digits). */
int json_map_relative_parse(const char *s, uint64_t now_ms, int end_of_day,
                            uint64_t *ms);
/* KR_EINVAL if 'ms' lies after the year 9999. */
int json_map_time_format(uint64_t ms, char out[JSON_MAP_TIME_LEN]);
/* 1 if 's' is a calendar date "YYYY-MM-DD" (years 1900 to 2199). */
int json_map_date_valid(const char *s);

#endif
