/* test_health.c: unit tests of the per-service health state machine (node/health.c): every
 * transition and threshold, cause strings, slow and predictive DEGRADED, uptime since start and
 * over the last hour (bucket expiry, gaps), latency stats, and what reaches history and trend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "health/health.h"

#define MIN_MS INT64_C(60000)
#define T0 (INT64_C(28333333) * MIN_MS) /* Nov 2023, on a minute boundary */
#define STEP_MS 10000

static md_health_params params(int fbd, int sbu, int64_t horizon_ms)
{
    return (md_health_params){
        .failures_before_down = fbd,
        .successes_before_up = sbu,
        .slow_ms = 3000,
        .trend_horizon_ms = horizon_ms,
        .trend_window = 10,
        .ewma_alpha = 0.3,
    };
}

static bool ok_at(md_health *h, int64_t at, double latency_ms, md_health_change *c)
{
    md_check_result r = {.at_ms = at, .latency_us = (uint32_t)(latency_ms * 1000), .http_status = 200};
    return md_health_observe(h, &r, c);
}

static bool fail_at(md_health *h, int64_t at, md_err_class err, int status, md_health_change *c)
{
    md_check_result r = {.at_ms = at, .latency_us = 5000000, .err = err, .http_status = status};
    return md_health_observe(h, &r, c);
}

static void test_init(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 60000);
    md_health_init(&h, h_s, &p, T0);
    assert_int_equal(h.state, MD_STATE_UNKNOWN);
    assert_int_equal(h.state_since_ms, T0);
    assert_int_equal(h.checks_total, 0);
    assert_int_equal(h.last_success_ms, 0);
    assert_float_equal(md_health_uptime_pct(&h), 100.0, 0);
    assert_float_equal(md_health_uptime_hour_pct(&h, T0), 100.0, 0);
    assert_float_equal(md_health_avg_latency_ms(&h), 0.0, 0);
    md_health_free(&h);
}

/* Each row: thresholds, a string of events (s = 100 ms success, l = 3500 ms success, e = 3000 ms
 * success, f = failure)
 * and the state after each event (? UNKNOWN, U UP, G DEGRADED, D DOWN). A change must be
 * reported exactly when the state differs from the one before. */
static void test_transition_table(void **state)
{
    (void)state;
    static const struct {
        int fbd, sbu;
        const char *events, *states;
    } rows[] = {
        {1, 1, "sfs", "UDU"},
        {2, 1, "sfsffs", "UUUUDU"},           /* a single failure changes nothing */
        {3, 1, "sffsfffs", "UUUUUUDU"},       /* ... nor two with a threshold of 3 */
        {1, 1, "f", "D"},                     /* UNKNOWN -> DOWN */
        {2, 1, "ff", "?D"},
        {3, 1, "fffs", "??DU"},
        {2, 1, "fs", "?U"},                   /* a lone failure leaves UNKNOWN alone */
        {2, 3, "ffssfsss", "?DDDDDDU"},       /* recovery needs 3 successes in a row */
        {1, 2, "fss", "DDU"},
        {2, 1, "slls", "UGGU"},               /* slow and back */
        {2, 1, "l", "G"},
        {2, 1, "ffl", "?DG"},                 /* recovering, but slow */
        {2, 2, "fflsl", "?DDUG"},
        {2, 1, "lfls", "GGGU"},               /* failure below threshold keeps DEGRADED */
        {2, 1, "sfsfs", "UUUUU"},             /* failures separated by successes never add up */
        {2, 1, "lff", "GGD"},
        {3, 2, "sfffffsfs", "UUUDDDDDD"},     /* a failure resets the successes counted */
        {2, 1, "sele", "UUGU"},               /* e: exactly slow_ms is not slow */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        md_health h;
        md_trend_sample h_s[MD_TREND_MAX_WINDOW];
        md_health_params p = params(rows[i].fbd, rows[i].sbu, 0);
        md_health_init(&h, h_s, &p, T0);
        assert_int_equal(strlen(rows[i].events), strlen(rows[i].states));
        md_state prev = MD_STATE_UNKNOWN;
        for (size_t k = 0; rows[i].events[k]; k++) {
            int64_t at = T0 + (int64_t)(k + 1) * STEP_MS;
            md_health_change c;
            memset(&c, 0xab, sizeof c);
            char ev = rows[i].events[k];
            bool changed = ev == 'f' ? fail_at(&h, at, MD_ERR_CONNECT, 0, &c)
                                     : ok_at(&h, at, ev == 'l' ? 3500 : ev == 'e' ? 3000 : 100, &c);
            md_state want = (md_state)(strchr("?UGD", rows[i].states[k]) - "?UGD");
            if (h.state != want || changed != (want != prev))
                fail_msg("row %zu (%s) event %zu: state %s changed %d, want %s", i, rows[i].events, k,
                         md_state_name(h.state), changed, md_state_name(want));
            if (changed) {
                assert_int_equal(c.from, prev);
                assert_int_equal(c.to, want);
                assert_int_equal(h.state_since_ms, at);
                assert_non_null(memchr(c.cause, '\0', sizeof c.cause));
                assert_true(strlen(c.cause) > 0);
            }
            prev = want;
        }
        md_health_free(&h);
    }
}

