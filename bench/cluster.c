/*
 * cluster.c - krbench's own process module: a temporary directory under
 * /tmp, keys and directory entries made with krctl, configuration files,
 * krbroker and krnode started from the build tree, readiness polled with a
 * deadline, SIGTERM at the end with a clean exit required.
 *
 * Only processes started here are ever signalled, and only by PID
 * (bproc.c starts and stops them).
 *
 * Layout of the directory:
 *   keys/broker.{secret,public}, keys/<label>.{secret,public},
 *   keys/coalition.key
 *   broker/ (data_dir, admin.sock), broker.ini, broker.log, krctl.log
 *   <label>/ (a node's data_dir, node.sock), <label>.ini, node-<label>.log
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
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

#include "admin.pb-c.h"
#include "bench.h"
#include "local.pb-c.h"
#include "util.h"

/* Deadlines, in ms. */
#define S_START_MS 30000  /* a daemon answers after start */
#define S_STOP_MS 30000   /* a daemon exits after SIGTERM */
#define S_KRCTL_MS 20000  /* one krctl run */
#define S_POLL_NS 1000000 /* readiness is polled every millisecond */

static void s_err(struct cluster *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
s_err(struct cluster *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
}

/* Paths and names: vsnprintf, because they are made of other paths
 * whose lengths the compiler cannot bound; a path that does not fit is
 * cut (it is under /tmp with short names, far below the limit). */
static void s_set(char *dst, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
s_set(char *dst, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dst, len, fmt, ap);
    va_end(ap);
}

/* Run argv to completion within S_KRCTL_MS; its exit code, or -1. */
static int
s_run(struct cluster *c, char *const argv[])
{
    struct bproc p;
    char st[32];
    int status;

    if (bproc_spawn(&p, argv[0], c->krctl_log, argv) != KR_OK) {
        s_err(c, "cannot start %s: %s", argv[0], strerror(errno));
        return -1;
    }
    uint64_t deadline = bench_now_ns() + (uint64_t)S_KRCTL_MS * 1000000ull;
    for (long i = 0; i < 10000000L && bproc_alive(&p); i++) {
        if (bench_now_ns() >= deadline) {
            bproc_stop(&p, SIGKILL, 1000, &status);
            s_err(c, "%s %s did not end within %d ms", argv[0],
                  argv[1] ? argv[1] : "", S_KRCTL_MS);
            return -1;
        }
        bench_sleep_ns(S_POLL_NS);
    }
    if (!WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0) {
        s_err(c, "%s %s %s: %s (see %s)", argv[0], argv[1] ? argv[1] : "",
              argv[1] && argv[2] ? argv[2] : "",
              bproc_status_str(p.status, st, sizeof(st)), c->krctl_log);
        return WIFEXITED(p.status) ? WEXITSTATUS(p.status) : -1;
    }
    return 0;
}

/*
 * Files.
 */

static int
s_write_file(struct cluster *c, const char *path, const char *text)
{
    int rc = util_write_file_atomic(path, text, strlen(text), 0600);

    if (rc != KR_OK)
        s_err(c, "cannot write %s: %s", path, kr_strerror(rc));
    return rc;
}

static int
s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

void
cluster_log_tail(const char *path, int lines)
{
    char *buf = NULL;
    size_t len = 0, start;
    int seen = 0;

    if (util_read_file(path, 256u << 20, &buf, &len) != KR_OK)
        return;
    for (start = len; start > 0; start--)
        if (buf[start - 1] == '\n' && start != len && ++seen >= lines)
            break;
    fprintf(stderr, "---- last lines of %s ----\n", path);
    fwrite(buf + start, 1, len - start, stderr);
    fprintf(stderr, "---- end of %s ----\n", path);
    free(buf);
}

/* A port the kernel just handed out for 127.0.0.1. It stays ours across
 * broker restarts: ZeroMQ binds with SO_REUSEADDR. */
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
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/*
 * The cluster.
 */

int
cluster_init(struct cluster *c, const struct bench_opts *o, const char *name)
{
    char path[BENCH_PATH];

    memset(c, 0, sizeof(*c));
    c->opts = o;
    c->broker_map_mb = 4096;
    s_set(c->tmp, sizeof(c->tmp), "%s/krbench-%s.XXXXXX", bench_dir, name);
    if (mkdtemp(c->tmp) == NULL) {
        s_err(c, "mkdtemp %s: %s", c->tmp, strerror(errno));
        c->tmp[0] = '\0';
        return KR_ESYS;
    }
    s_set(path, sizeof(path), "%s/keys", c->tmp);
    if (mkdir(path, 0700) != 0) {
        s_err(c, "mkdir %s: %s", path, strerror(errno));
        return KR_ESYS;
    }
    if ((c->port = s_free_port()) <= 0) {
        s_err(c, "no free loopback port");
        return KR_ESYS;
    }
    s_set(c->listen, sizeof(c->listen), "tcp://127.0.0.1:%d", c->port);
    s_set(c->broker_dir, sizeof(c->broker_dir), "%s/broker", c->tmp);
    s_set(c->broker_keys, sizeof(c->broker_keys), "%s/keys/broker", c->tmp);
    s_set(c->broker_secret, sizeof(c->broker_secret), "%s.secret",
          c->broker_keys);
    s_set(c->broker_pub, sizeof(c->broker_pub), "%s.public", c->broker_keys);
    s_set(c->broker_conf, sizeof(c->broker_conf), "%s/broker.ini", c->tmp);
    s_set(c->broker_log, sizeof(c->broker_log), "%s/broker.log", c->tmp);
    s_set(c->admin_path, sizeof(c->admin_path), "%s/admin.sock", c->broker_dir);
    s_set(c->admin, sizeof(c->admin), "ipc://%s", c->admin_path);
    s_set(c->coalition, sizeof(c->coalition), "%s/keys/coalition.key", c->tmp);
    s_set(c->krctl_log, sizeof(c->krctl_log), "%s/krctl.log", c->tmp);

    char *kg[] = {(char *)o->krctl_bin, (char *)"keygen", (char *)"--out",
                  c->broker_keys, NULL};
    if (s_run(c, kg) != 0)
        return KR_EIO;
    char *kc[] = {(char *)o->krctl_bin, (char *)"keygen", (char *)"--coalition",
                  c->coalition, NULL};
    if (s_run(c, kc) != 0)
        return KR_EIO;
    return KR_OK;
}

int
cluster_broker_spawn(struct cluster *c)
{
    char text[4096];

    /* The broker's documented defaults, except where a benchmark must
     * differ: a map that holds the backlog, and the log level asked for.
     * Full sync stays on (unsafe_nosync is never set). */
    snprintf(text, sizeof(text),
             "# written by krbench\n[broker]\ndata_dir = %s\nkeys = %s\n"
             "listen = %s\nmap_size_mb = %llu\nlog_level = %s\n",
             c->broker_dir, c->broker_secret, c->listen,
             (unsigned long long)c->broker_map_mb, c->opts->log_level);
    if (c->broker_routes[0] != '\0') {
        size_t used = strlen(text);
        snprintf(text + used, sizeof(text) - used, "routes = %s\n",
                 c->broker_routes);
    }
    if (c->broker_extra[0] != '\0') {
        size_t used = strlen(text);
        snprintf(text + used, sizeof(text) - used, "%s", c->broker_extra);
    }
    if (s_write_file(c, c->broker_conf, text) != KR_OK)
        return KR_EIO;
    char *argv[] = {(char *)c->opts->broker_bin, (char *)"-c", c->broker_conf,
                    NULL};
    if (bproc_spawn(&c->broker, "krbroker", c->broker_log, argv) != KR_OK) {
        s_err(c, "cannot start %s: %s", c->opts->broker_bin, strerror(errno));
        return KR_ESYS;
    }
    return KR_OK;
}

/* One admin request and its answer (unpacked; the caller frees it). */
static int
s_admin_call(struct cluster *c, const Kr__V1__AdminRequest *req, int timeout_ms,
             Kr__V1__AdminResponse **out)
{
    kr_client_t *kc = NULL;
    uint8_t buf[16], *resp = NULL;
    size_t len, rlen = 0;
    int rc;

    *out = NULL;
    len = kr__v1__admin_request__pack(req, buf);
    if ((rc = kr_client_connect(c->admin, timeout_ms, &kc)) != KR_OK)
        return rc;
    rc = kr_call_raw(kc, buf, len, &resp, &rlen);
    kr_client_destroy(&kc);
    if (rc != KR_OK)
        return rc;
    *out = kr__v1__admin_response__unpack(NULL, rlen, resp);
    kr_buf_free(resp);
    return *out != NULL ? KR_OK : KR_EPROTO;
}

/* One `org list` on the admin socket within the time left. */
static int
s_admin_ping(struct cluster *c, uint64_t deadline_ns)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *r;
    uint64_t now = bench_now_ns();
    int left = now < deadline_ns ? (int)((deadline_ns - now) / 1000000) : 0;
    int rc;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_LIST;
    req.org_list = true;
    if ((rc = s_admin_call(c, &req, left > 0 ? left : 1, &r)) != KR_OK)
        return rc;
    rc = r->error;
    kr__v1__admin_response__free_unpacked(r, NULL);
    return rc;
}

