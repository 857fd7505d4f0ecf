/* test_raft_lease.c: the leader lease in the Raft core: valid iff leader and a majority
 * (itself included) acknowledged a round sent at s with now < s + T - drift; measured from
 * the send time, not the replies' arrival; an older round's late replies do not extend it; a
 * minority of replies gives none; stepping down drops it at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

#define LEASE (FX_T - FX_DRIFT)

/* Sends one heartbeat round from node 1 at the current time; returns that time. */
static uint64_t round_now(fx *f)
{
    for (int k = 0; k < 10 && fx_find(f, 0, RAFT_MSG_HEARTBEAT) < 0; k++) {
        fx_set_time(f, raft_next_timeout(f->r[1])); /* may be a check-quorum deadline first */
        fx_tick(f, 1);
    }
    assert_true(fx_find(f, 0, RAFT_MSG_HEARTBEAT) >= 0);
    return f->now;
}

static void measured_from_send_time(void **state)
{
    (void)state;
    fx *f = fx_new(3, 71);
    assert_false(raft_lease_valid(f->r[1], 0));
    fx_elect(f, 1);
    uint64_t elected = f->now;
    assert_true(raft_lease_valid(f->r[1], f->now));
    assert_int_equal(raft_lease_expiry(f->r[1]), elected + LEASE); /* the no-op round */
    uint64_t sent = round_now(f);
    fx_set_time(f, sent + 30); /* the replies take 30 ms */
    fx_settle(f);
    assert_int_equal(raft_lease_expiry(f->r[1]), sent + LEASE); /* not sent + 30 + LEASE */
    assert_true(raft_lease_valid(f->r[1], sent + LEASE - 1));
    assert_false(raft_lease_valid(f->r[1], sent + LEASE));
    fx_free(f);
}

static void expires_without_replies(void **state)
{
    (void)state;
    fx *f = fx_new(3, 72);
    fx_elect(f, 1);
    uint64_t sent = round_now(f);
    fx_settle(f);
    fx_isolate(f, 1, true);
    fx_run(f, LEASE - (f->now - sent) - 1, 1);
    assert_true(raft_lease_valid(f->r[1], f->now));
    assert_int_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    fx_run(f, 1, 1);
    assert_false(raft_lease_valid(f->r[1], f->now)); /* still leader for a while, but no lease */
    assert_int_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    fx_free(f);
}

static void late_replies_of_an_older_round_do_not_extend(void **state)
{
    (void)state;
    fx *f = fx_new(3, 73);
    fx_elect(f, 1);
    uint64_t a = round_now(f);
    int ka2 = fx_find(f, 2, RAFT_MSG_HEARTBEAT), ka3 = fx_find(f, 3, RAFT_MSG_HEARTBEAT);
    raft_message held2, held3;
    assert_int_equal(raft_msg_copy(&held2, &f->q[ka2].m), 0);
    assert_int_equal(raft_msg_copy(&held3, &f->q[ka3].m), 0);
    fx_drop_all(f);
    uint64_t b = round_now(f);
    fx_settle(f);
    assert_int_equal(raft_lease_expiry(f->r[1]), b + LEASE);
    /* Round a's heartbeats arrive now, and their replies after round b's. */
    assert_int_equal(raft_step(f->r[2], &held2, f->now), 0);
    assert_int_equal(raft_step(f->r[3], &held3, f->now), 0);
    fx_flush_all(f);
    fx_settle(f);
    assert_true(a < b);
    assert_int_equal(raft_lease_expiry(f->r[1]), b + LEASE);
    raft_msg_release(&held2);
    raft_msg_release(&held3);
    fx_free(f);
}

static void minority_gives_no_lease(void **state)
{
    (void)state;
    fx *f = fx_new(5, 74);
    fx_elect(f, 1); /* the no-op round, acknowledged by all at once */
    uint64_t t0 = f->now;
    fx_isolate(f, 3, true);
    fx_isolate(f, 4, true);
    fx_isolate(f, 5, true);
    fx_run(f, LEASE - 1, 1); /* rounds keep going; only node 2 answers */
    assert_true(raft_lease_valid(f->r[1], f->now));
    fx_run(f, 1, 1);
    assert_int_equal(f->now, t0 + LEASE);
    /* Node 2 acknowledged a round a moment ago, but 2 of 5 is no majority. */
    assert_int_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    assert_false(raft_lease_valid(f->r[1], f->now));
    fx_free(f);
}

static void stepping_down_drops_lease(void **state)
{
    (void)state;
    fx *f = fx_new(3, 75);
    fx_elect(f, 1);
    assert_true(raft_lease_valid(f->r[1], f->now));
    raft_message newer = {.type = RAFT_MSG_HEARTBEAT_RESP, .from = 2, .to = 1,
                          .term = raft_get_term(f->r[1]) + 1, .reject = RAFT_REJECT_STALE};
    assert_int_equal(raft_step(f->r[1], &newer, f->now), 0);
    assert_int_equal(raft_get_role(f->r[1]), RAFT_FOLLOWER);
    assert_false(raft_lease_valid(f->r[1], f->now)); /* at once, at the same instant */
    assert_int_equal(raft_lease_expiry(f->r[1]), 0);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(measured_from_send_time),
        cmocka_unit_test(expires_without_replies),
        cmocka_unit_test(late_replies_of_an_older_round_do_not_extend),
        cmocka_unit_test(minority_gives_no_lease),
        cmocka_unit_test(stepping_down_drops_lease),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
