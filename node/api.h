/* api.h: the node's HTTP API, served on the loop from published snapshots only. */
#ifndef MD_API_H
#define MD_API_H

#include <uv.h>

#include "snapshot.h"

typedef struct md_api md_api;

/* md_api_start listens on host:port on loop and serves /v1/health, /v1/status,
 * /v1/services/{name} and /metrics from the snapshots published in holder (borrowed; must
 * outlive the api). Returns 0 with *out set, or a negative uv error with err filled. */
int md_api_start(uv_loop_t *loop, const char *host, int port, md_snap_holder *holder,
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

#endif
