/* config.c: the node's configuration loader. Reads one JSON document, substitutes ${VAR} from the
 * environment, validates every field (errors name the exact path), applies defaults, and renders
 * the effective config with secrets masked for `medic check-config`. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr, strcasestr: the build defines it, a bare compile may not */
#endif
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "health/health.h"

/* Bounds on size and counts keep every loop here short whatever the input holds (service names
 * are checked for duplicates by sorting; the small lists, such as headers, pairwise). */
#define MAX_FILE_BYTES (16 * 1024 * 1024)
#define MAX_SERVICES 100000
#define MAX_HEADERS 64


#include "config_int.h"

typedef enum { F_SPECIAL, F_STR, F_BOOL, F_I64, F_INT, F_ALPHA } ftype;

/* Where a field lives: the service's record, or its failover or remediation block. */
typedef enum { W_SVC = 0, W_FO, W_RM } fwhere;

typedef struct {
    const char *key;
    ftype type;
    bool in_defaults; /* may also appear in the top-level "defaults" object */
    fwhere where;
    size_t off;       /* where it lives in that struct (unused for F_SPECIAL) */
    int64_t min, max;
} field;

/* A service being built: its record and the blocks it will point at (see keep_blocks). */
typedef struct {
    md_service_config *s;
    md_service_failover *fo;
    md_service_remedy *rm;
} svc_parts;

#define OFF(m) W_SVC, offsetof(md_service_config, m)
#define OFF_FO(m) W_FO, offsetof(md_service_failover, m)
#define OFF_RM(m) W_RM, offsetof(md_service_remedy, m)
/* F_SPECIAL fields depend on other fields or need more than a type check; parse_service reads
 * them after apply_fields has rejected unknown and duplicate keys. */
