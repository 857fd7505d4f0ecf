/* config_render.c: secret masking and the effective config as JSON (`medic check-config`). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "config_int.h"

/* ---- masking and rendering ---- */

static size_t secret_at(const md_config *cfg, const char *s)
{
    for (size_t i = 0; cfg && i < cfg->n_secrets; i++) {
        size_t n = strlen(cfg->secrets[i]);
        if (strncmp(s, cfg->secrets[i], n) == 0)
            return n;
    }
    return 0;
}

void md_config_mask(const md_config *cfg, const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    assert(s && (out || outlen == 0));
    if (outlen == 0)
        return;
    while (*s) {
        size_t m = secret_at(cfg, s);
        const char *piece = m ? "***" : s;
        size_t plen = m ? 3 : 1;
        /* Stop rather than cut a piece: a cut never shows secret bytes, but stars are clearer. */
        if (n + plen >= outlen)
            break;
        memcpy(out + n, piece, plen);
        n += plen;
        s += m ? m : 1;
    }
    out[n] = '\0';
}

bool md_config_header_is_sensitive(const char *name)
{
    static const char *const words[] = {"auth", "cookie", "token", "secret", "key", "passw"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(name, words[i]))
            return true;
    return false;
}

typedef struct {
    const md_config *cfg;
    bool mask;
    bool ok; /* false once any allocation failed */
} emitter;

static void put_str(emitter *e, cJSON *obj, const char *key, const char *v)
{
    char *m = NULL;
    if (e->mask) {
        size_t n = 3 * strlen(v) + 1; /* every byte could be a one-byte secret */
        if (!(m = malloc(n))) {
            e->ok = false;
            return;
        }
        md_config_mask(e->cfg, v, m, n);
        v = m;
    }
    if (!cJSON_AddStringToObject(obj, key, v))
        e->ok = false;
    free(m);
}

/* put_url shows a password in the URL's userinfo (https://user:pass@host) as *** when masking. */
static void put_url(emitter *e, cJSON *obj, const char *key, const char *url)
{
    size_t alen = 0;
    const char *a = e->mask ? md__cfg_authority(url, &alen) : NULL;
    const char *at = a ? memrchr(a, '@', alen) : NULL;
    const char *colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
    if (!colon) {
        put_str(e, obj, key, url);
        return;
    }
    md__cfg_sbuf b = {0};
    if (md__cfg_sb_put(&b, url, (size_t)(colon + 1 - url)) || md__cfg_sb_put(&b, "***", 3) || md__cfg_sb_put(&b, at, strlen(at)))
        e->ok = false;
    else
        put_str(e, obj, key, b.s);
    free(b.s);
}

static void put_num(emitter *e, cJSON *obj, const char *key, double v)
{
    if (!cJSON_AddNumberToObject(obj, key, v))
        e->ok = false;
}

static void put_bool(emitter *e, cJSON *obj, const char *key, bool v)
{
    if (!cJSON_AddBoolToObject(obj, key, v))
        e->ok = false;
}

static void http_json(emitter *e, cJSON *o, const md_service_config *s)
{
    put_url(e, o, "url", s->url);
    put_str(e, o, "method", s->method);
    if (s->expect_status)
        put_num(e, o, "expect_status", s->expect_status);
    if (s->expect_body)
        put_str(e, o, "expect_body", s->expect_body);
    if (s->n_headers) {
        cJSON *h = cJSON_AddObjectToObject(o, "headers");
        for (size_t i = 0; i < s->n_headers; i++) {
            bool hide = e->mask && md_config_header_is_sensitive(s->headers[i].name);
            put_str(e, h, s->headers[i].name, hide ? "***" : s->headers[i].value);
        }
    }
}

