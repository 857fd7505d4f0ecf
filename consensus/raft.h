/* raft.h: the public header of medic's consensus module: a pure, deterministic Raft core
 * (no I/O, no clock, no randomness of its own) and the wire codec of its messages.
 *
 * The caller's loop is a contract, in the shape of etcd's RawNode:
 *
 *     raft_tick(r, now)            whenever raft_next_timeout(r) has passed (or more often)
 *     raft_step(r, &msg, now)      for every message decoded from a peer
 *     raft_propose(r, ...)         for every command the application wants replicated
 *     while (raft_has_ready(r)) {
 *         raft_ready(r, &u);
 *         1. if u.snapshot.present: store it durably; it replaces every entry <= its index
 *         2. if u.truncate_from:    remove log entries with index >= u.truncate_from
 *         3. append u.entries;      4. if u.has_hard_state: store u.hard_state
 *         5. make 1-4 durable (fsync)                 <- PERSIST BEFORE SEND
 *         6. send u.msgs (each raft_msg_encode'd to its .to)
 *         7. restore the state machine from u.snapshot if present, then apply u.committed
 *         8. raft_advance(r, &u);
 *     }
 *
 * Persist-before-send: messages in a batch may only leave the node after everything the
 * batch says to persist (and every earlier batch) is durable. The core relies on this and
 * never puts a vote grant or an append acknowledgement into a batch whose supporting state
 * (term, vote, entries, truncation) is not in that batch or an earlier one. A caller that
 * crashes before step 5 completes must not send any of the batch: after a restart the node
 * is a node that never received the messages behind it, which Raft tolerates.
 *
 * Storage may write the parts of a batch in any order, and a crash may tear a batch anywhere:
 * hard_state.commit only ever names entries made durable by earlier batches, and raft_new
 * adopts a half-written batch (the term rises to the log's last term, with no vote; commit is
 * clamped to the log). Its messages were never sent, so nothing else depended on it.
 *
 * tick, step and propose may be called while a batch is outstanding (between raft_ready and
 * raft_advance: the caller may fsync asynchronously); raft_ready may not: one batch at a time,
 * and batches must be persisted in the order they were handed out.
 *
 * Time: every entry point takes the caller's monotonic clock in ms; it never goes backwards.
 * Randomness: raft_config.seed seeds the core's own PRNG (election timeouts only).
 * Asserts check the core's invariants and are kept on in release builds; bad input from the
 * network (decoder, raft_step) is an error return, never an assert.
 *
 * Errors: functions return 0 or a negative errno: -EINVAL (bad argument or message),
 * -EPERM (not the leader), -EBUSY (leadership transfer in progress), -ENOMEM, -EMSGSIZE
 * (over a size limit), -EBADMSG (undecodable bytes), -EPROTO (a peer's message contradicts
 * Raft's invariants: a bug or corruption elsewhere; the message is ignored). */
#ifndef RAFT_H
#define RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft_types.h"
/* #include "storage.h"  -- the durable log and hard state (consensus/storage.c) go here. */

#define RAFT_MAX_NODES 7
#define RAFT_MAX_ENTRY_LEN (1u << 20)        /* one entry's payload */
#define RAFT_MAX_MSG_ENTRIES 4096            /* entries in one APPEND */
#define RAFT_MAX_SNAPSHOT_LEN (64u << 20)    /* one snapshot's bytes */

typedef struct raft raft;

typedef enum {
    RAFT_FOLLOWER = 0,
    RAFT_PRE_CANDIDATE, /* asking for pre-votes at term+1 without changing term */
    RAFT_CANDIDATE,
    RAFT_LEADER
} raft_role;

typedef enum {
    RAFT_MSG_APPEND = 1,      /* leader -> follower: entries after (index, log_term) */
    RAFT_MSG_APPEND_RESP,     /* follower -> leader; also answers a SNAPSHOT's last chunk */
    RAFT_MSG_HEARTBEAT,       /* leader -> follower: commit and liveness, no log claim */
    RAFT_MSG_HEARTBEAT_RESP,  /* also the reply to any message from a stale term */
    RAFT_MSG_PRE_VOTE,        /* term is the candidate's term + 1 */
    RAFT_MSG_PRE_VOTE_RESP,
    RAFT_MSG_VOTE,
    RAFT_MSG_VOTE_RESP,
    RAFT_MSG_SNAPSHOT,        /* leader -> follower: one chunk of a snapshot */
    RAFT_MSG_TIMEOUT_NOW,     /* leader -> transfer target: campaign now, skip pre-vote */
    RAFT_MSG_SNAPSHOT_RESP,   /* follower -> leader: how much of a snapshot it holds */
    RAFT_MSG_TYPE_MAX = RAFT_MSG_SNAPSHOT_RESP
} raft_msg_type;

