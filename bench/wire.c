/*
 * wire.c - the raw node-to-broker client and what it sends.
 *
 * A DEALER with CURVE, as docs/PROTOCOL.md describes a node's, without the
 * node's outbox: the broker under test does all it does for a node (the
 * consent gate, the group commit, the queues), while the client's own cost
 * stays small and out of the measurement. Envelopes are sealed and signed
 * exactly as a node seals and signs them (common/crypto.h), so that the
 * broker sees real traffic; the benchmark builds them before the clock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bench.h"
#include "content.pb-c.h"
#include "envelope.pb-c.h"
#include "util.h"

/* A send waits at most this long for room in the pipe. */
#define S_SEND_MS 5000
/* Reconnect quickly: the restart measurement must not wait for ZeroMQ's
 * default 100 ms between attempts. */
#define S_RECONNECT_MS 5
#define S_YEAR_MS (365ull * 24 * 3600 * 1000)

int
wire_open(struct wire *w, const char *endpoint, const char *secret_path,
          const char *broker_pub, const char *org)
{
    kr_pubkeys_t bpub;
    int linger = 0, ivl = S_RECONNECT_MS, sndtimeo = S_SEND_MS, rc;

    memset(w, 0, sizeof(*w));
    snprintf(w->org, sizeof(w->org), "%s", org);
    if ((rc = kcrypto_keys_load(secret_path, &w->keys)) != KR_OK)
        goto fail;
    if ((rc = kcrypto_pubkeys_load(broker_pub, &bpub)) != KR_OK)
        goto fail;
    rc = KR_ESYS;
    if ((w->ctx = zmq_ctx_new()) == NULL ||
        (w->sock = zmq_socket(w->ctx, ZMQ_DEALER)) == NULL)
        goto fail;
    if (zmq_setsockopt(w->sock, ZMQ_CURVE_SERVERKEY, bpub.curve, 32) != 0 ||
        zmq_setsockopt(w->sock, ZMQ_CURVE_PUBLICKEY, w->keys->pub.curve, 32) !=
            0 ||
        zmq_setsockopt(w->sock, ZMQ_CURVE_SECRETKEY, w->keys->curve_secret,
                       32) != 0 ||
        zmq_setsockopt(w->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_setsockopt(w->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)) != 0 ||
        zmq_setsockopt(w->sock, ZMQ_SNDTIMEO, &sndtimeo, sizeof(sndtimeo)) != 0)
        goto fail;
    if (zmq_connect(w->sock, endpoint) != 0)
        goto fail;
    return KR_OK;
fail:
    fprintf(stderr, "krbench: wire: open %s as %s: %s (%s)\n", endpoint, org,
            kr_strerror(rc), zmq_strerror(errno));
    wire_close(w);
    return rc;
}

void
wire_close(struct wire *w)
{
    if (w->sock != NULL)
        zmq_close(w->sock);
    if (w->ctx != NULL)
        zmq_ctx_term(w->ctx);
    kcrypto_keys_destroy(&w->keys);
    buf_free(&w->out);
    memset(w, 0, sizeof(*w));
}

int
wire_send(struct wire *w, const Kr__V1__Frame *f)
{
    buf_pack(&w->out, &f->base);
    for (int i = 0; i < 100; i++) {
        if (zmq_send(w->sock, w->out.data, w->out.len, 0) >= 0)
            return KR_OK;
        if (errno != EINTR)
            break;
    }
    return errno == EAGAIN ? KR_ETIMEDOUT : KR_ESYS;
}

int
wire_hello(struct wire *w, uint32_t window, bool want_directory)
{
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__Hello h = KR__V1__HELLO__INIT;

    f.version = KR__V1__VERSION__VERSION_1;
    h.org_id = w->org;
    h.window = window;
    h.want_directory = want_directory;
    /* traffic.c holds early deliveries until their result, as a node. */
    h.early_delivery = true;
    f.hello = &h;
    return wire_send(w, &f);
}

