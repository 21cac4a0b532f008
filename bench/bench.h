/*
 * bench.h - krbench, the benchmark program: its modules and what they
 * share.
 *
 * krbench starts a real krbroker (and krnodes where a scenario needs them)
 * from the build tree in a temporary directory under /tmp, drives them on
 * loopback and ipc:// sockets, and prints figures. It is a program that
 * measures, not a test that fails on a time: targets are reported, never
 * asserted. A scenario fails (exit 1) only when the system does something
 * wrong or does not finish in time.
 *
 *   main.c        flags, the order of the scenarios, --compare's runs
 *   stats.c       clocks, percentiles, the figures and their runs
 *   table.c       the table and the machine-readable lines at the end
 *   cluster.c     its own small process module: keys and directory entries
 *                 (krctl), configuration files, start, readiness, stop
 *   wire.c        the raw node-to-broker client (DEALER + CURVE) and the
 *                 envelopes it sends, sealed and signed as a node would
 *   traffic.c     a producer and a consumer on the wire, with a timestamp
 *                 for every step of every message
 *   sc_broker.c   broker throughput, raw clients, windows 256 and 1
 *   sc_e2e.c      end to end through two krnodes (libkr adapters)
 *   sc_backlog.c  a backlog for an offline node: restart, memory, drain
 *   sc_machine.c  the machine's own floor before every run: flushes,
 *                 Ed25519, BLAKE2b
 *   sc_timers.c   the broker's timers with many referrals open
 *   sc_signals.c  signals on a large store, and a purge's longest pass
 *   sc_fhir.c     two krfhir gateways against libkr (sc_fhir_setup.c
 *                 starts them; http.c is krbench's HTTP client and
 *                 rest-hook listener)
 *   bproc.c       child processes, and what the kernel tells of them
 */
#ifndef KR_BENCH_H
#define KR_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "crypto.h"
#include "kr.h"
#include "util.h"
#include "wire.pb-c.h"

#define BENCH_PATH 512
#define BENCH_MAX_RUNS 50
#define BENCH_ERR 512

/* Scenarios, for --only. */
enum {
    SC_BROKER_W256 = 1u << 0,
    SC_BROKER_W1 = 1u << 1,
    SC_E2E = 1u << 2,
    SC_BACKLOG = 1u << 3,
    SC_TIMERS = 1u << 4,
    SC_FHIR = 1u << 5,
    SC_ALL = 0x3f,
    /* Not in "all": it fills a store with --signals and --purge records
     * (a million each by default), minutes of setup. */
    SC_SIGNALS = 1u << 6,
};

/*
 * main.c: the options every scenario reads.
 */
struct bench_opts {
    int runs;              /* runs of every figure */
    size_t size;           /* bytes of a message's serialized content */
    uint64_t count;        /* messages per run (broker w256, e2e burst) */
    uint64_t count_w1;     /* messages per run at window 1 */
    uint64_t count_paced;  /* messages per run at 1,000 msgs/s */
    uint64_t backlog;      /* the largest backlog */
    uint64_t referrals;    /* open referrals in the timers scenario */
    uint64_t signals;      /* signals stored in the signals scenario */
    uint64_t purge;        /* due records purged in the signals scenario */
    bool full;             /* the sizes */
    unsigned only;         /* SC_* bits */
    bool keep;             /* keep every temporary directory */
    int senders;           /* concurrent adapter clients, e2e burst */
    const char *perf;      /* perf.data for the broker at window 256, or NULL */
    const char *log_level; /* the daemons' log level */
    char broker_bin[BENCH_PATH]; /* krbroker */
    char node_bin[BENCH_PATH];   /* krnode */
    char krctl_bin[BENCH_PATH];  /* krctl */
    char krfhir_bin[BENCH_PATH]; /* krfhir (the fhir scenario) */
    const char *compare;         /* --compare: another build tree, or NULL */
};

/*
 * stats.c: clocks, percentiles and the figures.
 */

/* Message ids: the index of a message in a run is in its id, so that a
 * receipt or a delivery is matched without a table. By default
 * 'prefix' (12 random bytes of the run) || BE32(index): ids rise with the
 * index, as a node's would if it used time-ordered ids. With
 * bench_scatter_ids (--random-ids) BE32(index * K mod 2^32) || prefix: the
 * ids of a run fall in random order, as the random ids nodes make by
 * default do, and the stores' B-trees see scattered inserts. */
extern bool bench_scatter_ids;
/* Where the runs' temporary directories go (--dir; default /tmp): the
 * stores live there, and the machine's flushes are measured there. */
