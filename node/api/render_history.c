/* render_history.c: GET /v1/history, every service's recent check results in one compact
 * document (for the dashboard's latency sparklines): [at_ms, latency_ms, result] triples, oldest
 * first. It depends on the view alone (no "now"), so equal documents mean nothing new. */
#include "api.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <math.h>

/* points_json: the history of v as an array of [at_ms, latency_ms, "ok" | failure class]. */
static cJSON *points_json(const md_view_service *v)
{
    md_check_result res[MD_HISTORY_LEN];
    size_t n = v->history ? md_history_get(v->history, res, MD_HISTORY_LEN) : 0;
    cJSON *arr = cJSON_CreateArray();
    for (size_t k = n; arr && k > 0; k--) { /* md_history_get is newest first */
        const md_check_result *r = &res[k - 1];
        cJSON *p = cJSON_CreateArray();
        cJSON *at = cJSON_CreateNumber((double)r->at_ms);
        cJSON *lat = cJSON_CreateNumber(round(r->latency_us / 100.0) / 10.0);
        cJSON *res_s = cJSON_CreateString(r->err == MD_ERR_NONE ? "ok" : md_err_name(r->err));
        if (!p || !at || !lat || !res_s) {
            cJSON_Delete(p);
            cJSON_Delete(at);
            cJSON_Delete(lat);
            cJSON_Delete(res_s);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(p, at);
        cJSON_AddItemToArray(p, lat);
        cJSON_AddItemToArray(p, res_s);
        cJSON_AddItemToArray(arr, p);
    }
    return arr;
}

char *md_render_history_json(const md_view *s)
{
    assert(s != NULL);
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "services") : NULL;
    bool ok = arr && cJSON_AddStringToObject(root, "node", s->node_id ? s->node_id : "") &&
              cJSON_AddNumberToObject(root, "max_points", MD_HISTORY_LEN);
    for (size_t i = 0; ok && i < s->n_services; i++) {
        const md_view_service *v = &s->services[i];
        cJSON *o = cJSON_CreateObject();
        cJSON *pts = o ? points_json(v) : NULL;
        ok = o && pts && cJSON_AddStringToObject(o, "name", v->name) &&
             cJSON_AddNumberToObject(o, "interval_ms", (double)v->interval_ms) &&
             cJSON_AddNumberToObject(o, "slow_ms", (double)v->slow_ms);
        if (pts)
            cJSON_AddItemToObject(o, "points", pts);
        if (o)
            cJSON_AddItemToArray(arr, o);
    }
    char *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return out;
}
