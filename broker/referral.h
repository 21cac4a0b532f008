/*
 * referral.h - the broker's referral records: what a REFERRAL opens and a
 * REFERRAL_STATUS moves, and the gate for what follows a referral
 * (SUPPLEMENT, COMMUNICATION). The decision itself is the pure table of
 * common/referral_table.c; this module reads and writes the record in
 * the pass's transaction around it.
 */
#ifndef KR_BROKER_REFERRAL_H
#define KR_BROKER_REFERRAL_H

#include <stdbool.h>
#include <stdint.h>

#include "broker.h"
#include "referral_table.h"

struct route;

/* What referral_check found, for referral_apply in the same handling. */
struct referral_ctx {
    int kind;                    /* REFERRAL_CTX_* */
    Kr__V1__ReferralRecord *rec; /* the stored record (frame's arena) */
    struct rt_decision d;        /* a status: the table's decision */
    int action;                  /* a status: what it asked */
    const struct route *route;   /* a new referral: its route, if any */
};

enum {
    REFERRAL_CTX_NONE = 0, /* not a referral's message: nothing to do */
    REFERRAL_CTX_OPEN,     /* REFERRAL or HANDOVER with a new referral_id */
    REFERRAL_CTX_AGAIN,    /* REFERRAL on a known id, same parties */
    REFERRAL_CTX_STATUS,   /* REFERRAL_STATUS the table allows */
    REFERRAL_CTX_FOLLOW,   /* SUPPLEMENT or COMMUNICATION on an open one */
    REFERRAL_CTX_LINK,     /* SUBJECT_LINK: watch its case for a HANDOVER */
};

/* May env, from o to 'to', go on as far as its referral is concerned?
 * 0, or a kr.v1.Reason with *why naming the problem. It is the last
 * check before a message is stored: a REFERRAL or HANDOVER with a new id
 * is written here already (one search of the tree for the check and the
 * write: the hot path); everything else only reads. consent_id: the
 * consent the gate found, or NULL. Called inside the frame's arena
 * scope. */
int referral_check(struct broker *b, struct org *o, struct org *to,
                   const Kr__V1__Envelope *env, const uint8_t *consent_id,
                   struct referral_ctx *ctx, const char **why);

/* Write what the check decided, in the pass's transaction: a new record,
 * or the new state with its history step, and the referral's timers.
 * 0 or a KR_E* code. */
int referral_apply(struct broker *b, struct org *o, const Kr__V1__Envelope *env,
                   const uint8_t *consent_id, struct referral_ctx *ctx);

/* Move a referral as the broker itself (a revoked consent): to 'to' with
 * 'reason' (or, for a cancel request, mark it pending), a history step
 * without a msg_id, and the timers. The record is written. */
int referral_set_by_broker(struct broker *b, Kr__V1__ReferralRecord *rec,
                           int to, bool cancel_request, const char *reason);

/* referral_consent.c: in a revoke's commit, the referrals under the
 * consent: cancelled if not started, a cancellation request to the
 * performer if in progress. 0 or KR_E*. */
int referral_consent_revoked(struct broker *b, struct org *by,
                             const uint8_t consent_id[16]);

#endif
