/* remedy.h: remediation decisions as pure code: the ledger (the state machine applied from the
 * Raft log, with its entry and snapshot codecs), the escalation ladder, and the driver (what the
 * leader proposes and which committed intents this process runs). */
#ifndef MD_REMEDY_H
#define MD_REMEDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health/health.h"

/* The remediation ledger, the state machine applied from the Raft log (pure).
 *
 * Every node applies the same committed entries in the same order and ends with the same
 * state: per service, whether it is paused, its last-known-good deployment, its open incident
 * (every step: intent, result, who, when) and the times of its recent intents; plus the last
 * MD_LEDGER_MAX_CLOSED closed incidents. No clock, no randomness, no I/O: times come from the
 * entries (the proposer's wall clock, fixed once in the log) and ids from Raft indexes (an
 * incident's id is the index of its INCIDENT_OPEN entry, an action's id that of its INTENT).
 *
 * Entries and snapshots are outside bytes (log, disk, network): decoding is strict, bounded,
 * fuzzed, and never asserts. An entry that decodes but contradicts the state (an intent while
 * another action is pending, a result for an unknown action...) changes nothing and is
 * reported in the event as REJECTED or IGNORED, identically on every node.
 *
 * Determinism assumes every node was created with the same set of service names (in any
 * order): entries naming another service are rejected. Not thread-safe: one owner (the loop). */

#define MD_LEDGER_VERSION 1
#define MD_LEDGER_NAME_MAX 64      /* service names, node ids, operators, deployment ids */
#define MD_LEDGER_TEXT_MAX 4096    /* votes, reasons, result details, notes (bytes) */
#define MD_LEDGER_MAX_STEPS 32     /* intents in one incident; keep restart+redeploy attempts + 1 below */
#define MD_LEDGER_MAX_NOTES 8      /* notes kept in one incident; later ones are rejected */
#define MD_LEDGER_MAX_CLOSED 100   /* closed incidents kept, newest first */
#define MD_LEDGER_RATE_MAX 128     /* intent times kept per service (config allows up to 100/h) */
#define MD_LEDGER_RATE_WINDOW_MS 3600000
#define MD_LEDGER_MAX_SERVICES 100000 /* the config's limit on services */
#define MD_LEDGER_TIME_MAX (INT64_C(1) << 50)    /* at_ms, durations and timeouts lie in [0, this] */

/* A remediation step, in ladder order. */
typedef enum {
    MD_STEP_NONE = 0,
    MD_STEP_RESTART,
    MD_STEP_REDEPLOY,
    MD_STEP_ROLLBACK,
    MD_STEP_COUNT
} md_step;

/* How an action ended. NONE: no result yet (pending). */
typedef enum {
    MD_OUTCOME_NONE = 0,
    MD_OUTCOME_OK,
    MD_OUTCOME_FAILED,
    MD_OUTCOME_TIMEOUT,
    MD_OUTCOME_UNKNOWN,  /* leader changed mid-action: treated as attempted */
    MD_OUTCOME_SKIPPED,  /* shadow mode: judged and recorded, not executed */
    MD_OUTCOME_NOT_ATTEMPTED, /* never reached its target (auth refused, rate limited, API down,
                               * command could not start; or given up while blocked): not an
                               * attempt, so the ladder stays on its step */
    MD_OUTCOME_COUNT
} md_outcome;

typedef enum {
    MD_LEDGER_INCIDENT_OPEN = 1,
    MD_LEDGER_INTENT,
    MD_LEDGER_RESULT,
    MD_LEDGER_RESOLVED,
    MD_LEDGER_EXHAUSTED,
    MD_LEDGER_PAUSE,
    MD_LEDGER_RESUME,
    MD_LEDGER_ACK,
    MD_LEDGER_NOTE,
    MD_LEDGER_KNOWN_GOOD,
    MD_LEDGER_BLOCKED,   /* the pending action cannot reach its target yet; its leader retries */
    MD_LEDGER_TYPE_COUNT
} md_ledger_entry_type;

