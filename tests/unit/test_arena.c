/* test_arena.c - unit tests for common/arena.c: protobuf-c unpacks into
 * the arena, scopes release what they held, nested scopes, requests larger
 * than a chunk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "wire.pb-c.h"

#if ARENA_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* A frame of n submits, each with an envelope of 'len' bytes of 'fill'. */
static uint8_t *
s_frame(size_t n, size_t len, uint8_t fill, size_t *out_len)
{
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__Submit *s = calloc(n, sizeof(*s));
    Kr__V1__Submit **sp = calloc(n, sizeof(*sp));
    uint8_t *env = malloc(len);

    assert_non_null(s);
    assert_non_null(sp);
    assert_non_null(env);
    memset(env, fill, len);
    for (size_t i = 0; i < n; i++) {
        kr__v1__submit__init(&s[i]);
        s[i].envelope.data = env;
        s[i].envelope.len = len;
        sp[i] = &s[i];
    }
    f.version = KR__V1__VERSION__VERSION_1;
    f.submit = sp;
    f.n_submit = n;
    *out_len = kr__v1__frame__get_packed_size(&f);
    uint8_t *buf = malloc(*out_len);
    assert_non_null(buf);
    kr__v1__frame__pack(&f, buf);
    free(env);
    free(sp);
    free(s);
    return buf;
}

static void
s_check(const Kr__V1__Frame *f, size_t n, size_t len, uint8_t fill)
{
    assert_non_null(f);
    assert_int_equal(f->n_submit, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(f->submit[i]->envelope.len, len);
        for (size_t k = 0; k < len; k++)
            assert_int_equal(f->submit[i]->envelope.data[k], fill);
    }
}

static void
test_unpack_and_release(void **state)
{
    (void)state;
    struct arena a;
    size_t len;
    uint8_t *buf = s_frame(50, 1300, 0xab, &len);

    arena_init(&a, 16384);
    for (int round = 0; round < 3; round++) {
        struct arena_mark m = arena_mark(&a);
        Kr__V1__Frame *f = kr__v1__frame__unpack(arena_allocator(&a), len, buf);
        s_check(f, 50, 1300, 0xab);
        /* 50 x 1300 bytes do not fit one 16 KiB chunk. */
        assert_true(arena_extra(&a) > 0);
        /* Allowed, and a no-op. */
        kr__v1__frame__free_unpacked(f, arena_allocator(&a));
        arena_release(&a, m);
        assert_int_equal(arena_extra(&a), 0);
    }
    arena_fini(&a);
    free(buf);
}

static void
test_nested_scopes(void **state)
{
    (void)state;
    struct arena a;
    size_t l1, l2;
    uint8_t *b1 = s_frame(3, 100, 0x11, &l1);
    uint8_t *b2 = s_frame(200, 500, 0x22, &l2);

    arena_init(&a, 4096);
    struct arena_mark outer = arena_mark(&a);
    Kr__V1__Frame *f1 = kr__v1__frame__unpack(arena_allocator(&a), l1, b1);
    s_check(f1, 3, 100, 0x11);
    for (int i = 0; i < 5; i++) {
        struct arena_mark inner = arena_mark(&a);
        Kr__V1__Frame *f2 = kr__v1__frame__unpack(arena_allocator(&a), l2, b2);
        s_check(f2, 200, 500, 0x22);
        arena_release(&a, inner);
#if ARENA_ASAN
        /* The sanitizer build catches a pointer kept past its scope. */
        assert_true(__asan_address_is_poisoned(f2));
        assert_false(__asan_address_is_poisoned(f1));
#endif
        /* What the outer scope unpacked is untouched. */
        s_check(f1, 3, 100, 0x11);
    }
    arena_release(&a, outer);
    assert_int_equal(arena_extra(&a), 0);
    arena_fini(&a);
    free(b1);
    free(b2);
}

static void
test_large_request(void **state)
{
    (void)state;
    struct arena a;
    size_t len;
    /* One envelope far larger than a chunk. */
    uint8_t *buf = s_frame(1, 1u << 20, 0x5a, &len);

    arena_init(&a, 4096);
    struct arena_mark m = arena_mark(&a);
    Kr__V1__Frame *f = kr__v1__frame__unpack(arena_allocator(&a), len, buf);
    s_check(f, 1, 1u << 20, 0x5a);
    assert_true(arena_extra(&a) >= (1u << 20));
    arena_release(&a, m);
    assert_int_equal(arena_extra(&a), 0);
    arena_fini(&a);
    free(buf);
}

/* Plain allocations (a listing's item array) share the scope and its
 * alignment, and go with it. */
static void
test_alloc(void **state)
{
    (void)state;
    struct arena a;

    arena_init(&a, 4096);
    struct arena_mark m = arena_mark(&a);
    uint8_t *p1 = arena_alloc(&a, 3);
    uint8_t *p2 = arena_alloc(&a, 8000); /* beyond the first chunk */
    assert_non_null(p1);
    assert_non_null(p2);
    assert_int_equal((uintptr_t)p1 % 16, 0);
    assert_int_equal((uintptr_t)p2 % 16, 0);
    memset(p1, 0xab, 3);
    memset(p2, 0xcd, 8000);
    assert_int_equal(p1[2], 0xab);
    assert_true(arena_extra(&a) >= 8000);
    assert_null(arena_alloc(&a, SIZE_MAX - 4)); /* overflow: refused */
    arena_release(&a, m);
    assert_int_equal(arena_extra(&a), 0);
    /* The scope's space is used again. */
    assert_ptr_equal(arena_alloc(&a, 3), p1);
    arena_fini(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unpack_and_release),
        cmocka_unit_test(test_nested_scopes),
        cmocka_unit_test(test_large_request),
        cmocka_unit_test(test_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
