/* test_config_timing.c: the consensus timing profile a cluster runs when cluster.timing is left
 * out (config_timing.c): wan once the nodes' regions number two or more, lan otherwise, the
 * reason the log gives, and cluster.timing and the single overrides still winning. */
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

static const char *lookup(void *ctx, const char *name)
{
    const char *region = ctx;
    return region && strcmp(name, "RAILWAY_REPLICA_REGION") == 0 ? region : NULL;
}

/* cluster: the peers' regions r1, r2, r3 (NULL: left out) for n1 (this node), n2, n3, then extra
 * cluster fields; env_region: RAILWAY_REPLICA_REGION (NULL: unset). */
static md_config *with(const char *r1, const char *r2, const char *r3, const char *extra, const char *env_region)
{
    char peers[3][160], json[2048], err[MD_CONFIG_ERR_LEN] = "";
    const char *r[3] = { r1, r2, r3 };
    for (int i = 0; i < 3; i++) {
        char reg[64] = "";
        if (r[i])
            snprintf(reg, sizeof reg, ",'region':'%s'", r[i]);
        snprintf(peers[i], sizeof peers[i], "{'id':'n%d','address':'tcp://127.0.0.1:870%d'%s}", i + 1, i + 1, reg);
    }
    snprintf(json, sizeof json,
             "{'node':{'id':'n1'},'cluster':{'name':'c','secret':'0123456789abcdef','peers':[%s,%s,%s]%s},"
             "'services':[{'name':'a','tcp':'h:1'}]}",
             peers[0], peers[1], peers[2], extra ? extra : "");
    md_config_env env = { lookup, (void *)env_region, "h" };
    md_config *cfg = NULL;
    const char *text = sq(json);
    if (md_config_parse_env(text, strlen(text), "t.json", &env, &cfg, err, sizeof err) != 0)
        fail_msg("unexpected error: %s", err);
    return cfg;
}

static void expect(md_config *cfg, const char *profile, const char *reason)
{
    assert_string_equal(cfg->cluster.timing, profile);
    assert_string_equal(cfg->cluster.timing_reason, reason);
    md_config_free(cfg);
}

static void test_regions_pick_the_profile(void **state)
{
    (void)state;
    md_config *cfg = with("us-west2", "us-east4-eqdc4a", "europe-west4-drams3a", NULL, NULL);
    assert_int_equal(cfg->cluster.heartbeat_ms, MD_WAN_HEARTBEAT_MS);
    assert_int_equal(cfg->cluster.election_timeout_ms, MD_WAN_ELECTION_MS);
    assert_int_equal(cfg->cluster.lease_drift_ms, MD_WAN_ELECTION_MS / 10);
    expect(cfg, "wan", "nodes in 3 regions (us-east4-eqdc4a, europe-west4-drams3a, us-west2)");
    expect(with("eu", "us", "us", NULL, NULL), "wan", "nodes in 2 regions (us, eu)");
    cfg = with("eu", "eu", "eu", NULL, NULL);
    assert_int_equal(cfg->cluster.election_timeout_ms, MD_LAN_ELECTION_MS);
    expect(cfg, "lan", "every node with a known region is in eu (default lan)");
    expect(with(NULL, NULL, NULL, NULL, NULL), "lan", "no node regions known (default lan)");
    /* "unknown" (the peers' default) says nothing. */
    expect(with("unknown", "us", "unknown", NULL, NULL), "lan", "every node with a known region is in us (default lan)");
}

static void test_the_config_wins(void **state)
{
    (void)state;
    md_config *cfg = with("a", "b", "c", ",'timing':'lan'", NULL);
    assert_int_equal(cfg->cluster.election_timeout_ms, MD_LAN_ELECTION_MS);
    expect(cfg, "lan", "set in cluster.timing");
    expect(with(NULL, NULL, NULL, ",'timing':'wan'", NULL), "wan", "set in cluster.timing");
    /* Single overrides apply on top of a picked profile as on a chosen one. */
    cfg = with("a", "b", "c", ",'election_timeout_ms':5000,'heartbeat_ms':500", NULL);
    assert_int_equal(cfg->cluster.heartbeat_ms, 500);
    assert_int_equal(cfg->cluster.election_timeout_ms, 5000);
    expect(cfg, "wan", "nodes in 3 regions (b, c, a)");
}

static void test_own_region_counts_only_without_an_entry(void **state)
{
    (void)state;
    /* The shared list gives no region for n1: its own (from the platform) counts. */
    expect(with(NULL, "us-west2", "us-west2", NULL, "europe-west4-drams3a"), "wan",
           "nodes in 2 regions (us-west2, europe-west4-drams3a)");
    expect(with(NULL, "us-west2", "us-west2", NULL, "us-west2"), "lan",
           "every node with a known region is in us-west2 (default lan)");
    /* Its entry gives one: the list, the same on every node, decides, so every node picks alike. */
    expect(with("us-west2", "us-west2", "us-west2", NULL, "europe-west4-drams3a"), "lan",
           "every node with a known region is in us-west2 (default lan)");
    /* The default node.region ("local") is not a region. */
    expect(with(NULL, "us", "us", NULL, NULL), "lan", "every node with a known region is in us (default lan)");
}

static void test_no_cluster_no_profile(void **state)
{
    (void)state;
    md_config *cfg = ok("{'node':{'id':'n1','region':'eu'},'services':[{'name':'a','tcp':'h:1'}]}");
    assert_null(cfg->cluster.timing);
    assert_null(cfg->cluster.timing_reason);
    md_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regions_pick_the_profile),
        cmocka_unit_test(test_the_config_wins),
        cmocka_unit_test(test_own_region_counts_only_without_an_entry),
        cmocka_unit_test(test_no_cluster_no_profile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
