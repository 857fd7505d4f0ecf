/* schema_driver.c: the C half of the schema contract test (check.js is the other).
 *   rw_schema_driver --print-documents   every GraphQL document the client can send, as JSON
 *   rw_schema_driver --record            runs the fake Railway API, makes every kind of call the
 *                                        client makes (the three seed scenarios, the token check
 *                                        with a Bearer and a project token, every provisioning
 *                                        document, a not-found and an auth error), and prints the fake's request log: each
 *                                        query, variables, HTTP status and answer, as JSON
 * Exit 0, or 1 with why on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_railway_host.h"

#define TOKEN "schema-driver-token"
#define ENV_ID "e7a10000-0000-4000-8000-0000000000e1"
#define PROJECT_ID "5a1e0000-0000-4000-8000-00000000f00d"
/* The fake numbers what it creates in order: the first serviceCreate makes this one. */
#define NEW_SVC "5e700000-0000-4000-8000-000000000001"

static int failures;

static void call(rwt_host *h, rw_op_kind op, const rw_request *req, rw_class want, rwt_outcome *o)
{
    if (rwt_run(h, op, req, o, 20000) != 0 || o->r.cls != want) {
        fprintf(stderr, "rw_schema_driver: %s: wanted %s, got %s: %s\n", rw_op_name(op), rw_class_name(want),
                rw_class_name(o->r.cls), o->r.summary);
        failures++;
    }
}

/* Every provisioning document (RW_OP_CALL), as `medic railway provision` sends them: the
 * environment before (a service with no instance settings, no volume, never deployed) and after. */
static void provisioning(rwt_host *h)
{
    static const struct {
        rw_call_doc doc;
        const char *vars;
    } seq[] = {
        {RW_CALL_REGIONS, "{\"projectId\":\"" PROJECT_ID "\"}"},
        {RW_CALL_PROJECT, "{\"id\":\"" PROJECT_ID "\"}"},
        {RW_CALL_SERVICE_CREATE, "{\"input\":{\"projectId\":\"" PROJECT_ID "\",\"environmentId\":\"" ENV_ID
                                 "\",\"name\":\"medic-n1\"}}"},
        {RW_CALL_ENVIRONMENT, "{\"id\":\"" ENV_ID "\",\"projectId\":\"" PROJECT_ID "\"}"},
        {RW_CALL_VOLUME_CREATE, "{\"input\":{\"projectId\":\"" PROJECT_ID "\",\"environmentId\":\"" ENV_ID
                                "\",\"serviceId\":\"" NEW_SVC "\",\"mountPath\":\"/data\",\"region\":\"us-west2\"}}"},
        {RW_CALL_INSTANCE_UPDATE, "{\"serviceId\":\"" NEW_SVC "\",\"environmentId\":\"" ENV_ID "\",\"input\":{"
                                  "\"region\":\"us-west2\",\"healthcheckPath\":\"/v1/health\","
                                  "\"restartPolicyType\":\"ON_FAILURE\",\"source\":{\"image\":\"ghcr.io/x/medic:1\"}}}"},
        {RW_CALL_PROJECT_TOKEN_CREATE, "{\"input\":{\"projectId\":\"" PROJECT_ID "\",\"environmentId\":\"" ENV_ID
                                       "\",\"name\":\"medic remediation\"}}"},
        {RW_CALL_VARIABLES_UPSERT, "{\"input\":{\"projectId\":\"" PROJECT_ID "\",\"environmentId\":\"" ENV_ID
                                   "\",\"serviceId\":\"" NEW_SVC "\",\"variables\":{\"MEDIC_NODE_ID\":\"n1\"},"
                                   "\"skipDeploys\":true}}"},
        {RW_CALL_VARIABLES, "{\"projectId\":\"" PROJECT_ID "\",\"environmentId\":\"" ENV_ID "\",\"serviceId\":\""
                            NEW_SVC "\"}"},
        {RW_CALL_DEPLOY, "{\"serviceId\":\"" NEW_SVC "\",\"environmentId\":\"" ENV_ID "\"}"},
        {RW_CALL_ENVIRONMENT, "{\"id\":\"" ENV_ID "\",\"projectId\":\"" PROJECT_ID "\"}"},
    };
    rwt_outcome o;
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        rw_request req = {.call = seq[i].doc, .vars_json = seq[i].vars};
        call(h, RW_OP_CALL, &req, RW_OK, &o);
    }
}