static const field fields[] = {
    {"name", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"url", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"tcp", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"method", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"expect_status", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"expect_body", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"headers", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"prewarm_url", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"tls_verify", F_BOOL, true, OFF(tls_verify), 0, 0},
    {"ca_file", F_STR, true, OFF(ca_file), 0, 0},
    {"keepalive", F_BOOL, true, OFF(keepalive), 0, 0},
    {"interval_ms", F_I64, true, OFF(interval_ms), 1, MAX_MS},
    {"timeout_ms", F_I64, true, OFF(timeout_ms), 1, MAX_MS},
    {"retry_interval_ms", F_I64, true, OFF(retry_interval_ms), 1, MAX_MS},
    {"slow_ms", F_I64, true, OFF(slow_ms), 1, MAX_MS},
    {"failures_before_down", F_INT, true, OFF(failures_before_down), 1, 1000},
    {"successes_before_up", F_INT, true, OFF(successes_before_up), 1, 1000},
    {"cert_warn_days", F_INT, true, OFF(cert_warn_days), 1, 3650},
    {"trend_window", F_INT, true, OFF(trend_window), 3, MD_TREND_MAX_WINDOW},
    {"trend_horizon_ms", F_I64, true, OFF(trend_horizon_ms), 0, MAX_MS},
    {"ewma_alpha", F_ALPHA, true, OFF(ewma_alpha), 0, 0},
    {"prewarm", F_BOOL, true, OFF(prewarm), 0, 0},
    {"prewarm_interval_ms", F_I64, true, OFF(prewarm_interval_ms), 1, MAX_MS},
    {"quorum", F_INT, true, OFF(quorum), 1, MD_CLUSTER_MAX_NODES},
    {"restart_attempts", F_INT, true, OFF_RM(restart_attempts), 0, 15},
    {"restart_interval_ms", F_I64, true, OFF_RM(restart_interval_ms), 1, MAX_MS},
    {"redeploy_attempts", F_INT, true, OFF_RM(redeploy_attempts), 0, 15},
    {"restart_timeout_ms", F_I64, true, OFF_RM(restart_timeout_ms), 1, MAX_MS},
    {"redeploy_timeout_ms", F_I64, true, OFF_RM(redeploy_timeout_ms), 1, MAX_MS},
    {"rollback_timeout_ms", F_I64, true, OFF_RM(rollback_timeout_ms), 1, MAX_MS},
    {"verify_after_ms", F_I64, true, OFF_RM(verify_after_ms), 0, MAX_MS},
    {"reopen_window_ms", F_I64, true, OFF_RM(reopen_window_ms), 0, MAX_MS},
    {"max_actions_per_hour", F_INT, true, OFF_RM(max_actions_per_hour), 1, 100},
    {"known_good_after_ms", F_I64, true, OFF_RM(known_good_after_ms), 1, MAX_MS},
    {"shadow", F_BOOL, true, OFF(shadow), 0, 0},
    {"actuator", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"railway", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"exec", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"endpoints", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"breaker", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"proxy", F_SPECIAL, false, W_SVC, 0, 0, 0},
    {"failback_after_ms", F_I64, true, OFF_FO(failback_after_ms), 0, MAX_MS},
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static void builtin_defaults(md_service_config *s, md_service_failover *fo, md_service_remedy *rm)
{
    memset(s, 0, sizeof *s);
    memset(rm, 0, sizeof *rm);
    s->tls_verify = true;
    s->keepalive = true;
    s->interval_ms = MD_DEFAULT_INTERVAL_MS;
    s->timeout_ms = MD_DEFAULT_TIMEOUT_MS;
    s->retry_interval_ms = MD_DEFAULT_RETRY_INTERVAL_MS;
    s->slow_ms = MD_DEFAULT_SLOW_MS;
    s->failures_before_down = MD_DEFAULT_FAILURES_BEFORE_DOWN;
    s->successes_before_up = MD_DEFAULT_SUCCESSES_BEFORE_UP;
    s->cert_warn_days = MD_DEFAULT_CERT_WARN_DAYS;
    s->trend_window = MD_DEFAULT_TREND_WINDOW;
    s->trend_horizon_ms = MD_DEFAULT_TREND_HORIZON_MS;
    s->ewma_alpha = MD_DEFAULT_EWMA_ALPHA;
    s->prewarm = false;
    s->prewarm_interval_ms = MD_DEFAULT_PREWARM_INTERVAL_MS;
    rm->restart_attempts = MD_DEFAULT_RESTART_ATTEMPTS;
    rm->restart_interval_ms = MD_DEFAULT_RESTART_INTERVAL_MS;
    rm->redeploy_attempts = MD_DEFAULT_REDEPLOY_ATTEMPTS;
    rm->restart_timeout_ms = MD_DEFAULT_RESTART_TIMEOUT_MS;
    rm->redeploy_timeout_ms = MD_DEFAULT_REDEPLOY_TIMEOUT_MS;
    rm->rollback_timeout_ms = MD_DEFAULT_ROLLBACK_TIMEOUT_MS;
    rm->verify_after_ms = MD_DEFAULT_VERIFY_AFTER_MS;
    rm->reopen_window_ms = MD_DEFAULT_REOPEN_WINDOW_MS;
    rm->max_actions_per_hour = MD_DEFAULT_MAX_ACTIONS_PER_HOUR;
    rm->known_good_after_ms = MD_DEFAULT_KNOWN_GOOD_AFTER_MS;
    rm->exec_timeout_ms = MD_DEFAULT_EXEC_TIMEOUT_MS;
    md__cfg_failover_defaults(fo);
}

static int set_field(md__cfg_parser *p, const char *path, const field *f, const cJSON *it, const svc_parts *t)
{
    void *base = f->where == W_FO ? (void *)t->fo : f->where == W_RM ? (void *)t->rm : (void *)t->s;
    char *at = (char *)base + f->off;
    int64_t v;
    int rc = 0;
    switch (f->type) {
    case F_SPECIAL:
        return 0;
    case F_STR: {
        char *s;
        if ((rc = md__cfg_get_string(p, path, it, &s)))
            return rc;
        free(*(char **)at);
        *(char **)at = s;
        return 0;
    }
    case F_BOOL:
        return md__cfg_get_bool(p, path, it, (bool *)at);
    case F_I64:
        if ((rc = md__cfg_get_int(p, path, it, f->min, f->max, &v)) == 0)
            *(int64_t *)at = v;
        return rc;
    case F_INT:
        if ((rc = md__cfg_get_int(p, path, it, f->min, f->max, &v)) == 0)
            *(int *)at = (int)v;
        return rc;
    case F_ALPHA:
        if (!cJSON_IsNumber(it) || !(it->valuedouble > 0.0 && it->valuedouble <= 1.0))
            return md__cfg_fail(p, path, "must be a number above 0 and at most 1");
        *(double *)at = it->valuedouble;
        return 0;
    }
    return 0;
}

/* apply_fields sets every plain field present in obj (a service, or "defaults") on sc, after
 * rejecting unknown keys, keys given twice, and service-only keys in defaults. */
static int apply_fields(md__cfg_parser *p, const char *path, const cJSON *obj, const svc_parts *t,
                        bool in_defaults)
{
    bool seen[N_FIELDS] = {0};
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        char fp[PATH_LEN];
        size_t i = 0;
        md__cfg_join(fp, sizeof fp, path, it->string);
        while (i < N_FIELDS && (!it->string || strcmp(fields[i].key, it->string) != 0))
            i++;
        if (i == N_FIELDS)
            return md__cfg_fail(p, fp, "unknown key");
        if (seen[i])
            return md__cfg_fail(p, fp, "duplicate key");
        seen[i] = true;
        if (in_defaults && !fields[i].in_defaults)
            return md__cfg_fail(p, fp, "not allowed in defaults (set it on each service)");
        int rc = set_field(p, fp, &fields[i], it, t);
        if (rc)
            return rc;
    }
    return 0;
}

