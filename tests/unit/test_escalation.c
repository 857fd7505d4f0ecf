/* test_escalation.c: the escalation core as a table of (ledger state, verdict, time, flags) ->
 * decision, one row per rule and per reset or limit; then whole ladders driven through the real
 * ledger (order, spacing, relapse, flapping under the hourly limit). */
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

#define T INT64_C(100000000) /* "now" in most rows */
#define INC 100              /* the open incident's id; its actions are 101, 102... */
#define LAST 50              /* the last closed incident's id */
#define H MD_LEDGER_RATE_WINDOW_MS

#define R MD_STEP_RESTART
#define D MD_STEP_REDEPLOY
#define B MD_STEP_ROLLBACK
enum { K_DEFAULT = 0, K_NO_RESTARTS, K_SLOW_VERIFY, K_MANY_RESTARTS };
enum { C_ALL = 0, C_RAILWAY, C_NONE, C_NO_REDEPLOY };

typedef struct {
    md_step step;
    md_outcome outcome;    /* NONE: pending */
    int64_t at;            /* intent time */
    int64_t result_at;
} st_spec;

typedef struct {
    bool paused;
    const char *known_good;
    bool open;
    bool exhausted;
    uint32_t carried[MD_STEP_COUNT]; /* counters continued from a reopened incident */
    st_spec steps[8];                /* ends at the first step NONE */
    int fill_restarts;               /* or this many failed restarts (for the step limit) */
    md_close lc_how;                 /* last closed incident (LAST), if not OPEN */
    int64_t lc_at;
    uint32_t lc_attempts[MD_STEP_COUNT];
    int recent;                      /* extra intents in the last hour ... */
    int64_t recent_oldest;           /* ... the oldest at this time, then one per minute */
} svc_spec;

typedef struct {
    const char *name;
    svc_spec s;
    md_verdict verdict;
    int64_t since;
    int64_t now;
    bool in_flight;
    int knobs, caps;
    /* expected */
    md_escalation_kind kind;
    int64_t wake;
    bool rate_limited;
    uint64_t reopen_of, action_id;
    md_step step;
    uint32_t attempt;
    int64_t timeout;
    const char *target;
} row;

static md_escalation_knobs knobs_of(int id)
{
    md_escalation_knobs k;
    md_escalation_knobs_default(&k);
    if (id == K_NO_RESTARTS)
        k.restart_attempts = 0;
    if (id == K_SLOW_VERIFY)
        k.verify_after_ms = 20000;
    if (id == K_MANY_RESTARTS)
        k.restart_attempts = 100;
    return k;
}

static md_escalation_caps caps_of(int id)
{
    md_escalation_caps c = { .step = { false, true, true, true } };
    if (id == C_RAILWAY)
        c.rollback_needs_known_good = true;
    if (id == C_NONE)
        c.step[R] = c.step[D] = c.step[B] = false;
    if (id == C_NO_REDEPLOY)
        c.step[D] = false;
    return c;
}

/* build fills svc (and inc) from a spec, the way the ledger would have left them. */
static void build(const svc_spec *sp, md_ledger_service *svc, md_ledger_incident *inc)
{
    static int64_t recent[MD_LEDGER_RATE_MAX];
    static md_ledger_service_more more;
    md_ledger_service_more *m = &more;
    memset(svc, 0, sizeof *svc);
    memset(m, 0, sizeof *m);
    memset(inc, 0, sizeof *inc);
    svc->more = m;
    m->recent_intents_ms = recent;
    svc->name = "web";
    m->pause_reason = "";
    m->paused_by = "";
    m->paused = sp->paused;
    m->known_good = sp->known_good ? sp->known_good : "";
    if (sp->lc_how != MD_CLOSE_OPEN) {
        m->last_closed.id = LAST;
        m->last_closed.how = sp->lc_how;
        m->last_closed.closed_at_ms = sp->lc_at;
        memcpy(m->last_closed.attempts, sp->lc_attempts, sizeof sp->lc_attempts);
    }
    for (int i = 0; i < sp->recent; i++)
        m->recent_intents_ms[m->n_recent++] = sp->recent_oldest + i * 60000;
    if (!sp->open)
        return;
    inc->id = INC;
    strcpy(inc->service, "web");
    inc->votes = inc->close_reason = "";
    inc->exhausted = sp->exhausted;
    memcpy(inc->attempts, sp->carried, sizeof inc->attempts);
    for (int i = 0; i < 8 + sp->fill_restarts && inc->n_steps < MD_LEDGER_MAX_STEPS; i++) {
        st_spec s = i < sp->fill_restarts ? (st_spec){ R, MD_OUTCOME_FAILED, T - 100000, T - 99000 }
                                          : sp->steps[i - sp->fill_restarts];
        if (s.step == MD_STEP_NONE)
            break;
        md_ledger_step *st = &inc->steps[inc->n_steps++];
        st->step = s.step;
        st->attempt = inc->attempts[s.step] + 1;
        st->action_id = INC + inc->n_steps;
        st->intent_at_ms = s.at;
        st->timeout_ms = s.step == R ? 30000 : s.step == D ? 120000 : 60000;
        st->outcome = s.outcome;
        st->result_at_ms = s.result_at;
        st->detail = "";
        if (md_outcome_attempted(s.outcome)) { /* as the ledger keeps them: not-attempted ones give both back */
            inc->attempts[s.step]++;
            m->recent_intents_ms[m->n_recent++] = s.at;
        }
    }
    svc->open = inc;
}

