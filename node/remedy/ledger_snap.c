/* ledger_snap.c: the ledger's snapshot, for log compaction. Layout:
 *   "MDLS" | u8 version | u64 last_index | u32 n | n services (by name) | u32 m | m closed
 *   incidents (oldest first) | u32 crc32c
 * Version 2 (written) adds a blocked action to every incident; version 1 (read) has none.
 * Optional parts (a pause, a result, an ack...) follow a presence byte and are absent when
 * unset, so equal states give equal bytes. The decoder checks every field and the relations
 * the apply code keeps (only the last step pending, counters cover the steps...), builds a
 * complete new state aside and swaps it in only when everything decoded. */
#include "ledger_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t magic[4] = { 'M', 'D', 'L', 'S' };
#define SNAP_VERSION 2      /* written; 1 is still read */

/* ---- writing ---- */

static void put_attempts(md__lw *w, const uint32_t *attempts)
{
    for (int k = MD_STEP_RESTART; k < MD_STEP_COUNT; k++)
        md__lw_u16(w, (uint16_t)attempts[k]);
}

static void put_step(md__lw *w, const md_ledger_step *st)
{
    md__lw_u8(w, (uint8_t)st->step);
    md__lw_u16(w, (uint16_t)st->attempt);
    md__lw_u64(w, st->action_id);
    md__lw_u64(w, (uint64_t)st->intent_at_ms);
    md__lw_name(w, st->actor);
    md__lw_u64(w, (uint64_t)st->timeout_ms);
    md__lw_u8(w, st->shadow);
    md__lw_name(w, st->target);
    md__lw_u8(w, (uint8_t)st->outcome);
    if (st->outcome == MD_OUTCOME_NONE)
        return;
    md__lw_u64(w, (uint64_t)st->result_at_ms);
    md__lw_name(w, st->result_actor);
    md__lw_text(w, st->detail, strlen(st->detail));
    md__lw_u64(w, (uint64_t)st->duration_ms);
    md__lw_name(w, st->new_deployment);
}

static void put_incident(md__lw *w, const md_ledger_incident *inc)
{
    md__lw_u64(w, inc->id);
    md__lw_name(w, inc->service);
    md__lw_u64(w, (uint64_t)inc->opened_at_ms);
    md__lw_name(w, inc->opened_by);
    md__lw_text(w, inc->votes, strlen(inc->votes));
    md__lw_u64(w, inc->reopen_of);
    put_attempts(w, inc->attempts);
    md__lw_u8(w, (uint8_t)inc->n_steps);
    for (size_t i = 0; i < inc->n_steps; i++)
        put_step(w, &inc->steps[i]);
    md__lw_u8(w, (uint8_t)inc->n_notes);
    for (size_t i = 0; i < inc->n_notes; i++) {
        md__lw_u64(w, (uint64_t)inc->notes[i].at_ms);
        md__lw_name(w, inc->notes[i].by);
        md__lw_text(w, inc->notes[i].text, strlen(inc->notes[i].text));
    }
    md__lw_u8(w, inc->acked);
    if (inc->acked) {
        md__lw_name(w, inc->acked_by);
        md__lw_u64(w, (uint64_t)inc->acked_at_ms);
    }
    md__lw_u8(w, inc->exhausted);
    if (inc->exhausted)
        md__lw_u64(w, (uint64_t)inc->exhausted_at_ms);
    md__lw_u64(w, inc->blocked_action);
    if (inc->blocked_action) {
        md__lw_u64(w, (uint64_t)inc->blocked_at_ms);
        md__lw_text(w, inc->blocked_reason, strlen(inc->blocked_reason));
    }
    md__lw_u8(w, (uint8_t)inc->closed);
    if (inc->closed != MD_CLOSE_OPEN) {
        md__lw_u64(w, (uint64_t)inc->closed_at_ms);
        md__lw_name(w, inc->closed_by);
        md__lw_text(w, inc->close_reason, strlen(inc->close_reason));
    }
}

static void put_service(md__lw *w, const md_ledger_service *svc)
{
    const md_ledger_service_more *s = svc->more;
    md__lw_name(w, svc->name);
    md__lw_u8(w, s->paused);
    if (s->paused) {
        md__lw_name(w, s->paused_by);
        md__lw_u64(w, (uint64_t)s->paused_at_ms);
        md__lw_text(w, s->pause_reason, strlen(s->pause_reason));
    }
    md__lw_name(w, s->known_good);
    if (s->known_good[0])
        md__lw_u64(w, (uint64_t)s->known_good_at_ms);
    md__lw_u64(w, s->incidents_total);
    md__lw_u64(w, s->actions_total);
    md__lw_u64(w, s->last_closed.id);
    if (s->last_closed.id) {
        md__lw_u64(w, (uint64_t)s->last_closed.closed_at_ms);
        md__lw_u8(w, (uint8_t)s->last_closed.how);
        put_attempts(w, s->last_closed.attempts);
    }
    md__lw_u16(w, (uint16_t)s->n_recent);
    for (size_t i = 0; i < s->n_recent; i++)
        md__lw_u64(w, (uint64_t)s->recent_intents_ms[i]);
    md__lw_u8(w, svc->open != NULL);
    if (svc->open)
        put_incident(w, svc->open);
}

