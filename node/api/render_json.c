/* render_json.c: the API's JSON documents (/v1/health, /v1/status, /v1/services/{name}, errors),
 * built with cJSON from a view only, so they can be rendered on any thread.
 *
 * Every wall time appears twice: as an RFC 3339 UTC string with milliseconds for people and as
 * an integer "_ms" field for programs; a time of 0 ("never") renders as null in both. */
#include "api.h"
#include "render_failover.h"
#include "render_int.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The RFC 3339 form of wall ms, e.g. "2026-11-29T11:27:29.123Z"; out must hold 80 bytes (years beyond 9999 still fit).
 * Local rather than log.c's so the renderers depend on nothing but the view. */
static void format_time_ms(int64_t wall_ms, char out[80])
{
    int64_t sec = wall_ms / 1000, ms = wall_ms % 1000;
    if (ms < 0) { /* floor, so times before 1970 still read correctly */
        ms += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, 80, "invalid");
        return;
    }
    snprintf(out, 80, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}

/* Each add_* returns false on OOM; callers chain them with && and give up on the document. */
static bool add(cJSON *obj, const char *key, cJSON *item)
{
    if (item == NULL) {
        return false;
    }
    cJSON_AddItemToObject(obj, key, item);
    return true;
}

static bool add_str(cJSON *obj, const char *key, const char *val)
{
    return add(obj, key, val ? cJSON_CreateString(val) : cJSON_CreateNull());
}

static bool add_num(cJSON *obj, const char *key, double val)
{
    return add(obj, key, cJSON_CreateNumber(val));
}

/* Three decimals are plenty for milliseconds and percentages and keep the text short. */
static bool add_round(cJSON *obj, const char *key, double val)
{
    return add_num(obj, key, isfinite(val) ? round(val * 1000.0) / 1000.0 : val);
}

static bool add_bool(cJSON *obj, const char *key, bool val)
{
    return add(obj, key, cJSON_CreateBool(val));
}

/* key (string) and key_ms (integer), both null when ms is 0. */
static bool add_time(cJSON *obj, const char *key, const char *key_ms, int64_t ms)
{
    if (ms == 0) {
        return add(obj, key, cJSON_CreateNull()) && add(obj, key_ms, cJSON_CreateNull());
    }
    char buf[80];
    format_time_ms(ms, buf);
    return add_str(obj, key, buf) && add_num(obj, key_ms, (double)ms);
}

static char *finish(cJSON *root, bool ok)
{
    char *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return out;
}

static cJSON *node_json(const md_view *s, int64_t now_ms)
{
    cJSON *n = cJSON_CreateObject();
    int64_t up_ms = now_ms > s->started_ms ? now_ms - s->started_ms : 0;
    bool ok = n && add_str(n, "id", s->node_id) && add_str(n, "region", s->node_region) &&
              add_str(n, "version", s->version) && add_num(n, "pid", s->pid) &&
              add_time(n, "started_at", "started_at_ms", s->started_ms) &&
              add_num(n, "uptime_s", (double)(up_ms / 1000));
    if (!ok) {
        cJSON_Delete(n);
        return NULL;
    }
    return n;
}

/* generated_at, generated_at_ms and node: the head of /v1/status and /v1/services/{name}. */
static bool add_head(cJSON *root, const md_view *s, int64_t now_ms)
{
    return add_time(root, "generated_at", "generated_at_ms", now_ms) &&
           add(root, "node", node_json(s, now_ms));
}