int
wire_recv(struct wire *w, int timeout_ms, Kr__V1__Frame **out)
{
    zmq_pollitem_t it = {w->sock, 0, ZMQ_POLLIN, 0};
    zmq_msg_t m;
    int rc = KR_OK;

    *out = NULL;
    if (zmq_poll(&it, 1, timeout_ms) < 0)
        return errno == EINTR ? KR_OK : KR_ESYS;
    if ((it.revents & ZMQ_POLLIN) == 0)
        return KR_OK;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, w->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return errno == EAGAIN || errno == EINTR ? KR_OK : KR_ESYS;
    }
    *out = kr__v1__frame__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    if (*out == NULL)
        rc = KR_EPROTO;
    zmq_msg_close(&m);
    return rc;
}

int
wire_poll2(struct wire *a, struct wire *b, int timeout_ms, bool *a_ready,
           bool *b_ready)
{
    zmq_pollitem_t it[2];
    int n = 0, ia = -1, ib = -1;

    *a_ready = *b_ready = false;
    if (a != NULL) {
        it[n] = (zmq_pollitem_t){a->sock, 0, ZMQ_POLLIN, 0};
        ia = n++;
    }
    if (b != NULL) {
        it[n] = (zmq_pollitem_t){b->sock, 0, ZMQ_POLLIN, 0};
        ib = n++;
    }
    if (zmq_poll(it, n, timeout_ms) < 0)
        return errno == EINTR ? KR_OK : KR_ESYS;
    *a_ready = ia >= 0 && (it[ia].revents & ZMQ_POLLIN) != 0;
    *b_ready = ib >= 0 && (it[ib].revents & ZMQ_POLLIN) != 0;
    return KR_OK;
}

/*
 * Messages.
 */

int
msg_ctx_init(struct msg_ctx *m, const kr_keys_t *keys, const char *sender,
             const char *recipient, const char *rcpt_public,
             const char *coalition, const char *bsn)
{
    kr_coalition_key_t *ck = NULL;
    kr_pubkeys_t rcpt;
    int rc;

    memset(m, 0, sizeof(*m));
    m->keys = keys;
    m->sender = sender;
    m->recipient = recipient;
    if ((rc = kcrypto_pubkeys_load(rcpt_public, &rcpt)) != KR_OK ||
        (rc = kcrypto_shared_key(rcpt.box, keys->box_secret, m->shared)) !=
            KR_OK ||
        (rc = kcrypto_coalition_key_load(coalition, &ck)) != KR_OK)
        goto done;
    /* The pseudonym a node computes for this BSN, so that raw clients and
     * nodes speak of the same subject under the same consent. */
    if ((rc = kcrypto_pseudonym(ck, bsn, m->pseudonym)) != KR_OK)
        goto done;
    m->key_version = ck->version;
    kcrypto_key_id(keys->pub.sign, m->sign_kid);
    kcrypto_key_id(keys->pub.box, m->box_kid);
    kcrypto_key_id(rcpt.box, m->rcpt_kid);
    util_random_id(m->consent_id);
done:
    kcrypto_coalition_key_destroy(&ck);
    return rc;
}

/* The test person of the integration tests: fictional throughout. */
static void
s_referral_fill(Kr__V1__Content *c, Kr__V1__Referral *ref, Kr__V1__Person *p,
                Kr__V1__Address *a, Kr__V1__Professional *pro)
{
    static char *codes[] = {(char *)"psychosociaal", (char *)"eerste-kind"};

    a->street = (char *)"Kastanjelaan";
    a->house_number = (char *)"12bis";
    a->postal_code = (char *)"3511 AB";
    a->city = (char *)"Utrecht";
    p->bsn = (char *)BENCH_BSN;
    p->given_name = (char *)"Fatima";
    p->family_name = (char *)"Zwartkruis-Elbaz";
    p->birth_date = (char *)"1994-03-17";
    p->address = a;
    p->phone = (char *)"+31612345678";
    pro->name = (char *)"J. de Vries";
    pro->role = (char *)"verloskundige";
    pro->agb = (char *)"02345678";
    ref->mother = p;
    ref->expected_delivery_date = (char *)"2026-08-01";
    ref->reason_codes = codes;
    ref->n_reason_codes = 2;
    ref->requested_service = (char *)BENCH_PURPOSE;
    ref->urgency = KR__V1__PRIORITY__ROUTINE;
    ref->referrer = pro;
    c->version = KR__V1__VERSION__VERSION_1;
    c->body_case = KR__V1__CONTENT__BODY_REFERRAL;
    c->referral = ref;
}

