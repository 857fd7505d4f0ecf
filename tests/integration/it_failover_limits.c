/* it_failover_limits.c: the failover proxy's bounds with real sockets: backpressure both ways (a
 * side that does not read stops the proxy reading the other side: the sender blocks and the node's
 * memory stays flat; then every byte arrives intact), the connect timeout (an endpoint that never
 * answers SYN: the next endpoint answers, the first one's breaker hears of it), connects pending
 * when their endpoint's breaker opens (moved to a closed one; kept when none is), and the idle
 * timeout. Backends are sockets this test owns; the backup in the connect test is flaky_service. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "it_sock.h"

#define TAG "MEDICTAG"
#define TOTAL (96u << 20)       /* bytes pushed through in a backpressure test */
#define RSS_BOUND_KIB (16 << 10) /* the node may grow this much while a side does not read */
#define SMALL_BUF (64 << 10)     /* the test's own socket buffers: small, so the proxy's show */

static void start_node(it_node *n, const char *service_json)
{
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"it\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},\"status_print_interval_ms\":0,"
             "\"services\":[%s]}",
             service_json);
    if (it_node_start(n, cfg, NULL) != 0)
        fail_msg("node did not start");
}

/* raw_service: a TCP service whose one endpoint is host:backend_port, probed once a minute
 * (probes connect and close: it_accept_tagged skips them). */
static void raw_service(char *out, size_t cap, const char *host, int backend_port, int proxy_port, int idle_ms)
{
    snprintf(out, cap,
             "{\"name\":\"raw\",\"endpoints\":[\"%s:%d\"],\"interval_ms\":60000,\"retry_interval_ms\":60000,"
             "\"timeout_ms\":1000,\"trend_horizon_ms\":0,"
             "\"proxy\":{\"listen\":\"127.0.0.1:%d\",\"idle_timeout_ms\":%d}}",
             host, backend_port, proxy_port, idle_ms);
}

/* web_service: the HTTP service "web" with a primary and a backup on 127.0.0.1, probed once a
 * minute (so only the proxy's attempts move the breakers), breaker as given (a JSON object) and
 * proxy_extra appended to the proxy's object (",\"connect_timeout_ms\":N" or ""). */
static void web_service(char *out, size_t cap, int primary_port, int backup_port, int proxy_port,
                        const char *breaker, const char *proxy_extra)
{
    snprintf(out, cap,
             "{\"name\":\"web\",\"endpoints\":[\"http://127.0.0.1:%d/health\",\"http://127.0.0.1:%d/health\"],"
             "\"interval_ms\":60000,\"retry_interval_ms\":60000,\"timeout_ms\":1000,\"trend_horizon_ms\":0,"
             "\"breaker\":%s,\"proxy\":{\"listen\":\"127.0.0.1:%d\"%s}}",
             primary_port, backup_port, breaker, proxy_port, proxy_extra);
}

static uint8_t pattern(uint64_t i)
{
    return (uint8_t)((i % 251) ^ (i >> 16));
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* send_more writes the pattern from *sent on, as much as src takes now. Returns the bytes
 * written (0 when it would block). */
static size_t send_more(int src, uint64_t *sent, uint64_t total)
{
    static uint8_t buf[65536];
    size_t n = total - *sent < sizeof buf ? (size_t)(total - *sent) : sizeof buf;
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern(*sent + i);
    ssize_t w = write(src, buf, n);
    if (w < 0) {
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        return 0;
    }
    *sent += (uint64_t)w;
    return (size_t)w;
}

/* fill_until_stall sends until src makes no progress for 1 s (true) or all of total went (false:
 * nothing held the sender back). */
static bool fill_until_stall(int src, uint64_t *sent, uint64_t total)
{
    while (*sent < total) {
        if (send_more(src, sent, total) > 0)
            continue;
        struct pollfd p = {.fd = src, .events = POLLOUT};
        if (poll(&p, 1, 1000) == 0)
            return true;
    }
    return false;
}

/* drain_and_check: dst reads and checks every byte while src sends the rest of total and then
 * shuts its side down; returns the bytes dst got before the end of stream (-1 on a wrong byte). */
static int64_t drain_and_check(int src, int dst, uint64_t sent, uint64_t total)
{
    static uint8_t buf[65536];
    uint64_t got = 0;
    bool shut = false;
    int64_t end = it_wall_ms() + 90000;
    while (it_wall_ms() < end) {
        if (sent == total && !shut) {
            shutdown(src, SHUT_WR);
            shut = true;
        }
        struct pollfd p[2] = {{.fd = dst, .events = POLLIN}, {.fd = src, .events = shut ? 0 : POLLOUT}};
        if (poll(p, 2, 1000) <= 0)
            continue;
        if (p[1].revents & POLLOUT)
            send_more(src, &sent, total);
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(dst, buf, sizeof buf);
            if (r == 0)
                return (int64_t)got;
            if (r < 0) {
                assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
                continue;
            }
            for (ssize_t i = 0; i < r; i++)
                if (buf[i] != pattern(got + (uint64_t)i)) {
                    print_message("byte %llu differs\n", (unsigned long long)(got + (uint64_t)i));
                    return -1;
                }
            got += (uint64_t)r;
        }
    }
    fail_msg("the stream did not end within 90 s (%llu of %llu bytes)", (unsigned long long)got,
             (unsigned long long)total);
    return -1;
}

