/*
 * sc_timers.c - the referral timers' cost: the broker's window-256 rate
 * on an empty store, then after 'open' referrals were opened (each with
 * its T_ack and T_decide steps pending in the timers tree, none due), in
 * the same run; and the cron's scan of the timers tree per loop pass
 * (krctl stats), which must cost what is due, not what is open.
 *
 * Figures: timers_empty_w256_msgs_per_s, timers_open_w256_msgs_per_s,
 * timers_open_vs_empty (target >= 0.90), timers_scan_avg_us and
 * timers_scan_max_us (over the passes of the second measured run),
 * timers_pending.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "util.h"

#define S_SETUP_MS 30000
#define S_STALL_MS 30000

/* One window-256 run of n referrals; its rate. The grant goes first when
 * 'grant' (the consent every referral passes under). */
static int
s_run(struct wire *prod, struct wire *cons, struct msg_ctx *m,
      const struct bench_opts *o, uint64_t n, bool grant, double *rate,
      char *why, size_t len)
{
    struct traffic t;
    struct source *src = NULL;
    uint8_t *genv = NULL, sig[KR_SIG_LEN];
    size_t glen = 0;
    int rc;

    traffic_init(&t, n);
    t.prod = prod;
    t.cons = cons;
    t.window = 256;
    if (grant) {
        if ((rc = envelope_grant(m, t.grant_id, &genv, &glen, sig)) != KR_OK ||
            (rc = traffic_submit_one(&t, genv, glen, sig)) != KR_OK ||
            (rc = traffic_run(&t, GOAL_GRANT_DELIVERED, S_STALL_MS,
                              bench_now_ns() + (uint64_t)S_SETUP_MS *
                                                   1000000ull)) != KR_OK) {
            snprintf(why, len, "consent grant: %s", t.err);
            goto done;
        }
    }
    if ((rc = source_new(m, t.prefix, o->size, n, n < 20000 ? n : 20000,
                         &src)) != KR_OK) {
        snprintf(why, len, "building envelopes: %s", kr_strerror(rc));
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
    }
    *rate = last > first ? (double)n / ((double)(last - first) / 1e9) : 0;
done:
    source_destroy(&src);
    free(genv);
    traffic_free(&t);
    return rc;
}

int
sc_timers(const struct bench_opts *o, uint64_t n, uint64_t open, char *why,
          size_t len)
{
    struct cluster c;
    struct wire prod = {0}, cons = {0};
    struct msg_ctx m;
    struct timer_stats k0 = {0}, k1 = {0}, kf = {0};
    double empty = 0, full = 0, fill = 0;
    bool failed = true;
    int a, b, rc;

    if ((rc = cluster_init(&c, o, "timers")) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    /* A route with the defaults' lengths: every referral gets its steps,
     * none falls due during the run. */
    snprintf(c.broker_routes, sizeof(c.broker_routes), "%s/routes.ini", c.tmp);
    FILE *f = fopen(c.broker_routes, "w");
    if (f == NULL) {
        snprintf(why, len, "cannot write %s", c.broker_routes);
        rc = KR_EIO;
        goto done;
    }
    fprintf(f,
            "[route %s]\nfrom = verloskunde\nto = jgz\n"
            "t_ack = 1 workday\nt_decide = 5 workdays, 10 workdays\n",
            BENCH_PURPOSE);
    fclose(f);
    if ((rc = cluster_broker_start(&c)) != KR_OK ||
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
    if ((rc = bench_wire_ready(&cons, 256, why, len)) != KR_OK ||
        (rc = bench_wire_ready(&prod, 256, why, len)) != KR_OK)
        goto done;
    /* 1. The empty store (but for the consent). */
    if ((rc = s_run(&prod, &cons, &m, o, n, true, &empty, why, len)) != KR_OK)
        goto done;
    /* 2. Open referrals: 'open' more, each with three timer steps. */
    if ((rc = s_run(&prod, &cons, &m, o, open, false, &fill, why, len)) !=
        KR_OK)
        goto done;
    /* 3. The same run as 1, with them present; the scans it saw. */
    if ((rc = cluster_broker_timers(&c, &k0)) != KR_OK ||
        (rc = s_run(&prod, &cons, &m, o, n, false, &full, why, len)) != KR_OK ||
        (rc = cluster_broker_timers(&c, &k1)) != KR_OK) {
        if (why[0] == '\0')
            snprintf(why, len, "krctl stats: %s", kr_strerror(rc));
        goto done;
    }
    kf = k1;
    uint64_t scans = k1.scans - k0.scans;
    figures_add("timers_empty_w256_msgs_per_s", "msg/s", n, TARGET_NONE, 0,
                NULL, empty);
    figures_add("timers_open_w256_msgs_per_s", "msg/s", n, TARGET_NONE, 0, NULL,
                full);
    figures_add("timers_open_vs_empty", "x", n, TARGET_GE, 0.90, NULL,
                empty > 0 ? full / empty : 0);
    figures_add("timers_fill_msgs_per_s", "msg/s", open, TARGET_NONE, 0, NULL,
                fill);
    figures_add("timers_scan_avg_us", "us", open, TARGET_NONE, 0, NULL,
                scans > 0 ? (double)(k1.scan_total_us - k0.scan_total_us) /
                                (double)scans
                          : 0);
    figures_add("timers_scan_max_us", "us", open, TARGET_NONE, 0, NULL,
                (double)k1.scan_max_us);
    figures_add("timers_pending", "entries", open, TARGET_NONE, 0, NULL,
                (double)kf.pending);
    figures_add("timers_referrals", "records", open, TARGET_NONE, 0, NULL,
                (double)kf.referrals);
    fprintf(stderr,
            "krbench:   timers: w256 empty %.0f msg/s, with %llu referrals "
            "open %.0f msg/s (%.2f); scans %llu, avg %.1f us, max %u us; "
            "pending %llu\n",
            empty, (unsigned long long)kf.referrals, full,
            empty > 0 ? full / empty : 0, (unsigned long long)scans,
            scans > 0
                ? (double)(k1.scan_total_us - k0.scan_total_us) / (double)scans
                : 0,
            k1.scan_max_us, (unsigned long long)kf.pending);
    wire_close(&prod);
    wire_close(&cons);
    if ((rc = cluster_broker_stop(&c)) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    failed = false;
done:
    wire_close(&prod);
    wire_close(&cons);
    cluster_destroy(&c, failed);
    return failed ? (rc != KR_OK ? rc : KR_EIO) : KR_OK;
}
