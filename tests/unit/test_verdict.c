/* test_verdict.c: the quorum verdict as a table of cases: fresh, stale, dead, isolated, missing
 * and undecided voters, quorums from 1 to n, and the SPLIT and UNKNOWN boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "health/health.h"

#define FRESH 600 /* 3 x a 200 ms interval */

/* Shorthands for one voter. */
#define UPv { .present = true, .alive = true, .state = MD_STATE_UP, .age_ms = 10 }
#define DEGv { .present = true, .alive = true, .state = MD_STATE_DEGRADED, .age_ms = 10 }
#define DOWNv { .present = true, .alive = true, .state = MD_STATE_DOWN, .age_ms = 10 }
#define NEWv { .present = true, .alive = true, .state = MD_STATE_UNKNOWN, .age_ms = 10 }
#define STALE_DOWNv { .present = true, .alive = true, .state = MD_STATE_DOWN, .age_ms = FRESH + 1 }
#define EDGE_DOWNv { .present = true, .alive = true, .state = MD_STATE_DOWN, .age_ms = FRESH }
#define DEAD_DOWNv { .present = true, .alive = false, .state = MD_STATE_DOWN, .age_ms = 10 }
#define ISO_DOWNv { .present = true, .alive = true, .isolated = true, .state = MD_STATE_DOWN, .age_ms = 10 }
#define MISSINGv { .present = false }
#define FUTUREv { .present = true, .alive = true, .state = MD_STATE_DOWN, .age_ms = -5 }

typedef struct {
    const char *name;
    int n;
    int quorum;
    md_voter v[7];
    md_verdict want;
    int up, down;
} vcase;

static const vcase cases[] = {
    { "all up", 3, 2, { UPv, UPv, UPv }, MD_VERDICT_UP, 3, 0 },
    { "degraded counts as up", 3, 2, { DEGv, DEGv, DOWNv }, MD_VERDICT_UP, 2, 1 },
    { "two of three down", 3, 2, { DOWNv, DOWNv, UPv }, MD_VERDICT_DOWN, 1, 2 },
    { "one down is not enough", 3, 2, { DOWNv, UPv, UPv }, MD_VERDICT_UP, 2, 1 },
    { "one down, one up, one new", 3, 2, { DOWNv, UPv, NEWv }, MD_VERDICT_SPLIT, 1, 1 },
    { "stale down does not count", 3, 2, { DOWNv, STALE_DOWNv, UPv }, MD_VERDICT_SPLIT, 1, 1 },
    { "freshness limit is inclusive", 3, 2, { DOWNv, EDGE_DOWNv, UPv }, MD_VERDICT_DOWN, 1, 2 },
    { "dead voter does not count", 3, 2, { DOWNv, DEAD_DOWNv, UPv }, MD_VERDICT_SPLIT, 1, 1 },
    { "isolated voter does not count", 3, 2, { DOWNv, ISO_DOWNv, UPv }, MD_VERDICT_SPLIT, 1, 1 },
    { "clock-skewed future age is stale", 3, 2, { DOWNv, FUTUREv, UPv }, MD_VERDICT_SPLIT, 1, 1 },
    { "survivors still form a quorum", 3, 2, { DOWNv, DOWNv, DEAD_DOWNv }, MD_VERDICT_DOWN, 0, 2 },
    { "only one fresh vote", 3, 2, { DOWNv, MISSINGv, STALE_DOWNv }, MD_VERDICT_UNKNOWN, 0, 1 },
    { "nothing known", 3, 2, { MISSINGv, MISSINGv, MISSINGv }, MD_VERDICT_UNKNOWN, 0, 0 },
    { "new nodes have no opinion", 3, 2, { NEWv, NEWv, UPv }, MD_VERDICT_UNKNOWN, 1, 0 },
    { "quorum 3 needs everyone", 3, 3, { DOWNv, DOWNv, UPv }, MD_VERDICT_SPLIT, 1, 2 },
    { "quorum 3 met", 3, 3, { DOWNv, DOWNv, DOWNv }, MD_VERDICT_DOWN, 0, 3 },
    { "quorum 1: both sides reach it", 3, 1, { DOWNv, UPv, UPv }, MD_VERDICT_SPLIT, 2, 1 },
    { "quorum 1: one down alone", 3, 1, { DOWNv, MISSINGv, DEAD_DOWNv }, MD_VERDICT_DOWN, 0, 1 },
    { "five nodes, three down", 5, 3, { DOWNv, DOWNv, DOWNv, UPv, UPv }, MD_VERDICT_DOWN, 2, 3 },
    { "five nodes, two down two up", 5, 3, { DOWNv, DOWNv, UPv, UPv, STALE_DOWNv }, MD_VERDICT_SPLIT, 2, 2 },
    { "five nodes, minority alive", 5, 3, { DOWNv, DOWNv, DEAD_DOWNv, DEAD_DOWNv, MISSINGv }, MD_VERDICT_UNKNOWN, 0, 2 },
    { "single node", 1, 1, { DOWNv }, MD_VERDICT_DOWN, 0, 1 },
    { "single node up", 1, 1, { UPv }, MD_VERDICT_UP, 1, 0 },
    { "seven nodes, four up", 7, 4, { UPv, UPv, UPv, UPv, DOWNv, DOWNv, DOWNv }, MD_VERDICT_UP, 4, 3 },
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const vcase *c = &cases[i];
        md_vote votes[7];
        md_verdict_result r = md_verdict_compute(c->v, (size_t)c->n, c->quorum, FRESH, votes);
        if (r.verdict != c->want || r.up != c->up || r.down != c->down)
            fail_msg("case '%s': got %s up=%d down=%d, want %s up=%d down=%d", c->name,
                     md_verdict_name(r.verdict), r.up, r.down, md_verdict_name(c->want), c->up, c->down);
        assert_int_equal(r.counted, r.up + r.down);
        assert_int_equal(r.quorum, c->quorum);
    }
}

static void test_vote_reasons(void **state)
{
    (void)state;
    const md_voter v[] = { UPv, DOWNv, NEWv, MISSINGv, STALE_DOWNv, DEAD_DOWNv, ISO_DOWNv };
    const md_vote want[] = { MD_VOTE_UP, MD_VOTE_DOWN, MD_VOTE_NONE, MD_VOTE_MISSING, MD_VOTE_STALE, MD_VOTE_DEAD,
                             MD_VOTE_ISOLATED };
    md_vote got[7];
    md_verdict_compute(v, 7, 4, FRESH, got);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(got[i], want[i]);
        assert_int_equal(md_vote_of(&v[i], FRESH), want[i]);
    }
    assert_string_equal(md_vote_name(MD_VOTE_STALE), "stale");
    assert_string_equal(md_verdict_name(MD_VERDICT_SPLIT), "SPLIT");
}

static void test_default_quorum(void **state)
{
    (void)state;
    assert_int_equal(md_default_quorum(1), 1);
    assert_int_equal(md_default_quorum(2), 2);
    assert_int_equal(md_default_quorum(3), 2);
    assert_int_equal(md_default_quorum(4), 3);
    assert_int_equal(md_default_quorum(5), 3);
    assert_int_equal(md_default_quorum(7), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_vote_reasons),
        cmocka_unit_test(test_default_quorum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
