/* it_failover.c: a medic node's failover proxy in front of two real flaky_services (primary and
 * backup), with a client loop through the proxy while the primary is killed (SIGKILL), made to
 * hang, made slow, flaps, and comes back: zero failed requests for refused connections, bounded
 * failures for hangs, failback after failback_after_ms, no ping-pong, no fd leak. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define FAILBACK_MS 1000

typedef struct {
    it_flaky primary, backup;
    it_node node;
    int proxy_port;
} fixture;

static int max_connections = 4096; /* proxy.max_connections of the next setup */

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(it_flaky_start(&fx->primary), 0);
    assert_int_equal(it_flaky_start(&fx->backup), 0);
    fx->proxy_port = md_free_port();
    assert_true(fx->proxy_port > 0);
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"it\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},\"status_print_interval_ms\":0,"
             "\"services\":[{\"name\":\"web\",\"interval_ms\":100,\"timeout_ms\":80,\"trend_horizon_ms\":0,"
             "\"endpoints\":[\"http://127.0.0.1:%d/health\",\"http://127.0.0.1:%d/health\"],"
             "\"breaker\":{\"failures\":2,\"successes\":2,\"open_ms\":200,\"open_max_ms\":800},"
             "\"failback_after_ms\":%d,"
             "\"proxy\":{\"listen\":\"127.0.0.1:%d\",\"connect_timeout_ms\":200,\"idle_timeout_ms\":5000,"
             "\"max_connections\":%d}}]}",
             fx->primary.port, fx->backup.port, FAILBACK_MS, fx->proxy_port, max_connections);
    if (it_node_start(&fx->node, cfg, NULL) != 0) {
        it_flaky_stop(&fx->primary);
        it_flaky_stop(&fx->backup);
        free(fx);
        fail_msg("node did not start");
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    it_node_stop(&fx->node, SIGTERM, 5000, NULL, NULL);
    it_flaky_stop(&fx->primary);
    it_flaky_stop(&fx->backup);
    free(fx);
    return 0;
}

/* request sends one HTTP/1.0 GET through the proxy and reads the whole answer, within
 * timeout_ms. Returns 1 for a 200, 0 otherwise; *ms gets how long it took. */
static int request(int port, int timeout_ms, int64_t *ms)
{
    int64_t t0 = it_wall_ms();
    int ok = 0, fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char req[] = "GET /x HTTP/1.0\r\n\r\n";
    char buf[512];
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
        ssize_t n;
        while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
            got += (size_t)n;
        buf[got] = '\0';
        ok = strncmp(buf, "HTTP/1.1 200", 12) == 0 || strncmp(buf, "HTTP/1.0 200", 12) == 0;
    }
    close(fd);
    if (ms)
        *ms = it_wall_ms() - t0;
    return ok;
}

typedef struct {
    int ok, failed;
    int64_t longest_ms;
} tally;

/* run_for sends requests every 10 ms for ms, counting outcomes. */
static void run_for(fixture *fx, int ms, int timeout_ms, tally *t)
{
    int64_t end = it_wall_ms() + ms;
    while (it_wall_ms() < end) {
        int64_t took;
        if (request(fx->proxy_port, timeout_ms, &took))
            t->ok++;
        else
            t->failed++;
        if (took > t->longest_ms)
            t->longest_ms = took;
        it_sleep_ms(10);
    }
}

/* resolve reads /v1/resolve/web: the active index (-2 on error), *failovers, and the primary's
 * breaker_since_ms and state. */
static int resolve(fixture *fx, double *failovers, char *primary_state, size_t cap, double *primary_since,
                   double *active_since)
{
    long code = 0;
    cJSON *d = it_get_json(fx->node.api_port, "/v1/resolve/web", &code);
    if (!d)
        return -2;
    int idx = (int)cJSON_GetObjectItem(d, "active_index")->valuedouble;
    if (failovers)
        *failovers = cJSON_GetObjectItem(d, "failovers")->valuedouble;
    if (active_since)
        *active_since = cJSON_GetObjectItem(d, "active_since_ms")->valuedouble;
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "endpoints"), 0);
    if (primary_state)
        snprintf(primary_state, cap, "%s", cJSON_GetObjectItem(p, "breaker")->valuestring);
    if (primary_since)
        *primary_since = cJSON_GetObjectItem(p, "breaker_since_ms")->valuedouble;
    cJSON_Delete(d);
    return idx;
}

static bool wait_active(fixture *fx, int want, int timeout_ms)
{
    int64_t end = it_wall_ms() + timeout_ms;
    while (it_wall_ms() < end) {
        if (resolve(fx, NULL, NULL, 0, NULL, NULL) == want)
            return true;
        it_sleep_ms(20);
    }
    return false;
}

