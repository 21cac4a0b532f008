/*
 * test_ops.c - the daemons as services, through real processes: the
 * systemd notification protocol (READY=1, WATCHDOG=1, STOPPING=1 on a
 * socket of the test's own, as systemd would have it), SIGHUP reloads
 * (log level, a pass limit, a bad file kept out) and never stops, the exit
 * signal logged, socket_group/socket_mode (another user in the group uses
 * krctl; outside it, cannot), JSON log lines, the HTTP endpoint (/metrics
 * checked by promtool, counters that follow a hand-off, /healthz,
 * /readyz of broker and node), a slow client and too many idle ones that
 * do not stall the broker, a non-loopback http_listen refused (exit 2),
 * and a real Prometheus server that scrapes the broker and answers a
 * query for a counter.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"

/*
 * A minimal HTTP/1.0 client: GET, read to the end, with a deadline.
 */
struct s_http {
    int status;
    char body[65536 * 4];
    size_t len;
};

static int
s_connect(int port)
{
    struct sockaddr_in a = {0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static bool
s_get(int port, const char *path, struct s_http *h)
{
    char req[512], *all = NULL;
    size_t len = 0;
    uint64_t deadline = h_mono_ms() + (uint64_t)h_scale(5000);
    int fd = s_connect(port);

    h->status = 0;
    h->len = 0;
    h->body[0] = '\0';
    if (fd < 0)
        return false;
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return false;
    }
    all = malloc(sizeof(h->body) + 4096);
    for (int i = 0; i < 100000 && h_mono_ms() < deadline; i++) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t got = read(fd, all + len, sizeof(h->body) + 4095 - len);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    all[len] = '\0';
    char *body = strstr(all, "\r\n\r\n");
    if (sscanf(all, "HTTP/1.%*d %d", &h->status) != 1 || body == NULL) {
        free(all);
        return false;
    }
    body += 4;
    h->len =
        strlen(body) < sizeof(h->body) - 1 ? strlen(body) : sizeof(h->body) - 1;
    memcpy(h->body, body, h->len);
    h->body[h->len] = '\0';
    free(all);
    return true;
}

/* The value of the sample 'name' (with its labels, exactly) in a
 * Prometheus text page, or -1. */
static double
s_sample(const char *page, const char *name)
{
    size_t nl = strlen(name);

    for (const char *p = page; p != NULL && *p != '\0';) {
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

static int
s_read_port(const char *dir)
{
    char path[H_PATH + 16], buf[32] = "";
    FILE *f;

    snprintf(path, sizeof(path), "%s/http.port", dir);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), f) == NULL)
        buf[0] = '\0';
    fclose(f);
    long port = strtol(buf, NULL, 10);
    return port > 0 && port <= 65535 ? (int)port : -1;
}

/*
 * The systemd side of sd_notify: a datagram socket of the test's own.
 */
static int
s_notify_open(const char *path)
{
    struct sockaddr_un a = {0};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a.sun_path)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        return -1;
    return fd;
}

/* Read datagrams until one contains 'needle' (appending all to 'seen'). */
static bool
s_notify_wait(int fd, const char *needle, int timeout_ms, char *seen,
              size_t seenlen)
{
    uint64_t deadline = h_mono_ms() + (uint64_t)h_scale(timeout_ms);

    for (int i = 0; i < 100000 && h_mono_ms() < deadline; i++) {
        struct pollfd p = {fd, POLLIN, 0};
        char buf[1024];
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        size_t used = strlen(seen);
        snprintf(seen + used, seenlen - used, "%s|", buf);
        if (strstr(buf, needle) != NULL)
            return true;
    }
    return false;
}

