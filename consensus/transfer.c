/* transfer.c: leadership transfer (Raft thesis 3.10), used on graceful shutdown.
 *
 * "The prior leader stops accepting new client requests ... sends its log entries to the
 * target server ... sends it a TimeoutNow request" and the target campaigns at once, skipping
 * pre-vote and the voters' stickiness. Sending TimeoutNow gives up our lease for the rest of
 * the term: the target may win at any moment, even much later if the message is delayed. If
 * nothing happens within an election timeout the transfer is aborted; if TimeoutNow had been
 * sent we step down, since a leader without a lease cannot act and could not regain one. */
#include "raft_int.h"

static void send_timeout_now(raft *r)
{
    raft_message *m = raft__msg_new(r, RAFT_MSG_TIMEOUT_NOW, r->transfer_to);
    if (m == NULL) {
        return; /* retried on the next reply from the target */
    }
    r->timeout_now_sent = true;
    r->lease_off = true;
}

int raft_transfer(raft *r, raft_id target)
{
    raft__check(r);
    if (r->role != RAFT_LEADER) {
        return raft__error(r, -EPERM, "not the leader");
    }
    if (r->transfer_to != 0) {
        return target == r->transfer_to ? 0 : raft__error(r, -EBUSY, "transfer to %u running", r->transfer_to);
    }
    if (target == 0) {
        for (raft_id p = 1; p <= r->n; p++) {
            if (p != r->id && (target == 0 || r->pr[p].match > r->pr[target].match)) {
                target = p;
            }
        }
    }
    if (target < 1 || target > r->n || target == r->id) {
        return raft__error(r, -EINVAL, "no such transfer target %u", target);
    }
    r->transfer_to = target;
    r->transfer_deadline = r->now + r->election_ms;
    r->timeout_now_sent = false;
    if (r->pr[target].match == raft__last_index(&r->log)) {
        send_timeout_now(r);
    } else {
        raft__send_append(r, target, true);
    }
    raft__check(r);
    return 0;
}

/* A reply from a follower: if it is the target and now holds our whole log, tell it to go. */
void raft__transfer_progress(raft *r, raft_id from)
{
    if (r->transfer_to != from || r->timeout_now_sent) {
        return;
    }
    if (r->pr[from].match == raft__last_index(&r->log)) {
        send_timeout_now(r);
    }
}

void raft__transfer_tick(raft *r)
{
    if (r->transfer_to == 0 || r->now < r->transfer_deadline) {
        return;
    }
    bool sent = r->timeout_now_sent;
    raft__transfer_clear(r);
    if (sent) {
        raft__become_follower(r, r->term, 0);
    }
}

void raft__transfer_clear(raft *r)
{
    r->transfer_to = 0;
    r->timeout_now_sent = false;
}

void raft__handle_timeout_now(raft *r, const raft_message *m)
{
    (void)m;
    if ((r->role == RAFT_FOLLOWER || r->role == RAFT_PRE_CANDIDATE) && !r->recovering) {
        raft__campaign(r, false, true);
    }
}
