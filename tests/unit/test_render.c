/* test_render.c: unit tests of views (node/view.c), the JSON and Prometheus renderers
 * (node/render_json.c, node/render_metrics.c), and the API server end to end (node/api.c): a
 * private uv loop runs the server in a second thread while libcurl and raw sockets in the main
 * thread talk to it over 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <strings.h>
#include <sys/wait.h>
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

#include "api/api.h"
#include "view/view.h"

#define T0 INT64_C(1700000000000) /* 2023-11-14T22:13:20.000Z */
#define NOW (T0 + 90500)
#define ODD_NAME "db \"primary\"\n\\"
#define ODD_NAME_URL "db%20%22primary%22%0A%5C"

/* ---- a hand-built view ---- */

/* new_history gives v an empty history owned by view s. */
static md_history *new_history(md_view *s, md_view_service *v)
{
    md_history *h = md_view_calloc(s, sizeof *h);
    assert_non_null(h);
    md_history_init(h, T0);
    v->history = h;
    return h;
}

static void push(md_history *h, int64_t at_ms, uint32_t latency_us, md_err_class err)
{
    md_history_push(h, &(md_check_result){ .at_ms = at_ms, .latency_us = latency_us, .err = err });
}

static void fill_api(md_view *s, md_view_service *a)
{
    a->name = md_view_strdup(s, "api");
    a->kind = "http";
    a->target = md_view_strdup(s, "https://api.example.test/health");
    a->state = MD_STATE_UP;
    a->state_since_ms = T0 + 1234;
    a->state_cause = "1 consecutive success";
    a->consecutive_successes = 7;
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
    a->counts.lo[MD_VIEW_C_RESULT + MD_ERR_NONE] = 9;
    a->counts.lo[MD_VIEW_C_RESULT + MD_ERR_TIMEOUT] = 1;
    /* nine checks of ~12 ms (the 0.025 s bucket), one timeout over 5 s (the 30 s one) */
    a->counts.lo[MD_VIEW_C_DUR + 2] = 9;
    a->counts.lo[MD_VIEW_C_DUR + MD_DURATION_BUCKETS - 1] = 1;
    a->duration_sum_s = 5.1;
    a->counts.lo[MD_VIEW_C_PREWARM] = 3;
    a->counts.lo[MD_VIEW_C_PREWARM_FAILED] = 1;
    md_history h; /* a view's histories are read-only copies: filled here, then copied in */
    md_history_init(&h, T0);
    push(&h, T0 + 30000, 10000, MD_ERR_NONE);
    push(&h, T0 + 40000, 5000000, MD_ERR_TIMEOUT);
    push(&h, T0 + 50000, 12345, MD_ERR_NONE);
    a->history = md_view_history(s, &h);
    assert_non_null(a->history);
    md_history_free(&h);
}

