/* sim_world.c: the simulated cluster: the network, each node's disk and state machine, and
 * the caller's side of the core's contract (ready, persist, send, apply, advance) with a crash
 * able to strike between "written" and "durable". */
#include "sim.h"

#include <assert.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void disk_free_entries(sim_disk *d, size_t from)
{
    for (size_t i = from; i < d->n; i++) {
        free(d->log[i].data);
    }
    if (from < d->n) {
        d->n = from;
    }
}

static uint64_t disk_last(const sim_disk *d)
{
    return d->snap_index + d->n;
}

static void disk_append(sim_disk *d, const raft_entry *e)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        raft_entry *v = realloc(d->log, d->cap * sizeof *v);
        if (v == NULL) {
            abort();
        }
        d->log = v;
    }
    raft_entry c = *e;
    c.data = NULL;
    if (e->len) {
        c.data = sim_xmalloc(e->len);
        memcpy(c.data, e->data, e->len);
    }
    d->log[d->n++] = c;
}

static void disk_set_snapshot(sim_disk *d, uint64_t index, uint64_t term, const uint8_t *data, uint32_t len)
{
    /* Entries the snapshot covers go; later ones stay only if they continue it. */
    size_t keep_from = 0;
    if (index >= d->snap_index && index <= disk_last(d) && index > d->snap_index &&
        d->log[index - d->snap_index - 1].term == term) {
        keep_from = (size_t)(index - d->snap_index);
    } else {
        keep_from = d->n;
    }
    for (size_t i = 0; i < keep_from; i++) {
        free(d->log[i].data);
    }
    if (d->n > keep_from) {
        memmove(d->log, d->log + keep_from, (d->n - keep_from) * sizeof *d->log);
    }
    d->n -= keep_from;
    free(d->snap_data);
    d->snap_data = sim_xmalloc(len);
    memcpy(d->snap_data, data, len);
    d->snap_len = len;
    d->snap_index = index;
    d->snap_term = term;
    d->has_snap = true;
}

void sim_disk_snapshot(sim_world *w, int i, uint64_t index, uint64_t term, const uint8_t *data, uint32_t len)
{
    disk_set_snapshot(&w->nodes[i].disk, index, term, data, len);
}

/* Writes the first `ops` steps of batch u to node i's disk, in the order snapshot, truncation,
 * entries one by one, hard state (or with the hard state first if hs_first): all of them when
 * the batch is persisted, a prefix when a crash tears it. Returns false on a violation. */
static bool disk_write(sim_world *w, int i, const raft_update *u, size_t ops, bool hs_first)
{
    sim_disk *d = &w->nodes[i].disk;
    if (hs_first && ops > 0 && u->has_hard_state) {
        d->hs = u->hard_state;
        ops--;
    }
    if (ops > 0 && u->snapshot.present) {
        disk_set_snapshot(d, u->snapshot.index, u->snapshot.term, u->snapshot.data, u->snapshot.len);
        disk_free_entries(d, 0);
        ops--;
    }
    if (ops > 0 && u->truncate_from) {
        if (u->truncate_from <= d->snap_index) {
            sim_fail(w, "n%d: truncation at %lu below the snapshot %lu", i, (unsigned long)u->truncate_from,
                     (unsigned long)d->snap_index);
            return false;
        }
        if (u->truncate_from <= disk_last(d)) {
            disk_free_entries(d, (size_t)(u->truncate_from - d->snap_index - 1));
        }
        ops--;
    }
    for (size_t k = 0; k < u->n_entries && ops > 0; k++, ops--) {
        if (u->entries[k].index != disk_last(d) + 1) {
            sim_fail(w, "n%d: batch entry %lu does not follow the disk's last %lu", i,
                     (unsigned long)u->entries[k].index, (unsigned long)disk_last(d));
            return false;
        }
        disk_append(d, &u->entries[k]);
    }
    if (!hs_first && ops > 0 && u->has_hard_state) {
        d->hs = u->hard_state;
    }
    return true;
}

