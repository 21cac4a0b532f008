/*
 * timers.h - referral timers that escalate and never expire silently.
 *
 * Each pending step of a referral's timers is one entry in the timers tree
 * keyed by its due time, and a copy in the referral's record (so that a
 * move of the referral finds and removes the entries that no longer
 * apply). The cron scans the tree from the front: a pass costs what is
 * due, not what is open. A step that fires is deleted in the same commit
 * as its ESCALATION notice is queued, so it fires once, also across a
 * crash.
 */
#ifndef KR_BROKER_TIMERS_H
#define KR_BROKER_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

#include "broker.h"

struct route;

enum timer_step {
    TIMER_ACK = 1,          /* not received within T_ack: placer */
    TIMER_DECIDE = 2,       /* not accepted or rejected: placer */
    TIMER_DECIDE_COORD = 3, /* ... later: placer and coordinator */
    TIMER_CONTACT = 4,      /* accepted, not started or completed: placer */
    TIMER_HANDOVER_1 = 5,   /* no HANDOVER accepted after a SUBJECT_LINK */
    TIMER_HANDOVER_2 = 6,
    TIMER_HANDOVER_3 = 7, /* ... and JGZ's coordinator too */
};

/* The timer's name in notices, audit and metrics: "ack", "decide",
 * "contact", "handover". */
const char *timer_name(int step);
/* Whether a step still applies to a referral in 'state' (pure). */
bool timer_applies(int step, int state);

/* A new referral (not yet written): its route's first timers, into the
 * tree and into r->timers (the frame's arena). No route: no timers. */
int timers_arm(struct broker *b, Kr__V1__ReferralRecord *r,
               const struct route *route);
/* A SUBJECT_LINK's watch record (not yet written): T_handover's steps. */
int timers_arm_handover(struct broker *b, Kr__V1__ReferralRecord *r,
                        const struct route *route);
/* After r moved from 'from': remove the steps that no longer apply, and
 * arm T_contact on acceptance. r is written by the caller. */
int timers_moved(struct broker *b, Kr__V1__ReferralRecord *r, int from);
/* Fire what is due (the cron, in the pass's transaction). */
void timers_cron(struct broker *b);

/* For krctl stats: escalations sent, scans and their cost. */
struct timers_stats {
    uint64_t escalations;
    uint64_t scans;
    uint64_t scan_total_us;
    uint32_t scan_max_us;
};
void timers_stats(struct timers_stats *out);

#endif
