/*
 * harness_cluster.c - a broker and its organisations' nodes in one
 * temporary directory: keys, directory entries, config files, start, stop,
 * kill and restart with the same directories and ports (see harness.h).
 *
 * Layout of the directory:
 *   keys/broker.{secret,public}, keys/<label>.{secret,public},
 *   keys/coalition.key
 *   broker/ (data_dir, admin.sock), broker.ini, broker.log
 *   <label>/ (node data_dir, node.sock), <label>.ini, node-<label>.log
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_internal.h"
#include "util.h"

#define S_MAX_ARGS 64

/* A port the kernel just handed out for 127.0.0.1; it stays ours across
 * broker restarts because the broker binds it with SO_REUSEADDR. */
static int
s_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

const char *
h_secret_path(const char *prefix, char *buf, size_t len)
{
    snprintf(buf, len, "%s.secret", prefix);
    return buf;
}

const char *
h_public_path(const char *prefix, char *buf, size_t len)
{
    snprintf(buf, len, "%s.public", prefix);
    return buf;
}

int
h_krctl(struct h_run *r, const char *arg0, ...)
{
    char *argv[S_MAX_ARGS + 2];
    va_list ap;
    int n = 0;

    argv[n++] = (char *)H_KRCTL;
    va_start(ap, arg0);
    for (const char *a = arg0; a != NULL && n < S_MAX_ARGS;
         a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return h_run(r, H_RUN_MS, argv);
}

static void
s_kv_set(struct h_kv *kv, int *n, const char *key, const char *value)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(kv[i].key, key) == 0) {
            snprintf(kv[i].value, sizeof(kv[i].value), "%s", value);
            return;
        }
    H_ENSURE(*n < H_MAX_OPTS, "config of at most %d options", H_MAX_OPTS);
    snprintf(kv[*n].key, sizeof(kv[*n].key), "%s", key);
    snprintf(kv[*n].value, sizeof(kv[*n].value), "%s", value);
    (*n)++;
}

static void
s_write_conf(const char *path, const char *section, const struct h_kv *kv,
             int n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    H_ENSURE(f != NULL, "open_memstream for %s", path);
    fprintf(f, "# written by the integration harness\n[%s]\n", section);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s = %s\n", kv[i].key, kv[i].value);
    fclose(f);
    int rc = h_write_file(path, text, 0600);
    free(text);
    H_ENSURE(rc == KR_OK, "write config %s", path);
}

/* argv for a daemon: optionally under valgrind. */
static void
s_daemon_argv(char **argv, const char *bin, const char *conf)
{
    int n = 0;

    if (getenv("KR_IT_VALGRIND") != NULL) {
        argv[n++] = (char *)"/usr/bin/valgrind";
        argv[n++] = (char *)"-q";
        argv[n++] = (char *)"--error-exitcode=99";
        argv[n++] = (char *)"--leak-check=full";
        argv[n++] = (char *)"--errors-for-leak-kinds=definite";
    }
    argv[n++] = (char *)bin;
    argv[n++] = (char *)"-c";
    argv[n++] = (char *)conf;
    argv[n] = NULL;
}