static md_view *make_view(void)
{
    md_view *s = md_view_alloc(4);
    assert_non_null(s);
    s->built_ms = T0 + 60000;
    s->node_id = md_view_strdup(s, "node-a");
    s->node_region = md_view_strdup(s, "eu-west");
    s->version = "9.9.9";
    s->started_ms = T0;
    s->pid = 4242;
    fill_api(s, &s->services[0]);

    md_view_service *d = &s->services[1];
    d->name = md_view_strdup(s, ODD_NAME);
    d->kind = "tcp";
    d->target = md_view_strdup(s, "10.0.0.5:5432");
    d->state = MD_STATE_DOWN;
    d->state_since_ms = T0 + 20000;
    d->state_cause = "2 consecutive failures (last: connect)";
    d->consecutive_failures = 4;
    d->last_check_ms = T0 + 45000;
    d->last_err = MD_ERR_CONNECT;
    d->counts.lo[MD_VIEW_C_RESULT + MD_ERR_CONNECT] = 4;
    d->interval_ms = 10000;
    new_history(s, d);

    md_view_service *c = &s->services[2];
    c->name = md_view_strdup(s, "cache");
    c->kind = "http";
    c->state = MD_STATE_DEGRADED;
    new_history(s, c);

    md_view_service *n = &s->services[3];
    n->name = md_view_strdup(s, "new");
    n->kind = "tcp";
    new_history(s, n);
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

/* ---- view and holder ---- */

static int refreshes;
static md_view_holder *refresh_holder;

static unsigned refresh_wants; /* what the last refresh was asked for */

static void refresh(void *ctx, unsigned wants)
{
    refresh_wants = wants;
    assert_ptr_equal(ctx, &refreshes);
    if (refreshes++ == 0) {
        md_view_holder_publish(refresh_holder, make_view()); /* lazily, on first read */
    }
}

static void test_view_holder(void **state)
{
    (void)state;
    md_view_holder *h = md_view_holder_new();
    assert_non_null(h);
    assert_null(md_view_holder_get(h));
    md_view *s = make_view();
    assert_int_equal(s->refs, 1);
    assert_null(md_view_strdup(s, NULL));
    md_view_holder_publish(h, s);
    md_view *g = md_view_holder_get(h);
    assert_ptr_equal(g, s);
    assert_int_equal(s->refs, 2);
    assert_ptr_equal(md_view_find(g, "cache"), &g->services[2]);
    assert_null(md_view_find(g, "nope"));
    /* a newer view replaces it; the old one lives on while referenced (ASan would see a UAF) */
    md_view_holder_publish(h, make_view());
    assert_int_equal(g->refs, 1);
    assert_string_equal(g->services[0].name, "api");
    md_view_unref(g);
    g = md_view_holder_get(h);
    assert_ptr_not_equal(g, NULL);
    md_view_unref(g);
    md_view_holder_free(h);

    /* the refresh hook runs before every get */
    h = md_view_holder_new();
    refresh_holder = h;
    refreshes = 0;
    md_view_holder_set_refresh(h, refresh, &refreshes);
    g = md_view_holder_get(h);
    assert_non_null(g);
    md_view_unref(g);
    assert_int_equal(refresh_wants, 0); /* a plain get asks for neither histories nor incidents */
    g = md_view_holder_get_full(h);
    md_view_unref(g);
    assert_int_equal(refresh_wants, MD_VIEW_WANT_HISTORIES);
    g = md_view_holder_get_for(h, MD_VIEW_WANT_INCIDENTS);
    md_view_unref(g);
    assert_int_equal(refresh_wants, MD_VIEW_WANT_INCIDENTS);
    assert_int_equal(refreshes, 3);
    md_view_holder_set_refresh(h, NULL, NULL);
    md_view_holder_free(h);

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
    md_view *s = make_view();
    cJSON *j = parse_json(md_render_health_json(s, NOW));
    assert_string_equal(str(j, "status"), "ok");
    check_node(path(j, "node"));
    assert_int_equal(num(j, "services.total"), 4);
    assert_int_equal(num(j, "services.up"), 1);
    assert_int_equal(num(j, "services.degraded"), 1);
    assert_int_equal(num(j, "services.down"), 1);
    assert_int_equal(num(j, "services.unknown"), 1);
    cJSON_Delete(j);
    md_view_unref(s);
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
    md_view *s = make_view();
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
    md_view_unref(s);
}

static void test_service_json(void **state)
{
    (void)state;
    md_view *s = make_view();
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
    md_view_unref(s);
}

static void test_error_json_and_times(void **state)
{
    (void)state;
    char *e = md_render_error_json(404, "no such endpoint: /x");
    assert_string_equal(e, "{\"error\":{\"code\":404,\"message\":\"no such endpoint: /x\"}}");
    free(e);
    /* before the epoch, the milliseconds still count forward within the second */
    md_view *s = md_view_alloc(0);
    s->started_ms = -1;
    s->version = "v";
    cJSON *j = parse_json(md_render_health_json(s, 0));
    assert_string_equal(str(j, "node.started_at"), "1969-12-31T23:59:59.999Z");
    is_null(j, "node.id");
    assert_int_equal(num(j, "services.total"), 0);
    cJSON_Delete(j);
    md_view_unref(s);
}

/* ---- metrics ---- */

static void test_metrics_text(void **state)
{
    (void)state;
    md_view *s = make_view();
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
    assert_int_equal(count(m, "# TYPE "), 20);
    assert_int_equal(count(m, "# HELP "), 20);
    assert_int_equal(count(m, "\nmedic_cert_expiry_timestamp_seconds{"), 1); /* known expiry only */
    assert_int_equal(count(m, "\nmedic_checks_total{"), 4 * MD_ERR_COUNT);
    assert_int_equal(count(m, "\nmedic_service_state{"), 4 * MD_STATE_COUNT);
    assert_int_equal(count(m, "le=\"+Inf\""), 4);
    assert_int_equal(m[strlen(m) - 1], '\n');
    free(m);
    md_view_unref(s);
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
    md_view *s = make_view();
    char *m = md_render_metrics(s, NOW);
    int lines;
    assert_int_equal(promtool_check(m, &lines), 0);
    assert_int_equal(lines, 0);
    free(m);
    md_view_unref(s);
    /* with no services at all, every family is still well-formed */
    s = md_view_alloc(0);
    s->version = "v";
    m = md_render_metrics(s, NOW);
    assert_int_equal(promtool_check(m, &lines), 0);
    assert_int_equal(lines, 0);
    free(m);
    md_view_unref(s);
    /* and the check itself can fail */
    assert_int_not_equal(promtool_check("bad metric{\n", &lines), 0);
}

/* ---- the consensus object and the raft families ---- */

static void set_consensus(md_view *s, bool leads)
{
    md_view_consensus *k = &s->consensus;
    k->enabled = true;
    k->role = leads ? "leader" : "follower";
    k->term = 3;
    k->leader_id = md_view_strdup(s, "node-a");
    k->commit = k->applied = k->last_index = 40;
    k->timing = md_view_strdup(s, "lan");
    k->heartbeat_ms = 100;
    k->election_timeout_ms = 1000;
    k->committed_entries = 39;
    k->commit_lat_samples = leads ? 200 : 0;
    k->commit_lat_p50_ms = leads ? 1.25 : 0;
    k->commit_lat_p99_ms = leads ? 3.5 : 0;
    k->recovering = !leads; /* a leader never is; this follower lost its disk */
}

static void test_consensus_json(void **state)
{
    (void)state;
    md_view *s = make_view();
    set_consensus(s, true);
    cJSON *j = parse_json(md_render_cluster_json(s, NOW));
    assert_string_equal(str(j, "cluster.consensus.role"), "leader");
    assert_true(num(j, "cluster.consensus.commit_index") == 40);
    assert_true(num(j, "cluster.consensus.committed_entries_total") == 39);
    assert_true(num(j, "cluster.consensus.commit_latency_ms.samples") == 200);
    assert_true(num(j, "cluster.consensus.commit_latency_ms.p50") == 1.25);
    assert_true(num(j, "cluster.consensus.commit_latency_ms.p99") == 3.5);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "cluster"), "consensus"),
                                                  "recovering")));
    cJSON_Delete(j);
    set_consensus(s, false); /* a follower measures nothing */
    j = parse_json(md_render_status_json(s, NOW));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "cluster"), "consensus"),
                                                 "recovering")));
    assert_true(num(j, "cluster.consensus.commit_latency_ms.samples") == 0);
    is_null(j, "cluster.consensus.commit_latency_ms.p50");
    is_null(j, "cluster.consensus.commit_latency_ms.p99");
    cJSON_Delete(j);
    md_view_unref(s);
}

