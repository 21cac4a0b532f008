/*
 * cmd_consent.c - krctl consent grant|revoke|list|show: record and revoke
 * consents through the organisation's krnode, and read the broker's
 * consent ledger through its admin socket.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content.pb-c.h"
#include "crypto.h"
#include "json_map.h"
#include "krctl.h"
#include "util.h"

/* The bounds json_map_send.c applies to the same fields of a description
 * (json_map_internal.h). */
#define S_ACTOR_REF_MAX 128
#define S_NOTES_MAX (64 * 1024)
/* A line on standard input that holds a BSN: nine digits and some slack
 * for white space. */
#define S_BSN_LINE_MAX 64

static const char s_usage[] =
    "usage: krctl [--node ENDPOINT] consent grant [--check] [--new] FILE.json\n"
    "       krctl [--node ENDPOINT] consent revoke --consent CONSENT_ID\n"
    "                 --recipient ORG [--actor-ref TEXT] [--notes TEXT]\n"
    "                 [--msg-id MSG_ID]\n"
    "       krctl [--admin ENDPOINT] consent list --subject PSEUDONYM\n"
    "       krctl [--admin ENDPOINT] consent list --bsn BSN|-\n"
    "                 --coalition-key FILE\n"
    "       krctl [--admin ENDPOINT] consent show CONSENT_ID\n"
    "\n"
    "Consent is what lets a referral pass the broker: a message that carries\n"
    "person data needs an active consent that covers its subject, purpose,\n"
    "data category, sender, recipient and date.\n"
    "\n"
    "  grant   send the consent-grant FILE describes (\"-\": standard input)\n"
    "          through this organisation's krnode: the scope in clear for\n"
    "          the broker, the evidence sealed for the recipient. \"type\"\n"
    "          may be left out of the file; see 'krctl send --help' and\n"
    "          examples/consent-grant.json for the keys. Without a\n"
    "          consent_id in the file krctl picks one. Prints\n"
    "          {\"consent_id\": ..., \"msg_id\": ...} once the node has the\n"
    "          grant in its outbox; 'krctl receipts' shows whether the\n"
    "          broker recorded it. --check only checks FILE. As with\n"
    "          'krctl send', a file without a msg_id gets one derived from\n"
    "          it: running the same grant again records it once; --new\n"
    "          makes it a new message.\n"
    "  revoke  send a consent-revoke for CONSENT_ID (32 hex digits) to ORG,\n"
    "          a party to the consent, through the krnode. The broker ends\n"
    "          the consent, withdraws what still waits under it and tells\n"
    "          the organisations that received messages under it. Prints\n"
    "          the msg_id. --actor-ref: your own reference to who revoked\n"
    "          it; --notes: sealed text for ORG; --msg-id: repeat an\n"
    "          earlier revoke whose answer was lost, without sending twice.\n"
    "  list    the consents the broker holds for one subject, as a JSON\n"
    "          array, every record (active, revoked and superseded). The\n"
    "          subject is its pseudonym (--subject, 64 hex digits), or a\n"
    "          BSN that krctl turns into the pseudonym with the coalition\n"
    "          key (--bsn with --coalition-key): the BSN never leaves\n"
    "          krctl. \"--bsn -\" reads it from standard input, which other\n"
    "          users of the machine cannot see, as they can see arguments.\n"
    "  show    one consent record, as JSON.\n"
    "\n"
    "A record has consent_id, subject_pseudonym, key_version, purpose,\n"
    "data_category, from and to (an organisation id or a category),\n"
    "valid_from, valid_until (ISO 8601 UTC), grantor, supersedes, status\n"
    "(active, revoked or superseded), recorded_by, recorded_at,\n"
    "grant_msg_id, ended_at, ended_by and superseded_by.\n"
    "\n"
    "Exit status: 0 done, 1 refused, invalid or not found, 2 usage error,\n"
    "3 the daemon did not answer.\n";

enum {
    S_OPT_CONSENT = KRCTL_OPT_CMD,
    S_OPT_RECIPIENT,
    S_OPT_ACTOR_REF,
    S_OPT_NOTES,
    S_OPT_MSG_ID,
    S_OPT_SUBJECT,
    S_OPT_BSN,
    S_OPT_COALITION_KEY,
};

static int
s_grant(struct krctl *k, int argc, char **argv)
{
    return krctl_send_cmd(k, argc, argv, s_usage, 1);
}

