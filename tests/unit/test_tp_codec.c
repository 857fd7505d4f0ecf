/* test_tp_codec.c: the transport's codecs without sockets: reader/writer, envelope sealing and
 * every check on a received frame (truncation, HMAC, cluster, sender, destination, replay, epoch,
 * size, version), replay windows, body decoders, item tables, and the receive pipeline of an
 * unstarted tp fed frames directly (tp__rx), including gossip apply, vouch and removal. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tp_int.h"

#define SECRET "0123456789abcdef-secret"
#define CLUSTER "prod"

/* ---- helpers ---- */

typedef struct {
    uint8_t version, type;
    const char *secret, *cluster, *sender, *dest;
    uint64_t epoch, seq;
} frame_opts;

static frame_opts opts(const char *sender, uint64_t epoch, uint64_t seq, uint8_t type)
{
    return (frame_opts){.version = TP_PROTOCOL_VERSION,
                        .type = type,
                        .secret = SECRET,
                        .cluster = CLUSTER,
                        .sender = sender,
                        .dest = "A",
                        .epoch = epoch,
                        .seq = seq};
}

/* frame seals body into out as o describes; returns its length. */
static size_t frame(uint8_t *out, size_t cap, frame_opts o, const void *body, size_t len)
{
    tp__mac mac;
    assert_int_equal(tp__mac_init(&mac, (const uint8_t *)o.secret, strlen(o.secret)), 0);
    tp__env e = {.version = o.version,
                 .type = o.type,
                 .cluster = (const uint8_t *)o.cluster,
                 .cluster_len = strlen(o.cluster),
                 .sender = (const uint8_t *)o.sender,
                 .sender_len = strlen(o.sender),
                 .dest = (const uint8_t *)o.dest,
                 .dest_len = strlen(o.dest),
                 .epoch = o.epoch,
                 .seq = o.seq,
                 .sent_at_ms = 1700000000000,
                 .body = body,
                 .body_len = len};
    assert_int_equal(tp__env_seal(&e, &mac, out, cap), 0);
    tp__mac_free(&mac);
    return tp__env_size(&e);
}

typedef struct {
    tp__mac mac;
    tp__verifier v;
} verifier;

static void verifier_init(verifier *vf, size_t max)
{
    assert_int_equal(tp__mac_init(&vf->mac, (const uint8_t *)SECRET, strlen(SECRET)), 0);
    vf->v = (tp__verifier){.mac = &vf->mac, .cluster = CLUSTER, .self_id = "A", .max_bytes = max};
}

/* open_why returns -1 when the frame passes, else its drop reason. */
static int open_why(verifier *vf, const uint8_t *buf, size_t len)
{
    tp__env e;
    tp_drop_reason why = TP_DROP_COUNT;
    const char *detail = NULL;
    int rc = tp__env_open(&vf->v, buf, len, &e, &why, &detail);
    if (rc == 0) {
        return -1;
    }
    assert_int_equal(rc, -EBADMSG);
    assert_non_null(detail);
    return (int)why;
}

/* ---- reader, writer, envelope ---- */

static void test_reader_writer(void **state)
{
    (void)state;
    tp__wr w;
    tp__wr_init(&w, 1 << 20);
    tp__wr_u8(&w, 0xab);
    tp__wr_u32(&w, 0x01020304);
    tp__wr_u64(&w, 0x1122334455667788ULL);
    tp__wr_bytes(&w, "xyz", 3);
    assert_false(w.bad);
    assert_int_equal(w.len, 16);
    assert_int_equal(w.p[1], 0x04); /* little-endian */

    tp__rd r;
    tp__rd_init(&r, w.p, w.len);
    assert_int_equal(tp__rd_u8(&r), 0xab);
    assert_int_equal(tp__rd_u32(&r), 0x01020304);
    assert_true(tp__rd_u64(&r) == 0x1122334455667788ULL);
    assert_memory_equal(tp__rd_bytes(&r, 3), "xyz", 3);
    assert_true(tp__rd_done(&r));
    assert_null(tp__rd_bytes(&r, 1));
    assert_true(r.bad);
    assert_int_equal(tp__rd_u32(&r), 0);
    tp__wr_free(&w);

    uint8_t small[4];
    tp__wr_fixed(&w, small, sizeof small);
    tp__wr_u32(&w, 7);
    assert_false(w.bad);
    tp__wr_u8(&w, 1);
    assert_true(w.bad); /* a fixed writer never writes past its buffer */

    tp__wr_init(&w, 10); /* a growing writer stops at its max */
    tp__wr_u64(&w, 1);
    tp__wr_u32(&w, 1);
    assert_true(w.bad);
    tp__wr_free(&w);
}

