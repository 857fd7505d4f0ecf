/* test_raft_checkquorum.c: check-quorum in the Raft core: a leader that has not heard replies
 * from a majority (itself included) within an election timeout steps down; replies count,
 * sends do not; a leader that keeps hearing from a majority stays, even with a minority gone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

static void isolated_leader_steps_down_within_t(void **state)
{
    (void)state;
    fx *f = fx_new(3, 31);
    fx_elect(f, 1);
    fx_run(f, 3 * FX_HB, 1);
    uint64_t last_reply = f->now; /* replies were delivered up to now */
    fx_isolate(f, 1, true);
    fx_run(f, FX_T - 2, 1);
    assert_int_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    fx_run(f, last_reply + FX_T + 1 - f->now, 1);
    assert_int_equal(raft_get_role(f->r[1]), RAFT_FOLLOWER);
    assert_false(raft_lease_valid(f->r[1], f->now));
    fx_free(f);
}

static void replies_count_not_sends(void **state)
{
    (void)state;
    fx *f = fx_new(3, 32);
    fx_elect(f, 1);
    /* The leader's heartbeats still arrive, but no reply comes back. */
    f->cut[2][1] = f->cut[3][1] = true;
    size_t hb = f->sent[RAFT_MSG_HEARTBEAT];
    fx_run(f, FX_T + FX_HB, 1);
    assert_true(f->sent[RAFT_MSG_HEARTBEAT] > hb + 10); /* it kept sending */
    assert_int_equal(raft_get_role(f->r[1]), RAFT_FOLLOWER);
    fx_free(f);
}

static void majority_keeps_leader(void **state)
{
    (void)state;
    fx *f = fx_new(5, 33);
    fx_elect(f, 1);
    fx_isolate(f, 4, true);
    fx_isolate(f, 5, true);
    fx_run(f, 10 * FX_T, 3);
    assert_int_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    fx_isolate(f, 3, true); /* now only 2 of 5 reach it */
    fx_run(f, FX_T + FX_HB, 3);
    assert_int_equal(raft_get_role(f->r[1]), RAFT_FOLLOWER);
    fx_free(f);
}

static void next_timeout_covers_check_quorum(void **state)
{
    (void)state;
    fx *f = fx_new(3, 34);
    fx_elect(f, 1);
    fx_isolate(f, 1, true);
    /* Ticking only when the core asks is enough to step down on time. */
    uint64_t limit = f->now + FX_T + 1;
    for (int k = 0; k < 100 && raft_get_role(f->r[1]) == RAFT_LEADER; k++) {
        fx_set_time(f, raft_next_timeout(f->r[1]));
        fx_tick(f, 1);
        fx_drop_all(f);
    }
    assert_int_equal(raft_get_role(f->r[1]), RAFT_FOLLOWER);
    assert_true(f->now <= limit);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(isolated_leader_steps_down_within_t),
        cmocka_unit_test(replies_count_not_sends),
        cmocka_unit_test(majority_keeps_leader),
        cmocka_unit_test(next_timeout_covers_check_quorum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
