/* ledger_apply.c: applying one committed entry to the ledger. Deterministic: the outcome
 * depends on the state and the entry only. Every handler allocates what it needs before it
 * changes anything, so an error (or a rejection) leaves the state exactly as it was. */
#include "ledger_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    md_ledger *l;
    md_ledger_service *svc;
    md_ledger_service_more *m; /* svc->more, writable (allocated before any handler runs) */
    md_ledger_incident *open; /* svc->open, writable */
    uint64_t index;
    const md_ledger_entry *e;
    md_ledger_event *ev;
} applier;

static int reject(applier *a, const char *why)
{
    a->ev->kind = MD_LEDGER_EV_REJECTED;
    a->ev->why = why;
    return 0;
}

/* open_matches: the entry names the service's open incident. */
static bool open_matches(const applier *a, uint64_t id)
{
    return a->open && a->open->id == id;
}

/* close_incident moves the open incident into history and remembers what a relapse needs. */
static void close_incident(applier *a, md_close how, const char *by, const char *reason)
{
    md_ledger_incident *inc = a->open;
    assert(inc && inc->closed == MD_CLOSE_OPEN && !md_ledger_pending(inc));
    inc->closed = how;
    inc->closed_at_ms = a->e->at_ms;
    strcpy(inc->closed_by, by);
    inc->close_reason = reason;
    a->m->last_closed.id = inc->id;
    a->m->last_closed.closed_at_ms = inc->closed_at_ms;
    a->m->last_closed.how = how;
    memcpy(a->m->last_closed.attempts, inc->attempts, sizeof inc->attempts);
    a->svc->open = NULL;
    a->open = NULL;
    md__ledger_push_closed(a->l, inc);
    a->ev->incident_closed = true;
    a->ev->incident = inc;
}

static int apply_open(applier *a)
{
    const md_ledger_entry *e = a->e;
    uint64_t reopen_of = e->u.open.reopen_of;
    if (a->open)
        return reject(a, "an incident is already open");
    /* A relapse continues only the service's last incident, and only one that resolved. */
    if (reopen_of && (reopen_of != a->m->last_closed.id || a->m->last_closed.how != MD_CLOSE_RESOLVED))
        return reject(a, "reopen_of is not the service's last resolved incident");
    md_ledger_incident *inc = calloc(1, sizeof *inc);
    if (!inc)
        return -ENOMEM;
    inc->close_reason = inc->blocked_reason = "";
    if (md__ledger_strdup(e->u.open.votes.p, e->u.open.votes.len, &inc->votes)) {
        free(inc);
        return -ENOMEM;
    }
    inc->id = a->index;
    strcpy(inc->service, e->service);
    inc->opened_at_ms = e->at_ms;
    strcpy(inc->opened_by, e->actor);
    inc->reopen_of = reopen_of;
    if (reopen_of)
        memcpy(inc->attempts, a->m->last_closed.attempts, sizeof inc->attempts);
    a->svc->open = inc;
    a->m->incidents_total++;
    a->ev->kind = MD_LEDGER_EV_OPENED;
    a->ev->incident_id = inc->id;
    a->ev->incident = inc;
    return 0;
}

/* rate_push records an intent's time, keeping those within the hour before the newest. */
static void rate_push(md_ledger_service_more *s, int64_t at_ms)
{
    assert(s->recent_intents_ms);
    int64_t newest = at_ms;
    for (size_t i = 0; i < s->n_recent; i++)
        if (s->recent_intents_ms[i] > newest)
            newest = s->recent_intents_ms[i];
    size_t k = 0;
    for (size_t i = 0; i < s->n_recent; i++)
        if (s->recent_intents_ms[i] > newest - MD_LEDGER_RATE_WINDOW_MS)
            s->recent_intents_ms[k++] = s->recent_intents_ms[i];
    if (k == MD_LEDGER_RATE_MAX) { /* more than the config allows in an hour: keep the newest */
        memmove(s->recent_intents_ms, s->recent_intents_ms + 1, (k - 1) * sizeof s->recent_intents_ms[0]);
        k--;
    }
    s->recent_intents_ms[k++] = at_ms;
    s->n_recent = k;
}

/* rate_remove forgets one intent's time: an action that never reached its target is no action. */
static void rate_remove(md_ledger_service_more *s, int64_t at_ms)
{
    for (size_t i = 0; i < s->n_recent; i++)
        if (s->recent_intents_ms[i] == at_ms) {
            memmove(s->recent_intents_ms + i, s->recent_intents_ms + i + 1,
                    (s->n_recent - i - 1) * sizeof s->recent_intents_ms[0]);
            s->n_recent--;
            return;
        }
}

