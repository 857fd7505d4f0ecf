/* fake_railway_exec.c: the fake Railway API's GraphQL back half: the token check (as backboard:
 * HTTP 200 with "Not Authorized" or "Project Token not found"; project tokens of --project reach
 * their own services only; projectToken answers only a project token, apiToken only a Bearer one,
 * me only an account token), and execution over the model,
 * answering exactly the selected fields in the schema's shapes: Boolean! for restart and
 * rollback, the new Deployment! for redeploy (provisioning fields: fake_railway_project.c), the DeploymentStatus spelling, errors as
 * {"errors":[{"message","path","extensions":{"code","traceId"}}],"data":null}. */
#include "fake_railway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fr_auth FR_AUTH;

#define PROJECT_ID "5a1e0000-0000-4000-8000-00000000f00d"
#define WORKSPACE_ID "0a1e0000-0000-4000-8000-0000000005ca"
#define USER_ID "0a1e0000-0000-4000-8000-000000000e5e"
#define PTOKEN_ID "0a1e0000-0000-4000-8000-0000000070ce"

static unsigned trace_seq;

static cJSON *error_answer(const char *msg, const char *code, const char *path)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *errs = cJSON_AddArrayToObject(root, "errors");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "message", msg);
    if (path) {
        cJSON *p = cJSON_AddArrayToObject(e, "path");
        cJSON_AddItemToArray(p, cJSON_CreateString(path));
    }
    cJSON *ext = cJSON_AddObjectToObject(e, "extensions");
    if (code)
        cJSON_AddStringToObject(ext, "code", code);
    char t[32];
    snprintf(t, sizeof t, "fake-%08x", ++trace_seq);
    cJSON_AddStringToObject(ext, "traceId", t);
    cJSON_AddItemToArray(errs, e);
    cJSON_AddNullToObject(root, "data");
    return root;
}

static const char *key(const fr_field *f)
{
    return f->alias[0] ? f->alias : f->name;
}

static cJSON *time_str(int64_t ms)
{
    char t[40];
    fr_iso_time(ms, t, sizeof t);
    return cJSON_CreateString(t);
}

static cJSON *emit_dep(const fr_dep *d, const fr_field *sel)
{
    cJSON *o = cJSON_CreateObject();
    for (const fr_field *f = sel; f; f = f->next) {
        const char *n = f->name;
        cJSON *v = strcmp(n, "id") == 0                  ? cJSON_CreateString(d->id)
                   : strcmp(n, "status") == 0            ? cJSON_CreateString(fr_status_names[d->status])
                   : strcmp(n, "createdAt") == 0         ? time_str(d->created_ms)
                   : strcmp(n, "updatedAt") == 0         ? time_str(d->updated_ms)
                   : strcmp(n, "statusUpdatedAt") == 0   ? time_str(d->status_ms)
                   : strcmp(n, "canRedeploy") == 0       ? cJSON_CreateBool(fr_can_redeploy(d))
                   : strcmp(n, "canRollback") == 0       ? cJSON_CreateBool(fr_can_rollback(d))
                   : strcmp(n, "deploymentStopped") == 0 ? cJSON_CreateBool(d->status == FR_REMOVED ||
                                                                            d->status == FR_CRASHED)
                   : strcmp(n, "serviceId") == 0         ? cJSON_CreateString(d->svc->id)
                   : strcmp(n, "environmentId") == 0     ? cJSON_CreateString(FR.env_id)
                   : strcmp(n, "projectId") == 0         ? cJSON_CreateString(PROJECT_ID)
                   : strcmp(n, "__typename") == 0        ? cJSON_CreateString("Deployment")
                                                         : cJSON_CreateNull(); /* staticUrl, url */
        cJSON_AddItemToObject(o, key(f), v);
    }
    return o;
}

