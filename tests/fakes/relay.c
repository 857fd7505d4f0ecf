/* relay.c: a controllable userspace TCP relay that puts one-way delay, jitter, a bandwidth cap
 * or a cut on one node-to-node link, switched at run time (the test machines have no netem).
 * One process, one libuv loop, links -luv only.
 *
 * Usage:
 *   relay --listen HOST:PORT --to HOST:PORT --control-port C
 *         [--delay-ms D] [--jitter-ms J] [--rate-kbps K] [--seed S]
 * PORT 0 or C 0 picks a free port; the control port listens on the --listen host. IPv6 hosts
 * are written [::1]:PORT. When both listeners are up it prints exactly one line to stdout,
 * "ready listen=<port> control=<port>" (the real ports), and flushes. SIGTERM or SIGINT closes
 * every connection and handle and exits 0.
 *
 * Data path: each accepted client connection gets its own upstream connection to --to. Every
 * chunk read in either direction gets a release time: arrival + the current delay + a uniform
 * jitter in [0, J] ms (from --seed; default from the clock, shown in /stats), and, with a rate
 * cap, the chunk's serialization time on a link of K kbit/s shared by all connections of that
 * direction (in pieces of at most 1448 bytes, like packets). A chunk is never released before
 * the previous chunk of its direction, so bytes are never reordered (on a busy stream the
 * delay therefore tends towards D + J). Release is never early; it is late by about 1.3 ms, as
 * libuv timers count whole milliseconds. Held chunks sit in a per-direction queue driven by one
 * uv_timer; the loop never blocks. Above 4 MiB held or being written in a direction, the relay
 * stops reading that direction's source until it drains to 2 MiB (backpressure). A FIN is
 * forwarded (as a shutdown) after the bytes before it, and no sooner than the delay after it
 * arrived (it crosses the link like data); a reset or a write error closes both
 * sides with RST. An upstream connect failure closes the client with RST.
 *
 * Control port (HTTP, GET or POST, always Connection: close, JSON answers):
 *   /delay?ms=D&jitter=J  set the one-way delay and/or jitter (each optional, 0..3600000 ms);
 *                         applies to bytes that arrive after the change. No parameter: query.
 *   /rate?kbps=K          bandwidth cap per direction, 0 = unlimited (0..10000000)
 *   /cut                  blackhole: connections stay open, nothing is forwarded, incoming and
 *                         held bytes are dropped (a pending FIN is kept, as TCP would
 *                         retransmit it); new connections are accepted, read and dropped, and
 *                         get their upstream connection only at /restore
 *   /refuse               close every relayed connection and the listener: connects are refused
 *   /restore              back to pass; after /refuse the listener reopens on the same port
 *   /reset                close every current connection with RST, keep listening (a broken
 *                         TCP connection)
 *   /stats                counters (every answer above also returns them, after the change):
 *     {"connections_total":N,"active":N,"bytes_up":N,"bytes_down":N,"bytes_dropped":N,
 *      "delay_ms":D,"jitter_ms":J,"rate_kbps":K,"mode":"pass|cut|refuse","seed":S}
 *     bytes_up/bytes_down count bytes written to upstream/client; active counts open links.
 * Bad request, unknown or out-of-range parameter: 400 {"error":"..."}; unknown path 404;
 * methods other than GET and POST 405; a request head over 8 KiB 400; a control connection
 * without a complete request head after 10 s is closed.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

enum { READ_CAP = 65536, CTL_CAP = 8192, LINGER_MS = 1000, CTL_IDLE_MS = 10000, MAX_IOV = 256,
       RATE_PIECE = 1448 };
#define MAX_MS UINT64_C(3600000)
#define MAX_KBPS UINT64_C(10000000)
#define HIGH_WATER ((size_t)4 << 20) /* per direction and connection */
#define LOW_WATER (HIGH_WATER / 2)

typedef enum { MODE_PASS, MODE_CUT, MODE_REFUSE } relay_mode;
static const char *const mode_names[] = {"pass", "cut", "refuse"};

