/*
 * cmd_org.c - the broker's directory (krctl org add|list|suspend|resume)
 * and its queues (krctl queues), through the broker's admin socket.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "json_map.h"
#include "krctl.h"
#include "util.h"

static const char s_usage[] =
    "usage: krctl [--admin ENDPOINT] org add --id ID --category CAT\n"
    "                                --name NAME --keys FILE.public\n"
    "       krctl [--admin ENDPOINT] org list [--json]\n"
    "       krctl [--admin ENDPOINT] org suspend ID\n"
    "       krctl [--admin ENDPOINT] org resume ID\n"
    "       krctl [--admin ENDPOINT] org remove ID\n"
    "       krctl [--admin ENDPOINT] org rekey ID --keys NEW.public\n"
    "                                [--grace DAYS]\n"
    "\n"
    "Keep the broker's directory of organisations. Every command needs the\n"
    "broker's admin socket (--admin or $KR_ADMIN).\n"
    "\n"
    "  add      add an organisation with the public keys its operator made\n"
    "           with 'krctl keygen'. ID is scheme:value, scheme ura, agb,\n"
    "           kvk or oin (e.g. ura:12345678). CAT is one of verloskunde,\n"
    "           kraamzorg, ziekenhuis, jgz, wijkteam, gemeente,\n"
    "           veilig-thuis, coordinator.\n"
    "  list     the directory: id, category, status, name and the key id of\n"
    "           the signing key; --json prints a JSON array with all keys.\n"
    "  suspend  refuse the organisation's connections and its messages, and\n"
    "           stop routing to it, e.g. when its keys are compromised.\n"
    "  resume   lift a suspension.\n"
    "  remove   take the organisation out of the directory for good: what\n"
    "           waits for it is withdrawn (its senders get the receipt,\n"
    "           reason recipient-removed), its key is refused, and its id\n"
    "           is never given out again.\n"
    "  rekey    the organisation's new public keys (krctl keygen); messages\n"
    "           made with the old keys still verify and open for --grace\n"
    "           DAYS (default 14); its node restarts with the new keys and\n"
    "           previous_keys = the old .secret file.\n"
    "\n"
    "Exit status: 0 done, 1 refused by the broker, 2 usage error, 3 the\n"
    "broker did not answer.\n";

static const char s_stats_usage[] =
    "usage: krctl [--admin ENDPOINT] stats [--json]\n"
    "\n"
    "Show the broker's own figures: how long it runs, its commits (one per\n"
    "loop pass: pages written and two flushes) with their latency over the\n"
    "last ones (p50, p99, max), commits that failed, and deliveries sent\n"
    "early (before their commit) and passes whose early deliveries were\n"
    "called back. A commit latency far above the disk's flush time means a\n"
    "saturated disk. Then the store: whether new messages are refused\n"
    "because its disk is full (reason disk-full), the room left for\n"
    "messages, the store's file, its file system's free space, and how many\n"
    "submits were refused for a full store or disk.\n"
    "\n"
    "Options:\n"
    "  --json      print a JSON object instead of lines\n";

static const char s_queues_usage[] =
    "usage: krctl [--admin ENDPOINT] queues [--json]\n"
    "\n"
    "Show what waits at the broker for each organisation: deliveries and\n"
    "receipts not yet acknowledged (depth), the age of the oldest, whether\n"
    "its node is connected, and how many items are in flight to it.\n"
    "\n"
    "Options:\n"
    "  --json      print a JSON array instead of a table\n"
    "  -h, --help  print this text and exit\n"
    "\n"
    "Exit status: 0 done, 1 refused, 2 usage error, 3 no answer.\n";

enum {
    S_OPT_ID = KRCTL_OPT_CMD,
    S_OPT_CATEGORY,
    S_OPT_NAME,
    S_OPT_KEYS,
    S_OPT_JSON,
};

/* Load the public keys an operator made with 'krctl keygen'. The prefix
 * alone is accepted too, since that is what keygen was given. */
