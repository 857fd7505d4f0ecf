/* curl_loop.c: drives one libcurl multi handle from a libuv loop. curl tells us which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION -> one uv_poll_t per socket) and when to wake it
 * (CURLMOPT_TIMERFUNCTION -> one uv_timer_t); we feed readiness back with
 * curl_multi_socket_action and report finished transfers from curl_multi_info_read.
 *
 * A keep-alive connection is "removed" by curl each time its transfer ends and "added" again
 * when the next check reuses it. Closing and reopening the poll handle each time would cost
 * epoll_ctl calls on every check, so a poll handle lives as long as its socket: curl's REMOVE
 * only stops it, and it is closed when curl closes the socket (CURLOPT_CLOSESOCKETFUNCTION,
 * set on every transfer we run), before the descriptor number can be reused. */
#include "base.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"

/* Idle objects kept for reuse, so a steady check rate costs no malloc here. */
#define POOL_KEEP_MAX 1024
#define MAX_IDLE_CONNS 1024

/* One socket curl asked us to watch. Freed (or pooled) only in its uv close callback. */
typedef struct sock_ctx {
    uv_poll_t poll;
    md_curl_loop *cl;
    curl_socket_t fd;
    int events;             /* UV_READABLE | UV_WRITABLE that curl wants; 0 while idle */
    int watching;           /* what the poll handle is started with (0: stopped) */
    bool closing;
    ut_link link;           /* on the live list, or the free list */
} sock_ctx;

/* One running transfer: the callback to call when it finishes. Stored as the easy handle's
 * CURLOPT_PRIVATE while it is in the multi. */
typedef struct xfer {
    CURL *easy;
    md_curl_done_cb cb;
    void *ctx;
    ut_link link;           /* on the running list, or the free list */
} xfer;

struct md_curl_loop {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    uv_idle_t now;          /* curl's "time out now": run after this loop turn's I/O, not in the timer phase */
    uv_prepare_t before_poll; /* with after_poll: how long the loop waits in its poll (idle) */
    uv_check_t after_poll;
    uint64_t poll_entry_ns; /* 0: not in the poll */
    uint64_t idle_ns;
    bool done_pending;      /* a socket's action may have finished transfers: report them after the poll */
    bool closing;
    int open_handles;       /* uv handles not yet through their close callback */
    ut_list socks;          /* live sockets */
    sock_ctx **by_fd;       /* live sockets by descriptor (curl forgets an idle one's context) */
    size_t by_fd_cap;
    ut_list free_socks;
    int n_free_socks;
    ut_list running;        /* of xfer */
    ut_list free_xfers;
    int n_free_xfers;
};

static void maybe_free(md_curl_loop *cl)
{
    if (!cl->closing || cl->open_handles > 0)
        return;
    for (ut_link *k; (k = ut_list_pop_front(&cl->free_socks)) != NULL;)
        free(ut_list_entry(k, sock_ctx, link));
    for (ut_link *k; (k = ut_list_pop_front(&cl->free_xfers)) != NULL;)
        free(ut_list_entry(k, xfer, link));
    free(cl->by_fd);
    free(cl);
}

static void on_sock_closed(uv_handle_t *h)
{
    sock_ctx *s = h->data;
    md_curl_loop *cl = s->cl;
    cl->open_handles--;
    if (!cl->closing && cl->n_free_socks < POOL_KEEP_MAX) {
        ut_list_push_front(&cl->free_socks, &s->link);
        cl->n_free_socks++;
    } else {
        free(s);
    }
    maybe_free(cl);
}

