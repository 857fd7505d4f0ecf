/* ops.c: what each operation asks Railway, in order, and what it makes of the answers.
 *   restart:  serviceInstance -> deploymentRestart(running deployment) [-> poll deployment(id)]
 *   redeploy: serviceInstance -> deploymentRedeploy(running, else the caller's known-good)
 *             [-> poll the new one]
 *   rollback: serviceInstance -> deployments(first N) -> pick -> deploymentRollback(pick)
 *             [-> poll serviceInstance until a new latest deployment settles]
 *   check_token: projectToken, or apiToken -> me (token_check.c)
 *   call: one provisioning document (call.c)
 *   deployment, instance, list: one query each.
 * Polls wait poll_interval_ms, then 1.5 times longer each time up to poll_max_ms.
 * Each step ends with exactly one rw__send, rw__after or rw__finish (see rw_op.h). */
#include "rw_op.h"

#include <stdio.h>
#include <string.h>

#define MIN_POLL_LEFT_MS 100u

static void restart_send(rw_op *op);
static void redeploy_send(rw_op *op);
static void rollback_send(rw_op *op);
static void rollback_list_done(rw_op *op, const rw__answer *a);

static cJSON *vars_id(const char *id)
{
    cJSON *v = cJSON_CreateObject();
    if (v && !cJSON_AddStringToObject(v, "id", id)) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

static cJSON *vars_instance(const rw_op *op)
{
    cJSON *v = cJSON_CreateObject();
    if (v && (!cJSON_AddStringToObject(v, "serviceId", op->service_id) ||
              !cJSON_AddStringToObject(v, "environmentId", op->environment_id))) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

static cJSON *vars_list(const rw_op *op)
{
    cJSON *v = cJSON_CreateObject();
    cJSON *in = vars_instance(op);
    if (!v || !in) {
        cJSON_Delete(v);
        cJSON_Delete(in);
        return NULL;
    }
    cJSON_AddItemToObject(v, "input", in);
    if (!cJSON_AddNumberToObject(v, "first", op->first)) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

static void copy_id(char dst[RW_ID_MAX], const char *src)
{
    snprintf(dst, RW_ID_MAX, "%s", src);
}

/* Reads a serviceInstance answer into op; finishes op (returns -1) when it is malformed. */
static int take_instance(rw_op *op, const rw__answer *a)
{
    char err[160];
    if (rw__parse_instance(a->data, &op->latest, &op->has_latest, op->deps, RW_LIST_MAX, &op->n_deps, err,
                           sizeof err)) {
        rw__finish(op, RW_ERR_BAD_ANSWER, "serviceInstance: %s", err);
        return -1;
    }
    return 0;
}

static bool running_status(rw_status s)
{
    return s == RW_ST_SUCCESS || s == RW_ST_CRASHED || s == RW_ST_SLEEPING;
}

/* A watched deployment that will not become SUCCESS. Right after a restart the old status may
 * still read CRASHED, so only a new deployment (redeploy, rollback) fails on CRASHED. */
static bool failed_status(rw_status s, bool new_deployment)
{
    return s == RW_ST_FAILED || s == RW_ST_REMOVED || s == RW_ST_SKIPPED || (new_deployment && s == RW_ST_CRASHED);
}

static const char *watched(const rw_op *op)
{
    return op->res.new_deployment_id[0] ? op->res.new_deployment_id : op->res.deployment_id;
}

/* "redeploy of X as Y", for summaries. */
static void describe(const rw_op *op, char *buf, size_t len)
{
    const rw_result *r = &op->res;
    if (op->kind == RW_OP_REDEPLOY)
        snprintf(buf, len, "redeploy of %s as %s", r->deployment_id, r->new_deployment_id);
    else if (op->kind == RW_OP_ROLLBACK && r->new_deployment_id[0])
        snprintf(buf, len, "rollback to %s (new deployment %s)", r->deployment_id, r->new_deployment_id);
    else if (op->kind == RW_OP_ROLLBACK)
        snprintf(buf, len, "rollback to %s", r->deployment_id);
    else
        snprintf(buf, len, "restart of %s", r->deployment_id);
}

/* Waiting: the next poll after the growing interval (the last one just before the deadline), or
 * TIMEOUT when not even that fits. */
static void poll_later(rw_op *op, rw__op_fn poll)
{
    const rw_config *cfg = &op->c->cfg;
    uint64_t iv = rw__poll_interval_ms(op->polls, cfg->poll_interval_ms, cfg->poll_max_ms);
    uint64_t left = rw__time_left(op);
    if (iv + MIN_POLL_LEFT_MS > left && left >= 3 * MIN_POLL_LEFT_MS)
        iv = left - 2 * MIN_POLL_LEFT_MS; /* one last look rather than giving up early */
    if (iv + MIN_POLL_LEFT_MS > left) {
        char what[RW_SUMMARY_MAX / 2];
        describe(op, what, sizeof what);
        rw__finish(op, RW_ERR_TIMEOUT, "%s accepted, but %s was still %s when the deadline passed", what,
                   watched(op)[0] ? watched(op) : "the new deployment", rw_status_name(op->last_status));
        return;
    }
    op->polls++;
    rw__after(op, iv, poll);
}

/* The watched deployment reached status s: finish when it settled, else poll again. */
static void settle(rw_op *op, rw_status s, rw__op_fn poll)
{
    char what[RW_SUMMARY_MAX / 2];
    op->last_status = s;
    op->res.status = s;
    describe(op, what, sizeof what);
    if (s == RW_ST_SUCCESS)
        rw__finish(op, RW_OK, "%s: deployment %s is SUCCESS", what, watched(op));
    else if (failed_status(s, op->kind != RW_OP_RESTART))
        rw__finish(op, RW_ERR_DEPLOY_FAILED, "%s: deployment %s ended %s", what, watched(op), rw_status_name(s));
    else
        poll_later(op, poll);
}

static void poll_deployment(rw_op *op);

static void poll_deployment_done(rw_op *op, const rw__answer *a)
{
    rw_deployment d;
    char err[160];
    if (rw__parse_deployment(cJSON_GetObjectItemCaseSensitive(a->data, "deployment"), &d, err, sizeof err)) {
        rw__finish(op, RW_ERR_BAD_ANSWER, "deployment: %s", err);
        return;
    }
    settle(op, d.status, poll_deployment);
}

static void poll_deployment(rw_op *op)
{
    rw__send(op, RW_DOC_DEPLOYMENT, vars_id(watched(op)), poll_deployment_done);
}

static void poll_instance(rw_op *op);

/* After a rollback: the deployment it created shows up as a new latestDeployment. */
static void poll_instance_done(rw_op *op, const rw__answer *a)
{
    if (take_instance(op, a))
        return;
    if (op->has_latest && strcmp(op->latest.id, op->pre_latest) != 0) {
        copy_id(op->res.new_deployment_id, op->latest.id);
        settle(op, op->latest.status, poll_instance);
        return;
    }
    if (op->has_latest && strcmp(op->latest.id, op->source) == 0) {
        settle(op, op->latest.status, poll_instance); /* restored in place, no new deployment */
        return;
    }
    poll_later(op, poll_instance);
}

static void poll_instance(rw_op *op)
{
    rw__send(op, RW_DOC_INSTANCE, vars_instance(op), poll_instance_done);
}

/* The mutation was accepted: report, or start waiting. */
static void accepted(rw_op *op)
{
    char what[RW_SUMMARY_MAX / 2];
    describe(op, what, sizeof what);
    if (!op->wait) {
        rw__finish(op, RW_OK, "%s accepted", what);
        return;
    }
    rw__log(op->c, 1, "railway %s: %s accepted, waiting", rw_op_name(op->kind), what);
    poll_later(op, op->kind == RW_OP_ROLLBACK ? poll_instance : poll_deployment);
}

static void bool_done(rw_op *op, const rw__answer *a)
{
    bool ok = false;
    char err[160];
    const char *field = rw__docs[op->doc].field;
    if (rw__parse_bool(a->data, field, &ok, err, sizeof err)) {
        rw__finish(op, RW_ERR_BAD_ANSWER, "%s: %s", field, err);
        return;
    }
    if (!ok) {
        rw__finish(op, RW_ERR_GRAPHQL, "%s(%s) returned false", field, op->source);
        return;
    }
    accepted(op);
}

/* ---- restart ---- */

static void restart_lookup_done(rw_op *op, const rw__answer *a)
{
    if (take_instance(op, a))
        return;
    const rw_deployment *pick = rw_serving_deployment(op->deps, op->n_deps);
    for (size_t i = 0; i < op->n_deps && !pick; i++)
        if (running_status(op->deps[i].status))
            pick = &op->deps[i];
    if (!pick && op->n_deps > 0)
        pick = &op->deps[0];
    if (!pick && op->has_latest && running_status(op->latest.status))
        pick = &op->latest;
    if (!pick) {
        rw__finish(op, RW_ERR_PRECONDITION, "no running deployment to restart (latest: %s %s)",
                   op->has_latest ? op->latest.id : "none", op->has_latest ? rw_status_name(op->latest.status) : "");
        return;
    }
    copy_id(op->source, pick->id);
    op->last_status = pick->status;
    restart_send(op);
}

static void restart_send(rw_op *op)
{
    copy_id(op->res.deployment_id, op->source);
    op->reconcile = NULL; /* restarting twice is harmless: resend rather than look */
    rw__send(op, RW_DOC_RESTART, vars_id(op->source), bool_done);
}

/* ---- redeploy ---- */

/* What a redeploy rebuilds: the deployment that is running (the one serving traffic, else one
 * that crashed while running: a rebuild is what it needs), else the caller's known-good (the
 * last healthy one; Railway refuses it if it cannot be rebuilt), else the latest only if it is a
 * healthy build that may be redeployed. Never a newer FAILED or CRASHED build: rebuilding what
 * just failed repeats the failure, while the running deployment is known to start. */
static const char *redeploy_pick(const rw_op *op)
{
    const rw_deployment *run = rw_serving_deployment(op->deps, op->n_deps);
    for (size_t i = 0; i < op->n_deps && !run; i++)
        if (op->deps[i].status == RW_ST_CRASHED)
            run = &op->deps[i];
    if (run && run->can_redeploy)
        return run->id;
    if (op->known_good[0])
        return op->known_good;
    if (op->has_latest && op->latest.can_redeploy &&
        (op->latest.status == RW_ST_SUCCESS || op->latest.status == RW_ST_SLEEPING))
        return op->latest.id;
    return NULL;
}

static void redeploy_lookup_done(rw_op *op, const rw__answer *a)
{
    if (take_instance(op, a))
        return;
    if (op->has_latest)
        copy_id(op->pre_latest, op->latest.id);
    if (op->given_id[0]) {
        copy_id(op->source, op->given_id);
        redeploy_send(op);
        return;
    }
    const char *pick = redeploy_pick(op);
    if (!pick) {
        rw__finish(op, RW_ERR_PRECONDITION,
                   "nothing to redeploy: no deployment is running, no known-good one was given, and the latest "
                   "(%s %s) is not a healthy build",
                   op->has_latest ? op->latest.id : "none", op->has_latest ? rw_status_name(op->latest.status) : "-");
        return;
    }
    copy_id(op->source, pick);
    redeploy_send(op);
}

static void redeploy_done(rw_op *op, const rw__answer *a)
{
    rw_deployment d;
    char err[160];
    if (rw__parse_deployment(cJSON_GetObjectItemCaseSensitive(a->data, "deploymentRedeploy"), &d, err, sizeof err)) {
        rw__finish(op, RW_ERR_BAD_ANSWER, "deploymentRedeploy: %s", err);
        return;
    }
    copy_id(op->res.new_deployment_id, d.id);
    op->last_status = op->res.status = d.status;
    accepted(op);
}

/* A mutation failed in a way that leaves open whether it ran: look before resending. */
static void reconcile_done(rw_op *op, const rw__answer *a)
{
    if (take_instance(op, a))
        return;
    if (op->has_latest && strcmp(op->latest.id, op->pre_latest) != 0 && strcmp(op->latest.id, op->source) != 0) {
        rw__log(op->c, 2, "railway %s: the failed request had run: new deployment %s", rw_op_name(op->kind),
                op->latest.id);
        copy_id(op->res.new_deployment_id, op->latest.id);
        op->last_status = op->res.status = op->latest.status;
        op->accepted = true;
        accepted(op);
        return;
    }
    if (op->kind == RW_OP_REDEPLOY)
        redeploy_send(op);
    else
        rollback_send(op);
}

static void reconcile(rw_op *op)
{
    rw__send(op, RW_DOC_INSTANCE, vars_instance(op), reconcile_done);
}

static void redeploy_send(rw_op *op)
{
    copy_id(op->res.deployment_id, op->source);
    op->reconcile = reconcile;
    rw__send(op, RW_DOC_REDEPLOY, vars_id(op->source), redeploy_done);
}

/* ---- rollback ---- */

static bool avoided(const rw_op *op, const char *id)
{
    for (size_t i = 0; i < op->n_avoid; i++)
        if (strcmp(op->avoid[i], id) == 0)
            return true;
    return false;
}

static bool current(const rw_op *op, const char *id)
{
    for (size_t i = 0; i < op->n_cur; i++)
        if (strcmp(op->cur[i], id) == 0)
            return true;
    return false;
}

static void rollback_lookup_done(rw_op *op, const rw__answer *a)
{
    if (take_instance(op, a))
        return;
    op->n_cur = 0;
    if (op->has_latest) {
        copy_id(op->pre_latest, op->latest.id);
        copy_id(op->cur[op->n_cur++], op->latest.id);
    }
    for (size_t i = 0; i < op->n_deps && op->n_cur < RW_CUR_MAX; i++)
        copy_id(op->cur[op->n_cur++], op->deps[i].id);
    rw__send(op, RW_DOC_LIST, vars_list(op), rollback_list_done);
}

/* The explicit target must be listed, rollbackable, not running and not part of the incident. */
static const rw_deployment *check_target(rw_op *op)
{
    const rw_deployment *t = NULL;
    for (size_t i = 0; i < op->n_deps && !t; i++)
        if (strcmp(op->deps[i].id, op->target) == 0)
            t = &op->deps[i];
    const char *why = !t                       ? "is not among the service's recent deployments"
                      : avoided(op, t->id)     ? "belongs to the current incident"
                      : current(op, t->id)     ? "is the current deployment"
                      : !t->can_rollback       ? "can no longer be rolled back (canRollback false)"
                                               : NULL;
    if (why) {
        rw__finish(op, RW_ERR_PRECONDITION, "rollback target %s %s", op->target, why);
        return NULL;
    }
    return t;
}

static void rollback_list_done(rw_op *op, const rw__answer *a)
{
    char err[160];
    if (rw__parse_list(a->data, op->deps, RW_LIST_MAX, &op->n_deps, err, sizeof err)) {
        rw__finish(op, RW_ERR_BAD_ANSWER, "deployments: %s", err);
        return;
    }
    const rw_deployment *pick = NULL;
    if (op->target[0]) {
        if (!(pick = check_target(op)))
            return;
    } else {
        /* Newest first: the first rollbackable one that is neither running nor in the incident. */
        for (size_t i = 0; i < op->n_deps && !pick; i++) {
            const rw_deployment *d = &op->deps[i];
            if (d->can_rollback && !avoided(op, d->id) && !current(op, d->id))
                pick = d;
        }
        if (!pick) {
            rw__finish(op, RW_ERR_PRECONDITION,
                       "no earlier deployment with canRollback outside this incident among the last %zu", op->n_deps);
            return;
        }
    }
    copy_id(op->source, pick->id);
    rollback_send(op);
}

static void rollback_send(rw_op *op)
{
    copy_id(op->res.deployment_id, op->source);
    op->reconcile = reconcile;
    rw__send(op, RW_DOC_ROLLBACK, vars_id(op->source), bool_done);
}

/* ---- queries ---- */

static void deployment_done(rw_op *op, const rw__answer *a)
{
    rw_deployment d;
    char err[160];
    if (rw__parse_deployment(cJSON_GetObjectItemCaseSensitive(a->data, "deployment"), &d, err, sizeof err)) {
        rw__finish(op, RW_ERR_BAD_ANSWER, "deployment: %s", err);
        return;
    }
    copy_id(op->res.deployment_id, d.id);
    op->res.status = d.status;
    op->deps[0] = d;
    op->n_deps = 1;
    op->res.deployments = op->deps;
    op->res.n_deployments = 1;
    rw__finish(op, RW_OK, "deployment %s is %s", d.id, rw_status_name(d.status));
}

static void instance_done(rw_op *op, const rw__answer *a)
{
    if (take_instance(op, a))
        return;
    op->res.latest = op->has_latest ? &op->latest : NULL;
    op->res.deployments = op->deps;
    op->res.n_deployments = op->n_deps;
    if (op->has_latest) {
        copy_id(op->res.deployment_id, op->latest.id);
        op->res.status = op->latest.status;
    }
    rw__finish(op, RW_OK, "latest deployment %s is %s; %zu active", op->has_latest ? op->latest.id : "none",
               op->has_latest ? rw_status_name(op->latest.status) : "-", op->n_deps);
}

static void list_done(rw_op *op, const rw__answer *a)
{
    char err[160];
    if (rw__parse_list(a->data, op->deps, RW_LIST_MAX, &op->n_deps, err, sizeof err)) {
        rw__finish(op, RW_ERR_BAD_ANSWER, "deployments: %s", err);
        return;
    }
    op->res.deployments = op->deps;
    op->res.n_deployments = op->n_deps;
    rw__finish(op, RW_OK, "%zu recent deployments", op->n_deps);
}

void rw__op_begin(rw_op *op)
{
    switch (op->kind) {
    case RW_OP_RESTART:
        if (op->given_id[0]) {
            copy_id(op->source, op->given_id);
            restart_send(op);
        } else {
            rw__send(op, RW_DOC_INSTANCE, vars_instance(op), restart_lookup_done);
        }
        break;
    case RW_OP_REDEPLOY:
        rw__send(op, RW_DOC_INSTANCE, vars_instance(op), redeploy_lookup_done);
        break;
    case RW_OP_ROLLBACK:
        rw__send(op, RW_DOC_INSTANCE, vars_instance(op), rollback_lookup_done);
        break;
    case RW_OP_DEPLOYMENT:
        rw__send(op, RW_DOC_DEPLOYMENT, vars_id(op->given_id), deployment_done);
        break;
    case RW_OP_INSTANCE:
        rw__send(op, RW_DOC_INSTANCE, vars_instance(op), instance_done);
        break;
    case RW_OP_LIST:
        rw__send(op, RW_DOC_LIST, vars_list(op), list_done);
        break;
    case RW_OP_CHECK_TOKEN:
        rw__check_token_begin(op);
        break;
    case RW_OP_CALL:
        rw__call_begin(op);
        break;
    }
}
