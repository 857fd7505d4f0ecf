/* test_config_remedy.c: the remediation section and each service's actuator: the seed's ladder
 * defaults, Railway and exec actuators, the Railway endpoint's scheme, per-service tokens,
 * webhooks, shadow mode, and that tokens stay masked. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "config_test_util.h"

static void test_seed_ladder_defaults(void **state)
{
    (void)state;
    md_config *cfg = ok("{'services':[{'name':'a','tcp':'h:1'}]}");
    const md_service_config *s = &cfg->services[0];
    assert_int_equal(s->remedy->restart_attempts, 3);
    assert_int_equal(s->remedy->restart_interval_ms, 10000);
    assert_int_equal(s->remedy->redeploy_attempts, 2);
    assert_int_equal(s->remedy->restart_timeout_ms, 30000);
    assert_int_equal(cfg->remedy.railway_budget_per_hour, 80);
    assert_int_equal(s->remedy->redeploy_timeout_ms, 120000);
    assert_int_equal(s->remedy->rollback_timeout_ms, 60000);
    assert_int_equal(s->remedy->actuator, MD_ACTUATOR_NONE);
    assert_false(s->shadow);
    assert_false(cfg->remedy.shadow);
    assert_null(cfg->remedy.admin_token);
    assert_string_equal(cfg->remedy.railway_endpoint, MD_DEFAULT_RAILWAY_ENDPOINT);
    md_config_free(cfg);
}

static void test_railway_actuator(void **state)
{
    (void)state;
    setenv("MEDIC_T_RW", "rw-token-value-123456", 1);
    md_config *cfg = ok("{'remediation':{'railway':{'token':'${MEDIC_T_RW}','token_kind':'bearer'}},"
                        "'defaults':{'restart_attempts':1},"
                        "'services':[{'name':'a','url':'http://h/','railway':{'service_id':'s1','environment_id':'e1'}}]}");
    const md_service_config *s = &cfg->services[0];
    assert_int_equal(s->remedy->actuator, MD_ACTUATOR_RAILWAY);
    assert_string_equal(s->remedy->railway_service_id, "s1");
    assert_int_equal(s->remedy->restart_attempts, 1);
    assert_false(cfg->remedy.railway_project_token);
    md_config_free(cfg);
    cfg = ok("{'remediation':{'railway':{'token':'t'}},'defaults':{'restart_timeout_ms':4000},"
             "'services':[{'name':'a','url':'http://h/','railway':{'service_id':'s1','environment_id':'e1'}}]}");
    assert_int_equal(cfg->services[0].remedy->restart_timeout_ms, 4000);
    bad("{'remediation':{'railway':{'token':'t','budget_per_hour':0}},'services':[{'name':'a','tcp':'h:1'}]}",
        "t.json: remediation.railway.budget_per_hour: must be a positive integer");
    bad("{'services':[{'name':'a','tcp':'h:1','restart_timeout_ms':0}]}",
        "t.json: services[0].restart_timeout_ms: must be a positive integer");
    md_config_free(cfg);
    cfg = ok("{'remediation':{'railway':{'token':'${MEDIC_T_RW}','token_kind':'bearer'}},"
             "'defaults':{'restart_attempts':1},"
             "'services':[{'name':'a','url':'http://h/','railway':{'service_id':'s1','environment_id':'e1'}}]}");
    s = &cfg->services[0];
    char *text = md_config_to_json(cfg, true);
    assert_null(strstr(text, "rw-token-value-123456"));
    assert_non_null(strstr(text, "\"service_id\":\t\"s1\""));
    free(text);
    md_config_free(cfg);
    unsetenv("MEDIC_T_RW");
    bad("{'services':[{'name':'a','url':'http://h/','railway':{'service_id':'s1','environment_id':'e1'}}]}",
        "t.json: services[0].railway.token: is required");
    bad("{'remediation':{'railway':{'token_kind':'bearer'}},'services':[{'name':'a','tcp':'h:1'}]}",
        "t.json: remediation.railway.token_kind: set only together with token");
    bad("{'remediation':{'railway':{'token':'x'}},'services':[{'name':'a','url':'http://h/','railway':{'service_id':'s1'}}]}",
        "t.json: services[0].railway: needs service_id and environment_id");
}

/* The token controls production: https://, or http:// to this machine only. */
static void test_railway_endpoint_scheme(void **state)
{
    (void)state;
    static const char *const good[] = { "https://backboard.railway.com/graphql/v2", "HTTPS://proxy.internal:8443/gql",
                                        "http://127.0.0.1:9/graphql/v2", "http://127.5.6.7/", "http://localhost:8080/x",
                                        "http://LocalHost/", "http://[::1]:9/graphql", "http://u:p@127.0.0.1:9/" };
    static const char *const refused[] = { "http://backboard.railway.com/graphql/v2", "http://10.0.0.1/",
                                           "http://127.0.0.1.evil.example/", "http://localhost.evil.example/",
                                           "http://[::2]:9/", "http://128.0.0.1/", "http://127.0.0.1@evil.example/" };
    char json[512];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(json, sizeof json, "{'remediation':{'railway':{'endpoint':'%s','token':'tok-0123'}},"
                                    "'services':[{'name':'a','tcp':'h:1'}]}", good[i]);
        md_config *cfg = ok(json);
        assert_string_equal(cfg->remedy.railway_endpoint, good[i]);
        md_config_free(cfg);
    }
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(json, sizeof json, "{'remediation':{'railway':{'endpoint':'%s','token':'tok-0123'}},"
                                    "'services':[{'name':'a','tcp':'h:1'}]}", refused[i]);
        bad(json, "t.json: remediation.railway.endpoint: http:// is refused except to a loopback address");
    }
    bad("{'remediation':{'railway':{'endpoint':'ftp://127.0.0.1/','token':'tok-9999'}},'services':[{'name':'a','tcp':'h:1'}]}",
        "t.json: remediation.railway.endpoint: must start with https://");
    bad("{'remediation':{'railway':{'endpoint':'ws://127.0.0.1/','token':'tok-9999'}},'services':[{'name':'a','tcp':'h:1'}]}",
        "t.json: remediation.railway.endpoint: must start with https://");
}

