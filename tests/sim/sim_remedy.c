/* sim_remedy.c: `sim --remedy`: the production remediation driver (node/remedy_driver.c), the
 * ledger and the escalation core on top of the Raft cores, with simulated services, verdicts and
 * actuators. This file is the world and the shell only: every decision (when to ask the
 * escalation core, what to propose, which committed intent to run, the lease check before it) is
 * the shipped driver's, one md_driver per node and life, called as node/remedy.c calls it.
 *
 * Every node applies committed entries to its own md_ledger in log order and tells its driver.
 * Every node's driver is stepped per service every tick (it decides only while its node leads);
 * a proposal is made durable, sent and applied inside the propose call, as node/consensus.c does,
 * so a cluster of one commits and applies its own proposal before the call returns. An action
 * the driver asks to run goes to a simulated actuator that takes virtual time, may heal the
 * service, and proposes (or forwards, or loses) its RESULT. Services break and heal by a seeded
 * schedule; the cluster verdict follows the truth with lags, SPLIT/UNKNOWN periods, and is
 * UNKNOWN on a node cut off from a quorum. Checked as it happens (each failure names its step):
 *   1. no action id is executed (reaching its target) more than once, across all nodes and lives;
 *   2. every INTENT proposed, and every one committed, was decided on a quorum DOWN verdict;
 *   3. every node's ledger keeps the ladder's order (restart 1..n, redeploy 1..m, rollback;
 *      never backwards, never a repeated attempt, no step skipped that had attempts left; a
 *      NOT_ATTEMPTED result gives its attempt back, and the next intent takes the same number);
 *   4. an execution follows the commit of its own INTENT (same service, step, attempt), in the
 *      node and the life (process) that proposed it;
 *   5. an execution happens only while its node holds a valid lease;
 *   6. two ledgers at the same applied index serialize to the same snapshot bytes;
 *   7. only an action that never reached its target is recorded NOT_ATTEMPTED.
 * In half the seeds some executions never reach their target (API storms: 429 with or without
 * Retry-After, outages); the driver must tell, retry and give up without ever uncounting one.
 * And a liveness check: a committed intent that its proposer's driver never starts while the
 * proposer still leads with a valid lease and nothing else runs for the service (the bug of a
 * cluster of one that committed intents and never executed them) fails the run.
 * Broken drivers (node/remedy_driver.h): -DREMEDY_BUG_EXEC_UNCOMMITTED, -DREMEDY_BUG_NO_LEASE,
 * -DREMEDY_BUG_EXEC_REPLAYED, -DREMEDY_BUG_GIVE_UP_RUNNING. */
#include "sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remedy/remedy.h"

bool sim_opt_remedy = false;

#define SR_MAX_SVC 3
#define SR_EPOCH_MS INT64_C(1700000000000)
#define SR_TICK_MS 100
#define SR_PATIENCE_MS 1500
#define SR_SPLIT_ALERT_MS 5000

enum { KIND_CRASH, KIND_BAD_DEPLOY, KIND_CODE_BUG, KIND_HOPELESS, KIND_COUNT };

typedef struct {
    bool broken;
    int kind;
    uint64_t change_at;              /* next scheduled truth change (break or spontaneous heal) */
    md_verdict verdict, settled, lag_kind, blip_kind;
    uint64_t since, target_at, blip_at, blip_until;
    md_escalation_knobs knobs;
    md_escalation_caps caps;
    bool shadow;
} sr_svc;

typedef struct {
    uint32_t cnt[MD_STEP_COUNT];      /* check 3's own model of the ladder counters */
    uint64_t last_closed;
    uint32_t last_cnt[MD_STEP_COUNT];
} sr_nsvc;

typedef struct {
    md_ledger *l;
    md_driver *d;                     /* the production driver, new in every life */
    int64_t skew;                     /* wall clock error, ms */
    uint64_t next_tick;
    uint64_t last_intent[SR_MAX_SVC]; /* the last INTENT this life proposed, per service */
    uint64_t awaiting[SR_MAX_SVC];    /* ... committed while leading: the driver owes an answer */
    sr_nsvc s[SR_MAX_SVC];
} sr_node;

typedef struct {
    int node;
    uint32_t life;
    size_t svc;
    uint64_t action, done_at;
    md_step step;
    bool executed;
    bool blocked;                     /* never reached its target: no effect, no result */
    uint32_t retry_after_ms;
    md_outcome outcome;
} sr_job;