static void failover_json(emitter *e, cJSON *o, const md_service_config *s)
{
    cJSON *a = cJSON_AddArrayToObject(o, "endpoints");
    for (size_t i = 0; a && i < s->failover->n_endpoints; i++) {
        cJSON *tmp = cJSON_CreateObject();
        put_url(e, tmp, "v", s->failover->endpoints[i].target); /* masked like the url */
        cJSON *v = cJSON_DetachItemFromObject(tmp, "v");
        cJSON_Delete(tmp);
        if (!v || !cJSON_AddItemToArray(a, v)) {
            cJSON_Delete(v);
            e->ok = false;
        }
    }
    cJSON *b = cJSON_AddObjectToObject(o, "breaker");
    if (b) {
        put_num(e, b, "failures", s->failover->breaker_failures);
        put_num(e, b, "successes", s->failover->breaker_successes);
        put_num(e, b, "open_ms", (double)s->failover->breaker_open_ms);
        put_num(e, b, "open_max_ms", (double)s->failover->breaker_open_max_ms);
    }
    if (!s->failover->proxy_listen)
        return;
    cJSON *px = cJSON_AddObjectToObject(o, "proxy");
    if (px) {
        put_str(e, px, "listen", s->failover->proxy_listen);
        put_num(e, px, "max_connections", s->failover->proxy_max_connections);
        put_num(e, px, "connect_timeout_ms", (double)s->failover->proxy_connect_timeout_ms);
        put_num(e, px, "idle_timeout_ms", (double)s->failover->proxy_idle_timeout_ms);
        put_num(e, px, "resolve_ms", (double)s->failover->proxy_resolve_ms);
    }
}

static cJSON *service_json(emitter *e, const md_service_config *s)
{
    cJSON *o = cJSON_CreateObject();
    put_str(e, o, "name", s->name);
    if (s->kind == MD_CHECK_HTTP) {
        http_json(e, o, s);
    } else {
        char hp[300];
        snprintf(hp, sizeof hp, strchr(s->tcp_host, ':') ? "[%s]:%d" : "%s:%d", s->tcp_host, s->tcp_port);
        put_str(e, o, "tcp", hp);
    }
    put_bool(e, o, "tls_verify", s->tls_verify);
    if (s->ca_file)
        put_str(e, o, "ca_file", s->ca_file);
    put_bool(e, o, "keepalive", s->keepalive);
    put_num(e, o, "interval_ms", (double)s->interval_ms);
    put_num(e, o, "retry_interval_ms", (double)s->retry_interval_ms);
    put_num(e, o, "timeout_ms", (double)s->timeout_ms);
    put_num(e, o, "slow_ms", (double)s->slow_ms);
    put_num(e, o, "failures_before_down", s->failures_before_down);
    put_num(e, o, "successes_before_up", s->successes_before_up);
    put_num(e, o, "cert_warn_days", s->cert_warn_days);
    put_num(e, o, "trend_window", s->trend_window);
    put_num(e, o, "trend_horizon_ms", (double)s->trend_horizon_ms);
    put_num(e, o, "ewma_alpha", s->ewma_alpha);
    put_bool(e, o, "prewarm", s->prewarm);
    if (s->prewarm_url)
        put_url(e, o, "prewarm_url", s->prewarm_url);
    put_num(e, o, "prewarm_interval_ms", (double)s->prewarm_interval_ms);
    put_num(e, o, "quorum", s->quorum);
    put_num(e, o, "restart_attempts", s->remedy->restart_attempts);
    put_num(e, o, "restart_interval_ms", (double)s->remedy->restart_interval_ms);
    put_num(e, o, "redeploy_attempts", s->remedy->redeploy_attempts);
    put_num(e, o, "restart_timeout_ms", (double)s->remedy->restart_timeout_ms);
    put_num(e, o, "redeploy_timeout_ms", (double)s->remedy->redeploy_timeout_ms);
    put_num(e, o, "rollback_timeout_ms", (double)s->remedy->rollback_timeout_ms);
    put_num(e, o, "verify_after_ms", (double)s->remedy->verify_after_ms);
    put_num(e, o, "reopen_window_ms", (double)s->remedy->reopen_window_ms);
    put_num(e, o, "max_actions_per_hour", s->remedy->max_actions_per_hour);
    put_num(e, o, "known_good_after_ms", (double)s->remedy->known_good_after_ms);
    put_bool(e, o, "shadow", s->shadow);
    put_num(e, o, "failback_after_ms", (double)s->failover->failback_after_ms);
    if (s->failover->n_endpoints)
        failover_json(e, o, s);
    static const char *const kinds[] = { "none", "railway", "exec" };
    put_str(e, o, "actuator", kinds[s->remedy->actuator]);
    if (s->remedy->actuator == MD_ACTUATOR_RAILWAY) {
        cJSON *r = cJSON_AddObjectToObject(o, "railway");
        put_str(e, r, "service_id", s->remedy->railway_service_id);
        put_str(e, r, "environment_id", s->remedy->railway_environment_id);
        if (s->remedy->railway_token) {
            put_str(e, r, "token", s->remedy->railway_token); /* a registered secret: masked */
            put_str(e, r, "token_kind", s->remedy->railway_project_token ? "project" : "bearer");
        }
    } else if (s->remedy->actuator == MD_ACTUATOR_EXEC) {
        cJSON *x = cJSON_AddObjectToObject(o, "exec");
        char **lists[3] = { s->remedy->exec_restart, s->remedy->exec_redeploy, s->remedy->exec_rollback };
        static const char *const names[3] = { "restart", "redeploy", "rollback" };
        for (int k = 0; x && k < 3; k++) {
            if (!lists[k])
                continue;
            cJSON *a = cJSON_AddArrayToObject(x, names[k]);
            for (size_t j = 0; a && lists[k][j]; j++) {
                cJSON *tmp = cJSON_CreateObject();
                put_str(e, tmp, "v", lists[k][j]); /* masked like any other string */
                cJSON *v = cJSON_DetachItemFromObject(tmp, "v");
                cJSON_Delete(tmp);
                if (!v || !cJSON_AddItemToArray(a, v)) {
                    cJSON_Delete(v);
                    e->ok = false;
                }
            }
        }
        put_num(e, x, "timeout_ms", (double)s->remedy->exec_timeout_ms);
    }
    return o;
}

