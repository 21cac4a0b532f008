/*
 * sc_e2e.c - end to end through two krnodes: adapters (libkr clients, one
 * per thread) hand referrals to node A, which seals, signs, stores and
 * submits them; the broker routes them; node B verifies, opens and stores
 * them; a receiver polls B's inbox as an adapter would.
 *
 * How time is taken: a message starts when its adapter calls kr_send (in
 * the paced run: at its scheduled moment, even if the sender is late, so
 * that a stall is not hidden by sending later); it ends when the answer to
 * an inbox request that first lists it arrives. The receiver asks B's
 * inbox (ListRequest after_seq) back to back with wait_ms set, as an
 * adapter would: B answers a waiting request right after the commit that
 * holds a message, so the receiver sees it without polling.
 *
 * Last, node B's own pace: B is stopped, the adapters hand the burst's
 * count to node A (the broker queues it for B), B starts again, and the
 * receiver times B's inbox from its first new message to the last, as a
 * JGZ node back from maintenance would take in what waited for it.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "content.pb-c.h"
#include "local.pb-c.h"
#include "util.h"

#define S_STALL_MS 30000
#define S_CLIENT_MS 30000
#define S_WAIT_MS 1000 /* the receiver's long poll */
#define S_PAGE 1000
#define S_MAX_SENDERS 64
#define S_YEAR_MS (365ull * 24 * 3600 * 1000)

struct s_run {
    const char *node_a; /* A's local endpoint */
    const char *node_b;
    const char *recipient;
    uint8_t prefix[12];
    uint64_t n;
    uint64_t *t_start; /* ns: handed over (or scheduled) */
    uint64_t *t_taken; /* ns: node A answered: stored, in its outbox */
    uint64_t *t_woke;  /* ns: paced: the sender woke to hand it over */
    uint64_t *t_seen;  /* ns: listed in B's inbox */
    uint64_t *t_node;  /* ms: B's own received_at_ms of it */
    const uint8_t *content;
    size_t content_len;
    uint64_t after_seq; /* B's inbox before the run */
    uint64_t end_seq;   /* B's inbox after it, as the receiver last saw */
    bool paced;
    bool no_receiver; /* senders only: B is offline */
    uint64_t t0, interval_ns;
    int nsenders;
    atomic_int stop; /* a thread failed: the others give up */
    char err[BENCH_ERR];
    pthread_mutex_t err_lock;
};

struct s_sender {
    struct s_run *r;
    int k;
};