static void test_consensus_metrics(void **state)
{
    (void)state;
    md_view *s = make_view();
    set_consensus(s, true);
    char *m = md_render_metrics(s, NOW);
    assert_non_null(m);
    static const char *want[] = {
        "\n# TYPE medic_raft_committed_entries_total counter\nmedic_raft_committed_entries_total 39\n",
        "\n# TYPE medic_raft_commit_latency_p50_seconds gauge\nmedic_raft_commit_latency_p50_seconds 0.00125\n",
        "\n# TYPE medic_raft_commit_latency_p99_seconds gauge\nmedic_raft_commit_latency_p99_seconds 0.0035\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (strstr(m, want[i]) == NULL)
            fail_msg("metrics lack %s\n---\n%s", want[i], m);
    int lines;
    bool promtool = access("/usr/bin/promtool", X_OK) == 0;
    if (promtool) {
        assert_int_equal(promtool_check(m, &lines), 0);
        assert_int_equal(lines, 0);
    }
    free(m);
    set_consensus(s, false);
    m = md_render_metrics(s, NOW);
    assert_non_null(m);
    assert_int_equal(count(m, "\nmedic_raft_commit_latency_p50_seconds "), 0); /* no sample, no value */
    assert_int_equal(count(m, "\n# TYPE medic_raft_commit_latency_p99_seconds gauge\n"), 1);
    if (promtool) {
        assert_int_equal(promtool_check(m, &lines), 0);
        assert_int_equal(lines, 0);
    }
    free(m);
    md_view_unref(s);
}

/* A Railway actuator whose token was refused: JSON in /v1/status and the metrics, no secret. */
static void test_actuators(void **state)
{
    (void)state;
    md_view *s = make_view();
    s->n_actuators = 1;
    s->actuators = md_view_calloc(s, sizeof *s->actuators);
    assert_non_null(s->actuators);
    s->actuators[0] = (md_view_actuator){ .kind = "railway", .token_kind = "project", .state = "refused",
                                          .scope = "project", .reach = md_view_strdup(s, "project p1 environment e1"),
                                          .detail = md_view_strdup(s, "Not Authorized"),
                                          .services = md_view_strdup(s, "api,\"web\""), .checked_ms = T0,
                                          .requests = 12, .throttled = 3, .throttled_ms = 4500, .limit = 100,
                                          .remaining = 88, .budget_per_hour = 80, .sent_last_hour = 12 };
    cJSON *j = parse_json(md_render_status_json(s, NOW));
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "actuators"), 0);
    assert_non_null(a);
    assert_string_equal(cJSON_GetObjectItem(a, "state")->valuestring, "refused");
    assert_string_equal(cJSON_GetObjectItem(a, "reaches")->valuestring, "project p1 environment e1");
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "requests"), "remaining")->valuedouble == 88);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "requests"), "per_hour")->valuedouble == 80);
    cJSON_Delete(j);
    char *m = md_render_metrics(s, NOW);
    assert_non_null(m);
    static const char *want[] = {
        "\nmedic_railway_requests_total{services=\"api,\\\"web\\\"\"} 12\n",
        "\nmedic_railway_throttled_waits_total{services=\"api,\\\"web\\\"\"} 3\n",
        "\nmedic_railway_throttled_wait_seconds_total{services=\"api,\\\"web\\\"\"} 4.500\n",
        "\nmedic_railway_token_ok{services=\"api,\\\"web\\\"\"} 0\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (strstr(m, want[i]) == NULL)
            fail_msg("metrics lack %s\n---\n%s", want[i], m);
    int lines;
    if (access("/usr/bin/promtool", X_OK) == 0) {
        assert_int_equal(promtool_check(m, &lines), 0);
        assert_int_equal(lines, 0);
    }
    free(m);
    md_view_unref(s);
}