static void active(rwt_fake *f, char *out, size_t len)
{
    cJSON *s = rwt_fake_service(f, "svcA");
    const cJSON *id = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "deployment"), "id");
    snprintf(out, len, "%s", cJSON_IsString(id) ? id->valuestring : "");
    cJSON_Delete(s);
}

static int record(void)
{
    rwt_fake f;
    const char *args[] = {"--token", TOKEN, "--deploy-delay-ms", "100", NULL};
    if (rwt_fake_start(&f, "svcA", args) != 0) {
        fprintf(stderr, "rw_schema_driver: fake_railway did not start\n");
        return 1;
    }
    rwt_host h;
    rw_config cfg = {.endpoint = f.endpoint, .token = TOKEN, .seed = 1, .deadline_ms = 10000,
                     .backoff_base_ms = 50, .poll_interval_ms = 50, .budget_per_hour = 1000};
    if (rwt_host_init(&h, &cfg) != 0) {
        rwt_fake_stop(&f);
        return 1;
    }
    rwt_outcome o;
    rw_request svc = {.service_id = "svcA", .environment_id = ENV_ID, .wait = true};
    char good[64], bad[64], rebuilt[64];
    active(&f, good, sizeof good);
    rw_request dq = {.deployment_id = good};
    call(&h, RW_OP_INSTANCE, &svc, RW_OK, &o);
    call(&h, RW_OP_LIST, &svc, RW_OK, &o);
    call(&h, RW_OP_DEPLOYMENT, &dq, RW_OK, &o);
    rwt_fake_ctl(&f, "/control/services/svcA/bug?mode=crash");
    call(&h, RW_OP_RESTART, &svc, RW_OK, &o);
    rwt_fake_ctl(&f, "/control/services/svcA/bug?mode=code_bug");
    active(&f, bad, sizeof bad);
    call(&h, RW_OP_REDEPLOY, &svc, RW_OK, &o);
    snprintf(rebuilt, sizeof rebuilt, "%s", o.r.new_deployment_id);
    const char *avoid[] = {bad, rebuilt};
    svc.avoid = avoid;
    svc.n_avoid = 2;
    call(&h, RW_OP_ROLLBACK, &svc, RW_OK, &o);
    svc.avoid = NULL;
    svc.n_avoid = 0;
    call(&h, RW_OP_LIST, &svc, RW_OK, &o); /* now with REMOVED and rollbackable entries */
    dq.deployment_id = "no-such-deployment";
    call(&h, RW_OP_DEPLOYMENT, &dq, RW_ERR_GRAPHQL, &o);
    rw_request none = {0};
    call(&h, RW_OP_CHECK_TOKEN, &none, RW_OK, &o); /* apiToken, me */
    provisioning(&h);
    rwt_host_fini(&h);
    cfg.token_kind = RW_TOKEN_PROJECT;
    if (rwt_host_init(&h, &cfg) == 0)
        call(&h, RW_OP_CHECK_TOKEN, &none, RW_OK, &o); /* projectToken */
    rwt_host_fini(&h);
    cfg.token_kind = RW_TOKEN_BEARER;
    cfg.token = "wrong-token";
    if (rwt_host_init(&h, &cfg) == 0)
        call(&h, RW_OP_INSTANCE, &svc, RW_ERR_AUTH, &o);
    rwt_host_fini(&h);

    cJSON *reqs = rwt_fake_requests(&f);
    char *s = reqs ? cJSON_PrintUnformatted(reqs) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(reqs);
    int st = rwt_fake_stop(&f);
    if (st != 0) {
        fprintf(stderr, "rw_schema_driver: fake_railway exited with %d\n", st);
        failures++;
    }
    return failures || !reqs ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--print-documents") == 0) {
        char *s = rw_documents_json();
        if (!s)
            return 1;
        printf("%s\n", s);
        free(s);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--record") == 0)
        return record();
    fprintf(stderr, "usage: rw_schema_driver --print-documents | --record\n");
    return 2;
}
