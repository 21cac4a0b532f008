/*
 * powercut.c - the power-cut harness (README.md here): cut the power
 * under load at random points, restart the daemon on what the disk would
 * hold, and check that nothing acknowledged is lost.
 *
 * A cut: the daemon runs with the recorder preloaded (pcrec.c), which logs
 * every write to its store and every flush; load runs; at a random moment
 * the daemon is killed with SIGKILL. Everything acknowledged before then
 * is known: the ACCEPTED receipts the raw wire client got from the broker
 * (also those still on their way when it died), the msg_ids the adapters
 * got from the sending node, the deliveries the broker marked delivered
 * because the receiving node acknowledged them. From the log, pcimage.c
 * builds the store as a power cut at that moment would leave it: exactly
 * what completed flushes made durable, and further variants with random
 * later writes, whole or torn at 4 KiB or 512 bytes. The daemon starts on
 * each image in turn (without the recorder, the peers it would talk to
 * stopped, so that no image changes the others' state) and must either
 * serve, with every acknowledged message there, the audit chain intact
 * and every tree of its store readable, or refuse to start with a clear
 * error (only a variant image may be refused). The next cut starts from
 * the durable image, so cuts build on each other and every acknowledged
 * message must survive all later cuts too.
 *
 *   powercut --daemon broker|node [--cuts N] [--seed N] [--images 1..4]
 *            [--max-seconds S] [--set KEY=VALUE] [--early-ack]
 *            [--expect-loss]
 *
 * --early-ack starts the daemons with their test-only switch that sends
 * acknowledgements before the commit (KRBROKER_TEST_EARLY_ACK,
 * KRNODE_TEST_EARLY_ACK); with --expect-loss the run succeeds only if a
 * cut finds an acknowledged message missing. --set puts an option into
 * the config of the daemons that are cut (unsafe_nosync = true must be
 * caught too: it flushes nothing). The seed is printed first;
 * --seed replays the same choices (delays, windows, kill order, image
 * variants), though not the daemons' own timing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "pcrun.h"
#include "util.h"

/*
 * Main.
 */

static void
s_usage(FILE *f)
{
    fprintf(f, "usage: powercut --daemon broker|node [--cuts N] [--seed N] "
               "[--images 1..4]\n"
               "                [--max-seconds S] [--set KEY=VALUE] "
               "[--early-ack] [--expect-loss]\n");
}

