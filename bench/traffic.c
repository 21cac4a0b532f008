/*
 * traffic.c - a producer and a consumer on the wire, driven from one
 * thread, with a timestamp for every step of every message.
 *
 * The producer keeps 'window' submits without an ACCEPTED receipt in
 * flight, in frames of at most 'batch' submits (a krnode sends 64 per
 * frame), and acknowledges each durable receipt (seq != 0) as it arrives:
 * the broker's window for its organisation would fill otherwise. The
 * consumer acknowledges every delivery at once, all acks of one received
 * frame in one frame, as a node does after its commit (which the raw
 * consumer does not have: it measures the broker, not a node).
 *
 * A message's index is in its msg_id (bench_msg_id), so that a receipt or
 * a delivery is matched without a table.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "envelope.pb-c.h"
#include "names.h"
#include "util.h"

#define S_POLL_MS 5
#define S_FRAMES_PER_ROUND 1024
#define S_RSS_EVERY_NS 50000000ull
#define S_BATCH_MAX 256

/*
 * Envelopes, in chunks.
 */

struct s_chunk {
    uint64_t first, count;
    uint8_t *arena; /* count * stride bytes */
    size_t *len;
    uint8_t (*sig)[KR_SIG_LEN];
};

struct source {
    const struct msg_ctx *m;
    uint8_t prefix[12];
    uint8_t *content;
    size_t content_len;
    size_t stride; /* envelope_max(content_len) */
    uint64_t n, chunk;
    struct s_chunk bufs[2];
    int cur; /* the buffer that holds chunk 'cur_chunk' */
    uint64_t cur_chunk;
    pthread_t builder; /* builds the next chunk into bufs[1 - cur] */
    bool building;
    int build_rc;
    uint64_t build_chunk;
};

static int
s_build(struct source *s, struct s_chunk *c, uint64_t k)
{
    uint8_t id[16];
    int rc;

    c->first = k * s->chunk;
    c->count = s->n - c->first < s->chunk ? s->n - c->first : s->chunk;
    for (uint64_t j = 0; j < c->count; j++) {
        bench_msg_id(s->prefix, c->first + j, id);
        rc = envelope_referral(s->m, id, s->content, s->content_len,
                               c->arena + j * s->stride, &c->len[j], c->sig[j]);
        if (rc != KR_OK)
            return rc;
    }
    return KR_OK;
}

static void *
s_builder_main(void *arg)
{
    struct source *s = arg;

    s->build_rc = s_build(s, &s->bufs[1 - s->cur], s->build_chunk);
    return NULL;
}

static int
s_start_builder(struct source *s, uint64_t k)
{
    s->build_chunk = k;
    s->build_rc = KR_OK;
    if (pthread_create(&s->builder, NULL, s_builder_main, s) != 0)
        return KR_ESYS;
    s->building = true;
    return KR_OK;
}

int
source_new(const struct msg_ctx *m, const uint8_t prefix[12], size_t size,
           uint64_t n, uint64_t chunk, struct source **out)
{
    struct source *s = xcalloc(1, sizeof(*s));
    int rc;

    s->m = m;
    memcpy(s->prefix, prefix, 12);
    s->n = n;
    s->chunk = chunk < n ? chunk : n;
    if (s->chunk == 0)
        s->chunk = 1;
    if ((rc = content_referral(size, &s->content, &s->content_len)) != KR_OK)
        goto fail;
    s->stride = envelope_max(s->content_len);
    for (int b = 0; b < (n > s->chunk ? 2 : 1); b++) {
        s->bufs[b].arena = xmalloc(s->chunk * s->stride);
        s->bufs[b].len = xcalloc(s->chunk, sizeof(size_t));
        s->bufs[b].sig = xcalloc(s->chunk, KR_SIG_LEN);
    }
    /* The first chunk before the clock; the second in the background. */
    if ((rc = s_build(s, &s->bufs[0], 0)) != KR_OK)
        goto fail;
    if (n > s->chunk && (rc = s_start_builder(s, 1)) != KR_OK)
        goto fail;
    *out = s;
    return KR_OK;
fail:
    source_destroy(&s);
    return rc;
}

