/*
 * test_fhir_notify.c - how krfhir tells JGZ's EPD of a new referral,
 * between a real broker, two real krnodes and a krfhir per organisation,
 * spoken to with the real curl. (Over https: test_fhir_tls.)
 *
 *   1. The long poll: the example Bundle POSTed at the practice's
 *      /$process-message is found at JGZ by GET /Task?requester=...&_wait=;
 *      a long poll that finds nothing is an empty searchset after its
 *      wait.
 *   2. The rest-hook: JGZ's krfhir notifies a listener of the test's own
 *      (a real socket on 127.0.0.1, in a child process) that first
 *      refuses connections (nothing listens), then answers 500 once, then
 *      200: the notification arrives after the retries, names the Task
 *      without its content, GET /Subscription shows the rest-hook, and
 *      the item is then processed at JGZ's node.
 *   3. Every answer validates (tests/fhir/validate.js); no BSN or name in
 *      krfhir's logs.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness_fhir.h"
#include "util.h"

static struct h_cluster s_c;

static const char *
s_path(const char *name)
{
    return h_fhir_path(&s_c, name);
}

/*
 * The rest-hook listener: a child process on a real socket. It answers
 * the first request 500 and every later one 200, writing each body to
 * <dir>/hook-N.json (by a rename: a poll never reads half).
 */
struct s_hook {
    int port;
    char dir[H_PATH];
};

static int
s_hook_run(void *arg)
{
    struct s_hook *h = arg;
    struct sockaddr_in a;
    int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)h->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(ls, 8) != 0) {
        fprintf(stderr, "hook: cannot listen on %d: %s\n", h->port,
                strerror(errno));
        return 1;
    }
    printf("hook: listening on %d\n", h->port);
    fflush(stdout);
    for (int n = 1; n <= 500; n++) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        char buf[65536];
        size_t got = 0;
        char *end = NULL;
        long clen = -1;
        /* Bounded: at most sizeof(buf) bytes, each read waits 5 s. */
        while (got < sizeof(buf) - 1) {
            struct pollfd pf = {fd, POLLIN, 0};
            if (poll(&pf, 1, 5000) <= 0)
                break;
            ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            buf[got] = '\0';
            if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
                char *cl = strcasestr(buf, "Content-Length:");
                clen = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;
            }
            if (end != NULL && (long)(got - (size_t)(end + 4 - buf)) >= clen)
                break;
        }
        const char *reply = n == 1 ? "HTTP/1.1 500 Not yet\r\nContent-Length: "
                                     "0\r\nConnection: close\r\n\r\n"
                                   : "HTTP/1.1 200 OK\r\nContent-Length: "
                                     "0\r\nConnection: close\r\n\r\n";
        if (n > 1 && end != NULL) {
            char p[H_PATH + 32], t[H_PATH + 32];
            snprintf(t, sizeof(t), "%s/.hook-%d.tmp", h->dir, n - 1);
            snprintf(p, sizeof(p), "%s/hook-%d.json", h->dir, n - 1);
            FILE *f = fopen(t, "w");
            if (f != NULL) {
                fputs(end + 4, f);
                fclose(f);
                rename(t, p);
            }
        }
        if (write(fd, reply, strlen(reply)) < 0)
            perror("hook: write");
        close(fd);
        printf("hook: request %d answered %s\n", n, n == 1 ? "500" : "200");
        fflush(stdout);
    }
    return 0;
}

/* The rest-hook: refused (nothing listens yet), then 500, then
 * delivered. 'hp' is the listener's process, for the caller to end. */