#define FAILED(step, at) { step, MD_OUTCOME_FAILED, (at) - 1000, (at) }
#define OK(step, at) { step, MD_OUTCOME_OK, (at) - 1000, (at) }
#define PENDING(step, at) { step, MD_OUTCOME_NONE, (at), 0 }
#define NOT_ATTEMPTED(step, at) { step, MD_OUTCOME_NOT_ATTEMPTED, (at) - 1000, (at) }
#define RESTARTS_DONE FAILED(R, T - 200000), FAILED(R, T - 150000), FAILED(R, T - 100000)
#define REDEPLOYS_DONE FAILED(D, T - 80000), FAILED(D, T - 60000)

static const row rows[] = {
    /* 1. paused: nothing, ever */
    { "paused, DOWN, no incident", { .paused = true }, MD_VERDICT_DOWN, 0, T, false, 0, 0, MD_ESC_NONE },
    { "paused, pending action long overdue", { .paused = true, .open = true, .steps = { PENDING(R, T - 999999) } },
      MD_VERDICT_DOWN, 0, T, false, 0, 0, MD_ESC_NONE },
    { "paused, exhausted and UP", { .paused = true, .open = true, .exhausted = true }, MD_VERDICT_UP, 0, T, false,
      0, 0, MD_ESC_NONE },
    /* 3. without a quorum DOWN, never act */
    { "no incident, UP", { 0 }, MD_VERDICT_UP, 0, T, false, 0, 0, MD_ESC_NONE },
    { "no incident, SPLIT", { 0 }, MD_VERDICT_SPLIT, 0, T, false, 0, 0, MD_ESC_NONE },
    { "no incident, UNKNOWN", { 0 }, MD_VERDICT_UNKNOWN, 0, T, false, 0, 0, MD_ESC_NONE },
    { "open, SPLIT", { .open = true, .steps = { FAILED(R, T - 60000) } }, MD_VERDICT_SPLIT, 0, T, false, 0, 0,
      MD_ESC_NONE },
    { "open, UNKNOWN", { .open = true }, MD_VERDICT_UNKNOWN, 0, T, false, 0, 0, MD_ESC_NONE },
    /* 4. opening, fresh or continuing */
    { "DOWN, never failed before", { 0 }, MD_VERDICT_DOWN, T - 1000, T, false, 0, 0, MD_ESC_OPEN_INCIDENT },
    { "DOWN within the reopen window", { .lc_how = MD_CLOSE_RESOLVED, .lc_at = T - 100000 }, MD_VERDICT_DOWN,
      T - 1000, T, false, 0, 0, MD_ESC_OPEN_INCIDENT, .reopen_of = LAST },
    { "DOWN just past the reopen window",
      { .lc_how = MD_CLOSE_RESOLVED, .lc_at = T - 600000 }, MD_VERDICT_DOWN, T, T, false, 0, 0,
      MD_ESC_OPEN_INCIDENT },
    { "turned DOWN within the window, leader late", { .lc_how = MD_CLOSE_RESOLVED, .lc_at = T - 700000 },
      MD_VERDICT_DOWN, T - 200000, T, false, 0, 0, MD_ESC_OPEN_INCIDENT, .reopen_of = LAST },
    { "DOWN within the window after an ack: fresh", { .lc_how = MD_CLOSE_ACKED, .lc_at = T - 1000 },
      MD_VERDICT_DOWN, T, T, false, 0, 0, MD_ESC_OPEN_INCIDENT },
    { "DOWN within the window after a resume: fresh", { .lc_how = MD_CLOSE_RESUMED, .lc_at = T - 1000 },
      MD_VERDICT_DOWN, T, T, false, 0, 0, MD_ESC_OPEN_INCIDENT },
    /* 7. the ladder */
    { "new incident: restart #1", { .open = true }, MD_VERDICT_DOWN, 0, T, false, 0, 0, MD_ESC_INTENT,
      .step = R, .attempt = 1, .timeout = 30000 },
    { "restart spacing: too soon", { .open = true, .steps = { FAILED(R, T - 4000) } }, MD_VERDICT_DOWN, 0, T,
      false, 0, 0, MD_ESC_NONE, .wake = T + 6000 },
    { "restart spacing: interval passed", { .open = true, .steps = { FAILED(R, T - 10000) } }, MD_VERDICT_DOWN, 0,
      T, false, 0, 0, MD_ESC_INTENT, .step = R, .attempt = 2, .timeout = 30000 },
    { "restart spacing: ok result still DOWN", { .open = true, .steps = { FAILED(R, T - 20000), OK(R, T - 10000) } },
      MD_VERDICT_DOWN, 0, T, false, 0, 0, MD_ESC_INTENT, .step = R, .attempt = 3, .timeout = 30000 },
    { "verify_after above the restart interval", { .open = true, .steps = { FAILED(R, T - 15000) } },
      MD_VERDICT_DOWN, 0, T, false, K_SLOW_VERIFY, 0, MD_ESC_NONE, .wake = T + 5000 },
    { "restarts used up: redeploy #1", { .open = true, .steps = { RESTARTS_DONE } }, MD_VERDICT_DOWN, 0, T, false, 0,
      0, MD_ESC_INTENT, .step = D, .attempt = 1, .timeout = 120000 },
    { "after a redeploy: verify_after only", { .open = true, .steps = { RESTARTS_DONE, FAILED(D, T - 1000) } },
      MD_VERDICT_DOWN, 0, T, false, 0, 0, MD_ESC_NONE, .wake = T + 4000 },
    { "redeploy #2", { .open = true, .steps = { RESTARTS_DONE, FAILED(D, T - 5000) } }, MD_VERDICT_DOWN, 0, T,
      false, 0, 0, MD_ESC_INTENT, .step = D, .attempt = 2, .timeout = 120000 },
    { "redeploys used up: rollback (exec)", { .open = true, .steps = { RESTARTS_DONE, REDEPLOYS_DONE } },
      MD_VERDICT_DOWN, 0, T, false, 0, C_ALL, MD_ESC_INTENT, .step = B, .attempt = 1, .timeout = 60000,
      .target = "" },
    { "rollback (Railway) to the known-good deployment",
      { .open = true, .known_good = "dep-good", .steps = { RESTARTS_DONE, REDEPLOYS_DONE } }, MD_VERDICT_DOWN, 0, T,
      false, 0, C_RAILWAY, MD_ESC_INTENT, .step = B, .attempt = 1, .timeout = 60000, .target = "dep-good" },
    { "no known-good deployment: skip rollback", { .open = true, .steps = { RESTARTS_DONE, REDEPLOYS_DONE } },
      MD_VERDICT_DOWN, 0, T, false, 0, C_RAILWAY, MD_ESC_EXHAUST },
    { "rollback done: exhausted", { .open = true, .steps = { RESTARTS_DONE, REDEPLOYS_DONE, FAILED(B, T - 5000) } },
      MD_VERDICT_DOWN, 0, T, false, 0, 0, MD_ESC_EXHAUST },
    { "alert-only service: exhausted at once", { .open = true }, MD_VERDICT_DOWN, 0, T, false, 0, C_NONE,
      MD_ESC_EXHAUST },
    { "actuator without redeploy: restart -> rollback", { .open = true, .steps = { RESTARTS_DONE } },
      MD_VERDICT_DOWN, 0, T, false, 0, C_NO_REDEPLOY, MD_ESC_INTENT, .step = B, .attempt = 1, .timeout = 60000,
      .target = "" },
    { "restart_attempts 0: redeploy first", { .open = true }, MD_VERDICT_DOWN, 0, T, false, K_NO_RESTARTS, 0,
      MD_ESC_INTENT, .step = D, .attempt = 1, .timeout = 120000 },
    { "the ladder never goes back down",
      { .open = true, .carried = { 0, 1, 0, 0 }, .steps = { FAILED(D, T - 5000) } }, MD_VERDICT_DOWN, 0, T, false,
      0, 0, MD_ESC_INTENT, .step = D, .attempt = 2, .timeout = 120000 },
    { "step limit reached: exhausted", { .open = true, .fill_restarts = MD_LEDGER_MAX_STEPS }, MD_VERDICT_DOWN, 0, T,
      false, K_MANY_RESTARTS, 0, MD_ESC_EXHAUST },
    /* reopened incidents continue; fresh ones start at restart #1 */
    { "reopened: continues at redeploy #1", { .open = true, .carried = { 0, 3, 0, 0 } }, MD_VERDICT_DOWN, 0, T,
      false, 0, 0, MD_ESC_INTENT, .step = D, .attempt = 1, .timeout = 120000 },
    { "reopened with the ladder done: exhausted at once", { .open = true, .carried = { 0, 3, 2, 1 } },
      MD_VERDICT_DOWN, 0, T, false, 0, 0, MD_ESC_EXHAUST },
    { "reopened: no wait for the previous incident's action",
      { .open = true, .carried = { 0, 1, 0, 0 }, .lc_how = MD_CLOSE_RESOLVED, .lc_at = T - 1000 }, MD_VERDICT_DOWN,
      0, T, false, 0, 0, MD_ESC_INTENT, .step = R, .attempt = 2, .timeout = 30000 },
    /* 2. pending actions */
    { "pending, running here", { .open = true, .steps = { PENDING(R, T - 1000) } }, MD_VERDICT_DOWN, 0, T, true, 0,
      0, MD_ESC_NONE, .wake = T + 29000 },
    { "pending, running here past its timeout", { .open = true, .steps = { PENDING(R, T - 40000) } },
      MD_VERDICT_DOWN, 0, T, true, 0, 0, MD_ESC_NONE },
    { "pending elsewhere, before its timeout", { .open = true, .steps = { PENDING(D, T - 1000) } }, MD_VERDICT_DOWN,
      0, T, false, 0, 0, MD_ESC_NONE, .wake = T + 119000 },
    { "pending elsewhere, timeout passed", { .open = true, .steps = { PENDING(D, T - 120000) } }, MD_VERDICT_DOWN, 0,
      T, false, 0, 0, MD_ESC_RESULT_UNKNOWN, .action_id = INC + 1 },
    { "pending, UP: still waits", { .open = true, .steps = { PENDING(R, T - 1000) } }, MD_VERDICT_UP, 0, T, false, 0,
      0, MD_ESC_NONE, .wake = T + 29000 },
    { "pending, SPLIT, timeout passed: recorded", { .open = true, .steps = { FAILED(R, T - 90000),
      PENDING(R, T - 30000) } }, MD_VERDICT_SPLIT, 0, T, false, 0, 0, MD_ESC_RESULT_UNKNOWN, .action_id = INC + 2 },
    /* 5. resolving */
    { "UP before any action: resolve at once", { .open = true }, MD_VERDICT_UP, 0, T, false, 0, 0, MD_ESC_RESOLVE },
    { "UP right after an action: verify_after first", { .open = true, .steps = { OK(R, T - 1000) } }, MD_VERDICT_UP,
      0, T, false, 0, 0, MD_ESC_NONE, .wake = T + 4000 },
    { "UP after verify_after", { .open = true, .steps = { OK(R, T - 5000) } }, MD_VERDICT_UP, 0, T, false, 0, 0,
      MD_ESC_RESOLVE },
    { "UP after a failed redeploy: resolve too", { .open = true, .steps = { RESTARTS_DONE, FAILED(D, T - 6000) } },
      MD_VERDICT_UP, 0, T, false, 0, 0, MD_ESC_RESOLVE },
    /* 6. exhausted */
    { "exhausted, DOWN: wait for people", { .open = true, .exhausted = true, .steps = { RESTARTS_DONE } },
      MD_VERDICT_DOWN, 0, T, false, 0, 0, MD_ESC_NONE },
    { "exhausted, UP: resolve", { .open = true, .exhausted = true, .steps = { RESTARTS_DONE } }, MD_VERDICT_UP, 0, T,
      false, 0, 0, MD_ESC_RESOLVE },
    /* only attempts count */
    { "not attempted: the same attempt again, at once", { .open = true, .steps = { NOT_ATTEMPTED(R, T - 100) } },
      MD_VERDICT_DOWN, 0, T, false, 0, 0, MD_ESC_INTENT, .step = R, .attempt = 1, .timeout = 30000 },
    { "restart failed, then one not attempted: attempt 2 again, no restart_interval wait",
      { .open = true, .steps = { FAILED(R, T - 60000), NOT_ATTEMPTED(R, T - 100) } }, MD_VERDICT_DOWN, 0, T, false,
      0, 0, MD_ESC_INTENT, .step = R, .attempt = 2, .timeout = 30000 },
    { "nothing attempted, UP: resolve at once", { .open = true, .steps = { NOT_ATTEMPTED(R, T - 100) } },
      MD_VERDICT_UP, 0, T, false, 0, 0, MD_ESC_RESOLVE },
    { "attempted then not attempted, UP: judged from the attempted one",
      { .open = true, .steps = { FAILED(R, T - 1000), NOT_ATTEMPTED(R, T - 100) } }, MD_VERDICT_UP, 0, T, false, 0, 0,
      MD_ESC_NONE, .wake = T - 1000 + 5000 },
    /* hourly limit */
    { "hourly limit reached", { .open = true, .steps = { FAILED(R, T - 10000) }, .recent = 9,
      .recent_oldest = T - 3000000 }, MD_VERDICT_DOWN, 0, T, false, 0, 0, MD_ESC_NONE,
      .wake = T - 3000000 + H, .rate_limited = true },
    { "hourly limit: oldest just left the hour", { .open = true, .steps = { FAILED(R, T - 10000) }, .recent = 9,
      .recent_oldest = T - H }, MD_VERDICT_DOWN, 0, T, false, 0, 0, MD_ESC_INTENT, .step = R, .attempt = 2,
      .timeout = 30000 },
    { "hourly limit does not delay exhaustion", { .open = true, .steps = { RESTARTS_DONE, REDEPLOYS_DONE,
      FAILED(B, T - 5000) }, .recent = 10, .recent_oldest = T - 1000000 }, MD_VERDICT_DOWN, 0, T, false, 0, 0,
      MD_ESC_EXHAUST },
    { "hourly limit does not delay resolving", { .open = true, .steps = { OK(R, T - 5000) }, .recent = 10,
      .recent_oldest = T - 1000000 }, MD_VERDICT_UP, 0, T, false, 0, 0, MD_ESC_RESOLVE },
};

