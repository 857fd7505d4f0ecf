/* test_breaker.c: unit tests of node/breaker: the breaker's transitions, the doubling open
 * period and its cap, the two failure sources, and the active-endpoint rule (failover at once,
 * failback only after failback_after_ms, no ping-pong under flapping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "breaker/breaker.h"

static const md_breaker_params P = {.failures = 2, .successes = 2, .open_ms = 1000, .open_max_ms = 5000};

static void fail_n(md_breaker *b, md_breaker_source src, int n, int64_t at)
{
    for (int i = 0; i < n; i++)
        md_breaker_record(b, src, false, at);
}

static void test_opens_after_failures(void **state)
{
    (void)state;
    md_breaker b;
    md_breaker_init(&b, &P, 0);
    assert_int_equal(b.state, MD_BREAKER_CLOSED);
    assert_false(md_breaker_record(&b, MD_BREAKER_PROBE, false, 10));
    assert_int_equal(b.state, MD_BREAKER_CLOSED);
    assert_true(md_breaker_record(&b, MD_BREAKER_PROBE, false, 20));
    assert_int_equal(b.state, MD_BREAKER_OPEN);
    assert_int_equal(b.opens, 1);
    assert_int_equal(b.open_until_ms, 1020);
}

static void test_success_resets_run(void **state)
{
    (void)state;
    md_breaker b;
    md_breaker_init(&b, &P, 0);
    md_breaker_record(&b, MD_BREAKER_PROBE, false, 10);
    md_breaker_record(&b, MD_BREAKER_PROBE, true, 20);
    md_breaker_record(&b, MD_BREAKER_PROBE, false, 30);
    assert_int_equal(b.state, MD_BREAKER_CLOSED);
}

static void test_sources_count_apart(void **state)
{
    (void)state;
    md_breaker b;
    md_breaker_init(&b, &P, 0);
    /* A proxied success between two failing probes must not hide them. */
    md_breaker_record(&b, MD_BREAKER_PROBE, false, 10);
    md_breaker_record(&b, MD_BREAKER_TRAFFIC, true, 11);
    md_breaker_record(&b, MD_BREAKER_PROBE, false, 20);
    assert_int_equal(b.state, MD_BREAKER_OPEN);
    /* And traffic alone opens it, before any probe. */
    md_breaker_init(&b, &P, 0);
    fail_n(&b, MD_BREAKER_TRAFFIC, 2, 5);
    assert_int_equal(b.state, MD_BREAKER_OPEN);
}

static void test_half_open_then_closed(void **state)
{
    (void)state;
    md_breaker b;
    md_breaker_init(&b, &P, 0);
    fail_n(&b, MD_BREAKER_PROBE, 2, 0);
    assert_false(md_breaker_tick(&b, 999));
    /* Results while open are ignored. */
    md_breaker_record(&b, MD_BREAKER_PROBE, true, 500);
    assert_int_equal(b.state, MD_BREAKER_OPEN);
    assert_true(md_breaker_tick(&b, 1000));
    assert_int_equal(b.state, MD_BREAKER_HALF_OPEN);
    assert_false(md_breaker_record(&b, MD_BREAKER_PROBE, true, 1100));
    assert_true(md_breaker_record(&b, MD_BREAKER_PROBE, true, 1200));
    assert_int_equal(b.state, MD_BREAKER_CLOSED);
    assert_int_equal(b.since_ms, 1200);
}

static void test_reopen_doubles_up_to_cap(void **state)
{
    (void)state;
    md_breaker b;
    md_breaker_init(&b, &P, 0);
    fail_n(&b, MD_BREAKER_PROBE, 2, 0);
    int64_t t = 0, want[] = {2000, 4000, 5000, 5000};
    for (int i = 0; i < 4; i++) {
        t = b.open_until_ms;
        assert_true(md_breaker_record(&b, MD_BREAKER_PROBE, false, t)); /* half-open, fails */
        assert_int_equal(b.state, MD_BREAKER_OPEN);
        assert_int_equal(b.period_ms, want[i]);
        assert_int_equal(b.open_until_ms, t + want[i]);
    }
}

static void test_flapping_keeps_longer_rest(void **state)
{
    (void)state;
    md_breaker b;
    md_breaker_init(&b, &P, 0);
    fail_n(&b, MD_BREAKER_PROBE, 2, 0);
    md_breaker_record(&b, MD_BREAKER_PROBE, true, 1000);
    md_breaker_record(&b, MD_BREAKER_PROBE, true, 1001); /* closed at 1001 */
    fail_n(&b, MD_BREAKER_PROBE, 2, 1500);                /* within one period: flapping */
    assert_int_equal(b.period_ms, 2000);
    md_breaker_record(&b, MD_BREAKER_PROBE, true, 3500);
    md_breaker_record(&b, MD_BREAKER_PROBE, true, 3501); /* closed at 3501 */
    fail_n(&b, MD_BREAKER_PROBE, 2, 3501 + 2000);         /* closed a whole period: fresh start */
    assert_int_equal(b.period_ms, 1000);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(md_breaker_state_name(MD_BREAKER_CLOSED), "closed");
    assert_string_equal(md_breaker_state_name(MD_BREAKER_OPEN), "open");
    assert_string_equal(md_breaker_state_name(MD_BREAKER_HALF_OPEN), "half-open");
}