static void test_envelope_round_trip(void **state)
{
    (void)state;
    verifier vf;
    verifier_init(&vf, 4096);
    uint8_t buf[512];
    size_t n = frame(buf, sizeof buf, opts("B", 42, 7, 20), "hello", 5);
    tp__env e;
    tp_drop_reason why;
    const char *detail;
    assert_int_equal(tp__env_open(&vf.v, buf, n, &e, &why, &detail), 0);
    assert_int_equal(e.version, TP_PROTOCOL_VERSION);
    assert_int_equal(e.type, 20);
    assert_int_equal(e.sender_len, 1);
    assert_memory_equal(e.sender, "B", 1);
    assert_memory_equal(e.dest, "A", 1);
    assert_memory_equal(e.cluster, CLUSTER, strlen(CLUSTER));
    assert_true(e.epoch == 42 && e.seq == 7 && e.sent_at_ms == 1700000000000);
    assert_int_equal(e.body_len, 5);
    assert_memory_equal(e.body, "hello", 5);
    /* empty body too */
    n = frame(buf, sizeof buf, opts("B", 42, 8, TP__PULL), NULL, 0);
    assert_int_equal(open_why(&vf, buf, n), -1);
    tp__mac_free(&vf.mac);
}

static void test_envelope_truncations(void **state)
{
    (void)state;
    verifier vf;
    verifier_init(&vf, 4096);
    uint8_t buf[512];
    size_t n = frame(buf, sizeof buf, opts("B", 1, 1, 20), "payload", 7);
    for (size_t k = 0; k < n; k++) {
        /* an exact-size heap copy, so ASan catches any read past the end */
        uint8_t *copy = malloc(k ? k : 1);
        memcpy(copy, buf, k);
        assert_int_equal(open_why(&vf, copy, k), TP_DROP_MALFORMED);
        free(copy);
    }
    buf[n] = 0;
    assert_int_equal(open_why(&vf, buf, n + 1), TP_DROP_MALFORMED); /* trailing byte */
    tp__mac_free(&vf.mac);
}

static void test_envelope_byte_flips(void **state)
{
    (void)state;
    verifier vf;
    verifier_init(&vf, 4096);
    uint8_t buf[512];
    size_t n = frame(buf, sizeof buf, opts("B", 1, 1, 20), "payload", 7);
    size_t clen = strlen(CLUSTER);
    /* offsets of the fields that give the structure: version, lengths */
    size_t structural[] = {0, 2, 3 + clen, 3 + clen + 1 + 1, 3 + clen + 2 + 1 + 1 + 24};
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t)(1u << bit);
            int why = open_why(&vf, buf, n);
            buf[i] ^= (uint8_t)(1u << bit);
            assert_int_not_equal(why, -1);
            bool is_structural = false;
            for (size_t s = 0; s < sizeof structural / sizeof structural[0]; s++) {
                size_t width = s == 4 ? 4 : 1;
                is_structural |= i >= structural[s] && i < structural[s] + width;
            }
            if (!is_structural) {
                assert_int_equal(why, TP_DROP_AUTH);
            }
        }
    }
    assert_int_equal(open_why(&vf, buf, n), -1);
    tp__mac_free(&vf.mac);
}

static void test_envelope_rejections(void **state)
{
    (void)state;
    verifier vf;
    verifier_init(&vf, 1024);
    uint8_t buf[2048];
    frame_opts o = opts("B", 1, 1, 20);
    o.secret = "another-secret-of-16+";
    assert_int_equal(open_why(&vf, buf, frame(buf, sizeof buf, o, "x", 1)), TP_DROP_AUTH);
    o = opts("B", 1, 1, 20);
    o.cluster = "staging";
    assert_int_equal(open_why(&vf, buf, frame(buf, sizeof buf, o, "x", 1)), TP_DROP_WRONG_CLUSTER);
    o = opts("B", 1, 1, 20);
    o.dest = "C";
    assert_int_equal(open_why(&vf, buf, frame(buf, sizeof buf, o, "x", 1)), TP_DROP_REPLAY);
    o = opts("B", 1, 1, 20);
    o.version = 2;
    assert_int_equal(open_why(&vf, buf, frame(buf, sizeof buf, o, "x", 1)), TP_DROP_VERSION);
    o.version = 0;
    assert_int_equal(open_why(&vf, buf, frame(buf, sizeof buf, o, "x", 1)), TP_DROP_MALFORMED);
    o = opts("B", 1, 0, 20);
    assert_int_equal(open_why(&vf, buf, frame(buf, sizeof buf, o, "x", 1)), TP_DROP_MALFORMED);
    static uint8_t big[1100];
    o = opts("B", 1, 1, 20);
    assert_int_equal(open_why(&vf, buf, frame(buf, sizeof buf, o, big, sizeof big)), TP_DROP_TOO_LARGE);
    assert_int_equal(open_why(&vf, (const uint8_t *)"garbage", 7), TP_DROP_MALFORMED);
    tp__mac_free(&vf.mac);
}