static int by_name(const void *a, const void *b)
{
    const md_ledger_service *x = *(const md_ledger_service *const *)a, *y = *(const md_ledger_service *const *)b;
    return strcmp(x->name, y->name);
}

int md_ledger_snapshot(const md_ledger *l, uint8_t **out, size_t *len)
{
    assert(l && out && len);
    const md_ledger_service **order = malloc(l->n * sizeof *order);
    if (!order)
        return -ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        order[i] = &l->svc[i];
    qsort(order, l->n, sizeof *order, by_name);
    md__lw w;
    md__lw_start(&w);
    for (int i = 0; i < 4; i++)
        md__lw_u8(&w, magic[i]);
    md__lw_u8(&w, SNAP_VERSION);
    md__lw_u64(&w, l->last_index);
    md__lw_u32(&w, (uint32_t)l->n);
    for (size_t i = 0; i < l->n; i++)
        put_service(&w, order[i]);
    free(order);
    md__lw_u32(&w, (uint32_t)l->closed_n);
    for (size_t k = 0; k < l->closed_n; k++)
        put_incident(&w, l->closed[(l->closed_first + k) % MD_LEDGER_MAX_CLOSED]);
    int rc = md__lw_finish(&w);
    if (rc)
        return rc;
    *out = w.p;
    *len = w.len;
    return 0;
}

/* ---- reading ---- */

static const char *dup_text(md__lr *r, bool *oom)
{
    md_ledger_text t = md__lr_text(r);
    const char *s = "";
    if (!r->bad && md__ledger_strdup(t.p, t.len, &s))
        *oom = true;
    return s;
}

static void get_attempts(md__lr *r, uint32_t *attempts)
{
    attempts[MD_STEP_NONE] = 0;
    for (int k = MD_STEP_RESTART; k < MD_STEP_COUNT; k++)
        attempts[k] = (uint32_t)md__lr_n(r, 2);
}

static void get_step(md__lr *r, md_ledger_step *st, bool *oom)
{
    uint64_t step = md__lr_n(r, 1), outcome;
    st->step = (md_step)step;
    st->attempt = (uint32_t)md__lr_n(r, 2);
    st->action_id = md__lr_n(r, 8);
    st->intent_at_ms = md__lr_time(r);
    md__lr_name(r, st->actor, false);
    st->timeout_ms = md__lr_time(r);
    st->shadow = md__lr_bool(r);
    md__lr_name(r, st->target, true);
    outcome = md__lr_n(r, 1);
    st->outcome = (md_outcome)outcome;
    st->detail = "";
    if (step == MD_STEP_NONE || step >= MD_STEP_COUNT || st->attempt == 0 || st->action_id == 0 ||
        st->timeout_ms == 0 || outcome >= MD_OUTCOME_COUNT)
        r->bad = true;
    if (r->bad || outcome == MD_OUTCOME_NONE)
        return;
    st->result_at_ms = md__lr_time(r);
    md__lr_name(r, st->result_actor, false);
    st->detail = dup_text(r, oom);
    st->duration_ms = md__lr_time(r);
    md__lr_name(r, st->new_deployment, true);
}

/* incident_ok: the relations between fields that apply keeps. */
static bool incident_ok(const md_ledger_incident *inc, bool want_open)
{
    uint32_t seen[MD_STEP_COUNT] = { 0 };
    for (size_t i = 0; i < inc->n_steps; i++) {
        if (i + 1 < inc->n_steps && inc->steps[i].outcome == MD_OUTCOME_NONE)
            return false;
        if (md_outcome_attempted(inc->steps[i].outcome))
            seen[inc->steps[i].step]++;
    }
    const md_ledger_step *p = md_ledger_pending(inc);
    if (inc->blocked_action && (!p || p->action_id != inc->blocked_action))
        return false;
    for (int k = 0; k < MD_STEP_COUNT; k++)
        if (seen[k] > inc->attempts[k])
            return false;
    bool pending = md_ledger_pending(inc) != NULL;
    if (inc->id == 0 || (inc->exhausted && pending) || (want_open != (inc->closed == MD_CLOSE_OPEN)))
        return false;
    return want_open || !pending;
}

