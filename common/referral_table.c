/* referral_table.c - the referral workflow's one table; see
 * referral_table.h. Read the rows, not the function: the function only
 * looks a row up and checks what the row asks for. */
#include "referral_table.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "envelope.pb-c.h"
#include "wire.pb-c.h"

#define S_REQ KR__V1__TASK_STATUS__TASK_REQUESTED
#define S_REC KR__V1__TASK_STATUS__TASK_RECEIVED
#define S_ACC KR__V1__TASK_STATUS__TASK_ACCEPTED
#define S_REJ KR__V1__TASK_STATUS__TASK_REJECTED
#define S_CAN KR__V1__TASK_STATUS__TASK_CANCELLED
#define S_HOLD KR__V1__TASK_STATUS__TASK_ON_HOLD
#define S_PROG KR__V1__TASK_STATUS__TASK_IN_PROGRESS
#define S_DONE KR__V1__TASK_STATUS__TASK_COMPLETED
#define S_FAIL KR__V1__TASK_STATUS__TASK_FAILED
#define S_EIE KR__V1__TASK_STATUS__TASK_ENTERED_IN_ERROR

/* The closed code lists. "other" is there so that a sender is never
 * forced to pick a code that is not true; the sealed note says more. */
const char *const rt_rejected_reasons[] = {
    "no-capacity",        "not-eligible", "client-declined",
    "wrong-organisation", "other",        NULL};
const char *const rt_failed_reasons[] = {"not-reached", "client-moved", "other",
                                         NULL};
const char *const rt_cancelled_reasons[] = {
    "no-longer-needed", "consent-revoked", "entered-elsewhere", "other", NULL};
const char *const rt_completed_outcomes[] = {"visit-done", "declined-by-client",
                                             "not-reached",
                                             "referred-elsewhere", NULL};

#define P RT_PLACER
#define F RT_PERFORMER /* the filler, in HL7's words */
#define RJ rt_rejected_reasons
#define FL rt_failed_reasons
#define CN rt_cancelled_reasons
#define OC rt_completed_outcomes

/* from, role, action, to, reasons, outcomes, needs_request,
 * needs_no_request. A (from, role, action) absent here is refused. */
static const struct rt_row s_rows[] = {
    {S_REQ, P, S_CAN, S_CAN, CN, NULL, false, false},
    {S_REQ, P, S_EIE, S_EIE, NULL, NULL, false, false},
    {S_REQ, F, S_REC, S_REC, NULL, NULL, false, false},
    {S_REQ, F, S_ACC, S_ACC, NULL, NULL, false, false},
    {S_REQ, F, S_REJ, S_REJ, RJ, NULL, false, false},

    {S_REC, P, S_CAN, S_CAN, CN, NULL, false, false},
    {S_REC, P, S_EIE, S_EIE, NULL, NULL, false, false},
    {S_REC, F, S_ACC, S_ACC, NULL, NULL, false, false},
    {S_REC, F, S_REJ, S_REJ, RJ, NULL, false, false},
    {S_REC, F, S_HOLD, S_HOLD, NULL, NULL, false, false},

    {S_ACC, P, S_CAN, S_CAN, CN, NULL, false, false},
    {S_ACC, P, S_EIE, S_EIE, NULL, NULL, false, false},
    {S_ACC, F, S_PROG, S_PROG, NULL, NULL, false, false},
    {S_ACC, F, S_HOLD, S_HOLD, NULL, NULL, false, false},
    {S_ACC, F, S_FAIL, S_FAIL, FL, NULL, false, false},

    {S_HOLD, P, S_CAN, S_CAN, CN, NULL, false, false},
    {S_HOLD, P, S_EIE, S_EIE, NULL, NULL, false, false},
    {S_HOLD, F, S_ACC, S_ACC, NULL, NULL, false, false},
    {S_HOLD, F, S_PROG, S_PROG, NULL, NULL, false, false},
    {S_HOLD, F, S_REJ, S_REJ, RJ, NULL, false, false},
    {S_HOLD, F, S_FAIL, S_FAIL, FL, NULL, false, false},

    /* Work has started: the placer can only ask. */
    {S_PROG, P, RT_CANCEL_REQUEST, S_PROG, CN, NULL, false, true},
    {S_PROG, F, S_HOLD, S_HOLD, NULL, NULL, false, false},
    {S_PROG, F, S_DONE, S_DONE, NULL, OC, false, false},
    {S_PROG, F, S_FAIL, S_FAIL, FL, NULL, false, false},
    {S_PROG, F, RT_CANCEL_CONFIRM, S_CAN, NULL, NULL, true, false},
    {S_PROG, F, RT_CANCEL_DECLINE, S_PROG, NULL, NULL, true, false},
};

#undef P
#undef F

