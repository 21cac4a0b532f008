/*
 * nstore.h - the node's store (nstore*.c): its API for the node's modules.
 * What the store's own files share is in nstore_internal.h.
 */
#ifndef KRNODE_NSTORE_H
#define KRNODE_NSTORE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kr.h"
#include "latency.h"
#include "local.pb-c.h"
#include "store.pb-c.h"
#include "wire.pb-c.h"

/*
 * nstore.c - the node's LMDB environment. One env, named databases:
 *   outbox             msg_id -> OutboxRecord, without its envelope
 *   outbox_env         msg_id -> signature (64) || envelope, written once:
 *                      receipts rewrite the record, not the ciphertext
 *   outbox_all         seq -> msg_id, every message in submission order
 *   outbox_order       seq -> msg_id, pending: not yet accepted
 *   outbox_open        seq -> msg_id, accepted without a final outcome
 *   inbox              seq -> msg_id || InboxRecord, every arrival in
 *                      order (keyed by arrival: senders' random ids would
 *                      scatter its inserts)
 *   inbox_ids          msg_id -> seq, for deduplication and lookups
 *   inbox_unprocessed  seq -> msg_id, not yet processed by an adapter;
 *                      msg_id || 0x01 while held: sent early by the broker
 *                      and not yet known to be committed there
 *                      (provisional.c)
 *   peers              org id -> OrgEntry
 *   meta               "schema" -> "4"
 *   referrals          referral_id -> NodeReferral (referrals.c)
 *   referrals_changed  updated_at (8) || referral_id -> "": by last change
 *   done               done_at (8) || 'i'/'o' || msg_id -> seq: retention
 * Sequence numbers are 8-byte big-endian keys, so that LMDB's byte order is
 * their numeric order; they start at 1. Every function that writes takes
 * the caller's write transaction and returns KR_EFULL when the map is full
 * (the transaction is then dead and must be aborted) and KR_ESTORE for any
 * other LMDB failure.
 */

typedef struct nstore nstore_t;

enum nstore_index {
    NSTORE_OUTBOX_ALL,
    NSTORE_OUTBOX_PENDING,
    NSTORE_OUTBOX_OPEN,
    NSTORE_INBOX_ALL,
    NSTORE_INBOX_UNPROCESSED,
    NSTORE_PEERS, /* key: org id, not a seq */
};

struct nstore_counts {
    uint64_t outbox_total;
    uint64_t outbox_pending;
    uint64_t outbox_open;
    uint64_t inbox_total;
    uint64_t inbox_unprocessed;
};

/* What nstore_outbox_set_outcome() found and did. */
struct nstore_outcome {
    bool changed;     /* the record was updated */
    uint64_t seq;     /* the message's outbox seq */
    int prev_outcome; /* kr.v1.Outcome before the update */
    int type;         /* kr.v1.MessageType */
    char recipient[KR_ORG_ID_MAX];
};

/* Open (creating if need be) the environment in the file 'path' (plus
 * "path-lock"), with a map of 'map_size' bytes. KR_ESTORE if the schema
 * version is not ours. */
int nstore_open(const char *path, size_t map_size, nstore_t **out);
void nstore_close(nstore_t **sp);
/* Keep the store's file written 'ahead' bytes past what LMDB uses, by a
 * helper thread (common/prefill.h); 0 leaves the file to grow with each
 * commit. */
void nstore_prefill(nstore_t *st, uint64_t ahead);

/* Transactions. A read-only one for the pump and listings, a write one for
 * each pass. nstore_commit() ends *txn whatever happens. */
int nstore_begin(nstore_t *st, bool write, MDB_txn **out);
int nstore_commit(MDB_txn **txn);
void nstore_abort(MDB_txn **txn);
/* The latency of the last commits that wrote something. */
void nstore_commit_latency(nstore_t *st, struct latency_summary *out);

/* Whether the map is nearly full (seven eighths used): new sends are
 * refused before that, so that receipts and deliveries still fit. */
bool nstore_nearly_full(nstore_t *st);
/* The same against the smaller of the map and the disk (diskspace.h):
 * KR_OK, KR_EFULL (the map) or KR_EDISKFULL (the file system). Looks at
 * the disk at most every 100 ms, and at once after a failed commit;
 * *disk (if not NULL) gets what it saw. */
struct diskspace;
int nstore_room(nstore_t *st, uint64_t now_mono, struct diskspace *disk);
int nstore_disk(nstore_t *st, struct diskspace *out);

/* The stored bytes of a record, borrowed until the next write in txn or
 * its end. KR_ENOTFOUND if absent. */
int nstore_outbox_get(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                      const uint8_t **val, size_t *len);
int nstore_inbox_get(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                     const uint8_t **val, size_t *len);
/* A sent message's signature and envelope (kept apart from its record,
 * which receipts rewrite), borrowed like nstore_outbox_get's bytes. */
int nstore_outbox_envelope(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                           const uint8_t **sig, const uint8_t **env,
                           size_t *env_len);

/* Add a new message: assigns rec->seq, writes the record (keyed by
 * rec->item->msg_id, 16 bytes) and puts it in the pending order.
 * KR_EEXIST if the msg_id is taken. */