static size_t batch_ops(const raft_update *u)
{
    return (u->snapshot.present ? 1 : 0) + (u->truncate_from ? 1 : 0) + u->n_entries + (u->has_hard_state ? 1 : 0);
}

/* ---- the network ---- */

static void net_send(sim_world *w, int from, const raft_message *m)
{
    int to = (int)m->to;
    w->msgs++;
    if (m->type == RAFT_MSG_SNAPSHOT && m->snap_len < m->snap_total) {
        w->snap_chunks++;
    }
    if (!w->link[from][to] || (w->faults && sim_chance(&w->rng, w->p.drop_pm))) {
        return;
    }
    size_t len = raft_msg_encoded_len(m);
    int copies = 1 + (w->faults && sim_chance(&w->rng, w->p.dup_pm));
    for (int c = 0; c < copies; c++) {
        uint8_t *buf = sim_xmalloc(len);
        if (raft_msg_encode(m, buf, len) != (int)len) {
            sim_fail(w, "encode of %s failed", raft_msg_type_name(m->type));
        }
        uint64_t delay = 1 + sim_below(&w->rng, w->p.delay_max_ms);
        if (w->faults && sim_chance(&w->rng, w->p.long_pm)) {
            delay += sim_below(&w->rng, w->p.long_max_ms); /* reorders behind later messages */
        }
        uint64_t at = w->now + delay;
        if (!w->faults && at < w->link_last[from][to]) {
            at = w->link_last[from][to]; /* without faults a link is FIFO, like TCP */
        }
        w->link_last[from][to] = at;
        sim_heap_push(w, (sim_event){.time = at, .type = EV_DELIVER, .node = (uint8_t)to,
                                     .from = (uint8_t)from, .len = (uint32_t)len, .buf = buf});
    }
}

/* ---- node lifecycle ---- */

static void sm_restore(sim_world *w, int i, const uint8_t *data, uint32_t len)
{
    sim_node *nd = &w->nodes[i];
    if (len < 24) {
        sim_fail(w, "n%d: snapshot of %u bytes is not ours", i, len);
        return;
    }
    memcpy(&nd->sm_index, data, 8);
    memcpy(&nd->sm_term, data + 8, 8);
    memcpy(&nd->sm_hash, data + 16, 8);
    sim_check_restore(w, i, nd->sm_index, nd->sm_hash);
    if (w->rem) {
        sim_remedy_restore(w, i, data + 24, len - 24);
        return;
    }
    for (uint32_t k = 24; k < len; k++) {
        if (data[k] != sim_pad_byte(nd->sm_hash, k)) {
            sim_fail(w, "n%d restores a snapshot at %lu whose byte %u is not its own (mixed chunks?)", i,
                     (unsigned long)nd->sm_index, k);
            return;
        }
    }
}

void sim_node_start(sim_world *w, int i)
{
    sim_node *nd = &w->nodes[i];
    if (nd->r != NULL) {
        return;
    }
    raft_config c = {
        .id = (raft_id)i,
        .n_nodes = (uint32_t)w->n,
        .heartbeat_ms = w->p.heartbeat_ms,
        .election_timeout_ms = w->p.election_ms,
        .lease_drift_ms = w->p.drift_ms,
        .max_entries_per_msg = w->p.max_entries,
        .max_inflight = w->p.max_inflight,
        .max_snapshot_chunk = w->p.snap_chunk,
        .seed = sim_rand(&w->rng),
        .now_ms = sim_local_now(w, i),
        .hard_state = nd->disk.hs,
        .recovering = nd->disk.hs.term == 0 || nd->disk.recovering, /* as the node does */
        .entries = nd->disk.log,
        .n_entries = nd->disk.n,
    };
    if (nd->disk.has_snap) {
        c.snapshot = (raft_snapshot){.present = true, .index = nd->disk.snap_index, .term = nd->disk.snap_term,
                                     .len = nd->disk.snap_len, .data = nd->disk.snap_data};
    }
    nd->disk.recovering = c.recovering;
    char err[128] = "";
    int rc = raft_new(&c, &nd->r, err, sizeof err);
    if (rc != 0) {
        sim_fail(w, "n%d: raft_new from its disk failed: %d %s", i, rc, err);
        return;
    }
    nd->sm_index = nd->sm_term = nd->sm_hash = 0;
    if (w->rem) {
        sim_remedy_node_start(w, i);
    }
    if (nd->disk.has_snap) {
        sm_restore(w, i, nd->disk.snap_data, nd->disk.snap_len);
    }
    nd->checked_commit = raft_snapshot_index(nd->r);
    nd->seen_role = RAFT_FOLLOWER;
    nd->seen_term = raft_get_term(nd->r);
    nd->staged = false;
    nd->tick_at = UINT64_MAX;
    sim_trace(w, "n%d START term %lu log %lu..%lu commit %lu", i, (unsigned long)raft_get_term(nd->r),
              (unsigned long)raft_snapshot_index(nd->r), (unsigned long)raft_last_index(nd->r),
              (unsigned long)raft_get_commit(nd->r));
    sim_node_drive(w, i);
}

