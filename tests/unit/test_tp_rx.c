/* test_tp_rx.c: the receive pipeline of an unstarted tp fed frames directly (tp__rx): unknown
 * senders, replays, older and newer epochs, malformed bodies, gossip apply, vouch, removal by a
 * complete set, our own items, and tp_new's configuration checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_tp_frames.h"
#include "tp_int.h"

/* ---- the receive pipeline of an unstarted tp ---- */

typedef struct {
    int messages, items, resets, removed, vouches, drops, states;
    tp_drop_reason last_drop;
    char last_key[TP_MAX_KEY_LEN + 1];
    char last_from[TP_MAX_ID_LEN + 1];
    uint64_t last_version;
    tp_peer_state last_state;
} rec;

static void on_message(void *ctx, const char *from, uint8_t type, const uint8_t *body, size_t len)
{
    rec *r = ctx;
    (void)type, (void)body, (void)len;
    r->messages++;
    snprintf(r->last_from, sizeof r->last_from, "%s", from);
}
static void on_state(void *ctx, const char *id, tp_peer_state from, tp_peer_state to)
{
    rec *r = ctx;
    (void)id, (void)from;
    r->states++;
    r->last_state = to;
}
static void on_item(void *ctx, const char *owner, const char *key, const uint8_t *val, size_t len, uint64_t version)
{
    rec *r = ctx;
    (void)owner, (void)val, (void)len;
    r->items++;
    r->last_version = version;
    snprintf(r->last_key, sizeof r->last_key, "%s", key);
}
static void on_vouch(void *ctx, const char *owner)
{
    (void)owner;
    ((rec *)ctx)->vouches++;
}
static void on_reset(void *ctx, const char *owner)
{
    (void)owner;
    ((rec *)ctx)->resets++;
}
static void on_removed(void *ctx, const char *owner, const char *key)
{
    rec *r = ctx;
    (void)owner;
    r->removed++;
    snprintf(r->last_key, sizeof r->last_key, "%s", key);
}
static void on_drop(void *ctx, const char *hint, tp_drop_reason why, const char *detail)
{
    rec *r = ctx;
    assert_non_null(hint);
    assert_non_null(detail);
    r->drops++;
    r->last_drop = why;
}

typedef struct {
    uv_loop_t loop;
    tp *t;
    rec r;
} fixture;

/* Node A of a three-node cluster (B and C), valid as it is; peers live as long as the program. */
static tp_config base_config(void)
{
    static const tp_peer_config peers[] = {{"B", "tcp://127.0.0.1:9"}, {"C", "tcp://127.0.0.1:9"}};
    return (tp_config){.cluster_name = CLUSTER,
                       .self_id = "A",
                       .listen = "tcp://127.0.0.1:9",
                       .peers = peers,
                       .n_peers = 2,
                       .secret = (const uint8_t *)SECRET,
                       .secret_len = strlen(SECRET),
                       .gossip_interval_ms = 100,
                       .peer_suspect_ms = 300,
                       .peer_dead_ms = 900,
                       .epoch = 1};
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    uv_loop_init(&f->loop);
    tp_config cfg = base_config();
    cfg.max_message_bytes = 4096;
    tp_callbacks cb = {.on_message = on_message,
                       .on_peer_state = on_state,
                       .on_gossip_item = on_item,
                       .on_gossip_vouch = on_vouch,
                       .on_gossip_reset = on_reset,
                       .on_gossip_removed = on_removed,
                       .on_drop = on_drop,
                       .ctx = &f->r};
    char err[256];
    assert_int_equal(tp_new(&f->loop, &cfg, &cb, &f->t, err, sizeof err), 0);
    *state = f;
    return 0;
}

static void closed(void *arg) { *(int *)arg = 1; }