static int
s_load_pubkeys(struct krctl *k, const char *path, kr_pubkeys_t *pk)
{
    char alt[PATH_MAX];
    int rc;

    rc = kcrypto_pubkeys_load(path, pk);
    if (rc == KR_ENOTFOUND &&
        snprintf(alt, sizeof(alt), "%s.public", path) < (int)sizeof(alt) &&
        kcrypto_pubkeys_load(alt, pk) == KR_OK)
        return KRCTL_EXIT_OK;
    if (rc != KR_OK) {
        krctl_err(k, "%s: cannot load public keys: %s", path, kr_strerror(rc));
        return KRCTL_EXIT_FAIL;
    }
    return KRCTL_EXIT_OK;
}

static int
s_org_add(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"id", required_argument, NULL, S_OPT_ID},
        {"category", required_argument, NULL, S_OPT_CATEGORY},
        {"name", required_argument, NULL, S_OPT_NAME},
        {"keys", required_argument, NULL, S_OPT_KEYS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *id = NULL, *cat = NULL, *name = NULL, *keys = NULL;
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__OrgAdd add = KR__V1__ORG_ADD__INIT;
    Kr__V1__OrgEntry e = KR__V1__ORG_ENTRY__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    kr_pubkeys_t pk;
    int c, category, rc;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_ID:
            id = optarg;
            break;
        case S_OPT_CATEGORY:
            cat = optarg;
            break;
        case S_OPT_NAME:
            name = optarg;
            break;
        case S_OPT_KEYS:
            keys = optarg;
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
    if (id == NULL || cat == NULL || name == NULL || keys == NULL)
        return krctl_usage_err(k, "missing --%s",
                               id == NULL     ? "id"
                               : cat == NULL  ? "category"
                               : name == NULL ? "name"
                                              : "keys");
    if (!util_org_id_valid(id))
        return krctl_usage_err(k,
                               "--id: '%s' is not an organisation id "
                               "(ura:, agb:, kvk: or oin: and digits)",
                               id);
    if ((category = util_category_parse(cat)) < 0)
        return krctl_usage_err(k,
                               "--category: '%s' is not one of "
                               "verloskunde, kraamzorg, ziekenhuis, jgz, "
                               "wijkteam, gemeente, veilig-thuis, "
                               "coordinator",
                               cat);
    if (*name == '\0' || strlen(name) > 256)
        return krctl_usage_err(k, "--name: must be 1 to 256 bytes");
    if ((rc = s_load_pubkeys(k, keys, &pk)) != KRCTL_EXIT_OK)
        return rc;

    e.org_id = (char *)id;
    e.category = (Kr__V1__OrgCategory)category;
    e.name = (char *)name;
    e.curve_public = (ProtobufCBinaryData){KR_KEY_LEN, pk.curve};
    e.box_public = (ProtobufCBinaryData){KR_KEY_LEN, pk.box};
    e.sign_public = (ProtobufCBinaryData){KR_KEY_LEN, pk.sign};
    add.entry = &e;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_ADD;
    req.org_add = &add;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return KRCTL_EXIT_OK;
}

/* Display width of UTF-8 text: one column per character, which is right
 * for the Latin names of a directory. */