typedef struct chunk {
  struct chunk *next;
  uint64_t release_us;
  size_t len;
  char data[];
} chunk;

struct conn;

/* flow: one direction of a relayed connection; [0] client->upstream, [1] upstream->client. */
typedef struct {
  struct conn *c;
  int idx;
  uv_tcp_t *src, *dst;
  uv_timer_t timer;
  uv_shutdown_t shut;
  chunk *head, *tail;
  size_t queued, inflight; /* bytes held for release; bytes handed to uv_write */
  uint64_t last_release_us;
  bool reading, eof_in, eof_out, shut_done;
} flow;

typedef struct conn {
  struct conn *prev, *next;
  uv_tcp_t client, upstream;
  uv_connect_t connect;
  flow f[2];
  bool connecting, connected, closing;
  int open_handles;
} conn;

/* wreq: one uv_write of consecutive released chunks; owns them until the callback. */
typedef struct {
  uv_write_t req;
  flow *f;
  chunk *chunks;
  size_t bytes;
  uv_buf_t bufs[];
} wreq;

typedef struct ctl {
  struct ctl *prev, *next;
  uv_tcp_t tcp;
  uv_timer_t linger;
  uv_write_t wr;
  uv_shutdown_t sh;
  char in[CTL_CAP];
  size_t len;
  char *out; /* the answer; owned here, freed with the ctl */
  bool answered, written, peer_eof, closed;
  int open_handles;
} ctl;

static struct {
  uv_loop_t loop;
  uv_tcp_t *listener; /* NULL while refusing; heap so it can close and reopen */
  uv_tcp_t control;
  uv_signal_t sigterm, sigint;
  struct sockaddr_storage listen_addr, to_addr, control_addr;
  conn *conns;
  ctl *ctls;
  relay_mode mode;
  uint64_t delay_ms, jitter_ms, rate_kbps, seed, rng;
  uint64_t link_free_us[2]; /* rate cap: when each direction's simulated wire is idle again */
  uint64_t connections_total, active, bytes[2], bytes_dropped;
  bool stopping;
} S;

static char read_buf[READ_CAP]; /* every read is consumed inside its callback */

static void conn_close(conn *c, bool rst);
static void flush(flow *f);
static void update_reading(flow *f);

static uint64_t now_us(void) { return uv_hrtime() / 1000; }

/* xorshift64*: seeded, so a jitter pattern can be replayed */
static uint64_t rng_next(void) {
  S.rng ^= S.rng >> 12;
  S.rng ^= S.rng << 25;
  S.rng ^= S.rng >> 27;
  return S.rng * UINT64_C(2685821657736338717);
}

static void free_handle(uv_handle_t *h) { free(h); }

/* ---- the data path ---- */

static void drop_queue(flow *f) {
  while (f->head) {
    chunk *ch = f->head;
    f->head = ch->next;
    S.bytes_dropped += ch->len;
    free(ch);
  }
  f->tail = NULL;
  f->queued = 0;
  uv_timer_stop(&f->timer);
}

/* every handle of a conn has its flow as data, so the close callback finds the conn */
static void on_conn_handle_closed(uv_handle_t *h) {
  conn *c = ((flow *)h->data)->c;
  assert(c->open_handles > 0);
  if (--c->open_handles > 0) return;
  for (int i = 0; i < 2; i++) {
    while (c->f[i].head) {
      chunk *ch = c->f[i].head;
      c->f[i].head = ch->next;
      free(ch);
    }
  }
  free(c);
}

static void close_tcp(uv_tcp_t *t, bool rst) {
  /* close_reset fails on a socket that never opened or is shutting down: close plainly then */
  if (!rst || uv_tcp_close_reset(t, on_conn_handle_closed) != 0)
    uv_close((uv_handle_t *)t, on_conn_handle_closed);
}

