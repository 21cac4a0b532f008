/*
 * deliver.c - per-organisation queues: enqueue, the pump that sends them
 * within each node's window, resends, and expiry.
 *
 * The backlog lives in LMDB, never in memory: the pump reads at most
 * 'window' items per node from a read transaction and sends them straight
 * from the map. What the broker remembers per node is a cursor, a count in
 * flight and a timer.
 */
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "broker.h"
#include "bstore.h"
#include "bstore_retention.h"
#include "crypto.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "erasure.h"
#include "retention.h"
#include "signals.h"
#include "timers.h"

#define S_MAX_RESEND_MS 60000
#define S_DELIVERIES_PER_FRAME 64
#define S_FRAME_BYTES (1u << 20)
#define S_EXPIRE_PER_PASS 256

int
deliver_enqueue(struct broker *b, struct org *o, Kr__V1__QueueItem *item,
                uint64_t *seq_out)
{
    MDB_txn *txn = broker_txn(b);
    uint64_t seq = o->next_seq;
    int rc;

    if (txn == NULL)
        return KR_ESTORE;
    item->enqueued_at_ms = b->now_ms;
    if ((rc = bstore_queue_put(b->store, txn, o->id, seq, item)) != 0)
        return rc;
    o->next_seq++;
    o->dirty = true;
    if (!item->is_receipt && item->notice == NULL)
        b->new_in_pass++;
    if (seq_out != NULL)
        *seq_out = seq;
    return KR_OK;
}

int
deliver_final_receipt(struct broker *b, const char *sender,
                      const uint8_t msg_id[16], int outcome, int reason,
                      const char *detail)
{
    Kr__V1__Receipt r = KR__V1__RECEIPT__INIT;
    struct org *o = orgs_find(b, sender);

    if (o == NULL) {
        log_errorx("deliver: receipt for unknown sender org=%s", sender);
        return KR_ENOTFOUND;
    }
    /* A removed organisation has no node to take it: its queue would only
     * grow (admin_keys.c). */
    if (o->removed)
        return KR_OK;
    r.msg_id.data = (uint8_t *)msg_id;
    r.msg_id.len = 16;
    r.outcome = outcome;
    r.reason = reason;
    r.detail = (char *)(detail ? detail : "");
    r.at_ms = b->now_ms;
    Kr__V1__QueueItem item = KR__V1__QUEUE_ITEM__INIT;
    item.msg_id.data = (uint8_t *)msg_id;
    item.msg_id.len = 16;
    item.is_receipt = true;
    item.receipt = &r;
    return deliver_enqueue(b, o, &item, NULL);
}

int
deliver_persist_seqs(struct broker *b)
{
    /* Seqs are never reused after a restart, even when a queue ran empty:
     * meta holds a bound past every seq handed out. It moves a block at a
     * time, so that most passes leave the meta tree alone (one page and
     * its flush fewer per commit); a restart skips the rest of a block. */
    ORGS_FOREACH(b, o)
    {
        if (o->next_seq <= o->seq_reserved)
            continue;
        char name[KR_ORG_ID_MAX + 8];
        uint64_t bound = o->next_seq + DELIVER_SEQ_BLOCK;
        snprintf(name, sizeof(name), "seq:%s", o->id);
        int rc = bstore_meta_put_u64(b->store, b->txn, name, bound);
        if (rc != 0)
            return rc;
        o->seq_reserved = bound;
    }
    return KR_OK;
}

void
deliver_forget_reserved(struct broker *b)
{
    /* A pass that did not commit did not write its bound either. */
    ORGS_FOREACH(b, o)
    o->seq_reserved = 0;
}

