/* health.h: what a service's health is, as pure code (no clock, no I/O, no libuv): check
 * results and error classes, the packed result history, the latency trend, one node's health
 * state machine, observations in their gossip form, and the cluster's quorum verdict. */
#ifndef MD_HEALTH_H
#define MD_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Small value types shared by every part of the node (states, error classes, one check result). */

/* Health of one service as this node sees it. UNKNOWN until the first verdict. */
typedef enum {
    MD_STATE_UNKNOWN = 0,
    MD_STATE_UP,
    MD_STATE_DEGRADED,
    MD_STATE_DOWN,
    MD_STATE_COUNT
} md_state;

/* Why a check failed. MD_ERR_NONE means the check succeeded. */
typedef enum {
    MD_ERR_NONE = 0,
    MD_ERR_DNS,     /* name did not resolve */
    MD_ERR_CONNECT, /* refused, reset, unreachable, closed before any answer */
    MD_ERR_TIMEOUT, /* no complete answer within timeout_ms */
    MD_ERR_TLS,     /* handshake or certificate verification failed */
    MD_ERR_STATUS,  /* answered with an unexpected HTTP status */
    MD_ERR_BODY,    /* answered, but the body was cut short or lacked expect_body */
    MD_ERR_COUNT
} md_err_class;

/* The outcome of one check. Times are wall-clock milliseconds since the Unix epoch. */
typedef struct {
    int64_t at_ms;        /* when the check finished */
    uint32_t latency_us;  /* time from start to finish (or to the failure) */
    md_err_class err;     /* MD_ERR_NONE on success */
    int http_status;      /* 0 when no HTTP answer (or a TCP check) */
} md_check_result;

/* md_state_name returns "UNKNOWN", "UP", "DEGRADED" or "DOWN". Never NULL. */
const char *md_state_name(md_state s);
/* md_err_name returns "none", "dns", "connect", "timeout", "tls", "status" or "body". Never NULL. */
const char *md_err_name(md_err_class e);

/* The last MD_HISTORY_LEN check results of one service, delta-coded (pure). */

#define MD_HISTORY_LEN 100

/* Embedded in the per-service record (one per service, so every byte counts ten-thousandfold).
 * Each result keeps its error class, its latency (in units of 100 us, rounded, saturating at
 * ~419 s) and the time since the previous result (ms, saturating at 2^31 - 1: 24.8 days); the
 * HTTP status is not kept. The entries are coded oldest first, each against the one before it:
 * the change of start gap (the gap less the change in latency: about the interval, steady to a
 * few ms even when latency jitters) and of latency, packed with the class in the first of a few
 * forms they fit (history.c): 1 byte a result for a steady service, 2-3 when latency jitters or
 * the loop is saturated, at most 10, in a buffer of the size they need (32-byte steps) instead
 * of the fixed 7 bytes a result of before. Times are rebuilt from last_ms, the newest entry's finish
 * time, walking back through the gaps: the oldest entry's gap is never read. A result earlier
 * than the newest (a clock stepped back) is stored at the newest's time; a gap longer than
 * 24.8 days (a node stopped for weeks) is stored as 24.8 days, moving the older entries' times
 * forward. */
typedef struct {
    int64_t last_ms;     /* at_ms of the newest entry; the base given to init while empty */
    uint8_t *b;          /* the entries, oldest first: malloc'd and owned, NULL before the first;
                          * in a clone, the clone's storage */
    uint16_t len;        /* bytes of b in use */
    uint16_t cap;        /* bytes of b allocated; 0 in a clone (read-only) */
    uint16_t count;      /* entries held, <= MD_HISTORY_LEN */
    uint32_t base_sg;    /* start gap (the gap less the change in latency, mod 2^32) and */
    uint32_t base_lat;   /* latency the oldest entry is coded against: the last dropped's, 0s before */
    uint32_t last_sg;    /* the newest entry's (the base's while empty): what the next entry */
    uint32_t last_lat;   /* is coded against */
} md_history;

void md_history_init(md_history *h, int64_t base_ms);

/* md_history_free releases h's buffer (h may be NULL); h is then empty. Never for a clone. */
void md_history_free(md_history *h);

