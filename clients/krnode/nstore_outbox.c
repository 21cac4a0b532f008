/* nstore_outbox.c - the node store's outbox: records keyed by msg_id,
 * their envelopes apart, and the order indexes the link and the listings
 * read (see node.h for the databases). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"

#include "nstore_internal.h"

int
nstore_outbox_get(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                  const uint8_t **val, size_t *len)
{
    return nstore_get(st, txn, NSTORE_DBI_OUTBOX, msg_id, val, len);
}

int
nstore_outbox_envelope(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                       const uint8_t **sig, const uint8_t **env,
                       size_t *env_len)
{
    const uint8_t *v;
    size_t len;
    int rc = nstore_get(st, txn, NSTORE_DBI_OUTBOX_ENV, msg_id, &v, &len);

    if (rc != KR_OK)
        return rc;
    if (len < KR_SIG_LEN)
        return KR_ESTORE;
    *sig = v;
    *env = v + KR_SIG_LEN;
    *env_len = len - KR_SIG_LEN;
    return KR_OK;
}

int
nstore_outbox_drop_envelope(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id)
{
    MDB_val key = {KR_ID_LEN, (void *)msg_id};
    int rc = mdb_del(txn, st->dbi[NSTORE_DBI_OUTBOX_ENV], &key, NULL);

    return rc == MDB_NOTFOUND ? KR_OK : nstore_from_mdb(rc);
}

int
nstore_outbox_mark_erased(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id)
{
    MDB_val key = {KR_ID_LEN, (void *)msg_id};
    const uint8_t *v;
    size_t vlen;
    int rc;

    if ((rc = nstore_outbox_get(st, txn, msg_id, &v, &vlen)) != KR_OK)
        return rc == KR_ENOTFOUND ? KR_OK : rc;
    struct arena_mark mark = arena_mark(&st->pb);
    Kr__V1__OutboxRecord *rec =
        kr__v1__outbox_record__unpack(arena_allocator(&st->pb), vlen, v);
    if (rec == NULL) {
        rc = KR_ESTORE;
        goto done;
    }
    rec->erased = true;
    if ((rc = nstore_put_msg(txn, st->dbi[NSTORE_DBI_OUTBOX], &key, &rec->base,
                             0)) != MDB_SUCCESS) {
        nstore_log_fail("outbox mark erased", rc);
        rc = nstore_from_mdb(rc);
    }
done:
    arena_release(&st->pb, mark);
    return rc;
}

static bool s_outcome_final(int outcome);

/* If the outbox holds a not-held record (a receipt for a message the node
 * had not committed) under rec's msg_id, move its outcome into rec and
 * remove it with its index entries, so that rec takes its place. */
static int
s_adopt_not_held(nstore_t *st, MDB_txn *txn, MDB_val *key,
                 Kr__V1__OutboxRecord *rec)
{
    MDB_val v;
    int rc = mdb_get(txn, st->dbi[NSTORE_DBI_OUTBOX], key, &v);

    if (rc == MDB_NOTFOUND)
        return MDB_SUCCESS;
    if (rc != MDB_SUCCESS)
        return rc;
    Kr__V1__OutboxRecord *old = kr__v1__outbox_record__unpack(
        arena_allocator(&st->pb), v.mv_size, v.mv_data);
    if (old == NULL || old->item == NULL || !old->item->not_held)
        return MDB_KEYEXIST; /* a real record: the caller's KR_EEXIST */
    rec->item->outcome = old->item->outcome;
    rec->item->reason = old->item->reason;
    rec->item->detail = old->item->detail; /* in st->pb until the commit */
    rec->item->accepted_at_ms = old->item->accepted_at_ms;
    rec->item->final_at_ms = old->item->final_at_ms;
    if ((rc = nstore_del_index(txn, st->dbi[NSTORE_DBI_OUTBOX_ALL],
                               old->seq)) != 0)
        return rc;
    if (old->item->outcome == KR__V1__OUTCOME__ACCEPTED &&
        (rc = nstore_del_index(txn, st->dbi[NSTORE_DBI_OUTBOX_OPEN],
                               old->seq)) != 0)
        return rc;
    return mdb_del(txn, st->dbi[NSTORE_DBI_OUTBOX], key, NULL);
}