/* ---- the active-endpoint rule ---- */

static void set_state(md_breaker *b, md_breaker_state s, int64_t since)
{
    b->state = s;
    b->since_ms = since;
}

static void test_active_fails_over_at_once(void **state)
{
    (void)state;
    md_breaker b[3];
    md_active a;
    for (int i = 0; i < 3; i++)
        md_breaker_init(&b[i], &P, 0);
    md_active_init(&a, 0);
    assert_false(md_active_pick(&a, b, 3, 5000, 10));
    assert_int_equal(a.index, 0);
    set_state(&b[0], MD_BREAKER_OPEN, 100);
    assert_true(md_active_pick(&a, b, 3, 5000, 100));
    assert_int_equal(a.index, 1);
    assert_int_equal(a.since_ms, 100);
    set_state(&b[1], MD_BREAKER_HALF_OPEN, 200);
    assert_true(md_active_pick(&a, b, 3, 5000, 200));
    assert_int_equal(a.index, 2);
    set_state(&b[2], MD_BREAKER_OPEN, 300);
    assert_true(md_active_pick(&a, b, 3, 5000, 300));
    assert_int_equal(a.index, -1);
    /* From none, the first closed one, however briefly closed. */
    set_state(&b[1], MD_BREAKER_CLOSED, 400);
    assert_true(md_active_pick(&a, b, 3, 5000, 400));
    assert_int_equal(a.index, 1);
    assert_int_equal(a.switches, 4);
}

static void test_active_failback_after_quiet_time(void **state)
{
    (void)state;
    md_breaker b[2];
    md_active a;
    md_breaker_init(&b[0], &P, 0);
    md_breaker_init(&b[1], &P, 0);
    md_active_init(&a, 0);
    set_state(&b[0], MD_BREAKER_OPEN, 100);
    md_active_pick(&a, b, 2, 5000, 100);
    assert_int_equal(a.index, 1);
    set_state(&b[0], MD_BREAKER_CLOSED, 2000);
    assert_false(md_active_pick(&a, b, 2, 5000, 6999));
    assert_int_equal(a.index, 1);
    assert_true(md_active_pick(&a, b, 2, 5000, 7000));
    assert_int_equal(a.index, 0);
}

static void test_active_no_ping_pong(void **state)
{
    (void)state;
    md_breaker b[2];
    md_active a;
    md_breaker_init(&b[0], &P, 0);
    md_breaker_init(&b[1], &P, 0);
    md_active_init(&a, 0);
    /* The primary flaps every 1 s (open 500 ms, closed 500 ms) for a minute, the backup holds:
     * with a 5 s failback the traffic moves once and stays. */
    for (int64_t t = 100; t < 60000; t += 500) {
        bool open = ((t - 100) / 500) % 2 == 0;
        set_state(&b[0], open ? MD_BREAKER_OPEN : MD_BREAKER_CLOSED, t);
        md_active_pick(&a, b, 2, 5000, t);
        md_active_pick(&a, b, 2, 5000, t + 499);
        assert_int_equal(a.index, 1);
    }
    assert_int_equal(a.switches, 1);
}

static void test_active_failback_to_first_quiet(void **state)
{
    (void)state;
    md_breaker b[3];
    md_active a;
    for (int i = 0; i < 3; i++)
        md_breaker_init(&b[i], &P, 0);
    md_active_init(&a, 0);
    set_state(&b[0], MD_BREAKER_OPEN, 10);
    set_state(&b[1], MD_BREAKER_OPEN, 10);
    md_active_pick(&a, b, 3, 1000, 10);
    assert_int_equal(a.index, 2);
    set_state(&b[1], MD_BREAKER_CLOSED, 100);
    set_state(&b[0], MD_BREAKER_CLOSED, 600);
    md_active_pick(&a, b, 3, 1000, 1100); /* the backup 1 is quiet enough, the primary not yet */
    assert_int_equal(a.index, 1);
    md_active_pick(&a, b, 3, 1000, 1600);
    assert_int_equal(a.index, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_after_failures),
        cmocka_unit_test(test_success_resets_run),
        cmocka_unit_test(test_sources_count_apart),
        cmocka_unit_test(test_half_open_then_closed),
        cmocka_unit_test(test_reopen_doubles_up_to_cap),
        cmocka_unit_test(test_flapping_keeps_longer_rest),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_active_fails_over_at_once),
        cmocka_unit_test(test_active_failback_after_quiet_time),
        cmocka_unit_test(test_active_no_ping_pong),
        cmocka_unit_test(test_active_failback_to_first_quiet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
