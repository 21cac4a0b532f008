/* signals.c - signals, matches, withdrawal and expiry; see signals.h. */
#include "signals.h"

#include <stdio.h>
#include <string.h>

#include "bstore.h"
#include "bstore_retention.h"
#include "bstore_signal.h"
#include "crypto.h"
#include "log.h"
#include "match.h"
#include "names.h"
#include "routes.h"

/* Bounds: what one signal reads. A subject with more signals than this
 * is not a real family; the rest is not matched, and the log says so. */
#define S_SCAN_MAX 256
#define S_LINKS_MAX 8
#define S_EXPIRE_PER_PASS 256

static struct signal_stats s_stats;

static bool
s_active(const Kr__V1__SignalRecord *r, uint64_t now)
{
    return r->expires_at_ms == 0 || r->expires_at_ms > now;
}

int
signal_check(struct broker *b, struct org *o, struct org *to,
             const Kr__V1__Envelope *env, struct signal_ctx *ctx,
             const char **why)
{
    MDB_txn *txn = broker_txn(b);
    int rc;

    memset(ctx, 0, sizeof(*ctx));
    if (txn == NULL) {
        *why = "store unavailable; retry later";
        return KR__V1__REASON__INTERNAL;
    }
    if (to != o) {
        *why = "a signal is addressed to its own sender (the broker keeps "
               "it; nothing is delivered)";
        return KR__V1__REASON__BAD_SIGNAL;
    }
    if (env->signal_withdraw) {
        if (env->signal_id.len != 16) {
            *why = "a withdrawal names its signal (signal_id, 16 bytes)";
            return KR__V1__REASON__BAD_SIGNAL;
        }
        rc = bstore_signal_get_id(b->store, txn, env->signal_id.data,
                                  arena_allocator(&b->pb), &ctx->old);
        if (rc == KR_ENOTFOUND) {
            *why = "no signal with this signal_id (never made, or "
                   "withdrawn, expired or erased already)";
            return KR__V1__REASON__UNKNOWN_SIGNAL;
        }
        if (rc != KR_OK) {
            *why = "store unavailable; retry later";
            return KR__V1__REASON__INTERNAL;
        }
        if (strcmp(ctx->old->org_id, o->id) != 0) {
            *why = "this signal was made by another organisation: only "
                   "its maker may withdraw it";
            return KR__V1__REASON__NOT_SIGNAL_OWNER;
        }
        ctx->withdraw = true;
        *why = "signal owner";
        return 0;
    }
    if (env->subject_pseudonym.len != 32) {
        *why = "a signal names its subject (subject_pseudonym, 32 bytes)";
        return KR__V1__REASON__BAD_SIGNAL;
    }
    if (routes_active() == NULL) {
        *why = "signals need a route, and the broker has no routes file "
               "(option routes)";
        return KR__V1__REASON__NO_ROUTE;
    }
    const struct route *r = routes_find(env->purpose);
    if (r == NULL) {
        *why = "no route for this signal's purpose";
        return KR__V1__REASON__NO_ROUTE;
    }
    if (o->category <= 0 || o->category >= 32 ||
        (r->from_mask & (1u << o->category)) == 0) {
        *why = "the route's \"from\" does not include the sender's category";
        return KR__V1__REASON__NO_ROUTE;
    }
    if (r->data_category != 0 && (int)env->data_category != r->data_category) {
        *why = "the route's data_category is another";
        return KR__V1__REASON__NO_ROUTE;
    }
    ctx->route = r;
    if (r->signal_basis == ROUTE_BASIS_CONSENT) {
        /* The consent names the signalling organisation (or its category)
         * as both sender and recipient: the person agreed that it records
         * its involvement. */
        int reason = consent_gate(b, o, to, env, ctx->cid, &ctx->has_cid,
                                  &ctx->noodknop, why);
        if (reason != 0)
            return reason;
    } else {
        *why = "route basis (signal_basis = route)";
    }
    rc = bstore_signal_get(b->store, txn, env->subject_pseudonym.data, o->id,
                           env->purpose, arena_allocator(&b->pb), &ctx->old);
    if (rc != KR_OK && rc != KR_ENOTFOUND) {
        *why = "store unavailable; retry later";
        return KR__V1__REASON__INTERNAL;
    }
    return 0;
}

/* The signals the matcher reads: on the subject and on its links. */
struct s_found {
    Kr__V1__SignalRecord *v[S_SCAN_MAX];
    bool linked[S_SCAN_MAX];
    size_t n;
    bool cur_linked;
    bool truncated;
};

