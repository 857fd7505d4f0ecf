/* proxy.c: the failover TCP proxy: each new connection goes to the active endpoint; a failed
 * attempt (refused, timed out, closed or reset before any byte came back) moves at once to the
 * next endpoint, replaying what the client sent; bounded buffers with backpressure both ways. */
#include "failover_int.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_BUF 65536
#define BUF_CACHE 128       /* free read buffers a proxy keeps (8 MiB at most): malloc/free of
                             * 64 KiB per read made glibc return and re-fault pages (perf) */
#define HOLD_CAP 65536      /* client bytes kept for a replay until the first reply byte */
#define WQ_HIGH (256 * 1024) /* a side's pending writes above this pause reading the other side */

typedef struct px_conn px_conn;

/* One connection attempt's upstream socket: a new handle per attempt, freed in its close cb. */
typedef struct {
    uv_tcp_t h;
    uv_connect_t req;
    px_conn *c;
} px_up;

struct px_conn {
    md_fo_proxy *px;
    px_conn *prev, *next;
    uv_tcp_t client;
    uv_timer_t timer;        /* connect timeout while connecting, then idle timeout */
    px_up *up;               /* the current attempt; NULL between attempts */
    md_fo_endpoint *ep;      /* its endpoint */
    uint32_t tried;          /* endpoints tried, by index */
    int addr_k;              /* addresses of ep tried in this attempt (resolve.c may give several) */
    int addr_i;              /* the address of ep the current attempt connects to */
    int handles;             /* open: client, timer, and every px_up not yet closed */
    bool connected;          /* the current attempt connected */
    bool replied;            /* a byte came back: no retry from here on */
    bool client_eof, up_eof;
    bool client_paused, up_paused; /* reading stopped for backpressure (or the hold being full) */
    bool closing;
    char *held;              /* client bytes sent before any reply, for a replay; NULL after */
    size_t held_len;
    bool hold_overflow;      /* the client sent more than HOLD_CAP before a reply: no replay */
    int64_t last_io_ms;
    int64_t connected_ms;    /* when the current attempt connected */
};

struct md_fo_proxy {
    md_fo_service *svc;
    uv_tcp_t listener;
    bool listening;
    bool closing;
    int handles;             /* the listener plus every connection */
    px_conn *conns;          /* a list, for closing them all */
    char *spare[BUF_CACHE];  /* free READ_BUF buffers */
    int n_spare;
    uint64_t total, active, retries, rejected, failed, bytes_up, bytes_down;
};

typedef struct {
    uv_write_t req;
    px_conn *c;
    char *buf;
    bool pooled;             /* buf is READ_BUF bytes: back to the cache when written */
} px_write;

static void attempt(px_conn *c);
static md_fo_endpoint *next_endpoint(px_conn *c);
static void connect_to(px_conn *c, md_fo_endpoint *e);
static void attempt_failed(px_conn *c);
static void conn_close(px_conn *c);

/* upstream_write_failed: a write to the current endpoint failed (EPIPE, ECONNRESET: it died).
 * Before any reply, the next endpoint gets the held bytes; after one, the connection ends. */
static void upstream_write_failed(px_conn *c)
{
    if (!c->replied && !c->hold_overflow)
        attempt_failed(c);
    else
        conn_close(c);
}

/* ---- lifetime ---- */

static void proxy_release(md_fo_proxy *px)
{
    if (--px->handles > 0)
        return;
    md_failover *f = px->svc->f;
    while (px->n_spare > 0)
        free(px->spare[--px->n_spare]);
    px->svc->proxy = NULL;
    free(px);
    md__fo_release(f);
}

static void conn_handle_closed(uv_handle_t *h)
{
    px_conn *c = h->data;
    if (--c->handles > 0)
        return;
    md_fo_proxy *px = c->px;
    if (c->prev)
        c->prev->next = c->next;
    else
        px->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    px->active--;
    free(c->held);
    free(c);
    if (!px->closing) /* while failover closes, the monitor may be gone */
        md_monitor_touch(px->svc->f->mon);
    proxy_release(px);
}

