/* health.c: folds check results into one service's health state (UNKNOWN/UP/DEGRADED/DOWN), its
 * uptime and latency statistics, its history and latency trend. Pure: time comes from the results. */
#include "health.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MINUTE_MS 60000

/* Floor division, so results before 1970 (tests, broken clocks) still map to one minute each. */
static int64_t minute_of(int64_t ms)
{
    int64_t q = ms / MINUTE_MS;
    return (ms % MINUTE_MS < 0) ? q - 1 : q;
}

void md_health_init(md_health *h, md_trend_sample *trend_samples, const md_health_params *p, int64_t now_ms)
{
    assert(h && p && trend_samples);
    assert(p->failures_before_down >= 1 && p->successes_before_up >= 1);
    assert(p->slow_ms > 0 && p->trend_horizon_ms >= 0);
    memset(h, 0, sizeof *h);
    h->p = p;
    h->state = MD_STATE_UNKNOWN;
    h->state_since_ms = now_ms;
    h->minute_epoch = minute_of(now_ms);
    md_trend_init(&h->trend, trend_samples, p->trend_window, p->ewma_alpha);
    md_history_init(&h->history, now_ms);
}

void md_health_free(md_health *h)
{
    if (!h)
        return;
    md_history_free(&h->history);
    free(h->minute_wide);
    h->minute_wide = NULL;
}

#define NARROW_MAX UINT8_MAX

static unsigned minute_checks(const md_health *h, size_t k)
{
    return h->minute_wide ? h->minute_wide[k] : h->minute_total[k];
}

static unsigned minute_failures(const md_health *h, size_t k)
{
    return h->minute_wide ? h->minute_wide[MD_HEALTH_MINUTES + k] : 0;
}

/* Clears minute k of the ring (no checks in it yet). */
static void clear_minute(md_health *h, size_t k)
{
    h->minute_total[k] = 0;
    if (h->minute_wide)
        h->minute_wide[k] = h->minute_wide[MD_HEALTH_MINUTES + k] = 0;
}

/* Moves the counts to 16 bits a minute with room for failures; false out of memory. */
static bool widen(md_health *h)
{
    assert(!h->minute_wide);
    uint16_t *w = calloc(2 * MD_HEALTH_MINUTES, sizeof *w);
    if (!w)
        return false;
    for (size_t k = 0; k < MD_HEALTH_MINUTES; k++)
        w[k] = h->minute_total[k];
    h->minute_wide = w;
    return true;
}

/* Back to a byte a minute once the hour holds no failure and no minute over 255 checks: most
 * services never fail. */
static void narrow_if_clear(md_health *h)
{
    if (!h->minute_wide)
        return;
    for (size_t k = 0; k < MD_HEALTH_MINUTES; k++)
        if (h->minute_wide[MD_HEALTH_MINUTES + k] || h->minute_wide[k] > NARROW_MAX)
            return;
    for (size_t k = 0; k < MD_HEALTH_MINUTES; k++)
        h->minute_total[k] = (uint8_t)h->minute_wide[k];
    free(h->minute_wide);
    h->minute_wide = NULL;
}

/* Count one result in the bucket of its wall minute, moving the ring forward first. Minutes the
 * ring skips over had no checks, so their buckets are cleared rather than left stale. */
static void count_minute(md_health *h, int64_t at_ms, bool ok)
{
    int64_t m = minute_of(at_ms);
    if (m > h->minute_epoch) {
        int64_t gap = m - h->minute_epoch;
        if (gap >= MD_HEALTH_MINUTES) {
            for (size_t k = 0; k < MD_HEALTH_MINUTES; k++)
                clear_minute(h, k);
            h->minute_head = 0;
        } else {
            for (int64_t i = 0; i < gap; i++) {
                h->minute_head = (uint16_t)((h->minute_head + 1) % MD_HEALTH_MINUTES);
                clear_minute(h, h->minute_head);
            }
        }
        h->minute_epoch = m;
        narrow_if_clear(h);
    }
    int64_t back = h->minute_epoch - m; /* > 0 only for a result that arrives late */
    if (back >= MD_HEALTH_MINUTES)
        return;
    size_t k = (size_t)((h->minute_head + MD_HEALTH_MINUTES - back) % MD_HEALTH_MINUTES);
    unsigned total = minute_checks(h, k);
    if (total == UINT16_MAX) /* 1000+ checks a second: keep the ratio, drop the count */
        return;
    if (!h->minute_wide && (!ok || total == NARROW_MAX) && !widen(h))
        return; /* out of memory: this result is left out of the hour's counts */
    if (h->minute_wide) {
        h->minute_wide[k]++;
        if (!ok)
            h->minute_wide[MD_HEALTH_MINUTES + k]++;
    } else {
        h->minute_total[k]++;
    }
}

static void set_change(md_health_change *c, md_state from, md_state to, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_change(md_health_change *c, md_state from, md_state to, const char *fmt, ...)
{
    if (!c)
        return;
    c->from = from;
    c->to = to;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->cause, sizeof c->cause, fmt, ap);
    va_end(ap);
}

static void transition(md_health *h, const md_check_result *r, md_state to)
{
    assert(to != h->state && to != MD_STATE_UNKNOWN);
    h->state = to;
    h->state_since_ms = r->at_ms;
}

static bool is_slow(const md_health *h, uint32_t latency_us)
{
    return (int64_t)latency_us > h->p->slow_ms * 1000;
}

