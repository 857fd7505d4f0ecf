/* trend.c: EWMA and least-squares latency trend over a sliding window, and the crossing prediction
 * that lets a service turn DEGRADED before it is actually slow (pure, no allocation). */
#include "health.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* Least-squares fit over n consecutive samples, oldest first from index `from` (ring order). */
typedef struct {
    double slope;   /* ms per s */
    double r2;      /* 0 when latency or time does not vary */
    double t_last;  /* newest sample time, s from base */
    double y_last;  /* fitted value at t_last, ms */
} fit;

void md_trend_init(md_trend *t, md_trend_sample *samples, int window, double alpha)
{
    assert(t && samples);
    assert(window >= 3 && window <= MD_TREND_MAX_WINDOW);
    assert(alpha > 0.0 && alpha <= 1.0);
    memset(t, 0, sizeof *t);
    t->alpha = alpha;
    t->window = (uint16_t)window;
    t->s = samples;
}

/* Move the time origin to new_base_ms. Samples keep the rounding they had (under 8 ms below
 * MD_TREND_REBASE_S) and gain fresh precision relative to the new origin. */
static void rebase(md_trend *t, int64_t new_base_ms)
{
    double shift_s = (double)(new_base_ms - t->base_ms) / 1000.0;
    for (uint16_t i = 0; i < t->count; i++)
        t->s[i].t_s = (float)((double)t->s[i].t_s - shift_s);
    t->base_ms = new_base_ms;
}

void md_trend_add(md_trend *t, int64_t at_ms, double latency_ms)
{
    assert(t && t->window >= 3 && t->window <= MD_TREND_MAX_WINDOW);
    assert(t->count <= t->window && t->head < t->window);
    if (t->count == 0) {
        t->base_ms = at_ms;
        t->ewma_ms = latency_ms;
    } else {
        t->ewma_ms = t->alpha * latency_ms + (1.0 - t->alpha) * t->ewma_ms;
    }
    if (fabs((double)(at_ms - t->base_ms) / 1000.0) > MD_TREND_REBASE_S)
        rebase(t, at_ms);
    t->s[t->head] = (md_trend_sample){
        .t_s = (float)((double)(at_ms - t->base_ms) / 1000.0),
        .latency_ms = (float)latency_ms,
    };
    t->head = (uint16_t)((t->head + 1) % t->window);
    if (t->count < t->window)
        t->count++;
}

/* The i-th oldest sample held (0 = oldest). */
static const md_trend_sample *sample(const md_trend *t, uint16_t i)
{
    uint16_t oldest = (uint16_t)((t->head + t->window - t->count) % t->window);
    return &t->s[(oldest + i) % t->window];
}

/* Fit the n oldest samples held. Two passes (means, then centred sums) keep the sums small. */
static fit fit_oldest(const md_trend *t, uint16_t n)
{
    assert(n >= 2 && n <= t->count);
    double mt = 0, my = 0;
    for (uint16_t i = 0; i < n; i++) {
        mt += sample(t, i)->t_s;
        my += sample(t, i)->latency_ms;
    }
    mt /= n;
    my /= n;
    double sxx = 0, sxy = 0, syy = 0;
    for (uint16_t i = 0; i < n; i++) {
        double dt = sample(t, i)->t_s - mt, dy = sample(t, i)->latency_ms - my;
        sxx += dt * dt;
        sxy += dt * dy;
        syy += dy * dy;
    }
    fit f = {.t_last = sample(t, (uint16_t)(n - 1))->t_s};
    if (sxx <= 0.0) { /* all at one instant: no slope to speak of */
        f.y_last = my;
        return f;
    }
    f.slope = sxy / sxx;
    f.r2 = syy > 0.0 ? (sxy * sxy) / (sxx * syy) : 0.0;
    f.y_last = my + f.slope * (f.t_last - mt);
    return f;
}

double md_trend_slope(const md_trend *t)
{
    assert(t);
    if (t->count < 3)
        return 0.0;
    return fit_oldest(t, t->count).slope;
}

static bool rising(const fit *f) { return f->slope > 0.0 && f->r2 >= MD_TREND_MIN_R2; }

bool md_trend_predict(const md_trend *t, double slow_ms, int64_t horizon_ms, int64_t *eta_ms)
{
    assert(t && eta_ms);
    if (horizon_ms <= 0 || t->count < t->window)
        return false;
    fit all = fit_oldest(t, t->count);
    if (!rising(&all))
        return false;
    /* A spike in the newest sample can carry a short window alone: the rest must rise too, and at
     * least half as steeply (two older samples in a window of 3 always "fit" perfectly). */
    fit older = fit_oldest(t, (uint16_t)(t->count - 1));
    if (!rising(&older) || older.slope < all.slope / 2)
        return false;
    if (all.y_last >= slow_ms)
        return false;
    double eta = (slow_ms - all.y_last) / all.slope * 1000.0;
    if (eta > (double)horizon_ms)
        return false;
    *eta_ms = (int64_t)ceil(eta);
    return true;
}
