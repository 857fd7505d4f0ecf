/* heal.c: applies the ledger on every node; on the leader runs the escalation core each tick,
 * proposes its decisions, and turns committed events into actions and alerts. */
#include "heal.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "heal_int.h"

#define TICK_MS 200
#define TICK_SLICE 2000 /* services one loop turn steps */
#define PROPOSAL_PATIENCE_MS 3000 /* a proposal lost in a leader change is proposed again after this */

void md__heal_changed(md_heal *r)
{
    if (r->on_change)
        r->on_change(r->on_change_ctx);
}

static int64_t mono_ms(void) { return md_mono_us() / 1000; }

void md__heal_fill_common(md_heal *r, md_ledger_entry *e, md_ledger_entry_type type, size_t svc)
{
    memset(e, 0, sizeof *e);
    e->type = type;
    snprintf(e->service, sizeof e->service, "%s", r->cfg->services[svc].name);
    e->at_ms = md_wall_ms();
    snprintf(e->actor, sizeof e->actor, "%s", r->cfg->node_id);
}

int md__heal_submit(md_heal *r, const md_ledger_entry *e, uint64_t *index)
{
    if (!r->cons)
        return -ENOTSUP;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = md_ledger_entry_encode(e, &buf, &len);
    if (rc < 0)
        return rc;
    if (md_consensus_is_leader(r->cons)) {
        rc = md_consensus_propose(r->cons, buf, len, index);
    } else {
        const char *leader = md_consensus_leader_id(r->cons);
        rc = leader ? md_cluster_send(r->cluster, leader, MD_MSG_FORWARD, buf, len) : -EAGAIN;
        if (index)
            *index = 0;
    }
    free(buf);
    return rc;
}

void md__heal_alert(md_heal *r, const md_alert *a)
{
    char text[MD_ALERT_TEXT_MAX];
    md_alert_text(a, text, sizeof text);
    md_log(MD_LOG_INFO, "alert", MD_S("service", a->service), MD_S("event", md_alert_event_name(a->event)),
           MD_S("key", a->idempotency_key), MD_S("text", text));
    if (r->alerts && !md_alerts_seen(r->alerts, a->idempotency_key))
        md_alerts_send(r->alerts, a);
}

/* ---- the leader's decisions (the driver's step; proposing and alerting here) ---- */

static void run_action(md_heal *r, const md_driver_action *a)
{
    assert(a->svc < r->n);
    if (!r->svc[a->svc]) { /* no step without an actuator: never proposed here */
        md_log(MD_LOG_ERROR, "intent_not_executed", MD_S("service", r->cfg->services[a->svc].name),
               MD_S("reason", "the service has no actuator"));
        md_driver_action_done(r->driver, a->svc);
        return;
    }
    md__heal_execute(r, r->svc[a->svc], a);
}

static void propose(md_heal *r, size_t i, md_ledger_entry *e, const char *what)
{
    char votes[512];
    if (e->type == MD_LEDGER_INCIDENT_OPEN) {
        md_cluster_votes_text(r->cluster, i, votes, sizeof votes, NULL, NULL);
        e->u.open.votes = md_ledger_text_of(votes);
    }
    uint64_t index = 0;
    int rc = md__heal_submit(r, e, &index);
    md_driver_action act;
    /* The entry may have committed and been applied inside the call (a cluster of one). */
    bool run = md_driver_proposed(r->driver, i, rc, index, r->cons && md_consensus_is_leader(r->cons),
                                  r->cons && md_consensus_lease_valid(r->cons), mono_ms(), &act);
    if (rc < 0) {
        md_log(MD_LOG_WARN, "proposal_failed", MD_S("service", e->service), MD_S("what", what),
               MD_S("error", strerror(-rc)));
        return;
    }
    md_log(MD_LOG_INFO, "proposed", MD_S("service", e->service), MD_S("what", what), MD_I("index", index));
    if (run)
        run_action(r, &act);
}