static void remedy_json(emitter *e, cJSON *root, const md_remedy_config *r)
{
    static const char *const formats[] = { "generic", "slack", "discord" };
    cJSON *o = cJSON_AddObjectToObject(root, "remediation");
    if (!o) {
        e->ok = false;
        return;
    }
    put_str(e, o, "mode", r->shadow ? "shadow" : "act");
    if (r->admin_token)
        put_str(e, o, "admin_token", r->admin_token);
    put_num(e, o, "split_alert_after_ms", (double)r->split_alert_after_ms);
    cJSON *hooks = cJSON_AddArrayToObject(o, "webhooks");
    for (size_t i = 0; hooks && i < r->n_webhooks; i++) {
        cJSON *w = cJSON_CreateObject();
        if (!w || !cJSON_AddItemToArray(hooks, w)) {
            cJSON_Delete(w);
            e->ok = false;
            continue;
        }
        put_str(e, w, "url", r->webhooks[i].url);
        put_str(e, w, "format", formats[r->webhooks[i].format]);
        if (r->webhooks[i].n_headers) {
            cJSON *h = cJSON_AddObjectToObject(w, "headers");
            for (size_t j = 0; h && j < r->webhooks[i].n_headers; j++)
                put_str(e, h, r->webhooks[i].headers[j].name, r->webhooks[i].headers[j].value);
        }
    }
    /* Without a token of its own the section may still name the endpoint services' tokens use. */
    if (r->railway_token || strcmp(r->railway_endpoint, MD_DEFAULT_RAILWAY_ENDPOINT) != 0) {
        cJSON *rw = cJSON_AddObjectToObject(o, "railway");
        put_url(e, rw, "endpoint", r->railway_endpoint);
        put_num(e, rw, "budget_per_hour", (double)r->railway_budget_per_hour);
        if (r->railway_token) {
            put_str(e, rw, "token", r->railway_token);
            put_str(e, rw, "token_kind", r->railway_project_token ? "project" : "bearer");
        }
    }
}

