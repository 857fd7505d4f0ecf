/* config.h: the node's configuration: one JSON document, validated, with defaults applied. */
#ifndef MD_CONFIG_H
#define MD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The node's configuration: one JSON document, validated, with defaults applied.
 *
 * Loading never half-succeeds: either a complete md_config comes back, or an error message
 * naming the exact field (for example "services[2].interval_ms: must be a positive integer")
 * and nothing else changes. Callers exit 2 on any load error. */

#define MD_CONFIG_ERR_LEN 512

/* Defaults from the seed document. */
#define MD_DEFAULT_INTERVAL_MS 10000
#define MD_DEFAULT_TIMEOUT_MS 5000
#define MD_DEFAULT_RETRY_INTERVAL_MS 1000
#define MD_DEFAULT_FAILURES_BEFORE_DOWN 2
#define MD_DEFAULT_SUCCESSES_BEFORE_UP 1
#define MD_DEFAULT_SLOW_MS 3000
#define MD_DEFAULT_PREWARM_INTERVAL_MS 30000
#define MD_DEFAULT_STATUS_PRINT_INTERVAL_MS 60000
#define MD_DEFAULT_CERT_WARN_DAYS 14
#define MD_DEFAULT_TREND_WINDOW 10
#define MD_DEFAULT_TREND_HORIZON_MS 60000
#define MD_DEFAULT_API_LISTEN "127.0.0.1:8700"
#define MD_DEFAULT_MAX_CONCURRENT_CHECKS 1024
#define MD_DEFAULT_EWMA_ALPHA 0.3
/* Failover (docs/failover.md): breakers, failback, the proxy. */
#define MD_DEFAULT_BREAKER_FAILURES 2
#define MD_DEFAULT_BREAKER_SUCCESSES 2
#define MD_DEFAULT_BREAKER_OPEN_MS 1000
#define MD_DEFAULT_BREAKER_OPEN_MAX_MS 30000
#define MD_DEFAULT_FAILBACK_AFTER_MS 5000
#define MD_DEFAULT_PROXY_MAX_CONNECTIONS 4096
#define MD_DEFAULT_PROXY_CONNECT_TIMEOUT_MS 1000
#define MD_DEFAULT_PROXY_IDLE_TIMEOUT_MS 300000
#define MD_DEFAULT_PROXY_RESOLVE_MS 5000
#define MD_MAX_ENDPOINTS 16

typedef enum { MD_CHECK_HTTP = 0, MD_CHECK_TCP } md_check_kind;
typedef enum { MD_ACTUATOR_NONE = 0, MD_ACTUATOR_RAILWAY, MD_ACTUATOR_EXEC } md_actuator_kind;

#define MD_DEFAULT_RESTART_ATTEMPTS 3
#define MD_DEFAULT_RESTART_INTERVAL_MS 10000
#define MD_DEFAULT_REDEPLOY_ATTEMPTS 2
#define MD_DEFAULT_RESTART_TIMEOUT_MS 30000
#define MD_DEFAULT_REDEPLOY_TIMEOUT_MS 120000
#define MD_DEFAULT_ROLLBACK_TIMEOUT_MS 60000
#define MD_DEFAULT_VERIFY_AFTER_MS 5000
#define MD_DEFAULT_REOPEN_WINDOW_MS 600000
#define MD_DEFAULT_MAX_ACTIONS_PER_HOUR 10
#define MD_DEFAULT_KNOWN_GOOD_AFTER_MS 600000
#define MD_DEFAULT_EXEC_TIMEOUT_MS 60000
#define MD_DEFAULT_SPLIT_ALERT_AFTER_MS 60000
#define MD_DEFAULT_RAILWAY_ENDPOINT "https://backboard.railway.com/graphql/v2"
#define MD_DEFAULT_RAILWAY_BUDGET 80 /* requests per hour per token: the smallest plan allows 100 */

typedef struct {
    char *name;  /* owned by the config */
    char *value; /* owned by the config; may hold a secret */
} md_header;

/* One endpoint of a service (failover): where it is and how it is checked. */
typedef struct {
    char *target;  /* as written: a URL (HTTP services) or host:port (TCP services) */
    char *host;    /* the URL's or target's host, without brackets */
    int port;      /* the explicit port; 0 when a URL gives none (refused when proxy.listen is set) */
} md_endpoint_config;