static void send_alert(md_heal *r, size_t i, const md_driver_alert *da)
{
    const md_service_config *sc = &r->cfg->services[i];
    char key[MD_ALERT_KEY_MAX];
    md_alert a = { .service = sc->name, .idempotency_key = key, .node = r->cfg->node_id, .at_ms = da->at_ms };
    char votes[512];
    switch (da->kind) {
    case MD_DRIVER_ALERT_RATE_LIMITED:
        snprintf(key, sizeof key, "%s-rate-limited-%llu", r->cfg->cluster.name, (unsigned long long)da->incident);
        a.event = MD_ALERT_RATE_LIMITED;
        a.incident = da->incident;
        a.limit = md_driver_knobs(r->driver, i)->max_actions_per_hour;
        a.retry_in_ms = da->retry_in_ms;
        break;
    case MD_DRIVER_ALERT_SPLIT:
        md_cluster_votes_text(r->cluster, i, votes, sizeof votes, &a.votes_down, &a.votes_total);
        snprintf(key, sizeof key, "%s-split-%s-%lld", r->cfg->cluster.name, sc->name, (long long)da->since_ms);
        a.event = MD_ALERT_SPLIT;
        a.detail = votes;
        a.split_for_ms = da->split_for_ms;
        break;
    case MD_DRIVER_ALERT_DEGRADED:
        snprintf(key, sizeof key, "%s-degraded-%s-%lld", r->cfg->cluster.name, sc->name, (long long)da->since_ms);
        a.event = MD_ALERT_DEGRADED;
        break;
    default:
        return;
    }
    md__heal_alert(r, &a);
}

/* tell_replayed writes the one line that stands for the replayed entries. */
static void tell_replayed(md_heal *r)
{
    if (r->replay_told || r->replayed == 0)
        return;
    r->replay_told = true;
    md_log(MD_LOG_INFO, "ledger_replayed", MD_I("entries", r->replayed), MD_I("refused", r->replay_refused),
           MD_I("up_to_index", r->replay_upto),
           MD_S("note", "entries an earlier run applied and logged; details at debug"));
}

/* A pass of the escalation core over every service starts each TICK_MS and goes TICK_SLICE
 * services per loop turn: at 100,000 services one pass in one turn held the leader's loop (and its
 * heartbeats) for a second on a busy machine. */
static void on_tick(uv_timer_t *t)
{
    md_heal *r = t->data;
    int64_t mono_now = mono_ms();
    if (r->tick_next >= r->n) {
        r->tick_next = 0;
        r->tick_started_ms = mono_now;
    }
    size_t from = r->tick_next, to = r->n - from > TICK_SLICE ? from + TICK_SLICE : r->n;
    r->tick_next = to;
    if (to < r->n) {
        uv_timer_start(&r->tick, on_tick, 1, 0); /* the rest after this turn's I/O */
    } else {
        int64_t next = r->tick_started_ms + TICK_MS;
        uv_timer_start(&r->tick, on_tick, next > mono_now ? (uint64_t)(next - mono_now) : 1, 0);
    }
    if (!r->cons)
        return;
    if (r->replayed > 0 && !r->replay_told && from == 0) {
        /* the replay ended on an entry of Raft's own, which never reaches on_apply */
        md_view *v = md_view_alloc(0);
        if (v && md_consensus_fill_view(r->cons, v) == 0 && v->consensus.applied >= r->replay_upto)
            tell_replayed(r);
        md_view_unref(v);
    }
    bool leads = md_consensus_is_leader(r->cons);
    int64_t now = md_wall_ms();
    for (size_t i = from; i < to; i++) {
        /* A follower has only what it still holds to give up (a blocked action, an intent it
         * will not run); the others cost it nothing. */
        if (!leads && !md_driver_holds(r->driver, i))
            continue;
        md_driver_input in = { .svc = i, .ledger = md_ledger_service_at(r->ledger, i), .leads = leads,
                               .lease_valid = leads && md_consensus_lease_valid(r->cons), .now_ms = now,
                               .mono_ms = mono_ms() };
        in.verdict = md_cluster_verdict(r->cluster, i, &in.verdict_since_ms);
        in.own_state = md_cluster_own_state(r->cluster, i, &in.own_since_ms);
        md_driver_output out;
        md_driver_step(r->driver, &in, &out);
        for (size_t k = 0; k < out.n_alerts && out.alerts[k].kind == MD_DRIVER_ALERT_RATE_LIMITED; k++)
            send_alert(r, i, &out.alerts[k]);
        if (out.propose)
            propose(r, i, &out.entry, out.what);
        if (out.retry) {
            md_log(MD_LOG_INFO, "action_retry", MD_S("service", r->cfg->services[i].name),
                   MD_S("step", md_step_name(out.retry_action->step)), MD_I("attempt", out.retry_action->attempt),
                   MD_I("action", out.retry_action->action_id));
            run_action(r, out.retry_action);
        }
        for (size_t k = 0; k < out.n_alerts; k++)
            if (out.alerts[k].kind != MD_DRIVER_ALERT_RATE_LIMITED)
                send_alert(r, i, &out.alerts[k]);
        if (leads && r->svc[i])
            md__heal_track_known_good(r, r->svc[i], now);
    }
}