extern const char *bench_dir;
void bench_msg_id(const uint8_t prefix[12], uint64_t index, uint8_t id[16]);
/* The index, if the id is one of this run's (same prefix). */
bool bench_msg_index(const uint8_t prefix[12], const uint8_t *id, size_t len,
                     uint64_t *index);

/* Monotonic clock in nanoseconds. */
uint64_t bench_now_ns(void);
/* CPUs online (at least 1). */
double bench_ncpu(void);
/* Sleep for ns, or until the monotonic time 'until_ns'. */
void bench_sleep_ns(uint64_t ns);
void bench_sleep_until_ns(uint64_t until_ns);

/* The p-th percentile (0..100, nearest rank) of n values; sorts v. 0 if
 * n == 0. */
double stats_percentile(uint64_t *v, size_t n, double p);

/* How a figure is judged against the target. */
enum target_kind {
    TARGET_NONE,
    TARGET_GE,     /* median >= value */
    TARGET_LE,     /* median <= value */
    TARGET_LT,     /* median < value */
    TARGET_GE_REF, /* median >= value * median of figure 'ref' */
};

struct figure {
    char name[64]; /* broker_w256_msgs_per_s */
    char unit[16]; /* msg/s, ms, MiB */
    double vals[BENCH_MAX_RUNS];
    int nvals;
    uint64_t n; /* messages per run */
    enum target_kind kind;
    double target;
    char ref[64]; /* TARGET_GE_REF: the figure compared with */
};

/* Appended to every figure's name (and reference) by figures_add: "" for
 * the build under test, "@b" for the one it is compared with. */
extern const char *bench_figure_side;
#define BENCH_SIDE_B "@b"

/* Add one run's value to a figure, creating it on first use. */
void figures_add(const char *name, const char *unit, uint64_t n,
                 enum target_kind kind, double target, const char *ref,
                 double value);
size_t figures_count(void);
const struct figure *figures_at(size_t i);
const struct figure *figures_find(const char *name);
/* Median, min and max of a figure's runs. */
void figure_summary(const struct figure *f, double *median, double *min,
                    double *max);
/* "yes", "no" or "n/a"; the target as text ("<= 0.6"). */
const char *figure_met(const struct figure *f, char *target_text, size_t len);
void figures_free(void);

/*
 * table.c: the figures as printed at the end.
 */

/* The table and one "krbench figure=..." line per figure ('size': the
 * content size the run used). */
void bench_table(size_t size);
/* --compare: each figure's B/A ratio, paired run by run. */
void bench_compare_table(void);

/*
 * cluster.c: processes and the temporary directory.
 */

struct bproc {
    char name[64];        /* "krbroker", "krnode vl" */
    char log[BENCH_PATH]; /* stdout and stderr, appended */
    pid_t pid;            /* > 0 while started and not reaped */
    bool running;
    int status; /* wait status once reaped */
};

/* Start argv (argv[0] a path, or a name looked up in PATH) with stdin from
 * /dev/null and stdout and stderr appended to 'log'. The child dies with
 * krbench (PR_SET_PDEATHSIG). 0 or KR_ESYS. */
int bproc_spawn(struct bproc *p, const char *name, const char *log,
                char *const argv[]);
/* Reap it if it has ended; whether it still runs. */
bool bproc_alive(struct bproc *p);
/* Send 'sig' and wait up to timeout_ms for the exit; after that SIGKILL.
 * 0 with *status (a wait status), or KR_ETIMEDOUT (it was killed). */
int bproc_stop(struct bproc *p, int sig, int timeout_ms, int *status);
/* "exit 0", "signal 9". */
const char *bproc_status_str(int status, char *buf, size_t len);

/* An organisation: its keys, its directory entry, maybe a running node. */
struct bench_org {
    char label[16];        /* "a", "b", "probe": names files */
    char id[32];           /* "ura:00000001" */
    char category[32];     /* "verloskunde" */
    char keys[BENCH_PATH]; /* prefix of .secret and .public */
    char secret[BENCH_PATH];
    char pub[BENCH_PATH];
    char dir[BENCH_PATH]; /* the node's data_dir */
    char conf[BENCH_PATH];
    char local[BENCH_PATH]; /* ipc://<dir>/node.sock */
    char log[BENCH_PATH];
    uint64_t map_mb; /* the node's LMDB map */
    struct bproc proc;
};

#define CLUSTER_MAX_ORGS 4

