/* it_railway_tokens.c: services in different Railway projects, each acting with its own project's
 * token: three real nodes, the fake Railway API with two projects (alpha: web and worker, beta:
 * api), each token refused outside its own project. web and worker use remediation.railway's
 * token, api its own bearer token; a crash of web and of api is healed by a restart, every
 * request carries the right project's token, the two alpha services share one client, and no
 * token shows in a log, /v1/status or /v1/incidents. */
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
#define ALPHA_TOKEN "it-alpha-project-token-0123"
#define BETA_TOKEN "it-beta-bearer-token-4567"
#define ENV_ID "e7a10000-0000-4000-8000-0000000000e1"

typedef struct {
    it_fake_railway fake;
    int web_port, api_svc_port, worker_port;
    it_trio t;
} fixture;

static int control(fixture *fx, const char *path)
{
    return it_fake_railway_control(&fx->fake, path);
}

static void service_json(char *out, size_t len, const char *name, int port, const char *token)
{
    snprintf(out, len,
             "{\"name\":\"%s\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":200,\"timeout_ms\":100,"
             "\"restart_interval_ms\":800,\"verify_after_ms\":300,\"known_good_after_ms\":500,"
             "\"railway\":{\"service_id\":\"%s\",\"environment_id\":\"" ENV_ID "\"%s}}",
             name, port, name, token);
}

static void start_nodes(fixture *fx)
{
    char peers[1024] = "", web[512], api[512], worker[512];
    it_trio_peers(&fx->t, peers, sizeof peers);
    service_json(web, sizeof web, "web", fx->web_port, "");
    service_json(api, sizeof api, "api", fx->api_svc_port,
                 ",\"token\":\"" BETA_TOKEN "\",\"token_kind\":\"bearer\"");
    /* Written out again on the service, the same token and kind: still the same client. */
    service_json(worker, sizeof worker, "worker", fx->worker_port, ",\"token\":\"" ALPHA_TOKEN "\"");
    for (int i = 0; i < N; i++) {
        char cfg[8192];
        snprintf(cfg, sizeof cfg,
                 "{\"node\":{\"id\":\"%s\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
                 "\"status_print_interval_ms\":0,"
                 "\"cluster\":{\"name\":\"itrt\",\"secret\":\"it-railway-tokens-01234\",\"peers\":[%s],"
                 "\"gossip_interval_ms\":100,\"heartbeat_ms\":50,\"election_timeout_ms\":500},"
                 "\"remediation\":{\"railway\":{\"endpoint\":\"http://127.0.0.1:%d/graphql/v2\","
                 "\"token\":\"" ALPHA_TOKEN "\",\"token_kind\":\"project\"}},"
                 "\"services\":[%s,%s,%s]}",
                 it_trio_ids[i], peers, fx->fake.port, web, api, worker);
        assert_int_equal(it_node_start(&fx->t.node[i], cfg, NULL), 0);
        fx->t.running[i] = true;
    }
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    const char *extra[] = { "--deploy-delay-ms", "300", "--project", "alpha:web,worker:" ALPHA_TOKEN,
                            "--project", "beta:api:" BETA_TOKEN, NULL };
    assert_int_equal(it_fake_railway_start(&fx->fake, "web,api,worker", extra), 0);
    int port, ctl[3];
    assert_int_equal(sscanf(fx->fake.ready, "ready port=%d services=web@%d/%d,api@%d/%d,worker@%d/%d", &port,
                            &fx->web_port, &ctl[0], &fx->api_svc_port, &ctl[1], &fx->worker_port, &ctl[2]),
                     7);
    assert_int_equal(it_trio_init(&fx->t, false), 0);
    start_nodes(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    it_trio_stop(&fx->t);
    it_fake_railway_stop(&fx->fake);
    free(fx);
    return 0;
}

/* closed_after: the first closed incident of svc opened at or after t0 in doc, or NULL. */
static const cJSON *closed_after(const cJSON *doc, const char *svc, int64_t t0)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "closed"))
    {
        if (strcmp(cJSON_GetObjectItem(c, "service")->valuestring, svc) == 0 &&
            cJSON_GetObjectItem(c, "opened_at_ms")->valuedouble >= (double)t0)
            return c;
    }
    return NULL;
}

static void wait_healed(fixture *fx, int64_t t0)
{
    int64_t deadline = it_wall_ms() + 30000;
    bool web = false, api = false;
    while (!(web && api) && it_wall_ms() < deadline) {
        cJSON *doc = it_get_json(fx->t.node[1].api_port, "/v1/incidents", NULL);
        const cJSON *w = closed_after(doc, "web", t0), *a = closed_after(doc, "api", t0);
        web = w != NULL;
        api = a != NULL;
        if (web && api) {
            const cJSON *ws = cJSON_GetArrayItem(cJSON_GetObjectItem(w, "steps"), 0);
            const cJSON *as = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "steps"), 0);
            printf("  web: %s %s; api: %s %s\n", cJSON_GetObjectItem(ws, "outcome")->valuestring,
                   cJSON_GetObjectItem(ws, "detail")->valuestring, cJSON_GetObjectItem(as, "outcome")->valuestring,
                   cJSON_GetObjectItem(as, "detail")->valuestring);
            assert_string_equal(cJSON_GetObjectItem(ws, "outcome")->valuestring, "ok");
            assert_string_equal(cJSON_GetObjectItem(as, "outcome")->valuestring, "ok");
        }
        cJSON_Delete(doc);
        it_sleep_ms(50);
    }
    if (!(web && api)) {
        char *log = it_node_log(&fx->t.node[0]);
        fprintf(stderr, "not both healed (web %d, api %d); n1's log:\n%s\n", web, api, log);
        free(log);
    }
    assert_true(web && api);
}

