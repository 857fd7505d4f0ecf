/* history.c: the packed ring of a service's last MD_HISTORY_LEN check results (pure, no allocation). */
#include "health.h"

#include <assert.h>
#include <string.h>

#define ERR_BITS 3
#define LAT_BITS 22
#define GAP_BITS 31
#define ERR_MASK ((UINT64_C(1) << ERR_BITS) - 1)
#define LAT_MAX ((UINT64_C(1) << LAT_BITS) - 1)
#define GAP_MAX ((UINT64_C(1) << GAP_BITS) - 1)
#define LAT_UNIT_US 100

_Static_assert(ERR_BITS + LAT_BITS + GAP_BITS == 8 * MD_HISTORY_ENTRY_BYTES, "an entry fills its bytes");
_Static_assert(MD_ERR_COUNT - 1 <= ERR_MASK, "every error class fits");

static uint64_t load(const md_history *h, size_t idx)
{
    const uint8_t *b = &h->e[idx * MD_HISTORY_ENTRY_BYTES];
    uint64_t v = 0;
    for (int i = MD_HISTORY_ENTRY_BYTES - 1; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

static void store(md_history *h, size_t idx, uint64_t v)
{
    uint8_t *b = &h->e[idx * MD_HISTORY_ENTRY_BYTES];
    for (int i = 0; i < MD_HISTORY_ENTRY_BYTES; i++, v >>= 8)
        b[i] = (uint8_t)v;
}

void md_history_init(md_history *h, int64_t base_ms)
{
    assert(h);
    memset(h, 0, sizeof *h);
    h->last_ms = base_ms;
}

void md_history_push(md_history *h, const md_check_result *r)
{
    assert(h && r);
    assert(h->head < MD_HISTORY_LEN && h->count <= MD_HISTORY_LEN);
    assert((unsigned)r->err <= ERR_MASK);
    /* Unsigned difference: at_ms - last_ms cannot overflow int64 for any sane pair, but a hostile
     * clock must not be undefined behaviour either. The first entry's gap is never read. */
    uint64_t gap = r->at_ms > h->last_ms ? (uint64_t)r->at_ms - (uint64_t)h->last_ms : 0;
    if (gap > GAP_MAX)
        gap = GAP_MAX;
    uint64_t lat = ((uint64_t)r->latency_us + LAT_UNIT_US / 2) / LAT_UNIT_US;
    if (lat > LAT_MAX)
        lat = LAT_MAX;
    store(h, h->head, (gap << (LAT_BITS + ERR_BITS)) | (lat << ERR_BITS) | ((uint64_t)r->err & ERR_MASK));
    if (r->at_ms > h->last_ms)
        h->last_ms = r->at_ms;
    h->head = (uint16_t)((h->head + 1) % MD_HISTORY_LEN);
    if (h->count < MD_HISTORY_LEN)
        h->count++;
}

size_t md_history_get(const md_history *h, md_check_result *out, size_t max)
{
    assert(h && (out || max == 0));
    size_t n = h->count < max ? h->count : max;
    int64_t at = h->last_ms;
    for (size_t i = 0; i < n; i++) {
        size_t idx = (h->head + MD_HISTORY_LEN - 1 - i) % MD_HISTORY_LEN;
        uint64_t e = load(h, idx);
        out[i] = (md_check_result){
            .at_ms = at,
            .latency_us = (uint32_t)(((e >> ERR_BITS) & LAT_MAX) * LAT_UNIT_US),
            .err = (md_err_class)(e & ERR_MASK),
            .http_status = 0,
        };
        at -= (int64_t)(e >> (LAT_BITS + ERR_BITS));
    }
    return n;
}