/* ---- committed entries ---- */

static int step_attempts(const md_heal *r, size_t i, md_step step)
{
    const md_escalation_knobs *k = md_driver_knobs(r->driver, i);
    switch (step) {
    case MD_STEP_RESTART: return k->restart_attempts;
    case MD_STEP_REDEPLOY: return k->redeploy_attempts;
    case MD_STEP_ROLLBACK: return 1;
    default: return 0;
    }
}

/* The leader tells people what the ledger now says; the entry's index is the idempotency key. */
static void alert_event(md_heal *r, size_t i, const md_ledger_event *ev)
{
    const md_ledger_incident *inc = ev->incident;
    const char *name = r->cfg->services[i].name;
    char key[MD_ALERT_KEY_MAX];
    snprintf(key, sizeof key, "%s-%llu", r->cfg->cluster.name ? r->cfg->cluster.name : "medic",
             (unsigned long long)ev->index);
    md_alert a = { .service = name, .idempotency_key = key, .node = r->cfg->node_id, .at_ms = ev->at_ms,
                   .incident = ev->incident_id, .step = md_step_name(ev->step), .attempt = (int)ev->attempt,
                   .attempts_max = step_attempts(r, i, ev->step), .shadow = ev->shadow, .duration_ms = -1 };
    const md_ledger_step *st = NULL;
    for (size_t k = 0; inc && k < inc->n_steps; k++)
        if (inc->steps[k].action_id == ev->action_id)
            st = &inc->steps[k];
    switch (ev->kind) {
    case MD_LEDGER_EV_OPENED:
        a.event = MD_ALERT_INCIDENT_OPEN;
        a.reopen_of = inc ? inc->reopen_of : 0;
        a.detail = inc ? inc->votes : NULL;
        md_cluster_votes_text(r->cluster, i, (char[512]){ 0 }, 512, &a.votes_down, &a.votes_total);
        break;
    case MD_LEDGER_EV_INTENT:
        a.event = MD_ALERT_STEP_INTENT;
        break;
    case MD_LEDGER_EV_BLOCKED:
        a.event = MD_ALERT_BLOCKED;
        a.detail = inc ? inc->blocked_reason : NULL;
        break;
    case MD_LEDGER_EV_RESULT:
        a.event = MD_ALERT_STEP_RESULT;
        a.outcome = md_outcome_name(ev->outcome);
        if (st) {
            a.detail = st->detail;
            a.duration_ms = st->duration_ms;
            a.step = md_step_name(st->step);
            a.attempt = (int)st->attempt;
            a.attempts_max = step_attempts(r, i, st->step);
            a.shadow = st->shadow;
        }
        break;
    case MD_LEDGER_EV_RESOLVED:
        a.event = MD_ALERT_RESOLVED;
        a.detail = inc ? inc->close_reason : NULL;
        break;
    case MD_LEDGER_EV_EXHAUSTED:
        a.event = MD_ALERT_EXHAUSTED;
        break;
    default:
        return;
    }
    md__heal_alert(r, &a);
}

