/* view.h: the view, an immutable picture of the node that the loop publishes for readers. */
#ifndef MD_VIEW_H
#define MD_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health/health.h"

/* An immutable, refcounted picture of the node that the loop publishes for readers.
 *
 * The API handlers and renderers read only views, never live loop state: the monitor builds a
 * fresh md_view when something changed and publishes it; readers take a reference, render,
 * and drop it. A published view is never modified. */

/* Upper bounds (seconds) of the check-duration histogram buckets; +Inf is implied. */
#define MD_DURATION_BUCKETS 12
extern const double md_duration_bucket_le[MD_DURATION_BUCKETS];

/* The order of a service's counters (md_view_service.counts): checks by result class (MD_ERR_NONE
 * = ok), checks by duration bucket (each bucket alone, not cumulative: a check slower than the last
 * bound is in none), pre-warm requests and the failed ones among them. */
enum {
    MD_VIEW_C_RESULT = 0,                               /* + md_err_class */
    MD_VIEW_C_DUR = MD_VIEW_C_RESULT + MD_ERR_COUNT,    /* + duration bucket */
    MD_VIEW_C_PREWARM = MD_VIEW_C_DUR + MD_DURATION_BUCKETS,
    MD_VIEW_C_PREWARM_FAILED,
    MD_VIEW_C_N
};

/* One service. Every view has one per service, so it is packed (304 bytes; 472 with 64-bit
 * counters, the failover fields inline and the name and target copied): fields grouped by size,
 * the enums in a byte each, the counters kept as the monitor keeps them, what few services have
 * out of line. */
typedef struct {
    const char *name;          /* the config's (which outlives every view: the daemon frees it after
                                * the holder and the API), or owned by the view */
    const char *kind;          /* "http" or "tcp" (static) */
    const char *target;        /* URL or host:port with secrets masked: the config's URL when masking
                                * changes nothing, else owned by the view */
    const char *state_cause;   /* why it is in this state (last change's cause); owned by the view
                                * or static, NULL reads as "" */
    int64_t state_since_ms;    /* wall ms */
    double uptime_hour_pct;    /* over the last hour */
    int64_t last_check_ms;     /* wall ms, 0 = never */
    int64_t last_success_ms;   /* wall ms, 0 = never */
    double last_latency_ms;
    double avg_latency_ms;
    double ewma_latency_ms;
    double trend_slope_ms_per_s;
    int64_t trend_eta_ms;      /* valid when trend_warning */
    int64_t cert_expiry_ms;    /* wall ms, 0 = unknown / not HTTPS */
    md_counts counts;          /* MD_VIEW_C_N of them (read with md_view_count and the helpers
                                * below: the checks and uptime since start are theirs); hi, when
                                * set, is owned by the view */
    double duration_sum_s;
    const md_history *history; /* packed copy of the last results (read with md_history_get), owned
                                * by the view; NULL in a view built without histories (only the
                                * readers that show results ask for them: md_view_holder_get_full) */
    int64_t verdict_since_ms;  /* wall ms of the last cluster verdict change */
    struct md_view_obs *obs;   /* one per node, in md_view.nodes order; owned by the view */
    /* Remediation, from the committed ledger (and paused, below). */
    uint64_t incident_id;      /* the open incident, 0 when none */
    const char *remedy;        /* owned; a short account, e.g. "restart #2 of 3 running", or NULL */
    const struct md_view_failover *failover; /* owned; NULL for a service without endpoints */
    int consecutive_failures;
    int consecutive_successes;
    int32_t interval_ms;       /* the config's (at most a day) */
    int32_t timeout_ms;
    int32_t slow_ms;
    int16_t last_http_status;  /* 0 without an HTTP answer */
    /* The cluster's view (a cluster of one without a cluster section): votes count nodes. */
    int16_t votes_up;
    int16_t votes_down;
    int16_t quorum;
    md_state state : 8;
    md_err_class last_err : 8;
    md_verdict verdict : 8;
    bool trend_warning;
    bool cert_warning;         /* expiry is within cert_warn_days */
    bool paused;               /* remediation, from the committed ledger */
} md_view_service;

