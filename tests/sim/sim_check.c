/* sim_check.c: the invariants, checked after every simulated step against a global record
 * of what every node ever appended, committed and applied (CONSENSUS-NOTES.md):
 *   1. at most one leader per term;
 *   2. log matching: an (index, term) pair always names the same entry with the same
 *      predecessor term (so, by induction, the same log prefix);
 *   3. leader completeness: a new leader holds every entry committed so far;
 *   4. state machine safety: no two nodes commit or apply different entries at one index,
 *      and every state machine's hash chain agrees at every index;
 *   5. no two nodes hold a valid lease at the same virtual time (by their own clocks);
 *   6. the latest committed entry is on the disks of a majority (crashed nodes included),
 *      so no sequence of crashes can lose it. */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

static uint64_t key_hash(uint64_t index, uint64_t term)
{
    uint64_t h = index * 0x9E3779B97F4A7C15ull ^ (term + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 29);
}

static sim_entry_rec *entry_slot(sim_world *w, uint64_t index, uint64_t term)
{
    size_t mask = w->cap_entries - 1;
    for (size_t k = key_hash(index, term) & mask;; k = (k + 1) & mask) {
        sim_entry_rec *e = &w->entries[k];
        if (e->index == 0 || (e->index == index && e->term == term)) {
            return e;
        }
    }
}

static void entries_grow(sim_world *w)
{
    sim_entry_rec *old = w->entries;
    size_t old_cap = w->cap_entries;
    w->cap_entries = old_cap ? old_cap * 2 : 4096;
    w->entries = calloc(w->cap_entries, sizeof *w->entries);
    if (w->entries == NULL) {
        abort();
    }
    for (size_t k = 0; k < old_cap; k++) {
        if (old[k].index != 0) {
            *entry_slot(w, old[k].index, old[k].term) = old[k];
        }
    }
    free(old);
}

/* Invariant 2, at the moment entries leave the core to be written. */
void sim_check_ready_entries(sim_world *w, int i, const raft_update *u)
{
    const raft *r = w->nodes[i].r;
    for (size_t k = 0; k < u->n_entries; k++) {
        const raft_entry *e = &u->entries[k];
        uint64_t prev_term = e->index > 1 ? raft_term_at(r, e->index - 1) : 0;
        if (e->index > 1 && prev_term == 0) {
            sim_fail(w, "n%d: entry %lu handed out without a predecessor", i, (unsigned long)e->index);
            return;
        }
        if (2 * (w->n_entries + 1) > w->cap_entries) {
            entries_grow(w);
        }
        sim_entry_rec *rec = entry_slot(w, e->index, e->term);
        uint64_t h = sim_entry_hash(e);
        if (rec->index == 0) {
            *rec = (sim_entry_rec){.index = e->index, .term = e->term, .data_hash = h, .prev_term = prev_term};
            w->n_entries++;
        } else if (rec->data_hash != h || rec->prev_term != prev_term) {
            sim_fail(w, "log matching: n%d's entry %lu/t%lu differs from another log's (prev term %lu vs %lu)", i,
                     (unsigned long)e->index, (unsigned long)e->term, (unsigned long)prev_term,
                     (unsigned long)rec->prev_term);
            return;
        }
    }
}

bool sim_committed_at(const sim_world *w, uint64_t index, uint64_t *term, uint64_t *hash)
{
    if (index >= w->cap_committed || !w->committed[index].set) {
        return false;
    }
    *term = w->committed[index].term;
    *hash = w->committed[index].hash;
    return true;
}

static void record_committed(sim_world *w, int i, uint64_t index, uint64_t term, uint64_t hash)
{
    sim_grow((void **)&w->committed, &w->cap_committed, index, sizeof *w->committed);
    sim_committed *c = &w->committed[index];
    if (!c->set) {
        *c = (sim_committed){.term = term, .hash = hash, .in_term = raft_get_term(w->nodes[i].r), .set = true};
    } else if (c->term != term || c->hash != hash) {
        sim_fail(w, "state machine safety: n%d committed %lu/t%lu, another node %lu/t%lu", i, (unsigned long)index,
                 (unsigned long)term, (unsigned long)index, (unsigned long)c->term);
    }
}

