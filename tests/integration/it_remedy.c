/* it_remedy.c: the remediation ladder end to end with three real nodes, a real flaky service and
 * the exec actuator (the Railway variant is it_remedy_railway.c): the seed's three scenarios, a
 * leader killed mid-ladder, a minority that must not act, the hourly limit, shadow mode and
 * operator pause. Every step is read back from /v1/incidents. */
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
#define INTERVAL_MS 200
#define TIMEOUT_MS 100
#define RESTART_INTERVAL_MS 600
#define VERIFY_MS 300
#define TOKEN "it-remedy-admin-token-0123"

typedef struct {
    it_trio t;
} fixture;

/* fix: which step heals the service ("restart", "redeploy", "rollback" or "" for none). */
static void start_cluster(fixture *fx, const char *fix, const char *extra)
{
    char heal[256], noop[] = "[\"true\"]", peers[1024] = "";
    snprintf(heal, sizeof heal, "[\"curl\",\"-sS\",\"-X\",\"POST\",\"http://127.0.0.1:%d/mode/healthy\"]",
             fx->t.flaky.control_port);
    it_trio_peers(&fx->t, peers, sizeof peers);
    for (int i = 0; i < N; i++) {
        char cfg[8192];
        snprintf(cfg, sizeof cfg,
                 "{\"node\":{\"id\":\"%s\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
                 "\"status_print_interval_ms\":0,"
                 "\"cluster\":{\"name\":\"itm\",\"secret\":\"it-remedy-secret-012345\",\"peers\":[%s],"
                 "\"gossip_interval_ms\":100,\"heartbeat_ms\":50,\"election_timeout_ms\":500},"
                 "\"remediation\":{\"admin_token\":\"" TOKEN "\"},"
                 "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":%d,"
                 "\"timeout_ms\":%d,\"restart_interval_ms\":%d,\"verify_after_ms\":%d,"
                 "\"redeploy_timeout_ms\":2000,\"rollback_timeout_ms\":2000%s,"
                 "\"exec\":{\"restart\":%s,\"redeploy\":%s,\"rollback\":%s,\"timeout_ms\":2000}}]}",
                 it_trio_ids[i], peers, fx->t.flaky.port, INTERVAL_MS, TIMEOUT_MS, RESTART_INTERVAL_MS, VERIFY_MS,
                 extra ? extra : "", strcmp(fix, "restart") == 0 ? heal : noop,
                 strcmp(fix, "redeploy") == 0 ? heal : noop, strcmp(fix, "rollback") == 0 ? heal : noop);
        assert_int_equal(it_node_start(&fx->t.node[i], cfg, NULL), 0);
        fx->t.running[i] = true;
    }
}

static fixture *new_fixture(void)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(it_trio_init(&fx->t, true), 0);
    return fx;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    it_trio_stop(&fx->t);
    free(fx);
    return 0;
}

static int any_node(fixture *fx)
{
    for (int i = 0; i < N; i++)
        if (fx->t.running[i])
            return i;
    return -1;
}

/* Waits until the verdict is UP on every running node (the cluster is ready). */
static void wait_up(fixture *fx)
{
    for (int i = 0; i < N; i++) {
        if (!fx->t.running[i])
            continue;
        int64_t deadline = it_wall_ms() + 10000;
        bool up = false;
        while (!up && it_wall_ms() < deadline) {
            cJSON *doc = it_get_json(fx->t.node[i].api_port, "/v1/services/web", NULL);
            const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "service"), "verdict"), "state");
            up = cJSON_IsString(v) && strcmp(v->valuestring, "UP") == 0;
            cJSON_Delete(doc);
            if (!up)
                it_sleep_ms(20);
        }
        assert_true(up);
    }
}

static const cJSON *wait_closed_incident(fixture *fx, int64_t t0, int timeout_ms, cJSON **doc)
{
    return it_wait_closed_incident(fx->t.node[any_node(fx)].api_port, t0, timeout_ms, doc);
}

