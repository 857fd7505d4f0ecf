/* heal_rw.c: the Railway clients of the services that act through Railway: one client per
 * distinct (endpoint, token, token kind), shared by every service that uses it. A client paces
 * its requests against Railway's rate limit, so one per service would defeat the pacing; services
 * in different Railway projects still need their own project tokens, so one for all cannot do. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "heal_int.h"

/* What tells two clients apart. The endpoint is remediation.railway.endpoint for every service,
 * so the token and its kind are enough. */
typedef struct {
    const char *token; /* owned by the config */
    bool project;
} rw_key;

static int client_new(md_heal *r, const rw_key *key, rw_client **out)
{
    rw_config rc = {
        .endpoint = r->cfg->remedy.railway_endpoint,
        .token = key->token,
        .token_kind = key->project ? RW_TOKEN_PROJECT : RW_TOKEN_BEARER,
        .user_agent = "medic/" MD_VERSION,
        .budget_per_hour = (uint32_t)r->cfg->remedy.railway_budget_per_hour,
        /* distinct seeds, so clients created in the same microsecond do not jitter in step */
        .seed = ((uint64_t)md_mono_us() ^ 0x9e3779b97f4a7c15ULL) + (uint64_t)r->n_rw_clients * 0x100000001b3ULL,
    };
    md_rw_host_bind(r->rw_host, &rc.host);
    return rw_client_new(&rc, out);
}

/* client_for returns the index of key's client in r->rw_clients, creating it when it is new.
 * keys runs parallel to r->rw_clients. Linear: there are as many keys as Railway projects in
 * the config, a handful, however many services share them. */
static int client_for(md_heal *r, rw_key *keys, const rw_key *key, size_t *at)
{
    size_t k = 0;
    while (k < r->n_rw_clients && !(keys[k].project == key->project && strcmp(keys[k].token, key->token) == 0))
        k++;
    if (k == r->n_rw_clients) {
        int e = client_new(r, key, &r->rw_clients[k]);
        if (e < 0)
            return e;
        keys[k] = *key;
        r->rw_state[k] = (md_rw_state){ .r = r, .k = k, .project = key->project, .state = "unchecked" };
        r->n_rw_clients++;
    }
    *at = k;
    return 0;
}

int md__heal_rw_new(md_heal *r, char *err, size_t errlen)
{
    size_t n_rw_svc = 0;
    for (size_t i = 0; i < r->n; i++)
        n_rw_svc += r->cfg->services[i].remedy->actuator == MD_ACTUATOR_RAILWAY;
    if (n_rw_svc == 0)
        return 0;
    /* At most one client per Railway service. */
    rw_key *keys = calloc(n_rw_svc, sizeof *keys);
    r->rw_clients = calloc(n_rw_svc, sizeof *r->rw_clients);
    r->rw_state = calloc(n_rw_svc, sizeof *r->rw_state);
    int e = keys && r->rw_clients && r->rw_state ? md_rw_host_new(r->loop, r->cl, NULL, NULL, &r->rw_host) : -ENOMEM;
    for (size_t i = 0; e == 0 && i < r->n; i++) {
        const md_service_config *c = &r->cfg->services[i];
        rw_key key;
        size_t k;
        if (c->remedy->actuator != MD_ACTUATOR_RAILWAY)
            continue;
        key.token = md_config_railway_token(r->cfg, c, &key.project);
        if (!key.token) /* the config refuses this; no client is better than a wrong one */
            continue;
        if ((e = client_for(r, keys, &key, &k)) == 0)
            r->svc[i]->rw = r->rw_clients[k]; /* a Railway service has its record */
    }
    free(keys);
    if (e < 0) {
        snprintf(err, errlen, "railway client: %s", strerror(-e));
        md__heal_rw_free(r);
        return e;
    }
    md_log(MD_LOG_INFO, "railway_clients", MD_I("clients", r->n_rw_clients), MD_I("services", n_rw_svc));
    return 0;
}

void md__heal_rw_free(md_heal *r)
{
    for (size_t k = 0; k < r->n_rw_clients; k++)
        rw_client_free(r->rw_clients[k]);
    free(r->rw_clients);
    r->rw_clients = NULL;
    free(r->rw_state);
    r->rw_state = NULL;
    r->n_rw_clients = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->svc[i])
            r->svc[i]->rw = NULL;
    md_rw_host_free(r->rw_host); /* after the clients, which cancel its timers */
    r->rw_host = NULL;
}

/* ---- what each token reaches ---- */