/* Each row: thresholds, events (s/l as above, 3 = 3412 ms, e = 3000.4 ms, or a failure class
 * letter: c connect, t timeout, n dns, x tls, b body, 5 status 500, 4 status 404) and the cause of
 * the last change. */
static void test_cause_strings(void **state)
{
    (void)state;
    static const struct {
        int fbd, sbu;
        const char *events, *cause;
    } rows[] = {
        {2, 1, "scc", "2 consecutive failures (last: connect)"},
        {2, 1, "s55", "2 consecutive failures (last: status 500)"},
        {3, 1, "ct4", "3 consecutive failures (last: status 404)"},
        {1, 1, "t", "1 consecutive failure (last: timeout)"},
        {2, 1, "nn", "2 consecutive failures (last: dns)"},
        {2, 1, "sxx", "2 consecutive failures (last: tls)"},
        {2, 1, "bb", "2 consecutive failures (last: body)"},
        {2, 1, "ccs", "recovered after 1 success"},
        {2, 3, "ccsss", "recovered after 3 successes"},
        {2, 1, "cc3", "recovered after 1 success, slow: 3412 ms > 3000 ms"},
        {2, 1, "s", "first check ok"},
        {2, 1, "3", "first check slow: 3412 ms > 3000 ms"},
        {2, 1, "s3", "slow: 3412 ms > 3000 ms"},
        {2, 1, "se", "slow: 3000.4 ms > 3000 ms"},
        {2, 1, "s3s", "latency back under 3000 ms"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        md_health h;
        md_trend_sample h_s[MD_TREND_MAX_WINDOW];
        md_health_params p = params(rows[i].fbd, rows[i].sbu, 0);
        md_health_init(&h, h_s, &p, T0);
        md_health_change last = {0};
        for (size_t k = 0; rows[i].events[k]; k++) {
            int64_t at = T0 + (int64_t)(k + 1) * STEP_MS;
            md_health_change c;
            bool changed;
            switch (rows[i].events[k]) {
            case 's': changed = ok_at(&h, at, 100, &c); break;
            case '3': changed = ok_at(&h, at, 3412, &c); break;
            case 'e': changed = ok_at(&h, at, 3000.4, &c); break;
            case 'c': changed = fail_at(&h, at, MD_ERR_CONNECT, 0, &c); break;
            case 't': changed = fail_at(&h, at, MD_ERR_TIMEOUT, 0, &c); break;
            case 'n': changed = fail_at(&h, at, MD_ERR_DNS, 0, &c); break;
            case 'x': changed = fail_at(&h, at, MD_ERR_TLS, 0, &c); break;
            case 'b': changed = fail_at(&h, at, MD_ERR_BODY, 200, &c); break;
            case '5': changed = fail_at(&h, at, MD_ERR_STATUS, 500, &c); break;
            case '4': changed = fail_at(&h, at, MD_ERR_STATUS, 404, &c); break;
            default: fail_msg("bad event"); return;
            }
            if (changed)
                last = c;
        }
        assert_string_equal(last.cause, rows[i].cause);
        md_health_free(&h);
    }
}

/* change may be NULL: the state still moves. */
static void test_null_change(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(1, 1, 0);
    md_health_init(&h, h_s, &p, T0);
    assert_true(fail_at(&h, T0 + 1, MD_ERR_TIMEOUT, 0, NULL));
    assert_int_equal(h.state, MD_STATE_DOWN);
    md_health_free(&h);
}

/* A steady ramp (15 ms/s with a fixed +-3% wobble) from 500 ms: DEGRADED by trend while every
 * check is still under slow_ms, then (no change) past it, then UP once latency is back down. */
static void test_predictive_degraded_on_ramp(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 60000);
    md_health_init(&h, h_s, &p, T0);
    int64_t at = T0;
    for (int k = 0; k < 30; k++)
        ok_at(&h, at += STEP_MS, 500, NULL);
    assert_int_equal(h.state, MD_STATE_UP);
    assert_false(h.trend_warning);

    bool warned = false;
    for (int k = 1; k < 100; k++) {
        double lat = (500 + 15.0 * k * 10) * (k % 2 ? 1.03 : 0.97);
        md_health_change c;
        bool changed = ok_at(&h, at += STEP_MS, lat, &c);
        if (lat > 3000) {
            assert_false(changed); /* already DEGRADED by the trend */
            break;
        }
        if (changed) {
            assert_int_equal(c.from, MD_STATE_UP);
            assert_int_equal(c.to, MD_STATE_DEGRADED);
            assert_non_null(strstr(c.cause, "trend: latency rising "));
            assert_non_null(strstr(c.cause, " ms/s, predicted to cross 3000 ms in "));
            assert_true(h.trend_warning);
            assert_true(h.trend_eta_ms > 0 && h.trend_eta_ms <= 60000);
            assert_true(lat < 2800); /* a useful lead, not the last check */
            warned = true;
        }
    }
    assert_true(warned);
    assert_int_equal(h.state, MD_STATE_DEGRADED);

    bool back = false;
    for (int k = 0; k < 12 && !back; k++) {
        md_health_change c;
        if (ok_at(&h, at += STEP_MS, 500, &c)) {
            assert_int_equal(c.to, MD_STATE_UP);
            assert_string_equal(c.cause, "latency back under 3000 ms");
            back = true;
        }
    }
    assert_true(back);
    assert_false(h.trend_warning);
    md_health_free(&h);
}

