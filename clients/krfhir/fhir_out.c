/*
 * fhir_out.c - a referral as the node holds it (kr_referral_json's record
 * and the inbox item that opened it) as the FHIR R4 Task the gateway
 * returns, and the helpers the Task shares with the ServiceRequest and
 * Patient (fhir_out_request.c). docs/FHIR.md, "Resources out" (and
 * docs/FHIR.md, "The mapping out").
 *
 * The mapping mirrors the inbound one (fhir_in.c) so that a Task read,
 * changed and PUT back means the same thing. Every value is checked
 * against its FHIR element (fhir_out_internal.h) and left out if it does
 * not fit: a damaged record gives a smaller resource, never an invalid
 * one, and never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir_out_internal.h"
#include "json_map.h"
#include "util.h"

/* kansrijk's states are FHIR TaskStatus codes (common/referral_table.c
 * names them so on purpose). */
static const char *const s_task_states[] = {
    "requested", "received",    "accepted",  "rejected", "cancelled",
    "on-hold",   "in-progress", "completed", "failed",   "entered-in-error",
};

const char *
fo_task_status(json_object *referral)
{
    const char *s = fo_str(referral, "state");

    for (size_t i = 0;
         s != NULL && i < sizeof(s_task_states) / sizeof(s_task_states[0]); i++)
        if (strcmp(s, s_task_states[i]) == 0)
            return s_task_states[i];
    return NULL;
}

/* A FHIR request priority from kansrijk's (routine, urgent); others are
 * left out. */
const char *
fo_priority(const char *p)
{
    if (p == NULL)
        return NULL;
    if (strcmp(p, "routine") == 0 || strcmp(p, "urgent") == 0 ||
        strcmp(p, "asap") == 0 || strcmp(p, "stat") == 0)
        return p;
    return NULL;
}

/* The last step of the history, or NULL. */
static json_object *
s_last_step(json_object *referral)
{
    json_object *h = fo_arr(referral, "history");
    size_t n = h != NULL ? json_object_array_length(h) : 0;
    json_object *s = n > 0 ? json_object_array_get_idx(h, n - 1) : NULL;

    return s != NULL && json_object_is_type(s, json_type_object) ? s : NULL;
}

/* Task.businessStatus: a cancellation under way or just answered, else
 * an escalation in the current state. */
static json_object *
s_business_status(json_object *referral)
{
    json_object *v, *last = s_last_step(referral), *bs;
    const char *step = last != NULL ? fo_code(last, "cancel_step") : NULL;
    const char *code = NULL;
    char text[160] = "";
    int64_t n = 0;

    if (json_object_object_get_ex(referral, "escalations", &v) &&
        json_object_is_type(v, json_type_int))
        n = json_object_get_int64(v);
    if (json_object_object_get_ex(referral, "cancel_pending", &v) &&
        json_object_is_type(v, json_type_boolean) &&
        json_object_get_boolean(v)) {
        code = "cancel-requested";
        snprintf(text, sizeof(text),
                 "cancellation requested, awaiting the performer's answer");
    } else if (step != NULL && (strcmp(step, "cancel-confirmed") == 0 ||
                                strcmp(step, "cancel-declined") == 0 ||
                                strcmp(step, "cancel-requested") == 0)) {
        code = step;
        snprintf(
            text, sizeof(text), "%s",
            strcmp(step, "cancel-confirmed") == 0  ? "cancellation confirmed"
            : strcmp(step, "cancel-declined") == 0 ? "cancellation declined"
                                                   : "cancellation requested");
    } else if (json_object_object_get_ex(referral, "overdue", &v) &&
               json_object_is_type(v, json_type_boolean) &&
               json_object_get_boolean(v)) {
        const char *at = fo_time(referral, "last_escalation");
        code = "escalated";
        snprintf(text, sizeof(text),
                 "escalated: a timer ran out in this state (%lld escalation%s "
                 "in all%s%s)",
                 (long long)n, n == 1 ? "" : "s", at ? ", last at " : "",
                 at ? at : "");
    }
    if (code == NULL)
        return NULL;
    bs = fo_cc(FO_CS_BUSINESS_STATUS, code);
    json_object_object_add(bs, "text", fo_string(text));
    return bs;
}

