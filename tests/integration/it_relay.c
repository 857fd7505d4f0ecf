/* it_relay.c: integration test of tests/fakes/relay with real sockets on 127.0.0.1: an echo
 * server thread sits behind a relay process; the tests check delay accuracy, byte order under
 * jitter, many small writes, the rate cap, cut/refuse/restore/reset, /stats and SIGTERM.
 * Self-contained (no shared harness): spawn with fork/exec + PR_SET_PDEATHSIG, read the ready
 * line, SIGTERM + waitpid in teardown, which also asserts exit 0 (so leaks fail the test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_ECHO = 16, ECHO_BUF = 65536, IO_TIMEOUT_MS = 5000 };

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static int listen_any(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fd < 0) return -errno;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

/* ---- echo server: one thread, non-blocking sockets, poll ---- */

typedef struct {
  int fd;
  size_t len;
  bool eof;
  char buf[ECHO_BUF];
} echo_conn;

typedef struct {
  int lfd, stop[2], port;
  pthread_t th;
  bool running;
  echo_conn c[MAX_ECHO];
} echo_srv;

static void echo_drop(echo_conn *c) {
  close(c->fd);
  c->fd = -1;
}

static void echo_io(echo_conn *c, short rev) {
  if ((rev & (POLLIN | POLLHUP | POLLERR)) && !c->eof && c->len < ECHO_BUF) {
    ssize_t r = read(c->fd, c->buf + c->len, ECHO_BUF - c->len);
    if (r > 0) c->len += (size_t)r;
    else if (r == 0) c->eof = true;
    else if (errno != EAGAIN) {
      echo_drop(c);
      return;
    }
  }
  if (c->len > 0) {
    ssize_t w = write(c->fd, c->buf, c->len);
    if (w > 0) {
      memmove(c->buf, c->buf + w, c->len - (size_t)w);
      c->len -= (size_t)w;
    } else if (w < 0 && errno != EAGAIN) {
      echo_drop(c);
      return;
    }
  }
  if (c->eof && c->len == 0) echo_drop(c); /* echo the half-close as a close */
}

