/* config_test_util.h: helpers shared by the config tests: JSON written with single quotes, and
 * parse-must-succeed / parse-must-fail-naming-this checks. Include after cmocka.h and config.h. */
#ifndef MD_CONFIG_TEST_UTIL_H
#define MD_CONFIG_TEST_UTIL_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* sq turns single quotes into double quotes; the result is a static buffer, valid until the next call. */
static inline const char *sq(const char *s)
{
    static char buf[8192];
    size_t n = strlen(s);
    assert_true(n < sizeof buf);
    for (size_t i = 0; i <= n; i++)
        buf[i] = s[i] == '\'' ? '"' : s[i];
    return buf;
}

/* hermetic_lookup: the process environment (tests set ${VAR}s with setenv), minus the variables a
 * platform sets, which would otherwise change the defaults these tests check wherever they run. */
static inline const char *hermetic_lookup(void *ctx, const char *name)
{
    static const char *const platform[] = { "PORT", "MEDIC_NODE_ID", "MEDIC_REGION", "MEDIC_DATA_DIR",
                                            "RAILWAY_REPLICA_REGION", "RAILWAY_VOLUME_MOUNT_PATH" };
    (void)ctx;
    for (size_t i = 0; i < sizeof platform / sizeof platform[0]; i++)
        if (strcmp(name, platform[i]) == 0)
            return NULL;
    return getenv(name);
}

static inline md_config_env hermetic_env(void)
{
    md_config_env env = md_config_process_env();
    env.lookup = hermetic_lookup;
    return env;
}

/* ok parses json_sq and fails the test on any error; the caller frees the config. */
static inline md_config *ok(const char *json_sq)
{
    const char *json = sq(json_sq);
    char err[MD_CONFIG_ERR_LEN] = "";
    md_config *cfg = NULL;
    md_config_env env = hermetic_env();
    if (md_config_parse_env(json, strlen(json), "t.json", &env, &cfg, err, sizeof err) != 0)
        fail_msg("unexpected error: %s", err);
    return cfg;
}

/* bad requires -EINVAL, no config, and an error message containing want. */
static inline void bad(const char *json_sq, const char *want)
{
    const char *json = sq(json_sq);
    char err[MD_CONFIG_ERR_LEN] = "";
    md_config *cfg = NULL;
    md_config_env env = hermetic_env();
    assert_int_equal(md_config_parse_env(json, strlen(json), "t.json", &env, &cfg, err, sizeof err), -EINVAL);
    assert_null(cfg);
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

#endif
