/* trend.h: latency trend detector (pure): an EWMA and a least-squares slope over a sliding window,
 * used to predict that a service will cross its slow threshold before it actually does. */
#ifndef MD_TREND_H
#define MD_TREND_H

#include <stdbool.h>
#include <stdint.h>

#define MD_TREND_MAX_WINDOW 32

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

/* md_trend_add records one successful check's latency, taken at wall time at_ms. */
void md_trend_add(md_trend *t, int64_t at_ms, double latency_ms);

/* md_trend_slope returns the least-squares slope in ms of latency per second over the window,
 * or 0 with fewer than 3 samples. */
double md_trend_slope(const md_trend *t);

/* md_trend_predict says whether latency is rising towards slow_ms and should cross it within
 * horizon_ms of the newest sample (and is not above it already). On true, *eta_ms is the
 * predicted time to the crossing. Needs a full window, a positive slope and a good fit, so a
 * single spike or noise does not warn. */
bool md_trend_predict(const md_trend *t, double slow_ms, int64_t horizon_ms, int64_t *eta_ms);

#endif
