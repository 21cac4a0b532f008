/*
 * erasure.c - a NOTICE_ERASURE at the node (PROTOCOL.md "Erasure"). In
 * the commit that files the notice (which stays, for the adapters: they
 * remove what they hold), the node removes what it holds about the
 * subject:
 *  - its sent messages' envelopes (the sealed content, the only place an
 *    outbox record names the subject): at once for a final message; a
 *    message not yet final is marked (OutboxRecord.erased) and its
 *    envelope goes in the commit that records its final outcome, since a
 *    resend may still need it. It is not withdrawn here: only the broker
 *    knows whether it already has it, and it withdraws what it still
 *    queues (reason ERASED), so every message still ends with exactly one
 *    outcome, the one its sender sees;
 *  - the referral records (referrals/<id>) of the referrals those
 *    messages, or received ones about the subject, belong to;
 *  - the inbox records about the subject (messages and match notices),
 *    and those about its referrals (status messages, the broker's
 *    notices).
 * A rare event: it reads the whole outbox and inbox, at most S_MAX
 * records of each.
 */
#include <string.h>

#include "log.h"
#include "node.h"
#include "util.h"

#define S_MAX 100000
#define S_HITS 1024

static bool
s_eq(ProtobufCBinaryData d, const uint8_t subject[32])
{
    return d.len == 32 && memcmp(d.data, subject, 32) == 0;
}

static bool
s_about(const Kr__V1__InboxItem *it, const uint8_t subject[32])
{
    if (s_eq(it->subject_pseudonym, subject) ||
        s_eq(it->previous_subject_pseudonym, subject))
        return true;
    const Kr__V1__Notice *nt = it->notice;
    return nt != NULL && nt->kind == KR__V1__NOTICE_KIND__NOTICE_MATCH &&
           (s_eq(nt->match_subject, subject) ||
            s_eq(nt->match_other_subject, subject));
}

/* The subject's referrals, as far as the messages show them. */
struct s_rids {
    uint8_t v[S_HITS][KR_ID_LEN];
    size_t n;
};

static bool
s_rid_has(const struct s_rids *r, ProtobufCBinaryData id)
{
    if (id.len != KR_ID_LEN)
        return false;
    for (size_t i = 0; i < r->n; i++)
        if (memcmp(r->v[i], id.data, KR_ID_LEN) == 0)
            return true;
    return false;
}

static void
s_rid_add(struct s_rids *r, ProtobufCBinaryData id)
{
    if (id.len == KR_ID_LEN && r->n < S_HITS && !s_rid_has(r, id))
        memcpy(r->v[r->n++], id.data, KR_ID_LEN);
}

/* Outbox: drop (final) or mark (open) the envelopes about the subject. */
static int
s_outbox(struct node *n, MDB_txn *txn, const uint8_t subject[32],
         struct s_rids *rids, size_t *ndrop, size_t *nmark)
{
    static uint8_t ids[S_HITS][KR_ID_LEN];
    static bool final[S_HITS];
    struct nstore_iter it;
    const uint8_t *id, *val;
    size_t len, nhit = 0;
    uint64_t seq;
    int rc;

