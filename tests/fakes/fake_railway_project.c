/* fake_railway_project.c: the fake Railway API's provisioning half, what `medic railway
 * provision|regions|check` calls: regions, project(id) { services }, environment(id) { service
 * and volume instances }, variables, and the mutations serviceCreate, volumeCreate,
 * variableCollectionUpsert, serviceInstanceUpdate, projectTokenCreate and serviceInstanceDeployV2,
 * over a model of the project's services that keeps its state for the fake's life, so a second
 * provisioning run sees what the first made. Every executed mutation is counted
 * (GET /control/project), so a test can tell that a run changed nothing. Answers carry exactly the
 * selected fields (a full record projected through the selection), in the schema's shapes.
 * Railway's own rules the fake enforces: names unique in a project, one volume per service, a
 * service with a volume stays in the volume's region, known and current regions only, a deploy
 * needs a source, variables are strings. */
#include "fake_railway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PV 32

typedef struct {
    char id[FR_ID], name[64];
    char region[64], health[128], start[128], restart[16], dockerfile[256], image[512], repo[256]; /* "" = null */
    cJSON *vars;
    int deploys;
    char last_dep[FR_ID];
    bool has_vol;
    char vol_id[FR_ID], mount[256], vol_region[64];
} pv_svc;

static pv_svc pv[MAX_PV];
static int n_pv;
static unsigned seq, mutations, tokens_made;

static const struct {
    const char *name, *location, *country;
    bool deprecated;
} regions[] = {
    {"us-west2", "California, USA", "US", false},
    {"us-east4-eqdc4a", "Virginia, USA", "US", false},
    {"europe-west4-drams3a", "Amsterdam, Netherlands", "NL", false},
    {"asia-southeast1-eqsg3a", "Singapore", "SG", false},
    {"us-west1", "Oregon, USA", "US", true},
};
#define N_REGIONS (sizeof regions / sizeof regions[0])

static const char *const queries[] = {"regions", "project", "environment", "variables"};
static const char *const muts[] = {"serviceCreate", "volumeCreate", "variableCollectionUpsert",
                                   "serviceInstanceUpdate", "projectTokenCreate", "serviceInstanceDeployV2"};

bool fr_prov_field(const char *name)
{
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++)
        if (strcmp(queries[i], name) == 0)
            return true;
    for (size_t i = 0; i < sizeof muts / sizeof muts[0]; i++)
        if (strcmp(muts[i], name) == 0)
            return true;
    return false;
}

static cJSON *null_or(const char *s)
{
    return s[0] ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* project: a full record read back through a selection (arrays item by item). */
static cJSON *project(const cJSON *full, const fr_field *sel)
{
    if (cJSON_IsArray(full)) {
        cJSON *a = cJSON_CreateArray();
        const cJSON *x;
        cJSON_ArrayForEach(x, full) cJSON_AddItemToArray(a, project(x, sel));
        return a;
    }
    if (!cJSON_IsObject(full))
        return cJSON_Duplicate(full, 1);
    cJSON *o = cJSON_CreateObject();
    for (const fr_field *f = sel; f; f = f->next) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(full, f->name);
        cJSON *out = !v ? cJSON_CreateNull() : f->has_sel ? project(v, f->sel) : cJSON_Duplicate(v, 1);
        cJSON_AddItemToObject(o, f->alias[0] ? f->alias : f->name, out);
    }
    return o;
}

static cJSON *connection(cJSON *nodes)
{
    cJSON *c = cJSON_CreateObject(), *edges = cJSON_AddArrayToObject(c, "edges");
    cJSON *n;
    int i = 0;
    while ((n = cJSON_DetachItemFromArray(nodes, 0)) != NULL) {
        cJSON *e = cJSON_CreateObject();
        char cur[32];
        snprintf(cur, sizeof cur, "c%d", i++);
        cJSON_AddStringToObject(e, "cursor", cur);
        cJSON_AddItemToObject(e, "node", n);
        cJSON_AddItemToArray(edges, e);
    }
    cJSON_Delete(nodes);
    cJSON *pi = cJSON_AddObjectToObject(c, "pageInfo");
    cJSON_AddBoolToObject(pi, "hasNextPage", 0);
    cJSON_AddBoolToObject(pi, "hasPreviousPage", 0);
    cJSON_AddNullToObject(pi, "startCursor");
    cJSON_AddNullToObject(pi, "endCursor");
    return c;
}

