/* test_alerts.c: alert sentences and bodies (generic, Slack, Discord), and their delivery over
 * a real curl multi on libuv to receivers on 127.0.0.1 in this process: retries with backoff,
 * Retry-After, give-up on 4xx, dead and hung receivers that must not hold up the others, key
 * dedupe, the queue bound, and logs that never show a URL's path or a header's value. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "heal/alerts.h"
#include "base/base.h"

#define SECRET_PATH "T000/B000/SECRETPATHxyz"
#define SECRET_HEADER "Bearer SECRET-HEADER-VALUE-123"

/* ---- the receiver: a small HTTP/1.1 server on the test's loop ---- */

#define MAX_REQS 64

typedef struct {
    char *head;
    char *body;
    int64_t at_us;
} request;

typedef struct receiver {
    uv_loop_t *loop;
    uv_tcp_t server;
    int port;
    int fail_left;          /* answer fail_status this many more times */
    int fail_status;
    int retry_after;        /* > 0: add Retry-After to failures */
    bool never_answer;      /* hung receiver */
    int n;
    request reqs[MAX_REQS];
    struct rconn *conns;
} receiver;

typedef struct rconn {
    uv_tcp_t tcp;
    receiver *r;
    char *buf;
    size_t len, cap;
    bool closing;
    struct rconn *next;
} rconn;

static void rconn_freed(uv_handle_t *h)
{
    rconn *c = h->data;
    free(c->buf);
    free(c);
}

static void rconn_close(rconn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    for (rconn **pp = &c->r->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    uv_close((uv_handle_t *)&c->tcp, rconn_freed);
}

typedef struct {
    uv_write_t w;
    rconn *c;
    char text[256];
} answer;

static void on_answered(uv_write_t *w, int status)
{
    (void)status;
    answer *a = (answer *)w;
    rconn_close(a->c);
    free(a);
}

static void answer_request(rconn *c)
{
    receiver *r = c->r;
    int status = 200;
    char extra[64] = "";
    if (r->fail_left > 0) {
        r->fail_left--;
        status = r->fail_status;
        if (r->retry_after > 0)
            snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", r->retry_after);
    }
    answer *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    a->c = c;
    snprintf(a->text, sizeof(a->text), "HTTP/1.1 %d Test\r\nContent-Length: 2\r\nConnection: close\r\n%s\r\nok", status, extra);
    uv_buf_t b = uv_buf_init(a->text, (unsigned)strlen(a->text));
    assert_int_equal(uv_write(&a->w, (uv_stream_t *)&c->tcp, &b, 1, on_answered), 0);
}

static void rconn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    rconn *c = h->data;
    if (c->cap - c->len < 4096) {
        c->cap = c->cap ? c->cap * 2 : 16384;
        c->buf = realloc(c->buf, c->cap);
        assert_non_null(c->buf);
    }
    *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len - 1));
}

/* Records one complete request (head and Content-Length body), then answers it. */
static void rconn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    rconn *c = s->data;
    if (n < 0) {
        rconn_close(c);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return;
    size_t head_len = (size_t)(end + 4 - c->buf), body_len = 0;
    for (char *p = c->buf; p < end; p++)
        if (strncasecmp(p, "\r\nContent-Length:", 17) == 0)
            body_len = strtoul(p + 17, NULL, 10);
    if (c->len < head_len + body_len)
        return;
    receiver *r = c->r;
    assert_true(r->n < MAX_REQS);
    request *q = &r->reqs[r->n++];
    q->head = strndup(c->buf, head_len);
    q->body = strndup(c->buf + head_len, body_len);
    q->at_us = md_mono_us();
    uv_read_stop(s);
    if (!r->never_answer)
        answer_request(c);
}

static void on_conn(uv_stream_t *server, int status)
{
    assert_int_equal(status, 0);
    receiver *r = server->data;
    rconn *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->r = r;
    uv_tcp_init(r->loop, &c->tcp);
    c->tcp.data = c;
    c->next = r->conns;
    r->conns = c;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
    uv_read_start((uv_stream_t *)&c->tcp, rconn_alloc, rconn_read);
}

static void receiver_start(receiver *r, uv_loop_t *loop)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &r->server);
    r->server.data = r;
    assert_int_equal(uv_tcp_bind(&r->server, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&r->server, 128, on_conn), 0);
    int len = sizeof(a);
    uv_tcp_getsockname(&r->server, (struct sockaddr *)&a, &len);
    r->port = ntohs(a.sin_port);
}

