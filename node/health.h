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

/* Plain state embedded in the per-service record; read by the snapshot builder. Fields are ordered
 * by size so the struct carries no padding beyond what alignment forces (it is one per service). */
typedef struct {
    md_health_params p;
    int64_t state_since_ms;       /* wall time of the last state change (or of init) */
    uint64_t checks_total;
    uint64_t checks_ok;
    int64_t started_ms;
    int64_t last_check_ms;        /* 0 before the first check */
    int64_t last_success_ms;      /* 0 before the first success */
    double latency_sum_ms;        /* over successful checks, for the average */
    int64_t trend_eta_ms;         /* valid when trend_warning: ms from last_success_ms to the
                                   * predicted crossing (a duration, not a wall time) */
    int64_t minute_epoch;         /* wall minute (at_ms / 60000, floored) of minutes[minute_head] */
    md_state state;
    int consecutive_failures;     /* saturates at INT_MAX */
    int consecutive_successes;    /* saturates at INT_MAX */
    uint32_t last_latency_us;     /* of the last check, ok or not (a failure's is time to failure) */
    md_err_class last_err;        /* of the last check; MD_ERR_NONE when it succeeded */
    int last_http_status;         /* of the last check; 0 when there was no HTTP answer */
    bool trend_warning;           /* the trend currently predicts crossing slow_ms; updated on
                                   * every success, left alone by failures */
    uint16_t minute_head;
    md_health_minute minutes[MD_HEALTH_MINUTES]; /* ring by wall minute; counts saturate */
    md_trend trend;               /* successful latencies only */
    md_history history;           /* every result */
} md_health;

/* What changed, filled by md_health_observe when it returns true. */
typedef struct {
    md_state from;
    md_state to;
    char cause[MD_HEALTH_CAUSE_LEN]; /* e.g. "2 consecutive failures (last: connect)" or
                                      * "slow: 3412 ms > 3000 ms"; always NUL-terminated */
} md_health_change;

/* md_health_init starts in UNKNOWN at wall time now_ms. p is copied (the caller keeps it); its
 * ranges are asserted, since the config loader has validated them already. */
void md_health_init(md_health *h, const md_health_params *p, int64_t now_ms);

/* md_health_observe folds one check result into the state. Returns true when the state changed,
 * with *change filled (change may be NULL). Results must arrive in time order. */
bool md_health_observe(md_health *h, const md_check_result *r, md_health_change *change);

/* md_health_uptime_pct: checks ok / total since start, in percent (100 before any check). */
double md_health_uptime_pct(const md_health *h);

/* md_health_uptime_hour_pct: the same over the last 60 wall minutes up to and including now_ms's
 * minute, i.e. (now_ms - 1 h, now_ms] at one-minute granularity (100 with no checks there). */
double md_health_uptime_hour_pct(const md_health *h, int64_t now_ms);

/* md_health_avg_latency_ms: mean latency of successful checks, 0 before any. */
double md_health_avg_latency_ms(const md_health *h);

#endif
