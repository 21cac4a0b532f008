/*
 * harness_bad_input.c - what the bad-input tests share
 * (harness_bad_input.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_bad_input.h"
#include "names.h"

void
hb_setup(struct hb_test *t, const char *name, int budget_s)
{
    struct h_referral ref;
    char pub[H_PATH + 32];

    h_init(name, budget_s);
    h_cluster_init(&t->c, name);
    char maxenv[32];
    snprintf(maxenv, sizeof(maxenv), "%d", HB_MAX_ENVELOPE);
    h_broker_set(&t->c, "max_envelope_bytes", maxenv);
    h_broker_start(&t->c);
    t->vl = h_org_add(&t->c, "vl", HB_VL_ORG, "verloskunde",
                      "Verloskundigenpraktijk De Wieg");
    t->jgz = h_org_add(&t->c, "jgz", HB_JGZ_ORG, "jgz", "JGZ Utrecht");
    t->tester = h_org_add(&t->c, "tester", HB_TESTER_ORG, "kraamzorg",
                          "Kraamzorg Test (raw wire client)");
    h_secret_path(t->c.nodes[t->tester].keys, t->tester_secret,
                  sizeof(t->tester_secret));
    h_public_path(t->c.broker_keys, t->broker_public, sizeof(t->broker_public));
    h_public_path(t->c.nodes[t->jgz].keys, pub, sizeof(pub));
    H_ENSURE(kcrypto_pubkeys_load(pub, &t->jgz_pub) == KR_OK,
             "load jgz.public");
    h_referral_default(&ref);
    ref.reason_text = "from the raw wire client";
    H_ENSURE(h_content_pack(&ref, &t->content, &t->content_len) == KR_OK,
             "pack a referral");
    h_node_start(&t->c, t->vl);
    h_node_start(&t->c, t->jgz);
    if (!h_node_wait_connected(&t->c, t->vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&t->c, t->jgz, H_CONNECT_MS))
        h_abort();
    /* Deny by default: the woman's consent comes first. */
    H_REQUIRE(h_consent_default(&t->c, t->vl, t->jgz), "consent recorded");
}

void
hb_wire_open(struct hb_test *t, struct h_wire *w, const char *secret,
             const char *what)
{
    int rc =
        h_wire_open(w, t->c.listen, secret, t->broker_public, HB_TESTER_ORG);

    H_ENSURE(rc == KR_OK, "%s: open the raw wire client (%s)", what,
             kr_strerror(rc));
}

/* Build an envelope to JGZ per 'spec', submit it on w, wait for the first
 * receipt for it. Returns the receipt's index or -1; *id gets the msg_id. */
int
hb_submit(struct hb_test *t, struct h_wire *w, struct h_env_spec *spec,
          uint8_t id[16], unsigned mask, int timeout_ms)
{
    uint8_t *env = NULL, sig[KR_SIG_LEN];
    size_t len = 0;
    int rc;

    if (spec->rcpt == NULL)
        spec->rcpt = &t->jgz_pub;
    if (spec->content == NULL) {
        spec->content = t->content;
        spec->content_len = t->content_len;
    }
    rc = h_envelope_build(w->keys, spec, id, &env, &len, sig);
    H_ENSURE(rc == KR_OK, "build an envelope (%s)", kr_strerror(rc));
    rc = h_wire_send_submit(w, env, len, sig, sizeof(sig));
    free(env);
    if (rc != KR_OK) {
        /* No peer to take it: only expected where the handshake fails. */
        h_note("submit not sent: %s", kr_strerror(rc));
        return -1;
    }
    return h_wire_wait_receipt(w, id, mask, timeout_ms);
}

/* Submit and expect an immediate refusal with 'reason'. */
void
hb_expect_refusal(struct hb_test *t, struct h_wire *w, struct h_env_spec *spec,
                  int reason, const char *what)
{
    uint8_t id[16];
    int i = hb_submit(t, w, spec, id, HB_ANY_OUTCOME, 10000);
    const struct h_wire_receipt *r = i >= 0 ? &w->receipts[i] : NULL;

    H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__REFUSED &&
                r->reason == reason && r->seq == 0,
            "%s: receipt REFUSED %s (got %s %s)", what, reason_name(reason),
            r ? outcome_name(r->outcome) : "no receipt",
            r ? reason_name(r->reason) : "");
}

/* Submit, expect ACCEPTED, then a final receipt; check it. */
void
hb_expect_final(struct hb_test *t, struct h_wire *w, struct h_env_spec *spec,
                int outcome, int reason, const char *what)
{
    uint8_t id[16];
    int i = hb_submit(t, w, spec, id,
                      (1u << KR__V1__OUTCOME__ACCEPTED) | HB_FINAL, 10000);
    const struct h_wire_receipt *r = i >= 0 ? &w->receipts[i] : NULL;

    H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__ACCEPTED,
            "%s: the broker accepts it (got %s %s)", what,
            r ? outcome_name(r->outcome) : "no receipt",
            r ? reason_name(r->reason) : "");
    i = h_wire_wait_receipt(w, id, HB_FINAL, 20000);
    r = i >= 0 ? &w->receipts[i] : NULL;
    H_CHECK(r != NULL && r->outcome == outcome && r->reason == reason &&
                r->seq != 0,
            "%s: the sender gets a durable receipt %s %s (got %s %s)", what,
            outcome_name(outcome), reason_name(reason),
            r ? outcome_name(r->outcome) : "no receipt",
            r ? reason_name(r->reason) : "");
}

/* The positive control: the wire client can deliver a good message, so
 * the refusals below are the broker's judgement, not a broken client. */
void
hb_control(struct hb_test *t, struct h_wire *w, const char *what)
{
    struct h_env_spec spec = {.sender = HB_TESTER_ORG, .recipient = HB_JGZ_ORG};

    hb_expect_final(t, w, &spec, KR__V1__OUTCOME__DELIVERED, 0, what);
}
