/*
 * signals.h - signals and matches at the broker (PROTOCOL.md "Signals").
 *
 * A SIGNAL says only that its sender is involved with a subject, for a
 * route's purpose, with a contact reference only the sender resolves. It
 * is addressed to its own sender: the broker keeps it and delivers nothing
 * (its final receipt is DELIVERED, in the same commit). A signal by a
 * second organisation on the same subject, or on the mother or child
 * linked to it by SUBJECT_LINK, is a match: a durable NOTICE_MATCH to
 * both (and to the route's coordinator if the route says so), audited,
 * exactly once because it is queued in the commit that stores the signal.
 * The decision is match.c's pure function.
 */
#ifndef KR_BROKER_SIGNALS_H
#define KR_BROKER_SIGNALS_H

#include <stdbool.h>
#include <stdint.h>

#include "broker.h"

struct route;

struct signal_ctx {
    const struct route *route; /* a new signal: its route */
    bool withdraw;             /* a withdrawal of 'old' */
    Kr__V1__SignalRecord *old; /* withdrawal: the signal; else the
                                  signal already stored under the same
                                  subject, org and purpose, if any */
    bool has_cid;              /* passed the gate under a consent */
    uint8_t cid[16];
    bool noodknop;
};

/* May this SIGNAL go on? 0 with ctx filled (and the consent gate passed
 * where the route needs consent), or a kr.v1.Reason with *why. Reads
 * only, in the frame's arena scope. */
int signal_check(struct broker *b, struct org *o, struct org *to,
                 const Kr__V1__Envelope *env, struct signal_ctx *ctx,
                 const char **why);

/* Store what signal_check allowed, in the pass's transaction: the message
 * record (final at once: hash and signature kept, no payload), the
 * sender's DELIVERED receipt, the signal or its removal, the matches'
 * notices and the audit records. 0 or KR_E*. */
int signal_accept(struct broker *b, struct org *o, const Kr__V1__Envelope *env,
                  const Kr__V1__Submit *s, struct signal_ctx *ctx,
                  const char *why);

/* After any accepted message: a case's mother (its first REFERRAL or
 * HANDOVER's subject) and, on a SUBJECT_LINK, the mother-child link the
 * matcher reads. 0 or KR_E*. */
int signal_on_message(struct broker *b, const Kr__V1__Envelope *env);

/* Remove the signals whose lifetime ran out (the cron, from the front of
 * the due tree), each audited. */
void signal_cron(struct broker *b);

struct signal_stats {
    uint64_t made, withdrawn, expired, matches;
};
void signal_stats(struct signal_stats *out);

#endif
