/*
 * fuzz_fhir_in.c - krfhir's inbound mappers (clients/krfhir/fhir_in_*.c)
 * on request bodies as a FHIR client sends them: parsed strictly by
 * fhir_in_parse, then mapped as the gateway's routes do. What a mapper
 * accepts must pass kansrijk's JSON layer (json_map_send_parse): a
 * description the mapper hands on that the layer refuses is a bug (abort).
 *
 * Input: a selector byte, then the body:
 *   0  POST $process-message: fhir_in_message
 *   1  POST/PUT Consent: fhir_in_consent
 *   2  PATCH Task: the body as a JSON Patch applied (fhir_json_patch_apply)
 *      to the Task the gateway shows (fhir_out_task) of a fixed referral,
 *      then fhir_in_task_update as the performer and as the placer; the
 *      selector's high bits pick the referral's state, whether a
 *      cancellation request is open and its last cancellation step
 *   3  PUT Task: the body as the Task, fhir_in_task_update likewise
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir_in.h"
#include "fhir_out.h"
#include "fuzz_common.h"
#include "json_map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fhir_ctx s_practice = {"ura:00001234",
                                           "http://127.0.0.1:8380", FZ_NOW_MS};
static const struct fhir_ctx s_jgz = {"ura:87654321", "http://127.0.0.1:8381",
                                      FZ_NOW_MS};

static const char *const s_states[] = {"requested", "received",    "accepted",
                                       "on-hold",   "in-progress", "completed",
                                       "cancelled", "in-progress"};

/* The node's record of a referral (kr_referral_json) in 'state', its
 * last step 'cancel_step' (or none), as the gateway reads it. */
static json_object *
s_referral(const char *state, bool cancel_pending, const char *cancel_step)
{
    char text[1536];

    snprintf(
        text, sizeof(text),
        "{\"referral_id\": \"b0e0a1e2c3d4e5f60718293a4b5c6d7e\", \"type\": "
        "\"referral\", \"case_id\": null, \"placer\": \"ura:00001234\", "
        "\"performer\": \"ura:87654321\", \"purpose\": "
        "\"prenataal-huisbezoek\", \"state\": \"%s\", \"state_at\": "
        "\"2026-12-05T09:12:44.120Z\", \"opened_at\": "
        "\"2026-12-05T09:12:40.031Z\", \"cancel_pending\": %s, \"reason\": "
        "%s, \"outcome\": null, \"escalations\": 1, \"last_escalation\": "
        "\"2026-12-06T09:00:00Z\", \"overdue\": true, \"history\": [{\"at\": "
        "\"2026-12-05T09:12:40.031Z\", \"org_id\": \"ura:00001234\", "
        "\"from\": null, \"to\": \"requested\", \"cancel_step\": null, "
        "\"reason\": null, \"outcome\": null, \"msg_id\": "
        "\"b2c50a359e13930c399c9502afba9fe2\"}, {\"at\": "
        "\"2026-12-05T09:12:44.120Z\", \"org_id\": \"ura:87654321\", "
        "\"from\": \"requested\", \"to\": \"%s\", \"cancel_step\": %s%s%s, "
        "\"reason\": null, \"outcome\": null, \"msg_id\": "
        "\"5d1c0b6e0e8f4a3b9c2d7e6f8a9b0c1d\"}]}",
        state, cancel_pending ? "true" : "false",
        cancel_step != NULL ? "\"consent-revoked\"" : "null", state,
        cancel_step != NULL ? "\"" : "",
        cancel_step != NULL ? cancel_step : "null",
        cancel_step != NULL ? "\"" : "");
    return json_tokener_parse(text);
}

/* What a mapper accepted must be a description the JSON layer takes, and
 * must print. */
static void
s_out(json_object *o)
{
    char err[512];
    uint8_t *req = NULL;
    size_t len = 0;

    if (o == NULL)
        return;
    if (json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY) == NULL)
        abort();
    if (json_map_send_parse(o, FZ_NOW_MS, &req, &len, err, sizeof(err)) != 0)
        abort();
    free(req);
    json_object_put(o);
}

/* A refusal is a 4xx with a code (a 500 only for our own record). */
static void
s_refused(const struct fhir_error *e)
{
    if (e->status < 400 || e->status > 599 || e->code[0] == '\0' ||
        e->diagnostics[0] == '\0')
        abort();
}

static const char *const s_steps[] = {NULL, "cancel-requested",
                                      "cancel-declined", NULL};

static json_object *
s_ref_of(uint8_t sel)
{
    return s_referral(s_states[(sel >> 2) & 7], (sel >> 5) & 1,
                      s_steps[(sel >> 6) & 3]);
}

static void
s_update(json_object *task, uint8_t sel)
{
    json_object *ref = s_ref_of(sel);
    const struct fhir_ctx *who[2] = {&s_jgz, &s_practice};

    for (int i = 0; i < 2; i++) {
        json_object *out = NULL;
        struct fhir_error e;
        memset(&e, 0, sizeof(e));
        if (fhir_in_task_update(who[i], ref, task, &out, &e) == 0)
            s_out(out);
        else
            s_refused(&e);
    }
    json_object_put(ref);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz in = {data, size};
    uint8_t sel = fz_u8(&in);
    json_object *body = NULL, *out = NULL;
    struct fhir_error e;

    fz_init();
    memset(&e, 0, sizeof(e));
    if (fhir_in_parse((const char *)in.p, in.n, &body, &e) != 0) {
        s_refused(&e);
        return 0;
    }
    switch (sel & 3) {
    case 0: {
        const char *kind = NULL;
        if (fhir_in_message(&s_practice, body, &out, &kind, &e) == 0) {
            if (kind == NULL)
                abort();
            s_out(out);
        } else {
            s_refused(&e);
        }
        break;
    }
    case 1:
        if (fhir_in_consent(&s_practice, body, &out, &e) == 0)
            s_out(out);
        else
            s_refused(&e);
        break;
    case 2: {
        /* The Task exactly as the gateway shows it (fhir_out_task), as a
         * PATCH finds it. */
        json_object *ref = s_ref_of(sel);
        json_object *task = fhir_out_task(&s_jgz, ref, NULL);
        json_object *before = fhir_out_task(&s_jgz, ref, NULL);
        json_object_put(ref);
        if (task == NULL || before == NULL)
            abort();
        if (fhir_json_patch_apply(task, body, &e) == 0) {
            s_update(task, sel);
        } else {
            s_refused(&e);
            /* A refused patch leaves the document as it was. */
            if (!json_object_equal(task, before))
                abort();
        }
        json_object_put(before);
        json_object_put(task);
        break;
    }
    default:
        s_update(body, sel);
        break;
    }
    json_object_put(body);
    return 0;
}