void sim_node_wipe(sim_world *w, int i)
{
    sim_node *nd = &w->nodes[i];
    assert(nd->r == NULL);
    disk_free_entries(&nd->disk, 0);
    free(nd->disk.log);
    free(nd->disk.snap_data);
    memset(&nd->disk, 0, sizeof nd->disk);
    w->disk_lost = i;
    w->disks_lost++;
    sim_trace(w, "n%d DISK LOST", i);
}

void sim_node_crash(sim_world *w, int i)
{
    sim_node *nd = &w->nodes[i];
    if (nd->r == NULL) {
        return;
    }
    sim_trace(w, "n%d CRASH (%s term %lu%s)", i, raft_role_name(raft_get_role(nd->r)),
              (unsigned long)raft_get_term(nd->r), nd->staged ? ", losing an unsynced batch" : "");
    if (nd->staged && sim_chance(&w->rng, 500)) {
        /* A torn batch: storage wrote part of it (in either order of log and hard state) before
         * the crash, but never acknowledged it, so none of its messages left. */
        size_t ops = sim_below(&w->rng, batch_ops(&nd->u) + 1);
        bool hs_first = sim_chance(&w->rng, 500);
        sim_trace(w, "n%d torn write: %zu of %zu steps reached the disk%s", i, ops, batch_ops(&nd->u),
                  hs_first ? " (hard state first)" : "");
        disk_write(w, i, &nd->u, ops, hs_first);
    }
    /* The kernel closes a dead process's connections: peers that can still reach it may see
     * theirs end (a hint, not a promise: across a cut link the FIN never arrives). */
    for (int j = 1; j <= w->n; j++) {
        if (j != i && w->link[i][j] && sim_chance(&w->rng, w->p.hint_pm)) {
            sim_peer_lost_soon(w, j, i);
        }
    }
    raft_free(nd->r); /* frees the outstanding batch too: it was never acknowledged */
    nd->r = NULL;
    nd->staged = false;
    nd->paused = false;
    nd->gen++;
    nd->life++;
    nd->tick_at = UINT64_MAX;
    w->crashes++;
}

void sim_peer_lost_soon(sim_world *w, int at, int peer)
{
    uint64_t when = w->now + 1 + sim_below(&w->rng, w->p.delay_max_ms);
    sim_heap_push(w, (sim_event){.time = when, .type = EV_PEER_LOST, .node = (uint8_t)at, .from = (uint8_t)peer});
}

static void schedule_tick(sim_world *w, int i)
{
    sim_node *nd = &w->nodes[i];
    uint64_t vt = sim_virtual_at(w, i, raft_next_timeout(nd->r));
    if (vt == nd->tick_at) {
        return;
    }
    nd->gen++;
    nd->tick_at = vt;
    if (vt != UINT64_MAX) {
        sim_heap_push(w, (sim_event){.time = vt, .type = EV_TICK, .node = (uint8_t)i, .gen = nd->gen});
    }
}

static void persist(sim_world *w, int i);

/* stage_next takes node i's next ready batch into nd->u and checks its entries; false when there
 * is none (or one is staged already, or the run failed). */
