/* test_tp_security.c: what a live transport does with traffic it must not trust: a node with the
 * wrong secret is never heard (auth drops on both sides), garbage and oversized frames from a raw
 * nng socket are counted and change nothing, and over tls+tcp:// mutual TLS admits nodes with
 * certificates from the cluster CA and refuses one whose certificate is not (certificates are
 * made with the openssl command; the TLS tests are skipped without it). The refused-certificate
 * case runs in a child process: Debian's nng 1.5.2 can hang in nng_close after failed TLS
 * handshakes, so the parent checks the child's verdict and kills it if its teardown hangs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

#include "test_tp_util.h"

static bool ab_alive(tpt_cluster *c, void *arg)
{
    (void)arg;
    return c->node[0].state_of[1] == TP_PEER_ALIVE && c->node[1].state_of[0] == TP_PEER_ALIVE &&
           tpt_peer(&c->node[0], "B").rtt_us > 0 && tpt_peer(&c->node[1], "A").rtt_us > 0;
}

static bool auth_drops(tpt_cluster *c, void *arg)
{
    (void)arg;
    return tpt_drops(&c->node[0], TP_DROP_AUTH) >= 3 && tpt_drops(&c->node[1], TP_DROP_AUTH) >= 3 &&
           tpt_drops(&c->node[2], TP_DROP_AUTH) >= 3;
}

static bool c_linked(tpt_cluster *c, void *arg)
{
    (void)arg;
    return tpt_peer(&c->node[0], "C").connected && tpt_peer(&c->node[1], "C").connected;
}

static void test_wrong_secret(void **state)
{
    (void)state;
    tpt_cluster c;
    tpt_init(&c, 3, 50, 200, 500);
    c.node[2].secret = "not-the-cluster-secret-at-all";
    for (int i = 0; i < 3; i++) {
        tpt_start(&c, i, 1);
    }
    assert_true(tpt_run_until(&c, ab_alive, NULL, 5000));
    assert_true(tpt_run_until(&c, auth_drops, NULL, 3000));
    /* The link is up (a dial may be between attempts on a loaded machine: wait for it); its
     * messages are rejected. */
    assert_true(tpt_run_until(&c, c_linked, NULL, 3000));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c.node[i].state_of[2], TP_PEER_UNKNOWN);
        assert_int_equal(c.node[2].state_of[i], TP_PEER_UNKNOWN);
        assert_int_equal(tpt_drops(&c.node[i], TP_DROP_MALFORMED), 0);
    }
    assert_int_equal(tp_send(c.node[2].t, "A", TP_TYPE_APP, "let me in", 9), 0);
    tpt_run_for(&c, 100);
    assert_int_equal(c.node[0].messages, 0);
    tpt_fini(&c);
}

static bool a_counted(tpt_cluster *c, void *arg)
{
    (void)arg;
    return tpt_drops(&c->node[0], TP_DROP_MALFORMED) >= 2 && tpt_drops(&c->node[0], TP_DROP_TOO_LARGE) >= 1;
}

static void raw_send(nng_socket s, const void *buf, size_t len)
{
    nng_msg *m;
    assert_int_equal(nng_msg_alloc(&m, len), 0);
    memcpy(nng_msg_body(m), buf, len);
    int rv = nng_sendmsg(s, m, 0); /* blocking is fine in a test: the queue is empty */
    assert_int_equal(rv, 0);
}

static void test_garbage_from_raw_socket(void **state)
{
    (void)state;
    tpt_cluster c;
    tpt_init(&c, 2, 50, 200, 500);
    tpt_start(&c, 0, 1);
    tpt_start(&c, 1, 1);
    assert_true(tpt_run_until(&c, ab_alive, NULL, 5000));
    assert_int_equal(tp_gossip_set(c.node[1].t, "k", "v", 1), 0);
    tpt_run_for(&c, 100);
    size_t items = c.node[0].n_items;
    tp_peer_info before = tpt_peer(&c.node[0], "B");

    nng_socket raw;
    assert_int_equal(nng_push0_open(&raw), 0);
    nng_socket_set_int(raw, NNG_OPT_SENDBUF, 8);
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", c.node[0].port);
    assert_int_equal(nng_dial(raw, url, NULL, 0), 0);
    raw_send(raw, "garbage bytes, not an envelope", 30);
    raw_send(raw, "\x01", 1);
    size_t big = TP_DEFAULT_MAX_MESSAGE_BYTES + 100; /* over the limit, under nng's own cut-off */
    uint8_t *huge = calloc(1, big);
    raw_send(raw, huge, big);
    free(huge);
    assert_true(tpt_run_until(&c, a_counted, NULL, 3000));
    nng_close(raw);

    tp_peer_info after = tpt_peer(&c.node[0], "B");
    assert_int_equal(after.state, TP_PEER_ALIVE);
    assert_int_equal(c.node[0].n_items, items);
    assert_int_equal(c.node[0].messages, 0);
    assert_true(after.msgs_in >= before.msgs_in);
    assert_int_equal(tpt_drops(&c.node[0], TP_DROP_AUTH), 0);
    assert_int_equal(tpt_drops(&c.node[0], TP_DROP_MALFORMED), 2);
    assert_int_equal(tpt_drops(&c.node[0], TP_DROP_TOO_LARGE), 1);
    assert_int_equal(c.node[0].drops_cb, 3);
    /* and it still works */
    assert_int_equal(tp_gossip_set(c.node[1].t, "k", "v2", 2), 0);
    tpt_run_for(&c, 100);
    assert_int_equal(c.node[0].n_items, items + 1);
    tpt_fini(&c);
}