void
source_destroy(struct source **sp)
{
    struct source *s = *sp;

    if (s == NULL)
        return;
    if (s->building)
        pthread_join(s->builder, NULL);
    for (int b = 0; b < 2; b++) {
        free(s->bufs[b].arena);
        free(s->bufs[b].len);
        free(s->bufs[b].sig);
    }
    free(s->content);
    free(s);
    *sp = NULL;
}

/* Envelope i. Moving to the next chunk waits for its builder, then starts
 * the one after into the buffer just finished with. */
static int
s_source_get(struct source *s, uint64_t i, const uint8_t **env, size_t *len,
             const uint8_t **sig)
{
    uint64_t k = i / s->chunk;
    int rc;

    if (k != s->cur_chunk) {
        if (!s->building || s->build_chunk != k)
            return KR_EINVAL; /* only forward, one chunk at a time */
        pthread_join(s->builder, NULL);
        s->building = false;
        if (s->build_rc != KR_OK)
            return s->build_rc;
        s->cur = 1 - s->cur;
        s->cur_chunk = k;
        if ((k + 1) * s->chunk < s->n &&
            (rc = s_start_builder(s, k + 1)) != KR_OK)
            return rc;
    }
    const struct s_chunk *c = &s->bufs[s->cur];
    uint64_t j = i - c->first;
    *env = c->arena + j * s->stride;
    *len = c->len[j];
    *sig = c->sig[j];
    return KR_OK;
}

/* The first index of the chunk after the one that holds i. */
static uint64_t
s_chunk_end(const struct source *s, uint64_t i)
{
    return (i / s->chunk + 1) * s->chunk;
}

/*
 * The traffic.
 */

int
traffic_init(struct traffic *t, uint64_t n)
{
    memset(t, 0, sizeof(*t));
    t->n = n;
    t->window = 256;
    t->batch = 64;
    uint8_t r[KR_ID_LEN];
    util_random_id(r);
    memcpy(t->prefix, r, sizeof(t->prefix));
    util_random_id(t->grant_id);
    /* calloc: 0 means "not yet" for every timestamp. */
    t->t_sub = xcalloc(n ? n : 1, sizeof(uint64_t));
    t->t_acc = xcalloc(n ? n : 1, sizeof(uint64_t));
    t->t_del = xcalloc(n ? n : 1, sizeof(uint64_t));
    t->t_rcpt = xcalloc(n ? n : 1, sizeof(uint64_t));
    return KR_OK;
}

void
traffic_free(struct traffic *t)
{
    free(t->t_sub);
    free(t->t_acc);
    free(t->t_del);
    free(t->t_rcpt);
    free(t->held);
    t->t_sub = t->t_acc = t->t_del = t->t_rcpt = NULL;
    t->held = NULL;
    t->nheld = t->capheld = 0;
}

static void s_fail(struct traffic *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
s_fail(struct traffic *t, const char *fmt, ...)
{
    va_list ap;

    if (t->err[0] != '\0')
        return; /* the first failure is the one to report */
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof(t->err), fmt, ap);
    va_end(ap);
}

static bool
s_ours(const struct traffic *t, const uint8_t *id, size_t len, uint64_t *idx)
{
    return bench_msg_index(t->prefix, id, len, idx) && *idx < t->n;
}

int
traffic_submit_one(struct traffic *t, const uint8_t *env, size_t len,
                   const uint8_t sig[KR_SIG_LEN])
{
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__Submit s = KR__V1__SUBMIT__INIT, *sp = &s;

    f.version = KR__V1__VERSION__VERSION_1;
    s.envelope.data = (uint8_t *)env;
    s.envelope.len = len;
    s.signature.data = (uint8_t *)sig;
    s.signature.len = KR_SIG_LEN;
    f.submit = &sp;
    f.n_submit = 1;
    return wire_send(t->prod, &f);
}

/* Fill the window: frames of up to 'batch' submits, never across a chunk
 * boundary (the builder reuses the finished chunk's buffer). */
