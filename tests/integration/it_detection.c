/* it_detection.c: a real medic node watching a real flaky_service: every health transition and
 * its timing bound, read back through /v1/services and /metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define INTERVAL_MS 200
#define TIMEOUT_MS 100
#define FAILURES 2
#define SUCCESSES 1
#define SLACK_MS 250

/* The bound: a fault is seen within (failures-1)*interval + timeout + 250 ms. */
#define DOWN_BOUND_MS ((FAILURES - 1) * INTERVAL_MS + TIMEOUT_MS + SLACK_MS)
#define UP_BOUND_MS ((SUCCESSES - 1) * INTERVAL_MS + TIMEOUT_MS + SLACK_MS)

typedef struct {
    it_flaky flaky;
    it_node node;
} fixture;

static int start_pair(void **state, const char *service_extra, int failures, int successes)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(it_flaky_start(&fx->flaky), 0);
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"it\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
             "\"status_print_interval_ms\":0,"
             "\"defaults\":{\"interval_ms\":%d,\"timeout_ms\":%d,\"failures_before_down\":%d,"
             "\"successes_before_up\":%d,\"slow_ms\":60,\"trend_horizon_ms\":0},"
             "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\"%s}]}",
             INTERVAL_MS, TIMEOUT_MS, failures, successes, fx->flaky.port, service_extra);
    if (it_node_start(&fx->node, cfg, NULL) != 0) {
        it_flaky_stop(&fx->flaky);
        free(fx);
        fail_msg("node did not start");
    }
    *state = fx;
    return 0;
}

static int setup(void **state) { return start_pair(state, "", FAILURES, SUCCESSES); }

static int teardown(void **state)
{
    fixture *fx = *state;
    it_node_stop(&fx->node, SIGTERM, 3000, NULL, NULL);
    it_flaky_stop(&fx->flaky);
    free(fx);
    return 0;
}

static char *service_field_str(fixture *fx, const char *key, char *buf, size_t len)
{
    cJSON *doc = it_get_json(fx->node.api_port, "/v1/services/web", NULL);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "service");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);
    snprintf(buf, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(doc);
    return buf;
}

/* Breaks the service with mode, waits for want, and checks the detection delay. */
static int64_t fault_and_measure(fixture *fx, const char *mode, const char *want, int64_t bound_ms)
{
    int64_t t0 = it_flaky_mode(&fx->flaky, mode);
    assert_true(t0 > 0);
    int64_t seen = it_wait_state(&fx->node, "web", want, 10000);
    if (seen < 0) {
        char *log = it_node_log(&fx->node);
        fprintf(stderr, "never saw %s after %s; node log:\n%s\n", want, mode, log);
        free(log);
        fail();
    }
    int64_t delay = seen - t0;
    printf("  %-12s -> %-8s in %4lld ms (bound %lld ms)\n", mode, want, (long long)delay, (long long)bound_ms);
    assert_true(delay >= 0);
    assert_true(delay <= bound_ms);
    return delay;
}

static void test_refused_goes_down_and_recovers(void **state)
{
    fixture *fx = *state;
    assert_true(it_wait_state(&fx->node, "web", "UP", 5000) > 0);
    fault_and_measure(fx, "down", "DOWN", DOWN_BOUND_MS);
    char cause[256];
    assert_non_null(strstr(service_field_str(fx, "cause", cause, sizeof cause), "connect"));
    assert_string_equal(service_field_str(fx, "last_error", cause, sizeof cause), "connect");
    fault_and_measure(fx, "healthy", "UP", UP_BOUND_MS);
}

static void test_hang_goes_down_with_timeout(void **state)
{
    fixture *fx = *state;
    assert_true(it_wait_state(&fx->node, "web", "UP", 5000) > 0);
    fault_and_measure(fx, "hang", "DOWN", DOWN_BOUND_MS);
    char cause[256];
    assert_non_null(strstr(service_field_str(fx, "cause", cause, sizeof cause), "timeout"));
    fault_and_measure(fx, "healthy", "UP", UP_BOUND_MS);
}

static void test_500_goes_down_with_status(void **state)
{
    fixture *fx = *state;
    assert_true(it_wait_state(&fx->node, "web", "UP", 5000) > 0);
    fault_and_measure(fx, "error", "DOWN", DOWN_BOUND_MS);
    char buf[256];
    assert_string_equal(service_field_str(fx, "last_error", buf, sizeof buf), "status");
    assert_true(it_service_number(&fx->node, "web", "last_http_status") == 500);
    fault_and_measure(fx, "healthy", "UP", UP_BOUND_MS);
}

static void test_close_mid_response_goes_down_with_body(void **state)
{
    fixture *fx = *state;
    assert_true(it_wait_state(&fx->node, "web", "UP", 5000) > 0);
    fault_and_measure(fx, "close", "DOWN", DOWN_BOUND_MS);
    char buf[256];
    assert_string_equal(service_field_str(fx, "last_error", buf, sizeof buf), "body");
}

