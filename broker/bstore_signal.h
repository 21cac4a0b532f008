/*
 * bstore_signal.h - the broker's signal trees (bstore_signal.c):
 *
 *   signal_log    <signal_id (16)>               -> SignalRecord
 *   signal_due    <expires (8, BE)><signal_id>   -> (empty)
 *   subject_links <subject (32)><subject (32)>   -> case_id (16)
 *   case_subjects <case_id (16)>                 -> the mother's subject
 *
 * Signals are keyed by their time-ordered id (the SIGNAL's msg_id), so a
 * new one is an append near the right edge of the tree, not a write to a
 * random leaf (schema 3; schema 2 keyed them by subject and is rewritten
 * at open). A subject's signals are found through an in-memory index
 * (signal_index.h) built when the store opens and kept in step with each
 * write transaction: its changes are undone when one aborts. The expiry
 * scan reads signal_due from the front and stops at the first signal not
 * yet due. All in the caller's transaction.
 */
#ifndef KR_BSTORE_SIGNAL_H
#define KR_BSTORE_SIGNAL_H

#include <lmdb.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "store.pb-c.h"

struct broker_store;

/* The signal of (subject, org, purpose), or KR_ENOTFOUND. */
int bstore_signal_get(struct broker_store *st, MDB_txn *txn,
                      const uint8_t subject[32], const char *org,
                      const char *purpose, ProtobufCAllocator *pa,
                      Kr__V1__SignalRecord **out);
/* The signal with this id, or KR_ENOTFOUND. */
int bstore_signal_get_id(struct broker_store *st, MDB_txn *txn,
                         const uint8_t id[16], ProtobufCAllocator *pa,
                         Kr__V1__SignalRecord **out);
/* Write a new signal and its expiry entry; KR_EEXIST if its id is
 * there already. */
int bstore_signal_put(struct broker_store *st, MDB_txn *txn,
                      const Kr__V1__SignalRecord *r);
/* Remove a signal and its entries (absent ones are not an error). */
int bstore_signal_del(struct broker_store *st, MDB_txn *txn,
                      const Kr__V1__SignalRecord *r);
/* Call fn for each signal on subject, oldest id first, until it returns
 * non-zero; fn owns the record. At most 'max' records are passed, and at
 * most 1024 candidates read from the index (the scan is bounded). Sees
 * the transaction's own puts and deletes. */
int bstore_signal_scan(struct broker_store *st, MDB_txn *txn,
                       const uint8_t subject[32], size_t max,
                       ProtobufCAllocator *pa,
                       int (*fn)(Kr__V1__SignalRecord *r, void *arg),
                       void *arg);
/* Up to max signal ids due at or before now, from the front. */
int bstore_signal_due(struct broker_store *st, MDB_txn *txn, uint64_t now,
                      size_t max, uint8_t (*ids)[16], size_t *n);
int bstore_signal_count(struct broker_store *st, MDB_txn *txn, uint64_t *n);
/* The in-memory subject index: signals held and bytes it takes. */
void bstore_signal_index_size(const struct broker_store *st, uint64_t *n,
                              uint64_t *bytes);

/* A mother and child linked by SUBJECT_LINK: both directions. */
int bstore_link_put(struct broker_store *st, MDB_txn *txn, const uint8_t a[32],
                    const uint8_t b[32], const uint8_t case_id[16]);
/* Up to max subjects linked to a, into out; *n how many. */
int bstore_link_list(struct broker_store *st, MDB_txn *txn, const uint8_t a[32],
                     size_t max, uint8_t (*out)[32], size_t *n);
/* The mother's subject of a case, as its first referral named it. */
int bstore_case_subject_put(struct broker_store *st, MDB_txn *txn,
                            const uint8_t case_id[16],
                            const uint8_t subject[32]);
/* Remove every link of a (both directions); *n how many. */
int bstore_link_del_all(struct broker_store *st, MDB_txn *txn,
                        const uint8_t a[32], size_t *n);
/* Remove a consent record and its subject index entry (erasure.c). */
int bstore_consent_del(struct broker_store *st, MDB_txn *txn,
                       const uint8_t consent_id[16], const uint8_t subject[32]);
int bstore_case_subject_get(struct broker_store *st, MDB_txn *txn,
                            const uint8_t case_id[16], uint8_t subject[32]);

#endif