/* Sub-objects are attached to o as soon as they exist, so deleting o frees everything on OOM. */
static bool add_service_fields(cJSON *o, const md_view_service *v)
{
    bool ok = add_str(o, "name", v->name) && add_str(o, "kind", v->kind) &&
              add_str(o, "target", v->target) && add_str(o, "state", md_state_name(v->state)) &&
              add_time(o, "state_since", "state_since_ms", v->state_since_ms) &&
              add_str(o, "cause", v->state_cause ? v->state_cause : "") &&
              add_num(o, "consecutive_failures", v->consecutive_failures) &&
              add_num(o, "consecutive_successes", v->consecutive_successes);
    cJSON *checks = ok ? cJSON_AddObjectToObject(o, "checks") : NULL;
    ok = checks && add_num(checks, "ok", (double)md_view_checks_ok(v)) &&
         add_num(checks, "total", (double)md_view_checks_total(v)) &&
         add_round(o, "uptime_pct", md_view_uptime_pct(v)) &&
         add_round(o, "uptime_hour_pct", v->uptime_hour_pct) &&
         add_time(o, "last_check", "last_check_ms", v->last_check_ms) &&
         add_time(o, "last_success", "last_success_ms", v->last_success_ms);
    cJSON *lat = ok ? cJSON_AddObjectToObject(o, "latency_ms") : NULL;
    ok = lat && add_round(lat, "last", v->last_latency_ms) &&
         add_round(lat, "avg", v->avg_latency_ms) && add_round(lat, "ewma", v->ewma_latency_ms);
    cJSON *trend = ok ? cJSON_AddObjectToObject(o, "trend") : NULL;
    ok = trend && add_round(trend, "slope_ms_per_s", v->trend_slope_ms_per_s) &&
         add_bool(trend, "warning", v->trend_warning) &&
         add(trend, "eta_ms", v->trend_warning ? cJSON_CreateNumber((double)v->trend_eta_ms)
                                               : cJSON_CreateNull()) &&
         add_str(o, "last_error", v->last_err == MD_ERR_NONE ? NULL : md_err_name(v->last_err)) &&
         add(o, "last_http_status", v->last_http_status ? cJSON_CreateNumber(v->last_http_status)
                                                        : cJSON_CreateNull());
    if (ok && v->cert_expiry_ms == 0) {
        ok = add(o, "cert", cJSON_CreateNull());
    } else if (ok) {
        cJSON *cert = cJSON_AddObjectToObject(o, "cert");
        ok = cert && add_time(cert, "expires_at", "expires_at_ms", v->cert_expiry_ms) &&
             add_bool(cert, "warning", v->cert_warning);
    }
    ok = ok && add_num(o, "interval_ms", (double)v->interval_ms) &&
         add_num(o, "timeout_ms", (double)v->timeout_ms) && add_num(o, "slow_ms", (double)v->slow_ms);
    cJSON *prewarm = ok ? cJSON_AddObjectToObject(o, "prewarm") : NULL;
    ok = prewarm && add_num(prewarm, "total", (double)md_view_count(v, MD_VIEW_C_PREWARM)) &&
         add_num(prewarm, "failed", (double)md_view_count(v, MD_VIEW_C_PREWARM_FAILED));
    cJSON *rem = ok ? cJSON_AddObjectToObject(o, "remediation") : NULL;
    return rem && add_bool(rem, "paused", v->paused) &&
           add(rem, "incident", v->incident_id ? cJSON_CreateNumber((double)v->incident_id) : cJSON_CreateNull()) &&
           add_str(rem, "summary", v->remedy);
}