static void up_closed(uv_handle_t *h)
{
    px_up *u = h->data;
    uv_handle_t *client = (uv_handle_t *)&u->c->client; /* its data is the conn */
    free(u);
    conn_handle_closed(client);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void shutdown_done(uv_shutdown_t *req, int status)
{
    (void)status;
    free(req);
}

/* half_close passes an end of stream on: no more writes to s. */
static void half_close(uv_stream_t *s)
{
    uv_shutdown_t *sh = malloc(sizeof *sh);
    if (sh && uv_shutdown(sh, s, shutdown_done) < 0)
        free(sh);
}

static void drop_up(px_conn *c)
{
    if (!c->up)
        return;
    uv_close((uv_handle_t *)&c->up->h, up_closed);
    c->up = NULL;
    c->connected = false;
}

static void conn_close(px_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    drop_up(c);
    uv_close((uv_handle_t *)&c->client, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

/* ---- writes and backpressure ---- */

static char *buf_get(md_fo_proxy *px)
{
    return px->n_spare > 0 ? px->spare[--px->n_spare] : malloc(READ_BUF);
}

static void buf_put(md_fo_proxy *px, char *b)
{
    if (b && px->n_spare < BUF_CACHE)
        px->spare[px->n_spare++] = b;
    else
        free(b);
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    px_conn *c = h->data;
    buf->base = buf_get(c->px);
    buf->len = buf->base ? READ_BUF : 0;
}

static void up_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    px_up *u = h->data;
    buf->base = buf_get(u->c->px);
    buf->len = buf->base ? READ_BUF : 0;
}

static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void resume_reading(px_conn *c)
{
    if (c->closing)
        return;
    if (c->client_paused && !c->client_eof && c->connected &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->up->h) < WQ_HIGH) {
        c->client_paused = false;
        uv_read_start((uv_stream_t *)&c->client, client_alloc, on_client_read);
    }
    if (c->up_paused && c->connected && !c->up_eof &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->client) < WQ_HIGH) {
        c->up_paused = false;
        uv_read_start((uv_stream_t *)&c->up->h, up_alloc, on_up_read);
    }
}

static void on_written(uv_write_t *req, int status)
{
    px_write *w = (px_write *)req;
    px_conn *c = w->c;
    bool to_client = req->handle == (uv_stream_t *)&c->client;
    bool to_current = c->up != NULL && req->handle == (uv_stream_t *)&c->up->h;
    if (w->pooled)
        buf_put(c->px, w->buf);
    else
        free(w->buf);
    free(w);
    if (c->closing)
        return;
    if (status < 0) {
        /* A write to an abandoned attempt failed: that attempt's failure is handled already. A
         * write to the current one failed (EPIPE, ECONNRESET: it died) before any reply: the
         * next endpoint gets the held bytes. */
        if (to_current)
            upstream_write_failed(c);
        else if (to_client)
            conn_close(c);
        return;
    }
    resume_reading(c);
}

static void release_buf(px_conn *c, char *buf, bool pooled)
{
    if (pooled)
        buf_put(c->px, buf);
    else
        free(buf);
}

/* send_to writes n bytes of buf (taking buf: a READ_BUF buffer from the cache when pooled, else
 * malloc'd) to dst. With nothing queued it first writes what the socket takes at once
 * (uv_try_write): the usual case on loopback, with no write request and no callback; the rest is
 * queued. Returns 0 or a negative uv error. */
static int send_to(px_conn *c, uv_stream_t *dst, char *buf, size_t n, bool pooled)
{
    size_t off = 0;
    if (uv_stream_get_write_queue_size(dst) == 0) {
        uv_buf_t b = uv_buf_init(buf, (unsigned)n);
        int wr = uv_try_write(dst, &b, 1);
        if (wr < 0 && wr != UV_EAGAIN) {
            release_buf(c, buf, pooled);
            return wr;
        }
        off = wr > 0 ? (size_t)wr : 0;
        if (off == n) {
            release_buf(c, buf, pooled);
            return 0;
        }
    }
    px_write *w = malloc(sizeof *w);
    if (w) {
        w->c = c;
        w->buf = buf;
        w->pooled = pooled;
        uv_buf_t b = uv_buf_init(buf + off, (unsigned)(n - off));
        int rc = uv_write(&w->req, dst, &b, 1, on_written);
        if (rc == 0)
            return 0;
        free(w);
    }
    release_buf(c, buf, pooled);
    return w ? UV_EPIPE : UV_ENOMEM;
}

static void touch(px_conn *c)
{
    c->last_io_ms = md__fo_now_ms();
}

/* ---- the client side ---- */

static int hold(px_conn *c, const char *p, size_t n)
{
    if (c->hold_overflow || c->replied)
        return 0;
    if (c->held_len + n > HOLD_CAP) {
        c->hold_overflow = true;
        free(c->held);
        c->held = NULL;
        c->held_len = 0;
        return 0;
    }
    char *h = realloc(c->held, c->held_len + n);
    if (!h)
        return UV_ENOMEM;
    memcpy(h + c->held_len, p, n);
    c->held = h;
    c->held_len += n;
    return 0;
}

