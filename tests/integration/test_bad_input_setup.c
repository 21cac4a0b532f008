/*
 * test_bad_input_setup.c - who may connect, and what an operator or a
 * file can get wrong: an unknown CURVE key and suspended organisations
 * refused at the handshake (and served again once resumed); a secret key
 * file others may read (exit 1); bad configuration values and unknown
 * flags (exit 2); krctl's exit codes. Each with a message naming the
 * cause, and the real broker unaffected (harness_bad_input.h).
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness_bad_input.h"
#include "names.h"
#include "util.h"

static void
s_unknown_key(struct hb_test *t)
{
    struct h_wire w;
    char kid[KR_KEY_ID_LEN], needle[64];

    h_note("== unknown CURVE key");
    hb_wire_open(t, &w, NULL, "unknown key");
    kcrypto_key_id(w.keys->pub.curve, kid);
    snprintf(needle, sizeof(needle), "auth: refused key=%s", kid);
    H_CHECK(h_wire_wait_event(&w, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 10000),
            "a key the directory does not know: HANDSHAKE_FAILED_AUTH");
    bool ok;
    H_POLL(ok, 5000, h_log_contains(t->c.broker_log, needle));
    H_CHECK(ok, "the broker logs \"%s\"", needle);
    h_wire_send_hello(&w, HB_TESTER_ORG, 16);
    struct h_env_spec spec = {.sender = HB_TESTER_ORG, .recipient = HB_JGZ_ORG};
    uint8_t id[16];
    /* The answer to a frame comes within milliseconds (see the controls);
     * a second of silence, with the handshake refused, is no answer. */
    hb_submit(t, &w, &spec, id, HB_ANY_OUTCOME, 1000);
    h_wire_pump(&w, 200);
    H_CHECK(w.nframes == 0 && w.nreceipts == 0,
            "no frame and no receipt ever reaches it (%zu frames)", w.nframes);
    H_CHECK((w.events & ZMQ_EVENT_HANDSHAKE_SUCCEEDED) == 0,
            "its handshake never succeeds");
    h_wire_close(&w);
}

static bool
s_suspended_in_list(struct hb_test *t, const char *org, bool want)
{
    struct h_run r;
    bool found = false, match = false;

    h_krctl(&r, "--admin", t->c.admin, "org", "list", "--json", NULL);
    json_object *a = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    for (size_t i = 0; a != NULL && json_object_is_type(a, json_type_array) &&
                       i < json_object_array_length(a);
         i++) {
        json_object *e = json_object_array_get_idx(a, i);
        const char *id = h_json_str(e, "org_id");
        const char *status = h_json_str(e, "status");
        if (id != NULL && strcmp(id, org) == 0 && status != NULL) {
            found = true;
            match = strcmp(status, want ? "suspended" : "active") == 0;
        }
    }
    json_object_put(a);
    h_run_free(&r);
    return found && match;
}

struct s_one {
    uint8_t id[16];
    unsigned n;
    int outcome, reason;
};

static int
s_one_out(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_one *o = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, o->id, 16) == 0) {
        o->n++;
        o->outcome = it->outcome;
        o->reason = it->reason;
    }
    return 0;
}

static int
s_one_in(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_one *o = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, o->id, 16) == 0)
        o->n++;
    return 0;
}

static bool
s_outcome_is(kr_client_t *kc, struct s_one *o, int outcome)
{
    o->n = 0;
    return h_outbox_foreach(kc, s_one_out, o) == KR_OK && o->n == 1 &&
           o->outcome == outcome;
}