/* Why an incident is no longer open. Only RESOLVED lets a relapse continue its ladder. */
typedef enum {
    MD_CLOSE_OPEN = 0,   /* still open */
    MD_CLOSE_RESOLVED,   /* the cluster verdict was UP again */
    MD_CLOSE_ACKED,      /* an operator acked it while exhausted: the next incident starts fresh */
    MD_CLOSE_RESUMED,    /* an operator resumed the service while exhausted: likewise */
    MD_CLOSE_COUNT
} md_close;

/* Text inside an entry: len bytes at p, no terminating NUL needed. */
typedef struct {
    const char *p;
    size_t len;
} md_ledger_text;

/* One decoded (or to-be-encoded) entry. Names are NUL-terminated; texts are borrowed (from the
 * caller when encoding, from the decoded buffer when decoding). */
typedef struct {
    md_ledger_entry_type type;
    char service[MD_LEDGER_NAME_MAX + 1];
    int64_t at_ms;                          /* the proposer's wall clock */
    char actor[MD_LEDGER_NAME_MAX + 1];     /* the proposing node's id */
    union {
        struct { md_ledger_text votes; uint64_t reopen_of; } open;
        struct {
            uint64_t incident;
            md_step step;
            uint32_t attempt;                /* 1-based within the step */
            int64_t timeout_ms;
            bool shadow;
            char target[MD_LEDGER_NAME_MAX + 1]; /* rollback deployment; may be empty */
        } intent;
        struct {
            uint64_t action;
            md_outcome outcome;              /* never NONE */
            md_ledger_text detail;
            int64_t duration_ms;
            char new_deployment[MD_LEDGER_NAME_MAX + 1]; /* may be empty */
        } result;
        struct { uint64_t incident; md_ledger_text reason; } resolved;
        struct { uint64_t incident; } exhausted;
        struct { char by[MD_LEDGER_NAME_MAX + 1]; md_ledger_text reason; } pause;
        struct { char by[MD_LEDGER_NAME_MAX + 1]; } resume;
        struct { uint64_t incident; char by[MD_LEDGER_NAME_MAX + 1]; } ack;
        struct { md_ledger_text text; } note;
        struct { char deployment[MD_LEDGER_NAME_MAX + 1]; } known_good;
        struct { uint64_t action; md_ledger_text reason; } blocked;
    } u;
} md_ledger_entry;

/* Read-only views into the ledger. Every pointer is owned by the ledger and valid until the
 * next apply, restore or free; text pointers are never NULL ("" when empty). */
typedef struct {
    md_step step;
    uint32_t attempt;
    uint64_t action_id;
    int64_t intent_at_ms;
    char actor[MD_LEDGER_NAME_MAX + 1];         /* who proposed the intent */
    int64_t timeout_ms;
    bool shadow;
    char target[MD_LEDGER_NAME_MAX + 1];
    md_outcome outcome;                         /* NONE while pending */
    int64_t result_at_ms;
    char result_actor[MD_LEDGER_NAME_MAX + 1];
    const char *detail;
    int64_t duration_ms;
    char new_deployment[MD_LEDGER_NAME_MAX + 1];
} md_ledger_step;

typedef struct {
    int64_t at_ms;
    char by[MD_LEDGER_NAME_MAX + 1];
    const char *text;
} md_ledger_note;

typedef struct {
    uint64_t id;
    char service[MD_LEDGER_NAME_MAX + 1];
    int64_t opened_at_ms;
    char opened_by[MD_LEDGER_NAME_MAX + 1];
    const char *votes;                          /* e.g. "n1:down,n2:down,n3:up" */
    uint64_t reopen_of;                         /* 0: a fresh ladder */
    uint32_t attempts[MD_STEP_COUNT];           /* ladder counters (continued on reopen), pending included */
    size_t n_steps;
    md_ledger_step steps[MD_LEDGER_MAX_STEPS];  /* this incident's own intents, in order */
    size_t n_notes;
    md_ledger_note notes[MD_LEDGER_MAX_NOTES];
    bool acked;
    char acked_by[MD_LEDGER_NAME_MAX + 1];
    int64_t acked_at_ms;
    bool exhausted;
    int64_t exhausted_at_ms;
    /* The pending action's leader could not reach the actuator's target and retries with
     * backoff (BLOCKED entry); cleared by that action's result. 0 / "" when not blocked. */
    uint64_t blocked_action;
    int64_t blocked_at_ms;
    const char *blocked_reason;
    md_close closed;
    int64_t closed_at_ms;
    char closed_by[MD_LEDGER_NAME_MAX + 1];     /* the node (RESOLVED) or operator (ACK, RESUME) */
    const char *close_reason;
} md_ledger_incident;

