/* test_tp_flood.c: a connection flood against one transport (issue 11, item 3). A child process
 * with RLIMIT_NOFILE lowered to 256 runs two transports (A and B, connected); this process then
 * opens 1,000 connections to A's port on loopback, each sending only a push0 SP header and then
 * idling. A must keep descriptors free (the child can still open files), keep taking B's
 * messages, and count the connections it closed under `unauth_conn`. Before the flood guard, A
 * took every connection until the child had no descriptor left. Bounded: 1,000 loopback
 * connections, 30 s, the child is killed and reaped on every path. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_tp_util.h"

#define CHILD_NOFILE 256
#define FLOOD_CONNS 1000
#define DEADLINE_MS 30000

enum { OK = 0, E_START = 10, E_NO_FDS, E_NO_MESSAGE, E_NOT_COUNTED, E_NO_SIGNAL };

static int from_parent = -1; /* the child reads "flood done" here */

static bool flood_done(tpt_cluster *c, void *arg)
{
    (void)c;
    (void)arg;
    static bool done; /* the harness asks twice: remember the byte once read */
    char b;
    done = done || read(from_parent, &b, 1) == 1;
    return done;
}

static bool b_heard(tpt_cluster *c, void *arg)
{
    return c->node[0].messages >= *(int *)arg;
}

/* child runs A and B under a low descriptor limit and says how A fared (exit status). */
static int child(int to_parent)
{
    struct rlimit rl = {CHILD_NOFILE, CHILD_NOFILE};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return E_START;
    }
    fcntl(from_parent, F_SETFL, O_NONBLOCK);
    tpt_cluster c;
    tpt_init(&c, 2, 50, 2000, 5000);
    tpt_start(&c, 0, 1);
    tpt_start(&c, 1, 1);
    if (!tpt_run_until(&c, tpt_all_alive, NULL, 5000)) {
        return E_START;
    }
    int port = c.node[0].port;
    if (write(to_parent, &port, sizeof port) != sizeof port) {
        return E_START;
    }
    if (!tpt_run_until(&c, flood_done, NULL, DEADLINE_MS - 5000)) {
        return E_NO_SIGNAL;
    }
    int fds[16], opened = 0;
    for (int i = 0; i < 16; i++) {
        fds[i] = open("/dev/null", O_RDONLY);
        opened += fds[i] >= 0;
    }
    for (int i = 0; i < 16; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    fprintf(stderr, "child: opened %d of 16 files during the flood; unauth_conn drops %llu\n", opened,
            (unsigned long long)tpt_drops(&c.node[0], TP_DROP_UNAUTH_CONN));
    if (opened < 16) {
        return E_NO_FDS;
    }
    int want = c.node[0].messages + 1;
    if (tp_send(c.node[1].t, "A", TP_TYPE_APP, "still here", 10) != 0 || !tpt_run_until(&c, b_heard, &want, 3000)) {
        return E_NO_MESSAGE;
    }
    if (tpt_drops(&c.node[0], TP_DROP_UNAUTH_CONN) < FLOOD_CONNS / 2) {
        return E_NOT_COUNTED;
    }
    tpt_fini(&c);
    return OK;
}

/* flood opens n non-blocking loopback connections to port, each sending a push0 SP header. */
static int flood(int port, int *socks, int n)
{
    static const unsigned char sp_push0[8] = {0, 'S', 'P', 0, 0, 0x50, 0, 0};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval patience = {.tv_sec = 0, .tv_usec = 200 * 1000}; /* bounds connect on a full backlog */
    int made = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= 5) { /* a node that stopped accepting: enough, and bounded */
            socks[i] = -1;
            continue;
        }
        socks[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (socks[i] >= 0) {
            setsockopt(socks[i], SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
        }
        if (socks[i] < 0 || connect(socks[i], (struct sockaddr *)&sa, sizeof sa) != 0 ||
            send(socks[i], sp_push0, sizeof sp_push0, MSG_NOSIGNAL) != (ssize_t)sizeof sp_push0) {
            continue; /* the backlog may refuse some; the rest still flood */
        }
        made++;
    }
    return made;
}

static int wait_child(pid_t pid, int ms)
{
    int status;
    for (int waited = 0; waited < ms; waited += 20) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(20 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void test_flood_keeps_descriptors(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < FLOOD_CONNS + 64 && rl.rlim_max >= FLOOD_CONNS + 64) {
        rl.rlim_cur = FLOOD_CONNS + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        from_parent = down[0];
        _exit(child(up[1]));
    }
    close(up[1]);
    close(down[0]);
    int port = 0;
    struct pollfd pf = {.fd = up[0], .events = POLLIN};
    bool ready = poll(&pf, 1, 10000) == 1 && read(up[0], &port, sizeof port) == sizeof port;
    static int socks[FLOOD_CONNS];
    int made = ready ? flood(port, socks, FLOOD_CONNS) : 0, opened = ready ? FLOOD_CONNS : 0;
    print_message("flooded port %d with %d connections\n", port, made);
    usleep(1500 * 1000); /* let A take (and shed) them */
    assert_int_equal(write(down[1], "x", 1), 1);
    int rc = wait_child(pid, DEADLINE_MS);
    for (int i = 0; i < opened; i++) {
        if (socks[i] >= 0) {
            close(socks[i]);
        }
    }
    close(up[0]);
    close(down[1]);
    print_message("child exit %d\n", rc);
    assert_true(ready);
    assert_int_equal(rc, OK);
    assert_true(made > FLOOD_CONNS / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flood_keeps_descriptors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