/* ---- replay windows ---- */

static void test_replay_window(void **state)
{
    (void)state;
    tp__replay r = {0};
    assert_int_equal(tp__replay_accept(&r, 5, 10), TP__RP_FIRST);
    assert_int_equal(tp__replay_accept(&r, 5, 10), TP__RP_REPLAY);
    assert_int_equal(tp__replay_accept(&r, 5, 12), TP__RP_OK);
    assert_int_equal(tp__replay_accept(&r, 5, 11), TP__RP_OK); /* reordered, once */
    assert_int_equal(tp__replay_accept(&r, 5, 11), TP__RP_REPLAY);
    assert_int_equal(tp__replay_accept(&r, 5, 0), TP__RP_REPLAY);
    assert_int_equal(tp__replay_accept(&r, 5, 12 + 127), TP__RP_OK);
    assert_int_equal(tp__replay_accept(&r, 5, 12), TP__RP_REPLAY);     /* seen, at the window's edge */
    assert_int_equal(tp__replay_accept(&r, 5, 11), TP__RP_REPLAY);     /* below the window */
    assert_int_equal(tp__replay_accept(&r, 5, 13), TP__RP_OK);         /* unseen, inside */
    assert_int_equal(tp__replay_accept(&r, 5, 1000), TP__RP_OK);       /* a jump clears the window */
    assert_int_equal(tp__replay_accept(&r, 5, 1000 - 64), TP__RP_OK);  /* word boundary */
    assert_int_equal(tp__replay_accept(&r, 5, 1000 - 64), TP__RP_REPLAY);
    assert_int_equal(tp__replay_accept(&r, 5, 1065), TP__RP_OK);       /* shift by 65 keeps 936 */
    assert_int_equal(tp__replay_accept(&r, 5, 1000 - 64), TP__RP_REPLAY);
    assert_int_equal(tp__replay_accept(&r, 5, 1000), TP__RP_REPLAY);
    assert_int_equal(tp__replay_accept(&r, 4, 5000), TP__RP_REPLAY);   /* older epoch */
    assert_int_equal(tp__replay_accept(&r, 6, 1), TP__RP_NEW_EPOCH);
    assert_int_equal(tp__replay_accept(&r, 6, 1), TP__RP_REPLAY);
    assert_int_equal(tp__replay_accept(&r, 5, 5000), TP__RP_REPLAY);
    /* every sequence in a long shuffled run is accepted exactly once */
    tp__replay q = {0};
    assert_int_equal(tp__replay_accept(&q, 1, 1), TP__RP_FIRST);
    for (uint64_t base = 2; base < 2000; base += 16) {
        for (uint64_t k = 0; k < 16; k++) {
            uint64_t s = base + (k * 7) % 16; /* a permutation of the block */
            assert_int_equal(tp__replay_accept(&q, 1, s), TP__RP_OK);
            assert_int_equal(tp__replay_accept(&q, 1, s), TP__RP_REPLAY);
        }
    }
}

/* ---- bodies ---- */

static size_t items_body(uint8_t *out, size_t cap, tp__items_hdr h, const char *const *keys, const uint64_t *versions)
{
    tp__wr w;
    tp__wr_fixed(&w, out, cap);
    tp__items_encode_hdr(&w, &h);
    for (uint32_t i = 0; i < h.count; i++) {
        tp__items_encode_item(&w, keys[i], strlen(keys[i]), versions[i], keys[i], strlen(keys[i]));
    }
    assert_false(w.bad);
    return w.len;
}

