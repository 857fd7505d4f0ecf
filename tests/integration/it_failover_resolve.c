/* it_failover_resolve.c: the failover proxy follows an endpoint whose host name moves. Root only:
 * the test runs in its own mount namespace with its own /etc/hosts bind-mounted over the real one
 * (the node it starts inherits it), so a name can be moved from 127.0.0.1 to 127.0.0.2 while the
 * node runs. Backends are small forked servers that answer every connection with their name. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* unshare */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "it_sock.h"

#define NAME "mover.medic.test"

static char hosts_path[] = "/tmp/medic-it-hosts-XXXXXX";

/* point_name rewrites the bind-mounted hosts file in place (the same inode: the mount follows). */
static void point_name(const char *ip)
{
    int fd = open(hosts_path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    char text[256];
    int n = snprintf(text, sizeof text, "127.0.0.1 localhost\n%s %s\n", ip, NAME);
    assert_int_equal(write(fd, text, (size_t)n), n);
    close(fd);
}

static int group_setup(void **state)
{
    (void)state;
    if (geteuid() != 0)
        it_skip("needs root: a mount namespace with its own /etc/hosts");
    int fd = mkstemp(hosts_path);
    if (fd < 0)
        it_skip("cannot make a hosts file in /tmp");
    close(fd);
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount(hosts_path, "/etc/hosts", NULL, MS_BIND, NULL) < 0) {
        unlink(hosts_path);
        it_skip("cannot bind-mount a hosts file in a mount namespace here");
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    umount("/etc/hosts");
    unlink(hosts_path);
    return 0;
}

static void resolves_to(const char *want)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    assert_int_equal(getaddrinfo(NAME, NULL, &hints, &res), 0);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
    freeaddrinfo(res);
    assert_string_equal(ip, want);
}

/* two_servers starts "A" on 127.0.0.1:port and "B" on 127.0.0.2:port (the same port). */
static int two_servers(pid_t *a, pid_t *b)
{
    for (int tries = 0; tries < 20; tries++) {
        int port = 0, la = it_listen("127.0.0.1", 0, 64, 0, &port);
        assert_true(la >= 0);
        int lb = it_listen("127.0.0.2", port, 64, 0, NULL);
        if (lb < 0) {
            close(la);
            continue;
        }
        *a = it_ident_start(la, "A");
        *b = it_ident_start(lb, "B");
        assert_true(*a > 0 && *b > 0);
        return port;
    }
    fail_msg("no port free on both 127.0.0.1 and 127.0.0.2");
    return -1;
}

static void show_log(it_node *n)
{
    char *log = it_node_log(n);
    print_message("%s\n", log ? log : "");
    free(log);
}

/* ask connects through the proxy and returns the first byte the backend sent ('A', 'B', 'C'), or
 * 0 when the connection gave nothing. */
static char ask(int proxy_port)
{
    int fd = it_connect("127.0.0.1", proxy_port, 0, 0);
    assert_true(fd >= 0);
    char buf[8] = "";
    int n = it_read_all(fd, buf, sizeof buf, 3000);
    close(fd);
    return n > 0 ? buf[0] : 0;
}

/* start_node: one TCP service "raw" over endpoints, probed every 100 ms; breaker_failures high
 * keeps the probes from steering traffic, so only the proxy's own resolving is under test. */
static void start_node(it_node *n, const char *endpoints, int proxy_port, int resolve_ms, int breaker_failures)
{
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"it\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},\"status_print_interval_ms\":0,"
             "\"services\":[{\"name\":\"raw\",\"endpoints\":[%s],\"interval_ms\":100,\"timeout_ms\":80,"
             "\"trend_horizon_ms\":0,\"failback_after_ms\":100,\"breaker\":{\"failures\":%d},"
             "\"proxy\":{\"listen\":\"127.0.0.1:%d\",\"resolve_ms\":%d}}]}",
             endpoints, breaker_failures, proxy_port, resolve_ms);
    if (it_node_start(n, cfg, NULL) != 0)
        fail_msg("node did not start");
}

#define RESOLVE_MS 300

/* The name moves while the old address still answers: new connections follow within
 * resolve_ms (plus a probe interval), not only after a failure. */
static void test_name_moves_followed(void **state)
{
    (void)state;
    pid_t a, b;
    int port = two_servers(&a, &b), pport = md_free_port();
    point_name("127.0.0.1");
    resolves_to("127.0.0.1");
    char eps[256];
    snprintf(eps, sizeof eps, "\"" NAME ":%d\"", port);
    it_node node;
    start_node(&node, eps, pport, RESOLVE_MS, 2);
    char first = ask(pport);
    if (first != 'A')
        show_log(&node);
    assert_int_equal(first, 'A');
    point_name("127.0.0.2");
    resolves_to("127.0.0.2");
    int64_t t0 = it_wall_ms(), end = t0 + 10000;
    char got = 0;
    while ((got = ask(pport)) != 'B' && it_wall_ms() < end) {
        if (got != 'A')
            show_log(&node);
        assert_int_equal(got, 'A'); /* the old address until then, never a failure */
        it_sleep_ms(20);
    }
    int64_t took = it_wall_ms() - t0;
    print_message("new connections reached the moved name's new address %lld ms after it moved "
                  "(resolve_ms %d)\n", (long long)took, RESOLVE_MS);
    assert_int_equal(got, 'B');
    assert_true(took < RESOLVE_MS + 3000);
    /* And back. */
    point_name("127.0.0.1");
    end = it_wall_ms() + 10000;
    while ((got = ask(pport)) != 'A' && it_wall_ms() < end)
        it_sleep_ms(20);
    assert_int_equal(got, 'A');
    it_node_stop(&node, SIGTERM, 5000, NULL, NULL);
    it_ident_stop(a);
    it_ident_stop(b);
}

/* The name moves and the old address dies, with a resolve_ms far longer than the test: the failed
 * attempt goes to the backup at once and makes the proxy look the name up again, so the next
 * connections reach the new address; no connection fails. (The probes' curl DNS cache follows
 * resolve_ms only: their failures must not open the breaker here, or traffic would stay on the
 * backup and hide what the proxy does.) */
static void test_failure_resolves_again(void **state)
{
    (void)state;
    pid_t a, b;
    int port = two_servers(&a, &b), pport = md_free_port();
    int cport = 0, lc = it_listen("127.0.0.1", 0, 64, 0, &cport);
    assert_true(lc >= 0);
    pid_t c = it_ident_start(lc, "C");
    point_name("127.0.0.1");
    char eps[256];
    snprintf(eps, sizeof eps, "\"" NAME ":%d\",\"127.0.0.1:%d\"", port, cport);
    it_node node;
    start_node(&node, eps, pport, 600000, 1000);
    assert_int_equal(ask(pport), 'A');
    point_name("127.0.0.2");
    it_ident_stop(a); /* 127.0.0.1:port refuses from now on */
    int64_t end = it_wall_ms() + 5000;
    char got = 0;
    int asked = 0;
    while ((got = ask(pport)) != 'B' && it_wall_ms() < end) {
        assert_true(got == 'C'); /* the backup, never a failed connection */
        asked++;
        it_sleep_ms(20);
    }
    print_message("after the old address died: %d connection(s) on the backup, then the new address\n", asked);
    assert_int_equal(got, 'B');
    it_node_stop(&node, SIGTERM, 5000, NULL, NULL);
    it_ident_stop(b);
    it_ident_stop(c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_moves_followed),
        cmocka_unit_test(test_failure_resolves_again),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