/* Invariant 4 for applies; the chain hash also covers entries compacted into snapshots. */
void sim_check_apply(sim_world *w, int i, uint64_t index, uint64_t term, uint64_t hash_after)
{
    uint64_t ct, ch;
    if (!sim_committed_at(w, index, &ct, &ch)) {
        sim_fail(w, "n%d applies entry %lu that no node has committed", i, (unsigned long)index);
        return;
    }
    if (ct != term) {
        sim_fail(w, "state machine safety: n%d applies %lu/t%lu, committed was t%lu", i, (unsigned long)index,
                 (unsigned long)term, (unsigned long)ct);
        return;
    }
    sim_grow((void **)&w->chain, &w->cap_chain, index, sizeof *w->chain);
    if (w->chain[index] == 0) {
        w->chain[index] = hash_after;
    } else if (w->chain[index] != hash_after) {
        sim_fail(w, "state machine safety: n%d's state after %lu differs from another node's", i,
                 (unsigned long)index);
    }
}

void sim_check_restore(sim_world *w, int i, uint64_t index, uint64_t hash)
{
    if (index >= w->cap_chain || w->chain[index] == 0) {
        sim_fail(w, "n%d restores a snapshot at %lu that no node ever applied", i, (unsigned long)index);
    } else if (w->chain[index] != hash) {
        sim_fail(w, "state machine safety: n%d restores a snapshot at %lu that differs from the applied state", i,
                 (unsigned long)index);
    }
}

/* Invariant 3 when node i has just become leader: "if a log entry is committed in a given
 * term, then that entry will be present in the logs of the leaders for all higher-numbered
 * terms". A leader of an older term (a delayed vote can still elect one) need not have it. */
static void check_leader_complete(sim_world *w, int i)
{
    const raft *r = w->nodes[i].r;
    uint64_t snap = raft_snapshot_index(r);
    uint64_t ct, ch;
    if (snap > w->global_commit) {
        sim_fail(w, "n%d holds a snapshot at %lu beyond the commit index %lu", i, (unsigned long)snap,
                 (unsigned long)w->global_commit);
        return;
    }
    if (snap > 0 && sim_committed_at(w, snap, &ct, &ch) && ct != raft_term_at(r, snap)) {
        sim_fail(w, "leader completeness: leader n%d's snapshot at %lu has term %lu, committed t%lu", i,
                 (unsigned long)snap, (unsigned long)raft_term_at(r, snap), (unsigned long)ct);
        return;
    }
    for (uint64_t k = snap + 1; k <= w->global_commit; k++) {
        const raft_entry *e = raft_entry_at(r, k);
        if (!sim_committed_at(w, k, &ct, &ch) || w->committed[k].in_term >= raft_get_term(r)) {
            continue;
        }
        if (e == NULL || e->term != ct || sim_entry_hash(e) != ch) {
            sim_fail(w, "leader completeness: n%d leads term %lu without committed entry %lu/t%lu", i,
                     (unsigned long)raft_get_term(r), (unsigned long)k, (unsigned long)ct);
            return;
        }
    }
}

/* Reactive faults: a leader dying moments into its term (before its no-op spreads) or right
 * after it commits (before followers learn it) is where commitment is tested hardest
 * (Raft's Figure 8). */
static void crash_soon(sim_world *w, int i, uint32_t pm)
{
    if (w->faults && sim_chance(&w->rng, pm)) {
        uint64_t at = w->now + sim_below(&w->rng, 2 * (uint64_t)w->p.delay_max_ms + 2);
        sim_heap_push(w, (sim_event){.time = at, .type = EV_CRASH, .node = (uint8_t)i, .gen = w->nodes[i].life});
    }
}

static void check_commits(sim_world *w, int i)
{
    sim_node *nd = &w->nodes[i];
    const raft *r = nd->r;
    uint64_t c = raft_get_commit(r);
    for (uint64_t k = nd->checked_commit + 1; k <= c; k++) {
        const raft_entry *e = raft_entry_at(r, k);
        uint64_t ct, ch;
        if (e != NULL) {
            record_committed(w, i, k, e->term, sim_entry_hash(e));
        } else if (k == raft_snapshot_index(r) && sim_committed_at(w, k, &ct, &ch) && ct != raft_term_at(r, k)) {
            sim_fail(w, "state machine safety: n%d's snapshot at %lu has term %lu, committed t%lu", i,
                     (unsigned long)k, (unsigned long)raft_term_at(r, k), (unsigned long)ct);
        }
    }
    if (c > nd->checked_commit) {
        nd->checked_commit = c;
    }
    if (c > w->global_commit) {
        w->global_commit = c;
        if (raft_get_role(r) == RAFT_LEADER) {
            crash_soon(w, i, w->p.commit_crash_pm);
        }
    }
}

