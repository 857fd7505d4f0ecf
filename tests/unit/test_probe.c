/* test_probe.c: the probe engine and its curl loop against real sockets on 127.0.0.1: a tiny
 * HTTP responder on the same uv loop (canned answers per test), closed ports, an unresolvable
 * name, and an `openssl s_server` child for HTTPS when the openssl CLI exists. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "probe/probe.h"
#include "head_reader_test_util.h"

extern char **environ;

/* ---- the responder: a canned HTTP/1.1 server on the test's loop ---- */

typedef enum { ANS_OK, ANS_500, ANS_204, ANS_SLOW, ANS_NEVER, ANS_PARTIAL } ans_mode;

static const char RESP_OK[] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
static const char RESP_OK_HEAD[] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n";
static const char RESP_500[] = "HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\noops";
static const char RESP_204[] = "HTTP/1.1 204 No Content\r\n\r\n";
static const char RESP_PARTIAL[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello";

typedef struct responder {
    uv_tcp_t server;
    uv_loop_t *loop;
    int port;
    ans_mode mode;
    int slow_ms;
    int accepts, requests, eofs, open_conns;
    char last_head[1024];   /* the last request's head, for header assertions */
    struct conn *conns;
} responder;

typedef struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    responder *r;
    head_reader rd;
    int closed_handles;
    bool closing;
    bool head;
    struct conn *next;
} conn;

static void conn_freed(uv_handle_t *h)
{
    conn *c = h->data;
    if (++c->closed_handles < 2)
        return;
    responder *r = c->r;
    for (conn **pp = &r->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    r->open_conns--;
    free(c);
}

static void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, conn_freed);
    uv_close((uv_handle_t *)&c->timer, conn_freed);
}

static void on_written(uv_write_t *w, int status)
{
    conn *c = w->data;
    (void)status;
    if (c->r->mode == ANS_PARTIAL)
        conn_close(c); /* server gives up mid-body */
    free(w);
}

static void send_answer(conn *c)
{
    const char *s;
    switch (c->r->mode) {
    case ANS_500: s = RESP_500; break;
    case ANS_204: s = RESP_204; break;
    case ANS_PARTIAL: s = RESP_PARTIAL; break;
    default: s = c->head ? RESP_OK_HEAD : RESP_OK; break;
    }
    uv_write_t *w = malloc(sizeof(*w));
    assert_non_null(w);
    w->data = c;
    uv_buf_t b = uv_buf_init((char *)s, (unsigned)strlen(s));
    assert_int_equal(uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_written), 0);
}

static void on_slow(uv_timer_t *t)
{
    send_answer(t->data);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    *b = head_reader_space(&((conn *)h->data)->rd);
}

/* Answers every complete request head in the buffer (requests here have no body). */
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    conn *c = s->data;
    if (n < 0) {
        c->r->eofs++;
        conn_close(c);
        return;
    }
    c->rd.len += (size_t)n;
    const char *head;
    size_t head_len;
    while (!c->closing && (head_len = head_reader_next(&c->rd, &head)) > 0) {
        responder *r = c->r;
        size_t keep = head_len < sizeof(r->last_head) ? head_len : sizeof(r->last_head) - 1;
        memcpy(r->last_head, head, keep);
        r->last_head[keep] = '\0';
        r->requests++;
        c->head = strncmp(head, "HEAD ", 5) == 0;
        if (r->mode == ANS_NEVER)
            continue;
        if (r->mode == ANS_SLOW)
            uv_timer_start(&c->timer, on_slow, (uint64_t)r->slow_ms, 0);
        else
            send_answer(c);
    }
    if (head_reader_full(&c->rd))
        conn_close(c); /* a request head this large is not ours */
}

static void on_accept(uv_stream_t *server, int status)
{
    assert_int_equal(status, 0);
    responder *r = server->data;
    conn *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->r = r;
    uv_tcp_init(r->loop, &c->tcp);
    uv_timer_init(r->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->next = r->conns;
    r->conns = c;
    r->open_conns++;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
    r->accepts++;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void responder_start(responder *r, uv_loop_t *loop, ans_mode mode)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->mode = mode;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &r->server);
    r->server.data = r;
    assert_int_equal(uv_tcp_bind(&r->server, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&r->server, 512, on_accept), 0);
    int len = sizeof(a);
    uv_tcp_getsockname(&r->server, (struct sockaddr *)&a, &len);
    r->port = ntohs(a.sin_port);
}

static void responder_stop(responder *r)
{
    if (!r->loop)
        return;
    while (r->conns) {
        conn *c = r->conns;
        conn_close(c);
        r->conns = c->next; /* conn_freed unlinks nothing once it is off the list */
        c->next = NULL;
    }
    uv_close((uv_handle_t *)&r->server, NULL);
    r->loop = NULL;
}

/* ---- fixture ---- */

typedef struct {
    uv_loop_t loop;
    md_curl_loop *cl;
    md_prober *p;
    responder resp;
    char url[128];
    pid_t server_pid;
    char tmpdir[64];
} fixture;

typedef struct {
    int calls;
    md_check_result r;
    md_probe_extra x;
    uint64_t done_ns;
} got;

