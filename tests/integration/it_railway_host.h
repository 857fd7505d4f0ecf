/* it_railway_host.h: test fixtures for the Railway client: a minimal libuv loop with the node's
 * curl multi driver that hosts an rw_client (transfers, timers, captured log lines), and the
 * fake Railway API as a real process with its control endpoints. Blocking helpers: tests only. */
#ifndef IT_RAILWAY_HOST_H
#define IT_RAILWAY_HOST_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/base.h"
#include "heal/heal.h"
#include "railway.h"

typedef struct {
    uv_loop_t loop;
    md_curl_loop *cl;
    md_rw_host *rh;   /* the node's adapter, hosting c on loop */
    rw_client *c;
    char *log;        /* every log line the client emitted, '\n'-separated (owned) */
    size_t log_len;
} rwt_host;

/* A finished operation, deep-copied out of the callback. */
typedef struct {
    bool done;
    rw_result r;
    rw_deployment latest;
    rw_deployment deps[RW_LIST_MAX];
} rwt_outcome;

/* rwt_host_init fills cfg->host with the loop's callbacks and creates the client. 0 or -errno. */
int rwt_host_init(rwt_host *h, rw_config *cfg);
/* rwt_host_fini frees the client, closes the loop and checks that no timer was left behind. */
void rwt_host_fini(rwt_host *h);
/* rwt_run starts one operation and runs the loop until it reports or wall_timeout_ms passes.
 * Returns 0 when it reported, -ETIMEDOUT, or rw_start's error. */
int rwt_run(rwt_host *h, rw_op_kind op, const rw_request *req, rwt_outcome *out, int wall_timeout_ms);
/* rwt_spin runs the loop for ms (lets a cancelled operation's handles settle). */
void rwt_spin(rwt_host *h, int ms);

typedef struct {
    md_proc proc;
    int port;
    char dir[64];
    char endpoint[128]; /* http://127.0.0.1:P/graphql/v2 */
} rwt_fake;

/* rwt_fake_start runs fake_railway with --services services and extra args (NULL-terminated,
 * may be NULL) in a temp state dir and waits up to 10 s for its ready line. 0 or -1. */
int rwt_fake_start(rwt_fake *f, const char *services, const char *const *extra);
/* rwt_fake_stop sends SIGTERM; returns the exit status (0 = clean exit), or -1 if it had to be
 * killed. Removes the state dir. */
int rwt_fake_stop(rwt_fake *f);
/* rwt_fake_call GETs (or POSTs when post) path on the fake; returns the parsed JSON, or NULL. */
cJSON *rwt_fake_call(rwt_fake *f, const char *path, bool post, long *code);
/* rwt_fake_ctl POSTs a control path and returns the HTTP status. */
long rwt_fake_ctl(rwt_fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* rwt_fake_service: the service's entry of /control/services (malloc'd copy), or NULL. */
cJSON *rwt_fake_service(rwt_fake *f, const char *svc);
/* rwt_fake_requests: the request log's array (malloc'd), or NULL. */
cJSON *rwt_fake_requests(rwt_fake *f);
/* rwt_http_status GETs http://127.0.0.1:port/ once (1 s timeout): the status, 0 when refused. */
long rwt_http_status(int port);
int64_t rwt_mono_ms(void);

#endif
