/* link_send.c - the outbox side of the broker link (PROTOCOL.md
 * "Sending"; the connection is link.c).
 *
 * The outbox's pending order (nstore.c) is the queue. The pump walks it
 * from 'cursor' and keeps at most 'window' submits without a receipt; a new
 * handshake, a resend timeout or the end of a temporary refusal's backoff
 * rewinds the cursor to the start, and the walk skips what is still in
 * flight. Receipts are written in the pass's transaction; their acks wait
 * in the pass until it commits. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "link_internal.h"
#include "log.h"
#include "names.h"
#include "node.h"

/* How often the pump looks at the oldest submit in flight. */
#define S_RESEND_CHECK_MS 100

struct inflight_slot {
    uint8_t id[KR_ID_LEN];
    uint8_t used;
    uint64_t sent_mono; /* when it was (last) submitted */
};

/*
 * The in-flight set: msg_ids submitted without a receipt.
 */

static size_t
s_id_hash(const uint8_t *id)
{
    uint64_t a, b;

    /* Ids may be chosen by adapters (sequential, say), so mix all 16
     * bytes instead of trusting them to be random. */
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    a ^= b * 0x9e3779b97f4a7c15ULL;
    a ^= a >> 31;
    a *= 0xbf58476d1ce4e5b9ULL;
    a ^= a >> 29;
    return (size_t)a;
}

void
link_inflight_init(struct inflight *f, uint64_t window)
{
    size_t cap = 16;

    while (cap < 2 * window)
        cap *= 2;
    f->slots = xcalloc(cap, sizeof(*f->slots));
    f->cap = cap;
    f->n = 0;
}

