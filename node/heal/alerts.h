/* alerts.h: what medic tells people (incident opened, each step's intent and result, resolved,
 * exhausted, a lasting SPLIT verdict, the predictive DEGRADED warning, the hourly action limit),
 * rendered as generic JSON, Slack or Discord webhook bodies, and delivered over the node's curl
 * multi without ever blocking the loop: retried with jittered exponential backoff, Retry-After
 * honoured, a bounded queue that drops its oldest alert when full.
 *
 * Exactly once across leaders: every alert carries an idempotency key from the ledger (sent as
 * the Idempotency-Key header and in the generic body). The sender refuses a key it has already
 * accepted in this process; the caller learns through on_fate which keys were delivered (so the
 * ledger can note them) and preloads keys the ledger says were sent with md_alerts_mark_sent.
 *
 * Secrets: webhook URLs (Slack's key is in its path) and header values are never logged; logs
 * name a webhook by its index and scheme://host[:port]. Loop thread only. */
#ifndef MD_ALERTS_H
#define MD_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "base/base.h"

typedef enum {
    MD_ALERT_INCIDENT_OPEN = 0,
    MD_ALERT_STEP_INTENT,   /* about to act (or, in shadow mode, would act) */
    MD_ALERT_STEP_RESULT,
    MD_ALERT_RESOLVED,
    MD_ALERT_EXHAUSTED,
    MD_ALERT_SPLIT,         /* the nodes have disagreed for longer than split_alert_after_ms */
    MD_ALERT_DEGRADED,      /* predictive warning: latency is rising towards the slow threshold */
    MD_ALERT_RATE_LIMITED,  /* max_actions_per_hour reached; the ladder waits */
    MD_ALERT_BLOCKED,       /* the pending action cannot reach its target; medic retries it */
    MD_ALERT_EVENT_COUNT
} md_alert_event;

#define MD_ALERT_KEY_MAX 200
#define MD_ALERT_DETAIL_MAX 4096   /* detail kept in the generic body */
#define MD_ALERT_TEXT_MAX 1024     /* the human sentence, including its first detail line */
#define MD_ALERT_DISCORD_MAX 2000  /* Discord's content limit */

/* One alert. Every pointer is borrowed for the duration of the call it is passed to. Fields an
 * event does not use stay 0/NULL. */
typedef struct {
    md_alert_event event;
    const char *service;          /* required */
    const char *idempotency_key;  /* required: 1..MD_ALERT_KEY_MAX visible ASCII, e.g. "incident-42-intent-57" */
    const char *node;             /* the sending node's id */
    int64_t at_ms;                /* wall ms of the event (the ledger entry's at_ms) */
    uint64_t incident;            /* 0: none (SPLIT, DEGRADED) */
    uint64_t reopen_of;           /* INCIDENT_OPEN: the incident whose ladder this continues, or 0 */
    const char *step;             /* "restart", "redeploy" or "rollback" */
    int attempt;                  /* 1-based within the step */
    int attempts_max;             /* the step's configured attempts, for "#2 of 3"; 0: unknown */
    const char *outcome;          /* STEP_RESULT: "ok", "failed", "timeout", "unknown", "skipped" or
                                   * "not-attempted" */
    const char *detail;           /* free text (exit code and output, reason, votes); may be NULL */
    int64_t duration_ms;          /* STEP_RESULT: how long the action took; < 0: unknown */
    bool shadow;                  /* shadow mode: nothing was or will be done */
    int votes_down, votes_total;  /* INCIDENT_OPEN, SPLIT: nodes that see it DOWN, of how many */
    int64_t split_for_ms;         /* SPLIT: how long the verdict has been SPLIT */
    int64_t eta_ms;               /* DEGRADED: predicted time until the slow threshold; 0: unknown */
    int limit;                    /* RATE_LIMITED: max_actions_per_hour */
    int64_t retry_in_ms;          /* RATE_LIMITED: until the next action is allowed */
} md_alert;

/* md_alert_event_name returns "incident_open", "step_intent", "step_result", "resolved",
 * "exhausted", "split", "degraded" or "rate_limited" (the generic body's "event"). */
const char *md_alert_event_name(md_alert_event e);

/* md_alert_text writes the human sentence ("web: incident 42 opened (2 of 3 nodes see it
 * DOWN)", "web: restart #2 of 3 failed after 10.0 s: exit 1", "web: WOULD restart (shadow mode)
 * — restart #1 of 3"), cut to fit cap. Pure. Returns its length. */
size_t md_alert_text(const md_alert *a, char *out, size_t cap);

