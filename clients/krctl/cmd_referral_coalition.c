/*
 * cmd_referral_coalition.c - `krctl referrals --coalition`: the
 * coordinator's view, the broker's answer through this organisation's
 * node (state only, never the subject, case, actor or consent).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_map.h"
#include "krctl.h"
#include "names.h"
#include "referral_table.h"
#include "util.h"

#include "cmd_referral.h"

static json_object *
s_state_json(const Kr__V1__ReferralState *r)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "referral_id",
                           krctl_referral_hex(&r->referral_id));
    json_object_object_add(o, "type",
                           json_object_new_string(message_type_name(r->type)));
    json_object_object_add(o, "placer", krctl_referral_str(r->placer));
    json_object_object_add(o, "performer", krctl_referral_str(r->performer));
    json_object_object_add(o, "coordinator",
                           krctl_referral_str(r->coordinator));
    json_object_object_add(o, "purpose", krctl_referral_str(r->purpose));
    json_object_object_add(
        o, "priority",
        r->priority ? json_object_new_string(priority_name(r->priority))
                    : NULL);
    json_object_object_add(o, "state",
                           json_object_new_string(task_status_name(r->state)));
    json_object_object_add(o, "state_at", krctl_referral_time(r->state_at_ms));
    json_object_object_add(o, "opened_at",
                           krctl_referral_time(r->opened_at_ms));
    json_object_object_add(o, "cancel_pending",
                           json_object_new_boolean(r->cancel_pending));
    json_object_object_add(o, "reason", krctl_referral_str(r->reason));
    json_object_object_add(o, "outcome", krctl_referral_str(r->outcome));
    json_object_object_add(o, "escalations",
                           json_object_new_int64((int64_t)r->escalations));
    json_object_object_add(o, "last_escalation",
                           krctl_referral_time(r->last_escalation_ms));
    json_object_object_add(o, "overdue", json_object_new_boolean(r->overdue));
    json_object *t = json_object_new_array();
    for (size_t i = 0; i < r->n_timers; i++) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "timer",
                               json_object_new_string(krctl_referral_timer_name(
                                   r->timers[i]->step)));
        json_object_object_add(e, "due_at",
                               krctl_referral_time(r->timers[i]->due_at_ms));
        json_object_array_add(t, e);
    }
    json_object_object_add(o, "timers", t);
    json_object *h = json_object_new_array();
    for (size_t i = 0; i < r->n_history; i++) {
        const Kr__V1__ReferralStateStep *st = r->history[i];
        json_object *e = json_object_new_object();
        json_object_object_add(e, "at", krctl_referral_time(st->at_ms));
        json_object_object_add(
            e, "org",
            json_object_new_string(st->org_id[0] ? st->org_id : "broker"));
        json_object_object_add(
            e, "from",
            st->from ? json_object_new_string(task_status_name(st->from))
                     : NULL);
        json_object_object_add(
            e, "to", json_object_new_string(task_status_name(st->to)));
        json_object_object_add(
            e, "cancel_step",
            st->cancel_step
                ? json_object_new_string(cancel_step_name(st->cancel_step))
                : NULL);
        json_object_object_add(e, "reason", krctl_referral_str(st->reason));
        json_object_object_add(e, "outcome", krctl_referral_str(st->outcome));
        json_object_array_add(h, e);
    }
    json_object_object_add(o, "history", h);
    return o;
}

/* --coalition: the broker's answer, through this organisation's node. */
int
krctl_referral_coalition(struct krctl *k, Kr__V1__CoalitionQuery *q, bool json)
{
    Kr__V1__LocalRequest lr = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    int rc;

    lr.version = KR__V1__VERSION__VERSION_1;
    lr.op_case = KR__V1__LOCAL_REQUEST__OP_COALITION_REFERRALS;
    lr.coalition_referrals = q;
    if ((rc = krctl_node(k, &lr, &resp)) != KRCTL_EXIT_OK)
        return rc;
    const Kr__V1__ReferralStates *st = resp->coalition;
    size_t n = st != NULL ? st->n_referrals : 0;
    if (json) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(a, s_state_json(st->referrals[i]));
        rc = krctl_print_json(k, a);
        json_object_put(a);
    } else {
        for (size_t i = 0; i < n; i++) {
            const Kr__V1__ReferralState *r = st->referrals[i];
            char id[KR_ID_HEX_LEN] = "-", at[JSON_MAP_TIME_LEN] = "-";
            if (r->referral_id.len == 16)
                util_hex(r->referral_id.data, 16, id);
            json_map_time_format(r->state_at_ms, at);
            printf("%s %-16s %s -> %s %s since=%s escalations=%u%s%s%s%s%s%s\n",
                   id, task_status_name(r->state), r->placer, r->performer,
                   r->purpose, at, r->escalations, r->overdue ? " overdue" : "",
                   r->cancel_pending ? " cancel-requested" : "",
                   r->reason[0] ? " reason=" : "", r->reason,
                   r->outcome[0] ? " outcome=" : "", r->outcome);
        }
        rc = KRCTL_EXIT_OK;
    }
    if (st != NULL && st->more_after.len == 16) {
        char id[KR_ID_HEX_LEN];
        fprintf(stderr, "krctl: more: next page with --after %s\n",
                util_hex(st->more_after.data, 16, id));
    }
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc;
}
