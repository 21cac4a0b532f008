/*
 * test_prefill.c - the helper that keeps a store's file written ahead
 * (common/prefill.c): it writes zeros up to 'ahead' past the writer's end,
 * never past the cap, and never over what a writer inside
 * prefill_writer_enter/_leave wrote.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "prefill.h"
#include "util.h"

#define S_DEADLINE_MS 10000

struct s_file {
    char path[64];
    int fd;
    uint64_t used; /* the "writer's" end; changed under the writer lock */
};

static uint64_t
s_used(void *arg)
{
    return ((struct s_file *)arg)->used;
}

static int
s_setup(void **state)
{
    struct s_file *f = calloc(1, sizeof(*f));

    snprintf(f->path, sizeof(f->path), "/tmp/kr-prefill-XXXXXX");
    f->fd = mkstemp(f->path);
    assert_true(f->fd >= 0);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    struct s_file *f = *state;

    close(f->fd);
    unlink(f->path);
    free(f);
    return 0;
}

static uint64_t
s_size(int fd)
{
    struct stat sb;

    assert_int_equal(fstat(fd, &sb), 0);
    return (uint64_t)sb.st_size;
}

/* Wait, with a deadline, until the helper has written up to 'want'. */
static void
s_wait_filled(struct prefill *p, uint64_t want)
{
    uint64_t until = util_mono_ms() + S_DEADLINE_MS;

    while (prefill_filled(p) < want && util_mono_ms() < until)
        usleep(1000);
    assert_true(prefill_filled(p) >= want);
}

static void
s_assert_zeros(int fd, uint64_t from, uint64_t to)
{
    static char buf[1 << 16];

    for (uint64_t off = from; off < to;) {
        size_t n = (size_t)(to - off < sizeof(buf) ? to - off : sizeof(buf));
        assert_int_equal(pread(fd, buf, n, (off_t)off), (ssize_t)n);
        for (size_t i = 0; i < n; i++)
            if (buf[i] != 0)
                fail_msg("byte at %llu is not zero",
                         (unsigned long long)(off + i));
        off += n;
    }
}

static void
test_fills_ahead_of_the_end(void **state)
{
    struct s_file *f = *state;

    f->used = 8192;
    assert_int_equal(pwrite(f->fd, "x", 1, 0), 1);
    struct prefill *p = prefill_start(f->fd, 1u << 20, 64u << 20, s_used, f);
    assert_non_null(p);
    s_wait_filled(p, 8192 + (1u << 20));
    prefill_stop(&p);
    assert_null(p);
    assert_int_equal(s_size(f->fd), 8192 + (1u << 20));
    s_assert_zeros(f->fd, 8192, 8192 + (1u << 20));
    /* What was there before is left alone. */
    char c = 0;
    assert_int_equal(pread(f->fd, &c, 1, 0), 1);
    assert_int_equal(c, 'x');
}

static void
test_never_past_the_cap(void **state)
{
    struct s_file *f = *state;
    const uint64_t cap = 3u << 20;

    f->used = cap - 4096;
    struct prefill *p = prefill_start(f->fd, 2u << 20, cap, s_used, f);
    s_wait_filled(p, cap);
    prefill_stop(&p);
    assert_int_equal(s_size(f->fd), cap);
}

static void
test_off_when_ahead_is_zero(void **state)
{
    struct s_file *f = *state;

    assert_null(prefill_start(f->fd, 0, 1u << 20, s_used, f));
    assert_null(prefill_start(-1, 1u << 20, 1u << 20, s_used, f));
    prefill_writer_enter(NULL); /* accepted, does nothing */
    prefill_writer_leave(NULL);
    struct prefill *none = NULL;
    prefill_stop(&none);
    assert_int_equal(s_size(f->fd), 0);
}

/* A file written earlier past its end counts as filled: a restart does
 * not write it again. */
static void
test_resumes_after_what_is_written(void **state)
{
    struct s_file *f = *state;
    char one = 1;

    f->used = 4096;
    assert_int_equal(pwrite(f->fd, &one, 1, (2u << 20) - 1), 1);
    struct prefill *p = prefill_start(f->fd, 1u << 20, 64u << 20, s_used, f);
    s_wait_filled(p, 2u << 20);
    prefill_stop(&p);
    char c = 0;
    assert_int_equal(pread(f->fd, &c, 1, (2u << 20) - 1), 1);
    assert_int_equal(c, 1);
}

/*
 * The writer, as LMDB does, writes past its end while inside the lock and
 * then moves the end on; it outruns the helper (which flushes each chunk),
 * so the helper keeps meeting an end that has just moved. Every byte the
 * writer wrote must still be there. Without the lock the helper writes its
 * zeros over the writer's newest bytes within a few hundred rounds.
 */
static void
test_never_writes_over_the_writer(void **state)
{
    struct s_file *f = *state;
    const uint64_t cap = 256u << 20;
    static uint8_t block[64 << 10];
    uint64_t seed = 42;

    f->used = 0;
    struct prefill *p = prefill_start(f->fd, 512u << 10, cap, s_used, f);
    assert_non_null(p);
    for (int round = 0; round < 3000; round++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = 4096 + (size_t)(seed >> 33) % (sizeof(block) - 4096);
        memset(block, (round % 255) + 1, len);
        prefill_writer_enter(p);
        assert_int_equal(pwrite(f->fd, block, len, (off_t)f->used),
                         (ssize_t)len);
        f->used += len;
        prefill_writer_leave(p);
    }
    prefill_stop(&p);

    seed = 42;
    uint64_t off = 0;
    for (int round = 0; round < 3000; round++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = 4096 + (size_t)(seed >> 33) % (sizeof(block) - 4096);
        assert_int_equal(pread(f->fd, block, len, (off_t)off), (ssize_t)len);
        for (size_t i = 0; i < len; i++)
            if (block[i] != (uint8_t)((round % 255) + 1))
                fail_msg("round %d: byte %zu of %zu overwritten (0x%02x)",
                         round, i, len, block[i]);
        off += len;
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fills_ahead_of_the_end, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_never_past_the_cap, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_off_when_ahead_is_zero, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_resumes_after_what_is_written,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_never_writes_over_the_writer,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