static void
s_notify_and_signals(struct h_cluster *c)
{
    char path[H_PATH + 16], seen[8192] = "";
    int fd;
    bool ok;

    snprintf(path, sizeof(path), "%s/notify.sock", c->tmp);
    fd = s_notify_open(path);
    H_REQUIRE(fd >= 0, "a notify socket for the broker");
    /* As systemd sets them for a Type=notify unit with WatchdogSec=2s. */
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "2000000", 1);
    h_broker_start(c);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    H_CHECK(s_notify_wait(fd, "READY=1", 5000, seen, sizeof(seen)),
            "broker: READY=1 (seen: %s)", seen);
    /* Half of WatchdogSec: within two seconds, twice. */
    uint64_t t0 = h_mono_ms();
    bool wd1 = s_notify_wait(fd, "WATCHDOG=1", 5000, seen, sizeof(seen));
    bool wd2 = s_notify_wait(fd, "WATCHDOG=1", 5000, seen, sizeof(seen));
    H_CHECK(wd1 && wd2, "broker: WATCHDOG=1 twice, in %llu ms (seen: %s)",
            (unsigned long long)(h_mono_ms() - t0), seen);

    /* SIGHUP: a new log level and pass limit are taken, logged, and the
     * broker goes on serving. */
    h_broker_set(c, "log_level", "debug");
    h_broker_set(c, "max_items_per_pass", "256");
    h_broker_set(c, "window", "128");
    /* h_broker_set writes at the next start: write the file now. */
    {
        FILE *f = fopen(c->broker_conf, "w");
        H_REQUIRE(f != NULL, "rewrite %s", c->broker_conf);
        fprintf(f, "[broker]\n");
        for (int i = 0; i < c->nbroker_opts; i++)
            fprintf(f, "%s = %s\n", c->broker_opts[i].key,
                    c->broker_opts[i].value);
        fclose(f);
    }
    kill(c->broker.pid, SIGHUP);
    H_POLL(ok, 5000, h_log_contains(c->broker_log, "reload: done"));
    H_CHECK(ok, "broker: SIGHUP reloads");
    H_CHECK(h_log_contains(c->broker_log, "reload: log_level: info -> debug"),
            "broker: the new log level is logged");
    H_CHECK(
        h_log_contains(c->broker_log, "reload: max_items_per_pass: 512 -> 256"),
        "broker: the new max_items_per_pass is logged");
    H_CHECK(h_log_contains(c->broker_log, "reload: window changed (256 -> "
                                          "128): takes effect at the next "
                                          "start"),
            "broker: a change that needs a restart says so");
    H_CHECK(h_proc_alive(&c->broker), "broker: SIGHUP does not stop it");

    /* A bad file: logged, the running configuration kept. */
    h_write_file(c->broker_conf, "[broker]\nwindow = lots\n", 0600);
    kill(c->broker.pid, SIGHUP);
    H_POLL(ok, 5000,
           h_log_contains(c->broker_log, "reload: configuration not taken"));
    H_CHECK(ok && h_proc_alive(&c->broker),
            "broker: a bad file at SIGHUP is refused and the broker runs on");
    H_CHECK(h_log_contains(c->broker_log, "'lots' is not a whole number"),
            "broker: the refusal names the bad value");

    /* SIGTERM: STOPPING=1, the signal in the log, exit 0. */
    H_CHECK(h_broker_stop(c), "broker: clean stop");
    H_CHECK(s_notify_wait(fd, "STOPPING=1", 5000, seen, sizeof(seen)),
            "broker: STOPPING=1");
    H_CHECK(h_log_contains(c->broker_log, "exiting on SIGTERM"),
            "broker: logs that it exits on SIGTERM");
    close(fd);
    unlink(path);
    /* The file again as the harness writes it (with debug logging). */
}

/* krctl org list as 'uid' with 'gid' as its only group, in a child. */
static int
s_krctl_as(struct h_cluster *c, uid_t uid, gid_t gid)
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
            _exit(99);
        execl(H_KRCTL, "krctl", "--admin", c->admin, "--timeout", "2000", "org",
              "list", (char *)NULL);
        _exit(98);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void
