/*
 * erasure.c - a NOTICE_ERASURE at the node (PROTOCOL.md "Erasure"): the
 * inbox records about the subject go (the notice itself stays, for the
 * adapters, which remove what they hold), and so do the envelopes (the
 * sealed content) of sent messages about it that are final; a message
 * still open keeps its envelope until it is final, since a resend needs
 * it. A rare event: it reads the whole inbox and outbox, at most
 * S_MAX records of each.
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
    if (s_eq(it->subject_pseudonym, subject))
        return true;
    const Kr__V1__Notice *nt = it->notice;
    return nt != NULL && nt->kind == KR__V1__NOTICE_KIND__NOTICE_MATCH &&
           (s_eq(nt->match_subject, subject) ||
            s_eq(nt->match_other_subject, subject));
}

int
node_on_erasure(struct node *n, MDB_txn *txn, const Kr__V1__Notice *nt,
                uint64_t notice_seq)
{
    static uint64_t seqs[S_HITS];
    static uint8_t ids[S_HITS][KR_ID_LEN];
    struct nstore_iter it;
    const uint8_t *id, *val;
    size_t len, nhit = 0, nout = 0;
    uint64_t seq;
    int rc;

    if (nt->erased_subject.len != 32)
        return KR_OK;
    const uint8_t *subject = nt->erased_subject.data;
    /* Inbox: collect, then remove (no writes under the cursor). */
    if ((rc = nstore_iter_open(n->store, txn, NSTORE_INBOX_ALL, 0, &it)) !=
        KR_OK)
        return rc;
    for (size_t i = 0; i < S_MAX && nhit < S_HITS; i++) {
        if ((rc = nstore_iter_next(&it, &seq, &id, &val, &len)) != KR_OK)
            break;
        if (seq == notice_seq)
            continue;
        Kr__V1__InboxRecord *r = kr__v1__inbox_record__unpack(NULL, len, val);
        if (r != NULL && r->item != NULL && s_about(r->item, subject)) {
            seqs[nhit] = seq;
            memcpy(ids[nhit++], id, KR_ID_LEN);
        }
        if (r != NULL)
            kr__v1__inbox_record__free_unpacked(r, NULL);
    }
    nstore_iter_close(&it);
    if (rc != KR_OK && rc != KR_ENOTFOUND)
        return rc;
    for (size_t i = 0; i < nhit; i++)
        if ((rc = nstore_inbox_remove(n->store, txn, seqs[i], ids[i])) != KR_OK)
            return rc;
    /* Outbox: the envelopes of final messages about the subject. */
    size_t nenv = 0;
    if ((rc = nstore_iter_open(n->store, txn, NSTORE_OUTBOX_ALL, 0, &it)) !=
        KR_OK)
        return rc;
    for (size_t i = 0; i < S_MAX && nenv < S_HITS; i++) {
        if ((rc = nstore_iter_next(&it, &seq, &id, &val, &len)) != KR_OK)
            break;
        Kr__V1__OutboxRecord *r = kr__v1__outbox_record__unpack(NULL, len, val);
        bool final = r != NULL && r->item != NULL &&
                     r->item->outcome != KR__V1__OUTCOME__OUTCOME_UNSPECIFIED &&
                     r->item->outcome != KR__V1__OUTCOME__ACCEPTED;
        if (r != NULL)
            kr__v1__outbox_record__free_unpacked(r, NULL);
        const uint8_t *sig, *env;
        size_t elen;
        if (!final || nstore_outbox_envelope(n->store, txn, id, &sig, &env,
                                             &elen) != KR_OK)
            continue;
        Kr__V1__Envelope *e = kr__v1__envelope__unpack(NULL, elen, env);
        if (e != NULL && s_eq(e->subject_pseudonym, subject))
            memcpy(ids[nenv++], id, KR_ID_LEN);
        if (e != NULL)
            kr__v1__envelope__free_unpacked(e, NULL);
    }
    nstore_iter_close(&it);
    if (rc != KR_OK && rc != KR_ENOTFOUND)
        return rc;
    for (size_t i = 0; i < nenv; i++, nout++)
        if ((rc = nstore_outbox_drop_envelope(n->store, txn, ids[i])) != KR_OK)
            return rc;
    log_info("erasure: by=%s removed inbox=%zu outbox_envelopes=%zu",
             nt->erased_by, nhit, nout);
    return KR_OK;
}
