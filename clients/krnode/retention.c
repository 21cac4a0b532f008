/*
 * retention.c - the node's records leave a configured time (retention_s)
 * after they were processed (inbox) or became final (outbox), never
 * before: once a second, read from the front of the "done" tree, at most
 * S_PER_PASS a pass, in the pass's transaction.
 */
#include "log.h"
#include "node.h"
#include "util.h"

#define S_PER_PASS 256
#define S_EVERY_MS 1000

void
node_retention(struct node *n)
{
    static uint64_t last;
    uint64_t ni = 0, no = 0, ret = n->cfg->retention_s * 1000;
    MDB_txn *txn;

    if (n->pass.now_mono - last < S_EVERY_MS || n->pass.now_ms <= ret)
        return;
    last = n->pass.now_mono;
    if (pass_txn(n, &txn) != KR_OK)
        return;
    int rc = nstore_purge_due(n->store, txn, n->pass.now_ms - ret, S_PER_PASS,
                              &ni, &no);
    if (rc != KR_OK) {
        pass_fail(n, rc);
        return;
    }
    if (ni + no > 0)
        log_info("retention: purged inbox=%llu outbox=%llu",
                 (unsigned long long)ni, (unsigned long long)no);
}
