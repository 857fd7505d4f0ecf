/* test_raft_snapshot.c: compaction and InstallSnapshot in the Raft core: the application's
 * snapshot replaces the log prefix; a follower too far behind gets the snapshot (in a batch,
 * before the entries after it), restarts from it, and catches up; a lost snapshot is resent;
 * a follower already holding the entry only moves its commit index. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

/* Leader 1 of three, node 3 cut off while ten entries commit, then the leader compacts. */
static fx *lagging(void)
{
    fx *f = fx_new(3, 81);
    fx_elect(f, 1);
    fx_isolate(f, 3, true);
    for (int k = 0; k < 10; k++) {
        fx_propose(f, 1, "e");
    }
    fx_settle(f);
    assert_int_equal(raft_get_applied(f->r[1]), 11);
    uint64_t term = raft_term_at(f->r[1], 11);
    assert_int_equal(raft_compact(f->r[1], 11, term, "state-11", 8), 0);
    assert_int_equal(raft_snapshot_index(f->r[1]), 11);
    assert_null(raft_entry_at(f->r[1], 11));
    assert_int_equal(raft_term_at(f->r[1], 11), term);
    return f;
}

static void lagging_follower_gets_snapshot(void **state)
{
    (void)state;
    fx *f = lagging();
    fx_isolate(f, 3, false);
    fx_run(f, 3 * FX_HB, 1);
    assert_int_equal(f->sent[RAFT_MSG_SNAPSHOT], 1);
    assert_int_equal(f->snapshots_installed[3], 1);
    assert_int_equal(f->disk[3].snap_index, 11);
    assert_memory_equal(f->disk[3].snap_data, "state-11", 8);
    assert_int_equal(f->applied[3], 11);
    assert_int_equal(raft_get_commit(f->r[3]), 11);
    assert_int_equal(raft_match_index(f->r[1], 3), 11);
    /* Replication goes on from the log after the snapshot. */
    fx_propose(f, 1, "after");
    fx_settle(f);
    assert_int_equal(raft_last_index(f->r[3]), 12);
    assert_int_equal(f->applied[3], 12);
    fx_free(f);
}

static void follower_restarts_from_snapshot(void **state)
{
    (void)state;
    fx *f = lagging();
    fx_isolate(f, 3, false);
    fx_run(f, 3 * FX_HB, 1);
    fx_propose(f, 1, "after");
    fx_settle(f);
    fx_restart(f, 3);
    assert_int_equal(raft_snapshot_index(f->r[3]), 11);
    assert_int_equal(raft_last_index(f->r[3]), 12);
    assert_int_equal(raft_term_at(f->r[3], 11), raft_term_at(f->r[1], 11));
    /* After a restart the state machine is rebuilt from the snapshot, then the log after it. */
    fx_flush(f, 3);
    assert_int_equal(f->applied[3], 12);
    fx_free(f);
}

static void lost_snapshot_is_resent(void **state)
{
    (void)state;
    fx *f = lagging();
    fx_isolate(f, 3, false);
    int k = -1;
    for (int ms = 0; ms < 2 * FX_T && k < 0; ms++) { /* run until the snapshot is on the wire */
        fx_set_time(f, f->now + 1);
        for (int i = 1; i <= 3; i++) {
            fx_tick(f, i);
        }
        while ((k = fx_find(f, 3, RAFT_MSG_SNAPSHOT)) < 0 && fx_find(f, 0, 0) >= 0) {
            fx_deliver_one(f, (size_t)fx_find(f, 0, 0));
        }
    }
    assert_true(k >= 0);
    fx_drop(f, (size_t)k); /* lost */
    assert_int_equal(f->sent[RAFT_MSG_SNAPSHOT], 1);
    f->cut[1][3] = true; /* and nothing else reaches node 3 for a while */
    fx_run(f, FX_T / 2, 1);
    assert_int_equal(f->sent[RAFT_MSG_SNAPSHOT], 1); /* waits for an answer, no flood */
    f->cut[1][3] = false;
    fx_run(f, FX_T, 1);
    assert_int_equal(f->sent[RAFT_MSG_SNAPSHOT], 2);
    assert_int_equal(f->snapshots_installed[3], 1);
    fx_free(f);
}

static void holder_of_the_entry_only_commits(void **state)
{
    (void)state;
    fx *f = fx_new(3, 82);
    fx_elect(f, 1);
    fx_propose(f, 1, "a");
    int k = fx_find(f, 2, RAFT_MSG_APPEND);
    assert_true(k >= 0);
    fx_deliver_one(f, (size_t)k);
    fx_drop_all(f); /* node 2 holds "a" at 2 but never hears it committed */
    assert_int_equal(raft_last_index(f->r[2]), 2);
    assert_int_equal(raft_get_commit(f->r[2]), 1);
    raft_message s = {.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = raft_get_term(f->r[1]),
                      .index = 2, .log_term = raft_get_term(f->r[1]), .snap_data = (uint8_t *)"s", .snap_len = 1,
                      .snap_total = 1};
    assert_int_equal(raft_step(f->r[2], &s, f->now), 0);
    fx_flush(f, 2);
    assert_int_equal(f->snapshots_installed[2], 0);
    assert_int_equal(raft_get_commit(f->r[2]), 2);
    assert_int_equal(raft_snapshot_index(f->r[2]), 0);
    fx_free(f);
}

static void compact_errors(void **state)
{
    (void)state;
    fx *f = fx_new(3, 83);
    fx_elect(f, 1);
    fx_propose(f, 1, "a");
    fx_settle(f);
    uint64_t term = raft_get_term(f->r[1]);
    assert_int_equal(raft_compact(f->r[1], 3, term, "x", 1), -EINVAL); /* not applied */
    assert_int_equal(raft_compact(f->r[1], 2, term + 1, "x", 1), -EINVAL); /* wrong term */
    assert_int_equal(raft_compact(f->r[1], 0, 0, "x", 1), -EINVAL);
    assert_int_equal(raft_compact(f->r[1], 2, term, "x", 1), 0);
    assert_int_equal(raft_compact(f->r[1], 2, term, "x", 1), -EINVAL); /* already */
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lagging_follower_gets_snapshot),
        cmocka_unit_test(follower_restarts_from_snapshot),
        cmocka_unit_test(lost_snapshot_is_resent),
        cmocka_unit_test(holder_of_the_entry_only_commits),
        cmocka_unit_test(compact_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