static void s_fail(struct s_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
s_fail(struct s_run *r, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&r->err_lock);
    if (r->err[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(r->err, sizeof(r->err), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&r->err_lock);
    atomic_store(&r->stop, 1);
}

/* A LocalRequest{send} packed into a malloc'd buffer. */
static int
s_pack_send(Kr__V1__SendRequest *s, uint8_t **buf, size_t *len)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_SEND;
    req.send = s;
    *len = kr__v1__local_request__get_packed_size(&req);
    if ((*buf = malloc(*len)) == NULL)
        return KR_ENOMEM;
    kr__v1__local_request__pack(&req, *buf);
    return KR_OK;
}

static void *
s_sender_main(void *arg)
{
    struct s_sender *sd = arg;
    struct s_run *r = sd->r;
    kr_client_t *kc = NULL;
    uint8_t id[16], got[16], *buf = NULL;
    size_t len = 0;
    int rc;

    if ((rc = kr_client_connect(r->node_a, S_CLIENT_MS, &kc)) != KR_OK) {
        s_fail(r, "adapter %d: connect to node A: %s", sd->k, kr_strerror(rc));
        return NULL;
    }
    for (uint64_t i = (uint64_t)sd->k; i < r->n && !atomic_load(&r->stop);
         i += (uint64_t)r->nsenders) {
        Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
        bench_msg_id(r->prefix, i, id);
        s.type = KR__V1__MESSAGE_TYPE__REFERRAL;
        s.recipient = (char *)r->recipient;
        s.msg_id.data = id;
        s.msg_id.len = 16;
        s.subject_bsn = (char *)BENCH_BSN;
        s.purpose = (char *)BENCH_PURPOSE;
        s.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
        s.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
        s.priority = KR__V1__PRIORITY__ROUTINE;
        s.content.data = (uint8_t *)r->content;
        s.content.len = r->content_len;
        if ((rc = s_pack_send(&s, &buf, &len)) != KR_OK) {
            s_fail(r, "adapter %d: %s", sd->k, kr_strerror(rc));
            break;
        }
        if (r->paced) {
            uint64_t at = r->t0 + i * r->interval_ns;
            bench_sleep_until_ns(at);
            r->t_start[i] = at;
            r->t_woke[i] = bench_now_ns();
        } else {
            r->t_start[i] = bench_now_ns();
        }
        rc = kr_send(kc, buf, len, got);
        r->t_taken[i] = bench_now_ns();
        free(buf);
        buf = NULL;
        if (rc != KR_OK) {
            s_fail(r, "adapter %d: send of message %llu: %s", sd->k,
                   (unsigned long long)i, kr_strerror(rc));
            break;
        }
    }
    kr_client_destroy(&kc);
    return NULL;
}

/*
 * Where the burst's CPU goes: each process's CPU per message, and how
 * busy the machine was (all CPUs, from /proc/stat). On two CPUs shared by
 * three daemons and the driver, this is what bounds the burst.
 */
struct s_cpu {
    struct sched_sample broker, node_a, node_b;
    struct rusage self;
    uint64_t busy_ticks, all_ticks;
    bool ok;
};

static void
s_cpu_read(struct cluster *c, int a, int b, struct s_cpu *out)
{
    unsigned long long v[8] = {0};
    FILE *f;

    memset(out, 0, sizeof(*out));
    out->ok =
        cluster_sched(c->broker.pid, c->tmp, &out->broker) == KR_OK &&
        cluster_sched(c->orgs[a].proc.pid, c->tmp, &out->node_a) == KR_OK &&
        cluster_sched(c->orgs[b].proc.pid, c->tmp, &out->node_b) == KR_OK;
    getrusage(RUSAGE_SELF, &out->self);
    if ((f = fopen("/proc/stat", "r")) != NULL) {
        /* cpu user nice system idle iowait irq softirq steal */
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
            out->all_ticks =
                v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
            out->busy_ticks = out->all_ticks - v[3] - v[4];
        }
        fclose(f);
    }
}

static void
s_cpu_figures(const struct s_cpu *c0, const struct s_cpu *c1, uint64_t n)
{
    if (!c0->ok || !c1->ok || n == 0)
        return;
    double self =
        (double)(c1->self.ru_utime.tv_sec - c0->self.ru_utime.tv_sec +
                 c1->self.ru_stime.tv_sec - c0->self.ru_stime.tv_sec) *
            1e6 +
        (double)(c1->self.ru_utime.tv_usec - c0->self.ru_utime.tv_usec +
                 c1->self.ru_stime.tv_usec - c0->self.ru_stime.tv_usec);
    double broker_us =
        (double)(c1->broker.all_run_ns - c0->broker.all_run_ns) / 1e3;
    double a_us = (double)(c1->node_a.all_run_ns - c0->node_a.all_run_ns) / 1e3;
    double b_us = (double)(c1->node_b.all_run_ns - c0->node_b.all_run_ns) / 1e3;
    figures_add("e2e_nodes_cpu_us_per_msg_broker", "us", n, TARGET_NONE, 0,
                NULL, broker_us / (double)n);
    figures_add("e2e_nodes_cpu_us_per_msg_node_a", "us", n, TARGET_NONE, 0,
                NULL, a_us / (double)n);
    figures_add("e2e_nodes_cpu_us_per_msg_node_b", "us", n, TARGET_NONE, 0,
                NULL, b_us / (double)n);
    figures_add("e2e_nodes_cpu_us_per_msg_krbench", "us", n, TARGET_NONE, 0,
                NULL, self / (double)n);
    /* The burst rate at which the four's CPU per message would fill every
     * CPU: the ceiling of this machine for this run's batching. */
    double all_us = broker_us + a_us + b_us + self;
    if (all_us > 0)
        figures_add("e2e_nodes_cpu_bound_msgs_per_s", "msg/s", n, TARGET_NONE,
                    0, NULL, bench_ncpu() * 1e6 * (double)n / all_us);
    if (c1->all_ticks > c0->all_ticks)
        figures_add("e2e_nodes_machine_busy_pct", "%", n, TARGET_NONE, 0, NULL,
                    100.0 * (double)(c1->busy_ticks - c0->busy_ticks) /
                        (double)(c1->all_ticks - c0->all_ticks));
}

