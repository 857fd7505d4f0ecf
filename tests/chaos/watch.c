/* watch.c: what the harness sees of a run, polled from every node's API: each node's own state
 * of the service and the cluster verdict it holds, with the moments they changed, and the
 * newest incident. Measurements come from here and from the fake Railway's request log only. */
#include "watch.h"

#include <stdio.h>
#include <string.h>

void ch_watch_init(ch_watch *wt, int64_t t0)
{
    bool ignore[CH_MAX_NODES], skewed[CH_MAX_NODES];
    memcpy(ignore, wt->ignore, sizeof ignore);
    memcpy(skewed, wt->skewed, sizeof skewed);
    memset(wt, 0, sizeof *wt);
    memcpy(wt->ignore, ignore, sizeof ignore);
    memcpy(wt->skewed, skewed, sizeof skewed);
    wt->t0 = t0;
}

/* ch_watch_poll reads every running node once. */
void ch_watch_poll(ch_watch *wt, ch_cluster *c)
{
    int up = 0, answered = 0;
    int64_t up_since = 0;
    for (int i = 0; i < c->n; i++) {
        if (!c->node[i].running || c->node[i].stopped || wt->ignore[i])
            continue;
        cJSON *doc = ch_node_get(c, i, "/v1/services/" CH_SERVICE);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "service");
        if (!s) {
            cJSON_Delete(doc);
            continue;
        }
        answered++;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "verdict");
        snprintf(wt->state[i], sizeof wt->state[i], "%s", ch_jstr(s, "state"));
        if (strcmp(wt->state[i], "DOWN") == 0) {
            int64_t since = wt->skewed[i] ? md_wall_ms() : (int64_t)ch_jnum(s, "state_since_ms");
            wt->node_down[i] = true;
            if (since >= wt->t0 && (!wt->first_down || since < wt->first_down))
                wt->first_down = since;
        }
        const char *vs = ch_jstr(v, "state");
        if (strcmp(vs, "DOWN") == 0) {
            int64_t since = wt->skewed[i] ? md_wall_ms() : (int64_t)ch_jnum(v, "since_ms");
            wt->verdict_down_seen = true;
            wt->verdict_down_on[i] = true;
            if (since >= wt->t0 && (!wt->quorum_down || since < wt->quorum_down))
                wt->quorum_down = since;
        }
        if (strcmp(vs, "UP") == 0) {
            up++;
            int64_t since = wt->skewed[i] ? 0 : (int64_t)ch_jnum(v, "since_ms");
            if (since > up_since)
                up_since = since;
        }
        cJSON_Delete(doc);
    }
    wt->all_up = answered > 0 && up == answered;
    if (wt->all_up && wt->verdict_down_seen && !wt->recovered && up_since > wt->quorum_down)
        wt->recovered = up_since;
}

/* ch_watch_incident: the newest incident opened at or after t0 on node i: its state ("" none). */
void ch_watch_incident(ch_watch *wt, ch_cluster *c, int i)
{
    cJSON *doc = ch_node_get(c, i, "/v1/incidents");
    wt->incident[0] = '\0';
    const char *lists[] = { "open", "closed" };
    for (int k = 0; k < 2 && doc && !wt->incident[0]; k++) {
        const cJSON *inc = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, lists[k]), 0);
        if (inc && (int64_t)ch_jnum(inc, "opened_at_ms") >= wt->t0) {
            snprintf(wt->incident, sizeof wt->incident, "%s", ch_jstr(inc, "state"));
            wt->incident_steps = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(inc, "steps"));
        }
    }
    cJSON_Delete(doc);
}

/* ch_any_incident: whether any running node holds an incident opened at or after since_ms. */
bool ch_any_incident(ch_cluster *c, int64_t since_ms)
{
    bool any = false;
    for (int i = 0; i < c->n && !any; i++) {
        if (!c->node[i].running || c->node[i].stopped)
            continue;
        cJSON *doc = ch_node_get(c, i, "/v1/incidents");
        const char *lists[] = { "open", "closed" };
        for (int k = 0; k < 2; k++) {
            const cJSON *inc;
            cJSON_ArrayForEach(inc, cJSON_GetObjectItemCaseSensitive(doc, lists[k]))
            any |= (int64_t)ch_jnum(inc, "opened_at_ms") >= since_ms;
        }
        cJSON_Delete(doc);
    }
    return any;
}