/* Services in different Railway projects carry their own project tokens. */
static void test_service_token(void **state)
{
    (void)state;
    setenv("MEDIC_T_RW_B", "project-b-token-7777", 1);
    const char *doc = "{'remediation':{'railway':{'endpoint':'http://127.0.0.1:9/graphql/v2','token':'global-token-5555'}},"
                      "'services':[{'name':'a','tcp':'h:1','railway':{'service_id':'s1','environment_id':'e1'}},"
                      "{'name':'b','tcp':'h:2','railway':{'service_id':'s2','environment_id':'e2',"
                      "'token':'${MEDIC_T_RW_B}','token_kind':'bearer'}},"
                      "{'name':'c','tcp':'h:3','railway':{'service_id':'s3','environment_id':'e3','token':'project-c-token-8888'}}]}";
    md_config *cfg = ok(doc);
    bool project = false;
    assert_string_equal(md_config_railway_token(cfg, &cfg->services[0], &project), "global-token-5555");
    assert_true(project);
    assert_string_equal(md_config_railway_token(cfg, &cfg->services[1], &project), "project-b-token-7777");
    assert_false(project);
    assert_string_equal(md_config_railway_token(cfg, &cfg->services[2], &project), "project-c-token-8888");
    assert_true(project); /* the default kind, as for remediation.railway.token */
    assert_null(cfg->services[0].remedy->railway_token);
    /* Masked in check-config and wherever a message is masked, even when written into the file. */
    char *text = md_config_to_json(cfg, true);
    assert_null(strstr(text, "global-token-5555"));
    assert_null(strstr(text, "project-b-token-7777"));
    assert_null(strstr(text, "project-c-token-8888"));
    assert_non_null(strstr(text, "\"token_kind\":\t\"bearer\""));
    free(text);
    char masked[256];
    md_config_mask(cfg, "auth failed for project-c-token-8888 and project-b-token-7777", masked, sizeof masked);
    assert_string_equal(masked, "auth failed for *** and ***");
    /* Unmasked, the effective config parses back to the same tokens. */
    text = md_config_to_json(cfg, false);
    md_config *again = NULL;
    char err[MD_CONFIG_ERR_LEN] = "";
    assert_int_equal(md_config_parse(text, strlen(text), "again", &again, err, sizeof err), 0);
    assert_string_equal(md_config_railway_token(again, &again->services[1], &project), "project-b-token-7777");
    assert_false(project);
    assert_string_equal(again->remedy.railway_endpoint, "http://127.0.0.1:9/graphql/v2");
    md_config_free(again);
    free(text);
    md_config_free(cfg);
    /* Every Railway service has its own token: no global one needed, the endpoint alone is fine. */
    cfg = ok("{'remediation':{'railway':{'endpoint':'http://localhost:9/graphql/v2'}},"
             "'services':[{'name':'a','tcp':'h:1','railway':{'service_id':'s1','environment_id':'e1','token':'own-1'}}]}");
    assert_null(cfg->remedy.railway_token);
    assert_string_equal(md_config_railway_token(cfg, &cfg->services[0], &project), "own-1");
    text = md_config_to_json(cfg, false);
    assert_non_null(strstr(text, "http://localhost:9/graphql/v2"));
    free(text);
    md_config_free(cfg);
    /* A service with no token anywhere names its field; the rest follow remediation.railway's rules. */
    bad("{'services':[{'name':'a','tcp':'h:1','railway':{'service_id':'s1','environment_id':'e1'}},"
        "{'name':'b','tcp':'h:2','railway':{'service_id':'s2','environment_id':'e2','token':'own'}}]}",
        "t.json: services[0].railway.token: is required");
    bad("{'services':[{'name':'a','tcp':'h:1','railway':{'service_id':'s1','environment_id':'e1','token_kind':'bearer'}}]}",
        "t.json: services[0].railway.token_kind: set only together with token");
    bad("{'services':[{'name':'a','tcp':'h:1','railway':{'service_id':'s1','environment_id':'e1','token':'tok-9999','token_kind':'oauth'}}]}",
        "t.json: services[0].railway.token_kind: must be one of project, bearer");
    bad("{'services':[{'name':'a','tcp':'h:1','railway':{'service_id':'s1','environment_id':'e1','token':7}}]}",
        "t.json: services[0].railway.token: must be a string");
    bad("{'services':[{'name':'a','tcp':'h:1','railway':{'service_id':'s1','environment_id':'e1','token':''}}]}",
        "t.json: services[0].railway.token: must not be empty");
    bad("{'services':[{'name':'a','tcp':'h:1','railway':{'service_id':'s1','environment_id':'e1','token':'${MEDIC_T_UNSET_RW}'}}]}",
        "t.json: services[0].railway.token: environment variable MEDIC_T_UNSET_RW is not set");
    bad("{'services':[{'name':'a','tcp':'h:1','railway':{'service_id':'s1','environment_id':'e1','tokens':'tok-9999'}}]}",
        "t.json: services[0].railway.tokens: unknown key");
    /* An error about a later field never shows a token read before it. */
    bad("{'services':[{'name':'a','tcp':'h:1','railway':{'service_id':'s1','environment_id':'e1','token':'${MEDIC_T_RW_B}'}},"
        "{'name':'project-b-token-7777','tcp':'h:2'},{'name':'project-b-token-7777','tcp':'h:3'}]}",
        "t.json: services[2].name: \"***\" is already used by services[1]");
    unsetenv("MEDIC_T_RW_B");
}

