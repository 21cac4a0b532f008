/* test_provisional.c - unit tests for clients/krnode/provisional.c, the
 * node's deliveries held until the broker's pass result: shown and acked
 * only after "committed", removed after "not committed", on a new
 * connection and at start-up; a pass of ours that fails to commit; a seq
 * that a removed record leaves for the next. A real store (nstore.c)
 * underneath, and the node's pass as loop.c drives it. */
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

struct s_ctx {
    char dir[64];
    char path[PATH_MAX];
    struct node *n;
};

static int
s_setup(void **state)
{
    struct s_ctx *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -1;
    log_init("test_provisional", LOG_LEVEL_ERROR);
    snprintf(t->dir, sizeof(t->dir), "/tmp/kr_test_prov.XXXXXX");
    if (mkdtemp(t->dir) == NULL) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof(t->path), "%s/node.mdb", t->dir);
    t->n = calloc(1, sizeof(*t->n));
    if (t->n == NULL || nstore_open(t->path, 8u << 20, &t->n->store) != KR_OK)
        return -1;
    *state = t;
    return 0;
}

static int
s_teardown(void **state)
{
    struct s_ctx *t = *state;
    char lock[PATH_MAX + 8];

    nstore_close(&t->n->store);
    prov_free(t->n);
    free(t->n->pass.acks);
    free(t->n);
    snprintf(lock, sizeof(lock), "%s-lock", t->path);
    unlink(t->path);
    unlink(lock);
    rmdir(t->dir);
    free(t);
    return 0;
}

/* A pass as loop.c runs it: begin ... settle, commit (or a failure), and
 * what follows the commit. */
static void
s_begin(struct node *n)
{
    n->pass.id++;
    n->pass.txn = NULL;
    n->pass.err = KR_OK;
    n->pass.nacks = 0;
    n->pass.inbox_added = false;
    n->pass.urgent = false;
    n->pass.now_mono = util_mono_ms();
    n->pass.now_ms = util_now_ms();
}

static int
s_commit(struct node *n, bool fail)
{
    int rc = KR_OK;

    prov_settle(n);
    if (fail || n->pass.err != KR_OK) {
        nstore_abort(&n->pass.txn);
        rc = fail ? KR_ESTORE : n->pass.err;
    } else if (n->pass.txn != NULL) {
        rc = nstore_commit(&n->pass.txn);
    }
    prov_after_commit(n, rc);
    return rc;
}

static void
s_id(uint8_t id[KR_ID_LEN], unsigned n)
{
    memset(id, 0, KR_ID_LEN);
    id[0] = 0x42;
    id[15] = (uint8_t)n;
}

/* A delivery stored in this pass; held (for broker_pass) unless it is 0. */
static uint64_t
s_deliver(struct node *n, unsigned which, uint64_t broker_pass,
          uint64_t delivery_seq)
{
    Kr__V1__InboxRecord rec = KR__V1__INBOX_RECORD__INIT;
    Kr__V1__InboxItem item = KR__V1__INBOX_ITEM__INIT;
    uint8_t id[KR_ID_LEN], content[2] = {0x0a, 0};
    MDB_txn *txn;

    s_id(id, which);
    item.msg_id.data = id;
    item.msg_id.len = KR_ID_LEN;
    item.sender = "ura:12345678";
    item.type = KR__V1__MESSAGE_TYPE__REFERRAL;
    item.content.data = content;
    item.content.len = sizeof(content);
    rec.item = &item;
    assert_int_equal(pass_txn(n, &txn), KR_OK);
    assert_int_equal(nstore_inbox_add(n->store, txn, &rec), KR_OK);
    if (broker_pass != 0)
        assert_int_equal(prov_add(n, item.seq, id, broker_pass, delivery_seq),
                         KR_OK);
    return item.seq;
}

static bool
s_hidden(struct node *n, uint64_t seq, unsigned which)
{
    uint8_t id[KR_ID_LEN];

    s_id(id, which);
    return prov_hidden(n, seq, id);
}

