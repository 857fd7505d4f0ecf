/* driver.c: the remediation driver's decisions (see remedy.h for the contract):
 * when to ask the escalation core, what to propose, which intent of ours to run, which alerts are
 * due. Pure: the shell does every side effect and reports back. */
#include "remedy.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per service, what this process is doing about it (never replicated, lost on restart). Every
 * service has a dsvc, so it holds only the flags and the index of its settings (8 of 10,000
 * services' settings are the defaults: one copy per distinct set); the rest (dwork) is allocated
 * at the service's first proposal or alert, which most services never have. */
typedef struct dwork dwork;
typedef struct {
    dwork *w;                       /* NULL until needed; reads see zero_work then */
    uint32_t cfg;                   /* index into md_driver.cfgs */
    bool in_flight : 1;             /* an action this node runs (or records skipped) */
    bool proposing : 1;             /* a proposal handed to the shell, md_driver_proposed not called yet */
    /* the action in flight here could not reach its target: it stays in flight and is tried
     * again at retry_at_ms (monotonic), or given up */
    bool blocked : 1;
    bool blocked_tell : 1;          /* a BLOCKED entry for the blocked reason is due */
} dsvc;

struct dwork {
    uint32_t blocked_tries;
    int64_t retry_at_ms;
    /* the intent this process proposed last: only it may be run here, so an intent replayed
     * from the log after a restart is never run a second time */
    uint64_t intent_index;
    /* a proposal of ours not applied yet: do not propose again for this service meanwhile */
    uint64_t proposed_index;
    int64_t proposed_at_ms;         /* monotonic */
    /* a committed intent of ours that will not run here: its NOT_ATTEMPTED result is due (kept
     * until it was handed over, so a failed forward is tried again) */
    uint64_t give_up_action;
    uint64_t rate_alerted_incident;
    int64_t split_alerted_since;
    int64_t degraded_alerted_since;
    md_driver_action current;       /* the action in flight here (what a retry runs again) */
    char blocked_reason[MD_DRIVER_REASON_MAX];
    char give_up_reason[MD_DRIVER_REASON_MAX + 64];
};

static const dwork zero_work;

struct md_driver {
    char node_id[MD_LEDGER_NAME_MAX + 1];
    char text[256];                 /* a detail the last step's entry points to */
    int64_t split_alert_after_ms;
    int64_t patience_ms;
    size_t n;
    dsvc *svc;
    size_t n_cfgs;
    md_driver_service *cfgs;        /* the distinct settings among the services' */
    /* The proposal in progress (the shell proposes one service's entry and reports it before
     * it steps the next service, so one at a time). */
    md_ledger_entry_type proposing_type;
    bool proposing_give_up;         /* it is a NOT_ATTEMPTED result */
    md_driver_action proposing_action; /* INTENT: what it asks for (no action id yet) */
    /* an entry of ours applied during the propose call (its index not known to us yet) */
    uint64_t early_index;
    bool early_intent;
    md_driver_action early;
};

/* wk: s's working state for reading (all zero before it was needed). */
static const dwork *wk(const dsvc *s)
{
    return s->w ? s->w : &zero_work;
}

/* work: s's working state for writing, allocated at its first use; NULL out of memory (the
 * caller then decides nothing this time, and the next step asks again). */
static dwork *work(dsvc *s)
{
    if (!s->w)
        s->w = calloc(1, sizeof *s->w);
    return s->w;
}

static const md_driver_service *cfg_of(const md_driver *d, const dsvc *s)
{
    assert(s->cfg < d->n_cfgs);
    return &d->cfgs[s->cfg];
}

/* Settings compare field by field: the caller's structs may hold anything in their padding. */
static bool cfg_equal(const md_driver_service *a, const md_driver_service *b)
{
    const md_escalation_knobs *x = &a->knobs, *y = &b->knobs;
    if (x->restart_attempts != y->restart_attempts || x->restart_interval_ms != y->restart_interval_ms ||
        x->restart_timeout_ms != y->restart_timeout_ms || x->redeploy_attempts != y->redeploy_attempts ||
        x->redeploy_timeout_ms != y->redeploy_timeout_ms || x->rollback_timeout_ms != y->rollback_timeout_ms ||
        x->verify_after_ms != y->verify_after_ms || x->reopen_window_ms != y->reopen_window_ms ||
        x->max_actions_per_hour != y->max_actions_per_hour || a->shadow != b->shadow ||
        a->caps.rollback_needs_known_good != b->caps.rollback_needs_known_good)
        return false;
    for (int k = 0; k < MD_STEP_COUNT; k++)
        if (a->caps.step[k] != b->caps.step[k])
            return false;
    return true;
}

static uint64_t cfg_hash(const md_driver_service *c)
{
    const md_escalation_knobs *k = &c->knobs;
    int64_t f[] = { k->restart_attempts, k->restart_interval_ms, k->restart_timeout_ms, k->redeploy_attempts,
                    k->redeploy_timeout_ms, k->rollback_timeout_ms, k->verify_after_ms, k->reopen_window_ms,
                    k->max_actions_per_hour, c->shadow, c->caps.rollback_needs_known_good,
                    c->caps.step[MD_STEP_RESTART], c->caps.step[MD_STEP_REDEPLOY], c->caps.step[MD_STEP_ROLLBACK] };
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        h = (h ^ (uint64_t)f[i]) * 1099511628211u;
    return h ^ (h >> 29);
}

/* dedup_cfgs copies the distinct settings of cfg->svc into d->cfgs and points each service at its
 * own; a hash table (freed before returning) keeps it linear at 100,000 distinct sets. */
static int dedup_cfgs(md_driver *d, const md_driver_config *cfg)
{
    size_t slots = 16;
    while (slots < 2 * cfg->n)
        slots *= 2;
    uint32_t *table = calloc(slots, sizeof *table); /* 1 + index into d->cfgs; 0 empty */
    d->cfgs = malloc(cfg->n * sizeof *d->cfgs);
    if (!table || !d->cfgs) {
        free(table);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->n; i++) {
        const md_driver_service *c = &cfg->svc[i];
        size_t at = (size_t)cfg_hash(c) & (slots - 1);
        while (table[at] && !cfg_equal(&d->cfgs[table[at] - 1], c))
            at = (at + 1) & (slots - 1);
        if (!table[at]) {
            d->cfgs[d->n_cfgs] = *c;
            table[at] = (uint32_t)++d->n_cfgs;
        }
        d->svc[i].cfg = table[at] - 1;
    }
    free(table);
    md_driver_service *fit = realloc(d->cfgs, d->n_cfgs * sizeof *d->cfgs);
    if (fit)
        d->cfgs = fit;
    return 0;
}

int md_driver_new(const md_driver_config *cfg, md_driver **out)
{
    if (!cfg || !cfg->node_id || !cfg->node_id[0] || strlen(cfg->node_id) > MD_LEDGER_NAME_MAX || cfg->n == 0 ||
        !cfg->svc)
        return -EINVAL;
    if (cfg->n > UINT32_MAX / 2)
        return -EINVAL;
    md_driver *d = calloc(1, sizeof *d);
    dsvc *svc = calloc(cfg->n, sizeof *svc);
    if (!d || !svc) {
        free(d);
        free(svc);
        return -ENOMEM;
    }
    snprintf(d->node_id, sizeof d->node_id, "%s", cfg->node_id);
    d->split_alert_after_ms = cfg->split_alert_after_ms;
    d->patience_ms = cfg->patience_ms;
    d->n = cfg->n;
    d->svc = svc;
    if (dedup_cfgs(d, cfg) < 0) {
        md_driver_free(d);
        return -ENOMEM;
    }
    *out = d;
    return 0;
}

void md_driver_free(md_driver *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->svc[i].w);
    free(d->svc);
    free(d->cfgs);
    free(d);
}