static pv_svc *find(const char *id)
{
    for (int i = 0; id && i < n_pv; i++)
        if (strcmp(pv[i].id, id) == 0)
            return &pv[i];
    return NULL;
}

static const char *str_arg(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int region_ok(const char *r)
{
    for (size_t i = 0; r && i < N_REGIONS; i++)
        if (strcmp(regions[i].name, r) == 0)
            return regions[i].deprecated ? -1 : 1;
    return 0;
}

static cJSON *fail(char *err, size_t len, const char *fmt, const char *arg)
{
    snprintf(err, len, fmt, arg ? arg : "");
    return NULL;
}

/* ---- queries ---- */

static cJSON *q_regions(const fr_field *f)
{
    cJSON *all = cJSON_CreateArray();
    for (size_t i = 0; i < N_REGIONS; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "name", regions[i].name);
        cJSON_AddStringToObject(r, "location", regions[i].location);
        cJSON_AddStringToObject(r, "country", regions[i].country);
        cJSON_AddNullToObject(r, "id");
        cJSON_AddStringToObject(r, "region", regions[i].name);
        cJSON *di = cJSON_AddObjectToObject(cJSON_AddObjectToObject(r, "deploymentConstraints"), "deprecationInfo");
        cJSON_AddBoolToObject(di, "isDeprecated", regions[i].deprecated);
        cJSON_AddStringToObject(di, "replacementRegion", regions[i].deprecated ? "us-west2" : "");
        cJSON_AddItemToArray(all, r);
    }
    cJSON *out = project(all, f->sel);
    cJSON_Delete(all);
    return out;
}

static cJSON *q_project(const fr_field *f, const char *project_id, char *err, size_t len)
{
    if (!str_arg(f->args, "id") || strcmp(str_arg(f->args, "id"), project_id) != 0)
        return fail(err, len, "Project not found", NULL);
    cJSON *full = cJSON_CreateObject(), *nodes = cJSON_CreateArray();
    cJSON_AddStringToObject(full, "id", project_id);
    cJSON_AddStringToObject(full, "name", "fake project");
    for (int i = 0; i < FR.n_svcs; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "id", FR.svcs[i]->id);
        cJSON_AddStringToObject(s, "name", FR.svcs[i]->id);
        cJSON_AddStringToObject(s, "projectId", project_id);
        cJSON_AddItemToArray(nodes, s);
    }
    for (int i = 0; i < n_pv; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "id", pv[i].id);
        cJSON_AddStringToObject(s, "name", pv[i].name);
        cJSON_AddStringToObject(s, "projectId", project_id);
        cJSON_AddItemToArray(nodes, s);
    }
    cJSON_AddItemToObject(full, "services", connection(nodes));
    cJSON *out = project(full, f->sel);
    cJSON_Delete(full);
    return out;
}

static cJSON *instance(const char *sid, const char *name, const pv_svc *p)
{
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "serviceId", sid);
    cJSON_AddStringToObject(n, "serviceName", name);
    cJSON_AddStringToObject(n, "environmentId", FR.env_id);
    cJSON_AddItemToObject(n, "region", p ? null_or(p->region) : cJSON_CreateString("us-west2"));
    cJSON_AddItemToObject(n, "healthcheckPath", p ? null_or(p->health) : cJSON_CreateNull());
    cJSON_AddItemToObject(n, "startCommand", p ? null_or(p->start) : cJSON_CreateNull());
    cJSON_AddStringToObject(n, "restartPolicyType", p && p->restart[0] ? p->restart : "ON_FAILURE");
    cJSON_AddItemToObject(n, "dockerfilePath", p ? null_or(p->dockerfile) : cJSON_CreateNull());
    if (p && (p->image[0] || p->repo[0])) {
        cJSON *src = cJSON_AddObjectToObject(n, "source");
        cJSON_AddItemToObject(src, "image", null_or(p->image));
        cJSON_AddItemToObject(src, "repo", null_or(p->repo));
    } else {
        cJSON_AddNullToObject(n, "source");
    }
    if (!p || p->deploys) {
        cJSON *d = cJSON_AddObjectToObject(n, "latestDeployment");
        cJSON_AddStringToObject(d, "id", p ? p->last_dep : "fake-flaky-deployment");
        cJSON_AddStringToObject(d, "status", "SUCCESS");
    } else {
        cJSON_AddNullToObject(n, "latestDeployment");
    }
    return n;
}