/* raft_message.reject */
enum {
    RAFT_REJECT_NONE = 0,     /* success / vote granted */
    RAFT_REJECT_YES = 1,      /* log mismatch / vote refused */
    RAFT_REJECT_STALE = 2     /* the request's term was older than ours: ignore unless our term is newer */
};

/* One Raft message. Which fields mean what, by type:
 *   APPEND:       index/log_term = entry before entries; commit; sent_ms; entries
 *   APPEND_RESP:  reject=0: index = last index known to match the leader
 *                 reject=1: index = the rejected APPEND's index; hint/log_term = where the
 *                 leader should probe next (etcd's conflict hint); sent_ms echoed
 *   HEARTBEAT:    commit (<= what the follower is known to hold); sent_ms
 *   HEARTBEAT_RESP: sent_ms echoed; reject=1: the heartbeat's commit is beyond the follower's
 *                 log (it lost entries it had acknowledged): index = its last index
 *   PRE_VOTE/VOTE: index/log_term = candidate's last entry; transfer = 1 when forced by TimeoutNow
 *   *_VOTE_RESP:  reject
 *   SNAPSHOT:     index/log_term = the snapshot's last entry; commit; sent_ms; snap_data holds
 *                 bytes [snap_offset, snap_offset + snap_len) of a snapshot of snap_total bytes
 *                 (chunks of at most raft_config.max_snapshot_chunk; the last ends at snap_total).
 *                 The follower installs the snapshot once it holds every byte and answers that
 *                 chunk with APPEND_RESP (index = the snapshot's), every other with SNAPSHOT_RESP.
 *   SNAPSHOT_RESP: index/log_term = the snapshot's; hint = how many of its bytes the follower
 *                 holds (the offset it expects next); reject=1: the chunk did not fit (a gap,
 *                 or another snapshot than the one it assembles): send from hint; sent_ms echoed
 * sent_ms is the leader's clock when it sent a round; echoed by the follower, it lets the
 * leader measure its lease from the send time of the round a majority acknowledged. */
typedef struct {
    uint8_t type;      /* raft_msg_type */
    uint8_t reject;
    uint8_t transfer;
    raft_id from;
    raft_id to;
    uint64_t term;
    uint64_t index;
    uint64_t log_term;
    uint64_t hint;
    uint64_t commit;
    uint64_t sent_ms;
    uint32_t n_entries;
    raft_entry *entries;   /* n_entries, consecutive indexes from index + 1 */
    uint32_t snap_offset;  /* SNAPSHOT: where snap_data starts in the snapshot */
    uint32_t snap_total;   /* SNAPSHOT: the whole snapshot's length */
    uint32_t snap_len;
    uint8_t *snap_data;
} raft_message;

/* A snapshot's identity: the state machine after applying every entry up to index. */
typedef struct {
    bool present;
    uint64_t index;
    uint64_t term;
    uint32_t len;
    const uint8_t *data;   /* borrowed: owned by whoever filled the struct */
} raft_snapshot;

/* raft_config: borrowed for the duration of raft_new; the core copies what it keeps.
 * Restored state comes from storage: hard state, the latest snapshot and the log after it. */
typedef struct {
    raft_id id;                  /* this node, 1..n_nodes */
    uint32_t n_nodes;            /* 1..RAFT_MAX_NODES */
    uint32_t heartbeat_ms;       /* > 0 */
    uint32_t election_timeout_ms;/* T: timeouts are drawn from [T, 2T); > 2 * heartbeat_ms */
    uint32_t lease_drift_ms;     /* margin for clock rate drift; < election_timeout_ms */
    uint32_t max_entries_per_msg;/* 0: 64 */
    uint32_t max_bytes_per_msg;  /* entry payload bytes per APPEND (one entry always fits); 0: 512 KiB */
    uint32_t max_inflight;       /* APPENDs in flight per follower; 0: 16 */
    uint32_t max_snapshot_chunk; /* snapshot bytes per SNAPSHOT message; 0: 512 KiB */
    uint64_t seed;               /* seeds the election-timeout PRNG; use a different one per node */
    uint64_t now_ms;             /* start time; votes are refused for T after it */
    bool recovering;             /* the node's disk was lost (it starts with no hard state, as a
                                  * new node does): it neither votes nor stands for election
                                  * until it has caught up with a leader (see raft_recovering) */
    raft_hard_state hard_state;
    raft_snapshot snapshot;      /* present: the last durable snapshot (data required) */
    const raft_entry *entries;   /* the durable log after the snapshot, consecutive */
    size_t n_entries;
} raft_config;