/* Checks the steps are exactly want ("restart:1,restart:2,...") and every one finished. */
static void assert_steps(const cJSON *inc, const char *want)
{
    char got[512] = "";
    size_t at = 0;
    const cJSON *st;
    cJSON_ArrayForEach(st, cJSON_GetObjectItem(inc, "steps"))
    {
        at += (size_t)snprintf(got + at, sizeof got - at, "%s%s:%d", at ? "," : "",
                               cJSON_GetObjectItem(st, "step")->valuestring, cJSON_GetObjectItem(st, "attempt")->valueint);
        assert_string_not_equal(cJSON_GetObjectItem(st, "outcome")->valuestring, "pending");
    }
    printf("  steps: %s\n", got);
    assert_string_equal(got, want);
}

static void run_scenario(void **state, const char *fix, const char *want_steps, int64_t bound_ms)
{
    fixture *fx = new_fixture();
    *state = fx;
    start_cluster(fx, fix, NULL);
    wait_up(fx);
    int64_t t0 = it_flaky_mode(&fx->t.flaky, "down");
    assert_true(t0 > 0);
    cJSON *doc = NULL;
    const cJSON *inc = wait_closed_incident(fx, t0, 30000, &doc);
    if (!inc) {
        char *log = it_node_log(&fx->t.node[0]);
        fprintf(stderr, "no resolved incident; n1 log:\n%s\n", log);
        free(log);
        fail();
    }
    assert_string_equal(cJSON_GetObjectItem(inc, "state")->valuestring, "resolved");
    assert_steps(inc, want_steps);
    int64_t took = (int64_t)cJSON_GetObjectItem(inc, "closed_at_ms")->valuedouble - t0;
    printf("  fault to resolved: %lld ms (bound %lld ms)\n", (long long)took, (long long)bound_ms);
    assert_true(took <= bound_ms);
    cJSON_Delete(doc);
}

/* Detection: 2 failures at 200 ms + timeout + gossip; each restart then waits 600 ms. */
#define DETECT_MS (2 * INTERVAL_MS + TIMEOUT_MS + 500)

static void test_crash_fixed_by_restart(void **state)
{
    run_scenario(state, "restart", "restart:1", DETECT_MS + RESTART_INTERVAL_MS + VERIFY_MS + 1500);
}

static void test_bad_deploy_fixed_by_redeploy(void **state)
{
    run_scenario(state, "redeploy", "restart:1,restart:2,restart:3,redeploy:1",
                 DETECT_MS + 3 * RESTART_INTERVAL_MS + 2 * VERIFY_MS + 3000);
}

static void test_code_bug_fixed_by_rollback(void **state)
{
    run_scenario(state, "rollback", "restart:1,restart:2,restart:3,redeploy:1,redeploy:2,rollback:1",
                 DETECT_MS + 3 * RESTART_INTERVAL_MS + 4 * VERIFY_MS + 4000);
}

static int leader_of(fixture *fx)
{
    for (int k = 0; k < 200; k++) {
        cJSON *doc = it_get_json(fx->t.node[any_node(fx)].api_port, "/v1/cluster", NULL);
        const cJSON *l = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "cluster"), "consensus"), "leader");
        int found = -1;
        for (int i = 0; i < N && cJSON_IsString(l); i++)
            if (strcmp(l->valuestring, it_trio_ids[i]) == 0 && fx->t.running[i])
                found = i;
        cJSON_Delete(doc);
        if (found >= 0)
            return found;
        it_sleep_ms(25);
    }
    return -1;
}

/* The leader dies in the middle of a ladder (once kill_after steps have a result); the next
 * leader goes on from the next step and never repeats one. */
