/* it_remedy_blocked.c: only attempts count, end to end, with three nodes and with a cluster of
 * one: real `medic node` processes, the fake Railway API and a real flaky service. A restart that
 * never reaches Railway (auth refused, 429 asking for an hour, a 5xx storm) leaves the ladder on
 * restart #1: the incident shows "blocked" with the reason, the leader tells people once, and
 * the restart is tried again until Railway takes it (then it counts, once), the operator pauses
 * the service, or the service comes back by itself (then it is recorded as not attempted). */
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

#define TOKEN "it-blocked-admin-token-0123"

typedef struct {
    int n;             /* nodes: 1 or 3 */
    bool own_service;  /* watch a flaky_service of the test's (it recovers when told) instead of
                        * the fake's deployment child (which only a Railway action brings back) */
    it_fake_railway fake;
    it_trio t;
} fixture;

static int control(fixture *fx, const char *path)
{
    return it_fake_railway_control(&fx->fake, path);
}

static int setup_n(void **state, int n, bool own_service)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->n = n;
    fx->own_service = own_service;
    const char *extra[] = { "--deploy-delay-ms", "200", NULL };
    assert_int_equal(it_fake_railway_start(&fx->fake, "web", extra), 0);
    assert_int_equal(it_trio_init(&fx->t, own_service), 0);
    int watched = own_service ? fx->t.flaky.port : fx->fake.svc_port;
    char peers[1024] = "";
    it_trio_peers(&fx->t, peers, sizeof peers);
    if (n == 1) { /* a cluster of one: its peers hold only itself */
        *strstr(peers, "},") = '\0';
        strcat(peers, "}");
    }
    for (int i = 0; i < n; i++) {
        char cfg[4096];
        snprintf(cfg, sizeof cfg,
                 "{\"node\":{\"id\":\"%s\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
                 "\"status_print_interval_ms\":0,"
                 "\"cluster\":{\"name\":\"itblk\",\"secret\":\"it-blocked-secret-01234\",\"peers\":[%s],"
                 "\"gossip_interval_ms\":100,\"heartbeat_ms\":50,\"election_timeout_ms\":500},"
                 "\"remediation\":{\"admin_token\":\"" TOKEN "\","
                 "\"railway\":{\"endpoint\":\"http://127.0.0.1:%d/graphql/v2\","
                 "\"token\":\"fake-railway-token-0123\",\"token_kind\":\"project\"}},"
                 "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":200,"
                 "\"timeout_ms\":100,\"restart_interval_ms\":800,\"verify_after_ms\":300,\"restart_timeout_ms\":3000,"
                 "\"railway\":{\"service_id\":\"web\",\"environment_id\":\"e7a10000-0000-4000-8000-0000000000e1\"}}]}",
                 it_trio_ids[i], peers, fx->fake.port, watched);
        assert_int_equal(it_node_start(&fx->t.node[i], cfg, NULL), 0);
        fx->t.running[i] = true;
    }
    *state = fx;
    return 0;
}

static int setup1(void **state) { return setup_n(state, 1, false); }
static int setup3(void **state) { return setup_n(state, 3, false); }
static int setup1_own(void **state) { return setup_n(state, 1, true); }
static int setup3_own(void **state) { return setup_n(state, 3, true); }

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
    for (int i = 0; i < fx->n; i++)
        assert_true(it_wait_state(&fx->t.node[i], "web", "UP", 10000) > 0);
    assert_true(it_wait_leader(&fx->t.node[0], 10000));
}

/* The open incident of /v1/incidents on node i (the document, *inc inside it), or NULL. */
static cJSON *open_incident(fixture *fx, int i, const cJSON **inc)
{
    cJSON *doc = it_get_json(fx->t.node[i].api_port, "/v1/incidents", NULL);
    const cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "open"), 0);
    if (!o) {
        cJSON_Delete(doc);
        return NULL;
    }
    *inc = o;
    return doc;
}

/* Waits until every node shows the open incident blocked with a reason containing want. */
static void wait_blocked(fixture *fx, const char *want)
{
    for (int i = 0; i < fx->n; i++) {
        int64_t deadline = it_wall_ms() + 15000;
        bool seen = false;
        while (!seen && it_wall_ms() < deadline) {
            const cJSON *inc = NULL;
            cJSON *doc = open_incident(fx, i, &inc);
            const cJSON *b = doc ? cJSON_GetObjectItem(inc, "blocked") : NULL;
            const cJSON *r = cJSON_GetObjectItem(b, "reason");
            seen = doc && strcmp(cJSON_GetObjectItem(inc, "state")->valuestring, "blocked") == 0 &&
                   cJSON_IsString(r) && strstr(r->valuestring, want);
            cJSON_Delete(doc);
            if (!seen)
                it_sleep_ms(50);
        }
        if (!seen) {
            char *log = it_node_log(&fx->t.node[0]);
            fprintf(stderr, "n%d never showed the incident blocked (%s); n1's log:\n%s\n", i + 1, want, log);
            free(log);
        }
        assert_true(seen);
    }
}

