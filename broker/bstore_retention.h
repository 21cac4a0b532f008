/*
 * bstore_retention.h - what retention.c purges (bstore_retention.c):
 *
 *   finals  <final_at (8, BE)><seq (8, BE)> -> msg_id: a final message,
 *           by when it became final, so that the purge reads from the
 *           front what is due and stops at the first that is not.
 *   meta "audit_anchor"  <seq (8, BE)><hash (32)>: the last audit record
 *           purged; the chain verifies on from it.
 *   meta "msg_seq_floor" <seq (8, BE)>: message seqs below it were used;
 *           a store whose messages are all purged never reuses them.
 */
#ifndef KR_BSTORE_RETENTION_H
#define KR_BSTORE_RETENTION_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

struct broker_store;

/* A message became final at final_at (it must have its seq already). */
int bstore_final_put(struct broker_store *st, MDB_txn *txn, uint64_t final_at,
                     const uint8_t msg_id[16]);

struct bstore_final {
    uint64_t final_at, seq;
    uint8_t msg_id[16];
};
/* Up to max final messages that became final at or before 'before'. */
int bstore_final_due(struct broker_store *st, MDB_txn *txn, uint64_t before,
                     size_t max, struct bstore_final *out, size_t *n);
/* Remove a final message: its record, index entry, payload (if any),
 * consent index entry (consent_id may be NULL) and finals entry. */
int bstore_msg_purge(struct broker_store *st, MDB_txn *txn,
                     const struct bstore_final *f, const uint8_t *consent_id);

/* Purge the first 'block' audit records if the whole block is older than
 * 'before' (by the last record's time): *purged how many (0 or block),
 * and the anchor moves to the block's last record. */
int bstore_audit_purge_block(struct broker_store *st, MDB_txn *txn,
                             uint64_t block, uint64_t before, uint64_t *purged,
                             uint64_t *anchor_seq);
/* The anchor: KR_ENOTFOUND when nothing was ever purged. */
int bstore_audit_anchor(struct broker_store *st, MDB_txn *txn, uint64_t *seq,
                        uint8_t hash[32]);
int bstore_final_count(struct broker_store *st, MDB_txn *txn, uint64_t *n);

#endif
