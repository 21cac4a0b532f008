/*
 * test_mistakes.c - the mistakes a new operator made (issue 15), each with
 * the message and the exit status it now gets, through the real programs:
 * a data_dir the broker cannot write (not "in use by another krbroker"),
 * a new node whose broker is down (not "recipient not in directory"), a
 * wrong broker_key (said at every reconnect and in `krctl status`), an
 * endpoint without tcp:// (exit 2, naming the option), a .public file as
 * keys, `krctl send --wait` on a refusal (exit 1), krctl on a socket file
 * that does not exist (at once, exit 3), the help texts (exit codes,
 * options, status fields), and `krctl log-level`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <json-c/json.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_NEW_ORG "ura:00009999"

/* examples/<name>, addressed to 'recipient' (every "ura:87654321") and
 * valid for long (a consent's "2027-11-19" becomes "2099-12-31"), written
 * to 'path'. */
static void
s_example_file(const char *name, const char *path, const char *recipient)
{
    char src[H_PATH], *text = NULL;
    size_t len;
    FILE *f;

    snprintf(src, sizeof(src), "%s/examples/%s", KR_SOURCE_DIR, name);
    H_REQUIRE(util_read_file(src, 1 << 20, &text, &len) == KR_OK, "read %s",
              src);
    f = fopen(path, "w");
    H_REQUIRE(f != NULL, "write %s", path);
    for (const char *p = text; *p != '\0';) {
        if (strncmp(p, "ura:87654321", 12) == 0) {
            fputs(recipient, f);
            p += 12;
        } else if (strncmp(p, "2027-11-19", 10) == 0) {
            fputs("2099-12-31", f);
            p += 10;
        } else {
            fputc(*p++, f);
        }
    }
    fclose(f);
    free(text);
}

/* A referral with a msg_id of its own: each file is another message,
 * whatever krctl derives from a file's content. */
static void
s_referral_file(const char *path, const char *recipient)
{
    char *text = NULL, hex[KR_ID_HEX_LEN];
    uint8_t id[KR_ID_LEN];
    size_t len;
    FILE *f;

    s_example_file("referral.json", path, recipient);
    H_REQUIRE(util_read_file(path, 1 << 20, &text, &len) == KR_OK, "read %s",
              path);
    util_random_id(id);
    util_hex(id, KR_ID_LEN, hex);
    f = fopen(path, "w");
    H_REQUIRE(f != NULL && text[0] == '{', "rewrite %s", path);
    fprintf(f, "{\n  \"msg_id\": \"%s\",%s", hex, text + 1);
    fclose(f);
    free(text);
}

static void
s_run(struct h_run *r, char *const argv[])
{
    h_run(r, 20000, argv);
}

/* Exit status and stderr of a daemon started with bad options. */
static void
s_bad_start(const char *what, char *const argv[], int want_code,
            const char *want_text)
{
    struct h_run r;

    s_run(&r, argv);
    H_CHECK(r.code == want_code && strstr(r.err, want_text) != NULL,
            "%s: exit %d and \"%s\" (got exit %d: %s)", what, want_code,
            want_text, r.code, r.err);
    H_CHECK(strstr(r.err, "Invalid argument") == NULL,
            "%s: not a bare \"Invalid argument\"", what);
    h_run_free(&r);
}

