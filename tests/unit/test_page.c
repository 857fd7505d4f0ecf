/* test_page.c: the dashboard as the API serves it: the embedded files and what they may contain
 * (no inline script, no outside URL, no innerHTML), the CSP and nosniff headers on every answer,
 * ETags and 304s on the page and on the documents it polls, and /v1/history. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/page.h"

#define T0 1795864049000LL

/* ---- the embedded files ---- */

static const md__asset *asset(const char *path)
{
    return md__page_find(path, strlen(path));
}

static char *text_of(const md__asset *a)
{
    char *t = malloc(a->len + 1);
    assert_non_null(t);
    memcpy(t, a->data, a->len);
    t[a->len] = '\0';
    return t;
}

static void test_assets_embedded(void **state)
{
    (void)state;
    const char *paths[] = { "/", "/ui/dashboard.css", "/ui/dashboard.js", "/ui/favicon.svg" };
    for (size_t i = 0; i < 4; i++) {
        const md__asset *a = asset(paths[i]);
        assert_non_null(a);
        assert_true(a->len > 100);
        assert_true(a->etag[0] == '"' && a->etag[strlen(a->etag) - 1] == '"');
    }
    assert_null(asset("/ui/"));
    assert_null(asset("/ui/dashboard.jsx"));
    assert_null(md__page_find("/ui/dashboard.js", 5)); /* a prefix is not a match */
    assert_string_equal(asset("/")->content_type, "text/html; charset=utf-8");
    assert_string_equal(asset("/ui/dashboard.js")->content_type, "text/javascript; charset=utf-8");
    assert_string_not_equal(asset("/")->etag, asset("/ui/dashboard.js")->etag);
}

/* The page works offline and under the CSP: nothing from elsewhere, no inline script or style,
 * and the script never turns data into HTML. */
static void test_assets_self_contained(void **state)
{
    (void)state;
    char *html = text_of(asset("/")), *css = text_of(asset("/ui/dashboard.css"));
    char *js = text_of(asset("/ui/dashboard.js"));
    assert_non_null(strstr(html, "<script src=\"/ui/dashboard.js\" defer></script>"));
    const char *p = html;
    int scripts = 0;
    while ((p = strstr(p, "<script")) != NULL) { /* every script is the file above */
        assert_true(strncmp(p, "<script src=\"/ui/", 17) == 0);
        scripts++;
        p++;
    }
    assert_int_equal(scripts, 1);
    assert_null(strstr(html, "<style"));
    assert_null(strstr(html, " style="));
    for (p = strstr(html, " on"); p; p = strstr(p + 1, " on")) { /* no onclick= and friends */
        size_t k = 3;
        while (p[k] >= 'a' && p[k] <= 'z')
            k++;
        assert_false(k > 3 && p[k] == '=');
    }
    assert_null(strstr(html, "http:"));
    assert_null(strstr(html, "https:"));
    assert_null(strstr(css, "http"));
    assert_null(strstr(css, "@import"));
    assert_null(strstr(css, "url("));
    assert_null(strstr(js, "innerHTML"));
    assert_null(strstr(js, "outerHTML"));
    assert_null(strstr(js, "insertAdjacentHTML"));
    assert_null(strstr(js, "document.write"));
    assert_null(strstr(js, "eval("));
    assert_null(strstr(js, "https:"));
    assert_null(strstr(js, "localStorage")); /* the admin token stays in the tab's memory */
    /* the only http: in the script is SVG's namespace name, which is never fetched */
    const char *h = strstr(js, "http:");
    assert_non_null(h);
    assert_true(strncmp(h, "http://www.w3.org/2000/svg'", 27) == 0);
    assert_null(strstr(h + 1, "http:"));
    free(html);
    free(css);
    free(js);
}

