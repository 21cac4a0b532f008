/*
 * referrals.c - the node's side of the referral state: the clear codes a
 * REFERRAL_STATUS carries for the broker.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"
#include "referral_table.h"

static bool
s_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

int
referrals_send_codes(const Kr__V1__SendRequest *sr, const Kr__V1__Content *c,
                     struct seal_fields *f, const char **why)
{
    const Kr__V1__ReferralStatus *rs =
        c != NULL && c->body_case == KR__V1__CONTENT__BODY_REFERRAL_STATUS
            ? c->referral_status
            : NULL;

    f->task_status = sr->task_status;
    f->cancel_step = sr->cancel_step;
    f->status_reason = sr->status_reason;
    f->status_outcome = sr->status_outcome;
    if (sr->type != KR__V1__MESSAGE_TYPE__REFERRAL_STATUS) {
        if (f->task_status != 0 || f->cancel_step != 0 ||
            s_set(f->status_reason) || s_set(f->status_outcome)) {
            *why = "task_status, cancel_step, status_reason and "
                   "status_outcome are for referral-status only";
            return KR_EINVAL;
        }
        return KR_OK;
    }
    /* The adapter named the codes itself: they go as given (the broker
     * judges them). Otherwise they come from the sealed status. */
    if (f->task_status != 0 || f->cancel_step != 0 || rs == NULL)
        return KR_OK;
    int st = task_status_parse(rs->status);
    int cs = st < 0 ? cancel_step_parse(rs->status) : -1;
    if (st < 0 && cs < 0) {
        *why = "referral_status.status is neither a FHIR Task status nor a "
               "cancellation step";
        return KR_EINVAL;
    }
    f->task_status = st > 0 ? st : 0;
    f->cancel_step = cs > 0 ? cs : 0;
    if (!s_set(f->status_reason))
        f->status_reason = rs->status_reason;
    if (!s_set(f->status_outcome))
        f->status_outcome = rs->outcome;
    return KR_OK;
}

/*
 * The state a node keeps of the referrals its organisation is party to.
 * It follows the broker's: a message changes it when the broker accepted
 * it (the sender, on its ACCEPTED receipt) and when it arrives (the
 * recipient), through the same table (common/referral_table.c), and the
 * broker's notices (cancelled under a revoked consent, a cancellation
 * request, an escalation) change it too. A message already in the history
 * (by msg_id) is not applied twice.
 */

static Kr__V1__NodeReferral *
s_load(struct node *n, MDB_txn *txn, const uint8_t id[KR_ID_LEN], int *rc)
{
    const uint8_t *v;
    size_t len;

    *rc = nstore_referral_get(n->store, txn, id, &v, &len);
    if (*rc != KR_OK)
        return NULL;
    Kr__V1__NodeReferral *r = kr__v1__node_referral__unpack(NULL, len, v);
    if (r == NULL)
        *rc = KR_ESTORE;
    return r;
}

/* Save a change: updated_at_ms is the pass's time (and moves the
 * record's place in referrals_changed). 'fresh': a new record, in no
 * index yet. */
static int
s_save(struct node *n, MDB_txn *txn, Kr__V1__NodeReferral *r, bool fresh)
{
    uint64_t old_at = fresh ? 0 : r->updated_at_ms;
    int rc;

    if (!fresh && old_at == 0) /* written by a schema 3 node: indexed so */
        old_at = r->state_at_ms    ? r->state_at_ms
                 : r->opened_at_ms ? r->opened_at_ms
                                   : 1;
    r->updated_at_ms = n->pass.now_ms != 0 ? n->pass.now_ms : util_now_ms();
    size_t len = kr__v1__node_referral__get_packed_size(r);
    uint8_t *buf = xmalloc(len ? len : 1);

    kr__v1__node_referral__pack(r, buf);
    rc = nstore_referral_put(n->store, txn, r->referral_id.data, buf, len,
                             old_at, r->updated_at_ms);
    free(buf);
    return rc;
}

/* Append a step; the step and the strings it borrows must outlive the
 * save (the caller's stack). */