size_t md_driver_bytes(const md_driver *d)
{
    size_t bytes = sizeof *d + d->n * sizeof *d->svc + d->n_cfgs * sizeof *d->cfgs;
    for (size_t i = 0; i < d->n; i++)
        bytes += d->svc[i].w ? sizeof *d->svc[i].w : 0;
    return bytes;
}

bool md_driver_in_flight(const md_driver *d, size_t svc)
{
    assert(svc < d->n);
    return d->svc[svc].in_flight;
}

void md_driver_action_done(md_driver *d, size_t svc)
{
    assert(svc < d->n);
    dsvc *s = &d->svc[svc];
    s->in_flight = false;
    s->blocked = s->blocked_tell = false;
    if (s->w) {
        s->w->blocked_tries = 0;
        s->w->blocked_reason[0] = '\0';
    }
}

void md_driver_action_blocked(md_driver *d, size_t svc, const char *reason, uint32_t retry_after_ms, int64_t mono_ms)
{
    assert(svc < d->n && reason);
    dsvc *s = &d->svc[svc];
    assert(s->in_flight && !s->blocked);
    dwork *w = s->w;
    assert(w); /* an action in flight has its working state (run_or_refuse) */
    s->blocked = true;
    if (strncmp(w->blocked_reason, reason, sizeof w->blocked_reason - 1) != 0) {
        snprintf(w->blocked_reason, sizeof w->blocked_reason, "%s", reason);
        s->blocked_tell = true;
    }
    /* The target's own hint wins; else 1 s doubling. Never longer than the cap, so an answer
     * that asks for an hour still gets a try every 30 s (the API may work again sooner). */
    int64_t wait = MD_DRIVER_BACKOFF_MAX_MS;
    if (retry_after_ms > 0)
        wait = retry_after_ms;
    else if (w->blocked_tries < 15)
        wait = (int64_t)1000 << w->blocked_tries;
    if (wait > MD_DRIVER_BACKOFF_MAX_MS)
        wait = MD_DRIVER_BACKOFF_MAX_MS;
    w->blocked_tries++;
    w->retry_at_ms = mono_ms + wait;
}

