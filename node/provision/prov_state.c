/* prov_state.c: what the project holds of our services, read from the answers of MedicProject,
 * MedicEnvironment and MedicVariables (railway/documents.c). Only the services named like ours
 * matter; the project's others are never looked at. Bad shapes are errors, never asserts: the
 * answers come from outside. */
#include "provision/provision.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void md_prov_service_name(const char *prefix, size_t i, char *out, size_t len)
{
    snprintf(out, len, "%s-n%zu", prefix, i + 1);
}

static int bad(char *err, size_t len, const char *what)
{
    snprintf(err, len, "%s", what);
    return -EBADMSG;
}

static void copy(char *dst, size_t cap, const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

/* edges: the node objects of a connection obj.name { edges { node } }; NULL when malformed. */
static const cJSON *edges(const cJSON *obj, const char *name)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, name), "edges");
    return cJSON_IsArray(e) ? e : NULL;
}

static md_prov_service *by_id(md_prov_state *s, const char *id)
{
    for (size_t i = 0; id && i < s->n; i++)
        if (s->svc[i].exists && strcmp(s->svc[i].id, id) == 0)
            return &s->svc[i];
    return NULL;
}

static int read_instances(md_prov_state *s, const cJSON *env, char *err, size_t errlen)
{
    const cJSON *list = edges(env, "serviceInstances"), *e;
    if (!list)
        return bad(err, errlen, "environment: no serviceInstances.edges");
    cJSON_ArrayForEach(e, list)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "node");
        const cJSON *sid = cJSON_GetObjectItemCaseSensitive(n, "serviceId");
        if (!cJSON_IsObject(n) || !cJSON_IsString(sid))
            return bad(err, errlen, "environment: a service instance without serviceId");
        md_prov_service *v = by_id(s, sid->valuestring);
        if (!v)
            continue;
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(n, "source");
        const cJSON *ld = cJSON_GetObjectItemCaseSensitive(n, "latestDeployment");
        v->has_instance = true;
        copy(v->region, sizeof v->region, n, "region");
        copy(v->healthcheck, sizeof v->healthcheck, n, "healthcheckPath");
        copy(v->start, sizeof v->start, n, "startCommand");
        copy(v->restart, sizeof v->restart, n, "restartPolicyType");
        copy(v->dockerfile, sizeof v->dockerfile, n, "dockerfilePath");
        copy(v->image, sizeof v->image, src, "image");
        copy(v->repo, sizeof v->repo, src, "repo");
        v->deployed = cJSON_IsObject(ld);
    }
    list = edges(env, "volumeInstances");
    if (!list)
        return bad(err, errlen, "environment: no volumeInstances.edges");
    cJSON_ArrayForEach(e, list)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "node");
        const cJSON *sid = cJSON_GetObjectItemCaseSensitive(n, "serviceId");
        md_prov_service *v = cJSON_IsString(sid) ? by_id(s, sid->valuestring) : NULL;
        if (!v)
            continue; /* a volume of another service, or a detached one */
        v->has_volume = true;
        copy(v->mount, sizeof v->mount, n, "mountPath");
        copy(v->volume_region, sizeof v->volume_region, n, "region");
    }
    return 0;
}

int md_prov_state_read(md_prov_state *s, const md_prov_desired *d, const char *project_data, const char *env_data,
                       char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->n = d->n_nodes;
    for (size_t i = 0; i < s->n; i++)
        md_prov_service_name(d->prefix, i, s->svc[i].name, sizeof s->svc[i].name);
    cJSON *pj = cJSON_Parse(project_data), *ej = cJSON_Parse(env_data);
    int rc = 0;
    const cJSON *project = cJSON_GetObjectItemCaseSensitive(pj, "project");
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(ej, "environment");
    const cJSON *list = edges(project, "services"), *e;
    if (!list || !cJSON_IsObject(env)) {
        rc = bad(err, errlen, list ? "no environment in the answer" : "project: no services.edges");
        goto out;
    }
    cJSON_ArrayForEach(e, list)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "node");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(n, "id"), *name = cJSON_GetObjectItemCaseSensitive(n, "name");
        if (!cJSON_IsString(id) || !cJSON_IsString(name)) {
            rc = bad(err, errlen, "project: a service without id or name");
            goto out;
        }
        for (size_t i = 0; i < s->n; i++) {
            if (strcmp(s->svc[i].name, name->valuestring) != 0)
                continue;
            if (s->svc[i].exists) {
                snprintf(err, errlen, "the project has two services named %s: remove one", name->valuestring);
                rc = -EBADMSG;
                goto out;
            }
            s->svc[i].exists = true;
            snprintf(s->svc[i].id, sizeof s->svc[i].id, "%s", id->valuestring);
        }
    }
    rc = read_instances(s, env, err, errlen);
out:
    cJSON_Delete(pj);
    cJSON_Delete(ej);
    return rc;
}

int md_prov_state_vars(md_prov_state *s, size_t i, const char *variables_data, char *err, size_t errlen)
{
    cJSON *root = cJSON_Parse(variables_data);
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(root, "variables");
    cJSON_Delete(root);
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return bad(err, errlen, "variables: not a JSON object");
    }
    cJSON_Delete(s->svc[i].vars);
    s->svc[i].vars = v;
    return 0;
}

void md_prov_state_free(md_prov_state *s)
{
    for (size_t i = 0; i < MD_PROV_MAX_NODES; i++) {
        cJSON_Delete(s->svc[i].vars);
        s->svc[i].vars = NULL;
    }
}
