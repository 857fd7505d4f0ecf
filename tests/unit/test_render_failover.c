/* test_render_failover.c: unit tests of failover in the API's documents (node/api/
 * render_failover.c): GET /v1/resolve/{service}, the "failover" object in /v1/status and
 * /v1/services/{name}, and the medic_failover_* / medic_proxy_* metrics (checked by promtool). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"

#define T0 INT64_C(1796600000000)

/* Two services: "web" with a primary (open breaker) and a backup (active) behind a proxy, and
 * "plain" without endpoints. */
static md_view *make_view(void)
{
    md_view *s = md_view_alloc(2);
    assert_non_null(s);
    s->built_ms = T0;
    s->node_id = md_view_strdup(s, "n1");
    s->version = "9.9.9";
    md_view_service *w = &s->services[0];
    w->name = md_view_strdup(s, "web");
    w->kind = "http";
    {
        md_history *h = md_view_calloc(s, sizeof *h);
        assert_non_null(h);
        md_history_init(h, T0);
        w->history = h;
    }
    md_view_failover *f = md_view_calloc(s, sizeof *f);
    assert_non_null(f);
    w->failover = f;
    f->n_endpoints = 2;
    f->endpoints = md_view_calloc(s, 2 * sizeof *f->endpoints);
    assert_non_null(f->endpoints);
    f->endpoints[0] = (md_view_endpoint){ .target = md_view_strdup(s, "http://10.0.0.5:8080/health"),
                                          .breaker = "open", .breaker_since_ms = T0 - 500,
                                          .half_open_at_ms = T0 + 1500, .open_period_ms = 2000, .opens = 2,
                                          .probes = 40, .probes_failed = 3, .traffic_ok = 65, .traffic_failed = 2,
                                          .last_err = MD_ERR_CONNECT, .last_latency_ms = 0.25 };
    f->endpoints[1] = (md_view_endpoint){ .target = md_view_strdup(s, "http://10.0.1.7:8080/\"x\""),
                                          .breaker = "closed", .breaker_since_ms = T0 - 60000, .open_period_ms = 1000,
                                          .probes = 40, .traffic_ok = 123 };
    f->active_endpoint = 1;
    f->active_since_ms = T0 - 500;
    f->failovers = 1;
    f->proxy = md_view_calloc(s, sizeof *f->proxy);
    assert_non_null(f->proxy);
    *f->proxy = (md_view_proxy){ .listen = md_view_strdup(s, "127.0.0.1:9080"), .connections_total = 188,
                                 .connections_active = 1, .retries = 2 };
    md_view_service *p = &s->services[1];
    p->name = md_view_strdup(s, "plain");
    p->kind = "tcp";
    {
        md_history *h = md_view_calloc(s, sizeof *h);
        assert_non_null(h);
        md_history_init(h, T0);
        p->history = h;
    }
    return s;
}

static cJSON *parse(char *text)
{
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    return j;
}

static void test_resolve(void **state)
{
    (void)state;
    md_view *s = make_view();
    cJSON *j = parse(md_render_resolve_json(s, "web", T0 + 10));
    assert_string_equal(cJSON_GetObjectItem(j, "service")->valuestring, "web");
    assert_string_equal(cJSON_GetObjectItem(j, "active")->valuestring, "http://10.0.1.7:8080/\"x\"");
    assert_int_equal(cJSON_GetObjectItem(j, "active_index")->valuedouble, 1);
    assert_int_equal(cJSON_GetObjectItem(j, "failovers")->valuedouble, 1);
    const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "endpoints"), 0);
    assert_string_equal(cJSON_GetObjectItem(e0, "breaker")->valuestring, "open");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(e0, "active")));
    assert_true(cJSON_GetObjectItem(e0, "half_open_at_ms")->valuedouble == (double)(T0 + 1500));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(e0, "traffic"), "failed")->valuedouble, 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(e0, "probes"), "last_result")->valuestring, "connect");
    const cJSON *e1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "endpoints"), 1);
    assert_null(cJSON_GetObjectItem(e1, "half_open_at_ms"));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "proxy"), "connections_total")->valuedouble, 188);
    cJSON_Delete(j);
    /* No endpoints, no such service: NULL (the route answers 404). */
    assert_null(md_render_resolve_json(s, "plain", T0));
    assert_null(md_render_resolve_json(s, "nope", T0));
    /* No breaker closed: "active" is null. */
    ((md_view_failover *)s->services[0].failover)->active_endpoint = -1;
    j = parse(md_render_resolve_json(s, "web", T0));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "active")));
    assert_int_equal(cJSON_GetObjectItem(j, "active_index")->valuedouble, -1);
    cJSON_Delete(j);
    md_view_unref(s);
}

