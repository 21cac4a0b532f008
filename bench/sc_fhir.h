/*
 * sc_fhir.h - what the FHIR scenario's parts share: sc_fhir.c (the paths,
 * their readers and figures) and sc_fhir_setup.c (the gateways, the
 * consent and the messages, made before the clock).
 */
#ifndef KR_BENCH_SC_FHIR_H
#define KR_BENCH_SC_FHIR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bench.h"
#include "kr.h"

#ifndef KR_BENCH_SOURCE_DIR
#define KR_BENCH_SOURCE_DIR "."
#endif

#define S_EXAMPLE KR_BENCH_SOURCE_DIR "/examples/fhir/referral-bundle.json"
#define S_CONSENT KR_BENCH_SOURCE_DIR "/examples/consent-grant.json"
/* The libkr path's receiver: an organisation of B's kind, with a node as
 * B's and no gateway (sc_fhir.c says why), and the consent for it. */
#define S_ORG_C "ura:87654322"
#define S_CONSENT_C "c0115e4700000000000000000000a002"
#define S_RATE 100 /* msgs/s */
#define S_MAX_N 1000
#define S_WORKERS 8
#define S_POLL_US 500
#define S_MSG_MS 30000 /* one message's bound */
#define S_CLIENT_MS 30000
#define S_BLOCK 100 /* messages of one path in a row */
#define S_MARKERS 4 /* the libkr path's markers, as many as krfhir's */
#define S_PATHS 3   /* libkr, the gateway's rest-hook, its long poll */
#define S_BODY_MAX (8u << 20) /* a searchset's bound */

struct s_gw {
    char port_file[BENCH_PATH + 16];
    char dir[BENCH_PATH];
    char log[BENCH_PATH];
    int port;
    struct bproc proc;
};

/* The paths: [0] libkr, [1] the gateway told by its rest-hook, [2] the
 * gateway told by its long poll. */
struct s_run {
    atomic_int path;                  /* this block's path */
    int port_a, port_b;               /* the gateways */
    const char *node_a, *node_b;      /* the gateways' organisations' nodes */
    const char *node_c;               /* the libkr path's receiver's node */
    uint64_t n;                       /* messages per path */
    uint64_t lo, hi, t0, interval_ns; /* this block: [lo, hi) from t0 */
    char **bundles[S_PATHS];          /* [1], [2]: the Bundles */
    char **descs;                     /* [0]: the descriptions */
    char (*rids[S_PATHS])[KR_MSG_ID_HEX_LEN]; /* the referral_ids */
    /* Per message and path: its scheduled moment, how long until A
     * answered, until the receiver's system had it. */
    uint64_t *sched[S_PATHS], *sent[S_PATHS], *lat[S_PATHS];
    atomic_ullong nseen[S_PATHS]; /* messages seen at B */
    uint64_t busy_ns[S_PATHS];    /* the blocks' spans, for msgs/s */
    uint8_t prefix[S_PATHS][12];  /* the referral_ids (bench_msg_id) */
    int hook_fd;                  /* the rest-hook's listening socket */
    /* The senders (S_WORKERS, for the whole scenario): a block starts
     * when blk_gen moves, and is sent when blk_done reaches nsenders. */
    pthread_mutex_t blk_lock;
    pthread_cond_t blk_cv;
    uint64_t blk_gen;
    int blk_done, nsenders;
    /* Read at C by the libkr path, to be marked processed. */
    pthread_mutex_t q_lock;
    pthread_cond_t m_cv;
    char (*marks)[KR_MSG_ID_HEX_LEN];
    size_t nmarks;
    atomic_int quit; /* the readers end */
    atomic_int stop; /* a thread failed: the others give up */
    char err[BENCH_ERR];
    pthread_mutex_t err_lock;
};

/* A listening socket on loopback for the rest-hook: r->hook_fd, and
 * its URL. */
int fhir_hook_listen(struct s_run *r, char *url, size_t urllen, char *why,
                     size_t len);
/* krfhir of organisation i (hook: its rest-hook URL, or NULL), on a free
 * port it writes to a file. */
int fhir_gw_start(struct cluster *c, int i, const char *bin, const char *hook,
                  struct s_gw *g, char *why, size_t len);
/* The consent (examples/consent-grant.json) through A; to to_org under
 * consent_id when they are not NULL. */
int fhir_consent(const char *node_a, const char *to_org, const char *consent_id,
                 char *why, size_t len);
/* The Bundles and descriptions of every path, each with its own
 * referral_id. */
int fhir_messages(struct s_run *r, const char *org_a, char *why, size_t len);

#endif