/* A service's failover fields (docs/failover.md): its endpoints, breaker, failback and proxy. */
typedef struct {
    /* endpoints[0] is the primary (equal to url, or to tcp), then the backups; none
     * (n_endpoints 0) when the service lists no endpoints */
    md_endpoint_config *endpoints;
    size_t n_endpoints;
    int breaker_failures;         /* 2: consecutive failures that open an endpoint's breaker */
    int breaker_successes;        /* 2: successes that close a half-open one */
    int64_t breaker_open_ms;      /* 1000: first open period, doubled on each re-open */
    int64_t breaker_open_max_ms;  /* 30000: the cap on that doubling */
    int64_t failback_after_ms;    /* 5000: an earlier endpoint takes traffic back once closed this long */
    char *proxy_listen;           /* NULL: no proxy; else "host:port" as written */
    char *proxy_host;             /* parsed from proxy_listen */
    int proxy_port;
    int proxy_max_connections;    /* 4096 */
    int64_t proxy_connect_timeout_ms; /* 1000: one connection attempt to one endpoint */
    int64_t proxy_idle_timeout_ms;    /* 300000: a proxied connection with no bytes either way */
    int64_t proxy_resolve_ms;         /* 5000: an endpoint's host name is resolved again after this */
} md_service_failover;

/* A service's remediation fields: the ladder restart x restart_attempts -> redeploy x
 * redeploy_attempts -> rollback -> exhausted, with the seed's defaults, and its actuator. */
typedef struct {
    int restart_attempts;         /* 3 */
    int redeploy_attempts;        /* 2 */
    int64_t restart_interval_ms;  /* 10000: a restart is judged (and the next one may run) after this */
    int max_actions_per_hour;     /* 10 */
    md_actuator_kind actuator;    /* none: alert only */
    int64_t restart_timeout_ms;   /* 30000: bound on one restart call (Railway; exec uses exec.timeout_ms) */
    int64_t redeploy_timeout_ms;  /* 120000 */
    int64_t rollback_timeout_ms;  /* 60000 */
    int64_t verify_after_ms;      /* 5000: grace after an action before success is judged */
    int64_t reopen_window_ms;     /* 600000: a relapse within this continues the last incident's ladder */
    int64_t known_good_after_ms;  /* 600000: UP this long on a deployment makes it last-known-good */
    bool railway_project_token;   /* kind of railway_token: true Project-Access-Token, false Bearer */
    char *railway_service_id;     /* actuator railway */
    char *railway_environment_id;
    char *railway_token;          /* the service's own token (another project's); NULL: remediation.railway's */
    char **exec_restart;          /* actuator exec: NULL-terminated argv lists, each may be NULL */
    char **exec_redeploy;
    char **exec_rollback;
    int64_t exec_timeout_ms;      /* 60000 */
} md_service_remedy;

/* Everything about one watched service. Every string is owned by the md_config. */
typedef struct {
    /* Small fields sit in pairs (an int beside an int, bools beside an int) so the record, one a
     * service, carries no padding: 48 bytes of it went to alignment. */
    char *name;
    md_check_kind kind;
    /* HTTP(S) checks (kind == MD_CHECK_HTTP) */
    int expect_status;     /* 0: any 2xx; otherwise exactly this status */
    char *url;
    const char *method;    /* default "GET"; a static string (one of the five allowed), not a copy
                            * (32 bytes of heap a service) */
    char *expect_body;     /* NULL: body not checked; else a substring the body must contain */
    md_header *headers;
    size_t n_headers;
    char *ca_file;         /* NULL: system CA store */
    bool tls_verify;       /* default true */
    bool keepalive;        /* default true: reuse connections between checks */
    bool prewarm;          /* default false (pre-warming, below) */
    bool shadow;           /* judge and record, never act (remediation, below; also remediation.mode "shadow") */
    /* TCP checks (kind == MD_CHECK_TCP): "host:port" split in two */
    int tcp_port;
    char *tcp_host;
    /* thresholds */
    int64_t interval_ms;
    int64_t timeout_ms;    /* always < interval_ms */
    int64_t retry_interval_ms; /* after a failure short of DOWN, the next check comes this soon; <= interval_ms */
    int64_t slow_ms;
    int failures_before_down;
    int successes_before_up;
    int cert_warn_days;
    int trend_window;       /* samples in the least-squares window, >= 3 */
    int64_t trend_horizon_ms; /* warn when the trend crosses slow_ms within this; 0 disables */
    double ewma_alpha;      /* (0,1], default 0.3 */
    /* pre-warming (and prewarm, above) */
    char *prewarm_url;      /* defaults to url when prewarm is true; NULL when prewarm is false */
    int64_t prewarm_interval_ms;
    /* cluster */
    int quorum;             /* nodes that must agree for a cluster verdict; resolved, never 0 */
    /* Failover and remediation, out of line: nearly every service keeps the defaults, so those
     * share one block (md_config.failover_shared, .remedy_shared) and only a service with values
     * of its own (endpoints, a proxy, an actuator, its own ladder) has a block of its own: 230
     * bytes a service inline. Never NULL in a parsed config; read-only (blocks are shared). */
    const md_service_failover *failover;
    const md_service_remedy *remedy;
} md_service_config;

