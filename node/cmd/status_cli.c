/* status_cli.c: the `medic status` client: one blocking GET, then a table of services. */
#include "cmd.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

static const char *str_of(const cJSON *o, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

static double num_of(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *color_of(const char *state)
{
    if (strcmp(state, "UP") == 0)
        return "\033[32m";
    if (strcmp(state, "DEGRADED") == 0)
        return "\033[33m";
    if (strcmp(state, "DOWN") == 0)
        return "\033[31m";
    return "\033[2m";
}

/* "2026-11-29T11:27:29.123Z" -> "11:27:29"; anything else is shown as given. */
static const char *short_time(const char *iso, char *buf, size_t len)
{
    if (!iso)
        return "never";
    const char *t = strchr(iso, 'T');
    if (!t || strlen(t) < 9)
        return iso;
    snprintf(buf, len, "%.8s", t + 1);
    return buf;
}

static const char *verdict_color(const char *v)
{
    if (strcmp(v, "UP") == 0)
        return "\033[32m";
    if (strcmp(v, "DOWN") == 0)
        return "\033[31m";
    if (strcmp(v, "SPLIT") == 0)
        return "\033[33m";
    return "\033[2m";
}

/* One cell of the cluster table: a node's observation, "DOWN 0.4s" or "stale UP 12s" or "-". */
static void obs_cell(const cJSON *o, char *buf, size_t len)
{
    if (!cJSON_IsObject(o)) {
        snprintf(buf, len, "-");
        return;
    }
    const char *state = str_of(o, "state", "?"), *vote = str_of(o, "vote", "?");
    double age = num_of(o, "age_ms", 0) / 1000.0;
    bool counted = strcmp(vote, "up") == 0 || strcmp(vote, "down") == 0;
    snprintf(buf, len, "%s%s %.1fs", counted ? "" : "(", state, age);
    if (!counted)
        snprintf(buf + strlen(buf), len - strlen(buf), " %s)", vote);
}

/* The cluster table: nodes first, then services as rows and nodes as columns. */
static void render_cluster(const cJSON *cluster, const cJSON *services, FILE *out, bool color)
{
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(cluster, "nodes"), *n;
    fprintf(out, "cluster %s  quorum %.0f\n", str_of(cluster, "name", "?"), num_of(cluster, "quorum", 0));
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(cluster, "consensus");
    if (cJSON_IsObject(k)) {
        fprintf(out, "raft: %s, term %.0f, leader %s, commit %.0f%s%s%s%s\n", str_of(k, "role", "?"),
                num_of(k, "term", 0), str_of(k, "leader", "none"), num_of(k, "commit_index", 0),
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k, "lease_valid")) ? ", lease valid" : "",
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k, "recovering")) ? ", recovering (catching up)" : "",
                str_of(k, "failed", NULL) ? ", STOPPED: " : "", str_of(k, "failed", ""));
    }
    fprintf(out, "\n%-16s %-12s %-8s %-9s %10s %9s %7s\n", "NODE", "REGION", "STATE", "ISOLATED", "LAST SEEN",
            "RTT(ms)", "MATCH");
    cJSON_ArrayForEach(n, nodes)
    {
        const cJSON *ago = cJSON_GetObjectItemCaseSensitive(n, "last_seen_ago_ms");
        const cJSON *rtt = cJSON_GetObjectItemCaseSensitive(n, "rtt_ms");
        const cJSON *match = cJSON_GetObjectItemCaseSensitive(n, "match_index");
        char seen[32] = "never", rt[32] = "-", mt[32] = "-";
        if (cJSON_IsNumber(match))
            snprintf(mt, sizeof mt, "%.0f", match->valuedouble);
        if (cJSON_IsNumber(ago))
            snprintf(seen, sizeof seen, "%.1fs ago", ago->valuedouble / 1000.0);
        if (cJSON_IsNumber(rtt))
            snprintf(rt, sizeof rt, "%.2f", rtt->valuedouble);
        fprintf(out, "%-16.16s %-12.12s %-8s %-9s %10s %9s %7s\n", str_of(n, "id", "?"), str_of(n, "region", "?"),
                str_of(n, "liveness", "?"), cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "isolated")) ? "yes" : "no",
                seen, rt, mt);
    }
    fprintf(out, "\n%-24s %-8s", "SERVICE", "VERDICT");
    cJSON_ArrayForEach(n, nodes)
    fprintf(out, " %-22.22s", str_of(n, "id", "?"));
    fprintf(out, "\n");
    const cJSON *s;
    cJSON_ArrayForEach(s, services)
    {
        const cJSON *vd = cJSON_GetObjectItemCaseSensitive(s, "verdict");
        const cJSON *obs = cJSON_GetObjectItemCaseSensitive(s, "observations");
        const char *v = str_of(vd, "state", "UNKNOWN");
        fprintf(out, "%-24.24s %s%-8s%s", str_of(s, "name", "?"), color ? verdict_color(v) : "", v,
                color ? "\033[0m" : "");
        cJSON_ArrayForEach(n, nodes)
        {
            char cell[64];
            obs_cell(cJSON_GetObjectItemCaseSensitive(obs, str_of(n, "id", "")), cell, sizeof cell);
            fprintf(out, " %-22.22s", cell);
        }
        fprintf(out, "\n");
    }
    fprintf(out, "\n(a cell is each node's own view and its age; in parentheses when it does not count)\n");
}

