/*
 * bstore.h - the broker's LMDB store. The only module that calls LMDB.
 *
 * One environment, one named database per kind of record:
 *   directory  org_id                  -> kr.v1.OrgEntry
 *   messages   msg_id (16)             -> kr.v1.StoredMessage (metadata)
 *   payloads   msg_id (16)             -> signature (64) || envelope bytes
 *   queue      org_id NUL seq (8, BE)  -> kr.v1.QueueItem
 *   expiry     not_after (8, BE) msg_id -> (empty)
 *   audit      seq (8, BE)             -> hash (32) || kr.v1.AuditRecord
 *   consents   consent_id (16)         -> kr.v1.ConsentRecord
 *   consent_subject  pseudonym (32) consent_id (16) -> (empty)
 *   consent_msgs     consent_id (16) msg_id (16) -> state (1) || recipient
 *   referrals  referral_id (16)        -> kr.v1.ReferralRecord
 *   timers     due (8, BE) referral_id (16) step (1) -> timer name
 *   meta       name                    -> value ("schema" = "1", counters)
 * The ciphertext sits apart from the metadata so that state changes never
 * rewrite it and so that deleting it leaves the message's history intact.
 *
 * Write functions work inside a caller's transaction; the caller commits.
 * Every function returns 0 or a KR_E* code; MDB_MAP_FULL becomes KR_EFULL,
 * a full file system KR_EDISKFULL.
 */
#ifndef KR_BSTORE_H
#define KR_BSTORE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.pb-c.h"
#include "wire.pb-c.h"

/* 2: messages and payloads keyed by seq; 3: signals keyed by id (2's are
 * rewritten at open: bstore_signal.c) */
#define BSTORE_SCHEMA "3"

struct broker_store;

/* Keep the store's file written 'ahead' bytes past what LMDB uses, by a
 * helper thread (common/prefill.h); 0 leaves the file to grow with each
 * commit. */
void bstore_prefill(struct broker_store *st, uint64_t ahead);
int bstore_open(const char *dir, uint64_t map_size_mb, bool nosync,
                struct broker_store **out);
void bstore_close(struct broker_store **stp);
/* Tests only (bstore_clear.c): empty every database, as newly created. */
int bstore_clear(struct broker_store *st);

int bstore_begin(struct broker_store *st, bool rdonly, MDB_txn **out);
/* Commit; on failure the transaction is gone either way. */
int bstore_commit(MDB_txn *txn);
/* The latency of the last commits that wrote something. */
struct latency_summary;
void bstore_commit_latency(struct broker_store *st,
                           struct latency_summary *out);
void bstore_abort(MDB_txn *txn);

/* Directory. */
int bstore_org_put(struct broker_store *st, MDB_txn *txn,
                   const Kr__V1__OrgEntry *e);
/* Calls fn for each entry (unpacked; freed after fn returns). */
int bstore_org_foreach(struct broker_store *st, MDB_txn *txn,
                       void (*fn)(const Kr__V1__OrgEntry *, void *), void *arg);
int bstore_org_get(struct broker_store *st, MDB_txn *txn, const char *id,
                   Kr__V1__OrgEntry **out);

/* Messages: metadata, unpacked with 'pa' (NULL: malloc); *out is freed
 * with kr__v1__stored_message__free_unpacked and the same allocator. */
int bstore_msg_get(struct broker_store *st, MDB_txn *txn,
                   const uint8_t msg_id[16], ProtobufCAllocator *pa,
                   Kr__V1__StoredMessage **out);
int bstore_msg_put(struct broker_store *st, MDB_txn *txn,
                   const uint8_t msg_id[16], const Kr__V1__StoredMessage *m);
/* Messages and payloads are keyed by a store-wide seq in acceptance order
 * (msg_index maps msg_id to it). The seq of msg_id; with 'create', a new
 * one if it has none yet. */
int bstore_msg_seq(struct broker_store *st, MDB_txn *txn,
                   const uint8_t msg_id[16], bool create, uint64_t *seq);
/* Tell the store a seq it would otherwise look up next (from a queue item,
 * in the current write transaction). */
void bstore_msg_seq_known(struct broker_store *st, const uint8_t msg_id[16],
                          uint64_t seq);
