/*
 * cmd_routes.c - `krctl routes`: the routes the broker loaded.
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

static const char s_usage_routes[] =
    "usage: krctl routes [--json]\n"
    "\n"
    "The routes the broker loaded from its routes file (--admin): per\n"
    "purpose, which categories may refer to which, the data category and\n"
    "legal basis, the coordinator and the timers.\n";

static json_object *
s_strings(char **v, size_t n)
{
    json_object *a = json_object_new_array();

    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

int
cmd_routes(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, S_OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    bool json = false;
    int c, rc;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        if (c == S_OPT_JSON)
            json = true;
        else if (c == 'h') {
            fputs(s_usage_routes, stdout);
            return KRCTL_EXIT_OK;
        } else
            return KRCTL_EXIT_USAGE;
    }
    if (optind < argc)
        return krctl_usage_err(k, "unexpected argument '%s'", argv[optind]);
    if ((rc = krctl_need_admin(k)) != 0)
        return rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_ROUTES;
    req.routes = true;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    json_object *top = json_object_new_object();
    json_object *a = json_object_new_array();
    json_object_object_add(top, "routes_file",
                           krctl_referral_str(resp->routes_file));
    for (size_t i = 0; i < resp->n_routes; i++) {
        const Kr__V1__RouteInfo *r = resp->routes[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "purpose", krctl_referral_str(r->purpose));
        json_object_object_add(o, "from", s_strings(r->from, r->n_from));
        json_object_object_add(o, "to", s_strings(r->to, r->n_to));
        json_object_object_add(o, "data_category",
                               krctl_referral_str(r->data_category));
        json_object_object_add(o, "legal_basis",
                               s_strings(r->legal_basis, r->n_legal_basis));
        json_object_object_add(o, "coordinator",
                               krctl_referral_str(r->coordinator));
        json_object_object_add(o, "t_ack", krctl_referral_str(r->t_ack));
        json_object_object_add(o, "t_decide",
                               s_strings(r->t_decide, r->n_t_decide));
        json_object_object_add(o, "t_contact",
                               krctl_referral_str(r->t_contact));
        json_object_object_add(o, "t_handover",
                               s_strings(r->t_handover, r->n_t_handover));
        json_object_object_add(o, "line", json_object_new_int((int)r->line));
        json_object_array_add(a, o);
    }
    json_object_object_add(top, "routes", a);
    if (json) {
        rc = krctl_print_json(k, top);
    } else {
        if (resp->routes_file[0] == '\0')
            printf("no routes file: every purpose passes, no timers\n");
        for (size_t i = 0; i < resp->n_routes; i++) {
            const Kr__V1__RouteInfo *r = resp->routes[i];
            printf("%s:", r->purpose);
            for (size_t j = 0; j < r->n_from; j++)
                printf("%s%s", j ? "," : " ", r->from[j]);
            printf(" ->");
            for (size_t j = 0; j < r->n_to; j++)
                printf("%s%s", j ? "," : " ", r->to[j]);
            printf(" %s coordinator=%s t_ack=%s t_decide=%s,%s "
                   "t_contact=%s\n",
                   r->data_category[0] ? r->data_category : "any",
                   r->coordinator[0] ? r->coordinator : "-", r->t_ack,
                   r->n_t_decide > 0 ? r->t_decide[0] : "-",
                   r->n_t_decide > 1 ? r->t_decide[1] : "-", r->t_contact);
        }
        rc = KRCTL_EXIT_OK;
    }
    json_object_put(top);
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}