static void receiver_stop(receiver *r)
{
    while (r->conns)
        rconn_close(r->conns);
    uv_close((uv_handle_t *)&r->server, NULL);
    for (int i = 0; i < r->n; i++) {
        free(r->reqs[i].head);
        free(r->reqs[i].body);
    }
}

/* A port on 127.0.0.1 with nobody listening (bound, then closed). */
static int closed_port(void)
{
    uv_loop_t l;
    uv_loop_init(&l);
    uv_tcp_t t;
    uv_tcp_init(&l, &t);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&t, (const struct sockaddr *)&a, 0), 0);
    int len = sizeof(a);
    uv_tcp_getsockname(&t, (struct sockaddr *)&a, &len);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&l, UV_RUN_DEFAULT);
    uv_loop_close(&l);
    return ntohs(a.sin_port);
}

/* ---- the fixture: a loop, a curl loop, a receiver, a sender ---- */

typedef struct {
    char key[MD_ALERT_KEY_MAX + 1];
    size_t hook;
    md_alert_fate fate;
} fate_rec;

typedef struct {
    uv_loop_t loop;
    md_curl_loop *cl;
    receiver rx;
    receiver hung;          /* accepts, reads, never answers */
    md_alerts *al;
    fate_rec fates[64];
    int n_fates;
    bool resend_from_callback;
} fixture;

