/*
 * admin_referral.c - krctl's referral requests on the admin socket: one
 * referral with its history, a listing of state only, and the routes.
 * Read transactions only: nothing here changes the store.
 */
#include <stdlib.h>
#include <string.h>

#include "admin.pb-c.h"
#include "admin_referral.h"
#include "bstore.h"
#include "names.h"
#include "referral_table.h"
#include "routes.h"
#include "timers.h"

#define S_LIST_MAX 1000

static void
s_fail(Kr__V1__AdminResponse *resp, int err, const char *detail)
{
    resp->error = err;
    resp->detail = (char *)detail;
}

bool
admin_referral_overdue(const Kr__V1__ReferralRecord *r)
{
    return !rt_final(r->state) && r->last_escalation_ms != 0 &&
           r->last_escalation_ms >= r->state_at_ms;
}

struct s_list {
    const Kr__V1__ReferralQuery *q;
    Kr__V1__AdminResponse *resp;
    size_t max;
};

static int
s_list_one(Kr__V1__ReferralRecord *r, void *arg)
{
    struct s_list *l = arg;
    const Kr__V1__ReferralQuery *q = l->q;

    if ((q->state != 0 && (int)r->state != (int)q->state) ||
        (q->overdue && !admin_referral_overdue(r)) ||
        (q->org_id[0] != '\0' && strcmp(q->org_id, r->placer) != 0 &&
         strcmp(q->org_id, r->performer) != 0 &&
         strcmp(q->org_id, r->coordinator) != 0)) {
        kr__v1__referral_record__free_unpacked(r, NULL);
        return 0;
    }
    /* State only: the history stays for `referral show`. */
    for (size_t i = 0; i < r->n_history; i++)
        kr__v1__referral_step__free_unpacked(r->history[i], NULL);
    free(r->history);
    r->history = NULL;
    r->n_history = 0;
    l->resp->referrals[l->resp->n_referrals++] = r;
    return l->resp->n_referrals >= l->max;
}

void
admin_referrals(struct broker *b, const Kr__V1__AdminRequest *req,
                Kr__V1__AdminResponse *resp)
{
    MDB_txn *txn;

    if (bstore_begin(b->store, true, &txn) != 0) {
        s_fail(resp, KR_ESTORE, "store unavailable");
        return;
    }
    if (req->op_case == KR__V1__ADMIN_REQUEST__OP_REFERRAL_SHOW) {
        Kr__V1__ReferralRecord *r;
        if (req->referral_show.len != 16)
            s_fail(resp, KR_EINVAL, "referral id: 16 bytes");
        else if (bstore_referral_get(b->store, txn, req->referral_show.data,
                                     NULL, &r) != 0)
            s_fail(resp, KR_ENOTFOUND, "no such referral");
        else {
            resp->referrals = xmalloc(sizeof(*resp->referrals));
            resp->referrals[0] = r;
            resp->n_referrals = 1;
        }
    } else {
        static const Kr__V1__ReferralQuery none = KR__V1__REFERRAL_QUERY__INIT;
        const Kr__V1__ReferralQuery *q =
            req->referral_list != NULL ? req->referral_list : &none;
        struct s_list l = {q, resp, q->limit ? q->limit : S_LIST_MAX};
        if (l.max > S_LIST_MAX)
            l.max = S_LIST_MAX;
        resp->referrals = xcalloc(l.max, sizeof(*resp->referrals));
        if (q->after.len != 0 && q->after.len != 16)
            s_fail(resp, KR_EINVAL, "after: a referral id of 16 bytes");
        else if (bstore_referral_scan(b->store, txn,
                                      q->after.len ? q->after.data : NULL, NULL,
                                      s_list_one, &l) != 0)
            s_fail(resp, KR_ESTORE, "referrals unreadable");
    }
    bstore_abort(txn);
}

static char *
s_span(const struct route_span *s)
{
    char buf[48];

    return xstrdup(routes_span_str(s, buf, sizeof(buf)));
}

static char **
s_cats(uint32_t mask, size_t *n)
{
    char **v = xcalloc(32, sizeof(*v));

    *n = 0;
    for (int c = 1; c < 32; c++)
        if (mask & (1u << c))
            v[(*n)++] = xstrdup(util_category_name(c));
    return v;
}

void
admin_routes(struct broker *b, Kr__V1__AdminResponse *resp)
{
    const struct routes *rs = routes_active();

    (void)b;
    resp->routes_file = xstrdup(rs != NULL ? rs->path : "");
    if (rs == NULL)
        return;
    resp->routes = xcalloc(rs->n ? rs->n : 1, sizeof(*resp->routes));
    for (size_t i = 0; i < rs->n; i++) {
        const struct route *r = &rs->v[i];
        Kr__V1__RouteInfo *ri = xmalloc(sizeof(*ri));
        kr__v1__route_info__init(ri);
        ri->purpose = xstrdup(r->purpose);
        ri->from = s_cats(r->from_mask, &ri->n_from);
        ri->to = s_cats(r->to_mask, &ri->n_to);
        ri->data_category = xstrdup(
            r->data_category ? data_category_name(r->data_category) : "");
        ri->legal_basis = xcalloc(4, sizeof(char *));
        for (int lb = 1; lb <= 2; lb++)
            if (r->legal_mask & (1u << lb))
                ri->legal_basis[ri->n_legal_basis++] =
                    xstrdup(legal_basis_name(lb));
        ri->coordinator = xstrdup(r->coordinator);
        ri->t_ack = s_span(&r->ack);
        ri->t_decide = xcalloc(2, sizeof(char *));
        for (int k = 0; k < 2; k++)
            ri->t_decide[ri->n_t_decide++] = s_span(&r->decide[k]);
        ri->t_contact = s_span(&r->contact);
        ri->t_handover = xcalloc(3, sizeof(char *));
        for (int k = 0; k < 3; k++)
            ri->t_handover[ri->n_t_handover++] = s_span(&r->handover[k]);
        ri->line = r->line;
        resp->routes[resp->n_routes++] = ri;
    }
}

void
admin_referral_stats(struct broker *b, Kr__V1__BrokerStats *st)
{
    struct timers_stats ts;
    MDB_txn *txn;

    timers_stats(&ts);
    st->escalations = ts.escalations;
    st->timer_scans = ts.scans;
    st->timer_scan_total_us = ts.scan_total_us;
    st->timer_scan_max_us = ts.scan_max_us;
    if (bstore_begin(b->store, true, &txn) == 0) {
        bstore_timer_count(b->store, txn, &st->timers_pending);
        bstore_referral_count(b->store, txn, &st->referrals);
        bstore_abort(txn);
    }
}

void
admin_referral_free(Kr__V1__AdminResponse *resp)
{
    for (size_t i = 0; i < resp->n_referrals; i++)
        kr__v1__referral_record__free_unpacked(resp->referrals[i], NULL);
    free(resp->referrals);
    for (size_t i = 0; i < resp->n_routes; i++) {
        Kr__V1__RouteInfo *ri = resp->routes[i];
        /* Every string and array here is xmalloc'd, as free_unpacked
         * would free an unpacked one. */
        kr__v1__route_info__free_unpacked(ri, NULL);
    }
    free(resp->routes);
    if (resp->routes_file != NULL &&
        resp->routes_file != protobuf_c_empty_string)
        free(resp->routes_file);
}
