/* it_railway.c: the Railway client against the real fake Railway API over loopback: restart,
 * redeploy and rollback on the seed's three scenarios (the flaky_service that plays the
 * deployment must answer 200 afterwards), then every fault mode retried or classified, Retry-After
 * honoured, deadlines kept, mutations never doubled after an ambiguous failure, the token
 * absent from every summary and log line; whether each failure reached Railway (no attempt when
 * it did not), pacing under the fake's rate limit and the client's own budget, the token check
 * for each token kind, redeploys that never rebuild a newer failed build, and the deployment
 * serving traffic while two are active. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "it_railway_host.h"

#define TOKEN "rw-test-T0KEN-5ecret-0123456789"
#define ENV_ID "e7a10000-0000-4000-8000-0000000000e1"

typedef struct {
    rwt_fake fake;
    rwt_host host;
    rw_config cfg;
} fx;

static int fx_start(fx *f, const char *const *fake_args, rw_token_kind kind, const char *token)
{
    memset(f, 0, sizeof *f);
    /* By default the fake models an account token: Bearer only. */
    const char *args[16] = {"--token", TOKEN, "--token-kind", "bearer", "--deploy-delay-ms", "200"};
    int n = 6;
    for (int i = 0; fake_args && fake_args[i] && n < 15; i++)
        args[n++] = fake_args[i];
    if (rwt_fake_start(&f->fake, "svcA", args) != 0)
        return -1;
    setenv("RWT_RAILWAY_TOKEN", token, 1);
    f->cfg = (rw_config){.endpoint = f->fake.endpoint, .token_env = "RWT_RAILWAY_TOKEN", .token_kind = kind,
                         .seed = 1234, .deadline_ms = 8000, .request_timeout_ms = 2000, .backoff_base_ms = 50,
                         .backoff_max_ms = 400, .poll_interval_ms = 100, .budget_per_hour = 1000};
    return rwt_host_init(&f->host, &f->cfg);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f || fx_start(f, NULL, RW_TOKEN_BEARER, TOKEN) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    int leaked_timers = md_rw_host_live_timers(f->host.rh);
    /* The token must never reach a log line, whatever the test did. */
    bool token_logged = f->host.log && strstr(f->host.log, TOKEN);
    rwt_host_fini(&f->host);
    int st = rwt_fake_stop(&f->fake);
    free(f);
    if (token_logged)
        fail_msg("the token appeared in the client's log");
    if (st != 0)
        fail_msg("fake_railway exited with %d", st);
    (void)leaked_timers;
    return 0;
}

static rw_request svc_req(void)
{
    return (rw_request){.service_id = "svcA", .environment_id = ENV_ID};
}

/* The fake's view of svcA: a field of its running deployment, or a counter. */
static void active_id(fx *f, char *out, size_t len)
{
    cJSON *s = rwt_fake_service(&f->fake, "svcA");
    const cJSON *id = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "deployment"), "id");
    snprintf(out, len, "%s", cJSON_IsString(id) ? id->valuestring : "");
    cJSON_Delete(s);
}

static int counter(fx *f, const char *name)
{
    cJSON *s = rwt_fake_service(&f->fake, "svcA");
    int v = cJSON_GetObjectItem(s, name) ? cJSON_GetObjectItem(s, name)->valueint : -1;
    cJSON_Delete(s);
    return v;
}

static int flaky_port(fx *f)
{
    cJSON *s = rwt_fake_service(&f->fake, "svcA");
    int p = cJSON_GetObjectItem(s, "port") ? cJSON_GetObjectItem(s, "port")->valueint : 0;
    cJSON_Delete(s);
    return p;
}