static void test_exec_actuator(void **state)
{
    (void)state;
    md_config *cfg = ok("{'services':[{'name':'a','tcp':'h:1','exec':{'restart':['/bin/systemctl','restart','a'],"
                        "'rollback':['/usr/local/bin/rollback'],'timeout_ms':5000}}]}");
    const md_service_config *s = &cfg->services[0];
    assert_int_equal(s->remedy->actuator, MD_ACTUATOR_EXEC);
    assert_string_equal(s->remedy->exec_restart[0], "/bin/systemctl");
    assert_string_equal(s->remedy->exec_restart[2], "a");
    assert_null(s->remedy->exec_restart[3]);
    assert_null(s->remedy->exec_redeploy);
    assert_string_equal(s->remedy->exec_rollback[0], "/usr/local/bin/rollback");
    assert_int_equal(s->remedy->exec_timeout_ms, 5000);
    md_config_free(cfg);
    bad("{'services':[{'name':'a','tcp':'h:1','exec':{'restart':[]}}]}", "t.json: services[0].exec.restart: must be a list");
    bad("{'services':[{'name':'a','tcp':'h:1','exec':{'restart':['']}}]}",
        "t.json: services[0].exec.restart: the program must not be empty");
    bad("{'services':[{'name':'a','tcp':'h:1','exec':{}}]}", "t.json: services[0].exec: needs at least one of");
    bad("{'services':[{'name':'a','tcp':'h:1','exec':{'restart':['x']},'railway':{}}]}",
        "t.json: services[0]: set railway or exec, not both");
    bad("{'services':[{'name':'a','tcp':'h:1','actuator':'exec'}]}", "t.json: services[0].actuator: \"exec\" needs an exec object");
    bad("{'services':[{'name':'a','tcp':'h:1','actuator':'magic'}]}", "t.json: services[0].actuator: must be one of none, railway, exec");
}

