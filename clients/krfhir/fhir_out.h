/*
 * fhir_out.h - what the node holds (libkr's JSON: kr_referral_json(),
 * inbox items, receipts) as FHIR R4 resources. Pure functions: nothing
 * here talks to the node. docs/FHIR.md, "Resources out".
 *
 * Ids: Task, ServiceRequest and Patient of a referral all have the
 * referral_id (32 hex digits) as their id. Organisations are referenced
 * by identifier (URA or AGB), not as resources.
 */
#ifndef KR_FHIR_OUT_H
#define KR_FHIR_OUT_H

#include "fhir.h"

/* The Task of a referral: 'referral' is kr_referral_json()'s object;
 * 'item' the REFERRAL or HANDOVER inbox item that opened it, or NULL
 * where the node holds no opened content (at the placer). State,
 * escalations (Task.businessStatus) and the last step's codes come from
 * 'referral'. */
json_object *fhir_out_task(const struct fhir_ctx *ctx, json_object *referral,
                           json_object *item);

/* What the other party said with its REFERRAL_STATUS messages, onto a
 * Task of fhir_out_task(): 'items' an array of this organisation's inbox
 * items of the referral (kr_inbox_get_json of the history's msg_ids set
 * by the other party), in order; those that are not a referral-status of
 * this Task's referral are passed over. Each one's note (and contact,
 * in words) becomes a Task.note with its time and author (the sender, by
 * identifier); the last planned_date Task.executionPeriod.start. The
 * inbound side reads notes with a time as earlier steps', never as a new
 * note. */
void fhir_out_task_add_status(const struct fhir_ctx *ctx, json_object *task,
                              json_object *items);

/* The ServiceRequest and Patient of a referral, from the opened REFERRAL
 * or HANDOVER inbox item; NULL (with 'e' set 404, saying why) where the
 * item holds no such content. */
json_object *fhir_out_service_request(const struct fhir_ctx *ctx,
                                      json_object *referral, json_object *item,
                                      struct fhir_error *e);
json_object *fhir_out_patient(const struct fhir_ctx *ctx, json_object *referral,
                              json_object *item, struct fhir_error *e);

/* A Communication for a broker notice about a referral (an escalation, a
 * cancellation request): 'item' an inbox item whose "notice" is set. */
json_object *fhir_out_notice_communication(const struct fhir_ctx *ctx,
                                           json_object *item);

/* The CapabilityStatement of the gateway (GET /metadata). */
json_object *fhir_out_capability(const struct fhir_ctx *ctx,
                                 const char *software_version);

/* The response Bundle of $process-message: MessageHeader.response with
 * identifier = the request Bundle's MessageHeader id ('request_header_id')
 * and code "ok", "transient-error" or "fatal-error"; 'outcome' (owned by
 * the result, may be NULL) an OperationOutcome as its details; 'focus'
 * (owned, may be NULL) a resource to include (the Task). */
json_object *fhir_out_message_response(const struct fhir_ctx *ctx,
                                       const char *request_header_id,
                                       const char *code, json_object *outcome,
                                       json_object *focus);

/* A searchset Bundle of 'resources' (an array, owned by the result) with
 * Bundle.total and a self link 'self_url' (and 'next_url' if not NULL). */
json_object *fhir_out_searchset(const struct fhir_ctx *ctx,
                                json_object *resources, size_t total,
                                const char *self_url, const char *next_url);

#endif /* KR_FHIR_OUT_H */
