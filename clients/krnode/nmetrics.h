/*
 * nmetrics.h - the node's figures for /metrics, /healthz and /readyz (the
 * endpoint is daemon/http.c), the link's last error for `krctl status`,
 * and the node's service duties: reload on SIGHUP, the watchdog.
 *
 * Threads as at the broker (broker/metrics.h): the loop counts into
 * atomics and publishes, once a second, a snapshot of the store's counts
 * (read with nstore_counts in a read transaction, as `krctl status` reads
 * them) under a mutex; the HTTP thread reads only those.
 */
#ifndef KRNODE_NMETRICS_H
#define KRNODE_NMETRICS_H

#include <stddef.h>
#include <stdint.h>

struct node;

/* Link failure kinds, a fixed set (they are metric labels). */
enum nmetrics_link_err {
    NM_LINK_HANDSHAKE, /* refused handshake: broker_key, or our key */
    NM_LINK_AUTH,      /* the broker's ZAP refused our key */
    NM_LINK_FATAL,     /* the broker will not serve us */
    NM_LINK_NERR
};

/* The link failed: counted, kept for `krctl status` until the link is up
 * again, and said again (rate-limited) at each reconnect. 'text' is the
 * cause as an operator reads it. */
void nmetrics_link_error(enum nmetrics_link_err kind, const char *text,
                         uint64_t now_ms);
/* The link is up: the last error is cleared (its count stays). */
void nmetrics_link_up(void);
/* The last error (empty if none since the link was last up). */
void nmetrics_link_last(char *text, size_t len, uint64_t *at_ms,
                        uint64_t *count);
void nmetrics_commit_observe(uint64_t us);
uint64_t nmetrics_now_us(void);

int nmetrics_start(struct node *n);
void nmetrics_stop(struct node *n);
/* Each pass: the watchdog, and the snapshot once a second. */
void nmetrics_tick(struct node *n);
/* SIGHUP. */
void node_reload(struct node *n);

#endif