typedef struct { uint64_t index, term; md_ledger_entry_type type; md_verdict verdict; int node; uint32_t life; } sr_prop;
typedef struct { bool set; size_t svc; md_step step; uint32_t attempt; } sr_intent;

struct sim_remedy {
    sim_rng rng;                      /* apart from the world's: the Raft schedule stays comparable */
    size_t n_svc;
    char names[SR_MAX_SVC][8];
    sr_svc svc[SR_MAX_SVC];
    sr_node nodes[SIM_MAX_NODES + 1];
    sr_job *jobs; size_t n_jobs, cap_jobs;
    sr_prop *props; size_t n_props, cap_props;
    sr_intent *intents; size_t cap_intents;    /* by action id (the INTENT's index) */
    uint8_t *execs; size_t cap_execs;          /* executions per action id */
    uint64_t *snap; size_t cap_snap;           /* snapshot hash by ledger index */
    uint64_t executions, intents_committed, results_lost;
    uint32_t block_pm;                /* per mille of executions that never reach their target */
};

static uint64_t rnd(sim_remedy *m, uint64_t lo, uint64_t hi) { return lo + sim_below(&m->rng, hi - lo + 1); }

static int64_t wall_at(const sim_world *w, int i, uint64_t vt)
{
    return SR_EPOCH_MS + (int64_t)vt + (int64_t)vt * w->nodes[i].ppm / 1000000 + w->rem->nodes[i].skew;
}

static const char *node_name(int i)
{
    static const char *names[] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"};
    return i < 10 ? names[i] : "n?";
}

/* ---- the simulated services and the cluster verdict ---- */

static void set_truth(sim_world *w, size_t k, bool broken)
{
    sim_remedy *m = w->rem;
    sr_svc *s = &m->svc[k];
    s->broken = broken;
    if (broken) {
        s->kind = (int)sim_below(&m->rng, KIND_COUNT);
        s->change_at = sim_chance(&m->rng, 400) ? w->now + rnd(m, 2000, 40000) : UINT64_MAX;
    } else {
        s->change_at = w->now + rnd(m, 3000, 60000);
    }
    s->target_at = w->now + rnd(m, 50, 1000);
    uint64_t x = sim_below(&m->rng, 10);
    s->lag_kind = x < 3 ? MD_VERDICT_SPLIT : x < 5 ? MD_VERDICT_UNKNOWN : MD_VERDICT_COUNT; /* COUNT: old */
    sim_trace(w, "svc%zu TRUTH %s%s", k, broken ? "broken" : "healthy",
              broken ? (const char *[]){" (crash)", " (bad deploy)", " (code bug)", " (hopeless)"}[s->kind] : "");
}

static void update_service(sim_world *w, size_t k)
{
    sim_remedy *m = w->rem;
    sr_svc *s = &m->svc[k];
    if (w->now >= s->change_at) {
        set_truth(w, k, !s->broken);
    }
    if (w->now >= s->blip_until) {
        s->blip_at = w->now + rnd(m, 5000, 60000);
        s->blip_until = s->blip_at + rnd(m, 100, 3000);
        s->blip_kind = sim_chance(&m->rng, 500) ? MD_VERDICT_SPLIT : MD_VERDICT_UNKNOWN;
    }
    md_verdict v;
    if (w->now >= s->target_at) {
        s->settled = s->broken ? MD_VERDICT_DOWN : MD_VERDICT_UP;
    }
    if (w->now >= s->blip_at) {
        v = s->blip_kind;
    } else if (w->now < s->target_at && s->lag_kind != MD_VERDICT_COUNT) {
        v = s->lag_kind;
    } else {
        v = s->settled;
    }
    if (v != s->verdict) {
        s->verdict = v;
        s->since = w->now;
        sim_trace(w, "svc%zu VERDICT %s", k, v == MD_VERDICT_UP ? "UP" : v == MD_VERDICT_DOWN ? "DOWN"
                                               : v == MD_VERDICT_SPLIT ? "SPLIT" : "UNKNOWN");
    }
}

/* A node cut off from a quorum has no fresh votes: UNKNOWN. */
static md_verdict view_of(const sim_world *w, int i, size_t k)
{
    int reach = 0;
    for (int j = 1; j <= w->n; j++) {
        reach += w->nodes[j].r != NULL && w->link[i][j] && w->link[j][i];
    }
    return reach >= w->n / 2 + 1 ? w->rem->svc[k].verdict : MD_VERDICT_UNKNOWN;
}

/* ---- per node ---- */