static void on_result(void *ctx, const md_check_result *r, const md_probe_extra *x)
{
    got *g = ctx;
    g->calls++;
    g->r = *r;
    g->x = *x;
    g->done_ns = uv_hrtime();
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *counter >= target or limit_ms passes; returns whether it got there. */
static bool run_until(fixture *f, const int *counter, int target, int limit_ms)
{
    uv_timer_t tick;
    uv_timer_init(&f->loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10); /* so UV_RUN_ONCE returns to check the bound */
    uint64_t end = uv_hrtime() + (uint64_t)limit_ms * 1000000u;
    while (*counter < target && uv_hrtime() < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    return *counter >= target;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->cl = md_curl_loop_new(&f->loop);
    assert_non_null(f->cl);
    f->p = md_prober_new(&f->loop, f->cl);
    assert_non_null(f->p);
    *state = f;
    return 0;
}

static void stop_server_child(fixture *f)
{
    if (f->server_pid > 0) {
        kill(f->server_pid, SIGTERM);
        waitpid(f->server_pid, NULL, 0);
        f->server_pid = 0;
    }
    if (f->tmpdir[0]) {
        char path[128];
        snprintf(path, sizeof(path), "%s/c.pem", f->tmpdir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/k.pem", f->tmpdir);
        unlink(path);
        rmdir(f->tmpdir);
        f->tmpdir[0] = '\0';
    }
}

static int teardown(void **state)
{
    fixture *f = *state;
    md_prober_free(f->p);
    md_curl_loop_close(f->cl);
    responder_stop(&f->resp);
    for (int i = 0; i < 1000 && uv_loop_alive(&f->loop); i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    stop_server_child(f);
    free(f);
    return 0;
}

static md_probe_request http_req(const char *url)
{
    md_probe_request q = {0};
    q.kind = MD_CHECK_HTTP;
    q.url = url;
    q.keepalive = true;
    q.tls_verify = true;
    q.timeout_ms = 2000;
    return q;
}

static void serve(fixture *f, ans_mode mode)
{
    responder_start(&f->resp, &f->loop, mode);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/health", f->resp.port);
}

/* Runs one check to its end and returns what it reported. */
static got probe_once(fixture *f, const md_probe_request *q, int limit_ms)
{
    got g = {0};
    assert_int_equal(md_probe_start(f->p, q, on_result, &g, NULL), 0);
    assert_int_equal(g.calls, 0); /* never synchronously */
    assert_true(run_until(f, &g.calls, 1, limit_ms));
    assert_int_equal(g.calls, 1);
    return g;
}

/* A port nobody listens on: bound once, then released. */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

/* ---- pure parts ---- */

/* A waiting check holds a copy of its request, and with many services most may wait at once:
 * the request carries no padding beyond its one spare byte (128 B in the old order). */
static void test_request_size(void **state)
{
    (void)state;
    assert_true(sizeof(md_probe_request) <= 88);
}

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(md_probe_classify(CURLE_OK), MD_ERR_NONE);
    assert_int_equal(md_probe_classify(CURLE_COULDNT_RESOLVE_HOST), MD_ERR_DNS);
    assert_int_equal(md_probe_classify(CURLE_COULDNT_RESOLVE_PROXY), MD_ERR_DNS);
    assert_int_equal(md_probe_classify(CURLE_COULDNT_CONNECT), MD_ERR_CONNECT);
    assert_int_equal(md_probe_classify(CURLE_GOT_NOTHING), MD_ERR_CONNECT);
    assert_int_equal(md_probe_classify(CURLE_SEND_ERROR), MD_ERR_CONNECT);
    assert_int_equal(md_probe_classify(CURLE_RECV_ERROR), MD_ERR_CONNECT);
    assert_int_equal(md_probe_classify(CURLE_OPERATION_TIMEDOUT), MD_ERR_TIMEOUT);
    assert_int_equal(md_probe_classify(CURLE_SSL_CONNECT_ERROR), MD_ERR_TLS);
    assert_int_equal(md_probe_classify(CURLE_PEER_FAILED_VERIFICATION), MD_ERR_TLS);
    assert_int_equal(md_probe_classify(CURLE_SSL_CACERT_BADFILE), MD_ERR_TLS);
    assert_int_equal(md_probe_classify(CURLE_PARTIAL_FILE), MD_ERR_BODY);
}

static void test_parse_cert_time(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(md_probe_parse_cert_time("Jan  1 00:00:00 2027 GMT", &ms), 0);
    assert_int_equal(ms, 1798761600000LL);
    assert_int_equal(md_probe_parse_cert_time("Dec 31 23:59:59 2026 GMT", &ms), 0);
    assert_int_equal(ms, 1798761599000LL);
    assert_int_equal(md_probe_parse_cert_time("Mar 15 12:30:00.5 2030 GMT", &ms), 0);
    assert_int_equal(ms, 1899808200000LL);
    assert_int_equal(md_probe_parse_cert_time("2027-01-01 00:00:00 GMT", &ms), 0);
    assert_int_equal(ms, 1798761600000LL);
    assert_int_equal(md_probe_parse_cert_time("Foo  1 00:00:00 2027 GMT", &ms), -EINVAL);
    assert_int_equal(md_probe_parse_cert_time("Jan  1 00:00:00 2027", &ms), -EINVAL);
    assert_int_equal(md_probe_parse_cert_time("Jan 41 00:00:00 2027 GMT", &ms), -EINVAL);
    assert_int_equal(md_probe_parse_cert_time("", &ms), -EINVAL);
}

static void test_bad_requests(void **state)
{
    fixture *f = *state;
    got g = {0};
    md_probe_request q = http_req(NULL);
    assert_int_equal(md_probe_start(f->p, &q, on_result, &g, NULL), -EINVAL);
    q = http_req("http://127.0.0.1:1/");
    q.timeout_ms = 0;
    assert_int_equal(md_probe_start(f->p, &q, on_result, &g, NULL), -EINVAL);
    q = (md_probe_request){.kind = MD_CHECK_TCP, .tcp_host = "127.0.0.1", .tcp_port = 0,
                           .timeout_ms = 100};
    assert_int_equal(md_probe_start(f->p, &q, on_result, &g, NULL), -EINVAL);
    md_header smuggle = {"X-A", "1\r\nX-B: 2"};
    q = http_req("http://127.0.0.1:1/");
    q.headers = &smuggle;
    q.n_headers = 1;
    assert_int_equal(md_probe_start(f->p, &q, on_result, &g, NULL), -EINVAL);
    assert_int_equal(g.calls, 0);
}

/* ---- HTTP outcomes ---- */

static void test_http_ok(void **state)
{
    fixture *f = *state;
    serve(f, ANS_OK);
    md_probe_request q = http_req(f->url);
    int64_t before = md_wall_ms();
    got g = probe_once(f, &q, 3000);
    int64_t after = md_wall_ms();
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_int_equal(g.r.http_status, 200);
    assert_true(g.r.latency_us > 0);
    assert_true(g.r.at_ms >= before && g.r.at_ms <= after);
    assert_int_equal(g.x.cert_expiry_ms, 0);
    assert_non_null(strstr(f->resp.last_head, "GET /health HTTP/1.1\r\n"));
    assert_non_null(strstr(f->resp.last_head, "User-Agent: medic/" MD_VERSION "\r\n"));
}

static void test_http_500_is_status(void **state)
{
    fixture *f = *state;
    serve(f, ANS_500);
    md_probe_request q = http_req(f->url);
    got g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_STATUS);
    assert_int_equal(g.r.http_status, 500);
    q.expect_status = 500; /* exactly what was asked for */
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
}

static void test_expect_status(void **state)
{
    fixture *f = *state;
    serve(f, ANS_OK);
    md_probe_request q = http_req(f->url);
    q.expect_status = 201;
    got g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_STATUS);
    assert_int_equal(g.r.http_status, 200);
    f->resp.mode = ANS_204;
    q.expect_status = 204;
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_int_equal(g.r.http_status, 204);
    q.expect_status = 200;
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_STATUS);
}

