/* it_cluster.c: three real medic nodes on loopback watching one real flaky service: quorum
 * verdicts and their timing, a node that alone cannot reach the service, kill -9 and restart of a
 * node, a node with the wrong secret, and garbage on the cluster port. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

#include "harness.h"

#define N 3
#define INTERVAL_MS 200
#define TIMEOUT_MS 100
#define FAILURES 2
#define GOSSIP_MS 100
#define SUSPECT_MS 300
#define DEAD_MS 800
#define SLACK_MS 250
#define GOSSIP_BOUND_MS 100
#define SECRET "it-cluster-secret-0123456789"

typedef struct {
    int closed_port;       /* a port nothing listens on */
    it_trio t;
} fixture;

/* The config of node i; unreachable makes its check go to a closed port (its own bad network). */
static void node_config(const fixture *fx, int i, bool unreachable, const char *secret, char *out, size_t len)
{
    char peers[1024] = "";
    it_trio_peers(&fx->t, peers, sizeof peers);
    snprintf(out, len,
             "{\"node\":{\"id\":\"%s\",\"region\":\"r%d\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
             "\"status_print_interval_ms\":0,"
             "\"cluster\":{\"name\":\"itc\",\"secret\":\"%s\",\"peers\":[%s],\"gossip_interval_ms\":%d,"
             "\"peer_suspect_ms\":%d,\"peer_dead_ms\":%d},"
             "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":%d,"
             "\"timeout_ms\":%d,\"failures_before_down\":%d}]}",
             it_trio_ids[i], i + 1, secret, peers, GOSSIP_MS, SUSPECT_MS, DEAD_MS,
             unreachable ? fx->closed_port : fx->t.flaky.port, INTERVAL_MS, TIMEOUT_MS, FAILURES);
}

static void start_node(fixture *fx, int i, bool unreachable, const char *secret)
{
    char cfg[4096];
    node_config(fx, i, unreachable, secret, cfg, sizeof cfg);
    assert_int_equal(it_node_start(&fx->t.node[i], cfg, NULL), 0);
    fx->t.running[i] = true;
}

static fixture *new_fixture(void)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->closed_port = md_free_port();
    assert_int_equal(it_trio_init(&fx->t, true), 0);
    return fx;
}

static int setup(void **state)
{
    fixture *fx = new_fixture();
    for (int i = 0; i < N; i++)
        start_node(fx, i, false, SECRET);
    *state = fx;
    return 0;
}

static int setup_one_blind(void **state)
{
    fixture *fx = new_fixture();
    for (int i = 0; i < N; i++)
        start_node(fx, i, i == 0, SECRET);
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

/* The verdict of service web on node i, and since when; "" if the node does not answer. */
static const char *verdict_of(fixture *fx, int i, int64_t *since_ms, char *buf, size_t len)
{
    cJSON *doc = it_get_json(fx->t.node[i].api_port, "/v1/services/web", NULL);
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "service"), "verdict"), "state");
    const cJSON *since = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "service"), "verdict"), "since_ms");
    snprintf(buf, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
    if (since_ms)
        *since_ms = cJSON_IsNumber(since) ? (int64_t)since->valuedouble : -1;
    cJSON_Delete(doc);
    return buf;
}

/* Waits (bounded) until node i's verdict is want; returns its since_ms or -1. */
static int64_t wait_verdict(fixture *fx, int i, const char *want, int timeout_ms)
{
    int64_t deadline = it_wall_ms() + timeout_ms;
    char buf[32];
    while (it_wall_ms() < deadline) {
        int64_t since;
        if (strcmp(verdict_of(fx, i, &since, buf, sizeof buf), want) == 0)
            return since;
        it_sleep_ms(10);
    }
    return -1;
}

/* The liveness node i reports for peer id. */
static void liveness_of(fixture *fx, int i, const char *peer, char *buf, size_t len)
{
    cJSON *doc = it_get_json(fx->t.node[i].api_port, "/v1/cluster", NULL);
    const cJSON *nodes = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "cluster"), "nodes"), *n;
    snprintf(buf, len, "?");
    cJSON_ArrayForEach(n, nodes)
    {
        if (strcmp(cJSON_GetObjectItem(n, "id")->valuestring, peer) == 0)
            snprintf(buf, len, "%s", cJSON_GetObjectItem(n, "liveness")->valuestring);
    }
    cJSON_Delete(doc);
}