static int teardown(void **state)
{
    fixture *f = *state;
    int done = 0;
    tp_close(f->t, closed, &done);
    assert_int_equal(done, 0); /* never inside tp_close */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(done, 1);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

/* feed seals o as a peer of this run would (echoing A's nonce unless o.echo says otherwise). */
static void feed(fixture *f, frame_opts o, const void *body, size_t len)
{
    uint8_t buf[4096];
    if (o.echo == 0) {
        o.echo = f->t->nonce;
    }
    size_t n = frame(buf, sizeof buf, o, body, len);
    tp__rx(f->t, buf, n);
}

static void test_rx_pipeline(void **state)
{
    fixture *f = *state;
    uint64_t drops[TP_DROP_COUNT];
    uint8_t buf[512];

    feed(f, opts("Z", 1, 1, 20), "x", 1);
    assert_int_equal(f->r.last_drop, TP_DROP_UNKNOWN_SENDER);
    feed(f, opts("A", 1, 1, 20), "x", 1); /* our own id is not a peer */
    assert_int_equal(f->r.last_drop, TP_DROP_UNKNOWN_SENDER);
    assert_int_equal(f->r.messages, 0);

    frame_opts o = opts("B", 10, 1, 20);
    o.echo = f->t->nonce;
    size_t n = frame(buf, sizeof buf, o, "hi", 2);
    tp__rx(f->t, buf, n);
    assert_int_equal(f->r.messages, 1);
    assert_string_equal(f->r.last_from, "B");
    assert_int_equal(f->r.last_state, TP_PEER_ALIVE);
    tp_peer_info info;
    assert_int_equal(tp_peer_get(f->t, 0, &info), 0);
    assert_int_equal(info.state, TP_PEER_ALIVE);
    assert_true(info.msgs_in == 1 && info.bytes_in == n && info.last_seen_ms > 0);

    int drops_before = f->r.drops;
    tp__rx(f->t, buf, n); /* the captured message again: a copy, as from the sender's other link */
    assert_int_equal(f->r.messages, 1);
    assert_int_equal(f->r.drops, drops_before); /* dropped, and not a drop to report */
    assert_int_equal(tp_peer_get(f->t, 0, &info), 0);
    assert_int_equal(info.dups_in, 1);

    feed(f, opts("B", 9, 50, 20), "x", 1); /* an older epoch */
    assert_int_equal(f->r.last_drop, TP_DROP_REPLAY);
    assert_int_equal(f->r.messages, 1);
    assert_int_equal(f->r.resets, 0);

    feed(f, opts("B", 11, 1, 20), "x", 1); /* B restarted */
    assert_int_equal(f->r.messages, 2);
    assert_int_equal(f->r.resets, 1);
    feed(f, opts("B", 10, 2, 20), "x", 1); /* its previous run is over */
    assert_int_equal(f->r.last_drop, TP_DROP_REPLAY);

    feed(f, opts("B", 11, 2, 9), NULL, 0); /* an internal type we do not know */
    assert_int_equal(f->r.last_drop, TP_DROP_MALFORMED);
    feed(f, opts("B", 11, 3, TP__PING), "short", 5);
    assert_int_equal(f->r.last_drop, TP_DROP_MALFORMED);

    tp__rx(f->t, (const uint8_t *)"\x01garbage", 8);
    assert_int_equal(f->r.last_drop, TP_DROP_MALFORMED);

    tp_drops(f->t, drops);
    assert_int_equal(drops[TP_DROP_UNKNOWN_SENDER], 2);
    assert_int_equal(drops[TP_DROP_REPLAY], 2);
    assert_int_equal(drops[TP_DROP_MALFORMED], 3);
    assert_int_equal(drops[TP_DROP_AUTH], 0);
    assert_int_equal(f->r.drops, 7);
    assert_string_equal(tp_drop_reason_name(TP_DROP_SEND_QUEUE), "send_queue");
    assert_string_equal(tp_peer_state_name(TP_PEER_SUSPECT), "suspect");
}

/* The echo of our per-boot nonce: a message not addressed to this run is never accepted; it is
 * counted as a replay when stamped before this run began, and passed over quietly when stamped
 * after (its sender has not heard from us yet). Only a newer epoch changes the nonce we echo. */
static void test_rx_echo(void **state)
{
    fixture *f = *state;
    uint64_t drops[TP_DROP_COUNT];
    tp__peer *b = tp__peer_find(f->t, "B", 1);
    assert_non_null(b);

    frame_opts o = opts("B", 10, 1, 20);
    o.echo = f->t->nonce ^ 1; /* recorded from our previous run */
    feed(f, o, "old", 3);
    assert_int_equal(f->r.messages, 0);
    assert_int_equal(f->r.last_drop, TP_DROP_REPLAY);
    assert_int_equal(f->r.last_state, TP_PEER_UNKNOWN); /* no sign of life */
    assert_true(b->nonce_in == 10 && b->nonce_epoch == 10); /* but B's nonce is learnt */
    assert_int_equal(b->replay.known, false);

    o = opts("B", 10, 2, 20);
    o.echo = ~f->t->nonce; /* B has not heard from this run yet, stamped after we started */
    o.sent_at_ms = f->t->boot_ms + 5;
    feed(f, o, "hello", 5);
    assert_int_equal(f->r.messages, 0);
    tp_drops(f->t, drops);
    assert_int_equal(drops[TP_DROP_REPLAY], 1); /* not counted */

    feed(f, opts("B", 10, 1, 20), "now", 3); /* with our nonce: accepted, seq 1 was never used */
    assert_int_equal(f->r.messages, 1);
    assert_int_equal(f->r.last_state, TP_PEER_ALIVE);

    o = opts("B", 9, 5, 20); /* an older run of B cannot change what we echo */
    o.nonce = 99;
    feed(f, o, "x", 1);
    assert_true(b->nonce_in == 10 && b->nonce_epoch == 10);
    assert_int_equal(f->r.last_drop, TP_DROP_REPLAY);
    o = opts("B", 11, 1, 20); /* B restarted: new nonce */
    o.nonce = 1234;
    feed(f, o, "y", 1);
    assert_true(b->nonce_in == 1234 && b->nonce_epoch == 11);
    assert_int_equal(f->r.messages, 2);
}

static void feed_items(fixture *f, uint64_t seq, tp__items_hdr h, const char *const *keys, const uint64_t *vers)
{
    uint8_t body[1024];
    size_t len = items_body(body, sizeof body, h, keys, vers);
    feed(f, opts("B", 1, seq, TP__ITEMS), body, len);
}

static void feed_digest(fixture *f, uint64_t seq, uint32_t n, uint64_t hash)
{
    uint8_t body[12];
    ut_wr w;
    ut_wr_fixed(&w, body, sizeof body);
    tp__digest_encode(&w, n, hash);
    feed(f, opts("B", 1, seq, TP__DIGEST), body, w.len);
}

static void test_rx_gossip(void **state)
{
    fixture *f = *state;
    const char *k1[] = {"svc/api"}, *k2[] = {"svc/db"};
    const uint64_t v1[] = {1}, v2[] = {2}, v5[] = {5};
    tp__items_hdr push = {.n_chunks = 1, .count = 1};
    feed_items(f, 1, push, k1, v1);
    assert_int_equal(f->r.items, 1);
    assert_string_equal(f->r.last_key, "svc/api");
    feed_items(f, 2, push, k1, v1); /* same version: nothing new */
    assert_int_equal(f->r.items, 1);
    feed_items(f, 3, push, k1, v2);
    assert_int_equal(f->r.items, 2);
    assert_true(f->r.last_version == 2);
    feed_items(f, 4, push, k2, v5);
    assert_int_equal(f->r.items, 3);

    uint64_t hash = tp__item_hash("svc/api", 7, 2) ^ tp__item_hash("svc/db", 6, 5);
    feed_digest(f, 5, 2, hash);
    assert_int_equal(f->r.vouches, 1);
    feed_digest(f, 6, 2, hash ^ 1); /* mismatch: a pull (not connected here), no vouch */
    assert_int_equal(f->r.vouches, 1);
    feed_digest(f, 7, 3, hash);
    assert_int_equal(f->r.vouches, 1);

    /* a complete set in two chunks without svc/db: removal only once both chunks are in */
    tp__items_hdr c0 = {.complete = true, .sync_id = 77, .chunk = 0, .n_chunks = 2, .count = 1};
    tp__items_hdr c1 = {.complete = true, .sync_id = 77, .chunk = 1, .n_chunks = 2, .count = 0};
    feed_items(f, 8, c0, k1, v2);
    assert_int_equal(f->r.removed, 0);
    assert_int_equal(f->r.items, 3); /* svc/api v2 is not new */
    feed_items(f, 9, c1, NULL, NULL);
    assert_int_equal(f->r.removed, 1);
    assert_string_equal(f->r.last_key, "svc/db");
    feed_digest(f, 10, 1, tp__item_hash("svc/api", 7, 2));
    assert_int_equal(f->r.vouches, 2);

    /* a lost chunk: a later set starts over and nothing is removed by the broken one */
    tp__items_hdr d0 = {.complete = true, .sync_id = 78, .chunk = 0, .n_chunks = 2, .count = 0};
    feed_items(f, 11, d0, NULL, NULL);
    tp__items_hdr e0 = {.complete = true, .sync_id = 79, .chunk = 0, .n_chunks = 1, .count = 1};
    feed_items(f, 12, e0, k1, v2);
    assert_int_equal(f->r.removed, 1);

    /* a malformed ITEMS body changes nothing */
    uint8_t body[256];
    size_t len = items_body(body, sizeof body, push, k2, v5);
    body[len - 1] ^= 0; /* keep valid, then cut one byte */
    int drops_before = f->r.drops;
    feed(f, opts("B", 1, 13, TP__ITEMS), body, len - 1);
    assert_int_equal(f->r.drops, drops_before + 1);
    assert_int_equal(f->r.last_drop, TP_DROP_MALFORMED);
    assert_int_equal(f->r.items, 3);

    /* B restarts: its items are forgotten */
    assert_int_equal(f->t->peers[0].items.n, 1);
    feed(f, opts("B", 2, 1, TP_TYPE_APP), NULL, 0);
    assert_int_equal(f->r.resets, 1);
    assert_int_equal(f->t->peers[0].items.n, 0);
}

/* A digest that does not match makes us PULL; more mismatching digests while the answer is on
 * its way do not (a large set takes a while on a slow link), until it is overdue. */
static void test_one_pull_at_a_time(void **state)
{
    fixture *f = *state;
    tp__peer *b = &f->t->peers[0];
    b->connected = b->link[0].connected = true; /* nng queues what we send: no pipe is needed to count it */
    f->t->conn_checked_ms = uv_now(&f->loop);
    tp_peer_info info;
    feed_digest(f, 1, 3, 12345);
    tp_peer_get(f->t, 0, &info);
    uint64_t sent = info.msgs_out;
    assert_int_equal(sent, 1);
    feed_digest(f, 2, 3, 12345);
    feed_digest(f, 3, 3, 12345);
    tp_peer_get(f->t, 0, &info);
    assert_int_equal(info.msgs_out, sent); /* still waiting for the answer */
    tp__items_hdr done = {.complete = true, .sync_id = 5, .chunk = 0, .n_chunks = 1, .count = 0};
    feed_items(f, 4, done, NULL, NULL); /* the answer: an (empty) complete set */
    feed_digest(f, 5, 3, 12345);
    tp_peer_get(f->t, 0, &info);
    assert_int_equal(info.msgs_out, sent + 1); /* a new mismatch, a new PULL */
    b->pulled_ms -= TP__PULL_PATIENCE * f->t->gossip_ms; /* ... whose answer got lost */
    feed_digest(f, 6, 3, 12345);
    tp_peer_get(f->t, 0, &info);
    assert_int_equal(info.msgs_out, sent + 2);
}

static void test_own_items(void **state)
{
    fixture *f = *state;
    assert_int_equal(tp_gossip_set(f->t, "", "x", 1), -EINVAL);
    char longkey[TP_MAX_KEY_LEN + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(tp_gossip_set(f->t, longkey, "x", 1), -EINVAL);
    longkey[TP_MAX_KEY_LEN] = '\0';
    assert_int_equal(tp_gossip_set(f->t, longkey, "x", 1), 0);
    static uint8_t big[4096];
    assert_int_equal(tp_gossip_set(f->t, "big", big, sizeof big), -EMSGSIZE);
    assert_int_equal(tp_gossip_set(f->t, "k", "v1", 2), 0);
    uint64_t v = f->t->own_version;
    assert_int_equal(tp_gossip_set(f->t, "k", "v1", 2), 0); /* equal: no new version */
    assert_true(f->t->own_version == v);
    assert_int_equal(tp_gossip_set(f->t, "k", "v2", 2), 0);
    assert_true(f->t->own_version == v + 1);
    assert_int_equal(tp_gossip_remove(f->t, "k"), 0);
    assert_int_equal(tp_gossip_remove(f->t, "k"), -ENOENT);
    assert_int_equal(tp_gossip_set(f->t, "k", "v1", 2), 0); /* re-added: still a newer version */
    assert_true(f->t->own_version == v + 2);
    assert_int_equal(tp_gossip_set(f->t, "empty", NULL, 0), 0);
    assert_int_equal(f->t->own.n, 3);
    /* unstarted: sends are refused and counted */
    assert_int_equal(tp_send(f->t, "B", TP_TYPE_APP, "x", 1), -EAGAIN);
    assert_int_equal(tp_send(f->t, "Q", TP_TYPE_APP, "x", 1), -ENOENT);
    assert_int_equal(tp_send(f->t, "B", TP__PING, "x", 1), -EINVAL);
    assert_int_equal(tp_broadcast(f->t, TP_TYPE_APP, "x", 1), 0);
    uint64_t drops[TP_DROP_COUNT];
    tp_drops(f->t, drops);
    assert_int_equal(drops[TP_DROP_SEND_QUEUE], 3);
}

/* ---- configuration ---- */

static int try_new(tp_config cfg, char *err, size_t errlen)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    tp *t = NULL;
    int rc = tp_new(&loop, &cfg, NULL, &t, err, errlen);
    if (rc == 0) {
        tp_close(t, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    assert_int_equal(uv_loop_close(&loop), 0);
    return rc;
}

static void test_config_errors(void **state)
{
    (void)state;
    tp_config ok = base_config();
    char err[256];
    assert_int_equal(try_new(ok, err, sizeof err), 0);

    tp_config c = ok;
    c.secret_len = 15;
    assert_int_equal(try_new(c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "secret"));

    tp_peer_config dup[] = {{"B", "tcp://127.0.0.1:9"}, {"B", "tcp://127.0.0.1:10"}};
    c = ok;
    c.peers = dup;
    assert_int_equal(try_new(c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "peers[1].id"));

    tp_peer_config self[] = {{"A", "tcp://127.0.0.1:9"}};
    c = ok;
    c.peers = self;
    c.n_peers = 1;
    assert_int_equal(try_new(c, err, sizeof err), -EINVAL);

    tp_peer_config scheme[] = {{"B", "udp://127.0.0.1:9"}};
    c = ok;
    c.peers = scheme;
    c.n_peers = 1;
    assert_int_equal(try_new(c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "peers[0].address"));

    c = ok;
    c.listen = "tls+tcp://127.0.0.1:9";
    assert_int_equal(try_new(c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "tls"));

    c = ok;
    c.tls_cert_file = "/nonexistent/cert.pem";
    assert_int_equal(try_new(c, err, sizeof err), -EINVAL); /* one of three */

    c = ok;
    c.listen = "tls+tcp://127.0.0.1:9";
    c.tls_cert_file = "/nonexistent/cert.pem";
    c.tls_key_file = "/nonexistent/key.pem";
    c.tls_ca_file = "/nonexistent/ca.pem";
    assert_true(try_new(c, err, sizeof err) < 0);
    assert_non_null(strstr(err, "/nonexistent/cert.pem"));

    c = ok;
    c.peer_dead_ms = c.peer_suspect_ms;
    assert_int_equal(try_new(c, err, sizeof err), -EINVAL);
    c = ok;
    c.epoch = 0;
    assert_int_equal(try_new(c, err, sizeof err), -EINVAL);
    c = ok;
    c.max_message_bytes = 100;
    assert_int_equal(try_new(c, err, sizeof err), -EINVAL);
    c = ok;
    c.redial_min_ms = 500;
    c.redial_max_ms = 100;
    assert_int_equal(try_new(c, err, sizeof err), -EINVAL);
    c = ok;
    c.listen = "tcp://[::1";
    assert_true(try_new(c, err, sizeof err) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rx_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_gossip, setup, teardown),
cmocka_unit_test_setup_teardown(test_one_pull_at_a_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_own_items, setup, teardown),
        cmocka_unit_test(test_config_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nng_fini();
    return rc;
}