static void test_expect_body(void **state)
{
    fixture *f = *state;
    serve(f, ANS_OK);
    md_probe_request q = http_req(f->url);
    q.expect_body = "world";
    got g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    q.expect_body = "absent";
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_BODY);
    assert_int_equal(g.r.http_status, 200);
    q.expect_body = "hello world!"; /* longer than the body */
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_BODY);
    f->resp.mode = ANS_204; /* no body at all */
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_BODY);
    assert_int_equal(g.r.http_status, 204);
}

static void test_partial_body(void **state)
{
    fixture *f = *state;
    serve(f, ANS_PARTIAL);
    md_probe_request q = http_req(f->url);
    got g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_BODY);
    assert_int_equal(g.r.http_status, 200);
}

static void test_method_and_headers(void **state)
{
    fixture *f = *state;
    serve(f, ANS_OK);
    md_header h[2] = {{"X-Probe", "yes"}, {"X-Empty", ""}};
    md_probe_request q = http_req(f->url);
    q.method = "HEAD";
    q.headers = h;
    q.n_headers = 2;
    got g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_non_null(strstr(f->resp.last_head, "HEAD /health HTTP/1.1\r\n"));
    assert_non_null(strstr(f->resp.last_head, "\r\nX-Probe: yes\r\n"));
    assert_non_null(strstr(f->resp.last_head, "\r\nX-Empty:"));
    q.method = "OPTIONS";
    q.n_headers = 0;
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_non_null(strstr(f->resp.last_head, "OPTIONS /health HTTP/1.1\r\n"));
    assert_null(strstr(f->resp.last_head, "X-Probe")); /* a reused handle forgets headers */
    assert_int_equal(f->resp.accepts, 1);
}

/* medic names itself with or without headers of the check's own, and a User-Agent among them
 * replaces medic's instead of going out beside it. */
static void test_user_agent(void **state)
{
    fixture *f = *state;
    serve(f, ANS_OK);
    md_header h[2] = {{"X-Probe", "yes"}, {"User-Agent", "ops-check/2"}};
    md_probe_request q = http_req(f->url);
    q.headers = h;
    q.n_headers = 1;
    got g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_non_null(strstr(f->resp.last_head, "\r\nUser-Agent: medic/" MD_VERSION "\r\n"));
    q.n_headers = 2;
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_non_null(strstr(f->resp.last_head, "\r\nUser-Agent: ops-check/2\r\n"));
    assert_null(strstr(f->resp.last_head, "medic/"));
    q.n_headers = 0;
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    const char *ua = strstr(f->resp.last_head, "\r\nUser-Agent: medic/" MD_VERSION "\r\n");
    assert_non_null(ua);
    assert_null(strstr(ua + 3, "User-Agent")); /* one, not two */
}