/* conn_close: closes both sides; c stays valid until its last handle's close callback. */
static void conn_close(conn *c, bool rst) {
  if (c->closing) return;
  c->closing = true;
  assert(S.active > 0);
  S.active--;
  if (c->prev) c->prev->next = c->next;
  else S.conns = c->next;
  if (c->next) c->next->prev = c->prev;
  for (int i = 0; i < 2; i++) {
    uv_timer_stop(&c->f[i].timer);
    uv_close((uv_handle_t *)&c->f[i].timer, on_conn_handle_closed);
  }
  close_tcp(&c->client, rst);
  close_tcp(&c->upstream, rst);
}

static bool src_open(const flow *f) { return f->idx == 0 || f->c->connected; }
static bool dst_open(const flow *f) { return f->idx == 1 || f->c->connected; }

/* settle: forwards a FIN once everything before it is written; closes when both are done. */
static void on_shutdown(uv_shutdown_t *sh, int status) {
  flow *f = sh->data;
  conn *c = f->c;
  if (c->closing) return;
  if (status < 0) {
    conn_close(c, true);
    return;
  }
  f->shut_done = true;
  if (c->f[0].shut_done && c->f[1].shut_done) conn_close(c, false);
}

static void settle(flow *f) {
  conn *c = f->c;
  if (c->closing || !f->eof_in || f->eof_out || f->head || f->inflight) return;
  if (S.mode == MODE_CUT || !dst_open(f)) return;
  f->eof_out = true;
  f->shut.data = f;
  if (uv_shutdown(&f->shut, (uv_stream_t *)f->dst, on_shutdown) != 0) conn_close(c, true);
}

static void on_write(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  flow *f = w->f;
  while (w->chunks) {
    chunk *ch = w->chunks;
    w->chunks = ch->next;
    free(ch);
  }
  assert(f->inflight >= w->bytes);
  f->inflight -= w->bytes;
  if (status == 0) S.bytes[f->idx] += w->bytes;
  free(w);
  if (f->c->closing) return; /* cancelled by the close, or a late completion */
  if (status < 0) {
    conn_close(f->c, true);
    return;
  }
  update_reading(f);
  settle(f);
}

static void on_timer(uv_timer_t *t) { flush(t->data); }

/* arm: wakes the flow when its head is due; never early (the timer works in whole loop ms). */
static void arm(flow *f, uint64_t now) {
  if (!f->head) {
    uv_timer_stop(&f->timer);
    return;
  }
  assert(f->head->release_us > now);
  (void)now; /* only the assert reads it */
  uv_update_time(&S.loop);
  uint64_t due_ms = (f->head->release_us + 999) / 1000, loop_ms = uv_now(&S.loop);
  uv_timer_start(&f->timer, on_timer, due_ms > loop_ms ? due_ms - loop_ms : 1, 0);
}

/* flush: writes every due chunk (in order, batched into writev), then re-arms the timer. */
static void flush(flow *f) {
  conn *c = f->c;
  if (c->closing || !dst_open(f)) return;
  uint64_t now = now_us();
  while (f->head && f->head->release_us <= now) {
    size_t n = 0;
    for (chunk *ch = f->head; ch && ch->release_us <= now && n < MAX_IOV; ch = ch->next) n++;
    wreq *w = malloc(sizeof *w + n * sizeof(uv_buf_t));
    if (!w) {
      conn_close(c, true);
      return;
    }
    w->f = f;
    w->chunks = f->head;
    w->bytes = 0;
    chunk *last = NULL;
    for (size_t i = 0; i < n; i++) {
      last = last ? last->next : f->head;
      w->bufs[i] = uv_buf_init(last->data, (unsigned)last->len);
      w->bytes += last->len;
    }
    f->head = last->next;
    if (!f->head) f->tail = NULL;
    last->next = NULL;
    f->queued -= w->bytes;
    f->inflight += w->bytes;
    if (uv_write(&w->req, (uv_stream_t *)f->dst, w->bufs, (unsigned)n, on_write) != 0) {
      f->inflight -= w->bytes; /* not queued: no callback will come */
      while (w->chunks) {
        chunk *ch = w->chunks;
        w->chunks = ch->next;
        free(ch);
      }
      free(w);
      conn_close(c, true);
      return;
    }
  }
  arm(f, now);
}

