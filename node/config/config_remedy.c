/* config_remedy.c: the "remediation" section (mode, admin token, webhooks, Railway access) and
 * each service's actuator: Railway ids (and its own token), or exec commands, or none (alert only). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_WEBHOOKS 16
#define MAX_ARGV 64

static int secret_string(md__cfg_parser *p, const char *path, const cJSON *it, char **out)
{
    int rc = md__cfg_get_string(p, path, it, out);
    if (rc)
        return rc;
    /* Tokens and webhook URLs are masked even when written into the file. */
    if ((rc = md__cfg_add_secret(p->cfg, *out)))
        return rc == -ENOMEM ? md__cfg_oom(p) : rc;
    return 0;
}

static int parse_webhook(md__cfg_parser *p, size_t i, const cJSON *o, md_webhook_config *w)
{
    static const char *const keys[] = { "url", "format", "headers" };
    static const char *const formats[] = { "generic", "slack", "discord" };
    char path[PATH_LEN], fp[PATH_LEN];
    int rc, f = 0;
    snprintf(path, sizeof path, "remediation.webhooks[%zu]", i);
    if ((rc = md__cfg_want_object(p, path, o)) || (rc = md__cfg_check_keys(p, path, o, keys, 3)))
        return rc;
    const cJSON *url = md__cfg_get(o, "url"), *fmt = md__cfg_get(o, "format"), *hdrs = md__cfg_get(o, "headers");
    if (!url)
        return md__cfg_fail(p, md__cfg_join(fp, sizeof fp, path, "url"), "is required");
    if ((rc = secret_string(p, md__cfg_join(fp, sizeof fp, path, "url"), url, &w->url)) ||
        (rc = md__cfg_check_url(p, fp, w->url)))
        return rc;
    if (fmt && (rc = md__cfg_pick(p, md__cfg_join(fp, sizeof fp, path, "format"), fmt, formats, 3,
                                  "generic, slack, discord", &f)))
        return rc;
    w->format = (md_webhook_format)f;
    if (!hdrs)
        return 0;
    md__cfg_join(fp, sizeof fp, path, "headers");
    if (!cJSON_IsObject(hdrs))
        return md__cfg_fail(p, fp, "must be an object of header names to string values");
    int n = cJSON_GetArraySize(hdrs);
    if (n > 32)
        return md__cfg_fail(p, fp, "at most 32 headers");
    if (n && !(w->headers = calloc((size_t)n, sizeof *w->headers)))
        return md__cfg_oom(p);
    const cJSON *h;
    cJSON_ArrayForEach(h, hdrs)
    {
        char hp[PATH_LEN];
        md__cfg_join(hp, sizeof hp, fp, h->string ? h->string : "");
        md_header *dst = &w->headers[w->n_headers];
        if (!(dst->name = strdup(h->string ? h->string : "")))
            return md__cfg_oom(p);
        w->n_headers++;
        if ((rc = secret_string(p, hp, h, &dst->value)))
            return rc;
        if (!dst->name[0] || strpbrk(dst->name, " :\r\n") || strpbrk(dst->value, "\r\n"))
            return md__cfg_fail(p, hp, "not a valid header");
    }
    return 0;
}

