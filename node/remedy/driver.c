/* driver.c: the remediation driver's decisions (see remedy.h for the contract):
 * when to ask the escalation core, what to propose, which intent of ours to run, which alerts are
 * due. Pure: the shell does every side effect and reports back. */
#include "remedy.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per service: what this process is doing about it (never replicated, lost on restart). */
typedef struct {
    md_driver_service cfg;
    bool in_flight;                 /* an action this node runs (or records skipped) */
    /* the intent this process proposed last: only it may be run here, so an intent replayed
     * from the log after a restart is never run a second time */
    uint64_t intent_index;
    /* a proposal handed to the shell, md_driver_proposed not called yet */
    bool proposing;
    md_ledger_entry_type proposing_type;
    md_driver_action proposing_action; /* INTENT: what it asks for (no action id yet) */
    /* an entry of ours applied during the propose call (index not known to us yet) */
    uint64_t early_index;
    bool early_intent;
    md_driver_action early;
    /* a proposal of ours not applied yet: do not propose again for this service meanwhile */
    uint64_t proposed_index;
    int64_t proposed_at_ms;         /* monotonic */
    int64_t wake_at_ms;             /* wall: escalation asked to be asked again then */
    uint64_t rate_alerted_incident;
    int64_t split_alerted_since;
    int64_t degraded_alerted_since;
} dsvc;

struct md_driver {
    char node_id[MD_LEDGER_NAME_MAX + 1];
    int64_t split_alert_after_ms;
    int64_t patience_ms;
    size_t n;
    dsvc *svc;
};

int md_driver_new(const md_driver_config *cfg, md_driver **out)
{
    if (!cfg || !cfg->node_id || !cfg->node_id[0] || strlen(cfg->node_id) > MD_LEDGER_NAME_MAX || cfg->n == 0 ||
        !cfg->svc)
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
    for (size_t i = 0; i < cfg->n; i++)
        svc[i].cfg = cfg->svc[i];
    *out = d;
    return 0;
}

void md_driver_free(md_driver *d)
{
    if (!d)
        return;
    free(d->svc);
    free(d);
}

bool md_driver_in_flight(const md_driver *d, size_t svc)
{
    assert(svc < d->n);
    return d->svc[svc].in_flight;
}

void md_driver_action_done(md_driver *d, size_t svc)
{
    assert(svc < d->n);
    d->svc[svc].in_flight = false;
}

/* The last check before acting, in the order the shell always checked: busy, shadow, lease. The lease
 * is the caller's reading at this very moment, never an earlier one: a paused or partitioned
 * leader wakes with its lease long gone. */
