/* crypto.c - see crypto.h. With keyfile.c (the key files) the only module
 * that calls libsodium directly. */
#include "crypto.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "crypto_internal.h"
#include "log.h"
#include "util.h"

/* sodium_malloc() returns memory that ends at a guard page, so it is only
 * aligned for a type whose size is a multiple of its alignment. */
_Static_assert(sizeof(kr_keys_t) % _Alignof(kr_keys_t) == 0,
               "kr_keys_t must fill its alignment for sodium_malloc");
_Static_assert(sizeof(kr_coalition_key_t) % _Alignof(kr_coalition_key_t) == 0,
               "kr_coalition_key_t must fill its alignment for sodium_malloc");
_Static_assert(KR_KEY_LEN == crypto_box_PUBLICKEYBYTES &&
                   KR_KEY_LEN == crypto_box_SECRETKEYBYTES &&
                   KR_KEY_LEN == crypto_box_BEFORENMBYTES &&
                   KR_KEY_LEN == crypto_sign_PUBLICKEYBYTES &&
                   KR_KEY_LEN == crypto_sign_SEEDBYTES &&
                   KR_KEY_LEN == crypto_scalarmult_BYTES &&
                   KR_KEY_LEN == crypto_auth_hmacsha256_KEYBYTES,
               "key sizes");
_Static_assert(KR_SIGN_SK_LEN == crypto_sign_SECRETKEYBYTES &&
                   KR_SIG_LEN == crypto_sign_BYTES &&
                   KR_NONCE_LEN == crypto_box_NONCEBYTES &&
                   KR_MAC_LEN == crypto_box_MACBYTES &&
                   KR_PSEUDONYM_LEN == crypto_auth_hmacsha256_BYTES,
               "sizes");

int
kcrypto_init(void)
{
    /* 0: initialised now, 1: already initialised; both are fine. */
    if (sodium_init() < 0) {
        log_errorx("crypto: init: libsodium cannot start");
        return KR_ESYS;
    }
    return KR_OK;
}

/* Secure memory needs an initialised libsodium (sodium_malloc uses the page
 * size found by sodium_init). sodium_init() is cheap once done, so the
 * allocating functions call it rather than trust the caller did. */
void *
kcrypto_secure_alloc(size_t n)
{
    if (kcrypto_init() != KR_OK)
        return NULL;
    return sodium_malloc(n);
}

/*
 * Z85
 */

static const char s_z85_alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     ".-:+=^!/*?&<>()[]{}@%$#";

int
kcrypto_z85_encode(const uint8_t key[KR_KEY_LEN], char out[KR_Z85_KEY_LEN])
{
    if (zmq_z85_encode(out, key, KR_KEY_LEN) == NULL)
        return KR_EINVAL;
    return KR_OK;
}

int
kcrypto_z85_decode(const char *z85, uint8_t key[KR_KEY_LEN])
{
    uint8_t tmp[KR_KEY_LEN];
    char again[KR_Z85_KEY_LEN];
    int rc = KR_EINVAL;

    if (z85 == NULL || strnlen(z85, KR_Z85_KEY_LEN) != KR_Z85_KEY_LEN - 1)
        return KR_EINVAL;
    for (size_t i = 0; i < KR_Z85_KEY_LEN - 1; i++)
        if (strchr(s_z85_alphabet, z85[i]) == NULL)
            return KR_EINVAL;
    if (zmq_z85_decode(tmp, z85) == NULL)
        goto done;
    /* A group of five characters can denote a value above 2^32 - 1; only a
     * string that encodes back to itself is the one spelling of a key. */
    if (zmq_z85_encode(again, tmp, KR_KEY_LEN) == NULL ||
        memcmp(again, z85, KR_Z85_KEY_LEN - 1) != 0)
        goto done;
    memcpy(key, tmp, KR_KEY_LEN);
    rc = KR_OK;
done:
    /* The key may be a secret one. */
    sodium_memzero(tmp, sizeof(tmp));
    sodium_memzero(again, sizeof(again));
    return rc;
}

/*
 * Keys
 */

int
kcrypto_keys_generate(kr_keys_t **out)
{
    kr_keys_t *k;

    *out = NULL;
    if ((k = kcrypto_secure_alloc(sizeof(*k))) == NULL)
        return KR_ENOMEM;
    /* A ZeroMQ CURVE key pair is a Curve25519 pair, as crypto_box uses. */
    if (crypto_box_keypair(k->pub.curve, k->curve_secret) != 0 ||
        crypto_box_keypair(k->pub.box, k->box_secret) != 0 ||
        crypto_sign_keypair(k->pub.sign, k->sign_secret) != 0) {
        sodium_free(k);
        return KR_ECRYPTO;
    }
    *out = k;
    return KR_OK;
}

