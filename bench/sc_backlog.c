/*
 * sc_backlog.c - a backlog for an offline node.
 *
 * A raw producer (organisation A, window 256) fills the broker with M
 * referrals for organisation B, which is not connected. The broker is
 * stopped (SIGTERM) and started again, and then:
 *   - serving: the time from the start (fork) until the admin socket
 *     answers `org list` and a Hello on the wire is answered (from a third
 *     organisation with an empty queue, so that the probe starts no
 *     delivery);
 *   - memory: the broker's RssAnon (its resident memory less file-backed
 *     pages: LMDB's map is file-backed) with the backlog present, and the
 *     largest RssAnon seen while it drains;
 *   - drain: B connects (raw consumer, acks every delivery at once);
 *     msgs/s = M / (Hello .. last delivery read).
 * The fill rate (M / first submit .. last ACCEPTED) is reported too: with
 * the drain, it shows whether the cost per message stays flat as M grows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "util.h"

#define S_SETUP_MS 30000
#define S_STALL_MS 30000
#define S_START_MS 60000
/* Envelopes built per chunk while the previous chunk is sent. */
#define S_CHUNK 16384

static void
s_add(const char *lbl, const char *what, const char *unit, uint64_t m,
      enum target_kind kind, double target, const char *ref, double v)
{
    char name[64];

    snprintf(name, sizeof(name), "backlog_%s_%s", lbl, what);
    figures_add(name, unit, m, kind, target, ref, v);
}

/* Start the broker again and time it until both doors answer. */
static int
s_restart(struct cluster *c, int probe, double *serving_ms, char *why,
          size_t len)
{
    struct wire w = {0};
    uint64_t t0, deadline;
    bool answered = false;
    int rc;

    /* The probe's Hello waits in its DEALER, which retries every 5 ms,
     * until the link is up; the broker answers it with the directory. The
     * client is ready before the clock starts. */
    if ((rc = wire_open(&w, c->listen, c->orgs[probe].secret, c->broker_pub,
                        c->orgs[probe].id)) != KR_OK ||
        (rc = wire_hello(&w, 1, true)) != KR_OK) {
        snprintf(why, len, "restart: probe: %s", kr_strerror(rc));
        goto done;
    }
    t0 = bench_now_ns();
    deadline = t0 + (uint64_t)S_START_MS * 1000000ull;
    if ((rc = cluster_broker_spawn(c)) != KR_OK) {
        snprintf(why, len, "restart: %s", c->err);
        goto done;
    }
    for (long i = 0; i < 100000000L && !answered; i++) {
        Kr__V1__Frame *f = NULL;
        if (bench_now_ns() >= deadline || !bproc_alive(&c->broker))
            break;
        if ((rc = wire_recv(&w, 1, &f)) != KR_OK) {
            snprintf(why, len, "restart: probe: %s", kr_strerror(rc));
            goto done;
        }
        if (f != NULL) {
            answered = f->dir_response != NULL;
            kr__v1__frame__free_unpacked(f, NULL);
        }
    }
    if (!answered) {
        rc = KR_ETIMEDOUT;
        snprintf(why, len,
                 "restart: no answer to a Hello within %d ms (broker %s)",
                 S_START_MS, bproc_alive(&c->broker) ? "runs" : "ended");
        goto done;
    }
    /* The admin socket is bound before the loop starts, so once a Hello
     * is answered an ipc connect succeeds at once (before that, a connect
     * that loses the race with listen() waits ZeroMQ's 100 ms reconnect
     * interval, which would be measured instead of the broker). */
    if ((rc = cluster_broker_wait_admin(c, deadline)) != KR_OK) {
        snprintf(why, len, "restart: %s", c->err);
        goto done;
    }
    *serving_ms = (double)(bench_now_ns() - t0) / 1e6;
done:
    wire_close(&w);
    return rc;
}