static int
s_submit_more(struct traffic *t)
{
    Kr__V1__Submit items[S_BATCH_MAX], *ptrs[S_BATCH_MAX];
    int rc;

    for (int round = 0;
         round < 100000 && t->next < t->n && t->inflight < t->window; round++) {
        uint64_t k = t->window - t->inflight;
        if (k > t->batch)
            k = t->batch;
        if (k > S_BATCH_MAX)
            k = S_BATCH_MAX;
        if (k > t->n - t->next)
            k = t->n - t->next;
        uint64_t end = s_chunk_end(t->src, t->next);
        if (t->next + k > end)
            k = end - t->next;
        for (uint64_t j = 0; j < k; j++) {
            const uint8_t *env, *sig;
            size_t len;
            if ((rc = s_source_get(t->src, t->next + j, &env, &len, &sig)) !=
                KR_OK) {
                s_fail(t, "building envelope %llu: %s",
                       (unsigned long long)(t->next + j), kr_strerror(rc));
                return rc;
            }
            kr__v1__submit__init(&items[j]);
            items[j].envelope.data = (uint8_t *)env;
            items[j].envelope.len = len;
            items[j].signature.data = (uint8_t *)sig;
            items[j].signature.len = KR_SIG_LEN;
            ptrs[j] = &items[j];
        }
        Kr__V1__Frame f = KR__V1__FRAME__INIT;
        f.version = KR__V1__VERSION__VERSION_1;
        f.submit = ptrs;
        f.n_submit = k;
        uint64_t now = bench_now_ns();
        for (uint64_t j = 0; j < k; j++)
            t->t_sub[t->next + j] = now;
        if ((rc = wire_send(t->prod, &f)) != KR_OK) {
            s_fail(t, "sending submits: %s", kr_strerror(rc));
            return rc;
        }
        t->next += k;
        t->inflight += k;
    }
    return KR_OK;
}

/* Reused ack arrays: a frame may carry many items. */
struct s_acks {
    Kr__V1__Ack *v;
    Kr__V1__Ack **p;
    uint8_t (*ids)[16];
    size_t n, cap;
};

static void
s_acks_add(struct s_acks *a, uint64_t seq, const uint8_t *msg_id)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 256;
        a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
        a->p = xrealloc(a->p, a->cap * sizeof(*a->p));
        a->ids = xrealloc(a->ids, a->cap * sizeof(*a->ids));
    }
    kr__v1__ack__init(&a->v[a->n]);
    memcpy(a->ids[a->n], msg_id, 16);
    a->v[a->n].seq = seq;
    a->v[a->n].msg_id.data = a->ids[a->n];
    a->v[a->n].msg_id.len = 16;
    a->n++;
}

static int
s_acks_send(struct traffic *t, struct wire *w, struct s_acks *a)
{
    int rc = KR_OK;

    if (a->n == 0)
        return KR_OK;
    for (size_t i = 0; i < a->n; i++)
        a->p[i] = &a->v[i];
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    f.version = KR__V1__VERSION__VERSION_1;
    f.ack = a->p;
    f.n_ack = a->n;
    if ((rc = wire_send(w, &f)) != KR_OK)
        s_fail(t, "sending %zu acks as %s: %s", a->n, w->org, kr_strerror(rc));
    a->n = 0;
    return rc;
}

static void
s_acks_free(struct s_acks *a)
{
    free(a->v);
    free(a->p);
    free(a->ids);
}

static void
s_frame_error(struct traffic *t, const char *who, const Kr__V1__FrameError *e)
{
    s_fail(t, "broker sent %s a frame error: reason=%s detail=\"%s\"%s", who,
           reason_name(e->reason), e->detail ? e->detail : "",
           e->fatal ? " (fatal)" : "");
}