static void test_timeout(void **state)
{
    fixture *f = *state;
    serve(f, ANS_NEVER);
    md_probe_request q = http_req(f->url);
    q.timeout_ms = 300;
    uint64_t t0 = uv_hrtime();
    got g = probe_once(f, &q, 3000);
    int64_t took_ms = (int64_t)((g.done_ns - t0) / 1000000);
    assert_int_equal(g.r.err, MD_ERR_TIMEOUT);
    assert_true(took_ms >= 290);
    assert_true(took_ms < 300 + 500);
    assert_true(g.r.latency_us >= 290000);
    /* slow but in time: succeeds, and the latency shows the wait */
    f->resp.mode = ANS_SLOW;
    f->resp.slow_ms = 100;
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_true(g.r.latency_us >= 95000);
    f->resp.slow_ms = 600;
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_TIMEOUT);
}

static void test_connect_refused(void **state)
{
    fixture *f = *state;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", closed_port());
    md_probe_request q = http_req(url);
    got g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_CONNECT);
    assert_int_equal(g.r.http_status, 0);
    assert_true(g.r.latency_us > 0);
}

static void test_dns_failure(void **state)
{
    fixture *f = *state;
    /* A 70-byte label under .invalid (RFC 6761): the resolver refuses to encode it, so the
     * lookup fails without sending a query (a plain "x.invalid" would go to the nameserver). */
    char url[160];
    snprintf(url, sizeof(url), "http://%070d.invalid/", 0);
    md_probe_request q = http_req(url);
    got g = probe_once(f, &q, 5000);
    assert_int_equal(g.r.err, MD_ERR_DNS);
}

/* ---- TCP checks ---- */

static void test_tcp(void **state)
{
    fixture *f = *state;
    serve(f, ANS_NEVER);
    md_probe_request q = {.kind = MD_CHECK_TCP, .tcp_host = "127.0.0.1",
                          .tcp_port = f->resp.port, .timeout_ms = 1000};
    got g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_int_equal(g.r.http_status, 0);
    assert_true(g.r.latency_us > 0);
    assert_true(run_until(f, &f->resp.eofs, 1, 2000)); /* it closed the connection */
    assert_int_equal(f->resp.accepts, 1);
    assert_int_equal(f->resp.requests, 0); /* and sent nothing */
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_true(run_until(f, &f->resp.eofs, 2, 2000));
    assert_int_equal(f->resp.accepts, 2); /* never a parked connection */

    q.tcp_port = closed_port();
    g = probe_once(f, &q, 3000);
    assert_int_equal(g.r.err, MD_ERR_CONNECT);
}

/* ---- connections ---- */

static void test_keepalive_reuses(void **state)
{
    fixture *f = *state;
    serve(f, ANS_OK);
    md_probe_request q = http_req(f->url);
    for (int i = 0; i < 5; i++) {
        got g = probe_once(f, &q, 3000);
        assert_int_equal(g.r.err, MD_ERR_NONE);
    }
    assert_int_equal(f->resp.requests, 5);
    assert_int_equal(f->resp.accepts, 1);

    q.keepalive = false;
    for (int i = 0; i < 5; i++) {
        got g = probe_once(f, &q, 3000);
        assert_int_equal(g.r.err, MD_ERR_NONE);
    }
    assert_int_equal(f->resp.requests, 10);
    assert_int_equal(f->resp.accepts, 6);
    assert_true(run_until(f, &f->resp.eofs, 5, 2000)); /* each closed after its check */
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The server closes a kept-alive connection while it is idle: the loop must not spin on the
 * readable socket nobody reads, and the next check connects again. */
static void test_idle_connection_closed_by_server(void **state)
{
    fixture *f = *state;
    serve(f, ANS_OK);
    md_probe_request q = http_req(f->url);
    assert_int_equal(probe_once(f, &q, 3000).r.err, MD_ERR_NONE);
    assert_int_equal(f->resp.accepts, 1);
    for (conn *c = f->resp.conns; c; c = c->next)
        conn_close(c);
    int never = 0;
    double cpu0 = cpu_ms();
    run_until(f, &never, 1, 300); /* 300 ms of loop with the closed socket in curl's cache */
    double spent = cpu_ms() - cpu0;
    assert_true(spent < 150.0);
    assert_int_equal(probe_once(f, &q, 3000).r.err, MD_ERR_NONE);
    assert_int_equal(f->resp.accepts, 2);
    assert_int_equal(f->resp.requests, 2);
}

#define MANY 200

static void test_many_concurrent(void **state)
{
    fixture *f = *state;
    serve(f, ANS_OK);
    md_probe_request q = http_req(f->url);
    q.expect_body = "hello";
    static got g[MANY];
    memset(g, 0, sizeof(g));
    int done = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < MANY; i++)
            assert_int_equal(md_probe_start(f->p, &q, on_result, &g[i], NULL), 0);
        int target = (round + 1) * MANY;
        for (int spins = 0; spins < 1000 && done < target; spins++) {
            run_until(f, &(int){0}, 1, 10);
            done = 0;
            for (int i = 0; i < MANY; i++)
                done += g[i].calls;
        }
        assert_int_equal(done, target);
    }
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(g[i].calls, 2);
        assert_int_equal(g[i].r.err, MD_ERR_NONE);
    }
    /* the second round found the first round's connections in the cache */
    assert_true(f->resp.accepts <= MANY);
    assert_int_equal(f->resp.requests, 2 * MANY);
}

