/* test_raft_fixture.h: a tiny hand-driven cluster for the Raft core's unit tests: n cores
 * with one shared clock, a disk each (what their batches persisted), and a queue of messages
 * in flight that tests deliver, drop or inspect one by one. Everything is synchronous: a
 * batch is persisted, its messages queued and it is advanced in one call (fx_flush). */
#ifndef TEST_RAFT_FIXTURE_H
#define TEST_RAFT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft.h"

#define FX_T 100        /* election timeout (minimum) */
#define FX_HB 10        /* heartbeat */
#define FX_DRIFT 10     /* lease drift margin */
#define FX_MAX 8

typedef struct {
    raft_hard_state hs;
    bool has_snap;
    uint64_t snap_index, snap_term;
    uint8_t snap_data[1024];
    uint32_t snap_len;
    raft_entry log[512];  /* after the snapshot; data points into bytes */
    uint8_t bytes[512][32];
    size_t n;
} fx_disk;

typedef struct {
    raft_message m;       /* a deep copy, owned by the queue */
    bool live;
} fx_msg;

typedef struct {
    int n;
    uint64_t now;
    uint64_t seed;
    uint32_t max_entries;
    uint32_t max_chunk;   /* raft_config.max_snapshot_chunk for every (re)start; 0: default */
    raft *r[FX_MAX + 1];
    fx_disk disk[FX_MAX + 1];
    bool recovering[FX_MAX + 1];       /* fx_restart passes it as raft_config.recovering */
    bool cut[FX_MAX + 1][FX_MAX + 1];  /* cut[a][b]: a's messages to b are dropped */
    fx_msg q[4096];
    size_t nq;
    /* What the last flushes handed out, for assertions. */
    uint64_t applied[FX_MAX + 1];       /* index of the last committed entry applied */
    uint64_t snapshots_installed[FX_MAX + 1];
    size_t sent[RAFT_MSG_TYPE_MAX + 1]; /* messages queued, by type */
} fx;

/* fx_new: n cores created at time 0 (they refuse votes until FX_T). */
fx *fx_new(int n, uint64_t seed);
/* fx_new_opts: as fx_new, with max entries per APPEND (0: default). */
fx *fx_new_opts(int n, uint64_t seed, uint32_t max_entries);
/* fx_new_chunked: as fx_new, with snapshots sent in chunks of at most max_chunk bytes. */
fx *fx_new_chunked(int n, uint64_t seed, uint32_t max_chunk);
void fx_free(fx *f);

/* fx_set_log: replace node i's disk with entries of the given terms (index 1..k) and hard
 * state term/vote, then restart it from that disk. */
void fx_set_log(fx *f, int i, const uint64_t *terms, size_t k, uint64_t hs_term);
/* fx_restart: the core of node i is freed and rebuilt from its disk at the current time. */
void fx_restart(fx *f, int i);

/* fx_flush: hand out, persist, queue the messages of and advance every ready batch of i. */
void fx_flush(fx *f, int i);
void fx_flush_all(fx *f);

/* fx_deliver_one: deliver queued message k (if its link is not cut) and flush the receiver.
 * Returns the raft_step result (or 1 if dropped by a cut). */
int fx_deliver_one(fx *f, size_t k);
/* fx_deliver_all: deliver everything queued now (not what that produces); returns how many. */
size_t fx_deliver_all(fx *f);
/* fx_settle: deliver until nothing is queued (bounded). */
void fx_settle(fx *f);
/* fx_find: index of the first live queued message matching (to, type) (0 = any), or -1. */
int fx_find(fx *f, int to, int type);
/* fx_drop: discard queued message k. fx_drop_all: discard everything queued. */
void fx_drop(fx *f, size_t k);
void fx_drop_all(fx *f);
size_t fx_queued(fx *f);

/* fx_set_time: move the shared clock forward to t (no ticks). */
void fx_set_time(fx *f, uint64_t t);
/* fx_tick: tick node i at the current time and flush it. */
void fx_tick(fx *f, int i);
/* fx_run: advance time in steps of step_ms for ms, ticking every node and settling. */
void fx_run(fx *f, uint64_t ms, uint64_t step_ms);

/* fx_elect: move time to node i's election deadline (at least FX_T), tick only i, settle. */
void fx_elect(fx *f, int i);
/* fx_leader: the node that is leader in the highest term, or 0. */
int fx_leader(fx *f);
/* fx_isolate: cut (or heal) every link to and from node i. */
void fx_isolate(fx *f, int i, bool cut);
void fx_heal(fx *f);

/* fx_propose: propose a small command on node i and flush it; returns raft_propose's result. */
int fx_propose(fx *f, int i, const char *text);

#endif
