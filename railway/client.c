/* client.c: the railway client's lifecycle (config, token, the list of running operations, the
 * request budget), starting, cancelling and finishing operations, their timers, and the
 * counters. Every text leaving here is scrubbed of the token. The HTTP exchanges are in
 * request.c, the operations in ops.c, the pacing decision in pace.c. */
#include "rw_op.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef MD_VERSION
#define MD_VERSION "0"
#endif

static void on_timer(void *arg);

static char *dup_or(const char *s, const char *dflt)
{
    return strdup(s && *s ? s : dflt);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t rw__now(const rw_client *c)
{
    return c->cfg.host.now_ms ? c->cfg.host.now_ms(c->cfg.host.ctx) : mono_ms();
}

int64_t rw__wall(const rw_client *c)
{
    if (c->cfg.host.wall_ms)
        return c->cfg.host.wall_ms(c->cfg.host.ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t rw__time_left(const rw_op *op)
{
    uint64_t now = rw__now(op->c);
    return now >= op->deadline ? 0 : op->deadline - now;
}

void rw__log(const rw_client *c, int level, const char *fmt, ...)
{
    if (!c->cfg.host.log)
        return;
    char msg[RW_SUMMARY_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rw__scrub(msg, sizeof msg, c->token);
    c->cfg.host.log(c->cfg.host.ctx, level, msg);
}

int rw_client_new(const rw_config *cfg, rw_client **out)
{
    *out = NULL;
    const rw_host *h = &cfg->host;
    if (!h->start || !h->cancel || !h->timer_start || !h->timer_cancel)
        return -EINVAL;
    const char *ep = cfg->endpoint && *cfg->endpoint ? cfg->endpoint : RW_DEFAULT_ENDPOINT;
    if (strncmp(ep, "https://", 8) != 0 && strncmp(ep, "http://", 7) != 0)
        return -EINVAL;
    if (cfg->token_env && strlen(cfg->token_env) >= sizeof((rw_client *)0)->token_env)
        return -EINVAL;
    rw_client *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->cfg = *cfg;
    c->endpoint = strdup(ep);
    c->user_agent = dup_or(cfg->user_agent, "medic/" MD_VERSION " railway-client");
    const char *tok = cfg->token && *cfg->token ? cfg->token : cfg->token_env ? getenv(cfg->token_env) : NULL;
    if (tok && *tok)
        c->token = strdup(tok);
    if (cfg->token_env)
        snprintf(c->token_env, sizeof c->token_env, "%s", cfg->token_env);
    c->cfg.endpoint = c->endpoint;
    c->cfg.user_agent = c->user_agent;
    c->cfg.token = NULL;
    c->cfg.token_env = NULL;
    if (!c->cfg.deadline_ms)
        c->cfg.deadline_ms = 60000;
    if (!c->cfg.request_timeout_ms)
        c->cfg.request_timeout_ms = 15000;
    if (!c->cfg.backoff_base_ms)
        c->cfg.backoff_base_ms = 500;
    if (!c->cfg.backoff_max_ms)
        c->cfg.backoff_max_ms = 30000;
    if (!c->cfg.poll_interval_ms)
        c->cfg.poll_interval_ms = 2000;
    if (!c->cfg.poll_max_ms)
        c->cfg.poll_max_ms = 15000;
    if (c->cfg.poll_max_ms < c->cfg.poll_interval_ms)
        c->cfg.poll_max_ms = c->cfg.poll_interval_ms;
    if (!c->cfg.budget_per_hour)
        c->cfg.budget_per_hour = RW_DEFAULT_BUDGET_PER_HOUR;
    if (c->cfg.budget_per_hour > RW_BUDGET_MAX)
        c->cfg.budget_per_hour = RW_BUDGET_MAX;
    c->pace = (rw__pace){.limit = -1, .remaining = -1, .budget = c->cfg.budget_per_hour};
    c->pace.sent = calloc(c->pace.budget, sizeof *c->pace.sent);
    c->prng = cfg->seed;
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    if (hl)
        c->base_headers = curl_slist_append(hl, "Accept: application/json");
    if (!c->endpoint || !c->user_agent || (tok && *tok && !c->token) || !c->base_headers || !c->pace.sent) {
        curl_slist_free_all(c->base_headers ? c->base_headers : hl);
        c->base_headers = NULL;
        rw_client_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

/* Stops whatever the op has in flight, unlinks and frees it. No callback. */
static void op_free(rw_op *op)
{
    rw_client *c = op->c;
    if (op->easy) {
        c->cfg.host.cancel(c->cfg.host.ctx, op->easy);
        curl_easy_cleanup(op->easy);
    }
    if (op->timer)
        c->cfg.host.timer_cancel(c->cfg.host.ctx, op->timer);
    curl_slist_free_all(op->headers);
    ut_list_remove(&c->ops, &op->link);
    c->n_ops--;
    free(op->body);
    free(op->resp);
    free(op->avoid);
    free(op->deps);
    free(op->vars_json);
    if (op->data_json) {
        explicit_bzero(op->data_json, strlen(op->data_json)); /* may hold a new project token */
        free(op->data_json);
    }
    free(op);
}

void rw_client_free(rw_client *c)
{
    if (!c)
        return;
    while (!ut_list_empty(&c->ops))
        op_free(ut_list_first(&c->ops, rw_op, link));
    if (c->token) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
    }
    curl_slist_free_all(c->base_headers);
    free(c->pace.sent);
    free(c->endpoint);
    free(c->user_agent);
    free(c);
}

size_t rw_running(const rw_client *c)
{
    return c->n_ops;
}

void rw_stats(const rw_client *c, struct rw_stats *out)
{
    uint64_t now = rw__now(c);
    *out = c->stats;
    out->budget_per_hour = c->pace.budget;
    out->sent_last_hour = rw__pace_sent_in_hour(&c->pace, now);
    out->limit = c->pace.limit;
    out->remaining = c->pace.remaining;
    out->reset_in_ms = c->pace.reset_at_ms > now ? c->pace.reset_at_ms - now : 0;
}

int rw_cancel(rw_client *c, uint64_t op_id)
{
    for (rw_op *op = ut_list_first(&c->ops, rw_op, link); op; op = ut_list_next(op, rw_op, link)) {
        if (op->id == op_id) {
            op_free(op);
            return 0;
        }
    }
    return -ENOENT;
}

static int copy_id(char dst[RW_ID_MAX], const char *src, bool required)
{
    if (!src || !*src)
        return required ? -EINVAL : 0;
    if (!rw__valid_id(src))
        return -EINVAL;
    snprintf(dst, RW_ID_MAX, "%s", src);
    return 0;
}

static int copy_request(rw_op *op, const rw_request *req)
{
    bool svc = op->kind != RW_OP_DEPLOYMENT && op->kind != RW_OP_CHECK_TOKEN && op->kind != RW_OP_CALL;
    if (op->kind == RW_OP_CALL) {
        if ((unsigned)req->call >= RW_CALL_COUNT)
            return -EINVAL;
        op->call = req->call;
        if (req->vars_json && !(op->vars_json = strdup(req->vars_json)))
            return -ENOMEM;
    }
    if (copy_id(op->service_id, req->service_id, svc) || copy_id(op->environment_id, req->environment_id, svc) ||
        copy_id(op->given_id, req->deployment_id, op->kind == RW_OP_DEPLOYMENT) ||
        copy_id(op->target, req->rollback_target, false) || copy_id(op->known_good, req->known_good, false))
        return -EINVAL;
    if (req->n_avoid > 0) {
        if (!req->avoid)
            return -EINVAL;
        op->avoid = calloc(req->n_avoid, sizeof *op->avoid);
        if (!op->avoid)
            return -ENOMEM;
        for (size_t i = 0; i < req->n_avoid; i++)
            if (copy_id(op->avoid[i], req->avoid[i], true))
                return -EINVAL;
        op->n_avoid = req->n_avoid;
    }
    op->wait = req->wait;
    op->background = req->background;
    op->first = req->first == 0 ? 20 : req->first > RW_LIST_MAX ? RW_LIST_MAX : req->first;
    return 0;
}

int rw_start(rw_client *c, rw_op_kind kind, const rw_request *req, rw_done_fn done, void *arg, uint64_t *op_id)
{
    if (!c || !req || !done || (unsigned)kind >= RW_OP_COUNT)
        return -EINVAL;
    rw_op *op = calloc(1, sizeof *op);
    if (!op)
        return -ENOMEM;
    op->c = c;
    op->kind = kind;
    op->done = done;
    op->arg = arg;
    ut_list_push_front(&c->ops, &op->link);
    c->n_ops++;
    int e = copy_request(op, req);
    if (e == 0 && !(op->deps = calloc(RW_LIST_MAX, sizeof *op->deps)))
        e = -ENOMEM;
    if (e) {
        op_free(op);
        return e;
    }
    op->id = ++c->next_id;
    op->t0 = rw__now(c);
    op->deadline = op->t0 + (req->deadline_ms ? req->deadline_ms : c->cfg.deadline_ms);
    op->res.op = kind;
    if (op_id)
        *op_id = op->id;
    /* The first step runs from a timer so that done never runs inside rw_start. */
    op->timer_fn = rw__op_begin;
    op->timer = c->cfg.host.timer_start(c->cfg.host.ctx, 0, on_timer, op);
    if (!op->timer) {
        op_free(op);
        return -ENOMEM;
    }
    return 0;
}

void rw__finish(rw_op *op, rw_class cls, const char *fmt, ...)
{
    rw_client *c = op->c;
    rw_result *r = &op->res;
    r->cls = cls;
    r->reached = rw__reached(cls, op->accepted, op->maybe_ran);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->summary, sizeof r->summary, fmt, ap);
    va_end(ap);
    rw__scrub(r->summary, sizeof r->summary, c->token);
    r->elapsed_ms = rw__now(c) - op->t0;
    if (r->status == RW_ST_UNKNOWN)
        r->status = op->last_status;
    rw__log(c, cls == RW_OK ? 1 : 2, "railway %s: %s (%s, %s, %u requests, %llu ms)", rw_op_name(op->kind),
            r->summary, rw_class_name(cls), r->reached ? "reached" : "not reached", r->attempts,
            (unsigned long long)r->elapsed_ms);
    rw_done_fn done = op->done;
    void *arg = op->arg;
    rw_result copy = *r; /* op is freed before done runs, so done may start new operations freely */
    rw_deployment latest = op->latest;
    rw_deployment *deps = op->deps;
    op->deps = NULL;
    char *data = op->data_json;
    op->data_json = NULL;
    copy.data_json = data;
    if (copy.latest)
        copy.latest = &latest;
    if (copy.deployments)
        copy.deployments = deps;
    op_free(op);
    done(&copy, arg);
    free(deps);
    if (data) {
        explicit_bzero(data, strlen(data));
        free(data);
    }
}

/* ---- timers ---- */

static void on_timer(void *arg)
{
    rw_op *op = arg;
    op->timer = NULL;
    rw__op_fn fn = op->timer_fn;
    op->timer_fn = NULL;
    fn(op);
}

void rw__after(rw_op *op, uint64_t delay_ms, rw__op_fn fn)
{
    rw_client *c = op->c;
    assert(!op->timer && !op->easy);
    op->timer_fn = fn;
    op->timer = c->cfg.host.timer_start(c->cfg.host.ctx, delay_ms, on_timer, op);
    if (!op->timer)
        rw__finish(op, RW_ERR_INTERNAL, "could not start a timer");
}