/* Polls the service until it answers want (0 = refused), up to 3 s. */
static bool service_answers(fx *f, long want)
{
    int port = flaky_port(f);
    for (int i = 0; i < 60; i++) {
        if (rwt_http_status(port) == want)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

/* How many logged requests carry operationName op. */
static int sent(fx *f, const char *op)
{
    cJSON *reqs = rwt_fake_requests(&f->fake), *r;
    int n = 0;
    cJSON_ArrayForEach(r, reqs)
    {
        const cJSON *o = cJSON_GetObjectItem(r, "operationName");
        n += cJSON_IsString(o) && strcmp(o->valuestring, op) == 0;
    }
    cJSON_Delete(reqs);
    return n;
}

static void run(fx *f, rw_op_kind op, const rw_request *req, rwt_outcome *o)
{
    assert_int_equal(rwt_run(&f->host, op, req, o, 20000), 0);
    if (getenv("RWT_VERBOSE"))
        fprintf(stderr, "  %s: %s [%s, %u attempts, %llu ms]\n", rw_op_name(op), o->r.summary, rw_class_name(o->r.cls),
                o->r.attempts, (unsigned long long)o->r.elapsed_ms);
    assert_null(strstr(o->r.summary, TOKEN));
}

static void expect(const rwt_outcome *o, rw_class cls)
{
    if (o->r.cls != cls)
        fail_msg("expected %s, got %s: %s", rw_class_name(cls), rw_class_name(o->r.cls), o->r.summary);
}

/* ---- happy paths ---- */

static void test_queries(void **state)
{
    fx *f = *state;
    char active[64];
    active_id(f, active, sizeof active);
    rwt_outcome o;
    rw_request req = svc_req();
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_OK);
    assert_non_null(o.r.latest);
    assert_string_equal(o.r.latest->id, active);
    assert_int_equal(o.r.latest->status, RW_ST_SUCCESS);
    assert_int_equal(o.r.n_deployments, 1);
    assert_string_equal(o.deps[0].id, active);

    run(f, RW_OP_LIST, &req, &o);
    expect(&o, RW_OK);
    assert_int_equal(o.r.n_deployments, 1);

    rw_request dq = {.deployment_id = active};
    run(f, RW_OP_DEPLOYMENT, &dq, &o);
    expect(&o, RW_OK);
    assert_int_equal(o.r.status, RW_ST_SUCCESS);
    assert_int_equal(o.r.attempts, 1);

    /* What went over the wire: names, variables, a real User-Agent, the Bearer header. */
    cJSON *reqs = rwt_fake_requests(&f->fake);
    assert_int_equal(cJSON_GetArraySize(reqs), 3);
    cJSON *first = cJSON_GetArrayItem(reqs, 0);
    assert_string_equal(cJSON_GetObjectItem(first, "operationName")->valuestring, "MedicServiceInstance");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(first, "variables"), "serviceId")->valuestring, "svcA");
    assert_string_equal(cJSON_GetObjectItem(first, "tokenKind")->valuestring, "bearer");
    assert_int_equal(strncmp(cJSON_GetObjectItem(first, "userAgent")->valuestring, "medic/", 6), 0);
    cJSON *list = cJSON_GetArrayItem(reqs, 1);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(list, "variables"), "first")->valueint, 20);
    cJSON_Delete(reqs);
}

/* Seed scenario 1: a crash that a restart fixes. */
static void test_restart_fixes_crash(void **state)
{
    fx *f = *state;
    char active[64];
    active_id(f, active, sizeof active);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/services/svcA/bug?mode=crash"), 200);
    assert_true(service_answers(f, 0));
    rwt_outcome o;
    rw_request req = svc_req();
    req.wait = true;
    run(f, RW_OP_RESTART, &req, &o);
    expect(&o, RW_OK);
    assert_string_equal(o.r.deployment_id, active);
    assert_string_equal(o.r.new_deployment_id, "");
    assert_int_equal(o.r.status, RW_ST_SUCCESS);
    assert_true(service_answers(f, 200));
    assert_int_equal(counter(f, "restarts"), 1);
    assert_int_equal(sent(f, "MedicDeploymentRestart"), 1);
    /* The restart named the running deployment. */
    cJSON *reqs = rwt_fake_requests(&f->fake), *r;
    bool named = false;
    cJSON_ArrayForEach(r, reqs)
    {
        const cJSON *op = cJSON_GetObjectItem(r, "operationName");
        if (cJSON_IsString(op) && strcmp(op->valuestring, "MedicDeploymentRestart") == 0)
            named = strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "variables"), "id")->valuestring, active) == 0;
    }
    cJSON_Delete(reqs);
    assert_true(named);
}

/* Seed scenario 2: a bad deployment that restarts keep and only a redeploy fixes. */
static void test_redeploy_fixes_bad_deploy(void **state)
{
    fx *f = *state;
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/services/svcA/bug?mode=bad_deploy"), 200);
    assert_true(service_answers(f, 500));
    char bad[64];
    active_id(f, bad, sizeof bad);
    rwt_outcome o;
    rw_request req = svc_req();
    req.wait = true;
    run(f, RW_OP_RESTART, &req, &o);
    expect(&o, RW_OK);
    usleep(300 * 1000);
    assert_true(service_answers(f, 500)); /* restarted, still broken */

    run(f, RW_OP_REDEPLOY, &req, &o);
    expect(&o, RW_OK);
    assert_string_equal(o.r.deployment_id, bad);
    assert_true(o.r.new_deployment_id[0]);
    assert_string_not_equal(o.r.new_deployment_id, bad);
    assert_int_equal(o.r.status, RW_ST_SUCCESS);
    char now[64];
    active_id(f, now, sizeof now);
    assert_string_equal(now, o.r.new_deployment_id);
    assert_true(service_answers(f, 200));
    assert_int_equal(counter(f, "redeploys"), 1);
}

/* Seed scenario 3: a code bug that restart and redeploy keep; rollback to the earlier
 * deployment fixes it, skipping every deployment of the incident. */
