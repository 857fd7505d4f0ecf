/* heal_render.c: /v1/incidents from the committed ledger: open incidents, the last closed ones,
 * every step with who acted and when, and each service's pause and known-good deployment. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "heal_int.h"

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char k[64], t[40];
    snprintf(k, sizeof k, "%s_ms", key);
    if (ms > 0) {
        md_format_time_ms(ms, t, sizeof t);
        cJSON_AddStringToObject(o, key, t);
        cJSON_AddNumberToObject(o, k, (double)ms);
    } else {
        cJSON_AddNullToObject(o, key);
        cJSON_AddNullToObject(o, k);
    }
}

static const char *incident_state(const md_ledger_incident *inc)
{
    if (inc->closed != MD_CLOSE_OPEN)
        return md_close_name(inc->closed);
    return inc->exhausted ? "exhausted" : inc->blocked_action ? "blocked" : "open";
}

static cJSON *step_json(const md_ledger_step *st)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "step", md_step_name(st->step));
    cJSON_AddNumberToObject(o, "attempt", st->attempt);
    cJSON_AddNumberToObject(o, "action_id", (double)st->action_id);
    add_time(o, "intent_at", st->intent_at_ms);
    cJSON_AddStringToObject(o, "proposed_by", st->actor);
    cJSON_AddNumberToObject(o, "timeout_ms", (double)st->timeout_ms);
    cJSON_AddBoolToObject(o, "shadow", st->shadow);
    if (st->target[0])
        cJSON_AddStringToObject(o, "target", st->target);
    cJSON_AddStringToObject(o, "outcome", md_outcome_name(st->outcome));
    add_time(o, "result_at", st->outcome == MD_OUTCOME_NONE ? 0 : st->result_at_ms);
    if (st->outcome != MD_OUTCOME_NONE) {
        cJSON_AddStringToObject(o, "result_by", st->result_actor);
        cJSON_AddNumberToObject(o, "duration_ms", (double)st->duration_ms);
        cJSON_AddStringToObject(o, "detail", st->detail);
        if (st->new_deployment[0])
            cJSON_AddStringToObject(o, "new_deployment", st->new_deployment);
    }
    return o;
}

static cJSON *incident_json(const md_ledger_incident *inc)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)inc->id);
    cJSON_AddStringToObject(o, "service", inc->service);
    cJSON_AddStringToObject(o, "state", incident_state(inc));
    add_time(o, "opened_at", inc->opened_at_ms);
    cJSON_AddStringToObject(o, "opened_by", inc->opened_by);
    cJSON_AddStringToObject(o, "votes", inc->votes);
    if (inc->reopen_of)
        cJSON_AddNumberToObject(o, "reopen_of", (double)inc->reopen_of);
    else
        cJSON_AddNullToObject(o, "reopen_of");
    cJSON *counts = cJSON_AddObjectToObject(o, "attempts");
    for (int k = MD_STEP_RESTART; counts && k < MD_STEP_COUNT; k++)
        cJSON_AddNumberToObject(counts, md_step_name((md_step)k), inc->attempts[k]);
    cJSON *steps = cJSON_AddArrayToObject(o, "steps");
    for (size_t k = 0; steps && k < inc->n_steps; k++) {
        cJSON *s = step_json(&inc->steps[k]);
        if (s)
            cJSON_AddItemToArray(steps, s);
    }
    cJSON *notes = cJSON_AddArrayToObject(o, "notes");
    for (size_t k = 0; notes && k < inc->n_notes; k++) {
        cJSON *n = cJSON_CreateObject();
        if (!n)
            continue;
        add_time(n, "at", inc->notes[k].at_ms);
        cJSON_AddStringToObject(n, "by", inc->notes[k].by);
        cJSON_AddStringToObject(n, "text", inc->notes[k].text);
        cJSON_AddItemToArray(notes, n);
    }
    cJSON_AddBoolToObject(o, "acked", inc->acked);
    if (inc->acked) {
        cJSON_AddStringToObject(o, "acked_by", inc->acked_by);
        add_time(o, "acked_at", inc->acked_at_ms);
    }
    if (inc->blocked_action) {
        cJSON *b = cJSON_AddObjectToObject(o, "blocked");
        if (b) {
            cJSON_AddNumberToObject(b, "action", (double)inc->blocked_action);
            cJSON_AddStringToObject(b, "reason", inc->blocked_reason);
            add_time(b, "since", inc->blocked_at_ms);
        }
    } else
        cJSON_AddNullToObject(o, "blocked");
    add_time(o, "exhausted_at", inc->exhausted ? inc->exhausted_at_ms : 0);
    add_time(o, "closed_at", inc->closed != MD_CLOSE_OPEN ? inc->closed_at_ms : 0);
    if (inc->closed != MD_CLOSE_OPEN) {
        cJSON_AddStringToObject(o, "closed_by", inc->closed_by);
        cJSON_AddStringToObject(o, "close_reason", inc->close_reason);
        cJSON_AddNumberToObject(o, "duration_ms", (double)(inc->closed_at_ms - inc->opened_at_ms));
    }
    return o;
}

/* A growing text: the document is written a piece at a time, so the whole cJSON tree (about
 * twice the text, 3 MB at 10,000 services) never exists at once. */
typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} text_buf;

static void put(text_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap += cap / 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put_s(text_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* put_item prints item (taking it) unformatted, after a comma unless first; NULL fails the text. */
static void put_item(text_buf *b, cJSON *item, bool first)
{
    char *t = item ? cJSON_PrintUnformatted(item) : NULL;
    cJSON_Delete(item);
    if (!t) {
        b->failed = true;
        return;
    }
    if (!first)
        put(b, ",", 1);
    put_s(b, t);
    free(t);
}

static cJSON *service_json(const md_heal *r, size_t i, const md_ledger_service *ls)
{
    cJSON *s = cJSON_CreateObject();
    if (!s)
        return NULL;
    cJSON_AddStringToObject(s, "name", ls->name);
    cJSON_AddBoolToObject(s, "paused", ls->more->paused);
    if (ls->more->paused) {
        cJSON_AddStringToObject(s, "paused_by", ls->more->paused_by);
        add_time(s, "paused_at", ls->more->paused_at_ms);
        cJSON_AddStringToObject(s, "pause_reason", ls->more->pause_reason);
    }
    if (ls->more->known_good[0])
        cJSON_AddStringToObject(s, "known_good_deployment", ls->more->known_good);
    else
        cJSON_AddNullToObject(s, "known_good_deployment");
    cJSON_AddNumberToObject(s, "incidents_total", (double)ls->more->incidents_total);
    cJSON_AddNumberToObject(s, "actions_total", (double)ls->more->actions_total);
    cJSON_AddBoolToObject(s, "shadow", r->cfg->services[i].shadow);
    static const char *const kinds[] = { "none", "railway", "exec" };
    cJSON_AddStringToObject(s, "actuator", kinds[r->cfg->services[i].remedy->actuator]);
    return s;
}

/* The text is what cJSON_PrintUnformatted gives for the whole document
 * {generated_at, generated_at_ms, node, leader, ledger_index, open, services, closed}: the head's
 * scalars printed as one object without its closing brace, then each array an item at a time. */
char *md__heal_incidents_json(const md_heal *r, int64_t now_ms)
{
    cJSON *head = cJSON_CreateObject();
    if (!head)
        return NULL;
    add_time(head, "generated_at", now_ms);
    cJSON_AddStringToObject(head, "node", r->cfg->node_id);
    const char *leader = r->cons ? md_consensus_leader_id(r->cons) : NULL;
    if (leader)
        cJSON_AddStringToObject(head, "leader", leader);
    else
        cJSON_AddNullToObject(head, "leader");
    cJSON_AddNumberToObject(head, "ledger_index", (double)md_ledger_last_index(r->ledger));
    text_buf b = {0};
    char *h = cJSON_PrintUnformatted(head);
    cJSON_Delete(head);
    if (!h)
        return NULL;
    size_t hl = strlen(h);
    if (hl < 2 || h[hl - 1] != '}') { /* cJSON prints an object as {...} */
        free(h);
        return NULL;
    }
    put(&b, h, hl - 1);
    free(h);
    size_t n = md_ledger_count(r->ledger);
    bool first = true;
    put_s(&b, ",\"open\":[");
    for (size_t i = 0; i < n && !b.failed; i++) {
        const md_ledger_service *ls = md_ledger_service_at(r->ledger, i);
        if (ls->open) {
            put_item(&b, incident_json(ls->open), first);
            first = false;
        }
    }
    put_s(&b, "],\"services\":[");
    for (size_t i = 0; i < n && !b.failed; i++)
        put_item(&b, service_json(r, i, md_ledger_service_at(r->ledger, i)), i == 0);
    put_s(&b, "],\"closed\":[");
    size_t nc = md_ledger_closed_count(r->ledger);
    for (size_t k = 0; k < nc && !b.failed; k++)
        put_item(&b, incident_json(md_ledger_closed(r->ledger, k)), k == 0);
    put_s(&b, "]}");
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    char *fit = realloc(b.p, b.len + 1); /* the document is kept: give back the growth slack */
    return fit ? fit : b.p;
}