static void test_max_inflight(void **state)
{
    fixture *f = *state;
    serve(f, ANS_SLOW);
    f->resp.slow_ms = 20;
    md_prober_set_max_inflight(f->p, 8);
    md_probe_request q = http_req(f->url);
    static got g[64];
    memset(g, 0, sizeof(g));
    for (int i = 0; i < 64; i++)
        assert_int_equal(md_probe_start(f->p, &q, on_result, &g[i], NULL), 0);
    int done = 0;
    for (int spins = 0; spins < 500 && done < 64; spins++) {
        run_until(f, &(int){0}, 1, 10);
        assert_true(f->resp.open_conns <= 8);
        done = 0;
        for (int i = 0; i < 64; i++)
            done += g[i].calls;
    }
    assert_int_equal(done, 64);
    for (int i = 0; i < 64; i++)
        assert_int_equal(g[i].r.err, MD_ERR_NONE);
    assert_true(f->resp.accepts <= 8);
}

/* Peak of the responder's open connections while n checks run to completion; *before_done gets
 * the peak seen before the first check finished (only what the first round opened). */
static int run_batch_peak_err(fixture *f, got *g, int n, const md_probe_request *q, int *before_done,
                              md_err_class want)
{
    memset(g, 0, (size_t)n * sizeof *g);
    for (int i = 0; i < n; i++)
        assert_int_equal(md_probe_start(f->p, q, on_result, &g[i], NULL), 0);
    int done = 0, peak = 0;
    *before_done = 0;
    for (int spins = 0; spins < 1000 && done < n; spins++) {
        run_until(f, &(int){0}, 1, 5);
        if (f->resp.open_conns > peak)
            peak = f->resp.open_conns;
        done = 0;
        for (int i = 0; i < n; i++)
            done += g[i].calls;
        if (done == 0)
            *before_done = peak;
    }
    assert_int_equal(done, n);
    for (int i = 0; i < n; i++)
        assert_int_equal(g[i].r.err, want);
    return peak;
}

static int run_batch_peak(fixture *f, got *g, int n, const md_probe_request *q, int *before_done)
{
    return run_batch_peak_err(f, g, n, q, before_done, MD_ERR_NONE);
}

/* A burst of first checks opens at most MD_PROBE_SLOW_START connections at once; while checks
 * wait for a slot and the loop has time to spare, the limit grows towards the configured one. */
static void test_slow_start(void **state)
{
    fixture *f = *state;
    serve(f, ANS_SLOW);
    f->resp.slow_ms = 30;
    md_prober_set_max_inflight(f->p, 1024);
    md_probe_request q = http_req(f->url);
    static got g[200];
    int first_round = 0, unused = 0;
    run_batch_peak(f, g, 200, &q, &first_round);
    assert_true(first_round <= MD_PROBE_SLOW_START);
    assert_true(first_round >= MD_PROBE_SLOW_START / 2);
    /* The limit grows by 64 each 50 ms window in which checks waited: within a few bursts (each
     * >= 120 ms) it is past 200, and a burst runs all at once. */
    int later = 0;
    for (int round = 0; round < 4 && later < 190; round++)
        later = run_batch_peak(f, g, 200, &q, &unused);
    assert_true(later >= 190);
}

/* The limit's rule, pure: halve when the loop had no time to spare, grow by the floor when checks
 * waited and it had, never outside [floor, cap]. */
static void test_limit_rule(void **state)
{
    (void)state;
    assert_int_equal(md_probe_next_limit(1024, 64, 1024, 0.02, true), 512);  /* saturated */
    assert_int_equal(md_probe_next_limit(1024, 64, 1024, 0.02, false), 512);
    assert_int_equal(md_probe_next_limit(100, 64, 1024, 0.0, true), 64);     /* not below floor */
    assert_int_equal(md_probe_next_limit(64, 64, 1024, 0.9, true), 128);     /* waited, idle */
    assert_int_equal(md_probe_next_limit(512, 64, 1024, 0.3, true), 576);
    assert_int_equal(md_probe_next_limit(1000, 64, 1024, 0.9, true), 1024);  /* not above cap */
    assert_int_equal(md_probe_next_limit(64, 64, 1024, 0.9, false), 64);     /* nobody waited */
    assert_int_equal(md_probe_next_limit(256, 64, 1024, 0.15, true), 256);   /* in between: hold */
    assert_int_equal(md_probe_next_limit(1024, 64, 128, 0.5, false), 128);   /* cap lowered */
    assert_int_equal(md_probe_next_limit(64, 64, 8, 0.9, true), 64);         /* cap below floor */
}

/* Keeps the loop busy: an idle handle runs every turn (and makes the poll not wait). */
static void on_spin(uv_idle_t *h)
{
    (void)h;
    uint64_t end = uv_hrtime() + 2000000u;
    while (uv_hrtime() < end) {}
}

/* Bursts of n checks until the limit in force satisfies want (or limit_ms passes). */
static bool burst_until(fixture *f, const md_probe_request *q, bool (*want)(int), int limit_ms)
{
    static got g[300];
    uint64_t end = uv_hrtime() + (uint64_t)limit_ms * 1000000u;
    while (!want(md_prober_limit(f->p)) && uv_hrtime() < end) {
        memset(g, 0, sizeof g);
        for (int i = 0; i < 300; i++)
            assert_int_equal(md_probe_start(f->p, q, on_result, &g[i], NULL), 0);
        for (int spins = 0; spins < 2000; spins++) {
            int done = 0;
            for (int i = 0; i < 300; i++)
                done += g[i].calls;
            if (done == 300)
                break;
            run_until(f, &(int){0}, 1, 5);
        }
    }
    return want(md_prober_limit(f->p));
}

