/* test_tp_security.c: what a live transport does with traffic it must not trust: a node with the
 * wrong secret is never heard (auth drops on both sides), garbage and oversized frames from a raw
 * nng socket are counted and change nothing, and over tls+tcp:// mutual TLS admits nodes with
 * certificates from the cluster CA and refuses one whose certificate is not (certificates are
 * made with the openssl command; the TLS test is skipped without it). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c.node[i].state_of[2], TP_PEER_UNKNOWN);
        assert_int_equal(c.node[2].state_of[i], TP_PEER_UNKNOWN);
        assert_true(tpt_peer(&c.node[i], "C").connected); /* the link is up; its messages are rejected */
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

static void test_mutual_tls(void **state)
{
    (void)state;
    if (sh("command -v openssl >/dev/null 2>&1") != 0) {
        skip(); /* openssl command not installed: cannot make certificates */
    }
    assert_true(make_certs());
    static char files[3][3][96];
    const char *names[] = {"a", "b", "c"};
    tpt_cluster c;
    tpt_init(&c, 3, 50, 200, 500);
    c.scheme = "tls+tcp";
    for (int i = 0; i < 3; i++) {
        snprintf(files[i][0], sizeof files[i][0], "%s/%s.pem", tmpdir, names[i]);
        snprintf(files[i][1], sizeof files[i][1], "%s/%s.key", tmpdir, names[i]);
        snprintf(files[i][2], sizeof files[i][2], "%s/ca.pem", tmpdir); /* C trusts the real CA ... */
        c.node[i].cert = files[i][0];
        c.node[i].key = files[i][1];
        c.node[i].ca = files[i][2];
    }
    for (int i = 0; i < 3; i++) {
        tpt_start(&c, i, 1); /* ... but its own certificate comes from the rogue CA */
    }
    assert_true(tpt_run_until(&c, ab_alive, NULL, 8000));
    assert_true(tpt_peer(&c.node[0], "B").connected);
    assert_int_equal(tp_send(c.node[0].t, "B", TP_TYPE_APP, "over tls", 8), 0);
    assert_true(tpt_run_until(&c, tls_ab_message, NULL, 2000));
    assert_string_equal(c.node[1].last_msg, "over tls");

    tpt_run_for(&c, 500); /* many redials by C, all refused */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c.node[i].state_of[2], TP_PEER_UNKNOWN);
        assert_false(tpt_peer(&c.node[i], "C").connected);
        assert_false(tpt_peer(&c.node[2], c.node[i].id).connected);
        assert_int_equal(c.node[2].state_of[i], TP_PEER_UNKNOWN);
        for (int r = 0; r < TP_DROP_SEND_QUEUE; r++) {
            assert_int_equal(tpt_drops(&c.node[i], (tp_drop_reason)r), 0); /* refused before any message */
        }
    }
    tpt_fini(&c);
}

static int remove_certs(void **state)
{
    (void)state;
    if (tmpdir[0] != '\0') {
        sh("rm -rf %s", tmpdir);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_garbage_from_raw_socket),
        cmocka_unit_test_teardown(test_mutual_tls, remove_certs),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nng_fini();
    return rc;
}