static void test_rollback_fixes_code_bug(void **state)
{
    fx *f = *state;
    char good[64], bad[64];
    active_id(f, good, sizeof good);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/services/svcA/bug?mode=code_bug"), 200);
    active_id(f, bad, sizeof bad);
    assert_true(service_answers(f, 500));
    rwt_outcome o;
    rw_request req = svc_req();
    req.wait = true;
    run(f, RW_OP_REDEPLOY, &req, &o);
    expect(&o, RW_OK);
    char rebuilt[64];
    snprintf(rebuilt, sizeof rebuilt, "%s", o.r.new_deployment_id);
    usleep(200 * 1000);
    assert_true(service_answers(f, 500)); /* the rebuild of broken code is broken */

    /* Without the incident's ids, "newest earlier with canRollback" is the bad deploy itself. */
    rw_request peek = svc_req();
    run(f, RW_OP_LIST, &peek, &o);
    expect(&o, RW_OK);
    assert_int_equal(o.r.n_deployments, 3);
    assert_string_equal(o.deps[1].id, bad);
    assert_true(o.deps[1].can_rollback);

    const char *avoid[] = {bad, rebuilt};
    req.avoid = avoid;
    req.n_avoid = 2;
    run(f, RW_OP_ROLLBACK, &req, &o);
    expect(&o, RW_OK);
    assert_string_equal(o.r.deployment_id, good);
    assert_true(o.r.new_deployment_id[0]);
    assert_int_equal(o.r.status, RW_ST_SUCCESS);
    assert_true(service_answers(f, 200));
    assert_int_equal(counter(f, "rollbacks"), 1);
}

static void test_rollback_target_rules(void **state)
{
    fx *f = *state;
    char good[64], bad[64];
    active_id(f, good, sizeof good);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/services/svcA/bug?mode=code_bug"), 200);
    active_id(f, bad, sizeof bad);
    rwt_outcome o;
    rw_request req = svc_req();
    /* The ledger's last-known-good is used as given. */
    req.rollback_target = good;
    const char *avoid[] = {bad};
    req.avoid = avoid;
    req.n_avoid = 1;
    run(f, RW_OP_ROLLBACK, &req, &o);
    expect(&o, RW_OK);
    assert_string_equal(o.r.deployment_id, good);
    assert_true(service_answers(f, 200));
    int mutations = sent(f, "MedicDeploymentRollback");
    assert_int_equal(mutations, 1);

    /* A target inside the incident, the running one, or an expired one: refused, nothing sent. */
    req.rollback_target = bad;
    run(f, RW_OP_ROLLBACK, &req, &o);
    expect(&o, RW_ERR_PRECONDITION);
    assert_non_null(strstr(o.r.summary, "current incident"));
    char running[64];
    active_id(f, running, sizeof running);
    req.rollback_target = running;
    req.n_avoid = 0;
    run(f, RW_OP_ROLLBACK, &req, &o);
    expect(&o, RW_ERR_PRECONDITION);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/deployments/%s/set?can_rollback=0", good), 200);
    req.rollback_target = good;
    run(f, RW_OP_ROLLBACK, &req, &o);
    expect(&o, RW_ERR_PRECONDITION);
    assert_non_null(strstr(o.r.summary, "canRollback"));
    /* Nothing eligible at all. */
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/deployments/%s/set?can_rollback=0", bad), 200);
    req.rollback_target = NULL;
    run(f, RW_OP_ROLLBACK, &req, &o);
    expect(&o, RW_ERR_PRECONDITION);
    assert_int_equal(sent(f, "MedicDeploymentRollback"), mutations);
}

/* ---- faults ---- */

static void test_5xx_retried(void **state)
{
    fx *f = *state;
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=status&code=503&count=2"), 200);
    rwt_outcome o;
    rw_request req = svc_req();
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_OK);
    assert_int_equal(o.r.attempts, 3);
    /* Forever: SERVER once the deadline is spent, and not much later. */
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=status&code=500&count=0"), 200);
    req.deadline_ms = 1200;
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_ERR_SERVER);
    assert_true(o.r.attempts >= 3);
    assert_true(o.r.elapsed_ms <= 1500);
    assert_non_null(strstr(o.r.summary, "deadline"));
}

static void test_hang_times_out_and_retries(void **state)
{
    fx *f = *state;
    rw_config cfg = f->cfg;
    rwt_host_fini(&f->host);
    cfg.request_timeout_ms = 300;
    assert_int_equal(rwt_host_init(&f->host, &cfg), 0);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=hang&count=1"), 200);
    rwt_outcome o;
    rw_request req = svc_req();
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_OK);
    assert_int_equal(o.r.attempts, 2);
    assert_true(o.r.elapsed_ms >= 300);
    /* Hanging forever: the operation's deadline, not the request timeout, ends it. */
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=hang&count=0"), 200);
    req.deadline_ms = 900;
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_ERR_TIMEOUT);
    assert_true(o.r.elapsed_ms >= 800 && o.r.elapsed_ms <= 1400);
}

