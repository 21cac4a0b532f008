/* retention.c - purges by due time; see retention.h. */
#include "retention.h"

#include <stdio.h>
#include <string.h>

#include "bstore.h"
#include "bstore_retention.h"
#include "latency.h"
#include "log.h"

static struct retention_stats s_stats;

static uint64_t
s_audit_ms(const struct broker *b)
{
    if (b->cfg.test_audit_retention_s != 0)
        return b->cfg.test_audit_retention_s * 1000;
    return b->cfg.retention_audit_days * 86400000ull;
}

void
retention_cron(struct broker *b)
{
    struct bstore_final due[RETENTION_PER_PASS];
    MDB_txn *txn = broker_txn(b);
    uint64_t ret = b->cfg.retention_messages_s * 1000, n_msgs = 0;
    size_t n = 0;
    int rc = KR_OK;
    uint64_t t0 = latency_now_us();

    if (txn == NULL)
        return;
    struct arena_mark mark = arena_mark(&b->pb);
    if (b->now_ms > ret &&
        bstore_final_due(b->store, txn, b->now_ms - ret, RETENTION_PER_PASS,
                         due, &n) == KR_OK) {
        for (size_t i = 0; i < n; i++) {
            Kr__V1__StoredMessage *m = NULL;
            const uint8_t *cid = NULL;
            if (bstore_msg_get_at(b->store, txn, due[i].seq,
                                  arena_allocator(&b->pb), &m) == KR_OK &&
                m->consent_id.len == 16)
                cid = m->consent_id.data;
            if ((rc = bstore_msg_purge(b->store, txn, &due[i], cid)) != 0)
                break; /* the commit fails and the pass is retried */
            n_msgs++;
        }
    }
    uint64_t a_ret = s_audit_ms(b), purged = 0, anchor = 0;
    if (rc == KR_OK && b->now_ms > a_ret)
        rc = bstore_audit_purge_block(b->store, txn, b->cfg.audit_purge_block,
                                      b->now_ms - a_ret, &purged, &anchor);
    if (rc == KR_OK && (n_msgs > 0 || purged > 0)) {
        char detail[160];
        snprintf(detail, sizeof(detail),
                 "messages=%llu audit_records=%llu audit_anchor=%llu",
                 (unsigned long long)n_msgs, (unsigned long long)purged,
                 (unsigned long long)anchor);
        s_stats.messages_purged += n_msgs;
        s_stats.audit_purged += purged;
        uint64_t us = latency_now_us() - t0;
        s_stats.purge_passes++;
        s_stats.purge_total_us += us;
        if (us > s_stats.purge_max_us)
            s_stats.purge_max_us = (uint32_t)us;
        if (purged > 0)
            s_stats.audit_anchor_seq = anchor;
        log_info("retention: purged %s", detail);
        audit_write(b, &(struct audit_ev){.event = "retention.purged",
                                          .action = 'D',
                                          .org_id = "",
                                          .check = "retention",
                                          .detail = detail});
    }
    arena_release(&b->pb, mark);
}

void
retention_stats(struct retention_stats *out)
{
    *out = s_stats;
}
