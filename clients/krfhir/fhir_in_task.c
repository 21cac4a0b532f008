/*
 * fhir_in_task.c - a Task as the client wants it now (PUT, or the result
 * of a PATCH) against the referral as the node keeps it: the one
 * "referral-status" message that makes the change. docs/FHIR.md, "Task
 * updates".
 *
 * What a client may change: status, statusReason, businessStatus (a
 * cancellation step), output (the outcome), note (a new one), and
 * executionPeriod.start (the planned date). The parties, the subject and
 * the request are the referral's and never change; elements the gateway
 * does not carry are refused by name rather than dropped. Whether the
 * change is allowed is the referral table's (common/referral_table.c),
 * decided by the broker; this file only uses the table to know which
 * codes the step takes, so that a code the Task still shows from an
 * earlier step is not sent again with a step that takes none.
 */
#include "fhir_in_internal.h"

#include <stdio.h>
#include <string.h>

#include "referral_table.h"

/* The elements of a Task the gateway reads or shows; anything else in a
 * PUT would be a change it could not carry. */
static const char *const s_task_keys[] = {
    "resourceType", "id", "meta", "text", "identifier", "status",
    "statusReason", "businessStatus", "intent", "priority", "focus", "for",
    "authoredOn", "lastModified", "requester", "owner", "note",
    "executionPeriod", "output", "restriction",
    /* a handover's birth data, as
     * shown: read-only (fhir-out) */
    "input", NULL};

/* What the node's record says (kr_referral_json()). */
struct s_ref {
    const char *id, *placer, *performer, *purpose, *state;
    bool cancel_pending;
    size_t steps;
};

static int
s_referral(json_object *r, struct s_ref *out, struct fhir_error *e)
{
    json_object *v;

    memset(out, 0, sizeof(*out));
#define S_STR(k, f)                                                            \
    if (!json_object_object_get_ex(r, k, &v) ||                                \
        !json_object_is_type(v, json_type_string))                             \
        return fhir_error_set(e, 500, "exception", "",                         \
                              "the node's record of the referral lacks %s",    \
                              k);                                              \
    out->f = json_object_get_string(v);
    S_STR("referral_id", id)
    S_STR("placer", placer)
    S_STR("performer", performer)
    S_STR("state", state)
#undef S_STR
    if (json_object_object_get_ex(r, "purpose", &v) &&
        json_object_is_type(v, json_type_string))
        out->purpose = json_object_get_string(v);
    if (json_object_object_get_ex(r, "cancel_pending", &v))
        out->cancel_pending = json_object_get_boolean(v);
    if (json_object_object_get_ex(r, "history", &v) &&
        json_object_is_type(v, json_type_array))
        out->steps = json_object_array_length(v);
    return KR_OK;
}

/* "ServiceRequest/<id>" (relative or absolute) or a reference by our
 * identifier to the same referral. */
static int
s_same_ref(json_object *task, const char *key, const char *type, const char *id,
           struct fhir_error *e)
{
    json_object *ref;
    const char *r;
    char p[FIN_PATH], want[96];
    size_t rl, wl;
    int rc;

    if ((rc = fin_get(task, "Task", key, json_type_object, false, &ref, e)) !=
            KR_OK ||
        ref == NULL)
        return rc;
    fin_join(p, "Task", key);
    if ((rc = fin_str(ref, p, "reference", false, &r, e)) != KR_OK)
        return rc;
    if (r == NULL)
        return KR_OK; /* a display or identifier only: nothing to compare */
    snprintf(want, sizeof(want), "%s/%s", type, id);
    rl = strlen(r);
    wl = strlen(want);
    if (strcmp(r, want) == 0 ||
        (rl > wl && r[rl - wl - 1] == '/' && strcmp(r + rl - wl, want) == 0))
        return KR_OK;
    fin_join(p, p, "reference");
    return fhir_error_set(e, 422, "not-supported", p,
                          "cannot change: the %s of a referral is fixed", type);
}

