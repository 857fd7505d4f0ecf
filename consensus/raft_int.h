/* raft_int.h: the core's private state and the functions its files share (raft__ prefix).
 * Nothing outside consensus/ includes this. */
#ifndef RAFT_INT_H
#define RAFT_INT_H

/* The core's asserts are its invariants: they stay on in release builds. Every core file
 * includes this header first, before anything that could pull in <assert.h>. */
#undef NDEBUG

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft.h"

#define RAFT_MAX_INFLIGHT 256
/* No log or term gets near this; a message naming a larger index or term is refused, so
 * index + 1, index + n_entries and term + 1 never overflow. */
#define RAFT_INDEX_MAX (UINT64_C(1) << 62)

typedef enum {
    RAFT_PR_PROBE = 0,   /* next is a guess: one APPEND at a time until a reply */
    RAFT_PR_REPLICATE,   /* match is known: stream APPENDs, up to max_inflight */
    RAFT_PR_SNAPSHOT     /* a snapshot is on its way; wait for its reply */
} raft_pr_state;

/* What the leader knows about one follower. */
typedef struct {
    uint64_t match;            /* highest index known to match ours */
    uint64_t match_sent_ms;    /* our send time of the newest request a reply showed match for */
    uint64_t next;             /* next index to send */
    uint8_t state;             /* raft_pr_state */
    bool probe_sent;           /* PROBE: an APPEND is out; wait for a reply or heartbeat reply */
    uint64_t pending_snapshot; /* SNAPSHOT: index of the snapshot being sent */
    uint64_t snap_sent_ms;     /* SNAPSHOT: when the transfer started or last made progress */
    uint64_t snap_chunk_ms;    /* SNAPSHOT: when the chunk at snap_offset was last sent */
    uint32_t snap_offset;      /* SNAPSHOT: bytes the follower is known to hold; next chunk's start */
    uint64_t inflight[RAFT_MAX_INFLIGHT]; /* last index of each APPEND in flight, ascending */
    uint32_t in_start, in_count;
    uint64_t last_resp_ms;     /* last reply in this term (check-quorum counts replies, not sends) */
    uint64_t ack_sent_ms;      /* latest round (by our send time) it acknowledged in this term */
    uint64_t ack_recv_ms;      /* when that acknowledgement arrived (diagnostics only) */
    bool acked;                /* ack_sent_ms is meaningful */
} raft_progress;

/* The in-memory log: e[i] has index snap_index + 1 + i. Entries own their data. */
typedef struct {
    uint64_t snap_index;
    uint64_t snap_term;
    raft_entry *e;
    size_t n;
    size_t cap;
} raft_log;

struct raft {
    raft_id id;
    uint32_t n;
    uint32_t heartbeat_ms;
    uint32_t election_ms;      /* T, the minimum election timeout */
    uint32_t drift_ms;
    uint32_t max_entries;
    uint32_t max_bytes;
    uint32_t max_inflight;
    uint32_t max_chunk;        /* snapshot bytes per SNAPSHOT message */
    uint64_t rng;
    uint64_t now;
    uint64_t started_at;

    /* Persistent state (as the core sees it; durable once handed out and advanced). */
    uint64_t term;
    raft_id vote;
    uint64_t commit;
    raft_log log;
    uint8_t *snap_data;        /* the bytes of the snapshot at log.snap_index; NULL if none */
    uint32_t snap_len;

    /* Volatile state. */
    raft_role role;
    raft_id leader;
    uint64_t election_deadline;
    uint64_t last_heard_ms;    /* when a leader last reached us (stickiness) */
    bool heard;
    raft_id hinted;            /* the leader whose connection closed (raft_peer_lost); 0: none */
    uint32_t granted;          /* votes by id bit, this campaign */
    bool recovering;           /* raft_recovering: lost its disk, not caught up yet */
    uint32_t seen_peers;       /* recovering: peers seen asking for (pre-)votes since start */
    uint64_t seen_term;        /* ... the highest term they held */
    uint64_t seen_last_term;   /* ... and the most up-to-date log among theirs */
    uint64_t seen_last_index;
    uint64_t recover_to;       /* recovering: largest commit a leader of our term sent us */
    uint32_t refused;
    /* Follower: the snapshot being assembled from chunks (snapshot.c); rx_data NULL: none.
     * One transfer at a time, from one leader in one term: anything else starts over. */
    uint8_t *rx_data;          /* rx_total bytes, the first rx_have of them received */
    uint32_t rx_total, rx_have;
    uint64_t rx_index, rx_term;/* the snapshot's last entry */
    uint64_t rx_in_term;       /* our term when it began */
    raft_id rx_from;           /* the leader sending it */

    /* Leader state. */
    raft_progress pr[RAFT_MAX_NODES + 1]; /* by id; pr[id] is ourselves */
    uint64_t heartbeat_due;
    uint64_t lead_since;
    bool lease_off;            /* sent TimeoutNow this term: no lease until the term ends */
    raft_id transfer_to;
    uint64_t transfer_deadline;
    bool timeout_now_sent;