static int
s_collect(Kr__V1__SignalRecord *r, void *arg)
{
    struct s_found *f = arg;

    if (f->n == S_SCAN_MAX) {
        f->truncated = true;
        return 1;
    }
    f->linked[f->n] = f->cur_linked;
    f->v[f->n++] = r;
    return 0;
}

static int
s_find(struct broker *b, const uint8_t subject[32], struct s_found *f)
{
    uint8_t links[S_LINKS_MAX][32];
    size_t nl = 0;
    MDB_txn *txn = broker_txn(b);
    int rc;

    f->n = 0;
    f->cur_linked = false;
    if ((rc = bstore_signal_scan(b->store, txn, subject, S_SCAN_MAX,
                                 arena_allocator(&b->pb), s_collect, f)) != 0)
        return rc;
    if ((rc = bstore_link_list(b->store, txn, subject, S_LINKS_MAX, links,
                               &nl)) != 0)
        return rc;
    f->cur_linked = true;
    for (size_t i = 0; i < nl && f->n < S_SCAN_MAX; i++)
        if ((rc = bstore_signal_scan(b->store, txn, links[i], S_SCAN_MAX,
                                     arena_allocator(&b->pb), s_collect, f)) !=
            0)
            return rc;
    if (f->truncated)
        log_warnx("signals: more than %d signals on one family: the rest is "
                  "not matched",
                  S_SCAN_MAX);
    return KR_OK;
}

/* One durable NOTICE_MATCH to 'to_id' about 'other' (mine: the receiver's
 * own signal, or NULL for a coordinator told of 'with'). */
static int
s_notice(struct broker *b, const char *to_id, const Kr__V1__SignalRecord *mine,
         const Kr__V1__SignalRecord *other, bool family, const char *with)
{
    struct org *to = orgs_find(b, to_id);
    Kr__V1__Notice n = KR__V1__NOTICE__INIT;
    Kr__V1__QueueItem item = KR__V1__QUEUE_ITEM__INIT;
    uint8_t id[16];

    if (to == NULL) {
        log_warnx("signals: match notice for %s: not in the directory: not "
                  "sent",
                  to_id);
        return KR_OK;
    }
    util_time_ordered_id(id);
    n.notice_id.data = id;
    n.notice_id.len = 16;
    n.kind = KR__V1__NOTICE_KIND__NOTICE_MATCH;
    n.at_ms = b->now_ms;
    n.match_org = other->org_id;
    n.match_category = other->category;
    n.match_since_ms = other->made_at_ms;
    n.match_other_subject = other->subject_pseudonym;
    n.family_match = family;
    if (mine != NULL) {
        n.match_subject = mine->subject_pseudonym;
        n.match_signal_id = mine->signal_id;
    }
    n.match_with = (char *)(with != NULL ? with : "");
    item.msg_id.data = id;
    item.msg_id.len = 16;
    item.notice = &n;
    return deliver_enqueue(b, to, &item, NULL);
}

/* The match of new signal 'me' with 'other': both told, the coordinator
 * too if the route says so, one audit record. */
static int
s_match(struct broker *b, const Kr__V1__SignalRecord *me,
        const Kr__V1__SignalRecord *other, bool family,
        const struct route *route, const Kr__V1__Envelope *env)
{
    char detail[200];
    int rc;

    if ((rc = s_notice(b, me->org_id, me, other, family, NULL)) != 0 ||
        (rc = s_notice(b, other->org_id, other, me, family, NULL)) != 0)
        return rc;
    const char *coord = routes_coordinator(route);
    bool to_coord = route != NULL && route->match_coordinator &&
                    coord[0] != '\0' && strcmp(coord, me->org_id) != 0 &&
                    strcmp(coord, other->org_id) != 0;
    if (to_coord &&
        (rc = s_notice(b, coord, NULL, me, family, other->org_id)) != 0)
        return rc;
    s_stats.matches++;
    snprintf(detail, sizeof(detail), "%s match with %s (since %llu)%s",
             family ? "family" : "client", other->org_id,
             (unsigned long long)other->made_at_ms,
             to_coord ? "; coordinator told" : "");
    log_info("signals: match %s and %s (%s)", me->org_id, other->org_id,
             family ? "family" : "client");
    return audit_write(b, &(struct audit_ev){.event = "signal.matched",
                                             .action = 'E',
                                             .org_id = me->org_id,
                                             .env = env,
                                             .object = other->org_id,
                                             .check = "match",
                                             .detail = detail});
}