int nstore_outbox_add(nstore_t *st, MDB_txn *txn, Kr__V1__OutboxRecord *rec);
/* Keep a receipt for a message the outbox does not hold (OutboxItem's
 * not_held: it left ahead of a commit that never happened), listed like
 * any record so that adapters see it; a later nstore_outbox_add of that
 * msg_id takes it over. KR_EEXIST if the msg_id has a record. */
int nstore_outbox_add_not_held(nstore_t *st, MDB_txn *txn,
                               const uint8_t *msg_id, int outcome, int reason,
                               const char *detail, uint64_t at_ms);
/* Record an outcome. ACCEPTED applies only to a pending message (it leaves
 * the pending order and becomes open); a final outcome applies to any
 * message that has none yet. Anything else changes nothing: receipts come
 * more than once. KR_ENOTFOUND for an unknown msg_id. */
int nstore_outbox_set_outcome(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                              int outcome, int reason, const char *detail,
                              uint64_t at_ms, struct nstore_outcome *out);

/* Add a received message: assigns rec->item->seq (arrival order) and
 * marks it unprocessed. KR_EEXIST if the msg_id is there already. */
int nstore_inbox_add(nstore_t *st, MDB_txn *txn, Kr__V1__InboxRecord *rec);
/* Mark a message processed (idempotent: *changed says whether it was
 * not). KR_ENOTFOUND for an unknown msg_id. */
int nstore_inbox_set_processed(nstore_t *st, MDB_txn *txn,
                               const uint8_t *msg_id, bool *changed);

/* Deliveries the broker sent before its commit (provisional.c): hold
 * marks an added record as such, release unmarks it (the broker's pass
 * committed), remove takes it out of the inbox again (it did not), and
 * drop_held removes every record still held (at start-up: the pass
 * results they waited for went with the last run). */
int nstore_inbox_hold(nstore_t *st, MDB_txn *txn, uint64_t seq,
                      const uint8_t *msg_id);
int nstore_inbox_release(nstore_t *st, MDB_txn *txn, uint64_t seq);
int nstore_inbox_remove(nstore_t *st, MDB_txn *txn, uint64_t seq,
                        const uint8_t *msg_id);
int nstore_inbox_drop_held(nstore_t *st, MDB_txn *txn, uint64_t *dropped);
/* Retention: purge up to max inbox records processed and outbox records
 * final at or before 'before' (each kind's newest record stays until a
 * newer one comes, so that seqs never go back). */
int nstore_purge_due(nstore_t *st, MDB_txn *txn, uint64_t before, size_t max,
                     uint64_t *n_inbox, uint64_t *n_outbox);
/* A final message's envelope (its sealed content), for an erasure. */
int nstore_outbox_drop_envelope(nstore_t *st, MDB_txn *txn,
                                const uint8_t *msg_id);
/* A message not yet final whose subject was erased: its envelope goes in
 * the commit that records its final outcome (OutboxRecord.erased). */
int nstore_outbox_mark_erased(nstore_t *st, MDB_txn *txn,
                              const uint8_t *msg_id);
/* Remove a referral record (an erasure); absent is not an error. */
int nstore_referral_del(nstore_t *st, MDB_txn *txn,
                        const uint8_t id[KR_ID_LEN]);

/* Referrals (referrals.c): the record's bytes, borrowed like
 * nstore_inbox_get's; put writes and moves its referrals_changed entry
 * from old_at (0: none yet) to new_at (its updated_at_ms); scan calls fn
 * in id order after 'after' (NULL: from the first) until it returns
 * non-zero. */
int nstore_referral_get(nstore_t *st, MDB_txn *txn, const uint8_t id[KR_ID_LEN],
                        const uint8_t **val, size_t *len);
int nstore_referral_put(nstore_t *st, MDB_txn *txn, const uint8_t id[KR_ID_LEN],
                        const uint8_t *val, size_t len, uint64_t old_at,
                        uint64_t new_at);
/* As scan, but those changed at or after 'since' (ms) in the order they
 * changed, after the one (since, after) when after is not NULL. */
int nstore_referral_changed_scan(
    nstore_t *st, MDB_txn *txn, uint64_t since, const uint8_t *after,
    int (*fn)(const uint8_t *val, size_t len, void *arg), void *arg);
int nstore_referral_scan(nstore_t *st, MDB_txn *txn, const uint8_t *after,
                         int (*fn)(const uint8_t *val, size_t len, void *arg),
                         void *arg);
/* Store a directory entry, replacing an older one of that org. */
int nstore_peer_put(nstore_t *st, MDB_txn *txn, const Kr__V1__OrgEntry *e);

int nstore_counts(nstore_t *st, MDB_txn *txn, struct nstore_counts *out);

/* Walk an index in key order from the first seq after 'after_seq' (for
 * NSTORE_PEERS: from the start). Each step yields the seq, the msg_id
 * (NULL for peers) and the record's bytes, borrowed as for _get. */
struct nstore_iter {
    nstore_t *st;
    MDB_txn *txn;
    MDB_cursor *cur;
    enum nstore_index idx;
    uint64_t after;
    bool started;
};
int nstore_iter_open(nstore_t *st, MDB_txn *txn, enum nstore_index idx,
                     uint64_t after_seq, struct nstore_iter *it);
/* 0 with a record, KR_ENOTFOUND at the end, or an error. */
int nstore_iter_next(struct nstore_iter *it, uint64_t *seq,
                     const uint8_t **msg_id, const uint8_t **val, size_t *len);
void nstore_iter_close(struct nstore_iter *it);

#endif
