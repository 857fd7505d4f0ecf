/* config_failover.c: a service's failover fields: endpoints (primary first, then backups), the
 * breaker, failback_after_ms and the proxy; docs/failover.md says what each one does. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr */
#endif
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "config_int.h"

/* split_url_hostport fills host and port from a URL's authority (userinfo dropped); port 0 when
 * the URL gives none. Returns 0, -EINVAL or -ENOMEM. */
static int split_url_hostport(const char *url, char **host, int *port)
{
    size_t alen = 0;
    const char *a = md__cfg_authority(url, &alen);
    if (!a)
        return -EINVAL;
    const char *at = memrchr(a, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    char hp[300];
    if (alen == 0 || alen >= sizeof hp)
        return -EINVAL;
    memcpy(hp, a, alen);
    hp[alen] = '\0';
    const char *close = strchr(hp, ']');
    const char *colon = strrchr(hp, ':');
    bool has_port = hp[0] == '[' ? (close && close[1] == ':') : colon != NULL;
    if (has_port)
        return md__cfg_split_hostport(hp, 1, host, port);
    *port = 0;
    if (hp[0] == '[') {
        if (!close || close[1] != '\0')
            return -EINVAL;
        *host = strndup(hp + 1, (size_t)(close - hp - 1));
    } else {
        *host = strdup(hp);
    }
    return *host ? 0 : -ENOMEM;
}

static int parse_endpoint(md__cfg_parser *p, const char *fp, const cJSON *it, const md_service_config *sc,
                          md_endpoint_config *ep)
{
    int rc;
    if ((rc = md__cfg_get_string(p, fp, it, &ep->target)))
        return rc;
    if (sc->kind == MD_CHECK_HTTP) {
        if ((rc = md__cfg_check_url(p, fp, ep->target)))
            return rc;
        rc = split_url_hostport(ep->target, &ep->host, &ep->port);
    } else {
        if (strstr(ep->target, "://"))
            return md__cfg_fail(p, fp, "must be host:port like the service's tcp (not a URL)");
        rc = md__cfg_split_hostport(ep->target, 1, &ep->host, &ep->port);
    }
    if (rc == -ENOMEM)
        return md__cfg_oom(p);
    if (rc)
        return md__cfg_fail(p, fp, "must be host:port with port 1-65535 (IPv6 as [::1]:5432)");
    return 0;
}

static bool same_primary(const md_service_config *sc, const md_endpoint_config *ep)
{
    if (sc->kind == MD_CHECK_HTTP)
        return strcmp(sc->url, ep->target) == 0;
    return strcmp(sc->tcp_host, ep->host) == 0 && sc->tcp_port == ep->port;
}

static int parse_endpoints(md__cfg_parser *p, const char *path, const cJSON *list, const md_service_config *sc,
                           md_service_failover *fo)
{
    char fp[PATH_LEN];
    md__cfg_join(fp, sizeof fp, path, "endpoints");
    int n = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : -1;
    if (n < 1 || n > MD_MAX_ENDPOINTS)
        return md__cfg_fail(p, fp, "must be a list of 1-%d endpoints, the primary first", MD_MAX_ENDPOINTS);
    if (!(fo->endpoints = calloc((size_t)n, sizeof *fo->endpoints)))
        return md__cfg_oom(p);
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        char ep_path[PATH_LEN + 32];
        snprintf(ep_path, sizeof ep_path, "%s[%zu]", fp, fo->n_endpoints);
        md_endpoint_config *ep = &fo->endpoints[fo->n_endpoints++];
        int rc = parse_endpoint(p, ep_path, it, sc, ep);
        if (rc)
            return rc;
        if (fo->n_endpoints == 1 && !same_primary(sc, ep))
            return md__cfg_fail(p, ep_path, "must equal the service's %s (the primary is listed first)",
                                sc->kind == MD_CHECK_HTTP ? "url" : "tcp");
        for (size_t j = 0; j + 1 < fo->n_endpoints; j++)
            if (strcmp(fo->endpoints[j].target, ep->target) == 0)
                return md__cfg_fail(p, ep_path, "listed twice");
    }
    return 0;
}

