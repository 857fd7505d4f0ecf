/* heal_exec.c: runs one committed intent of ours (exec command or Railway call through the
 * service's own Railway client, or nothing in shadow mode) and submits its result. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "heal_int.h"

/* ---- results ---- */

static void submit_result(md_heal *r, md_rsvc *s, md_outcome outcome, const char *detail, int64_t duration_ms,
                          const char *new_deployment)
{
    md_ledger_entry e;
    md__heal_fill_common(r, &e, MD_LEDGER_RESULT, s->idx);
    e.u.result.action = s->action_id;
    e.u.result.outcome = outcome;
    e.u.result.detail = md_ledger_text_of(detail);
    e.u.result.duration_ms = duration_ms < 0 ? 0 : duration_ms;
    snprintf(e.u.result.new_deployment, sizeof e.u.result.new_deployment, "%s", new_deployment ? new_deployment : "");
    md_driver_action_done(r->driver, s->idx);
    s->exec = NULL;
    s->rw_op = 0;
    /* The leader proposes it; a node that stopped leading forwards it, so the result is not lost. */
    int rc = md__heal_submit(r, &e, NULL);
    md_log(rc == 0 ? MD_LOG_INFO : MD_LOG_WARN, "action_done", MD_S("service", e.service),
           MD_S("step", md_step_name(s->step)), MD_I("attempt", s->attempt), MD_S("outcome", md_outcome_name(outcome)),
           MD_I("duration_ms", duration_ms), MD_S("detail", detail),
           MD_S("submit", rc == 0 ? "ok" : strerror(-rc)));
    md__heal_changed(r);
}

/* blocked: the action never reached its target. It is no attempt and no result: the driver keeps
 * it and asks for a retry, or gives it up, in a later step. */
static void blocked(md_heal *r, md_rsvc *s, const char *reason, uint32_t retry_after_ms, const char *detail)
{
    s->exec = NULL;
    s->rw_op = 0;
    bool first = md_driver_blocked_reason(r->driver, s->idx) == NULL;
    md_driver_action_blocked(r->driver, s->idx, reason, retry_after_ms, md_mono_us() / 1000);
    md_log(first ? MD_LOG_WARN : MD_LOG_INFO, "action_blocked", MD_S("service", r->cfg->services[s->idx].name),
           MD_S("step", md_step_name(s->step)), MD_I("attempt", s->attempt), MD_I("action", s->action_id),
           MD_S("reason", reason), MD_I("retry_after_ms", retry_after_ms), MD_S("detail", detail));
    md__heal_changed(r);
}

static void on_exec_done(const md_exec_result *res, void *ctx)
{
    md_rsvc *s = ctx;
    char detail[MD_LEDGER_TEXT_MAX];
    if (res->spawn_error) {
        char reason[160];
        snprintf(reason, sizeof reason, "the command could not be started (%s)", uv_strerror(res->spawn_error));
        blocked(s->r, s, reason, 0, res->summary);
        return;
    }
    md_exec_format_detail(res, detail, sizeof detail);
    md_outcome o = res->outcome == MD_EXEC_OK ? MD_OUTCOME_OK
                   : res->outcome == MD_EXEC_TIMEOUT ? MD_OUTCOME_TIMEOUT
                                                     : MD_OUTCOME_FAILED;
    submit_result(s->r, s, o, detail, res->duration_ms, NULL);
}

/* rw_blocked_reason: a stable sentence per cause (one BLOCKED entry, one alert, per cause). */
static const char *rw_blocked_reason(rw_class cls)
{
    switch (cls) {
    case RW_ERR_AUTH: return "the Railway API refused the token (auth)";
    case RW_ERR_RATE_LIMIT: return "the Railway API is rate limiting this token (429)";
    case RW_ERR_SERVER: return "the Railway API answers with server errors (5xx)";
    case RW_ERR_NETWORK: return "the Railway API is unreachable";
    case RW_ERR_TIMEOUT: return "the Railway API does not answer in time";
    case RW_ERR_NOT_JSON: return "the Railway API answers with a page that is not JSON (blocked on its way?)";
    default: return "the Railway request could not be made";
    }
}