/* apply_one applies one committed entry; replay says an earlier run already applied and
 * logged it, so it is logged at debug only. Returns true when the ledger refused it. */
static bool apply_one(md_heal *r, uint64_t index, const uint8_t *data, size_t len, bool replay)
{
    md_ledger_event ev;
    int rc = md_ledger_apply(r->ledger, index, data, len, &ev);
    if (rc < 0) {
        if (rc != -EALREADY)
            md_log(MD_LOG_ERROR, "ledger_entry_unusable", MD_I("index", index), MD_S("error", strerror(-rc)));
        return false;
    }
    r->incidents_dirty = true;
    md__heal_changed(r);
    if (ev.service >= r->n)
        return false;
    md_driver_applied_out out;
    md_driver_applied(r->driver, &ev, r->cons && md_consensus_is_leader(r->cons),
                      r->cons && md_consensus_lease_valid(r->cons), &out);
    const char *name = r->cfg->services[ev.service].name;
    if (ev.kind == MD_LEDGER_EV_REJECTED || ev.kind == MD_LEDGER_EV_IGNORED) {
        md_log(replay ? MD_LOG_DEBUG : MD_LOG_WARN, "ledger_entry_refused", MD_S("service", name), MD_I("index", index),
               MD_S("type", md_ledger_entry_type_name(ev.type)), MD_S("why", ev.why));
        return true;
    }
    md_log(replay ? MD_LOG_DEBUG : MD_LOG_INFO, "ledger", MD_S("service", name), MD_S("event", md_ledger_ev_name(ev.kind)),
           MD_I("index", index), MD_I("incident", ev.incident_id), MD_S("step", md_step_name(ev.step)),
           MD_I("attempt", ev.attempt), MD_S("outcome", md_outcome_name(ev.outcome)), MD_S("by", ev.actor));
    if (out.alert)
        alert_event(r, ev.service, &ev);
    if (out.act)
        run_action(r, &out.action);
    return false;
}

static void on_apply(void *ctx, uint64_t index, const uint8_t *data, size_t len)
{
    md_heal *r = ctx;
    bool replay = index <= r->replay_upto;
    if (!replay)
        tell_replayed(r); /* the last replayed entry may have been Raft's own (no apply call) */
    bool refused = apply_one(r, index, data, len, replay);
    if (!replay)
        return;
    r->replayed++;
    r->replay_refused += refused;
    if (index == r->replay_upto)
        tell_replayed(r);
}

/* A follower hands the leader an operator's entry, or the result of an action it finished
 * after losing the lead. The envelope authenticated the peer; the entry is still checked. */
static void on_forward(void *ctx, const char *from, const uint8_t *body, size_t len)
{
    md_heal *r = ctx;
    md_ledger_entry e;
    if (md_ledger_entry_decode(body, len, &e) < 0) {
        md_log(MD_LOG_WARN, "forward_malformed", MD_S("peer", from));
        return;
    }
    bool allowed = e.type == MD_LEDGER_PAUSE || e.type == MD_LEDGER_RESUME || e.type == MD_LEDGER_ACK ||
                   e.type == MD_LEDGER_NOTE || e.type == MD_LEDGER_RESULT;
    if (!allowed || !r->cons || !md_consensus_is_leader(r->cons)) {
        md_log(MD_LOG_WARN, "forward_refused", MD_S("peer", from), MD_S("type", md_ledger_entry_type_name(e.type)),
               MD_S("reason", allowed ? "not the leader" : "not an entry a follower may forward"));
        return;
    }
    uint64_t index = 0;
    int rc = md_consensus_propose(r->cons, body, len, &index);
    md_log(rc == 0 ? MD_LOG_INFO : MD_LOG_WARN, "forward_proposed", MD_S("peer", from),
           MD_S("type", md_ledger_entry_type_name(e.type)), MD_S("service", e.service), MD_I("index", index),
           MD_S("error", rc == 0 ? "" : strerror(-rc)));
}

