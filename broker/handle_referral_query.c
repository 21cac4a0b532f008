/*
 * handle_referral_query.c - the coordinator organisation asks, over its
 * own node's link, for the state of its coalition's referrals (issue 13,
 * point 6; PROTOCOL.md "Coalition state").
 *
 * Who may ask: an organisation of category COORDINATOR, or one named as
 * coordinator of a route in the loaded routes file. What it gets: the
 * referrals whose record names it as coordinator (set from the route when
 * the referral opened), or whose purpose's route names it now; with no
 * routes file loaded no referral has a coordinator, and an organisation
 * of category COORDINATOR gets every referral (the directory names it as
 * the coalition's coordinator, and there is nothing else to go by).
 *
 * State only: ids, codes, parties and times. Never the subject
 * pseudonym, the case_id, an actor_ref or the consent_id.
 *
 * Read only, bounded (limit, and at most S_SCAN_MAX records looked at per
 * query), and audited in the pass's transaction: the answer leaves after
 * the pass commits (referral_query_flush), so that no answer is given
 * whose audit record was lost.
 */
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "admin_referral.h"
#include "broker.h"
#include "bstore.h"
#include "log.h"
#include "referral_table.h"
#include "routes.h"

#define S_LIMIT_DEFAULT 100
#define S_LIMIT_MAX 1000
/* Records looked at per query, matching or not: a coordinator of one
 * small route must not make the broker read a large store in one pass.
 * Past it the answer says where to go on (more_after). */
#define S_SCAN_MAX 20000

/* An answer waiting for the pass's commit. */
struct s_answer {
    uint8_t rid[BROKER_ROUTING_ID_MAX];
    size_t rid_len;
    uint8_t *frame; /* packed kr.v1.Frame */
    size_t len;
    uint8_t qid[16];
    size_t qid_len;
};

static struct s_answer *s_answers;
static size_t s_nanswers, s_cap;

static bool
s_names(const struct routes *rs, const char *org)
{
    for (size_t i = 0; rs != NULL && i < rs->n; i++)
        if (strcmp(rs->v[i].coordinator, org) == 0)
            return true;
    return false;
}

/* Pure: may 'o' ask at all? */
static bool
s_may_ask(const struct org *o, const struct routes *rs)
{
    return o->category == KR__V1__ORG_CATEGORY__COORDINATOR ||
           s_names(rs, o->id);
}

/* Pure: is 'r' one of the referrals 'o' coordinates? */
static bool
s_coordinates(const struct org *o, const struct routes *rs,
              const Kr__V1__ReferralRecord *r)
{
    if (rs == NULL)
        return o->category == KR__V1__ORG_CATEGORY__COORDINATOR;
    if (r->coordinator != NULL && strcmp(r->coordinator, o->id) == 0)
        return true;
    /* A coordinator named on the route after the referral opened. */
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].purpose, r->purpose ? r->purpose : "") == 0 &&
            strcmp(rs->v[i].coordinator, o->id) == 0)
            return true;
    return false;
}

static void
s_queue(const uint8_t *rid, size_t rid_len, const Kr__V1__Frame *f,
        const ProtobufCBinaryData *qid)
{
    struct s_answer *a;

    if (s_nanswers == s_cap) {
        s_cap = s_cap ? 2 * s_cap : 8;
        s_answers = xrealloc(s_answers, s_cap * sizeof(*s_answers));
    }
    a = &s_answers[s_nanswers++];
    memcpy(a->rid, rid, rid_len);
    a->rid_len = rid_len;
    a->len = protobuf_c_message_get_packed_size(&f->base);
    a->frame = xmalloc(a->len ? a->len : 1);
    protobuf_c_message_pack(&f->base, a->frame);
    a->qid_len = qid->len <= 16 ? qid->len : 0;
    if (a->qid_len > 0)
        memcpy(a->qid, qid->data, a->qid_len);
}

/* An answer with no records: a refusal, or one that cannot wait for the
 * commit (nothing was written). */
static void
s_answer_reason(struct broker *b, const uint8_t *rid, size_t rid_len,
                const ProtobufCBinaryData *qid, int reason, const char *detail,
                bool now)
{
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__ReferralStates st = KR__V1__REFERRAL_STATES__INIT;

    f.version = KR__V1__VERSION__VERSION_1;
    st.query_id = *qid;
    st.reason = reason;
    st.detail = (char *)detail;
    f.referral_states = &st;
    if (now)
        broker_send_frame(b, rid, rid_len, &f);
    else
        s_queue(rid, rid_len, &f, qid);
}