    if ((rc = nstore_iter_open(n->store, txn, NSTORE_OUTBOX_ALL, 0, &it)) !=
        KR_OK)
        return rc;
    for (size_t i = 0; i < S_MAX && nhit < S_HITS; i++) {
        if ((rc = nstore_iter_next(&it, &seq, &id, &val, &len)) != KR_OK)
            break;
        const uint8_t *sig, *env;
        size_t elen;
        if (nstore_outbox_envelope(n->store, txn, id, &sig, &env, &elen) !=
            KR_OK)
            continue; /* no envelope (dropped, or a not-held record) */
        Kr__V1__Envelope *e = kr__v1__envelope__unpack(NULL, elen, env);
        bool about =
            e != NULL && (s_eq(e->subject_pseudonym, subject) ||
                          s_eq(e->previous_subject_pseudonym, subject));
        if (about)
            s_rid_add(rids, e->referral_id);
        if (e != NULL)
            kr__v1__envelope__free_unpacked(e, NULL);
        if (!about)
            continue;
        Kr__V1__OutboxRecord *r = kr__v1__outbox_record__unpack(NULL, len, val);
        if (r != NULL && r->item != NULL)
            s_rid_add(rids, r->item->referral_id);
        final[nhit] =
            r != NULL && r->item != NULL &&
            r->item->outcome != KR__V1__OUTCOME__OUTCOME_UNSPECIFIED &&
            r->item->outcome != KR__V1__OUTCOME__ACCEPTED;
        if (r != NULL)
            kr__v1__outbox_record__free_unpacked(r, NULL);
        memcpy(ids[nhit++], id, KR_ID_LEN);
    }
    nstore_iter_close(&it);
    if (rc != KR_OK && rc != KR_ENOTFOUND)
        return rc;
    /* Written after the cursor is closed: no writes under it. */
    for (size_t i = 0; i < nhit; i++) {
        rc = final[i] ? nstore_outbox_drop_envelope(n->store, txn, ids[i])
                      : nstore_outbox_mark_erased(n->store, txn, ids[i]);
        if (rc != KR_OK)
            return rc;
        (*(final[i] ? ndrop : nmark))++;
    }
    return KR_OK;
}

/* Inbox: the records about the subject or its referrals. */
static int
s_inbox(struct node *n, MDB_txn *txn, const uint8_t subject[32],
        uint64_t notice_seq, struct s_rids *rids, size_t *nrm)
{
    static uint64_t seqs[S_HITS];
    static uint8_t ids[S_HITS][KR_ID_LEN];
    struct nstore_iter it;
    const uint8_t *id, *val;
    size_t len, nhit = 0;
    uint64_t seq;
    int rc;

    if ((rc = nstore_iter_open(n->store, txn, NSTORE_INBOX_ALL, 0, &it)) !=
        KR_OK)
        return rc;
    for (size_t i = 0; i < S_MAX && nhit < S_HITS; i++) {
        if ((rc = nstore_iter_next(&it, &seq, &id, &val, &len)) != KR_OK)
            break;
        if (seq == notice_seq)
            continue;
        Kr__V1__InboxRecord *r = kr__v1__inbox_record__unpack(NULL, len, val);
        if (r != NULL && r->item != NULL) {
            bool about = s_about(r->item, subject);
            /* A referral's later messages and notices follow it in
             * arrival order: its id is known by the time they come. */
            if (about)
                s_rid_add(rids, r->item->referral_id);
            if (about || s_rid_has(rids, r->item->referral_id)) {
                seqs[nhit] = seq;
                memcpy(ids[nhit++], id, KR_ID_LEN);
            }
        }
        if (r != NULL)
            kr__v1__inbox_record__free_unpacked(r, NULL);
    }
    nstore_iter_close(&it);
    if (rc != KR_OK && rc != KR_ENOTFOUND)
        return rc;
    for (size_t i = 0; i < nhit; i++, (*nrm)++)
        if ((rc = nstore_inbox_remove(n->store, txn, seqs[i], ids[i])) != KR_OK)
            return rc;
    return KR_OK;
}

int
node_on_erasure(struct node *n, MDB_txn *txn, const Kr__V1__Notice *nt,
                uint64_t notice_seq)
{
    static struct s_rids rids;
    size_t nin = 0, ndrop = 0, nmark = 0, nref = 0;
    int rc;

    if (nt->erased_subject.len != 32)
        return KR_OK;
    const uint8_t *subject = nt->erased_subject.data;
    rids.n = 0;
    if ((rc = s_outbox(n, txn, subject, &rids, &ndrop, &nmark)) != KR_OK ||
        (rc = s_inbox(n, txn, subject, notice_seq, &rids, &nin)) != KR_OK)
        return rc;
    for (size_t i = 0; i < rids.n; i++, nref++)
        if ((rc = nstore_referral_del(n->store, txn, rids.v[i])) != KR_OK)
            return rc;
    log_info("erasure: by=%s removed inbox=%zu outbox_envelopes=%zu "
             "referrals=%zu; open messages marked=%zu (envelope goes at "
             "their outcome)",
             nt->erased_by, nin, ndrop, nref, nmark);
    return KR_OK;
}
