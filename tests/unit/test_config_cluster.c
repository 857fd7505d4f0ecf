/* test_config_cluster.c: the "cluster" section: sizes, quorum rules, peers, addresses, TLS,
 * timing, the secret (required length, always masked), and its ties to the services. */
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

/* A config for node n1 with the given cluster section body and service extras. */
static const char *doc(const char *cluster, const char *svc_extra)
{
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{'node':{'id':'n1'},%s%s%s'services':[{'name':'web','url':'http://127.0.0.1:9/','interval_ms':2000,'timeout_ms':1000%s%s}]}",
             cluster ? "'cluster':{" : "", cluster ? cluster : "", cluster ? "}," : "", *svc_extra ? "," : "",
             svc_extra);
    return buf;
}

#define THREE "'name':'prod','secret':'0123456789abcdef','peers':[{'id':'n1','address':'tcp://127.0.0.1:8701'}," \
              "{'id':'n2','address':'tcp://127.0.0.1:8702','region':'us'},{'id':'n3','address':'tcp://127.0.0.1:8703'}]"

static void test_no_cluster_is_a_cluster_of_one(void **state)
{
    (void)state;
    md_config *cfg = ok(doc(NULL, ""));
    assert_false(cfg->cluster.enabled);
    assert_int_equal(cfg->cluster.n_nodes, 1);
    assert_int_equal(cfg->cluster.quorum, 1);
    assert_int_equal(cfg->services[0].quorum, 1);
    md_config_free(cfg);
}

static void test_three_nodes_shared_peer_list(void **state)
{
    (void)state;
    md_config *cfg = ok(doc(THREE, ""));
    const md_cluster_config *c = &cfg->cluster;
    assert_true(c->enabled);
    assert_string_equal(c->name, "prod");
    assert_string_equal(c->listen, "tcp://127.0.0.1:8701"); /* our own entry */
    assert_int_equal(c->n_peers, 2);
    assert_string_equal(c->peers[0].id, "n2");
    assert_string_equal(c->peers[0].region, "us");
    assert_string_equal(c->peers[1].region, "unknown");
    assert_int_equal(c->n_nodes, 3);
    assert_int_equal(c->quorum, 2);
    assert_int_equal(cfg->services[0].quorum, 2);
    assert_int_equal(c->gossip_interval_ms, MD_DEFAULT_GOSSIP_INTERVAL_MS);
    assert_int_equal(c->peer_suspect_ms, 3000);
    assert_int_equal(c->peer_dead_ms, 9000);
    md_config_free(cfg);
}

static void test_explicit_listen_and_quorums(void **state)
{
    (void)state;
    md_config *cfg = ok(doc("'name':'p','secret':'0123456789abcdef','listen':'tcp://0.0.0.0:9000','quorum':3,"
                            "'peers':[{'id':'a','address':'tcp://10.1.1.1:9000'},{'id':'b','address':'tcp://10.1.1.2:9000'}]",
                            "'quorum':1"));
    assert_string_equal(cfg->cluster.listen, "tcp://0.0.0.0:9000");
    assert_int_equal(cfg->cluster.quorum, 3);
    assert_int_equal(cfg->services[0].quorum, 1);
    md_config_free(cfg);
}

static void test_two_nodes_need_an_override(void **state)
{
    (void)state;
    const char *two = "'name':'p','secret':'0123456789abcdef','listen':'tcp://127.0.0.1:1',"
                      "'peers':[{'id':'n2','address':'tcp://127.0.0.1:2'}]";
    bad(doc(two, ""), "t.json: cluster.peers: a cluster of two nodes cannot agree");
    char with[512];
    snprintf(with, sizeof with, "%s,'allow_two_nodes':true", two);
    md_config *cfg = ok(doc(with, ""));
    assert_int_equal(cfg->cluster.n_nodes, 2);
    assert_int_equal(cfg->cluster.quorum, 2);
    md_config_free(cfg);
}

static void test_quorum_larger_than_cluster(void **state)
{
    (void)state;
    char c[1024];
    snprintf(c, sizeof c, "%s,'quorum':4", THREE);
    bad(doc(c, ""), "t.json: cluster.quorum: 4 is larger than the cluster (3 nodes)");
    bad(doc(THREE, "'quorum':4"), "t.json: services[0].quorum: 4 is larger than the cluster (3 nodes)");
    bad(doc(NULL, "'quorum':2"), "t.json: services[0].quorum: 2 is larger than the cluster (1 node)");
}

