/* test_util.c - unit tests for common/util.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static void
test_hex(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x00, 0xff, 0x10, 0xab, 0x7f};
    uint8_t out[sizeof(in)], big[64];
    char hex[2 * sizeof(in) + 1];

    assert_string_equal(util_hex(in, sizeof(in), hex), "00ff10ab7f");
    assert_int_equal(util_unhex(hex, out, sizeof(out)), KR_OK);
    assert_memory_equal(in, out, sizeof(in));
    assert_int_equal(util_unhex("00FF10AB7F", out, sizeof(out)), KR_OK);
    assert_memory_equal(in, out, sizeof(in));
    assert_string_equal(util_hex(in, 0, hex), "");

    for (int i = 0; i < 64; i++)
        big[i] = (uint8_t)(i * 37);
    char bighex[129];
    uint8_t back[64];
    util_hex(big, sizeof(big), bighex);
    assert_int_equal(strlen(bighex), 128);
    assert_int_equal(util_unhex(bighex, back, sizeof(back)), KR_OK);
    assert_memory_equal(big, back, sizeof(big));

    /* Bad hex: wrong length, odd length, non-digits, NULL. */
    assert_int_equal(util_unhex("00ff10ab", out, sizeof(out)), KR_EINVAL);
    assert_int_equal(util_unhex("00ff10ab7f00", out, sizeof(out)), KR_EINVAL);
    assert_int_equal(util_unhex("00ff10ab7", out, sizeof(out)), KR_EINVAL);
    assert_int_equal(util_unhex("00ff10ab7g", out, sizeof(out)), KR_EINVAL);
    assert_int_equal(util_unhex("00ff 0ab7f", out, sizeof(out)), KR_EINVAL);
    assert_int_equal(util_unhex("0xff10ab7f", out, sizeof(out)), KR_EINVAL);
    assert_int_equal(util_unhex("", out, sizeof(out)), KR_EINVAL);
    assert_int_equal(util_unhex(NULL, out, sizeof(out)), KR_EINVAL);
    assert_int_equal(util_unhex("", out, 0), KR_OK);
}

static void
test_random_id(void **state)
{
    (void)state;
    uint8_t a[KR_ID_LEN], b[KR_ID_LEN];

    util_random_id(a);
    util_random_id(b);
    assert_memory_not_equal(a, b, KR_ID_LEN);
}

static void
test_time_ordered_id(void **state)
{
    (void)state;
    uint8_t a[KR_ID_LEN], b[KR_ID_LEN];
    uint64_t before = util_now_ms(), ms = 0;

    util_time_ordered_id(a);
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | a[i];
    /* Its first 48 bits are the time it was made, in ms. */
    assert_true(ms >= before && ms <= util_now_ms());
    /* One made later sorts after it (memcmp order, as LMDB's). */
    uint64_t t0 = util_now_ms();
    for (int i = 0; i < 100000 && util_now_ms() == t0; i++)
        util_time_ordered_id(b);
    util_time_ordered_id(b);
    assert_true(memcmp(a, b, KR_ID_LEN) < 0);
    /* Two made in the same ms still differ. */
    util_time_ordered_id(a);
    util_time_ordered_id(b);
    assert_memory_not_equal(a, b, KR_ID_LEN);
}

