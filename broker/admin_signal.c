/* admin_signal.c - signals, matches and retention in krctl stats. */
#include "admin_referral.h"
#include "bstore.h"
#include "bstore_retention.h"
#include "bstore_signal.h"
#include "retention.h"
#include "signals.h"

void
admin_signal_stats(struct broker *b, Kr__V1__BrokerStats *st)
{
    struct signal_stats ss;
    struct retention_stats rs;
    uint8_t hash[32];
    MDB_txn *txn;

    signal_stats(&ss);
    retention_stats(&rs);
    st->signals_made = ss.made;
    st->signals_withdrawn = ss.withdrawn;
    st->signals_expired = ss.expired;
    st->matches = ss.matches;
    st->messages_purged = rs.messages_purged;
    st->audit_purged = rs.audit_purged;
    st->purge_passes = rs.purge_passes;
    st->purge_total_us = rs.purge_total_us;
    st->purge_max_us = rs.purge_max_us;
    if (bstore_begin(b->store, true, &txn) == 0) {
        bstore_signal_count(b->store, txn, &st->signals);
        bstore_final_count(b->store, txn, &st->finals_pending);
        if (bstore_audit_anchor(b->store, txn, &st->audit_anchor_seq, hash) !=
            KR_OK)
            st->audit_anchor_seq = 0;
        bstore_abort(txn);
    }
}