/* Whether the store has the message, from committed state. */
static bool
s_stored(struct node *n, unsigned which)
{
    MDB_txn *txn = NULL;
    const uint8_t *v;
    size_t len;
    uint8_t id[KR_ID_LEN];

    s_id(id, which);
    assert_int_equal(nstore_begin(n->store, false, &txn), KR_OK);
    int rc = nstore_inbox_get(n->store, txn, id, &v, &len);
    nstore_abort(&txn);
    assert_true(rc == KR_OK || rc == KR_ENOTFOUND);
    return rc == KR_OK;
}

/* Entries still marked held in the store (counted by removing them in a
 * transaction that is then thrown away). */
static uint64_t
s_held_in_store(struct node *n)
{
    MDB_txn *txn = NULL;
    uint64_t count = 0;

    assert_int_equal(nstore_begin(n->store, true, &txn), KR_OK);
    assert_int_equal(nstore_inbox_drop_held(n->store, txn, &count), KR_OK);
    nstore_abort(&txn);
    return count;
}

static void
s_result(struct node *n, uint64_t pass, bool committed)
{
    Kr__V1__PassResult r = KR__V1__PASS_RESULT__INIT;

    r.pass = pass;
    r.committed = committed;
    prov_on_result(n, &r);
}

static void
test_confirmed_is_shown_then_released_and_acked(void **state)
{
    struct s_ctx *t = *state;
    struct node *n = t->n;

    s_begin(n);
    uint64_t seq = s_deliver(n, 1, 7, 100);
    assert_true(s_hidden(n, seq, 1));
    assert_int_equal(n->pass.nacks, 0); /* no ack while held */
    assert_int_equal(s_commit(n, false), KR_OK);
    assert_int_equal(s_held_in_store(n), 1);

    s_begin(n);
    s_result(n, 7, true);
    /* Shown at once: durable here, committed at the broker. */
    assert_false(s_hidden(n, seq, 1));
    assert_true(n->prov.show_now);
    assert_int_equal(n->pass.nacks, 1);
    assert_int_equal(n->pass.acks[0].seq, 100);
    assert_int_equal(s_commit(n, false), KR_OK);
    assert_int_equal(n->prov.n, 0);
    assert_int_equal(s_held_in_store(n), 0);
    assert_true(s_stored(n, 1));
}

static void
test_not_committed_is_removed_unseen(void **state)
{
    struct s_ctx *t = *state;
    struct node *n = t->n;

    s_begin(n);
    uint64_t seq = s_deliver(n, 1, 7, 100);
    assert_int_equal(s_commit(n, false), KR_OK);
    s_begin(n);
    s_result(n, 8, true); /* another pass: nothing changes */
    assert_true(s_hidden(n, seq, 1));
    s_result(n, 7, false);
    assert_true(s_hidden(n, seq, 1)); /* until the removal commits */
    assert_int_equal(n->pass.nacks, 0);
    assert_int_equal(s_commit(n, false), KR_OK);
    assert_int_equal(n->prov.n, 0);
    assert_false(s_stored(n, 1));
    assert_int_equal(s_held_in_store(n), 0);
}

static void
test_result_in_the_same_pass(void **state)
{
    struct s_ctx *t = *state;
    struct node *n = t->n;

    s_begin(n);
    uint64_t seq = s_deliver(n, 1, 7, 100);
    s_result(n, 7, true);
    /* Not durable here yet: shown after this pass's commit. */
    assert_false(n->prov.show_now);
    assert_true(n->pass.inbox_added);
    assert_false(s_hidden(n, seq, 1));
    assert_int_equal(n->pass.nacks, 1);
    assert_int_equal(s_commit(n, false), KR_OK);
    assert_int_equal(n->prov.n, 0);
    assert_int_equal(s_held_in_store(n), 0);
    assert_true(s_stored(n, 1));
}

static void
test_new_connection_drops_only_the_waiting(void **state)
{
    struct s_ctx *t = *state;
    struct node *n = t->n;

    s_begin(n);
    uint64_t a = s_deliver(n, 1, 7, 100);
    uint64_t b = s_deliver(n, 2, 8, 101);
    assert_int_equal(s_commit(n, false), KR_OK);
    s_begin(n);
    s_result(n, 7, true);
    prov_drop_waiting(n, "new connection");
    assert_false(s_hidden(n, a, 1));
    assert_true(s_hidden(n, b, 2));
    s_result(n, 8, true); /* too late: it is being removed */
    assert_true(s_hidden(n, b, 2));
    assert_int_equal(n->pass.nacks, 1);
    assert_int_equal(s_commit(n, false), KR_OK);
    assert_true(s_stored(n, 1));
    assert_false(s_stored(n, 2));
    assert_int_equal(n->prov.n, 0);
}