static void
s_start_errors(struct h_cluster *c)
{
    char secret[H_PATH + 16], pub[H_PATH + 16], dir[H_PATH + 16];

    h_secret_path(c->broker_keys, secret, sizeof(secret));
    h_public_path(c->broker_keys, pub, sizeof(pub));
    snprintf(dir, sizeof(dir), "%s/scratch", c->tmp);

    char *listen[] = {H_KRBROKER, "--data_dir",     dir, "--keys", secret,
                      "--listen", "127.0.0.1:7700", NULL};
    s_bad_start("krbroker listen without tcp://", listen, 2,
                "listen: '127.0.0.1:7700' is not an endpoint");
    char *nbroker[] = {H_KRNODE,
                       "--org",
                       S_NEW_ORG,
                       "--data_dir",
                       dir,
                       "--keys",
                       secret,
                       "--broker_key",
                       pub,
                       "--broker",
                       "broker.example:7700",
                       NULL};
    s_bad_start("krnode broker without tcp://", nbroker, 2,
                "broker: 'broker.example:7700' is not an endpoint");
    char *bpub[] = {H_KRBROKER, "--data_dir",        dir, "--keys", pub,
                    "--listen", "tcp://127.0.0.1:0", NULL};
    s_bad_start("krbroker keys = the .public file", bpub, 1,
                "is the PUBLIC key file: give the .secret file");
    char *npub[] = {H_KRNODE, "--org", S_NEW_ORG,      "--data_dir", dir,
                    "--keys", pub,     "--broker_key", pub,          NULL};
    s_bad_start("krnode keys = the .public file", npub, 1,
                "is the PUBLIC key file: give the .secret file");

    /* A data_dir its user cannot write: the broker runs as nobody, with a
     * copy of the keys it may read, on a directory of root's. */
    struct passwd *nobody = getpwnam("nobody");
    if (getuid() != 0 || nobody == NULL) {
        h_note("skip: a data_dir that is not writable needs root and the "
               "user nobody");
        return;
    }
    char keys[H_PATH + 16], ro[H_PATH + 16], log[H_PATH + 16];
    snprintf(keys, sizeof(keys), "%s/nobody.secret", c->tmp);
    snprintf(ro, sizeof(ro), "%s/readonly", c->tmp);
    snprintf(log, sizeof(log), "%s/nobody.log", c->tmp);
    char *cp[] = {"/bin/cp", secret, keys, NULL};
    struct h_run r;
    s_run(&r, cp);
    h_run_free(&r);
    H_REQUIRE(chown(keys, nobody->pw_uid, nobody->pw_gid) == 0 &&
                  chmod(keys, 0600) == 0 && mkdir(ro, 0755) == 0 &&
                  chmod(c->tmp, 0711) == 0,
              "a key file for nobody and a directory it cannot write");
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        if (setgid(nobody->pw_gid) != 0 || setuid(nobody->pw_uid) != 0)
            _exit(99);
        execl(H_KRBROKER, "krbroker", "--data_dir", ro, "--keys", keys,
              "--listen", "tcp://127.0.0.1:0", (char *)NULL);
        _exit(98);
    }
    int status = 0;
    bool ok;
    H_POLL(ok, 10000, waitpid(pid, &status, WNOHANG) == pid);
    if (!ok) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    H_CHECK(ok && WIFEXITED(status) && WEXITSTATUS(status) == 1,
            "krbroker on a data_dir it cannot write: exit 1");
    H_CHECK(h_log_contains(log, "Permission denied (is the directory "
                                "writable by this user?)"),
            "krbroker on a data_dir it cannot write: says Permission denied");
    H_CHECK(!h_log_contains(log, "in use by another krbroker"),
            "krbroker on a data_dir it cannot write: not \"in use by another "
            "krbroker\"");
}

static void
s_help_texts(void)
{
    struct h_run r;

    char *node[] = {H_KRNODE, "--help", NULL};
    s_run(&r, node);
    H_CHECK(r.code == 0 && strstr(r.out, "Exit status: 0") != NULL &&
                strstr(r.out, "2 for a bad option or value") != NULL,
            "krnode --help: exit codes");
    h_run_free(&r);
    char *ctl[] = {H_KRCTL, "--help", NULL};
    s_run(&r, ctl);
    H_CHECK(r.code == 0 && strstr(r.out, "send [--check] [--wait]") &&
                strstr(r.out, "inbox [--all] [--after SEQ] [--limit N] "
                              "[--wait MS]") &&
                strstr(r.out, "consent grant [--check]") &&
                strstr(r.out, "log-level LEVEL"),
            "krctl --help: send --check/--wait, inbox --wait, log-level");
    h_run_free(&r);
    char *st[] = {H_KRCTL, "status", "--help", NULL};
    s_run(&r, st);
    H_CHECK(r.code == 0 && strstr(r.out, "held") &&
                strstr(r.out, "commit_p99_us") &&
                strstr(r.out, "last_link_error") &&
                strstr(r.out, "link_errors") && strstr(r.out, "--help"),
            "krctl status --help: every field and its option");
    h_run_free(&r);
}