static cJSON *q_environment(const fr_field *f, const char *project_id, char *err, size_t len)
{
    const char *id = str_arg(f->args, "id"), *pid = str_arg(f->args, "projectId");
    if (!id || strcmp(id, FR.env_id) != 0 || (pid && strcmp(pid, project_id) != 0))
        return fail(err, len, "Environment not found", NULL);
    cJSON *full = cJSON_CreateObject(), *inst = cJSON_CreateArray(), *vols = cJSON_CreateArray();
    cJSON_AddStringToObject(full, "id", FR.env_id);
    cJSON_AddStringToObject(full, "name", "production");
    cJSON_AddStringToObject(full, "projectId", project_id);
    for (int i = 0; i < FR.n_svcs; i++)
        cJSON_AddItemToArray(inst, instance(FR.svcs[i]->id, FR.svcs[i]->id, NULL));
    for (int i = 0; i < n_pv; i++) {
        cJSON_AddItemToArray(inst, instance(pv[i].id, pv[i].name, &pv[i]));
        if (!pv[i].has_vol)
            continue;
        cJSON *v = cJSON_CreateObject();
        char vid[FR_ID + 8];
        snprintf(vid, sizeof vid, "vi-%s", pv[i].vol_id);
        cJSON_AddStringToObject(v, "id", vid);
        cJSON_AddStringToObject(v, "volumeId", pv[i].vol_id);
        cJSON_AddStringToObject(v, "serviceId", pv[i].id);
        cJSON_AddStringToObject(v, "mountPath", pv[i].mount);
        cJSON_AddStringToObject(v, "region", pv[i].vol_region);
        cJSON_AddStringToObject(v, "environmentId", FR.env_id);
        cJSON_AddItemToArray(vols, v);
    }
    cJSON_AddItemToObject(full, "serviceInstances", connection(inst));
    cJSON_AddItemToObject(full, "volumeInstances", connection(vols));
    cJSON *out = project(full, f->sel);
    cJSON_Delete(full);
    return out;
}

/* Checks the project and environment ids a call names; returns the service (NULL when the
 * call names none, or with err set when it names an unknown one). */
static bool scope_ok(const cJSON *o, const char *project_id, char *err, size_t len)
{
    const char *pid = str_arg(o, "projectId"), *eid = str_arg(o, "environmentId");
    if (pid && strcmp(pid, project_id) != 0)
        return fail(err, len, "Project not found", NULL), false;
    if (eid && strcmp(eid, FR.env_id) != 0)
        return fail(err, len, "Environment not found", NULL), false;
    return true;
}

static cJSON *q_variables(const fr_field *f, const char *project_id, char *err, size_t len)
{
    if (!scope_ok(f->args, project_id, err, len))
        return NULL;
    const char *sid = str_arg(f->args, "serviceId");
    pv_svc *p = find(sid);
    if (sid && !p && !fr_find_svc(sid))
        return fail(err, len, "Service not found", NULL);
    return p && p->vars ? cJSON_Duplicate(p->vars, 1) : cJSON_CreateObject();
}

/* ---- mutations ---- */

static cJSON *m_service_create(const fr_field *f, const char *project_id, char *err, size_t len)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(f->args, "input");
    const char *name = str_arg(in, "name");
    if (!str_arg(in, "projectId") || !scope_ok(in, project_id, err, len))
        return err[0] ? NULL : fail(err, len, "Project not found", NULL);
    if (!name || !name[0] || strlen(name) >= sizeof pv[0].name)
        return fail(err, len, "Invalid service name", NULL);
    for (int i = 0; i < n_pv; i++)
        if (strcmp(pv[i].name, name) == 0)
            return fail(err, len, "A service named %s already exists in this project", name);
    if (fr_find_svc(name))
        return fail(err, len, "A service named %s already exists in this project", name);
    if (n_pv >= MAX_PV)
        return fail(err, len, "Too many services", NULL);
    pv_svc *p = &pv[n_pv++];
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "5e700000-0000-4000-8000-%012x", ++seq);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->vars = cJSON_CreateObject();
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(in, "source");
    if (str_arg(src, "image"))
        snprintf(p->image, sizeof p->image, "%s", str_arg(src, "image"));
    if (str_arg(src, "repo"))
        snprintf(p->repo, sizeof p->repo, "%s", str_arg(src, "repo"));
    cJSON *full = cJSON_CreateObject();
    cJSON_AddStringToObject(full, "id", p->id);
    cJSON_AddStringToObject(full, "name", p->name);
    cJSON_AddStringToObject(full, "projectId", project_id);
    cJSON *out = project(full, f->sel);
    cJSON_Delete(full);
    return out;
}

