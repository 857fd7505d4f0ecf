/* test_render.c: unit tests of snapshots (node/snapshot.c), the JSON and Prometheus renderers
 * (node/render_json.c, node/render_metrics.c), and the API server end to end (node/api.c): a
 * private uv loop runs the server in a second thread while libcurl and raw sockets in the main
 * thread talk to it over 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "api.h"
#include "render.h"
#include "snapshot.h"

#define T0 INT64_C(1700000000000) /* 2023-11-14T22:13:20.000Z */
#define NOW (T0 + 90500)
#define ODD_NAME "db \"primary\"\n\\"
#define ODD_NAME_URL "db%20%22primary%22%0A%5C"

/* ---- a hand-built snapshot ---- */

static void push(md_snap_service *v, int64_t at_ms, uint32_t latency_us, md_err_class err)
{
    md_history_push(&v->history, &(md_check_result){ .at_ms = at_ms, .latency_us = latency_us, .err = err });
}

static void fill_api(md_snapshot *s, md_snap_service *a)
{
    a->name = md_snapshot_strdup(s, "api");
    a->kind = "http";
    a->target = md_snapshot_strdup(s, "https://api.example.test/health");
    a->state = MD_STATE_UP;
    a->state_since_ms = T0 + 1234;
    snprintf(a->state_cause, sizeof a->state_cause, "1 consecutive success");
    a->consecutive_successes = 7;
    a->checks_total = 10;
    a->checks_ok = 9;
    a->uptime_pct = 90;
    a->uptime_hour_pct = 90.123456;
    a->last_check_ms = a->last_success_ms = T0 + 50000;
    a->last_latency_ms = 12.34567;
    a->avg_latency_ms = 10.5;
    a->ewma_latency_ms = 11.25;
    a->trend_slope_ms_per_s = 0.5;
    a->trend_warning = true;
    a->trend_eta_ms = 45000;
    a->last_http_status = 200;
    a->interval_ms = 10000;
    a->timeout_ms = 5000;
    a->slow_ms = 3000;
    a->cert_expiry_ms = T0 + 5 * 86400000LL + 123;
    a->cert_warning = true;
    a->results[MD_ERR_NONE] = 9;
    a->results[MD_ERR_TIMEOUT] = 1;
    for (int b = 0; b < MD_DURATION_BUCKETS; b++) {
        a->duration_bucket[b] = b < 2 ? 0 : 9; /* nine checks of ~12 ms, one timeout over 5 s */
    }
    a->duration_bucket[MD_DURATION_BUCKETS - 2] = 9;
    a->duration_bucket[MD_DURATION_BUCKETS - 1] = 10;
    a->duration_count = 10;
    a->duration_sum_s = 5.1;
    a->prewarm_total = 3;
    a->prewarm_failed = 1;
    md_history_init(&a->history, T0);
    push(a, T0 + 30000, 10000, MD_ERR_NONE);
    push(a, T0 + 40000, 5000000, MD_ERR_TIMEOUT);
    push(a, T0 + 50000, 12345, MD_ERR_NONE);
}

static md_snapshot *make_snapshot(void)
{
    md_snapshot *s = md_snapshot_alloc(4);
    assert_non_null(s);
    s->built_ms = T0 + 60000;
    s->node_id = md_snapshot_strdup(s, "node-a");
    s->node_region = md_snapshot_strdup(s, "eu-west");
    s->version = "9.9.9";
    s->started_ms = T0;
    s->pid = 4242;
    fill_api(s, &s->services[0]);

    md_snap_service *d = &s->services[1];
    d->name = md_snapshot_strdup(s, ODD_NAME);
    d->kind = "tcp";
    d->target = md_snapshot_strdup(s, "10.0.0.5:5432");
    d->state = MD_STATE_DOWN;
    d->state_since_ms = T0 + 20000;
    snprintf(d->state_cause, sizeof d->state_cause, "2 consecutive failures (last: connect)");
    d->consecutive_failures = 4;
    d->checks_total = 4;
    d->last_check_ms = T0 + 45000;
    d->last_err = MD_ERR_CONNECT;
    d->results[MD_ERR_CONNECT] = 4;
    d->interval_ms = 10000;
    md_history_init(&d->history, T0);

    md_snap_service *c = &s->services[2];
    c->name = md_snapshot_strdup(s, "cache");
    c->kind = "http";
    c->state = MD_STATE_DEGRADED;
    md_history_init(&c->history, T0);

    md_snap_service *n = &s->services[3];
    n->name = md_snapshot_strdup(s, "new");
    n->kind = "tcp";
    md_history_init(&n->history, T0);
    return s;
}