int
nstore_outbox_add_not_held(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                           int outcome, int reason, const char *detail,
                           uint64_t at_ms)
{
    Kr__V1__OutboxRecord rec = KR__V1__OUTBOX_RECORD__INIT;
    Kr__V1__OutboxItem it = KR__V1__OUTBOX_ITEM__INIT;
    MDB_val key = {KR_ID_LEN, (void *)msg_id};
    uint64_t seq;
    int rc;

    if (outcome != KR__V1__OUTCOME__ACCEPTED && !s_outcome_final(outcome))
        return KR_EINVAL;
    if ((rc = nstore_next_seq(txn, st->dbi[NSTORE_DBI_OUTBOX_ALL], &seq)) != 0)
        goto fail;
    it.msg_id.data = (uint8_t *)msg_id;
    it.msg_id.len = KR_ID_LEN;
    it.recipient = "";
    it.outcome = outcome;
    it.reason = reason;
    it.detail = (char *)(detail != NULL ? detail : "");
    if (outcome == KR__V1__OUTCOME__ACCEPTED)
        it.accepted_at_ms = at_ms;
    else
        it.final_at_ms = at_ms;
    it.not_held = true;
    it.seq = seq;
    rec.seq = seq;
    rec.item = &it;
    rc = nstore_put_msg(txn, st->dbi[NSTORE_DBI_OUTBOX], &key, &rec.base,
                        MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return KR_EEXIST;
    if (rc != MDB_SUCCESS)
        goto fail;
    if ((rc = nstore_put_index(txn, st->dbi[NSTORE_DBI_OUTBOX_ALL], seq,
                               msg_id)) != 0)
        goto fail;
    if (outcome == KR__V1__OUTCOME__ACCEPTED &&
        (rc = nstore_put_index(txn, st->dbi[NSTORE_DBI_OUTBOX_OPEN], seq,
                               msg_id)) != 0)
        goto fail;
    /* Final already: retention purges it like any final record. */
    if (outcome != KR__V1__OUTCOME__ACCEPTED &&
        (rc = nstore_done_put(st, txn, at_ms, 'o', msg_id, seq)) != 0)
        goto fail;
    return KR_OK;
fail:
    nstore_log_fail("outbox add not held", rc);
    return nstore_from_mdb(rc);
}

int
nstore_outbox_add(nstore_t *st, MDB_txn *txn, Kr__V1__OutboxRecord *rec)
{
    MDB_val key;
    uint64_t seq;
    int rc;

    if (rec->item == NULL || rec->item->msg_id.len != KR_ID_LEN ||
        rec->signature.len != KR_SIG_LEN)
        return KR_EINVAL;
    key.mv_size = KR_ID_LEN;
    key.mv_data = rec->item->msg_id.data;
    if ((rc = s_adopt_not_held(st, txn, &key, rec)) == MDB_KEYEXIST)
        return KR_EEXIST;
    if (rc != MDB_SUCCESS)
        goto fail;
    if ((rc = nstore_next_seq(txn, st->dbi[NSTORE_DBI_OUTBOX_ALL], &seq)) != 0)
        goto fail;
    rec->seq = seq;
    rec->item->seq = seq;
    /* The record without its envelope: each receipt rewrites the record,
     * and should not copy 1.5 KiB of ciphertext to do it. The envelope and
     * its signature go to outbox_env, written once. */
    Kr__V1__OutboxRecord small = *rec;
    small.envelope.len = 0;
    small.envelope.data = NULL;
    small.signature.len = 0;
    small.signature.data = NULL;
    rc = nstore_put_msg(txn, st->dbi[NSTORE_DBI_OUTBOX], &key, &small.base,
                        MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return KR_EEXIST;
    if (rc != MDB_SUCCESS)
        goto fail;
    MDB_val ev = {KR_SIG_LEN + rec->envelope.len, NULL};
    rc = mdb_put(txn, st->dbi[NSTORE_DBI_OUTBOX_ENV], &key, &ev, MDB_RESERVE);
    if (rc != MDB_SUCCESS)
        goto fail;
    memcpy(ev.mv_data, rec->signature.data, KR_SIG_LEN);
    if (rec->envelope.len > 0)
        memcpy((uint8_t *)ev.mv_data + KR_SIG_LEN, rec->envelope.data,
               rec->envelope.len);
    rc =
        nstore_put_index(txn, st->dbi[NSTORE_DBI_OUTBOX_ALL], seq, key.mv_data);
    if (rc != MDB_SUCCESS)
        goto fail;
    /* A record that arrives with its outcome (not the node's own path,
     * but cheap to get right) is not pending. */
    if (rec->item->outcome == KR__V1__OUTCOME__OUTCOME_UNSPECIFIED)
        rc = nstore_put_index(txn, st->dbi[NSTORE_DBI_OUTBOX_ORDER], seq,
                              key.mv_data);
    else if (rec->item->outcome == KR__V1__OUTCOME__ACCEPTED)
        rc = nstore_put_index(txn, st->dbi[NSTORE_DBI_OUTBOX_OPEN], seq,
                              key.mv_data);
    else /* final (a not-held record taken over): due for retention, under
          * its new seq (the entry's key is the same: rewritten) */
        rc = nstore_done_put(st, txn, rec->item->final_at_ms, 'o', key.mv_data,
                             seq);
    if (rc != MDB_SUCCESS)
        goto fail;
    return KR_OK;
fail:
    nstore_log_fail("outbox add", rc);
    return nstore_from_mdb(rc);
}

static bool
s_outcome_final(int outcome)
{
    return outcome == KR__V1__OUTCOME__DELIVERED ||
           outcome == KR__V1__OUTCOME__REFUSED ||
           outcome == KR__V1__OUTCOME__EXPIRED_OUTCOME ||
           outcome == KR__V1__OUTCOME__WITHDRAWN;
}

int
nstore_outbox_set_outcome(nstore_t *st, MDB_txn *txn, const uint8_t *msg_id,
                          int outcome, int reason, const char *detail,
                          uint64_t at_ms, struct nstore_outcome *out)
{
    Kr__V1__OutboxRecord *rec = NULL;
    Kr__V1__OutboxItem *it;
    MDB_val key = {KR_ID_LEN, (void *)msg_id};
    const uint8_t *v;
    size_t vlen;
    struct arena_mark mark;
    int rc, prev;

    memset(out, 0, sizeof(*out));
    if (outcome != KR__V1__OUTCOME__ACCEPTED && !s_outcome_final(outcome))
        return KR_EINVAL;
    if ((rc = nstore_outbox_get(st, txn, msg_id, &v, &vlen)) != KR_OK)
        return rc;
    mark = arena_mark(&st->pb);
    rec = kr__v1__outbox_record__unpack(arena_allocator(&st->pb), vlen, v);
    if (rec == NULL || rec->item == NULL) {
        log_errorx("store: outbox record does not parse: leaving it as is");
        rc = KR_ESTORE;
        goto done;
    }
    it = rec->item;
    prev = it->outcome;
    out->seq = rec->seq;
    out->prev_outcome = prev;
    out->type = it->type;
    snprintf(out->recipient, sizeof(out->recipient), "%s", it->recipient);
    /* Receipts come more than once and in any order after a reconnect:
     * only a step forward changes the record. */
    if (outcome == KR__V1__OUTCOME__ACCEPTED
            ? prev != KR__V1__OUTCOME__OUTCOME_UNSPECIFIED
            : s_outcome_final(prev)) {
        rc = KR_OK;
        goto done;
    }
    it->outcome = outcome;
    it->reason = reason;
    /* A final outcome straight from pending (refused at submission, or the
     * answer to a resent submit whose ACCEPTED we missed) leaves
     * accepted_at_ms 0: we do not know it. */
    if (outcome == KR__V1__OUTCOME__ACCEPTED)
        it->accepted_at_ms = at_ms;
    else
        it->final_at_ms = at_ms;
    it->detail = (char *)(detail != NULL ? detail : "");
    rc = nstore_put_msg(txn, st->dbi[NSTORE_DBI_OUTBOX], &key, &rec->base, 0);
    if (rc != MDB_SUCCESS)
        goto store_fail;
    if (prev == KR__V1__OUTCOME__OUTCOME_UNSPECIFIED) {
        rc = nstore_del_index(txn, st->dbi[NSTORE_DBI_OUTBOX_ORDER], rec->seq);
        if (rc != MDB_SUCCESS)
            goto store_fail;
    }
    if (outcome == KR__V1__OUTCOME__ACCEPTED)
        rc = nstore_put_index(txn, st->dbi[NSTORE_DBI_OUTBOX_OPEN], rec->seq,
                              msg_id);
    else if (prev == KR__V1__OUTCOME__ACCEPTED)
        rc = nstore_del_index(txn, st->dbi[NSTORE_DBI_OUTBOX_OPEN], rec->seq);
    if (rc == MDB_SUCCESS && outcome != KR__V1__OUTCOME__ACCEPTED)
        rc = nstore_done_put(st, txn, at_ms, 'o', msg_id, rec->seq);
    /* Its subject was erased while it was open: now that no resend needs
     * the envelope, it goes (krnode/erasure.c). */
    if (rc == MDB_SUCCESS && outcome != KR__V1__OUTCOME__ACCEPTED &&
        rec->erased) {
        rc = mdb_del(txn, st->dbi[NSTORE_DBI_OUTBOX_ENV], &key, NULL);
        if (rc == MDB_NOTFOUND)
            rc = MDB_SUCCESS;
    }
    if (rc != MDB_SUCCESS)
        goto store_fail;
    out->changed = true;
    rc = KR_OK;
    goto done;
store_fail:
    nstore_log_fail("outbox outcome", rc);
    rc = nstore_from_mdb(rc);
done:
    arena_release(&st->pb, mark);
    return rc;
}
