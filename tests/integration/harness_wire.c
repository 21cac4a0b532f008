/*
 * harness_wire.c - a raw node-to-broker connection for the bad-input
 * tests: a DEALER with CURVE, as PROTOCOL.md describes a node's, that can
 * send anything (bytes, multipart messages, frames, envelopes with
 * defects) and records what the broker answers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "harness_internal.h"

#define S_MAX_ACKS 256
/* Longest a send may wait for a peer. */
#define S_SEND_MS 1000

static int s_monitor_serial;

int
h_wire_open(struct h_wire *w, const char *endpoint, const char *secret_path,
            const char *broker_public, const char *org)
{
    kr_pubkeys_t bpub;
    char mon_ep[64];
    int linger = 0, ivl = 100, rc;

    memset(w, 0, sizeof(*w));
    snprintf(w->org, sizeof(w->org), "%s", org != NULL ? org : "");
    rc = secret_path != NULL ? kcrypto_keys_load(secret_path, &w->keys)
                             : kcrypto_keys_generate(&w->keys);
    if (rc != KR_OK)
        goto fail;
    if ((rc = kcrypto_pubkeys_load(broker_public, &bpub)) != KR_OK)
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
        zmq_setsockopt(w->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)) != 0)
        goto fail;
    /* The monitor must exist before the connection, or its first events
     * (the handshake's outcome) are lost. */
    snprintf(mon_ep, sizeof(mon_ep), "inproc://h-wire-mon-%d",
             ++s_monitor_serial);
    if (zmq_socket_monitor(w->sock, mon_ep, ZMQ_EVENT_ALL) != 0 ||
        (w->mon = zmq_socket(w->ctx, ZMQ_PAIR)) == NULL ||
        zmq_setsockopt(w->mon, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_connect(w->mon, mon_ep) != 0)
        goto fail;
    if (zmq_connect(w->sock, endpoint) != 0)
        goto fail;
    return KR_OK;
fail:
    h_note("wire: open %s: %s / %s", endpoint, kr_strerror(rc),
           zmq_strerror(errno));
    h_wire_close(w);
    return rc;
}

void
h_wire_close(struct h_wire *w)
{
    if (w->sock != NULL)
        zmq_socket_monitor(w->sock, NULL, 0);
    if (w->mon != NULL)
        zmq_close(w->mon);
    if (w->sock != NULL)
        zmq_close(w->sock);
    if (w->ctx != NULL)
        zmq_ctx_term(w->ctx);
    kcrypto_keys_destroy(&w->keys);
    free(w->receipts);
    memset(w, 0, sizeof(*w));
}

/* One part, without blocking for longer than S_SEND_MS: a DEALER without
 * a peer (a refused handshake) would otherwise block for ever. */
static int
s_send(struct h_wire *w, const void *data, size_t len, int flags)
{
    uint64_t deadline = h_mono_ms() + S_SEND_MS;

    for (int i = 0; i < 100000; i++) {
        if (zmq_send(w->sock, data, len, flags | ZMQ_DONTWAIT) >= 0)
            return KR_OK;
        if (errno != EAGAIN && errno != EINTR)
            return KR_ESYS;
        if (h_mono_ms() >= deadline)
            break;
        h_wire_pump(w, 10);
    }
    return KR_EUNAVAIL;
}

int
h_wire_send_bytes(struct h_wire *w, const void *data, size_t len)
{
    return s_send(w, data, len, 0);
}