static bool stage_next(sim_world *w, int i)
{
    sim_node *nd = &w->nodes[i];
    if (nd->staged || !raft_has_ready(nd->r) || w->failed) {
        return false;
    }
    if (raft_ready(nd->r, &nd->u) != 0) {
        sim_fail(w, "n%d: raft_ready failed", i);
        return false;
    }
    sim_check_ready_entries(w, i, &nd->u);
    nd->staged = true;
    return true;
}

void sim_node_drive(sim_world *w, int i)
{
    sim_node *nd = &w->nodes[i];
    if (nd->r == NULL || nd->paused) {
        return;
    }
    while (stage_next(w, i)) {
        const raft_update *u = &nd->u;
        if (u->has_hard_state || u->snapshot.present || u->n_entries > 0 || u->truncate_from != 0) {
            /* Something to make durable: a crash may strike before the fsync completes. */
            uint64_t at = w->now + sim_below(&w->rng, w->p.fsync_max_ms + 1);
            if (w->faults && sim_chance(&w->rng, w->p.fsync_crash_pm)) {
                sim_heap_push(w, (sim_event){.time = at, .type = EV_CRASH, .node = (uint8_t)i, .gen = nd->life});
            }
            sim_heap_push(w, (sim_event){.time = at, .type = EV_PERSIST, .node = (uint8_t)i, .gen = nd->life});
            break;
        }
        persist(w, i); /* only messages and applies: nothing to wait for */
    }
    schedule_tick(w, i);
}

/* The batch is durable: write it to the disk, send, apply, advance. */
static void persist(sim_world *w, int i)
{
    sim_node *nd = &w->nodes[i];
    raft_update *u = &nd->u;
    if (!disk_write(w, i, u, SIZE_MAX, false)) {
        return;
    }
    for (size_t k = 0; k < u->n_msgs; k++) {
        net_send(w, i, &u->msgs[k]);
    }
    if (u->snapshot.present) {
        w->snap_installs++;
        sm_restore(w, i, u->snapshot.data, u->snapshot.len);
    }
    for (size_t k = 0; k < u->n_committed; k++) {
        const raft_entry *e = &u->committed[k];
        if (e->index != nd->sm_index + 1) {
            sim_fail(w, "n%d: applies %lu after %lu", i, (unsigned long)e->index, (unsigned long)nd->sm_index);
            return;
        }
        nd->sm_hash = sim_mix(nd->sm_hash, sim_entry_hash(e));
        nd->sm_index = e->index;
        nd->sm_term = e->term;
        sim_check_apply(w, i, e->index, e->term, nd->sm_hash);
        if (w->rem) {
            sim_remedy_apply(w, i, e);
        }
    }
    sim_trace(w, "n%d PERSIST%s%s ents %zu trunc %lu msgs %zu apply %zu (sm %lu)", i,
              u->has_hard_state ? " hs" : "", u->snapshot.present ? " SNAPSHOT" : "", u->n_entries,
              (unsigned long)u->truncate_from, u->n_msgs, u->n_committed, (unsigned long)nd->sm_index);
    raft_advance(nd->r, u);
    nd->staged = false;
}

void sim_node_persist_now(sim_world *w, int i)
{
    sim_node *nd = &w->nodes[i];
    if (nd->r == NULL || nd->paused) {
        return;
    }
    while (stage_next(w, i)) {
        sim_check_commits(w, i);
        persist(w, i);
    }
    schedule_tick(w, i);
}

static void trace_msg(sim_world *w, int i, const raft_message *m)
{
    sim_trace(w, "n%d <- n%u %s t%lu i%lu lt%lu c%lu n%u rej%u%s", i, m->from, raft_msg_type_name(m->type),
              (unsigned long)m->term, (unsigned long)m->index, (unsigned long)m->log_term,
              (unsigned long)m->commit, m->n_entries, m->reject, m->transfer ? " transfer" : "");
}

