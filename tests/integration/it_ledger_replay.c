/* it_ledger_replay.c: a restart does not log the ledger's history again (issue 11, item 5). A
 * cluster of one heals a flaky service (so the Raft log holds an incident, its step and its
 * result), is stopped and started again: the new run rebuilds the ledger from the log, and says
 * so in one `ledger_replayed` line instead of repeating every `ledger` line (and every
 * `ledger_entry_refused` warning) of the earlier run. Before, each restart logged them all. */
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
    fx->node.keep_dir = false;
    if (fx->running) {
        it_node_stop(&fx->node, SIGTERM, 5000, NULL, NULL);
    } else {
        it_rmtree(fx->node.dir);
    }
    it_flaky_stop(&fx->flaky);
    free(fx);
    return 0;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
        n++;
    }
    return n;
}

static void test_restart_does_not_relog_ledger(void **state)
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
             "\"cluster\":{\"name\":\"its\",\"secret\":\"it-ledger-replay-secret-0123\","
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
    const cJSON *inc = it_wait_closed_incident(fx->node.api_port, t0, 20000, &doc);
    assert_non_null(inc);
    cJSON_Delete(doc);

    fx->node.keep_dir = true; /* the data directory (and the log) must survive the stop */
    assert_int_equal(it_node_stop(&fx->node, SIGTERM, 5000, NULL, NULL), 0);
    fx->running = false;
    char *first = it_node_log(&fx->node); /* the log file is appended to across runs */
    size_t first_len = strlen(first);
    int entries = count(first, "event=ledger ");
    assert_true(entries >= 3); /* the incident, its step, its result at least */
    free(first);

    assert_int_equal(it_node_restart(&fx->node, NULL), 0);
    fx->running = true;
    assert_true(it_wait_state(&fx->node, "web", "UP", 10000) >= 0);
    char *log = it_node_log(&fx->node);
    const char *second = log + first_len;
    for (int i = 0; i < 100 && !strstr(second, "event=ledger_replayed"); i++) {
        free(log);
        it_sleep_ms(50);
        log = it_node_log(&fx->node);
        second = log + first_len;
    }
    if (count(second, "event=ledger ") != 0 || count(second, "ledger_entry_refused") != 0 ||
        count(second, "event=ledger_replayed") != 1) {
        fprintf(stderr, "second run's log:\n%s\n", second);
        fail();
    }
    assert_non_null(strstr(strstr(second, "event=ledger_replayed"), "entries="));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_restart_does_not_relog_ledger, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
