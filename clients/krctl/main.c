/*
 * main.c - krctl: global options, the command table and the helpers every
 * command uses (messages, option parsing, JSON output).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "krctl.h"
#include "log.h"
#include "util.h"

#ifndef KR_VERSION
#define KR_VERSION "unknown"
#endif

/* Longest --timeout accepted: an hour is already more than any operator
 * waits for an answer from a local daemon. */
#define S_TIMEOUT_MAX_MS 3600000
#define S_TIMEOUT_DEFAULT_MS 10000

static const char s_usage[] =
    "usage: krctl [--admin ENDPOINT] [--node ENDPOINT] [--timeout MS] [-v]\n"
    "             COMMAND [ARGS]\n"
    "       krctl COMMAND --help\n"
    "       krctl --help | --version\n"
    "\n"
    "krctl is the command line of kansrijk. It makes keys, keeps the\n"
    "broker's organisation directory, consent ledger and audit trail, and\n"
    "sends and reads messages and consents through the organisation's own\n"
    "krnode.\n"
    "\n"
    "Global options:\n"
    "  --admin ENDPOINT  the broker's admin socket, e.g.\n"
    "                    ipc:///var/lib/krbroker/admin.sock\n"
    "                    (default: $KR_ADMIN)\n"
    "  --node ENDPOINT   the local socket of this organisation's krnode\n"
    "                    (default: $KR_NODE)\n"
    "  --timeout MS      how long to wait for a daemon's answer, 1 to\n"
    "                    3600000 milliseconds (default: 10000); a socket\n"
    "                    file that does not exist is reported at once\n"
    "  -v, --verbose     also print the log lines of krctl's modules\n"
    "  -h, --help        print this text and exit\n"
    "  --version         print the version and exit\n"
    "\n"
    "Broker commands (need --admin):\n"
    "  org add --id ID --category CAT --name NAME --keys FILE.public\n"
    "                    add an organisation to the directory\n"
    "  org list [--json] list the directory\n"
    "  org suspend ID    refuse the organisation's connections and messages\n"
    "  org resume ID     undo a suspension\n"
    "  org remove ID     withdraw what waits for it; refuse it for good\n"
    "  org rekey ID --keys NEW.public [--grace DAYS]\n"
    "                    new keys; the old ones honoured DAYS (14)\n"
    "  queues [--json]   what waits for each organisation\n"
    "  stats [--json]    the broker's commits (latency) and early deliveries\n"
    "  backup DIR        a compacted copy of the broker's store in DIR\n"
    "                    (empty), its audit chain verified; see\n"
    "                    'krctl backup --help'\n"
    "  report [--month YYYY-MM] [--json|--csv]\n"
    "                    the coalition's figures per route and month, as\n"
    "                    on the broker's page /coalition\n"
    "  log-level LEVEL   the broker's log level (debug, info, warn, error)\n"
    "                    until its next SIGHUP or start\n"
    "  retention         purges, the audit anchor, signals and matches, JSON\n"
    "  consent list (--subject PSEUDONYM | --bsn BSN --coalition-key FILE)\n"
    "                    the consents of one subject, as JSON\n"
    "  consent show CONSENT_ID\n"
    "                    one consent record, as JSON\n"
    "  audit tail [-n N] the last N audit records, as JSON lines\n"
    "  audit export [--after SEQ] [--limit N]\n"
    "                    audit records in order, as JSON lines\n"
    "  audit verify      check the audit trail's hash chain\n"
    "  referral show REFERRAL_ID [--json]\n"
    "                    one referral's state and history\n"
    "  referrals [--state S] [--overdue] [--org ORG] [--json]\n"
    "                    referrals, state only\n"
    "  routes [--json]   the routes and timers the broker loaded\n"
    "\n"
    "Node commands (need --node):\n"
    "  send [--check] [--wait] FILE.json\n"
    "                    send the message FILE describes; prints its msg_id;\n"
    "                    --wait: exit 1 if the broker refuses it\n"
    "  consent grant [--check] FILE.json\n"
    "                    record the consent FILE describes; prints its\n"
    "                    consent_id and msg_id\n"
    "  consent revoke --consent CONSENT_ID --recipient ORG\n"
    "                    revoke a consent; prints the msg_id\n"
    "  inbox [--all] [--after SEQ] [--limit N] [--wait MS]\n"
    "                    received messages, opened, as JSON; --wait: wait up\n"
    "                    to MS for one to arrive instead of answering []\n"
    "  processed MSG_ID  mark an inbox message as processed\n"
    "  receipts [--after SEQ] [--limit N]\n"
    "                    the fate of sent messages, as JSON\n"
    "  status            the node's state, as JSON: connected, outbox and\n"
    "                    inbox counts, commits, the link's last error\n"
    "                    ('krctl status --help' lists every field)\n"
    "  escalations [--json]\n"
    "                    escalations this organisation received\n"
    "  referral show, referrals\n"
    "                    as above, with --node and no --admin: the\n"
    "                    referrals this organisation is party to\n"
    "  referrals --coalition [--state S] [--overdue] [--json]\n"
    "                    the coordinator: its coalition's referrals, state\n"
    "                    only, asked of the broker through this node\n"
    "  signal send --bsn BSN --purpose PURPOSE | signal withdraw SIGNAL_ID\n"
    "                    this organisation's involvement, at the broker\n"
    "  matches           the broker's match notices, as JSON\n"
    "  erasure request --bsn BSN | erasure status\n"
    "                    AVG art. 17 erasure, and the notices received\n"
    "\n"
    "Key commands (local files only):\n"
    "  keygen --out PREFIX\n"
    "                    new organisation keys: PREFIX.secret, PREFIX.public\n"
    "  keygen --coalition FILE [--key-version N]\n"
    "                    a new coalition key for subject pseudonyms\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  the operation failed or was refused; the reason is on stderr,\n"
    "     e.g. \"krctl: send: refused: recipient not in directory\"\n"
    "  2  usage error: unknown command or flag, missing argument, bad value\n"
    "  3  the daemon could not be reached, or did not answer in time\n";