int
deliver_finalize(struct broker *b, const uint8_t msg_id[16],
                 Kr__V1__StoredMessage *m, int state, int outcome, int reason,
                 const char *detail)
{
    MDB_txn *txn = broker_txn(b);
    const uint8_t *sig, *env;
    size_t env_len;
    uint8_t hash[32];
    int rc;

    if (txn == NULL)
        return KR_ESTORE;
    m->state = state;
    m->reason = reason;
    m->final_at_ms = b->now_ms;
    /* The ciphertext has done its work: keep only what proves what was
     * accepted (hash and signature), never the sealed content itself. The
     * copy borrows the map and a stack buffer; 'm' itself stays the
     * caller's unpacked message, safe to free whatever happens here. */
    Kr__V1__StoredMessage copy = *m;
    if (bstore_payload_get(b->store, txn, msg_id, &sig, &env, &env_len) == 0) {
        kcrypto_hash(env, env_len, hash);
        copy.envelope_hash.data = hash;
        copy.envelope_hash.len = 32;
        copy.signature.data = (uint8_t *)sig;
        copy.signature.len = 64;
    }
    /* Write the metadata while sig still points into the map, then delete. */
    if ((rc = bstore_msg_put(b->store, txn, msg_id, &copy)) != 0 ||
        (rc = bstore_final_put(b->store, txn, b->now_ms, msg_id)) != 0)
        return rc;
    if ((rc = bstore_payload_del(b->store, txn, msg_id)) != 0)
        return rc;
    if (m->not_after_ms != 0 &&
        (rc = bstore_expiry_del(b->store, txn, m->not_after_ms, msg_id)) != 0)
        return rc;
    metrics_final(b, state, m->type, reason);
    /* consent_msgs keeps its entry ('q', written at acceptance) whatever
     * the outcome: a revoke reads the message's state from here, which
     * saves a write per message on the hot path. */
    return deliver_final_receipt(b, m->sender, msg_id, outcome, reason, detail);
}

/* Space: the estimate is refreshed from the store's free list by the cron
 * and lowered by every message accepted in between, so that a burst
 * cannot run the map full before the next refresh. What stays free is the
 * reserve: acks, receipts and events need pages too, and a store that
 * cannot take an ack can never drain. */
#define S_COST(len) (2 * (uint64_t)(len) + 1024)

bool
deliver_has_room(struct broker *b, size_t env_len)
{
    return b->store_free_est >= b->store_reserve + S_COST(env_len);
}

void
deliver_took_room(struct broker *b, size_t env_len)
{
    uint64_t c = S_COST(env_len);

    b->store_free_est = b->store_free_est > c ? b->store_free_est - c : 0;
}

static void
s_refresh_space(struct broker *b)
{
    uint64_t used, map;

    if (bstore_space(b->store, &used, &map) != 0)
        return;
    full_refresh(b, used, map); /* the map, or the disk if it is smaller */
}

void
deliver_rewind(struct org *o)
{
    o->cursor = 0;
    o->inflight = 0;
    o->dirty = true;
    o->progress_ms = util_mono_ms();
}

/* The pump's batch for one node: deliveries and receipts in queue order. */
struct s_pump {
    struct broker *b;
    struct org *o;
    MDB_txn *txn;
    ProtobufCAllocator *pa; /* the broker's arena, in a scope per org */
    Kr__V1__Delivery deliveries[S_DELIVERIES_PER_FRAME];
    Kr__V1__Delivery *dptrs[S_DELIVERIES_PER_FRAME];
    Kr__V1__QueueItem *items[S_DELIVERIES_PER_FRAME];
    Kr__V1__Receipt *rptrs[S_DELIVERIES_PER_FRAME];
    Kr__V1__Notice *nptrs[S_DELIVERIES_PER_FRAME];
    size_t nd, nr, nn, ni, bytes;
    uint64_t last_seq;
    uint64_t early_pass; /* not 0: before the commit; deliveries only */
    bool blocked;        /* the peer's pipe is full or it is gone */
    bool left_behind;    /* early: stopped at a receipt or a notice */
};

/* Messages the pump found no longer covered by their consent. They are
 * withdrawn by the next pass (the pump only reads). Bounded: what does not
 * fit is found again by a later pump. */
#define S_WITHDRAW_MAX 1024
static uint8_t s_withdraw[S_WITHDRAW_MAX][16];
static size_t s_nwithdraw;

static void
s_withdraw_later(struct broker *b, const uint8_t msg_id[16])
{
    (void)b;
    for (size_t i = 0; i < s_nwithdraw; i++)
        if (memcmp(s_withdraw[i], msg_id, 16) == 0)
            return;
    if (s_nwithdraw < S_WITHDRAW_MAX)
        memcpy(s_withdraw[s_nwithdraw++], msg_id, 16);
}

void
deliver_reset(void)
{
    s_nwithdraw = 0;
}

/* The gate once more, at delivery: the consent that let the message in
 * must still be active and within its period now. A revoke has already
 * withdrawn what it covered; this catches the period that ran out while
 * the message waited. */
