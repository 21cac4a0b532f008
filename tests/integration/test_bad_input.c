/*
 * test_bad_input.c - what a broken or hostile peer can throw at the broker
 * on the wire, and what must come back: a clear refusal with the right
 * reason, nothing stored that should not be, no crash, and service as
 * usual for everybody else afterwards. Malformed frames, refusals at
 * submission, tampered envelopes; the raw wire client speaks for the
 * tester (harness_bad_input.h). Who may connect, and what the operator
 * can get wrong: test_bad_input_setup.c.
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness_bad_input.h"
#include "names.h"
#include "util.h"

/* A deterministic stream for "random" bytes, so a failure reproduces. */
static uint32_t
s_rand(uint32_t *state)
{
    uint32_t x = *state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static size_t
s_inbox_count(struct hb_test *t, int node)
{
    size_t n = 0;
    int rc = h_inbox_count(h_node_client(&t->c, node), &n);

    H_ENSURE(rc == KR_OK, "list the inbox of %s (%s)", t->c.nodes[node].label,
             kr_strerror(rc));
    return n;
}

static void
s_malformed(struct hb_test *t)
{
    struct h_wire w;
    size_t errs = 0;
    int reason;

    h_note("== malformed frames");
    hb_wire_open(t, &w, t->tester_secret, "malformed");
    H_CHECK(h_wire_wait_event(&w, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 10000),
            "the tester's CURVE handshake succeeds");
    H_ENSURE(h_wire_send_hello(&w, HB_TESTER_ORG, 16) == KR_OK, "hello");
    hb_control(t, &w, "control before");

    /* Random bytes that cannot parse: wire type 7 does not exist. */
    uint8_t junk[512];
    uint32_t seed = 0x6b72u;
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)s_rand(&seed);
    junk[0] = 0x0f;
    h_wire_send_bytes(&w, junk, sizeof(junk));
    reason = h_wire_wait_error(&w, errs++, 10000);
    H_CHECK(reason == KR__V1__REASON__MALFORMED,
            "512 random bytes: FrameError malformed (got %s)",
            reason >= 0 ? reason_name(reason) : "nothing");

    /* A good frame cut in half: the submit's length runs past the end. */
    struct h_env_spec spec = {.sender = HB_TESTER_ORG,
                              .recipient = HB_JGZ_ORG,
                              .rcpt = &t->jgz_pub,
                              .content = t->content,
                              .content_len = t->content_len};
    uint8_t id[16], *env = NULL, sig[KR_SIG_LEN];
    size_t len = 0;
    H_ENSURE(h_envelope_build(w.keys, &spec, id, &env, &len, sig) == KR_OK,
             "build an envelope");
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__Submit s = KR__V1__SUBMIT__INIT, *sp = &s;
    f.version = KR__V1__VERSION__VERSION_1;
    s.envelope.data = env;
    s.envelope.len = len;
    s.signature.data = sig;
    s.signature.len = sizeof(sig);
    f.submit = &sp;
    f.n_submit = 1;
    size_t flen = kr__v1__frame__get_packed_size(&f);
    uint8_t *fbuf = malloc(flen);
    H_ENSURE(fbuf != NULL, "memory");
    kr__v1__frame__pack(&f, fbuf);
    h_wire_send_bytes(&w, fbuf, flen / 2);
    reason = h_wire_wait_error(&w, errs++, 10000);
    H_CHECK(reason == KR__V1__REASON__MALFORMED,
            "a frame truncated to %zu of %zu bytes: FrameError malformed "
            "(got %s)",
            flen / 2, flen, reason >= 0 ? reason_name(reason) : "nothing");
    h_wire_send_bytes(&w, fbuf, 1);
    reason = h_wire_wait_error(&w, errs++, 10000);
    H_CHECK(reason == KR__V1__REASON__MALFORMED,
            "a frame truncated to 1 byte: FrameError malformed (got %s)",
            reason >= 0 ? reason_name(reason) : "nothing");
    H_CHECK(h_wire_wait_receipt(&w, id, HB_ANY_OUTCOME, 300) < 0,
            "the truncated submit got no receipt (it was never read)");
    free(fbuf);
    free(env);

    /* Two parts in one message: the protocol is one frame per message. */
    const void *parts[2] = {junk, junk};
    size_t lens[2] = {8, 8};
    h_wire_send_parts(&w, parts, lens, 2);
    reason = h_wire_wait_error(&w, errs++, 10000);
    H_CHECK(reason == KR__V1__REASON__MALFORMED,
            "a two-part message: FrameError malformed (got %s)",
            reason >= 0 ? reason_name(reason) : "nothing");

    /* A frame of another version. */
    Kr__V1__Frame v2 = KR__V1__FRAME__INIT;
    v2.version = 2;
    h_wire_send_frame(&w, &v2);
    reason = h_wire_wait_error(&w, errs++, 10000);
    H_CHECK(reason == KR__V1__REASON__BAD_VERSION,
            "a frame of version 2: FrameError bad-version (got %s)",
            reason >= 0 ? reason_name(reason) : "nothing");

    /* A hello that names another organisation. */
    h_wire_send_hello(&w, HB_VL_ORG, 16);
    reason = h_wire_wait_error(&w, errs++, 10000);
    H_CHECK(reason == KR__V1__REASON__SENDER_MISMATCH,
            "a hello naming another organisation: FrameError "
            "sender-mismatch (got %s)",
            reason >= 0 ? reason_name(reason) : "nothing");
    h_wire_send_hello(&w, HB_TESTER_ORG, 16);

    /* A submit whose envelope is garbage: refused, no msg_id to name. */
    uint8_t *gp = junk;
    s.envelope.data = gp;
    s.envelope.len = 64;
    s.signature.data = sig;
    s.signature.len = sizeof(sig);
    h_wire_send_frame(&w, &f);
    int i = h_wire_wait_receipt(&w, NULL, HB_ANY_OUTCOME, 10000);
    H_CHECK(i >= 0 && w.receipts[i].outcome == KR__V1__OUTCOME__REFUSED &&
                w.receipts[i].reason == KR__V1__REASON__MALFORMED,
            "a submit of garbage: receipt REFUSED malformed (got %s)",
            i >= 0 ? reason_name(w.receipts[i].reason) : "nothing");
    H_CHECK(w.nbad == 0, "every frame the broker sent parses (%zu bad)",
            w.nbad);
    for (size_t k = 0; k < w.nerrors; k++)
        if (w.error_fatal[k])
            H_CHECK(false, "FrameError %zu is not fatal", k);

    /* Still serving: the same connection, and the nodes. */
    H_CHECK(h_proc_alive(&t->c.broker), "krbroker still runs");
    hb_control(t, &w, "control after");
    h_roundtrip(&t->c, t->vl, t->jgz, "after malformed input", 20000);
    h_wire_close(&w);
}