static md_driver_disposition run_or_refuse(dsvc *s, bool shadow, bool lease_valid)
{
    (void)lease_valid;
    if (s->in_flight)
        return MD_DRIVER_REFUSED_BUSY;
    if (shadow) {
        s->in_flight = true;
        return MD_DRIVER_RUN_SHADOW;
    }
#ifndef REMEDY_BUG_NO_LEASE
    if (!lease_valid)
        return MD_DRIVER_REFUSED_LEASE;
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

/* The entry for decision dec; false when it asks for none. */
static bool entry_of(const md_driver *d, const dsvc *s, const md_driver_input *in, const md_escalation_decision *dec,
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
        e->u.intent.shadow = s->cfg.shadow;
        snprintf(e->u.intent.target, sizeof e->u.intent.target, "%s", dec->target);
        return true;
    case MD_ESC_RESULT_UNKNOWN:
        fill_common(d, in, e, MD_LEDGER_RESULT);
        e->u.result.action = dec->action_id;
        e->u.result.outcome = MD_OUTCOME_UNKNOWN;
        e->u.result.detail = md_ledger_text_of("no result before its timeout (the node that started it stopped "
                                               "leading or failed): treated as attempted");
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

static void decide(md_driver *d, dsvc *s, const md_driver_input *in, md_driver_output *out)
{
    const md_ledger_service *ls = in->ledger;
    if (s->proposed_index && in->mono_ms - s->proposed_at_ms < d->patience_ms)
        return;
    s->proposed_index = 0;
    md_escalation_input ein = {
        .knobs = &s->cfg.knobs,
        .svc = ls,
        .verdict = in->verdict,
        .verdict_since_ms = in->verdict_since_ms,
        .now_ms = in->now_ms,
        .action_in_flight = s->in_flight,
        .caps = s->cfg.caps,
    };
    md_escalation_decision dec = md_escalation_decide(&ein);
    out->decision = dec.kind;
    md_escalation_describe(&dec, out->what, sizeof out->what);
    if (dec.kind == MD_ESC_NONE) {
        s->wake_at_ms = out->wake_at_ms = dec.wake_at_ms;
        uint64_t inc = ls->open ? ls->open->id : 0;
        if (dec.rate_limited && s->rate_alerted_incident != inc) {
            s->rate_alerted_incident = inc;
            add_alert(out, (md_driver_alert){ .kind = MD_DRIVER_ALERT_RATE_LIMITED, .incident = inc,
                                              .at_ms = in->now_ms,
                                              .retry_in_ms = dec.wake_at_ms > 0 ? dec.wake_at_ms - in->now_ms : 0 });
        }
        return;
    }
    if (!entry_of(d, s, in, &dec, &out->entry))
        return;
    out->propose = true;
    s->proposing = true;
    s->proposing_type = out->entry.type;
    s->early_index = 0;
    memset(&s->proposing_action, 0, sizeof s->proposing_action);
    if (dec.kind == MD_ESC_INTENT) {
        md_driver_action *a = &s->proposing_action;
        a->svc = in->svc;
        a->incident = dec.incident_id;
        a->step = dec.step;
        a->attempt = dec.attempt;
        a->timeout_ms = dec.timeout_ms;
        a->shadow = s->cfg.shadow;
        snprintf(a->target, sizeof a->target, "%s", dec.target);
    }
}

/* SPLIT for too long, and the predictive DEGRADED warning: alerts without a ledger entry, keyed
 * by the state's start so each episode is told once. */
static void watch_alerts(md_driver *d, dsvc *s, const md_driver_input *in, md_driver_output *out)
{
    if (in->verdict == MD_VERDICT_SPLIT && in->now_ms - in->verdict_since_ms >= d->split_alert_after_ms &&
        s->split_alerted_since != in->verdict_since_ms) {
        s->split_alerted_since = in->verdict_since_ms;
        add_alert(out, (md_driver_alert){ .kind = MD_DRIVER_ALERT_SPLIT, .since_ms = in->verdict_since_ms,
                                          .at_ms = in->now_ms, .split_for_ms = in->now_ms - in->verdict_since_ms });
    }
    if (in->own_state == MD_STATE_DEGRADED && s->degraded_alerted_since != in->own_since_ms) {
        s->degraded_alerted_since = in->own_since_ms;
        add_alert(out, (md_driver_alert){ .kind = MD_DRIVER_ALERT_DEGRADED, .since_ms = in->own_since_ms,
                                          .at_ms = in->now_ms });
    }
}

void md_driver_step(md_driver *d, const md_driver_input *in, md_driver_output *out)
{
    assert(d && in && out && in->svc < d->n && in->ledger);
    memset(out, 0, sizeof *out);
    if (!in->leads)
        return;
    dsvc *s = &d->svc[in->svc];
    assert(!s->proposing); /* the shell reports every proposal before the next step */
    decide(d, s, in, out);
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
    uint64_t early = s->early_index;
    s->early_index = 0;
    if (rc < 0)
        return false;
#ifdef REMEDY_BUG_EXEC_UNCOMMITTED
    if (s->proposing_type == MD_LEDGER_INTENT && index) { /* BUG: runs what is only proposed */
        *act = s->proposing_action;
        act->action_id = index;
        act->how = run_or_refuse(s, act->shadow, lease_valid);
        return true;
    }
#endif
    if (index == 0 || early != index) {
        /* the usual case: it commits later, through md_driver_applied */
        if (s->proposing_type == MD_LEDGER_INTENT)
            s->intent_index = index;
        s->proposed_index = index ? index : 1;
        s->proposed_at_ms = mono_ms;
        return false;
    }
    /* It committed and was applied inside the propose call (a cluster of one): the intent is
     * ours, by index, and runs now if this node still leads. */
    if (!s->early_intent || !leads)
        return false;
    *act = s->early;
    act->how = run_or_refuse(s, act->shadow, lease_valid);
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
    if (s->proposed_index && ev->index >= s->proposed_index)
        s->proposed_index = 0;
    bool mine = strcmp(ev->actor, d->node_id) == 0;
    if (s->proposing && mine && ev->type == s->proposing_type) {
        /* applied before its proposer learnt its index: md_driver_proposed matches the index */
        s->early_index = ev->index;
        s->early_intent = ev->kind == MD_LEDGER_EV_INTENT;
        if (s->early_intent)
            s->early = action_of(ev);
    }
    if (ev->kind == MD_LEDGER_EV_REJECTED || ev->kind == MD_LEDGER_EV_IGNORED)
        return;
    out->alert = leads;
    /* An intent is run by the process that proposed it, once committed, if it still leads; one
     * replayed from the log (an earlier life of this node) is left to the timeout rule. */
    bool ours = ev->kind == MD_LEDGER_EV_INTENT && leads && mine && ev->index == s->intent_index && ev->index != 0;
#ifdef REMEDY_BUG_EXEC_REPLAYED
    ours = ev->kind == MD_LEDGER_EV_INTENT && leads && mine; /* BUG: also intents of an earlier life */
#endif
#ifdef REMEDY_BUG_EXEC_UNCOMMITTED
    ours = false; /* BUG: md_driver_proposed already ran it */
#endif
    if (!ours)
        return;
    s->intent_index = 0;
    out->act = true;
    out->action = action_of(ev);
    out->action.how = run_or_refuse(s, out->action.shadow, lease_valid);
}