void
kcrypto_keys_destroy(kr_keys_t **kp)
{
    if (kp == NULL || *kp == NULL)
        return;
    sodium_free(*kp); /* wipes */
    *kp = NULL;
}

void
kcrypto_hash(const uint8_t *in, size_t len, uint8_t out[32])
{
    crypto_generichash(out, 32, in, len, NULL, 0);
}

void
kcrypto_hash2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
              uint8_t out[32])
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, a, alen);
    crypto_generichash_update(&st, b, blen);
    crypto_generichash_final(&st, out, 32);
}

void
kcrypto_key_id(const uint8_t pk[KR_KEY_LEN], char out[KR_KEY_ID_LEN])
{
    uint8_t h[crypto_generichash_BYTES];

    crypto_generichash(h, sizeof(h), pk, KR_KEY_LEN, NULL, 0);
    util_hex(h, (KR_KEY_ID_LEN - 1) / 2, out);
}

/*
 * Sealing and signatures
 */

int
kcrypto_shared_key(const uint8_t peer_box_pk[KR_KEY_LEN],
                   const uint8_t my_box_sk[KR_KEY_LEN],
                   uint8_t shared[KR_KEY_LEN])
{
    /* libsodium refuses a peer key of small order (the shared point would
     * be zero and the "secret" known to anyone). */
    if (crypto_box_beforenm(shared, peer_box_pk, my_box_sk) != 0) {
        sodium_memzero(shared, KR_KEY_LEN);
        return KR_ECRYPTO;
    }
    return KR_OK;
}

int
kcrypto_seal(const uint8_t shared[KR_KEY_LEN], const uint8_t *plain, size_t len,
             uint8_t nonce[KR_NONCE_LEN], uint8_t *out)
{
    if (len > crypto_box_MESSAGEBYTES_MAX)
        return KR_EINVAL;
    /* 24 random bytes: a nonce collision is out of reach, so no counter has
     * to survive restarts. */
    randombytes_buf(nonce, KR_NONCE_LEN);
    if (crypto_box_easy_afternm(out, plain, len, nonce, shared) != 0)
        return KR_ECRYPTO;
    return KR_OK;
}

int
kcrypto_open(const uint8_t shared[KR_KEY_LEN], const uint8_t *sealed,
             size_t len, const uint8_t nonce[KR_NONCE_LEN], uint8_t *out)
{
    if (len < KR_MAC_LEN)
        return KR_EINVAL;
    if (crypto_box_open_easy_afternm(out, sealed, len, nonce, shared) != 0)
        return KR_ECRYPTO;
    return KR_OK;
}

int
kcrypto_sign(const kr_keys_t *keys, const uint8_t *msg, size_t len,
             uint8_t sig[KR_SIG_LEN])
{
    if (crypto_sign_detached(sig, NULL, msg, len, keys->sign_secret) != 0)
        return KR_ECRYPTO;
    return KR_OK;
}

int
kcrypto_verify(const uint8_t sign_pk[KR_KEY_LEN], const uint8_t *msg,
               size_t len, const uint8_t *sig, size_t sig_len)
{
    if (sig == NULL || sig_len != KR_SIG_LEN)
        return KR_ECRYPTO;
    if (crypto_sign_verify_detached(sig, msg, len, sign_pk) != 0)
        return KR_ECRYPTO;
    return KR_OK;
}

/*
 * Coalition key and pseudonyms
 */

void
kcrypto_coalition_key_destroy(kr_coalition_key_t **kp)
{
    if (kp == NULL || *kp == NULL)
        return;
    sodium_free(*kp);
    *kp = NULL;
}

int
kcrypto_bsn_valid(const char *bsn)
{
    int sum = 0, nonzero = 0;

    if (bsn == NULL || strnlen(bsn, 10) != 9)
        return 0;
    for (int i = 0; i < 9; i++) {
        if (bsn[i] < '0' || bsn[i] > '9')
            return 0;
        int d = bsn[i] - '0';
        /* Weights 9..2 for the first eight digits, -1 for the last. */
        sum += (i < 8 ? 9 - i : -1) * d;
        nonzero |= d;
    }
    /* "000000000" passes the arithmetic but is no one's number. */
    return nonzero && sum % 11 == 0;
}

int
kcrypto_pseudonym(const kr_coalition_key_t *ck, const char *bsn,
                  uint8_t out[KR_PSEUDONYM_LEN])
{
    static const char domain[] = "nl:bsn:";
    crypto_auth_hmacsha256_state st;

    if (ck == NULL || !kcrypto_bsn_valid(bsn))
        return KR_EINVAL;
    /* The state holds the key, padded: wiped below. */
    crypto_auth_hmacsha256_init(&st, ck->key, KR_KEY_LEN);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)domain,
                                  sizeof(domain) - 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)bsn, 9);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
    return KR_OK;
}
