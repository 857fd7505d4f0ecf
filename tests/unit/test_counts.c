/* test_counts.c: unit tests of the 32-bit counters that grow to 64 (node/health/counts.c): a
 * counter reads what was added, across the 32-bit wrap, without disturbing the others, and the
 * high halves exist only once one wrapped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "health/health.h"

static void test_counts_and_wrap(void **state)
{
    (void)state;
    md_counts c;
    memset(&c, 0, sizeof c);
    for (size_t i = 0; i < MD_COUNTS_N; i++)
        for (size_t k = 0; k < i; k++)
            md_counts_add(&c, i);
    for (size_t i = 0; i < MD_COUNTS_N; i++)
        assert_int_equal(md_counts_get(&c, i), i);
    assert_null(c.hi); /* nothing wrapped: no high halves */
    c.lo[3] = UINT32_MAX - 1; /* as if 2^32 - 2 checks had been counted */
    md_counts_add(&c, 3);
    assert_int_equal(md_counts_get(&c, 3), UINT32_MAX);
    assert_null(c.hi);
    md_counts_add(&c, 3); /* the wrap */
    assert_non_null(c.hi);
    assert_int_equal(md_counts_get(&c, 3), UINT64_C(1) << 32);
    md_counts_add(&c, 3);
    assert_int_equal(md_counts_get(&c, 3), (UINT64_C(1) << 32) + 1);
    for (size_t i = 0; i < MD_COUNTS_N; i++) /* the others unchanged */
        if (i != 3)
            assert_int_equal(md_counts_get(&c, i), i);
    c.lo[5] = UINT32_MAX;
    c.hi[5] = 7;
    md_counts_add(&c, 5); /* a second wrap of another counter */
    assert_int_equal(md_counts_get(&c, 5), UINT64_C(8) << 32);
    md_counts_free(&c);
    assert_null(c.hi);
    md_counts_free(NULL);
}

/* The point of them: 21 counters in 84 bytes and a pointer instead of 168. */
static void test_size(void **state)
{
    (void)state;
    assert_true(sizeof(md_counts) <= 4 * MD_COUNTS_N + 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_wrap),
        cmocka_unit_test(test_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