/* ---- small helpers ---- */

static cJSON *path(cJSON *o, const char *dotted)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", dotted);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
        o = cJSON_GetObjectItemCaseSensitive(o, k);
    }
    if (o == NULL) {
        fail_msg("no field %s", dotted);
    }
    return o;
}

static double num(cJSON *o, const char *dotted)
{
    cJSON *v = path(o, dotted);
    if (!cJSON_IsNumber(v)) {
        fail_msg("%s is not a number", dotted);
    }
    return v->valuedouble;
}

static const char *str(cJSON *o, const char *dotted)
{
    cJSON *v = path(o, dotted);
    if (!cJSON_IsString(v)) {
        fail_msg("%s is not a string", dotted);
    }
    return v->valuestring;
}

static void is_null(cJSON *o, const char *dotted)
{
    if (!cJSON_IsNull(path(o, dotted))) {
        fail_msg("%s is not null", dotted);
    }
}

static cJSON *parse_json(char *text)
{
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    return j;
}

static cJSON *find_service(cJSON *arr, const char *name)
{
    cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (strcmp(str(e, "name"), name) == 0) {
            return e;
        }
    }
    fail_msg("service %s not in the array", name);
    return NULL;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* ---- snapshot and holder ---- */

static int refreshes;
static md_snap_holder *refresh_holder;

static void refresh(void *ctx)
{
    assert_ptr_equal(ctx, &refreshes);
    if (refreshes++ == 0) {
        md_snap_holder_publish(refresh_holder, make_snapshot()); /* lazily, on first read */
    }
}

static void test_snapshot_holder(void **state)
{
    (void)state;
    md_snap_holder *h = md_snap_holder_new();
    assert_non_null(h);
    assert_null(md_snap_holder_get(h));
    md_snapshot *s = make_snapshot();
    assert_int_equal(s->refs, 1);
    assert_null(md_snapshot_strdup(s, NULL));
    md_snap_holder_publish(h, s);
    md_snapshot *g = md_snap_holder_get(h);
    assert_ptr_equal(g, s);
    assert_int_equal(s->refs, 2);
    assert_ptr_equal(md_snapshot_find(g, "cache"), &g->services[2]);
    assert_null(md_snapshot_find(g, "nope"));
    /* a newer snapshot replaces it; the old one lives on while referenced (ASan would see a UAF) */
    md_snap_holder_publish(h, make_snapshot());
    assert_int_equal(g->refs, 1);
    assert_string_equal(g->services[0].name, "api");
    md_snapshot_unref(g);
    g = md_snap_holder_get(h);
    assert_ptr_not_equal(g, NULL);
    md_snapshot_unref(g);
    md_snap_holder_free(h);

    /* the refresh hook runs before every get */
    h = md_snap_holder_new();
    refresh_holder = h;
    refreshes = 0;
    md_snap_holder_set_refresh(h, refresh, &refreshes);
    g = md_snap_holder_get(h);
    assert_non_null(g);
    md_snapshot_unref(g);
    g = md_snap_holder_get(h);
    md_snapshot_unref(g);
    assert_int_equal(refreshes, 2);
    md_snap_holder_set_refresh(h, NULL, NULL);
    md_snap_holder_free(h);

    assert_true(md_duration_bucket_le[0] == 0.005 && md_duration_bucket_le[MD_DURATION_BUCKETS - 1] == 30);
}

/* ---- JSON documents ---- */