static void on_fate(const char *key, size_t hook, md_alert_fate fate, void *ctx)
{
    fixture *f = ctx;
    if (f->resend_from_callback && strcmp(key, "chain-1") == 0) {
        /* A callback may send: the sender's state is consistent when it runs. */
        md_alert next = { .event = MD_ALERT_RESOLVED, .service = "web", .idempotency_key = "chain-2", .incident = 7 };
        assert_int_equal(md_alerts_send(f->al, &next), 0);
    }
    assert_true(f->n_fates < 64);
    fate_rec *r = &f->fates[f->n_fates++];
    snprintf(r->key, sizeof(r->key), "%s", key);
    r->hook = hook;
    r->fate = fate;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->cl = md_curl_loop_new(&f->loop);
    assert_non_null(f->cl);
    receiver_start(&f->rx, &f->loop);
    receiver_start(&f->hung, &f->loop);
    f->hung.never_answer = true;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    md_alerts_close(f->al);
    md_curl_loop_close(f->cl);
    receiver_stop(&f->rx);
    receiver_stop(&f->hung);
    for (int i = 0; i < 200 && uv_run(&f->loop, UV_RUN_NOWAIT) != 0; i++)
        usleep(5000);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static md_alerts_opts fast_opts(fixture *f)
{
    return (md_alerts_opts){ .backoff_base_ms = 100, .backoff_max_ms = 1000, .request_timeout_ms = 2000,
                             .seed = 12345, .on_fate = on_fate, .fate_ctx = f };
}

static void make_sender(fixture *f, md_webhook_config *hooks, size_t n, const md_alerts_opts *o)
{
    char err[256];
    assert_int_equal(md_alerts_new(&f->loop, f->cl, hooks, n, o, &f->al, err, sizeof(err)), 0);
}

static void on_check(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *v >= target or limit_ms passes; returns whether it got there. */
static bool run_until(fixture *f, const int *v, int target, int limit_ms)
{
    uv_timer_t tick;
    uv_timer_init(&f->loop, &tick);
    uv_timer_start(&tick, on_check, 10, 10);
    int64_t end = md_mono_us() + (int64_t)limit_ms * 1000;
    while (*v < target && md_mono_us() < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    return *v >= target;
}

static void run_for(fixture *f, int ms)
{
    int never = 0;
    run_until(f, &never, 1, ms);
}

static md_alert sample_alert(const char *key)
{
    return (md_alert){ .event = MD_ALERT_STEP_RESULT, .service = "web", .idempotency_key = key, .node = "n1",
                       .at_ms = 1764415649123, .incident = 42, .step = "restart", .attempt = 2,
                       .attempts_max = 3, .outcome = "failed", .detail = "exit 1\nsome output",
                       .duration_ms = 10000 };
}

static char *url_of(fixture *f, const char *path)
{
    static char buf[4][160];
    static int i;
    char *u = buf[i++ % 4];
    snprintf(u, 160, "http://127.0.0.1:%d/%s", f->rx.port, path);
    return u;
}

/* ---- sentences and bodies (pure) ---- */

static void test_texts(void **state)
{
    (void)state;
    struct {
        md_alert a;
        const char *want;
    } cases[] = {
        { { .event = MD_ALERT_INCIDENT_OPEN, .incident = 42, .votes_down = 2, .votes_total = 3 },
          "web: incident 42 opened (2 of 3 nodes see it DOWN)" },
        { { .event = MD_ALERT_INCIDENT_OPEN, .incident = 45, .reopen_of = 40, .votes_down = 3, .votes_total = 3 },
          "web: incident 45 opened, continuing incident 40's ladder (3 of 3 nodes see it DOWN)" },
        { { .event = MD_ALERT_STEP_INTENT, .incident = 42, .step = "restart", .attempt = 1, .attempts_max = 3 },
          "web: restart #1 of 3 starting (incident 42)" },
        { { .event = MD_ALERT_STEP_INTENT, .step = "restart", .attempt = 1, .attempts_max = 3, .shadow = true },
          "web: WOULD restart (shadow mode) \xE2\x80\x94 restart #1 of 3" },
        { { .event = MD_ALERT_STEP_INTENT, .incident = 42, .step = "rollback", .attempt = 1, .attempts_max = 1, .shadow = true },
          "web: WOULD roll back (shadow mode) \xE2\x80\x94 rollback #1 of 1 (incident 42)" },
        { { .event = MD_ALERT_STEP_RESULT, .step = "restart", .attempt = 2, .attempts_max = 3, .outcome = "failed",
            .duration_ms = 10000, .detail = "exit 1\nlots of output" },
          "web: restart #2 of 3 failed after 10.0 s: exit 1" },
        { { .event = MD_ALERT_STEP_RESULT, .step = "restart", .attempt = 1, .attempts_max = 3, .outcome = "ok",
            .duration_ms = 2140, .detail = "exit 0" },
          "web: restart #1 of 3 completed after 2.1 s: exit 0" },
        { { .event = MD_ALERT_STEP_RESULT, .step = "redeploy", .attempt = 1, .attempts_max = 2, .outcome = "timeout",
            .duration_ms = 120000 },
          "web: redeploy #1 of 2 timed out after 2 min 0 s" },
        { { .event = MD_ALERT_STEP_RESULT, .step = "restart", .attempt = 3, .attempts_max = 3, .outcome = "unknown",
            .duration_ms = -1, .detail = "no result within its timeout (30000 ms): n2, which started it, stopped "
                                         "leading or failed; treated as attempted" },
          "web: restart #3 of 3 has no result; counted as attempted: no result within its timeout (30000 ms): n2, "
          "which started it, stopped leading or failed; treated as attempted" },
        { { .event = MD_ALERT_STEP_RESULT, .step = "restart", .attempt = 1, .attempts_max = 3,
            .outcome = "not-attempted", .duration_ms = 0,
            .detail = "not attempted: the service recovered (verdict UP) while it was blocked (auth)" },
          "web: restart #1 of 3 was not attempted and does not count; the ladder stays on this step: not attempted: "
          "the service recovered (verdict UP) while it was blocked (auth)" },
        { { .event = MD_ALERT_BLOCKED, .incident = 42, .step = "restart", .attempt = 1, .attempts_max = 3,
            .detail = "the Railway API refused the token (auth)" },
          "web: restart #1 of 3 blocked: the Railway API refused the token (auth); it does not count as an attempt, "
          "and medic tries again with backoff (at most every 30 s) until it gets through, the service recovers or "
          "an operator pauses it (incident 42)" },
        { { .event = MD_ALERT_STEP_RESULT, .step = "restart", .attempt = 1, .attempts_max = 3, .outcome = "skipped",
            .shadow = true },
          "web: restart #1 of 3 skipped (shadow mode): nothing was done" },
        { { .event = MD_ALERT_RESOLVED, .incident = 42 }, "web: incident 42 resolved, the service is UP again" },
        { { .event = MD_ALERT_RESOLVED, .incident = 42, .detail = "UP after restart #1" },
          "web: incident 42 resolved: UP after restart #1" },
        { { .event = MD_ALERT_EXHAUSTED, .incident = 42 },
          "web: incident 42 exhausted: every step of the ladder has been tried; medic stops acting until the "
          "service recovers or an operator resumes it" },
        { { .event = MD_ALERT_SPLIT, .split_for_ms = 125000, .votes_down = 1, .votes_total = 3 },
          "web: nodes disagree about it for 2 min 5 s (1 of 3 see it DOWN); medic will not act without a quorum" },
        { { .event = MD_ALERT_DEGRADED, .eta_ms = 45000, .detail = "EWMA 2400 ms, slow at 3000 ms" },
          "web: DEGRADED warning: latency is rising and should cross the slow threshold in about 45.0 s "
          "(EWMA 2400 ms, slow at 3000 ms)" },
        { { .event = MD_ALERT_RATE_LIMITED, .incident = 42, .limit = 10, .retry_in_ms = 723000 },
          "web: action limit reached (10 per hour); next action possible in 12 min 3 s (incident 42)" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cases[i].a.service = "web";
        char out[MD_ALERT_TEXT_MAX];
        size_t n = md_alert_text(&cases[i].a, out, sizeof(out));
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: got \"%s\"", i, out);
        assert_int_equal(n, strlen(out));
    }
    char small[16];
    assert_int_equal(md_alert_text(&cases[0].a, small, sizeof(small)), 15);
    assert_string_equal(small, "web: incident 4");
}

static cJSON *render_parse(const md_alert *a, md_webhook_format fmt)
{
    char *body = NULL;
    assert_int_equal(md_alert_render(a, fmt, &body), 0);
    cJSON *j = cJSON_Parse(body);
    assert_non_null(j);
    free(body);
    return j;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void test_bodies(void **state)
{
    (void)state;
    md_alert a = sample_alert("incident-42-result-58");
    cJSON *g = render_parse(&a, MD_WEBHOOK_GENERIC);
    assert_string_equal(jstr(g, "event"), "step_result");
    assert_string_equal(jstr(g, "service"), "web");
    assert_int_equal((int)jnum(g, "incident"), 42);
    assert_string_equal(jstr(g, "step"), "restart");
    assert_int_equal((int)jnum(g, "attempt"), 2);
    assert_int_equal((int)jnum(g, "attempts_max"), 3);
    assert_string_equal(jstr(g, "outcome"), "failed");
    assert_string_equal(jstr(g, "detail"), "exit 1\nsome output");
    assert_string_equal(jstr(g, "node"), "n1");
    assert_string_equal(jstr(g, "at"), "2025-11-29T11:27:29.123Z");
    assert_string_equal(jstr(g, "idempotency_key"), "incident-42-result-58");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(g, "shadow")));
    assert_string_equal(jstr(g, "text"), "web: restart #2 of 3 failed after 10.0 s: exit 1");
    assert_int_equal((int)jnum(g, "duration_ms"), 10000);
    cJSON_Delete(g);

    /* Fields an event does not use are null, not missing. */
    md_alert split = { .event = MD_ALERT_SPLIT, .service = "web", .idempotency_key = "split-web-1", .shadow = true,
                       .split_for_ms = 61000, .votes_down = 1, .votes_total = 3 };
    g = render_parse(&split, MD_WEBHOOK_GENERIC);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(g, "incident")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(g, "step")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(g, "attempt")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(g, "detail")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "shadow")));
    assert_int_equal((int)jnum(cJSON_GetObjectItemCaseSensitive(g, "votes"), "down"), 1);
    assert_int_equal((int)jnum(g, "split_for_ms"), 61000);
    cJSON_Delete(g);

    /* Slack: only "text", with its markup characters escaped so output cannot ping anyone. */
    md_alert r = { .event = MD_ALERT_RESOLVED, .service = "web", .idempotency_key = "k", .incident = 42,
                   .detail = "<!channel> & <@U123>" };
    cJSON *s = render_parse(&r, MD_WEBHOOK_SLACK);
    assert_int_equal(cJSON_GetArraySize(s), 1);
    assert_string_equal(jstr(s, "text"), "web: incident 42 resolved: &lt;!channel&gt; &amp; &lt;@U123&gt;");
    cJSON_Delete(s);

    /* Discord: "content" plus allowed_mentions that allow none. */
    r.detail = "@everyone look";
    cJSON *d = render_parse(&r, MD_WEBHOOK_DISCORD);
    assert_string_equal(jstr(d, "content"), "web: incident 42 resolved: @everyone look");
    const cJSON *parse = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "allowed_mentions"), "parse");
    assert_true(cJSON_IsArray(parse));
    assert_int_equal(cJSON_GetArraySize(parse), 0);
    cJSON_Delete(d);

    /* Output bytes that are not text become '?', UTF-8 stays; long details are cut. */
    a.detail = "bad\xff\xfe \x01 ok \xc3\xa9\xed\xa0\x80";
    g = render_parse(&a, MD_WEBHOOK_GENERIC);
    assert_string_equal(jstr(g, "detail"), "bad?? ? ok \xc3\xa9???");
    cJSON_Delete(g);
    char *big = malloc(10001);
    assert_non_null(big);
    memset(big, 'x', 10000);
    big[10000] = '\0';
    a.detail = big;
    g = render_parse(&a, MD_WEBHOOK_GENERIC);
    assert_int_equal(strlen(jstr(g, "detail")), MD_ALERT_DETAIL_MAX);
    cJSON_Delete(g);
    d = render_parse(&a, MD_WEBHOOK_DISCORD);
    assert_true(strlen(jstr(d, "content")) <= MD_ALERT_DISCORD_MAX);
    cJSON_Delete(d);
    free(big);

    char *body = NULL;
    a.idempotency_key = NULL;
    assert_int_equal(md_alert_render(&a, MD_WEBHOOK_GENERIC, &body), -EINVAL);
    assert_null(body);
}

