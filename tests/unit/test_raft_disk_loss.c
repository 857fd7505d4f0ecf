/* test_raft_disk_loss.c: a follower that comes back with less than the leader believes it holds
 * (its data dir wiped, a backup restored) is detected and repaired: by the heartbeat answer of an
 * idle cluster, by the rejection of the next APPEND, and by a snapshot when the leader's log is
 * compacted. Before the fix the leader kept its old match_index and ignored the rejections. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

/* The node's disk is gone: it restarts with no hard state, no snapshot and no log. */
static void wipe(fx *f, int i)
{
    memset(&f->disk[i], 0, sizeof f->disk[i]);
    f->applied[i] = 0;
    fx_restart(f, i);
}

static fx *cluster_with_entries(uint64_t seed, int k)
{
    fx *f = fx_new(3, seed);
    fx_elect(f, 1);
    assert_int_equal(fx_leader(f), 1);
    char cmd[16];
    for (int j = 0; j < k; j++) {
        snprintf(cmd, sizeof cmd, "cmd%d", j);
        assert_int_equal(fx_propose(f, 1, cmd), 0);
    }
    fx_settle(f);
    assert_int_equal(raft_last_index(f->r[3]), (uint64_t)k + 1);
    assert_int_equal(raft_match_index(f->r[1], 3), (uint64_t)k + 1);
    return f;
}

static void idle_leader_repairs_wiped_follower(void **state)
{
    (void)state;
    fx *f = cluster_with_entries(71, 10);
    wipe(f, 3);
    assert_int_equal(raft_last_index(f->r[3]), 0);
    /* No proposals: only heartbeats. The follower's answer must reveal what it lost. */
    fx_run(f, 5 * FX_HB, 1);
    assert_int_equal(fx_leader(f), 1);
    assert_int_equal(raft_last_index(f->r[3]), 11);
    assert_int_equal(raft_get_commit(f->r[3]), 11);
    assert_int_equal(f->applied[3], 11);
    assert_int_equal(raft_match_index(f->r[1], 3), 11);
    assert_int_equal(f->disk[3].n, 11);
    fx_free(f);
}

static void rejection_below_match_resets_progress(void **state)
{
    (void)state;
    fx *f = cluster_with_entries(72, 10);
    wipe(f, 3);
    /* Node 2 is cut off: the proposal can commit only once node 3 holds the log again. */
    fx_isolate(f, 2, true);
    assert_int_equal(fx_propose(f, 1, "after"), 0);
    fx_settle(f);
    fx_run(f, 3 * FX_HB, 1);
    assert_int_equal(raft_last_index(f->r[3]), 12);
    assert_int_equal(raft_get_commit(f->r[1]), 12);
    assert_int_equal(raft_get_commit(f->r[3]), 12);
    fx_free(f);
}

static void compacted_leader_repairs_by_snapshot(void **state)
{
    (void)state;
    fx *f = cluster_with_entries(73, 10);
    uint64_t term = raft_get_term(f->r[1]);
    assert_int_equal(raft_compact(f->r[1], 11, term, "state-11", 8), 0);
    wipe(f, 3);
    fx_run(f, 5 * FX_HB, 1);
    assert_int_equal(raft_snapshot_index(f->r[3]), 11);
    assert_int_equal(raft_last_index(f->r[3]), 11);
    assert_true(f->snapshots_installed[3] >= 1);
    assert_int_equal(f->disk[3].snap_index, 11);
    assert_memory_equal(f->disk[3].snap_data, "state-11", 8);
    assert_int_equal(fx_propose(f, 1, "next"), 0);
    fx_settle(f);
    assert_int_equal(raft_last_index(f->r[3]), 12);
    fx_free(f);
}

/* A stale rejection (of a request sent before the follower acknowledged match) changes nothing. */
static void stale_rejection_keeps_match(void **state)
{
    (void)state;
    fx *f = cluster_with_entries(74, 3);
    raft_message m = {.type = RAFT_MSG_APPEND_RESP, .from = 3, .to = 1, .term = raft_get_term(f->r[1]),
                      .reject = RAFT_REJECT_YES, .index = 2, .hint = 0, .sent_ms = 0};
    assert_int_equal(raft_step(f->r[1], &m, f->now), 0);
    assert_int_equal(raft_match_index(f->r[1], 3), 4);
    raft_message h = {.type = RAFT_MSG_HEARTBEAT_RESP, .from = 3, .to = 1, .term = raft_get_term(f->r[1]),
                      .reject = RAFT_REJECT_YES, .index = 0, .sent_ms = 0};
    assert_int_equal(raft_step(f->r[1], &h, f->now), 0);
    assert_int_equal(raft_match_index(f->r[1], 3), 4);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idle_leader_repairs_wiped_follower),
        cmocka_unit_test(rejection_below_match_resets_progress),
        cmocka_unit_test(compacted_leader_repairs_by_snapshot),
        cmocka_unit_test(stale_rejection_keeps_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