/* get_incident decodes one incident into *out (owned by the caller on success). */
static int get_incident(md__lr *r, unsigned version, bool want_open, md_ledger_incident **out)
{
    bool oom = false;
    md_ledger_incident *inc = calloc(1, sizeof *inc);
    if (!inc)
        return -ENOMEM;
    inc->votes = inc->close_reason = inc->blocked_reason = "";
    inc->id = md__lr_n(r, 8);
    md__lr_name(r, inc->service, false);
    inc->opened_at_ms = md__lr_time(r);
    md__lr_name(r, inc->opened_by, false);
    inc->votes = dup_text(r, &oom);
    inc->reopen_of = md__lr_n(r, 8);
    get_attempts(r, inc->attempts);
    size_t n = (size_t)md__lr_n(r, 1);
    if (n > MD_LEDGER_MAX_STEPS)
        r->bad = true;
    for (size_t i = 0; i < n && !r->bad && !oom; i++) {
        get_step(r, &inc->steps[i], &oom);
        inc->n_steps = i + 1; /* counted at once, so that free releases its detail */
    }
    n = (size_t)md__lr_n(r, 1);
    if (n > MD_LEDGER_MAX_NOTES)
        r->bad = true;
    for (size_t i = 0; i < n && !r->bad && !oom; i++) {
        md_ledger_note *note = &inc->notes[i];
        note->at_ms = md__lr_time(r);
        md__lr_name(r, note->by, false);
        note->text = dup_text(r, &oom);
        inc->n_notes = i + 1;
        if (!note->text[0])
            r->bad = true;
    }
    if ((inc->acked = md__lr_bool(r))) {
        md__lr_name(r, inc->acked_by, false);
        inc->acked_at_ms = md__lr_time(r);
    }
    if ((inc->exhausted = md__lr_bool(r)))
        inc->exhausted_at_ms = md__lr_time(r);
    if (version >= 2 && (inc->blocked_action = md__lr_n(r, 8)) != 0 && !r->bad && !oom) {
        inc->blocked_at_ms = md__lr_time(r);
        inc->blocked_reason = dup_text(r, &oom);
        if (!inc->blocked_reason[0])
            r->bad = true;
    }
    uint64_t closed = md__lr_n(r, 1);
    inc->closed = closed < MD_CLOSE_COUNT ? (md_close)closed : MD_CLOSE_OPEN;
    if (closed >= MD_CLOSE_COUNT)
        r->bad = true;
    else if (closed != MD_CLOSE_OPEN && !r->bad && !oom) {
        inc->closed_at_ms = md__lr_time(r);
        md__lr_name(r, inc->closed_by, false);
        inc->close_reason = dup_text(r, &oom);
    }
    if (oom || r->bad || !incident_ok(inc, want_open)) {
        md__ledger_incident_free(inc);
        r->bad = true;
        return oom ? -ENOMEM : -EINVAL;
    }
    *out = inc;
    return 0;
}

/* get_more decodes the part of a service's record that md_ledger_service_more holds into s
 * (md__ledger_more_empty to start with; what it then holds is the caller's to free). */
static int get_more(md__lr *r, md_ledger_service_more *s)
{
    bool oom = false;
    char name[MD_LEDGER_NAME_MAX + 1];
    if ((s->paused = md__lr_bool(r))) {
        md__lr_name(r, name, false);
        if (!r->bad && md__ledger_strdup(name, strlen(name), &s->paused_by))
            oom = true;
        s->paused_at_ms = md__lr_time(r);
        s->pause_reason = dup_text(r, &oom);
    }
    md__lr_name(r, name, true);
    if (!r->bad && md__ledger_strdup(name, strlen(name), &s->known_good))
        oom = true;
    if (s->known_good[0])
        s->known_good_at_ms = md__lr_time(r);
    s->incidents_total = md__lr_n(r, 8);
    s->actions_total = md__lr_n(r, 8);
    if ((s->last_closed.id = md__lr_n(r, 8))) {
        s->last_closed.closed_at_ms = md__lr_time(r);
        uint64_t how = md__lr_n(r, 1);
        if (how == MD_CLOSE_OPEN || how >= MD_CLOSE_COUNT)
            r->bad = true;
        s->last_closed.how = r->bad ? MD_CLOSE_RESOLVED : (md_close)how;
        get_attempts(r, s->last_closed.attempts);
    }
    s->n_recent = (size_t)md__lr_n(r, 2);
    if (s->n_recent > MD_LEDGER_RATE_MAX) {
        r->bad = true;
        s->n_recent = 0;
    }
    if (s->n_recent && !s->recent_intents_ms &&
        !(s->recent_intents_ms = malloc(MD_LEDGER_RATE_MAX * sizeof *s->recent_intents_ms))) {
        s->n_recent = 0;
        oom = true;
    }
    for (size_t i = 0; i < s->n_recent; i++)
        s->recent_intents_ms[i] = md__lr_time(r);
    return oom ? -ENOMEM : 0;
}