/* ---- delivery ---- */

static const char *find_header(const request *q, const char *line)
{
    return strstr(q->head, line);
}

static const request *req_for_path(fixture *f, const char *path)
{
    for (int i = 0; i < f->rx.n; i++)
        if (strncmp(f->rx.reqs[i].head + 5, path, strlen(path)) == 0)
            return &f->rx.reqs[i];
    fail_msg("no request for %s", path);
    return NULL;
}

static void test_delivery_formats_and_headers(void **state)
{
    fixture *f = *state;
    md_header auth = { "Authorization", SECRET_HEADER };
    md_webhook_config hooks[3] = {
        { .url = url_of(f, "generic"), .format = MD_WEBHOOK_GENERIC, .headers = &auth, .n_headers = 1 },
        { .url = url_of(f, "slack/" SECRET_PATH), .format = MD_WEBHOOK_SLACK },
        { .url = url_of(f, "discord"), .format = MD_WEBHOOK_DISCORD },
    };
    md_alerts_opts o = fast_opts(f);
    make_sender(f, hooks, 3, &o);
    md_alert a = sample_alert("incident-42-intent-57");
    assert_int_equal(md_alerts_send(f->al, &a), 0);
    assert_true(run_until(f, &f->n_fates, 3, 5000));
    assert_int_equal(f->rx.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f->fates[i].fate, MD_ALERT_DELIVERED);
        assert_string_equal(f->fates[i].key, "incident-42-intent-57");
    }

    const request *g = req_for_path(f, "/generic");
    assert_non_null(find_header(g, "Idempotency-Key: incident-42-intent-57\r\n"));
    assert_non_null(find_header(g, "Authorization: " SECRET_HEADER "\r\n"));
    assert_non_null(find_header(g, "Content-Type: application/json\r\n"));
    cJSON *j = cJSON_Parse(g->body);
    assert_non_null(j);
    assert_string_equal(jstr(j, "idempotency_key"), "incident-42-intent-57");
    assert_string_equal(jstr(j, "event"), "step_result");
    cJSON_Delete(j);

    const request *s = req_for_path(f, "/slack/" SECRET_PATH);
    assert_non_null(find_header(s, "Idempotency-Key: incident-42-intent-57\r\n"));
    assert_null(find_header(s, "Authorization:")); /* headers belong to their own webhook */
    j = cJSON_Parse(s->body);
    assert_string_equal(jstr(j, "text"), "web: restart #2 of 3 failed after 10.0 s: exit 1");
    cJSON_Delete(j);

    j = cJSON_Parse(req_for_path(f, "/discord")->body);
    assert_string_equal(jstr(j, "content"), "web: restart #2 of 3 failed after 10.0 s: exit 1");
    cJSON_Delete(j);

    md_alerts_counters c;
    md_alerts_get_counters(f->al, &c);
    assert_int_equal(c.sent, 3);
    assert_int_equal(c.failed, 0);
    assert_int_equal(c.queued, 0);
    assert_int_equal(c.retries, 0);
}

