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
 * closed handle.
 *
 * The flood guard: every incoming connection (a pipe of the pull socket) is a guest until it
 * delivers an authenticated message; guests are bounded per source address and in total, the
 * oldest closed first, and closed when idle for TP__UNAUTH_IDLE_MS. No new connection is taken
 * while fewer than TP__FD_HEADROOM descriptors remain below RLIMIT_NOFILE, so a flood cannot take
 * the descriptors storage and the API need. Why: each idle connection that sent only an SP header
 * used to hold a descriptor for good, and 1,100 of them exhausted a node with `ulimit -n 1024`. */
#include "tp_int.h"

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void on_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    tp__link *l = arg;
    uint32_t id = (uint32_t)nng_pipe_id(pipe);
    if (ev == NNG_PIPE_EV_ADD_POST) {
        atomic_store(&l->pipe_id, id);
    } else {
        uint_fast32_t cur = id;
        atomic_compare_exchange_strong(&l->pipe_id, &cur, 0);
    }
    atomic_store(ev == NNG_PIPE_EV_ADD_POST ? &l->came_up : &l->hung_up, true);
    uv_async_send(&l->peer->owner->hangup);
}

static void count_closed(tp *t);

static void on_hangup(uv_async_t *a)
{
    tp *t = a->data;
    count_closed(t);
    for (size_t i = 0; i < t->n_peers && !t->closing; i++) {
        tp__peer *p = &t->peers[i];
        bool came = false, lost = false;
        for (size_t k = 0; k < t->n_links; k++) {
            tp__link *l = &p->link[k];
            if (atomic_exchange(&l->came_up, false) && t->started) {
                l->connected = came = true;
            }
            if (atomic_exchange(&l->hung_up, false)) {
                l->connected = false; /* sends wait for the redial, rechecked before each send */
                lost = lost || !l->renewing; /* closing it ourselves says nothing about the peer */
                l->renewing = false;
            }
        }
        p->connected = false;
        for (size_t k = 0; k < t->n_links; k++) {
            p->connected = p->connected || p->link[k].connected;
        }
        if (came) {
            tp__peer_greet(t, p);
        }
        /* Only the last link's loss is a hint: a peer whose process exits loses them all. */
        if (!t->closing && lost && !p->connected && t->cb.on_peer_lost != NULL) {
            t->cb.on_peer_lost(t->cb.ctx, p->id);
        }
    }
}

int tp__hangup_init(tp *t)
{
    t->hangup.data = t;
    return uv_async_init(t->loop, &t->hangup, on_hangup);
}

int tp__hangup_watch(tp *t, tp__link *l)
{
    assert(l->open && l->peer != NULL);
    l->peer->owner = t;
    atomic_init(&l->hung_up, false);
    atomic_init(&l->came_up, false);
    atomic_init(&l->pipe_id, 0);
    if (nng_pipe_notify(l->push, NNG_PIPE_EV_ADD_POST, on_pipe_event, l) != 0 ||
        nng_pipe_notify(l->push, NNG_PIPE_EV_REM_POST, on_pipe_event, l) != 0) {
        return -EIO;
    }
    return 0;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* fds_low: the lowest free descriptor is within TP__FD_HEADROOM of the limit (every lower one is
 * in use), or none is free. Two system calls per new connection, cheaper than counting. */
static bool fds_low(const tp__guard *g)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return true;
    }
    close(fd);
    return g->fd_limit > 0 && fd >= g->fd_limit - TP__FD_HEADROOM;
}

static void source_addr(nng_pipe pipe, uint8_t out[16])
{
    nng_sockaddr sa;
    memset(out, 0, 16);
    if (nng_pipe_get_addr(pipe, NNG_OPT_REMADDR, &sa) != 0) {
        return; /* unknown: such guests share one bucket */
    }
    if (sa.s_family == NNG_AF_INET) {
        memcpy(out, &sa.s_in.sa_addr, 4);
    } else if (sa.s_family == NNG_AF_INET6) {
        memcpy(out, sa.s_in6.sa_addr, 16);
    }
}

/* take removes guest i, keeping the table in arrival order (oldest first); returns its pipe id. */
static uint32_t take(tp__guard *g, size_t i)
{
    uint32_t id = g->v[i].pipe_id;
    memmove(&g->v[i], &g->v[i + 1], (g->n - i - 1) * sizeof g->v[0]);
    g->n--;
    return id;
}

static void forget(tp__guard *g, uint32_t pipe_id)
{
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->n; i++) {
        if (g->v[i].pipe_id == pipe_id) {
            take(g, i);
            break;
        }
    }
    pthread_mutex_unlock(&g->mu);
}

