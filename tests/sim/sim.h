/* sim.h: the deterministic Raft cluster simulator's shared types (tests/sim/).
 *
 * One seeded PRNG drives everything: message drops, delays, duplicates and reorders,
 * partitions, crashes (losing writes not yet durable), restarts, pauses, per-node clock rate
 * drift, client proposals, compactions, leadership transfers and "connection closed" hints
 * (raft_peer_lost: after a crash, and false ones). Virtual time only; the same
 * seed replays the same run exactly. Invariants are checked after every step (sim_check.c). */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft.h"

#define SIM_MAX_NODES RAFT_MAX_NODES

typedef struct sim_remedy sim_remedy; /* sim_remedy.c: the remediation layer (--remedy) */

/* The PRNG (splitmix64): every random choice of a run comes from the world's one instance. */
typedef struct {
    uint64_t s;
} sim_rng;

static inline uint64_t sim_rand(sim_rng *g)
{
    uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t sim_below(sim_rng *g, uint64_t n)
{
    return n ? sim_rand(g) % n : 0;
}

/* true with probability pm / 1000 */
static inline bool sim_chance(sim_rng *g, uint32_t pm)
{
    return sim_below(g, 1000) < pm;
}

typedef enum { EV_DELIVER = 1, EV_TICK, EV_PERSIST, EV_RESUME, EV_CRASH, EV_RESTART, EV_PEER_LOST } sim_ev_type;

typedef struct {
    uint64_t time;
    uint64_t seq;       /* ties broken by insertion order: deterministic */
    uint8_t type;       /* sim_ev_type */
    uint8_t node;       /* the node it happens at */
    uint8_t from;       /* EV_DELIVER: sender; EV_CRASH: 1 for a reboot (restart soon after);
                         * EV_PEER_LOST: the peer whose connection closed */
    uint32_t gen;       /* EV_TICK/EV_PERSIST: the node's generation when scheduled */
    uint32_t len;
    uint8_t *buf;       /* EV_DELIVER: the encoded message, owned by the event */
} sim_event;

typedef struct {
    sim_event *v;
    size_t n, cap;
} sim_heap;

/* The simulated disk: only what the node made durable (batches it advanced past). */
typedef struct {
    raft_hard_state hs;
    bool has_snap;
    uint64_t snap_index, snap_term;
    uint8_t *snap_data;
    uint32_t snap_len;
    raft_entry *log;    /* entries after the snapshot; each owns its data */
    size_t n, cap;
    bool recovering;    /* the node's "recovering" marker file: written (durably) when it starts
                         * without hard state, removed once raft_recovering turns false, so a
                         * crash before it caught up does not make it forget (as the node does) */
} sim_disk;

typedef struct {
    raft *r;            /* NULL while crashed */
    sim_disk disk;
    raft_update u;      /* the outstanding batch, written but not yet durable */
    bool staged;
    uint32_t gen;       /* bumped on crash and on every reschedule of the tick */
    uint32_t life;      /* bumped on crash: persist events of an earlier life are void */
    uint64_t tick_at;
    bool paused;
    uint64_t pause_until;
    int64_t ppm;        /* clock rate error, parts per million */
    uint64_t offset;    /* clock value at virtual time 0 */
    /* The state machine: a hash chain over every applied entry. */
    uint64_t sm_index, sm_term, sm_hash;
    /* Check bookkeeping. */
    uint64_t checked_commit;
    raft_role seen_role;
    uint64_t seen_term;
} sim_node;

typedef struct {
    uint64_t term;
    uint64_t hash;
    uint64_t in_term;   /* the term of the node that first showed it committed (its leader's) */
    bool set;
} sim_committed;

typedef struct {
    uint64_t index, term;  /* key; index 0 = empty slot */
    uint64_t data_hash;
    uint64_t prev_term;
} sim_entry_rec;

/* Per-seed knobs, all drawn from the seed. */
typedef struct {
    uint32_t heartbeat_ms, election_ms, drift_ms;
    uint32_t max_entries, max_inflight;
    uint32_t snap_chunk;                    /* raft_config.max_snapshot_chunk (0: the default) */
    uint32_t drop_pm, dup_pm, long_pm;     /* per message */
    uint32_t delay_max_ms, long_max_ms;
    uint32_t fsync_max_ms;
    uint32_t action_pm;                     /* chance a step is a fault/client action */
    uint32_t propose_pm;                    /* chance such an action is a client proposal */
    uint32_t leader_crash_pm;               /* chance a new leader crashes moments later */
    uint32_t commit_crash_pm;               /* chance a leader crashes moments after committing */
    uint32_t fsync_crash_pm;                /* chance a node crashes while a batch is being synced */
    uint32_t max_ppm;                       /* clock rate error bound */
    uint32_t hint_pm;                       /* chance a peer learns of a crash by its connection closing */
} sim_params;

typedef struct {
    uint64_t seed;
    int n;
    uint64_t steps;         /* safety-phase steps */
    bool trace;             /* format a line per step into the trace ring */
    bool trace_print;       /* ... and print it at once */
    uint64_t digest;        /* with trace: a hash of every trace line (replay determinism) */

    sim_params p;
    sim_rng rng;
    uint64_t now;           /* virtual ms */
    uint64_t seq;
    uint64_t step;
    bool faults;            /* false in the liveness phase */
    sim_heap heap;
    sim_node nodes[SIM_MAX_NODES + 1];
    bool link[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* link[a][b]: a's messages reach b */
    uint64_t link_last[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* latest delivery scheduled */
    uint64_t proposals;

    /* Global truth for the checks. */
    raft_id *leader_of;     /* by term */
    size_t n_leader_of;
    sim_committed *committed; /* by index: the entry committed there */
    size_t cap_committed;
    uint64_t global_commit;
    uint64_t *chain;        /* by index: state machine hash after applying it; 0 unknown */
    size_t cap_chain;
    sim_entry_rec *entries; /* open addressing on (index, term) */
    size_t cap_entries, n_entries;

    /* Result. */
    bool failed;
    char why[512];
    uint64_t fail_step;

    /* Stats. */
    uint64_t elections, crashes, snapshots_sent, transfers, msgs, leader_changes;
    uint64_t snap_chunks;       /* SNAPSHOT messages sent that hold part of a snapshot only */
    uint64_t snap_installs;     /* snapshots installed from a leader's */
    uint64_t liveness_ms;

    sim_remedy *rem;        /* NULL unless --remedy */
    uint64_t nemesis_until; /* --nemesis bridge-reboot: the current scenario runs until then */
    int disk_lost;          /* --disk-loss: the node whose disk was wiped, until it recovered; 0 none */
    uint64_t disks_lost;    /* stats */

    /* Trace ring. */
    char **ring;
    size_t ring_cap, ring_n, ring_head;
} sim_world;

/* sim_base.c */
void *sim_xmalloc(size_t n);              /* aborts on exhaustion: the simulator has no plan B */
uint64_t sim_virtual_at(const sim_world *w, int i, uint64_t t); /* first time node i's clock reads t */
uint64_t sim_mix(uint64_t h, uint64_t v);
/* sim_pad_byte: byte k of a snapshot's padding, a function of its state hash, so that a snapshot
 * assembled from chunks of two different ones does not restore. */
uint8_t sim_pad_byte(uint64_t state_hash, uint32_t k);
/* sim_grow makes *v (of *cap elements) hold index need, zeroing the new part; aborts on exhaustion. */
void sim_grow(void **v, size_t *cap, size_t need, size_t elem);

/* sim_world.c */
void sim_disk_snapshot(sim_world *w, int i, uint64_t index, uint64_t term, const uint8_t *data, uint32_t len);
void sim_world_init(sim_world *w, uint64_t seed, int n, uint64_t steps);
void sim_world_free(sim_world *w);
uint64_t sim_local_now(const sim_world *w, int i);
void sim_heap_push(sim_world *w, sim_event ev);
bool sim_heap_pop(sim_world *w, sim_event *ev);
void sim_node_start(sim_world *w, int i);
void sim_node_crash(sim_world *w, int i);
void sim_node_wipe(sim_world *w, int i); /* the crashed node i's disk is gone */
void sim_peer_lost_soon(sim_world *w, int at, int peer); /* schedules a raft_peer_lost hint */
void sim_node_drive(sim_world *w, int i);
/* sim_node_persist_now: node/consensus.c's propose: each ready batch is made durable inside the
 * call (a blocking fsync), then sent and applied, until nothing is ready; a cluster of one thus
 * commits and applies its own proposal before the call returns. Nothing happens while a batch
 * is already being persisted (it all follows when that one lands). */
void sim_node_persist_now(sim_world *w, int i);
bool sim_process_event(sim_world *w, const sim_event *ev); /* false: stale, not a step */
void sim_fail(sim_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_trace(sim_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t sim_entry_hash(const raft_entry *e);

/* sim_faults.c */
/* --nemesis bridge-reboot: instead of the general fault mix, every action replays one scenario:
 * the leader and one follower are cut apart, a third node bridges them and reboots after the
 * cut-off follower has started asking for votes (what a node that forgets its leader on restart
 * gets wrong). */
extern bool sim_opt_bridge_reboot;
/* --disk-loss: a crash sometimes also wipes the node's disk (hard state, snapshot and log), one
 * node at a time: the next may lose its disk only once the last has caught up (raft_recovering
 * false). While one is lost, durability (invariant 6) asks a majority minus that one disk. */
extern bool sim_opt_disk_loss;
void sim_action(sim_world *w);
void sim_end_faults(sim_world *w);

/* sim_check.c */
void sim_check_ready_entries(sim_world *w, int i, const raft_update *u);
void sim_check_apply(sim_world *w, int i, uint64_t index, uint64_t term, uint64_t hash_after);
void sim_check_restore(sim_world *w, int i, uint64_t index, uint64_t hash);
void sim_check_step(sim_world *w);
/* sim_check_commits records what node i has committed so far (sim_check_step does it after every
 * step; a step that commits and applies at once, sim_node_persist_now, needs it in between). */
void sim_check_commits(sim_world *w, int i);
void sim_check_free(sim_world *w);
bool sim_committed_at(const sim_world *w, uint64_t index, uint64_t *term, uint64_t *hash);

/* sim_remedy.c: the ledger and escalation core on every node (--remedy sets sim_opt_remedy) */
extern bool sim_opt_remedy;
void sim_remedy_init(sim_world *w);
void sim_remedy_free(sim_world *w);
void sim_remedy_node_start(sim_world *w, int i);
void sim_remedy_restore(sim_world *w, int i, const uint8_t *data, size_t len);
int sim_remedy_snapshot(sim_world *w, int i, uint8_t **out, size_t *len); /* *out malloc'd, caller frees */
void sim_remedy_apply(sim_world *w, int i, const raft_entry *e);
void sim_remedy_poll(sim_world *w);
void sim_remedy_stats(const sim_world *w, uint64_t *intents, uint64_t *executions, uint64_t *lost);

/* sim_run.c */
typedef struct {
    bool failed;
    bool liveness;          /* the failure is a liveness failure */
    uint64_t fail_step;
    char why[512];
    uint64_t steps_done;
    uint64_t liveness_ms;   /* from the end of faults until the probe entry is applied everywhere */
    uint64_t commit_ms;     /* from the end of faults until it committed (the bound is 20 T) */
    uint64_t virtual_ms;
    uint64_t elections;
    uint64_t digest;
    uint32_t election_ms;   /* the run's T, to express liveness_ms in election timeouts */
    uint64_t intents, executions, results_lost; /* --remedy */
    uint64_t snap_chunks, snap_installs;
} sim_result;

sim_result sim_run(uint64_t seed, int n, uint64_t steps, bool trace, bool trace_print, size_t ring,
                   void (*dump)(sim_world *w));

#endif
