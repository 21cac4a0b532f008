/*
 * fhir_in_internal.h - what the inbound mappers (fhir_in_*.c) share:
 * reading JSON elements by FHIRPath with refusals that name them, codings
 * and identifiers by system, references resolved inside a message Bundle,
 * FHIR dates and times as kansrijk's, and the derived ids.
 *
 * Every getter returns KR_OK or a refusal (fhir_error_set's code) with 'e'
 * filled; an absent optional element is KR_OK with *out NULL. Paths are
 * FHIRPath strings ("Bundle.entry[2].resource.identifier[0]"), truncated
 * to what struct fhir_error holds.
 */
#ifndef KR_FHIR_IN_INTERNAL_H
#define KR_FHIR_IN_INTERNAL_H

#include "fhir_in.h"
#include "json_map.h"
#include "util.h"

/* Room for one FHIRPath (the size of fhir_error.expression). */
#define FIN_PATH 192

/* Our code and identifier systems (docs/FHIR.md). */
#define FIN_CS "urn:kansrijk:cs:"
#define FIN_CS_EVENT FIN_CS "message-event"
#define FIN_CS_PURPOSE FIN_CS "purpose"
#define FIN_CS_SERVICE FIN_CS "service"
#define FIN_CS_REASON FIN_CS "reason"
#define FIN_CS_CATEGORY FIN_CS "data-category"
#define FIN_CS_BASIS FIN_CS "legal-basis"
#define FIN_CS_STATUS_REASON FIN_CS "status-reason"
#define FIN_CS_OUTCOME FIN_CS "outcome"
#define FIN_CS_BUSINESS FIN_CS "business-status"
#define FIN_CS_OUTPUT FIN_CS "output-type"
#define FIN_CS_HANDOVER FIN_CS "handover"
#define FIN_ID_REFERRAL "urn:kansrijk:id:referral"
#define FIN_ID_CONSENT "urn:kansrijk:id:consent"
#define FIN_ID_CASE "urn:kansrijk:id:case"
#define FIN_ID_ACTOR "urn:kansrijk:id:actor"
#define FIN_EXT_CONSENT "urn:kansrijk:ext:consent-evidence#"
#define FIN_FLAG_PRIORITY                                                      \
    "http://hl7.org/fhir/StructureDefinition/flag-priority"
#define FIN_FLAG_PRIORITY_CS "http://hl7.org/fhir/flagPriorityCodes"
#define FIN_LOINC "http://loinc.org"
#define FIN_ADXP "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-"

/* At most this many entries in a Bundle, items in a list we walk, and
 * operations in a JSON Patch: every loop is bounded by what the gateway's
 * body limit lets through anyway, and these say so plainly. */
#define FIN_MAX_ENTRIES 256
#define FIN_MAX_ITEMS 64
#define FIN_MAX_PATCH_OPS 128

/* "<path>.<key>" and "<path>.<key>[<i>]". */
void fin_join(char out[FIN_PATH], const char *path, const char *key);
void fin_index(char out[FIN_PATH], const char *path, const char *key, size_t i);

/* Member 'key' of 'o' of JSON type 't' (json_type_null: any type). */
int fin_get(json_object *o, const char *path, const char *key, json_type t,
            bool required, json_object **out, struct fhir_error *e);
/* A non-empty string member. */
int fin_str(json_object *o, const char *path, const char *key, bool required,
            const char **out, struct fhir_error *e);
/* An array member with at most FIN_MAX_ITEMS items (*n its length). */
int fin_arr(json_object *o, const char *path, const char *key, bool required,
            json_object **out, size_t *n, struct fhir_error *e);
/* Item 'i' of array 'a' as an object. */
int fin_item(json_object *a, const char *path, const char *key, size_t i,
             json_object **out, struct fhir_error *e);

/* The code of the coding with 'system' in CodeableConcept 'key' of 'o';
 * *code NULL if there is none with that system. */
int fin_concept_code(json_object *o, const char *path, const char *key,
                     const char *system, bool required, const char **code,
                     struct fhir_error *e);
