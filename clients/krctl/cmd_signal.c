/*
 * cmd_signal.c - krctl signal send | withdraw, and krctl matches: an
 * organisation's signals through its krnode (PROTOCOL.md "Signals"), and
 * the broker's match notices in its inbox.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_map.h"
#include "krctl.h"
#include "names.h"
#include "util.h"

static const char s_usage[] =
    "usage: krctl [--node ENDPOINT] signal send --bsn BSN --purpose PURPOSE\n"
    "                 [--data-category medisch|sociaal] [--actor-ref TEXT]\n"
    "                 [--msg-id HEX]\n"
    "       krctl [--node ENDPOINT] signal withdraw SIGNAL_ID\n"
    "\n"
    "send: record at the broker that this organisation is involved with the\n"
    "person (her BSN becomes the coalition's pseudonym at the node and never\n"
    "leaves it) for a route's purpose. The broker keeps only the pseudonym,\n"
    "the purpose, the data category and the contact reference (--actor-ref,\n"
    "which only this organisation can resolve). When another organisation\n"
    "signals the same person, or her linked child or mother, both get a\n"
    "match notice (krctl matches). Prints the signal's id (its msg_id).\n"
    "\n"
    "withdraw: remove this organisation's signal SIGNAL_ID (32 hex digits).\n"
    "Only the organisation that made a signal may withdraw it. Prints the\n"
    "withdrawal's msg_id; 'krctl receipts' shows its fate.\n"
    "\n"
    "Exit status: 0 handed to the node, 1 refused, 2 usage error, 3 no "
    "answer.\n";

static const char s_matches_usage[] =
    "usage: krctl [--node ENDPOINT] matches\n"
    "\n"
    "Print the broker's match notices in the node's inbox as a JSON array:\n"
    "notice_id, at, org (the other organisation), category, since (when its\n"
    "signal was made), subject (the pseudonym of this organisation's signal,\n"
    "hex), other_subject, family (true: the signal is on the linked mother\n"
    "or child), signal_id (this organisation's signal; empty for a\n"
    "coordinator) and with (a coordinator's notice: the first organisation).\n"
    "A notice never says why the other organisation is involved.\n"
    "\n"
    "Exit status: 0 listed, 1 refused, 2 usage error, 3 no answer.\n";

/* This node's organisation (a signal is addressed to its own sender). */
static int
s_own_org(struct krctl *k, char org[KR_ORG_ID_MAX])
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    int rc;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_STATUS;
    if ((rc = krctl_node(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if (resp->status == NULL || resp->status->org_id == NULL ||
        !util_org_id_valid(resp->status->org_id)) {
        krctl_err(k, "krnode did not say its organisation");
        kr__v1__local_response__free_unpacked(resp, NULL);
        return KRCTL_EXIT_FAIL;
    }
    snprintf(org, KR_ORG_ID_MAX, "%s", resp->status->org_id);
    kr__v1__local_response__free_unpacked(resp, NULL);
    return KRCTL_EXIT_OK;
}

static int
s_send(struct krctl *k, Kr__V1__SendRequest *s)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    uint8_t content[16];
    char org[KR_ORG_ID_MAX], hex[KR_ID_HEX_LEN];
    int rc;

    if ((rc = s_own_org(k, org)) != KRCTL_EXIT_OK)
        return rc;
    /* Nothing about the person is sealed: the content is a marker. */
    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_OPAQUE;
    c.opaque = (ProtobufCBinaryData){1, (uint8_t *)"-"};
    s->content.len = kr__v1__content__pack(&c, content);
    s->content.data = content;
    if (s->type == KR__V1__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED)
        s->type = KR__V1__MESSAGE_TYPE__SIGNAL;
    s->recipient = org;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_SEND;
    req.send = s;
    if ((rc = krctl_node(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if (resp->msg_id.len != KR_ID_LEN) {
        krctl_err(k, "krnode answered without a msg_id");
        kr__v1__local_response__free_unpacked(resp, NULL);
        return KRCTL_EXIT_FAIL;
    }
    printf("%s\n", util_hex(resp->msg_id.data, KR_ID_LEN, hex));
    kr__v1__local_response__free_unpacked(resp, NULL);
    return KRCTL_EXIT_OK;
}

enum {
    S_OPT_BSN = KRCTL_OPT_CMD,
    S_OPT_PURPOSE,
    S_OPT_CAT,
    S_OPT_ACTOR,
    S_OPT_ID
};

static int
s_cmd_send(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"bsn", required_argument, NULL, S_OPT_BSN},
        {"purpose", required_argument, NULL, S_OPT_PURPOSE},
        {"data-category", required_argument, NULL, S_OPT_CAT},
        {"actor-ref", required_argument, NULL, S_OPT_ACTOR},
        {"msg-id", required_argument, NULL, S_OPT_ID},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    uint8_t id[KR_ID_LEN];
    int c;

    s.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    s.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
    s.priority = KR__V1__PRIORITY__ROUTINE;
    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_BSN:
            /* The node checks it when it makes the pseudonym. */
            s.subject_bsn = optarg;
            break;
        case S_OPT_PURPOSE:
            s.purpose = optarg;
            break;
        case S_OPT_CAT: {
            int dc = data_category_parse(optarg);
            if (dc <= 0)
                return krctl_usage_err(k, "--data-category: medisch or "
                                          "sociaal");
            s.data_category = dc;
            break;
        }
        case S_OPT_ACTOR:
            s.actor_ref =
                (ProtobufCBinaryData){strlen(optarg), (uint8_t *)optarg};
            break;
        case S_OPT_ID:
            if (util_unhex(optarg, id, KR_ID_LEN) != KR_OK)
                return krctl_usage_err(k, "--msg-id: not 32 hex digits");
            s.msg_id = (ProtobufCBinaryData){KR_ID_LEN, id};
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
    if (s.subject_bsn[0] == '\0' || s.purpose[0] == '\0')
        return krctl_usage_err(k, "--bsn and --purpose are required");
    return s_send(k, &s);
}

static int
s_cmd_withdraw(struct krctl *k, int argc, char **argv)
{
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    uint8_t id[KR_ID_LEN];
    const char *arg;
    int rc;

    if ((rc = krctl_one_arg(k, argc, argv, s_usage, "SIGNAL_ID", &arg)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    if (util_unhex(arg, id, KR_ID_LEN) != KR_OK)
        return krctl_usage_err(k, "SIGNAL_ID: not 32 hex digits");
    s.signal_withdraw = 1;
    s.signal_id = (ProtobufCBinaryData){KR_ID_LEN, id};
    s.priority = KR__V1__PRIORITY__ROUTINE;
    return s_send(k, &s);
}

int
cmd_signal(struct krctl *k, int argc, char **argv)
{
    static const struct krctl_sub subs[] = {
        {"send", "signal send", s_cmd_send},
        {"withdraw", "signal withdraw", s_cmd_withdraw},
    };
    return krctl_dispatch(k, argc, argv, subs, sizeof(subs) / sizeof(subs[0]),
                          s_usage);
}

static json_object *
s_hex_json(ProtobufCBinaryData d)
{
    char hex[2 * 32 + 1];

    if (d.len == 0 || d.len > 32)
        return json_object_new_string("");
    return json_object_new_string(util_hex(d.data, d.len, hex));
}

static json_object *
s_time_json(uint64_t ms)
{
    char t[JSON_MAP_TIME_LEN];

    if (ms == 0 || json_map_time_format(ms, t) != 0)
        return NULL;
    return json_object_new_string(t);
}

int
cmd_matches(struct krctl *k, int argc, char **argv)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    uint64_t after = 0;
    int rc;

    if ((rc = krctl_help_only(k, argc, argv, s_matches_usage)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    json_object *a = json_object_new_array();
    /* Page through the whole inbox (processed items too): bounded by the
     * inbox's size, a page at a time. */
    for (int page = 0; page < 100000; page++) {
        req.version = KR__V1__VERSION__VERSION_1;
        req.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
        lr.unprocessed_only = 0;
        lr.after_seq = after;
        req.inbox = &lr;
        if ((rc = krctl_node(k, &req, &resp)) != KRCTL_EXIT_OK) {
            json_object_put(a);
            return rc;
        }
        size_t n = resp->n_inbox;
        for (size_t i = 0; i < n; i++) {
            const Kr__V1__InboxItem *it = resp->inbox[i];
            const Kr__V1__Notice *nt = it->notice;
            if (it->seq > after)
                after = it->seq;
            if (nt == NULL || nt->kind != KR__V1__NOTICE_KIND__NOTICE_MATCH)
                continue;
            json_object *o = json_object_new_object();
            json_object_object_add(o, "notice_id", s_hex_json(nt->notice_id));
            json_object_object_add(o, "at", s_time_json(nt->at_ms));
            json_object_object_add(o, "org",
                                   json_object_new_string(nt->match_org));
            json_object_object_add(
                o, "category",
                json_object_new_string(util_category_name(nt->match_category)));
            json_object_object_add(o, "since", s_time_json(nt->match_since_ms));
            json_object_object_add(o, "subject", s_hex_json(nt->match_subject));
            json_object_object_add(o, "other_subject",
                                   s_hex_json(nt->match_other_subject));
            json_object_object_add(o, "family",
                                   json_object_new_boolean(nt->family_match));
            json_object_object_add(o, "signal_id",
                                   s_hex_json(nt->match_signal_id));
            json_object_object_add(o, "with",
                                   json_object_new_string(nt->match_with));
            json_object_array_add(a, o);
        }
        kr__v1__local_response__free_unpacked(resp, NULL);
        resp = NULL;
        if (n == 0)
            break;
    }
    rc = krctl_print_json(k, a);
    json_object_put(a);
    return rc;
}

static const char s_erasure_usage[] =
    "usage: krctl [--node ENDPOINT] erasure request --bsn BSN [--msg-id HEX]\n"
    "       krctl [--node ENDPOINT] erasure status\n"
    "\n"
    "request: ask, on the person's justified request (AVG art. 17), that\n"
    "what the coalition holds about her be erased. The broker removes her\n"
    "signals, mother-child links and ended consents, keeps the audit trail\n"
    "and active consents (art. 17(3)), and tells every other organisation\n"
    "that held something. Prints the request's msg_id; 'krctl receipts'\n"
    "shows its fate (delivered: executed; refused unknown-subject: the\n"
    "broker held nothing).\n"
    "\n"
    "status: the erasure notices this organisation received, as a JSON\n"
    "array: notice_id, at, subject (hex pseudonym), by (who asked). Its\n"
    "adapters remove what they hold about each subject.\n"
    "\n"
    "Exit status: 0 done, 1 refused, 2 usage error, 3 no answer.\n";

static int
s_erasure_request(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"bsn", required_argument, NULL, S_OPT_BSN},
        {"msg-id", required_argument, NULL, S_OPT_ID},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    uint8_t id[KR_ID_LEN];
    int c;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_BSN:
            s.subject_bsn = optarg;
            break;
        case S_OPT_ID:
            if (util_unhex(optarg, id, KR_ID_LEN) != KR_OK)
                return krctl_usage_err(k, "--msg-id: not 32 hex digits");
            s.msg_id = (ProtobufCBinaryData){KR_ID_LEN, id};
            break;
        case 'h':
            fputs(s_erasure_usage, stdout);
            return KRCTL_EXIT_OK;
        default:
            return KRCTL_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return krctl_usage_err(k, "unexpected argument '%s'", argv[optind]);
    if (s.subject_bsn[0] == '\0')
        return krctl_usage_err(k, "--bsn is required");
    s.priority = KR__V1__PRIORITY__ROUTINE;
    s.type = KR__V1__MESSAGE_TYPE__ERASURE_REQUEST;
    return s_send(k, &s);
}

/* Notices of one kind in the node's inbox, each made into JSON by fn. */
static int
s_notices(struct krctl *k, int kind,
          json_object *(*fn)(const Kr__V1__Notice *nt))
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    uint64_t after = 0;
    int rc;

    json_object *a = json_object_new_array();
    for (int page = 0; page < 100000; page++) {
        req.version = KR__V1__VERSION__VERSION_1;
        req.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
        lr.unprocessed_only = 0;
        lr.after_seq = after;
        req.inbox = &lr;
        if ((rc = krctl_node(k, &req, &resp)) != KRCTL_EXIT_OK) {
            json_object_put(a);
            return rc;
        }
        size_t n = resp->n_inbox;
        for (size_t i = 0; i < n; i++) {
            const Kr__V1__InboxItem *it = resp->inbox[i];
            if (it->seq > after)
                after = it->seq;
            if (it->notice != NULL && (int)it->notice->kind == kind)
                json_object_array_add(a, fn(it->notice));
        }
        kr__v1__local_response__free_unpacked(resp, NULL);
        resp = NULL;
        if (n == 0)
            break;
    }
    rc = krctl_print_json(k, a);
    json_object_put(a);
    return rc;
}

static json_object *
s_erasure_json(const Kr__V1__Notice *nt)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "notice_id", s_hex_json(nt->notice_id));
    json_object_object_add(o, "at", s_time_json(nt->at_ms));
    json_object_object_add(o, "subject", s_hex_json(nt->erased_subject));
    json_object_object_add(o, "by", json_object_new_string(nt->erased_by));
    return o;
}

static int
s_erasure_status(struct krctl *k, int argc, char **argv)
{
    int rc = krctl_help_only(k, argc, argv, s_erasure_usage);

    if (rc != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    return s_notices(k, KR__V1__NOTICE_KIND__NOTICE_ERASURE, s_erasure_json);
}

int
cmd_erasure(struct krctl *k, int argc, char **argv)
{
    static const struct krctl_sub subs[] = {
        {"request", "erasure request", s_erasure_request},
        {"status", "erasure status", s_erasure_status},
    };
    return krctl_dispatch(k, argc, argv, subs, sizeof(subs) / sizeof(subs[0]),
                          s_erasure_usage);
}

static const char s_retention_usage[] =
    "usage: krctl [--admin ENDPOINT] retention\n"
    "\n"
    "Print the broker's retention as JSON: messages_purged and audit_purged\n"
    "(records removed since start), audit_anchor_seq (the last audit record\n"
    "purged; the chain verifies on from it; 0: none), finals_pending (final\n"
    "message records whose retention has not ended), purge_passes,\n"
    "purge_total_us and purge_max_us (the purge's own work in the loop\n"
    "passes that purged, not their commits), and the signals\n"
    "stored, made, withdrawn and expired, and matches since start.\n"
    "\n"
    "Exit status: 0 printed, 1 refused, 2 usage error, 3 no answer.\n";

int
cmd_retention(struct krctl *k, int argc, char **argv)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    int rc = krctl_help_only(k, argc, argv, s_retention_usage);

    if (rc != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_STATS;
    req.stats = 1;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if (resp->stats == NULL) {
        krctl_err(k, "krbroker answered without its figures");
        kr__v1__admin_response__free_unpacked(resp, NULL);
        return KRCTL_EXIT_FAIL;
    }
    json_object *o = json_object_new_object();
    json_map_signal_stats(o, resp->stats);
    rc = krctl_print_json(k, o);
    json_object_put(o);
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}
