/* link_recv.c - the inbox side of the broker link (PROTOCOL.md
 * "Receiving"; the connection is link.c): deliveries are verified, opened
 * and committed to the inbox, or refused; the broker's notices are kept
 * there too. Both are written in the pass's transaction; their acks wait in
 * the pass until it commits. */
#include <string.h>

#include "link_internal.h"
#include "log.h"
#include "names.h"
#include "node.h"

static void
s_refuse(struct node *n, const Kr__V1__Delivery *d, const uint8_t *msg_id,
         size_t id_len, const char *sender, int reason, const char *why)
{
    char hex[KR_ID_HEX_LEN] = "-";

    if (id_len == KR_ID_LEN)
        util_hex(msg_id, KR_ID_LEN, hex);
    log_warnx("inbox: refused msg=%s from=%.64s seq=%llu reason=%s why=%s", hex,
              sender != NULL && sender[0] != '\0' ? sender : "-",
              (unsigned long long)d->seq, reason_name(reason), why);
    pass_add_ack(n, d->seq, id_len == KR_ID_LEN ? msg_id : NULL,
                 id_len == KR_ID_LEN ? id_len : 0, true, reason);
}

/* Ask the broker about the sender and leave the delivery unacknowledged:
 * the broker sends it again. */
static void
s_defer(struct node *n, const Kr__V1__Envelope *e, const char *hex,
        const char *why)
{
    link_want_directory(n, e->sender);
    log_info("inbox: waiting for directory msg=%s from=%s why=%s", hex,
             e->sender, why);
}

void
link_on_delivery(struct node *n, const Kr__V1__Delivery *d,
                 struct delivery_check *pre)
{
    struct pass *p = &n->pass;
    Kr__V1__Envelope *e;
    Kr__V1__InboxItem item = KR__V1__INBOX_ITEM__INIT;
    Kr__V1__InboxRecord rec = KR__V1__INBOX_RECORD__INIT;
    char hex[KR_ID_HEX_LEN];
    const uint8_t *v, *content;
    size_t vlen, content_len;
    struct peer *peer;
    MDB_txn *txn;
    int rc, reason;