/* The cluster's view of one service: its verdict and every node's latest observation. */
static bool add_cluster_fields(cJSON *o, const md_view *s, const md_view_service *v)
{
    cJSON *vd = cJSON_AddObjectToObject(o, "verdict");
    bool ok = vd && add_str(vd, "state", md_verdict_name(v->verdict)) &&
              add_time(vd, "since", "since_ms", v->verdict_since_ms) && add_num(vd, "up", v->votes_up) &&
              add_num(vd, "down", v->votes_down) && add_num(vd, "quorum", v->quorum);
    cJSON *obs = ok ? cJSON_AddObjectToObject(o, "observations") : NULL;
    ok = obs != NULL;
    for (size_t i = 0; ok && v->obs && i < s->n_nodes; i++) {
        const md_view_obs *b = &v->obs[i];
        if (!b->present) {
            ok = add(obs, s->nodes[i].id, cJSON_CreateNull());
            continue;
        }
        cJSON *e = cJSON_AddObjectToObject(obs, s->nodes[i].id);
        ok = e && add_str(e, "state", md_state_name((md_state)b->state)) &&
             add_str(e, "vote", md_vote_name((md_vote)b->vote)) &&
             add_num(e, "age_ms", (double)b->age_ms) && add_num(e, "consecutive_failures", b->consecutive_failures) &&
             add_round(e, "latency_ms", b->latency_us / 1000.0) &&
             add_str(e, "last_error", b->err == MD_ERR_NONE ? NULL : md_err_name((md_err_class)b->err)) &&
             add_time(e, "observed_at", "observed_at_ms", b->observed_at_ms);
    }
    return ok;
}