/* One batch of work for the caller. Every pointer in it is owned by the core and valid until
 * raft_advance (or raft_free). */
typedef struct {
    bool has_hard_state;
    raft_hard_state hard_state;
    raft_snapshot snapshot;      /* install: persist, drop the log up to it, restore the SM */
    uint64_t truncate_from;      /* 0: none; else remove entries >= this index first */
    raft_entry *entries;         /* append after the truncation; indexes consecutive */
    size_t n_entries;
    raft_message *msgs;          /* send only after the above is durable */
    size_t n_msgs;
    raft_entry *committed;       /* apply in order, after the snapshot if any (skip NOOPs) */
    size_t n_committed;
    uint64_t seq;                /* the core's batch number, checked by raft_advance */
} raft_update;

/* raft_new validates c and builds a core in the follower role. Returns 0 with *out set (free
 * with raft_free), or -EINVAL (err says which field) / -ENOMEM. err may be NULL. */
int raft_new(const raft_config *c, raft **out, char *err, size_t errlen);
/* raft_free releases the core and any batch still outstanding. NULL is a no-op. */
void raft_free(raft *r);

/* raft_tick advances time: election and heartbeat timers, check-quorum, transfer abort. */
void raft_tick(raft *r, uint64_t now_ms);
/* raft_next_timeout: the time at which raft_tick next has work to do. */
uint64_t raft_next_timeout(const raft *r);

/* raft_step feeds one message from a peer; m is borrowed for the call. Returns 0, -EINVAL
 * (not addressed to us, unknown sender, inconsistent fields) or -EPROTO. */
int raft_step(raft *r, const raft_message *m, uint64_t now_ms);

/* raft_peer_lost: a hint from the caller that its connection to peer closed (the transport saw
 * the peer's TCP connection end, as when its process exits). If peer is the leader this follower
 * follows, the follower stops waiting for the rest of its random timeout: its election deadline
 * moves to no later than the end of its stickiness window (T after it last heard from the leader,
 * and T after its own start) plus a random part below min(heartbeat, T), so it stays in [T, 2T)
 * after the last contact. The hint never lets anything happen sooner than the rules allow: votes
 * are still refused for T after the last contact, pre-vote still protects a live leader, and a
 * false hint (a connection reset while the leader lives) is undone by the next heartbeat.
 * Returns 0, or -EINVAL for an unknown peer. */
int raft_peer_lost(raft *r, raft_id peer, uint64_t now_ms);

/* raft_propose appends a command (type RAFT_ENTRY_NORMAL, data copied) to the leader's log.
 * *index_out (may be NULL) receives its index. Returns 0, -EPERM (not leader), -EBUSY
 * (transfer in progress), -EMSGSIZE (len > RAFT_MAX_ENTRY_LEN) or -ENOMEM. */
int raft_propose(raft *r, uint8_t type, const void *data, size_t len, uint64_t *index_out);

/* raft_transfer starts a leadership transfer to target (0: the most up-to-date follower).
 * Proposals are refused until it ends: the target is caught up and sent TimeoutNow; if it is
 * not leader within an election timeout the transfer is aborted (and, if TimeoutNow was sent,
 * this node steps down, because its lease may not resume in this term). Returns 0, -EPERM
 * (not leader), -EINVAL (bad target), -EBUSY (another transfer running). */
int raft_transfer(raft *r, raft_id target);

/* raft_compact: the application has durably saved a snapshot of its state after applying
 * entry index (<= the last applied index) of the given term. The core keeps a copy of data
 * (to send to lagging followers, in chunks of max_snapshot_chunk bytes, one chunk in flight per
 * follower) and drops its in-memory log up to index; without compaction that log only grows.
 * Returns 0, -EINVAL (index not applied, or term does not match the log), -EMSGSIZE or -ENOMEM. */
int raft_compact(raft *r, uint64_t index, uint64_t term, const void *data, size_t len);

/* raft_has_ready: whether raft_ready would return work (false while a batch is outstanding). */
bool raft_has_ready(const raft *r);
/* raft_ready fills *u with the next batch; precondition: no batch outstanding. Returns 0, or
 * -ENOMEM with nothing handed out (try again later). */
int raft_ready(raft *r, raft_update *u);
/* raft_advance: every step of the batch u is done (persisted, sent, applied). */
void raft_advance(raft *r, raft_update *u);