/* hold: gives a chunk its release time and queues it behind the direction's earlier chunks. */
static int hold(flow *f, const char *data, size_t len) {
  chunk *ch = malloc(sizeof *ch + len);
  if (!ch) return -ENOMEM;
  uint64_t now = now_us(), sent = now;
  if (S.rate_kbps > 0) { /* the chunk leaves the simulated wire after its serialization time */
    uint64_t start = S.link_free_us[f->idx] > now ? S.link_free_us[f->idx] : now;
    S.link_free_us[f->idx] = sent = start + len * 8000 / S.rate_kbps;
  }
  uint64_t jitter = S.jitter_ms ? rng_next() % (S.jitter_ms * 1000 + 1) : 0;
  uint64_t rel = sent + S.delay_ms * 1000 + jitter;
  if (rel < f->last_release_us) rel = f->last_release_us; /* never overtake */
  f->last_release_us = rel;
  ch->release_us = rel;
  ch->len = len;
  ch->next = NULL;
  if (len) memcpy(ch->data, data, len);
  if (f->tail) f->tail->next = ch;
  else f->head = ch;
  f->tail = ch;
  f->queued += len;
  if (f->head == ch) flush(f); /* sends now when due, else arms the timer */
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h;
  (void)hint;
  *b = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  flow *f = s->data;
  conn *c = f->c;
  if (nread == 0 || c->closing) return;
  if (nread == UV_EOF) {
    f->eof_in = true;
    /* The FIN crosses the link like data: an empty chunk marks when it may go. */
    if (S.mode != MODE_CUT && hold(f, NULL, 0) != 0) {
      conn_close(c, true);
      return;
    }
    update_reading(f);
    settle(f);
  } else if (nread < 0) {
    conn_close(c, true);
  } else if (S.mode == MODE_CUT) {
    S.bytes_dropped += (uint64_t)nread;
  } else {
    /* under a rate cap, packet-sized pieces keep a big read from being store-and-forwarded */
    size_t n = (size_t)nread, piece = S.rate_kbps ? RATE_PIECE : n;
    for (size_t off = 0; off < n; off += piece) {
      if (hold(f, b->base + off, n - off < piece ? n - off : piece) != 0) {
        conn_close(c, true);
        return;
      }
    }
    update_reading(f);
  }
}

/* update_reading: reads while the source is open and the direction is under its limit. */
static void update_reading(flow *f) {
  conn *c = f->c;
  if (c->closing) return;
  size_t held = f->queued + f->inflight;
  bool want = !f->eof_in && src_open(f) && held < (f->reading ? HIGH_WATER : LOW_WATER);
  if (want == f->reading) return;
  int e = want ? uv_read_start((uv_stream_t *)f->src, on_alloc, on_read)
               : uv_read_stop((uv_stream_t *)f->src);
  if (e != 0 && want) {
    conn_close(c, true);
    return;
  }
  f->reading = want;
}

static void on_connect(uv_connect_t *req, int status) {
  conn *c = req->data;
  c->connecting = false;
  if (c->closing) return;
  if (status < 0) {
    conn_close(c, true);
    return;
  }
  c->connected = true;
  uv_tcp_nodelay(&c->upstream, 1);
  update_reading(&c->f[1]);
  flush(&c->f[0]);
  settle(&c->f[0]);
}

static void start_connect(conn *c) {
  if (c->closing || c->connecting || c->connected) return;
  c->connect.data = c;
  if (uv_tcp_connect(&c->connect, &c->upstream, (const struct sockaddr *)&S.to_addr, on_connect) != 0) {
    conn_close(c, true);
    return;
  }
  c->connecting = true;
}