static void *echo_main(void *arg) {
  echo_srv *e = arg;
  for (;;) {
    struct pollfd p[MAX_ECHO + 2] = {{e->stop[0], POLLIN}, {e->lfd, POLLIN}};
    int map[MAX_ECHO + 2], n = 2;
    for (int i = 0; i < MAX_ECHO; i++) {
      echo_conn *c = &e->c[i];
      if (c->fd < 0) continue;
      short ev = (short)((!c->eof && c->len < ECHO_BUF ? POLLIN : 0) | (c->len ? POLLOUT : 0));
      p[n] = (struct pollfd){c->fd, ev};
      map[n++] = i;
    }
    if (poll(p, (nfds_t)n, 1000) < 0 && errno != EINTR) break;
    if (p[0].revents) break;
    if (p[1].revents & POLLIN) {
      int fd = accept4(e->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i = 0;
      while (fd >= 0 && i < MAX_ECHO && e->c[i].fd >= 0) i++;
      if (fd >= 0 && i == MAX_ECHO) close(fd);
      else if (fd >= 0) e->c[i] = (echo_conn){.fd = fd};
    }
    for (int k = 2; k < n; k++)
      if (p[k].revents) echo_io(&e->c[map[k]], p[k].revents);
  }
  for (int i = 0; i < MAX_ECHO; i++)
    if (e->c[i].fd >= 0) echo_drop(&e->c[i]);
  return NULL;
}

static int echo_start(echo_srv *e) {
  for (int i = 0; i < MAX_ECHO; i++) e->c[i].fd = -1;
  e->lfd = listen_any(&e->port);
  if (e->lfd < 0) return e->lfd;
  if (pipe2(e->stop, O_CLOEXEC) != 0) return -errno;
  if (pthread_create(&e->th, NULL, echo_main, e) != 0) return -EAGAIN;
  e->running = true;
  return 0;
}

static void echo_stop(echo_srv *e) {
  if (!e->running) return;
  (void)!write(e->stop[1], "x", 1);
  pthread_join(e->th, NULL);
  close(e->stop[0]);
  close(e->stop[1]);
  close(e->lfd);
  e->running = false;
}

/* ---- the relay process ---- */

typedef struct {
  pid_t pid;
  int listen_port, control_port;
} relay_proc;

/* relay_start: runs RELAY_BIN --to 127.0.0.1:to_port plus extra args (NULL-terminated). */
static int relay_start(relay_proc *r, int to_port, const char *const *extra) {
  char to[32];
  const char *argv[24] = {RELAY_BIN, "--listen", "127.0.0.1:0", "--to", to, "--control-port", "0"};
  int argc = 7, fds[2];
  snprintf(to, sizeof to, "127.0.0.1:%d", to_port);
  while (extra && *extra && argc < 23) argv[argc++] = *extra++;
  argv[argc] = NULL;
  if (pipe2(fds, O_CLOEXEC) != 0) return -errno;
  pid_t parent = getpid(), pid = fork();
  if (pid < 0) return -errno;
  if (pid == 0) { /* only async-signal-safe calls until exec: the echo thread may exist */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(fds[1], STDOUT_FILENO);
    execv(RELAY_BIN, (char *const *)argv);
    _exit(127);
  }
  close(fds[1]);
  r->pid = pid;
  char line[128];
  size_t n = 0;
  double deadline = mono_ms() + 10000;
  while (n < sizeof line - 1 && (n == 0 || line[n - 1] != '\n') && mono_ms() < deadline) {
    struct pollfd p = {fds[0], POLLIN};
    if (poll(&p, 1, 100) <= 0) continue;
    if (read(fds[0], line + n, 1) != 1) break;
    n++;
  }
  line[n] = '\0';
  close(fds[0]);
  if (sscanf(line, "ready listen=%d control=%d", &r->listen_port, &r->control_port) != 2) {
    fprintf(stderr, "relay did not get ready: '%s'\n", line);
    return -EIO;
  }
  return 0;
}

/* relay_stop: SIGTERM, wait up to wait_ms, then SIGKILL; returns the exit code or -1. */
static int relay_stop(relay_proc *r, int wait_ms) {
  if (r->pid <= 0) return 0;
  int st = 0;
  kill(r->pid, SIGTERM);
  double deadline = mono_ms() + wait_ms;
  pid_t w;
  while ((w = waitpid(r->pid, &st, WNOHANG)) == 0 && mono_ms() < deadline) sleep_ms(5);
  if (w == 0) {
    kill(r->pid, SIGKILL);
    waitpid(r->pid, &st, 0);
    st = -1;
  }
  r->pid = 0;
  return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct {
  char p[4096];
  size_t len;
} body_buf;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  body_buf *b = ud;
  size_t take = sz * n < sizeof b->p - 1 - b->len ? sz * n : sizeof b->p - 1 - b->len;
  memcpy(b->p + b->len, p, take);
  b->len += take;
  b->p[b->len] = '\0';
  return sz * n;
}

/* ctl: one control request; returns the parsed JSON answer (caller frees) and the status. */
static cJSON *ctl(const relay_proc *r, const char *path, bool post, long *code) {
  char url[256];
  body_buf b = {.len = 0};
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", r->control_port, path);
  CURL *h = curl_easy_init();
  if (!h) return NULL;
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  if (post) curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
  CURLcode rc = curl_easy_perform(h);
  *code = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
  curl_easy_cleanup(h);
  return rc == CURLE_OK ? cJSON_Parse(b.p) : NULL;
}

/* ctl_ok: a control request that must answer 200; returns stats field `field` (or -1). */
static double ctl_ok(const relay_proc *r, const char *path, const char *field) {
  long code;
  cJSON *j = ctl(r, path, false, &code);
  assert_non_null(j);
  assert_int_equal(code, 200);
  cJSON *f = field ? cJSON_GetObjectItemCaseSensitive(j, field) : NULL;
  double v = cJSON_IsNumber(f) ? f->valuedouble : -1;
  cJSON_Delete(j);
  return v;
}

static char *stats_mode(const relay_proc *r) {
  long code;
  static char mode[16];
  cJSON *j = ctl(r, "/stats", false, &code);
  assert_non_null(j);
  cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "mode");
  assert_true(cJSON_IsString(m));
  snprintf(mode, sizeof mode, "%s", m->valuestring);
  cJSON_Delete(j);
  return mode;
}

/* ---- client sockets ---- */

/* connect_to: a non-blocking TCP_NODELAY socket connected to 127.0.0.1:port, or -errno. */
static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (fd < 0) return -errno;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

/* read_some: waits up to timeout_ms; returns bytes read, 0 at EOF, -ETIMEDOUT or -errno. */
static ssize_t read_some(int fd, void *buf, size_t cap, int timeout_ms) {
  struct pollfd p = {fd, POLLIN};
  int r = poll(&p, 1, timeout_ms);
  if (r == 0) return -ETIMEDOUT;
  if (r < 0) return -errno;
  ssize_t n = read(fd, buf, cap);
  return n < 0 ? -errno : n;
}