/* ---- streaming: the big documents in chunks ---- */

/* make_big_view: n services like "api", each with its own name, so the documents span many chunks. */
static md_view *make_big_view(size_t n)
{
    md_view *s = md_view_alloc(n);
    assert_non_null(s);
    s->built_ms = T0 + 60000;
    s->node_id = md_view_strdup(s, "node-a");
    s->node_region = md_view_strdup(s, "eu-west");
    s->version = "9.9.9";
    s->started_ms = T0;
    s->pid = 4242;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        fill_api(s, &s->services[i]);
        snprintf(name, sizeof name, "api-%zu", i);
        s->services[i].name = md_view_strdup(s, name);
    }
    return s;
}

/* joined_chunks runs st to its end and returns the chunks joined; asserts each is bounded. */
static char *joined_chunks(md_render_stream *st, size_t *n_chunks)
{
    assert_non_null(st);
    size_t len = 0;
    char *all = calloc(1, 1);
    const char *chunk;
    long n;
    *n_chunks = 0;
    while ((n = md_render_stream_next(st, &chunk)) > 0) {
        assert_true(n <= 64 * 1024 + 8 * 1024); /* a chunk, plus at most one piece past it */
        all = realloc(all, len + (size_t)n + 1);
        assert_non_null(all);
        memcpy(all + len, chunk, (size_t)n);
        len += (size_t)n;
        all[len] = '\0';
        (*n_chunks)++;
    }
    assert_int_equal(n, 0);
    assert_int_equal(md_render_stream_next(st, &chunk), 0); /* stays complete */
    md_render_stream_free(st);
    return all;
}

static void test_render_streams(void **state)
{
    (void)state;
    md_view *s = make_big_view(3000);
    size_t chunks = 0;
    char *whole = md_render_metrics(s, NOW);
    char *joined = joined_chunks(md_render_metrics_stream(s, NOW), &chunks);
    assert_true(chunks > 10);
    assert_string_equal(joined, whole);
    free(whole);
    free(joined);
    whole = md_render_status_json(s, NOW);
    joined = joined_chunks(md_render_status_stream(s, NOW), &chunks);
    assert_true(chunks > 10);
    assert_string_equal(joined, whole);
    cJSON *j = parse_json(joined); /* frees joined */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "services")), 3000);
    cJSON_Delete(j);
    free(whole);
    whole = md_render_history_json(s);
    joined = joined_chunks(md_render_history_stream(s), &chunks);
    assert_true(chunks > 1);
    assert_string_equal(joined, whole);
    free(joined);
    free(whole);
    md_view_unref(s);
    /* a view without services still makes whole documents */
    s = md_view_alloc(0);
    assert_non_null(s);
    j = parse_json(joined_chunks(md_render_status_stream(s, NOW), &chunks));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "services")), 0);
    cJSON_Delete(j);
    md_view_unref(s);
}

/* ---- the API server end to end ---- */

typedef struct {
    uv_loop_t loop;
    uv_async_t stop;
    md_api *api;
    md_view_holder *holder;
    pthread_t th;
    int port;
    char base[64]; /* http://127.0.0.1:PORT */
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

/* server_start runs md_api on host, port 0, on a private loop in a new thread. */
static int server_start(server *sv, const char *host)
{
    memset(sv, 0, sizeof *sv);
    assert_int_equal(uv_loop_init(&sv->loop), 0);
    sv->holder = md_view_holder_new();
    assert_non_null(sv->holder);
    char err[256] = "";
    int rc = md_api_start(&sv->loop, host, 0, sv->holder, &sv->api, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "md_api_start(%s): %s\n", host, err);
        uv_run(&sv->loop, UV_RUN_DEFAULT); /* lets the failed listener close */
        assert_int_equal(uv_loop_close(&sv->loop), 0);
        md_view_holder_free(sv->holder);
        return rc;
    }
    sv->port = md_api_bound_port(sv->api);
    assert_true(sv->port > 0);
    snprintf(sv->base, sizeof sv->base, strchr(host, ':') ? "http://[::1]:%d" : "http://127.0.0.1:%d",
             sv->port);
    assert_int_equal(uv_async_init(&sv->loop, &sv->stop, on_stop), 0);
    sv->stop.data = sv;
    assert_int_equal(pthread_create(&sv->th, NULL, loop_main, sv), 0);
    return 0;
}