static void kill_leader_mid_ladder(void **state, const char *fix, int kill_after, const char *want)
{
    fixture *fx = new_fixture();
    *state = fx;
    start_cluster(fx, fix, NULL);
    wait_up(fx);
    assert_true(leader_of(fx) >= 0);
    int64_t t0 = it_flaky_mode(&fx->t.flaky, "down");
    int killed = -1;
    int64_t deadline = it_wall_ms() + 20000;
    while (it_wall_ms() < deadline && killed < 0) {
        cJSON *doc = it_get_json(fx->t.node[any_node(fx)].api_port, "/v1/incidents", NULL);
        const cJSON *steps = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "open"), 0), "steps");
        int done = 0;
        const cJSON *st;
        cJSON_ArrayForEach(st, steps)
            done += strcmp(cJSON_GetObjectItem(st, "outcome")->valuestring, "pending") != 0;
        if (cJSON_GetArraySize(steps) > 0 && done >= kill_after) {
            killed = leader_of(fx);
            assert_true(killed >= 0);
            it_node_stop(&fx->t.node[killed], SIGKILL, 1000, NULL, NULL);
            fx->t.running[killed] = false;
            printf("  %s: killed leader %s with %d of %d steps done\n", fix, it_trio_ids[killed], done,
                   cJSON_GetArraySize(steps));
        }
        cJSON_Delete(doc);
        it_sleep_ms(5);
    }
    assert_true(killed >= 0);
    cJSON *doc = NULL;
    const cJSON *inc = wait_closed_incident(fx, t0, 30000, &doc);
    assert_non_null(inc);
    assert_steps(inc, want);
    /* The later steps (if any) were proposed by another node. */
    const cJSON *steps = cJSON_GetObjectItem(inc, "steps");
    int n = cJSON_GetArraySize(steps);
    if (n > kill_after && kill_after > 0)
        assert_string_not_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(steps, n - 1), "proposed_by")->valuestring,
                                it_trio_ids[killed]);
    cJSON_Delete(doc);
}

static void test_new_leader_continues_restart_ladder(void **state)
{
    /* Killed while restart #1 runs or right after: it is recorded (ok, or unknown after its
     * timeout) and never run again. */
    kill_leader_mid_ladder(state, "restart", 0, "restart:1");
}

static void test_new_leader_continues_the_ladder(void **state)
{
    kill_leader_mid_ladder(state, "redeploy", 1, "restart:1,restart:2,restart:3,redeploy:1");
}

static void test_new_leader_continues_rollback_ladder(void **state)
{
    kill_leader_mid_ladder(state, "rollback", 4, "restart:1,restart:2,restart:3,redeploy:1,redeploy:2,rollback:1");
}

/* Alone, a node has no quorum: it must neither open an incident nor act. */
static void test_minority_never_acts(void **state)
{
    fixture *fx = new_fixture();
    *state = fx;
    start_cluster(fx, "restart", NULL);
    wait_up(fx);
    for (int i = 1; i < N; i++) {
        it_node_stop(&fx->t.node[i], SIGKILL, 1000, NULL, NULL);
        fx->t.running[i] = false;
    }
    assert_true(it_flaky_mode(&fx->t.flaky, "down") > 0);
    assert_true(it_wait_state(&fx->t.node[0], "web", "DOWN", 5000) > 0); /* it does see it down */
    int64_t until = it_wall_ms() + 3000;
    while (it_wall_ms() < until) {
        cJSON *doc = it_get_json(fx->t.node[0].api_port, "/v1/incidents", NULL);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "open")), 0);
        cJSON_Delete(doc);
        it_sleep_ms(100);
    }
    /* Nothing healed it: the service is still down (the restart command would have fixed it). */
    assert_true(it_wait_state(&fx->t.node[0], "web", "DOWN", 100) > 0);
    assert_int_equal(it_flaky_path_count(&fx->t.flaky, "/mode/healthy"), 0);
}

