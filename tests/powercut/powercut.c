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

#include "harness.h"
#include "pcimage.h"
#include "util.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_SENDERS 3 /* adapter processes in the node scenario */

/* A growable list of 16-byte ids, with a set beside it for duplicates. */
struct s_ids {
    uint8_t (*id)[16];
    size_t n, cap;
    struct h_idset set;
};

static void
s_ids_add(struct s_ids *l, const uint8_t id[16])
{
    if (h_idset_count(&l->set, id) != 0)
        return;
    h_idset_add(&l->set, id);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->id = realloc(l->id, l->cap * 16);
        H_ENSURE(l->id != NULL, "memory for ids");
    }
    memcpy(l->id[l->n++], id, 16);
}

struct s_pc {
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
    struct s_ids accepted;  /* ACCEPTED receipts from the broker */
    struct s_ids handed;    /* msg_ids adapters got from vl's node */
    struct s_ids delivered; /* deliveries jgz's node acknowledged */
    /* Figures. */
    int cuts_done, images_checked, images_refused;
    uint64_t later_writes, durable_writes, torn_pieces;
    int loss_cut;        /* the cut that found a loss, or -1 */
    char loss_what[128]; /* where losses were found (--expect-loss) */
    /* --set KEY=VALUE: options for the daemons that are cut. */
    char set_key[8][64], set_val[8][256];
    int nset;
};

static struct s_pc t;

static uint64_t
s_rand(uint64_t n)
{
    return n ? pc_rand(&t.rng) % n : 0;
}

/*
 * Files.
 */

static int
s_copy(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC), out;
    ssize_t r;

    if (in < 0)
        return -1;
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    while ((r = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)r) != r) {
            r = -1;
            break;
        }
    close(in);
    if (close(out) != 0)
        r = -1;
    return r < 0 ? -1 : 0;
}

/* An empty directory at 'path' (what a store's directory holds besides
 * the store, the lock files and sockets, goes with it). */
static void
s_fresh_dir(const char *path)
{
    H_ENSURE(access(path, F_OK) != 0 || h_rm_rf(path) == KR_OK, "remove %s",
             path);
    H_ENSURE(mkdir(path, 0700) == 0, "mkdir %s: %s", path, strerror(errno));
}

/*
 * The recorder: set in the environment only while a recorded daemon is
 * spawned; the harness's other children do not inherit it.
 */

static void
s_rec_on(const char *dir, const char *file, const char *log)
{
    setenv("LD_PRELOAD", PC_REC_LIB, 1);
    setenv("PCREC_DIR", dir, 1);
    setenv("PCREC_FILES", file, 1);
    setenv("PCREC_LOG", log, 1);
    if (t.early_ack) {
        setenv("KRBROKER_TEST_EARLY_ACK", "1", 1);
        setenv("KRNODE_TEST_EARLY_ACK", "1", 1);
    }
}

static void
s_rec_off(void)
{
    unsetenv("LD_PRELOAD");
    unsetenv("PCREC_DIR");
    unsetenv("PCREC_FILES");
    unsetenv("PCREC_LOG");
    unsetenv("KRBROKER_TEST_EARLY_ACK");
    unsetenv("KRNODE_TEST_EARLY_ACK");
}

/*
 * Checking a store file in a child process: a corrupted page may crash
 * LMDB, and must fail the check, not the harness.
 */

struct s_walk {
    const char *path; /* directory (broker) or file (node) */
    bool nosubdir;
    const struct s_ids *want; /* msg_ids that must be in msg_index */
    const char *result;       /* the child writes "missing=N ..." here */
};

