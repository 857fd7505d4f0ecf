/* it_hostnames.c: three nodes whose cluster addresses are host names (tcp://localhost:port,
 * the one name this machine's /etc/hosts is sure to hold; the test never edits system files):
 * each node listens on what the name resolves to and dials its peers by name, and they elect one
 * leader. nng resolves a dialed name on every connection attempt, so a peer that moves is found
 * again on the next redial (docs/cluster.md). */
#include <netdb.h>
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
    it_trio_peers_at(t, "localhost", peers, sizeof peers);
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"%s\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
             "\"status_print_interval_ms\":0,"
             "\"cluster\":{\"name\":\"names\",\"secret\":\"it-hostnames-secret-0123\",\"peers\":[%s],"
             "\"gossip_interval_ms\":100,\"heartbeat_ms\":50,\"election_timeout_ms\":500},"
             "\"services\":[{\"name\":\"web\",\"url\":\"http://localhost:%d/health\",\"interval_ms\":500,"
             "\"timeout_ms\":200}]}",
             it_trio_ids[i], peers, t->flaky.port);
    assert_int_equal(it_node_start(&t->node[i], cfg, NULL), 0);
    t->running[i] = true;
}

static void test_three_nodes_dial_each_other_by_name(void **state)
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
    /* Every node hears both peers it dialed by name. */
    for (int i = 0; i < IT_TRIO; i++) {
        int alive = 0;
        int64_t deadline = it_wall_ms() + 5000;
        while (alive < IT_TRIO && it_wall_ms() < deadline) {
            cJSON *doc = it_get_json(t->node[i].api_port, "/v1/cluster", NULL);
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
            fail_msg("%s sees %d of 3 nodes alive", it_trio_ids[i], alive);
    }
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
