/* seal.c - envelopes: build, seal and sign what adapters send; verify and
 * open what the broker delivers (PROTOCOL.md, "Envelope, sealing and
 * signature" and "Receiving").
 *
 * The X25519 behind a crypto_box costs about 25 seals, so the shared key of
 * each peer is computed once and kept. Those keys are secrets: they live in
 * one sodium_malloc'd array (guarded, locked, wiped when freed). That is
 * the only use of libsodium here; the cryptography itself is crypto.c's.
 * Opened content is parsed in the node's arena (node.h). */
#include <sodium.h>
#include <string.h>

#include "log.h"
#include "node.h"

struct seal_slot {
    uint8_t peer_pk[KR_KEY_LEN]; /* the box key 'shared' was computed for */
    uint8_t shared[KR_KEY_LEN];
    uint8_t valid;
};

int
seal_init(struct seal *s, const kr_keys_t *keys, struct arena *pb)
{
    memset(s, 0, sizeof(*s));
    s->keys = keys;
    s->pb = pb;
    kcrypto_key_id(keys->pub.sign, s->sign_key_id);
    kcrypto_key_id(keys->pub.box, s->box_key_id);
    s->capslots = 16;
    s->slots = sodium_allocarray(s->capslots, sizeof(*s->slots));
    if (s->slots == NULL) {
        log_errorx("seal: init: no secure memory");
        return KR_ENOMEM;
    }
    sodium_memzero(s->slots, s->capslots * sizeof(*s->slots));
    return KR_OK;
}

int
seal_load_previous(struct seal *s, const char *path)
{
    int rc = kcrypto_keys_load(path, &s->prev);

    if (rc != KR_OK) {
        log_errorx("previous_keys: cannot load %s: %s%s", path, kr_strerror(rc),
                   rc == KR_EPERM ? " (chmod 600 it; the .secret file)" : "");
        return rc;
    }
    kcrypto_key_id(s->prev->pub.box, s->prev_box_key_id);
    log_info("seal: previous box_key=%s opens what was sealed to it",
             s->prev_box_key_id);
    return KR_OK;
}

void
seal_fini(struct seal *s)
{
    kcrypto_keys_destroy(&s->prev);
    if (s->slots != NULL)
        sodium_free(s->slots); /* wipes them */
    s->slots = NULL;
    if (s->cipher.data != NULL)
        sodium_memzero(s->cipher.data, s->cipher.cap);
    buf_free(&s->cipher);
    buf_free(&s->env);
}

/* The shared key with p, computed now if the cache has none for p's
 * current box key. */
static int
s_shared(struct seal *s, struct peer *p, const uint8_t **out)
{
    struct seal_slot *sl;
    int rc;

    if (p->shared_slot < 0) {
        if (s->nslots == s->capslots) {
            size_t cap = s->capslots * 2;
            struct seal_slot *n = sodium_allocarray(cap, sizeof(*n));
            if (n == NULL) {
                log_errorx("seal: no secure memory for shared keys");
                return KR_ENOMEM;
            }
            sodium_memzero(n, cap * sizeof(*n));
            memcpy(n, s->slots, s->nslots * sizeof(*n));
            sodium_free(s->slots);
            s->slots = n;
            s->capslots = cap;
        }
        p->shared_slot = (int)s->nslots++;
    }
    sl = &s->slots[p->shared_slot];
    if (!sl->valid || memcmp(sl->peer_pk, p->box, KR_KEY_LEN) != 0) {
        sl->valid = 0;
        rc = kcrypto_shared_key(p->box, s->keys->box_secret, sl->shared);
        if (rc != KR_OK) {
            log_warnx("seal: peer org=%s box_key=%s: no shared key: %s",
                      p->org_id, p->box_key_id, kr_strerror(rc));
            return rc;
        }
        memcpy(sl->peer_pk, p->box, KR_KEY_LEN);
        sl->valid = 1;
    }
    *out = sl->shared;
    return KR_OK;
}