/* md_history_push appends r, dropping the oldest entry when full. A result before base_ms (the
 * first) or before the newest entry is stored at that time. Out of memory, the oldest entries make
 * room; with none left, r is not kept. Never on a clone. */
void md_history_push(md_history *h, const md_check_result *r);

/* md_history_get copies up to max results, newest first, into out (http_status is 0; out, owned
 * by the caller, may be NULL when max is 0). Returns how many were copied. */
size_t md_history_get(const md_history *h, md_check_result *out, size_t max);

/* md_history_bytes: the storage a clone of h needs. */
size_t md_history_bytes(const md_history *h);

/* md_history_clone makes dst a read-only copy of src whose entries live in storage (the caller's,
 * md_history_bytes(src) long, outliving dst; NULL when that is 0): views keep their copies in
 * their own memory. dst is read with md_history_get only: never pushed to or freed. */
void md_history_clone(md_history *dst, const md_history *src, uint8_t *storage);

/* A service's counters for /metrics (results by class, the duration histogram, pre-warm
 * requests), 32 bits each until one wraps: then every high half is allocated (pure). At 10,000
 * services the 64-bit counters were 176 bytes a service; a counter wraps after 2^32 checks, 13
 * years at the shortest interval. Zeroed is empty. */
#define MD_COUNTS_N 21
typedef struct {
    uint32_t lo[MD_COUNTS_N];
    uint32_t *hi;  /* MD_COUNTS_N high halves, allocated at the first wrap; NULL before */
} md_counts;

/* md_counts_add adds one to counter i (< MD_COUNTS_N). Out of memory at a wrap, it wraps. */
void md_counts_add(md_counts *c, size_t i);
/* md_counts_get: counter i's value. */
uint64_t md_counts_get(const md_counts *c, size_t i);
/* md_counts_free releases the high halves (c may be NULL); the counts then read their low halves. */
void md_counts_free(md_counts *c);

/* Latency trend detector (pure): an EWMA and a least-squares slope over a sliding window,
 * used to predict that a service will cross its slow threshold before it actually does. */

#define MD_TREND_MAX_WINDOW 32
#define MD_TREND_REBASE_S 1e5    /* float seconds stay precise to < 8 ms below this */
#define MD_TREND_MIN_R2 0.75     /* fit quality md_trend_predict requires (see below) */

typedef struct {
    float t_s;        /* sample time in seconds relative to md_trend.base_ms */
    float latency_ms;
} md_trend_sample;

/* Fixed-size state, embedded in the per-service record; no allocation. The samples live in
 * storage the caller gives to md_trend_init, room for window of them: sized to the window in use
 * (10 by default) instead of MD_TREND_MAX_WINDOW, it is 80 bytes a service instead of 256. */
typedef struct {
    double ewma_ms;       /* exponentially weighted moving average of latency, 0 before any sample */
    double alpha;         /* EWMA weight of the newest sample */
    int64_t base_ms;      /* time origin of the samples (set by the first sample) */
    uint16_t window;      /* capacity in use, <= MD_TREND_MAX_WINDOW */
    uint16_t count;       /* samples held, <= window */
    uint16_t head;        /* index of the next write */
    md_trend_sample *s;   /* window of them, the caller's (md_trend_init) */
} md_trend;

/* md_trend_init: samples (kept, owned by the caller, outliving t) has room for window samples;
 * window in [3, MD_TREND_MAX_WINDOW], alpha in (0, 1]. */
void md_trend_init(md_trend *t, md_trend_sample *samples, int window, double alpha);

/* md_trend_add records one successful check's latency, taken at wall time at_ms. Times are kept
 * as float seconds from base_ms; when a sample lies more than MD_TREND_REBASE_S from base_ms, the
 * base moves to that sample and the older ones are shifted, so precision stays ~10 ms for months. */
void md_trend_add(md_trend *t, int64_t at_ms, double latency_ms);

/* md_trend_slope returns the least-squares slope in ms of latency per second over the window,
 * or 0 with fewer than 3 samples. */
double md_trend_slope(const md_trend *t);

