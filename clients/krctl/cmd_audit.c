/*
 * cmd_audit.c - krctl audit tail|export|verify: the broker's audit trail,
 * through its admin socket. Records come out as JSON lines (one compact
 * object per line), so that they can be appended to an archive and read
 * back line by line.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "json_map.h"
#include "krctl.h"
#include "util.h"

/* The page size of an export: what the broker gives when asked for 0. */
#define S_PAGE 1000
#define S_TAIL_DEFAULT 20

static const char s_usage[] =
    "usage: krctl [--admin ENDPOINT] audit tail [-n N]\n"
    "       krctl [--admin ENDPOINT] audit export [--after SEQ] [--limit N]\n"
    "       krctl [--admin ENDPOINT] audit verify\n"
    "\n"
    "Read the broker's audit trail: one record per accepted or refused\n"
    "event (NEN 7513 style), hash-chained, without names or content.\n"
    "\n"
    "  tail    the last N records (default 20), oldest first.\n"
    "  export  the records after SEQ (default: from the first), in order;\n"
    "          all of them, page by page, or at most N with --limit.\n"
    "  verify  let the broker walk the whole chain. Prints \"audit: chain\n"
    "          intact: N records\", or \"audit: chain broken at record SEQ:\n"
    "          DETAIL\" and exits 1.\n"
    "\n"
    "tail and export print JSON lines, one record per line: seq, at (ISO\n"
    "8601 UTC), event, action (C, R, U, D or E), result, check, org_id,\n"
    "actor_ref, msg_id, referral_id, consent_id, subject_pseudonym (hex),\n"
    "object, purpose, legal_basis, noodknop (the meldrecht exception was\n"
    "used), reason, detail, instance, message_type, data_category,\n"
    "prev_hash and hash (hex). A key the record does not carry is null.\n"
    "\n"
    "Options:\n"
    "  -n N         tail: how many records, 1 to 4294967295\n"
    "  --after SEQ  export: start after record SEQ\n"
    "  --limit N    export: at most N records\n"
    "  -h, --help   print this text and exit\n"
    "\n"
    "Exit status: 0 done (verify: the chain is intact), 1 refused or the\n"
    "chain is broken, 2 usage error, 3 the broker did not answer.\n";

enum {
    S_OPT_AFTER = KRCTL_OPT_CMD,
    S_OPT_LIMIT,
};

/* Only --help, and no arguments: for verify. */
static int
s_no_args(struct krctl *k, int argc, char **argv)
{
    int rc = krctl_help_only(k, argc, argv, s_usage);

    if (rc != KRCTL_EXIT_OK)
        return rc;
    if (optind < argc)
        return krctl_usage_err(k, "unexpected argument '%s'", argv[optind]);
    return KRCTL_EXIT_OK;
}

/* Print a response's records as JSON lines. 'after' (may be NULL) is the
 * seq they must all lie beyond, in rising order; it is moved to the last
 * one printed. */
static int
s_print_records(struct krctl *k, const Kr__V1__AdminResponse *r,
                uint64_t *after)
{
    int rc;

    for (size_t i = 0; i < r->n_audit; i++) {
        const Kr__V1__AuditRecord *a = r->audit[i];
        json_object *o;

        /* A page that does not move forward would make export loop. */
        if (after != NULL && a->seq <= *after) {
            krctl_err(k,
                      "the broker sent record %llu after record %llu: "
                      "stopping",
                      (unsigned long long)a->seq, (unsigned long long)*after);
            return KRCTL_EXIT_FAIL;
        }
        o = json_map_audit_record(a);
        rc = krctl_print_json_line(k, o);
        json_object_put(o);
        if (rc != KRCTL_EXIT_OK)
            return rc;
        if (after != NULL)
            *after = a->seq;
    }
    return KRCTL_EXIT_OK;
}

