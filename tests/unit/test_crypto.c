/* test_crypto.c - unit tests for common/crypto.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "util.h"

/* A fresh temporary directory per test. */
struct s_tmp {
    char dir[64];
};

static int
s_setup(void **state)
{
    struct s_tmp *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/kr_test_crypto.XXXXXX");
    if (mkdtemp(t->dir) == NULL) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int
s_teardown(void **state)
{
    struct s_tmp *t = *state;
    char path[2 * PATH_MAX];
    struct dirent *e;
    DIR *d;

    /* The directory holds only plain files this test wrote. */
    if ((d = opendir(t->dir)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", t->dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    if (rmdir(t->dir) != 0)
        return -1;
    free(t);
    return 0;
}

static void
s_path(const struct s_tmp *t, const char *name, char *out)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", t->dir, name);

    assert_true(n > 0 && n < PATH_MAX);
}

static void
s_write(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    assert_int_equal(util_write_file_atomic(path, text, strlen(text), mode),
                     KR_OK);
    assert_int_equal(chmod(path, mode), 0);
}

static char *
s_read(const char *path)
{
    char *text = NULL;

    assert_int_equal(util_read_file(path, 1 << 20, &text, NULL), KR_OK);
    return text;
}

/* Replace the value of 'name' in key file text by 'value'. */
static void
s_replace_value(char *text, const char *name, const char *value)
{
    char needle[64];

    snprintf(needle, sizeof(needle), "%s = ", name);
    char *p = strstr(text, needle);
    assert_non_null(p);
    p += strlen(needle);
    assert_int_equal(strlen(value), 40);
    memcpy(p, value, 40);
}

static void
test_keys_round_trip(void **state)
{
    struct s_tmp *t = *state;
    char prefix[PATH_MAX], path[PATH_MAX];
    kr_keys_t *k = NULL, *l = NULL;
    kr_pubkeys_t pub;
    struct stat st;

    assert_int_equal(kcrypto_keys_generate(&k), KR_OK);
    assert_non_null(k);
    s_path(t, "org", prefix);
    assert_int_equal(kcrypto_keys_save(k, prefix), KR_OK);

    s_path(t, "org.secret", path);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(kcrypto_keys_load(path, &l), KR_OK);
    assert_non_null(l);
    assert_memory_equal(k, l, sizeof(*k));

    s_path(t, "org.public", path);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0022, 0); /* nobody else writes it */
    char *text = s_read(path);
    assert_null(strstr(text, "secret ="));
    free(text);
    memset(&pub, 0, sizeof(pub));
    assert_int_equal(kcrypto_pubkeys_load(path, &pub), KR_OK);
    assert_memory_equal(&pub, &k->pub, sizeof(pub));

    /* A second save to the same prefix must not replace the secret. */
    assert_int_equal(kcrypto_keys_save(l, prefix), KR_EEXIST);

    /* The loaded keys work: the signature of one verifies with the
     * public key of the other. */
    uint8_t sig[KR_SIG_LEN];
    assert_int_equal(kcrypto_sign(l, (const uint8_t *)"x", 1, sig), KR_OK);
    assert_int_equal(
        kcrypto_verify(k->pub.sign, (const uint8_t *)"x", 1, sig, sizeof(sig)),
        KR_OK);

    kcrypto_keys_destroy(&k);
    kcrypto_keys_destroy(&l);
    assert_null(k);
    assert_null(l);
    kcrypto_keys_destroy(&k); /* safe on NULL */
}

static void
test_keys_load_refusals(void **state)
{
    struct s_tmp *t = *state;
    char prefix[PATH_MAX], secret[PATH_MAX], bad[PATH_MAX];
    kr_keys_t *k = NULL, *other = NULL, *l = NULL;
    char z85[KR_Z85_KEY_LEN];

    assert_int_equal(kcrypto_keys_generate(&k), KR_OK);
    assert_int_equal(kcrypto_keys_generate(&other), KR_OK);
    s_path(t, "org", prefix);
    assert_int_equal(kcrypto_keys_save(k, prefix), KR_OK);
    s_path(t, "org.secret", secret);
    char *orig = s_read(secret);

    /* Readable by group or others. */
    assert_int_equal(chmod(secret, 0644), 0);
    assert_int_equal(kcrypto_keys_load(secret, &l), KR_EPERM);
    assert_null(l);
    assert_int_equal(chmod(secret, 0640), 0);
    assert_int_equal(kcrypto_keys_load(secret, &l), KR_EPERM);
    assert_int_equal(chmod(secret, 0602), 0);
    assert_int_equal(kcrypto_keys_load(secret, &l), KR_EPERM);
    assert_int_equal(chmod(secret, 0400), 0);
    assert_int_equal(kcrypto_keys_load(secret, &l), KR_OK);
    kcrypto_keys_destroy(&l);

    /* Not a regular file. */
    assert_int_equal(kcrypto_keys_load(t->dir, &l), KR_EPERM);
    /* Missing. */
    s_path(t, "nope.secret", bad);
    assert_int_equal(kcrypto_keys_load(bad, &l), KR_ENOTFOUND);

    /* A public key that does not belong to its secret key, for each of the
     * three pairs. */
    s_path(t, "bad.secret", bad);
    static const char *pubs[] = {"curve_public", "box_public", "sign_public"};
    const uint8_t *others[] = {other->pub.curve, other->pub.box,
                               other->pub.sign};
    for (int i = 0; i < 3; i++) {
        char *text = strdup(orig);
        assert_non_null(text);
        assert_int_equal(kcrypto_z85_encode(others[i], z85), KR_OK);
        s_replace_value(text, pubs[i], z85);
        s_write(bad, text, 0600);
        assert_int_equal(kcrypto_keys_load(bad, &l), KR_EINVAL);
        assert_null(l);
        free(text);
    }

    /* A truncated key value. */
    char *text = strdup(orig);
    assert_non_null(text);
    char *p = strstr(text, "box_secret = ");
    assert_non_null(p);
    memmove(p + 13 + 39, p + 13 + 40, strlen(p + 13 + 40) + 1);
    s_write(bad, text, 0600);
    assert_int_equal(kcrypto_keys_load(bad, &l), KR_EINVAL);
    free(text);

    /* A truncated file: the last line is missing. */
    text = strdup(orig);
    assert_non_null(text);
    p = strstr(text, "sign_secret = ");
    assert_non_null(p);
    *p = '\0';
    s_write(bad, text, 0600);
    assert_int_equal(kcrypto_keys_load(bad, &l), KR_EINVAL);

    /* An empty file, a duplicate line, an unknown name, a section. */
    s_write(bad, "", 0600);
    assert_int_equal(kcrypto_keys_load(bad, &l), KR_EINVAL);
    free(text);
    size_t n = strlen(orig);
    text = malloc(2 * n + 64);
    assert_non_null(text);
    memcpy(text, orig, n);
    memcpy(text + n, orig, n + 1);
    s_write(bad, text, 0600);
    assert_int_equal(kcrypto_keys_load(bad, &l), KR_EINVAL);
    snprintf(text, 2 * n + 64, "%scolour = blue\n", orig);
    s_write(bad, text, 0600);
    assert_int_equal(kcrypto_keys_load(bad, &l), KR_EINVAL);
    snprintf(text, 2 * n + 64, "[keys]\n%s", orig);
    s_write(bad, text, 0600);
    assert_int_equal(kcrypto_keys_load(bad, &l), KR_EINVAL);
    free(text);

    /* Untouched, the original still loads. */
    s_write(bad, orig, 0600);
    assert_int_equal(kcrypto_keys_load(bad, &l), KR_OK);
    kcrypto_keys_destroy(&l);

    free(orig);
    kcrypto_keys_destroy(&k);
    kcrypto_keys_destroy(&other);
}

static void
test_pubkeys_load(void **state)
{
    struct s_tmp *t = *state;
    char prefix[PATH_MAX], path[PATH_MAX];
    kr_keys_t *k = NULL;
    kr_pubkeys_t pub;

    assert_int_equal(kcrypto_keys_generate(&k), KR_OK);
    s_path(t, "peer", prefix);
    assert_int_equal(kcrypto_keys_save(k, prefix), KR_OK);

    s_path(t, "peer.public", path);
    assert_int_equal(kcrypto_pubkeys_load(path, &pub), KR_OK);
    assert_memory_equal(&pub, &k->pub, sizeof(pub));
    /* Public files may be world readable. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(kcrypto_pubkeys_load(path, &pub), KR_OK);

    /* A secret file is not a public file. */
    s_path(t, "peer.secret", path);
    assert_int_equal(kcrypto_pubkeys_load(path, &pub), KR_EINVAL);

    s_path(t, "nope.public", path);
    assert_int_equal(kcrypto_pubkeys_load(path, &pub), KR_ENOTFOUND);

    s_path(t, "short.public", path);
    s_write(path, "curve_public = x\n", 0644);
    assert_int_equal(kcrypto_pubkeys_load(path, &pub), KR_EINVAL);

    kcrypto_keys_destroy(&k);
}

static void
test_z85(void **state)
{
    (void)state;
    /* The test keys of the ZeroMQ CURVE documentation: the public key is
     * the Curve25519 base point times the secret key. */
    static const char *secret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
    static const char *public = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    uint8_t sk[KR_KEY_LEN], pk[KR_KEY_LEN], key[KR_KEY_LEN];
    char z85[KR_Z85_KEY_LEN];

    assert_int_equal(kcrypto_z85_decode(secret, sk), KR_OK);
    assert_int_equal(kcrypto_z85_decode(public, pk), KR_OK);
    assert_int_equal(kcrypto_z85_encode(sk, z85), KR_OK);
    assert_string_equal(z85, secret);
    assert_int_equal(kcrypto_z85_encode(pk, z85), KR_OK);
    assert_string_equal(z85, public);

    /* Random round trips. */
    for (int i = 0; i < 100; i++) {
        uint8_t back[KR_KEY_LEN];
        util_random_id(key);
        util_random_id(key + 16);
        assert_int_equal(kcrypto_z85_encode(key, z85), KR_OK);
        assert_int_equal(strlen(z85), 40);
        assert_int_equal(kcrypto_z85_decode(z85, back), KR_OK);
        assert_memory_equal(key, back, KR_KEY_LEN);
    }
    memset(key, 0xff, sizeof(key));
    assert_int_equal(kcrypto_z85_encode(key, z85), KR_OK);
    assert_string_equal(z85, "%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0");

    /* Bad input. */
    uint8_t untouched[KR_KEY_LEN];
    memset(key, 0xaa, sizeof(key));
    memcpy(untouched, key, sizeof(key));
    assert_int_equal(kcrypto_z85_decode(NULL, key), KR_EINVAL);
    assert_int_equal(kcrypto_z85_decode("", key), KR_EINVAL);
    assert_int_equal(kcrypto_z85_decode("HelloWorld", key), KR_EINVAL);
    /* 39 and 41 characters. */
    assert_int_equal(
        kcrypto_z85_decode("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf", key),
        KR_EINVAL);
    assert_int_equal(
        kcrypto_z85_decode("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf70", key),
        KR_EINVAL);
    /* Characters outside the alphabet: space, quote, comma, DEL, 8-bit. */
    assert_int_equal(
        kcrypto_z85_decode("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y 7", key),
        KR_EINVAL);
    assert_int_equal(
        kcrypto_z85_decode("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y\"7", key),
        KR_EINVAL);
    assert_int_equal(
        kcrypto_z85_decode("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y,7", key),
        KR_EINVAL);
    assert_int_equal(
        kcrypto_z85_decode("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y\x7f"
                           "7",
                           key),
        KR_EINVAL);
    assert_int_equal(
        kcrypto_z85_decode("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y\xc3"
                           "7",
                           key),
        KR_EINVAL);
    /* A group that denotes more than 2^32 - 1. */
    assert_int_equal(
        kcrypto_z85_decode("#####rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H", key),
        KR_EINVAL);
    assert_int_equal(
        kcrypto_z85_decode("%nSc1%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0", key),
        KR_EINVAL);
    assert_memory_equal(key, untouched, sizeof(key));
}

static void
test_key_id(void **state)
{
    (void)state;
    uint8_t pk[KR_KEY_LEN], pk2[KR_KEY_LEN];
    char a[KR_KEY_ID_LEN], b[KR_KEY_ID_LEN];

    for (int i = 0; i < KR_KEY_LEN; i++)
        pk[i] = (uint8_t)i;
    kcrypto_key_id(pk, a);
    kcrypto_key_id(pk, b);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 16);
    for (int i = 0; i < 16; i++)
        assert_non_null(strchr("0123456789abcdef", a[i]));

    memcpy(pk2, pk, sizeof(pk));
    pk2[31] ^= 1;
    kcrypto_key_id(pk2, b);
    assert_string_not_equal(a, b);
}

