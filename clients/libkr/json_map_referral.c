/* json_map_referral.c - a referral as this organisation's node keeps it
 * (kr.v1.NodeReferral) as JSON: what `krctl referral show --node --json`
 * prints and kr_referral_json() returns, one code for both. See json_map.h
 * and docs/JSON.md, "Referral state". */
#include <stdio.h>
#include <string.h>

#include "json_map.h"
#include "json_map_out_internal.h"
#include "names.h"
#include "referral_table.h"
#include "util.h"

static json_object *
s_str(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_object_new_string(s) : NULL;
}

static json_object *
s_step(const Kr__V1__NodeReferralStep *st)
{
    json_object *e = json_object_new_object();
    const char *org =
        st->org_id != NULL && st->org_id[0] != '\0' ? st->org_id : "broker";

    json_object_object_add(e, "at", jmo_time(st->at_ms));
    /* "org" is the key krctl printed first (the broker's record has it
     * too); "org_id" the one the FHIR gateway's contract names. Both
     * stay, so that neither reader breaks. */
    json_object_object_add(e, "org_id", json_object_new_string(org));
    json_object_object_add(e, "org", json_object_new_string(org));
    json_object_object_add(
        e, "from",
        st->from ? json_object_new_string(task_status_name(st->from)) : NULL);
    json_object_object_add(e, "to",
                           json_object_new_string(task_status_name(st->to)));
    json_object_object_add(
        e, "cancel_step",
        st->cancel_step
            ? json_object_new_string(cancel_step_name(st->cancel_step))
            : NULL);
    json_object_object_add(e, "reason", s_str(st->reason));
    json_object_object_add(e, "outcome", s_str(st->outcome));
    json_object_object_add(e, "msg_id", jmo_hex(&st->msg_id));
    return e;
}

json_object *
json_map_node_referral(const Kr__V1__NodeReferral *r, int with_history)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "referral_id", jmo_hex(&r->referral_id));
    json_object_object_add(o, "type",
                           json_object_new_string(message_type_name(r->type)));
    json_object_object_add(o, "case_id", jmo_hex(&r->case_id));
    json_object_object_add(o, "placer", s_str(r->placer));
    json_object_object_add(o, "performer", s_str(r->performer));
    json_object_object_add(o, "purpose", s_str(r->purpose));
    json_object_object_add(o, "state",
                           json_object_new_string(task_status_name(r->state)));
    json_object_object_add(o, "state_at", jmo_time(r->state_at_ms));
    json_object_object_add(o, "opened_at", jmo_time(r->opened_at_ms));
    json_object_object_add(o, "updated_at", jmo_time(r->updated_at_ms));
    json_object_object_add(o, "cancel_pending",
                           json_object_new_boolean(r->cancel_pending));
    json_object_object_add(o, "reason", s_str(r->reason));
    json_object_object_add(o, "outcome", s_str(r->outcome));
    json_object_object_add(o, "escalations",
                           json_object_new_int64((int64_t)r->escalations));
    json_object_object_add(o, "last_escalation",
                           jmo_time(r->last_escalation_ms));
    json_object_object_add(
        o, "overdue",
        json_object_new_boolean(!rt_final(r->state) &&
                                r->last_escalation_ms != 0 &&
                                r->last_escalation_ms >= r->state_at_ms));
    if (with_history) {
        json_object *h = json_object_new_array();
        for (size_t i = 0; i < r->n_history; i++)
            json_object_array_add(h, s_step(r->history[i]));
        json_object_object_add(o, "history", h);
    }
    return o;
}
