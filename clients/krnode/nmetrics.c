/* nmetrics.c - the node's figures and service duties; see nmetrics.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "nmetrics.h"
#include "node.h"

#define S_SNAPSHOT_MS 1000
#define S_LOOP_STALE_MS 10000

static const char *const s_err_kind[NM_LINK_NERR] = {"handshake", "auth",
                                                     "fatal"};

struct s_snapshot {
    bool valid;
    struct nstore_counts c;
    uint64_t held;
    bool connected;
    uint64_t map_used, map_size;
};

static _Atomic uint64_t s_hist[DAEMON_HIST_N + 1];
static _Atomic uint64_t s_hist_sum_us;
static _Atomic uint64_t s_link_errors[NM_LINK_NERR];
static _Atomic bool s_link_up;
static _Atomic uint64_t s_tick_mono;
static _Atomic bool s_serving;
static uint64_t s_next_snapshot;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static struct s_snapshot s_snap; /* under s_lock */
static char s_last_err[256];     /* under s_lock */
static uint64_t s_last_err_ms;   /* under s_lock */
static int s_last_kind = -1;     /* under s_lock */

static struct http_server *s_http;

void
nmetrics_link_error(enum nmetrics_link_err kind, const char *text,
                    uint64_t now_ms)
{
    atomic_fetch_add(&s_link_errors[kind], 1);
    s_link_up = false;
    pthread_mutex_lock(&s_lock);
    snprintf(s_last_err, sizeof(s_last_err), "%s", text);
    s_last_err_ms = now_ms;
    s_last_kind = (int)kind;
    pthread_mutex_unlock(&s_lock);
}

void
nmetrics_link_up(void)
{
    s_link_up = true;
    pthread_mutex_lock(&s_lock);
    s_last_err[0] = '\0';
    s_last_err_ms = 0;
    s_last_kind = -1;
    pthread_mutex_unlock(&s_lock);
}

void
nmetrics_link_last(char *text, size_t len, uint64_t *at_ms, uint64_t *count)
{
    uint64_t total = 0;

    for (int i = 0; i < NM_LINK_NERR; i++)
        total += atomic_load(&s_link_errors[i]);
    pthread_mutex_lock(&s_lock);
    snprintf(text, len, "%s", s_last_err);
    *at_ms = s_last_err_ms;
    pthread_mutex_unlock(&s_lock);
    *count = total;
}