static void test_hourly_limit_holds(void **state)
{
    fixture *fx = new_fixture();
    *state = fx;
    start_cluster(fx, "", ",\"max_actions_per_hour\":2");
    wait_up(fx);
    assert_true(it_flaky_mode(&fx->t.flaky, "down") > 0);
    int64_t until = it_wall_ms() + DETECT_MS + 5 * RESTART_INTERVAL_MS;
    int steps = 0;
    while (it_wall_ms() < until) {
        cJSON *doc = it_get_json(fx->t.node[0].api_port, "/v1/incidents", NULL);
        steps = cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "open"), 0), "steps"));
        cJSON_Delete(doc);
        assert_true(steps <= 2);
        it_sleep_ms(50);
    }
    printf("  %d actions within the hour (limit 2), the ladder waits\n", steps);
    assert_int_equal(steps, 2);
    bool alerted = false;
    for (int i = 0; i < N; i++) {
        char *log = it_node_log(&fx->t.node[i]);
        alerted = alerted || strstr(log, "event=rate_limited") != NULL;
        free(log);
    }
    assert_true(alerted);
}

static void test_shadow_mode_judges_but_never_acts(void **state)
{
    fixture *fx = new_fixture();
    *state = fx;
    start_cluster(fx, "restart", ",\"shadow\":true");
    wait_up(fx);
    assert_true(it_flaky_mode(&fx->t.flaky, "down") > 0);
    int64_t deadline = it_wall_ms() + 10000;
    const char *outcome = "";
    cJSON *doc = NULL;
    while (it_wall_ms() < deadline) {
        cJSON_Delete(doc);
        doc = it_get_json(fx->t.node[0].api_port, "/v1/incidents", NULL);
        const cJSON *st = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "open"), 0), "steps"), 0);
        outcome = st ? cJSON_GetObjectItem(st, "outcome")->valuestring : "";
        if (strcmp(outcome, "skipped") == 0)
            break;
        it_sleep_ms(50);
    }
    assert_string_equal(outcome, "skipped");
    cJSON_Delete(doc);
    assert_true(it_wait_state(&fx->t.node[0], "web", "DOWN", 100) > 0); /* nothing was done */
    assert_int_equal(it_flaky_path_count(&fx->t.flaky, "/mode/healthy"), 0);
}

static int post_action(int port, const char *action, const char *token)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "curl -s -w ' %%{http_code}' -X POST %s%s%s http://127.0.0.1:%d/v1/services/web/%s",
             token ? "-H 'Authorization: Bearer " : "", token ? token : "", token ? "'" : "", port, action);
    FILE *p = popen(cmd, "r");
    char out[2048] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    pclose(p);
    const char *sp = strrchr(out, ' ');
    int code = sp ? atoi(sp + 1) : -1;
    if (code != 202)
        printf("  %s -> %s\n", action, out);
    return code;
}

static void test_pause_stops_action_and_needs_the_token(void **state)
{
    fixture *fx = new_fixture();
    *state = fx;
    start_cluster(fx, "restart", NULL);
    wait_up(fx);
    assert_true(leader_of(fx) >= 0);
    assert_int_equal(post_action(fx->t.node[1].api_port, "pause", NULL), 401);
    assert_int_equal(post_action(fx->t.node[1].api_port, "pause", "wrong-token-0123456789"), 401);
    assert_int_equal(post_action(fx->t.node[1].api_port, "pause", TOKEN), 202);
    int64_t deadline = it_wall_ms() + 5000;
    bool paused = false;
    while (!paused && it_wall_ms() < deadline) {
        cJSON *doc = it_get_json(fx->t.node[2].api_port, "/v1/services/web", NULL);
        paused = cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "service"), "remediation"), "paused"));
        cJSON_Delete(doc);
        it_sleep_ms(20);
    }
    assert_true(paused);
    assert_true(it_flaky_mode(&fx->t.flaky, "down") > 0);
    int64_t until = it_wall_ms() + DETECT_MS + 2 * RESTART_INTERVAL_MS;
    while (it_wall_ms() < until) {
        cJSON *doc = it_get_json(fx->t.node[0].api_port, "/v1/incidents", NULL);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "open")), 0);
        cJSON_Delete(doc);
        it_sleep_ms(100);
    }
    assert_int_equal(it_flaky_path_count(&fx->t.flaky, "/mode/healthy"), 0);
    /* Resumed, it acts: the restart heals the service. */
    assert_int_equal(post_action(fx->t.node[0].api_port, "resume", TOKEN), 202);
    assert_true(it_wait_state(&fx->t.node[0], "web", "UP", 10000) > 0);
}