    p->urgent = true;
    /* One arena scope per delivery; an envelope unpacked ahead for the
     * signature check is older and goes with the frame's (link.c). */
    struct arena_mark mark = arena_mark(&n->pb);
    if (pre != NULL && pre->env != NULL)
        e = pre->env;
    else
        e = kr__v1__envelope__unpack(arena_allocator(&n->pb), d->envelope.len,
                                     d->envelope.data);
    if (e == NULL) {
        s_refuse(n, d, NULL, 0, NULL, KR__V1__REASON__MALFORMED,
                 "envelope does not parse");
        goto done;
    }
    if (e->msg_id.len != KR_ID_LEN) {
        s_refuse(n, d, NULL, 0, e->sender, KR__V1__REASON__MALFORMED,
                 "msg_id is not 16 bytes");
        goto done;
    }
    util_hex(e->msg_id.data, KR_ID_LEN, hex);
    if (e->version != KR__V1__VERSION__VERSION_1) {
        s_refuse(n, d, e->msg_id.data, KR_ID_LEN, e->sender,
                 KR__V1__REASON__BAD_VERSION, "envelope version is not 1");
        goto done;
    }
    if (strcmp(e->recipient, n->cfg->org) != 0) {
        s_refuse(n, d, e->msg_id.data, KR_ID_LEN, e->sender,
                 KR__V1__REASON__MALFORMED, "not addressed to us");
        goto done;
    }
    if (!util_org_id_valid(e->sender)) {
        s_refuse(n, d, e->msg_id.data, KR_ID_LEN, NULL,
                 KR__V1__REASON__MALFORMED, "sender is not an org id");
        goto done;
    }
    if (pass_txn(n, &txn) != KR_OK)
        goto done; /* nothing commits in this pass: no ack */
    /* A duplicate is acknowledged again: our earlier ack may be lost. One
     * still held for its pass result is acknowledged when released. */
    rc = nstore_inbox_get(n->store, txn, e->msg_id.data, &v, &vlen);
    if (rc == KR_OK) {
        struct prov_entry *held = prov_find(n, e->msg_id.data);
        log_debug("inbox: duplicate msg=%s from=%s", hex, e->sender);
        if (held != NULL && held->state == PROV_WAITING)
            prov_on_again(n, held, d);
        else if (held == NULL || held->state == PROV_CONFIRMED)
            pass_add_ack(n, d->seq, e->msg_id.data, KR_ID_LEN, false, 0);
        /* else being removed (its pass did not commit): no ack, or the
         * broker would count delivered what we are about to remove; it
         * sends the message again, to be stored anew. */
        goto done;
    }
    if (rc != KR_ENOTFOUND) {
        pass_fail(n, rc);
        goto done;
    }
    peer = peers_find(&n->peers, e->sender);
    if (peer == NULL || !peer->known) {
        if (peer != NULL && peer->denied_mono != 0 &&
            p->now_mono - peer->denied_mono < NODE_KEY_REFRESH_MS) {
            s_refuse(n, d, e->msg_id.data, KR_ID_LEN, e->sender,
                     KR__V1__REASON__UNKNOWN_SENDER_KEY,
                     "sender not in the directory");
            goto done;
        }
        s_defer(n, e, hex, "sender not known");
        goto done;
    }
    /* A key id we do not have may mean the sender rotated its keys: ask
     * the broker unless our entry is fresh, then refuse. Checked before
     * the signature, which would otherwise fail as a forgery. */
    if ((strcmp(e->sender_key_id, peer->sign_key_id) != 0 ||
         (e->payload != NULL && e->payload->sender_key_id[0] != '\0' &&
          strcmp(e->payload->sender_key_id, peer->box_key_id) != 0)) &&
        !peers_prev_keys(peer, e, p->now_ms)) {
        if (p->now_mono - peer->refreshed_mono >= NODE_KEY_REFRESH_MS) {
            s_defer(n, e, hex, "sender key changed");
            goto done;
        }
        s_refuse(n, d, e->msg_id.data, KR_ID_LEN, e->sender,
                 KR__V1__REASON__UNKNOWN_SENDER_KEY,
                 "sender key id is not in the directory");
        goto done;
    }
    /* A check made with this very key is as good as one made here. A
     * failed one is simply made again, here. */
    bool checked = pre != NULL && pre->checked && pre->ok &&
                   memcmp(pre->sign_pk, peer->sign, KR_KEY_LEN) == 0;
    rc = seal_open(&n->seal, peer, e, d->envelope.data, d->envelope.len,
                   d->signature.data, d->signature.len, checked, &content,
                   &content_len, &reason);
    if (rc != KR_OK) {
        s_refuse(n, d, e->msg_id.data, KR_ID_LEN, e->sender, reason,
                 reason == KR__V1__REASON__BAD_SIGNATURE
                     ? "signature does not verify"
                 : reason == KR__V1__REASON__MISSING_JUSTIFICATION
                     ? "meldrecht without a justification that matches "
                       "the envelope's digest"
                     : "payload does not open or parse");
        goto done;
    }
    if (e->not_after_ms != 0 && e->not_after_ms < p->now_ms) {
        s_refuse(n, d, e->msg_id.data, KR_ID_LEN, e->sender,
                 KR__V1__REASON__EXPIRED, "not_after has passed");
        goto done;
    }
    item.msg_id = e->msg_id;
    item.sender = e->sender;
    item.type = e->type;
    item.referral_id = e->referral_id;
    item.case_id = e->case_id;
    item.subject_pseudonym = e->subject_pseudonym;
    item.previous_subject_pseudonym = e->previous_subject_pseudonym;
    item.purpose = e->purpose;
    item.created_at_ms = e->created_at_ms;
    item.received_at_ms = p->now_ms;
    item.content.data = (uint8_t *)content;
    item.content.len = content_len;
    item.priority = e->priority;
    item.data_category = e->data_category;
    item.legal_basis = e->legal_basis;
    item.consent_id = e->consent_id;
    rec.item = &item;
    rec.envelope = d->envelope;
    rec.signature = d->signature;
    rc = nstore_inbox_add(n->store, txn, &rec);
    if (rc == KR_EEXIST) {
        pass_add_ack(n, d->seq, e->msg_id.data, KR_ID_LEN, false, 0);
        goto done;
    }
    if (rc != KR_OK ||
        (rc = referrals_on_message(n, txn, e)) != KR_OK) { /* referrals.c */
        pass_fail(n, rc);
        goto done;
    }
    log_debug("inbox: received msg=%s from=%s type=%s seq=%llu%s", hex,
              e->sender, message_type_name(e->type),
              (unsigned long long)item.seq,
              d->provisional_pass != 0 ? " held" : "");
    if (d->provisional_pass != 0) {
        /* Sent before the broker's commit: stored now, shown and acked
         * once the broker says its pass committed (provisional.c). */
        prov_add(n, item.seq, e->msg_id.data, d->provisional_pass, d->seq);
        goto done;
    }
    p->inbox_added = true;
    pass_add_ack(n, d->seq, e->msg_id.data, KR_ID_LEN, false, 0);
done:
    arena_release(&n->pb, mark);
}