static int
s_walk_child(void *arg)
{
    const struct s_walk *w = arg;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_dbi main_dbi, dbi;
    MDB_val k, v;
    size_t trees = 0, entries = 0, missing = 0;
    char first[33] = "";
    int rc;

    if ((rc = mdb_env_create(&env)) != 0 ||
        (rc = mdb_env_set_maxdbs(env, 64)) != 0 ||
        (rc = mdb_env_open(env, w->path,
                           MDB_RDONLY | (w->nosubdir ? MDB_NOSUBDIR : 0),
                           0600)) != 0 ||
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 ||
        (rc = mdb_cursor_open(txn, main_dbi, &cur)) != 0) {
        printf("walk: open %s: %s\n", w->path, mdb_strerror(rc));
        return 2;
    }
    /* Every named tree, every entry: each page is read. */
    char names[64][64];
    size_t nn = 0;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
        if (nn < 64 && k.mv_size < sizeof(names[0])) {
            memcpy(names[nn], k.mv_data, k.mv_size);
            names[nn++][k.mv_size] = '\0';
        }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        printf("walk: the main tree: %s\n", mdb_strerror(rc));
        return 2;
    }
    for (size_t i = 0; i < nn; i++) {
        if ((rc = mdb_dbi_open(txn, names[i], 0, &dbi)) != 0)
            continue; /* a key of the main tree, not a tree */
        trees++;
        if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
            printf("walk: %s: %s\n", names[i], mdb_strerror(rc));
            return 2;
        }
        volatile uint8_t sum = 0;
        while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
            entries++;
            for (size_t b = 0; b < v.mv_size; b += 512)
                sum ^= ((const uint8_t *)v.mv_data)[b];
        }
        mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND) {
            printf("walk: %s after %zu entries: %s\n", names[i], entries,
                   mdb_strerror(rc));
            return 2;
        }
    }
    if (w->want != NULL && w->want->n > 0) {
        if ((rc = mdb_dbi_open(txn, "msg_index", 0, &dbi)) != 0) {
            printf("walk: msg_index: %s\n", mdb_strerror(rc));
            return 2;
        }
        for (size_t i = 0; i < w->want->n; i++) {
            k.mv_size = 16;
            k.mv_data = (void *)w->want->id[i];
            if ((rc = mdb_get(txn, dbi, &k, &v)) == MDB_NOTFOUND) {
                if (missing++ == 0)
                    h_hex16(w->want->id[i], first);
            } else if (rc != 0) {
                printf("walk: msg_index get: %s\n", mdb_strerror(rc));
                return 2;
            }
        }
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    char line[256];
    int n = snprintf(line, sizeof(line),
                     "missing=%zu first=%s trees=%zu entries=%zu\n", missing,
                     first[0] ? first : "-", trees, entries);
    return h_write_file(w->result, line, 0600) == KR_OK && n > 0 ? 0 : 2;
}

/* Walk the store (and look up 'want') in a child. 0 with *missing set, or
 * -1 with 'why' naming what failed. */
static int
s_walk(const char *path, bool nosubdir, const struct s_ids *want,
       size_t *missing, char *first, char *why, size_t whylen)
{
    struct s_walk w = {path, nosubdir, want, NULL};
    /* Static: the harness keeps a pointer to every process it started,
     * for its watchdog. */
    static struct h_proc p;
    char result[2 * H_PATH], log[2 * H_PATH], st[32];
    int status = 0;

    snprintf(result, sizeof(result), "%s/walk.result", t.dir);
    snprintf(log, sizeof(log), "%s/walk.log", t.dir);
    unlink(result);
    w.result = result;
    /* No libkr client of ours lives across the fork (h_proc_fork). */
    h_clients_close(&t.c);
    H_ENSURE(h_proc_fork(&p, "walk", log, s_walk_child, &w) == KR_OK,
             "fork the store walker");
    if (h_proc_wait(&p, 60000, &status) != KR_OK) {
        h_proc_kill9(&p);
        snprintf(why, whylen, "the walk of %s did not end", path);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, whylen, "the walk of %.200s failed (%s); see %.200s",
                 path, h_status_str(status, st, sizeof(st)), log);
        return -1;
    }
    FILE *f = fopen(result, "r");
    unsigned long m = 0;
    bool ok = f != NULL && fscanf(f, "missing=%lu first=%32s", &m, first) == 2;
    if (f != NULL)
        fclose(f);
    if (!ok) {
        snprintf(why, whylen, "the walk of %s wrote no result", path);
        return -1;
    }
    *missing = m;
    return 0;
}

/*
 * Starting a daemon on an image: it serves, or it refuses with a clear
 * error (exit 1), or it fails (a signal, a hang): never asserted away.
 */

enum s_start { S_UP, S_REFUSED, S_BROKEN };

static enum s_start
s_try_start(struct h_proc *p, const char *name, const char *bin,
            const char *conf, const char *log, bool (*up)(void *), void *arg,
            char *why, size_t whylen)
{
    char *argv[] = {(char *)bin, (char *)"-c", (char *)conf, NULL};
    uint64_t deadline = h_mono_ms() + (uint64_t)h_scale(H_START_MS);
    char st[32];

    H_ENSURE(h_proc_spawn(p, name, log, argv) == KR_OK, "spawn %s", name);
    for (int i = 0; i < 100000; i++) {
        if (!h_proc_alive(p)) {
            snprintf(why, whylen, "%s ended at start: %s", name,
                     h_status_str(p->status, st, sizeof(st)));
            return WIFEXITED(p->status) && WEXITSTATUS(p->status) == 1
                       ? S_REFUSED
                       : S_BROKEN;
        }
        if (up(arg))
            return S_UP;
        if (h_mono_ms() >= deadline)
            break;
        h_sleep_ms(H_POLL_MS);
    }
    h_proc_kill9(p);
    snprintf(why, whylen, "%s did not answer within %d ms", name,
             h_scale(H_START_MS));
    return S_BROKEN;
}

static bool
s_broker_up(void *arg)
{
    struct h_cluster *c = arg;
    struct h_run r;

    h_krctl(&r, "--admin", c->admin, "--timeout", "500", "org", "list", NULL);
    bool ok = r.code == 0;
    h_run_free(&r);
    return ok;
}

