/* test_monitor.c: the monitor on a saturated prober (more checks due than it lets run): what a
 * waiting check costs in memory, and that waiting keeps the order, the fairness and the
 * timeouts (measured from the start of the transfer) of checks that never wait. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <uv.h>

#include "probe/probe.h"
#include "head_reader_test_util.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#endif
#ifdef HAVE_ASAN
/* from the sanitizer runtime (gcc ships no header for it) */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* Bytes the process has allocated and not freed (ASan's allocator keeps its own books). */
static size_t heap_bytes(void)
{
#ifdef HAVE_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}

/* ---- a server that answers after answer_ms, or never (answer_ms < 0) ---- */

#define MAX_SEEN 4096

typedef struct server {
    uv_tcp_t tcp;
    int port;
    int answer_ms;
    int requests;
    int seen[MAX_SEEN]; /* the service number of each request, in arrival order */
} server;

typedef struct conn {
    uv_tcp_t tcp;
    uv_timer_t delay;
    server *srv;
    head_reader rd;
    int closing;
} conn;

static void conn_freed(uv_handle_t *h)
{
    conn *c = h->data;
    if (++c->closing == 3)
        free(c);
}

static void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, conn_freed);
    uv_close((uv_handle_t *)&c->delay, conn_freed);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void on_delay(uv_timer_t *t)
{
    static char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    conn *c = t->data;
    uv_write_t *w = malloc(sizeof *w);
    assert_non_null(w);
    uv_buf_t b = uv_buf_init(ok, sizeof ok - 1);
    if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
        free(w);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    *b = head_reader_space(&((conn *)h->data)->rd);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    conn *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->rd.len += (size_t)n;
    const char *head;
    while (head_reader_next(&c->rd, &head) > 0) {
        int svc = -1;
        sscanf(head, "GET /s%d", &svc);
        server *srv = c->srv;
        if (srv->requests < MAX_SEEN)
            srv->seen[srv->requests] = svc;
        srv->requests++;
        if (srv->answer_ms >= 0)
            uv_timer_start(&c->delay, on_delay, (uint64_t)srv->answer_ms, 0);
    }
    if (head_reader_full(&c->rd))
        conn_close(c); /* a request head this large is not ours */
}

static void on_accept(uv_stream_t *ls, int status)
{
    assert_int_equal(status, 0);
    conn *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->srv = ls->data;
    c->tcp.data = c;
    c->delay.data = c;
    uv_tcp_init(ls->loop, &c->tcp);
    uv_timer_init(ls->loop, &c->delay);
    assert_int_equal(uv_accept(ls, (uv_stream_t *)&c->tcp), 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void close_walk(uv_handle_t *h, void *listener)
{
    if (!uv_is_closing(h) && h->type == UV_TCP && h != listener) /* the server's connections */
        conn_close(h->data);
}

static void server_start(server *srv, uv_loop_t *loop, int answer_ms)
{
    memset(srv, 0, sizeof *srv);
    srv->answer_ms = answer_ms;
    uv_tcp_init(loop, &srv->tcp);
    srv->tcp.data = srv;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&srv->tcp, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&srv->tcp, 1024, on_accept), 0);
    int len = sizeof a;
    uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&a, &len);
    srv->port = ntohs(a.sin_port);
}

/* ---- the fixture: a monitor of n services, all on srv, at most max_checks in flight ---- */

