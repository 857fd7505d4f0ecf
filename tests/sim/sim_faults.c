/* sim_faults.c: the actions a step can take instead of delivering an event: client
 * proposals, crashes and restarts, partitions (minority, majority, bridge, one-way), pauses,
 * compactions, leadership transfers and false "connection closed" hints. All choices come from
 * the world's PRNG. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pick_node(sim_world *w, bool up)
{
    int cand[SIM_MAX_NODES];
    int k = 0;
    for (int i = 1; i <= w->n; i++) {
        if ((w->nodes[i].r != NULL) == up) {
            cand[k++] = i;
        }
    }
    return k ? cand[sim_below(&w->rng, (uint64_t)k)] : 0;
}

static int find_leader(sim_world *w)
{
    int best = 0;
    for (int i = 1; i <= w->n; i++) {
        raft *r = w->nodes[i].r;
        if (r && raft_get_role(r) == RAFT_LEADER &&
            (best == 0 || raft_get_term(r) > raft_get_term(w->nodes[best].r))) {
            best = i;
        }
    }
    return best;
}

static int any_leader(sim_world *w)
{
    int cand[SIM_MAX_NODES];
    int k = 0;
    for (int i = 1; i <= w->n; i++) {
        if (w->nodes[i].r && raft_get_role(w->nodes[i].r) == RAFT_LEADER) {
            cand[k++] = i;
        }
    }
    return k ? cand[sim_below(&w->rng, (uint64_t)k)] : 0;
}

/* Mostly to a leader, stale ones included: their uncommitted entries are what later
 * leaders must overwrite correctly. */
static void propose(sim_world *w)
{
    int i = sim_chance(&w->rng, 800) ? any_leader(w) : 0;
    if (i == 0) {
        i = pick_node(w, true);
    }
    if (i == 0 || w->nodes[i].paused) {
        return;
    }
    int burst = 1 + (int)sim_below(&w->rng, 4);
    for (int b = 0; b < burst; b++) {
        uint8_t data[32];
        uint64_t id = ++w->proposals;
        memcpy(data, &id, 8);
        size_t len = 8 + sim_below(&w->rng, 24);
        for (size_t k = 8; k < len; k++) {
            data[k] = (uint8_t)sim_rand(&w->rng);
        }
        uint64_t index = 0;
        int rc = raft_propose(w->nodes[i].r, RAFT_ENTRY_NORMAL, data, len, &index);
        sim_trace(w, "n%d PROPOSE #%lu -> %d (index %lu)", i, (unsigned long)id, rc, (unsigned long)index);
    }
    sim_node_drive(w, i);
}

static void heal(sim_world *w)
{
    for (int a = 1; a <= w->n; a++) {
        for (int b = 1; b <= w->n; b++) {
            w->link[a][b] = true;
        }
    }
}

static void cut_between(sim_world *w, const int *side)
{
    for (int a = 1; a <= w->n; a++) {
        for (int b = 1; b <= w->n; b++) {
            if (side[a] != side[b] && side[a] != 2 && side[b] != 2) {
                w->link[a][b] = false;
            }
        }
    }
}