int
seal_build(struct seal *s, struct peer *p, const Kr__V1__SendRequest *req,
           const struct seal_fields *f, const uint8_t **env, size_t *env_len,
           uint8_t sig[KR_SIG_LEN])
{
    Kr__V1__Envelope e = KR__V1__ENVELOPE__INIT;
    Kr__V1__Sealed sealed = KR__V1__SEALED__INIT;
    uint8_t nonce[KR_NONCE_LEN];
    const uint8_t *shared;
    int rc;

    if ((rc = s_shared(s, p, &shared)) != KR_OK)
        return rc;
    buf_reserve(&s->cipher, req->content.len + KR_MAC_LEN);
    rc = kcrypto_seal(shared, req->content.data, req->content.len, nonce,
                      s->cipher.data);
    if (rc != KR_OK)
        return rc;
    s->cipher.len = req->content.len + KR_MAC_LEN;

    sealed.alg = KR__V1__SEAL_ALG__BOX_X25519_XSALSA20_POLY1305;
    sealed.sender_key_id = s->box_key_id;
    sealed.recipient_key_id = p->box_key_id;
    sealed.nonce.data = nonce;
    sealed.nonce.len = sizeof(nonce);
    sealed.ciphertext.data = s->cipher.data;
    sealed.ciphertext.len = s->cipher.len;

    /* The envelope borrows the request's bytes: nothing is copied but the
     * one packing below. */
    e.version = KR__V1__VERSION__VERSION_1;
    e.msg_id.data = (uint8_t *)f->msg_id;
    e.msg_id.len = KR_ID_LEN;
    e.type = req->type;
    e.created_at_ms = f->created_at_ms;
    e.sender = (char *)f->sender;
    e.sender_key_id = s->sign_key_id;
    e.recipient = p->org_id;
    if (f->referral_id != NULL) {
        e.referral_id.data = (uint8_t *)f->referral_id;
        e.referral_id.len = KR_ID_LEN;
    } else {
        e.referral_id = req->referral_id;
    }
    e.case_id = req->case_id;
    e.in_reply_to = req->in_reply_to;
    if (f->pseudonym != NULL) {
        e.subject_pseudonym.data = (uint8_t *)f->pseudonym;
        e.subject_pseudonym.len = KR_PSEUDONYM_LEN;
        e.subject_key_version = f->key_version;
    }
    if (f->prev_pseudonym != NULL) {
        e.previous_subject_pseudonym.data = (uint8_t *)f->prev_pseudonym;
        e.previous_subject_pseudonym.len = KR_PSEUDONYM_LEN;
        e.previous_subject_key_version = f->prev_key_version;
    }
    e.purpose = req->purpose;
    e.data_category = req->data_category;
    e.legal_basis = req->legal_basis;
    e.consent_id = req->consent_id;
    if (f->scope != NULL) {
        /* A grant's clear fields are its scope's: the broker files the
         * record under them, and the recipient reads them the same way. */
        e.consent_scope = (Kr__V1__ConsentScope *)f->scope;
        e.consent_id = f->scope->consent_id;
        e.purpose = f->scope->purpose;
        e.data_category = f->scope->data_category;
    }
    if (f->justification_digest != NULL) {
        e.justification_digest.data = (uint8_t *)f->justification_digest;
        e.justification_digest.len = NODE_DIGEST_LEN;
    }
    e.task_status = f->task_status;
    e.cancel_step = f->cancel_step;
    e.signal_withdraw = req->signal_withdraw;
    e.signal_id = req->signal_id;
    e.status_reason = (char *)(f->status_reason ? f->status_reason : "");
    e.status_outcome = (char *)(f->status_outcome ? f->status_outcome : "");
    e.priority = req->priority;
    e.not_after_ms = req->not_after_ms;
    e.trace_id.data = (uint8_t *)f->trace_id;
    e.trace_id.len = KR_ID_LEN;
    e.actor_ref = req->actor_ref;
    e.payload = &sealed;

    /* Sign the exact bytes that travel: the broker stores and forwards
     * them unchanged, so the recipient verifies these very bytes. */
    buf_pack(&s->env, &e.base);
    if ((rc = kcrypto_sign(s->keys, s->env.data, s->env.len, sig)) != KR_OK)
        return rc;
    *env = s->env.data;
    *env_len = s->env.len;
    return KR_OK;
}