/* Match a new signal against what the family holds: per other
 * organisation once, a client match before a family one, the earliest
 * signal first. */
static int
s_match_all(struct broker *b, const Kr__V1__SignalRecord *me,
            const struct route *route, const Kr__V1__Envelope *env)
{
    struct s_found *f = arena_alloc(&b->pb, sizeof(*f));
    bool known = false;
    int rc;

    memset(f, 0, sizeof(*f));
    if ((rc = s_find(b, me->subject_pseudonym.data, f)) != 0)
        return rc;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i]->org_id, me->org_id) == 0 &&
            s_active(f->v[i], b->now_ms) &&
            memcmp(f->v[i]->signal_id.data, me->signal_id.data, 16) != 0)
            known = true;
    for (size_t i = 0; i < f->n; i++) {
        struct match_sig o = {.org = f->v[i]->org_id,
                              .expires_at_ms = f->v[i]->expires_at_ms,
                              .linked = f->linked[i]};
        enum match_result m = match_decide(me->org_id, known, &o, b->now_ms);
        if (m != MATCH_CLIENT && m != MATCH_FAMILY)
            continue;
        /* The best signal of this organisation: not linked before linked,
         * then the earliest; skip this one if another beats it. */
        bool beaten = false;
        for (size_t j = 0; j < f->n && !beaten; j++) {
            if (j == i || strcmp(f->v[j]->org_id, o.org) != 0 ||
                !s_active(f->v[j], b->now_ms))
                continue;
            if (f->linked[j] != f->linked[i])
                beaten = !f->linked[j];
            else
                beaten = f->v[j]->made_at_ms < f->v[i]->made_at_ms ||
                         (f->v[j]->made_at_ms == f->v[i]->made_at_ms && j < i);
        }
        if (beaten)
            continue;
        if ((rc = s_match(b, me, f->v[i], m == MATCH_FAMILY, route, env)) != 0)
            return rc;
    }
    return KR_OK;
}

/* The message record of a signal: final at once, as a delivery's is after
 * its ack: the envelope's hash and the signature, never a payload. */
static int
s_message(struct broker *b, struct org *o, const Kr__V1__Envelope *env,
          const Kr__V1__Submit *s, struct signal_ctx *ctx, const char *detail)
{
    Kr__V1__StoredMessage m = KR__V1__STORED_MESSAGE__INIT;
    uint8_t hash[32];
    int rc;

    kcrypto_hash(s->envelope.data, s->envelope.len, hash);
    m.envelope_hash.data = hash;
    m.envelope_hash.len = 32;
    m.signature = s->signature;
    m.sender = o->id;
    m.recipient = o->id;
    m.state = KR__V1__MESSAGE_STATE__STATE_DELIVERED;
    m.accepted_at_ms = b->now_ms;
    m.final_at_ms = b->now_ms;
    m.type = env->type;
    if (ctx->has_cid) {
        m.consent_id.data = ctx->cid;
        m.consent_id.len = 16;
    }
    m.noodknop = ctx->noodknop;
    if ((rc = bstore_msg_put(b->store, broker_txn(b), env->msg_id.data, &m)) !=
            0 ||
        (rc = bstore_final_put(b->store, broker_txn(b), b->now_ms,
                               env->msg_id.data)) != 0)
        return rc;
    return deliver_final_receipt(b, o->id, env->msg_id.data,
                                 KR__V1__OUTCOME__DELIVERED, 0, detail);
}

