/*
 * pcrun.c - the steps of a power cut that do not depend on the daemon
 * (pcrun.h): the run's state and acknowledged ids, files, the recorder's
 * environment, walking a store in a child, starting and stopping a daemon
 * on an image, building the images and judging what each showed.
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

void
pcr_ids_add(struct pcr_ids *l, const uint8_t id[16])
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

struct pcr_state pct;

uint64_t
pcr_rand(uint64_t n)
{
    return n ? pc_rand(&pct.rng) % n : 0;
}

/*
 * Files.
 */

int
pcr_copy(const char *from, const char *to)
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
void
pcr_fresh_dir(const char *path)
{
    H_ENSURE(access(path, F_OK) != 0 || h_rm_rf(path) == KR_OK, "remove %s",
             path);
    H_ENSURE(mkdir(path, 0700) == 0, "mkdir %s: %s", path, strerror(errno));
}

/*
 * The recorder: set in the environment only while a recorded daemon is
 * spawned; the harness's other children do not inherit it.
 */

void
pcr_rec_on(const char *dir, const char *file, const char *log)
{
    setenv("LD_PRELOAD", PC_REC_LIB, 1);
    setenv("PCREC_DIR", dir, 1);
    setenv("PCREC_FILES", file, 1);
    setenv("PCREC_LOG", log, 1);
    if (pct.early_ack) {
        setenv("KRBROKER_TEST_EARLY_ACK", "1", 1);
        setenv("KRNODE_TEST_EARLY_ACK", "1", 1);
    }
}

void
pcr_rec_off(void)
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
    const struct pcr_ids *want; /* msg_ids that must be in msg_index */
    const char *result;         /* the child writes "missing=N ..." here */
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
int
pcr_walk(const char *path, bool nosubdir, const struct pcr_ids *want,
         size_t *missing, char *first, char *why, size_t whylen)
{
    struct s_walk w = {path, nosubdir, want, NULL};
    /* Static: the harness keeps a pointer to every process it started,
     * for its watchdog. */
    static struct h_proc p;
    char result[2 * H_PATH], log[2 * H_PATH], st[32];
    int status = 0;

    snprintf(result, sizeof(result), "%s/walk.result", pct.dir);
    snprintf(log, sizeof(log), "%s/walk.log", pct.dir);
    unlink(result);
    w.result = result;
    /* No libkr client of ours lives across the fork (h_proc_fork). */
    h_clients_close(&pct.c);
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

enum pcr_start
pcr_try_start(struct h_proc *p, const char *name, const char *bin,
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
                       ? PCR_REFUSED
                       : PCR_BROKEN;
        }
        if (up(arg))
            return PCR_UP;
        if (h_mono_ms() >= deadline)
            break;
        h_sleep_ms(H_POLL_MS);
    }
    h_proc_kill9(p);
    snprintf(why, whylen, "%s did not answer within %d ms", name,
             h_scale(H_START_MS));
    return PCR_BROKEN;
}

bool
pcr_broker_up(void *arg)
{
    struct h_cluster *c = arg;
    struct h_run r;

    h_krctl(&r, "--admin", c->admin, "--timeout", "500", "org", "list", NULL);
    bool ok = r.code == 0;
    h_run_free(&r);
    return ok;
}

bool
pcr_node_up(void *arg)
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
void
pcr_stop_checked(struct h_proc *p)
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
void
pcr_loss(int cut, const char *what, enum pc_variant v, size_t missing,
         size_t of, const char *first)
{
    if (pct.expect_loss) {
        if (strstr(pct.loss_what, what) == NULL) {
            size_t at = strlen(pct.loss_what);
            snprintf(pct.loss_what + at, sizeof(pct.loss_what) - at, "%s%s",
                     at ? ", " : "", what);
        }
        if (pct.loss_cut < 0 || pct.loss_cut == cut)
            h_note("LOSS caught at cut %d (%s, %s image): %zu of %zu "
                   "acknowledged messages missing (first %s)",
                   cut + 1, what, pc_variant_name(v), missing, of, first);
        pct.loss_cut = cut;
        return;
    }
    H_REQUIRE(false,
              "cut %d, %s, %s image: every acknowledged message is there "
              "(%zu of %zu missing, first %s; replay with --seed %" PRIu64 ")",
              cut + 1, what, pc_variant_name(v), missing, of, first, pct.seed);
}

/* A refusal is fine for a variant with later writes, never for the
 * durable image, and a daemon that crashes or hangs is never fine. */
void
pcr_refused(int cut, const char *what, enum pc_variant v, enum pcr_start s,
            const char *why, const char *log)
{
    pct.images_refused++;
    H_REQUIRE(s == PCR_REFUSED && v != PC_IMG_DURABLE,
              "cut %d, %s, %s image: the daemon starts, or refuses with a "
              "clear error (%s; log %s; replay with --seed %" PRIu64 ")",
              cut + 1, what, pc_variant_name(v), why, log, pct.seed);
    h_note("cut %d, %s, %s image: refused (%s)", cut + 1, what,
           pc_variant_name(v), why);
}

/* Build one image of 'file' from base + log into 'out'. */
void
pcr_build(const struct pc_log *log, const char *file, const char *base,
          const char *out, enum pc_variant v, struct pc_image_stats *st)
{
    char err[512];
    int id = pc_log_file(log, file);

    if (id < 0) {
        /* Nothing recorded: the daemon never opened its store. */
        H_ENSURE(base != NULL && pcr_copy(base, out) == 0,
                 "no %s in the log and no base to copy", file);
        memset(st, 0, sizeof(*st));
        return;
    }
    H_ENSURE(pc_image_build(log, id, base, out, v, &pct.rng, st, err,
                            sizeof(err)) == 0,
             "build the %s image of %s: %s", pc_variant_name(v), file, err);
    pct.durable_writes += v == PC_IMG_DURABLE ? st->durable : 0;
    pct.later_writes += v == PC_IMG_DURABLE ? st->later : 0;
    pct.torn_pieces += st->pieces_torn;
}

struct pc_log *
pcr_load_log(const char *path)
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
