/* escalation.c: the remediation ladder's rules (see escalation.h for the list, in order). */
#include "remedy.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void md_escalation_knobs_default(md_escalation_knobs *k)
{
    k->restart_attempts = 3;
    k->restart_interval_ms = 10000;
    k->restart_timeout_ms = 30000;
    k->redeploy_attempts = 2;
    k->redeploy_timeout_ms = 120000;
    k->rollback_timeout_ms = 60000;
    k->verify_after_ms = 5000;
    k->reopen_window_ms = 600000;
    k->max_actions_per_hour = 10;
}

static md_escalation_decision none(int64_t wake_at_ms, const char *reason)
{
    md_escalation_decision d = { .kind = MD_ESC_NONE, .wake_at_ms = wake_at_ms, .reason = reason };
    return d;
}

static md_escalation_decision decide_pending(const md_escalation_input *in, const md_ledger_incident *inc,
                                             const md_ledger_step *p)
{
    int64_t deadline = p->intent_at_ms + p->timeout_ms;
    if (in->action_in_flight) /* its own end will bring a result; the wake is a safety net */
        return none(deadline > in->now_ms ? deadline : 0, "the pending action is running here");
    if (in->now_ms < deadline)
        return none(deadline, "another leader's action may still run: waiting for its timeout");
    md_escalation_decision d = { .kind = MD_ESC_RESULT_UNKNOWN, .incident_id = inc->id,
                                 .action_id = p->action_id,
                                 .reason = "the pending action's timeout passed: treat it as attempted" };
    return d;
}

static md_escalation_decision decide_open(const md_escalation_input *in)
{
    const md_ledger_last_closed *lc = &in->svc->more->last_closed;
    /* The relapse happened when the verdict turned DOWN, not when this leader got to it. */
    int64_t down_at = in->verdict_since_ms > 0 && in->verdict_since_ms < in->now_ms ? in->verdict_since_ms : in->now_ms;
    md_escalation_decision d = { .kind = MD_ESC_OPEN_INCIDENT, .reason = "quorum DOWN: a new ladder" };
    if (lc->id && lc->how == MD_CLOSE_RESOLVED && down_at - lc->closed_at_ms < in->knobs->reopen_window_ms) {
        d.reopen_of = lc->id;
        d.reason = "quorum DOWN within the reopen window: the last incident's ladder continues";
    }
    return d;
}

/* last_attempted: the incident's last step that reached its target (NULL: none did). */
static const md_ledger_step *last_attempted(const md_ledger_incident *inc)
{
    for (size_t i = inc->n_steps; i-- > 0;)
        if (md_outcome_attempted(inc->steps[i].outcome))
            return &inc->steps[i];
    return NULL;
}

static md_escalation_decision decide_up(const md_escalation_input *in, const md_ledger_incident *inc)
{
    md_escalation_decision d = { .kind = MD_ESC_RESOLVE, .incident_id = inc->id };
    const md_ledger_step *last = last_attempted(inc);
    if (!last) {
        d.reason = "quorum UP before any action";
        return d;
    }
    int64_t judge_at = last->result_at_ms + in->knobs->verify_after_ms;
    if (in->now_ms < judge_at)
        return none(judge_at, "quorum UP: waiting verify_after_ms after the last action");
    d.reason = "quorum UP after verify_after_ms";
    return d;
}

static int step_limit(const md_escalation_knobs *k, md_step s)
{
    return s == MD_STEP_RESTART ? k->restart_attempts : s == MD_STEP_REDEPLOY ? k->redeploy_attempts : 1;
}

/* next_step: the lowest step not yet used up, that the actuator can do, and that the ladder
 * has not already left behind (it only goes up); MD_STEP_NONE when the ladder is done. */
static md_step next_step(const md_escalation_input *in, const md_ledger_incident *inc)
{
    for (int s = MD_STEP_RESTART; s < MD_STEP_COUNT; s++) {
        bool left_behind = false;
        for (int t = s + 1; t < MD_STEP_COUNT; t++)
            left_behind = left_behind || inc->attempts[t] > 0;
        if (left_behind || !in->caps.step[s] || inc->attempts[s] >= (uint32_t)step_limit(in->knobs, (md_step)s))
            continue;
        if (s == MD_STEP_ROLLBACK && in->caps.rollback_needs_known_good && !in->svc->more->known_good[0])
            continue;
        return (md_step)s;
    }
    return MD_STEP_NONE;
}

static int64_t step_timeout(const md_escalation_knobs *k, md_step s)
{
    int64_t t = s == MD_STEP_RESTART ? k->restart_timeout_ms
              : s == MD_STEP_REDEPLOY ? k->redeploy_timeout_ms : k->rollback_timeout_ms;
    return t > 0 ? t : 1; /* the ledger refuses an intent without a bound */
}

/* rate_limit_wake: 0 if another intent fits in the hour, else when the oldest one in it leaves. */
static int64_t rate_limit_wake(const md_escalation_input *in)
{
    const md_ledger_service *s = in->svc;
    int64_t from = in->now_ms - MD_LEDGER_RATE_WINDOW_MS, oldest = INT64_MAX;
    int n = 0;
    for (size_t i = 0; i < s->more->n_recent; i++)
        if (s->more->recent_intents_ms[i] > from) {
            n++;
            if (s->more->recent_intents_ms[i] < oldest)
                oldest = s->more->recent_intents_ms[i];
        }
    return n >= in->knobs->max_actions_per_hour ? oldest + MD_LEDGER_RATE_WINDOW_MS : 0;
}

