/* test_view_mem.c: unit tests of a view's own memory (node/view/view.c: md_view_strdup,
 * md_view_calloc, md_view_history): pieces cut from shared chunks come back zeroed, aligned for
 * any type, whole and apart from each other, however many there are and whatever their sizes;
 * large blocks get their own; everything is freed with the view (LeakSanitizer checks that in the
 * sanitizer build, and AddressSanitizer an overrun of one piece into the next); the size of a
 * service's record and of an observation; a service's counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "view/view.h"

/* Many pieces of every size, strings and blocks interleaved: each is zeroed when handed out,
 * blocks are aligned for any type, and after every piece is written with its own pattern, each
 * still holds its own (no two overlap). */
static void test_pieces_apart_aligned_zeroed(void **state)
{
    (void)state;
    enum { N = 5000 };
    md_view *v = md_view_alloc(1);
    assert_non_null(v);
    static unsigned char *blk[N];
    static size_t len[N];
    static const char *str[N];
    char text[64];
    for (int i = 0; i < N; i++) {
        len[i] = (size_t)(i * 37 % 301) + (i % 97 == 0 ? 20000 : 0); /* some over a chunk's quarter */
        blk[i] = md_view_calloc(v, len[i]);
        assert_non_null(blk[i]);
        assert_int_equal((uintptr_t)blk[i] % _Alignof(max_align_t), 0);
        for (size_t k = 0; k < len[i]; k++)
            assert_int_equal(blk[i][k], 0);
        memset(blk[i], i & 0xFF, len[i]);
        snprintf(text, sizeof text, "service-%d%.*s", i, i % 40, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        str[i] = md_view_strdup(v, text);
        assert_non_null(str[i]);
    }
    for (int i = 0; i < N; i++) {
        for (size_t k = 0; k < len[i]; k++)
            assert_int_equal(blk[i][k], i & 0xFF);
        snprintf(text, sizeof text, "service-%d%.*s", i, i % 40, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        assert_string_equal(str[i], text);
    }
    assert_null(md_view_strdup(v, NULL));
    assert_non_null(md_view_calloc(v, 0)); /* a valid, if empty, piece */
    md_view_unref(v);
}

/* A history copied into a view reads as its source did, and stays when the source moves on. */
static void test_history_copy(void **state)
{
    (void)state;
    md_view *v = md_view_alloc(1);
    assert_non_null(v);
    md_history h;
    md_history_init(&h, 1000);
    const md_history *empty = md_view_history(v, &h);
    assert_non_null(empty);
    assert_int_equal(md_history_get(empty, NULL, 0), 0);
    for (int i = 1; i <= 130; i++)
        md_history_push(&h, &(md_check_result){.at_ms = 1000 + i * 400, .latency_us = (uint32_t)(i * 1000)});
    const md_history *c = md_view_history(v, &h);
    assert_non_null(c);
    md_history_push(&h, &(md_check_result){.at_ms = 999999, .latency_us = 1});
    md_history_free(&h);
    md_check_result out[MD_HISTORY_LEN];
    assert_int_equal(md_history_get(c, out, MD_HISTORY_LEN), MD_HISTORY_LEN);
    for (int k = 0; k < MD_HISTORY_LEN; k++) {
        assert_int_equal(out[k].at_ms, 1000 + (130 - k) * 400);
        assert_int_equal(out[k].latency_us, (uint32_t)(130 - k) * 1000);
    }
    md_view_unref(v);
}

/* One record a service in every view: its flags sit together instead of padding 8 bytes each; the
 * counters are 32 bits until one wraps (176 bytes as 64-bit), failover is out of line (48 bytes
 * that most services left zero). One observation a service and node: its enums in a byte each. */
static void test_service_record_size(void **state)
{
    (void)state;
    assert_true(sizeof(md_view_service) <= 344);
    assert_true(sizeof(md_view_obs) <= 32);
}

/* The counters read as the monitor kept them: the low halves, and the high ones after a wrap;
 * the duration histogram cumulative, its count every check (a check slower than the last bound
 * is in no bucket, but counted). */
static void test_service_counters(void **state)
{
    (void)state;
    md_view *v = md_view_alloc(1);
    assert_non_null(v);
    md_view_service *s = &v->services[0];
    s->counts.lo[MD_VIEW_C_RESULT + MD_ERR_NONE] = 7;
    s->counts.lo[MD_VIEW_C_RESULT + MD_ERR_TIMEOUT] = 3;
    s->counts.lo[MD_VIEW_C_DUR + 0] = 4;
    s->counts.lo[MD_VIEW_C_DUR + 5] = 3;
    s->counts.lo[MD_VIEW_C_PREWARM] = 2;
    assert_int_equal(md_view_duration_le(s, 0), 4);
    assert_int_equal(md_view_duration_le(s, 4), 4);
    assert_int_equal(md_view_duration_le(s, MD_DURATION_BUCKETS - 1), 7);
    assert_int_equal(md_view_duration_count(s), 10);
    assert_int_equal(md_view_count(s, MD_VIEW_C_PREWARM), 2);
    uint32_t *hi = md_view_calloc(v, MD_COUNTS_N * sizeof *hi);
    assert_non_null(hi);
    hi[MD_VIEW_C_RESULT + MD_ERR_NONE] = 1;
    s->counts.hi = hi;
    assert_true(md_view_count(s, MD_VIEW_C_RESULT + MD_ERR_NONE) == (UINT64_C(1) << 32) + 7);
    assert_true(md_view_duration_count(s) == (UINT64_C(1) << 32) + 10);
    assert_int_equal(md_view_n_endpoints(s), 0);
    md_view_unref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_apart_aligned_zeroed),
        cmocka_unit_test(test_history_copy),
        cmocka_unit_test(test_service_record_size),
        cmocka_unit_test(test_service_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