const struct rt_row *
rt_rows(size_t *n)
{
    *n = sizeof(s_rows) / sizeof(s_rows[0]);
    return s_rows;
}

bool
rt_final(int state)
{
    return state == S_REJ || state == S_CAN || state == S_DONE ||
           state == S_FAIL || state == S_EIE;
}

int
rt_action(int task_status, int cancel_step)
{
    if ((task_status != 0) == (cancel_step != 0))
        return 0;
    return task_status != 0 ? task_status : RT_CANCEL_BASE + cancel_step;
}

static bool
s_valid_action(int a)
{
    return (a >= S_REQ && a <= S_EIE) ||
           (a >= RT_CANCEL_REQUEST && a <= RT_CANCEL_DECLINE);
}

static bool
s_in(const char *const *list, const char *code)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], code) == 0)
            return true;
    return false;
}

static const struct rt_row *
s_find(int from, int role, int action)
{
    for (size_t i = 0; i < sizeof(s_rows) / sizeof(s_rows[0]); i++)
        if (s_rows[i].from == from && s_rows[i].role == role &&
            s_rows[i].action == action)
            return &s_rows[i];
    return NULL;
}

static void
s_refuse(struct rt_decision *out, int reason, const char *why)
{
    out->reason = reason;
    out->why = why;
}

void
rt_decide(const struct rt_query *q, struct rt_decision *out)
{
    const char *reason = q->reason != NULL ? q->reason : "";
    const char *outcome = q->outcome != NULL ? q->outcome : "";
    const struct rt_row *r;

    memset(out, 0, sizeof(*out));
    if (!s_valid_action(q->action))
        return s_refuse(out, KR__V1__REASON__BAD_STATUS,
                        "no known task status or cancellation step (or both)");
    if (q->action == S_REQ)
        return s_refuse(out, KR__V1__REASON__BAD_TRANSITION,
                        "requested is set by the REFERRAL itself");
    if (rt_final(q->state))
        return s_refuse(out, KR__V1__REASON__REFERRAL_CLOSED,
                        "the referral is final: nothing more is set on it");
    if (q->role != RT_PLACER && q->role != RT_PERFORMER)
        return s_refuse(out, KR__V1__REASON__NOT_REFERRAL_PARTY,
                        "the sender is neither placer nor performer");
    r = s_find(q->state, q->role, q->action);
    if (r == NULL) {
        int other = q->role == RT_PLACER ? RT_PERFORMER : RT_PLACER;
        if (s_find(q->state, other, q->action) != NULL)
            return s_refuse(out, KR__V1__REASON__NOT_REFERRAL_PARTY,
                            q->role == RT_PLACER
                                ? "only the performer may set this"
                                : "only the placer may set this");
        return s_refuse(out, KR__V1__REASON__BAD_TRANSITION,
                        "not allowed from the referral's state");
    }
    if (r->needs_request && !q->cancel_pending)
        return s_refuse(out, KR__V1__REASON__NO_CANCEL_REQUEST,
                        "no cancellation request is open");
    if (r->needs_no_request && q->cancel_pending)
        return s_refuse(out, KR__V1__REASON__BAD_TRANSITION,
                        "a cancellation request is already open");
    if (r->reasons != NULL && reason[0] == '\0')
        return s_refuse(out, KR__V1__REASON__BAD_STATUS_REASON,
                        "this status needs a status_reason code");
    if (r->reasons != NULL && !s_in(r->reasons, reason))
        return s_refuse(out, KR__V1__REASON__BAD_STATUS_REASON,
                        "status_reason is not in this status's list");
    if (r->reasons == NULL && reason[0] != '\0')
        return s_refuse(out, KR__V1__REASON__BAD_STATUS_REASON,
                        "this status takes no status_reason");
    if (r->outcomes != NULL && outcome[0] == '\0')
        return s_refuse(out, KR__V1__REASON__BAD_OUTCOME,
                        "completed needs a status_outcome code");
    if (r->outcomes != NULL && !s_in(r->outcomes, outcome))
        return s_refuse(out, KR__V1__REASON__BAD_OUTCOME,
                        "status_outcome is not in the list");
    if (r->outcomes == NULL && outcome[0] != '\0')
        return s_refuse(out, KR__V1__REASON__BAD_OUTCOME,
                        "only completed takes a status_outcome");
    out->reason = 0;
    out->why = "allowed by the referral table";
    out->to = r->to;
    out->row = r;
    if (q->action == RT_CANCEL_REQUEST)
        out->cancel_pending = true;
    else if (q->action == RT_CANCEL_CONFIRM || q->action == RT_CANCEL_DECLINE ||
             rt_final(r->to))
        out->cancel_pending = false;
    else
        out->cancel_pending = q->cancel_pending;
}

