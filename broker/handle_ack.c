/*
 * handle_ack.c - a node has committed (or refused) a delivery or a durable
 * receipt. The queue entry goes, the message's state moves, and the sender
 * gets a durable receipt, all in the pass's transaction.
 */
#include <string.h>

#include "broker.h"
#include "bstore.h"
#include "log.h"
#include "names.h"

void
handle_ack(struct broker *b, struct org *o, const Kr__V1__Ack *a)
{
    MDB_txn *txn = broker_txn(b);
    /* Called inside the frame's arena scope (loop.c). */
    ProtobufCAllocator *pa = arena_allocator(&b->pb);
    Kr__V1__QueueItem *item = NULL;
    Kr__V1__StoredMessage *m = NULL;
    const uint8_t *data;
    size_t len;
    char hex[KR_ID_HEX_LEN];

    if (txn == NULL || a->msg_id.len != 16)
        return;
    /* An ack for a seq that is gone is a duplicate (the item was resent):
     * harmless. One whose msg_id does not match is a confused node. */
    if (bstore_queue_get(b->store, txn, o->id, a->seq, &data, &len) != 0)
        return;
    item = kr__v1__queue_item__unpack(pa, len, data);
    if (item == NULL || item->msg_id.len != 16 ||
        memcmp(item->msg_id.data, a->msg_id.data, 16) != 0) {
        log_warnx("ack: org=%s seq=%llu: msg_id does not match the queue",
                  o->id, (unsigned long long)a->seq);
        goto done;
    }
    if (bstore_queue_del(b->store, txn, o->id, a->seq) != 0)
        goto done;
    if (o->inflight > 0)
        o->inflight--;
    o->progress_ms = util_mono_ms();
    o->resend_attempt = 0;
    o->dirty = true;
    if (item->is_receipt || item->notice != NULL) {
        /* The organisation now holds its receipt or notice: the last step
         * of the message's trail, so it is audited too. */
        audit_write(b,
                    &(struct audit_ev){
                        .event = item->is_receipt ? "receipt.acknowledged"
                                                  : "notice.acknowledged",
                        .action = 'R',
                        .org_id = o->id,
                        .msg_id = item->msg_id.data,
                        .consent_id = item->notice != NULL &&
                                              item->notice->consent_id.len == 16
                                          ? item->notice->consent_id.data
                                          : NULL,
                        .detail = item->is_receipt && item->receipt
                                      ? outcome_name(item->receipt->outcome)
                                      : "consent-revoked",
                        .check = "committed by the organisation"});
        goto done;
    }

    /* The queue item knows where the message is; finalising it looks its
     * seq up three more times. */
    if (item->msg_seq != 0)
        bstore_msg_seq_known(b->store, item->msg_id.data, item->msg_seq);
    if ((item->msg_seq != 0
             ? bstore_msg_get_at(b->store, txn, item->msg_seq, pa, &m)
             : bstore_msg_get(b->store, txn, item->msg_id.data, pa, &m)) != 0) {
        log_warnx("ack: org=%s msg=%s: no such message", o->id,
                  util_hex(item->msg_id.data, 16, hex));
        goto done;
    }
    if (m->state != KR__V1__MESSAGE_STATE__QUEUED)
        goto done; /* already final (expired or withdrawn meanwhile) */
    int reason =
        a->refused ? (a->reason ? a->reason : KR__V1__REASON__INTERNAL) : 0;
    if (!a->refused)
        log_debug("ack: delivered msg=%s to=%s from=%s",
                  util_hex(item->msg_id.data, 16, hex), o->id, m->sender);
    if (a->refused)
        log_warnx("ack: org=%s refused msg=%s from=%s reason=%s", o->id,
                  util_hex(item->msg_id.data, 16, hex), m->sender,
                  reason_name(reason));
    if (deliver_finalize(
            b, item->msg_id.data, m,
            a->refused ? KR__V1__MESSAGE_STATE__STATE_REFUSED
                       : KR__V1__MESSAGE_STATE__STATE_DELIVERED,
            a->refused ? KR__V1__OUTCOME__REFUSED : KR__V1__OUTCOME__DELIVERED,
            reason, a->refused ? "refused by the recipient" : "") != 0)
        goto done;
    audit_write(b, &(struct audit_ev){
                       .event = a->refused ? "message.refused-by-recipient"
                                           : "message.delivered",
                       .action = 'U',
                       .refused = a->refused,
                       .org_id = o->id,
                       .msg = m,
                       .msg_id = item->msg_id.data,
                       .object = m->sender,
                       .reason = reason,
                       .check = a->refused ? "recipient verification"
                                           : "recipient committed"});
done:
    if (m != NULL)
        kr__v1__stored_message__free_unpacked(m, pa);
    if (item != NULL)
        kr__v1__queue_item__free_unpacked(item, pa);
}