static void on_relay_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  conn *c = calloc(1, sizeof *c);
  if (!c) return; /* out of memory: the connection waits in the backlog */
  uv_tcp_init(&S.loop, &c->client);
  uv_tcp_init(&S.loop, &c->upstream);
  c->client.data = &c->f[0];
  c->upstream.data = &c->f[1];
  for (int i = 0; i < 2; i++) {
    flow *f = &c->f[i];
    f->c = c;
    f->idx = i;
    f->src = i == 0 ? &c->client : &c->upstream;
    f->dst = i == 0 ? &c->upstream : &c->client;
    uv_timer_init(&S.loop, &f->timer);
    f->timer.data = f;
  }
  c->open_handles = 4;
  c->next = S.conns;
  if (S.conns) S.conns->prev = c;
  S.conns = c;
  S.active++;
  if (uv_accept(server, (uv_stream_t *)&c->client) != 0) {
    conn_close(c, true);
    return;
  }
  S.connections_total++;
  uv_tcp_nodelay(&c->client, 1);
  update_reading(&c->f[0]);
  if (S.mode == MODE_PASS) start_connect(c);
}

/* ---- modes ---- */

static int relay_listen(void) {
  uv_tcp_t *t = malloc(sizeof *t);
  if (!t) return -ENOMEM;
  uv_tcp_init(&S.loop, t);
  int e = uv_tcp_bind(t, (const struct sockaddr *)&S.listen_addr, 0);
  if (e == 0) e = uv_listen((uv_stream_t *)t, SOMAXCONN, on_relay_connection);
  if (e != 0) {
    uv_close((uv_handle_t *)t, free_handle);
    return e;
  }
  S.listener = t;
  return 0;
}

static void relay_unlisten(void) {
  if (!S.listener) return;
  uv_close((uv_handle_t *)S.listener, free_handle); /* the fd closes now: a relisten may bind */
  S.listener = NULL;
}

static void close_all(bool rst) {
  while (S.conns) conn_close(S.conns, rst);
}

static int set_mode(relay_mode m) {
  if (m == MODE_REFUSE) {
    S.mode = m;
    relay_unlisten();
    close_all(false);
    return 0;
  }
  if (!S.listener) {
    int e = relay_listen();
    if (e != 0) return e;
  }
  S.mode = m;
  conn *next;
  for (conn *c = S.conns; c; c = next) {
    next = c->next; /* the actions below may close c, never another conn */
    if (m == MODE_PASS) start_connect(c);
    for (int i = 0; i < 2 && !c->closing; i++) {
      if (m == MODE_CUT) drop_queue(&c->f[i]);
      update_reading(&c->f[i]);
      settle(&c->f[i]);
    }
  }
  return 0;
}

/* ---- control port ---- */

static void on_ctl_closed(uv_handle_t *h) {
  ctl *k = h->data;
  if (--k->open_handles > 0) return;
  free(k->out);
  free(k);
}

static void ctl_close(ctl *k) {
  if (k->closed) return;
  k->closed = true;
  if (k->prev) k->prev->next = k->next;
  else S.ctls = k->next;
  if (k->next) k->next->prev = k->prev;
  uv_close((uv_handle_t *)&k->linger, on_ctl_closed);
  uv_close((uv_handle_t *)&k->tcp, on_ctl_closed);
}

static void on_linger(uv_timer_t *t) { ctl_close(t->data); }

static void on_ctl_shutdown(uv_shutdown_t *sh, int status) {
  if (status < 0) ctl_close(sh->data); /* else wait for the peer's FIN or the linger timer */
}

static void on_ctl_write(uv_write_t *w, int status) {
  ctl *k = w->data;
  if (k->closed) return;
  k->written = true;
  k->sh.data = k;
  if (status < 0 || k->peer_eof || uv_shutdown(&k->sh, (uv_stream_t *)&k->tcp, on_ctl_shutdown) != 0)
    ctl_close(k);
}