static bool
s_consent_holds(struct s_pump *p, const Kr__V1__QueueItem *item)
{
    Kr__V1__ConsentRecord *r = NULL;
    bool ok;

    if (bstore_consent_get(p->b->store, p->txn, item->consent_id.data, p->pa,
                           &r) != 0)
        return false;
    ok = r->status == KR__V1__CONSENT_STATUS__CONSENT_ACTIVE &&
         r->scope != NULL && p->b->now_ms >= r->scope->valid_from_ms &&
         p->b->now_ms <= r->scope->valid_until_ms;
    kr__v1__consent_record__free_unpacked(r, p->pa);
    return ok;
}

/* Withdraw what the pump set aside, in the pass's transaction. */
static void
s_withdraw_pending(struct broker *b)
{
    MDB_txn *txn = s_nwithdraw ? broker_txn(b) : NULL;

    for (size_t i = 0; txn != NULL && i < s_nwithdraw; i++) {
        Kr__V1__StoredMessage *m = NULL;
        if (bstore_msg_get(b->store, txn, s_withdraw[i], NULL, &m) != 0)
            continue;
        struct org *to = orgs_find(b, m->recipient);
        if (m->state == KR__V1__MESSAGE_STATE__QUEUED &&
            (to == NULL ||
             bstore_queue_del(b->store, txn, to->id, m->queue_seq) == 0) &&
            deliver_finalize(
                b, s_withdraw[i], m, KR__V1__MESSAGE_STATE__STATE_WITHDRAWN,
                KR__V1__OUTCOME__WITHDRAWN, KR__V1__REASON__NO_CONSENT,
                "consent no longer covers it at delivery") == 0)
            audit_write(b, &(struct audit_ev){
                               .event = "message.withdrawn",
                               .action = 'D',
                               .org_id = m->recipient,
                               .msg = m,
                               .msg_id = s_withdraw[i],
                               .reason = KR__V1__REASON__NO_CONSENT,
                               .check = "consent checked again at delivery"});
        kr__v1__stored_message__free_unpacked(m, NULL);
    }
    s_nwithdraw = 0;
}

static void
s_pump_flush(struct s_pump *p)
{
    if (p->nd + p->nr + p->nn > 0) {
        Kr__V1__Frame f = KR__V1__FRAME__INIT;
        f.version = KR__V1__VERSION__VERSION_1;
        f.delivery = p->dptrs;
        f.n_delivery = p->nd;
        f.receipt = p->rptrs;
        f.n_receipt = p->nr;
        f.notice = p->nptrs;
        f.n_notice = p->nn;
        int rc = broker_send_frame(p->b, p->o->rid, p->o->rid_len, &f);
        if (rc == KR_OK) {
            p->o->inflight += (uint32_t)(p->nd + p->nr + p->nn);
            p->o->cursor = p->last_seq + 1;
        } else {
            p->blocked = true;
            if (rc == KR_EUNAVAIL) {
                log_info("deliver: org=%s: link gone", p->o->id);
                p->o->connected = false;
            }
        }
    }
    for (size_t i = 0; i < p->ni; i++)
        kr__v1__queue_item__free_unpacked(p->items[i], p->pa);
    p->nd = p->nr = p->nn = p->ni = p->bytes = 0;
}