/* server_stop closes the API from its loop thread and requires the loop to end with nothing open. */
static void server_stop(server *sv)
{
    uv_async_send(&sv->stop);
    assert_int_equal(pthread_join(sv->th, NULL), 0);
    assert_int_equal(uv_loop_close(&sv->loop), 0);
    md_view_holder_free(sv->holder);
}

typedef struct {
    long status;
    char *body; /* NUL-terminated; owned by the resp */
    size_t len;
    char ctype[128];
    char allow[64];
    curl_off_t clen;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    char *nb = realloc(r->body, r->len + sz * n + 1);
    assert_non_null(nb);
    memcpy(nb + r->len, p, sz * n);
    r->body = nb;
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    if (sz * n > 7 && strncasecmp(p, "Allow: ", 7) == 0) {
        snprintf(r->allow, sizeof r->allow, "%.*s", (int)strcspn(p + 7, "\r\n"), p + 7);
    }
    return sz * n;
}

static resp http(const server *sv, const char *method, const char *path_)
{
    resp r = { 0 };
    char url[512];
    snprintf(url, sizeof url, "%s%s", sv->base, path_);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        fail_msg("%s %s: %s", method, url, curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r.ctype, sizeof r.ctype, "%s", ct ? ct : "");
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r.clen);
    curl_easy_cleanup(c);
    if (r.body == NULL) {
        r.body = calloc(1, 1);
    }
    return r;
}

/* expect_json asserts status and a JSON body; returns the parsed body (caller deletes). */
static cJSON *expect_json(const server *sv, const char *method, const char *path_, long status)
{
    resp r = http(sv, method, path_);
    if (r.status != status) {
        fail_msg("%s %s: status %ld, want %ld; body %s", method, path_, r.status, status, r.body);
    }
    assert_string_equal(r.ctype, "application/json");
    cJSON *j = cJSON_Parse(r.body);
    if (j == NULL) {
        fail_msg("%s %s: not JSON: %s", method, path_, r.body);
    }
    free(r.body);
    return j;
}

static void expect_error(const server *sv, const char *method, const char *path_, long status,
                         const char *message)
{
    cJSON *j = expect_json(sv, method, path_, status);
    assert_int_equal(num(j, "error.code"), status);
    if (message) {
        assert_string_equal(str(j, "error.message"), message);
    }
    cJSON_Delete(j);
}

static void test_api_routes(void **state)
{
    (void)state;
    server sv;
    assert_int_equal(server_start(&sv, "127.0.0.1"), 0);

    /* before the first view: health says starting, the rest 503 */
    cJSON *j = expect_json(&sv, "GET", "/v1/health", 503);
    assert_string_equal(str(j, "status"), "starting");
    cJSON_Delete(j);
    expect_error(&sv, "GET", "/v1/status", 503, NULL);
    expect_error(&sv, "GET", "/metrics", 503, NULL);
    expect_error(&sv, "GET", "/v1/services/api", 503, NULL);

    md_view_holder_publish(sv.holder, make_view());
    j = expect_json(&sv, "GET", "/v1/health", 200);
    assert_string_equal(str(j, "status"), "ok");
    assert_string_equal(str(j, "node.id"), "node-a");
    assert_int_equal(num(j, "services.down"), 1);
    cJSON_Delete(j);
    j = expect_json(&sv, "GET", "/v1/status?verbose=1", 200);
    assert_int_equal(cJSON_GetArraySize(path(j, "services")), 4);
    cJSON_Delete(j);
    j = expect_json(&sv, "GET", "/v1/services/api", 200);
    assert_int_equal(cJSON_GetArraySize(path(j, "service.history")), 3);
    cJSON_Delete(j);
    j = expect_json(&sv, "GET", "/v1/services/" ODD_NAME_URL, 200);
    assert_string_equal(str(j, "service.name"), ODD_NAME);
    cJSON_Delete(j);

    expect_error(&sv, "GET", "/v1/services/nope", 404, "no such service: nope");
    expect_error(&sv, "GET", "/v1/services/", 404, "no such service: ");
    expect_error(&sv, "GET", "/v1/services/a%zz", 400, NULL);
    expect_error(&sv, "GET", "/v1/services/a%00", 400, NULL);
    expect_error(&sv, "GET", "/v1/services", 404, "no such endpoint: /v1/services");
    expect_error(&sv, "GET", "/v1/statusx", 404, NULL);
    resp r = http(&sv, "GET", "/x");
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"error\":{\"code\":404,\"message\":\"no such endpoint: /x\"}}");
    free(r.body);

    r = http(&sv, "POST", "/v1/status");
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    free(r.body);
    r = http(&sv, "DELETE", "/v1/services/api");
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    free(r.body);
    expect_error(&sv, "POST", "/nope", 404, NULL); /* unknown path wins over method */

    resp g = http(&sv, "GET", "/metrics");
    assert_int_equal(g.status, 200);
    assert_string_equal(g.ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(g.body, "medic_node_info{node=\"node-a\""));
    resp h = http(&sv, "HEAD", "/metrics");
    assert_int_equal(h.status, 200);
    assert_string_equal(h.ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_int_equal(h.len, 0);
    assert_int_equal(h.clen, (curl_off_t)g.len);
    free(g.body);
    free(h.body);
    h = http(&sv, "HEAD", "/v1/health");
    assert_int_equal(h.status, 200);
    assert_int_equal(h.len, 0);
    assert_true(h.clen > 0);
    free(h.body);
    h = http(&sv, "HEAD", "/x");
    assert_int_equal(h.status, 404);
    assert_int_equal(h.len, 0);
    free(h.body);

    /* readers always see the latest publication */
    md_view *s2 = make_view();
    s2->node_id = md_view_strdup(s2, "node-b");
    md_view_holder_publish(sv.holder, s2);
    j = expect_json(&sv, "GET", "/v1/health", 200);
    assert_string_equal(str(j, "node.id"), "node-b");
    cJSON_Delete(j);
    server_stop(&sv);
}