/* While blocked, the ladder does not move: one step, restart #1, pending, nothing counted but it. */
static void assert_ladder_held(fixture *fx)
{
    const cJSON *inc = NULL;
    cJSON *doc = open_incident(fx, fx->n - 1, &inc);
    assert_non_null(doc);
    const cJSON *steps = cJSON_GetObjectItem(inc, "steps");
    assert_int_equal(cJSON_GetArraySize(steps), 1);
    const cJSON *st = cJSON_GetArrayItem(steps, 0);
    assert_string_equal(cJSON_GetObjectItem(st, "step")->valuestring, "restart");
    assert_int_equal(cJSON_GetObjectItem(st, "attempt")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(st, "outcome")->valuestring, "pending");
    cJSON_Delete(doc);
}

/* How many times the nodes' logs carry `needle`. */
static int count_in_logs(fixture *fx, const char *needle)
{
    int n = 0;
    for (int i = 0; i < fx->n; i++) {
        char *log = it_node_log(&fx->t.node[i]);
        for (const char *p = log; (p = strstr(p, needle)) != NULL; p++)
            n++;
        free(log);
    }
    return n;
}

/* Waits for the incident opened after t0 to close; returns its steps as "restart:1:ok,...". */
static void wait_closed(fixture *fx, int64_t t0, int timeout_ms, char *got, size_t len)
{
    got[0] = '\0';
    cJSON *doc = NULL;
    const cJSON *c = it_wait_closed_incident(fx->t.node[fx->n - 1].api_port, t0, timeout_ms, &doc);
    if (!c) {
        char *log = it_node_log(&fx->t.node[0]);
        fprintf(stderr, "the incident never closed; n1's log:\n%s\n", log);
        free(log);
        fail();
    }
    size_t at = 0;
    const cJSON *st;
    cJSON_ArrayForEach(st, cJSON_GetObjectItem(c, "steps"))
        at += (size_t)snprintf(got + at, len - at, "%s%s:%d:%s", at ? "," : "", cJSON_GetObjectItem(st, "step")->valuestring,
                               cJSON_GetObjectItem(st, "attempt")->valueint,
                               cJSON_GetObjectItem(st, "outcome")->valuestring);
    /* a restart that got through counts once; one recorded not-attempted does not count */
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "attempts"), "restart")->valueint,
                     strstr(got, ":ok") ? 1 : 0);
    cJSON_Delete(doc);
}

/* The first actuator of /v1/status on node i: its state ("" when absent). */
static void actuator_state(fixture *fx, int i, char *state, size_t len)
{
    cJSON *doc = it_get_json(fx->t.node[i].api_port, "/v1/status", NULL);
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "actuators"), 0);
    const cJSON *st = cJSON_GetObjectItem(a, "state");
    snprintf(state, len, "%s", cJSON_IsString(st) ? st->valuestring : "");
    cJSON_Delete(doc);
}

static bool wait_actuator_state(fixture *fx, int i, const char *want)
{
    char st[32] = "";
    for (int64_t deadline = it_wall_ms() + 10000; it_wall_ms() < deadline; it_sleep_ms(50)) {
        actuator_state(fx, i, st, sizeof st);
        if (strcmp(st, want) == 0)
            return true;
    }
    fprintf(stderr, "n%d's Railway actuator is %s, not %s\n", i + 1, st, want);
    return false;
}

/* `medic status` of node i, as a person reads it (no colour). */
static char *status_table(fixture *fx, int i)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s status --node http://127.0.0.1:%d", MEDIC_BIN, fx->t.node[i].api_port);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = calloc(1, 65536);
    assert_non_null(out);
    size_t n = fread(out, 1, 65535, p);
    out[n] = '\0';
    pclose(p);
    return out;
}

/* Auth refused: blocked, told once, retried; once the token works again the restart runs and
 * counts as attempt 1, the only one. The token's state is shown as an actuator problem meanwhile,
 * after the check at start had said what it reaches. */
