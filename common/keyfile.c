/* keyfile.c - the key files of crypto.h: an organisation's key pair
 * (secret and public halves) and the coalition key, read into and written
 * from libsodium's guarded memory. Apart from crypto.c because reading a
 * file an operator wrote (its mode, its syntax, its one spelling of a
 * key) is a concern of its own; the keys' use is crypto.c's. */
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto_internal.h"
#include "log.h"
#include "util.h"

/* Key and coalition key files are a few hundred bytes; anything much larger
 * is not one of ours. */
#define S_KEYFILE_MAX 4096
/* Room for the text of a whole key file, comments included. */
#define S_KEYTEXT_CAP 1024
/* Coalition key versions travel as uint32 but stay within 1..2^31. */
#define S_COALITION_VERSION_MAX (UINT64_C(1) << 31)

/* Read a whole key file into secure memory (NUL-terminated). It must be a
 * regular file; a secret one must not be open to group or others. */
static int
s_read_keyfile(const char *path, bool secret, char **out)
{
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    int fd, rc;

    *out = NULL;
    /* O_NONBLOCK: a FIFO put in the key's place must not hang us before
     * fstat() can refuse it. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT   ? KR_ENOTFOUND
             : errno == EACCES ? KR_EPERM
                               : KR_EIO;
        log_warnx("crypto: %s: cannot open key file: %s", path,
                  strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) != 0) {
        log_warnx("crypto: %s: cannot stat key file: %s", path,
                  strerror(errno));
        rc = KR_EIO;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        log_warnx("crypto: %s: key file is not a regular file: refused", path);
        rc = KR_EPERM;
        goto fail;
    }
    if (secret && (st.st_mode & 077) != 0) {
        log_warnx("crypto: %s: secret key file has mode %04o, open to group "
                  "or others: refused (chmod 600 it, and consider the key "
                  "exposed)",
                  path, (unsigned)(st.st_mode & 07777));
        rc = KR_EPERM;
        goto fail;
    }
    if ((buf = kcrypto_secure_alloc(S_KEYFILE_MAX + 1)) == NULL) {
        rc = KR_ENOMEM;
        goto fail;
    }
    /* Read one byte past the limit to see whether the file exceeds it. */
    while (n < S_KEYFILE_MAX + 1) {
        ssize_t got = read(fd, buf + n, S_KEYFILE_MAX + 1 - n);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            log_warnx("crypto: %s: read: %s", path, strerror(errno));
            rc = KR_EIO;
            goto fail;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (n > S_KEYFILE_MAX) {
        log_warnx("crypto: %s: key file larger than %d bytes: refused", path,
                  S_KEYFILE_MAX);
        rc = KR_EINVAL;
        goto fail;
    }
    buf[n] = '\0';
    close(fd);
    *out = buf;
    return KR_OK;
fail:
    if (buf != NULL)
        sodium_free(buf);
    close(fd);
    return rc;
}

/* One "name = value" line of a key file and where its value goes. */
struct s_field {
    const char *name;
    uint8_t *dst; /* KR_KEY_LEN bytes */
    int hex;      /* value in hex rather than Z85 */
    int seen;     /* set once the line was read */
};

struct s_parse {
    struct s_field *fields; /* terminated by a NULL name */
    uint64_t *version;      /* where "version" goes; NULL: not allowed */
    int version_seen;
    char why[96]; /* first problem found; never holds a value */
};

static int
s_keyfile_line(void *user, const char *section, const char *name,
               const char *value)
{
    struct s_parse *p = user;
    struct s_field *f;

    if (p->why[0] != '\0')
        return 0; /* report only the first problem */
    if (section[0] != '\0') {
        snprintf(p->why, sizeof(p->why), "sections are not allowed");
        return 0;
    }
    if (p->version != NULL && strcmp(name, "version") == 0) {
        if (p->version_seen++) {
            snprintf(p->why, sizeof(p->why), "'version' given twice");
            return 0;
        }
        if (util_parse_u64(value, 1, S_COALITION_VERSION_MAX, p->version) !=
            KR_OK) {
            snprintf(p->why, sizeof(p->why),
                     "'version' is not a number from 1 to 2^31");
            return 0;
        }
        return 1;
    }
    for (f = p->fields; f->name != NULL; f++)
        if (strcmp(f->name, name) == 0)
            break;
    if (f->name == NULL) {
        /* The name is not logged: a line holding a bare Z85 key splits at
         * its first '=' or ':', and the "name" would be part of a key. */
        snprintf(p->why, sizeof(p->why), "unknown name");
        return 0;
    }
    /* inih hands on an indented line as a continuation of the previous
     * name; refusing a repeated name also refuses those. */
    if (f->seen++) {
        snprintf(p->why, sizeof(p->why), "'%s' given twice", f->name);
        return 0;
    }
    if ((f->hex ? util_unhex(value, f->dst, KR_KEY_LEN)
                : kcrypto_z85_decode(value, f->dst)) != KR_OK) {
        snprintf(p->why, sizeof(p->why), "'%s' is not a %s key", f->name,
                 f->hex ? "64-digit hex" : "40-character Z85");
        return 0;
    }
    return 1;
}

/* Parse key file text into the fields; every field must be present. */
static int
s_parse_keyfile(const char *path, const char *text, struct s_parse *p)
{
    int line = ini_parse_string(text, s_keyfile_line, p);

    if (line != 0) {
        log_warnx("crypto: %s:%d: %s", path, line,
                  p->why[0] ? p->why : "not a 'name = value' line");
        return KR_EINVAL;
    }
    if (p->version != NULL && !p->version_seen) {
        log_warnx("crypto: %s: 'version' is missing", path);
        return KR_EINVAL;
    }
    for (const struct s_field *f = p->fields; f->name != NULL; f++) {
        if (!f->seen) {
            log_warnx("crypto: %s: '%s' is missing", path, f->name);
            return KR_EINVAL;
        }
    }
    return KR_OK;
}

int
kcrypto_keys_load(const char *secret_path, kr_keys_t **out)
{
    kr_keys_t *k = NULL;
    uint8_t *scratch = NULL; /* the sign seed and derived public keys */
    uint8_t *seed, *derived;
    char *text = NULL;
    int rc;

    *out = NULL;
    if ((rc = s_read_keyfile(secret_path, true, &text)) != KR_OK)
        return rc;
    k = kcrypto_secure_alloc(sizeof(*k));
    scratch = kcrypto_secure_alloc(2 * KR_KEY_LEN);
    if (k == NULL || scratch == NULL) {
        rc = KR_ENOMEM;
        goto fail;
    }
    seed = scratch;
    derived = scratch + KR_KEY_LEN;
    struct s_field fields[] = {
        {"curve_public", k->pub.curve, 0, 0},
        {"curve_secret", k->curve_secret, 0, 0},
        {"box_public", k->pub.box, 0, 0},
        {"box_secret", k->box_secret, 0, 0},
        {"sign_public", k->pub.sign, 0, 0},
        {"sign_secret", seed, 0, 0},
        {NULL, NULL, 0, 0},
    };
    struct s_parse p = {fields, NULL, 0, ""};
    if ((rc = s_parse_keyfile(secret_path, text, &p)) != KR_OK)
        goto fail;

    /* Each public key must be the one its secret key gives: a file edited
     * by hand or pieced together from two key sets would otherwise sign or
     * authenticate as someone the directory does not know. */
    rc = KR_EINVAL;
    if (crypto_scalarmult_base(derived, k->curve_secret) != 0 ||
        sodium_memcmp(derived, k->pub.curve, KR_KEY_LEN) != 0) {
        log_warnx("crypto: %s: curve_public does not match curve_secret",
                  secret_path);
        goto fail;
    }
    if (crypto_scalarmult_base(derived, k->box_secret) != 0 ||
        sodium_memcmp(derived, k->pub.box, KR_KEY_LEN) != 0) {
        log_warnx("crypto: %s: box_public does not match box_secret",
                  secret_path);
        goto fail;
    }
    if (crypto_sign_seed_keypair(derived, k->sign_secret, seed) != 0 ||
        sodium_memcmp(derived, k->pub.sign, KR_KEY_LEN) != 0) {
        log_warnx("crypto: %s: sign_public does not match sign_secret",
                  secret_path);
        goto fail;
    }
    sodium_free(scratch);
    sodium_free(text);
    *out = k;
    return KR_OK;
fail:
    if (k != NULL)
        sodium_free(k);
    if (scratch != NULL)
        sodium_free(scratch);
    sodium_free(text);
    return rc;
}

int
kcrypto_pubkeys_load(const char *public_path, kr_pubkeys_t *out)
{
    kr_pubkeys_t pub;
    char *text = NULL;
    int rc;

    if ((rc = s_read_keyfile(public_path, false, &text)) != KR_OK)
        return rc;
    struct s_field fields[] = {
        {"curve_public", pub.curve, 0, 0},
        {"box_public", pub.box, 0, 0},
        {"sign_public", pub.sign, 0, 0},
        {NULL, NULL, 0, 0},
    };
    struct s_parse p = {fields, NULL, 0, ""};
    rc = s_parse_keyfile(public_path, text, &p);
    sodium_free(text);
    if (rc == KR_OK)
        *out = pub;
    return rc;
}

/* Refuse to replace a file that exists (or a link, even a dangling one). */
static int
s_check_absent(const char *path)
{
    struct stat st;

    if (lstat(path, &st) == 0) {
        log_warnx("crypto: %s: exists already: not overwritten", path);
        return KR_EEXIST;
    }
    if (errno != ENOENT) {
        log_warnx("crypto: %s: %s", path, strerror(errno));
        return KR_EIO;
    }
    return KR_OK;
}

/* Append "name = <z85>\n" to the text at *len. */
static int
s_put_z85(char *text, size_t *len, const char *name,
          const uint8_t key[KR_KEY_LEN])
{
    char z85[KR_Z85_KEY_LEN];
    int n;

    if (kcrypto_z85_encode(key, z85) != KR_OK)
        return KR_EINVAL;
    n = snprintf(text + *len, S_KEYTEXT_CAP - *len, "%s = %s\n", name, z85);
    sodium_memzero(z85, sizeof(z85));
    if (n < 0 || (size_t)n >= S_KEYTEXT_CAP - *len)
        return KR_EINVAL;
    *len += (size_t)n;
    return KR_OK;
}

static int
s_put_text(char *text, size_t *len, const char *s)
{
    size_t n = strlen(s);

    if (n >= S_KEYTEXT_CAP - *len)
        return KR_EINVAL;
    memcpy(text + *len, s, n + 1);
    *len += n;
    return KR_OK;
}

int
kcrypto_keys_save(const kr_keys_t *keys, const char *path_prefix)
{
    char secret_path[PATH_MAX], public_path[PATH_MAX];
    char *text = NULL;
    uint8_t *seed = NULL;
    size_t len = 0;
    int rc;

    if (snprintf(secret_path, sizeof(secret_path), "%s.secret", path_prefix) >=
            (int)sizeof(secret_path) ||
        snprintf(public_path, sizeof(public_path), "%s.public", path_prefix) >=
            (int)sizeof(public_path))
        return KR_EINVAL;
    /* util_write_file_atomic() renames over whatever is there; a secret key
     * is never to be replaced that way, so look first. (Two key generations
     * racing for the same prefix are an operator's mistake we do not guard
     * against further.) */
    if ((rc = s_check_absent(secret_path)) != KR_OK)
        return rc;
    text = kcrypto_secure_alloc(S_KEYTEXT_CAP);
    seed = kcrypto_secure_alloc(KR_KEY_LEN);
    if (text == NULL || seed == NULL) {
        rc = KR_ENOMEM;
        goto fail;
    }
    /* The file keeps the 32-byte seed; loading derives the rest. */
    crypto_sign_ed25519_sk_to_seed(seed, keys->sign_secret);
    text[0] = '\0';
    if ((rc = s_put_text(text, &len,
                         "# kansrijk organisation keys: SECRET, keep mode "
                         "0600\n")) != KR_OK ||
        (rc = s_put_z85(text, &len, "curve_public", keys->pub.curve)) !=
            KR_OK ||
        (rc = s_put_z85(text, &len, "curve_secret", keys->curve_secret)) !=
            KR_OK ||
        (rc = s_put_z85(text, &len, "box_public", keys->pub.box)) != KR_OK ||
        (rc = s_put_z85(text, &len, "box_secret", keys->box_secret)) != KR_OK ||
        (rc = s_put_z85(text, &len, "sign_public", keys->pub.sign)) != KR_OK ||
        (rc = s_put_z85(text, &len, "sign_secret", seed)) != KR_OK)
        goto fail;
    if ((rc = util_write_file_atomic(secret_path, text, len, 0600)) != KR_OK) {
        log_warnx("crypto: %s: cannot write secret key file", secret_path);
        goto fail;
    }

    sodium_memzero(text, S_KEYTEXT_CAP);
    len = 0;
    if ((rc = s_put_text(text, &len,
                         "# kansrijk organisation public keys\n")) != KR_OK ||
        (rc = s_put_z85(text, &len, "curve_public", keys->pub.curve)) !=
            KR_OK ||
        (rc = s_put_z85(text, &len, "box_public", keys->pub.box)) != KR_OK ||
        (rc = s_put_z85(text, &len, "sign_public", keys->pub.sign)) != KR_OK)
        goto fail_unlink;
    if ((rc = util_write_file_atomic(public_path, text, len, 0644)) != KR_OK) {
        log_warnx("crypto: %s: cannot write public key file", public_path);
        goto fail_unlink;
    }
    sodium_free(seed);
    sodium_free(text);
    return KR_OK;
fail_unlink:
    /* Without its public file the secret one is of no use to an operator
     * and would block the next attempt with KR_EEXIST. */
    unlink(secret_path);
fail:
    if (seed != NULL)
        sodium_free(seed);
    if (text != NULL)
        sodium_free(text);
    return rc;
}

int
kcrypto_coalition_key_generate(const char *path, uint32_t version)
{
    uint8_t *key = NULL;
    char *text = NULL;
    int rc, n;

    if (version < 1 || version > S_COALITION_VERSION_MAX)
        return KR_EINVAL;
    if ((rc = s_check_absent(path)) != KR_OK)
        return rc;
    key = kcrypto_secure_alloc(KR_KEY_LEN);
    text = kcrypto_secure_alloc(S_KEYTEXT_CAP);
    if (key == NULL || text == NULL) {
        rc = KR_ENOMEM;
        goto fail;
    }
    randombytes_buf(key, KR_KEY_LEN);
    n = snprintf(text, S_KEYTEXT_CAP,
                 "# kansrijk coalition key: SECRET, keep mode 0600\n"
                 "version = %u\nkey = ",
                 (unsigned)version);
    if (n < 0 || (size_t)n + 2 * KR_KEY_LEN + 2 > S_KEYTEXT_CAP) {
        rc = KR_EINVAL;
        goto fail;
    }
    util_hex(key, KR_KEY_LEN, text + n);
    n += 2 * KR_KEY_LEN;
    text[n++] = '\n';
    text[n] = '\0';
    if ((rc = util_write_file_atomic(path, text, (size_t)n, 0600)) != KR_OK)
        log_warnx("crypto: %s: cannot write coalition key file", path);
fail:
    if (key != NULL)
        sodium_free(key);
    if (text != NULL)
        sodium_free(text);
    return rc;
}

int
kcrypto_coalition_key_load(const char *path, kr_coalition_key_t **out)
{
    kr_coalition_key_t *ck = NULL;
    char *text = NULL;
    uint64_t version = 0;
    int rc;

    *out = NULL;
    if ((rc = s_read_keyfile(path, true, &text)) != KR_OK)
        return rc;
    if ((ck = kcrypto_secure_alloc(sizeof(*ck))) == NULL) {
        rc = KR_ENOMEM;
        goto fail;
    }
    struct s_field fields[] = {
        {"key", ck->key, 1, 0},
        {NULL, NULL, 0, 0},
    };
    struct s_parse p = {fields, &version, 0, ""};
    if ((rc = s_parse_keyfile(path, text, &p)) != KR_OK)
        goto fail;
    ck->version = (uint32_t)version;
    sodium_free(text);
    *out = ck;
    return KR_OK;
fail:
    if (ck != NULL)
        sodium_free(ck);
    sodium_free(text);
    return rc;
}