static bool token_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!md__cfg_is_alnum(*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    return true;
}

static int parse_headers(md__cfg_parser *p, const char *path, const cJSON *obj, md_service_config *sc)
{
    if (!cJSON_IsObject(obj))
        return md__cfg_fail(p, path, "must be an object of header names to string values");
    int n = cJSON_GetArraySize(obj);
    if (n > MAX_HEADERS)
        return md__cfg_fail(p, path, "at most %d headers", MAX_HEADERS);
    if (n == 0)
        return 0;
    if (!(sc->headers = calloc((size_t)n, sizeof *sc->headers)))
        return md__cfg_oom(p);
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        const char *name = it->string ? it->string : "";
        char fp[PATH_LEN];
        md__cfg_join(fp, sizeof fp, path, name);
        if (!token_ok(name))
            return md__cfg_fail(p, fp, "not a valid header name");
        for (size_t j = 0; j < sc->n_headers; j++)
            if (strcasecmp(sc->headers[j].name, name) == 0)
                return md__cfg_fail(p, fp, "duplicate header (names are case-insensitive)");
        md_header *h = &sc->headers[sc->n_headers];
        if (!(h->name = strdup(name)))
            return md__cfg_oom(p);
        sc->n_headers++;
        int rc = md__cfg_get_string(p, fp, it, &h->value);
        if (rc)
            return rc;
        if (strpbrk(h->value, "\r\n"))
            return md__cfg_fail(p, fp, "must not contain CR or LF");
    }
    return 0;
}

static int parse_target(md__cfg_parser *p, const char *path, const cJSON *obj, md_service_config *sc)
{
    const cJSON *url = md__cfg_get(obj, "url"), *tcp = md__cfg_get(obj, "tcp");
    const char *url_key = "url", *tcp_key = "tcp";
    char fp[PATH_LEN];
    int rc;
    if (url && tcp)
        return md__cfg_fail(p, path, "set url or tcp, not both");
    if (!url && !tcp) {
        /* endpoints alone: the primary (endpoints[0]) is the check's target */
        const cJSON *first = md__cfg_primary_endpoint(obj);
        if (!first)
            return md__cfg_fail(p, path, "needs url (an HTTP check), tcp (a TCP connect check) or endpoints");
        if (strstr(first->valuestring, "://")) {
            url = first;
            url_key = "endpoints[0]";
        } else {
            tcp = first;
            tcp_key = "endpoints[0]";
        }
    }
    if (url) {
        sc->kind = MD_CHECK_HTTP;
        md__cfg_join(fp, sizeof fp, path, url_key);
        if ((rc = md__cfg_get_string(p, fp, url, &sc->url)))
            return rc;
        return md__cfg_check_url(p, fp, sc->url);
    }
    char *s;
    sc->kind = MD_CHECK_TCP;
    md__cfg_join(fp, sizeof fp, path, tcp_key);
    if ((rc = md__cfg_get_string(p, fp, tcp, &s)))
        return rc;
    rc = md__cfg_split_hostport(s, 1, &sc->tcp_host, &sc->tcp_port);
    free(s);
    if (rc == -ENOMEM)
        return md__cfg_oom(p);
    if (rc)
        return md__cfg_fail(p, fp, "must be host:port with port 1-65535 (IPv6 as [::1]:5432)");
    return 0;
}