/* {"samples", "p50", "p99"}: the quantiles are null without samples (a follower has none). */
static cJSON *commit_latency_json(const md_view_consensus *k)
{
    cJSON *o = cJSON_CreateObject();
    bool some = k->commit_lat_samples > 0;
    bool ok = o && add_num(o, "samples", (double)k->commit_lat_samples) &&
              (some ? add_round(o, "p50", k->commit_lat_p50_ms) : add(o, "p50", cJSON_CreateNull())) &&
              (some ? add_round(o, "p99", k->commit_lat_p99_ms) : add(o, "p99", cJSON_CreateNull()));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *cluster_json(const md_view *s, int64_t now_ms)
{
    cJSON *c = cJSON_CreateObject();
    bool ok = c && add_str(c, "name", s->cluster_name) && add_num(c, "quorum", s->cluster_quorum) &&
              add_str(c, "self", s->node_id);
    cJSON *nodes = ok ? cJSON_AddArrayToObject(c, "nodes") : NULL;
    ok = nodes != NULL;
    for (size_t i = 0; ok && i < s->n_nodes; i++) {
        const md_view_node *n = &s->nodes[i];
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(nodes, e);
        if (!ok) {
            cJSON_Delete(e);
            break;
        }
        ok = add_str(e, "id", n->id) && add_str(e, "region", n->region) && add_str(e, "liveness", n->liveness) &&
             add_bool(e, "self", n->is_self) && add_bool(e, "isolated", n->isolated) &&
             add_bool(e, "connected", n->is_self || n->connected) &&
             add_time(e, "last_seen", "last_seen_ms", n->is_self ? now_ms : n->last_seen_ms) &&
             add(e, "last_seen_ago_ms", n->is_self ? cJSON_CreateNumber(0)
                                        : n->last_seen_ms ? cJSON_CreateNumber((double)(now_ms - n->last_seen_ms))
                                                          : cJSON_CreateNull()) &&
             add(e, "rtt_ms", n->rtt_us >= 0 ? cJSON_CreateNumber(n->rtt_us / 1000.0) : cJSON_CreateNull()) &&
             add(e, "match_index", n->match_index >= 0 ? cJSON_CreateNumber((double)n->match_index) : cJSON_CreateNull());
        cJSON *m = ok ? cJSON_AddObjectToObject(e, "messages") : NULL;
        ok = m && add_num(m, "in", (double)n->msgs_in) && add_num(m, "out", (double)n->msgs_out) &&
             add_num(m, "bytes_in", (double)n->bytes_in) && add_num(m, "bytes_out", (double)n->bytes_out);
    }
    const md_view_consensus *k = &s->consensus;
    if (ok && !k->enabled) {
        ok = add(c, "consensus", cJSON_CreateNull());
    } else if (ok) {
        cJSON *r = cJSON_AddObjectToObject(c, "consensus");
        ok = r && add_str(r, "role", k->role) && add_num(r, "term", (double)k->term) &&
             add_str(r, "leader", k->leader_id) && add_num(r, "commit_index", (double)k->commit) &&
             add_num(r, "applied_index", (double)k->applied) && add_num(r, "last_index", (double)k->last_index) &&
             add_num(r, "snapshot_index", (double)k->snapshot_index) && add_bool(r, "lease_valid", k->lease_valid) &&
             add_bool(r, "recovering", k->recovering) &&
             add_num(r, "leader_changes", (double)k->leader_changes) && add_str(r, "failed", k->failed) &&
             add_str(r, "timing", k->timing) && add_num(r, "heartbeat_ms", (double)k->heartbeat_ms) &&
             add_num(r, "election_timeout_ms", (double)k->election_timeout_ms) &&
             add_num(r, "committed_entries_total", (double)k->committed_entries) &&
             add(r, "commit_latency_ms", commit_latency_json(k));
    }
    cJSON *d = ok ? cJSON_AddObjectToObject(c, "dropped") : NULL;
    ok = d != NULL;
    for (int i = 0; ok && s->drop_reason_names && i < MD_VIEW_DROP_REASONS; i++)
        ok = add_num(d, s->drop_reason_names[i], (double)s->drops[i]);
    if (!ok) {
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

static cJSON *service_json(const md_view *s, const md_view_service *v)
{
    cJSON *o = cJSON_CreateObject();
    if (o != NULL && (!add_service_fields(o, v) || !add_cluster_fields(o, s, v) ||
                      (v->failover && !add(o, "failover", md__render_failover_json(v))))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

char *md_render_health_json(const md_view *s, int64_t now_ms)
{
    assert(s != NULL);
    size_t count[MD_STATE_COUNT] = { 0 };
    for (size_t i = 0; i < s->n_services; i++) {
        md_state st = s->services[i].state;
        count[st < MD_STATE_COUNT ? st : MD_STATE_UNKNOWN]++;
    }
    cJSON *root = cJSON_CreateObject();
    bool ok = root && add_str(root, "status", "ok") && add(root, "node", node_json(s, now_ms));
    cJSON *sv = ok ? cJSON_AddObjectToObject(root, "services") : NULL;
    ok = sv && add_num(sv, "total", (double)s->n_services) &&
         add_num(sv, "up", (double)count[MD_STATE_UP]) &&
         add_num(sv, "degraded", (double)count[MD_STATE_DEGRADED]) &&
         add_num(sv, "down", (double)count[MD_STATE_DOWN]) &&
         add_num(sv, "unknown", (double)count[MD_STATE_UNKNOWN]);
    return finish(root, ok);
}

/* The node's actuators (Railway clients): what their tokens reach, and their request budget. */
static cJSON *actuators_json(const md_view *s)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < s->n_actuators; i++) {
        const md_view_actuator *a = &s->actuators[i];
        cJSON *o = cJSON_CreateObject();
        cJSON *budget = o ? cJSON_CreateObject() : NULL;
        bool ok = o && budget && add_str(o, "kind", a->kind) && add_str(o, "token_kind", a->token_kind) &&
                  add_str(o, "state", a->state) && add_str(o, "scope", a->scope) &&
                  add(o, "reaches", a->reach ? cJSON_CreateString(a->reach) : cJSON_CreateNull()) &&
                  add(o, "detail", a->detail ? cJSON_CreateString(a->detail) : cJSON_CreateNull()) &&
                  add_str(o, "services", a->services) && add_time(o, "checked_at", "checked_at_ms", a->checked_ms) &&
                  add_num(budget, "per_hour", a->budget_per_hour) && add_num(budget, "sent_last_hour", a->sent_last_hour) &&
                  add_num(budget, "requests_total", (double)a->requests) &&
                  add_num(budget, "throttled_total", (double)a->throttled) &&
                  add(budget, "limit", a->limit >= 0 ? cJSON_CreateNumber((double)a->limit) : cJSON_CreateNull()) &&
                  add(budget, "remaining", a->remaining >= 0 ? cJSON_CreateNumber((double)a->remaining) : cJSON_CreateNull()) &&
                  add(o, "requests", budget);
        if (!ok) {
            cJSON_Delete(budget);
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* /v1/status in pieces: the head (everything before the services, printed by cJSON with an empty
 * services array whose closing "]}" is cut off), then each service as its own small cJSON tree,
 * then "]}". The pieces join to exactly what printing the whole tree at once gives. */
static bool status_step(md_render_stream *st)
{
    const md_view *s = st->s;
    if (st->section == 0) {
        cJSON *root = cJSON_CreateObject();
        bool ok = root && add_head(root, s, st->now_ms) && add(root, "cluster", cluster_json(s, st->now_ms)) &&
                  add(root, "actuators", actuators_json(s)) && cJSON_AddArrayToObject(root, "services");
        char *head = finish(root, ok);
        size_t n = head ? strlen(head) : 0;
        if (head == NULL || n < 2 || strcmp(head + n - 2, "]}") != 0) {
            free(head);
            st->b.oom = true;
            return false;
        }
        md__buf_put(&st->b, head, n - 2);
        free(head);
        st->section = 1;
        return true;
    }
    if (st->section == 1 && st->item < s->n_services) {
        char *svc = finish(service_json(s, &s->services[st->item]), true);
        if (svc == NULL) {
            st->b.oom = true;
            return false;
        }
        if (st->item > 0)
            md__buf_put(&st->b, ",", 1);
        md__buf_puts(&st->b, svc);
        free(svc);
        st->item++;
        return true;
    }
    if (st->section == 1) {
        md__buf_put(&st->b, "]}", 2);
        st->section = 2;
        return true;
    }
    return false;
}

md_render_stream *md_render_status_stream(const md_view *s, int64_t now_ms)
{
    assert(s != NULL);
    return md__render_stream_new(s, now_ms, status_step);
}

char *md_render_status_json(const md_view *s, int64_t now_ms)
{
    return md__render_all(md_render_status_stream(s, now_ms));
}

static cJSON *history_json(const md_view_service *v)
{
    md_check_result res[MD_HISTORY_LEN];
    size_t n = v->history ? md_history_get(v->history, res, MD_HISTORY_LEN) : 0;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        bool ok = e && add_time(e, "at", "at_ms", res[i].at_ms) &&
                  add_round(e, "latency_ms", res[i].latency_us / 1000.0) &&
                  add_str(e, "result", res[i].err == MD_ERR_NONE ? "ok" : md_err_name(res[i].err));
        if (!ok) {
            cJSON_Delete(e);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, e);
    }
    return arr;
}

char *md_render_service_json(const md_view *s, const char *name, int64_t now_ms)
{
    assert(s != NULL && name != NULL);
    const md_view_service *v = md_view_find(s, name);
    if (v == NULL) {
        return NULL;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *svc = service_json(s, v);
    if (root == NULL || svc == NULL) {
        cJSON_Delete(root);
        cJSON_Delete(svc);
        return NULL;
    }
    if (!add(svc, "history", history_json(v)) || !add_head(root, s, now_ms)) {
        cJSON_Delete(svc);
        return finish(root, false);
    }
    return finish(root, add(root, "service", svc));
}

char *md_render_cluster_json(const md_view *s, int64_t now_ms)
{
    assert(s != NULL);
    cJSON *root = cJSON_CreateObject();
    bool ok = root && add_head(root, s, now_ms) && add(root, "cluster", cluster_json(s, now_ms));
    return finish(root, ok);
}

char *md_render_error_json(int code, const char *message)
{
    cJSON *root = cJSON_CreateObject(), *err = cJSON_CreateObject();
    bool ok = root && err && add_num(err, "code", code) && add_str(err, "message", message);
    if (!ok) {
        cJSON_Delete(err);
        return finish(root, false);
    }
    return finish(root, add(root, "error", err));
}