/* md_alert_render renders the body for a webhook format: generic {"event", "service",
 * "incident", "step", "attempt", "outcome", "detail", "node", "at", "idempotency_key",
 * "shadow", "text", ...}, slack {"text"} (with &, <, > escaped, so output cannot mention
 * anyone), discord {"content", "allowed_mentions": {"parse": []}} (content cut to 2000).
 * Text is made valid UTF-8 without control bytes. Pure. On success *body is a new NUL-terminated
 * string the caller frees with free(). Returns 0, -EINVAL (no service or key), or -ENOMEM. */
int md_alert_render(const md_alert *a, md_webhook_format fmt, char **body);

/* ---- delivery ---- */

typedef struct md_alerts md_alerts;

typedef enum { MD_ALERT_DELIVERED = 0, MD_ALERT_GAVE_UP, MD_ALERT_DROPPED } md_alert_fate;

/* Called on the loop thread once per (alert, webhook) when its delivery ends: delivered (2xx),
 * gave up (an answer other than 2xx, 408, 429 or 5xx; attempts or deadline exhausted), or
 * dropped (the queue was full and it was the oldest). Network errors and 408/429/5xx are
 * retried. key is valid during the call only. The callback may send alerts; it must not call
 * md_alerts_close. */
typedef void (*md_alert_fate_cb)(const char *key, size_t webhook, md_alert_fate fate, void *ctx);

/* Knobs; 0 picks the default in brackets. */
typedef struct {
    size_t queue_max;             /* alerts held (undelivered) at once [1000] */
    int max_attempts;             /* requests per alert and webhook [8] */
    int64_t backoff_base_ms;      /* first retry delay before jitter [1000]; doubles each retry */
    int64_t backoff_max_ms;       /* cap on one delay [60000] */
    int64_t deadline_ms;          /* give up this long after queueing [900000] */
    int64_t request_timeout_ms;   /* one request, connect included [10000] */
    int64_t retry_after_max_ms;   /* cap on a server's Retry-After (429, 503) [600000] */
    int max_inflight_per_hook;    /* concurrent requests per webhook [4] */
    size_t dedupe_keys;           /* keys remembered for refusal [4096] */
    uint64_t seed;                /* jitter seed [from the clock and pid] */
    md_alert_fate_cb on_fate;     /* may be NULL */
    void *fate_ctx;
} md_alerts_opts;

typedef struct {
    uint64_t sent;        /* deliveries answered 2xx */
    uint64_t failed;      /* deliveries given up */
    uint64_t dropped;     /* deliveries dropped from a full queue */
    uint64_t queued;      /* deliveries pending now (waiting, backing off or in flight) */
    uint64_t retries;     /* requests repeated after a failure */
    uint64_t duplicates;  /* alerts refused because their key was seen before */
} md_alerts_counters;

/* md_alerts_new prepares delivery to n_hooks webhooks (copied: the config may go away).
 * opts may be NULL. cl is borrowed and must outlive the sender. Returns 0, -EINVAL with err
 * naming the bad field by index (never its value: "webhooks[1].url: not an http(s) URL"), or
 * -ENOMEM. */
int md_alerts_new(uv_loop_t *loop, md_curl_loop *cl, const md_webhook_config *hooks, size_t n_hooks,
                  const md_alerts_opts *opts, md_alerts **out, char *err, size_t errlen);

/* md_alerts_send renders the alert for every webhook and queues it; the first requests start
 * at once. Never blocks. With no webhooks it only remembers the key. Returns 0, -EALREADY when
 * the key was accepted (or marked sent) before, -EINVAL (missing service, bad key, bad event),
 * or -ENOMEM. */
int md_alerts_send(md_alerts *a, const md_alert *alert);

/* md_alerts_mark_sent remembers a key the ledger says was already sent (by an earlier leader)
 * so that md_alerts_send refuses it. Returns 0 or -EINVAL. */
int md_alerts_mark_sent(md_alerts *a, const char *key);

/* md_alerts_seen says whether key was accepted or marked sent in this process (among the last
 * dedupe_keys keys). */
bool md_alerts_seen(const md_alerts *a, const char *key);

/* md_alerts_get_counters copies the counters (for /metrics and the status API). */
void md_alerts_get_counters(const md_alerts *a, md_alerts_counters *out);

/* md_alerts_close abandons pending deliveries (no callbacks), cancels requests in flight and
 * frees the sender once its timer has closed: keep running the loop. Call it before
 * md_curl_loop_close. NULL is ignored. */
void md_alerts_close(md_alerts *a);

#endif
