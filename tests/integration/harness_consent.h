/*
 * harness_consent.h - what the consent tests (test_consent_*.c) share: the
 * cluster they run in, and helpers to send, grant and look at the outcome
 * from both ends and in the audit trail. Each test uses subjects (BSNs) of
 * its own, as the parts did when they were one program.
 */
#ifndef HARNESS_CONSENT_H
#define HARNESS_CONSENT_H

#include "harness.h"

#define HC_VL_ORG "ura:00001234"
#define HC_JGZ_ORG "ura:00005678"
#define HC_VT_ORG "ura:00009876"
#define HC_WT_ORG "ura:00004321"
#define HC_TESTER_ORG "ura:00009999"
#define HC_BULK 200
#define HC_DAY_MS (24 * 3600 * 1000ull)
#define HC_FINAL_MS 20000
/* Receipt masks for h_wire_wait_receipt: any outcome, a final one. */
#define HC_ANY_OUTCOME 0x3eu
#define HC_FINAL_MASK                                                          \
    ((1u << KR__V1__OUTCOME__DELIVERED) | (1u << KR__V1__OUTCOME__REFUSED) |   \
     (1u << KR__V1__OUTCOME__EXPIRED_OUTCOME) |                                \
     (1u << KR__V1__OUTCOME__WITHDRAWN))

struct hc_test {
    struct h_cluster c;
    int vl, jgz, vt, wt, tester; /* node indices; tester has no krnode */
    char tester_secret[H_PATH + 32];
    char broker_public[H_PATH + 32];
    uint64_t t0; /* when the setup was done */
};

extern struct hc_test hc;

/* The broker (delivery window 4) and the nodes of the practice, JGZ,
 * Veilig Thuis and the wijkteam, connected; the tester's keys; the
 * default consent. h_init(name, budget_s) first. */
void hc_setup(const char *name, int budget_s);
/* A roundtrip at the end, and h_finish(). */
int hc_finish(void);

/* One send through libkr (hc_send): what differs from the harness's
 * default referral. */
struct hc_send {
    int type;           /* 0: REFERRAL */
    const char *to;     /* recipient org */
    const char *bsn;    /* subject */
    int legal_basis;    /* 0: CONSENT */
    const char *justif; /* Content.justification, or NULL */
    const char *text;   /* reason_text, or NULL */
    const uint8_t *msg_id_in;
};

/* The sender's outbox item of one message (hc_out_get). */
struct hc_out {
    const uint8_t *id;
    unsigned n;
    int outcome, reason;
    char detail[256];
};

/* The recipient's inbox items of one message (hc_in_count). */
struct hc_in {
    const uint8_t *id;
    unsigned n;
    int legal_basis;
    char justif[256];
};

/* What hc_aud_one gathers from the exported audit trail. */
struct hc_aud {
    const uint8_t *msg_id; /* the one message, or NULL */
    const struct h_idset *set;
    const uint8_t *cid;
    /* The one message's first "message.accepted". */
    bool found;
    bool noodknop;
    int legal_basis;
    char check[128];
    /* The set's deliveries and withdrawals, the consent's revoke. */
    uint64_t revoked_seq;
    unsigned revoked_n;
    uint64_t last_delivered_seq;
    struct h_idset delivered, withdrawn;
    size_t records;
};

/* The sender's outcomes of a set of messages (hc_tally). */
struct hc_tally {
    const struct h_idset *set;
    struct h_idset seen;
    size_t by_outcome[8];
    size_t no_consent; /* withdrawn with reason no-consent */
    size_t items;
};

/* The recipient's items of a set of messages (hc_inset_one). */
struct hc_inset {
    const struct h_idset *set;
    struct h_idset seen;
    size_t items;
};

/* The harness's referral content, with the subject, text and
 * justification asked for. *out is malloc'd. */
int hc_content(const struct hc_send *s, uint8_t **out, size_t *len);
/* A send through libkr as an adapter would make it. */
int hc_send(kr_client_t *kc, const struct hc_send *s, uint8_t msg_id[16]);
/* A consent from 'from' to 'to' for 'bsn', valid [from_ms, until_ms]. */
int hc_grant(int from, int to, const char *bsn, uint64_t from_ms,
             uint64_t until_ms, uint8_t cid[16], uint8_t msg_id[16]);

/* The message's item in the node's outbox; whether there is one. */
bool hc_out_get(int node, const uint8_t id[16], struct hc_out *o);
/* Wait for the message's final outcome (or at least 'atleast'). */
void hc_wait_outcome(int node, const uint8_t id[16], int atleast,
                     struct hc_out *o, int timeout_ms);
/* An outcome's name, "(none)" for -1. */
const char *hc_oname(int outcome);
/* Check a final outcome and its reason, and that the detail says why
 * (contains 'want_detail', if given). */
void hc_expect(int node, const uint8_t id[16], int outcome, int reason,
               const char *want_detail, const char *what);
/* How often the node's inbox holds the message (its last item in *f). */
unsigned hc_in_count(int node, const uint8_t id[16], struct hc_in *f);

/* Whether d is the 16-byte id. */
bool hc_id_eq(ProtobufCBinaryData d, const uint8_t *id);
/* An h_audit_foreach() callback filling a struct hc_aud. */
int hc_aud_one(const Kr__V1__AuditRecord *r, void *arg);

/* The node's outbox tallied for 'set' (y->seen re-initialised). */
bool hc_tally(int node, const struct h_idset *set, struct hc_tally *y);
/* How many of the tally are final (delivered .. withdrawn). */
size_t hc_tally_final(const struct hc_tally *y);
/* An inbox callback filling a struct hc_inset. */
int hc_inset_one(const Kr__V1__InboxItem *it, void *arg);

/* The raw wire client as the tester organisation, hello sent. */
void hc_wire_open(struct h_wire *w, const char *what);
/* Submit a raw envelope; the first receipt with an outcome in 'mask'. */
const struct h_wire_receipt *hc_wire_submit(struct h_wire *w,
                                            struct h_env_spec *spec,
                                            unsigned mask, uint8_t id[16]);

#endif