s_socket_group(struct h_cluster *c)
{
    struct passwd *nobody = getpwnam("nobody");
    struct group *g = getgrnam("nogroup");
    char path[H_PATH + 16];
    struct stat st;

    if (getuid() != 0 || nobody == NULL || g == NULL) {
        h_note("skip: socket_group needs root and the user nobody and group "
               "nogroup");
        return;
    }
    h_broker_set(c, "socket_group", "nogroup");
    h_broker_set(c, "socket_mode", "0660");
    h_broker_start(c);
    snprintf(path, sizeof(path), "%s/admin.sock", c->broker_dir);
    H_REQUIRE(stat(path, &st) == 0, "stat %s", path);
    H_CHECK((st.st_mode & 0777) == 0660 && st.st_gid == g->gr_gid,
            "admin.sock: mode %03o group %u (want 0660, nogroup %u)",
            (unsigned)(st.st_mode & 0777), (unsigned)st.st_gid,
            (unsigned)g->gr_gid);
    /* The directories on the way must let the group through, as
     * StateDirectoryMode=0750 and Group= do under systemd. */
    chmod(c->tmp, 0711);
    if (chown(c->broker_dir, (uid_t)-1, g->gr_gid) != 0 ||
        chmod(c->broker_dir, 0750) != 0)
        h_note("chown/chmod %s: %s", c->broker_dir, strerror(errno));
    H_CHECK(s_krctl_as(c, nobody->pw_uid, g->gr_gid) == 0,
            "krctl as nobody:nogroup uses the admin socket (group member)");
    /* Someone outside the group is kept out: the group the test runs in
     * is not nogroup. */
    struct group *other = getgrnam("daemon");
    if (other != NULL) {
        int rc = s_krctl_as(c, nobody->pw_uid, other->gr_gid);
        H_CHECK(rc != 0 && rc != 99,
                "krctl as nobody:daemon cannot use it (exit %d)", rc);
    }
    H_CHECK(h_broker_stop(c), "broker: clean stop");
    h_broker_set(c, "socket_mode", "0600");
    h_broker_set(c, "socket_group", "");
    chmod(c->broker_dir, 0700);
}

