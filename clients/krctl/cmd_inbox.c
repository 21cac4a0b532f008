/*
 * cmd_inbox.c - what the local krnode holds: received messages (inbox,
 * processed), the fate of sent ones (receipts) and its state (status).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "json_map.h"
#include "krctl.h"
#include "util.h"

static const char s_inbox_usage[] =
    "usage: krctl [--node ENDPOINT] inbox [--all] [--after SEQ] [--limit N]\n"
    "                                     [--wait MS]\n"
    "\n"
    "Print the messages this organisation's krnode has received, verified\n"
    "and opened, as a JSON array in arrival order. Each item has msg_id,\n"
    "seq (arrival number), sender, type, referral_id, case_id,\n"
    "subject_pseudonym (hex), purpose, data_category, legal_basis,\n"
    "priority, created_at and received_at (ISO 8601 UTC), processed,\n"
    "consent_id, notice, and content: the opened content, e.g.\n"
    "{\"referral\": {\"mother\": ...}}, {\"consent_evidence\": ...} for a\n"
    "consent-grant, with \"justification\" for a meldrecht message.\n"
    "\n"
    "An item with a notice comes from the broker, not from an\n"
    "organisation (sender and content are null): \"notice\": {\"kind\":\n"
    "\"consent-revoked\", \"consent_id\", \"msg_ids\": [the messages this\n"
    "organisation received under that consent], \"revoked_by\", \"at\"}.\n"
    "Mark it processed like a message once those messages are dealt with.\n"
    "The output holds person data: keep it where the EPD keeps it.\n"
    "\n"
    "Options:\n"
    "  --all        also messages already marked processed (default: only\n"
    "               unprocessed ones)\n"
    "  --after SEQ  only messages that arrived after arrival number SEQ\n"
    "  --limit N    at most N messages, 1 to 4294967295 (default: the\n"
    "               node's page size)\n"
    "  --wait MS    if there is nothing to list, wait up to MS ms (1 to\n"
    "               60000) for something to arrive instead of answering\n"
    "               [] at once\n"
    "  -h, --help   print this text and exit\n"
    "\n"
    "Exit status: 0 listed, 1 refused (or an item's content did not parse:\n"
    "it is listed with \"content\": null), 2 usage error, 3 no answer.\n";

static const char s_processed_usage[] =
    "usage: krctl [--node ENDPOINT] processed MSG_ID\n"
    "\n"
    "Mark an inbox message as processed: the organisation has taken it into\n"
    "its own system. 'krctl inbox' no longer lists it without --all.\n"
    "MSG_ID is the message's id, 32 hex digits.\n"
    "\n"
    "Exit status: 0 marked, 1 refused (e.g. no such message), 2 usage\n"
    "error, 3 no answer.\n";

static const char s_receipts_usage[] =
    "usage: krctl [--node ENDPOINT] receipts [--after SEQ] [--limit N]\n"
    "\n"
    "Print the node's outbox as its sender sees it, as a JSON array in the\n"
    "order the messages were sent: msg_id, seq (submission number),\n"
    "recipient, type, referral_id, created_at, outcome, reason, detail,\n"
    "accepted_at and final_at (ISO 8601 UTC, null until they happen).\n"
    "\"not_held\": true marks the broker's word on a message this node has\n"
    "no record of: it left for the broker just before the node stopped, and\n"
    "its sender never got its msg_id. Do not send it again under a new id:\n"
    "a send with this msg_id takes the record over.\n"
    "\n"
    "outcome is one of:\n"
    "  pending    in the outbox, not yet accepted by the broker\n"
    "  accepted   stored by the broker, not yet delivered\n"
    "  delivered  final: in the recipient's inbox\n"
    "  refused    final: see reason, e.g. unknown-recipient, no-consent,\n"
    "             bad-signature\n"
    "  expired    final: not delivered before not_after\n"
    "  withdrawn  final: consent was revoked before delivery\n"
    "\n"
    "Options:\n"
    "  --after SEQ  only messages after submission number SEQ\n"
    "  --limit N    at most N messages (default: the node's page size)\n"
    "  -h, --help   print this text and exit\n"
    "\n"
    "Exit status: 0 listed, 1 refused, 2 usage error, 3 no answer.\n";

static const char s_status_usage[] =
    "usage: krctl [--node ENDPOINT] status\n"
    "\n"
    "Print the node's state as JSON: org_id, connected (to the broker),\n"
    "outbox_pending (not yet accepted by the broker), outbox_open (accepted,\n"
    "no final outcome yet) and inbox_unprocessed; disk_full (the node's own\n"
    "file system is full: sends are refused, KR_EDISKFULL), disk_free_bytes\n"
    "and store_file_bytes; broker_refusing (why the broker refuses the\n"
    "pending messages for now: store-full, disk-full or internal; null when\n"
    "it does not); and the node's commits.\n"
    "\n"
    "Exit status: 0 printed, 1 refused, 2 usage error, 3 no answer.\n";

enum {
    S_OPT_ALL = KRCTL_OPT_CMD,
    S_OPT_AFTER,
    S_OPT_LIMIT,
    S_OPT_WAIT,
};

/* The options of the two listings; 'allow_all' only for the inbox.
 * Returns -1 after printing 'usage' for --help. */