int
signal_accept(struct broker *b, struct org *o, const Kr__V1__Envelope *env,
              const Kr__V1__Submit *s, struct signal_ctx *ctx, const char *why)
{
    MDB_txn *txn = broker_txn(b);
    char detail[160];
    int rc;

    if (txn == NULL)
        return KR_ESTORE;
    if (ctx->withdraw) {
        if ((rc = s_message(b, o, env, s, ctx, "signal withdrawn")) != 0 ||
            (rc = bstore_signal_del(b->store, txn, ctx->old)) != 0)
            return rc;
        s_stats.withdrawn++;
        Kr__V1__Envelope e = *env;
        e.subject_pseudonym = ctx->old->subject_pseudonym;
        e.purpose = ctx->old->purpose;
        snprintf(detail, sizeof(detail), "made at %llu",
                 (unsigned long long)ctx->old->made_at_ms);
        return audit_write(b, &(struct audit_ev){.event = "signal.withdrawn",
                                                 .action = 'D',
                                                 .org_id = o->id,
                                                 .env = &e,
                                                 .check = why,
                                                 .detail = detail});
    }
    if (ctx->old != NULL && s_active(ctx->old, b->now_ms)) {
        /* Signalled already: the signal stands as it was (its time and
         * its matches); nothing matches twice. */
        if ((rc = s_message(b, o, env, s, ctx, "signalled already")) != 0)
            return rc;
        return audit_write(
            b, &(struct audit_ev){.event = "signal.accepted",
                                  .action = 'C',
                                  .org_id = o->id,
                                  .env = env,
                                  .consent_id = ctx->has_cid ? ctx->cid : NULL,
                                  .check = why,
                                  .detail = "signalled already: unchanged"});
    }
    if (ctx->old != NULL &&
        (rc = bstore_signal_del(b->store, txn, ctx->old)) != 0)
        return rc;
    Kr__V1__SignalRecord r = KR__V1__SIGNAL_RECORD__INIT;
    r.signal_id = env->msg_id;
    r.subject_pseudonym = env->subject_pseudonym;
    r.subject_key_version = env->subject_key_version;
    r.org_id = o->id;
    r.category = o->category;
    r.purpose = env->purpose;
    r.data_category = env->data_category;
    r.actor_ref = env->actor_ref;
    r.made_at_ms = b->now_ms;
    r.expires_at_ms = routes_due(&ctx->route->signal_lifetime, b->now_ms);
    if (r.expires_at_ms == 0 ||
        r.expires_at_ms > b->now_ms + ROUTE_SIGNAL_MAX_MS)
        r.expires_at_ms = b->now_ms + ROUTE_SIGNAL_MAX_MS;
    if ((rc = s_message(b, o, env, s, ctx, "signal recorded")) != 0 ||
        (rc = bstore_signal_put(b->store, txn, &r)) != 0)
        return rc;
    s_stats.made++;
    snprintf(detail, sizeof(detail), "expires at %llu",
             (unsigned long long)r.expires_at_ms);
    if ((rc = audit_write(
             b, &(struct audit_ev){.event = "signal.accepted",
                                   .action = 'C',
                                   .org_id = o->id,
                                   .env = env,
                                   .consent_id = ctx->has_cid ? ctx->cid : NULL,
                                   .check = why,
                                   .detail = detail,
                                   .noodknop = ctx->noodknop})) != 0)
        return rc;
    return s_match_all(b, &r, ctx->route, env);
}

/* Whether org has an active signal among f's (either side). */
static bool
s_in(const struct s_found *f, const char *org, uint64_t now)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i]->org_id, org) == 0 && s_active(f->v[i], now))
            return true;
    return false;
}

/* Whether f->v[i] is its organisation's first active signal on the
 * subject itself (not a linked one): one match per pair of
 * organisations, with the earliest signals. */
static bool
s_first(const struct s_found *f, size_t i, uint64_t now)
{
    for (size_t j = 0; j < f->n; j++) {
        if (j == i || f->linked[j] || !s_active(f->v[j], now) ||
            strcmp(f->v[j]->org_id, f->v[i]->org_id) != 0)
            continue;
        if (f->v[j]->made_at_ms < f->v[i]->made_at_ms ||
            (f->v[j]->made_at_ms == f->v[i]->made_at_ms && j < i))
            return false;
    }
    return true;
}

/* A SUBJECT_LINK between mother and child, in the commit that accepts
 * it. A new link joins two families: each pair of organisations with an
 * active signal on either side that had not matched before (match.c,
 * match_decide_link) matches now, in this commit, exactly once: the link
 * is recorded here too, so the same link again finds it and matches
 * nothing, and later signals see one family. */
