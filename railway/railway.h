/* railway.h: the Railway GraphQL client medic's remediation uses: restart, redeploy and roll back a
 * service's deployment, poll deployment status, list recent deployments.
 *
 * Asynchronous on the caller's loop, with no event library of its own: the caller hands the client
 * a way to run libcurl easy transfers (typically its curl multi driven by libuv) and one-shot
 * timers (for backoff and status polls). No function here blocks, none owns a thread, and every
 * callback arrives from the caller's own transfer or timer callbacks, never from inside rw_start.
 *
 * Tokens: read once from the environment variable the caller names (or given directly), sent as
 * `Authorization: Bearer <t>` (account, workspace, OAuth tokens) or `Project-Access-Token: <t>`
 * (project tokens). A token never appears in a result summary or a log message: every text the
 * client produces is scrubbed of it, even when the server echoes it back. */
#ifndef RW_RAILWAY_H
#define RW_RAILWAY_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RW_DEFAULT_ENDPOINT "https://backboard.railway.com/graphql/v2"
#define RW_ID_MAX 64        /* deployment, service and environment ids (UUIDs are 36) */
#define RW_SUMMARY_MAX 512  /* a result's human summary, NUL included */
#define RW_LIST_MAX 100     /* most deployments one list (or activeDeployments) returns */

typedef struct rw_client rw_client;

typedef enum { RW_TOKEN_BEARER = 0, RW_TOKEN_PROJECT } rw_token_kind;

/* What happened to an operation. Retryable classes are retried inside the operation while its
 * deadline allows, so a result carrying one means the retries ran out. */
typedef enum {
    RW_OK = 0,
    RW_ERR_AUTH,          /* missing or rejected token ("Not Authorized", "Project Token not found",
                           * 401/403 with JSON): never retried, alert a person */
    RW_ERR_RATE_LIMIT,    /* 429; Retry-After honoured; also when Retry-After exceeds the deadline */
    RW_ERR_SERVER,        /* 5xx, or a GraphQL INTERNAL_SERVER_ERROR: retried with backoff */
    RW_ERR_NETWORK,       /* connect, resolve, reset: retried with backoff */
    RW_ERR_TIMEOUT,       /* a request timed out (retried), or the operation's deadline passed */
    RW_ERR_GRAPHQL,       /* other GraphQL errors (bad input, validation, not found): not retried */
    RW_ERR_NOT_JSON,      /* an answer that is not JSON (a Cloudflare HTML page...): retried */
    RW_ERR_BAD_ANSWER,    /* JSON that does not have the schema's shape, an unexpected status */
    RW_ERR_PRECONDITION,  /* nothing to act on: no running deployment, no rollback target... */
    RW_ERR_DEPLOY_FAILED, /* waiting saw the new deployment end FAILED, CRASHED, REMOVED, SKIPPED */
    RW_ERR_INTERNAL,      /* out of memory, curl refused a handle, the caller's start failed */
} rw_class;
#define RW_CLASS_COUNT (RW_ERR_INTERNAL + 1)

/* The schema's DeploymentStatus values, plus UNKNOWN for a value this client does not know. */
typedef enum {
    RW_ST_UNKNOWN = 0,
    RW_ST_BUILDING,
    RW_ST_CRASHED,
    RW_ST_DEPLOYING,
    RW_ST_FAILED,
    RW_ST_INITIALIZING,
    RW_ST_NEEDS_APPROVAL,
    RW_ST_QUEUED,
    RW_ST_REMOVED,
    RW_ST_REMOVING,
    RW_ST_SKIPPED,
    RW_ST_SLEEPING,
    RW_ST_SUCCESS,
    RW_ST_WAITING,
} rw_status;

