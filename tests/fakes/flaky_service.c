/* flaky_service.c: a real HTTP service whose failure mode is switched at run time, for
 * integration tests, the demo and benchmarks. One process, one libuv loop, links -luv only.
 *
 * Usage:
 *   flaky_service --port P --control-port C [--mode MODE] [--body TEXT] [--host 127.0.0.1]
 * Port 0 picks a free port. When both listeners are up it prints exactly one line to stdout,
 * "ready port=<P> control=<C>" (the real ports), and flushes. SIGTERM or SIGINT closes every
 * handle and exits 0. --body is used byte for byte (no escape processing); --host may be IPv6.
 *
 * Service port (any path; every parsed request is counted by path, query string dropped):
 *   healthy              200, body TEXT (default "ok\n"). HTTP/1.1 keep-alive and pipelining;
 *                        "Connection: close" is honoured; HTTP/1.0 closes unless it sends
 *                        "Connection: keep-alive".
 *   down                 listener closed (connect refused), open connections closed; switching
 *                        to any other mode listens again on the same port.
 *   error                500, body "error\n".
 *   slow?ms=N            200 after N ms (a timer; the loop never blocks).
 *   hang                 reads the request, never answers, keeps the connection until the
 *                        client closes it.
 *   close                status line and headers with Content-Length: 100, 5 body bytes, close.
 *   ramp?start=S&step=D  like slow; the k-th request after switching (k from 0) waits S + k*D ms.
 *   status?code=N        status N (200..599), body "status\n".
 *   fail?count=N         the next N requests get 500 "error\n", later ones are healthy: exactly
 *                        N failed checks, for no-flapping tests.
 * The answer to a request is fixed when its head is parsed; a later switch does not change it.
 * A request head over 16 KiB gets 431, a malformed one 400; both then close. Request bodies
 * with Content-Length are read and dropped; Transfer-Encoding gets 400. Times are 0..3600000 ms.
 *
 * Control port (JSON answers, always Connection: close; the listener never goes down):
 *   GET|POST /mode/<name>[?params]  switch: 200 {"mode":"slow","ms":500,"changed_at_ms":<wall ms>}
 *   GET /mode                       the current mode, same JSON
 *   GET /stats                      {"requests_total":N,"connections_total":M,"paths":{"/a":n,..}}
 *                                   at most 64 distinct paths, the rest under "other"
 *   POST /stats/reset               zero the counters (GET works too), answers the zeroed stats
 * Unknown mode, unknown, missing or out-of-range parameter: 400 {"error":"..."}; other paths
 * 404; methods other than GET and POST 405.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

enum { IN_CAP = 16384, MAX_PATHS = 64, PATH_CAP = 255, LINGER_MS = 1000, MAX_MS = 3600000 };

typedef enum { M_HEALTHY, M_DOWN, M_ERROR, M_SLOW, M_HANG, M_CLOSE, M_RAMP, M_STATUS, M_FAIL } mode_kind;

/* Each mode's name and parameters; all listed parameters are required. */
static const struct {
  const char *name;
  const char *params[2];
  uint64_t min[2], max[2];
} modes[] = {
    [M_HEALTHY] = {"healthy", {0}, {0}, {0}},
    [M_DOWN] = {"down", {0}, {0}, {0}},
    [M_ERROR] = {"error", {0}, {0}, {0}},
    [M_SLOW] = {"slow", {"ms", NULL}, {0, 0}, {MAX_MS, 0}},
    [M_HANG] = {"hang", {0}, {0}, {0}},
    [M_CLOSE] = {"close", {0}, {0}, {0}},
    [M_RAMP] = {"ramp", {"start", "step"}, {0, 0}, {MAX_MS, MAX_MS}},
    [M_STATUS] = {"status", {"code", NULL}, {200, 0}, {599, 0}},
    [M_FAIL] = {"fail", {"count", NULL}, {1, 0}, {1000000, 0}},
};
enum { N_MODES = sizeof modes / sizeof modes[0] };

