/* test_ledger.c: the remediation ledger: apply sequences and the state they leave, rejected
 * entries leave the state byte-identical, determinism, snapshots (round trip mid-incident,
 * other service sets, corruption), the entry codec (round trips, truncation, corruption,
 * cleaning), and the bounds (closed history, steps, notes, hourly times). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "remedy/remedy.h"
#include "remedy/ledger_int.h"

static const char *const names3[] = { "web", "api", "db" };

typedef struct {
    md_ledger *l;
    uint64_t idx; /* the next Raft index */
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(md_ledger_new(names3, 3, &f->l), 0);
    f->idx = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    md_ledger_free(f->l);
    free(f);
    return 0;
}

static md_ledger_entry ent(md_ledger_entry_type t, const char *svc, int64_t at)
{
    md_ledger_entry e;
    memset(&e, 0, sizeof e);
    e.type = t;
    strcpy(e.service, svc);
    strcpy(e.actor, "n1");
    e.at_ms = at;
    return e;
}

static md_ledger_entry e_open(const char *svc, int64_t at, uint64_t reopen_of)
{
    md_ledger_entry e = ent(MD_LEDGER_INCIDENT_OPEN, svc, at);
    e.u.open.votes = md_ledger_text_of("n1:down,n2:down,n3:up");
    e.u.open.reopen_of = reopen_of;
    return e;
}

static md_ledger_entry e_intent(const char *svc, int64_t at, uint64_t inc, md_step s, uint32_t attempt)
{
    md_ledger_entry e = ent(MD_LEDGER_INTENT, svc, at);
    e.u.intent.incident = inc;
    e.u.intent.step = s;
    e.u.intent.attempt = attempt;
    e.u.intent.timeout_ms = 30000;
    return e;
}

static md_ledger_entry e_result(const char *svc, int64_t at, uint64_t action, md_outcome o)
{
    md_ledger_entry e = ent(MD_LEDGER_RESULT, svc, at);
    e.u.result.action = action;
    e.u.result.outcome = o;
    e.u.result.detail = md_ledger_text_of("exit 1: connection refused");
    e.u.result.duration_ms = 1200;
    return e;
}

static md_ledger_entry e_inc(md_ledger_entry_type t, const char *svc, int64_t at, uint64_t inc)
{
    md_ledger_entry e = ent(t, svc, at);
    if (t == MD_LEDGER_RESOLVED) {
        e.u.resolved.incident = inc;
        e.u.resolved.reason = md_ledger_text_of("quorum UP");
    } else if (t == MD_LEDGER_EXHAUSTED)
        e.u.exhausted.incident = inc;
    else {
        e.u.ack.incident = inc;
        strcpy(e.u.ack.by, "alice");
    }
    return e;
}

static md_ledger_entry e_by(md_ledger_entry_type t, const char *svc, int64_t at)
{
    md_ledger_entry e = ent(t, svc, at);
    strcpy(t == MD_LEDGER_PAUSE ? e.u.pause.by : e.u.resume.by, "alice");
    if (t == MD_LEDGER_PAUSE)
        e.u.pause.reason = md_ledger_text_of("maintenance");
    return e;
}

/* put applies e at the next index on l and returns the event (the apply itself must succeed). */
static md_ledger_event put_on(md_ledger *l, uint64_t idx, const md_ledger_entry *e)
{
    uint8_t *buf;
    size_t len;
    md_ledger_event ev;
    assert_int_equal(md_ledger_entry_encode(e, &buf, &len), 0);
    assert_int_equal(md_ledger_apply(l, idx, buf, len, &ev), 0);
    free(buf);
    return ev;
}

static md_ledger_event put(fx *f, md_ledger_entry e)
{
    return put_on(f->l, f->idx++, &e);
}

static void snap(const md_ledger *l, uint8_t **buf, size_t *len)
{
    assert_int_equal(md_ledger_snapshot(l, buf, len), 0);
}

static const md_ledger_service *svc(fx *f, const char *name)
{
    size_t i;
    assert_int_equal(md_ledger_find(f->l, name, &i), 0);
    return md_ledger_service_at(f->l, i);
}

static void test_new_checks_names(void **state)
{
    (void)state;
    md_ledger *l = NULL;
    const char *dup[] = { "a", "b", "a" }, *blank[] = { "a b" }, *empty[] = { "" };
    assert_int_equal(md_ledger_new(dup, 3, &l), -EINVAL);
    assert_int_equal(md_ledger_new(blank, 1, &l), -EINVAL);
    assert_int_equal(md_ledger_new(empty, 1, &l), -EINVAL);
    assert_int_equal(md_ledger_new(names3, 0, &l), -EINVAL);
    assert_null(l);
}

/* Many services: every name is found at the index it was given, and nothing else is. */
static void test_find_among_many(void **state)
{
    (void)state;
    enum { N = 5000 };
    static char buf[N][16];
    static const char *names[N];
    for (size_t i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "svc-%zu", (i * 7919) % N); /* not in sorted order */
        names[i] = buf[i];
    }
    md_ledger *l = NULL;
    assert_int_equal(md_ledger_new(names, N, &l), 0);
    for (size_t i = 0; i < N; i++) {
        size_t at = N;
        assert_int_equal(md_ledger_find(l, names[i], &at), 0);
        assert_int_equal(at, i);
    }
    assert_int_equal(md_ledger_find(l, "svc-", NULL), -ENOENT);
    assert_int_equal(md_ledger_find(l, "svc-99999", NULL), -ENOENT);
    md_ledger_free(l);
    names[N - 1] = names[0]; /* a duplicate far from its twin */
    assert_int_equal(md_ledger_new(names, N, &l), -EINVAL);
}