static void
s_refusals(struct hb_test *t, const uint8_t vl_msg_id[16])
{
    struct h_wire w;

    h_note("== refusals at submission");
    hb_wire_open(t, &w, t->tester_secret, "refusals");
    H_ENSURE(h_wire_send_hello(&w, HB_TESTER_ORG, 16) == KR_OK, "hello");
    size_t before = s_inbox_count(t, t->jgz);

    /* Over max_envelope_bytes. */
    size_t big = HB_MAX_ENVELOPE + 4096;
    uint8_t *bytes = malloc(big);
    H_ENSURE(bytes != NULL, "memory");
    memset(bytes, 'x', big);
    Kr__V1__Content ct = KR__V1__CONTENT__INIT;
    ct.version = KR__V1__VERSION__VERSION_1;
    ct.body_case = KR__V1__CONTENT__BODY_OPAQUE;
    ct.opaque.data = bytes;
    ct.opaque.len = big;
    size_t clen = kr__v1__content__get_packed_size(&ct);
    uint8_t *cbuf = malloc(clen);
    H_ENSURE(cbuf != NULL, "memory");
    kr__v1__content__pack(&ct, cbuf);
    struct h_env_spec spec = {.sender = HB_TESTER_ORG,
                              .recipient = HB_JGZ_ORG,
                              .content = cbuf,
                              .content_len = clen};
    hb_expect_refusal(t, &w, &spec, KR__V1__REASON__TOO_LARGE,
                      "an envelope over max_envelope_bytes");
    free(cbuf);
    free(bytes);

    struct h_env_spec unknown = {.sender = HB_TESTER_ORG,
                                 .recipient = "ura:99999999"};
    hb_expect_refusal(t, &w, &unknown, KR__V1__REASON__UNKNOWN_RECIPIENT,
                      "a recipient not in the directory");

    int forged_before = h_log_count(t->c.broker_log, "forged sender");
    struct h_env_spec forged = {.sender = HB_VL_ORG, .recipient = HB_JGZ_ORG};
    hb_expect_refusal(t, &w, &forged, KR__V1__REASON__SENDER_MISMATCH,
                      "an envelope whose sender is another organisation");
    H_CHECK(h_log_count(t->c.broker_log, "forged sender") > forged_before,
            "the broker logs the forged sender");

    struct h_env_spec v2 = {
        .sender = HB_TESTER_ORG, .recipient = HB_JGZ_ORG, .version = 2};
    hb_expect_refusal(t, &w, &v2, KR__V1__REASON__BAD_VERSION,
                      "an envelope of version 2");

    struct h_env_spec dup = {
        .sender = HB_TESTER_ORG, .recipient = HB_JGZ_ORG, .msg_id = vl_msg_id};
    hb_expect_refusal(t, &w, &dup, KR__V1__REASON__DUPLICATE_ID,
                      "another sender's msg_id");

    /* A signature of the wrong length is a missing field. */
    uint8_t id[16], *env = NULL, sig[KR_SIG_LEN];
    size_t len = 0;
    struct h_env_spec good = {.sender = HB_TESTER_ORG,
                              .recipient = HB_JGZ_ORG,
                              .rcpt = &t->jgz_pub,
                              .content = t->content,
                              .content_len = t->content_len};
    H_ENSURE(h_envelope_build(w.keys, &good, id, &env, &len, sig) == KR_OK,
             "build an envelope");
    h_wire_send_submit(&w, env, len, sig, 10);
    free(env);
    int i = h_wire_wait_receipt(&w, id, HB_ANY_OUTCOME, 10000);
    H_CHECK(i >= 0 && w.receipts[i].outcome == KR__V1__OUTCOME__REFUSED &&
                w.receipts[i].reason == KR__V1__REASON__MISSING_FIELD,
            "a 10-byte signature: receipt REFUSED missing-field (got %s)",
            i >= 0 ? reason_name(w.receipts[i].reason) : "nothing");

    /* The same limit for a node's own message: refused, and final. */
    struct h_referral ref;
    char *text = malloc(big + 1);
    H_ENSURE(text != NULL, "memory");
    memset(text, 'y', big);
    text[big] = '\0';
    h_referral_default(&ref);
    ref.reason_text = text;
    uint8_t nid[16];
    int rc = h_send_referral(h_node_client(&t->c, t->vl), HB_JGZ_ORG, &ref,
                             NULL, nid);
    free(text);
    H_CHECK(rc == KR_OK,
            "libkr: the node takes a %zu-byte referral into "
            "its outbox (%s)",
            big, kr_strerror(rc));
    struct h_outbox_stats st;
    bool ok;
    H_POLL(ok, 10000,
           h_outbox_stats(h_node_client(&t->c, t->vl), &st) == KR_OK &&
               st.by_reason[KR__V1__REASON__TOO_LARGE] == 1);
    H_CHECK(ok && st.by_outcome[KR__V1__OUTCOME__REFUSED] == 1,
            "the node's outbox shows it refused too-large");

    H_CHECK(s_inbox_count(t, t->jgz) == before,
            "nothing refused reached JGZ's inbox");
    h_wire_close(&w);
}

