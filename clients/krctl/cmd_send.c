/*
 * cmd_send.c - krctl send: read a message description (JSON), hand it to
 * the local krnode, print the msg_id once the node has it in its outbox.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_map.h"
#include "kr.h"
#include "krctl.h"
#include "util.h"

/* A description is a few kilobytes; this bound only stops a wrong file
 * (an image, a database) from being read into memory whole. */
#define S_FILE_MAX (1024 * 1024)

static const char s_usage[] =
    "usage: krctl [--node ENDPOINT] [--timeout MS] send [--check] [--new]\n"
    "             [--wait] FILE.json\n"
    "\n"
    "Send the message FILE describes (\"-\": standard input) through this\n"
    "organisation's krnode. krctl prints the message's msg_id (32 hex\n"
    "digits) once the node has committed it to its outbox; from then on the\n"
    "node delivers it, and 'krctl receipts' shows its fate.\n"
    "\n"
    "The description is one JSON object. Every key is checked: an unknown\n"
    "key, a wrong type or a bad value is an error that names the key.\n"
    "  type           referral (default), referral-status, supplement,\n"
    "                 handover, subject-link, signal, communication,\n"
    "                 consent-grant, consent-revoke, erasure-request\n"
    "  recipient      organisation id, e.g. \"ura:87654321\" (required)\n"
    "  msg_id         32 hex digits; makes a repeated send idempotent. If\n"
    "                 absent, krctl derives it from the node's organisation\n"
    "                 and the file's bytes: running the same send again is\n"
    "                 the same message, sent once (krctl prints the same\n"
    "                 msg_id). --new picks a fresh one instead\n"
    "  referral_id, case_id, in_reply_to\n"
    "                 32 hex digits each (optional; a new referral gets a\n"
    "                 referral_id from the node)\n"
    "  subject_bsn    the subject's BSN when there is no referral.mother\n"
    "                 (required for consent-grant)\n"
    "  purpose        a code, e.g. \"prenataal-huisbezoek\"\n"
    "  data_category  medisch | sociaal\n"
    "  legal_basis    consent | meldrecht\n"
    "  consent_id     32 hex digits: the consent this message relies on;\n"
    "                 for consent-revoke (required) the one to revoke\n"
    "  justification  why the meldrecht is used: required with legal_basis\n"
    "                 meldrecht and allowed only there; sealed, and its\n"
    "                 hash goes into the envelope\n"
    "  priority       routine | urgent\n"
    "  not_after      ISO 8601 UTC, e.g. \"2026-12-31T00:00:00Z\", or a day\n"
    "                 relative to today, \"today+90d\" (optional)\n"
    "  actor_ref      opaque text that only your organisation can resolve\n"
    "  referral       the sealed content of a referral (below)\n"
    "  opaque         sealed free text, for types without a schema\n"
    "  consent_scope, consent_evidence\n"
    "                 consent-grant only, and required there (below)\n"
    "A referral needs purpose, data_category, legal_basis and referral with\n"
    "at least mother.bsn. Its content:\n"
    "  {\"mother\": {\"bsn\", \"given_name\", \"family_name\", "
    "\"birth_date\",\n"
    "              \"address\": {\"street\", \"house_number\", "
    "\"postal_code\",\n"
    "                          \"city\"},\n"
    "              \"phone\"},\n"
    "   \"expected_delivery_date\", \"reason_codes\": [...], \"reason_text\",\n"
    "   \"requested_service\", \"urgency\": routine | urgent,\n"
    "   \"referrer\": {\"name\", \"role\", \"phone\", \"email\", \"agb\"}}\n"
    "Dates are YYYY-MM-DD. The mother's BSN is sealed with the content and\n"
    "given to the node, which turns it into the subject pseudonym; it never\n"
    "leaves the node in clear. See examples/referral.json; docs/JSON.md\n"
    "has every form, examples/ one file per message type.\n"
    "\n"
    "A consent-grant (see also 'krctl consent grant') records a consent\n"
    "at the broker. Its scope travels in clear, for the broker to enforce:\n"
    "  \"consent_scope\": {\"consent_id\" (optional, 32 hex digits),\n"
    "     \"purpose\", \"data_category\",\n"
    "     \"from_org\" | \"from_category\", \"to_org\" | \"to_category\",\n"
    "     \"valid_from\", \"valid_until\", \"grantor\": self |\n"
    "     parent-with-authority | guardian, \"supersedes\" (optional)}\n"
    "The parties are an organisation id or a category (verloskunde, jgz,\n"
    "...). valid_from and valid_until are ISO 8601 UTC times or dates\n"
    "(YYYY-MM-DD: from 00:00Z, until 23:59:59.999Z, both inclusive), or\n"
    "days relative to today (\"today\", \"today+365d\"). The\n"
    "subject is subject_bsn, which the node turns into the pseudonym. The\n"
    "evidence is sealed for the recipient:\n"
    "  \"consent_evidence\": {\"given_on\" (date), \"given_by_name\",\n"
    "     \"given_by_role\", \"representation_checked\" (required unless\n"
    "     grantor is self), \"form_reference\", \"recorded_by\", \"notes\"}\n"
    "See examples/consent-grant.json and examples/veilig-thuis-melding.json\n"
    "(a meldrecht message with its justification).\n"
    "\n"
    "Options:\n"
    "  --check     only check FILE; print nothing, send nothing\n"
    "  --new       a new message even if this file was sent before (a\n"
    "              fresh msg_id instead of one derived from the file)\n"
    "  --wait      after the msg_id, wait (up to --timeout) until the broker\n"
    "              has accepted or refused the message; print the outcome\n"
    "              on stderr, and exit 1 if it was refused\n"
    "  -h, --help  print this text and exit\n"
    "\n"
    "Exit status: 0 sent (or, with --check, valid; with --wait, accepted);\n"
    "1 FILE is invalid or the node or the broker refused the message; 2 usage\n"
    "error; 3 the node did not answer (with --wait: no outcome in time).\n";