typedef struct {
  mode_kind kind;
  uint64_t p[2]; /* the parameters, in the order of modes[kind].params */
} fmode;

typedef struct {
  char *p;
  size_t len, cap;
} buf;

typedef struct {
  const char *method, *target; /* point into the connection's input buffer */
  size_t method_len, target_len;
  bool http10, keep, head;
  uint64_t content_length;
} req;

typedef struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer; /* a delayed answer, or the linger before closing */
  uv_write_t wr;
  uv_shutdown_t sh;
  struct conn *prev, *next;
  int open_handles;
  bool control, reading, writing, waiting, due, hanging, eof, close_after, closing, closed;
  req delayed; /* flags of the request a slow answer is for (pointers cleared) */
  uint64_t body_left;
  size_t in_off, in_len, scanned;
  buf out; /* never appended to while a uv_write of it is in flight */
  char in[IN_CAP];
} conn;

static struct {
  uv_loop_t loop;
  uv_tcp_t *svc; /* NULL while down; freed in its close callback */
  uv_tcp_t ctl;
  uv_signal_t sigterm, sigint;
  struct sockaddr_storage svc_addr; /* holds the real port once bound, to listen again */
  fmode mode;
  uint64_t ramp_k, changed_at_ms;
  const char *body;
  size_t body_len;
  uint64_t requests_total, connections_total, other;
  struct {
    char path[PATH_CAP];
    size_t len;
    uint64_t n;
  } paths[MAX_PATHS];
  size_t npaths;
  conn *conns; /* every open connection, service and control */
} S;

static void process(conn *c);

/* ---- small helpers ---- */