static int
s_width(const char *s)
{
    int w = 0;

    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static void
s_pad(const char *s, int width)
{
    fputs(s, stdout);
    for (int w = s_width(s); w < width; w++)
        putchar(' ');
}

static int
s_org_table(Kr__V1__AdminResponse *r)
{
    int wid = (int)strlen("ID"), wcat = (int)strlen("CATEGORY");
    int wstat = (int)strlen("SUSPENDED"), wname = (int)strlen("NAME");
    char keyid[KR_KEY_ID_LEN];

    for (size_t i = 0; i < r->n_orgs; i++) {
        const Kr__V1__OrgEntry *e = r->orgs[i];
        if (s_width(e->org_id) > wid)
            wid = s_width(e->org_id);
        if (s_width(util_category_name((int)e->category)) > wcat)
            wcat = s_width(util_category_name((int)e->category));
        if (s_width(e->name) > wname)
            wname = s_width(e->name);
    }
    s_pad("ID", wid + 2);
    s_pad("CATEGORY", wcat + 2);
    s_pad("STATUS", wstat + 2);
    s_pad("NAME", wname + 2);
    puts("SIGN KEY ID");
    for (size_t i = 0; i < r->n_orgs; i++) {
        const Kr__V1__OrgEntry *e = r->orgs[i];
        s_pad(e->org_id, wid + 2);
        s_pad(util_category_name((int)e->category), wcat + 2);
        s_pad(e->removed     ? "removed"
              : e->suspended ? "suspended"
                             : "active",
              wstat + 2);
        s_pad(e->name, wname + 2);
        if (e->sign_public.len == KR_KEY_LEN) {
            kcrypto_key_id(e->sign_public.data, keyid);
            puts(keyid);
        } else {
            puts("-");
        }
    }
    return fflush(stdout) == 0 ? KRCTL_EXIT_OK : KRCTL_EXIT_FAIL;
}

/* "--json" is the only option of the listing commands. */
static int
s_parse_json_flag(struct krctl *k, int argc, char **argv, const char *usage,
                  int *json)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, S_OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    *json = 0;
    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_JSON:
            *json = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            return KRCTL_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return krctl_usage_err(k, "unexpected argument '%s'", argv[optind]);
    return KRCTL_EXIT_OK;
}

static int
s_org_list(struct krctl *k, int argc, char **argv)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    int json, rc;

    if ((rc = s_parse_json_flag(k, argc, argv, s_usage, &json)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_LIST;
    req.org_list = 1;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if (json) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < resp->n_orgs; i++)
            json_object_array_add(a, json_map_org(resp->orgs[i]));
        rc = krctl_print_json(k, a);
        json_object_put(a);
    } else {
        rc = s_org_table(resp);
    }
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}

