/* it_overload.c: a node asked to check far more than it can keeps answering its API, keeps
 * checking, and stops promptly. 1,500 services every 20 ms (75,000 checks/s offered, with the
 * default max_concurrent_checks) against one flaky_service: checks time out and fall behind,
 * which is allowed; a loop that never reaches its I/O (the API, the checks' own sockets) is not. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

enum { N_SERVICES = 1500, INTERVAL_MS = 20, WATCH_MS = 5000, POLL_MS = 250, ANSWER_MS = 1500 };

static char *overload_config(int port)
{
    size_t cap = 256 + (size_t)N_SERVICES * 128;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t at = (size_t)snprintf(s, cap,
                                 "{\"api\":{\"listen\":\"127.0.0.1:@API@\"},\"status_print_interval_ms\":0,"
                                 "\"log\":{\"level\":\"error\"},\"services\":[");
    for (int i = 0; i < N_SERVICES; i++)
        at += (size_t)snprintf(s + at, cap - at,
                               "%s{\"name\":\"s%d\",\"url\":\"http://127.0.0.1:%d/s%d\",\"interval_ms\":%d,"
                               "\"timeout_ms\":%d}",
                               i ? "," : "", i, port, i, INTERVAL_MS, INTERVAL_MS - 1);
    snprintf(s + at, cap - at, "]}");
    return s;
}

static double checks_total(int api_port)
{
    long code = 0;
    cJSON *st = it_get_json(api_port, "/v1/status", &code);
    if (!st || code != 200) {
        cJSON_Delete(st);
        return -1;
    }
    double total = 0;
    const cJSON *svc;
    cJSON_ArrayForEach(svc, cJSON_GetObjectItem(st, "services"))
    {
        const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(svc, "checks"), "total");
        if (cJSON_IsNumber(n))
            total += n->valuedouble;
    }
    cJSON_Delete(st);
    return total;
}

static void overloaded_node_keeps_answering(void **state)
{
    (void)state;
    it_flaky f;
    assert_int_equal(it_flaky_start(&f), 0);
    char *cfg = overload_config(f.port);
    it_node n = { 0 };
    int rc = it_node_start(&n, cfg, NULL);
    free(cfg);
    if (rc != 0) {
        char *log = it_node_log(&n);
        fprintf(stderr, "node did not start:\n%s\n", log ? log : "");
        free(log);
    }
    assert_int_equal(rc, 0);
    double first = checks_total(n.api_port);
    int64_t worst = 0, t_end = it_wall_ms() + WATCH_MS;
    int answers = 0;
    while (it_wall_ms() < t_end) {
        int64_t t0 = it_wall_ms();
        long code = 0;
        char *body = it_get(n.api_port, "/v1/health", &code);
        int64_t took = it_wall_ms() - t0;
        assert_non_null(body);
        assert_int_equal(code, 200);
        free(body);
        if (took > worst)
            worst = took;
        answers++;
        it_sleep_ms(POLL_MS);
    }
    double last = checks_total(n.api_port);
    printf("overload: %d answers, slowest %lld ms; checks %.0f -> %.0f\n", answers, (long long)worst, first, last);
    assert_true(worst < ANSWER_MS);
    assert_true(first >= 0 && last > first); /* still checking, however late */
    int status = 0;
    int64_t elapsed = 0;
    assert_int_equal(it_node_stop(&n, SIGTERM, 5000, &status, &elapsed), 0); /* exited by itself */
    assert_true(elapsed < 4000);
    it_rmtree(n.dir);
    it_flaky_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(overloaded_node_keeps_answering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
