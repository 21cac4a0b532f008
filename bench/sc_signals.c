/*
 * sc_signals.c - signals and retention with a large store (issue 16):
 *
 * 1. Window 256 of SIGNALs (each on a subject of its own: the broker
 *    reads the subject's family for a match, then stores it) on an empty
 *    store, then with 'stored' signals filled into the stopped broker's
 *    store (krbench_match --fill-signals), in the same run. The broker is
 *    restarted before both measurements, so that both start alike.
 * 2. A retention purge of 'purge' final message records, a day past
 *    their retention (krbench_match --fill-finals): while the broker's
 *    cron purges them in bounded batches, a producer sends SIGNALs at
 *    window 1 and times each acceptance. A message waits for the pass
 *    that takes it to commit, so the longest acceptance during the purge
 *    bounds the longest loop pass. The purge is watched for at most
 *    S_PURGE_WATCH_MS; its rate is reported.
 *
 * Figures: signals_empty_w256_msgs_per_s, signals_stored_w256_msgs_per_s,
 * signals_stored_vs_empty (target >= 0.90), signals_stored,
 * signals_empty_disk_kib_per_msg and signals_stored_disk_kib_per_msg (what
 * the device wrote per signal in each run),
 * purge_records_per_s, purge_w1_accept_p50_ms / _p99_ms / _max_ms,
 * quiet_w1_accept_max_ms (the same traffic without a purge), and
 * purge_pass_work_avg_ms / _max_ms (the purge's own work in a pass, from
 * the broker's stats: reads and deletes, not the pass's commit).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "util.h"

#define S_STALL_MS 30000
#define S_PURGE_WATCH_MS 60000
#define S_W1_CHUNK 500

/* krbench_match: that of the build tree whose broker is measured (with
 * --compare the two builds' stores may differ in layout), else the one
 * beside this program. */
static int
s_fill(struct cluster *c, const char *mode, uint64_t n, char *why, size_t len)
{
    char self[PATH_MAX], tree[BENCH_PATH], bin[PATH_MAX + 32], count[32];
    ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
    int status;

    snprintf(tree, sizeof(tree), "%s", c->opts->broker_bin);
    snprintf(bin, sizeof(bin), "%s/bench/krbench_match",
             dirname(dirname(tree)));
    if (access(bin, X_OK) != 0) {
        if (k <= 0) {
            snprintf(why, len, "cannot find krbench_match: /proc/self/exe");
            return KR_ESYS;
        }
        self[k] = '\0';
        snprintf(bin, sizeof(bin), "%s/krbench_match", dirname(self));
    }
    snprintf(count, sizeof(count), "%llu", (unsigned long long)n);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, len, "fork: %s", strerror(errno));
        return KR_ESYS;
    }
    if (pid == 0) {
        execl(bin, "krbench_match", mode, c->broker_dir, count, (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        snprintf(why, len, "%s %s %s failed (status %d)", bin, mode, count,
                 status);
        return KR_EIO;
    }
    return KR_OK;
}

/* One run of n SIGNALs at 'window'; its rate, and each acceptance's
 * latency in acc (n values, ns) if not NULL. */
static int
s_run(struct wire *prod, struct msg_ctx *m, const struct bench_opts *o,
      uint64_t n, uint32_t window, double *rate, uint64_t *acc, char *why,
      size_t len)
{
    struct traffic t;
    struct source *src = NULL;
    int rc;

    traffic_init(&t, n);
    t.prod = prod;
    t.window = window;
    t.no_deliveries = true;
    if ((rc = source_new(m, t.prefix, o->size, n, n < 20000 ? n : 20000,
                         &src)) != KR_OK) {
        snprintf(why, len, "building signals: %s", kr_strerror(rc));
        goto done;
    }
    t.src = src;
    rc = traffic_run(&t, GOAL_ALL_RECEIPTS, S_STALL_MS,
                     bench_now_ns() + (120000 + n * 10) * 1000000ull);
    if (rc != KR_OK) {
        snprintf(why, len, "%s", t.err);
        goto done;
    }
    uint64_t first = UINT64_MAX, last = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (t.t_sub[i] < first)
            first = t.t_sub[i];
        if (t.t_rcpt[i] > last)
            last = t.t_rcpt[i];
        if (acc != NULL)
            acc[i] = t.t_acc[i] - t.t_sub[i];
    }
    *rate = last > first ? (double)n / ((double)(last - first) / 1e9) : 0;
done:
    source_destroy(&src);
    traffic_free(&t);
    return rc;
}

/* s_run, with the bytes the store's disk wrote per message (the whole
 * device's: the broker is its only writer here), in KiB; -1 if unknown. */
static int
s_run_disk(struct cluster *c, struct wire *prod, struct msg_ctx *m,
           const struct bench_opts *o, uint64_t n, double *rate, double *kib,
           char *why, size_t len)
{
    struct sched_sample s0, s1;
    bool have = cluster_sched(c->broker.pid, c->tmp, &s0) == KR_OK;
    int rc = s_run(prod, m, o, n, 256, rate, NULL, why, len);

    have = have && cluster_sched(c->broker.pid, c->tmp, &s1) == KR_OK;
    *kib = have && n > 0
               ? (double)(s1.disk_bytes - s0.disk_bytes) / 1024.0 / (double)n
               : -1;
    return rc;
}