static void
s_on_prod(struct traffic *t, const Kr__V1__Frame *f, struct s_acks *acks,
          uint64_t now)
{
    if (f->error != NULL)
        s_frame_error(t, "the producer", f->error);
    for (size_t i = 0; i < f->n_receipt; i++) {
        const Kr__V1__Receipt *r = f->receipt[i];
        uint64_t idx = 0;
        bool ours = s_ours(t, r->msg_id.data, r->msg_id.len, &idx);
        bool grant =
            r->msg_id.len == 16 && memcmp(r->msg_id.data, t->grant_id, 16) == 0;

        if (r->seq != 0 && r->msg_id.len == 16)
            s_acks_add(acks, r->seq, r->msg_id.data);
        if (r->outcome == KR__V1__OUTCOME__ACCEPTED) {
            if (grant) {
                t->grant_acc = true;
                t->last_progress_ns = now;
            } else if (ours && t->t_acc[idx] == 0) {
                t->t_acc[idx] = now;
                t->n_acc++;
                if (t->inflight > 0)
                    t->inflight--;
                t->last_progress_ns = now;
            }
        } else if (r->outcome == KR__V1__OUTCOME__DELIVERED) {
            if (grant) {
                t->grant_rcpt = true;
                t->last_progress_ns = now;
            } else if (ours && t->t_rcpt[idx] == 0) {
                t->t_rcpt[idx] = now;
                t->n_rcpt++;
                t->last_progress_ns = now;
            }
        } else if (ours || grant) {
            s_fail(t, "message %s%llu: %s reason=%s detail=\"%s\"",
                   grant ? "grant " : "",
                   grant ? 0ull : (unsigned long long)idx,
                   outcome_name(r->outcome), reason_name(r->reason),
                   r->detail ? r->detail : "");
        }
    }
    for (size_t i = 0; i < f->n_notice; i++)
        if (f->notice[i]->seq != 0 && f->notice[i]->notice_id.len == 16)
            s_acks_add(acks, f->notice[i]->seq, f->notice[i]->notice_id.data);
}

/* The msg_id of an envelope as delivered. A serialized Envelope starts
 * with version (field 1) and msg_id (field 2), as protobuf-c writes fields
 * in order: read it there without unpacking the whole; any other shape is
 * unpacked. */
static bool
s_env_msg_id(const uint8_t *env, size_t len, uint8_t out[16])
{
    Kr__V1__Envelope *e;
    bool ok;

    if (len >= 20 && env[0] == 0x08 && env[1] == 0x01 && env[2] == 0x12 &&
        env[3] == 0x10) {
        memcpy(out, env + 4, 16);
        return true;
    }
    if ((e = kr__v1__envelope__unpack(NULL, len, env)) == NULL)
        return false;
    ok = e->msg_id.len == 16;
    if (ok)
        memcpy(out, e->msg_id.data, 16);
    kr__v1__envelope__free_unpacked(e, NULL);
    return ok;
}

/* A delivery the consumer holds as its own: acked, and counted once. */
static void
s_cons_take(struct traffic *t, struct s_acks *acks, uint64_t seq,
            const uint8_t id[16], uint64_t now)
{
    uint64_t idx = 0;

    s_acks_add(acks, seq, id);
    if (s_ours(t, id, 16, &idx)) {
        if (t->t_del[idx] == 0) {
            t->t_del[idx] = now;
            t->n_del++;
        }
    } else {
        t->other_del++;
    }
    t->last_progress_ns = now;
}

static void
s_on_cons(struct traffic *t, const Kr__V1__Frame *f, struct s_acks *acks,
          uint64_t now)
{
    uint8_t id[16];

    if (f->error != NULL)
        s_frame_error(t, "the consumer", f->error);
    for (size_t i = 0; i < f->n_delivery; i++) {
        const Kr__V1__Delivery *d = f->delivery[i];
        if (!s_env_msg_id(d->envelope.data, d->envelope.len, id)) {
            s_fail(t, "a delivery (seq %llu) whose envelope does not parse",
                   (unsigned long long)d->seq);
            continue;
        }
        if (d->provisional_pass == 0) {
            s_cons_take(t, acks, d->seq, id, now);
            continue;
        }
        if (t->nheld == t->capheld) {
            t->capheld = t->capheld ? 2 * t->capheld : 256;
            t->held = xrealloc(t->held, t->capheld * sizeof(*t->held));
        }
        struct traffic_held *h = &t->held[t->nheld++];
        h->pass = d->provisional_pass;
        h->seq = d->seq;
        memcpy(h->id, id, 16);
    }
    for (size_t i = 0; i < f->n_pass_result; i++) {
        const Kr__V1__PassResult *r = f->pass_result[i];
        size_t j = 0;
        for (size_t k = 0; k < t->nheld; k++) {
            if (t->held[k].pass != r->pass) {
                t->held[j++] = t->held[k];
                continue;
            }
            /* Not committed: dropped; the broker sends it again. */
            if (r->committed)
                s_cons_take(t, acks, t->held[k].seq, t->held[k].id, now);
        }
        t->nheld = j;
    }
    /* Receipts and notices for the consumer's organisation: acknowledge,
     * so that its queue does not hold them. */
    for (size_t i = 0; i < f->n_receipt; i++)
        if (f->receipt[i]->seq != 0 && f->receipt[i]->msg_id.len == 16)
            s_acks_add(acks, f->receipt[i]->seq, f->receipt[i]->msg_id.data);
    for (size_t i = 0; i < f->n_notice; i++)
        if (f->notice[i]->seq != 0 && f->notice[i]->notice_id.len == 16)
            s_acks_add(acks, f->notice[i]->seq, f->notice[i]->notice_id.data);
}