static void ctl_reply(ctl *k, int code, const char *body) {
  const char *reason = code == 200   ? "OK"
                       : code == 400 ? "Bad Request"
                       : code == 404 ? "Not Found"
                       : code == 405 ? "Method Not Allowed"
                                     : "Internal Server Error";
  size_t cap = strlen(body) + 160;
  k->answered = true;
  k->out = malloc(cap);
  if (!k->out) {
    ctl_close(k);
    return;
  }
  int n = snprintf(k->out, cap, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", code, reason, strlen(body), body);
  assert(n > 0 && (size_t)n < cap);
  uv_buf_t b = uv_buf_init(k->out, (unsigned)n);
  k->wr.data = k;
  if (uv_write(&k->wr, (uv_stream_t *)&k->tcp, &b, 1, on_ctl_write) != 0) {
    ctl_close(k);
    return;
  }
  uv_timer_start(&k->linger, on_linger, LINGER_MS, 0); /* bounds a peer that never closes */
}

static void ctl_error(ctl *k, int code, const char *msg) {
  char body[256]; /* msg is one of this file's literals: nothing to escape */
  snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
  ctl_reply(k, code, body);
}

static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  if (n == 0 || n > 19) return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -EINVAL;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v > max) return -ERANGE;
  *out = v;
  return 0;
}

typedef struct {
  const char *name;
  uint64_t max, val;
  bool set;
} param;

/* parse_query: fills ps from "a=1&b=2"; every key must be one of ps, each at most once. */
static int parse_query(const char *q, param *ps, int n) {
  while (*q) {
    const char *amp = strchr(q, '&'), *end = amp ? amp : q + strlen(q);
    const char *eq = memchr(q, '=', (size_t)(end - q));
    if (!eq) return -EINVAL;
    int i = 0;
    size_t klen = (size_t)(eq - q);
    while (i < n && !(klen == strlen(ps[i].name) && memcmp(q, ps[i].name, klen) == 0)) i++;
    if (i == n || ps[i].set) return -EINVAL;
    if (parse_u64(eq + 1, (size_t)(end - eq - 1), ps[i].max, &ps[i].val) != 0) return -ERANGE;
    ps[i].set = true;
    q = amp ? amp + 1 : end;
  }
  return 0;
}

static void stats_json(char *b, size_t cap) {
  snprintf(b, cap,
           "{\"connections_total\":%" PRIu64 ",\"active\":%" PRIu64 ",\"bytes_up\":%" PRIu64
           ",\"bytes_down\":%" PRIu64 ",\"bytes_dropped\":%" PRIu64 ",\"delay_ms\":%" PRIu64
           ",\"jitter_ms\":%" PRIu64 ",\"rate_kbps\":%" PRIu64 ",\"mode\":\"%s\",\"seed\":%" PRIu64 "}",
           S.connections_total, S.active, S.bytes[0], S.bytes[1], S.bytes_dropped, S.delay_ms,
           S.jitter_ms, S.rate_kbps, mode_names[S.mode], S.seed);
}

/* ctl_route: performs one control request; returns the HTTP status, with *err set unless 200. */
static int ctl_route(const char *path, const char *query, const char **err) {
  param ps[2] = {{"ms", MAX_MS}, {"jitter", MAX_MS}};
  if (strcmp(path, "/delay") == 0) {
    *err = "bad parameter: want ms=0..3600000, jitter=0..3600000";
    if (parse_query(query, ps, 2) != 0) return 400;
    if (ps[0].set) S.delay_ms = ps[0].val;
    if (ps[1].set) S.jitter_ms = ps[1].val;
    return 200;
  }
  if (strcmp(path, "/rate") == 0) {
    ps[0] = (param){"kbps", MAX_KBPS};
    *err = "bad parameter: want kbps=0..10000000";
    if (parse_query(query, ps, 1) != 0 || !ps[0].set) return 400;
    S.rate_kbps = ps[0].val;
    return 200;
  }
  static const char *const plain[] = {"/stats", "/cut", "/refuse", "/restore", "/reset"};
  size_t i = 0;
  while (i < 5 && strcmp(path, plain[i]) != 0) i++;
  *err = i == 5 ? "unknown path" : "this path takes no parameters";
  if (i == 5) return 404;
  if (*query) return 400;
  int e = 0;
  if (i == 1) e = set_mode(MODE_CUT);
  else if (i == 2) e = set_mode(MODE_REFUSE);
  else if (i == 3) e = set_mode(MODE_PASS);
  else if (i == 4) close_all(true);
  *err = "cannot listen again on the relay port";
  return e == 0 ? 200 : 500;
}