static void
s_step(Kr__V1__NodeReferral *r, Kr__V1__NodeReferralStep *st,
       Kr__V1__NodeReferralStep ***grown)
{
    Kr__V1__NodeReferralStep **h = xmalloc((r->n_history + 1) * sizeof(*h));

    if (r->n_history > 0)
        memcpy(h, r->history, r->n_history * sizeof(*h));
    h[r->n_history++] = st;
    *grown = h;
}

static bool
s_seen(const Kr__V1__NodeReferral *r, const ProtobufCBinaryData *msg_id)
{
    for (size_t i = 0; i < r->n_history; i++)
        if (r->history[i]->msg_id.len == msg_id->len && msg_id->len > 0 &&
            memcmp(r->history[i]->msg_id.data, msg_id->data, msg_id->len) == 0)
            return true;
    return false;
}

/* The record's history array as unpacked, restored before it is freed. */
static void
s_free(Kr__V1__NodeReferral *r, Kr__V1__NodeReferralStep **orig, size_t n,
       Kr__V1__NodeReferralStep **grown)
{
    if (r == NULL)
        return;
    if (grown != NULL) {
        free(grown);
        r->history = orig;
        r->n_history = n;
    }
    kr__v1__node_referral__free_unpacked(r, NULL);
}

int
referrals_on_message(struct node *n, MDB_txn *txn, const Kr__V1__Envelope *e)
{
    Kr__V1__NodeReferralStep st = KR__V1__NODE_REFERRAL_STEP__INIT;
    Kr__V1__NodeReferralStep **grown = NULL, **orig;
    Kr__V1__NodeReferral *r;
    size_t norig;
    int rc;

    if (e->referral_id.len != KR_ID_LEN)
        return KR_OK;
    bool opens = e->type == KR__V1__MESSAGE_TYPE__REFERRAL ||
                 e->type == KR__V1__MESSAGE_TYPE__HANDOVER;
    if (!opens && e->type != KR__V1__MESSAGE_TYPE__REFERRAL_STATUS)
        return KR_OK;
    st.at_ms = n->pass.now_ms;
    st.org_id = e->sender;
    st.msg_id = e->msg_id;
    r = s_load(n, txn, e->referral_id.data, &rc);
    if (r == NULL && rc != KR_ENOTFOUND)
        return rc;
    if (opens) {
        if (r != NULL) { /* known: a second message on it changes nothing */
            kr__v1__node_referral__free_unpacked(r, NULL);
            return KR_OK;
        }
        Kr__V1__NodeReferral nr = KR__V1__NODE_REFERRAL__INIT;
        Kr__V1__NodeReferralStep *hp = &st;
        nr.referral_id = e->referral_id;
        nr.placer = e->sender;
        nr.performer = e->recipient;
        nr.purpose = e->purpose;
        nr.state = KR__V1__TASK_STATUS__TASK_REQUESTED;
        nr.state_at_ms = n->pass.now_ms;
        nr.opened_at_ms = n->pass.now_ms;
        nr.type = e->type;
        nr.case_id = e->case_id;
        st.to = KR__V1__TASK_STATUS__TASK_REQUESTED;
        nr.history = &hp;
        nr.n_history = 1;
        return s_save(n, txn, &nr, true);
    }
    if (r == NULL) {
        /* A status on a referral this node never saw open (it joined
         * later, or its store was restored): kept from here on. */
        log_warnx("referrals: status for a referral not known here: "
                  "started from it");
        Kr__V1__NodeReferral nr = KR__V1__NODE_REFERRAL__INIT;
        Kr__V1__NodeReferralStep *hp = &st;
        nr.referral_id = e->referral_id;
        nr.placer = e->recipient;
        nr.performer = e->sender;
        nr.purpose = e->purpose;
        nr.state = e->task_status;
        nr.state_at_ms = n->pass.now_ms;
        st.to = e->task_status;
        nr.history = &hp;
        nr.n_history = 1;
        return s_save(n, txn, &nr, true);
    }
    orig = r->history;
    norig = r->n_history;
    if (s_seen(r, &e->msg_id)) {
        s_free(r, orig, norig, NULL);
        return KR_OK;
    }
    int role = strcmp(e->sender, r->placer) == 0 ? RT_PLACER : RT_PERFORMER;
    struct rt_query q = {
        .state = r->state,
        .role = role,
        .action = rt_action(e->task_status, e->cancel_step),
        .reason = e->status_reason,
        .outcome = e->status_outcome,
        .cancel_pending = r->cancel_pending,
    };
    struct rt_decision d;
    rt_decide(&q, &d);
    if (d.reason != 0) {
        /* The broker accepted it, so its state allowed it: ours is
         * behind (a message not yet seen). Keep the broker's word. */
        log_info("referrals: %s not allowed from %s as this node knows "
                 "it (%s): taken as the broker accepted it",
                 rt_action_name(q.action), task_status_name(r->state), d.why);
        d.to = e->task_status != 0 ? (int)e->task_status : (int)r->state;
        if (e->cancel_step == KR__V1__CANCEL_STEP__CANCEL_CONFIRMED)
            d.to = KR__V1__TASK_STATUS__TASK_CANCELLED;
        d.cancel_pending =
            e->cancel_step == KR__V1__CANCEL_STEP__CANCEL_REQUESTED;
    }
    st.from = r->state;
    st.to = d.to;
    st.cancel_step = e->cancel_step;
    st.reason = e->status_reason;
    st.outcome = e->status_outcome;
    s_step(r, &st, &grown);
    r->history = grown;
    if (d.to != (int)r->state)
        r->state_at_ms = n->pass.now_ms;
    r->state = d.to;
    r->cancel_pending = d.cancel_pending;
    char *keep_reason = r->reason, *keep_outcome = r->outcome;
    if (e->status_reason[0] != '\0')
        r->reason = e->status_reason;
    if (e->status_outcome[0] != '\0')
        r->outcome = e->status_outcome;
    rc = s_save(n, txn, r, false);
    r->reason = keep_reason;
    r->outcome = keep_outcome;
    s_free(r, orig, norig, grown);
    return rc;
}