int
content_referral(size_t size, uint8_t **out, size_t *len)
{
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    Kr__V1__Referral ref = KR__V1__REFERRAL__INIT;
    Kr__V1__Person p = KR__V1__PERSON__INIT;
    Kr__V1__Address a = KR__V1__ADDRESS__INIT;
    Kr__V1__Professional pro = KR__V1__PROFESSIONAL__INIT;
    char *text;
    size_t base, pad;

    s_referral_fill(&c, &ref, &p, &a, &pro);
    base = kr__v1__content__get_packed_size(&c);
    if ((text = malloc(size + 1)) == NULL)
        return KR_ENOMEM;
    /* The free text fills the rest: one tag byte and a varint length go
     * with it, so try the largest that may fit and shrink to the size. */
    pad = size > base + 4 ? size - base - 2 : 0;
    for (int i = 0; i < 8; i++) {
        memset(text, 'x', pad);
        text[pad] = '\0';
        ref.reason_text = text;
        if (kr__v1__content__get_packed_size(&c) <= size || pad == 0)
            break;
        pad--;
    }
    *len = kr__v1__content__get_packed_size(&c);
    if ((*out = malloc(*len)) == NULL) {
        free(text);
        return KR_ENOMEM;
    }
    kr__v1__content__pack(&c, *out);
    free(text);
    return KR_OK;
}

int
content_evidence(uint8_t **out, size_t *len)
{
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    Kr__V1__ConsentEvidence ev = KR__V1__CONSENT_EVIDENCE__INIT;

    ev.given_on = (char *)"2026-01-05";
    ev.given_by_name = (char *)"A. Voorbeeld";
    ev.given_by_role = (char *)"zwangere";
    ev.form_reference = (char *)"epd:toestemming/bench";
    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_CONSENT_EVIDENCE;
    c.consent_evidence = &ev;
    *len = kr__v1__content__get_packed_size(&c);
    if ((*out = malloc(*len)) == NULL)
        return KR_ENOMEM;
    kr__v1__content__pack(&c, *out);
    return KR_OK;
}

size_t
envelope_max(size_t content_len)
{
    /* The sealed content, its MAC, and the clear fields (ids, names, the
     * pseudonym, key ids, tags): far less than 1 KiB. */
    return content_len + KR_MAC_LEN + 1024;
}

/* Seal, fill the fields every message of the benchmark shares, pack into
 * env (envelope_max bytes), sign. 'scope' is a grant's, or NULL. */
