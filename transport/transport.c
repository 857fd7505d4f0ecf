/* transport.c: the transport's lifecycle and glue: configuration checks (tp_new), start, the
 * receive pipeline from an envelope to the handler of its type, application sends, drop
 * counting, and an orderly close that frees memory only once libuv has released every handle. */
#include "tp_int.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static bool valid_addr(const char *a)
{
    return a != NULL && (strncmp(a, "tcp://", 6) == 0 || strncmp(a, "tls+tcp://", 10) == 0);
}

static int check_config(const tp_config *c, char *err, size_t errlen)
{
    size_t n;
    if (c->cluster_name == NULL || (n = strlen(c->cluster_name)) == 0 || n > TP__MAX_CLUSTER_LEN) {
        return fail(err, errlen, "cluster_name: must be 1..%d bytes", TP__MAX_CLUSTER_LEN);
    }
    if (c->self_id == NULL || (n = strlen(c->self_id)) == 0 || n > TP_MAX_ID_LEN) {
        return fail(err, errlen, "self_id: must be 1..%d bytes", TP_MAX_ID_LEN);
    }
    if (!valid_addr(c->listen)) {
        return fail(err, errlen, "listen: must be tcp://host:port or tls+tcp://host:port");
    }
    if (c->n_peers > 0 && c->peers == NULL) {
        return fail(err, errlen, "peers: missing");
    }
    for (size_t i = 0; i < c->n_peers; i++) {
        const char *id = c->peers[i].id;
        if (id == NULL || (n = strlen(id)) == 0 || n > TP_MAX_ID_LEN) {
            return fail(err, errlen, "peers[%zu].id: must be 1..%d bytes", i, TP_MAX_ID_LEN);
        }
        if (strcmp(id, c->self_id) == 0) {
            return fail(err, errlen, "peers[%zu].id: is self_id", i);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(id, c->peers[j].id) == 0) {
                return fail(err, errlen, "peers[%zu].id: duplicate of peers[%zu]", i, j);
            }
        }
        if (!valid_addr(c->peers[i].address)) {
            return fail(err, errlen, "peers[%zu].address: must be tcp://host:port or tls+tcp://host:port", i);
        }
    }
    if (c->secret == NULL || c->secret_len < 16) {
        return fail(err, errlen, "secret: must be at least 16 bytes");
    }
    if (c->max_message_bytes != 0 && c->max_message_bytes < TP__MIN_MESSAGE_BYTES) {
        return fail(err, errlen, "max_message_bytes: must be 0 or at least %d", TP__MIN_MESSAGE_BYTES);
    }
    if (c->gossip_interval_ms <= 0 || c->peer_suspect_ms <= c->gossip_interval_ms ||
        c->peer_dead_ms <= c->peer_suspect_ms) {
        return fail(err, errlen, "need 0 < gossip_interval_ms < peer_suspect_ms < peer_dead_ms");
    }
    if (c->links_per_peer > TP_MAX_LINKS) {
        return fail(err, errlen, "links_per_peer: must be 0..%d", TP_MAX_LINKS);
    }
    bool default_redial = c->redial_min_ms == 0 && c->redial_max_ms == 0;
    if (!default_redial && (c->redial_min_ms <= 0 || c->redial_max_ms < c->redial_min_ms)) {
        return fail(err, errlen, "redial_min_ms, redial_max_ms: need 0 < min <= max (or both 0)");
    }
    if (c->epoch == 0) {
        return fail(err, errlen, "epoch: must be greater than 0");
    }
    return 0;
}