static void test_ladder_sequence(void **state)
{
    fx *f = *state;
    md_ledger_event ev = put(f, e_open("web", 1000, 0)); /* index 1 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_OPENED);
    assert_int_equal(ev.incident_id, 1);
    assert_int_equal(ev.service, 0);
    const md_ledger_incident *inc = svc(f, "web")->open;
    assert_non_null(inc);
    assert_string_equal(inc->votes, "n1:down,n2:down,n3:up");
    assert_int_equal(inc->opened_at_ms, 1000);
    assert_null(md_ledger_pending(inc));

    ev = put(f, e_intent("web", 2000, 1, MD_STEP_RESTART, 1)); /* index 2 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_INTENT);
    assert_int_equal(ev.action_id, 2);
    assert_int_equal(ev.step, MD_STEP_RESTART);
    assert_int_equal(ev.attempt, 1);
    inc = svc(f, "web")->open;
    assert_non_null(md_ledger_pending(inc));
    assert_int_equal(inc->attempts[MD_STEP_RESTART], 1);
    assert_int_equal(svc(f, "web")->more->n_recent, 1);
    assert_int_equal(svc(f, "web")->more->recent_intents_ms[0], 2000);

    ev = put(f, e_result("web", 3000, 2, MD_OUTCOME_FAILED)); /* index 3 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_RESULT);
    assert_int_equal(ev.outcome, MD_OUTCOME_FAILED);
    inc = svc(f, "web")->open;
    assert_null(md_ledger_pending(inc));
    assert_int_equal(inc->steps[0].result_at_ms, 3000);
    assert_string_equal(inc->steps[0].detail, "exit 1: connection refused");
    assert_int_equal(inc->steps[0].duration_ms, 1200);

    put(f, e_intent("web", 4000, 1, MD_STEP_RESTART, 2));       /* 4 */
    put(f, e_result("web", 5000, 4, MD_OUTCOME_TIMEOUT));       /* 5 */
    put(f, e_intent("web", 6000, 1, MD_STEP_REDEPLOY, 1));      /* 6: restarts skipped ahead */
    ev = put(f, e_result("web", 7000, 6, MD_OUTCOME_OK));       /* 7 */
    assert_int_equal(ev.step, MD_STEP_REDEPLOY);
    ev = put(f, e_inc(MD_LEDGER_RESOLVED, "web", 9000, 1));     /* 8 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_RESOLVED);
    assert_true(ev.incident_closed);

    const md_ledger_service *s = svc(f, "web");
    assert_null(s->open);
    assert_int_equal(s->more->last_closed.id, 1);
    assert_int_equal(s->more->last_closed.how, MD_CLOSE_RESOLVED);
    assert_int_equal(s->more->last_closed.closed_at_ms, 9000);
    assert_int_equal(s->more->last_closed.attempts[MD_STEP_RESTART], 2);
    assert_int_equal(s->more->last_closed.attempts[MD_STEP_REDEPLOY], 1);
    assert_int_equal(s->more->incidents_total, 1);
    assert_int_equal(s->more->actions_total, 3);
    assert_int_equal(md_ledger_closed_count(f->l), 1);
    inc = md_ledger_closed(f->l, 0);
    assert_int_equal(inc->closed, MD_CLOSE_RESOLVED);
    assert_int_equal(inc->n_steps, 3);
    assert_int_equal(inc->steps[2].step, MD_STEP_REDEPLOY);
    assert_int_equal(inc->steps[2].outcome, MD_OUTCOME_OK);
    assert_string_equal(inc->close_reason, "quorum UP");
    assert_string_equal(inc->closed_by, "n1");
    assert_int_equal(md_ledger_last_index(f->l), 8);
}

static void test_reopen_continues_counters(void **state)
{
    fx *f = *state;
    put(f, e_open("web", 1000, 0));                           /* 1 */
    put(f, e_intent("web", 1100, 1, MD_STEP_RESTART, 1));     /* 2 */
    put(f, e_result("web", 1200, 2, MD_OUTCOME_OK));          /* 3 */
    put(f, e_inc(MD_LEDGER_RESOLVED, "web", 9000, 1));        /* 4 */
    md_ledger_event ev = put(f, e_open("web", 9500, 3));      /* 5: 3 is not the last incident */
    assert_int_equal(ev.kind, MD_LEDGER_EV_REJECTED);
    ev = put(f, e_open("web", 9500, 1));                      /* 6 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_OPENED);
    const md_ledger_incident *inc = svc(f, "web")->open;
    assert_int_equal(inc->id, 6);
    assert_int_equal(inc->reopen_of, 1);
    assert_int_equal(inc->attempts[MD_STEP_RESTART], 1);
    assert_int_equal(inc->n_steps, 0);
    ev = put(f, e_intent("web", 9600, 6, MD_STEP_RESTART, 1)); /* 7: restart #1 again would repeat a step */
    assert_int_equal(ev.kind, MD_LEDGER_EV_REJECTED);
    ev = put(f, e_intent("web", 9600, 6, MD_STEP_RESTART, 2)); /* 8 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_INTENT);
}

static void test_exhausted_ack_and_resume(void **state)
{
    fx *f = *state;
    put(f, e_open("web", 1000, 0));                                  /* 1 */
    md_ledger_event ev = put(f, e_inc(MD_LEDGER_ACK, "web", 1100, 1)); /* 2: ack only marks it */
    assert_int_equal(ev.kind, MD_LEDGER_EV_ACKED);
    assert_false(ev.incident_closed);
    assert_true(svc(f, "web")->open->acked);
    assert_string_equal(svc(f, "web")->open->acked_by, "alice");
    ev = put(f, e_inc(MD_LEDGER_ACK, "web", 1150, 1));               /* 3 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_REJECTED);
    ev = put(f, e_inc(MD_LEDGER_EXHAUSTED, "web", 1200, 1));         /* 4 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_EXHAUSTED);
    assert_true(svc(f, "web")->open->exhausted);
    ev = put(f, e_intent("web", 1300, 1, MD_STEP_RESTART, 1));       /* 5 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_REJECTED);
    ev = put(f, e_inc(MD_LEDGER_EXHAUSTED, "web", 1300, 1));         /* 6 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_REJECTED);
    ev = put(f, e_inc(MD_LEDGER_ACK, "web", 1400, 1));               /* 7: acking it exhausted closes it */
    assert_int_equal(ev.kind, MD_LEDGER_EV_ACKED);
    assert_true(ev.incident_closed);
    assert_null(svc(f, "web")->open);
    assert_int_equal(svc(f, "web")->more->last_closed.how, MD_CLOSE_ACKED);
    ev = put(f, e_open("web", 1500, 1));                             /* 8: no continuing an acked one */
    assert_int_equal(ev.kind, MD_LEDGER_EV_REJECTED);
    ev = put(f, e_open("web", 1500, 0));                             /* 9 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_OPENED);
    assert_int_equal(svc(f, "web")->open->attempts[MD_STEP_RESTART], 0);

    put(f, e_inc(MD_LEDGER_EXHAUSTED, "web", 1600, 9));              /* 10 */
    ev = put(f, e_by(MD_LEDGER_RESUME, "web", 1700));                /* 11: resume also restarts the ladder */
    assert_int_equal(ev.kind, MD_LEDGER_EV_RESUMED);
    assert_true(ev.incident_closed);
    assert_int_equal(md_ledger_closed(f->l, 0)->closed, MD_CLOSE_RESUMED);
    assert_string_equal(md_ledger_closed(f->l, 0)->closed_by, "alice");
    ev = put(f, e_by(MD_LEDGER_RESUME, "web", 1800));                /* 12 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_REJECTED);
}

static void test_pause_resume(void **state)
{
    fx *f = *state;
    put(f, e_open("api", 1000, 0));                              /* 1 */
    put(f, e_intent("api", 1100, 1, MD_STEP_RESTART, 1));        /* 2 */
    md_ledger_event ev = put(f, e_by(MD_LEDGER_PAUSE, "api", 1200)); /* 3 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_PAUSED);
    const md_ledger_service *s = svc(f, "api");
    assert_true(s->more->paused);
    assert_string_equal(s->more->paused_by, "alice");
    assert_string_equal(s->more->pause_reason, "maintenance");
    assert_int_equal(s->more->paused_at_ms, 1200);
    ev = put(f, e_by(MD_LEDGER_PAUSE, "api", 1250));             /* 4 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_REJECTED);
    ev = put(f, e_result("api", 1300, 2, MD_OUTCOME_OK));        /* 5: what already ran is still recorded */
    assert_int_equal(ev.kind, MD_LEDGER_EV_RESULT);
    ev = put(f, e_intent("api", 1400, 1, MD_STEP_RESTART, 2));   /* 6: nothing new while paused */
    assert_int_equal(ev.kind, MD_LEDGER_EV_REJECTED);
    assert_string_equal(ev.why, "the service is paused");
    ev = put(f, e_by(MD_LEDGER_RESUME, "api", 1500));            /* 7 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_RESUMED);
    assert_false(ev.incident_closed);
    assert_false(svc(f, "api")->more->paused);
    assert_string_equal(svc(f, "api")->more->pause_reason, "");
    ev = put(f, e_intent("api", 1600, 1, MD_STEP_RESTART, 2));   /* 8 */
    assert_int_equal(ev.kind, MD_LEDGER_EV_INTENT);
}

