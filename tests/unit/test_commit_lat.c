/* test_commit_lat.c: unit tests of the leader's commit-latency record (node/commit_lat.c): the
 * count skips replayed entries, only own proposals are timed, the ring keeps the newest 1,024,
 * nearest-rank quantiles, dropped slots, and forgetting on losing leadership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "cluster/commit_lat.h"

static md_commit_lat *fresh(uint64_t commit_at_start)
{
    md_commit_lat *l = malloc(sizeof *l); /* 8 KiB: kept off cmocka's stack */
    assert_non_null(l);
    md_commit_lat_init(l, commit_at_start);
    return l;
}

static void test_counts_skip_replayed_entries(void **state)
{
    (void)state;
    md_commit_lat *l = fresh(10);
    for (uint64_t i = 1; i <= 12; i++) /* a restart replays 1..10 */
        md_commit_lat_committed(l, i, 1000);
    assert_int_equal(l->committed_total, 2);
    md_commit_lat_committed(l, 12, 1000); /* never counted twice */
    assert_int_equal(l->committed_total, 2);
    size_t n;
    double p50, p99;
    md_commit_lat_summary(l, &n, &p50, &p99);
    assert_int_equal(n, 0); /* none of them was ours */
    assert_true(p50 == 0 && p99 == 0);
    free(l);
}

static void test_own_proposals_are_timed(void **state)
{
    (void)state;
    md_commit_lat *l = fresh(0);
    md_commit_lat_proposed(l, 1, 1000000);
    md_commit_lat_proposed(l, 2, 1000000);
    md_commit_lat_committed(l, 1, 1002500); /* 2.5 ms */
    md_commit_lat_committed(l, 2, 1004000); /* 4 ms */
    md_commit_lat_committed(l, 3, 1004000); /* someone else's: counted, not timed */
    assert_int_equal(l->committed_total, 3);
    size_t n;
    double p50, p99;
    md_commit_lat_summary(l, &n, &p50, &p99);
    assert_int_equal(n, 2);
    assert_true(p50 == 2.5);
    assert_true(p99 == 4.0);
    free(l);
}

static void test_nearest_rank_over_the_newest(void **state)
{
    (void)state;
    md_commit_lat *l = fresh(0);
    /* 1..100 ms, in a shuffled order */
    for (uint64_t i = 1; i <= 100; i++) {
        uint64_t ms = (i * 37) % 100 + 1;
        md_commit_lat_proposed(l, i, 0);
        md_commit_lat_committed(l, i, (int64_t)ms * 1000);
    }
    size_t n;
    double p50, p99;
    md_commit_lat_summary(l, &n, &p50, &p99);
    assert_int_equal(n, 100);
    assert_true(p50 == 50.0);
    assert_true(p99 == 99.0);
    /* 2,000 more of 1 ms push every older sample out of the ring */
    for (uint64_t i = 101; i <= 2100; i++) {
        md_commit_lat_proposed(l, i, 0);
        md_commit_lat_committed(l, i, 1000);
    }
    md_commit_lat_summary(l, &n, &p50, &p99);
    assert_int_equal(n, MD_COMMIT_LAT_RING);
    assert_true(p50 == 1.0 && p99 == 1.0);
    free(l);
}

static void test_reused_slot_drops_the_older(void **state)
{
    (void)state;
    md_commit_lat *l = fresh(0);
    md_commit_lat_proposed(l, 1, 0);
    md_commit_lat_proposed(l, 1 + MD_COMMIT_LAT_PENDING, 5000); /* same slot */
    md_commit_lat_committed(l, 1, 9000);
    size_t n;
    double p50, p99;
    md_commit_lat_summary(l, &n, &p50, &p99);
    assert_int_equal(n, 0);
    md_commit_lat_committed(l, 1 + MD_COMMIT_LAT_PENDING, 9000);
    md_commit_lat_summary(l, &n, &p50, &p99);
    assert_int_equal(n, 1);
    assert_true(p50 == 4.0);
    md_commit_lat_committed(l, 1 + MD_COMMIT_LAT_PENDING, 9000); /* a slot is used once */
    md_commit_lat_summary(l, &n, &p50, &p99);
    assert_int_equal(n, 1);
    free(l);
}

static void test_forget_on_stepping_down(void **state)
{
    (void)state;
    md_commit_lat *l = fresh(0);
    md_commit_lat_proposed(l, 1, 0);
    md_commit_lat_committed(l, 1, 1000);
    md_commit_lat_proposed(l, 2, 0);
    md_commit_lat_forget(l);
    md_commit_lat_committed(l, 2, 7000); /* a new leader's entry 2 is not our proposal */
    size_t n;
    double p50, p99;
    md_commit_lat_summary(l, &n, &p50, &p99);
    assert_int_equal(n, 0);
    assert_int_equal(l->committed_total, 2); /* the count is not the leader's alone */
    md_commit_lat_proposed(l, 0, 0);          /* no index: ignored */
    md_commit_lat_committed(l, 3, 1000);
    md_commit_lat_summary(l, &n, &p50, &p99);
    assert_int_equal(n, 0);
    free(l);
}

static void test_negative_and_huge_latencies_clamp(void **state)
{
    (void)state;
    md_commit_lat *l = fresh(0);
    md_commit_lat_proposed(l, 1, 5000);
    md_commit_lat_committed(l, 1, 1000); /* a clock step back: 0, never negative */
    md_commit_lat_proposed(l, 2, 0);
    md_commit_lat_committed(l, 2, INT64_C(1) << 40);
    size_t n;
    double p50, p99;
    md_commit_lat_summary(l, &n, &p50, &p99);
    assert_int_equal(n, 2);
    assert_true(p50 == 0.0);
    assert_true(p99 == (double)UINT32_MAX / 1000.0);
    free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_skip_replayed_entries),
        cmocka_unit_test(test_own_proposals_are_timed),
        cmocka_unit_test(test_nearest_rank_over_the_newest),
        cmocka_unit_test(test_reused_slot_drops_the_older),
        cmocka_unit_test(test_forget_on_stepping_down),
        cmocka_unit_test(test_negative_and_huge_latencies_clamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
