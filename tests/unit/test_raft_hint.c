/* test_raft_hint.c: the "leader's connection closed" hint (raft_peer_lost) and the pre-vote
 * tie-break. The hint may shorten the wait for a dead leader to the end of the stickiness window,
 * never below it, and messages the leader sent before it died, arriving after the hint, do not
 * undo it; a false hint changes nothing while the leader is heard; two followers that
 * time out together elect one of them in a single term instead of splitting the vote. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

/* A leader (node 1) of a settled cluster; returns the time the followers last heard from it. */
static uint64_t settled_leader(fx *f)
{
    fx_elect(f, 1);
    assert_int_equal(fx_leader(f), 1);
    fx_run(f, 2 * FX_T, 5);
    assert_int_equal(fx_leader(f), 1);
    return f->now;
}

static void hint_moves_the_deadline_into_the_first_heartbeat_of_the_window(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        fx *f = fx_new(3, 100 + seed);
        uint64_t heard = settled_leader(f);
        fx_isolate(f, 1, true); /* the leader dies right after the round of `heard` */
        uint64_t before = raft_next_timeout(f->r[2]);
        assert_true(before >= heard + FX_T && before < heard + 2 * FX_T);
        fx_set_time(f, heard + 3);
        assert_int_equal(raft_peer_lost(f->r[2], 1, f->now), 0);
        uint64_t after = raft_next_timeout(f->r[2]);
        /* Never sooner than T after the last contact (votes are refused until then), never
         * later than it was, and within one heartbeat of the end of the window. */
        assert_true(after >= heard + FX_T);
        assert_true(after < heard + FX_T + FX_HB);
        assert_true(after <= before);
        fx_free(f);
    }
}

static void messages_sent_before_the_death_keep_the_hint(void **state)
{
    (void)state;
    fx *f = fx_new(3, 25);
    settled_leader(f);
    fx_set_time(f, raft_next_timeout(f->r[1]));
    fx_tick(f, 1); /* a last heartbeat round, still in flight when the leader dies */
    fx_set_time(f, f->now + 2);
    assert_int_equal(raft_peer_lost(f->r[2], 1, f->now), 0); /* the hint overtakes it */
    fx_set_time(f, f->now + 3);
    size_t n = fx_deliver_all(f);
    assert_true(n > 0);
    uint64_t heard = f->now;
    fx_isolate(f, 1, true);
    uint64_t d = raft_next_timeout(f->r[2]);
    assert_true(d >= heard + FX_T && d < heard + FX_T + FX_HB);
    fx_free(f);
}

static void hint_about_someone_else_changes_nothing(void **state)
{
    (void)state;
    fx *f = fx_new(3, 21);
    settled_leader(f);
    uint64_t before = raft_next_timeout(f->r[2]);
    assert_int_equal(raft_peer_lost(f->r[2], 3, f->now), 0); /* a follower, not the leader */
    assert_int_equal(raft_next_timeout(f->r[2]), before);
    uint64_t hb = raft_next_timeout(f->r[1]);
    assert_int_equal(raft_peer_lost(f->r[1], 2, f->now), 0); /* the leader itself */
    assert_int_equal(raft_next_timeout(f->r[1]), hb);
    assert_int_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    assert_int_equal(raft_peer_lost(f->r[2], 0, f->now), -EINVAL);
    assert_int_equal(raft_peer_lost(f->r[2], 2, f->now), -EINVAL); /* itself */
    assert_int_equal(raft_peer_lost(f->r[2], 4, f->now), -EINVAL);
    fx_free(f);
}

static void false_hint_changes_nothing_while_the_leader_is_heard(void **state)
{
    (void)state;
    fx *f = fx_new(3, 22);
    settled_leader(f);
    uint64_t term = raft_get_term(f->r[1]);
    size_t pre_votes = f->sent[RAFT_MSG_PRE_VOTE];
    /* A connection reset while the leader lives: hints keep coming, heartbeats too. */
    for (int k = 0; k < 20; k++) {
        assert_int_equal(raft_peer_lost(f->r[2], 1, f->now), 0);
        assert_int_equal(raft_peer_lost(f->r[3], 1, f->now), 0);
        fx_run(f, FX_T / 2, 5);
    }
    assert_int_equal(f->sent[RAFT_MSG_PRE_VOTE], pre_votes);
    assert_int_equal(fx_leader(f), 1);
    assert_int_equal(raft_get_term(f->r[2]), term);
    fx_free(f);
}

