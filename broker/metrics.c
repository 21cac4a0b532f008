/* metrics.c - the broker's figures and service duties; see metrics.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "broker.h"
#include "bstore.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "report.h"
#include "routes.h"
#include "referral_table.h"
#include "timers.h"
#include "names.h"

#define S_REASONS 96 /* kr.v1.Reason values fit below this (80s: keys) */
#define S_TYPES 32   /* kr.v1.MessageType values */
#define S_CATS 16    /* kr.v1.OrgCategory values */
#define S_SNAPSHOT_MS 1000
/* The loop ticks every 100 ms: a tick older than this is a loop stuck. */
#define S_LOOP_STALE_MS 10000

enum s_final { S_DELIVERED, S_EXPIRED, S_WITHDRAWN, S_NFINAL };

/* Global counters: the loop adds, the HTTP thread reads. */
struct s_counters {
    _Atomic uint64_t accepted;
    _Atomic uint64_t refused[S_REASONS];
    _Atomic uint64_t final[S_NFINAL][S_TYPES];
    _Atomic uint64_t consent_refusals;
};

/* Referrals by state (REFERRAL and HANDOVER records; SUBJECT_LINK's
 * watches are not referrals) and escalations by timer. */
#define S_STATES (KR__V1__TASK_STATUS__TASK_ENTERED_IN_ERROR + 1)
#define S_TIMERS (TIMER_HANDOVER_3 + 1)
static _Atomic int64_t s_ref_state[S_STATES];
static _Atomic uint64_t s_escalations[S_TIMERS];

/* A pass's counts until its commit (loop thread only). */
struct s_pending {
    int64_t ref_state[S_STATES];
    uint64_t escalations[S_TIMERS];
    uint64_t accepted;
    uint64_t refused[S_REASONS];
    uint64_t final[S_NFINAL][S_TYPES];
    uint64_t consent_refusals;
    bool any;
};

struct s_snapshot {
    bool valid;
    uint64_t depth[S_CATS];
    uint64_t oldest_s[S_CATS]; /* age of the oldest item, seconds */
    uint64_t orgs[S_CATS];
    uint64_t connected[S_CATS];
    uint64_t inflight;
    uint64_t map_used, map_size;
    uint64_t commits_failed;
};

static struct s_counters s_c;
static struct s_pending s_p;
static _Atomic uint64_t s_auth_failed;
static _Atomic uint64_t s_hist[DAEMON_HIST_N + 1];
static _Atomic uint64_t s_hist_sum_us;
static _Atomic bool s_serving;
static _Atomic uint64_t s_tick_mono; /* the loop's last cron tick */
static uint64_t s_next_snapshot;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static struct s_snapshot s_snap; /* under s_lock */

static struct http_server *s_http;

static int
s_clamp(int v, int n)
{
    return v >= 0 && v < n ? v : 0;
}

void
metrics_accepted(struct broker *b)
{
    (void)b;
    s_p.accepted++;
    s_p.any = true;
}

void
metrics_refused(struct broker *b, int reason)
{
    (void)b;
    s_p.refused[s_clamp(reason, S_REASONS)]++;
    if (reason == KR__V1__REASON__NO_CONSENT ||
        reason == KR__V1__REASON__MISSING_JUSTIFICATION)
        s_p.consent_refusals++;
    s_p.any = true;
}

void
metrics_final(struct broker *b, int state, int type, int reason)
{
    int t = s_clamp(type, S_TYPES);

    switch (state) {
    case KR__V1__MESSAGE_STATE__STATE_DELIVERED:
        s_p.final[S_DELIVERED][t]++;
        break;
    case KR__V1__MESSAGE_STATE__STATE_EXPIRED:
        s_p.final[S_EXPIRED][t]++;
        break;
    case KR__V1__MESSAGE_STATE__STATE_WITHDRAWN:
        s_p.final[S_WITHDRAWN][t]++;
        break;
    case KR__V1__MESSAGE_STATE__STATE_REFUSED:
        /* Refused by the recipient (a bad signature): a refusal. */
        metrics_refused(b, reason);
        break;
    default:
        break;
    }
    s_p.any = true;
}

static bool
s_is_referral(int type)
{
    return type == KR__V1__MESSAGE_TYPE__REFERRAL ||
           type == KR__V1__MESSAGE_TYPE__HANDOVER;
}