static void test_table(void **state)
{
    (void)state;
    md_ledger_service *svc = malloc(sizeof *svc);
    md_ledger_incident *inc = malloc(sizeof *inc);
    md_ledger_service *copy = malloc(sizeof *copy);
    assert_non_null(svc);
    assert_non_null(inc);
    assert_non_null(copy);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *r = &rows[i];
        print_message("row %zu: %s\n", i, r->name);
        build(&r->s, svc, inc);
        memcpy(copy, svc, sizeof *svc);
        md_escalation_knobs k = knobs_of(r->knobs);
        md_escalation_input in = { &k, svc, r->verdict, r->since, r->now, r->in_flight, caps_of(r->caps) };
        md_escalation_decision d = md_escalation_decide(&in);
        assert_memory_equal(copy, svc, sizeof *svc); /* only read */
        assert_string_equal(md_escalation_kind_name(d.kind), md_escalation_kind_name(r->kind));
        assert_int_equal(d.wake_at_ms, r->wake);
        assert_int_equal(d.rate_limited, r->rate_limited);
        assert_int_equal(d.reopen_of, r->reopen_of);
        assert_int_equal(d.action_id, r->action_id);
        assert_int_equal(d.step, r->step);
        assert_int_equal(d.attempt, r->attempt);
        assert_int_equal(d.timeout_ms, r->timeout);
        assert_string_equal(d.target, r->target ? r->target : "");
        bool about_incident = d.kind == MD_ESC_INTENT || d.kind == MD_ESC_RESULT_UNKNOWN || d.kind == MD_ESC_RESOLVE ||
                              d.kind == MD_ESC_EXHAUST;
        assert_int_equal(d.incident_id, about_incident ? INC : 0);
        assert_non_null(d.reason);
        assert_true(d.reason[0]);
        md_escalation_decision again = md_escalation_decide(&in);
        assert_memory_equal(&again, &d, sizeof d); /* no hidden state */
    }
    free(svc);
    free(inc);
    free(copy);
}

