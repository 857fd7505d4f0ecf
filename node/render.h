/* render.h: the API's documents, rendered from a snapshot only (JSON via cJSON, Prometheus text).
 * Every function returns a malloc'd NUL-terminated string the caller frees, or NULL on OOM. */
#ifndef MD_RENDER_H
#define MD_RENDER_H

#include <stdint.h>

#include "snapshot.h"

/* GET /v1/health: {"status":"ok","node":{...,"uptime_s":N},"services":{"total":N,"up":N,...}}.
 * now_ms is wall ms. The exact shapes of every document are in docs/api.md. */
char *md_render_health_json(const md_snapshot *s, int64_t now_ms);
/* GET /v1/status: the node and every service (no per-check history). */
char *md_render_status_json(const md_snapshot *s, int64_t now_ms);
/* GET /v1/services/{name}: one service with its last results; NULL also when name is unknown
 * (check md_snapshot_find first). */
char *md_render_service_json(const md_snapshot *s, const char *name, int64_t now_ms);
/* GET /v1/cluster: membership alone: {"generated_at",...,"node":{...},"cluster":{"name","quorum",
 * "self","nodes":[...],"dropped":{reason: count}}}. */
char *md_render_cluster_json(const md_snapshot *s, int64_t now_ms);
/* GET /metrics: Prometheus text exposition format 0.0.4. */
char *md_render_metrics(const md_snapshot *s, int64_t now_ms);
/* {"error":{"code":404,"message":"..."}} */
char *md_render_error_json(int code, const char *message);

#endif