/* What remediation is doing (services with an account) and its actuators: a token that is
 * refused or failing is an actuator problem, shown first and in red. */
static void render_remediation(const cJSON *doc, const cJSON *services, FILE *out, bool color)
{
    bool any = false;
    const cJSON *s;
    cJSON_ArrayForEach(s, services)
    {
        const char *summary = str_of(cJSON_GetObjectItemCaseSensitive(s, "remediation"), "summary", NULL);
        if (!summary)
            continue;
        if (!any)
            fprintf(out, "\nREMEDIATION\n");
        any = true;
        fprintf(out, "%-24.24s %s\n", str_of(s, "name", "?"), summary);
    }
    const cJSON *acts = cJSON_GetObjectItemCaseSensitive(doc, "actuators");
    if (cJSON_GetArraySize(acts) == 0)
        return;
    fprintf(out, "\n%-9s %-8s %-9s %-44s %s\n", "ACTUATOR", "TOKEN", "STATE", "REACHES", "SERVICES");
    const cJSON *a;
    cJSON_ArrayForEach(a, acts)
    {
        const char *state = str_of(a, "state", "?");
        bool bad = strcmp(state, "refused") == 0 || strcmp(state, "error") == 0;
        fprintf(out, "%-9s %-8s %s%-9s%s %-44.44s %s\n", str_of(a, "kind", "?"), str_of(a, "token_kind", "?"),
                color && bad ? "\033[31m" : "", state, color && bad ? "\033[0m" : "", str_of(a, "reaches", "-"),
                str_of(a, "services", ""));
        if (bad)
            fprintf(out, "  %s: remediation through it is blocked until the token works (%s)\n",
                    strcmp(state, "refused") == 0 ? "token refused" : "check failed", str_of(a, "detail", "no detail"));
    }
}

/* Failover (services with endpoints): this node's active endpoint and every breaker. The choice
 * is each node's own, so `medic status --node` on another node may differ. */
static void render_failover(const cJSON *services, FILE *out, bool color)
{
    bool any = false;
    const cJSON *s;
    cJSON_ArrayForEach(s, services)
    {
        const cJSON *fo = cJSON_GetObjectItemCaseSensitive(s, "failover");
        if (!cJSON_IsObject(fo))
            continue;
        if (!any)
            fprintf(out, "\n%-24s %-5s %-44s %9s  %s\n", "FAILOVER (this node)", "INDEX", "ACTIVE", "SWITCHES",
                    "BREAKERS (primary first)");
        any = true;
        int idx = (int)num_of(fo, "active_index", -1);
        char brk[256] = "";
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(fo, "endpoints"))
        {
            size_t n = strlen(brk);
            snprintf(brk + n, sizeof brk - n, "%s%s", n ? " " : "", str_of(e, "breaker", "?"));
        }
        const char *col = !color ? "" : idx == 0 ? "\033[32m" : idx > 0 ? "\033[33m" : "\033[31m";
        fprintf(out, "%-24.24s %s%-5d %-44.44s%s %9.0f  %s\n", str_of(s, "name", "?"), col, idx,
                str_of(fo, "active", "none"), color ? "\033[0m" : "", num_of(fo, "failovers", 0), brk);
    }
}

int md_status_render_table(const char *json, FILE *out, bool color)
{
    cJSON *doc = cJSON_Parse(json);
    const cJSON *services = cJSON_GetObjectItemCaseSensitive(doc, "services");
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(doc, "node");
    if (!cJSON_IsArray(services) || !cJSON_IsObject(node)) {
        cJSON_Delete(doc);
        return -EINVAL;
    }
    fprintf(out, "node %s (%s)  version %s  up %.0fs\n\n", str_of(node, "id", "?"), str_of(node, "region", "?"),
            str_of(node, "version", "?"), num_of(node, "uptime_s", 0));
    const cJSON *cluster = cJSON_GetObjectItemCaseSensitive(doc, "cluster");
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(cluster, "name"))) {
        render_cluster(cluster, services, out, color);
        render_remediation(doc, services, out, color);
        render_failover(services, out, color);
        cJSON_Delete(doc);
        return 0;
    }
    fprintf(out, "%-24s %-9s %8s %8s %9s %15s %-9s  %s\n", "SERVICE", "STATE", "UPTIME", "HOUR", "RESP(ms)",
            "CHECKS", "LAST OK", "CAUSE");
    const cJSON *s;
    cJSON_ArrayForEach(s, services)
    {
        const char *state = str_of(s, "state", "UNKNOWN");
        const cJSON *checks = cJSON_GetObjectItemCaseSensitive(s, "checks");
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(s, "latency_ms");
        char okt[40], tbuf[16];
        snprintf(okt, sizeof okt, "%.0f/%.0f", num_of(checks, "ok", 0), num_of(checks, "total", 0));
        fprintf(out, "%-24.24s %s%-9s%s %7.2f%% %7.2f%% %9.1f %15s %-9s  %s\n", str_of(s, "name", "?"),
                color ? color_of(state) : "", state, color ? "\033[0m" : "", num_of(s, "uptime_pct", 0),
                num_of(s, "uptime_hour_pct", 0), num_of(lat, "last", 0), okt,
                short_time(str_of(s, "last_success", NULL), tbuf, sizeof tbuf), str_of(s, "cause", ""));
    }
    render_failover(services, out, color);
    cJSON_Delete(doc);
    return 0;
}

