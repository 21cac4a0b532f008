/* timers.c - referral timers and ESCALATION notices; see timers.h. */
#include <stdio.h>
#include <string.h>

#include "bstore.h"
#include "latency.h"
#include "log.h"
#include "metrics.h"
#include "referral_table.h"
#include "routes.h"
#include "timers.h"

#define S_FIRE_PER_PASS 256

static struct timers_stats s_stats;

const char *
timer_name(int step)
{
    switch (step) {
    case TIMER_ACK:
        return "ack";
    case TIMER_DECIDE:
    case TIMER_DECIDE_COORD:
        return "decide";
    case TIMER_CONTACT:
        return "contact";
    case TIMER_HANDOVER_1:
    case TIMER_HANDOVER_2:
    case TIMER_HANDOVER_3:
        return "handover";
    default:
        return "unknown";
    }
}

bool
timer_applies(int step, int state)
{
    switch (step) {
    case TIMER_ACK:
        return state == KR__V1__TASK_STATUS__TASK_REQUESTED;
    case TIMER_DECIDE:
    case TIMER_DECIDE_COORD:
        return state == KR__V1__TASK_STATUS__TASK_REQUESTED ||
               state == KR__V1__TASK_STATUS__TASK_RECEIVED;
    case TIMER_CONTACT:
        return state == KR__V1__TASK_STATUS__TASK_ACCEPTED;
    case TIMER_HANDOVER_1:
    case TIMER_HANDOVER_2:
    case TIMER_HANDOVER_3:
        /* A link's watch: requested until a HANDOVER is accepted. */
        return state == KR__V1__TASK_STATUS__TASK_REQUESTED;
    default:
        return false;
    }
}

static int
s_add(struct broker *b, Kr__V1__ReferralRecord *r, int step, uint64_t due)
{
    struct bstore_timer t = {.due_ms = due, .step = (uint8_t)step};
    MDB_txn *txn = broker_txn(b);
    int rc;

    if (due == 0)
        return KR_OK;
    if (txn == NULL)
        return KR_ESTORE;
    memcpy(t.referral_id, r->referral_id.data, 16);
    snprintf(t.name, sizeof(t.name), "%s", timer_name(step));
    if ((rc = bstore_timer_put(b->store, txn, &t)) != 0)
        return rc;
    Kr__V1__ReferralTimer *rt = arena_alloc(&b->pb, sizeof(*rt));
    Kr__V1__ReferralTimer **v =
        arena_alloc(&b->pb, (r->n_timers + 1) * sizeof(*v));
    kr__v1__referral_timer__init(rt);
    rt->step = (uint32_t)step;
    rt->due_at_ms = due;
    if (r->n_timers > 0)
        memcpy(v, r->timers, r->n_timers * sizeof(*v));
    v[r->n_timers++] = rt;
    r->timers = v;
    return KR_OK;
}

int
timers_arm(struct broker *b, Kr__V1__ReferralRecord *r,
           const struct route *route)
{
    int rc;

    if (route == NULL)
        return KR_OK;
    uint64_t t0 = r->opened_at_ms;
    if ((rc = s_add(b, r, TIMER_ACK, routes_due(&route->ack, t0))) != 0 ||
        (rc = s_add(b, r, TIMER_DECIDE, routes_due(&route->decide[0], t0))) !=
            0 ||
        (rc = s_add(b, r, TIMER_DECIDE_COORD,
                    routes_due(&route->decide[1], t0))) != 0)
        return rc;
    return KR_OK;
}

int
timers_arm_handover(struct broker *b, Kr__V1__ReferralRecord *r,
                    const struct route *route)
{
    int rc;

    if (route == NULL)
        return KR_OK;
    for (int i = 0; i < 3; i++)
        if ((rc = s_add(b, r, TIMER_HANDOVER_1 + i,
                        routes_due(&route->handover[i], r->opened_at_ms))) != 0)
            return rc;
    return KR_OK;
}

int
timers_moved(struct broker *b, Kr__V1__ReferralRecord *r, int from)
{
    MDB_txn *txn = broker_txn(b);
    size_t keep = 0;
    int rc;

    metrics_referral_moved(b, (int)r->type, from, (int)r->state);
    if (txn == NULL)
        return KR_ESTORE;
    for (size_t i = 0; i < r->n_timers; i++) {
        Kr__V1__ReferralTimer *t = r->timers[i];
        if (timer_applies((int)t->step, r->state)) {
            r->timers[keep++] = t;
            continue;
        }
        struct bstore_timer bt = {.due_ms = t->due_at_ms,
                                  .step = (uint8_t)t->step};
        memcpy(bt.referral_id, r->referral_id.data, 16);
        if ((rc = bstore_timer_del(b->store, txn, &bt)) != 0)
            return rc;
    }
    r->n_timers = keep;
    if (r->state == KR__V1__TASK_STATUS__TASK_ACCEPTED &&
        from != KR__V1__TASK_STATUS__TASK_ACCEPTED) {
        const struct route *route = routes_find(r->purpose);
        if (route != NULL &&
            (rc = s_add(b, r, TIMER_CONTACT,
                        routes_due(&route->contact, b->now_ms))) != 0)
            return rc;
    }
    return KR_OK;
}