static void clear_blocked(md_ledger_incident *inc)
{
    md__ledger_strfree(inc->blocked_reason);
    inc->blocked_reason = "";
    inc->blocked_action = 0;
    inc->blocked_at_ms = 0;
}

static int apply_intent(applier *a)
{
    const md_ledger_entry *e = a->e;
    md_ledger_incident *inc = a->open;
    md_step step = e->u.intent.step;
    if (!open_matches(a, e->u.intent.incident))
        return reject(a, "the incident is not open");
    if (a->m->paused)
        return reject(a, "the service is paused");
    if (inc->exhausted)
        return reject(a, "the incident is exhausted");
    if (md_ledger_pending(inc))
        return reject(a, "another action is pending");
    if (inc->n_steps == MD_LEDGER_MAX_STEPS)
        return reject(a, "the incident has reached its step limit");
    if (e->u.intent.attempt != inc->attempts[step] + 1)
        return reject(a, "attempt out of order (a step never runs twice)");
    for (int s = step + 1; s < MD_STEP_COUNT; s++)
        if (inc->attempts[s])
            return reject(a, "the ladder only goes up");
    /* Allocated before anything changes, so running out of memory leaves the ledger as it was. */
    if (!a->m->recent_intents_ms &&
        !(a->m->recent_intents_ms = malloc(MD_LEDGER_RATE_MAX * sizeof *a->m->recent_intents_ms)))
        return -ENOMEM;
    md_ledger_step *st = &inc->steps[inc->n_steps];
    memset(st, 0, sizeof *st);
    st->step = step;
    st->attempt = e->u.intent.attempt;
    st->action_id = a->index;
    st->intent_at_ms = e->at_ms;
    strcpy(st->actor, e->actor);
    st->timeout_ms = e->u.intent.timeout_ms;
    st->shadow = e->u.intent.shadow;
    strcpy(st->target, e->u.intent.target);
    st->outcome = MD_OUTCOME_NONE;
    st->detail = "";
    inc->n_steps++;
    inc->attempts[step]++;
    rate_push(a->m, e->at_ms);
    a->m->actions_total++;
    a->ev->kind = MD_LEDGER_EV_INTENT;
    a->ev->incident_id = inc->id;
    a->ev->action_id = st->action_id;
    a->ev->step = st->step;
    a->ev->attempt = st->attempt;
    a->ev->shadow = st->shadow;
    a->ev->incident = inc;
    return 0;
}

static int apply_result(applier *a)
{
    const md_ledger_entry *e = a->e;
    md_ledger_step *st = (md_ledger_step *)md_ledger_pending(a->open);
    if (!st || st->action_id != e->u.result.action) {
        a->ev->kind = MD_LEDGER_EV_IGNORED;
        a->ev->why = "no such pending action";
        a->ev->action_id = e->u.result.action;
        return 0;
    }
    const char *detail;
    if (md__ledger_strdup(e->u.result.detail.p, e->u.result.detail.len, &detail))
        return -ENOMEM;
    st->outcome = e->u.result.outcome;
    st->result_at_ms = e->at_ms;
    strcpy(st->result_actor, e->actor);
    st->detail = detail;
    st->duration_ms = e->u.result.duration_ms;
    strcpy(st->new_deployment, e->u.result.new_deployment);
    if (a->open->blocked_action == st->action_id)
        clear_blocked(a->open);
    if (!md_outcome_attempted(st->outcome)) {
        /* It never reached its target: the ladder stays on this step (the next intent takes
         * the same attempt number) and the hour's action budget does not pay for it. */
        a->open->attempts[st->step]--;
        rate_remove(a->m, st->intent_at_ms);
    }
    a->ev->kind = MD_LEDGER_EV_RESULT;
    a->ev->incident_id = a->open->id;
    a->ev->action_id = st->action_id;
    a->ev->step = st->step;
    a->ev->attempt = st->attempt;
    a->ev->shadow = st->shadow;
    a->ev->outcome = st->outcome;
    a->ev->incident = a->open;
    return 0;
}

/* A BLOCKED entry marks the pending action as unable to reach its target for now (a reason
 * replaces the previous one); its result clears it. */
static int apply_blocked(applier *a)
{
    const md_ledger_entry *e = a->e;
    const md_ledger_step *st = md_ledger_pending(a->open);
    if (!st || st->action_id != e->u.blocked.action) {
        a->ev->kind = MD_LEDGER_EV_IGNORED;
        a->ev->why = "no such pending action";
        a->ev->action_id = e->u.blocked.action;
        return 0;
    }
    const char *reason;
    if (md__ledger_strdup(e->u.blocked.reason.p, e->u.blocked.reason.len, &reason))
        return -ENOMEM;
    clear_blocked(a->open);
    a->open->blocked_action = st->action_id;
    a->open->blocked_at_ms = e->at_ms;
    a->open->blocked_reason = reason;
    a->ev->kind = MD_LEDGER_EV_BLOCKED;
    a->ev->incident_id = a->open->id;
    a->ev->action_id = st->action_id;
    a->ev->step = st->step;
    a->ev->attempt = st->attempt;
    a->ev->shadow = st->shadow;
    a->ev->incident = a->open;
    return 0;
}

