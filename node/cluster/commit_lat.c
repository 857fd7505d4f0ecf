/* commit_lat.c: the leader's proposal-to-commit latencies and the committed-entry count
 * (see commit_lat.h). */
#include "commit_lat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void md_commit_lat_init(md_commit_lat *l, uint64_t commit_at_start)
{
    memset(l, 0, sizeof *l);
    l->counted_upto = commit_at_start;
}

void md_commit_lat_proposed(md_commit_lat *l, uint64_t index, int64_t now_us)
{
    if (index == 0)
        return;
    md_commit_lat_slot *s = &l->pending[index % MD_COMMIT_LAT_PENDING];
    s->index = index;
    s->at_us = now_us;
}

static void keep(md_commit_lat *l, int64_t us)
{
    /* Clamped to what a uint32 holds (71 minutes): a figure that large is an outage anyway. */
    l->ring_us[l->ring_next] = us < 0 ? 0 : us > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    l->ring_next = (l->ring_next + 1) % MD_COMMIT_LAT_RING;
    if (l->ring_len < MD_COMMIT_LAT_RING)
        l->ring_len++;
}

void md_commit_lat_committed(md_commit_lat *l, uint64_t index, int64_t now_us)
{
    if (index > l->counted_upto) {
        l->committed_total++;
        l->counted_upto = index;
    }
    md_commit_lat_slot *s = &l->pending[index % MD_COMMIT_LAT_PENDING];
    if (index == 0 || s->index != index)
        return;
    keep(l, now_us - s->at_us);
    s->index = 0;
}

void md_commit_lat_forget(md_commit_lat *l)
{
    memset(l->pending, 0, sizeof l->pending);
    l->ring_len = l->ring_next = 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least p of all samples at or below it. */
static double rank_ms(const uint32_t *sorted, size_t n, double p)
{
    size_t k = (size_t)ceil(p * (double)n);
    return sorted[k > 0 ? k - 1 : 0] / 1000.0;
}

void md_commit_lat_summary(const md_commit_lat *l, size_t *samples, double *p50_ms, double *p99_ms)
{
    *samples = l->ring_len;
    *p50_ms = *p99_ms = 0;
    if (l->ring_len == 0)
        return;
    uint32_t sorted[MD_COMMIT_LAT_RING];
    memcpy(sorted, l->ring_us, l->ring_len * sizeof sorted[0]);
    qsort(sorted, l->ring_len, sizeof sorted[0], cmp_u32);
    *p50_ms = rank_ms(sorted, l->ring_len, 0.50);
    *p99_ms = rank_ms(sorted, l->ring_len, 0.99);
}