static void test_retry_after_honoured(void **state)
{
    fx *f = *state;
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=429&retry_after=1&count=1"), 200);
    rwt_outcome o;
    rw_request req = svc_req();
    int64_t t0 = rwt_mono_ms();
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_OK);
    assert_int_equal(o.r.attempts, 2);
    assert_int_equal(o.r.retry_after_ms, 1000);
    assert_true(rwt_mono_ms() - t0 >= 950); /* backoff alone would be ~50 ms */
    /* Retry-After past the deadline: give up at once rather than wait for nothing. */
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=429&retry_after=30&count=1"), 200);
    req.deadline_ms = 2000;
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_ERR_RATE_LIMIT);
    assert_int_equal(o.r.attempts, 1);
    assert_true(o.r.elapsed_ms < 1000);
    assert_non_null(strstr(o.r.summary, "Retry-After"));
}

static void test_graphql_errors(void **state)
{
    fx *f = *state;
    rwt_outcome o;
    rw_request req = svc_req();
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=graphql&count=1"), 200);
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_OK); /* INTERNAL_SERVER_ERROR on a read: retried */
    assert_int_equal(o.r.attempts, 2);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=gqlerror&count=1"), 200);
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_ERR_GRAPHQL);
    assert_int_equal(o.r.attempts, 1);
    assert_non_null(strstr(o.r.summary, "BAD_USER_INPUT"));
    /* A real "not found" from the fake's resolver. */
    rw_request dq = {.deployment_id = "no-such-deployment"};
    run(f, RW_OP_DEPLOYMENT, &dq, &o);
    expect(&o, RW_ERR_GRAPHQL);
    assert_non_null(strstr(o.r.summary, "Deployment not found"));
}

static void test_auth_never_retried(void **state)
{
    fx *f = *state;
    rwt_outcome o;
    rw_request req = svc_req();
    req.wait = true;
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=auth&count=0"), 200);
    run(f, RW_OP_RESTART, &req, &o);
    expect(&o, RW_ERR_AUTH);
    assert_int_equal(o.r.attempts, 1);
    assert_int_equal(counter(f, "restarts"), 0);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/faults/clear"), 200);
    /* A wrong token, and a right token in the wrong header. */
    rw_config cfg = f->cfg;
    rwt_host_fini(&f->host);
    cfg.token = "not-the-token";
    assert_int_equal(rwt_host_init(&f->host, &cfg), 0);
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_ERR_AUTH);
    assert_non_null(strstr(o.r.summary, "Not Authorized"));
    rwt_host_fini(&f->host);
    cfg.token = NULL;
    cfg.token_kind = RW_TOKEN_PROJECT;
    assert_int_equal(rwt_host_init(&f->host, &cfg), 0);
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_ERR_AUTH);
    assert_int_equal(o.r.attempts, 1);
    assert_non_null(strstr(o.r.summary, "check the token"));
}

static void test_project_token(void **state)
{
    fx *f = *state;
    rwt_host_fini(&f->host);
    rwt_fake_stop(&f->fake);
    const char *args[] = {"--token-kind", "project", NULL};
    assert_int_equal(fx_start(f, args, RW_TOKEN_PROJECT, TOKEN), 0);
    rwt_outcome o;
    rw_request req = svc_req();
    req.wait = true;
    run(f, RW_OP_RESTART, &req, &o);
    expect(&o, RW_OK);
    cJSON *reqs = rwt_fake_requests(&f->fake);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 0), "tokenKind")->valuestring, "project");
    cJSON_Delete(reqs);
    /* A project token reaches one environment only. */
    rw_request other = {.service_id = "svcA", .environment_id = "another-env"};
    run(f, RW_OP_INSTANCE, &other, &o);
    expect(&o, RW_ERR_AUTH);
}

static void test_html_answers(void **state)
{
    fx *f = *state;
    rwt_outcome o;
    rw_request req = svc_req();
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=html&count=1"), 200);
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_OK);
    assert_int_equal(o.r.attempts, 2);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=html200&count=0"), 200);
    req.deadline_ms = 1000;
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_ERR_NOT_JSON);
    assert_non_null(strstr(o.r.summary, "Access denied"));
}

