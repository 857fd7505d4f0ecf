/* fake_railway.c: a fake Railway public API for tests: POST /graphql/v2 answers the subset medic
 * uses (fake_railway_gql.c, fake_railway_exec.c) over a model of services whose running
 * deployment is a real flaky_service child (fake_railway_model.c); /control/... stages the
 * seed's scenarios and API faults and exposes a request log.
 *
 * Usage:
 *   fake_railway --port 0 --state-dir DIR --flaky-bin PATH --services "svcA,svcB"
 *                [--environment ID] [--token T] [--token-kind any|bearer|workspace|project]
 *                [--project NAME:SVC[,SVC...]:TOKEN]... [--deploy-delay-ms N] [--rate-limit N]
 *                [--rate-window-ms MS] [--rate-reset seconds|epoch] [--host IPV4]
 * The token may also come from FAKE_RAILWAY_TOKEN; none given accepts any non-empty token (with
 * --project, only the projects' tokens). Each --project (at most 8) is a Railway project: its
 * TOKEN (in either header, as --token-kind allows) reaches its services only, "Not Authorized"
 * for any other; --token still reaches every service.
 * Token kinds: bearer is an account token (Authorization: Bearer; may call me), workspace a
 * workspace token (Bearer; me is "Not Authorized"), project a Project-Access-Token (projectToken
 * answers; apiToken and me do not), any takes either header (Bearer as an account token).
 * --host (default 127.0.0.1) is where the API and every flaky_service child listen (medic chaos
 * runs the fake in a network namespace of its own, reached at that namespace's address).
 * Rate limit: every GraphQL answer carries X-RateLimit-Limit, -Remaining and -Reset for a window
 * of --rate-window-ms (default an hour) allowing --rate-limit requests (default 1000, Hobby);
 * Reset is the seconds left in the window (default) or its end as epoch seconds. A request past
 * the limit gets 429 with Retry-After (seconds to the window's end) and is not executed.
 * Once every child is up it prints one line and flushes:
 *   ready port=P services=svcA@PORT/CONTROLPORT,svcB@...
 * SIGTERM or SIGINT stops every child (SIGKILL after 3 s) and exits 0. Children's stderr goes to
 * DIR/<service>.flaky.log.
 *
 * Control (GET or POST; JSON answers):
 *   GET  /control/services               services: ids, flaky ports, running deployment, all
 *                                        deployments newest first with behaviour and flags
 *   POST /control/services/<id>/bug?mode=crash|bad_deploy|code_bug|none[&broken=MODE]
 *        crash: the child is killed, the deployment CRASHED, until a restart (or a new deploy).
 *        bad_deploy: a new deployment running MODE (default error) goes live; restarts keep it,
 *          a redeploy builds a healthy one. code_bug: the same, but redeploys build MODE again;
 *          only a rollback to the earlier deployment is healthy.
 *   POST /control/services/<id>/set?[deploy_delay_ms=N][&outcome=success|fail|hang]
 *        [&redeploy=same|MODE][&overlap_ms=N]   hang: new deployments never leave
 *        BUILDING/DEPLOYING; overlap_ms: a replaced deployment stays SUCCESS among the
 *        activeDeployments (listed before the new one) for N ms, as with Railway's overlap
 *   POST /control/deployments/<id>/set?can_rollback=0|1   (0 models an expired image)
 *   POST /control/fault?kind=K[&count=N][&op=NAME][&code=C][&retry_after=S][&after=1]
 *        K: status (HTTP code C, default 500), hang, 429, graphql (INTERNAL_SERVER_ERROR),
 *        gqlerror (BAD_USER_INPUT), auth ("Not Authorized"), html (Cloudflare 403 page),
 *        html200, echo (an error quoting the request's credentials back). count: how many
 *        requests (default 1, 0 = until cleared); op: only requests whose operationName or
 *        root field is NAME ("mutation": every mutation); skip=N: let the first N matching
 *        requests through (skip=4&op=mutation fails the fifth mutation); after=1: execute the
 *        request first, then answer with the fault.
 *   POST /control/faults/clear
 *   GET  /control/project                the provisioning model (fake_railway_project.c): "mutations"
 *                                        executed so far, "tokensCreated", and each service made
 *                                        by serviceCreate with its settings, variables, volume and
 *                                        deployment count
 *   GET  /control/requests               {"requests":[{seq,atMs,operationName,query,fields,services,
 *                                        variables,status,fault,tokenKind,project,userAgent,answer,
 *                                        remaining}]}
 *                                        (no credentials: tokenKind "project", "bearer" or "none";
 *                                        project the --project NAME whose token it carried, or null;
 *                                        services the ones its fields name; fault "rate_limit" for
 *                                        the limit's 429s)
 *   POST /control/requests/reset
 */