/* By seq, where the caller has it: no msg_index lookup. */
int bstore_msg_get_at(struct broker_store *st, MDB_txn *txn, uint64_t seq,
                      ProtobufCAllocator *pa, Kr__V1__StoredMessage **out);
int bstore_payload_get_at(struct broker_store *st, MDB_txn *txn, uint64_t seq,
                          const uint8_t **sig, const uint8_t **env,
                          size_t *env_len);

/* Payloads: the signed envelope. bstore_payload_get's pointers point into
 * the map and stay valid until the transaction ends. */
int bstore_payload_put(struct broker_store *st, MDB_txn *txn,
                       const uint8_t msg_id[16], const uint8_t *sig,
                       size_t sig_len, const uint8_t *env, size_t env_len);
int bstore_payload_get(struct broker_store *st, MDB_txn *txn,
                       const uint8_t msg_id[16], const uint8_t **sig,
                       const uint8_t **env, size_t *env_len);
int bstore_payload_del(struct broker_store *st, MDB_txn *txn,
                       const uint8_t msg_id[16]);

/* Queues. */
int bstore_queue_put(struct broker_store *st, MDB_txn *txn, const char *org,
                     uint64_t seq, const Kr__V1__QueueItem *item);
/* The raw item (pointing into the map) or KR_ENOTFOUND. */
int bstore_queue_get(struct broker_store *st, MDB_txn *txn, const char *org,
                     uint64_t seq, const uint8_t **data, size_t *len);
int bstore_queue_del(struct broker_store *st, MDB_txn *txn, const char *org,
                     uint64_t seq);
/* Highest seq in org's queue, or 0 if it is empty. */
int bstore_queue_last(struct broker_store *st, MDB_txn *txn, const char *org,
                      uint64_t *seq);
/* Count of items and the first item's seq (0 if empty). */
int bstore_queue_stat(struct broker_store *st, MDB_txn *txn, const char *org,
                      uint64_t *count, uint64_t *first_seq);
/* Calls fn(seq, item bytes) for org's items from seq 'from' on, in order,
 * until fn returns non-zero or the queue ends. */
int bstore_queue_scan(struct broker_store *st, MDB_txn *txn, const char *org,
                      uint64_t from,
                      int (*fn)(uint64_t seq, const uint8_t *data, size_t len,
                                void *arg),
                      void *arg);

/* Expiry index. */
int bstore_expiry_put(struct broker_store *st, MDB_txn *txn, uint64_t not_after,
                      const uint8_t msg_id[16]);
int bstore_expiry_del(struct broker_store *st, MDB_txn *txn, uint64_t not_after,
                      const uint8_t msg_id[16]);
/* Calls fn(msg_id) for entries with not_after <= now, at most 'max'. The
 * callback must not delete the entry itself: scan collects, then calls. */
int bstore_expiry_due(struct broker_store *st, MDB_txn *txn, uint64_t now,
                      size_t max, uint8_t (*ids)[16], uint64_t *when,
                      size_t *n);

/* Audit: the record's seq, prev_hash and hash are assigned here, so that
 * the chain has one keeper. */
int bstore_audit_append(struct broker_store *st, MDB_txn *txn,
                        Kr__V1__AuditRecord *rec);
/* Records after 'after' (0: from the first), at most max, unpacked with
 * their hash filled in; the caller frees each with
 * kr__v1__audit_record__free_unpacked. */
int bstore_audit_range(struct broker_store *st, MDB_txn *txn, uint64_t after,
                       size_t max, Kr__V1__AuditRecord **out, size_t *n);
/* The last record's seq (0 if none). */
uint64_t bstore_audit_last(struct broker_store *st);
/* Walk the whole chain: 0 if intact; else KR_ECRYPTO with the first record
 * that does not fit in *bad_seq and why in 'why'. */
int bstore_audit_verify(struct broker_store *st, MDB_txn *txn,
                        uint64_t *checked, uint64_t *bad_seq, char *why,
                        size_t whylen);

/* Consent ledger. bstore_consent_get unpacks with 'pa' (NULL: malloc). */
int bstore_consent_get(struct broker_store *st, MDB_txn *txn,
                       const uint8_t consent_id[16], ProtobufCAllocator *pa,
                       Kr__V1__ConsentRecord **out);