/* ctl_request: the head is complete in k->in[0..len); only the request line matters. */
static void ctl_request(ctl *k) {
  char *eol = memmem(k->in, k->len, "\r\n", 2);
  assert(eol);
  *eol = '\0';
  char *method = k->in, *target = strchr(method, ' ');
  char *version = target ? strchr(target + 1, ' ') : NULL;
  const char *err = "bad request line";
  int code = 400;
  if (version && strncmp(version + 1, "HTTP/1.", 7) == 0) {
    *target++ = '\0';
    *version = '\0';
    char *q = strchr(target, '?');
    if (q) *q++ = '\0';
    code = 405;
    err = "use GET or POST";
    if (strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0) code = ctl_route(target, q ? q : "", &err);
  }
  if (code != 200) {
    ctl_error(k, code, err);
    return;
  }
  char body[512];
  stats_json(body, sizeof body);
  ctl_reply(k, 200, body);
}

static void on_ctl_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  ctl *k = h->data;
  (void)hint;
  if (k->answered) k->len = 0; /* after the answer, input is read and dropped */
  *b = uv_buf_init(k->in + k->len, (unsigned)(CTL_CAP - k->len));
}

static void on_ctl_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  ctl *k = s->data;
  (void)b;
  if (nread == 0 || k->closed) return;
  if (nread < 0) {
    /* a half-closed peer may still wait for the answer: close once it is written */
    if (nread == UV_EOF && k->answered && !k->written) k->peer_eof = true;
    else ctl_close(k);
    return;
  }
  if (k->answered) return;
  k->len += (size_t)nread;
  if (memmem(k->in, k->len, "\r\n\r\n", 4)) ctl_request(k);
  else if (k->len == CTL_CAP) ctl_error(k, 400, "request head too large");
}

static void on_ctl_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  ctl *k = calloc(1, sizeof *k);
  if (!k) return;
  uv_tcp_init(&S.loop, &k->tcp);
  uv_timer_init(&S.loop, &k->linger);
  k->tcp.data = k->linger.data = k;
  k->open_handles = 2;
  k->next = S.ctls;
  if (S.ctls) S.ctls->prev = k;
  S.ctls = k;
  if (uv_accept(server, (uv_stream_t *)&k->tcp) != 0 ||
      uv_read_start((uv_stream_t *)&k->tcp, on_ctl_alloc, on_ctl_read) != 0) {
    ctl_close(k);
    return;
  }
  uv_timer_start(&k->linger, on_linger, CTL_IDLE_MS, 0); /* a silent client cannot pin memory */
}

/* ---- startup and shutdown ---- */

static void on_signal(uv_signal_t *sig, int signum) {
  (void)sig;
  (void)signum;
  uv_close((uv_handle_t *)&S.sigterm, NULL);
  uv_close((uv_handle_t *)&S.sigint, NULL);
  uv_close((uv_handle_t *)&S.control, NULL);
  relay_unlisten();
  close_all(false);
  while (S.ctls) ctl_close(S.ctls);
}

static void set_sa_port(struct sockaddr_storage *ss, int port) {
  if (ss->ss_family == AF_INET6) ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  else ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

/* parse_hostport: "127.0.0.1:80", "[::1]:80" or "localhost:80" (resolved once, at startup). */
static int parse_hostport(const char *s, bool port0_ok, struct sockaddr_storage *out) {
  char host[256];
  const char *colon = strrchr(s, ':');
  uint64_t port;
  if (!colon || colon == s || (size_t)(colon - s) >= sizeof host) return -EINVAL;
  if (parse_u64(colon + 1, strlen(colon + 1), 65535, &port) != 0 || (port == 0 && !port0_ok)) return -EINVAL;
  size_t hl = (size_t)(colon - s);
  memcpy(host, s, hl);
  host[hl] = '\0';
  char *h = host;
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
    host[hl - 1] = '\0';
    h++;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
  if (getaddrinfo(h, NULL, &hints, &res) != 0) return -EINVAL;
  memset(out, 0, sizeof *out);
  memcpy(out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  set_sa_port(out, (int)port);
  return 0;
}

/* bound_port: reads back the real port into ss (port 0 picked one) and returns it. */
static int bound_port(uv_tcp_t *t, struct sockaddr_storage *ss) {
  int len = sizeof *ss;
  if (uv_tcp_getsockname(t, (struct sockaddr *)ss, &len) != 0) return -1;
  if (ss->ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)ss)->sin_port);
}