static void sock_close(md_curl_loop *cl, sock_ctx *s)
{
    assert(!s->closing);
    s->closing = true;
    ut_list_remove(&cl->socks, &s->link);
    if ((size_t)s->fd < cl->by_fd_cap && cl->by_fd[s->fd] == s)
        cl->by_fd[s->fd] = NULL;
    /* uv_close stops the poll at once, so curl may reuse the fd number right away. */
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void xfer_release(md_curl_loop *cl, xfer *x)
{
    ut_list_remove(&cl->running, &x->link);
    if (cl->n_free_xfers < POOL_KEEP_MAX) {
        ut_list_push_front(&cl->free_xfers, &x->link);
        cl->n_free_xfers++;
    } else {
        free(x);
    }
}

/* Reports every finished transfer. A callback may add, cancel or close; we re-check after each. */
static void dispatch_done(md_curl_loop *cl)
{
    CURLMsg *msg;
    int left;
    while (!cl->closing && (msg = curl_multi_info_read(cl->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        assert(x && x->easy == easy);
        md_curl_done_cb cb = x->cb;
        void *ctx = x->ctx;
        curl_multi_remove_handle(cl->multi, easy); /* msg is invalid from here on */
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        xfer_release(cl, x);
        cb(easy, res, ctx);
    }
}

/* The loop's idle time, measured around its poll: libuv's own (uv_metrics_idle_time, 1.44)
 * loses a wait that ends on a timer rather than on I/O, which is how a loop waiting for hung
 * services wakes up. Two clock reads per loop turn. */
static void on_before_poll(uv_prepare_t *h)
{
    ((md_curl_loop *)h->data)->poll_entry_ns = uv_hrtime();
}

/* Ends the wait in the poll: I/O callbacks run inside the poll phase, before the check handle. */
static void idle_end(md_curl_loop *cl)
{
    if (cl->poll_entry_ns) {
        cl->idle_ns += uv_hrtime() - cl->poll_entry_ns;
        cl->poll_entry_ns = 0;
    }
}

static void on_after_poll(uv_check_t *h)
{
    md_curl_loop *cl = h->data;
    idle_end(cl);
    if (cl->done_pending) {
        cl->done_pending = false;
        dispatch_done(cl);
    }
}

size_t md_curl_discard(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

uint64_t md_curl_loop_idle_ns(md_curl_loop *cl)
{
    assert(cl);
    idle_end(cl); /* called from a callback: the loop is not waiting now */
    return cl->idle_ns;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_ctx *s = h->data;
    md_curl_loop *cl = s->cl;
    idle_end(cl);
    int flags = 0;
    bool stopped_by_error = status < 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    if (stopped_by_error)
        s->watching = 0; /* libuv stopped the poll */
    if (s->events == 0) {
        /* An idle kept-alive connection became readable: the server closed it (or sent junk).
         * curl finds out when it next tries to reuse it; until then, stop listening. */
        if (s->watching) {
            uv_poll_stop(&s->poll);
            s->watching = 0;
        }
        return;
    }
    int running;
    curl_multi_socket_action(cl->multi, s->fd, flags, &running);
    /* If curl still wants this socket after a POLLERR, watch it again, else a transfer that
     * keeps the socket would wait for its timeout. s is valid until its close cb. */
    if (stopped_by_error && !s->closing && !cl->closing && s->events && !s->watching) {
        uv_poll_start(&s->poll, s->events, on_poll);
        s->watching = s->events;
    }
    /* Finished transfers are reported once all of this turn's ready sockets have been read
     * (on_after_poll), not after each: a done callback usually starts the next transfer at once,
     * and curl runs a transfer added "now" inside the next socket's action. Requests would then
     * go out one between each two answers read, and a server that sleeps between them is woken
     * for every request (on a virtual machine an interrupt to another CPU each: measured at 2-3
     * requests per server wake-up against 4-5 when a turn's requests go out together, and 0.8
     * of the throughput). */
    cl->done_pending = true;
}

static int remember_fd(md_curl_loop *cl, sock_ctx *s)
{
    size_t fd = (size_t)s->fd;
    if (fd >= cl->by_fd_cap) {
        size_t cap = cl->by_fd_cap ? cl->by_fd_cap : 64;
        while (cap <= fd)
            cap *= 2;
        sock_ctx **t = realloc(cl->by_fd, cap * sizeof *t);
        if (!t)
            return -1;
        for (size_t i = cl->by_fd_cap; i < cap; i++)
            t[i] = NULL;
        cl->by_fd = t;
        cl->by_fd_cap = cap;
    }
    assert(cl->by_fd[fd] == NULL);
    cl->by_fd[fd] = s;
    return 0;
}

static sock_ctx *find_fd(const md_curl_loop *cl, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < cl->by_fd_cap ? cl->by_fd[fd] : NULL;
}

/* curl closes a socket: forget its poll handle first (uv_close drops it from epoll at once). */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
    md_curl_loop *cl = clientp;
    sock_ctx *s = find_fd(cl, fd);
    if (s && !s->closing)
        sock_close(cl, s);
    return close(fd);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    md_curl_loop *cl = userp;
    sock_ctx *s = socketp ? socketp : find_fd(cl, fd);
    if (what == CURL_POLL_REMOVE) {
        /* Idle (a kept-alive connection) or about to close: keep the handle. A poll for
         * readability alone stays on, as the next check on this connection will want exactly
         * that (libuv would spend two epoll_ctl calls on each stop and start); an idle socket
         * that turns readable is stopped then (on_poll). */
        if (s && !s->closing) {
            s->events = 0;
            if (s->watching & UV_WRITABLE) {
                uv_poll_stop(&s->poll);
                s->watching = 0;
            }
        }
        return 0;
    }
    if (cl->closing)
        return 0;
    if (s && s->closing)
        s = NULL; /* cannot happen: a closed socket's handle is closed before the fd is reused */
    if (s && !socketp)
        curl_multi_assign(cl->multi, fd, s);
    if (!s) {
        s = ut_list_entry(ut_list_pop_front(&cl->free_socks), sock_ctx, link);
        if (s) {
            cl->n_free_socks--;
        } else if (!(s = malloc(sizeof(*s)))) {
            return -1; /* curl fails the transfer */
        }
        if (uv_poll_init_socket(cl->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        s->cl = cl;
        s->fd = fd;
        s->closing = false;
        s->watching = 0;
        ut_list_push_front(&cl->socks, &s->link);
        cl->open_handles++;
        if (remember_fd(cl, s) != 0) {
            sock_close(cl, s);
            return -1;
        }
        curl_multi_assign(cl->multi, fd, s);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    s->events = ev;
    if (ev == s->watching)
        return 0; /* already so: uv_poll_start would stop and re-add it to epoll anyway */
    if (ev)
        uv_poll_start(&s->poll, ev, on_poll);
    else
        uv_poll_stop(&s->poll);
    s->watching = ev;
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    md_curl_loop *cl = t->data;
    int running;
    curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    dispatch_done(cl);
}

static void on_now(uv_idle_t *h)
{
    uv_idle_stop(h);
    on_timer(&((md_curl_loop *)h->data)->timer);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    md_curl_loop *cl = userp;
    if (cl->closing)
        return 0;
    /* curl forbids calling socket_action from here, so even "now" goes through the loop. A
     * zero-delay timer restarted from a timer callback would run again in the same timer phase
     * (libuv before 1.48), and under load curl asks for "now" again and again: the loop would
     * never reach its I/O. An idle handle runs once per turn, after the timers, before the poll. */
    uv_timer_stop(&cl->timer);
    uv_idle_stop(&cl->now);
    if (timeout_ms == 0)
        uv_idle_start(&cl->now, on_now);
    else if (timeout_ms > 0)
        uv_timer_start(&cl->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

md_curl_loop *md_curl_loop_new(uv_loop_t *loop)
{
    assert(loop);
    md_curl_loop *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return NULL;
    cl->loop = loop;
    cl->multi = curl_multi_init();
    if (!cl->multi) {
        free(cl);
        return NULL;
    }
    uv_timer_init(loop, &cl->timer);
    cl->timer.data = cl;
    uv_idle_init(loop, &cl->now);
    cl->now.data = cl;
    uv_prepare_init(loop, &cl->before_poll);
    cl->before_poll.data = cl;
    uv_check_init(loop, &cl->after_poll);
    cl->after_poll.data = cl;
    /* Measuring only: they must not keep the loop running. */
    uv_prepare_start(&cl->before_poll, on_before_poll);
    uv_check_start(&cl->after_poll, on_after_poll);
    uv_unref((uv_handle_t *)&cl->before_poll);
    uv_unref((uv_handle_t *)&cl->after_poll);
    cl->open_handles = 4;
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
    /* Idle connections kept for reuse: the default (4x running transfers) drops keep-alive
     * connections when many services share a host and run one by one. */
    curl_multi_setopt(cl->multi, CURLMOPT_MAXCONNECTS, (long)MAX_IDLE_CONNS);
    return cl;
}

CURLM *md_curl_loop_multi(md_curl_loop *cl)
{
    assert(cl && !cl->closing);
    return cl->multi;
}

int md_curl_loop_add(md_curl_loop *cl, CURL *easy, md_curl_done_cb cb, void *ctx)
{
    assert(cl && !cl->closing && easy && cb);
    xfer *x = ut_list_entry(ut_list_pop_front(&cl->free_xfers), xfer, link);
    if (x) {
        cl->n_free_xfers--;
    } else if (!(x = malloc(sizeof(*x)))) {
        return -ENOMEM;
    }
    x->easy = easy;
    x->cb = cb;
    x->ctx = ctx;
    ut_list_push_front(&cl->running, &x->link);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    /* Every connection remembers the close callback of the transfer that opened it. */
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, cl);
    if (curl_multi_add_handle(cl->multi, easy) != CURLM_OK) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        xfer_release(cl, x);
        return -EIO;
    }
    return 0;
}

void md_curl_loop_cancel(md_curl_loop *cl, CURL *easy)
{
    assert(cl && easy);
    xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (!x || x->easy != easy)
        return; /* not running here */
    curl_multi_remove_handle(cl->multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    xfer_release(cl, x);
}

static void on_timer_closed(uv_handle_t *h)
{
    md_curl_loop *cl = h->data;
    cl->open_handles--;
    maybe_free(cl);
}

void md_curl_loop_close(md_curl_loop *cl)
{
    if (!cl)
        return;
    assert(!cl->closing);
    while (!ut_list_empty(&cl->running)) {
        CURL *easy = ut_list_first(&cl->running, xfer, link)->easy;
        md_curl_loop_cancel(cl, easy);
    }
    /* Cleanup closes cached connections; curl may report their sockets as removed. */
    curl_multi_cleanup(cl->multi);
    cl->multi = NULL;
    cl->closing = true;
    while (!ut_list_empty(&cl->socks))
        sock_close(cl, ut_list_first(&cl->socks, sock_ctx, link));
    uv_close((uv_handle_t *)&cl->timer, on_timer_closed);
    uv_close((uv_handle_t *)&cl->now, on_timer_closed);
    uv_close((uv_handle_t *)&cl->before_poll, on_timer_closed);
    uv_close((uv_handle_t *)&cl->after_poll, on_timer_closed);
}