/* With trend_horizon_ms 0 the same ramp goes DEGRADED only once it is actually slow. */
static void test_trend_disabled(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 0);
    md_health_init(&h, h_s, &p, T0);
    int64_t at = T0;
    for (int k = 0; k < 200; k++) {
        double lat = 500 + 15.0 * k * 10;
        ok_at(&h, at += STEP_MS, lat, NULL);
        assert_false(h.trend_warning);
        assert_int_equal(h.state, lat > 3000 ? MD_STATE_DEGRADED : MD_STATE_UP);
    }
    md_health_free(&h);
}

/* Flat noise, and single spikes under slow_ms, never leave UP; a spike over it is DEGRADED for
 * exactly that one check. */
static void test_no_degraded_on_noise_or_spike(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 60000);
    md_health_init(&h, h_s, &p, T0);
    uint64_t rng = 42;
    int64_t at = T0;
    for (int k = 0; k < 5000; k++) {
        rng = rng * 6364136223846793005u + 1442695040888963407u;
        double lat = 300 + (double)(rng >> 40) / (double)(UINT64_C(1) << 24) * 200 - 100;
        if (k % 500 == 250)
            lat = 2950; /* a lone spike just under slow_ms */
        bool changed = ok_at(&h, at += STEP_MS, lat, NULL);
        assert_true(k == 0 ? changed : !changed);
        assert_int_equal(h.state, MD_STATE_UP);
        assert_false(h.trend_warning);
    }
    md_health_change c;
    assert_true(ok_at(&h, at += STEP_MS, 3412, &c));
    assert_string_equal(c.cause, "slow: 3412 ms > 3000 ms");
    assert_true(ok_at(&h, at += STEP_MS, 300, &c));
    assert_int_equal(h.state, MD_STATE_UP);
    md_health_free(&h);
}