static int
s_org_set_suspended(struct krctl *k, int argc, char **argv, int suspend)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    const char *id;
    int rc;

    if ((rc = krctl_one_arg(k, argc, argv, s_usage, "ID", &id)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    if (!util_org_id_valid(id))
        return krctl_usage_err(k,
                               "'%s' is not an organisation id (ura:, "
                               "agb:, kvk: or oin: and digits)",
                               id);
    req.version = KR__V1__VERSION__VERSION_1;
    if (suspend) {
        req.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_SUSPEND;
        req.org_suspend = (char *)id;
    } else {
        req.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_RESUME;
        req.org_resume = (char *)id;
    }
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return KRCTL_EXIT_OK;
}

static int
s_org_remove(struct krctl *k, int argc, char **argv)
{
    return krctl_org_remove(k, argc, argv, s_usage);
}

static int
s_org_rekey(struct krctl *k, int argc, char **argv)
{
    return krctl_org_rekey(k, argc, argv, s_usage);
}

static int
s_org_suspend(struct krctl *k, int argc, char **argv)
{
    return s_org_set_suspended(k, argc, argv, 1);
}

static int
s_org_resume(struct krctl *k, int argc, char **argv)
{
    return s_org_set_suspended(k, argc, argv, 0);
}

int
cmd_org(struct krctl *k, int argc, char **argv)
{
    static const struct krctl_sub subs[] = {
        {"add", "org add", s_org_add},
        {"list", "org list", s_org_list},
        {"suspend", "org suspend", s_org_suspend},
        {"resume", "org resume", s_org_resume},
        {"remove", "org remove", s_org_remove},
        {"rekey", "org rekey", s_org_rekey},
    };

    return krctl_dispatch(k, argc, argv, subs, sizeof(subs) / sizeof(subs[0]),
                          s_usage);
}

/* "45s", "3m05s", "2h10m", "3d04h": the age of the oldest item, as an
 * operator reads it at a glance. */
static void
s_age(uint64_t ms, char *out, size_t n)
{
    uint64_t s = ms / 1000u;

    if (s < 60)
        snprintf(out, n, "%llus", (unsigned long long)s);
    else if (s < 3600)
        snprintf(out, n, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else if (s < 86400)
        snprintf(out, n, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s / 60 % 60));
    else
        snprintf(out, n, "%llud%02lluh", (unsigned long long)(s / 86400),
                 (unsigned long long)(s / 3600 % 24));
}

static int
s_queue_table(Kr__V1__AdminResponse *r)
{
    int wid = (int)strlen("ORG");
    char num[32];

    for (size_t i = 0; i < r->n_queues; i++)
        if (s_width(r->queues[i]->org_id) > wid)
            wid = s_width(r->queues[i]->org_id);
    s_pad("ORG", wid + 2);
    printf("%10s  %8s  %-9s  %8s  %s\n", "DEPTH", "OLDEST", "CONNECTED",
           "INFLIGHT", "EARLY");
    for (size_t i = 0; i < r->n_queues; i++) {
        const Kr__V1__QueueStat *q = r->queues[i];
        s_pad(q->org_id, wid + 2);
        if (q->depth > 0)
            s_age(q->oldest_age_ms, num, sizeof(num));
        else
            snprintf(num, sizeof(num), "-");
        printf("%10llu  %8s  %-9s  %8u  %s\n", (unsigned long long)q->depth,
               num, q->connected ? "yes" : "no", (unsigned)q->inflight,
               q->early_delivery ? "yes" : "no");
    }
    return fflush(stdout) == 0 ? KRCTL_EXIT_OK : KRCTL_EXIT_FAIL;
}

int
cmd_queues(struct krctl *k, int argc, char **argv)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    int json, rc;

    if ((rc = s_parse_json_flag(k, argc, argv, s_queues_usage, &json)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_QUEUES;
    req.queues = 1;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if (json) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < resp->n_queues; i++)
            json_object_array_add(a, json_map_queue(resp->queues[i]));
        rc = krctl_print_json(k, a);
        json_object_put(a);
    } else {
        rc = s_queue_table(resp);
    }
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}

int
cmd_stats(struct krctl *k, int argc, char **argv)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    int json, rc;

    if ((rc = s_parse_json_flag(k, argc, argv, s_stats_usage, &json)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_STATS;
    req.stats = 1;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    const Kr__V1__BrokerStats *st = resp->stats;
    if (st == NULL) {
        krctl_err(k, "krbroker answered without its figures");
        rc = KRCTL_EXIT_FAIL;
    } else if (json) {
        json_object *o = json_map_broker_stats(st);
        rc = krctl_print_json(k, o);
        json_object_put(o);
    } else {
        printf("uptime              %llu s\n"
               "commits             %llu (failed %llu)\n"
               "commit latency      p50 %.3f ms, p99 %.3f ms, max %.3f ms "
               "(last %u)\n"
               "early deliveries    %llu (passes called back %llu)\n",
               (unsigned long long)(st->uptime_ms / 1000),
               (unsigned long long)st->commits,
               (unsigned long long)st->commits_failed,
               st->commit_p50_us / 1000.0, st->commit_p99_us / 1000.0,
               st->commit_max_us / 1000.0, (unsigned)st->commit_window,
               (unsigned long long)st->early_deliveries,
               (unsigned long long)st->early_passes_failed);
        printf("store               %s; room %.1f MiB, file %.1f MiB, "
               "disk free %.1f MiB; refused full %llu\n",
               st->disk_full ? "DISK FULL: new messages refused (disk-full)"
                             : "taking new messages",
               st->store_room_bytes / 1048576.0,
               st->store_file_bytes / 1048576.0,
               st->disk_free_bytes / 1048576.0,
               (unsigned long long)st->refused_full);
        rc = fflush(stdout) == 0 ? KRCTL_EXIT_OK : KRCTL_EXIT_FAIL;
    }
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}