static void test_retry_500_then_ok(void **state)
{
    fixture *f = *state;
    f->rx.fail_left = 2;
    f->rx.fail_status = 500;
    md_webhook_config hook = { .url = url_of(f, "hook"), .format = MD_WEBHOOK_GENERIC };
    md_alerts_opts o = fast_opts(f);
    make_sender(f, &hook, 1, &o);
    md_alert a = sample_alert("incident-1-open");
    int64_t t0 = md_mono_us();
    assert_int_equal(md_alerts_send(f->al, &a), 0);
    assert_true(run_until(f, &f->n_fates, 1, 5000));
    int64_t took_ms = (md_mono_us() - t0) / 1000;
    assert_int_equal(f->fates[0].fate, MD_ALERT_DELIVERED);
    assert_int_equal(f->rx.n, 3);
    /* Backoff with equal jitter: 50-100 ms, then 100-200 ms. */
    int64_t gap1 = (f->rx.reqs[1].at_us - f->rx.reqs[0].at_us) / 1000;
    int64_t gap2 = (f->rx.reqs[2].at_us - f->rx.reqs[1].at_us) / 1000;
    assert_true(gap1 >= 45 && gap1 < 1000);
    assert_true(gap2 >= 95 && gap2 < 1000);
    assert_true(took_ms < 2000);
    /* The same key on every try, so the receiver can tell a retry from a new alert. */
    for (int i = 0; i < 3; i++)
        assert_non_null(find_header(&f->rx.reqs[i], "Idempotency-Key: incident-1-open\r\n"));
    md_alerts_counters c;
    md_alerts_get_counters(f->al, &c);
    assert_int_equal(c.sent, 1);
    assert_int_equal(c.retries, 2);
    assert_int_equal(c.failed, 0);
}

