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
 * direction. A chunk is never released before the previous chunk of its direction, so bytes
 * are never reordered. Held chunks sit in a per-direction queue driven by one uv_timer; the loop
 * never blocks. Above 4 MiB held or being written in a direction, the relay stops reading that
 * direction's source until it drains to 2 MiB (backpressure). A FIN is forwarded (as a
 * shutdown) after the bytes before it; a reset or a write error closes both sides with RST.
 * An upstream connect failure closes the client with RST.
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
 * methods other than GET and POST 405; a request head over 8 KiB 400.
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
#include <uv.h>

enum { READ_CAP = 65536, CTL_CAP = 8192, LINGER_MS = 1000, MAX_IOV = 256 };
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
  bool answered, closed;
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
  memcpy(ch->data, data, len);
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
    update_reading(f);
    settle(f);
  } else if (nread < 0) {
    conn_close(c, true);
  } else if (S.mode == MODE_CUT) {
    S.bytes_dropped += (uint64_t)nread;
  } else if (hold(f, b->base, (size_t)nread) != 0) {
    conn_close(c, true);
  } else {
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