/* A service's failover on this node (services with endpoints, filled by node/failover). */
typedef struct md_view_failover {
    size_t n_endpoints;        /* >= 1 */
    struct md_view_endpoint *endpoints; /* owned, primary first */
    int active_endpoint;       /* index into endpoints, -1 when no breaker is closed */
    int64_t active_since_ms;   /* wall ms */
    uint64_t failovers;        /* times the active endpoint changed since start */
    struct md_view_proxy *proxy; /* owned; NULL without proxy.listen */
} md_view_failover;

/* md_view_count: counter k (< MD_VIEW_C_N) of v. */
static inline uint64_t md_view_count(const md_view_service *v, size_t k)
{
    return md_counts_get(&v->counts, k);
}

/* md_view_duration_le: checks that took at most md_duration_bucket_le[b] (cumulative). */
static inline uint64_t md_view_duration_le(const md_view_service *v, int b)
{
    uint64_t n = 0;
    for (int k = 0; k <= b; k++)
        n += md_view_count(v, MD_VIEW_C_DUR + (size_t)k);
    return n;
}

/* md_view_duration_count: checks timed, which is every check (the results' sum). */
static inline uint64_t md_view_duration_count(const md_view_service *v)
{
    uint64_t n = 0;
    for (size_t k = 0; k < MD_ERR_COUNT; k++)
        n += md_view_count(v, MD_VIEW_C_RESULT + k);
    return n;
}

/* md_view_checks_total: checks done since start (every result class). */
static inline uint64_t md_view_checks_total(const md_view_service *v)
{
    return md_view_duration_count(v);
}

/* md_view_checks_ok: the successful ones among them. */
static inline uint64_t md_view_checks_ok(const md_view_service *v)
{
    return md_view_count(v, MD_VIEW_C_RESULT + MD_ERR_NONE);
}

/* md_view_uptime_pct: successful checks since start in percent, 100 before any check. */
static inline double md_view_uptime_pct(const md_view_service *v)
{
    uint64_t total = md_view_checks_total(v);
    return total == 0 ? 100.0 : (double)md_view_checks_ok(v) * 100.0 / (double)total;
}

/* md_view_n_endpoints: v's failover endpoints, 0 without failover. */
static inline size_t md_view_n_endpoints(const md_view_service *v)
{
    return v->failover ? v->failover->n_endpoints : 0;
}

/* One endpoint of a service with failover, as this node sees it. */
typedef struct md_view_endpoint {
    const char *target;        /* owned; URL or host:port, secrets masked */
    const char *breaker;       /* "closed", "open", "half-open" (static) */
    int64_t breaker_since_ms;  /* wall ms */
    int64_t half_open_at_ms;   /* wall ms when an open breaker turns half-open; 0 unless open */
    int64_t open_period_ms;    /* the open period in force (doubles on each re-open) */
    uint64_t opens;
    uint64_t probes, probes_failed;
    uint64_t traffic_ok, traffic_failed; /* proxied connection attempts */
    md_err_class last_err;     /* of the last probe */
    double last_latency_ms;
} md_view_endpoint;

/* A service's failover proxy on this node. */
typedef struct md_view_proxy {
    const char *listen;        /* owned */
    uint64_t connections_total, connections_active;
    uint64_t retries;          /* connection attempts moved to the next endpoint */
    uint64_t rejected;         /* refused at proxy.max_connections */
    uint64_t failed;           /* no endpoint took the connection */
    uint64_t bytes_up, bytes_down;
} md_view_proxy;

/* One node's latest observation of one service, as held by the node that built the view: one per
 * service and node in every view, so packed (32 bytes; the enums in a byte each). */
typedef struct md_view_obs {
    int64_t age_ms;            /* by this node's clock: now - when last known current; -1 if absent */
    int64_t observed_at_ms;    /* the observer's wall clock, as it reported it */
    uint32_t latency_us;       /* of the last check, as gossiped */
    int32_t consecutive_failures;
    uint16_t http_status;
    uint8_t state;             /* md_state */
    uint8_t vote;              /* md_vote: how it counted in the verdict */
    uint8_t err;               /* md_err_class */
    bool present;
} md_view_obs;

