/* peers.c: peer liveness and round-trip times. Every gossip interval a timer refreshes which
 * peers are connected, moves silent peers to SUSPECT and DEAD, and sends each peer a PING and our
 * gossip DIGEST. Any authenticated message makes its sender ALIVE at once. */
#include "tp_int.h"

#include <assert.h>
#include <errno.h>

static void set_state(tp *t, tp__peer *p, tp_peer_state to)
{
    tp_peer_state from = p->state;
    if (from == to) {
        return;
    }
    p->state = to;
    if (t->cb.on_peer_state != NULL) {
        t->cb.on_peer_state(t->cb.ctx, p->id, from, to);
    }
}

void tp__peer_heard(tp *t, tp__peer *p)
{
    p->last_seen_ms = (int64_t)uv_now(t->loop);
    set_state(t, p, TP_PEER_ALIVE);
}

static void send_ping(tp *t, tp__peer *p)
{
    uint8_t buf[8];
    ut_wr w;
    ut_wr_fixed(&w, buf, sizeof buf);
    tp__ping_encode(&w, uv_hrtime());
    tp__net_send(t, p, TP__PING, w.p, w.len, false);
}

static void on_tick(uv_timer_t *h)
{
    tp *t = h->data;
    tp__net_refresh(t);
    tp__guard_sweep(t); /* closes incoming connections idle without authenticating */
    if (t->closing) {
        return; /* an on_drop callback closed us */
    }
    int64_t now = (int64_t)uv_now(t->loop);
    for (size_t i = 0; i < t->n_peers && !t->closing; i++) {
        tp__peer *p = &t->peers[i];
        if (p->state == TP_PEER_UNKNOWN) {
            continue; /* never heard: stays unknown, not suspect */
        }
        int64_t quiet = now - p->last_seen_ms;
        set_state(t, p, quiet >= t->dead_ms ? TP_PEER_DEAD : quiet >= t->suspect_ms ? TP_PEER_SUSPECT : TP_PEER_ALIVE);
    }
    if (t->closing) {
        return; /* an on_peer_state callback closed us */
    }
    tp__gossip_flush(t); /* a digest must not overtake the pushes it counts */
    for (size_t i = 0; i < t->n_peers && !t->closing; i++) {
        tp__peer *p = &t->peers[i];
        if (p->connected) {
            send_ping(t, p);
            tp__gossip_send_digest(t, p);
        }
    }
}

void tp__peer_greet(tp *t, tp__peer *p)
{
    tp__gossip_flush(t); /* a digest must not overtake the pushes it counts */
    if (!t->closing && p->connected) {
        send_ping(t, p);
        tp__gossip_send_digest(t, p);
    }
}

void tp__peers_start(tp *t)
{
    uv_timer_start(&t->tick, on_tick, (uint64_t)t->gossip_ms, (uint64_t)t->gossip_ms);
}

int tp__peer_on_ping(tp *t, tp__peer *p, const uint8_t *body, size_t len)
{
    uint64_t sent;
    if (tp__ping_decode(body, len, &sent) != 0) {
        return -EBADMSG;
    }
    uint8_t buf[8];
    ut_wr w;
    ut_wr_fixed(&w, buf, sizeof buf);
    tp__ping_encode(&w, sent);
    tp__net_send(t, p, TP__PONG, w.p, w.len, false);
    return 0;
}

int tp__peer_on_pong(tp *t, tp__peer *p, const uint8_t *body, size_t len)
{
    uint64_t sent;
    if (tp__ping_decode(body, len, &sent) != 0) {
        return -EBADMSG;
    }
    uint64_t now = uv_hrtime();
    /* Only the newest echo counts, and only a plausible one: a pong answering a ping that sat in
     * a queue while the link was down would report a round trip that never happened. */
    if (sent <= p->last_echo_ns || sent > now || now - sent > (uint64_t)t->dead_ms * 1000000u) {
        return 0;
    }
    p->last_echo_ns = sent;
    p->rtt_us = (int64_t)((now - sent + 999) / 1000);
    return 0;
}

size_t tp_peer_count(const tp *t) { return t->n_peers; }

int tp_peer_get(const tp *t, size_t i, tp_peer_info *info)
{
    if (i >= t->n_peers) {
        return -ENOENT;
    }
    const tp__peer *p = &t->peers[i];
    *info = (tp_peer_info){.id = p->id,
                           .address = p->address,
                           .state = p->state,
                           .connected = p->connected,
                           .last_seen_ms = p->last_seen_ms,
                           .rtt_us = p->rtt_us,
                           .msgs_in = p->msgs_in,
                           .msgs_out = p->msgs_out,
                           .bytes_in = p->bytes_in,
                           .bytes_out = p->bytes_out};
    return 0;
}

const char *tp_peer_state_name(tp_peer_state s)
{
    switch (s) {
    case TP_PEER_UNKNOWN: return "unknown";
    case TP_PEER_ALIVE: return "alive";
    case TP_PEER_SUSPECT: return "suspect";
    case TP_PEER_DEAD: return "dead";
    }
    return "?";
}