static cJSON *emit_instance(const fr_svc *s, const fr_field *sel)
{
    cJSON *o = cJSON_CreateObject();
    for (const fr_field *f = sel; f; f = f->next) {
        const char *n = f->name;
        cJSON *v;
        if (strcmp(n, "latestDeployment") == 0) {
            v = s->n_deps ? emit_dep(s->deps[s->n_deps - 1], f->sel) : cJSON_CreateNull();
        } else if (strcmp(n, "activeDeployments") == 0) {
            v = cJSON_CreateArray();
            /* While a new deployment takes over, the old one is still active (listed first). */
            if (s->draining)
                cJSON_AddItemToArray(v, emit_dep(s->draining, f->sel));
            if (s->active)
                cJSON_AddItemToArray(v, emit_dep(s->active, f->sel));
        } else if (strcmp(n, "id") == 0) {
            char id[FR_ID * 2];
            snprintf(id, sizeof id, "si-%s", s->id);
            v = cJSON_CreateString(id);
        } else if (strcmp(n, "numReplicas") == 0) {
            v = cJSON_CreateNumber(1);
        } else if (strcmp(n, "environmentId") == 0) {
            v = cJSON_CreateString(FR.env_id);
        } else if (strcmp(n, "__typename") == 0) {
            v = cJSON_CreateString("ServiceInstance");
        } else {
            v = cJSON_CreateString(s->id); /* serviceId, serviceName */
        }
        cJSON_AddItemToObject(o, key(f), v);
    }
    return o;
}

static bool status_in(const cJSON *list, const fr_dep *d)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, list)
    {
        if (cJSON_IsString(x) && strcmp(x->valuestring, fr_status_names[d->status]) == 0)
            return true;
    }
    return false;
}

/* deployments(input, first, after): newest first, filtered by the input. */
static cJSON *emit_list(const fr_svc *s, const cJSON *args, const fr_field *sel)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(args, "input");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(in, "status");
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(args, "first");
    const cJSON *after = cJSON_GetObjectItemCaseSensitive(args, "after");
    int limit = cJSON_IsNumber(first) && first->valueint >= 0 ? first->valueint : 1000;
    const fr_dep *list[FR_MAX_DEPS];
    int n = 0;
    bool skipping = cJSON_IsString(after);
    for (int k = s ? s->n_deps - 1 : -1; k >= 0; k--) {
        const fr_dep *d = s->deps[k];
        if (skipping) {
            skipping = strcmp(d->id, after->valuestring) != 0;
            continue;
        }
        if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(st, "in")) &&
            !status_in(cJSON_GetObjectItemCaseSensitive(st, "in"), d))
            continue;
        if (status_in(cJSON_GetObjectItemCaseSensitive(st, "notIn"), d))
            continue;
        list[n++] = d;
    }
    bool more = n > limit;
    if (more)
        n = limit;
    cJSON *o = cJSON_CreateObject();
    for (const fr_field *f = sel; f; f = f->next) {
        cJSON *v;
        if (strcmp(f->name, "edges") == 0) {
            v = cJSON_CreateArray();
            for (int i = 0; i < n; i++) {
                cJSON *e = cJSON_CreateObject();
                for (const fr_field *g = f->sel; g; g = g->next)
                    cJSON_AddItemToObject(e, key(g),
                                          strcmp(g->name, "node") == 0     ? emit_dep(list[i], g->sel)
                                          : strcmp(g->name, "cursor") == 0 ? cJSON_CreateString(list[i]->id)
                                                                           : cJSON_CreateString("QueryDeploymentsConnectionEdge"));
                cJSON_AddItemToArray(v, e);
            }
        } else if (strcmp(f->name, "pageInfo") == 0) {
            v = cJSON_CreateObject();
            for (const fr_field *g = f->sel; g; g = g->next) {
                const char *gn = g->name;
                cJSON *x = strcmp(gn, "hasNextPage") == 0       ? cJSON_CreateBool(more)
                           : strcmp(gn, "hasPreviousPage") == 0 ? cJSON_CreateBool(cJSON_IsString(after))
                           : strcmp(gn, "startCursor") == 0     ? (n ? cJSON_CreateString(list[0]->id) : cJSON_CreateNull())
                           : strcmp(gn, "endCursor") == 0 ? (n ? cJSON_CreateString(list[n - 1]->id) : cJSON_CreateNull())
                                                          : cJSON_CreateString("PageInfo");
                cJSON_AddItemToObject(v, key(g), x);
            }
        } else {
            v = cJSON_CreateString("QueryDeploymentsConnection");
        }
        cJSON_AddItemToObject(o, key(f), v);
    }
    return o;
}