static int get_i64(md__cfg_parser *p, const char *path, const cJSON *obj, const char *key, int64_t min,
                   int64_t max, int64_t *out)
{
    const cJSON *it = md__cfg_get(obj, key);
    char fp[PATH_LEN];
    int64_t v;
    if (!it)
        return 0;
    int rc = md__cfg_get_int(p, md__cfg_join(fp, sizeof fp, path, key), it, min, max, &v);
    if (rc == 0)
        *out = v;
    return rc;
}

static int parse_breaker(md__cfg_parser *p, const char *path, const cJSON *b, md_service_failover *fo)
{
    static const char *const keys[] = {"failures", "successes", "open_ms", "open_max_ms"};
    char fp[PATH_LEN];
    int64_t f = fo->breaker_failures, s = fo->breaker_successes;
    int rc;
    md__cfg_join(fp, sizeof fp, path, "breaker");
    if ((rc = md__cfg_want_object(p, fp, b)) || (rc = md__cfg_check_keys(p, fp, b, keys, 4)) ||
        (rc = get_i64(p, fp, b, "failures", 1, 1000, &f)) || (rc = get_i64(p, fp, b, "successes", 1, 1000, &s)) ||
        (rc = get_i64(p, fp, b, "open_ms", 1, MAX_MS, &fo->breaker_open_ms)) ||
        (rc = get_i64(p, fp, b, "open_max_ms", 1, MAX_MS, &fo->breaker_open_max_ms)))
        return rc;
    fo->breaker_failures = (int)f;
    fo->breaker_successes = (int)s;
    if (fo->breaker_open_max_ms < fo->breaker_open_ms) {
        char kp[PATH_LEN];
        return md__cfg_fail(p, md__cfg_join(kp, sizeof kp, fp, "open_max_ms"), "must be at least open_ms (%lld)",
                            (long long)fo->breaker_open_ms);
    }
    return 0;
}

static int parse_proxy(md__cfg_parser *p, const char *path, const cJSON *o, md_service_failover *fo)
{
    static const char *const keys[] = {"listen", "max_connections", "connect_timeout_ms", "idle_timeout_ms",
                                         "resolve_ms"};
    char fp[PATH_LEN], kp[PATH_LEN];
    int64_t maxc = fo->proxy_max_connections;
    int rc;
    md__cfg_join(fp, sizeof fp, path, "proxy");
    if ((rc = md__cfg_want_object(p, fp, o)) || (rc = md__cfg_check_keys(p, fp, o, keys, 5)) ||
        (rc = get_i64(p, fp, o, "max_connections", 1, 1000000, &maxc)) ||
        (rc = get_i64(p, fp, o, "connect_timeout_ms", 1, MAX_MS, &fo->proxy_connect_timeout_ms)) ||
        (rc = get_i64(p, fp, o, "idle_timeout_ms", 1, MAX_MS, &fo->proxy_idle_timeout_ms)) ||
        (rc = get_i64(p, fp, o, "resolve_ms", 10, MAX_MS, &fo->proxy_resolve_ms)))
        return rc;
    fo->proxy_max_connections = (int)maxc;
    const cJSON *l = md__cfg_get(o, "listen");
    md__cfg_join(kp, sizeof kp, fp, "listen");
    if (!l)
        return md__cfg_fail(p, kp, "required (host:port the proxy listens on)");
    if ((rc = md__cfg_get_string(p, kp, l, &fo->proxy_listen)))
        return rc;
    rc = md__cfg_split_hostport(fo->proxy_listen, 1, &fo->proxy_host, &fo->proxy_port);
    if (rc == -ENOMEM)
        return md__cfg_oom(p);
    if (rc)
        return md__cfg_fail(p, kp, "must be host:port with port 1-65535 (IPv6 as [::1]:9000)");
    for (size_t i = 0; i < fo->n_endpoints; i++) {
        if (fo->endpoints[i].port == 0) {
            char ep[PATH_LEN + 32];
            snprintf(ep, sizeof ep, "%s.endpoints[%zu]", path, i);
            return md__cfg_fail(p, ep, "needs an explicit port: the proxy forwards to host:port");
        }
    }
    return 0;
}

