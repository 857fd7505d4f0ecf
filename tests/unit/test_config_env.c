/* test_config_env.c: what a node takes from its platform (config_env.c): node.id, node.region,
 * node.data_dir and api.listen from injected variables and host name, in the documented order
 * (the config wins, then the variables, then the default), and errors naming field and variable. */
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

/* An injected environment: "NAME=value" strings, NULL-terminated. */
static const char *lookup(void *ctx, const char *name)
{
    const char *const *vars = ctx;
    size_t n = strlen(name);
    for (; vars && *vars; vars++)
        if (strncmp(*vars, name, n) == 0 && (*vars)[n] == '=')
            return *vars + n + 1;
    return NULL;
}

static md_config *parse_with(const char *json_sq, const char *const *vars, const char *host, char *err)
{
    md_config_env env = { lookup, (void *)vars, host };
    const char *json = sq(json_sq);
    md_config *cfg = NULL;
    err[0] = '\0';
    int rc = md_config_parse_env(json, strlen(json), "t.json", &env, &cfg, err, MD_CONFIG_ERR_LEN);
    assert_true(rc == 0 || (rc == -EINVAL && cfg == NULL));
    return cfg;
}

static md_config *env_ok(const char *json_sq, const char *const *vars, const char *host)
{
    char err[MD_CONFIG_ERR_LEN];
    md_config *cfg = parse_with(json_sq, vars, host, err);
    if (!cfg)
        fail_msg("unexpected error: %s", err);
    return cfg;
}

static void env_bad(const char *json_sq, const char *const *vars, const char *host, const char *want)
{
    char err[MD_CONFIG_ERR_LEN];
    md_config *cfg = parse_with(json_sq, vars, host, err);
    assert_null(cfg);
    if (strcmp(err, want) != 0)
        fail_msg("error '%s' is not '%s'", err, want);
}

#define BARE "{'services':[{'name':'a','tcp':'h:1'}]}"
#define SET_ALL "{'node':{'id':'cfg-id','region':'cfg-region','data_dir':'/cfg/dir'},'api':{'listen':'127.0.0.1:9000'}," \
                "'services':[{'name':'a','tcp':'h:1'}]}"

static void test_nothing_set_gives_the_defaults(void **state)
{
    (void)state;
    md_config *cfg = env_ok(BARE, NULL, "host-a");
    assert_string_equal(cfg->node_id, "host-a");
    assert_string_equal(cfg->node_id_from, "host name");
    assert_string_equal(cfg->node_region, "local");
    assert_string_equal(cfg->node_region_from, "default");
    assert_string_equal(cfg->data_dir, "medic-data/host-a");
    assert_string_equal(cfg->data_dir_from, "default");
    assert_string_equal(cfg->api_listen, MD_DEFAULT_API_LISTEN);
    assert_string_equal(cfg->api_listen_from, "default");
    md_config_free(cfg);
}

static void test_variables_fill_what_the_config_leaves_out(void **state)
{
    (void)state;
    const char *const vars[] = { "MEDIC_NODE_ID=n7", "MEDIC_REGION=eu-west", "PORT=8080",
                                 "MEDIC_DATA_DIR=/srv/medic", NULL };
    md_config *cfg = env_ok(BARE, vars, "host-a");
    assert_string_equal(cfg->node_id, "n7");
    assert_string_equal(cfg->node_id_from, "MEDIC_NODE_ID");
    assert_string_equal(cfg->node_region, "eu-west");
    assert_string_equal(cfg->node_region_from, "MEDIC_REGION");
    assert_string_equal(cfg->data_dir, "/srv/medic");
    assert_string_equal(cfg->data_dir_from, "MEDIC_DATA_DIR");
    /* PORT: every address, IPv6 and (dual-stack) IPv4. */
    assert_string_equal(cfg->api_listen, "[::]:8080");
    assert_string_equal(cfg->api_listen_from, "PORT");
    assert_string_equal(cfg->api_host, "::");
    assert_int_equal(cfg->api_port, 8080);
    md_config_free(cfg);
}

static void test_railway_variables(void **state)
{
    (void)state;
    const char *const railway[] = { "RAILWAY_REPLICA_REGION=us-west2", "RAILWAY_VOLUME_MOUNT_PATH=/data",
                                    "MEDIC_NODE_ID=us", NULL };
    md_config *cfg = env_ok(BARE, railway, "e3b0c44298fc");
    assert_string_equal(cfg->node_region, "us-west2");
    assert_string_equal(cfg->node_region_from, "RAILWAY_REPLICA_REGION");
    /* Not keyed by the id: a node back under another id finds its old state and is refused. */
    assert_string_equal(cfg->data_dir, "/data/medic");
    assert_string_equal(cfg->data_dir_from, "RAILWAY_VOLUME_MOUNT_PATH");
    md_config_free(cfg);
    /* The MEDIC_ names win over the platform's. */
    const char *const both[] = { "RAILWAY_REPLICA_REGION=us-west2", "MEDIC_REGION=mine",
                                 "RAILWAY_VOLUME_MOUNT_PATH=/data", "MEDIC_DATA_DIR=/elsewhere", NULL };
    cfg = env_ok(BARE, both, "h");
    assert_string_equal(cfg->node_region, "mine");
    assert_string_equal(cfg->data_dir, "/elsewhere");
    md_config_free(cfg);
}

