/* test_raft_commit.c: commitment in the Raft core (Raft 5.4.2, Figure 8): a leader never
 * commits an entry of an older term by counting its replicas, only as a side effect of an
 * entry of its own term after it; the no-op each new leader appends is that entry. The
 * Figure 8 scenario shows why: an old entry on a majority can still be overwritten. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

static bool carries_term(const raft_message *m, uint64_t term)
{
    for (uint32_t k = 0; k < m->n_entries; k++) {
        if (m->entries[k].term == term) {
            return true;
        }
    }
    return false;
}

/* Delivers everything queued, repeatedly, with entries of term `hold` cut off the end of
 * every APPEND (as if each had been sent without them). */
static void deliver_holding(fx *f, uint64_t hold)
{
    for (int k; (k = fx_find(f, 0, 0)) >= 0;) {
        raft_message *m = &f->q[k].m;
        while (m->type == RAFT_MSG_APPEND && carries_term(m, hold)) {
            m->n_entries--;
        }
        fx_deliver_one(f, (size_t)k);
    }
}

/* Figure 8 up to (c): S1 led term 2 and put index 2 on S2; S5 led term 3 and put its own
 * index 2 on itself only. S1 now wins term 4 with S2, S3, S4 and copies index 2 (term 2) to
 * S3 and S4, while its no-op (term 4) is held back: index 2 sits on a majority. The cluster is
 * settled with S5 cut off and S1 still leader. */
static fx *figure8(void)
{
    fx *f = fx_new_opts(5, 51, 1);
    uint64_t s1[] = {1, 2}, s3[] = {1}, s5[] = {1, 3};
    fx_set_log(f, 1, s1, 2, 3);
    fx_set_log(f, 2, s1, 2, 3);
    fx_set_log(f, 3, s3, 1, 3);
    fx_set_log(f, 4, s3, 1, 3);
    fx_set_log(f, 5, s5, 2, 3);
    fx_isolate(f, 5, true);
    fx_set_time(f, 3 * FX_T);
    fx_tick(f, 1);
    deliver_holding(f, 4);
    assert_int_equal(raft_get_role(f->r[1]), RAFT_LEADER);
    assert_int_equal(raft_get_term(f->r[1]), 4);
    return f;
}

static void old_term_entry_on_majority_is_not_committed(void **state)
{
    (void)state;
    fx *f = figure8();
    assert_int_equal(raft_match_index(f->r[1], 2), 2);
    assert_int_equal(raft_match_index(f->r[1], 3), 2);
    assert_int_equal(raft_match_index(f->r[1], 4), 2);
    assert_int_equal(raft_last_index(f->r[3]), 2);
    assert_int_equal(raft_term_at(f->r[1], 2), 2);
    /* S1 to S4 hold index 2: a majority of five, but of term 2, not 4. */
    assert_int_equal(raft_get_commit(f->r[1]), 0);
    fx_free(f);
}

static void noop_commits_older_entries(void **state)
{
    (void)state;
    fx *f = figure8();
    const raft_entry *noop = raft_entry_at(f->r[1], 3);
    assert_non_null(noop);
    assert_int_equal(noop->type, RAFT_ENTRY_NOOP);
    assert_int_equal(noop->term, 4);
    assert_int_equal(noop->len, 0);
    fx_run(f, 3 * FX_HB, 1); /* now the no-op flows */
    assert_int_equal(raft_get_commit(f->r[1]), 3);
    assert_int_equal(f->applied[1], 3);
    assert_int_equal(raft_get_commit(f->r[3]), 3);
    fx_free(f);
}

static void overwriting_the_old_entry_loses_nothing_committed(void **state)
{
    (void)state;
    fx *f = figure8();
    /* (d): S1 goes away before its no-op spreads; S5 (last term 3 > 2) wins with S3, S4. */
    fx_isolate(f, 1, true);
    fx_isolate(f, 5, false);
    f->cut[1][5] = f->cut[5][1] = true;
    for (int round = 0; round < 2; round++) { /* the first pre-vote only teaches S5 term 4 */
        fx_set_time(f, f->now + 3 * FX_T);
        fx_tick(f, 5);
        fx_settle(f);
    }
    assert_int_equal(fx_leader(f), 5);
    assert_int_equal(raft_get_term(f->r[5]), 5);
    /* Index 2 of term 2 is gone from S3 and S4: had S1 counted it committed, this would
     * have been a committed entry lost. It never was. */
    assert_int_equal(raft_term_at(f->r[3], 2), 3);
    assert_int_equal(raft_term_at(f->r[4], 2), 3);
    assert_int_equal(raft_get_commit(f->r[5]), 3);
    fx_free(f);
}

static void leader_counts_itself_only_when_durable(void **state)
{
    (void)state;
    fx *f = fx_new(1, 52);
    fx_elect(f, 1);
    assert_int_equal(raft_propose(f->r[1], RAFT_ENTRY_NORMAL, "x", 1, NULL), 0);
    /* Before the batch holding the entry is persisted, not even a cluster of one commits it. */
    assert_int_equal(raft_get_commit(f->r[1]), 1);
    raft_update u;
    assert_int_equal(raft_ready(f->r[1], &u), 0);
    assert_int_equal(u.n_entries, 1);
    assert_int_equal(u.n_committed, 0);
    assert_int_equal(raft_get_commit(f->r[1]), 1);
    raft_advance(f->r[1], &u);
    assert_int_equal(raft_get_commit(f->r[1]), 2);
    assert_int_equal(raft_ready(f->r[1], &u), 0);
    assert_int_equal(u.n_committed, 1);
    assert_int_equal(u.committed[0].index, 2);
    raft_advance(f->r[1], &u);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(old_term_entry_on_majority_is_not_committed),
        cmocka_unit_test(noop_commits_older_entries),
        cmocka_unit_test(overwriting_the_old_entry_loses_nothing_committed),
        cmocka_unit_test(leader_counts_itself_only_when_durable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