static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    px_conn *c = s->data;
    if (n == 0) {
        buf_put(c->px, buf->base);
        return;
    }
    if (n < 0) {
        buf_put(c->px, buf->base);
        if (n != UV_EOF) {
            conn_close(c);
            return;
        }
        c->client_eof = true;
        uv_read_stop(s);
        if (c->up_eof) {
            conn_close(c);
        } else if (c->connected) {
            half_close((uv_stream_t *)&c->up->h);
        }
        return;
    }
    touch(c);
    c->px->bytes_up += (uint64_t)n;
    if (hold(c, buf->base, (size_t)n) < 0) {
        buf_put(c->px, buf->base);
        conn_close(c);
        return;
    }
    if (!c->connected) {
        /* Not connected yet: the bytes wait in the hold (written on connect). Without room for a
         * replay, stop reading until connected. */
        buf_put(c->px, buf->base);
        if (c->hold_overflow)
            conn_close(c); /* more than HOLD_CAP before the upstream even connected */
        else if (c->held_len >= HOLD_CAP / 2) {
            uv_read_stop(s);
            c->client_paused = true;
        }
        return;
    }
    uv_stream_t *up = (uv_stream_t *)&c->up->h;
    if (send_to(c, up, buf->base, (size_t)n, true) < 0) {
        upstream_write_failed(c);
        return;
    }
    if (uv_stream_get_write_queue_size(up) >= WQ_HIGH) {
        uv_read_stop(s);
        c->client_paused = true;
    }
}

/* ---- the upstream side ---- */

/* attempt_failed: the current attempt failed before any reply: count it against its endpoint
 * and go on to the next one at once. */
static void attempt_failed(px_conn *c)
{
    assert(!c->replied);
    md_fo_endpoint *e = c->ep;
    drop_up(c);
    c->up_eof = false;
    c->up_paused = false;
    c->px->retries++;
    /* Its name may have moved (or one of its addresses be dead): look it up again, in the
     * background, for the connections after this one. */
    e->stale = true;
    md__fo_resolve_maybe(e);
    if (c->addr_k + 1 < e->n_addr) {
        /* The same endpoint's next address ("localhost" as ::1 then 127.0.0.1): one endpoint,
         * one verdict, so its breaker hears only when all of them failed. */
        c->addr_k++;
        connect_to(c, e);
        return;
    }
    md__fo_traffic(e, false);
    attempt(c);
}

static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    px_up *u = s->data;
    px_conn *c = u->c;
    if (n == 0) {
        buf_put(c->px, buf->base);
        return;
    }
    if (n < 0) {
        buf_put(c->px, buf->base);
        /* Before any byte came back, a dead endpoint (try the next one) is: a reset; a close
         * after the client spoke; or a close within connect_timeout_ms of connecting, before the
         * client spoke: a primary dying under SIGKILL closes the connections it had accepted,
         * and a client whose request was still on its way would otherwise get an empty answer.
         * A later quiet close of a connection the client never spoke on (a server's own timeout
         * for an idle pre-opened connection) is just a close, and so is any close after the
         * client closed its side. */
        bool spoke = c->held_len > 0;
        bool early = md__fo_now_ms() - c->connected_ms < c->px->svc->cfg->failover->proxy_connect_timeout_ms;
        if (!c->replied && !c->hold_overflow && (n != UV_EOF || (!c->client_eof && (spoke || early)))) {
            attempt_failed(c);
            return;
        }
        if (n != UV_EOF) {
            conn_close(c);
            return;
        }
        c->up_eof = true;
        uv_read_stop(s);
        if (c->client_eof)
            conn_close(c);
        else
            half_close((uv_stream_t *)&c->client);
        return;
    }
    touch(c);
    if (!c->replied) {
        c->replied = true;
        free(c->held);
        c->held = NULL;
        c->held_len = 0;
    }
    c->px->bytes_down += (uint64_t)n;
    if (send_to(c, (uv_stream_t *)&c->client, buf->base, (size_t)n, true) < 0) {
        conn_close(c);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->client) >= WQ_HIGH) {
        uv_read_stop(s);
        c->up_paused = true;
    }
}

static void on_idle(uv_timer_t *t);