static int
s_pump_item(uint64_t seq, const uint8_t *data, size_t len, void *arg)
{
    struct s_pump *p = arg;
    Kr__V1__QueueItem *item;

    if (p->o->inflight + p->nd + p->nr + p->nn >= p->o->window)
        return 1;
    item = kr__v1__queue_item__unpack(p->pa, len, data);
    if (item != NULL && p->early_pass != 0 &&
        (item->is_receipt || item->notice != NULL)) {
        /* Receipts and notices are not sent early: the node acknowledges
         * them at once, and they would need the same care for no gain in
         * latency. The pump after the commit goes on from here. */
        kr__v1__queue_item__free_unpacked(item, p->pa);
        p->left_behind = true;
        return 1;
    }
    if (item == NULL || item->msg_id.len != 16) {
        log_errorx("deliver: org=%s seq=%llu: queue item does not parse",
                   p->o->id, (unsigned long long)seq);
        if (item)
            kr__v1__queue_item__free_unpacked(item, p->pa);
        return 0;
    }
    if (item->consent_id.len == 16 && !s_consent_holds(p, item)) {
        /* The consent no longer covers it (its period ended): it is not
         * sent, and the next pass withdraws it. */
        s_withdraw_later(p->b, item->msg_id.data);
        kr__v1__queue_item__free_unpacked(item, p->pa);
        return 0;
    }
    p->items[p->ni++] = item;
    if (item->is_receipt && item->receipt != NULL) {
        item->receipt->seq = seq;
        p->rptrs[p->nr++] = item->receipt;
        p->bytes += 64;
    } else if (item->notice != NULL) {
        item->notice->seq = seq;
        p->nptrs[p->nn++] = item->notice;
        p->bytes += 64 + 16 * item->notice->n_msg_ids;
    } else {
        const uint8_t *sig, *env;
        size_t env_len;
        int rc =
            item->msg_seq != 0
                ? bstore_payload_get_at(p->b->store, p->txn, item->msg_seq,
                                        &sig, &env, &env_len)
                : bstore_payload_get(p->b->store, p->txn, item->msg_id.data,
                                     &sig, &env, &env_len);
        if (rc != 0) {
            char hex[KR_ID_HEX_LEN];
            log_errorx("deliver: org=%s msg=%s: payload missing", p->o->id,
                       util_hex(item->msg_id.data, 16, hex));
            /* Not in this frame: counted, it would carry ni past the
             * flush at S_DELIVERIES_PER_FRAME and off the arrays' end. */
            p->ni--;
            kr__v1__queue_item__free_unpacked(item, p->pa);
            return 0;
        }
        Kr__V1__Delivery *d = &p->deliveries[p->nd];
        kr__v1__delivery__init(d);
        d->seq = seq;
        d->envelope.data = (uint8_t *)env;
        d->envelope.len = env_len;
        d->signature.data = (uint8_t *)sig;
        d->signature.len = 64;
        d->provisional_pass = p->early_pass;
        p->dptrs[p->nd++] = d;
        p->bytes += env_len + 96;
    }
    p->last_seq = seq;
    if (p->ni == S_DELIVERIES_PER_FRAME || p->bytes >= S_FRAME_BYTES) {
        s_pump_flush(p);
        if (p->blocked)
            return 1;
    }
    return 0;
}

/* Pump every node that may take more. early_pass 0: from committed state
 * in a read transaction of its own; else from the pass's open transaction,
 * deliveries only (see deliver_pump_early). */
static size_t
s_pump_all(struct broker *b, uint64_t early_pass)
{
    struct s_pump p;
    MDB_txn *txn = early_pass != 0 ? b->txn : NULL;
    size_t sent = 0;

    ORGS_FOREACH(b, o)
    {
        if (!o->connected || !o->dirty || o->suspended)
            continue;
        if (o->inflight >= o->window)
            continue; /* an ack will make room and set dirty again */
        if (early_pass != 0 && (!o->early_ok || o->result_pass != 0))
            continue; /* not for it, or not told about the last one yet */
        if (txn == NULL && bstore_begin(b->store, true, &txn) != 0)
            return sent;
        memset(&p, 0, sizeof(p));
        p.b = b;
        p.o = o;
        p.txn = txn;
        p.pa = arena_allocator(&b->pb);
        p.early_pass = early_pass;
        if (o->inflight == 0)
            o->progress_ms = util_mono_ms();
        uint32_t before = o->inflight;
        /* What the scan unpacks is sent and done with by the flush. */
        struct arena_mark mark = arena_mark(&b->pb);
        bstore_queue_scan(b->store, txn, o->id, o->cursor, s_pump_item, &p);
        s_pump_flush(&p);
        arena_release(&b->pb, mark);
        if (o->inflight > before && early_pass != 0) {
            o->result_pass = early_pass;
            sent += o->inflight - before;
        }
        /* Clean until something changes: an enqueue, an ack, a rewind. A
         * full pipe stays dirty so the next pass tries again, and so does
         * a queue whose receipts the early pump left to the pump after the
         * commit. A failed commit rewinds (and dirties) every queue. */
        o->dirty = (p.blocked && o->connected) || p.left_behind;
    }
    if (early_pass == 0)
        bstore_abort(txn);
    return sent;
}

void
deliver_pump(struct broker *b)
{
    s_pump_all(b, 0);
}

/*
 * Early delivery. A pass's deliveries leave while its commit runs, so that
 * the recipient verifies and stores them in parallel with the broker's
 * flush instead of after it. They are provisional: the node shows and
 * acknowledges them only after the PassResult that says the pass
 * committed, and drops them if it says otherwise or if the connection
 * ends first. So a delivery is never acted on for a message the broker
 * did not accept: if the commit fails the sender is told to retry, and a
 * retry may meet a revoked consent (PROTOCOL.md, "Early delivery").
 * A node's ack can only be read by a later pass, after this one's commit
 * or failure; acks for seqs of a failed pass find nothing and are ignored.
 */