static void test_slow_is_degraded(void **state)
{
    fixture *fx = *state;
    assert_true(it_wait_state(&fx->node, "web", "UP", 5000) > 0);
    /* slow_ms is 60: answers of 80 ms are slow but within the 100 ms timeout. One slow check
     * is enough, so the bound is an interval plus the answer time plus slack. */
    fault_and_measure(fx, "slow?ms=80", "DEGRADED", INTERVAL_MS + 80 + SLACK_MS);
    char buf[256];
    assert_non_null(strstr(service_field_str(fx, "cause", buf, sizeof buf), "slow"));
    fault_and_measure(fx, "healthy", "UP", INTERVAL_MS + SLACK_MS);
}

/* One failed check must not flip the state: fail?count=1 fails exactly the next request. */
static void test_single_failure_does_not_flap(void **state)
{
    fixture *fx = *state;
    int64_t up_since = it_wait_state(&fx->node, "web", "UP", 5000);
    assert_true(up_since > 0);
    double failed_before = it_service_number(&fx->node, "web", "checks.total") -
                           it_service_number(&fx->node, "web", "checks.ok");
    assert_true(it_flaky_mode(&fx->flaky, "fail?count=1") > 0);
    /* Wait (bounded) until the node has recorded that one failure and a success after it. */
    int64_t deadline = it_wall_ms() + 5000;
    double failed = failed_before;
    double succ = 0;
    while (it_wall_ms() < deadline) {
        failed = it_service_number(&fx->node, "web", "checks.total") - it_service_number(&fx->node, "web", "checks.ok");
        succ = it_service_number(&fx->node, "web", "consecutive_successes");
        if (failed == failed_before + 1 && succ >= 1)
            break;
        char st[32];
        assert_string_equal(service_field_str(fx, "state", st, sizeof st), "UP"); /* never DOWN on the way */
        it_sleep_ms(20);
    }
    assert_true(failed == failed_before + 1);
    assert_true(succ >= 1);
    /* Still UP, and UP since before the failure: the state never changed. */
    assert_int_equal(it_wait_state(&fx->node, "web", "UP", 1000), up_since);
}

static void test_metrics_pass_promtool_and_count(void **state)
{
    fixture *fx = *state;
    assert_true(it_wait_state(&fx->node, "web", "UP", 5000) > 0);
    fault_and_measure(fx, "error", "DOWN", DOWN_BOUND_MS);
    long code = 0;
    char *text = it_get(fx->node.api_port, "/metrics", &code);
    assert_non_null(text);
    assert_int_equal(code, 200);
    assert_non_null(strstr(text, "medic_service_up{service=\"web\"} 0"));
    assert_non_null(strstr(text, "medic_service_state{service=\"web\",state=\"DOWN\"} 1"));
    assert_non_null(strstr(text, "medic_checks_total{service=\"web\",result=\"status\"}"));
    assert_non_null(strstr(text, "medic_check_duration_seconds_bucket{service=\"web\",le=\"+Inf\"}"));
    if (access("/usr/bin/promtool", X_OK) == 0) {
        char path[] = "/tmp/medic-metrics-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        FILE *f = fdopen(fd, "w");
        fputs(text, f);
        fclose(f);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
        FILE *p = popen(cmd, "r");
        char out[4096] = "";
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = '\0';
        int st = pclose(p);
        unlink(path);
        if (st != 0 || n > 0)
            fprintf(stderr, "promtool said:\n%s\n", out);
        assert_int_equal(st, 0);
        assert_int_equal(n, 0);
    } else {
        printf("  promtool not installed: format check skipped (scripts/bootstrap installs it)\n");
    }
    free(text);
}

/* A latency that rises steadily is flagged DEGRADED before it crosses slow_ms. */
static int setup_trend(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(it_flaky_start(&fx->flaky), 0);
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"it\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
             "\"status_print_interval_ms\":0,"
             "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\","
             "\"interval_ms\":200,\"timeout_ms\":190,\"slow_ms\":150,\"trend_window\":6,"
             "\"trend_horizon_ms\":10000}]}",
             fx->flaky.port);
    if (it_node_start(&fx->node, cfg, NULL) != 0) {
        it_flaky_stop(&fx->flaky);
        free(fx);
        fail_msg("node did not start");
    }
    *state = fx;
    return 0;
}

static void test_rising_latency_warns_before_crossing(void **state)
{
    fixture *fx = *state;
    assert_true(it_wait_state(&fx->node, "web", "UP", 5000) > 0);
    /* Each answer 4 ms slower than the one before: 10, 14, 18 ... crossing 150 ms after ~35 checks. */
    assert_true(it_flaky_mode(&fx->flaky, "ramp?start=10&step=4") > 0);
    assert_true(it_wait_state(&fx->node, "web", "DEGRADED", 15000) > 0);
    double last = it_service_number(&fx->node, "web", "latency_ms.last");
    char buf[256];
    printf("  DEGRADED by trend with last latency %.1f ms (slow_ms 150): %s\n", last,
           service_field_str(fx, "cause", buf, sizeof buf));
    assert_true(last > 0 && last < 150);
    assert_non_null(strstr(buf, "trend"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refused_goes_down_and_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang_goes_down_with_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_500_goes_down_with_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_mid_response_goes_down_with_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_is_degraded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_failure_does_not_flap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_pass_promtool_and_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rising_latency_warns_before_crossing, setup_trend, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