static const char *const s_status_names[] = {
    "unspecified", "requested", "received",         "accepted",
    "rejected",    "cancelled", "on-hold",          "in-progress",
    "completed",   "failed",    "entered-in-error",
};
_Static_assert(sizeof(s_status_names) / sizeof(s_status_names[0]) ==
                   KR__V1__TASK_STATUS__TASK_ENTERED_IN_ERROR + 1,
               "s_status_names must name every kr.v1.TaskStatus");

static const char *const s_cancel_names[] = {
    "none", "cancel-requested", "cancel-confirmed", "cancel-declined"};
_Static_assert(sizeof(s_cancel_names) / sizeof(s_cancel_names[0]) ==
                   KR__V1__CANCEL_STEP__CANCEL_DECLINED + 1,
               "s_cancel_names must name every kr.v1.CancelStep");

const char *
task_status_name(int status)
{
    if (status < 0 ||
        (size_t)status >= sizeof(s_status_names) / sizeof(s_status_names[0]))
        return "unknown";
    return s_status_names[status];
}

int
task_status_parse(const char *name)
{
    for (int i = 1; name != NULL && i <= S_EIE; i++)
        if (strcmp(name, s_status_names[i]) == 0)
            return i;
    return -1;
}

const char *
cancel_step_name(int step)
{
    if (step < 0 || step > KR__V1__CANCEL_STEP__CANCEL_DECLINED)
        return "unknown";
    return s_cancel_names[step];
}

int
cancel_step_parse(const char *name)
{
    for (int i = 1; name != NULL && i <= KR__V1__CANCEL_STEP__CANCEL_DECLINED;
         i++)
        if (strcmp(name, s_cancel_names[i]) == 0)
            return i;
    return -1;
}

const char *
rt_action_name(int action)
{
    return action > RT_CANCEL_BASE ? cancel_step_name(action - RT_CANCEL_BASE)
                                   : task_status_name(action);
}

/* Appends to buf as far as it goes, and counts what it needed. */
struct s_out {
    char *buf;
    size_t len, used;
};

static void __attribute__((format(printf, 2, 3)))
s_put(struct s_out *o, const char *fmt, ...)
{
    va_list ap;
    size_t room = o->used < o->len ? o->len - o->used : 0;

    va_start(ap, fmt);
    int n = vsnprintf(room ? o->buf + o->used : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->used += (size_t)n;
}

static void
s_cell(struct s_out *o, int from, int role)
{
    bool any = false;

    for (size_t i = 0; i < sizeof(s_rows) / sizeof(s_rows[0]); i++) {
        const struct rt_row *r = &s_rows[i];
        if (r->from != from || r->role != role)
            continue;
        s_put(o, "%s%s", any ? ", " : " ", rt_action_name(r->action));
        if (r->action > RT_CANCEL_BASE && r->to != r->from)
            s_put(o, " (-> %s)", task_status_name(r->to));
        if (r->reasons != NULL)
            s_put(o, " [reason]");
        if (r->outcomes != NULL)
            s_put(o, " [outcome]");
        any = true;
    }
    s_put(o, "%s |", any ? "" : " nothing");
}

size_t
rt_markdown(char *buf, size_t len)
{
    struct s_out o = {buf, len, 0};
    static const int order[] = {S_REQ, S_REC, S_ACC, S_HOLD, S_PROG};

    if (len > 0)
        buf[0] = '\0';
    s_put(&o, "| from | placer may set | performer may set |\n"
              "|---|---|---|\n");
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        s_put(&o, "| %s |", task_status_name(order[i]));
        s_cell(&o, order[i], RT_PLACER);
        s_cell(&o, order[i], RT_PERFORMER);
        s_put(&o, "\n");
    }
    s_put(&o, "| rejected, cancelled, completed, failed, entered-in-error |"
              " nothing (final) | nothing (final) |\n\n");
    s_put(&o, "Codes: rejected [reason] %s", "");
    for (size_t i = 0; rt_rejected_reasons[i] != NULL; i++)
        s_put(&o, "%s`%s`", i ? ", " : "", rt_rejected_reasons[i]);
    s_put(&o, "; failed [reason] ");
    for (size_t i = 0; rt_failed_reasons[i] != NULL; i++)
        s_put(&o, "%s`%s`", i ? ", " : "", rt_failed_reasons[i]);
    s_put(&o, "; cancelled and cancel-requested [reason] ");
    for (size_t i = 0; rt_cancelled_reasons[i] != NULL; i++)
        s_put(&o, "%s`%s`", i ? ", " : "", rt_cancelled_reasons[i]);
    s_put(&o, "; completed [outcome] ");
    for (size_t i = 0; rt_completed_outcomes[i] != NULL; i++)
        s_put(&o, "%s`%s`", i ? ", " : "", rt_completed_outcomes[i]);
    s_put(&o, ".\n");
    return o.used;
}