static void test_etag_matches(void **state)
{
    (void)state;
    assert_true(md__etag_matches("\"abc\"", 5, "\"abc\""));
    assert_true(md__etag_matches("W/\"abc\"", 7, "\"abc\""));
    assert_true(md__etag_matches("\"abc\"", 5, "W/\"abc\""));
    assert_true(md__etag_matches("\"x\", \"abc\"", 10, "\"abc\""));
    assert_true(md__etag_matches(" \"x\" ,W/\"abc\" ", 14, "\"abc\""));
    assert_true(md__etag_matches("*", 1, "\"abc\""));
    assert_false(md__etag_matches("\"abcd\"", 6, "\"abc\""));
    assert_false(md__etag_matches("\"ab\"", 4, "\"abc\""));
    assert_false(md__etag_matches("abc", 3, "\"abc\""));
    assert_false(md__etag_matches("", 0, "\"abc\""));
    assert_false(md__etag_matches(",,", 2, "\"abc\""));
    char a[64], b[64];
    md__etag_bytes("hello", 5, a);
    md__etag_bytes("hellp", 5, b);
    assert_string_not_equal(a, b);
    assert_true(a[0] == '"');
}

/* ---- /v1/history ---- */

static md_view *history_view(int64_t built_ms)
{
    md_view *s = md_view_alloc(2);
    assert_non_null(s);
    s->built_ms = built_ms;
    s->node_id = md_view_strdup(s, "n1");
    s->node_region = md_view_strdup(s, "eu");
    s->version = "9.9.9";
    s->started_ms = T0;
    s->pid = 4242;
    const char *names[] = { "web", "db \"main\"<b>" };
    for (int i = 0; i < 2; i++) {
        md_view_service *v = &s->services[i];
        v->name = md_view_strdup(s, names[i]);
        v->kind = "http";
        v->target = md_view_strdup(s, "http://127.0.0.1:1/");
        v->interval_ms = 1000;
        v->slow_ms = 3000;
        md_history *h = md_view_calloc(s, sizeof *h);
        assert_non_null(h);
        md_history_init(h, T0);
        v->history = h;
    }
    md_history own; /* a view's histories are read-only copies: filled here, then copied in */
    md_history_init(&own, T0);
    md_check_result r = { .at_ms = T0 + 1000, .latency_us = 12345, .err = MD_ERR_NONE };
    md_history_push(&own, &r);
    r = (md_check_result){ .at_ms = T0 + 2000, .latency_us = 5000000, .err = MD_ERR_TIMEOUT };
    md_history_push(&own, &r);
    s->services[0].history = md_view_history(s, &own);
    assert_non_null(s->services[0].history);
    md_history_free(&own);
    return s;
}

static void test_history_json(void **state)
{
    (void)state;
    md_view *s = history_view(T0 + 5000);
    char *text = md_render_history_json(s);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "node")->valuestring, "n1");
    assert_int_equal(cJSON_GetObjectItem(j, "max_points")->valueint, MD_HISTORY_LEN);
    cJSON *svcs = cJSON_GetObjectItem(j, "services");
    assert_int_equal(cJSON_GetArraySize(svcs), 2);
    cJSON *web = cJSON_GetArrayItem(svcs, 0);
    assert_string_equal(cJSON_GetObjectItem(web, "name")->valuestring, "web");
    assert_int_equal(cJSON_GetObjectItem(web, "slow_ms")->valueint, 3000);
    cJSON *pts = cJSON_GetObjectItem(web, "points");
    assert_int_equal(cJSON_GetArraySize(pts), 2);
    cJSON *p0 = cJSON_GetArrayItem(pts, 0), *p1 = cJSON_GetArrayItem(pts, 1); /* oldest first */
    assert_true(cJSON_GetArrayItem(p0, 0)->valuedouble == (double)(T0 + 1000));
    assert_true(cJSON_GetArrayItem(p0, 1)->valuedouble == 12.3);
    assert_string_equal(cJSON_GetArrayItem(p0, 2)->valuestring, "ok");
    assert_true(cJSON_GetArrayItem(p1, 1)->valuedouble == 5000.0);
    assert_string_equal(cJSON_GetArrayItem(p1, 2)->valuestring, "timeout");
    cJSON *odd = cJSON_GetArrayItem(svcs, 1);
    assert_string_equal(cJSON_GetObjectItem(odd, "name")->valuestring, "db \"main\"<b>");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(odd, "points")), 0);
    /* no "now" in it: the same view renders the same bytes */
    char *again = md_render_history_json(s);
    assert_string_equal(text, again);
    free(again);
    cJSON_Delete(j);
    free(text);
    md_view_unref(s);
}

