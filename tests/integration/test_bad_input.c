/*
 * test_bad_input.c - what a broken or hostile peer, operator or file can
 * throw at the daemons, and what must come back: a clear refusal with the
 * right reason, nothing stored that should not be, no crash, and service
 * as usual for everybody else afterwards.
 *
 * A raw wire client (harness_wire.c) speaks for a third organisation, the
 * "tester", that has keys and a directory entry but no krnode, so that
 * every receipt for its messages comes back to the test.
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "names.h"
#include "util.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_TESTER_ORG "ura:00009999"
#define S_MAX_ENVELOPE 65536
#define S_ANY_OUTCOME 0xffu
#define S_FINAL                                                                \
    ((1u << KR__V1__OUTCOME__DELIVERED) | (1u << KR__V1__OUTCOME__REFUSED) |   \
     (1u << KR__V1__OUTCOME__EXPIRED_OUTCOME) |                                \
     (1u << KR__V1__OUTCOME__WITHDRAWN))

struct s_test {
    struct h_cluster c;
    int vl, jgz, tester;
    kr_pubkeys_t jgz_pub;
    char tester_secret[H_PATH + 32];
    char broker_public[H_PATH + 32];
    uint8_t *content; /* a serialized referral Content */
    size_t content_len;
};

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

static const char *
s_outcome(int o)
{
    return outcome_name(o);
}

static void
s_wire_open(struct s_test *t, struct h_wire *w, const char *secret,
            const char *what)
{
    int rc =
        h_wire_open(w, t->c.listen, secret, t->broker_public, S_TESTER_ORG);

    H_ENSURE(rc == KR_OK, "%s: open the raw wire client (%s)", what,
             kr_strerror(rc));
}

/* Build an envelope to JGZ per 'spec', submit it on w, wait for the first
 * receipt for it. Returns the receipt's index or -1; *id gets the msg_id. */
static int
s_submit(struct s_test *t, struct h_wire *w, struct h_env_spec *spec,
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
static void
s_expect_refusal(struct s_test *t, struct h_wire *w, struct h_env_spec *spec,
                 int reason, const char *what)
{
    uint8_t id[16];
    int i = s_submit(t, w, spec, id, S_ANY_OUTCOME, 10000);
    const struct h_wire_receipt *r = i >= 0 ? &w->receipts[i] : NULL;

    H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__REFUSED &&
                r->reason == reason && r->seq == 0,
            "%s: receipt REFUSED %s (got %s %s)", what, reason_name(reason),
            r ? s_outcome(r->outcome) : "no receipt",
            r ? reason_name(r->reason) : "");
}

/* Submit, expect ACCEPTED, then a final receipt; check it. */
static void
s_expect_final(struct s_test *t, struct h_wire *w, struct h_env_spec *spec,
               int outcome, int reason, const char *what)
{
    uint8_t id[16];
    int i = s_submit(t, w, spec, id,
                     (1u << KR__V1__OUTCOME__ACCEPTED) | S_FINAL, 10000);
    const struct h_wire_receipt *r = i >= 0 ? &w->receipts[i] : NULL;

    H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__ACCEPTED,
            "%s: the broker accepts it (got %s %s)", what,
            r ? s_outcome(r->outcome) : "no receipt",
            r ? reason_name(r->reason) : "");
    i = h_wire_wait_receipt(w, id, S_FINAL, 20000);
    r = i >= 0 ? &w->receipts[i] : NULL;
    H_CHECK(r != NULL && r->outcome == outcome && r->reason == reason &&
                r->seq != 0,
            "%s: the sender gets a durable receipt %s %s (got %s %s)", what,
            s_outcome(outcome), reason_name(reason),
            r ? s_outcome(r->outcome) : "no receipt",
            r ? reason_name(r->reason) : "");
}

static size_t
s_inbox_count(struct s_test *t, int node)
{
    size_t n = 0;
    int rc = h_inbox_count(h_node_client(&t->c, node), &n);

    H_ENSURE(rc == KR_OK, "list the inbox of %s (%s)", t->c.nodes[node].label,
             kr_strerror(rc));
    return n;
}