/* Write the record and its subject index entry. */
int bstore_consent_put(struct broker_store *st, MDB_txn *txn,
                       const Kr__V1__ConsentRecord *r);
/* All records of a subject, unpacked with 'pa' (free each with it). The
 * array is pa's too; with pa NULL it is malloc'd: free() it. */
int bstore_consent_by_subject(struct broker_store *st, MDB_txn *txn,
                              const uint8_t subject[32], ProtobufCAllocator *pa,
                              Kr__V1__ConsentRecord ***out, size_t *n);
/* Messages that passed the gate under a consent, in acceptance order,
 * written once at acceptance: state 'q' and the recipient (the message
 * record says the outcome). */
int bstore_consent_msg_put(struct broker_store *st, MDB_txn *txn,
                           const uint8_t consent_id[16],
                           const uint8_t msg_id[16], char state,
                           const char *recipient);
/* Calls fn for each message of a consent; fn must not write. */
int bstore_consent_msg_scan(struct broker_store *st, MDB_txn *txn,
                            const uint8_t consent_id[16],
                            void (*fn)(const uint8_t msg_id[16], char state,
                                       const char *recipient, void *arg),
                            void *arg);

/* Referrals (bstore_referral.c). get unpacks with 'pa' (NULL: malloc). */
int bstore_referral_get(struct broker_store *st, MDB_txn *txn,
                        const uint8_t referral_id[16], ProtobufCAllocator *pa,
                        Kr__V1__ReferralRecord **out);
int bstore_referral_put(struct broker_store *st, MDB_txn *txn,
                        const Kr__V1__ReferralRecord *r);
/* Insert a new record: one search of the tree for both the check and the
 * write. KR_EEXIST with the stored bytes in *old / *old_len (pointing
 * into the map) if the id is taken; nothing is written then. */
int bstore_referral_add(struct broker_store *st, MDB_txn *txn,
                        const Kr__V1__ReferralRecord *r, const uint8_t **old,
                        size_t *old_len);
/* Calls fn for each record after 'after' (16 bytes, or NULL: from the
 * first), in id order, unpacked with pa; fn returns non-zero to stop. */
int bstore_referral_scan(struct broker_store *st, MDB_txn *txn,
                         const uint8_t *after, ProtobufCAllocator *pa,
                         int (*fn)(Kr__V1__ReferralRecord *r, void *arg),
                         void *arg);
/* Timers: one entry per pending escalation step, keyed so that the scan
 * from the front meets the due ones first. */
struct bstore_timer {
    uint64_t due_ms;
    uint8_t referral_id[16];
    uint8_t step;  /* which step of the referral's timers */
    char name[16]; /* "ack", "decide", "contact", "handover" */
};
int bstore_timer_put(struct broker_store *st, MDB_txn *txn,
                     const struct bstore_timer *t);
int bstore_timer_del(struct broker_store *st, MDB_txn *txn,
                     const struct bstore_timer *t);
/* Entries with due_ms <= now, at most max, in due order. */
int bstore_timer_due(struct broker_store *st, MDB_txn *txn, uint64_t now,
                     size_t max, struct bstore_timer *out, size_t *n);
/* Records in all. */
int bstore_referral_count(struct broker_store *st, MDB_txn *txn, uint64_t *n);
/* Entries in all. */
int bstore_timer_count(struct broker_store *st, MDB_txn *txn, uint64_t *n);

/* Whether a call since the last check hit MDB_MAP_FULL (and clear it). */
bool bstore_full_seen(void);

/* After an aborted write transaction: forget counters it advanced. */
void bstore_reload_after_abort(struct broker_store *st);

/* Bytes in use (pages written and not on the free list) and the map size.
 * Walks the free list: call it from the cron, not per message. */
int bstore_space(struct broker_store *st, uint64_t *used, uint64_t *map);

/* The store's file and its file system's free space (diskspace.h): cheap,
 * for the cron and after a failed write. */
struct diskspace;
int bstore_disk(struct broker_store *st, struct diskspace *out);

/* Meta counters. */
int bstore_meta_get_u64(struct broker_store *st, MDB_txn *txn, const char *name,
                        uint64_t *out);
int bstore_meta_put_u64(struct broker_store *st, MDB_txn *txn, const char *name,
                        uint64_t v);

#endif
