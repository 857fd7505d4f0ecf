/* tp_int.h: the transport's private declarations, shared by its files and its own tests: the
 * bounds-checked reader/writer, the envelope and its HMAC, replay windows, body codecs, the item
 * table, and struct tp itself. Nothing outside transport/ (and the transport tests and fuzzers) includes this. */
#ifndef TP_INT_H
#define TP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/md.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <uv.h>

#include "transport.h"
#include "util.h"

/* Internal message types (all below TP_TYPE_APP). Bodies, little-endian:
 *   PING   {u64 sender's uv_hrtime ns}          PONG {u64 the echoed ping time}
 *   DIGEST {u32 n_items, u64 xor of tp__item_hash over the sender's own items}
 *   PULL   {}                                    ask for the receiver's whole item set
 *   ITEMS  {u8 complete, u32 sync_id, u32 chunk, u32 n_chunks, u32 count,
 *           count x {u8 key_len, key, u64 version, u32 val_len, val}}
 * A complete set is the owner's whole item set as of one PULL, split into n_chunks messages
 * that share sync_id; once all arrive, keys not among them were removed by the owner. */
enum { TP__PING = 1, TP__PONG = 2, TP__DIGEST = 3, TP__PULL = 4, TP__ITEMS = 5 };

#define TP__MAC_LEN 32
#define TP__MAX_CLUSTER_LEN 255
#define TP__REPLAY_WINDOW 128       /* sequence numbers remembered below the highest seen */
#define TP__SEND_BUF 256            /* nng push queue per peer, in messages */
#define TP__DRAIN_MAX 1024          /* messages handled per readable wakeup before yielding */
#define TP__DRAIN_BYTES (1024 * 1024) /* message bytes handled per readable wakeup before yielding */
#define TP__RECV_SLACK 4096         /* nng drops frames over max_message_bytes + this, we count the rest */
#define TP__MIN_MESSAGE_BYTES 4096  /* so one chunk (max/2) always holds the largest envelope overhead */
#define TP__ITEMS_HDR_LEN (1 + 4 + 4 + 4 + 4)
#define TP__CONN_RECHECK_MS 20      /* least time between two connectivity snapshots from a send */
#define TP__PULL_PATIENCE 4         /* gossip intervals an unanswered PULL is waited for */
#define TP__UNAUTH_MAX 64           /* incoming connections without an authenticated message yet, in total */
#define TP__UNAUTH_PER_ADDR 16      /* ... and from one source address */
#define TP__UNAUTH_IDLE_MS 10000    /* such a connection is closed after this long (a peer greets at once) */
#define TP__FD_HEADROOM 64          /* descriptors left to storage and the API: no new connection beyond */
#define TP__RENEW_MIN_MS 1000       /* least silence before a stalled connection is replaced (peers.c) */

/* ---- bounds-checked reader and writer ---- */

/* Decoders read with util.h's ut_rd: it never reads past the end; the first short read sets bad
 * and every later read returns 0. Encoders write with util.h's ut_wr, into its own heap buffer
 * (ut_wr_init, grows up to max) or a caller's fixed buffer (ut_wr_fixed); overflow or
 * out-of-memory sets bad, and the bytes are then garbage. */

/* ---- body codecs (codec.c); decoders return 0 or -EBADMSG ---- */

void tp__ping_encode(ut_wr *w, uint64_t t_ns); /* PING and PONG share the layout */
int tp__ping_decode(const uint8_t *body, size_t len, uint64_t *t_ns);
void tp__digest_encode(ut_wr *w, uint32_t n_items, uint64_t hash);
int tp__digest_decode(const uint8_t *body, size_t len, uint32_t *n_items, uint64_t *hash);
int tp__pull_decode(const uint8_t *body, size_t len);

typedef struct {
    bool complete;
    uint32_t sync_id;
    uint32_t chunk;
    uint32_t n_chunks;
    uint32_t count;
} tp__items_hdr;

/* One item as read from the wire; key is a NUL-terminated copy, val points into the body. */
typedef struct {
    char key[TP_MAX_KEY_LEN + 1];
    size_t klen;
    uint64_t version;
    const uint8_t *val;
    size_t vlen;
} tp__wire_item;

typedef struct {
    tp__items_hdr hdr;
    ut_rd rd;
    uint32_t left;
} tp__items_it;

size_t tp__item_wire_len(size_t klen, size_t vlen);
void tp__items_encode_hdr(ut_wr *w, const tp__items_hdr *h);
void tp__items_encode_item(ut_wr *w, const char *key, size_t klen, uint64_t version, const void *val,
                           size_t vlen);
