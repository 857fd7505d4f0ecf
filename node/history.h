/* history.h: the last MD_HISTORY_LEN check results of one service, packed 8 bytes each (pure). */
#ifndef MD_HISTORY_H
#define MD_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

#define MD_HISTORY_LEN 100

/* Fixed-size ring, embedded in the per-service record. Each entry packs the finish time
 * (ms relative to base_ms, 38 bits: 8.7 years), the latency (22 bits, in units of 100 us,
 * saturating at ~419 s) and the error class (4 bits). The HTTP status is not kept.
 * Bit layout of e[i]: [63..26] ms since base_ms, [25..4] latency / 100 us (rounded), [3..0] class.
 * A result before base_ms is stored at offset 0; one more than 2^38 ms after it moves base_ms
 * forward (shifting the older entries, clamping at 0). */
typedef struct {
    int64_t base_ms;
    uint16_t head;   /* next write position */
    uint16_t count;  /* entries held, <= MD_HISTORY_LEN */
    uint64_t e[MD_HISTORY_LEN];
} md_history;

void md_history_init(md_history *h, int64_t base_ms);

/* md_history_push appends r, dropping the oldest entry when full. r->at_ms must be >= base_ms. */
void md_history_push(md_history *h, const md_check_result *r);

/* md_history_get copies up to max results, newest first, into out (http_status is 0; out, owned
 * by the caller, may be NULL when max is 0). Returns how many were copied. */
size_t md_history_get(const md_history *h, md_check_result *out, size_t max);

#endif
