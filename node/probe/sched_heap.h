/* sched_heap.h: the monitor's schedule, a min-heap of due events by time (internal to
 * node/probe: monitor.c and its test). No allocation after md_sched_heap_init. */
#ifndef MD_PROBE_SCHED_HEAP_H
#define MD_PROBE_SCHED_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t due_us;
    uint32_t svc;            /* the caller's: which service */
    uint32_t period_ms : 30; /* the caller's: how often it recurs (up to 12 days), 0: once */
    uint32_t kind : 2;       /* the caller's: what is due */
} md_sched_ev;

#define MD_SCHED_PERIOD_MAX_MS ((1u << 30) - 1)

typedef struct {
    md_sched_ev *ev; /* owned; ev[0] is due first */
    size_t len, cap;
} md_sched_heap;

/* Room for cap events; 0 or -ENOMEM. */
int md_sched_heap_init(md_sched_heap *h, size_t cap);
void md_sched_heap_free(md_sched_heap *h);

/* len < cap */
void md_sched_heap_push(md_sched_heap *h, md_sched_ev ev);
/* len > 0: removes and returns the event due first */
md_sched_ev md_sched_heap_pop(md_sched_heap *h);
/* len > 0: the event due first is due again at due_us (not earlier than now): one sift instead
 * of a pop and a push, since every check re-queues its service so. */
void md_sched_heap_requeue_top(md_sched_heap *h, int64_t due_us);

#endif
