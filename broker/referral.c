/*
 * referral.c - referral records at the broker: a REFERRAL (or HANDOVER)
 * opens one, a REFERRAL_STATUS moves it as the table allows, and
 * SUPPLEMENT and COMMUNICATION pass only on an open one between its two
 * parties. Only clear codes go in: ids, parties, codes and times.
 *
 * Cost: a record is read for the messages of a referral and written only
 * for REFERRAL, HANDOVER and REFERRAL_STATUS; every other message type
 * passes without touching the referrals tree.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bstore.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "referral.h"
#include "routes.h"
#include "timers.h"

static char s_why[256];

static int s_handover_accepted(struct broker *b, struct org *o,
                               const Kr__V1__ReferralRecord *h);

static bool
s_opens(int type)
{
    return type == KR__V1__MESSAGE_TYPE__REFERRAL ||
           type == KR__V1__MESSAGE_TYPE__HANDOVER;
}

static int s_fail(const char **why, int reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
s_fail(const char **why, int reason, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s_why, sizeof(s_why), fmt, ap);
    va_end(ap);
    *why = s_why;
    return reason;
}

static int
s_load(struct broker *b, const Kr__V1__Envelope *env,
       Kr__V1__ReferralRecord **rec, const char **why)
{
    MDB_txn *txn = broker_txn(b);
    int rc;

    *rec = NULL;
    if (txn == NULL)
        return s_fail(why, KR__V1__REASON__INTERNAL, "store unavailable");
    rc = bstore_referral_get(b->store, txn, env->referral_id.data,
                             arena_allocator(&b->pb), rec);
    if (rc == KR_ENOTFOUND)
        return 0;
    if (rc != KR_OK)
        return s_fail(why, KR__V1__REASON__INTERNAL,
                      "referral record unreadable");
    return 0;
}

static int s_open(struct broker *b, struct org *o, const Kr__V1__Envelope *env,
                  const uint8_t *consent_id, struct referral_ctx *ctx,
                  const uint8_t **old, size_t *old_len);

static int
s_check_open(struct broker *b, struct org *o, struct org *to,
             const Kr__V1__Envelope *env, const uint8_t *consent_id,
             struct referral_ctx *ctx, const char **why)
{
    const uint8_t *old = NULL;
    size_t old_len = 0;
    int reason, rc;

    if (env->referral_id.len != 16)
        return s_fail(why, KR__V1__REASON__MISSING_FIELD,
                      "a %s needs a referral_id (16 bytes)",
                      message_type_name(env->type));
    if ((reason = routes_check(b, o, to, env, &ctx->route, why)) != 0)
        return reason;
    /* A new id (the usual case) is written at once; a taken one is read
     * back from the same search. */
    rc = s_open(b, o, env, consent_id, ctx, &old, &old_len);
    if (rc == KR_OK) {
        ctx->kind = REFERRAL_CTX_OPEN;
        return 0;
    }
    if (rc != KR_EEXIST)
        return s_fail(why, KR__V1__REASON__INTERNAL,
                      "referral record not written: %s", kr_strerror(rc));
    ctx->rec =
        kr__v1__referral_record__unpack(arena_allocator(&b->pb), old_len, old);
    if (ctx->rec == NULL)
        return s_fail(why, KR__V1__REASON__INTERNAL,
                      "referral record unreadable");
    if (strcmp(ctx->rec->placer, o->id) != 0 ||
        strcmp(ctx->rec->performer, to->id) != 0)
        return s_fail(why, KR__V1__REASON__REFERRAL_CONFLICT,
                      "referral_id already used by a referral from %s to %s",
                      ctx->rec->placer, ctx->rec->performer);
    ctx->kind = REFERRAL_CTX_AGAIN;
    return 0;
}

