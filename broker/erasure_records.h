/*
 * erasure_records.h - the part of an erasure beyond signals, links and
 * consents (PROTOCOL.md "Erasure"): the subject's referral records lose
 * their pseudonym (their state stays, for the coalition's figures), a
 * case's mother goes, and the messages about the subject that are not
 * final yet are withdrawn (reason ERASED): each still gets exactly one
 * final outcome, which its sender sees, and its ciphertext goes.
 */
#ifndef KR_BROKER_ERASURE_RECORDS_H
#define KR_BROKER_ERASURE_RECORDS_H

#include "broker.h"

#define ERASURE_HOLDERS_MAX 64

/* The organisations to tell (one NOTICE_ERASURE each). */
struct erasure_holders {
    const char *v[ERASURE_HOLDERS_MAX]; /* ids owned by the org table */
    size_t n;
};

/* Add org (an id; unknown ones are skipped) once. */
void erasure_holder_add(struct broker *b, struct erasure_holders *h,
                        const char *org);
/* Clear subject from the referral records opened at or before 'upto' and
 * remove their case's mother entry; placers and performers are holders.
 * *n: the records changed. In the pass's transaction. 0 or KR_E*. */
int erasure_referrals(struct broker *b, const uint8_t subject[32],
                      uint64_t upto, struct erasure_holders *h, unsigned *n);
/* Withdraw the messages about subject (current or previous pseudonym)
 * made at or before 'upto' that are not final: WITHDRAWN, reason ERASED,
 * a durable receipt to their sender, audited (message.withdrawn). Their
 * senders, and recipients that may already hold one (sent, not yet
 * acknowledged), are holders. *n: how many. 0 or KR_E*. */
int erasure_queued(struct broker *b, const char *by, const uint8_t subject[32],
                   uint64_t upto, struct erasure_holders *h, unsigned *n);

/* The subjects erased, with when (the register's lines, and each
 * erasure since start), held in memory: a message made before its
 * subject's erasure that reaches the broker only afterwards (a node that
 * held it pending) is refused, reason ERASED. Add keeps the latest time. */
void erasure_set_add(const uint8_t subject[32], uint64_t at_ms);
/* The erasure time of subject, or 0. */
uint64_t erasure_set_find(const uint8_t subject[32]);
/* Tests only: forget every subject (the fuzz targets' reset, so that no
 * input sees what an earlier one erased). */
void erasure_set_clear(void);

#endif
