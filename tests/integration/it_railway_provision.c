/* it_railway_provision.c: `medic railway provision|regions|check` against the fake Railway API, end
 * to end with the real medic binary: a dry run changes nothing; the first run makes three
 * services with a volume, a region, a health check and their variables, and deploys them; the
 * second run finds nothing to do and makes no mutation; a run that fails half way (the fake fails
 * one mutation) is finished by the next, without a second service or new secrets; no secret or
 * token shows in the output; check tells account, workspace and project tokens apart; regions
 * lists the current regions; bad arguments exit 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "harness.h"

#define TOKEN "it-provision-account-token-0123"
#define PROJECT "5a1e0000-0000-4000-8000-00000000f00d"
#define ENV_ID "e7a10000-0000-4000-8000-0000000000e1"
#define REGIONS "us-west2,us-east4-eqdc4a,europe-west4-drams3a"

typedef struct {
    it_fake_railway fake;
    char cfg[128];
} fixture;

/* Runs medic with args (a shell fragment, no secrets in it) with $RAILWAY_API_TOKEN = token;
 * returns the exit code; *out gets stdout and stderr together (malloc'd). */
static int medic(const char *token, char **out, const char *fmt, ...)
{
    char args[2048], cmd[2600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    if (token)
        setenv("RAILWAY_API_TOKEN", token, 1);
    else
        unsetenv("RAILWAY_API_TOKEN");
    snprintf(cmd, sizeof cmd, "%s railway %s 2>&1", MEDIC_BIN, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len = 0, cap = 65536;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0)
        len += n;
    buf[len] = '\0';
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static cJSON *project_state(fixture *fx)
{
    cJSON *j = it_get_json(fx->fake.port, "/control/project", NULL);
    assert_non_null(j);
    return j;
}

static int mutations(fixture *fx)
{
    cJSON *j = project_state(fx);
    int n = cJSON_GetObjectItem(j, "mutations")->valueint;
    cJSON_Delete(j);
    return n;
}

static const char *var(const cJSON *svc, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(svc, "variables"), name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int start_fake(fixture *fx, const char *const *args)
{
    if (it_fake_railway_start(&fx->fake, "svcA", args) != 0)
        return -1;
    snprintf(fx->cfg, sizeof fx->cfg, "%s/user.json", fx->fake.dir);
    FILE *f = fopen(fx->cfg, "w");
    if (!f)
        return -1;
    fputs("{\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:9/health\"}]}\n", f);
    fclose(f);
    return 0;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    const char *args[] = {"--token", TOKEN, NULL};
    if (!fx || start_fake(fx, args) != 0)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    it_fake_railway_stop(&fx->fake);
    free(fx);
    return 0;
}

static int provision(fixture *fx, char **out, const char *extra)
{
    return medic(TOKEN, out,
                 "provision --endpoint http://127.0.0.1:%d/graphql/v2 --project " PROJECT " --environment " ENV_ID
                 " --regions " REGIONS " --config %s --image ghcr.io/example/medic:1 %s",
                 fx->fake.port, fx->cfg, extra);
}

/* Three services as asked, each once; returns the state (caller frees). */
static cJSON *assert_complete(fixture *fx)
{
    static const char *const regions[] = {"us-west2", "us-east4-eqdc4a", "europe-west4-drams3a"};
    cJSON *j = project_state(fx);
    const cJSON *svcs = cJSON_GetObjectItem(j, "services");
    assert_int_equal(cJSON_GetArraySize(svcs), 3);
    assert_int_equal(cJSON_GetObjectItem(j, "tokensCreated")->valueint, 1);
    const char *secret = var(cJSON_GetArrayItem(svcs, 0), "MEDIC_CLUSTER_SECRET");
    assert_non_null(secret);
    assert_int_equal(strlen(secret), 64);
    for (int i = 0; i < 3; i++) {
        const cJSON *s = cJSON_GetArrayItem(svcs, i);
        char name[32], id[8];
        snprintf(name, sizeof name, "medic-n%d", i + 1);
        snprintf(id, sizeof id, "n%d", i + 1);
        assert_string_equal(cJSON_GetObjectItem(s, "name")->valuestring, name);
        assert_string_equal(cJSON_GetObjectItem(s, "region")->valuestring, regions[i]);
        assert_string_equal(cJSON_GetObjectItem(s, "healthcheckPath")->valuestring, "/v1/health");
        assert_string_equal(cJSON_GetObjectItem(s, "restartPolicyType")->valuestring, "ON_FAILURE");
        assert_string_equal(cJSON_GetObjectItem(s, "startCommand")->valuestring, "/usr/bin/medic node");
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "source"), "image")->valuestring,
                            "ghcr.io/example/medic:1");
        const cJSON *vol = cJSON_GetObjectItem(s, "volume");
        assert_string_equal(cJSON_GetObjectItem(vol, "mountPath")->valuestring, "/data");
        assert_string_equal(cJSON_GetObjectItem(vol, "region")->valuestring, regions[i]);
        assert_int_equal(cJSON_GetObjectItem(s, "deployments")->valueint >= 1, 1);
        assert_string_equal(var(s, "MEDIC_NODE_ID"), id);
        assert_string_equal(var(s, "MEDIC_REGION"), regions[i]);
        assert_string_equal(var(s, "PORT"), "8700");
        assert_string_equal(var(s, "RAILWAY_RUN_UID"), "0");
        assert_string_equal(var(s, "MEDIC_CLUSTER_SECRET"), secret);
        assert_non_null(var(s, "MEDIC_ADMIN_TOKEN"));
        assert_non_null(strstr(var(s, "MEDIC_RAILWAY_TOKEN"), "fake-project-token-"));
        const char *cfg = var(s, "MEDIC_CONFIG");
        assert_non_null(strstr(cfg, "tcp://medic-n3.railway.internal:7000"));
        assert_non_null(strstr(cfg, "${MEDIC_CLUSTER_SECRET}"));
        assert_null(strstr(cfg, secret));
    }
    return j;
}