size_t
deliver_pump_early(struct broker *b)
{
    if (!b->cfg.early_delivery || b->txn == NULL)
        return 0;
    size_t sent = s_pump_all(b, b->pass_id);
    b->early_deliveries += sent;
    return sent;
}

void
deliver_send_results(struct broker *b, bool committed)
{
    bool any = false;

    ORGS_FOREACH(b, o)
    {
        if (o->result_pass == 0)
            continue;
        if (o->result_pass == b->pass_id) {
            o->result_committed = committed;
            any = true;
        }
        Kr__V1__Frame f = KR__V1__FRAME__INIT;
        Kr__V1__PassResult r = KR__V1__PASS_RESULT__INIT;
        Kr__V1__PassResult *rp = &r;
        f.version = KR__V1__VERSION__VERSION_1;
        r.pass = o->result_pass;
        r.committed = o->result_committed;
        f.pass_result = &rp;
        f.n_pass_result = 1;
        int rc = broker_send_frame(b, o->rid, o->rid_len, &f);
        if (rc == KR_EFULL && o->connected)
            continue; /* told in a later pass; nothing early till then */
        if (rc == KR_EUNAVAIL)
            o->connected = false;
        /* Sent, or the link is gone: a node that connects again drops
         * what it was never told about, and its Hello rewinds the queue. */
        o->result_pass = 0;
    }
    if (any && !committed)
        b->early_passes_failed++;
    b->pass_id++;
}

/* Expire messages whose not_after passed before they were delivered. A
 * message already sent to the connected recipient waits for its ack: the
 * node may have committed it in time. */
static void
s_expire(struct broker *b)
{
    uint8_t ids[S_EXPIRE_PER_PASS][16];
    uint64_t when[S_EXPIRE_PER_PASS];
    size_t n = 0;
    MDB_txn *txn = broker_txn(b);

    if (txn == NULL || bstore_expiry_due(b->store, txn, b->now_ms,
                                         S_EXPIRE_PER_PASS, ids, when, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        Kr__V1__StoredMessage *m = NULL;
        if (bstore_msg_get(b->store, txn, ids[i], NULL, &m) != 0) {
            bstore_expiry_del(b->store, txn, when[i], ids[i]);
            continue;
        }
        struct org *to = orgs_find(b, m->recipient);
        bool in_flight =
            to != NULL && to->connected && m->queue_seq < to->cursor;
        if (m->state == KR__V1__MESSAGE_STATE__QUEUED && !in_flight) {
            if ((to == NULL ||
                 bstore_queue_del(b->store, txn, to->id, m->queue_seq) == 0) &&
                deliver_finalize(
                    b, ids[i], m, KR__V1__MESSAGE_STATE__STATE_EXPIRED,
                    KR__V1__OUTCOME__EXPIRED_OUTCOME, KR__V1__REASON__EXPIRED,
                    "not delivered before not_after") == 0)
                audit_write(
                    b, &(struct audit_ev){.event = "message.expired",
                                          .action = 'U',
                                          .org_id = m->sender,
                                          .msg = m,
                                          .msg_id = ids[i],
                                          .reason = KR__V1__REASON__EXPIRED,
                                          .check = "not_after passed"});
        } else if (m->state != KR__V1__MESSAGE_STATE__QUEUED) {
            bstore_expiry_del(b->store, txn, when[i], ids[i]);
        }
        kr__v1__stored_message__free_unpacked(m, NULL);
    }
}

/* Nodes that have not acknowledged within the resend timeout get the
 * unacknowledged part of their queue again, with a doubling timeout. */
static void
s_resend(struct broker *b)
{
    uint64_t now = util_mono_ms();

    ORGS_FOREACH(b, o)
    {
        if (!o->connected || o->inflight == 0)
            continue;
        uint64_t t = b->cfg.resend_ms
                     << (o->resend_attempt < 10 ? o->resend_attempt : 10);
        if (t > S_MAX_RESEND_MS)
            t = S_MAX_RESEND_MS;
        if (now - o->progress_ms < t)
            continue;
        log_info("deliver: org=%s: no ack for %llu ms: resending "
                 "inflight=%u",
                 o->id, (unsigned long long)t, o->inflight);
        o->resend_attempt++;
        deliver_rewind(o);
    }
}

void
deliver_cron(struct broker *b)
{
    s_refresh_space(b);
    s_withdraw_pending(b);
    s_expire(b);
    timers_cron(b);
    signal_cron(b);
    retention_cron(b);
    erasure_cron(b);
    s_resend(b);
}
