/* test_arena.c - the batch arena: alignment, growth, large allocations, reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"

static void test_alignment_and_content(void **state)
{
    sl_arena a;
    arena_init(&a, 64 * 1024);
    char *ptrs[1000];
    for (int i = 0; i < 1000; i++) {
        ptrs[i] = arena_alloc(&a, (size_t)(i % 37) + 1);
        assert_int_equal((uintptr_t)ptrs[i] % 8, 0);
        memset(ptrs[i], i & 0xff, (size_t)(i % 37) + 1);
    }
    for (int i = 0; i < 1000; i++)
        for (int j = 0; j < i % 37 + 1; j++)
            assert_int_equal((unsigned char)ptrs[i][j], i & 0xff);
    arena_free(&a);
    assert_int_equal(a.total, 0);
}

static void test_small_batches_stay_small(void **state)
{
    sl_arena a;
    arena_init(&a, 64 * 1024);
    arena_alloc(&a, 100);
    /* A few small allocations must not reserve a whole regular chunk. */
    assert_true(a.total < 8 * 1024);
    for (int i = 0; i < 2000; i++)
        arena_alloc(&a, 100);
    assert_true(a.total >= 200000);
    assert_true(a.total < 2 * 200000 + 64 * 1024);
    arena_free(&a);
}

static void test_large_allocation_keeps_head(void **state)
{
    sl_arena a;
    arena_init(&a, 64 * 1024);
    char *s1 = arena_alloc(&a, 16);
    char *pos = a.pos;
    char *big = arena_alloc(&a, 1 << 20);
    memset(big, 'x', 1 << 20);
    assert_ptr_equal(a.pos, pos); /* head's free space still in use */
    char *s2 = arena_alloc(&a, 16);
    assert_ptr_equal(s2, s1 + 16);
    arena_free(&a);
}

static void test_strndup_and_reset(void **state)
{
    sl_arena a;
    arena_init(&a, 4096);
    char *s = arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    for (int i = 0; i < 100; i++)
        arena_alloc(&a, 1000);
    arena_reset(&a);
    assert_true(a.total <= 4096 + 64);
    s = arena_strndup(&a, "again", 5);
    assert_string_equal(s, "again");
    arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_content),
        cmocka_unit_test(test_small_batches_stay_small),
        cmocka_unit_test(test_large_allocation_keeps_head),
        cmocka_unit_test(test_strndup_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
