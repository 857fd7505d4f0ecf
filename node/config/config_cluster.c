/* config_cluster.c: the "cluster" section of the config: the cluster's name and secret, our
 * cluster address, the other nodes, gossip and liveness timing, quorum and TLS; and the rules
 * that tie services to the cluster. Without the section the node is a cluster of one. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/health.h"

static const char *const cluster_keys[] = { "name", "secret", "listen", "peers", "quorum", "allow_two_nodes",
                                            "gossip_interval_ms", "peer_suspect_ms", "peer_dead_ms",
                                            "max_message_bytes", "tls", "timing", "heartbeat_ms",
                                            "election_timeout_ms", "lease_drift_ms", "links_per_peer" };
#define N_CLUSTER_KEYS (sizeof cluster_keys / sizeof cluster_keys[0])

/* A cluster address is tcp://host:port or tls+tcp://host:port; *tls says which. */
static int check_address(md__cfg_parser *p, const char *path, const char *a, bool *tls)
{
    const char *rest = NULL;
    if (strncmp(a, "tcp://", 6) == 0) {
        rest = a + 6;
        *tls = false;
    } else if (strncmp(a, "tls+tcp://", 10) == 0) {
        rest = a + 10;
        *tls = true;
    } else {
        return md__cfg_fail(p, path, "must start with tcp:// or tls+tcp://");
    }
    char *host = NULL;
    int port = 0;
    int rc = md__cfg_split_hostport(rest, 1, &host, &port);
    free(host);
    if (rc == -ENOMEM)
        return md__cfg_oom(p);
    if (rc)
        return md__cfg_fail(p, path, "must be tcp://host:port or tls+tcp://host:port with port 1-65535");
    return 0;
}

/* The entry of this node in cluster.peers, when it lists itself: its address and region (NULL:
 * none given), both malloc'd, owned by whoever holds the struct. */
typedef struct {
    char *address;
    char *region;
} self_entry;

static int parse_peer(md__cfg_parser *p, size_t i, const cJSON *o, const char *self_id, self_entry *self,
                      md_cluster_config *c, bool *any_tls)
{
    static const char *const keys[] = { "id", "address", "region" };
    char path[PATH_LEN], fp[PATH_LEN];
    snprintf(path, sizeof path, "cluster.peers[%zu]", i);
    int rc;
    if (!cJSON_IsObject(o))
        return md__cfg_fail(p, path, "must be an object with id and address");
    if ((rc = md__cfg_check_keys(p, path, o, keys, 3)))
        return rc;
    md_peer_config peer = { 0 };
    const cJSON *id = md__cfg_get(o, "id"), *addr = md__cfg_get(o, "address"), *region = md__cfg_get(o, "region");
    if (!id)
        return md__cfg_fail(p, md__cfg_join(fp, sizeof fp, path, "id"), "is required");
    if (!addr)
        return md__cfg_fail(p, md__cfg_join(fp, sizeof fp, path, "address"), "is required");
    bool tls = false;
    if ((rc = md__cfg_get_string(p, md__cfg_join(fp, sizeof fp, path, "id"), id, &peer.id)))
        goto fail;
    if (!md__cfg_name_ok(peer.id)) {
        rc = md__cfg_fail(p, fp, NAME_RULE);
        goto fail;
    }
    if ((rc = md__cfg_get_string(p, md__cfg_join(fp, sizeof fp, path, "address"), addr, &peer.address)) ||
        (rc = check_address(p, fp, peer.address, &tls)))
        goto fail;
    if (region) {
        if ((rc = md__cfg_get_string(p, md__cfg_join(fp, sizeof fp, path, "region"), region, &peer.region)))
            goto fail;
        if (!md__cfg_name_ok(peer.region)) {
            rc = md__cfg_fail(p, fp, NAME_RULE);
            goto fail;
        }
    } else if (!(peer.region = strdup("unknown"))) {
        rc = md__cfg_oom(p);
        goto fail;
    }
    for (size_t j = 0; j < c->n_peers; j++) {
        if (strcmp(c->peers[j].id, peer.id) == 0) {
            rc = md__cfg_fail(p, md__cfg_join(fp, sizeof fp, path, "id"), "'%s' is listed twice", peer.id);
            goto fail;
        }
    }
    *any_tls = *any_tls || tls;
    if (strcmp(peer.id, self_id) == 0) {
        /* The same peer list can be shared by every node: our own entry gives our address. */
        if (self->address) {
            rc = md__cfg_fail(p, md__cfg_join(fp, sizeof fp, path, "id"), "'%s' is listed twice", peer.id);
            goto fail;
        }
        self->address = peer.address;
        if (region)
            self->region = peer.region;
        else
            free(peer.region);
        free(peer.id);
        return 0;
    }
    c->peers[c->n_peers++] = peer;
    return 0;
fail:
    free(peer.id);
    free(peer.address);
    free(peer.region);
    return rc;
}

