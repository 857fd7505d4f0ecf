/* cluster.h: the node's cluster: the Raft driver (consensus/ on the loop, with storage and
 * transport around it) and the cluster view (every node's observations, liveness, verdicts). */
#ifndef MD_CLUSTER_H
#define MD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "view/view.h"
#include "health/health.h"

/* The node's Raft: the pure core from consensus/ driven on the loop, its durable
 * storage in node.data_dir, and its messages over the cluster transport. Loop thread only.
 *
 * The driving loop is raft.h's contract: tick and step the core, then for each ready batch
 * persist (fsync), send, apply, advance. Storage calls block the loop for an fsync (about a
 * millisecond); a disk error stops this node from taking part (it no longer votes or acks)
 * and is reported in the status. */

/* The transport message type that carries Raft messages. */
#define MD_MSG_RAFT 16

typedef struct md_consensus md_consensus;

/* How consensus sends: send(ctx, peer_id, type, bytes, len) queues one message; 0 or <0. */
typedef int (*md_consensus_send_fn)(void *ctx, const char *peer_id, uint8_t type, const void *body, size_t len);

/* md_consensus_new opens cfg->data_dir (creating it; refusing a directory of another cluster or
 * node), recovers the log and builds the core. cfg is borrowed and must outlive it.
 * Returns 0, or a negative error with err filled for the operator. */
int md_consensus_new(uv_loop_t *loop, const md_config *cfg, md_consensus_send_fn send, void *send_ctx,
                     md_consensus **out, char *err, size_t errlen);

/* md_consensus_set_on_change: fn(ctx) runs whenever role, term, leader or commit change. */
void md_consensus_set_on_change(md_consensus *c, void (*fn)(void *ctx), void *ctx);
/* md_consensus_set_late_tick: fn(ctx) runs before a Raft tick that comes more than half a
 * heartbeat late (the loop was held up); the cluster hands it the transport's queued messages
 * there (tp_drain), so a stalled node hears its peers before it judges them silent.
 * md_consensus_late_ticks counts those ticks. */
void md_consensus_set_late_tick(md_consensus *c, void (*fn)(void *ctx), void *ctx);
uint64_t md_consensus_late_ticks(const md_consensus *c);

/* md_consensus_set_apply: fn(ctx, index, data, len) runs for every committed application entry,
 * in log order, exactly once per process lifetime (after a restart, again from the start of the
 * log or the last snapshot). data is borrowed for the call. */
typedef void (*md_consensus_apply_fn)(void *ctx, uint64_t index, const uint8_t *data, size_t len);
void md_consensus_set_apply(md_consensus *c, md_consensus_apply_fn fn, void *ctx);

/* Snapshots of the application's state compact the log. take(ctx, &data, &len) serializes the
 * state as of the last applied entry (data malloc'd, the caller of take frees it); restore(ctx,
 * data, len) replaces the state with a snapshot's. Once set, a snapshot found on disk at start is
 * restored at once, one received from the leader is restored when installed, and every
 * MD_CONSENSUS_SNAPSHOT_EVERY applied entries a new one is saved and the log before it dropped. */
#define MD_CONSENSUS_SNAPSHOT_EVERY 1000
typedef int (*md_consensus_take_fn)(void *ctx, uint8_t **data, size_t *len);
typedef int (*md_consensus_restore_fn)(void *ctx, const uint8_t *data, size_t len);
void md_consensus_set_snapshots(md_consensus *c, md_consensus_take_fn take, md_consensus_restore_fn restore, void *ctx);

/* md_consensus_propose appends data (copied) to the log if this node leads. *index (may be
 * NULL) receives its log index. Returns 0, -EPERM (not the leader), -EBUSY (handing over),
 * -EIO (storage failed) or -EMSGSIZE. Committed entries come back through the apply hook. */
int md_consensus_propose(md_consensus *c, const void *data, size_t len, uint64_t *index);

/* md_consensus_is_leader: this node leads (its lease may still have to be checked). */
bool md_consensus_is_leader(const md_consensus *c);
/* md_consensus_leader_id: the node id of the known leader, or NULL. */
const char *md_consensus_leader_id(const md_consensus *c);

/* md_consensus_start arms the core's timers. */
int md_consensus_start(md_consensus *c);

/* md_consensus_receive feeds one message body from peer from_id (authenticated by the
 * transport, but its bytes are still outside input). */
void md_consensus_receive(md_consensus *c, const char *from_id, const uint8_t *body, size_t len);

/* md_consensus_lease_valid: this node leads and holds a valid lease right now. */
bool md_consensus_lease_valid(const md_consensus *c);

/* md_consensus_peer_lost: the transport saw our connection to node_id close. If it is the leader
 * we follow, the election starts as soon as the rules allow instead of after the rest of a random
 * timeout (raft_peer_lost); anything else is ignored. */
void md_consensus_peer_lost(md_consensus *c, const char *node_id);

/* md_consensus_fill_view adds role, term, leader, commit and match indexes to s. */
int md_consensus_fill_view(const md_consensus *c, md_view *s);

/* md_consensus_close hands leadership to a follower first when this node leads (waiting at
 * most 800 ms, so a stop stays quick), then closes storage and timers; done(arg) runs once
 * everything is freed. Messages must keep flowing until then. */
void md_consensus_close(md_consensus *c, void (*done)(void *arg), void *arg);

/* The node's view of the cluster: every node's latest observation of every service
 * (its own from the monitor, the others' from gossip), peer liveness, self-isolation, and the
 * quorum verdict of each service. Loop thread only.
 *
 * Without a cluster section in the config this is a cluster of one: the verdict is the node's
 * own view, and nothing is sent anywhere. */

typedef struct md_cluster md_cluster;

/* md_cluster_new prepares the cluster view for cfg (borrowed; must outlive it). insecure_dev
 * allows a cluster without cluster.secret (a fixed, public key is used: local demos only).
 * Returns 0, or a negative error with err filled (transport setup failed). */
int md_cluster_new(uv_loop_t *loop, const md_config *cfg, bool insecure_dev, md_cluster **out, char *err,
                   size_t errlen);

/* md_cluster_set_on_suspect: fn(ctx, svc, peer) runs when gossip brings peer's (index >= 1 in
 * the config's node order) first failures of service svc short of DOWN: the peer suspects it,
 * and a check of our own now confirms or clears it sooner. fn bounds how often it acts. */
void md_cluster_set_on_suspect(md_cluster *c, void (*fn)(void *ctx, size_t svc, size_t peer), void *ctx);

/* md_cluster_set_on_change: fn(ctx) runs whenever something readers see changed. */
void md_cluster_set_on_change(md_cluster *c, void (*fn)(void *ctx), void *ctx);

/* md_cluster_start listens, dials the peers and starts the periodic work. */
int md_cluster_start(md_cluster *c, char *err, size_t errlen);

/* md_cluster_own reports this node's health of service i after each of its checks. */
void md_cluster_own(md_cluster *c, size_t i, const md_health *h);

/* md_cluster_fill_view adds nodes, verdicts and observations to a snapshot being built. */
int md_cluster_fill_view(const md_cluster *c, md_view *s);

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