static int parse_http_only(md__cfg_parser *p, const char *path, const cJSON *obj, md_service_config *sc)
{
    static const char *const keys[] = {"method", "expect_status", "expect_body", "headers"};
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "OPTIONS"};
    char fp[PATH_LEN];
    const cJSON *it;
    int rc, m = 0;
    int64_t v;
    if (sc->kind == MD_CHECK_TCP) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (md__cfg_get(obj, keys[i]))
                return md__cfg_fail(p, md__cfg_join(fp, sizeof fp, path, keys[i]), "only for url checks");
        return 0;
    }
    if ((it = md__cfg_get(obj, "method")) &&
        (rc = md__cfg_pick(p, md__cfg_join(fp, sizeof fp, path, "method"), it, methods, 5,
                   "GET, HEAD, POST, PUT, OPTIONS", &m)))
        return rc;
    sc->method = methods[m];
    if ((it = md__cfg_get(obj, "expect_status"))) {
        if ((rc = md__cfg_get_int(p, md__cfg_join(fp, sizeof fp, path, "expect_status"), it, 100, 599, &v)))
            return rc;
        sc->expect_status = (int)v;
    }
    if ((it = md__cfg_get(obj, "expect_body")) &&
        (rc = md__cfg_get_string(p, md__cfg_join(fp, sizeof fp, path, "expect_body"), it, &sc->expect_body)))
        return rc;
    if ((it = md__cfg_get(obj, "headers")))
        return parse_headers(p, md__cfg_join(fp, sizeof fp, path, "headers"), it, sc);
    return 0;
}

static int parse_prewarm(md__cfg_parser *p, const char *path, const cJSON *obj, md_service_config *sc)
{
    const cJSON *url = md__cfg_get(obj, "prewarm_url");
    char fp[PATH_LEN];
    int rc;
    if (url) {
        md__cfg_join(fp, sizeof fp, path, "prewarm_url");
        if (md__cfg_get(obj, "prewarm") && !sc->prewarm)
            return md__cfg_fail(p, fp, "set while prewarm is false");
        if ((rc = md__cfg_get_string(p, fp, url, &sc->prewarm_url)) || (rc = md__cfg_check_url(p, fp, sc->prewarm_url)))
            return rc;
        sc->prewarm = true;
        return 0;
    }
    if (!sc->prewarm)
        return 0;
    if (sc->kind == MD_CHECK_TCP)
        return md__cfg_fail(p, md__cfg_join(fp, sizeof fp, path, "prewarm"),
                    "a tcp check needs prewarm_url (the URL to keep warm)");
    if (!(sc->prewarm_url = strdup(sc->url)))
        return md__cfg_oom(p);
    return 0;
}

/* parse_fields reads services[i] into t, whose record and blocks start as copies of base's. */
static int parse_fields(md__cfg_parser *p, const char *path, const cJSON *obj, const svc_parts *t)
{
    md_service_config *sc = t->s;
    char fp[PATH_LEN];
    int rc;
    if ((rc = apply_fields(p, path, obj, t, false)))
        return rc;
    const cJSON *name = md__cfg_get(obj, "name");
    md__cfg_join(fp, sizeof fp, path, "name");
    if (!name)
        return md__cfg_fail(p, fp, "required");
    if ((rc = md__cfg_get_string(p, fp, name, &sc->name)))
        return rc;
    if (!md__cfg_name_ok(sc->name))
        return md__cfg_fail(p, fp, NAME_RULE);
    if ((rc = parse_target(p, path, obj, sc)) || (rc = parse_http_only(p, path, obj, sc)) ||
        (rc = parse_prewarm(p, path, obj, sc)) || (rc = md__cfg_parse_service_remedy(p, path, obj, t->rm)) ||
        (rc = md__cfg_parse_service_failover(p, path, obj, sc, t->fo)))
        return rc;
    if (sc->timeout_ms >= sc->interval_ms)
        return md__cfg_fail(p, md__cfg_join(fp, sizeof fp, path, "timeout_ms"), "must be less than interval_ms (%lld)",
                    (long long)sc->interval_ms);
    /* An interval shorter than the inherited retry keeps working without a retry_interval_ms of
     * its own: the retry is then the interval itself. Only the service's own value is an error. */
    if (sc->retry_interval_ms > sc->interval_ms) {
        if (md__cfg_get(obj, "retry_interval_ms"))
            return md__cfg_fail(p, md__cfg_join(fp, sizeof fp, path, "retry_interval_ms"),
                                "must not be more than interval_ms (%lld)", (long long)sc->interval_ms);
        sc->retry_interval_ms = sc->interval_ms;
    }
    return 0;
}

/* keep_blocks points sc at the config's shared failover and remediation blocks where its own
 * equal them, else at a copy of its own (which then owns what fo and rm own). */