#define MD_DEFAULT_GOSSIP_INTERVAL_MS 1000
#define MD_DEFAULT_MAX_MESSAGE_BYTES (1024 * 1024)
#define MD_CLUSTER_MAX_NODES 16
#define MD_CLUSTER_MIN_SECRET 16
#define MD_LAN_HEARTBEAT_MS 100
#define MD_LAN_ELECTION_MS 1000
#define MD_WAN_HEARTBEAT_MS 300
#define MD_WAN_ELECTION_MS 3000

/* Another node of the cluster. Strings are owned by the md_config. */
typedef struct {
    char *id;
    char *address;   /* "tcp://host:port" or "tls+tcp://host:port" */
    char *region;    /* default "unknown" (also when written as "unknown") */
} md_peer_config;

/* The cluster section. Without one, the node is a cluster of one: its own view is the verdict. */
typedef struct {
    bool enabled;
    char *name;
    char *secret;           /* NULL when not set (refused at start unless --insecure-dev) */
    char *listen;           /* our cluster address */
    md_peer_config *peers;  /* every other node (self excluded even if listed) */
    size_t n_peers;
    int n_nodes;            /* peers + self */
    int quorum;             /* default for services: a majority of n_nodes */
    bool allow_two_nodes;
    int64_t gossip_interval_ms;
    int64_t peer_suspect_ms;
    int64_t peer_dead_ms;
    int64_t max_message_bytes;
    int64_t links_per_peer; /* TCP connections to each peer, every message on each: 1..4; 2 with the
                             * wan profile (a lossy link stalls one connection for seconds), else 1 */
    /* consensus timing: a profile ("lan": 100/1000 ms, "wan": 300/3000 ms), each overridable */
    char *timing;           /* "lan" or "wan": cluster.timing, else "wan" when nodes are in 2+ regions */
    char *timing_reason;    /* why (for the log): "set in cluster.timing", "nodes in 3 regions (a, b, c)"... */
    int64_t heartbeat_ms;
    int64_t election_timeout_ms; /* timeouts are drawn from [this, 2 x this) */
    int64_t lease_drift_ms;      /* margin for clock drift taken off the leader lease */
    char *tls_cert_file;    /* all three or none */
    char *tls_key_file;
    char *tls_ca_file;
} md_cluster_config;

typedef enum { MD_LOGFMT_TEXT = 0, MD_LOGFMT_JSON } md_log_format;

typedef enum { MD_WEBHOOK_GENERIC = 0, MD_WEBHOOK_SLACK, MD_WEBHOOK_DISCORD } md_webhook_format;

/* Where alerts go. The URL and header values are secrets (Slack puts its key in the path). */
typedef struct {
    char *url;
    md_webhook_format format;
    md_header *headers;
    size_t n_headers;
} md_webhook_config;

/* The "remediation" section: how the leader heals services and tells people. */
typedef struct {
    bool shadow;               /* mode "shadow": every service judges and records but never acts */
    char *admin_token;         /* required by POST /v1/services/{name}/pause|resume|ack; NULL disables them */
    md_webhook_config *webhooks;
    size_t n_webhooks;
    int64_t split_alert_after_ms; /* alert when a verdict stays SPLIT this long */
    char *railway_endpoint;    /* https://, or http:// to a loopback address only */
    char *railway_token;       /* NULL: only services with their own token may use Railway */
    bool railway_project_token;/* true: Project-Access-Token header; false: Authorization: Bearer */
    int64_t railway_budget_per_hour; /* requests one Railway token may send per hour from this node;
                                      * MD_DEFAULT_RAILWAY_BUDGET (the client's safe default) */
} md_remedy_config;