/* backpressure runs one direction: client_sends, or the backend sends to a client that does not
 * read. */
static void backpressure(bool client_sends)
{
    it_node node;
    int bport = 0, pport = md_free_port();
    int l = it_listen("127.0.0.1", 0, 64, SMALL_BUF, &bport);
    assert_true(l >= 0 && pport > 0);
    char svc[1024];
    raw_service(svc, sizeof svc, "127.0.0.1", bport, pport, 60000);
    start_node(&node, svc);
    int client = it_connect("127.0.0.1", pport, SMALL_BUF, SMALL_BUF);
    assert_true(client >= 0);
    assert_int_equal(write(client, TAG, strlen(TAG)), (ssize_t)strlen(TAG));
    int backend = it_accept_tagged(l, TAG, 10000);
    assert_true(backend >= 0);
    set_nonblock(client);
    set_nonblock(backend);
    int src = client_sends ? client : backend, dst = client_sends ? backend : client;

    long rss0 = it_rss_kib(node.proc.pid);
    uint64_t sent = 0;
    bool stalled = fill_until_stall(src, &sent, TOTAL);
    long rss1 = it_rss_kib(node.proc.pid);
    print_message("%s: %s after %llu bytes; node RSS %ld -> %ld KiB\n",
                  client_sends ? "client -> backend" : "backend -> client",
                  stalled ? "the sender blocked" : "the sender never blocked", (unsigned long long)sent, rss0, rss1);
    /* Paused, the proxy holds at most a write queue's worth; without the pause it would read
     * everything into memory and the sender would never block. */
    assert_true(stalled);
    assert_true(rss0 > 0 && rss1 > 0);
    assert_true(rss1 - rss0 < RSS_BOUND_KIB);

    int64_t got = drain_and_check(src, dst, sent, TOTAL);
    print_message("then %lld of %u bytes arrived intact\n", (long long)got, TOTAL);
    assert_int_equal(got, (int64_t)TOTAL);
    close(client);
    close(backend);
    close(l);
    it_node_stop(&node, SIGTERM, 5000, NULL, NULL);
}

static void test_backpressure_backend_not_reading(void **state)
{
    (void)state;
    backpressure(true);
}

static void test_backpressure_client_not_reading(void **state)
{
    (void)state;
    backpressure(false);
}

/* http_get sends one GET through the proxy; returns 1 for a 200 within timeout_ms (*ms: how long). */
static int http_get(int port, int timeout_ms, int64_t *ms)
{
    int64_t t0 = it_wall_ms();
    int ok = 0, fd = it_connect("127.0.0.1", port, 0, 0);
    static const char req[] = "GET /x HTTP/1.0\r\n\r\n";
    char buf[512];
    if (fd >= 0 && write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) &&
        it_read_all(fd, buf, sizeof buf, timeout_ms) > 0)
        ok = strncmp(buf, "HTTP/1.1 200", 12) == 0 || strncmp(buf, "HTTP/1.0 200", 12) == 0;
    if (fd >= 0)
        close(fd);
    *ms = it_wall_ms() - t0;
    return ok;
}

