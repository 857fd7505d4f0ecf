/* test_raft_prevote.c: pre-vote in the Raft core: a node cut off from a healthy cluster keeps
 * timing out without raising its term, and on return it neither deposes the leader nor
 * changes anyone's term; a pre-vote request never changes the voter's term or vote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

static void partitioned_node_cannot_disrupt(void **state)
{
    (void)state;
    fx *f = fx_new(3, 11);
    fx_elect(f, 1);
    assert_int_equal(fx_leader(f), 1);
    uint64_t term = raft_get_term(f->r[1]);
    fx_isolate(f, 3, true);
    fx_run(f, 20 * FX_T, 5); /* node 3 times out again and again */
    assert_true(f->sent[RAFT_MSG_PRE_VOTE] > 10);
    assert_int_equal(raft_get_term(f->r[3]), term); /* pre-votes never raised its term */
    assert_int_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    fx_isolate(f, 3, false);
    fx_run(f, 5 * FX_T, 5);
    assert_int_equal(fx_leader(f), 1); /* the healthy leader stays */
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(raft_get_term(f->r[i]), term);
        assert_int_equal(raft_get_leader(f->r[i]), 1);
    }
    fx_free(f);
}

static void returning_node_with_stale_log_is_refused(void **state)
{
    (void)state;
    fx *f = fx_new(3, 12);
    fx_elect(f, 1);
    fx_isolate(f, 3, true);
    assert_int_equal(fx_propose(f, 1, "a"), 0);
    fx_run(f, 3 * FX_T, 5);
    fx_isolate(f, 1, true); /* now the leader goes; 3 comes back with a shorter log */
    fx_isolate(f, 3, false);
    f->cut[1][3] = f->cut[3][1] = true;
    fx_run(f, 10 * FX_T, 5);
    /* The cut-off leader stood down; 3's log lacks "a" so 2 refuses it, and 2 wins. */
    assert_int_not_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    assert_int_equal(fx_leader(f), 2);
    assert_int_equal(raft_get_leader(f->r[3]), 2);
    fx_free(f);
}

static void pre_vote_changes_nothing_at_the_voter(void **state)
{
    (void)state;
    fx *f = fx_new(3, 13);
    fx_set_time(f, 3 * FX_T); /* out of the restart window */
    raft_message pv = {.type = RAFT_MSG_PRE_VOTE, .from = 2, .to = 1, .term = 5};
    assert_int_equal(raft_step(f->r[1], &pv, f->now), 0);
    assert_int_equal(raft_get_term(f->r[1]), 0);
    assert_int_equal(raft_get_vote(f->r[1]), 0);
    raft_update u;
    assert_int_equal(raft_ready(f->r[1], &u), 0);
    assert_false(u.has_hard_state); /* nothing to persist */
    assert_int_equal(u.n_msgs, 1);
    assert_int_equal(u.msgs[0].type, RAFT_MSG_PRE_VOTE_RESP);
    assert_int_equal(u.msgs[0].reject, RAFT_REJECT_NONE);
    assert_int_equal(u.msgs[0].term, 5); /* names the term asked about */
    raft_advance(f->r[1], &u);
    fx_free(f);
}

static void pre_candidate_keeps_its_term(void **state)
{
    (void)state;
    fx *f = fx_new(3, 14);
    fx_isolate(f, 1, true);
    fx_set_time(f, 3 * FX_T);
    fx_tick(f, 1);
    assert_int_equal(raft_get_role(f->r[1]), RAFT_PRE_CANDIDATE);
    assert_int_equal(raft_get_term(f->r[1]), 0);
    assert_int_equal(f->disk[1].hs.term, 0);
    int k = fx_find(f, 2, RAFT_MSG_PRE_VOTE);
    assert_true(k >= 0);
    assert_int_equal(f->q[k].m.term, 1); /* asks about term + 1 */
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(partitioned_node_cannot_disrupt),
        cmocka_unit_test(returning_node_with_stale_log_is_refused),
        cmocka_unit_test(pre_vote_changes_nothing_at_the_voter),
        cmocka_unit_test(pre_candidate_keeps_its_term),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