#include "fake_railway.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FAULTS 32
#define MAX_LOG 20000

typedef struct {
    char kind[16], op[64];
    int code, count, retry_after, skip;
    bool after, forever;
} fault;

static uv_loop_t loop;
static uv_signal_t sigterm, sigint;
static int http_port;
static fault faults[MAX_FAULTS];
static int n_faults;
static cJSON *reqlog;
static unsigned req_seq;

/* The rate-limit window: a fixed window that starts with its first request. */
static int rl_limit = 1000;
static int64_t rl_window_ms = 3600000, rl_start_ms = -1;
static int rl_used;
static bool rl_epoch;

static bool qparam(const char *query, const char *name, char *out, size_t len)
{
    size_t nl = strlen(name);
    for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t n = strcspn(v, "&");
            if (n >= len)
                n = len - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

static void reply_msg(fr_conn *c, int status, const char *key, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, key, msg);
    fr_reply_json(c, status, NULL, o);
    cJSON_Delete(o);
}

/* ---- faults ---- */

static bool names_op(const fault *f, const char *opname, const char *query)
{
    if (!f->op[0])
        return true;
    if (strcmp(f->op, "mutation") == 0) {
        while (query && (*query == ' ' || *query == '\n' || *query == '\t'))
            query++;
        return query && strncmp(query, "mutation", 8) == 0;
    }
    if (opname && strcmp(opname, f->op) == 0)
        return true;
    size_t n = strlen(f->op);
    for (const char *p = query ? strstr(query, f->op) : NULL; p; p = strstr(p + 1, f->op)) {
        char after = p[n];
        bool start = p == query || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= 'A' && p[-1] <= 'Z'));
        if (start && (after == '(' || after == ' ' || after == '{'))
            return true;
    }
    return false;
}

static bool take_fault(const char *opname, const char *query, fault *out)
{
    for (int i = 0; i < n_faults; i++) {
        if (!names_op(&faults[i], opname, query))
            continue;
        if (faults[i].skip > 0) { /* this many matching requests pass first */
            faults[i].skip--;
            continue;
        }
        *out = faults[i];
        if (!faults[i].forever && --faults[i].count <= 0) {
            memmove(&faults[i], &faults[i + 1], (size_t)(n_faults - i - 1) * sizeof faults[0]);
            n_faults--;
        }
        return true;
    }
    return false;
}

/* Counts one GraphQL request against the window; fills extra with the rate-limit headers (and
 * Retry-After when used up). Returns false when the request is over the limit. */
static bool rate_take(char *extra, size_t len, int *remaining)
{
    uv_update_time(&loop);
    int64_t now = (int64_t)uv_now(&loop);
    if (rl_start_ms < 0 || now >= rl_start_ms + rl_window_ms) {
        rl_start_ms = now;
        rl_used = 0;
    }
    bool ok = rl_used < rl_limit;
    if (ok)
        rl_used++;
    int64_t left_ms = rl_start_ms + rl_window_ms - now;
    int64_t left_s = (left_ms + 999) / 1000;
    long long reset = rl_epoch ? (long long)((fr_wall_ms() + left_ms + 999) / 1000) : (long long)left_s;
    *remaining = rl_limit - rl_used;
    int n = snprintf(extra, len, "X-RateLimit-Limit: %d\r\nX-RateLimit-Remaining: %d\r\nX-RateLimit-Reset: %lld\r\n",
                     rl_limit, *remaining, reset);
    if (!ok && n > 0 && (size_t)n < len)
        snprintf(extra + n, len - (size_t)n, "Retry-After: %lld\r\n", (long long)left_s);
    return ok;
}

