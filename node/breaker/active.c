/* active.c: the active-endpoint rule: first closed endpoint, failback only after a quiet time. */
#include "breaker.h"

#include <assert.h>

void md_active_init(md_active *a, int64_t now_ms)
{
    a->index = 0;
    a->since_ms = now_ms;
    a->switches = 0;
}

static int choose(const md_active *a, const md_breaker *b, size_t n, int64_t failback_after_ms, int64_t now_ms)
{
    int cur = a->index;
    if (cur >= 0 && (size_t)cur < n && b[cur].state == MD_BREAKER_CLOSED) {
        /* Failback: an endpoint nearer the primary that has been closed long enough. */
        for (int i = 0; i < cur; i++)
            if (b[i].state == MD_BREAKER_CLOSED && now_ms - b[i].since_ms >= failback_after_ms)
                return i;
        return cur;
    }
    for (size_t i = 0; i < n; i++)
        if (b[i].state == MD_BREAKER_CLOSED)
            return (int)i;
    return -1;
}

bool md_active_pick(md_active *a, const md_breaker *b, size_t n, int64_t failback_after_ms, int64_t now_ms)
{
    assert(n > 0 && failback_after_ms >= 0);
    int next = choose(a, b, n, failback_after_ms, now_ms);
    if (next == a->index)
        return false;
    a->index = next;
    a->since_ms = now_ms;
    a->switches++;
    return true;
}