int
referrals_on_accepted(struct node *n, MDB_txn *txn,
                      const uint8_t msg_id[KR_ID_LEN])
{
    const uint8_t *sig, *env;
    size_t env_len;
    int rc;

    if (nstore_outbox_envelope(n->store, txn, msg_id, &sig, &env, &env_len) !=
        KR_OK)
        return KR_OK;
    Kr__V1__Envelope *e = kr__v1__envelope__unpack(NULL, env_len, env);
    if (e == NULL)
        return KR_OK;
    rc = referrals_on_message(n, txn, e);
    kr__v1__envelope__free_unpacked(e, NULL);
    return rc;
}

int
referrals_on_notice(struct node *n, MDB_txn *txn, const Kr__V1__Notice *nt)
{
    Kr__V1__NodeReferralStep st = KR__V1__NODE_REFERRAL_STEP__INIT;
    Kr__V1__NodeReferralStep **grown = NULL, **orig;
    Kr__V1__NodeReferral *r;
    size_t norig;
    int rc;

    if (nt->referral_id.len != KR_ID_LEN ||
        (nt->kind != KR__V1__NOTICE_KIND__NOTICE_ESCALATION &&
         nt->kind != KR__V1__NOTICE_KIND__NOTICE_REFERRAL_CANCELLED &&
         nt->kind != KR__V1__NOTICE_KIND__NOTICE_CANCEL_REQUEST))
        return KR_OK;
    r = s_load(n, txn, nt->referral_id.data, &rc);
    if (r == NULL)
        return rc == KR_ENOTFOUND ? KR_OK : rc;
    orig = r->history;
    norig = r->n_history;
    char *keep_reason = r->reason;
    if (nt->kind == KR__V1__NOTICE_KIND__NOTICE_ESCALATION) {
        r->escalations++;
        r->last_escalation_ms = nt->at_ms;
    } else {
        st.at_ms = nt->at_ms;
        st.org_id = "";
        st.from = r->state;
        st.reason = nt->reason;
        if (nt->kind == KR__V1__NOTICE_KIND__NOTICE_REFERRAL_CANCELLED) {
            st.to = KR__V1__TASK_STATUS__TASK_CANCELLED;
            r->state = KR__V1__TASK_STATUS__TASK_CANCELLED;
            r->state_at_ms = nt->at_ms;
            r->cancel_pending = false;
        } else {
            st.to = r->state;
            st.cancel_step = KR__V1__CANCEL_STEP__CANCEL_REQUESTED;
            r->cancel_pending = true;
        }
        r->reason = nt->reason;
        s_step(r, &st, &grown);
        r->history = grown;
    }
    rc = s_save(n, txn, r, false);
    r->reason = keep_reason;
    s_free(r, orig, norig, grown);
    return rc;
}