static void test_stats(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 60000);
    md_health_init(&h, h_s, &p, T0);
    ok_at(&h, T0 + 10000, 100, NULL);
    ok_at(&h, T0 + 20000, 200, NULL);
    fail_at(&h, T0 + 30000, MD_ERR_STATUS, 503, NULL); /* its 5 s must not count in the average */
    assert_int_equal(h.last_success_ms, T0 + 20000);
    assert_int_equal(h.last_check_ms, T0 + 30000);
    assert_int_equal(h.last_err, MD_ERR_STATUS);
    assert_int_equal(h.last_http_status, 503);
    assert_int_equal(h.last_latency_us, 5000000);
    ok_at(&h, T0 + 40000, 300, NULL);
    assert_int_equal(h.checks_total, 4);
    assert_int_equal(h.checks_ok, 3);
    assert_int_equal(h.last_err, MD_ERR_NONE);
    assert_int_equal(h.last_http_status, 200);
    assert_int_equal(h.last_latency_us, 300000);
    assert_float_equal(md_health_uptime_pct(&h), 75.0, 1e-9);
    assert_float_equal(md_health_avg_latency_ms(&h), 200.0, 1e-9);
    assert_float_equal(md_health_uptime_hour_pct(&h, T0 + 40000), 75.0, 1e-9);

    /* every result reaches history, newest first; only successes reach the trend */
    md_check_result out[8];
    assert_int_equal(md_history_get(&h.history, out, 8), 4);
    assert_int_equal(out[0].at_ms, T0 + 40000);
    assert_int_equal(out[1].err, MD_ERR_STATUS);
    assert_int_equal(out[3].latency_us, 100000);
    assert_int_equal(h.trend.count, 3);
    assert_true(h.trend.ewma_ms > 100 && h.trend.ewma_ms < 300);
    md_health_free(&h);
}

/* Checks every 10 s: minutes 0-29 all fail, minutes 30-59 all succeed (6 checks a minute). */
static void fill_hour(md_health *h)
{
    for (int64_t m = 0; m < 60; m++)
        for (int64_t s = 0; s < 6; s++) {
            int64_t at = T0 + m * MIN_MS + s * STEP_MS;
            if (m < 30)
                fail_at(h, at, MD_ERR_TIMEOUT, 0, NULL);
            else
                ok_at(h, at, 100, NULL);
        }
}

static void test_uptime_hour_expiry(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 60000);
    md_health_init(&h, h_s, &p, T0);
    fill_hour(&h);
    const int64_t end = T0 + 59 * MIN_MS + 50000; /* the last check */
    assert_float_equal(md_health_uptime_hour_pct(&h, end), 50.0, 1e-9);
    assert_float_equal(md_health_uptime_pct(&h), 50.0, 1e-9);
    /* asked later, without new checks: the oldest minutes leave the window */
    assert_float_equal(md_health_uptime_hour_pct(&h, T0 + 75 * MIN_MS), 180.0 * 100 / (84 + 180), 1e-9);
    assert_float_equal(md_health_uptime_hour_pct(&h, T0 + 89 * MIN_MS + 59999), 100.0, 1e-9);
    assert_float_equal(md_health_uptime_hour_pct(&h, T0 + 120 * MIN_MS), 100.0, 1e-9); /* no checks */
    /* asked about the past: only minutes up to then */
    assert_float_equal(md_health_uptime_hour_pct(&h, T0 + 29 * MIN_MS), 0.0, 1e-9);
    assert_float_equal(md_health_uptime_pct(&h), 50.0, 1e-9); /* since start never expires */
    md_health_free(&h);
}

/* A check 41 minutes after the last one moves the ring: the 40 skipped minutes must read empty,
 * not as the failed minutes whose slots they reuse, and minutes 41-59 stay in the window. */