typedef struct {
    uv_loop_t loop;
    server srv;
    md_config *cfg;
    md_curl_loop *cl;
    md_view_holder *holder;
    md_monitor *m;
} fixture;

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop for ms, or until *counter reaches target (counter may be NULL). */
static void run_for(fixture *f, int ms, const int *counter, int target)
{
    uv_timer_t tick;
    uv_timer_init(&f->loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (uv_hrtime() < end && (!counter || *counter < target))
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void start(fixture *f, int n, int interval_ms, int timeout_ms, int max_checks, int answer_ms)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    server_start(&f->srv, &f->loop, answer_ms);
    size_t cap = 128 + (size_t)n * 128;
    char *json = malloc(cap);
    assert_non_null(json);
    size_t len = (size_t)snprintf(json, cap, "{\"max_concurrent_checks\":%d,\"services\":[", max_checks);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(json + len, cap - len,
                                "%s{\"name\":\"s%d\",\"url\":\"http://127.0.0.1:%d/s%d\","
                                "\"interval_ms\":%d,\"timeout_ms\":%d}",
                                i ? "," : "", i, f->srv.port, i, interval_ms, timeout_ms);
    snprintf(json + len, cap - len, "]}");
    char err[MD_CONFIG_ERR_LEN] = "";
    if (md_config_parse(json, strlen(json), "t.json", &f->cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    free(json);
    f->cl = md_curl_loop_new(&f->loop);
    f->holder = md_view_holder_new();
    assert_non_null(f->cl);
    assert_non_null(f->holder);
    assert_int_equal(md_monitor_new(&f->loop, f->cfg, f->cl, f->holder, &f->m), 0);
    assert_int_equal(md_monitor_start(f->m), 0);
}

static void on_closed(void *arg)
{
    *(int *)arg = 1;
}

static void stop(fixture *f)
{
    int closed = 0;
    md_monitor_close(f->m, on_closed, &closed);
    md_curl_loop_close(f->cl);
    uv_walk(&f->loop, close_walk, &f->srv.tcp);
    uv_close((uv_handle_t *)&f->srv.tcp, NULL);
    for (int i = 0; i < 1000 && uv_loop_alive(&f->loop); i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_true(closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    md_view_holder_free(f->holder);
    md_config_free(f->cfg);
}

/* ---- tests ---- */

/* 200 services due within one second, one check in flight at a time and none ever answered: by
 * the end of that second 198 checks wait. A waiting check used to hold a ~200-byte copy of its
 * request in the prober (40 KB here); the monitor now queues the service in its own record
 * and builds the request when a slot frees, so the waiting costs next to nothing. */
static void test_waiting_check_bytes(void **state)
{
    (void)state;
    enum { N = 200 };
    fixture f;
    start(&f, N, 1000, 900, 1, -1);
    uint64_t t0 = uv_hrtime();
    run_for(&f, 2000, &f.srv.requests, 1); /* the first check is on the wire */
    assert_int_equal(f.srv.requests, 1);
    size_t before = heap_bytes();
    /* the first times out at 900 ms and the second starts; by 1000 ms every service is due */
    run_for(&f, 1050 - (int)((uv_hrtime() - t0) / 1000000u), NULL, 0);
    assert_int_equal(f.srv.requests, 2);
    size_t after = heap_bytes();
    long grown = (long)after - (long)before;
    long per_waiting = grown / (N - 2);
    print_message("heap grew %ld bytes for %d waiting checks: %ld a check\n", grown, N - 2, per_waiting);
    stop(&f);
    assert_true(per_waiting < 24); /* 193 with the copy */
}

/* 80 services every 200 ms on a prober that runs one 4 ms check at a time (400 checks a second
 * offered, about 200 served): checks wait, yet every service gets its turn in the order it came
 * due (no service is checked again before the others that waited meanwhile), and a check that
 * waited longer than its timeout still succeeds (the timeout counts from the start of its
 * transfer: here a check waits about 400 ms, its timeout is 150 ms). */
static void test_waiting_keeps_order_and_timeouts(void **state)
{
    (void)state;
    enum { N = 80 };
    fixture f;
    start(&f, N, 200, 150, 1, 4);
    run_for(&f, 2000, NULL, 0);
    int total = f.srv.requests;
    assert_true(total > 2 * N);
    assert_true(total < MAX_SEEN);
    /* the fewest checks between two of one service, once all have come due */
    int last[N], min_gap = total;
    for (int i = 0; i < N; i++)
        last[i] = -1;
    for (int k = 0; k < total; k++) {
        int svc = f.srv.seen[k];
        assert_true(svc >= 0 && svc < N);
        if (last[svc] >= N && k - last[svc] < min_gap)
            min_gap = k - last[svc];
        last[svc] = k;
    }
    md_view *v = md_view_holder_get(f.holder);
    assert_non_null(v);
    assert_int_equal(v->n_services, N);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < v->n_services; i++) {
        const md_view_service *s = &v->services[i];
        uint64_t checks = md_view_checks_total(s);
        assert_int_equal(md_view_checks_ok(s), checks); /* no timeouts from waiting */
        lo = checks < lo ? checks : lo;
        hi = checks > hi ? checks : hi;
    }
    md_view_unref(v);
    print_message("%d checks, %llu-%llu a service, at least %d checks between two of one\n", total,
                  (unsigned long long)lo, (unsigned long long)hi, min_gap);
    stop(&f);
    assert_true(hi - lo <= 2);
    /* first come, first served: a service waits behind the others queued before it (a stack or
     * a random pick would serve some twice in a row) */
    assert_true(min_gap >= N / 2);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    md_log_setup(0, MD_LOG_ERROR, stderr);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waiting_check_bytes),
        cmocka_unit_test(test_waiting_keeps_order_and_timeouts),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
