/* test_workdays.c - Easter and the Dutch working days (common/workdays.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "workdays.h"

static void
test_easter(void **state)
{
    (void)state;
    /* Easter Sunday, from published tables. */
    static const int known[][3] = {
        {1961, 4, 2},  {2000, 4, 23}, {2008, 3, 23}, {2011, 4, 24},
        {2019, 4, 21}, {2024, 3, 31}, {2025, 4, 20}, {2026, 4, 5},
        {2027, 3, 28}, {2028, 4, 16}, {2038, 4, 25}, {2285, 3, 22},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        int m, d;
        workdays_easter(known[i][0], &m, &d);
        assert_int_equal(m, known[i][1]);
        assert_int_equal(d, known[i][2]);
    }
}

static void
test_holidays(void **state)
{
    (void)state;
    /* 2026: Easter 5 April. */
    assert_true(workdays_holiday(2026, 1, 1));
    assert_false(workdays_holiday(2026, 4, 3)); /* Good Friday: not by law */
    assert_true(workdays_holiday(2026, 4, 6));  /* Easter Monday */
    assert_true(workdays_holiday(2026, 4, 27)); /* Koningsdag, a Monday */
    assert_true(workdays_holiday(2026, 5, 5));  /* Bevrijdingsdag */
    assert_true(workdays_holiday(2026, 5, 14)); /* Ascension */
    assert_true(workdays_holiday(2026, 5, 25)); /* Whit Monday */
    assert_true(workdays_holiday(2026, 12, 25));
    assert_true(workdays_holiday(2026, 12, 26));
    assert_false(workdays_holiday(2026, 12, 24));
    /* Koningsdag moves to the 26th when the 27th is a Sunday (2025, 2031). */
    assert_true(workdays_holiday(2025, 4, 26));
    assert_false(workdays_holiday(2025, 4, 27));
    assert_true(workdays_holiday(2031, 4, 26));
    /* 2027: Easter 28 March: Easter Monday 29 March, Ascension 6 May,
     * Whit Monday 17 May. */
    assert_true(workdays_holiday(2027, 3, 29));
    assert_true(workdays_holiday(2027, 5, 6));
    assert_true(workdays_holiday(2027, 5, 17));
    assert_false(workdays_holiday(2027, 5, 16 + 2));
    /* Weekends. */
    assert_false(workdays_is_workday(2026, 12, 5)); /* Saturday */
    assert_false(workdays_is_workday(2026, 12, 6)); /* Sunday */
    assert_true(workdays_is_workday(2026, 12, 4));  /* Friday */
}

static uint64_t
s_ms(int y, int m, int d, int hour)
{
    return (uint64_t)workdays_days_from_civil(y, m, d) * 86400000ull +
           (uint64_t)hour * 3600000ull;
}

static void
test_add(void **state)
{
    (void)state;
    /* Friday 4 Dec 2026, 10:00 + 1 working day: Monday 7 Dec, 10:00. */
    assert_int_equal(workdays_add(s_ms(2026, 12, 4, 10), 1),
                     s_ms(2026, 12, 7, 10));
    /* + 5 from Friday: next Friday. */
    assert_int_equal(workdays_add(s_ms(2026, 12, 4, 10), 5),
                     s_ms(2026, 12, 11, 10));
    /* Over Christmas 2026 (Fri 25, Sat 26): Thu 24 Dec + 1 = Mon 28. */
    assert_int_equal(workdays_add(s_ms(2026, 12, 24, 9), 1),
                     s_ms(2026, 12, 28, 9));
    /* Over New Year 2027 (Fri 1 Jan): Thu 31 Dec 2026 + 1 = Mon 4 Jan. */
    assert_int_equal(workdays_add(s_ms(2026, 12, 31, 9), 1),
                     s_ms(2027, 1, 4, 9));
    /* Over Easter 2026: Thu 2 April + 2 = Tue 7 April (Good Friday 3
     * counts, Easter Monday 6 does not). */
    assert_int_equal(workdays_add(s_ms(2026, 4, 2, 9), 2), s_ms(2026, 4, 7, 9));
    /* From a Saturday: + 1 = Monday. */
    assert_int_equal(workdays_add(s_ms(2026, 12, 5, 12), 1),
                     s_ms(2026, 12, 7, 12));
    assert_int_equal(workdays_add(s_ms(2026, 12, 5, 12), 0),
                     s_ms(2026, 12, 5, 12));
    /* Round trip of the calendar. */
    for (int64_t d = -1000; d < 200000; d += 37) {
        int y, m, dd;
        workdays_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(workdays_days_from_civil(y, m, dd), d);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_easter),
        cmocka_unit_test(test_holidays),
        cmocka_unit_test(test_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