#define MD_VIEW_DROP_REASONS 9

/* A node of the cluster; nodes[0] is the node that built the view. */
typedef struct {
    const char *id;            /* owned by the view */
    const char *region;        /* owned by the view */
    const char *liveness;      /* "self", "alive", "suspect", "dead", "unknown" (static) */
    bool is_self;
    bool isolated;
    bool connected;            /* we hold a connection to it */
    int64_t last_seen_ms;      /* wall ms of its last message (approximate: local clock), 0 = never */
    int64_t rtt_us;            /* -1 unknown */
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    int64_t match_index;       /* Raft: how far its log matches the leader's; -1 unless we lead */
} md_view_node;

/* The node's Raft, when it runs one (cluster mode). */
typedef struct {
    bool enabled;
    const char *role;          /* "follower", "pre-candidate", "candidate", "leader" (static) */
    uint64_t term;
    const char *leader_id;     /* owned by the view; NULL when no leader is known */
    uint64_t commit;
    uint64_t applied;
    uint64_t last_index;
    uint64_t snapshot_index;
    bool lease_valid;
    bool recovering;           /* lost its disk (or is new): votes only once caught up */
    uint64_t leader_changes;   /* since start */
    const char *failed;        /* owned; NULL, or why this node stopped taking part (disk error) */
    const char *timing;        /* owned: "lan" or "wan" */
    int64_t heartbeat_ms;
    int64_t election_timeout_ms;
    uint64_t committed_entries; /* committed since start, not counting those replayed at start */
    size_t commit_lat_samples;  /* the leader's latest proposals measured; 0 unless it leads */
    double commit_lat_p50_ms;   /* proposal -> committed here, over those samples */
    double commit_lat_p99_ms;
} md_view_consensus;

/* An actuator's connection as this node sees it: one per Railway client (one per distinct token). */
typedef struct {
    const char *kind;          /* "railway" (static) */
    const char *token_kind;    /* "project" or "bearer" (static): the header it is sent in */
    const char *state;         /* "unchecked", "ok", "refused" (auth), "error" (static) */
    const char *scope;         /* what the check found: "project", "account", "workspace", "unknown" (static) */
    const char *reach;         /* owned: e.g. "project P environment E", or NULL; never the token */
    const char *detail;        /* owned: the check's or the last refusal's summary, or NULL */
    const char *services;      /* owned: the services that use it, comma-separated */
    int64_t checked_ms;        /* wall ms of the check, 0 = not yet */
    uint64_t requests, throttled, throttled_ms;
    int64_t limit, remaining;  /* the last X-RateLimit-* seen; -1 unknown */
    uint32_t budget_per_hour, sent_last_hour;
} md_view_actuator;

typedef struct md_view {
    int refs;                  /* touched only through md_view_ref/unref */
    int64_t built_ms;          /* wall ms */
    const char *node_id;       /* owned */
    const char *node_region;   /* owned */
    const char *version;       /* static */
    int64_t started_ms;        /* wall ms */
    int pid;
    size_t n_services;
    md_view_service *services; /* owned, in config order */
    /* cluster */
    const char *cluster_name;  /* NULL without a cluster section */
    int cluster_quorum;
    size_t n_nodes;
    md_view_node *nodes;       /* owned; nodes[0] is self */
    uint64_t drops[MD_VIEW_DROP_REASONS]; /* cluster messages dropped, by reason */
    md_view_consensus consensus;
    const char *const *drop_reason_names; /* static, MD_VIEW_DROP_REASONS names */
    unsigned wants;            /* MD_VIEW_WANT_*: what its builder was asked for beyond what every
                                * view holds (parts leave out what was not asked for) */
    const char *incidents_json; /* the /v1/incidents document body, or NULL (also when the view was
                                 * not built for MD_VIEW_WANT_INCIDENTS); shared (md_view_share)
                                 * with node/heal and other views, freed with the last of them */
    uint64_t alerts_sent, alerts_failed, alerts_dropped, alerts_queued;
    uint64_t actions_started;  /* by this node, since start */
    size_t n_actuators;
    md_view_actuator *actuators; /* owned */
    /* The loop's turns (node/base's meter; all 0 without one). */
    uint64_t loop_turns;
    uint64_t loop_stalls;      /* turns that worked loop_stall_warn_ms or longer */
    int64_t loop_stall_warn_ms;
    double loop_turn_max_ms;   /* the longest turn since start */
    double loop_busy_s;        /* the turns' work, summed */
} md_view;

