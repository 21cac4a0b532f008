/*
 * prefill.c - keep a store's file written ahead of its writer (prefill.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "prefill.h"
#include "util.h"

/* Zeros written per turn of the lock: short enough that a writer waiting
 * for it loses a few tens of microseconds at most. */
#define S_CHUNK (256u << 10)
/* How often the helper looks again when it has nothing to do; the margin
 * ('ahead') covers far more than this much growth. */
#define S_IDLE_MS 50
/* After a failed write (a full disk), try again this much later: soon
 * enough that the file takes room as soon as the disk has some again. */
#define S_RETRY_MS 1000

struct prefill {
    pthread_t thread;
    /* Held by the writer for a whole write transaction, and by the helper
     * while it writes zeros. */
    pthread_mutex_t writer;
    /* Guards 'stop' and 'filled'; the condition wakes the helper to stop. */
    pthread_mutex_t state;
    pthread_cond_t wake;
    bool stop;
    uint64_t filled; /* the file is written up to here */
    int fd;
    uint64_t ahead, cap;
    prefill_used_fn used;
    void *arg;
};

static uint64_t
s_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Wait up to 'ms' or until told to stop; true when told to stop. */
static bool
s_idle(struct prefill *p, unsigned ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->state);
    while (!p->stop &&
           pthread_cond_timedwait(&p->wake, &p->state, &ts) != ETIMEDOUT)
        ;
    bool stop = p->stop;
    pthread_mutex_unlock(&p->state);
    return stop;
}

static int
s_write_zeros(int fd, const char *zeros, uint64_t off, size_t len)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, zeros, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        off += (uint64_t)w;
        len -= (size_t)w;
    }
    return 0;
}

/*
 * One turn: under the writer's lock, learn where the writer's data ends
 * and write one chunk of zeros past what is written. Returns 1 if it wrote
 * (the caller flushes and comes back), 0 if there was nothing to do, an
 * errno value if the write failed.
 */
static int
s_turn(struct prefill *p, const char *zeros, bool *filling)
{
    int rc = 0;

    pthread_mutex_lock(&p->writer);
    uint64_t used = p->used(p->arg);
    if (used == UINT64_MAX) { /* unknown: write nothing */
        pthread_mutex_unlock(&p->writer);
        return 0;
    }
    uint64_t target = s_min(p->cap, used + p->ahead);
    uint64_t filled = p->filled > used ? p->filled : used;
    /* Start again only when half the margin is used up, so that the
     * helper works in batches rather than after every commit. */
    if (!*filling && filled < s_min(p->cap, used + p->ahead / 2))
        *filling = true;
    if (*filling && filled < target) {
        size_t len = (size_t)s_min(S_CHUNK, target - filled);
        rc = s_write_zeros(p->fd, zeros, filled, len);
        if (rc == 0) {
            filled += len;
            rc = 1;
        }
    }
    if (filled >= target)
        *filling = false;
    pthread_mutex_unlock(&p->writer);

    pthread_mutex_lock(&p->state);
    p->filled = filled;
    pthread_mutex_unlock(&p->state);
    return rc;
}

static void *
s_run(void *arg)
{
    struct prefill *p = arg;
    char *zeros = xcalloc(1, S_CHUNK);
    bool filling = false;
    struct log_every fail_log = {0}; /* a full disk fails every turn */

    for (;;) {
        int rc = s_turn(p, zeros, &filling);
        if (rc == 1) {
            uint64_t dur, n;
            if (log_every_clear(&fail_log, util_mono_ms(), &dur, &n))
                log_warnx("store: prefill: writing ahead again after %llu "
                          "ms failed=%llu",
                          (unsigned long long)dur, (unsigned long long)n);
            /* Flush outside the lock: the writer's commit should find
             * neither dirty zeros nor a size to write. */
            if (fdatasync(p->fd) != 0)
                log_warnx("store: prefill: fdatasync: %s", strerror(errno));
            pthread_mutex_lock(&p->state);
            bool stop = p->stop;
            pthread_mutex_unlock(&p->state);
            if (stop)
                break;
            continue;
        }
        if (rc != 0) {
            /* A full disk: the store's own writes tell the operator; the
             * zeros already written stay usable. */
            uint64_t unlogged;
            if (log_every_hit(&fail_log, util_mono_ms(), 60000, &unlogged))
                log_warnx("store: prefill: writing ahead failed: %s; trying "
                          "again every %u ms failed_since_last_line=%llu",
                          strerror(rc), S_RETRY_MS,
                          (unsigned long long)unlogged);
            filling = false;
            if (s_idle(p, S_RETRY_MS))
                break;
            continue;
        }
        if (s_idle(p, S_IDLE_MS))
            break;
    }
    free(zeros);
    return NULL;
}

struct prefill *
prefill_start(int fd, uint64_t ahead, uint64_t cap, prefill_used_fn used,
              void *arg)
{
    struct prefill *p;
    struct stat sb;
    pthread_condattr_t ca;

    if (ahead == 0 || fd < 0 || used == NULL || fstat(fd, &sb) != 0)
        return NULL;
    p = xcalloc(1, sizeof(*p));
    p->fd = fd;
    p->ahead = ahead;
    p->cap = cap;
    p->used = used;
    p->arg = arg;
    /* What an earlier run wrote ahead is still there. */
    p->filled = (uint64_t)sb.st_size;
    pthread_mutex_init(&p->writer, NULL);
    pthread_mutex_init(&p->state, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &ca);
    pthread_condattr_destroy(&ca);
    /* Signals are the loop's business (its self-pipe): the helper starts
     * with all of them blocked, so that none interrupts it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->thread, NULL, s_run, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_warnx("store: prefill: no helper thread: %s; the file grows "
                  "with each commit",
                  strerror(rc));
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->state);
        pthread_mutex_destroy(&p->writer);
        free(p);
        return NULL;
    }
    return p;
}

void
prefill_writer_enter(struct prefill *p)
{
    if (p != NULL)
        pthread_mutex_lock(&p->writer);
}

void
prefill_writer_leave(struct prefill *p)
{
    if (p != NULL)
        pthread_mutex_unlock(&p->writer);
}

uint64_t
prefill_filled(struct prefill *p)
{
    if (p == NULL)
        return 0;
    pthread_mutex_lock(&p->state);
    uint64_t f = p->filled;
    pthread_mutex_unlock(&p->state);
    return f;
}

void
prefill_stop(struct prefill **pp)
{
    struct prefill *p = *pp;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->state);
    p->stop = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->state);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->state);
    pthread_mutex_destroy(&p->writer);
    free(p);
    *pp = NULL;
}