static int
s_check_status(struct broker *b, struct org *o, struct org *to,
               const Kr__V1__Envelope *env, struct referral_ctx *ctx,
               const char **why)
{
    Kr__V1__ReferralRecord *r;
    int reason;

    if (env->referral_id.len != 16)
        return s_fail(why, KR__V1__REASON__MISSING_FIELD,
                      "a referral-status needs a referral_id (16 bytes)");
    if ((reason = s_load(b, env, &ctx->rec, why)) != 0)
        return reason;
    if ((r = ctx->rec) == NULL || r->type == KR__V1__MESSAGE_TYPE__SUBJECT_LINK)
        return s_fail(why, KR__V1__REASON__UNKNOWN_REFERRAL,
                      "no referral with this referral_id");
    int role = strcmp(r->placer, o->id) == 0      ? RT_PLACER
               : strcmp(r->performer, o->id) == 0 ? RT_PERFORMER
                                                  : 0;
    if (role == 0)
        return s_fail(why, KR__V1__REASON__NOT_REFERRAL_PARTY,
                      "the sender is neither placer nor performer of the "
                      "referral");
    const char *other = role == RT_PLACER ? r->performer : r->placer;
    if (strcmp(other, to->id) != 0)
        return s_fail(why, KR__V1__REASON__NOT_REFERRAL_PARTY,
                      "the recipient is not the referral's other party (%s)",
                      other);
    ctx->action = rt_action(env->task_status, env->cancel_step);
    struct rt_query q = {
        .state = r->state,
        .role = role,
        .action = ctx->action,
        .reason = env->status_reason,
        .outcome = env->status_outcome,
        .cancel_pending = r->cancel_pending,
    };
    rt_decide(&q, &ctx->d);
    if (ctx->d.reason != 0) {
        if (ctx->d.reason == KR__V1__REASON__BAD_STATUS)
            return s_fail(
                why, ctx->d.reason, "task_status %d, cancel_step %d: %s",
                (int)env->task_status, (int)env->cancel_step, ctx->d.why);
        return s_fail(why, ctx->d.reason, "%s: %s asks %s: %s",
                      task_status_name(r->state),
                      role == RT_PLACER ? "placer" : "performer",
                      rt_action_name(ctx->action), ctx->d.why);
    }
    ctx->kind = REFERRAL_CTX_STATUS;
    return 0;
}

static int
s_check_follow(struct broker *b, struct org *o, struct org *to,
               const Kr__V1__Envelope *env, struct referral_ctx *ctx,
               const char **why)
{
    Kr__V1__ReferralRecord *r;
    int reason;

    if (env->referral_id.len != 16)
        return s_fail(why, KR__V1__REASON__MISSING_FIELD,
                      "a supplement needs a referral_id (16 bytes)");
    if ((reason = s_load(b, env, &ctx->rec, why)) != 0)
        return reason;
    if ((r = ctx->rec) == NULL || r->type == KR__V1__MESSAGE_TYPE__SUBJECT_LINK)
        return s_fail(why, KR__V1__REASON__UNKNOWN_REFERRAL,
                      "no referral with this referral_id");
    bool fwd =
        strcmp(r->placer, o->id) == 0 && strcmp(r->performer, to->id) == 0;
    bool back =
        strcmp(r->performer, o->id) == 0 && strcmp(r->placer, to->id) == 0;
    if (!fwd && !back)
        return s_fail(why, KR__V1__REASON__NOT_REFERRAL_PARTY,
                      "only between the referral's placer and performer");
    if (rt_final(r->state))
        return s_fail(why, KR__V1__REASON__REFERRAL_CLOSED,
                      "the referral is %s: closed", task_status_name(r->state));
    ctx->kind = REFERRAL_CTX_FOLLOW;
    return 0;
}