static void answer_fault(fr_conn *c, const fault *f, const fr_req *r, int *status, const char *rl)
{
    static const char cf[] = "<!DOCTYPE html><html><head><title>Access denied | backboard.railway.com used Cloudflare "
                             "to restrict access</title></head><body>Error 1015</body></html>";
    char extra[320], msg[2200];
    cJSON *e = NULL;
    *status = 200;
    if (strcmp(f->kind, "hang") == 0) {
        *status = 0;
        fr_hang(c);
        return;
    } else if (strcmp(f->kind, "status") == 0) {
        *status = f->code ? f->code : 500;
        char page[128];
        int n = snprintf(page, sizeof page, "<html><head><title>%d upstream error</title></head></html>", *status);
        fr_reply(c, *status, "text/html", NULL, page, (size_t)n);
        return;
    } else if (strcmp(f->kind, "429") == 0) {
        *status = 429;
        snprintf(extra, sizeof extra, "Retry-After: %d\r\n%s", f->retry_after, rl);
        const char body[] = "{\"errors\":[{\"message\":\"Rate limit exceeded\"}],\"data\":null}";
        fr_reply(c, 429, "application/json", extra, body, sizeof body - 1);
        return;
    } else if (strcmp(f->kind, "html") == 0 || strcmp(f->kind, "html200") == 0) {
        *status = f->kind[4] ? 200 : 403;
        fr_reply(c, *status, "text/html; charset=UTF-8", NULL, cf, sizeof cf - 1);
        return;
    }
    const char *m = "Problem processing request", *code = "INTERNAL_SERVER_ERROR";
    if (strcmp(f->kind, "gqlerror") == 0)
        m = "Something about this request is not right", code = "BAD_USER_INPUT";
    else if (strcmp(f->kind, "auth") == 0)
        m = "Not Authorized", code = NULL;
    else if (strcmp(f->kind, "echo") == 0) {
        snprintf(msg, sizeof msg, "Invalid credentials \"%s%s\"", r->authorization, r->project_token);
        m = msg, code = "BAD_USER_INPUT";
    }
    e = cJSON_CreateObject();
    cJSON *errs = cJSON_AddArrayToObject(e, "errors");
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "message", m);
    cJSON *ext = cJSON_AddObjectToObject(x, "extensions");
    if (code)
        cJSON_AddStringToObject(ext, "code", code);
    cJSON_AddStringToObject(ext, "traceId", "fake-fault");
    cJSON_AddItemToArray(errs, x);
    cJSON_AddNullToObject(e, "data");
    fr_reply_json(c, 200, rl, e);
    cJSON_Delete(e);
}

static void add_fault(fr_conn *c, const char *q)
{
    fault f = {.count = 1};
    char v[64];
    if (!qparam(q, "kind", f.kind, sizeof f.kind)) {
        reply_msg(c, 400, "error", "kind is required");
        return;
    }
    static const char *const kinds[] = {"status", "hang", "429", "graphql", "gqlerror", "auth", "html", "html200", "echo"};
    bool known = false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        known = known || strcmp(kinds[i], f.kind) == 0;
    if (!known || n_faults >= MAX_FAULTS) {
        reply_msg(c, 400, "error", known ? "too many faults" : "unknown kind");
        return;
    }
    if (qparam(q, "count", v, sizeof v))
        f.count = atoi(v);
    f.forever = f.count <= 0;
    if (qparam(q, "code", v, sizeof v))
        f.code = atoi(v);
    f.retry_after = qparam(q, "retry_after", v, sizeof v) ? atoi(v) : 1;
    f.after = qparam(q, "after", v, sizeof v) && strcmp(v, "1") == 0;
    f.skip = qparam(q, "skip", v, sizeof v) ? atoi(v) : 0;
    qparam(q, "op", f.op, sizeof f.op);
    faults[n_faults++] = f;
    reply_msg(c, 200, "fault", f.kind);
}