static void
test_seal_open(void **state)
{
    (void)state;
    kr_keys_t *alice = NULL, *bob = NULL, *eve = NULL;
    uint8_t ab[KR_KEY_LEN], ba[KR_KEY_LEN], eb[KR_KEY_LEN];
    uint8_t nonce[KR_NONCE_LEN], nonce2[KR_NONCE_LEN];
    static const char msg[] = "Zwangerschap 12 weken, huisbezoek gewenst";
    size_t len = sizeof(msg) - 1;
    uint8_t sealed[sizeof(msg) - 1 + KR_MAC_LEN], sealed2[sizeof(sealed)];
    uint8_t plain[sizeof(msg)];

    assert_int_equal(kcrypto_keys_generate(&alice), KR_OK);
    assert_int_equal(kcrypto_keys_generate(&bob), KR_OK);
    assert_int_equal(kcrypto_keys_generate(&eve), KR_OK);
    assert_int_equal(kcrypto_shared_key(bob->pub.box, alice->box_secret, ab),
                     KR_OK);
    assert_int_equal(kcrypto_shared_key(alice->pub.box, bob->box_secret, ba),
                     KR_OK);
    assert_memory_equal(ab, ba, KR_KEY_LEN);
    assert_int_equal(kcrypto_shared_key(bob->pub.box, eve->box_secret, eb),
                     KR_OK);

    assert_int_equal(kcrypto_seal(ab, (const uint8_t *)msg, len, nonce, sealed),
                     KR_OK);
    assert_int_equal(kcrypto_open(ba, sealed, sizeof(sealed), nonce, plain),
                     KR_OK);
    assert_memory_equal(plain, msg, len);

    /* Two seals of the same text differ: fresh nonces. */
    assert_int_equal(
        kcrypto_seal(ab, (const uint8_t *)msg, len, nonce2, sealed2), KR_OK);
    assert_memory_not_equal(nonce, nonce2, KR_NONCE_LEN);
    assert_memory_not_equal(sealed, sealed2, sizeof(sealed));

    /* One flipped bit anywhere in the ciphertext or the nonce. */
    for (size_t i = 0; i < sizeof(sealed); i++) {
        sealed[i] ^= 0x10;
        assert_int_equal(kcrypto_open(ba, sealed, sizeof(sealed), nonce, plain),
                         KR_ECRYPTO);
        sealed[i] ^= 0x10;
    }
    for (size_t i = 0; i < KR_NONCE_LEN; i++) {
        nonce[i] ^= 0x01;
        assert_int_equal(kcrypto_open(ba, sealed, sizeof(sealed), nonce, plain),
                         KR_ECRYPTO);
        nonce[i] ^= 0x01;
    }
    /* The wrong shared key. */
    assert_int_equal(kcrypto_open(eb, sealed, sizeof(sealed), nonce, plain),
                     KR_ECRYPTO);
    /* Too short to hold a MAC; a truncated ciphertext. */
    assert_int_equal(kcrypto_open(ba, sealed, KR_MAC_LEN - 1, nonce, plain),
                     KR_EINVAL);
    assert_int_equal(kcrypto_open(ba, sealed, sizeof(sealed) - 1, nonce, plain),
                     KR_ECRYPTO);
    /* Still fine when untouched. */
    assert_int_equal(kcrypto_open(ba, sealed, sizeof(sealed), nonce, plain),
                     KR_OK);

    /* An empty payload is sealed to a bare MAC. */
    uint8_t mac_only[KR_MAC_LEN];
    assert_int_equal(kcrypto_seal(ab, NULL, 0, nonce, mac_only), KR_OK);
    assert_int_equal(kcrypto_open(ba, mac_only, KR_MAC_LEN, nonce, plain),
                     KR_OK);

    /* A peer key of small order (here: zero) is refused. */
    uint8_t zero[KR_KEY_LEN] = {0};
    assert_int_equal(kcrypto_shared_key(zero, alice->box_secret, eb),
                     KR_ECRYPTO);

    kcrypto_keys_destroy(&alice);
    kcrypto_keys_destroy(&bob);
    kcrypto_keys_destroy(&eve);
}