/* restart_primary starts the primary's flaky_service again on its old port. */
static void restart_primary(fixture *fx)
{
    char port[16];
    snprintf(port, sizeof port, "%d", fx->primary.port);
    char *argv[] = {FLAKY_BIN, "--port", port, "--control-port", "0", NULL};
    assert_int_equal(md_proc_spawn(argv, true, NULL, NULL, &fx->primary.proc), 0);
    char line[256];
    assert_true(md_proc_read_line(&fx->primary.proc, line, sizeof line, 10000) > 0);
    assert_int_equal(sscanf(line, "ready port=%*d control=%d", &fx->primary.control_port), 1);
}

static void test_killed_primary_no_failed_request(void **state)
{
    fixture *fx = *state;
    tally t = {0};
    assert_true(wait_active(fx, 0, 5000));
    long code = 0;
    free(it_get(fx->node.api_port, "/v1/resolve/nope", &code));
    assert_int_equal(code, 404);
    run_for(fx, 300, 2000, &t);
    assert_true(md_proc_stop(&fx->primary.proc, SIGKILL, 2000, NULL) >= 0);
    run_for(fx, 1000, 2000, &t);
    assert_int_equal(resolve(fx, NULL, NULL, 0, NULL, NULL), 1);
    print_message("killed primary: %d ok, %d failed, longest %lld ms\n", t.ok, t.failed, (long long)t.longest_ms);
    assert_int_equal(t.failed, 0);
    assert_true(t.ok > 50);

    /* Back: the primary takes traffic again only once its breaker has been closed FAILBACK_MS. */
    restart_primary(fx);
    run_for(fx, 200, 2000, &t);
    int64_t end = it_wall_ms() + 10000;
    int idx = 1;
    while (idx != 0 && it_wall_ms() < end) {
        run_for(fx, 50, 2000, &t);
        idx = resolve(fx, NULL, NULL, 0, NULL, NULL);
    }
    char st[32];
    double since = 0, active_since = 0;
    assert_int_equal(resolve(fx, NULL, st, sizeof st, &since, &active_since), 0);
    assert_string_equal(st, "closed");
    print_message("failback %.0f ms after the primary's breaker closed\n", active_since - since);
    assert_true(active_since - since >= FAILBACK_MS);
    assert_true(active_since - since <= FAILBACK_MS + 1000);
    assert_int_equal(t.failed, 0);
}

static void test_hang_bounded_failures(void **state)
{
    fixture *fx = *state;
    tally t = {0};
    assert_true(wait_active(fx, 0, 5000));
    assert_true(it_flaky_mode(&fx->primary, "hang") > 0);
    /* A request that hangs fails at the client's 300 ms; the probes' 80 ms timeouts open the
     * breaker within about two intervals, after which nothing goes to the primary. */
    run_for(fx, 1500, 300, &t);
    print_message("hang: %d ok, %d failed\n", t.ok, t.failed);
    assert_int_equal(resolve(fx, NULL, NULL, 0, NULL, NULL), 1);
    assert_true(t.failed <= 3);
    tally after = {0};
    run_for(fx, 300, 300, &after);
    assert_int_equal(after.failed, 0);
    assert_true(it_flaky_mode(&fx->primary, "healthy") > 0);
}

static void test_slow_moves_without_failures(void **state)
{
    fixture *fx = *state;
    tally t = {0};
    assert_true(wait_active(fx, 0, 5000));
    assert_true(it_flaky_mode(&fx->primary, "slow?ms=300") > 0);
    run_for(fx, 1500, 2000, &t);
    print_message("slow: %d ok, %d failed, longest %lld ms\n", t.ok, t.failed, (long long)t.longest_ms);
    assert_int_equal(t.failed, 0);
    assert_int_equal(resolve(fx, NULL, NULL, 0, NULL, NULL), 1);
    assert_true(it_flaky_mode(&fx->primary, "healthy") > 0);
}

static void test_flapping_no_ping_pong(void **state)
{
    fixture *fx = *state;
    tally t = {0};
    double f0 = 0, f1 = 0;
    assert_true(wait_active(fx, 0, 5000));
    resolve(fx, &f0, NULL, 0, NULL, NULL);
    /* Down 300 ms, up 300 ms, for 3 s: the breaker reopens, traffic stays on the backup. */
    for (int k = 0; k < 5; k++) {
        assert_true(it_flaky_mode(&fx->primary, "down") > 0);
        run_for(fx, 300, 2000, &t);
        assert_true(it_flaky_mode(&fx->primary, "healthy") > 0);
        run_for(fx, 300, 2000, &t);
        assert_int_equal(resolve(fx, NULL, NULL, 0, NULL, NULL), 1);
    }
    resolve(fx, &f1, NULL, 0, NULL, NULL);
    print_message("flapping: %d ok, %d failed, %.0f switches\n", t.ok, t.failed, f1 - f0);
    assert_int_equal(t.failed, 0);
    assert_true(f1 - f0 == 1);
}