static int buf_reserve(buf *b, size_t more) {
  if (b->len + more <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 512;
  while (cap < b->len + more) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) return -ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

static int buf_put(buf *b, const void *s, size_t n) {
  if (buf_reserve(b, n) < 0) return -ENOMEM;
  if (n) memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

__attribute__((format(printf, 2, 3))) static int buf_printf(buf *b, const char *fmt, ...) {
  if (buf_reserve(b, 128) < 0) return -ENOMEM;
  for (int pass = 0; pass < 2; pass++) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) return -EINVAL;
    if ((size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return 0;
    }
    if (buf_reserve(b, (size_t)n + 1) < 0) return -ENOMEM;
  }
  return -EINVAL;
}

static uint64_t wall_ms(void) {
  uv_timeval64_t tv;
  if (uv_gettimeofday(&tv) != 0) return 0;
  return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static bool is_tchar(unsigned char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool span_eq(const char *s, size_t n, const char *lit) {
  return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static bool span_ieq(const char *s, size_t n, const char *lit) {
  return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* parse_u64: decimal digits only, at most max; 0 or -EINVAL. */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  if (n == 0 || n > 18) return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -EINVAL;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v > max) return -EINVAL;
  *out = v;
  return 0;
}

static const char *reason(int code) {
  switch (code) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return "Status";
  }
}

/* ---- HTTP request heads ---- */

/* head_end: length of the head (through its blank line) in b, or 0 if not complete yet. */
static size_t head_end(const char *b, size_t len, size_t from) {
  for (size_t i = from; i < len; i++) {
    const char *nl = memchr(b + i, '\n', len - i);
    if (!nl) return 0;
    i = (size_t)(nl - b);
    if (i + 1 < len && b[i + 1] == '\n') return i + 2;
    if (i + 2 < len && b[i + 1] == '\r' && b[i + 2] == '\n') return i + 3;
  }
  return 0;
}

/* next_line: the line at *p (without CR LF) and advances *p past it. */
static size_t next_line(const char **p, const char *end, const char **line) {
  const char *nl = memchr(*p, '\n', (size_t)(end - *p));
  assert(nl); /* head_end found the blank line */
  size_t n = (size_t)(nl - *p);
  *line = *p;
  *p = nl + 1;
  if (n && (*line)[n - 1] == '\r') n--;
  return n;
}

static int parse_request_line(const char *l, size_t n, req *r) {
  const char *sp1 = memchr(l, ' ', n);
  if (!sp1 || sp1 == l) return 400;
  r->method = l;
  r->method_len = (size_t)(sp1 - l);
  for (size_t i = 0; i < r->method_len; i++)
    if (!is_tchar((unsigned char)l[i])) return 400;
  r->target = sp1 + 1;
  const char *sp2 = memchr(r->target, ' ', (size_t)(l + n - r->target));
  if (!sp2 || sp2 == r->target) return 400;
  r->target_len = (size_t)(sp2 - r->target);
  for (size_t i = 0; i < r->target_len; i++)
    if ((unsigned char)r->target[i] <= 0x20 || (unsigned char)r->target[i] >= 0x7f) return 400;
  size_t vlen = (size_t)(l + n - (sp2 + 1));
  if (span_eq(sp2 + 1, vlen, "HTTP/1.1")) r->http10 = false;
  else if (span_eq(sp2 + 1, vlen, "HTTP/1.0")) r->http10 = true;
  else return 400;
  r->head = span_eq(r->method, r->method_len, "HEAD");
  return 0;
}

/* parse_head: 0 with *r filled, or the HTTP status to answer (400). */
static int parse_head(const char *b, size_t hlen, req *r) {
  const char *p = b, *end = b + hlen, *l;
  bool cl_seen = false, ask_close = false, ask_keep = false;
  memset(r, 0, sizeof *r);
  size_t n = next_line(&p, end, &l);
  if (parse_request_line(l, n, r) != 0) return 400;
  while ((n = next_line(&p, end, &l)) > 0) {
    const char *colon = memchr(l, ':', n);
    if (!colon || colon == l) return 400;
    size_t nlen = (size_t)(colon - l);
    for (size_t i = 0; i < nlen; i++)
      if (!is_tchar((unsigned char)l[i])) return 400;
    const char *v = colon + 1, *ve = l + n;
    for (const char *q = v; q < ve; q++)
      if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f) return 400;
    while (v < ve && (*v == ' ' || *v == '\t')) v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
    size_t vlen = (size_t)(ve - v);
    if (span_ieq(l, nlen, "content-length")) {
      uint64_t cl;
      if (parse_u64(v, vlen, UINT64_MAX / 16, &cl) != 0) return 400;
      if (cl_seen && cl != r->content_length) return 400;
      cl_seen = true;
      r->content_length = cl;
    } else if (span_ieq(l, nlen, "transfer-encoding")) {
      return 400; /* chunked request bodies are not supported by this fake */
    } else if (span_ieq(l, nlen, "connection")) {
      for (const char *t = v; t < ve;) {
        const char *comma = memchr(t, ',', (size_t)(ve - t));
        const char *te = comma ? comma : ve, *ts = t;
        while (ts < te && (*ts == ' ' || *ts == '\t')) ts++;
        while (te > ts && (te[-1] == ' ' || te[-1] == '\t')) te--;
        ask_close |= span_ieq(ts, (size_t)(te - ts), "close");
        ask_keep |= span_ieq(ts, (size_t)(te - ts), "keep-alive");
        t = comma ? comma + 1 : ve;
      }
    }
  }
  r->keep = r->http10 ? (ask_keep && !ask_close) : !ask_close;
  return 0;
}

/* ---- connections ---- */

static void on_handle_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->open_handles == 0) {
    free(c->out.p);
    free(c);
  }
}