static md_ledger *new_ledger(sim_world *w)
{
    const char *names[SR_MAX_SVC];
    for (size_t k = 0; k < w->rem->n_svc; k++) {
        names[k] = w->rem->names[k];
    }
    md_ledger *l = NULL;
    if (md_ledger_new(names, w->rem->n_svc, &l) != 0) {
        abort();
    }
    return l;
}

static md_driver *new_driver(sim_world *w, int i)
{
    sim_remedy *m = w->rem;
    md_driver_service svc[SR_MAX_SVC];
    for (size_t k = 0; k < m->n_svc; k++) {
        svc[k] = (md_driver_service){.knobs = m->svc[k].knobs, .caps = m->svc[k].caps, .shadow = m->svc[k].shadow};
    }
    md_driver_config c = {.node_id = node_name(i), .split_alert_after_ms = SR_SPLIT_ALERT_MS,
                          .patience_ms = SR_PATIENCE_MS, .n = m->n_svc, .svc = svc};
    md_driver *d = NULL;
    if (md_driver_new(&c, &d) != 0) {
        abort();
    }
    return d;
}

void sim_remedy_node_start(sim_world *w, int i)
{
    sr_node *rn = &w->rem->nodes[i];
    md_ledger_free(rn->l);
    rn->l = new_ledger(w);
    md_driver_free(rn->d);
    rn->d = new_driver(w, i); /* a restarted process remembers nothing it did */
    memset(rn->s, 0, sizeof rn->s);
    memset(rn->last_intent, 0, sizeof rn->last_intent);
    memset(rn->awaiting, 0, sizeof rn->awaiting);
    rn->next_tick = 0;
}

static uint64_t snap_hash(sim_world *w, int i, const uint8_t *b, size_t len)
{
    (void)w;
    (void)i;
    uint64_t h = 0x51ed;
    for (size_t k = 0; k < len; k++) {
        h = (h ^ b[k]) * 0x100000001B3ull;
    }
    return h ^ len;
}

/* Check 6: the snapshot bytes at ledger index `index` agree with every other node's. */
static void check_snapshot(sim_world *w, int i, uint64_t index)
{
    sim_remedy *m = w->rem;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (md_ledger_snapshot(m->nodes[i].l, &buf, &len) != 0) {
        abort();
    }
    uint64_t h = snap_hash(w, i, buf, len) | 1;
    free(buf);
    sim_grow((void **)&m->snap, &m->cap_snap, index, sizeof *m->snap);
    if (m->snap[index] == 0) {
        m->snap[index] = h;
    } else if (m->snap[index] != h) {
        sim_fail(w, "remedy: n%d's ledger snapshot at index %lu differs from another node's", i, (unsigned long)index);
    }
}

void sim_remedy_restore(sim_world *w, int i, const uint8_t *data, size_t len)
{
    sr_node *rn = &w->rem->nodes[i];
    if (len == 0) {
        return; /* a snapshot taken before the ledger changed anything */
    }
    int rc = md_ledger_restore(rn->l, data, len);
    if (rc != 0) {
        sim_fail(w, "remedy: n%d cannot restore its ledger snapshot: %d", i, rc);
        return;
    }
    uint64_t last = md_ledger_last_index(rn->l);
    if (last > 0) {
        check_snapshot(w, i, last);
    }
    /* Check 3's model restarts from the restored state. */
    for (size_t k = 0; k < w->rem->n_svc; k++) {
        const md_ledger_service *ls = md_ledger_service_at(rn->l, k);
        sr_nsvc *ns = &rn->s[k];
        memset(ns, 0, sizeof *ns);
        ns->last_closed = ls->more->last_closed.id;
        memcpy(ns->last_cnt, ls->more->last_closed.attempts, sizeof ns->last_cnt);
        if (ls->open) {
            memcpy(ns->cnt, ls->open->attempts, sizeof ns->cnt);
        }
    }
}

int sim_remedy_snapshot(sim_world *w, int i, uint8_t **out, size_t *len)
{
    md_ledger *l = w->rem->nodes[i].l;
    if (md_ledger_last_index(l) == 0) {
        *out = NULL;
        *len = 0;
        return 0;
    }
    return md_ledger_snapshot(l, out, len);
}

/* ---- proposals ---- */

static const sr_prop *find_prop(const sim_remedy *m, uint64_t index, uint64_t term)
{
    for (size_t k = m->n_props; k-- > 0;) {
        if (m->props[k].index == index && m->props[k].term == term) {
            return &m->props[k];
        }
    }
    return NULL;
}