static void on_rw_done(const rw_result *res, void *arg)
{
    md_rsvc *s = arg;
    char detail[MD_LEDGER_TEXT_MAX];
    snprintf(detail, sizeof detail, "railway %s: %s (%s, %u request%s)", rw_op_name(res->op), res->summary,
             rw_class_name(res->cls), res->attempts, res->attempts == 1 ? "" : "s");
    md__heal_rw_seen(s->r, s->rw, res);
    if (res->cls != RW_OK && !res->reached) {
        blocked(s->r, s, rw_blocked_reason(res->cls), (uint32_t)(res->retry_after_ms > UINT32_MAX ? UINT32_MAX : res->retry_after_ms), detail);
        return;
    }
    md_outcome o = res->cls == RW_OK ? MD_OUTCOME_OK : res->cls == RW_ERR_TIMEOUT ? MD_OUTCOME_TIMEOUT : MD_OUTCOME_FAILED;
    submit_result(s->r, s, o, detail, (int64_t)res->elapsed_ms, res->new_deployment_id);
}

/* ---- execution ---- */

static char *const *argv_for(const md_service_config *c, md_step step)
{
    switch (step) {
    case MD_STEP_RESTART: return c->remedy->exec_restart;
    case MD_STEP_REDEPLOY: return c->remedy->exec_redeploy;
    case MD_STEP_ROLLBACK: return c->remedy->exec_rollback;
    default: return NULL;
    }
}

static int start_railway(md_heal *r, md_rsvc *s, const md_driver_action *a)
{
    const md_service_config *c = &r->cfg->services[s->idx];
    /* Deployments this incident created are never rollback targets. */
    const md_ledger_incident *inc = md_ledger_service_at(r->ledger, s->idx)->open;
    const char *avoid[MD_LEDGER_MAX_STEPS];
    size_t n_avoid = 0;
    for (size_t k = 0; inc && inc->id == a->incident && k < inc->n_steps; k++)
        if (inc->steps[k].new_deployment[0])
            avoid[n_avoid++] = inc->steps[k].new_deployment;
    /* A redeploy rebuilds the running deployment, else the last known-good one: never a newer
     * build that failed. */
    const md_ledger_service *ls = md_ledger_service_at(r->ledger, s->idx);
    rw_request req = {
        .service_id = c->remedy->railway_service_id,
        .environment_id = c->remedy->railway_environment_id,
        .known_good = ls->more->known_good[0] ? ls->more->known_good : NULL,
        .rollback_target = a->target[0] ? a->target : NULL,
        .avoid = avoid,
        .n_avoid = n_avoid,
        .deadline_ms = (uint32_t)(a->timeout_ms > 0 ? a->timeout_ms : 60000),
        .wait = a->step != MD_STEP_RESTART,
    };
    rw_op_kind op = a->step == MD_STEP_RESTART ? RW_OP_RESTART : a->step == MD_STEP_REDEPLOY ? RW_OP_REDEPLOY : RW_OP_ROLLBACK;
    if (!s->rw)
        return -ENOTSUP;
    return rw_start(s->rw, op, &req, on_rw_done, s, &s->rw_op);
}

/* The driver decided (md_driver_action.how): busy, shadow, no lease, or run; a retry of a blocked
 * action comes here again with how RUN. */