/* ---- the server ---- */

typedef struct {
    uv_loop_t loop;
    uv_async_t stop;
    md_api *api;
    md_view_holder *holder;
    pthread_t th;
    int port;
} server;

static void on_stop(uv_async_t *a)
{
    server *sv = a->data;
    md_api_close(sv->api);
    uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg)
{
    server *sv = arg;
    uv_run(&sv->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void server_start(server *sv)
{
    memset(sv, 0, sizeof *sv);
    assert_int_equal(uv_loop_init(&sv->loop), 0);
    sv->holder = md_view_holder_new();
    assert_non_null(sv->holder);
    char err[256] = "";
    assert_int_equal(md_api_start(&sv->loop, "127.0.0.1", 0, sv->holder, &sv->api, err, sizeof err), 0);
    sv->port = md_api_bound_port(sv->api);
    assert_int_equal(uv_async_init(&sv->loop, &sv->stop, on_stop), 0);
    sv->stop.data = sv;
    assert_int_equal(pthread_create(&sv->th, NULL, loop_main, sv), 0);
}

static void server_stop(server *sv)
{
    uv_async_send(&sv->stop);
    assert_int_equal(pthread_join(sv->th, NULL), 0);
    assert_int_equal(uv_loop_close(&sv->loop), 0);
    md_view_holder_free(sv->holder);
}

/* exchange sends one raw request and returns everything the server sent (malloc'd). */
static char *exchange(int port, const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = { .tv_sec = 8 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect: %s", strerror(errno));
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    size_t cap = 1 << 18, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (;;) {
        ssize_t n = recv(fd, out + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        assert_true(len < cap - 1);
    }
    out[len] = '\0';
    close(fd);
    return out;
}

/* header copies the value of header name in answer resp into out ("" when absent). */
static void header(const char *resp, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    const char *end = strstr(resp, "\r\n\r\n");
    assert_non_null(end);
    size_t nl = strlen(name);
    for (const char *p = strstr(resp, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)strcspn(v, "\r\n"), v);
            return;
        }
    }
}

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    assert_non_null(b);
    return b + 4;
}

static char *get(int port, const char *path, const char *inm)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n%s%s%s\r\n", path, inm ? "If-None-Match: " : "",
             inm ? inm : "", inm ? "\r\n" : "");
    return exchange(port, req);
}

static void expect_status(const char *resp, int status)
{
    char want[32];
    snprintf(want, sizeof want, "HTTP/1.1 %d ", status);
    if (strncmp(resp, want, strlen(want)) != 0)
        fail_msg("want %d, got: %.300s", status, resp);
}

static void expect_common_headers(const char *resp)
{
    char v[512];
    header(resp, "Content-Security-Policy", v, sizeof v);
    assert_string_equal(v, MD__CSP);
    assert_non_null(strstr(v, "script-src 'self'"));
    assert_null(strstr(v, "unsafe"));
    header(resp, "X-Content-Type-Options", v, sizeof v);
    assert_string_equal(v, "nosniff");
}