    /* What has been handed to the caller. */
    uint64_t stable;           /* log prefix known durable */
    uint64_t unsent_from;      /* first index not yet handed out in a batch */
    uint64_t truncate_from;    /* storage must cut here in the next batch; 0 none */
    bool snap_unsent;          /* an installed snapshot not yet handed out */
    raft_hard_state hs_out;    /* hard state as last handed out */
    uint64_t apply_out;        /* last committed index handed out for applying */
    uint64_t applied;          /* ... and advanced */

    raft_message *out;         /* outbox for the next batch */
    size_t n_out;
    size_t cap_out;

    bool outstanding;          /* a batch is between raft_ready and raft_advance */
    uint64_t seq;
    raft_update batch;         /* the outstanding batch (its memory is ours) */
    uint8_t *batch_snap;       /* copy of the snapshot bytes in the batch */

    char errmsg[256];
};

/* raft.c */
int raft__error(raft *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
uint64_t raft__random(raft *r);
void raft__set_now(raft *r, uint64_t now); /* the caller's clock is monotonic */
int raft__quorum(const raft *r);
bool raft__msg_is_response(uint8_t type);
void raft__check(const raft *r);   /* asserts the invariants that hold between calls */

/* raft_log.c */
uint64_t raft__last_index(const raft_log *l);
uint64_t raft__last_term(const raft_log *l);
uint64_t raft__term_at(const raft_log *l, uint64_t index);   /* 0 if unknown */
raft_entry *raft__entry(const raft_log *l, uint64_t index);  /* NULL if not in memory */
int raft__log_append(raft_log *l, uint64_t term, uint8_t type, const void *data, uint32_t len);
void raft__log_truncate(raft_log *l, uint64_t from);         /* drop entries >= from */
void raft__log_compact(raft_log *l, uint64_t upto);          /* drop entries <= upto */
void raft__log_reset(raft_log *l, uint64_t snap_index, uint64_t snap_term);
void raft__log_free(raft_log *l);
uint64_t raft__find_conflict_by_term(const raft_log *l, uint64_t index, uint64_t term);
/* One heap block holding an array of n entries and their data; free() it whole. */
raft_entry *raft__entries_dup(const raft_entry *src, size_t n);

/* election.c */
void raft__become_follower(raft *r, uint64_t term, raft_id leader);
void raft__reset_election_timer(raft *r);
void raft__campaign(raft *r, bool pre, bool transfer);
bool raft__in_lease(const raft *r);
void raft__handle_vote_req(raft *r, const raft_message *m);
void raft__handle_vote_resp(raft *r, const raft_message *m);
void raft__recovery_note(raft *r, const raft_message *m);

/* replication.c */
void raft__become_leader(raft *r);
bool raft__send_append(raft *r, raft_id to, bool send_empty);
void raft__bcast_append(raft *r);
void raft__bcast_heartbeat(raft *r);
int raft__handle_append(raft *r, const raft_message *m);
void raft__handle_heartbeat(raft *r, const raft_message *m);
void raft__handle_append_resp(raft *r, const raft_message *m);
void raft__handle_heartbeat_resp(raft *r, const raft_message *m);
bool raft__maybe_commit(raft *r);
void raft__commit_to(raft *r, uint64_t index);

/* progress.c */
void raft__pr_reset(raft *r);
void raft__pr_become_probe(raft_progress *pr);
void raft__pr_become_replicate(raft_progress *pr);
void raft__pr_become_snapshot(raft_progress *pr, uint64_t index, uint64_t now);
bool raft__pr_paused(const raft *r, const raft_progress *pr);
void raft__pr_inflight_add(raft_progress *pr, uint64_t last);
void raft__pr_inflight_free_to(raft_progress *pr, uint64_t index);
void raft__pr_inflight_free_first(raft_progress *pr);
bool raft__pr_update(raft_progress *pr, uint64_t index, uint64_t sent_ms);
bool raft__pr_decr_to(raft_progress *pr, uint64_t rejected, uint64_t match_hint);
bool raft__pr_lost_log(const raft_progress *pr, uint64_t has, uint64_t sent_ms);
void raft__pr_reset_lost(raft_progress *pr, uint64_t has);

/* lease.c */
void raft__note_reply(raft *r, raft_id from, uint64_t sent_ms);
bool raft__quorum_active(const raft *r);
uint64_t raft__quorum_deadline(const raft *r);

/* transfer.c */
void raft__transfer_progress(raft *r, raft_id from);
void raft__transfer_tick(raft *r);
void raft__transfer_clear(raft *r);
void raft__handle_timeout_now(raft *r, const raft_message *m);

/* snapshot.c */
void raft__send_snapshot(raft *r, raft_id to);
void raft__snapshot_retransmit(raft *r, raft_id to);
void raft__handle_snapshot(raft *r, const raft_message *m);
void raft__handle_snapshot_resp(raft *r, const raft_message *m);
void raft__snap_rx_drop(raft *r);  /* forget a partly received snapshot */

/* ready.c */
raft_message *raft__msg_new(raft *r, uint8_t type, raft_id to);  /* NULL on ENOMEM: message lost */
void raft__outbox_free(raft *r);
void raft__batch_free(raft *r);

#endif