static void check_node(cJSON *node)
{
    assert_string_equal(str(node, "id"), "node-a");
    assert_string_equal(str(node, "region"), "eu-west");
    assert_string_equal(str(node, "version"), "9.9.9");
    assert_int_equal(num(node, "pid"), 4242);
    assert_string_equal(str(node, "started_at"), "2023-11-14T22:13:20.000Z");
    assert_true(num(node, "started_at_ms") == (double)T0);
    assert_int_equal(num(node, "uptime_s"), 90);
}

static void test_health_json(void **state)
{
    (void)state;
    md_snapshot *s = make_snapshot();
    cJSON *j = parse_json(md_render_health_json(s, NOW));
    assert_string_equal(str(j, "status"), "ok");
    check_node(path(j, "node"));
    assert_int_equal(num(j, "services.total"), 4);
    assert_int_equal(num(j, "services.up"), 1);
    assert_int_equal(num(j, "services.degraded"), 1);
    assert_int_equal(num(j, "services.down"), 1);
    assert_int_equal(num(j, "services.unknown"), 1);
    cJSON_Delete(j);
    md_snapshot_unref(s);
}

static void check_api_service(cJSON *a)
{
    assert_string_equal(str(a, "kind"), "http");
    assert_string_equal(str(a, "target"), "https://api.example.test/health");
    assert_string_equal(str(a, "state"), "UP");
    assert_string_equal(str(a, "state_since"), "2023-11-14T22:13:21.234Z");
    assert_true(num(a, "state_since_ms") == (double)(T0 + 1234));
    assert_string_equal(str(a, "cause"), "1 consecutive success");
    assert_int_equal(num(a, "consecutive_failures"), 0);
    assert_int_equal(num(a, "consecutive_successes"), 7);
    assert_int_equal(num(a, "checks.ok"), 9);
    assert_int_equal(num(a, "checks.total"), 10);
    assert_true(num(a, "uptime_pct") == 90);
    assert_true(num(a, "uptime_hour_pct") == 90.123);
    assert_string_equal(str(a, "last_check"), "2023-11-14T22:14:10.000Z");
    assert_true(num(a, "last_success_ms") == (double)(T0 + 50000));
    assert_true(num(a, "latency_ms.last") == 12.346);
    assert_true(num(a, "latency_ms.avg") == 10.5);
    assert_true(num(a, "latency_ms.ewma") == 11.25);
    assert_true(num(a, "trend.slope_ms_per_s") == 0.5);
    assert_true(cJSON_IsTrue(path(a, "trend.warning")));
    assert_int_equal(num(a, "trend.eta_ms"), 45000);
    is_null(a, "last_error");
    assert_int_equal(num(a, "last_http_status"), 200);
    assert_string_equal(str(a, "cert.expires_at"), "2023-11-19T22:13:20.123Z");
    assert_true(num(a, "cert.expires_at_ms") == (double)(T0 + 5 * 86400000LL + 123));
    assert_true(cJSON_IsTrue(path(a, "cert.warning")));
    assert_int_equal(num(a, "interval_ms"), 10000);
    assert_int_equal(num(a, "timeout_ms"), 5000);
    assert_int_equal(num(a, "slow_ms"), 3000);
    assert_int_equal(num(a, "prewarm.total"), 3);
    assert_int_equal(num(a, "prewarm.failed"), 1);
}

static void test_status_json(void **state)
{
    (void)state;
    md_snapshot *s = make_snapshot();
    cJSON *j = parse_json(md_render_status_json(s, NOW));
    assert_string_equal(str(j, "generated_at"), "2023-11-14T22:14:50.500Z");
    assert_true(num(j, "generated_at_ms") == (double)NOW);
    check_node(path(j, "node"));
    cJSON *arr = path(j, "services");
    assert_int_equal(cJSON_GetArraySize(arr), 4);
    assert_string_equal(str(cJSON_GetArrayItem(arr, 0), "name"), "api"); /* config order */
    check_api_service(find_service(arr, "api"));
    assert_null(cJSON_GetObjectItem(find_service(arr, "api"), "history"));

    cJSON *d = find_service(arr, ODD_NAME);
    assert_string_equal(str(d, "state"), "DOWN");
    assert_string_equal(str(d, "last_error"), "connect");
    is_null(d, "cert");
    is_null(d, "last_success");
    is_null(d, "last_success_ms");
    is_null(d, "trend.eta_ms");
    is_null(d, "last_http_status");
    assert_true(cJSON_IsFalse(path(d, "trend.warning")));

    cJSON *n = find_service(arr, "new");
    assert_string_equal(str(n, "state"), "UNKNOWN");
    is_null(n, "state_since");
    is_null(n, "state_since_ms");
    is_null(n, "last_check");
    is_null(n, "target");
    assert_string_equal(str(n, "cause"), "");
    cJSON_Delete(j);
    md_snapshot_unref(s);
}

