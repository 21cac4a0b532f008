/*
 * metrics.h - the broker's figures for /metrics, /healthz and /readyz
 * (the HTTP endpoint itself is daemon/http.c), and its service duties:
 * reload on SIGHUP, the systemd watchdog.
 *
 * Threads: the loop counts; the HTTP thread reads. Counters are atomics.
 * The loop keeps a pass's counts aside and adds them to the global
 * counters only once the pass has committed (a failed pass counted
 * nothing, as nothing of it happened). Queue depths, ages, in-flight and
 * the store's size are read by the loop, with the same store functions
 * as `krctl queues`, once a second into a snapshot that it publishes
 * under a mutex; the HTTP thread copies the snapshot under that mutex.
 * So the HTTP thread never touches LMDB or the loop's in-memory state,
 * and a scrape never waits for a commit (a read transaction in the HTTP
 * thread would be allowed, MDB_NOTLS is set, but the in-memory state of
 * connections and in-flight windows would not be safe to read).
 */
#ifndef KR_BROKER_METRICS_H
#define KR_BROKER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;

/* Counted during a pass (loop thread), kept if the pass commits. */
void metrics_accepted(struct broker *b);
void metrics_refused(struct broker *b, int reason);
/* A message became final: state is kr.v1.MessageState, type its
 * kr.v1.MessageType. */
void metrics_final(struct broker *b, int state, int type, int reason);
/* The pass: committed (its counts stay) or not (they go). */
void metrics_pass_end(struct broker *b, bool committed);
/* A referral opened (from 0) or moved; 'type' its message type (only
 * REFERRAL and HANDOVER count). Counted at the pass's commit. */
void metrics_referral_moved(struct broker *b, int type, int from, int to);
/* An escalation of timer step 'step' (timers.h). */
void metrics_escalation(struct broker *b, int step);
/* Count the stored referrals by state once, at start. */
int metrics_referrals_load(struct broker *b);
/* Counted at once (not part of a pass). */
void metrics_auth_failed(void);
void metrics_commit_observe(uint64_t us);
/* Monotonic microseconds, for timing a commit. */
uint64_t metrics_now_us(void);

/* Start the HTTP endpoint if http_listen is set; KR_ESYS if it cannot. */
int metrics_start(struct broker *b);
void metrics_stop(struct broker *b);
/* From the loop's cron: the snapshot (once a second), the watchdog. */
void metrics_cron(struct broker *b);
/* The loop serves (after its first commit), or stops. */
void metrics_serving(struct broker *b, bool serving);

/* The checks beyond the option table's (main.c and the reload). */
struct broker_config;
int broker_config_check(const struct broker_config *c, char *err,
                        size_t errlen);

/* `krctl log-level`: the level until the next SIGHUP (which reads the
 * file's again) or start. KR_EINVAL for a name that is no level. */
int broker_set_log_level(struct broker *b, const char *name);

/* SIGHUP: read the configuration again and apply what may change. */
void broker_reload(struct broker *b);

#endif