static void test_429_retry_after(void **state)
{
    fixture *f = *state;
    f->rx.fail_left = 1;
    f->rx.fail_status = 429;
    f->rx.retry_after = 1;
    md_webhook_config hook = { .url = url_of(f, "hook"), .format = MD_WEBHOOK_SLACK };
    md_alerts_opts o = fast_opts(f);
    o.backoff_base_ms = 50; /* without Retry-After the retry would come within 50 ms */
    make_sender(f, &hook, 1, &o);
    md_alert a = sample_alert("k-429");
    assert_int_equal(md_alerts_send(f->al, &a), 0);
    assert_true(run_until(f, &f->n_fates, 1, 5000));
    assert_int_equal(f->fates[0].fate, MD_ALERT_DELIVERED);
    assert_int_equal(f->rx.n, 2);
    int64_t gap = (f->rx.reqs[1].at_us - f->rx.reqs[0].at_us) / 1000;
    assert_true(gap >= 950);
    assert_true(gap < 2000);
}

static void test_400_gives_up(void **state)
{
    fixture *f = *state;
    f->rx.fail_left = 100;
    f->rx.fail_status = 400;
    md_webhook_config hook = { .url = url_of(f, "hook"), .format = MD_WEBHOOK_DISCORD };
    md_alerts_opts o = fast_opts(f);
    make_sender(f, &hook, 1, &o);
    md_alert a = sample_alert("k-400");
    assert_int_equal(md_alerts_send(f->al, &a), 0);
    assert_true(run_until(f, &f->n_fates, 1, 5000));
    assert_int_equal(f->fates[0].fate, MD_ALERT_GAVE_UP);
    run_for(f, 300);
    assert_int_equal(f->rx.n, 1); /* never asked again */
    md_alerts_counters c;
    md_alerts_get_counters(f->al, &c);
    assert_int_equal(c.failed, 1);
    assert_int_equal(c.sent, 0);
    assert_int_equal(c.queued, 0);
}

/* A refused port and a receiver that never answers sit beside a healthy one: the healthy one
 * gets every alert at once, the others fail in the background and are counted. */
static void test_dead_receivers_do_not_block(void **state)
{
    fixture *f = *state;
    char dead[96], hung[96];
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/dead", closed_port());
    snprintf(hung, sizeof(hung), "http://127.0.0.1:%d/hung", f->hung.port);
    md_webhook_config hooks[3] = {
        { .url = dead, .format = MD_WEBHOOK_GENERIC },
        { .url = hung, .format = MD_WEBHOOK_GENERIC },
        { .url = url_of(f, "live"), .format = MD_WEBHOOK_GENERIC },
    };
    md_alerts_opts o = fast_opts(f);
    o.request_timeout_ms = 400;
    o.max_attempts = 2;
    o.max_inflight_per_hook = 2;
    make_sender(f, hooks, 3, &o);
    int64_t t0 = md_mono_us();
    for (int i = 0; i < 6; i++) {
        char key[32];
        snprintf(key, sizeof(key), "alert-%d", i);
        md_alert a = sample_alert(key);
        assert_int_equal(md_alerts_send(f->al, &a), 0);
    }
    assert_true(run_until(f, &f->rx.n, 6, 3000));
    assert_true((md_mono_us() - t0) / 1000 < 1000); /* well before any timeout of the hung one */
    assert_true(run_until(f, &f->n_fates, 18, 15000));
    md_alerts_counters c;
    md_alerts_get_counters(f->al, &c);
    assert_int_equal(c.sent, 6);
    assert_int_equal(c.failed, 12);
    assert_int_equal(c.queued, 0);
    int per_hook[3] = { 0 };
    for (int i = 0; i < f->n_fates; i++) {
        per_hook[f->fates[i].hook]++;
        assert_int_equal(f->fates[i].fate, f->fates[i].hook == 2 ? MD_ALERT_DELIVERED : MD_ALERT_GAVE_UP);
    }
    assert_int_equal(per_hook[0], 6);
    assert_int_equal(per_hook[1], 6);
    assert_int_equal(f->hung.n, 12); /* two tries each, none answered */
}

