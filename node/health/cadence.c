/* cadence.c: when the next check of a service runs: retries after a failure short of DOWN, and
 * the bound on early checks that peers ask for. */
#include "health.h"

#include <assert.h>

int64_t md_health_next_delay_ms(const md_health *h, int64_t interval_ms, int64_t retry_ms)
{
    assert(retry_ms > 0 && retry_ms <= interval_ms);
    bool pending = h->consecutive_failures > 0 && h->state != MD_STATE_DOWN;
    return pending ? retry_ms : interval_ms;
}

bool md_health_suspects(const md_obs *o)
{
    return o->consecutive_failures > 0 && o->state != MD_STATE_DOWN;
}

bool md_early_gate_allow(md_early_gate *g, size_t peer, int64_t now_ms, int64_t interval_ms)
{
    assert(peer < MD_EARLY_MAX_PEERS);
    assert(now_ms > 0 && interval_ms > 0);
    int64_t last = g->last_ms[peer];
    if (last != 0 && now_ms - last < interval_ms)
        return false;
    g->last_ms[peer] = now_ms;
    return true;
}