int
h_wire_send_parts(struct h_wire *w, const void *const *parts,
                  const size_t *lens, size_t n)
{
    /* Once the first part is queued, the rest go at once (atomic). */
    for (size_t i = 0; i < n; i++) {
        int rc = s_send(w, parts[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0);
        if (rc != KR_OK)
            return rc;
    }
    return KR_OK;
}

int
h_wire_send_frame(struct h_wire *w, const Kr__V1__Frame *f)
{
    size_t len = kr__v1__frame__get_packed_size(f);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    int rc;

    if (buf == NULL)
        return KR_ENOMEM;
    kr__v1__frame__pack(f, buf);
    rc = h_wire_send_bytes(w, buf, len);
    free(buf);
    return rc;
}

int
h_wire_send_hello(struct h_wire *w, const char *org_id, uint32_t window)
{
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__Hello h = KR__V1__HELLO__INIT;

    f.version = KR__V1__VERSION__VERSION_1;
    h.org_id = (char *)org_id;
    h.window = window;
    f.hello = &h;
    return h_wire_send_frame(w, &f);
}

int
h_wire_send_submit(struct h_wire *w, const uint8_t *env, size_t env_len,
                   const uint8_t *sig, size_t sig_len)
{
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__Submit s = KR__V1__SUBMIT__INIT;
    Kr__V1__Submit *sp = &s;

    f.version = KR__V1__VERSION__VERSION_1;
    s.envelope.data = (uint8_t *)env;
    s.envelope.len = env_len;
    s.signature.data = (uint8_t *)sig;
    s.signature.len = sig_len;
    f.submit = &sp;
    f.n_submit = 1;
    return h_wire_send_frame(w, &f);
}

/* One monitor event: a 6-byte part (event, value) and the endpoint. */
static void
s_read_monitor(struct h_wire *w)
{
    for (int k = 0; k < 1000; k++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, w->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        if (zmq_msg_size(&m) >= 6) {
            uint16_t ev;
            memcpy(&ev, zmq_msg_data(&m), sizeof(ev));
            w->events |= ev;
        }
        int more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        for (int i = 0; more && i < 8; i++) {
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, w->mon, ZMQ_DONTWAIT) < 0)
                more = 0;
            else
                more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
    }
}

static void
s_record_receipt(struct h_wire *w, const Kr__V1__Receipt *r)
{
    if (w->nreceipts == w->capreceipts) {
        size_t cap = w->capreceipts ? 2 * w->capreceipts : 64;
        struct h_wire_receipt *n = realloc(w->receipts, cap * sizeof(*n));
        H_ENSURE(n != NULL, "memory for receipts");
        w->receipts = n;
        w->capreceipts = cap;
    }
    struct h_wire_receipt *x = &w->receipts[w->nreceipts++];
    memset(x, 0, sizeof(*x));
    x->has_id = r->msg_id.len == 16;
    if (x->has_id)
        memcpy(x->msg_id, r->msg_id.data, 16);
    x->outcome = r->outcome;
    x->reason = r->reason;
    x->seq = r->seq;
    snprintf(x->detail, sizeof(x->detail), "%s", r->detail ? r->detail : "");
}

/* Handle one frame: record it, acknowledge its durable receipts. */
static void
s_handle(struct h_wire *w, const uint8_t *data, size_t len)
{
    Kr__V1__Frame *f = kr__v1__frame__unpack(NULL, len, data);
    Kr__V1__Ack acks[S_MAX_ACKS], *aptrs[S_MAX_ACKS];
    size_t nacks = 0;

    w->nframes++;
    if (f == NULL) {
        w->nbad++;
        return;
    }
    for (size_t i = 0; i < f->n_receipt; i++) {
        s_record_receipt(w, f->receipt[i]);
        if (f->receipt[i]->seq != 0 && nacks < S_MAX_ACKS) {
            kr__v1__ack__init(&acks[nacks]);
            acks[nacks].seq = f->receipt[i]->seq;
            acks[nacks].msg_id = f->receipt[i]->msg_id;
            aptrs[nacks] = &acks[nacks];
            nacks++;
        }
    }
    w->ndeliveries += f->n_delivery;
    for (size_t i = 0; i < f->n_delivery; i++)
        if (f->delivery[i]->provisional_pass != 0)
            w->nearly++;
    w->nresults += f->n_pass_result;
    if (f->dir_response != NULL)
        w->ndir++;
    if (f->error != NULL && w->nerrors < 64) {
        w->error_fatal[w->nerrors] = f->error->fatal;
        w->errors[w->nerrors++] = f->error->reason;
    }
    if (nacks > 0) {
        /* A durable receipt is resent until acknowledged; the wire client
         * keeps nothing, so it may acknowledge at once. */
        Kr__V1__Frame a = KR__V1__FRAME__INIT;
        a.version = KR__V1__VERSION__VERSION_1;
        a.ack = aptrs;
        a.n_ack = nacks;
        h_wire_send_frame(w, &a);
    }
    kr__v1__frame__free_unpacked(f, NULL);
}

