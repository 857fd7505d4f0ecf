/* escalation.h: the remediation ladder as a pure function (no clock, no I/O, no state).
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
 *   5. open incident, UP: RESOLVE at once if no action ran in it, else once verify_after_ms
 *      has passed since the last result (NONE with wake_at until then).
 *   6. open incident, DOWN, exhausted: NONE (until the service recovers or an operator acts).
 *   7. open incident, DOWN: wait after the last result (restart: max(restart_interval_ms,
 *      verify_after_ms); redeploy, rollback: verify_after_ms, their result already covering
 *      their wait for success); then the next step on the ladder that the actuator can
 *      perform (rollback also needs a known-good deployment when caps say so), or EXHAUST when
 *      none is left; NONE with rate_limited while max_actions_per_hour intents already ran in
 *      the last hour (wake when the oldest of them leaves the hour).
 * Shadow mode does not change decisions, only how the driver executes them. */
#ifndef MD_ESCALATION_H
#define MD_ESCALATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger.h"
#include "verdict.h"

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

#endif