/* What a relapse needs to know about the service's last closed incident (id 0: none). */
typedef struct {
    uint64_t id;
    int64_t closed_at_ms;
    md_close how;
    uint32_t attempts[MD_STEP_COUNT];
} md_ledger_last_closed;

/* What a service's ledger state holds beyond its open incident. Set by the service's first entry
 * (most services never have one): until then md_ledger_service.more is a shared, all-empty one. */
typedef struct {
    bool paused;
    const char *paused_by;                      /* "" when not paused; owned like pause_reason */
    int64_t paused_at_ms;
    const char *pause_reason;
    const char *known_good;                     /* "" when none; owned like pause_reason */
    int64_t known_good_at_ms;
    md_ledger_last_closed last_closed;
    size_t n_recent;                            /* intent times within the hour before the newest */
    int64_t *recent_intents_ms;                 /* n_recent of them, in apply order; owned, room for
                                                 * MD_LEDGER_RATE_MAX, NULL until the first intent */
    uint64_t incidents_total;
    uint64_t actions_total;                     /* intents applied */
} md_ledger_service_more;

/* One service's committed state: 24 bytes for a service that never had an entry (136 with
 * everything inline, nearly always empty). */
typedef struct {
    const char *name;
    const md_ledger_incident *open;             /* NULL when none */
    const md_ledger_service_more *more;         /* never NULL */
} md_ledger_service;

typedef enum {
    MD_LEDGER_EV_OPENED = 1,
    MD_LEDGER_EV_INTENT,      /* committed: its proposer may execute it now */
    MD_LEDGER_EV_RESULT,
    MD_LEDGER_EV_RESOLVED,
    MD_LEDGER_EV_EXHAUSTED,
    MD_LEDGER_EV_PAUSED,
    MD_LEDGER_EV_RESUMED,
    MD_LEDGER_EV_ACKED,
    MD_LEDGER_EV_NOTED,
    MD_LEDGER_EV_KNOWN_GOOD,
    MD_LEDGER_EV_BLOCKED,     /* the pending action is blocked (the leader tells people once) */
    MD_LEDGER_EV_REJECTED,    /* a valid entry that contradicts the state: nothing changed */
    MD_LEDGER_EV_IGNORED,     /* a result for an action that is not pending: nothing changed */
} md_ledger_ev_kind;

/* What one applied entry did; the driver executes intents and sends alerts from it. The raft
 * index doubles as the idempotency key of any alert about it. */
typedef struct {
    md_ledger_ev_kind kind;
    md_ledger_entry_type type;
    uint64_t index;                    /* the entry's Raft index */
    size_t service;                    /* index given to md_ledger_new; SIZE_MAX if unknown */
    uint64_t incident_id;              /* 0 if none */
    uint64_t action_id;                /* INTENT, RESULT */
    md_step step;
    uint32_t attempt;
    bool shadow;
    md_outcome outcome;                /* RESULT */
    bool incident_closed;              /* this entry closed the incident */
    int64_t at_ms;
    char actor[MD_LEDGER_NAME_MAX + 1];
    const md_ledger_incident *incident; /* owned by the ledger, valid until the next apply */
    const char *why;                   /* REJECTED, IGNORED: static text; else "" */
} md_ledger_event;

typedef struct md_ledger md_ledger;

/* md_ledger_new: a ledger for n services (1..MD_LEDGER_MAX_SERVICES) named by names (copied;
 * each 1..64 printable ASCII characters, no blanks, no duplicates). *out is owned by the caller
 * (md_ledger_free). Errors: -EINVAL (bad or duplicate name, n out of range), -ENOMEM. */