static const char *arg_str(const fr_field *f, const char *name)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(f->args, name);
    return cJSON_IsString(a) ? a->valuestring : NULL;
}

/* The token check's objects: only what a token can tell about itself. */
static cJSON *emit_token(const fr_field *f)
{
    const char *n = f->name;
    cJSON *o = cJSON_CreateObject();
    for (const fr_field *g = f->sel; g; g = g->next) {
        const char *gn = g->name;
        cJSON *v;
        if (strcmp(n, "apiToken") == 0 && strcmp(gn, "workspaces") == 0) {
            v = cJSON_CreateArray();
            cJSON *w = cJSON_CreateObject();
            for (const fr_field *h = g->sel; h; h = h->next)
                cJSON_AddStringToObject(w, key(h), strcmp(h->name, "id") == 0     ? WORKSPACE_ID
                                                   : strcmp(h->name, "name") == 0 ? "fake workspace"
                                                                                  : "ApiTokenWorkspace");
            cJSON_AddItemToArray(v, w);
        } else if (strcmp(gn, "__typename") == 0) {
            v = cJSON_CreateString(strcmp(n, "me") == 0 ? "User" : strcmp(n, "apiToken") == 0 ? "ApiTokenContext"
                                                                                                : "ProjectToken");
        } else if (strcmp(n, "me") == 0) {
            v = strcmp(gn, "id") == 0 ? cJSON_CreateString(USER_ID) : cJSON_CreateNull(); /* name, username */
        } else if (strcmp(gn, "createdAt") == 0) {
            v = time_str(fr_wall_ms() - 86400000);
        } else {
            v = cJSON_CreateString(strcmp(gn, "projectId") == 0       ? PROJECT_ID
                                   : strcmp(gn, "environmentId") == 0 ? FR.env_id
                                   : strcmp(gn, "id") == 0            ? PTOKEN_ID
                                   : strcmp(gn, "displayToken") == 0  ? "****"
                                                                      : "medic remediation");
        }
        cJSON_AddItemToObject(o, key(g), v);
    }
    return o;
}

/* One root field: its value, or NULL with the error message in err. */
static cJSON *exec_field(const fr_field *f, char *err, size_t len)
{
    const char *n = f->name;
    if (fr_prov_field(n))
        return fr_prov_exec(f, PROJECT_ID, err, len);
    if (strcmp(n, "projectToken") == 0 || strcmp(n, "apiToken") == 0 || strcmp(n, "me") == 0)
        return emit_token(f);
    if (strcmp(n, "serviceInstance") == 0 || strcmp(n, "serviceInstanceRedeploy") == 0) {
        fr_svc *s = fr_find_svc(arg_str(f, "serviceId"));
        const char *env = arg_str(f, "environmentId");
        if (!s || !env || strcmp(env, FR.env_id) != 0)
            return snprintf(err, len, "ServiceInstance not found"), NULL;
        if (n[15] == '\0')
            return emit_instance(s, f->sel);
        fr_dep *nd;
        if (!s->n_deps || fr_redeploy(s->deps[s->n_deps - 1], &nd, err, len))
            return s->n_deps ? NULL : (snprintf(err, len, "No deployment to redeploy"), NULL);
        return cJSON_CreateTrue();
    }
    if (strcmp(n, "deployments") == 0) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(f->args, "input");
        const cJSON *sid = cJSON_GetObjectItemCaseSensitive(in, "serviceId");
        const cJSON *env = cJSON_GetObjectItemCaseSensitive(in, "environmentId");
        if (cJSON_IsString(env) && strcmp(env->valuestring, FR.env_id) != 0)
            return emit_list(NULL, f->args, f->sel);
        return emit_list(cJSON_IsString(sid) ? fr_find_svc(sid->valuestring) : NULL, f->args, f->sel);
    }
    fr_dep *d = fr_find_dep(arg_str(f, "id"));
    if (!d)
        return snprintf(err, len, "Deployment not found"), NULL;
    if (strcmp(n, "deployment") == 0)
        return emit_dep(d, f->sel);
    if (strcmp(n, "deploymentRestart") == 0)
        return fr_restart(d, err, len) ? NULL : cJSON_CreateTrue();
    if (strcmp(n, "deploymentRollback") == 0)
        return fr_rollback(d, err, len) ? NULL : cJSON_CreateTrue();
    fr_dep *nd = NULL; /* deploymentRedeploy */
    return fr_redeploy(d, &nd, err, len) ? NULL : emit_dep(nd, f->sel);
}