/* host_is_loopback: the host of an http(s) URL is localhost, 127.0.0.0/8 or [::1]. */
static bool host_is_loopback(const char *url)
{
    size_t alen = 0;
    const char *a = md__cfg_authority(url, &alen);
    if (!a)
        return false;
    const char *at = memrchr(a, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    char host[256];
    size_t hlen;
    bool v6 = alen && a[0] == '[';
    if (v6) {
        const char *close = memchr(a, ']', alen);
        if (!close)
            return false;
        a++;
        hlen = (size_t)(close - a);
    } else {
        const char *colon = memchr(a, ':', alen);
        hlen = colon ? (size_t)(colon - a) : alen;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return false;
    memcpy(host, a, hlen);
    host[hlen] = '\0';
    struct in_addr v4;
    struct in6_addr a6;
    if (v6)
        return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    return strcasecmp(host, "localhost") == 0;
}

/* check_endpoint: a Railway token controls production deployments, so it never crosses a network
 * in clear: https://, or http:// to this machine only (local fakes and proxies). */
static int check_endpoint(md__cfg_parser *p, const char *path, const char *u)
{
    bool http = strncasecmp(u, "http://", 7) == 0;
    if (!http && strncasecmp(u, "https://", 8) != 0)
        return md__cfg_fail(p, path, "must start with https:// (http:// is allowed only to a loopback address)");
    int rc = md__cfg_check_url(p, path, u);
    if (rc == 0 && http && !host_is_loopback(u))
        rc = md__cfg_fail(p, path,
                          "http:// is refused except to a loopback address (127.0.0.0/8, [::1], localhost): the Railway "
                          "token would cross the network unencrypted; use https://");
    return rc;
}

/* parse_token reads a railway object's "token" and "token_kind" (remediation.railway's, or a
 * service's own). Absent token: *token stays NULL, and a token_kind alone is an error. */
static int parse_token(md__cfg_parser *p, const char *path, const cJSON *o, char **token, bool *project)
{
    static const char *const kinds[] = { "project", "bearer" };
    const cJSON *tok = md__cfg_get(o, "token"), *kind = md__cfg_get(o, "token_kind");
    char fp[PATH_LEN];
    int rc, k = 0;
    if (!tok) {
        if (kind)
            return md__cfg_fail(p, md__cfg_join(fp, sizeof fp, path, "token_kind"),
                                "set only together with token (it says what kind that token is)");
        return 0;
    }
    if ((rc = secret_string(p, md__cfg_join(fp, sizeof fp, path, "token"), tok, token)))
        return rc;
    if (!(*token)[0])
        return md__cfg_fail(p, fp, "must not be empty");
    if (kind && (rc = md__cfg_pick(p, md__cfg_join(fp, sizeof fp, path, "token_kind"), kind, kinds, 2,
                                   "project, bearer", &k)))
        return rc;
    *project = k == 0;
    return 0;
}

static int parse_railway_access(md__cfg_parser *p, const cJSON *o, md_remedy_config *r)
{
    static const char *const keys[] = { "endpoint", "token", "token_kind", "budget_per_hour" };
    int rc;
    if ((rc = md__cfg_want_object(p, "remediation.railway", o)) ||
        (rc = md__cfg_check_keys(p, "remediation.railway", o, keys, 4)))
        return rc;
    const cJSON *budget = md__cfg_get(o, "budget_per_hour");
    if (budget && (rc = md__cfg_get_int(p, "remediation.railway.budget_per_hour", budget, 1, 36000,
                                        &r->railway_budget_per_hour)))
        return rc;
    const cJSON *ep = md__cfg_get(o, "endpoint");
    if (ep) {
        if ((rc = md__cfg_get_string(p, "remediation.railway.endpoint", ep, &r->railway_endpoint)) ||
            (rc = check_endpoint(p, "remediation.railway.endpoint", r->railway_endpoint)))
            return rc;
    }
    /* Optional here: services in other projects carry their own; a service left without any
     * token is reported on that service (md__cfg_check_remedy_services). */
    r->railway_project_token = true;
    return parse_token(p, "remediation.railway", o, &r->railway_token, &r->railway_project_token);
}

int md__cfg_parse_remedy(md__cfg_parser *p, const cJSON *o)
{
    static const char *const keys[] = { "mode", "admin_token", "webhooks", "split_alert_after_ms", "railway" };
    static const char *const modes[] = { "act", "shadow" };
    md_remedy_config *r = &p->cfg->remedy;
    int rc, m = 0;
    r->split_alert_after_ms = MD_DEFAULT_SPLIT_ALERT_AFTER_MS;
    r->railway_budget_per_hour = MD_DEFAULT_RAILWAY_BUDGET;
    if (!o)
        goto defaults;
    if ((rc = md__cfg_want_object(p, "remediation", o)) || (rc = md__cfg_check_keys(p, "remediation", o, keys, 5)))
        return rc;
    const cJSON *mode = md__cfg_get(o, "mode"), *tok = md__cfg_get(o, "admin_token"), *hooks = md__cfg_get(o, "webhooks");
    const cJSON *split = md__cfg_get(o, "split_alert_after_ms"), *rw = md__cfg_get(o, "railway");
    if (mode && (rc = md__cfg_pick(p, "remediation.mode", mode, modes, 2, "act, shadow", &m)))
        return rc;
    r->shadow = m == 1;
    if (tok) {
        if ((rc = secret_string(p, "remediation.admin_token", tok, &r->admin_token)))
            return rc;
        if (strlen(r->admin_token) < 16)
            return md__cfg_fail(p, "remediation.admin_token", "must be at least 16 characters");
    }
    if (split && (rc = md__cfg_get_int(p, "remediation.split_alert_after_ms", split, 1, MAX_MS, &r->split_alert_after_ms)))
        return rc;
    if (hooks) {
        if (!cJSON_IsArray(hooks))
            return md__cfg_fail(p, "remediation.webhooks", "must be an array of {\"url\", \"format\"}");
        int n = cJSON_GetArraySize(hooks);
        if (n > MAX_WEBHOOKS)
            return md__cfg_fail(p, "remediation.webhooks", "at most %d webhooks", MAX_WEBHOOKS);
        if (n && !(r->webhooks = calloc((size_t)n, sizeof *r->webhooks)))
            return md__cfg_oom(p);
        const cJSON *w;
        cJSON_ArrayForEach(w, hooks)
        {
            rc = parse_webhook(p, r->n_webhooks, w, &r->webhooks[r->n_webhooks]);
            r->n_webhooks++;
            if (rc)
                return rc;
        }
    }
    if (rw && (rc = parse_railway_access(p, rw, r)))
        return rc;
defaults:
    if (!r->railway_endpoint && !(r->railway_endpoint = strdup(MD_DEFAULT_RAILWAY_ENDPOINT)))
        return md__cfg_oom(p);
    return 0;
}

static int parse_argv(md__cfg_parser *p, const char *path, const cJSON *arr, char ***out)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 || cJSON_GetArraySize(arr) > MAX_ARGV)
        return md__cfg_fail(p, path, "must be a list of 1-%d strings: the program, then its arguments (no shell)",
                            MAX_ARGV);
    int n = cJSON_GetArraySize(arr);
    char **argv = calloc((size_t)n + 1, sizeof *argv);
    if (!argv)
        return md__cfg_oom(p);
    *out = argv;
    int i = 0, rc;
    const cJSON *a;
    cJSON_ArrayForEach(a, arr)
    {
        char fp[PATH_LEN];
        snprintf(fp, sizeof fp, "%s[%d]", path, i);
        if ((rc = md__cfg_get_string(p, fp, a, &argv[i++])))
            return rc;
    }
    if (!argv[0][0])
        return md__cfg_fail(p, path, "the program must not be empty");
    return 0;
}