struct s_scan {
    struct broker *b;
    const struct org *o;
    const struct routes *rs;
    const Kr__V1__CoalitionQuery *q;
    Kr__V1__ReferralState **out;
    size_t n, max, looked;
    uint8_t last[16]; /* the last record looked at */
    bool more;
};

/* The state-only copy. Strings point into r, unpacked in the frame's
 * arena scope, which lasts until the answer is packed. */
static Kr__V1__ReferralState *
s_state(struct broker *b, const Kr__V1__ReferralRecord *r)
{
    Kr__V1__ReferralState *s = arena_alloc(&b->pb, sizeof(*s));

    kr__v1__referral_state__init(s);
    s->referral_id = r->referral_id;
    s->purpose = r->purpose;
    s->type = r->type;
    s->placer = r->placer;
    s->performer = r->performer;
    s->state = r->state;
    s->state_at_ms = r->state_at_ms;
    s->opened_at_ms = r->opened_at_ms;
    s->cancel_pending = r->cancel_pending;
    s->reason = r->reason;
    s->outcome = r->outcome;
    s->priority = r->priority;
    s->escalations = r->escalations;
    s->last_escalation_ms = r->last_escalation_ms;
    s->overdue = admin_referral_overdue(r);
    s->coordinator = r->coordinator;
    if (r->n_timers > 0) {
        s->timers = arena_alloc(&b->pb, r->n_timers * sizeof(*s->timers));
        for (size_t i = 0; i < r->n_timers; i++) {
            Kr__V1__ReferralStateTimer *t = arena_alloc(&b->pb, sizeof(*t));
            kr__v1__referral_state_timer__init(t);
            t->step = r->timers[i]->step;
            t->due_at_ms = r->timers[i]->due_at_ms;
            s->timers[s->n_timers++] = t;
        }
    }
    if (r->n_history > 0) {
        s->history = arena_alloc(&b->pb, r->n_history * sizeof(*s->history));
        for (size_t i = 0; i < r->n_history; i++) {
            const Kr__V1__ReferralStep *h = r->history[i];
            Kr__V1__ReferralStateStep *t = arena_alloc(&b->pb, sizeof(*t));
            kr__v1__referral_state_step__init(t);
            t->at_ms = h->at_ms;
            t->org_id = h->org_id;
            t->from = h->from;
            t->to = h->to;
            t->cancel_step = h->cancel_step;
            t->reason = h->reason;
            t->outcome = h->outcome;
            s->history[s->n_history++] = t;
        }
    }
    return s;
}

static int
s_one(Kr__V1__ReferralRecord *r, void *arg)
{
    struct s_scan *sc = arg;
    const Kr__V1__CoalitionQuery *q = sc->q;

    if (r->referral_id.len == 16)
        memcpy(sc->last, r->referral_id.data, 16);
    sc->looked++;
    if (s_coordinates(sc->o, sc->rs, r) &&
        (q->state == 0 || (int)r->state == (int)q->state) &&
        (!q->overdue || admin_referral_overdue(r)) &&
        (q->purpose == NULL || q->purpose[0] == '\0' ||
         strcmp(q->purpose, r->purpose ? r->purpose : "") == 0))
        sc->out[sc->n++] = s_state(sc->b, r);
    if (sc->n >= sc->max || sc->looked >= S_SCAN_MAX) {
        sc->more = true;
        return 1;
    }
    return 0;
}