/* free_tp releases everything; the uv handles must be closed (or never initialised). */
static void free_tp(tp *t)
{
    tp__net_close(t);
    for (size_t i = 0; i < t->n_peers; i++) {
        free(t->peers[i].address);
        tp__kv_clear(&t->peers[i].items);
    }
    free(t->peers);
    tp__kv_clear(&t->own);
    free(t->pending);
    tp__mac_free(&t->mac);
    free(t->listen);
    free(t);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* boot_nonce returns a random non-zero value for this instance. It need not be secret, only
 * never repeat across runs; should the kernel's generator fail, the time, the address of t and
 * the epoch still make a repeat practically impossible. */
static uint64_t boot_nonce(const tp *t)
{
    uint64_t n = 0;
    if (getrandom(&n, sizeof n, GRND_NONBLOCK) != (ssize_t)sizeof n) {
        n = uv_hrtime() ^ ((uint64_t)(uintptr_t)t << 17) ^ (t->epoch * 0x9e3779b97f4a7c15u);
    }
    return n != 0 ? n : 1;
}

static int copy_config(tp *t, const tp_config *c)
{
    strcpy(t->cluster, c->cluster_name);
    strcpy(t->self_id, c->self_id);
    t->max_bytes = c->max_message_bytes ? c->max_message_bytes : TP_DEFAULT_MAX_MESSAGE_BYTES;
    t->epoch = c->epoch;
    t->nonce = boot_nonce(t);
    t->boot_ms = wall_ms();
    t->gossip_ms = c->gossip_interval_ms;
    t->suspect_ms = c->peer_suspect_ms;
    t->dead_ms = c->peer_dead_ms;
    t->redial_min_ms = c->redial_min_ms ? c->redial_min_ms : 100;
    t->redial_max_ms = c->redial_max_ms ? c->redial_max_ms : 5000;
    t->n_links = c->links_per_peer ? c->links_per_peer : 1;
    if ((t->listen = strdup(c->listen)) == NULL) {
        return -ENOMEM;
    }
    if (c->n_peers > 0 && (t->peers = calloc(c->n_peers, sizeof *t->peers)) == NULL) {
        return -ENOMEM;
    }
    t->n_peers = c->n_peers;
    for (size_t i = 0; i < c->n_peers; i++) {
        tp__peer *p = &t->peers[i];
        strcpy(p->id, c->peers[i].id);
        p->id_len = strlen(p->id);
        p->rtt_us = -1;
        for (size_t k = 0; k < TP_MAX_LINKS; k++) {
            p->link[k].peer = p;
        }
        if ((p->address = strdup(c->peers[i].address)) == NULL) {
            return -ENOMEM;
        }
    }
    return tp__mac_init(&t->mac, c->secret, c->secret_len);
}

int tp_new(uv_loop_t *loop, const tp_config *cfg, const tp_callbacks *cb, tp **out, char *err, size_t errlen)
{
    if (loop == NULL || cfg == NULL || out == NULL) {
        return fail(err, errlen, "tp_new: missing argument");
    }
    int rc = check_config(cfg, err, errlen);
    if (rc != 0) {
        return rc;
    }
    tp *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return -ENOMEM;
    }
    t->loop = loop;
    if (cb != NULL) {
        t->cb = *cb;
    }
    if ((rc = copy_config(t, cfg)) != 0) {
        fail(err, errlen, "out of memory");
        free_tp(t);
        return rc;
    }
    t->ver = (tp__verifier){.mac = &t->mac, .cluster = t->cluster, .self_id = t->self_id, .max_bytes = t->max_bytes};
    if ((rc = tp__net_open(t, cfg, err, errlen)) != 0) {
        free_tp(t);
        return rc;
    }
    uv_timer_init(loop, &t->tick); /* last: from here on only tp_close may free t */
    t->tick.data = t;
    uv_idle_init(loop, &t->flush);
    t->flush.data = t;
    if (tp__hangup_init(t) != 0) {
        abort(); /* uv_async_init only fails on an exhausted process (no eventfd) */
    }
    *out = t;
    return 0;
}

int tp_start(tp *t, char *err, size_t errlen)
{
    assert(!t->closing);
    if (t->started) {
        fail(err, errlen, "tp_start: already started");
        return -EALREADY;
    }
    int rc = tp__net_start(t, err, errlen);
    if (rc != 0) {
        return rc;
    }
    t->started = true;
    tp__peers_start(t);
    return 0;
}

tp__peer *tp__peer_find(tp *t, const void *id, size_t len)
{
    for (size_t i = 0; i < t->n_peers; i++) {
        if (t->peers[i].id_len == len && memcmp(t->peers[i].id, id, len) == 0) {
            return &t->peers[i];
        }
    }
    return NULL;
}