static void test_body_decoders(void **state)
{
    (void)state;
    uint8_t b[64] = {0};
    uint64_t t;
    uint32_t n;
    uint64_t h;
    assert_int_equal(tp__ping_decode(b, 8, &t), 0);
    assert_int_equal(tp__ping_decode(b, 7, &t), -EBADMSG);
    assert_int_equal(tp__ping_decode(b, 9, &t), -EBADMSG);
    assert_int_equal(tp__digest_decode(b, 12, &n, &h), 0);
    assert_int_equal(tp__digest_decode(b, 11, &n, &h), -EBADMSG);
    assert_int_equal(tp__digest_decode(b, 13, &n, &h), -EBADMSG);
    assert_int_equal(tp__pull_decode(b, 0), 0);
    assert_int_equal(tp__pull_decode(b, 1), -EBADMSG);

    uint8_t buf[512];
    const char *keys[] = {"svc/api", "svc/db"};
    const uint64_t vers[] = {3, 9};
    tp__items_hdr hdr = {.complete = true, .sync_id = 4, .chunk = 1, .n_chunks = 2, .count = 2};
    size_t len = items_body(buf, sizeof buf, hdr, keys, vers);
    tp__items_it it;
    assert_int_equal(tp__items_open(&it, buf, len), 0);
    assert_true(it.hdr.complete && it.hdr.sync_id == 4 && it.hdr.chunk == 1 && it.hdr.n_chunks == 2);
    tp__wire_item wi;
    assert_true(tp__items_next(&it, &wi));
    assert_string_equal(wi.key, "svc/api");
    assert_true(wi.version == 3 && wi.vlen == 7);
    assert_memory_equal(wi.val, "svc/api", 7);
    assert_true(tp__items_next(&it, &wi));
    assert_string_equal(wi.key, "svc/db");
    assert_false(tp__items_next(&it, &wi));

    for (size_t k = 0; k < len; k++) { /* every truncation */
        assert_int_equal(tp__items_open(&it, buf, k), -EBADMSG);
    }
    buf[len] = 0;
    assert_int_equal(tp__items_open(&it, buf, len + 1), -EBADMSG); /* trailing */

    uint8_t bad[512];
    memcpy(bad, buf, len);
    bad[13] = 3; /* count 3, only 2 present */
    assert_int_equal(tp__items_open(&it, bad, len), -EBADMSG);
    memcpy(bad, buf, len);
    bad[0] = 2; /* complete flag neither 0 nor 1 */
    assert_int_equal(tp__items_open(&it, bad, len), -EBADMSG);
    memcpy(bad, buf, len);
    bad[5] = 2; /* chunk 2 of 2 */
    assert_int_equal(tp__items_open(&it, bad, len), -EBADMSG);
    memcpy(bad, buf, len);
    memset(bad + 5, 0, 8); /* chunk 0 of 0 */
    assert_int_equal(tp__items_open(&it, bad, len), -EBADMSG);
    memcpy(bad, buf, len);
    bad[TP__ITEMS_HDR_LEN + 1 + 3] = '\0'; /* NUL inside a key */
    assert_int_equal(tp__items_open(&it, bad, len), -EBADMSG);
    memcpy(bad, buf, len);
    memset(bad + TP__ITEMS_HDR_LEN + 1 + 7, 0, 8); /* version 0 */
    assert_int_equal(tp__items_open(&it, bad, len), -EBADMSG);
    memcpy(bad, buf, len);
    bad[TP__ITEMS_HDR_LEN] = 0; /* empty key */
    assert_int_equal(tp__items_open(&it, bad, len), -EBADMSG);

    char longkey[TP_MAX_KEY_LEN + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    tp__wr w;
    tp__wr_fixed(&w, bad, sizeof bad);
    tp__items_hdr one = {.n_chunks = 1, .count = 1};
    tp__items_encode_hdr(&w, &one);
    tp__wr_u8(&w, TP_MAX_KEY_LEN + 1);
    tp__wr_bytes(&w, longkey, TP_MAX_KEY_LEN + 1);
    tp__wr_u64(&w, 1);
    tp__wr_u32(&w, 0);
    assert_int_equal(tp__items_open(&it, w.p, w.len), -EBADMSG);

    /* a huge count with no items is rejected without looping on it */
    tp__wr_fixed(&w, bad, sizeof bad);
    tp__items_hdr huge = {.n_chunks = 1, .count = UINT32_MAX};
    tp__items_encode_hdr(&w, &huge);
    assert_int_equal(tp__items_open(&it, w.p, w.len), -EBADMSG);
}

/* ---- item tables ---- */

static uint64_t recompute(const tp__kv *kv)
{
    uint64_t h = 0;
    for (size_t i = 0; i < kv->n; i++) {
        h ^= tp__item_hash(kv->v[i].key, kv->v[i].klen, kv->v[i].version);
        if (i > 0) {
            assert_true(strcmp(kv->v[i - 1].key, kv->v[i].key) < 0);
        }
    }
    return h;
}

static void test_kv(void **state)
{
    (void)state;
    tp__kv kv = {0};
    char key[32];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%d", (i * 37) % 300);
        assert_int_equal(tp__kv_set(&kv, key, strlen(key), (uint64_t)i + 1, key, strlen(key), 0), 0);
    }
    assert_int_equal(kv.n, 300);
    assert_true(kv.hash == recompute(&kv));
    size_t pos;
    tp__item *it = tp__kv_find(&kv, "k5", 2, &pos);
    assert_non_null(it);
    assert_int_equal(tp__kv_set(&kv, "k5", 2, 1000, NULL, 0, 0), 0);
    it = tp__kv_find(&kv, "k5", 2, &pos);
    assert_true(it->version == 1000 && it->vlen == 0 && it->val == NULL);
    assert_int_equal(kv.n, 300);
    assert_true(kv.hash == recompute(&kv));
    tp__kv_remove_at(&kv, pos);
    assert_null(tp__kv_find(&kv, "k5", 2, &pos));
    assert_true(kv.hash == recompute(&kv));
    uint64_t h1 = kv.hash;
    assert_int_equal(tp__kv_set(&kv, "k5", 2, 7, "v", 1, 0), 0);
    assert_true(kv.hash != h1);
    assert_true(tp__item_hash("k5", 2, 7) != tp__item_hash("k5", 2, 8));
    assert_true(tp__item_hash("k5", 2, 7) != tp__item_hash("k6", 2, 7));
    tp__kv_clear(&kv);
    assert_int_equal(kv.n, 0);
    assert_true(kv.hash == 0);
}

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

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    uv_loop_init(&f->loop);
    tp_peer_config peers[] = {{"B", "tcp://127.0.0.1:9"}, {"C", "tcp://127.0.0.1:9"}};
    tp_config cfg = {.cluster_name = CLUSTER,
                     .self_id = "A",
                     .listen = "tcp://127.0.0.1:9",
                     .peers = peers,
                     .n_peers = 2,
                     .secret = (const uint8_t *)SECRET,
                     .secret_len = strlen(SECRET),
                     .max_message_bytes = 4096,
                     .gossip_interval_ms = 100,
                     .peer_suspect_ms = 300,
                     .peer_dead_ms = 900,
                     .epoch = 1};
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