const md_escalation_knobs *md_driver_knobs(const md_driver *d, size_t svc)
{
    assert(svc < d->n);
    return &cfg_of(d, &d->svc[svc])->knobs;
}

bool md_driver_holds(const md_driver *d, size_t svc)
{
    assert(svc < d->n);
    const dsvc *s = &d->svc[svc];
    return s->blocked || wk(s)->give_up_action != 0;
}

const char *md_driver_blocked_reason(const md_driver *d, size_t svc)
{
    assert(svc < d->n);
    const dsvc *s = &d->svc[svc];
    return s->in_flight && wk(s)->blocked_reason[0] ? wk(s)->blocked_reason : NULL;
}

/* give_up records that this process will not run committed intent action (reason for people);
 * the step then proposes its NOT_ATTEMPTED result. s has its working state: only an intent this
 * process proposed (or an action it ran) is given up. */
static void give_up(dsvc *s, uint64_t action, const char *reason)
{
    assert(s->w);
    s->w->give_up_action = action;
    snprintf(s->w->give_up_reason, sizeof s->w->give_up_reason, "not attempted: %.240s", reason);
}

/* The last check before acting, in the order the shell always checked: busy, shadow, lease. The lease
 * is the caller's reading at this very moment, never an earlier one: a paused or partitioned
 * leader wakes with its lease long gone. */
static md_driver_disposition run_or_refuse(dsvc *s, const md_driver_action *a, bool lease_valid)
{
    (void)lease_valid;
    assert(s->w); /* a proposal of ours came first */
    if (s->in_flight)
        return MD_DRIVER_REFUSED_BUSY;
    s->w->current = *a;
    if (a->shadow) {
        s->in_flight = true;
        return MD_DRIVER_RUN_SHADOW;
    }
#ifndef REMEDY_BUG_NO_LEASE
    if (!lease_valid) {
        give_up(s, a->action_id, "the leader's lease was not valid when the intent committed, so it was never started");
        return MD_DRIVER_REFUSED_LEASE;
    }
#endif
    s->in_flight = true;
    return MD_DRIVER_RUN;
}

