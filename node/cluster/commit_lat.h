/* commit_lat.h: the Raft leader's record of its own proposals: when each was proposed, when this
 * node saw it committed, the last MD_COMMIT_LAT_RING such latencies, and a count of the entries
 * committed since start. Pure and fixed-size (times are passed in, nothing is allocated), so
 * recording a proposal costs a few stores on the loop thread; consensus.c owns one. */
#ifndef MD_COMMIT_LAT_H
#define MD_COMMIT_LAT_H

#include <stddef.h>
#include <stdint.h>

/* Proposals awaiting their commit, by index modulo this; a proposal whose slot is taken by a
 * newer one before it commits is dropped (not measured), which only happens far beyond any
 * realistic backlog of a medic ledger. */
#define MD_COMMIT_LAT_PENDING 1024
/* Latencies kept for the quantiles: the newest this many. */
#define MD_COMMIT_LAT_RING 1024

typedef struct {
    uint64_t index; /* 0: free */
    int64_t at_us;
} md_commit_lat_slot;

typedef struct {
    md_commit_lat_slot pending[MD_COMMIT_LAT_PENDING];
    uint32_t ring_us[MD_COMMIT_LAT_RING];
    size_t ring_len, ring_next;
    uint64_t counted_upto;    /* the highest index counted in committed_total */
    uint64_t committed_total; /* entries seen committed since start, replayed ones excluded */
} md_commit_lat;

/* md_commit_lat_init empties l; entries up to commit_at_start (those this node replays from its
 * own log when it starts) are not counted as committed. */
void md_commit_lat_init(md_commit_lat *l, uint64_t commit_at_start);

/* md_commit_lat_proposed notes that this node, leading, appended index at now_us. */
void md_commit_lat_proposed(md_commit_lat *l, uint64_t index, int64_t now_us);

/* md_commit_lat_committed notes that index is committed, as this node learnt at now_us: counts
 * it, and records its latency when this node proposed it. Called in log order. */
void md_commit_lat_committed(md_commit_lat *l, uint64_t index, int64_t now_us);

/* md_commit_lat_forget drops pending proposals and kept latencies: called when this node stops
 * leading, since a later leader may replace what it proposed and only the leader reports. */
void md_commit_lat_forget(md_commit_lat *l);

/* md_commit_lat_summary gives the number of kept latencies and their median and 99th
 * percentile in ms (nearest rank; 0 with no samples). */
void md_commit_lat_summary(const md_commit_lat *l, size_t *samples, double *p50_ms, double *p99_ms);

#endif