/* The opened content of a REFERRAL or HANDOVER item, and which. */
json_object *
fo_content(json_object *item, int *handover)
{
    json_object *c = fo_obj(item, "content"), *r;

    *handover = 0;
    if ((r = fo_obj(c, "referral")) != NULL)
        return r;
    if ((r = fo_obj(c, "handover")) != NULL) {
        *handover = 1;
        return r;
    }
    return NULL;
}

/* meta with lastUpdated (when the node last changed the referral, else
 * its state's time, else the item's arrival, else now) and security. */
json_object *
fo_meta(const struct fhir_ctx *ctx, json_object *referral, json_object *item)
{
    json_object *m = json_object_new_object();
    const char *at = fo_time(referral, "updated_at");
    char now[32];

    if (at == NULL)
        at = fo_time(referral, "state_at");
    if (at == NULL)
        at = fo_time(item, "received_at");
    if (at == NULL) {
        fo_now(ctx, now);
        at = now;
    }
    json_object_object_add(m, "lastUpdated", json_object_new_string(at));
    fo_add(m, "security", fo_security(item));
    return m;
}

/* The UTC offset of the Netherlands' wall clock at a local date and time:
 * summer time (+02:00) from 02:00 on the last Sunday of March to 03:00 on
 * the last Sunday of October (the hour that repeats is read as summer
 * time), +01:00 otherwise. */
static int
s_day_of_week(int y, int m, int d)
{
    static const int t[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};

    if (m < 3)
        y -= 1;
    return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7; /* 0: Sun */
}

static int
s_last_sunday(int y, int m)
{
    return 31 - s_day_of_week(y, m, 31);
}

static const char *
s_nl_offset(int y, int mo, int d, int h)
{
    int mar = s_last_sunday(y, 3), oct = s_last_sunday(y, 10);

    if (mo < 3 || mo > 10 || (mo == 3 && (d < mar || (d == mar && h < 2))) ||
        (mo == 10 && (d > oct || (d == oct && h >= 3))))
        return "+01:00";
    return "+02:00";
}

/* A handover's birth "YYYY-MM-DDThh:mm" (the wall clock as recorded) as a
 * FHIR dateTime with seconds and the Dutch offset of that moment, which
 * the inbound mapping turns back into the same wall clock. */
static json_object *
s_birth_datetime(const char *s)
{
    int y, mo, d, h, mi;
    char day[11], out[40];

    if (s == NULL || strlen(s) != 16 || s[10] != 'T' || s[13] != ':')
        return NULL;
    memcpy(day, s, 10);
    day[10] = '\0';
    /* Every digit checked: sscanf would take "4:3" and a byte after it
     * (a fuzzed input had a control character there). */
    for (int i = 11; i < 16; i++)
        if (i != 13 && (s[i] < '0' || s[i] > '9'))
            return NULL;
    if (!json_map_date_valid(day) ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d", &y, &mo, &d, &h, &mi) != 5 || h > 23 ||
        mi > 59)
        return NULL;
    snprintf(out, sizeof(out), "%.16s:00%s", s, s_nl_offset(y, mo, d, h));
    return json_object_new_string(out);
}

/* One Task.input: {type {urn:kansrijk:cs:handover, key}, value[x]}. */
static void
s_input(json_object *a, const char *key, const char *vkey, json_object *v)
{
    json_object *in;

    if (v == NULL)
        return;
    in = json_object_new_object();
    json_object_object_add(in, "type", fo_cc(FO_CS_HANDOVER, key));
    json_object_object_add(in, vkey, v);
    json_object_array_add(a, in);
}