static void
test_restart_removes_what_is_held(void **state)
{
    struct s_ctx *t = *state;
    struct node *n = t->n;

    s_begin(n);
    s_deliver(n, 1, 7, 100);
    s_deliver(n, 2, 0, 101); /* a plain one stays */
    assert_int_equal(s_commit(n, false), KR_OK);
    prov_free(n); /* the process ends */
    assert_int_equal(prov_recover(n), KR_OK);
    assert_false(s_stored(n, 1));
    assert_true(s_stored(n, 2));
    assert_int_equal(s_held_in_store(n), 0);
}

static void
test_failed_passes(void **state)
{
    struct s_ctx *t = *state;
    struct node *n = t->n;

    /* Stored in a pass that did not commit: forgotten. */
    s_begin(n);
    s_deliver(n, 1, 7, 100);
    assert_int_equal(s_commit(n, true), KR_ESTORE);
    assert_int_equal(n->prov.n, 0);
    assert_false(s_stored(n, 1));

    /* Released in a pass that did not commit: released again, and acked,
     * by the next one. */
    s_begin(n);
    uint64_t seq = s_deliver(n, 1, 9, 100);
    assert_int_equal(s_commit(n, false), KR_OK);
    s_begin(n);
    s_result(n, 9, true);
    assert_int_equal(s_commit(n, true), KR_ESTORE);
    assert_int_equal(n->prov.n, 1);
    assert_true(n->prov.unsettled);
    assert_false(s_hidden(n, seq, 1)); /* still committed everywhere */
    s_begin(n);
    assert_int_equal(s_commit(n, false), KR_OK);
    assert_int_equal(n->pass.nacks, 1);
    assert_int_equal(n->prov.n, 0);
    assert_int_equal(s_held_in_store(n), 0);
}

static void
test_a_removed_seq_comes_again(void **state)
{
    struct s_ctx *t = *state;
    struct node *n = t->n;

    s_begin(n);
    uint64_t seq = s_deliver(n, 1, 7, 100);
    assert_int_equal(s_commit(n, false), KR_OK);
    s_begin(n);
    s_result(n, 7, false);
    /* The last record is gone in this pass: the next takes its seq. */
    uint64_t again = s_deliver(n, 2, 0, 101);
    assert_int_equal(again, seq);
    assert_true(s_hidden(n, seq, 1));
    assert_false(s_hidden(n, again, 2));
    assert_int_equal(s_commit(n, false), KR_OK);
    assert_false(s_stored(n, 1));
    assert_true(s_stored(n, 2));
}

static void
test_plain_copy_confirms(void **state)
{
    struct s_ctx *t = *state;
    struct node *n = t->n;
    Kr__V1__Delivery d = KR__V1__DELIVERY__INIT;
    uint8_t id[KR_ID_LEN];

    s_begin(n);
    uint64_t seq = s_deliver(n, 1, 7, 100);
    assert_int_equal(s_commit(n, false), KR_OK);
    s_begin(n);
    s_id(id, 1);
    struct prov_entry *e = prov_find(n, id);
    assert_non_null(e);
    d.seq = 100;
    d.provisional_pass = 11; /* early again: changes nothing */
    prov_on_again(n, e, &d);
    assert_true(s_hidden(n, seq, 1));
    d.provisional_pass = 0; /* from committed state: proof enough */
    prov_on_again(n, e, &d);
    assert_false(s_hidden(n, seq, 1));
    assert_int_equal(n->pass.nacks, 1);
    assert_int_equal(s_commit(n, false), KR_OK);
    assert_int_equal(n->prov.n, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_confirmed_is_shown_then_released_and_acked, s_setup,
            s_teardown),
        cmocka_unit_test_setup_teardown(test_not_committed_is_removed_unseen,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_result_in_the_same_pass, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(
            test_new_connection_drops_only_the_waiting, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_restart_removes_what_is_held,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failed_passes, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_a_removed_seq_comes_again, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_plain_copy_confirms, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
