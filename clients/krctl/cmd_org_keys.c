/*
 * cmd_org_keys.c - the directory's lifecycle: krctl org remove and krctl
 * org rekey (docs/OPERATIONS.md "Keys and the directory").
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "krctl.h"
#include "util.h"

enum {
    S_OPT_KEYS = KRCTL_OPT_CMD,
    S_OPT_GRACE,
};

int
krctl_org_remove(struct krctl *k, int argc, char **argv, const char *usage)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    const char *id;
    int rc;

    if ((rc = krctl_one_arg(k, argc, argv, usage, "ID", &id)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    if (!util_org_id_valid(id))
        return krctl_usage_err(k,
                               "'%s' is not an organisation id (ura:, "
                               "agb:, kvk: or oin: and digits)",
                               id);
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_REMOVE;
    req.org_remove = (char *)id;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    printf("removed %s: %llu messages withdrawn, %llu queue items dropped\n",
           id, (unsigned long long)resp->withdrawn,
           (unsigned long long)resp->dropped);
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return fflush(stdout) == 0 ? KRCTL_EXIT_OK : KRCTL_EXIT_FAIL;
}

int
krctl_org_rekey(struct krctl *k, int argc, char **argv, const char *usage)
{
    static const struct option opts[] = {
        {"keys", required_argument, NULL, S_OPT_KEYS},
        {"grace", required_argument, NULL, S_OPT_GRACE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__OrgRekey rk = KR__V1__ORG_REKEY__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    const char *keys = NULL, *id = NULL;
    uint64_t grace = 14;
    char alt[PATH_MAX];
    kr_pubkeys_t pk;
    int c, rc;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_KEYS:
            keys = optarg;
            break;
        case S_OPT_GRACE:
            if ((rc = krctl_parse_u64(k, "--grace", optarg, 0, 365, &grace)) !=
                0)
                return rc;
            break;
        case 'h':
            fputs(usage, stdout);
            return KRCTL_EXIT_OK;
        default:
            return KRCTL_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc)
        return krctl_usage_err(k, optind >= argc
                                      ? "missing ID"
                                      : "one organisation id, then options");
    id = argv[optind];
    if (!util_org_id_valid(id))
        return krctl_usage_err(k,
                               "'%s' is not an organisation id (ura:, "
                               "agb:, kvk: or oin: and digits)",
                               id);
    if (keys == NULL)
        return krctl_usage_err(k, "missing --keys NEW.public");
    rc = kcrypto_pubkeys_load(keys, &pk);
    if (rc == KR_ENOTFOUND &&
        snprintf(alt, sizeof(alt), "%s.public", keys) < (int)sizeof(alt))
        rc = kcrypto_pubkeys_load(alt, &pk);
    if (rc != KR_OK) {
        krctl_err(k, "%s: cannot load public keys: %s", keys, kr_strerror(rc));
        return KRCTL_EXIT_FAIL;
    }
    rk.org_id = (char *)id;
    rk.curve_public = (ProtobufCBinaryData){KR_KEY_LEN, pk.curve};
    rk.box_public = (ProtobufCBinaryData){KR_KEY_LEN, pk.box};
    rk.sign_public = (ProtobufCBinaryData){KR_KEY_LEN, pk.sign};
    rk.grace_days = (uint32_t)grace;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_REKEY;
    req.org_rekey = &rk;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    kr__v1__admin_response__free_unpacked(resp, NULL);
    printf("rekeyed %s: old keys honoured for %llu days; restart its node "
           "with the new keys and previous_keys\n",
           id, (unsigned long long)grace);
    return fflush(stdout) == 0 ? KRCTL_EXIT_OK : KRCTL_EXIT_FAIL;
}
