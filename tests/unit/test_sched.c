/* test_sched.c: the monitor's schedule (a heap and a lane a period) against a plain list searched
 * for its minimum: pushes, pops and re-queues in random order, with the heap alone (its one-sift
 * re-queue) and with more periods than lanes, always give an event due first and lose none; and
 * a steady cadence runs from the lanes alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "probe/sched.h"

#define CAP 3000
#define N_PERIODS 6 /* two more than the lanes: those periods' events stay in the heap */

static const uint32_t PERIODS[N_PERIODS] = { 100, 250, 1000, 7, 333, 50 };

typedef struct {
    md_sched_ev ev[CAP];
    size_t len;
} model;

static size_t model_min(const model *m)
{
    size_t best = 0;
    for (size_t i = 1; i < m->len; i++)
        if (m->ev[i].due_us < m->ev[best].due_us)
            best = i;
    return best;
}

static size_t model_find(const model *m, uint32_t svc)
{
    size_t j = 0;
    while (j < m->len && m->ev[j].svc != svc)
        j++;
    assert_true(j < m->len);
    return j;
}

static uint64_t rnd_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void run_against_model(bool lanes)
{
    md_sched s;
    assert_int_equal(md_sched_init(&s, CAP), 0);
    for (int p = 0; lanes && p < N_PERIODS; p++) {
        int rc = md_sched_add_lane(&s, PERIODS[p], CAP / 2);
        assert_int_equal(rc, p < MD_SCHED_LANES ? 0 : -ENOSPC);
    }
    if (lanes)
        assert_int_equal(md_sched_add_lane(&s, PERIODS[0], 10), -EEXIST);
    model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    size_t per_period[N_PERIODS + 1] = { 0 };
    int64_t now = 0;
    uint32_t next_id = 0;
    for (int step = 0; step < 80000; step++) {
        unsigned op = (unsigned)(rnd() % 10);
        if (m->len == 0 || (op < 4 && m->len < CAP)) {
            /* period index N_PERIODS: a one-shot event (period 0); a lane takes no more than
             * its room, so each period's live events are bounded by it */
            unsigned pi = (unsigned)(rnd() % (N_PERIODS + 1));
            if (pi < N_PERIODS && per_period[pi] >= CAP / 2)
                pi = N_PERIODS;
            per_period[pi]++;
            /* due times collide often (many services share a due), so ties are exercised */
            md_sched_ev ev = { .due_us = now + (int64_t)(rnd() % 500), .svc = next_id++,
                               .period_ms = pi < N_PERIODS ? PERIODS[pi] : 0, .kind = pi % 3 };
            md_sched_push(&s, ev);
            m->ev[m->len++] = ev;
        } else if (op < 6) {
            size_t k = model_min(m);
            md_sched_ev got = md_sched_pop(&s);
            assert_int_equal(got.due_us, m->ev[k].due_us);
            size_t j = model_find(m, got.svc); /* among equal dues any may come first */
            assert_int_equal(m->ev[j].due_us, got.due_us);
            assert_int_equal(m->ev[j].kind, got.kind);
            assert_int_equal(m->ev[j].period_ms, got.period_ms);
            unsigned pi = 0;
            while (pi < N_PERIODS && PERIODS[pi] != got.period_ms)
                pi++;
            per_period[pi]--;
            m->ev[j] = m->ev[--m->len];
            now = got.due_us;
        } else {
            md_sched_ev first = md_sched_first(&s);
            assert_int_equal(first.due_us, m->ev[model_min(m)].due_us);
            size_t j = model_find(m, first.svc);
            /* mostly one period on, as the monitor does; sometimes anywhere later (a skipped
             * slot), which can be before events of its period already queued */
            int64_t due = op < 9 && first.period_ms ? first.due_us + first.period_ms
                                                     : first.due_us + 1 + (int64_t)(rnd() % 1000);
            md_sched_requeue_first(&s, due);
            m->ev[j].due_us = due;
        }
        assert_int_equal(s.len, m->len);
        if (m->len > 0)
            assert_int_equal(md_sched_first(&s).due_us, m->ev[model_min(m)].due_us);
    }
    /* draining gives every event left, in order of due time */
    int64_t last = INT64_MIN;
    size_t left = m->len;
    for (size_t i = 0; i < left; i++) {
        md_sched_ev got = md_sched_pop(&s);
        assert_true(got.due_us >= last);
        last = got.due_us;
    }
    assert_int_equal(s.len, 0);
    free(m);
    md_sched_free(&s);
    md_sched_free(&s); /* twice is harmless */
}

static void test_heap_against_model(void **state)
{
    (void)state;
    run_against_model(false);
}

static void test_lanes_against_model(void **state)
{
    (void)state;
    run_against_model(true);
}

/* The monitor's steady state: services of two periods, first due at random (jitter), each
 * re-queued one period after it was due. After the first round every event runs from its lane,
 * and the heap is empty: what saves the sift's cache misses. */
static void test_steady_cadence_uses_lanes(void **state)
{
    (void)state;
    enum { N = 1000 };
    md_sched s;
    assert_int_equal(md_sched_init(&s, N), 0);
    assert_int_equal(md_sched_add_lane(&s, 1000, N / 2), 0);
    assert_int_equal(md_sched_add_lane(&s, 300, N / 2), 0);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t period = i % 2 ? 1000 : 300;
        md_sched_push(&s, (md_sched_ev){ .due_us = (int64_t)(rnd() % period), .svc = i, .period_ms = period });
    }
    assert_true(s.heap.len > 0); /* the jitter is out of order */
    int64_t last = INT64_MIN;
    for (int k = 0; k < 20 * N; k++) {
        md_sched_ev ev = md_sched_first(&s);
        assert_true(ev.due_us >= last);
        last = ev.due_us;
        md_sched_requeue_first(&s, ev.due_us + ev.period_ms);
    }
    assert_int_equal(s.len, N);
    assert_int_equal(s.heap.len, 0);
    assert_int_equal(s.lane[0].len + s.lane[1].len, N);
    md_sched_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_against_model),
        cmocka_unit_test(test_lanes_against_model),
        cmocka_unit_test(test_steady_cadence_uses_lanes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
