/* test_remedy_driver.c: the remediation driver's step function over a real ledger: proposals,
 * the intent run by its proposer only (by index), a commit inside the propose call (a cluster of
 * one), the lease refusal, shadow mode, a replayed intent, patience, alerts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "remedy/remedy.h"

#define NOW INT64_C(1700000000000)

typedef struct {
    md_ledger *l;
    md_driver *d;
    uint64_t index;     /* the last Raft index used */
} fx;

static void setup_fx(fx *f, bool shadow)
{
    const char *names[] = { "web" };
    assert_int_equal(md_ledger_new(names, 1, &f->l), 0);
    md_driver_service svc = { .shadow = shadow };
    md_escalation_knobs_default(&svc.knobs);
    svc.caps.step[MD_STEP_RESTART] = true;
    md_driver_config c = { .node_id = "n1", .split_alert_after_ms = 1000, .patience_ms = 3000, .n = 1, .svc = &svc };
    assert_int_equal(md_driver_new(&c, &f->d), 0);
    f->index = 0;
}

static void teardown_fx(fx *f)
{
    md_driver_free(f->d);
    md_ledger_free(f->l);
}

static md_driver_output step(fx *f, md_verdict v, bool leads, int64_t mono)
{
    md_driver_input in = { .svc = 0, .ledger = md_ledger_service_at(f->l, 0), .verdict = v,
                           .verdict_since_ms = NOW - 1000, .own_state = MD_STATE_UP, .leads = leads,
                           .now_ms = NOW, .mono_ms = mono };
    md_driver_output out;
    md_driver_step(f->d, &in, &out);
    return out;
}

/* Commits e at the next index on the ledger and tells the driver. */
static md_driver_applied_out commit(fx *f, const md_ledger_entry *e, bool leads, bool lease)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(md_ledger_entry_encode(e, &buf, &len), 0);
    md_ledger_event ev;
    assert_int_equal(md_ledger_apply(f->l, ++f->index, buf, len, &ev), 0);
    free(buf);
    md_driver_applied_out out;
    md_driver_applied(f->d, &ev, leads, lease, &out);
    return out;
}

/* Opens an incident the usual way (proposed, then committed). */
static void open_incident(fx *f)
{
    md_driver_output o = step(f, MD_VERDICT_DOWN, true, 0);
    assert_true(o.propose);
    assert_int_equal(o.entry.type, MD_LEDGER_INCIDENT_OPEN);
    assert_string_equal(o.entry.actor, "n1");
    md_driver_action a;
    assert_false(md_driver_proposed(f->d, 0, 0, f->index + 1, true, true, 0, &a));
    md_driver_applied_out ao = commit(f, &o.entry, true, true);
    assert_true(ao.alert);
    assert_false(ao.act);
}

static void test_intent_runs_once_committed(void **state)
{
    (void)state;
    fx f;
    setup_fx(&f, false);
    open_incident(&f);
    md_driver_output o = step(&f, MD_VERDICT_DOWN, true, 10);
    assert_true(o.propose);
    assert_int_equal(o.entry.type, MD_LEDGER_INTENT);
    assert_int_equal(o.entry.u.intent.step, MD_STEP_RESTART);
    md_driver_action a;
    assert_false(md_driver_proposed(f.d, 0, 0, f.index + 1, true, true, 10, &a)); /* not committed yet */
    /* Nothing more is proposed while it awaits its commit. */
    assert_false(step(&f, MD_VERDICT_DOWN, true, 20).propose);
    md_driver_applied_out ao = commit(&f, &o.entry, true, true);
    assert_true(ao.act);
    assert_int_equal(ao.action.how, MD_DRIVER_RUN);
    assert_int_equal(ao.action.action_id, f.index);
    assert_int_equal(ao.action.step, MD_STEP_RESTART);
    assert_int_equal(ao.action.attempt, 1);
    assert_int_equal(ao.action.timeout_ms, 30000);
    assert_true(md_driver_in_flight(f.d, 0));
    md_driver_action_done(f.d, 0);
    assert_false(md_driver_in_flight(f.d, 0));
    teardown_fx(&f);
}

/* A cluster of one: the intent commits and applies inside the propose call, before the driver
 * knows its index; it must run when the index comes back. */
static void test_intent_committed_inside_propose_runs(void **state)
{
    (void)state;
    fx f;
    setup_fx(&f, false);
    open_incident(&f);
    md_driver_output o = step(&f, MD_VERDICT_DOWN, true, 10);
    assert_int_equal(o.entry.type, MD_LEDGER_INTENT);
    md_driver_applied_out ao = commit(&f, &o.entry, true, true);
    assert_true(ao.alert);
    assert_false(ao.act);
    md_driver_action a;
    assert_true(md_driver_proposed(f.d, 0, 0, f.index, true, true, 10, &a));
    assert_int_equal(a.how, MD_DRIVER_RUN);
    assert_int_equal(a.action_id, f.index);
    assert_int_equal(a.attempt, 1);
    /* ... and the driver does not wait out its patience: the proposal is done. */
    assert_true(md_driver_in_flight(f.d, 0));
    o = step(&f, MD_VERDICT_DOWN, true, 20);
    assert_false(o.propose); /* the action runs here: nothing to propose */
    assert_int_equal(o.decision, MD_ESC_NONE);
    teardown_fx(&f);
}