static int keep_blocks(md__cfg_parser *p, md_service_config *sc, const md_service_failover *fo,
                       const md_service_remedy *rm)
{
    const md_config *cfg = p->cfg;
    if (md__cfg_same_failover(fo, cfg->failover_shared)) {
        sc->failover = cfg->failover_shared;
    } else {
        md_service_failover *own = malloc(sizeof *own);
        if (!own)
            return md__cfg_oom(p);
        *own = *fo;
        sc->failover = own;
    }
    if (md__cfg_same_remedy(rm, cfg->remedy_shared)) {
        sc->remedy = cfg->remedy_shared;
    } else {
        md_service_remedy *own = malloc(sizeof *own);
        if (!own)
            return md__cfg_oom(p);
        *own = *rm;
        sc->remedy = own;
    }
    return 0;
}

/* parse_service builds services[i] in sc, starting from base (built-in defaults with the
 * "defaults" object applied). sc is zeroed on entry and owned by the config whatever happens. */
static int parse_service(md__cfg_parser *p, size_t i, const cJSON *obj, const svc_parts *base,
                         md_service_config *sc)
{
    char path[PATH_LEN];
    snprintf(path, sizeof path, "services[%zu]", i);
    if (!cJSON_IsObject(obj))
        return md__cfg_fail(p, path, "must be an object");
    *sc = *base->s;
    sc->ca_file = NULL; /* base keeps its own copy */
    if (base->s->ca_file && !(sc->ca_file = strdup(base->s->ca_file)))
        return md__cfg_oom(p);
    /* The blocks are built on the stack; only one that differs from the shared one is kept. */
    md_service_failover fo = *base->fo;
    md_service_remedy rm = *base->rm;
    svc_parts t = {sc, &fo, &rm};
    int rc = parse_fields(p, path, obj, &t);
    if (rc == 0)
        rc = keep_blocks(p, sc, &fo, &rm);
    /* A block not kept still owns what was parsed into it (a block equal to a shared one owns
     * nothing, and a kept copy owns what it holds). */
    if (!sc->failover)
        md__cfg_free_service_failover(&fo);
    if (!sc->remedy)
        md__cfg_free_service_remedy(&rm);
    return rc;
}

static int by_name_then_index(const void *a, const void *b)
{
    const md_service_config *const *x = a, *const *y = b;
    int c = strcmp((*x)->name, (*y)->name);
    return c != 0 ? c : (*x < *y ? -1 : *x > *y);
}

/* check_unique_names sorts pointers to the services by name (then position), so equal names sit
 * together: O(n log n), where comparing each service with all before it took 20 s for 100,000.
 * The duplicate reported is the one that comes first in the file, named with its first use. */
static int check_unique_names(md__cfg_parser *p)
{
    const md_config *cfg = p->cfg;
    const md_service_config **v = malloc(cfg->n_services * sizeof *v);
    if (!v)
        return md__cfg_oom(p);
    for (size_t i = 0; i < cfg->n_services; i++)
        v[i] = &cfg->services[i];
    qsort(v, cfg->n_services, sizeof *v, by_name_then_index);
    size_t dup = SIZE_MAX, first = 0, group = 0; /* v[group]: first use of the current name */
    for (size_t k = 1; k < cfg->n_services; k++) {
        if (strcmp(v[k]->name, v[k - 1]->name) != 0) {
            group = k;
            continue;
        }
        size_t at = (size_t)(v[k] - cfg->services);
        if (at < dup) {
            dup = at;
            first = (size_t)(v[group] - cfg->services);
        }
    }
    free(v);
    if (dup == SIZE_MAX)
        return 0;
    char fp[PATH_LEN];
    snprintf(fp, sizeof fp, "services[%zu].name", dup);
    return md__cfg_fail(p, fp, "\"%s\" is already used by services[%zu]", cfg->services[dup].name, first);
}

static int parse_services(md__cfg_parser *p, const cJSON *defaults, const cJSON *list)
{
    md_config *cfg = p->cfg;
    md_service_config base;
    md_service_failover base_fo;
    md_service_remedy base_rm;
    svc_parts bt = {&base, &base_fo, &base_rm};
    int rc = 0;
    builtin_defaults(&base, &base_fo, &base_rm);
    if (defaults && !cJSON_IsObject(defaults))
        return md__cfg_fail(p, "defaults", "must be an object");
    if (defaults && (rc = apply_fields(p, "defaults", defaults, &bt, true)))
        goto out;
    /* "defaults" sets numbers only in these blocks (nothing they own): the shared ones are copies */
    if (!(cfg->failover_shared = malloc(sizeof *cfg->failover_shared)) ||
        !(cfg->remedy_shared = malloc(sizeof *cfg->remedy_shared))) {
        rc = md__cfg_oom(p);
        goto out;
    }
    *cfg->failover_shared = base_fo;
    *cfg->remedy_shared = base_rm;
    if (!list) {
        rc = md__cfg_fail(p, "services", "required (list at least one service)");
        goto out;
    }
    if (!cJSON_IsArray(list)) {
        rc = md__cfg_fail(p, "services", "must be an array of services");
        goto out;
    }
    int n = cJSON_GetArraySize(list);
    if (n == 0 || n > MAX_SERVICES) {
        rc = n ? md__cfg_fail(p, "services", "at most %d services", MAX_SERVICES)
               : md__cfg_fail(p, "services", "must list at least one service");
        goto out;
    }
    if (!(cfg->services = calloc((size_t)n, sizeof *cfg->services))) {
        rc = md__cfg_oom(p);
        goto out;
    }
    cfg->n_services = (size_t)n; /* zeroed entries are safe to free if we stop early */
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        if ((rc = parse_service(p, i, it, &bt, &cfg->services[i])))
            goto out;
        i++;
    }
    rc = check_unique_names(p);