static void reach_text(const rw_token_info *t, char *out, size_t len)
{
    size_t at = 0;
    out[0] = '\0';
    if (t->scope == RW_SCOPE_PROJECT)
        snprintf(out, len, "project %s environment %s", t->project_id, t->environment_id);
    else if (t->n_workspaces > 0) {
        at = (size_t)snprintf(out, len, "%s token, workspaces", rw_token_scope_name(t->scope));
        for (size_t i = 0; i < t->n_workspaces && at < len; i++)
            at += (size_t)snprintf(out + at, len - at, "%s%s", i ? "," : " ", t->workspace_ids[i]);
    } else
        snprintf(out, len, "%s token", rw_token_scope_name(t->scope));
}

/* services_of writes the names of the services that use client k. */
static void services_of(const md_heal *r, size_t k, char *out, size_t len)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->n && at < len; i++)
        if (r->svc[i] && r->svc[i]->rw == r->rw_clients[k])
            at += (size_t)snprintf(out + at, len - at, "%s%s", at ? "," : "", r->cfg->services[i].name);
}

static void on_checked(const rw_result *res, void *arg)
{
    md_rw_state *st = arg;
    md_heal *r = st->r;
    char services[512];
    st->check_op = 0;
    st->checked_ms = md_wall_ms();
    snprintf(st->detail, sizeof st->detail, "%s", res->summary);
    services_of(r, st->k, services, sizeof services);
    if (res->cls == RW_OK) {
        st->state = "ok";
        st->scope = res->token.scope;
        reach_text(&res->token, st->reach, sizeof st->reach);
        md_log(MD_LOG_INFO, "railway_token", MD_S("token_kind", st->project ? "project" : "bearer"),
               MD_S("scope", rw_token_scope_name(st->scope)), MD_S("reaches", st->reach), MD_S("services", services));
    } else {
        st->state = res->cls == RW_ERR_AUTH ? "refused" : "error";
        md_log(res->cls == RW_ERR_AUTH ? MD_LOG_ERROR : MD_LOG_WARN, "railway_token_check_failed",
               MD_S("token_kind", st->project ? "project" : "bearer"), MD_S("class", rw_class_name(res->cls)),
               MD_S("detail", res->summary), MD_S("services", services));
    }
    md__heal_changed(r);
}

void md__heal_rw_check(md_heal *r)
{
    for (size_t k = 0; k < r->n_rw_clients; k++) {
        md_rw_state *st = &r->rw_state[k];
        rw_request req = { .deadline_ms = 30000, .background = true };
        if (rw_start(r->rw_clients[k], RW_OP_CHECK_TOKEN, &req, on_checked, st, &st->check_op) < 0) {
            st->check_op = 0;
            st->state = "error";
            snprintf(st->detail, sizeof st->detail, "the check could not be started");
        }
    }
}

void md__heal_rw_seen(md_heal *r, const rw_client *c, const rw_result *res)
{
    for (size_t k = 0; k < r->n_rw_clients; k++) {
        if (r->rw_clients[k] != c)
            continue;
        md_rw_state *st = &r->rw_state[k];
        if (res->cls == RW_ERR_AUTH) {
            st->state = "refused";
            snprintf(st->detail, sizeof st->detail, "%s", res->summary);
        } else if (res->reached && strcmp(st->state, "refused") == 0) {
            st->state = "ok"; /* the token works again */
            snprintf(st->detail, sizeof st->detail, "%s", res->summary);
        }
    }
}

int md__heal_rw_fill_view(const md_heal *r, md_view *v)
{
    if (r->n_rw_clients == 0)
        return 0;
    v->actuators = md_view_calloc(v, r->n_rw_clients * sizeof *v->actuators);
    if (!v->actuators)
        return -ENOMEM;
    v->n_actuators = r->n_rw_clients;
    for (size_t k = 0; k < r->n_rw_clients; k++) {
        const md_rw_state *st = &r->rw_state[k];
        md_view_actuator *a = &v->actuators[k];
        struct rw_stats rs;
        char services[512];
        rw_stats(r->rw_clients[k], &rs);
        services_of(r, k, services, sizeof services);
        *a = (md_view_actuator){ .kind = "railway", .token_kind = st->project ? "project" : "bearer",
                                 .state = st->state, .scope = rw_token_scope_name(st->scope),
                                 .reach = st->reach[0] ? md_view_strdup(v, st->reach) : NULL,
                                 .detail = st->detail[0] ? md_view_strdup(v, st->detail) : NULL,
                                 .services = md_view_strdup(v, services), .checked_ms = st->checked_ms,
                                 .requests = rs.requests, .throttled = rs.throttled, .throttled_ms = rs.throttled_ms,
                                 .limit = rs.limit, .remaining = rs.remaining,
                                 .budget_per_hour = rs.budget_per_hour, .sent_last_hour = rs.sent_last_hour };
    }
    return 0;
}
