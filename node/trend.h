/* trend.h: latency trend detector (pure): an EWMA and a least-squares slope over a sliding window,
 * used to predict that a service will cross its slow threshold before it actually does. */
#ifndef MD_TREND_H
#define MD_TREND_H

#include <stdbool.h>
#include <stdint.h>

#define MD_TREND_MAX_WINDOW 32
#define MD_TREND_REBASE_S 1e5    /* float seconds stay precise to < 8 ms below this */
#define MD_TREND_MIN_R2 0.75     /* fit quality md_trend_predict requires (see below) */

typedef struct {
    float t_s;        /* sample time in seconds relative to md_trend.base_ms */
    float latency_ms;
} md_trend_sample;

/* Fixed-size state, embedded in the per-service record; no allocation. */
typedef struct {
    double ewma_ms;       /* exponentially weighted moving average of latency, 0 before any sample */
    double alpha;         /* EWMA weight of the newest sample */
    int64_t base_ms;      /* time origin of the samples (set by the first sample) */
    uint16_t window;      /* capacity in use, <= MD_TREND_MAX_WINDOW */
    uint16_t count;       /* samples held, <= window */
    uint16_t head;        /* index of the next write */
    md_trend_sample s[MD_TREND_MAX_WINDOW];
} md_trend;

/* md_trend_init: window in [3, MD_TREND_MAX_WINDOW], alpha in (0, 1]. */
void md_trend_init(md_trend *t, int window, double alpha);

/* md_trend_add records one successful check's latency, taken at wall time at_ms. Times are kept
 * as float seconds from base_ms; when a sample lies more than MD_TREND_REBASE_S from base_ms, the
 * base moves to that sample and the older ones are shifted, so precision stays ~10 ms for months. */
void md_trend_add(md_trend *t, int64_t at_ms, double latency_ms);

/* md_trend_slope returns the least-squares slope in ms of latency per second over the window,
 * or 0 with fewer than 3 samples. */
double md_trend_slope(const md_trend *t);

/* md_trend_predict says whether latency is rising towards slow_ms and should cross it within
 * horizon_ms of the newest sample (and is not above it already). On true, *eta_ms is the
 * predicted time to the crossing. Needs a full window, a positive slope and a good fit, so a
 * single spike or noise does not warn. Precisely, all of:
 *  - horizon_ms > 0 and count == window;
 *  - the least-squares line over the window has slope > 0 and r^2 >= MD_TREND_MIN_R2;
 *  - the fit over the window without its newest sample passes the same test and has at least half
 *    the slope, so one spike at the end (which alone scores r^2 of 0.6-0.75 in windows of 3-4)
 *    is not read as a trend;
 *  - the fitted value at the newest sample is below slow_ms;
 *  - extrapolating the line from there reaches slow_ms within horizon_ms.
 * Why r^2 >= 0.75 and not 0.6: simulated with the defaults (window 10, 10 s interval, 60 s
 * horizon, slow 3000 ms), flat uniform noise of 2800 +- 150 ms warned on 0.27% of checks at 0.6
 * (a false DEGRADED about every hour) and 0.04% at 0.75, while ramps of 10-20 ms/s with 10%
 * jitter were still caught ~50 s ahead in 98-100% of runs; noisier or slower ramps are missed
 * more often, and then the plain slow rule catches them. Windows under 8 samples are too short
 * to tell a ramp from noise reliably (window 5 still false-warns on ~2% of such checks). */
bool md_trend_predict(const md_trend *t, double slow_ms, int64_t horizon_ms, int64_t *eta_ms);

#endif