/* ---- GraphQL ---- */

static void log_entry(cJSON *entry)
{
    if (cJSON_GetArraySize(reqlog) >= MAX_LOG)
        cJSON_DeleteItemFromArray(reqlog, 0);
    cJSON_AddItemToArray(reqlog, entry);
}

static void graphql(fr_conn *c, const fr_req *r)
{
    cJSON *entry = cJSON_CreateObject();
    cJSON_AddNumberToObject(entry, "seq", ++req_seq);
    cJSON_AddNumberToObject(entry, "atMs", (double)fr_wall_ms());
    cJSON_AddStringToObject(entry, "tokenKind", r->project_token[0]      ? "project"
                                                : r->authorization[0] ? "bearer"
                                                                      : "none");
    const fr_project *pj = fr_project_of(r);
    cJSON_AddItemToObject(entry, "project", pj ? cJSON_CreateString(pj->name) : cJSON_CreateNull());
    cJSON_AddStringToObject(entry, "userAgent", r->user_agent);
    cJSON *body = cJSON_ParseWithLength(r->body, r->body_len);
    const cJSON *opn = cJSON_GetObjectItemCaseSensitive(body, "operationName");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(body, "query");
    cJSON_AddItemToObject(entry, "query", cJSON_IsString(q) ? cJSON_CreateString(q->valuestring) : cJSON_CreateNull());
    char rl[256];
    int remaining = 0;
    bool allowed = rate_take(rl, sizeof rl, &remaining);
    cJSON_AddNumberToObject(entry, "remaining", remaining);
    if (!allowed) {
        static const char limited[] = "{\"errors\":[{\"message\":\"Rate limit exceeded\"}],\"data\":null}";
        if (cJSON_IsString(opn))
            cJSON_AddStringToObject(entry, "operationName", opn->valuestring);
        fr_reply(c, 429, "application/json", rl, limited, sizeof limited - 1);
        cJSON_AddStringToObject(entry, "fault", "rate_limit");
        cJSON_AddNumberToObject(entry, "status", 429);
        cJSON_AddNullToObject(entry, "answer");
        cJSON_Delete(body);
        log_entry(entry);
        return;
    }
    fault f;
    bool faulty = take_fault(cJSON_IsString(opn) ? opn->valuestring : NULL, cJSON_IsString(q) ? q->valuestring : NULL, &f);
    cJSON_AddItemToObject(entry, "fault", faulty ? cJSON_CreateString(f.kind) : cJSON_CreateNull());
    int status = 0;
    cJSON *ans = NULL;
    if (!faulty || f.after)
        ans = fr_graphql(r, &status, entry);
    else if (cJSON_IsString(opn))
        cJSON_AddStringToObject(entry, "operationName", opn->valuestring);
    if (faulty)
        answer_fault(c, &f, r, &status, rl);
    else
        fr_reply_json(c, status, rl, ans);
    cJSON_AddNumberToObject(entry, "status", status);
    cJSON_AddItemToObject(entry, "answer", ans && !faulty ? ans : cJSON_CreateNull());
    if (faulty)
        cJSON_Delete(ans);
    cJSON_Delete(body);
    log_entry(entry);
}

/* ---- control ---- */