static void test_service_json(void **state)
{
    (void)state;
    md_snapshot *s = make_snapshot();
    assert_null(md_render_service_json(s, "nope", NOW));
    cJSON *j = parse_json(md_render_service_json(s, "api", NOW));
    assert_true(num(j, "generated_at_ms") == (double)NOW);
    check_node(path(j, "node"));
    cJSON *a = path(j, "service");
    assert_string_equal(str(a, "name"), "api");
    check_api_service(a);
    cJSON *h = path(a, "history");
    assert_int_equal(cJSON_GetArraySize(h), 3);
    cJSON *e0 = cJSON_GetArrayItem(h, 0), *e1 = cJSON_GetArrayItem(h, 1);
    assert_string_equal(str(e0, "at"), "2023-11-14T22:14:10.000Z"); /* newest first */
    assert_true(num(e0, "at_ms") == (double)(T0 + 50000));
    assert_true(num(e0, "latency_ms") == 12.3); /* history keeps 100 us resolution */
    assert_string_equal(str(e0, "result"), "ok");
    assert_string_equal(str(e1, "result"), "timeout");
    assert_true(num(e1, "latency_ms") == 5000);
    cJSON_Delete(j);

    j = parse_json(md_render_service_json(s, ODD_NAME, NOW));
    assert_string_equal(str(j, "service.name"), ODD_NAME);
    assert_int_equal(cJSON_GetArraySize(path(j, "service.history")), 0);
    cJSON_Delete(j);
    md_snapshot_unref(s);
}

static void test_error_json_and_times(void **state)
{
    (void)state;
    char *e = md_render_error_json(404, "no such endpoint: /x");
    assert_string_equal(e, "{\"error\":{\"code\":404,\"message\":\"no such endpoint: /x\"}}");
    free(e);
    /* before the epoch, the milliseconds still count forward within the second */
    md_snapshot *s = md_snapshot_alloc(0);
    s->started_ms = -1;
    s->version = "v";
    cJSON *j = parse_json(md_render_health_json(s, 0));
    assert_string_equal(str(j, "node.started_at"), "1969-12-31T23:59:59.999Z");
    is_null(j, "node.id");
    assert_int_equal(num(j, "services.total"), 0);
    cJSON_Delete(j);
    md_snapshot_unref(s);
}

/* ---- metrics ---- */

