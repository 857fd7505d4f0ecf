/* test_trend.c: unit tests of the latency trend detector (node/trend.c): EWMA, the least-squares
 * slope on exact lines, the sliding window, the crossing prediction on ramps versus flat noise and
 * spikes, and float precision across rebases over months of samples. */
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "health/health.h"

#define T0 INT64_C(1700000000000)
#define SLOW 3000.0
#define HORIZON 60000

/* A fixed-seed generator, so the noise tests are the same on every run. */
static uint64_t rng = 0x9e3779b97f4a7c15u;
static double uniform(void) /* [-1, 1) */
{
    rng = rng * 6364136223846793005u + 1442695040888963407u;
    return (double)(rng >> 11) / (double)(UINT64_C(1) << 52) - 1.0;
}

static void test_empty_and_short(void **state)
{
    (void)state;
    md_trend t;
    md_trend_sample t_s[MD_TREND_MAX_WINDOW];
    md_trend_init(&t, t_s, 10, 0.3);
    assert_true(t.ewma_ms == 0.0);
    assert_true(md_trend_slope(&t) == 0.0);
    md_trend_add(&t, T0, 100);
    md_trend_add(&t, T0 + 1000, 200);
    assert_true(md_trend_slope(&t) == 0.0); /* fewer than 3 samples */
    md_trend_add(&t, T0 + 2000, 300);
    assert_float_equal(md_trend_slope(&t), 100.0, 1e-6);
}

static void test_ewma(void **state)
{
    (void)state;
    md_trend t;
    md_trend_sample t_s[MD_TREND_MAX_WINDOW];
    md_trend_init(&t, t_s, 5, 0.5);
    md_trend_add(&t, T0, 100);
    assert_float_equal(t.ewma_ms, 100.0, 1e-9); /* first sample seeds it */
    md_trend_add(&t, T0 + 10000, 200);
    assert_float_equal(t.ewma_ms, 150.0, 1e-9);
    md_trend_add(&t, T0 + 20000, 300);
    assert_float_equal(t.ewma_ms, 225.0, 1e-9);

    md_trend_init(&t, t_s, 5, 1.0); /* alpha 1 follows the newest sample */
    md_trend_add(&t, T0, 100);
    md_trend_add(&t, T0 + 10000, 700);
    assert_float_equal(t.ewma_ms, 700.0, 1e-9);
}

/* Exact lines y = a + b*t: the fit must give b, whatever the window, spacing or start. */
static void test_slope_exact_lines(void **state)
{
    (void)state;
    static const struct {
        int window;
        int64_t step_ms;
        double a, b;
        int n;
    } rows[] = {
        {3, 10000, 100, 2.5, 3},
        {10, 10000, 100, 2.5, 10},
        {10, 10000, 500, -4.0, 25},  /* falling, after wraparound */
        {32, 1000, 50, 0.0, 40},     /* flat */
        {32, 250, 20, 123.0, 100},   /* steep, sub-second spacing */
        {7, 60000, 900, 0.01, 7},    /* slow drift, minute spacing */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        md_trend t;
        md_trend_sample t_s[MD_TREND_MAX_WINDOW];
        md_trend_init(&t, t_s, rows[i].window, 0.3);
        for (int k = 0; k < rows[i].n; k++) {
            double ts = k * rows[i].step_ms / 1000.0;
            md_trend_add(&t, T0 + k * rows[i].step_ms, rows[i].a + rows[i].b * ts);
        }
        assert_float_equal(md_trend_slope(&t), rows[i].b, 1e-4 * (1.0 + fabs(rows[i].b)));
    }
}

/* Old samples leave the window: a ramp followed by a full window of flat values has no slope. */
static void test_window_slides(void **state)
{
    (void)state;
    md_trend t;
    md_trend_sample t_s[MD_TREND_MAX_WINDOW];
    md_trend_init(&t, t_s, 8, 0.3);
    int64_t at = T0;
    for (int k = 0; k < 20; k++, at += 10000)
        md_trend_add(&t, at, 100 + 50.0 * k);
    assert_true(md_trend_slope(&t) > 4.9);
    for (int k = 0; k < 8; k++, at += 10000)
        md_trend_add(&t, at, 400);
    assert_float_equal(md_trend_slope(&t), 0.0, 1e-9);
    assert_int_equal(t.count, 8);
}

/* An exact ramp of 20 ms/s from 1000 ms: after 10 samples 10 s apart it is at 2800 ms, so it is
 * predicted to reach 3000 ms in exactly 10 s. */
