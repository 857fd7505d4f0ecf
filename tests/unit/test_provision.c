/* test_provision.c: the pure half of `medic railway provision`: the nodes' MEDIC_CONFIG, reading
 * the project from the API's answers, and the plan: everything for an empty project, nothing for a
 * complete one, exactly what is missing after a partial run, secrets kept (never regenerated),
 * conflicts a plan cannot fix refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "provision/provision.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define ADMIN "fedcba9876543210fedcba9876543210"

static const char *const regions[] = { "us-west2", "us-east4-eqdc4a", "europe-west4-drams3a" };

static md_prov_desired desired(const char *config)
{
    md_prov_desired d = { .prefix = "medic", .n_nodes = 3, .source_kind = MD_PROV_SRC_IMAGE,
                          .source = "ghcr.io/x/medic:1", .fresh_secret = SECRET, .fresh_admin = ADMIN,
                          .medic_config = config };
    for (int i = 0; i < 3; i++)
        d.regions[i] = regions[i];
    return d;
}

/* A project in the answers' shapes: services[i] present when mask has bit i; complete ones
 * have every setting, a volume, variables and a deployment. */
static void state_of(md_prov_state *s, const md_prov_desired *d, unsigned exists, unsigned complete)
{
    char proj[2048] = "{\"project\":{\"id\":\"p\",\"name\":\"x\",\"services\":{\"edges\":[{\"node\":{\"id\":\"other\","
                      "\"name\":\"web\"}}";
    char inst[4096] = "{\"environment\":{\"id\":\"e\",\"name\":\"production\",\"serviceInstances\":{\"edges\":[";
    char vols[2048] = "]},\"volumeInstances\":{\"edges\":[";
    bool first_i = true, first_v = true;
    for (int i = 0; i < 3; i++) {
        if (!(exists & (1u << i)))
            continue;
        char b[1024];
        snprintf(b, sizeof b, ",{\"node\":{\"id\":\"s%d\",\"name\":\"medic-n%d\"}}", i, i + 1);
        strcat(proj, b);
        bool c = complete & (1u << i);
        snprintf(b, sizeof b,
                 "%s{\"node\":{\"serviceId\":\"s%d\",\"serviceName\":\"medic-n%d\",\"region\":%s%s%s,"
                 "\"healthcheckPath\":%s,\"startCommand\":%s,\"restartPolicyType\":\"%s\",\"dockerfilePath\":null,"
                 "\"source\":%s,\"latestDeployment\":%s}}",
                 first_i ? "" : ",", i, i + 1, c ? "\"" : "", c ? regions[i] : "null", c ? "\"" : "",
                 c ? "\"/v1/health\"" : "null", c ? "\"/usr/bin/medic node\"" : "null", c ? "ON_FAILURE" : "ON_FAILURE",
                 c ? "{\"image\":\"ghcr.io/x/medic:1\",\"repo\":null}" : "null",
                 c ? "{\"id\":\"d\",\"status\":\"SUCCESS\"}" : "null");
        strcat(inst, b);
        first_i = false;
        if (c) {
            snprintf(b, sizeof b, "%s{\"node\":{\"volumeId\":\"v%d\",\"serviceId\":\"s%d\",\"mountPath\":\"/data\","
                     "\"region\":\"%s\"}}", first_v ? "" : ",", i, i, regions[i]);
            strcat(vols, b);
            first_v = false;
        }
    }
    strcat(proj, "]}}}");
    strcat(inst, vols);
    strcat(inst, "]}}}");
    char err[256] = "";
    assert_int_equal(md_prov_state_read(s, d, proj, inst, err, sizeof err), 0);
    for (int i = 0; i < 3; i++) {
        if (!(exists & (1u << i)))
            continue;
        char v[8192];
        bool c = complete & (1u << i);
        cJSON *o = cJSON_CreateObject(), *root = cJSON_CreateObject();
        if (c) {
            char id[8];
            snprintf(id, sizeof id, "n%d", i + 1);
            cJSON_AddStringToObject(o, MD_PROV_VAR_NODE_ID, id);
            cJSON_AddStringToObject(o, MD_PROV_VAR_REGION, regions[i]);
            cJSON_AddStringToObject(o, MD_PROV_VAR_PORT, MD_PROV_API_PORT);
            cJSON_AddStringToObject(o, MD_PROV_VAR_CONFIG, d->medic_config);
            cJSON_AddStringToObject(o, MD_PROV_VAR_SECRET, "kept-secret-0123456789");
            cJSON_AddStringToObject(o, MD_PROV_VAR_ADMIN, "kept-admin-0123456789");
            cJSON_AddStringToObject(o, MD_PROV_VAR_TOKEN, "kept-project-token");
            cJSON_AddStringToObject(o, MD_PROV_VAR_RUN_UID, MD_PROV_RUN_UID);
        }
        cJSON_AddItemToObject(root, "variables", o);
        char *t = cJSON_PrintUnformatted(root);
        snprintf(v, sizeof v, "%s", t);
        free(t);
        cJSON_Delete(root);
        assert_int_equal(md_prov_state_vars(s, (size_t)i, v, err, sizeof err), 0);
    }
}