void
metrics_referral_moved(struct broker *b, int type, int from, int to)
{
    (void)b;
    if (!s_is_referral(type) || from == to)
        return;
    if (from > 0 && from < S_STATES)
        s_p.ref_state[from]--;
    if (to > 0 && to < S_STATES)
        s_p.ref_state[to]++;
    s_p.any = true;
}

void
metrics_escalation(struct broker *b, int step)
{
    (void)b;
    s_p.escalations[s_clamp(step, S_TIMERS)]++;
    s_p.any = true;
}

static int
s_count_referral(Kr__V1__ReferralRecord *r, void *arg)
{
    int64_t *n = arg;

    if (s_is_referral((int)r->type) && (int)r->state > 0 &&
        (int)r->state < S_STATES)
        n[r->state]++;
    kr__v1__referral_record__free_unpacked(r, NULL); /* scanned with malloc */
    return 0;
}

int
metrics_referrals_load(struct broker *b)
{
    int64_t n[S_STATES] = {0};
    MDB_txn *txn;
    int rc;

    if ((rc = bstore_begin(b->store, true, &txn)) != 0)
        return rc;
    rc = bstore_referral_scan(b->store, txn, NULL, NULL, s_count_referral, n);
    bstore_abort(txn);
    for (int i = 0; i < S_STATES; i++)
        atomic_store(&s_ref_state[i], n[i]);
    return rc;
}

void
metrics_pass_end(struct broker *b, bool committed)
{
    (void)b;
    if (!s_p.any)
        return;
    if (committed) {
        for (int i = 0; i < S_STATES; i++)
            if (s_p.ref_state[i] != 0)
                atomic_fetch_add_explicit(&s_ref_state[i], s_p.ref_state[i],
                                          memory_order_relaxed);
        for (int i = 0; i < S_TIMERS; i++)
            if (s_p.escalations[i] != 0)
                atomic_fetch_add_explicit(&s_escalations[i], s_p.escalations[i],
                                          memory_order_relaxed);
        atomic_fetch_add_explicit(&s_c.accepted, s_p.accepted,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&s_c.consent_refusals, s_p.consent_refusals,
                                  memory_order_relaxed);
        for (int i = 0; i < S_REASONS; i++)
            if (s_p.refused[i] != 0)
                atomic_fetch_add_explicit(&s_c.refused[i], s_p.refused[i],
                                          memory_order_relaxed);
        for (int f = 0; f < S_NFINAL; f++)
            for (int t = 0; t < S_TYPES; t++)
                if (s_p.final[f][t] != 0)
                    atomic_fetch_add_explicit(&s_c.final[f][t], s_p.final[f][t],
                                              memory_order_relaxed);
    }
    memset(&s_p, 0, sizeof(s_p));
}

void
metrics_auth_failed(void)
{
    atomic_fetch_add_explicit(&s_auth_failed, 1, memory_order_relaxed);
}