static cJSON *m_volume_create(const fr_field *f, const char *project_id, char *err, size_t len)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(f->args, "input");
    if (!scope_ok(in, project_id, err, len))
        return NULL;
    pv_svc *p = find(str_arg(in, "serviceId"));
    const char *mount = str_arg(in, "mountPath"), *region = str_arg(in, "region");
    if (!p)
        return fail(err, len, "Service not found", NULL);
    if (!mount || mount[0] != '/')
        return fail(err, len, "mountPath must be an absolute path", NULL);
    if (region && region_ok(region) != 1)
        return fail(err, len, "Invalid region %s", region);
    if (p->has_vol)
        return fail(err, len, "Service %s already has a volume", p->name);
    p->has_vol = true;
    snprintf(p->vol_id, sizeof p->vol_id, "70100000-0000-4000-8000-%012x", ++seq);
    snprintf(p->mount, sizeof p->mount, "%s", mount);
    snprintf(p->vol_region, sizeof p->vol_region, "%s", region ? region : "us-west2");
    cJSON *full = cJSON_CreateObject();
    cJSON_AddStringToObject(full, "id", p->vol_id);
    cJSON_AddStringToObject(full, "name", "fake-volume");
    cJSON_AddStringToObject(full, "projectId", project_id);
    cJSON *out = project(full, f->sel);
    cJSON_Delete(full);
    return out;
}

static cJSON *m_variables(const fr_field *f, const char *project_id, char *err, size_t len)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(f->args, "input");
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(in, "variables"), *v;
    if (!scope_ok(in, project_id, err, len))
        return NULL;
    pv_svc *p = find(str_arg(in, "serviceId"));
    if (!p)
        return fail(err, len, "Service not found", NULL);
    if (!cJSON_IsObject(vars))
        return fail(err, len, "variables must be an object", NULL);
    cJSON_ArrayForEach(v, vars) if (!cJSON_IsString(v)) return fail(err, len, "Variable %s must be a string", v->string);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "replace"))) {
        cJSON_Delete(p->vars);
        p->vars = cJSON_CreateObject();
    }
    cJSON_ArrayForEach(v, vars)
    {
        cJSON_DeleteItemFromObjectCaseSensitive(p->vars, v->string);
        cJSON_AddStringToObject(p->vars, v->string, v->valuestring);
    }
    return cJSON_CreateTrue();
}

static cJSON *m_instance_update(const fr_field *f, char *err, size_t len)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(f->args, "input");
    const char *eid = str_arg(f->args, "environmentId");
    pv_svc *p = find(str_arg(f->args, "serviceId"));
    if (!p)
        return fail(err, len, "Service not found", NULL);
    if (eid && strcmp(eid, FR.env_id) != 0)
        return fail(err, len, "Environment not found", NULL);
    const char *region = str_arg(in, "region"), *rp = str_arg(in, "restartPolicyType");
    if (region && region_ok(region) != 1)
        return fail(err, len, "Invalid region %s", region);
    if (region && p->has_vol && strcmp(region, p->vol_region) != 0)
        return fail(err, len, "A service with a volume stays in the volume's region (%s)", p->vol_region);
    if (rp && strcmp(rp, "ALWAYS") != 0 && strcmp(rp, "NEVER") != 0 && strcmp(rp, "ON_FAILURE") != 0)
        return fail(err, len, "Invalid restartPolicyType %s", rp);
    if (region)
        snprintf(p->region, sizeof p->region, "%s", region);
    if (rp)
        snprintf(p->restart, sizeof p->restart, "%s", rp);
    if (str_arg(in, "healthcheckPath"))
        snprintf(p->health, sizeof p->health, "%s", str_arg(in, "healthcheckPath"));
    if (str_arg(in, "startCommand"))
        snprintf(p->start, sizeof p->start, "%s", str_arg(in, "startCommand"));
    if (str_arg(in, "dockerfilePath"))
        snprintf(p->dockerfile, sizeof p->dockerfile, "%s", str_arg(in, "dockerfilePath"));
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(in, "source");
    if (cJSON_IsObject(src)) {
        snprintf(p->image, sizeof p->image, "%s", str_arg(src, "image") ? str_arg(src, "image") : "");
        snprintf(p->repo, sizeof p->repo, "%s", str_arg(src, "repo") ? str_arg(src, "repo") : "");
    }
    return cJSON_CreateTrue();
}