static int parse_exec(md__cfg_parser *p, const char *path, const cJSON *o, md_service_remedy *rm)
{
    static const char *const keys[] = { "restart", "redeploy", "rollback", "timeout_ms" };
    char fp[PATH_LEN];
    int rc;
    if ((rc = md__cfg_want_object(p, path, o)) || (rc = md__cfg_check_keys(p, path, o, keys, 4)))
        return rc;
    const cJSON *re = md__cfg_get(o, "restart"), *rd = md__cfg_get(o, "redeploy"), *rb = md__cfg_get(o, "rollback");
    const cJSON *to = md__cfg_get(o, "timeout_ms");
    if (!re && !rd && !rb)
        return md__cfg_fail(p, path, "needs at least one of restart, redeploy, rollback");
    if ((re && (rc = parse_argv(p, md__cfg_join(fp, sizeof fp, path, "restart"), re, &rm->exec_restart))) ||
        (rd && (rc = parse_argv(p, md__cfg_join(fp, sizeof fp, path, "redeploy"), rd, &rm->exec_redeploy))) ||
        (rb && (rc = parse_argv(p, md__cfg_join(fp, sizeof fp, path, "rollback"), rb, &rm->exec_rollback))))
        return rc;
    if (to && (rc = md__cfg_get_int(p, md__cfg_join(fp, sizeof fp, path, "timeout_ms"), to, 1, MAX_MS,
                                    &rm->exec_timeout_ms)))
        return rc;
    return 0;
}