static bool
s_node_up(void *arg)
{
    struct h_node *n = arg;
    kr_client_t *kc = NULL;
    struct h_status s;
    int rc;

    if ((rc = kr_client_connect(n->local, 300, &kc)) == KR_OK) {
        rc = h_status(kc, &s);
        kr_client_destroy(&kc);
    }
    return rc == KR_OK;
}

/* Stop a daemon started on an image: SIGTERM, exit 0 required. */
static void
s_stop_checked(struct h_proc *p)
{
    int status = 0;
    char st[32];

    if (h_proc_stop(p, SIGTERM, H_STOP_MS, &status) != KR_OK) {
        h_proc_kill9(p);
        H_REQUIRE(false, "%s exits within %d ms of SIGTERM", p->name,
                  h_scale(H_STOP_MS));
    }
    H_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "%s exits 0 on SIGTERM (got %s)", p->name,
              h_status_str(status, st, sizeof(st)));
}

/*
 * The outcome of one image.
 */

/* A loss: fail the run, or, when a loss is what we wait for, note it and
 * stop cutting. */
static void
s_loss(int cut, const char *what, enum pc_variant v, size_t missing, size_t of,
       const char *first)
{
    if (t.expect_loss) {
        if (strstr(t.loss_what, what) == NULL) {
            size_t at = strlen(t.loss_what);
            snprintf(t.loss_what + at, sizeof(t.loss_what) - at, "%s%s",
                     at ? ", " : "", what);
        }
        if (t.loss_cut < 0 || t.loss_cut == cut)
            h_note("LOSS caught at cut %d (%s, %s image): %zu of %zu "
                   "acknowledged messages missing (first %s)",
                   cut + 1, what, pc_variant_name(v), missing, of, first);
        t.loss_cut = cut;
        return;
    }
    H_REQUIRE(false,
              "cut %d, %s, %s image: every acknowledged message is there "
              "(%zu of %zu missing, first %s; replay with --seed %" PRIu64 ")",
              cut + 1, what, pc_variant_name(v), missing, of, first, t.seed);
}

/* A refusal is fine for a variant with later writes, never for the
 * durable image, and a daemon that crashes or hangs is never fine. */
static void
s_refused(int cut, const char *what, enum pc_variant v, enum s_start s,
          const char *why, const char *log)
{
    t.images_refused++;
    H_REQUIRE(s == S_REFUSED && v != PC_IMG_DURABLE,
              "cut %d, %s, %s image: the daemon starts, or refuses with a "
              "clear error (%s; log %s; replay with --seed %" PRIu64 ")",
              cut + 1, what, pc_variant_name(v), why, log, t.seed);
    h_note("cut %d, %s, %s image: refused (%s)", cut + 1, what,
           pc_variant_name(v), why);
}

/* Build one image of 'file' from base + log into 'out'. */
static void
s_build(const struct pc_log *log, const char *file, const char *base,
        const char *out, enum pc_variant v, struct pc_image_stats *st)
{
    char err[512];
    int id = pc_log_file(log, file);

    if (id < 0) {
        /* Nothing recorded: the daemon never opened its store. */
        H_ENSURE(base != NULL && s_copy(base, out) == 0,
                 "no %s in the log and no base to copy", file);
        memset(st, 0, sizeof(*st));
        return;
    }
    H_ENSURE(pc_image_build(log, id, base, out, v, &t.rng, st, err,
                            sizeof(err)) == 0,
             "build the %s image of %s: %s", pc_variant_name(v), file, err);
    t.durable_writes += v == PC_IMG_DURABLE ? st->durable : 0;
    t.later_writes += v == PC_IMG_DURABLE ? st->later : 0;
    t.torn_pieces += st->pieces_torn;
}

static struct pc_log *
s_load_log(const char *path)
{
    struct pc_log *log = NULL;
    char err[512];
    uint64_t recs, writes, flushes;

    H_REQUIRE(pc_log_load(path, &log, err, sizeof(err)) == 0,
              "the recorder's log loads: %s", err);
    pc_log_counts(log, &recs, &writes, &flushes);
    h_note("log %s: %" PRIu64 " records, %" PRIu64 " writes, %" PRIu64
           " completed flushes",
           strrchr(path, '/') + 1, recs, writes, flushes);
    return log;
}

/*
 * The broker scenario: a raw wire client submits for vl, JGZ is offline
 * (its queue grows), the broker is cut.
 */