struct cluster {
    const struct bench_opts *opts;
    char tmp[256];   /* /tmp/krbench-<name>.XXXXXX */
    int port;        /* the broker's, kept across restarts */
    char listen[64]; /* tcp://127.0.0.1:<port> */
    char broker_dir[BENCH_PATH];
    char broker_keys[BENCH_PATH]; /* prefix */
    char broker_secret[BENCH_PATH];
    char broker_pub[BENCH_PATH];
    char broker_conf[BENCH_PATH];
    char broker_log[BENCH_PATH];
    char admin[BENCH_PATH];      /* ipc://<broker_dir>/admin.sock */
    char admin_path[BENCH_PATH]; /* the socket file itself */
    char coalition[BENCH_PATH];  /* coalition key file */
    char krctl_log[BENCH_PATH];
    uint64_t broker_map_mb;
    char broker_routes[BENCH_PATH]; /* routes file for the broker, or "" */
    char broker_extra[256];         /* more lines of its config, or "" */
    struct bproc broker;
    struct bench_org orgs[CLUSTER_MAX_ORGS];
    int norgs;
    char err[BENCH_ERR]; /* why the last call failed */
};

/* A fresh directory, the broker's keys and the coalition key, a free
 * loopback port. 0, or an error with c->err set. */
int cluster_init(struct cluster *c, const struct bench_opts *o,
                 const char *name);
/* Write the broker's configuration and start it; no waiting. */
int cluster_broker_spawn(struct cluster *c);
/* Wait until the admin socket answers `org list` (before deadline_ns). */
int cluster_broker_wait_admin(struct cluster *c, uint64_t deadline_ns);
/* Spawn and wait: the usual start. */
int cluster_broker_start(struct cluster *c);
/* SIGTERM; a clean exit 0 within 30 s is required. */
int cluster_broker_stop(struct cluster *c);
/* Keys (krctl keygen) and the directory entry (krctl org add); the broker
 * must run. Returns the org's index, or a negative KR_E*. */
int cluster_org_add(struct cluster *c, const char *label, const char *id,
                    const char *category);
/* Write the node's configuration, start krnode, wait until its local
 * socket answers and it reports a connection to the broker. */
int cluster_node_start(struct cluster *c, int i);
int cluster_node_stop(struct cluster *c, int i);
/* A node's status over its local socket: connected to the broker, and
 * (pending non-NULL) how many sends the broker has not yet accepted. */
int cluster_node_status(const char *endpoint, int timeout_ms, bool *connected,
                        uint64_t *pending);
/* The daemons' own commits (krctl stats, krctl status): latency over
 * their last 1,024 commits that wrote, and since start how many and the
 * time spent in them. */
struct commit_stats {
    uint32_t p50_us, p99_us;
    uint64_t count, total_us;
};
int cluster_broker_commits(struct cluster *c, struct commit_stats *out);
/* The broker's referral timers (krctl stats): scans of the timers tree
 * and their cost, entries pending, referrals stored. */
struct timer_stats {
    uint64_t scans, scan_total_us, pending, referrals, escalations;
    uint32_t scan_max_us;
    uint64_t messages_purged, finals_pending; /* retention (sc_signals.c) */
    uint64_t purge_passes, purge_total_us;
    uint32_t purge_max_us;
    uint64_t signals; /* signals stored */
};
int cluster_broker_timers(struct cluster *c, struct timer_stats *out);
int cluster_node_commits(const char *endpoint, struct commit_stats *out);
/* Figures from two samples wall_ns apart: "<prefix>_commit_pct" (share of
 * the time spent committing), "_commits_per_s", and the latency p50/p99
 * of the later sample. */
void bench_commit_figures(const char *prefix, uint64_t n,
                          const struct commit_stats *a,
                          const struct commit_stats *b, uint64_t wall_ns);
/* Stop whatever still runs; remove the directory unless it is to be kept
 * (--keep, or 'failed': then its path is printed). */
void cluster_destroy(struct cluster *c, bool failed);
/* RssAnon and RssFile of a process, in KiB (from /proc/PID/status). */
int cluster_rss_kb(pid_t pid, uint64_t *anon_kb, uint64_t *file_kb);
/* CPU time of a process from /proc (schedstat, in ns): its main thread's
 * time on a CPU and waiting for one (runnable, not running: contention),
 * and all its threads' time on a CPU; and the bytes the block device that
 * holds 'dir' has written (the whole machine's, from /sys: the broker is
 * the only writer in the broker scenarios). */
