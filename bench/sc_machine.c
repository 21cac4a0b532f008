/*
 * sc_machine.c - what the machine itself can do right now, measured before
 * every run of every scenario, so that figures taken at different hours
 * can be compared.
 *
 * On the shared 2-vCPU machines this project runs on, the same build gives
 * window 256 figures from 26k to 47k msg/s depending on the hour: the
 * virtual disk's flushes and the CPU's speed both move. Every durable
 * point of kansrijk is a flush, and Ed25519 and BLAKE2b are most of its
 * CPU, so these four figures are the floor under all the others:
 *
 *   machine_fsync_p50_ms     an 8 KiB write into an allocated file and its
 *                            fdatasync, alone
 *   machine_fsync_x3_*_ms    the same from three threads on three files at
 *                            once, as the broker and two nodes of the e2e
 *                            scenario flush on one disk (p50 and p99)
 *   machine_verify_us        one Ed25519 verification of a 1.3 KiB
 *                            envelope (libsodium, as krnode does)
 *   machine_blake2b_ns_per_b BLAKE2b-256 over 1.3 KiB, per byte (the
 *                            broker's envelope and audit chain hashes)
 *   machine_pingpong_us      a round trip between two threads over pipes:
 *                            two wake-ups, as every ZeroMQ hop has (an
 *                            application thread hands a message to its I/O
 *                            thread and back); window 1 is mostly these
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define S_FILE_BYTES (4u << 20) /* written ahead, as the stores' files are */
#define S_WRITE_BYTES 8192      /* about a small commit's pages */
#define S_ROUNDS 200            /* flushes per thread */
#define S_WRITERS 3
#define S_VERIFIES 300
#define S_HASHES 2000
#define S_ENVELOPE_BYTES 1300
#define S_PINGPONGS 2000

struct s_writer {
    char path[BENCH_PATH];
    int fd;
    uint64_t lat_ns[S_ROUNDS]; /* one flush each */
    int rc;                    /* KR_OK, or what failed */
    char why[400];
};

/* The file, written with zeros and flushed, so that the rounds write into
 * blocks it has (the stores' files are written ahead too: prefill.c). */
static int
s_writer_open(struct s_writer *w, const char *dir, int i)
{
    static const uint8_t zeros[64 << 10];

    snprintf(w->path, sizeof(w->path), "%.300s/flush%d", dir, i);
    w->fd = open(w->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        snprintf(w->why, sizeof(w->why), "%.200s: %.100s", w->path,
                 strerror(errno));
        return KR_ESYS;
    }
    for (off_t off = 0; off < S_FILE_BYTES; off += sizeof(zeros)) {
        if (pwrite(w->fd, zeros, sizeof(zeros), off) != sizeof(zeros)) {
            snprintf(w->why, sizeof(w->why), "%.200s: write: %.100s", w->path,
                     strerror(errno));
            return KR_ESYS;
        }
    }
    if (fdatasync(w->fd) != 0) {
        snprintf(w->why, sizeof(w->why), "%.200s: fdatasync: %.100s", w->path,
                 strerror(errno));
        return KR_ESYS;
    }
    return KR_OK;
}

static void *
s_writer_run(void *arg)
{
    struct s_writer *w = arg;
    uint8_t page[S_WRITE_BYTES];

    memset(page, 0x5a, sizeof(page));
    w->rc = KR_OK;
    for (int r = 0; r < S_ROUNDS; r++) {
        off_t off = (off_t)(r % (S_FILE_BYTES / S_WRITE_BYTES)) * S_WRITE_BYTES;
        uint64_t t0 = bench_now_ns();
        if (pwrite(w->fd, page, sizeof(page), off) != sizeof(page) ||
            fdatasync(w->fd) != 0) {
            snprintf(w->why, sizeof(w->why), "%.200s: write and flush: %.100s",
                     w->path, strerror(errno));
            w->rc = KR_ESYS;
            return NULL;
        }
        w->lat_ns[r] = bench_now_ns() - t0;
    }
    return NULL;
}