/* Notices are durable at the broker (seq != 0) and acknowledged like
 * receipts, with the notice_id as the msg_id. */
static void
s_ack_notice(struct node *n, const Kr__V1__Notice *nt)
{
    if (nt->seq != 0)
        pass_add_ack(n, nt->seq, nt->notice_id.data, KR_ID_LEN, false, 0);
}

void
link_on_notice(struct node *n, const Kr__V1__Notice *nt)
{
    Kr__V1__InboxItem item = KR__V1__INBOX_ITEM__INIT;
    Kr__V1__InboxRecord rec = KR__V1__INBOX_RECORD__INIT;
    char hex[KR_ID_HEX_LEN], chex[KR_ID_HEX_LEN] = "-";
    const uint8_t *v;
    size_t vlen;
    MDB_txn *txn;
    int rc;

    n->pass.urgent = true;
    if (nt->notice_id.len != KR_ID_LEN) {
        /* Nothing to file it under. Acknowledged all the same: resending
         * would not give it an id. */
        log_warnx("inbox: notice without a valid notice_id seq=%llu "
                  "kind=%s: ignored",
                  (unsigned long long)nt->seq, notice_kind_name(nt->kind));
        if (nt->seq != 0)
            pass_add_ack(n, nt->seq, NULL, 0, false, 0);
        return;
    }
    util_hex(nt->notice_id.data, KR_ID_LEN, hex);
    if (nt->consent_id.len == KR_ID_LEN)
        util_hex(nt->consent_id.data, KR_ID_LEN, chex);
    if (pass_txn(n, &txn) != KR_OK)
        return; /* nothing commits in this pass: no ack */
    rc = nstore_inbox_get(n->store, txn, nt->notice_id.data, &v, &vlen);
    if (rc == KR_OK) {
        log_debug("inbox: duplicate notice=%s", hex);
        s_ack_notice(n, nt);
        return;
    }
    if (rc != KR_ENOTFOUND) {
        pass_fail(n, rc);
        return;
    }
    /* A kind this node does not know is kept too, as it came: the
     * adapter may know it, and dropping it would lose it for good. */
    item.msg_id = nt->notice_id;
    item.sender = "";
    item.type = nt->kind == KR__V1__NOTICE_KIND__NOTICE_CONSENT_REVOKED
                    ? KR__V1__MESSAGE_TYPE__CONSENT_REVOKE
                : nt->kind == KR__V1__NOTICE_KIND__NOTICE_ESCALATION
                    ? KR__V1__MESSAGE_TYPE__ESCALATION
                : nt->kind == KR__V1__NOTICE_KIND__NOTICE_MATCH
                    ? KR__V1__MESSAGE_TYPE__SIGNAL
                : nt->kind == KR__V1__NOTICE_KIND__NOTICE_ERASURE
                    ? KR__V1__MESSAGE_TYPE__ERASURE_REQUEST
                    : KR__V1__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED;
    item.referral_id = nt->referral_id;
    item.created_at_ms = nt->at_ms;
    item.received_at_ms = n->pass.now_ms;
    item.consent_id = nt->consent_id;
    item.notice = (Kr__V1__Notice *)nt;
    rec.item = &item;
    rc = nstore_inbox_add(n->store, txn, &rec);
    if (rc == KR_EEXIST) {
        s_ack_notice(n, nt);
        return;
    }
    if (rc == KR_OK && nt->kind == KR__V1__NOTICE_KIND__NOTICE_ERASURE)
        rc = node_on_erasure(n, txn, nt, item.seq);
    if (rc != KR_OK || (rc = referrals_on_notice(n, txn, nt)) != KR_OK) {
        pass_fail(n, rc);
        return;
    }
    n->pass.inbox_added = true;
    log_info("inbox: notice=%s kind=%s consent=%s messages=%zu seq=%llu", hex,
             notice_kind_name(nt->kind), chex, nt->n_msg_ids,
             (unsigned long long)item.seq);
    s_ack_notice(n, nt);
}