static int usage(const char *msg) {
  fprintf(stderr, "relay: %s\nusage: relay --listen HOST:PORT --to HOST:PORT --control-port C "
                  "[--delay-ms D] [--jitter-ms J] [--rate-kbps K] [--seed S]\n", msg);
  return 2;
}

int main(int argc, char **argv) {
  const char *listen = NULL, *to = NULL;
  uint64_t cport = UINT64_MAX;
  bool seeded = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    size_t vl = strlen(v);
    if (strcmp(a, "--help") == 0) {
      usage("help");
      return 0;
    }
    if (i + 1 >= argc) return usage("missing value for an option");
    if (strcmp(a, "--listen") == 0) listen = v;
    else if (strcmp(a, "--to") == 0) to = v;
    else if (strcmp(a, "--control-port") == 0) {
      if (parse_u64(v, vl, 65535, &cport) != 0) return usage("bad --control-port");
    } else if (strcmp(a, "--delay-ms") == 0) {
      if (parse_u64(v, vl, MAX_MS, &S.delay_ms) != 0) return usage("bad --delay-ms");
    } else if (strcmp(a, "--jitter-ms") == 0) {
      if (parse_u64(v, vl, MAX_MS, &S.jitter_ms) != 0) return usage("bad --jitter-ms");
    } else if (strcmp(a, "--rate-kbps") == 0) {
      if (parse_u64(v, vl, MAX_KBPS, &S.rate_kbps) != 0) return usage("bad --rate-kbps");
    } else if (strcmp(a, "--seed") == 0) {
      if (parse_u64(v, vl, UINT64_MAX, &S.seed) != 0) return usage("bad --seed");
      seeded = true;
    } else return usage("unknown option");
    i++;
  }
  if (!listen || !to || cport == UINT64_MAX) return usage("--listen, --to and --control-port are required");
  if (parse_hostport(listen, true, &S.listen_addr) != 0) return usage("bad --listen");
  if (parse_hostport(to, false, &S.to_addr) != 0) return usage("bad --to");
  S.control_addr = S.listen_addr;
  set_sa_port(&S.control_addr, (int)cport);
  if (!seeded) S.seed = ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16)) & 0xffffffffu;
  S.rng = S.seed ^ UINT64_C(0x9E3779B97F4A7C15);
  if (S.rng == 0) S.rng = 1;
  signal(SIGPIPE, SIG_IGN);
  if (uv_loop_init(&S.loop) != 0) return 1;
  uv_tcp_init(&S.loop, &S.control);
  int e = relay_listen();
  if (e == 0) e = uv_tcp_bind(&S.control, (const struct sockaddr *)&S.control_addr, 0);
  if (e == 0) e = uv_listen((uv_stream_t *)&S.control, SOMAXCONN, on_ctl_connection);
  if (e != 0) {
    fprintf(stderr, "relay: listen: %s\n", uv_strerror(e));
    return 1; /* exiting at once: the loop's resources go with the process */
  }
  int lport = bound_port(S.listener, &S.listen_addr); /* a relisten after /refuse reuses it */
  int ctlport = bound_port(&S.control, &S.control_addr);
  uv_signal_init(&S.loop, &S.sigterm);
  uv_signal_init(&S.loop, &S.sigint);
  uv_signal_start(&S.sigterm, on_signal, SIGTERM);
  uv_signal_start(&S.sigint, on_signal, SIGINT);
  printf("ready listen=%d control=%d\n", lport, ctlport);
  fflush(stdout);
  uv_run(&S.loop, UV_RUN_DEFAULT);
  e = uv_loop_close(&S.loop);
  assert(e == 0);
  return e == 0 ? 0 : 1;
}