/* ---- deciding (the leader, every tick) ---- */

static void fill_common(const md_driver *d, const md_driver_input *in, md_ledger_entry *e, md_ledger_entry_type t)
{
    memset(e, 0, sizeof *e);
    e->type = t;
    snprintf(e->service, sizeof e->service, "%s", in->ledger->name);
    e->at_ms = in->now_ms;
    snprintf(e->actor, sizeof e->actor, "%s", d->node_id);
}

static void add_alert(md_driver_output *out, md_driver_alert a)
{
    assert(out->n_alerts < MD_DRIVER_MAX_ALERTS);
    out->alerts[out->n_alerts++] = a;
}

/* unknown_detail says truthfully why a pending action has no result. Every intent this process
 * proposed either ran here or got a NOT_ATTEMPTED result, so what reaches the timeout rule was
 * started by another node, or by this one before a restart. The text is static or in d. */
static const char *unknown_detail(md_driver *d, const md_driver_input *in, uint64_t action)
{
    const md_ledger_step *p = in->ledger->open ? md_ledger_pending(in->ledger->open) : NULL;
    if (!p || p->action_id != action)
        return "no result before its timeout: treated as attempted";
    if (strcmp(p->actor, d->node_id) == 0)
        snprintf(d->text, sizeof d->text,
                 "no result within its timeout (%lld ms): this node started it before it restarted; "
                 "treated as attempted", (long long)p->timeout_ms);
    else
        snprintf(d->text, sizeof d->text,
                 "no result within its timeout (%lld ms): %s, which started it, stopped leading or failed; "
                 "treated as attempted", (long long)p->timeout_ms, p->actor);
    return d->text;
}

/* The entry for decision dec; false when it asks for none. */
static bool entry_of(md_driver *d, const dsvc *s, const md_driver_input *in, const md_escalation_decision *dec,
                     md_ledger_entry *e)
{
    switch (dec->kind) {
    case MD_ESC_OPEN_INCIDENT:
        fill_common(d, in, e, MD_LEDGER_INCIDENT_OPEN);
        e->u.open.reopen_of = dec->reopen_of;
        return true;
    case MD_ESC_INTENT:
        fill_common(d, in, e, MD_LEDGER_INTENT);
        e->u.intent.incident = dec->incident_id;
        e->u.intent.step = dec->step;
        e->u.intent.attempt = dec->attempt;
        e->u.intent.timeout_ms = dec->timeout_ms;
        e->u.intent.shadow = cfg_of(d, s)->shadow;
        snprintf(e->u.intent.target, sizeof e->u.intent.target, "%s", dec->target);
        return true;
    case MD_ESC_RESULT_UNKNOWN:
        fill_common(d, in, e, MD_LEDGER_RESULT);
        e->u.result.action = dec->action_id;
        e->u.result.outcome = MD_OUTCOME_UNKNOWN;
        e->u.result.detail = md_ledger_text_of(unknown_detail(d, in, dec->action_id));
        e->u.result.duration_ms = 0;
        return true;
    case MD_ESC_RESOLVE:
        fill_common(d, in, e, MD_LEDGER_RESOLVED);
        e->u.resolved.incident = dec->incident_id;
        e->u.resolved.reason = md_ledger_text_of("the cluster verdict is UP again");
        return true;
    case MD_ESC_EXHAUST:
        fill_common(d, in, e, MD_LEDGER_EXHAUSTED);
        e->u.exhausted.incident = dec->incident_id;
        return true;
    default:
        return false;
    }
}

static void propose_entry(md_driver *d, dsvc *s, md_driver_output *out, bool give_up_result);