int
cluster_broker_commits(struct cluster *c, struct commit_stats *out)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *r;
    int rc;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_STATS;
    req.stats = true;
    if ((rc = s_admin_call(c, &req, 5000, &r)) != KR_OK)
        return rc;
    if (r->stats == NULL) {
        rc = KR_EPROTO;
    } else {
        out->p50_us = r->stats->commit_p50_us;
        out->p99_us = r->stats->commit_p99_us;
        out->count = r->stats->commits;
        out->total_us = r->stats->commit_total_us;
    }
    kr__v1__admin_response__free_unpacked(r, NULL);
    return rc;
}

int
cluster_broker_timers(struct cluster *c, struct timer_stats *out)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *r;
    int rc;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_STATS;
    req.stats = true;
    if ((rc = s_admin_call(c, &req, 5000, &r)) != KR_OK)
        return rc;
    if (r->stats == NULL) {
        rc = KR_EPROTO;
    } else {
        out->scans = r->stats->timer_scans;
        out->scan_total_us = r->stats->timer_scan_total_us;
        out->scan_max_us = r->stats->timer_scan_max_us;
        out->pending = r->stats->timers_pending;
        out->referrals = r->stats->referrals;
        out->escalations = r->stats->escalations;
        out->messages_purged = r->stats->messages_purged;
        out->finals_pending = r->stats->finals_pending;
        out->purge_passes = r->stats->purge_passes;
        out->purge_total_us = r->stats->purge_total_us;
        out->purge_max_us = r->stats->purge_max_us;
        out->signals = r->stats->signals;
    }
    kr__v1__admin_response__free_unpacked(r, NULL);
    return rc;
}