static void test_describe(void **state)
{
    (void)state;
    char buf[256];
    md_escalation_decision d = { .kind = MD_ESC_INTENT, .incident_id = 42, .step = MD_STEP_RESTART, .attempt = 2,
                                 .timeout_ms = 30000, .reason = "why" };
    md_escalation_describe(&d, buf, sizeof buf);
    assert_string_equal(buf, "intent restart #2 of incident 42 (timeout 30000 ms): why");
    md_escalation_decision n = { .kind = MD_ESC_NONE, .wake_at_ms = 7, .reason = "later" };
    md_escalation_describe(&n, buf, sizeof buf);
    assert_string_equal(buf, "none until 7: later");
    md_escalation_describe(&d, buf, 8);
    assert_string_equal(buf, "intent ");
}

/* ---- whole ladders through the real ledger ---- */

typedef struct {
    md_ledger *l;
    uint64_t idx;
    int64_t now;
    md_escalation_knobs k;
    md_escalation_caps caps;
    char log[512][24]; /* what happened, e.g. "restart#1" */
    int64_t log_at[512];
    int n;
} world;

static md_ledger_event commit(world *w, md_ledger_entry *e)
{
    uint8_t *buf;
    size_t len;
    md_ledger_event ev;
    strcpy(e->service, "web");
    strcpy(e->actor, "n1");
    e->at_ms = w->now;
    assert_int_equal(md_ledger_entry_encode(e, &buf, &len), 0);
    assert_int_equal(md_ledger_apply(w->l, w->idx++, buf, len, &ev), 0);
    free(buf);
    assert_int_not_equal(ev.kind, MD_LEDGER_EV_REJECTED);
    return ev;
}