static void test_known_good_and_notes(void **state)
{
    fx *f = *state;
    md_ledger_entry e = ent(MD_LEDGER_KNOWN_GOOD, "db", 500);
    strcpy(e.u.known_good.deployment, "d-7f3a");
    md_ledger_event ev = put(f, e);
    assert_int_equal(ev.kind, MD_LEDGER_EV_KNOWN_GOOD);
    assert_string_equal(svc(f, "db")->more->known_good, "d-7f3a");
    assert_int_equal(svc(f, "db")->more->known_good_at_ms, 500);

    md_ledger_entry note = ent(MD_LEDGER_NOTE, "db", 600);
    note.u.note.text = md_ledger_text_of("rate limited");
    ev = put(f, note);
    assert_int_equal(ev.kind, MD_LEDGER_EV_REJECTED); /* notes belong to an incident */
    put(f, e_open("db", 700, 0));                      /* 3 */
    for (int i = 0; i < MD_LEDGER_MAX_NOTES; i++) {
        ev = put(f, note);
        assert_int_equal(ev.kind, MD_LEDGER_EV_NOTED);
        assert_int_equal(ev.incident_id, 3);
    }
    ev = put(f, note);
    assert_int_equal(ev.kind, MD_LEDGER_EV_REJECTED);
    const md_ledger_incident *inc = svc(f, "db")->open;
    assert_int_equal(inc->n_notes, MD_LEDGER_MAX_NOTES);
    assert_string_equal(inc->notes[0].text, "rate limited");
    assert_string_equal(inc->notes[0].by, "n1");
}

