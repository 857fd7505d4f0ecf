/* it_flaky_service.c: runs the flaky_service binary (FLAKY_BIN) as a child process and checks
 * every mode, the control API and the HTTP edge cases over real loopback sockets. Each test
 * gets a fresh child; teardown stops it with SIGTERM and fails the test unless it exits 0,
 * so a crash or (under ASan) a leak in any scenario shows up. Standalone: no harness.c. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#ifndef FLAKY_BIN
#error "FLAKY_BIN must name the flaky_service binary"
#endif

typedef struct {
  pid_t pid;
  int port, control;
} child;

typedef struct {
  CURLcode rc;
  long code, connects;
  int64_t ms;
  size_t len;
  char body[8192];
} resp;

static child kid;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the child process ---- */

/* read_ready: reads the ready line from fd within timeout_ms; 0 or -1. */
static int read_ready(int fd, child *c, int timeout_ms) {
  char line[256];
  size_t len = 0;
  int64_t deadline = now_ms() + timeout_ms;
  while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int64_t left = deadline - now_ms();
    if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) return -1;
    ssize_t n = read(fd, line + len, sizeof line - 1 - len);
    if (n <= 0) return -1;
    len += (size_t)n;
  }
  line[len] = '\0';
  return sscanf(line, "ready port=%d control=%d", &c->port, &c->control) == 2 ? 0 : -1;
}

static int stop_child(child *c, int sig, int timeout_ms, int *status) {
  if (c->pid <= 0) return -1;
  kill(c->pid, sig);
  int64_t deadline = now_ms() + timeout_ms;
  while (now_ms() < deadline) {
    pid_t r = waitpid(c->pid, status, WNOHANG);
    if (r == c->pid) {
      c->pid = 0;
      return 0;
    }
    usleep(5000);
  }
  kill(c->pid, SIGKILL);
  waitpid(c->pid, status, 0);
  c->pid = 0;
  return -1;
}

static int start_child(child *c, const char *mode) {
  int fds[2];
  pid_t parent = getpid();
  if (pipe(fds) != 0) return -1;
  c->pid = fork();
  if (c->pid < 0) return -1;
  if (c->pid == 0) { /* the child dies with us even if this test process crashes */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(FLAKY_BIN, FLAKY_BIN, "--port", "0", "--control-port", "0", "--mode", mode,
          (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  int r = read_ready(fds[0], c, 10000);
  close(fds[0]);
  if (r != 0) {
    int st;
    fprintf(stderr, "flaky_service did not print its ready line\n");
    stop_child(c, SIGKILL, 1000, &st);
  }
  return r;
}

static int setup(void **state) {
  (void)state;
  return start_child(&kid, "healthy");
}

static int teardown(void **state) {
  int st = 0;
  (void)state;
  if (kid.pid <= 0) return 0; /* the test stopped it itself */
  if (stop_child(&kid, SIGTERM, 3000, &st) != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "flaky_service did not exit 0 on SIGTERM (status 0x%x)\n", st);
    return -1;
  }
  return 0;
}

/* ---- HTTP through libcurl ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  resp *r = ud;
  size_t k = size * n, room = sizeof r->body - 1 - r->len;
  memcpy(r->body + r->len, p, k < room ? k : room);
  r->len += k < room ? k : room;
  r->body[r->len] = '\0';
  return size * n;
}

/* perform: one request on h (which the caller owns and may reuse for keep-alive). */
static resp perform(CURL *h, int port, const char *method, const char *path, long timeout_ms) {
  resp r;
  char url[512];
  memset(&r, 0, sizeof r);
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_PROXY, "");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
  int64_t t0 = now_ms();
  r.rc = curl_easy_perform(h);
  r.ms = now_ms() - t0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.code);
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r.connects);
  return r;
}

static resp svc_get(const char *path, long timeout_ms) {
  CURL *h = curl_easy_init();
  assert_non_null(h);
  resp r = perform(h, kid.port, "GET", path, timeout_ms);
  curl_easy_cleanup(h);
  return r;
}