static void
test_sign_verify(void **state)
{
    (void)state;
    kr_keys_t *k = NULL, *other = NULL;
    uint8_t msg[200], sig[KR_SIG_LEN];

    assert_int_equal(kcrypto_keys_generate(&k), KR_OK);
    assert_int_equal(kcrypto_keys_generate(&other), KR_OK);
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7);
    assert_int_equal(kcrypto_sign(k, msg, sizeof(msg), sig), KR_OK);
    assert_int_equal(kcrypto_verify(k->pub.sign, msg, sizeof(msg), sig, 64),
                     KR_OK);

    msg[100] ^= 0x04;
    assert_int_equal(kcrypto_verify(k->pub.sign, msg, sizeof(msg), sig, 64),
                     KR_ECRYPTO);
    msg[100] ^= 0x04;
    for (size_t i = 0; i < KR_SIG_LEN; i += 7) {
        sig[i] ^= 0x80;
        assert_int_equal(kcrypto_verify(k->pub.sign, msg, sizeof(msg), sig, 64),
                         KR_ECRYPTO);
        sig[i] ^= 0x80;
    }
    assert_int_equal(kcrypto_verify(k->pub.sign, msg, sizeof(msg), sig, 63),
                     KR_ECRYPTO);
    assert_int_equal(kcrypto_verify(k->pub.sign, msg, sizeof(msg), sig, 0),
                     KR_ECRYPTO);
    assert_int_equal(kcrypto_verify(k->pub.sign, msg, sizeof(msg), NULL, 64),
                     KR_ECRYPTO);
    assert_int_equal(kcrypto_verify(other->pub.sign, msg, sizeof(msg), sig, 64),
                     KR_ECRYPTO);
    assert_int_equal(kcrypto_verify(k->pub.sign, msg, sizeof(msg) - 1, sig, 64),
                     KR_ECRYPTO);
    assert_int_equal(kcrypto_verify(k->pub.sign, msg, sizeof(msg), sig, 64),
                     KR_OK);

    kcrypto_keys_destroy(&k);
    kcrypto_keys_destroy(&other);
}

