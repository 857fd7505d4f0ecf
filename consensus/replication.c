/* replication.c: log replication (Raft 5.3) and commitment (5.4.2).
 *
 * "If an existing entry conflicts with a new one (same index but different terms), delete
 * the existing entry and all that follow it." Rejections carry etcd's conflict hint so the
 * leader skips a whole term per probe. "Raft never commits log entries from previous terms by
 * counting replicas. Only log entries from the leader's current term are committed by counting
 * replicas"; the no-op each new leader appends makes older entries commit promptly. */
#include "raft_int.h"

#include <stdlib.h>

void raft__commit_to(raft *r, uint64_t index)
{
    if (index > r->commit) {
        assert(index <= raft__last_index(&r->log));
        r->commit = index;
    }
}

void raft__become_leader(raft *r)
{
    assert(r->role == RAFT_CANDIDATE && r->vote == r->id);
    r->role = RAFT_LEADER;
    r->leader = r->id;
    r->lead_since = r->now;
    r->lease_off = false;
    raft__transfer_clear(r);
    raft__pr_reset(r);
    if (raft__log_append(&r->log, r->term, RAFT_ENTRY_NOOP, NULL, 0) != 0) {
        /* Without the no-op nothing of ours can commit promptly: let someone else lead. */
        raft__become_follower(r, r->term, 0);
        return;
    }
    r->heartbeat_due = r->now + r->heartbeat_ms;
    raft__bcast_append(r);
}

/* Sends entries from pr->next (or a snapshot if they are compacted away). send_empty: send
 * even with no entries (to probe, or to carry commit). Returns whether a message went out. */
bool raft__send_append(raft *r, raft_id to, bool send_empty)
{
    assert(r->role == RAFT_LEADER && to != r->id);
    raft_progress *pr = &r->pr[to];
    if (raft__pr_paused(r, pr)) {
        return false;
    }
    uint64_t prev = pr->next - 1;
    if (prev < r->log.snap_index) {
        raft__send_snapshot(r, to);
        return true;
    }
    uint64_t last = raft__last_index(&r->log);
    size_t n = 0;
    size_t bytes = 0;
    while (prev + n < last && n < r->max_entries) {
        const raft_entry *e = raft__entry(&r->log, prev + n + 1);
        if (n > 0 && bytes + e->len > r->max_bytes) {
            break;
        }
        bytes += e->len;
        n++;
    }
    if (n == 0 && !send_empty) {
        return false;
    }
    raft_entry *copy = NULL;
    if (n > 0 && (copy = raft__entries_dup(raft__entry(&r->log, prev + 1), n)) == NULL) {
        return false; /* out of memory: as if the message were lost */
    }
    raft_message *m = raft__msg_new(r, RAFT_MSG_APPEND, to);
    if (m == NULL) {
        free(copy);
        return false;
    }
    m->index = prev;
    m->log_term = raft__term_at(&r->log, prev);
    m->commit = r->commit;
    m->sent_ms = r->now;
    m->entries = copy;
    m->n_entries = (uint32_t)n;
    if (pr->state == RAFT_PR_REPLICATE && n > 0) {
        pr->next = prev + n + 1;
        raft__pr_inflight_add(pr, prev + n);
    } else if (pr->state == RAFT_PR_PROBE) {
        pr->probe_sent = true;
    }
    return true;
}

void raft__bcast_append(raft *r)
{
    for (raft_id p = 1; p <= r->n; p++) {
        if (p != r->id) {
            raft__send_append(r, p, true);
        }
    }
}

void raft__bcast_heartbeat(raft *r)
{
    assert(r->role == RAFT_LEADER);
    for (raft_id p = 1; p <= r->n; p++) {
        if (p == r->id) {
            continue;
        }
        raft_message *m = raft__msg_new(r, RAFT_MSG_HEARTBEAT, p);
        if (m) {
            /* Only what the follower is known to hold: its log beyond match may differ. */
            m->commit = r->commit < r->pr[p].match ? r->commit : r->pr[p].match;
            m->sent_ms = r->now;
        }
    }
    r->heartbeat_due = r->now + r->heartbeat_ms;
}