static void test_same_key_not_sent_twice(void **state)
{
    fixture *f = *state;
    md_webhook_config hook = { .url = url_of(f, "hook"), .format = MD_WEBHOOK_GENERIC };
    md_alerts_opts o = fast_opts(f);
    make_sender(f, &hook, 1, &o);
    md_alert a = sample_alert("incident-42-intent-57");
    assert_int_equal(md_alerts_send(f->al, &a), 0);
    assert_int_equal(md_alerts_send(f->al, &a), -EALREADY); /* still queued */
    assert_true(run_until(f, &f->n_fates, 1, 5000));
    assert_int_equal(md_alerts_send(f->al, &a), -EALREADY); /* delivered */
    assert_true(md_alerts_seen(f->al, "incident-42-intent-57"));
    /* A key the ledger says an earlier leader sent is refused too. */
    assert_false(md_alerts_seen(f->al, "incident-42-result-58"));
    assert_int_equal(md_alerts_mark_sent(f->al, "incident-42-result-58"), 0);
    md_alert b = sample_alert("incident-42-result-58");
    assert_int_equal(md_alerts_send(f->al, &b), -EALREADY);
    run_for(f, 200);
    assert_int_equal(f->rx.n, 1);
    md_alerts_counters c;
    md_alerts_get_counters(f->al, &c);
    assert_int_equal(c.duplicates, 3);
    assert_int_equal(c.sent, 1);
    /* Bad keys and alerts are refused outright. */
    md_alert bad = sample_alert("has space");
    assert_int_equal(md_alerts_send(f->al, &bad), -EINVAL);
    bad = sample_alert("fine");
    bad.service = NULL;
    assert_int_equal(md_alerts_send(f->al, &bad), -EINVAL);
    assert_int_equal(md_alerts_mark_sent(f->al, ""), -EINVAL);
}

static void test_queue_bound_drops_oldest(void **state)
{
    fixture *f = *state;
    char dead[96];
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/dead", closed_port());
    md_webhook_config hook = { .url = dead, .format = MD_WEBHOOK_GENERIC };
    md_alerts_opts o = fast_opts(f);
    o.queue_max = 3;
    o.backoff_base_ms = 10000; /* everything stays queued */
    make_sender(f, &hook, 1, &o);
    for (int i = 1; i <= 5; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        md_alert a = sample_alert(key);
        assert_int_equal(md_alerts_send(f->al, &a), 0);
        run_for(f, 20);
    }
    assert_int_equal(f->n_fates, 2);
    assert_string_equal(f->fates[0].key, "k1");
    assert_int_equal(f->fates[0].fate, MD_ALERT_DROPPED);
    assert_string_equal(f->fates[1].key, "k2");
    assert_int_equal(f->fates[1].fate, MD_ALERT_DROPPED);
    md_alerts_counters c;
    md_alerts_get_counters(f->al, &c);
    assert_int_equal(c.dropped, 2);
    assert_int_equal(c.queued, 3);
    /* teardown closes the sender with three alerts still pending */
}

static void test_callback_may_send(void **state)
{
    fixture *f = *state;
    f->resend_from_callback = true;
    md_webhook_config hook = { .url = url_of(f, "hook"), .format = MD_WEBHOOK_GENERIC };
    md_alerts_opts o = fast_opts(f);
    make_sender(f, &hook, 1, &o);
    md_alert a = sample_alert("chain-1");
    assert_int_equal(md_alerts_send(f->al, &a), 0);
    assert_true(run_until(f, &f->n_fates, 2, 5000));
    assert_string_equal(f->fates[1].key, "chain-2");
    assert_int_equal(f->fates[1].fate, MD_ALERT_DELIVERED);
    assert_int_equal(f->rx.n, 2);
}