static bool at_least_256(int l) { return l >= 256; } /* bursts of 300 wait below that */
static bool at_floor(int l) { return l <= MD_PROBE_SLOW_START; }

/* A loop with no time to spare halves the limit back to the floor (more checks in flight would
 * only make each slower, past their timeouts: the timeout spiral), and once the loop has time
 * again the limit grows back. The old ramp never shrank. */
static void test_limit_follows_the_loop(void **state)
{
    fixture *f = *state;
    serve(f, ANS_SLOW);
    f->resp.slow_ms = 20;
    md_prober_set_max_inflight(f->p, 1024);
    md_probe_request q = http_req(f->url);
    assert_int_equal(md_prober_limit(f->p), MD_PROBE_SLOW_START);
    /* Slow answers, an idle loop, checks waiting: the limit grows. */
    assert_true(burst_until(f, &q, at_least_256, 20000));
    /* Now the loop is busy all the time (the checks still answer): back to the floor. */
    static uv_idle_t spin; /* outlives the test on failure: teardown closes it */
    uv_idle_init(&f->loop, &spin);
    uv_idle_start(&spin, on_spin);
    bool shrank = burst_until(f, &q, at_floor, 20000);
    /* The handles of the checks the limit no longer lets run are freed, not pooled idle (they
     * were kept for max_inflight's 1,024): one more burst on the busy loop returns all but twice
     * the limit's (kept against its halving and growing back). */
    static got g[200];
    int unused = 0;
    int grown = md_prober_easy_handles(f->p);
    run_batch_peak(f, g, 200, &q, &unused);
    print_message("busy loop: %d curl handles before the burst, %d after, limit %d\n", grown,
                  md_prober_easy_handles(f->p), md_prober_limit(f->p));
    assert_true(md_prober_easy_handles(f->p) <= 2 * md_prober_limit(f->p));
    uv_idle_stop(&spin);
    uv_close((uv_handle_t *)&spin, NULL);
    print_message("busy loop: limit %d\n", md_prober_limit(f->p));
    assert_true(shrank);
    /* Idle again: it recovers. */
    assert_true(burst_until(f, &q, at_least_256, 20000));
}

/* Services that hang (timeouts) still let the limit grow: otherwise a node
 * started while many services hang would check them 64 at a time. */
static void test_slow_start_grows_on_hung_services(void **state)
{
    fixture *f = *state;
    serve(f, ANS_NEVER);
    md_prober_set_max_inflight(f->p, 1024);
    md_probe_request q = http_req(f->url);
    q.timeout_ms = 200;
    static got g[200];
    int unused = 0, peak = 0;
    /* First round: 64, then 128 after 64 timeouts, then 192...: while checks wait on an idle
     * loop the limit grows by 64 each 50 ms window, so within a few rounds all run at once. */
    for (int round = 0; round < 5 && peak < 190; round++) {
        peak = run_batch_peak_err(f, g, 200, &q, &unused, MD_ERR_TIMEOUT);
        print_message("round %d: peak %d connections, limit %d\n", round, peak, md_prober_limit(f->p));
    }
    assert_true(peak >= 190);
}

static void test_cancel(void **state)
{
    fixture *f = *state;
    serve(f, ANS_NEVER);
    md_prober_set_max_inflight(f->p, 1);
    md_probe_request q = http_req(f->url);
    q.timeout_ms = 200;
    got a = {0}, b = {0}, c = {0};
    void *ha = NULL, *hb = NULL;
    assert_int_equal(md_probe_start(f->p, &q, on_result, &a, &ha), 0);
    assert_int_equal(md_probe_start(f->p, &q, on_result, &b, &hb), 0); /* waits for a slot */
    assert_int_equal(md_probe_start(f->p, &q, on_result, &c, NULL), 0);
    assert_non_null(ha);
    assert_non_null(hb);
    assert_true(run_until(f, &f->resp.requests, 1, 2000)); /* a is on the wire */
    md_probe_cancel(f->p, hb);
    md_probe_cancel(f->p, ha); /* c takes the slot */
    assert_true(run_until(f, &c.calls, 1, 2000));
    run_until(f, &(int){0}, 1, 400); /* past a's and b's timeouts */
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 0);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.r.err, MD_ERR_TIMEOUT);
}

/* A caller that keeps its own waiting checks (the monitor): while the prober is full it queues
 * them itself, and the prober asks for one each time a slot frees, in the caller's order. The
 * prober then never holds more check records than run at once. */
#define FED 40
typedef struct {
    fixture *f;
    md_probe_request q;
    got g[FED];
    int order[FED]; /* which item started n-th */
    int next, queued, started, feed_calls_empty;
} feeder;

static bool feed_one(void *ctx)
{
    feeder *fd = ctx;
    if (fd->next == fd->queued) {
        fd->feed_calls_empty++;
        return false;
    }
    int i = fd->next++;
    fd->order[fd->started++] = i;
    assert_int_equal(md_probe_start(fd->f->p, &fd->q, on_result, &fd->g[i], NULL), 0);
    return true;
}