static void feed(fixture *f, frame_opts o, const void *body, size_t len)
{
    uint8_t buf[4096];
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

    size_t n = frame(buf, sizeof buf, opts("B", 10, 1, 20), "hi", 2);
    tp__rx(f->t, buf, n);
    assert_int_equal(f->r.messages, 1);
    assert_string_equal(f->r.last_from, "B");
    assert_int_equal(f->r.last_state, TP_PEER_ALIVE);
    tp_peer_info info;
    assert_int_equal(tp_peer_get(f->t, 0, &info), 0);
    assert_int_equal(info.state, TP_PEER_ALIVE);
    assert_true(info.msgs_in == 1 && info.bytes_in == n && info.last_seen_ms > 0);

    tp__rx(f->t, buf, n); /* the captured message again */
    assert_int_equal(f->r.last_drop, TP_DROP_REPLAY);
    assert_int_equal(f->r.messages, 1);

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
    assert_int_equal(drops[TP_DROP_REPLAY], 3);
    assert_int_equal(drops[TP_DROP_MALFORMED], 3);
    assert_int_equal(drops[TP_DROP_AUTH], 0);
    assert_int_equal(f->r.drops, 8);
    assert_string_equal(tp_drop_reason_name(TP_DROP_SEND_QUEUE), "send_queue");
    assert_string_equal(tp_peer_state_name(TP_PEER_SUSPECT), "suspect");
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
    tp__wr w;
    tp__wr_fixed(&w, body, sizeof body);
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
    tp_peer_config peers[] = {{"B", "tcp://127.0.0.1:9"}, {"C", "tcp://127.0.0.1:9"}};
    tp_config ok = {.cluster_name = CLUSTER,
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
        cmocka_unit_test(test_reader_writer),
        cmocka_unit_test(test_envelope_round_trip),
        cmocka_unit_test(test_envelope_truncations),
        cmocka_unit_test(test_envelope_byte_flips),
        cmocka_unit_test(test_envelope_rejections),
        cmocka_unit_test(test_replay_window),
        cmocka_unit_test(test_body_decoders),
        cmocka_unit_test(test_kv),
        cmocka_unit_test_setup_teardown(test_rx_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_gossip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_own_items, setup, teardown),
        cmocka_unit_test(test_config_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nng_fini();
    return rc;
}
