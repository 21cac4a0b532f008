/* report.c - the coalition's figures from referral records; see report.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envelope.pb-c.h"
#include "kr.h"
#include "referral_table.h"
#include "report.h"
#include "util.h"

void
report_init(struct report *r, int month, uint64_t now_ms)
{
    memset(r, 0, sizeof(*r));
    r->month = month;
    r->now_ms = now_ms;
}

int
report_month_of(uint64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

int
report_month_parse(const char *s, int *month)
{
    int y, m;
    char tail;

    if (s == NULL || strlen(s) != 7 || s[4] != '-' ||
        sscanf(s, "%4d-%2d%c", &y, &m, &tail) != 2 || y < 1970 || y > 9999 ||
        m < 1 || m > 12)
        return KR_EINVAL;
    *month = y * 12 + m - 1;
    return KR_OK;
}

void
report_month_str(int month, char out[16])
{
    snprintf(out, 16, "%04d-%02d", month / 12, month % 12 + 1);
}

static void
s_dur_add(struct report_durs *d, uint64_t v)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
    }
    d->v[d->n++] = v;
}

static void
s_code_add(struct report_code *v, size_t *n, const char *code)
{
    char c[REPORT_CODE_MAX];

    snprintf(c, sizeof(c), "%s", code[0] != '\0' ? code : "none");
    for (size_t i = 0; i < *n; i++)
        if (strcmp(v[i].code, c) == 0) {
            v[i].n++;
            return;
        }
    /* A bounded list: the codes are closed lists (PROTOCOL.md), so the
     * last slot only fills if those grow. */
    if (*n == REPORT_CODES - 1)
        snprintf(c, sizeof(c), "other");
    for (size_t i = 0; i < *n; i++)
        if (strcmp(v[i].code, c) == 0) {
            v[i].n++;
            return;
        }
    snprintf(v[*n].code, sizeof(v[*n].code), "%s", c);
    v[(*n)++].n = 1;
}

static struct report_cell *
s_cell(struct report *r, const char *purpose, int month)
{
    for (size_t i = r->n_cells; i-- > 0;)
        if (r->cells[i].month == month &&
            strncmp(r->cells[i].purpose, purpose, REPORT_PURPOSE_MAX - 1) == 0)
            return &r->cells[i];
    if (r->n_cells == r->cap_cells) {
        r->cap_cells = r->cap_cells ? r->cap_cells * 2 : 16;
        r->cells = xrealloc(r->cells, r->cap_cells * sizeof(*r->cells));
    }
    struct report_cell *c = &r->cells[r->n_cells++];
    memset(c, 0, sizeof(*c));
    snprintf(c->purpose, sizeof(c->purpose), "%s", purpose);
    c->month = month;
    return c;
}

static struct report_org *
s_org(struct report *r, const char *id)
{
    for (size_t i = 0; i < r->n_orgs; i++)
        if (strncmp(r->orgs[i].org_id, id, sizeof(r->orgs[i].org_id) - 1) == 0)
            return &r->orgs[i];
    if (r->n_orgs == r->cap_orgs) {
        r->cap_orgs = r->cap_orgs ? r->cap_orgs * 2 : 16;
        r->orgs = xrealloc(r->orgs, r->cap_orgs * sizeof(*r->orgs));
    }
    struct report_org *o = &r->orgs[r->n_orgs++];
    memset(o, 0, sizeof(*o));
    snprintf(o->org_id, sizeof(o->org_id), "%s", id);
    return o;
}

/* The first step into one of the states 'a' or 'b' (0: none). */
static uint64_t
s_first_to(const Kr__V1__ReferralRecord *rec, int a, int b)
{
    for (size_t i = 0; i < rec->n_history; i++) {
        int to = (int)rec->history[i]->to;
        if (to == a || to == b)
            return rec->history[i]->at_ms;
    }
    return 0;
}

/* Open, and a timer of it has run out: escalated in its current state,
 * or a timer due that the cron has not escalated yet. */
static bool
s_overdue(const Kr__V1__ReferralRecord *rec, uint64_t now)
{
    if (rec->last_escalation_ms != 0 &&
        rec->last_escalation_ms >= rec->state_at_ms)
        return true;
    for (size_t i = 0; i < rec->n_timers; i++)
        if (rec->timers[i]->due_at_ms <= now)
            return true;
    return false;
}