int md_ledger_new(const char *const *names, size_t n, md_ledger **out);
void md_ledger_free(md_ledger *l);

/* md_ledger_apply applies the committed entry at raft_index. Returns 0 with *ev filled (also for
 * REJECTED and IGNORED entries), or, with nothing changed: -EINVAL (undecodable payload),
 * -EALREADY (raft_index not above the last index that changed the state: a replay), -ENOMEM. */
int md_ledger_apply(md_ledger *l, uint64_t raft_index, const uint8_t *payload, size_t len,
                    md_ledger_event *ev);

/* Accessors. i < md_ledger_count(l); k < md_ledger_closed_count(l), 0 the newest. */
size_t md_ledger_count(const md_ledger *l);
const md_ledger_service *md_ledger_service_at(const md_ledger *l, size_t i);
/* md_ledger_find: the index of the named service, or -ENOENT. */
int md_ledger_find(const md_ledger *l, const char *name, size_t *i);
size_t md_ledger_closed_count(const md_ledger *l);
const md_ledger_incident *md_ledger_closed(const md_ledger *l, size_t k);
/* md_ledger_last_index: the Raft index of the last entry that changed the state (or of the
 * restored snapshot's); 0 for a new ledger. */
uint64_t md_ledger_last_index(const md_ledger *l);
/* md_ledger_pending: the incident's step awaiting its result, or NULL. */
const md_ledger_step *md_ledger_pending(const md_ledger_incident *inc);

/* md_ledger_snapshot serializes the whole state (services in name order, so equal states give
 * equal bytes). *out is malloc'd and owned by the caller. Errors: -ENOMEM. */
int md_ledger_snapshot(const md_ledger *l, uint8_t **out, size_t *len);
/* md_ledger_restore replaces the state with a snapshot's. Services of the snapshot that this
 * ledger does not know are dropped (closed incidents are kept); services it lacks start empty.
 * Errors, with the ledger unchanged: -EINVAL (malformed, truncated, corrupt, other version),
 * -ENOMEM. */
int md_ledger_restore(md_ledger *l, const uint8_t *buf, size_t len);

/* md_ledger_entry_encode checks and encodes e. Text fields are cut to MD_LEDGER_TEXT_MAX bytes
 * (at a character boundary) and cleaned: NUL, control characters other than tab and newline,
 * and invalid UTF-8 become '?'. *out is malloc'd and owned by the caller. Errors: -EINVAL (bad
 * type, enum, name, id or time), -ENOMEM. */
int md_ledger_entry_encode(const md_ledger_entry *e, uint8_t **out, size_t *len);
/* md_ledger_entry_decode parses an entry strictly (a decoded entry re-encodes to the same
 * bytes). Texts in *e point into buf. Errors: -EINVAL; *e is then unspecified. */
int md_ledger_entry_decode(const uint8_t *buf, size_t len, md_ledger_entry *e);

/* md_ledger_text_of: {s, strlen(s)}; s may be NULL (empty). */
md_ledger_text md_ledger_text_of(const char *s);

const char *md_step_name(md_step s);                    /* "none", "restart", "redeploy", "rollback" */
const char *md_outcome_name(md_outcome o);              /* "pending", "ok", "failed", "timeout", "unknown", "skipped", "not-attempted" */
/* md_outcome_attempted: the step counts as an attempt on the ladder (all but NOT_ATTEMPTED). */
bool md_outcome_attempted(md_outcome o);
const char *md_ledger_entry_type_name(md_ledger_entry_type t); /* "incident-open", "intent", ... */
const char *md_close_name(md_close c);                  /* "open", "resolved", "acked", "resumed" */
const char *md_ledger_ev_name(md_ledger_ev_kind k);     /* "opened", "intent", ..., "rejected", "ignored" */

