/* raft.c: the core's lifecycle, the term rules every message passes through, tick dispatch
 * and queries. One concern per file: elections in election.c, the log shipping in
 * replication.c, the lease in lease.c, batches for the caller in ready.c. */
#include "raft_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int raft__error(raft *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

/* splitmix64: the only randomness in the core, seeded by the caller. */
uint64_t raft__random(raft *r)
{
    uint64_t z = (r->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A node that never left term 0 answers with term 0; requests always carry a term >= 1. */
bool raft__msg_is_response(uint8_t type)
{
    return type == RAFT_MSG_APPEND_RESP || type == RAFT_MSG_HEARTBEAT_RESP || type == RAFT_MSG_PRE_VOTE_RESP ||
           type == RAFT_MSG_VOTE_RESP || type == RAFT_MSG_SNAPSHOT_RESP;
}

int raft__quorum(const raft *r)
{
    return (int)r->n / 2 + 1;
}

void raft__check(const raft *r)
{
    assert(r->id >= 1 && r->id <= r->n);
    assert(r->vote <= r->n);
    assert(r->leader <= r->n);
    assert(r->commit <= raft__last_index(&r->log));
    assert(r->commit >= r->log.snap_index);
    assert(r->applied <= r->apply_out && r->apply_out <= r->commit);
    assert(raft__last_term(&r->log) <= r->term);
    assert(r->unsent_from <= raft__last_index(&r->log) + 1);
    assert(r->stable < r->unsent_from);
    assert(r->snap_unsent || (r->outstanding && r->batch.snapshot.present) || r->stable >= r->applied);
    assert(r->role != RAFT_LEADER || r->leader == r->id);
    assert(r->role != RAFT_CANDIDATE || r->vote == r->id);
    assert(r->transfer_to == 0 || r->role == RAFT_LEADER);
    assert((r->snap_data != NULL) == (r->log.snap_index > 0));
    assert(!r->recovering || (r->role != RAFT_LEADER && r->role != RAFT_CANDIDATE));
    assert(r->rx_data == NULL ||
           (r->role == RAFT_FOLLOWER && r->rx_have < r->rx_total && r->rx_total <= RAFT_MAX_SNAPSHOT_LEN));
}

static int validate_config(const raft_config *c, char *err, size_t errlen)
{
    const char *why = NULL;
    if (c->n_nodes < 1 || c->n_nodes > RAFT_MAX_NODES) {
        why = "n_nodes: must be 1..7";
    } else if (c->id < 1 || c->id > c->n_nodes) {
        why = "id: must be 1..n_nodes";
    } else if (c->heartbeat_ms == 0) {
        why = "heartbeat_ms: must be positive";
    } else if (c->election_timeout_ms <= 2 * c->heartbeat_ms) {
        why = "election_timeout_ms: must exceed twice heartbeat_ms";
    } else if (c->lease_drift_ms >= c->election_timeout_ms) {
        why = "lease_drift_ms: must be below election_timeout_ms";
    } else if (c->max_inflight > RAFT_MAX_INFLIGHT) {
        why = "max_inflight: at most 256";
    } else if (c->max_entries_per_msg > RAFT_MAX_MSG_ENTRIES) {
        why = "max_entries_per_msg: at most 4096";
    } else if (c->hard_state.vote > c->n_nodes) {
        why = "hard_state.vote: not a node";
    } else if (c->snapshot.present && (c->snapshot.index == 0 || c->snapshot.term == 0 ||
                                       (c->snapshot.len > 0 && c->snapshot.data == NULL))) {
        why = "snapshot: index, term and data are required";
    } else if (c->n_entries > 0 && c->entries == NULL) {
        why = "entries: NULL";
    } else {
        uint64_t base = c->snapshot.present ? c->snapshot.index : 0;
        uint64_t prev_term = c->snapshot.present ? c->snapshot.term : 0;
        for (size_t i = 0; i < c->n_entries && why == NULL; i++) {
            const raft_entry *e = &c->entries[i];
            if (e->index != base + 1 + i) {
                why = "entries: indexes not consecutive after the snapshot";
            } else if (e->term < prev_term || e->term == 0) {
                why = "entries: terms decrease";
            } else if (e->len > 0 && e->data == NULL) {
                why = "entries: data NULL";
            }
            prev_term = e->term;
        }
    }
    if (why != NULL && err != NULL) {
        snprintf(err, errlen, "%s", why);
    }
    return why ? -EINVAL : 0;
}

int raft_new(const raft_config *c, raft **out, char *err, size_t errlen)
{
    assert(c != NULL && out != NULL);
    int rc = validate_config(c, err, errlen);
    if (rc != 0) {
        return rc;
    }
    raft *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->id = c->id;
    r->n = c->n_nodes;
    r->heartbeat_ms = c->heartbeat_ms;
    r->election_ms = c->election_timeout_ms;
    r->drift_ms = c->lease_drift_ms;
    r->max_entries = c->max_entries_per_msg ? c->max_entries_per_msg : 64;
    r->max_bytes = c->max_bytes_per_msg ? c->max_bytes_per_msg : 512 * 1024;
    r->max_inflight = c->max_inflight ? c->max_inflight : 16;
    r->max_chunk = c->max_snapshot_chunk ? c->max_snapshot_chunk : 512 * 1024;
    r->rng = c->seed;
    r->now = c->now_ms;
    r->started_at = c->now_ms;
    if (c->snapshot.present) {
        raft__log_reset(&r->log, c->snapshot.index, c->snapshot.term);
        r->snap_data = malloc(c->snapshot.len ? c->snapshot.len : 1);
        if (r->snap_data == NULL) {
            goto nomem;
        }
        if (c->snapshot.len) {
            memcpy(r->snap_data, c->snapshot.data, c->snapshot.len);
        }
        r->snap_len = c->snapshot.len;
    }
    for (size_t i = 0; i < c->n_entries; i++) {
        const raft_entry *e = &c->entries[i];
        if (raft__log_append(&r->log, e->term, e->type, e->data, e->len) != 0) {
            goto nomem;
        }
    }
    /* Storage may persist a batch's parts in any order, and a crash may keep some of them.
     * A batch's messages were never sent then, so its half-written state is safe to adopt:
     * the term rises to the log's (no vote in it was ever sent) and commit is a hint. */
    r->term = c->hard_state.term;
    r->vote = c->hard_state.vote;
    uint64_t last = raft__last_index(&r->log);
    if (raft__last_term(&r->log) > r->term) {
        r->term = raft__last_term(&r->log);
        r->vote = 0;
    }
    r->commit = c->hard_state.commit < last ? c->hard_state.commit : last;
    if (r->commit < r->log.snap_index) {
        r->commit = r->log.snap_index;
    }
    r->apply_out = r->applied = r->log.snap_index;
    r->stable = last;
    r->unsent_from = last + 1;
    r->hs_out = (raft_hard_state){.term = r->term, .vote = r->vote, .commit = r->commit};
    r->role = RAFT_FOLLOWER;
    /* A cluster of one has nobody to learn from: whatever it lost is lost. */
    r->recovering = c->recovering && c->n_nodes > 1;
    raft__reset_election_timer(r);
    raft__check(r);
    *out = r;
    return 0;
nomem:
    raft_free(r);
    return -ENOMEM;
}

void raft_free(raft *r)
{
    if (r == NULL) {
        return;
    }
    raft__batch_free(r);
    raft__outbox_free(r);
    raft__log_free(&r->log);
    free(r->snap_data);
    free(r->rx_data);
    free(r);
}

void raft__set_now(raft *r, uint64_t now)
{
    assert(now >= r->now); /* the caller's clock is monotonic */
    r->now = now;
}

void raft_tick(raft *r, uint64_t now_ms)
{
    raft__check(r);
    raft__set_now(r, now_ms);
    if (r->role == RAFT_LEADER) {
        if (!raft__quorum_active(r)) {
            /* Check-quorum: a minority leader stops before a new leader can be elected. */
            raft__become_follower(r, r->term, 0);
        } else {
            raft__transfer_tick(r);
        }
        if (r->role == RAFT_LEADER && r->now >= r->heartbeat_due) {
            raft__bcast_heartbeat(r);
        }
        if (r->role == RAFT_LEADER) {
            for (raft_id p = 1; p <= r->n; p++) {
                raft_progress *pr = &r->pr[p];
                /* A snapshot transfer made no progress for T (the follower is gone, or the
                 * reply to its last chunk was lost): probe again, which restarts it if needed. */
                if (p != r->id && pr->state == RAFT_PR_SNAPSHOT &&
                    r->now >= pr->snap_sent_ms + r->election_ms) {
                    raft__pr_become_probe(pr);
                    raft__send_append(r, p, true);
                }
            }
        }
    } else if (r->now >= r->election_deadline) {
        raft__campaign(r, true, false);
    }
    raft__check(r);
}

uint64_t raft_next_timeout(const raft *r)
{
    if (r->role != RAFT_LEADER) {
        return r->election_deadline;
    }
    uint64_t t = r->heartbeat_due;
    uint64_t q = raft__quorum_deadline(r);
    if (q < t) {
        t = q;
    }
    if (r->transfer_to != 0 && r->transfer_deadline < t) {
        t = r->transfer_deadline;
    }
    for (raft_id p = 1; p <= r->n; p++) {
        if (p != r->id && r->pr[p].state == RAFT_PR_SNAPSHOT && r->pr[p].snap_sent_ms + r->election_ms < t) {
            t = r->pr[p].snap_sent_ms + r->election_ms;
        }
    }
    return t;
}

/* Field checks for a message that passed the codec or came from a caller directly. */
static int validate_msg(raft *r, const raft_message *m)
{
    if (m->type < RAFT_MSG_APPEND || m->type > RAFT_MSG_TYPE_MAX) {
        return raft__error(r, -EINVAL, "unknown message type %u", m->type);
    }
    if (m->to != r->id || m->from < 1 || m->from > r->n || m->from == r->id) {
        return raft__error(r, -EINVAL, "message %u->%u does not fit node %u of %u", m->from, m->to, r->id, r->n);
    }
    if ((m->term == 0 && !raft__msg_is_response(m->type)) || m->reject > RAFT_REJECT_STALE || m->transfer > 1) {
        return raft__error(r, -EINVAL, "message with term 0 or bad flags");
    }
    if (m->index > RAFT_INDEX_MAX || m->term > RAFT_INDEX_MAX) {
        return raft__error(r, -EINVAL, "index or term out of range");
    }
    if (m->type != RAFT_MSG_APPEND && m->n_entries != 0) {
        return raft__error(r, -EINVAL, "entries in a %s", raft_msg_type_name(m->type));
    }
    if (m->type == RAFT_MSG_APPEND) {
        if (m->log_term > m->term || (m->index == 0) != (m->log_term == 0) || (m->n_entries > 0 && m->entries == NULL) ||
            m->n_entries > RAFT_MAX_MSG_ENTRIES || m->index > UINT64_MAX - RAFT_MAX_MSG_ENTRIES) {
            return raft__error(r, -EINVAL, "append header inconsistent");
        }
        uint64_t prev = m->log_term;
        for (uint32_t i = 0; i < m->n_entries; i++) {
            const raft_entry *e = &m->entries[i];
            if (e->index != m->index + 1 + i || e->term < prev || e->term > m->term ||
                e->len > RAFT_MAX_ENTRY_LEN || (e->len > 0 && e->data == NULL) ||
                e->type > RAFT_ENTRY_NORMAL) {
                return raft__error(r, -EINVAL, "append entry %u inconsistent", i);
            }
            prev = e->term;
        }
    }
    if (m->type == RAFT_MSG_SNAPSHOT &&
        (m->index == 0 || m->log_term == 0 || m->log_term > m->term || (m->snap_len > 0 && m->snap_data == NULL) ||
         m->snap_total > RAFT_MAX_SNAPSHOT_LEN || m->snap_offset > m->snap_total ||
         m->snap_len > m->snap_total - m->snap_offset || (m->snap_len == 0 && m->snap_total != 0))) {
        return raft__error(r, -EINVAL, "snapshot header inconsistent");
    }
    if (m->type != RAFT_MSG_SNAPSHOT && (m->snap_len != 0 || m->snap_offset != 0 || m->snap_total != 0)) {
        return raft__error(r, -EINVAL, "snapshot bytes in a %s", raft_msg_type_name(m->type));
    }
    return 0;
}

static bool from_leader_type(uint8_t type)
{
    return type == RAFT_MSG_APPEND || type == RAFT_MSG_HEARTBEAT || type == RAFT_MSG_SNAPSHOT;
}

/* A message from an older term: tell its sender our term (with pre-vote and check-quorum we
 * would otherwise never raise a stale node's term), and do nothing else. */
static void reply_stale(raft *r, const raft_message *m)
{
    raft_message *o = NULL;
    if (from_leader_type(m->type) || m->type == RAFT_MSG_TIMEOUT_NOW) {
        o = raft__msg_new(r, RAFT_MSG_HEARTBEAT_RESP, m->from);
        if (o) {
            o->sent_ms = m->sent_ms;
        }
    } else if (m->type == RAFT_MSG_PRE_VOTE) {
        o = raft__msg_new(r, RAFT_MSG_PRE_VOTE_RESP, m->from);
    } else if (m->type == RAFT_MSG_VOTE) {
        o = raft__msg_new(r, RAFT_MSG_VOTE_RESP, m->from);
    }
    if (o) {
        o->reject = RAFT_REJECT_STALE;
    }
}

/* The term rules (Raft 5.1 plus pre-vote and stickiness). Returns true if m is to be
 * dispatched to the role handlers. */
static bool term_rules(raft *r, const raft_message *m)
{
    bool vote_req = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE;
    if (m->term > r->term) {
        if (vote_req && !m->transfer && raft__in_lease(r)) {
            /* Stickiness: we heard from a live leader within T (or just restarted). A vote
             * request must not even raise our term, or it would depose that leader. */
            if (m->type == RAFT_MSG_PRE_VOTE) {
                raft_message *o = raft__msg_new(r, RAFT_MSG_PRE_VOTE_RESP, m->from);
                if (o) {
                    o->reject = RAFT_REJECT_YES;
                }
            }
            return false;
        }
        if (m->type == RAFT_MSG_PRE_VOTE) {
            /* Never change term for a pre-vote. */
        } else if (m->type == RAFT_MSG_PRE_VOTE_RESP && m->reject == RAFT_REJECT_NONE) {
            /* A grant carries the term we asked about; we raise it only on winning. */
        } else {
            raft__become_follower(r, m->term, from_leader_type(m->type) ? m->from : 0);
        }
        return true;
    }
    if (m->term < r->term) {
        reply_stale(r, m);
        return false;
    }
    if (m->reject == RAFT_REJECT_STALE) {
        return false; /* answers a message of ours from an earlier term: nothing to learn */
    }
    return true;
}

int raft_step(raft *r, const raft_message *m, uint64_t now_ms)
{
    raft__check(r);
    assert(m != NULL);
    int rc = validate_msg(r, m);
    if (rc != 0) {
        return rc;
    }
    raft__set_now(r, now_ms);
    raft__recovery_note(r, m);
    if (!term_rules(r, m)) {
        raft__check(r);
        return 0;
    }
    switch (m->type) {
    case RAFT_MSG_PRE_VOTE:
    case RAFT_MSG_VOTE:
        raft__handle_vote_req(r, m);
        break;
    case RAFT_MSG_PRE_VOTE_RESP:
    case RAFT_MSG_VOTE_RESP:
        raft__handle_vote_resp(r, m);
        break;
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        if (r->role == RAFT_LEADER) {
            rc = raft__error(r, -EPROTO, "leader %u of term %lu got %s from %u in the same term", r->id,
                             (unsigned long)r->term, raft_msg_type_name(m->type), m->from);
            break;
        }
        if (r->role == RAFT_FOLLOWER && r->leader != 0 && r->leader != m->from) {
            rc = raft__error(r, -EPROTO, "two leaders in term %lu: %u and %u", (unsigned long)r->term, r->leader,
                             m->from);
            break;
        }
        if (r->role != RAFT_FOLLOWER || r->leader != m->from) {
            raft__become_follower(r, r->term, m->from);
        }
        r->last_heard_ms = r->now;
        r->heard = true;
        raft__reset_election_timer(r);
        if (m->type == RAFT_MSG_APPEND) {
            rc = raft__handle_append(r, m);
        } else if (m->type == RAFT_MSG_HEARTBEAT) {
            raft__handle_heartbeat(r, m);
        } else {
            raft__handle_snapshot(r, m);
        }
        raft__recovery_note(r, m);
        break;
    case RAFT_MSG_APPEND_RESP:
        if (r->role == RAFT_LEADER) {
            raft__handle_append_resp(r, m);
        }
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        if (r->role == RAFT_LEADER) {
            raft__handle_heartbeat_resp(r, m);
        }
        break;
    case RAFT_MSG_SNAPSHOT_RESP:
        if (r->role == RAFT_LEADER) {
            raft__handle_snapshot_resp(r, m);
        }
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        raft__handle_timeout_now(r, m);
        break;
    default:
        break;
    }
    raft__check(r);
    return rc;
}

int raft_propose(raft *r, uint8_t type, const void *data, size_t len, uint64_t *index_out)
{
    raft__check(r);
    if (r->role != RAFT_LEADER) {
        return raft__error(r, -EPERM, "not the leader (leader: %u)", r->leader);
    }
    if (r->transfer_to != 0) {
        return raft__error(r, -EBUSY, "leadership transfer to %u in progress", r->transfer_to);
    }
    if (len > RAFT_MAX_ENTRY_LEN) {
        return raft__error(r, -EMSGSIZE, "entry of %zu bytes over the limit", len);
    }
    if (type > RAFT_ENTRY_NORMAL || (len > 0 && data == NULL)) {
        return raft__error(r, -EINVAL, "bad entry type or data");
    }
    if (raft__log_append(&r->log, r->term, type, data, (uint32_t)len) != 0) {
        return raft__error(r, -ENOMEM, "out of memory appending");
    }
    if (index_out) {
        *index_out = raft__last_index(&r->log);
    }
    for (raft_id p = 1; p <= r->n; p++) {
        if (p != r->id) {
            raft__send_append(r, p, false);
        }
    }
    raft__check(r);
    return 0;
}

raft_role raft_get_role(const raft *r) { return r->role; }
uint64_t raft_get_term(const raft *r) { return r->term; }
raft_id raft_get_vote(const raft *r) { return r->vote; }
raft_id raft_get_leader(const raft *r) { return r->leader; }
uint64_t raft_get_commit(const raft *r) { return r->commit; }
uint64_t raft_get_applied(const raft *r) { return r->applied; }
uint64_t raft_last_index(const raft *r) { return raft__last_index(&r->log); }
uint64_t raft_snapshot_index(const raft *r) { return r->log.snap_index; }
uint32_t raft_get_n_nodes(const raft *r) { return r->n; }
raft_id raft_get_id(const raft *r) { return r->id; }
raft_id raft_transfer_target(const raft *r) { return r->transfer_to; }
bool raft_recovering(const raft *r) { return r->recovering; }
uint64_t raft_term_at(const raft *r, uint64_t index) { return raft__term_at(&r->log, index); }
const raft_entry *raft_entry_at(const raft *r, uint64_t index) { return raft__entry(&r->log, index); }
const char *raft_errmsg(const raft *r) { return r->errmsg; }

uint64_t raft_match_index(const raft *r, raft_id peer)
{
    if (r->role != RAFT_LEADER || peer < 1 || peer > r->n) {
        return 0;
    }
    return r->pr[peer].match;
}

const char *raft_role_name(raft_role role)
{
    switch (role) {
    case RAFT_FOLLOWER: return "follower";
    case RAFT_PRE_CANDIDATE: return "pre-candidate";
    case RAFT_CANDIDATE: return "candidate";
    case RAFT_LEADER: return "leader";
    }
    return "?";
}

const char *raft_msg_type_name(uint8_t type)
{
    static const char *names[] = {"?", "APPEND", "APPEND_RESP", "HEARTBEAT", "HEARTBEAT_RESP", "PRE_VOTE",
                                  "PRE_VOTE_RESP", "VOTE", "VOTE_RESP", "SNAPSHOT", "TIMEOUT_NOW",
                                  "SNAPSHOT_RESP"};
    return type <= RAFT_MSG_TYPE_MAX ? names[type] : "?";
}
