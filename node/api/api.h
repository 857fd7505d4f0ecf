/* api.h: what readers get: the HTTP API and the renderers of a view (JSON documents,
 * Prometheus metrics, the periodic status block). */
#ifndef MD_API_H
#define MD_API_H

#include <uv.h>
#include <stdint.h>
#include <stdio.h>

#include "view/view.h"

/* The node's HTTP API, served on the loop from published views only. */

typedef struct md_api md_api;

/* md_api_start listens on host:port on loop and serves /v1/health, /v1/status,
 * /v1/services/{name}, /v1/history, /metrics and the dashboard page (/, /ui/...) from the views
 * published in holder (borrowed; must outlive the api). Returns 0 with *out set, or a negative uv
 * error with err filled. */
int md_api_start(uv_loop_t *loop, const char *host, int port, md_view_holder *holder,
                 md_api **out, char *err, size_t errlen);

/* Operator actions (POST /v1/services/{name}/pause|resume|ack): the API checks the admin token
 * and the service name, then calls fn(ctx, action, service, reason, &status, body, body_len),
 * which fills status (e.g. 202) and a JSON body. Runs on the loop; must not block. */
typedef void (*md_api_action_fn)(void *ctx, const char *action, const char *service, const char *reason,
                                 int *status, char *body, size_t body_len);

/* md_api_set_actions enables the operator actions. admin_token (copied) NULL disables them: they
 * answer 403. Without this call they answer 403 as well. */
int md_api_set_actions(md_api *api, const char *admin_token, md_api_action_fn fn, void *ctx);

/* md_api_bound_port returns the port actually bound (useful with port 0). */
int md_api_bound_port(const md_api *api);

/* md_api_close stops listening, drops open connections and frees api once its handles closed. */
void md_api_close(md_api *api);

/* The API's documents, rendered from a view only (JSON via cJSON, Prometheus text).
 * Every function returns a malloc'd NUL-terminated string the caller frees, or NULL on OOM. */

/* GET /v1/health: {"status":"ok","node":{...,"uptime_s":N},"services":{"total":N,"up":N,...}}.
 * now_ms is wall ms. The exact shapes of every document are in docs/api.md. */
char *md_render_health_json(const md_view *s, int64_t now_ms);
/* GET /v1/status: the node and every service (no per-check history). */
char *md_render_status_json(const md_view *s, int64_t now_ms);
/* GET /v1/services/{name}: one service with its last results; NULL also when name is unknown
 * (check md_view_find first). */
char *md_render_service_json(const md_view *s, const char *name, int64_t now_ms);
/* GET /v1/cluster: membership alone: {"generated_at",...,"node":{...},"cluster":{"name","quorum",
 * "self","nodes":[...],"dropped":{reason: count}}}. */
char *md_render_cluster_json(const md_view *s, int64_t now_ms);
/* GET /v1/history: {"node":ID,"max_points":100,"services":[{"name","interval_ms","slow_ms",
 * "points":[[at_ms,latency_ms,"ok"|class],...]}]}, oldest point first; no "now" in it. */
char *md_render_history_json(const md_view *s);
/* GET /v1/resolve/{name}: the service's active endpoint and its breakers (docs/failover.md); NULL
 * also when name is unknown or has no endpoints. */
char *md_render_resolve_json(const md_view *s, const char *name, int64_t now_ms);
/* GET /metrics: Prometheus text exposition format 0.0.4. */
char *md_render_metrics(const md_view *s, int64_t now_ms);
/* Streams: the big documents (/metrics, /v1/status) rendered a chunk at a time, so the whole text is
 * never in memory at once. The view s is borrowed: hold a reference until md_render_stream_free.
 * The chunks joined are byte for byte what md_render_metrics / md_render_status_json return. */
typedef struct md_render_stream md_render_stream;
/* md_render_metrics_stream and md_render_status_stream return a new stream, or NULL on OOM. */
md_render_stream *md_render_metrics_stream(const md_view *s, int64_t now_ms);
md_render_stream *md_render_status_stream(const md_view *s, int64_t now_ms);
md_render_stream *md_render_history_stream(const md_view *s);
/* md_render_stream_next renders the next chunk (about 64 KiB) and sets *out to it (owned by the
 * stream, valid until the next call or free). Returns its length, 0 once the document is complete,
 * or -ENOMEM. */
long md_render_stream_next(md_render_stream *st, const char **out);
void md_render_stream_free(md_render_stream *st);

/* {"error":{"code":404,"message":"..."}} */
char *md_render_error_json(int code, const char *message);

/* The status block printed every status_print_interval_ms, like the seed's dashboard. */

/* md_status_print writes the block for view s to out (text mode), or, when json is set,
 * one "status" log event per service. now_ms is wall ms. */
void md_status_print(FILE *out, const md_view *s, int64_t now_ms, int json);
/* md_status_print_part prints the services from index from, at most max of them (with the header
 * when from is 0, the footer with the last), and returns the index to go on from: n_services once
 * done. A node's loop prints a large block over many turns this way. */
size_t md_status_print_part(FILE *out, const md_view *s, size_t from, size_t max, int64_t now_ms, int json);

#endif
