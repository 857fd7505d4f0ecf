/* sim_remedy.c: `sim --remedy`: the remediation ledger and escalation core on top of the Raft
 * cores, with simulated services, verdicts and actuators, driven as node/remedy.c drives them.
 *
 * Every node applies committed entries to its own md_ledger in log order. The node that leads
 * with a valid lease calls md_escalation_decide per service every tick and proposes the decided
 * entry; the proposer of a committed INTENT executes it (lease checked at that instant) on a
 * simulated actuator that takes virtual time, may heal the service, and proposes (or forwards,
 * or loses) its RESULT. Services break and heal by a seeded schedule; the cluster verdict
 * follows the truth with lags, SPLIT/UNKNOWN periods, and is UNKNOWN on a node cut off from a
 * quorum. Checked as it happens (each failure names its step):
 *   1. no action id is executed more than once, across all nodes and lives;
 *   2. every INTENT proposed, and every one committed, was decided on a quorum DOWN verdict;
 *   3. every node's ledger keeps the ladder's order (restart 1..n, redeploy 1..m, rollback;
 *      never backwards, never a repeated attempt, no step skipped that had attempts left);
 *   4. an execution follows the commit of its own INTENT (same service, step, attempt);
 *   5. an execution happens only while its node holds a valid lease;
 *   6. two ledgers at the same applied index serialize to the same snapshot bytes.
 * Broken builds: -DREMEDY_BUG_EXEC_UNCOMMITTED executes intents when proposed;
 * -DREMEDY_BUG_NO_LEASE executes committed intents without checking the lease. */
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
    uint64_t proposed_index;
    int64_t proposed_at;
    bool in_flight;
    uint64_t action;
    uint32_t cnt[MD_STEP_COUNT];      /* check 3's own model of the ladder counters */
    uint64_t last_closed;
    uint32_t last_cnt[MD_STEP_COUNT];
} sr_nsvc;

typedef struct {
    md_ledger *l;
    int64_t skew;                     /* wall clock error, ms */
    uint64_t next_tick;
    sr_nsvc s[SR_MAX_SVC];
} sr_node;

typedef struct {
    int node;
    uint32_t life;
    size_t svc;
    uint64_t action, done_at;
    md_step step;
    bool executed;
    md_outcome outcome;
} sr_job;

typedef struct { uint64_t index, term; md_ledger_entry_type type; md_verdict verdict; } sr_prop;
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

void sim_remedy_node_start(sim_world *w, int i)
{
    sr_node *rn = &w->rem->nodes[i];
    md_ledger_free(rn->l);
    rn->l = new_ledger(w);
    memset(rn->s, 0, sizeof rn->s);
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
        ns->last_closed = ls->last_closed.id;
        memcpy(ns->last_cnt, ls->last_closed.attempts, sizeof ns->last_cnt);
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
        m->props[m->n_props++] = (sr_prop){*index, raft_get_term(w->nodes[i].r), e->type, decided_on};
    }
    sim_trace(w, "n%d REMEDY propose %s %s -> %d (index %lu)", i, md_ledger_entry_type_name(e->type), e->service, rc,
              (unsigned long)*index);
    return rc;
}

static void execute(sim_world *w, int i, size_t k, uint64_t action, md_step step, uint32_t attempt, bool shadow,
                    int64_t timeout_ms);