static void deliver(sim_world *w, const sim_event *ev)
{
    sim_node *nd = &w->nodes[ev->node];
    if (nd->r == NULL || !w->link[ev->from][ev->node]) {
        return; /* lost: the receiver is down or the link was cut while it flew */
    }
    raft_message m;
    int rc = raft_msg_decode(ev->buf, ev->len, &m);
    if (rc != 0) {
        sim_fail(w, "n%d: decoding a message from n%d failed: %d", ev->node, ev->from, rc);
        return;
    }
    if (w->trace) {
        trace_msg(w, ev->node, &m);
    }
    rc = raft_step(nd->r, &m, sim_local_now(w, ev->node));
    if (rc != 0) {
        sim_fail(w, "n%d: raft_step(%s from n%d) = %d: %s", ev->node, raft_msg_type_name(m.type), ev->from, rc,
                 raft_errmsg(nd->r));
    }
    raft_msg_release(&m);
}

/* Processes one event; false if it was void (a stale timer, a postponed event). */
bool sim_process_event(sim_world *w, const sim_event *ev)
{
    sim_node *nd = &w->nodes[ev->node];
    switch (ev->type) {
    case EV_TICK:
        if (nd->r == NULL || ev->gen != nd->gen || nd->paused) {
            return false; /* superseded; a paused node is rescheduled when it resumes */
        }
        nd->tick_at = UINT64_MAX;
        raft_tick(nd->r, sim_local_now(w, ev->node));
        if (w->trace) {
            sim_trace(w, "n%d TICK %s term %lu", ev->node, raft_role_name(raft_get_role(nd->r)),
                      (unsigned long)raft_get_term(nd->r));
        }
        break;
    case EV_PERSIST:
        if (nd->r == NULL || ev->gen != nd->life || !nd->staged) {
            return false;
        }
        if (nd->paused) {
            sim_event again = *ev;
            again.time = nd->pause_until;
            sim_heap_push(w, again);
            return false;
        }
        persist(w, ev->node);
        break;
    case EV_DELIVER:
        if (nd->r != NULL && nd->paused) {
            sim_event again = *ev; /* the OS buffers it until the process runs again */
            again.time = nd->pause_until;
            sim_heap_push(w, again);
            return false;
        }
        deliver(w, ev);
        free(ev->buf);
        break;
    case EV_PEER_LOST:
        if (nd->r == NULL) {
            return false;
        }
        if (nd->paused) {
            sim_event again = *ev; /* read when the process runs again */
            again.time = nd->pause_until;
            sim_heap_push(w, again);
            return false;
        }
        sim_trace(w, "n%d PEER LOST n%d", ev->node, ev->from);
        if (raft_peer_lost(nd->r, ev->from, sim_local_now(w, ev->node)) != 0) {
            sim_fail(w, "n%d: raft_peer_lost(n%d) refused", ev->node, ev->from);
        }
        break;
    case EV_CRASH:
        if (nd->r == NULL || ev->gen != nd->life || !w->faults) {
            return false;
        }
        sim_node_crash(w, ev->node);
        if (ev->from) { /* a reboot: up again within half an election timeout */
            uint64_t at = w->now + 1 + sim_below(&w->rng, w->p.election_ms / 2);
            sim_heap_push(w, (sim_event){.time = at, .type = EV_RESTART, .node = ev->node, .gen = nd->life});
        }
        return true;
    case EV_RESTART:
        if (nd->r != NULL || ev->gen != nd->life) {
            return false;
        }
        sim_node_start(w, ev->node);
        return true;
    case EV_RESUME:
        if (nd->r == NULL || !nd->paused || nd->pause_until != ev->time) {
            return false;
        }
        nd->paused = false;
        sim_trace(w, "n%d RESUME", ev->node);
        break;
    default:
        return false;
    }
    if (nd->r != NULL) {
        sim_node_drive(w, ev->node);
    }
    return true;
}

