/* erasure_records.c - see erasure_records.h. */
#define _GNU_SOURCE
#include "erasure_records.h"

#include <stdlib.h>
#include <string.h>

#include "bstore.h"
#include "bstore_erasure.h"
#include "log.h"

/* Bounds on what one erasure changes of each kind: a person has a few
 * referrals and a few messages in flight, not thousands. What lies past
 * a bound is logged; the register applies the erasure again at start. */
#define S_REFERRALS_MAX 1024
#define S_QUEUED_MAX 1024

void
erasure_holder_add(struct broker *b, struct erasure_holders *h, const char *org)
{
    struct org *o = org != NULL && org[0] != '\0' ? orgs_find(b, org) : NULL;

    if (o == NULL || o->removed || h->n == ERASURE_HOLDERS_MAX)
        return;
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->v[i], o->id) == 0)
            return;
    h->v[h->n++] = o->id;
}

int
erasure_referrals(struct broker *b, const uint8_t subject[32], uint64_t upto,
                  struct erasure_holders *h, unsigned *n)
{
    MDB_txn *txn = broker_txn(b);
    uint8_t(*ids)[16] = xmalloc(S_REFERRALS_MAX * 16);
    size_t nid = 0;
    int rc;

    *n = 0;
    if (txn == NULL) {
        rc = KR_ESTORE;
        goto out;
    }
    if ((rc = bstore_referrals_about(b->store, txn, subject, S_REFERRALS_MAX,
                                     ids, &nid)) != 0)
        goto out;
    if (nid == S_REFERRALS_MAX)
        log_warnx("erasure: more than %d referral records on one subject: "
                  "the rest at the next start (register)",
                  S_REFERRALS_MAX);
    for (size_t i = 0; i < nid; i++) {
        Kr__V1__ReferralRecord *r = NULL;
        if ((rc = bstore_referral_get(b->store, txn, ids[i], NULL, &r)) != 0)
            goto out;
        if (r->opened_at_ms > upto) { /* a referral made after the erasure */
            kr__v1__referral_record__free_unpacked(r, NULL);
            continue;
        }
        erasure_holder_add(b, h, r->placer);
        erasure_holder_add(b, h, r->performer);
        bool gone = false;
        if (r->case_id.len == 16)
            rc = bstore_case_subject_del(b->store, txn, r->case_id.data,
                                         subject, &gone);
        /* The pseudonym goes; the state, parties, codes and times stay:
         * they are what the coalition's figures count, and name no one
         * once the subject is gone. protobuf-c frees the bytes it
         * unpacked, so the field is emptied, not freed. */
        ProtobufCBinaryData keep = r->subject_pseudonym;
        r->subject_pseudonym = (ProtobufCBinaryData){0, NULL};
        if (rc == 0)
            rc = bstore_referral_put(b->store, txn, r);
        r->subject_pseudonym = keep;
        kr__v1__referral_record__free_unpacked(r, NULL);
        if (rc != 0)
            goto out;
        (*n)++;
    }
out:
    free(ids);
    return rc;
}

struct s_hit {
    uint64_t seq;
    uint8_t msg_id[16];
};

struct s_hits {
    struct broker *b;
    const uint8_t *subject;
    uint64_t upto;
    struct s_hit *v;
    size_t n;
};

static bool
s_is(ProtobufCBinaryData d, const uint8_t subject[32])
{
    return d.len == 32 && memcmp(d.data, subject, 32) == 0;
}

static int
s_payload_cb(uint64_t seq, const uint8_t *env, size_t len, void *arg)
{
    struct s_hits *h = arg;

    if (h->n == S_QUEUED_MAX)
        return 1;
    /* The subject travels in clear: search its bytes first, and unpack
     * only the envelopes that hold them (a backlog may be large). */
    if (memmem(env, len, h->subject, 32) == NULL)
        return 0;
    struct arena_mark mark = arena_mark(&h->b->pb);
    Kr__V1__Envelope *e =
        kr__v1__envelope__unpack(arena_allocator(&h->b->pb), len, env);
    if (e != NULL && e->msg_id.len == 16 && e->created_at_ms <= h->upto &&
        (s_is(e->subject_pseudonym, h->subject) ||
         s_is(e->previous_subject_pseudonym, h->subject))) {
        h->v[h->n].seq = seq;
        memcpy(h->v[h->n].msg_id, e->msg_id.data, 16);
        h->n++;
    }
    arena_release(&h->b->pb, mark);
    return 0;
}