/* The positive control: the wire client can deliver a good message, so
 * the refusals below are the broker's judgement, not a broken client. */
static void
s_control(struct s_test *t, struct h_wire *w, const char *what)
{
    struct h_env_spec spec = {.sender = S_TESTER_ORG, .recipient = S_JGZ_ORG};

    s_expect_final(t, w, &spec, KR__V1__OUTCOME__DELIVERED, 0, what);
}

static void
s_malformed(struct s_test *t)
{
    struct h_wire w;
    size_t errs = 0;
    int reason;

    h_note("== malformed frames");
    s_wire_open(t, &w, t->tester_secret, "malformed");
    H_CHECK(h_wire_wait_event(&w, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 10000),
            "the tester's CURVE handshake succeeds");
    H_ENSURE(h_wire_send_hello(&w, S_TESTER_ORG, 16) == KR_OK, "hello");
    s_control(t, &w, "control before");

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
    struct h_env_spec spec = {.sender = S_TESTER_ORG,
                              .recipient = S_JGZ_ORG,
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
    H_CHECK(h_wire_wait_receipt(&w, id, S_ANY_OUTCOME, 300) < 0,
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
    h_wire_send_hello(&w, S_VL_ORG, 16);
    reason = h_wire_wait_error(&w, errs++, 10000);
    H_CHECK(reason == KR__V1__REASON__SENDER_MISMATCH,
            "a hello naming another organisation: FrameError "
            "sender-mismatch (got %s)",
            reason >= 0 ? reason_name(reason) : "nothing");
    h_wire_send_hello(&w, S_TESTER_ORG, 16);

    /* A submit whose envelope is garbage: refused, no msg_id to name. */
    uint8_t *gp = junk;
    s.envelope.data = gp;
    s.envelope.len = 64;
    s.signature.data = sig;
    s.signature.len = sizeof(sig);
    h_wire_send_frame(&w, &f);
    int i = h_wire_wait_receipt(&w, NULL, S_ANY_OUTCOME, 10000);
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
    s_control(t, &w, "control after");
    h_roundtrip(&t->c, t->vl, t->jgz, "after malformed input", 20000);
    h_wire_close(&w);
}

static void
s_refusals(struct s_test *t, const uint8_t vl_msg_id[16])
{
    struct h_wire w;

    h_note("== refusals at submission");
    s_wire_open(t, &w, t->tester_secret, "refusals");
    H_ENSURE(h_wire_send_hello(&w, S_TESTER_ORG, 16) == KR_OK, "hello");
    size_t before = s_inbox_count(t, t->jgz);

    /* Over max_envelope_bytes. */
    size_t big = S_MAX_ENVELOPE + 4096;
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
    struct h_env_spec spec = {.sender = S_TESTER_ORG,
                              .recipient = S_JGZ_ORG,
                              .content = cbuf,
                              .content_len = clen};
    s_expect_refusal(t, &w, &spec, KR__V1__REASON__TOO_LARGE,
                     "an envelope over max_envelope_bytes");
    free(cbuf);
    free(bytes);

    struct h_env_spec unknown = {.sender = S_TESTER_ORG,
                                 .recipient = "ura:99999999"};
    s_expect_refusal(t, &w, &unknown, KR__V1__REASON__UNKNOWN_RECIPIENT,
                     "a recipient not in the directory");

    int forged_before = h_log_count(t->c.broker_log, "forged sender");
    struct h_env_spec forged = {.sender = S_VL_ORG, .recipient = S_JGZ_ORG};
    s_expect_refusal(t, &w, &forged, KR__V1__REASON__SENDER_MISMATCH,
                     "an envelope whose sender is another organisation");
    H_CHECK(h_log_count(t->c.broker_log, "forged sender") > forged_before,
            "the broker logs the forged sender");

    struct h_env_spec v2 = {
        .sender = S_TESTER_ORG, .recipient = S_JGZ_ORG, .version = 2};
    s_expect_refusal(t, &w, &v2, KR__V1__REASON__BAD_VERSION,
                     "an envelope of version 2");

    struct h_env_spec dup = {
        .sender = S_TESTER_ORG, .recipient = S_JGZ_ORG, .msg_id = vl_msg_id};
    s_expect_refusal(t, &w, &dup, KR__V1__REASON__DUPLICATE_ID,
                     "another sender's msg_id");

    /* A signature of the wrong length is a missing field. */
    uint8_t id[16], *env = NULL, sig[KR_SIG_LEN];
    size_t len = 0;
    struct h_env_spec good = {.sender = S_TESTER_ORG,
                              .recipient = S_JGZ_ORG,
                              .rcpt = &t->jgz_pub,
                              .content = t->content,
                              .content_len = t->content_len};
    H_ENSURE(h_envelope_build(w.keys, &good, id, &env, &len, sig) == KR_OK,
             "build an envelope");
    h_wire_send_submit(&w, env, len, sig, 10);
    free(env);
    int i = h_wire_wait_receipt(&w, id, S_ANY_OUTCOME, 10000);
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
    int rc = h_send_referral(h_node_client(&t->c, t->vl), S_JGZ_ORG, &ref, NULL,
                             nid);
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
s_tampered(struct s_test *t)
{
    struct h_wire w;

    h_note("== tampered envelopes");
    s_wire_open(t, &w, t->tester_secret, "tampered");
    H_ENSURE(h_wire_send_hello(&w, S_TESTER_ORG, 16) == KR_OK, "hello");
    size_t before = s_inbox_count(t, t->jgz);

    struct h_env_spec after = {.sender = S_TESTER_ORG,
                               .recipient = S_JGZ_ORG,
                               .tamper = H_TAMPER_CIPHER_AFTER_SIGN};
    s_expect_final(t, &w, &after, KR__V1__OUTCOME__REFUSED,
                   KR__V1__REASON__BAD_SIGNATURE,
                   "ciphertext changed after signing");
    struct h_env_spec sig = {.sender = S_TESTER_ORG,
                             .recipient = S_JGZ_ORG,
                             .tamper = H_TAMPER_SIGNATURE};
    s_expect_final(t, &w, &sig, KR__V1__OUTCOME__REFUSED,
                   KR__V1__REASON__BAD_SIGNATURE, "one signature bit flipped");
    struct h_env_spec before_sign = {.sender = S_TESTER_ORG,
                                     .recipient = S_JGZ_ORG,
                                     .tamper = H_TAMPER_CIPHER_BEFORE_SIGN};
    s_expect_final(t, &w, &before_sign, KR__V1__OUTCOME__REFUSED,
                   KR__V1__REASON__CANNOT_OPEN,
                   "ciphertext changed, then signed");
    H_CHECK(s_inbox_count(t, t->jgz) == before,
            "no tampered message reached JGZ's inbox");
    s_control(t, &w, "control after tampering");
    H_CHECK(s_inbox_count(t, t->jgz) == before + 1,
            "the good one did (%zu -> %zu)", before, s_inbox_count(t, t->jgz));
    h_wire_close(&w);
}

static void
s_unknown_key(struct s_test *t)
{
    struct h_wire w;
    char kid[KR_KEY_ID_LEN], needle[64];

    h_note("== unknown CURVE key");
    s_wire_open(t, &w, NULL, "unknown key");
    kcrypto_key_id(w.keys->pub.curve, kid);
    snprintf(needle, sizeof(needle), "auth: refused key=%s", kid);
    H_CHECK(h_wire_wait_event(&w, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 10000),
            "a key the directory does not know: HANDSHAKE_FAILED_AUTH");
    bool ok;
    H_POLL(ok, 5000, h_log_contains(t->c.broker_log, needle));
    H_CHECK(ok, "the broker logs \"%s\"", needle);
    h_wire_send_hello(&w, S_TESTER_ORG, 16);
    struct h_env_spec spec = {.sender = S_TESTER_ORG, .recipient = S_JGZ_ORG};
    uint8_t id[16];
    /* The answer to a frame comes within milliseconds (see the controls);
     * a second of silence, with the handshake refused, is no answer. */
    s_submit(t, &w, &spec, id, S_ANY_OUTCOME, 1000);
    h_wire_pump(&w, 200);
    H_CHECK(w.nframes == 0 && w.nreceipts == 0,
            "no frame and no receipt ever reaches it (%zu frames)", w.nframes);
    H_CHECK((w.events & ZMQ_EVENT_HANDSHAKE_SUCCEEDED) == 0,
            "its handshake never succeeds");
    h_wire_close(&w);
}

static bool
s_suspended_in_list(struct s_test *t, const char *org, bool want)
{
    struct h_run r;
    bool found = false, match = false;

    h_krctl(&r, "--admin", t->c.admin, "org", "list", "--json", NULL);
    json_object *a = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    for (size_t i = 0; a != NULL && json_object_is_type(a, json_type_array) &&
                       i < json_object_array_length(a);
         i++) {
        json_object *e = json_object_array_get_idx(a, i);
        const char *id = h_json_str(e, "org_id");
        const char *status = h_json_str(e, "status");
        if (id != NULL && strcmp(id, org) == 0 && status != NULL) {
            found = true;
            match = strcmp(status, want ? "suspended" : "active") == 0;
        }
    }
    json_object_put(a);
    h_run_free(&r);
    return found && match;
}

struct s_one {
    uint8_t id[16];
    unsigned n;
    int outcome, reason;
};

static int
s_one_out(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_one *o = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, o->id, 16) == 0) {
        o->n++;
        o->outcome = it->outcome;
        o->reason = it->reason;
    }
    return 0;
}

static int
s_one_in(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_one *o = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, o->id, 16) == 0)
        o->n++;
    return 0;
}