/* Invariant 6: count the disks that hold the latest committed entry (or a snapshot past it). */
void sim_check_commits(sim_world *w, int i)
{
    check_commits(w, i);
}

static void check_durable(sim_world *w)
{
    uint64_t c = w->global_commit, ct, ch;
    if (c == 0 || !sim_committed_at(w, c, &ct, &ch)) {
        return;
    }
    int have = 0;
    for (int i = 1; i <= w->n; i++) {
        const sim_disk *d = &w->nodes[i].disk;
        if (d->snap_index >= c) {
            have++;
        } else if (c <= d->snap_index + d->n && d->log[c - d->snap_index - 1].term == ct) {
            have++;
        }
    }
    /* One lost disk (sim_opt_disk_loss) is the fault this tolerates: it may have held the entry. */
    if (have < w->n / 2 + 1 - (w->disk_lost != 0 ? 1 : 0)) {
        sim_fail(w, "durability: committed entry %lu/t%lu is on only %d of %d disks", (unsigned long)c,
                 (unsigned long)ct, have, w->n);
    }
}

void sim_check_step(sim_world *w)
{
    int lease_holder = 0;
    for (int i = 1; i <= w->n && !w->failed; i++) {
        sim_node *nd = &w->nodes[i];
        if (nd->r == NULL) {
            continue;
        }
        raft_role role = raft_get_role(nd->r);
        uint64_t term = raft_get_term(nd->r);
        if (role == RAFT_LEADER) {
            sim_grow((void **)&w->leader_of, &w->n_leader_of, term, sizeof *w->leader_of);
            if (w->leader_of[term] == 0) {
                w->leader_of[term] = (raft_id)i;
            } else if (w->leader_of[term] != (raft_id)i) {
                sim_fail(w, "election safety: n%u and n%d both lead term %lu", w->leader_of[term], i,
                         (unsigned long)term);
                return;
            }
        }
        check_commits(w, i);
        if (role == RAFT_LEADER && (nd->seen_role != RAFT_LEADER || nd->seen_term != term)) {
            w->elections++;
            sim_trace(w, "n%d LEADER of term %lu (log %lu, commit %lu)", i, (unsigned long)term,
                      (unsigned long)raft_last_index(nd->r), (unsigned long)raft_get_commit(nd->r));
            check_leader_complete(w, i);
            crash_soon(w, i, w->p.leader_crash_pm);
        }
        nd->seen_role = role;
        nd->seen_term = term;
        if (raft_lease_valid(nd->r, sim_local_now(w, i))) {
            if (lease_holder != 0) {
                sim_fail(w, "lease: n%d and n%d both hold a valid lease (terms %lu and %lu)", lease_holder, i,
                         (unsigned long)raft_get_term(w->nodes[lease_holder].r), (unsigned long)term);
                return;
            }
            lease_holder = i;
        }
    }
    for (int i = 1; i <= w->n; i++) {
        if (w->nodes[i].r != NULL && !raft_recovering(w->nodes[i].r)) {
            w->nodes[i].disk.recovering = false; /* the node removes its marker */
        }
    }
    int lost = w->disk_lost;
    const sim_disk *ld = lost != 0 ? &w->nodes[lost].disk : NULL;
    /* Recovered: the core says so, and what it caught up with is on its disk. */
    if (lost != 0 && w->nodes[lost].r != NULL && !raft_recovering(w->nodes[lost].r) &&
        ld->snap_index + ld->n >= raft_get_commit(w->nodes[lost].r)) {
        sim_trace(w, "n%d recovered from its lost disk (log %lu, commit %lu)", lost,
                  (unsigned long)raft_last_index(w->nodes[lost].r), (unsigned long)raft_get_commit(w->nodes[lost].r));
        w->disk_lost = 0;
    }
    if (!w->failed) {
        check_durable(w);
    }
}

void sim_check_free(sim_world *w)
{
    free(w->leader_of);
    free(w->committed);
    free(w->chain);
    free(w->entries);
    w->leader_of = NULL;
    w->committed = NULL;
    w->chain = NULL;
    w->entries = NULL;
}