int
erasure_queued(struct broker *b, const char *by, const uint8_t subject[32],
               uint64_t upto, struct erasure_holders *h, unsigned *n)
{
    MDB_txn *txn = broker_txn(b);
    struct s_hits hits = {b, subject, upto, NULL, 0};
    int rc;

    *n = 0;
    if (txn == NULL)
        return KR_ESTORE;
    hits.v = xmalloc(S_QUEUED_MAX * sizeof(*hits.v));
    if ((rc = bstore_payload_scan(b->store, txn, s_payload_cb, &hits)) != 0)
        goto out;
    if (hits.n == S_QUEUED_MAX)
        log_warnx("erasure: more than %d messages in flight on one subject: "
                  "the rest at the next start (register)",
                  S_QUEUED_MAX);
    for (size_t i = 0; i < hits.n; i++) {
        Kr__V1__StoredMessage *m = NULL;
        const uint8_t *mid = hits.v[i].msg_id;
        if (bstore_msg_get_at(b->store, txn, hits.v[i].seq, NULL, &m) != 0)
            continue;
        if (m->state != KR__V1__MESSAGE_STATE__QUEUED) {
            kr__v1__stored_message__free_unpacked(m, NULL);
            continue;
        }
        /* As a consent revoke does (handle_consent.c): a delivery sent
         * and not yet acknowledged cannot be unsent; it ends withdrawn
         * here, its ack is ignored, and its recipient is told of the
         * erasure, so that its node removes what it may hold. */
        struct org *to = orgs_find(b, m->recipient);
        bool in_flight =
            to != NULL && to->connected && m->queue_seq < to->cursor;
        if (to != NULL &&
            (rc = bstore_queue_del(b->store, txn, to->id, m->queue_seq)) != 0) {
            kr__v1__stored_message__free_unpacked(m, NULL);
            goto out;
        }
        if (in_flight && to->inflight > 0)
            to->inflight--;
        if (to != NULL)
            to->dirty = true;
        erasure_holder_add(b, h, m->sender);
        if (in_flight)
            erasure_holder_add(b, h, m->recipient);
        rc =
            deliver_finalize(b, mid, m, KR__V1__MESSAGE_STATE__STATE_WITHDRAWN,
                             KR__V1__OUTCOME__WITHDRAWN, KR__V1__REASON__ERASED,
                             "its subject was erased before delivery");
        if (rc == 0)
            rc = audit_write(
                b, &(struct audit_ev){.event = "message.withdrawn",
                                      .action = 'D',
                                      .org_id = by,
                                      .msg = m,
                                      .msg_id = mid,
                                      .reason = KR__V1__REASON__ERASED,
                                      .check = "subject erased (AVG art. 17)"});
        kr__v1__stored_message__free_unpacked(m, NULL);
        if (rc != 0)
            goto out;
        (*n)++;
    }
out:
    free(hits.v);
    return rc;
}

/* Sorted by subject, for a binary search per submit (only while the set
 * is not empty: most brokers never erase). */
struct s_erased {
    uint8_t subject[32];
    uint64_t at_ms;
};
static struct s_erased *s_set;
static size_t s_nset, s_capset;

static size_t
s_set_pos(const uint8_t subject[32], bool *found)
{
    size_t lo = 0, hi = s_nset;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(s_set[mid].subject, subject, 32);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

void
erasure_set_add(const uint8_t subject[32], uint64_t at_ms)
{
    bool found;
    size_t i = s_set_pos(subject, &found);

    if (found) {
        if (at_ms > s_set[i].at_ms)
            s_set[i].at_ms = at_ms;
        return;
    }
    if (s_nset == s_capset) {
        s_capset = s_capset ? 2 * s_capset : 64;
        s_set = xrealloc(s_set, s_capset * sizeof(*s_set));
    }
    memmove(&s_set[i + 1], &s_set[i], (s_nset - i) * sizeof(*s_set));
    memcpy(s_set[i].subject, subject, 32);
    s_set[i].at_ms = at_ms;
    s_nset++;
}

uint64_t
erasure_set_find(const uint8_t subject[32])
{
    bool found;

    if (s_nset == 0)
        return 0;
    size_t i = s_set_pos(subject, &found);
    return found ? s_set[i].at_ms : 0;
}

void
erasure_set_clear(void)
{
    free(s_set);
    s_set = NULL;
    s_nset = s_capset = 0;
}
