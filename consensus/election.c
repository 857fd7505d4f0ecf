/* election.c: leader election (Raft 5.2) with pre-vote and leader stickiness.
 *
 * "A server remains in follower state as long as it receives valid RPCs from a leader or
 * candidate. If a follower receives no communication over a period of time called the
 * election timeout, then it assumes there is no viable leader and begins an election."
 * Pre-vote (Ongaro's thesis, 9.6) asks first whether a majority would vote at term+1, without
 * anyone changing term, so a node returning from a partition cannot depose a healthy leader.
 * Stickiness (thesis 4.2.3) makes voters that heard from a leader within the minimum election
 * timeout refuse: with the lease (lease.c) it guarantees no new leader while a lease runs. */
#include "raft_int.h"

static int popcount32(uint32_t x)
{
    int n = 0;
    while (x) {
        x &= x - 1;
        n++;
    }
    return n;
}

/* After a hint that the leader's connection closed: as soon as the stickiness window (T after
 * the last contact, and T after our own start) ends, plus a random part below one heartbeat. */
static uint64_t hinted_deadline(raft *r)
{
    uint64_t earliest = r->last_heard_ms + r->election_ms;
    if (earliest < r->started_at + r->election_ms) {
        earliest = r->started_at + r->election_ms;
    }
    if (earliest < r->now) {
        earliest = r->now;
    }
    uint32_t spread = r->heartbeat_ms < r->election_ms ? r->heartbeat_ms : r->election_ms;
    return earliest + raft__random(r) % (spread ? spread : 1);
}

void raft__reset_election_timer(raft *r)
{
    if (r->role == RAFT_FOLLOWER && r->hinted != 0 && r->hinted == r->leader && r->heard) {
        /* Messages the leader sent before it died may still arrive after the hint (they travel
         * on another connection): they renew the stickiness window but keep the hint. */
        r->election_deadline = hinted_deadline(r);
        return;
    }
    /* Randomized in [T, 2T) from the injected source, so split votes resolve. */
    r->election_deadline = r->now + r->election_ms + raft__random(r) % r->election_ms;
}

void raft__become_follower(raft *r, uint64_t term, raft_id leader)
{
    assert(term >= r->term);
    assert(leader <= r->n && leader != r->id);
    if (term > r->term) {
        r->term = term;
        r->vote = 0;
        r->hinted = 0;
        raft__snap_rx_drop(r); /* a new term's leader sends its own snapshot, from its start */
    }
    if (leader != r->hinted) {
        r->hinted = 0; /* a hint is about one leader in one term */
    }
    /* Leaving leadership ends the lease at once: role is part of raft_lease_valid. */
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->granted = r->refused = 0;
    r->lease_off = false;
    raft__transfer_clear(r);
    raft__reset_election_timer(r);
    assert(r->role != RAFT_LEADER);
}

bool raft__in_lease(const raft *r)
{
    if (r->role == RAFT_LEADER) {
        return true; /* we are the live leader */
    }
#ifndef RAFT_BUG_NO_RESTART_REFUSAL
    if (r->now < r->started_at + r->election_ms) {
        return true; /* restarted: we forgot when we last heard from a leader */
    }
#endif
    return r->heard && r->now < r->last_heard_ms + r->election_ms;
}

int raft_peer_lost(raft *r, raft_id peer, uint64_t now_ms)
{
    raft__check(r);
    if (peer == 0 || peer > r->n || peer == r->id) {
        return -EINVAL;
    }
    raft__set_now(r, now_ms);
    if (r->role != RAFT_FOLLOWER || r->leader != peer || !r->heard) {
        return 0; /* only the loss of the leader we follow says anything about an election */
    }
    r->hinted = peer;
    uint64_t deadline = hinted_deadline(r);
    if (deadline < r->election_deadline) {
        r->election_deadline = deadline;
    }
    assert(r->election_deadline >= r->last_heard_ms + r->election_ms);
    raft__check(r);
    return 0;
}

/* campaign starts a pre-vote round (pre) or a real election. transfer: forced by TimeoutNow,
 * voters skip their stickiness check. */
void raft__campaign(raft *r, bool pre, bool transfer)
{
    assert(r->role != RAFT_LEADER);
    uint64_t term;
    raft__snap_rx_drop(r); /* only a follower assembles one */
    r->granted = r->refused = 0;
    r->leader = 0;
    r->hinted = 0;
    if (pre) {
        r->role = RAFT_PRE_CANDIDATE;
        term = r->term + 1;
    } else {
        r->role = RAFT_CANDIDATE;
        r->term++;
        r->vote = r->id;
        term = r->term;
    }
    raft__reset_election_timer(r);
    r->granted |= 1u << r->id;
    assert(pre || !r->recovering);
    if (popcount32(r->granted) >= raft__quorum(r)) {
        if (pre) {
            raft__campaign(r, false, transfer);
        } else {
            raft__become_leader(r);
        }
        return;
    }
    for (raft_id p = 1; p <= r->n; p++) {
        if (p == r->id) {
            continue;
        }
        raft_message *m = raft__msg_new(r, pre ? RAFT_MSG_PRE_VOTE : RAFT_MSG_VOTE, p);
        if (m == NULL) {
            continue;
        }
        m->term = term;
        m->index = raft__last_index(&r->log);
        m->log_term = raft__last_term(&r->log);
        m->transfer = transfer;
    }
}

/* A recovering node may have voted in any term up to the highest it could have seen, and may have
 * acknowledged committed entries it no longer holds. Every committed entry, and every term in
 * which it could have voted, is held by a quorum that included it, so by at least quorum - 1
 * others; having heard from more than n - quorum others, it has heard from one of them. So it
 * may vote in a term above every term they held, for a log at least as up to date as theirs. */