static void
s_tampered(struct hb_test *t)
{
    struct h_wire w;

    h_note("== tampered envelopes");
    hb_wire_open(t, &w, t->tester_secret, "tampered");
    H_ENSURE(h_wire_send_hello(&w, HB_TESTER_ORG, 16) == KR_OK, "hello");
    size_t before = s_inbox_count(t, t->jgz);

    struct h_env_spec after = {.sender = HB_TESTER_ORG,
                               .recipient = HB_JGZ_ORG,
                               .tamper = H_TAMPER_CIPHER_AFTER_SIGN};
    hb_expect_final(t, &w, &after, KR__V1__OUTCOME__REFUSED,
                    KR__V1__REASON__BAD_SIGNATURE,
                    "ciphertext changed after signing");
    struct h_env_spec sig = {.sender = HB_TESTER_ORG,
                             .recipient = HB_JGZ_ORG,
                             .tamper = H_TAMPER_SIGNATURE};
    hb_expect_final(t, &w, &sig, KR__V1__OUTCOME__REFUSED,
                    KR__V1__REASON__BAD_SIGNATURE, "one signature bit flipped");
    struct h_env_spec before_sign = {.sender = HB_TESTER_ORG,
                                     .recipient = HB_JGZ_ORG,
                                     .tamper = H_TAMPER_CIPHER_BEFORE_SIGN};
    hb_expect_final(t, &w, &before_sign, KR__V1__OUTCOME__REFUSED,
                    KR__V1__REASON__CANNOT_OPEN,
                    "ciphertext changed, then signed");
    H_CHECK(s_inbox_count(t, t->jgz) == before,
            "no tampered message reached JGZ's inbox");
    hb_control(t, &w, "control after tampering");
    H_CHECK(s_inbox_count(t, t->jgz) == before + 1,
            "the good one did (%zu -> %zu)", before, s_inbox_count(t, t->jgz));
    h_wire_close(&w);
}

int
main(void)
{
    static struct hb_test t;
    struct h_referral ref;

    hb_setup(&t, "bad_input", 240);
    /* A message of vl's, whose msg_id the tester will try to reuse. */
    h_referral_default(&ref);
    ref.reason_text = "from the raw wire client";
    uint8_t vl_id[16];
    H_REQUIRE(h_send_referral(h_node_client(&t.c, t.vl), HB_JGZ_ORG, &ref, NULL,
                              vl_id) == KR_OK,
              "vl sends a first referral");

    s_malformed(&t);
    s_refusals(&t, vl_id);
    s_tampered(&t);

    free(t.content);
    return h_finish(&t.c);
}