static int apply_resolved(applier *a)
{
    const md_ledger_entry *e = a->e;
    if (!open_matches(a, e->u.resolved.incident))
        return reject(a, "the incident is not open");
    if (md_ledger_pending(a->open))
        return reject(a, "an action is pending");
    const char *reason;
    if (md__ledger_strdup(e->u.resolved.reason.p, e->u.resolved.reason.len, &reason))
        return -ENOMEM;
    a->ev->kind = MD_LEDGER_EV_RESOLVED;
    a->ev->incident_id = a->open->id;
    close_incident(a, MD_CLOSE_RESOLVED, e->actor, reason);
    return 0;
}

static int apply_exhausted(applier *a)
{
    if (!open_matches(a, a->e->u.exhausted.incident))
        return reject(a, "the incident is not open");
    if (a->open->exhausted)
        return reject(a, "the incident is already exhausted");
    if (md_ledger_pending(a->open))
        return reject(a, "an action is pending");
    a->open->exhausted = true;
    a->open->exhausted_at_ms = a->e->at_ms;
    a->ev->kind = MD_LEDGER_EV_EXHAUSTED;
    a->ev->incident_id = a->open->id;
    a->ev->incident = a->open;
    return 0;
}

static int apply_pause(applier *a)
{
    const md_ledger_entry *e = a->e;
    if (a->m->paused)
        return reject(a, "already paused");
    const char *reason, *by;
    if (md__ledger_strdup(e->u.pause.reason.p, e->u.pause.reason.len, &reason))
        return -ENOMEM;
    if (md__ledger_strdup(e->u.pause.by, strlen(e->u.pause.by), &by)) {
        md__ledger_strfree(reason);
        return -ENOMEM;
    }
    md__ledger_strfree(a->m->pause_reason);
    md__ledger_strfree(a->m->paused_by);
    a->m->paused = true;
    a->m->paused_by = by;
    a->m->paused_at_ms = e->at_ms;
    a->m->pause_reason = reason;
    a->ev->kind = MD_LEDGER_EV_PAUSED;
    a->ev->incident_id = a->open ? a->open->id : 0;
    a->ev->incident = a->open;
    return 0;
}

/* A resume unpauses the service and also restarts an exhausted ladder: the operator has looked
 * and wants medic to try again, from restart #1. */
static int apply_resume(applier *a)
{
    md_ledger_service_more *s = a->m;
    bool exhausted = a->open && a->open->exhausted;
    if (!s->paused && !exhausted)
        return reject(a, "neither paused nor exhausted");
    md__ledger_strfree(s->pause_reason);
    md__ledger_strfree(s->paused_by);
    s->paused = false;
    s->paused_by = "";
    s->paused_at_ms = 0;
    s->pause_reason = "";
    a->ev->kind = MD_LEDGER_EV_RESUMED;
    a->ev->incident_id = a->open ? a->open->id : 0;
    a->ev->incident = a->open;
    if (exhausted)
        close_incident(a, MD_CLOSE_RESUMED, a->e->u.resume.by, "");
    return 0;
}

/* An ack records that an operator has seen the incident; acking an exhausted one closes it so
 * that a still-failing service gets a fresh ladder. */
static int apply_ack(applier *a)
{
    const md_ledger_entry *e = a->e;
    md_ledger_incident *inc = a->open;
    if (!open_matches(a, e->u.ack.incident))
        return reject(a, "the incident is not open");
    if (inc->acked && !inc->exhausted)
        return reject(a, "already acked");
    if (!inc->acked) {
        inc->acked = true;
        strcpy(inc->acked_by, e->u.ack.by);
        inc->acked_at_ms = e->at_ms;
    }
    a->ev->kind = MD_LEDGER_EV_ACKED;
    a->ev->incident_id = inc->id;
    a->ev->incident = inc;
    if (inc->exhausted)
        close_incident(a, MD_CLOSE_ACKED, e->u.ack.by, "");
    return 0;
}

static int apply_note(applier *a)
{
    const md_ledger_entry *e = a->e;
    md_ledger_incident *inc = a->open;
    if (!inc)
        return reject(a, "no open incident");
    if (inc->n_notes == MD_LEDGER_MAX_NOTES)
        return reject(a, "the incident has reached its note limit");
    md_ledger_note *n = &inc->notes[inc->n_notes];
    if (md__ledger_strdup(e->u.note.text.p, e->u.note.text.len, &n->text))
        return -ENOMEM;
    n->at_ms = e->at_ms;
    strcpy(n->by, e->actor);
    inc->n_notes++;
    a->ev->kind = MD_LEDGER_EV_NOTED;
    a->ev->incident_id = inc->id;
    a->ev->incident = inc;
    return 0;
}