static void
test_parse_u64(void **state)
{
    (void)state;
    uint64_t v = 42;

    assert_int_equal(util_parse_u64("0", 0, 10, &v), KR_OK);
    assert_int_equal(v, 0);
    assert_int_equal(util_parse_u64("10", 0, 10, &v), KR_OK);
    assert_int_equal(v, 10);
    assert_int_equal(util_parse_u64("5", 5, 5, &v), KR_OK);
    assert_int_equal(util_parse_u64("007", 0, 10, &v), KR_OK);
    assert_int_equal(v, 7);
    assert_int_equal(util_parse_u64("18446744073709551615", 0, UINT64_MAX, &v),
                     KR_OK);
    assert_true(v == UINT64_MAX);

    v = 42;
    /* Bounds. */
    assert_int_equal(util_parse_u64("11", 0, 10, &v), KR_EINVAL);
    assert_int_equal(util_parse_u64("4", 5, 10, &v), KR_EINVAL);
    /* Junk. */
    assert_int_equal(util_parse_u64("1x", 0, 10, &v), KR_EINVAL);
    assert_int_equal(util_parse_u64("x1", 0, 10, &v), KR_EINVAL);
    assert_int_equal(util_parse_u64("1 ", 0, 10, &v), KR_EINVAL);
    assert_int_equal(util_parse_u64(" 1", 0, 10, &v), KR_EINVAL);
    assert_int_equal(util_parse_u64("\t1", 0, 10, &v), KR_EINVAL);
    assert_int_equal(util_parse_u64("\n1", 0, 10, &v), KR_EINVAL);
    /* strtoull() would skip the tab and wrap -1 to UINT64_MAX. */
    assert_int_equal(util_parse_u64("\t-1", 0, UINT64_MAX, &v), KR_EINVAL);
    assert_int_equal(util_parse_u64("0x10", 0, 100, &v), KR_EINVAL);
    assert_int_equal(util_parse_u64("1.5", 0, 10, &v), KR_EINVAL);
    assert_int_equal(util_parse_u64("1e3", 0, 10000, &v), KR_EINVAL);
    /* Signs. */
    assert_int_equal(util_parse_u64("-1", 0, UINT64_MAX, &v), KR_EINVAL);
    assert_int_equal(util_parse_u64("-0", 0, 10, &v), KR_EINVAL);
    assert_int_equal(util_parse_u64("+1", 0, 10, &v), KR_EINVAL);
    /* Empty and NULL. */
    assert_int_equal(util_parse_u64("", 0, 10, &v), KR_EINVAL);
    assert_int_equal(util_parse_u64(NULL, 0, 10, &v), KR_EINVAL);
    /* Overflow. */
    assert_int_equal(util_parse_u64("18446744073709551616", 0, UINT64_MAX, &v),
                     KR_EINVAL);
    assert_int_equal(
        util_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v),
        KR_EINVAL);
    /* Nothing written on failure. */
    assert_int_equal(v, 42);
}

static void
test_parse_bool(void **state)
{
    (void)state;
    static const char *yes[] = {"true", "TRUE", "yes", "Yes", "on", "1"};
    static const char *no[] = {"false", "False", "no", "NO", "off", "0"};
    static const char *bad[] = {"", "2", "y", "n", "truee", " true", "t"};
    bool b;

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        b = false;
        assert_int_equal(util_parse_bool(yes[i], &b), KR_OK);
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        b = true;
        assert_int_equal(util_parse_bool(no[i], &b), KR_OK);
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(util_parse_bool(bad[i], &b), KR_EINVAL);
    assert_int_equal(util_parse_bool(NULL, &b), KR_EINVAL);
}

static void
test_org_id(void **state)
{
    (void)state;
    assert_true(util_org_id_valid("ura:12345678"));
    assert_true(util_org_id_valid("ura:1"));
    assert_true(util_org_id_valid("agb:01234567"));
    assert_true(util_org_id_valid("kvk:87654321"));
    assert_true(util_org_id_valid("oin:00000001234567890123"));

    assert_false(util_org_id_valid("ura:123456789")); /* too long */
    assert_false(util_org_id_valid("oin:000000012345678901234"));
    assert_false(util_org_id_valid("abc:1")); /* scheme */
    assert_false(util_org_id_valid("URA:12345678"));
    assert_false(util_org_id_valid("ura:"));    /* no value */
    assert_false(util_org_id_valid("ura:12a")); /* not digits */
    assert_false(util_org_id_valid("ura:-1"));
    assert_false(util_org_id_valid("ura: 1"));
    assert_false(util_org_id_valid("ura12345678"));
    assert_false(util_org_id_valid(":12345678"));
    assert_false(util_org_id_valid(""));
    assert_false(util_org_id_valid(NULL));
}