static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_no_fd_leak(void **state)
{
    fixture *fx = *state;
    assert_true(wait_active(fx, 0, 5000));
    int before = count_fds(fx->node.proc.pid);
    int failed = 0;
    for (int i = 0; i < 10000; i++) {
        if (i == 5000) /* half of them through a failover */
            assert_true(it_flaky_mode(&fx->primary, "down") > 0);
        failed += !request(fx->proxy_port, 2000, NULL);
    }
    assert_true(it_flaky_mode(&fx->primary, "healthy") > 0);
    assert_int_equal(failed, 0);
    int64_t end = it_wall_ms() + 5000;
    int after = 0;
    while (it_wall_ms() < end) {
        after = count_fds(fx->node.proc.pid);
        if (after <= before + 2)
            break;
        it_sleep_ms(50);
    }
    print_message("fds before %d, after 10000 connections %d\n", before, after);
    assert_true(after <= before + 2); /* probes' kept-alive connections may come and go */
    assert_true(it_service_number(&fx->node, "web", "failover.proxy.connections_total") >= 10000);
}

static void test_bad_proxy_port_exits_2(void **state)
{
    fixture *fx = *state;
    /* The proxy's port is taken (by the running node): a second node fails at start, exit 2,
     * naming the field. */
    char dir[] = "/tmp/medic-it-fo-XXXXXX", path[128], log_path[128], cfg[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/medic.json", dir);
    snprintf(log_path, sizeof log_path, "%s/node.log", dir);
    snprintf(cfg, sizeof cfg,
             "{\"api\":{\"listen\":\"127.0.0.1:%d\"},\"status_print_interval_ms\":0,"
             "\"services\":[{\"name\":\"web\",\"endpoints\":[\"http://127.0.0.1:%d/h\"],"
             "\"proxy\":{\"listen\":\"127.0.0.1:%d\"}}]}",
             md_free_port(), fx->backup.port, fx->proxy_port);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(cfg, f);
    fclose(f);
    char *argv[] = {MEDIC_BIN, "node", "--config", path, NULL};
    md_proc p;
    assert_int_equal(md_proc_spawn(argv, false, NULL, log_path, &p), 0);
    int status = 0;
    int64_t end = it_wall_ms() + 10000;
    bool alive = true;
    while ((alive = md_proc_alive(&p, &status)) && it_wall_ms() < end)
        it_sleep_ms(20);
    if (alive)
        md_proc_stop(&p, SIGKILL, 1000, &status);
    assert_false(alive);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    char log[8192] = "";
    f = fopen(log_path, "r");
    assert_non_null(f);
    size_t n = fread(log, 1, sizeof log - 1, f);
    log[n] = '\0';
    fclose(f);
    assert_non_null(strstr(log, "services[0].proxy.listen: 127.0.0.1:"));
    assert_non_null(strstr(log, "address already in use"));
    it_rmtree(dir);
}

static int setup_two(void **state)
{
    max_connections = 2;
    int rc = setup(state);
    max_connections = 4096;
    return rc;
}

static int connect_proxy(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void test_max_connections(void **state)
{
    fixture *fx = *state;
    assert_true(wait_active(fx, 0, 5000));
    /* Two quiet connections fill the proxy; a third is accepted and closed at once. */
    int a = connect_proxy(fx->proxy_port), b = connect_proxy(fx->proxy_port);
    int64_t end = it_wall_ms() + 5000;
    while (it_service_number(&fx->node, "web", "failover.proxy.connections_active") < 2 && it_wall_ms() < end)
        it_sleep_ms(20);
    int c = connect_proxy(fx->proxy_port);
    char byte;
    int64_t t0 = it_wall_ms();
    assert_int_equal(read(c, &byte, 1), 0); /* closed, not left waiting */
    assert_true(it_wall_ms() - t0 < 1000);
    close(c);
    close(a);
    /* Room again: a request goes through. */
    end = it_wall_ms() + 5000;
    int ok = 0;
    while (!ok && it_wall_ms() < end) {
        ok = request(fx->proxy_port, 2000, NULL);
        if (!ok)
            it_sleep_ms(20);
    }
    assert_true(ok);
    close(b);
    end = it_wall_ms() + 5000;
    while (it_service_number(&fx->node, "web", "failover.proxy.rejected") < 1 && it_wall_ms() < end)
        it_sleep_ms(20);
    assert_true(it_service_number(&fx->node, "web", "failover.proxy.rejected") >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_killed_primary_no_failed_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang_bounded_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_moves_without_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flapping_no_ping_pong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_fd_leak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_proxy_port_exits_2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_connections, setup_two, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