static int
s_envelope(const struct msg_ctx *m, int type, const uint8_t msg_id[16],
           const uint8_t *content, size_t content_len,
           Kr__V1__ConsentScope *scope, uint8_t *env, size_t *env_len,
           uint8_t sig[KR_SIG_LEN])
{
    Kr__V1__Envelope e = KR__V1__ENVELOPE__INIT;
    Kr__V1__Sealed s = KR__V1__SEALED__INIT;
    uint8_t nonce[KR_NONCE_LEN], referral_id[16], trace_id[16], *ct;
    size_t ct_len = content_len + KR_MAC_LEN;
    int rc;

    if ((ct = malloc(ct_len)) == NULL)
        return KR_ENOMEM;
    if ((rc = kcrypto_seal(m->shared, content, content_len, nonce, ct)) !=
        KR_OK)
        goto done;
    /* As a node makes them: rising with time (local.c). */
    util_time_ordered_id(referral_id);
    util_random_id(trace_id);
    s.alg = KR__V1__SEAL_ALG__BOX_X25519_XSALSA20_POLY1305;
    s.sender_key_id = (char *)m->box_kid;
    s.recipient_key_id = (char *)m->rcpt_kid;
    s.nonce.data = nonce;
    s.nonce.len = sizeof(nonce);
    s.ciphertext.data = ct;
    s.ciphertext.len = ct_len;
    e.version = KR__V1__VERSION__VERSION_1;
    e.msg_id.data = (uint8_t *)msg_id;
    e.msg_id.len = 16;
    e.type = type;
    e.created_at_ms = util_now_ms();
    e.sender = (char *)m->sender;
    e.sender_key_id = (char *)m->sign_kid;
    e.recipient = (char *)m->recipient;
    uint8_t subject[KR_PSEUDONYM_LEN];
    if (m->signal && type == KR__V1__MESSAGE_TYPE__REFERRAL) {
        /* A SIGNAL on a subject of its own: kept by the broker, which
         * reads the subject's family for a match first. */
        e.type = type = KR__V1__MESSAGE_TYPE__SIGNAL;
        e.recipient = (char *)m->sender;
        kcrypto_hash(msg_id, 16, subject);
    }
    if (type == KR__V1__MESSAGE_TYPE__REFERRAL) {
        e.referral_id.data = referral_id;
        e.referral_id.len = 16;
    }
    e.subject_pseudonym.data = type == KR__V1__MESSAGE_TYPE__SIGNAL
                                   ? subject
                                   : (uint8_t *)m->pseudonym;
    e.subject_pseudonym.len = KR_PSEUDONYM_LEN;
    e.subject_key_version = m->key_version;
    e.purpose =
        (char *)(type == KR__V1__MESSAGE_TYPE__SIGNAL ? BENCH_SIGNAL_PURPOSE
                                                      : BENCH_PURPOSE);
    e.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    e.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
    e.priority = KR__V1__PRIORITY__ROUTINE;
    e.trace_id.data = trace_id;
    e.trace_id.len = 16;
    e.payload = &s;
    if (scope != NULL) {
        e.consent_id = scope->consent_id;
        e.consent_scope = scope;
    }
    *env_len = kr__v1__envelope__get_packed_size(&e);
    if (*env_len > envelope_max(content_len)) {
        rc = KR_EINVAL;
        goto done;
    }
    kr__v1__envelope__pack(&e, env);
    /* The signature covers these exact bytes (PROTOCOL.md). */
    rc = kcrypto_sign(m->keys, env, *env_len, sig);
done:
    free(ct);
    return rc;
}

int
envelope_referral(const struct msg_ctx *m, const uint8_t msg_id[16],
                  const uint8_t *content, size_t content_len, uint8_t *env,
                  size_t *env_len, uint8_t sig[KR_SIG_LEN])
{
    return s_envelope(m, KR__V1__MESSAGE_TYPE__REFERRAL, msg_id, content,
                      content_len, NULL, env, env_len, sig);
}

int
envelope_grant(const struct msg_ctx *m, const uint8_t msg_id[16], uint8_t **env,
               size_t *env_len, uint8_t sig[KR_SIG_LEN])
{
    Kr__V1__ConsentScope sc = KR__V1__CONSENT_SCOPE__INIT;
    uint8_t *content = NULL;
    size_t clen = 0;
    uint64_t now = util_now_ms();
    int rc;

    *env = NULL;
    if ((rc = content_evidence(&content, &clen)) != KR_OK)
        return rc;
    /* What the broker checks (handle_consent.c): the same consent_id in
     * scope and envelope, a 32-byte pseudonym, purpose, data category,
     * each side one organisation in the directory, a period, a grantor,
     * and a sender that is one of the parties. */
    sc.consent_id.data = (uint8_t *)m->consent_id;
    sc.consent_id.len = KR_ID_LEN;
    sc.subject_pseudonym.data = (uint8_t *)m->pseudonym;
    sc.subject_pseudonym.len = KR_PSEUDONYM_LEN;
    sc.subject_key_version = m->key_version;
    sc.purpose = (char *)BENCH_PURPOSE;
    sc.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    sc.from_org = (char *)m->sender;
    sc.to_org = (char *)m->recipient;
    sc.valid_from_ms = now - 3600 * 1000ull;
    sc.valid_until_ms = now + S_YEAR_MS;
    sc.grantor = KR__V1__GRANTOR__SELF;
    if ((*env = malloc(envelope_max(clen) + 256)) == NULL) {
        rc = KR_ENOMEM;
        goto done;
    }
    rc = s_envelope(m, KR__V1__MESSAGE_TYPE__CONSENT_GRANT, msg_id, content,
                    clen, &sc, *env, env_len, sig);
    if (rc != KR_OK) {
        free(*env);
        *env = NULL;
    }
done:
    free(content);
    return rc;
}