static void decide(md_driver *d, dsvc *s, const md_driver_input *in, md_driver_output *out)
{
    const md_ledger_service *ls = in->ledger;
    const md_driver_service *cfg = cfg_of(d, s);
    if (wk(s)->proposed_index && in->mono_ms - wk(s)->proposed_at_ms < d->patience_ms)
        return;
    if (s->w)
        s->w->proposed_index = 0;
    md_escalation_input ein = {
        .knobs = &cfg->knobs,
        .svc = ls,
        .verdict = in->verdict,
        .verdict_since_ms = in->verdict_since_ms,
        .now_ms = in->now_ms,
        .action_in_flight = s->in_flight,
        .caps = cfg->caps,
    };
    md_escalation_decision dec = md_escalation_decide(&ein);
    out->decision = dec.kind;
    md_escalation_describe(&dec, out->what, sizeof out->what);
    if (dec.kind == MD_ESC_NONE) {
        out->wake_at_ms = dec.wake_at_ms;
        uint64_t inc = ls->open ? ls->open->id : 0;
        if (dec.rate_limited && wk(s)->rate_alerted_incident != inc) {
            if (!work(s))
                return; /* out of memory: alerted at a later step */
            s->w->rate_alerted_incident = inc;
            add_alert(out, (md_driver_alert){ .kind = MD_DRIVER_ALERT_RATE_LIMITED, .incident = inc,
                                              .at_ms = in->now_ms,
                                              .retry_in_ms = dec.wake_at_ms > 0 ? dec.wake_at_ms - in->now_ms : 0 });
        }
        return;
    }
    /* a proposal's index is kept (proposed_index), so the service's working state is needed now;
     * out of memory, nothing is proposed and the next step decides again */
    if (!work(s) || !entry_of(d, s, in, &dec, &out->entry))
        return;
    propose_entry(d, s, out, false);
    if (dec.kind == MD_ESC_INTENT) {
        md_driver_action *a = &d->proposing_action;
        a->svc = in->svc;
        a->incident = dec.incident_id;
        a->step = dec.step;
        a->attempt = dec.attempt;
        a->timeout_ms = dec.timeout_ms;
        a->shadow = cfg->shadow;
        snprintf(a->target, sizeof a->target, "%s", dec.target);
    }
}

/* SPLIT for too long, and the predictive DEGRADED warning: alerts without a ledger entry, keyed
 * by the state's start so each episode is told once. */
static void watch_alerts(md_driver *d, dsvc *s, const md_driver_input *in, md_driver_output *out)
{
    if (in->verdict == MD_VERDICT_SPLIT && in->now_ms - in->verdict_since_ms >= d->split_alert_after_ms &&
        wk(s)->split_alerted_since != in->verdict_since_ms && work(s)) {
        s->w->split_alerted_since = in->verdict_since_ms;
        add_alert(out, (md_driver_alert){ .kind = MD_DRIVER_ALERT_SPLIT, .since_ms = in->verdict_since_ms,
                                          .at_ms = in->now_ms, .split_for_ms = in->now_ms - in->verdict_since_ms });
    }
    if (in->own_state == MD_STATE_DEGRADED && wk(s)->degraded_alerted_since != in->own_since_ms && work(s)) {
        s->w->degraded_alerted_since = in->own_since_ms;
        add_alert(out, (md_driver_alert){ .kind = MD_DRIVER_ALERT_DEGRADED, .since_ms = in->own_since_ms,
                                          .at_ms = in->now_ms });
    }
}

/* ---- actions that did not reach their target ---- */

static void propose_entry(md_driver *d, dsvc *s, md_driver_output *out, bool give_up_result)
{
    out->propose = true;
    s->proposing = true;
    d->proposing_type = out->entry.type;
    d->proposing_give_up = give_up_result;
    d->early_index = 0;
    memset(&d->proposing_action, 0, sizeof d->proposing_action);
}

/* propose_give_up: the NOT_ATTEMPTED result of give_up_action, if that action is still the
 * service's pending one (else there is nothing left to say). */
static bool propose_give_up(md_driver *d, dsvc *s, const md_driver_input *in, md_driver_output *out)
{
    dwork *w = s->w;
    assert(w && w->give_up_action);
    const md_ledger_step *p = in->ledger->open ? md_ledger_pending(in->ledger->open) : NULL;
    if (!p || p->action_id != w->give_up_action) {
        w->give_up_action = 0;
        return false;
    }
    fill_common(d, in, &out->entry, MD_LEDGER_RESULT);
    out->entry.u.result.action = w->give_up_action;
    out->entry.u.result.outcome = MD_OUTCOME_NOT_ATTEMPTED;
    out->entry.u.result.detail = md_ledger_text_of(w->give_up_reason);
    snprintf(out->what, sizeof out->what, "result not-attempted for action %llu: %.200s",
             (unsigned long long)w->give_up_action, w->give_up_reason);
    propose_entry(d, s, out, true);
    return true;
}