static int parse_tls(md__cfg_parser *p, const cJSON *t, md_cluster_config *c)
{
    static const char *const keys[] = { "cert_file", "key_file", "ca_file" };
    int rc;
    if (!t)
        return 0;
    if ((rc = md__cfg_want_object(p, "cluster.tls", t)) || (rc = md__cfg_check_keys(p, "cluster.tls", t, keys, 3)))
        return rc;
    const cJSON *cert = md__cfg_get(t, "cert_file"), *key = md__cfg_get(t, "key_file"), *ca = md__cfg_get(t, "ca_file");
    if (!cert || !key || !ca)
        return md__cfg_fail(p, "cluster.tls", "needs cert_file, key_file and ca_file (mutual TLS)");
    if ((rc = md__cfg_get_string(p, "cluster.tls.cert_file", cert, &c->tls_cert_file)) ||
        (rc = md__cfg_get_string(p, "cluster.tls.key_file", key, &c->tls_key_file)) ||
        (rc = md__cfg_get_string(p, "cluster.tls.ca_file", ca, &c->tls_ca_file)))
        return rc;
    return 0;
}

static int parse_timing(md__cfg_parser *p, const cJSON *cl, md_cluster_config *c)
{
    const cJSON *gi = md__cfg_get(cl, "gossip_interval_ms"), *ps = md__cfg_get(cl, "peer_suspect_ms");
    const cJSON *pd = md__cfg_get(cl, "peer_dead_ms"), *mm = md__cfg_get(cl, "max_message_bytes");
    int rc;
    c->gossip_interval_ms = MD_DEFAULT_GOSSIP_INTERVAL_MS;
    c->max_message_bytes = MD_DEFAULT_MAX_MESSAGE_BYTES;
    if (gi && (rc = md__cfg_get_int(p, "cluster.gossip_interval_ms", gi, 1, 60000, &c->gossip_interval_ms)))
        return rc;
    c->peer_suspect_ms = 3 * c->gossip_interval_ms;
    if (ps && (rc = md__cfg_get_int(p, "cluster.peer_suspect_ms", ps, 1, MAX_MS, &c->peer_suspect_ms)))
        return rc;
    c->peer_dead_ms = 3 * c->peer_suspect_ms;
    if (pd && (rc = md__cfg_get_int(p, "cluster.peer_dead_ms", pd, 1, MAX_MS, &c->peer_dead_ms)))
        return rc;
    if (mm && (rc = md__cfg_get_int(p, "cluster.max_message_bytes", mm, 4096, 64 * 1024 * 1024,
                                    &c->max_message_bytes)))
        return rc;
    if (c->peer_suspect_ms <= c->gossip_interval_ms)
        return md__cfg_fail(p, "cluster.peer_suspect_ms", "must be more than gossip_interval_ms (%lld)",
                            (long long)c->gossip_interval_ms);
    if (c->peer_dead_ms <= c->peer_suspect_ms)
        return md__cfg_fail(p, "cluster.peer_dead_ms", "must be more than peer_suspect_ms (%lld)",
                            (long long)c->peer_suspect_ms);
    return 0;
}

/* Consensus timing: a profile (cluster.timing, or picked from the nodes' regions), then single
 * overrides. Runs after the peers are parsed: their regions pick the profile. */