static int
s_same_org(json_object *task, const char *key, const char *org,
           struct fhir_error *e)
{
    json_object *ref;
    char p[FIN_PATH], got[KR_ORG_ID_MAX + 1];
    int rc;

    if ((rc = fin_get(task, "Task", key, json_type_object, false, &ref, e)) !=
            KR_OK ||
        ref == NULL)
        return rc;
    fin_join(p, "Task", key);
    if ((rc = fin_org_ref(ref, p, got, e)) != KR_OK)
        return rc;
    if (strcmp(got, org) != 0)
        return fhir_error_set(e, 422, "not-supported", p,
                              "cannot change: the parties of a referral are "
                              "fixed");
    return KR_OK;
}

/* The elements that are the referral's, unchanged. */
static int
s_fixed(json_object *task, const struct s_ref *r, struct fhir_error *e)
{
    const char *s;
    char p[FIN_PATH], hex[KR_ID_HEX_LEN];
    int rc;

    json_object_object_foreach(task, key, val)
    {
        size_t k;
        (void)val;
        for (k = 0; s_task_keys[k] != NULL && strcmp(s_task_keys[k], key) != 0;
             k++)
            ;
        if (s_task_keys[k] == NULL && key[0] != '_') {
            fin_join(p, "Task", key);
            return fhir_error_set(e, 422, "not-supported", p,
                                  "an element the gateway does not carry: "
                                  "it cannot be set or changed");
        }
    }
    if ((rc = fin_str(task, "Task", "resourceType", true, &s, e)) != KR_OK)
        return rc;
    if (strcmp(s, "Task") != 0)
        return fhir_error_set(e, 400, "structure", "resourceType",
                              "not a Task");
    if ((rc = fin_str(task, "Task", "id", false, &s, e)) != KR_OK)
        return rc;
    if (s != NULL && strcmp(s, r->id) != 0)
        return fhir_error_set(e, 400, "invalid", "Task.id",
                              "differs from the referral's id");
    if ((rc = fin_identifier(task, "Task", "identifier", FIN_ID_REFERRAL, false,
                             &s, p, e)) != KR_OK)
        return rc;
    if (s != NULL && ((rc = fin_hex_id_get(s, p, hex, e)) != KR_OK ||
                      strcmp(hex, r->id) != 0))
        return rc != KR_OK ? rc
                           : fhir_error_set(e, 422, "not-supported", p,
                                            "cannot change: the referral's "
                                            "identifier is fixed");
    if ((rc = fin_str(task, "Task", "intent", false, &s, e)) != KR_OK)
        return rc;
    if (s != NULL && strcmp(s, "order") != 0)
        return fhir_error_set(e, 422, "not-supported", "Task.intent",
                              "cannot change: a referral is an order");
    if ((rc = s_same_org(task, "requester", r->placer, e)) != KR_OK ||
        (rc = s_same_org(task, "owner", r->performer, e)) != KR_OK ||
        (rc = s_same_ref(task, "focus", "ServiceRequest", r->id, e)) != KR_OK ||
        (rc = s_same_ref(task, "for", "Patient", r->id, e)) != KR_OK)
        return rc;
    return KR_OK;
}

/* The row of the table for (state, role, action), or NULL. */
static const struct rt_row *
s_row(int state, int role, int action)
{
    size_t n;
    const struct rt_row *rows = rt_rows(&n);

    for (size_t i = 0; i < n; i++)
        if (rows[i].from == state && rows[i].role == role &&
            rows[i].action == action)
            return &rows[i];
    return NULL;
}

/* The outcome in Task.output[] ({type output-type "outcome",
 * valueCodeableConcept outcome code}). */