void
nmetrics_commit_observe(uint64_t us)
{
    atomic_fetch_add_explicit(&s_hist[daemon_hist_bucket(us)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&s_hist_sum_us, us, memory_order_relaxed);
}

uint64_t
nmetrics_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
s_snapshot_take(struct node *n)
{
    struct s_snapshot sn;
    MDB_txn *txn;

    memset(&sn, 0, sizeof(sn));
    if (nstore_begin(n->store, false, &txn) != KR_OK)
        return;
    int rc = nstore_counts(n->store, txn, &sn.c);
    nstore_abort(&txn);
    if (rc != KR_OK)
        return;
    for (size_t i = 0; i < n->prov.n; i++)
        if (n->prov.e[i].state == PROV_WAITING)
            sn.held++;
    /* As `krctl status`: what an adapter can see. */
    sn.c.inbox_unprocessed =
        sn.c.inbox_unprocessed > sn.held ? sn.c.inbox_unprocessed - sn.held : 0;
    sn.connected = n->link.connected;
    sn.valid = true;
    pthread_mutex_lock(&s_lock);
    s_snap = sn;
    pthread_mutex_unlock(&s_lock);
}

void
nmetrics_tick(struct node *n)
{
    uint64_t mono = util_mono_ms();

    s_tick_mono = mono;
    s_link_up = n->link.connected;
    daemon_watchdog(mono);
    if (s_http == NULL || mono < s_next_snapshot)
        return;
    s_next_snapshot = mono + S_SNAPSHOT_MS;
    s_snapshot_take(n);
}

/*
 * HTTP routes (the HTTP thread)
 */

static void
s_gauge(struct kr_buf *out, const char *name, const char *help, uint64_t v)
{
    prom_head(out, name, "gauge", help);
    prom_u64(out, name, NULL, v);
}

static int
s_metrics(void *ctx, struct kr_buf *out)
{
    struct s_snapshot sn;
    int kind;
    char labels[64];

    (void)ctx;
    pthread_mutex_lock(&s_lock);
    sn = s_snap;
    kind = s_last_kind;
    pthread_mutex_unlock(&s_lock);
    prom_head(out, "kansrijk_build_info", "gauge",
              "the program and its version (always 1)");
    prom_u64(out, "kansrijk_build_info",
             "program=\"krnode\",version=\"" KRNODE_VERSION "\"", 1);
    s_gauge(out, "kansrijk_link_up",
            "1 while the link to the broker is up (handshake done)",
            atomic_load(&s_link_up));
    prom_head(out, "kansrijk_link_errors_total", "counter",
              "link failures by kind: handshake (refused: is broker_key "
              "the broker's key?), auth (the broker refused our key), "
              "fatal (the broker will not serve us)");
    for (int i = 0; i < NM_LINK_NERR; i++) {
        snprintf(labels, sizeof(labels), "kind=\"%s\"", s_err_kind[i]);
        prom_u64(out, "kansrijk_link_errors_total", labels,
                 atomic_load(&s_link_errors[i]));
    }
    prom_head(out, "kansrijk_link_last_error", "gauge",
              "1 for the kind of the link's last failure, while the link "
              "is down after it");
    for (int i = 0; i < NM_LINK_NERR; i++) {
        snprintf(labels, sizeof(labels), "kind=\"%s\"", s_err_kind[i]);
        prom_u64(out, "kansrijk_link_last_error", labels, kind == i);
    }
    struct daemon_hist h;
    for (int i = 0; i <= DAEMON_HIST_N; i++)
        h.counts[i] = atomic_load(&s_hist[i]);
    h.sum_us = atomic_load(&s_hist_sum_us);
    prom_hist(out, "kansrijk_commit_duration_seconds",
              "time of each commit of a loop pass that wrote (fsync "
              "included)",
              &h);
    if (!sn.valid)
        return 200;
    s_gauge(out, "kansrijk_outbox_pending",
            "sent by adapters, not yet accepted by the broker",
            sn.c.outbox_pending);
    s_gauge(out, "kansrijk_outbox_open",
            "accepted by the broker, no final outcome yet", sn.c.outbox_open);
    s_gauge(out, "kansrijk_inbox_unprocessed",
            "received, shown to adapters and not yet processed",
            sn.c.inbox_unprocessed);
    s_gauge(out, "kansrijk_inbox_held",
            "deliveries sent early, awaiting the broker's pass result",
            sn.held);
    prom_head(out, "kansrijk_outbox_messages", "gauge",
              "messages in the outbox, whatever their state");
    prom_u64(out, "kansrijk_outbox_messages", NULL, sn.c.outbox_total);
    prom_head(out, "kansrijk_inbox_messages", "gauge",
              "messages in the inbox, whatever their state");
    prom_u64(out, "kansrijk_inbox_messages", NULL, sn.c.inbox_total);
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
    uint64_t mono = util_mono_ms(), tick = s_tick_mono;
    char err[256];
    uint64_t at, count;

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
    if (!s_link_up) {
        nmetrics_link_last(err, sizeof(err), &at, &count);
        kbuf_printf(out, "not ready: not linked to the broker%s%s\n",
                    err[0] != '\0' ? ": " : "", err);
        return 503;
    }
    kbuf_printf(out, "ready: store open, serving, linked to the broker\n");
    return 200;
}

static const struct http_route s_routes[] = {
    {"/metrics", "text/plain; version=0.0.4; charset=utf-8", s_metrics},
    {"/healthz", "text/plain", s_healthz},
    {"/readyz", "text/plain", s_readyz},
};

int
nmetrics_start(struct node *n)
{
    char path[4096];

    s_serving = true;
    s_tick_mono = util_mono_ms();
    if (n->cfg->ops.http_listen[0] == '\0')
        return KR_OK;
    snprintf(path, sizeof(path), "%s/http.port", n->cfg->data_dir);
    s_snapshot_take(n);
    s_next_snapshot = util_mono_ms() + S_SNAPSHOT_MS;
    return http_start(n->cfg->ops.http_listen, s_routes,
                      sizeof(s_routes) / sizeof(s_routes[0]), n, path, &s_http);
}

void
nmetrics_stop(struct node *n)
{
    (void)n;
    s_serving = false;
    http_stop(&s_http);
}

/*
 * Reload (SIGHUP)
 */

static int
s_apply_log(void *ctx)
{
    struct node *n = ctx;

    log_set_level((enum log_level)log_level_parse(n->cfg->log_level));
    daemon_ops_apply_log(&n->cfg->ops);
    return KR_OK;
}

static int
s_check(const void *cfg, char *err, size_t errlen)
{
    return node_config_check(cfg, err, errlen);
}

/* What may change while the node runs. */
static const char *const s_live[] = {"log_level", "log_format", NULL};

/* Applied in order after the new values are in place. */
static const struct reload_hook s_hooks[] = {
    {"log", s_apply_log},
};

void
node_reload(struct node *n)
{
    log_info("main: SIGHUP: reading the configuration again");
    daemon_reload("node", node_config_options, n->cfg, sizeof(*n->cfg), s_live,
                  s_check, s_hooks, sizeof(s_hooks) / sizeof(s_hooks[0]), n);
}