int md_status_cmd(const char *node_url, bool json, FILE *out)
{
    char url[1024];
    size_t ul = strlen(node_url);
    while (ul > 0 && node_url[ul - 1] == '/')
        ul--;
    if (ul == 0 || ul > 900) {
        fprintf(stderr, "medic status: --node must be a URL like http://127.0.0.1:8700\n");
        return 2;
    }
    snprintf(url, sizeof url, "%.*s/v1/status", (int)ul, node_url);

    char err[256];
    char *body = NULL;
    long code = 0;
    if (md_fetch("GET", url, 10000, &code, &body, err, sizeof err) < 0) {
        fprintf(stderr, "medic status: cannot reach %s: %s\n", url, err);
        return 1;
    }
    if (code != 200) {
        fprintf(stderr, "medic status: %s answered HTTP %ld: %s\n", url, code, body);
        free(body);
        return 1;
    }
    int exit_code = 0;
    if (json) {
        cJSON *doc = cJSON_Parse(body);
        char *pretty = doc ? cJSON_Print(doc) : NULL;
        fprintf(out, "%s\n", pretty ? pretty : body);
        free(pretty);
        cJSON_Delete(doc);
    } else if (md_status_render_table(body, out, isatty(fileno(out))) < 0) {
        fprintf(stderr, "medic status: %s did not answer with a status document\n", url);
        exit_code = 1;
    }
    free(body);
    return exit_code;
}

int md_health_cmd(const char *node_url, FILE *out)
{
    char url[1024];
    size_t ul = strlen(node_url);
    while (ul > 0 && node_url[ul - 1] == '/')
        ul--;
    if (ul == 0 || ul > 900) {
        fprintf(stderr, "medic health: --node must be a URL like http://127.0.0.1:8700\n");
        return 2;
    }
    snprintf(url, sizeof url, "%.*s/v1/health", (int)ul, node_url);
    char err[256];
    char *body = NULL;
    long code = 0;
    /* A health check runs often and has its own timeout around it: answer within 5 s. */
    if (md_fetch("GET", url, 5000, &code, &body, err, sizeof err) < 0) {
        fprintf(stderr, "medic health: cannot reach %s: %s\n", url, err);
        return 1;
    }
    fprintf(code == 200 ? out : stderr, "%s%s", body ? body : "", body && *body ? "\n" : "");
    if (code != 200)
        fprintf(stderr, "medic health: %s answered HTTP %ld\n", url, code);
    free(body);
    return code == 200 ? 0 : 1;
}

int md_action_cmd(const char *action, const char *node_url, const char *service, const char *reason,
                  const char *token, FILE *out)
{
    if (!token || !*token) {
        fprintf(stderr, "medic %s: the admin token is needed: set MEDIC_ADMIN_TOKEN or pass --token\n", action);
        return 2;
    }
    CURL *esc = curl_easy_init();
    if (!esc)
        return 1;
    char *svc = curl_easy_escape(esc, service, 0);
    char *why = reason ? curl_easy_escape(esc, reason, 0) : NULL;
    char url[2048];
    size_t ul = strlen(node_url);
    while (ul > 0 && node_url[ul - 1] == '/')
        ul--;
    snprintf(url, sizeof url, "%.*s/v1/services/%s/%s%s%s", (int)ul, node_url, svc ? svc : "", action,
             why ? "?reason=" : "", why ? why : "");
    curl_free(svc);
    curl_free(why);
    curl_easy_cleanup(esc);
    char err[256], *body = NULL;
    long code = 0;
    if (md_fetch_bearer("POST", url, token, 10000, &code, &body, err, sizeof err) < 0) {
        fprintf(stderr, "medic %s: cannot reach %.*s: %s\n", action, (int)ul, node_url, err);
        return 1;
    }
    int rc = code == 202 || code == 200 ? 0 : 1;
    cJSON *doc = cJSON_Parse(body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "error"), "message");
    if (rc == 0)
        fprintf(out, "%s %s: accepted (%s)\n", action, service,
                str_of(doc, "forwarded_to", NULL) ? "forwarded to the leader" : "proposed by the leader");
    else
        fprintf(stderr, "medic %s: HTTP %ld: %s\n", action, code, cJSON_IsString(e) ? e->valuestring : body);
    cJSON_Delete(doc);
    free(body);
    return rc;
}