/* ---- mutual TLS ---- */

static char tmpdir[64];

static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* make_certs creates a CA, certificates for A and B from it, and a rogue CA's certificate for C. */
static bool make_certs(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tp-tls-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        return false;
    }
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    int rc = sh("cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj /CN=medic-test-ca "
                ">/dev/null 2>&1 && openssl req -x509 %s -keyout rogue.key -out rogue.pem -days 2 "
                "-subj /CN=medic-test-ca >/dev/null 2>&1",
                tmpdir, ec, ec);
    const char *names[] = {"a", "b", "c"};
    for (int i = 0; i < 3 && rc == 0; i++) {
        const char *ca = i < 2 ? "ca" : "rogue";
        rc = sh("cd %s && openssl req %s -keyout %s.key -out %s.csr -subj /CN=127.0.0.1 >/dev/null 2>&1 && "
                "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -out %s.pem -days 2 "
                ">/dev/null 2>&1",
                tmpdir, ec, names[i], names[i], names[i], ca, ca, names[i]);
    }
    return rc == 0;
}

static bool tls_ab_message(tpt_cluster *c, void *arg)
{
    (void)arg;
    return c->node[1].messages >= 1;
}

static bool have_openssl(void)
{
    if (sh("command -v openssl >/dev/null 2>&1") != 0) {
        print_message("skipped: the openssl command is not installed, cannot make certificates\n");
        return false;
    }
    return true;
}

/* tls_files points node i of c at <dir>/<name>.pem, .key and the cluster CA. */
static void tls_files(tpt_cluster *c, int i, const char *dir, const char *name)
{
    static char files[TPT_MAX_NODES][3][96];
    snprintf(files[i][0], sizeof files[i][0], "%s/%s.pem", dir, name);
    snprintf(files[i][1], sizeof files[i][1], "%s/%s.key", dir, name);
    snprintf(files[i][2], sizeof files[i][2], "%s/ca.pem", dir);
    c->node[i].cert = files[i][0];
    c->node[i].key = files[i][1];
    c->node[i].ca = files[i][2];
}

static void test_mutual_tls(void **state)
{
    (void)state;
    if (!have_openssl()) {
        skip();
    }
    assert_true(make_certs());
    tpt_cluster c;
    tpt_init(&c, 2, 50, 200, 500);
    c.scheme = "tls+tcp";
    tls_files(&c, 0, tmpdir, "a");
    tls_files(&c, 1, tmpdir, "b");
    c.node[0].links = c.node[1].links = 2; /* as between regions: two connections share the TLS config */
    tpt_start(&c, 0, 1);
    tpt_start(&c, 1, 1);
    assert_true(tpt_run_until(&c, ab_alive, NULL, 8000));
    assert_true(tpt_peer(&c.node[0], "B").connected);
    assert_int_equal(tp_send(c.node[0].t, "B", TP_TYPE_APP, "over tls", 8), 0);
    assert_true(tpt_run_until(&c, tls_ab_message, NULL, 2000));
    assert_string_equal(c.node[1].last_msg, "over tls");
    tpt_run_for(&c, 200);
    assert_int_equal(c.node[1].messages, 1);          /* once, */
    assert_true(tpt_peer(&c.node[1], "A").dups_in > 0); /* though it came over both links */

    /* a plain tcp:// dialer cannot talk to the TLS listener */
    nng_socket raw;
    assert_int_equal(nng_push0_open(&raw), 0);
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", c.node[0].port);
    nng_dial(raw, url, NULL, NNG_FLAG_NONBLOCK);
    nng_msg *m;
    assert_int_equal(nng_msg_alloc(&m, 4), 0);
    if (nng_sendmsg(raw, m, NNG_FLAG_NONBLOCK) != 0) {
        nng_msg_free(m);
    }
    tpt_run_for(&c, 200);
    nng_close(raw);
    for (int r = 0; r < TP_DROP_SEND_QUEUE; r++) {
        assert_int_equal(tpt_drops(&c.node[0], (tp_drop_reason)r), 0);
    }
    tpt_fini(&c);
}