/* Every request the fake saw named one service, through the token of that service's project. */
static void check_requests(fixture *fx)
{
    char url[256], *body = NULL;
    long code = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/control/requests", fx->fake.port);
    assert_int_equal(md_fetch("GET", url, 5000, &code, &body, NULL, 0), 0);
    cJSON *doc = cJSON_Parse(body);
    free(body);
    assert_non_null(doc);
    int restarts[2] = { 0, 0 }, total = 0, checks = 0;
    const cJSON *q;
    cJSON_ArrayForEach(q, cJSON_GetObjectItem(doc, "requests"))
    {
        const cJSON *svc = cJSON_GetArrayItem(cJSON_GetObjectItem(q, "services"), 0);
        const cJSON *proj = cJSON_GetObjectItem(q, "project");
        const char *kind = cJSON_GetObjectItem(q, "tokenKind")->valuestring;
        if (!cJSON_IsString(svc)) { /* a token check at start (projectToken, apiToken, me): no service */
            assert_true(cJSON_IsString(proj));
            checks++;
            continue;
        }
        bool beta = strcmp(svc->valuestring, "api") == 0;
        if (!cJSON_IsString(proj) || strcmp(proj->valuestring, beta ? "beta" : "alpha") != 0 ||
            strcmp(kind, beta ? "bearer" : "project") != 0)
            fail_msg("request %d for %s went with project %s, token kind %s",
                     cJSON_GetObjectItem(q, "seq")->valueint, svc->valuestring,
                     cJSON_IsString(proj) ? proj->valuestring : "(none)", kind);
        const cJSON *ans = cJSON_GetObjectItem(q, "answer");
        assert_null(cJSON_GetObjectItem(ans, "errors")); /* no "Not Authorized" anywhere */
        const cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(q, "fields"), 0);
        if (cJSON_IsString(f0) && strcmp(f0->valuestring, "deploymentRestart") == 0)
            restarts[beta]++;
        total++;
    }
    printf("  %d Railway requests for services, each with its own project's token; restarts web %d, api %d; "
           "%d token checks\n", total, restarts[0], restarts[1], checks);
    assert_true(checks >= 2); /* every node checks each of its two tokens once at start */
    assert_true(restarts[0] >= 1);
    assert_true(restarts[1] >= 1);
    cJSON_Delete(doc);
}

static void assert_no_token(const char *what, const char *text)
{
    if (text && (strstr(text, ALPHA_TOKEN) || strstr(text, BETA_TOKEN)))
        fail_msg("a Railway token shows in %s", what);
}

static void test_each_project_its_own_token(void **state)
{
    fixture *fx = *state;
    const char *svcs[] = { "web", "api", "worker" };
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 3; k++)
            assert_true(it_wait_state(&fx->t.node[i], svcs[k], "UP", 10000) > 0);
    /* Known-good lookups need a leader, and a service UP for half a second: wait for web's and
     * api's, so both clients have made requests before the crash. */
    int64_t deadline = it_wall_ms() + 15000;
    int known = 0;
    while (known < 2 && it_wall_ms() < deadline) {
        cJSON *doc = it_get_json(fx->t.node[2].api_port, "/v1/incidents", NULL);
        known = 0;
        for (int k = 0; k < 2; k++)
            known += cJSON_IsString(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "services"), k),
                                                        "known_good_deployment"));
        cJSON_Delete(doc);
        it_sleep_ms(50);
    }
    assert_int_equal(known, 2);
    int64_t t0 = it_wall_ms();
    assert_int_equal(control(fx, "/control/services/web/bug?mode=crash"), 200);
    assert_int_equal(control(fx, "/control/services/api/bug?mode=crash"), 200);
    wait_healed(fx, t0);
    check_requests(fx);
    for (int i = 0; i < N; i++) {
        char *log = it_node_log(&fx->t.node[i]), *out = it_node_stdout(&fx->t.node[i]);
        assert_no_token("a node's log", log);
        assert_no_token("a node's stdout", out);
        /* web and worker share alpha's client: two clients for three services. */
        if (!strstr(log, "event=railway_clients clients=2 services=3"))
            fail_msg("n%d did not make two clients for three services:\n%s", i + 1, log);
        free(log);
        free(out);
        char *status = it_get(fx->t.node[i].api_port, "/v1/status", NULL);
        char *incidents = it_get(fx->t.node[i].api_port, "/v1/incidents", NULL);
        assert_no_token("/v1/status", status);
        assert_no_token("/v1/incidents", incidents);
        free(status);
        free(incidents);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_project_its_own_token, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