static void assert_no_secret(const cJSON *j, const char *out)
{
    const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "services"), 0);
    assert_null(strstr(out, var(s, "MEDIC_CLUSTER_SECRET")));
    assert_null(strstr(out, var(s, "MEDIC_ADMIN_TOKEN")));
    assert_null(strstr(out, var(s, "MEDIC_RAILWAY_TOKEN")));
    assert_null(strstr(out, TOKEN));
}

static void test_provision_is_idempotent(void **state)
{
    fixture *fx = *state;
    char *out = NULL;
    assert_int_equal(provision(fx, &out, "--dry-run"), 0);
    assert_non_null(strstr(out, "dry run: 16 changes planned, none made"));
    assert_non_null(strstr(out, "medic-n1 (node n1, region us-west2): missing"));
    free(out);
    assert_int_equal(mutations(fx), 0);

    assert_int_equal(provision(fx, &out, ""), 0);
    assert_non_null(strstr(out, "done: 16 changes made"));
    assert_int_equal(mutations(fx), 16);
    cJSON *j = assert_complete(fx);
    assert_no_secret(j, out);
    free(out);

    assert_int_equal(provision(fx, &out, "--print-admin-token"), 0);
    assert_non_null(strstr(out, "nothing to do"));
    assert_int_equal(mutations(fx), 16);
    char line[160];
    const cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "services"), 0);
    snprintf(line, sizeof line, "MEDIC_ADMIN_TOKEN=%s\n", var(s0, "MEDIC_ADMIN_TOKEN"));
    assert_non_null(strstr(out, line));
    free(out);
    cJSON_Delete(j);
}

static void test_partial_failure_is_finished(void **state)
{
    fixture *fx = *state;
    char *out = NULL;
    /* token, then n1's five; the 8th mutation (n2's volume) fails, after n2 was created */
    assert_int_equal(it_fake_railway_control(&fx->fake, "/control/fault?kind=gqlerror&op=mutation&skip=7"), 200);
    assert_int_equal(provision(fx, &out, ""), 1);
    assert_non_null(strstr(out, "stopped after 7 of 16 changes: run the same command again"));
    free(out);
    cJSON *j = project_state(fx);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "services")), 2);
    char secret[80];
    snprintf(secret, sizeof secret, "%s", var(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "services"), 0),
                                              "MEDIC_CLUSTER_SECRET"));
    cJSON_Delete(j);

    assert_int_equal(provision(fx, &out, ""), 0);
    assert_non_null(strstr(out, "medic-n1 (node n1, region us-west2): exists, deployed\n    up to date"));
    assert_non_null(strstr(out, "MEDIC_CLUSTER_SECRET: kept"));
    free(out);
    j = assert_complete(fx);
    assert_string_equal(var(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "services"), 2), "MEDIC_CLUSTER_SECRET"), secret);
    cJSON_Delete(j);
    int m = mutations(fx);
    assert_int_equal(provision(fx, &out, ""), 0);
    assert_non_null(strstr(out, "nothing to do"));
    free(out);
    assert_int_equal(mutations(fx), m);
}