static json_object *
s_int(json_object *o, const char *key, int64_t min, int64_t max)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) < min || json_object_get_int64(v) > max)
        return NULL;
    return json_object_new_int64(json_object_get_int64(v));
}

static json_object *
s_string(const char *s)
{
    return s != NULL ? fo_string(s) : NULL;
}

/* A handover's data about the birth and the child, as the inbound
 * mapping reads them (docs/FHIR.md: Task.input of a handover). */
static json_object *
s_handover_inputs(json_object *c)
{
    json_object *a = json_object_new_array();
    const char *bsn = fo_str(c, "child_bsn");

    s_input(a, "child_given_name", "valueString",
            s_string(fo_str(c, "child_given_name")));
    if (bsn != NULL)
        s_input(a, "child_bsn", "valueIdentifier",
                fo_identifier(FHIR_SYS_BSN, bsn));
    s_input(a, "birth_datetime", "valueDateTime",
            s_birth_datetime(fo_str(c, "birth_datetime")));
    s_input(a, "gestational_age_days", "valueInteger",
            s_int(c, "gestational_age_days", 0, INT32_MAX));
    s_input(a, "birth_weight_g", "valueInteger",
            s_int(c, "birth_weight_g", 0, INT32_MAX));
    s_input(a, "apgar_1", "valueInteger", s_int(c, "apgar_1", 0, 10));
    s_input(a, "apgar_5", "valueInteger", s_int(c, "apgar_5", 0, 10));
    s_input(a, "feeding", "valueCode", s_string(fo_code(c, "feeding")));
    s_input(a, "heel_prick", "valueCode", s_string(fo_code(c, "heel_prick")));
    s_input(a, "hearing_screening", "valueCode",
            s_string(fo_code(c, "hearing_screening")));
    s_input(a, "family_situation", "valueString",
            s_string(fo_str(c, "family_situation")));
    if (json_object_array_length(a) == 0) {
        json_object_put(a);
        return NULL;
    }
    return a;
}

json_object *
fhir_out_task(const struct fhir_ctx *ctx, json_object *referral,
              json_object *item)
{
    const char *id = fo_hex32(referral, "referral_id");
    const char *status = fo_task_status(referral);
    json_object *t, *a;
    int handover;

    if (id == NULL || status == NULL)
        return NULL;
    json_object *content = fo_content(item, &handover);
    t = json_object_new_object();
    json_object_object_add(t, "resourceType", json_object_new_string("Task"));
    json_object_object_add(t, "id", json_object_new_string(id));
    json_object_object_add(t, "meta", fo_meta(ctx, referral, item));

    a = json_object_new_array();
    json_object_array_add(a, fo_identifier(FO_ID_REFERRAL, id));
    const char *case_id = fo_hex32(referral, "case_id");
    if (case_id != NULL)
        json_object_array_add(a, fo_identifier(FO_ID_CASE, case_id));
    json_object_object_add(t, "identifier", a);

    json_object_object_add(t, "status", json_object_new_string(status));
    const char *reason = fo_code(referral, "reason");
    if (reason != NULL)
        json_object_object_add(t, "statusReason",
                               fo_cc(FO_CS_STATUS_REASON, reason));
    fo_add(t, "businessStatus", s_business_status(referral));
    json_object_object_add(t, "intent", json_object_new_string("order"));
    fo_add_str(t, "priority", fo_priority(fo_code(item, "priority")));

    /* The ServiceRequest and Patient exist only where the content was
     * opened (at the performer): no reference that would not resolve. */
    if (content != NULL) {
        json_object_object_add(t, "focus", fo_ref("ServiceRequest", id));
        json_object_object_add(t, "for", fo_ref("Patient", id));
    }
    fo_add_str(t, "authoredOn", fo_time(referral, "opened_at"));
    fo_add_str(t, "lastModified", fo_time(referral, "state_at"));
    fo_add(t, "requester", fo_org_ref(fo_str(referral, "placer")));
    fo_add(t, "owner", fo_org_ref(fo_str(referral, "performer")));

    if (content != NULL && handover)
        fo_add(t, "input", s_handover_inputs(content));
    const char *outcome = fo_code(referral, "outcome");
    if (outcome != NULL) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "type", fo_cc(FO_CS_OUTPUT_TYPE, "outcome"));
        json_object_object_add(o, "valueCodeableConcept",
                               fo_cc(FO_CS_OUTCOME, outcome));
        a = json_object_new_array();
        json_object_array_add(a, o);
        json_object_object_add(t, "output", a);
    }
    return t;
}