enum {
    S_OPT_CHECK = KRCTL_OPT_CMD,
    S_OPT_NEW,
    S_OPT_WAIT,
};

static int
s_read(struct krctl *k, const char *path, char **text, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf;
    int rc;

    if (strcmp(path, "-") != 0) {
        if ((rc = util_read_file(path, S_FILE_MAX, text, len)) == KR_OK)
            return KRCTL_EXIT_OK;
        krctl_err(k, "%s: %s", path,
                  rc == KR_EINVAL      ? "larger than 1 MiB"
                  : rc == KR_ENOTFOUND ? "no such file"
                                       : strerror(errno != 0 ? errno : EIO));
        return KRCTL_EXIT_FAIL;
    }
    buf = xmalloc(cap);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (n > S_FILE_MAX) {
            krctl_err(k, "standard input: larger than 1 MiB");
            free(buf);
            return KRCTL_EXIT_FAIL;
        }
        if (got == 0)
            break;
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    if (ferror(stdin)) {
        krctl_err(k, "standard input: %s", strerror(errno));
        free(buf);
        return KRCTL_EXIT_FAIL;
    }
    *text = buf;
    *len = n;
    return KRCTL_EXIT_OK;
}

/* The msg_id of a file that names none: derived from the sending
 * organisation and the file's bytes (kr_json_msg_id(), the same function
 * krspool uses: a file sent by either is one message), so that running the
 * same send again (after a timeout, or by someone who is not sure it went)
 * is the same message and is not sent twice. */