/* A hand-off with the HTTP endpoints on; promtool checks the page. */
static void
s_metrics(struct h_cluster *c, int *vlp, int *jgzp, int *port_out)
{
    struct s_http *h = calloc(1, sizeof(*h));
    char file[H_PATH + 16];
    struct h_run r;
    bool ok;

    h_broker_set(c, "http_listen", "127.0.0.1:0");
    h_broker_set(c, "log_level", "info");
    h_broker_start(c);
    int vl = h_org_add(c, "vl", S_VL_ORG, "verloskunde", "De Wieg");
    int jgz = h_org_add(c, "jgz", S_JGZ_ORG, "jgz", "JGZ Noord");
    *vlp = vl;
    *jgzp = jgz;
    int port = s_read_port(c->broker_dir);
    H_REQUIRE(port > 0, "broker: http.port written (%d)", port);
    *port_out = port;
    h_node_set(c, vl, "http_listen", "127.0.0.1:0");
    h_node_set(c, vl, "log_format", "json");
    /* The node under "systemd" too: READY=1 and the watchdog. */
    char npath[H_PATH + 16], seen[4096] = "";
    snprintf(npath, sizeof(npath), "%s/notify-node.sock", c->tmp);
    int nfd = s_notify_open(npath);
    H_REQUIRE(nfd >= 0, "a notify socket for the node");
    setenv("NOTIFY_SOCKET", npath, 1);
    setenv("WATCHDOG_USEC", "2000000", 1);
    h_node_start(c, vl);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    H_CHECK(s_notify_wait(nfd, "READY=1", 5000, seen, sizeof(seen)),
            "node: READY=1 (seen: %s)", seen);
    H_CHECK(s_notify_wait(nfd, "WATCHDOG=1", 5000, seen, sizeof(seen)),
            "node: WATCHDOG=1 (seen: %s)", seen);
    close(nfd);
    unlink(npath);
    h_node_start(c, jgz);
    H_REQUIRE(h_node_wait_connected(c, vl, H_CONNECT_MS), "vl connected");
    H_REQUIRE(h_node_wait_connected(c, jgz, H_CONNECT_MS), "jgz connected");
    H_REQUIRE(h_consent_default(c, vl, jgz), "consent recorded");
    H_REQUIRE(h_roundtrip(c, vl, jgz, "a referral vl -> jgz", 30000),
              "hand-off");

    /* The counters come from the loop; the snapshot within a second. */
    H_POLL(ok, 5000,
           s_get(port, "/metrics", h) &&
               s_sample(h->body, "kansrijk_messages_delivered_total{type="
                                 "\"referral\"}") >= 1 &&
               s_sample(h->body, "kansrijk_organisations{category="
                                 "\"jgz\"}") == 1);
    H_CHECK(ok, "broker /metrics: delivered_total{type=referral} >= 1");
    H_CHECK(h->status == 200, "broker /metrics: 200 (%d)", h->status);
    H_CHECK(s_sample(h->body, "kansrijk_messages_accepted_total") >= 2,
            "broker /metrics: accepted_total >= 2 (consent and referral: "
            "%g)",
            s_sample(h->body, "kansrijk_messages_accepted_total"));
    H_CHECK(s_sample(h->body, "kansrijk_commit_duration_seconds_count") >= 1,
            "broker /metrics: commit duration histogram counts commits");
    H_CHECK(s_sample(h->body, "kansrijk_store_size_bytes") > 0,
            "broker /metrics: store size");
    H_CHECK(s_sample(h->body, "kansrijk_organisations{category="
                              "\"jgz\"}") == 1,
            "broker /metrics: one jgz organisation");
    H_CHECK(s_sample(h->body, "kansrijk_referrals{state=\"requested\"}") >= 1 &&
                s_sample(h->body, "kansrijk_referrals{state=\"completed\"}") ==
                    0,
            "broker /metrics: the hand-off's referral is counted as requested "
            "(%g)",
            s_sample(h->body, "kansrijk_referrals{state=\"requested\"}"));
    H_CHECK(s_sample(h->body, "kansrijk_escalations_total{timer=\"ack\"}") == 0,
            "broker /metrics: escalations_total{timer=ack} is there, 0");
    H_CHECK(strstr(h->body, S_VL_ORG) == NULL &&
                strstr(h->body, "00001234") == NULL,
            "broker /metrics: no organisation id in a label");
    snprintf(file, sizeof(file), "%s/metrics.txt", c->tmp);
    h_write_file(file, h->body, 0600);
    char cmd[H_PATH + 64];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", file);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    bool promtool = access("/usr/bin/promtool", X_OK) == 0;
    if (!promtool)
        h_note("skip: promtool is not installed (package prometheus)");
    if (promtool) {
        h_run(&r, 20000, argv);
        H_CHECK(r.code == 0,
                "promtool check metrics: broker page (exit %d: %s%s)", r.code,
                r.out, r.err);
        h_run_free(&r);
    }

    H_CHECK(s_get(port, "/healthz", h) && h->status == 200,
            "broker /healthz: 200");
    H_CHECK(s_get(port, "/readyz", h) && h->status == 200,
            "broker /readyz: 200 (%s)", h->body);
    H_CHECK(s_get(port, "/nothing", h) && h->status == 404,
            "broker /nothing: 404");

    /* The node's endpoint. */
    int nport = s_read_port(c->nodes[vl].dir);
    H_REQUIRE(nport > 0, "node: http.port written");
    H_POLL(ok, 5000,
           s_get(nport, "/metrics", h) &&
               s_sample(h->body, "kansrijk_outbox_open") >= 0);
    H_CHECK(ok && s_sample(h->body, "kansrijk_link_up") == 1,
            "node /metrics: link up, outbox figures");
    snprintf(file, sizeof(file), "%s/node-metrics.txt", c->tmp);
    h_write_file(file, h->body, 0600);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", file);
    if (promtool) {
        h_run(&r, 20000, argv);
        H_CHECK(r.code == 0,
                "promtool check metrics: node page (exit %d: %s%s)", r.code,
                r.out, r.err);
        h_run_free(&r);
    }
    H_CHECK(s_get(nport, "/readyz", h) && h->status == 200,
            "node /readyz: 200 while linked (%s)", h->body);

    /* log_format = json: every line of the node's log from its start is
     * a JSON object with ts, level and msg. */
    FILE *f = fopen(c->nodes[vl].log, "r");
    char line[8192];
    int objects = 0, texts = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (line[0] != '{')
            continue;
        json_object *o = json_tokener_parse(line);
        if (o != NULL && h_json_str(o, "msg") != NULL &&
            h_json_str(o, "level") != NULL)
            objects++;
        else
            texts++;
        json_object_put(o);
    }
    if (f != NULL)
        fclose(f);
    H_CHECK(objects >= 3 && texts == 0,
            "node log_format=json: %d JSON lines, %d bad", objects, texts);

    /* The node: SIGHUP reloads (a new level) and does not stop it. */
    h_node_set(c, vl, "log_level", "debug");
    {
        FILE *cf = fopen(c->nodes[vl].conf, "w");
        H_REQUIRE(cf != NULL, "rewrite %s", c->nodes[vl].conf);
        fprintf(cf, "[node]\n");
        for (int i = 0; i < c->nodes[vl].nopts; i++)
            fprintf(cf, "%s = %s\n", c->nodes[vl].opts[i].key,
                    c->nodes[vl].opts[i].value);
        fclose(cf);
    }
    kill(c->nodes[vl].proc.pid, SIGHUP);
    H_POLL(ok, 5000, h_log_contains(c->nodes[vl].log, "reload: done"));
    H_CHECK(ok && h_log_contains(c->nodes[vl].log,
                                 "reload: log_level: info -> debug"),
            "node: SIGHUP reloads the log level");
    H_CHECK(h_proc_alive(&c->nodes[vl].proc), "node: SIGHUP does not stop it");
    free(h);
}

