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

/* The node's disk is gone: it restarts with no hard state, no snapshot and no log, and (as the
 * node does when it finds no hard state) as a recovering node. */
static void wipe(fx *f, int i)
{
    memset(&f->disk[i], 0, sizeof f->disk[i]);
    f->recovering[i] = true;
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

static raft_message vote_req(fx *f, int from, int to, bool pre)
{
    raft *c = f->r[from];
    return (raft_message){.type = pre ? RAFT_MSG_PRE_VOTE : RAFT_MSG_VOTE, .from = (raft_id)from,
                          .to = (raft_id)to, .term = raft_get_term(c) + 1, .index = raft_last_index(c),
                          .log_term = raft_term_at(c, raft_last_index(c))};
}

/* Entries 2..6 are committed on nodes 1 and 3 only; node 3 loses its disk and node 1 is gone.
 * If node 3 voted for node 2 (whose log is longer than its empty one) the committed entries
 * would be lost. A node that was not marked recovering grants exactly that vote. */
static void wiped_node_refuses_votes(void **state)
{
    (void)state;
    for (int marked = 0; marked <= 1; marked++) {
        fx *f = cluster_with_entries(75, 1);
        fx_isolate(f, 2, true);
        char cmd[16];
        for (int j = 0; j < 5; j++) {
            snprintf(cmd, sizeof cmd, "c%d", j);
            assert_int_equal(fx_propose(f, 1, cmd), 0);
        }
        fx_settle(f);
        assert_int_equal(raft_get_commit(f->r[1]), 7);
        assert_int_equal(raft_last_index(f->r[2]), 2);
        wipe(f, 3);
        f->recovering[3] = marked;
        fx_restart(f, 3);
        assert_int_equal(raft_recovering(f->r[3]), (bool)marked);
        fx_set_time(f, f->now + 3 * FX_T); /* past every stickiness window */
        raft_message pre = vote_req(f, 2, 3, true), vote = vote_req(f, 2, 3, false);
        assert_int_equal(raft_step(f->r[3], &pre, f->now), 0);
        assert_int_equal(raft_step(f->r[3], &vote, f->now), 0);
        fx_drop_all(f);
        fx_flush(f, 3);
        int k = fx_find(f, 2, RAFT_MSG_VOTE_RESP);
        assert_true(k >= 0);
        assert_int_equal(f->q[k].m.reject, marked ? RAFT_REJECT_YES : RAFT_REJECT_NONE);
        assert_int_equal(raft_get_vote(f->r[3]), marked ? 0 : 2);
        fx_free(f);
    }
}

/* ... and it never stands for election itself, but catching up from the leader ends recovery. */
static void wiped_node_recovers_from_leader(void **state)
{
    (void)state;
    fx *f = cluster_with_entries(76, 10);
    wipe(f, 3);
    fx_isolate(f, 3, true);
    fx_run(f, 5 * FX_T, 5);
    assert_true(raft_recovering(f->r[3]));
    assert_true(raft_get_role(f->r[3]) == RAFT_FOLLOWER || raft_get_role(f->r[3]) == RAFT_PRE_CANDIDATE);
    fx_heal(f);
    fx_run(f, 5 * FX_HB, 1);
    assert_int_equal(raft_last_index(f->r[3]), 11);
    assert_false(raft_recovering(f->r[3]));
    fx_free(f);
}

/* A brand-new cluster: every node starts without hard state, so every one is recovering; their
 * pre-vote requests show each other empty logs, which proves nothing was ever committed. */
static void new_cluster_elects_a_leader(void **state)
{
    (void)state;
    for (int n = 2; n <= 5; n++) {
        fx *f = fx_new(n, 77);
        for (int i = 1; i <= n; i++) {
            f->recovering[i] = true;
            fx_restart(f, i);
        }
        fx_run(f, 10 * FX_T, 5);
        int l = fx_leader(f);
        assert_true(l != 0);
        assert_int_equal(fx_propose(f, l, "x"), 0);
        fx_settle(f);
        for (int i = 1; i <= n; i++) {
            assert_false(raft_recovering(f->r[i]));
            assert_int_equal(raft_get_commit(f->r[i]), 2);
        }
        fx_free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idle_leader_repairs_wiped_follower),
        cmocka_unit_test(rejection_below_match_resets_progress),
        cmocka_unit_test(compacted_leader_repairs_by_snapshot),
        cmocka_unit_test(stale_rejection_keeps_match),
        cmocka_unit_test(wiped_node_refuses_votes),
        cmocka_unit_test(wiped_node_recovers_from_leader),
        cmocka_unit_test(new_cluster_elects_a_leader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