static void
s_missing_socket(struct h_cluster *c)
{
    char ep[H_PATH + 32];
    struct h_run r;
    uint64_t t0 = h_mono_ms();

    snprintf(ep, sizeof(ep), "ipc://%s/no-such/node.sock", c->tmp);
    char *argv[] = {H_KRCTL, "--node", ep, "status", NULL};
    s_run(&r, argv);
    uint64_t ms = h_mono_ms() - t0;
    H_CHECK(r.code == 3 && strstr(r.err, "No such file or directory") &&
                strstr(r.err, "no-such/node.sock"),
            "krctl on a socket that does not exist: exit 3, names it (%d: "
            "%s)",
            r.code, r.err);
    H_CHECK(ms < 3000,
            "krctl says so at once (%llu ms, not the 10 s "
            "timeout)",
            (unsigned long long)ms);
    h_run_free(&r);
}

/* krctl --node <i> ARGS... */
static int
s_node_krctl(struct h_cluster *c, int i, struct h_run *r, const char *a1,
             const char *a2, const char *a3)
{
    char *argv[] = {H_KRCTL,     "--node",   c->nodes[i].local,
                    "--timeout", "15000",    (char *)a1,
                    (char *)a2,  (char *)a3, NULL};
    return h_run(r, 30000, argv);
}

static void
s_send_wait(struct h_cluster *c, int vl, int jgz)
{
    char file[H_PATH + 16];
    struct h_run r;

    snprintf(file, sizeof(file), "%s/referral.json", c->tmp);
    s_referral_file(file, S_JGZ_ORG);
    /* No consent yet: the broker refuses. Without --wait the send is 0
     * (the node has it); with --wait the refusal is exit 1. */
    s_node_krctl(c, vl, &r, "send", "--wait", file);
    H_CHECK(r.code == 1 && strstr(r.err, "refused by the broker: "
                                         "no-consent") != NULL,
            "krctl send --wait on a refusal: exit 1, no-consent (%d: %s)",
            r.code, r.err);
    H_CHECK(strlen(r.out) == 33, "krctl send --wait prints the msg_id first");
    h_run_free(&r);
    /* The example's consent (the referral names its consent_id). */
    char grant[H_PATH + 16];
    snprintf(grant, sizeof(grant), "%s/consent.json", c->tmp);
    s_example_file("consent-grant.json", grant, S_JGZ_ORG);
    s_node_krctl(c, vl, &r, "consent", "grant", grant);
    H_REQUIRE(r.code == 0, "krctl consent grant (%d: %s)", r.code, r.err);
    h_run_free(&r);
    (void)jgz;
    snprintf(file, sizeof(file), "%s/referral2.json", c->tmp);
    s_referral_file(file, S_JGZ_ORG);
    s_node_krctl(c, vl, &r, "send", "--wait", file);
    H_CHECK(r.code == 0 && (strstr(r.err, "accepted") != NULL ||
                            strstr(r.err, "delivered") != NULL),
            "krctl send --wait on an accepted message: exit 0 (%d: %s)", r.code,
            r.err);
    h_run_free(&r);
}

static void
s_log_level(struct h_cluster *c, int vl)
{
    struct h_run r;

    h_krctl(&r, "--admin", c->admin, "log-level", "loud", NULL);
    H_CHECK(r.code == 2, "krctl log-level loud: exit 2 (%d)", r.code);
    h_run_free(&r);
    h_krctl(&r, "--admin", c->admin, "log-level", "debug", NULL);
    H_CHECK(r.code == 0, "krctl log-level debug: exit 0 (%d: %s)", r.code,
            r.err);
    h_run_free(&r);
    H_CHECK(h_log_contains(c->broker_log,
                           "admin: log_level: info -> debug (krctl "
                           "log-level)"),
            "the broker logs the change");
    /* A message accepted is a debug line at the broker. */
    char file[H_PATH + 16];
    snprintf(file, sizeof(file), "%s/referral3.json", c->tmp);
    s_referral_file(file, S_JGZ_ORG);
    s_node_krctl(c, vl, &r, "send", "--wait", file);
    h_run_free(&r);
    bool ok;
    H_POLL(ok, 5000, h_log_contains(c->broker_log, " debug krbroker: "));
    H_CHECK(ok, "the broker logs at debug level now");
    h_krctl(&r, "--admin", c->admin, "log-level", "info", NULL);
    h_run_free(&r);
}