/* A coalition key of version 'version' holding bytes 0x00..0x1f. */
static void
s_golden_key(const struct s_tmp *t, kr_coalition_key_t **ck)
{
    char path[PATH_MAX];

    s_path(t, "golden.key", path);
    s_write(path,
            "version = 7\n"
            "key = "
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
            "\n",
            0600);
    assert_int_equal(kcrypto_coalition_key_load(path, ck), KR_OK);
    assert_int_equal((*ck)->version, 7);
}

static void
test_pseudonym(void **state)
{
    struct s_tmp *t = *state;
    kr_coalition_key_t *ck = NULL;
    uint8_t out[KR_PSEUDONYM_LEN], out2[KR_PSEUDONYM_LEN];
    char hex[2 * KR_PSEUDONYM_LEN + 1];

    s_golden_key(t, &ck);
    /* Computed independently:
     *   python3 -c 'import hmac, hashlib; print(hmac.new(bytes(range(32)),
     *       b"nl:bsn:111222333", hashlib.sha256).hexdigest())' */
    assert_int_equal(kcrypto_pseudonym(ck, "111222333", out), KR_OK);
    assert_string_equal(
        util_hex(out, sizeof(out), hex),
        "540fcf01ba4db3fb83d7bbcf7ceb5eeae74f9ee625d6a8692ebb26c3a65be7bd");
    assert_int_equal(kcrypto_pseudonym(ck, "123456782", out2), KR_OK);
    assert_string_equal(
        util_hex(out2, sizeof(out2), hex),
        "59242a91e59ca93b36ff2e8745beb90603b35314879e141cc35362c53eeecd5b");

    assert_int_equal(kcrypto_pseudonym(ck, "111222334", out), KR_EINVAL);
    assert_int_equal(kcrypto_pseudonym(ck, "11122233", out), KR_EINVAL);
    assert_int_equal(kcrypto_pseudonym(ck, NULL, out), KR_EINVAL);
    assert_int_equal(kcrypto_pseudonym(NULL, "111222333", out), KR_EINVAL);
    kcrypto_coalition_key_destroy(&ck);
    assert_null(ck);
    kcrypto_coalition_key_destroy(&ck);
}