/* md_view_alloc returns a zeroed view with room for n services and refs = 1. */
md_view *md_view_alloc(size_t n_services);

/* md_view_strdup copies s into memory the view owns (freed with it). NULL gives NULL. */
const char *md_view_strdup(md_view *s, const char *str);

/* A refcounted immutable text that views share instead of copying: a document that stays the
 * same across many views (the /v1/incidents body, one a service) would otherwise be copied into
 * each, and live twice while a reader holds the previous view. References are atomic, like a
 * view's. */
typedef struct md_shared_text md_shared_text;

/* md_shared_text_adopt takes ownership of text (malloc'd) and returns it with one reference, or
 * NULL out of memory (text is freed then). NULL text gives NULL. */
md_shared_text *md_shared_text_adopt(char *text);
const char *md_shared_text_str(const md_shared_text *t);
void md_shared_text_unref(md_shared_text *t); /* NULL is a no-op */

/* md_view_share makes the view hold a reference to t until it is freed and returns t's text, or
 * NULL out of memory (or when t is NULL). */
const char *md_view_share(md_view *s, md_shared_text *t);

/* md_view_calloc returns zeroed memory the view owns (freed with it), or NULL. */
void *md_view_calloc(md_view *s, size_t bytes);

/* md_view_history returns a read-only copy of h that the view owns (one block, sized to h's
 * entries; h stays the caller's), or NULL out of memory. */
const md_history *md_view_history(md_view *s, const md_history *h);

/* md_view_find returns the service named name, or NULL. */
const md_view_service *md_view_find(const md_view *s, const char *name);

md_view *md_view_ref(md_view *s);
void md_view_unref(md_view *s);

/* A holder of "the current view": publish swaps it, get takes a reference. Both are safe
 * from any thread (a mutex guards the pointer swap), so a server thread could read it too. */
typedef struct md_view_holder md_view_holder;
md_view_holder *md_view_holder_new(void);
/* md_view_holder_publish takes over the caller's reference to s. */
void md_view_holder_publish(md_view_holder *h, md_view *s);
/* What a reader may need that not every view holds (md_view.wants): each is large at 10,000
 * services and read by one or two documents only. */
#define MD_VIEW_WANT_HISTORIES 1u  /* the services' histories (/v1/services/{name}, /v1/history) */
#define MD_VIEW_WANT_INCIDENTS 2u  /* the /v1/incidents document (incidents_json) */

/* md_view_holder_get returns a new reference (release with md_view_unref), or NULL if none yet.
 * The view may lack the services' histories (history NULL) and the incidents document:
 * md_view_holder_get_for asks the refresh hook for a view with what wants names (a view with more
 * serves any reader); md_view_holder_get_full is get_for MD_VIEW_WANT_HISTORIES. */
md_view *md_view_holder_get(md_view_holder *h);
md_view *md_view_holder_get_full(md_view_holder *h);
md_view *md_view_holder_get_for(md_view_holder *h, unsigned wants);
void md_view_holder_free(md_view_holder *h);

/* md_view_holder_set_refresh installs a hook that md_view_holder_get calls first, on the
 * caller's thread, so a producer on the loop can build views lazily (only when someone
 * reads and something changed). Only loop-thread readers may be used with a refresh hook. */
/* wants: what the reader needs beyond what every view holds (MD_VIEW_WANT_*, 0 for nothing). */
typedef void (*md_view_refresh_fn)(void *ctx, unsigned wants);
void md_view_holder_set_refresh(md_view_holder *h, md_view_refresh_fn fn, void *ctx);

#endif