static void control_service(fr_conn *c, const fr_req *r, const char *rest)
{
    char id[FR_ID], verb[16], v[64], err[256] = "";
    const char *slash = strchr(rest, '/');
    if (!slash || (size_t)(slash - rest) >= sizeof id) {
        reply_msg(c, 404, "error", "no such service");
        return;
    }
    memcpy(id, rest, (size_t)(slash - rest));
    id[slash - rest] = '\0';
    snprintf(verb, sizeof verb, "%s", slash + 1);
    fr_svc *s = fr_find_svc(id);
    if (!s) {
        reply_msg(c, 404, "error", "no such service");
        return;
    }
    if (strcmp(verb, "bug") == 0) {
        char broken[64] = "";
        qparam(r->query, "broken", broken, sizeof broken);
        if (!qparam(r->query, "mode", v, sizeof v) || fr_bug(s, v, broken, err, sizeof err)) {
            reply_msg(c, 400, "error", err[0] ? err : "mode is required");
            return;
        }
    } else if (strcmp(verb, "set") == 0) {
        if (qparam(r->query, "deploy_delay_ms", v, sizeof v))
            s->deploy_delay_ms = atoi(v);
        if (qparam(r->query, "outcome", v, sizeof v))
            s->outcome = strcmp(v, "fail") == 0 ? FR_OUT_FAIL : strcmp(v, "hang") == 0 ? FR_OUT_HANG : FR_OUT_SUCCESS;
        if (qparam(r->query, "overlap_ms", v, sizeof v))
            s->overlap_ms = atoi(v);
        if (qparam(r->query, "redeploy", v, sizeof v))
            snprintf(s->redeploy_behaviour, sizeof s->redeploy_behaviour, "%s", strcmp(v, "same") == 0 ? "" : v);
    } else {
        reply_msg(c, 404, "error", "unknown verb");
        return;
    }
    reply_msg(c, 200, "ok", s->id);
}

static void control(fr_conn *c, const fr_req *r)
{
    const char *p = r->path + strlen("/control/");
    if (strcmp(p, "project") == 0) {
        cJSON *j = fr_prov_json();
        fr_reply_json(c, 200, NULL, j);
        cJSON_Delete(j);
    } else if (strcmp(p, "services") == 0) {
        cJSON *j = fr_model_json();
        fr_reply_json(c, 200, NULL, j);
        cJSON_Delete(j);
    } else if (strncmp(p, "services/", 9) == 0) {
        control_service(c, r, p + 9);
    } else if (strncmp(p, "deployments/", 12) == 0) {
        char id[FR_ID] = "", v[8];
        size_t n = strcspn(p + 12, "/");
        fr_dep *d = NULL;
        if (n < sizeof id) {
            memcpy(id, p + 12, n);
            id[n] = '\0';
            d = fr_find_dep(id);
        }
        if (!d) {
            reply_msg(c, 404, "error", "no such deployment");
            return;
        }
        if (qparam(r->query, "can_rollback", v, sizeof v))
            d->can_rollback_ok = strcmp(v, "1") == 0;
        reply_msg(c, 200, "ok", d->id);
    } else if (strcmp(p, "fault") == 0) {
        add_fault(c, r->query);
    } else if (strcmp(p, "faults/clear") == 0) {
        n_faults = 0;
        reply_msg(c, 200, "ok", "cleared");
    } else if (strcmp(p, "requests") == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemReferenceToObject(o, "requests", reqlog);
        fr_reply_json(c, 200, NULL, o);
        cJSON_Delete(o);
    } else if (strcmp(p, "requests/reset") == 0) {
        cJSON_Delete(reqlog);
        reqlog = cJSON_CreateArray();
        reply_msg(c, 200, "ok", "reset");
    } else if (strcmp(p, "health") == 0) {
        reply_msg(c, 200, "ok", "ready");
    } else {
        reply_msg(c, 404, "error", "unknown control path");
    }
}

static void handle(fr_conn *c, const fr_req *r)
{
    if (strncmp(r->path, "/control/", 9) == 0) {
        if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "POST") != 0)
            reply_msg(c, 405, "error", "GET or POST");
        else
            control(c, r);
    } else if (strcmp(r->path, "/graphql/v2") == 0 || strcmp(r->path, "/graphql") == 0) {
        if (strcmp(r->method, "POST") != 0)
            reply_msg(c, 405, "error", "POST only");
        else
            graphql(c, r);
    } else {
        reply_msg(c, 404, "error", "not found");
    }
}

/* ---- lifecycle ---- */

static void print_ready(void)
{
    printf("ready port=%d services=", http_port);
    for (int i = 0; i < FR.n_svcs; i++)
        printf("%s%s@%d/%d", i ? "," : "", FR.svcs[i]->id, FR.svcs[i]->port, FR.svcs[i]->control_port);
    printf("\n");
    fflush(stdout);
}