/* "note" and the contact of a referral_status in words, into a new
 * string (NULL if it has neither). */
static char *
s_status_text(json_object *rs)
{
    const char *note = fo_str(rs, "note");
    json_object *c = fo_obj(rs, "contact");
    const char *parts[5] = {fo_str(c, "name"), fo_str(c, "role"),
                            fo_str(c, "phone"), fo_str(c, "email"),
                            fo_str(c, "agb")};
    size_t n = (note ? strlen(note) : 0) + 32;
    int any = 0;
    char *out;

    for (int i = 0; i < 5; i++)
        if (parts[i] != NULL) {
            n += strlen(parts[i]) + 8;
            any = 1;
        }
    if (note == NULL && !any)
        return NULL;
    out = xmalloc(n);
    snprintf(out, n, "%s", note ? note : "");
    if (any) {
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%sContact:", note ? "\n" : "");
        for (int i = 0; i < 5; i++) {
            if (parts[i] == NULL)
                continue;
            len = strlen(out);
            snprintf(out + len, n - len, "%s%s%s", i == 0 ? " " : ", ",
                     i == 4 ? "AGB " : "", parts[i]);
        }
    }
    return out;
}

void
fhir_out_task_add_status(const struct fhir_ctx *ctx, json_object *task,
                         json_object *items)
{
    const char *id = fo_hex32(task, "id"), *planned = NULL;
    json_object *notes;
    size_t n;

    (void)ctx;
    if (id == NULL || items == NULL ||
        !json_object_is_type(items, json_type_array))
        return;
    notes = fo_arr(task, "note");
    if (notes == NULL)
        notes = json_object_new_array();
    else
        json_object_get(notes);
    n = json_object_array_length(items);
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_array_get_idx(items, i);
        const char *type = fo_str(it, "type");
        const char *rid = fo_hex32(it, "referral_id");
        json_object *rs = fo_obj(fo_obj(it, "content"), "referral_status");
        if (type == NULL || strcmp(type, "referral-status") != 0 ||
            rid == NULL || strcmp(rid, id) != 0 || rs == NULL)
            continue;
        if (fo_date(rs, "planned_date") != NULL)
            planned = fo_date(rs, "planned_date");
        char *text = s_status_text(rs);
        if (text == NULL)
            continue;
        json_object *a = json_object_new_object();
        fo_add(a, "authorReference", fo_org_ref(fo_str(it, "sender")));
        const char *at = fo_time(it, "created_at");
        if (at == NULL)
            at = fo_time(it, "received_at");
        fo_add_str(a, "time", at);
        if (fo_is_string(text))
            json_object_object_add(a, "text", fo_string(text));
        free(text);
        if (json_object_object_get_ex(a, "text", NULL))
            json_object_array_add(notes, a);
        else
            json_object_put(a);
    }
    json_object_object_del(task, "note");
    fo_add_array(task, "note", notes);
    if (planned != NULL) {
        json_object *p = json_object_new_object();
        json_object_object_add(p, "start", json_object_new_string(planned));
        json_object_object_add(task, "executionPeriod", p);
    }
}

/* The referral's id: the record's, else the item's. */
const char *
fo_referral_id(json_object *referral, json_object *item)
{
    const char *id = fo_hex32(referral, "referral_id");

    return id != NULL ? id : fo_hex32(item, "referral_id");
}
