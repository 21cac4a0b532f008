/*
 * bstore_internal.h - what the parts of the broker's store share: the
 * store itself and LMDB helpers. Not for use outside bstore*.c.
 */
#ifndef KR_BSTORE_INTERNAL_H
#define KR_BSTORE_INTERNAL_H

#include <lmdb.h>
#include <protobuf-c/protobuf-c.h>

#include "latency.h"
#include "log.h"

#include "bstore.h"

/* One per broker: the environment and a handle per named database. */
struct broker_store {
    MDB_env *env;
    struct latency commit_lat; /* commits that wrote (bstore_commit) */
    MDB_dbi directory, messages, payloads, queue, expiry, audit, meta;
    MDB_dbi msg_index; /* msg_id -> the message's seq (bstore_queue.c) */
    MDB_dbi consents, consent_subject, consent_msgs;
    MDB_dbi referrals, timers; /* bstore_referral.c */
    /* bstore_signal.c: signals (by id), their expiry, and the mother
     * and child links the matcher reads; the signals by subject, in
     * memory (signal_index.h). */
    MDB_dbi signals, signal_due, subject_links, case_subjects;
    struct signal_index *sigidx;
    MDB_dbi finals;        /* bstore_retention.c */
    uint64_t next_audit;   /* next audit seq, loaded at open */
    uint64_t next_msg_seq; /* next message seq, loaded at open */
    /* The last msg_id -> seq looked up, within one write transaction
     * (cleared when one begins): the hot path asks for it several times. */
    bool seq_cache_valid;
    uint8_t seq_cache_id[16];
    uint64_t seq_cache;
    uint8_t last_hash[32];   /* hash of the last audit record */
    struct prefill *prefill; /* NULL unless bstore_prefill() started it */
    MDB_txn *wtxn;           /* the write transaction open, if any */
    unsigned psize;
    struct log_every commit_fail; /* failed commits, for the log */
};

/* MDB_* codes to KR_E* (and remember MDB_MAP_FULL, see bstore_full_seen). */
int bstore_from_mdb(int rc);
/* Pack a protobuf message straight into the page LMDB reserves for it. */
int bstore_put_msg(MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
                   const ProtobufCMessage *m);
/* Keys: 64-bit numbers big-endian, so that LMDB's order is numeric. */
void bstore_be64(uint64_t v, uint8_t out[8]);
uint64_t bstore_unbe64(const uint8_t in[8]);
/* The audit chain (bstore_ledger.c): H(prev || record bytes), and the
 * next seq and last hash loaded from the last record. */
void bstore_chain_hash(const uint8_t prev[32], const uint8_t *rec, size_t len,
                       uint8_t out[32]);
int bstore_load_audit_tail(struct broker_store *st, MDB_txn *txn);
/* The next message seq: past the last message (bstore_queue.c). */
int bstore_load_msg_seq(struct broker_store *st, MDB_txn *txn);
/* A message's seq as a key (BE) from msg_index; with 'create', a new one
 * if it has none yet. */
int bstore_msg_key(struct broker_store *st, MDB_txn *txn,
                   const uint8_t msg_id[16], bool create, uint8_t key[8]);
/* At open (bstore_signal.c): a schema "2" store's signal trees rewritten
 * into the new layout (with 'migrate'), then the subject index built. */
int bstore_signal_open(struct broker_store *st, MDB_txn *txn, const char *dir,
                       bool migrate);
/* The write transaction ended: the index keeps or undoes its changes. */
void bstore_signal_txn_end(struct broker_store *st, bool committed);
void bstore_signal_close(struct broker_store *st);

#endif