static void note(world *w, const char *what)
{
    assert_true(w->n < 512);
    strcpy(w->log[w->n], what);
    w->log_at[w->n++] = w->now;
}

/* step runs one decision as the driver would: propose, commit, execute (each action takes one
 * second and fails: the service stays DOWN). Returns the decision's kind. */
static md_escalation_kind step(world *w, md_verdict v)
{
    md_escalation_input in = { &w->k, md_ledger_service_at(w->l, 0), v, w->now, w->now, false, w->caps };
    md_escalation_decision d = md_escalation_decide(&in);
    md_ledger_entry e = { .type = MD_LEDGER_TYPE_COUNT };
    char what[24];
    switch (d.kind) {
    case MD_ESC_NONE:
        if (d.rate_limited)
            note(w, "rate-limited");
        assert_true(d.wake_at_ms == 0 || d.wake_at_ms > w->now);
        w->now = d.wake_at_ms ? d.wake_at_ms : w->now + 1000;
        return d.kind;
    case MD_ESC_OPEN_INCIDENT:
        e.type = MD_LEDGER_INCIDENT_OPEN;
        e.u.open.reopen_of = d.reopen_of;
        note(w, d.reopen_of ? "reopen" : "open");
        break;
    case MD_ESC_INTENT: {
        e.type = MD_LEDGER_INTENT;
        e.u.intent.incident = d.incident_id;
        e.u.intent.step = d.step;
        e.u.intent.attempt = d.attempt;
        e.u.intent.timeout_ms = d.timeout_ms;
        md_ledger_event ev = commit(w, &e);
        snprintf(what, sizeof what, "%s#%u", md_step_name(d.step), (unsigned)d.attempt);
        note(w, what);
        w->now += 1000;
        md_ledger_entry r = { .type = MD_LEDGER_RESULT };
        r.u.result.action = ev.action_id;
        r.u.result.outcome = MD_OUTCOME_FAILED;
        commit(w, &r);
        return d.kind;
    }
    case MD_ESC_RESULT_UNKNOWN:
        e.type = MD_LEDGER_RESULT;
        e.u.result.action = d.action_id;
        e.u.result.outcome = MD_OUTCOME_UNKNOWN;
        break;
    case MD_ESC_RESOLVE:
        e.type = MD_LEDGER_RESOLVED;
        e.u.resolved.incident = d.incident_id;
        note(w, "resolved");
        break;
    case MD_ESC_EXHAUST:
        e.type = MD_LEDGER_EXHAUSTED;
        e.u.exhausted.incident = d.incident_id;
        note(w, "exhausted");
        break;
    default:
        fail();
    }
    commit(w, &e);
    return d.kind;
}