/* An entry that contradicts the state must leave it byte-identical. */
static void expect_unchanged(fx *f, md_ledger_entry e, md_ledger_ev_kind kind)
{
    uint8_t *a, *b;
    size_t alen, blen;
    snap(f->l, &a, &alen);
    md_ledger_event ev = put(f, e);
    assert_int_equal(ev.kind, kind);
    assert_true(ev.why[0]);
    snap(f->l, &b, &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    free(a);
    free(b);
}

static void test_invalid_sequences_change_nothing(void **state)
{
    fx *f = *state;
    put(f, e_open("web", 1000, 0));                         /* 1 */
    put(f, e_intent("web", 1100, 1, MD_STEP_REDEPLOY, 1));  /* 2, pending */
    expect_unchanged(f, e_intent("web", 1200, 1, MD_STEP_REDEPLOY, 2), MD_LEDGER_EV_REJECTED); /* pending */
    expect_unchanged(f, e_result("web", 1200, 99, MD_OUTCOME_OK), MD_LEDGER_EV_IGNORED);       /* unknown action */
    expect_unchanged(f, e_result("api", 1200, 2, MD_OUTCOME_OK), MD_LEDGER_EV_IGNORED);        /* other service */
    expect_unchanged(f, e_inc(MD_LEDGER_RESOLVED, "web", 1200, 1), MD_LEDGER_EV_REJECTED);     /* pending */
    expect_unchanged(f, e_inc(MD_LEDGER_EXHAUSTED, "web", 1200, 1), MD_LEDGER_EV_REJECTED);    /* pending */
    expect_unchanged(f, e_open("web", 1200, 0), MD_LEDGER_EV_REJECTED);                        /* already open */
    expect_unchanged(f, e_open("nope", 1200, 0), MD_LEDGER_EV_REJECTED);                       /* unknown service */
    put(f, e_result("web", 1300, 2, MD_OUTCOME_FAILED));
    expect_unchanged(f, e_result("web", 1400, 2, MD_OUTCOME_OK), MD_LEDGER_EV_IGNORED);        /* twice */
    expect_unchanged(f, e_intent("web", 1400, 1, MD_STEP_RESTART, 1), MD_LEDGER_EV_REJECTED);  /* ladder goes up */
    expect_unchanged(f, e_intent("web", 1400, 1, MD_STEP_REDEPLOY, 3), MD_LEDGER_EV_REJECTED); /* skips #2 */
    expect_unchanged(f, e_intent("web", 1400, 7, MD_STEP_REDEPLOY, 2), MD_LEDGER_EV_REJECTED); /* other incident */
    expect_unchanged(f, e_inc(MD_LEDGER_ACK, "web", 1400, 7), MD_LEDGER_EV_REJECTED);
    put(f, e_inc(MD_LEDGER_RESOLVED, "web", 1500, 1));
    expect_unchanged(f, e_intent("web", 1600, 1, MD_STEP_REDEPLOY, 2), MD_LEDGER_EV_REJECTED); /* closed incident */
    expect_unchanged(f, e_inc(MD_LEDGER_RESOLVED, "web", 1600, 1), MD_LEDGER_EV_REJECTED);

    /* Replays and undecodable payloads are errors, and change nothing either. */
    uint8_t *a, *b, *buf, junk[8] = { 1, 2, 3 };
    size_t alen, blen, len;
    md_ledger_event ev;
    snap(f->l, &a, &alen);
    md_ledger_entry e = e_open("api", 1700, 0);
    assert_int_equal(md_ledger_entry_encode(&e, &buf, &len), 0);
    assert_int_equal(md_ledger_apply(f->l, 3, buf, len, &ev), -EALREADY);
    assert_int_equal(md_ledger_apply(f->l, f->idx, junk, sizeof junk, &ev), -EINVAL);
    assert_int_equal(md_ledger_apply(f->l, f->idx, buf, len - 1, &ev), -EINVAL);
    free(buf);
    snap(f->l, &b, &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    free(a);
    free(b);
}

/* script: a sequence touching every entry type, used by the determinism and snapshot tests. */
static size_t script(md_ledger_entry *out)
{
    size_t n = 0;
    out[n++] = e_open("web", 1000, 0);                            /* 1 */
    out[n++] = e_intent("web", 1100, 1, MD_STEP_RESTART, 1);      /* 2 */
    out[n++] = e_by(MD_LEDGER_PAUSE, "db", 1150);                 /* 3 */
    out[n++] = e_result("web", 1200, 2, MD_OUTCOME_FAILED);       /* 4 */
    out[n++] = e_open("api", 1250, 0);                            /* 5 */
    out[n++] = ent(MD_LEDGER_KNOWN_GOOD, "api", 1260);            /* 6 */
    strcpy(out[n - 1].u.known_good.deployment, "dep-1");
    out[n++] = e_intent("web", 1300, 1, MD_STEP_RESTART, 2);      /* 7 */
    out[n++] = e_inc(MD_LEDGER_ACK, "api", 1350, 5);              /* 8 */
    out[n++] = ent(MD_LEDGER_NOTE, "web", 1360);                  /* 9 */
    out[n - 1].u.note.text = md_ledger_text_of("operator looked");
    out[n++] = e_inc(MD_LEDGER_RESOLVED, "api", 1400, 5);         /* 10 */
    return n;                                                     /* web: restart #2 pending */
}

static void test_determinism(void **state)
{
    (void)state;
    const char *other_order[] = { "db", "web", "api" };
    md_ledger *a, *b;
    assert_int_equal(md_ledger_new(names3, 3, &a), 0);
    assert_int_equal(md_ledger_new(other_order, 3, &b), 0);
    md_ledger_entry es[16];
    size_t n = script(es);
    for (size_t i = 0; i < n; i++) {
        md_ledger_event ea = put_on(a, i + 1, &es[i]), eb = put_on(b, i + 1, &es[i]);
        assert_int_equal(ea.kind, eb.kind);
        assert_int_not_equal(ea.kind, MD_LEDGER_EV_REJECTED);
    }
    uint8_t *sa, *sb;
    size_t la, lb;
    snap(a, &sa, &la);
    snap(b, &sb, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    free(sa);
    free(sb);
    md_ledger_free(a);
    md_ledger_free(b);
}

static void test_snapshot_round_trip_mid_incident(void **state)
{
    (void)state;
    md_ledger *a, *b, *c;
    assert_int_equal(md_ledger_new(names3, 3, &a), 0);
    assert_int_equal(md_ledger_new(names3, 3, &b), 0);
    md_ledger_entry es[16];
    size_t n = script(es);
    for (size_t i = 0; i < n; i++)
        put_on(a, i + 1, &es[i]);
    uint8_t *s1, *s2;
    size_t l1, l2;
    snap(a, &s1, &l1);
    assert_int_equal(md_ledger_restore(b, s1, l1), 0);
    snap(b, &s2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(s1, s2, l1);
    free(s2);
    assert_int_equal(md_ledger_last_index(b), n);
    size_t wi;
    assert_int_equal(md_ledger_find(b, "web", &wi), 0);
    const md_ledger_step *p = md_ledger_pending(md_ledger_service_at(b, wi)->open);
    assert_non_null(p);
    assert_int_equal(p->action_id, 7);
    assert_int_equal(p->attempt, 2);

    /* Both carry on identically after the restore. */
    md_ledger_entry r = e_result("web", 2000, 7, MD_OUTCOME_UNKNOWN);
    assert_int_equal(put_on(a, n + 1, &r).kind, MD_LEDGER_EV_RESULT);
    assert_int_equal(put_on(b, n + 1, &r).kind, MD_LEDGER_EV_RESULT);
    uint8_t *x, *y;
    size_t lx, ly;
    snap(a, &x, &lx);
    snap(b, &y, &ly);
    assert_int_equal(lx, ly);
    assert_memory_equal(x, y, lx);
    free(x);
    free(y);

    /* A node watching other services: unknown ones dropped, history kept, missing ones empty. */
    const char *others[] = { "web", "cache" };
    assert_int_equal(md_ledger_new(others, 2, &c), 0);
    assert_int_equal(md_ledger_restore(c, s1, l1), 0);
    assert_non_null(md_ledger_service_at(c, 0)->open);
    assert_null(md_ledger_service_at(c, 1)->open);
    assert_int_equal(md_ledger_closed_count(c), 1);
    assert_string_equal(md_ledger_closed(c, 0)->service, "api");
    md_ledger_free(c);

    /* Every truncation and every flipped byte is refused, and the ledger stays as it was. */
    snap(b, &x, &lx);
    for (size_t k = 0; k < l1; k++)
        assert_int_equal(md_ledger_restore(b, s1, k), -EINVAL);
    for (size_t k = 0; k < l1; k++) {
        s1[k] ^= 0x41;
        assert_int_equal(md_ledger_restore(b, s1, l1), -EINVAL);
        s1[k] ^= 0x41;
    }
    snap(b, &y, &ly);
    assert_int_equal(lx, ly);
    assert_memory_equal(x, y, lx);
    free(x);
    free(y);
    free(s1);
    md_ledger_free(a);
    md_ledger_free(b);
}

/* refresh_crc rewrites the trailer so that a structural corruption reaches the decoder. */
static void refresh_crc(uint8_t *buf, size_t len)
{
    uint32_t c = md__ledger_crc32c(buf, len - 4);
    for (int i = 0; i < 4; i++)
        buf[len - 4 + i] = (uint8_t)(c >> (8 * i));
}

static void test_entry_codec(void **state)
{
    (void)state;
    md_ledger_entry es[16], d;
    size_t n = script(es);
    es[n++] = e_result("web", 1, 2, MD_OUTCOME_SKIPPED);
    strcpy(es[n - 1].u.result.new_deployment, "dep-9");
    es[n++] = e_by(MD_LEDGER_RESUME, "web", 2);
    es[n++] = e_inc(MD_LEDGER_EXHAUSTED, "web", 3, 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf, *again;
        size_t len, alen;
        assert_int_equal(md_ledger_entry_encode(&es[i], &buf, &len), 0);
        assert_int_equal(md_ledger_entry_decode(buf, len, &d), 0);
        assert_int_equal(d.type, es[i].type);
        assert_string_equal(d.service, es[i].service);
        assert_int_equal(d.at_ms, es[i].at_ms);
        assert_int_equal(md_ledger_entry_encode(&d, &again, &alen), 0);
        assert_int_equal(alen, len);
        assert_memory_equal(again, buf, len);
        free(again);
        for (size_t k = 0; k < len; k++)
            assert_int_equal(md_ledger_entry_decode(buf, k, &d), -EINVAL);
        for (size_t k = 0; k < len; k++)
            for (int bit = 0; bit < 8; bit++) {
                buf[k] ^= (uint8_t)(1u << bit);
                assert_int_equal(md_ledger_entry_decode(buf, len, &d), -EINVAL);
                buf[k] ^= (uint8_t)(1u << bit);
            }
        uint8_t *longer = malloc(len + 1);
        memcpy(longer, buf, len - 4);
        longer[len - 4] = 0;
        refresh_crc(longer, len + 1);
        assert_int_equal(md_ledger_entry_decode(longer, len + 1, &d), -EINVAL); /* trailing byte */
        free(longer);
        free(buf);
    }
}

static void test_entry_corruptions(void **state)
{
    (void)state;
    md_ledger_entry e = e_intent("web", 1000, 1, MD_STEP_RESTART, 1), d;
    uint8_t *buf;
    size_t len;
    assert_int_equal(md_ledger_entry_encode(&e, &buf, &len), 0);
    /* layout: version, type, 3 "web", 8 at, 2 "n1", 8 incident, step, 2 attempt, 8 timeout, shadow, 0 */
    const size_t at_version = 0, at_type = 1, at_name = 3, at_step = 25, at_shadow = 36;
    struct { size_t at; uint8_t v; } bad[] = {
        { at_version, 2 }, { at_type, 0 }, { at_type, MD_LEDGER_TYPE_COUNT }, { at_name, ' ' },
        { at_step, MD_STEP_NONE }, { at_step, MD_STEP_COUNT }, { at_shadow, 2 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t keep = buf[bad[i].at];
        buf[bad[i].at] = bad[i].v;
        refresh_crc(buf, len);
        assert_int_equal(md_ledger_entry_decode(buf, len, &d), -EINVAL);
        buf[bad[i].at] = keep;
    }
    refresh_crc(buf, len);
    assert_int_equal(md_ledger_entry_decode(buf, len, &d), 0);
    free(buf);

    /* Invalid UTF-8 that reaches the decoder is refused; the encoder cleans and cuts it. */
    char text[MD_LEDGER_TEXT_MAX + 10];
    memset(text, 'a', sizeof text);
    memcpy(text, "ok\t\x01\xff\xc3\xa9\n", 8);
    md_ledger_entry note = ent(MD_LEDGER_NOTE, "web", 5);
    note.u.note.text.p = text;
    note.u.note.text.len = sizeof text;
    assert_int_equal(md_ledger_entry_encode(&note, &buf, &len), 0);
    assert_int_equal(md_ledger_entry_decode(buf, len, &d), 0);
    assert_int_equal(d.u.note.text.len, MD_LEDGER_TEXT_MAX);
    assert_memory_equal(d.u.note.text.p, "ok\t??\xc3\xa9\n", 8);
    size_t text_at = 1 + 1 + 4 + 8 + 3 + 2; /* version, type, "web", at, "n1", u16 length */
    buf[text_at + 3] = 0xff;
    refresh_crc(buf, len);
    assert_int_equal(md_ledger_entry_decode(buf, len, &d), -EINVAL);
    free(buf);

    /* The encoder refuses what it cannot represent. */
    md_ledger_entry x = e_intent("web", 1000, 1, MD_STEP_RESTART, 1);
    strcpy(x.actor, "has space");
    assert_int_equal(md_ledger_entry_encode(&x, &buf, &len), -EINVAL);
    x = e_intent("web", -1, 1, MD_STEP_RESTART, 1);
    assert_int_equal(md_ledger_entry_encode(&x, &buf, &len), -EINVAL);
    x = e_intent("web", 1, 0, MD_STEP_RESTART, 1);
    assert_int_equal(md_ledger_entry_encode(&x, &buf, &len), -EINVAL);
    x = e_intent("web", 1, 1, MD_STEP_RESTART, 0);
    assert_int_equal(md_ledger_entry_encode(&x, &buf, &len), -EINVAL);
    x = e_result("web", 1, 2, MD_OUTCOME_NONE);
    assert_int_equal(md_ledger_entry_encode(&x, &buf, &len), -EINVAL);
}

static void test_bounded_history(void **state)
{
    fx *f = *state;
    uint64_t first = 0;
    for (int i = 0; i < MD_LEDGER_MAX_CLOSED + 1; i++) {
        uint64_t id = f->idx;
        if (i == 1)
            first = id; /* the second incident becomes the oldest kept */
        put(f, e_open("web", 1000 + i, 0));
        assert_int_equal(put(f, e_inc(MD_LEDGER_RESOLVED, "web", 2000 + i, id)).kind, MD_LEDGER_EV_RESOLVED);
    }
    assert_int_equal(md_ledger_closed_count(f->l), MD_LEDGER_MAX_CLOSED);
    assert_int_equal(md_ledger_closed(f->l, MD_LEDGER_MAX_CLOSED - 1)->id, first);
    assert_int_equal(md_ledger_closed(f->l, 0)->id, f->idx - 2);
    assert_int_equal(svc(f, "web")->more->incidents_total, MD_LEDGER_MAX_CLOSED + 1);
}

static void test_step_limit_and_hourly_times(void **state)
{
    fx *f = *state;
    put(f, e_open("web", 0, 0)); /* 1 */
    for (uint32_t i = 1; i <= MD_LEDGER_MAX_STEPS; i++) {
        int64_t at = (int64_t)i * 600000; /* every 10 minutes */
        uint64_t action = f->idx;
        assert_int_equal(put(f, e_intent("web", at, 1, MD_STEP_RESTART, i)).kind, MD_LEDGER_EV_INTENT);
        put(f, e_result("web", at + 1, action, MD_OUTCOME_FAILED));
        /* only the intents within the hour before the newest are kept */
        assert_true(svc(f, "web")->more->n_recent <= 6);
    }
    const md_ledger_service *s = svc(f, "web");
    assert_int_equal(s->more->n_recent, 6);
    assert_int_equal(s->more->recent_intents_ms[5], (int64_t)MD_LEDGER_MAX_STEPS * 600000);
    md_ledger_event ev = put(f, e_intent("web", 1, 1, MD_STEP_RESTART, MD_LEDGER_MAX_STEPS + 1));
    assert_int_equal(ev.kind, MD_LEDGER_EV_REJECTED);
    assert_string_equal(ev.why, "the incident has reached its step limit");
}

/* min_service writes the smallest service record: nothing paused, known, closed or open. */
static void min_service(md__lw *w, const char *name)
{
    md__lw_name(w, name);
    md__lw_u8(w, 0);  /* paused */
    md__lw_name(w, ""); /* known_good */
    md__lw_u64(w, 0); /* incidents_total */
    md__lw_u64(w, 0); /* actions_total */
    md__lw_u64(w, 0); /* last_closed.id */
    md__lw_u16(w, 0); /* n_recent */
    md__lw_u8(w, 0);  /* open */
}

static int hand_snapshot(md_ledger *l, uint8_t version, const char *first, const char *second)
{
    md__lw w;
    md__lw_start(&w);
    const char *magic = "MDLS";
    for (int i = 0; i < 4; i++)
        md__lw_u8(&w, (uint8_t)magic[i]);
    md__lw_u8(&w, version);
    md__lw_u64(&w, 9);
    md__lw_u32(&w, 2);
    min_service(&w, first);
    min_service(&w, second);
    md__lw_u32(&w, 0);
    assert_int_equal(md__lw_finish(&w), 0);
    int rc = md_ledger_restore(l, w.p, w.len);
    free(w.p);
    return rc;
}

static void test_snapshot_checks_order_and_version(void **state)
{
    fx *f = *state;
    assert_int_equal(hand_snapshot(f->l, MD_LEDGER_VERSION, "db", "web"), 0);
    assert_int_equal(md_ledger_last_index(f->l), 9);
    assert_int_equal(hand_snapshot(f->l, MD_LEDGER_VERSION, "web", "db"), -EINVAL);  /* unsorted */
    assert_int_equal(hand_snapshot(f->l, MD_LEDGER_VERSION, "web", "web"), -EINVAL); /* duplicate */
    assert_int_equal(hand_snapshot(f->l, 2, "db", "web"), 0);       /* written now; 1 is still read */
    assert_int_equal(hand_snapshot(f->l, 3, "db", "web"), -EINVAL);
    assert_int_equal(hand_snapshot(f->l, 0, "db", "web"), -EINVAL);
    assert_int_equal(md_ledger_last_index(f->l), 9);
}

static md_ledger_entry e_blocked(const char *svc, int64_t at, uint64_t action, const char *reason)
{
    md_ledger_entry e = ent(MD_LEDGER_BLOCKED, svc, at);
    e.u.blocked.action = action;
    e.u.blocked.reason = md_ledger_text_of(reason);
    return e;
}

/* An action that never reached its target: BLOCKED marks it (and survives a snapshot), and its
 * NOT_ATTEMPTED result takes back the attempt and the hour's action: the same attempt comes again. */
static void test_blocked_and_not_attempted(void **state)
{
    fx *f = *state;
    put(f, e_open("web", 1000, 0));                                          /* incident 1 */
    put(f, e_intent("web", 2000, 1, MD_STEP_RESTART, 1));                    /* action 2 */
    md_ledger_event ev = put(f, e_blocked("web", 2500, 9, "auth refused"));  /* not pending */
    assert_int_equal(ev.kind, MD_LEDGER_EV_IGNORED);
    ev = put(f, e_blocked("web", 2600, 2, "auth refused"));
    assert_int_equal(ev.kind, MD_LEDGER_EV_BLOCKED);
    assert_int_equal(ev.action_id, 2);
    const md_ledger_incident *inc = svc(f, "web")->open;
    assert_int_equal(inc->blocked_action, 2);
    assert_int_equal(inc->blocked_at_ms, 2600);
    assert_string_equal(inc->blocked_reason, "auth refused");
    put(f, e_blocked("web", 2700, 2, "rate limited"));                       /* a new reason replaces it */
    assert_string_equal(svc(f, "web")->open->blocked_reason, "rate limited");

    uint8_t *b1, *b2;
    size_t l1, l2;
    md_ledger *copy;
    snap(f->l, &b1, &l1);
    assert_int_equal(md_ledger_new(names3, 3, &copy), 0);
    assert_int_equal(md_ledger_restore(copy, b1, l1), 0);
    snap(copy, &b2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    size_t i;
    assert_int_equal(md_ledger_find(copy, "web", &i), 0);
    assert_string_equal(md_ledger_service_at(copy, i)->open->blocked_reason, "rate limited");
    md_ledger_free(copy);
    free(b1);
    free(b2);

    assert_int_equal(svc(f, "web")->more->n_recent, 1);
    ev = put(f, e_result("web", 3000, 2, MD_OUTCOME_NOT_ATTEMPTED));
    assert_int_equal(ev.kind, MD_LEDGER_EV_RESULT);
    inc = svc(f, "web")->open;
    assert_int_equal(inc->attempts[MD_STEP_RESTART], 0);
    assert_int_equal(inc->blocked_action, 0);
    assert_string_equal(inc->blocked_reason, "");
    assert_int_equal(svc(f, "web")->more->n_recent, 0);
    assert_false(md_outcome_attempted(inc->steps[0].outcome));
    assert_string_equal(md_outcome_name(MD_OUTCOME_NOT_ATTEMPTED), "not-attempted");
    /* attempt 2 would skip one; attempt 1 again is the ladder's next */
    assert_int_equal(put(f, e_intent("web", 4000, 1, MD_STEP_RESTART, 2)).kind, MD_LEDGER_EV_REJECTED);
    assert_int_equal(put(f, e_intent("web", 4000, 1, MD_STEP_RESTART, 1)).kind, MD_LEDGER_EV_INTENT);
    assert_int_equal(svc(f, "web")->open->attempts[MD_STEP_RESTART], 1);
    assert_int_equal(svc(f, "web")->open->n_steps, 2);
}

/* A service that never had an entry costs its 24-byte record (136 with everything inline) and
 * shares one empty state; its first entry gives it its own, which a snapshot keeps, while the
 * quiet services of a restored ledger share the empty one again. */
static void test_quiet_services_share_their_state(void **state)
{
    fx *f = *state;
    assert_true(sizeof(md_ledger_service) <= 24);
    assert_ptr_equal(svc(f, "web")->more, svc(f, "db")->more);
    assert_false(svc(f, "web")->more->paused);
    assert_string_equal(svc(f, "web")->more->known_good, "");
    md_ledger_entry e = ent(MD_LEDGER_PAUSE, "api", 1000);
    strcpy(e.u.pause.by, "alice");
    e.u.pause.reason = md_ledger_text_of("maintenance");
    assert_int_equal(put(f, e).kind, MD_LEDGER_EV_PAUSED);
    assert_ptr_not_equal(svc(f, "api")->more, svc(f, "db")->more);
    assert_ptr_equal(svc(f, "web")->more, svc(f, "db")->more);
    assert_true(svc(f, "api")->more->paused);
    uint8_t *snap = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    assert_int_equal(md_ledger_snapshot(f->l, &snap, &len), 0);
    md_ledger *t;
    assert_int_equal(md_ledger_new(names3, 3, &t), 0);
    assert_int_equal(md_ledger_restore(t, snap, len), 0);
    size_t web, db, api;
    assert_int_equal(md_ledger_find(t, "web", &web), 0);
    assert_int_equal(md_ledger_find(t, "db", &db), 0);
    assert_int_equal(md_ledger_find(t, "api", &api), 0);
    assert_ptr_equal(md_ledger_service_at(t, web)->more, md_ledger_service_at(t, db)->more);
    assert_true(md_ledger_service_at(t, api)->more->paused);
    assert_string_equal(md_ledger_service_at(t, api)->more->paused_by, "alice");
    assert_int_equal(md_ledger_snapshot(t, &again, &len2), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(again, snap, len);
    free(again);
    free(snap);
    md_ledger_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_checks_names),
        cmocka_unit_test(test_find_among_many),
        cmocka_unit_test_setup_teardown(test_ladder_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_continues_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exhausted_ack_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_good_and_notes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_sequences_change_nothing, setup, teardown),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_snapshot_round_trip_mid_incident),
        cmocka_unit_test_setup_teardown(test_snapshot_checks_order_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocked_and_not_attempted, setup, teardown),
        cmocka_unit_test(test_entry_codec),
        cmocka_unit_test(test_entry_corruptions),
        cmocka_unit_test_setup_teardown(test_bounded_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_step_limit_and_hourly_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quiet_services_share_their_state, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