static void test_bad_cluster_fields(void **state)
{
    (void)state;
    bad(doc("'secret':'0123456789abcdef','listen':'tcp://h:1'", ""), "t.json: cluster.name: is required");
    bad(doc("'name':'p','listen':'tcp://h:1','bogus':1", ""), "t.json: cluster.bogus");
    bad(doc("'name':'p','secret':'short','listen':'tcp://h:1'", ""), "t.json: cluster.secret: must be at least 16");
    bad(doc("'name':'p','listen':'udp://h:1'", ""), "t.json: cluster.listen: must start with tcp:// or tls+tcp://");
    bad(doc("'name':'p','listen':'tcp://h'", ""), "t.json: cluster.listen: must be tcp://host:port");
    bad(doc("'name':'p','peers':[{'id':'n2','address':'tcp://h:2'},{'id':'n3','address':'tcp://h:3'}]", ""),
        "t.json: cluster.listen: is required");
    bad(doc("'name':'p','listen':'tcp://h:1','peers':[{'id':'n2','address':'tcp://h:2'},{'id':'n2','address':'tcp://h:3'}]", ""),
        "t.json: cluster.peers[1].id: 'n2' is listed twice");
    bad(doc("'name':'p','listen':'tcp://h:1','peers':[{'id':'n2'}]", ""), "t.json: cluster.peers[0].address: is required");
    bad(doc("'name':'p','listen':'tcp://h:1','peers':[{'address':'tcp://h:2'}]", ""), "t.json: cluster.peers[0].id: is required");
    bad(doc("'name':'p','listen':'tcp://h:1','peers':{}", ""), "t.json: cluster.peers: must be an array");
    bad(doc("'name':'p','listen':'tcp://h:1','peers':[{'id':'bad id','address':'tcp://h:2'},{'id':'n3','address':'tcp://h:3'}]", ""),
        "t.json: cluster.peers[0].id: must be 1-64 characters");
}

static void test_timing_rules(void **state)
{
    (void)state;
    char c[1024];
    snprintf(c, sizeof c, "%s,'gossip_interval_ms':3000", THREE);
    bad(doc(c, ""), "t.json: services[0].interval_ms: 2000 is shorter than cluster.gossip_interval_ms (3000)");
    snprintf(c, sizeof c, "%s,'gossip_interval_ms':500,'peer_suspect_ms':500", THREE);
    bad(doc(c, ""), "t.json: cluster.peer_suspect_ms: must be more than gossip_interval_ms (500)");
    snprintf(c, sizeof c, "%s,'peer_suspect_ms':4000,'peer_dead_ms':4000", THREE);
    bad(doc(c, ""), "t.json: cluster.peer_dead_ms: must be more than peer_suspect_ms (4000)");
    snprintf(c, sizeof c, "%s,'gossip_interval_ms':100,'peer_suspect_ms':300,'peer_dead_ms':1000,'max_message_bytes':65536", THREE);
    md_config *cfg = ok(doc(c, ""));
    assert_int_equal(cfg->cluster.gossip_interval_ms, 100);
    assert_int_equal(cfg->cluster.peer_suspect_ms, 300);
    assert_int_equal(cfg->cluster.peer_dead_ms, 1000);
    assert_int_equal(cfg->cluster.max_message_bytes, 65536);
    md_config_free(cfg);
}

static void test_tls_rules(void **state)
{
    (void)state;
    bad(doc("'name':'p','listen':'tls+tcp://h:1','quorum':1", ""), "t.json: cluster.tls: is required for tls+tcp://");
    bad(doc("'name':'p','listen':'tcp://h:1','tls':{'cert_file':'c'}", ""), "t.json: cluster.tls: needs cert_file, key_file and ca_file");
    md_config *cfg = ok(doc("'name':'p','listen':'tls+tcp://h:1','tls':{'cert_file':'c.pem','key_file':'k.pem','ca_file':'ca.pem'}", ""));
    assert_string_equal(cfg->cluster.tls_ca_file, "ca.pem");
    md_config_free(cfg);
}

static void test_secret_is_always_masked(void **state)
{
    (void)state;
    md_config *cfg = ok(doc(THREE, ""));
    char *text = md_config_to_json(cfg, true);
    assert_non_null(text);
    assert_null(strstr(text, "0123456789abcdef"));
    assert_non_null(strstr(text, "\"secret\":\t\"***\""));
    free(text);
    /* Unmasked output round-trips. */
    text = md_config_to_json(cfg, false);
    char err[MD_CONFIG_ERR_LEN];
    md_config *again = NULL;
    assert_int_equal(md_config_parse(text, strlen(text), "again", &again, err, sizeof err), 0);
    assert_int_equal(again->cluster.n_nodes, 3); /* listen explicit now, the two others as peers */
    assert_int_equal(again->cluster.quorum, 2);
    assert_string_equal(again->cluster.listen, "tcp://127.0.0.1:8701");
    free(text);
    md_config_free(again);
    md_config_free(cfg);
}