typedef struct {
    char id[RW_ID_MAX];
    rw_status status;
    bool can_redeploy;
    bool can_rollback;
    char created_at[40]; /* DateTime as the server wrote it, "" if absent */
    int64_t created_ms;  /* createdAt as epoch ms, 0 if unparseable */
    int64_t live_since_ms; /* SUCCESS deployments: statusUpdatedAt as epoch ms, i.e. when it went live
                            * (or came back after a restart); 0 for other statuses or when unknown */
} rw_deployment;

/* rw_serving_deployment picks, among a service's activeDeployments, the one serving traffic:
 * a SUCCESS deployment, and with several (Railway keeps the old one SUCCESS while a new one takes
 * over, overlapSeconds/drainingSeconds) the one that went live last (largest live_since_ms, then
 * newest created_ms, then the first listed); with no SUCCESS one, a SLEEPING one (a serverless
 * service wakes on traffic). CRASHED and other statuses serve nothing: NULL. Pure. */
const rw_deployment *rw_serving_deployment(const rw_deployment *active, size_t n);

typedef enum {
    RW_OP_RESTART,    /* deploymentRestart on the service's running deployment */
    RW_OP_REDEPLOY,   /* deploymentRedeploy of the running deployment, else of known_good; never
                       * of a newer FAILED/CRASHED build */
    RW_OP_ROLLBACK,   /* deploymentRollback to the target or the newest earlier rollbackable one */
    RW_OP_DEPLOYMENT, /* deployment(id) status poll */
    RW_OP_INSTANCE,   /* serviceInstance: latestDeployment and activeDeployments */
    RW_OP_LIST,       /* deployments(): the most recent ones, newest first */
    RW_OP_CHECK_TOKEN,/* which kind of token this is and what it reaches (rw_result.token); no
                       * request fields needed. Project token: projectToken { projectId
                       * environmentId }. Bearer: apiToken { workspaces { id } }, then me { id },
                       * which only an account token may call ("Not Authorized" = a workspace or
                       * OAuth token). Never reveals the token. */
    RW_OP_CALL,       /* one provisioning document (rw_request.call) with the caller's variables
                       * (rw_request.vars_json); rw_result.data_json is the answer's data */
} rw_op_kind;
#define RW_OP_COUNT (RW_OP_CALL + 1)

/* The documents `medic railway provision|regions|check` sends through RW_OP_CALL, each one
 * constant in documents.c (validated against Railway's schema by tests/schema). Variables are the
 * document's own, as JSON; documents.c names them. A mutation here is never resent after a
 * failure that leaves it unknown whether it ran (a timeout after sending, a reset): the call ends
 * with that error (reached true), and the provisioner's next run reads what exists first. */
typedef enum {
    RW_CALL_REGIONS = 0,   /* regions(projectId) { name country location deprecation } */
    RW_CALL_PROJECT,       /* project(id) { id name services { id name } } */
    RW_CALL_ENVIRONMENT,   /* environment(id, projectId) { service instances with their settings
                            * and latest deployment, volume instances } */
    RW_CALL_VARIABLES,     /* variables(projectId, environmentId, serviceId): a JSON map */
    RW_CALL_SERVICE_CREATE,     /* serviceCreate(input) { id name } */
    RW_CALL_VOLUME_CREATE,      /* volumeCreate(input) { id name } */
    RW_CALL_VARIABLES_UPSERT,   /* variableCollectionUpsert(input): Boolean! */
    RW_CALL_INSTANCE_UPDATE,    /* serviceInstanceUpdate(serviceId, environmentId, input): Boolean! */
    RW_CALL_PROJECT_TOKEN_CREATE, /* projectTokenCreate(input): String! (the new token) */
    RW_CALL_DEPLOY,             /* serviceInstanceDeployV2(serviceId, environmentId): String! */
} rw_call_doc;
#define RW_CALL_COUNT (RW_CALL_DEPLOY + 1)
/* rw_call_name: the document's operationName ("MedicRegions", ...), or "?" */
const char *rw_call_name(rw_call_doc d);