static void decide(sim_world *w, int i, size_t k)
{
    sim_remedy *m = w->rem;
    sr_node *rn = &m->nodes[i];
    sr_nsvc *ns = &rn->s[k];
    int64_t now = wall_at(w, i, w->now);
    if (ns->proposed_index && now - ns->proposed_at < SR_PATIENCE_MS) {
        return;
    }
    ns->proposed_index = 0;
    md_verdict v = view_of(w, i, k);
    md_escalation_input in = {
        .knobs = &m->svc[k].knobs,
        .svc = md_ledger_service_at(rn->l, k),
        .verdict = v,
        .verdict_since_ms = wall_at(w, i, m->svc[k].since),
        .now_ms = now,
        .action_in_flight = ns->in_flight,
        .caps = m->svc[k].caps,
    };
    md_escalation_decision d = md_escalation_decide(&in);
    md_ledger_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.service, sizeof e.service, "%s", m->names[k]);
    e.at_ms = now;
    snprintf(e.actor, sizeof e.actor, "%s", node_name(i));
    switch (d.kind) {
    case MD_ESC_OPEN_INCIDENT:
        e.type = MD_LEDGER_INCIDENT_OPEN;
        e.u.open.votes = md_ledger_text_of("simulated");
        e.u.open.reopen_of = d.reopen_of;
        break;
    case MD_ESC_INTENT:
        /* Check 2, at the decision: the cluster verdict (not only this node's view) is DOWN. */
        if (v != MD_VERDICT_DOWN || m->svc[k].verdict != MD_VERDICT_DOWN) {
            sim_fail(w, "remedy: n%d decided an intent for svc%zu on verdict %d (cluster %d), not DOWN", i, k, v,
                     m->svc[k].verdict);
            return;
        }
        e.type = MD_LEDGER_INTENT;
        e.u.intent.incident = d.incident_id;
        e.u.intent.step = d.step;
        e.u.intent.attempt = d.attempt;
        e.u.intent.timeout_ms = d.timeout_ms;
        e.u.intent.shadow = m->svc[k].shadow;
        snprintf(e.u.intent.target, sizeof e.u.intent.target, "%s", d.target);
        break;
    case MD_ESC_RESULT_UNKNOWN:
        e.type = MD_LEDGER_RESULT;
        e.u.result.action = d.action_id;
        e.u.result.outcome = MD_OUTCOME_UNKNOWN;
        e.u.result.detail = md_ledger_text_of("no result before its timeout");
        break;
    case MD_ESC_RESOLVE:
        e.type = MD_LEDGER_RESOLVED;
        e.u.resolved.incident = d.incident_id;
        e.u.resolved.reason = md_ledger_text_of("the cluster verdict is UP again");
        break;
    case MD_ESC_EXHAUST:
        e.type = MD_LEDGER_EXHAUSTED;
        e.u.exhausted.incident = d.incident_id;
        break;
    default:
        return;
    }
    uint64_t index = 0;
    if (propose_at(w, i, &e, v, &index) == 0) {
        ns->proposed_index = index;
        ns->proposed_at = now;
#ifdef REMEDY_BUG_EXEC_UNCOMMITTED
        if (e.type == MD_LEDGER_INTENT) {
            execute(w, i, k, index, d.step, d.attempt, e.u.intent.shadow, d.timeout_ms);
        }
#endif
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

static void execute(sim_world *w, int i, size_t k, uint64_t action, md_step step, uint32_t attempt, bool shadow,
                    int64_t timeout_ms)
{
    sim_remedy *m = w->rem;
    sr_nsvc *ns = &m->nodes[i].s[k];
    raft *r = w->nodes[i].r;
    if (ns->in_flight) {
        return; /* remedy_exec.c: another action of this service is still running here */
    }
    sr_job job = {.node = i, .life = w->nodes[i].life, .svc = k, .action = action, .step = step,
                  .done_at = w->now + 1, .outcome = MD_OUTCOME_SKIPPED};
    if (!shadow) {
        bool lease = raft_lease_valid(r, sim_local_now(w, i));
#ifndef REMEDY_BUG_NO_LEASE
        if (!lease) {
            sim_trace(w, "n%d REMEDY intent %lu not executed: lease not valid", i, (unsigned long)action);
            return;
        }
#endif
        sim_grow((void **)&m->execs, &m->cap_execs, action, 1);
        sim_grow((void **)&m->intents, &m->cap_intents, action, sizeof *m->intents);
        m->executions++;
        sim_trace(w, "n%d REMEDY EXECUTE action %lu svc%zu %s #%u", i, (unsigned long)action, k, md_step_name(step),
                  attempt);
        if (++m->execs[action] > 1) { /* check 1 */
            sim_fail(w, "remedy: action %lu executed %u times (now by n%d)", (unsigned long)action, m->execs[action], i);
            return;
        }
        const sr_intent *it = &m->intents[action];
        uint64_t ct, ch;
        if (!it->set || !sim_committed_at(w, action, &ct, &ch) || it->svc != k || it->step != step ||
            it->attempt != attempt) { /* check 4 */
            sim_fail(w, "remedy: n%d executes action %lu (svc%zu %s #%u) that is not a committed intent", i,
                     (unsigned long)action, k, md_step_name(step), attempt);
            return;
        }
        if (!lease) { /* check 5 */
            sim_fail(w, "remedy: n%d executes action %lu without a valid lease", i, (unsigned long)action);
            return;
        }
        uint64_t dur = 1 + sim_below(&m->rng, (uint64_t)timeout_ms * 6 / 5);
        job.done_at = w->now + (dur < (uint64_t)timeout_ms ? dur : (uint64_t)timeout_ms);
        job.executed = true;
        job.outcome = dur >= (uint64_t)timeout_ms ? MD_OUTCOME_TIMEOUT
                      : sim_chance(&m->rng, 850) ? MD_OUTCOME_OK : MD_OUTCOME_FAILED;
    }
    ns->in_flight = true;
    ns->action = action;
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
    if (nd->r == NULL || nd->life != j->life) {
        m->results_lost++;
        sim_trace(w, "n%d REMEDY result of action %lu lost (crashed)", j->node, (unsigned long)j->action);
        return;
    }
    m->nodes[j->node].s[j->svc].in_flight = false;
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
    /* The leader proposes; a follower forwards to the leader it can reach, which may be lost. */
    int at = 0;
    if (raft_get_role(nd->r) == RAFT_LEADER && !nd->paused) {
        at = j->node;
    } else if (!nd->paused && sim_chance(&m->rng, 700)) {
        for (int x = 1; x <= w->n && !at; x++) {
            if (w->nodes[x].r && !w->nodes[x].paused && raft_get_role(w->nodes[x].r) == RAFT_LEADER &&
                w->link[j->node][x]) {
                at = x;
            }
        }
    }
    uint64_t index = 0;
    if (at == 0 || propose_at(w, at, &e, MD_VERDICT_COUNT, &index) != 0) {
        m->results_lost++;
        sim_trace(w, "n%d REMEDY result of action %lu lost", j->node, (unsigned long)j->action);
        return;
    }
    sim_node_drive(w, at);
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
    sr_nsvc *ns = &rn->s[k];
    if (ns->proposed_index && e->index >= ns->proposed_index) {
        ns->proposed_index = 0;
    }
    sim_trace(w, "n%d REMEDY apply %lu %s svc%zu %s #%u%s%s", i, (unsigned long)e->index, md_ledger_ev_name(ev.kind), k,
              md_step_name(ev.step), ev.attempt, *ev.why ? ": " : "", ev.why);
    check_ladder(w, i, k, &ev);
    if (ev.kind != MD_LEDGER_EV_INTENT) {
        return;
    }
    sim_grow((void **)&m->intents, &m->cap_intents, ev.action_id, sizeof *m->intents);
    if (!m->intents[ev.action_id].set) {
        m->intents[ev.action_id] = (sr_intent){true, k, ev.step, ev.attempt};
        m->intents_committed++;
    }
#ifndef REMEDY_BUG_EXEC_UNCOMMITTED
    /* remedy.c: the proposer executes a committed intent if it still leads. */
    if (raft_get_role(w->nodes[i].r) == RAFT_LEADER && strcmp(ev.actor, node_name(i)) == 0) {
        const md_ledger_step *st = NULL;
        for (size_t x = 0; ev.incident && x < ev.incident->n_steps; x++) {
            if (ev.incident->steps[x].action_id == ev.action_id) {
                st = &ev.incident->steps[x];
            }
        }
        execute(w, i, k, ev.action_id, ev.step, ev.attempt, ev.shadow, st ? st->timeout_ms : 1000);
    }
#endif
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
        sim_node *nd = &w->nodes[i];
        sr_node *rn = &m->nodes[i];
        if (nd->r == NULL || nd->paused || w->now < rn->next_tick || !raft_lease_valid(nd->r, sim_local_now(w, i))) {
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
    }
}

void sim_remedy_free(sim_world *w)
{
    sim_remedy *m = w->rem;
    if (m == NULL) {
        return;
    }
    for (int i = 1; i <= w->n; i++) {
        md_ledger_free(m->nodes[i].l);
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
