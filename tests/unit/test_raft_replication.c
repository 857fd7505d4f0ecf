/* test_raft_replication.c: log replication in the Raft core: entries reach every node and are
 * applied once, in order; a conflicting suffix is cut (in storage too, in the same batch as
 * its replacement); the conflict hint finds the match point in one round trip instead of one
 * per entry; stale replies never move progress backwards; a lost APPEND is recovered. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

static void replicate_and_apply_in_order(void **state)
{
    (void)state;
    fx *f = fx_new(3, 41);
    fx_elect(f, 1);
    char cmd[16];
    for (int k = 0; k < 20; k++) {
        snprintf(cmd, sizeof cmd, "cmd%d", k);
        assert_int_equal(fx_propose(f, 1, cmd), 0);
    }
    fx_settle(f);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(raft_last_index(f->r[i]), 21);
        assert_int_equal(raft_get_commit(f->r[i]), 21);
        assert_int_equal(f->applied[i], 21); /* the fixture aborts on gaps or repeats */
        assert_int_equal(f->disk[i].n, 21);
        assert_memory_equal(f->disk[i].log[20].data, "cmd19", 5);
    }
    assert_int_equal(raft_propose(f->r[2], RAFT_ENTRY_NORMAL, "x", 1, NULL), -EPERM);
    fx_free(f);
}

static void conflicting_suffix_is_truncated(void **state)
{
    (void)state;
    fx *f = fx_new(3, 42);
    uint64_t winner[] = {1, 1, 3, 3};
    uint64_t loser[] = {1, 1, 2, 2, 2, 2, 2};
    fx_set_log(f, 1, winner, 4, 3);
    fx_set_log(f, 3, winner, 4, 3);
    fx_set_log(f, 2, loser, 7, 2);
    fx_elect(f, 1);
    assert_int_equal(fx_leader(f), 1);
    assert_int_equal(raft_last_index(f->r[2]), 5);
    assert_int_equal(f->disk[2].n, 5); /* the disk was cut at 3 before 3..5 were written */
    uint64_t want[] = {1, 1, 3, 3, 4};
    for (int k = 0; k < 5; k++) {
        assert_int_equal(raft_term_at(f->r[2], (uint64_t)k + 1), want[k]);
        assert_int_equal(f->disk[2].log[k].term, want[k]);
    }
    assert_int_equal(raft_get_commit(f->r[2]), 5);
    fx_free(f);
}

static size_t count_rejections(fx *f, int to_leader)
{
    size_t n = 0;
    for (int k; (k = fx_find(f, 0, 0)) >= 0;) {
        const raft_message *m = &f->q[k].m;
        if (m->type == RAFT_MSG_APPEND_RESP && (int)m->to == to_leader && m->reject == RAFT_REJECT_YES) {
            n++;
        }
        fx_deliver_one(f, (size_t)k);
    }
    return n;
}

static void conflict_hint_skips_whole_terms(void **state)
{
    (void)state;
    fx *f = fx_new(3, 43);
    uint64_t lead[61], follow[61];
    lead[0] = follow[0] = 1;
    for (int k = 1; k < 61; k++) {
        lead[k] = 3;
        follow[k] = 2;
    }
    fx_set_log(f, 1, lead, 61, 3);
    fx_set_log(f, 3, lead, 61, 3);
    fx_set_log(f, 2, follow, 61, 2);
    fx_set_time(f, 3 * FX_T);
    fx_tick(f, 1);
    size_t rejections = count_rejections(f, 1);
    assert_int_equal(fx_leader(f), 1);
    /* One entry at a time this would take 60 rejections; the hint jumps to index 1 at once. */
    assert_true(rejections >= 1 && rejections <= 2);
    assert_int_equal(raft_match_index(f->r[1], 2), 62);
    assert_int_equal(raft_term_at(f->r[2], 30), 3);
    fx_free(f);
}

static void stale_replies_do_not_regress(void **state)
{
    (void)state;
    fx *f = fx_new(3, 44);
    fx_elect(f, 1);
    fx_propose(f, 1, "a");
    fx_propose(f, 1, "b");
    fx_settle(f);
    uint64_t match = raft_match_index(f->r[1], 2);
    assert_int_equal(match, 3);
    raft_message old = {.type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1, .term = raft_get_term(f->r[1]),
                        .index = 1};
    assert_int_equal(raft_step(f->r[1], &old, f->now), 0);
    old.reject = RAFT_REJECT_YES; /* a rejection of an APPEND long answered */
    assert_int_equal(raft_step(f->r[1], &old, f->now), 0);
    fx_flush(f, 1);
    assert_int_equal(raft_match_index(f->r[1], 2), match);
    fx_settle(f);
    assert_int_equal(raft_match_index(f->r[1], 2), match);
    fx_free(f);
}

static void lost_append_is_recovered(void **state)
{
    (void)state;
    fx *f = fx_new_opts(3, 45, 1);
    fx_elect(f, 1);
    for (int k = 0; k < 5; k++) {
        fx_propose(f, 1, "e");
    }
    /* Node 3 never sees the last one: no later APPEND will reveal the gap. */
    size_t dropped = 0;
    for (size_t k = 0; k < f->nq; k++) {
        const raft_message *m = &f->q[k].m;
        if (f->q[k].live && m->to == 3 && m->type == RAFT_MSG_APPEND && m->n_entries == 1 &&
            m->entries[0].index == 6) {
            fx_drop(f, k);
            dropped++;
        }
    }
    assert_int_equal(dropped, 1);
    fx_deliver_all(f); /* 2..5 arrive */
    f->cut[1][3] = true; /* and it misses the commit broadcasts that would also reveal the gap */
    fx_settle(f);
    f->cut[1][3] = false;
    assert_int_equal(raft_last_index(f->r[3]), 5);
    assert_int_equal(raft_get_commit(f->r[1]), 6);
    fx_run(f, 5 * FX_HB, 1); /* heartbeats reveal the gap; the leader probes and resends */
    assert_int_equal(raft_last_index(f->r[3]), 6);
    assert_int_equal(raft_get_commit(f->r[3]), 6);
    fx_free(f);
}

static void bad_messages_are_errors(void **state)
{
    (void)state;
    fx *f = fx_new(3, 46);
    raft_message m = {.type = RAFT_MSG_APPEND, .from = 2, .to = 1, .term = 1};
    m.to = 3;
    assert_int_equal(raft_step(f->r[1], &m, 0), -EINVAL); /* not for us */
    m.to = 1;
    m.from = 9;
    assert_int_equal(raft_step(f->r[1], &m, 0), -EINVAL); /* no such node */
    m.from = 2;
    raft_entry e = {.term = 1, .index = 5, .type = RAFT_ENTRY_NORMAL};
    m.entries = &e;
    m.n_entries = 1;
    assert_int_equal(raft_step(f->r[1], &m, 0), -EINVAL); /* index does not follow prev */
    e.index = 1;
    e.term = 2;
    assert_int_equal(raft_step(f->r[1], &m, 0), -EINVAL); /* entry newer than the message */
    m.type = 99;
    assert_int_equal(raft_step(f->r[1], &m, 0), -EINVAL);
    assert_int_equal(raft_get_term(f->r[1]), 0);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replicate_and_apply_in_order),
        cmocka_unit_test(conflicting_suffix_is_truncated),
        cmocka_unit_test(conflict_hint_skips_whole_terms),
        cmocka_unit_test(stale_replies_do_not_regress),
        cmocka_unit_test(lost_append_is_recovered),
        cmocka_unit_test(bad_messages_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