void
h_cluster_init(struct h_cluster *c, const char *name)
{
    char path[H_PATH], secret[H_PATH + 32], pub[H_PATH + 32];
    struct h_run r;
    struct stat st;

    memset(c, 0, sizeof(*c));
    snprintf(c->tmp, sizeof(c->tmp), "/tmp/kr-it-%s.XXXXXX", name);
    H_ENSURE(mkdtemp(c->tmp) != NULL, "mkdtemp %s", c->tmp);
    h_internal_set_cluster(c);
    h_note("directory %s", c->tmp);
    snprintf(path, sizeof(path), "%s/keys", c->tmp);
    H_ENSURE(mkdir(path, 0700) == 0, "mkdir %s", path);

    c->port = s_free_port();
    H_ENSURE(c->port > 0, "a free loopback port (got %d)", c->port);
    snprintf(c->listen, sizeof(c->listen), "tcp://127.0.0.1:%d", c->port);
    snprintf(c->broker_dir, sizeof(c->broker_dir), "%s/broker", c->tmp);
    snprintf(c->broker_keys, sizeof(c->broker_keys), "%s/keys/broker", c->tmp);
    snprintf(c->broker_conf, sizeof(c->broker_conf), "%s/broker.ini", c->tmp);
    snprintf(c->broker_log, sizeof(c->broker_log), "%s/broker.log", c->tmp);
    snprintf(c->admin, sizeof(c->admin), "ipc://%s/broker/admin.sock", c->tmp);
    snprintf(c->coalition, sizeof(c->coalition), "%s/keys/coalition.key",
             c->tmp);

    h_krctl(&r, "keygen", "--out", c->broker_keys, NULL);
    H_REQUIRE(r.code == 0, "krctl keygen --out %s exits 0 (got %d: %s)",
              c->broker_keys, r.code, r.err);
    h_run_free(&r);
    h_secret_path(c->broker_keys, secret, sizeof(secret));
    h_public_path(c->broker_keys, pub, sizeof(pub));
    H_REQUIRE(stat(secret, &st) == 0 && (st.st_mode & 0777) == 0600,
              "broker .secret exists with mode 0600");
    H_REQUIRE(access(pub, R_OK) == 0, "broker .public exists");
    h_krctl(&r, "keygen", "--coalition", c->coalition, NULL);
    H_REQUIRE(r.code == 0, "krctl keygen --coalition exits 0 (got %d: %s)",
              r.code, r.err);
    h_run_free(&r);
    H_REQUIRE(stat(c->coalition, &st) == 0 && (st.st_mode & 0077) == 0,
              "coalition key exists, not readable by others");

    s_kv_set(c->broker_opts, &c->nbroker_opts, "data_dir", c->broker_dir);
    s_kv_set(c->broker_opts, &c->nbroker_opts, "keys", secret);
    s_kv_set(c->broker_opts, &c->nbroker_opts, "listen", c->listen);
    s_kv_set(c->broker_opts, &c->nbroker_opts, "map_size_mb", "256");
    s_kv_set(c->broker_opts, &c->nbroker_opts, "log_level", "info");
}

void
h_broker_set(struct h_cluster *c, const char *key, const char *value)
{
    s_kv_set(c->broker_opts, &c->nbroker_opts, key, value);
}

void
h_node_set(struct h_cluster *c, int i, const char *key, const char *value)
{
    H_ENSURE(i >= 0 && i < c->nnodes, "node index %d", i);
    s_kv_set(c->nodes[i].opts, &c->nodes[i].nopts, key, value);
}

/* Whether the broker's admin socket answers (krctl org list exits 0). */
static bool
s_broker_answers(struct h_cluster *c, int *code, char *err, size_t errlen)
{
    struct h_run r;

    h_krctl(&r, "--admin", c->admin, "--timeout", "500", "org", "list", NULL);
    *code = r.code;
    snprintf(err, errlen, "%s", r.err);
    h_run_free(&r);
    return *code == 0;
}

void
h_broker_start(struct h_cluster *c)
{
    char *argv[16], err[512] = "", st[32];
    uint64_t t0 = h_mono_ms(), deadline;
    int code = -1;
    bool up = false;

    H_ENSURE(!h_proc_alive(&c->broker), "krbroker is not running yet");
    s_write_conf(c->broker_conf, "broker", c->broker_opts, c->nbroker_opts);
    s_daemon_argv(argv, H_KRBROKER, c->broker_conf);
    H_ENSURE(h_proc_spawn(&c->broker, "krbroker", c->broker_log, argv) == KR_OK,
             "spawn krbroker");
    deadline = h_mono_ms() + (uint64_t)h_scale(H_START_MS);
    for (int i = 0; i < 100000; i++) {
        if (!h_proc_alive(&c->broker)) {
            H_REQUIRE(false,
                      "krbroker keeps running after start (it ended: "
                      "%s)",
                      h_status_str(c->broker.status, st, sizeof(st)));
        }
        if (s_broker_answers(c, &code, err, sizeof(err))) {
            up = true;
            break;
        }
        if (h_mono_ms() >= deadline)
            break;
        h_sleep_ms(H_POLL_MS);
    }
    H_REQUIRE(up,
              "krbroker answers `krctl org list` within %d ms (last: "
              "exit %d: %s)",
              h_scale(H_START_MS), code, err);
    h_note("krbroker pid %d up after %llu ms", (int)c->broker.pid,
           (unsigned long long)(h_mono_ms() - t0));
}

static bool
s_stop(struct h_proc *p)
{
    char st[32];
    int status = 0;

    if (!h_proc_alive(p))
        return H_CHECK(false,
                       "%s is running when it is to be stopped "
                       "(ended earlier: %s)",
                       p->name, h_status_str(p->status, st, sizeof(st)));
    if (h_proc_stop(p, SIGTERM, H_STOP_MS, &status) != KR_OK) {
        h_proc_kill9(p);
        return H_CHECK(false, "%s exits within %d ms of SIGTERM (killed)",
                       p->name, h_scale(H_STOP_MS));
    }
    return H_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                   "%s exits 0 on SIGTERM (got %s)", p->name,
                   h_status_str(status, st, sizeof(st)));
}

