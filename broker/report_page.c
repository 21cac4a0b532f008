/*
 * report_page.c - the coalition's report from the store (loop thread)
 * and its page on the HTTP endpoint (report.h).
 *
 * Computing it reads every referral record, so it is done only when
 * asked: `krctl report` computes it on the loop, in one read
 * transaction; the page is computed by the loop's cron, in slices, into
 * a cached HTML document, at most once every S_PAGE_MS and only while
 * the page was asked for in the last S_PAGE_IDLE_MS, so that a broker
 * nobody looks at pays nothing. The HTTP thread only copies the cached
 * document under a mutex: it never touches LMDB or the loop's state.
 */
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "bstore.h"
#include "daemon.h"
#include "log.h"
#include "report.h"

#define S_PAGE_MS 10000       /* the page is at most this old */
#define S_PAGE_IDLE_MS 120000 /* not asked for this long: not computed */
/* A request for a stale page waits this long for a fresh one. Not more:
 * libmicrohttpd runs one thread, so /metrics and /readyz wait with it. */
#define S_PAGE_WAIT_MS 1000

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_cond = PTHREAD_COND_INITIALIZER;
static struct kr_buf s_page; /* under s_lock */
static uint64_t s_page_mono; /* under s_lock: when computed (0: never) */
static uint64_t s_page_gen;  /* under s_lock */
static _Atomic uint64_t s_asked_mono; /* the page's last request */

/* A scan of the referrals, whole or in slices. */
struct s_scan {
    struct report *r;
    uint8_t after[16]; /* the last record read */
    bool started;
    size_t n, max; /* read in this slice, its bound */
};

static int
s_add(Kr__V1__ReferralRecord *rec, void *arg)
{
    struct s_scan *sc = arg;

    report_add(sc->r, rec);
    if (rec->referral_id.len == 16) {
        memcpy(sc->after, rec->referral_id.data, 16);
        sc->started = true;
    }
    kr__v1__referral_record__free_unpacked(rec, NULL);
    return ++sc->n >= sc->max;
}

/* The queues, as `krctl queues` reads them. */
static void
s_queues(struct broker *b, MDB_txn *txn, struct report *r)
{
    ORGS_FOREACH(b, o)
    {
        uint64_t depth = 0, first = 0, oldest = 0;
        const uint8_t *data;
        size_t len;
        bstore_queue_stat(b->store, txn, o->id, &depth, &first);
        if (depth > 0 &&
            bstore_queue_get(b->store, txn, o->id, first, &data, &len) == 0) {
            Kr__V1__QueueItem *it = kr__v1__queue_item__unpack(NULL, len, data);
            if (it != NULL && it->enqueued_at_ms <= r->now_ms)
                oldest = r->now_ms - it->enqueued_at_ms;
            if (it != NULL)
                kr__v1__queue_item__free_unpacked(it, NULL);
        }
        report_queue(r, o->id, depth, oldest);
    }
}

int
report_compute(struct broker *b, int month, struct report *r)
{
    struct s_scan sc = {.r = r, .max = SIZE_MAX};
    MDB_txn *txn;
    int rc;

    report_init(r, month, util_now_ms());
    if ((rc = bstore_begin(b->store, true, &txn)) != 0)
        return rc;
    rc = bstore_referral_scan(b->store, txn, NULL, NULL, s_add, &sc);
    s_queues(b, txn, r);
    bstore_abort(txn);
    report_finish(r);
    return rc;
}

/*
 * The page: scanned in slices of S_PAGE_SLICE records, one a cron tick
 * (100 ms), each in a read transaction of its own, so that the loop
 * never stops for long however many referrals the store holds (about
 * 5-10 ms a slice, docs/OPERATIONS.md). A referral that moves while the
 * scan runs is counted as it was when its slice read it; new ones have
 * larger ids (time-ordered) and are read by a later slice.
 */
#define S_PAGE_SLICE 5000

static struct report s_work; /* loop thread only */
static struct s_scan s_cur;
static bool s_working;

static void
s_publish(struct kr_buf *html)
{
    pthread_mutex_lock(&s_lock);
    buf_free(&s_page);
    s_page = *html;
    s_page_mono = util_mono_ms();
    s_page_gen++;
    pthread_cond_broadcast(&s_cond);
    pthread_mutex_unlock(&s_lock);
}

void
report_page_cron(struct broker *b)
{
    uint64_t mono = util_mono_ms(), asked = atomic_load(&s_asked_mono);
    struct kr_buf html = {NULL, 0, 0};
    MDB_txn *txn;
    int rc;

    if (!s_working) {
        if (asked == 0 || mono - asked > S_PAGE_IDLE_MS)
            return;
        pthread_mutex_lock(&s_lock);
        bool fresh = s_page_mono != 0 && mono - s_page_mono < S_PAGE_MS;
        pthread_mutex_unlock(&s_lock);
        if (fresh)
            return;
        report_init(&s_work, 0, util_now_ms());
        memset(&s_cur, 0, sizeof(s_cur));
        s_working = true;
    }
    s_cur.r = &s_work;
    s_cur.n = 0;
    s_cur.max = S_PAGE_SLICE;
    if ((rc = bstore_begin(b->store, true, &txn)) == 0) {
        rc = bstore_referral_scan(b->store, txn,
                                  s_cur.started ? s_cur.after : NULL, NULL,
                                  s_add, &s_cur);
        if (rc == 0 && s_cur.n < s_cur.max)
            s_queues(b, txn, &s_work); /* the last slice */
        bstore_abort(txn);
    }
    if (rc != 0) {
        log_warnx("report: the store could not be read: the page keeps "
                  "its last figures");
        report_free(&s_work);
        s_working = false;
        return;
    }
    if (s_cur.n == s_cur.max)
        return; /* more at the next tick */
    report_finish(&s_work);
    report_html(&s_work, &html);
    log_debug("report: page computed referrals=%llu slices_ms=%llu",
              (unsigned long long)s_work.records,
              (unsigned long long)(util_now_ms() - s_work.now_ms));
    report_free(&s_work);
    s_working = false;
    s_publish(&html);
}

int
report_page_http(void *ctx, struct kr_buf *out)
{
    uint64_t mono = util_mono_ms();
    struct timespec dl;
    int status = 200;

    (void)ctx;
    atomic_store(&s_asked_mono, mono);
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += (long)S_PAGE_WAIT_MS * 1000000L;
    dl.tv_sec += dl.tv_nsec / 1000000000L;
    dl.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&s_lock);
    /* Stale or none: the loop's next tick (100 ms) computes one. If it
     * does not come in time, the stale one (it says when it was
     * computed), or 503 for the very first. */
    if (s_page_mono == 0 || mono - s_page_mono >= S_PAGE_MS) {
        uint64_t gen = s_page_gen;
        while (s_page_gen == gen &&
               pthread_cond_timedwait(&s_cond, &s_lock, &dl) != ETIMEDOUT)
            ;
    }
    if (s_page.len == 0) {
        kbuf_printf(out, "the report is not ready yet: try again\n");
        status = 503;
    } else {
        buf_reserve(out, out->len + s_page.len);
        memcpy(out->data + out->len, s_page.data, s_page.len);
        out->len += s_page.len;
    }
    pthread_mutex_unlock(&s_lock);
    return status;
}