/* ctl: a control request expected to answer `code` with JSON; caller frees the result. */
static cJSON *ctl(const char *method, const char *path, long code) {
  CURL *h = curl_easy_init();
  assert_non_null(h);
  resp r = perform(h, kid.control, method, path, 3000);
  curl_easy_cleanup(h);
  assert_int_equal(r.rc, CURLE_OK);
  if (r.code != code) fprintf(stderr, "%s %s -> %ld %s\n", method, path, r.code, r.body);
  assert_int_equal(r.code, code);
  cJSON *j = cJSON_Parse(r.body);
  assert_non_null(j);
  return j;
}

static double num(const cJSON *j, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  assert_true(cJSON_IsNumber(v));
  return v->valuedouble;
}

static void set_mode(const char *path, const char *want_mode) {
  cJSON *j = ctl("POST", path, 200);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "mode");
  assert_true(cJSON_IsString(m));
  assert_string_equal(m->valuestring, want_mode);
  assert_true(num(j, "changed_at_ms") > 1.6e12); /* wall clock ms, not monotonic */
  cJSON_Delete(j);
}

/* ---- raw sockets, for what curl will not send ---- */

static int raw_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_true(fd >= 0);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

static void send_all(int fd, const char *p, size_t n, size_t chunk) {
  for (size_t off = 0; off < n;) {
    size_t k = n - off < chunk ? n - off : chunk;
    ssize_t w = send(fd, p + off, k, MSG_NOSIGNAL);
    assert_true(w > 0);
    off += (size_t)w;
    if (chunk < n) usleep(1000); /* let the server see partial reads */
  }
}

/* read_until_eof: reads into out until the peer closes; returns bytes, or -1 on timeout. */
static ssize_t read_until_eof(int fd, char *out, size_t cap, int timeout_ms) {
  size_t len = 0;
  int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int64_t left = deadline - now_ms();
    if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) return -1;
    ssize_t n = recv(fd, out + len, cap - 1 - len, 0);
    if (n < 0 && errno == ECONNRESET) n = 0;
    if (n <= 0) break;
    len += (size_t)n;
    if (len == cap - 1) break;
  }
  out[len] = '\0';
  return (ssize_t)len;
}

static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

/* exchange: sends req (in pieces of chunk bytes) on a new connection, reads until close. */
static ssize_t exchange(const char *req, size_t len, size_t chunk, char *out, size_t cap) {
  int fd = raw_connect(kid.port);
  send_all(fd, req, len, chunk);
  ssize_t n = read_until_eof(fd, out, cap, 3000);
  close(fd);
  return n;
}

/* ---- tests ---- */

static void test_healthy(void **state) {
  (void)state;
  resp r = svc_get("/health", 3000);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.code, 200);
  assert_string_equal(r.body, "ok\n");
}

static void test_keepalive(void **state) {
  (void)state;
  CURL *h = curl_easy_init();
  assert_non_null(h);
  for (int i = 0; i < 5; i++) {
    resp r = perform(h, kid.port, "GET", "/ka", 3000);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.body, "ok\n");
    assert_int_equal(r.connects, i == 0 ? 1 : 0);
  }
  curl_easy_cleanup(h);
  cJSON *j = ctl("GET", "/stats", 200);
  assert_int_equal((int)num(j, "connections_total"), 1);
  assert_int_equal((int)num(j, "requests_total"), 5);
  assert_int_equal((int)num(cJSON_GetObjectItemCaseSensitive(j, "paths"), "/ka"), 5);
  cJSON_Delete(j);
}

static void test_error(void **state) {
  (void)state;
  set_mode("/mode/error", "error");
  resp r = svc_get("/", 3000);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.code, 500);
  assert_string_equal(r.body, "error\n");
}

static void test_status(void **state) {
  (void)state;
  set_mode("/mode/status?code=503", "status");
  cJSON *j = ctl("GET", "/mode", 200);
  assert_int_equal((int)num(j, "code"), 503);
  cJSON_Delete(j);
  resp r = svc_get("/", 3000);
  assert_int_equal(r.code, 503);
  assert_string_equal(r.body, "status\n");
  set_mode("/mode/status?code=404", "status");
  assert_int_equal(svc_get("/", 3000).code, 404);
}

static void test_slow(void **state) {
  (void)state;
  cJSON *j = ctl("GET", "/mode/slow?ms=300", 200);
  assert_int_equal((int)num(j, "ms"), 300);
  cJSON_Delete(j);
  resp r = svc_get("/", 3000);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.code, 200);
  assert_true(r.ms >= 300);
  assert_true(r.ms < 2000);
}

