/* test_raft_election.c: leader election in the Raft core: randomized timeouts in [T, 2T) from
 * the injected seed, a normal election (pre-vote then vote, one term step), a cluster of one,
 * the up-to-date-log rule, one vote per term, and a refused candidate standing down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

static raft *one(uint64_t seed, uint64_t now)
{
    raft_config c = {.id = 1, .n_nodes = 3, .heartbeat_ms = FX_HB, .election_timeout_ms = FX_T,
                     .lease_drift_ms = FX_DRIFT, .seed = seed, .now_ms = now};
    raft *r = NULL;
    assert_int_equal(raft_new(&c, &r, NULL, 0), 0);
    return r;
}

static void timeouts_randomized_in_range(void **state)
{
    (void)state;
    bool seen[FX_T] = {false};
    int distinct = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        raft *r = one(seed, 1000);
        uint64_t t = raft_next_timeout(r);
        assert_true(t >= 1000 + FX_T && t < 1000 + 2 * FX_T);
        if (!seen[t - 1000 - FX_T]) {
            seen[t - 1000 - FX_T] = true;
            distinct++;
        }
        /* After a campaign the next timeout is drawn again, from the same range. */
        raft_tick(r, t);
        assert_int_equal(raft_get_role(r), RAFT_PRE_CANDIDATE);
        uint64_t t2 = raft_next_timeout(r);
        assert_true(t2 >= t + FX_T && t2 < t + 2 * FX_T);
        raft_free(r);
    }
    assert_true(distinct > FX_T / 2); /* spread over the range, not a constant */
}

static void same_seed_same_timeouts(void **state)
{
    (void)state;
    raft *a = one(42, 0), *b = one(42, 0), *c = one(43, 0);
    assert_int_equal(raft_next_timeout(a), raft_next_timeout(b));
    bool differ = raft_next_timeout(a) != raft_next_timeout(c);
    for (int k = 0; k < 5 && !differ; k++) { /* two seeds may collide once, not every time */
        uint64_t ta = raft_next_timeout(a), tc = raft_next_timeout(c);
        raft_tick(a, ta);
        raft_tick(c, tc);
        differ = raft_next_timeout(a) - ta != raft_next_timeout(c) - tc;
    }
    assert_true(differ);
    raft_free(a);
    raft_free(b);
    raft_free(c);
}

static void three_nodes_elect_one_leader(void **state)
{
    (void)state;
    fx *f = fx_new(3, 1);
    fx_elect(f, 1);
    assert_int_equal(fx_leader(f), 1);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(raft_get_term(f->r[i]), 1); /* exactly one term step: pre-vote did not bump */
        assert_int_equal(raft_get_leader(f->r[i]), 1);
        assert_int_equal(f->disk[i].hs.term, 1);
    }
    assert_int_equal(raft_get_role(f->r[2]), RAFT_FOLLOWER);
    assert_int_equal(f->disk[2].hs.vote, 1); /* the vote is on disk */
    assert_true(f->sent[RAFT_MSG_PRE_VOTE] >= 2 && f->sent[RAFT_MSG_VOTE] >= 2);
    /* The no-op of term 1 is committed everywhere. */
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(raft_get_commit(f->r[i]), 1);
    }
    fx_free(f);
}

static void single_node_elects_itself(void **state)
{
    (void)state;
    fx *f = fx_new(1, 7);
    fx_elect(f, 1);
    assert_int_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    assert_int_equal(raft_get_commit(f->r[1]), 1);
    assert_int_equal(fx_propose(f, 1, "x"), 0);
    assert_int_equal(raft_get_commit(f->r[1]), 2);
    assert_int_equal(f->applied[1], 2);
    assert_true(raft_lease_valid(f->r[1], f->now + 1000000));
    fx_free(f);
}

static void stale_log_cannot_win(void **state)
{
    (void)state;
    fx *f = fx_new(3, 2);
    uint64_t longer[] = {1, 1, 2};
    uint64_t shorter[] = {1, 1};
    fx_set_log(f, 1, shorter, 2, 2);
    fx_set_log(f, 2, longer, 3, 2);
    fx_set_log(f, 3, longer, 3, 2);
    fx_elect(f, 1);
    assert_int_equal(fx_leader(f), 0);
    /* Refused by a majority, the pre-candidate stands down without touching its term. */
    assert_int_equal(raft_get_role(f->r[1]), RAFT_FOLLOWER);
    assert_int_equal(raft_get_term(f->r[1]), 2);
    fx_elect(f, 2);
    assert_int_equal(fx_leader(f), 2);
    assert_int_equal(raft_get_term(f->r[2]), 3);
    fx_free(f);
}

static void one_vote_per_term(void **state)
{
    (void)state;
    fx *f = fx_new(3, 3);
    fx_set_time(f, 5 * FX_T);
    raft_message v = {.type = RAFT_MSG_VOTE, .from = 1, .to = 3, .term = 1};
    assert_int_equal(raft_step(f->r[3], &v, f->now), 0);
    v.from = 2;
    assert_int_equal(raft_step(f->r[3], &v, f->now), 0);
    raft_update u;
    assert_int_equal(raft_ready(f->r[3], &u), 0);
    assert_int_equal(u.n_msgs, 2);
    assert_int_equal(u.msgs[0].to, 1);
    assert_int_equal(u.msgs[0].reject, RAFT_REJECT_NONE);
    assert_int_equal(u.msgs[1].to, 2);
    assert_int_equal(u.msgs[1].reject, RAFT_REJECT_YES);
    assert_true(u.has_hard_state);
    assert_int_equal(u.hard_state.vote, 1);
    raft_advance(f->r[3], &u);
    /* A duplicate of the granted request is granted again (same vote, nothing new). */
    v.from = 1;
    assert_int_equal(raft_step(f->r[3], &v, f->now), 0);
    assert_int_equal(raft_ready(f->r[3], &u), 0);
    assert_int_equal(u.n_msgs, 1);
    assert_int_equal(u.msgs[0].reject, RAFT_REJECT_NONE);
    assert_false(u.has_hard_state);
    raft_advance(f->r[3], &u);
    fx_free(f);
}

static void split_vote_resolves(void **state)
{
    (void)state;
    /* Nodes 1 and 2 campaign at the same moment; 3 votes for one of them. If a round splits
     * (4 nodes: 2 and 2), randomized timeouts break the tie within a few rounds. */
    fx *f = fx_new(4, 9);
    fx_set_time(f, 3 * FX_T);
    fx_tick(f, 1);
    fx_tick(f, 2);
    fx_settle(f);
    fx_run(f, 20 * FX_T, 5);
    int l = fx_leader(f);
    assert_int_not_equal(l, 0);
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(raft_get_leader(f->r[i]), l);
    }
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timeouts_randomized_in_range),
        cmocka_unit_test(same_seed_same_timeouts),
        cmocka_unit_test(three_nodes_elect_one_leader),
        cmocka_unit_test(single_node_elects_itself),
        cmocka_unit_test(stale_log_cannot_win),
        cmocka_unit_test(one_vote_per_term),
        cmocka_unit_test(split_vote_resolves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