/* /metrics and /v1/status of a node with many services go out in chunks from the view the request
 * took, the same bytes as rendered whole, even when a new view is published meanwhile. */
static void test_api_streams(void **state)
{
    (void)state;
    server sv;
    assert_int_equal(server_start(&sv, "127.0.0.1"), 0);
    md_view *s = make_big_view(1500);
    md_view_holder_publish(sv.holder, md_view_ref(s));
    char *want = md_render_metrics(s, NOW);
    resp g = http(&sv, "GET", "/metrics");
    assert_int_equal(g.status, 200);
    assert_int_equal(g.len, strlen(want));
    assert_string_equal(g.body, want);
    resp h = http(&sv, "HEAD", "/metrics");
    assert_int_equal(h.status, 200);
    assert_int_equal(h.len, 0);
    assert_int_equal(h.clen, (curl_off_t)g.len);
    free(g.body);
    free(h.body);
    free(want);
    cJSON *j = expect_json(&sv, "GET", "/v1/status", 200);
    cJSON *arr = cJSON_GetObjectItem(j, "services");
    assert_int_equal(cJSON_GetArraySize(arr), 1500);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1499), "name")->valuestring, "api-1499");
    cJSON_Delete(j);
    md_view_unref(s);
    server_stop(&sv);
}

/* ---- raw sockets, for what curl will not send ---- */

/* raw_connect_from connects from 127.0.0.src (a client address of its own, for the API's
 * per-client share); src 0 lets the kernel choose (127.0.0.1). */
static int raw_connect_from(int port, int src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = { .tv_sec = 8 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (src > 0) {
        struct sockaddr_in me = { .sin_family = AF_INET };
        me.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)src);
        assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof me), 0);
    }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        fail_msg("connect: %s", strerror(errno));
    }
    return fd;
}

static int raw_connect(int port) { return raw_connect_from(port, 0); }

/* read_all reads until the server closes (or 8 s pass); returns a malloc'd string. */
static char *read_all(int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (;;) {
        ssize_t n = recv(fd, out + len, cap - len - 1, 0);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
        assert_true(len < cap - 1);
    }
    out[len] = '\0';
    return out;
}

/* exchange sends req (len bytes), optionally half-closes, and returns everything the server sent. */
static char *exchange(int port, const char *req, size_t len, bool shut_wr)
{
    int fd = raw_connect(port);
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, req + off, len - off, 0);
        if (n <= 0) {
            break; /* the server may answer and stop reading before all of an oversized head */
        }
        off += (size_t)n;
    }
    if (shut_wr) {
        shutdown(fd, SHUT_WR);
    }
    char *out = read_all(fd);
    close(fd);
    return out;
}

static void expect_raw(int port, const char *req, size_t len, const char *status_line)
{
    char *out = exchange(port, req, len, false);
    if (strncmp(out, status_line, strlen(status_line)) != 0) {
        fail_msg("want %s, got: %.200s", status_line, out);
    }
    assert_int_equal(count(out, "\r\nConnection: close\r\n"), 1); /* exactly one answer */
    free(out);
}