static void test_auth_refused_then_fixed(void **state)
{
    fixture *fx = *state;
    wait_ready(fx);
    assert_true(wait_actuator_state(fx, 0, "ok"));
    assert_true(count_in_logs(fx, "event=railway_token token_kind=project scope=project reaches=\"project ") >= fx->n);
    assert_int_equal(control(fx, "/control/fault?kind=auth&count=0&op=deploymentRestart"), 200);
    int64_t t0 = it_wall_ms();
    assert_int_equal(control(fx, "/control/services/web/bug?mode=crash"), 200);
    wait_blocked(fx, "refused the token");
    it_sleep_ms(3500); /* at least two more tries (1 s, then 2 s apart) */
    assert_ladder_held(fx);
    assert_true(count_in_logs(fx, "event=action_retry") >= 2);
    assert_int_equal(count_in_logs(fx, "event=alert service=web event=blocked"), 1);
    /* the leader's token was refused: an actuator problem in /v1/status and the status table */
    int leader = -1;
    for (int i = 0; i < fx->n && leader < 0; i++) {
        char st[32];
        actuator_state(fx, i, st, sizeof st);
        if (strcmp(st, "refused") == 0)
            leader = i;
    }
    assert_true(leader >= 0);
    char *table = status_table(fx, leader);
    assert_non_null(strstr(table, "token refused: remediation through it is blocked"));
    assert_non_null(strstr(table, "blocked: the Railway API refused the token (auth) (retrying)"));
    assert_null(strstr(table, "fake-railway-token-0123"));
    free(table);
    assert_int_equal(control(fx, "/control/faults/clear"), 200);
    char got[256];
    wait_closed(fx, t0, 20000, got, sizeof got);
    printf("  %d node%s, auth refused then fixed: %s\n", fx->n, fx->n == 1 ? "" : "s", got);
    assert_string_equal(got, "restart:1:ok");
    assert_true(wait_actuator_state(fx, leader, "ok"));
    assert_int_equal(count_in_logs(fx, "fake-railway-token-0123"), 0);
}

/* 429 asking for an hour: blocked without spending the step; the operator pauses the service,
 * which gives the restart up as not attempted (attempts stay 0). */
static void test_rate_limited_then_paused(void **state)
{
    fixture *fx = *state;
    wait_ready(fx);
    assert_int_equal(control(fx, "/control/fault?kind=429&retry_after=3600&count=0&op=deploymentRestart"), 200);
    assert_int_equal(control(fx, "/control/services/web/bug?mode=crash"), 200);
    wait_blocked(fx, "rate limiting");
    assert_ladder_held(fx);
    char url[256], *body = NULL;
    long code = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/services/web/pause", fx->t.node[fx->n - 1].api_port);
    assert_int_equal(md_fetch_bearer("POST", url, TOKEN, 5000, &code, &body, NULL, 0), 0);
    free(body);
    assert_int_equal(code, 202);
    int64_t deadline = it_wall_ms() + 10000;
    bool given_up = false;
    while (!given_up && it_wall_ms() < deadline) {
        const cJSON *inc = NULL;
        cJSON *doc = open_incident(fx, 0, &inc);
        const cJSON *st = doc ? cJSON_GetArrayItem(cJSON_GetObjectItem(inc, "steps"), 0) : NULL;
        given_up = st && strcmp(cJSON_GetObjectItem(st, "outcome")->valuestring, "not-attempted") == 0 &&
                   cJSON_GetObjectItem(cJSON_GetObjectItem(inc, "attempts"), "restart")->valueint == 0 &&
                   cJSON_IsNull(cJSON_GetObjectItem(inc, "blocked"));
        if (given_up)
            printf("  %d node%s, 429 then paused: %s\n", fx->n, fx->n == 1 ? "" : "s",
                   cJSON_GetObjectItem(st, "detail")->valuestring);
        cJSON_Delete(doc);
        if (!given_up)
            it_sleep_ms(50);
    }
    assert_true(given_up);
}

/* A 5xx storm until the service comes back by itself: the restart never reached Railway, so the
 * incident closes with nothing attempted, at once. */
static void test_server_errors_then_recovered(void **state)
{
    fixture *fx = *state;
    wait_ready(fx);
    assert_int_equal(control(fx, "/control/fault?kind=status&code=502&count=0&op=deploymentRestart"), 200);
    int64_t t0 = it_wall_ms();
    assert_true(it_flaky_mode(&fx->t.flaky, "down") > 0);
    wait_blocked(fx, "server errors");
    assert_true(it_flaky_mode(&fx->t.flaky, "healthy") > 0);
    char got[256];
    wait_closed(fx, t0, 20000, got, sizeof got);
    printf("  %d node%s, 5xx storm then recovered: %s\n", fx->n, fx->n == 1 ? "" : "s", got);
    assert_string_equal(got, "restart:1:not-attempted");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth_refused_then_fixed, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_auth_refused_then_fixed, setup1, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limited_then_paused, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limited_then_paused, setup1, teardown),
        cmocka_unit_test_setup_teardown(test_server_errors_then_recovered, setup3_own, teardown),
        cmocka_unit_test_setup_teardown(test_server_errors_then_recovered, setup1_own, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