static void test_uptime_hour_skipped_minutes_cleared(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 60000);
    md_health_init(&h, h_s, &p, T0);
    fill_hour(&h);
    const int64_t at = T0 + 100 * MIN_MS;
    fail_at(&h, at, MD_ERR_CONNECT, 0, NULL);
    assert_float_equal(md_health_uptime_hour_pct(&h, at), 19.0 * 6 * 100 / (19 * 6 + 1), 1e-9);
    md_health_free(&h);
}

/* After a gap of hours the whole ring is stale: only the new check counts. */
static void test_uptime_hour_multi_hour_gap(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 60000);
    md_health_init(&h, h_s, &p, T0);
    fill_hour(&h);
    const int64_t at = T0 + 239 * MIN_MS + 1234;
    fail_at(&h, at, MD_ERR_CONNECT, 0, NULL);
    assert_float_equal(md_health_uptime_hour_pct(&h, at), 0.0, 1e-9);
    ok_at(&h, at + 30 * MIN_MS, 100, NULL);
    assert_float_equal(md_health_uptime_hour_pct(&h, at + 30 * MIN_MS), 50.0, 1e-9);
    assert_float_equal(md_health_uptime_pct(&h), 181.0 * 100 / 362, 1e-9);
    md_health_free(&h);
}

/* Exactly an hour later a minute's bucket is reused: it must hold only the new minute. */
static void test_uptime_hour_exact_wrap(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 60000);
    md_health_init(&h, h_s, &p, T0);
    fail_at(&h, T0 + 1000, MD_ERR_CONNECT, 0, NULL);
    ok_at(&h, T0 + MIN_MS * 60 + 1000, 100, NULL);
    assert_float_equal(md_health_uptime_hour_pct(&h, T0 + MIN_MS * 60 + 1000), 100.0, 1e-9);
    ok_at(&h, T0 + MIN_MS * 61, 100, NULL);
    fail_at(&h, T0 + MIN_MS * 61 + 1, MD_ERR_CONNECT, 0, NULL);
    assert_float_equal(md_health_uptime_hour_pct(&h, T0 + MIN_MS * 61 + 1), 200.0 / 3, 1e-9);
    md_health_free(&h);
}

/* A result that arrives late (against the contract, but clocks and callbacks do that) counts in
 * its own minute while that minute is still in the ring, and is left out of the hour otherwise. */
static void test_uptime_hour_late_result(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 60000);
    md_health_init(&h, h_s, &p, T0);
    ok_at(&h, T0 + 10 * MIN_MS, 100, NULL);
    fail_at(&h, T0 + 8 * MIN_MS, MD_ERR_CONNECT, 0, NULL);
    assert_float_equal(md_health_uptime_hour_pct(&h, T0 + 8 * MIN_MS), 0.0, 1e-9);
    assert_float_equal(md_health_uptime_hour_pct(&h, T0 + 10 * MIN_MS), 50.0, 1e-9);
    fail_at(&h, T0 - 120 * MIN_MS, MD_ERR_CONNECT, 0, NULL); /* two hours late */
    assert_float_equal(md_health_uptime_hour_pct(&h, T0 + 10 * MIN_MS), 50.0, 1e-9);
    assert_int_equal(h.checks_total, 3);
    md_health_free(&h);
}

/* Minutes are floored, so times before the epoch (tests, broken clocks) keep one-minute buckets:
 * -30 s and +30 s are different minutes. */
static void test_uptime_hour_negative_times(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 60000);
    md_health_init(&h, h_s, &p, -90000);
    fail_at(&h, -30000, MD_ERR_CONNECT, 0, NULL);
    ok_at(&h, 30000, 100, NULL);
    assert_float_equal(md_health_uptime_hour_pct(&h, -1), 0.0, 1e-9);
    assert_float_equal(md_health_uptime_hour_pct(&h, 0), 50.0, 1e-9);
    md_health_free(&h);
}

/* The struct is embedded once per service; keep it in budget (2 KiB per service in all). */
static void test_size_budget(void **state)
{
    (void)state;
    assert_true(sizeof(md_health) <= 248); /* thresholds shared; the history's entries and the failures live outside */
}

