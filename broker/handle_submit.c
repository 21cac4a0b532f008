/*
 * handle_submit.c - a node submits a signed envelope.
 *
 * Validate, then store the message, its payload, its queue entry, its
 * expiry and an event record in the pass's transaction. The ACCEPTED
 * receipt is queued now and sent only after the pass commits (loop.c).
 * Every refusal is a receipt with a reason: nothing is dropped silently.
 */
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "bstore.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "referral.h"
#include "erasure.h"
#include "signals.h"

static void
s_refuse(struct broker *b, struct org *o, const uint8_t *rid, size_t rid_len,
         const Kr__V1__Envelope *env, const uint8_t *msg_id, int reason,
         const char *detail)
{
    char hex[KR_ID_HEX_LEN] = "-";

    if (msg_id != NULL)
        util_hex(msg_id, 16, hex);
    log_info("submit: refused org=%s msg=%s reason=%s detail=\"%s\"", o->id,
             hex, reason_name(reason), detail);
    broker_reply_receipt(b, rid, rid_len, msg_id, KR__V1__OUTCOME__REFUSED,
                         reason, detail);
    metrics_refused(b, reason);
    /* Refusals are audited too; a failed write here only loses the record
     * of a refusal, never a message. */
    audit_write(b, &(struct audit_ev){.event = "message.refused",
                                      .action = 'C',
                                      .refused = true,
                                      .org_id = o->id,
                                      .env = env,
                                      .msg_id = msg_id,
                                      .reason = reason,
                                      .check = detail,
                                      .detail = detail});
}

static bool
s_id_ok(ProtobufCBinaryData d)
{
    return d.len == 0 || d.len == 16;
}

/* A message already stored under this id: answer with its state. */
static void
s_duplicate(struct broker *b, struct org *o, const uint8_t *rid, size_t rid_len,
            const uint8_t *msg_id, const Kr__V1__StoredMessage *m)
{
    if (strcmp(m->sender, o->id) != 0) {
        s_refuse(b, o, rid, rid_len, NULL, msg_id, KR__V1__REASON__DUPLICATE_ID,
                 "this msg_id belongs to another sender's message");
        return;
    }
    int outcome;
    switch (m->state) {
    case KR__V1__MESSAGE_STATE__STATE_DELIVERED:
        outcome = KR__V1__OUTCOME__DELIVERED;
        break;
    case KR__V1__MESSAGE_STATE__STATE_REFUSED:
        outcome = KR__V1__OUTCOME__REFUSED;
        break;
    case KR__V1__MESSAGE_STATE__STATE_EXPIRED:
        outcome = KR__V1__OUTCOME__EXPIRED_OUTCOME;
        break;
    case KR__V1__MESSAGE_STATE__STATE_WITHDRAWN:
        outcome = KR__V1__OUTCOME__WITHDRAWN;
        break;
    default:
        outcome = KR__V1__OUTCOME__ACCEPTED;
        break;
    }
    broker_reply_receipt(b, rid, rid_len, msg_id, outcome, m->reason,
                         "duplicate: state as stored");
}

