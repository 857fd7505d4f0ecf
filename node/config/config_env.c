/* config_env.c: what a node takes from its platform when the config leaves a field out: node.id,
 * node.region, node.data_dir and api.listen from environment variables (MEDIC_*, then the ones
 * Railway injects), read only through the md_config_env the caller hands in. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Railway mounts a service's volume here; the node keeps its state in a sub-directory so that
 * whatever else the volume holds (lost+found) is never mistaken for consensus files. */
#define VOLUME_SUBDIR "/medic"

static const char *process_lookup(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

md_config_env md_config_process_env(void)
{
    static char host[256];
    md_config_env env = { process_lookup, NULL, NULL };
    memset(host, 0, sizeof host);
    if (gethostname(host, sizeof host - 1) == 0 && host[0])
        env.host_name = host;
    return env;
}

const char *md__cfg_env_get(const md__cfg_parser *p, const char *name)
{
    const char *v = p->env->lookup ? p->env->lookup(p->env->ctx, name) : NULL;
    return v && *v ? v : NULL;
}

int md__cfg_env_node_id(md__cfg_parser *p)
{
    md_config *cfg = p->cfg;
    const char *v = md__cfg_env_get(p, "MEDIC_NODE_ID");
    if (v) {
        if (!md__cfg_name_ok(v))
            return md__cfg_fail(p, "node.id", "not set, and MEDIC_NODE_ID (\"%.80s\") is not a valid id: it " NAME_RULE,
                                v);
        cfg->node_id_from = "MEDIC_NODE_ID";
    } else {
        v = p->env->host_name;
        if (!v || !md__cfg_name_ok(v))
            return md__cfg_fail(p, "node.id", "not set, and the host name is not a valid id; set node.id or MEDIC_NODE_ID");
        cfg->node_id_from = "host name";
    }
    return (cfg->node_id = strdup(v)) ? 0 : md__cfg_oom(p);
}

int md__cfg_env_node_region(md__cfg_parser *p)
{
    static const char *const vars[] = { "MEDIC_REGION", "RAILWAY_REPLICA_REGION" };
    md_config *cfg = p->cfg;
    const char *v = NULL;
    cfg->node_region_from = "default";
    for (size_t i = 0; i < sizeof vars / sizeof vars[0] && !v; i++) {
        if ((v = md__cfg_env_get(p, vars[i])))
            cfg->node_region_from = vars[i];
    }
    if (v && !md__cfg_name_ok(v))
        return md__cfg_fail(p, "node.region", "not set, and %s (\"%.80s\") is not a valid region: it " NAME_RULE,
                            cfg->node_region_from, v);
    return (cfg->node_region = strdup(v ? v : "local")) ? 0 : md__cfg_oom(p);
}

int md__cfg_env_data_dir(md__cfg_parser *p)
{
    md_config *cfg = p->cfg;
    const char *v = md__cfg_env_get(p, "MEDIC_DATA_DIR"), *vol;
    if (v) {
        cfg->data_dir_from = "MEDIC_DATA_DIR";
        return (cfg->data_dir = strdup(v)) ? 0 : md__cfg_oom(p);
    }
    const char *base = "medic-data/", *tail = cfg->node_id;
    cfg->data_dir_from = "default";
    if ((vol = md__cfg_env_get(p, "RAILWAY_VOLUME_MOUNT_PATH"))) {
        /* Not keyed by the node id: a node that comes back under another id must find its old
         * state and be refused (node.id must not change), not start afresh beside it. */
        base = vol;
        tail = VOLUME_SUBDIR;
        cfg->data_dir_from = "RAILWAY_VOLUME_MOUNT_PATH";
    }
    size_t n = strlen(base) + strlen(tail) + 1;
    if (!(cfg->data_dir = malloc(n)))
        return md__cfg_oom(p);
    snprintf(cfg->data_dir, n, "%s%s", base, tail);
    return 0;
}

int md__cfg_env_api_listen(md__cfg_parser *p, char **out)
{
    const char *v = md__cfg_env_get(p, "PORT");
    long port = 0;
    size_t nd = 0;
    *out = NULL;
    if (!v)
        return 0;
    for (; v[nd] >= '0' && v[nd] <= '9' && nd < 6; nd++)
        port = port * 10 + (v[nd] - '0');
    if (nd == 0 || v[nd] != '\0' || port < 1 || port > 65535)
        return md__cfg_fail(p, "api.listen", "not set, and PORT (\"%.32s\") is not a port number 1-65535", v);
    /* Every address, IPv6 and (dual-stack) IPv4: Railway's private network may be IPv6 only,
     * and its health checks come in on PORT. */
    char buf[16];
    snprintf(buf, sizeof buf, "[::]:%ld", port);
    return (*out = strdup(buf)) ? 0 : md__cfg_oom(p);
}