static bool
s_done(const struct traffic *t, enum traffic_goal goal)
{
    switch (goal) {
    case GOAL_GRANT_ACCEPTED:
        return t->grant_acc;
    case GOAL_GRANT_DELIVERED:
        return t->grant_rcpt;
    case GOAL_ALL_ACCEPTED:
        return t->n_acc == t->n;
    case GOAL_ALL_DELIVERED:
        return t->n_del == t->n;
    case GOAL_ALL_RECEIPTS:
        return t->n_rcpt == t->n && (t->no_deliveries || t->n_del == t->n);
    }
    return false;
}

/* Read what one socket holds: handle each frame, answer it with its acks. */
static void
s_drain(struct traffic *t, struct wire *w, bool producer, struct s_acks *acks)
{
    for (int k = 0; k < S_FRAMES_PER_ROUND; k++) {
        Kr__V1__Frame *f = NULL;
        int rc = wire_recv(w, 0, &f);
        if (rc != KR_OK) {
            s_fail(t, "reading as %s: %s", w->org, kr_strerror(rc));
            return;
        }
        if (f == NULL)
            return;
        uint64_t now = bench_now_ns();
        if (producer)
            s_on_prod(t, f, acks, now);
        else
            s_on_cons(t, f, acks, now);
        kr__v1__frame__free_unpacked(f, NULL);
        s_acks_send(t, w, acks);
    }
}

int
traffic_run(struct traffic *t, enum traffic_goal goal, int stall_ms,
            uint64_t deadline_ns)
{
    struct s_acks acks = {0};
    uint64_t next_rss = 0, now;
    int rc = KR_OK;

    t->last_progress_ns = bench_now_ns();
    for (long round = 0; round < 2000000000L; round++) {
        if (s_done(t, goal))
            break;
        if (t->prod != NULL && t->src != NULL &&
            (goal == GOAL_ALL_ACCEPTED || goal == GOAL_ALL_RECEIPTS) &&
            s_submit_more(t) != KR_OK) {
            rc = KR_EIO;
            break;
        }
        bool pr = false, cr = false;
        if ((rc = wire_poll2(t->prod, t->cons, S_POLL_MS, &pr, &cr)) != KR_OK) {
            s_fail(t, "poll: %s", kr_strerror(rc));
            break;
        }
        if (pr)
            s_drain(t, t->prod, true, &acks);
        if (cr)
            s_drain(t, t->cons, false, &acks);
        if (t->err[0] != '\0') {
            rc = KR_EIO;
            break;
        }
        now = bench_now_ns();
        if (t->watch_pid > 0 && now >= next_rss) {
            uint64_t anon, file;
            if (cluster_rss_kb(t->watch_pid, &anon, &file) == KR_OK &&
                anon > t->anon_max_kb)
                t->anon_max_kb = anon;
            next_rss = now + S_RSS_EVERY_NS;
        }
        if (now - t->last_progress_ns > (uint64_t)stall_ms * 1000000ull ||
            now >= deadline_ns) {
            s_fail(t,
                   "%s: submitted %llu of %llu, accepted %llu, delivered "
                   "%llu, delivered receipts %llu",
                   now >= deadline_ns ? "deadline passed"
                                      : "no progress for too long",
                   (unsigned long long)t->next, (unsigned long long)t->n,
                   (unsigned long long)t->n_acc, (unsigned long long)t->n_del,
                   (unsigned long long)t->n_rcpt);
            rc = KR_ETIMEDOUT;
            break;
        }
    }
    s_acks_free(&acks);
    return rc;
}