/* md_trend_predict says whether latency is rising towards slow_ms and should cross it within
 * horizon_ms of the newest sample (and is not above it already). On true, *eta_ms is the
 * predicted time to the crossing. Needs a full window, a positive slope and a good fit, so a
 * single spike or noise does not warn. Precisely, all of:
 *  - horizon_ms > 0 and count == window;
 *  - the least-squares line over the window has slope > 0 and r^2 >= MD_TREND_MIN_R2;
 *  - the fit over the window without its newest sample passes the same test and has at least half
 *    the slope, so one spike at the end (which alone scores r^2 of 0.6-0.75 in windows of 3-4)
 *    is not read as a trend;
 *  - the fitted value at the newest sample is below slow_ms;
 *  - extrapolating the line from there reaches slow_ms within horizon_ms.
 * Why r^2 >= 0.75 and not 0.6: simulated with the defaults (window 10, 10 s interval, 60 s
 * horizon, slow 3000 ms), flat uniform noise of 2800 +- 150 ms warned on 0.27% of checks at 0.6
 * (a false DEGRADED about every hour) and 0.04% at 0.75, while ramps of 10-20 ms/s with 10%
 * jitter were still caught ~50 s ahead in 98-100% of runs; noisier or slower ramps are missed
 * more often, and then the plain slow rule catches them. Windows under 8 samples are too short
 * to tell a ramp from noise reliably (window 5 still false-warns on ~2% of such checks). */
bool md_trend_predict(const md_trend *t, double slow_ms, int64_t horizon_ms, int64_t *eta_ms);

/* The per-service health state machine and its statistics (pure: no I/O, no clock).
 *
 * UNKNOWN -> UP/DEGRADED on a success; any state -> DOWN after failures_before_down consecutive
 * failures; DOWN -> UP/DEGRADED after successes_before_up consecutive successes. A success is
 * DEGRADED instead of UP when it is slower than slow_ms, or when the latency trend predicts
 * crossing slow_ms within trend_horizon_ms. A single failure below the threshold changes nothing. */

#define MD_HEALTH_MINUTES 60 /* buckets of the last-hour uptime */
#define MD_HEALTH_CAUSE_LEN 128

typedef struct {
    int failures_before_down;   /* >= 1 */
    int successes_before_up;    /* >= 1 */
    int64_t slow_ms;            /* > 0 */
    int64_t trend_horizon_ms;   /* 0 disables the predictive warning */
    int trend_window;           /* [3, MD_TREND_MAX_WINDOW] */
    double ewma_alpha;          /* (0, 1] */
} md_health_params;

/* Plain state embedded in the per-service record; read by the snapshot builder. Fields are ordered
 * by size so the struct carries no padding beyond what alignment forces (it is one per service). */
typedef struct {
    const md_health_params *p;    /* the caller's (md_health_init): services with the same
                                   * thresholds share one */
    int64_t state_since_ms;       /* wall time of the last state change (or of init) */
    uint64_t checks_total;
    uint64_t checks_ok;
    int64_t last_check_ms;        /* 0 before the first check */
    int64_t last_success_ms;      /* 0 before the first success */
    double latency_sum_ms;        /* over successful checks, for the average */
    int64_t trend_eta_ms;         /* valid when trend_warning: ms from last_success_ms to the
                                   * predicted crossing (a duration, not a wall time) */
    int64_t minute_epoch;         /* wall minute (at_ms / 60000, floored) of minutes[minute_head] */
    md_state state;
    int consecutive_failures;     /* saturates at INT_MAX */
    int consecutive_successes;    /* saturates at INT_MAX */
    uint32_t last_latency_us;     /* of the last check, ok or not (a failure's is time to failure) */
    md_err_class last_err;        /* of the last check; MD_ERR_NONE when it succeeded */
    int last_http_status;         /* of the last check; 0 when there was no HTTP answer */
    bool trend_warning;           /* the trend currently predicts crossing slow_ms; updated on
                                   * every success, left alone by failures */
    uint16_t minute_head;
    /* The last hour's checks, a ring by wall minute. While every minute of the hour has no failure
     * and at most 255 checks (any interval of 236 ms or more), a byte a minute here; otherwise
     * minute_wide holds checks (saturating at UINT16_MAX) and failures a minute, 16 bits each,
     * and minute_total is unused. The wide counts go once the hour allows bytes again, so a
     * healthy service keeps 68 bytes here instead of 128. */
    uint8_t minute_total[MD_HEALTH_MINUTES];
    uint16_t *minute_wide;        /* NULL, or 2 * MD_HEALTH_MINUTES: checks, then failures */
    md_trend trend;               /* successful latencies only */
    md_history history;           /* every result */
} md_health;

