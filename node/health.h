/* health.h: the per-service health state machine and its statistics (pure: no I/O, no clock).
 *
 * UNKNOWN -> UP/DEGRADED on a success; any state -> DOWN after failures_before_down consecutive
 * failures; DOWN -> UP/DEGRADED after successes_before_up consecutive successes. A success is
 * DEGRADED instead of UP when it is slower than slow_ms, or when the latency trend predicts
 * crossing slow_ms within trend_horizon_ms. A single failure below the threshold changes nothing. */
#ifndef MD_HEALTH_H
#define MD_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "history.h"
#include "trend.h"
#include "types.h"

#define MD_HEALTH_MINUTES 60 /* buckets of the last-hour uptime */
#define MD_HEALTH_CAUSE_LEN 128

typedef struct {
    int failures_before_down;   /* >= 1 */
    int successes_before_up;    /* >= 1 */
    int64_t slow_ms;            /* > 0 */
    int64_t trend_horizon_ms;   /* 0 disables the predictive warning */
    int trend_window;           /* [3, MD_TREND_MAX_WINDOW] */
    double ewma_alpha;          /* (0, 1] */
} md_health_params;

typedef struct {
    uint16_t ok;
    uint16_t total;
} md_health_minute;

/* Plain state embedded in the per-service record; read by the snapshot builder. */
typedef struct {
    md_health_params p;
    md_state state;
    int64_t state_since_ms;       /* wall time of the last state change (or of init) */
    int consecutive_failures;
    int consecutive_successes;
    uint64_t checks_total;
    uint64_t checks_ok;
    int64_t started_ms;
    int64_t last_check_ms;        /* 0 before the first check */
    int64_t last_success_ms;      /* 0 before the first success */
    uint32_t last_latency_us;
    md_err_class last_err;
    int last_http_status;
    double latency_sum_ms;        /* over successful checks, for the average */
    bool trend_warning;           /* the trend currently predicts crossing slow_ms */
    int64_t trend_eta_ms;         /* valid when trend_warning */
    int64_t minute_epoch;         /* wall minute (at_ms / 60000) of minutes[minute_head] */
    uint16_t minute_head;
    md_health_minute minutes[MD_HEALTH_MINUTES];
    md_trend trend;
    md_history history;
} md_health;

/* What changed, filled by md_health_observe when it returns true. */
typedef struct {
    md_state from;
    md_state to;
    char cause[MD_HEALTH_CAUSE_LEN]; /* e.g. "2 consecutive failures, last: connect" or "slow: 3412 ms > 3000 ms" */
} md_health_change;

/* md_health_init starts in UNKNOWN at wall time now_ms. */
void md_health_init(md_health *h, const md_health_params *p, int64_t now_ms);

/* md_health_observe folds one check result into the state. Returns true when the state changed,
 * with *change filled (change may be NULL). Results must arrive in time order. */
bool md_health_observe(md_health *h, const md_check_result *r, md_health_change *change);

/* md_health_uptime_pct: checks ok / total since start, in percent (100 before any check). */
double md_health_uptime_pct(const md_health *h);

/* md_health_uptime_hour_pct: the same over the minutes in (now_ms - 1 h, now_ms]. */
double md_health_uptime_hour_pct(const md_health *h, int64_t now_ms);

/* md_health_avg_latency_ms: mean latency of successful checks, 0 before any. */
double md_health_avg_latency_ms(const md_health *h);

#endif