void md__heal_execute(md_heal *r, md_rsvc *s, const md_driver_action *a)
{
    const md_service_config *c = &r->cfg->services[s->idx];
    if (a->how == MD_DRIVER_REFUSED_BUSY) {
        md_log(MD_LOG_ERROR, "intent_not_executed", MD_S("service", c->name),
               MD_S("reason", "another action of this service is still running here"));
        return;
    }
    s->action_id = a->action_id;
    s->step = a->step;
    s->attempt = a->attempt;
    s->incident = a->incident;
    if (a->how == MD_DRIVER_RUN_SHADOW) {
        char detail[256];
        snprintf(detail, sizeof detail, "shadow mode: would %s (attempt %u); nothing was done", md_step_name(a->step),
                 a->attempt);
        submit_result(r, s, MD_OUTCOME_SKIPPED, detail, 0, NULL);
        return;
    }
    /* The lease was checked right before acting, never from an earlier check: a paused or
     * partitioned leader wakes with its lease long gone. */
    if (a->how == MD_DRIVER_REFUSED_LEASE) {
        md_log(MD_LOG_WARN, "intent_not_executed", MD_S("service", c->name), MD_I("action", a->action_id),
               MD_S("reason", "leader lease not valid: recorded as not attempted"));
        return;
    }
    assert(a->how == MD_DRIVER_RUN && md_driver_in_flight(r->driver, s->idx));
    int rc = -ENOTSUP;
    if (c->remedy->actuator == MD_ACTUATOR_EXEC && argv_for(c, a->step)) {
        md_exec_request req = {
            .argv = argv_for(c, a->step),
            .service = c->name,
            .incident_id = a->incident,
            .step = md_step_name(a->step),
            .attempt = (int)a->attempt,
            .action_id = a->action_id,
            .timeout_ms = a->timeout_ms > 0 ? a->timeout_ms : c->remedy->exec_timeout_ms,
            .withhold = r->cfg->env_names,
            .n_withhold = r->cfg->n_env_names,
        };
        rc = md_exec_start(r->loop, &req, on_exec_done, s, &s->exec);
    } else if (c->remedy->actuator == MD_ACTUATOR_RAILWAY) {
        rc = start_railway(r, s, a);
    }
    if (rc < 0) {
        char reason[160];
        snprintf(reason, sizeof reason, "the %s could not be started (%s)", md_step_name(a->step),
                 rc == -ENOTSUP ? "no actuator for this step" : strerror(-rc));
        blocked(r, s, reason, 0, reason);
        return;
    }
    r->actions_started++;
    md_log(MD_LOG_INFO, "action_started", MD_S("service", c->name), MD_S("step", md_step_name(a->step)),
           MD_I("attempt", a->attempt), MD_I("incident", a->incident), MD_I("action", a->action_id),
           MD_S("actuator", c->remedy->actuator == MD_ACTUATOR_EXEC ? "exec" : "railway"));
}

/* ---- last-known-good ---- */

/* A failed lookup is looked up again this soon (the client already retried it with backoff
 * within its 30 s deadline), not after a whole known_good_after_ms. */
#define KG_RETRY_MS 15000

/* The lookup's answer. The deployment serving traffic (rw_serving_deployment: with several active
 * ones, the SUCCESS one that went live last) becomes last-known-good once that deployment has been
 * live and the cluster verdict UP, together, for known_good_after_ms: counted from the later of
 * its live-since (statusUpdatedAt as SUCCESS) and the verdict's last turn to UP, plus the
 * verdict's lag (verdict_lag_ms: a broken deployment keeps an UP verdict until enough checks
 * failed; without it a deployment broken from its first second was recorded as known good
 * whenever known_good_after_ms was shorter than the detection time). So a deployment
 * that went live a minute ago in a service UP for an hour is not known good yet; it is looked at
 * again when it will be. A deployment whose live-since Railway did not give is never recorded.
 * Railway's clock stamps live-since and ours the verdict: a skew of seconds is small next to the
 * wait. s->kg_checked_ms holds when the next lookup may start (wall ms): after a settled answer,
 * known_good_after_ms later (a deployment that went live since needs that long of its own anyway;
 * the lookups are background requests, so the client's budget paces them too); after a failure,
 * a short backoff. */
/* verdict_lag_ms: how long the cluster verdict may still say UP after the service broke: the
 * failed checks it takes (each up to its timeout) and a gossip round to spread them. An UP verdict
 * now vouches only for the deployment as it was that long ago. */
static int64_t verdict_lag_ms(const md_heal *r, const md_service_config *c)
{
    int64_t lag = (int64_t)c->failures_before_down * c->interval_ms + c->timeout_ms;
    if (r->cfg->cluster.enabled)
        lag += r->cfg->cluster.gossip_interval_ms;
    return lag;
}