static void on_connected(uv_connect_t *req, int status)
{
    px_up *u = req->data;
    px_conn *c = u->c;
    if (status == UV_ECANCELED || c->closing || u != c->up)
        return; /* an abandoned attempt (timed out, or the connection closed) */
    if (status < 0) {
        attempt_failed(c);
        return;
    }
    c->connected = true;
    c->connected_ms = md__fo_now_ms();
    if (c->addr_i < c->ep->n_addr)
        c->ep->pref = c->addr_i; /* the next connection starts with the address that answered */
    md__fo_traffic(c->ep, true);
    touch(c);
    uv_timer_start(&c->timer, on_idle, (uint64_t)c->px->svc->cfg->failover->proxy_idle_timeout_ms, 0);
    if (c->held_len > 0) {
        /* What the client sent so far (to a failed attempt, or while connecting). */
        char *copy = malloc(c->held_len);
        if (!copy) {
            conn_close(c);
            return;
        }
        memcpy(copy, c->held, c->held_len);
        if (send_to(c, (uv_stream_t *)&u->h, copy, c->held_len, false) < 0) {
            upstream_write_failed(c);
            return;
        }
    }
    if (c->client_eof)
        half_close((uv_stream_t *)&u->h);
    if (uv_read_start((uv_stream_t *)&u->h, up_alloc, on_up_read) < 0) {
        conn_close(c);
        return;
    }
    resume_reading(c);
}

static void on_timer(uv_timer_t *t)
{
    px_conn *c = t->data;
    if (c->closing)
        return;
    if (!c->connected) {
        /* A loop that was held up (a loaded machine) runs timers before it polls: a connect that
         * completed meanwhile must not be taken for a timeout. Its callback comes in this same
         * iteration; the timer stays as a safety net. */
        struct sockaddr_storage peer;
        int len = sizeof peer;
        if (c->up && uv_tcp_getpeername(&c->up->h, (struct sockaddr *)&peer, &len) == 0) {
            uv_timer_start(&c->timer, on_timer, (uint64_t)c->px->svc->cfg->failover->proxy_connect_timeout_ms, 0);
            return;
        }
        attempt_failed(c); /* connect timeout */
        return;
    }
    on_idle(t);
}

static void on_idle(uv_timer_t *t)
{
    px_conn *c = t->data;
    int64_t idle = c->px->svc->cfg->failover->proxy_idle_timeout_ms;
    int64_t quiet = md__fo_now_ms() - c->last_io_ms;
    if (quiet >= idle) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timer, (uint64_t)(idle - quiet), 0);
}

/* next_endpoint: the active endpoint first, then the other closed ones in order, then the rest
 * in order (a healthy endpoint whose breaker still rests beats refusing the client). */
static md_fo_endpoint *next_endpoint(px_conn *c)
{
    md_fo_service *s = c->px->svc;
    int a = s->active.index;
    if (a >= 0 && !(c->tried & (1u << a)))
        return &s->ep[a];
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < s->n; i++)
            if (!(c->tried & (1u << i)) && (pass == 1 || s->ep[i].br.state == MD_BREAKER_CLOSED))
                return &s->ep[i];
    return NULL;
}

/* closed_untried: whether c has an endpoint left to try whose breaker is closed. */
static bool closed_untried(const px_conn *c)
{
    const md_fo_service *s = c->px->svc;
    for (size_t i = 0; i < s->n; i++)
        if (!(c->tried & (1u << i)) && s->ep[i].br.state == MD_BREAKER_CLOSED)
            return true;
    return false;
}

static void attempt(px_conn *c)
{
    md_fo_endpoint *e = next_endpoint(c);
    if (!e) {
        c->px->failed++;
        md_log(MD_LOG_WARN, "proxy_no_endpoint", MD_S("service", c->px->svc->cfg->name),
               MD_S("why", "every endpoint failed this connection"));
        conn_close(c);
        return;
    }
    c->tried |= 1u << (e - c->px->svc->ep);
    c->ep = e;
    c->addr_k = 0;
    md__fo_resolve_maybe(e); /* past resolve_ms: refreshed for later connections, not waited on */
    connect_to(c, e);
}

/* connect_to starts one attempt on e's address number c->addr_k (from its preferred one). */
static void connect_to(px_conn *c, md_fo_endpoint *e)
{
    assert(e->n_addr > 0);
    c->addr_i = (e->pref + c->addr_k) % e->n_addr;
    px_up *u = calloc(1, sizeof *u);
    if (!u) {
        conn_close(c);
        return;
    }
    u->c = c;
    uv_tcp_init(c->px->svc->f->loop, &u->h);
    u->h.data = u;
    u->req.data = u;
    c->up = u;
    c->handles++;
    uv_tcp_nodelay(&u->h, 1);
    int rc = uv_tcp_connect(&u->req, &u->h, (const struct sockaddr *)&e->addr[c->addr_i], on_connected);
    if (rc < 0) {
        attempt_failed(c);
        return;
    }
    uv_timer_start(&c->timer, on_timer, (uint64_t)c->px->svc->cfg->failover->proxy_connect_timeout_ms, 0);
}