int fr_add_project(const char *spec)
{
    const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2 || c1 == spec || c2 == c1 + 1 || !c2[1] || FR_AUTH.n_projects >= FR_MAX_PROJECTS ||
        (size_t)(c1 - spec) >= sizeof FR_AUTH.projects[0].name || strlen(c2 + 1) >= sizeof FR_AUTH.projects[0].token)
        return -1;
    fr_project *p = &FR_AUTH.projects[FR_AUTH.n_projects];
    memset(p, 0, sizeof *p);
    memcpy(p->name, spec, (size_t)(c1 - spec));
    snprintf(p->token, sizeof p->token, "%s", c2 + 1);
    for (const char *s = c1 + 1; s < c2;) {
        size_t n = strcspn(s, ",:");
        if (n == 0 || n >= FR_ID || p->n_services >= FR_MAX_SVCS)
            return -1;
        memcpy(p->services[p->n_services++], s, n);
        s += n + (s[n] == ',');
    }
    FR_AUTH.n_projects++;
    return 0;
}

static const char *presented_token(const fr_req *r)
{
    if (r->project_token[0])
        return r->project_token;
    if (strncmp(r->authorization, "Bearer ", 7) == 0 && r->authorization[7])
        return r->authorization + 7;
    return NULL;
}

const fr_project *fr_project_of(const fr_req *r)
{
    const char *tok = presented_token(r);
    for (int i = 0; tok && i < FR_AUTH.n_projects; i++)
        if (strcmp(FR_AUTH.projects[i].token, tok) == 0)
            return &FR_AUTH.projects[i];
    return NULL;
}

/* touched_service: the service a root field reads or changes (by serviceId, input.serviceId or a
 * deployment's id), or NULL when it names none the model knows. */
static const char *touched_service(const fr_field *f)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(f->args, "input");
    const cJSON *isid = cJSON_GetObjectItemCaseSensitive(in, "serviceId");
    const char *sid = arg_str(f, "serviceId");
    if (!sid && cJSON_IsString(isid))
        sid = isid->valuestring;
    const fr_dep *d = !sid && arg_str(f, "id") ? fr_find_dep(arg_str(f, "id")) : NULL;
    return d ? d->svc->id : sid;
}

static bool in_project(const fr_project *p, const char *svc)
{
    for (int i = 0; svc && i < p->n_services; i++)
        if (strcmp(p->services[i], svc) == 0)
            return true;
    return !svc;
}

/* Backboard answers a bad token with HTTP 200 and a GraphQL error, never 401. A token given with
 * --project reaches only that project's services; --token (or, with neither, any token) reaches
 * them all. */