static void on_instance(const rw_result *res, void *arg)
{
    md_rsvc *s = arg;
    md_heal *r = s->r;
    const md_service_config *c = &r->cfg->services[s->idx];
    int64_t now = md_wall_ms(), kg_after = c->remedy->known_good_after_ms;
    s->kg_op = 0;
    if (res->cls != RW_OK) {
        /* Rate limited: when the budget or Railway allows; else a short backoff. */
        int64_t retry = KG_RETRY_MS < kg_after ? KG_RETRY_MS : kg_after;
        if (res->cls == RW_ERR_RATE_LIMIT && (int64_t)res->retry_after_ms > retry)
            retry = res->retry_after_ms;
        s->kg_checked_ms = now + retry;
        md_log(MD_LOG_WARN, "known_good_lookup_failed", MD_S("service", c->name), MD_S("class", rw_class_name(res->cls)),
               MD_S("detail", res->summary), MD_I("retry_in_ms", retry));
        return;
    }
    s->kg_checked_ms = now + kg_after; /* unless sooner, below */
    const rw_deployment *d = rw_serving_deployment(res->deployments, res->n_deployments);
    int64_t up_since = 0;
    if (!d || d->live_since_ms <= 0 || md_cluster_verdict(r->cluster, s->idx, &up_since) != MD_VERDICT_UP) {
        md_log(MD_LOG_INFO, "known_good_undecided", MD_S("service", c->name),
               MD_S("reason", !d ? "no deployment is serving" : d->live_since_ms <= 0 ? "Railway gave no live-since"
                                                                                       : "the verdict is not UP"));
        return;
    }
    int64_t from = (d->live_since_ms > up_since ? d->live_since_ms : up_since) + verdict_lag_ms(r, c);
    if (now - from < kg_after) {
        s->kg_checked_ms = from + kg_after;
        return;
    }
    const md_ledger_service *ls = md_ledger_service_at(r->ledger, s->idx);
    if (strcmp(d->id, ls->more->known_good) == 0 || !md_consensus_is_leader(r->cons))
        return;
    md_ledger_entry e;
    md__heal_fill_common(r, &e, MD_LEDGER_KNOWN_GOOD, s->idx);
    snprintf(e.u.known_good.deployment, sizeof e.u.known_good.deployment, "%s", d->id);
    md__heal_submit(r, &e, NULL);
}

/* On the leader, each tick: look up the serving deployment of a Railway service that has been UP
 * for at least known_good_after_ms (no deployment can qualify sooner), outside incidents and
 * actions, when the last answer said to look again (see on_instance). */
void md__heal_track_known_good(md_heal *r, md_rsvc *s, int64_t now_wall)
{
    const md_service_config *c = &r->cfg->services[s->idx];
    const md_service_remedy *rm = c->remedy;
    if (rm->actuator != MD_ACTUATOR_RAILWAY || !s->rw || s->kg_op || md_driver_in_flight(r->driver, s->idx))
        return;
    int64_t since = 0;
    if (md_cluster_verdict(r->cluster, s->idx, &since) != MD_VERDICT_UP || now_wall - since < rm->known_good_after_ms)
        return;
    const md_ledger_service *ls = md_ledger_service_at(r->ledger, s->idx);
    if (ls->open || now_wall < s->kg_checked_ms)
        return;
    /* background: it may use only half the request budget; remediation keeps the rest. */
    rw_request req = { .service_id = rm->railway_service_id, .environment_id = rm->railway_environment_id,
                       .deadline_ms = 30000, .background = true };
    if (rw_start(s->rw, RW_OP_INSTANCE, &req, on_instance, s, &s->kg_op) < 0) {
        s->kg_op = 0;
        s->kg_checked_ms = now_wall + KG_RETRY_MS;
        md_log(MD_LOG_WARN, "known_good_lookup_failed", MD_S("service", c->name), MD_S("detail", "could not start"),
               MD_I("retry_in_ms", KG_RETRY_MS));
    }
}

void md__heal_cancel_all(md_heal *r)
{
    for (size_t i = 0; i < r->n; i++) {
        md_rsvc *s = r->svc[i];
        if (!s)
            continue; /* no actuator: nothing runs */
        if (s->exec)
            md_exec_cancel(s->exec);
        if (s->rw_op && s->rw)
            rw_cancel(s->rw, s->rw_op);
        if (s->kg_op && s->rw)
            rw_cancel(s->rw, s->kg_op);
        s->kg_op = 0;
        s->exec = NULL;
        s->rw_op = 0;
        md_driver_action_done(r->driver, s->idx);
    }
}