int
cluster_broker_wait_admin(struct cluster *c, uint64_t deadline_ns)
{
    struct stat st;
    char s[32];
    int rc = KR_EUNAVAIL;

    /* The socket file appears when the broker binds; only then can a
     * connect succeed at once (ipc:// would otherwise retry after 100 ms,
     * which would blur the start-up time). */
    for (long i = 0; i < 100000000L; i++) {
        if (!bproc_alive(&c->broker)) {
            s_err(c, "krbroker ended during start-up: %s (see %s)",
                  bproc_status_str(c->broker.status, s, sizeof(s)),
                  c->broker_log);
            return KR_EUNAVAIL;
        }
        if (stat(c->admin_path, &st) == 0 &&
            (rc = s_admin_ping(c, deadline_ns)) == KR_OK)
            return KR_OK;
        if (bench_now_ns() >= deadline_ns)
            break;
        bench_sleep_ns(S_POLL_NS);
    }
    s_err(c, "krbroker's admin socket did not answer `org list` in time (%s)",
          kr_strerror(rc));
    return KR_ETIMEDOUT;
}

int
cluster_broker_start(struct cluster *c)
{
    int rc;

    if ((rc = cluster_broker_spawn(c)) != KR_OK)
        return rc;
    return cluster_broker_wait_admin(c, bench_now_ns() +
                                            (uint64_t)S_START_MS * 1000000ull);
}

