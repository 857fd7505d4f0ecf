/* consensus.h: the node's Raft: the pure core from consensus/ driven on the loop, its durable
 * storage in node.data_dir, and its messages over the cluster transport. Loop thread only.
 *
 * The driving loop is raft.h's contract: tick and step the core, then for each ready batch
 * persist (fsync), send, apply, advance. Storage calls block the loop for an fsync (about a
 * millisecond); a disk error stops this node from taking part (it no longer votes or acks)
 * and is reported in the status. */
#ifndef MD_CONSENSUS_H
#define MD_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "snapshot.h"

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

/* md_consensus_fill_snapshot adds role, term, leader, commit and match indexes to s. */
int md_consensus_fill_snapshot(const md_consensus *c, md_snapshot *s);

/* md_consensus_close hands leadership to a follower first when this node leads (waiting at
 * most 800 ms, so a stop stays quick), then closes storage and timers; done(arg) runs once
 * everything is freed. Messages must keep flowing until then. */
void md_consensus_close(md_consensus *c, void (*done)(void *arg), void *arg);

#endif
