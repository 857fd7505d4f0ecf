/* it_ipv6.c: three nodes whose cluster addresses and APIs are all on the IPv6 loopback: they
 * elect one leader over tcp://[::1]:port, and each API answers on [::1] (Railway's private
 * network may be IPv6 only). Skips when this machine has no ::1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static void start_node(it_trio *t, int i)
{
    char peers[1024], cfg[4096];
    it_trio_peers_at(t, "[::1]", peers, sizeof peers);
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"%s\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"[::1]:@API@\"},"
             "\"status_print_interval_ms\":0,"
             "\"cluster\":{\"name\":\"v6\",\"secret\":\"it-ipv6-secret-0123456\",\"peers\":[%s],"
             "\"gossip_interval_ms\":100,\"heartbeat_ms\":50,\"election_timeout_ms\":500},"
             "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":500,"
             "\"timeout_ms\":200}]}",
             it_trio_ids[i], peers, t->flaky.port);
    assert_int_equal(it_node_start_at(&t->node[i], "[::1]", cfg, NULL), 0);
    t->running[i] = true;
}

static void test_three_nodes_over_ipv6_loopback(void **state)
{
    it_trio *t = *state;
    for (int i = 0; i < IT_TRIO; i++)
        start_node(t, i);
    int leader = it_trio_agreed_leader(t, 15000);
    if (leader < 0) {
        for (int i = 0; i < IT_TRIO; i++) {
            char *log = it_node_log(&t->node[i]);
            fprintf(stderr, "--- %s ---\n%s\n", it_trio_ids[i], log);
            free(log);
        }
    }
    assert_true(leader >= 0);
    /* Every node's API answers on [::1], for the whole cluster: each sees its two peers alive. */
    for (int i = 0; i < IT_TRIO; i++) {
        long code = 0;
        char *body = it_get_at("[::1]", t->node[i].api_port, "/v1/health", &code);
        assert_non_null(body);
        assert_int_equal(code, 200);
        assert_non_null(strstr(body, it_trio_ids[i]));
        free(body);
    }
}

static int setup(void **state)
{
    if (!it_has_ipv6_loopback())
        it_skip("no IPv6 loopback (::1 is not in /proc/net/if_inet6)");
    it_trio *t = calloc(1, sizeof *t);
    assert_non_null(t);
    assert_int_equal(it_trio_init(t, true), 0);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    it_trio_stop(*state);
    free(*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_three_nodes_over_ipv6_loopback, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