int
seal_open(struct seal *s, struct peer *p, const Kr__V1__Envelope *env,
          const uint8_t *env_bytes, size_t env_len, const uint8_t *sig,
          size_t sig_len, bool sig_checked, const uint8_t **content,
          size_t *content_len, int *reason)
{
    const Kr__V1__Sealed *pl = env->payload;
    Kr__V1__Content *c;
    const uint8_t *shared;
    size_t plain_len;
    /* Made before the sender's rekey (link_recv.c checked the grace)? */
    bool sender_prev = p->has_prev && env->sender_key_id != NULL &&
                       strcmp(env->sender_key_id, p->sign_key_id) != 0 &&
                       strcmp(env->sender_key_id, p->prev_sign_key_id) == 0;
    const uint8_t *sign_pk = sender_prev ? p->prev_sign : p->sign;
    const kr_keys_t *own = s->keys;
    uint8_t once[KR_KEY_LEN];
    int rc;

    if (sender_prev)
        sig_checked = false; /* a check made ahead used p->sign */
    /* Verify before opening: never decrypt what its sender did not sign. */
    if (!sig_checked &&
        kcrypto_verify(sign_pk, env_bytes, env_len, sig, sig_len) != KR_OK) {
        *reason = KR__V1__REASON__BAD_SIGNATURE;
        return KR_ECRYPTO;
    }
    *reason = KR__V1__REASON__CANNOT_OPEN;
    if (pl == NULL ||
        pl->alg != KR__V1__SEAL_ALG__BOX_X25519_XSALSA20_POLY1305 ||
        pl->nonce.len != KR_NONCE_LEN || pl->ciphertext.len < KR_MAC_LEN)
        return KR_EPROTO;
    if (pl->recipient_key_id != NULL && pl->recipient_key_id[0] != '\0' &&
        strcmp(pl->recipient_key_id, s->box_key_id) != 0) {
        if (s->prev == NULL ||
            strcmp(pl->recipient_key_id, s->prev_box_key_id) != 0) {
            log_warnx("seal: sealed for box key %.20s, ours is %s%s%s",
                      pl->recipient_key_id, s->box_key_id,
                      s->prev != NULL ? ", previous " : "",
                      s->prev != NULL ? s->prev_box_key_id : "");
            return KR_ECRYPTO;
        }
        own = s->prev; /* sealed before our rekey */
    }
    if (own == s->keys && !sender_prev) {
        if (s_shared(s, p, &shared) != KR_OK)
            return KR_ECRYPTO;
    } else {
        /* Rare (a grace period): no cache, the key wiped after use. */
        if (kcrypto_shared_key(sender_prev ? p->prev_box : p->box,
                               own->box_secret, once) != KR_OK)
            return KR_ECRYPTO;
        shared = once;
    }
    plain_len = pl->ciphertext.len - KR_MAC_LEN;
    buf_reserve(&s->cipher, plain_len + 1);
    rc = kcrypto_open(shared, pl->ciphertext.data, pl->ciphertext.len,
                      pl->nonce.data, s->cipher.data);
    sodium_memzero(once, sizeof(once));
    if (rc != KR_OK)
        return KR_ECRYPTO;
    s->cipher.len = plain_len;
    /* Only content an adapter can read goes into the inbox. The parse is a
     * check only: what it unpacked goes with the scope. */
    struct arena_mark mark = arena_mark(s->pb);
    c = kr__v1__content__unpack(arena_allocator(s->pb), plain_len,
                                s->cipher.data);
    if (c == NULL) {
        arena_release(s->pb, mark);
        return KR_EPROTO;
    }
    /* The meldrecht is the one way past consent: the recipient takes it
     * only with the reason for it, the very one the broker saw the digest
     * of (Wmo 2015 art. 5.2.6). */
    if (env->legal_basis == KR__V1__LEGAL_BASIS__MELDRECHT) {
        uint8_t digest[NODE_DIGEST_LEN];
        size_t jlen = c->justification != NULL ? strlen(c->justification) : 0;

        if (jlen > 0)
            kcrypto_hash((const uint8_t *)c->justification, jlen, digest);
        if (jlen == 0 || env->justification_digest.len != NODE_DIGEST_LEN ||
            memcmp(digest, env->justification_digest.data, NODE_DIGEST_LEN) !=
                0) {
            arena_release(s->pb, mark);
            *reason = KR__V1__REASON__MISSING_JUSTIFICATION;
            return KR_EINVAL;
        }
    }
    arena_release(s->pb, mark);
    *reason = KR__V1__REASON__REASON_NONE;
    *content = s->cipher.data;
    *content_len = plain_len;
    return KR_OK;
}
