/* test_nstore_referrals.c - the node store's referrals by when they
 * changed (clients/krnode/nstore_referral.c): the index in change order,
 * paging on from a record, and the schema 3 -> 4 step that builds that
 * index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kr.h"
#include "node.h"
#include "nstore_fixture.h"
#include "util.h"

/* The schema step 3 -> 4 is tested from inside: the test empties the new
 * index as a schema 3 store would have it. */
#include "nstore_internal.h"

static void
s_ref_put(nstore_t *st, MDB_txn *txn, uint8_t id, uint64_t old_at, uint64_t at)
{
    Kr__V1__NodeReferral r = KR__V1__NODE_REFERRAL__INIT;
    uint8_t rid[KR_ID_LEN], buf[256];

    memset(rid, id, sizeof(rid));
    r.referral_id.data = rid;
    r.referral_id.len = sizeof(rid);
    r.state = KR__V1__TASK_STATUS__TASK_REQUESTED;
    r.state_at_ms = at;
    r.updated_at_ms = at;
    size_t len = kr__v1__node_referral__pack(&r, buf);
    assert_int_equal(nstore_referral_put(st, txn, rid, buf, len, old_at, at),
                     KR_OK);
}

struct s_seen {
    uint8_t ids[8];
    size_t n;
};

static int
s_seen_one(const uint8_t *val, size_t len, void *arg)
{
    struct s_seen *s = arg;
    Kr__V1__NodeReferral *r = kr__v1__node_referral__unpack(NULL, len, val);

    assert_non_null(r);
    if (s->n < sizeof(s->ids))
        s->ids[s->n++] = r->referral_id.data[0];
    kr__v1__node_referral__free_unpacked(r, NULL);
    return 0;
}

/* The ids changed since 'since' (after 'after', 0: none), in order, as
 * a string of digits. */
static void
s_changed(nstore_t *st, uint64_t since, uint8_t after, const char *want)
{
    struct s_seen seen = {{0}, 0};
    uint8_t aid[KR_ID_LEN];
    char got[16] = "";
    MDB_txn *txn;

    memset(aid, after, sizeof(aid));
    assert_int_equal(nstore_begin(st, false, &txn), KR_OK);
    assert_int_equal(nstore_referral_changed_scan(
                         st, txn, since, after ? aid : NULL, s_seen_one, &seen),
                     KR_OK);
    nstore_abort(&txn);
    for (size_t i = 0; i < seen.n; i++)
        got[i] = (char)('0' + seen.ids[i]);
    assert_string_equal(got, want);
}

static void
test_referrals_changed(void **state)
{
    struct nf_ctx *t = *state;
    MDB_txn *txn;
    uint8_t rid[KR_ID_LEN];

    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    s_ref_put(t->st, txn, 1, 0, 100);
    s_ref_put(t->st, txn, 2, 0, 200);
    s_ref_put(t->st, txn, 3, 0, 300);
    assert_int_equal(nstore_commit(&txn), KR_OK);
    s_changed(t->st, 1, 0, "123");
    s_changed(t->st, 150, 0, "23");
    s_changed(t->st, 301, 0, "");

    /* A change moves a referral to the end; its old place is gone. */
    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    s_ref_put(t->st, txn, 1, 100, 400);
    assert_int_equal(nstore_commit(&txn), KR_OK);
    s_changed(t->st, 1, 0, "231");
    s_changed(t->st, 200, 2, "31"); /* a page goes on from (200, 2) */
    s_changed(t->st, 401, 0, "");

    /* Deleted (an erasure): gone from both. */
    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    memset(rid, 3, sizeof(rid));
    assert_int_equal(nstore_referral_del(t->st, txn, rid), KR_OK);
    assert_int_equal(nstore_referral_del(t->st, txn, rid), KR_OK);
    assert_int_equal(nstore_commit(&txn), KR_OK);
    s_changed(t->st, 1, 0, "21");

    /* A schema 3 store had no such index: at open it is made from the
     * records. */
    assert_int_equal(nstore_begin(t->st, true, &txn), KR_OK);
    assert_int_equal(mdb_drop(txn, t->st->dbi[NSTORE_DBI_REFERRALS_CHANGED], 0),
                     0);
    MDB_val k = {6, "schema"}, v = {1, "3"};
    assert_int_equal(mdb_put(txn, t->st->dbi[NSTORE_DBI_META], &k, &v, 0), 0);
    assert_int_equal(nstore_commit(&txn), KR_OK);
    s_changed(t->st, 1, 0, "");
    nstore_close(&t->st);
    assert_int_equal(nstore_open(t->path, 8u << 20, &t->st), KR_OK);
    s_changed(t->st, 1, 0, "21");
    s_changed(t->st, 300, 0, "1");
    assert_int_equal(nstore_begin(t->st, false, &txn), KR_OK);
    assert_int_equal(mdb_get(txn, t->st->dbi[NSTORE_DBI_META], &k, &v), 0);
    assert_int_equal(v.mv_size, 1);
    assert_memory_equal(v.mv_data, "4", 1);
    nstore_abort(&txn);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_referrals_changed, nf_setup,
                                        nf_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