static size_t
s_inflight_find(const struct inflight *f, const uint8_t *id, bool *found)
{
    size_t mask = f->cap - 1, i = s_id_hash(id) & mask;

    while (f->slots[i].used) {
        if (memcmp(f->slots[i].id, id, KR_ID_LEN) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = false;
    return i;
}

static bool
s_inflight_has(const struct inflight *f, const uint8_t *id)
{
    bool found;

    s_inflight_find(f, id, &found);
    return found;
}

static void
s_inflight_add(struct inflight *f, const uint8_t *id, uint64_t now)
{
    bool found;
    size_t i = s_inflight_find(f, id, &found);

    /* The window keeps n at most half of cap: a free slot always exists. */
    if (!found) {
        if (f->n + 1 >= f->cap)
            return;
        memcpy(f->slots[i].id, id, KR_ID_LEN);
        f->slots[i].used = 1;
        f->n++;
    }
    f->slots[i].sent_mono = now;
}

static bool
s_inflight_del(struct inflight *f, const uint8_t *id)
{
    size_t mask = f->cap - 1, i, j;
    bool found;

    i = s_inflight_find(f, id, &found);
    if (!found)
        return false;
    /* Backward-shift deletion: linear probing needs no tombstones. */
    f->slots[i].used = 0;
    f->n--;
    for (j = (i + 1) & mask; f->slots[j].used; j = (j + 1) & mask) {
        size_t k = s_id_hash(f->slots[j].id) & mask;
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        f->slots[i] = f->slots[j];
        f->slots[j].used = 0;
        i = j;
    }
    return true;
}

void
link_inflight_clear(struct inflight *f)
{
    memset(f->slots, 0, f->cap * sizeof(*f->slots));
    f->n = 0;
}

static uint64_t
s_inflight_oldest(const struct inflight *f)
{
    uint64_t oldest = UINT64_MAX;

    for (size_t i = 0; i < f->cap; i++)
        if (f->slots[i].used && f->slots[i].sent_mono < oldest)
            oldest = f->slots[i].sent_mono;
    return oldest;
}

void
link_rewind(struct link *l, bool forget_inflight)
{
    if (forget_inflight)
        link_inflight_clear(&l->inflight);
    l->cursor = 0;
    l->more = true;
}

/*
 * Receipts
 */

static bool
s_outcome_final(int o)
{
    return o == KR__V1__OUTCOME__DELIVERED || o == KR__V1__OUTCOME__REFUSED ||
           o == KR__V1__OUTCOME__EXPIRED_OUTCOME ||
           o == KR__V1__OUTCOME__WITHDRAWN;
}

/* A temporary refusal (the broker's store or disk is full, or a fault
 * there): the message stays pending and the pump comes back to it after a
 * backoff. A full store or disk is offered again at a short fixed
 * interval instead: the broker refuses those without touching its store,
 * so asking costs it little, and once acks have drained it or the disk
 * has room again the messages should go at once, not after a backoff
 * that has doubled to a minute. */
#define S_FULL_RETRY_MS 1000

static void
s_retry_later(struct node *n, int reason)
{
    struct link *l = &n->link;

    if (l->retry_mono != 0)
        return;
    if (reason == KR__V1__REASON__STORE_FULL ||
        reason == KR__V1__REASON__DISK_FULL) {
        uint64_t ivl = n->cfg->resend_ms < S_FULL_RETRY_MS ? n->cfg->resend_ms
                                                           : S_FULL_RETRY_MS;
        l->retry_mono = util_mono_ms() + ivl;
        return;
    }
    if (l->retry_backoff == 0)
        l->retry_backoff = n->cfg->resend_ms;
    else if (l->retry_backoff * 2 > NODE_RESEND_MAX_MS)
        l->retry_backoff = NODE_RESEND_MAX_MS;
    else
        l->retry_backoff *= 2;
    l->retry_mono = util_mono_ms() + l->retry_backoff;
}

void
link_on_receipt(struct node *n, const Kr__V1__Receipt *r)
{
    struct link *l = &n->link;
    struct nstore_outcome res;
    char hex[KR_ID_HEX_LEN], detail[256];
    MDB_txn *txn;
    int rc, o = r->outcome;

    link_clean(r->detail, detail, sizeof(detail));
    if (r->msg_id.len != KR_ID_LEN) {
        log_warnx("link: receipt without a valid msg_id seq=%llu: ignored",
                  (unsigned long long)r->seq);
        if (r->seq != 0)
            pass_add_ack(n, r->seq, NULL, 0, false, 0);
        return;
    }
    util_hex(r->msg_id.data, KR_ID_LEN, hex);
    if (s_inflight_del(&l->inflight, r->msg_id.data) && l->inflight.n == 0)
        l->resend_ivl = n->cfg->resend_ms; /* all answered: reset */
    if (o != KR__V1__OUTCOME__ACCEPTED && !s_outcome_final(o)) {
        log_warnx("outbox: receipt with unknown outcome=%d msg=%s seq=%llu", o,
                  hex, (unsigned long long)r->seq);
        if (r->seq != 0)
            pass_add_ack(n, r->seq, r->msg_id.data, KR_ID_LEN, false, 0);
        return;
    }
    if (o == KR__V1__OUTCOME__REFUSED && r->seq == 0 &&
        (r->reason == KR__V1__REASON__STORE_FULL ||
         r->reason == KR__V1__REASON__DISK_FULL ||
         r->reason == KR__V1__REASON__INTERNAL)) {
        /* A window of refusals a second while the broker is full: the
         * first line, then one a minute with a count. */
        uint64_t unlogged;
        if (log_every_hit(&l->refused_log, util_mono_ms(), 60000, &unlogged))
            log_warnx("outbox: refused for now msg=%s reason=%s "
                      "detail=\"%s\": will retry refused_since_last=%llu",
                      hex, reason_name(r->reason), detail,
                      (unsigned long long)unlogged);
        l->refusing = r->reason;
        s_retry_later(n, r->reason);
        return;
    }
    if (o == KR__V1__OUTCOME__ACCEPTED) {
        uint64_t dur, count;
        l->retry_backoff = 0;
        l->refusing = 0;
        if (log_every_clear(&l->refused_log, util_mono_ms(), &dur, &count))
            log_warnx("outbox: the broker accepts again after %llu ms "
                      "refused_for_now=%llu",
                      (unsigned long long)dur, (unsigned long long)count);
    }
    if ((rc = pass_txn(n, &txn)) != KR_OK)
        return; /* no commit, no ack: the broker resends */
    rc = nstore_outbox_set_outcome(n->store, txn, r->msg_id.data, o, r->reason,
                                   detail, n->pass.now_ms, &res);
    /* An adapter waits for this outcome: no deferred commit for it. */
    if (rc == KR_OK && n->local.nowaits > 0 &&
        local_outbox_waited(n, r->msg_id.data))
        n->pass.urgent = n->pass.awaited = true;
    if (rc == KR_ENOTFOUND) {
        /* A send that left ahead of our commit, and we stopped before
         * the commit: the broker has the message, we do not. Keep what
         * the broker says, so that the adapter sees it (not_held) and a
         * retry under the same msg_id finds its fate. */
        rc = nstore_outbox_add_not_held(n->store, txn, r->msg_id.data, o,
                                        r->reason, detail, n->pass.now_ms);
        if (rc != KR_OK) {
            pass_fail(n, rc);
            return;
        }
        log_warnx("outbox: receipt for a message this node does not hold "
                  "msg=%s outcome=%s seq=%llu: kept as not_held (sent ahead "
                  "of a commit that did not happen)",
                  hex, outcome_name(o), (unsigned long long)r->seq);
    } else if (rc != KR_OK) {
        pass_fail(n, rc);
        return;
    } else if (res.changed && o == KR__V1__OUTCOME__ACCEPTED &&
               (res.type == KR__V1__MESSAGE_TYPE__REFERRAL ||
                res.type == KR__V1__MESSAGE_TYPE__HANDOVER ||
                res.type == KR__V1__MESSAGE_TYPE__REFERRAL_STATUS) &&
               (rc = referrals_on_accepted(n, txn, r->msg_id.data)) != KR_OK) {
        pass_fail(n, rc); /* referrals.c: the state the broker accepted */
        return;
    } else if (res.changed && o == KR__V1__OUTCOME__ACCEPTED) {
        /* The normal course of a message is logged at debug: at thousands
         * a second, info would drown what an operator must see. */
        log_debug("outbox: accepted msg=%s to=%s type=%s seq=%llu", hex,
                  res.recipient, message_type_name(res.type),
                  (unsigned long long)res.seq);
    } else if (res.changed && o == KR__V1__OUTCOME__DELIVERED) {
        log_debug("outbox: delivered msg=%s to=%s type=%s", hex, res.recipient,
                  message_type_name(res.type));
    } else if (res.changed) {
        log_info("outbox: %s msg=%s to=%s type=%s reason=%s detail=\"%s\"",
                 outcome_name(o), hex, res.recipient,
                 message_type_name(res.type), reason_name(r->reason), detail);
    }
    /* Durable receipts are acknowledged after the pass commits. */
    if (r->seq != 0)
        pass_add_ack(n, r->seq, r->msg_id.data, KR_ID_LEN, false, 0);
}

/*
 * Submitting
 */

void
link_outbox_changed(struct node *n)
{
    n->link.more = true;
}

/*
 * Sending ahead of the commit
 *
 * A send whose adapter named its msg_id leaves for the broker just before
 * the pass that stored it commits, so that the broker's commit and ours
 * overlap instead of following each other. The adapter still hears "yes"
 * only after our commit: nothing is acknowledged before it is durable.
 * What makes the early submit safe is the broker's dedup by (sender,
 * msg_id) (handle_submit.c, s_duplicate):
 *  - we die before the commit: the adapter got no answer and sends again
 *    with the same msg_id; we store and submit that, and the broker answers
 *    with the state of the message it already has. Every id in the envelope
 *    that the retry must repeat comes from the request or from the msg_id
 *    (a new referral's id is derived from it, local_send.c), so the
 *    recipient's copy and our outbox agree;
 *  - the commit fails (a full disk): the adapter is told that the message
 *    may have gone, and to send it again with the same msg_id
 *    (local_flush), which is again answered from the broker's record.
 * Sends without a msg_id, and consent grants and revokes, whose ids the
 * node may choose, wait for the commit and the pump. So do sends while the
 * pump has older messages waiting, so that they keep their order. */

bool
link_may_send_ahead(const struct node *n)
{
    const struct link *l = &n->link;

    return l->connected && !l->hello_due && !l->more && l->retry_mono == 0 &&
           n->pass.err == KR_OK &&
           l->inflight.n + n->pass.nahead < n->cfg->window;
}

/* Test only (KRNODE_TEST_EXIT_AFTER_AHEAD=N, read in link_open): the
 * node dies after its Nth submit ahead of a commit and before that commit,
 * as a power cut or a kill at that moment would leave it, once the broker
 * has what the node never committed. */
static void __attribute__((noreturn)) s_test_exit_before_commit(struct node *n)
{
    zmq_pollitem_t it = {.socket = n->link.sock, .events = ZMQ_POLLIN};

    /* The broker's next frame (its ACCEPTED, sent after its commit) says
     * the submits have arrived; 5 s at most. */
    zmq_poll(&it, 1, 5000);
    log_warnx("link: KRNODE_TEST_EXIT_AFTER_AHEAD: exiting before the "
              "commit (a test)");
    _exit(70);
}

void
link_send_ahead(struct node *n)
{
    struct link *l = &n->link;
    struct pass *p = &n->pass;
    Kr__V1__Submit subs[NODE_SUBMIT_BATCH], *subp[NODE_SUBMIT_BATCH];
    uint64_t now = util_mono_ms();

    /* A pass that failed writes nothing: its sends must not leave. */
    if (p->nahead == 0 || p->err != KR_OK)
        return;
    for (size_t first = 0; first < p->nahead; first += NODE_SUBMIT_BATCH) {
        Kr__V1__Frame f = KR__V1__FRAME__INIT;
        size_t nb = p->nahead - first;

        if (nb > NODE_SUBMIT_BATCH)
            nb = NODE_SUBMIT_BATCH;
        for (size_t i = 0; i < nb; i++) {
            const struct ahead *a = &p->ahead[first + i];
            kr__v1__submit__init(&subs[i]);
            subs[i].envelope.data = p->ahead_bytes.data + a->env_off;
            subs[i].envelope.len = a->env_len;
            subs[i].signature.data = (uint8_t *)a->sig;
            subs[i].signature.len = KR_SIG_LEN;
            subp[i] = &subs[i];
        }
        f.version = KR__V1__VERSION__VERSION_1;
        f.submit = subp;
        f.n_submit = nb;
        buf_pack(&l->out, &f.base);
        if (link_send_out(l) != KR_OK) {
            /* They are in the outbox once we commit: the pump takes
             * them from there. */
            l->more = true;
            return;
        }
        for (size_t i = 0; i < nb; i++) {
            struct ahead *a = &p->ahead[first + i];
            s_inflight_add(&l->inflight, a->msg_id, now);
            a->sent = true;
            if (a->reply < p->nreplies)
                p->replies[a->reply].went_ahead = true;
        }
        log_debug("link: submitted ahead of the commit count=%zu "
                  "inflight=%zu",
                  nb, l->inflight.n);
        if (l->test_exit_after_ahead != 0) {
            if (l->test_exit_after_ahead <= nb)
                s_test_exit_before_commit(n);
            l->test_exit_after_ahead -= nb;
        }
    }
}

void
link_ahead_settle(struct node *n, int commit_rc)
{
    struct pass *p = &n->pass;

    for (size_t i = 0; i < p->nahead; i++) {
        struct ahead *a = &p->ahead[i];
        /* Not in our outbox after all: not ours to wait for either. The
         * broker's receipt, if it comes, finds no record (a warning). */
        if (commit_rc != KR_OK && a->sent)
            s_inflight_del(&n->link.inflight, a->msg_id);
    }
    p->nahead = 0;
    p->ahead_bytes.len = 0;
}

/* Submit pending messages from the cursor on, in frames of up to
 * NODE_SUBMIT_BATCH items, until the window is full or none is left. */
static void
s_submit_pending(struct node *n, uint64_t now)
{
    struct link *l = &n->link;
    Kr__V1__OutboxRecord *recs[NODE_SUBMIT_BATCH];
    Kr__V1__Submit subs[NODE_SUBMIT_BATCH], *subp[NODE_SUBMIT_BATCH];
    struct nstore_iter it;
    MDB_txn *txn = NULL;
    bool end = false, stalled = false;
    size_t sent = 0;
    int rc;

    if (nstore_begin(n->store, false, &txn) != KR_OK)
        return;
    if (nstore_iter_open(n->store, txn, NSTORE_OUTBOX_PENDING, l->cursor,
                         &it) != KR_OK)
        goto done;
    while (!end && !stalled) {
        size_t nb = 0, bytes = 0;
        uint64_t last = l->cursor;
        /* A frame's records live in one arena scope, gone once it is sent. */
        struct arena_mark mark = arena_mark(&n->pb);

        while (nb < NODE_SUBMIT_BATCH && bytes < NODE_BATCH_BYTES &&
               l->inflight.n + nb < n->cfg->window) {
            const uint8_t *id, *v;
            size_t len;
            uint64_t seq;

            rc = nstore_iter_next(&it, &seq, &id, &v, &len);
            if (rc != KR_OK) {
                if (rc != KR_ENOTFOUND)
                    log_errorx("link: outbox walk: %s", kr_strerror(rc));
                end = true;
                break;
            }
            last = seq;
            if (s_inflight_has(&l->inflight, id))
                continue;
            Kr__V1__OutboxRecord *rec =
                kr__v1__outbox_record__unpack(arena_allocator(&n->pb), len, v);
            const uint8_t *sig = NULL, *env = NULL;
            size_t env_len = 0;
            if (rec == NULL || rec->item == NULL ||
                rec->item->msg_id.len != KR_ID_LEN ||
                nstore_outbox_envelope(n->store, txn, rec->item->msg_id.data,
                                       &sig, &env, &env_len) != KR_OK ||
                env_len == 0) {
                log_errorx("link: outbox record seq=%llu does not parse or "
                           "has no envelope: skipped",
                           (unsigned long long)seq);
                continue;
            }
            kr__v1__submit__init(&subs[nb]);
            subs[nb].envelope.data = (uint8_t *)env;
            subs[nb].envelope.len = env_len;
            subs[nb].signature.data = (uint8_t *)sig;
            subs[nb].signature.len = KR_SIG_LEN;
            subp[nb] = &subs[nb];
            recs[nb] = rec;
            bytes += len + env_len;
            nb++;
        }
        if (nb > 0) {
            Kr__V1__Frame f = KR__V1__FRAME__INIT;
            f.version = KR__V1__VERSION__VERSION_1;
            f.submit = subp;
            f.n_submit = nb;
            buf_pack(&l->out, &f.base);
            if (link_send_out(l) == KR_OK) {
                for (size_t i = 0; i < nb; i++)
                    s_inflight_add(&l->inflight, recs[i]->item->msg_id.data,
                                   now);
                l->cursor = last;
                sent += nb;
            } else {
                stalled = true; /* the cursor stays: sent again later */
            }
        } else if (!stalled) {
            l->cursor = last; /* only entries in flight were passed */
        }
        arena_release(&n->pb, mark);
        if (l->inflight.n >= n->cfg->window)
            break;
    }
    /* More may wait if the walk did not reach the end. */
    l->more = !end || stalled;
    nstore_iter_close(&it);
    if (sent > 0)
        log_debug("link: submitted count=%zu inflight=%zu", sent,
                  l->inflight.n);
done:
    nstore_abort(&txn);
}

void
link_pump(struct node *n)
{
    struct link *l = &n->link;
    uint64_t now = util_mono_ms();

    link_reconnect_if_due(n, now);
    /* The Hello goes first; until it has, nothing else does. */
    if (!l->connected || l->hello_due)
        return;
    if (l->inflight.n > 0 && now >= l->resend_check_mono) {
        uint64_t oldest = s_inflight_oldest(&l->inflight);
        if (now - oldest >= l->resend_ivl) {
            log_info("link: no receipt for %llu ms: resending from the "
                     "oldest pending inflight=%zu",
                     (unsigned long long)(now - oldest), l->inflight.n);
            link_rewind(l, true);
            l->resend_ivl = l->resend_ivl * 2 > NODE_RESEND_MAX_MS
                                ? NODE_RESEND_MAX_MS
                                : l->resend_ivl * 2;
        }
        l->resend_check_mono = now + S_RESEND_CHECK_MS;
    }
    if (l->retry_mono != 0 && now >= l->retry_mono) {
        l->retry_mono = 0;
        link_rewind(l, false);
    }
    if (l->more && l->inflight.n < n->cfg->window)
        s_submit_pending(n, now);
}
