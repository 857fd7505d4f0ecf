/* render_history.c: GET /v1/history, every service's recent check results in one compact
 * document (for the dashboard's latency sparklines): [at_ms, latency_ms, result] triples, oldest
 * first. It depends on the view alone (no "now"), so equal documents mean nothing new. Rendered a
 * service at a time (md_render_history_stream), like /metrics and /v1/status. */
#include "api.h"
#include "render_int.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

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

/* service_json: one service's entry: {"name","interval_ms","slow_ms","points"}. */
static char *service_entry(const md_view_service *v)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *pts = o ? points_json(v) : NULL;
    bool ok = o && pts && cJSON_AddStringToObject(o, "name", v->name) &&
              cJSON_AddNumberToObject(o, "interval_ms", (double)v->interval_ms) &&
              cJSON_AddNumberToObject(o, "slow_ms", (double)v->slow_ms);
    if (pts)
        cJSON_AddItemToObject(o, "points", pts);
    char *out = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return out;
}

/* The document in pieces: {"services":[ then one service at a time, then ],"node":..,"max_points":..}
 * (the key order cJSON gave when the document was one tree). */
static bool history_step(md_render_stream *st)
{
    const md_view *s = st->s;
    if (st->section == 0) {
        md__buf_puts(&st->b, "{\"services\":[");
        st->section = 1;
        return true;
    }
    if (st->section == 1 && st->item < s->n_services) {
        char *e = service_entry(&s->services[st->item]);
        if (e == NULL) {
            st->b.oom = true;
            return false;
        }
        if (st->item > 0)
            md__buf_put(&st->b, ",", 1);
        md__buf_puts(&st->b, e);
        free(e);
        st->item++;
        return true;
    }
    if (st->section == 1) {
        cJSON *tail = cJSON_CreateObject();
        bool ok = tail && cJSON_AddStringToObject(tail, "node", s->node_id ? s->node_id : "") &&
                  cJSON_AddNumberToObject(tail, "max_points", MD_HISTORY_LEN);
        char *t = ok ? cJSON_PrintUnformatted(tail) : NULL;
        cJSON_Delete(tail);
        if (t == NULL) {
            st->b.oom = true;
            return false;
        }
        md__buf_put(&st->b, "],", 2);
        md__buf_puts(&st->b, t + 1); /* without its opening brace */
        free(t);
        st->section = 2;
        return true;
    }
    return false;
}

md_render_stream *md_render_history_stream(const md_view *s)
{
    assert(s != NULL);
    return md__render_stream_new(s, 0, history_step);
}

char *md_render_history_json(const md_view *s)
{
    return md__render_all(md_render_history_stream(s));
}