static void
s_broker_setup(void)
{
    char pub[2 * H_PATH];
    struct h_referral ref;

    t.vl = h_org_add(&t.c, "vl", S_VL_ORG, "verloskunde", "De Wieg");
    t.jgz = h_org_add(&t.c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    h_node_set(&t.c, t.jgz, "prefill_mb", "1");
    h_secret_path(t.c.nodes[t.vl].keys, t.vl_secret, sizeof(t.vl_secret));
    h_public_path(t.c.broker_keys, t.broker_public, sizeof(t.broker_public));
    h_public_path(t.c.nodes[t.jgz].keys, pub, sizeof(pub));
    H_ENSURE(kcrypto_pubkeys_load(pub, &t.jgz_pub) == KR_OK, "load jgz.public");
    h_referral_default(&ref);
    ref.reason_text = "power cut";
    H_ENSURE(h_content_pack(&ref, &t.content, &t.content_len) == KR_OK,
             "pack a content");
}

/* Submit for 'ms' with a random window; return how many were sent. */
static size_t
s_broker_load(struct h_wire *w, int ms, unsigned window)
{
    struct h_env_spec spec = {.sender = S_VL_ORG,
                              .recipient = S_JGZ_ORG,
                              .rcpt = &t.jgz_pub,
                              .content = t.content,
                              .content_len = t.content_len};
    uint64_t end = h_mono_ms() + (uint64_t)ms;
    size_t sent = 0, answered = 0, scanned = 0;

    for (long i = 0; i < 10000000L && h_mono_ms() < end; i++) {
        /* Answers to submits have no queue seq; DELIVERED receipts do. */
        for (; scanned < w->nreceipts; scanned++)
            answered += w->receipts[scanned].seq == 0;
        while (sent - answered < window && h_mono_ms() < end) {
            uint8_t id[16], *env = NULL, sig[KR_SIG_LEN];
            size_t len = 0;
            H_ENSURE(h_envelope_build(w->keys, &spec, id, &env, &len, sig) ==
                         KR_OK,
                     "build an envelope");
            int rc = h_wire_send_submit(w, env, len, sig, sizeof(sig));
            free(env);
            if (rc != KR_OK)
                break;
            sent++;
        }
        h_wire_pump(w, 1);
    }
    return sent;
}

static void
s_broker_check_image(int cut, enum pc_variant v)
{
    char why[512], first[33] = "-";
    size_t missing = 0;
    struct h_audit_verify av;

    enum s_start s =
        s_try_start(&t.c.broker, "krbroker", H_KRBROKER, t.c.broker_conf,
                    t.c.broker_log, s_broker_up, &t.c, why, sizeof(why));
    t.images_checked++;
    if (s != S_UP) {
        s_refused(cut, "broker", v, s, why, t.c.broker_log);
        return;
    }
    if (s_walk(t.c.broker_dir, false, &t.accepted, &missing, first, why,
               sizeof(why)) != 0)
        H_REQUIRE(false,
                  "cut %d, broker, %s image: every tree of the store reads "
                  "(%s; replay with --seed %" PRIu64 ")",
                  cut + 1, pc_variant_name(v), why, t.seed);
    H_REQUIRE(h_audit_verify(&t.c, &av) == KR_OK && av.ok,
              "cut %d, broker, %s image: the audit chain verifies (%" PRIu64
              " records; %s)",
              cut + 1, pc_variant_name(v), av.checked, av.detail);
    if (missing > 0)
        s_loss(cut, "broker", v, missing, t.accepted.n, first);
    s_stop_checked(&t.c.broker);
}

static void
s_broker_cut(int k)
{
    char log_path[2 * H_PATH], base[2 * H_PATH], next[2 * H_PATH];
    char store[2 * H_PATH];
    struct h_wire w;
    bool have_base = k > 0;

    snprintf(log_path, sizeof(log_path), "%s/broker-%d.log", t.dir, k);
    snprintf(base, sizeof(base), "%s/broker-base-%d.mdb", t.dir, k);
    snprintf(next, sizeof(next), "%s/broker-base-%d.mdb", t.dir, k + 1);
    snprintf(store, sizeof(store), "%s/data.mdb", t.c.broker_dir);

    /* The store as the last cut left it, recorded from here. */
    s_fresh_dir(t.c.broker_dir);
    if (have_base)
        H_ENSURE(s_copy(base, store) == 0, "copy the base into the store");
    s_rec_on(t.c.broker_dir, "data.mdb", log_path);
    h_broker_start(&t.c);
    s_rec_off();
    if (k == 0)
        s_broker_setup();
    /* JGZ's node takes the deliveries, so that the broker also deletes
     * payloads and reuses their pages: the writes a torn image tears. */
    h_node_start(&t.c, t.jgz);

    H_ENSURE(h_wire_open(&w, t.c.listen, t.vl_secret, t.broker_public,
                         S_VL_ORG) == KR_OK &&
                 h_wire_send_hello(&w, S_VL_ORG, 64) == KR_OK,
             "open the raw wire client");
    unsigned window = 1u << s_rand(9); /* 1 .. 256 */
    int ms = 40 + (int)s_rand(400);
    size_t sent = s_broker_load(&w, ms, window);
    h_broker_kill9(&t.c);
    /* Receipts already on their way left the broker before it died. */
    h_wire_pump(&w, 200);
    /* JGZ's node stays down while the images are checked: none of them
     * may change what it holds before the next. */
    H_REQUIRE(h_node_stop(&t.c, t.jgz), "JGZ's node stops");
    size_t acc = 0, dlv = 0;
    for (size_t i = 0; i < w.nreceipts; i++) {
        if (w.receipts[i].outcome == KR__V1__OUTCOME__ACCEPTED &&
            w.receipts[i].has_id) {
            s_ids_add(&t.accepted, w.receipts[i].msg_id);
            acc++;
        }
        dlv += w.receipts[i].outcome == KR__V1__OUTCOME__DELIVERED;
    }
    h_wire_close(&w);
    h_note("cut %d: window %u, %d ms: %zu submitted, %zu accepted "
           "(%zu in all so far), %zu delivered receipts",
           k + 1, window, ms, sent, acc, t.accepted.n, dlv);

    struct pc_log *log = s_load_log(log_path);
    struct pc_image_stats st;
    for (int v = 0; v < t.images; v++) {
        s_fresh_dir(t.c.broker_dir);
        s_build(log, "data.mdb", have_base ? base : NULL, store,
                (enum pc_variant)v, &st);
        h_note("cut %d: %s image: %" PRIu64 " durable writes, %" PRIu64
               " later, %" PRIu64 " of them in it, %" PRIu64
               " pieces torn off, %" PRIu64 " bytes",
               k + 1, pc_variant_name((enum pc_variant)v), st.durable, st.later,
               st.later_taken, st.pieces_torn, st.size);
        s_broker_check_image(k, (enum pc_variant)v);
        if (t.loss_cut >= 0)
            break;
    }
    s_build(log, "data.mdb", have_base ? base : NULL, next, PC_IMG_DURABLE,
            &st);
    pc_log_free(&log);
    unlink(log_path);
    if (have_base)
        unlink(base);
}

/*
 * The node scenario: adapters send through vl's node, JGZ's node takes
 * the deliveries; both nodes are cut, the broker is not.
 */

struct s_sender {
    bool named; /* brings its own msg_ids: the node sends ahead (22) */
    char endpoint[H_PATH];
    char out[2 * H_PATH]; /* one hex msg_id a line, once kr_send said yes */
};

static struct s_sender s_senders[S_SENDERS];

static int
s_sender_run(void *arg)
{
    const struct s_sender *s = arg;
    struct h_referral ref;
    kr_client_t *kc = NULL;
    int fd = open(s->out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

    int last_rc = KR_OK;

    if (fd < 0 || kr_client_connect(s->endpoint, 2000, &kc) != KR_OK) {
        fprintf(stderr, "sender %s: cannot start\n", s->out);
        return 2;
    }
    h_referral_default(&ref);
    ref.reason_text = "power cut";
    /* Until killed: the harness kills this process with the nodes. */
    for (long i = 0; i < 100000000L; i++) {
        uint8_t id[16], mine[16];
        char line[40];
        randombytes_buf(mine, sizeof(mine));
        int rc =
            h_send_referral(kc, S_JGZ_ORG, &ref, s->named ? mine : NULL, id);
        if (rc != KR_OK) {
            /* Said when it changes, so that a sender that never gets an
             * answer leaves the reason in sender.log. */
            if (rc != last_rc)
                fprintf(stderr, "sender %s: send %ld: %s\n", s->out, i,
                        kr_strerror(rc));
            last_rc = rc;
            h_sleep_ms(5);
            continue;
        }
        last_rc = KR_OK;
        h_hex16(id, line);
        line[32] = '\n';
        if (write(fd, line, 33) != 33)
            return 2;
    }
    return 0;
}

static int
s_hexval(int ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                    : -1;
}

/* Read a sender's file of ids into t.handed; the number of lines. */
static size_t
s_read_handed(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[64];
    size_t n = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        uint8_t id[16];
        bool ok = strlen(line) >= 32;
        for (int i = 0; ok && i < 16; i++) {
            int hi = s_hexval(line[2 * i]), lo = s_hexval(line[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            id[i] = (uint8_t)(hi << 4 | lo);
        }
        if (ok) {
            s_ids_add(&t.handed, id);
            n++;
        }
    }
    fclose(f);
    return n;
}

static size_t
s_file_lines(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size / 33 : 0;
}

/* The broker's view: every message to JGZ it marked delivered, which it
 * does only when JGZ's node acknowledged it. Read from its store (it
 * keeps running), into t.delivered; returns how many there are. */
static size_t
s_read_delivered(bool add)
{
    struct h_store s;
    MDB_dbi idx, msgs;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t n = 0;

    H_ENSURE(h_store_open(&t.c, &s) == KR_OK &&
                 h_store_dbi(&s, "msg_index", &idx) == KR_OK &&
                 h_store_dbi(&s, "messages", &msgs) == KR_OK &&
                 mdb_cursor_open(s.txn, idx, &cur) == 0,
             "read the broker's store");
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        MDB_val m;
        if (k.mv_size != 16 || mdb_get(s.txn, msgs, &v, &m) != 0)
            continue;
        Kr__V1__StoredMessage *sm =
            kr__v1__stored_message__unpack(NULL, m.mv_size, m.mv_data);
        if (sm == NULL)
            continue;
        if (sm->state == KR__V1__MESSAGE_STATE__STATE_DELIVERED &&
            strcmp(sm->recipient, S_JGZ_ORG) == 0) {
            n++;
            if (add)
                s_ids_add(&t.delivered, k.mv_data);
        }
        kr__v1__stored_message__free_unpacked(sm, NULL);
    }
    mdb_cursor_close(cur);
    h_store_close(&s);
    return n;
}

struct s_list {
    struct h_idset seen;
};

static int
s_list_out(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_list *l = arg;
    if (it->msg_id.len == 16)
        h_idset_add(&l->seen, it->msg_id.data);
    return 0;
}

static int
s_list_in(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_list *l = arg;
    if (it->msg_id.len == 16)
        h_idset_add(&l->seen, it->msg_id.data);
    return 0;
}

static void
s_node_check_image(int cut, int i, enum pc_variant v)
{
    struct h_node *n = &t.c.nodes[i];
    bool sender = i == t.vl;
    const struct s_ids *want = sender ? &t.handed : &t.delivered;
    const char *what = sender ? "sending node (outbox)"
                              : "receiving node "
                                "(inbox)";
    char why[512], first[33] = "-", name[64], store[2 * H_PATH];
    size_t missing = 0, walk_missing = 0;
    kr_client_t *kc = NULL;
    struct s_list l;
    int rc;

    snprintf(name, sizeof(name), "krnode %s", n->label);
    snprintf(store, sizeof(store), "%s/node.mdb", n->dir);
    enum s_start s = s_try_start(&n->proc, name, H_KRNODE, n->conf, n->log,
                                 s_node_up, n, why, sizeof(why));
    t.images_checked++;
    if (s != S_UP) {
        s_refused(cut, what, v, s, why, n->log);
        return;
    }
    if (s_walk(store, true, NULL, &walk_missing, first, why, sizeof(why)) != 0)
        H_REQUIRE(false,
                  "cut %d, %s, %s image: every tree of the store reads "
                  "(%s; replay with --seed %" PRIu64 ")",
                  cut + 1, what, pc_variant_name(v), why, t.seed);
    /* What the node serves, through libkr as an adapter sees it. */
    h_idset_init(&l.seen);
    rc = kr_client_connect(n->local, 5000, &kc);
    H_REQUIRE(rc == KR_OK, "connect to %s (%s)", name, kr_strerror(rc));
    rc = sender ? h_outbox_foreach_all(kc, s_list_out, &l)
                : h_inbox_foreach_all(kc, s_list_in, &l);
    kr_client_destroy(&kc);
    H_REQUIRE(rc == KR_OK, "cut %d, %s, %s image: the node lists it (%s)",
              cut + 1, what, pc_variant_name(v), kr_strerror(rc));
    for (size_t j = 0; j < want->n; j++)
        if (h_idset_count(&l.seen, want->id[j]) == 0 && missing++ == 0)
            h_hex16(want->id[j], first);
    h_idset_free(&l.seen);
    if (missing > 0)
        s_loss(cut, what, v, missing, want->n, first);
    s_stop_checked(&n->proc);
}

static void
s_node_cut(int k)
{
    char log_path[2][2 * H_PATH], base[2][2 * H_PATH], next[2][2 * H_PATH];
    char store[2][2 * H_PATH], slog[2 * H_PATH];
    int idx[2] = {t.vl, t.jgz};
    static struct h_proc senders[S_SENDERS]; /* static: see s_walk */
    bool have_base = k > 0;

    for (int j = 0; j < 2; j++) {
        struct h_node *n = &t.c.nodes[idx[j]];
        snprintf(log_path[j], sizeof(log_path[j]), "%s/%s-%d.log", t.dir,
                 n->label, k);
        snprintf(base[j], sizeof(base[j]), "%s/%s-base-%d.mdb", t.dir, n->label,
                 k);
        snprintf(next[j], sizeof(next[j]), "%s/%s-base-%d.mdb", t.dir, n->label,
                 k + 1);
        snprintf(store[j], sizeof(store[j]), "%s/node.mdb", n->dir);
        s_fresh_dir(n->dir);
        if (have_base)
            H_ENSURE(s_copy(base[j], store[j]) == 0, "copy %s's base",
                     n->label);
        s_rec_on(n->dir, "node.mdb", log_path[j]);
        h_node_start(&t.c, idx[j]);
        s_rec_off();
    }
    for (int j = 0; j < 2; j++)
        if (!h_node_wait_connected(&t.c, idx[j], H_CONNECT_MS))
            h_abort();
    if (k == 0)
        H_REQUIRE(h_consent_default(&t.c, t.vl, t.jgz), "consent recorded");
    /* No libkr client of ours lives across the fork below: the last one
     * closed ends libkr's ZeroMQ context and its threads, which could
     * otherwise hold a lock (the sanitizer's allocator's) at the fork
     * that a child then waits for: once, under ASan, the senders' sends
     * were never answered. */
    h_clients_close(&t.c);

    /* Adapters send until the cut. */
    for (int j = 0; j < S_SENDERS; j++) {
        s_senders[j].named = j % 2 == 1;
        snprintf(s_senders[j].endpoint, sizeof(s_senders[j].endpoint), "%s",
                 t.c.nodes[t.vl].local);
        snprintf(s_senders[j].out, sizeof(s_senders[j].out),
                 "%s/handed-%d-%d.txt", t.dir, k, j);
        snprintf(slog, sizeof(slog), "%s/sender.log", t.c.tmp);
        H_ENSURE(h_proc_fork(&senders[j], "sender", slog, s_sender_run,
                             &s_senders[j]) == KR_OK,
                 "fork a sender");
    }
    bool ok;
    H_POLL(ok, 20000, s_file_lines(s_senders[0].out) > 0);
    H_REQUIRE(ok, "cut %d: the adapters' first sends are answered", k + 1);
    int ms = 20 + (int)s_rand(400);
    h_sleep_ms(ms); /* the cut's moment: random, on purpose */
    /* Both nodes die, in random order, a random moment apart. */
    int first = (int)s_rand(2);
    int gap = (int)s_rand(30);
    h_node_kill9(&t.c, idx[first]);
    if (gap > 0)
        h_sleep_ms(gap);
    h_node_kill9(&t.c, idx[1 - first]);
    for (int j = 0; j < S_SENDERS; j++)
        h_proc_kill9(&senders[j]);
    for (int j = 0; j < 2; j++)
        kr_client_destroy(&t.c.nodes[idx[j]].kc);
    size_t handed = 0;
    for (int j = 0; j < S_SENDERS; j++) {
        handed += s_read_handed(s_senders[j].out);
        unlink(s_senders[j].out);
    }
    /* Acks that left JGZ's node before it died reach the broker within
     * a pass or two: wait until its count of delivered stops moving. */
    size_t prev = SIZE_MAX, cur = 0;
    for (int i = 0; i < 100; i++) {
        cur = s_read_delivered(false);
        if (cur == prev)
            break;
        prev = cur;
        h_sleep_ms(100);
    }
    s_read_delivered(true);
    h_note("cut %d: after %d ms, %s first, %d ms apart: %zu handed to "
           "adapters (%zu in all), %zu delivered in all",
           k + 1, ms, t.c.nodes[idx[first]].label, gap, handed, t.handed.n,
           t.delivered.n);

    /* Images are checked with the broker stopped: a node started on one
     * image must not change what the broker knows before the next. */
    H_REQUIRE(h_broker_stop(&t.c), "the broker stops for the checks");
    for (int j = 0; j < 2; j++) {
        struct pc_log *log = s_load_log(log_path[j]);
        struct pc_image_stats st;
        /* Both roles are checked even after a loss (--expect-loss), so
         * that the note says which of them the switch broke. */
        for (int v = 0; v < t.images; v++) {
            const char *before =
                strstr(t.loss_what, j ? "receiving" : "sending");
            s_fresh_dir(t.c.nodes[idx[j]].dir);
            s_build(log, "node.mdb", have_base ? base[j] : NULL, store[j],
                    (enum pc_variant)v, &st);
            h_note("cut %d: %s %s image: %" PRIu64 " durable writes, %" PRIu64
                   " later, %" PRIu64 " of them in it, %" PRIu64
                   " pieces torn off",
                   k + 1, t.c.nodes[idx[j]].label,
                   pc_variant_name((enum pc_variant)v), st.durable, st.later,
                   st.later_taken, st.pieces_torn);
            s_node_check_image(k, idx[j], (enum pc_variant)v);
            if (before == NULL &&
                strstr(t.loss_what, j ? "receiving" : "sending") != NULL)
                break;
        }
        s_build(log, "node.mdb", have_base ? base[j] : NULL, next[j],
                PC_IMG_DURABLE, &st);
        pc_log_free(&log);
        unlink(log_path[j]);
        if (have_base)
            unlink(base[j]);
    }
    h_broker_start(&t.c);
}

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

    t.cuts = 10;
    t.images = PC_IMG_VARIANTS;
    t.max_s = 120;
    t.loss_cut = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--daemon") == 0 && val != NULL) {
            daemon = val;
            i++;
        } else if (strcmp(a, "--cuts") == 0 && val && s_num(val, 1000000, &v)) {
            t.cuts = (int)v;
            i++;
        } else if (strcmp(a, "--seed") == 0 && val &&
                   s_num(val, UINT64_MAX, &v)) {
            t.seed = v;
            seeded = true;
            i++;
        } else if (strcmp(a, "--images") == 0 && val && s_num(val, 4, &v) &&
                   v >= 1) {
            t.images = (int)v;
            i++;
        } else if (strcmp(a, "--max-seconds") == 0 && val &&
                   s_num(val, 1000000, &v)) {
            t.max_s = (int)v;
            i++;
        } else if (strcmp(a, "--set") == 0 && val && strchr(val, '=') &&
                   t.nset < 8) {
            const char *eq = strchr(val, '=');
            snprintf(t.set_key[t.nset], sizeof(t.set_key[0]), "%.*s",
                     (int)(eq - val), val);
            snprintf(t.set_val[t.nset], sizeof(t.set_val[0]), "%s", eq + 1);
            t.nset++;
            i++;
        } else if (strcmp(a, "--early-ack") == 0) {
            t.early_ack = true;
        } else if (strcmp(a, "--expect-loss") == 0) {
            t.expect_loss = true;
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
    t.node_mode = strcmp(daemon, "node") == 0;
    if (!seeded) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t.seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                 ((uint64_t)getpid() << 40);
    }
    t.rng = t.seed;
    printf("# seed %" PRIu64 " (replay: powercut --daemon %s --seed %" PRIu64
           " --cuts %d --images %d%s)\n",
           t.seed, daemon, t.seed, t.cuts, t.images,
           t.early_ack ? " --early-ack --expect-loss" : "");
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
             t.early_ack     ? "_early_ack"
             : t.expect_loss ? "_expect_loss"
                             : "");
    h_init(name, t.max_s + 240);
    h_cluster_init(&t.c, name);
    snprintf(t.dir, sizeof(t.dir), "%s/pc", t.c.tmp);
    H_ENSURE(mkdir(t.dir, 0700) == 0, "mkdir %s", t.dir);
    /* Small files written ahead, so that the recorder logs the helper
     * thread's zeros and flushes without copying 64 MiB per image. */
    h_broker_set(&t.c, "prefill_mb", "2");
    h_broker_set(&t.c, "map_size_mb", "64");
    if (t.node_mode) {
        h_broker_start(&t.c);
        t.vl = h_org_add(&t.c, "vl", S_VL_ORG, "verloskunde", "De Wieg");
        t.jgz = h_org_add(&t.c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
        for (int j = 0; j < 2; j++) {
            h_node_set(&t.c, j, "prefill_mb", "1");
            h_node_set(&t.c, j, "map_size_mb", "64");
        }
    }

    for (int i = 0; i < t.nset; i++) {
        if (t.node_mode) {
            h_node_set(&t.c, t.vl, t.set_key[i], t.set_val[i]);
            h_node_set(&t.c, t.jgz, t.set_key[i], t.set_val[i]);
        } else {
            h_broker_set(&t.c, t.set_key[i], t.set_val[i]);
        }
    }
    uint64_t t0 = h_mono_ms();
    for (int k = 0; k < t.cuts && t.loss_cut < 0; k++) {
        if (h_mono_ms() - t0 > (uint64_t)t.max_s * 1000) {
            h_note("time budget of %d s reached after %d cuts", t.max_s,
                   t.cuts_done);
            break;
        }
        if (t.node_mode)
            s_node_cut(k);
        else
            s_broker_cut(k);
        t.cuts_done++;
    }
    double secs = (double)(h_mono_ms() - t0) / 1000.0;
    h_note("%d cuts in %.1f s, %d images checked (%d refused), %" PRIu64
           " durable and %" PRIu64 " later writes in the durable images, "
           "%" PRIu64 " pieces torn off; acknowledged: %zu accepted, %zu "
           "handed to adapters, %zu delivered",
           t.cuts_done, secs, t.images_checked, t.images_refused,
           t.durable_writes, t.later_writes, t.torn_pieces, t.accepted.n,
           t.handed.n, t.delivered.n);
    if (t.expect_loss) {
        H_CHECK(t.loss_cut >= 0,
                "the defect is caught: an acknowledged message missing "
                "after a power cut (after %d cuts, in: %s; "
                "seed %" PRIu64 ")",
                t.cuts_done, t.loss_cut >= 0 ? t.loss_what : "none", t.seed);
    } else {
        H_CHECK(t.cuts_done > 0 && (t.accepted.n > 0 || t.handed.n > 0),
                "%d cuts, each with acknowledged messages, none lost "
                "(seed %" PRIu64 ")",
                t.cuts_done, t.seed);
    }
    /* Leave a running broker for h_finish, on the last durable image. */
    if (!t.node_mode && !h_proc_alive(&t.c.broker)) {
        char last[2 * H_PATH], store[2 * H_PATH];
        snprintf(last, sizeof(last), "%s/broker-base-%d.mdb", t.dir,
                 t.cuts_done);
        snprintf(store, sizeof(store), "%s/data.mdb", t.c.broker_dir);
        s_fresh_dir(t.c.broker_dir);
        if (access(last, R_OK) == 0)
            H_ENSURE(s_copy(last, store) == 0, "copy the last base");
        h_broker_start(&t.c);
    }
    if (!h_proc_alive(&t.c.broker))
        h_broker_start(&t.c);
    free(t.content);
    return h_finish(&t.c);
}
