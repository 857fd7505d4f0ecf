/* sim_base.c: the simulator's plumbing: the event queue (a binary heap ordered by time, then
 * insertion), each node's clock (its own rate around virtual time), hashing, the first-failure
 * record and the trace ring. */
#include "sim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *sim_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "sim: out of memory\n");
        abort();
    }
    return p;
}

void sim_fail(sim_world *w, const char *fmt, ...)
{
    if (w->failed) {
        return; /* the first violation is the one to report */
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, sizeof w->why, fmt, ap);
    va_end(ap);
    w->failed = true;
    w->fail_step = w->step;
    sim_trace(w, "VIOLATION: %s", w->why);
}

void sim_trace(sim_world *w, const char *fmt, ...)
{
    if (!w->trace) {
        return;
    }
    char line[400];
    int off = snprintf(line, sizeof line, "%7lu %8lums  ", (unsigned long)w->step, (unsigned long)w->now);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
    va_end(ap);
    for (const char *c = line; *c; c++) {
        w->digest = (w->digest ^ (uint8_t)*c) * 0x100000001B3ull;
    }
    if (w->trace_print) {
        puts(line);
    }
    if (w->ring_cap == 0) {
        return;
    }
    size_t slot = (w->ring_head + w->ring_n) % w->ring_cap;
    if (w->ring_n == w->ring_cap) {
        slot = w->ring_head;
        w->ring_head = (w->ring_head + 1) % w->ring_cap;
    } else {
        w->ring_n++;
    }
    free(w->ring[slot]);
    w->ring[slot] = strdup(line);
}

/* ---- the event queue: a binary heap ordered by (time, seq) ---- */

static bool ev_less(const sim_event *a, const sim_event *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

void sim_heap_push(sim_world *w, sim_event ev)
{
    sim_heap *h = &w->heap;
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 1024;
        sim_event *v = realloc(h->v, h->cap * sizeof *v);
        if (v == NULL) {
            abort();
        }
        h->v = v;
    }
    ev.seq = w->seq++;
    size_t i = h->n++;
    while (i > 0 && ev_less(&ev, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = ev;
}

bool sim_heap_pop(sim_world *w, sim_event *ev)
{
    sim_heap *h = &w->heap;
    if (h->n == 0) {
        return false;
    }
    *ev = h->v[0];
    sim_event last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) {
            break;
        }
        if (c + 1 < h->n && ev_less(&h->v[c + 1], &h->v[c])) {
            c++;
        }
        if (!ev_less(&h->v[c], &last)) {
            break;
        }
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0) {
        h->v[i] = last;
    }
    return true;
}

/* ---- clocks: each node's monotonic clock runs at its own rate ---- */

static uint64_t local_at(const sim_world *w, int i, uint64_t vt)
{
    const sim_node *nd = &w->nodes[i];
    return nd->offset + vt + (uint64_t)((int64_t)vt * nd->ppm / 1000000);
}

uint64_t sim_local_now(const sim_world *w, int i)
{
    return local_at(w, i, w->now);
}

/* The first virtual time at which node i's clock reads at least t. */
uint64_t sim_virtual_at(const sim_world *w, int i, uint64_t t)
{
    if (t <= local_at(w, i, w->now)) {
        return w->now;
    }
    if (t == UINT64_MAX) {
        return UINT64_MAX;
    }
    uint64_t d = t - local_at(w, i, w->now);
    uint64_t vt = w->now + d * 1000000 / (uint64_t)(1000000 + w->nodes[i].ppm);
    while (local_at(w, i, vt) < t) {
        vt++;
    }
    while (vt > w->now && local_at(w, i, vt - 1) >= t) {
        vt--;
    }
    return vt;
}

/* ---- the state machine and the disk ---- */

uint64_t sim_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h *= 0xFF51AFD7ED558CCDull;
    return h ^ (h >> 33);
}

uint8_t sim_pad_byte(uint64_t state_hash, uint32_t k)
{
    return (uint8_t)sim_mix(state_hash, k);
}

uint64_t sim_entry_hash(const raft_entry *e)
{
    uint64_t h = sim_mix(0x1234567, e->index);
    h = sim_mix(h, e->term);
    h = sim_mix(h, e->type);
    for (uint32_t i = 0; i < e->len; i++) {
        h = sim_mix(h, e->data[i]);
    }
    return h;
}

void sim_grow(void **v, size_t *cap, size_t need, size_t elem)
{
    if (need < *cap) {
        return;
    }
    size_t n = *cap ? *cap : 256;
    while (n <= need) {
        n *= 2;
    }
    uint8_t *p = realloc(*v, n * elem);
    if (p == NULL) {
        abort();
    }
    memset(p + *cap * elem, 0, (n - *cap) * elem);
    *v = p;
    *cap = n;
}