static int64_t wait_liveness(fixture *fx, int i, const char *peer, const char *want, int timeout_ms)
{
    int64_t t0 = it_wall_ms(), deadline = t0 + timeout_ms;
    char buf[32];
    while (it_wall_ms() < deadline) {
        liveness_of(fx, i, peer, buf, sizeof buf);
        if (strcmp(buf, want) == 0)
            return it_wall_ms() - t0;
        it_sleep_ms(10);
    }
    return -1;
}

static double metric(fixture *fx, int i, const char *line_prefix)
{
    char *text = it_get(fx->t.node[i].api_port, "/metrics", NULL);
    const char *at = text ? strstr(text, line_prefix) : NULL;
    double v = at ? atof(at + strlen(line_prefix)) : -1;
    free(text);
    return v;
}

static void test_quorum_down_reaches_every_node_in_time(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < N; i++)
        assert_true(wait_verdict(fx, i, "UP", 10000) > 0);
    int64_t t0 = it_flaky_mode(&fx->t.flaky, "down");
    assert_true(t0 > 0);
    int64_t bound = (FAILURES - 1) * INTERVAL_MS + TIMEOUT_MS + SLACK_MS + GOSSIP_BOUND_MS;
    for (int i = 0; i < N; i++) {
        int64_t since = wait_verdict(fx, i, "DOWN", 10000);
        assert_true(since > 0);
        printf("  %s: verdict DOWN %lld ms after the fault (bound %lld)\n", it_trio_ids[i], (long long)(since - t0),
               (long long)bound);
        assert_true(since - t0 <= bound);
    }
    /* Any node answers for the whole cluster: n2 soon holds all three nodes' DOWN votes (the
     * slowest node's own check may land up to an interval after the quorum formed). */
    int64_t deadline = it_wall_ms() + 5000;
    int down_votes = 0;
    while (it_wall_ms() < deadline && down_votes < N) {
        cJSON *doc = it_get_json(fx->t.node[1].api_port, "/v1/services/web", NULL);
        const cJSON *obs = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "service"), "observations");
        down_votes = 0;
        for (int i = 0; i < N; i++) {
            const cJSON *vote = cJSON_GetObjectItem(cJSON_GetObjectItem(obs, it_trio_ids[i]), "vote");
            down_votes += cJSON_IsString(vote) && strcmp(vote->valuestring, "down") == 0;
        }
        cJSON_Delete(doc);
        if (down_votes < N)
            it_sleep_ms(10);
    }
    assert_int_equal(down_votes, N);
    assert_true(it_flaky_mode(&fx->t.flaky, "healthy") > 0);
    for (int i = 0; i < N; i++)
        assert_true(wait_verdict(fx, i, "UP", 5000) > 0);
}

static void test_one_blind_node_never_makes_it_down(void **state)
{
    fixture *fx = *state;
    assert_true(it_wait_state(&fx->t.node[0], "web", "DOWN", 5000) > 0); /* n1 alone sees it down */
    for (int i = 0; i < N; i++)
        assert_true(wait_verdict(fx, i, "UP", 5000) > 0);
    /* For a while (bounded: 10 intervals), on every node, the verdict is never DOWN. */
    int64_t until = it_wall_ms() + 10 * INTERVAL_MS;
    char buf[32];
    while (it_wall_ms() < until) {
        for (int i = 0; i < N; i++) {
            verdict_of(fx, i, NULL, buf, sizeof buf);
            assert_true(strcmp(buf, "UP") == 0 || strcmp(buf, "SPLIT") == 0);
        }
        it_sleep_ms(20);
    }
    cJSON *doc = it_get_json(fx->t.node[2].api_port, "/v1/services/web", NULL);
    const cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "service"), "observations"), "n1");
    assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring, "DOWN");
    cJSON_Delete(doc);
}