static int
s_revoke(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"consent", required_argument, NULL, S_OPT_CONSENT},
        {"recipient", required_argument, NULL, S_OPT_RECIPIENT},
        {"actor-ref", required_argument, NULL, S_OPT_ACTOR_REF},
        {"notes", required_argument, NULL, S_OPT_NOTES},
        {"msg-id", required_argument, NULL, S_OPT_MSG_ID},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *consent = NULL, *recipient = NULL, *actor = NULL;
    const char *notes = NULL, *msg = NULL;
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__SendRequest sr = KR__V1__SEND_REQUEST__INIT;
    Kr__V1__Content content = KR__V1__CONTENT__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    uint8_t consent_id[KR_ID_LEN], msg_id[KR_ID_LEN], *cbuf = NULL;
    char hex[KR_ID_HEX_LEN];
    size_t clen;
    int c, rc;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_CONSENT:
            consent = optarg;
            break;
        case S_OPT_RECIPIENT:
            recipient = optarg;
            break;
        case S_OPT_ACTOR_REF:
            actor = optarg;
            break;
        case S_OPT_NOTES:
            notes = optarg;
            break;
        case S_OPT_MSG_ID:
            msg = optarg;
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
    if (consent == NULL)
        return krctl_usage_err(k, "missing --consent");
    if (recipient == NULL)
        return krctl_usage_err(k, "missing --recipient");
    /* Ids that do not parse are not quoted: a BSN given by mistake in
     * their place must not reach a terminal's scroll-back. */
    if (util_unhex(consent, consent_id, KR_ID_LEN) != KR_OK)
        return krctl_usage_err(k, "--consent: not a consent_id (32 hex "
                                  "digits)");
    if (!util_org_id_valid(recipient))
        return krctl_usage_err(k,
                               "--recipient: '%s' is not an organisation id "
                               "(ura:, agb:, kvk: or oin: and digits)",
                               recipient);
    /* Neither value is quoted: either may hold a name. */
    if (actor != NULL && (*actor == '\0' || strlen(actor) > S_ACTOR_REF_MAX))
        return krctl_usage_err(k, "--actor-ref: must be 1 to %d bytes",
                               S_ACTOR_REF_MAX);
    if (notes != NULL && strlen(notes) > S_NOTES_MAX)
        return krctl_usage_err(k, "--notes: longer than %d bytes", S_NOTES_MAX);
    if (msg != NULL && util_unhex(msg, msg_id, KR_ID_LEN) != KR_OK)
        return krctl_usage_err(k, "--msg-id: not a msg_id (32 hex digits)");
    if (k->node == NULL)
        return krctl_usage_err(k, "no krnode socket: use --node ENDPOINT or "
                                  "set KR_NODE");
    /* An id of our own, so that a lost answer can be repeated safely. */
    if (msg == NULL)
        util_time_ordered_id(msg_id);
    util_hex(msg_id, KR_ID_LEN, hex);

    content.version = KR__V1__VERSION__VERSION_1;
    if (notes != NULL && *notes != '\0') {
        content.body_case = KR__V1__CONTENT__BODY_OPAQUE;
        content.opaque.data = (uint8_t *)notes;
        content.opaque.len = strlen(notes);
    }
    clen = kr__v1__content__get_packed_size(&content);
    cbuf = xmalloc(clen);
    kr__v1__content__pack(&content, cbuf);
    sr.type = KR__V1__MESSAGE_TYPE__CONSENT_REVOKE;
    sr.recipient = (char *)recipient;
    sr.msg_id = (ProtobufCBinaryData){KR_ID_LEN, msg_id};
    sr.consent_id = (ProtobufCBinaryData){KR_ID_LEN, consent_id};
    if (actor != NULL)
        sr.actor_ref = (ProtobufCBinaryData){strlen(actor), (uint8_t *)actor};
    sr.content = (ProtobufCBinaryData){clen, cbuf};
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_SEND;
    req.send = &sr;
    rc = krctl_node(k, &req, &resp);
    if (rc == KRCTL_EXIT_UNREACHABLE && k->maybe_done) {
        krctl_err(k,
                  "msg_id %s: the node may or may not have it; repeat the "
                  "revoke with --msg-id %s to be sure it is sent once",
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
    printf("%s\n", util_hex(resp->msg_id.data, KR_ID_LEN, hex));
    rc = fflush(stdout) == 0 ? KRCTL_EXIT_OK : KRCTL_EXIT_FAIL;
done:
    if (resp != NULL)
        kr__v1__local_response__free_unpacked(resp, NULL);
    if (cbuf != NULL) {
        explicit_bzero(cbuf, clen); /* the notes, in plain text */
        free(cbuf);
    }
    return rc;
}

/* A BSN from standard input: one line, white space around it ignored. */
static int
s_read_bsn(struct krctl *k, char out[S_BSN_LINE_MAX])
{
    size_t len, start = 0;

    if (fgets(out, S_BSN_LINE_MAX, stdin) == NULL) {
        krctl_err(k, "--bsn -: nothing on standard input");
        return KRCTL_EXIT_FAIL;
    }
    len = strlen(out);
    while (len > 0 && strchr(" \t\r\n", out[len - 1]) != NULL)
        out[--len] = '\0';
    while (out[start] == ' ' || out[start] == '\t')
        start++;
    memmove(out, out + start, len - start + 1);
    return KRCTL_EXIT_OK;
}

/* The pseudonym of a BSN under the coalition key in 'path', computed
 * here: the BSN goes nowhere. */
static int
s_pseudonym(struct krctl *k, const char *bsn_arg, const char *path,
            uint8_t out[KR_PSEUDONYM_LEN])
{
    kr_coalition_key_t *ck = NULL;
    char line[S_BSN_LINE_MAX];
    const char *bsn = bsn_arg;
    int rc;

    if (strcmp(bsn_arg, "-") == 0) {
        if ((rc = s_read_bsn(k, line)) != KRCTL_EXIT_OK)
            return rc;
        bsn = line;
    }
    /* Never quoted: it is the one value that must not reach a log. */
    if (!kcrypto_bsn_valid(bsn)) {
        explicit_bzero(line, sizeof(line));
        return krctl_usage_err(k, "--bsn: not a BSN (9 digits that pass the "
                                  "eleven-test)");
    }
    rc = kcrypto_coalition_key_load(path, &ck);
    if (rc != KR_OK) {
        explicit_bzero(line, sizeof(line));
        if (rc == KR_EPERM)
            krctl_err(k,
                      "%s: readable or writable by group or others: "
                      "refusing the coalition key (chmod 600 it)",
                      path);
        else
            krctl_err(k, "%s: cannot load the coalition key: %s", path,
                      kr_strerror(rc));
        return KRCTL_EXIT_FAIL;
    }
    rc = kcrypto_pseudonym(ck, bsn, out);
    kcrypto_coalition_key_destroy(&ck);
    explicit_bzero(line, sizeof(line));
    if (rc != KR_OK) {
        krctl_err(k, "cannot compute the pseudonym: %s", kr_strerror(rc));
        return KRCTL_EXIT_FAIL;
    }
    return KRCTL_EXIT_OK;
}

static int
s_list(struct krctl *k, int argc, char **argv)
{
    static const struct option opts[] = {
        {"subject", required_argument, NULL, S_OPT_SUBJECT},
        {"bsn", required_argument, NULL, S_OPT_BSN},
        {"coalition-key", required_argument, NULL, S_OPT_COALITION_KEY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *subject = NULL, *bsn = NULL, *ckey = NULL;
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__ConsentQuery q = KR__V1__CONSENT_QUERY__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    uint8_t pseudonym[KR_PSEUDONYM_LEN];
    json_object *a;
    int c, rc;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case S_OPT_SUBJECT:
            subject = optarg;
            break;
        case S_OPT_BSN:
            bsn = optarg;
            break;
        case S_OPT_COALITION_KEY:
            ckey = optarg;
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
    if (subject != NULL && (bsn != NULL || ckey != NULL))
        return krctl_usage_err(k, "--subject: not together with --bsn or "
                                  "--coalition-key");
    if (subject == NULL && bsn == NULL)
        return krctl_usage_err(k, "missing --subject or --bsn");
    if (bsn != NULL && ckey == NULL)
        return krctl_usage_err(k, "--bsn needs --coalition-key");
    if (bsn == NULL && ckey != NULL)
        return krctl_usage_err(k, "--coalition-key needs --bsn");
    if (k->admin == NULL)
        return krctl_usage_err(k, "no broker admin socket: use --admin "
                                  "ENDPOINT or set KR_ADMIN");
    if (subject != NULL) {
        if (util_unhex(subject, pseudonym, KR_PSEUDONYM_LEN) != KR_OK)
            return krctl_usage_err(k, "--subject: not a pseudonym (64 hex "
                                      "digits)");
    } else if ((rc = s_pseudonym(k, bsn, ckey, pseudonym)) != KRCTL_EXIT_OK) {
        return rc;
    }
    q.subject_pseudonym = (ProtobufCBinaryData){KR_PSEUDONYM_LEN, pseudonym};
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_CONSENT_LIST;
    req.consent_list = &q;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    a = json_object_new_array();
    for (size_t i = 0; i < resp->n_consents; i++)
        json_object_array_add(a, json_map_consent_record(resp->consents[i]));
    rc = krctl_print_json(k, a);
    json_object_put(a);
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}

static int
s_show(struct krctl *k, int argc, char **argv)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    uint8_t id[KR_ID_LEN];
    json_object *o;
    const char *arg;
    int rc;

    if ((rc = krctl_one_arg(k, argc, argv, s_usage, "CONSENT_ID", &arg)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    /* Not quoted: a BSN given by mistake must not be echoed. */
    if (util_unhex(arg, id, KR_ID_LEN) != KR_OK)
        return krctl_usage_err(k, "CONSENT_ID: not a consent_id (32 hex "
                                  "digits)");
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_CONSENT_SHOW;
    req.consent_show = (ProtobufCBinaryData){KR_ID_LEN, id};
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if (resp->n_consents == 0) {
        krctl_err(k, "no consent %s", arg);
        kr__v1__admin_response__free_unpacked(resp, NULL);
        return KRCTL_EXIT_FAIL;
    }
    o = json_map_consent_record(resp->consents[0]);
    rc = krctl_print_json(k, o);
    json_object_put(o);
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}

int
cmd_consent(struct krctl *k, int argc, char **argv)
{
    static const struct krctl_sub subs[] = {
        {"grant", "consent grant", s_grant},
        {"revoke", "consent revoke", s_revoke},
        {"list", "consent list", s_list},
        {"show", "consent show", s_show},
    };

    return krctl_dispatch(k, argc, argv, subs, sizeof(subs) / sizeof(subs[0]),
                          s_usage);
}