int
h_wire_pump(struct h_wire *w, int timeout_ms)
{
    uint64_t deadline =
        h_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    int frames = 0;

    for (int round = 0; round < 100000; round++) {
        zmq_pollitem_t it[2] = {{w->sock, 0, ZMQ_POLLIN, 0},
                                {w->mon, 0, ZMQ_POLLIN, 0}};
        uint64_t now = h_mono_ms();
        long left = now < deadline ? (long)(deadline - now) : 0;
        int n = zmq_poll(it, 2, left);
        if (n < 0 && errno != EINTR)
            break;
        if (it[1].revents & ZMQ_POLLIN)
            s_read_monitor(w);
        if (it[0].revents & ZMQ_POLLIN) {
            for (int k = 0; k < 1000; k++) {
                zmq_msg_t m;
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, w->sock, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&m);
                    break;
                }
                s_handle(w, zmq_msg_data(&m), zmq_msg_size(&m));
                zmq_msg_close(&m);
                frames++;
            }
        }
        /* Return as soon as something came, or at the deadline. */
        if (frames > 0 || n > 0 || h_mono_ms() >= deadline)
            break;
    }
    return frames;
}

static int
s_find_receipt(const struct h_wire *w, const uint8_t *msg_id, unsigned mask)
{
    for (size_t i = 0; i < w->nreceipts; i++) {
        const struct h_wire_receipt *r = &w->receipts[i];
        bool id_ok = msg_id == NULL
                         ? !r->has_id
                         : r->has_id && memcmp(r->msg_id, msg_id, 16) == 0;
        if (id_ok && (mask & (1u << r->outcome)) != 0)
            return (int)i;
    }
    return -1;
}

int
h_wire_wait_receipt(struct h_wire *w, const uint8_t *msg_id,
                    unsigned outcome_mask, int timeout_ms)
{
    uint64_t deadline = h_mono_ms() + (uint64_t)h_scale(timeout_ms);
    int i;

    for (int round = 0; round < 1000000; round++) {
        if ((i = s_find_receipt(w, msg_id, outcome_mask)) >= 0)
            return i;
        if (h_mono_ms() >= deadline)
            break;
        h_wire_pump(w, 50);
    }
    return s_find_receipt(w, msg_id, outcome_mask);
}

int
h_wire_wait_error(struct h_wire *w, size_t n, int timeout_ms)
{
    uint64_t deadline = h_mono_ms() + (uint64_t)h_scale(timeout_ms);

    for (int round = 0; round < 1000000 && w->nerrors <= n; round++) {
        if (h_mono_ms() >= deadline)
            break;
        h_wire_pump(w, 50);
    }
    return w->nerrors > n ? w->errors[n] : -1;
}

bool
h_wire_wait_event(struct h_wire *w, unsigned event, int timeout_ms)
{
    uint64_t deadline = h_mono_ms() + (uint64_t)h_scale(timeout_ms);

    for (int round = 0; round < 1000000 && (w->events & event) == 0; round++) {
        if (h_mono_ms() >= deadline)
            break;
        h_wire_pump(w, 50);
    }
    return (w->events & event) != 0;
}

