/* verdict.c: counts fresh votes of alive, non-isolated nodes against the quorum. */
#include "health.h"

#include <assert.h>

md_vote md_vote_of(const md_voter *v, int64_t fresh_ms)
{
    if (!v->present)
        return MD_VOTE_MISSING;
    if (!v->alive)
        return MD_VOTE_DEAD;
    if (v->isolated)
        return MD_VOTE_ISOLATED;
    if (v->age_ms > fresh_ms || v->age_ms < 0)
        return MD_VOTE_STALE;
    switch (v->state) {
    case MD_STATE_UP:
    case MD_STATE_DEGRADED:
        return MD_VOTE_UP;
    case MD_STATE_DOWN:
        return MD_VOTE_DOWN;
    default:
        return MD_VOTE_NONE;
    }
}

md_verdict_result md_verdict_compute(const md_voter *voters, size_t n, int quorum, int64_t fresh_ms,
                                     md_vote *votes_out)
{
    assert(n > 0 && quorum >= 1 && (size_t)quorum <= n);
    md_verdict_result r = { .quorum = quorum };
    for (size_t i = 0; i < n; i++) {
        md_vote v = md_vote_of(&voters[i], fresh_ms);
        if (votes_out)
            votes_out[i] = v;
        if (v == MD_VOTE_UP)
            r.up++;
        else if (v == MD_VOTE_DOWN)
            r.down++;
    }
    r.counted = r.up + r.down;
    bool down = r.down >= quorum, up = r.up >= quorum;
    if (down && up)
        r.verdict = MD_VERDICT_SPLIT;
    else if (down)
        r.verdict = MD_VERDICT_DOWN;
    else if (up)
        r.verdict = MD_VERDICT_UP;
    else if (r.counted < quorum)
        r.verdict = MD_VERDICT_UNKNOWN;
    else
        r.verdict = MD_VERDICT_SPLIT;
    assert(r.counted <= (int)n);
    return r;
}

int md_default_quorum(int n)
{
    assert(n >= 1);
    return n / 2 + 1;
}

const char *md_verdict_name(md_verdict v)
{
    switch (v) {
    case MD_VERDICT_UP: return "UP";
    case MD_VERDICT_DOWN: return "DOWN";
    case MD_VERDICT_SPLIT: return "SPLIT";
    default: return "UNKNOWN";
    }
}

const char *md_vote_name(md_vote v)
{
    static const char *const names[MD_VOTE_COUNT] = { "up", "down", "none", "missing", "stale", "dead",
                                                      "isolated" };
    return v < MD_VOTE_COUNT ? names[v] : "unknown";
}