int
referral_check(struct broker *b, struct org *o, struct org *to,
               const Kr__V1__Envelope *env, const uint8_t *consent_id,
               struct referral_ctx *ctx, const char **why)
{
    memset(ctx, 0, sizeof(*ctx));
    if (s_opens(env->type))
        return s_check_open(b, o, to, env, consent_id, ctx, why);
    if (env->task_status != 0 || env->cancel_step != 0 ||
        env->status_reason[0] != '\0' || env->status_outcome[0] != '\0') {
        if (env->type != KR__V1__MESSAGE_TYPE__REFERRAL_STATUS)
            return s_fail(why, KR__V1__REASON__BAD_STATUS,
                          "status codes only in a referral-status");
    }
    switch (env->type) {
    case KR__V1__MESSAGE_TYPE__SUBJECT_LINK:
        /* The birth: its case is watched for a HANDOVER (T_handover). */
        if (env->case_id.len != 16)
            return s_fail(why, KR__V1__REASON__MISSING_FIELD,
                          "a subject-link names the mother's case (case_id, "
                          "16 bytes)");
        ctx->kind = REFERRAL_CTX_LINK;
        ctx->route = routes_find(env->purpose);
        return 0;
    case KR__V1__MESSAGE_TYPE__REFERRAL_STATUS:
        return s_check_status(b, o, to, env, ctx, why);
    case KR__V1__MESSAGE_TYPE__SUPPLEMENT:
        return s_check_follow(b, o, to, env, ctx, why);
    case KR__V1__MESSAGE_TYPE__COMMUNICATION:
        /* Outside a referral a communication is free, as before. */
        if (env->referral_id.len == 0)
            return 0;
        return s_check_follow(b, o, to, env, ctx, why);
    default:
        return 0;
    }
}

/* Append a step to r's history; the array lives in the frame's arena. */
static void
s_step(struct broker *b, Kr__V1__ReferralRecord *r, Kr__V1__ReferralStep *st)
{
    Kr__V1__ReferralStep **h =
        arena_alloc(&b->pb, (r->n_history + 1) * sizeof(*h));

    if (r->n_history > 0)
        memcpy(h, r->history, r->n_history * sizeof(*h));
    h[r->n_history++] = st;
    r->history = h;
}

/* The new record, added unless its id is taken (KR_EEXIST, *old). Its
 * timers are armed only once the record is in. */
/* Add a new referral's record; counted for the metrics once it is in. */
static int
s_add_counted(struct broker *b, MDB_txn *txn, Kr__V1__ReferralRecord *r,
              const uint8_t **old, size_t *old_len)
{
    int rc = bstore_referral_add(b->store, txn, r, old, old_len);

    if (rc == KR_OK)
        metrics_referral_moved(b, (int)r->type, 0, (int)r->state);
    return rc;
}

static int
s_open(struct broker *b, struct org *o, const Kr__V1__Envelope *env,
       const uint8_t *consent_id, struct referral_ctx *ctx, const uint8_t **old,
       size_t *old_len)
{
    Kr__V1__ReferralRecord r = KR__V1__REFERRAL_RECORD__INIT;
    Kr__V1__ReferralStep st = KR__V1__REFERRAL_STEP__INIT;
    Kr__V1__ReferralStep *hp = &st;
    MDB_txn *txn = broker_txn(b);
    int rc;

    if (txn == NULL)
        return KR_ESTORE;
    r.referral_id = env->referral_id;
    r.case_id = env->case_id;
    r.placer = o->id;
    r.performer = env->recipient;
    r.purpose = env->purpose;
    r.subject_pseudonym = env->subject_pseudonym;
    r.priority = env->priority;
    r.opened_at_ms = b->now_ms;
    r.state = KR__V1__TASK_STATUS__TASK_REQUESTED;
    r.state_at_ms = b->now_ms;
    r.type = env->type;
    r.data_category = env->data_category;
    if (consent_id != NULL) {
        r.consent_id.data = (uint8_t *)consent_id;
        r.consent_id.len = 16;
    }
    r.msg_id = env->msg_id;
    st.at_ms = b->now_ms;
    st.org_id = o->id;
    st.actor_ref = env->actor_ref;
    st.to = KR__V1__TASK_STATUS__TASK_REQUESTED;
    st.msg_id = env->msg_id;
    r.history = &hp;
    r.n_history = 1;
    if (ctx->route == NULL)
        return s_add_counted(b, txn, &r, old, old_len);
    r.coordinator = (char *)routes_coordinator(ctx->route);
    /* With timers the record carries their steps: armed first, then the
     * record added (a taken id arms nothing: the timers tree is written
     * only after the add says the id is free). */
    if ((rc = bstore_referral_get(b->store, txn, r.referral_id.data,
                                  arena_allocator(&b->pb), &ctx->rec)) ==
        KR_OK) {
        /* Hand the stored bytes back as the add would. */
        ctx->rec = NULL;
        return bstore_referral_add(b->store, txn, &r, old, old_len);
    }
    if (rc != KR_ENOTFOUND)
        return rc;
    if ((rc = timers_arm(b, &r, ctx->route)) != 0)
        return rc;
    return s_add_counted(b, txn, &r, old, old_len);
}