static int
s_outcome(json_object *task, const char **code, struct fhir_error *e)
{
    json_object *a, *o;
    const char *t;
    char p[FIN_PATH];
    size_t n;
    int rc;

    *code = NULL;
    if ((rc = fin_arr(task, "Task", "output", false, &a, &n, e)) != KR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = fin_item(a, "Task", "output", i, &o, e)) != KR_OK)
            return rc;
        fin_index(p, "Task", "output", i);
        if ((rc = fin_concept_code(o, p, "type", FIN_CS_OUTPUT, true, &t, e)) !=
            KR_OK)
            return rc;
        if (strcmp(t, "outcome") != 0) {
            fin_join(p, p, "type");
            return fhir_error_set(e, 422, "not-supported", p,
                                  "the output this gateway carries is the "
                                  "outcome");
        }
        return fin_concept_code(o, p, "valueCodeableConcept", FIN_CS_OUTCOME,
                                true, code, e);
    }
    return KR_OK;
}

/* The new note: the last Task.note without a time (the notes the gateway
 * shows carry the time of their step). */
static int
s_note(json_object *task, const char **text, struct fhir_error *e)
{
    json_object *a, *nt, *v;
    char p[FIN_PATH];
    size_t n;
    int rc;

    *text = NULL;
    if ((rc = fin_arr(task, "Task", "note", false, &a, &n, e)) != KR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        if ((rc = fin_item(a, "Task", "note", i, &nt, e)) != KR_OK)
            return rc;
        fin_index(p, "Task", "note", i);
        if ((rc = fin_str(nt, p, "text", true, &s, e)) != KR_OK ||
            (rc = fin_get(nt, p, "time", json_type_null, false, &v, e)) !=
                KR_OK)
            return rc;
        if (v == NULL)
            *text = s;
    }
    return KR_OK;
}

int
fhir_in_task_update(const struct fhir_ctx *ctx, json_object *referral,
                    json_object *task, json_object **kr_out,
                    struct fhir_error *e)
{
    struct s_ref r;
    json_object *out, *st, *v;
    const char *status, *bs, *reason, *outcome, *note, *step = NULL,
                                                       *planned = NULL;
    char d[11], msg_id[KR_ID_HEX_LEN];
    int rc, role, state, action;

    *kr_out = NULL;
    if ((rc = s_referral(referral, &r, e)) != KR_OK)
        return rc;
    if (!json_object_is_type(task, json_type_object))
        return fhir_error_set(e, 400, "structure", "", "not a JSON object");
    if ((rc = s_fixed(task, &r, e)) != KR_OK)
        return rc;
    if (ctx->org_id != NULL && strcmp(ctx->org_id, r.placer) == 0)
        role = RT_PLACER;
    else if (ctx->org_id != NULL && strcmp(ctx->org_id, r.performer) == 0)
        role = RT_PERFORMER;
    else
        return fhir_error_set(e, 403, "security", "Task",
                              "this organisation is neither the placer nor "
                              "the performer of the referral");
    state = task_status_parse(r.state);

    if ((rc = fin_str(task, "Task", "status", true, &status, e)) != KR_OK)
        return rc;
    if (task_status_parse(status) < 0)
        return fhir_error_set(e, 422, "value", "Task.status",
                              "not a status of a kansrijk referral "
                              "(requested, received, accepted, rejected, "
                              "cancelled, on-hold, in-progress, completed, "
                              "failed, entered-in-error)");
    if ((rc = fin_concept_code(task, "Task", "businessStatus", FIN_CS_BUSINESS,
                               false, &bs, e)) != KR_OK ||
        (rc = fin_concept_code(task, "Task", "statusReason",
                               FIN_CS_STATUS_REASON, false, &reason, e)) !=
            KR_OK ||
        (rc = s_outcome(task, &outcome, e)) != KR_OK ||
        (rc = s_note(task, &note, e)) != KR_OK)
        return rc;
    if (bs != NULL && cancel_step_parse(bs) <= 0 && strcmp(bs, "escalated"))
        return fhir_error_set(e, 422, "value", "Task.businessStatus",
                              "not a cancellation step (cancel-requested, "
                              "cancel-confirmed, cancel-declined)");