static void partition(sim_world *w)
{
    int side[SIM_MAX_NODES + 1] = {0};
    char desc[64] = "";
    heal(w);
    switch (sim_below(&w->rng, 5)) {
    case 0: { /* a minority (1 .. (n-1)/2 nodes) is cut off */
        int k = 1 + (int)sim_below(&w->rng, (uint64_t)(w->n - 1) / 2);
        for (int c = 0; c < k; c++) {
            side[1 + sim_below(&w->rng, (uint64_t)w->n)] = 1;
        }
        int l = find_leader(w);
        if (l != 0 && sim_chance(&w->rng, 500)) {
            side[l] = 1; /* often the leader is the one cut off, with whoever else */
        }
        cut_between(w, side);
        snprintf(desc, sizeof desc, "minority");
        break;
    }
    case 1: /* an arbitrary split, often leaving no majority anywhere connected */
        for (int i = 1; i <= w->n; i++) {
            side[i] = (int)sim_below(&w->rng, 2);
        }
        cut_between(w, side);
        snprintf(desc, sizeof desc, "split");
        break;
    case 2: { /* a bridge node talks to both halves, which cannot talk to each other */
        for (int i = 1; i <= w->n; i++) {
            side[i] = (int)sim_below(&w->rng, 2);
        }
        int b = 1 + (int)sim_below(&w->rng, (uint64_t)w->n);
        side[b] = 2;
        cut_between(w, side);
        snprintf(desc, sizeof desc, "bridge n%d", b);
        if (w->nodes[b].r != NULL && sim_chance(&w->rng, 300)) {
            /* ... and then reboots: it vouched for one side's leader and forgets it did. */
            uint64_t at = w->now + 1 + sim_below(&w->rng, w->p.election_ms);
            sim_heap_push(w, (sim_event){.time = at, .type = EV_CRASH, .node = (uint8_t)b,
                                         .gen = w->nodes[b].life, .from = 1});
        }
        break;
    }
    case 3: { /* one-way links */
        int k = 1 + (int)sim_below(&w->rng, (uint64_t)w->n);
        for (int c = 0; c < k; c++) {
            int a = 1 + (int)sim_below(&w->rng, (uint64_t)w->n);
            int b = 1 + (int)sim_below(&w->rng, (uint64_t)w->n);
            w->link[a][b] = false;
        }
        snprintf(desc, sizeof desc, "one-way x%d", k);
        break;
    }
    default: { /* one node can only send, or only receive */
        int x = 1 + (int)sim_below(&w->rng, (uint64_t)w->n);
        bool out = sim_chance(&w->rng, 500);
        for (int j = 1; j <= w->n; j++) {
            if (out) {
                w->link[x][j] = false;
            } else {
                w->link[j][x] = false;
            }
        }
        snprintf(desc, sizeof desc, "n%d %s", x, out ? "mute" : "deaf");
        break;
    }
    }
    for (int i = 1; i <= w->n; i++) {
        w->link[i][i] = true;
    }
    if (w->trace) {
        char m[128] = "";
        int off = 0;
        for (int a = 1; a <= w->n; a++) {
            for (int b = 1; b <= w->n; b++) {
                if (!w->link[a][b] && off < (int)sizeof m - 8) {
                    off += snprintf(m + off, sizeof m - (size_t)off, " %d>%d", a, b);
                }
            }
        }
        sim_trace(w, "PARTITION %s: cut%s", desc, m);
    }
}

static void pause_node(sim_world *w)
{
    int i = pick_node(w, true);
    if (i == 0 || w->nodes[i].paused) {
        return;
    }
    sim_node *nd = &w->nodes[i];
    nd->paused = true;
    nd->pause_until = w->now + 1 + sim_below(&w->rng, 3 * (uint64_t)w->p.election_ms);
    sim_heap_push(w, (sim_event){.time = nd->pause_until, .type = EV_RESUME, .node = (uint8_t)i});
    sim_trace(w, "n%d PAUSE until %lu", i, (unsigned long)nd->pause_until);
}

/* The application saves its state, durably, then lets the core drop the log. */
static void compact(sim_world *w)
{
    int i = pick_node(w, true);
    if (i == 0) {
        return;
    }
    sim_node *nd = &w->nodes[i];
    if (nd->sm_index <= raft_snapshot_index(nd->r)) {
        return;
    }
    /* The state: the hash chain's head, then (--remedy) the ledger's snapshot; else padding. */
    uint8_t *led = NULL;
    size_t led_len = 0;
    if (w->rem && sim_remedy_snapshot(w, i, &led, &led_len) != 0) {
        sim_fail(w, "n%d: ledger snapshot failed", i);
        return;
    }
    uint32_t len = 24 + (uint32_t)(w->rem ? led_len : nd->sm_index % 37);
    uint8_t *data = calloc(1, len);
    if (data == NULL) {
        abort();
    }
    memcpy(data, &nd->sm_index, 8);
    memcpy(data + 8, &nd->sm_term, 8);
    memcpy(data + 16, &nd->sm_hash, 8);
    if (led_len) {
        memcpy(data + 24, led, led_len);
    } else {
        for (uint32_t k = 24; k < len; k++) {
            data[k] = sim_pad_byte(nd->sm_hash, k);
        }
    }
    free(led);
    sim_disk_snapshot(w, i, nd->sm_index, nd->sm_term, data, len);
    int rc = raft_compact(nd->r, nd->sm_index, nd->sm_term, data, len);
    free(data);
    if (rc != 0) {
        sim_fail(w, "n%d: raft_compact(%lu) = %d: %s", i, (unsigned long)nd->sm_index, rc, raft_errmsg(nd->r));
    }
    sim_trace(w, "n%d COMPACT at %lu", i, (unsigned long)nd->sm_index);
}

static void transfer(sim_world *w)
{
    int i = find_leader(w);
    if (i == 0 || w->nodes[i].paused) {
        return;
    }
    raft_id target = (raft_id)sim_below(&w->rng, (uint64_t)w->n + 1);
    int rc = raft_transfer(w->nodes[i].r, target);
    sim_trace(w, "n%d TRANSFER to n%u -> %d", i, target, rc);
    w->transfers++;
    sim_node_drive(w, i);
}