static void test_feed(void **state)
{
    fixture *f = *state;
    serve(f, ANS_SLOW);
    f->resp.slow_ms = 5;
    md_prober_set_max_inflight(f->p, 2);
    static feeder fd;
    memset(&fd, 0, sizeof fd);
    fd.f = f;
    fd.q = http_req(f->url);
    md_prober_set_feed(f->p, feed_one, &fd);
    for (int i = 0; i < FED; i++) {
        if (fd.next == fd.queued && !md_prober_full(f->p)) {
            fd.queued++;
            assert_true(feed_one(&fd)); /* a slot is free: it runs at once */
        } else {
            fd.queued++; /* behind the others, or the prober is full */
        }
    }
    assert_int_equal(fd.started, 2);
    int done = 0;
    for (int spins = 0; spins < 1000 && done < FED; spins++) {
        run_until(f, &(int){0}, 1, 10);
        assert_true(md_prober_checks(f->p) <= 2);
        done = 0;
        for (int i = 0; i < FED; i++)
            done += fd.g[i].calls;
    }
    assert_int_equal(done, FED);
    for (int i = 0; i < FED; i++) {
        assert_int_equal(fd.order[i], i);
        assert_int_equal(fd.g[i].calls, 1);
        assert_int_equal(fd.g[i].r.err, MD_ERR_NONE);
    }
    assert_int_equal(fd.feed_calls_empty, 1); /* asked once more, then left alone */
    assert_true(f->resp.accepts <= 2);
}

typedef struct {
    fixture *f;
    int calls;
} freer;

static void free_in_callback(void *ctx, const md_check_result *r, const md_probe_extra *x)
{
    (void)r;
    (void)x;
    freer *fr = ctx;
    fr->calls++;
    if (fr->f->p) {
        md_prober_free(fr->f->p); /* the others still running must stay silent */
        fr->f->p = NULL;
    }
}

static void test_free_while_running(void **state)
{
    fixture *f = *state;
    serve(f, ANS_OK);
    md_probe_request q = http_req(f->url);
    freer fr = {f, 0};
    for (int i = 0; i < 20; i++)
        assert_int_equal(md_probe_start(f->p, &q, free_in_callback, &fr, NULL), 0);
    assert_true(run_until(f, &fr.calls, 1, 3000));
    run_until(f, &(int){0}, 1, 100);
    assert_int_equal(fr.calls, 1);
    /* and a curl loop closed with transfers on the wire cleans up after itself */
    f->p = md_prober_new(&f->loop, f->cl);
    f->resp.mode = ANS_NEVER;
    got g = {0};
    int before = f->resp.requests;
    for (int i = 0; i < 5; i++)
        assert_int_equal(md_probe_start(f->p, &q, on_result, &g, NULL), 0);
    assert_true(run_until(f, &f->resp.requests, before + 5, 2000));
    assert_int_equal(g.calls, 0); /* teardown frees them mid-flight */
}

static void raw_done(CURL *easy, CURLcode rc, void *ctx)
{
    (void)easy;
    (void)rc;
    (*(int *)ctx)++;
}

static void test_curl_loop_close_running(void **state)
{
    fixture *f = *state;
    serve(f, ANS_NEVER);
    md_prober_free(f->p);
    f->p = NULL;
    CURL *e = curl_easy_init();
    assert_non_null(e);
    curl_easy_setopt(e, CURLOPT_URL, f->url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 200L);
    int calls = 0;
    assert_int_equal(md_curl_loop_add(f->cl, e, raw_done, &calls), 0);
    assert_true(run_until(f, &f->resp.requests, 1, 2000));
    md_curl_loop_close(f->cl); /* no callback, every uv handle closed, memory freed */
    f->cl = NULL;
    run_until(f, &(int){0}, 1, 400);
    assert_int_equal(calls, 0);
    curl_easy_cleanup(e);
}

/* ---- HTTPS against openssl s_server ---- */

static bool have_openssl(void)
{
    return system("openssl version >/dev/null 2>&1") == 0;
}