/* ---- operator actions (POST /v1/services/{name}/pause|resume|ack) ---- */

static void answer(int *status, char *body, size_t len, int code, const char *fmt_json)
{
    *status = code;
    snprintf(body, len, "%s", fmt_json);
}

void md_heal_action(void *ctx, const char *action, const char *service, const char *reason, int *status,
                      char *body, size_t body_len)
{
    md_heal *r = ctx;
    size_t i;
    if (!r->cons) {
        answer(status, body, body_len, 503,
               "{\"error\":{\"code\":503,\"message\":\"operator actions are replicated through the cluster's "
               "consensus: configure a cluster section (a cluster of one works too)\"}}");
        return;
    }
    if (md_ledger_find(r->ledger, service, &i) < 0) {
        answer(status, body, body_len, 404, "{\"error\":{\"code\":404,\"message\":\"no such service\"}}");
        return;
    }
    md_ledger_entry e;
    char by[MD_LEDGER_NAME_MAX + 1];
    snprintf(by, sizeof by, "operator@%s", r->cfg->node_id);
    const md_ledger_service *ls = md_ledger_service_at(r->ledger, i);
    if (strcmp(action, "pause") == 0) {
        md__heal_fill_common(r, &e, MD_LEDGER_PAUSE, i);
        snprintf(e.u.pause.by, sizeof e.u.pause.by, "%s", by);
        e.u.pause.reason = md_ledger_text_of(reason && *reason ? reason : "paused by an operator");
    } else if (strcmp(action, "resume") == 0) {
        md__heal_fill_common(r, &e, MD_LEDGER_RESUME, i);
        snprintf(e.u.resume.by, sizeof e.u.resume.by, "%s", by);
    } else {
        if (!ls->open) {
            answer(status, body, body_len, 409,
                   "{\"error\":{\"code\":409,\"message\":\"the service has no open incident to acknowledge\"}}");
            return;
        }
        md__heal_fill_common(r, &e, MD_LEDGER_ACK, i);
        e.u.ack.incident = ls->open->id;
        snprintf(e.u.ack.by, sizeof e.u.ack.by, "%s", by);
    }
    uint64_t index = 0;
    bool leads = md_consensus_is_leader(r->cons);
    const char *leader = md_consensus_leader_id(r->cons);
    if (!leads && !leader) {
        answer(status, body, body_len, 503,
               "{\"error\":{\"code\":503,\"message\":\"no leader is elected right now (starting up, or the "
               "cluster lost its majority): nothing changed; try again\"}}");
        return;
    }
    int rc = md__heal_submit(r, &e, &index);
    if (rc < 0) {
        *status = 503;
        snprintf(body, body_len, "{\"error\":{\"code\":503,\"message\":\"not accepted: %s (no leader reachable?)\"}}",
                 strerror(-rc));
        return;
    }
    md_log(MD_LOG_INFO, "operator_action", MD_S("service", service), MD_S("action", action),
           MD_S("via", leads ? "proposed" : "forwarded"), MD_S("leader", leader ? leader : "-"));
    *status = 202;
    if (leads)
        snprintf(body, body_len,
                 "{\"accepted\":true,\"action\":\"%s\",\"service\":\"%s\",\"proposed_by\":\"%s\",\"index\":%llu,"
                 "\"note\":\"takes effect once committed by a majority\"}",
                 action, service, r->cfg->node_id, (unsigned long long)index);
    else
        snprintf(body, body_len,
                 "{\"accepted\":true,\"action\":\"%s\",\"service\":\"%s\",\"forwarded_to\":\"%s\","
                 "\"note\":\"the leader proposes it; takes effect once committed by a majority\"}",
                 action, service, leader ? leader : "");
}

