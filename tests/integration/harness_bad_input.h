/*
 * harness_bad_input.h - what the bad-input tests (test_bad_input*.c)
 * share: a broker with a small envelope limit, the nodes of a midwife and
 * JGZ, and a raw wire client (harness_wire.c) for a third organisation,
 * the "tester", that has keys and a directory entry but no krnode, so
 * that every receipt for its messages comes back to the test.
 */
#ifndef HARNESS_BAD_INPUT_H
#define HARNESS_BAD_INPUT_H

#include "harness.h"

#define HB_VL_ORG "ura:00001234"
#define HB_JGZ_ORG "ura:00005678"
#define HB_TESTER_ORG "ura:00009999"
#define HB_MAX_ENVELOPE 65536
#define HB_ANY_OUTCOME 0xffu
#define HB_FINAL                                                               \
    ((1u << KR__V1__OUTCOME__DELIVERED) | (1u << KR__V1__OUTCOME__REFUSED) |   \
     (1u << KR__V1__OUTCOME__EXPIRED_OUTCOME) |                                \
     (1u << KR__V1__OUTCOME__WITHDRAWN))

struct hb_test {
    struct h_cluster c;
    int vl, jgz, tester; /* node indices; the tester has no krnode */
    kr_pubkeys_t jgz_pub;
    char tester_secret[H_PATH + 32];
    char broker_public[H_PATH + 32];
    uint8_t *content; /* a serialized referral Content (malloc'd) */
    size_t content_len;
};

/* h_init(name, budget_s); the broker (max_envelope_bytes HB_MAX_ENVELOPE),
 * the three organisations, the two nodes started and connected, the
 * default consent; t->content packed. */
void hb_setup(struct hb_test *t, const char *name, int budget_s);

/* The raw wire client as the tester, with the secret key file 'secret'. */
void hb_wire_open(struct hb_test *t, struct h_wire *w, const char *secret,
                  const char *what);
/* Build an envelope to JGZ per 'spec', submit it on w, wait for the first
 * receipt for it. Returns the receipt's index or -1; *id gets the msg_id. */
int hb_submit(struct hb_test *t, struct h_wire *w, struct h_env_spec *spec,
              uint8_t id[16], unsigned mask, int timeout_ms);
/* Submit and expect an immediate refusal with 'reason'. */
void hb_expect_refusal(struct hb_test *t, struct h_wire *w,
                       struct h_env_spec *spec, int reason, const char *what);
/* Submit, expect ACCEPTED, then a final receipt; check it. */
void hb_expect_final(struct hb_test *t, struct h_wire *w,
                     struct h_env_spec *spec, int outcome, int reason,
                     const char *what);
/* The positive control: the wire client can deliver a good message, so
 * that refusals are the broker's judgement, not a broken client. */
void hb_control(struct hb_test *t, struct h_wire *w, const char *what);

#endif