static int
s_list_args(struct krctl *k, int argc, char **argv, const char *usage,
            int allow_all, Kr__V1__ListRequest *lr)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, S_OPT_ALL},
        {"after", required_argument, NULL, S_OPT_AFTER},
        {"limit", required_argument, NULL, S_OPT_LIMIT},
        {"wait", required_argument, NULL, S_OPT_WAIT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t v;
    int c, rc;

    lr->unprocessed_only = allow_all ? 1 : 0;
    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_ALL:
            if (!allow_all)
                return krctl_usage_err(k, "unknown option '--all'");
            lr->unprocessed_only = 0;
            break;
        case S_OPT_AFTER:
            if ((rc = krctl_parse_u64(k, "--after", optarg, 0, UINT64_MAX,
                                      &v)) != 0)
                return rc;
            lr->after_seq = v;
            break;
        case S_OPT_LIMIT:
            if ((rc = krctl_parse_u64(k, "--limit", optarg, 1, UINT32_MAX,
                                      &v)) != 0)
                return rc;
            lr->limit = (uint32_t)v;
            break;
        case S_OPT_WAIT:
            if (!allow_all)
                return krctl_usage_err(k, "unknown option '--wait'");
            if ((rc = krctl_parse_u64(k, "--wait", optarg, 1, 60000, &v)) != 0)
                return rc;
            lr->wait_ms = (uint32_t)v;
            /* The node answers within the wait: the request may take it
             * on top of the usual bound. */
            k->timeout_ms += (int)v;
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

int
cmd_inbox(struct krctl *k, int argc, char **argv)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    json_object *a;
    int rc, bad = 0;

    if ((rc = s_list_args(k, argc, argv, s_inbox_usage, 1, &lr)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
    req.inbox = &lr;
    if ((rc = krctl_node(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    a = json_object_new_array();
    for (size_t i = 0; i < resp->n_inbox; i++) {
        int ok;
        json_object_array_add(a, json_map_inbox_item(resp->inbox[i], &ok));
        if (!ok) {
            char hex[KR_ID_HEX_LEN] = "?";
            if (resp->inbox[i]->msg_id.len == KR_ID_LEN)
                util_hex(resp->inbox[i]->msg_id.data, KR_ID_LEN, hex);
            krctl_err(k,
                      "msg_id %s: content does not parse as "
                      "kr.v1.Content",
                      hex);
            bad = 1;
        }
    }
    rc = krctl_print_json(k, a);
    json_object_put(a);
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc != KRCTL_EXIT_OK ? rc : bad ? KRCTL_EXIT_FAIL : KRCTL_EXIT_OK;
}

int
cmd_processed(struct krctl *k, int argc, char **argv)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    uint8_t id[KR_ID_LEN];
    const char *arg;
    int rc;

    if ((rc = krctl_one_arg(k, argc, argv, s_processed_usage, "MSG_ID",
                            &arg)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    if (util_unhex(arg, id, KR_ID_LEN) != KR_OK)
        return krctl_usage_err(k, "'%s' is not a msg_id (32 hex digits)", arg);
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_PROCESSED;
    req.processed = (ProtobufCBinaryData){KR_ID_LEN, id};
    if ((rc = krctl_node(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    kr__v1__local_response__free_unpacked(resp, NULL);
    return KRCTL_EXIT_OK;
}

int
cmd_receipts(struct krctl *k, int argc, char **argv)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    json_object *a;
    int rc;

    if ((rc = s_list_args(k, argc, argv, s_receipts_usage, 0, &lr)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_OUTBOX;
    req.outbox = &lr;
    if ((rc = krctl_node(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    a = json_object_new_array();
    for (size_t i = 0; i < resp->n_outbox; i++)
        json_object_array_add(a, json_map_outbox_item(resp->outbox[i]));
    rc = krctl_print_json(k, a);
    json_object_put(a);
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc;
}

int
cmd_status(struct krctl *k, int argc, char **argv)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    json_object *o;
    int rc;

    if ((rc = krctl_help_only(k, argc, argv, s_status_usage)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    if (optind < argc)
        return krctl_usage_err(k, "unexpected argument '%s'", argv[optind]);
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_STATUS;
    req.status = 1;
    if ((rc = krctl_node(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if (resp->status == NULL) {
        krctl_err(k, "krnode answered without a status");
        kr__v1__local_response__free_unpacked(resp, NULL);
        return KRCTL_EXIT_FAIL;
    }
    o = json_map_status(resp->status);
    rc = krctl_print_json(k, o);
    json_object_put(o);
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc;
}