/* A connection reset while both ends live (a flaky link, a proxy restart): the hint is false. */
static void false_hint(sim_world *w)
{
    int at = 1 + (int)sim_below(&w->rng, (uint64_t)w->n);
    int peer = 1 + (int)sim_below(&w->rng, (uint64_t)w->n);
    if (peer == at || w->nodes[at].r == NULL) {
        return;
    }
    sim_trace(w, "FALSE HINT at n%d about n%d", at, peer);
    sim_peer_lost_soon(w, at, peer);
}

bool sim_opt_bridge_reboot = false;
bool sim_opt_disk_loss = false;

static void bridge_reboot(sim_world *w)
{
    if (w->now < w->nemesis_until) {
        if (sim_chance(&w->rng, 10)) {
            propose(w); /* now and then the log moves, so stale candidates are not always up to date */
        }
        return;
    }
    heal(w);
    int l = find_leader(w), c = pick_node(w, true), b = pick_node(w, true);
    if (l == 0 || c == l || b == l || b == c) {
        w->nemesis_until = w->now + w->p.election_ms / 2; /* let the cluster settle first */
        return;
    }
    /* Each side plus the bridge is a majority: the leader keeps its lease through the bridge,
     * the cut-off follower could win through it too, were the bridge to forget the leader. */
    int side[SIM_MAX_NODES + 1] = {0};
    side[c] = 1;
    side[b] = 2;
    int on_c = 1, on_l = 1;
    for (int i = 1; i <= w->n; i++) {
        if (i != l && i != c && i != b) {
            side[i] = on_c < on_l ? 1 : 0;
            *(side[i] ? &on_c : &on_l) += 1;
        }
    }
    cut_between(w, side);
    uint64_t crash_at = w->now + w->p.election_ms + sim_below(&w->rng, w->p.election_ms);
    sim_heap_push(w, (sim_event){.time = crash_at, .type = EV_CRASH, .node = (uint8_t)b,
                                 .gen = w->nodes[b].life, .from = 1});
    w->nemesis_until = crash_at + 2 * (uint64_t)w->p.election_ms;
    sim_trace(w, "NEMESIS leader n%d cut from n%d, bridge n%d reboots at %lu", l, c, b, (unsigned long)crash_at);
}

void sim_action(sim_world *w)
{
    int i;
    if (sim_opt_bridge_reboot) {
        bridge_reboot(w);
        return;
    }
    if (sim_chance(&w->rng, w->p.propose_pm)) {
        propose(w);
        return;
    }
    uint64_t x = 450 + sim_below(&w->rng, 520);
    if (x < 510) {
        /* Leaders are where Raft is delicate: crash them more often than their share. */
        i = sim_chance(&w->rng, 500) ? find_leader(w) : 0;
        if (i != 0 || (i = pick_node(w, true)) != 0) {
            sim_node_crash(w, i);
            if (sim_opt_disk_loss && w->disk_lost == 0 && sim_chance(&w->rng, 400)) {
                sim_node_wipe(w, i);
            }
            if (sim_chance(&w->rng, 500)) {
                /* A quick reboot (a supervisor restarting the process) within T: the node has
                 * forgotten whom it heard from. */
                uint64_t at = w->now + 1 + sim_below(&w->rng, w->p.election_ms / 2);
                sim_heap_push(w, (sim_event){.time = at, .type = EV_RESTART, .node = (uint8_t)i,
                                             .gen = w->nodes[i].life});
            }
        }
    } else if (x < 610) {
        if ((i = pick_node(w, false)) != 0) {
            sim_node_start(w, i);
        }
    } else if (x < 670) {
        partition(w);
    } else if (x < 750) {
        heal(w);
        sim_trace(w, "HEAL");
    } else if (x < 800) {
        pause_node(w);
    } else if (x < 900) {
        compact(w);
    } else if (x < 940) {
        transfer(w);
    } else {
        false_hint(w);
    }
}

/* The liveness phase: no more faults of any kind, every node up and running. */
void sim_end_faults(sim_world *w)
{
    w->faults = false;
    heal(w);
    sim_trace(w, "FAULTS END: heal, restart and resume every node");
    for (int i = 1; i <= w->n; i++) {
        sim_node *nd = &w->nodes[i];
        if (nd->r == NULL) {
            sim_node_start(w, i);
        } else if (nd->paused) {
            nd->paused = false;
            sim_node_drive(w, i);
        }
    }
}