static size_t count(const md_prov_plan *p, md_prov_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_actions; i++)
        n += p->actions[i].kind == k;
    return n;
}

/* plan_text: what md_prov_plan_print writes, as a string the caller frees. */
static char *plan_text(const md_prov_plan *p, const md_prov_desired *d, const md_prov_state *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    md_prov_plan_print(p, d, s, f);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void test_empty_project_plans_everything(void **st)
{
    (void)st;
    md_prov_desired d = desired("{}");
    md_prov_state s;
    md_prov_plan p;
    char err[256] = "";
    state_of(&s, &d, 0, 0);
    assert_int_equal(md_prov_plan_make(&d, &s, &p, err, sizeof err), 0);
    assert_int_equal(p.actions[0].kind, MD_PROV_CREATE_PROJECT_TOKEN);
    assert_int_equal(count(&p, MD_PROV_CREATE_SERVICE), 3);
    assert_int_equal(count(&p, MD_PROV_CREATE_VOLUME), 3);
    assert_int_equal(count(&p, MD_PROV_UPDATE_INSTANCE), 3);
    assert_int_equal(count(&p, MD_PROV_SET_VARIABLES), 3);
    assert_int_equal(count(&p, MD_PROV_DEPLOY), 3);
    assert_int_equal(p.n_actions, 16);
    /* per node, in order: create, volume, settings, variables, deploy */
    assert_int_equal(p.actions[1].kind, MD_PROV_CREATE_SERVICE);
    assert_int_equal(p.actions[5].kind, MD_PROV_DEPLOY);
    assert_int_equal(p.actions[5].node, 0);
    const cJSON *in = p.instance_input[1];
    assert_string_equal(cJSON_GetObjectItem(in, "region")->valuestring, "us-east4-eqdc4a");
    assert_string_equal(cJSON_GetObjectItem(in, "healthcheckPath")->valuestring, "/v1/health");
    assert_string_equal(cJSON_GetObjectItem(in, "restartPolicyType")->valuestring, "ON_FAILURE");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(in, "source"), "image")->valuestring, "ghcr.io/x/medic:1");
    const cJSON *v = p.vars[2];
    assert_string_equal(cJSON_GetObjectItem(v, MD_PROV_VAR_NODE_ID)->valuestring, "n3");
    assert_string_equal(cJSON_GetObjectItem(v, MD_PROV_VAR_REGION)->valuestring, "europe-west4-drams3a");
    assert_string_equal(cJSON_GetObjectItem(v, MD_PROV_VAR_SECRET)->valuestring, SECRET);
    assert_string_equal(cJSON_GetObjectItem(v, MD_PROV_VAR_ADMIN)->valuestring, ADMIN);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(v, MD_PROV_VAR_TOKEN))); /* filled once created */
    assert_int_equal(p.secret_origin, MD_PROV_GENERATED);
    assert_int_equal(p.token_origin, MD_PROV_TO_CREATE);
    /* the printout never holds a secret */
    char *buf = plan_text(&p, &d, &s);
    assert_null(strstr(buf, SECRET));
    assert_null(strstr(buf, ADMIN));
    assert_non_null(strstr(buf, "medic-n2 (node n2, region us-east4-eqdc4a): missing"));
    free(buf);
    md_prov_plan_free(&p);
    md_prov_state_free(&s);
}