static void test_hang(void **state) {
  char buf[64];
  (void)state;
  set_mode("/mode/hang", "hang");
  resp r = svc_get("/", 300);
  assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
  assert_true(r.ms >= 250); /* curl's own timer may fire a hair before ours reads 300 */
  /* the connection stays open: no answer and no close within half a second */
  int fd = raw_connect(kid.port);
  send_all(fd, "GET /h HTTP/1.1\r\nHost: x\r\n\r\n", 28, 1024);
  assert_int_equal(read_until_eof(fd, buf, sizeof buf, 500), -1);
  close(fd);
  cJSON *j = ctl("GET", "/stats", 200);
  assert_int_equal((int)num(j, "requests_total"), 2); /* both heads were read */
  cJSON_Delete(j);
  set_mode("/mode/healthy", "healthy");
  assert_int_equal(svc_get("/", 3000).code, 200);
}

static void test_close(void **state) {
  (void)state;
  set_mode("/mode/close", "close");
  resp r = svc_get("/", 3000);
  assert_int_equal(r.rc, CURLE_PARTIAL_FILE);
  assert_int_equal(r.len, 5);
}

static void test_down(void **state) {
  char buf[64];
  (void)state;
  int fd = raw_connect(kid.port); /* an open connection, closed by going down */
  set_mode("/mode/down", "down");
  assert_true(read_until_eof(fd, buf, sizeof buf, 2000) == 0);
  close(fd);
  resp r = svc_get("/", 3000);
  assert_int_equal(r.rc, CURLE_COULDNT_CONNECT);
  set_mode("/mode/down", "down"); /* twice is harmless */
  set_mode("/mode/healthy", "healthy");
  r = svc_get("/", 3000); /* same port as before */
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.code, 200);
}

static void test_ramp(void **state) {
  int64_t ms[3];
  (void)state;
  set_mode("/mode/ramp?start=100&step=150", "ramp");
  for (int i = 0; i < 3; i++) {
    resp r = svc_get("/", 5000);
    assert_int_equal(r.code, 200);
    ms[i] = r.ms;
  }
  assert_true(ms[0] >= 100);
  assert_true(ms[1] - ms[0] >= 100);
  assert_true(ms[2] - ms[1] >= 100);
  assert_true(ms[2] < 2000);
}

static void test_stats(void **state) {
  const char *paths[] = {"/health", "/warm", "/health?x=1", "/warm", "/health"};
  char path[32];
  (void)state;
  for (int i = 0; i < 5; i++) assert_int_equal(svc_get(paths[i], 3000).code, 200);
  cJSON *j = ctl("GET", "/stats", 200);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "paths");
  assert_int_equal((int)num(j, "requests_total"), 5);
  assert_int_equal((int)num(j, "connections_total"), 5);
  assert_int_equal((int)num(p, "/health"), 3);
  assert_int_equal((int)num(p, "/warm"), 2);
  assert_int_equal(cJSON_GetArraySize(p), 2);
  cJSON_Delete(j);
  j = ctl("POST", "/stats/reset", 200);
  assert_int_equal((int)num(j, "requests_total"), 0);
  cJSON_Delete(j);
  /* 70 distinct paths: 64 are named, the rest counted under "other" */
  CURL *h = curl_easy_init();
  for (int i = 0; i < 70; i++) {
    snprintf(path, sizeof path, "/p%d", i);
    assert_int_equal(perform(h, kid.port, "GET", path, 3000).code, 200);
  }
  curl_easy_cleanup(h);
  j = ctl("GET", "/stats", 200);
  p = cJSON_GetObjectItemCaseSensitive(j, "paths");
  assert_int_equal((int)num(j, "requests_total"), 70);
  assert_int_equal(cJSON_GetArraySize(p), 65);
  assert_int_equal((int)num(p, "other"), 6);
  cJSON_Delete(j);
}

