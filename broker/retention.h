/*
 * retention.h - what leaves the broker when it must (PROTOCOL.md
 * "Retention"): message records a configured time after their final
 * outcome (the ciphertext left at that outcome), and audit records after
 * at least five years, in whole blocks, the chain kept verifiable from an
 * anchor. The cron reads each from the front of a tree ordered by due
 * time and stops at the first not yet due: a pass costs what is due, at
 * most RETENTION_PER_PASS messages and one audit block.
 */
#ifndef KR_BROKER_RETENTION_H
#define KR_BROKER_RETENTION_H

#include <stdint.h>

#include "broker.h"

#define RETENTION_PER_PASS 256

void retention_cron(struct broker *b);

struct retention_stats {
    uint64_t messages_purged;
    uint64_t audit_purged;
    uint64_t audit_anchor_seq; /* 0: none this run */
    /* The cron's work in passes that purged something (not the commit). */
    uint64_t purge_passes, purge_total_us;
    uint32_t purge_max_us;
};
void retention_stats(struct retention_stats *out);

#endif