static void
test_categories(void **state)
{
    (void)state;
    static const char *names[] = {
        "verloskunde", "kraamzorg", "ziekenhuis",   "jgz",
        "wijkteam",    "gemeente",  "veilig-thuis", "coordinator",
    };

    for (int cat = 1; cat <= 8; cat++) {
        assert_string_equal(util_category_name(cat), names[cat - 1]);
        assert_int_equal(util_category_parse(util_category_name(cat)), cat);
    }
    assert_string_equal(util_category_name(0), "unknown");
    assert_string_equal(util_category_name(9), "unknown");
    assert_string_equal(util_category_name(-1), "unknown");
    assert_int_equal(util_category_parse("unknown"), -1);
    assert_int_equal(util_category_parse("JGZ"), -1);
    assert_int_equal(util_category_parse(""), -1);
    assert_int_equal(util_category_parse(NULL), -1);
}

static void
test_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/kr_test_util.XXXXXX";
    char path[PATH_MAX], missing[PATH_MAX];
    char *data, *got = NULL;
    size_t len = 0, n = 10000;
    struct stat st;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/file", dir);
    snprintf(missing, sizeof(missing), "%s/no/such/file", dir);

    /* Larger than the reader's first buffer, with NUL bytes inside. */
    data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 31);
    assert_int_equal(util_write_file_atomic(path, data, n, 0600), KR_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(util_read_file(path, n, &got, &len), KR_OK);
    assert_int_equal(len, n);
    assert_memory_equal(got, data, n);
    assert_int_equal(got[n], '\0');
    free(got);
    got = NULL;

    /* The size limit. */
    assert_int_equal(util_read_file(path, n - 1, &got, &len), KR_EINVAL);
    assert_null(got);
    assert_int_equal(util_read_file(path, 4096, &got, &len), KR_EINVAL);
    assert_int_equal(util_read_file(path, 0, &got, &len), KR_EINVAL);

    /* Replacing a file, and an empty file. */
    assert_int_equal(util_write_file_atomic(path, "abc", 3, 0644), KR_OK);
    assert_int_equal(util_read_file(path, 3, &got, NULL), KR_OK);
    assert_string_equal(got, "abc");
    free(got);
    assert_int_equal(util_write_file_atomic(path, "", 0, 0644), KR_OK);
    assert_int_equal(util_read_file(path, 0, &got, &len), KR_OK);
    assert_int_equal(len, 0);
    assert_string_equal(got, "");
    free(got);

    /* Missing files and directories. */
    assert_int_equal(util_read_file(missing, 100, &got, &len), KR_ENOTFOUND);
    assert_int_equal(util_write_file_atomic(missing, "x", 1, 0600), KR_EIO);

    /* No temporary file is left behind. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    free(data);
}

static void
test_clocks(void **state)
{
    (void)state;
    uint64_t a = util_mono_ms(), b = util_mono_ms();

    assert_true(b >= a);
    /* After 2020-01-01. */
    assert_true(util_now_ms() > UINT64_C(1577836800000));
}

/* The fuzz targets' hook: both clocks move on by what it is told, at
 * once, and keep running from there. */
static void
test_clock_advance(void **state)
{
    (void)state;
    uint64_t now = util_now_ms(), mono = util_mono_ms();

    util_clock_advance(3600000);
    uint64_t now2 = util_now_ms(), mono2 = util_mono_ms();
    assert_true(now2 >= now + 3600000 && now2 < now + 3600000 + 60000);
    assert_true(mono2 >= mono + 3600000 && mono2 < mono + 3600000 + 60000);
    assert_true(util_mono_ms() >= mono2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_random_id),
        cmocka_unit_test(test_time_ordered_id),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_org_id),
        cmocka_unit_test(test_categories),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_clock_advance),
    };

    log_init("test_util", LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