/* tp__items_open validates the whole body (header, every item, no trailing bytes) so that
 * tp__items_next cannot fail afterwards: a malformed ITEMS message changes nothing. */
int tp__items_open(tp__items_it *it, const uint8_t *body, size_t len);
bool tp__items_next(tp__items_it *it, tp__wire_item *out);

/* ---- HMAC and envelope (envelope.c) ---- */

typedef struct {
    mbedtls_md_context_t ctx;
    bool ready;
} tp__mac;

int tp__mac_init(tp__mac *m, const uint8_t *key, size_t len);
void tp__mac_compute(tp__mac *m, const uint8_t *data, size_t len, uint8_t out[TP__MAC_LEN]);
void tp__mac_free(tp__mac *m);

/* Wire layout, little-endian: u8 version, u8 type, u8 cluster_len + cluster, u8 sender_len +
 * sender, u8 dest_len + dest, u64 epoch, u64 nonce, u64 echo, u64 seq, i64 sent_at_ms,
 * u32 body_len + body, then HMAC-SHA256 over all of that. dest names the receiving node so a
 * message copied from one link cannot be replayed into another. nonce is the sender's random
 * per-boot value and echo the receiver's as the sender last heard it (0: never): a message
 * recorded before the receiver restarted cannot carry the receiver's new nonce, so it cannot be
 * replayed into the new run (transport.c checks it). Pointers borrow the buffer the envelope came from. */
typedef struct {
    uint8_t version;
    uint8_t type;
    const uint8_t *cluster;
    size_t cluster_len;
    const uint8_t *sender;
    size_t sender_len;
    const uint8_t *dest;
    size_t dest_len;
    uint64_t epoch;
    uint64_t nonce;
    uint64_t echo;
    uint64_t seq;
    int64_t sent_at_ms;
    const uint8_t *body;
    size_t body_len;
} tp__env;

/* What tp__env_open checks against; mac, cluster and self_id are borrowed. */
typedef struct {
    tp__mac *mac;
    const char *cluster;
    const char *self_id;
    size_t max_bytes;
} tp__verifier;

size_t tp__env_size(const tp__env *e);
/* tp__env_seal writes e and its HMAC into out (cap bytes). Returns 0 or -EMSGSIZE. */
int tp__env_seal(const tp__env *e, tp__mac *mac, uint8_t *out, size_t cap);
/* tp__env_open checks, in order: size, structure, version, HMAC (constant time), cluster,
 * destination. Returns 0 with e filled, or -EBADMSG with *why and a static *detail; e->sender
 * is set whenever the structure got that far (untrusted unless 0 was returned). */
int tp__env_open(const tp__verifier *v, const uint8_t *buf, size_t len, tp__env *e, tp_drop_reason *why,
                 const char **detail);

/* ---- replay windows (replay.c) ---- */

typedef struct {
    bool known;
    uint64_t epoch;
    uint64_t top;                          /* highest sequence accepted in epoch */
    uint64_t bits[TP__REPLAY_WINDOW / 64]; /* bit i: top - i was accepted */
} tp__replay;

enum { TP__RP_DUP = -2, TP__RP_REPLAY = -1, TP__RP_OK = 0, TP__RP_FIRST = 1, TP__RP_NEW_EPOCH = 2 };
/* tp__replay_accept records (epoch, seq) and says whether it is new: TP__RP_FIRST on the first
 * message ever, TP__RP_NEW_EPOCH when epoch grew (window reset), TP__RP_OK, TP__RP_DUP (seen,
 * within the window: a copy from another of the sender's links, or a copy replayed by someone
 * else; either way dropped) or TP__RP_REPLAY (older epoch, seq 0, or below the window) without
 * changing anything. */
int tp__replay_accept(tp__replay *r, uint64_t epoch, uint64_t seq);

/* ---- item tables (kv.c) ---- */

typedef struct {
    char *key; /* owned, NUL-terminated */
    size_t klen;
    uint64_t kh;  /* hash of the key alone: its slot in the table's index */
    uint64_t version;
    uint8_t *val; /* owned; NULL when vlen is 0 */
    size_t vlen;
    uint32_t mark; /* a peer's item: complete-set generation that last confirmed it;
                    * one of our own: 1 while its push is pending */
} tp__item;

/* Items in no particular order (a removal moves the last item into the hole), found through an
 * open-addressing index of their positions: inserting, finding and removing cost the same at
 * 100,000 items as at 10 (a sorted array moved half the table on every new key). hash is the xor
 * of tp__item_hash over all items, kept up to date. */
typedef struct {
    tp__item *v;
    size_t n;
    size_t cap;
    uint32_t *idx;   /* idx_cap slots (a power of two, 0 or at least 2n), each 0 or position + 1 */
    size_t idx_cap;
    uint64_t hash;
} tp__kv;