/* What changed, filled by md_health_observe when it returns true. */
typedef struct {
    md_state from;
    md_state to;
    char cause[MD_HEALTH_CAUSE_LEN]; /* e.g. "2 consecutive failures (last: connect)" or
                                      * "slow: 3412 ms > 3000 ms"; always NUL-terminated */
} md_health_change;

/* md_health_free releases what h holds (its history's entries, the hour's failure counts); h may
 * be NULL. */
void md_health_free(md_health *h);

/* md_health_init starts in UNKNOWN at wall time now_ms. p is kept (the caller's, outliving h,
 * unchanged meanwhile); its ranges are asserted, since the config loader has validated them already. trend_samples (the
 * caller's, outliving h) has room for p->trend_window samples: the latency trend's window. */
void md_health_init(md_health *h, md_trend_sample *trend_samples, const md_health_params *p, int64_t now_ms);

/* md_health_observe folds one check result into the state. Returns true when the state changed,
 * with *change filled (change may be NULL). Results must arrive in time order. */
bool md_health_observe(md_health *h, const md_check_result *r, md_health_change *change);

/* md_health_uptime_pct: checks ok / total since start, in percent (100 before any check). */
double md_health_uptime_pct(const md_health *h);

/* md_health_uptime_hour_pct: the same over the last 60 wall minutes up to and including now_ms's
 * minute, i.e. (now_ms - 1 h, now_ms] at one-minute granularity (100 with no checks there). */
double md_health_uptime_hour_pct(const md_health *h, int64_t now_ms);

/* md_health_avg_latency_ms: mean latency of successful checks, 0 before any. */
double md_health_avg_latency_ms(const md_health *h);

/* The cluster verdict for one service from every node's observation (pure).
 *
 * Redis Sentinel's split: a node's own view is subjective (its md_state); the verdict is
 * objective only when a quorum of healthy nodes agrees. Every node computes it the same way
 * from the same observations, so the nodes agree once gossip has converged. */

typedef enum {
    MD_VERDICT_UNKNOWN = 0, /* fewer than quorum nodes have a fresh, countable observation */
    MD_VERDICT_UP,          /* a quorum reports UP (DEGRADED counts as UP: it answers) */
    MD_VERDICT_DOWN,        /* a quorum reports DOWN */
    MD_VERDICT_SPLIT,       /* enough fresh votes, but neither side has a quorum (never acted on) */
    MD_VERDICT_COUNT
} md_verdict;

/* Why a node's observation did or did not count. */
typedef enum {
    MD_VOTE_UP = 0,
    MD_VOTE_DOWN,
    MD_VOTE_NONE,      /* the node has no opinion yet (UNKNOWN state) */
    MD_VOTE_MISSING,   /* we hold no observation from it */
    MD_VOTE_STALE,     /* older than the freshness limit, by our clock */
    MD_VOTE_DEAD,      /* the node is not alive (suspect or dead) */
    MD_VOTE_ISOLATED,  /* the node says its own observations should not count */
    MD_VOTE_COUNT
} md_vote;

/* One node's input to the verdict. */
typedef struct {
    bool present;      /* we hold an observation from this node */
    bool alive;        /* self is always alive; peers per liveness tracking */
    bool isolated;
    md_state state;
    int64_t age_ms;    /* now - when we last knew it current, by our own clock */
} md_voter;

typedef struct {
    md_verdict verdict;
    int up;            /* counted UP votes */
    int down;          /* counted DOWN votes */
    int counted;       /* up + down */
    int quorum;
} md_verdict_result;

/* md_vote_of classifies one voter given the freshness limit. */
md_vote md_vote_of(const md_voter *v, int64_t fresh_ms);

/* md_verdict_compute: n voters (every configured node, self included), quorum in [1, n],
 * fresh_ms the freshness limit (3 x the service's interval). votes_out (may be NULL) receives
 * each voter's classification. If both sides reach quorum (possible only when quorum <= n/2),
 * the verdict is SPLIT: a contradiction is never a reason to act. */
