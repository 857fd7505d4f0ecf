/* it_detect_quorum.c: three real nodes at a 2 s interval watching a real flaky_service: after a
 * crash at a random moment the quorum says DOWN within about one interval, not two: a node's
 * first failure is retried after retry_interval_ms, and its gossip makes the peers check at once. */
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

#define N 3
#define INTERVAL_MS 2000
#define TIMEOUT_MS 1000
#define RETRY_MS 1000 /* the default, left out of the config */
#define FAILURES 2
#define CRASHES 5
#define SLACK_MS 400
#define SECRET "it-detect-secret-0123456789"

/* With retries and early checks: worst case interval + retry; on average the first of three
 * phases (interval / 4) + retry. Without them the second DOWN needs two intervals of its own:
 * on average interval + interval / 2 + ... (about 3 s here), never under one interval. */
#define WORST_BOUND_MS (INTERVAL_MS + RETRY_MS + SLACK_MS)
#define MEAN_BOUND_MS (INTERVAL_MS / 2 + RETRY_MS + SLACK_MS)

static int setup(void **state)
{
    it_trio *t = calloc(1, sizeof *t);
    assert_non_null(t);
    assert_int_equal(it_trio_init(t, true), 0);
    char peers[1024] = "";
    it_trio_peers(t, peers, sizeof peers);
    for (int i = 0; i < N; i++) {
        char cfg[4096];
        snprintf(cfg, sizeof cfg,
                 "{\"node\":{\"id\":\"%s\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
                 "\"status_print_interval_ms\":0,"
                 "\"cluster\":{\"name\":\"itd\",\"secret\":\"%s\",\"peers\":[%s],\"gossip_interval_ms\":200},"
                 "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":%d,"
                 "\"timeout_ms\":%d,\"failures_before_down\":%d}]}",
                 it_trio_ids[i], SECRET, peers, t->flaky.port, INTERVAL_MS, TIMEOUT_MS, FAILURES);
        assert_int_equal(it_node_start(&t->node[i], cfg, NULL), 0);
        t->running[i] = true;
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    it_trio *t = *state;
    it_trio_stop(t);
    free(t);
    return 0;
}

/* Node 0's verdict of web and its since_ms (-1 when it has none). */
static int64_t verdict(it_trio *t, char *buf, size_t len)
{
    cJSON *doc = it_get_json(t->node[0].api_port, "/v1/services/web", NULL);
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "service"), "verdict");
    const cJSON *st = cJSON_GetObjectItem(v, "state"), *since = cJSON_GetObjectItem(v, "since_ms");
    snprintf(buf, len, "%s", cJSON_IsString(st) ? st->valuestring : "");
    int64_t s = cJSON_IsNumber(since) ? (int64_t)since->valuedouble : -1;
    cJSON_Delete(doc);
    return s;
}

static int64_t wait_verdict(it_trio *t, const char *want, int timeout_ms)
{
    int64_t deadline = it_wall_ms() + timeout_ms;
    char buf[32];
    while (it_wall_ms() < deadline) {
        int64_t since = verdict(t, buf, sizeof buf);
        if (strcmp(buf, want) == 0)
            return since;
        it_sleep_ms(10);
    }
    return -1;
}

static void test_crash_seen_by_quorum_within_an_interval(void **state)
{
    it_trio *t = *state;
    srand((unsigned)getpid());
    int64_t sum = 0, worst = 0;
    for (int k = 0; k < CRASHES; k++) {
        assert_true(wait_verdict(t, "UP", 20000) > 0);
        it_sleep_ms(rand() % INTERVAL_MS); /* a random moment in the nodes' cadence */
        int64_t t0 = it_flaky_mode(&t->flaky, "down");
        assert_true(t0 > 0);
        int64_t since = wait_verdict(t, "DOWN", 3 * INTERVAL_MS + 2000);
        assert_true(since > 0);
        int64_t took = since - t0;
        printf("  crash %d: quorum DOWN after %lld ms (bound %d)\n", k + 1, (long long)took, WORST_BOUND_MS);
        assert_true(took <= WORST_BOUND_MS);
        sum += took;
        worst = took > worst ? took : worst;
        assert_true(it_flaky_mode(&t->flaky, "healthy") > 0);
    }
    printf("  mean %lld ms (bound %d), worst %lld ms\n", (long long)(sum / CRASHES), MEAN_BOUND_MS, (long long)worst);
    assert_true(sum / CRASHES <= MEAN_BOUND_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crash_seen_by_quorum_within_an_interval, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
