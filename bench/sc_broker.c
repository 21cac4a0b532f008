/*
 * sc_broker.c - broker throughput: one raw producer (organisation A) and
 * one raw consumer (organisation B) on the wire, the broker with full sync.
 *
 * Every message takes the whole path: submit, the consent gate, the group
 * commit, ACCEPTED; delivery to B, B's ack, its commit, the DELIVERED
 * receipt to A, A's ack and its commit. Envelopes are sealed and signed
 * before the clock starts, and the consent they rely on is recorded (a
 * CONSENT_GRANT from A, delivered to B) before it too.
 *
 * Figures: msgs/s = N / (first submit .. last DELIVERED receipt);
 * accept latency = submit .. ACCEPTED receipt read by A;
 * end to end = submit .. delivery read by B.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "bench.h"
#include "util.h"

#define S_SETUP_MS 30000
#define S_STALL_MS 30000

/* Wait for the answer to a Hello that asked for the directory: the broker
 * has then taken the Hello, and the link is up. */
static int
s_wait_directory(struct wire *w, uint64_t deadline_ns, char *why, size_t len)
{
    for (long i = 0; i < 100000000L && bench_now_ns() < deadline_ns; i++) {
        Kr__V1__Frame *f = NULL;
        int rc = wire_recv(w, 10, &f);
        if (rc != KR_OK) {
            snprintf(why, len, "%s: reading the directory: %s", w->org,
                     kr_strerror(rc));
            return rc;
        }
        if (f == NULL)
            continue;
        bool done = f->dir_response != NULL;
        bool err = f->error != NULL;
        if (err)
            snprintf(why, len, "%s: frame error after hello: %s", w->org,
                     f->error->detail ? f->error->detail : "");
        kr__v1__frame__free_unpacked(f, NULL);
        if (err)
            return KR_EREFUSED;
        if (done)
            return KR_OK;
    }
    snprintf(why, len, "%s: no answer to hello in time", w->org);
    return KR_ETIMEDOUT;
}

int
bench_wire_ready(struct wire *w, uint32_t window, char *why, size_t len)
{
    int rc = wire_hello(w, window, true);

    if (rc != KR_OK) {
        snprintf(why, len, "%s: hello: %s", w->org, kr_strerror(rc));
        return rc;
    }
    return s_wait_directory(
        w, bench_now_ns() + (uint64_t)S_SETUP_MS * 1000000ull, why, len);
}

/* perf on the broker's PID for the measured part only. */
static int
s_perf_start(struct cluster *c, const char *file, struct bproc *p)
{
    char pid[32], log[BENCH_PATH + 16];

    snprintf(pid, sizeof(pid), "%d", (int)c->broker.pid);
    snprintf(log, sizeof(log), "%s/perf.log", c->tmp);
    char *argv[] = {(char *)"perf",
                    (char *)"record",
                    (char *)"--call-graph",
                    (char *)"dwarf,16384",
                    (char *)"-o",
                    (char *)file,
                    (char *)"-p",
                    pid,
                    NULL};
    if (bproc_spawn(p, "perf", log, argv) != KR_OK)
        return KR_ESYS;
    /* perf needs a moment to attach; the clock has not started. */
    bench_sleep_ns(500000000ull);
    if (!bproc_alive(p)) {
        fprintf(stderr, "krbench: perf ended at once; see %s\n", log);
        return KR_ESYS;
    }
    return KR_OK;
}

static double
s_ms(double ns)
{
    return ns / 1e6;
}

/* Where the time went: the broker's main thread busy and waiting for a
 * CPU, the broker's CPU per message, and krbench's own share of the
 * machine (it runs on the same CPUs). */
