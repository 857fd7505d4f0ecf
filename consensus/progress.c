/* progress.c: the leader's view of each follower (etcd's Progress): where to send next, how
 * many APPENDs are in flight, and the probe / replicate / snapshot states that bound how much
 * the leader sends before it hears back. */
#include "raft_int.h"

#include <string.h>

void raft__pr_reset(raft *r)
{
    uint64_t last = raft__last_index(&r->log);
    for (raft_id p = 1; p <= r->n; p++) {
        raft_progress *pr = &r->pr[p];
        memset(pr, 0, sizeof *pr);
        pr->next = last + 1;
        pr->state = RAFT_PR_PROBE;
        /* Check-quorum's grace: each peer gets one election timeout from our election. */
        pr->last_resp_ms = r->now;
    }
    r->pr[r->id].match = r->stable;
}

void raft__pr_become_probe(raft_progress *pr)
{
    uint64_t next = pr->match + 1;
    if (pr->state == RAFT_PR_SNAPSHOT && pr->pending_snapshot + 1 > next) {
        next = pr->pending_snapshot + 1;
    }
    pr->state = RAFT_PR_PROBE;
    pr->next = next;
    pr->probe_sent = false;
    pr->pending_snapshot = 0;
    pr->snap_offset = 0;
    pr->in_start = pr->in_count = 0;
}

void raft__pr_become_replicate(raft_progress *pr)
{
    pr->state = RAFT_PR_REPLICATE;
    pr->next = pr->match + 1;
    pr->probe_sent = false;
    pr->in_start = pr->in_count = 0;
}

void raft__pr_become_snapshot(raft_progress *pr, uint64_t index, uint64_t now)
{
    pr->state = RAFT_PR_SNAPSHOT;
    pr->pending_snapshot = index;
    pr->snap_sent_ms = now;
    pr->snap_chunk_ms = now;
    pr->snap_offset = 0;
    pr->probe_sent = false;
    pr->in_start = pr->in_count = 0;
}

bool raft__pr_paused(const raft *r, const raft_progress *pr)
{
    switch (pr->state) {
    case RAFT_PR_PROBE:
        return pr->probe_sent;
    case RAFT_PR_REPLICATE:
        return pr->in_count >= r->max_inflight;
    default:
        return true;
    }
}

void raft__pr_inflight_add(raft_progress *pr, uint64_t last)
{
    assert(pr->in_count < RAFT_MAX_INFLIGHT);
    assert(pr->in_count == 0 || pr->inflight[(pr->in_start + pr->in_count - 1) % RAFT_MAX_INFLIGHT] < last);
    pr->inflight[(pr->in_start + pr->in_count) % RAFT_MAX_INFLIGHT] = last;
    pr->in_count++;
}

void raft__pr_inflight_free_to(raft_progress *pr, uint64_t index)
{
    while (pr->in_count > 0 && pr->inflight[pr->in_start] <= index) {
        pr->in_start = (pr->in_start + 1) % RAFT_MAX_INFLIGHT;
        pr->in_count--;
    }
}

void raft__pr_inflight_free_first(raft_progress *pr)
{
    if (pr->in_count > 0) {
        pr->in_start = (pr->in_start + 1) % RAFT_MAX_INFLIGHT;
        pr->in_count--;
    }
}

/* A success reply: match only grows (replies arrive out of order), except by
 * raft__pr_reset_lost. sent_ms: when we sent the request it answers. */
bool raft__pr_update(raft_progress *pr, uint64_t index, uint64_t sent_ms)
{
    bool updated = false;
    if (index >= pr->match && sent_ms > pr->match_sent_ms) {
        pr->match_sent_ms = sent_ms;
    }
    if (pr->match < index) {
        pr->match = index;
        pr->probe_sent = false;
        updated = true;
    }
    if (pr->next < index + 1) {
        pr->next = index + 1;
    }
    return updated;
}

/* Whether a reply saying the follower holds only up to has (its last index, or the probe hint
 * of a rejection at or below match) proves it lost entries we counted as matching: it lost
 * its disk, or a backup or a truncated segment was restored. Only a reply to a request sent
 * after the newest one that showed match counts: an older reply may predate the entries. A
 * network that reorders requests can still make this fire spuriously; that costs a probe
 * round, never safety, because lowering match only delays commits. */
bool raft__pr_lost_log(const raft_progress *pr, uint64_t has, uint64_t sent_ms)
{
    return pr->state != RAFT_PR_SNAPSHOT && has < pr->match && sent_ms > pr->match_sent_ms;
}

/* Forgets what the follower was known to hold and probes from has: the ordinary rejection
 * path then walks back to the real match point, or a snapshot if the log is compacted. */
void raft__pr_reset_lost(raft_progress *pr, uint64_t has)
{
    assert(has < pr->match);
    pr->match = 0;
    pr->match_sent_ms = 0;
    pr->state = RAFT_PR_PROBE;
    pr->next = has + 1;
    pr->probe_sent = false;
    pr->pending_snapshot = 0;
    pr->snap_offset = 0;
    pr->in_start = pr->in_count = 0;
}

/* A rejection of the APPEND whose previous index was rejected; returns false if it answers
 * an older message than the one the state is waiting for. */
bool raft__pr_decr_to(raft_progress *pr, uint64_t rejected, uint64_t match_hint)
{
    if (pr->state == RAFT_PR_REPLICATE) {
        if (rejected <= pr->match) {
            return false;
        }
        pr->next = pr->match + 1;
        return true;
    }
    if (pr->state == RAFT_PR_SNAPSHOT || pr->next - 1 != rejected) {
        return false;
    }
    uint64_t next = rejected < match_hint + 1 ? rejected : match_hint + 1;
    pr->next = next > pr->match + 1 ? next : pr->match + 1;
    pr->probe_sent = false;
    return true;
}