/* The remediation ladder as a pure function (no clock, no I/O, no state).
 *
 * Given one service's knobs, its committed ledger state, the cluster verdict and the leader's
 * wall clock, md_escalation_decide says what the leader should propose next. Only the leader
 * calls it, only on committed state; the driver (node/remedy) turns a decision into a ledger
 * entry, and executes an intent only once that entry is committed.
 *
 * The ladder: restart x restart_attempts -> redeploy x redeploy_attempts -> rollback x1 ->
 * exhausted. The rules, in the order they are checked:
 *   1. paused: NONE, always (even with an open incident or a pending action).
 *   2. a pending action (intent without result): NONE while this leader runs it, or until
 *      intent_at + timeout_ms; then RESULT_UNKNOWN (attempted, outcome unknown).
 *   3. verdict SPLIT or UNKNOWN: NONE (never act without a quorum DOWN).
 *   4. no open incident: UP -> NONE; DOWN -> OPEN_INCIDENT, with reopen_of = the last incident
 *      if it RESOLVED less than reopen_window_ms before the verdict turned DOWN (its ladder
 *      counters continue); else a fresh ladder from restart #1.
 *   5. open incident, UP: RESOLVE at once if no action reached its target in it (every step
 *      NOT_ATTEMPTED, or none), else once verify_after_ms has passed since the last attempted
 *      step's result (NONE with wake_at until then).
 *   6. open incident, DOWN, exhausted: NONE (until the service recovers or an operator acts).
 *   7. open incident, DOWN: wait after the last result, unless it was NOT_ATTEMPTED (restart:
 *      max(restart_interval_ms, verify_after_ms); redeploy, rollback: verify_after_ms, their
 *      result already covering their wait for success); then the next step on the ladder (a
 *      NOT_ATTEMPTED step gave its attempt back, so it comes again) that the actuator can
 *      perform (rollback also needs a known-good deployment when caps say so), or EXHAUST when
 *      none is left; NONE with rate_limited while max_actions_per_hour intents already ran in
 *      the last hour (wake when the oldest of them leaves the hour).
 * Shadow mode does not change decisions, only how the driver executes them. */

/* One service's knobs (config: per service, with global defaults). */
typedef struct {
    int restart_attempts;           /* 3; 0 skips restarts */
    int64_t restart_interval_ms;    /* 10000: after a restart, wait this long, then judge */
    int64_t restart_timeout_ms;     /* 30000: bound on executing one restart (exec: its timeout) */
    int redeploy_attempts;          /* 2; 0 skips redeploys */
    int64_t redeploy_timeout_ms;    /* 120000: bound on a redeploy, waiting for success included */
    int64_t rollback_timeout_ms;    /* 60000 */
    int64_t verify_after_ms;        /* 5000: grace after an action before it is judged */
    int64_t reopen_window_ms;       /* 600000 */
    int max_actions_per_hour;       /* 10, >= 1 */
} md_escalation_knobs;

/* What the service's actuator can do. An alert-only service has no step at all. */
typedef struct {
    bool step[MD_STEP_COUNT];       /* indexed by md_step; [MD_STEP_NONE] unused */
    bool rollback_needs_known_good; /* Railway: rollback targets the ledger's known-good deployment */
} md_escalation_caps;

typedef struct {
    const md_escalation_knobs *knobs;  /* borrowed */
    const md_ledger_service *svc;      /* borrowed: the service's committed ledger state */
    md_verdict verdict;                /* the cluster verdict, never the leader's own view */
    int64_t verdict_since_ms;          /* when the verdict took its current value (leader clock) */
    int64_t now_ms;                    /* the leader's wall clock */
    bool action_in_flight;             /* this leader is executing the service's pending action */
    md_escalation_caps caps;
} md_escalation_input;

typedef enum {
    MD_ESC_NONE = 0,
    MD_ESC_OPEN_INCIDENT,
    MD_ESC_INTENT,
    MD_ESC_RESULT_UNKNOWN,
    MD_ESC_RESOLVE,
    MD_ESC_EXHAUST,
    MD_ESC_COUNT
} md_escalation_kind;