static int
s_stop(struct cluster *c, struct bproc *p)
{
    char st[32];
    int status = 0;

    if (!bproc_alive(p)) {
        s_err(c, "%s ended before it was stopped: %s", p->name,
              bproc_status_str(p->status, st, sizeof(st)));
        return KR_EUNAVAIL;
    }
    if (bproc_stop(p, SIGTERM, S_STOP_MS, &status) != KR_OK) {
        s_err(c, "%s did not exit within %d ms of SIGTERM (killed)", p->name,
              S_STOP_MS);
        return KR_ETIMEDOUT;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        s_err(c, "%s: %s after SIGTERM (see %s)", p->name,
              bproc_status_str(status, st, sizeof(st)), p->log);
        return KR_EIO;
    }
    return KR_OK;
}

int
cluster_broker_stop(struct cluster *c)
{
    return s_stop(c, &c->broker);
}

int
cluster_org_add(struct cluster *c, const char *label, const char *id,
                const char *category)
{
    struct bench_org *g;

    if (c->norgs == CLUSTER_MAX_ORGS) {
        s_err(c, "at most %d organisations", CLUSTER_MAX_ORGS);
        return KR_EINVAL;
    }
    g = &c->orgs[c->norgs];
    memset(g, 0, sizeof(*g));
    s_set(g->label, sizeof(g->label), "%s", label);
    s_set(g->id, sizeof(g->id), "%s", id);
    s_set(g->category, sizeof(g->category), "%s", category);
    s_set(g->keys, sizeof(g->keys), "%s/keys/%s", c->tmp, label);
    s_set(g->secret, sizeof(g->secret), "%s.secret", g->keys);
    s_set(g->pub, sizeof(g->pub), "%s.public", g->keys);
    s_set(g->dir, sizeof(g->dir), "%s/%s", c->tmp, label);
    s_set(g->conf, sizeof(g->conf), "%s/%s.ini", c->tmp, label);
    s_set(g->local, sizeof(g->local), "ipc://%s/node.sock", g->dir);
    s_set(g->log, sizeof(g->log), "%s/node-%s.log", c->tmp, label);
    g->map_mb = 256;

    char *kg[] = {(char *)c->opts->krctl_bin, (char *)"keygen", (char *)"--out",
                  g->keys, NULL};
    if (s_run(c, kg) != 0)
        return KR_EIO;
    char *add[] = {(char *)c->opts->krctl_bin,
                   (char *)"--admin",
                   c->admin,
                   (char *)"org",
                   (char *)"add",
                   (char *)"--id",
                   g->id,
                   (char *)"--category",
                   g->category,
                   (char *)"--name",
                   g->label,
                   (char *)"--keys",
                   g->pub,
                   NULL};
    if (s_run(c, add) != 0)
        return KR_EIO;
    return c->norgs++;
}

/* The node's status: 0 with *connected set, or an error. */
/* A node's status over its local socket (unpacked; the caller frees it). */
static int
s_node_status(const char *endpoint, int timeout_ms, Kr__V1__LocalResponse **out)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    kr_client_t *kc = NULL;
    uint8_t buf[16], *resp = NULL;
    size_t len, rlen = 0;
    int rc;

    *out = NULL;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_STATUS;
    req.status = true;
    len = kr__v1__local_request__pack(&req, buf);
    if ((rc = kr_client_connect(endpoint, timeout_ms, &kc)) != KR_OK)
        return rc;
    rc = kr_call(kc, buf, len, &resp, &rlen);
    kr_client_destroy(&kc);
    if (rc != KR_OK) {
        kr_buf_free(resp);
        return rc;
    }
    *out = kr__v1__local_response__unpack(NULL, rlen, resp);
    kr_buf_free(resp);
    return *out != NULL ? KR_OK : KR_EPROTO;
}

int
cluster_node_commits(const char *endpoint, struct commit_stats *out)
{
    Kr__V1__LocalResponse *r;
    int rc = s_node_status(endpoint, 5000, &r);

    if (rc != KR_OK)
        return rc;
    if (r->status == NULL) {
        rc = KR_EPROTO;
    } else {
        out->p50_us = r->status->commit_p50_us;
        out->p99_us = r->status->commit_p99_us;
        out->count = r->status->commits;
        out->total_us = r->status->commit_total_us;
    }
    kr__v1__local_response__free_unpacked(r, NULL);
    return rc;
}