static void
s_cpu_figures(const char *w, uint64_t n, const struct sched_sample *b0,
              const struct sched_sample *b1, const struct rusage *r0,
              const struct rusage *r1)
{
    double wall = (double)(b1->at_ns - b0->at_ns);
    double self = (double)(r1->ru_utime.tv_sec - r0->ru_utime.tv_sec +
                           r1->ru_stime.tv_sec - r0->ru_stime.tv_sec) *
                      1e9 +
                  (double)(r1->ru_utime.tv_usec - r0->ru_utime.tv_usec +
                           r1->ru_stime.tv_usec - r0->ru_stime.tv_usec) *
                      1e3;
    char name[64];

    if (wall <= 0 || n == 0)
        return;
    snprintf(name, sizeof(name), "%s_broker_busy_pct", w);
    figures_add(name, "%", n, TARGET_NONE, 0, NULL,
                100.0 * (double)(b1->main_run_ns - b0->main_run_ns) / wall);
    snprintf(name, sizeof(name), "%s_broker_runq_pct", w);
    figures_add(name, "%", n, TARGET_NONE, 0, NULL,
                100.0 * (double)(b1->main_wait_ns - b0->main_wait_ns) / wall);
    snprintf(name, sizeof(name), "%s_broker_cpu_us_per_msg", w);
    figures_add(name, "us", n, TARGET_NONE, 0, NULL,
                (double)(b1->all_run_ns - b0->all_run_ns) / 1e3 / (double)n);
    snprintf(name, sizeof(name), "%s_disk_kib_per_msg", w);
    figures_add(name, "KiB", n, TARGET_NONE, 0, NULL,
                (double)(b1->disk_bytes - b0->disk_bytes) / 1024.0 / (double)n);
    snprintf(name, sizeof(name), "%s_krbench_cpu_pct", w);
    figures_add(name, "%", n, TARGET_NONE, 0, NULL, 100.0 * self / wall);
    /* The rate at which this run's CPU per message (the broker's and the
     * clients') would fill every CPU: how far flushes and waits are from
     * being what bounds the run. At window 256 it is the ceiling. */
    double per_msg_ns =
        ((double)(b1->all_run_ns - b0->all_run_ns) + self) / (double)n;
    if (per_msg_ns > 0) {
        snprintf(name, sizeof(name), "%s_cpu_bound_msgs_per_s", w);
        figures_add(name, "msg/s", n, TARGET_NONE, 0, NULL,
                    bench_ncpu() * 1e9 / per_msg_ns);
    }
}

static void
s_figures(const struct traffic *t, uint32_t window)
{
    uint64_t *acc = xcalloc(t->n, sizeof(uint64_t));
    uint64_t *e2e = xcalloc(t->n, sizeof(uint64_t));
    uint64_t first = UINT64_MAX, last = 0;
    char name[64];
    const char *w = window == 1 ? "broker_w1" : "broker_w256";

    for (uint64_t i = 0; i < t->n; i++) {
        acc[i] = t->t_acc[i] - t->t_sub[i];
        e2e[i] = t->t_del[i] - t->t_sub[i];
        if (t->t_sub[i] < first)
            first = t->t_sub[i];
        if (t->t_rcpt[i] > last)
            last = t->t_rcpt[i];
    }
    double secs = (double)(last - first) / 1e9;
    snprintf(name, sizeof(name), "%s_msgs_per_s", w);
    figures_add(name, "msg/s", t->n, TARGET_GE, window == 1 ? 2000 : 60000,
                NULL, secs > 0 ? (double)t->n / secs : 0);
    snprintf(name, sizeof(name), "%s_accept_p50_ms", w);
    figures_add(name, "ms", t->n, window == 1 ? TARGET_LE : TARGET_NONE, 0.6,
                NULL, s_ms(stats_percentile(acc, t->n, 50)));
    snprintf(name, sizeof(name), "%s_accept_p99_ms", w);
    figures_add(name, "ms", t->n, TARGET_NONE, 0, NULL,
                s_ms(stats_percentile(acc, t->n, 99)));
    snprintf(name, sizeof(name), "%s_e2e_p50_ms", w);
    figures_add(name, "ms", t->n, TARGET_NONE, 0, NULL,
                s_ms(stats_percentile(e2e, t->n, 50)));
    snprintf(name, sizeof(name), "%s_e2e_p99_ms", w);
    figures_add(name, "ms", t->n, TARGET_NONE, 0, NULL,
                s_ms(stats_percentile(e2e, t->n, 99)));
    fprintf(stderr, "krbench:   %s: %llu messages in %.3f s: %.0f msg/s\n", w,
            (unsigned long long)t->n, secs, secs > 0 ? (double)t->n / secs : 0);
    free(acc);
    free(e2e);
}

