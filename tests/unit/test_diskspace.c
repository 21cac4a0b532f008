/* test_diskspace.c - unit tests for common/diskspace.c and the repeated-
 * condition limiter of common/log.c (log_every_*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diskspace.h"
#include "log.h"

static void
test_every(void **state)
{
    (void)state;
    struct log_every e = {0};
    uint64_t n = 99, dur, count;

    assert_false(log_every_active(&e));
    assert_false(log_every_clear(&e, 5, &dur, &count));
    /* The first time: a line. */
    assert_true(log_every_hit(&e, 1000, 10000, &n));
    assert_int_equal(n, 0);
    assert_true(log_every_active(&e));
    /* Then silence, counted, until every_ms has passed. */
    for (int i = 0; i < 500; i++)
        assert_false(log_every_hit(&e, 1000 + (uint64_t)i * 10, 10000, &n));
    assert_true(log_every_hit(&e, 11000, 10000, &n));
    assert_int_equal(n, 500);
    assert_false(log_every_hit(&e, 11001, 10000, &n));
    assert_true(log_every_hit(&e, 21000, 10000, &n));
    assert_int_equal(n, 1);
    /* The end: how long and how often, once. */
    assert_true(log_every_clear(&e, 25000, &dur, &count));
    assert_int_equal(dur, 24000);
    assert_int_equal(count, 504);
    assert_false(log_every_active(&e));
    assert_false(log_every_clear(&e, 26000, &dur, &count));
    /* A new episode starts afresh, also at a clock of 0. */
    assert_true(log_every_hit(&e, 0, 10000, &n));
    assert_int_equal(n, 0);
    assert_true(log_every_active(&e));
}

static void
test_errno_full(void **state)
{
    (void)state;
    assert_true(diskspace_errno_full(ENOSPC, 1ull << 40));
    assert_true(diskspace_errno_full(EDQUOT, 1ull << 40));
    /* LMDB turns a short write into EIO: full only if nothing is left. */
    assert_true(diskspace_errno_full(EIO, 0));
    assert_true(diskspace_errno_full(EIO, DISKSPACE_LOW - 1));
    assert_false(diskspace_errno_full(EIO, DISKSPACE_LOW));
    assert_false(diskspace_errno_full(EIO, 1ull << 30));
    assert_false(diskspace_errno_full(EBADF, 0));
    assert_false(diskspace_errno_full(0, 0));
}

static void
test_capacity(void **state)
{
    (void)state;
    struct diskspace d = {.file_bytes = 40u << 20, .fs_free = 8u << 20};

    /* The disk binds below the map... */
    assert_int_equal(diskspace_capacity(1ull << 30, &d), 48u << 20);
    /* ...the map below the disk. */
    assert_int_equal(diskspace_capacity(16u << 20, &d), 16u << 20);
    d.fs_free = 0;
    assert_int_equal(diskspace_capacity(1ull << 30, &d), 40u << 20);
}

static void
test_probe(void **state)
{
    (void)state;
    char path[] = "/tmp/kr-diskspace.XXXXXX";
    struct diskspace d;
    static char buf[256 << 10];
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(diskspace_probe(fd, &d), 0);
    assert_int_equal(d.file_bytes, 0);
    assert_true(d.fs_free > 0);
    assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    assert_int_equal(diskspace_probe(fd, &d), 0);
    assert_int_equal(d.file_bytes, sizeof(buf));
    /* A hole holds no room. */
    assert_int_equal(ftruncate(fd, 64 << 20), 0);
    assert_int_equal(diskspace_probe(fd, &d), 0);
    assert_true(d.file_bytes < (1u << 20));
    close(fd);
    assert_int_not_equal(diskspace_probe(fd, &d), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every),
        cmocka_unit_test(test_errno_full),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