static void test_regions_and_usage(void **state)
{
    fixture *fx = *state;
    char *out = NULL;
    assert_int_equal(medic(TOKEN, &out, "regions --endpoint http://127.0.0.1:%d/graphql/v2", fx->fake.port), 0);
    assert_non_null(strstr(out, "europe-west4-drams3a"));
    assert_null(strstr(out, "us-west1 "));
    assert_non_null(strstr(out, "1 deprecated region not shown"));
    free(out);
    assert_int_equal(medic(TOKEN, &out, "regions --all --endpoint http://127.0.0.1:%d/graphql/v2", fx->fake.port), 0);
    assert_non_null(strstr(out, "(deprecated)"));
    free(out);
    /* usage errors exit 2, before any request */
    assert_int_equal(provision(fx, &out, "--regions us-west2,us-east4-eqdc4a"), 2);
    assert_non_null(strstr(out, "two nodes cannot keep a majority"));
    free(out);
    assert_int_equal(medic(TOKEN, &out, "provision --project " PROJECT " --regions us-west2"), 2);
    free(out);
    assert_int_equal(medic(TOKEN, &out, "check --token %s", TOKEN), 2);
    assert_non_null(strstr(out, "--token is not accepted"));
    free(out);
    assert_int_equal(medic(NULL, &out, "regions --endpoint http://127.0.0.1:%d/graphql/v2", fx->fake.port), 2);
    assert_non_null(strstr(out, "no Railway token"));
    free(out);
    assert_int_equal(medic(TOKEN, &out, "regions --endpoint http://example.com/graphql/v2"), 2);
    free(out);
    assert_int_equal(mutations(fx), 0);
}

static void test_check_each_kind(void **state)
{
    fixture *fx = *state;
    char *out = NULL;
    assert_int_equal(medic(TOKEN, &out, "check --endpoint http://127.0.0.1:%d/graphql/v2 --project " PROJECT
                           " --environment " ENV_ID, fx->fake.port), 0);
    assert_non_null(strstr(out, "token: account token (Bearer)"));
    assert_non_null(strstr(out, "project " PROJECT ": reachable"));
    assert_non_null(strstr(out, "environment " ENV_ID ": reachable (\"production\")"));
    free(out);
    assert_int_equal(medic(TOKEN, &out, "check --endpoint http://127.0.0.1:%d/graphql/v2 --project nope",
                           fx->fake.port), 1);
    assert_non_null(strstr(out, "project nope: not reachable"));
    free(out);
    assert_int_equal(medic("wrong-token", &out, "check --endpoint http://127.0.0.1:%d/graphql/v2", fx->fake.port), 1);
    assert_non_null(strstr(out, "refused"));
    free(out);
    it_fake_railway_stop(&fx->fake);

    const char *ws[] = {"--token", "it-workspace-token-0123", "--token-kind", "workspace", NULL};
    assert_int_equal(start_fake(fx, ws), 0);
    assert_int_equal(medic("it-workspace-token-0123", &out, "check --endpoint http://127.0.0.1:%d/graphql/v2",
                           fx->fake.port), 0);
    assert_non_null(strstr(out, "token: workspace token (Bearer)"));
    free(out);
    it_fake_railway_stop(&fx->fake);

    /* a project token: refused as Bearer, then recognised as what it is */
    const char *pj[] = {"--token", "it-project-token-0123", "--token-kind", "project", NULL};
    assert_int_equal(start_fake(fx, pj), 0);
    assert_int_equal(medic("it-project-token-0123", &out, "check --endpoint http://127.0.0.1:%d/graphql/v2 "
                           "--project " PROJECT, fx->fake.port), 0);
    assert_non_null(strstr(out, "token: project token for project " PROJECT ", environment " ENV_ID));
    assert_non_null(strstr(out, "it cannot provision"));
    assert_null(strstr(out, "it-project-token-0123"));
    free(out);
    assert_int_equal(medic("it-project-token-0123", &out, "check --endpoint http://127.0.0.1:%d/graphql/v2 "
                           "--project other-project", fx->fake.port), 1);
    free(out);
    /* and provisioning with it is refused, saying which token it needs */
    assert_int_equal(medic("it-project-token-0123", &out, "provision --endpoint http://127.0.0.1:%d/graphql/v2 "
                           "--project " PROJECT " --environment " ENV_ID " --regions us-west2 --config %s --image x",
                           fx->fake.port, fx->cfg), 1);
    assert_non_null(strstr(out, "needs an account or workspace token"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_provision_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_failure_is_finished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regions_and_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_each_kind, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
