/*
 * cmd_referral.c - `krctl referral show` and `krctl referrals`: the
 * referral state the broker keeps (ids, codes, parties and times; never
 * content). `krctl referrals --coalition` is in cmd_referral_coalition.c,
 * `krctl routes` in cmd_routes.c, `krctl escalations` in
 * cmd_escalations.c.
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

static const char s_usage_show[] =
    "usage: krctl referral show REFERRAL_ID [--json]\n"
    "\n"
    "With --node (and no --admin): the referral as this organisation's\n"
    "node keeps it, state and history. With --admin:\n"
    "one referral as the broker keeps it: its parties, purpose,\n"
    "state and the history of every step (time, organisation, actor_ref,\n"
    "from, to, codes), its pending timers and escalations. Ids, codes and\n"
    "times only: what the referral says stays sealed at the nodes.\n";

static const char s_usage_list[] =
    "usage: krctl referrals [--state STATE] [--overdue] [--org ORG]\n"
    "                       [--after REFERRAL_ID] [--limit N] [--json]\n"
    "       krctl referrals --coalition [--state STATE] [--overdue]\n"
    "                       [--purpose P] [--after REFERRAL_ID] [--limit N]\n"
    "                       [--json]\n"
    "\n"
    "With --node (and no --admin): the referrals this organisation is\n"
    "party to, as its node keeps them. With --admin:\n"
    "referrals as the broker keeps them, state only: ids,\n"
    "parties, purpose, state, times, escalations. --state: requested,\n"
    "received, accepted, rejected, cancelled, on-hold, in-progress,\n"
    "completed, failed, entered-in-error. --overdue: those escalated in\n"
    "their current state. --org: those an organisation is placer,\n"
    "performer or coordinator of. At most 1000 a page (--after pages).\n"
    "\n"
    "--coalition (--node): the coordinator organisation's view. Its node\n"
    "asks the broker for the referrals of the routes it coordinates:\n"
    "state only (ids, parties, purpose, codes, times, timers, escalations,\n"
    "history codes), never the subject pseudonym, case, actor or consent.\n"
    "The broker answers only an organisation of category coordinator or\n"
    "named as coordinator of a route; anyone else is refused, and every\n"
    "query is audited. 100 a page unless --limit (at most 1000); when\n"
    "there are more, krctl says which --after gives the next page.\n";

json_object *
krctl_referral_hex(const ProtobufCBinaryData *b)
{
    char buf[129];

    if (b->len == 0 || b->len > 64)
        return NULL;
    return json_object_new_string(util_hex(b->data, b->len, buf));
}

json_object *
krctl_referral_time(uint64_t ms)
{
    char buf[JSON_MAP_TIME_LEN];

    if (ms == 0 || json_map_time_format(ms, buf) != 0)
        return NULL;
    return json_object_new_string(buf);
}

json_object *
krctl_referral_str(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_object_new_string(s) : NULL;
}

const char *
krctl_referral_timer_name(uint32_t step)
{
    static const char *const names[] = {"unknown",  "ack",     "decide",
                                        "decide",   "contact", "handover",
                                        "handover", "handover"};
    return step < 8 ? names[step] : "unknown";
}

static json_object *
s_record(const Kr__V1__ReferralRecord *r, uint64_t now_ms)
{
    json_object *o = json_object_new_object();

    (void)now_ms;
    json_object_object_add(o, "referral_id",
                           krctl_referral_hex(&r->referral_id));
    json_object_object_add(o, "type",
                           json_object_new_string(message_type_name(r->type)));
    json_object_object_add(o, "case_id", krctl_referral_hex(&r->case_id));
    json_object_object_add(o, "placer", krctl_referral_str(r->placer));
    json_object_object_add(o, "performer", krctl_referral_str(r->performer));
    json_object_object_add(o, "coordinator",
                           krctl_referral_str(r->coordinator));
    json_object_object_add(o, "purpose", krctl_referral_str(r->purpose));
    json_object_object_add(
        o, "data_category",
        r->data_category
            ? json_object_new_string(data_category_name(r->data_category))
            : NULL);
    json_object_object_add(
        o, "priority",
        r->priority ? json_object_new_string(priority_name(r->priority))
                    : NULL);
    json_object_object_add(o, "subject_pseudonym",
                           krctl_referral_hex(&r->subject_pseudonym));
    json_object_object_add(o, "consent_id", krctl_referral_hex(&r->consent_id));
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
    json_object_object_add(
        o, "overdue",
        json_object_new_boolean(!rt_final(r->state) &&
                                r->last_escalation_ms != 0 &&
                                r->last_escalation_ms >= r->state_at_ms));
    json_object *t = json_object_new_array();
    for (size_t i = 0; i < r->n_timers; i++) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "timer",
                               json_object_new_string(krctl_referral_timer_name(
                                   r->timers[i]->step)));
        json_object_object_add(e, "step",
                               json_object_new_int((int)r->timers[i]->step));
        json_object_object_add(e, "due",
                               krctl_referral_time(r->timers[i]->due_at_ms));
        json_object_array_add(t, e);
    }
    json_object_object_add(o, "timers", t);
    if (r->n_history > 0) {
        json_object *h = json_object_new_array();
        for (size_t i = 0; i < r->n_history; i++) {
            const Kr__V1__ReferralStep *s = r->history[i];
            json_object *e = json_object_new_object();
            json_object_object_add(e, "at", krctl_referral_time(s->at_ms));
            /* One object, not two: the first of a test-then-make pair
             * leaked (LeakSanitizer failed krctl under ASan). */
            json_object_object_add(
                e, "org",
                json_object_new_string(
                    s->org_id != NULL && s->org_id[0] ? s->org_id : "broker"));
            json_object_object_add(e, "actor_ref",
                                   krctl_referral_hex(&s->actor_ref));
            json_object_object_add(
                e, "from",
                s->from ? json_object_new_string(task_status_name(s->from))
                        : NULL);
            json_object_object_add(
                e, "to", json_object_new_string(task_status_name(s->to)));
            json_object_object_add(
                e, "cancel_step",
                s->cancel_step
                    ? json_object_new_string(cancel_step_name(s->cancel_step))
                    : NULL);
            json_object_object_add(e, "reason", krctl_referral_str(s->reason));
            json_object_object_add(e, "outcome",
                                   krctl_referral_str(s->outcome));
            json_object_object_add(e, "msg_id", krctl_referral_hex(&s->msg_id));
            json_object_array_add(h, e);
        }
        json_object_object_add(o, "history", h);
    }
    return o;
}