int
sc_backlog(const struct bench_opts *o, uint64_t m, char *why, size_t len)
{
    struct cluster c;
    struct wire prod = {0}, cons = {0};
    struct traffic t = {0}, d = {0};
    struct msg_ctx mc;
    struct source *src = NULL;
    uint8_t *grant = NULL, sig[KR_SIG_LEN];
    size_t grant_len = 0;
    char lbl[32];
    bool failed = true;
    int a, b, probe, rc;

    bench_count_label(m, lbl, sizeof(lbl));
    if ((rc = cluster_init(&c, o, "backlog")) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    /* Room for the backlog and its trail: payload, metadata, queue entry,
     * audit records, the receipts the drain queues for A, and the
     * broker's reserve of an eighth of the map. The map is virtual: only
     * what is written takes disk. */
    uint64_t per = 2 * (uint64_t)envelope_max(o->size) + 4096;
    uint64_t mb = 3 * m * per / (1u << 20);
    c.broker_map_mb = mb > 4096 ? mb : 4096;
    if ((rc = cluster_broker_start(&c)) != KR_OK ||
        (a = rc = cluster_org_add(&c, "a", "ura:00000001", "verloskunde")) <
            0 ||
        (b = rc = cluster_org_add(&c, "b", "ura:00000002", "jgz")) < 0 ||
        (probe = rc =
             cluster_org_add(&c, "probe", "ura:00000003", "wijkteam")) < 0) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    if ((rc = wire_open(&prod, c.listen, c.orgs[a].secret, c.broker_pub,
                        c.orgs[a].id)) != KR_OK ||
        (rc = msg_ctx_init(&mc, prod.keys, c.orgs[a].id, c.orgs[b].id,
                           c.orgs[b].pub, c.coalition, BENCH_BSN)) != KR_OK) {
        snprintf(why, len, "producer: %s", kr_strerror(rc));
        goto done;
    }
    traffic_init(&t, m);
    t.prod = &prod;
    t.window = 256;
    if ((rc = bench_wire_ready(&prod, 256, why, len)) != KR_OK)
        goto done;
    if ((rc = envelope_grant(&mc, t.grant_id, &grant, &grant_len, sig)) !=
            KR_OK ||
        (rc = traffic_submit_one(&t, grant, grant_len, sig)) != KR_OK) {
        snprintf(why, len, "consent grant: %s", kr_strerror(rc));
        goto done;
    }
    if ((rc = traffic_run(&t, GOAL_GRANT_ACCEPTED, S_STALL_MS,
                          bench_now_ns() +
                              (uint64_t)S_SETUP_MS * 1000000ull)) != KR_OK) {
        snprintf(why, len, "consent grant: %s", t.err);
        goto done;
    }

    /* Fill: B is offline, so everything stays queued. */
    if ((rc = source_new(&mc, t.prefix, o->size, m, S_CHUNK, &src)) != KR_OK) {
        snprintf(why, len, "building envelopes: %s", kr_strerror(rc));
        goto done;
    }
    t.src = src;
    rc = traffic_run(&t, GOAL_ALL_ACCEPTED, S_STALL_MS,
                     bench_now_ns() + (120000 + m * 2) * 1000000ull);
    if (rc != KR_OK) {
        snprintf(why, len, "fill %llu: %s", (unsigned long long)m, t.err);
        goto done;
    }
    uint64_t first = UINT64_MAX, last = 0;
    for (uint64_t i = 0; i < m; i++) {
        if (t.t_sub[i] < first)
            first = t.t_sub[i];
        if (t.t_acc[i] > last)
            last = t.t_acc[i];
    }
    double secs = (double)(last - first) / 1e9;
    s_add(lbl, "fill_msgs_per_s", "msg/s", m, TARGET_NONE, 0, NULL,
          secs > 0 ? (double)m / secs : 0);
    source_destroy(&src);
    wire_close(&prod);

    /* Restart with the backlog in the store. */
    if ((rc = cluster_broker_stop(&c)) != KR_OK) {
        snprintf(why, len, "stop with backlog: %s", c.err);
        goto done;
    }
    double serving = 0;
    if ((rc = s_restart(&c, probe, &serving, why, len)) != KR_OK)
        goto done;
    s_add(lbl, "serving_ms", "ms", m, TARGET_LE, 1000, NULL, serving);
    uint64_t anon = 0, file = 0;
    if ((rc = cluster_rss_kb(c.broker.pid, &anon, &file)) != KR_OK) {
        snprintf(why, len, "RssAnon of pid %d: %s", (int)c.broker.pid,
                 kr_strerror(rc));
        goto done;
    }
    s_add(lbl, "anon_mib", "MiB", m, TARGET_LT, 100, NULL,
          (double)anon / 1024.0);
    s_add(lbl, "file_mib", "MiB", m, TARGET_NONE, 0, NULL,
          (double)file / 1024.0);

    /* Drain: B connects and takes everything. */
    traffic_init(&d, m);
    memcpy(d.prefix, t.prefix, sizeof(d.prefix));
    if ((rc = wire_open(&cons, c.listen, c.orgs[b].secret, c.broker_pub,
                        c.orgs[b].id)) != KR_OK) {
        snprintf(why, len, "consumer: %s", kr_strerror(rc));
        goto done;
    }
    d.cons = &cons;
    d.watch_pid = c.broker.pid;
    d.anon_max_kb = anon;
    uint64_t t_hello = bench_now_ns();
    if ((rc = wire_hello(&cons, 256, false)) != KR_OK) {
        snprintf(why, len, "consumer hello: %s", kr_strerror(rc));
        goto done;
    }
    rc = traffic_run(&d, GOAL_ALL_DELIVERED, S_STALL_MS,
                     bench_now_ns() + (120000 + m * 2) * 1000000ull);
    if (rc != KR_OK) {
        snprintf(why, len, "drain %llu: %s", (unsigned long long)m, d.err);
        goto done;
    }
    last = 0;
    for (uint64_t i = 0; i < m; i++)
        if (d.t_del[i] > last)
            last = d.t_del[i];
    secs = (double)(last - t_hello) / 1e9;
    s_add(lbl, "drain_msgs_per_s", "msg/s", m, TARGET_GE_REF, 0.8,
          "broker_w256_msgs_per_s", secs > 0 ? (double)m / secs : 0);
    s_add(lbl, "drain_anon_max_mib", "MiB", m, TARGET_LT, 100, NULL,
          (double)d.anon_max_kb / 1024.0);
    fprintf(stderr,
            "krbench:   backlog %s: serving after %.1f ms, RssAnon %.1f MiB "
            "(RssFile %.1f MiB), drain %.0f msg/s\n",
            lbl, serving, (double)anon / 1024.0, (double)file / 1024.0,
            secs > 0 ? (double)m / secs : 0);
    wire_close(&cons);
    if ((rc = cluster_broker_stop(&c)) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    failed = false;
done:
    source_destroy(&src);
    free(grant);
    traffic_free(&t);
    traffic_free(&d);
    wire_close(&prod);
    wire_close(&cons);
    cluster_destroy(&c, failed);
    return failed ? (rc != KR_OK ? rc : KR_EIO) : KR_OK;
}