static bool
s_outcome_is(kr_client_t *kc, struct s_one *o, int outcome)
{
    o->n = 0;
    return h_outbox_foreach(kc, s_one_out, o) == KR_OK && o->n == 1 &&
           o->outcome == outcome;
}

static void
s_suspension(struct s_test *t)
{
    struct h_wire w;
    struct h_status st;
    struct h_referral ref;
    kr_pubkeys_t vlpub;
    char kid[KR_KEY_ID_LEN], needle[64], pub[H_PATH + 32];
    bool ok;

    h_note("== suspended organisations");
    /* The tester: suspended, its handshake is refused; resumed, it works. */
    H_CHECK(h_org_suspend(&t->c, S_TESTER_ORG) == 0,
            "krctl org suspend %s exits 0", S_TESTER_ORG);
    H_CHECK(s_suspended_in_list(t, S_TESTER_ORG, true),
            "krctl org list --json shows it with status \"suspended\"");
    s_wire_open(t, &w, t->tester_secret, "suspended tester");
    H_CHECK(h_wire_wait_event(&w, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 10000),
            "a suspended organisation's handshake fails (auth)");
    h_wire_close(&w);
    H_CHECK(h_org_resume(&t->c, S_TESTER_ORG) == 0,
            "krctl org resume %s exits 0", S_TESTER_ORG);
    H_CHECK(s_suspended_in_list(t, S_TESTER_ORG, false),
            "krctl org list --json shows it \"active\" again");
    s_wire_open(t, &w, t->tester_secret, "resumed tester");
    H_CHECK(h_wire_wait_event(&w, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 10000),
            "after resume its handshake succeeds");
    H_ENSURE(h_wire_send_hello(&w, S_TESTER_ORG, 16) == KR_OK, "hello");
    s_control(t, &w, "resumed tester");
    h_wire_close(&w);

    /* The midwives' node, while connected. */
    h_public_path(t->c.nodes[t->vl].keys, pub, sizeof(pub));
    H_ENSURE(kcrypto_pubkeys_load(pub, &vlpub) == KR_OK, "load vl.public");
    kcrypto_key_id(vlpub.curve, kid);
    snprintf(needle, sizeof(needle), "auth: refused key=%s", kid);
    kr_client_t *kv = h_node_client(&t->c, t->vl);
    kr_client_t *kj = h_node_client(&t->c, t->jgz);
    H_CHECK(h_org_suspend(&t->c, S_VL_ORG) == 0, "krctl org suspend %s exits 0",
            S_VL_ORG);
    H_POLL(ok, 10000, h_status(kv, &st) == KR_OK && !st.connected);
    H_CHECK(ok, "the suspended node reports itself disconnected");
    H_POLL(ok, 15000, h_log_contains(t->c.broker_log, needle));
    H_CHECK(ok, "its next handshake is refused (\"%s\")", needle);

    struct s_one held, toward;
    memset(&held, 0, sizeof(held));
    memset(&toward, 0, sizeof(toward));
    h_referral_default(&ref);
    ref.reason_text = "sent while suspended";
    int rc = h_send_referral(kv, S_JGZ_ORG, &ref, NULL, held.id);
    H_CHECK(rc == KR_OK,
            "the suspended node still takes a send into its "
            "outbox (%s)",
            kr_strerror(rc));
    /* Wait for two more refused handshakes: the node has tried to reach
     * the broker with the message pending. */
    int refusals = h_log_count(t->c.broker_log, needle);
    H_POLL(ok, 15000, h_log_count(t->c.broker_log, needle) >= refusals + 2);
    H_CHECK(ok, "the node keeps trying and keeps being refused");
    H_CHECK(s_outcome_is(kv, &held, 0),
            "the message stays pending at the node (outcome %s)",
            s_outcome(held.outcome));
    held.n = 0;
    h_inbox_foreach(kj, s_one_in, &held);
    H_CHECK(held.n == 0, "and does not reach JGZ");

    /* Towards a suspended organisation: refused, final. */
    rc = h_send_referral(kj, S_VL_ORG, &ref, NULL, toward.id);
    H_CHECK(rc == KR_OK, "JGZ sends to the suspended organisation (%s)",
            kr_strerror(rc));
    H_POLL(ok, 10000, s_outcome_is(kj, &toward, KR__V1__OUTCOME__REFUSED));
    H_CHECK(ok && toward.reason == KR__V1__REASON__RECIPIENT_SUSPENDED,
            "it is refused recipient-suspended (got %s %s)",
            s_outcome(toward.outcome), reason_name(toward.reason));

    /* Resumed: the node reconnects and its held message goes out. */
    H_CHECK(h_org_resume(&t->c, S_VL_ORG) == 0, "krctl org resume %s exits 0",
            S_VL_ORG);
    h_node_wait_connected(&t->c, t->vl, 30000);
    H_POLL(ok, 30000, s_outcome_is(kv, &held, KR__V1__OUTCOME__DELIVERED));
    H_CHECK(ok, "after resume the held message is delivered (outcome %s)",
            s_outcome(held.outcome));
    held.n = 0;
    h_inbox_foreach(kj, s_one_in, &held);
    H_CHECK(held.n == 1, "JGZ holds it exactly once (%u)", held.n);
    h_roundtrip(&t->c, t->vl, t->jgz, "after resume", 20000);
}

