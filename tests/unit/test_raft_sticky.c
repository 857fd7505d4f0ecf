/* test_raft_sticky.c: leader stickiness in the Raft core: a follower that heard from a live
 * leader within the minimum election timeout T refuses pre-votes and votes (and does not even
 * raise its term), a restarted node refuses for T after its start, and a campaign forced by a
 * leadership transfer is the one exception. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

/* Steps a (pre-)vote request from `from` to node `to` and returns whether it was granted
 * (-1: no answer at all). */
static int ask(fx *f, int to, int from, uint8_t type, uint64_t term, bool transfer)
{
    const raft *r = f->r[to];
    raft_message m = {.type = type, .from = (raft_id)from, .to = (raft_id)to, .term = term,
                      .index = raft_last_index(r), .log_term = raft_term_at(r, raft_last_index(r)),
                      .transfer = transfer};
    assert_int_equal(raft_step(f->r[to], &m, f->now), 0);
    raft_update u;
    int granted = -1;
    if (raft_has_ready(f->r[to])) {
        assert_int_equal(raft_ready(f->r[to], &u), 0);
        for (size_t k = 0; k < u.n_msgs; k++) {
            if (u.msgs[k].to == (raft_id)from) {
                granted = u.msgs[k].reject == RAFT_REJECT_NONE;
            }
        }
        raft_advance(f->r[to], &u);
    }
    return granted;
}

/* Elects node 1 of three and returns when node 2 last heard from it. */
static uint64_t setup(fx *f)
{
    fx_elect(f, 1);
    fx_run(f, 2 * FX_HB, 1);
    fx_isolate(f, 1, true);
    fx_set_time(f, f->now + 1);
    return f->now - 1; /* the last round was delivered at the previous millisecond at the latest */
}

static void follower_refuses_within_t(void **state)
{
    (void)state;
    fx *f = fx_new(3, 21);
    uint64_t heard = setup(f);
    uint64_t term = raft_get_term(f->r[2]);
    fx_set_time(f, heard + FX_T - 1);
    assert_int_equal(ask(f, 2, 3, RAFT_MSG_PRE_VOTE, term + 1, false), 0);
    assert_int_not_equal(ask(f, 2, 3, RAFT_MSG_VOTE, term + 1, false), 1);
    assert_int_equal(raft_get_term(f->r[2]), term); /* not even the term moved */
    assert_int_equal(raft_get_leader(f->r[2]), 1);
    fx_set_time(f, heard + FX_T + 1);
    assert_int_equal(ask(f, 2, 3, RAFT_MSG_PRE_VOTE, term + 1, false), 1);
    assert_int_equal(ask(f, 2, 3, RAFT_MSG_VOTE, term + 1, false), 1);
    assert_int_equal(raft_get_term(f->r[2]), term + 1);
    assert_int_equal(raft_get_vote(f->r[2]), 3);
    fx_free(f);
}

static void leader_refuses_while_leading(void **state)
{
    (void)state;
    fx *f = fx_new(3, 22);
    fx_elect(f, 1);
    uint64_t term = raft_get_term(f->r[1]);
    fx_set_time(f, f->now + 5); /* still leader: check-quorum has not run out */
    assert_int_equal(ask(f, 1, 3, RAFT_MSG_PRE_VOTE, term + 1, false), 0);
    assert_int_not_equal(ask(f, 1, 3, RAFT_MSG_VOTE, term + 1, false), 1);
    assert_int_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    assert_int_equal(raft_get_term(f->r[1]), term);
    fx_free(f);
}

static void restarted_node_refuses_for_t(void **state)
{
    (void)state;
    fx *f = fx_new(3, 23);
    fx_elect(f, 1);
    fx_set_time(f, f->now + 10 * FX_T); /* long after it last heard anything */
    fx_restart(f, 2);
    uint64_t started = f->now;
    uint64_t term = raft_get_term(f->r[2]);
    fx_set_time(f, started + FX_T - 1);
    assert_int_equal(ask(f, 2, 3, RAFT_MSG_PRE_VOTE, term + 1, false), 0);
    assert_int_not_equal(ask(f, 2, 3, RAFT_MSG_VOTE, term + 1, false), 1);
    assert_int_equal(raft_get_term(f->r[2]), term);
    fx_set_time(f, started + FX_T);
    assert_int_equal(ask(f, 2, 3, RAFT_MSG_VOTE, term + 1, false), 1);
    fx_free(f);
}

static void transfer_campaign_bypasses_stickiness(void **state)
{
    (void)state;
    fx *f = fx_new(3, 24);
    uint64_t heard = setup(f);
    uint64_t term = raft_get_term(f->r[2]);
    fx_set_time(f, heard + 1);
    assert_int_equal(ask(f, 2, 3, RAFT_MSG_VOTE, term + 1, true), 1);
    assert_int_equal(raft_get_vote(f->r[2]), 3);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(follower_refuses_within_t),
        cmocka_unit_test(leader_refuses_while_leading),
        cmocka_unit_test(restarted_node_refuses_for_t),
        cmocka_unit_test(transfer_campaign_bypasses_stickiness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