static void test_api_bad_requests(void **state)
{
    (void)state;
    server sv;
    assert_int_equal(server_start(&sv, "127.0.0.1"), 0);
    md_view_holder_publish(sv.holder, make_view());
    int p = sv.port;
#define RAW(req, want) expect_raw(p, req, sizeof(req) - 1, want)
    RAW("GARBAGE\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n");
    RAW("GET /\x01 HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    RAW("GET /v1/health HTTP/2.0\r\n\r\n", "HTTP/1.1 505 ");
    RAW("POST /v1/health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "HTTP/1.1 501 ");
    RAW("POST /v1/health HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", "HTTP/1.1 413 ");
    RAW("POST /v1/health HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", "HTTP/1.1 405 ");
    RAW("GET /v1/health HTTP/1.0\n\n", "HTTP/1.1 200 OK\r\n");
    /* a pipelined second request gets no answer: one request per connection */
    RAW("GET /v1/health HTTP/1.1\r\n\r\nGET /v1/status HTTP/1.1\r\n\r\n", "HTTP/1.1 200 ");
#undef RAW
    /* an oversized head: 431 after 8 KiB, however much more the client sends */
    size_t big = 64 * 1024;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, 'a', big);
    memcpy(huge, "GET / HTTP/1.1\r\nX: ", 19);
    expect_raw(p, huge, big, "HTTP/1.1 431 ");
    free(huge);

    /* a client that half-closes after its request still gets the whole answer */
    const char req[] = "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n";
    char *out = exchange(p, req, sizeof req - 1, true);
    assert_int_equal(strncmp(out, "HTTP/1.1 200 ", 13), 0);
    cJSON *j = cJSON_Parse(strstr(out, "\r\n\r\n") + 4);
    assert_non_null(j);
    cJSON_Delete(j);
    free(out);

    /* a head that trickles in a byte at a time */
    int fd = raw_connect(p);
    for (size_t i = 0; i < sizeof req - 1; i++) {
        assert_int_equal(send(fd, req + i, 1, 0), 1);
        usleep(2000);
    }
    out = read_all(fd);
    close(fd);
    assert_int_equal(strncmp(out, "HTTP/1.1 200 ", 13), 0);
    free(out);

    /* after all that, the server still answers */
    j = expect_json(&sv, "GET", "/v1/health", 200);
    cJSON_Delete(j);
    server_stop(&sv);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* closed_within: true when the peer closed fd (EOF or reset) within ms. */
static bool closed_within(int fd, int ms)
{
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    if (poll(&pf, 1, ms) != 1) {
        return false;
    }
    char b[256];
    ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

#define LIMIT 256
#define SHARE 64 /* one client address's share of LIMIT */

/* still_open: the server has neither answered nor closed fd. */
static bool still_open(int fd)
{
    char b[16];
    return recv(fd, b, sizeof b, MSG_DONTWAIT) == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* served_from: a GET /v1/health from 127.0.0.src gets its 200. While the server still closes the
 * connections it evicted, their descriptors count against its hard bound and a new one may be
 * refused outright (closed before any answer): that is retried, within 5 s; any other answer
 * than 200 is a failure. */
static bool served_from(int port, int src)
{
    const char req[] = "GET /v1/health HTTP/1.1\r\n\r\n";
    for (int64_t deadline = mono_ms() + 5000; mono_ms() < deadline; usleep(20 * 1000)) {
        int fd = raw_connect_from(port, src);
        bool sent = send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1);
        char *out = sent ? read_all(fd) : NULL;
        close(fd);
        bool refused = out == NULL || out[0] == '\0';
        bool ok = !refused && strncmp(out, "HTTP/1.1 200 ", 13) == 0;
        if (!refused && !ok) {
            print_message("answered: %.40s\n", out);
        }
        free(out);
        if (!refused) {
            return ok;
        }
    }
    return false;
}

static void test_api_limits(void **state)
{
    (void)state;
    server sv;
    assert_int_equal(server_start(&sv, "127.0.0.1"), 0);
    md_view_holder_publish(sv.holder, make_view());
    static int fds[LIMIT];
    double t0 = mono_s();
    /* four clients (127.0.0.1..4) take their whole share each: every slot is taken */
    for (int i = 0; i < LIMIT; i++) {
        fds[i] = raw_connect_from(sv.port, 1 + i / SHARE);
    }
    const char partial[] = "GET /v1/health HTTP/1.1\r\n";
    assert_int_equal(send(fds[0], partial, sizeof partial - 1, 0), (ssize_t)(sizeof partial - 1));
    usleep(300 * 1000); /* every connect above has returned, so the server accepts them in order */
    for (int i = 0; i < LIMIT; i++) {
        assert_true(still_open(fds[i]));
    }

    /* one more from 127.0.0.1: over its share, its own oldest idle one (not fds[0], which sent a
     * partial head) is closed, no other client's */
    int extra = raw_connect_from(sv.port, 1);
    assert_true(closed_within(fds[1], 2000));
    close(fds[1]);
    fds[1] = extra;
    usleep(100 * 1000);
    for (int i = 0; i < LIMIT; i++) {
        if (!still_open(fds[i])) {
            fail_msg("connection %d closed, want only the client's oldest idle one", i);
        }
    }

    /* 5 s after accept: the partial head gets 408, the silent ones are just closed */
    char *out = read_all(fds[0]);
    double waited = mono_s() - t0;
    if (strncmp(out, "HTTP/1.1 408 ", 13) != 0) {
        fail_msg("want 408 for a partial head, got: %.100s", out);
    }
    assert_true(waited > 4.5 && waited < 7.5);
    free(out);
    for (int i = 1; i < LIMIT; i++) {
        if (!closed_within(fds[i], 3000)) {
            fail_msg("idle connection %d still open after the timeout", i);
        }
        close(fds[i]);
    }
    close(fds[0]);

    /* the node is not stuck: new connections are served */
    cJSON *j = expect_json(&sv, "GET", "/v1/health", 200);
    cJSON_Delete(j);

    /* closing the API with connections open ends the loop at once, without waiting for timers */
    int idle[3];
    for (int i = 0; i < 3; i++) {
        idle[i] = raw_connect(sv.port);
    }
    usleep(100 * 1000);
    double t1 = mono_s();
    server_stop(&sv);
    assert_true(mono_s() - t1 < 1.0);
    for (int i = 0; i < 3; i++) {
        assert_true(closed_within(idle[i], 1000));
        close(idle[i]);
    }
}

/* One client reopening connections as fast as it can holds at most its share, and a client that
 * comes while every slot is taken still gets its answer (the busiest client makes room). */
static void test_api_client_share(void **state)
{
    (void)state;
    server sv;
    assert_int_equal(server_start(&sv, "127.0.0.1"), 0);
    md_view_holder_publish(sv.holder, make_view());
    static int hog[4 * LIMIT];
    int n = 0;
    for (; n < 4 * LIMIT; n++) { /* 1,024 silent connections from 127.0.0.2 */
        hog[n] = raw_connect_from(sv.port, 2);
    }
    /* The server works through its accept queue at its own pace (a loaded machine is slow):
     * poll until it has closed all but the share, within a bound. */
    int open = n;
    for (int64_t deadline = mono_ms() + 10000; open > SHARE && mono_ms() < deadline;) {
        open = 0;
        for (int i = 0; i < n; i++) {
            open += still_open(hog[i]);
        }
        if (open > SHARE) {
            usleep(20 * 1000);
        }
    }
    print_message("one client opened %d connections; %d stay open\n", n, open);
    assert_true(open <= SHARE);
    /* another client is served */
    assert_true(served_from(sv.port, 3));

    /* every slot taken by four clients at their share: a fifth is still served */
    static int full[LIMIT];
    for (int i = 0; i < LIMIT; i++) {
        full[i] = raw_connect_from(sv.port, 10 + i / SHARE);
    }
    assert_true(served_from(sv.port, 20));
    for (int i = 0; i < n; i++) {
        close(hog[i]);
    }
    for (int i = 0; i < LIMIT; i++) {
        close(full[i]);
    }
    server_stop(&sv);
}

static void test_api_start_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    md_view_holder *h = md_view_holder_new();
    md_api *api = NULL;
    char err[256] = "";
    assert_int_equal(md_api_start(&loop, "localhost", 0, h, &api, err, sizeof err), UV_EINVAL);
    assert_non_null(strstr(err, "localhost"));
    assert_int_equal(md_api_start(&loop, "127.0.0.1", 70000, h, &api, err, sizeof err), UV_EINVAL);
    assert_int_equal(md_api_start(&loop, "1.2.3", 0, h, &api, err, sizeof err), UV_EINVAL);

    /* a port someone else holds */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    err[0] = '\0';
    int rc = md_api_start(&loop, "127.0.0.1", ntohs(a.sin_port), h, &api, err, sizeof err);
    assert_int_equal(rc, UV_EADDRINUSE);
    assert_non_null(strstr(err, "cannot listen on 127.0.0.1:"));
    close(fd);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* frees the half-made api */
    assert_int_equal(uv_loop_close(&loop), 0);
    md_view_holder_free(h);

    /* IPv6, when this host has it */
    server sv;
    if (server_start(&sv, "[::1]") != 0) {
        fprintf(stderr, "note: no IPv6 loopback here; IPv6 listening not tested\n");
        return;
    }
    cJSON *j = expect_json(&sv, "GET", "/v1/health", 503);
    assert_string_equal(str(j, "status"), "starting");
    cJSON_Delete(j);
    server_stop(&sv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_holder),
        cmocka_unit_test(test_health_json),
        cmocka_unit_test(test_status_json),
        cmocka_unit_test(test_service_json),
        cmocka_unit_test(test_error_json_and_times),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_metrics_promtool),
        cmocka_unit_test(test_consensus_json),
        cmocka_unit_test(test_consensus_metrics),
        cmocka_unit_test(test_actuators),
        cmocka_unit_test(test_render_streams),
        cmocka_unit_test(test_api_streams),
        cmocka_unit_test(test_api_routes),
        cmocka_unit_test(test_api_bad_requests),
        cmocka_unit_test(test_api_limits),
        cmocka_unit_test(test_api_client_share),
        cmocka_unit_test(test_api_start_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