void tp__drop(tp *t, const char *peer_hint, tp_drop_reason why, const char *detail)
{
    assert(why < TP_DROP_COUNT);
    t->drops[why]++;
    if (t->cb.on_drop != NULL && !t->closing) {
        t->cb.on_drop(t->cb.ctx, peer_hint, why, detail);
    }
}

/* hint copies a claimed (untrusted) sender id for logs: printable ASCII only, "?" when absent. */
static const char *hint(const tp__env *e, char buf[TP_MAX_ID_LEN + 1])
{
    if (e->sender == NULL || e->sender_len == 0) {
        return "?";
    }
    size_t n = e->sender_len < TP_MAX_ID_LEN ? e->sender_len : TP_MAX_ID_LEN;
    for (size_t i = 0; i < n; i++) {
        buf[i] = isprint(e->sender[i]) ? (char)e->sender[i] : '?';
    }
    buf[n] = '\0';
    return buf;
}

static int dispatch(tp *t, tp__peer *p, const tp__env *e)
{
    switch (e->type) {
    case TP__PING: return tp__peer_on_ping(t, p, e->body, e->body_len);
    case TP__PONG: return tp__peer_on_pong(t, p, e->body, e->body_len);
    case TP__DIGEST: return tp__gossip_on_digest(t, p, e->body, e->body_len);
    case TP__PULL: return tp__gossip_on_pull(t, p, e->body, e->body_len);
    case TP__ITEMS: return tp__gossip_on_items(t, p, e->body, e->body_len);
    default: break;
    }
    if (e->type < TP_TYPE_APP) {
        return -EBADMSG;
    }
    if (t->cb.on_message != NULL) {
        t->cb.on_message(t->cb.ctx, p->id, e->type, e->body, e->body_len);
    }
    return 0;
}

/* learn_nonce takes p's per-boot nonce from an authenticated message, so that what we send it
 * carries the echo it checks. Only a newer epoch may change it: an old run's message replayed to
 * us cannot make us echo a stale nonce for long. When it changed, our earlier messages to p were
 * refused, so p is greeted at once (ping and digest) rather than at the next gossip interval.
 * Returns true when it greeted (callbacks may then have closed t). */
static bool learn_nonce(tp *t, tp__peer *p, const tp__env *e)
{
    if (e->nonce == 0 || e->nonce == p->nonce_in || (p->nonce_epoch != 0 && e->epoch <= p->nonce_epoch)) {
        return false;
    }
    p->nonce_in = e->nonce;
    p->nonce_epoch = e->epoch;
    if (!t->started) {
        return false;
    }
    tp__peer_greet(t, p);
    return true;
}

void tp__rx(tp *t, const uint8_t *buf, size_t len)
{
    tp__env e;
    tp_drop_reason why;
    const char *detail;
    char hbuf[TP_MAX_ID_LEN + 1];
    if (tp__env_open(&t->ver, buf, len, &e, &why, &detail) != 0) {
        tp__drop(t, hint(&e, hbuf), why, detail);
        return;
    }
    tp__peer *p = tp__peer_find(t, e.sender, e.sender_len);
    if (p == NULL) {
        tp__drop(t, hint(&e, hbuf), TP_DROP_UNKNOWN_SENDER, "sender is not a configured peer");
        return;
    }
    if (learn_nonce(t, p, &e) && t->closing) {
        return;
    }
    if (e.echo != t->nonce) {
        /* Not sent to this run: our replay windows died with the last run, so nothing older than
         * this run may count, not even as a sign of life. A message the sender stamped after we
         * started only means it has not heard from this run yet (it will, see learn_nonce): not
         * worth a drop. One stamped before is a recording or a sender's last word to our previous
         * run: a replay. The stamp only decides what is counted; either way nothing is accepted. */
        if (e.sent_at_ms < t->boot_ms) {
            tp__drop(t, p->id, TP_DROP_REPLAY, "sent before this node restarted");
        }
        return;
    }
    uint64_t known_epoch = p->replay.epoch;
    int rp = tp__replay_accept(&p->replay, e.epoch, e.seq);
    if (rp == TP__RP_DUP) {
        p->dups_in++; /* the sender's other link delivered it first: nothing to count as a drop */
        return;
    }
    if (rp == TP__RP_REPLAY) {
        tp__drop(t, p->id, TP_DROP_REPLAY, e.epoch < known_epoch ? "older epoch" : "sequence seen or too old");
        return;
    }
    if (rp == TP__RP_NEW_EPOCH) {
        tp__gossip_reset_peer(t, p, true); /* it restarted: what we hold of it is gone */
    }
    p->msgs_in++;
    p->bytes_in += len;
    tp__peer_heard(t, p);
    if (t->closing) {
        return;
    }
    if (dispatch(t, p, &e) != 0) {
        tp__drop(t, p->id, TP_DROP_MALFORMED, e.type < TP_TYPE_APP ? "bad internal message" : "bad body");
    }
}

