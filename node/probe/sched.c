/* sched.c: the monitor's schedule, a min-heap and a FIFO lane a recurring period (why: sched.h).
 * The event due first is the earliest of the heap's top and each lane's head: with at most
 * MD_SCHED_LANES lanes, a few compares. */
#include "sched.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FROM_HEAP (-1)

int md_sched_init(md_sched *s, size_t heap_cap)
{
    assert(s);
    memset(s, 0, sizeof *s);
    return md_sched_heap_init(&s->heap, heap_cap);
}

void md_sched_free(md_sched *s)
{
    if (!s)
        return;
    md_sched_heap_free(&s->heap);
    for (size_t i = 0; i < s->n_lanes; i++)
        free(s->lane[i].ev);
    memset(s, 0, sizeof *s);
}

int md_sched_add_lane(md_sched *s, uint32_t period_ms, size_t cap)
{
    assert(period_ms > 0 && cap > 0 && s->len == 0);
    for (size_t i = 0; i < s->n_lanes; i++)
        if (s->lane[i].period_ms == period_ms)
            return -EEXIST;
    if (s->n_lanes == MD_SCHED_LANES)
        return -ENOSPC;
    md_sched_lane *l = &s->lane[s->n_lanes];
    l->ev = calloc(cap, sizeof *l->ev);
    if (!l->ev)
        return -ENOMEM;
    l->period_ms = period_ms;
    l->head = l->len = 0;
    l->cap = cap;
    s->n_lanes++;
    return 0;
}

static const md_sched_ev *lane_tail(const md_sched_lane *l)
{
    assert(l->len > 0);
    return &l->ev[(l->head + l->len - 1) % l->cap];
}

void md_sched_push(md_sched *s, md_sched_ev ev)
{
    s->len++;
    for (size_t i = 0; ev.period_ms != 0 && i < s->n_lanes; i++) {
        md_sched_lane *l = &s->lane[i];
        if (l->period_ms != ev.period_ms)
            continue;
        /* Only in order: one due before the tail (a first check's jitter, a slot skipped after a
         * stall) waits in the heap, and comes back here at its next period. */
        if (l->len < l->cap && (l->len == 0 || lane_tail(l)->due_us <= ev.due_us)) {
            l->ev[(l->head + l->len) % l->cap] = ev;
            l->len++;
            return;
        }
        break;
    }
    md_sched_heap_push(&s->heap, ev);
}

/* Where the event due first is: FROM_HEAP or a lane's index. len > 0. */
static int first_from(const md_sched *s)
{
    assert(s->len > 0);
    int from = FROM_HEAP;
    bool have = s->heap.len > 0;
    int64_t due = have ? s->heap.ev[0].due_us : 0;
    for (size_t i = 0; i < s->n_lanes; i++) {
        const md_sched_lane *l = &s->lane[i];
        if (l->len > 0 && (!have || l->ev[l->head].due_us < due)) {
            due = l->ev[l->head].due_us;
            from = (int)i;
            have = true;
        }
    }
    assert(have);
    return from;
}

md_sched_ev md_sched_first(const md_sched *s)
{
    int from = first_from(s);
    return from == FROM_HEAP ? s->heap.ev[0] : s->lane[from].ev[s->lane[from].head];
}

md_sched_ev md_sched_pop(md_sched *s)
{
    int from = first_from(s);
    s->len--;
    if (from == FROM_HEAP)
        return md_sched_heap_pop(&s->heap);
    md_sched_lane *l = &s->lane[from];
    md_sched_ev ev = l->ev[l->head];
    l->head = (l->head + 1) % l->cap;
    l->len--;
    return ev;
}

void md_sched_requeue_first(md_sched *s, int64_t due_us)
{
    int from = first_from(s);
    if (from == FROM_HEAP && s->n_lanes == 0) {
        md_sched_heap_requeue_top(&s->heap, due_us); /* one sift, not a pop and a push */
        return;
    }
    md_sched_ev ev = md_sched_pop(s);
    assert(due_us >= ev.due_us);
    ev.due_us = due_us;
    md_sched_push(s, ev);
}
