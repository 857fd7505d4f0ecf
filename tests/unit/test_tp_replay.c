/* test_tp_replay.c: replay protection across a restart of the receiver (issue 11, item 4). Frames
 * that node B really sent to node A are captured on A's address, A is restarted (a new tp
 * instance with the same identity) while B is down, and the captured frames are replayed into the
 * new A from a raw nng socket: every one must be dropped and counted as `replay`, and B must
 * never look alive. Before the envelope carried the receiver's per-boot nonce, the new A, which
 * had forgotten B's replay window, accepted them all. Then B comes back and both converge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include "test_tp_util.h"

#define MAX_CAPTURED 64

static nng_msg *captured[MAX_CAPTURED];
static size_t n_captured;

static bool ab_alive(tpt_cluster *c, void *arg)
{
    (void)arg;
    return c->node[0].state_of[1] == TP_PEER_ALIVE && c->node[1].state_of[0] == TP_PEER_ALIVE &&
           tpt_peer(&c->node[0], "B").rtt_us > 0 && tpt_peer(&c->node[1], "A").rtt_us > 0;
}

static bool replays_counted(tpt_cluster *c, void *arg)
{
    return tpt_drops(&c->node[0], TP_DROP_REPLAY) >= *(size_t *)arg;
}

static void url_of(const tpt_cluster *c, int i, char *out, size_t cap)
{
    snprintf(out, cap, "tcp://127.0.0.1:%d", c->node[i].port);
}

/* capture listens on A's address while A is down and keeps what B sends there (B still echoes
 * the nonce of A's first run: these are the frames that run would have accepted). */
static void capture(tpt_cluster *c)
{
    nng_socket pull;
    char url[64];
    url_of(c, 0, url, sizeof url);
    assert_int_equal(nng_pull0_open(&pull), 0);
    assert_int_equal(nng_listen(pull, url, NULL, 0), 0);
    uint64_t deadline = uv_hrtime() + 5 * 1000000000ull;
    bool sent_app = false;
    while (n_captured < 12 && uv_hrtime() < deadline) {
        tpt_run_for(c, 20);
        if (!sent_app && tpt_peer(&c->node[1], "A").connected) {
            /* an application message and a gossip push too, not only pings and digests */
            sent_app = tp_send(c->node[1].t, "A", TP_TYPE_APP, "recorded", 8) == 0;
            assert_int_equal(tp_gossip_set(c->node[1].t, "k", "v", 1), 0);
        }
        nng_msg *m;
        while (n_captured < MAX_CAPTURED && nng_recvmsg(pull, &m, NNG_FLAG_NONBLOCK) == 0) {
            captured[n_captured++] = m;
        }
    }
    assert_true(sent_app);
    assert_true(n_captured >= 12);
    nng_close(pull);
}

static void replay_all(tpt_cluster *c)
{
    nng_socket push;
    char url[64];
    url_of(c, 0, url, sizeof url);
    assert_int_equal(nng_push0_open(&push), 0);
    nng_socket_set_int(push, NNG_OPT_SENDBUF, MAX_CAPTURED);
    assert_int_equal(nng_dial(push, url, NULL, 0), 0);
    for (size_t i = 0; i < n_captured; i++) {
        nng_msg *m;
        assert_int_equal(nng_msg_dup(&m, captured[i]), 0);
        assert_int_equal(nng_sendmsg(push, m, 0), 0);
    }
    size_t want = n_captured;
    assert_true(tpt_run_until(c, replays_counted, &want, 5000));
    tpt_run_for(c, 200); /* nothing else may arrive late and count */
    nng_close(push);
}

static void test_replay_across_restart(void **state)
{
    (void)state;
    tpt_cluster c;
    tpt_init(&c, 2, 50, 200, 500);
    tpt_start(&c, 0, 1);
    tpt_start(&c, 1, 1);
    assert_true(tpt_run_until(&c, ab_alive, NULL, 5000));

    tpt_stop(&c, 0);
    capture(&c);
    tpt_stop(&c, 1); /* n2 is down from here on */

    /* A restarts: same identity, same address, a fresh instance with no replay windows. */
    tpt_start(&c, 0, 2);
    int messages = c.node[0].messages; /* the harness's records span both runs */
    size_t items = c.node[0].n_items;
    replay_all(&c);
    assert_int_equal(tpt_drops(&c.node[0], TP_DROP_REPLAY), n_captured);
    assert_int_equal(c.node[0].state_of[1], TP_PEER_UNKNOWN); /* B never looked alive */
    assert_int_equal(tpt_peer(&c.node[0], "B").msgs_in, 0);
    assert_int_equal(c.node[0].messages, messages);
    assert_int_equal(c.node[0].n_items, items);
    assert_int_equal(tpt_drops(&c.node[0], TP_DROP_AUTH) + tpt_drops(&c.node[0], TP_DROP_MALFORMED), 0);

    /* B really comes back: the two exchange nonces and converge at once. */
    tpt_start(&c, 1, 2);
    assert_true(tpt_run_until(&c, ab_alive, NULL, 5000));
    /* ... and the recording is still refused by the running A. */
    uint64_t before = tpt_drops(&c.node[0], TP_DROP_REPLAY);
    messages = c.node[0].messages;
    replay_all(&c);
    assert_true(tpt_drops(&c.node[0], TP_DROP_REPLAY) >= before + n_captured);
    assert_int_equal(c.node[0].messages, messages);

    for (size_t i = 0; i < n_captured; i++) {
        nng_msg_free(captured[i]);
    }
    n_captured = 0;
    tpt_fini(&c);
}

/* A restart of the receiver alone while the sender stays up: the sender's first frames echo the
 * old nonce and are refused, then the nonces are exchanged and the link is alive again within a
 * few gossip intervals (not only after a full liveness timeout). */
static void test_restart_reconverges(void **state)
{
    (void)state;
    tpt_cluster c;
    tpt_init(&c, 2, 50, 200, 500);
    tpt_start(&c, 0, 1);
    tpt_start(&c, 1, 1);
    assert_true(tpt_run_until(&c, ab_alive, NULL, 5000));
    tpt_stop(&c, 0);
    tpt_start(&c, 0, 2);
    assert_true(tpt_run_until(&c, ab_alive, NULL, 3000));
    assert_int_equal(tp_gossip_set(c.node[0].t, "k", "v", 1), 0);
    assert_int_equal(tp_send(c.node[0].t, "B", TP_TYPE_APP, "hello", 5), 0);
    tpt_run_for(&c, 200);
    assert_non_null(tpt_find_item(&c.node[1], "A", "k"));
    assert_string_equal(c.node[1].last_msg, "hello");
    tpt_fini(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_across_restart),
        cmocka_unit_test(test_restart_reconverges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