int tp_send(tp *t, const char *peer_id, uint8_t type, const void *body, size_t len)
{
    assert(t != NULL && !t->closing);
    if (peer_id == NULL || type < TP_TYPE_APP || (body == NULL && len > 0)) {
        return -EINVAL;
    }
    tp__peer *p = tp__peer_find(t, peer_id, strlen(peer_id));
    if (p == NULL) {
        return -ENOENT;
    }
    return tp__net_send(t, p, type, body, len, true);
}

int tp_broadcast(tp *t, uint8_t type, const void *body, size_t len)
{
    assert(t != NULL && !t->closing);
    if (type < TP_TYPE_APP || (body == NULL && len > 0)) {
        return -EINVAL;
    }
    int accepted = 0;
    for (size_t i = 0; i < t->n_peers && !t->closing; i++) {
        int rc = tp__net_send(t, &t->peers[i], type, body, len, true);
        if (rc == -EMSGSIZE) {
            return rc;
        }
        accepted += rc == 0;
    }
    return accepted;
}

void tp_drops(const tp *t, uint64_t out[TP_DROP_COUNT]) { memcpy(out, t->drops, sizeof t->drops); }

const char *tp_drop_reason_name(tp_drop_reason why)
{
    static const char *const names[TP_DROP_COUNT] = {"auth",      "unknown_sender", "wrong_cluster", "replay",
                                                     "too_large", "version",        "malformed",     "send_queue",
                                                     "unauth_conn"};
    return (unsigned)why < TP_DROP_COUNT ? names[why] : "?";
}

/* close_sockets runs on a libuv worker thread: nng_close waits for nng's own threads to let go
 * of the socket, which the loop thread must not do (and which nng 1.5.2 may never finish after
 * failed TLS handshakes; then done is never called, but the loop keeps running). */
static void close_sockets(uv_work_t *req) { tp__net_close(req->data); }

static void on_hangup_closed(uv_handle_t *h)
{
    tp *t = h->data;
    void (*done)(void *) = t->done;
    void *arg = t->done_arg;
    free_tp(t);
    if (done != NULL) {
        done(arg);
    }
}

static void after_close_sockets(uv_work_t *req, int status)
{
    tp *t = req->data;
    (void)status; /* cancelled cannot happen: nothing cancels it */
    /* nng_close has returned: no pipe notification can wake the async handle any more. */
    uv_close((uv_handle_t *)&t->hangup, on_hangup_closed);
}

static void on_closed(uv_handle_t *h)
{
    tp *t = h->data;
    assert(t->pending_close > 0);
    if (--t->pending_close > 0) {
        return;
    }
    /* The poll handle is gone, so no loop callback touches the sockets any more. */
    t->close_req.data = t;
    if (uv_queue_work(t->loop, &t->close_req, close_sockets, after_close_sockets) != 0) {
        tp__net_close(t);
        after_close_sockets(&t->close_req, 0);
    }
}

void tp_close(tp *t, void (*done)(void *arg), void *arg)
{
    assert(t != NULL && !t->closing);
    t->closing = true;
    t->done = done;
    t->done_arg = arg;
    /* The timer and idle handles always exist (tp_new ends with them), so done never runs
     * inside tp_close. */
    t->pending_close = 2;
    uv_close((uv_handle_t *)&t->tick, on_closed);
    uv_close((uv_handle_t *)&t->flush, on_closed);
    if (t->rx_poll_init) {
        t->pending_close++;
        uv_close((uv_handle_t *)&t->rx_poll, on_closed);
    }
}
