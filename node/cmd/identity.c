/* identity.c: before a cluster node starts, its data directory must be its own. The directory
 * records the cluster and node id it was first opened for; a node that comes back under another
 * id (a host name that changed, a variable set differently) is refused with both ids named, as a
 * config error, instead of joining as a stranger while the cluster waits for the node it knew. */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "storage.h"

/* from: how the config got node.id, as the message should tell the operator to change it. */
static const char *id_hint(const md_config *cfg)
{
    if (cfg->node_id_from && strcmp(cfg->node_id_from, "MEDIC_NODE_ID") == 0)
        return "MEDIC_NODE_ID";
    if (cfg->node_id_from && strcmp(cfg->node_id_from, "host name") == 0)
        return "node.id or MEDIC_NODE_ID (it came from the host name, which changed)";
    return "node.id";
}

int md_identity_check(const md_config *cfg, char *err, size_t errlen)
{
    char cluster[RAFT_STORAGE_MAX_NAME + 1], node[RAFT_STORAGE_MAX_NAME + 1];
    if (!cfg->cluster.enabled)
        return 0;
    /* No record (a new node) or one we cannot read: storage, when it opens the directory, says
     * what is wrong with it in its own words. */
    if (raft_storage_owner(cfg->data_dir, cluster, node, sizeof cluster) != 0)
        return 0;
    if (strcmp(cluster, cfg->cluster.name) != 0) {
        snprintf(err, errlen,
                 "%s: cluster.name: is \"%s\", but data dir %s belongs to cluster \"%s\" (as node \"%s\"): "
                 "point node.data_dir at this cluster's directory, or set cluster.name back to \"%s\"",
                 cfg->origin, cfg->cluster.name, cfg->data_dir, cluster, node, cluster);
        return -EPERM;
    }
    if (strcmp(node, cfg->node_id) != 0) {
        snprintf(err, errlen,
                 "%s: node.id: is \"%s\", but data dir %s belongs to node \"%s\": a node's id must not change "
                 "across restarts (its peers know it by that id). Set %s back to \"%s\"; to add a new node "
                 "instead, give it an empty data dir and list it in cluster.peers on every node",
                 cfg->origin, cfg->node_id, cfg->data_dir, node, id_hint(cfg), node);
        return -EPERM;
    }
    return 0;
}