static void test_webhooks_admin_and_shadow(void **state)
{
    (void)state;
    md_config *cfg = ok("{'remediation':{'mode':'shadow','admin_token':'admin-token-0123456789',"
                        "'webhooks':[{'url':'https://hooks.slack.test/services/T0/B0/secretpath','format':'slack'},"
                        "{'url':'http://127.0.0.1:9/hook','headers':{'Authorization':'Bearer hooksecret'}}]},"
                        "'services':[{'name':'a','tcp':'h:1'},{'name':'b','tcp':'h:2','shadow':false}]}");
    assert_true(cfg->remedy.shadow);
    assert_true(cfg->services[0].shadow);
    assert_true(cfg->services[1].shadow); /* mode shadow covers every service */
    assert_int_equal(cfg->remedy.n_webhooks, 2);
    assert_int_equal(cfg->remedy.webhooks[0].format, MD_WEBHOOK_SLACK);
    assert_int_equal(cfg->remedy.webhooks[1].format, MD_WEBHOOK_GENERIC);
    char *text = md_config_to_json(cfg, true);
    assert_null(strstr(text, "secretpath"));
    assert_null(strstr(text, "hooksecret"));
    assert_null(strstr(text, "admin-token-0123456789"));
    free(text);
    md_config_free(cfg);
    bad("{'remediation':{'admin_token':'short'},'services':[{'name':'a','tcp':'h:1'}]}",
        "t.json: remediation.admin_token: must be at least 16 characters");
    bad("{'remediation':{'webhooks':[{'url':'ftp://x/'}]},'services':[{'name':'a','tcp':'h:1'}]}",
        "t.json: remediation.webhooks[0].url");
    bad("{'remediation':{'webhooks':[{'url':'http://x/','format':'teams'}]},'services':[{'name':'a','tcp':'h:1'}]}",
        "t.json: remediation.webhooks[0].format: must be one of generic, slack, discord");
    bad("{'remediation':{'mode':'yolo'},'services':[{'name':'a','tcp':'h:1'}]}", "t.json: remediation.mode: must be one of act, shadow");
    bad("{'remediation':{'nope':1},'services':[{'name':'a','tcp':'h:1'}]}", "t.json: remediation.nope");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_ladder_defaults),
        cmocka_unit_test(test_railway_actuator),
        cmocka_unit_test(test_railway_endpoint_scheme),
        cmocka_unit_test(test_service_token),
        cmocka_unit_test(test_exec_actuator),
        cmocka_unit_test(test_webhooks_admin_and_shadow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
