/* lease.c: check-quorum and the leader lease.
 *
 * Both count replies, never sends. The lease is measured from when we SENT the round a
 * majority acknowledged (each reply echoes the round's sent_ms), not from when the replies
 * arrived: a follower that acknowledged a round received it after we sent it, and refuses
 * votes for T after receiving it (election.c), so no other leader can be elected before
 * sent_ms + T by its clock; the drift margin covers the difference in clock rates. */
#include "raft_int.h"

void raft__note_reply(raft *r, raft_id from, uint64_t sent_ms)
{
    assert(r->role == RAFT_LEADER && from != r->id);
    raft_progress *pr = &r->pr[from];
    pr->last_resp_ms = r->now;
    /* Only rounds of this leadership count (replies from older terms were filtered out
     * already; this also guards against a confused peer echoing a future time). */
    if (sent_ms >= r->lead_since && sent_ms <= r->now && (!pr->acked || sent_ms > pr->ack_sent_ms)) {
        pr->ack_sent_ms = sent_ms;
        pr->ack_recv_ms = r->now;
        pr->acked = true;
    }
}

enum { LAST_REPLY, ACK_SENT, ACK_RECEIVED };

/* The k-th largest (k >= 1) of the peers' values of one kind; false if fewer than k exist. */
static bool kth_largest(const raft *r, int k, int kind, uint64_t *out)
{
    uint64_t v[RAFT_MAX_NODES];
    int n = 0;
    for (raft_id p = 1; p <= r->n; p++) {
        if (p == r->id) {
            continue;
        }
        const raft_progress *pr = &r->pr[p];
        if (kind != LAST_REPLY && !pr->acked) {
            continue;
        }
        uint64_t x = kind == LAST_REPLY ? pr->last_resp_ms : kind == ACK_SENT ? pr->ack_sent_ms : pr->ack_recv_ms;
        int j = n++;
        for (; j > 0 && v[j - 1] < x; j--) {
            v[j] = v[j - 1];
        }
        v[j] = x;
    }
    if (n < k) {
        return false;
    }
    *out = v[k - 1];
    return true;
}

bool raft__quorum_active(const raft *r)
{
    return r->now < raft__quorum_deadline(r);
}

/* When check-quorum steps us down if no further reply arrives. */
uint64_t raft__quorum_deadline(const raft *r)
{
    int k = raft__quorum(r) - 1; /* we count ourselves */
    uint64_t t;
    if (k == 0) {
        return UINT64_MAX;
    }
    if (!kth_largest(r, k, LAST_REPLY, &t)) {
        return 0;
    }
    return t + r->election_ms;
}

uint64_t raft_lease_expiry(const raft *r)
{
    if (r->role != RAFT_LEADER || r->lease_off) {
        return 0;
    }
    int k = raft__quorum(r) - 1;
    uint64_t sent;
    if (k == 0) {
        return UINT64_MAX; /* a cluster of one: no one else can be elected */
    }
#ifdef RAFT_BUG_LEASE_FROM_ACK
    /* Deliberately broken for the simulator's self-test: measured from the replies' arrival. */
    int kind = ACK_RECEIVED;
#else
    int kind = ACK_SENT;
#endif
    if (!kth_largest(r, k, kind, &sent)) {
        return 0;
    }
    return sent + r->election_ms - r->drift_ms;
}

bool raft_lease_valid(const raft *r, uint64_t now_ms)
{
    return now_ms < raft_lease_expiry(r);
}