/* One durable ESCALATION notice to 'to', audited. */
static int
s_escalate(struct broker *b, const Kr__V1__ReferralRecord *r,
           const struct bstore_timer *t, const char *to_id)
{
    struct org *to = orgs_find(b, to_id);
    Kr__V1__Notice n = KR__V1__NOTICE__INIT;
    Kr__V1__QueueItem item = KR__V1__QUEUE_ITEM__INIT;
    Kr__V1__Envelope env = KR__V1__ENVELOPE__INIT;
    char detail[160], hex[KR_ID_HEX_LEN];
    uint8_t id[16];
    int rc;

    util_hex(r->referral_id.data, 16, hex);
    if (to == NULL) {
        log_warnx("timers: referral=%s timer=%s: %s is not in the "
                  "directory: escalation not sent",
                  hex, timer_name(t->step), to_id);
        return KR_OK;
    }
    util_time_ordered_id(id);
    n.notice_id.data = id;
    n.notice_id.len = 16;
    n.kind = KR__V1__NOTICE_KIND__NOTICE_ESCALATION;
    n.referral_id = r->referral_id;
    n.timer = (char *)timer_name(t->step);
    n.step = t->step;
    n.state = r->state;
    n.due_at_ms = t->due_ms;
    n.overdue_ms = b->now_ms > t->due_ms ? b->now_ms - t->due_ms : 0;
    n.at_ms = b->now_ms;
    item.msg_id.data = id;
    item.msg_id.len = 16;
    item.notice = &n;
    if ((rc = deliver_enqueue(b, to, &item, NULL)) != 0)
        return rc;
    s_stats.escalations++;
    metrics_escalation(b, t->step);
    snprintf(detail, sizeof(detail),
             "timer=%s step=%u state=%s overdue_ms=%llu", timer_name(t->step),
             (unsigned)t->step, task_status_name(r->state),
             (unsigned long long)n.overdue_ms);
    log_info("timers: escalation referral=%s to=%s %s", hex, to->id, detail);
    env.referral_id = r->referral_id;
    env.purpose = r->purpose;
    env.subject_pseudonym = r->subject_pseudonym;
    env.msg_id.data = id;
    env.msg_id.len = 16;
    return audit_write(b, &(struct audit_ev){.event = "referral.escalated",
                                             .action = 'E',
                                             .org_id = "",
                                             .env = &env,
                                             .object = to->id,
                                             .detail = detail,
                                             .check = "timer due"});
}

static int
s_fire(struct broker *b, MDB_txn *txn, const struct bstore_timer *t)
{
    Kr__V1__ReferralRecord *r = NULL;
    int rc;

    /* The entry goes whatever follows: a step fires once. */
    if ((rc = bstore_timer_del(b->store, txn, t)) != 0)
        return rc;
    rc = bstore_referral_get(b->store, txn, t->referral_id,
                             arena_allocator(&b->pb), &r);
    if (rc == KR_ENOTFOUND)
        return KR_OK;
    if (rc != 0)
        return rc;
    size_t keep = 0;
    for (size_t i = 0; i < r->n_timers; i++)
        if (!(r->timers[i]->step == t->step &&
              r->timers[i]->due_at_ms == t->due_ms))
            r->timers[keep++] = r->timers[i];
    r->n_timers = keep;
    if (timer_applies(t->step, r->state)) {
        if ((rc = s_escalate(b, r, t, r->placer)) != 0)
            return rc;
        if ((t->step == TIMER_DECIDE_COORD || t->step == TIMER_HANDOVER_3) &&
            r->coordinator[0] != '\0' &&
            strcmp(r->coordinator, r->placer) != 0 &&
            (rc = s_escalate(b, r, t, r->coordinator)) != 0)
            return rc;
        r->escalations++;
        r->last_escalation_ms = b->now_ms;
    }
    return bstore_referral_put(b->store, txn, r);
}

void
timers_cron(struct broker *b)
{
    struct bstore_timer due[S_FIRE_PER_PASS];
    uint64_t t0 = latency_now_us();
    size_t n = 0;
    MDB_txn *txn = broker_txn(b);

    if (txn == NULL)
        return;
    struct arena_mark mark = arena_mark(&b->pb);
    if (bstore_timer_due(b->store, txn, b->now_ms, S_FIRE_PER_PASS, due, &n) ==
        0) {
        for (size_t i = 0; i < n; i++)
            if (s_fire(b, txn, &due[i]) != 0)
                break; /* the commit fails and the pass is retried */
    }
    arena_release(&b->pb, mark);
    uint64_t us = latency_now_us() - t0;
    s_stats.scans++;
    s_stats.scan_total_us += us;
    if (us > s_stats.scan_max_us)
        s_stats.scan_max_us = (uint32_t)us;
}

void
timers_stats(struct timers_stats *out)
{
    *out = s_stats;
}