/* Past MD_CONSENSUS_SNAPSHOT_EVERY (1000) entries the ledger is snapshotted and the log compacted;
 * a restarted node restores the ledger from the snapshot and the entries after it. */
static void test_ledger_snapshot_compacts_and_restores(void **state)
{
    fixture *fx = new_fixture();
    *state = fx;
    start_cluster(fx, "restart", NULL);
    wait_up(fx);
    int leader = leader_of(fx);
    assert_true(leader >= 0);
    char url[128];
    int accepted = 0;
    for (int k = 0; k < 1101; k++) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/services/web/%s", fx->t.node[leader].api_port,
                 k % 2 ? "resume" : "pause");
        char *body = NULL;
        long code = 0;
        if (md_fetch_bearer("POST", url, TOKEN, 5000, &code, &body, NULL, 0) == 0 && code == 202)
            accepted++;
        free(body);
    }
    assert_int_equal(accepted, 1101);
    /* 1101 alternating actions end paused. Wait until every node applied them. */
    for (int i = 0; i < N; i++) {
        int64_t deadline = it_wall_ms() + 20000;
        double index = 0;
        while (it_wall_ms() < deadline && index < 1100) {
            cJSON *doc = it_get_json(fx->t.node[i].api_port, "/v1/incidents", NULL);
            index = cJSON_GetObjectItem(doc, "ledger_index") ? cJSON_GetObjectItem(doc, "ledger_index")->valuedouble : 0;
            cJSON_Delete(doc);
            it_sleep_ms(50);
        }
        assert_true(index >= 1100);
    }
    int other = (leader + 1) % N;
    char *log = it_node_log(&fx->t.node[other]);
    assert_non_null(strstr(log, "event=snapshot_saved"));
    free(log);
    fx->t.node[other].keep_dir = true;
    it_node_stop(&fx->t.node[other], SIGTERM, 3000, NULL, NULL);
    fx->t.running[other] = false;
    assert_int_equal(it_node_restart(&fx->t.node[other], NULL), 0);
    fx->t.running[other] = true;
    log = it_node_log(&fx->t.node[other]);
    assert_non_null(strstr(log, "event=ledger_restored"));
    free(log);
    int64_t deadline = it_wall_ms() + 10000;
    bool paused = false;
    while (!paused && it_wall_ms() < deadline) {
        cJSON *doc = it_get_json(fx->t.node[other].api_port, "/v1/services/web", NULL);
        paused = cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "service"), "remediation"), "paused"));
        cJSON_Delete(doc);
        it_sleep_ms(50);
    }
    assert_true(paused);
    fx->t.node[other].keep_dir = false;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_crash_fixed_by_restart, teardown),
        cmocka_unit_test_teardown(test_bad_deploy_fixed_by_redeploy, teardown),
        cmocka_unit_test_teardown(test_code_bug_fixed_by_rollback, teardown),
        cmocka_unit_test_teardown(test_new_leader_continues_restart_ladder, teardown),
        cmocka_unit_test_teardown(test_new_leader_continues_the_ladder, teardown),
        cmocka_unit_test_teardown(test_new_leader_continues_rollback_ladder, teardown),
        cmocka_unit_test_teardown(test_minority_never_acts, teardown),
        cmocka_unit_test_teardown(test_hourly_limit_holds, teardown),
        cmocka_unit_test_teardown(test_shadow_mode_judges_but_never_acts, teardown),
        cmocka_unit_test_teardown(test_pause_stops_action_and_needs_the_token, teardown),
        cmocka_unit_test_teardown(test_ledger_snapshot_compacts_and_restores, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