/* A daemon started with 'argv' must exit with 'code' and name 'needle' on
 * stderr. */
static void
s_expect_exit(char *const argv[], int code, const char *needle,
              const char *what)
{
    struct h_run r;
    int rc = h_run(&r, 10000, argv);
    char st[32];
    bool ok = rc == KR_OK && r.code == code && strstr(r.err, needle) != NULL;

    /* Its stderr on one line, and only when it is needed. */
    for (char *p = r.err; *p != '\0'; p++)
        if (*p == '\n')
            *p = '|';
    H_CHECK(ok, "%s: exit %d naming \"%s\" on stderr (got %s%s%.400s)", what,
            code, needle,
            rc == KR_OK ? h_status_str(r.status, st, sizeof(st)) : "timeout",
            ok ? "" : "; stderr: ", ok ? "" : r.err);
    h_run_free(&r);
}

static void
s_startup_errors(struct s_test *t)
{
    struct h_cluster *c = &t->c;
    char *text = NULL, path[H_PATH + 64], dir[H_PATH + 64], local[H_PATH + 96],
         conf[H_PATH + 64], bpub[H_PATH + 32], secret[H_PATH + 32],
         admin[H_PATH + 96], listen[64];
    size_t len;

    h_note("== start-up errors");
    /* A secret key file that others may read. */
    h_secret_path(c->nodes[t->vl].keys, secret, sizeof(secret));
    H_ENSURE(util_read_file(secret, 1 << 20, &text, &len) == KR_OK,
             "read vl.secret");
    snprintf(path, sizeof(path), "%s/keys/readable.secret", c->tmp);
    H_ENSURE(h_write_file(path, text, 0644) == KR_OK, "write %s", path);
    free(text);
    h_public_path(c->broker_keys, bpub, sizeof(bpub));
    snprintf(dir, sizeof(dir), "%s/readable-node", c->tmp);
    snprintf(local, sizeof(local), "ipc://%s/node.sock", dir);
    char *node_argv[] = {(char *)H_KRNODE,
                         "--org",
                         S_VL_ORG,
                         "--data_dir",
                         dir,
                         "--keys",
                         path,
                         "--broker",
                         c->listen,
                         "--broker_key",
                         bpub,
                         "--local",
                         local,
                         NULL};
    s_expect_exit(node_argv, 1, "readable.secret",
                  "krnode with a world-readable key file");

    h_secret_path(c->broker_keys, secret, sizeof(secret));
    H_ENSURE(util_read_file(secret, 1 << 20, &text, &len) == KR_OK,
             "read broker.secret");
    snprintf(path, sizeof(path), "%s/keys/readable-broker.secret", c->tmp);
    H_ENSURE(h_write_file(path, text, 0644) == KR_OK, "write %s", path);
    free(text);
    snprintf(dir, sizeof(dir), "%s/readable-broker", c->tmp);
    snprintf(admin, sizeof(admin), "ipc://%s/admin.sock", dir);
    /* A port nobody listens on; the broker must stop before binding. */
    snprintf(listen, sizeof(listen), "tcp://127.0.0.1:%d", c->port);
    char *broker_argv[] = {
        (char *)H_KRBROKER, "--data_dir", dir,       "--keys", path,
        "--listen",         listen,       "--admin", admin,    NULL};
    s_expect_exit(broker_argv, 1, "readable-broker.secret",
                  "krbroker with a world-readable key file");

    /* Malformed values and unknown flags: exit 2, the option named. */
    h_secret_path(c->broker_keys, secret, sizeof(secret));
    char *b1[] = {(char *)H_KRBROKER, "--data_dir", dir, "--keys", secret,
                  "--window",         "abc",        NULL};
    s_expect_exit(b1, 2, "window", "krbroker --window abc");
    char *b2[] = {(char *)H_KRBROKER, "--data_dir", dir, "--keys", secret,
                  "--no_such_option", "1",          NULL};
    s_expect_exit(b2, 2, "no_such_option", "krbroker --no_such_option");
    char *b3[] = {(char *)H_KRBROKER, "--data_dir", dir, "--keys", secret,
                  "--map_size_mb",    "0",          NULL};
    s_expect_exit(b3, 2, "map_size_mb", "krbroker --map_size_mb 0");
    snprintf(conf, sizeof(conf), "%s/bad-broker.ini", c->tmp);
    H_ENSURE(h_write_file(conf, "[broker]\nresend_ms = soon\n", 0600) == KR_OK,
             "write %s", conf);
    char *b4[] = {(char *)H_KRBROKER, "-c",   conf, "--data_dir", dir,
                  "--keys",           secret, NULL};
    s_expect_exit(b4, 2, "resend_ms", "krbroker with resend_ms = soon");

    h_secret_path(c->nodes[t->vl].keys, secret, sizeof(secret));
    snprintf(dir, sizeof(dir), "%s/bad-node", c->tmp);
    char *n1[] = {
        (char *)H_KRNODE, "--org",        S_VL_ORG, "--data_dir", dir, "--keys",
        secret,           "--broker_key", bpub,     "--window",   "0", NULL};
    s_expect_exit(n1, 2, "window", "krnode --window 0");
    char *n2[] = {(char *)H_KRNODE,
                  "--org",
                  S_VL_ORG,
                  "--data_dir",
                  dir,
                  "--keys",
                  secret,
                  "--broker_key",
                  bpub,
                  "--no_such_option",
                  "1",
                  NULL};
    s_expect_exit(n2, 2, "no_such_option", "krnode --no_such_option");
    char *n3[] = {
        (char *)H_KRNODE, "--org", "midwives",     "--data_dir", dir,
        "--keys",         secret,  "--broker_key", bpub,         NULL};
    s_expect_exit(n3, 2, "org", "krnode --org midwives");
    snprintf(conf, sizeof(conf), "%s/bad-node.ini", c->tmp);
    H_ENSURE(h_write_file(conf, "[node]\nmap_size_mb = lots\n", 0600) == KR_OK,
             "write %s", conf);
    char *n4[] = {(char *)H_KRNODE, "-c",           conf, "--org",
                  S_VL_ORG,         "--data_dir",   dir,  "--keys",
                  secret,           "--broker_key", bpub, NULL};
    s_expect_exit(n4, 2, "map_size_mb", "krnode with map_size_mb = lots");

    /* krctl's exit codes. */
    char nowhere[H_PATH + 64];
    snprintf(nowhere, sizeof(nowhere), "ipc://%s/nowhere.sock", c->tmp);
    char *k1[] = {(char *)H_KRCTL, "--no-such-flag", "org", "list", NULL};
    s_expect_exit(k1, 2, "no-such-flag", "krctl --no-such-flag");
    char *k2[] = {(char *)H_KRCTL, "--admin", nowhere, "--timeout",
                  "300",           "org",     "list",  NULL};
    s_expect_exit(k2, 3, "nowhere.sock", "krctl against no broker");
    char *k3[] = {(char *)H_KRCTL, "--admin",      c->admin, "org",
                  "suspend",       "ura:77777777", NULL};
    s_expect_exit(k3, 1, "organisation",
                  "krctl org suspend of an unknown "
                  "organisation");
    H_CHECK(h_proc_alive(&c->broker), "the real broker is unaffected");
}