int
sc_broker(const struct bench_opts *o, uint32_t window, uint64_t n,
          const char *perf, char *why, size_t len)
{
    struct cluster c;
    struct wire prod = {0}, cons = {0};
    struct traffic t = {0};
    struct msg_ctx m;
    struct source *src = NULL;
    struct bproc perfp = {0};
    uint8_t *grant = NULL, sig[KR_SIG_LEN];
    size_t grant_len = 0;
    bool failed = true;
    int a, b, rc, st;

    if ((rc = cluster_init(&c, o, window == 1 ? "w1" : "w256")) != KR_OK ||
        (rc = cluster_broker_start(&c)) != KR_OK ||
        (a = rc = cluster_org_add(&c, "a", "ura:00000001", "verloskunde")) <
            0 ||
        (b = rc = cluster_org_add(&c, "b", "ura:00000002", "jgz")) < 0) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    if ((rc = wire_open(&prod, c.listen, c.orgs[a].secret, c.broker_pub,
                        c.orgs[a].id)) != KR_OK ||
        (rc = wire_open(&cons, c.listen, c.orgs[b].secret, c.broker_pub,
                        c.orgs[b].id)) != KR_OK) {
        snprintf(why, len, "wire clients: %s", kr_strerror(rc));
        goto done;
    }
    if ((rc = msg_ctx_init(&m, prod.keys, c.orgs[a].id, c.orgs[b].id,
                           c.orgs[b].pub, c.coalition, BENCH_BSN)) != KR_OK) {
        snprintf(why, len, "keys and pseudonym: %s", kr_strerror(rc));
        goto done;
    }
    traffic_init(&t, n);
    t.prod = &prod;
    t.cons = &cons;
    t.window = window;
    if ((rc = bench_wire_ready(&cons, 256, why, len)) != KR_OK ||
        (rc = bench_wire_ready(&prod, 256, why, len)) != KR_OK)
        goto done;

    /* The consent, recorded and delivered before the clock. */
    if ((rc = envelope_grant(&m, t.grant_id, &grant, &grant_len, sig)) !=
            KR_OK ||
        (rc = traffic_submit_one(&t, grant, grant_len, sig)) != KR_OK) {
        snprintf(why, len, "consent grant: %s", kr_strerror(rc));
        goto done;
    }
    rc = traffic_run(&t, GOAL_GRANT_DELIVERED, S_STALL_MS,
                     bench_now_ns() + (uint64_t)S_SETUP_MS * 1000000ull);
    if (rc != KR_OK) {
        snprintf(why, len, "consent grant: %s", t.err);
        goto done;
    }

    /* All N envelopes, sealed and signed, before the clock. */
    if ((rc = source_new(&m, t.prefix, o->size, n, n, &src)) != KR_OK) {
        snprintf(why, len, "building envelopes: %s", kr_strerror(rc));
        goto done;
    }
    t.src = src;
    if (perf != NULL && s_perf_start(&c, perf, &perfp) != KR_OK)
        fprintf(stderr, "krbench: perf did not start; measuring without\n");

    uint64_t budget_ms = 120000 + n * 10;
    struct sched_sample s0, s1;
    struct rusage r0, r1;
    struct commit_stats k0 = {0}, k1 = {0};
    bool have_commits = cluster_broker_commits(&c, &k0) == KR_OK;
    bool have_cpu = cluster_sched(c.broker.pid, c.tmp, &s0) == KR_OK;
    getrusage(RUSAGE_SELF, &r0);
    uint64_t t0 = bench_now_ns();
    rc = traffic_run(&t, GOAL_ALL_RECEIPTS, S_STALL_MS,
                     bench_now_ns() + budget_ms * 1000000ull);
    uint64_t wall = bench_now_ns() - t0;
    getrusage(RUSAGE_SELF, &r1);
    have_cpu = have_cpu && cluster_sched(c.broker.pid, c.tmp, &s1) == KR_OK;
    have_commits = have_commits && cluster_broker_commits(&c, &k1) == KR_OK;
    if (perfp.running) {
        /* perf writes its data on SIGINT. */
        bproc_stop(&perfp, SIGINT, 60000, &st);
        fprintf(stderr, "krbench: perf data in %s\n", perf);
    }
    if (rc != KR_OK) {
        snprintf(why, len, "window %u: %s", window, t.err);
        goto done;
    }
    s_figures(&t, window);
    if (have_cpu)
        s_cpu_figures(window == 1 ? "broker_w1" : "broker_w256", n, &s0, &s1,
                      &r0, &r1);
    /* How much of the run the broker's loop spent in its commits: the
     * part no other work of the loop overlaps. */
    if (have_commits)
        bench_commit_figures(window == 1 ? "broker_w1" : "broker_w256", n, &k0,
                             &k1, wall);

    wire_close(&prod);
    wire_close(&cons);
    if ((rc = cluster_broker_stop(&c)) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    failed = false;
done:
    if (perfp.running)
        bproc_stop(&perfp, SIGINT, 60000, &st);
    source_destroy(&src);
    free(grant);
    traffic_free(&t);
    wire_close(&prod);
    wire_close(&cons);
    cluster_destroy(&c, failed);
    return failed ? (rc != KR_OK ? rc : KR_EIO) : KR_OK;
}
