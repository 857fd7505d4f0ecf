/* sched.h: the monitor's schedule (internal to node/probe: monitor.c and its test): every due
 * event by time, in a min-heap plus a few FIFO lanes, one a recurring period. An event re-queued
 * one period after it was due is due after every event of its period already queued, so a lane
 * keeps them in order by appending: at 10,000 services the heap's sift to the bottom was about
 * nine cache misses a check (bench/check_instr CACHE=1), a lane's append and pop none. Events
 * that do not fit a lane's order (the first checks' jitter, early checks, a slot skipped after a
 * stall, periods beyond the lanes) stay in the heap. No allocation after md_sched_add_lane. */
#ifndef MD_PROBE_SCHED_H
#define MD_PROBE_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched_heap.h"

#define MD_SCHED_LANES 4

typedef struct {
    uint32_t period_ms;
    md_sched_ev *ev; /* owned: a ring of cap */
    size_t head, len, cap;
} md_sched_lane;

typedef struct {
    md_sched_heap heap;
    md_sched_lane lane[MD_SCHED_LANES];
    size_t n_lanes;
    size_t len; /* events in the heap and the lanes */
} md_sched;

/* Room for heap_cap events in the heap (every event may be there at once); 0 or -ENOMEM. */
int md_sched_init(md_sched *s, size_t heap_cap);
void md_sched_free(md_sched *s);

/* A lane for events recurring every period_ms, room for cap of them (no more than that many such
 * events may exist at once). 0; -ENOSPC when MD_SCHED_LANES exist (the period's events use the
 * heap), -EEXIST when the period has one, -ENOMEM. */
int md_sched_add_lane(md_sched *s, uint32_t period_ms, size_t cap);

void md_sched_push(md_sched *s, md_sched_ev ev);

/* len > 0: the event due first (of equal due times, any one) */
md_sched_ev md_sched_first(const md_sched *s);
/* len > 0: removes md_sched_first's event */
md_sched_ev md_sched_pop(md_sched *s);
/* len > 0: md_sched_first's event is due again at due_us (not before its due time now) */
void md_sched_requeue_first(md_sched *s, int64_t due_us);

#endif