static void test_deployments_that_never_succeed(void **state)
{
    fx *f = *state;
    rwt_outcome o;
    rw_request req = svc_req();
    req.wait = true;
    req.deadline_ms = 1500;
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/services/svcA/set?outcome=hang"), 200);
    run(f, RW_OP_REDEPLOY, &req, &o);
    expect(&o, RW_ERR_TIMEOUT);
    assert_true(o.r.new_deployment_id[0]); /* the caller still learns which deployment hangs */
    assert_true(o.r.status == RW_ST_BUILDING || o.r.status == RW_ST_DEPLOYING);
    assert_true(o.r.elapsed_ms <= 1700);
    assert_non_null(strstr(o.r.summary, "still"));

    /* The hanging build is latest and cannot be redeployed: the running one is rebuilt. */
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/services/svcA/set?outcome=fail"), 200);
    req.deadline_ms = 5000;
    run(f, RW_OP_REDEPLOY, &req, &o);
    expect(&o, RW_ERR_DEPLOY_FAILED);
    assert_int_equal(o.r.status, RW_ST_FAILED);
    assert_true(service_answers(f, 200)); /* a failed deploy leaves the running one alone */
}

/* A redeploy that ran but whose answer was lost is adopted, not sent again. */
static void test_ambiguous_redeploy_not_doubled(void **state)
{
    fx *f = *state;
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=status&code=502&after=1&op=deploymentRedeploy"), 200);
    rwt_outcome o;
    rw_request req = svc_req();
    req.wait = true;
    run(f, RW_OP_REDEPLOY, &req, &o);
    expect(&o, RW_OK);
    assert_int_equal(counter(f, "redeploys"), 1);
    assert_int_equal(sent(f, "MedicDeploymentRedeploy"), 1);
    char now[64];
    active_id(f, now, sizeof now);
    assert_string_equal(now, o.r.new_deployment_id);
    /* Refused before it ran (429): resent. */
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=429&retry_after=0&op=deploymentRedeploy"), 200);
    run(f, RW_OP_REDEPLOY, &req, &o);
    expect(&o, RW_OK);
    assert_int_equal(counter(f, "redeploys"), 2);
    assert_int_equal(sent(f, "MedicDeploymentRedeploy"), 3);
}

/* The token never shows, even when the server echoes it back. */
static void test_token_never_in_errors(void **state)
{
    fx *f = *state;
    rwt_outcome o;
    rw_request req = svc_req();
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=echo&count=1"), 200);
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_ERR_GRAPHQL);
    assert_non_null(strstr(o.r.summary, "[redacted]"));
    assert_null(strstr(o.r.summary, TOKEN));
    /* Every kind of failure, through summaries and the log callback. */
    static const char *const kinds[] = {"status", "429", "graphql", "gqlerror", "auth", "html", "html200", "echo"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=%s&count=0&retry_after=0", kinds[i]), 200);
        req.deadline_ms = 300;
        run(f, RW_OP_RESTART, &req, &o);
        assert_int_not_equal(o.r.cls, RW_OK);
        assert_null(strstr(o.r.summary, TOKEN));
        assert_int_equal(rwt_fake_ctl(&f->fake, "/control/faults/clear"), 200);
    }
    assert_non_null(f->host.log);
    assert_null(strstr(f->host.log, TOKEN));
    assert_non_null(strstr(f->host.log, "[redacted]")); /* the echo reached the log, scrubbed */
}


/* ---- reached: which failures are attempts ---- */

static void expect_reached(const rwt_outcome *o, rw_class cls, bool reached)
{
    expect(o, cls);
    if (o->r.reached != reached)
        fail_msg("%s: reached should be %d: %s", rw_class_name(cls), reached, o->r.summary);
}

static void test_reached_per_fault(void **state)
{
    fx *f = *state;
    rwt_outcome o;
    rw_request req = svc_req();
    req.deadline_ms = 1200;
    /* Never reached the actuator: auth refused, a 5xx storm, a Cloudflare page, before or at the
     * mutation. */
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=auth&count=0"), 200);
    run(f, RW_OP_RESTART, &req, &o);
    expect_reached(&o, RW_ERR_AUTH, false);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/faults/clear"), 200);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=status&code=503&count=0"), 200);
    run(f, RW_OP_RESTART, &req, &o);
    expect_reached(&o, RW_ERR_SERVER, false);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/faults/clear"), 200);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=status&code=500&count=0&op=deploymentRestart"), 200);
    run(f, RW_OP_RESTART, &req, &o);
    expect_reached(&o, RW_ERR_SERVER, false); /* the 5xx answered the mutation itself */
    assert_true(sent(f, "MedicDeploymentRestart") >= 2);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/faults/clear"), 200);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=html&count=0&op=deploymentRestart"), 200);
    run(f, RW_OP_RESTART, &req, &o);
    expect_reached(&o, RW_ERR_NOT_JSON, false);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/faults/clear"), 200);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=html200&count=0"), 200);
    run(f, RW_OP_INSTANCE, &req, &o);
    expect_reached(&o, RW_ERR_NOT_JSON, false);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/faults/clear"), 200);
    assert_int_equal(counter(f, "restarts"), 0);
    /* Definitive answers are attempts: trying again gets the same answer. */
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=gqlerror&count=1&op=deploymentRestart"), 200);
    run(f, RW_OP_RESTART, &req, &o);
    expect_reached(&o, RW_ERR_GRAPHQL, true);
    /* Accepted, then the polls fail: reached stays true. */
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=status&code=500&count=0&op=deployment"), 200);
    req.wait = true;
    req.deadline_ms = 1500;
    run(f, RW_OP_REDEPLOY, &req, &o);
    expect_reached(&o, RW_ERR_SERVER, true);
    assert_true(o.r.new_deployment_id[0]);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/faults/clear"), 200);
    /* Sent and never answered: it may have run, so it counts. */
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=hang&count=0&op=deploymentRestart"), 200);
    req.wait = false;
    req.deadline_ms = 2500;
    run(f, RW_OP_RESTART, &req, &o);
    expect_reached(&o, RW_ERR_TIMEOUT, true);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/faults/clear"), 200);
}