/* One inbox page after 'after'. */
static int
s_inbox(kr_client_t *kc, uint64_t after, Kr__V1__LocalResponse **out)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;
    uint8_t buf[64], *resp = NULL;
    size_t len, rlen = 0;
    int rc;

    *out = NULL;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
    req.inbox = &lr;
    lr.after_seq = after;
    lr.limit = S_PAGE;
    lr.wait_ms = S_WAIT_MS;
    len = kr__v1__local_request__pack(&req, buf);
    if ((rc = kr_call(kc, buf, len, &resp, &rlen)) != KR_OK) {
        kr_buf_free(resp);
        return rc;
    }
    *out = kr__v1__local_response__unpack(NULL, rlen, resp);
    kr_buf_free(resp);
    return *out != NULL ? KR_OK : KR_EPROTO;
}

static void *
s_receiver_main(void *arg)
{
    struct s_run *r = arg;
    kr_client_t *kc = NULL;
    uint64_t after = r->after_seq, seen = 0, last_new = bench_now_ns();
    int rc;

    if ((rc = kr_client_connect(r->node_b, S_CLIENT_MS, &kc)) != KR_OK) {
        s_fail(r, "receiver: connect to node B: %s", kr_strerror(rc));
        return NULL;
    }
    for (long round = 0; round < 2000000000L && seen < r->n; round++) {
        Kr__V1__LocalResponse *resp = NULL;
        if (atomic_load(&r->stop))
            break;
        if ((rc = s_inbox(kc, after, &resp)) != KR_OK) {
            s_fail(r, "receiver: inbox: %s", kr_strerror(rc));
            break;
        }
        uint64_t now = bench_now_ns();
        for (size_t i = 0; i < resp->n_inbox; i++) {
            const Kr__V1__InboxItem *it = resp->inbox[i];
            if (it->seq > after)
                after = it->seq;
            uint64_t idx;
            if (!bench_msg_index(r->prefix, it->msg_id.data, it->msg_id.len,
                                 &idx))
                continue;
            if (idx < r->n && r->t_seen[idx] == 0) {
                r->t_seen[idx] = now;
                r->t_node[idx] = it->received_at_ms;
                seen++;
                last_new = now;
            }
        }
        kr__v1__local_response__free_unpacked(resp, NULL);
        if (seen == r->n)
            break;
        if (now - last_new > (uint64_t)S_STALL_MS * 1000000ull) {
            s_fail(r,
                   "receiver: nothing new in B's inbox for %d ms "
                   "(%llu of %llu seen)",
                   S_STALL_MS, (unsigned long long)seen,
                   (unsigned long long)r->n);
            break;
        }
    }
    r->end_seq = after;
    kr_client_destroy(&kc);
    return NULL;
}

