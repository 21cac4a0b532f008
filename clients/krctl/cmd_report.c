/*
 * cmd_report.c - `krctl report [--month YYYY-MM] [--json|--csv]`: the
 * coalition's figures, as the broker's page (/coalition) shows them.
 * The broker computes and renders them (broker/report_render.c), so the
 * page and this command cannot drift apart.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "krctl.h"

/* Unless --timeout says otherwise: the broker reads every referral. */
#define S_REPORT_TIMEOUT_MS 60000

enum { S_OPT_MONTH = KRCTL_OPT_CMD, S_OPT_JSON, S_OPT_CSV };

static const char s_usage[] =
    "usage: krctl [--admin ENDPOINT] report [--month YYYY-MM] [--json|--csv]\n"
    "\n"
    "The coalition's figures, the same as the broker's page (/coalition on\n"
    "its http_listen): per route (purpose) and month a referral was opened,\n"
    "referrals opened, accepted, rejected (by reason), completed (by\n"
    "outcome), escalated, still open, and the time from referral to\n"
    "acceptance and to first contact (median and 90th percentile); per\n"
    "organisation its queue, its open and its overdue referrals. No\n"
    "person's data. docs/OPERATIONS.md says what each figure means.\n"
    "\n"
    "Options:\n"
    "  --month YYYY-MM  only referrals opened in that month (UTC)\n"
    "  --json           one JSON document (durations in ms)\n"
    "  --csv            CSV, one figure a row: kind,name,month,figure,value\n"
    "  -h, --help       print this text and exit\n"
    "\n"
    "Exit status: 0 printed, 1 refused, 2 usage error, 3 no answer.\n";

int
cmd_report(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"month", required_argument, NULL, S_OPT_MONTH},
        {"json", no_argument, NULL, S_OPT_JSON},
        {"csv", no_argument, NULL, S_OPT_CSV},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__ReportQuery q = KR__V1__REPORT_QUERY__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    int c, rc, y, m;
    char tail;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_MONTH:
            if (strlen(optarg) != 7 || optarg[4] != '-' ||
                sscanf(optarg, "%4d-%2d%c", &y, &m, &tail) != 2 || y < 1970 ||
                m < 1 || m > 12)
                return krctl_usage_err(k, "--month: '%s' is not YYYY-MM",
                                       optarg);
            q.month = optarg;
            break;
        case S_OPT_JSON:
        case S_OPT_CSV:
            if (q.format != KR__V1__REPORT_FORMAT__REPORT_TEXT)
                return krctl_usage_err(k, "--json and --csv: one of them");
            q.format = c == S_OPT_JSON ? KR__V1__REPORT_FORMAT__REPORT_JSON
                                       : KR__V1__REPORT_FORMAT__REPORT_CSV;
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
    if (!k->timeout_set)
        k->timeout_ms = S_REPORT_TIMEOUT_MS;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_REPORT;
    req.report = &q;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    fputs(resp->report, stdout);
    rc = fflush(stdout) == 0 ? KRCTL_EXIT_OK : KRCTL_EXIT_FAIL;
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}
