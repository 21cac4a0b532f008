/* workers.c - helper threads for the pass's CPU-bound crypto.
 *
 * Checking an Ed25519 signature costs ~57 us here, a third of what the
 * receiving node's loop spends on a delivery. The loop hands a batch of
 * independent checks to workers_run(), works on it itself, and returns
 * when every item is done: what the pass does next depends on all of
 * them. Items are taken in order from a shared counter, so a helper that
 * is late to wake costs nothing. One batch at a time; only the loop
 * thread calls workers_run(). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "node.h"

#define S_HELPERS_MAX 3

struct workers {
    pthread_t threads[S_HELPERS_MAX];
    unsigned n; /* helper threads started */
    pthread_mutex_t mu;
    pthread_cond_t wake; /* a new batch, or stop */
    pthread_cond_t idle; /* a helper finished its part */
    uint64_t batch;      /* generation: bumped for each batch */
    unsigned busy;       /* helpers still in the current batch */
    bool stop;
    /* The current batch, valid while busy > 0 or the loop works on it. */
    void (*fn)(void *arg, size_t i);
    void *arg;
    size_t count;
    atomic_size_t next;
};

/* Take items until none is left. */
static void
s_work(struct workers *w)
{
    size_t i;

    while ((i = atomic_fetch_add(&w->next, 1)) < w->count)
        w->fn(w->arg, i);
}

static void *
s_helper(void *arg)
{
    struct workers *w = arg;
    uint64_t seen = 0;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && w->batch == seen)
            pthread_cond_wait(&w->wake, &w->mu);
        if (w->stop)
            break;
        seen = w->batch;
        pthread_mutex_unlock(&w->mu);
        s_work(w);
        pthread_mutex_lock(&w->mu);
        if (--w->busy == 0)
            pthread_cond_signal(&w->idle);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

unsigned
workers_default(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    /* The loop thread is one worker; the helpers use the other CPUs. */
    if (cpus <= 1)
        return 0;
    return cpus - 1 < S_HELPERS_MAX ? (unsigned)(cpus - 1) : S_HELPERS_MAX;
}

int
workers_open(unsigned helpers, struct workers **out)
{
    struct workers *w = xcalloc(1, sizeof(*w));

    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->idle, NULL);
    if (helpers > S_HELPERS_MAX)
        helpers = S_HELPERS_MAX;
    for (unsigned i = 0; i < helpers; i++) {
        if (pthread_create(&w->threads[i], NULL, s_helper, w) != 0) {
            /* Fewer helpers is slower, not wrong. */
            log_warnx("workers: started %u of %u helper threads", i, helpers);
            break;
        }
        w->n++;
    }
    *out = w;
    return KR_OK;
}

void
workers_close(struct workers **wp)
{
    struct workers *w = *wp;

    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->n; i++)
        pthread_join(w->threads[i], NULL);
    pthread_cond_destroy(&w->idle);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->mu);
    free(w);
    *wp = NULL;
}

bool
workers_parallel(const struct workers *w)
{
    return w != NULL && w->n > 0;
}

void
workers_run(struct workers *w, void (*fn)(void *arg, size_t i), void *arg,
            size_t count)
{
    if (count == 0)
        return;
    if (!workers_parallel(w) || count == 1) {
        for (size_t i = 0; i < count; i++)
            fn(arg, i);
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->fn = fn;
    w->arg = arg;
    w->count = count;
    atomic_store(&w->next, 0);
    w->busy = w->n;
    w->batch++;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->mu);
    s_work(w);
    /* Every helper must have left s_work() before the batch's memory may
     * change: wait for all of them, not only for the last item. */
    pthread_mutex_lock(&w->mu);
    while (w->busy > 0)
        pthread_cond_wait(&w->idle, &w->mu);
    pthread_mutex_unlock(&w->mu);
}