    /* Which step does the Task ask for? A cancellation step named in
     * businessStatus, or a new status; the Task as it was read asks for
     * none. */
    bool changed = strcmp(status, r.state) != 0;
    if (r.cancel_pending) {
        if (bs != NULL && strcmp(bs, "cancel-declined") == 0)
            step = "cancel-declined";
        else if ((bs != NULL && strcmp(bs, "cancel-confirmed") == 0) ||
                 (changed && strcmp(status, "cancelled") == 0))
            step = "cancel-confirmed";
        else if (changed)
            step = status;
    } else if (bs != NULL && strcmp(bs, "cancel-requested") == 0) {
        if (changed)
            return fhir_error_set(e, 422, "business-rule",
                                  "Task.businessStatus",
                                  "a cancellation request leaves Task.status "
                                  "as it is");
        step = "cancel-requested";
    } else if (changed) {
        step = status;
    }
    if (step == NULL)
        return KR_OK; /* nothing to send */
    if (strcmp(step, "cancel-confirmed") == 0 ||
        strcmp(step, "cancel-declined") == 0) {
        if (changed && strcmp(status, "cancelled") != 0 &&
            strcmp(status, r.state) != 0)
            return fhir_error_set(e, 422, "business-rule", "Task.status",
                                  "a cancellation step and another status "
                                  "at once");
    }
    action = cancel_step_parse(step) > 0
                 ? RT_CANCEL_BASE + cancel_step_parse(step)
                 : task_status_parse(step);
    const struct rt_row *row = s_row(state, role, action);
    if (row != NULL && row->reasons == NULL)
        reason = NULL; /* the step takes none: what shows is older */
    if (row != NULL && row->outcomes == NULL)
        outcome = NULL;

    if ((rc = fin_get(task, "Task", "executionPeriod", json_type_object, false,
                      &v, e)) != KR_OK)
        return rc;
    if (v != NULL) {
        const char *s;
        if ((rc = fin_str(v, "Task.executionPeriod", "start", false, &s, e)) !=
            KR_OK)
            return rc;
        if (s != NULL) {
            if (strlen(s) < 10)
                return fhir_error_set(e, 422, "value",
                                      "Task.executionPeriod.start",
                                      "not a full date or dateTime");
            memcpy(d, s, 10);
            d[10] = '\0';
            if ((rc = fin_date(d, "Task.executionPeriod.start", d, e)) != KR_OK)
                return rc;
            /* The performer plans; at the placer the Task shows the
             * performer's date (fhir_out_task_add_status), which its own
             * changes do not repeat. */
            if (role == RT_PERFORMER)
                planned = d;
        }
    }

    out = json_object_new_object();
    fin_put(out, "type", "referral-status");
    fin_put(out, "recipient", role == RT_PLACER ? r.performer : r.placer);
    fin_put(out, "referral_id", r.id);
    if (r.purpose != NULL && r.purpose[0] != '\0')
        fin_put(out, "purpose", r.purpose);
    st = json_object_new_object();
    json_object_object_add(out, "referral_status", st);
    fin_put(st, "status", step);
    fin_put(st, "status_reason", reason);
    fin_put(st, "outcome", outcome);
    fin_put(st, "note", note);
    fin_put(st, "planned_date", planned);
    /* The referral, how far its history is, and the change: a retried PUT
     * is one message, the same change later (after other steps) another. */
    json_object *key = json_object_new_array();
    json_object_array_add(key, json_object_new_string(r.id));
    json_object_array_add(key, json_object_new_int64((int64_t)r.steps));
    json_object_array_add(key, json_object_get(st));
    const char *ks =
        json_object_to_json_string_ext(key, JSON_C_TO_STRING_PLAIN);
    fin_derive_id("task", ctx->org_id, ks, strlen(ks), msg_id);
    json_object_put(key);
    fin_put(out, "msg_id", msg_id);
    if ((rc = fin_check(ctx, out, "Task", e)) != KR_OK) {
        json_object_put(out);
        return rc;
    }
    *kr_out = out;
    return KR_OK;
}
