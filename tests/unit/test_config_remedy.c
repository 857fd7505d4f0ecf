/* test_config_remedy.c: the remediation section and each service's actuator: the seed's ladder
 * defaults, Railway and exec actuators, webhooks, shadow mode, and that tokens stay masked. */
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
    assert_int_equal(s->restart_attempts, 3);
    assert_int_equal(s->restart_interval_ms, 10000);
    assert_int_equal(s->redeploy_attempts, 2);
    assert_int_equal(s->restart_timeout_ms, 30000);
    assert_int_equal(s->redeploy_timeout_ms, 120000);
    assert_int_equal(s->rollback_timeout_ms, 60000);
    assert_int_equal(s->actuator, MD_ACTUATOR_NONE);
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
    assert_int_equal(s->actuator, MD_ACTUATOR_RAILWAY);
    assert_string_equal(s->railway_service_id, "s1");
    assert_int_equal(s->restart_attempts, 1);
    assert_false(cfg->remedy.railway_project_token);
    md_config_free(cfg);
    cfg = ok("{'remediation':{'railway':{'token':'t'}},'defaults':{'restart_timeout_ms':4000},"
             "'services':[{'name':'a','url':'http://h/','railway':{'service_id':'s1','environment_id':'e1'}}]}");
    assert_int_equal(cfg->services[0].restart_timeout_ms, 4000);
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
        "t.json: services[0].railway: needs remediation.railway.token");
    bad("{'remediation':{'railway':{}},'services':[{'name':'a','tcp':'h:1'}]}",
        "t.json: remediation.railway.token: is required");
    bad("{'remediation':{'railway':{'token':'x'}},'services':[{'name':'a','url':'http://h/','railway':{'service_id':'s1'}}]}",
        "t.json: services[0].railway: needs service_id and environment_id");
}

static void test_exec_actuator(void **state)
{
    (void)state;
    md_config *cfg = ok("{'services':[{'name':'a','tcp':'h:1','exec':{'restart':['/bin/systemctl','restart','a'],"
                        "'rollback':['/usr/local/bin/rollback'],'timeout_ms':5000}}]}");
    const md_service_config *s = &cfg->services[0];
    assert_int_equal(s->actuator, MD_ACTUATOR_EXEC);
    assert_string_equal(s->exec_restart[0], "/bin/systemctl");
    assert_string_equal(s->exec_restart[2], "a");
    assert_null(s->exec_restart[3]);
    assert_null(s->exec_redeploy);
    assert_string_equal(s->exec_rollback[0], "/usr/local/bin/rollback");
    assert_int_equal(s->exec_timeout_ms, 5000);
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
        cmocka_unit_test(test_exec_actuator),
        cmocka_unit_test(test_webhooks_admin_and_shadow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