out:
    free(base.ca_file);
    return rc;
}

/* ---- node, api, log, and the document ---- */


static int parse_node(md__cfg_parser *p, const cJSON *node)
{
    static const char *const keys[] = {"id", "region", "data_dir"};
    md_config *cfg = p->cfg;
    const cJSON *id = md__cfg_get(node, "id"), *region = md__cfg_get(node, "region");
    int rc;
    if ((rc = md__cfg_want_object(p, "node", node)) || (rc = md__cfg_check_keys(p, "node", node, keys, 3)))
        return rc;
    if (id) {
        cfg->node_id_from = "node.id";
        if ((rc = md__cfg_get_string(p, "node.id", id, &cfg->node_id)))
            return rc;
        if (!md__cfg_name_ok(cfg->node_id))
            return md__cfg_fail(p, "node.id", NAME_RULE);
    } else if ((rc = md__cfg_env_node_id(p))) {
        return rc;
    }
    if (region) {
        cfg->node_region_from = "node.region";
        if ((rc = md__cfg_get_string(p, "node.region", region, &cfg->node_region)))
            return rc;
        if (!md__cfg_name_ok(cfg->node_region))
            return md__cfg_fail(p, "node.region", NAME_RULE);
    } else if ((rc = md__cfg_env_node_region(p))) {
        return rc;
    }
    const cJSON *dd = md__cfg_get(node, "data_dir");
    if (dd) {
        cfg->data_dir_from = "node.data_dir";
        if ((rc = md__cfg_get_string(p, "node.data_dir", dd, &cfg->data_dir)))
            return rc;
        if (!cfg->data_dir[0])
            return md__cfg_fail(p, "node.data_dir", "must not be empty");
        return 0;
    }
    return md__cfg_env_data_dir(p);
}

/* ip_literal: an IPv4 or IPv6 address (an IPv6 zone such as %eth0 allowed), which is all the
 * API server binds to. A name like "localhost" used to pass here and fail only at start. */
static bool ip_literal(const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];
    char v6[INET6_ADDRSTRLEN + 1];
    if (inet_pton(AF_INET, host, addr) == 1)
        return true;
    size_t n = strcspn(host, "%");
    if (n >= sizeof v6 || (host[n] == '%' && host[n + 1] == '\0'))
        return false;
    memcpy(v6, host, n);
    v6[n] = '\0';
    return inet_pton(AF_INET6, v6, addr) == 1;
}

static int parse_api(md__cfg_parser *p, const cJSON *api)
{
    static const char *const keys[] = {"listen"};
    md_config *cfg = p->cfg;
    const cJSON *listen = md__cfg_get(api, "listen");
    int rc;
    if ((rc = md__cfg_want_object(p, "api", api)) || (rc = md__cfg_check_keys(p, "api", api, keys, 1)))
        return rc;
    if (listen) {
        cfg->api_listen_from = "api.listen";
        if ((rc = md__cfg_get_string(p, "api.listen", listen, &cfg->api_listen)))
            return rc;
    } else if ((rc = md__cfg_env_api_listen(p, &cfg->api_listen))) {
        return rc;
    } else if (cfg->api_listen) {
        cfg->api_listen_from = "PORT";
    } else {
        cfg->api_listen_from = "default";
        if (!(cfg->api_listen = strdup(MD_DEFAULT_API_LISTEN)))
            return md__cfg_oom(p);
    }
    rc = md__cfg_split_hostport(cfg->api_listen, 0, &cfg->api_host, &cfg->api_port);
    if (rc == -ENOMEM)
        return md__cfg_oom(p);
    if (rc)
        return md__cfg_fail(p, "api.listen", "must be host:port with port 0-65535 (IPv6 as [::1]:8700)");
    if (!ip_literal(cfg->api_host))
        return md__cfg_fail(p, "api.listen",
                            "\"%s\" is not an IP address: the API listens on a literal address only, never a name "
                            "(127.0.0.1:8700 for this machine alone, 0.0.0.0:8700 for every IPv4 address, [::1]:8700, "
                            "[::]:8700 for every address); host names are for cluster addresses",
                            cfg->api_host);
    return 0;
}


