/* it_remedy_railway.c: the seed's three scenarios end to end through the Railway actuator: three
 * real nodes, the fake Railway API (real GraphQL over HTTP) driving a real flaky service per
 * Railway service: (1) a crash a restart fixes, (2) a bad deployment only a redeploy fixes, (3) a
 * code bug only a rollback fixes; and Railway faults retried and reported. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "harness.h"

#define N 3

typedef struct {
    it_fake_railway fake; /* fake.svc_port: the flaky child playing the running deployment */
    it_trio t;
} fixture;

static int control(fixture *fx, const char *path)
{
    return it_fake_railway_control(&fx->fake, path);
}

/* Checks every interval_ms, DOWN after failures failed checks. */
static int setup_with(void **state, int interval_ms, int failures)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    const char *extra[] = { "--deploy-delay-ms", "300", NULL };
    assert_int_equal(it_fake_railway_start(&fx->fake, "web", extra), 0);
    assert_int_equal(it_trio_init(&fx->t, false), 0);
    char peers[1024] = "";
    it_trio_peers(&fx->t, peers, sizeof peers);
    for (int i = 0; i < N; i++) {
        char cfg[4096];
        snprintf(cfg, sizeof cfg,
                 "{\"node\":{\"id\":\"%s\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
                 "\"status_print_interval_ms\":0,"
                 "\"cluster\":{\"name\":\"itrw\",\"secret\":\"it-railway-secret-01234\",\"peers\":[%s],"
                 "\"gossip_interval_ms\":100,\"heartbeat_ms\":50,\"election_timeout_ms\":500},"
                 "\"remediation\":{\"railway\":{\"endpoint\":\"http://127.0.0.1:%d/graphql/v2\","
                 "\"token\":\"fake-railway-token-0123\",\"token_kind\":\"project\",\"budget_per_hour\":36000}},"
                 "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":%d,"
                 "\"failures_before_down\":%d,"
                 "\"timeout_ms\":100,\"restart_interval_ms\":800,\"verify_after_ms\":300,"
                 "\"redeploy_timeout_ms\":5000,\"rollback_timeout_ms\":5000,\"known_good_after_ms\":500,"
                 "\"railway\":{\"service_id\":\"web\",\"environment_id\":\"e7a10000-0000-4000-8000-0000000000e1\"}}]}",
                 it_trio_ids[i], peers, fx->fake.port, fx->fake.svc_port, interval_ms, failures);
        assert_int_equal(it_node_start(&fx->t.node[i], cfg, NULL), 0);
        fx->t.running[i] = true;
    }
    *state = fx;
    return 0;
}

static int setup(void **state) { return setup_with(state, 200, 2); }

/* Slow detection: three failed checks 400 ms apart, longer than known_good_after_ms (500). */
static int setup_slow(void **state) { return setup_with(state, 400, 3); }

static int teardown(void **state)
{
    fixture *fx = *state;
    it_trio_stop(&fx->t);
    it_fake_railway_stop(&fx->fake);
    free(fx);
    return 0;
}

static void wait_ready(fixture *fx)
{
    for (int i = 0; i < N; i++)
        assert_true(it_wait_state(&fx->t.node[i], "web", "UP", 10000) > 0);
    /* A leader must exist before the fault, or the timing includes the first election. */
    assert_true(it_wait_leader(&fx->t.node[0], 10000));
    /* After half a second UP the leader records the running deployment as last-known-good: the
     * target a rollback returns to. */
    int64_t deadline = it_wall_ms() + 10000;
    bool known = false;
    while (!known && it_wall_ms() < deadline) {
        cJSON *doc = it_get_json(fx->t.node[2].api_port, "/v1/incidents", NULL);
        const cJSON *kg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "services"), 0),
                                              "known_good_deployment");
        known = cJSON_IsString(kg);
        cJSON_Delete(doc);
        it_sleep_ms(50);
    }
    assert_true(known);
}