static bool recovering_may_vote(const raft *r, const raft_message *m)
{
    return popcount32(r->seen_peers) > (int)r->n - raft__quorum(r) && m->term > r->seen_term &&
           (m->log_term > r->seen_last_term || (m->log_term == r->seen_last_term && m->index >= r->seen_last_index));
}

/* A (pre-)vote request whose term is not older than ours (raft.c applied the term rules).
 * "If votedFor is null or candidateId, and candidate's log is at least as up-to-date as
 * receiver's log, grant vote" (Figure 2), plus stickiness. */
void raft__handle_vote_req(raft *r, const raft_message *m)
{
    bool pre = m->type == RAFT_MSG_PRE_VOTE;
    bool can = r->vote == m->from || (r->vote == 0 && r->leader == 0) || (pre && m->term > r->term);
#ifdef RAFT_BUG_DOUBLE_VOTE
    /* Deliberately broken for the simulator's self-test: a follower votes again in a term. */
    if (!pre && r->role == RAFT_FOLLOWER && r->leader == 0) {
        can = true;
    }
#endif
    /* Repeating a vote already given (a duplicated request) changes nothing. */
    bool sticky = !m->transfer && raft__in_lease(r) && !(!pre && r->vote == m->from);
    uint64_t last_term = raft__last_term(&r->log);
    bool up_to_date = m->log_term > last_term ||
                      (m->log_term == last_term && m->index >= raft__last_index(&r->log));
    /* A node that lost its disk may have voted in this term already (raft_recovering). */
    bool grant = can && !sticky && up_to_date && (!r->recovering || recovering_may_vote(r, m));
    if (grant && pre && r->role == RAFT_PRE_CANDIDATE && m->from < r->id) {
        /* Two followers that lost the same leader tend to time out together; if both went on,
         * each would vote for itself and the term would be wasted (a split vote, then another
         * whole timeout). The one with the higher id stands down for a peer whose log is at
         * least as good: it keeps no vote of its own in the next term, so it can give it. */
        raft__become_follower(r, r->term, 0);
    }
    if (grant && !pre) {
        assert(m->term == r->term && r->role != RAFT_LEADER && r->role != RAFT_CANDIDATE);
        r->vote = m->from;
        raft__reset_election_timer(r);
    }
    raft_message *o = raft__msg_new(r, pre ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP, m->from);
    if (o == NULL) {
        return;
    }
    /* A pre-vote grant names the term asked about; a refusal names ours, so a stale
     * candidate learns it. */
    o->term = (grant && pre) ? m->term : r->term;
    o->reject = grant ? RAFT_REJECT_NONE : RAFT_REJECT_YES;
}

void raft__handle_vote_resp(raft *r, const raft_message *m)
{
    bool pre = m->type == RAFT_MSG_PRE_VOTE_RESP;
    if (pre) {
        if (r->role != RAFT_PRE_CANDIDATE ||
            m->term != (m->reject == RAFT_REJECT_NONE ? r->term + 1 : r->term)) {
            return; /* an answer to an earlier round */
        }
    } else if (r->role != RAFT_CANDIDATE || m->term != r->term) {
        return;
    }
    uint32_t bit = 1u << m->from;
    if ((r->granted | r->refused) & bit) {
        return; /* the first answer counts; duplicates do not */
    }
    if (m->reject == RAFT_REJECT_NONE) {
        r->granted |= bit;
    } else {
        r->refused |= bit;
    }
    if (popcount32(r->granted) >= raft__quorum(r)) {
        if (pre && r->recovering) {
            raft__become_follower(r, r->term, 0); /* asked only to show our empty log */
        } else if (pre) {
            raft__campaign(r, false, false);
        } else {
            raft__become_leader(r);
        }
    } else if (popcount32(r->refused) >= raft__quorum(r)) {
        raft__become_follower(r, r->term, 0);
    }
}

static void leave_recovery(raft *r)
{
    r->recovering = false;
    r->seen_peers = 0;
    r->seen_term = r->seen_last_term = r->seen_last_index = 0;
    r->recover_to = 0;
}

/* Called for every message before the term rules (to see empty-log vote requests) and again
 * after a leader's message was handled (to see our commit move). See raft_recovering. */
void raft__recovery_note(raft *r, const raft_message *m)
{
    if (!r->recovering) {
        return;
    }
    bool vote_req = m->type == RAFT_MSG_PRE_VOTE || m->type == RAFT_MSG_VOTE;
    if (vote_req) {
        /* The sender's own term is below the one it asks about (recovering_may_vote). */
        r->seen_peers |= 1u << m->from;
        if (m->term - 1 > r->seen_term) {
            r->seen_term = m->term - 1;
        }
        if (m->log_term > r->seen_last_term ||
            (m->log_term == r->seen_last_term && m->index > r->seen_last_index)) {
            r->seen_last_term = m->log_term;
            r->seen_last_index = m->index;
        }
        if (popcount32(r->seen_peers) > (int)r->n - raft__quorum(r) && r->seen_last_index == 0) {
            leave_recovery(r); /* no quorum holds an entry, so none was ever committed */
        }
        return;
    }
    bool from_leader = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT || m->type == RAFT_MSG_SNAPSHOT;
    if (!from_leader || r->role != RAFT_FOLLOWER || r->leader != m->from || m->term != r->term) {
        return;
    }
    if (m->commit > r->recover_to) {
        r->recover_to = m->commit;
    }
    if (r->recover_to > 0 && r->commit >= r->recover_to && raft__term_at(&r->log, r->commit) == r->term) {
        leave_recovery(r);
    }
}
