/*
 * test_fhir_path.c - the element paths the inbound mappers name in their
 * refusals (fin_join, fin_index): made by hand for speed, they must read
 * exactly as the snprintf they replaced, truncation included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fhir_in_internal.h"

/* What snprintf into FIN_PATH bytes made of the same parts: the whole
 * text cut to FIN_PATH - 1 characters. */
static void
s_cut(char out[FIN_PATH], const char *whole)
{
    size_t n = strlen(whole);

    if (n > FIN_PATH - 1)
        n = FIN_PATH - 1;
    memcpy(out, whole, n);
    out[n] = '\0';
}

static void
s_want_join(char out[FIN_PATH], const char *path, const char *key)
{
    char whole[4 * FIN_PATH];

    snprintf(whole, sizeof(whole), "%s%s%s", path, path[0] ? "." : "", key);
    s_cut(out, whole);
}

static void
s_want_index(char out[FIN_PATH], const char *path, const char *key, size_t i)
{
    char whole[4 * FIN_PATH];

    snprintf(whole, sizeof(whole), "%s%s%s[%zu]", path, path[0] ? "." : "", key,
             i);
    s_cut(out, whole);
}

static void
test_join(void **state)
{
    char got[FIN_PATH], want[FIN_PATH];

    (void)state;
    fin_join(got, "", "Bundle");
    assert_string_equal(got, "Bundle");
    fin_join(got, "Bundle.entry[2].resource", "subject");
    s_want_join(want, "Bundle.entry[2].resource", "subject");
    assert_string_equal(got, want);
    assert_string_equal(got, "Bundle.entry[2].resource.subject");
    /* Into the path it extends. */
    snprintf(got, sizeof(got), "Task");
    fin_join(got, got, "status");
    assert_string_equal(got, "Task.status");
    fin_join(got, "", "");
    assert_string_equal(got, "");
}

static void
test_index(void **state)
{
    static const size_t idx[] = {0, 7, 10, 99, 1234567, SIZE_MAX};
    char got[FIN_PATH], want[FIN_PATH];

    (void)state;
    for (size_t k = 0; k < sizeof(idx) / sizeof(idx[0]); k++) {
        fin_index(got, "Bundle", "entry", idx[k]);
        s_want_index(want, "Bundle", "entry", idx[k]);
        assert_string_equal(got, want);
        fin_index(got, "", "entry", idx[k]);
        s_want_index(want, "", "entry", idx[k]);
        assert_string_equal(got, want);
    }
    snprintf(got, sizeof(got), "Bundle");
    fin_index(got, got, "entry", 12);
    assert_string_equal(got, "Bundle.entry[12]");
}

/* A path that reaches the bound is cut where snprintf cut it, at every
 * length around it. */
static void
test_truncation(void **state)
{
    char path[2 * FIN_PATH], got[FIN_PATH], want[FIN_PATH];

    (void)state;
    for (size_t len = FIN_PATH - 24; len < FIN_PATH + 4; len++) {
        memset(path, 'a', len);
        path[len] = '\0';
        fin_join(got, path, "key");
        s_want_join(want, path, "key");
        assert_string_equal(got, want);
        assert_int_equal(strlen(got), strlen(want));
        fin_index(got, path, "entry", 123456);
        s_want_index(want, path, "entry", 123456);
        assert_string_equal(got, want);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