/* traffic_count: endpoint i's proxied attempts, "ok" or "failed" (/v1/resolve). */
/* resolve_endpoint: endpoint i of /v1/resolve/web; *doc (the caller frees it) owns the result. */
static cJSON *resolve_endpoint(it_node *n, int i, cJSON **doc)
{
    long code = 0;
    *doc = it_get_json(n->api_port, "/v1/resolve/web", &code);
    assert_non_null(*doc);
    cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(*doc, "endpoints"), i);
    assert_non_null(e);
    return e;
}

static double traffic_count(it_node *n, int i, const char *key)
{
    cJSON *d;
    cJSON *e = resolve_endpoint(n, i, &d);
    double v = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "traffic"), key)->valuedouble;
    cJSON_Delete(d);
    return v;
}

#define CONNECT_TIMEOUT_MS 300

static void test_connect_timeout_next_endpoint(void **state)
{
    (void)state;
    int hole_port = 0, fill[8], n_fill = 0;
    int hole = it_blackhole(&hole_port, fill, 8, &n_fill);
    assert_true(hole >= 0);
    it_flaky backup;
    assert_int_equal(it_flaky_start(&backup), 0);
    it_node node;
    int pport = md_free_port();
    char svc[1024];
    /* Probes once a minute and 5 failures to open: only the proxy's attempts act here. */
    char extra[64];
    snprintf(extra, sizeof extra, ",\"connect_timeout_ms\":%d", CONNECT_TIMEOUT_MS);
    web_service(svc, sizeof svc, hole_port, backup.port, pport, "{\"failures\":5}", extra);
    start_node(&node, svc);
    for (int k = 0; k < 2; k++) {
        int64_t ms = 0;
        assert_int_equal(http_get(pport, 5000, &ms), 1);
        print_message("request %d through a primary that never answers SYN: %lld ms\n", k, (long long)ms);
        assert_true(ms >= CONNECT_TIMEOUT_MS - 20);
        assert_true(ms < CONNECT_TIMEOUT_MS + 2000);
    }
    /* Both attempts on the primary counted against it, as traffic. */
    int64_t end = it_wall_ms() + 5000;
    while (traffic_count(&node, 0, "failed") < 2 && it_wall_ms() < end)
        it_sleep_ms(20);
    assert_true(traffic_count(&node, 0, "failed") >= 2);
    assert_true(traffic_count(&node, 1, "ok") >= 2);
    assert_true(it_service_number(&node, "web", "failover.proxy.retries") >= 2);
    assert_true(it_service_number(&node, "web", "failover.proxy.failed") == 0);
    it_node_stop(&node, SIGTERM, 5000, NULL, NULL);
    it_flaky_stop(&backup);
    for (int i = 0; i < n_fill; i++)
        close(fill[i]);
    close(hole);
}

typedef struct {
    int fd;
    int64_t t0, took;
    char buf[512];
    size_t n;
} pending;

