/* test_nstore.c - unit tests for clients/krnode/nstore.c, the node's LMDB
 * store: outbox add/get/dedup and outcomes, inbox dedup and processed
 * (messages and the broker's notices), ordering of the seq indexes, peers,
 * persistence and a full map. The referrals by when they changed:
 * test_nstore_referrals.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kr.h"
#include "log.h"
#include "node.h"
#include "util.h"

#include "nstore_fixture.h"

static void
s_id(uint8_t id[KR_ID_LEN], unsigned n)
{
    memset(id, 0, KR_ID_LEN);
    id[0] = 0xa5;
    id[14] = (uint8_t)(n >> 8);
    id[15] = (uint8_t)n;
}

/* Add an outbox record for msg id n to 'to' with an envelope of env_len
 * bytes; returns nstore_outbox_add()'s result and the seq. */
static int
s_out_add(nstore_t *st, MDB_txn *txn, unsigned n, const char *to,
          size_t env_len, uint64_t *seq)
{
    Kr__V1__OutboxRecord rec = KR__V1__OUTBOX_RECORD__INIT;
    Kr__V1__OutboxItem item = KR__V1__OUTBOX_ITEM__INIT;
    uint8_t id[KR_ID_LEN], sig[KR_SIG_LEN];
    uint8_t *env = malloc(env_len);
    int rc;

    assert_non_null(env);
    memset(env, 0x5a, env_len);
    memset(sig, 0x11, sizeof(sig));
    s_id(id, n);
    item.msg_id.data = id;
    item.msg_id.len = KR_ID_LEN;
    item.recipient = (char *)to;
    item.type = KR__V1__MESSAGE_TYPE__REFERRAL;
    item.created_at_ms = 1000 + n;
    rec.envelope.data = env;
    rec.envelope.len = env_len;
    rec.signature.data = sig;
    rec.signature.len = sizeof(sig);
    rec.item = &item;
    rc = nstore_outbox_add(st, txn, &rec);
    if (seq != NULL)
        *seq = rec.seq;
    free(env);
    return rc;
}

static int
s_in_add(nstore_t *st, MDB_txn *txn, unsigned n, uint64_t *seq)
{
    Kr__V1__InboxRecord rec = KR__V1__INBOX_RECORD__INIT;
    Kr__V1__InboxItem item = KR__V1__INBOX_ITEM__INIT;
    uint8_t id[KR_ID_LEN], content[8] = {0x0a, 0};
    int rc;

    s_id(id, n);
    item.msg_id.data = id;
    item.msg_id.len = KR_ID_LEN;
    item.sender = "ura:12345678";
    item.type = KR__V1__MESSAGE_TYPE__HANDOVER;
    item.content.data = content;
    item.content.len = 2;
    rec.item = &item;
    rec.envelope.data = content;
    rec.envelope.len = sizeof(content);
    rc = nstore_inbox_add(st, txn, &rec);
    if (seq != NULL)
        *seq = item.seq;
    return rc;
}

static void
s_counts(nstore_t *st, struct nstore_counts *c)
{
    MDB_txn *txn;

    assert_int_equal(nstore_begin(st, false, &txn), KR_OK);
    assert_int_equal(nstore_counts(st, txn, c), KR_OK);
    nstore_abort(&txn);
}