/* ---- the listener ---- */

static void on_connection(uv_stream_t *l, int status)
{
    md_fo_proxy *px = l->data;
    if (status < 0 || px->closing)
        return;
    md__fo_refresh(px->svc); /* failback and half-open happen on time, not only on results */
    px_conn *c = calloc(1, sizeof *c);
    if (!c || px->active >= (uint64_t)px->svc->cfg->failover->proxy_max_connections) {
        /* Accept and close at once: left in the backlog it would only time out later. */
        uv_tcp_t *tmp = malloc(sizeof *tmp);
        if (tmp && uv_tcp_init(l->loop, tmp) == 0) {
            (void)uv_accept(l, (uv_stream_t *)tmp);
            uv_close((uv_handle_t *)tmp, free_handle);
        } else {
            free(tmp);
        }
        free(c);
        px->rejected++;
        return;
    }
    c->px = px;
    uv_tcp_init(l->loop, &c->client);
    uv_timer_init(l->loop, &c->timer);
    c->client.data = c;
    c->timer.data = c;
    c->handles = 2;
    px->handles++;
    px->active++;
    px->total++;
    md_monitor_touch(px->svc->f->mon); /* readers see the counters within a view's 100 ms */
    c->next = px->conns;
    if (c->next)
        c->next->prev = c;
    px->conns = c;
    touch(c);
    if (uv_accept(l, (uv_stream_t *)&c->client) < 0 ||
        uv_read_start((uv_stream_t *)&c->client, client_alloc, on_client_read) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->client, 1);
    attempt(c);
}

int md__fo_proxy_new(md_fo_service *s)
{
    md_fo_proxy *px = calloc(1, sizeof *px);
    if (!px)
        return -ENOMEM;
    assert(s->n <= 32); /* c->tried is a 32-bit mask; config allows MD_MAX_ENDPOINTS */
    px->svc = s;
    uv_tcp_init(s->f->loop, &px->listener);
    px->listener.data = px;
    px->handles = 1;
    s->proxy = px;
    s->f->open_handles++;
    return 0;
}

int md__fo_proxy_start(md_fo_proxy *px, char *err, size_t errlen)
{
    const md_service_failover *fo = px->svc->cfg->failover;
    struct sockaddr_storage sa;
    int rc = strchr(fo->proxy_host, ':') ? uv_ip6_addr(fo->proxy_host, fo->proxy_port, (struct sockaddr_in6 *)&sa)
                                         : uv_ip4_addr(fo->proxy_host, fo->proxy_port, (struct sockaddr_in *)&sa);
    if (rc == 0)
        rc = uv_tcp_bind(&px->listener, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&px->listener, 1024, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "services[%zu].proxy.listen: %s: %s", px->svc->index, fo->proxy_listen,
                 rc == UV_EINVAL ? "not an IP address and port" : uv_strerror(rc));
        return rc;
    }
    px->listening = true;
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    proxy_release(h->data);
}

void md__fo_proxy_close(md_fo_proxy *px)
{
    if (px->closing)
        return;
    px->closing = true;
    for (px_conn *c = px->conns; c; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&px->listener, listener_closed);
}

void md__fo_proxy_endpoint_opened(md_fo_proxy *px, md_fo_endpoint *e)
{
    if (px->closing)
        return;
    /* attempt() never unlinks a connection (that happens in close callbacks), so the list stays
     * walkable even when a move fails at once and opens another breaker (a nested walk). */
    for (px_conn *c = px->conns; c; c = c->next) {
        if (c->closing || c->ep != e || !c->up || c->connected)
            continue;
        if (!closed_untried(c))
            continue; /* nowhere better: a resting endpoint is no better than this attempt, which
                       * may still connect (a loaded machine opens a live backup's breaker by
                       * probe timeouts while connects to it are pending; moving them to a dead
                       * primary failed them) */
        drop_up(c);
        c->px->retries++;
        attempt(c); /* no failure counted: the breaker already rests, and this attempt never ended */
    }
}

void md__fo_proxy_view(const md_fo_proxy *px, md_view_proxy *out)
{
    out->connections_total = px->total;
    out->connections_active = px->active;
    out->retries = px->retries;
    out->rejected = px->rejected;
    out->failed = px->failed;
    out->bytes_up = px->bytes_up;
    out->bytes_down = px->bytes_down;
}