static int parse_consensus_timing(md__cfg_parser *p, const cJSON *cl, md_cluster_config *c, const char *self_region)
{
    const cJSON *hb = md__cfg_get(cl, "heartbeat_ms");
    const cJSON *et = md__cfg_get(cl, "election_timeout_ms"), *ld = md__cfg_get(cl, "lease_drift_ms");
    bool node_region_given = p->cfg->node_region_from && strcmp(p->cfg->node_region_from, "default") != 0;
    int rc;
    if ((rc = md__cfg_pick_timing(p, cl, c, self_region, node_region_given)))
        return rc;
    bool wan = strcmp(c->timing, "wan") == 0;
    c->heartbeat_ms = wan ? MD_WAN_HEARTBEAT_MS : MD_LAN_HEARTBEAT_MS;
    c->election_timeout_ms = wan ? MD_WAN_ELECTION_MS : MD_LAN_ELECTION_MS;
    if (hb && (rc = md__cfg_get_int(p, "cluster.heartbeat_ms", hb, 1, 60000, &c->heartbeat_ms)))
        return rc;
    if (et && (rc = md__cfg_get_int(p, "cluster.election_timeout_ms", et, 1, 600000, &c->election_timeout_ms)))
        return rc;
    /* Over a wide area, one TCP connection on a lossy path stalls for seconds at a time (its
     * retransmission timeout doubles with each loss): a second connection carrying the same
     * messages rides through. On a LAN one suffices. */
    const cJSON *lp = md__cfg_get(cl, "links_per_peer");
    c->links_per_peer = wan ? 2 : 1;
    if (lp && (rc = md__cfg_get_int(p, "cluster.links_per_peer", lp, 1, 4, &c->links_per_peer)))
        return rc;
    c->lease_drift_ms = c->election_timeout_ms / 10;
    if (ld && (rc = md__cfg_get_int(p, "cluster.lease_drift_ms", ld, 0, 600000, &c->lease_drift_ms)))
        return rc;
    if (c->election_timeout_ms <= 2 * c->heartbeat_ms)
        return md__cfg_fail(p, "cluster.election_timeout_ms",
                            "must be more than twice heartbeat_ms (%lld), or one lost heartbeat starts an election",
                            (long long)c->heartbeat_ms);
    if (c->lease_drift_ms >= c->election_timeout_ms)
        return md__cfg_fail(p, "cluster.lease_drift_ms", "must be less than election_timeout_ms (%lld)",
                            (long long)c->election_timeout_ms);
    return 0;
}