void
report_add(struct report *r, const Kr__V1__ReferralRecord *rec)
{
    int state = (int)rec->state;
    bool final = rt_final(state);

    /* SUBJECT_LINK watches share the tree; they are no referrals. */
    if (rec->type != KR__V1__MESSAGE_TYPE__REFERRAL &&
        rec->type != KR__V1__MESSAGE_TYPE__HANDOVER)
        return;
    r->records++;
    /* Organisations: now, whatever month the referral was opened. */
    if (!final && rec->performer[0] != '\0') {
        struct report_org *o = s_org(r, rec->performer);
        o->open++;
        o->overdue += s_overdue(rec, r->now_ms);
    }
    int month = report_month_of(rec->opened_at_ms);
    if (r->month != 0 && month != r->month)
        return;
    struct report_cell *c = s_cell(r, rec->purpose, month);
    c->opened++;
    /* Accepted: accepted, or taken straight from on-hold to in-progress
     * (the referral table allows it), which accepts it too. */
    uint64_t acc = s_first_to(rec, KR__V1__TASK_STATUS__TASK_ACCEPTED,
                              KR__V1__TASK_STATUS__TASK_IN_PROGRESS);
    if (acc != 0) {
        c->accepted++;
        s_dur_add(&c->to_accept,
                  acc > rec->opened_at_ms ? acc - rec->opened_at_ms : 0);
    }
    /* First contact: in-progress (completed comes only after it). */
    uint64_t con = s_first_to(rec, KR__V1__TASK_STATUS__TASK_IN_PROGRESS,
                              KR__V1__TASK_STATUS__TASK_COMPLETED);
    if (con != 0)
        s_dur_add(&c->to_contact,
                  con > rec->opened_at_ms ? con - rec->opened_at_ms : 0);
    switch (state) {
    case KR__V1__TASK_STATUS__TASK_REJECTED:
        c->rejected++;
        s_code_add(c->rejected_by, &c->n_rejected_by, rec->reason);
        break;
    case KR__V1__TASK_STATUS__TASK_COMPLETED:
        c->completed++;
        s_code_add(c->completed_by, &c->n_completed_by, rec->outcome);
        break;
    default:
        if (!final)
            c->open++;
        else if (state == KR__V1__TASK_STATUS__TASK_CANCELLED)
            c->cancelled++;
        else
            c->failed++; /* failed or entered-in-error */
        break;
    }
    c->escalated += rec->escalations > 0;
}

void
report_queue(struct report *r, const char *org_id, uint64_t depth,
             uint64_t oldest_ms)
{
    struct report_org *o = s_org(r, org_id);

    o->queue_depth = depth;
    o->queue_oldest_ms = oldest_ms;
}

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int
s_cmp_cell(const void *a, const void *b)
{
    const struct report_cell *x = a, *y = b;
    int c = strcmp(x->purpose, y->purpose);
    return c != 0 ? c : (x->month > y->month) - (x->month < y->month);
}

static int
s_cmp_org(const void *a, const void *b)
{
    return strcmp(((const struct report_org *)a)->org_id,
                  ((const struct report_org *)b)->org_id);
}

static int
s_cmp_code(const void *a, const void *b)
{
    return strcmp(((const struct report_code *)a)->code,
                  ((const struct report_code *)b)->code);
}

void
report_finish(struct report *r)
{
    if (r->n_cells > 0)
        qsort(r->cells, r->n_cells, sizeof(*r->cells), s_cmp_cell);
    if (r->n_orgs > 0)
        qsort(r->orgs, r->n_orgs, sizeof(*r->orgs), s_cmp_org);
    for (size_t i = 0; i < r->n_cells; i++) {
        struct report_cell *c = &r->cells[i];
        if (c->to_accept.n > 0)
            qsort(c->to_accept.v, c->to_accept.n, sizeof(uint64_t), s_cmp_u64);
        if (c->to_contact.n > 0)
            qsort(c->to_contact.v, c->to_contact.n, sizeof(uint64_t),
                  s_cmp_u64);
        qsort(c->rejected_by, c->n_rejected_by, sizeof(struct report_code),
              s_cmp_code);
        qsort(c->completed_by, c->n_completed_by, sizeof(struct report_code),
              s_cmp_code);
    }
}

uint64_t
report_pct(const struct report_durs *d, int pct)
{
    if (d->n == 0)
        return 0;
    /* Nearest rank: the smallest value with at least pct% at or below. */
    size_t rank = ((size_t)pct * d->n + 99) / 100;
    return d->v[rank > 0 ? rank - 1 : 0];
}

void
report_free(struct report *r)
{
    for (size_t i = 0; i < r->n_cells; i++) {
        free(r->cells[i].to_accept.v);
        free(r->cells[i].to_contact.v);
    }
    free(r->cells);
    free(r->orgs);
    memset(r, 0, sizeof(*r));
}
