/*
 * test_workers.c - krnode's helper threads (clients/krnode/workers.c):
 * every item of a batch runs exactly once, whatever the number of helpers,
 * batch after batch, and workers_run() returns only when all are done.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node.h"

#define S_ITEMS 20000

struct s_batch {
    atomic_int runs[S_ITEMS];
    size_t count;
};

static void
s_item(void *arg, size_t i)
{
    struct s_batch *b = arg;

    /* Some work, so that helpers and the caller overlap. */
    volatile uint64_t x = i;
    for (int k = 0; k < 200; k++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    atomic_fetch_add(&b->runs[i], 1);
}

static void
s_check_once(struct s_batch *b)
{
    for (size_t i = 0; i < b->count; i++)
        assert_int_equal(atomic_load(&b->runs[i]), 1);
    for (size_t i = b->count; i < S_ITEMS; i++)
        assert_int_equal(atomic_load(&b->runs[i]), 0);
}

static void
s_batches(unsigned helpers)
{
    static struct s_batch b;
    struct workers *w = NULL;

    assert_int_equal(workers_open(helpers, &w), KR_OK);
    assert_non_null(w);
    assert_true(workers_parallel(w) == (helpers > 0));
    /* Many batches of every size, each checked before the next: a helper
     * that ran an item twice, skipped one or was still busy when the call
     * returned shows here. */
    for (size_t round = 0; round < 300; round++) {
        size_t count = round % 7 == 0 ? S_ITEMS : (round * 37) % 257;
        memset(&b, 0, sizeof(b));
        b.count = count;
        workers_run(w, s_item, &b, count);
        s_check_once(&b);
    }
    workers_close(&w);
    assert_null(w);
}

static void
test_inline(void **state)
{
    (void)state;
    s_batches(0);
}

static void
test_one_helper(void **state)
{
    (void)state;
    s_batches(1);
}

static void
test_three_helpers(void **state)
{
    (void)state;
    s_batches(3);
}

static void
test_default_and_close(void **state)
{
    struct workers *w = NULL;

    (void)state;
    assert_true(workers_default() <= 3);
    assert_int_equal(workers_open(workers_default(), &w), KR_OK);
    workers_close(&w); /* no batch ever ran */
    workers_close(&w); /* closing twice is harmless */
    assert_false(workers_parallel(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inline),
        cmocka_unit_test(test_one_helper),
        cmocka_unit_test(test_three_helpers),
        cmocka_unit_test(test_default_and_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