static void test_kill9_and_restart(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < N; i++)
        assert_true(wait_verdict(fx, i, "UP", 10000) > 0);
    assert_true(wait_liveness(fx, 0, "n3", "alive", 5000) >= 0);
    it_node_stop(&fx->t.node[2], SIGKILL, 1000, NULL, NULL);
    fx->t.running[2] = false;
    for (int i = 0; i < 2; i++) {
        int64_t took = wait_liveness(fx, i, "n3", "dead", DEAD_MS + 2000);
        printf("  %s marks n3 dead %lld ms after kill -9 (peer_dead_ms %d)\n", it_trio_ids[i], (long long)took, DEAD_MS);
        assert_true(took >= 0);
    }
    /* The remaining two still make a quorum. */
    assert_true(it_flaky_mode(&fx->t.flaky, "down") > 0);
    for (int i = 0; i < 2; i++)
        assert_true(wait_verdict(fx, i, "DOWN", 5000) > 0);
    /* Restarted, n3 catches up within about one gossip interval, counted from when its API
     * answers (it_node_start returns then), so process start-up under the sanitizers is not
     * counted. */
    start_node(fx, 2, false, SECRET);
    int64_t t0 = it_wall_ms();
    int64_t deadline = it_wall_ms() + 5000, caught = -1;
    while (it_wall_ms() < deadline && caught < 0) {
        cJSON *doc = it_get_json(fx->t.node[2].api_port, "/v1/services/web", NULL);
        const cJSON *obs = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "service"), "observations");
        const cJSON *a = cJSON_GetObjectItem(obs, "n1"), *b = cJSON_GetObjectItem(obs, "n2");
        if (cJSON_IsObject(a) && cJSON_IsObject(b))
            caught = it_wall_ms() - t0;
        cJSON_Delete(doc);
        if (caught < 0)
            it_sleep_ms(5);
    }
    printf("  restarted n3 holds both peers' observations %lld ms after its start (gossip interval %d ms)\n",
           (long long)caught, GOSSIP_MS);
    /* Its API answering (process start) plus about one gossip interval. */
    assert_true(caught >= 0 && caught <= 3 * GOSSIP_MS);
    assert_true(wait_liveness(fx, 0, "n3", "alive", 3000) >= 0);
    assert_true(wait_verdict(fx, 2, "DOWN", 5000) > 0);
}

static void test_wrong_secret_is_rejected_and_counted(void **state)
{
    fixture *fx = *state;
    assert_true(wait_liveness(fx, 0, "n3", "alive", 5000) >= 0);
    it_node_stop(&fx->t.node[2], SIGKILL, 1000, NULL, NULL);
    fx->t.running[2] = false;
    assert_true(wait_liveness(fx, 0, "n3", "dead", DEAD_MS + 2000) >= 0);
    double before = metric(fx, 0, "medic_cluster_messages_dropped_total{reason=\"auth\"} ");
    start_node(fx, 2, false, "an-entirely-different-secret");
    int64_t deadline = it_wall_ms() + 5000;
    double after = before;
    while (it_wall_ms() < deadline && after <= before) {
        after = metric(fx, 0, "medic_cluster_messages_dropped_total{reason=\"auth\"} ");
        it_sleep_ms(20);
    }
    printf("  n1 dropped %.0f messages for bad authentication\n", after - before);
    assert_true(after > before);
    char buf[32];
    liveness_of(fx, 0, "n3", buf, sizeof buf);
    assert_string_not_equal(buf, "alive"); /* an impostor does not count as n3 */
    char *log = it_node_log(&fx->t.node[0]);
    assert_non_null(strstr(log, "event=message_dropped"));
    free(log);
}