static int parse_peers(md__cfg_parser *p, const cJSON *cl, md_cluster_config *c, self_entry *self, bool *any_tls)
{
    const cJSON *peers = md__cfg_get(cl, "peers");
    if (!peers)
        return 0;
    if (!cJSON_IsArray(peers))
        return md__cfg_fail(p, "cluster.peers", "must be an array of {\"id\", \"address\"}");
    int n = cJSON_GetArraySize(peers);
    if (n > MD_CLUSTER_MAX_NODES)
        return md__cfg_fail(p, "cluster.peers", "at most %d nodes", MD_CLUSTER_MAX_NODES);
    if (n > 0 && !(c->peers = calloc((size_t)n, sizeof *c->peers)))
        return md__cfg_oom(p);
    size_t i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, peers)
    {
        int rc = parse_peer(p, i++, o, p->cfg->node_id, self, c, any_tls);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_quorum(md__cfg_parser *p, const cJSON *cl, md_cluster_config *c)
{
    const cJSON *q = md__cfg_get(cl, "quorum"), *two = md__cfg_get(cl, "allow_two_nodes");
    int rc;
    if (two && (rc = md__cfg_get_bool(p, "cluster.allow_two_nodes", two, &c->allow_two_nodes)))
        return rc;
    if (c->n_nodes == 2 && !c->allow_two_nodes)
        return md__cfg_fail(p, "cluster.peers",
                            "a cluster of two nodes cannot agree once either is lost (a majority of 2 is 2); "
                            "add a third node, or set cluster.allow_two_nodes to accept that");
    c->quorum = md_default_quorum(c->n_nodes);
    if (q) {
        int64_t v;
        if ((rc = md__cfg_get_int(p, "cluster.quorum", q, 1, MD_CLUSTER_MAX_NODES, &v)))
            return rc;
        if (v > c->n_nodes)
            return md__cfg_fail(p, "cluster.quorum", "%lld is larger than the cluster (%d nodes)", (long long)v,
                                c->n_nodes);
        c->quorum = (int)v;
    }
    return 0;
}

int md__cfg_parse_cluster(md__cfg_parser *p, const cJSON *cl)
{
    md_cluster_config *c = &p->cfg->cluster;
    int rc;
    c->n_nodes = 1;
    c->quorum = 1;
    c->gossip_interval_ms = MD_DEFAULT_GOSSIP_INTERVAL_MS;
    if (!cl)
        return 0;
    if ((rc = md__cfg_want_object(p, "cluster", cl)) ||
        (rc = md__cfg_check_keys(p, "cluster", cl, cluster_keys, N_CLUSTER_KEYS)))
        return rc;
    c->enabled = true;
    const cJSON *name = md__cfg_get(cl, "name"), *secret = md__cfg_get(cl, "secret"), *listen = md__cfg_get(cl, "listen");
    if (!name)
        return md__cfg_fail(p, "cluster.name", "is required (every node of a cluster uses the same name)");
    if ((rc = md__cfg_get_string(p, "cluster.name", name, &c->name)))
        return rc;
    if (!md__cfg_name_ok(c->name))
        return md__cfg_fail(p, "cluster.name", NAME_RULE);
    if (secret) {
        if ((rc = md__cfg_get_string(p, "cluster.secret", secret, &c->secret)))
            return rc;
        if (strlen(c->secret) < MD_CLUSTER_MIN_SECRET)
            return md__cfg_fail(p, "cluster.secret", "must be at least %d characters", MD_CLUSTER_MIN_SECRET);
        /* The secret is always masked, even when written into the file rather than ${VAR}. */
        if ((rc = md__cfg_add_secret(p->cfg, c->secret)))
            return rc == -ENOMEM ? md__cfg_oom(p) : rc;
    }
    self_entry self = { NULL, NULL };
    bool any_tls = false, listen_tls = false;
    rc = parse_timing(p, cl, c);
    if (rc == 0)
        rc = parse_peers(p, cl, c, &self, &any_tls);
    if (rc == 0)
        rc = parse_consensus_timing(p, cl, c, self.region);
    if (rc == 0)
        rc = parse_tls(p, md__cfg_get(cl, "tls"), c);
    char *self_address = self.address; /* ours until handed to c->listen below */
    free(self.region);
    if (rc) {
        free(self_address);
        return rc;
    }
    if (listen) {
        free(self_address);
        self_address = NULL;
        if ((rc = md__cfg_get_string(p, "cluster.listen", listen, &c->listen)) ||
            (rc = check_address(p, "cluster.listen", c->listen, &listen_tls)))
            return rc;
    } else if (self_address) {
        c->listen = self_address;
        bool t = false;
        check_address(p, "cluster.listen", c->listen, &t);
        listen_tls = t;
    } else {
        return md__cfg_fail(p, "cluster.listen",
                            "is required (or list this node, '%s', in cluster.peers with its address)",
                            p->cfg->node_id);
    }
    if ((any_tls || listen_tls) && !c->tls_cert_file)
        return md__cfg_fail(p, "cluster.tls", "is required for tls+tcp:// addresses (cert_file, key_file, ca_file)");
    c->n_nodes = 1 + (int)c->n_peers;
    return parse_quorum(p, cl, c);
}

int md__cfg_check_cluster_services(md__cfg_parser *p)
{
    md_config *cfg = p->cfg;
    const md_cluster_config *c = &cfg->cluster;
    for (size_t i = 0; i < cfg->n_services; i++) {
        md_service_config *s = &cfg->services[i];
        char path[PATH_LEN];
        if (s->quorum == 0) {
            s->quorum = c->quorum;
        } else if (s->quorum > c->n_nodes) {
            snprintf(path, sizeof path, "services[%zu].quorum", i);
            return md__cfg_fail(p, path, "%d is larger than the cluster (%d node%s)", s->quorum, c->n_nodes,
                                c->n_nodes == 1 ? "" : "s");
        }
        if (c->enabled && c->gossip_interval_ms > s->interval_ms) {
            snprintf(path, sizeof path, "services[%zu].interval_ms", i);
            return md__cfg_fail(p, path,
                                "%lld is shorter than cluster.gossip_interval_ms (%lld): observations would go "
                                "stale between digests; lower the gossip interval",
                                (long long)s->interval_ms, (long long)c->gossip_interval_ms);
        }
    }
    return 0;
}

void md__cfg_free_cluster(md_cluster_config *c)
{
    for (size_t i = 0; i < c->n_peers; i++) {
        free(c->peers[i].id);
        free(c->peers[i].address);
        free(c->peers[i].region);
    }
    free(c->peers);
    free(c->name);
    free(c->secret);
    free(c->listen);
    free(c->timing);
    free(c->timing_reason);
    free(c->tls_cert_file);
    free(c->tls_key_file);
    free(c->tls_ca_file);
    memset(c, 0, sizeof *c);
}