static int parse_log(md__cfg_parser *p, const cJSON *lg)
{
    static const char *const keys[] = {"level", "format"};
    const cJSON *level = md__cfg_get(lg, "level"), *format = md__cfg_get(lg, "format");
    int rc, f = MD_LOGFMT_TEXT;
    p->cfg->log_level = 1;
    if ((rc = md__cfg_want_object(p, "log", lg)) || (rc = md__cfg_check_keys(p, "log", lg, keys, 2)))
        return rc;
    if (level && (rc = md__cfg_pick(p, "log.level", level, md__cfg_log_levels, 4, "debug, info, warn, error",
                            &p->cfg->log_level)))
        return rc;
    if (format && (rc = md__cfg_pick(p, "log.format", format, md__cfg_log_formats, 2, "text, json", &f)))
        return rc;
    p->cfg->log_format = (md_log_format)f;
    return 0;
}

static int parse_root(md__cfg_parser *p, const cJSON *root)
{
    static const char *const keys[] = {"node", "api", "log", "status_print_interval_ms",
                                       "max_concurrent_checks", "cluster", "remediation", "defaults",
                                       "services"};
    const cJSON *spi = md__cfg_get(root, "status_print_interval_ms");
    const cJSON *mcc = md__cfg_get(root, "max_concurrent_checks");
    int rc;
    if (!cJSON_IsObject(root))
        return md__cfg_fail(p, NULL, "the document must be a JSON object");
    if ((rc = md__cfg_check_keys(p, "", root, keys, 9)) || (rc = parse_node(p, md__cfg_get(root, "node"))) ||
        (rc = parse_api(p, md__cfg_get(root, "api"))) || (rc = parse_log(p, md__cfg_get(root, "log"))))
        return rc;
    p->cfg->status_print_interval_ms = MD_DEFAULT_STATUS_PRINT_INTERVAL_MS;
    if (spi && (rc = md__cfg_get_int(p, "status_print_interval_ms", spi, 0, MAX_MS,
                             &p->cfg->status_print_interval_ms)))
        return rc;
    int64_t max_checks = MD_DEFAULT_MAX_CONCURRENT_CHECKS;
    if (mcc && (rc = md__cfg_get_int(p, "max_concurrent_checks", mcc, 1, 65536, &max_checks)))
        return rc;
    p->cfg->max_concurrent_checks = (int)max_checks;
    if ((rc = md__cfg_parse_cluster(p, md__cfg_get(root, "cluster"))) ||
        (rc = md__cfg_parse_remedy(p, md__cfg_get(root, "remediation"))) ||
        (rc = parse_services(p, md__cfg_get(root, "defaults"), md__cfg_get(root, "services"))) ||
        (rc = md__cfg_check_cluster_services(p)))
        return rc;
    return md__cfg_check_remedy_services(p);
}

static int fail_json(md__cfg_parser *p, const char *text, size_t off)
{
    size_t line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return md__cfg_fail(p, NULL, "malformed JSON at byte %zu (line %zu, column %zu)", off, line, col);
}

int md_config_parse(const char *json, size_t len, const char *origin, md_config **out, char *err,
                    size_t errlen)
{
    return md_config_parse_env(json, len, origin, NULL, out, err, errlen);
}