static int apply_known_good(applier *a)
{
    const char *dep;
    if (md__ledger_strdup(a->e->u.known_good.deployment, strlen(a->e->u.known_good.deployment), &dep))
        return -ENOMEM;
    md__ledger_strfree(a->m->known_good);
    a->m->known_good = dep;
    a->m->known_good_at_ms = a->e->at_ms;
    a->ev->kind = MD_LEDGER_EV_KNOWN_GOOD;
    return 0;
}

/* check_service asserts what every handler must leave true. */
static void check_service(const md_ledger_service *s)
{
    assert(s->more);
    assert(s->more->n_recent <= MD_LEDGER_RATE_MAX);
    assert(s->more->pause_reason && (s->more->paused || !s->more->pause_reason[0]));
    const md_ledger_incident *inc = s->open;
    if (!inc)
        return;
    assert(inc->closed == MD_CLOSE_OPEN && inc->n_steps <= MD_LEDGER_MAX_STEPS && inc->n_notes <= MD_LEDGER_MAX_NOTES);
    uint32_t seen[MD_STEP_COUNT] = { 0 };
    for (size_t i = 0; i < inc->n_steps; i++) {
        assert(inc->steps[i].step > MD_STEP_NONE && inc->steps[i].step < MD_STEP_COUNT);
        assert(i + 1 == inc->n_steps || inc->steps[i].outcome != MD_OUTCOME_NONE);
        if (md_outcome_attempted(inc->steps[i].outcome))
            seen[inc->steps[i].step]++;
    }
    const md_ledger_step *p = md_ledger_pending(inc);
    assert(!inc->blocked_action || (p && p->action_id == inc->blocked_action));
    assert(inc->blocked_reason && (inc->blocked_action || !inc->blocked_reason[0]));
    for (int k = 0; k < MD_STEP_COUNT; k++)
        assert(seen[k] <= inc->attempts[k]);
    assert(!inc->exhausted || !md_ledger_pending(inc));
}

int md_ledger_apply(md_ledger *l, uint64_t raft_index, const uint8_t *payload, size_t len, md_ledger_event *ev)
{
    assert(l && ev);
    if (raft_index <= l->last_index)
        return -EALREADY;
    md_ledger_entry e;
    if (md_ledger_entry_decode(payload, len, &e))
        return -EINVAL;
    memset(ev, 0, sizeof *ev);
    ev->type = e.type;
    ev->index = raft_index;
    ev->service = SIZE_MAX;
    ev->at_ms = e.at_ms;
    strcpy(ev->actor, e.actor);
    ev->why = "";
    size_t si;
    if (md_ledger_find(l, e.service, &si)) {
        ev->kind = MD_LEDGER_EV_REJECTED;
        ev->why = "unknown service";
        return 0;
    }
    ev->service = si;
    /* The service's state beyond its open incident, allocated on its first entry (nothing
     * changed yet if that fails; a rejected entry leaves it allocated and empty, which is no
     * change of state). */
    md_ledger_service_more *m = md__ledger_more(&l->svc[si]);
    if (!m)
        return -ENOMEM;
    applier a = { l, &l->svc[si], m, (md_ledger_incident *)l->svc[si].open, raft_index, &e, ev };
    int (*const handlers[])(applier *) = {
        [MD_LEDGER_INCIDENT_OPEN] = apply_open, [MD_LEDGER_INTENT] = apply_intent,
        [MD_LEDGER_RESULT] = apply_result,      [MD_LEDGER_RESOLVED] = apply_resolved,
        [MD_LEDGER_EXHAUSTED] = apply_exhausted, [MD_LEDGER_PAUSE] = apply_pause,
        [MD_LEDGER_RESUME] = apply_resume,      [MD_LEDGER_ACK] = apply_ack,
        [MD_LEDGER_NOTE] = apply_note,          [MD_LEDGER_KNOWN_GOOD] = apply_known_good,
        [MD_LEDGER_BLOCKED] = apply_blocked,
    };
    assert(e.type > 0 && e.type < MD_LEDGER_TYPE_COUNT);
    int rc = handlers[e.type](&a);
    if (rc)
        return rc;
    if (ev->kind != MD_LEDGER_EV_REJECTED && ev->kind != MD_LEDGER_EV_IGNORED)
        l->last_index = raft_index;
    check_service(&l->svc[si]);
    return 0;
}