static void
test_bsn_valid(void **state)
{
    (void)state;
    assert_true(kcrypto_bsn_valid("111222333"));
    assert_true(kcrypto_bsn_valid("123456782"));
    /* 9*9 - 1*0 ... : "999999990" = 9*(9+8+...+2) = 396 = 36 * 11. */
    assert_true(kcrypto_bsn_valid("999999990"));

    assert_false(kcrypto_bsn_valid("111222334")); /* wrong check digit */
    assert_false(kcrypto_bsn_valid("123456781"));
    assert_false(kcrypto_bsn_valid("12345678"));   /* 8 digits */
    assert_false(kcrypto_bsn_valid("1234567820")); /* 10 digits */
    assert_false(kcrypto_bsn_valid("12345678a"));
    assert_false(kcrypto_bsn_valid("abcdefghi"));
    assert_false(kcrypto_bsn_valid(" 11222333"));
    assert_false(kcrypto_bsn_valid("111222333 "));
    assert_false(kcrypto_bsn_valid("-11222333"));
    assert_false(kcrypto_bsn_valid(""));
    assert_false(kcrypto_bsn_valid(NULL));
    assert_false(kcrypto_bsn_valid("000000000"));
}

static void
test_coalition_key(void **state)
{
    struct s_tmp *t = *state;
    char path[PATH_MAX], other[PATH_MAX];
    kr_coalition_key_t *ck = NULL, *ck2 = NULL;
    uint8_t a[KR_PSEUDONYM_LEN], b[KR_PSEUDONYM_LEN];
    struct stat st;

    s_path(t, "coalition.key", path);
    assert_int_equal(kcrypto_coalition_key_generate(path, 3), KR_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(kcrypto_coalition_key_load(path, &ck), KR_OK);
    assert_int_equal(ck->version, 3);
    assert_int_equal(kcrypto_coalition_key_load(path, &ck2), KR_OK);
    assert_memory_equal(ck->key, ck2->key, KR_KEY_LEN);
    kcrypto_coalition_key_destroy(&ck2);

    /* Never overwritten. */
    assert_int_equal(kcrypto_coalition_key_generate(path, 4), KR_EEXIST);
    assert_int_equal(kcrypto_coalition_key_load(path, &ck2), KR_OK);
    assert_int_equal(ck2->version, 3);
    assert_memory_equal(ck->key, ck2->key, KR_KEY_LEN);
    kcrypto_coalition_key_destroy(&ck2);

    /* A fresh key gives other pseudonyms. */
    s_path(t, "coalition2.key", other);
    assert_int_equal(kcrypto_coalition_key_generate(other, 4), KR_OK);
    assert_int_equal(kcrypto_coalition_key_load(other, &ck2), KR_OK);
    assert_int_equal(kcrypto_pseudonym(ck, "111222333", a), KR_OK);
    assert_int_equal(kcrypto_pseudonym(ck2, "111222333", b), KR_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    kcrypto_coalition_key_destroy(&ck2);

    /* Versions outside 1..2^31. */
    s_path(t, "v0.key", other);
    assert_int_equal(kcrypto_coalition_key_generate(other, 0), KR_EINVAL);
    assert_int_equal(kcrypto_coalition_key_generate(other, 0x80000001u),
                     KR_EINVAL);
    assert_int_equal(kcrypto_coalition_key_generate(other, 0x80000000u), KR_OK);

    /* Permissions. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(kcrypto_coalition_key_load(path, &ck2), KR_EPERM);
    assert_null(ck2);
    assert_int_equal(chmod(path, 0660), 0);
    assert_int_equal(kcrypto_coalition_key_load(path, &ck2), KR_EPERM);
    assert_int_equal(chmod(path, 0600), 0);

    /* Malformed files. */
    static const char *bad[] = {
        "",
        "version = 1\n",
        "key = 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e"
        "1f\n",
        "version = 0\nkey = "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        "version = 2147483649\nkey = "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        "version = x\nkey = "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        "version = 1\nkey = "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n",
        "version = 1\nkey = "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n",
        "version = 1\nversion = 2\nkey = "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        "version = 1\ncolour = blue\nkey = "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
    };
    s_path(t, "bad.key", other);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s_write(other, bad[i], 0600);
        assert_int_equal(kcrypto_coalition_key_load(other, &ck2), KR_EINVAL);
        assert_null(ck2);
    }
    s_path(t, "missing.key", other);
    assert_int_equal(kcrypto_coalition_key_load(other, &ck2), KR_ENOTFOUND);

    kcrypto_coalition_key_destroy(&ck);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keys_round_trip, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_keys_load_refusals, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_pubkeys_load, s_setup, s_teardown),
        cmocka_unit_test(test_z85),
        cmocka_unit_test(test_key_id),
        cmocka_unit_test(test_seal_open),
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test_setup_teardown(test_pseudonym, s_setup, s_teardown),
        cmocka_unit_test(test_bsn_valid),
        cmocka_unit_test_setup_teardown(test_coalition_key, s_setup,
                                        s_teardown),
    };

    /* The refusals are logged at warn level; keep the test output short. */
    log_init("test_crypto", LOG_LEVEL_ERROR);
    if (kcrypto_init() != KR_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
