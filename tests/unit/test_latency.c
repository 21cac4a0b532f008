/* test_latency.c - unit tests for common/latency.c: quantiles of the last
 * LATENCY_WINDOW values, a ring that forgets the oldest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "latency.h"

static void
test_empty(void **state)
{
    struct latency l;
    struct latency_summary s;

    (void)state;
    memset(&l, 0, sizeof(l));
    latency_summarise(&l, &s);
    assert_int_equal(s.count, 0);
    assert_int_equal(s.window, 0);
    assert_int_equal(s.p50_us, 0);
    assert_int_equal(s.max_us, 0);
}

static void
test_quantiles(void **state)
{
    struct latency l;
    struct latency_summary s;

    (void)state;
    memset(&l, 0, sizeof(l));
    /* 1..100 in a scrambled order. */
    for (uint64_t i = 0; i < 100; i++)
        latency_add(&l, (i * 37) % 100 + 1);
    latency_summarise(&l, &s);
    assert_int_equal(s.count, 100);
    assert_int_equal(s.window, 100);
    assert_int_equal(s.p50_us, 50);
    assert_int_equal(s.p99_us, 99);
    assert_int_equal(s.max_us, 100);
    assert_int_equal(s.total_us, 5050);
}

static void
test_window_forgets_the_oldest(void **state)
{
    struct latency l;
    struct latency_summary s;

    (void)state;
    memset(&l, 0, sizeof(l));
    /* A slow start, then a full window of fast ones: only they count. */
    for (int i = 0; i < 10; i++)
        latency_add(&l, 1000000);
    for (int i = 0; i < LATENCY_WINDOW; i++)
        latency_add(&l, 7);
    latency_summarise(&l, &s);
    assert_int_equal(s.count, LATENCY_WINDOW + 10);
    assert_int_equal(s.window, LATENCY_WINDOW);
    assert_int_equal(s.max_us, 7);
    /* Too large for 32 bits: kept as the largest value. */
    latency_add(&l, UINT64_MAX);
    latency_summarise(&l, &s);
    assert_int_equal(s.max_us, UINT32_MAX);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_quantiles),
        cmocka_unit_test(test_window_forgets_the_oldest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