static void test_status_has_failover(void **state)
{
    (void)state;
    md_view *s = make_view();
    cJSON *j = parse(md_render_status_json(s, T0));
    const cJSON *svcs = cJSON_GetObjectItem(j, "services");
    const cJSON *fo = cJSON_GetObjectItem(cJSON_GetArrayItem(svcs, 0), "failover");
    assert_non_null(fo);
    assert_int_equal(cJSON_GetObjectItem(fo, "active_index")->valuedouble, 1);
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(svcs, 1), "failover"));
    cJSON_Delete(j);
    j = parse(md_render_service_json(s, "web", T0));
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "service"), "failover"));
    cJSON_Delete(j);
    md_view_unref(s);
}

static void test_metrics(void **state)
{
    (void)state;
    md_view *s = make_view();
    char *m = md_render_metrics(s, T0);
    assert_non_null(m);
    static const char *const want[] = {
        "\nmedic_failover_active_endpoint{service=\"web\",endpoint=\"http://10.0.1.7:8080/\\\"x\\\"\",index=\"1\"} 1\n",
        "\nmedic_failover_active_endpoint{service=\"web\",endpoint=\"http://10.0.0.5:8080/health\",index=\"0\"} 0\n",
        "\nmedic_failover_breaker_state{service=\"web\",endpoint=\"http://10.0.0.5:8080/health\",state=\"open\"} 1\n",
        "\nmedic_failover_breaker_state{service=\"web\",endpoint=\"http://10.0.0.5:8080/health\",state=\"closed\"} 0\n",
        "\nmedic_failover_breaker_opens_total{service=\"web\",endpoint=\"http://10.0.0.5:8080/health\"} 2\n",
        "\nmedic_failover_switches_total{service=\"web\"} 1\n",
        "\nmedic_proxy_connections_total{service=\"web\",outcome=\"accepted\"} 188\n",
        "\nmedic_proxy_connections_active{service=\"web\"} 1\n",
        "\nmedic_proxy_retries_total{service=\"web\"} 2\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(m, want[i]))
            fail_msg("metrics lack %s\n---\n%s", want[i], m);
    assert_null(strstr(m, "service=\"plain\",endpoint"));
    if (access("/usr/bin/promtool", X_OK) == 0) {
        char tmpl[] = "/tmp/medic-fo-metrics-XXXXXX";
        int fd = mkstemp(tmpl);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, m, strlen(m)), (ssize_t)strlen(m));
        close(fd);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s 2>&1", tmpl);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char line[512];
        int lines = 0;
        while (fgets(line, sizeof line, p)) {
            fprintf(stderr, "promtool: %s", line);
            lines++;
        }
        int st = pclose(p);
        unlink(tmpl);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        assert_int_equal(lines, 0);
    }
    free(m);
    /* A view without endpoints gets no failover family at all. */
    md_view *plain = md_view_alloc(1);
    plain->services[0].name = md_view_strdup(plain, "a");
    plain->services[0].kind = "tcp";
    md_history *ph = md_view_calloc(plain, sizeof *ph);
    assert_non_null(ph);
    md_history_init(ph, T0);
    plain->services[0].history = ph;
    m = md_render_metrics(plain, T0);
    assert_non_null(m);
    assert_null(strstr(m, "medic_failover"));
    free(m);
    md_view_unref(plain);
    md_view_unref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_status_has_failover),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
