/* test_cadence.c: unit tests of when checks run (node/health/cadence.c): a failure short of
 * DOWN brings the next check to retry_interval_ms, a success or DOWN goes back to the interval,
 * which peer observations ask for an early check, and the bound of one early check per service
 * per interval per asking peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "health/health.h"

#define T0 INT64_C(1700000000000)
#define INTERVAL 10000
#define RETRY 1000

static void init(md_health *h, int fbd)
{
    static md_health_params p; /* kept by h; one health at a time in these tests */
    p = (md_health_params){
        .failures_before_down = fbd, .successes_before_up = 1, .slow_ms = 3000,
        .trend_horizon_ms = 0, .trend_window = 10, .ewma_alpha = 0.3,
    };
    static md_trend_sample samples[MD_TREND_MAX_WINDOW]; /* one health at a time in these tests */
    md_health_init(h, samples, &p, T0);
}

static void observe(md_health *h, int64_t at, bool ok)
{
    md_check_result r = {.at_ms = at, .latency_us = 1000, .http_status = ok ? 200 : 0,
                         .err = ok ? MD_ERR_NONE : MD_ERR_CONNECT};
    md_health_observe(h, &r, NULL);
}

static void test_retry_after_first_failure(void **state)
{
    (void)state;
    md_health h;
    init(&h, 2);
    assert_int_equal(md_health_next_delay_ms(&h, INTERVAL, RETRY), INTERVAL); /* no check yet */
    observe(&h, T0 + 1, true);
    assert_int_equal(md_health_next_delay_ms(&h, INTERVAL, RETRY), INTERVAL);
    observe(&h, T0 + 2, false); /* first failure: suspect, not DOWN */
    assert_int_equal(h.state, MD_STATE_UP);
    assert_int_equal(md_health_next_delay_ms(&h, INTERVAL, RETRY), RETRY);
    observe(&h, T0 + 3, false); /* second: DOWN, back to the interval */
    assert_int_equal(h.state, MD_STATE_DOWN);
    assert_int_equal(md_health_next_delay_ms(&h, INTERVAL, RETRY), INTERVAL);
    observe(&h, T0 + 4, false);
    assert_int_equal(md_health_next_delay_ms(&h, INTERVAL, RETRY), INTERVAL);
    md_health_free(&h);
}

static void test_success_clears_retry(void **state)
{
    (void)state;
    md_health h;
    init(&h, 3);
    observe(&h, T0 + 1, true);
    observe(&h, T0 + 2, false);
    observe(&h, T0 + 3, false); /* 2 of 3: still retrying */
    assert_int_equal(md_health_next_delay_ms(&h, INTERVAL, RETRY), RETRY);
    observe(&h, T0 + 4, true);
    assert_int_equal(md_health_next_delay_ms(&h, INTERVAL, RETRY), INTERVAL);
    md_health_free(&h);
}

static void test_retry_from_unknown(void **state)
{
    (void)state;
    md_health h;
    init(&h, 2);
    observe(&h, T0 + 1, false); /* a service down from the start is confirmed quickly too */
    assert_int_equal(md_health_next_delay_ms(&h, INTERVAL, RETRY), RETRY);
    md_health_free(&h);
}

static void test_suspects(void **state)
{
    (void)state;
    md_obs o = {.state = MD_STATE_UP, .consecutive_failures = 0};
    assert_false(md_health_suspects(&o));
    o.consecutive_failures = 1;
    assert_true(md_health_suspects(&o));
    o.state = MD_STATE_UNKNOWN;
    assert_true(md_health_suspects(&o));
    o.state = MD_STATE_DOWN;
    assert_false(md_health_suspects(&o)); /* already DOWN there: it retries no more, nor do we */
}

static void test_early_gate_bound(void **state)
{
    (void)state;
    md_early_gate g;
    memset(&g, 0, sizeof g);
    int64_t t = 5000;
    assert_true(md_early_gate_allow(&g, 1, t, INTERVAL));
    /* A flapping service: peer 1 asks again and again within the interval. */
    for (int k = 1; k < 100; k++)
        assert_false(md_early_gate_allow(&g, 1, t + k * 100, INTERVAL));
    /* Another peer has its own allowance. */
    assert_true(md_early_gate_allow(&g, 2, t + 50, INTERVAL));
    assert_false(md_early_gate_allow(&g, 2, t + 60, INTERVAL));
    /* One interval on, peer 1 may ask once more. */
    assert_false(md_early_gate_allow(&g, 1, t + INTERVAL - 1, INTERVAL));
    assert_true(md_early_gate_allow(&g, 1, t + INTERVAL, INTERVAL));
    assert_false(md_early_gate_allow(&g, 1, t + INTERVAL + 1, INTERVAL));
}

static void test_early_gate_count_per_interval(void **state)
{
    (void)state;
    /* Asked every 100 ms for a minute by 3 peers: at most 6 grants each (one per 10 s). */
    md_early_gate g;
    memset(&g, 0, sizeof g);
    int grants[3] = {0};
    for (int64_t t = 1; t <= 60000; t += 100)
        for (size_t p = 0; p < 3; p++)
            grants[p] += md_early_gate_allow(&g, p, t, INTERVAL);
    for (size_t p = 0; p < 3; p++)
        assert_int_equal(grants[p], 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after_first_failure),
        cmocka_unit_test(test_success_clears_retry),
        cmocka_unit_test(test_retry_from_unknown),
        cmocka_unit_test(test_suspects),
        cmocka_unit_test(test_early_gate_bound),
        cmocka_unit_test(test_early_gate_count_per_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