static void test_complete_project_plans_nothing(void **st)
{
    (void)st;
    md_prov_desired d = desired("{\"x\":1}");
    md_prov_state s;
    md_prov_plan p;
    char err[256] = "";
    state_of(&s, &d, 7, 7);
    assert_int_equal(md_prov_plan_make(&d, &s, &p, err, sizeof err), 0);
    assert_int_equal(p.n_actions, 0);
    assert_int_equal(p.secret_origin, MD_PROV_KEPT);
    assert_int_equal(p.admin_origin, MD_PROV_KEPT);
    assert_int_equal(p.token_origin, MD_PROV_KEPT);
    md_prov_plan_free(&p);
    /* a changed config: only MEDIC_CONFIG, and a deploy, on every node */
    d.medic_config = "{\"x\":2}";
    assert_int_equal(md_prov_plan_make(&d, &s, &p, err, sizeof err), 0);
    assert_int_equal(p.n_actions, 6);
    assert_int_equal(count(&p, MD_PROV_SET_VARIABLES), 3);
    assert_string_equal(p.actions[0].what, MD_PROV_VAR_CONFIG);
    assert_int_equal(cJSON_GetArraySize(p.vars[0]), 1);
    md_prov_plan_free(&p);
    /* a given project token replaces the kept one */
    d.medic_config = "{\"x\":1}";
    d.project_token = "given-token";
    assert_int_equal(md_prov_plan_make(&d, &s, &p, err, sizeof err), 0);
    assert_int_equal(p.token_origin, MD_PROV_GIVEN);
    assert_string_equal(cJSON_GetObjectItem(p.vars[1], MD_PROV_VAR_TOKEN)->valuestring, "given-token");
    assert_int_equal(p.n_actions, 6);
    md_prov_plan_free(&p);
    md_prov_state_free(&s);
}

/* A run that stopped after creating n1 and n2 (n1 complete): n1 untouched, n2 finished (no
 * second service), n3 created; the secrets n1 holds are used for all. */
static void test_partial_run_is_finished(void **st)
{
    (void)st;
    md_prov_desired d = desired("{}");
    md_prov_state s;
    md_prov_plan p;
    char err[256] = "";
    state_of(&s, &d, 3, 1);
    assert_int_equal(md_prov_plan_make(&d, &s, &p, err, sizeof err), 0);
    assert_int_equal(count(&p, MD_PROV_CREATE_PROJECT_TOKEN), 0);
    assert_int_equal(count(&p, MD_PROV_CREATE_SERVICE), 1);
    assert_int_equal(count(&p, MD_PROV_CREATE_VOLUME), 2);
    for (size_t i = 0; i < p.n_actions; i++)
        assert_int_not_equal(p.actions[i].node, 0);
    assert_string_equal(cJSON_GetObjectItem(p.vars[1], MD_PROV_VAR_SECRET)->valuestring, "kept-secret-0123456789");
    assert_string_equal(cJSON_GetObjectItem(p.vars[2], MD_PROV_VAR_ADMIN)->valuestring, "kept-admin-0123456789");
    assert_string_equal(cJSON_GetObjectItem(p.vars[2], MD_PROV_VAR_TOKEN)->valuestring, "kept-project-token");
    md_prov_plan_free(&p);
    md_prov_state_free(&s);
}

/* Services that disagree on a secret (edited by hand): all take the first one's, and the plan
 * says so without printing either value. */
static void test_disagreeing_secret_is_unified(void **st)
{
    (void)st;
    md_prov_desired d = desired("{\"x\":1}");
    md_prov_state s;
    md_prov_plan p;
    char err[256] = "";
    state_of(&s, &d, 7, 7);
    cJSON_ReplaceItemInObject(s.svc[2].vars, MD_PROV_VAR_SECRET, cJSON_CreateString("edited-secret-0123456789"));
    assert_int_equal(md_prov_plan_make(&d, &s, &p, err, sizeof err), 0);
    assert_int_equal(p.n_actions, 2); /* n3: set variables, deploy */
    assert_string_equal(cJSON_GetObjectItem(p.vars[2], MD_PROV_VAR_SECRET)->valuestring, "kept-secret-0123456789");
    char *buf = plan_text(&p, &d, &s);
    assert_non_null(strstr(buf, "    MEDIC_CLUSTER_SECRET differs between services"));
    assert_null(strstr(buf, "edited-secret"));
    assert_null(strstr(buf, "kept-secret"));
    free(buf);
    md_prov_plan_free(&p);
    md_prov_state_free(&s);
}

static void test_conflicts_are_refused(void **st)
{
    (void)st;
    md_prov_desired d = desired("{}");
    md_prov_state s;
    md_prov_plan p;
    char err[256] = "";
    state_of(&s, &d, 7, 7);
    snprintf(s.svc[1].volume_region, sizeof s.svc[1].volume_region, "us-west2");
    assert_int_equal(md_prov_plan_make(&d, &s, &p, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "medic-n2 has a volume"));
    assert_non_null(strstr(err, "cannot move"));
    md_prov_state_free(&s);
    /* no source anywhere */
    d.source_kind = MD_PROV_SRC_KEEP;
    d.source = NULL;
    state_of(&s, &d, 0, 0);
    assert_int_equal(md_prov_plan_make(&d, &s, &p, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "--image"));
    md_prov_state_free(&s);
    /* an existing source is kept without --image */
    state_of(&s, &d, 7, 7);
    assert_int_equal(md_prov_plan_make(&d, &s, &p, err, sizeof err), 0);
    assert_int_equal(p.n_actions, 0);
    md_prov_plan_free(&p);
    md_prov_state_free(&s);
}