void md__cfg_failover_defaults(md_service_failover *fo)
{
    memset(fo, 0, sizeof *fo);
    fo->breaker_failures = MD_DEFAULT_BREAKER_FAILURES;
    fo->breaker_successes = MD_DEFAULT_BREAKER_SUCCESSES;
    fo->breaker_open_ms = MD_DEFAULT_BREAKER_OPEN_MS;
    fo->breaker_open_max_ms = MD_DEFAULT_BREAKER_OPEN_MAX_MS;
    fo->failback_after_ms = MD_DEFAULT_FAILBACK_AFTER_MS;
    fo->proxy_max_connections = MD_DEFAULT_PROXY_MAX_CONNECTIONS;
    fo->proxy_connect_timeout_ms = MD_DEFAULT_PROXY_CONNECT_TIMEOUT_MS;
    fo->proxy_idle_timeout_ms = MD_DEFAULT_PROXY_IDLE_TIMEOUT_MS;
    fo->proxy_resolve_ms = MD_DEFAULT_PROXY_RESOLVE_MS;
}

bool md__cfg_same_failover(const md_service_failover *a, const md_service_failover *b)
{
    return !a->endpoints && a->n_endpoints == 0 && !a->proxy_listen && !a->proxy_host &&
           a->proxy_port == 0 && !b->endpoints && b->n_endpoints == 0 && !b->proxy_listen &&
           a->breaker_failures == b->breaker_failures && a->breaker_successes == b->breaker_successes &&
           a->breaker_open_ms == b->breaker_open_ms && a->breaker_open_max_ms == b->breaker_open_max_ms &&
           a->failback_after_ms == b->failback_after_ms && a->proxy_max_connections == b->proxy_max_connections &&
           a->proxy_connect_timeout_ms == b->proxy_connect_timeout_ms &&
           a->proxy_idle_timeout_ms == b->proxy_idle_timeout_ms && a->proxy_resolve_ms == b->proxy_resolve_ms;
}

const cJSON *md__cfg_primary_endpoint(const cJSON *obj)
{
    const cJSON *list = md__cfg_get(obj, "endpoints");
    const cJSON *first = cJSON_IsArray(list) ? cJSON_GetArrayItem(list, 0) : NULL;
    return cJSON_IsString(first) ? first : NULL;
}

int md__cfg_parse_service_failover(md__cfg_parser *p, const char *path, const cJSON *obj,
                                   const md_service_config *sc, md_service_failover *fo)
{
    const cJSON *list = md__cfg_get(obj, "endpoints");
    const cJSON *b = md__cfg_get(obj, "breaker"), *px = md__cfg_get(obj, "proxy");
    char fp[PATH_LEN];
    int rc;
    if (!list) {
        if (b || px)
            return md__cfg_fail(p, md__cfg_join(fp, sizeof fp, path, b ? "breaker" : "proxy"),
                                "needs endpoints (the primary, then backups)");
        return 0;
    }
    if ((rc = parse_endpoints(p, path, list, sc, fo)))
        return rc;
    if (b && (rc = parse_breaker(p, path, b, fo)))
        return rc;
    if (px && (rc = parse_proxy(p, path, px, fo)))
        return rc;
    return 0;
}

void md__cfg_free_service_failover(md_service_failover *s)
{
    for (size_t i = 0; i < s->n_endpoints; i++) {
        free(s->endpoints[i].target);
        free(s->endpoints[i].host);
    }
    free(s->endpoints);
    free(s->proxy_listen);
    free(s->proxy_host);
}