int
main(void)
{
    static struct s_test t;
    struct h_referral ref;
    char pub[H_PATH + 32];

    h_init("bad_input", 240);
    h_cluster_init(&t.c, "bad_input");
    char maxenv[32];
    snprintf(maxenv, sizeof(maxenv), "%d", S_MAX_ENVELOPE);
    h_broker_set(&t.c, "max_envelope_bytes", maxenv);
    h_broker_start(&t.c);
    t.vl = h_org_add(&t.c, "vl", S_VL_ORG, "verloskunde",
                     "Verloskundigenpraktijk De Wieg");
    t.jgz = h_org_add(&t.c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    t.tester = h_org_add(&t.c, "tester", S_TESTER_ORG, "kraamzorg",
                         "Kraamzorg Test (raw wire client)");
    h_secret_path(t.c.nodes[t.tester].keys, t.tester_secret,
                  sizeof(t.tester_secret));
    h_public_path(t.c.broker_keys, t.broker_public, sizeof(t.broker_public));
    h_public_path(t.c.nodes[t.jgz].keys, pub, sizeof(pub));
    H_ENSURE(kcrypto_pubkeys_load(pub, &t.jgz_pub) == KR_OK, "load jgz.public");
    h_referral_default(&ref);
    ref.reason_text = "from the raw wire client";
    H_ENSURE(h_content_pack(&ref, &t.content, &t.content_len) == KR_OK,
             "pack a referral");
    h_node_start(&t.c, t.vl);
    h_node_start(&t.c, t.jgz);
    if (!h_node_wait_connected(&t.c, t.vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&t.c, t.jgz, H_CONNECT_MS))
        h_abort();
    /* Deny by default: the woman's consent comes first. */
    H_REQUIRE(h_consent_default(&t.c, t.vl, t.jgz), "consent recorded");

    /* A message of vl's, whose msg_id the tester will try to reuse. */
    uint8_t vl_id[16];
    H_REQUIRE(h_send_referral(h_node_client(&t.c, t.vl), S_JGZ_ORG, &ref, NULL,
                              vl_id) == KR_OK,
              "vl sends a first referral");

    s_malformed(&t);
    s_refusals(&t, vl_id);
    s_tampered(&t);
    s_unknown_key(&t);
    s_suspension(&t);
    s_startup_errors(&t);

    free(t.content);
    return h_finish(&t.c);
}