static int
s_link(struct broker *b, const uint8_t mother[32], const uint8_t child[32],
       const Kr__V1__Envelope *env)
{
    MDB_txn *txn = broker_txn(b);
    uint8_t links[S_LINKS_MAX][32];
    size_t nl = 0;
    int rc;

    if ((rc = bstore_link_list(b->store, txn, mother, S_LINKS_MAX, links,
                               &nl)) != 0)
        return rc;
    for (size_t i = 0; i < nl; i++)
        if (memcmp(links[i], child, 32) == 0) /* known: matched then */
            return bstore_link_put(b->store, txn, mother, child,
                                   env->case_id.data);
    /* Both families as they were before the link. */
    struct s_found *fm = arena_alloc(&b->pb, sizeof(*fm));
    struct s_found *fc = arena_alloc(&b->pb, sizeof(*fc));
    memset(fm, 0, sizeof(*fm));
    memset(fc, 0, sizeof(*fc));
    if ((rc = s_find(b, mother, fm)) != 0 || (rc = s_find(b, child, fc)) != 0 ||
        (rc = bstore_link_put(b->store, txn, mother, child,
                              env->case_id.data)) != 0)
        return rc;
    for (size_t i = 0; i < fm->n; i++) {
        if (fm->linked[i] || !s_first(fm, i, b->now_ms))
            continue;
        for (size_t j = 0; j < fc->n; j++) {
            if (fc->linked[j] || !s_first(fc, j, b->now_ms))
                continue;
            const Kr__V1__SignalRecord *x = fm->v[i], *y = fc->v[j];
            bool already = (s_in(fm, x->org_id, b->now_ms) &&
                            s_in(fm, y->org_id, b->now_ms)) ||
                           (s_in(fc, x->org_id, b->now_ms) &&
                            s_in(fc, y->org_id, b->now_ms));
            struct match_sig sx = {x->org_id, x->expires_at_ms, false};
            struct match_sig sy = {y->org_id, y->expires_at_ms, true};
            if (match_decide_link(&sx, &sy, already, b->now_ms) != MATCH_FAMILY)
                continue;
            /* Told as if the later signal had come last: its route says
             * whether the coordinator hears of it. */
            bool x_later = x->made_at_ms > y->made_at_ms;
            const Kr__V1__SignalRecord *me = x_later ? x : y;
            const Kr__V1__SignalRecord *other = x_later ? y : x;
            if ((rc = s_match(b, me, other, true, routes_find(me->purpose),
                              env)) != 0)
                return rc;
        }
    }
    return KR_OK;
}

int
signal_on_message(struct broker *b, const Kr__V1__Envelope *env)
{
    MDB_txn *txn = broker_txn(b);
    uint8_t mother[32];
    int rc;

    if (txn == NULL)
        return KR_ESTORE;
    if (env->case_id.len != 16 || env->subject_pseudonym.len != 32)
        return KR_OK;
    switch (env->type) {
    case KR__V1__MESSAGE_TYPE__REFERRAL:
    case KR__V1__MESSAGE_TYPE__HANDOVER:
        /* The first subject named on a case is the mother's. */
        return bstore_case_subject_put(b->store, txn, env->case_id.data,
                                       env->subject_pseudonym.data);
    case KR__V1__MESSAGE_TYPE__SUBJECT_LINK:
        rc = bstore_case_subject_get(b->store, txn, env->case_id.data, mother);
        if (rc == KR_ENOTFOUND)
            return KR_OK; /* no referral on the case yet: no link known */
        if (rc != KR_OK)
            return rc;
        if (memcmp(mother, env->subject_pseudonym.data, 32) == 0)
            return KR_OK;
        return s_link(b, mother, env->subject_pseudonym.data, env);
    default:
        return KR_OK;
    }
}

void
signal_cron(struct broker *b)
{
    uint8_t ids[S_EXPIRE_PER_PASS][16];
    size_t n = 0;
    MDB_txn *txn = broker_txn(b);

    if (txn == NULL)
        return;
    struct arena_mark mark = arena_mark(&b->pb);
    if (bstore_signal_due(b->store, txn, b->now_ms, S_EXPIRE_PER_PASS, ids,
                          &n) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        Kr__V1__SignalRecord *r = NULL;
        int rc = bstore_signal_get_id(b->store, txn, ids[i],
                                      arena_allocator(&b->pb), &r);
        if (rc != KR_OK)
            break; /* an entry without its signal: left for the log */
        if (bstore_signal_del(b->store, txn, r) != 0)
            break; /* the commit fails and the pass is retried */
        Kr__V1__Envelope e = KR__V1__ENVELOPE__INIT;
        char detail[80];
        e.msg_id = r->signal_id;
        e.subject_pseudonym = r->subject_pseudonym;
        e.purpose = r->purpose;
        e.data_category = r->data_category;
        e.type = KR__V1__MESSAGE_TYPE__SIGNAL;
        snprintf(detail, sizeof(detail), "made at %llu, lifetime ended",
                 (unsigned long long)r->made_at_ms);
        s_stats.expired++;
        if (audit_write(b, &(struct audit_ev){.event = "signal.expired",
                                              .action = 'D',
                                              .org_id = "",
                                              .env = &e,
                                              .object = r->org_id,
                                              .check = "lifetime",
                                              .detail = detail}) != 0)
            break;
    }
out:
    arena_release(&b->pb, mark);
}

void
signal_stats(struct signal_stats *out)
{
    *out = s_stats;
}