/* ---- lifecycle ---- */

static void knobs_of(const md_service_config *c, md_escalation_knobs *k)
{
    md_escalation_knobs_default(k);
    k->restart_attempts = c->remedy->restart_attempts;
    k->restart_interval_ms = c->remedy->restart_interval_ms;
    k->restart_timeout_ms = c->remedy->restart_timeout_ms;
    k->redeploy_attempts = c->remedy->redeploy_attempts;
    k->redeploy_timeout_ms = c->remedy->redeploy_timeout_ms;
    k->rollback_timeout_ms = c->remedy->rollback_timeout_ms;
    k->verify_after_ms = c->remedy->verify_after_ms;
    k->reopen_window_ms = c->remedy->reopen_window_ms;
    k->max_actions_per_hour = c->remedy->max_actions_per_hour;
    if (c->remedy->actuator == MD_ACTUATOR_EXEC)
        k->restart_timeout_ms = c->remedy->exec_timeout_ms;
}

static void caps_of(const md_service_config *c, md_escalation_caps *caps)
{
    memset(caps, 0, sizeof *caps);
    if (c->remedy->actuator == MD_ACTUATOR_RAILWAY) {
        caps->step[MD_STEP_RESTART] = caps->step[MD_STEP_REDEPLOY] = caps->step[MD_STEP_ROLLBACK] = true;
        caps->rollback_needs_known_good = false; /* the client finds the newest earlier good one */
    } else if (c->remedy->actuator == MD_ACTUATOR_EXEC) {
        caps->step[MD_STEP_RESTART] = c->remedy->exec_restart != NULL;
        caps->step[MD_STEP_REDEPLOY] = c->remedy->exec_redeploy != NULL;
        caps->step[MD_STEP_ROLLBACK] = c->remedy->exec_rollback != NULL;
    }
}

/* driver_new: the driver keeps each service's knobs and caps (one copy per service: the shell
 * asks md_driver_knobs when it needs them). */
static int driver_new(md_heal *r)
{
    md_driver_service *svc = calloc(r->n ? r->n : 1, sizeof *svc);
    if (!svc)
        return -ENOMEM;
    for (size_t i = 0; i < r->n; i++) {
        knobs_of(&r->cfg->services[i], &svc[i].knobs);
        caps_of(&r->cfg->services[i], &svc[i].caps);
        svc[i].shadow = r->cfg->services[i].shadow;
    }
    md_driver_config dc = { .node_id = r->cfg->node_id, .split_alert_after_ms = r->cfg->remedy.split_alert_after_ms,
                            .patience_ms = PROPOSAL_PATIENCE_MS, .n = r->n, .svc = svc };
    int rc = md_driver_new(&dc, &r->driver);
    free(svc);
    return rc;
}

static void on_alert_fate(const char *key, size_t webhook, md_alert_fate fate, void *ctx)
{
    (void)ctx;
    md_log(fate == MD_ALERT_DELIVERED ? MD_LOG_DEBUG : MD_LOG_WARN, "alert_delivery", MD_S("key", key),
           MD_I("webhook", webhook),
           MD_S("fate", fate == MD_ALERT_DELIVERED ? "delivered" : fate == MD_ALERT_GAVE_UP ? "gave up" : "dropped"));
}

static int take_snapshot(void *ctx, uint8_t **data, size_t *len)
{
    md_heal *r = ctx;
    return md_ledger_snapshot(r->ledger, data, len);
}

static int restore_snapshot(void *ctx, const uint8_t *data, size_t len)
{
    md_heal *r = ctx;
    int rc = md_ledger_restore(r->ledger, data, len);
    r->incidents_dirty = true;
    md_log(rc == 0 ? MD_LOG_INFO : MD_LOG_ERROR, "ledger_restored", MD_I("bytes", len),
           MD_I("index", md_ledger_last_index(r->ledger)), MD_S("error", rc == 0 ? "" : strerror(-rc)));
    return rc;
}