/* Idle and slow clients: the broker serves on, and another request is
 * answered. */
static void
s_slow_clients(struct h_cluster *c, int vl, int jgz, int port)
{
    struct s_http *h = calloc(1, sizeof(*h));
    int fds[24];

    for (int i = 0; i < 24; i++)
        fds[i] = s_connect(port);
    /* One that sends half a request and stops. */
    if (fds[0] >= 0 && write(fds[0], "GET /metr", 9) != 9)
        h_note("partial write failed");
    H_CHECK(
        h_roundtrip(c, vl, jgz, "a referral while 24 HTTP clients idle", 30000),
        "the broker serves while HTTP clients hold connections");
    struct h_run r;
    h_krctl(&r, "--admin", c->admin, "queues", NULL);
    H_CHECK(r.code == 0, "krctl queues answers meanwhile");
    h_run_free(&r);
    for (int i = 0; i < 24; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    bool ok;
    H_POLL(ok, 10000, s_get(port, "/healthz", h) && h->status == 200);
    H_CHECK(ok, "/healthz answers once the idle clients are gone");
    free(h);
}

/* The first value of a Prometheus instant query, through its HTTP API. */
static bool
s_prom_value(int pport, const char *path, struct s_http *h, double *v)
{
    bool got = false;

    if (!s_get(pport, path, h) || h->status != 200)
        return false;
    json_object *o = json_tokener_parse(h->body);
    json_object *res = o != NULL ? h_json_path(o, "data.result") : NULL;
    if (res != NULL && json_object_get_type(res) == json_type_array &&
        json_object_array_length(res) > 0) {
        json_object *pair =
            json_object_object_get(json_object_array_get_idx(res, 0), "value");
        if (pair != NULL && json_object_array_length(pair) == 2) {
            *v = atof(
                json_object_get_string(json_object_array_get_idx(pair, 1)));
            got = true;
        }
    }
    json_object_put(o);
    return got;
}

/* A real Prometheus scrapes the broker; its query API returns the
 * counter. */
static void
s_prometheus(struct h_cluster *c, int port)
{
    char conf[H_PATH + 32], tsdb[H_PATH + 16], listen[64], log[H_PATH + 16];
    char text[1024], path[256];
    struct h_proc prom = {0};
    struct s_http *h = calloc(1, sizeof(*h));
    bool ok = false;

    if (access("/usr/bin/prometheus", X_OK) != 0) {
        h_note("skip: prometheus is not installed (package prometheus)");
        free(h);
        return;
    }
    /* A free port: bind 0, read it, close (the test's own loopback). */
    int s = socket(AF_INET, SOCK_STREAM, 0), pport = 0;
    struct sockaddr_in a = {0};
    socklen_t al = sizeof(a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &al) == 0)
        pport = ntohs(a.sin_port);
    close(s);
    H_REQUIRE(pport > 0, "a free port for prometheus");
    snprintf(conf, sizeof(conf), "%s/prometheus.yml", c->tmp);
    snprintf(text, sizeof(text),
             "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
             "scrape_configs:\n  - job_name: krbroker\n"
             "    static_configs:\n      - targets: ['127.0.0.1:%d']\n",
             port);
    h_write_file(conf, text, 0644);
    snprintf(tsdb, sizeof(tsdb), "%s/tsdb", c->tmp);
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d",
             pport);
    snprintf(log, sizeof(log), "%s/prometheus.log", c->tmp);
    char cfgarg[H_PATH + 64], tsdbarg[H_PATH + 64];
    snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", conf);
    snprintf(tsdbarg, sizeof(tsdbarg), "--storage.tsdb.path=%s", tsdb);
    char *argv[] = {"/usr/bin/prometheus", cfgarg, tsdbarg, listen,
                    "--log.level=warn",    NULL};
    H_REQUIRE(h_proc_spawn(&prom, "prometheus", log, argv) == KR_OK,
              "start prometheus");
    snprintf(path, sizeof(path),
             "/api/v1/query?query=kansrijk_messages_accepted_total");
    double v = -1;
    H_POLL(ok, 60000, s_prom_value(pport, path, h, &v) && v >= 2);
    H_CHECK(ok,
            "prometheus scraped the broker: kansrijk_messages_accepted_total "
            "= %g through /api/v1/query",
            v);
    int status;
    H_CHECK(h_proc_stop(&prom, SIGTERM, 20000, &status) == KR_OK,
            "prometheus stops");
    free(h);
}

