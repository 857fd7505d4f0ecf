/* it_platform_env.c: a node configured the way a platform runs it: no config file, the JSON in
 * MEDIC_CONFIG, its id, region and data dir in MEDIC_NODE_ID, MEDIC_REGION and MEDIC_DATA_DIR,
 * its API port in PORT (listening on [::], so IPv4 and IPv6 clients reach it). Then the same
 * data dir under another MEDIC_NODE_ID: the node must refuse to start (exit 2, both ids named),
 * not join as a stranger; back under its own id it starts again. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "harness.h"

typedef struct {
    char dir[64];
    char data[128];
    char log[160];
    int port;
    md_proc proc;
} fixture;

/* spawn starts `medic node` with no --config, its environment set for this node id. */
static void spawn(fixture *fx, const char *id)
{
    char conf[1024], port[16];
    int cluster_port = md_free_port();
    assert_true(cluster_port > 0);
    snprintf(conf, sizeof conf,
             "{\"status_print_interval_ms\":0,"
             "\"cluster\":{\"name\":\"plat\",\"secret\":\"it-platform-secret-012\",\"listen\":\"tcp://127.0.0.1:%d\"},"
             "\"services\":[{\"name\":\"web\",\"tcp\":\"127.0.0.1:1\",\"interval_ms\":1000,\"timeout_ms\":200}]}",
             cluster_port);
    snprintf(port, sizeof port, "%d", fx->port);
    /* The child inherits these; they are cleared again at once so no other child sees them. */
    setenv("MEDIC_CONFIG", conf, 1);
    setenv("MEDIC_NODE_ID", id, 1);
    setenv("MEDIC_REGION", "eu-test", 1);
    setenv("MEDIC_DATA_DIR", fx->data, 1);
    setenv("PORT", port, 1);
    char *argv[] = { MEDIC_BIN, "node", NULL };
    int rc = md_proc_spawn(argv, false, NULL, fx->log, &fx->proc);
    unsetenv("MEDIC_CONFIG");
    unsetenv("MEDIC_NODE_ID");
    unsetenv("MEDIC_REGION");
    unsetenv("MEDIC_DATA_DIR");
    unsetenv("PORT");
    assert_int_equal(rc, 0);
}

/* health polls host:PORT/v1/health for a while; the body (malloc'd) or NULL. */
static char *health(fixture *fx, const char *host, int timeout_ms)
{
    for (int64_t deadline = it_wall_ms() + timeout_ms; it_wall_ms() < deadline; it_sleep_ms(20)) {
        long code = 0;
        char *body = it_get_at(host, fx->port, "/v1/health", &code);
        if (body && code == 200)
            return body;
        free(body);
        if (!md_proc_alive(&fx->proc, NULL))
            return NULL;
    }
    return NULL;
}

static char *read_log(fixture *fx)
{
    FILE *fp = fopen(fx->log, "r");
    static char buf[65536];
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    buf[n] = '\0';
    if (fp)
        fclose(fp);
    return buf;
}

static void test_node_from_platform_variables_keeps_its_id(void **state)
{
    fixture *fx = *state;
    spawn(fx, "p1");
    char *body = health(fx, "127.0.0.1", 10000);
    if (!body)
        fail_msg("node did not come up on PORT; log:\n%s", read_log(fx));
    assert_non_null(strstr(body, "\"id\":\"p1\""));
    assert_non_null(strstr(body, "\"region\":\"eu-test\""));
    free(body);
    if (it_has_ipv6_loopback()) {
        body = health(fx, "[::1]", 2000);
        assert_non_null(body); /* [::] takes IPv6 clients too */
        free(body);
    }
    const char *log = read_log(fx);
    assert_non_null(strstr(log, "event=node_identity node=p1 id_from=MEDIC_NODE_ID region=eu-test "
                                "region_from=MEDIC_REGION"));
    assert_non_null(strstr(log, "api_listen_from=PORT"));
    assert_non_null(strstr(log, "event=timing_profile profile=lan reason=\"every node with a known region is in eu-test (default lan)\""));
    int status = 0;
    assert_int_equal(md_proc_stop(&fx->proc, SIGTERM, 5000, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* The same data dir under another id: refused before anything starts. */
    spawn(fx, "p2");
    bool alive = true;
    for (int64_t deadline = it_wall_ms() + 10000; alive && it_wall_ms() < deadline;) {
        alive = md_proc_alive(&fx->proc, &status);
        if (alive)
            it_sleep_ms(20);
    }
    if (alive)
        fail_msg("a node under another id kept running on p1's data dir; log:\n%s", read_log(fx));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    char want[512];
    snprintf(want, sizeof want,
             "medic: config error: MEDIC_CONFIG: node.id: is \"p2\", but data dir %s belongs to node \"p1\": "
             "a node's id must not change across restarts",
             fx->data);
    log = read_log(fx);
    if (!strstr(log, want))
        fail_msg("log lacks '%s':\n%s", want, log);
    assert_non_null(strstr(log, "Set MEDIC_NODE_ID back to \"p1\""));
    long code = 0;
    char *none = it_get(fx->port, "/v1/health", &code);
    assert_null(none); /* it never listened */

    /* Back under its own id, it starts on its state. */
    spawn(fx, "p1");
    body = health(fx, "127.0.0.1", 10000);
    assert_non_null(body);
    free(body);
    assert_int_equal(md_proc_stop(&fx->proc, SIGTERM, 5000, &status), 0);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/medic-it-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->data, sizeof fx->data, "%s/data", fx->dir);
    snprintf(fx->log, sizeof fx->log, "%s/node.log", fx->dir);
    fx->port = md_free_port();
    assert_true(fx->port > 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    md_proc_stop(&fx->proc, SIGKILL, 1000, NULL);
    it_rmtree(fx->dir);
    free(fx);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_from_platform_variables_keeps_its_id, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
