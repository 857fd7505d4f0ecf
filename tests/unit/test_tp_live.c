/* test_tp_live.c: three transports on loopback form a mesh: application messages both ways and
 * by broadcast, liveness (ALIVE with a round trip, then SUSPECT and DEAD within the configured
 * times after one stops), and a restart with a larger epoch on the same port: redialled without
 * restarting the others, gossip reset for it, and everyone's items pulled by the newcomer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>

#include "test_tp_util.h"

#define GOSSIP_MS 50
#define SUSPECT_MS 200
#define DEAD_MS 500

static bool got_messages(tpt_cluster *c, void *arg)
{
    const int *want = arg; /* per node */
    for (int i = 0; i < c->n; i++) {
        if (c->node[i].messages < want[i]) {
            return false;
        }
    }
    return true;
}

static void test_mesh_messages(void **state)
{
    (void)state;
    tpt_cluster c;
    tpt_init(&c, 3, GOSSIP_MS, SUSPECT_MS, DEAD_MS);
    for (int i = 0; i < 3; i++) {
        tpt_start(&c, i, 100);
    }
    assert_true(tpt_run_until(&c, tpt_all_alive, NULL, 5000));
    tp_peer_info ab = tpt_peer(&c.node[0], "B");
    assert_true(ab.rtt_us > 0 && ab.rtt_us < 1000000);
    assert_true(ab.connected && ab.msgs_in > 0 && ab.msgs_out > 0 && ab.bytes_in > 0);
    print_message("rtt A->B %lld us\n", (long long)ab.rtt_us);

    assert_int_equal(tp_send(c.node[0].t, "B", TP_TYPE_APP + 4, "to B", 4), 0);
    int want1[3] = {0, 1, 0};
    assert_true(tpt_run_until(&c, got_messages, want1, 2000));
    assert_string_equal(c.node[1].last_from, "A");
    assert_string_equal(c.node[1].last_msg, "to B");
    assert_int_equal(c.node[1].last_type, TP_TYPE_APP + 4);

    assert_int_equal(tp_send(c.node[1].t, "A", TP_TYPE_APP, "to A", 4), 0);
    int want2[3] = {1, 1, 0};
    assert_true(tpt_run_until(&c, got_messages, want2, 2000));
    assert_string_equal(c.node[0].last_from, "B");
    assert_string_equal(c.node[0].last_msg, "to A");

    assert_int_equal(tp_broadcast(c.node[2].t, TP_TYPE_APP + 1, "all", 3), 2);
    int want3[3] = {2, 2, 0};
    assert_true(tpt_run_until(&c, got_messages, want3, 2000));
    assert_string_equal(c.node[0].last_from, "C");
    assert_string_equal(c.node[1].last_msg, "all");
    assert_int_equal(c.node[2].messages, 0); /* not to itself */

    /* a burst of 200 sends in one loop turn all arrive, in order of acceptance */
    int accepted = 0;
    char body[32];
    for (int k = 0; k < 200; k++) {
        snprintf(body, sizeof body, "m%d", k);
        accepted += tp_send(c.node[0].t, "C", TP_TYPE_APP, body, strlen(body)) == 0;
    }
    assert_int_equal(accepted, 200);
    int want4[3] = {2, 2, 200};
    assert_true(tpt_run_until(&c, got_messages, want4, 3000));
    assert_string_equal(c.node[2].last_msg, "m199");

    for (int i = 0; i < 3; i++) {
        for (int r = 0; r < TP_DROP_COUNT; r++) {
            assert_int_equal(tpt_drops(&c.node[i], (tp_drop_reason)r), 0);
        }
    }
    assert_int_equal(tp_send(c.node[0].t, "Z", TP_TYPE_APP, "x", 1), -ENOENT);
    tpt_fini(&c);
}

static bool c_dead_for_ab(tpt_cluster *c, void *arg)
{
    (void)arg;
    return c->node[0].state_of[2] == TP_PEER_DEAD && c->node[1].state_of[2] == TP_PEER_DEAD;
}

static bool have_item(const tpt_node *n, const char *owner, const char *key, const char *val)
{
    const tpt_item *it = tpt_find_item(n, owner, key);
    return it != NULL && strcmp(it->val, val) == 0;
}

static bool items_everywhere(tpt_cluster *c, void *arg)
{
    (void)arg;
    return have_item(&c->node[1], "A", "a1", "1") && have_item(&c->node[2], "A", "a1", "1") &&
           have_item(&c->node[0], "B", "b1", "1") && have_item(&c->node[2], "B", "b1", "1") &&
           have_item(&c->node[0], "C", "c1", "1") && have_item(&c->node[1], "C", "c1", "1");
}

