/*
 * nstore_internal.h - what the parts of the node's store share: the store
 * itself, its databases and LMDB helpers. Not for use outside nstore*.c.
 */
#ifndef KR_NSTORE_INTERNAL_H
#define KR_NSTORE_INTERNAL_H

#include <lmdb.h>
#include <protobuf-c/protobuf-c.h>

#include "diskspace.h"
#include "log.h"
#include "node.h"

enum {
    NSTORE_DBI_OUTBOX,
    NSTORE_DBI_OUTBOX_ENV,
    NSTORE_DBI_OUTBOX_ALL,
    NSTORE_DBI_OUTBOX_ORDER,
    NSTORE_DBI_OUTBOX_OPEN,
    NSTORE_DBI_INBOX,
    NSTORE_DBI_INBOX_IDS,
    NSTORE_DBI_INBOX_UNPROCESSED,
    NSTORE_DBI_PEERS,
    NSTORE_DBI_META,
    NSTORE_DBI_REFERRALS, /* referral_id -> kr.v1.NodeReferral (referrals.c) */
    NSTORE_DBI_DONE, /* done_at (8) || 'i'/'o' || msg_id -> seq: retention */
    /* updated_at (8) || referral_id -> "": the referrals in the order they
     * last changed (a FHIR search by _lastUpdated reads only the new) */
    NSTORE_DBI_REFERRALS_CHANGED,
    NSTORE_NDBI
};

/* An inbox_unprocessed value of msg_id and this byte marks a delivery held
 * for the broker's pass result (provisional.c). A held delivery is never
 * processed (it is not shown), so every one is in that index, at its tail
 * where the pass writes anyway: marking and releasing it costs no page of
 * another tree. */
#define NSTORE_HELD_MARK 0x01

struct nstore {
    MDB_env *env;
    MDB_dbi dbi[NSTORE_NDBI];
    struct prefill *prefill; /* NULL unless nstore_prefill() started it */
    MDB_txn *wtxn;           /* the write transaction open, if any */
    unsigned psize;
    struct latency commit_lat; /* commits that wrote (nstore_commit) */
    struct arena pb;           /* records read to be rewritten (arena.h) */
    /* The disk (nstore_room): looked at no more than every S_DISK_MS
     * (nstore.c). */
    struct diskspace disk;
    uint64_t disk_mono;           /* when; 0: look at the next call */
    struct log_every commit_fail; /* failed commits, for the log */
};

/* MDB_* codes to KR_E*. */
int nstore_from_mdb(int rc);
/* A failed write, logged (a full map only at debug: the pass reports it). */
void nstore_log_fail(const char *op, int rc);
/* Keys: seqs big-endian, so that LMDB's order is numeric. */
void nstore_seq_key(uint64_t seq, uint8_t out[8]);
uint64_t nstore_seq_from(const uint8_t in[8]);
/* Pack a protobuf message straight into the page LMDB reserves for it. */
int nstore_put_msg(MDB_txn *txn, MDB_dbi dbi, MDB_val *key,
                   const ProtobufCMessage *m, unsigned flags);
/* Order indexes: seq -> msg_id. Return MDB_* codes. */
int nstore_put_index(MDB_txn *txn, MDB_dbi dbi, uint64_t seq,
                     const uint8_t *msg_id);
int nstore_del_index(MDB_txn *txn, MDB_dbi dbi, uint64_t seq);
/* The next seq of an order index: one after its last key. */
int nstore_next_seq(MDB_txn *txn, MDB_dbi dbi, uint64_t *out);
/* A msg_id-keyed record of database dbi (NSTORE_DBI_*). */
int nstore_get(nstore_t *st, MDB_txn *txn, int dbi, const uint8_t *msg_id,
               const uint8_t **val, size_t *len);
/* The inbox record at arrival seq k (nstore_inbox.c). */
int nstore_inbox_at(nstore_t *st, MDB_txn *txn, const uint8_t k[8],
                    const uint8_t **msg_id, const uint8_t **val, size_t *len);
/* Note a record done at 'at' for retention (nstore_retention.c); kind 'i'
 * (inbox) or 'o' (outbox). Returns an MDB_* code. */
int nstore_done_put(nstore_t *st, MDB_txn *txn, uint64_t at, char kind,
                    const uint8_t *msg_id, uint64_t seq);

/* Schema 3 -> 4: referrals_changed made from the referral records. */
int nstore_referral_index_build(nstore_t *st, MDB_txn *txn);

#endif