static ssize_t read_exact(int fd, char *buf, size_t len, int timeout_ms) {
  size_t got = 0;
  double deadline = mono_ms() + timeout_ms;
  while (got < len) {
    int left = (int)(deadline - mono_ms());
    ssize_t n = read_some(fd, buf + got, len - got, left > 0 ? left : 0);
    if (n <= 0) return n;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

static void send_all(int fd, const char *p, size_t len) {
  assert_int_equal(write(fd, p, len), (ssize_t)len); /* small: the socket buffer takes it */
}

/* xfer: writes out in send() calls of at most `piece` bytes while reading len bytes into in;
 * both at once, so neither side's buffers can deadlock. Returns 0 or -ETIMEDOUT/-errno. */
static int xfer(int fd, const char *out, char *in, size_t len, size_t piece, int timeout_ms) {
  size_t sent = 0, got = 0;
  double deadline = mono_ms() + timeout_ms;
  while (got < len) {
    struct pollfd p = {fd, (short)(POLLIN | (sent < len ? POLLOUT : 0))};
    int left = (int)(deadline - mono_ms());
    if (left <= 0) return -ETIMEDOUT;
    if (poll(&p, 1, left) < 0) return -errno;
    while ((p.revents & POLLOUT) && sent < len) {
      size_t n = len - sent < piece ? len - sent : piece;
      ssize_t w = write(fd, out + sent, n);
      if (w < 0 && errno == EAGAIN) break;
      if (w < 0) return -errno;
      sent += (size_t)w;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(fd, in + got, len - got);
      if (r == 0) return -EPIPE;
      if (r < 0 && errno != EAGAIN) return -errno;
      if (r > 0) got += (size_t)r;
    }
  }
  return 0;
}

static double echo_rtt_ms(int fd, const char *msg) {
  char back[64];
  size_t n = strlen(msg);
  double t0 = mono_ms();
  send_all(fd, msg, n);
  assert_int_equal(read_exact(fd, back, n, IO_TIMEOUT_MS), (ssize_t)n);
  assert_memory_equal(back, msg, n);
  return mono_ms() - t0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* ---- fixture: echo server + relay (delay 0) ---- */

typedef struct {
  echo_srv echo;
  relay_proc relay, extra;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f || echo_start(&f->echo) != 0 || relay_start(&f->relay, f->echo.port, NULL) != 0) {
    if (f) relay_stop(&f->relay, 1000), echo_stop(&f->echo), free(f);
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  int a = relay_stop(&f->relay, 3000), b = relay_stop(&f->extra, 3000);
  echo_stop(&f->echo);
  free(f);
  if (a != 0 || b != 0) fprintf(stderr, "relay exit codes %d %d (want 0: leaks or a crash)\n", a, b);
  return a == 0 && b == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void test_echo_fast_without_delay(void **state) {
  fixture *f = *state;
  int fd = connect_to(f->relay.listen_port);
  assert_true(fd >= 0);
  double rtt[50];
  for (int i = 0; i < 50; i++) rtt[i] = echo_rtt_ms(fd, "ping through the relay");
  qsort(rtt, 50, sizeof rtt[0], cmp_double);
  printf("delay 0: round trip median %.3f ms, max %.3f ms\n", rtt[25], rtt[49]);
  assert_true(rtt[25] < 10.0);
  close(fd);
}

static void test_delay_100ms_round_trip(void **state) {
  fixture *f = *state;
  assert_int_equal(ctl_ok(&f->relay, "/delay?ms=100", "delay_ms"), 100);
  int fd = connect_to(f->relay.listen_port);
  assert_true(fd >= 0);
  for (int i = 0; i < 3; i++) {
    double rtt = echo_rtt_ms(fd, "hello");
    printf("delay 100: round trip %.2f ms\n", rtt);
    assert_true(rtt >= 200.0);
    assert_true(rtt < 300.0);
  }
  close(fd);
}

/* One-way accuracy: the test owns both ends (the upstream is its own listener), so one clock
 * times each direction separately. */
static void test_delay_50ms_one_way_accuracy(void **state) {
  fixture *f = *state;
  enum { N = 21 };
  int port, lfd = listen_any(&port);
  assert_true(lfd >= 0);
  const char *const args[] = {"--delay-ms", "50", NULL};
  assert_int_equal(relay_start(&f->extra, port, args), 0);
  int cfd = connect_to(f->extra.listen_port);
  assert_true(cfd >= 0);
  struct pollfd p = {lfd, POLLIN};
  assert_int_equal(poll(&p, 1, IO_TIMEOUT_MS), 1);
  int sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  assert_true(sfd >= 0);
  double d[2][N];
  char b[8];
  for (int i = 0; i < N; i++) {
    for (int dir = 0; dir < 2; dir++) {
      int from = dir == 0 ? cfd : sfd, to = dir == 0 ? sfd : cfd;
      double t0 = mono_ms();
      send_all(from, "12345678", 8);
      assert_int_equal(read_exact(to, b, 8, IO_TIMEOUT_MS), 8);
      d[dir][i] = mono_ms() - t0;
    }
  }
  for (int dir = 0; dir < 2; dir++) {
    qsort(d[dir], N, sizeof d[dir][0], cmp_double);
    printf("delay 50 %s one-way: min %.3f median %.3f max %.3f ms\n", dir ? "down" : "up",
           d[dir][0], d[dir][N / 2], d[dir][N - 1]);
    assert_true(d[dir][0] >= 50.0); /* never early */
    assert_true(d[dir][N / 2] <= 55.0); /* accurate to a few ms */
  }
  close(cfd);
  close(sfd);
  close(lfd);
}

static uint64_t fnv1a(const char *p, size_t n) {
  uint64_t h = UINT64_C(14695981039346656037);
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * UINT64_C(1099511628211);
  return h;
}

static void test_jitter_keeps_byte_order(void **state) {
  fixture *f = *state;
  enum { LEN = 1 << 20 };
  assert_int_equal(ctl_ok(&f->relay, "/delay?ms=5&jitter=20", "jitter_ms"), 20);
  char *out = malloc(LEN), *in = calloc(1, LEN);
  assert_non_null(out);
  assert_non_null(in);
  uint64_t x = 88172645463325252u;
  for (size_t i = 0; i < LEN; i++) { /* position-dependent bytes: any reordering shows */
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    out[i] = (char)x;
  }
  int fd = connect_to(f->relay.listen_port);
  assert_true(fd >= 0);
  assert_int_equal(xfer(fd, out, in, LEN, 1000, 30000), 0); /* 1000 B writes: many chunks */
  assert_true(fnv1a(in, LEN) == fnv1a(out, LEN));
  assert_memory_equal(in, out, LEN);
  close(fd);
  free(out);
  free(in);
}

static void small_writes(const relay_proc *r, const char *label) {
  enum { N = 10000, SZ = 16 };
  char *out = malloc(N * SZ), *in = calloc(1, N * SZ);
  assert_non_null(out);
  assert_non_null(in);
  for (int i = 0; i < N; i++) { /* numbered records: a lost, doubled or moved one shows */
    char rec[SZ + 1];
    snprintf(rec, sizeof rec, "msg%012d\n", i);
    memcpy(out + i * SZ, rec, SZ);
  }
  int fd = connect_to(r->listen_port);
  assert_true(fd >= 0);
  double t0 = mono_ms();
  assert_int_equal(xfer(fd, out, in, N * SZ, SZ, 30000), 0);
  double ms = mono_ms() - t0;
  printf("%s: %d x %d B echoed in %.1f ms (%.0f msg/s each way)\n", label, N, SZ, ms, N / (ms / 1000));
  assert_memory_equal(in, out, N * SZ);
  assert_true(ms < 10000);
  close(fd);
  free(out);
  free(in);
}

static void test_many_small_writes(void **state) {
  fixture *f = *state;
  small_writes(&f->relay, "delay 0");
  ctl_ok(&f->relay, "/delay?ms=50&jitter=5", NULL);
  small_writes(&f->relay, "delay 50 jitter 5");
}

static void test_rate_cap(void **state) {
  fixture *f = *state;
  enum { LEN = 25000 };
  assert_int_equal(ctl_ok(&f->relay, "/rate?kbps=400", "rate_kbps"), 400); /* 50 kB/s */
  char out[LEN], in[LEN];
  memset(out, 'r', LEN);
  int fd = connect_to(f->relay.listen_port);
  assert_true(fd >= 0);
  double t0 = mono_ms();
  assert_int_equal(xfer(fd, out, in, LEN, 1000, 10000), 0);
  double ms = mono_ms() - t0;
  printf("rate 400 kbps: %d B echoed in %.0f ms\n", LEN, ms);
  assert_true(ms >= 480.0);
  assert_true(ms < 900.0); /* both directions pipelined, not store-and-forward */
  close(fd);
}

/* Backpressure: behind a destination that does not read, the relay must stop reading its
 * source, so the writer stalls after about its limit plus kernel buffers; then everything
 * written must still arrive once the destination reads. */
static void test_backpressure_bounds_buffering(void **state) {
  fixture *f = *state;
  const size_t cap = (size_t)128 << 20, block = 65536;
  int port, lfd = listen_any(&port);
  assert_true(lfd >= 0);
  assert_int_equal(relay_start(&f->extra, port, NULL), 0);
  int cfd = connect_to(f->extra.listen_port);
  assert_true(cfd >= 0);
  struct pollfd p = {lfd, POLLIN};
  assert_int_equal(poll(&p, 1, IO_TIMEOUT_MS), 1);
  int sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  assert_true(sfd >= 0);
  char *buf = calloc(1, block);
  assert_non_null(buf);
  size_t written = 0;
  while (written < cap) {
    ssize_t w = write(cfd, buf, block);
    if (w > 0) {
      written += (size_t)w;
      continue;
    }
    assert_int_equal(errno, EAGAIN);
    struct pollfd q = {cfd, POLLOUT};
    if (poll(&q, 1, 300) == 0) break; /* stalled: the relay stopped reading */
  }
  printf("backpressure: writer stalled after %.1f MiB\n", (double)written / (1 << 20));
  assert_true(written < ((size_t)48 << 20));
  size_t got = 0;
  double deadline = mono_ms() + 20000;
  while (got < written && mono_ms() < deadline) {
    ssize_t n = read_some(sfd, buf, block, 1000);
    assert_true(n > 0);
    got += (size_t)n;
  }
  assert_int_equal(got, written);
  free(buf);
  close(cfd);
  close(sfd);
  close(lfd);
}

static void test_cut_and_restore(void **state) {
  fixture *f = *state;
  char b[64];
  int fd = connect_to(f->relay.listen_port);
  assert_true(fd >= 0);
  echo_rtt_ms(fd, "before");
  long code;
  cJSON *j = ctl(&f->relay, "/cut", true, &code); /* POST works like GET */
  assert_int_equal(code, 200);
  cJSON_Delete(j);
  assert_string_equal(stats_mode(&f->relay), "cut");
  send_all(fd, "lost", 4);
  assert_int_equal(read_some(fd, b, sizeof b, 300), -ETIMEDOUT);
  int held = connect_to(f->relay.listen_port); /* accepted, then held */
  assert_true(held >= 0);
  send_all(held, "lost too", 8);
  assert_int_equal(read_some(held, b, sizeof b, 200), -ETIMEDOUT);
  assert_true(ctl_ok(&f->relay, "/stats", "bytes_dropped") >= 12);
  assert_int_equal(ctl_ok(&f->relay, "/stats", "active"), 2);
  ctl_ok(&f->relay, "/restore", NULL);
  assert_string_equal(stats_mode(&f->relay), "pass");
  echo_rtt_ms(fd, "after"); /* only the new bytes come back: the cut dropped "lost" */
  echo_rtt_ms(held, "held conn");
  close(fd);
  close(held);
}

static void test_refuse_and_restore(void **state) {
  fixture *f = *state;
  char b[16];
  int fd = connect_to(f->relay.listen_port);
  assert_true(fd >= 0);
  echo_rtt_ms(fd, "x");
  ctl_ok(&f->relay, "/refuse", NULL);
  assert_string_equal(stats_mode(&f->relay), "refuse");
  ssize_t n = read_some(fd, b, sizeof b, 1000);
  assert_true(n == 0 || n == -ECONNRESET);
  assert_int_equal(connect_to(f->relay.listen_port), -ECONNREFUSED);
  ctl_ok(&f->relay, "/restore", NULL);
  int fd2 = connect_to(f->relay.listen_port); /* the same port again */
  assert_true(fd2 >= 0);
  echo_rtt_ms(fd2, "back");
  close(fd);
  close(fd2);
}

static void test_reset_closes_connections(void **state) {
  fixture *f = *state;
  char b[16];
  int fd = connect_to(f->relay.listen_port);
  assert_true(fd >= 0);
  echo_rtt_ms(fd, "x");
  assert_int_equal(ctl_ok(&f->relay, "/reset", "active"), 0);
  ssize_t n = read_some(fd, b, sizeof b, 1000);
  assert_true(n == 0 || n == -ECONNRESET);
  int fd2 = connect_to(f->relay.listen_port); /* still listening */
  assert_true(fd2 >= 0);
  echo_rtt_ms(fd2, "y");
  assert_int_equal(ctl_ok(&f->relay, "/stats", "connections_total"), 2);
  close(fd);
  close(fd2);
}

static void test_half_close_is_forwarded(void **state) {
  fixture *f = *state;
  char b[16];
  ctl_ok(&f->relay, "/delay?ms=20", NULL);
  int fd = connect_to(f->relay.listen_port);
  assert_true(fd >= 0);
  send_all(fd, "last words", 10);
  shutdown(fd, SHUT_WR); /* the FIN must follow the bytes, not overtake them */
  assert_int_equal(read_exact(fd, b, 10, IO_TIMEOUT_MS), 10);
  assert_memory_equal(b, "last words", 10);
  assert_int_equal(read_some(fd, b, sizeof b, IO_TIMEOUT_MS), 0);
  close(fd);
}

static void test_close_crosses_the_link_with_the_delay(void **state) {
  fixture *f = *state;
  char b[16];
  ctl_ok(&f->relay, "/delay?ms=150", NULL);
  int fd = connect_to(f->relay.listen_port);
  assert_true(fd >= 0);
  double t0 = mono_ms();
  shutdown(fd, SHUT_WR); /* nothing before it: the FIN alone must still take the delay */
  assert_int_equal(read_some(fd, b, sizeof b, IO_TIMEOUT_MS), 0);
  double took = mono_ms() - t0;
  /* There and back (the echo server closes on our FIN): two one-way delays, never less. */
  assert_true(took >= 300.0);
  assert_true(took < 300.0 + 1000.0);
  close(fd);
  ctl_ok(&f->relay, "/delay?ms=0", NULL);
}

static void test_stats_and_bad_requests(void **state) {
  fixture *f = *state;
  char out[1000], in[1000];
  memset(out, 's', sizeof out);
  int fd = connect_to(f->relay.listen_port);
  assert_true(fd >= 0);
  assert_int_equal(xfer(fd, out, in, sizeof out, 100, IO_TIMEOUT_MS), 0);
  assert_int_equal(ctl_ok(&f->relay, "/stats", "connections_total"), 1);
  assert_int_equal(ctl_ok(&f->relay, "/stats", "active"), 1);
  assert_int_equal(ctl_ok(&f->relay, "/stats", "bytes_up"), 1000);
  assert_int_equal(ctl_ok(&f->relay, "/stats", "bytes_down"), 1000);
  close(fd);
  double active = 1;
  for (int i = 0; i < 100 && active != 0; i++, sleep_ms(10)) active = ctl_ok(&f->relay, "/stats", "active");
  assert_int_equal(active, 0);
  static const struct {
    const char *path;
    long code;
  } bad[] = {{"/delay?ms=abc", 400}, {"/delay?ms=3600001", 400}, {"/delay?foo=1", 400},
             {"/rate", 400}, {"/cut?x=1", 400}, {"/nope", 404}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    long code;
    cJSON *j = ctl(&f->relay, bad[i].path, false, &code);
    assert_non_null(j);
    assert_int_equal(code, bad[i].code);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")));
    cJSON_Delete(j);
  }
  assert_int_equal(ctl_ok(&f->relay, "/delay", "delay_ms"), 0); /* a bad request changed nothing */
}

static void test_sigterm_exits_zero_quickly(void **state) {
  fixture *f = *state;
  int fd = connect_to(f->relay.listen_port); /* with a live connection and held bytes */
  assert_true(fd >= 0);
  ctl_ok(&f->relay, "/delay?ms=500", NULL);
  send_all(fd, "pending", 7);
  double t0 = mono_ms();
  assert_int_equal(relay_stop(&f->relay, 1000), 0);
  assert_true(mono_ms() - t0 < 1000.0);
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_echo_fast_without_delay, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delay_100ms_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delay_50ms_one_way_accuracy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_jitter_keeps_byte_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_small_writes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rate_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_backpressure_bounds_buffering, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cut_and_restore, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refuse_and_restore, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reset_closes_connections, setup, teardown),
      cmocka_unit_test_setup_teardown(test_half_close_is_forwarded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_crosses_the_link_with_the_delay, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stats_and_bad_requests, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sigterm_exits_zero_quickly, setup, teardown),
  };
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return failed;
}
