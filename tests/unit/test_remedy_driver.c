/* test_remedy_driver.c: the remediation driver's step function over a real ledger: proposals,
 * the intent run by its proposer only (by index), a commit inside the propose call (a cluster of
 * one), the lease refusal, shadow mode, a replayed intent, patience, alerts, and actions that do
 * not reach their target (blocked: told once, retried with backoff, given up as NOT_ATTEMPTED). */
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
                           .lease_valid = leads, .now_ms = NOW, .mono_ms = mono };
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

/* The leader proposes the next intent at mono and learns its index; it is not committed yet. */
static md_driver_output propose_intent(fx *f, int64_t mono)
{
    md_driver_output o = step(f, MD_VERDICT_DOWN, true, mono);
    assert_true(o.propose);
    assert_int_equal(o.entry.type, MD_LEDGER_INTENT);
    md_driver_action a;
    assert_false(md_driver_proposed(f->d, 0, 0, f->index + 1, true, true, mono, &a));
    return o;
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
    md_driver_action a;
    md_driver_output o = propose_intent(&f, 10);
    md_driver_applied_out ao = commit(&f, &o.entry, true, false);
    assert_true(ao.act);
    assert_int_equal(ao.action.how, MD_DRIVER_REFUSED_LEASE);
    assert_false(md_driver_in_flight(f.d, 0));
    /* Only its proposer could have run it, and it did not: NOT_ATTEMPTED at once, not counted. */
    o = step(&f, MD_VERDICT_DOWN, true, 20);
    assert_true(o.propose);
    assert_int_equal(o.entry.type, MD_LEDGER_RESULT);
    assert_int_equal(o.entry.u.result.outcome, MD_OUTCOME_NOT_ATTEMPTED);
    assert_int_equal(o.entry.u.result.action, f.index);
    assert_false(md_driver_proposed(f.d, 0, 0, f.index + 1, true, true, 20, &a));
    commit(&f, &o.entry, true, true);
    const md_ledger_incident *inc = md_ledger_service_at(f.l, 0)->open;
    assert_int_equal(inc->attempts[MD_STEP_RESTART], 0);
    /* ... and the same step comes again as attempt 1 */
    o = step(&f, MD_VERDICT_DOWN, true, 30);
    assert_int_equal(o.entry.type, MD_LEDGER_INTENT);
    assert_int_equal(o.entry.u.intent.attempt, 1);
    assert_false(md_driver_proposed(f.d, 0, 0, f.index + 1, true, true, 30, &a));
    teardown_fx(&f);
}

/* Runs restart #1 (proposed, committed, started) and returns the action id. */
static uint64_t run_restart(fx *f, int64_t mono)
{
    open_incident(f);
    md_driver_output o = propose_intent(f, mono);
    md_driver_applied_out ao = commit(f, &o.entry, true, true);
    assert_true(ao.act);
    assert_int_equal(ao.action.how, MD_DRIVER_RUN);
    return ao.action.action_id;
}

static void test_blocked_is_told_once_and_retried_with_backoff(void **state)
{
    (void)state;
    fx f;
    setup_fx(&f, false);
    uint64_t action = run_restart(&f, 10);
    md_driver_action_blocked(f.d, 0, "auth refused", 0, 1000);
    assert_string_equal(md_driver_blocked_reason(f.d, 0), "auth refused");
    assert_true(md_driver_in_flight(f.d, 0));
    /* the BLOCKED entry, once */
    md_driver_output o = step(&f, MD_VERDICT_DOWN, true, 1001);
    assert_true(o.propose);
    assert_int_equal(o.entry.type, MD_LEDGER_BLOCKED);
    assert_int_equal(o.entry.u.blocked.action, action);
    md_driver_action a;
    assert_false(md_driver_proposed(f.d, 0, 0, f.index + 1, true, true, 1001, &a));
    md_driver_applied_out ao = commit(&f, &o.entry, true, true);
    assert_true(ao.alert);
    assert_string_equal(md_ledger_service_at(f.l, 0)->open->blocked_reason, "auth refused");
    /* nothing until the backoff (1 s) passed, then a retry of the same action */
    assert_false(step(&f, MD_VERDICT_DOWN, true, 1999).retry);
    o = step(&f, MD_VERDICT_DOWN, true, 2000);
    assert_false(o.propose);
    assert_true(o.retry);
    assert_int_equal(o.retry_action->how, MD_DRIVER_RUN);
    assert_int_equal(o.retry_action->action_id, action);
    assert_int_equal(o.retry_action->attempt, 1);
    /* blocked again for the same reason: no new entry; the wait doubles; Retry-After wins but is capped */
    md_driver_action_blocked(f.d, 0, "auth refused", 0, 2000);
    assert_false(step(&f, MD_VERDICT_DOWN, true, 2001).propose);
    assert_false(step(&f, MD_VERDICT_DOWN, true, 3999).retry);
    assert_true(step(&f, MD_VERDICT_DOWN, true, 4000).retry);
    md_driver_action_blocked(f.d, 0, "rate limited", 3600000, 4000);
    o = step(&f, MD_VERDICT_DOWN, true, 4001); /* a new reason is told */
    assert_int_equal(o.entry.type, MD_LEDGER_BLOCKED);
    assert_false(md_driver_proposed(f.d, 0, 0, f.index + 1, true, true, 4001, &a));
    commit(&f, &o.entry, true, true);
    assert_false(step(&f, MD_VERDICT_DOWN, true, 4000 + MD_DRIVER_BACKOFF_MAX_MS - 1).retry);
    /* no retry without the lease or without a quorum DOWN, and no giving up for SPLIT either */
    md_driver_input in = { .svc = 0, .ledger = md_ledger_service_at(f.l, 0), .verdict = MD_VERDICT_DOWN,
                           .leads = true, .lease_valid = false, .now_ms = NOW, .mono_ms = 40000 };
    md_driver_step(f.d, &in, &o);
    assert_false(o.retry || o.propose);
    in.lease_valid = true;
    in.verdict = MD_VERDICT_SPLIT;
    md_driver_step(f.d, &in, &o);
    assert_false(o.retry || o.propose);
    /* it gets through: an ordinary result follows and the block is forgotten */
    assert_true(step(&f, MD_VERDICT_DOWN, true, 40000).retry);
    md_driver_action_done(f.d, 0);
    assert_null(md_driver_blocked_reason(f.d, 0));
    assert_false(md_driver_holds(f.d, 0));
    teardown_fx(&f);
}