static void test_predict_exact_ramp(void **state)
{
    (void)state;
    md_trend t;
    md_trend_sample t_s[MD_TREND_MAX_WINDOW];
    md_trend_init(&t, t_s, 10, 0.3);
    int64_t eta = -1;
    for (int k = 0; k < 10; k++) {
        assert_false(md_trend_predict(&t, SLOW, HORIZON, &eta)); /* window not full yet */
        md_trend_add(&t, T0 + k * 10000, 1000 + 20.0 * k * 10);
    }
    assert_true(md_trend_predict(&t, SLOW, HORIZON, &eta));
    assert_int_equal(eta, 10000);
    /* The same ramp, with conditions that must each veto it. */
    assert_false(md_trend_predict(&t, SLOW, 0, &eta));     /* disabled */
    assert_false(md_trend_predict(&t, SLOW, 9999, &eta));  /* crossing beyond the horizon */
    assert_false(md_trend_predict(&t, 2800, HORIZON, &eta)); /* already there */
    assert_false(md_trend_predict(&t, 2000, HORIZON, &eta)); /* already above */
}

static void test_no_predict_when_falling_or_far(void **state)
{
    (void)state;
    md_trend t;
    md_trend_sample t_s[MD_TREND_MAX_WINDOW];
    int64_t eta;
    md_trend_init(&t, t_s, 10, 0.3);
    for (int k = 0; k < 10; k++)
        md_trend_add(&t, T0 + k * 10000, 2900 - 10.0 * k);
    assert_false(md_trend_predict(&t, SLOW, HORIZON, &eta));
    /* Rising cleanly but slowly, far below the threshold: hours away. */
    md_trend_init(&t, t_s, 10, 0.3);
    for (int k = 0; k < 10; k++)
        md_trend_add(&t, T0 + k * 10000, 100 + 0.1 * k * 10);
    assert_true(md_trend_slope(&t) > 0.09);
    assert_false(md_trend_predict(&t, SLOW, HORIZON, &eta));
}

/* A steady ramp with 5% jitter, sampled every 10 s: must warn before the first sample above slow. */
static void test_predict_noisy_ramp_before_crossing(void **state)
{
    (void)state;
    for (int run = 0; run < 20; run++) {
        md_trend t;
        md_trend_sample t_s[MD_TREND_MAX_WINDOW];
        md_trend_init(&t, t_s, 10, 0.3);
        int64_t warned_at = -1, crossed_at = -1, eta = 0;
        for (int k = 0; k < 400 && crossed_at < 0; k++) {
            int64_t at = T0 + k * 10000;
            double base = k < 30 ? 500 : 500 + 15.0 * (k - 30) * 10; /* 15 ms/s from k = 30 */
            double y = base * (1.0 + 0.05 * uniform());
            if (y > SLOW) {
                crossed_at = at;
                break;
            }
            md_trend_add(&t, at, y);
            if (warned_at < 0 && md_trend_predict(&t, SLOW, HORIZON, &eta))
                warned_at = at;
        }
        assert_true(crossed_at > 0);
        assert_true(warned_at > 0);
        assert_true(warned_at < crossed_at);
        assert_true(crossed_at - warned_at >= 20000); /* a useful lead, not the last instant */
    }
}

/* Flat noise must not warn, far under the threshold or close under it with a longer window.
 * Table of (window, level, amplitude), 40000 checks (4.6 days at 10 s) each. */
static void test_flat_noise_does_not_warn(void **state)
{
    (void)state;
    static const struct {
        int window;
        double level, amp;
    } rows[] = {
        {10, 200, 100}, {10, 1500, 500}, {10, 100, 90}, {20, 2700, 150}, {32, 2000, 900},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        md_trend t;
        md_trend_sample t_s[MD_TREND_MAX_WINDOW];
        md_trend_init(&t, t_s, rows[i].window, 0.3);
        int warned = 0;
        for (int k = 0; k < 40000; k++) {
            int64_t eta;
            md_trend_add(&t, T0 + k * 10000, rows[i].level + rows[i].amp * uniform());
            warned += md_trend_predict(&t, SLOW, HORIZON, &eta);
        }
        assert_int_equal(warned, 0);
    }
}

/* The fit-quality bar, exactly: a 10 ms/s ramp ending near 2860-2900 ms (crossing in 10-16 s) with a
 * zig-zag of +-d ms on top. Larger d lowers r^2; only r^2 >= MD_TREND_MIN_R2 (0.75) may warn. */
