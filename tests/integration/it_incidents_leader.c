/* it_incidents_leader.c: /v1/incidents names the current leader on every node, although a leader
 * change commits no ledger entry: three real nodes, the leader stopped (it hands leadership over
 * first), then the next leader killed with kill -9; each time every surviving node's document
 * names the new leader within two seconds of its Raft agreeing on it. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "harness.h"

#define N 3
#define BOUND_MS 2000

typedef struct {
    it_trio t;
} fixture;

static void start_node(fixture *fx, int i)
{
    char peers[1024] = "", cfg[4096];
    it_trio_peers(&fx->t, peers, sizeof peers);
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"%s\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
             "\"status_print_interval_ms\":0,"
             "\"cluster\":{\"name\":\"itil\",\"secret\":\"it-incidents-secret-0123\",\"peers\":[%s],"
             "\"gossip_interval_ms\":100,\"heartbeat_ms\":50,\"election_timeout_ms\":500},"
             "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":500,"
             "\"timeout_ms\":200}]}",
             it_trio_ids[i], peers, fx->t.flaky.port);
    assert_int_equal(it_node_start(&fx->t.node[i], cfg, NULL), 0);
    fx->t.node[i].keep_dir = true;
    fx->t.running[i] = true;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(it_trio_init(&fx->t, true), 0);
    for (int i = 0; i < N; i++)
        start_node(fx, i);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    it_trio_stop(&fx->t);
    free(fx);
    return 0;
}

/* leader_in copies the "leader" string at dotted place in node i's document at path ("" for
 * none or no answer). */
static void leader_in(fixture *fx, int i, const char *path, bool nested, char *out, size_t len)
{
    cJSON *doc = it_get_json(fx->t.node[i].api_port, path, NULL);
    const cJSON *o = nested ? cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "cluster"), "consensus") : doc;
    const cJSON *l = cJSON_GetObjectItem(o, "leader");
    snprintf(out, len, "%s", cJSON_IsString(l) ? l->valuestring : "");
    cJSON_Delete(doc);
}

/* Waits until every running node's Raft names the same running leader other than skip; returns
 * its index, or -1 after timeout_ms. */
static int wait_raft_leader(fixture *fx, int skip, int timeout_ms)
{
    int64_t deadline = it_wall_ms() + timeout_ms;
    while (it_wall_ms() < deadline) {
        char first[80] = "", l[80];
        bool agree = true;
        for (int i = 0; i < N && agree; i++) {
            if (!fx->t.running[i])
                continue;
            leader_in(fx, i, "/v1/cluster", true, l, sizeof l);
            agree = l[0] && (!first[0] || strcmp(first, l) == 0);
            snprintf(first, sizeof first, "%s", l);
        }
        for (int j = 0; agree && j < N; j++)
            if (j != skip && fx->t.running[j] && strcmp(first, it_trio_ids[j]) == 0)
                return j;
        it_sleep_ms(20);
    }
    return -1;
}

/* Waits until every running node's /v1/incidents names it_trio_ids[leader]; returns the ms it
 * took, or -1 after BOUND_MS (printing what each node said). */
static int64_t wait_incidents_name(fixture *fx, int leader)
{
    int64_t t0 = it_wall_ms();
    char said[N][80];
    while (it_wall_ms() - t0 <= BOUND_MS) {
        bool all = true;
        for (int i = 0; i < N; i++) {
            said[i][0] = '\0';
            if (!fx->t.running[i])
                continue;
            leader_in(fx, i, "/v1/incidents", false, said[i], sizeof said[i]);
            all = all && strcmp(said[i], it_trio_ids[leader]) == 0;
        }
        if (all)
            return it_wall_ms() - t0;
        it_sleep_ms(20);
    }
    for (int i = 0; i < N; i++)
        if (fx->t.running[i])
            fprintf(stderr, "  %s's /v1/incidents names leader \"%s\", Raft agrees on %s\n", it_trio_ids[i], said[i],
                    it_trio_ids[leader]);
    return -1;
}

static void test_incidents_name_the_new_leader(void **state)
{
    fixture *fx = *state;
    int leader = wait_raft_leader(fx, -1, 10000);
    assert_true(leader >= 0);
    int64_t ms = wait_incidents_name(fx, leader);
    printf("  first leader %s named by every /v1/incidents after %lld ms\n", it_trio_ids[leader], (long long)ms);
    assert_true(ms >= 0);

    /* A stopping leader hands over first: a transfer, no ledger entry. */
    assert_int_equal(it_node_stop(&fx->t.node[leader], SIGTERM, 5000, NULL, NULL), 0);
    fx->t.running[leader] = false;
    int next = wait_raft_leader(fx, leader, 10000);
    assert_true(next >= 0);
    ms = wait_incidents_name(fx, next);
    printf("  after %s stopped: %s named after %lld ms\n", it_trio_ids[leader], it_trio_ids[next], (long long)ms);
    assert_true(ms >= 0);

    assert_int_equal(it_node_restart(&fx->t.node[leader], NULL), 0);
    fx->t.running[leader] = true;
    leader = wait_raft_leader(fx, -1, 10000);
    assert_true(leader >= 0);
    assert_true(wait_incidents_name(fx, leader) >= 0);

    /* A leader killed outright: an election, again no ledger entry. */
    it_node_stop(&fx->t.node[leader], SIGKILL, 1000, NULL, NULL);
    fx->t.running[leader] = false;
    next = wait_raft_leader(fx, leader, 10000);
    assert_true(next >= 0);
    ms = wait_incidents_name(fx, next);
    printf("  after %s was killed: %s named after %lld ms\n", it_trio_ids[leader], it_trio_ids[next], (long long)ms);
    assert_true(ms >= 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_incidents_name_the_new_leader, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