typedef struct {
    md_escalation_kind kind;
    int64_t wake_at_ms;       /* NONE: decide again at this time; 0: when the verdict or ledger changes */
    bool rate_limited;        /* NONE because of max_actions_per_hour (the driver alerts once) */
    uint64_t incident_id;     /* INTENT, RESULT_UNKNOWN, RESOLVE, EXHAUST */
    uint64_t reopen_of;       /* OPEN_INCIDENT: 0 for a fresh ladder */
    md_step step;             /* INTENT */
    uint32_t attempt;         /* INTENT: 1-based within the step */
    int64_t timeout_ms;       /* INTENT: the whole action's bound */
    char target[MD_LEDGER_NAME_MAX + 1]; /* INTENT rollback: the known-good deployment ("" if none) */
    uint64_t action_id;       /* RESULT_UNKNOWN */
    const char *reason;       /* static text naming the rule that decided; never NULL */
} md_escalation_decision;

/* md_escalation_knobs_default fills k with the seed's defaults. */
void md_escalation_knobs_default(md_escalation_knobs *k);

/* md_escalation_decide applies the rules above. Pure; in and everything it points to are
 * only read. Preconditions (asserted): knobs non-negative, max_actions_per_hour >= 1. */
md_escalation_decision md_escalation_decide(const md_escalation_input *in);

/* md_escalation_describe writes a one-line account of d for logs, e.g. "intent restart #2 of
 * incident 42 (timeout 30000 ms): next step on the ladder". Always NUL-terminates (len > 0). */
void md_escalation_describe(const md_escalation_decision *d, char *buf, size_t len);

const char *md_escalation_kind_name(md_escalation_kind k); /* "none", "open-incident", "intent", ... */

/* The remediation driver (driver.c)'s decisions as a pure step function (no clock, no I/O,
 * no randomness, no logging). It allocates a service's working state (a few hundred bytes) at
 * the service's first proposal or alert, so a service that never has one costs 16 bytes; out of
 * memory then, the step proposes and alerts nothing for the service and the next step tries again.
 *
 * The shell (node/heal/heal.c, heal_exec.c; tests/sim/sim_remedy.c in the simulator) owns
 * every side effect and reports back what happened; the driver owns the volatile per-service
 * state that decides: the proposal in progress, the intent this process proposed (the only one it
 * may execute), the action running here, and which alerts were already told. The contract, per
 * service:
 *
 *   1. every tick, md_driver_step: the leader runs the escalation core on the committed ledger
 *      and the cluster verdict; out says what to propose and which alerts to send;
 *   2. the shell proposes out->entry (or forwards it) and calls md_driver_proposed with the
 *      outcome and the index, always, even when it failed: entries may commit and apply inside
 *      the propose call (a cluster of one commits at once), so the driver also takes
 *      md_driver_applied before md_driver_proposed and reconciles the two by index;
 *   3. for every committed entry, in log order, md_driver_applied (after md_ledger_apply);
 *   4. an action the driver asked to run ends with md_driver_action_done, or, when it never
 *      reached its target (auth refused, rate limited, API unreachable, 5xx before acceptance,
 *      a command that could not start), with md_driver_action_blocked.
 *
 * Only attempts count. A blocked action stays this node's: the step proposes a BLOCKED entry
 * (once per reason, so people are told once), then asks the shell to run it again (out->retry)
 * after a backoff (the target's Retry-After, else 1 s doubling; at most 30 s), until it gets
 * through; it gives the action up with a NOT_ATTEMPTED result (which the ladder does not count)
 * when the service is paused, the verdict is no longer DOWN, or this node stops leading. A
 * committed intent of ours that this process will not run (the lease was not valid, or it no
 * longer led when the intent committed) gets a NOT_ATTEMPTED result too, at once: only its
 * proposer could have run it. What is left to the escalation core's timeout rule (RESULT
 * UNKNOWN, counted as attempted) is an intent of another node or of an earlier life of this one,
 * and its detail says which.
 *
 * Exactly once: an INTENT is run only by the process that proposed it (by index, never by the
 * entry's actor alone, so an intent replayed from the log after a restart is never run again),
 * only once it is committed, only while this node leads, only with a valid lease at that very
 * moment, and never while another action of the service runs here.
 *
 * Planted bugs (for the simulator's sim.catches_remedy_* tests; never in a shipped build):
 * -DREMEDY_BUG_EXEC_UNCOMMITTED runs an intent as soon as it is proposed; -DREMEDY_BUG_NO_LEASE
 * runs committed intents without a valid lease; -DREMEDY_BUG_EXEC_REPLAYED runs any committed
 * intent naming this node as its actor (also one replayed from the log after a restart);
 * -DREMEDY_BUG_GIVE_UP_RUNNING records a running action (not a blocked one) as NOT_ATTEMPTED when
 * this node stops leading, uncounting an action that may have reached its target. */