static void free_svc(md_heal *r)
{
    for (size_t i = 0; r->svc && i < r->n; i++)
        free(r->svc[i]);
    free(r->svc);
}

int md_heal_new(uv_loop_t *loop, const md_config *cfg, md_cluster *cluster, md_curl_loop *cl, md_heal **out,
                  char *err, size_t errlen)
{
    md_heal *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->loop = loop;
    r->cfg = cfg;
    r->cluster = cluster;
    r->cons = md_cluster_consensus(cluster);
    r->cl = cl;
    r->n = cfg->n_services;
    r->svc = calloc(r->n ? r->n : 1, sizeof *r->svc);
    const char **names = calloc(r->n ? r->n : 1, sizeof *names);
    int rc = (!r->svc || !names) ? -ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        names[i] = cfg->services[i].name;
        if (cfg->services[i].remedy->actuator == MD_ACTUATOR_NONE)
            continue;
        if (!(r->svc[i] = calloc(1, sizeof *r->svc[i]))) {
            rc = -ENOMEM;
            break;
        }
        r->svc[i]->r = r;
        r->svc[i]->idx = i;
    }
    if (rc == 0 && (rc = md_ledger_new(names, r->n, &r->ledger)) < 0)
        snprintf(err, errlen, "remediation ledger: %s", strerror(-rc));
    free(names);
    if (rc == 0 && (rc = driver_new(r)) < 0)
        snprintf(err, errlen, "remediation driver: %s", strerror(-rc));
    if (rc == 0 && cfg->remedy.n_webhooks) {
        md_alerts_opts opts = { .on_fate = on_alert_fate, .fate_ctx = r };
        rc = md_alerts_new(loop, cl, cfg->remedy.webhooks, cfg->remedy.n_webhooks, &opts, &r->alerts, err, errlen);
    }
    if (rc == 0)
        rc = md__heal_rw_new(r, err, errlen);
    if (rc < 0) {
        if (r->alerts)
            md_alerts_close(r->alerts);
        md_driver_free(r->driver);
        md_ledger_free(r->ledger);
        free_svc(r);
        free(r);
        return rc;
    }
    uv_timer_init(loop, &r->tick);
    r->tick.data = r;
    r->tick_open = true;
    r->incidents_dirty = true;
    if (r->cons) {
        md_view *v = md_view_alloc(0);
        if (v && md_consensus_fill_view(r->cons, v) == 0)
            r->replay_upto = v->consensus.commit; /* loaded from disk, nothing applied yet */
        md_view_unref(v);
        md_consensus_set_snapshots(r->cons, take_snapshot, restore_snapshot, r);
        md_consensus_set_apply(r->cons, on_apply, r);
        md_cluster_on_message(cluster, MD_MSG_FORWARD, on_forward, r);
    }
    *out = r;
    return 0;
}

void md_heal_set_on_change(md_heal *r, void (*fn)(void *ctx), void *ctx)
{
    r->on_change = fn;
    r->on_change_ctx = ctx;
}

int md_heal_start(md_heal *r)
{
    md__heal_rw_check(r); /* every node: which token kind reaches what, logged and shown */
    if (!r->cons)
        return 0;
    r->tick_next = r->n;
    return uv_timer_start(&r->tick, on_tick, TICK_MS, 0);
}

static void on_tick_closed(uv_handle_t *h)
{
    md_heal *r = h->data;
    void (*done)(void *) = r->done;
    void *arg = r->done_arg;
    md__heal_rw_free(r);
    if (r->alerts)
        md_alerts_close(r->alerts);
    md_driver_free(r->driver);
    md_ledger_free(r->ledger);
    md_shared_text_unref(r->incidents);
    free_svc(r);
    free(r);
    if (done)
        done(arg);
}