static md_escalation_decision decide_down(const md_escalation_input *in, const md_ledger_incident *inc)
{
    const md_escalation_knobs *k = in->knobs;
    /* Judge the last action that reached its target; one that did not (NOT_ATTEMPTED) leaves
     * nothing to wait for: its step is simply asked for again. */
    const md_ledger_step *last = inc->n_steps > 0 ? &inc->steps[inc->n_steps - 1] : NULL;
    if (last && md_outcome_attempted(last->outcome)) {
        int64_t wait = k->verify_after_ms;
        if (last->step == MD_STEP_RESTART && k->restart_interval_ms > wait)
            wait = k->restart_interval_ms;
        if (in->now_ms < last->result_at_ms + wait)
            return none(last->result_at_ms + wait, last->step == MD_STEP_RESTART
                                                       ? "waiting restart_interval_ms before judging the restart"
                                                       : "waiting verify_after_ms before judging the last action");
    }
    md_step s = next_step(in, inc);
    md_escalation_decision d = { .kind = MD_ESC_EXHAUST, .incident_id = inc->id };
    if (s == MD_STEP_NONE || inc->n_steps == MD_LEDGER_MAX_STEPS) {
        bool tried = inc->n_steps > 0;
        for (int t = MD_STEP_RESTART; t < MD_STEP_COUNT; t++)
            tried = tried || inc->attempts[t] > 0;
        d.reason = tried ? "the ladder is done and the service is still DOWN" : "no step this actuator can take";
        return d;
    }
    int64_t wake = rate_limit_wake(in);
    if (wake) {
        d = none(wake, "max_actions_per_hour reached");
        d.rate_limited = true;
        return d;
    }
    d.kind = MD_ESC_INTENT;
    d.step = s;
    d.attempt = inc->attempts[s] + 1;
    d.timeout_ms = step_timeout(k, s);
    if (s == MD_STEP_ROLLBACK)
        strcpy(d.target, in->svc->more->known_good);
    d.reason = "quorum DOWN: next step on the ladder";
    return d;
}

md_escalation_decision md_escalation_decide(const md_escalation_input *in)
{
    assert(in && in->knobs && in->svc);
    const md_escalation_knobs *k = in->knobs;
    assert(k->restart_attempts >= 0 && k->redeploy_attempts >= 0 && k->max_actions_per_hour >= 1);
    assert(k->restart_interval_ms >= 0 && k->verify_after_ms >= 0 && k->reopen_window_ms >= 0);
    assert(k->restart_timeout_ms >= 0 && k->redeploy_timeout_ms >= 0 && k->rollback_timeout_ms >= 0);
    const md_ledger_service *s = in->svc;
    const md_ledger_incident *inc = s->open;
    assert(!inc || inc->closed == MD_CLOSE_OPEN);

    if (s->more->paused)
        return none(0, "paused: never act");
    const md_ledger_step *p = md_ledger_pending(inc);
    if (p)
        return decide_pending(in, inc, p);
    if (in->verdict != MD_VERDICT_UP && in->verdict != MD_VERDICT_DOWN)
        return none(0, "no quorum DOWN (verdict SPLIT or UNKNOWN): never act");
    if (!inc)
        return in->verdict == MD_VERDICT_UP ? none(0, "UP, no incident") : decide_open(in);
    if (in->verdict == MD_VERDICT_UP)
        return decide_up(in, inc);
    if (inc->exhausted)
        return none(0, "exhausted: waiting for recovery or an operator");
    return decide_down(in, inc);
}

const char *md_escalation_kind_name(md_escalation_kind k)
{
    static const char *const names[] = { "none", "open-incident", "intent", "result-unknown", "resolve", "exhaust" };
    return (unsigned)k < MD_ESC_COUNT ? names[k] : "?";
}

void md_escalation_describe(const md_escalation_decision *d, char *buf, size_t len)
{
    assert(d && buf && len > 0);
    const char *why = d->reason ? d->reason : "";
    switch (d->kind) {
    case MD_ESC_OPEN_INCIDENT:
        if (d->reopen_of)
            snprintf(buf, len, "open incident (reopening %" PRIu64 "): %s", d->reopen_of, why);
        else
            snprintf(buf, len, "open incident: %s", why);
        break;
    case MD_ESC_INTENT:
        snprintf(buf, len, "intent %s #%" PRIu32 " of incident %" PRIu64 " (timeout %" PRId64 " ms%s%s): %s",
                 md_step_name(d->step), d->attempt, d->incident_id, d->timeout_ms, d->target[0] ? ", target " : "",
                 d->target, why);
        break;
    case MD_ESC_RESULT_UNKNOWN:
        snprintf(buf, len, "result unknown for action %" PRIu64 " of incident %" PRIu64 ": %s", d->action_id,
                 d->incident_id, why);
        break;
    case MD_ESC_RESOLVE:
    case MD_ESC_EXHAUST:
        snprintf(buf, len, "%s incident %" PRIu64 ": %s", md_escalation_kind_name(d->kind), d->incident_id, why);
        break;
    default:
        if (d->wake_at_ms)
            snprintf(buf, len, "none until %" PRId64 ": %s", d->wake_at_ms, why);
        else
            snprintf(buf, len, "none: %s", why);
    }
}