/* One service as configured. */
typedef struct {
    md_escalation_knobs knobs;
    md_escalation_caps caps;
    bool shadow;                   /* intents are recorded "would ..." and never executed */
} md_driver_service;

typedef struct {
    const char *node_id;           /* this node: the actor of its entries (copied, 1..64 chars) */
    int64_t split_alert_after_ms;  /* a SPLIT verdict this old is alerted once per episode */
    int64_t patience_ms;           /* a proposal not applied after this (monotonic) is decided again */
    size_t n;                      /* services, >= 1 */
    const md_driver_service *svc;  /* n of them, copied */
} md_driver_config;

#define MD_DRIVER_REASON_MAX 200
#define MD_DRIVER_BACKOFF_MAX_MS 30000 /* the longest wait between two tries of a blocked action */

/* What the step sees of one service, at one instant. */
typedef struct {
    size_t svc;                    /* < n */
    const md_ledger_service *ledger; /* borrowed: the service's committed ledger state */
    md_verdict verdict;            /* the cluster verdict */
    int64_t verdict_since_ms;      /* wall ms it took that value */
    md_state own_state;            /* this node's own view (the DEGRADED warning) */
    int64_t own_since_ms;
    bool leads;                    /* this node is the Raft leader */
    bool lease_valid;              /* ... and holds its lease right now (a retry needs it) */
    int64_t now_ms;                /* wall clock */
    int64_t mono_ms;               /* monotonic clock */
} md_driver_input;

typedef enum {
    MD_DRIVER_ALERT_RATE_LIMITED = 1, /* max_actions_per_hour reached: once per incident */
    MD_DRIVER_ALERT_SPLIT,            /* SPLIT for split_alert_after_ms: once per episode */
    MD_DRIVER_ALERT_DEGRADED,         /* own view DEGRADED: once per episode */
} md_driver_alert_kind;

typedef struct {
    md_driver_alert_kind kind;
    uint64_t incident;             /* RATE_LIMITED: the open incident (0: none) */
    int64_t since_ms;              /* SPLIT, DEGRADED: the episode's start (its key) */
    int64_t at_ms;
    int64_t retry_in_ms;           /* RATE_LIMITED: until the next action is allowed (0: unknown) */
    int64_t split_for_ms;          /* SPLIT */
} md_driver_alert;

#define MD_DRIVER_MAX_ALERTS 3

/* What md_driver_step decided for one service. */
typedef struct {
    bool propose;                  /* propose entry (or forward it, when not leading), then call
                                    * md_driver_proposed */
    md_ledger_entry entry;         /* type, service, at_ms, actor and the type's fields are set;
                                    * INCIDENT_OPEN: the shell sets u.open.votes (the votes that
                                    * made the quorum). Texts point to static strings. */
    char what[256];                /* md_escalation_describe of the decision (the log's "what") */
    md_escalation_kind decision;
    int64_t wake_at_ms;            /* NONE: escalation asks to be asked again then (0: on change) */
    size_t n_alerts;
    md_driver_alert alerts[MD_DRIVER_MAX_ALERTS];
    bool retry;                    /* run retry_action's actuator again (it was blocked); it ends
                                    * with md_driver_action_done or md_driver_action_blocked */
    struct md_driver_action *retry_action; /* owned by the driver, valid until the next call */
} md_driver_output;

/* What the driver says about an intent it may run. */
typedef enum {
    MD_DRIVER_RUN = 1,             /* start the actuator; md_driver_action_done when it ends */
    MD_DRIVER_RUN_SHADOW,          /* shadow mode: record it skipped, call nothing; then action_done */
    MD_DRIVER_REFUSED_BUSY,        /* another action of this service still runs here */
    MD_DRIVER_REFUSED_LEASE,       /* the lease is not valid: not run; the step proposes its
                                    * NOT_ATTEMPTED result */
} md_driver_disposition;

