/* render_failover.c: failover in the API's documents: GET /v1/resolve/{service}, the "failover"
 * object of /v1/status and /v1/services/{name}, and the medic_failover_* metric families. */
#include "api.h"
#include "render_failover.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool add_num(cJSON *o, const char *key, double v)
{
    return cJSON_AddNumberToObject(o, key, v) != NULL;
}

static bool add_str(cJSON *o, const char *key, const char *v)
{
    return v ? cJSON_AddStringToObject(o, key, v) != NULL : cJSON_AddNullToObject(o, key) != NULL;
}

static cJSON *endpoint_json(const md_view_endpoint *e, int index, bool active)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && add_num(o, "index", index) && add_str(o, "target", e->target) &&
              cJSON_AddBoolToObject(o, "active", active) && add_str(o, "breaker", e->breaker) &&
              add_num(o, "breaker_since_ms", (double)e->breaker_since_ms) &&
              add_num(o, "open_period_ms", (double)e->open_period_ms) && add_num(o, "opens", (double)e->opens);
    if (ok && e->half_open_at_ms)
        ok = add_num(o, "half_open_at_ms", (double)e->half_open_at_ms);
    cJSON *pr = ok ? cJSON_AddObjectToObject(o, "probes") : NULL;
    ok = pr && add_num(pr, "total", (double)e->probes) && add_num(pr, "failed", (double)e->probes_failed) &&
         add_str(pr, "last_result", md_err_name(e->last_err)) &&
         add_num(pr, "last_latency_ms", (double)(int64_t)(e->last_latency_ms * 10) / 10);
    cJSON *tr = ok ? cJSON_AddObjectToObject(o, "traffic") : NULL;
    ok = tr && add_num(tr, "ok", (double)e->traffic_ok) && add_num(tr, "failed", (double)e->traffic_failed);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *md__render_failover_json(const md_view_service *sv)
{
    const md_view_failover *v = sv->failover;
    assert(v);
    cJSON *o = cJSON_CreateObject();
    const char *active = v->active_endpoint >= 0 ? v->endpoints[v->active_endpoint].target : NULL;
    bool ok = o && add_str(o, "active", active) && add_num(o, "active_index", v->active_endpoint) &&
              add_num(o, "active_since_ms", (double)v->active_since_ms) && add_num(o, "failovers", (double)v->failovers);
    cJSON *arr = ok ? cJSON_AddArrayToObject(o, "endpoints") : NULL;
    ok = arr != NULL;
    for (size_t i = 0; ok && i < v->n_endpoints; i++) {
        cJSON *e = endpoint_json(&v->endpoints[i], (int)i, (int)i == v->active_endpoint);
        ok = e && cJSON_AddItemToArray(arr, e);
    }
    if (ok && v->proxy) {
        const md_view_proxy *p = v->proxy;
        cJSON *px = cJSON_AddObjectToObject(o, "proxy");
        ok = px && add_str(px, "listen", p->listen) &&
             add_num(px, "connections_total", (double)p->connections_total) &&
             add_num(px, "connections_active", (double)p->connections_active) &&
             add_num(px, "retries", (double)p->retries) && add_num(px, "rejected", (double)p->rejected) &&
             add_num(px, "failed", (double)p->failed) && add_num(px, "bytes_up", (double)p->bytes_up) &&
             add_num(px, "bytes_down", (double)p->bytes_down);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

char *md_render_resolve_json(const md_view *s, const char *name, int64_t now_ms)
{
    const md_view_service *v = md_view_find(s, name);
    if (!v || !v->failover)
        return NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *fo = md__render_failover_json(v);
    bool ok = root && fo && add_str(root, "service", v->name) && add_str(root, "node", s->node_id) &&
              add_num(root, "generated_at_ms", (double)now_ms) && add_num(root, "view_built_ms", (double)s->built_ms);
    if (ok) {
        /* The failover object's fields at the top: clients read "active" first. */
        cJSON *it = fo->child;
        while (ok && it) {
            cJSON *next = it->next;
            cJSON_DetachItemViaPointer(fo, it);
            ok = cJSON_AddItemToObject(root, it->string, it);
            it = next;
        }
    }
    cJSON_Delete(fo);
    char *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return out;
}

/* ---- metrics ---- */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

__attribute__((format(printf, 2, 3))) static void putf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (b->oom || n < 0) {
            b->oom = true;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        if (!b->p)
            p[0] = '\0';
        b->p = p;
        b->cap = cap;
    }
}

/* label: a label value with \, " and newline escaped (targets are URLs: no newline, but be exact). */
static const char *label(const char *v, char *out, size_t cap)
{
    size_t o = 0;
    for (; v && *v && o + 3 < cap; v++) {
        if (*v == '\\' || *v == '"') {
            out[o++] = '\\';
            out[o++] = *v;
        } else if (*v == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *v;
        }
    }
    out[o] = '\0';
    return out;
}

static void family(sbuf *b, const char *name, const char *type, const char *help)
{
    putf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const md_view_proxy *proxy_of(const md_view_service *v)
{
    return v->failover ? v->failover->proxy : NULL;
}

char *md__render_failover_metrics(const md_view *s)
{
    sbuf b = {0};
    bool any = false;
    char sv[300], ep[1200];
    for (size_t i = 0; i < s->n_services; i++)
        any |= s->services[i].failover != NULL;
    if (!any)
        return strdup("");
    family(&b, "medic_failover_active_endpoint", "gauge",
           "1 for the endpoint this node sends the service's traffic to (index 0 is the primary).");
    for (size_t i = 0; i < s->n_services; i++) {
        const md_view_service *v = &s->services[i];
        for (size_t k = 0; k < md_view_n_endpoints(v); k++)
            putf(&b, "medic_failover_active_endpoint{service=\"%s\",endpoint=\"%s\",index=\"%zu\"} %d\n",
                 label(v->name, sv, sizeof sv), label(v->failover->endpoints[k].target, ep, sizeof ep), k,
                 (int)k == v->failover->active_endpoint);
    }
    family(&b, "medic_failover_breaker_state", "gauge", "An endpoint's circuit breaker: 1 for its state.");
    static const char *const states[] = {"closed", "open", "half-open"};
    for (size_t i = 0; i < s->n_services; i++) {
        const md_view_service *v = &s->services[i];
        for (size_t k = 0; k < md_view_n_endpoints(v); k++)
            for (int st = 0; st < 3; st++)
                putf(&b, "medic_failover_breaker_state{service=\"%s\",endpoint=\"%s\",state=\"%s\"} %d\n",
                     label(v->name, sv, sizeof sv), label(v->failover->endpoints[k].target, ep, sizeof ep), states[st],
                     strcmp(v->failover->endpoints[k].breaker, states[st]) == 0);
    }
    family(&b, "medic_failover_breaker_opens_total", "counter", "Times an endpoint's breaker opened.");
    for (size_t i = 0; i < s->n_services; i++) {
        const md_view_service *v = &s->services[i];
        for (size_t k = 0; k < md_view_n_endpoints(v); k++)
            putf(&b, "medic_failover_breaker_opens_total{service=\"%s\",endpoint=\"%s\"} %" PRIu64 "\n",
                 label(v->name, sv, sizeof sv), label(v->failover->endpoints[k].target, ep, sizeof ep), v->failover->endpoints[k].opens);
    }
    family(&b, "medic_failover_switches_total", "counter", "Times the active endpoint changed.");
    for (size_t i = 0; i < s->n_services; i++)
        if (s->services[i].failover)
            putf(&b, "medic_failover_switches_total{service=\"%s\"} %" PRIu64 "\n",
                 label(s->services[i].name, sv, sizeof sv), s->services[i].failover->failovers);
    family(&b, "medic_proxy_connections_total", "counter", "Proxied connections, by outcome.");
    for (size_t i = 0; i < s->n_services; i++) {
        const md_view_proxy *p = proxy_of(&s->services[i]);
        if (!p)
            continue;
        label(s->services[i].name, sv, sizeof sv);
        putf(&b, "medic_proxy_connections_total{service=\"%s\",outcome=\"accepted\"} %" PRIu64 "\n", sv,
             p->connections_total);
        putf(&b, "medic_proxy_connections_total{service=\"%s\",outcome=\"rejected\"} %" PRIu64 "\n", sv, p->rejected);
        putf(&b, "medic_proxy_connections_total{service=\"%s\",outcome=\"failed\"} %" PRIu64 "\n", sv, p->failed);
    }
    family(&b, "medic_proxy_connections_active", "gauge", "Proxied connections open now.");
    for (size_t i = 0; i < s->n_services; i++)
        if (proxy_of(&s->services[i]))
            putf(&b, "medic_proxy_connections_active{service=\"%s\"} %" PRIu64 "\n",
                 label(s->services[i].name, sv, sizeof sv), proxy_of(&s->services[i])->connections_active);
    family(&b, "medic_proxy_retries_total", "counter", "Connection attempts moved to the next endpoint.");
    for (size_t i = 0; i < s->n_services; i++)
        if (proxy_of(&s->services[i]))
            putf(&b, "medic_proxy_retries_total{service=\"%s\"} %" PRIu64 "\n",
                 label(s->services[i].name, sv, sizeof sv), proxy_of(&s->services[i])->retries);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
