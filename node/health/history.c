/* history.c: the packed ring of a service's last MD_HISTORY_LEN check results (pure, no allocation). */
#include "health.h"

#include <assert.h>
#include <string.h>

#define OFF_BITS 38
#define LAT_BITS 22
#define ERR_BITS 4
#define OFF_MAX ((UINT64_C(1) << OFF_BITS) - 1)
#define LAT_MAX ((UINT64_C(1) << LAT_BITS) - 1)
#define ERR_MASK ((UINT64_C(1) << ERR_BITS) - 1)
#define LAT_UNIT_US 100

static uint64_t entry_off(uint64_t e) { return e >> (LAT_BITS + ERR_BITS); }

static uint64_t with_off(uint64_t e, uint64_t off)
{
    assert(off <= OFF_MAX);
    return (e & ((UINT64_C(1) << (LAT_BITS + ERR_BITS)) - 1)) | (off << (LAT_BITS + ERR_BITS));
}

void md_history_init(md_history *h, int64_t base_ms)
{
    assert(h);
    memset(h, 0, sizeof *h);
    h->base_ms = base_ms;
}

/* A node up for 8.7 years outgrows the offset field: move the base so the new result lands in the
 * middle of the range. Anything the shift pushes below 0 is years older than the newest entry. */
static void rebase(md_history *h, uint64_t shift_ms)
{
    for (uint16_t i = 0; i < h->count; i++) {
        uint64_t off = entry_off(h->e[i]);
        h->e[i] = with_off(h->e[i], off > shift_ms ? off - shift_ms : 0);
    }
    h->base_ms += (int64_t)shift_ms;
}

void md_history_push(md_history *h, const md_check_result *r)
{
    assert(h && r);
    assert(h->head < MD_HISTORY_LEN && h->count <= MD_HISTORY_LEN);
    assert((unsigned)r->err <= ERR_MASK);
    /* Unsigned difference: at_ms - base_ms cannot overflow int64 for any sane pair, but a hostile
     * clock must not be undefined behaviour either. */
    uint64_t off = r->at_ms > h->base_ms ? (uint64_t)r->at_ms - (uint64_t)h->base_ms : 0;
    if (off > OFF_MAX) {
        uint64_t shift = off - OFF_MAX / 2;
        rebase(h, shift);
        off -= shift;
    }
    uint64_t lat = ((uint64_t)r->latency_us + LAT_UNIT_US / 2) / LAT_UNIT_US;
    if (lat > LAT_MAX)
        lat = LAT_MAX;
    h->e[h->head] = (off << (LAT_BITS + ERR_BITS)) | (lat << ERR_BITS) | ((uint64_t)r->err & ERR_MASK);
    h->head = (uint16_t)((h->head + 1) % MD_HISTORY_LEN);
    if (h->count < MD_HISTORY_LEN)
        h->count++;
}

size_t md_history_get(const md_history *h, md_check_result *out, size_t max)
{
    assert(h && (out || max == 0));
    size_t n = h->count < max ? h->count : max;
    for (size_t i = 0; i < n; i++) {
        size_t idx = (h->head + MD_HISTORY_LEN - 1 - i) % MD_HISTORY_LEN;
        uint64_t e = h->e[idx];
        out[i] = (md_check_result){
            .at_ms = h->base_ms + (int64_t)entry_off(e),
            .latency_us = (uint32_t)(((e >> ERR_BITS) & LAT_MAX) * LAT_UNIT_US),
            .err = (md_err_class)(e & ERR_MASK),
            .http_status = 0,
        };
    }
    return n;
}