/* hard_close: closes now; c is freed in the close callbacks, so it stays valid until then. */
static void hard_close(conn *c) {
  if (c->closed) return;
  c->closed = true;
  if (c->prev) c->prev->next = c->next;
  else S.conns = c->next;
  if (c->next) c->next->prev = c->prev;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_linger_done(uv_timer_t *t) { hard_close(t->data); }

static void set_reading(conn *c, bool on);

/* After the last answer: send FIN, then read and drop until the peer closes (or LINGER_MS),
 * so unread request bytes do not turn our close into a reset that loses the answer. */
static void on_shutdown(uv_shutdown_t *sh, int status) {
  conn *c = sh->data;
  if (status < 0 || c->closed) {
    hard_close(c);
    return;
  }
  c->in_len = c->in_off = 0;
  set_reading(c, true);
  if (!c->closed) uv_timer_start(&c->timer, on_linger_done, LINGER_MS, 0);
}

static void graceful_close(conn *c) {
  assert(!c->writing && !c->waiting);
  c->closing = true;
  c->sh.data = c;
  if (uv_shutdown(&c->sh, (uv_stream_t *)&c->tcp, on_shutdown) != 0) hard_close(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  conn *c = h->data;
  (void)hint;
  if (c->in_off > 0) { /* no pointer into in[] outlives a callback, so compacting is safe */
    memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
    c->in_len -= c->in_off;
    c->in_off = 0;
  }
  *b = uv_buf_init(c->in + c->in_len, (unsigned)(IN_CAP - c->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  conn *c = s->data;
  (void)b;
  if (nread == 0 || c->closed) return;
  if (c->closing) { /* lingering: drop input until the peer closes */
    if (nread < 0) hard_close(c);
    return;
  }
  if (nread == UV_ENOBUFS) { /* buffer full: wait until answers free it */
    set_reading(c, false);
    if (!c->writing && !c->waiting) process(c);
    return;
  }
  if (nread < 0) {
    if (nread != UV_EOF) {
      hard_close(c);
      return;
    }
    c->eof = true;
    c->reading = false; /* libuv stops reading at EOF */
  } else if (c->hanging) {
    c->in_len = c->in_off = 0;
    return;
  } else {
    c->in_len += (size_t)nread;
  }
  if (!c->writing && !c->waiting) process(c);
  else if (c->in_len == IN_CAP) set_reading(c, false);
}

static void set_reading(conn *c, bool on) {
  if (c->closed || c->reading == on) return;
  int r = on ? uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)
             : uv_read_stop((uv_stream_t *)&c->tcp);
  if (r != 0) {
    hard_close(c);
    return;
  }
  c->reading = on;
}

static void on_write(uv_write_t *w, int status) {
  conn *c = w->data;
  c->writing = false;
  if (status < 0) {
    hard_close(c);
    return;
  }
  c->out.len = 0;
  process(c);
}

/* flush: sends c->out, synchronously when the socket takes it all (the usual case). */
static void flush(conn *c) {
  if (c->writing || c->closed || c->out.len == 0) return;
  uv_buf_t b = uv_buf_init(c->out.p, (unsigned)c->out.len);
  int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (n < 0 && n != UV_EAGAIN) {
    hard_close(c);
    return;
  }
  size_t done = n > 0 ? (size_t)n : 0;
  if (done == c->out.len) {
    c->out.len = 0;
    return;
  }
  memmove(c->out.p, c->out.p + done, c->out.len - done);
  c->out.len -= done;
  b = uv_buf_init(c->out.p, (unsigned)c->out.len);
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
    hard_close(c);
    return;
  }
  c->writing = true;
}

/* settle: after processing, decide between closing, waiting and reading more. */
static void settle(conn *c) {
  if (c->closed || c->closing || c->writing) return;
  if (c->close_after && !c->waiting) {
    graceful_close(c);
  } else if (c->eof) {
    if (!c->waiting) hard_close(c); /* peer done sending and nothing left to answer */
  } else {
    set_reading(c, c->in_len < IN_CAP);
  }
}

static void reply(conn *c, int code, const char *ctype, const char *body, size_t len,
                  const req *r) {
  assert(!c->writing);
  bool keep = r && r->keep && !c->close_after;
  bool nobody = code == 204 || code == 304;
  int e = buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", code, reason(code), ctype);
  if (!e && !nobody) e = buf_printf(&c->out, "Content-Length: %zu\r\n", len);
  if (!e && !keep) e = buf_printf(&c->out, "Connection: close\r\n");
  if (!e && keep && r->http10) e = buf_printf(&c->out, "Connection: keep-alive\r\n");
  if (!e) e = buf_put(&c->out, "\r\n", 2);
  if (!e && !nobody && !(r && r->head)) e = buf_put(&c->out, body, len);
  if (e) hard_close(c);
  if (!keep) c->close_after = true;
}

static void reply_text(conn *c, int code, const char *body, const req *r) {
  reply(c, code, "text/plain", body, strlen(body), r);
}

/* ---- service port ---- */

static void count_request(const req *r) {
  const char *q = memchr(r->target, '?', r->target_len);
  size_t n = q ? (size_t)(q - r->target) : r->target_len;
  S.requests_total++;
  for (size_t i = 0; i < S.npaths; i++) {
    if (S.paths[i].len == n && memcmp(S.paths[i].path, r->target, n) == 0) {
      S.paths[i].n++;
      return;
    }
  }
  if (S.npaths == MAX_PATHS || n > PATH_CAP) {
    S.other++;
    return;
  }
  memcpy(S.paths[S.npaths].path, r->target, n);
  S.paths[S.npaths].len = n;
  S.paths[S.npaths].n = 1;
  S.npaths++;
}

static void on_delay_done(uv_timer_t *t) {
  conn *c = t->data;
  c->waiting = false;
  c->due = true;
  process(c);
}

static void answer_later(conn *c, const req *r, uint64_t ms) {
  c->delayed = *r;
  c->delayed.method = c->delayed.target = NULL;
  c->waiting = true;
  /* The loop clock is cached and whole ms, so a timer can fire up to 1 ms early; refresh it
   * and add 1 ms so that "after N ms" holds for clients measuring from their send. */
  uv_update_time(&S.loop);
  uv_timer_start(&c->timer, on_delay_done, ms ? ms + 1 : 0, 0);
}

static void serve(conn *c, const req *r) {
  static const char partial[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                "Content-Length: 100\r\nConnection: close\r\n\r\nhello";
  count_request(r);
  switch (S.mode.kind) {
  case M_HEALTHY: reply(c, 200, "text/plain", S.body, S.body_len, r); break;
  case M_ERROR: reply_text(c, 500, "error\n", r); break;
  case M_STATUS: reply_text(c, (int)S.mode.p[0], "status\n", r); break;
  case M_SLOW: answer_later(c, r, S.mode.p[0]); break;
  case M_RAMP: {
    uint64_t k = S.ramp_k++, step = S.mode.p[1];
    uint64_t extra = step && k > MAX_MS / step ? MAX_MS : k * step;
    answer_later(c, r, S.mode.p[0] + extra > MAX_MS ? MAX_MS : S.mode.p[0] + extra);
    break;
  }
  case M_FAIL:
    /* ramp_k doubles as the count of requests served since the switch. */
    if (S.ramp_k < S.mode.p[0]) {
      S.ramp_k++;
      reply_text(c, 500, "error\n", r);
    } else {
      reply(c, 200, "text/plain", S.body, S.body_len, r);
    }
    break;
  case M_HANG:
    c->hanging = true;
    c->in_len = c->in_off = 0;
    break;
  case M_CLOSE:
    if (buf_put(&c->out, partial, sizeof partial - 1) != 0) hard_close(c);
    c->close_after = true;
    break;
  case M_DOWN: c->close_after = true; break; /* not reached: down closes service connections */
  }
}

/* ---- control port ---- */

static int mode_json(buf *b, const fmode *m) {
  int e = buf_printf(b, "{\"mode\":\"%s\"", modes[m->kind].name);
  for (int i = 0; i < 2 && !e && modes[m->kind].params[i]; i++)
    e = buf_printf(b, ",\"%s\":%" PRIu64, modes[m->kind].params[i], m->p[i]);
  return e ? e : buf_printf(b, ",\"changed_at_ms\":%" PRIu64 "}", S.changed_at_ms);
}

static int stats_json(buf *b) {
  int e = buf_printf(b, "{\"requests_total\":%" PRIu64 ",\"connections_total\":%" PRIu64
                        ",\"paths\":{", S.requests_total, S.connections_total);
  for (size_t i = 0; i < S.npaths && !e; i++) {
    e = buf_put(b, i ? ",\"" : "\"", i ? 2 : 1);
    for (size_t j = 0; j < S.paths[i].len && !e; j++) { /* targets are printable ASCII */
      char ch = S.paths[i].path[j];
      e = (ch == '"' || ch == '\\') ? buf_put(b, "\\", 1) : 0;
      if (!e) e = buf_put(b, &ch, 1);
    }
    if (!e) e = buf_printf(b, "\":%" PRIu64, S.paths[i].n);
  }
  if (!e && S.other) e = buf_printf(b, "%s\"other\":%" PRIu64, S.npaths ? "," : "", S.other);
  return e ? e : buf_put(b, "}}", 2);
}

/* parse_mode: "name" plus the query after '?'; 0, or -EINVAL with *err a fixed message. */
static int parse_mode(const char *name, size_t nlen, const char *q, size_t qlen, fmode *m,
                      const char **err) {
  int kind = -1;
  bool seen[2] = {false, false};
  for (int i = 0; i < N_MODES; i++)
    if (span_eq(name, nlen, modes[i].name)) kind = i;
  *err = "unknown mode";
  if (kind < 0) return -EINVAL;
  memset(m, 0, sizeof *m);
  m->kind = (mode_kind)kind;
  for (const char *p = q, *end = q + qlen; p < end;) {
    const char *amp = memchr(p, '&', (size_t)(end - p)), *pe = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(pe - p));
    int i = 0;
    *err = "unknown parameter";
    while (i < 2 && (!modes[kind].params[i] || !eq ||
                     !span_eq(p, (size_t)(eq - p), modes[kind].params[i])))
      i++;
    if (i == 2) return -EINVAL;
    *err = "parameter out of range or not a number";
    if (parse_u64(eq + 1, (size_t)(pe - eq - 1), modes[kind].max[i], &m->p[i]) != 0 ||
        m->p[i] < modes[kind].min[i])
      return -EINVAL;
    seen[i] = true;
    p = amp ? amp + 1 : end;
  }
  *err = "missing parameter";
  for (int i = 0; i < 2; i++)
    if (modes[kind].params[i] && !seen[i]) return -EINVAL;
  return 0;
}

static int svc_listen(void);

static void free_handle(uv_handle_t *h) { free(h); }

static void svc_down(void) {
  if (S.svc) uv_close((uv_handle_t *)S.svc, free_handle);
  S.svc = NULL;
  for (conn *c = S.conns, *next; c; c = next) {
    next = c->next;
    if (!c->control) hard_close(c);
  }
}

static int set_mode(const fmode *m) {
  if (m->kind == M_DOWN) svc_down();
  else if (!S.svc) {
    int e = svc_listen();
    if (e < 0) return e;
  }
  S.mode = *m;
  S.ramp_k = 0;
  S.changed_at_ms = wall_ms();
  return 0;
}

static void control(conn *c, const req *r) {
  const char *path = r->target, *q = memchr(r->target, '?', r->target_len);
  size_t plen = q ? (size_t)(q - path) : r->target_len;
  size_t qlen = q ? r->target_len - plen - 1 : 0;
  bool get = span_eq(r->method, r->method_len, "GET");
  bool post = span_eq(r->method, r->method_len, "POST");
  const char *err = NULL;
  int code = 200;
  buf b = {0};
  fmode m;
  c->close_after = true;
  if (!get && !post) code = 405, err = "method not allowed";
  else if (span_eq(path, plen, "/mode") || span_eq(path, plen, "/stats")) {
    if (post) code = 405, err = "method not allowed";
    else if (path[1] == 'm') code = mode_json(&b, &S.mode) ? 500 : 200;
    else code = stats_json(&b) ? 500 : 200;
  }
  else if (plen > 6 && memcmp(path, "/mode/", 6) == 0) {
    if (parse_mode(path + 6, plen - 6, q ? q + 1 : "", qlen, &m, &err) != 0) code = 400;
    else if (set_mode(&m) != 0) code = 500, err = "cannot listen on the service port";
    else code = mode_json(&b, &S.mode) ? 500 : 200;
  } else if (span_eq(path, plen, "/stats/reset")) {
    S.requests_total = S.connections_total = S.other = 0;
    S.npaths = 0;
    code = stats_json(&b) ? 500 : 200;
  } else code = 404, err = "not found";
  if (code != 200) {
    b.len = 0;
    if (buf_printf(&b, "{\"error\":\"%s\"}", err ? err : "out of memory") != 0) {
      free(b.p);
      hard_close(c);
      return;
    }
  }
  reply(c, code, "application/json", b.p, b.len, r);
  free(b.p);
}

/* ---- the per-connection state machine ---- */

/* process: answers every complete request buffered, in order, until one must wait. */
static void process(conn *c) {
  if (c->due && !c->writing && !c->closed) {
    c->due = false;
    reply(c, 200, "text/plain", S.body, S.body_len, &c->delayed);
  }
  while (!c->closed && !c->closing && !c->writing && !c->waiting && !c->hanging &&
         !c->close_after) {
    char *b = c->in + c->in_off;
    size_t n = c->in_len - c->in_off;
    if (c->body_left) {
      size_t k = n < c->body_left ? n : (size_t)c->body_left;
      c->in_off += k;
      c->body_left -= k;
      if (c->body_left) break;
      continue;
    }
    size_t skip = 0; /* RFC 9112: ignore empty lines before a request line */
    while (skip < n && (b[skip] == '\r' || b[skip] == '\n')) skip++;
    c->in_off += skip, b += skip, n -= skip;
    size_t hlen = head_end(b, n, c->scanned);
    if (hlen == 0) {
      c->scanned = n > 2 ? n - 2 : 0;
      if (c->in_off == 0 && c->in_len == IN_CAP)
        reply_text(c, 431, "request head too large\n", NULL);
      break;
    }
    req r;
    c->scanned = 0;
    c->in_off += hlen;
    if (parse_head(b, hlen, &r) != 0) {
      reply_text(c, 400, "bad request\n", NULL);
      break;
    }
    c->body_left = r.content_length;
    if (c->control) control(c, &r);
    else serve(c, &r);
  }
  if (c->in_off == c->in_len) c->in_off = c->in_len = 0;
  if (c->in_off > 0 && c->in_len == IN_CAP && !c->closed) { /* make room for the rest */
    memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
    c->in_len -= c->in_off;
    c->in_off = 0;
    if (!c->writing && !c->waiting && !c->hanging && !c->close_after) {
      process(c); /* recursion is bounded: the buffer is no longer full */
      return;
    }
  }
  flush(c);
  settle(c);
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  conn *c = calloc(1, sizeof *c);
  if (!c) return; /* out of memory: the pending connection waits in the backlog */
  uv_tcp_init(&S.loop, &c->tcp);
  uv_timer_init(&S.loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  c->control = server == (uv_stream_t *)&S.ctl;
  c->next = S.conns;
  if (S.conns) S.conns->prev = c;
  S.conns = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    hard_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  if (!c->control) S.connections_total++;
  set_reading(c, true);
}

/* ---- listeners, signals, main ---- */

static int listen_on(uv_tcp_t *t, const struct sockaddr *addr) {
  int e = uv_tcp_bind(t, addr, 0);
  return e ? e : uv_listen((uv_stream_t *)t, 1024, on_connection);
}

static int svc_listen(void) {
  uv_tcp_t *t = malloc(sizeof *t);
  if (!t) return -ENOMEM;
  uv_tcp_init(&S.loop, t);
  int e = listen_on(t, (const struct sockaddr *)&S.svc_addr);
  if (e) {
    uv_close((uv_handle_t *)t, free_handle);
    return e;
  }
  S.svc = t;
  return 0;
}

static int bound_port(uv_tcp_t *t, struct sockaddr_storage *ss) {
  int len = sizeof *ss;
  if (uv_tcp_getsockname(t, (struct sockaddr *)ss, &len) != 0) return -1;
  if (ss->ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)ss)->sin_port);
}

static void on_signal(uv_signal_t *sig, int signum) {
  (void)sig;
  (void)signum;
  uv_close((uv_handle_t *)&S.sigterm, NULL);
  uv_close((uv_handle_t *)&S.sigint, NULL);
  uv_close((uv_handle_t *)&S.ctl, NULL);
  svc_down();
  while (S.conns) hard_close(S.conns);
}

static int make_addr(const char *host, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) return 0;
  return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss);
}