/* A 429 whose Retry-After is past the deadline ends the step at once, unreached, with the wait. */
static void test_429_long_not_reached(void **state)
{
    fx *f = *state;
    rwt_outcome o;
    rw_request req = svc_req();
    req.deadline_ms = 2000;
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=429&retry_after=30&count=1&op=deploymentRestart"), 200);
    run(f, RW_OP_RESTART, &req, &o);
    expect_reached(&o, RW_ERR_RATE_LIMIT, false);
    assert_int_equal(o.r.retry_after_ms, 30000);
    assert_true(o.r.elapsed_ms < 1000);
    assert_int_equal(counter(f, "restarts"), 0);
    /* The Retry-After holds for the whole client: the next operation is not even sent. */
    int before = sent(f, "MedicServiceInstance");
    run(f, RW_OP_INSTANCE, &req, &o);
    expect_reached(&o, RW_ERR_RATE_LIMIT, false);
    assert_int_equal(o.r.attempts, 0);
    assert_true(o.r.retry_after_ms > 25000 && o.r.retry_after_ms <= 30000);
    assert_int_equal(sent(f, "MedicServiceInstance"), before);
}

/* ---- pacing ---- */

/* The fake allows 12 requests per 3 s window: 20 lookups in a row are spread over two windows
 * by the headers alone, and none is refused. */
static void test_pacing_under_rate_limit(void **state)
{
    fx *f = *state;
    rwt_host_fini(&f->host);
    rwt_fake_stop(&f->fake);
    const char *args[] = {"--rate-limit", "12", "--rate-window-ms", "3000", NULL};
    assert_int_equal(fx_start(f, args, RW_TOKEN_BEARER, TOKEN), 0);
    rw_request req = svc_req();
    rwt_outcome o;
    int64_t t0 = rwt_mono_ms();
    for (int i = 0; i < 20; i++) {
        run(f, RW_OP_INSTANCE, &req, &o);
        expect(&o, RW_OK);
        assert_int_equal(o.r.attempts, 1);
    }
    int64_t took = rwt_mono_ms() - t0;
    assert_true(took >= 2500); /* the 13th had to wait for the second window */
    assert_true(took < 15000);
    cJSON *reqs = rwt_fake_requests(&f->fake), *r;
    int n = 0, limited = 0;
    cJSON_ArrayForEach(r, reqs)
    {
        n++;
        limited += cJSON_GetObjectItem(r, "status")->valueint == 429;
    }
    cJSON_Delete(reqs);
    assert_int_equal(n, 20);
    assert_int_equal(limited, 0);
    struct rw_stats st;
    rw_stats(f->host.c, &st);
    assert_int_equal(st.requests, 20);
    assert_int_equal(st.answers[RW_OK], 20);
    assert_int_equal(st.limit, 12);
    assert_true(st.remaining >= 0 && st.remaining < 12);
    assert_true(st.reset_in_ms <= 3000);
    assert_true(st.throttled >= 1);
    assert_true(st.throttled_ms >= 500);
}

/* The client's own budget: 5 an hour, then an operation is not sent at all. (The fake sends its
 * Reset as an epoch time here.) */
static void test_budget_per_hour(void **state)
{
    fx *f = *state;
    rwt_host_fini(&f->host);
    rwt_fake_stop(&f->fake);
    const char *args[] = {"--rate-reset", "epoch", NULL};
    assert_int_equal(fx_start(f, args, RW_TOKEN_BEARER, TOKEN), 0);
    rw_config cfg = f->cfg;
    rwt_host_fini(&f->host);
    cfg.budget_per_hour = 5;
    assert_int_equal(rwt_host_init(&f->host, &cfg), 0);
    rw_request req = svc_req();
    rwt_outcome o;
    for (int i = 0; i < 5; i++) {
        run(f, RW_OP_INSTANCE, &req, &o);
        expect(&o, RW_OK);
    }
    run(f, RW_OP_INSTANCE, &req, &o);
    expect_reached(&o, RW_ERR_RATE_LIMIT, false);
    assert_int_equal(o.r.attempts, 0);
    assert_true(o.r.retry_after_ms > 3500000);
    assert_int_equal(sent(f, "MedicServiceInstance"), 5);
    struct rw_stats st;
    rw_stats(f->host.c, &st);
    assert_int_equal(st.budget_per_hour, 5);
    assert_int_equal(st.sent_last_hour, 5);
    assert_int_equal(st.limit, 1000); /* the fake's default, from its headers */
    assert_int_equal(st.remaining, 995);
    assert_true(st.reset_in_ms > 3500000 && st.reset_in_ms <= 3601000); /* epoch seconds, read */
}

