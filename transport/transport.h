/* transport.h: cluster messaging for medic over nng: authenticated typed messages between the
 * configured nodes, peer liveness and round-trip times, and gossip of versioned items.
 *
 * The transport knows nothing about probes, services or Raft. It runs on the caller's libuv loop:
 * nng sockets are polled through their pollable descriptors and every callback below runs on the
 * loop thread, never on an nng thread. Sends never block: a message that cannot be queued is
 * dropped and counted (gossip repairs what was lost; Raft retries).
 *
 * Wire: every message is an envelope (protocol version, message type, cluster name, sender id,
 * sender epoch, sender's and receiver's per-boot nonces, sequence number, sender timestamp,
 * body) followed by an HMAC-SHA256 over all of it under the cluster secret. A message that does
 * not echo the receiver's current nonce was not sent to this run of it and is never accepted. A
 * message that fails authentication, names an unknown sender or another cluster, repeats an old
 * (epoch, sequence), exceeds max_message_bytes, has another protocol version, or does not parse
 * is dropped and counted by reason; nothing a peer sends can crash or stall the node. */
#ifndef TP_TRANSPORT_H
#define TP_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define TP_PROTOCOL_VERSION 2
/* Message types below TP_TYPE_APP are the transport's own (ping, pong, gossip). */
#define TP_TYPE_APP 16
#define TP_MAX_ID_LEN 64
#define TP_MAX_KEY_LEN 128
#define TP_DEFAULT_MAX_MESSAGE_BYTES (1024 * 1024)
#define TP_MAX_LINKS 4

typedef struct tp tp;

typedef enum {
    TP_PEER_UNKNOWN = 0, /* nothing heard since start */
    TP_PEER_ALIVE,
    TP_PEER_SUSPECT,     /* nothing heard for peer_suspect_ms */
    TP_PEER_DEAD         /* nothing heard for peer_dead_ms */
} tp_peer_state;

typedef enum {
    TP_DROP_AUTH = 0,      /* HMAC did not verify */
    TP_DROP_UNKNOWN_SENDER,
    TP_DROP_WRONG_CLUSTER,
    TP_DROP_REPLAY,        /* (epoch, sequence) already seen or too old */
    TP_DROP_TOO_LARGE,     /* over max_message_bytes */
    TP_DROP_VERSION,       /* another protocol version than ours (newer, or older than 2) */
    TP_DROP_MALFORMED,     /* envelope or body does not parse */
    TP_DROP_SEND_QUEUE,    /* ours: could not queue an outgoing message (peer not connected, buffer full) */
    TP_DROP_UNAUTH_CONN,   /* an incoming connection closed before it sent an authenticated message: over
                            * the per-address or total bound, idle too long, or descriptors running low */
    TP_DROP_COUNT
} tp_drop_reason;

typedef struct {
    const char *id;       /* the peer's node id, 1..TP_MAX_ID_LEN bytes */
    const char *address;  /* where it listens: "tcp://host:port" or "tls+tcp://host:port" */
} tp_peer_config;

/* Every pointer is borrowed for the duration of tp_new only (tp copies what it keeps). */
typedef struct {
    const char *cluster_name;
    const char *self_id;
    const char *listen;            /* our address, "tcp://0.0.0.0:8710" or "tls+tcp://..." */
    const tp_peer_config *peers;   /* every other node; not self */
    size_t n_peers;
    const uint8_t *secret;         /* the HMAC key; required, at least 16 bytes */
    size_t secret_len;
    size_t max_message_bytes;      /* whole envelope on the wire; 0: TP_DEFAULT_MAX_MESSAGE_BYTES, else >= 4096 */
    int64_t gossip_interval_ms;    /* digest and ping period, > 0 */
    int64_t peer_suspect_ms;       /* > gossip_interval_ms */
    int64_t peer_dead_ms;          /* > peer_suspect_ms */
    size_t links_per_peer;         /* TCP connections to each peer, every message sent on each: 0 gives 1,
                                    * at most TP_MAX_LINKS. More than one keeps messages flowing through
                                    * heavy packet loss, where one connection stalls for seconds */
    int64_t redial_min_ms;         /* redial backoff bounds; 0 gives 100 and 5000 */
    int64_t redial_max_ms;
    /* Mutual TLS for tls+tcp:// addresses; all three, or none. */
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *tls_ca_file;
    /* This process's epoch: strictly greater than any earlier run of this node (the caller
     * uses the wall clock at start, or a persisted counter). Peers reset their replay window
     * and forget our gossip items when it grows. Must be > 0. */
    uint64_t epoch;
} tp_config;