static void reply_append(raft *r, const raft_message *m, uint8_t reject, uint64_t index, uint64_t hint,
                         uint64_t hint_term)
{
    raft_message *o = raft__msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
    if (o) {
        o->reject = reject;
        o->index = index;
        o->hint = hint;
        o->log_term = hint_term;
        o->sent_ms = m->sent_ms;
    }
}

/* Drops entries >= from. Storage must drop them too if they were handed out already, and it
 * must do so durably before the entries replacing them are acknowledged: the cut and the new
 * entries travel in one batch, ahead of the acknowledgement. */
static void truncate_log(raft *r, uint64_t from)
{
    assert(from > r->commit);
    raft__log_truncate(&r->log, from);
    if (from < r->unsent_from) {
        r->truncate_from = (r->truncate_from && r->truncate_from < from) ? r->truncate_from : from;
        r->unsent_from = from;
    }
    if (r->stable >= from) {
        r->stable = from - 1;
    }
}

int raft__handle_append(raft *r, const raft_message *m)
{
    assert(r->role == RAFT_FOLLOWER && r->leader == m->from && m->term == r->term);
    if (m->index < r->commit) {
        reply_append(r, m, RAFT_REJECT_NONE, r->commit, 0, 0);
        return 0;
    }
    uint64_t last = raft__last_index(&r->log);
    if (m->index > last || raft__term_at(&r->log, m->index) != m->log_term) {
        uint64_t hint = raft__find_conflict_by_term(&r->log, m->index < last ? m->index : last, m->log_term);
        reply_append(r, m, RAFT_REJECT_YES, m->index, hint, raft__term_at(&r->log, hint));
        return 0;
    }
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const raft_entry *e = &m->entries[i];
        uint64_t have = raft__term_at(&r->log, e->index);
        if (have == e->term) {
            continue;
        }
        if (have != 0) {
            if (e->index <= r->commit) {
                return raft__error(r, -EPROTO, "append from %u conflicts with committed entry %lu", m->from,
                                   (unsigned long)e->index);
            }
            truncate_log(r, e->index);
        }
        for (; i < m->n_entries; i++) {
            e = &m->entries[i];
            if (raft__log_append(&r->log, e->term, e->type, e->data, e->len) != 0) {
                return raft__error(r, -ENOMEM, "out of memory appending");
            }
        }
        break;
    }
    uint64_t last_new = m->index + m->n_entries;
    raft__commit_to(r, m->commit < last_new ? m->commit : last_new);
    reply_append(r, m, RAFT_REJECT_NONE, last_new, 0, 0);
    return 0;
}

void raft__handle_heartbeat(raft *r, const raft_message *m)
{
    uint64_t last = raft__last_index(&r->log);
    raft__commit_to(r, m->commit < last ? m->commit : last);
    raft_message *o = raft__msg_new(r, RAFT_MSG_HEARTBEAT_RESP, m->from);
    if (o) {
        o->sent_ms = m->sent_ms;
        if (m->commit > last) {
            /* The leader sends only a commit it knows we hold: we lost entries we had
             * acknowledged (a wiped disk, a restored backup). Say how much we still hold, or
             * an idle leader would never send us anything again. */
            o->reject = RAFT_REJECT_YES;
            o->index = last;
        }
    }
}

/* Commit the highest index a majority holds, if it is of our term (5.4.2). Our own copy
 * counts only once durable (stable), so a commit index never runs ahead of a majority's disks. */
bool raft__maybe_commit(raft *r)
{
    assert(r->role == RAFT_LEADER);
    uint64_t m[RAFT_MAX_NODES];
    for (raft_id p = 1; p <= r->n; p++) {
        m[p - 1] = p == r->id ? r->stable : r->pr[p].match;
    }
    for (uint32_t i = 1; i < r->n; i++) { /* insertion sort, descending */
        for (uint32_t j = i; j > 0 && m[j] > m[j - 1]; j--) {
            uint64_t t = m[j];
            m[j] = m[j - 1];
            m[j - 1] = t;
        }
    }
    uint64_t idx = m[raft__quorum(r) - 1];
    if (idx <= r->commit) {
        return false;
    }
#ifndef RAFT_BUG_COMMIT_OLD_TERM
    if (raft__term_at(&r->log, idx) != r->term) {
        return false;
    }
#endif
    raft__commit_to(r, idx);
    return true;
}