typedef struct md_config {
    char *node_id;        /* node.id, else $MEDIC_NODE_ID, else the host name */
    char *node_region;    /* node.region, else $MEDIC_REGION, else $RAILWAY_REPLICA_REGION, else "local" */
    char *data_dir;       /* node.data_dir, else $MEDIC_DATA_DIR, else $RAILWAY_VOLUME_MOUNT_PATH/medic,
                           * else "medic-data/<node.id>" (cluster mode only) */
    char *api_listen;     /* api.listen as given, else "[::]:$PORT", else MD_DEFAULT_API_LISTEN */
    /* Where each of the four above came from, for the log: the config key ("node.id"), the
     * variable ("MEDIC_NODE_ID", "PORT"...), "host name" or "default". Static strings. */
    const char *node_id_from, *node_region_from, *data_dir_from, *api_listen_from;
    char *api_host;       /* parsed from api_listen */
    int api_port;
    int log_level;        /* log.level: 0 debug, 1 info, 2 warn, 3 error; default 1 */
    md_log_format log_format; /* log.format: "text" (default) or "json" */
    int64_t status_print_interval_ms; /* 0 disables the periodic status block */
    int max_concurrent_checks; /* checks and pre-warms in flight at once; later ones wait their turn */
    md_cluster_config cluster;
    md_remedy_config remedy;
    md_service_config *services;
    size_t n_services;
    /* The failover and remediation blocks of every service that has no values of its own there:
     * the built-in defaults with the "defaults" object applied. Owned (a service's own block is
     * owned through the service). */
    md_service_failover *failover_shared;
    md_service_remedy *remedy_shared;
    char *origin;         /* the file path, or "MEDIC_CONFIG" */
    /* Private to config.c: the strings substituted from ${VAR}, used to mask secrets. */
    char **secrets;
    size_t n_secrets;
    /* The names of the variables referenced as ${VAR}: exec commands do not inherit them. */
    char **env_names;
    size_t n_env_names;
} md_config;

/* What a config may take from outside its own text: environment variables, through lookup
 * (returns a variable's value, or NULL when it is not set; ctx is passed back), and the machine's
 * host name (NULL: none). The loader reads nothing else, so tests inject both. Which variables it
 * reads, and the order of precedence (the config wins, then the variables, then the default), is
 * in docs/config.md, "Environment variables". A variable set to "" counts as not set, except
 * inside ${VAR}. */
typedef struct {
    const char *(*lookup)(void *ctx, const char *name);
    void *ctx;
    const char *host_name;
} md_config_env;

/* md_config_process_env: the process's own environment (getenv) and host name (gethostname). The
 * host name is read once per call into a static buffer: call it from one thread. */
md_config_env md_config_process_env(void);

/* md_config_parse_env parses JSON text, taking ${VAR}, MEDIC_CONFIG and the fallbacks of node.id,
 * node.region, node.data_dir and api.listen from env (NULL: md_config_process_env()). Otherwise as
 * md_config_parse. */
int md_config_parse_env(const char *json, size_t len, const char *origin, const md_config_env *env,
                        md_config **out, char *err, size_t errlen);

/* md_config_load_env: md_config_load with env (NULL: the process's). */
int md_config_load_env(const char *path, const md_config_env *env, md_config **out, char *err, size_t errlen);

/* md_config_parse parses JSON text. origin names the source in messages (a path or
 * "MEDIC_CONFIG"). On success *out is a new config the caller frees with md_config_free.
 * Returns 0, or -EINVAL with err filled, or -ENOMEM. Every message starts with the origin, then
 * the field path when there is one ("config.json: services[2].interval_ms: must be a positive
 * integer", "config.json: malformed JSON at byte 123 (line 5, column 9)"), and has every secret
 * masked, so callers print it as it is. On error *out is untouched. Uses the process environment
 * (md_config_process_env); md_config_parse_env takes another. */
int md_config_parse(const char *json, size_t len, const char *origin, md_config **out,
                    char *err, size_t errlen);

/* md_config_load reads path, or the environment variable MEDIC_CONFIG (the JSON text itself, never
 * a path) when path is NULL. Uses the process environment (md_config_process_env).
 * Returns 0, or a negative error with err filled (unreadable file: -errno, e.g. -ENOENT, with
 * "PATH: cannot read: strerror"; MEDIC_CONFIG unset: -ENOENT; anything md_config_parse returns). */
int md_config_load(const char *path, md_config **out, char *err, size_t errlen);

/* md_config_free frees cfg and everything it owns. NULL is fine. */
void md_config_free(md_config *cfg);

/* md_config_to_json renders the effective config (defaults applied). With mask_secrets, every
 * value that came from ${VAR}, every sensitive header value (md_config_header_is_sensitive) and
 * every password in a URL's userinfo is shown as "***". Unmasked output parses back to the same
 * config. Returns a malloc'd string the caller frees with free(), or NULL on allocation failure. */
char *md_config_to_json(const md_config *cfg, bool mask_secrets);

/* md_config_railway_token: the Railway token service s acts with (its own railway.token, else
 * remediation.railway.token; owned by cfg) and, in *project, whether it is a project token.
 * NULL when neither is set (never for a service whose actuator is Railway). */
const char *md_config_railway_token(const md_config *cfg, const md_service_config *s, bool *project);

/* md_config_header_is_sensitive says whether a header's value must never be shown: its name
 * contains (in any case) "auth", "cookie", "token", "secret", "key" or "passw". */
bool md_config_header_is_sensitive(const char *name);

/* md_config_mask copies s into out (size outlen) with every secret of cfg replaced by "***". */
void md_config_mask(const md_config *cfg, const char *s, char *out, size_t outlen);

#endif