static void test_garbage_changes_nothing(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < N; i++)
        assert_true(wait_verdict(fx, i, "UP", 10000) > 0);
    nng_socket s;
    assert_int_equal(nng_push0_open(&s), 0);
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", fx->t.cluster_port[0]);
    assert_int_equal(nng_dial(s, url, NULL, 0), 0);
    unsigned seed = 12345;
    for (int k = 0; k < 500; k++) {
        uint8_t junk[300];
        size_t len = (size_t)(rand_r(&seed) % (int)sizeof junk);
        for (size_t b = 0; b < len; b++)
            junk[b] = (uint8_t)rand_r(&seed);
        if (k % 5 == 0 && len > 2) {
            junk[0] = 2; /* look like our protocol version to get past the first check */
            junk[1] = (uint8_t)(k % 20);
        }
        assert_int_equal(nng_send(s, junk, len, 0), 0);
    }
    int64_t deadline = it_wall_ms() + 5000;
    double malformed = 0, auth = 0;
    while (it_wall_ms() < deadline && malformed + auth < 500) {
        malformed = metric(fx, 0, "medic_cluster_messages_dropped_total{reason=\"malformed\"} ");
        auth = metric(fx, 0, "medic_cluster_messages_dropped_total{reason=\"auth\"} ");
        it_sleep_ms(20);
    }
    nng_close(s);
    printf("  500 garbage messages: %.0f malformed, %.0f failed authentication\n", malformed, auth);
    assert_true(malformed + auth >= 500);
    /* Nothing changed: the node answers, peers are alive, the verdict holds. */
    char buf[32];
    liveness_of(fx, 0, "n2", buf, sizeof buf);
    assert_string_equal(buf, "alive");
    assert_string_equal(verdict_of(fx, 0, NULL, buf, sizeof buf), "UP");
}

/* Sentinel's TILT: a node that reaches no peer while every check fails marks itself isolated. */
static void test_isolated_node_marks_itself(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < N; i++)
        assert_true(wait_verdict(fx, i, "UP", 10000) > 0);
    for (int i = 1; i < N; i++) {
        it_node_stop(&fx->t.node[i], SIGKILL, 1000, NULL, NULL);
        fx->t.running[i] = false;
    }
    assert_true(it_flaky_mode(&fx->t.flaky, "down") > 0);
    int64_t deadline = it_wall_ms() + DEAD_MS + 5000;
    bool isolated = false;
    while (!isolated && it_wall_ms() < deadline) {
        cJSON *doc = it_get_json(fx->t.node[0].api_port, "/v1/cluster", NULL);
        const cJSON *self = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "cluster"), "nodes"), 0);
        isolated = cJSON_IsTrue(cJSON_GetObjectItem(self, "isolated"));
        cJSON_Delete(doc);
        it_sleep_ms(20);
    }
    assert_true(isolated);
    /* Its own DOWN vote no longer counts, so even it does not call the service DOWN. */
    cJSON *doc = it_get_json(fx->t.node[0].api_port, "/v1/services/web", NULL);
    const cJSON *svc = cJSON_GetObjectItem(doc, "service");
    const cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(svc, "observations"), "n1");
    assert_string_equal(cJSON_GetObjectItem(o, "vote")->valuestring, "isolated");
    assert_string_not_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(svc, "verdict"), "state")->valuestring, "DOWN");
    cJSON_Delete(doc);
    char *text = it_get(fx->t.node[0].api_port, "/metrics", NULL);
    assert_non_null(strstr(text, "medic_node_isolated 1"));
    free(text);
    /* A check that succeeds again ends it. */
    assert_true(it_flaky_mode(&fx->t.flaky, "healthy") > 0);
    deadline = it_wall_ms() + 5000;
    while (isolated && it_wall_ms() < deadline) {
        doc = it_get_json(fx->t.node[0].api_port, "/v1/cluster", NULL);
        const cJSON *self = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "cluster"), "nodes"), 0);
        isolated = cJSON_IsTrue(cJSON_GetObjectItem(self, "isolated"));
        cJSON_Delete(doc);
        it_sleep_ms(20);
    }
    assert_false(isolated);
}

static void test_status_table_shows_nodes_as_columns(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < N; i++)
        assert_true(wait_verdict(fx, i, "UP", 10000) > 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s status --node http://127.0.0.1:%d", MEDIC_BIN, fx->t.node[1].api_port);
    FILE *p = popen(cmd, "r");
    char out[8192] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    printf("%s", out);
    assert_non_null(strstr(out, "cluster itc"));
    const char *hdr = strstr(out, "SERVICE");
    assert_non_null(hdr);
    assert_non_null(strstr(hdr, "n1"));
    assert_non_null(strstr(hdr, "n2"));
    assert_non_null(strstr(hdr, "n3"));
    assert_non_null(strstr(hdr, "web"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quorum_down_reaches_every_node_in_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_blind_node_never_makes_it_down, setup_one_blind, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_secret_is_rejected_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isolated_node_marks_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_table_shows_nodes_as_columns, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