uint64_t tp__item_hash(const char *key, size_t klen, uint64_t version);
/* tp__kv_find returns the item (valid until the next change) or NULL; *pos gets its index, or
 * kv->n when it is absent. */
tp__item *tp__kv_find(const tp__kv *kv, const char *key, size_t klen, size_t *pos);
/* tp__kv_set inserts or replaces key (value copied). Returns 0 or -ENOMEM (table unchanged). */
int tp__kv_set(tp__kv *kv, const char *key, size_t klen, uint64_t version, const void *val, size_t vlen,
               uint32_t mark);
/* tp__kv_remove_at removes the item at pos; the last item takes its position. */
void tp__kv_remove_at(tp__kv *kv, size_t pos);
void tp__kv_clear(tp__kv *kv);

/* ---- the flood guard (pipe_events.c) ---- */

/* An incoming connection (a pipe of the pull socket) that has not yet delivered an authenticated
 * message. */
typedef struct {
    uint32_t pipe_id;
    uint64_t since_ms;  /* monotonic, when nng added it */
    uint8_t addr[16];   /* source address (IPv4 in the first 4 bytes), compared for the per-address bound */
} tp__guest;

/* The guard's table is shared between nng's threads (pipe added, removed) and the loop (a pipe
 * authenticated, the idle sweep), hence the mutex. Bounded: at most TP__UNAUTH_MAX guests. */
typedef struct {
    pthread_mutex_t mu;
    bool ready;
    tp__guest v[TP__UNAUTH_MAX];
    size_t n;
    int fd_limit;             /* RLIMIT_NOFILE (soft) at start */
    atomic_uint_fast64_t closed; /* connections the guard closed, counted on nng threads */
    uint64_t closed_seen;     /* ... of which the loop has counted as drops */
} tp__guard;

/* ---- the transport ---- */

/* One connection to a peer: a push0 socket with one dialer. A peer has tp->n_links of them and
 * every message goes out on each that is up (the receiver's replay window drops the copies), so
 * one stalled TCP connection delays nothing while another gets through (peers.c says why). */
typedef struct tp__link {
    struct tp__peer *peer;
    nng_socket push;
    nng_dialer dialer;
    bool open;
    bool connected;             /* it had an established pipe at the last snapshot or event */
    atomic_bool hung_up;        /* set on an nng thread when its pipe is removed (pipe_events.c) */
    atomic_bool came_up;        /* ... and when one is added */
    atomic_uint_fast32_t pipe_id; /* its current pipe (nng pipe id), 0: none */
    bool renewing;              /* we closed that pipe ourselves (peers.c): no hint of a loss */
    int64_t unanswered_ms;      /* uv_now of the first ping on it since its last pong; 0: none */
    int64_t unconnected_ms;     /* uv_now when a tick first found it down; 0: up */
} tp__link;

typedef struct tp__peer {
    char id[TP_MAX_ID_LEN + 1];
    size_t id_len;
    char *address; /* owned */
    struct tp *owner;

    tp__link link[TP_MAX_LINKS];
    nng_tls_config *tls; /* client config for its dialers, or NULL */
    bool connected;      /* one of its links is up */

    tp_peer_state state;
    int64_t last_seen_ms;
    int64_t rtt_us;
    uint64_t last_echo_ns; /* newest ping time a PONG echoed, to ignore stale pongs */
    uint64_t renewals;     /* links we replaced because they stalled or did not come up */
    uint64_t dups_in;      /* copies of messages already accepted (its redundant links) */

    uint64_t seq_out; /* last sequence number sent to this peer in our epoch */
    tp__replay replay;
    uint64_t nonce_in;       /* its per-boot nonce as last learnt (we echo it); 0: none yet */
    uint64_t nonce_epoch;    /* the epoch of the message it was learnt from */

    tp__kv items; /* its gossip items as we hold them */
    bool sync_active;
    uint32_t sync_id;
    uint32_t sync_seen;
    uint32_t sync_gen;
    int64_t pulled_ms;   /* uv_now of our outstanding PULL to it; 0: none */

    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
} tp__peer;

struct tp {
    uv_loop_t *loop;
    char cluster[TP__MAX_CLUSTER_LEN + 1];
    char self_id[TP_MAX_ID_LEN + 1];
    char *listen; /* owned */
    tp__peer *peers;
    size_t n_peers;

