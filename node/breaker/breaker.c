/* breaker.c: one endpoint's circuit breaker (closed, open, half-open) with a doubling open period. */
#include "breaker.h"

#include <assert.h>

static void enter(md_breaker *b, md_breaker_state s, int64_t now_ms)
{
    b->state = s;
    b->since_ms = now_ms;
    b->fails[0] = b->fails[1] = 0;
    b->oks = 0;
}

static void open_now(md_breaker *b, bool doubled, int64_t now_ms)
{
    if (doubled) {
        b->period_ms = b->period_ms > b->p.open_max_ms / 2 ? b->p.open_max_ms : 2 * b->period_ms;
    } else {
        b->period_ms = b->p.open_ms;
    }
    enter(b, MD_BREAKER_OPEN, now_ms);
    b->open_until_ms = now_ms + b->period_ms;
    b->opens++;
}

void md_breaker_init(md_breaker *b, const md_breaker_params *p, int64_t now_ms)
{
    assert(p->failures >= 1 && p->successes >= 1);
    assert(p->open_ms >= 1 && p->open_max_ms >= p->open_ms);
    b->p = *p;
    b->period_ms = p->open_ms;
    b->open_until_ms = 0;
    b->opens = 0;
    enter(b, MD_BREAKER_CLOSED, now_ms);
}

bool md_breaker_tick(md_breaker *b, int64_t now_ms)
{
    if (b->state != MD_BREAKER_OPEN || now_ms < b->open_until_ms)
        return false;
    enter(b, MD_BREAKER_HALF_OPEN, now_ms);
    return true;
}

bool md_breaker_record(md_breaker *b, md_breaker_source src, bool ok, int64_t now_ms)
{
    assert(src == MD_BREAKER_PROBE || src == MD_BREAKER_TRAFFIC);
    bool changed = md_breaker_tick(b, now_ms);
    switch (b->state) {
    case MD_BREAKER_CLOSED:
        if (ok) {
            b->fails[src] = 0;
            break;
        }
        if (++b->fails[src] >= b->p.failures) {
            /* Flapping: opening again within one period of closing keeps the longer rest. */
            bool flapping = b->opens > 0 && now_ms - b->since_ms < b->period_ms;
            open_now(b, flapping, now_ms);
            changed = true;
        }
        break;
    case MD_BREAKER_HALF_OPEN:
        if (!ok) {
            open_now(b, true, now_ms);
            changed = true;
        } else if (++b->oks >= b->p.successes) {
            enter(b, MD_BREAKER_CLOSED, now_ms);
            changed = true;
        }
        break;
    case MD_BREAKER_OPEN:
        break; /* resting: results are ignored until the period ends */
    }
    return changed;
}

const char *md_breaker_state_name(md_breaker_state s)
{
    switch (s) {
    case MD_BREAKER_CLOSED:
        return "closed";
    case MD_BREAKER_OPEN:
        return "open";
    case MD_BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "unknown";
}