static int propose_at(sim_world *w, int i, const md_ledger_entry *e, md_verdict decided_on, uint64_t *index)
{
    sim_remedy *m = w->rem;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (md_ledger_entry_encode(e, &buf, &len) != 0) {
        sim_fail(w, "remedy: n%d: encoding a %s entry failed", i, md_ledger_entry_type_name(e->type));
        return -EINVAL;
    }
    int rc = raft_propose(w->nodes[i].r, RAFT_ENTRY_NORMAL, buf, len, index);
    free(buf);
    if (rc == 0) {
        sim_grow((void **)&m->props, &m->cap_props, m->n_props, sizeof *m->props);
        m->props[m->n_props++] =
            (sr_prop){*index, raft_get_term(w->nodes[i].r), e->type, decided_on, i, w->nodes[i].life};
    }
    sim_trace(w, "n%d REMEDY propose %s %s -> %d (index %lu)", i, md_ledger_entry_type_name(e->type), e->service, rc,
              (unsigned long)*index);
    if (rc == 0 && e->type == MD_LEDGER_INTENT) {
        size_t k = 0;
        while (k + 1 < m->n_svc && strcmp(m->names[k], e->service) != 0) {
            k++;
        }
        m->nodes[i].last_intent[k] = *index; /* known before the call returns, unlike to the driver */
    }
    if (rc == 0) {
        sim_node_persist_now(w, i); /* node/consensus.c: fsync, send and apply inside the propose call */
    }
    return rc;
}

static void run(sim_world *w, int i, const md_driver_action *a);

/* submit: node i's leader proposes e; a follower forwards it to the leader it can reach, which
 * may be lost (node/heal's md__heal_submit). 0 when some leader took it. */
static int submit(sim_world *w, int i, const md_ledger_entry *e, uint64_t *index)
{
    sim_remedy *m = w->rem;
    sim_node *nd = &w->nodes[i];
    int at = 0;
    if (raft_get_role(nd->r) == RAFT_LEADER && !nd->paused) {
        at = i;
    } else if (!nd->paused && sim_chance(&m->rng, 700)) {
        for (int x = 1; x <= w->n && !at; x++) {
            if (w->nodes[x].r && !w->nodes[x].paused && raft_get_role(w->nodes[x].r) == RAFT_LEADER &&
                w->link[i][x]) {
                at = x;
            }
        }
    }
    *index = 0;
    if (at == 0 || propose_at(w, at, e, MD_VERDICT_COUNT, index) != 0) {
        return -EAGAIN;
    }
    sim_node_drive(w, at);
    if (at != i) {
        *index = 0; /* forwarded: the proposer does not learn the index */
    }
    return 0;
}

/* node/remedy.c's on_tick for one service: the driver decides, this shell proposes. */
static void decide(sim_world *w, int i, size_t k)
{
    sim_remedy *m = w->rem;
    sr_node *rn = &m->nodes[i];
    raft *r = w->nodes[i].r;
    md_verdict v = view_of(w, i, k);
    md_driver_input in = {
        .svc = k,
        .ledger = md_ledger_service_at(rn->l, k),
        .verdict = v,
        .verdict_since_ms = wall_at(w, i, m->svc[k].since),
        .own_state = MD_STATE_UP,
        .leads = raft_get_role(r) == RAFT_LEADER,
        .lease_valid = raft_lease_valid(r, sim_local_now(w, i)),
        .now_ms = wall_at(w, i, w->now),
        .mono_ms = (int64_t)sim_local_now(w, i),
    };
    md_driver_output out;
    md_driver_step(rn->d, &in, &out);
    if (out.retry) {
        run(w, i, out.retry_action);
    }
    if (!out.propose) {
        return;
    }
    md_ledger_entry *e = &out.entry;
    if (e->type == MD_LEDGER_INCIDENT_OPEN) {
        e->u.open.votes = md_ledger_text_of("simulated");
    }
    /* Check 2, at the decision: the cluster verdict (not only this node's view) is DOWN. */
    if (e->type == MD_LEDGER_INTENT && (v != MD_VERDICT_DOWN || m->svc[k].verdict != MD_VERDICT_DOWN)) {
        sim_fail(w, "remedy: n%d decided an intent for svc%zu on verdict %d (cluster %d), not DOWN", i, k, v,
                 m->svc[k].verdict);
        return;
    }
    uint64_t index = 0;
    int rc = in.leads || e->type != MD_LEDGER_RESULT ? propose_at(w, i, e, v, &index) : submit(w, i, e, &index);
    md_driver_action act;
    r = w->nodes[i].r; /* still this life: applying never crashes a node */
    if (md_driver_proposed(rn->d, k, rc, index, raft_get_role(r) == RAFT_LEADER,
                           raft_lease_valid(r, sim_local_now(w, i)), (int64_t)sim_local_now(w, i), &act)) {
        run(w, i, &act);
    }
}