static int
s_status(struct broker *b, struct org *o, const Kr__V1__Envelope *env,
         struct referral_ctx *ctx)
{
    Kr__V1__ReferralRecord *r = ctx->rec;
    Kr__V1__ReferralStep *st = arena_alloc(&b->pb, sizeof(*st));
    MDB_txn *txn = broker_txn(b);
    char detail[96];
    int from = r->state, rc;

    if (txn == NULL)
        return KR_ESTORE;
    kr__v1__referral_step__init(st);
    st->at_ms = b->now_ms;
    st->org_id = o->id;
    st->actor_ref = env->actor_ref;
    st->from = from;
    st->to = ctx->d.to;
    st->cancel_step = env->cancel_step;
    st->reason = env->status_reason;
    st->outcome = env->status_outcome;
    st->msg_id = env->msg_id;
    s_step(b, r, st);
    if (env->status_reason[0] != '\0')
        r->reason = env->status_reason;
    if (env->status_outcome[0] != '\0')
        r->outcome = env->status_outcome;
    if (ctx->d.to != from)
        r->state_at_ms = b->now_ms;
    r->state = ctx->d.to;
    r->cancel_pending = ctx->d.cancel_pending;
    if ((rc = timers_moved(b, r, from)) != 0 ||
        (rc = bstore_referral_put(b->store, txn, r)) != 0)
        return rc;
    if (r->type == KR__V1__MESSAGE_TYPE__HANDOVER &&
        r->state == KR__V1__TASK_STATUS__TASK_ACCEPTED &&
        (rc = s_handover_accepted(b, o, r)) != 0)
        return rc;
    snprintf(detail, sizeof(detail), "%s -> %s (%s)", task_status_name(from),
             task_status_name(r->state), rt_action_name(ctx->action));
    if (log_enabled(LOG_LEVEL_INFO)) {
        char hex[KR_ID_HEX_LEN];
        log_info("referral: referral=%s by=%s %s",
                 util_hex(r->referral_id.data, 16, hex), o->id, detail);
    }
    return audit_write(b, &(struct audit_ev){.event = "referral.status",
                                             .action = 'U',
                                             .org_id = o->id,
                                             .env = env,
                                             .detail = detail,
                                             .check = ctx->d.why});
}

/* A SUBJECT_LINK: a watch record under its case_id (type SUBJECT_LINK,
 * state requested) whose T_handover steps run until a HANDOVER on the
 * same case is accepted by a JGZ organisation. A second link on the case
 * (twins) changes nothing. */
static int
s_link(struct broker *b, struct org *o, const Kr__V1__Envelope *env,
       struct referral_ctx *ctx)
{
    Kr__V1__ReferralRecord *old = NULL;
    Kr__V1__ReferralRecord r = KR__V1__REFERRAL_RECORD__INIT;
    Kr__V1__ReferralStep st = KR__V1__REFERRAL_STEP__INIT;
    Kr__V1__ReferralStep *hp = &st;
    MDB_txn *txn = broker_txn(b);
    int rc;