static bool back_and_synced(tpt_cluster *c, void *arg)
{
    (void)arg;
    tpt_node *a = &c->node[0], *b = &c->node[1], *cc = &c->node[2];
    return tpt_all_alive(c, NULL) && have_item(cc, "A", "a1", "1") && have_item(cc, "A", "a2", "while C was down") &&
           have_item(cc, "B", "b1", "1") && have_item(a, "C", "c1", "again") && have_item(b, "C", "c1", "again");
}

static void test_down_and_back(void **state)
{
    (void)state;
    tpt_cluster c;
    tpt_init(&c, 3, GOSSIP_MS, SUSPECT_MS, DEAD_MS);
    for (int i = 0; i < 3; i++) {
        tpt_start(&c, i, 100);
    }
    assert_true(tpt_run_until(&c, tpt_all_alive, NULL, 5000));
    assert_int_equal(tp_gossip_set(c.node[0].t, "a1", "1", 1), 0);
    assert_int_equal(tp_gossip_set(c.node[1].t, "b1", "1", 1), 0);
    assert_int_equal(tp_gossip_set(c.node[2].t, "c1", "1", 1), 0);
    assert_true(tpt_run_until(&c, items_everywhere, NULL, 2000));

    uint64_t t0 = uv_hrtime();
    tpt_stop(&c, 2);
    assert_true(tpt_run_until(&c, c_dead_for_ab, NULL, 3000));
    for (int i = 0; i < 2; i++) {
        int64_t suspect_ms = (int64_t)(c.node[i].suspect_at_ns[2] - t0) / 1000000;
        int64_t dead_ms = (int64_t)(c.node[i].dead_at_ns[2] - t0) / 1000000;
        print_message("%s: C suspect after %lld ms, dead after %lld ms\n", c.node[i].id, (long long)suspect_ms,
                      (long long)dead_ms);
        /* last heard at most one ping interval before the stop; checked once per interval */
        assert_true(suspect_ms >= SUSPECT_MS - GOSSIP_MS - 10 && suspect_ms <= SUSPECT_MS + 2 * GOSSIP_MS + 300);
        assert_true(dead_ms >= DEAD_MS - GOSSIP_MS - 10 && dead_ms <= DEAD_MS + 2 * GOSSIP_MS + 300);
        assert_false(tpt_peer(&c.node[i], "C").connected);
    }
    /* a change C cannot receive now: the push is lost, the pull on its return repairs it */
    assert_int_equal(tp_gossip_set(c.node[0].t, "a2", "while C was down", 16), 0);
    tpt_run_for(&c, 3 * GOSSIP_MS);
    assert_int_equal(c.node[0].resets_from[2], 0);

    c.node[2].n_items = 0; /* the new process has no memory of the old one's records */
    tpt_start(&c, 2, 101);
    assert_int_equal(tp_gossip_set(c.node[2].t, "c1", "again", 5), 0);
    assert_true(tpt_run_until(&c, back_and_synced, NULL, 5000));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c.node[i].resets_from[2], 1);
        assert_int_equal(c.node[i].state_of[2], TP_PEER_ALIVE);
        /* after the reset the newcomer's versions start again from 1 */
        assert_true(tpt_find_item(&c.node[i], "C", "c1")->version == 1);
        assert_int_equal(tpt_drops(&c.node[i], TP_DROP_AUTH), 0);
        assert_int_equal(tpt_drops(&c.node[i], TP_DROP_REPLAY), 0);
    }
    assert_int_equal(c.node[2].resets_from[0], 0);
    tpt_fini(&c);
}

static void test_listen_in_use(void **state)
{
    (void)state;
    tpt_cluster c;
    tpt_init(&c, 2, GOSSIP_MS, SUSPECT_MS, DEAD_MS);
    tpt_start(&c, 0, 1);
    c.node[1].port = c.node[0].port;
    char err[256] = "";
    int rc = tpt_try_start(&c, 1, 1, err, sizeof err);
    assert_int_equal(rc, -EADDRINUSE);
    assert_non_null(strstr(err, "listen"));
    c.node[1].port = tpt_free_port();
    tpt_fini(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mesh_messages),
        cmocka_unit_test(test_down_and_back),
        cmocka_unit_test(test_listen_in_use),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nng_fini();
    return rc;
}