static int
s_tail(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    uint64_t n = S_TAIL_DEFAULT;
    int c, rc;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "hn:", opts)) != -1) {
        switch (c) {
        case 'n':
            if ((rc = krctl_parse_u64(k, "-n", optarg, 1, UINT32_MAX, &n)) != 0)
                return rc;
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
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_AUDIT_TAIL;
    req.audit_tail = (uint32_t)n;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    rc = s_print_records(k, resp, NULL);
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}

static int
s_export(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"after", required_argument, NULL, S_OPT_AFTER},
        {"limit", required_argument, NULL, S_OPT_LIMIT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t after = 0, limit = 0, left;
    int c, rc;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_AFTER:
            if ((rc = krctl_parse_u64(k, "--after", optarg, 0, UINT64_MAX,
                                      &after)) != 0)
                return rc;
            break;
        case S_OPT_LIMIT:
            if ((rc = krctl_parse_u64(k, "--limit", optarg, 1, UINT64_MAX,
                                      &limit)) != 0)
                return rc;
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
    /* Page by page: a short page is the end (or, with --limit, the last
     * page asked for). Each page is its own request, so a trail of any
     * length passes without the broker holding it in memory. */
    left = limit;
    for (;;) {
        Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
        Kr__V1__AuditRange range = KR__V1__AUDIT_RANGE__INIT;
        Kr__V1__AdminResponse *resp = NULL;
        uint32_t page = S_PAGE;
        size_t got;

        if (limit != 0 && left < page)
            page = (uint32_t)left;
        range.after_seq = after;
        range.limit = page;
        req.version = KR__V1__VERSION__VERSION_1;
        req.op_case = KR__V1__ADMIN_REQUEST__OP_AUDIT_EXPORT;
        req.audit_export = &range;
        if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
            return rc;
        got = resp->n_audit;
        rc = s_print_records(k, resp, &after);
        kr__v1__admin_response__free_unpacked(resp, NULL);
        if (rc != KRCTL_EXIT_OK)
            return rc;
        if (got > page) {
            krctl_err(k,
                      "the broker sent %zu records for a page of %u: "
                      "stopping",
                      got, (unsigned)page);
            return KRCTL_EXIT_FAIL;
        }
        if (limit != 0) {
            left -= got;
            if (left == 0)
                break;
        }
        if (got < page)
            break;
    }
    return KRCTL_EXIT_OK;
}

/* Text from the broker goes to our terminal: one printable line. */
static const char *
s_clean(const char *in, char *out, size_t outlen)
{
    size_t i = 0;

    for (; in != NULL && in[i] != '\0' && i + 1 < outlen; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    out[i] = '\0';
    return out;
}

static int
s_verify(struct krctl *k, int argc, char **argv)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    const Kr__V1__AuditVerifyResult *v;
    char detail[512];
    int rc;

    if ((rc = s_no_args(k, argc, argv)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_AUDIT_VERIFY;
    req.audit_verify = 1;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if ((v = resp->verify) == NULL) {
        krctl_err(k, "the broker answered without a verification result");
        rc = KRCTL_EXIT_FAIL;
    } else if (v->ok) {
        printf("audit: chain intact: %llu records\n",
               (unsigned long long)v->checked);
        rc = KRCTL_EXIT_OK;
    } else {
        printf("audit: chain broken at record %llu: %s\n",
               (unsigned long long)v->first_bad_seq,
               s_clean(v->detail, detail, sizeof(detail)));
        rc = KRCTL_EXIT_FAIL;
    }
    if (fflush(stdout) != 0)
        rc = KRCTL_EXIT_FAIL;
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}

int
cmd_audit(struct krctl *k, int argc, char **argv)
{
    static const struct krctl_sub subs[] = {
        {"tail", "audit tail", s_tail},
        {"export", "audit export", s_export},
        {"verify", "audit verify", s_verify},
    };

    return krctl_dispatch(k, argc, argv, subs, sizeof(subs) / sizeof(subs[0]),
                          s_usage);
}