static void test_the_config_wins(void **state)
{
    (void)state;
    const char *const vars[] = { "MEDIC_NODE_ID=n7", "MEDIC_REGION=eu-west", "PORT=8080", "MEDIC_DATA_DIR=/srv",
                                 "RAILWAY_REPLICA_REGION=us-west2", NULL };
    md_config *cfg = env_ok(SET_ALL, vars, "host-a");
    assert_string_equal(cfg->node_id, "cfg-id");
    assert_string_equal(cfg->node_id_from, "node.id");
    assert_string_equal(cfg->node_region, "cfg-region");
    assert_string_equal(cfg->node_region_from, "node.region");
    assert_string_equal(cfg->data_dir, "/cfg/dir");
    assert_string_equal(cfg->data_dir_from, "node.data_dir");
    assert_string_equal(cfg->api_listen, "127.0.0.1:9000");
    assert_string_equal(cfg->api_listen_from, "api.listen");
    md_config_free(cfg);
}

static void test_empty_counts_as_unset(void **state)
{
    (void)state;
    const char *const vars[] = { "MEDIC_NODE_ID=", "MEDIC_REGION=", "PORT=", "RAILWAY_REPLICA_REGION=r1", NULL };
    md_config *cfg = env_ok(BARE, vars, "host-b");
    assert_string_equal(cfg->node_id, "host-b");
    assert_string_equal(cfg->node_region, "r1");
    assert_string_equal(cfg->api_listen, MD_DEFAULT_API_LISTEN);
    md_config_free(cfg);
}

static void test_bad_values_name_field_and_variable(void **state)
{
    (void)state;
    const char *const bad_ports[] = { "PORT=abc", "PORT=0", "PORT=65536", "PORT= 80", "PORT=80x", "PORT=1234567", NULL };
    for (size_t i = 0; bad_ports[i]; i++) {
        const char *const vars[] = { bad_ports[i], NULL };
        char want[256];
        snprintf(want, sizeof want, "t.json: api.listen: not set, and PORT (\"%s\") is not a port number 1-65535",
                 bad_ports[i] + 5);
        env_bad(BARE, vars, "h", want);
    }
    const char *const id[] = { "MEDIC_NODE_ID=bad id", NULL };
    env_bad(BARE, id, "h",
            "t.json: node.id: not set, and MEDIC_NODE_ID (\"bad id\") is not a valid id: it must be 1-64 "
            "characters of A-Z a-z 0-9 . _ -");
    const char *const region[] = { "RAILWAY_REPLICA_REGION=us west", NULL };
    env_bad(BARE, region, "h",
            "t.json: node.region: not set, and RAILWAY_REPLICA_REGION (\"us west\") is not a valid region: it "
            "must be 1-64 characters of A-Z a-z 0-9 . _ -");
    env_bad(BARE, NULL, NULL, "t.json: node.id: not set, and the host name is not a valid id; set node.id or MEDIC_NODE_ID");
    env_bad(BARE, NULL, "a.very.long.host.name.that.goes.on.and.on.past.sixty.four.characters.example",
            "t.json: node.id: not set, and the host name is not a valid id; set node.id or MEDIC_NODE_ID");
}

static void test_only_the_injected_environment_is_read(void **state)
{
    (void)state;
    /* ${VAR} comes from the injected lookup, never from the process. */
    setenv("MD_T_ONLY_PROCESS", "nope", 1);
    env_bad("{'node':{'id':'${MD_T_ONLY_PROCESS}'},'services':[{'name':'a','tcp':'h:1'}]}", NULL, "h",
            "t.json: node.id: environment variable MD_T_ONLY_PROCESS is not set");
    unsetenv("MD_T_ONLY_PROCESS");
    const char *const vars[] = { "MD_T_ID=injected", NULL };
    md_config *cfg = env_ok("{'node':{'id':'${MD_T_ID}'},'services':[{'name':'a','tcp':'h:1'}]}", vars, "h");
    assert_string_equal(cfg->node_id, "injected");
    md_config_free(cfg);
    /* So is MEDIC_CONFIG, the JSON text itself. */
    const char *const conf[] = { "MEDIC_CONFIG={\"services\":[{\"name\":\"m\",\"tcp\":\"h:1\"}]}", "MEDIC_NODE_ID=x1",
                                 NULL };
    md_config_env env = { lookup, (void *)conf, NULL };
    char err[MD_CONFIG_ERR_LEN];
    cfg = NULL;
    assert_int_equal(md_config_load_env(NULL, &env, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg->origin, "MEDIC_CONFIG");
    assert_string_equal(cfg->services[0].name, "m");
    assert_string_equal(cfg->node_id, "x1");
    md_config_free(cfg);
    md_config_env none = { lookup, NULL, "h" };
    cfg = NULL;
    assert_int_equal(md_config_load_env(NULL, &none, &cfg, err, sizeof err), -ENOENT);
    assert_null(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_set_gives_the_defaults),
        cmocka_unit_test(test_variables_fill_what_the_config_leaves_out),
        cmocka_unit_test(test_railway_variables),
        cmocka_unit_test(test_the_config_wins),
        cmocka_unit_test(test_empty_counts_as_unset),
        cmocka_unit_test(test_bad_values_name_field_and_variable),
        cmocka_unit_test(test_only_the_injected_environment_is_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
