/* pipe_events.c: acts at once when our connection to a peer comes up or goes down.
 *  - Down: when a peer's process exits, its kernel closes its sockets and our dialer's nng pipe
 *    to it is removed; reporting that (on_peer_lost) lets Raft stop waiting out a random
 *    election timeout for a leader that is gone (a hint only: the core still refuses to elect
 *    anyone sooner than its rules allow).
 *  - Up: a new connection gets a ping and our digest right away, so a starting or returning
 *    peer asks for what it lacks now rather than at the next gossip interval.
 *
 * nng reports pipe events on its own threads. Such a thread only sets the peer's flag and wakes
 * the loop through a uv_async handle; the loop reads the flags. The async handle outlives the
 * nng sockets (it is closed after nng_close returned), so a late notification never touches a
 * closed handle. */
#include "tp_int.h"

#include <assert.h>

static void on_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    tp__peer *p = arg;
    (void)pipe;
    atomic_store(ev == NNG_PIPE_EV_ADD_POST ? &p->came_up : &p->hung_up, true);
    uv_async_send(&p->owner->hangup);
}

static void on_hangup(uv_async_t *a)
{
    tp *t = a->data;
    for (size_t i = 0; i < t->n_peers && !t->closing; i++) {
        tp__peer *p = &t->peers[i];
        if (atomic_exchange(&p->came_up, false) && t->started) {
            p->connected = true;
            tp__peer_greet(t, p);
        }
        if (t->closing || !atomic_exchange(&p->hung_up, false)) {
            continue;
        }
        p->connected = false; /* sends wait for the redial, rechecked before each send */
        if (t->cb.on_peer_lost != NULL) {
            t->cb.on_peer_lost(t->cb.ctx, p->id);
        }
    }
}

int tp__hangup_init(tp *t)
{
    t->hangup.data = t;
    return uv_async_init(t->loop, &t->hangup, on_hangup);
}

int tp__hangup_watch(tp *t, tp__peer *p)
{
    assert(p->push_open);
    p->owner = t;
    atomic_init(&p->hung_up, false);
    atomic_init(&p->came_up, false);
    if (nng_pipe_notify(p->push, NNG_PIPE_EV_ADD_POST, on_pipe_event, p) != 0 ||
        nng_pipe_notify(p->push, NNG_PIPE_EV_REM_POST, on_pipe_event, p) != 0) {
        return -EIO;
    }
    return 0;
}