    if (txn == NULL)
        return KR_ESTORE;
    rc = bstore_referral_get(b->store, txn, env->case_id.data,
                             arena_allocator(&b->pb), &old);
    if (rc == KR_OK)
        return KR_OK;
    if (rc != KR_ENOTFOUND)
        return rc;
    r.referral_id = env->case_id;
    r.case_id = env->case_id;
    r.placer = o->id;
    r.performer = env->recipient;
    r.purpose = env->purpose;
    r.subject_pseudonym = env->subject_pseudonym;
    r.opened_at_ms = b->now_ms;
    r.state = KR__V1__TASK_STATUS__TASK_REQUESTED;
    r.state_at_ms = b->now_ms;
    r.type = KR__V1__MESSAGE_TYPE__SUBJECT_LINK;
    r.msg_id = env->msg_id;
    st.at_ms = b->now_ms;
    st.org_id = o->id;
    st.actor_ref = env->actor_ref;
    st.to = KR__V1__TASK_STATUS__TASK_REQUESTED;
    st.msg_id = env->msg_id;
    r.history = &hp;
    r.n_history = 1;
    if (ctx->route != NULL)
        r.coordinator = (char *)routes_coordinator(ctx->route);
    if ((rc = timers_arm_handover(b, &r, ctx->route)) != 0)
        return rc;
    return bstore_referral_put(b->store, txn, &r);
}

/* A HANDOVER accepted by a JGZ organisation ends its case's watch. */
static int
s_handover_accepted(struct broker *b, struct org *o,
                    const Kr__V1__ReferralRecord *h)
{
    Kr__V1__ReferralRecord *w = NULL;
    MDB_txn *txn = broker_txn(b);
    int rc;

    if (txn == NULL)
        return KR_ESTORE;
    if (h->case_id.len != 16 || o->category != KR__V1__ORG_CATEGORY__JGZ)
        return KR_OK;
    rc = bstore_referral_get(b->store, txn, h->case_id.data,
                             arena_allocator(&b->pb), &w);
    if (rc == KR_ENOTFOUND)
        return KR_OK;
    if (rc != KR_OK)
        return rc;
    if (w->type != KR__V1__MESSAGE_TYPE__SUBJECT_LINK ||
        w->state != KR__V1__TASK_STATUS__TASK_REQUESTED)
        return KR_OK;
    Kr__V1__ReferralStep *st = arena_alloc(&b->pb, sizeof(*st));
    kr__v1__referral_step__init(st);
    st->at_ms = b->now_ms;
    st->org_id = o->id;
    st->from = w->state;
    st->to = KR__V1__TASK_STATUS__TASK_COMPLETED;
    st->outcome = "handover-accepted";
    st->msg_id = h->referral_id; /* the HANDOVER's referral */
    s_step(b, w, st);
    w->state = KR__V1__TASK_STATUS__TASK_COMPLETED;
    w->state_at_ms = b->now_ms;
    w->outcome = "handover-accepted";
    if ((rc = timers_moved(b, w, KR__V1__TASK_STATUS__TASK_REQUESTED)) != 0)
        return rc;
    return bstore_referral_put(b->store, txn, w);
}

int
referral_apply(struct broker *b, struct org *o, const Kr__V1__Envelope *env,
               const uint8_t *consent_id, struct referral_ctx *ctx)
{
    (void)consent_id;
    switch (ctx->kind) {
    case REFERRAL_CTX_LINK:
        return s_link(b, o, env, ctx);
    case REFERRAL_CTX_STATUS:
        return s_status(b, o, env, ctx);
    default:
        return KR_OK;
    }
}

int
referral_set_by_broker(struct broker *b, Kr__V1__ReferralRecord *r, int to,
                       bool cancel_request, const char *reason)
{
    Kr__V1__ReferralStep *st = arena_alloc(&b->pb, sizeof(*st));
    MDB_txn *txn = broker_txn(b);
    int from = r->state, rc;

    if (txn == NULL)
        return KR_ESTORE;
    kr__v1__referral_step__init(st);
    st->at_ms = b->now_ms;
    st->org_id = "";
    st->from = from;
    st->to = cancel_request ? from : to;
    st->cancel_step =
        cancel_request ? KR__V1__CANCEL_STEP__CANCEL_REQUESTED : 0;
    st->reason = (char *)reason;
    s_step(b, r, st);
    r->reason = (char *)reason;
    if (cancel_request) {
        r->cancel_pending = true;
    } else {
        r->state = to;
        r->state_at_ms = b->now_ms;
        r->cancel_pending = false;
    }
    if ((rc = timers_moved(b, r, from)) != 0)
        return rc;
    return bstore_referral_put(b->store, txn, r);
}
