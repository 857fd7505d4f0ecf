/* ready.c: batches for the caller (etcd's Ready/Advance): what to persist, then what to send,
 * then what to apply. Everything produced since the last batch goes into the next one, and
 * batches are persisted in order, so a message never leaves before the state it depends on:
 * a vote grant rides with (or after) the vote, an acknowledgement with (or after) the entries
 * and the truncation it acknowledges. */
#include "raft_int.h"

#include <stdlib.h>
#include <string.h>

raft_message *raft__msg_new(raft *r, uint8_t type, raft_id to)
{
    assert(to >= 1 && to <= r->n && to != r->id);
    if (r->n_out == r->cap_out) {
        size_t cap = r->cap_out ? r->cap_out * 2 : 16;
        raft_message *out = realloc(r->out, cap * sizeof *out);
        if (out == NULL) {
            return NULL;
        }
        r->out = out;
        r->cap_out = cap;
    }
    raft_message *m = &r->out[r->n_out++];
    memset(m, 0, sizeof *m);
    m->type = type;
    m->from = r->id;
    m->to = to;
    m->term = r->term;
    return m;
}

static void msgs_free(raft_message *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        raft_msg_release(&msgs[i]);
    }
    free(msgs);
}

void raft__outbox_free(raft *r)
{
    msgs_free(r->out, r->n_out);
    r->out = NULL;
    r->n_out = r->cap_out = 0;
}

void raft__batch_free(raft *r)
{
    if (!r->outstanding) {
        return;
    }
    free(r->batch.entries);
    free(r->batch.committed);
    free(r->batch_snap);
    msgs_free(r->batch.msgs, r->batch.n_msgs);
    r->batch_snap = NULL;
    memset(&r->batch, 0, sizeof r->batch);
    r->outstanding = false;
}

/* The commit index persisted is capped at what earlier batches made durable: a batch may then
 * be written in any order, and torn by a crash anywhere, without its hard state naming as
 * committed an entry the disk does not hold yet (or still holds an older version of, if the
 * truncation replacing it was lost). After a restart the rest is learned again from the leader. */
static raft_hard_state hard_state(const raft *r)
{
    uint64_t commit = r->commit < r->stable ? r->commit : r->stable;
    if (commit < r->hs_out.commit) {
        commit = r->hs_out.commit; /* an installed snapshot resets stable; commit never goes back */
    }
    return (raft_hard_state){.term = r->term, .vote = r->vote, .commit = commit};
}

static bool hs_equal(raft_hard_state a, raft_hard_state b)
{
    return a.term == b.term && a.vote == b.vote && a.commit == b.commit;
}

bool raft_has_ready(const raft *r)
{
    if (r->outstanding) {
        return false;
    }
    return r->n_out > 0 || r->snap_unsent || r->truncate_from != 0 ||
           r->unsent_from <= raft__last_index(&r->log) || r->apply_out < r->commit ||
           !hs_equal(hard_state(r), r->hs_out);
}

int raft_ready(raft *r, raft_update *u)
{
    raft__check(r);
    assert(!r->outstanding && u != NULL);
    memset(u, 0, sizeof *u);
    uint64_t last = raft__last_index(&r->log);
    uint8_t *snap = NULL;
    raft_entry *ents = NULL;
    raft_entry *committed = NULL;
    size_t n_ents = r->unsent_from <= last ? (size_t)(last - r->unsent_from + 1) : 0;
    size_t n_committed = (size_t)(r->commit - r->apply_out);
    /* Allocate everything first: on failure nothing has changed and the caller retries. */
    if (r->snap_unsent && (snap = malloc(r->snap_len ? r->snap_len : 1)) == NULL) {
        goto nomem;
    }
    if (n_ents && (ents = raft__entries_dup(raft__entry(&r->log, r->unsent_from), n_ents)) == NULL) {
        goto nomem;
    }
    if (n_committed && (committed = raft__entries_dup(raft__entry(&r->log, r->apply_out + 1), n_committed)) == NULL) {
        goto nomem;
    }
    if (r->snap_unsent) {
        memcpy(snap, r->snap_data, r->snap_len);
        u->snapshot = (raft_snapshot){.present = true, .index = r->log.snap_index, .term = r->log.snap_term,
                                      .len = r->snap_len, .data = snap};
        r->snap_unsent = false;
    }
    u->truncate_from = r->truncate_from;
    r->truncate_from = 0;
    u->entries = ents;
    u->n_entries = n_ents;
    r->unsent_from = last + 1;
    if (!hs_equal(hard_state(r), r->hs_out)) {
        u->has_hard_state = true;
        u->hard_state = r->hs_out = hard_state(r);
    }
    u->msgs = r->out;
    u->n_msgs = r->n_out;
    r->out = NULL;
    r->n_out = r->cap_out = 0;
    u->committed = committed;
    u->n_committed = n_committed;
    r->apply_out = r->commit;
    u->seq = ++r->seq;
    r->batch = *u;
    r->batch_snap = snap;
    r->outstanding = true;
    raft__check(r);
    return 0;
nomem:
    free(snap);
    free(ents);
    free(committed);
    return -ENOMEM;
}

void raft_advance(raft *r, raft_update *u)
{
    raft__check(r);
    assert(r->outstanding && u != NULL && u->seq == r->batch.seq);
    if (r->batch.snapshot.present && r->batch.snapshot.index > r->applied) {
        r->applied = r->batch.snapshot.index;
    }
    if (r->batch.n_committed > 0) {
        r->applied = r->batch.committed[r->batch.n_committed - 1].index;
    }
    /* Everything handed out so far is durable now; later truncations already lowered
     * unsent_from, and an installed snapshot not yet handed out makes nothing durable. */
    if (!r->snap_unsent) {
        r->stable = r->unsent_from - 1;
    }
    raft__batch_free(r);
    memset(u, 0, sizeof *u);
    if (r->role == RAFT_LEADER) {
        r->pr[r->id].match = r->stable;
        if (raft__maybe_commit(r)) {
            raft__bcast_append(r);
        }
    }
    raft__check(r);
}