/* Cluster addresses take IPv6 literals and host names (the API's do not; test_config.c). */
static void test_addresses_ipv6_and_names(void **state)
{
    (void)state;
    md_config *cfg = ok(doc("'name':'prod','secret':'0123456789abcdef','listen':'tcp://[::]:8710','peers':["
                            "{'id':'n1','address':'tcp://[::1]:8701'},{'id':'n2','address':'tcp://[fd12:3::10]:8702'},"
                            "{'id':'n3','address':'tcp://medic-n3.railway.internal:8703'}]", ""));
    assert_string_equal(cfg->cluster.listen, "tcp://[::]:8710");
    assert_string_equal(cfg->cluster.peers[0].address, "tcp://[fd12:3::10]:8702");
    assert_string_equal(cfg->cluster.peers[1].address, "tcp://medic-n3.railway.internal:8703");
    md_config_free(cfg);
    cfg = ok(doc("'name':'prod','secret':'0123456789abcdef','peers':[{'id':'n1','address':'tcp://localhost:8701'},"
                 "{'id':'n2','address':'tcp://localhost:8702'},{'id':'n3','address':'tcp://localhost:8703'}]", ""));
    assert_string_equal(cfg->cluster.listen, "tcp://localhost:8701");
    md_config_free(cfg);
    bad(doc("'name':'prod','secret':'0123456789abcdef','listen':'tcp://::1:8710'", ""),
        "t.json: cluster.listen: must be tcp://host:port or tls+tcp://host:port with port 1-65535");
    bad(doc("'name':'prod','secret':'0123456789abcdef','listen':'tcp://[::1]8710'", ""),
        "t.json: cluster.listen: must be tcp://host:port or tls+tcp://host:port with port 1-65535");
}

static void test_consensus_timing_and_data_dir(void **state)
{
    (void)state;
    md_config *cfg = ok(doc(THREE, ""));
    assert_string_equal(cfg->data_dir, "medic-data/n1");
    assert_string_equal(cfg->cluster.timing, "lan");
    assert_int_equal(cfg->cluster.heartbeat_ms, 100);
    assert_int_equal(cfg->cluster.election_timeout_ms, 1000);
    assert_int_equal(cfg->cluster.lease_drift_ms, 100);
    assert_int_equal(cfg->cluster.links_per_peer, 1); /* one network: one connection a peer */
    md_config_free(cfg);
    char c[1024];
    snprintf(c, sizeof c, "%s,'timing':'wan'", THREE);
    cfg = ok(doc(c, ""));
    assert_int_equal(cfg->cluster.heartbeat_ms, 300);
    assert_int_equal(cfg->cluster.election_timeout_ms, 3000);
    assert_int_equal(cfg->cluster.links_per_peer, 2); /* between regions: two */
    md_config_free(cfg);
    snprintf(c, sizeof c, "%s,'timing':'wan','links_per_peer':3", THREE);
    cfg = ok(doc(c, ""));
    assert_int_equal(cfg->cluster.links_per_peer, 3);
    md_config_free(cfg);
    snprintf(c, sizeof c, "%s,'links_per_peer':5", THREE);
    bad(doc(c, ""), "t.json: cluster.links_per_peer: must be an integer from 1 to 4");
    snprintf(c, sizeof c, "%s,'timing':'wan','heartbeat_ms':200,'lease_drift_ms':50", THREE);
    cfg = ok(doc(c, ""));
    assert_int_equal(cfg->cluster.heartbeat_ms, 200);
    assert_int_equal(cfg->cluster.election_timeout_ms, 3000);
    assert_int_equal(cfg->cluster.lease_drift_ms, 50);
    md_config_free(cfg);
    snprintf(c, sizeof c, "%s,'timing':'fast'", THREE);
    bad(doc(c, ""), "t.json: cluster.timing: must be one of lan, wan");
    snprintf(c, sizeof c, "%s,'heartbeat_ms':500", THREE);
    bad(doc(c, ""), "t.json: cluster.election_timeout_ms: must be more than twice heartbeat_ms (500)");
    snprintf(c, sizeof c, "%s,'lease_drift_ms':1000", THREE);
    bad(doc(c, ""), "t.json: cluster.lease_drift_ms: must be less than election_timeout_ms (1000)");
    const char *json = sq("{'node':{'id':'n1','data_dir':'/var/lib/medic'},'services':[{'name':'a','tcp':'h:1'}]}");
    char err[MD_CONFIG_ERR_LEN];
    assert_int_equal(md_config_parse(json, strlen(json), "t.json", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg->data_dir, "/var/lib/medic");
    md_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_cluster_is_a_cluster_of_one),
        cmocka_unit_test(test_three_nodes_shared_peer_list),
        cmocka_unit_test(test_explicit_listen_and_quorums),
        cmocka_unit_test(test_two_nodes_need_an_override),
        cmocka_unit_test(test_quorum_larger_than_cluster),
        cmocka_unit_test(test_bad_cluster_fields),
        cmocka_unit_test(test_timing_rules),
        cmocka_unit_test(test_tls_rules),
        cmocka_unit_test(test_secret_is_always_masked),
        cmocka_unit_test(test_consensus_timing_and_data_dir),
        cmocka_unit_test(test_addresses_ipv6_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
