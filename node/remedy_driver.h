/* remedy_driver.h: the remediation driver's decisions as a pure step function (no clock, no I/O,
 * no randomness, no logging, no allocation after md_driver_new).
 *
 * The shell (node/remedy.c, node/remedy_exec.c; tests/sim/sim_remedy.c in the simulator) owns
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
 *   4. an action the driver asked to run ends with md_driver_action_done.
 *
 * Exactly once: an INTENT is run only by the process that proposed it (by index, never by the
 * entry's actor alone, so an intent replayed from the log after a restart is never run again),
 * only once it is committed, only while this node leads, only with a valid lease at that very
 * moment, and never while another action of the service runs here.
 *
 * Planted bugs (for the simulator's sim.catches_remedy_* tests; never in a shipped build):
 * -DREMEDY_BUG_EXEC_UNCOMMITTED runs an intent as soon as it is proposed; -DREMEDY_BUG_NO_LEASE
 * runs committed intents without a valid lease; -DREMEDY_BUG_EXEC_REPLAYED runs any committed
 * intent naming this node as its actor (also one replayed from the log after a restart). */
#ifndef MD_REMEDY_DRIVER_H
#define MD_REMEDY_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "escalation.h"
#include "ledger.h"
#include "types.h"
#include "verdict.h"

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

/* What the step sees of one service, at one instant. */
typedef struct {
    size_t svc;                    /* < n */
    const md_ledger_service *ledger; /* borrowed: the service's committed ledger state */
    md_verdict verdict;            /* the cluster verdict */
    int64_t verdict_since_ms;      /* wall ms it took that value */
    md_state own_state;            /* this node's own view (the DEGRADED warning) */
    int64_t own_since_ms;
    bool leads;                    /* this node is the Raft leader */
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
    bool propose;                  /* propose entry, then call md_driver_proposed */
    md_ledger_entry entry;         /* type, service, at_ms, actor and the type's fields are set;
                                    * INCIDENT_OPEN: the shell sets u.open.votes (the votes that
                                    * made the quorum). Texts point to static strings. */
    char what[256];                /* md_escalation_describe of the decision (the log's "what") */
    md_escalation_kind decision;
    int64_t wake_at_ms;            /* NONE: escalation asks to be asked again then (0: on change) */
    size_t n_alerts;
    md_driver_alert alerts[MD_DRIVER_MAX_ALERTS];
} md_driver_output;

/* What the driver says about an intent it may run. */
typedef enum {
    MD_DRIVER_RUN = 1,             /* start the actuator; md_driver_action_done when it ends */
    MD_DRIVER_RUN_SHADOW,          /* shadow mode: record it skipped, call nothing; then action_done */
    MD_DRIVER_REFUSED_BUSY,        /* another action of this service still runs here */
    MD_DRIVER_REFUSED_LEASE,       /* the lease is not valid: the next leader's timeout rule records it */
} md_driver_disposition;

typedef struct {
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

/* md_driver_new copies cfg. *out is owned by the caller (md_driver_free). Errors: -EINVAL (no
 * node id, n == 0), -ENOMEM. */
int md_driver_new(const md_driver_config *cfg, md_driver **out);
void md_driver_free(md_driver *d);

/* md_driver_step decides for in->svc: nothing unless in->leads; else at most one entry to
 * propose (while no proposal of ours for the service awaits its apply, for patience_ms at
 * most), and the alerts due. Pure apart from d's state; out is overwritten. */
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

/* md_driver_in_flight: an action of svc runs here. */
bool md_driver_in_flight(const md_driver *d, size_t svc);

#endif