/* The same in the Coding array 'key' (meta.security, eventCoding as a
 * one-element case). */
int fin_codings_code(json_object *o, const char *path, const char *key,
                     const char *system, bool required, const char **code,
                     struct fhir_error *e);
/* The value of the identifier with 'system' in the Identifier array
 * 'key' of 'o' (*value NULL if none). 'vpath' (may be NULL) gets the
 * path of that identifier's value. */
int fin_identifier(json_object *o, const char *path, const char *key,
                   const char *system, bool required, const char **value,
                   char vpath[FIN_PATH], struct fhir_error *e);
/* 32 lower-case hex digits (an id of ours). */
bool fin_hex_id(const char *s);
/* A lower-case copy of a hex id that may be written in upper case. */
int fin_hex_id_get(const char *s, const char *path, char out[KR_ID_HEX_LEN],
                   struct fhir_error *e);

/* A FHIR date "YYYY-MM-DD" (full) into out[11]. */
int fin_date(const char *s, const char *path, char out[11],
             struct fhir_error *e);
/* A FHIR dateTime with time and zone (or a full date: its midnight UTC)
 * as kansrijk's UTC time "YYYY-MM-DDTHH:MM:SS[.mmm]Z"; *ms too (may be
 * NULL). A date only is copied as is when 'keep_date' (consent periods,
 * where kansrijk gives a date its whole day). */
int fin_datetime(const char *s, const char *path, bool keep_date,
                 char out[JSON_MAP_TIME_LEN], uint64_t *ms,
                 struct fhir_error *e);

/* The parties of a message Bundle: references by identifier to an
 * organisation, as an org_id. */
int fin_org_ref(json_object *ref, const char *path, char out[KR_ORG_ID_MAX + 1],
                struct fhir_error *e);

/* A message Bundle being read. */
struct fin_bundle {
    json_object *entries; /* Bundle.entry */
    size_t n;
};

/* The resource a Reference points to inside the Bundle (by fullUrl, or
 * "Type/id"), which must be of 'type'; rpath gets its path
 * ("Bundle.entry[3].resource"). */
int fin_resolve(const struct fin_bundle *b, json_object *ref, const char *path,
                const char *type, json_object **res, char rpath[FIN_PATH],
                struct fhir_error *e);

/* The BSN of a Patient (identifier with FHIR_SYS_BSN, eleven-test). */
int fin_patient_bsn(json_object *patient, const char *path, const char **bsn,
                    struct fhir_error *e);

/* The clear envelope codes every message carries in meta.security:
 * data_category and legal_basis into 'out' ("data_category",
 * "legal_basis"), each required when 'required'. */
int fin_security(json_object *res, const char *path, bool required,
                 json_object *out, struct fhir_error *e);

/* A 16-byte id derived from 'what', 'org' and 'data' (BLAKE2b, as
 * kr_json_msg_id does), as hex. */
void fin_derive_id(const char *what, const char *org, const void *data,
                   size_t len, char out[KR_ID_HEX_LEN]);

/* A description as kansrijk's JSON layer would take it (now: ctx's
 * clock): 422 naming 'path' with the layer's words if not. */
int fin_check(const struct fhir_ctx *ctx, json_object *desc, const char *path,
              struct fhir_error *e);

/* Set key to a new string (a no-op for NULL). */
void fin_put(json_object *o, const char *key, const char *s);

/* The Consent of a consent-grant or consent-revoke; 'b' is the Bundle
 * it came in (NULL for POST/PUT Consent), 'path' its path. */
int fin_consent(const struct fhir_ctx *ctx, const struct fin_bundle *b,
                json_object *consent, const char *path, json_object *out,
                struct fhir_error *e);

/* A referral or handover from the MessageHeader's focus Task. */
int fin_referral(const struct fhir_ctx *ctx, const struct fin_bundle *b,
                 json_object *task, const char *tpath, bool handover,
                 const char *bundle_id, json_object *out, struct fhir_error *e);

#endif /* KR_FHIR_IN_INTERNAL_H */
