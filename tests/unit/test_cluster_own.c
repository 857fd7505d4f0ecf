/* test_cluster_own.c: what a node tells its peers about its own observations. Two real md_cluster
 * nodes on loopback: n1's DOWN reaches n2; once n1's checks stop completing for three intervals,
 * n1 publishes UNKNOWN (logged once, not again while it stays so); and n1's next check, the same
 * DOWN as before the expiry, is published again although it equals what n1 last observed (the
 * node keeps no copy of what it published, only a flag that it went out expired). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "cluster/cluster.h"
#include "config/config.h"
#include "cluster_test_util.h"

#define SECRET "own-test-secret-0123456789abcdef"
#define WAIT_MS 15000

typedef struct {
    char dir[40];
    md_config *cfg;
    md_cluster *c;
} node;

static void make_node(node *n, const char *id, int p1, int p2)
{
    char json[1024], err[256] = "";
    snprintf(n->dir, sizeof n->dir, "/tmp/medic-own-XXXXXX");
    assert_non_null(mkdtemp(n->dir));
    snprintf(json, sizeof json,
             "{\"node\":{\"id\":\"%s\",\"data_dir\":\"%s\"},\"cluster\":{\"name\":\"own\",\"secret\":\"%s\",\"allow_two_nodes\":true,"
             "\"gossip_interval_ms\":50,\"peers\":[{\"id\":\"n1\",\"address\":\"tcp://127.0.0.1:%d\"},"
             "{\"id\":\"n2\",\"address\":\"tcp://127.0.0.1:%d\"}]},"
             "\"services\":[{\"name\":\"a\",\"url\":\"http://127.0.0.1:9/\",\"interval_ms\":200,\"timeout_ms\":100}]}",
             id, n->dir, SECRET, p1, p2);
    if (md_config_parse(json, strlen(json), "t.json", &n->cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
}

/* Runs the loop until n2's vote for n1 on service a reads want, or WAIT_MS pass. */
static bool wait_vote(uv_loop_t *loop, md_cluster *c2, const char *want)
{
    char votes[128];
    uint64_t end = uv_hrtime() + (uint64_t)WAIT_MS * 1000000u;
    while (uv_hrtime() < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        md_cluster_votes_text(c2, 0, votes, sizeof votes, NULL, NULL);
        if (strstr(votes, want))
            return true;
        usleep(2000);
    }
    print_message("votes were %s, wanted %s\n", votes, want);
    return false;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void closed(void *arg) { (*(int *)arg)++; }

static void test_expiry_and_republish(void **state)
{
    (void)state;
    int p1 = md_free_port(), p2 = md_free_port();
    assert_true(p1 > 0 && p2 > 0 && p1 != p2);
    node n[2];
    make_node(&n[0], "n1", p1, p2);
    make_node(&n[1], "n2", p1, p2);
    cluster_test_log log;
    cluster_test_log_start(&log);

    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[256] = "";
    for (int i = 0; i < 2; i++)
        if (md_cluster_new(&loop, n[i].cfg, false, &n[i].c, err, sizeof err) != 0 ||
            md_cluster_start(n[i].c, err, sizeof err) != 0)
            fail_msg("%s", err);

    md_trend_sample samples[10];
    md_health_params hp = {.failures_before_down = 2, .successes_before_up = 1, .slow_ms = 3000,
                           .trend_window = 10, .ewma_alpha = 0.3};
    md_health h;
    md_health_init(&h, samples, &hp, md_wall_ms());
    h.state = MD_STATE_DOWN;
    h.consecutive_failures = 2;
    h.last_check_ms = md_wall_ms();

    md_cluster_own(n[0].c, 0, &h);
    assert_true(wait_vote(&loop, n[1].c, "n1:down"));
    /* No check completes now: after three intervals (600 ms) n1's sweep publishes UNKNOWN. */
    assert_true(wait_vote(&loop, n[1].c, "n1:none"));
    cluster_test_run_ms(&loop, 1000); /* more sweeps: it stays expired, and is said once */
    fflush(log.f);
    assert_int_equal(count(log.text, "event=own_observation_stale service=a"), 1);
    md_cluster_own(n[0].c, 0, &h); /* the same DOWN as before the expiry */
    assert_true(wait_vote(&loop, n[1].c, "n1:down"));

    int done = 0;
    for (int i = 0; i < 2; i++)
        md_cluster_close(n[i].c, closed, &done);
    while (done < 2)
        uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    cluster_test_log_stop(&log);
    free(log.text);
    md_health_free(&h);
    for (int i = 0; i < 2; i++) {
        md_config_free(n[i].cfg);
        char cmd[96];
        snprintf(cmd, sizeof cmd, "rm -rf %s", n[i].dir);
        assert_int_equal(system(cmd), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_expiry_and_republish)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