/* The hour's 16-bit counts exist only while the hour holds a failure: a healthy service never
 * allocates them, a failure does, and they go once its minute has left the hour. */
static void test_uptime_hour_failures_only_when_failing(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 60000);
    md_health_init(&h, h_s, &p, T0);
    int64_t at = T0;
    for (int k = 0; k < 30; k++)
        ok_at(&h, at += STEP_MS, 100, NULL);
    assert_null(h.minute_wide);
    fail_at(&h, at += STEP_MS, MD_ERR_TIMEOUT, 0, NULL);
    assert_non_null(h.minute_wide);
    assert_float_equal(md_health_uptime_hour_pct(&h, at), 3000.0 / 31, 1e-9);
    for (int k = 0; k < 6 * 59; k++) {
        ok_at(&h, at += STEP_MS, 100, NULL);
        assert_non_null(h.minute_wide); /* the failure's minute is still in the hour */
    }
    for (int k = 0; k < 12 && h.minute_wide; k++)
        ok_at(&h, at += STEP_MS, 100, NULL);
    assert_null(h.minute_wide);
    assert_float_equal(md_health_uptime_hour_pct(&h, at), 100.0, 1e-9);
    fail_at(&h, at += STEP_MS, MD_ERR_TIMEOUT, 0, NULL); /* and again */
    assert_non_null(h.minute_wide);
    md_health_free(&h);
    assert_null(h.minute_wide);
}

/* More than 255 checks in a minute widen the counts without a failure and keep them exact; they
 * narrow again once no minute of the hour is over 255. */
static void test_uptime_hour_busy_minute_widens(void **state)
{
    (void)state;
    md_health h;
    md_trend_sample h_s[MD_TREND_MAX_WINDOW];
    md_health_params p = params(2, 1, 60000);
    md_health_init(&h, h_s, &p, T0);
    int64_t at = T0 - T0 % MIN_MS + MIN_MS; /* a minute's start */
    for (int k = 0; k < 255; k++)
        ok_at(&h, at + k, 100, NULL);
    assert_null(h.minute_wide);
    ok_at(&h, at + 255, 100, NULL);
    assert_non_null(h.minute_wide);
    for (int k = 256; k < 400; k++)
        ok_at(&h, at + k, 100, NULL);
    fail_at(&h, at + 400, MD_ERR_TIMEOUT, 0, NULL); /* the 401st of the minute */
    assert_float_equal(md_health_uptime_hour_pct(&h, at + 400), 40000.0 / 401, 1e-9);
    at += MIN_MS;
    for (int k = 0; k < 3; k++)
        ok_at(&h, at + k, 100, NULL); /* a quiet minute: 3 checks */
    assert_float_equal(md_health_uptime_hour_pct(&h, at + 3), 40300.0 / 404, 1e-9);
    for (int k = 0; k < 60 && h.minute_wide; k++)
        ok_at(&h, at += MIN_MS, 100, NULL);
    assert_null(h.minute_wide); /* the busy minute left the hour */
    assert_float_equal(md_health_uptime_hour_pct(&h, at), 100.0, 1e-9);
    md_health_free(&h);
}

/* The ring of (ok, total) per minute the split counts replaced, as the reference. */
typedef struct {
    int64_t epoch;
    int head;
    uint16_t ok[60], total[60];
} ref_minutes;

static int64_t ref_minute_of(int64_t ms)
{
    int64_t q = ms / MIN_MS;
    return ms % MIN_MS < 0 ? q - 1 : q;
}

static void ref_count(ref_minutes *r, int64_t at, bool ok)
{
    int64_t m = ref_minute_of(at);
    if (m > r->epoch) {
        int64_t gap = m - r->epoch;
        if (gap >= 60) {
            memset(r->ok, 0, sizeof r->ok);
            memset(r->total, 0, sizeof r->total);
            r->head = 0;
        } else {
            for (int64_t i = 0; i < gap; i++) {
                r->head = (r->head + 1) % 60;
                r->ok[r->head] = r->total[r->head] = 0;
            }
        }
        r->epoch = m;
    }
    int64_t back = r->epoch - m;
    if (back >= 60)
        return;
    int k = (int)((r->head + 60 - back) % 60);
    if (r->total[k] == UINT16_MAX)
        return;
    r->total[k]++;
    if (ok)
        r->ok[k]++;
}

