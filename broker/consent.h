/*
 * consent.h - the consent gate, as a pure function.
 *
 * Records and the moment of the check go in; a decision and the record that
 * decided come out. No sockets, no LMDB, no clock: the broker's handlers
 * fetch the records of the subject and call this, at acceptance and again
 * at delivery, and the unit tests can reach every case.
 */
#ifndef KR_CONSENT_H
#define KR_CONSENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a consent record stands. */
enum consent_status {
    CONSENT_ACTIVE = 1,
    CONSENT_REVOKED = 2,    /* withdrawn by a CONSENT_REVOKE */
    CONSENT_SUPERSEDED = 3, /* replaced by a newer record */
};

/* A record as the gate sees it: the clear scope and its status. Strings
 * and ids are borrowed. A party is one organisation (org non-empty) or
 * every organisation of a category (org empty, category set). */
struct consent_record {
    const uint8_t *consent_id; /* 16 bytes */
    const uint8_t *subject;    /* 32 bytes */
    uint32_t key_version;
    const char *purpose;
    int data_category; /* kr.v1.DataCategory */
    const char *from_org;
    int from_category; /* kr.v1.OrgCategory */
    const char *to_org;
    int to_category;
    uint64_t valid_from_ms;  /* inclusive */
    uint64_t valid_until_ms; /* inclusive */
    enum consent_status status;
};

/* The message to be judged. */
struct consent_query {
    int message_type;       /* kr.v1.MessageType */
    const uint8_t *subject; /* 32 bytes, or NULL */
    uint32_t key_version;
    const char *purpose;
    int data_category;
    const char *from_org;
    int from_category;
    const char *to_org;
    int to_category;
    int legal_basis;           /* kr.v1.LegalBasis */
    const uint8_t *consent_id; /* 16 bytes if the sender named one */
    bool has_justification;    /* a 32-byte justification digest */
};

enum consent_verdict {
    CONSENT_ALLOW = 1,       /* covered by an active record */
    CONSENT_ALLOW_MELDRECHT, /* the meldrecht exception: flag in the audit */
    CONSENT_NOT_NEEDED,      /* this type carries no person data */
    CONSENT_DENY,
};

struct consent_decision {
    enum consent_verdict verdict;
    int reason;                              /* kr.v1.Reason when denied */
    const struct consent_record *decided_by; /* the covering record */
    const char *check; /* the check that decided, for the audit trail */
};

/* True for the message types that carry person data and need consent:
 * REFERRAL, HANDOVER, SUPPLEMENT, SIGNAL, SUBJECT_LINK. */
bool consent_required(int message_type);

/* Decide. 'recs' are the records of the query's subject (others are
 * ignored); now_ms is the moment of the check. Never fails. */
void consent_decide(const struct consent_record *recs, size_t n,
                    const struct consent_query *q, uint64_t now_ms,
                    struct consent_decision *out);

#endif