int
h_envelope_build(const kr_keys_t *keys, const struct h_env_spec *spec,
                 uint8_t msg_id[16], uint8_t **env, size_t *env_len,
                 uint8_t sig[KR_SIG_LEN])
{
    Kr__V1__Envelope e = KR__V1__ENVELOPE__INIT;
    Kr__V1__Sealed s = KR__V1__SEALED__INIT;
    uint8_t shared[KR_KEY_LEN], nonce[KR_NONCE_LEN];
    uint8_t referral_id[16], trace_id[16];
    char sign_kid[KR_KEY_ID_LEN], box_kid[KR_KEY_ID_LEN],
        rcpt_kid[KR_KEY_ID_LEN];
    uint8_t *ct = NULL;
    size_t ct_len = spec->content_len + KR_MAC_LEN;
    int rc;

    *env = NULL;
    if ((rc = kcrypto_shared_key(spec->rcpt->box, keys->box_secret, shared)) !=
        KR_OK)
        return rc;
    if ((ct = malloc(ct_len)) == NULL)
        return KR_ENOMEM;
    if ((rc = kcrypto_seal(shared, spec->content, spec->content_len, nonce,
                           ct)) != KR_OK)
        goto done;
    if (spec->tamper == H_TAMPER_CIPHER_BEFORE_SIGN)
        ct[ct_len / 2] ^= 0x01;

    if (spec->msg_id != NULL)
        memcpy(msg_id, spec->msg_id, 16);
    else
        util_random_id(msg_id);
    util_random_id(referral_id);
    util_random_id(trace_id);
    kcrypto_key_id(keys->pub.sign, sign_kid);
    kcrypto_key_id(keys->pub.box, box_kid);
    kcrypto_key_id(spec->rcpt->box, rcpt_kid);
    s.alg = KR__V1__SEAL_ALG__BOX_X25519_XSALSA20_POLY1305;
    s.sender_key_id = box_kid;
    s.recipient_key_id = rcpt_kid;
    s.nonce.data = nonce;
    s.nonce.len = sizeof(nonce);
    s.ciphertext.data = ct;
    s.ciphertext.len = ct_len;
    e.version = spec->version != 0 ? spec->version : KR__V1__VERSION__VERSION_1;
    e.msg_id.data = msg_id;
    e.msg_id.len = 16;
    /* By default a COMMUNICATION: it carries no person data for the consent
     * gate to judge, so these transport tests test the transport. A test
     * of the gate sets the type and the fields it needs. */
    e.type = spec->type != 0 ? spec->type : KR__V1__MESSAGE_TYPE__COMMUNICATION;
    e.created_at_ms = util_now_ms();
    e.sender = (char *)spec->sender;
    e.sender_key_id = sign_kid;
    e.recipient = (char *)spec->recipient;
    /* A referral opens one under its own id; a COMMUNICATION outside a
     * referral names none (the broker would look for it). */
    if (e.type == KR__V1__MESSAGE_TYPE__REFERRAL ||
        e.type == KR__V1__MESSAGE_TYPE__HANDOVER) {
        e.referral_id.data = referral_id;
        e.referral_id.len = 16;
    }
    e.purpose = (char *)(spec->purpose != NULL ? spec->purpose
                                               : "prenataal-huisbezoek");
    e.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    e.legal_basis = spec->legal_basis != 0 ? spec->legal_basis
                                           : KR__V1__LEGAL_BASIS__CONSENT;
    e.priority = KR__V1__PRIORITY__ROUTINE;
    e.trace_id.data = trace_id;
    e.trace_id.len = 16;
    e.payload = &s;
    if (spec->subject_pseudonym != NULL) {
        e.subject_pseudonym.data = (uint8_t *)spec->subject_pseudonym;
        e.subject_pseudonym.len = 32;
        e.subject_key_version = spec->subject_key_version;
    }
    if (spec->consent_id != NULL) {
        e.consent_id.data = (uint8_t *)spec->consent_id;
        e.consent_id.len = 16;
    }
    e.consent_scope = (Kr__V1__ConsentScope *)spec->scope;
    if (spec->justification_digest != NULL) {
        e.justification_digest.data = (uint8_t *)spec->justification_digest;
        e.justification_digest.len = 32;
    }

    *env_len = kr__v1__envelope__get_packed_size(&e);
    if ((*env = malloc(*env_len)) == NULL) {
        rc = KR_ENOMEM;
        goto done;
    }
    kr__v1__envelope__pack(&e, *env);
    if ((rc = kcrypto_sign(keys, *env, *env_len, sig)) != KR_OK)
        goto done;
    if (spec->tamper == H_TAMPER_CIPHER_AFTER_SIGN) {
        /* Same length, one bit off: the bytes no longer match the
         * signature. */
        ct[ct_len / 2] ^= 0x01;
        kr__v1__envelope__pack(&e, *env);
    }
    if (spec->tamper == H_TAMPER_SIGNATURE)
        sig[KR_SIG_LEN / 2] ^= 0x01;
done:
    if (rc != KR_OK) {
        free(*env);
        *env = NULL;
    }
    free(ct);
    return rc;
}