bool
h_broker_stop(struct h_cluster *c)
{
    return s_stop(&c->broker);
}

void
h_broker_kill9(struct h_cluster *c)
{
    h_proc_kill9(&c->broker);
    h_note("krbroker killed with SIGKILL");
}

int
h_org_add(struct h_cluster *c, const char *label, const char *org,
          const char *category, const char *name)
{
    char pub[H_PATH + 32], secret[H_PATH + 32], tmp[256], lbl[32];
    struct h_node *n;
    struct h_run r;

    /* Copies: 'label' may point into c, which is written below. */
    snprintf(tmp, sizeof(tmp), "%s", c->tmp);
    snprintf(lbl, sizeof(lbl), "%s", label);

    H_ENSURE(c->nnodes < H_MAX_NODES, "at most %d organisations", H_MAX_NODES);
    n = &c->nodes[c->nnodes];
    memset(n, 0, sizeof(*n));
    snprintf(n->label, sizeof(n->label), "%s", lbl);
    snprintf(n->org, sizeof(n->org), "%s", org);
    snprintf(n->category, sizeof(n->category), "%s", category);
    snprintf(n->keys, sizeof(n->keys), "%s/keys/%s", tmp, lbl);
    snprintf(n->dir, sizeof(n->dir), "%s/%s", tmp, lbl);
    snprintf(n->conf, sizeof(n->conf), "%s/%s.ini", tmp, lbl);
    snprintf(n->log, sizeof(n->log), "%s/node-%s.log", tmp, lbl);
    snprintf(n->local, sizeof(n->local), "ipc://%s/%s/node.sock", tmp, lbl);
    h_public_path(n->keys, pub, sizeof(pub));
    h_secret_path(n->keys, secret, sizeof(secret));

    h_krctl(&r, "keygen", "--out", n->keys, NULL);
    H_REQUIRE(r.code == 0, "krctl keygen --out %s exits 0 (got %d: %s)",
              n->keys, r.code, r.err);
    h_run_free(&r);
    h_krctl(&r, "--admin", c->admin, "org", "add", "--id", org, "--category",
            category, "--name", name, "--keys", pub, NULL);
    H_REQUIRE(r.code == 0, "krctl org add %s (%s) exits 0 (got %d: %s)", org,
              category, r.code, r.err);
    h_run_free(&r);

    s_kv_set(n->opts, &n->nopts, "org", org);
    s_kv_set(n->opts, &n->nopts, "data_dir", n->dir);
    s_kv_set(n->opts, &n->nopts, "keys", secret);
    s_kv_set(n->opts, &n->nopts, "broker", c->listen);
    h_public_path(c->broker_keys, pub, sizeof(pub));
    s_kv_set(n->opts, &n->nopts, "broker_key", pub);
    s_kv_set(n->opts, &n->nopts, "local", n->local);
    s_kv_set(n->opts, &n->nopts, "coalition_key", c->coalition);
    s_kv_set(n->opts, &n->nopts, "log_level", "info");
    return c->nnodes++;
}

static int
s_org_op(struct h_cluster *c, const char *op, const char *org)
{
    struct h_run r;
    int code;

    h_krctl(&r, "--admin", c->admin, "org", op, org, NULL);
    code = r.code;
    if (code != 0)
        h_note("krctl org %s %s: exit %d: %s", op, org, code, r.err);
    h_run_free(&r);
    return code;
}

int
h_org_suspend(struct h_cluster *c, const char *org)
{
    return s_org_op(c, "suspend", org);
}

int
h_org_resume(struct h_cluster *c, const char *org)
{
    return s_org_op(c, "resume", org);
}

int
h_node_find(const struct h_cluster *c, const char *label)
{
    for (int i = 0; i < c->nnodes; i++)
        if (strcmp(c->nodes[i].label, label) == 0)
            return i;
    return -1;
}

