/* heal_int.h: the remediation shell's private state, shared by heal*.c only. */
#ifndef MD_HEAL_INT_H
#define MD_HEAL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "alerts.h"
#include "cluster/cluster.h"
#include "remedy/remedy.h"
#include "exec_actuator.h"
#include "railway.h"
#include "heal.h"

/* Per service with an actuator: what this node is doing about it right now (never replicated).
 * The decisions state (proposals in progress, the intent this process may run, alerts told) is
 * the driver's. A service without an actuator (alert only) never runs an action and has none. */
typedef struct {
    struct md_heal *r;
    size_t idx;
    /* the action this node executes (the driver says when; see md_driver_in_flight) */
    uint64_t action_id;
    md_exec *exec;           /* exec actuator, while running */
    rw_client *rw;           /* this service's Railway client (one of r->rw_clients); NULL: none */
    uint64_t rw_op;          /* railway operation id, while running (0: none) */
    md_step step;
    uint32_t attempt;
    uint64_t incident;
    int64_t kg_checked_ms;   /* wall: when the next known-good lookup may start (see on_instance) */
    uint64_t kg_op;          /* railway lookup in progress */
} md_rsvc;

struct md_heal {
    uv_loop_t *loop;
    const md_config *cfg;
    md_cluster *cluster;
    md_consensus *cons;      /* NULL: no consensus, so no remediation */
    md_curl_loop *cl;
    md_ledger *ledger;
    md_driver *driver;       /* the decisions (pure); this file's code is its shell */
    md_alerts *alerts;       /* NULL without webhooks */
    rw_client **rw_clients;  /* one per distinct token and kind (heal_rw.c); NULL without Railway services */
    struct md_rw_state *rw_state; /* n_rw_clients: what each client's token reaches, as last seen */
    size_t n_rw_clients;
    md_rw_host *rw_host;     /* hosts every client on our loop; freed after them */
    uv_timer_t tick;
    bool tick_open;
    size_t tick_next;        /* the next service of the pass in progress; n between passes */
    int64_t tick_started_ms; /* monotonic ms the pass in progress (or the last) started */
    bool closing;
    size_t n;
    md_rsvc **svc;           /* n of them: NULL for a service without an actuator */
    md_shared_text *incidents; /* the /v1/incidents body, rendered from the ledger when it changed;
                              * views share it (one copy however many views hold it) */
    bool incidents_dirty;
    /* Entries up to the commit index found on disk at start were applied, and logged, by an
     * earlier run: applying them again rebuilds the ledger quietly (one summary line). */
    uint64_t replay_upto;
    uint64_t replayed, replay_refused;
    bool replay_told;        /* the summary line is out */
    char incidents_leader[72]; /* the leader incidents names ("" for none): it goes stale too */
    uint64_t actions_started;
    void (*on_change)(void *);
    void *on_change_ctx;
    void (*done)(void *);
    void *done_arg;
};

/* What a Railway client's token reaches, from the check at start and from the answers since. */
typedef struct md_rw_state {
    md_heal *r;              /* back pointer, for the check's callback */
    size_t k;                /* its index in r->rw_clients */
    bool project;            /* sent as a project token */
    const char *state;       /* "unchecked", "ok", "refused", "error" (static) */
    rw_token_scope scope;
    char reach[200];         /* "project P environment E", "workspaces W1,W2", "" */
    char detail[RW_SUMMARY_MAX]; /* the check's or the last refusal's summary (never the token) */
    int64_t checked_ms;
    uint64_t check_op;       /* the check in progress, 0 when none */
} md_rw_state;

/* heal_rw.c */
/* md__heal_rw_check starts the token check of every client (once, at start). */
void md__heal_rw_check(struct md_heal *r);
/* md__heal_rw_seen records what an action's answer says of its client's token (auth refused, or
 * an answer that got through). */
void md__heal_rw_seen(struct md_heal *r, const rw_client *c, const rw_result *res);
/* md__heal_rw_fill_view adds one actuator per client to the view. */
int md__heal_rw_fill_view(const struct md_heal *r, md_view *v);

/* heal.c */
void md__heal_changed(struct md_heal *r);
/* md__heal_fill_common zeroes e and sets what every entry of ours carries: type, the service's
 * name, the wall time and this node as the actor. */
void md__heal_fill_common(struct md_heal *r, md_ledger_entry *e, md_ledger_entry_type type, size_t svc);
/* md__heal_submit proposes e (leader) or forwards it to the leader; returns 0 or <0. */
int md__heal_submit(struct md_heal *r, const md_ledger_entry *e, uint64_t *index);
void md__heal_alert(struct md_heal *r, const md_alert *a);

/* heal_exec.c: runs a committed intent of ours with the service's actuator (or records it
 * skipped in shadow mode), then submits its result. */
void md__heal_execute(struct md_heal *r, md_rsvc *s, const md_driver_action *a);
void md__heal_cancel_all(struct md_heal *r);
/* md__heal_track_known_good: on the leader, a Railway service UP for known_good_after_ms gets
 * its running deployment recorded in the ledger as last-known-good. */
void md__heal_track_known_good(struct md_heal *r, md_rsvc *s, int64_t now_wall);

/* heal_rw.c: md__heal_rw_new makes one Railway client per distinct token and kind among the
 * Railway services and points each service's md_rsvc.rw at its own (nothing without Railway
 * services); 0, or a negative error with err filled and nothing left allocated.
 * md__heal_rw_free frees them and their host (after their operations were cancelled). */
int md__heal_rw_new(struct md_heal *r, char *err, size_t errlen);
void md__heal_rw_free(struct md_heal *r);

/* heal_render.c: the /v1/incidents document. Returns a malloc'd string or NULL. */
char *md__heal_incidents_json(const struct md_heal *r, int64_t now_ms);

#endif