int md__cfg_parse_service_remedy(md__cfg_parser *p, const char *path, const cJSON *obj, md_service_remedy *rm)
{
    static const char *const kinds[] = { "none", "railway", "exec" };
    const cJSON *act = md__cfg_get(obj, "actuator"), *rw = md__cfg_get(obj, "railway"), *ex = md__cfg_get(obj, "exec");
    char fp[PATH_LEN];
    int rc, k = rw ? 1 : ex ? 2 : 0;
    rm->exec_timeout_ms = MD_DEFAULT_EXEC_TIMEOUT_MS;
    if (rw && ex)
        return md__cfg_fail(p, path, "set railway or exec, not both");
    if (act) {
        int want;
        if ((rc = md__cfg_pick(p, md__cfg_join(fp, sizeof fp, path, "actuator"), act, kinds, 3, "none, railway, exec",
                               &want)))
            return rc;
        if ((want == 1 && !rw) || (want == 2 && !ex) || (want == 0 && (rw || ex)))
            return md__cfg_fail(p, fp, "\"%s\" needs %s", kinds[want],
                                want == 1 ? "a railway object" : want == 2 ? "an exec object" : "no railway or exec object");
        k = want;
    }
    rm->actuator = (md_actuator_kind)k;
    if (rw) {
        static const char *const keys[] = { "service_id", "environment_id", "token", "token_kind" };
        md__cfg_join(fp, sizeof fp, path, "railway");
        if ((rc = md__cfg_want_object(p, fp, rw)) || (rc = md__cfg_check_keys(p, fp, rw, keys, 4)))
            return rc;
        const cJSON *sid = md__cfg_get(rw, "service_id"), *eid = md__cfg_get(rw, "environment_id");
        char kp[PATH_LEN];
        if (!sid || !eid)
            return md__cfg_fail(p, fp, "needs service_id and environment_id");
        if ((rc = md__cfg_get_string(p, md__cfg_join(kp, sizeof kp, fp, "service_id"), sid,
                                     &rm->railway_service_id)) ||
            (rc = md__cfg_get_string(p, md__cfg_join(kp, sizeof kp, fp, "environment_id"), eid,
                                     &rm->railway_environment_id)))
            return rc;
        if (!rm->railway_service_id[0] || !rm->railway_environment_id[0])
            return md__cfg_fail(p, fp, "service_id and environment_id must not be empty");
        rm->railway_project_token = true;
        if ((rc = parse_token(p, fp, rw, &rm->railway_token, &rm->railway_project_token)))
            return rc;
    }
    if (ex)
        return parse_exec(p, md__cfg_join(fp, sizeof fp, path, "exec"), ex, rm);
    return 0;
}

int md__cfg_check_remedy_services(md__cfg_parser *p)
{
    md_config *cfg = p->cfg;
    for (size_t i = 0; i < cfg->n_services; i++) {
        md_service_config *s = &cfg->services[i];
        if (cfg->remedy.shadow)
            s->shadow = true;
        const md_service_remedy *rm = s->remedy;
        if (rm->actuator == MD_ACTUATOR_RAILWAY && !rm->railway_token && !cfg->remedy.railway_token) {
            char path[PATH_LEN];
            snprintf(path, sizeof path, "services[%zu].railway.token", i);
            return md__cfg_fail(p, path,
                                "is required: the Railway API token, set here or in remediation.railway.token "
                                "(use \"${RAILWAY_TOKEN}\")");
        }
    }
    return 0;
}

const char *md_config_railway_token(const md_config *cfg, const md_service_config *s, bool *project)
{
    if (s->remedy->railway_token) {
        *project = s->remedy->railway_project_token;
        return s->remedy->railway_token;
    }
    *project = cfg->remedy.railway_project_token;
    return cfg->remedy.railway_token;
}

static void free_argv(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

void md__cfg_free_service_remedy(md_service_remedy *rm)
{
    free(rm->railway_service_id);
    free(rm->railway_environment_id);
    free(rm->railway_token);
    free_argv(rm->exec_restart);
    free_argv(rm->exec_redeploy);
    free_argv(rm->exec_rollback);
}

bool md__cfg_same_remedy(const md_service_remedy *a, const md_service_remedy *b)
{
    return !a->railway_service_id && !a->railway_environment_id && !a->railway_token && !a->exec_restart &&
           !a->exec_redeploy && !a->exec_rollback && !b->railway_service_id && !b->railway_environment_id &&
           !b->railway_token && !b->exec_restart && !b->exec_redeploy && !b->exec_rollback &&
           a->restart_attempts == b->restart_attempts && a->redeploy_attempts == b->redeploy_attempts &&
           a->restart_interval_ms == b->restart_interval_ms && a->max_actions_per_hour == b->max_actions_per_hour &&
           a->actuator == b->actuator && a->restart_timeout_ms == b->restart_timeout_ms &&
           a->redeploy_timeout_ms == b->redeploy_timeout_ms && a->rollback_timeout_ms == b->rollback_timeout_ms &&
           a->verify_after_ms == b->verify_after_ms && a->reopen_window_ms == b->reopen_window_ms &&
           a->known_good_after_ms == b->known_good_after_ms &&
           a->railway_project_token == b->railway_project_token && a->exec_timeout_ms == b->exec_timeout_ms;
}

void md__cfg_free_remedy(md_remedy_config *r)
{
    for (size_t i = 0; i < r->n_webhooks; i++) {
        free(r->webhooks[i].url);
        for (size_t j = 0; j < r->webhooks[i].n_headers; j++) {
            free(r->webhooks[i].headers[j].name);
            free(r->webhooks[i].headers[j].value);
        }
        free(r->webhooks[i].headers);
    }
    free(r->webhooks);
    free(r->admin_token);
    free(r->railway_endpoint);
    free(r->railway_token);
    memset(r, 0, sizeof *r);
}