/* raft_lease_valid: true iff this node is leader, has not given up its lease this term, and a
 * majority (itself included) acknowledged a round it sent at time s with now < s + T - drift.
 * Followers refuse votes for T after hearing from a leader (and for T after their own start),
 * so no other leader can be elected while this holds. Pass the current monotonic time and ask
 * right before every action: a process paused in between wakes with its lease long gone. */
bool raft_lease_valid(const raft *r, uint64_t now_ms);
/* raft_lease_expiry: the first time the current lease is no longer valid; 0 if none. */
uint64_t raft_lease_expiry(const raft *r);

/* Queries. */
raft_role raft_get_role(const raft *r);
uint64_t raft_get_term(const raft *r);
raft_id raft_get_vote(const raft *r);
raft_id raft_get_leader(const raft *r);   /* 0: unknown */
uint64_t raft_get_commit(const raft *r);
uint64_t raft_get_applied(const raft *r); /* committed entries handed out and advanced */
uint64_t raft_last_index(const raft *r);
uint64_t raft_snapshot_index(const raft *r);
uint32_t raft_get_n_nodes(const raft *r);
raft_id raft_get_id(const raft *r);
raft_id raft_transfer_target(const raft *r); /* 0: no transfer running */
/* raft_recovering: the node started with raft_config.recovering and has not yet caught up. A
 * node whose disk was lost forgot its vote and the entries it acknowledged: if it voted, a
 * committed entry held by it and one other node could be outvoted, and it could vote twice in a
 * term. So it never becomes a candidate, and grants a (pre-)vote only once more than n - quorum
 * other nodes asked it for (pre-)votes since it started, and only for a term above all of theirs
 * and a log at least as up to date as all of theirs (one of them held every committed entry and
 * every term it could have voted in). It stops recovering when (1) it holds, and knows committed,
 * an entry of its current term, up to at least the largest commit index a leader of that term
 * sent it (a current-term entry commits only after every earlier committed one), or (2) all those
 * more than n - quorum nodes had empty logs: nothing was ever committed (a brand-new cluster,
 * where every node starts this way). It still sends pre-vote requests, which is how peers learn
 * its log is empty. The caller must remember the flag across restarts until it turns false (the
 * node keeps a marker file): a node that wrote a hard state while recovering is still one. */
bool raft_recovering(const raft *r);
/* raft_term_at: the term of entry index (the snapshot's term at its index); 0 if unknown. */
uint64_t raft_term_at(const raft *r, uint64_t index);
/* raft_entry_at: entry index of the in-memory log, or NULL (compacted or beyond the end).
 * Borrowed: valid until the next call that changes the core. */
const raft_entry *raft_entry_at(const raft *r, uint64_t index);
/* raft_match_index: leader only: how far peer's log is known to match ours (0 otherwise). */
uint64_t raft_match_index(const raft *r, raft_id peer);
/* raft_errmsg: context for the last error returned by raft_step/propose/compact. */
const char *raft_errmsg(const raft *r);
const char *raft_role_name(raft_role role);  /* "follower", "pre-candidate", "candidate", "leader" */
const char *raft_msg_type_name(uint8_t type);

/* The first byte of every encoded message. 2: snapshots travel in chunks (SNAPSHOT carries
 * offset and total, SNAPSHOT_RESP exists). Nodes of different versions cannot talk Raft. */
#define RAFT_CODEC_VERSION 2

/* Wire codec (little endian, versioned). raft_msg_encoded_len: exact size of m's encoding.
 * raft_msg_encode writes it into buf (cap bytes); returns the length or -EMSGSIZE. */
size_t raft_msg_encoded_len(const raft_message *m);
int raft_msg_encode(const raft_message *m, uint8_t *buf, size_t cap);
/* raft_msg_decode parses exactly len bytes from outside (untrusted). On 0, *m owns heap
 * memory: release it with raft_msg_release. Returns 0, -EBADMSG (malformed, truncated,
 * trailing bytes, out-of-range fields), -EPROTONOSUPPORT (another version of the encoding: a
 * peer running another release; RAFT_CODEC_VERSION) or -ENOMEM; on error *m holds nothing. */
int raft_msg_decode(const uint8_t *buf, size_t len, raft_message *m);
/* raft_msg_release frees what a decoded message (or a copy made by raft_msg_copy) owns. */
void raft_msg_release(raft_message *m);
/* raft_msg_copy deep-copies src into *dst (release with raft_msg_release). */
int raft_msg_copy(raft_message *dst, const raft_message *src);

#endif