void raft__handle_append_resp(raft *r, const raft_message *m)
{
    raft_progress *pr = &r->pr[m->from];
    raft__note_reply(r, m->from, m->sent_ms);
    uint64_t last = raft__last_index(&r->log);
    if (m->reject) {
        uint64_t hint = m->hint;
        if (m->log_term > 0) {
            hint = raft__find_conflict_by_term(&r->log, m->hint, m->log_term);
        }
        /* The follower lacks our entry at the rejected index; it holds at most up to hint. */
        uint64_t has = m->hint < m->index ? m->hint : m->index - 1;
        if (m->index <= pr->match && m->index > 0 && raft__pr_lost_log(pr, has, m->sent_ms)) {
            /* A fresh rejection at or below match: the follower no longer holds what it
             * acknowledged. Without this the rejection looks stale and is ignored forever. */
            raft__pr_reset_lost(pr, has);
            raft__send_append(r, m->from, true);
            return;
        }
        if (raft__pr_decr_to(pr, m->index, hint)) {
            if (pr->state == RAFT_PR_REPLICATE) {
                raft__pr_become_probe(pr);
            }
            raft__send_append(r, m->from, true);
        }
        return;
    }
    if (m->index > last) {
        return; /* claims entries we never had: a confused peer; ignore */
    }
    bool was_paused = raft__pr_paused(r, pr);
    if (!raft__pr_update(pr, m->index, m->sent_ms)) {
        return;
    }
    if (pr->state == RAFT_PR_PROBE) {
        raft__pr_become_replicate(pr);
    } else if (pr->state == RAFT_PR_SNAPSHOT) {
        if (pr->match >= pr->pending_snapshot) {
            /* Installed (or held already). If we compacted past it meanwhile, the probe that
             * follows finds the log gone and sends the newer snapshot. */
            raft__pr_become_probe(pr);
            if (pr->match >= r->log.snap_index) {
                raft__pr_become_replicate(pr);
            }
        }
    } else {
        raft__pr_inflight_free_to(pr, m->index);
    }
    if (raft__maybe_commit(r)) {
        raft__bcast_append(r);
    } else if (was_paused) {
        /* It may have missed the commit index while we held back: tell it now. */
        raft__send_append(r, m->from, true);
    }
    while (raft__send_append(r, m->from, false)) {
    }
    raft__transfer_progress(r, m->from);
}

void raft__handle_heartbeat_resp(raft *r, const raft_message *m)
{
    raft_progress *pr = &r->pr[m->from];
    raft__note_reply(r, m->from, m->sent_ms);
    if (m->reject == RAFT_REJECT_YES && raft__pr_lost_log(pr, m->index, m->sent_ms)) {
        raft__pr_reset_lost(pr, m->index); /* it lost its log: see raft__handle_heartbeat */
    }
    pr->probe_sent = false;
    if (pr->state == RAFT_PR_SNAPSHOT && r->now >= pr->snap_chunk_ms + r->heartbeat_ms) {
        /* It answers heartbeats but not the chunk sent a heartbeat ago: resend it. */
        raft__snapshot_retransmit(r, m->from);
    }
    if (pr->state == RAFT_PR_REPLICATE && pr->in_count >= r->max_inflight) {
        raft__pr_inflight_free_first(pr);
    }
    if (pr->match < raft__last_index(&r->log)) {
        /* Even with nothing new after next: if an APPEND was lost, the follower rejects this
         * one and we fall back to probing from its match. */
        raft__send_append(r, m->from, true);
    }
    raft__transfer_progress(r, m->from);
}
