/* counts.c: counters kept in 32 bits until one needs more (pure). */
#include "health.h"

#include <assert.h>
#include <stdlib.h>

void md_counts_add(md_counts *c, size_t i)
{
    assert(c && i < MD_COUNTS_N);
    if (++c->lo[i] != 0)
        return;
    /* This one wrapped (2^32 checks: 13 years at 100 ms): its high half lives outside. */
    if (!c->hi && !(c->hi = calloc(MD_COUNTS_N, sizeof *c->hi)))
        return; /* out of memory: it wraps */
    c->hi[i]++;
}

uint64_t md_counts_get(const md_counts *c, size_t i)
{
    assert(c && i < MD_COUNTS_N);
    return (c->hi ? (uint64_t)c->hi[i] << 32 : 0) | c->lo[i];
}

void md_counts_free(md_counts *c)
{
    if (!c)
        return;
    free(c->hi);
    c->hi = NULL;
}
