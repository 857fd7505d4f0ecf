/* prov_config.c: the MEDIC_CONFIG every provisioned node runs: the user's config with what the
 * cluster on Railway decides filled in. Nodes differ only by the variables it references
 * (MEDIC_NODE_ID, MEDIC_REGION), so one text serves all and a change to it shows in every plan.
 * Secrets are never written into it: ${VAR} references that the node's config loader expands from
 * the service's variables. */
#include "provision/provision.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t len, const char *msg)
{
    snprintf(err, len, "%s", msg);
    return -EINVAL;
}

/* section returns obj's member name as an object, created when absent; NULL when it is there but
 * not an object (or out of memory). */
static cJSON *section(cJSON *obj, const char *name)
{
    cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!s)
        return cJSON_AddObjectToObject(obj, name);
    return cJSON_IsObject(s) ? s : NULL;
}

static bool set_str(cJSON *obj, const char *name, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
    return cJSON_AddStringToObject(obj, name, v) != NULL;
}

static cJSON *peers(const char *prefix, size_t n, const char *const *regions)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        char id[24], svc[MD_PROV_NAME_MAX], addr[160];
        snprintf(id, sizeof id, "n%zu", i + 1);
        md_prov_service_name(prefix, i, svc, sizeof svc);
        /* Railway's private network: every service of the environment resolves
         * <service>.railway.internal (IPv6, and IPv4 in environments made since October 2025). */
        snprintf(addr, sizeof addr, "tcp://%s.railway.internal:%d", svc, MD_PROV_CLUSTER_PORT);
        cJSON *p = cJSON_CreateObject();
        if (!p || !cJSON_AddStringToObject(p, "id", id) || !cJSON_AddStringToObject(p, "address", addr) ||
            !cJSON_AddStringToObject(p, "region", regions[i])) {
            cJSON_Delete(p);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, p);
    }
    return arr;
}

int md_prov_node_config(const char *user_json, const char *prefix, size_t n_nodes, const char *const *regions,
                        char **out, char *err, size_t errlen)
{
    *out = NULL;
    cJSON *root = cJSON_Parse(user_json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(err, errlen, "the config is not a JSON object");
    }
    int rc = -ENOMEM;
    cJSON *node = section(root, "node"), *api = section(root, "api"), *cl = section(root, "cluster");
    cJSON *rem = section(root, "remediation");
    cJSON *rw = rem ? section(rem, "railway") : NULL;
    if (!node || !api || !cl || !rem || !rw) {
        rc = fail(err, errlen, "node, api, cluster, remediation and remediation.railway must be objects when present");
        goto out;
    }
    cJSON *pl = peers(prefix, n_nodes, regions);
    if (!pl)
        goto out;
    cJSON_DeleteItemFromObjectCaseSensitive(cl, "peers");
    cJSON_AddItemToObject(cl, "peers", pl);
    /* Listen on every address, IPv6 included: older environments' private network is IPv6 only. */
    char listen[64];
    snprintf(listen, sizeof listen, "tcp://[::]:%d", MD_PROV_CLUSTER_PORT);
    if (!set_str(node, "id", "${" MD_PROV_VAR_NODE_ID "}") || !set_str(node, "region", "${" MD_PROV_VAR_REGION "}") ||
        !set_str(node, "data_dir", MD_PROV_MOUNT) || !set_str(api, "listen", "[::]:${" MD_PROV_VAR_PORT "}") ||
        !set_str(cl, "name", prefix) || !set_str(cl, "secret", "${" MD_PROV_VAR_SECRET "}") ||
        !set_str(cl, "listen", listen) || !set_str(rem, "admin_token", "${" MD_PROV_VAR_ADMIN "}") ||
        !set_str(rw, "token", "${" MD_PROV_VAR_TOKEN "}") || !set_str(rw, "token_kind", "project"))
        goto out;
    /* Regions are far apart: the WAN timing profile, unless the user chose one. */
    if (!cJSON_GetObjectItemCaseSensitive(cl, "timing") && !cJSON_GetObjectItemCaseSensitive(cl, "heartbeat_ms") &&
        !set_str(cl, "timing", "wan"))
        goto out;
    *out = cJSON_PrintUnformatted(root);
    rc = *out ? 0 : -ENOMEM;
out:
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    cJSON_Delete(root);
    return rc;
}

static bool ours(const char *name, size_t n)
{
    static const char *const vars[] = { MD_PROV_VAR_CONFIG, MD_PROV_VAR_NODE_ID, MD_PROV_VAR_REGION, MD_PROV_VAR_PORT,
                                        MD_PROV_VAR_SECRET, MD_PROV_VAR_ADMIN,  MD_PROV_VAR_TOKEN };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (strlen(vars[i]) == n && strncmp(vars[i], name, n) == 0)
            return true;
    return false;
}

void md_prov_foreign_refs(const char *text, char *out, size_t len)
{
    size_t at = 0;
    out[0] = '\0';
    for (const char *p = strstr(text, "${"); p; p = strstr(p + 2, "${")) {
        const char *end = strchr(p + 2, '}');
        if (!end)
            break;
        size_t n = (size_t)(end - (p + 2));
        if (n == 0 || ours(p + 2, n))
            continue;
        /* listed once */
        char name[128];
        if (n >= sizeof name)
            continue;
        memcpy(name, p + 2, n);
        name[n] = '\0';
        bool seen = false;
        for (const char *q = out; !seen && (q = strstr(q, name)) != NULL; q += n)
            seen = (q == out || q[-1] == ',') && (q[n] == ',' || q[n] == '\0');
        if (seen || at + n + 2 > len)
            continue;
        at += (size_t)snprintf(out + at, len - at, "%s%s", at ? "," : "", name);
    }
}