/* ---- execution ---- */

static uint32_t heal_pm(md_step step, int kind)
{
    static const uint32_t pm[MD_STEP_COUNT][KIND_COUNT] = {
        [MD_STEP_RESTART] = {700, 50, 50, 0},
        [MD_STEP_REDEPLOY] = {500, 800, 50, 0},
        [MD_STEP_ROLLBACK] = {500, 600, 900, 0},
    };
    return pm[step][kind];
}

/* The simulated actuator runs what the driver asked for; checks 1, 4 and 5 judge the driver. */
static void run(sim_world *w, int i, const md_driver_action *a)
{
    sim_remedy *m = w->rem;
    size_t k = a->svc;
    uint64_t action = a->action_id;
    raft *r = w->nodes[i].r;
    if (m->nodes[i].awaiting[k] == action) {
        m->nodes[i].awaiting[k] = 0;
    }
    if (a->how == MD_DRIVER_REFUSED_BUSY || a->how == MD_DRIVER_REFUSED_LEASE) {
        sim_trace(w, "n%d REMEDY intent %lu not executed: %s", i, (unsigned long)action,
                  a->how == MD_DRIVER_REFUSED_BUSY ? "another action runs" : "lease not valid");
        return;
    }
    sr_job job = {.node = i, .life = w->nodes[i].life, .svc = k, .action = action, .step = a->step,
                  .done_at = w->now + 1, .outcome = MD_OUTCOME_SKIPPED};
    if (a->how == MD_DRIVER_RUN) {
        bool lease = raft_lease_valid(r, sim_local_now(w, i));
        sim_grow((void **)&m->execs, &m->cap_execs, action, 1);
        sim_grow((void **)&m->intents, &m->cap_intents, action, sizeof *m->intents);
        m->executions++;
        sim_trace(w, "n%d REMEDY EXECUTE action %lu svc%zu %s #%u", i, (unsigned long)action, k, md_step_name(a->step),
                  a->attempt);
        if (++m->execs[action] > 1) { /* check 1 */
            sim_fail(w, "remedy: action %lu executed %u times (now by n%d)", (unsigned long)action, m->execs[action], i);
            return;
        }
        const sr_intent *it = &m->intents[action];
        uint64_t ct, ch;
        if (!it->set || !sim_committed_at(w, action, &ct, &ch) || it->svc != k || it->step != a->step ||
            it->attempt != a->attempt) { /* check 4 */
            sim_fail(w, "remedy: n%d executes action %lu (svc%zu %s #%u) that is not a committed intent", i,
                     (unsigned long)action, k, md_step_name(a->step), a->attempt);
            return;
        }
        const sr_prop *p = find_prop(m, action, ct);
        if (p == NULL || p->node != i || p->life != w->nodes[i].life) { /* check 4: by its proposer only */
            sim_fail(w, "remedy: n%d (life %u) executes action %lu, proposed by n%d in its life %u", i,
                     w->nodes[i].life, (unsigned long)action, p ? p->node : 0, p ? p->life : 0);
            return;
        }
        if (!lease) { /* check 5 */
            sim_fail(w, "remedy: n%d executes action %lu without a valid lease", i, (unsigned long)action);
            return;
        }
        if (m->block_pm && sim_chance(&m->rng, m->block_pm)) {
            /* The target refuses (auth, 429, 5xx, unreachable): nothing happened, so it does not
             * count towards check 1 either; the driver retries it or gives it up. */
            m->execs[action]--;
            job.blocked = true;
            job.done_at = w->now + 1 + sim_below(&m->rng, 50);
            job.retry_after_ms = sim_chance(&m->rng, 300) ? (uint32_t)rnd(m, 1, 60000) : 0;
            sim_trace(w, "n%d REMEDY action %lu blocked", i, (unsigned long)action);
            sim_grow((void **)&m->jobs, &m->cap_jobs, m->n_jobs, sizeof *m->jobs);
            m->jobs[m->n_jobs++] = job;
            return;
        }
        int64_t timeout_ms = a->timeout_ms > 0 ? a->timeout_ms : 1000;
        uint64_t dur = 1 + sim_below(&m->rng, (uint64_t)timeout_ms * 6 / 5);
        job.done_at = w->now + (dur < (uint64_t)timeout_ms ? dur : (uint64_t)timeout_ms);
        job.executed = true;
        job.outcome = dur >= (uint64_t)timeout_ms ? MD_OUTCOME_TIMEOUT
                      : sim_chance(&m->rng, 850) ? MD_OUTCOME_OK : MD_OUTCOME_FAILED;
    }
    sim_grow((void **)&m->jobs, &m->cap_jobs, m->n_jobs, sizeof *m->jobs);
    m->jobs[m->n_jobs++] = job;
}