/* get_service decodes one service's record into s (a service of the new state, or a scratch
 * one when this ledger does not know the name). A service whose record holds nothing keeps
 * sharing md__ledger_more_empty. */
static int get_service(md__lr *r, unsigned version, md_ledger_service *s)
{
    md_ledger_service_more more = md__ledger_more_empty;
    int rc = get_more(r, &more);
    if (rc == 0 && !md__ledger_more_is_empty(&more)) {
        assert(s->more == &md__ledger_more_empty); /* a new ledger's, each name once */
        md_ledger_service_more *m = md__ledger_more(s);
        if (m) {
            *m = more;
            more = md__ledger_more_empty; /* moved */
        } else {
            rc = -ENOMEM;
        }
    }
    md__ledger_more_free(&more);
    if (rc)
        return rc;
    if (md__lr_bool(r) && !r->bad) {
        md_ledger_incident *inc;
        if ((rc = get_incident(r, version, true, &inc)))
            return rc;
        s->open = inc;
        if (strcmp(inc->service, s->name) != 0)
            r->bad = true;
    }
    return r->bad ? -EINVAL : 0;
}

static int get_services(md__lr *r, unsigned version, md_ledger *t, md_ledger_service *scratch)
{
    uint64_t n = md__lr_n(r, 4);
    char prev[MD_LEDGER_NAME_MAX + 1] = "", name[MD_LEDGER_NAME_MAX + 1];
    if (n > MD_LEDGER_MAX_SERVICES)
        return -EINVAL;
    for (uint64_t i = 0; i < n; i++) {
        md__lr_name(r, name, false);
        if (r->bad || (i > 0 && strcmp(prev, name) >= 0)) /* sorted, no duplicates */
            return -EINVAL;
        strcpy(prev, name);
        size_t k;
        md_ledger_service *s = scratch;
        if (md_ledger_find(t, name, &k) == 0)
            s = &t->svc[k];
        else {
            memset(scratch, 0, sizeof *scratch);
            scratch->more = &md__ledger_more_empty;
            scratch->name = name;
        }
        int rc = get_service(r, version, s);
        if (s == scratch) { /* a service this node does not watch: checked, then dropped */
            if (scratch->more != &md__ledger_more_empty) {
                md__ledger_more_free((md_ledger_service_more *)scratch->more);
                free((md_ledger_service_more *)scratch->more);
            }
            md__ledger_incident_free((md_ledger_incident *)scratch->open);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int get_all(md__lr *r, md_ledger *t)
{
    for (int i = 0; i < 4; i++)
        if (md__lr_n(r, 1) != magic[i])
            return -EINVAL;
    unsigned version = (unsigned)md__lr_n(r, 1);
    if (version != 1 && version != SNAP_VERSION)
        return -EINVAL;
    t->last_index = md__lr_n(r, 8);
    md_ledger_service *scratch = malloc(sizeof *scratch);
    if (!scratch)
        return -ENOMEM;
    int rc = r->bad ? -EINVAL : get_services(r, version, t, scratch);
    free(scratch);
    if (rc)
        return rc;
    uint64_t m = md__lr_n(r, 4);
    if (r->bad || m > MD_LEDGER_MAX_CLOSED)
        return -EINVAL;
    for (uint64_t k = 0; k < m; k++) {
        md_ledger_incident *inc;
        if ((rc = get_incident(r, version, false, &inc)))
            return rc;
        md__ledger_push_closed(t, inc);
    }
    return r->bad || r->left ? -EINVAL : 0;
}

int md_ledger_restore(md_ledger *l, const uint8_t *buf, size_t len)
{
    assert(l);
    md__lr r;
    if (!md__lr_open(&r, buf, len))
        return -EINVAL;
    const char **names = malloc(l->n * sizeof *names);
    if (!names)
        return -ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        names[i] = l->svc[i].name;
    md_ledger *t;
    int rc = md__ledger_alloc(names, l->n, &t);
    free(names);
    if (rc)
        return rc;
    if ((rc = get_all(&r, t))) {
        md_ledger_free(t);
        return rc;
    }
    /* Swap: l takes t's state, t takes l's old state and frees it. */
    md_ledger tmp = *l;
    *l = *t;
    *t = tmp;
    md_ledger_free(t);
    return 0;
}
