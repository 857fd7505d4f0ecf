/* test_status_print.c: the status block printed in slices (node/api/status_print.c): a node's loop
 * prints 1,000 services a turn, and the slices together are the whole block, header and footer
 * once. Also the loop meter's arithmetic (node/base/loop_meter.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/base.h"
#include "view/view.h"

#define N 2500
#define NOW INT64_C(1700000000000)

static md_view *big_view(void)
{
    md_view *v = md_view_alloc(N);
    assert_non_null(v);
    v->n_services = N;
    v->node_id = md_view_strdup(v, "n1");
    for (size_t i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%05zu", i);
        v->services[i].name = md_view_strdup(v, name);
        v->services[i].kind = "http";
        v->services[i].state = i % 7 ? MD_STATE_UP : MD_STATE_DOWN;
        v->services[i].counts.lo[MD_VIEW_C_RESULT + MD_ERR_NONE] = (uint32_t)(i / 2);
        v->services[i].counts.lo[MD_VIEW_C_RESULT + MD_ERR_TIMEOUT] = (uint32_t)(i - i / 2);
    }
    return v;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_slices_make_the_block(void **state)
{
    (void)state;
    md_view *v = big_view();
    char *whole = NULL, *sliced = NULL;
    size_t wlen = 0, slen = 0;
    FILE *w = open_memstream(&whole, &wlen);
    md_status_print(w, v, NOW, 0);
    fclose(w);
    FILE *s = open_memstream(&sliced, &slen);
    size_t from = 0, calls = 0;
    while (from < N) {
        long before = ftell(s);
        size_t next = md_status_print_part(s, v, from, 1000, NOW, 0);
        assert_true(next > from && next - from <= 1000);
        fflush(s);
        /* one slice holds at most its 1,000 services */
        assert_true(count(sliced + before, "   Checks: ") <= 1000);
        from = next;
        calls++;
    }
    fclose(s);
    assert_int_equal(calls, 3);
    assert_int_equal(slen, wlen);
    assert_memory_equal(sliced, whole, wlen);
    assert_int_equal(count(whole, "MEDIC STATUS"), 1);
    assert_int_equal(count(whole, "   Checks: "), N);
    free(whole);
    free(sliced);
    md_view_unref(v);
}

static void test_empty_view(void **state)
{
    (void)state;
    md_view *v = md_view_alloc(0);
    assert_non_null(v);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_int_equal(md_status_print_part(f, v, 0, 1000, NOW, 0), 0);
    fclose(f);
    assert_int_equal(count(out, "MEDIC STATUS"), 1);
    assert_int_equal(count(out, "============================================================"), 3);
    free(out);
    md_view_unref(v);
}

static void test_loop_stats(void **state)
{
    (void)state;
    md_loop_stats st = {0};
    md_loop_stats_add(&st, 1000, 250000);
    md_loop_stats_add(&st, 300000, 250000);
    md_loop_stats_add(&st, 250000, 250000);
    md_loop_stats_add(&st, 5, 0); /* no threshold: never a stall */
    assert_int_equal(st.turns, 4);
    assert_int_equal(st.stalls, 2);
    assert_int_equal(st.max_us, 300000);
    assert_int_equal(st.busy_us, 551005);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slices_make_the_block),
        cmocka_unit_test(test_empty_view),
        cmocka_unit_test(test_loop_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
