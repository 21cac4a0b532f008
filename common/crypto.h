/*
 * crypto.h - the one module that speaks libsodium (its functions are
 * kcrypto_*: libsodium owns the crypto_* names): organisation keys and
 * their files, payload sealing, envelope signatures and subject pseudonyms.
 *
 * Secret keys live in sodium_malloc'd memory (guarded, locked, wiped on
 * free). Functions fail closed: on any error no output is to be used.
 */
#ifndef KR_CRYPTO_H
#define KR_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "kr.h"

#define KR_KEY_LEN 32
#define KR_SIGN_SK_LEN 64
#define KR_SIG_LEN 64
#define KR_NONCE_LEN 24
#define KR_MAC_LEN 16 /* added to a sealed payload */
#define KR_PSEUDONYM_LEN 32
#define KR_KEY_ID_LEN 17  /* 16 hex digits and a NUL */
#define KR_Z85_KEY_LEN 41 /* 40 Z85 characters and a NUL */

/* An organisation's (or the broker's) three public keys. */
typedef struct {
    uint8_t curve[KR_KEY_LEN]; /* ZeroMQ CURVE transport key */
    uint8_t box[KR_KEY_LEN];   /* X25519 payload sealing key */
    uint8_t sign[KR_KEY_LEN];  /* Ed25519 signature key */
} kr_pubkeys_t;

/* The public keys and their secret halves. Always in sodium_malloc memory:
 * create with kcrypto_keys_generate() or kcrypto_keys_load(). */
typedef struct {
    kr_pubkeys_t pub;
    uint8_t curve_secret[KR_KEY_LEN];
    uint8_t box_secret[KR_KEY_LEN];
    uint8_t sign_secret[KR_SIGN_SK_LEN];
} kr_keys_t;

/* The coalition key for subject pseudonyms, held only by nodes. */
typedef struct {
    uint32_t version; /* carried in envelopes as key version */
    uint8_t key[KR_KEY_LEN];
} kr_coalition_key_t;

/* sodium_init(); call once at start. KR_ESYS if libsodium cannot start. */
int kcrypto_init(void);

/* Fresh keypairs in secure memory. */
int kcrypto_keys_generate(kr_keys_t **out);
void kcrypto_keys_destroy(kr_keys_t **kp);

/* Key files are text, "name = value" lines (INI without sections), with
 * keys in Z85 (the encoding ZeroMQ uses for CURVE keys):
 *   <path>.secret  curve_secret, box_secret, sign_secret and the public keys;
 *                  written with mode 0600;
 *   <path>.public  curve_public, box_public, sign_public.
 * kcrypto_keys_save() refuses to overwrite an existing secret file. */
int kcrypto_keys_save(const kr_keys_t *keys, const char *path_prefix);
/* Load a .secret file. KR_EPERM if its mode lets group or others read or
 * write it, or if it is not a regular file; KR_EINVAL if a key is malformed
 * or the public keys do not match the secret ones. */
int kcrypto_keys_load(const char *secret_path, kr_keys_t **out);
/* Load a .public file. */
int kcrypto_pubkeys_load(const char *public_path, kr_pubkeys_t *out);

/* A stable short id for a public key: hex of the first 8 bytes of its
 * BLAKE2b-256 hash. Used in envelopes and logs ("fingerprint"). */
void kcrypto_key_id(const uint8_t pk[KR_KEY_LEN], char out[KR_KEY_ID_LEN]);

/* BLAKE2b-256 of len bytes. */
void kcrypto_hash(const uint8_t *in, size_t len, uint8_t out[32]);
/* BLAKE2b-256 of a || b, without joining them first. */
void kcrypto_hash2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                   uint8_t out[32]);

/* Z85 for 32-byte keys (as ZeroMQ's CURVE options take them). */
int kcrypto_z85_encode(const uint8_t key[KR_KEY_LEN], char out[KR_Z85_KEY_LEN]);
int kcrypto_z85_decode(const char *z85, uint8_t key[KR_KEY_LEN]);

/* The precomputed crypto_box key between my box secret and a peer's box
 * public key. Compute once per peer and cache it: the X25519 behind it
 * costs about 25 times one seal. KR_ECRYPTO for a weak peer key. */
int kcrypto_shared_key(const uint8_t peer_box_pk[KR_KEY_LEN],
                       const uint8_t my_box_sk[KR_KEY_LEN],
                       uint8_t shared[KR_KEY_LEN]);
/* Seal len bytes: picks a random nonce, writes len + KR_MAC_LEN bytes to
 * out. */
int kcrypto_seal(const uint8_t shared[KR_KEY_LEN], const uint8_t *plain,
                 size_t len, uint8_t nonce[KR_NONCE_LEN], uint8_t *out);
/* Open len bytes (len >= KR_MAC_LEN) into out (len - KR_MAC_LEN bytes).
 * KR_ECRYPTO if it does not authenticate. */
int kcrypto_open(const uint8_t shared[KR_KEY_LEN], const uint8_t *sealed,
                 size_t len, const uint8_t nonce[KR_NONCE_LEN], uint8_t *out);

/* Ed25519 detached signatures over a serialized envelope. */
int kcrypto_sign(const kr_keys_t *keys, const uint8_t *msg, size_t len,
                 uint8_t sig[KR_SIG_LEN]);
/* KR_ECRYPTO if the signature does not verify. */
int kcrypto_verify(const uint8_t sign_pk[KR_KEY_LEN], const uint8_t *msg,
                   size_t len, const uint8_t *sig, size_t sig_len);

/* Coalition key file: "version = N" and "key = <64 hex digits>", mode 0600
 * (refused, KR_EPERM, when group or others can read it). */
int kcrypto_coalition_key_generate(const char *path, uint32_t version);
int kcrypto_coalition_key_load(const char *path, kr_coalition_key_t **out);
void kcrypto_coalition_key_destroy(kr_coalition_key_t **kp);

/* HMAC-SHA256(key, "nl:bsn:" || bsn). The BSN must be 9 digits that pass
 * the eleven-test (elfproef); KR_EINVAL otherwise. */
int kcrypto_pseudonym(const kr_coalition_key_t *ck, const char *bsn,
                      uint8_t out[KR_PSEUDONYM_LEN]);
/* The eleven-test of a BSN: 1 if valid, 0 if not. */
int kcrypto_bsn_valid(const char *bsn);

#endif