static void
s_suspension(struct hb_test *t)
{
    struct h_wire w;
    struct h_status st;
    struct h_referral ref;
    kr_pubkeys_t vlpub;
    char kid[KR_KEY_ID_LEN], needle[64], pub[H_PATH + 32];
    bool ok;

    h_note("== suspended organisations");
    /* The tester: suspended, its handshake is refused; resumed, it works. */
    H_CHECK(h_org_suspend(&t->c, HB_TESTER_ORG) == 0,
            "krctl org suspend %s exits 0", HB_TESTER_ORG);
    H_CHECK(s_suspended_in_list(t, HB_TESTER_ORG, true),
            "krctl org list --json shows it with status \"suspended\"");
    hb_wire_open(t, &w, t->tester_secret, "suspended tester");
    H_CHECK(h_wire_wait_event(&w, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 10000),
            "a suspended organisation's handshake fails (auth)");
    h_wire_close(&w);
    H_CHECK(h_org_resume(&t->c, HB_TESTER_ORG) == 0,
            "krctl org resume %s exits 0", HB_TESTER_ORG);
    H_CHECK(s_suspended_in_list(t, HB_TESTER_ORG, false),
            "krctl org list --json shows it \"active\" again");
    hb_wire_open(t, &w, t->tester_secret, "resumed tester");
    H_CHECK(h_wire_wait_event(&w, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 10000),
            "after resume its handshake succeeds");
    H_ENSURE(h_wire_send_hello(&w, HB_TESTER_ORG, 16) == KR_OK, "hello");
    hb_control(t, &w, "resumed tester");
    h_wire_close(&w);

    /* The midwives' node, while connected. */
    h_public_path(t->c.nodes[t->vl].keys, pub, sizeof(pub));
    H_ENSURE(kcrypto_pubkeys_load(pub, &vlpub) == KR_OK, "load vl.public");
    kcrypto_key_id(vlpub.curve, kid);
    snprintf(needle, sizeof(needle), "auth: refused key=%s", kid);
    kr_client_t *kv = h_node_client(&t->c, t->vl);
    kr_client_t *kj = h_node_client(&t->c, t->jgz);
    H_CHECK(h_org_suspend(&t->c, HB_VL_ORG) == 0,
            "krctl org suspend %s exits 0", HB_VL_ORG);
    H_POLL(ok, 10000, h_status(kv, &st) == KR_OK && !st.connected);
    H_CHECK(ok, "the suspended node reports itself disconnected");
    H_POLL(ok, 15000, h_log_contains(t->c.broker_log, needle));
    H_CHECK(ok, "its next handshake is refused (\"%s\")", needle);

    struct s_one held, toward;
    memset(&held, 0, sizeof(held));
    memset(&toward, 0, sizeof(toward));
    h_referral_default(&ref);
    ref.reason_text = "sent while suspended";
    int rc = h_send_referral(kv, HB_JGZ_ORG, &ref, NULL, held.id);
    H_CHECK(rc == KR_OK,
            "the suspended node still takes a send into its "
            "outbox (%s)",
            kr_strerror(rc));
    /* Wait for two more refused handshakes: the node has tried to reach
     * the broker with the message pending. */
    int refusals = h_log_count(t->c.broker_log, needle);
    H_POLL(ok, 15000, h_log_count(t->c.broker_log, needle) >= refusals + 2);
    H_CHECK(ok, "the node keeps trying and keeps being refused");
    H_CHECK(s_outcome_is(kv, &held, 0),
            "the message stays pending at the node (outcome %s)",
            outcome_name(held.outcome));
    held.n = 0;
    h_inbox_foreach(kj, s_one_in, &held);
    H_CHECK(held.n == 0, "and does not reach JGZ");

    /* Towards a suspended organisation: refused, final. */
    rc = h_send_referral(kj, HB_VL_ORG, &ref, NULL, toward.id);
    H_CHECK(rc == KR_OK, "JGZ sends to the suspended organisation (%s)",
            kr_strerror(rc));
    H_POLL(ok, 10000, s_outcome_is(kj, &toward, KR__V1__OUTCOME__REFUSED));
    H_CHECK(ok && toward.reason == KR__V1__REASON__RECIPIENT_SUSPENDED,
            "it is refused recipient-suspended (got %s %s)",
            outcome_name(toward.outcome), reason_name(toward.reason));

    /* Resumed: the node reconnects and its held message goes out. */
    H_CHECK(h_org_resume(&t->c, HB_VL_ORG) == 0, "krctl org resume %s exits 0",
            HB_VL_ORG);
    h_node_wait_connected(&t->c, t->vl, 30000);
    H_POLL(ok, 30000, s_outcome_is(kv, &held, KR__V1__OUTCOME__DELIVERED));
    H_CHECK(ok, "after resume the held message is delivered (outcome %s)",
            outcome_name(held.outcome));
    held.n = 0;
    h_inbox_foreach(kj, s_one_in, &held);
    H_CHECK(held.n == 1, "JGZ holds it exactly once (%u)", held.n);
    h_roundtrip(&t->c, t->vl, t->jgz, "after resume", 20000);
}