/* Status polls back off: 100, 150, 225, ... ms here (2 s -> 15 s by default). */
static void test_poll_backoff(void **state)
{
    fx *f = *state;
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/services/svcA/set?outcome=hang"), 200);
    rwt_outcome o;
    rw_request req = svc_req();
    req.wait = true;
    req.deadline_ms = 2500;
    run(f, RW_OP_REDEPLOY, &req, &o);
    expect(&o, RW_ERR_TIMEOUT);
    cJSON *reqs = rwt_fake_requests(&f->fake), *r;
    double prev = 0, prev_gap = 0;
    int polls = 0;
    cJSON_ArrayForEach(r, reqs)
    {
        const cJSON *op = cJSON_GetObjectItem(r, "operationName");
        if (!cJSON_IsString(op) || strcmp(op->valuestring, "MedicDeployment") != 0)
            continue;
        double at = cJSON_GetObjectItem(r, "atMs")->valuedouble;
        if (polls >= 2 && polls < 5) /* the gaps grow (the last one may be cut by the deadline) */
            assert_true(at - prev > prev_gap);
        if (polls >= 1)
            prev_gap = at - prev;
        prev = at;
        polls++;
    }
    cJSON_Delete(reqs);
    assert_true(polls >= 4 && polls <= 9); /* 2.5 s at a fixed 100 ms would be ~20 */
}

/* ---- the token check ---- */

static void check_token(fx *f, rwt_outcome *o)
{
    rw_request none = {0};
    run(f, RW_OP_CHECK_TOKEN, &none, o);
    assert_null(strstr(o->r.summary, TOKEN));
}

static void test_check_token_bearer(void **state)
{
    fx *f = *state;
    rwt_outcome o;
    check_token(f, &o);
    expect(&o, RW_OK);
    assert_int_equal(o.r.token.scope, RW_SCOPE_ACCOUNT);
    assert_int_equal(o.r.token.n_workspaces, 1);
    assert_true(o.r.token.workspace_ids[0][0]);
    assert_non_null(strstr(o.r.summary, "account token"));
    assert_int_equal(sent(f, "MedicApiToken"), 1);
    assert_int_equal(sent(f, "MedicMe"), 1);
    /* A workspace token: apiToken answers, me is Not Authorized. */
    rwt_host_fini(&f->host);
    rwt_fake_stop(&f->fake);
    const char *ws[] = {"--token-kind", "workspace", NULL};
    assert_int_equal(fx_start(f, ws, RW_TOKEN_BEARER, TOKEN), 0);
    check_token(f, &o);
    expect(&o, RW_OK);
    assert_true(o.r.reached);
    assert_int_equal(o.r.token.scope, RW_SCOPE_WORKSPACE);
    assert_non_null(strstr(o.r.summary, "workspace token"));
    /* A wrong token: auth, unreached. */
    rw_config cfg = f->cfg;
    rwt_host_fini(&f->host);
    cfg.token = "not-the-token";
    assert_int_equal(rwt_host_init(&f->host, &cfg), 0);
    check_token(f, &o);
    expect_reached(&o, RW_ERR_AUTH, false);
    assert_int_equal(o.r.token.scope, RW_SCOPE_UNKNOWN);
}

static void test_check_token_project(void **state)
{
    fx *f = *state;
    rwt_host_fini(&f->host);
    rwt_fake_stop(&f->fake);
    const char *args[] = {"--token-kind", "project", NULL};
    assert_int_equal(fx_start(f, args, RW_TOKEN_PROJECT, TOKEN), 0);
    rwt_outcome o;
    check_token(f, &o);
    expect(&o, RW_OK);
    assert_int_equal(o.r.token.scope, RW_SCOPE_PROJECT);
    assert_string_equal(o.r.token.environment_id, ENV_ID);
    assert_true(o.r.token.project_id[0]);
    assert_non_null(strstr(o.r.summary, ENV_ID));
    assert_int_equal(sent(f, "MedicProjectToken"), 1);
    assert_int_equal(sent(f, "MedicApiToken"), 0);
    /* The project token sent as a Bearer one: refused, and the summary says to check its kind. */
    rw_config cfg = f->cfg;
    rwt_host_fini(&f->host);
    cfg.token_kind = RW_TOKEN_BEARER;
    assert_int_equal(rwt_host_init(&f->host, &cfg), 0);
    check_token(f, &o);
    expect_reached(&o, RW_ERR_AUTH, false);
    assert_non_null(strstr(o.r.summary, "kind"));
}