void
h_node_start(struct h_cluster *c, int i)
{
    char *argv[16], name[64], st[32];
    struct h_node *n;
    uint64_t t0 = h_mono_ms(), deadline;
    int rc = KR_EUNAVAIL;
    bool up = false;

    H_ENSURE(i >= 0 && i < c->nnodes, "node index %d", i);
    n = &c->nodes[i];
    H_ENSURE(!h_proc_alive(&n->proc), "krnode %s is not running yet", n->label);
    s_write_conf(n->conf, "node", n->opts, n->nopts);
    s_daemon_argv(argv, H_KRNODE, n->conf);
    snprintf(name, sizeof(name), "krnode %s", n->label);
    H_ENSURE(h_proc_spawn(&n->proc, name, n->log, argv) == KR_OK, "spawn %s",
             name);
    /* Ready when its local socket answers a status request. */
    deadline = h_mono_ms() + (uint64_t)h_scale(H_START_MS);
    for (int k = 0; k < 100000; k++) {
        kr_client_t *kc = NULL;
        struct h_status s;
        if (!h_proc_alive(&n->proc))
            H_REQUIRE(false, "%s keeps running after start (it ended: %s)",
                      name, h_status_str(n->proc.status, st, sizeof(st)));
        if ((rc = kr_client_connect(n->local, 300, &kc)) == KR_OK) {
            rc = h_status(kc, &s);
            kr_client_destroy(&kc);
        }
        if (rc == KR_OK) {
            up = true;
            break;
        }
        if (h_mono_ms() >= deadline)
            break;
        h_sleep_ms(H_POLL_MS);
    }
    H_REQUIRE(up, "%s answers a status request within %d ms (last: %s)", name,
              h_scale(H_START_MS), kr_strerror(rc));
    h_note("%s pid %d up after %llu ms", name, (int)n->proc.pid,
           (unsigned long long)(h_mono_ms() - t0));
}

bool
h_node_stop(struct h_cluster *c, int i)
{
    kr_client_destroy(&c->nodes[i].kc);
    return s_stop(&c->nodes[i].proc);
}

void
h_node_kill9(struct h_cluster *c, int i)
{
    kr_client_destroy(&c->nodes[i].kc);
    h_proc_kill9(&c->nodes[i].proc);
    h_note("krnode %s killed with SIGKILL", c->nodes[i].label);
}

void
h_clients_close(struct h_cluster *c)
{
    for (int i = 0; i < c->nnodes; i++)
        kr_client_destroy(&c->nodes[i].kc);
}

kr_client_t *
h_node_client(struct h_cluster *c, int i)
{
    struct h_node *n = &c->nodes[i];
    int rc;

    if (n->kc == NULL) {
        rc = kr_client_connect(n->local, h_scale(10000), &n->kc);
        H_ENSURE(rc == KR_OK, "libkr connects to %s (%s)", n->local,
                 kr_strerror(rc));
    }
    return n->kc;
}

bool
h_node_wait_connected(struct h_cluster *c, int i, int timeout_ms)
{
    struct h_node *n = &c->nodes[i];
    kr_client_t *kc = h_node_client(c, i);
    struct h_status s;
    uint64_t t0 = h_mono_ms();
    bool ok;

    memset(&s, 0, sizeof(s));
    H_POLL(ok, timeout_ms, h_status(kc, &s) == KR_OK && s.connected);
    return H_CHECK(ok, "krnode %s reports connected to the broker (%llu ms)",
                   n->label, (unsigned long long)(h_mono_ms() - t0));
}

struct s_rt {
    uint8_t id[16];
    unsigned n;
    int outcome, reason;
};

static int
s_rt_in(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_rt *t = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, t->id, 16) == 0)
        t->n++;
    return 0;
}

static int
s_rt_out(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_rt *t = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, t->id, 16) == 0) {
        t->n++;
        t->outcome = it->outcome;
        t->reason = it->reason;
    }
    return 0;
}

static bool
s_rt_done(struct h_cluster *c, int from, int to, struct s_rt *in,
          struct s_rt *out)
{
    in->n = out->n = 0;
    return h_outbox_foreach(h_node_client(c, from), s_rt_out, out) == KR_OK &&
           out->n == 1 && out->outcome == KR__V1__OUTCOME__DELIVERED &&
           h_inbox_foreach(h_node_client(c, to), s_rt_in, in) == KR_OK &&
           in->n == 1;
}