/* What a token turned out to be (RW_OP_CHECK_TOKEN). */
typedef enum {
    RW_SCOPE_UNKNOWN = 0,
    RW_SCOPE_PROJECT,   /* a project token: one environment of one project */
    RW_SCOPE_ACCOUNT,   /* a Bearer token that may call me: an account token */
    RW_SCOPE_WORKSPACE, /* a Bearer token refused me: a workspace (or OAuth) token */
} rw_token_scope;

#define RW_WORKSPACES_MAX 8
typedef struct {
    rw_token_scope scope;
    char project_id[RW_ID_MAX];     /* project tokens */
    char environment_id[RW_ID_MAX]; /* project tokens */
    char workspace_ids[RW_WORKSPACES_MAX][RW_ID_MAX]; /* Bearer tokens: apiToken.workspaces (ids only:
                                                       * names may be personal) */
    size_t n_workspaces;            /* listed above, at most RW_WORKSPACES_MAX */
    size_t n_workspaces_total;      /* as many as the answer held */
} rw_token_info;

/* One operation's parameters. Strings are copied by rw_start; the caller keeps ownership. */
typedef struct {
    const char *service_id;     /* RESTART, REDEPLOY, ROLLBACK, INSTANCE, LIST */
    const char *environment_id; /* same */
    const char *deployment_id;  /* DEPLOYMENT: the one to poll. RESTART, REDEPLOY: act on this one
                                 * instead of looking the service up (optional) */
    const char *known_good;     /* REDEPLOY: the last healthy deployment (the ledger's known-good),
                                 * rebuilt when no deployment is running (optional) */
    const char *rollback_target;/* ROLLBACK: the ledger's last-known-good (optional). When given,
                                 * it must be listed with canRollback and not avoided, or the
                                 * result is RW_ERR_PRECONDITION: never a silent other choice */
    const char *const *avoid;   /* ROLLBACK: deployments that belong to the current incident */
    size_t n_avoid;
    uint32_t deadline_ms;       /* budget for the whole operation, retries and waiting included;
                                 * 0 = the client's default */
    bool wait;                  /* RESTART, REDEPLOY, ROLLBACK: after the mutation, poll until the
                                 * deployment is SUCCESS (RW_OK) or failed, or the deadline */
    bool background;            /* a lookup that can wait (known-good tracking): it may use only
                                 * half of the hourly budget, so remediation always has the rest */
    unsigned first;             /* LIST, and ROLLBACK's search: how many, 0 = 20, at most 100 */
    rw_call_doc call;           /* CALL: which document */
    const char *vars_json;      /* CALL: its variables as a JSON object (NULL = {}) */
} rw_request;

/* The outcome. Valid only during the done callback; copy what you keep. */
typedef struct {
    rw_op_kind op;
    rw_class cls;
    unsigned attempts;        /* HTTP requests sent, polls and lookups included */
    long http_status;         /* of the last answer, 0 when none arrived */
    uint64_t elapsed_ms;
    /* reached: false when the operation certainly did not reach Railway's actuator, so it is no
     * attempt and may be tried again (after retry_after_ms): the token was refused or missing,
     * rate limited (a 429, or this client's own request budget) past the deadline, the API
     * unreachable, or every answer a 5xx or a non-JSON (Cloudflare) page, the caller's start
     * failed. true when the mutation was accepted, or may have been (a timeout or a broken
     * connection after it was sent), and when Railway answered definitively (a GraphQL error,
     * nothing to act on, a malformed answer: trying again gives the same answer). Once a
     * mutation is accepted, failures of the polls that follow keep it true. Queries: true when
     * an answer arrived that settles the question. */
    bool reached;
    /* retry_after_ms: the server's last Retry-After in this operation, or when the operation
     * ended rate limited without one, the time until the rate-limit window resets (or until this
     * client's budget allows the next request); 0 if none */
    uint32_t retry_after_ms;
    char summary[RW_SUMMARY_MAX]; /* one line for people and the ledger; never holds the token */
    char deployment_id[RW_ID_MAX];     /* the deployment acted on or polled ("" when none) */
    char new_deployment_id[RW_ID_MAX]; /* REDEPLOY: the new deployment; ROLLBACK: the one the
                                        * rollback created, when waiting saw it; else "" */
    rw_status status;         /* last seen status of new_deployment_id, else of deployment_id */
    const rw_deployment *latest;      /* INSTANCE (and lookups): latestDeployment, NULL if none */
    const rw_deployment *deployments; /* INSTANCE: activeDeployments; LIST: the list. Owned by the
                                       * client, valid during the callback */
    size_t n_deployments;
    rw_token_info token;      /* CHECK_TOKEN: what the token reaches (zero otherwise) */
    const char *data_json;    /* CALL with RW_OK: the answer's "data" object as JSON text (it may
                               * hold a new token: never log it); owned by the client, valid
                               * during the callback; NULL otherwise */
} rw_result;