/* step_blocked: tell people once, try again after the backoff, or give the action up. */
static void step_blocked(md_driver *d, dsvc *s, const md_driver_input *in, md_driver_output *out)
{
    dwork *w = s->w;
    assert(w); /* blocked: an action of ours is in flight */
    const md_ledger_step *p = in->ledger->open ? md_ledger_pending(in->ledger->open) : NULL;
    if (!p || p->action_id != w->current.action_id) { /* no longer pending: nothing of ours to run */
        md_driver_action_done(d, in->svc);
        return;
    }
    const char *why = !in->leads                     ? "this node stopped leading"
                      : in->ledger->more->paused     ? "the service was paused"
                      : in->verdict == MD_VERDICT_UP ? "the service recovered (verdict UP)"
                                                     : NULL;
    if (why) {
        char reason[MD_DRIVER_REASON_MAX + 48];
        snprintf(reason, sizeof reason, "%s while it was blocked (%.150s)", why, w->blocked_reason);
        give_up(s, w->current.action_id, reason);
        md_driver_action_done(d, in->svc);
        propose_give_up(d, s, in, out);
        return;
    }
    if (s->blocked_tell) {
        fill_common(d, in, &out->entry, MD_LEDGER_BLOCKED);
        out->entry.u.blocked.action = w->current.action_id;
        out->entry.u.blocked.reason = md_ledger_text_of(w->blocked_reason);
        snprintf(out->what, sizeof out->what, "blocked: %.230s", w->blocked_reason);
        s->blocked_tell = false;
        propose_entry(d, s, out, false);
        return;
    }
    /* A retry is a new act: it needs the lease now and a verdict still DOWN (SPLIT or UNKNOWN
     * hold it without giving up). */
    if (in->mono_ms >= w->retry_at_ms && in->lease_valid && in->verdict == MD_VERDICT_DOWN) {
        s->blocked = false; /* in flight again; it ends with action_done or action_blocked */
        out->retry = true;
        out->retry_action = &w->current;
        out->retry_action->how = MD_DRIVER_RUN;
    }
}

void md_driver_step(md_driver *d, const md_driver_input *in, md_driver_output *out)
{
    assert(d && in && out && in->svc < d->n && in->ledger);
    memset(out, 0, sizeof *out);
    dsvc *s = &d->svc[in->svc];
    assert(!s->proposing); /* the shell reports every proposal before the next step */
#ifdef REMEDY_BUG_GIVE_UP_RUNNING
    if (!in->leads && s->in_flight && !s->blocked && !wk(s)->give_up_action) { /* BUG: it may have reached its target */
        give_up(s, s->w->current.action_id, "this node stopped leading");
        s->in_flight = false;
    }
#endif
    if (wk(s)->give_up_action && propose_give_up(d, s, in, out))
        return;
    if (s->blocked)
        step_blocked(d, s, in, out);
    else if (in->leads)
        decide(d, s, in, out);
    if (in->leads)
        watch_alerts(d, s, in, out);
    assert(out->propose == s->proposing);
}

/* ---- proposals and committed entries ---- */

static md_driver_action action_of(const md_ledger_event *ev)
{
    md_driver_action a = { .svc = ev->service, .action_id = ev->action_id, .incident = ev->incident_id,
                           .step = ev->step, .attempt = ev->attempt, .shadow = ev->shadow };
    for (size_t k = 0; ev->incident && k < ev->incident->n_steps; k++)
        if (ev->incident->steps[k].action_id == ev->action_id) {
            a.timeout_ms = ev->incident->steps[k].timeout_ms;
            snprintf(a.target, sizeof a.target, "%s", ev->incident->steps[k].target);
        }
    return a;
}