static void test_state_reads_only_ours(void **st)
{
    (void)st;
    md_prov_desired d = desired("{}");
    md_prov_state s;
    char err[256] = "";
    const char *proj = "{\"project\":{\"id\":\"p\",\"name\":\"x\",\"services\":{\"edges\":[{\"node\":{\"id\":\"a\","
                       "\"name\":\"medic-n1\"}},{\"node\":{\"id\":\"b\",\"name\":\"medic-n1\"}}]}}}";
    const char *env = "{\"environment\":{\"serviceInstances\":{\"edges\":[]},\"volumeInstances\":{\"edges\":[]}}}";
    assert_int_equal(md_prov_state_read(&s, &d, proj, env, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "two services named medic-n1"));
    assert_int_equal(md_prov_state_read(&s, &d, "{\"project\":null}", env, err, sizeof err), -EBADMSG);
    assert_int_equal(md_prov_state_vars(&s, 0, "{\"variables\":[1]}", err, sizeof err), -EBADMSG);
    md_prov_state_free(&s);
}

static void test_node_config(void **st)
{
    (void)st;
    char *out = NULL, err[256];
    const char *user = "{\"services\":[{\"name\":\"web\",\"url\":\"https://x/${WEBHOOK_PATH}\"}],"
                       "\"cluster\":{\"name\":\"theirs\",\"gossip_interval_ms\":500},"
                       "\"remediation\":{\"mode\":\"shadow\"}}";
    assert_int_equal(md_prov_node_config(user, "medic", 3, regions, &out, err, sizeof err), 0);
    cJSON *c = cJSON_Parse(out);
    const cJSON *cl = cJSON_GetObjectItem(c, "cluster");
    assert_string_equal(cJSON_GetObjectItem(cl, "name")->valuestring, "medic");
    assert_string_equal(cJSON_GetObjectItem(cl, "secret")->valuestring, "${MEDIC_CLUSTER_SECRET}");
    assert_string_equal(cJSON_GetObjectItem(cl, "listen")->valuestring, "tcp://[::]:7000");
    assert_string_equal(cJSON_GetObjectItem(cl, "timing")->valuestring, "wan");
    assert_int_equal(cJSON_GetObjectItem(cl, "gossip_interval_ms")->valueint, 500); /* the user's stays */
    const cJSON *p2 = cJSON_GetArrayItem(cJSON_GetObjectItem(cl, "peers"), 1);
    assert_string_equal(cJSON_GetObjectItem(p2, "id")->valuestring, "n2");
    assert_string_equal(cJSON_GetObjectItem(p2, "address")->valuestring, "tcp://medic-n2.railway.internal:7000");
    assert_string_equal(cJSON_GetObjectItem(p2, "region")->valuestring, "us-east4-eqdc4a");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "node"), "id")->valuestring, "${MEDIC_NODE_ID}");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "node"), "data_dir")->valuestring, "/data");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "api"), "listen")->valuestring, "[::]:${PORT}");
    const cJSON *rem = cJSON_GetObjectItem(c, "remediation");
    assert_string_equal(cJSON_GetObjectItem(rem, "mode")->valuestring, "shadow");
    assert_string_equal(cJSON_GetObjectItem(rem, "admin_token")->valuestring, "${MEDIC_ADMIN_TOKEN}");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(rem, "railway"), "token_kind")->valuestring, "project");
    cJSON_Delete(c);
    char refs[256];
    md_prov_foreign_refs(out, refs, sizeof refs);
    assert_string_equal(refs, "WEBHOOK_PATH");
    free(out);
    assert_int_equal(md_prov_node_config("[1]", "medic", 3, regions, &out, err, sizeof err), -EINVAL);
    assert_int_equal(md_prov_node_config("{\"api\":5}", "medic", 3, regions, &out, err, sizeof err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_project_plans_everything),
        cmocka_unit_test(test_complete_project_plans_nothing),
        cmocka_unit_test(test_partial_run_is_finished),
        cmocka_unit_test(test_disagreeing_secret_is_unified),
        cmocka_unit_test(test_conflicts_are_refused),
        cmocka_unit_test(test_state_reads_only_ours),
        cmocka_unit_test(test_node_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