struct sched_sample {
    uint64_t at_ns; /* bench_now_ns() when read */
    uint64_t main_run_ns;
    uint64_t main_wait_ns;
    uint64_t all_run_ns;
    uint64_t disk_bytes; /* written to the data's block device (all) */
};
int cluster_sched(pid_t pid, const char *dir, struct sched_sample *out);
/* Print the last lines of a log to stderr. */
void cluster_log_tail(const char *path, int lines);

/*
 * wire.c: the raw client and the messages it sends.
 */

struct wire {
    void *ctx;
    void *sock;        /* DEALER, CURVE client */
    kr_keys_t *keys;   /* secure memory */
    char org[64];      /* the organisation it speaks for */
    struct kr_buf out; /* reused for every frame sent */
};

/* A DEALER with the keys in secret_path, to the broker whose .public file
 * is broker_pub. It connects in the background; what is sent before the
 * handshake is queued. */
int wire_open(struct wire *w, const char *endpoint, const char *secret_path,
              const char *broker_pub, const char *org);
void wire_close(struct wire *w);
/* Pack and send one frame (bounded: at most 5 s for room). */
int wire_send(struct wire *w, const Kr__V1__Frame *f);
int wire_hello(struct wire *w, uint32_t window, bool want_directory);
/* Receive one frame, waiting up to timeout_ms (0: only what is there).
 * *out is NULL on timeout; else the caller frees it. */
int wire_recv(struct wire *w, int timeout_ms, Kr__V1__Frame **out);
/* Wait up to timeout_ms until a or b (either may be NULL) has a frame. */
int wire_poll2(struct wire *a, struct wire *b, int timeout_ms, bool *a_ready,
               bool *b_ready);

/* What a message is about: the subject, its consent and the parties. */
struct msg_ctx {
    const kr_keys_t *keys; /* the sender's */
    const char *sender;
    const char *recipient;
    uint8_t shared[KR_KEY_LEN]; /* crypto_box key sender->recipient */
    char sign_kid[KR_KEY_ID_LEN];
    char box_kid[KR_KEY_ID_LEN];
    char rcpt_kid[KR_KEY_ID_LEN];
    uint8_t pseudonym[KR_PSEUDONYM_LEN];
    uint32_t key_version;
    uint8_t consent_id[KR_ID_LEN];
    /* The source's messages are SIGNALs (sc_signals.c): addressed to the
     * sender, purpose BENCH_SIGNAL_PURPOSE, each on a subject of its own
     * (the BLAKE2b of its msg_id). */
    bool signal;
};

#define BENCH_SIGNAL_PURPOSE "signaal"

/* Keys, key ids and the shared key for sender -> recipient, and the
 * subject pseudonym of 'bsn' under the coalition key file. */
int msg_ctx_init(struct msg_ctx *m, const kr_keys_t *keys, const char *sender,
                 const char *recipient, const char *rcpt_public,
                 const char *coalition, const char *bsn);

/* The BSN and purpose every benchmark message is about. */
#define BENCH_BSN "111222333"
#define BENCH_PURPOSE "prenataal-huisbezoek"

/* A serialized Content{referral} with fictional test data, its free text
 * padded so that the whole is 'size' bytes (or the smallest it can be).
 * malloc'd. */
int content_referral(size_t size, uint8_t **out, size_t *len);
/* A serialized Content{consent_evidence}, malloc'd. */
int content_evidence(uint8_t **out, size_t *len);

/* Seal 'content', fill and pack a REFERRAL envelope (legal basis CONSENT,
 * the subject and purpose of the consent), sign it. env must hold
 * envelope_max(content_len) bytes; *env_len gets the length. */
int envelope_referral(const struct msg_ctx *m, const uint8_t msg_id[16],
                      const uint8_t *content, size_t content_len, uint8_t *env,
                      size_t *env_len, uint8_t sig[KR_SIG_LEN]);
/* The CONSENT_GRANT of m->consent_id: from sender to recipient, a year
 * long. *env malloc'd. */
int envelope_grant(const struct msg_ctx *m, const uint8_t msg_id[16],
                   uint8_t **env, size_t *env_len, uint8_t sig[KR_SIG_LEN]);
/* An upper bound of a referral envelope's size. */
size_t envelope_max(size_t content_len);

/*
 * traffic.c: a producer (submits, acks its durable receipts) and a consumer
 * (acks every delivery at once) on the wire, in one thread, with a
 * timestamp per message and step.
 */

/* Envelopes numbered 0..n-1, built in chunks: the first before the clock,
 * the next by a helper thread while the current one is sent. */