static void
s_node_line(const Kr__V1__NodeReferral *r)
{
    char id[KR_ID_HEX_LEN] = "-", at[JSON_MAP_TIME_LEN] = "-";

    if (r->referral_id.len == 16)
        util_hex(r->referral_id.data, 16, id);
    json_map_time_format(r->state_at_ms, at);
    printf("%s %-16s %s -> %s %s since=%s escalations=%u%s%s%s%s%s\n", id,
           task_status_name(r->state), r->placer, r->performer, r->purpose, at,
           r->escalations, r->cancel_pending ? " cancel-requested" : "",
           r->reason[0] ? " reason=" : "", r->reason,
           r->outcome[0] ? " outcome=" : "", r->outcome);
}

/* At the node (--node without --admin) or at the broker. */
static bool
s_at_node(const struct krctl *k)
{
    return k->node != NULL && (k->admin == NULL || k->admin[0] == '\0');
}

/* The node's answer to a referral request, printed. */
static int
s_node_call(struct krctl *k, const Kr__V1__LocalRequest *req, bool json,
            bool one)
{
    Kr__V1__LocalResponse *resp = NULL;
    int rc;

    if ((rc = krctl_node(k, req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if (one && resp->n_referrals != 1) {
        kr__v1__local_response__free_unpacked(resp, NULL);
        krctl_err(k, "no such referral at this node");
        return KRCTL_EXIT_FAIL;
    }
    if (json) {
        json_object *j;
        if (one) {
            j = json_map_node_referral(resp->referrals[0], 1);
        } else {
            j = json_object_new_array();
            for (size_t i = 0; i < resp->n_referrals; i++) {
                json_object_array_add(
                    j, json_map_node_referral(resp->referrals[i], 0));
            }
        }
        rc = krctl_print_json(k, j);
        json_object_put(j);
    } else {
        for (size_t i = 0; i < resp->n_referrals; i++)
            s_node_line(resp->referrals[i]);
        rc = KRCTL_EXIT_OK;
    }
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc;
}

static void
s_line(const Kr__V1__ReferralRecord *r)
{
    char id[KR_ID_HEX_LEN] = "-", at[JSON_MAP_TIME_LEN] = "-";

    if (r->referral_id.len == 16)
        util_hex(r->referral_id.data, 16, id);
    json_map_time_format(r->state_at_ms, at);
    printf("%s %-16s %s -> %s %s since=%s escalations=%u%s%s%s%s%s\n", id,
           task_status_name(r->state), r->placer, r->performer, r->purpose, at,
           r->escalations, r->cancel_pending ? " cancel-requested" : "",
           r->reason[0] ? " reason=" : "", r->reason,
           r->outcome[0] ? " outcome=" : "", r->outcome);
}

enum {
    S_OPT_JSON = KRCTL_OPT_CMD,
    S_OPT_STATE,
    S_OPT_OVERDUE,
    S_OPT_ORG,
    S_OPT_AFTER,
    S_OPT_LIMIT,
    S_OPT_COALITION,
    S_OPT_PURPOSE
};

int
krctl_need_admin(struct krctl *k)
{
    if (k->admin == NULL)
        return krctl_usage_err(k, "no broker admin socket: use --admin "
                                  "ENDPOINT or set KR_ADMIN");
    return 0;
}

static int
s_show(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, S_OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    uint8_t id[KR_ID_LEN];
    bool json = false;
    int c, rc;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        if (c == S_OPT_JSON)
            json = true;
        else if (c == 'h') {
            fputs(s_usage_show, stdout);
            return KRCTL_EXIT_OK;
        } else
            return KRCTL_EXIT_USAGE;
    }
    if (optind + 1 != argc)
        return krctl_usage_err(k, "expected one REFERRAL_ID");
    if (util_unhex(argv[optind], id, KR_ID_LEN) != KR_OK)
        return krctl_usage_err(k, "REFERRAL_ID: not a referral_id (32 hex "
                                  "digits)");
    if (s_at_node(k)) {
        Kr__V1__LocalRequest lr = KR__V1__LOCAL_REQUEST__INIT;
        lr.version = KR__V1__VERSION__VERSION_1;
        lr.op_case = KR__V1__LOCAL_REQUEST__OP_REFERRAL_GET;
        lr.referral_get = (ProtobufCBinaryData){KR_ID_LEN, id};
        return s_node_call(k, &lr, json, true);
    }
    if ((rc = krctl_need_admin(k)) != 0)
        return rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_REFERRAL_SHOW;
    req.referral_show = (ProtobufCBinaryData){KR_ID_LEN, id};
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if (resp->n_referrals != 1) {
        kr__v1__admin_response__free_unpacked(resp, NULL);
        krctl_err(k, "no referral %s", argv[optind]);
        return KRCTL_EXIT_FAIL;
    }
    json_object *o = s_record(resp->referrals[0], util_now_ms());
    if (json) {
        rc = krctl_print_json(k, o);
    } else {
        const Kr__V1__ReferralRecord *r = resp->referrals[0];
        s_line(r);
        for (size_t i = 0; i < r->n_history; i++) {
            const Kr__V1__ReferralStep *s = r->history[i];
            char at[JSON_MAP_TIME_LEN] = "-";
            json_map_time_format(s->at_ms, at);
            printf("  %s %-12s %s -> %s%s%s%s%s%s%s\n", at,
                   s->org_id[0] ? s->org_id : "broker",
                   s->from ? task_status_name(s->from) : "-",
                   task_status_name(s->to), s->cancel_step ? " " : "",
                   s->cancel_step ? cancel_step_name(s->cancel_step) : "",
                   s->reason[0] ? " reason=" : "", s->reason,
                   s->outcome[0] ? " outcome=" : "", s->outcome);
        }
        rc = KRCTL_EXIT_OK;
    }
    json_object_put(o);
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}

int
cmd_referral(struct krctl *k, int argc, char **argv)
{
    static const struct krctl_sub subs[] = {
        {"show", "referral show", s_show},
    };

    return krctl_dispatch(k, argc, argv, subs, sizeof(subs) / sizeof(subs[0]),
                          s_usage_show);
}

int
cmd_referrals(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, S_OPT_JSON},
        {"state", required_argument, NULL, S_OPT_STATE},
        {"overdue", no_argument, NULL, S_OPT_OVERDUE},
        {"org", required_argument, NULL, S_OPT_ORG},
        {"after", required_argument, NULL, S_OPT_AFTER},
        {"limit", required_argument, NULL, S_OPT_LIMIT},
        {"coalition", no_argument, NULL, S_OPT_COALITION},
        {"purpose", required_argument, NULL, S_OPT_PURPOSE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool coalition = false;
    const char *purpose = NULL;
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__ReferralQuery q = KR__V1__REFERRAL_QUERY__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    uint8_t after[KR_ID_LEN];
    uint64_t limit;
    bool json = false;
    int c, rc, st;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_JSON:
            json = true;
            break;
        case S_OPT_STATE:
            if ((st = task_status_parse(optarg)) < 0)
                return krctl_usage_err(k, "--state: not a FHIR Task status "
                                          "(requested, received, accepted, "
                                          "rejected, cancelled, on-hold, "
                                          "in-progress, completed, failed, "
                                          "entered-in-error)");
            q.state = st;
            break;
        case S_OPT_OVERDUE:
            q.overdue = true;
            break;
        case S_OPT_ORG:
            if (!util_org_id_valid(optarg))
                return krctl_usage_err(k, "--org: not an organisation id");
            q.org_id = optarg;
            break;
        case S_OPT_AFTER:
            if (util_unhex(optarg, after, KR_ID_LEN) != KR_OK)
                return krctl_usage_err(k, "--after: not a referral_id (32 "
                                          "hex digits)");
            q.after = (ProtobufCBinaryData){KR_ID_LEN, after};
            break;
        case S_OPT_LIMIT:
            if ((rc = krctl_parse_u64(k, "--limit", optarg, 1, 1000, &limit)) !=
                0)
                return rc;
            q.limit = (uint32_t)limit;
            break;
        case S_OPT_COALITION:
            coalition = true;
            break;
        case S_OPT_PURPOSE:
            purpose = optarg;
            break;
        case 'h':
            fputs(s_usage_list, stdout);
            return KRCTL_EXIT_OK;
        default:
            return KRCTL_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return krctl_usage_err(k, "unexpected argument '%s'", argv[optind]);
    if (purpose != NULL && !coalition)
        return krctl_usage_err(k, "--purpose: with --coalition only");
    if (coalition) {
        Kr__V1__CoalitionQuery cq = KR__V1__COALITION_QUERY__INIT;
        if (q.org_id[0] != '\0')
            return krctl_usage_err(k, "--org: not with --coalition (the "
                                      "broker answers for the asking "
                                      "coordinator)");
        if (k->node == NULL)
            return krctl_usage_err(k, "--coalition: asked through this "
                                      "organisation's node: use --node "
                                      "ENDPOINT or set KR_NODE");
        cq.state = q.state;
        cq.overdue = q.overdue;
        cq.purpose = (char *)(purpose != NULL ? purpose : "");
        cq.after = q.after;
        cq.limit = q.limit;
        return krctl_referral_coalition(k, &cq, json);
    }
    if (s_at_node(k)) {
        Kr__V1__LocalRequest lr = KR__V1__LOCAL_REQUEST__INIT;
        Kr__V1__ReferralListRequest lq = KR__V1__REFERRAL_LIST_REQUEST__INIT;
        if (q.org_id[0] != '\0')
            return krctl_usage_err(k, "--org: at the broker only (a node "
                                      "lists its own)");
        lq.state = q.state;
        lq.overdue = q.overdue;
        lq.after = q.after;
        lq.limit = q.limit;
        lr.version = KR__V1__VERSION__VERSION_1;
        lr.op_case = KR__V1__LOCAL_REQUEST__OP_REFERRAL_LIST;
        lr.referral_list = &lq;
        return s_node_call(k, &lr, json, false);
    }
    if ((rc = krctl_need_admin(k)) != 0)
        return rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_REFERRAL_LIST;
    req.referral_list = &q;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if (json) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < resp->n_referrals; i++)
            json_object_array_add(a,
                                  s_record(resp->referrals[i], util_now_ms()));
        rc = krctl_print_json(k, a);
        json_object_put(a);
    } else {
        for (size_t i = 0; i < resp->n_referrals; i++)
            s_line(resp->referrals[i]);
        rc = KRCTL_EXIT_OK;
    }
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}