static char *slurp(FILE *fp)
{
    fflush(fp);
    long n = ftell(fp);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    rewind(fp);
    assert_int_equal(fread(s, 1, (size_t)n, fp), (size_t)n);
    s[n] = '\0';
    return s;
}

/* Every log line the sender writes, on every path, names a webhook by scheme://host:port only. */
static void test_logs_hide_secrets(void **state)
{
    fixture *f = *state;
    FILE *fp = tmpfile();
    assert_non_null(fp);
    md_log_setup(0, MD_LOG_DEBUG, fp);
    f->rx.fail_left = 1;
    f->rx.fail_status = 503;
    char dead[160];
    int dead_port = closed_port();
    snprintf(dead, sizeof(dead), "http://user:SECRETPW@127.0.0.1:%d/" SECRET_PATH "?token=SECRETQUERY", dead_port);
    md_header auth = { "Authorization", SECRET_HEADER };
    md_webhook_config hooks[2] = {
        { .url = url_of(f, SECRET_PATH), .format = MD_WEBHOOK_SLACK, .headers = &auth, .n_headers = 1 },
        { .url = dead, .format = MD_WEBHOOK_GENERIC, .headers = &auth, .n_headers = 1 },
    };
    md_alerts_opts o = fast_opts(f);
    o.max_attempts = 2;
    o.queue_max = 1;
    make_sender(f, hooks, 2, &o);
    md_alert a = sample_alert("log-1");
    assert_int_equal(md_alerts_send(f->al, &a), 0);
    assert_true(run_until(f, &f->n_fates, 2, 5000)); /* delivered after a 503; the dead one gave up */
    f->rx.never_answer = true;
    md_alert b = sample_alert("log-2"), c = sample_alert("log-3");
    assert_int_equal(md_alerts_send(f->al, &b), 0);
    assert_int_equal(md_alerts_send(f->al, &c), 0); /* drops log-2 */
    md_alert d = sample_alert("log-3");
    assert_int_equal(md_alerts_send(f->al, &d), -EALREADY);
    md_log_setup(0, MD_LOG_INFO, NULL);

    char *log = slurp(fp);
    fclose(fp);
    char target[64];
    snprintf(target, sizeof(target), "target=http://127.0.0.1:%d ", f->rx.port);
    assert_non_null(strstr(log, target));
    snprintf(target, sizeof(target), "target=http://127.0.0.1:%d ", dead_port);
    assert_non_null(strstr(log, target));
    const char *events[] = { "alert_retry", "alert_delivered", "alert_gave_up", "alert_dropped", "alert_duplicate" };
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (!strstr(log, events[i]))
            fail_msg("no %s in the log:\n%s", events[i], log);
    const char *secrets[] = { "SECRETPATH", "SECRET-HEADER", "SECRETPW", "SECRETQUERY", "T000", "Bearer" };
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (strstr(log, secrets[i]))
            fail_msg("the log shows %s:\n%s", secrets[i], log);
    free(log);
}

static void test_new_rejects_bad_webhooks(void **state)
{
    fixture *f = *state;
    char err[256];
    md_alerts *al = NULL;
    md_webhook_config bad_url = { .url = "ftp://example.com/" SECRET_PATH, .format = MD_WEBHOOK_GENERIC };
    assert_int_equal(md_alerts_new(&f->loop, f->cl, &bad_url, 1, NULL, &al, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "webhooks[0].url: not an http(s) URL");
    assert_null(al);
    md_header h = { "X-Token", "abc\r\nInjected: yes" };
    md_webhook_config hooks[2] = {
        { .url = url_of(f, "ok"), .format = MD_WEBHOOK_GENERIC },
        { .url = url_of(f, "ok"), .format = MD_WEBHOOK_GENERIC, .headers = &h, .n_headers = 1 },
    };
    assert_int_equal(md_alerts_new(&f->loop, f->cl, hooks, 2, NULL, &al, err, sizeof(err)), -EINVAL);
    assert_null(strstr(err, "abc"));
    assert_non_null(strstr(err, "webhooks[1].headers[0]"));
    /* No webhooks: keys are still remembered, nothing is queued. */
    make_sender(f, NULL, 0, NULL);
    md_alert a = sample_alert("k");
    assert_int_equal(md_alerts_send(f->al, &a), 0);
    assert_int_equal(md_alerts_send(f->al, &a), -EALREADY);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_texts),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test_setup_teardown(test_delivery_formats_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_500_then_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_429_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_400_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_receivers_do_not_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_key_not_sent_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound_drops_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_may_send, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs_hide_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_rejects_bad_webhooks, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