static void test_fit_quality_bar(void **state)
{
    (void)state;
    static const struct {
        double d;
        bool warns; /* r^2 of the window, and of the window without its newest sample */
    } rows[] = {
        {0, true},    /* 1.0, 1.0 */
        {60, true},   /* 0.956, 0.949 */
        {140, true},  /* 0.784, 0.775 */
        {170, false}, /* 0.70, 0.70: would warn with a bar of 0.6 */
        {250, false}, /* 0.50, 0.52 */
        {400, false}, /* 0.23, 0.30 */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        md_trend t;
        md_trend_sample t_s[MD_TREND_MAX_WINDOW];
        md_trend_init(&t, t_s, 10, 0.3);
        for (int k = 0; k < 10; k++)
            md_trend_add(&t, T0 + k * 10000, 2000 + 10.0 * k * 10 + (k % 2 ? -rows[i].d : rows[i].d));
        int64_t eta = 0;
        assert_int_equal(md_trend_predict(&t, SLOW, HORIZON, &eta), rows[i].warns);
        if (rows[i].warns)
            assert_true(eta >= 9900 && eta <= 16000);
    }
}

/* One spike as the newest sample, from a flat or a noisy baseline, for every window size. */
static void test_single_spike_does_not_warn(void **state)
{
    (void)state;
    for (int w = 3; w <= MD_TREND_MAX_WINDOW; w++) {
        for (int noisy = 0; noisy <= 1; noisy++) {
            md_trend t;
            md_trend_sample t_s[MD_TREND_MAX_WINDOW];
            md_trend_init(&t, t_s, w, 0.3);
            int64_t eta;
            for (int k = 0; k < w - 1; k++)
                md_trend_add(&t, T0 + k * 10000, 200 + (noisy ? 5 * uniform() : 0));
            md_trend_add(&t, T0 + (w - 1) * 10000, 2900);
            assert_false(md_trend_predict(&t, SLOW, HORIZON, &eta));
            /* and once the spike is in the middle of the window */
            for (int k = 0; k < w / 2; k++)
                md_trend_add(&t, T0 + (w + k) * 10000, 200 + (noisy ? 5 * uniform() : 0));
            assert_false(md_trend_predict(&t, SLOW, HORIZON, &eta));
        }
    }
}

/* 60 days of samples every 10 s, then an exact ramp: slope and eta stay exact, because the base
 * moves along (without rebasing, float seconds near 5e6 are only good to 0.5 s). */
static void test_rebase_keeps_precision(void **state)
{
    (void)state;
    md_trend t;
    md_trend_sample t_s[MD_TREND_MAX_WINDOW];
    md_trend_init(&t, t_s, 10, 0.3);
    const int64_t step = 10000, n = INT64_C(60) * 86400000 / step;
    int64_t at = T0;
    for (int64_t k = 0; k < n; k++, at += step)
        md_trend_add(&t, at, 300);
    assert_true(t.base_ms > T0 + INT64_C(59) * 86400000);
    for (int k = 0; k < 10; k++, at += step)
        md_trend_add(&t, at, 1000 + 20.0 * k * 10); /* 20 ms/s, ends at 2800 ms */
    for (int i = 0; i < t.count; i++)
        assert_true(fabsf(t.s[i].t_s) <= (float)MD_TREND_REBASE_S);
    assert_float_equal(md_trend_slope(&t), 20.0, 1e-3);
    int64_t eta;
    assert_true(md_trend_predict(&t, SLOW, HORIZON, &eta));
    assert_true(eta >= 9990 && eta <= 10010);
}

/* A jump of months between two samples rebases at once; the new samples fit exactly. */
static void test_rebase_after_long_gap(void **state)
{
    (void)state;
    md_trend t;
    md_trend_sample t_s[MD_TREND_MAX_WINDOW];
    md_trend_init(&t, t_s, 5, 0.3);
    md_trend_add(&t, T0, 100);
    int64_t later = T0 + INT64_C(120) * 86400000 + 123;
    for (int k = 0; k < 5; k++)
        md_trend_add(&t, later + k * 1000, 100 + 7.0 * k);
    assert_int_equal(t.base_ms, later);
    assert_float_equal(md_trend_slope(&t), 7.0, 1e-4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_short),
        cmocka_unit_test(test_ewma),
        cmocka_unit_test(test_slope_exact_lines),
        cmocka_unit_test(test_window_slides),
        cmocka_unit_test(test_predict_exact_ramp),
        cmocka_unit_test(test_no_predict_when_falling_or_far),
        cmocka_unit_test(test_predict_noisy_ramp_before_crossing),
        cmocka_unit_test(test_flat_noise_does_not_warn),
        cmocka_unit_test(test_fit_quality_bar),
        cmocka_unit_test(test_single_spike_does_not_warn),
        cmocka_unit_test(test_rebase_keeps_precision),
        cmocka_unit_test(test_rebase_after_long_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