static void
test_outbox_add_get_dedup(void **state)
{
    struct nf_ctx *t = *state;
    Kr__V1__OutboxRecord *rec;
    struct nstore_counts c;
    uint8_t id[KR_ID_LEN];
    const uint8_t *v;
    uint64_t seq;
    MDB_txn *txn;
    size_t len;

    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    assert_int_equal(s_out_add(t->st, txn, 1, "ura:2", 100, &seq), KR_OK);
    assert_int_equal(seq, 1);
    /* The same msg_id again is refused, and takes no seq. */
    assert_int_equal(s_out_add(t->st, txn, 1, "ura:3", 100, &seq), KR_EEXIST);
    assert_int_equal(s_out_add(t->st, txn, 2, "ura:2", 100, &seq), KR_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(nstore_commit(&txn), KR_OK);
    assert_null(txn);

    assert_int_equal(nstore_begin(t->st, false, &txn), KR_OK);
    s_id(id, 1);
    assert_int_equal(nstore_outbox_get(t->st, txn, id, &v, &len), KR_OK);
    rec = kr__v1__outbox_record__unpack(NULL, len, v);
    assert_non_null(rec);
    assert_int_equal(rec->seq, 1);
    assert_int_equal(rec->item->seq, 1);
    assert_string_equal(rec->item->recipient, "ura:2");
    /* The envelope is kept apart, with its signature: receipts rewrite
     * the record and should not copy it. */
    assert_int_equal(rec->envelope.len, 0);
    assert_int_equal(rec->item->outcome, 0);
    kr__v1__outbox_record__free_unpacked(rec, NULL);
    const uint8_t *sig, *env;
    size_t env_len;
    assert_int_equal(
        nstore_outbox_envelope(t->st, txn, id, &sig, &env, &env_len), KR_OK);
    assert_int_equal(env_len, 100);
    assert_int_equal(env[0], 0x5a);
    assert_int_equal(env[99], 0x5a);
    assert_int_equal(sig[0], 0x11);
    assert_int_equal(sig[KR_SIG_LEN - 1], 0x11);
    s_id(id, 99);
    assert_int_equal(nstore_outbox_get(t->st, txn, id, &v, &len), KR_ENOTFOUND);
    nstore_abort(&txn);

    s_counts(t->st, &c);
    assert_int_equal(c.outbox_total, 2);
    assert_int_equal(c.outbox_pending, 2);
    assert_int_equal(c.outbox_open, 0);
}

static void
test_outbox_outcomes(void **state)
{
    struct nf_ctx *t = *state;
    struct nstore_outcome res;
    struct nstore_counts c;
    uint8_t id1[KR_ID_LEN], id2[KR_ID_LEN], id9[KR_ID_LEN];
    Kr__V1__OutboxRecord *rec;
    const uint8_t *v;
    MDB_txn *txn;
    size_t len;

    s_id(id1, 1);
    s_id(id2, 2);
    s_id(id9, 9);
    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    assert_int_equal(s_out_add(t->st, txn, 1, "ura:2", 10, NULL), KR_OK);
    assert_int_equal(s_out_add(t->st, txn, 2, "ura:2", 10, NULL), KR_OK);

    assert_int_equal(nstore_outbox_set_outcome(t->st, txn, id1,
                                               KR__V1__OUTCOME__ACCEPTED, 0, "",
                                               5000, &res),
                     KR_OK);
    assert_true(res.changed);
    assert_int_equal(res.seq, 1);
    assert_string_equal(res.recipient, "ura:2");
    /* Receipts come more than once: the second changes nothing. */
    assert_int_equal(nstore_outbox_set_outcome(t->st, txn, id1,
                                               KR__V1__OUTCOME__ACCEPTED, 0, "",
                                               5001, &res),
                     KR_OK);
    assert_false(res.changed);
    assert_int_equal(nstore_commit(&txn), KR_OK);
    s_counts(t->st, &c);
    assert_int_equal(c.outbox_pending, 1);
    assert_int_equal(c.outbox_open, 1);

    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    assert_int_equal(nstore_outbox_set_outcome(t->st, txn, id1,
                                               KR__V1__OUTCOME__DELIVERED, 0,
                                               "", 6000, &res),
                     KR_OK);
    assert_true(res.changed);
    assert_int_equal(res.prev_outcome, KR__V1__OUTCOME__ACCEPTED);
    /* A final outcome is final: neither a later one nor ACCEPTED moves it. */
    assert_int_equal(
        nstore_outbox_set_outcome(t->st, txn, id1, KR__V1__OUTCOME__REFUSED,
                                  KR__V1__REASON__EXPIRED, "x", 7000, &res),
        KR_OK);
    assert_false(res.changed);
    assert_int_equal(nstore_outbox_set_outcome(t->st, txn, id1,
                                               KR__V1__OUTCOME__ACCEPTED, 0, "",
                                               7000, &res),
                     KR_OK);
    assert_false(res.changed);
    /* Refused at submission: straight from pending to final. */
    assert_int_equal(
        nstore_outbox_set_outcome(t->st, txn, id2, KR__V1__OUTCOME__REFUSED,
                                  KR__V1__REASON__UNKNOWN_RECIPIENT,
                                  "no such org", 6500, &res),
        KR_OK);
    assert_true(res.changed);
    assert_int_equal(nstore_outbox_set_outcome(t->st, txn, id9,
                                               KR__V1__OUTCOME__DELIVERED, 0,
                                               "", 1, &res),
                     KR_ENOTFOUND);
    assert_int_equal(nstore_outbox_set_outcome(
                         t->st, txn, id1, KR__V1__OUTCOME__OUTCOME_UNSPECIFIED,
                         0, "", 1, &res),
                     KR_EINVAL);
    assert_int_equal(nstore_commit(&txn), KR_OK);

    s_counts(t->st, &c);
    assert_int_equal(c.outbox_total, 2);
    assert_int_equal(c.outbox_pending, 0);
    assert_int_equal(c.outbox_open, 0);

    assert_int_equal(nstore_begin(t->st, false, &txn), KR_OK);
    assert_int_equal(nstore_outbox_get(t->st, txn, id1, &v, &len), KR_OK);
    rec = kr__v1__outbox_record__unpack(NULL, len, v);
    assert_non_null(rec);
    assert_int_equal(rec->item->outcome, KR__V1__OUTCOME__DELIVERED);
    assert_int_equal(rec->item->accepted_at_ms, 5000);
    assert_int_equal(rec->item->final_at_ms, 6000);
    kr__v1__outbox_record__free_unpacked(rec, NULL);
    /* The outcome did not touch the envelope. */
    const uint8_t *sig, *env;
    size_t env_len;
    assert_int_equal(
        nstore_outbox_envelope(t->st, txn, id1, &sig, &env, &env_len), KR_OK);
    assert_int_equal(env_len, 10);
    assert_int_equal(nstore_outbox_get(t->st, txn, id2, &v, &len), KR_OK);
    rec = kr__v1__outbox_record__unpack(NULL, len, v);
    assert_non_null(rec);
    assert_int_equal(rec->item->outcome, KR__V1__OUTCOME__REFUSED);
    assert_int_equal(rec->item->reason, KR__V1__REASON__UNKNOWN_RECIPIENT);
    assert_string_equal(rec->item->detail, "no such org");
    assert_int_equal(rec->item->accepted_at_ms, 0);
    kr__v1__outbox_record__free_unpacked(rec, NULL);
    nstore_abort(&txn);
}

/* Walk an index and check it yields exactly 'want' (seqs) in order. */
static void
s_expect_walk(nstore_t *st, enum nstore_index idx, uint64_t after,
              const uint64_t *want, size_t nwant)
{
    struct nstore_iter it;
    const uint8_t *id, *v;
    uint64_t seq;
    size_t len, i = 0;
    MDB_txn *txn;
    int rc;

    assert_int_equal(nstore_begin(st, false, &txn), KR_OK);
    assert_int_equal(nstore_iter_open(st, txn, idx, after, &it), KR_OK);
    while ((rc = nstore_iter_next(&it, &seq, &id, &v, &len)) == KR_OK) {
        assert_true(i < nwant);
        assert_int_equal(seq, want[i]);
        assert_non_null(id);
        assert_true(len > 0);
        i++;
    }
    assert_int_equal(rc, KR_ENOTFOUND);
    assert_int_equal(i, nwant);
    nstore_iter_close(&it);
    nstore_abort(&txn);
}

static void
test_ordering(void **state)
{
    struct nf_ctx *t = *state;
    struct nstore_outcome res;
    struct nstore_iter it;
    const uint8_t *id, *v;
    uint8_t id3[KR_ID_LEN];
    uint64_t seq, prev = 0;
    size_t len, count = 0;
    MDB_txn *txn;

    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    for (unsigned n = 1; n <= 5; n++)
        assert_int_equal(s_out_add(t->st, txn, n, "ura:2", 16, NULL), KR_OK);
    s_id(id3, 3);
    assert_int_equal(nstore_outbox_set_outcome(t->st, txn, id3,
                                               KR__V1__OUTCOME__ACCEPTED, 0, "",
                                               1, &res),
                     KR_OK);
    assert_int_equal(nstore_commit(&txn), KR_OK);

    const uint64_t all[] = {1, 2, 3, 4, 5}, pending[] = {1, 2, 4, 5},
                   after2[] = {4, 5}, open[] = {3};
    s_expect_walk(t->st, NSTORE_OUTBOX_ALL, 0, all, 5);
    s_expect_walk(t->st, NSTORE_OUTBOX_PENDING, 0, pending, 4);
    s_expect_walk(t->st, NSTORE_OUTBOX_PENDING, 2, after2, 2);
    s_expect_walk(t->st, NSTORE_OUTBOX_OPEN, 0, open, 1);
    s_expect_walk(t->st, NSTORE_OUTBOX_ALL, 5, NULL, 0);
    s_expect_walk(t->st, NSTORE_OUTBOX_ALL, UINT64_MAX, NULL, 0);

    /* Past 255 and 65535 seqs: big-endian keys keep numeric order where
     * little-endian ones would not. */
    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    for (unsigned n = 6; n <= 600; n++)
        assert_int_equal(s_out_add(t->st, txn, n, "ura:2", 16, NULL), KR_OK);
    assert_int_equal(nstore_commit(&txn), KR_OK);
    assert_int_equal(nstore_begin(t->st, false, &txn), KR_OK);
    assert_int_equal(nstore_iter_open(t->st, txn, NSTORE_OUTBOX_ALL, 250, &it),
                     KR_OK);
    while (nstore_iter_next(&it, &seq, &id, &v, &len) == KR_OK) {
        assert_true(seq > prev);
        assert_true(seq > 250);
        prev = seq;
        count++;
    }
    nstore_iter_close(&it);
    nstore_abort(&txn);
    assert_int_equal(count, 350);
    assert_int_equal(prev, 600);
}

static void
test_inbox_dedup_processed(void **state)
{
    struct nf_ctx *t = *state;
    struct nstore_counts c;
    uint8_t id[KR_ID_LEN];
    bool changed;
    uint64_t seq;
    MDB_txn *txn;

    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    assert_int_equal(s_in_add(t->st, txn, 7, &seq), KR_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(s_in_add(t->st, txn, 8, &seq), KR_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(nstore_commit(&txn), KR_OK);

    /* A delivery that comes again is recognised by its msg_id. */
    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    assert_int_equal(s_in_add(t->st, txn, 7, &seq), KR_EEXIST);
    s_id(id, 7);
    assert_int_equal(nstore_inbox_set_processed(t->st, txn, id, &changed),
                     KR_OK);
    assert_true(changed);
    assert_int_equal(nstore_inbox_set_processed(t->st, txn, id, &changed),
                     KR_OK);
    assert_false(changed);
    s_id(id, 70);
    assert_int_equal(nstore_inbox_set_processed(t->st, txn, id, &changed),
                     KR_ENOTFOUND);
    assert_int_equal(s_in_add(t->st, txn, 9, &seq), KR_OK);
    assert_int_equal(seq, 3);
    assert_int_equal(nstore_commit(&txn), KR_OK);

    s_counts(t->st, &c);
    assert_int_equal(c.inbox_total, 3);
    assert_int_equal(c.inbox_unprocessed, 2);
    const uint64_t all[] = {1, 2, 3}, unprocessed[] = {2, 3};
    s_expect_walk(t->st, NSTORE_INBOX_ALL, 0, all, 3);
    s_expect_walk(t->st, NSTORE_INBOX_UNPROCESSED, 0, unprocessed, 2);
    s_expect_walk(t->st, NSTORE_INBOX_UNPROCESSED, 2, unprocessed + 1, 1);
}

/* A broker's notice is an inbox record without envelope or content, keyed
 * by its notice_id: it is listed among the messages, deduplicated like
 * them, and keeps the notice as it came. */
static void
test_inbox_notice(void **state)
{
    struct nf_ctx *t = *state;
    Kr__V1__InboxRecord rec = KR__V1__INBOX_RECORD__INIT, *got;
    Kr__V1__InboxItem item = KR__V1__INBOX_ITEM__INIT;
    Kr__V1__Notice nt = KR__V1__NOTICE__INIT;
    uint8_t nid[KR_ID_LEN], cid[KR_ID_LEN], m1[KR_ID_LEN];
    ProtobufCBinaryData ids[1];
    const uint8_t *v;
    size_t vlen;
    bool changed;
    uint64_t seq;
    MDB_txn *txn;

    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    assert_int_equal(s_in_add(t->st, txn, 1, &seq), KR_OK);
    s_id(nid, 500);
    memset(cid, 0xc0, sizeof(cid));
    s_id(m1, 1);
    ids[0] = (ProtobufCBinaryData){KR_ID_LEN, m1};
    nt.seq = 4;
    nt.notice_id = (ProtobufCBinaryData){KR_ID_LEN, nid};
    nt.kind = KR__V1__NOTICE_KIND__NOTICE_CONSENT_REVOKED;
    nt.consent_id = (ProtobufCBinaryData){KR_ID_LEN, cid};
    nt.msg_ids = ids;
    nt.n_msg_ids = 1;
    nt.revoked_by = "ura:00001234";
    item.msg_id = nt.notice_id;
    item.type = KR__V1__MESSAGE_TYPE__CONSENT_REVOKE;
    item.consent_id = nt.consent_id;
    item.notice = &nt;
    rec.item = &item;
    assert_int_equal(nstore_inbox_add(t->st, txn, &rec), KR_OK);
    assert_int_equal(item.seq, 2);
    assert_int_equal(nstore_commit(&txn), KR_OK);

    /* The broker resends it until our ack arrives: one record only. */
    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    kr__v1__inbox_item__init(&item);
    item.msg_id = nt.notice_id;
    item.notice = &nt;
    rec.item = &item;
    assert_int_equal(nstore_inbox_add(t->st, txn, &rec), KR_EEXIST);
    assert_int_equal(nstore_inbox_get(t->st, txn, nid, &v, &vlen), KR_OK);
    got = kr__v1__inbox_record__unpack(NULL, vlen, v);
    assert_non_null(got);
    assert_non_null(got->item);
    assert_non_null(got->item->notice);
    assert_int_equal(got->item->seq, 2);
    assert_int_equal(got->item->type, KR__V1__MESSAGE_TYPE__CONSENT_REVOKE);
    assert_string_equal(got->item->sender, "");
    assert_int_equal(got->item->content.len, 0);
    assert_int_equal(got->envelope.len, 0);
    assert_int_equal(got->item->notice->n_msg_ids, 1);
    assert_memory_equal(got->item->notice->msg_ids[0].data, m1, KR_ID_LEN);
    assert_string_equal(got->item->notice->revoked_by, "ura:00001234");
    assert_memory_equal(got->item->consent_id.data, cid, KR_ID_LEN);
    kr__v1__inbox_record__free_unpacked(got, NULL);
    assert_int_equal(nstore_inbox_set_processed(t->st, txn, nid, &changed),
                     KR_OK);
    assert_true(changed);
    assert_int_equal(nstore_commit(&txn), KR_OK);

    const uint64_t all[] = {1, 2}, unprocessed[] = {1};
    s_expect_walk(t->st, NSTORE_INBOX_ALL, 0, all, 2);
    s_expect_walk(t->st, NSTORE_INBOX_UNPROCESSED, 0, unprocessed, 1);
}

static void
test_peers_and_reopen(void **state)
{
    struct nf_ctx *t = *state;
    Kr__V1__OrgEntry e = KR__V1__ORG_ENTRY__INIT;
    uint8_t box[KR_KEY_LEN], sign[KR_KEY_LEN];
    struct peers ps;
    struct peer *p;
    MDB_txn *txn;

    memset(box, 9, sizeof(box));
    memset(sign, 8, sizeof(sign));
    e.org_id = "ura:42";
    e.category = KR__V1__ORG_CATEGORY__JGZ;
    e.box_public.data = box;
    e.box_public.len = sizeof(box);
    e.sign_public.data = sign;
    e.sign_public.len = sizeof(sign);
    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    assert_int_equal(nstore_peer_put(t->st, txn, &e), KR_OK);
    e.org_id = "";
    assert_int_equal(nstore_peer_put(t->st, txn, &e), KR_EINVAL);
    assert_int_equal(s_out_add(t->st, txn, 1, "ura:42", 10, NULL), KR_OK);
    assert_int_equal(nstore_commit(&txn), KR_OK);

    /* Everything committed is there after a reopen. */
    nstore_close(&t->st);
    assert_null(t->st);
    assert_int_equal(nstore_open(t->path, 8u << 20, &t->st), KR_OK);
    peers_init(&ps);
    assert_int_equal(peers_load(&ps, t->st), KR_OK);
    p = peers_find(&ps, "ura:42");
    assert_non_null(p);
    assert_true(p->known);
    assert_int_equal(p->category, KR__V1__ORG_CATEGORY__JGZ);
    assert_memory_equal(p->box, box, KR_KEY_LEN);
    assert_null(peers_find(&ps, "ura:43"));
    peers_fini(&ps);

    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    assert_int_equal(s_out_add(t->st, txn, 1, "ura:42", 10, NULL), KR_EEXIST);
    nstore_abort(&txn);
}

/* A referral record changed at 'at' (its updated_at_ms). */
static void
test_map_full(void **state)
{
    struct nf_ctx *t = *state;
    char path[PATH_MAX + 16], lock[PATH_MAX + 24];
    struct nstore_counts c;
    nstore_t *st;
    MDB_txn *txn;
    int rc = KR_OK;
    unsigned n;

    snprintf(path, sizeof(path), "%s/tiny.mdb", t->dir);
    snprintf(lock, sizeof(lock), "%s-lock", path);
    assert_int_equal(nstore_open(path, 256u << 10, &st), KR_OK);
    assert_false(nstore_nearly_full(st));
    /* 256 KiB of map, 16 KiB envelopes: it fills within a few dozen, and
     * the failure is KR_EFULL, from a put or from the commit. */
    for (n = 1; n < 200 && rc == KR_OK; n++) {
        assert_int_equal(nstore_begin(st, true, &txn), KR_OK);
        rc = s_out_add(st, txn, n, "ura:2", 16u << 10, NULL);
        if (rc == KR_OK)
            rc = nstore_commit(&txn);
        else
            nstore_abort(&txn);
    }
    assert_int_equal(rc, KR_EFULL);
    assert_true(n > 2);
    /* A full store is still readable, and holds what was committed. */
    s_counts(st, &c);
    assert_int_equal(c.outbox_total, n - 2);
    assert_int_equal(c.outbox_pending, n - 2);
    /* The node refuses sends before this point. */
    assert_true(nstore_nearly_full(st));
    nstore_close(&st);
    unlink(path);
    unlink(lock);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outbox_add_get_dedup, nf_setup,
                                        nf_teardown),
        cmocka_unit_test_setup_teardown(test_outbox_outcomes, nf_setup,
                                        nf_teardown),
        cmocka_unit_test_setup_teardown(test_ordering, nf_setup, nf_teardown),
        cmocka_unit_test_setup_teardown(test_inbox_dedup_processed, nf_setup,
                                        nf_teardown),
        cmocka_unit_test_setup_teardown(test_inbox_notice, nf_setup,
                                        nf_teardown),
        cmocka_unit_test_setup_teardown(test_peers_and_reopen, nf_setup,
                                        nf_teardown),
        cmocka_unit_test_setup_teardown(test_map_full, nf_setup, nf_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