static cJSON *m_token_create(const fr_field *f, const char *project_id, char *err, size_t len)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(f->args, "input");
    if (!str_arg(in, "projectId") || !str_arg(in, "environmentId") || !str_arg(in, "name") ||
        !scope_ok(in, project_id, err, len))
        return err[0] ? NULL : fail(err, len, "projectId, environmentId and name are required", NULL);
    char t[64];
    snprintf(t, sizeof t, "fake-project-token-%08x", ++tokens_made);
    return cJSON_CreateString(t);
}

static cJSON *m_deploy(const fr_field *f, char *err, size_t len)
{
    pv_svc *p = find(str_arg(f->args, "serviceId"));
    const char *eid = str_arg(f->args, "environmentId");
    if (!p)
        return fail(err, len, "Service not found", NULL);
    if (!eid || strcmp(eid, FR.env_id) != 0)
        return fail(err, len, "Environment not found", NULL);
    if (!p->image[0] && !p->repo[0])
        return fail(err, len, "Service %s has no source to deploy", p->name);
    p->deploys++;
    snprintf(p->last_dep, sizeof p->last_dep, "de900000-0000-4000-8000-%012x", ++seq);
    return cJSON_CreateString(p->last_dep);
}

cJSON *fr_prov_exec(const fr_field *f, const char *project_id, char *err, size_t len)
{
    const char *n = f->name;
    err[0] = '\0';
    if (strcmp(n, "regions") == 0)
        return q_regions(f);
    if (strcmp(n, "project") == 0)
        return q_project(f, project_id, err, len);
    if (strcmp(n, "environment") == 0)
        return q_environment(f, project_id, err, len);
    if (strcmp(n, "variables") == 0)
        return q_variables(f, project_id, err, len);
    cJSON *v = strcmp(n, "serviceCreate") == 0              ? m_service_create(f, project_id, err, len)
               : strcmp(n, "volumeCreate") == 0             ? m_volume_create(f, project_id, err, len)
               : strcmp(n, "variableCollectionUpsert") == 0 ? m_variables(f, project_id, err, len)
               : strcmp(n, "serviceInstanceUpdate") == 0    ? m_instance_update(f, err, len)
               : strcmp(n, "projectTokenCreate") == 0       ? m_token_create(f, project_id, err, len)
                                                            : m_deploy(f, err, len);
    if (v)
        mutations++;
    return v;
}

cJSON *fr_prov_json(void)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddNumberToObject(o, "mutations", mutations);
    cJSON_AddNumberToObject(o, "tokensCreated", tokens_made);
    for (int i = 0; i < n_pv; i++) {
        const pv_svc *p = &pv[i];
        cJSON *s = instance(p->id, p->name, p);
        cJSON_AddStringToObject(s, "id", p->id);
        cJSON_AddStringToObject(s, "name", p->name);
        cJSON_AddItemToObject(s, "variables", cJSON_Duplicate(p->vars, 1));
        cJSON_AddNumberToObject(s, "deployments", p->deploys);
        if (p->has_vol) {
            cJSON *v = cJSON_AddObjectToObject(s, "volume");
            cJSON_AddStringToObject(v, "id", p->vol_id);
            cJSON_AddStringToObject(v, "mountPath", p->mount);
            cJSON_AddStringToObject(v, "region", p->vol_region);
        } else {
            cJSON_AddNullToObject(s, "volume");
        }
        cJSON_AddItemToArray(arr, s);
    }
    cJSON_AddItemToObject(o, "services", arr);
    return o;
}

void fr_prov_free(void)
{
    for (int i = 0; i < n_pv; i++)
        cJSON_Delete(pv[i].vars);
    n_pv = 0;
}