typedef void (*rw_done_fn)(const rw_result *res, void *arg);

/* How the client runs transfers and timers on the caller's loop. */
typedef void (*rw_xfer_done_fn)(CURL *easy, CURLcode rc, void *arg);
typedef struct {
    void *ctx; /* passed back to every callback */
    /* start runs easy (the client owns it and set every option except CURLOPT_PRIVATE, which the
     * host may use) and later calls done(easy, rc, arg) exactly once from the loop, not from
     * inside start. Returns 0, or a negative code when it cannot (no callback then). */
    int (*start)(void *ctx, CURL *easy, rw_xfer_done_fn done, void *arg);
    /* cancel stops a started transfer without calling done; the client frees easy afterwards. */
    void (*cancel)(void *ctx, CURL *easy);
    /* timer_start calls fire(arg) once after delay_ms from the loop. Returns a handle, or NULL.
     * The handle is dead once fire has been called. */
    void *(*timer_start)(void *ctx, uint64_t delay_ms, void (*fire)(void *arg), void *arg);
    /* timer_cancel cancels a timer that has not fired; fire is never called then. */
    void (*timer_cancel)(void *ctx, void *timer);
    /* now_ms: a monotonic clock in ms. Optional: CLOCK_MONOTONIC when NULL. */
    uint64_t (*now_ms)(void *ctx);
    /* log: optional; level 0 debug, 1 info, 2 warn, 3 error. msg is scrubbed of the token. */
    void (*log)(void *ctx, int level, const char *msg);
    /* wall_ms: optional; the wall clock in epoch ms (CLOCK_REALTIME when NULL), only to read an
     * X-RateLimit-Reset given as an epoch time. */
    int64_t (*wall_ms)(void *ctx);
} rw_host;

typedef struct {
    const char *endpoint;       /* NULL = RW_DEFAULT_ENDPOINT; http(s) only */
    const char *token_env;      /* environment variable holding the token */
    const char *token;          /* or the token itself (wins over token_env); copied */
    rw_token_kind token_kind;
    const char *user_agent;     /* NULL = "medic/<version> railway-client" */
    uint64_t seed;              /* seeds the jitter PRNG; the client calls no rand() */
    uint32_t deadline_ms;       /* default operation budget; 0 = 60000 */
    uint32_t request_timeout_ms;/* one HTTP request; 0 = 15000 (capped by the deadline left) */
    uint32_t backoff_base_ms;   /* first retry delay; 0 = 500 */
    uint32_t backoff_max_ms;    /* cap on one delay; 0 = 30000 */
    uint32_t poll_interval_ms;  /* first wait between status polls; 0 = 2000. Each next one is 1.5
                                 * times longer, up to poll_max_ms */
    uint32_t poll_max_ms;       /* 0 = 15000 (at least poll_interval_ms) */
    /* budget_per_hour: most requests this client sends in any hour, across every operation and
     * service it serves; 0 = RW_DEFAULT_BUDGET_PER_HOUR. The server's X-RateLimit-* headers pace
     * it further (see rw_stats). */
    uint32_t budget_per_hour;
    rw_host host;
} rw_config;