    tp__mac mac;
    tp__verifier ver;
    size_t max_bytes;
    uint64_t epoch;
    uint64_t nonce; /* random per tp instance, never 0: what peers must echo to us */
    int64_t boot_ms; /* wall clock at tp_new: a stale echo stamped earlier counts as a replay */
    int64_t gossip_ms, suspect_ms, dead_ms, redial_min_ms, redial_max_ms;
    size_t n_links; /* connections to each peer, 1..TP_MAX_LINKS */
    tp_callbacks cb;

    nng_socket pull;
    nng_listener listener;
    bool pull_open;
    nng_tls_config *tls_server;
    uv_poll_t rx_poll;
    bool rx_poll_init;
    uv_timer_t tick;
    uv_idle_t flush; /* runs once after a loop turn that changed our items */
    uv_work_t close_req;
    uv_async_t hangup;  /* woken by nng threads when a pipe to a peer comes or goes (pipe_events.c) */
    uint64_t conn_checked_ms;
    tp__guard guard;    /* incoming connections not yet authenticated (pipe_events.c) */

    tp__kv own;
    uint64_t own_version; /* last version given to one of our items in this epoch */
    uint32_t sync_next;
    size_t n_pending; /* own items changed since the last push */
    size_t *pending;  /* their positions in own (a push walks these, not every item) */
    size_t pending_cap;

    uint64_t drops[TP_DROP_COUNT];
    bool started;
    bool closing;
    int pending_close;
    void (*done)(void *arg);
    void *done_arg;
};

/* transport.c */
void tp__rx(tp *t, const uint8_t *buf, size_t len);
void tp__drop(tp *t, const char *peer_hint, tp_drop_reason why, const char *detail);
tp__peer *tp__peer_find(tp *t, const void *id, size_t len);

/* net.c */
int tp__net_open(tp *t, const tp_config *cfg, char *err, size_t errlen);
int tp__net_start(tp *t, char *err, size_t errlen);
/* tp__net_send seals body into an envelope for p and queues it without blocking. A peer that is
 * not connected is skipped (-EAGAIN; counted as a drop only when count_unconnected); a full
 * queue is always counted. Returns 0, -EAGAIN, -EMSGSIZE or -ENOMEM. */
int tp__net_send(tp *t, tp__peer *p, uint8_t type, const void *body, size_t len, bool count_unconnected);
/* tp__net_send_link is tp__net_send on one link only (pings: each link is measured on its own). */
int tp__net_send_link(tp *t, tp__peer *p, size_t link, uint8_t type, const void *body, size_t len);
void tp__net_refresh(tp *t);
/* tp__net_redial replaces a link's dialer by a new one, started: a connection attempt in progress
 * is abandoned. Returns 0 or a negative error (the link then stays without a dialer until the next). */
int tp__net_redial(tp *t, tp__link *l);
void tp__net_close(tp *t);

/* pipe_events.c */
int tp__hangup_init(tp *t);
int tp__hangup_watch(tp *t, tp__link *l); /* after l->push is open, before it dials */
/* tp__guard_watch bounds the pull socket's unauthenticated pipes; after it is open, before it
 * listens. Returns 0 or -EIO. tp__guard_free after nng_close of the pull socket. */
int tp__guard_watch(tp *t);
void tp__guard_free(tp *t);
/* tp__guard_authed: pipe delivered an authenticated message; it no longer counts (loop thread). */
void tp__guard_authed(tp *t, uint32_t pipe_id);
/* tp__guard_sweep closes guests idle for TP__UNAUTH_IDLE_MS and counts the guard's closes as
 * TP_DROP_UNAUTH_CONN drops (loop thread). */
void tp__guard_sweep(tp *t);

/* peers.c */
void tp__peers_start(tp *t);
void tp__peer_heard(tp *t, tp__peer *p);
void tp__peer_greet(tp *t, tp__peer *p); /* a new connection: ping and digest now */
/* tp__peer_renew closes our connection to p so that nng redials it (a fresh TCP connection);
 * its removal is not reported as on_peer_lost. Loop thread. */
void tp__peer_renew(tp *t, tp__link *l);
int tp__peer_on_ping(tp *t, tp__peer *p, const uint8_t *body, size_t len);
int tp__peer_on_pong(tp *t, tp__peer *p, const uint8_t *body, size_t len);

/* gossip.c */
void tp__gossip_send_digest(tp *t, tp__peer *p);
/* tp__gossip_flush pushes our changed items to every peer now. */
void tp__gossip_flush(tp *t);
void tp__gossip_reset_peer(tp *t, tp__peer *p, bool notify);
int tp__gossip_on_digest(tp *t, tp__peer *p, const uint8_t *body, size_t len);
int tp__gossip_on_pull(tp *t, tp__peer *p, const uint8_t *body, size_t len);
int tp__gossip_on_items(tp *t, tp__peer *p, const uint8_t *body, size_t len);

#endif
