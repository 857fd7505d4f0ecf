/* checks.c: the pass criteria, read only from outside: the actions Railway (the fake) executed,
 * from its request log; each node's ledger, from its /v1/incidents; the incident's steps. */
#include "chaos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mutations[] = { "deploymentRestart", "deploymentRedeploy", "serviceInstanceRedeploy",
                                         "deploymentRollback", "serviceInstanceRestart" };

/* A request the fake executed as a mutation: its answer's data names the field, not null. */
static bool executed_mutation(const cJSON *req)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "answer"), "data");
    if (!cJSON_IsObject(data))
        return false;
    for (size_t k = 0; k < sizeof mutations / sizeof mutations[0]; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, mutations[k]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsFalse(v))
            return true;
    }
    return false;
}

/* ch_count_mutations: how many actions Railway executed since since_ms (wall), and when the first
 * was (*first_at, 0 when none). -1 when the log cannot be read. */
int ch_count_mutations(ch_cluster *c, int64_t since_ms, int64_t *first_at)
{
    cJSON *doc = ch_fake_get(c, "/control/requests");
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(doc, "requests");
    if (!cJSON_IsArray(reqs)) {
        cJSON_Delete(doc);
        return -1;
    }
    int n = 0;
    *first_at = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, reqs)
    {
        int64_t at = (int64_t)ch_jnum(r, "atMs");
        if (at < since_ms || !executed_mutation(r))
            continue;
        if (!n++)
            *first_at = at;
    }
    cJSON_Delete(doc);
    return n;
}

/* The replicated part of a node's /v1/incidents: its incidents, open and closed. */
static char *ledger_of(ch_cluster *c, int i)
{
    cJSON *doc = ch_node_get(c, i, "/v1/incidents");
    if (!doc)
        return NULL;
    cJSON *keep = cJSON_CreateArray();
    cJSON_AddItemToArray(keep, cJSON_DetachItemFromObjectCaseSensitive(doc, "open"));
    cJSON_AddItemToArray(keep, cJSON_DetachItemFromObjectCaseSensitive(doc, "closed"));
    char *s = cJSON_PrintUnformatted(keep);
    cJSON_Delete(keep);
    cJSON_Delete(doc);
    return s;
}

/* ch_ledgers_agree polls every running node until their incidents are the same, at most
 * timeout_ms. Returns 0, or -1 with why filled. */
int ch_ledgers_agree(ch_cluster *c, int timeout_ms, char *why, size_t len)
{
    int64_t deadline = md_wall_ms() + timeout_ms;
    extern volatile int ch_interrupted;
    for (;;) {
        char *first = NULL;
        int differ = -1, first_i = -1;
        for (int i = 0; i < c->n && differ < 0; i++) {
            if (!c->node[i].running)
                continue;
            char *s = ledger_of(c, i);
            if (!s) {
                differ = i;
            } else if (!first) {
                first = s;
                first_i = i;
                continue;
            } else if (strcmp(s, first) != 0) {
                differ = i;
            }
            free(s);
        }
        free(first);
        if (differ < 0)
            return 0;
        if (md_wall_ms() >= deadline || ch_interrupted) {
            snprintf(why, len, "ledgers differ: n%d's incidents are not n%d's after %d ms", differ + 1, first_i + 1,
                     timeout_ms);
            return -1;
        }
        ch_sleep_ms(200);
    }
}

/* ch_incident_steps writes the newest incident's steps ("restart:1:ok,...") as the node that
 * leads (or n1) reports them; *steps counts the steps that may have acted (intent committed and
 * not "not-attempted"); *acted_by_minority counts steps proposed by node index minority (-1: none). */
int ch_incident_steps(ch_cluster *c, char *out, size_t len, int *steps, int *acted_by_minority, int minority)
{
    int l = ch_leader(c);
    cJSON *doc = ch_node_get(c, l >= 0 ? l : 0, "/v1/incidents");
    out[0] = '\0';
    *steps = 0;
    *acted_by_minority = 0;
    if (!doc)
        return -1;
    size_t at = 0;
    const char *lists[] = { "closed", "open" };
    for (int k = 0; k < 2; k++) {
        const cJSON *inc;
        cJSON_ArrayForEach(inc, cJSON_GetObjectItemCaseSensitive(doc, lists[k]))
        {
            const cJSON *st;
            cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(inc, "steps"))
            {
                const char *oc = ch_jstr(st, "outcome");
                if (at < len)
                    at += (size_t)snprintf(out + at, len - at, "%s%s:%d:%s", at ? "," : "", ch_jstr(st, "step"),
                                           (int)ch_jnum(st, "attempt"), oc);
                if (strcmp(oc, "not-attempted") != 0 && strcmp(oc, "skipped") != 0)
                    (*steps)++;
                char who[16];
                snprintf(who, sizeof who, "n%d", minority + 1);
                if (minority >= 0 && strcmp(ch_jstr(st, "proposed_by"), who) == 0)
                    (*acted_by_minority)++;
            }
        }
    }
    cJSON_Delete(doc);
    return 0;
}