static void send_get(pending *p, int port)
{
    static const char req[] = "GET /x HTTP/1.0\r\n\r\n";
    memset(p, 0, sizeof *p);
    p->took = -1;
    p->t0 = it_wall_ms();
    p->fd = it_connect("127.0.0.1", port, 0, 0);
    assert_true(p->fd >= 0);
    assert_int_equal(write(p->fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
}

/* finish reads every pending answer to its end (10 s at most); took is -1 for one that did not end. */
static void finish(pending *ps, int n)
{
    int64_t end = it_wall_ms() + 10000;
    int open = n;
    while (open > 0 && it_wall_ms() < end) {
        struct pollfd p[8];
        assert_true(n <= 8);
        for (int i = 0; i < n; i++)
            p[i] = (struct pollfd){.fd = ps[i].took < 0 ? ps[i].fd : -1, .events = POLLIN};
        if (poll(p, (nfds_t)n, 100) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(ps[i].fd, ps[i].buf + ps[i].n, sizeof ps[i].buf - 1 - ps[i].n);
            if (r > 0) {
                ps[i].n += (size_t)r;
                continue;
            }
            ps[i].took = it_wall_ms() - ps[i].t0;
            open--;
        }
    }
    for (int i = 0; i < n; i++)
        close(ps[i].fd);
}

/* Connections waiting on a connect to an endpoint whose breaker opens meanwhile move to the next
 * endpoint at once: they do not wait out their own connect timeout (nothing was delivered yet, so
 * moving them is safe). */
static void test_pending_connects_move_when_breaker_opens(void **state)
{
    (void)state;
    int hole_port = 0, fill[8], n_fill = 0;
    int hole = it_blackhole(&hole_port, fill, 8, &n_fill);
    assert_true(hole >= 0);
    it_flaky backup;
    assert_int_equal(it_flaky_start(&backup), 0);
    it_node node;
    int pport = md_free_port();
    char svc[1024];
    web_service(svc, sizeof svc, hole_port, backup.port, pport, "{\"failures\":2}", ",\"connect_timeout_ms\":2000");
    start_node(&node, svc);
    /* Two early connections whose timeouts (at 2.0 s and 2.15 s) open the breaker; four later ones
     * (at 1 s) would time out at 3 s on their own. */
    pending ps[6];
    send_get(&ps[0], pport);
    it_sleep_ms(150);
    send_get(&ps[1], pport);
    it_sleep_ms(850);
    for (int i = 2; i < 6; i++)
        send_get(&ps[i], pport);
    finish(ps, 6);
    for (int i = 0; i < 6; i++) {
        print_message("connection %d: %lld ms, %zu bytes\n", i, (long long)ps[i].took, ps[i].n);
        assert_true(ps[i].n > 12);
        assert_memory_equal(ps[i].buf + 9, "200", 3);
    }
    assert_true(ps[0].took >= 1950);
    for (int i = 2; i < 6; i++)
        assert_true(ps[i].took < 1700); /* about 1.15 s: moved when the breaker opened */
    it_node_stop(&node, SIGTERM, 5000, NULL, NULL);
    it_flaky_stop(&backup);
    for (int i = 0; i < n_fill; i++)
        close(fill[i]);
    close(hole);
}

/* serve_http_child forks a server on l that reads each request (300 ms at most) and answers 200;
 * the parent's copy of l is closed. Returns the pid (it_ident_stop stops it) or -1. */
static pid_t serve_http_child(int l)
{
    pid_t pid = fork();
    if (pid != 0) {
        if (pid > 0)
            close(l);
        return pid;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_IGN);
    static const char ans[] = "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nB";
    for (;;) {
        int fd = accept(l, NULL, NULL);
        if (fd < 0)
            continue;
        char req[512];
        size_t n = 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        while (n < sizeof req - 1 && poll(&p, 1, 300) == 1) {
            ssize_t r = read(fd, req + n, sizeof req - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        ssize_t w = write(fd, ans, sizeof ans - 1);
        (void)w;
        close(fd);
    }
}

/* endpoint_is: whether endpoint i's breaker (in /v1/resolve) is in state ("closed", "open", "half-open"). */
static bool endpoint_is(it_node *n, int i, const char *state)
{
    cJSON *d;
    cJSON *e = resolve_endpoint(n, i, &d);
    cJSON *b = cJSON_GetObjectItem(e, "breaker");
    cJSON *st = cJSON_IsObject(b) ? cJSON_GetObjectItem(b, "state") : b;
    bool is = cJSON_IsString(st) && strcmp(st->valuestring, state) == 0;
    cJSON_Delete(d);
    return is;
}

/* The other side of the move above: when the breaker of the endpoint a connection is connecting
 * to opens and every endpoint it has not tried rests too (a dead primary), the connection stays:
 * its connect may still complete. Seen in bench/failover_proxy on a loaded machine: the backup's
 * breaker opened on probe timeouts while connects to it were pending; they moved to the dead
 * primary, were refused there, and the clients got nothing. */
static void test_pending_connects_stay_when_nowhere_better(void **state)
{
    (void)state;
    int dead_port = md_free_port(); /* nothing listens: refused */
    int hole_port = 0, fill[8], n_fill = 0;
    int hole = it_blackhole(&hole_port, fill, 8, &n_fill);
    assert_true(hole >= 0);
    it_node node;
    int pport = md_free_port();
    char svc[1024];
    web_service(svc, sizeof svc, dead_port, hole_port, pport, "{\"failures\":2,\"open_ms\":60000,\"open_max_ms\":60000}",
                ",\"connect_timeout_ms\":8000");
    start_node(&node, svc);
    /* Two connections: refused by the primary (its breaker opens on traffic), then connecting
     * to the backup until their timeouts (8 s) open the backup's breaker too. */
    pending early[2];
    send_get(&early[0], pport);
    it_sleep_ms(150);
    send_get(&early[1], pport);
    int64_t end = it_wall_ms() + 5000;
    while (!endpoint_is(&node, 0, "open") && it_wall_ms() < end)
        it_sleep_ms(20);
    assert_true(endpoint_is(&node, 0, "open"));
    /* Four more, while the backup's breaker is still closed: they go to the backup and wait (its
     * accept queue is full, so their SYNs are dropped; the kernel sends them again 1, 3 and 7 s
     * later: the last one, about 1.5 s after the backup's breaker opens, connects, inside their
     * own 8 s connect timeout). */
    it_sleep_ms(2500);
    assert_true(endpoint_is(&node, 1, "closed"));
    pending ps[4];
    for (int i = 0; i < 4; i++)
        send_get(&ps[i], pport);
    end = it_wall_ms() + 12000;
    while (!endpoint_is(&node, 1, "open") && it_wall_ms() < end)
        it_sleep_ms(20);
    assert_true(endpoint_is(&node, 1, "open"));
    /* Only now does the backup answer: what was queued is dropped, then a real server runs. */
    int fl = fcntl(hole, F_GETFL);
    fcntl(hole, F_SETFL, fl | O_NONBLOCK);
    for (int fd; (fd = accept(hole, NULL, NULL)) >= 0;)
        close(fd);
    fcntl(hole, F_SETFL, fl);
    for (int i = 0; i < n_fill; i++)
        close(fill[i]);
    pid_t server = serve_http_child(hole);
    assert_true(server > 0);
    finish(ps, 4);
    for (int i = 0; i < 4; i++) {
        print_message("connection %d: %lld ms, %zu bytes\n", i, (long long)ps[i].took, ps[i].n);
        assert_true(ps[i].n > 12);
        assert_memory_equal(ps[i].buf + 9, "200", 3);
    }
    finish(early, 2); /* both failed: every endpoint failed them */
    it_node_stop(&node, SIGTERM, 5000, NULL, NULL);
    it_ident_stop(server);
}

/* A primary that accepts and closes at once, before the client said anything (what a primary
 * dying under SIGKILL does to the connections it had accepted): the proxy must not pass that end
 * of stream on, but try the backup, which answers the request the client sends a moment later. */
static void test_quiet_close_before_request_retried(void **state)
{
    (void)state;
    int cport = 0, l = it_listen("127.0.0.1", 0, 64, 0, &cport);
    assert_true(l >= 0);
    pid_t closer = it_ident_start(l, ""); /* answers nothing, closes */
    it_flaky backup;
    assert_int_equal(it_flaky_start(&backup), 0);
    it_node node;
    int pport = md_free_port();
    char svc[1024];
    web_service(svc, sizeof svc, cport, backup.port, pport, "{\"failures\":5}", "");
    start_node(&node, svc);
    for (int k = 0; k < 2; k++) {
        int fd = it_connect("127.0.0.1", pport, 0, 0);
        assert_true(fd >= 0);
        it_sleep_ms(200); /* the primary's end of stream reaches the proxy first */
        static const char req[] = "GET /x HTTP/1.0\r\n\r\n";
        char buf[512];
        ssize_t w = write(fd, req, sizeof req - 1);
        int n = it_read_all(fd, buf, sizeof buf, 3000);
        close(fd);
        print_message("request %d after the primary closed quietly: wrote %zd, got %d bytes\n", k, w, n);
        assert_true(n > 12);
        assert_memory_equal(buf, "HTTP/1.", 7);
        assert_memory_equal(buf + 9, "200", 3);
    }
    it_node_stop(&node, SIGTERM, 5000, NULL, NULL);
    it_flaky_stop(&backup);
    it_ident_stop(closer);
}

/* The same close long after connecting (past connect_timeout_ms), on a connection the client never
 * spoke on, is the server's own idle timeout: passed on to the client as a close, not retried and
 * not counted against the endpoint. */
static void test_late_quiet_close_passed_on(void **state)
{
    (void)state;
    int cport = 0, l = it_listen("127.0.0.1", 0, 64, 0, &cport);
    assert_true(l >= 0);
    pid_t closer = it_closer_start(l, 700);
    it_flaky backup;
    assert_int_equal(it_flaky_start(&backup), 0);
    it_node node;
    int pport = md_free_port();
    char svc[1024];
    snprintf(svc, sizeof svc,
             "{\"name\":\"raw\",\"endpoints\":[\"127.0.0.1:%d\",\"127.0.0.1:%d\"],"
             "\"interval_ms\":60000,\"retry_interval_ms\":60000,\"timeout_ms\":1000,\"trend_horizon_ms\":0,"
             "\"proxy\":{\"listen\":\"127.0.0.1:%d\",\"connect_timeout_ms\":200}}",
             cport, backup.port, pport);
    start_node(&node, svc);
    int fd = it_connect("127.0.0.1", pport, 0, 0);
    assert_true(fd >= 0);
    int64_t t0 = it_wall_ms();
    char buf[64];
    assert_int_equal(it_read_all(fd, buf, sizeof buf, 5000), 0); /* the end, from the primary */
    int64_t took = it_wall_ms() - t0;
    close(fd);
    print_message("a quiet connection closed by the primary after %lld ms reached the client as a close\n",
                  (long long)took);
    assert_true(took >= 600);
    /* Once the view shows the connection closed, it shows its retries too. */
    int64_t end = it_wall_ms() + 5000;
    while (it_service_number(&node, "raw", "failover.proxy.connections_active") != 0 && it_wall_ms() < end)
        it_sleep_ms(20);
    assert_true(it_service_number(&node, "raw", "failover.proxy.connections_total") >= 1);
    assert_true(it_service_number(&node, "raw", "failover.proxy.retries") == 0);
    it_node_stop(&node, SIGTERM, 5000, NULL, NULL);
    it_flaky_stop(&backup);
    it_ident_stop(closer);
}

#define IDLE_MS 600

static void test_idle_timeout(void **state)
{
    (void)state;
    it_node node;
    int bport = 0, pport = md_free_port();
    int l = it_listen("127.0.0.1", 0, 64, 0, &bport);
    assert_true(l >= 0 && pport > 0);
    char svc[1024];
    /* By name: "localhost" goes through the resolver's path (resolve.c), 127.0.0.1 above does not. */
    raw_service(svc, sizeof svc, "localhost", bport, pport, IDLE_MS);
    start_node(&node, svc);
    int client = it_connect("127.0.0.1", pport, 0, 0);
    assert_true(client >= 0);
    assert_int_equal(write(client, TAG, strlen(TAG)), (ssize_t)strlen(TAG));
    int backend = it_accept_tagged(l, TAG, 10000);
    assert_true(backend >= 0);
    /* Traffic every 100 ms for twice the idle timeout: the connection stays. */
    int64_t end = it_wall_ms() + 2 * IDLE_MS;
    char b;
    int64_t t0 = 0; /* the last byte through */
    while (t0 < end) {
        it_sleep_ms(100);
        assert_int_equal(write(client, "x", 1), 1);
        assert_int_equal(read(backend, &b, 1), 1);
        assert_int_equal(write(backend, "y", 1), 1);
        assert_int_equal(read(client, &b, 1), 1);
        t0 = it_wall_ms();
    }
    /* Then quiet: both sides see the end after idle_timeout_ms. */
    char buf[16];
    assert_int_equal(it_read_all(client, buf, sizeof buf, IDLE_MS + 5000), 0);
    int64_t quiet = it_wall_ms() - t0;
    assert_int_equal(it_read_all(backend, buf, sizeof buf, 2000), 0);
    print_message("an idle proxied connection closed after %lld ms (idle_timeout_ms %d)\n", (long long)quiet,
                  IDLE_MS);
    assert_true(quiet >= IDLE_MS - 50);
    end = it_wall_ms() + 5000;
    while (it_service_number(&node, "raw", "failover.proxy.connections_active") != 0 && it_wall_ms() < end)
        it_sleep_ms(20);
    assert_true(it_service_number(&node, "raw", "failover.proxy.connections_active") == 0);
    close(client);
    close(backend);
    close(l);
    it_node_stop(&node, SIGTERM, 5000, NULL, NULL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backpressure_backend_not_reading),
        cmocka_unit_test(test_backpressure_client_not_reading),
        cmocka_unit_test(test_connect_timeout_next_endpoint),
        cmocka_unit_test(test_pending_connects_move_when_breaker_opens),
        cmocka_unit_test(test_pending_connects_stay_when_nowhere_better),
        cmocka_unit_test(test_quiet_close_before_request_retried),
        cmocka_unit_test(test_late_quiet_close_passed_on),
        cmocka_unit_test(test_idle_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