typedef struct md_driver_action {
    md_driver_disposition how;
    size_t svc;
    uint64_t action_id;            /* the INTENT's index */
    uint64_t incident;
    md_step step;
    uint32_t attempt;
    int64_t timeout_ms;            /* the committed step's bound; 0 when unknown */
    bool shadow;
    char target[MD_LEDGER_NAME_MAX + 1]; /* rollback: the known-good deployment ("" if none) */
} md_driver_action;

/* What one applied entry asks for. */
typedef struct {
    bool alert;                    /* the leader tells people about this event (its index is the key) */
    bool act;                      /* action is an intent of ours to run (or refuse, see action.how) */
    md_driver_action action;
} md_driver_applied_out;

typedef struct md_driver md_driver;

/* md_driver_new copies cfg (services with equal settings share one copy). *out is owned by the caller (md_driver_free). Errors: -EINVAL (no
 * node id, n == 0), -ENOMEM. */
int md_driver_new(const md_driver_config *cfg, md_driver **out);
void md_driver_free(md_driver *d);

/* md_driver_step decides for in->svc: at most one entry to propose (while no proposal of ours
 * for the service awaits its apply, for patience_ms at most), a retry of a blocked action, and
 * the alerts due. A node that does not lead only gives up what it still holds (a blocked action,
 * an intent it will not run): their NOT_ATTEMPTED results are forwarded to the leader. Call it on
 * every node. Pure apart from d's state; out is overwritten. */
void md_driver_step(md_driver *d, const md_driver_input *in, md_driver_output *out);

/* md_driver_proposed reports the fate of the entry the last step proposed for svc: rc 0 with the
 * entry's index (0 when it was forwarded to another leader), or rc < 0 when it was not
 * accepted. Returns true with *act filled when an intent of ours is now to be run (or refused):
 * one that committed and applied during the propose call; lease_valid is the lease right now. */
bool md_driver_proposed(md_driver *d, size_t svc, int rc, uint64_t index, bool leads, bool lease_valid,
                        int64_t mono_ms, md_driver_action *act);

/* md_driver_applied takes one committed entry's event (ev from md_ledger_apply; borrowed for the
 * call). leads and lease_valid are the node's state right now. */
void md_driver_applied(md_driver *d, const md_ledger_event *ev, bool leads, bool lease_valid,
                       md_driver_applied_out *out);

/* md_driver_action_done: the action the driver asked to run for svc ended (or could not start);
 * its result is the shell's to submit. */
void md_driver_action_done(md_driver *d, size_t svc);

/* md_driver_action_blocked: the action the driver asked to run for svc did not reach its target.
 * reason (copied, cut to MD_DRIVER_REASON_MAX - 1 bytes) says why for people and should not vary
 * between tries of one cause, since a new reason is told again; retry_after_ms is the target's own
 * hint (0: none). The action stays in flight; see "Only attempts count" above. */
void md_driver_action_blocked(md_driver *d, size_t svc, const char *reason, uint32_t retry_after_ms, int64_t mono_ms);

/* md_driver_blocked_reason: why svc's action is blocked here, or NULL when it is not. */
const char *md_driver_blocked_reason(const md_driver *d, size_t svc);

/* md_driver_holds: svc has something here a follower must still see to (a blocked action, a
 * NOT_ATTEMPTED result not handed over yet); md_driver_step need not be called for it otherwise
 * when this node does not lead. */
bool md_driver_holds(const md_driver *d, size_t svc);

/* md_driver_knobs: svc's ladder knobs as configured (owned by d). */
const md_escalation_knobs *md_driver_knobs(const md_driver *d, size_t svc);

/* md_driver_in_flight: an action of svc runs here. */
bool md_driver_in_flight(const md_driver *d, size_t svc);

/* md_driver_bytes: the memory d holds (its records, the distinct settings and the services'
 * working state), for the memory figures and their tests. */
size_t md_driver_bytes(const md_driver *d);

#endif