/* A node whose broker is down, sending to an organisation it has never
 * heard of: told that the broker is not reachable. */
static void
s_broker_down(struct h_cluster *c, int nw)
{
    char file[H_PATH + 16];
    struct h_run r;

    snprintf(file, sizeof(file), "%s/to-jgz.json", c->tmp);
    s_referral_file(file, S_JGZ_ORG);
    s_node_krctl(c, nw, &r, "send", file, NULL);
    H_CHECK(r.code == 1 && strstr(r.err, "the broker is not reachable") &&
                strstr(r.err, "not in the directory") == NULL &&
                strstr(r.err, "not in directory") == NULL,
            "a new node with its broker down: \"the broker is not "
            "reachable\", exit 1 (%d: %s)",
            r.code, r.err);
    h_run_free(&r);
}

/* A node whose broker_key is not the broker's: the cause at each
 * reconnect (the backoff limits it) and in `krctl status`. */
static void
s_wrong_broker_key(struct h_cluster *c, int wk)
{
    struct h_run r;
    bool ok;

    H_POLL(ok, 20000,
           h_log_count(c->nodes[wk].log, "link: reconnecting broker=") >= 2);
    H_CHECK(ok && h_log_count(c->nodes[wk].log, "after: handshake") >= 2,
            "wrong broker_key: the cause is said at each reconnect (%d)",
            h_log_count(c->nodes[wk].log, "after: handshake"));
    s_node_krctl(c, wk, &r, "status", NULL, NULL);
    json_object *o = json_tokener_parse(r.out);
    const char *err = o != NULL ? h_json_str(o, "last_link_error") : NULL;
    H_CHECK(r.code == 0 && err != NULL && strstr(err, "handshake") != NULL,
            "wrong broker_key: krctl status last_link_error (%s)",
            err != NULL ? err : r.out);
    json_object_put(o);
    h_run_free(&r);
}

int
main(void)
{
    struct h_cluster c;
    char other[H_PATH + 16];

    h_init("test_mistakes", 240);
    h_cluster_init(&c, "test_mistakes");
    s_help_texts();
    s_start_errors(&c);
    s_missing_socket(&c);
    h_broker_start(&c);
    int vl = h_org_add(&c, "vl", S_VL_ORG, "verloskunde", "De Wieg");
    int jgz = h_org_add(&c, "jgz", S_JGZ_ORG, "jgz", "JGZ Noord");
    int wk = h_org_add(&c, "wk", "ura:00007777", "wijkteam", "Wijkteam");
    int nw = h_org_add(&c, "nw", S_NEW_ORG, "wijkteam", "Nieuw");
    h_node_start(&c, vl);
    h_node_start(&c, jgz);
    H_REQUIRE(h_node_wait_connected(&c, vl, H_CONNECT_MS), "vl connected");
    H_REQUIRE(h_node_wait_connected(&c, jgz, H_CONNECT_MS), "jgz connected");
    s_send_wait(&c, vl, jgz);
    s_log_level(&c, vl);

    /* wk's broker_key is jgz's public key: every handshake fails. */
    h_public_path(c.nodes[jgz].keys, other, sizeof(other));
    h_node_set(&c, wk, "broker_key", other);
    h_node_start(&c, wk);
    s_wrong_broker_key(&c, wk);
    H_CHECK(h_node_stop(&c, wk), "wk stops");

    /* The broker down, a node that never reached it. */
    H_CHECK(h_broker_stop(&c), "broker stops");
    h_node_start(&c, nw);
    s_broker_down(&c, nw);
    return h_finish(&c);
}