static void finish(sim_world *w, const sr_job *j)
{
    sim_remedy *m = w->rem;
    sr_svc *s = &m->svc[j->svc];
    if (j->executed && j->outcome == MD_OUTCOME_OK && s->broken && sim_chance(&m->rng, heal_pm(j->step, s->kind))) {
        set_truth(w, j->svc, false); /* the actuator's effect outlives its node */
    }
    sim_node *nd = &w->nodes[j->node];
    if (j->blocked) {
        if (nd->r != NULL && nd->life == j->life) {
            md_driver_action_blocked(m->nodes[j->node].d, j->svc, j->retry_after_ms ? "simulated 429" : "simulated outage",
                                     j->retry_after_ms, (int64_t)sim_local_now(w, j->node));
        }
        return;
    }
    if (nd->r == NULL || nd->life != j->life) {
        m->results_lost++;
        sim_trace(w, "n%d REMEDY result of action %lu lost (crashed)", j->node, (unsigned long)j->action);
        return;
    }
    md_driver_action_done(m->nodes[j->node].d, j->svc);
    md_ledger_entry e;
    memset(&e, 0, sizeof e);
    e.type = MD_LEDGER_RESULT;
    snprintf(e.service, sizeof e.service, "%s", m->names[j->svc]);
    e.at_ms = wall_at(w, j->node, w->now);
    snprintf(e.actor, sizeof e.actor, "%s", node_name(j->node));
    e.u.result.action = j->action;
    e.u.result.outcome = j->outcome;
    e.u.result.detail = md_ledger_text_of("simulated actuator");
    e.u.result.duration_ms = 0;
    uint64_t index = 0;
    if (submit(w, j->node, &e, &index) != 0) {
        m->results_lost++;
        sim_trace(w, "n%d REMEDY result of action %lu lost", j->node, (unsigned long)j->action);
    }
}

/* ---- applying committed entries (every node) ---- */

/* Check 3 on node i's own model, before the ledger's state is consulted. */
static void check_ladder(sim_world *w, int i, size_t k, const md_ledger_event *ev)
{
    sim_remedy *m = w->rem;
    sr_nsvc *ns = &m->nodes[i].s[k];
    const md_escalation_knobs *kn = &m->svc[k].knobs;
    const uint32_t max[MD_STEP_COUNT] = {0, (uint32_t)kn->restart_attempts, (uint32_t)kn->redeploy_attempts, 1};
    if (ev->kind == MD_LEDGER_EV_OPENED) {
        if (ev->incident && ev->incident->reopen_of) {
            if (ev->incident->reopen_of != ns->last_closed) {
                sim_fail(w, "remedy: n%d svc%zu reopens incident %lu, its last was %lu", i, k,
                         (unsigned long)ev->incident->reopen_of, (unsigned long)ns->last_closed);
            }
            memcpy(ns->cnt, ns->last_cnt, sizeof ns->cnt);
        } else {
            memset(ns->cnt, 0, sizeof ns->cnt);
        }
    } else if (ev->kind == MD_LEDGER_EV_INTENT) {
        for (int s = MD_STEP_RESTART; s < MD_STEP_COUNT; s++) {
            bool earlier_left = s < (int)ev->step && m->svc[k].caps.step[s] && ns->cnt[s] < max[s];
            if ((s > (int)ev->step && ns->cnt[s] > 0) || earlier_left) {
                sim_fail(w, "remedy: n%d svc%zu ladder out of order: %s #%u with %s at %u of %u", i, k,
                         md_step_name(ev->step), ev->attempt, md_step_name((md_step)s), ns->cnt[s], max[s]);
                return;
            }
        }
        if (ev->attempt != ns->cnt[ev->step] + 1 || ev->attempt > max[ev->step]) {
            sim_fail(w, "remedy: n%d svc%zu %s attempt %u after %u (max %u)", i, k, md_step_name(ev->step),
                     ev->attempt, ns->cnt[ev->step], max[ev->step]);
            return;
        }
        ns->cnt[ev->step]++;
        if (ev->incident && memcmp(ev->incident->attempts, ns->cnt, sizeof ns->cnt) != 0) {
            sim_fail(w, "remedy: n%d svc%zu ledger counters differ from the ladder model", i, k);
        }
    } else if (ev->kind == MD_LEDGER_EV_RESULT && !md_outcome_attempted(ev->outcome)) {
        /* Check 7: only an action that never reached its target may be given back. */
        if (ev->action_id < m->cap_execs && m->execs[ev->action_id] > 0) {
            sim_fail(w, "remedy: n%d svc%zu action %lu recorded as not attempted, but it was executed", i, k,
                     (unsigned long)ev->action_id);
            return;
        }
        ns->cnt[ev->step]--;
        if (ev->incident && memcmp(ev->incident->attempts, ns->cnt, sizeof ns->cnt) != 0) {
            sim_fail(w, "remedy: n%d svc%zu ledger counters differ from the ladder model", i, k);
        }
    } else if (ev->kind == MD_LEDGER_EV_RESOLVED && ev->incident_closed) {
        ns->last_closed = ev->incident_id;
        memcpy(ns->last_cnt, ns->cnt, sizeof ns->cnt);
    }
}

