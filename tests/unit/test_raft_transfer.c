/* test_raft_transfer.c: leadership transfer in the Raft core: the leader refuses proposals,
 * catches the target up, sends TimeoutNow, and the target wins at once (skipping pre-vote and
 * its voters' stickiness); the transfer aborts after an election timeout, and a leader that had
 * already sent TimeoutNow (and so gave up its lease) steps down. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

static void transfer_succeeds(void **state)
{
    (void)state;
    fx *f = fx_new(3, 61);
    fx_elect(f, 1);
    fx_propose(f, 1, "a");
    fx_settle(f);
    uint64_t term = raft_get_term(f->r[1]);
    size_t pre_votes = f->sent[RAFT_MSG_PRE_VOTE];
    assert_int_equal(raft_transfer(f->r[1], 3), 0);
    fx_flush(f, 1);
    assert_false(raft_lease_valid(f->r[1], f->now)); /* TimeoutNow went out: lease given up */
    fx_settle(f);
    assert_int_equal(fx_leader(f), 3);
    assert_int_equal(raft_get_term(f->r[3]), term + 1);
    assert_int_equal(raft_get_role(f->r[1]), RAFT_FOLLOWER);
    assert_int_equal(f->sent[RAFT_MSG_PRE_VOTE], pre_votes); /* no pre-vote round */
    assert_int_equal(raft_transfer_target(f->r[1]), 0);
    fx_free(f);
}

static void target_is_caught_up_first(void **state)
{
    (void)state;
    fx *f = fx_new(3, 62);
    fx_elect(f, 1);
    f->cut[1][3] = true;
    fx_propose(f, 1, "a");
    fx_propose(f, 1, "b");
    fx_settle(f);
    assert_int_equal(raft_last_index(f->r[3]), 1);
    assert_int_equal(raft_transfer(f->r[1], 3), 0);
    assert_int_equal(raft_transfer(f->r[1], 2), -EBUSY);
    assert_int_equal(fx_propose(f, 1, "c"), -EBUSY); /* no proposals during a transfer */
    fx_settle(f);
    assert_int_equal(f->sent[RAFT_MSG_TIMEOUT_NOW], 0); /* not before the target has our log */
    assert_true(raft_lease_valid(f->r[1], f->now));
    f->cut[1][3] = false;
    fx_run(f, 3 * FX_HB, 1);
    assert_int_equal(f->sent[RAFT_MSG_TIMEOUT_NOW], 1);
    assert_int_equal(fx_leader(f), 3);
    assert_int_equal(raft_last_index(f->r[3]), 4); /* a, b and its own no-op */
    fx_free(f);
}

static void abort_before_timeout_now_keeps_leading(void **state)
{
    (void)state;
    fx *f = fx_new(3, 63);
    fx_elect(f, 1);
    f->cut[1][3] = true;
    fx_propose(f, 1, "a");
    fx_settle(f);
    assert_int_equal(raft_transfer(f->r[1], 3), 0);
    fx_run(f, FX_T + FX_HB, 1);
    assert_int_equal(raft_transfer_target(f->r[1]), 0); /* aborted */
    assert_int_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    assert_int_equal(f->sent[RAFT_MSG_TIMEOUT_NOW], 0);
    assert_int_equal(fx_propose(f, 1, "b"), 0); /* proposals accepted again */
    assert_true(raft_lease_valid(f->r[1], f->now));
    fx_free(f);
}

static void abort_after_timeout_now_steps_down(void **state)
{
    (void)state;
    fx *f = fx_new(3, 64);
    fx_elect(f, 1);
    fx_settle(f);
    assert_int_equal(raft_transfer(f->r[1], 2), 0);
    fx_flush(f, 1);
    int k = fx_find(f, 2, RAFT_MSG_TIMEOUT_NOW);
    assert_true(k >= 0);
    fx_drop(f, (size_t)k); /* the target never hears it */
    uint64_t start = f->now;
    fx_run(f, FX_T - 1, 1);
    assert_int_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    assert_false(raft_lease_valid(f->r[1], f->now));
    fx_run(f, start + FX_T + 1 - f->now, 1);
    assert_int_not_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    assert_int_equal(raft_transfer_target(f->r[1]), 0);
    fx_free(f);
}

static void bad_transfers(void **state)
{
    (void)state;
    fx *f = fx_new(3, 65);
    fx_elect(f, 1);
    assert_int_equal(raft_transfer(f->r[2], 3), -EPERM);
    assert_int_equal(raft_transfer(f->r[1], 1), -EINVAL);
    assert_int_equal(raft_transfer(f->r[1], 4), -EINVAL);
    assert_int_equal(raft_transfer(f->r[1], 0), 0); /* 0: the most up-to-date follower */
    assert_true(raft_transfer_target(f->r[1]) == 2 || raft_transfer_target(f->r[1]) == 3);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transfer_succeeds),
        cmocka_unit_test(target_is_caught_up_first),
        cmocka_unit_test(abort_before_timeout_now_keeps_leading),
        cmocka_unit_test(abort_after_timeout_now_steps_down),
        cmocka_unit_test(bad_transfers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