/* rogue_child runs in a child process (see test_tls_rogue_refused): A and B with certificates
 * from the cluster CA, C with one from another CA of the same name. It prints "RESULT ok" once
 * the checks pass, then closes everything, which nng 1.5.2 may never finish. */
static void count_closed(void *arg) { ++*(int *)arg; }

static void rogue_scenario(void **state)
{
    const char *dir = *state;
    tpt_cluster c;
    tpt_init(&c, 3, 50, 200, 500);
    c.scheme = "tls+tcp";
    tls_files(&c, 0, dir, "a");
    tls_files(&c, 1, dir, "b");
    tls_files(&c, 2, dir, "c"); /* trusts the cluster CA, but its certificate is the rogue's */
    for (int i = 0; i < 3; i++) {
        tpt_start(&c, i, 1);
    }
    assert_true(tpt_run_until(&c, ab_alive, NULL, 8000));
    tpt_run_for(&c, 500); /* many redials by C, each refused */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c.node[i].state_of[2], TP_PEER_UNKNOWN);
        assert_false(tpt_peer(&c.node[i], "C").connected);
        assert_false(tpt_peer(&c.node[2], c.node[i].id).connected);
        assert_int_equal(c.node[2].state_of[i], TP_PEER_UNKNOWN);
        for (int r = 0; r < TP_DROP_SEND_QUEUE; r++) {
            assert_int_equal(tpt_drops(&c.node[i], (tp_drop_reason)r), 0); /* refused before any message */
        }
    }
    printf("RESULT ok\n");
    fflush(stdout);
    int closed = 0;
    for (int i = 0; i < 3; i++) {
        tp_close(c.node[i].t, count_closed, &closed);
        c.node[i].t = NULL;
    }
    uint64_t deadline = uv_hrtime() + 3000000000ull;
    while (closed < 3 && uv_hrtime() < deadline) {
        uv_run(&c.loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    if (closed < 3) {
        printf("STUCK\n"); /* nng holds our sockets forever: leave without the leak check */
        fflush(stdout);
        _exit(0);
    }
    tpt_fini(&c);
    printf("CLOSED\n");
    fflush(stdout);
}

static int rogue_child(const char *dir)
{
    void *state = (void *)dir;
    const struct CMUnitTest tests[] = {cmocka_unit_test_prestate(rogue_scenario, state)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

static const char *self_exe;

static void test_tls_rogue_refused(void **state)
{
    (void)state;
    if (!have_openssl()) {
        skip();
    }
    assert_true(make_certs());
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        /* After failed TLS handshakes nng 1.5.2 also loses messages it had taken from us; the
         * leak check of the transport's own memory is every other test's job. */
        char opts[512];
        const char *old = getenv("ASAN_OPTIONS");
        snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", old ? old : "", old ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        execl(self_exe, self_exe, "--tls-rogue-child", tmpdir, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    /* read everything the child says until it exits (EOF) or 40 s pass */
    static char out[16384];
    size_t len = 0;
    bool eof = false;
    for (int waited = 0; waited < 400 && !eof; waited++) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            ssize_t n = read(fds[0], out + len, sizeof out - 1 - len);
            eof = n <= 0;
            len += n > 0 ? (size_t)n : 0;
        }
    }
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    if (!eof) {
        kill(pid, SIGKILL);
    }
    waitpid(pid, &status, 0);
    if (strstr(out, "RESULT ok") == NULL) {
        fail_msg("rogue scenario failed:\n%s", out);
    }
    if (strstr(out, "CLOSED") == NULL) {
        /* Known defect of nng 1.5.2: nng_close can wait forever after failed TLS handshakes. */
        print_message("note: the child's sockets never finished closing (nng 1.5.2); it was stopped\n");
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail_msg("rogue scenario child exited with status %d:\n%s", status, out);
    }
}

static int remove_certs(void **state)
{
    (void)state;
    if (tmpdir[0] != '\0') {
        sh("rm -rf %s", tmpdir);
        tmpdir[0] = '\0';
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--tls-rogue-child") == 0) {
        int rc = rogue_child(argv[2]);
        nng_fini();
        return rc;
    }
    self_exe = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_garbage_from_raw_socket),
        cmocka_unit_test_teardown(test_mutual_tls, remove_certs),
        cmocka_unit_test_teardown(test_tls_rogue_refused, remove_certs),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nng_fini();
    return rc;
}