static cJSON *wait_resolved(fixture *fx, int64_t t0, int timeout_ms, const cJSON **inc)
{
    int64_t deadline = it_wall_ms() + timeout_ms;
    while (it_wall_ms() < deadline) {
        cJSON *doc = it_get_json(fx->t.node[1].api_port, "/v1/incidents", NULL);
        const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "closed"), 0);
        if (c && cJSON_GetObjectItem(c, "opened_at_ms")->valuedouble >= (double)t0) {
            *inc = c;
            return doc;
        }
        cJSON_Delete(doc);
        it_sleep_ms(50);
    }
    char *log = it_node_log(&fx->t.node[0]);
    fprintf(stderr, "no resolved incident; n1's log:\n%s\n", log);
    free(log);
    return NULL;
}

static void steps_of(const cJSON *inc, char *got, size_t len)
{
    size_t at = 0;
    got[0] = '\0';
    const cJSON *st;
    cJSON_ArrayForEach(st, cJSON_GetObjectItem(inc, "steps"))
        at += (size_t)snprintf(got + at, len - at, "%s%s:%d:%s", at ? "," : "", cJSON_GetObjectItem(st, "step")->valuestring,
                               cJSON_GetObjectItem(st, "attempt")->valueint, cJSON_GetObjectItem(st, "outcome")->valuestring);
}

static void scenario(void **state, const char *bug, const char *want, int64_t bound_ms)
{
    fixture *fx = *state;
    wait_ready(fx);
    char path[128];
    snprintf(path, sizeof path, "/control/services/web/bug?mode=%s", bug);
    int64_t t0 = it_wall_ms();
    assert_int_equal(control(fx, path), 200);
    const cJSON *inc = NULL;
    cJSON *doc = wait_resolved(fx, t0, 30000, &inc);
    assert_non_null(doc);
    char got[512];
    steps_of(inc, got, sizeof got);
    int64_t took = (int64_t)cJSON_GetObjectItem(inc, "closed_at_ms")->valuedouble - t0;
    printf("  %s: %s; resolved %lld ms after the fault (bound %lld)\n", bug, got, (long long)took, (long long)bound_ms);
    assert_string_equal(got, want);
    assert_true(took <= bound_ms);
    cJSON_Delete(doc);
}

static void test_crash_restart(void **state)
{
    scenario(state, "crash", "restart:1:ok", 6000);
}

static void test_bad_deploy_redeploy(void **state)
{
    scenario(state, "bad_deploy", "restart:1:ok,restart:2:ok,restart:3:ok,redeploy:1:ok", 15000);
}

static void test_code_bug_rollback(void **state)
{
    scenario(state, "code_bug", "restart:1:ok,restart:2:ok,restart:3:ok,redeploy:1:ok,redeploy:2:ok,rollback:1:ok", 25000);
}

static void test_faults_are_retried_and_reported(void **state)
{
    fixture *fx = *state;
    wait_ready(fx);
    /* The first two restart calls fail (a 503, then a 429 asking to wait a second). */
    assert_int_equal(control(fx, "/control/fault?kind=status&code=503&count=1&op=deploymentRestart"), 200);
    assert_int_equal(control(fx, "/control/fault?kind=429&retry_after=1&count=1&op=deploymentRestart"), 200);
    int64_t t0 = it_wall_ms();
    assert_int_equal(control(fx, "/control/services/web/bug?mode=crash"), 200);
    const cJSON *inc = NULL;
    cJSON *doc = wait_resolved(fx, t0, 30000, &inc);
    assert_non_null(doc);
    const cJSON *st = cJSON_GetArrayItem(cJSON_GetObjectItem(inc, "steps"), 0);
    const char *detail = cJSON_GetObjectItem(st, "detail")->valuestring;
    printf("  restart detail: %s\n", detail);
    assert_string_equal(cJSON_GetObjectItem(st, "outcome")->valuestring, "ok");
    assert_non_null(strstr(detail, "railway restart"));
    assert_true(cJSON_GetObjectItem(st, "duration_ms")->valuedouble >= 900); /* it honoured Retry-After */
    assert_null(strstr(detail, "fake-railway-token-0123"));
    cJSON_Delete(doc);
    /* The token never reached a log either. */
    for (int i = 0; i < N; i++) {
        char *log = it_node_log(&fx->t.node[i]);
        assert_null(strstr(log, "fake-railway-token-0123"));
        free(log);
    }
}

