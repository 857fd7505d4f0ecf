/* it_addresses.c: three-node clusters whose addresses are not IPv4 literals.
 * - IPv6: cluster addresses and APIs all on the IPv6 loopback (tcp://[::1]:port, API on [::1]),
 *   since Railway's private network may be IPv6 only. Skipped when this machine has no ::1.
 * - Host names: cluster addresses tcp://localhost:port (the one name /etc/hosts is sure to hold;
 *   the test never edits system files): each node listens on what the name resolves to and dials
 *   its peers by name. nng resolves a dialed name on every connection attempt, so a peer that
 *   moves is found again on the next redial (docs/cluster.md).
 * In both, the nodes elect one leader and every node sees both peers alive. */
#include <netdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

/* host: what peers dial (and the node listens on); api: the API's address. */
static void start_node(it_trio *t, int i, const char *host, const char *api, const char *service_host)
{
    char peers[1024], cfg[4096];
    it_trio_peers_at(t, host, peers, sizeof peers);
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"%s\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"%s:@API@\"},"
             "\"status_print_interval_ms\":0,"
             "\"cluster\":{\"name\":\"addresses\",\"secret\":\"it-addresses-secret-0123\",\"peers\":[%s],"
             "\"gossip_interval_ms\":100,\"heartbeat_ms\":50,\"election_timeout_ms\":500},"
             "\"services\":[{\"name\":\"web\",\"url\":\"http://%s:%d/health\",\"interval_ms\":500,"
             "\"timeout_ms\":200}]}",
             it_trio_ids[i], api, peers, service_host, t->flaky.port);
    assert_int_equal(it_node_start_at(&t->node[i], strcmp(api, "[::1]") == 0 ? "[::1]" : "127.0.0.1", cfg, NULL), 0);
    t->running[i] = true;
}

static void start_and_agree(it_trio *t, const char *host, const char *api, const char *service_host)
{
    for (int i = 0; i < IT_TRIO; i++)
        start_node(t, i, host, api, service_host);
    int leader = it_trio_agreed_leader(t, 15000);
    if (leader < 0) {
        for (int i = 0; i < IT_TRIO; i++) {
            char *log = it_node_log(&t->node[i]);
            fprintf(stderr, "--- %s ---\n%s\n", it_trio_ids[i], log);
            free(log);
        }
    }
    assert_true(leader >= 0);
}

/* Asks node i's API (on api_host) until it sees all three nodes alive, within 5 s. */
static void assert_all_alive(it_trio *t, int i, const char *api_host)
{
    int alive = 0;
    int64_t deadline = it_wall_ms() + 5000;
    while (alive < IT_TRIO && it_wall_ms() < deadline) {
        long code = 0;
        char *body = it_get_at(api_host, t->node[i].api_port, "/v1/cluster", &code);
        cJSON *doc = body && code == 200 ? cJSON_Parse(body) : NULL;
        free(body);
        const cJSON *n;
        alive = 0;
        cJSON_ArrayForEach(n, cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "cluster"), "nodes"))
        {
            const cJSON *l = cJSON_GetObjectItem(n, "liveness");
            alive += cJSON_IsString(l) && (strcmp(l->valuestring, "alive") == 0 || strcmp(l->valuestring, "self") == 0);
        }
        cJSON_Delete(doc);
        if (alive < IT_TRIO)
            it_sleep_ms(20);
    }
    if (alive < IT_TRIO)
        fail_msg("%s sees %d of 3 nodes alive (asked on %s)", it_trio_ids[i], alive, api_host);
}

static void test_three_nodes_over_ipv6_loopback(void **state)
{
    /* Runs last: without ::1 the whole program reports itself skipped (exit 77) with the reason,
     * after the host-name test has run. */
    if (!it_has_ipv6_loopback())
        it_skip("no IPv6 loopback (::1 is not in /proc/net/if_inet6); the host-name test passed");
    it_trio *t = *state;
    start_and_agree(t, "[::1]", "[::1]", "127.0.0.1");
    for (int i = 0; i < IT_TRIO; i++)
        assert_all_alive(t, i, "[::1]");
}

static void test_three_nodes_dial_each_other_by_name(void **state)
{
    it_trio *t = *state;
    start_and_agree(t, "localhost", "127.0.0.1", "localhost");
    for (int i = 0; i < IT_TRIO; i++)
        assert_all_alive(t, i, "127.0.0.1");
}

static int setup(void **state)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    if (getaddrinfo("localhost", "1", &hints, &res) != 0)
        it_skip("this machine cannot resolve localhost");
    freeaddrinfo(res);
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
        cmocka_unit_test_setup_teardown(test_three_nodes_dial_each_other_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_three_nodes_over_ipv6_loopback, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
