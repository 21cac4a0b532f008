/*
 * fhir_out_internal.h - what the files of the outbound mapping share
 * (fhir_out_util.c): reading kansrijk's JSON forms defensively and
 * building FHIR datatypes. Nothing outside fhir_out*.c uses it.
 *
 * The inputs come from the node through libkr and are well formed, but
 * the mappers never trust that: every value is checked against what its
 * FHIR element accepts (an id, a code, a date) and left out when it does
 * not fit, so that what the gateway returns always validates and a
 * damaged record can never crash it.
 */
#ifndef KR_FHIR_OUT_INTERNAL_H
#define KR_FHIR_OUT_INTERNAL_H

#include "fhir_out.h"

/* Code systems and identifier systems of our own (docs/FHIR.md). */
#define FO_CS "urn:kansrijk:cs:"
#define FO_CS_EVENT FO_CS "message-event"
#define FO_CS_PURPOSE FO_CS "purpose"
#define FO_CS_SERVICE FO_CS "service"
#define FO_CS_REASON FO_CS "reason"
#define FO_CS_DATA_CATEGORY FO_CS "data-category"
#define FO_CS_LEGAL_BASIS FO_CS "legal-basis"
#define FO_CS_STATUS_REASON FO_CS "status-reason"
#define FO_CS_OUTCOME FO_CS "outcome"
#define FO_CS_BUSINESS_STATUS FO_CS "business-status"
#define FO_CS_OUTPUT_TYPE FO_CS "output-type"
#define FO_CS_HANDOVER FO_CS "handover"
#define FO_ID_REFERRAL "urn:kansrijk:id:referral"
#define FO_ID_CONSENT "urn:kansrijk:id:consent"
#define FO_ID_CASE "urn:kansrijk:id:case"
#define FO_LOINC "http://loinc.org"

/* A string of 'o' at 'key' that is not empty; NULL otherwise (absent,
 * null, another type). 'o' may be NULL. */
const char *fo_str(json_object *o, const char *key);
/* The same, only if it is a FHIR code: no leading or trailing white
 * space, no white space but single spaces. */
const char *fo_code(json_object *o, const char *key);
/* Only if it is 32 lower-case hex digits (an id as JSON writes it). */
const char *fo_hex32(json_object *o, const char *key);
/* Only if it is a calendar date "YYYY-MM-DD". */
const char *fo_date(json_object *o, const char *key);
/* Only if it is an ISO 8601 UTC time as kansrijk writes it (a FHIR
 * instant and dateTime). */
const char *fo_time(json_object *o, const char *key);
/* The object or array at 'key', or NULL. */
json_object *fo_obj(json_object *o, const char *key);
json_object *fo_arr(json_object *o, const char *key);

/* The bytes of the white-space character at 's' (ASCII or Unicode, as
 * the FHIR JSON schema's \\s), 0 if it is none. */
size_t fo_ws_len(const char *s);
/* 1 if 's' is a FHIR string: some character that is not white space. */
int fo_is_string(const char *s);
/* A FHIR string of 's': white space other than space, tab, CR, LF and
 * control characters become spaces. */
json_object *fo_string(const char *s);

/* 1 if 's' is a FHIR code, a FHIR id ([A-Za-z0-9.-]{1,64}). */
int fo_is_code(const char *s);
int fo_is_id(const char *s);
/* 1 if 's' is a FHIR uri we would write: printable ASCII, no white
 * space, at most 1024 bytes. */
int fo_is_uri(const char *s);

/* Builders. Each returns a new object. */
json_object *fo_coding(const char *system, const char *code);
json_object *fo_cc(const char *system, const char *code);
json_object *fo_cc_text(const char *text);
json_object *fo_identifier(const char *system, const char *value);
json_object *fo_ref(const char *type, const char *id);
/* A Reference to an organisation by its identifier (URA or AGB), or NULL
 * if org_id is neither. */
json_object *fo_org_ref(const char *org_id);
/* Add 'v' to 'o' under 'key' unless it is NULL. */
void fo_add(json_object *o, const char *key, json_object *v);
void fo_add_str(json_object *o, const char *key, const char *s);
/* Append 'v' to array 'a' unless NULL. */
void fo_push(json_object *a, json_object *v);
/* 'a' under 'key' if it holds anything; freed otherwise. */
void fo_add_array(json_object *o, const char *key, json_object *a);

/* ctx->now_ms as a FHIR instant into out. */
void fo_now(const struct fhir_ctx *ctx, char out[32]);
/* A uuid derived from the parts (a NULL part ends the list) as
 * "urn:uuid:xxxxxxxx-xxxx-..." (46 bytes with the NUL), and the 32 hex
 * digits without dashes into hex (may be NULL). */
void fo_uuid(char urn[46], char hex[33], const char *part, ...);

/* meta.security of the data category and legal basis of an inbox item
 * (nothing if it has neither). */
json_object *fo_security(json_object *item);

/* What the Task (fhir_out.c) and the ServiceRequest and Patient
 * (fhir_out_request.c) share: the Task status of a referral record, a
 * FHIR request priority, the opened content of a REFERRAL or HANDOVER
 * item (and *handover, which), meta (lastUpdated and security), and the
 * referral's id (the record's, else the item's). */
const char *fo_task_status(json_object *referral);
const char *fo_priority(const char *p);
json_object *fo_content(json_object *item, int *handover);
json_object *fo_meta(const struct fhir_ctx *ctx, json_object *referral,
                     json_object *item);
const char *fo_referral_id(json_object *referral, json_object *item);

#endif