static void cluster_json(emitter *e, cJSON *root, const md_cluster_config *c)
{
    if (!c->enabled)
        return;
    cJSON *o = cJSON_AddObjectToObject(root, "cluster");
    if (!o) {
        e->ok = false;
        return;
    }
    put_str(e, o, "name", c->name);
    if (c->secret)
        put_str(e, o, "secret", c->secret); /* always a registered secret: masked */
    put_str(e, o, "listen", c->listen);
    cJSON *peers = cJSON_AddArrayToObject(o, "peers");
    for (size_t i = 0; peers && i < c->n_peers; i++) {
        cJSON *p = cJSON_CreateObject();
        if (!p || !cJSON_AddItemToArray(peers, p)) {
            cJSON_Delete(p);
            e->ok = false;
            continue;
        }
        put_str(e, p, "id", c->peers[i].id);
        put_str(e, p, "address", c->peers[i].address);
        put_str(e, p, "region", c->peers[i].region);
    }
    put_num(e, o, "quorum", c->quorum);
    put_bool(e, o, "allow_two_nodes", c->allow_two_nodes);
    put_num(e, o, "gossip_interval_ms", (double)c->gossip_interval_ms);
    put_num(e, o, "peer_suspect_ms", (double)c->peer_suspect_ms);
    put_num(e, o, "peer_dead_ms", (double)c->peer_dead_ms);
    put_num(e, o, "links_per_peer", (double)c->links_per_peer);
    put_num(e, o, "max_message_bytes", (double)c->max_message_bytes);
    put_str(e, o, "timing", c->timing);
    put_num(e, o, "heartbeat_ms", (double)c->heartbeat_ms);
    put_num(e, o, "election_timeout_ms", (double)c->election_timeout_ms);
    put_num(e, o, "lease_drift_ms", (double)c->lease_drift_ms);
    if (c->tls_cert_file) {
        cJSON *t = cJSON_AddObjectToObject(o, "tls");
        put_str(e, t, "cert_file", c->tls_cert_file);
        put_str(e, t, "key_file", c->tls_key_file);
        put_str(e, t, "ca_file", c->tls_ca_file);
    }
}

char *md_config_to_json(const md_config *cfg, bool mask_secrets)
{
    assert(cfg);
    emitter e = {cfg, mask_secrets, true};
    cJSON *root = cJSON_CreateObject(), *o;
    if (!root)
        return NULL;
    o = cJSON_AddObjectToObject(root, "node");
    put_str(&e, o, "id", cfg->node_id);
    put_str(&e, o, "region", cfg->node_region);
    put_str(&e, o, "data_dir", cfg->data_dir);
    o = cJSON_AddObjectToObject(root, "api");
    put_str(&e, o, "listen", cfg->api_listen);
    o = cJSON_AddObjectToObject(root, "log");
    put_str(&e, o, "level", md__cfg_log_levels[cfg->log_level & 3]);
    put_str(&e, o, "format", md__cfg_log_formats[cfg->log_format == MD_LOGFMT_JSON]);
    put_num(&e, root, "status_print_interval_ms", (double)cfg->status_print_interval_ms);
    put_num(&e, root, "max_concurrent_checks", (double)cfg->max_concurrent_checks);
    cluster_json(&e, root, &cfg->cluster);
    remedy_json(&e, root, &cfg->remedy);
    o = cJSON_AddArrayToObject(root, "services");
    for (size_t i = 0; i < cfg->n_services; i++) {
        cJSON *s = service_json(&e, &cfg->services[i]);
        if (!s || !cJSON_AddItemToArray(o, s)) {
            cJSON_Delete(s);
            e.ok = false;
        }
    }
    /* cJSON_Print allocates with malloc (default hooks), so the caller frees with free(). */
    char *out = e.ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return out;
}

