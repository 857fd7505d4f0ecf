/* peers.c: peer liveness and round-trip times. Every gossip interval a timer refreshes which
 * peers are connected, moves silent peers to SUSPECT and DEAD, and sends each peer a PING and our
 * gossip DIGEST. Any authenticated message makes its sender ALIVE at once.
 *
 * A connection whose pings go unanswered for peer_suspect_ms (at least TP__RENEW_MIN_MS) while
 * it stays up is replaced: closed, and redialled by nng. Why: under heavy packet loss a TCP
 * connection's retransmission timeout doubles with every lost retransmission and is only reset
 * by an acknowledgement, so with 30% loss each way (about half the round trips fail) a single
 * connection stalls for seconds, at times for tens of seconds, while a fresh connection starts
 * again from the smallest timeout. Replacing it turns that unbounded tail into a bounded one.
 * The floor is the first SYN timeout (1 s on Linux): a replacement sooner than that could cost
 * more than it saves. A pong needs both directions, so a stall of either replaces ours; the
 * peer, missing our pongs as well, replaces its own. For the same reason a connection attempt
 * that has not come up within that time is abandoned and started again: a lost SYN is
 * retransmitted after 1, 2, 4, 8... s, and nng's dial has no deadline of its own. */
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

_Static_assert((TP_MAX_LINKS & (TP_MAX_LINKS - 1)) == 0, "a link index must fit in a ping time's low bits");

/* send_ping pings p on each link that is up, each with its own ping: the link's index rides in
 * the two low bits of the time it carries, so its pong tells which link it went out on. */
static void send_ping(tp *t, tp__peer *p)
{
    int64_t now = (int64_t)uv_now(t->loop);
    for (size_t k = 0; k < t->n_links && !t->closing; k++) {
        tp__link *l = &p->link[k];
        if (!l->connected) {
            continue;
        }
        if (l->unanswered_ms == 0) {
            l->unanswered_ms = now;
        }
        uint8_t buf[8];
        ut_wr w;
        ut_wr_fixed(&w, buf, sizeof buf);
        tp__ping_encode(&w, (uv_hrtime() & ~(uint64_t)(TP_MAX_LINKS - 1)) | k);
        tp__net_send_link(t, p, k, TP__PING, w.p, w.len);
    }
}

static int64_t renew_time(const tp *t) { return t->suspect_ms > TP__RENEW_MIN_MS ? t->suspect_ms : TP__RENEW_MIN_MS; }

/* tend_links replaces p's links that stalled (pings unanswered for the renewal time while up) and
 * restarts the dials that have not come up in that time. */
static void tend_links(tp *t, tp__peer *p, int64_t now)
{
    for (size_t k = 0; k < t->n_links; k++) {
        tp__link *l = &p->link[k];
        if (l->connected && l->unanswered_ms != 0 && now - l->unanswered_ms >= renew_time(t)) {
            tp__peer_renew(t, l); /* the redial greets it (pipe_events.c) */
        } else if (l->connected) {
            l->unconnected_ms = 0;
        } else if (l->unconnected_ms == 0) {
            l->unconnected_ms = now;
        } else if (now - l->unconnected_ms >= renew_time(t) && tp__net_redial(t, l) == 0) {
            l->unconnected_ms = now;
            p->renewals++;
        }
    }
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
        tend_links(t, p, now);
        if (p->connected) {
            send_ping(t, p);
            tp__gossip_send_digest(t, p);
        }
    }
}

void tp__peer_renew(tp *t, tp__link *l)
{
    uint32_t id = (uint32_t)atomic_load(&l->pipe_id);
    l->unanswered_ms = 0;
    if (id == 0) {
        return;
    }
    nng_pipe pipe = NNG_PIPE_INITIALIZER;
    pipe.id = id;
    l->renewing = true;
    if (nng_pipe_close(pipe) != 0) {
        l->renewing = false; /* already gone: nng reports that removal itself */
        return;
    }
    l->peer->renewals++;
    (void)t;
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
    size_t link = (size_t)(sent & (TP_MAX_LINKS - 1));
    if (sent <= now && link < t->n_links) {
        p->link[link].unanswered_ms = 0; /* that link carried a round trip */
    }
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
                           .renewals = p->renewals,
                           .dups_in = p->dups_in,
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