bool md_driver_proposed(md_driver *d, size_t svc, int rc, uint64_t index, bool leads, bool lease_valid,
                        int64_t mono_ms, md_driver_action *act)
{
    assert(svc < d->n);
    dsvc *s = &d->svc[svc];
    assert(s->proposing);
    s->proposing = false;
    uint64_t early = d->early_index;
    d->early_index = 0;
    assert(s->w); /* a proposal needs its working state (decide, propose_give_up, step_blocked) */
    if (d->proposing_give_up && rc == 0)
        s->w->give_up_action = 0; /* handed over (a failed one is proposed again next step) */
    d->proposing_give_up = false;
    if (rc < 0) {
        if (d->proposing_type == MD_LEDGER_BLOCKED)
            s->blocked_tell = true;
        return false;
    }
#ifdef REMEDY_BUG_EXEC_UNCOMMITTED
    if (d->proposing_type == MD_LEDGER_INTENT && index) { /* BUG: runs what is only proposed */
        *act = d->proposing_action;
        act->action_id = index;
        act->how = run_or_refuse(s, act, lease_valid);
        return true;
    }
#endif
    if (index == 0 || early != index) {
        /* the usual case: it commits later, through md_driver_applied */
        if (d->proposing_type == MD_LEDGER_INTENT)
            s->w->intent_index = index;
        s->w->proposed_index = index ? index : 1;
        s->w->proposed_at_ms = mono_ms;
        return false;
    }
    /* It committed and was applied inside the propose call (a cluster of one): the intent is
     * ours, by index, and runs now if this node still leads. */
    if (!d->early_intent)
        return false;
    if (!leads) {
        give_up(s, index, "this node no longer led when the intent committed, so it was never started");
        return false;
    }
    *act = d->early;
    act->how = run_or_refuse(s, act, lease_valid);
    return true;
}

void md_driver_applied(md_driver *d, const md_ledger_event *ev, bool leads, bool lease_valid,
                       md_driver_applied_out *out)
{
    assert(d && ev && out);
    memset(out, 0, sizeof *out);
    if (ev->service >= d->n)
        return;
    dsvc *s = &d->svc[ev->service];
    if (wk(s)->proposed_index && ev->index >= s->w->proposed_index)
        s->w->proposed_index = 0;
    bool mine = strcmp(ev->actor, d->node_id) == 0;
    if (s->proposing && mine && ev->type == d->proposing_type) {
        /* applied before its proposer learnt its index: md_driver_proposed matches the index */
        d->early_index = ev->index;
        d->early_intent = ev->kind == MD_LEDGER_EV_INTENT;
        if (d->early_intent)
            d->early = action_of(ev);
    }
    if (ev->kind == MD_LEDGER_EV_REJECTED || ev->kind == MD_LEDGER_EV_IGNORED)
        return;
    out->alert = leads;
    /* An intent is run by the process that proposed it, once committed, if it still leads; one
     * replayed from the log (an earlier life of this node) is left to the timeout rule. */
    bool proposed_here = ev->kind == MD_LEDGER_EV_INTENT && mine && ev->index == wk(s)->intent_index && ev->index != 0;
    if (proposed_here && !leads) {
        s->w->intent_index = 0;
        give_up(s, ev->index, "this node no longer led when the intent committed, so it was never started");
        return;
    }
    bool ours = proposed_here && leads;
#ifdef REMEDY_BUG_EXEC_REPLAYED
    ours = ev->kind == MD_LEDGER_EV_INTENT && leads && mine; /* BUG: also intents of an earlier life */
#endif
#ifdef REMEDY_BUG_EXEC_UNCOMMITTED
    ours = false; /* BUG: md_driver_proposed already ran it */
#endif
    if (!ours || !work(s)) /* ours has its working state, but for a planted bug's */
        return;
    s->w->intent_index = 0;
    out->act = true;
    out->action = action_of(ev);
    out->action.how = run_or_refuse(s, &out->action, lease_valid);
}