/* A listing's filter and its answer. */
struct s_list {
    const Kr__V1__ReferralListRequest *q;
    Kr__V1__LocalResponse *resp;
    size_t max;
};

static int
s_list_one(const uint8_t *val, size_t len, void *arg)
{
    struct s_list *l = arg;
    Kr__V1__NodeReferral *r = kr__v1__node_referral__unpack(NULL, len, val);

    if (r == NULL)
        return 0;
    bool overdue = !rt_final(r->state) && r->last_escalation_ms != 0 &&
                   r->last_escalation_ms >= r->state_at_ms;
    if ((l->q->state != 0 && (int)r->state != (int)l->q->state) ||
        (l->q->overdue && !overdue)) {
        kr__v1__node_referral__free_unpacked(r, NULL);
        return 0;
    }
    l->resp->referrals[l->resp->n_referrals++] = r;
    return l->resp->n_referrals >= l->max;
}

int
referrals_local(struct node *n, MDB_txn *txn, const Kr__V1__LocalRequest *req,
                Kr__V1__LocalResponse *resp, const char **why)
{
    int rc;

    if (req->op_case == KR__V1__LOCAL_REQUEST__OP_REFERRAL_GET) {
        if (req->referral_get.len != KR_ID_LEN) {
            *why = "referral_get: a referral_id of 16 bytes";
            return KR_EINVAL;
        }
        Kr__V1__NodeReferral *r = s_load(n, txn, req->referral_get.data, &rc);
        if (r == NULL) {
            *why = rc == KR_ENOTFOUND ? "no such referral here" : "store";
            return rc;
        }
        resp->referrals = xmalloc(sizeof(*resp->referrals));
        resp->referrals[0] = r;
        resp->n_referrals = 1;
        return KR_OK;
    }
    static const Kr__V1__ReferralListRequest none =
        KR__V1__REFERRAL_LIST_REQUEST__INIT;
    const Kr__V1__ReferralListRequest *q =
        req->referral_list != NULL ? req->referral_list : &none;
    if (q->after.len != 0 && q->after.len != KR_ID_LEN) {
        *why = "after: a referral_id of 16 bytes";
        return KR_EINVAL;
    }
    struct s_list l = {q, resp,
                       q->limit > 0 && q->limit < 1000 ? q->limit : 1000};
    resp->referrals = xcalloc(l.max, sizeof(*resp->referrals));
    if (q->changed_since_ms != 0)
        rc = nstore_referral_changed_scan(n->store, txn, q->changed_since_ms,
                                          q->after.len ? q->after.data : NULL,
                                          s_list_one, &l);
    else
        rc = nstore_referral_scan(
            n->store, txn, q->after.len ? q->after.data : NULL, s_list_one, &l);
    if (rc != KR_OK)
        *why = "store";
    return rc;
}

void
referrals_local_free(Kr__V1__LocalResponse *resp)
{
    for (size_t i = 0; i < resp->n_referrals; i++)
        kr__v1__node_referral__free_unpacked(resp->referrals[i], NULL);
    free(resp->referrals);
    resp->referrals = NULL;
    resp->n_referrals = 0;
}