static bool wait_port(int port, int limit_ms)
{
    for (int waited = 0; waited < limit_ms; waited += 50) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int rc = connect(s, (struct sockaddr *)&a, sizeof(a));
        close(s);
        if (rc == 0)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

/* Serves f's certificate with openssl s_server on a new port; returns the port, or 0. */
static int spawn_tls_server(fixture *f, pid_t *pid)
{
    int port = closed_port();
    char accept[32], cert[96], key[96];
    snprintf(accept, sizeof(accept), "127.0.0.1:%d", port);
    snprintf(cert, sizeof(cert), "%s/c.pem", f->tmpdir);
    snprintf(key, sizeof(key), "%s/k.pem", f->tmpdir);
    char *argv[] = {"openssl", "s_server", "-accept", accept, "-cert", cert, "-key", key,
                    "-www", "-quiet", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(pid, "openssl", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        *pid = 0;
        return 0;
    }
    return wait_port(port, 5000) ? port : 0;
}

/* Makes a 10-day self-signed cert for 127.0.0.1 and serves it; returns the port, or 0. */
static int start_tls_server(fixture *f)
{
    snprintf(f->tmpdir, sizeof(f->tmpdir), "/tmp/medic_probe_XXXXXX");
    assert_non_null(mkdtemp(f->tmpdir));
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 10 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout %s/k.pem -out %s/c.pem "
             ">/dev/null 2>&1",
             f->tmpdir, f->tmpdir);
    if (system(cmd) != 0)
        return 0;
    return spawn_tls_server(f, &f->server_pid);
}

static void test_https_cert_expiry(void **state)
{
    fixture *f = *state;
    if (!have_openssl()) {
        print_message("skipped: no openssl CLI to make a certificate and serve TLS\n");
        skip();
    }
    int port = start_tls_server(f);
    assert_true(port > 0);
    char url[64], ca[96];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/", port);
    snprintf(ca, sizeof(ca), "%s/c.pem", f->tmpdir);
    md_probe_request q = http_req(url);
    q.ca_file = ca;
    q.want_cert = true;
    q.timeout_ms = 5000;
    got g = probe_once(f, &q, 8000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_int_equal(g.r.http_status, 200);
    int64_t want = md_wall_ms() + 10LL * 24 * 3600 * 1000;
    int64_t day = 24LL * 3600 * 1000;
    assert_true(g.x.cert_expiry_ms > want - day && g.x.cert_expiry_ms < want + day);

    q.want_cert = false; /* not asked: not reported, even after a handshake */
    g = probe_once(f, &q, 8000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_int_equal(g.x.cert_expiry_ms, 0);

    q.ca_file = NULL; /* the system store does not know this cert */
    g = probe_once(f, &q, 8000);
    assert_int_equal(g.r.err, MD_ERR_TLS);

    q.tls_verify = false; /* unless told not to care */
    q.want_cert = true;
    g = probe_once(f, &q, 8000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_true(g.x.cert_expiry_ms > want - day);
}

/* More TLS servers than libcurl 7.88 keeps sessions for in one share (8), checked in turn with a
 * new connection each time: s_server's page says "Reused," only when the handshake resumed. */
#define MANY_TLS 10
static pid_t many_tls_pids[MANY_TLS];

static int teardown_many_tls(void **state)
{
    for (int i = 0; i < MANY_TLS; i++) {
        if (many_tls_pids[i] > 0) {
            kill(many_tls_pids[i], SIGTERM);
            waitpid(many_tls_pids[i], NULL, 0);
            many_tls_pids[i] = 0;
        }
    }
    return teardown(state);
}

static void test_https_sessions_resume_across_many_servers(void **state)
{
    fixture *f = *state;
    if (!have_openssl()) {
        print_message("skipped: no openssl CLI to make a certificate and serve TLS\n");
        skip();
    }
    char urls[MANY_TLS][64], ca[96];
    int port = start_tls_server(f);
    assert_true(port > 0);
    snprintf(urls[0], sizeof(urls[0]), "https://127.0.0.1:%d/", port);
    for (int i = 1; i < MANY_TLS; i++) {
        port = spawn_tls_server(f, &many_tls_pids[i]);
        assert_true(port > 0);
        snprintf(urls[i], sizeof(urls[i]), "https://127.0.0.1:%d/", port);
    }
    snprintf(ca, sizeof(ca), "%s/c.pem", f->tmpdir);
    md_probe_request q = http_req(urls[0]);
    q.keepalive = false;
    q.expect_body = "Reused,";
    q.timeout_ms = 5000;
    /* Twice: with a CA file (every check sets its handle up in full), then without one and
     * without verification, a plain check whose handle only gets the next URL (and share). The
     * two settings never resume each other's sessions. */
    for (int plain = 0; plain < 2; plain++) {
        q.ca_file = plain ? NULL : ca;
        q.tls_verify = !plain;
        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < MANY_TLS; i++) {
                q.url = urls[i];
                got g = probe_once(f, &q, 8000);
                print_message("%s round %d server %d: %s\n", plain ? "plain" : "ca_file", round, i,
                              g.r.err == MD_ERR_NONE ? "resumed" : "full");
                /* The first round makes the sessions; the second resumes every one of them. */
                assert_int_equal(g.r.err, round == 0 ? MD_ERR_BODY : MD_ERR_NONE);
            }
        }
    }
    q.ca_file = ca;
    q.tls_verify = true;
    /* Reading the certificate takes a full handshake although a session waits in the share, and
     * leaves that session for the next check. */
    q.url = urls[0];
    q.want_cert = true;
    got g = probe_once(f, &q, 8000);
    assert_int_equal(g.r.err, MD_ERR_BODY);
    assert_true(g.x.cert_expiry_ms > md_wall_ms());
    q.want_cert = false;
    g = probe_once(f, &q, 8000);
    assert_int_equal(g.r.err, MD_ERR_NONE);
    assert_int_equal(g.x.cert_expiry_ms, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_size),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_parse_cert_time),
        cmocka_unit_test(test_limit_rule),
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_bad_requests),
        T(test_http_ok),
        T(test_http_500_is_status),
        T(test_expect_status),
        T(test_expect_body),
        T(test_partial_body),
        T(test_method_and_headers),
        T(test_user_agent),
        T(test_timeout),
        T(test_connect_refused),
        T(test_dns_failure),
        T(test_tcp),
        T(test_keepalive_reuses),
        T(test_idle_connection_closed_by_server),
        T(test_slow_start),
        T(test_slow_start_grows_on_hung_services),
        T(test_limit_follows_the_loop),
        T(test_many_concurrent),
        T(test_max_inflight),
        T(test_cancel),
        T(test_feed),
        T(test_free_while_running),
        T(test_curl_loop_close_running),
        T(test_https_cert_expiry),
#undef T
        cmocka_unit_test_setup_teardown(test_https_sessions_resume_across_many_servers, setup,
                                        teardown_many_tls),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