/* "slow: 3412 ms > 3000 ms", with a decimal when whole ms would read "3000 ms > 3000 ms". */
static void slow_text(const md_health *h, uint32_t latency_us, char *buf, size_t len)
{
    if ((int64_t)(latency_us / 1000) > h->p->slow_ms)
        snprintf(buf, len, "slow: %u ms > %lld ms", latency_us / 1000, (long long)h->p->slow_ms);
    else
        snprintf(buf, len, "slow: %.1f ms > %lld ms", latency_us / 1000.0, (long long)h->p->slow_ms);
}

/* Why a success lands in DEGRADED (into buf), or false when it is plain UP. */
static bool degraded_reason(const md_health *h, uint32_t latency_us, char *buf, size_t len)
{
    if (is_slow(h, latency_us)) {
        slow_text(h, latency_us, buf, len);
        return true;
    }
    if (h->trend_warning) {
        snprintf(buf, len, "trend: latency rising %.1f ms/s, predicted to cross %lld ms in %lld s",
                 md_trend_slope(&h->trend), (long long)h->p->slow_ms,
                 (long long)((h->trend_eta_ms + 999) / 1000));
        return true;
    }
    return false;
}

static bool observe_success(md_health *h, const md_check_result *r, md_health_change *c)
{
    if (h->consecutive_successes < INT_MAX)
        h->consecutive_successes++;
    h->consecutive_failures = 0;
    md_trend_add(&h->trend, r->at_ms, r->latency_us / 1000.0);
    int64_t eta = 0;
    h->trend_warning = md_trend_predict(&h->trend, (double)h->p->slow_ms, h->p->trend_horizon_ms, &eta);
    h->trend_eta_ms = h->trend_warning ? eta : 0;

    char why[MD_HEALTH_CAUSE_LEN - 32];
    bool degraded = degraded_reason(h, r->latency_us, why, sizeof why);
    md_state to = degraded ? MD_STATE_DEGRADED : MD_STATE_UP;
    md_state from = h->state;
    if (from == to)
        return false;
    switch (from) {
    case MD_STATE_UNKNOWN:
        if (degraded)
            set_change(c, from, to, "first check %s", why);
        else
            set_change(c, from, to, "first check ok");
        break;
    case MD_STATE_DOWN:
        if (h->consecutive_successes < h->p->successes_before_up)
            return false;
        set_change(c, from, to, "recovered after %d success%s%s%s", h->consecutive_successes,
                   h->consecutive_successes == 1 ? "" : "es", degraded ? ", " : "", degraded ? why : "");
        break;
    case MD_STATE_UP:
        set_change(c, from, to, "%s", why);
        break;
    default:
        assert(from == MD_STATE_DEGRADED);
        set_change(c, from, to, "latency back under %lld ms", (long long)h->p->slow_ms);
        break;
    }
    transition(h, r, to);
    return true;
}

static bool observe_failure(md_health *h, const md_check_result *r, md_health_change *c)
{
    if (h->consecutive_failures < INT_MAX)
        h->consecutive_failures++;
    h->consecutive_successes = 0;
    /* Below the threshold nothing moves: one lost packet must not flap the state. */
    if (h->state == MD_STATE_DOWN || h->consecutive_failures < h->p->failures_before_down)
        return false;
    int n = h->consecutive_failures;
    const char *plural = n == 1 ? "" : "s";
    if (r->err == MD_ERR_STATUS && r->http_status > 0)
        set_change(c, h->state, MD_STATE_DOWN, "%d consecutive failure%s (last: status %d)", n, plural,
                   r->http_status);
    else
        set_change(c, h->state, MD_STATE_DOWN, "%d consecutive failure%s (last: %s)", n, plural,
                   md_err_name(r->err));
    transition(h, r, MD_STATE_DOWN);
    return true;
}

bool md_health_observe(md_health *h, const md_check_result *r, md_health_change *change)
{
    assert(h && r);
    assert(r->err >= MD_ERR_NONE && r->err < MD_ERR_COUNT);
    assert(h->state < MD_STATE_COUNT);
    bool ok = r->err == MD_ERR_NONE;

    h->checks_total++;
    h->last_check_ms = r->at_ms;
    h->last_latency_us = r->latency_us;
    h->last_err = r->err;
    h->last_http_status = r->http_status;
    if (ok) {
        h->checks_ok++;
        h->last_success_ms = r->at_ms;
        h->latency_sum_ms += r->latency_us / 1000.0;
    }
    count_minute(h, r->at_ms, ok);
    md_history_push(&h->history, r);

    bool changed = ok ? observe_success(h, r, change) : observe_failure(h, r, change);
    assert(h->checks_ok <= h->checks_total);
    assert(!changed || h->state != MD_STATE_UNKNOWN);
    return changed;
}

double md_health_uptime_pct(const md_health *h)
{
    assert(h);
    if (h->checks_total == 0)
        return 100.0;
    return (double)h->checks_ok * 100.0 / (double)h->checks_total;
}

double md_health_uptime_hour_pct(const md_health *h, int64_t now_ms)
{
    assert(h);
    int64_t now_min = minute_of(now_ms);
    uint64_t ok = 0, total = 0;
    for (int i = 0; i < MD_HEALTH_MINUTES; i++) {
        int64_t m = h->minute_epoch - i;
        if (m > now_min || m <= now_min - MD_HEALTH_MINUTES)
            continue;
        size_t k = (size_t)((h->minute_head + MD_HEALTH_MINUTES - i) % MD_HEALTH_MINUTES);
        total += minute_checks(h, k);
        ok += minute_checks(h, k) - minute_failures(h, k);
    }
    return total == 0 ? 100.0 : (double)ok * 100.0 / (double)total;
}

double md_health_avg_latency_ms(const md_health *h)
{
    assert(h);
    return h->checks_ok == 0 ? 0.0 : h->latency_sum_ms / (double)h->checks_ok;
}