void
handle_referral_query(struct broker *b, struct org *o, const uint8_t *rid,
                      size_t rid_len, const Kr__V1__CoalitionQuery *q)
{
    const struct routes *rs = routes_active();
    struct audit_ev ev = {.event = "coalition.query",
                          .action = 'R',
                          .check = "coordinator",
                          .org_id = o->id};
    char detail[256];
    MDB_txn *txn;

    if (q->query_id.len == 0 || q->query_id.len > 16 ||
        (q->after.len != 0 && q->after.len != 16)) {
        /* Nothing to audit: no organisation's data was asked for. */
        s_answer_reason(b, rid, rid_len, &q->query_id,
                        KR__V1__REASON__MALFORMED,
                        "coalition query: query_id of 1 to 16 bytes, after "
                        "empty or a referral_id of 16 bytes",
                        true);
        return;
    }
    if (!s_may_ask(o, rs)) {
        snprintf(detail, sizeof(detail),
                 "%s is not a coordinator: not of category coordinator and "
                 "named as coordinator of no route%s",
                 o->id, rs == NULL ? " (no routes file is loaded)" : "");
        log_warnx("coalition: org=%s asked for coalition state: refused, "
                  "not a coordinator",
                  o->id);
        ev.refused = true;
        ev.reason = KR__V1__REASON__NOT_AUTHORISED;
        ev.detail = detail;
        if (audit_write(b, &ev) != KR_OK) {
            s_answer_reason(b, rid, rid_len, &q->query_id,
                            KR__V1__REASON__INTERNAL,
                            "not audited: the store failed; retry", true);
            return;
        }
        s_answer_reason(b, rid, rid_len, &q->query_id,
                        KR__V1__REASON__NOT_AUTHORISED, detail, false);
        return;
    }
    struct s_scan sc = {.b = b, .o = o, .rs = rs, .q = q};
    sc.max = q->limit == 0 ? S_LIMIT_DEFAULT
                           : (q->limit < S_LIMIT_MAX ? q->limit : S_LIMIT_MAX);
    sc.out = arena_alloc(&b->pb, sc.max * sizeof(*sc.out));
    /* A read transaction of its own: the pass's write transaction may not
     * exist yet, and this reads committed state only. */
    if (bstore_begin(b->store, true, &txn) != 0) {
        s_answer_reason(b, rid, rid_len, &q->query_id, KR__V1__REASON__INTERNAL,
                        "store unavailable", true);
        return;
    }
    /* Unpacked in the frame's arena scope: gone with the frame. */
    int rc =
        bstore_referral_scan(b->store, txn, q->after.len ? q->after.data : NULL,
                             arena_allocator(&b->pb), s_one, &sc);
    if (rc != 0) {
        bstore_abort(txn);
        s_answer_reason(b, rid, rid_len, &q->query_id, KR__V1__REASON__INTERNAL,
                        "referrals unreadable", true);
        return;
    }
    snprintf(detail, sizeof(detail), "referrals=%zu looked=%zu%s", sc.n,
             sc.looked, sc.more ? " more" : "");
    ev.detail = detail;
    if (audit_write(b, &ev) != KR_OK) {
        bstore_abort(txn);
        s_answer_reason(b, rid, rid_len, &q->query_id, KR__V1__REASON__INTERNAL,
                        "not audited: the store failed; retry", true);
        return;
    }
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__ReferralStates st = KR__V1__REFERRAL_STATES__INIT;
    f.version = KR__V1__VERSION__VERSION_1;
    st.query_id = q->query_id;
    st.referrals = sc.out;
    st.n_referrals = sc.n;
    if (sc.more) {
        st.more_after.data = sc.last;
        st.more_after.len = 16;
    }
    f.referral_states = &st;
    /* Packed now: the records live in the frame's arena scope. */
    s_queue(rid, rid_len, &f, &q->query_id);
    bstore_abort(txn);
    log_info("coalition: org=%s state of %zu referrals%s", o->id, sc.n,
             sc.more ? " (more)" : "");
}

void
referral_query_flush(struct broker *b, bool committed)
{
    for (size_t i = 0; i < s_nanswers; i++) {
        struct s_answer *a = &s_answers[i];
        if (committed) {
            if (zmq_send(b->router, a->rid, a->rid_len,
                         ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
                zmq_send(b->router, a->frame, a->len, ZMQ_DONTWAIT) < 0)
                log_debug("coalition: answer not sent: peer gone or full");
        } else {
            ProtobufCBinaryData qid = {a->qid_len, a->qid};
            s_answer_reason(
                b, a->rid, a->rid_len, &qid, KR__V1__REASON__INTERNAL,
                "not audited: the broker's commit failed; retry", true);
        }
        free(a->frame);
    }
    s_nanswers = 0;
}

void
referral_query_reset(void)
{
    for (size_t i = 0; i < s_nanswers; i++)
        free(s_answers[i].frame);
    free(s_answers);
    s_answers = NULL;
    s_nanswers = s_cap = 0;
}
