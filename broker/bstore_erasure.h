/*
 * bstore_erasure.h - what an erasure reads and removes beyond signals,
 * links and consents (broker/erasure_records.c): the messages not yet
 * final (their payloads), and a case's mother.
 */
#ifndef KR_BSTORE_ERASURE_H
#define KR_BSTORE_ERASURE_H

#include "bstore.h"

/* Calls fn for each payload held, from the oldest: the payloads tree
 * holds exactly the messages that are not final yet (the ciphertext goes
 * at the outcome). fn returns non-zero to stop. Reads only. */
int bstore_payload_scan(struct broker_store *st, MDB_txn *txn,
                        int (*fn)(uint64_t seq, const uint8_t *env,
                                  size_t env_len, void *arg),
                        void *arg);
/* The ids of the referrals whose record names 'subject' (at most max):
 * a scan of every record, each first searched for the 32 bytes before it
 * is unpacked (an erasure is rare; a scan of 1M records costs what reading
 * them costs). Reads only. */
int bstore_referrals_about(struct broker_store *st, MDB_txn *txn,
                           const uint8_t subject[32], size_t max,
                           uint8_t (*ids)[16], size_t *n);
/* Remove case_id's mother if it is 'subject'; *gone is set if it was. */
int bstore_case_subject_del(struct broker_store *st, MDB_txn *txn,
                            const uint8_t case_id[16],
                            const uint8_t subject[32], bool *gone);

#endif