void
handle_submit(struct broker *b, struct org *o, const uint8_t *rid,
              size_t rid_len, const Kr__V1__Submit *s)
{
    Kr__V1__Envelope *env = NULL;
    Kr__V1__StoredMessage *old = NULL;
    Kr__V1__ConsentRecord *crec = NULL;
    const uint8_t *msg_id = NULL;
    char detail[256];
    MDB_txn *txn;
    int rc, reason;

    env = kr__v1__envelope__unpack(arena_allocator(&b->pb), s->envelope.len,
                                   s->envelope.data);
    if (env == NULL) {
        s_refuse(b, o, rid, rid_len, NULL, NULL, KR__V1__REASON__MALFORMED,
                 "envelope does not parse as kr.v1.Envelope");
        return;
    }
    if (env->msg_id.len == 16)
        msg_id = env->msg_id.data;
    if (s->envelope.len > b->cfg.max_envelope_bytes) {
        snprintf(detail, sizeof(detail), "envelope of %zu bytes, limit %llu",
                 s->envelope.len,
                 (unsigned long long)b->cfg.max_envelope_bytes);
        s_refuse(b, o, rid, rid_len, env, msg_id, KR__V1__REASON__TOO_LARGE,
                 detail);
        goto done;
    }
    if (env->version != KR__V1__VERSION__VERSION_1) {
        s_refuse(b, o, rid, rid_len, env, msg_id, KR__V1__REASON__BAD_VERSION,
                 "envelope version is not 1");
        goto done;
    }
    const char *missing = NULL;
    if (msg_id == NULL)
        missing = "msg_id (16 bytes)";
    else if (env->type == KR__V1__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED)
        missing = "type";
    else if (env->created_at_ms == 0)
        missing = "created_at_ms";
    else if (env->sender == NULL || env->sender[0] == '\0')
        missing = "sender";
    else if (env->sender_key_id == NULL || env->sender_key_id[0] == '\0')
        missing = "sender_key_id";
    else if (env->recipient == NULL || env->recipient[0] == '\0')
        missing = "recipient";
    else if (env->payload == NULL || env->payload->nonce.len != 24 ||
             env->payload->ciphertext.len < 16)
        missing = "payload (nonce of 24 bytes, ciphertext)";
    else if (s->signature.len != 64)
        missing = "signature (64 bytes)";
    else if (!s_id_ok(env->referral_id) || !s_id_ok(env->case_id) ||
             !s_id_ok(env->in_reply_to))
        missing = "referral_id, case_id, in_reply_to: 16 bytes when set";
    if (missing != NULL) {
        snprintf(detail, sizeof(detail), "missing or invalid: %s", missing);
        s_refuse(b, o, rid, rid_len, env, msg_id, KR__V1__REASON__MISSING_FIELD,
                 detail);
        goto done;
    }
    if (strcmp(env->sender, o->id) != 0) {
        /* A node that names another organisation as sender is either
         * broken or forging: refuse, and keep the event for the audit. */
        snprintf(detail, sizeof(detail),
                 "envelope sender %.64s is not this connection's %s",
                 env->sender, o->id);
        log_warnx("submit: forged sender org=%s claimed=%.64s", o->id,
                  env->sender);
        s_refuse(b, o, rid, rid_len, env, msg_id,
                 KR__V1__REASON__SENDER_MISMATCH, detail);
        goto done;
    }
    struct org *to = orgs_find(b, env->recipient);
    if (to == NULL) {
        snprintf(detail, sizeof(detail), "recipient %.64s not in directory",
                 env->recipient);
        s_refuse(b, o, rid, rid_len, env, msg_id,
                 KR__V1__REASON__UNKNOWN_RECIPIENT, detail);
        goto done;
    }
    if (to->suspended) {
        snprintf(detail, sizeof(detail), "recipient %s is %s", to->id,
                 to->removed ? "removed from the directory" : "suspended");
        s_refuse(b, o, rid, rid_len, env, msg_id,
                 to->removed ? KR__V1__REASON__RECIPIENT_REMOVED
                             : KR__V1__REASON__RECIPIENT_SUSPENDED,
                 detail);
        goto done;
    }
    if (env->not_after_ms != 0 && env->not_after_ms <= b->now_ms) {
        s_refuse(b, o, rid, rid_len, env, msg_id, KR__V1__REASON__EXPIRED,
                 "not_after has passed");
        goto done;
    }
    if ((txn = broker_txn(b)) == NULL) {
        broker_reply_receipt(b, rid, rid_len, msg_id, KR__V1__OUTCOME__REFUSED,
                             KR__V1__REASON__INTERNAL,
                             "store unavailable; retry later");
        metrics_refused(b, KR__V1__REASON__INTERNAL);
        goto done;
    }
    rc = bstore_msg_get(b->store, txn, msg_id, NULL, &old);
    if (rc == KR_OK) {
        s_duplicate(b, o, rid, rid_len, msg_id, old);
        goto done;
    }
    if ((reason = full_refusal(b, s->envelope.len)) != 0) {
        broker_reply_receipt(b, rid, rid_len, msg_id, KR__V1__OUTCOME__REFUSED,
                             reason,
                             reason == KR__V1__REASON__DISK_FULL
                                 ? "broker disk is full; retry later"
                                 : "broker store is full; retry later");
        metrics_refused(b, reason);
        goto done;
    }

    /* What the message is allowed to do: a consent grant or revoke must
     * make sense to the ledger; anything else must pass the gate. */
    uint8_t cid[16];
    bool has_cid = false, noodknop = false;
    const char *why = NULL;
    struct signal_ctx sctx;
    if (env->type == KR__V1__MESSAGE_TYPE__SIGNAL)
        reason = signal_check(b, o, to, env, &sctx, &why);
    else if (env->type == KR__V1__MESSAGE_TYPE__ERASURE_REQUEST)
        reason = erasure_check(b, o, to, env, &why);
    else if (env->type == KR__V1__MESSAGE_TYPE__CONSENT_GRANT)
        reason = consent_check_grant(b, o, env, &why, &crec);
    else if (env->type == KR__V1__MESSAGE_TYPE__CONSENT_REVOKE)
        reason = consent_check_revoke(b, o, env, &why, &crec);
    else
        reason = consent_gate(b, o, to, env, cid, &has_cid, &noodknop, &why);
    if (reason == 0)
        reason = erasure_refusal(env, &why);
    if (reason != 0) {
        s_refuse(b, o, rid, rid_len, env, msg_id, reason, why);
        goto done;
    }
    if (env->type == KR__V1__MESSAGE_TYPE__SIGNAL ||
        env->type == KR__V1__MESSAGE_TYPE__ERASURE_REQUEST) {
        /* Kept or executed by the broker, delivered to no one (signals.c,
         * erasure.c). A failed write fails the commit, which turns this
         * ACCEPTED into a refusal. */
        if (env->type == KR__V1__MESSAGE_TYPE__SIGNAL) {
            signal_accept(b, o, env, s, &sctx, why);
        } else if (erasure_accept(b, o, env, s) == KR_EIO) {
            /* The register is written first: nothing else was. */
            s_refuse(b, o, rid, rid_len, env, msg_id, KR__V1__REASON__INTERNAL,
                     "the erasure register cannot be written; retry later");
            goto done;
        }
        broker_reply_receipt(b, rid, rid_len, msg_id, KR__V1__OUTCOME__ACCEPTED,
                             0, "");
        goto done;
    }
    /* Its referral: opened, moved as the table allows, or open and
     * between the same two parties (referral.c). */
    struct referral_ctx rctx;
    const char *rwhy = NULL;
    if ((reason = referral_check(b, o, to, env, has_cid ? cid : NULL, &rctx,
                                 &rwhy)) != 0) {
        s_refuse(b, o, rid, rid_len, env, msg_id, reason, rwhy);
        goto done;
    }

    /* Store: metadata, payload, queue entry, expiry, consent index, the
     * ledger change, the audit record: one transaction, one commit. */
    Kr__V1__StoredMessage m = KR__V1__STORED_MESSAGE__INIT;
    Kr__V1__QueueItem item = KR__V1__QUEUE_ITEM__INIT;
    m.sender = o->id;
    m.recipient = to->id;
    m.state = KR__V1__MESSAGE_STATE__QUEUED;
    m.accepted_at_ms = b->now_ms;
    m.not_after_ms = env->not_after_ms;
    m.type = env->type;
    m.referral_id = env->referral_id;
    m.noodknop = noodknop;
    item.msg_id.data = (uint8_t *)msg_id;
    item.msg_id.len = 16;
    if (has_cid) {
        m.consent_id.data = cid;
        m.consent_id.len = 16;
        item.consent_id = m.consent_id;
    }
    /* The message's seq first: the queue item carries it, so that the
     * pump and the ack find the message without msg_index. */
    if ((rc = bstore_msg_seq(b->store, txn, msg_id, true, &item.msg_seq)) !=
            0 ||
        (rc = deliver_enqueue(b, to, &item, &m.queue_seq)) != 0 ||
        (rc = bstore_msg_put(b->store, txn, msg_id, &m)) != 0 ||
        (rc = bstore_payload_put(b->store, txn, msg_id, s->signature.data,
                                 s->signature.len, s->envelope.data,
                                 s->envelope.len)) != 0 ||
        (env->not_after_ms != 0 &&
         (rc = bstore_expiry_put(b->store, txn, env->not_after_ms, msg_id)) !=
             0) ||
        (has_cid && (rc = bstore_consent_msg_put(b->store, txn, cid, msg_id,
                                                 'q', to->id)) != 0) ||
        (env->type == KR__V1__MESSAGE_TYPE__CONSENT_GRANT &&
         (rc = consent_apply_grant(b, o, env, crec)) != 0) ||
        (env->type == KR__V1__MESSAGE_TYPE__CONSENT_REVOKE &&
         (rc = consent_apply_revoke(b, o, env, crec)) != 0) ||
        (rctx.kind != REFERRAL_CTX_NONE &&
         (rc = referral_apply(b, o, env, has_cid ? cid : NULL, &rctx)) != 0) ||
        (rc = signal_on_message(b, env)) != 0 ||
        (rc = audit_write(b,
                          &(struct audit_ev){.event = "message.accepted",
                                             .action = 'C',
                                             .org_id = o->id,
                                             .env = env,
                                             .consent_id = has_cid ? cid : NULL,
                                             .check = why,
                                             .noodknop = noodknop})) != 0) {
        /* The transaction is now unusable (LMDB marks it failed); the
         * commit will fail and turn every ACCEPTED of the pass into a
         * refusal, this one included. */
        broker_reply_receipt(b, rid, rid_len, msg_id, KR__V1__OUTCOME__ACCEPTED,
                             0, "");
        goto done;
    }
    deliver_took_room(b, s->envelope.len);
    metrics_accepted(b);
    if (noodknop)
        log_warnx("submit: meldrecht used org=%s to=%s (noodknop, audited)",
                  o->id, to->id);
    broker_reply_receipt(b, rid, rid_len, msg_id, KR__V1__OUTCOME__ACCEPTED, 0,
                         "");
    if (log_enabled(LOG_LEVEL_DEBUG)) {
        char hex[KR_ID_HEX_LEN];
        log_debug("submit: accepted org=%s msg=%s to=%s type=%s", o->id,
                  util_hex(msg_id, 16, hex), to->id,
                  message_type_name(env->type));
    }
done:
    if (crec != NULL)
        kr__v1__consent_record__free_unpacked(crec, NULL);
    if (old != NULL)
        kr__v1__stored_message__free_unpacked(old, NULL);
    kr__v1__envelope__free_unpacked(env, arena_allocator(&b->pb));
}