struct source;
int source_new(const struct msg_ctx *m, const uint8_t prefix[12], size_t size,
               uint64_t n, uint64_t chunk, struct source **out);
void source_destroy(struct source **sp);

struct traffic_held {
    uint64_t pass, seq;
    uint8_t id[16];
};

struct traffic {
    struct wire *prod;  /* or NULL: no producer */
    struct wire *cons;  /* or NULL: no consumer */
    struct source *src; /* the producer's envelopes */
    uint8_t prefix[12]; /* msg_id = prefix || index (big-endian u32) */
    uint64_t n;
    uint32_t window;  /* submits without an ACCEPTED receipt */
    uint32_t batch;   /* submits per frame at most */
    uint64_t *t_sub;  /* ns: submitted */
    uint64_t *t_acc;  /* ns: ACCEPTED receipt read */
    uint64_t *t_del;  /* ns: delivery read by the consumer */
    uint64_t *t_rcpt; /* ns: DELIVERED receipt read by the producer */
    uint64_t next, n_acc, n_del, n_rcpt, inflight;
    uint64_t other_del; /* deliveries that are not ours (the grant) */
    uint8_t grant_id[16];
    bool grant_acc, grant_rcpt;
    bool no_deliveries; /* signals: final at once, delivered to no one */
    uint64_t last_progress_ns;
    /* Deliveries sent early (before the broker's commit): like a node,
     * the consumer counts and acknowledges them only once the broker's
     * PassResult says that their pass committed. */
    struct traffic_held *held;
    size_t nheld, capheld;
    pid_t watch_pid; /* > 0: sample its RssAnon while running */
    uint64_t anon_max_kb;
    char err[BENCH_ERR];
};

enum traffic_goal {
    GOAL_GRANT_ACCEPTED,
    GOAL_GRANT_DELIVERED,
    GOAL_ALL_ACCEPTED,
    GOAL_ALL_DELIVERED, /* every delivery read by the consumer */
    GOAL_ALL_RECEIPTS,  /* every DELIVERED receipt, and every delivery */
};

int traffic_init(struct traffic *t, uint64_t n);
void traffic_free(struct traffic *t);
/* Submit the grant (its envelope already built). */
int traffic_submit_one(struct traffic *t, const uint8_t *env, size_t len,
                       const uint8_t sig[KR_SIG_LEN]);
/* Run until the goal is reached, or fail: a refusal, a frame error, no
 * progress for stall_ms, or deadline_ns passed (t->err says which). */
int traffic_run(struct traffic *t, enum traffic_goal goal, int stall_ms,
                uint64_t deadline_ns);

/* sc_broker.c: Hello{window, want_directory} and wait for the directory,
 * which shows that the broker has taken the Hello. */
int bench_wire_ready(struct wire *w, uint32_t window, char *why, size_t len);

/*
 * The scenarios. Each adds its runs' values to the figures and returns 0,
 * or a negative KR_E* with 'why' set.
 */
int sc_broker(const struct bench_opts *o, uint32_t window, uint64_t n,
              const char *perf, char *why, size_t len);
int sc_e2e(const struct bench_opts *o, uint64_t n_burst, uint64_t n_paced,
           char *why, size_t len);
int sc_backlog(const struct bench_opts *o, uint64_t m, char *why, size_t len);
/* sc_timers.c: window 256 on an empty store, then with 'open' referrals
 * (each with its timers pending), and the cron's timer scan per pass. */
/* sc_signals.c: window 256 of SIGNALs on an empty store and with
 * 'stored' signals; then a retention purge of 'purge' due records and
 * the window-1 latency (the longest loop pass) during it. */
int sc_signals(const struct bench_opts *o, uint64_t n, uint64_t stored,
               uint64_t purge, char *why, size_t len);
int sc_timers(const struct bench_opts *o, uint64_t n, uint64_t open, char *why,
              size_t len);
/* sc_fhir.c: FHIR Bundles POSTed at A's krfhir until the Task is
 * readable at B's, and the same messages through libkr, both at 100
 * msgs/s: p50, p99 and what the gateway adds. */
int sc_fhir(const struct bench_opts *o, uint64_t n, const char *krfhir_bin,
            char *why, size_t len);
/* sc_machine.c: the machine's flush latency (alone and three at once),
 * Ed25519 verify and BLAKE2b speed, as machine_* figures. */
int sc_machine(char *why, size_t len);

/* "10k", "100k", "1M", or the number. */
const char *bench_count_label(uint64_t n, char *buf, size_t len);

#endif