static void test_bad_mode(void **state) {
  const char *bad[] = {"/mode/bogus",          "/mode/slow",          "/mode/slow?ms=abc",
                       "/mode/slow?msec=10",   "/mode/status?code=99", "/mode/healthy?x=1",
                       "/mode/ramp?start=10",  "/mode/slow?ms=99999999999"};
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *j = ctl("GET", bad[i], 400);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")));
    cJSON_Delete(j);
  }
  cJSON *j = ctl("GET", "/mode", 200);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "mode")->valuestring, "healthy");
  cJSON_Delete(j);
  cJSON_Delete(ctl("GET", "/nope", 404));
  cJSON_Delete(ctl("DELETE", "/mode", 405));
}

static void test_raw_http(void **state) {
  static char out[65536], big[20000];
  const char pipelined[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                           "HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n"
                           "POST /d HTTP/1.1\r\nContent-Length: 19\r\n\r\nGET /x HTTP/1.1\r\n\r\n"
                           "GET /e HTTP/1.1\r\nConnection: close\r\n\r\n";
  const char bytewise[] = "GET /slowly HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const char http10[] = "GET /old HTTP/1.0\r\n\r\n";
  (void)state;
  assert_true(exchange(pipelined, strlen(pipelined), 4096, out, sizeof out) > 0);
  assert_int_equal(count_of(out, "HTTP/1.1 200 OK"), 5);
  assert_int_equal(count_of(out, "\r\n\r\nok\n"), 4); /* HEAD has no body */
  assert_true(exchange(bytewise, strlen(bytewise), 1, out, sizeof out) > 0);
  assert_int_equal(count_of(out, "HTTP/1.1 200 OK"), 1);
  assert_true(exchange(http10, strlen(http10), 4096, out, sizeof out) > 0); /* closes */
  assert_int_equal(count_of(out, "HTTP/1.1 200 OK"), 1);
  /* a few KB of headers parse; over 16 KiB is 431; garbage is 400 */
  int n = snprintf(big, sizeof big, "GET /big HTTP/1.1\r\nX-Fill: %04000d\r\nConnection: close\r\n\r\n", 0);
  assert_true(exchange(big, (size_t)n, 4096, out, sizeof out) > 0);
  assert_int_equal(count_of(out, "HTTP/1.1 200 OK"), 1);
  n = snprintf(big, sizeof big, "GET /huge HTTP/1.1\r\nX-Fill: %017000d\r\n\r\n", 0);
  assert_true(exchange(big, (size_t)n, 4096, out, sizeof out) > 0);
  assert_int_equal(count_of(out, "HTTP/1.1 431 "), 1);
  assert_true(exchange("\x01\xff garbage\r\n\r\n", 14, 4096, out, sizeof out) > 0);
  assert_int_equal(count_of(out, "HTTP/1.1 400 "), 1);
  assert_true(exchange("GET / HTTP/1.1\r\nno colon\r\n\r\n", 28, 4096, out, sizeof out) > 0);
  assert_int_equal(count_of(out, "HTTP/1.1 400 "), 1);
  cJSON *j = ctl("GET", "/stats", 200);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "paths");
  assert_int_equal((int)num(j, "requests_total"), 8); /* malformed ones are not counted */
  assert_int_equal((int)num(p, "/d"), 1);
  assert_int_equal((int)num(p, "/e"), 1);
  assert_null(cJSON_GetObjectItemCaseSensitive(p, "/x")); /* /d's body was skipped, not parsed */
  cJSON_Delete(j);
}

static void test_sigterm(void **state) {
  int st = 0;
  (void)state;
  set_mode("/mode/hang", "hang");
  int fd = raw_connect(kid.port); /* open connections must not delay or leak the exit */
  send_all(fd, "GET / HTTP/1.1\r\n\r\n", 18, 1024);
  usleep(50000);
  int64_t t0 = now_ms();
  assert_int_equal(stop_child(&kid, SIGTERM, 2000, &st), 0);
  assert_true(now_ms() - t0 < 1000);
  close(fd);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void) {
  if (access(FLAKY_BIN, X_OK) != 0) {
    fprintf(stderr, "skip: %s is not built\n", FLAKY_BIN);
    return 77;
  }
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_healthy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_status, setup, teardown),
      cmocka_unit_test_setup_teardown(test_slow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hang, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_down, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ramp, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_mode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_raw_http, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sigterm, setup, teardown),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return failed ? 1 : 0;
}