static const char *auth_error(const fr_req *r, const fr_field *root)
{
    bool project = r->project_token[0] != '\0';
    const char *tok = presented_token(r), *refused = project ? "Project Token not found" : "Not Authorized";
    /* token kinds: 1 bearer only (an account token), 2 project only, 3 bearer only (a workspace token) */
    if (!tok || (project && (FR_AUTH.token_kind == 1 || FR_AUTH.token_kind == 3)) ||
        (!project && FR_AUTH.token_kind == 2))
        return refused;
    const fr_project *pj = fr_project_of(r);
    if (!pj && (FR_AUTH.token[0] ? strcmp(tok, FR_AUTH.token) != 0 : FR_AUTH.n_projects > 0))
        return refused;
    for (const fr_field *f = root; f; f = f->next) {
        if (pj && !in_project(pj, touched_service(f)))
            return "Not Authorized";
        if (!project) {
            /* projectToken needs a project token; me an account token. */
            if (strcmp(f->name, "projectToken") == 0 || (strcmp(f->name, "me") == 0 && FR_AUTH.token_kind == 3))
                return "Not Authorized";
            continue;
        }
        /* A project token reaches one environment only, and says nothing about accounts; the fake
         * lets only account and workspace tokens provision. */
        if (strcmp(f->name, "me") == 0 || strcmp(f->name, "apiToken") == 0 || fr_prov_field(f->name))
            return "Not Authorized";
        const char *env = arg_str(f, "environmentId");
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(f->args, "input");
        const cJSON *ie = cJSON_GetObjectItemCaseSensitive(in, "environmentId");
        if ((env && strcmp(env, FR.env_id) != 0) || (cJSON_IsString(ie) && strcmp(ie->valuestring, FR.env_id) != 0))
            return "Not Authorized";
    }
    return NULL;
}

cJSON *fr_graphql(const fr_req *r, int *status, cJSON *info)
{
    *status = 200;
    cJSON *body = cJSON_ParseWithLength(r->body, r->body_len);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(body, "query");
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(body, "variables");
    const cJSON *opn = cJSON_GetObjectItemCaseSensitive(body, "operationName");
    if (cJSON_IsString(opn))
        cJSON_AddStringToObject(info, "operationName", opn->valuestring);
    cJSON_AddItemToObject(info, "variables", vars ? cJSON_Duplicate(vars, 1) : cJSON_CreateNull());
    if (!cJSON_IsString(q)) {
        cJSON_Delete(body);
        *status = 400;
        return error_answer("Must provide query string.", "BAD_REQUEST", NULL);
    }
    bool mutation;
    char opname[64], err[512] = "";
    fr_field *root = fr_gq_parse(q->valuestring, strlen(q->valuestring), vars, &mutation, opname, sizeof opname, err,
                                 sizeof err);
    cJSON *fields = cJSON_AddArrayToObject(info, "fields");
    cJSON *touched = cJSON_AddArrayToObject(info, "services");
    for (const fr_field *f = root; f; f = f->next) {
        cJSON_AddItemToArray(fields, cJSON_CreateString(f->name));
        if (touched_service(f))
            cJSON_AddItemToArray(touched, cJSON_CreateString(touched_service(f)));
    }
    cJSON *ans = NULL;
    const char *denied = NULL;
    if (!root) {
        *status = 400;
        ans = error_answer(err, "GRAPHQL_PARSE_FAILED", NULL);
    } else if (cJSON_IsString(opn) && opname[0] && strcmp(opn->valuestring, opname) != 0) {
        *status = 400;
        ans = error_answer("Unknown operation named for operationName.", "GRAPHQL_VALIDATION_FAILED", NULL);
    } else if (fr_gq_validate(root, mutation, err, sizeof err)) {
        *status = 400;
        ans = error_answer(err, "GRAPHQL_VALIDATION_FAILED", NULL);
    } else if ((denied = auth_error(r, root))) {
        ans = error_answer(denied, NULL, root->name);
    } else {
        cJSON *data = cJSON_CreateObject();
        for (const fr_field *f = root; f && !ans; f = f->next) {
            cJSON *v = strcmp(f->name, "__typename") == 0 ? cJSON_CreateString(mutation ? "Mutation" : "Query")
                                                          : exec_field(f, err, sizeof err);
            if (!v)
                ans = error_answer(err, "BAD_USER_INPUT", key(f));
            else
                cJSON_AddItemToObject(data, key(f), v);
        }
        if (ans) {
            cJSON_Delete(data);
        } else {
            ans = cJSON_CreateObject();
            cJSON_AddItemToObject(ans, "data", data);
        }
    }
    fr_gq_free(root);
    cJSON_Delete(body);
    return ans;
}