static void children_gone(void)
{
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    uv_signal_stop(s);
    if (FR.stopping)
        return;
    fr_http_close();
    fr_model_stop(children_gone);
}

static int usage(const char *why)
{
    fprintf(stderr, "fake_railway: %s\nusage: fake_railway --port P --state-dir DIR --flaky-bin PATH --services A,B "
                    "[--environment ID] [--token T] [--token-kind any|bearer|workspace|project] "
                    "[--project NAME:SVC,...:TOKEN] [--deploy-delay-ms N] [--rate-limit N] [--rate-window-ms MS] "
                    "[--rate-reset seconds|epoch] [--host IPV4]\n", why);
    return 2;
}

int main(int argc, char **argv)
{
    const char *services = NULL, *tk = "any", *tok = getenv("FAKE_RAILWAY_TOKEN");
    int port = -1;
    snprintf(FR.env_id, sizeof FR.env_id, "e7a10000-0000-4000-8000-0000000000e1");
    FR.deploy_delay_ms = 300;
    FR.host = "127.0.0.1";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--port") == 0) port = atoi(v);
        else if (strcmp(a, "--state-dir") == 0) FR.state_dir = v;
        else if (strcmp(a, "--flaky-bin") == 0) FR.flaky_bin = v;
        else if (strcmp(a, "--host") == 0) FR.host = v;
        else if (strcmp(a, "--services") == 0) services = v;
        else if (strcmp(a, "--environment") == 0) snprintf(FR.env_id, sizeof FR.env_id, "%s", v);
        else if (strcmp(a, "--token") == 0) tok = v;
        else if (strcmp(a, "--token-kind") == 0) tk = v;
        else if (strcmp(a, "--deploy-delay-ms") == 0) FR.deploy_delay_ms = atoi(v);
        else if (strcmp(a, "--project") == 0) {
            if (fr_add_project(v) < 0)
                return usage("bad --project (NAME:SVC[,SVC...]:TOKEN, at most 8)");
        }
        else if (strcmp(a, "--rate-limit") == 0) rl_limit = atoi(v);
        else if (strcmp(a, "--rate-window-ms") == 0) rl_window_ms = atoll(v);
        else if (strcmp(a, "--rate-reset") == 0) rl_epoch = strcmp(v, "epoch") == 0;
        else return usage("unknown option");
    }
    if (argc % 2 == 0)
        return usage("missing value for an option");
    if (port < 0 || port > 65535 || !FR.state_dir || !FR.flaky_bin || !services)
        return usage("--port, --state-dir, --flaky-bin and --services are required");
    snprintf(FR_AUTH.token, sizeof FR_AUTH.token, "%s", tok ? tok : "");
    FR_AUTH.token_kind = strcmp(tk, "bearer") == 0 ? 1 : strcmp(tk, "project") == 0 ? 2 : strcmp(tk, "workspace") == 0 ? 3 : 0;
    if (rl_limit < 0 || rl_window_ms < 1)
        return usage("--rate-limit must be >= 0 and --rate-window-ms >= 1");
    mkdir(FR.state_dir, 0755);
    signal(SIGPIPE, SIG_IGN);
    reqlog = cJSON_CreateArray();
    uv_loop_init(&loop);
    int e = fr_http_listen(&loop, FR.host, port, handle, &http_port);
    if (e) {
        fprintf(stderr, "fake_railway: listen: %s\n", uv_strerror(e));
        return 1;
    }
    FR.all_ready = print_ready;
    if ((e = fr_model_init(&loop, services)) != 0) {
        fprintf(stderr, "fake_railway: bad --services: %s\n", strerror(-e));
        return 2;
    }
    uv_signal_init(&loop, &sigterm);
    uv_signal_init(&loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_run(&loop, UV_RUN_DEFAULT);
    e = uv_loop_close(&loop);
    fr_model_free();
    fr_prov_free();
    cJSON_Delete(reqlog);
    return e == 0 ? 0 : 1;
}