static int
s_derived_msg_id(struct krctl *k, const char *text, size_t len,
                 uint8_t id[KR_ID_LEN])
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    char hex[KR_MSG_ID_HEX_LEN];
    int rc;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_STATUS;
    req.status = 1;
    if ((rc = krctl_node(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if (resp->status == NULL || resp->status->org_id[0] == '\0' ||
        kr_json_msg_id(resp->status->org_id, text, len, hex) != KR_OK) {
        krctl_err(k, "krnode answered without its organisation");
        kr__v1__local_response__free_unpacked(resp, NULL);
        return KRCTL_EXIT_FAIL;
    }
    kr__v1__local_response__free_unpacked(resp, NULL);
    util_unhex(hex, id, KR_ID_LEN);
    return KRCTL_EXIT_OK;
}

/* Give a consent-grant its consent_id here unless the file names one, for
 * the same reason as the msg_id: an answer lost to a timeout must not
 * leave the operator without the id to repeat the send with. */
static int
s_grant_defaults(struct krctl *k, const char *path, json_object *in)
{
    json_object *v, *scope;
    uint8_t id[KR_ID_LEN];
    char hex[KR_ID_HEX_LEN];

    if (!json_object_object_get_ex(in, "type", &v) || v == NULL) {
        json_object_object_add(in, "type",
                               json_object_new_string("consent-grant"));
    } else if (!json_object_is_type(v, json_type_string) ||
               strcmp(json_object_get_string(v), "consent-grant") != 0) {
        krctl_err(k, "%s: type: must be consent-grant (or left out)", path);
        return KRCTL_EXIT_FAIL;
    }
    if (json_object_object_get_ex(in, "consent_scope", &scope) &&
        json_object_is_type(scope, json_type_object) &&
        !json_object_object_get_ex(scope, "consent_id", NULL) &&
        !json_object_object_get_ex(in, "consent_id", NULL)) {
        util_time_ordered_id(id);
        json_object_object_add(
            scope, "consent_id",
            json_object_new_string(util_hex(id, KR_ID_LEN, hex)));
    }
    return KRCTL_EXIT_OK;
}

/* The consent_id a parsed grant carries (the scope's, else the top-level
 * one), as hex into out; "" if none. */
static void
s_grant_consent_id(json_object *in, char out[KR_ID_HEX_LEN])
{
    json_object *scope, *v;

    out[0] = '\0';
    if ((json_object_object_get_ex(in, "consent_scope", &scope) &&
         json_object_object_get_ex(scope, "consent_id", &v)) ||
        json_object_object_get_ex(in, "consent_id", &v))
        snprintf(out, KR_ID_HEX_LEN, "%s", json_object_get_string(v));
}

int
krctl_send_file(struct krctl *k, const char *path, int check, int grant)
{
    Kr__V1__LocalResponse *resp = NULL;
    json_object *in = NULL, *v, *o;
    char *text = NULL, err[512], hex[KR_ID_HEX_LEN], chex[KR_ID_HEX_LEN];
    uint8_t *req = NULL, id[KR_ID_LEN];
    size_t len = 0, req_len = 0;
    int rc;

    if ((rc = s_read(k, path, &text, &len)) != KRCTL_EXIT_OK)
        return rc;
    rc = KRCTL_EXIT_FAIL;
    if (json_map_parse_text(text, len, &in, err, sizeof(err)) != KR_OK) {
        krctl_err(k, "%s: %s", path, err);
        goto done;
    }
    /* Without an id of our own, a send that times out could only be
     * repeated blindly, and might then arrive twice. */
    if (json_object_is_type(in, json_type_object) &&
        !json_object_object_get_ex(in, "msg_id", &v)) {
        if (check || k->send_new_id)
            util_time_ordered_id(id); /* time-ordered: see util.h */
        else if ((rc = s_derived_msg_id(k, text, len, id)) != KRCTL_EXIT_OK)
            goto done;
        rc = KRCTL_EXIT_FAIL;
        json_object_object_add(
            in, "msg_id", json_object_new_string(util_hex(id, KR_ID_LEN, hex)));
    }
    if (grant && json_object_is_type(in, json_type_object) &&
        s_grant_defaults(k, path, in) != KRCTL_EXIT_OK)
        goto done;
    if (json_map_send_parse(in, util_now_ms(), &req, &req_len, err,
                            sizeof(err)) != KR_OK) {
        krctl_err(k, "%s: %s", path, err);
        goto done;
    }
    if (check) {
        rc = KRCTL_EXIT_OK;
        goto done;
    }
    /* The parse has checked them: 32 hex digits. */
    json_object_object_get_ex(in, "msg_id", &v);
    snprintf(hex, sizeof(hex), "%s", json_object_get_string(v));
    s_grant_consent_id(in, chex);
    rc = krctl_node_packed(k, req, req_len, &resp);
    if (rc == KRCTL_EXIT_UNREACHABLE && k->maybe_done) {
        if (grant && chex[0] != '\0')
            krctl_err(k,
                      "msg_id %s (consent_id %s): the node may or may not "
                      "have it; repeat the send with \"msg_id\": \"%s\" to "
                      "be sure it is sent once",
                      hex, chex, hex);
        else
            krctl_err(k,
                      "msg_id %s: the node may or may not have it; repeat "
                      "the send with \"msg_id\": \"%s\" to be sure it is "
                      "sent once",
                      hex, hex);
        goto done;
    }
    if (rc != KRCTL_EXIT_OK)
        goto done;
    if (resp->msg_id.len != KR_ID_LEN) {
        krctl_err(k, "krnode answered without a msg_id");
        rc = KRCTL_EXIT_FAIL;
        goto done;
    }
    util_hex(resp->msg_id.data, KR_ID_LEN, hex);
    if (!grant) {
        printf("%s\n", hex);
        rc = fflush(stdout) == 0 ? KRCTL_EXIT_OK : KRCTL_EXIT_FAIL;
        if (rc == KRCTL_EXIT_OK && k->send_wait)
            rc = krctl_send_wait(k, resp->msg_id.data);
        goto done;
    }
    /* The node's word on the consent_id is final (a node that predates it
     * says nothing: then it used ours). */
    if (resp->consent_id.len == KR_ID_LEN)
        util_hex(resp->consent_id.data, KR_ID_LEN, chex);
    o = json_object_new_object();
    json_object_object_add(
        o, "consent_id", chex[0] != '\0' ? json_object_new_string(chex) : NULL);
    json_object_object_add(o, "msg_id", json_object_new_string(hex));
    rc = krctl_print_json(k, o);
    json_object_put(o);
done:
    if (resp != NULL)
        kr__v1__local_response__free_unpacked(resp, NULL);
    if (req != NULL) {
        /* The request holds the BSN and the content in plain text. */
        explicit_bzero(req, req_len);
        free(req);
    }
    json_object_put(in);
    if (text != NULL) {
        explicit_bzero(text, len);
        free(text);
    }
    return rc;
}

int
krctl_send_cmd(struct krctl *k, int argc, char **argv, const char *usage,
               int grant)
{
    static const struct option opts[] = {
        {"check", no_argument, NULL, S_OPT_CHECK},
        {"new", no_argument, NULL, S_OPT_NEW},
        {"wait", no_argument, NULL, S_OPT_WAIT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int check = 0, c;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_CHECK:
            check = 1;
            break;
        case S_OPT_NEW:
            k->send_new_id = 1;
            break;
        case S_OPT_WAIT:
            k->send_wait = !grant; /* send only */
            break;
        case 'h':
            fputs(usage, stdout);
            return KRCTL_EXIT_OK;
        default:
            return KRCTL_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return krctl_usage_err(k, "missing FILE.json");
    if (optind + 1 < argc)
        return krctl_usage_err(k, "unexpected argument '%s'", argv[optind + 1]);
    if (!check && k->node == NULL)
        return krctl_usage_err(k, "no krnode socket: use --node ENDPOINT or "
                                  "set KR_NODE");
    return krctl_send_file(k, argv[optind], check, grant);
}

int
cmd_send(struct krctl *k, int argc, char **argv)
{
    return krctl_send_cmd(k, argc, argv, s_usage, 0);
}
