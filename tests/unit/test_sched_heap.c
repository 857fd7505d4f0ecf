/* test_sched_heap.c: the monitor's schedule heap against a plain list searched for its minimum:
 * pushes, pops and re-queues in random order keep the event due first on top and lose no event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "probe/sched_heap.h"

#define CAP 2000

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

static uint64_t rnd_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void test_against_model(void **state)
{
    (void)state;
    md_sched_heap h;
    assert_int_equal(md_sched_heap_init(&h, CAP), 0);
    model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    int64_t now = 0;
    uint32_t next_id = 0;
    for (int step = 0; step < 60000; step++) {
        unsigned op = (unsigned)(rnd() % 10);
        if (m->len == 0 || (op < 4 && m->len < CAP)) {
            /* due times collide often (many services share a due), so ties are exercised */
            md_sched_ev ev = {.due_us = now + (int64_t)(rnd() % 500), .svc = next_id++, .kind = (uint32_t)(rnd() % 3)};
            md_sched_heap_push(&h, ev);
            m->ev[m->len++] = ev;
        } else if (op < 6) {
            size_t k = model_min(m);
            md_sched_ev got = md_sched_heap_pop(&h);
            assert_int_equal(got.due_us, m->ev[k].due_us);
            /* among equal dues any may come first: find the one popped and remove it */
            size_t j = 0;
            while (j < m->len && !(m->ev[j].svc == got.svc && m->ev[j].due_us == got.due_us))
                j++;
            assert_true(j < m->len);
            assert_int_equal(m->ev[j].kind, got.kind);
            m->ev[j] = m->ev[--m->len];
            now = got.due_us;
        } else {
            size_t k = model_min(m);
            assert_int_equal(h.ev[0].due_us, m->ev[k].due_us);
            size_t j = 0;
            while (j < m->len && m->ev[j].svc != h.ev[0].svc)
                j++;
            assert_true(j < m->len);
            int64_t due = h.ev[0].due_us + 1 + (int64_t)(rnd() % 1000);
            md_sched_heap_requeue_top(&h, due);
            m->ev[j].due_us = due;
        }
        assert_int_equal(h.len, m->len);
        if (m->len > 0)
            assert_int_equal(h.ev[0].due_us, m->ev[model_min(m)].due_us);
    }
    /* draining gives every event left, in order of due time */
    int64_t last = INT64_MIN;
    size_t left = m->len;
    for (size_t i = 0; i < left; i++) {
        md_sched_ev got = md_sched_heap_pop(&h);
        assert_true(got.due_us >= last);
        last = got.due_us;
    }
    assert_int_equal(h.len, 0);
    free(m);
    md_sched_heap_free(&h);
    md_sched_heap_free(&h); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