static double ref_hour(const ref_minutes *r, int64_t now)
{
    int64_t now_min = ref_minute_of(now);
    uint64_t ok = 0, total = 0;
    for (int i = 0; i < 60; i++) {
        int64_t m = r->epoch - i;
        if (m > now_min || m <= now_min - 60)
            continue;
        ok += r->ok[(r->head + 60 - i) % 60];
        total += r->total[(r->head + 60 - i) % 60];
    }
    return total == 0 ? 100.0 : (double)ok * 100.0 / (double)total;
}

/* Random runs (steady checks, bursts past the per-minute saturation, gaps of minutes and hours,
 * late results, failures in streaks): the hour's uptime is what the old ring gave, asked at the
 * newest result and at times around it. */
static void test_uptime_hour_agrees_with_old_ring(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        uint64_t rs = seed * 7919;
        md_health h;
        md_trend_sample h_s[MD_TREND_MAX_WINDOW];
        md_health_params p = params(2, 1, 0);
        md_health_init(&h, h_s, &p, T0);
        static ref_minutes r;
        memset(&r, 0, sizeof r);
        r.epoch = ref_minute_of(T0);
        int64_t at = T0;
        bool failing = false;
        for (int i = 0; i < 6000; i++) {
            rs = rs * 6364136223846793005u + 1442695040888963407u;
            uint64_t x = rs >> 33;
            if (x % 50 == 0)
                failing = !failing;
            int64_t step = x % 1000 == 0 ? (int64_t)(x % 200) * MIN_MS   /* minutes to hours */
                         : x % 97 == 0 ? -(int64_t)(x % (5 * MIN_MS))    /* late */
                         : (int64_t)(x % 20000);
            at += step;
            bool ok = !failing && x % 13 != 0;
            if (ok)
                ok_at(&h, at, 100, NULL);
            else
                fail_at(&h, at, MD_ERR_CONNECT, 0, NULL);
            ref_count(&r, at, ok);
            if (i % 3 == 0)
                for (int64_t d = -2; d <= 61; d += 21)
                    assert_float_equal(md_health_uptime_hour_pct(&h, at + d * MIN_MS), ref_hour(&r, at + d * MIN_MS), 0);
        }
        /* 70,000 checks in one minute: past the count's saturation */
        at = (ref_minute_of(at) + 1) * MIN_MS;
        for (int i = 0; i < 70000; i++) {
            bool ok = i % 3 != 0;
            if (ok)
                ok_at(&h, at, 100, NULL);
            else
                fail_at(&h, at, MD_ERR_CONNECT, 0, NULL);
            ref_count(&r, at, ok);
        }
        assert_float_equal(md_health_uptime_hour_pct(&h, at), ref_hour(&r, at), 0);
        md_health_free(&h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_transition_table),
        cmocka_unit_test(test_cause_strings),
        cmocka_unit_test(test_null_change),
        cmocka_unit_test(test_predictive_degraded_on_ramp),
        cmocka_unit_test(test_trend_disabled),
        cmocka_unit_test(test_no_degraded_on_noise_or_spike),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_uptime_hour_expiry),
        cmocka_unit_test(test_uptime_hour_skipped_minutes_cleared),
        cmocka_unit_test(test_uptime_hour_multi_hour_gap),
        cmocka_unit_test(test_uptime_hour_exact_wrap),
        cmocka_unit_test(test_uptime_hour_late_result),
        cmocka_unit_test(test_uptime_hour_negative_times),
        cmocka_unit_test(test_size_budget),
        cmocka_unit_test(test_uptime_hour_failures_only_when_failing),
        cmocka_unit_test(test_uptime_hour_busy_minute_widens),
        cmocka_unit_test(test_uptime_hour_agrees_with_old_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
