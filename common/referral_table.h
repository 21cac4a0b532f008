/*
 * referral_table.h - a referral's workflow: who may set which FHIR Task
 * status from which state, as ONE table decided by ONE pure function.
 *
 * The table (referral_table.c) follows FHIR R4 Task and HL7's role split:
 * the placer (the sender of the REFERRAL) sets requested (by sending it),
 * cancelled and entered-in-error before the work starts, and after
 * in-progress may only ask for cancellation, which the performer (its
 * recipient) confirms or declines; the performer sets received, accepted,
 * rejected, on-hold, in-progress, failed and completed. rejected, failed
 * and cancelled need a reason code, completed an outcome code, each from
 * a closed list. No sockets, no LMDB, no clock: the broker (which keeps
 * the state) and the nodes (which show it) call the same function, and
 * the unit test reaches every cell.
 */
#ifndef KR_REFERRAL_TABLE_H
#define KR_REFERRAL_TABLE_H

#include <stdbool.h>
#include <stddef.h>

/* The sender's role in a referral. */
enum rt_role {
    RT_PLACER = 1,    /* sent the REFERRAL */
    RT_PERFORMER = 2, /* received it */
};

/* What a REFERRAL_STATUS asks for: a kr.v1.TaskStatus value (1..10), or
 * one of these steps of a cancellation request (kr.v1.CancelStep + 100). */
#define RT_CANCEL_BASE 100
#define RT_CANCEL_REQUEST 101 /* placer, after in-progress */
#define RT_CANCEL_CONFIRM 102 /* performer: the referral is cancelled */
#define RT_CANCEL_DECLINE 103 /* performer: the work goes on */

/* One row: from 'from', 'role' may ask for 'action'; the referral then
 * stands in 'to'. */
struct rt_row {
    int from;   /* kr.v1.TaskStatus */
    int role;   /* enum rt_role */
    int action; /* TaskStatus or RT_CANCEL_* */
    int to;     /* TaskStatus */
    /* The closed list the reason code must come from (NULL: no reason
     * may be given), and the same for the outcome. */
    const char *const *reasons;
    const char *const *outcomes;
    bool needs_request;    /* a cancellation request must be open */
    bool needs_no_request; /* ... must not be open */
};

/* The question: the referral's state, the sender's role, what it asks
 * for and the codes it gives (NULL or "" when none). */
struct rt_query {
    int state;
    int role;
    int action;
    const char *reason;
    const char *outcome;
    bool cancel_pending; /* a cancellation request is open */
};

struct rt_decision {
    int reason;               /* 0: allowed; else a kr.v1.Reason */
    const char *why;          /* for the refusal, the audit and the log */
    int to;                   /* allowed: the new state */
    bool cancel_pending;      /* allowed: whether a request is open after */
    const struct rt_row *row; /* allowed: the row that decided */
};

/* The action a REFERRAL_STATUS asks for, from its clear codes: its
 * task_status, or RT_CANCEL_BASE + cancel_step; 0 if it names neither or
 * both (a BAD_STATUS for rt_decide). */
int rt_action(int task_status, int cancel_step);

/* Decide. Never fails: out->reason says allowed (0) or why not. */
void rt_decide(const struct rt_query *q, struct rt_decision *out);

/* Final states: rejected, cancelled, completed, failed, entered-in-error. */
bool rt_final(int state);

/* The closed lists. */
extern const char *const rt_rejected_reasons[];
extern const char *const rt_failed_reasons[];
extern const char *const rt_cancelled_reasons[];
extern const char *const rt_completed_outcomes[];

/* The rows, for printing and for tests. */
const struct rt_row *rt_rows(size_t *n);

/* kr.v1.TaskStatus names: "requested", "received", "accepted", "rejected",
 * "cancelled", "on-hold", "in-progress", "completed", "failed",
 * "entered-in-error"; 0 is "unspecified". parse: -1 if unknown. */
const char *task_status_name(int status);
int task_status_parse(const char *name);
/* kr.v1.CancelStep: "cancel-requested", "cancel-confirmed",
 * "cancel-declined"; 0 is "none". */
const char *cancel_step_name(int step);
int cancel_step_parse(const char *name);
/* An action's name: a status's or a cancel step's. */
const char *rt_action_name(int action);

/* The table as the Markdown PROTOCOL.md shows (between its markers), into
 * buf; returns the length it needed (like snprintf). */
size_t rt_markdown(char *buf, size_t len);

#endif