static void
s_refuse_remote(struct h_cluster *c)
{
    char key[H_PATH + 16];
    struct h_run r;

    h_secret_path(c->broker_keys, key, sizeof(key));
    char *argv[] = {H_KRBROKER, "--data_dir",    c->broker_dir,  "--keys",
                    key,        "--http_listen", "0.0.0.0:9770", NULL};
    h_run(&r, 10000, argv);
    H_CHECK(r.code == 2 && strstr(r.err, "not a loopback address") != NULL,
            "http_listen 0.0.0.0 without http_allow_remote: exit 2 (%d: %s)",
            r.code, r.err);
    h_run_free(&r);
    char *argv2[] = {H_KRBROKER, "--data_dir",    c->broker_dir, "--keys",
                     key,        "--socket_mode", "0999",        NULL};
    h_run(&r, 10000, argv2);
    H_CHECK(r.code == 2 && strstr(r.err, "socket_mode") != NULL,
            "socket_mode 0999: exit 2 (%d: %s)", r.code, r.err);
    h_run_free(&r);
}

int
main(void)
{
    struct h_cluster c;
    int port = -1, vl = -1, jgz = -1;

    h_init("test_ops", 280);
    h_cluster_init(&c, "test_ops");
    s_refuse_remote(&c);
    s_notify_and_signals(&c);
    s_socket_group(&c);
    s_metrics(&c, &vl, &jgz, &port);
    s_slow_clients(&c, vl, jgz, port);
    s_prometheus(&c, port);

    /* The broker stops: the node is alive but not ready, and says why. */
    struct s_http *h = calloc(1, sizeof(*h));
    int nport = s_read_port(c.nodes[vl].dir);
    H_CHECK(h_broker_stop(&c), "broker stops");
    bool ok;
    H_POLL(ok, 15000, s_get(nport, "/readyz", h) && h->status == 503);
    H_CHECK(ok && strstr(h->body, "not linked to the broker") != NULL,
            "node /readyz: 503 without its broker (%d: %s)", h->status,
            h->body);
    H_CHECK(s_get(nport, "/healthz", h) && h->status == 200,
            "node /healthz: 200 all the same");
    free(h);
    H_CHECK(h_node_stop(&c, jgz), "jgz stops");
    H_CHECK(h_log_contains(c.nodes[jgz].log, "exiting on SIGTERM"),
            "node: logs that it exits on SIGTERM");
    (void)vl;
    return h_finish(&c);
}