static void test_no_lease_is_refused(void **state)
{
    (void)state;
    fx f;
    setup_fx(&f, false);
    open_incident(&f);
    md_driver_output o = step(&f, MD_VERDICT_DOWN, true, 10);
    md_driver_action a;
    assert_false(md_driver_proposed(f.d, 0, 0, f.index + 1, true, true, 10, &a));
    md_driver_applied_out ao = commit(&f, &o.entry, true, false);
    assert_true(ao.act);
    assert_int_equal(ao.action.how, MD_DRIVER_REFUSED_LEASE);
    assert_false(md_driver_in_flight(f.d, 0));
    teardown_fx(&f);
}

static void test_replayed_intent_never_runs(void **state)
{
    (void)state;
    fx f;
    setup_fx(&f, false);
    open_incident(&f);
    md_driver_output o = step(&f, MD_VERDICT_DOWN, true, 10);
    md_driver_action a;
    assert_false(md_driver_proposed(f.d, 0, 0, f.index + 1, true, true, 10, &a));
    /* The process restarts before the commit: a new driver replays the log as the leader. */
    md_driver_free(f.d);
    md_driver_service svc = { 0 };
    md_escalation_knobs_default(&svc.knobs);
    svc.caps.step[MD_STEP_RESTART] = true;
    md_driver_config c = { .node_id = "n1", .patience_ms = 3000, .n = 1, .svc = &svc };
    assert_int_equal(md_driver_new(&c, &f.d), 0);
    md_driver_applied_out ao = commit(&f, &o.entry, true, true);
    assert_true(ao.alert);
    assert_false(ao.act);
    teardown_fx(&f);
}

static void test_shadow_and_followers(void **state)
{
    (void)state;
    fx f;
    setup_fx(&f, true);
    assert_false(step(&f, MD_VERDICT_DOWN, false, 0).propose); /* a follower never decides */
    open_incident(&f);
    md_driver_output o = step(&f, MD_VERDICT_DOWN, true, 10);
    assert_true(o.entry.u.intent.shadow);
    md_driver_action a;
    assert_false(md_driver_proposed(f.d, 0, 0, f.index + 1, true, false, 10, &a));
    md_driver_applied_out ao = commit(&f, &o.entry, true, false);
    assert_int_equal(ao.action.how, MD_DRIVER_RUN_SHADOW); /* no lease needed: nothing is done */
    assert_true(md_driver_in_flight(f.d, 0));
    teardown_fx(&f);
}

static void test_patience_and_failed_proposal(void **state)
{
    (void)state;
    fx f;
    setup_fx(&f, false);
    md_driver_output o = step(&f, MD_VERDICT_DOWN, true, 0);
    md_driver_action a;
    assert_false(md_driver_proposed(f.d, 0, -EPERM, 0, false, false, 0, &a));
    assert_true(step(&f, MD_VERDICT_DOWN, true, 1).propose); /* a failed proposal is retried at once */
    assert_false(md_driver_proposed(f.d, 0, 0, 7, true, true, 1, &a));
    assert_false(step(&f, MD_VERDICT_DOWN, true, 2999).propose);
    o = step(&f, MD_VERDICT_DOWN, true, 3001); /* lost in a leader change: proposed again */
    assert_true(o.propose);
    assert_false(md_driver_proposed(f.d, 0, 0, 8, true, true, 3001, &a));
    teardown_fx(&f);
}

static void test_split_and_degraded_alert_once(void **state)
{
    (void)state;
    fx f;
    setup_fx(&f, false);
    md_driver_input in = { .svc = 0, .ledger = md_ledger_service_at(f.l, 0), .verdict = MD_VERDICT_SPLIT,
                           .verdict_since_ms = NOW - 1000, .own_state = MD_STATE_DEGRADED, .own_since_ms = NOW - 5,
                           .leads = true, .now_ms = NOW };
    md_driver_output out;
    md_driver_step(f.d, &in, &out);
    assert_false(out.propose);
    assert_int_equal(out.n_alerts, 2);
    assert_int_equal(out.alerts[0].kind, MD_DRIVER_ALERT_SPLIT);
    assert_int_equal(out.alerts[0].since_ms, NOW - 1000);
    assert_int_equal(out.alerts[0].split_for_ms, 1000);
    assert_int_equal(out.alerts[1].kind, MD_DRIVER_ALERT_DEGRADED);
    md_driver_step(f.d, &in, &out);
    assert_int_equal(out.n_alerts, 0);
    teardown_fx(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intent_runs_once_committed),
        cmocka_unit_test(test_intent_committed_inside_propose_runs),
        cmocka_unit_test(test_no_lease_is_refused),
        cmocka_unit_test(test_replayed_intent_never_runs),
        cmocka_unit_test(test_shadow_and_followers),
        cmocka_unit_test(test_patience_and_failed_proposal),
        cmocka_unit_test(test_split_and_degraded_alert_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
