/* it_remedy_single.c: a cluster of one (a `cluster` section whose peers hold only the node itself)
 * heals a real flaky service with the exec actuator. Such a node commits and applies an entry
 * inside its own propose call; the intent must still be executed by the process that proposed
 * it (before the fix it was committed, never run, and recorded outcome unknown at its timeout). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

typedef struct {
    it_flaky flaky;
    it_node node;
    bool running;
} fixture;

static int teardown(void **state)
{
    fixture *fx = *state;
    if (fx->running) {
        it_node_stop(&fx->node, SIGTERM, 5000, NULL, NULL);
    }
    it_flaky_stop(&fx->flaky);
    free(fx);
    return 0;
}

static const cJSON *wait_closed_incident(fixture *fx, int64_t t0, int timeout_ms, cJSON **doc)
{
    return it_wait_closed_incident(fx->node.api_port, t0, timeout_ms, doc);
}

static void test_cluster_of_one_heals_with_exec(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    *state = fx;
    assert_int_equal(it_flaky_start(&fx->flaky), 0);
    int cport = md_free_port();
    assert_true(cport > 0);
    char cfg[4096];
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"solo\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
             "\"status_print_interval_ms\":0,"
             "\"cluster\":{\"name\":\"its\",\"secret\":\"it-remedy-single-secret-0123\","
             "\"peers\":[{\"id\":\"solo\",\"address\":\"tcp://127.0.0.1:%d\"}],"
             "\"gossip_interval_ms\":100,\"heartbeat_ms\":50,\"election_timeout_ms\":500},"
             "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":200,"
             "\"timeout_ms\":100,\"restart_interval_ms\":600,\"verify_after_ms\":300,"
             "\"exec\":{\"restart\":[\"curl\",\"-sS\",\"-X\",\"POST\",\"http://127.0.0.1:%d/mode/healthy\"],"
             "\"timeout_ms\":2000}}]}",
             cport, fx->flaky.port, fx->flaky.control_port);
    assert_int_equal(it_node_start(&fx->node, cfg, NULL), 0);
    fx->running = true;
    assert_true(it_wait_state(&fx->node, "web", "UP", 10000) >= 0);

    int64_t t0 = it_flaky_mode(&fx->flaky, "down");
    assert_true(t0 > 0);
    cJSON *doc = NULL;
    const cJSON *inc = wait_closed_incident(fx, t0, 20000, &doc);
    char *log = it_node_log(&fx->node);
    if (!inc) {
        fprintf(stderr, "no resolved incident; log:\n%s\n", log);
        free(log);
        fail();
    }
    assert_string_equal(cJSON_GetObjectItem(inc, "state")->valuestring, "resolved");
    const cJSON *steps = cJSON_GetObjectItem(inc, "steps");
    assert_int_equal(cJSON_GetArraySize(steps), 1);
    const cJSON *st = cJSON_GetArrayItem(steps, 0);
    assert_string_equal(cJSON_GetObjectItem(st, "step")->valuestring, "restart");
    assert_int_equal(cJSON_GetObjectItem(st, "attempt")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(st, "outcome")->valuestring, "ok");
    assert_string_equal(cJSON_GetObjectItem(st, "proposed_by")->valuestring, "solo");
    assert_string_equal(cJSON_GetObjectItem(st, "result_by")->valuestring, "solo");
    int64_t took = (int64_t)cJSON_GetObjectItem(inc, "closed_at_ms")->valuedouble - t0;
    printf("  cluster of one: fault to resolved in %lld ms\n", (long long)took);
    assert_true(took < 10000);
    /* The restart command really ran (its curl healed the service), and the node said so. */
    assert_non_null(strstr(log, "action_started"));
    assert_null(strstr(log, "intent_not_executed"));
    free(log);
    cJSON_Delete(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cluster_of_one_heals_with_exec, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
