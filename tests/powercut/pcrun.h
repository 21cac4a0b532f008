/*
 * pcrun.h - what the power-cut harness's sources share (README.md here):
 * the run's state and what it acknowledged (pcrun.c), the steps of a cut
 * that do not depend on the daemon (recording, building images, starting
 * a daemon on one, walking its store, judging the outcome), and the two
 * scenarios (pcbroker.c, pcnode.c) that powercut.c runs.
 */
#ifndef PCRUN_H
#define PCRUN_H

#include <stdbool.h>
#include <stdint.h>

#include "harness.h"
#include "pcimage.h"

#define PCR_VL_ORG "ura:00001234"
#define PCR_JGZ_ORG "ura:00005678"
#define PCR_SENDERS 3 /* adapter processes in the node scenario */

/* A growable list of 16-byte ids, with a set beside it for duplicates. */
struct pcr_ids {
    uint8_t (*id)[16];
    size_t n, cap;
    struct h_idset set;
};

/* The run: its options, its cluster, what was acknowledged, figures. */
struct pcr_state {
    struct h_cluster c;
    bool node_mode;
    int cuts, images, max_s;
    bool early_ack, expect_loss;
    uint64_t seed, rng;
    char dir[H_PATH]; /* <tmp>/pc: logs, bases */
    int vl, jgz;
    /* Broker scenario: the raw wire client speaks for vl. */
    char vl_secret[2 * H_PATH], broker_public[2 * H_PATH];
    kr_pubkeys_t jgz_pub;
    uint8_t *content;
    size_t content_len;
    /* What was acknowledged, over all cuts so far. */
    struct pcr_ids accepted;  /* ACCEPTED receipts from the broker */
    struct pcr_ids handed;    /* msg_ids adapters got from vl's node */
    struct pcr_ids delivered; /* deliveries jgz's node acknowledged */
    /* Figures. */
    int cuts_done, images_checked, images_refused;
    uint64_t later_writes, durable_writes, torn_pieces;
    int loss_cut;        /* the cut that found a loss, or -1 */
    char loss_what[128]; /* where losses were found (--expect-loss) */
    /* --set KEY=VALUE: options for the daemons that are cut. */
    char set_key[8][64], set_val[8][256];
    int nset;
};

extern struct pcr_state pct;

/* Add an id to the list, once. */
void pcr_ids_add(struct pcr_ids *l, const uint8_t id[16]);
/* A number in [0, n) from the run's seeded stream (0 for n == 0). */
uint64_t pcr_rand(uint64_t n);

/* Copy a file (0 or -1). */
int pcr_copy(const char *from, const char *to);
/* An empty directory at 'path' (what a store's directory holds besides
 * the store, the lock files and sockets, goes with it). */
void pcr_fresh_dir(const char *path);
/* The recorder into the environment of the next daemon spawned (its store
 * 'file' in 'dir', its log 'log'), and out again. */
void pcr_rec_on(const char *dir, const char *file, const char *log);
void pcr_rec_off(void);

/* Walk the store (and look up 'want') in a child. 0 with *missing set, or
 * -1 with 'why' naming what failed. */
int pcr_walk(const char *path, bool nosubdir, const struct pcr_ids *want,
             size_t *missing, char *first, char *why, size_t whylen);

/* A daemon started on an image: it serves, or it refuses with a clear
 * error (exit 1), or it fails (a signal, a hang). */
enum pcr_start { PCR_UP, PCR_REFUSED, PCR_BROKEN };
/* Spawn bin -c conf and wait until up(arg) says it serves. */
enum pcr_start pcr_try_start(struct h_proc *p, const char *name,
                             const char *bin, const char *conf, const char *log,
                             bool (*up)(void *), void *arg, char *why,
                             size_t whylen);
/* up() of a broker (its struct h_cluster) and of a node (its h_node). */
bool pcr_broker_up(void *arg);
bool pcr_node_up(void *arg);
/* Stop a daemon started on an image: SIGTERM, exit 0 required. */
void pcr_stop_checked(struct h_proc *p);

/* A loss: fail the run, or, when a loss is what we wait for, note it and
 * stop cutting. */
void pcr_loss(int cut, const char *what, enum pc_variant v, size_t missing,
              size_t of, const char *first);
/* A refusal is fine for a variant with later writes, never for the
 * durable image, and a daemon that crashes or hangs is never fine. */
void pcr_refused(int cut, const char *what, enum pc_variant v, enum pcr_start s,
                 const char *why, const char *log);
/* Build one image of 'file' from base + log into 'out'. */
void pcr_build(const struct pc_log *log, const char *file, const char *base,
               const char *out, enum pc_variant v, struct pc_image_stats *st);
/* The recorder's log at 'path', loaded (required). */
struct pc_log *pcr_load_log(const char *path);

/* The scenarios: cut number k of the broker (pcbroker.c), or of both
 * nodes (pcnode.c). */
void pcr_broker_cut(int k);
void pcr_node_cut(int k);

#endif