void sim_remedy_apply(sim_world *w, int i, const raft_entry *e)
{
    sim_remedy *m = w->rem;
    sr_node *rn = &m->nodes[i];
    if (e->type != RAFT_ENTRY_NORMAL) {
        return;
    }
    md_ledger_entry de;
    if (md_ledger_entry_decode(e->data, e->len, &de) != 0) {
        return; /* a client's command, not a ledger entry */
    }
    if (de.type == MD_LEDGER_INTENT) { /* check 2, at commit */
        const sr_prop *p = find_prop(m, e->index, e->term);
        if (p == NULL || p->type != MD_LEDGER_INTENT || p->verdict != MD_VERDICT_DOWN) {
            sim_fail(w, "remedy: committed intent %lu/t%lu was not decided on a DOWN verdict", (unsigned long)e->index,
                     (unsigned long)e->term);
            return;
        }
    }
    md_ledger_event ev;
    int rc = md_ledger_apply(rn->l, e->index, e->data, e->len, &ev);
    if (rc != 0) {
        sim_fail(w, "remedy: n%d: md_ledger_apply(%lu) = %d", i, (unsigned long)e->index, rc);
        return;
    }
    check_snapshot(w, i, e->index);
    if (ev.service >= m->n_svc) {
        return;
    }
    size_t k = ev.service;
    sim_trace(w, "n%d REMEDY apply %lu %s svc%zu %s #%u%s%s", i, (unsigned long)e->index, md_ledger_ev_name(ev.kind), k,
              md_step_name(ev.step), ev.attempt, *ev.why ? ": " : "", ev.why);
    check_ladder(w, i, k, &ev);
    raft *r = w->nodes[i].r;
    bool leads = raft_get_role(r) == RAFT_LEADER;
    if (ev.kind == MD_LEDGER_EV_INTENT) {
        sim_grow((void **)&m->intents, &m->cap_intents, ev.action_id, sizeof *m->intents);
        if (!m->intents[ev.action_id].set) {
            m->intents[ev.action_id] = (sr_intent){true, k, ev.step, ev.attempt};
            m->intents_committed++;
        }
        /* Our own last intent, committed while we lead: the driver owes an answer (run, shadow,
         * busy or no lease) before the next poll, here or when the propose call returns. */
        if (leads && ev.action_id == rn->last_intent[k] && strcmp(ev.actor, node_name(i)) == 0) {
            rn->awaiting[k] = ev.action_id;
        }
    }
    md_driver_applied_out out;
    md_driver_applied(rn->d, &ev, leads, raft_lease_valid(r, sim_local_now(w, i)), &out);
    if (out.act) {
        run(w, i, &out.action);
    }
}

/* ---- the driver, polled after every step ---- */