static void pick_params(sim_world *w)
{
    sim_rng *g = &w->rng;
    sim_params *p = &w->p;
    p->heartbeat_ms = 20 + (uint32_t)sim_below(g, 40);
    /* Few heartbeats per election timeout: more elections (the interesting part) per step. */
    p->election_ms = 3 * p->heartbeat_ms + (uint32_t)sim_below(g, 8 * p->heartbeat_ms);
    p->max_ppm = (uint32_t)sim_below(g, 5001);             /* up to 0.5% */
    /* Two clocks differ in rate by at most 2 * max_ppm: over T that is T * 2e-6 * max_ppm ms.
     * The margin covers it (plus a ms of rounding) and no more, so the lease check is tight. */
    p->drift_ms = (uint32_t)((uint64_t)p->election_ms * 2 * p->max_ppm / 1000000) + 2;
    p->max_entries = 1 + (uint32_t)sim_below(g, 8);
    p->max_inflight = 1 + (uint32_t)sim_below(g, 8);
    p->drop_pm = (uint32_t)sim_below(g, 150);
    p->dup_pm = (uint32_t)sim_below(g, 60);
    p->long_pm = (uint32_t)sim_below(g, 40);
    p->delay_max_ms = 1 + (uint32_t)sim_below(g, p->heartbeat_ms);
    p->long_max_ms = 2 * p->election_ms;
    p->fsync_max_ms = (uint32_t)sim_below(g, 6);
    p->action_pm = 20 + (uint32_t)sim_below(g, 60);
    /* Half the seeds are busy with clients; the others range down to idle, where a log that
     * stops growing lets stale candidates look up to date (what stickiness must then stop). */
    p->propose_pm = sim_chance(g, 500) ? 470 : (uint32_t)sim_below(g, 470);
    p->leader_crash_pm = (uint32_t)sim_below(g, 300);
    p->commit_crash_pm = (uint32_t)sim_below(g, 100);
    p->fsync_crash_pm = (uint32_t)sim_below(g, 10);
    p->hint_pm = sim_chance(g, 250) ? 0 : (uint32_t)sim_below(g, 1001);
    /* Snapshots (24-60 bytes; with --remedy the ledger's, some 16 times that) in chunks: whole
     * in a quarter of the seeds, in up to 60 chunks (about as many with --remedy) in the others.
     * Drawn from the seed's hash, not the stream above, so every other knob of a seed stays what
     * it was before chunks existed. */
    uint64_t h = sim_mix(w->seed, 0x5eed5a4b);
    static const uint32_t tier_min[4] = {0, 1, 5, 17}, tier_span[4] = {1, 4, 12, 24};
    p->snap_chunk = h % 4 == 0 ? 0 : tier_min[h % 4] + (uint32_t)((h >> 8) % tier_span[h % 4]);
    p->snap_chunk *= sim_opt_remedy ? 16 : 1;
}

void sim_world_init(sim_world *w, uint64_t seed, int n, uint64_t steps)
{
    memset(w, 0, sizeof *w);
    w->seed = seed;
    w->n = n;
    w->steps = steps;
    w->rng.s = seed * 0x2545F4914F6CDD1Dull + 0x1234;
    w->faults = true;
    w->now = 1;
    pick_params(w);
    for (int i = 1; i <= n; i++) {
        sim_node *nd = &w->nodes[i];
        int64_t span = 2 * (int64_t)w->p.max_ppm + 1;
        nd->ppm = (int64_t)sim_below(&w->rng, (uint64_t)span) - (int64_t)w->p.max_ppm;
        nd->offset = 1000 + sim_below(&w->rng, 1000000);
        nd->tick_at = UINT64_MAX;
        for (int j = 1; j <= n; j++) {
            w->link[i][j] = true;
        }
    }
}

void sim_world_free(sim_world *w)
{
    for (int i = 1; i <= w->n; i++) {
        sim_node *nd = &w->nodes[i];
        raft_free(nd->r);
        disk_free_entries(&nd->disk, 0);
        free(nd->disk.log);
        free(nd->disk.snap_data);
    }
    sim_event ev;
    while (sim_heap_pop(w, &ev)) {
        if (ev.type == EV_DELIVER) {
            free(ev.buf);
        }
    }
    free(w->heap.v);
    sim_check_free(w);
    sim_remedy_free(w);
    for (size_t k = 0; k < w->ring_cap; k++) {
        free(w->ring[k]);
    }
    free(w->ring);
}