/* A daemon started with 'argv' must exit with 'code' and name 'needle' on
 * stderr. */
static void
s_expect_exit(char *const argv[], int code, const char *needle,
              const char *what)
{
    struct h_run r;
    int rc = h_run(&r, 10000, argv);
    char st[32];
    bool ok = rc == KR_OK && r.code == code && strstr(r.err, needle) != NULL;

    /* Its stderr on one line, and only when it is needed. */
    for (char *p = r.err; *p != '\0'; p++)
        if (*p == '\n')
            *p = '|';
    H_CHECK(ok, "%s: exit %d naming \"%s\" on stderr (got %s%s%.400s)", what,
            code, needle,
            rc == KR_OK ? h_status_str(r.status, st, sizeof(st)) : "timeout",
            ok ? "" : "; stderr: ", ok ? "" : r.err);
    h_run_free(&r);
}

static void
s_startup_errors(struct hb_test *t)
{
    struct h_cluster *c = &t->c;
    char *text = NULL, path[H_PATH + 64], dir[H_PATH + 64], local[H_PATH + 96],
         conf[H_PATH + 64], bpub[H_PATH + 32], secret[H_PATH + 32],
         admin[H_PATH + 96], listen[64];
    size_t len;

    h_note("== start-up errors");
    /* A secret key file that others may read. */
    h_secret_path(c->nodes[t->vl].keys, secret, sizeof(secret));
    H_ENSURE(util_read_file(secret, 1 << 20, &text, &len) == KR_OK,
             "read vl.secret");
    snprintf(path, sizeof(path), "%s/keys/readable.secret", c->tmp);
    H_ENSURE(h_write_file(path, text, 0644) == KR_OK, "write %s", path);
    free(text);
    h_public_path(c->broker_keys, bpub, sizeof(bpub));
    snprintf(dir, sizeof(dir), "%s/readable-node", c->tmp);
    snprintf(local, sizeof(local), "ipc://%s/node.sock", dir);
    char *node_argv[] = {(char *)H_KRNODE,
                         "--org",
                         HB_VL_ORG,
                         "--data_dir",
                         dir,
                         "--keys",
                         path,
                         "--broker",
                         c->listen,
                         "--broker_key",
                         bpub,
                         "--local",
                         local,
                         NULL};
    s_expect_exit(node_argv, 1, "readable.secret",
                  "krnode with a world-readable key file");

    h_secret_path(c->broker_keys, secret, sizeof(secret));
    H_ENSURE(util_read_file(secret, 1 << 20, &text, &len) == KR_OK,
             "read broker.secret");
    snprintf(path, sizeof(path), "%s/keys/readable-broker.secret", c->tmp);
    H_ENSURE(h_write_file(path, text, 0644) == KR_OK, "write %s", path);
    free(text);
    snprintf(dir, sizeof(dir), "%s/readable-broker", c->tmp);
    snprintf(admin, sizeof(admin), "ipc://%s/admin.sock", dir);
    /* A port nobody listens on; the broker must stop before binding. */
    snprintf(listen, sizeof(listen), "tcp://127.0.0.1:%d", c->port);
    char *broker_argv[] = {
        (char *)H_KRBROKER, "--data_dir", dir,       "--keys", path,
        "--listen",         listen,       "--admin", admin,    NULL};
    s_expect_exit(broker_argv, 1, "readable-broker.secret",
                  "krbroker with a world-readable key file");

    /* Malformed values and unknown flags: exit 2, the option named. */
    h_secret_path(c->broker_keys, secret, sizeof(secret));
    char *b1[] = {(char *)H_KRBROKER, "--data_dir", dir, "--keys", secret,
                  "--window",         "abc",        NULL};
    s_expect_exit(b1, 2, "window", "krbroker --window abc");
    char *b2[] = {(char *)H_KRBROKER, "--data_dir", dir, "--keys", secret,
                  "--no_such_option", "1",          NULL};
    s_expect_exit(b2, 2, "no_such_option", "krbroker --no_such_option");
    char *b3[] = {(char *)H_KRBROKER, "--data_dir", dir, "--keys", secret,
                  "--map_size_mb",    "0",          NULL};
    s_expect_exit(b3, 2, "map_size_mb", "krbroker --map_size_mb 0");
    snprintf(conf, sizeof(conf), "%s/bad-broker.ini", c->tmp);
    H_ENSURE(h_write_file(conf, "[broker]\nresend_ms = soon\n", 0600) == KR_OK,
             "write %s", conf);
    char *b4[] = {(char *)H_KRBROKER, "-c",   conf, "--data_dir", dir,
                  "--keys",           secret, NULL};
    s_expect_exit(b4, 2, "resend_ms", "krbroker with resend_ms = soon");

    h_secret_path(c->nodes[t->vl].keys, secret, sizeof(secret));
    snprintf(dir, sizeof(dir), "%s/bad-node", c->tmp);
    char *n1[] = {(char *)H_KRNODE,
                  "--org",
                  HB_VL_ORG,
                  "--data_dir",
                  dir,
                  "--keys",
                  secret,
                  "--broker_key",
                  bpub,
                  "--window",
                  "0",
                  NULL};
    s_expect_exit(n1, 2, "window", "krnode --window 0");
    char *n2[] = {(char *)H_KRNODE,
                  "--org",
                  HB_VL_ORG,
                  "--data_dir",
                  dir,
                  "--keys",
                  secret,
                  "--broker_key",
                  bpub,
                  "--no_such_option",
                  "1",
                  NULL};
    s_expect_exit(n2, 2, "no_such_option", "krnode --no_such_option");
    char *n3[] = {
        (char *)H_KRNODE, "--org", "midwives",     "--data_dir", dir,
        "--keys",         secret,  "--broker_key", bpub,         NULL};
    s_expect_exit(n3, 2, "org", "krnode --org midwives");
    snprintf(conf, sizeof(conf), "%s/bad-node.ini", c->tmp);
    H_ENSURE(h_write_file(conf, "[node]\nmap_size_mb = lots\n", 0600) == KR_OK,
             "write %s", conf);
    char *n4[] = {(char *)H_KRNODE, "-c",           conf, "--org",
                  HB_VL_ORG,        "--data_dir",   dir,  "--keys",
                  secret,           "--broker_key", bpub, NULL};
    s_expect_exit(n4, 2, "map_size_mb", "krnode with map_size_mb = lots");

    /* krctl's exit codes. */
    char nowhere[H_PATH + 64];
    snprintf(nowhere, sizeof(nowhere), "ipc://%s/nowhere.sock", c->tmp);
    char *k1[] = {(char *)H_KRCTL, "--no-such-flag", "org", "list", NULL};
    s_expect_exit(k1, 2, "no-such-flag", "krctl --no-such-flag");
    char *k2[] = {(char *)H_KRCTL, "--admin", nowhere, "--timeout",
                  "300",           "org",     "list",  NULL};
    s_expect_exit(k2, 3, "nowhere.sock", "krctl against no broker");
    char *k3[] = {(char *)H_KRCTL, "--admin",      c->admin, "org",
                  "suspend",       "ura:77777777", NULL};
    s_expect_exit(k3, 1, "organisation",
                  "krctl org suspend of an unknown "
                  "organisation");
    H_CHECK(h_proc_alive(&c->broker), "the real broker is unaffected");
}

int
main(void)
{
    static struct hb_test t;

    hb_setup(&t, "bad_input_setup", 240);
    s_unknown_key(&t);
    s_suspension(&t);
    s_startup_errors(&t);

    free(t.content);
    return h_finish(&t.c);
}