/* Restart the broker and reconnect the producer. */
static int
s_restart(struct cluster *c, struct wire *prod, int a, char *why, size_t len)
{
    int rc;

    wire_close(prod);
    if ((rc = cluster_broker_stop(c)) != KR_OK ||
        (rc = cluster_broker_start(c)) != KR_OK) {
        snprintf(why, len, "%s", c->err);
        return rc;
    }
    if ((rc = wire_open(prod, c->listen, c->orgs[a].secret, c->broker_pub,
                        c->orgs[a].id)) != KR_OK) {
        snprintf(why, len, "wire client: %s", kr_strerror(rc));
        return rc;
    }
    return bench_wire_ready(prod, 256, why, len);
}

static double
s_ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

int
sc_signals(const struct bench_opts *o, uint64_t n, uint64_t stored,
           uint64_t purge, char *why, size_t len)
{
    struct cluster c;
    struct wire prod = {0};
    struct msg_ctx m;
    struct timer_stats st = {0}, s0 = {0}, s1 = {0};
    double empty = 0, full = 0, r, kib_empty = -1, kib_full = -1;
    uint64_t *acc = NULL, *all = NULL, nall = 0, quiet_max = 0;
    bool failed = true;
    int a, rc;

    if ((rc = cluster_init(&c, o, "signals")) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    c.broker_map_mb = 16384; /* a million signals and a million records */
    snprintf(c.broker_routes, sizeof(c.broker_routes), "%s/routes.ini", c.tmp);
    FILE *f = fopen(c.broker_routes, "w");
    if (f == NULL) {
        snprintf(why, len, "cannot write %s", c.broker_routes);
        rc = KR_EIO;
        goto done;
    }
    fprintf(f,
            "[route %s]\nfrom = jgz, wijkteam\nto = coordinator\n"
            "signal_basis = route\n",
            BENCH_SIGNAL_PURPOSE);
    fclose(f);
    if ((rc = cluster_broker_start(&c)) != KR_OK ||
        (a = rc = cluster_org_add(&c, "a", "ura:00000001", "jgz")) < 0) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    if ((rc = wire_open(&prod, c.listen, c.orgs[a].secret, c.broker_pub,
                        c.orgs[a].id)) != KR_OK) {
        snprintf(why, len, "wire client: %s", kr_strerror(rc));
        goto done;
    }
    if ((rc = msg_ctx_init(&m, prod.keys, c.orgs[a].id, c.orgs[a].id,
                           c.orgs[a].pub, c.coalition, BENCH_BSN)) != KR_OK) {
        snprintf(why, len, "keys and pseudonym: %s", kr_strerror(rc));
        goto done;
    }
    m.signal = true;
    /* 1. Window 256: empty, then with 'stored' signals. */
    if ((rc = s_restart(&c, &prod, a, why, len)) != KR_OK ||
        (rc = s_run_disk(&c, &prod, &m, o, n, &empty, &kib_empty, why, len)) !=
            KR_OK)
        goto done;
    wire_close(&prod);
    if ((rc = cluster_broker_stop(&c)) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    uint64_t t0 = bench_now_ns();
    if ((rc = s_fill(&c, "--fill-signals", stored, why, len)) != KR_OK)
        goto done;
    double fill_s = (double)(bench_now_ns() - t0) / 1e9;
    if ((rc = cluster_broker_start(&c)) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    if ((rc = s_restart(&c, &prod, a, why, len)) != KR_OK ||
        (rc = s_run_disk(&c, &prod, &m, o, n, &full, &kib_full, why, len)) !=
            KR_OK ||
        (rc = cluster_broker_timers(&c, &st)) != KR_OK) {
        if (why[0] == '\0')
            snprintf(why, len, "krctl stats: %s", kr_strerror(rc));
        goto done;
    }
    figures_add("signals_empty_w256_msgs_per_s", "msg/s", n, TARGET_NONE, 0,
                NULL, empty);
    figures_add("signals_stored_w256_msgs_per_s", "msg/s", n, TARGET_NONE, 0,
                NULL, full);
    figures_add("signals_stored_vs_empty", "x", n, TARGET_GE, 0.90, NULL,
                empty > 0 ? full / empty : 0);
    figures_add("signals_stored", "signals", n, TARGET_NONE, 0, NULL,
                (double)st.signals);
    if (kib_empty >= 0 && kib_full >= 0) {
        figures_add("signals_empty_disk_kib_per_msg", "KiB", n, TARGET_NONE, 0,
                    NULL, kib_empty);
        figures_add("signals_stored_disk_kib_per_msg", "KiB", n, TARGET_NONE, 0,
                    NULL, kib_full);
    }
    fprintf(stderr,
            "krbench:   signals: w256 empty %.0f msg/s, with %llu signals "
            "stored %.0f msg/s (%.2f); filled in %.1f s\n",
            empty, (unsigned long long)st.signals, full,
            empty > 0 ? full / empty : 0, fill_s);

    /* 2. Window 1 without a purge: the longest acceptance when quiet. */
    acc = xcalloc(S_W1_CHUNK, sizeof(*acc));
    if ((rc = s_run(&prod, &m, o, S_W1_CHUNK, 1, &r, acc, why, len)) != KR_OK)
        goto done;
    for (size_t i = 0; i < S_W1_CHUNK; i++)
        if (acc[i] > quiet_max)
            quiet_max = acc[i];
    /* 3. The purge: records a day old, retention an hour. */
    wire_close(&prod);
    if ((rc = cluster_broker_stop(&c)) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    if ((rc = s_fill(&c, "--fill-finals", purge, why, len)) != KR_OK)
        goto done;
    snprintf(c.broker_extra, sizeof(c.broker_extra),
             "retention_messages_s = 3600\n");
    /* The broker's cron purges from its start; its count of purged
     * records starts at 0 with it. */
    uint64_t p0 = bench_now_ns(), p1 = p0;
    if ((rc = cluster_broker_start(&c)) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    if ((rc = wire_open(&prod, c.listen, c.orgs[a].secret, c.broker_pub,
                        c.orgs[a].id)) != KR_OK ||
        (rc = bench_wire_ready(&prod, 256, why, len)) != KR_OK ||
        (rc = cluster_broker_timers(&c, &s0)) != KR_OK)
        goto done;
    size_t cap = 0;
    s1 = s0;
    /* Until the filled records are purged (the window-1 signals sent
     * meanwhile are final too, but not due for an hour). */
    while (s1.messages_purged < purge &&
           bench_now_ns() - p0 < (uint64_t)S_PURGE_WATCH_MS * 1000000ull) {
        if ((rc = s_run(&prod, &m, o, S_W1_CHUNK, 1, &r, acc, why, len)) !=
            KR_OK)
            goto done;
        if (nall + S_W1_CHUNK > cap) {
            cap = cap ? 2 * cap : 16 * S_W1_CHUNK;
            all = xrealloc(all, cap * sizeof(*all));
        }
        memcpy(all + nall, acc, S_W1_CHUNK * sizeof(*acc));
        nall += S_W1_CHUNK;
        if ((rc = cluster_broker_timers(&c, &s1)) != KR_OK)
            goto done;
        p1 = bench_now_ns();
    }
    uint64_t purged = s1.messages_purged;
    double secs = (double)(p1 - p0) / 1e9;
    double pmax = stats_percentile(all, nall, 100);
    double p99 = stats_percentile(all, nall, 99);
    double p50 = stats_percentile(all, nall, 50);
    figures_add("purge_records_per_s", "rec/s", purge, TARGET_NONE, 0, NULL,
                secs > 0 ? (double)purged / secs : 0);
    figures_add("purge_w1_accept_p50_ms", "ms", purge, TARGET_NONE, 0, NULL,
                s_ms((uint64_t)p50));
    figures_add("purge_w1_accept_p99_ms", "ms", purge, TARGET_NONE, 0, NULL,
                s_ms((uint64_t)p99));
    figures_add("purge_w1_accept_max_ms", "ms", purge, TARGET_NONE, 0, NULL,
                s_ms((uint64_t)pmax));
    figures_add("quiet_w1_accept_max_ms", "ms", S_W1_CHUNK, TARGET_NONE, 0,
                NULL, s_ms(quiet_max));
    uint64_t passes = s1.purge_passes - s0.purge_passes;
    figures_add("purge_pass_work_avg_ms", "ms", purge, TARGET_NONE, 0, NULL,
                passes > 0 ? (double)(s1.purge_total_us - s0.purge_total_us) /
                                 1000.0 / (double)passes
                           : 0);
    figures_add("purge_pass_work_max_ms", "ms", purge, TARGET_NONE, 0, NULL,
                (double)s1.purge_max_us / 1000.0);
    fprintf(stderr,
            "krbench:   purge: %llu of %llu due records purged in %.1f s "
            "(%.0f/s, %llu left); window-1 acceptance during it p50 %.2f "
            "p99 %.2f max %.2f ms over %llu signals (quiet: max %.2f ms); "
            "the purge's own work a pass: max %.2f ms\n",
            (unsigned long long)purged, (unsigned long long)purge, secs,
            secs > 0 ? (double)purged / secs : 0,
            (unsigned long long)s1.finals_pending, s_ms((uint64_t)p50),
            s_ms((uint64_t)p99), s_ms((uint64_t)pmax), (unsigned long long)nall,
            s_ms(quiet_max), (double)s1.purge_max_us / 1000.0);
    wire_close(&prod);
    if ((rc = cluster_broker_stop(&c)) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    failed = false;
done:
    free(acc);
    free(all);
    wire_close(&prod);
    cluster_destroy(&c, failed);
    return failed ? (rc != KR_OK ? rc : KR_EIO) : KR_OK;
}
