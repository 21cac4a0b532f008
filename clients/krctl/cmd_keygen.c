/*
 * cmd_keygen.c - krctl keygen: an organisation's three key pairs, or a
 * coalition key. Local files only; no daemon is asked.
 */
#include <getopt.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "krctl.h"

static const char s_usage[] =
    "usage: krctl keygen --out PREFIX\n"
    "       krctl keygen --coalition FILE [--key-version N]\n"
    "\n"
    "The first form makes the three key pairs of an organisation's krnode\n"
    "(or of the broker): CURVE for the transport, X25519 for sealing\n"
    "payloads, Ed25519 for signatures. It writes PREFIX.secret (mode 0600)\n"
    "and PREFIX.public, and prints the key id of each public key. An\n"
    "existing PREFIX.secret is never overwritten. Give PREFIX.public to the\n"
    "broker's administrator (krctl org add --keys); PREFIX.secret never\n"
    "leaves the machine.\n"
    "\n"
    "The second form makes a coalition key, with which nodes turn a BSN into\n"
    "a subject pseudonym. It writes FILE (mode 0600; an existing FILE is\n"
    "never overwritten). Every node of the coalition needs the same key;\n"
    "the broker must never have it.\n"
    "\n"
    "Options:\n"
    "  --out PREFIX       where to write the organisation keys\n"
    "  --coalition FILE   where to write the coalition key\n"
    "  --key-version N    the coalition key's version, 1 to 4294967295\n"
    "                     (default: 1); raise it when the key is rotated\n"
    "  -h, --help         print this text and exit\n"
    "\n"
    "Exit status: 0 written, 1 failed (e.g. the file exists), 2 usage error.\n";

enum {
    S_OPT_OUT = KRCTL_OPT_CMD,
    S_OPT_COALITION,
    S_OPT_KEY_VERSION,
};

/* Why a file at 'path' could not be written, as far as its directory
 * tells: a missing or unwritable directory is the usual cause, and the
 * store layer only knows that the write failed. */
static const char *
s_why_unwritable(const char *path, int rc, char *buf, size_t len)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    struct stat st;

    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0)
        snprintf(buf, len, "directory %s: %s (create it first)", dir,
                 strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        snprintf(buf, len, "%s is not a directory", dir);
    else if (access(dir, W_OK | X_OK) != 0)
        snprintf(buf, len, "directory %s: %s", dir, strerror(errno));
    else
        snprintf(buf, len, "%s", kr_strerror(rc));
    return buf;
}

static int
s_org_keys(struct krctl *k, const char *prefix)
{
    kr_keys_t *keys = NULL;
    char id[KR_KEY_ID_LEN], z85[KR_Z85_KEY_LEN], why[4200];
    int rc, ret = KRCTL_EXIT_FAIL;

    if ((rc = kcrypto_keys_generate(&keys)) != KR_OK) {
        krctl_err(k, "cannot make keys: %s", kr_strerror(rc));
        return KRCTL_EXIT_FAIL;
    }
    if ((rc = kcrypto_keys_save(keys, prefix)) != KR_OK) {
        if (rc == KR_EEXIST)
            krctl_err(k, "%s.secret exists already: not overwritten", prefix);
        else
            krctl_err(k, "cannot write %s.secret and %s.public: %s", prefix,
                      prefix, s_why_unwritable(prefix, rc, why, sizeof(why)));
        goto done;
    }
    printf("wrote %s.secret (mode 0600) and %s.public\n", prefix, prefix);
    kcrypto_key_id(keys->pub.curve, id);
    printf("curve_key_id = %s\n", id);
    kcrypto_key_id(keys->pub.box, id);
    printf("box_key_id = %s\n", id);
    kcrypto_key_id(keys->pub.sign, id);
    printf("sign_key_id = %s\n", id);
    /* The broker's nodes configure its CURVE key in this form. */
    if (kcrypto_z85_encode(keys->pub.curve, z85) == KR_OK)
        printf("curve_public = %s\n", z85);
    ret = fflush(stdout) == 0 ? KRCTL_EXIT_OK : KRCTL_EXIT_FAIL;
done:
    kcrypto_keys_destroy(&keys);
    return ret;
}

static int
s_coalition_key(struct krctl *k, const char *path, uint32_t version)
{
    char why[4200];
    int rc;

    if ((rc = kcrypto_coalition_key_generate(path, version)) != KR_OK) {
        if (rc == KR_EEXIST)
            krctl_err(k, "%s exists already: not overwritten", path);
        else
            krctl_err(k, "cannot write %s: %s", path,
                      s_why_unwritable(path, rc, why, sizeof(why)));
        return KRCTL_EXIT_FAIL;
    }
    printf("wrote %s (mode 0600), coalition key version %u\n", path,
           (unsigned)version);
    return fflush(stdout) == 0 ? KRCTL_EXIT_OK : KRCTL_EXIT_FAIL;
}

int
cmd_keygen(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, S_OPT_OUT},
        {"coalition", required_argument, NULL, S_OPT_COALITION},
        {"key-version", required_argument, NULL, S_OPT_KEY_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *coalition = NULL;
    uint64_t version = 1;
    int have_version = 0, c, rc;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_OUT:
            out = optarg;
            break;
        case S_OPT_COALITION:
            coalition = optarg;
            break;
        case S_OPT_KEY_VERSION:
            if ((rc = krctl_parse_u64(k, "--key-version", optarg, 1, UINT32_MAX,
                                      &version)) != 0)
                return rc;
            have_version = 1;
            break;
        case 'h':
            fputs(s_usage, stdout);
            return KRCTL_EXIT_OK;
        default:
            return KRCTL_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return krctl_usage_err(k, "unexpected argument '%s'", argv[optind]);
    if ((out == NULL) == (coalition == NULL))
        return krctl_usage_err(k, "give either --out PREFIX or --coalition "
                                  "FILE");
    if (*(out != NULL ? out : coalition) == '\0')
        return krctl_usage_err(k, "the file name is empty");
    if (out != NULL && have_version)
        return krctl_usage_err(k, "--key-version goes with --coalition");
    if (out != NULL)
        return s_org_keys(k, out);
    return s_coalition_key(k, coalition, (uint32_t)version);
}