int
cluster_node_status(const char *endpoint, int timeout_ms, bool *connected,
                    uint64_t *pending)
{
    Kr__V1__LocalResponse *r;
    int rc;

    *connected = false;
    if (pending != NULL)
        *pending = 0;
    if ((rc = s_node_status(endpoint, timeout_ms, &r)) != KR_OK)
        return rc;
    *connected = r->status != NULL && r->status->connected;
    if (pending != NULL && r->status != NULL)
        *pending = r->status->outbox_pending;
    kr__v1__local_response__free_unpacked(r, NULL);
    return KR_OK;
}

int
cluster_node_start(struct cluster *c, int i)
{
    struct bench_org *g = &c->orgs[i];
    char text[4096], name[64], sock[BENCH_PATH + 16], st[32];
    uint64_t deadline;
    bool connected = false;
    struct stat sb;
    int rc = KR_EUNAVAIL;

    snprintf(text, sizeof(text),
             "# written by krbench\n[node]\norg = %s\ndata_dir = %s\n"
             "keys = %s\nbroker = %s\nbroker_key = %s\nlocal = %s\n"
             "coalition_key = %s\nmap_size_mb = %llu\nlog_level = %s\n",
             g->id, g->dir, g->secret, c->listen, c->broker_pub, g->local,
             c->coalition, (unsigned long long)g->map_mb, c->opts->log_level);
    if (s_write_file(c, g->conf, text) != KR_OK)
        return KR_EIO;
    snprintf(name, sizeof(name), "krnode %s", g->label);
    char *argv[] = {(char *)c->opts->node_bin, (char *)"-c", g->conf, NULL};
    if (bproc_spawn(&g->proc, name, g->log, argv) != KR_OK) {
        s_err(c, "cannot start %s: %s", c->opts->node_bin, strerror(errno));
        return KR_ESYS;
    }
    snprintf(sock, sizeof(sock), "%s/node.sock", g->dir);
    deadline = bench_now_ns() + (uint64_t)S_START_MS * 1000000ull;
    for (long k = 0; k < 100000000L; k++) {
        if (!bproc_alive(&g->proc)) {
            s_err(c, "%s ended during start-up: %s (see %s)", name,
                  bproc_status_str(g->proc.status, st, sizeof(st)), g->log);
            return KR_EUNAVAIL;
        }
        if (stat(sock, &sb) == 0 &&
            (rc = cluster_node_status(g->local, 500, &connected, NULL)) ==
                KR_OK &&
            connected)
            return KR_OK;
        if (bench_now_ns() >= deadline)
            break;
        bench_sleep_ns(5 * S_POLL_NS);
    }
    s_err(c, "%s: not connected to the broker within %d ms (%s)", name,
          S_START_MS,
          rc == KR_OK ? "status says not connected" : kr_strerror(rc));
    return KR_ETIMEDOUT;
}

int
cluster_node_stop(struct cluster *c, int i)
{
    return s_stop(c, &c->orgs[i].proc);
}

void
cluster_destroy(struct cluster *c, bool failed)
{
    int status;

    /* Nodes first, so that the broker sees them go and exits cleanly. */
    for (int i = 0; i < c->norgs; i++)
        if (bproc_alive(&c->orgs[i].proc))
            bproc_stop(&c->orgs[i].proc, SIGTERM, S_STOP_MS, &status);
    if (bproc_alive(&c->broker))
        bproc_stop(&c->broker, SIGTERM, S_STOP_MS, &status);
    if (c->tmp[0] == '\0')
        return;
    if (failed) {
        cluster_log_tail(c->broker_log, 15);
        for (int i = 0; i < c->norgs; i++)
            if (access(c->orgs[i].log, R_OK) == 0)
                cluster_log_tail(c->orgs[i].log, 15);
    }
    if (failed || c->opts->keep) {
        fprintf(stderr, "krbench: directory kept: %s\n", c->tmp);
        return;
    }
    if (nftw(c->tmp, s_rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "krbench: cannot remove %s: %s\n", c->tmp,
                strerror(errno));
}