md_verdict_result md_verdict_compute(const md_voter *voters, size_t n, int quorum, int64_t fresh_ms,
                                     md_vote *votes_out);

/* md_default_quorum: a majority of n nodes (n/2 + 1). */
int md_default_quorum(int n);

const char *md_verdict_name(md_verdict v);  /* "UNKNOWN", "UP", "DOWN", "SPLIT" */
const char *md_vote_name(md_vote v);        /* "up", "down", "none", "missing", "stale", "dead", "isolated" */

/* The gossip values a node publishes: its observation of one service, and facts
 * about itself. These bytes come from peers, so decoding is strict and fuzzed (pure). */

#define MD_OBS_CODEC_VERSION 1
#define MD_OBS_ENCODED_MAX 64
#define MD_NODE_INFO_ENCODED_MAX 96
/* The gossip key of a node's facts; service names cannot start with '@'. */
#define MD_NODE_INFO_KEY "@node"

/* One node's latest observation of one service, as the observer saw it. A node holds one per
 * service and node, so packed: 32 bytes (the enums in a byte each; was 40). */
typedef struct {
    int64_t observed_at_ms;    /* the observer's wall clock: shown, never used for freshness */
    int64_t state_since_ms;    /* the observer's wall clock */
    uint32_t consecutive_failures;
    uint32_t latency_us;       /* of the last check */
    md_state state : 8;        /* UNKNOWN also when the observer's own checks went stale */
    md_err_class err : 8;      /* of the last check */
    uint16_t http_status;
} md_obs;
_Static_assert(MD_STATE_COUNT <= 128 && MD_ERR_COUNT <= 128, "md_obs's enums fit their bits");

/* Facts about the publishing node. */
typedef struct {
    bool isolated;             /* its own observations should not count */
    char region[65];
    int64_t started_at_ms;     /* the publisher's wall clock */
} md_node_info;

/* md_obs_encode writes o into buf (at least MD_OBS_ENCODED_MAX bytes); returns the length. */
size_t md_obs_encode(const md_obs *o, uint8_t *buf);
/* md_obs_decode parses len bytes; returns 0, or -EINVAL for anything malformed, truncated,
 * trailing, out of range, or of another codec version. *o is untouched on error. */
int md_obs_decode(const uint8_t *buf, size_t len, md_obs *o);

size_t md_node_info_encode(const md_node_info *n, uint8_t *buf);
int md_node_info_decode(const uint8_t *buf, size_t len, md_node_info *n);

/* md_obs_same_verdict_input: whether two observations differ in what peers act on (state,
 * failure count, error class, status): only such changes are pushed at once. */
bool md_obs_differs(const md_obs *a, const md_obs *b);

/* When checks run (pure; cadence.c). A failure short of DOWN is a suspicion: the next check
 * comes after retry_ms instead of a whole interval, so a crash is confirmed (or cleared) within
 * about failures_before_down retries rather than failures_before_down intervals. */

/* md_health_next_delay_ms: how long after the check just folded into h the next one should
 * start: retry_ms while h has failures in a row short of DOWN, else interval_ms (a success, or
 * DOWN already: confirming it faster changes nothing). Needs 0 < retry_ms <= interval_ms. */
int64_t md_health_next_delay_ms(const md_health *h, int64_t interval_ms, int64_t retry_ms);

/* md_health_suspects: whether a peer's observation asks us to check now: failures in a row
 * that have not (yet) made it DOWN in the peer's eyes. */
bool md_health_suspects(const md_obs *o);

/* One service's bound on early checks that peers ask for: at most one per asking peer per
 * interval, so a flapping service cannot make the cluster hammer it. Zeroed is ready. */
#define MD_EARLY_MAX_PEERS 16
typedef struct {
    int64_t last_ms[MD_EARLY_MAX_PEERS]; /* monotonic ms of the last early check granted; 0 never */
} md_early_gate;

/* md_early_gate_allow: whether peer (< MD_EARLY_MAX_PEERS) may have an early check at now_ms
 * (monotonic, > 0); records the grant when it returns true. */
bool md_early_gate_allow(md_early_gate *g, size_t peer, int64_t now_ms, int64_t interval_ms);

#endif