void md_heal_close(md_heal *r, void (*done)(void *arg), void *arg)
{
    assert(!r->closing);
    r->closing = true;
    r->done = done;
    r->done_arg = arg;
    r->on_change = NULL;
    if (r->cons) {
        md_consensus_set_apply(r->cons, NULL, NULL);
        md_consensus_set_snapshots(r->cons, NULL, NULL, NULL);
    }
    md__heal_cancel_all(r);
    uv_timer_stop(&r->tick);
    uv_close((uv_handle_t *)&r->tick, on_tick_closed);
}

/* ---- views ---- */

static const char *account(const md_heal *r, size_t i, const md_ledger_service *ls, char *buf, size_t len)
{
    if (ls->more->paused) {
        snprintf(buf, len, "paused by %s", ls->more->paused_by);
        return buf;
    }
    if (!ls->open)
        return NULL;
    const md_ledger_step *p = md_ledger_pending(ls->open);
    if (ls->open->exhausted)
        snprintf(buf, len, "incident %llu exhausted: waiting for recovery or an operator",
                 (unsigned long long)ls->open->id);
    else if (p && ls->open->blocked_action == p->action_id)
        snprintf(buf, len, "incident %llu: %s #%u of %d blocked: %s (retrying)", (unsigned long long)ls->open->id,
                 md_step_name(p->step), p->attempt, step_attempts(r, i, p->step), ls->open->blocked_reason);
    else if (p)
        snprintf(buf, len, "incident %llu: %s #%u of %d %s", (unsigned long long)ls->open->id, md_step_name(p->step),
                 p->attempt, step_attempts(r, i, p->step), p->shadow ? "(shadow: not executed)" : "running");
    else
        snprintf(buf, len, "incident %llu open, %zu step%s so far", (unsigned long long)ls->open->id,
                 ls->open->n_steps, ls->open->n_steps == 1 ? "" : "s");
    return buf;
}

/* The document names the leader, which changes without any ledger entry (a transfer, a lost
 * leader): the cluster's on_change (which consensus reports role and leader changes to) makes the
 * monitor rebuild the view, and here a leader other than the one rendered makes it stale. */
static void refresh_incidents(md_heal *r)
{
    const char *leader = r->cons ? md_consensus_leader_id(r->cons) : NULL;
    if (!leader)
        leader = "";
    if (!r->incidents_dirty && r->incidents && strcmp(leader, r->incidents_leader) == 0)
        return;
    md_shared_text *j = md_shared_text_adopt(md__heal_incidents_json(r, md_wall_ms()));
    if (!j)
        return; /* out of memory: readers keep the previous document */
    md_shared_text_unref(r->incidents);
    r->incidents = j;
    r->incidents_dirty = false;
    snprintf(r->incidents_leader, sizeof r->incidents_leader, "%s", leader);
}

int md_heal_fill_view(md_heal *r, md_view *s)
{
    if (s->wants & MD_VIEW_WANT_INCIDENTS) {
        refresh_incidents(r);
        s->incidents_json = md_view_share(s, r->incidents);
    } else if (r->incidents) {
        /* No reader wants it now (about 150 bytes a service): the last view holding it frees it,
         * and the next reader that asks gets a fresh one. */
        md_shared_text_unref(r->incidents);
        r->incidents = NULL;
    }
    s->actions_started = r->actions_started;
    if (md__heal_rw_fill_view(r, s) < 0)
        return -ENOMEM;
    if (r->alerts) {
        md_alerts_counters c;
        md_alerts_get_counters(r->alerts, &c);
        s->alerts_sent = c.sent;
        s->alerts_failed = c.failed;
        s->alerts_dropped = c.dropped;
        s->alerts_queued = c.queued;
    }
    for (size_t i = 0; i < r->n && i < s->n_services; i++) {
        const md_ledger_service *ls = md_ledger_service_at(r->ledger, i);
        char buf[256];
        const char *a = account(r, i, ls, buf, sizeof buf);
        s->services[i].paused = ls->more->paused;
        s->services[i].incident_id = ls->open ? ls->open->id : 0;
        s->services[i].remedy = a ? md_view_strdup(s, a) : NULL;
    }
    return 0;
}