/* ---- what a redeploy rebuilds, and which deployment serves ---- */

static void test_redeploy_never_rebuilds_failed_newer(void **state)
{
    fx *f = *state;
    char running[64];
    active_id(f, running, sizeof running);
    rwt_outcome o;
    rw_request req = svc_req();
    req.wait = true;
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/services/svcA/set?outcome=fail"), 200);
    run(f, RW_OP_REDEPLOY, &req, &o);
    expect(&o, RW_ERR_DEPLOY_FAILED);
    char failed[64];
    snprintf(failed, sizeof failed, "%s", o.r.new_deployment_id);
    /* The failed build is now the latest, and Railway would let it be redeployed. */
    rw_request peek = svc_req();
    run(f, RW_OP_INSTANCE, &peek, &o);
    assert_string_equal(o.r.latest->id, failed);
    assert_int_equal(o.r.latest->status, RW_ST_FAILED);
    assert_true(o.r.latest->can_redeploy);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/services/svcA/set?outcome=success"), 200);
    req.known_good = running;
    run(f, RW_OP_REDEPLOY, &req, &o);
    expect(&o, RW_OK);
    assert_string_equal(o.r.deployment_id, running); /* the running one, not the failed build */
    assert_true(service_answers(f, 200));
}

static void test_serving_deployment_and_live_since(void **state)
{
    fx *f = *state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    char old[64];
    active_id(f, old, sizeof old);
    rwt_outcome o;
    rw_request req = svc_req();
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_OK);
    /* The fake's first deployment went live 59 minutes ago. */
    assert_true(o.deps[0].live_since_ms > wall - 3600 * 1000 && o.deps[0].live_since_ms < wall - 3500 * 1000);
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/services/svcA/set?overlap_ms=5000"), 200);
    req.wait = true;
    run(f, RW_OP_REDEPLOY, &req, &o);
    expect(&o, RW_OK);
    char fresh[64];
    snprintf(fresh, sizeof fresh, "%s", o.r.new_deployment_id);
    req.wait = false;
    run(f, RW_OP_INSTANCE, &req, &o);
    expect(&o, RW_OK);
    assert_int_equal(o.r.n_deployments, 2);
    assert_string_equal(o.deps[0].id, old); /* listed first, still SUCCESS */
    assert_int_equal(o.deps[0].status, RW_ST_SUCCESS);
    const rw_deployment *serving = rw_serving_deployment(o.deps, o.r.n_deployments);
    assert_non_null(serving);
    assert_string_equal(serving->id, fresh);
    assert_true(serving->live_since_ms >= wall - 1000);
    /* A restart acts on the serving one too. */
    run(f, RW_OP_RESTART, &req, &o);
    expect(&o, RW_OK);
    assert_string_equal(o.r.deployment_id, fresh);
    /* And a redeploy rebuilds it, not the draining one. */
    req.wait = true;
    run(f, RW_OP_REDEPLOY, &req, &o);
    expect(&o, RW_OK);
    assert_string_equal(o.r.deployment_id, fresh);
}

static void never_called(const rw_result *r, void *arg)
{
    (void)arg;
    fail_msg("done called after rw_cancel: %s", r->summary);
}

static void test_cancel(void **state)
{
    fx *f = *state;
    assert_int_equal(rwt_fake_ctl(&f->fake, "/control/fault?kind=hang&count=0"), 200);
    rwt_outcome o = {0};
    rw_request req = svc_req();
    uint64_t id;
    assert_int_equal(rw_start(f->host.c, RW_OP_INSTANCE, &req, never_called, &o, &id), 0);
    rwt_spin(&f->host, 200); /* the request is in flight, hanging */
    assert_int_equal(rw_running(f->host.c), 1);
    assert_int_equal(rw_cancel(f->host.c, id), 0);
    assert_int_equal(rw_running(f->host.c), 0);
    rwt_spin(&f->host, 100);
}

int main(void)
{
    if (access(FAKE_RAILWAY_BIN, X_OK) != 0 || access(FLAKY_BIN, X_OK) != 0) {
        printf("it_railway: fake_railway or flaky_service not built\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_fixes_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redeploy_fixes_bad_deploy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_fixes_code_bug, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_target_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5xx_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang_times_out_and_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graphql_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_never_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_project_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deployments_that_never_succeed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ambiguous_redeploy_not_doubled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_never_in_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reached_per_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_429_long_not_reached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pacing_under_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_per_hour, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_token_bearer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_token_project, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redeploy_never_rebuilds_failed_newer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serving_deployment_and_live_since, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