static const struct {
    const char *name;
    krctl_cmd_fn *fn;
} s_commands[] = {
    {"keygen", cmd_keygen},
    {"org", cmd_org},
    {"queues", cmd_queues},
    {"send", cmd_send},
    {"inbox", cmd_inbox},
    {"processed", cmd_processed},
    {"receipts", cmd_receipts},
    {"status", cmd_status},
    {"stats", cmd_stats},
    {"consent", cmd_consent},
    {"audit", cmd_audit},
    {"referral", cmd_referral},
    {"referrals", cmd_referrals},
    {"routes", cmd_routes},
    {"escalations", cmd_escalations},
    {"audit", cmd_audit},
    {"log-level", cmd_log_level},
    {"backup", cmd_backup},
    {"signal", cmd_signal},
    {"matches", cmd_matches},
    {"erasure", cmd_erasure},
    {"retention", cmd_retention},
    {"report", cmd_report},
};

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"admin", required_argument, NULL, KRCTL_OPT_ADMIN},
        {"node", required_argument, NULL, KRCTL_OPT_NODE},
        {"timeout", required_argument, NULL, KRCTL_OPT_TIMEOUT},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, KRCTL_OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    struct krctl k = {
        .admin = getenv("KR_ADMIN"),
        .node = getenv("KR_NODE"),
        .timeout_ms = S_TIMEOUT_DEFAULT_MS,
    };
    enum log_level level = LOG_LEVEL_ERROR;
    uint64_t timeout;
    int c, rc;

    /* An empty variable is as good as none: "KR_NODE= krctl ..." is how a
     * user clears it for one command. */
    if (k.admin != NULL && *k.admin == '\0')
        k.admin = NULL;
    if (k.node != NULL && *k.node == '\0')
        k.node = NULL;

    krctl_getopt_reset();
    /* "+": stop at the command, whose own options come after it. */
    while ((c = krctl_getopt(&k, argc, argv, "+hv", opts)) != -1) {
        switch (c) {
        case KRCTL_OPT_ADMIN:
            k.admin = optarg;
            break;
        case KRCTL_OPT_NODE:
            k.node = optarg;
            break;
        case KRCTL_OPT_TIMEOUT:
            if ((rc = krctl_parse_u64(&k, "--timeout", optarg, 1,
                                      S_TIMEOUT_MAX_MS, &timeout)) != 0)
                return rc;
            k.timeout_ms = (int)timeout;
            k.timeout_set = 1;
            break;
        case 'v':
            level = LOG_LEVEL_DEBUG;
            break;
        case 'h':
            fputs(s_usage, stdout);
            return KRCTL_EXIT_OK;
        case KRCTL_OPT_VERSION:
            printf("krctl %s\n", KR_VERSION);
            return KRCTL_EXIT_OK;
        default:
            return KRCTL_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return krctl_usage_err(&k, "no command given");
    if (strcmp(argv[optind], "help") == 0) {
        fputs(s_usage, stdout);
        return KRCTL_EXIT_OK;
    }

    /* krctl is a short-lived tool: the common modules' log lines go to
     * stderr only when asked for (-v) or when they are errors. */
    log_init("krctl", level);
    if (kcrypto_init() != KR_OK) {
        krctl_err(&k, "cannot initialise libsodium");
        return KRCTL_EXIT_FAIL;
    }
    for (size_t i = 0; i < sizeof(s_commands) / sizeof(s_commands[0]); i++) {
        if (strcmp(argv[optind], s_commands[i].name) == 0) {
            k.cmd = s_commands[i].name;
            return s_commands[i].fn(&k, argc - optind, argv + optind);
        }
    }
    return krctl_usage_err(&k, "unknown command '%s'", argv[optind]);
}