/* Run one batch of n messages: senders and the receiver in threads. */
static int
s_run_batch(struct s_run *r, char *why, size_t len)
{
    pthread_t th[S_MAX_SENDERS], rth;
    struct s_sender sd[S_MAX_SENDERS];
    int started = 0;
    bool rstarted = false;

    r->t_start = xcalloc(r->n, sizeof(uint64_t));
    r->t_taken = xcalloc(r->n, sizeof(uint64_t));
    r->t_woke = xcalloc(r->n, sizeof(uint64_t));
    r->t_seen = xcalloc(r->n, sizeof(uint64_t));
    r->t_node = xcalloc(r->n, sizeof(uint64_t));
    uint8_t rnd[KR_ID_LEN];
    util_random_id(rnd);
    memcpy(r->prefix, rnd, sizeof(r->prefix));
    atomic_store(&r->stop, 0);
    r->err[0] = '\0';
    if (r->no_receiver)
        ; /* nothing is read: B is offline */
    else if (pthread_create(&rth, NULL, s_receiver_main, r) == 0)
        rstarted = true;
    else
        s_fail(r, "cannot start the receiver thread");
    /* A paced run starts a little later, so that every sender has
     * connected before its first moment. */
    r->t0 = bench_now_ns() + 200000000ull;
    for (int k = 0; k < r->nsenders && !atomic_load(&r->stop); k++) {
        sd[k].r = r;
        sd[k].k = k;
        if (pthread_create(&th[k], NULL, s_sender_main, &sd[k]) != 0) {
            s_fail(r, "cannot start sender thread %d", k);
            break;
        }
        started++;
    }
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    if (rstarted)
        pthread_join(rth, NULL);
    if (r->err[0] != '\0') {
        snprintf(why, len, "%s", r->err);
        return KR_EIO;
    }
    return KR_OK;
}

/* Node B's pace on a backlog: stop B, hand n messages to A, wait until the
 * broker holds them all, start B, and time B's inbox from its first new
 * message to its last. */
static int
s_recv_drain(struct cluster *c, int b, struct s_run *r, uint64_t n, char *why,
             size_t len)
{
    uint64_t pending = 1, deadline;
    int rc;

    if ((rc = cluster_node_stop(c, b)) != KR_OK) {
        snprintf(why, len, "%s", c->err);
        return rc;
    }
    r->n = n;
    r->paced = false;
    r->no_receiver = true;
    if ((rc = s_run_batch(r, why, len)) != KR_OK)
        return rc;
    deadline = bench_now_ns() + (uint64_t)S_STALL_MS * 1000000ull;
    for (long i = 0; i < 1000000L && bench_now_ns() < deadline; i++) {
        bool connected;
        rc = cluster_node_status(r->node_a, S_CLIENT_MS, &connected, &pending);
        if (rc != KR_OK || pending == 0)
            break;
        bench_sleep_ns(5000000);
    }
    if (rc != KR_OK || pending != 0) {
        snprintf(why, len, "node A: %llu not accepted by the broker (%s)",
                 (unsigned long long)pending, kr_strerror(rc));
        return rc != KR_OK ? rc : KR_ETIMEDOUT;
    }
    /* The senders' moments are not what is timed: B's arrivals are, by
     * B's own clock (received_at_ms), since B may take much of the
     * backlog before the receiver first asks. */
    memset(r->t_seen, 0, n * sizeof(uint64_t));
    memset(r->t_node, 0, n * sizeof(uint64_t));
    if ((rc = cluster_node_start(c, b)) != KR_OK) {
        snprintf(why, len, "%s", c->err);
        return rc;
    }
    r->err[0] = '\0';
    s_receiver_main(r);
    if (r->err[0] != '\0') {
        snprintf(why, len, "%s", r->err);
        return KR_EIO;
    }
    uint64_t first = UINT64_MAX, last = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (r->t_node[i] != 0 && r->t_node[i] < first)
            first = r->t_node[i];
        if (r->t_node[i] > last)
            last = r->t_node[i];
    }
    double secs = last > first ? (double)(last - first) / 1e3 : 0;
    double rate = secs > 0 ? (double)(n - 1) / secs : 0;
    figures_add("e2e_recv_drain_msgs_per_s", "msg/s", n, TARGET_NONE, 0, NULL,
                rate);
    fprintf(stderr,
            "krbench:   e2e node B drain: %llu messages in %.3f s: %.0f "
            "msg/s\n",
            (unsigned long long)n, secs, rate);
    return KR_OK;
}