void
metrics_commit_observe(uint64_t us)
{
    atomic_fetch_add_explicit(&s_hist[daemon_hist_bucket(us)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&s_hist_sum_us, us, memory_order_relaxed);
}

uint64_t
metrics_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void
metrics_serving(struct broker *b, bool serving)
{
    (void)b;
    s_serving = serving;
}

/* Read the queues and the store, as `krctl queues` does, into the
 * snapshot (loop thread). */
static void
s_snapshot_take(struct broker *b)
{
    struct s_snapshot sn;
    MDB_txn *txn;

    memset(&sn, 0, sizeof(sn));
    if (bstore_begin(b->store, true, &txn) != 0)
        return;
    ORGS_FOREACH(b, o)
    {
        int cat = s_clamp(o->category, S_CATS);
        uint64_t depth = 0, first = 0;
        sn.orgs[cat]++;
        sn.connected[cat] += o->connected;
        sn.inflight += o->inflight;
        if (bstore_queue_stat(b->store, txn, o->id, &depth, &first) != 0 ||
            depth == 0)
            continue;
        sn.depth[cat] += depth;
        const uint8_t *data;
        size_t len;
        if (bstore_queue_get(b->store, txn, o->id, first, &data, &len) != 0)
            continue;
        Kr__V1__QueueItem *it = kr__v1__queue_item__unpack(NULL, len, data);
        if (it != NULL && it->enqueued_at_ms <= b->now_ms) {
            uint64_t age = (b->now_ms - it->enqueued_at_ms) / 1000;
            if (age > sn.oldest_s[cat])
                sn.oldest_s[cat] = age;
        }
        if (it != NULL)
            kr__v1__queue_item__free_unpacked(it, NULL);
    }
    bstore_abort(txn);
    bstore_space(b->store, &sn.map_used, &sn.map_size);
    sn.commits_failed = b->commits_failed;
    sn.valid = true;
    pthread_mutex_lock(&s_lock);
    s_snap = sn;
    pthread_mutex_unlock(&s_lock);
}

void
metrics_cron(struct broker *b)
{
    uint64_t mono = util_mono_ms();

    s_tick_mono = mono;
    daemon_watchdog(mono);
    backup_cron(b);
    if (s_http != NULL)
        report_page_cron(b);
    if (s_http == NULL || mono < s_next_snapshot)
        return;
    s_next_snapshot = mono + S_SNAPSHOT_MS;
    s_snapshot_take(b);
}

/*
 * HTTP routes (the HTTP thread)
 */

static void
s_counter(struct kr_buf *out, const char *name, const char *help, uint64_t v)
{
    prom_head(out, name, "counter", help);
    prom_u64(out, name, NULL, v);
}

static int
s_metrics(void *ctx, struct kr_buf *out)
{
    struct s_snapshot sn;
    char labels[128];

    (void)ctx;
    pthread_mutex_lock(&s_lock);
    sn = s_snap;
    pthread_mutex_unlock(&s_lock);

    prom_head(out, "kansrijk_build_info", "gauge",
              "the program and its version (always 1)");
    prom_u64(out, "kansrijk_build_info",
             "program=\"krbroker\",version=\"" KR_BROKER_VERSION "\"", 1);
    s_counter(out, "kansrijk_messages_accepted_total",
              "messages accepted (stored) by the broker",
              atomic_load(&s_c.accepted));
    prom_head(out, "kansrijk_messages_refused_total", "counter",
              "messages refused, at submission or by the recipient, by "
              "reason");
    for (int i = 1; i < S_REASONS; i++) {
        uint64_t v = atomic_load(&s_c.refused[i]);
        const char *name = reason_name(i);
        bool known = name != NULL && strcmp(name, "unknown") != 0;
        if (v == 0 && !known)
            continue;
        /* A reason newer than names.c: by number, so that two of them
         * never share a label set. */
        if (known)
            snprintf(labels, sizeof(labels), "reason=\"%s\"", name);
        else
            snprintf(labels, sizeof(labels), "reason=\"reason-%d\"", i);
        prom_u64(out, "kansrijk_messages_refused_total", labels, v);
    }
    static const char *const fin[S_NFINAL] = {"delivered", "expired",
                                              "withdrawn"};
    static const char *const finhelp[S_NFINAL] = {
        "messages delivered (acknowledged by the recipient), by type",
        "messages that expired before delivery, by type",
        "messages withdrawn (their consent was revoked or ended), by type"};
    for (int f = 0; f < S_NFINAL; f++) {
        char name[64];
        snprintf(name, sizeof(name), "kansrijk_messages_%s_total", fin[f]);
        prom_head(out, name, "counter", finhelp[f]);
        for (int t = 1; t <= KR__V1__MESSAGE_TYPE__ERASURE_REQUEST; t++) {
            snprintf(labels, sizeof(labels), "type=\"%s\"",
                     message_type_name(t));
            prom_u64(out, name, labels, atomic_load(&s_c.final[f][t]));
        }
    }
    s_counter(out, "kansrijk_consent_refusals_total",
              "messages refused for want of consent (or of a meldrecht "
              "justification)",
              atomic_load(&s_c.consent_refusals));
    s_counter(out, "kansrijk_auth_failures_total",
              "connections refused at the CURVE handshake (unknown or "
              "suspended key)",
              atomic_load(&s_auth_failed));
    struct daemon_hist h;
    for (int i = 0; i <= DAEMON_HIST_N; i++)
        h.counts[i] = atomic_load(&s_hist[i]);
    h.sum_us = atomic_load(&s_hist_sum_us);
    prom_hist(out, "kansrijk_commit_duration_seconds",
              "time of each commit of a loop pass that wrote (fsync "
              "included)",
              &h);
    prom_head(out, "kansrijk_referrals", "gauge",
              "referrals (and handovers) by their FHIR Task state");
    for (int i = 1; i < S_STATES; i++) {
        int64_t v = atomic_load(&s_ref_state[i]);
        snprintf(labels, sizeof(labels), "state=\"%s\"", task_status_name(i));
        prom_u64(out, "kansrijk_referrals", labels, v > 0 ? (uint64_t)v : 0);
    }
    /* One sample per timer name: both decide steps count as "decide",
     * the three handover steps as "handover". */
    prom_head(out, "kansrijk_escalations_total", "counter",
              "escalations sent, by the timer that ran out");
    static const int firsts[] = {TIMER_ACK, TIMER_DECIDE, TIMER_CONTACT,
                                 TIMER_HANDOVER_1};
    for (size_t k = 0; k < sizeof(firsts) / sizeof(firsts[0]); k++) {
        uint64_t v = 0;
        for (int i = 1; i < S_TIMERS; i++)
            if (strcmp(timer_name(i), timer_name(firsts[k])) == 0)
                v += atomic_load(&s_escalations[i]);
        snprintf(labels, sizeof(labels), "timer=\"%s\"", timer_name(firsts[k]));
        prom_u64(out, "kansrijk_escalations_total", labels, v);
    }
    if (!sn.valid)
        return 200;
    s_counter(out, "kansrijk_commits_failed_total",
              "passes whose commit failed (their messages were refused)",
              sn.commits_failed);
    prom_head(out, "kansrijk_queue_depth", "gauge",
              "items waiting for delivery, by recipient category");
    for (int c = 1; c < S_CATS; c++) {
        const char *name = util_category_name(c);
        if (strcmp(name, "unknown") == 0)
            continue;
        snprintf(labels, sizeof(labels), "category=\"%s\"", name);
        prom_u64(out, "kansrijk_queue_depth", labels, sn.depth[c]);
    }
    prom_head(out, "kansrijk_queue_oldest_age_seconds", "gauge",
              "age of the oldest waiting item, by recipient category");
    for (int c = 1; c < S_CATS; c++) {
        const char *name = util_category_name(c);
        if (strcmp(name, "unknown") == 0)
            continue;
        snprintf(labels, sizeof(labels), "category=\"%s\"", name);
        prom_u64(out, "kansrijk_queue_oldest_age_seconds", labels,
                 sn.oldest_s[c]);
    }
    prom_head(out, "kansrijk_organisations", "gauge",
              "organisations in the directory, by category");
    for (int c = 1; c < S_CATS; c++) {
        const char *name = util_category_name(c);
        if (strcmp(name, "unknown") == 0)
            continue;
        snprintf(labels, sizeof(labels), "category=\"%s\"", name);
        prom_u64(out, "kansrijk_organisations", labels, sn.orgs[c]);
    }
    prom_head(out, "kansrijk_organisations_connected", "gauge",
              "organisations whose node is connected, by category");
    for (int c = 1; c < S_CATS; c++) {
        const char *name = util_category_name(c);
        if (strcmp(name, "unknown") == 0)
            continue;
        snprintf(labels, sizeof(labels), "category=\"%s\"", name);
        prom_u64(out, "kansrijk_organisations_connected", labels,
                 sn.connected[c]);
    }
    prom_head(out, "kansrijk_in_flight", "gauge",
              "deliveries sent and not yet acknowledged");
    prom_u64(out, "kansrijk_in_flight", NULL, sn.inflight);
    prom_head(out, "kansrijk_store_used_bytes", "gauge",
              "bytes of the LMDB map in use");
    prom_u64(out, "kansrijk_store_used_bytes", NULL, sn.map_used);
    prom_head(out, "kansrijk_store_size_bytes", "gauge",
              "size of the LMDB map (map_size_mb)");
    prom_u64(out, "kansrijk_store_size_bytes", NULL, sn.map_size);
    return 200;
}

static int
s_healthz(void *ctx, struct kr_buf *out)
{
    (void)ctx;
    kbuf_printf(out, "ok\n");
    return 200;
}

static int
s_readyz(void *ctx, struct kr_buf *out)
{
    uint64_t tick = s_tick_mono, mono = util_mono_ms();

    (void)ctx;
    if (!s_serving) {
        kbuf_printf(out, "not ready: not serving (starting or stopping)\n");
        return 503;
    }
    if (mono - tick > S_LOOP_STALE_MS) {
        kbuf_printf(out, "not ready: the loop has not turned for %llu ms\n",
                    (unsigned long long)(mono - tick));
        return 503;
    }
    kbuf_printf(out, "ready: store open, serving\n");
    return 200;
}

static const struct http_route s_routes[] = {
    {"/metrics", "text/plain; version=0.0.4; charset=utf-8", s_metrics},
    {"/healthz", "text/plain", s_healthz},
    {"/readyz", "text/plain", s_readyz},
    /* The coalition's page (broker/report_page.c). */
    {"/coalition", "text/html; charset=utf-8", report_page_http},
    {"/", "text/html; charset=utf-8", report_page_http},
};

int
metrics_start(struct broker *b)
{
    char path[4096];

    if (b->cfg.ops.http_listen[0] == '\0')
        return KR_OK;
    snprintf(path, sizeof(path), "%s/http.port", b->cfg.data_dir);
    s_tick_mono = util_mono_ms();
    /* The first snapshot before the first scrape. */
    s_snapshot_take(b);
    s_next_snapshot = util_mono_ms() + S_SNAPSHOT_MS;
    return http_start(b->cfg.ops.http_listen, s_routes,
                      sizeof(s_routes) / sizeof(s_routes[0]), b, path, &s_http);
}

void
metrics_stop(struct broker *b)
{
    (void)b;
    http_stop(&s_http);
}

/*
 * Reload (SIGHUP)
 */

static int
s_apply_log(void *ctx)
{
    struct broker *b = ctx;

    log_set_level((enum log_level)log_level_parse(b->cfg.log_level));
    daemon_ops_apply_log(&b->cfg.ops);
    return KR_OK;
}

static int
s_check(const void *cfg, char *err, size_t errlen)
{
    const struct broker_config *c = cfg;

    if (log_level_parse(c->log_level) < 0) {
        snprintf(err, errlen,
                 "log_level: '%s' is not debug, info, warn or error",
                 c->log_level);
        return KR_ECONFIG;
    }
    if (daemon_endpoint_check("listen", c->listen, false, err, errlen) != 0 ||
        daemon_endpoint_check("admin", c->admin, true, err, errlen) != 0)
        return KR_ECONFIG;
    /* The routes file is read on every reload, changed or not: a bad line
     * refuses the whole reload, naming file and line. */
    if (c->routes[0] != '\0') {
        struct routes *rs = NULL;
        if (routes_load(c->routes, &rs, err, errlen) != 0)
            return KR_ECONFIG;
        routes_free(&rs);
    }
    return daemon_ops_check(&c->ops, err, errlen);
}

/* The routes file again: checked whole before anything changes (a bad
 * line refuses the reload, s_check), then installed. Referrals already
 * open keep the timers they were given; new ones take the new routes. */
static int
s_reload_routes(void *ctx)
{
    struct broker *b = ctx;
    struct routes *rs = NULL;
    char err[512];

    if (b->cfg.routes[0] == '\0') {
        if (routes_active() != NULL)
            log_warnx("main: routes: no routes file configured any more: "
                      "every purpose passes from now on");
        routes_swap(&rs);
        return KR_OK;
    }
    if (routes_load(b->cfg.routes, &rs, err, sizeof(err)) != 0) {
        log_errorx("main: routes: %s: the routes loaded before stay", err);
        return KR_ECONFIG;
    }
    log_info("main: routes reloaded file=%s routes=%zu", b->cfg.routes, rs->n);
    routes_swap(&rs);
    return KR_OK;
}

/* What may change while the broker runs. The pass limits are read at
 * every pass; the log settings and the routes are applied by hooks. */
static const char *const s_live[] = {
    "log_level",           "log_format", "max_items_per_pass",
    "max_frames_per_pass", "routes",     NULL,
};

/* Applied in order after the new values are in place. */
static const struct reload_hook s_hooks[] = {
    {"log", s_apply_log},
    {"routes", s_reload_routes},
};

void
broker_reload(struct broker *b)
{
    log_info("main: SIGHUP: reading the configuration again");
    daemon_reload("broker", broker_config_options, &b->cfg, sizeof(b->cfg),
                  s_live, s_check, s_hooks,
                  sizeof(s_hooks) / sizeof(s_hooks[0]), b);
}

int
broker_set_log_level(struct broker *b, const char *name)
{
    int level = log_level_parse(name);

    if (level < 0)
        return KR_EINVAL;
    /* Logged before a higher level would hide the line. */
    log_emit(LOG_LEVEL_WARN, "admin: log_level: %s -> %s (krctl log-level)",
             b->cfg.log_level, name);
    /* The config holds it, so that a SIGHUP sees the file's value as a
     * change and applies it. */
    free(b->cfg.log_level);
    b->cfg.log_level = xstrdup(name);
    log_set_level((enum log_level)level);
    return KR_OK;
}

int
broker_config_check(const struct broker_config *c, char *err, size_t errlen)
{
    return s_check(c, err, errlen);
}
