/* test_raft_ready.c: the persist-before-send contract of the Raft core's batches: a vote grant
 * travels in the batch that persists the vote, an append acknowledgement in the batch that
 * persists the entries and any truncation they need; while a batch is outstanding nothing new
 * is handed out, and what happens meanwhile lands in the next batch, in order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

static raft *node(uint32_t id, uint64_t now)
{
    raft_config c = {.id = id, .n_nodes = 3, .heartbeat_ms = FX_HB, .election_timeout_ms = FX_T,
                     .lease_drift_ms = FX_DRIFT, .seed = id, .now_ms = now};
    raft *r = NULL;
    assert_int_equal(raft_new(&c, &r, NULL, 0), 0);
    return r;
}

static const raft_message *find_msg(const raft_update *u, uint8_t type)
{
    for (size_t k = 0; k < u->n_msgs; k++) {
        if (u->msgs[k].type == type) {
            return &u->msgs[k];
        }
    }
    return NULL;
}

static raft_message append(uint64_t term, uint64_t prev, uint64_t prev_term, raft_entry *e, uint32_t n,
                           uint64_t commit)
{
    return (raft_message){.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = term, .index = prev,
                          .log_term = prev_term, .commit = commit, .entries = e, .n_entries = n, .sent_ms = 7};
}

static void vote_grant_rides_with_the_vote(void **state)
{
    (void)state;
    raft *r = node(2, 0);
    raft_message v = {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 4};
    assert_int_equal(raft_step(r, &v, 5 * FX_T), 0);
    raft_update u;
    assert_int_equal(raft_ready(r, &u), 0);
    const raft_message *resp = find_msg(&u, RAFT_MSG_VOTE_RESP);
    assert_non_null(resp);
    assert_int_equal(resp->reject, RAFT_REJECT_NONE);
    assert_true(u.has_hard_state);
    assert_int_equal(u.hard_state.term, 4);
    assert_int_equal(u.hard_state.vote, 3);
    raft_advance(r, &u);
    assert_false(raft_has_ready(r));
    raft_free(r);
}

static void ack_rides_with_entries(void **state)
{
    (void)state;
    raft *r = node(2, 0);
    raft_entry e[2] = {{.term = 1, .index = 1, .type = RAFT_ENTRY_NOOP},
                       {.term = 1, .index = 2, .type = RAFT_ENTRY_NORMAL, .len = 1, .data = (uint8_t *)"x"}};
    raft_message m = append(1, 0, 0, e, 2, 0);
    assert_int_equal(raft_step(r, &m, 10), 0);
    raft_update u;
    assert_int_equal(raft_ready(r, &u), 0);
    assert_int_equal(u.n_entries, 2);
    assert_int_equal(u.entries[1].index, 2);
    assert_memory_equal(u.entries[1].data, "x", 1);
    const raft_message *ack = find_msg(&u, RAFT_MSG_APPEND_RESP);
    assert_non_null(ack);
    assert_int_equal(ack->reject, RAFT_REJECT_NONE);
    assert_int_equal(ack->index, 2);
    assert_int_equal(ack->sent_ms, 7); /* echoes the round, for the leader's lease */
    assert_true(u.has_hard_state && u.hard_state.term == 1);
    raft_advance(r, &u);
    raft_free(r);
}

static void truncation_rides_with_its_replacement(void **state)
{
    (void)state;
    raft *r = node(2, 0);
    raft_entry old[3] = {{.term = 1, .index = 1}, {.term = 1, .index = 2}, {.term = 1, .index = 3}};
    raft_message m = append(1, 0, 0, old, 3, 1);
    assert_int_equal(raft_step(r, &m, 10), 0);
    raft_update u;
    assert_int_equal(raft_ready(r, &u), 0);
    raft_advance(r, &u);
    /* A leader of term 2 has a different entry at 2. */
    raft_entry repl[1] = {{.term = 2, .index = 2, .type = RAFT_ENTRY_NOOP}};
    m = append(2, 1, 1, repl, 1, 1);
    assert_int_equal(raft_step(r, &m, 20), 0);
    assert_int_equal(raft_ready(r, &u), 0);
    assert_int_equal(u.truncate_from, 2);
    assert_int_equal(u.n_entries, 1);
    assert_int_equal(u.entries[0].term, 2);
    const raft_message *ack = find_msg(&u, RAFT_MSG_APPEND_RESP);
    assert_non_null(ack);
    assert_int_equal(ack->index, 2);
    assert_int_equal(ack->term, 2);
    raft_advance(r, &u);
    assert_int_equal(raft_last_index(r), 2);
    raft_free(r);
}

static void outstanding_batch_holds_back_the_next(void **state)
{
    (void)state;
    raft *r = node(2, 0);
    raft_entry e1[2] = {{.term = 1, .index = 1}, {.term = 1, .index = 2}};
    raft_message m = append(1, 0, 0, e1, 2, 0);
    assert_int_equal(raft_step(r, &m, 10), 0);
    raft_update u1, u2;
    assert_int_equal(raft_ready(r, &u1), 0);
    /* Meanwhile (the caller fsyncs in the background) the core keeps stepping. */
    raft_entry e2[1] = {{.term = 1, .index = 3}};
    m = append(1, 2, 1, e2, 1, 2);
    assert_int_equal(raft_step(r, &m, 11), 0);
    assert_false(raft_has_ready(r)); /* one batch at a time */
    assert_int_equal(u1.n_msgs, 1);
    assert_int_equal(u1.msgs[0].index, 2); /* the first batch acknowledges only its own entries */
    raft_advance(r, &u1);
    assert_true(raft_has_ready(r));
    assert_int_equal(raft_ready(r, &u2), 0);
    assert_int_equal(u2.n_entries, 1);
    assert_int_equal(u2.entries[0].index, 3);
    assert_int_equal(u2.n_msgs, 1);
    assert_int_equal(u2.msgs[0].index, 3);
    assert_true(u2.has_hard_state);
    assert_int_equal(u2.hard_state.commit, 2);
    assert_int_equal(u2.n_committed, 2); /* applied only once persisted: same batch or later */
    raft_advance(r, &u2);
    raft_free(r);
}

