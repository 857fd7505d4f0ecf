/* cluster.h: the node's view of the cluster: every node's latest observation of every service
 * (its own from the monitor, the others' from gossip), peer liveness, self-isolation, and the
 * quorum verdict of each service. Loop thread only.
 *
 * Without a cluster section in the config this is a cluster of one: the verdict is the node's
 * own view, and nothing is sent anywhere. */
#ifndef MD_CLUSTER_H
#define MD_CLUSTER_H

#include <stdbool.h>
#include <uv.h>

#include "config.h"
#include "health.h"
#include "snapshot.h"
#include "verdict.h"

typedef struct md_cluster md_cluster;

/* md_cluster_new prepares the cluster view for cfg (borrowed; must outlive it). insecure_dev
 * allows a cluster without cluster.secret (a fixed, public key is used: local demos only).
 * Returns 0, or a negative error with err filled (transport setup failed). */
int md_cluster_new(uv_loop_t *loop, const md_config *cfg, bool insecure_dev, md_cluster **out, char *err,
                   size_t errlen);

/* md_cluster_set_on_change: fn(ctx) runs whenever something readers see changed. */
void md_cluster_set_on_change(md_cluster *c, void (*fn)(void *ctx), void *ctx);

/* md_cluster_start listens, dials the peers and starts the periodic work. */
int md_cluster_start(md_cluster *c, char *err, size_t errlen);

/* md_cluster_own reports this node's health of service i after each of its checks. */
void md_cluster_own(md_cluster *c, size_t i, const md_health *h);

/* md_cluster_fill_snapshot adds nodes, verdicts and observations to a snapshot being built. */
int md_cluster_fill_snapshot(const md_cluster *c, md_snapshot *s);

/* md_cluster_verdict: service i's cluster verdict and the wall ms it took that value. */
md_verdict md_cluster_verdict(const md_cluster *c, size_t i, int64_t *since_ms);
/* md_cluster_votes_text writes the votes of service i, e.g. "n1:down,n2:down,n3:up". */
void md_cluster_votes_text(const md_cluster *c, size_t i, char *buf, size_t len, int *down, int *total);
/* md_cluster_own_state: this node's own view of service i, and since when (wall ms). */
md_state md_cluster_own_state(const md_cluster *c, size_t i, int64_t *since_ms);
/* md_cluster_consensus: the node's Raft, or NULL for a cluster of one. */
struct md_consensus *md_cluster_consensus(md_cluster *c);
/* md_cluster_send queues an application message (type >= 16, not Raft's) to peer_id. */
int md_cluster_send(md_cluster *c, const char *peer_id, uint8_t type, const void *body, size_t len);
/* md_cluster_on_message: fn(ctx, from, body, len) receives application messages of type. */
typedef void (*md_cluster_msg_fn)(void *ctx, const char *from, const uint8_t *body, size_t len);
void md_cluster_on_message(md_cluster *c, uint8_t type, md_cluster_msg_fn fn, void *ctx);

/* md_cluster_close stops the transport and timers; done(arg) runs once everything is freed. */
void md_cluster_close(md_cluster *c, void (*done)(void *arg), void *arg);

#endif
