/* sim_run.c: one simulated run: a safety phase of `steps` steps with faults, then a liveness
 * phase without faults that must elect a leader and commit (and apply everywhere) a new
 * entry within a bounded virtual time. Invariants are checked after every step of both. */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

/* A step is either a fault/client action or the next event of the queue. */
static bool one_step(sim_world *w, bool actions)
{
    w->step++;
    if (actions && sim_chance(&w->rng, w->p.action_pm)) {
        sim_action(w);
        if (w->rem) {
            sim_remedy_poll(w);
        }
        sim_check_step(w);
        return true;
    }
    for (;;) {
        sim_event ev;
        if (!sim_heap_pop(w, &ev)) {
            return false; /* cannot happen while a node runs: every node has a timer */
        }
        w->now = ev.time;
        if (sim_process_event(w, &ev)) {
            break;
        }
    }
    if (w->rem) {
        sim_remedy_poll(w);
    }
    sim_check_step(w);
    return true;
}

typedef struct {
    bool active;
    bool committed;
    int node;
    uint64_t term, index;
    uint64_t deadline;      /* for every node to apply it, once committed */
} probe;

/* Liveness: propose through a leader that holds its lease (re-proposing if leadership moves
 * first) until the entry commits; then every node must apply it, within a bound that allows
 * a lagging node to catch up one entry per round trip (the slowest flow-control setting), and
 * one snapshot chunk per round trip (one chunk is in flight per follower). */
static bool probe_step(sim_world *w, probe *pb)
{
    uint64_t ct, ch;
    if (pb->committed) {
        for (int i = 1; i <= w->n; i++) {
            if (w->nodes[i].sm_index < pb->index) {
                if (w->now > pb->deadline) {
                    sim_fail(w, "liveness: n%d has not applied the committed entry %lu in time", i,
                             (unsigned long)pb->index);
                }
                return false;
            }
        }
        return true;
    }
    if (pb->active) {
        if (sim_committed_at(w, pb->index, &ct, &ch) && ct == pb->term) {
            uint64_t behind = 0;
            for (int i = 1; i <= w->n; i++) {
                uint64_t lag = pb->index - (w->nodes[i].sm_index < pb->index ? w->nodes[i].sm_index : pb->index);
                behind = lag > behind ? lag : behind;
            }
            uint64_t snap = 0;
            for (int i = 1; i <= w->n; i++) {
                snap = w->nodes[i].disk.snap_len > snap ? w->nodes[i].disk.snap_len : snap;
            }
            uint64_t chunk = w->p.snap_chunk ? w->p.snap_chunk : 512 * 1024;
            behind += (snap + chunk - 1) / chunk;
            uint64_t rtt = 2 * (uint64_t)w->p.delay_max_ms + w->p.fsync_max_ms + 2;
            pb->committed = true;
            pb->deadline = w->now + 20 * (uint64_t)w->p.election_ms + 2 * behind * rtt;
            sim_trace(w, "probe %lu committed; %lu entries to catch up, by %lu", (unsigned long)pb->index,
                      (unsigned long)behind, (unsigned long)pb->deadline);
            return false;
        }
        raft *r = w->nodes[pb->node].r;
        if (r && raft_get_role(r) == RAFT_LEADER && raft_get_term(r) == pb->term) {
            return false;
        }
        pb->active = false;
    }
    for (int i = 1; i <= w->n; i++) {
        raft *r = w->nodes[i].r;
        if (r && raft_lease_valid(r, sim_local_now(w, i)) && raft_transfer_target(r) == 0) {
            uint64_t id = UINT64_MAX - w->proposals++;
            if (raft_propose(r, RAFT_ENTRY_NORMAL, &id, sizeof id, &pb->index) == 0) {
                pb->active = true;
                pb->node = i;
                pb->term = raft_get_term(r);
                sim_trace(w, "n%d PROPOSE liveness probe at %lu", i, (unsigned long)pb->index);
                sim_node_drive(w, i);
            }
            break;
        }
    }
    return false;
}

sim_result sim_run(uint64_t seed, int n, uint64_t steps, bool trace, bool trace_print, size_t ring,
                   void (*dump)(sim_world *w))
{
    sim_world *w = calloc(1, sizeof *w);
    if (w == NULL) {
        abort();
    }
    sim_world_init(w, seed, n, steps);
    w->trace = trace;
    w->trace_print = trace_print;
    if (ring > 0) {
        w->ring = calloc(ring, sizeof *w->ring);
        w->ring_cap = ring;
    }
    sim_result res = {0};
    if (sim_opt_remedy) {
        sim_remedy_init(w);
    }
    for (int i = 1; i <= n; i++) {
        sim_node_start(w, i);
    }
    while (w->step < steps && !w->failed) {
        one_step(w, true);
    }
    if (!w->failed) {
        sim_end_faults(w);
        uint64_t start = w->now;
        /* Bound for a commit: nodes restarted now refuse votes for T, time out within 2T,
         * and a few rounds of pre-vote and vote may split. */
        uint64_t bound = 20 * (uint64_t)w->p.election_ms;
        probe pb = {0};
        for (;;) {
            if (pb.committed && res.commit_ms == 0) {
                res.commit_ms = w->now - start;
            }
            if (!one_step(w, false) || w->failed) {
                res.liveness = w->failed && strncmp(w->why, "liveness", 8) == 0;
                break;
            }
            if (probe_step(w, &pb)) {
                res.liveness_ms = w->now - start;
                break;
            }
            if (w->failed) {
                res.liveness = true;
                break;
            }
            if (!pb.committed && w->now - start > bound) {
                res.liveness = true;
                sim_fail(w, "liveness: no leader committed an entry within %lu ms after faults stopped",
                         (unsigned long)bound);
                break;
            }
        }
    }
    res.failed = w->failed;
    res.fail_step = w->fail_step;
    memcpy(res.why, w->why, sizeof res.why);
    res.steps_done = w->step;
    res.virtual_ms = w->now;
    res.elections = w->elections;
    res.digest = w->digest;
    res.election_ms = w->p.election_ms;
    res.snap_chunks = w->snap_chunks;
    res.snap_installs = w->snap_installs;
    sim_remedy_stats(w, &res.intents, &res.executions, &res.results_lost);
    if (dump) {
        dump(w);
    }
    sim_world_free(w);
    free(w);
    return res;
}