static void world_init(world *w)
{
    static const char *const names[] = { "web" };
    memset(w, 0, sizeof *w);
    assert_int_equal(md_ledger_new(names, 1, &w->l), 0);
    w->idx = 1;
    w->now = T;
    md_escalation_knobs_default(&w->k);
    w->caps = caps_of(C_ALL);
}

static void run_until(world *w, md_verdict v, md_escalation_kind stop, int max)
{
    for (int i = 0; i < max; i++)
        if (step(w, v) == stop)
            return;
    fail_msg("no %s within %d decisions", md_escalation_kind_name(stop), max);
}

static void test_full_ladder_then_relapse(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    run_until(&w, MD_VERDICT_DOWN, MD_ESC_EXHAUST, 100);
    const char *want[] = { "open", "restart#1", "restart#2", "restart#3", "redeploy#1", "redeploy#2", "rollback#1",
                           "exhausted" };
    assert_int_equal(w.n, 8);
    for (int i = 0; i < 8; i++)
        assert_string_equal(w.log[i], want[i]);
    /* restarts 10 s after the previous result (which came 1 s after its intent) */
    assert_int_equal(w.log_at[2] - w.log_at[1], 11000);
    assert_int_equal(w.log_at[3] - w.log_at[2], 11000);
    assert_int_equal(w.log_at[4] - w.log_at[3], 11000);
    assert_int_equal(w.log_at[5] - w.log_at[4], 6000); /* verify_after after a redeploy */
    /* exhausted: nothing more while DOWN */
    for (int i = 0; i < 20; i++)
        assert_int_equal(step(&w, MD_VERDICT_DOWN), MD_ESC_NONE);
    /* recovers, then relapses within the window: the ladder continues (done), no restart loop */
    run_until(&w, MD_VERDICT_UP, MD_ESC_RESOLVE, 10);
    w.now += 60000;
    run_until(&w, MD_VERDICT_DOWN, MD_ESC_EXHAUST, 10);
    assert_string_equal(w.log[w.n - 2], "reopen");
    assert_string_equal(w.log[w.n - 1], "exhausted");
    /* an operator acks it: a fresh ladder from restart #1 */
    md_ledger_entry ack = { .type = MD_LEDGER_ACK };
    ack.u.ack.incident = md_ledger_service_at(w.l, 0)->open->id;
    strcpy(ack.u.ack.by, "alice");
    assert_true(commit(&w, &ack).incident_closed);
    run_until(&w, MD_VERDICT_DOWN, MD_ESC_INTENT, 10);
    assert_string_equal(w.log[w.n - 2], "open");
    assert_string_equal(w.log[w.n - 1], "restart#1");
    /* resolved, then DOWN again after the window: counters reset */
    run_until(&w, MD_VERDICT_UP, MD_ESC_RESOLVE, 10);
    w.now += w.k.reopen_window_ms;
    run_until(&w, MD_VERDICT_DOWN, MD_ESC_INTENT, 10);
    assert_string_equal(w.log[w.n - 2], "open");
    assert_string_equal(w.log[w.n - 1], "restart#1");
    md_ledger_free(w.l);
}

/* A service that flaps (DOWN, restarted, UP, DOWN again...) never exceeds the hourly limit. */
static void test_flapping_respects_hourly_limit(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.k.reopen_window_ms = 0; /* every relapse a fresh ladder: only the hourly limit holds it back */
    bool limited = false;
    for (int round = 0; round < 40; round++) {
        run_until(&w, MD_VERDICT_DOWN, MD_ESC_INTENT, 200);
        run_until(&w, MD_VERDICT_UP, MD_ESC_RESOLVE, 10);
        w.now += 60000;
    }
    int64_t times[64];
    int n = 0;
    for (int i = 0; i < w.n; i++) {
        if (strcmp(w.log[i], "rate-limited") == 0)
            limited = true;
        if (strchr(w.log[i], '#'))
            times[n++] = w.log_at[i];
    }
    assert_true(limited);
    assert_int_equal(n, 40);
    for (int i = 0; i + w.k.max_actions_per_hour < n; i++)
        assert_true(times[i + w.k.max_actions_per_hour] - times[i] >= H);
    md_ledger_free(w.l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_full_ladder_then_relapse),
        cmocka_unit_test(test_flapping_respects_hourly_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