bool
h_roundtrip(struct h_cluster *c, int from, int to, const char *what,
            int timeout_ms)
{
    struct h_referral r;
    struct s_rt in, out;
    uint64_t t0 = h_mono_ms();
    bool ok;
    int rc;

    h_referral_default(&r);
    r.reason_text = "roundtrip";
    memset(&in, 0, sizeof(in));
    memset(&out, 0, sizeof(out));
    rc = h_send_referral(h_node_client(c, from), c->nodes[to].org, &r, NULL,
                         in.id);
    if (rc != KR_OK)
        return H_CHECK(false, "%s: libkr send from %s: %s", what,
                       c->nodes[from].label, kr_strerror(rc));
    memcpy(out.id, in.id, 16);
    H_POLL(ok, timeout_ms, s_rt_done(c, from, to, &in, &out));
    return H_CHECK(ok,
                   "%s: a referral %s -> %s is delivered once (%llu ms; "
                   "inbox %u, outbox %u, outcome %d, reason %d)",
                   what, c->nodes[from].label, c->nodes[to].label,
                   (unsigned long long)(h_mono_ms() - t0), in.n, out.n,
                   out.outcome, out.reason);
}

/* No log may hold a BSN or a name: they travel sealed and are never
 * logged. */
static void
s_check_logs_clean(struct h_cluster *c)
{
    struct h_referral r;
    const char *logs[H_MAX_NODES + 1];
    int n = 0;

    h_referral_default(&r);
    logs[n++] = c->broker_log;
    for (int i = 0; i < c->nnodes; i++)
        if (access(c->nodes[i].log, R_OK) == 0)
            logs[n++] = c->nodes[i].log;
    for (int i = 0; i < n; i++) {
        if (access(logs[i], R_OK) != 0)
            continue;
        bool clean = !h_log_contains(logs[i], r.bsn) &&
                     !h_log_contains(logs[i], r.family_name) &&
                     !h_log_contains(logs[i], r.street);
        H_CHECK(clean, "%s holds no BSN, name or address",
                strrchr(logs[i], '/') + 1);
    }
}

/* A daemon that ended on its own during the test is a failure, whatever
 * the test's own checks said. */
static void
s_check_survived(struct h_proc *p)
{
    char st[32];

    if (p->expected && !h_proc_alive(p))
        H_CHECK(false, "%s still runs at the end of the test (it ended: %s)",
                p->name, h_status_str(p->status, st, sizeof(st)));
}

int
h_finish(struct h_cluster *c)
{
    const char *test = h_internal_test_name();

    s_check_survived(&c->broker);
    for (int i = 0; i < c->nnodes; i++)
        s_check_survived(&c->nodes[i].proc);

    for (int i = 0; i < c->nnodes; i++) {
        kr_client_destroy(&c->nodes[i].kc);
        if (h_proc_alive(&c->nodes[i].proc))
            h_node_stop(c, i);
    }
    if (h_proc_alive(&c->broker))
        h_broker_stop(c);
    s_check_logs_clean(c);
    if (h_failures() == 0) {
        if (getenv("KR_IT_KEEP") != NULL) {
            h_note("directory kept (KR_IT_KEEP): %s", c->tmp);
        } else if (h_rm_rf(c->tmp) != KR_OK) {
            H_CHECK(false, "remove %s", c->tmp);
        }
    }
    if (h_failures() == 0) {
        printf("PASS %s: %d checks\n", test, h_internal_checks());
        return 0;
    }
    h_internal_dump_logs(c->tmp);
    printf("# directory kept: %s\n", c->tmp);
    printf("FAIL %s: %d of %d checks failed; first: %s\n", test, h_failures(),
           h_internal_checks(), h_internal_first_failure());
    return 1;
}

bool
h_consent_default(struct h_cluster *c, int from, int to)
{
    struct h_referral ref;
    struct h_consent g = {0};
    uint8_t msg_id[16];
    uint64_t now = util_now_ms();
    bool ok;

    h_referral_default(&ref);
    g.recipient = c->nodes[to].org;
    g.bsn = ref.bsn;
    g.from_org = c->nodes[from].org;
    g.to_org = c->nodes[to].org;
    g.from_ms = now - 3600 * 1000ull;
    g.until_ms = now + 365 * 24 * 3600 * 1000ull;
    int rc = h_send_consent(h_node_client(c, from), &g, NULL, msg_id);
    if (!H_CHECK(rc == KR_OK, "record the woman's consent %s -> %s (%s)",
                 c->nodes[from].org, c->nodes[to].org, kr_strerror(rc)))
        return false;
    H_POLL(ok, 20000,
           h_outcome(h_node_client(c, from), msg_id) >=
               KR__V1__OUTCOME__ACCEPTED);
    return H_CHECK(ok, "the broker accepts the consent (outcome %d)",
                   h_outcome(h_node_client(c, from), msg_id));
}