/* The consent, through node A as an adapter records it; then wait until
 * B holds the grant, and note where B's inbox stands. */
static int
s_consent(struct cluster *c, int a, int b, uint64_t *after, char *why,
          size_t len)
{
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    Kr__V1__ConsentScope sc = KR__V1__CONSENT_SCOPE__INIT;
    kr_client_t *ka = NULL, *kb = NULL;
    uint8_t cid[16], id[16], *content = NULL, *buf = NULL;
    size_t clen = 0, blen = 0;
    uint64_t now = util_now_ms(), deadline;
    bool found = false;
    int rc;

    util_random_id(cid);
    sc.consent_id.data = cid;
    sc.consent_id.len = 16;
    sc.purpose = (char *)BENCH_PURPOSE;
    sc.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    sc.from_org = c->orgs[a].id;
    sc.to_org = c->orgs[b].id;
    sc.valid_from_ms = now - 3600 * 1000ull;
    sc.valid_until_ms = now + S_YEAR_MS;
    sc.grantor = KR__V1__GRANTOR__SELF;
    if ((rc = content_evidence(&content, &clen)) != KR_OK)
        goto done;
    s.type = KR__V1__MESSAGE_TYPE__CONSENT_GRANT;
    s.recipient = c->orgs[b].id;
    s.subject_bsn = (char *)BENCH_BSN;
    s.purpose = sc.purpose;
    s.data_category = sc.data_category;
    s.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
    s.consent_id = sc.consent_id;
    s.consent_scope = &sc;
    s.content.data = content;
    s.content.len = clen;
    if ((rc = s_pack_send(&s, &buf, &blen)) != KR_OK ||
        (rc = kr_client_connect(c->orgs[a].local, S_CLIENT_MS, &ka)) != KR_OK ||
        (rc = kr_send(ka, buf, blen, id)) != KR_OK ||
        (rc = kr_client_connect(c->orgs[b].local, S_CLIENT_MS, &kb)) != KR_OK)
        goto done;
    deadline = bench_now_ns() + (uint64_t)S_STALL_MS * 1000000ull;
    for (long i = 0; i < 100000 && !found && bench_now_ns() < deadline; i++) {
        Kr__V1__LocalResponse *resp = NULL;
        if ((rc = s_inbox(kb, 0, &resp)) != KR_OK)
            goto done;
        for (size_t k = 0; k < resp->n_inbox; k++) {
            if (resp->inbox[k]->seq > *after)
                *after = resp->inbox[k]->seq;
            if (resp->inbox[k]->msg_id.len == 16 &&
                memcmp(resp->inbox[k]->msg_id.data, id, 16) == 0)
                found = true;
        }
        kr__v1__local_response__free_unpacked(resp, NULL);
        if (!found)
            bench_sleep_ns(5000000);
    }
    rc = found ? KR_OK : KR_ETIMEDOUT;
done:
    if (rc != KR_OK)
        snprintf(why, len, "consent through node A: %s", kr_strerror(rc));
    kr_client_destroy(&ka);
    kr_client_destroy(&kb);
    free(content);
    free(buf);
    return rc;
}

static void
s_free_run(struct s_run *r)
{
    free(r->t_start);
    free(r->t_taken);
    free(r->t_woke);
    free(r->t_seen);
    free(r->t_node);
    r->t_start = r->t_taken = r->t_woke = r->t_seen = r->t_node = NULL;
}

/* Each daemon's own commits during the paced run: the share of its time
 * spent committing, how many a second, and their latency (its last 1,024
 * commits that wrote: mostly the paced run's). Not every build answers:
 * then there is no figure. */
static const char *const s_daemons[3] = {"broker", "node_a", "node_b"};