/* Callbacks, all on the loop thread. Pointers passed in are valid only during the call. */
typedef struct {
    /* An authenticated application message (type >= TP_TYPE_APP). */
    void (*on_message)(void *ctx, const char *from_id, uint8_t type, const uint8_t *body, size_t len);
    /* Our connection to the peer closed (its process may have exited: the kernel closes a dead
     * process's sockets). A hint that arrives long before liveness would notice; it is also
     * given when the link resets while the peer lives. May be NULL. */
    void (*on_peer_lost)(void *ctx, const char *peer_id);
    /* A peer changed liveness state. */
    void (*on_peer_state)(void *ctx, const char *peer_id, tp_peer_state from, tp_peer_state to);
    /* A peer's gossip item is new or has a newer version. */
    void (*on_gossip_item)(void *ctx, const char *owner_id, const char *key, const uint8_t *val, size_t len,
                           uint64_t version);
    /* Everything we hold of owner's items is confirmed current as of now (its digest matched).
     * Items received in on_gossip_item are current as of that call. */
    void (*on_gossip_vouch)(void *ctx, const char *owner_id);
    /* owner restarted (new epoch): forget its items; it re-sends the ones it still has. */
    void (*on_gossip_reset)(void *ctx, const char *owner_id);
    /* owner no longer publishes key (learnt from its complete item set after a digest mismatch). */
    void (*on_gossip_removed)(void *ctx, const char *owner_id, const char *key);
    /* A message was dropped. peer_hint is the claimed sender id (untrusted, may be "?"),
     * detail a short description. The transport counts every drop; the callee decides what to
     * log (the node logs at most once per peer per minute). */
    void (*on_drop)(void *ctx, const char *peer_hint, tp_drop_reason why, const char *detail);
    void *ctx;
} tp_callbacks;

typedef struct {
    const char *id;          /* valid until tp_close */
    const char *address;
    tp_peer_state state;
    bool connected;          /* one of our dialers had an established connection (an nng pipe) at the last check:
                              * checked every gossip interval and before a send to a peer believed
                              * disconnected (at most every 20 ms); sends to it are dropped while false */
    int64_t last_seen_ms;    /* monotonic ms (uv_now) of its last authenticated message; 0 = never */
    int64_t rtt_us;          /* last ping round trip; -1 = unknown */
    uint64_t renewals;       /* our connections to it replaced after their pings went unanswered, or
                              * their dial did not complete, for peer_suspect_ms (at least 1 s): a
                              * stalled TCP connection (heavy loss) is redialled rather than waited out */
    uint64_t dups_in;        /* copies of its messages dropped because one had arrived already (its
                              * links_per_peer > 1; not counted as drops) */
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
} tp_peer_info;

/* tp_new validates cfg and prepares sockets on loop; nothing is sent before tp_start.
 * Returns 0 with *out set, or a negative error with err filled (bad address, missing TLS
 * files, secret too short, duplicate peer ids, ...). */
int tp_new(uv_loop_t *loop, const tp_config *cfg, const tp_callbacks *cb, tp **out, char *err, size_t errlen);

/* tp_start listens and dials every peer (redialled with backoff until they answer).
 * Returns 0, or a negative error with err filled (for example the listen address is in use). */
int tp_start(tp *t, char *err, size_t errlen);

/* tp_drain handles the messages already received now, as a readable wakeup of the loop would (the
 * same per-wakeup bound). A caller about to judge by time after the loop was held up (Raft's tick
 * after a long turn) calls it first, so it hears what arrived meanwhile before it decides that
 * nobody spoke. Does nothing before tp_start or once closing. */
void tp_drain(tp *t);

/* tp_send queues one message of an application type (>= TP_TYPE_APP) to a peer. The body is
 * copied. Returns 0, -ENOENT (no such peer), -EMSGSIZE (envelope over max_message_bytes), -EINVAL
 * (type below TP_TYPE_APP), or -EAGAIN (not connected or queue full: dropped and counted as
 * TP_DROP_SEND_QUEUE). */
int tp_send(tp *t, const char *peer_id, uint8_t type, const void *body, size_t len);

/* tp_broadcast sends to every peer; returns how many accepted it, or -EINVAL / -EMSGSIZE. */
int tp_broadcast(tp *t, uint8_t type, const void *body, size_t len);

/* tp_gossip_set publishes our own item key (1..TP_MAX_KEY_LEN bytes) with a new value; its
 * version grows and it is pushed to every peer at once. Equal values are not re-sent.
 * Returns 0, -EINVAL, -ENOMEM, or -EMSGSIZE (one item must fit in max_message_bytes / 2). */
int tp_gossip_set(tp *t, const char *key, const void *val, size_t len);

/* tp_gossip_remove stops publishing our item key (peers drop it at the next digest repair and
 * call on_gossip_removed). Returns 0, -EINVAL or -ENOENT. */
int tp_gossip_remove(tp *t, const char *key);

size_t tp_peer_count(const tp *t);
/* tp_peer_get fills *info for peer i in config order; returns 0 or -ENOENT. */
int tp_peer_get(const tp *t, size_t i, tp_peer_info *info);

/* tp_drops copies the per-reason drop counters. */
void tp_drops(const tp *t, uint64_t out[TP_DROP_COUNT]);
/* tp_drop_reason_name: "auth", "unknown_sender", "wrong_cluster", "replay", "too_large",
 * "version", "malformed", "send_queue", "unauth_conn". */
const char *tp_drop_reason_name(tp_drop_reason why);
const char *tp_peer_state_name(tp_peer_state s);

/* tp_close closes sockets and handles; done(arg) runs on the loop once everything is freed. The
 * nng sockets are closed on a libuv worker thread, since nng_close waits for nng's threads (and
 * Debian's nng 1.5.2 can wait forever there once TLS handshakes with a peer have failed: then done
 * never runs, and the caller should not wait for it without a deadline). */
void tp_close(tp *t, void (*done)(void *arg), void *arg);

#endif