static void test_blocked_is_given_up_without_counting(void **state)
{
    (void)state;
    static const struct { md_verdict v; bool leads; bool pause; const char *why; } cases[] = {
        { MD_VERDICT_UP, true, false, "recovered" },
        { MD_VERDICT_DOWN, false, false, "stopped leading" },
        { MD_VERDICT_DOWN, true, true, "paused" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fx f;
        setup_fx(&f, false);
        uint64_t action = run_restart(&f, 10);
        md_driver_action_blocked(f.d, 0, "unreachable", 0, 100);
        md_driver_action a;
        md_driver_output o = step(&f, MD_VERDICT_DOWN, true, 101); /* the BLOCKED entry */
        assert_false(md_driver_proposed(f.d, 0, 0, f.index + 1, true, true, 101, &a));
        commit(&f, &o.entry, true, true);
        if (cases[k].pause) {
            md_ledger_entry e = { .type = MD_LEDGER_PAUSE, .service = "web", .at_ms = NOW, .actor = "n1" };
            strcpy(e.u.pause.by, "ops");
            commit(&f, &e, true, true);
        }
        assert_true(md_driver_holds(f.d, 0));
        o = step(&f, cases[k].v, cases[k].leads, 102);
        assert_true(o.propose);
        assert_int_equal(o.entry.type, MD_LEDGER_RESULT);
        assert_int_equal(o.entry.u.result.action, action);
        assert_int_equal(o.entry.u.result.outcome, MD_OUTCOME_NOT_ATTEMPTED);
        char detail[300];
        snprintf(detail, sizeof detail, "%.*s", (int)o.entry.u.result.detail.len, o.entry.u.result.detail.p);
        assert_non_null(strstr(detail, cases[k].why));
        assert_non_null(strstr(detail, "unreachable"));
        assert_false(md_driver_in_flight(f.d, 0));
        /* a forward that failed is tried again; one that went through is done */
        assert_false(md_driver_proposed(f.d, 0, -EAGAIN, 0, cases[k].leads, cases[k].leads, 102, &a));
        o = step(&f, cases[k].v, cases[k].leads, 103);
        assert_true(o.propose);
        assert_false(md_driver_proposed(f.d, 0, 0, cases[k].leads ? f.index + 1 : 0, cases[k].leads, cases[k].leads,
                                        103, &a));
        assert_false(md_driver_holds(f.d, 0));
        commit(&f, &o.entry, cases[k].leads, cases[k].leads);
        const md_ledger_incident *inc = md_ledger_service_at(f.l, 0)->open;
        assert_int_equal(inc->attempts[MD_STEP_RESTART], 0);
        assert_int_equal(inc->blocked_action, 0);
        assert_int_equal(md_ledger_service_at(f.l, 0)->more->n_recent, 0); /* the hour's budget is not spent */
        teardown_fx(&f);
    }
}

/* A leader that stops leading between its proposal and the commit never runs the intent: it
 * says so (NOT_ATTEMPTED, forwarded) instead of leaving it to the next leader's timeout rule. */
static void test_intent_committed_after_losing_the_lead(void **state)
{
    (void)state;
    fx f;
    setup_fx(&f, false);
    open_incident(&f);
    md_driver_output o = propose_intent(&f, 10);
    md_driver_applied_out ao = commit(&f, &o.entry, false, false);
    assert_false(ao.act);
    assert_true(md_driver_holds(f.d, 0));
    o = step(&f, MD_VERDICT_DOWN, false, 20);
    assert_int_equal(o.entry.type, MD_LEDGER_RESULT);
    assert_int_equal(o.entry.u.result.outcome, MD_OUTCOME_NOT_ATTEMPTED);
    teardown_fx(&f);
}

/* The timeout rule's result says who started the action. */
static void test_unknown_result_says_who(void **state)
{
    (void)state;
    for (int own = 0; own < 2; own++) {
        fx f;
        setup_fx(&f, false);
        open_incident(&f);
        md_ledger_entry e = { .type = MD_LEDGER_INTENT, .service = "web", .at_ms = NOW - 60000 };
        strcpy(e.actor, own ? "n1" : "n2");
        e.u.intent.incident = md_ledger_service_at(f.l, 0)->open->id;
        e.u.intent.step = MD_STEP_RESTART;
        e.u.intent.attempt = 1;
        e.u.intent.timeout_ms = 30000;
        assert_false(commit(&f, &e, true, true).act); /* not proposed by this process */
        md_driver_output o = step(&f, MD_VERDICT_DOWN, true, 10);
        assert_int_equal(o.entry.type, MD_LEDGER_RESULT);
        assert_int_equal(o.entry.u.result.outcome, MD_OUTCOME_UNKNOWN);
        char detail[300];
        snprintf(detail, sizeof detail, "%.*s", (int)o.entry.u.result.detail.len, o.entry.u.result.detail.p);
        assert_non_null(strstr(detail, own ? "this node started it before it restarted" : "n2, which started it"));
        assert_non_null(strstr(detail, "30000 ms"));
        md_driver_action a;
        assert_false(md_driver_proposed(f.d, 0, 0, f.index + 1, true, true, 10, &a));
        teardown_fx(&f);
    }
}

static void test_replayed_intent_never_runs(void **state)
{
    (void)state;
    fx f;
    setup_fx(&f, false);
    open_incident(&f);
    md_driver_output o = propose_intent(&f, 10);
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

/* 10,000 services that never had a proposal or an alert cost 16 bytes each, and share one copy
 * of their settings (160 bytes each before, settings copied into every one); a service's working
 * state comes with its first proposal and stays. */
static void test_memory_of_quiet_services(void **state)
{
    (void)state;
    enum { N = 10000 };
    char (*buf)[16] = malloc(N * sizeof *buf);
    const char **names = malloc(N * sizeof *names);
    md_driver_service *svc = calloc(N, sizeof *svc);
    assert_non_null(buf);
    assert_non_null(names);
    assert_non_null(svc);
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "svc-%d", i);
        names[i] = buf[i];
        md_escalation_knobs_default(&svc[i].knobs);
        svc[i].caps.step[MD_STEP_RESTART] = true;
    }
    svc[7].knobs.restart_attempts = 5; /* one with settings of its own */
    fx f = { 0 };
    assert_int_equal(md_ledger_new(names, N, &f.l), 0);
    md_driver_config c = { .node_id = "n1", .split_alert_after_ms = 1000, .patience_ms = 3000, .n = N, .svc = svc };
    assert_int_equal(md_driver_new(&c, &f.d), 0);
    free(svc);
    assert_ptr_equal(md_driver_knobs(f.d, 0), md_driver_knobs(f.d, N - 1));
    assert_ptr_not_equal(md_driver_knobs(f.d, 0), md_driver_knobs(f.d, 7));
    assert_int_equal(md_driver_knobs(f.d, 7)->restart_attempts, 5);
    assert_int_equal(md_driver_knobs(f.d, 8)->restart_attempts, 3);
    /* every service stepped while UP, leading: nothing to propose, nothing allocated */
    for (size_t i = 0; i < N; i++) {
        md_driver_input in = { .svc = i, .ledger = md_ledger_service_at(f.l, i), .verdict = MD_VERDICT_UP,
                               .verdict_since_ms = NOW - 1000, .own_state = MD_STATE_UP, .leads = true,
                               .lease_valid = true, .now_ms = NOW, .mono_ms = 0 };
        md_driver_output out;
        md_driver_step(f.d, &in, &out);
        assert_false(out.propose);
    }
    size_t quiet = md_driver_bytes(f.d);
    assert_true(quiet <= N * 16 + 4096);
    /* service 0 goes down: its incident is proposed, and its working state allocated */
    md_driver_input in = { .svc = 0, .ledger = md_ledger_service_at(f.l, 0), .verdict = MD_VERDICT_DOWN,
                           .verdict_since_ms = NOW - 1000, .own_state = MD_STATE_DOWN, .leads = true,
                           .lease_valid = true, .now_ms = NOW, .mono_ms = 0 };
    md_driver_output out;
    md_driver_step(f.d, &in, &out);
    assert_true(out.propose);
    md_driver_action a;
    assert_false(md_driver_proposed(f.d, 0, 0, 1, true, true, 0, &a));
    assert_true(md_driver_bytes(f.d) > quiet);
    assert_true(md_driver_bytes(f.d) < quiet + 1024);
    teardown_fx(&f);
    free(names);
    free(buf);
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
        cmocka_unit_test(test_blocked_is_told_once_and_retried_with_backoff),
        cmocka_unit_test(test_blocked_is_given_up_without_counting),
        cmocka_unit_test(test_intent_committed_after_losing_the_lead),
        cmocka_unit_test(test_unknown_result_says_who),
        cmocka_unit_test(test_memory_of_quiet_services),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