static int usage(const char *msg) {
  fprintf(stderr, "flaky_service: %s\nusage: flaky_service --port P --control-port C "
                  "[--mode MODE] [--body TEXT] [--host 127.0.0.1]\n", msg);
  return 2;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *mode = "healthy", *err;
  uint64_t port = UINT64_MAX, cport = UINT64_MAX;
  struct sockaddr_storage caddr;
  fmode m;
  S.body = "ok\n";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0) {
      usage("help");
      return 0;
    }
    if (!v) return usage("missing value for an option");
    if (strcmp(a, "--port") == 0) {
      if (parse_u64(v, strlen(v), 65535, &port) != 0) return usage("bad --port");
    } else if (strcmp(a, "--control-port") == 0) {
      if (parse_u64(v, strlen(v), 65535, &cport) != 0) return usage("bad --control-port");
    } else if (strcmp(a, "--mode") == 0) mode = v;
    else if (strcmp(a, "--body") == 0) S.body = v;
    else if (strcmp(a, "--host") == 0) host = v;
    else return usage("unknown option");
    i++;
  }
  if (port == UINT64_MAX || cport == UINT64_MAX) return usage("--port and --control-port are required");
  const char *q = strchr(mode, '?');
  size_t nlen = q ? (size_t)(q - mode) : strlen(mode);
  if (parse_mode(mode, nlen, q ? q + 1 : "", q ? strlen(q + 1) : 0, &m, &err) != 0) return usage(err);
  if (make_addr(host, (int)port, &S.svc_addr) || make_addr(host, (int)cport, &caddr)) return usage("bad --host");
  S.body_len = strlen(S.body);
  signal(SIGPIPE, SIG_IGN);
  if (uv_loop_init(&S.loop) != 0) return 1;
  uv_tcp_init(&S.loop, &S.ctl);
  int e = svc_listen();
  if (e == 0) e = listen_on(&S.ctl, (const struct sockaddr *)&caddr);
  if (e != 0) {
    fprintf(stderr, "flaky_service: listen: %s\n", uv_strerror(e));
    return 1; /* exiting at once: the loop's resources go with the process */
  }
  int sport = bound_port(S.svc, &S.svc_addr); /* later listens reuse the real port */
  int ctlport = bound_port(&S.ctl, &caddr);
  uv_signal_init(&S.loop, &S.sigterm);
  uv_signal_init(&S.loop, &S.sigint);
  uv_signal_start(&S.sigterm, on_signal, SIGTERM);
  uv_signal_start(&S.sigint, on_signal, SIGINT);
  set_mode(&m); /* cannot fail: the service port is listening */
  printf("ready port=%d control=%d\n", sport, ctlport);
  fflush(stdout);
  uv_run(&S.loop, UV_RUN_DEFAULT);
  e = uv_loop_close(&S.loop);
  assert(e == 0);
  return e == 0 ? 0 : 1;
}
