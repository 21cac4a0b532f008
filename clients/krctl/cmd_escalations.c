/*
 * cmd_escalations.c - `krctl escalations`: the escalations an
 * organisation received, from its node's inbox.
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

enum { S_OPT_JSON = KRCTL_OPT_CMD };

static const char s_usage_esc[] =
    "usage: krctl escalations [--json]\n"
    "\n"
    "The escalations this organisation received (--node): per referral,\n"
    "which timer ran out, the state it was in and how late it was.\n";

int
cmd_escalations(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, S_OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;
    json_object *a;
    bool json = false;
    uint64_t after = 0;
    int c, rc;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        if (c == S_OPT_JSON)
            json = true;
        else if (c == 'h') {
            fputs(s_usage_esc, stdout);
            return KRCTL_EXIT_OK;
        } else
            return KRCTL_EXIT_USAGE;
    }
    if (optind < argc)
        return krctl_usage_err(k, "unexpected argument '%s'", argv[optind]);
    if (k->node == NULL)
        return krctl_usage_err(k, "no node socket: use --node ENDPOINT or "
                                  "set KR_NODE");
    a = json_object_new_array();
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
    req.inbox = &lr;
    /* The whole inbox, a page at a time (bounded by what it holds). */
    for (int page = 0; page < 100000; page++) {
        Kr__V1__LocalResponse *resp = NULL;
        lr.after_seq = after;
        lr.limit = 1000;
        if ((rc = krctl_node(k, &req, &resp)) != KRCTL_EXIT_OK) {
            json_object_put(a);
            return rc;
        }
        size_t n = resp->n_inbox;
        for (size_t i = 0; i < n; i++) {
            const Kr__V1__InboxItem *it = resp->inbox[i];
            after = it->seq;
            const Kr__V1__Notice *nt = it->notice;
            if (nt == NULL ||
                nt->kind != KR__V1__NOTICE_KIND__NOTICE_ESCALATION)
                continue;
            json_object *o = json_object_new_object();
            json_object_object_add(o, "notice_id",
                                   krctl_referral_hex(&nt->notice_id));
            json_object_object_add(o, "referral_id",
                                   krctl_referral_hex(&nt->referral_id));
            json_object_object_add(o, "timer", krctl_referral_str(nt->timer));
            json_object_object_add(o, "step",
                                   json_object_new_int((int)nt->step));
            json_object_object_add(
                o, "state",
                json_object_new_string(task_status_name(nt->state)));
            json_object_object_add(o, "due",
                                   krctl_referral_time(nt->due_at_ms));
            json_object_object_add(
                o, "overdue_ms",
                json_object_new_int64((int64_t)nt->overdue_ms));
            json_object_object_add(o, "at", krctl_referral_time(nt->at_ms));
            json_object_object_add(o, "processed",
                                   json_object_new_boolean(it->processed));
            json_object_array_add(a, o);
        }
        kr__v1__local_response__free_unpacked(resp, NULL);
        if (n == 0)
            break;
    }
    if (json) {
        rc = krctl_print_json(k, a);
    } else {
        for (size_t i = 0; i < json_object_array_length(a); i++) {
            json_object *o = json_object_array_get_idx(a, i);
            json_object *v;
            printf("%s timer=%s step=%d state=%s overdue_ms=%lld at=%s\n",
                   json_object_object_get_ex(o, "referral_id", &v)
                       ? json_object_get_string(v)
                       : "-",
                   json_object_object_get_ex(o, "timer", &v)
                       ? json_object_get_string(v)
                       : "-",
                   json_object_object_get_ex(o, "step", &v)
                       ? json_object_get_int(v)
                       : 0,
                   json_object_object_get_ex(o, "state", &v)
                       ? json_object_get_string(v)
                       : "-",
                   json_object_object_get_ex(o, "overdue_ms", &v)
                       ? (long long)json_object_get_int64(v)
                       : 0LL,
                   json_object_object_get_ex(o, "at", &v)
                       ? json_object_get_string(v)
                       : "-");
        }
        rc = KRCTL_EXIT_OK;
    }
    json_object_put(a);
    return rc;
}