static bool
s_num(const char *s, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

int
main(int argc, char **argv)
{
    const char *daemon = NULL;
    bool seeded = false;
    uint64_t v;

    pct.cuts = 10;
    pct.images = PC_IMG_VARIANTS;
    pct.max_s = 120;
    pct.loss_cut = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--daemon") == 0 && val != NULL) {
            daemon = val;
            i++;
        } else if (strcmp(a, "--cuts") == 0 && val && s_num(val, 1000000, &v)) {
            pct.cuts = (int)v;
            i++;
        } else if (strcmp(a, "--seed") == 0 && val &&
                   s_num(val, UINT64_MAX, &v)) {
            pct.seed = v;
            seeded = true;
            i++;
        } else if (strcmp(a, "--images") == 0 && val && s_num(val, 4, &v) &&
                   v >= 1) {
            pct.images = (int)v;
            i++;
        } else if (strcmp(a, "--max-seconds") == 0 && val &&
                   s_num(val, 1000000, &v)) {
            pct.max_s = (int)v;
            i++;
        } else if (strcmp(a, "--set") == 0 && val && strchr(val, '=') &&
                   pct.nset < 8) {
            const char *eq = strchr(val, '=');
            snprintf(pct.set_key[pct.nset], sizeof(pct.set_key[0]), "%.*s",
                     (int)(eq - val), val);
            snprintf(pct.set_val[pct.nset], sizeof(pct.set_val[0]), "%s",
                     eq + 1);
            pct.nset++;
            i++;
        } else if (strcmp(a, "--early-ack") == 0) {
            pct.early_ack = true;
        } else if (strcmp(a, "--expect-loss") == 0) {
            pct.expect_loss = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            s_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "powercut: bad argument '%s'\n", a);
            s_usage(stderr);
            return 2;
        }
    }
    if (daemon == NULL ||
        (strcmp(daemon, "broker") != 0 && strcmp(daemon, "node") != 0)) {
        s_usage(stderr);
        return 2;
    }
    pct.node_mode = strcmp(daemon, "node") == 0;
    if (!seeded) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        pct.seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                   ((uint64_t)getpid() << 40);
    }
    pct.rng = pct.seed;
    printf("# seed %" PRIu64 " (replay: powercut --daemon %s --seed %" PRIu64
           " --cuts %d --images %d%s)\n",
           pct.seed, daemon, pct.seed, pct.cuts, pct.images,
           pct.early_ack ? " --early-ack --expect-loss" : "");
    fflush(stdout);

    /* ASan wants its runtime first among the libraries; the recorder is
     * preloaded ahead of it, which is harmless here (pcrec is built
     * without ASan and only passes calls on). */
    const char *ao = getenv("ASAN_OPTIONS");
    char asan[1024];
    snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", ao ? ao : "",
             ao && *ao ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);

    char name[64];
    snprintf(name, sizeof(name), "powercut_%s%s", daemon,
             pct.early_ack     ? "_early_ack"
             : pct.expect_loss ? "_expect_loss"
                               : "");
    h_init(name, pct.max_s + 240);
    h_cluster_init(&pct.c, name);
    snprintf(pct.dir, sizeof(pct.dir), "%s/pc", pct.c.tmp);
    H_ENSURE(mkdir(pct.dir, 0700) == 0, "mkdir %s", pct.dir);
    /* Small files written ahead, so that the recorder logs the helper
     * thread's zeros and flushes without copying 64 MiB per image. */
    h_broker_set(&pct.c, "prefill_mb", "2");
    h_broker_set(&pct.c, "map_size_mb", "64");
    if (pct.node_mode) {
        h_broker_start(&pct.c);
        pct.vl = h_org_add(&pct.c, "vl", PCR_VL_ORG, "verloskunde", "De Wieg");
        pct.jgz = h_org_add(&pct.c, "jgz", PCR_JGZ_ORG, "jgz", "JGZ Utrecht");
        for (int j = 0; j < 2; j++) {
            h_node_set(&pct.c, j, "prefill_mb", "1");
            h_node_set(&pct.c, j, "map_size_mb", "64");
        }
    }

    for (int i = 0; i < pct.nset; i++) {
        if (pct.node_mode) {
            h_node_set(&pct.c, pct.vl, pct.set_key[i], pct.set_val[i]);
            h_node_set(&pct.c, pct.jgz, pct.set_key[i], pct.set_val[i]);
        } else {
            h_broker_set(&pct.c, pct.set_key[i], pct.set_val[i]);
        }
    }
    uint64_t t0 = h_mono_ms();
    for (int k = 0; k < pct.cuts && pct.loss_cut < 0; k++) {
        if (h_mono_ms() - t0 > (uint64_t)pct.max_s * 1000) {
            h_note("time budget of %d s reached after %d cuts", pct.max_s,
                   pct.cuts_done);
            break;
        }
        if (pct.node_mode)
            pcr_node_cut(k);
        else
            pcr_broker_cut(k);
        pct.cuts_done++;
    }
    double secs = (double)(h_mono_ms() - t0) / 1000.0;
    h_note("%d cuts in %.1f s, %d images checked (%d refused), %" PRIu64
           " durable and %" PRIu64 " later writes in the durable images, "
           "%" PRIu64 " pieces torn off; acknowledged: %zu accepted, %zu "
           "handed to adapters, %zu delivered",
           pct.cuts_done, secs, pct.images_checked, pct.images_refused,
           pct.durable_writes, pct.later_writes, pct.torn_pieces,
           pct.accepted.n, pct.handed.n, pct.delivered.n);
    if (pct.expect_loss) {
        H_CHECK(pct.loss_cut >= 0,
                "the defect is caught: an acknowledged message missing "
                "after a power cut (after %d cuts, in: %s; "
                "seed %" PRIu64 ")",
                pct.cuts_done, pct.loss_cut >= 0 ? pct.loss_what : "none",
                pct.seed);
    } else {
        H_CHECK(pct.cuts_done > 0 && (pct.accepted.n > 0 || pct.handed.n > 0),
                "%d cuts, each with acknowledged messages, none lost "
                "(seed %" PRIu64 ")",
                pct.cuts_done, pct.seed);
    }
    /* Leave a running broker for h_finish, on the last durable image. */
    if (!pct.node_mode && !h_proc_alive(&pct.c.broker)) {
        char last[2 * H_PATH], store[2 * H_PATH];
        snprintf(last, sizeof(last), "%s/broker-base-%d.mdb", pct.dir,
                 pct.cuts_done);
        snprintf(store, sizeof(store), "%s/data.mdb", pct.c.broker_dir);
        pcr_fresh_dir(pct.c.broker_dir);
        if (access(last, R_OK) == 0)
            H_ENSURE(pcr_copy(last, store) == 0, "copy the last base");
        h_broker_start(&pct.c);
    }
    if (!h_proc_alive(&pct.c.broker))
        h_broker_start(&pct.c);
    free(pct.content);
    return h_finish(&pct.c);
}