static void
s_commits_read(struct cluster *c, int a, int b, struct commit_stats out[3],
               bool ok[3])
{
    for (int i = 0; i < 3; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        ok[i] = (i == 0 ? cluster_broker_commits(c, &out[i])
                        : cluster_node_commits(c->orgs[i == 1 ? a : b].local,
                                               &out[i])) == KR_OK;
    }
}

static void
s_commit_figures(const struct commit_stats k0[3], const bool ok0[3],
                 const struct commit_stats k1[3], const bool ok1[3], uint64_t n,
                 uint64_t wall_ns)
{
    char prefix[64];

    for (int i = 0; i < 3; i++) {
        if (!ok0[i] || !ok1[i])
            continue;
        snprintf(prefix, sizeof(prefix), "e2e_nodes_1000_%s", s_daemons[i]);
        bench_commit_figures(prefix, n, &k0[i], &k1[i], wall_ns);
    }
}

int
sc_e2e(const struct bench_opts *o, uint64_t n_burst, uint64_t n_paced,
       char *why, size_t len)
{
    struct cluster c;
    struct s_run r;
    uint8_t *content = NULL;
    size_t clen = 0;
    uint64_t after = 0, *lat = NULL;
    bool failed = true;
    int a, b, rc;

    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&r.err_lock, NULL);
    if ((rc = cluster_init(&c, o, "e2e")) != KR_OK ||
        (rc = cluster_broker_start(&c)) != KR_OK ||
        (a = rc = cluster_org_add(&c, "a", "ura:00000001", "verloskunde")) <
            0 ||
        (b = rc = cluster_org_add(&c, "b", "ura:00000002", "jgz")) < 0) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    /* Each node keeps every message (outbox, inbox) with its content:
     * room for all of them, twice over. */
    uint64_t per = 3 * (uint64_t)o->size + 4096;
    uint64_t mb = (n_burst + n_paced + 16) * per * 2 / (1u << 20);
    c.orgs[a].map_mb = c.orgs[b].map_mb = mb > 256 ? mb : 256;
    if ((rc = cluster_node_start(&c, a)) != KR_OK ||
        (rc = cluster_node_start(&c, b)) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    if ((rc = s_consent(&c, a, b, &after, why, len)) != KR_OK)
        goto done;
    if ((rc = content_referral(o->size, &content, &clen)) != KR_OK) {
        snprintf(why, len, "content: %s", kr_strerror(rc));
        goto done;
    }
    r.node_a = c.orgs[a].local;
    r.node_b = c.orgs[b].local;
    r.recipient = c.orgs[b].id;
    r.content = content;
    r.content_len = clen;

    /* The burst: as fast as the adapters can hand over. */
    r.n = n_burst;
    r.after_seq = after;
    r.paced = false;
    r.nsenders = o->senders;
    struct s_cpu cpu0, cpu1;
    s_cpu_read(&c, a, b, &cpu0);
    if ((rc = s_run_batch(&r, why, len)) != KR_OK)
        goto done;
    s_cpu_read(&c, a, b, &cpu1);
    s_cpu_figures(&cpu0, &cpu1, r.n);
    uint64_t first = UINT64_MAX, last = 0;
    for (uint64_t i = 0; i < r.n; i++) {
        if (r.t_start[i] < first)
            first = r.t_start[i];
        if (r.t_seen[i] > last)
            last = r.t_seen[i];
    }
    double secs = (double)(last - first) / 1e9;
    figures_add("e2e_nodes_msgs_per_s", "msg/s", r.n, TARGET_GE, 10000, NULL,
                secs > 0 ? (double)r.n / secs : 0);
    fprintf(stderr,
            "krbench:   e2e burst: %llu messages in %.3f s: %.0f msg/s "
            "(%d adapters)\n",
            (unsigned long long)r.n, secs, secs > 0 ? (double)r.n / secs : 0,
            r.nsenders);
    /* The paced run starts after what the burst left in B's inbox. */
    after = r.end_seq;
    s_free_run(&r);

    /* 1,000 msgs/s, each at its scheduled moment. */
    if (n_paced > 0) {
        r.n = n_paced;
        r.after_seq = after;
        r.paced = true;
        r.interval_ns = 1000000; /* 1,000 msgs/s */
        struct commit_stats k0[3], k1[3];
        bool ok0[3], ok1[3];
        s_commits_read(&c, a, b, k0, ok0);
        uint64_t t0 = bench_now_ns();
        if ((rc = s_run_batch(&r, why, len)) != KR_OK)
            goto done;
        uint64_t wall = bench_now_ns() - t0;
        s_commits_read(&c, a, b, k1, ok1);
        lat = xcalloc(r.n, sizeof(uint64_t));
        last = 0;
        for (uint64_t i = 0; i < r.n; i++) {
            lat[i] = r.t_seen[i] - r.t_start[i];
            if (r.t_seen[i] > last)
                last = r.t_seen[i];
        }
        secs = (double)(last - r.t0) / 1e9;
        figures_add("e2e_nodes_1000_p50_ms", "ms", r.n, TARGET_NONE, 0, NULL,
                    stats_percentile(lat, r.n, 50) / 1e6);
        figures_add("e2e_nodes_1000_p99_ms", "ms", r.n, TARGET_LE, 3, NULL,
                    stats_percentile(lat, r.n, 99) / 1e6);
        figures_add("e2e_nodes_1000_msgs_per_s", "msg/s", r.n, TARGET_NONE, 0,
                    NULL, secs > 0 ? (double)r.n / secs : 0);
        fprintf(stderr,
                "krbench:   e2e at 1,000 msg/s: p50 %.3f ms, p99 %.3f ms\n",
                stats_percentile(lat, r.n, 50) / 1e6,
                stats_percentile(lat, r.n, 99) / 1e6);
        /* The first hop alone: how long an adapter waits for node A to
         * have the message on disk. */
        for (uint64_t i = 0; i < r.n; i++)
            lat[i] = r.t_taken[i] - r.t_start[i];
        figures_add("e2e_nodes_1000_handover_p50_ms", "ms", r.n, TARGET_NONE, 0,
                    NULL, stats_percentile(lat, r.n, 50) / 1e6);
        figures_add("e2e_nodes_1000_handover_p99_ms", "ms", r.n, TARGET_NONE, 0,
                    NULL, stats_percentile(lat, r.n, 99) / 1e6);
        /* How late the adapters woke for their moment: the machine's
         * timers, not kansrijk, yet it counts in every figure above. */
        for (uint64_t i = 0; i < r.n; i++)
            lat[i] = r.t_woke[i] - r.t_start[i];
        figures_add("e2e_nodes_1000_wake_late_p50_ms", "ms", r.n, TARGET_NONE,
                    0, NULL, stats_percentile(lat, r.n, 50) / 1e6);
        figures_add("e2e_nodes_1000_wake_late_p99_ms", "ms", r.n, TARGET_NONE,
                    0, NULL, stats_percentile(lat, r.n, 99) / 1e6);
        s_commit_figures(k0, ok0, k1, ok1, r.n, wall);
    }

    /* B's own pace on a backlog, after what the paced run left. */
    after = n_paced > 0 ? r.end_seq : after;
    s_free_run(&r);
    r.after_seq = after;
    if ((rc = s_recv_drain(&c, b, &r, n_burst, why, len)) != KR_OK)
        goto done;

    if ((rc = cluster_node_stop(&c, a)) != KR_OK ||
        (rc = cluster_node_stop(&c, b)) != KR_OK ||
        (rc = cluster_broker_stop(&c)) != KR_OK) {
        snprintf(why, len, "%s", c.err);
        goto done;
    }
    failed = false;
done:
    free(lat);
    s_free_run(&r);
    free(content);
    pthread_mutex_destroy(&r.err_lock);
    cluster_destroy(&c, failed);
    return failed ? (rc != KR_OK ? rc : KR_EIO) : KR_OK;
}