/* admit adds a new guest, or says which pipe to close instead: the newcomer when descriptors run
 * low, else the oldest guest of its address or, over the total, the oldest of all. 0: none. */
static uint32_t admit(tp__guard *g, const tp__guest *in)
{
    if (fds_low(g)) {
        return in->pipe_id;
    }
    size_t same = 0, oldest_same = g->n;
    for (size_t i = 0; i < g->n; i++) {
        if (memcmp(g->v[i].addr, in->addr, 16) == 0 && same++ == 0) {
            oldest_same = i;
        }
    }
    uint32_t victim = 0;
    if (same >= TP__UNAUTH_PER_ADDR) {
        victim = take(g, oldest_same);
    } else if (g->n >= TP__UNAUTH_MAX) {
        victim = take(g, 0);
    }
    assert(g->n < TP__UNAUTH_MAX);
    g->v[g->n++] = *in;
    return victim;
}

static void close_pipe(tp__guard *g, uint32_t pipe_id)
{
    nng_pipe p = NNG_PIPE_INITIALIZER;
    p.id = pipe_id;
    if (nng_pipe_close(p) == 0) { /* outside the mutex: nng may report the removal on this thread */
        atomic_fetch_add(&g->closed, 1);
    }
}

/* on_listener_pipe runs on nng threads: a pipe of the pull socket was added or removed. */
static void on_listener_pipe(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    tp *t = arg;
    tp__guard *g = &t->guard;
    if (ev == NNG_PIPE_EV_REM_POST) {
        forget(g, nng_pipe_id(pipe));
        return;
    }
    tp__guest in = {.pipe_id = (uint32_t)nng_pipe_id(pipe), .since_ms = mono_ms()};
    source_addr(pipe, in.addr);
    pthread_mutex_lock(&g->mu);
    uint32_t victim = admit(g, &in);
    pthread_mutex_unlock(&g->mu);
    if (victim != 0) {
        close_pipe(g, victim);
        uv_async_send(&t->hangup); /* the loop counts the drop */
    }
}

int tp__guard_watch(tp *t)
{
    tp__guard *g = &t->guard;
    struct rlimit rl;
    g->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1u << 30
                      ? (int)rl.rlim_cur
                      : 0;
    atomic_init(&g->closed, 0);
    if (pthread_mutex_init(&g->mu, NULL) != 0) {
        return -EIO;
    }
    g->ready = true;
    if (nng_pipe_notify(t->pull, NNG_PIPE_EV_ADD_PRE, on_listener_pipe, t) != 0 ||
        nng_pipe_notify(t->pull, NNG_PIPE_EV_REM_POST, on_listener_pipe, t) != 0) {
        return -EIO;
    }
    return 0;
}

void tp__guard_free(tp *t)
{
    if (t->guard.ready) {
        pthread_mutex_destroy(&t->guard.mu);
        t->guard.ready = false;
    }
}

void tp__guard_authed(tp *t, uint32_t pipe_id) { forget(&t->guard, pipe_id); }

/* count_closed turns the guard's closes since the last call into one drop callback (loop). */
static void count_closed(tp *t)
{
    tp__guard *g = &t->guard;
    uint64_t now = atomic_load(&g->closed);
    if (!g->ready || now == g->closed_seen || t->closing) {
        return;
    }
    uint64_t n = now - g->closed_seen;
    g->closed_seen = now;
    t->drops[TP_DROP_UNAUTH_CONN] += n - 1; /* tp__drop counts the last one */
    char detail[160];
    snprintf(detail, sizeof detail,
             "%" PRIu64 " incoming connection(s) closed before authenticating (over %d per address or %d in total, "
             "idle, or descriptors low)",
             n, TP__UNAUTH_PER_ADDR, TP__UNAUTH_MAX);
    tp__drop(t, "?", TP_DROP_UNAUTH_CONN, detail);
}

void tp__guard_sweep(tp *t)
{
    tp__guard *g = &t->guard;
    if (!g->ready) {
        return;
    }
    uint32_t idle[TP__UNAUTH_MAX];
    size_t n = 0;
    uint64_t now = mono_ms();
    pthread_mutex_lock(&g->mu);
    /* Oldest first: stop at the first guest that is not idle yet. */
    while (g->n > 0 && now - g->v[0].since_ms >= TP__UNAUTH_IDLE_MS) {
        idle[n++] = take(g, 0);
    }
    pthread_mutex_unlock(&g->mu);
    for (size_t i = 0; i < n; i++) {
        close_pipe(g, idle[i]);
    }
    count_closed(t);
}