static void truncation_of_an_outstanding_batch_goes_in_the_next(void **state)
{
    (void)state;
    raft *r = node(2, 0);
    raft_entry e1[3] = {{.term = 1, .index = 1}, {.term = 1, .index = 2}, {.term = 1, .index = 3}};
    raft_message m = append(1, 0, 0, e1, 3, 0);
    assert_int_equal(raft_step(r, &m, 10), 0);
    raft_update u1, u2;
    assert_int_equal(raft_ready(r, &u1), 0);
    raft_entry e2[1] = {{.term = 2, .index = 2}};
    m = append(2, 1, 1, e2, 1, 0);
    m.from = 3;
    assert_int_equal(raft_step(r, &m, 11), 0);
    raft_advance(r, &u1);
    assert_int_equal(raft_ready(r, &u2), 0);
    assert_int_equal(u2.truncate_from, 2); /* cuts what the outstanding batch wrote */
    assert_int_equal(u2.n_entries, 1);
    assert_true(u2.has_hard_state);
    assert_int_equal(u2.hard_state.term, 2);
    raft_advance(r, &u2);
    raft_free(r);
}

static void crash_before_persisting_forgets_the_vote(void **state)
{
    (void)state;
    fx *f = fx_new(3, 91);
    fx_set_time(f, 5 * FX_T);
    raft_message v = {.type = RAFT_MSG_VOTE, .from = 1, .to = 3, .term = 1};
    assert_int_equal(raft_step(f->r[3], &v, f->now), 0);
    /* The batch with the vote and its grant is never persisted or sent: a crash. */
    fx_restart(f, 3);
    assert_int_equal(raft_get_vote(f->r[3]), 0);
    fx_set_time(f, f->now + FX_T); /* past the restart refusal */
    v.from = 2;
    assert_int_equal(raft_step(f->r[3], &v, f->now), 0); /* free to vote: nobody saw the first */
    assert_int_equal(raft_get_vote(f->r[3]), 2);
    fx_free(f);
}

static void hard_state_commit_names_only_durable_entries(void **state)
{
    (void)state;
    raft *r = node(2, 0);
    raft_entry e[3] = {{.term = 1, .index = 1}, {.term = 1, .index = 2}, {.term = 1, .index = 3}};
    raft_message m = append(1, 0, 0, e, 3, 3);
    assert_int_equal(raft_step(r, &m, 10), 0);
    assert_int_equal(raft_get_commit(r), 3);
    raft_update u;
    assert_int_equal(raft_ready(r, &u), 0);
    /* The entries travel in this batch: if storage wrote the hard state first and crashed, a
     * commit of 3 would name entries the disk does not hold. */
    assert_true(u.has_hard_state);
    assert_int_equal(u.hard_state.commit, 0);
    assert_int_equal(u.n_committed, 3); /* applying after this batch is durable is fine */
    raft_advance(r, &u);
    assert_int_equal(raft_ready(r, &u), 0);
    assert_int_equal(u.hard_state.commit, 3);
    assert_int_equal(u.n_entries, 0);
    raft_advance(r, &u);
    raft_free(r);
}

static void restart_adopts_a_torn_batch(void **state)
{
    (void)state;
    /* Entries of term 3 reached the disk, the hard state saying term 3 did not; and a commit
     * index beyond the log (an older storage that wrote it first). */
    raft_entry e[2] = {{.term = 2, .index = 1}, {.term = 3, .index = 2}};
    raft_config c = {.id = 1, .n_nodes = 3, .heartbeat_ms = FX_HB, .election_timeout_ms = FX_T,
                     .lease_drift_ms = FX_DRIFT, .seed = 1, .now_ms = 0,
                     .hard_state = {.term = 2, .vote = 3, .commit = 9}, .entries = e, .n_entries = 2};
    raft *r = NULL;
    assert_int_equal(raft_new(&c, &r, NULL, 0), 0);
    assert_int_equal(raft_get_term(r), 3);
    assert_int_equal(raft_get_vote(r), 0); /* no vote of term 3 was ever sent */
    assert_int_equal(raft_get_commit(r), 2);
    raft_free(r);
    raft_entry gap[1] = {{.term = 1, .index = 2}};
    c.entries = gap;
    c.n_entries = 1;
    char err[64];
    assert_int_equal(raft_new(&c, &r, err, sizeof err), -EINVAL); /* not after the snapshot */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vote_grant_rides_with_the_vote),
        cmocka_unit_test(ack_rides_with_entries),
        cmocka_unit_test(truncation_rides_with_its_replacement),
        cmocka_unit_test(outstanding_batch_holds_back_the_next),
        cmocka_unit_test(truncation_of_an_outstanding_batch_goes_in_the_next),
        cmocka_unit_test(crash_before_persisting_forgets_the_vote),
        cmocka_unit_test(hard_state_commit_names_only_durable_entries),
        cmocka_unit_test(restart_adopts_a_torn_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
