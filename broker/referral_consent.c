/*
 * referral_consent.c - a revoked consent and the referrals under it. In
 * the revoke's own commit: a referral that has not started is cancelled
 * (reason consent-revoked) and both its parties get a notice; for one in
 * progress the performer gets a cancellation request, which it confirms
 * or declines like the placer's (CancelStep).
 */
#include <stdlib.h>
#include <string.h>

#include "bstore.h"
#include "log.h"
#include "referral.h"
#include "referral_table.h"
#include "timers.h"

struct s_ids {
    uint8_t (*v)[16];
    size_t n, cap;
};

static void
s_collect(const uint8_t msg_id[16], char state, const char *recipient,
          void *arg)
{
    struct s_ids *ids = arg;

    (void)state;
    (void)recipient;
    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? 2 * ids->cap : 64;
        ids->v = xrealloc(ids->v, ids->cap * sizeof(*ids->v));
    }
    memcpy(ids->v[ids->n++], msg_id, 16);
}

static bool
s_started(const Kr__V1__ReferralRecord *r)
{
    if (r->state == KR__V1__TASK_STATUS__TASK_IN_PROGRESS)
        return true;
    for (size_t i = 0; i < r->n_history; i++)
        if (r->history[i]->to == KR__V1__TASK_STATUS__TASK_IN_PROGRESS)
            return true;
    return false;
}

static int
s_notice(struct broker *b, const char *to_id, int kind,
         const Kr__V1__ReferralRecord *r, const uint8_t consent_id[16])
{
    struct org *to = orgs_find(b, to_id);
    Kr__V1__Notice n = KR__V1__NOTICE__INIT;
    Kr__V1__QueueItem item = KR__V1__QUEUE_ITEM__INIT;
    uint8_t id[16];

    if (to == NULL)
        return KR_OK;
    util_time_ordered_id(id);
    n.notice_id = (ProtobufCBinaryData){16, id};
    n.kind = kind;
    n.referral_id = r->referral_id;
    n.consent_id = (ProtobufCBinaryData){16, (uint8_t *)consent_id};
    n.state = r->state;
    n.reason = "consent-revoked";
    n.at_ms = b->now_ms;
    item.msg_id = n.notice_id;
    item.notice = &n;
    return deliver_enqueue(b, to, &item, NULL);
}

int
referral_consent_revoked(struct broker *b, struct org *by,
                         const uint8_t consent_id[16])
{
    MDB_txn *txn = broker_txn(b);
    struct s_ids ids = {NULL, 0, 0};
    size_t cancelled = 0, asked = 0;
    int rc;

    if (txn == NULL)
        return KR_ESTORE;
    if ((rc = bstore_consent_msg_scan(b->store, txn, consent_id, s_collect,
                                      &ids)) != 0)
        goto done;
    for (size_t i = 0; i < ids.n; i++) {
        struct arena_mark mark = arena_mark(&b->pb);
        ProtobufCAllocator *pa = arena_allocator(&b->pb);
        Kr__V1__StoredMessage *m = NULL;
        Kr__V1__ReferralRecord *r = NULL;
        rc = KR_OK;
        if (bstore_msg_get(b->store, txn, ids.v[i], pa, &m) != 0 ||
            (m->type != KR__V1__MESSAGE_TYPE__REFERRAL &&
             m->type != KR__V1__MESSAGE_TYPE__HANDOVER) ||
            m->referral_id.len != 16 ||
            bstore_referral_get(b->store, txn, m->referral_id.data, pa, &r) !=
                0 ||
            rt_final(r->state)) {
            arena_release(&b->pb, mark);
            continue;
        }
        Kr__V1__Envelope env = KR__V1__ENVELOPE__INIT;
        env.referral_id = r->referral_id;
        env.purpose = r->purpose;
        env.subject_pseudonym = r->subject_pseudonym;
        env.consent_id = (ProtobufCBinaryData){16, (uint8_t *)consent_id};
        if (!s_started(r)) {
            rc = referral_set_by_broker(b, r,
                                        KR__V1__TASK_STATUS__TASK_CANCELLED,
                                        false, "consent-revoked");
            if (rc == 0)
                rc = s_notice(b, r->placer,
                              KR__V1__NOTICE_KIND__NOTICE_REFERRAL_CANCELLED, r,
                              consent_id);
            if (rc == 0)
                rc = s_notice(b, r->performer,
                              KR__V1__NOTICE_KIND__NOTICE_REFERRAL_CANCELLED, r,
                              consent_id);
            if (rc == 0)
                rc = audit_write(
                    b, &(struct audit_ev){.event = "referral.cancelled",
                                          .action = 'U',
                                          .org_id = by->id,
                                          .env = &env,
                                          .detail = "consent-revoked",
                                          .check = "consent revoked before the "
                                                   "work started"});
            cancelled++;
        } else if (!r->cancel_pending) {
            rc =
                referral_set_by_broker(b, r, r->state, true, "consent-revoked");
            if (rc == 0)
                rc = s_notice(b, r->performer,
                              KR__V1__NOTICE_KIND__NOTICE_CANCEL_REQUEST, r,
                              consent_id);
            if (rc == 0)
                rc = audit_write(
                    b, &(struct audit_ev){.event = "referral.cancel-requested",
                                          .action = 'U',
                                          .org_id = by->id,
                                          .env = &env,
                                          .object = r->performer,
                                          .detail = "consent-revoked",
                                          .check = "consent revoked while in "
                                                   "progress"});
            asked++;
        }
        arena_release(&b->pb, mark);
        if (rc != 0)
            goto done;
    }
    if (cancelled + asked > 0)
        log_info("referral: consent revoked: cancelled=%zu "
                 "cancel_requested=%zu",
                 cancelled, asked);
done:
    free(ids.v);
    return rc;
}