static void test_api_page(void **state)
{
    (void)state;
    server sv;
    server_start(&sv);
    char v[512], etag[128];

    /* the page needs no view: it answers while the node is starting */
    char *r = get(sv.port, "/", NULL);
    expect_status(r, 200);
    expect_common_headers(r);
    header(r, "Content-Type", v, sizeof v);
    assert_string_equal(v, "text/html; charset=utf-8");
    header(r, "Cache-Control", v, sizeof v);
    assert_string_equal(v, "no-cache");
    header(r, "ETag", etag, sizeof etag);
    assert_string_equal(etag, asset("/")->etag);
    header(r, "Content-Length", v, sizeof v);
    assert_int_equal(strtoul(v, NULL, 10), asset("/")->len);
    assert_memory_equal(body_of(r), asset("/")->data, asset("/")->len);
    free(r);

    /* revalidation: 304, no body, no length */
    r = get(sv.port, "/", etag);
    expect_status(r, 304);
    expect_common_headers(r);
    header(r, "Content-Length", v, sizeof v);
    assert_string_equal(v, "");
    header(r, "ETag", v, sizeof v);
    assert_string_equal(v, etag);
    assert_string_equal(body_of(r), "");
    free(r);
    r = get(sv.port, "/ui/dashboard.js", "\"other\"");
    expect_status(r, 200);
    header(r, "Content-Type", v, sizeof v);
    assert_string_equal(v, "text/javascript; charset=utf-8");
    free(r);

    r = exchange(sv.port, "HEAD /ui/dashboard.css HTTP/1.1\r\n\r\n");
    expect_status(r, 200);
    assert_string_equal(body_of(r), "");
    free(r);
    r = exchange(sv.port, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    expect_status(r, 405);
    header(r, "Allow", v, sizeof v);
    assert_string_equal(v, "GET, HEAD");
    free(r);
    r = get(sv.port, "/ui/nope.js", NULL);
    expect_status(r, 404);
    expect_common_headers(r); /* every answer, errors too */
    free(r);
    server_stop(&sv);
}

static void test_api_etags(void **state)
{
    (void)state;
    server sv;
    server_start(&sv);
    char v[512], etag[128], hetag[128];
    md_view_holder_publish(sv.holder, history_view(T0 + 5000));

    char *r = get(sv.port, "/v1/status", NULL);
    expect_status(r, 200);
    header(r, "ETag", etag, sizeof etag);
    assert_true(strncmp(etag, "W/\"", 3) == 0); /* weak: generated_at and ages differ */
    header(r, "Cache-Control", v, sizeof v);
    assert_string_equal(v, "no-store");
    free(r);
    r = get(sv.port, "/v1/status", etag);
    expect_status(r, 304);
    free(r);
    r = get(sv.port, "/v1/history", NULL);
    expect_status(r, 200);
    header(r, "ETag", hetag, sizeof hetag);
    assert_true(hetag[0] == '"');
    assert_non_null(strstr(body_of(r), "\"points\":[["));
    free(r);
    r = get(sv.port, "/v1/incidents", NULL);
    expect_status(r, 200);
    char ietag[128];
    header(r, "ETag", ietag, sizeof ietag);
    free(r);
    r = get(sv.port, "/v1/incidents", ietag);
    expect_status(r, 304);
    free(r);

    /* a new view with the same history: status changes, history does not */
    md_view_holder_publish(sv.holder, history_view(T0 + 6000));
    r = get(sv.port, "/v1/status", etag);
    expect_status(r, 200);
    header(r, "ETag", v, sizeof v);
    assert_string_not_equal(v, etag);
    free(r);
    r = get(sv.port, "/v1/history", hetag);
    expect_status(r, 304);
    free(r);
    /* new check results change the history's tag */
    md_view *s = history_view(T0 + 7000);
    md_check_result res = { .at_ms = T0 + 6500, .latency_us = 1000, .err = MD_ERR_NONE };
    md_history own; /* services[1] had none */
    md_history_init(&own, T0);
    md_history_push(&own, &res);
    s->services[1].history = md_view_history(s, &own); /* ours until published */
    assert_non_null(s->services[1].history);
    md_history_free(&own);
    md_view_holder_publish(sv.holder, s);
    r = get(sv.port, "/v1/history", hetag);
    expect_status(r, 200);
    free(r);
    /* documents without a tag keep answering 200 */
    r = get(sv.port, "/v1/health", "*");
    expect_status(r, 200);
    header(r, "ETag", v, sizeof v);
    assert_string_equal(v, "");
    free(r);
    server_stop(&sv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assets_embedded),
        cmocka_unit_test(test_assets_self_contained),
        cmocka_unit_test(test_etag_matches),
        cmocka_unit_test(test_history_json),
        cmocka_unit_test(test_api_page),
        cmocka_unit_test(test_api_etags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