/* 'n' writers at once; every flush's latency into all (n * S_ROUNDS). */
static int
s_flushes(struct s_writer *ws, int n, uint64_t *all, char *why, size_t len)
{
    pthread_t th[S_WRITERS];
    int started = 0, rc = KR_OK;

    for (int i = 0; i < n; i++) {
        if (pthread_create(&th[i], NULL, s_writer_run, &ws[i]) != 0) {
            snprintf(why, len, "machine: cannot start a writer thread");
            rc = KR_ESYS;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < started && rc == KR_OK; i++) {
        if (ws[i].rc != KR_OK) {
            snprintf(why, len, "machine: %.400s", ws[i].why);
            rc = ws[i].rc;
        }
        memcpy(all + (size_t)i * S_ROUNDS, ws[i].lat_ns, sizeof(ws[i].lat_ns));
    }
    return rc;
}

static int
s_disk(char *why, size_t len)
{
    char dir[BENCH_PATH];
    struct s_writer ws[S_WRITERS];
    uint64_t lat[S_WRITERS * S_ROUNDS];
    int rc = KR_OK, opened = 0;

    snprintf(dir, sizeof(dir), "%.200s/krbench-machine.XXXXXX", bench_dir);
    if (mkdtemp(dir) == NULL) {
        snprintf(why, len, "machine: mkdtemp: %s", strerror(errno));
        return KR_ESYS;
    }
    for (int i = 0; i < S_WRITERS && rc == KR_OK; i++) {
        ws[i].fd = -1;
        rc = s_writer_open(&ws[i], dir, i);
        opened++;
        if (rc != KR_OK)
            snprintf(why, len, "machine: %.400s", ws[i].why);
    }
    if (rc == KR_OK && (rc = s_flushes(ws, 1, lat, why, len)) == KR_OK)
        figures_add("machine_fsync_p50_ms", "ms", S_ROUNDS, TARGET_NONE, 0,
                    NULL, stats_percentile(lat, S_ROUNDS, 50) / 1e6);
    if (rc == KR_OK &&
        (rc = s_flushes(ws, S_WRITERS, lat, why, len)) == KR_OK) {
        size_t n = S_WRITERS * S_ROUNDS;
        figures_add("machine_fsync_x3_p50_ms", "ms", n, TARGET_NONE, 0, NULL,
                    stats_percentile(lat, n, 50) / 1e6);
        figures_add("machine_fsync_x3_p99_ms", "ms", n, TARGET_NONE, 0, NULL,
                    stats_percentile(lat, n, 99) / 1e6);
    }
    for (int i = 0; i < opened; i++) {
        if (ws[i].fd >= 0)
            close(ws[i].fd);
        unlink(ws[i].path);
    }
    rmdir(dir);
    return rc;
}

static int
s_cpu(char *why, size_t len)
{
    kr_keys_t *keys = NULL;
    uint8_t msg[S_ENVELOPE_BYTES], sig[KR_SIG_LEN], hash[32];
    int rc;

    if ((rc = kcrypto_keys_generate(&keys)) != KR_OK) {
        snprintf(why, len, "machine: keys: %s", kr_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 131u);
    if ((rc = kcrypto_sign(keys, msg, sizeof(msg), sig)) != KR_OK) {
        snprintf(why, len, "machine: sign: %s", kr_strerror(rc));
        goto done;
    }
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < S_VERIFIES; i++) {
        if ((rc = kcrypto_verify(keys->pub.sign, msg, sizeof(msg), sig,
                                 sizeof(sig))) != KR_OK) {
            snprintf(why, len, "machine: a good signature does not verify");
            goto done;
        }
    }
    figures_add("machine_verify_us", "us", S_VERIFIES, TARGET_NONE, 0, NULL,
                (double)(bench_now_ns() - t0) / 1e3 / S_VERIFIES);
    t0 = bench_now_ns();
    for (int i = 0; i < S_HASHES; i++) {
        kcrypto_hash(msg, sizeof(msg), hash);
        msg[0] ^= hash[0]; /* each hash depends on the last */
    }
    figures_add(
        "machine_blake2b_ns_per_b", "ns", S_HASHES, TARGET_NONE, 0, NULL,
        (double)(bench_now_ns() - t0) / ((double)S_HASHES * sizeof(msg)));
done:
    kcrypto_keys_destroy(&keys);
    return rc;
}

/* The other end of the ping-pong: answer every byte on 'fds[0]' with a
 * byte on 'fds[1]' until the pipe closes. It owns fds[1] and closes it
 * when it ends, so that the pinging side never waits for an answer that
 * cannot come. */
static void *
s_pong(void *arg)
{
    const int *fds = arg;
    char c;

    for (int i = 0; i < S_PINGPONGS && read(fds[0], &c, 1) == 1; i++)
        if (write(fds[1], &c, 1) != 1)
            break;
    close(fds[1]);
    return NULL;
}

static int
s_wakeups(char *why, size_t len)
{
    int ping[2], pong[2], ends[2], rc = KR_OK;
    pthread_t th;

    if (pipe(ping) != 0) {
        snprintf(why, len, "machine: pipe: %s", strerror(errno));
        return KR_ESYS;
    }
    if (pipe(pong) != 0) {
        snprintf(why, len, "machine: pipe: %s", strerror(errno));
        close(ping[0]);
        close(ping[1]);
        return KR_ESYS;
    }
    ends[0] = ping[0];
    ends[1] = pong[1];
    if (pthread_create(&th, NULL, s_pong, ends) != 0) {
        snprintf(why, len, "machine: cannot start the ping-pong thread");
        rc = KR_ESYS;
        goto done;
    }
    pong[1] = -1; /* the thread's now */
    uint64_t t0 = bench_now_ns();
    char c = 'p';
    for (int i = 0; i < S_PINGPONGS && rc == KR_OK; i++) {
        if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) {
            snprintf(why, len, "machine: ping-pong: no answer");
            rc = KR_ESYS;
        }
    }
    uint64_t ns = bench_now_ns() - t0;
    close(ping[1]); /* ends the other thread's reads, if it still waits */
    ping[1] = -1;
    pthread_join(th, NULL);
    if (rc == KR_OK)
        figures_add("machine_pingpong_us", "us", S_PINGPONGS, TARGET_NONE, 0,
                    NULL, (double)ns / 1e3 / S_PINGPONGS);
done:
    close(ping[0]);
    if (ping[1] >= 0)
        close(ping[1]);
    close(pong[0]);
    if (pong[1] >= 0)
        close(pong[1]);
    return rc;
}

int
sc_machine(char *why, size_t len)
{
    int rc = s_disk(why, len);

    if (rc == KR_OK)
        rc = s_cpu(why, len);
    return rc == KR_OK ? s_wakeups(why, len) : rc;
}