/* The last-known-good deployment of /v1/incidents on node 3 ("" when none). */
static void known_good(fixture *fx, char *out, size_t len)
{
    cJSON *doc = it_get_json(fx->t.node[2].api_port, "/v1/incidents", NULL);
    const cJSON *kg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "services"), 0),
                                          "known_good_deployment");
    snprintf(out, len, "%s", cJSON_IsString(kg) ? kg->valuestring : "");
    cJSON_Delete(doc);
}

/* Known good means known good: a new deployment becomes last-known-good only once it has itself
 * been live (and the service UP) for known_good_after_ms, however long the service was UP before
 * it came. The fake makes a bad_deploy's deployment live at once, and the rule's wait is 500 ms
 * plus the verdict's lag (2 checks x 200 ms + the 100 ms timeout + a 100 ms gossip round), so
 * nothing may be recorded sooner than 1100 ms after the deploy (the rule before this one took
 * the running deployment at its next lookup, with the service UP for long enough: at once). */
static void test_known_good_counts_from_going_live(void **state)
{
    fixture *fx = *state;
    wait_ready(fx);
    char first[128], now[128] = "";
    known_good(fx, first, sizeof first);
    it_sleep_ms(1000); /* UP for twice known_good_after_ms before the new deployment comes */
    int64_t t0 = it_wall_ms(), took = -1;
    assert_int_equal(control(fx, "/control/services/web/bug?mode=bad_deploy&broken=healthy"), 200);
    while (took < 0 && it_wall_ms() - t0 < 15000) {
        known_good(fx, now, sizeof now);
        if (now[0] && strcmp(now, first) != 0)
            took = it_wall_ms() - t0;
        else
            it_sleep_ms(20);
    }
    printf("  known-good %s -> %s, %lld ms after the deploy (not before 1100)\n", first, now, (long long)took);
    assert_true(took >= 1100);
    assert_true(took <= 8000);
}

/* A broken deployment is never known good, however slowly the checks notice it. The service was
 * UP long enough; then a broken deployment goes live and the verdict stays UP until three failed
 * checks 400 ms apart say otherwise, 800 ms or more later, past known_good_after_ms (500 ms).
 * Before the lag was counted, the leader's lookup at 500 ms saw that deployment serving and the
 * verdict still UP and recorded it: a code bug's rollback then went back to the bug itself and
 * the ladder ended exhausted (medic chaos, code_bug with the matrix's 500 ms checks). */
static void test_broken_deploy_never_known_good(void **state)
{
    fixture *fx = *state;
    wait_ready(fx);
    char first[128], now[128] = "";
    known_good(fx, first, sizeof first);
    assert_true(first[0] != '\0');
    it_sleep_ms(1000);
    assert_int_equal(control(fx, "/control/services/web/bug?mode=code_bug"), 200);
    assert_true(it_wait_state(&fx->t.node[0], "web", "DOWN", 10000) > 0);
    it_sleep_ms(3000); /* well past any lookup the broken deployment could have qualified for */
    known_good(fx, now, sizeof now);
    printf("  known-good before the broken deploy %s, after %s\n", first, now);
    assert_string_equal(now, first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crash_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_deploy_redeploy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_code_bug_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_are_retried_and_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_good_counts_from_going_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_deploy_never_known_good, setup_slow, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