static void
s_rest_hook(const struct h_fhir_gw *gj, struct s_hook *hook,
            const char *hook_url, const struct h_fhir_example *x, int jgz,
            const char *tid, struct h_proc *hp)
{
    char hook1[H_PATH + 16], want[160], url[256];
    json_object *o;
    bool ok;

    H_POLL(ok, 20000, h_log_contains(gj->log, "notify: attempt 2"));
    H_CHECK(ok, "JGZ's krfhir retries while the listener refuses");
    /* No libkr client of ours lives across the fork. */
    h_clients_close(&s_c);
    H_ENSURE(h_proc_fork(hp, "hook", s_path("hook.log"), s_hook_run, hook) ==
                 KR_OK,
             "start the listener");
    snprintf(hook1, sizeof(hook1), "%s/hook-1.json", hook->dir);
    H_POLL(ok, 30000, access(hook1, R_OK) == 0);
    H_CHECK(ok, "a notification reaches the listener after a refusal and a "
                "500");
    o = h_fhir_read(hook1);
    snprintf(want, sizeof(want), "/Task/%s", tid);
    const char *full = h_fhir_str(o, "entry.1.fullUrl");
    H_CHECK(h_fhir_eq(h_fhir_str(o, "type"), "history") && full != NULL &&
                strstr(full, want) != NULL &&
                h_json_path(o, "entry.1.resource") == NULL,
            "it is id-only: a history Bundle naming Task/%s, no content", tid);
    json_object_put(o);
    h_fhir_keep(hook1);
    snprintf(url, sizeof(url), "%s/Subscription", gj->base);
    H_CHECK(h_fhir_curl("GET", url, NULL, NULL, s_path("subscription.json")) ==
                200,
            "GET /Subscription at JGZ: 200");
    o = h_fhir_read(s_path("subscription.json"));
    H_CHECK(h_fhir_eq(h_fhir_str(o, "entry.0.resource.channel.type"),
                      "rest-hook") &&
                h_fhir_eq(h_fhir_str(o, "entry.0.resource.channel.endpoint"),
                          hook_url),
            "it shows the configured rest-hook");
    json_object_put(o);
    h_fhir_keep(s_path("subscription.json"));
    H_POLL(ok, 20000, h_fhir_processed(&s_c, jgz, x->sender, tid));
    H_CHECK(ok, "once announced, the referral is processed at JGZ's node");
}

/* A long poll that finds nothing: an empty searchset after the wait. */
static void
s_poll_nothing(const struct h_fhir_gw *gj)
{
    char url[256];
    json_object *o, *tot;

    snprintf(url, sizeof(url),
             "%s/Task?_lastUpdated=gt2099-01-01T00:00:00Z&_wait=2", gj->base);
    uint64_t t1 = h_mono_ms();
    int code = h_fhir_curl("GET", url, NULL, NULL, s_path("poll-empty.json"));
    uint64_t waited = h_mono_ms() - t1;
    o = h_fhir_read(s_path("poll-empty.json"));
    H_CHECK(code == 200 && h_fhir_eq(h_fhir_str(o, "type"), "searchset") &&
                (tot = h_json_path(o, "total")) != NULL &&
                json_object_is_type(tot, json_type_int) &&
                json_object_get_int(tot) == 0 &&
                h_json_path(o, "entry.0") == NULL,
            "a long poll that finds nothing: 200, an empty searchset, "
            "total 0 (HTTP %d)",
            code);
    H_CHECK(waited >= 1900 && waited < 2000 + 15000,
            "it answers after about the wait of 2 s: %llu ms",
            (unsigned long long)waited);
    json_object_put(o);
    h_fhir_keep(s_path("poll-empty.json"));
}

int
main(void)
{
    struct h_fhir_gw gv, gj;
    struct h_fhir_example x;
    struct h_proc hp;
    char url[512], tid[64] = "", hook_url[128];
    int vl, jgz;

    h_init("test_fhir_notify", 200);
    h_cluster_init(&s_c, "fhirnot");
    h_fhir_example_read(&x);
    h_fhir_cluster(&s_c, &x, &vl, &jgz);

    /* JGZ's rest-hook goes to a port where nothing listens yet. */
    struct s_hook hook = {.port = h_fhir_free_port()};
    H_ENSURE(hook.port > 0, "a free port for the listener");
    snprintf(hook.dir, sizeof(hook.dir), "%s", s_c.tmp);
    snprintf(hook_url, sizeof(hook_url), "http://127.0.0.1:%d/hook", hook.port);
    const char *const hook_opts[] = {"--subscription_endpoint", hook_url, NULL};
    h_fhir_gw_start(&gv, &s_c, "vl", s_c.nodes[vl].local, NULL, NULL);
    h_fhir_gw_start(&gj, &s_c, "jgz", s_c.nodes[jgz].local, NULL, hook_opts);

    h_note("== long poll");
    snprintf(url, sizeof(url), "%s/$process-message", gv.base);
    int code = h_fhir_curl("POST", url, "application/fhir+json", H_FHIR_EXAMPLE,
                           s_path("pm1.json"));
    H_CHECK(code == 200,
            "POST the example Bundle at the practice: 200 (HTTP "
            "%d)",
            code);
    h_fhir_keep(s_path("pm1.json"));
    h_fhir_poll_task(&s_c, &gj, x.sender, tid);
    s_poll_nothing(&gj);

    h_note("== rest-hook");
    s_rest_hook(&gj, &hook, hook_url, &x, jgz, tid, &hp);

    h_proc_kill9(&hp);
    h_note("== validation");
    struct h_fhir_gw *gws[] = {&gv, &gj};
    return h_fhir_finish(&s_c, &x, gws, 2);
}