void sim_remedy_poll(sim_world *w)
{
    sim_remedy *m = w->rem;
    for (size_t k = 0; k < m->n_svc; k++) {
        update_service(w, k);
    }
    for (size_t x = 0; x < m->n_jobs && !w->failed;) {
        if (m->jobs[x].done_at <= w->now) {
            sr_job j = m->jobs[x];
            m->jobs[x] = m->jobs[--m->n_jobs];
            finish(w, &j);
        } else {
            x++;
        }
    }
    for (int i = 1; i <= w->n && !w->failed; i++) {
        for (size_t k = 0; k < m->n_svc; k++) {
            if (m->nodes[i].awaiting[k] != 0) {
                sim_fail(w, "remedy: n%d committed its intent %lu for svc%zu while leading, and its driver never "
                         "started it (nor refused it)", i, (unsigned long)m->nodes[i].awaiting[k], k);
                return;
            }
        }
    }
    for (int i = 1; i <= w->n && !w->failed; i++) {
        sim_node *nd = &w->nodes[i];
        sr_node *rn = &m->nodes[i];
        if (nd->r == NULL || nd->paused || w->now < rn->next_tick) {
            continue;
        }
        rn->next_tick = w->now + SR_TICK_MS;
        for (size_t k = 0; k < m->n_svc && !w->failed; k++) {
            decide(w, i, k);
        }
        sim_node_drive(w, i);
    }
}

static void pick_service(sim_world *w, size_t k)
{
    sim_remedy *m = w->rem;
    sr_svc *s = &m->svc[k];
    md_escalation_knobs *kn = &s->knobs;
    md_escalation_knobs_default(kn);
    kn->restart_attempts = (int)rnd(m, 0, 3);
    kn->restart_interval_ms = (int64_t)rnd(m, 300, 3000);
    kn->restart_timeout_ms = (int64_t)rnd(m, 200, 3000);
    kn->redeploy_attempts = (int)rnd(m, 0, 2);
    kn->redeploy_timeout_ms = (int64_t)rnd(m, 500, 6000);
    kn->rollback_timeout_ms = (int64_t)rnd(m, 500, 4000);
    kn->verify_after_ms = (int64_t)rnd(m, 100, 1500);
    kn->reopen_window_ms = (int64_t)rnd(m, 2000, 30000);
    kn->max_actions_per_hour = sim_chance(&m->rng, 500) ? 1000 : (int)rnd(m, 3, 30);
    s->caps.step[MD_STEP_RESTART] = true;
    s->caps.step[MD_STEP_REDEPLOY] = sim_chance(&m->rng, 900);
    s->caps.step[MD_STEP_ROLLBACK] = sim_chance(&m->rng, 800);
    s->shadow = sim_chance(&m->rng, 100);
    s->verdict = s->settled = MD_VERDICT_UP;
    s->change_at = w->now + rnd(m, 500, 20000);
    s->blip_until = 0;
    snprintf(m->names[k], sizeof m->names[k], "svc%d", (int)k % 10);
}

void sim_remedy_init(sim_world *w)
{
    sim_remedy *m = calloc(1, sizeof *m);
    if (m == NULL) {
        abort();
    }
    w->rem = m;
    m->rng.s = w->seed * 0x9E3779B97F4A7C15ull + 0x5eed;
    m->n_svc = 1 + sim_below(&m->rng, SR_MAX_SVC);
    for (size_t k = 0; k < m->n_svc; k++) {
        pick_service(w, k);
    }
    for (int i = 1; i <= w->n; i++) {
        m->nodes[i].skew = (int64_t)sim_below(&m->rng, 101) - 50;
        m->nodes[i].l = new_ledger(w);
        m->nodes[i].d = new_driver(w, i);
    }
    m->block_pm = sim_chance(&m->rng, 500) ? 0 : (uint32_t)rnd(m, 50, 400); /* half the seeds: API storms */
}

void sim_remedy_free(sim_world *w)
{
    sim_remedy *m = w->rem;
    if (m == NULL) {
        return;
    }
    for (int i = 1; i <= w->n; i++) {
        md_ledger_free(m->nodes[i].l);
        md_driver_free(m->nodes[i].d);
    }
    free(m->jobs);
    free(m->props);
    free(m->intents);
    free(m->execs);
    free(m->snap);
    free(m);
    w->rem = NULL;
}

void sim_remedy_stats(const sim_world *w, uint64_t *intents, uint64_t *executions, uint64_t *lost)
{
    *intents = w->rem ? w->rem->intents_committed : 0;
    *executions = w->rem ? w->rem->executions : 0;
    *lost = w->rem ? w->rem->results_lost : 0;
}