static void hinted_follower_cannot_depose_a_leader_others_hear(void **state)
{
    (void)state;
    fx *f = fx_new(3, 23);
    settled_leader(f);
    uint64_t term = raft_get_term(f->r[1]);
    size_t pre_votes = f->sent[RAFT_MSG_PRE_VOTE];
    f->cut[1][3] = f->cut[3][1] = true; /* only node 3 lost the leader */
    assert_int_equal(raft_peer_lost(f->r[3], 1, f->now), 0);
    fx_run(f, 10 * FX_T, 5);
    assert_true(f->sent[RAFT_MSG_PRE_VOTE] > pre_votes); /* 3 asked, early and often */
    assert_int_equal(fx_leader(f), 1);            /* 2 still hears 1 and refused */
    assert_int_equal(raft_get_term(f->r[1]), term);
    assert_int_equal(raft_get_term(f->r[2]), term);
    fx_free(f);
}

static void hinted_followers_elect_one_leader_in_one_term(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        fx *f = fx_new(3, 300 + seed);
        uint64_t heard = settled_leader(f);
        uint64_t term = raft_get_term(f->r[1]);
        fx_isolate(f, 1, true);
        assert_int_equal(raft_peer_lost(f->r[2], 1, f->now), 0);
        assert_int_equal(raft_peer_lost(f->r[3], 1, f->now), 0);
        /* Both deadlines fall within one heartbeat: step time and deliver each message only at
         * the next step, so the two pre-vote rounds overlap as on a real network. */
        while (fx_leader(f) == 1 || fx_leader(f) == 0) {
            assert_true(f->now < heard + 2 * FX_T);
            fx_set_time(f, f->now + 1);
            fx_deliver_all(f);
            fx_tick(f, 2);
            fx_tick(f, 3);
        }
        assert_true(f->now < heard + FX_T + FX_HB + 5);
        assert_int_equal(raft_get_term(f->r[fx_leader(f)]), term + 1); /* no split vote */
        fx_free(f);
    }
}

static void higher_id_pre_candidate_stands_down(void **state)
{
    (void)state;
    fx *f = fx_new(3, 24);
    settled_leader(f);
    fx_isolate(f, 1, true);
    uint64_t t2 = raft_next_timeout(f->r[2]), t3 = raft_next_timeout(f->r[3]);
    fx_set_time(f, t2 > t3 ? t2 : t3);
    fx_tick(f, 2);
    fx_tick(f, 3);
    assert_int_equal(raft_get_role(f->r[2]), RAFT_PRE_CANDIDATE);
    assert_int_equal(raft_get_role(f->r[3]), RAFT_PRE_CANDIDATE);
    int to3 = fx_find(f, 3, RAFT_MSG_PRE_VOTE), to2 = fx_find(f, 2, RAFT_MSG_PRE_VOTE);
    assert_true(to3 >= 0 && to2 >= 0);
    fx_deliver_one(f, (size_t)to3); /* 3 grants 2 (lower id) and gives up its own round */
    assert_int_equal(raft_get_role(f->r[3]), RAFT_FOLLOWER);
    fx_deliver_one(f, (size_t)to2); /* 2 grants 3 too, but keeps going */
    assert_int_equal(raft_get_role(f->r[2]), RAFT_PRE_CANDIDATE);
    fx_settle(f);
    assert_int_equal(fx_leader(f), 2);
    assert_int_equal(raft_get_leader(f->r[3]), 2);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hint_moves_the_deadline_into_the_first_heartbeat_of_the_window),
        cmocka_unit_test(messages_sent_before_the_death_keep_the_hint),
        cmocka_unit_test(hint_about_someone_else_changes_nothing),
        cmocka_unit_test(false_hint_changes_nothing_while_the_leader_is_heard),
        cmocka_unit_test(hinted_follower_cannot_depose_a_leader_others_hear),
        cmocka_unit_test(hinted_followers_elect_one_leader_in_one_term),
        cmocka_unit_test(higher_id_pre_candidate_stands_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