static void test_metrics_text(void **state)
{
    (void)state;
    md_snapshot *s = make_snapshot();
    char *m = md_render_metrics(s, NOW);
    assert_non_null(m);
    static const char *want[] = {
        "medic_node_info{node=\"node-a\",region=\"eu-west\",version=\"9.9.9\"} 1\n",
        "\nmedic_node_start_time_seconds 1700000000\n",
        "\nmedic_service_up{service=\"api\"} 1\n",
        "\nmedic_service_up{service=\"cache\"} 1\n",
        "\nmedic_service_up{service=\"new\"} 0\n",
        "\nmedic_service_up{service=\"db \\\"primary\\\"\\n\\\\\"} 0\n",
        "\nmedic_service_state{service=\"db \\\"primary\\\"\\n\\\\\",state=\"DOWN\"} 1\n",
        "\nmedic_service_state{service=\"db \\\"primary\\\"\\n\\\\\",state=\"UP\"} 0\n",
        "\nmedic_service_state{service=\"api\",state=\"UP\"} 1\n",
        "\nmedic_service_state{service=\"new\",state=\"UNKNOWN\"} 1\n",
        "\nmedic_service_uptime_ratio{service=\"api\"} 0.9\n",
        "\nmedic_service_latency_seconds{service=\"api\"} 0.01234567\n",
        "\n# TYPE medic_check_duration_seconds histogram\n",
        "\nmedic_check_duration_seconds_bucket{service=\"api\",le=\"0.005\"} 0\n",
        "\nmedic_check_duration_seconds_bucket{service=\"api\",le=\"0.025\"} 9\n",
        "\nmedic_check_duration_seconds_bucket{service=\"api\",le=\"30\"} 10\n",
        "\nmedic_check_duration_seconds_bucket{service=\"api\",le=\"+Inf\"} 10\n",
        "\nmedic_check_duration_seconds_sum{service=\"api\"} 5.1\n",
        "\nmedic_check_duration_seconds_count{service=\"api\"} 10\n",
        "\n# TYPE medic_checks_total counter\n",
        "\nmedic_checks_total{service=\"api\",result=\"ok\"} 9\n",
        "\nmedic_checks_total{service=\"api\",result=\"timeout\"} 1\n",
        "\nmedic_checks_total{service=\"api\",result=\"body\"} 0\n",
        "\nmedic_prewarm_total{service=\"api\",result=\"ok\"} 2\n",
        "\nmedic_prewarm_total{service=\"api\",result=\"failed\"} 1\n",
        "\nmedic_cert_expiry_timestamp_seconds{service=\"api\"} 1700432000.123\n",
        "\nmedic_service_trend_warning{service=\"api\"} 1\n",
        "\nmedic_service_trend_warning{service=\"cache\"} 0\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (strstr(m, want[i]) == NULL) {
            fail_msg("metrics lack %s\n---\n%s", want[i], m);
        }
    }
    assert_int_equal(count(m, "# TYPE "), 11);
    assert_int_equal(count(m, "# HELP "), 11);
    assert_int_equal(count(m, "\nmedic_cert_expiry_timestamp_seconds{"), 1); /* known expiry only */
    assert_int_equal(count(m, "\nmedic_checks_total{"), 4 * MD_ERR_COUNT);
    assert_int_equal(count(m, "\nmedic_service_state{"), 4 * MD_STATE_COUNT);
    assert_int_equal(count(m, "le=\"+Inf\""), 4);
    assert_int_equal(m[strlen(m) - 1], '\n');
    free(m);
    md_snapshot_unref(s);
}

/* promtool_check runs `promtool check metrics` on text; returns its exit status, *lines = output. */
static int promtool_check(const char *text, int *lines)
{
    char tmpl[] = "/tmp/medic-metrics-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s 2>&1", tmpl);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512];
    *lines = 0;
    while (fgets(line, sizeof line, p)) {
        fprintf(stderr, "promtool: %s", line);
        (*lines)++;
    }
    int st = pclose(p);
    unlink(tmpl);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_metrics_promtool(void **state)
{
    (void)state;
    if (access("/usr/bin/promtool", X_OK) != 0) {
        fprintf(stderr, "skipping: /usr/bin/promtool not installed (Debian package prometheus)\n");
        skip();
    }
    md_snapshot *s = make_snapshot();
    char *m = md_render_metrics(s, NOW);
    int lines;
    assert_int_equal(promtool_check(m, &lines), 0);
    assert_int_equal(lines, 0);
    free(m);
    md_snapshot_unref(s);
    /* with no services at all, every family is still well-formed */
    s = md_snapshot_alloc(0);
    s->version = "v";
    m = md_render_metrics(s, NOW);
    assert_int_equal(promtool_check(m, &lines), 0);
    assert_int_equal(lines, 0);
    free(m);
    md_snapshot_unref(s);
    /* and the check itself can fail */
    assert_int_not_equal(promtool_check("bad metric{\n", &lines), 0);
}

#include "test_render_api.inc"

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_holder),
        cmocka_unit_test(test_health_json),
        cmocka_unit_test(test_status_json),
        cmocka_unit_test(test_service_json),
        cmocka_unit_test(test_error_json_and_times),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_metrics_promtool),
        cmocka_unit_test(test_api_routes),
        cmocka_unit_test(test_api_bad_requests),
        cmocka_unit_test(test_api_limits),
        cmocka_unit_test(test_api_start_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