int md_config_parse_env(const char *json, size_t len, const char *origin, const md_config_env *env,
                        md_config **out, char *err, size_t errlen)
{
    assert(out);
    assert(json || len == 0);
    md_config_env own;
    if (!env) {
        own = md_config_process_env();
        env = &own;
    }
    md__cfg_parser p = {NULL, env, origin ? origin : "config", err, errlen};
    if (err && errlen)
        err[0] = '\0';
    /* cJSON wants a terminated buffer; the copy also keeps the caller's bytes untouched. */
    char *text = malloc(len + 1);
    if (!text || !(p.cfg = calloc(1, sizeof *p.cfg))) {
        free(text);
        return md__cfg_oom(&p);
    }
    if (len)
        memcpy(text, json, len);
    text[len] = '\0';
    const char *end = NULL;
    int rc;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        rc = fail_json(&p, text, end && end >= text && end <= text + len ? (size_t)(end - text) : 0);
    } else {
        size_t off = (size_t)(end - text);
        while (off < len && strchr(" \t\r\n", text[off]) && text[off])
            off++;
        char at[PATH_LEN];
        bool in_key;
        if (off < len)
            rc = fail_json(&p, text, off);
        else if (md__cfg_find_nul(text, len, at, sizeof at, &in_key))
            rc = md__cfg_fail(&p, at, in_key ? "the key contains \\u0000 (a NUL character)"
                                             : "contains \\u0000 (a NUL character), which would cut the string short");
        else
            rc = parse_root(&p, root);
    }
    if (rc == 0 && !(p.cfg->origin = strdup(p.origin)))
        rc = md__cfg_oom(&p);
    cJSON_Delete(root);
    free(text);
    if (rc) {
        md_config_free(p.cfg);
        return rc;
    }
    *out = p.cfg;
    return 0;
}

/* read_file reads at most MAX_FILE_BYTES. *out is malloc'd for the caller (NULL when empty). */
static int read_file(const char *path, char **out, size_t *len)
{
    struct stat st;
    md__cfg_sbuf b = {0};
    int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0)
        rc = -errno;
    else if (S_ISDIR(st.st_mode))
        rc = -EISDIR;
    while (rc == 0) {
        char chunk[8192];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        if (b.n + (size_t)n > MAX_FILE_BYTES)
            rc = -EFBIG;
        else
            rc = md__cfg_sb_put(&b, chunk, (size_t)n);
    }
    close(fd);
    if (rc) {
        free(b.s);
        return rc;
    }
    *out = b.s;
    *len = b.n;
    return 0;
}

int md_config_load(const char *path, md_config **out, char *err, size_t errlen)
{
    return md_config_load_env(path, NULL, out, err, errlen);
}

int md_config_load_env(const char *path, const md_config_env *env, md_config **out, char *err, size_t errlen)
{
    assert(out);
    md_config_env own;
    if (!env) {
        own = md_config_process_env();
        env = &own;
    }
    if (!path) {
        const char *text = env->lookup ? env->lookup(env->ctx, "MEDIC_CONFIG") : NULL;
        if (!text) {
            if (err && errlen)
                snprintf(err, errlen, "MEDIC_CONFIG: not set (give a config file, or put the JSON "
                                      "config in MEDIC_CONFIG)");
            return -ENOENT;
        }
        return md_config_parse_env(text, strlen(text), "MEDIC_CONFIG", env, out, err, errlen);
    }
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len);
    if (rc) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read: %s", path,
                     rc == -EFBIG ? "larger than 16 MiB" : strerror(-rc));
        return rc;
    }
    rc = md_config_parse_env(text, len, path, env, out, err, errlen);
    free(text);
    return rc;
}

static void free_service(const md_config *cfg, md_service_config *s)
{
    free(s->name);
    free(s->url);
    free(s->expect_body);
    for (size_t i = 0; i < s->n_headers; i++) {
        free(s->headers[i].name);
        free(s->headers[i].value);
    }
    free(s->headers);
    free(s->ca_file);
    free(s->tcp_host);
    free(s->prewarm_url);
    /* a block of its own is the service's; the shared ones are the config's */
    if (s->remedy && s->remedy != cfg->remedy_shared) {
        md__cfg_free_service_remedy((md_service_remedy *)s->remedy);
        free((md_service_remedy *)s->remedy);
    }
    if (s->failover && s->failover != cfg->failover_shared) {
        md__cfg_free_service_failover((md_service_failover *)s->failover);
        free((md_service_failover *)s->failover);
    }
}

void md_config_free(md_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->node_id);
    free(cfg->node_region);
    free(cfg->data_dir);
    free(cfg->api_listen);
    free(cfg->api_host);
    md__cfg_free_cluster(&cfg->cluster);
    md__cfg_free_remedy(&cfg->remedy);
    for (size_t i = 0; i < cfg->n_services; i++)
        free_service(cfg, &cfg->services[i]);
    free(cfg->services);
    free(cfg->failover_shared);
    free(cfg->remedy_shared);
    free(cfg->origin);
    for (size_t i = 0; i < cfg->n_secrets; i++)
        free(cfg->secrets[i]);
    for (size_t i = 0; i < cfg->n_env_names; i++)
        free(cfg->env_names[i]);
    free(cfg->env_names);
    free(cfg->secrets);
    free(cfg);
}

