/* rw_host.c: the Railway client's host on a libuv loop: its transfers go through the node's curl
 * driver, its timers are one-shot uv timers, its log lines go to the node's log or to the
 * caller's function. The node (heal_exec.c) and the Railway tests use this one adapter. */
#include "heal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

struct md_rw_host {
    uv_loop_t *loop;          /* borrowed */
    md_curl_loop *cl;         /* borrowed */
    md_rw_host_log_fn log;    /* NULL: the node's log */
    void *log_ctx;
    int live_timers;          /* started and not yet closed */
    bool freed;               /* md_rw_host_free ran: free once the last timer closed */
};

typedef struct {
    uv_timer_t t;
    md_rw_host *h;
    void (*fire)(void *);
    void *arg;
} host_timer;

static void maybe_free(md_rw_host *h)
{
    if (h->freed && h->live_timers == 0)
        free(h);
}

static void timer_closed(uv_handle_t *hd)
{
    host_timer *x = hd->data;
    md_rw_host *h = x->h;
    free(x);
    h->live_timers--;
    maybe_free(h);
}

static void timer_fire(uv_timer_t *t)
{
    host_timer *x = t->data;
    void (*fire)(void *) = x->fire;
    void *arg = x->arg;
    uv_close((uv_handle_t *)&x->t, timer_closed); /* the handle is dead once fire runs */
    fire(arg);
}

static void *timer_start(void *ctx, uint64_t delay_ms, void (*fire)(void *), void *arg)
{
    md_rw_host *h = ctx;
    host_timer *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->h = h;
    x->fire = fire;
    x->arg = arg;
    uv_timer_init(h->loop, &x->t);
    x->t.data = x;
    h->live_timers++;
    uv_timer_start(&x->t, timer_fire, delay_ms, 0);
    return x;
}

static void timer_cancel(void *ctx, void *timer)
{
    (void)ctx;
    host_timer *x = timer;
    uv_timer_stop(&x->t);
    uv_close((uv_handle_t *)&x->t, timer_closed);
}

static int xfer_start(void *ctx, CURL *easy, rw_xfer_done_fn done, void *arg)
{
    md_rw_host *h = ctx;
    return md_curl_loop_add(h->cl, easy, done, arg);
}

static void xfer_cancel(void *ctx, CURL *easy)
{
    md_rw_host *h = ctx;
    md_curl_loop_cancel(h->cl, easy);
}

static void host_log(void *ctx, int level, const char *msg)
{
    md_rw_host *h = ctx;
    if (h->log) {
        h->log(h->log_ctx, level, msg);
        return;
    }
    md_log(level <= 0 ? MD_LOG_DEBUG : level == 1 ? MD_LOG_INFO : level == 2 ? MD_LOG_WARN : MD_LOG_ERROR, "railway",
           MD_S("msg", msg));
}

int md_rw_host_new(uv_loop_t *loop, md_curl_loop *cl, md_rw_host_log_fn log, void *log_ctx, md_rw_host **out)
{
    md_rw_host *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->loop = loop;
    h->cl = cl;
    h->log = log;
    h->log_ctx = log_ctx;
    *out = h;
    return 0;
}

void md_rw_host_bind(md_rw_host *h, rw_host *host)
{
    *host = (rw_host){ .ctx = h, .start = xfer_start, .cancel = xfer_cancel, .timer_start = timer_start,
                       .timer_cancel = timer_cancel, .log = host_log };
}

int md_rw_host_live_timers(const md_rw_host *h)
{
    return h->live_timers;
}

void md_rw_host_free(md_rw_host *h)
{
    if (!h)
        return;
    h->freed = true;
    maybe_free(h);
}
