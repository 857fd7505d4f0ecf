/* test_cluster_drops.c: the node's once-a-minute log line per peer for dropped cluster messages
 * (issue 11, item 5). A frame that fails the HMAC while claiming to be from n2 must not spend
 * n2's line: a real problem with n2 in the same minute (here an authenticated frame from n2
 * addressed to another node) is still logged, under n2, while the forgery is logged under
 * "unknown" with the id it claimed. A real md_cluster on a loopback port gets raw frames. */
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
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/transport/tcp/tcp.h>

#include "base/base.h"
#include "cluster/cluster.h"
#include "config/config.h"
#include "cluster_test_util.h"
#include "tp_int.h"

#define SECRET "drops-test-secret-0123456789"

static int free_port(void)
{
    int port = md_free_port(); /* outside the ephemeral range: see node/base/proc.c */
    assert_true(port > 0);
    return port;
}

static void seal_send(nng_socket s, const char *secret, const char *sender, const char *dest, uint64_t seq)
{
    tp__mac mac;
    assert_int_equal(tp__mac_init(&mac, (const uint8_t *)secret, strlen(secret)), 0);
    tp__env e = {.version = TP_PROTOCOL_VERSION, .type = TP_TYPE_APP,
                 .cluster = (const uint8_t *)"prod", .cluster_len = 4,
                 .sender = (const uint8_t *)sender, .sender_len = strlen(sender),
                 .dest = (const uint8_t *)dest, .dest_len = strlen(dest),
                 .epoch = 7, .nonce = 7, .echo = 0, .seq = seq, .sent_at_ms = 1,
                 .body = (const uint8_t *)"x", .body_len = 1};
    nng_msg *m;
    assert_int_equal(nng_msg_alloc(&m, tp__env_size(&e)), 0);
    assert_int_equal(tp__env_seal(&e, &mac, nng_msg_body(m), tp__env_size(&e)), 0);
    tp__mac_free(&mac);
    assert_int_equal(nng_sendmsg(s, m, 0), 0);
}


static void closed(void *arg) { *(int *)arg = 1; }

static void test_forged_sender_spends_no_line(void **state)
{
    (void)state;
    char json[1024], err[256] = "", dir[] = "/tmp/medic-drops-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int p1 = free_port(), p2 = free_port();
    snprintf(json, sizeof json,
             "{\"node\":{\"id\":\"n1\",\"data_dir\":\"%s\"},\"cluster\":{\"name\":\"prod\",\"secret\":\"%s\","
             "\"peers\":[{\"id\":\"n1\",\"address\":\"tcp://127.0.0.1:%d\"},{\"id\":\"n2\",\"address\":"
             "\"tcp://127.0.0.1:%d\"},{\"id\":\"n3\",\"address\":\"tcp://127.0.0.1:%d\"}]},"
             "\"services\":[{\"name\":\"a\",\"url\":\"http://127.0.0.1:9/\"}]}",
             dir, SECRET, p1, p2, p2 + 1);
    md_config *cfg = NULL;
    if (md_config_parse(json, strlen(json), "t.json", &cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    cluster_test_log log;
    cluster_test_log_start(&log);

    uv_loop_t loop;
    uv_loop_init(&loop);
    md_cluster *c = NULL;
    if (md_cluster_new(&loop, cfg, false, &c, err, sizeof err) != 0 || md_cluster_start(c, err, sizeof err) != 0)
        fail_msg("%s", err);

    nng_socket raw;
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", p1);
    assert_int_equal(nng_push0_open(&raw), 0);
    assert_int_equal(nng_dial(raw, url, NULL, 0), 0);
    seal_send(raw, "not-the-cluster-secret-at-all", "n2", "n1", 1); /* forged: claims n2 */
    cluster_test_run_ms(&loop, 300);
    seal_send(raw, SECRET, "n2", "n3", 2); /* n2's, really, but meant for n3: a replay */
    cluster_test_run_ms(&loop, 300);
    nng_close(raw);

    int done = 0;
    md_cluster_close(c, closed, &done);
    while (!done)
        uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    cluster_test_log_stop(&log);
    const char *logbuf = log.text;

    const char *forged = strstr(logbuf, "event=message_dropped peer=unknown claimed_peer=n2 reason=auth");
    const char *real = strstr(logbuf, "event=message_dropped peer=n2 reason=replay");
    if (!forged || !real)
        fail_msg("log was:\n%s", logbuf);
    free(log.text);
    md_config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_forged_sender_spends_no_line)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