/* The default request budget: Railway's smallest plan (Free/Trial) allows 100 requests an hour
 * per token. 80 leaves a fifth of that for the other nodes of a cluster sharing the token (each
 * checks it once at start, a new leader looks up its known-good deployments) and for the window
 * boundaries of two clocks, and still covers one whole ladder (3 restarts, 2 waited redeploys and
 * a rollback are about 45 requests with the 2 s -> 15 s poll backoff). Larger plans (Hobby 1000,
 * Pro 10000) raise budget_per_hour. */
#define RW_DEFAULT_BUDGET_PER_HOUR 80u
#define RW_BUDGET_MAX 36000u /* budget_per_hour is capped here (10 a second) */

/* Counters and the last rate-limit state, for /metrics. */
struct rw_stats {
    uint64_t requests;                 /* HTTP requests sent */
    uint64_t answers[RW_CLASS_COUNT];  /* exchanges by class (RW_OK: a usable answer) */
    uint64_t throttled;                /* times a request waited for the budget or the limit */
    uint64_t throttled_ms;             /* total of those waits */
    uint32_t budget_per_hour;          /* in effect */
    uint32_t sent_last_hour;           /* requests sent in the last hour */
    int64_t limit;                     /* last X-RateLimit-Limit, -1 if never seen */
    int64_t remaining;                 /* last X-RateLimit-Remaining (less what was sent since), -1 */
    uint64_t reset_in_ms;              /* until the server's window resets, 0 if unknown or past */
};

/* rw_client_new copies cfg (strings included) and reads the token. A missing token is not an
 * error here: operations then fail with RW_ERR_AUTH, which the caller reports. Returns 0 and
 * *out, -EINVAL for a bad config (no host callbacks, bad endpoint scheme), -ENOMEM. */
int rw_client_new(const rw_config *cfg, rw_client **out);

/* rw_client_free cancels every running operation (their done callbacks are not called), wipes
 * the token and frees c. Not from inside a done callback of c. NULL is ignored. */
void rw_client_free(rw_client *c);

/* rw_start begins one operation; done(res, arg) follows exactly once, later, from the loop.
 * *op_id (may be NULL) identifies it for rw_cancel. Returns 0, -EINVAL for a missing
 * parameter (no callback then), -ENOMEM. */
int rw_start(rw_client *c, rw_op_kind op, const rw_request *req, rw_done_fn done, void *arg,
             uint64_t *op_id);

/* rw_cancel stops an operation without calling its done callback. Unknown ids are ignored.
 * Returns 0 when it cancelled one, -ENOENT otherwise. */
int rw_cancel(rw_client *c, uint64_t op_id);

/* rw_running counts operations in progress. */
size_t rw_running(const rw_client *c);

/* rw_stats fills *out with c's counters and last rate-limit state. Never blocks; may be called
 * from a done callback. */
void rw_stats(const rw_client *c, struct rw_stats *out);

/* Names for logs and JSON: "ok", "auth", "rate_limit", ...; "BUILDING", ... (schema spelling);
 * "restart", "redeploy", ... */
const char *rw_class_name(rw_class c);
const char *rw_status_name(rw_status s);
const char *rw_op_name(rw_op_kind k);
const char *rw_token_scope_name(rw_token_scope s); /* "project", "account", "workspace", "unknown" */
/* rw_status_parse maps the schema's spelling; RW_ST_UNKNOWN for anything else. */
rw_status rw_status_parse(const char *s);

/* rw_documents_json returns every GraphQL document the client can send, as a JSON array of
 * {"name","text","variables"} with example variables (malloc'd; the caller frees). For the
 * schema contract test. NULL on allocation failure. */
char *rw_documents_json(void);

#endif
