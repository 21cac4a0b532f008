/*
 * fhir_in.h - FHIR R4 resources in, kansrijk's JSON message descriptions
 * (docs/JSON.md) out, ready for kr_send_json(). Pure functions: nothing
 * here talks to the node. docs/FHIR.md, "Messages in".
 */
#ifndef KR_FHIR_IN_H
#define KR_FHIR_IN_H

#include "fhir.h"

/* A request body as a JSON object (a resource) or array (a JSON Patch),
 * read strictly (RFC 8259, valid UTF-8, one value and nothing but white
 * space after it; json-c's single-quoted strings refused too). On refusal (400
 * structure) 'e' says where, as line and column, never what was there. */
int fhir_in_parse(const char *text, size_t len, json_object **out,
                  struct fhir_error *e);

/* The msg_id of a $process-message Bundle: derived from this
 * organisation and Bundle.id, so that the same Bundle POSTed again is the
 * same message ($process-message is not idempotent in FHIR; the gateway
 * makes it so). */
int fhir_bundle_msg_id(const char *org_id, const char *bundle_id,
                       char msg_id_hex[KR_MSG_ID_HEX_LEN]);

/* A message Bundle (Bundle.type "message", MessageHeader first) as one
 * kansrijk message description, with "msg_id" (fhir_bundle_msg_id) and,
 * for a REFERRAL or HANDOVER without a Task.identifier, a "referral_id"
 * derived the same way. *kr_out is the description (caller puts it);
 * *kind_out (may be NULL) the kansrijk type ("referral", "handover",
 * "supplement", "communication", "signal", "consent-grant"). On refusal
 * 'e' says why and nothing is to be sent. */
int fhir_in_message(const struct fhir_ctx *ctx, json_object *bundle,
                    json_object **kr_out, const char **kind_out,
                    struct fhir_error *e);

/* A Task as the client wants it now ('task', from PUT or after a PATCH)
 * against the referral as the node keeps it ('referral': the JSON of
 * kr_referral_json()). Returns the "referral-status" description that
 * makes the change (status, statusReason, businessStatus for a
 * cancellation step, output, note, executionPeriod.start), with a msg_id
 * derived from the referral, the number of steps in its history and the
 * change, so that a retried PUT is one message while a later equal change
 * is a new one. *kr_out is NULL if nothing changed. A change to an
 * element the gateway does not carry (owner, for, focus...) is refused
 * 422 naming it; the state table itself is the broker's (the node's
 * refusal comes back from kr_send_json). */
int fhir_in_task_update(const struct fhir_ctx *ctx, json_object *referral,
                        json_object *task, json_object **kr_out,
                        struct fhir_error *e);

/* Apply a JSON Patch (RFC 6902: add, remove, replace, test, move, copy)
 * to 'doc' in place. A failed "test" is 409, a path that does not
 * resolve 422; 'doc' is left unchanged on any refusal. */
int fhir_json_patch_apply(json_object *doc, json_object *patch,
                          struct fhir_error *e);

/* A Consent resource (POST Consent, or PUT with status inactive): a
 * "consent-grant" description, or a "consent-revoke" when
 * Consent.status is inactive (the consent named by its identifier). */
int fhir_in_consent(const struct fhir_ctx *ctx, json_object *consent,
                    json_object **kr_out, struct fhir_error *e);

#endif /* KR_FHIR_IN_H */
