/* test_tp_codec.c: the transport's codecs without sockets: reader/writer, envelope sealing and
 * every check on a received frame (truncation, HMAC bit flips, secret, cluster, destination, size,
 * version), replay windows, body decoders, and item tables. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "test_tp_frames.h"
#include "tp_int.h"

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
    ut_wr w;
    ut_wr_init(&w, 1 << 20);
    ut_wr_u8(&w, 0xab);
    ut_wr_u32(&w, 0x01020304);
    ut_wr_u64(&w, 0x1122334455667788ULL);
    ut_wr_bytes(&w, "xyz", 3);
    assert_false(w.bad);
    assert_int_equal(w.len, 16);
    assert_int_equal(w.p[1], 0x04); /* little-endian */

    ut_rd r;
    ut_rd_init(&r, w.p, w.len);
    assert_int_equal(ut_rd_u8(&r), 0xab);
    assert_int_equal(ut_rd_u32(&r), 0x01020304);
    assert_true(ut_rd_u64(&r) == 0x1122334455667788ULL);
    assert_memory_equal(ut_rd_bytes(&r, 3), "xyz", 3);
    assert_true(ut_rd_done(&r));
    assert_null(ut_rd_bytes(&r, 1));
    assert_true(r.bad);
    assert_int_equal(ut_rd_u32(&r), 0);
    ut_wr_free(&w);

    uint8_t small[4];
    ut_wr_fixed(&w, small, sizeof small);
    ut_wr_u32(&w, 7);
    assert_false(w.bad);
    ut_wr_u8(&w, 1);
    assert_true(w.bad); /* a fixed writer never writes past its buffer */

    ut_wr_init(&w, 10); /* a growing writer stops at its max */
    ut_wr_u64(&w, 1);
    ut_wr_u32(&w, 1);
    assert_true(w.bad);
    ut_wr_free(&w);
}

static void test_envelope_round_trip(void **state)
{
    (void)state;
    verifier vf;
    verifier_init(&vf, 4096);
    uint8_t buf[512];
    frame_opts o = opts("B", 42, 7, 20);
    o.nonce = 0x1122334455667788u;
    o.echo = 0x99aabbccddeeff00u;
    size_t n = frame(buf, sizeof buf, o, "hello", 5);
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
    assert_true(e.nonce == 0x1122334455667788u && e.echo == 0x99aabbccddeeff00u);
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
    size_t structural[] = {0, 2, 3 + clen, 3 + clen + 1 + 1, 3 + clen + 2 + 1 + 1 + 40};
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
    o.version = TP_PROTOCOL_VERSION + 1;
    assert_int_equal(open_why(&vf, buf, frame(buf, sizeof buf, o, "x", 1)), TP_DROP_VERSION);
    o.version = 0;
    assert_int_equal(open_why(&vf, buf, frame(buf, sizeof buf, o, "x", 1)), TP_DROP_MALFORMED);
    o.version = TP_PROTOCOL_VERSION - 1; /* a node not yet upgraded */
    assert_int_equal(open_why(&vf, buf, frame(buf, sizeof buf, o, "x", 1)), TP_DROP_VERSION);
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
    assert_int_equal(tp__replay_accept(&r, 5, 10), TP__RP_DUP);
    assert_int_equal(tp__replay_accept(&r, 5, 12), TP__RP_OK);
    assert_int_equal(tp__replay_accept(&r, 5, 11), TP__RP_OK); /* reordered, once */
    assert_int_equal(tp__replay_accept(&r, 5, 11), TP__RP_DUP);
    assert_int_equal(tp__replay_accept(&r, 5, 0), TP__RP_REPLAY);
    assert_int_equal(tp__replay_accept(&r, 5, 12 + 127), TP__RP_OK);
    assert_int_equal(tp__replay_accept(&r, 5, 12), TP__RP_DUP);        /* seen, at the window's edge */
    assert_int_equal(tp__replay_accept(&r, 5, 11), TP__RP_REPLAY);     /* below the window */
    assert_int_equal(tp__replay_accept(&r, 5, 13), TP__RP_OK);         /* unseen, inside */
    assert_int_equal(tp__replay_accept(&r, 5, 1000), TP__RP_OK);       /* a jump clears the window */
    assert_int_equal(tp__replay_accept(&r, 5, 1000 - 64), TP__RP_OK);  /* word boundary */
    assert_int_equal(tp__replay_accept(&r, 5, 1000 - 64), TP__RP_DUP);
    assert_int_equal(tp__replay_accept(&r, 5, 1065), TP__RP_OK);       /* shift by 65 keeps 936 */
    assert_int_equal(tp__replay_accept(&r, 5, 1000 - 64), TP__RP_REPLAY);
    assert_int_equal(tp__replay_accept(&r, 5, 1000), TP__RP_DUP);
    assert_int_equal(tp__replay_accept(&r, 4, 5000), TP__RP_REPLAY);   /* older epoch */
    assert_int_equal(tp__replay_accept(&r, 6, 1), TP__RP_NEW_EPOCH);
    assert_int_equal(tp__replay_accept(&r, 6, 1), TP__RP_DUP);
    assert_int_equal(tp__replay_accept(&r, 5, 5000), TP__RP_REPLAY);
    /* every sequence in a long shuffled run is accepted exactly once */
    tp__replay q = {0};
    assert_int_equal(tp__replay_accept(&q, 1, 1), TP__RP_FIRST);
    for (uint64_t base = 2; base < 2000; base += 16) {
        for (uint64_t k = 0; k < 16; k++) {
            uint64_t s = base + (k * 7) % 16; /* a permutation of the block */
            assert_int_equal(tp__replay_accept(&q, 1, s), TP__RP_OK);
            assert_int_equal(tp__replay_accept(&q, 1, s), TP__RP_DUP);
        }
    }
}

/* ---- bodies ---- */
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
    ut_wr w;
    ut_wr_fixed(&w, bad, sizeof bad);
    tp__items_hdr one = {.n_chunks = 1, .count = 1};
    tp__items_encode_hdr(&w, &one);
    ut_wr_u8(&w, TP_MAX_KEY_LEN + 1);
    ut_wr_bytes(&w, longkey, TP_MAX_KEY_LEN + 1);
    ut_wr_u64(&w, 1);
    ut_wr_u32(&w, 0);
    assert_int_equal(tp__items_open(&it, w.p, w.len), -EBADMSG);

    /* a huge count with no items is rejected without looping on it */
    ut_wr_fixed(&w, bad, sizeof bad);
    tp__items_hdr huge = {.n_chunks = 1, .count = UINT32_MAX};
    tp__items_encode_hdr(&w, &huge);
    assert_int_equal(tp__items_open(&it, w.p, w.len), -EBADMSG);
}

/* ---- item tables ---- */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t recompute(const tp__kv *kv)
{
    uint64_t h = 0;
    for (size_t i = 0; i < kv->n; i++) {
        h ^= tp__item_hash(kv->v[i].key, kv->v[i].klen, kv->v[i].version);
        size_t pos; /* every item is found where it is, so no key is there twice */
        assert_true(tp__kv_find(kv, kv->v[i].key, kv->v[i].klen, &pos) == &kv->v[i]);
        assert_int_equal(pos, i);
    }
    return h;
}

/* 100,000 items (the config's limit of services) in a scattered order, then half of them removed
 * at scattered positions: every item stays findable and the hash right. A sorted array moved half
 * the table per new key (about 120 GB of copying for this fill), which stalled a node's loop for
 * seconds; the bound below is 30x what the index takes under the sanitizers on a loaded machine. */
static void test_kv_many(void **state)
{
    (void)state;
    enum { N = 100000 };
    int64_t t0 = now_us();
    tp__kv kv = {0};
    char key[32];
    for (uint64_t i = 0; i < N; i++) {
        snprintf(key, sizeof key, "s%06llu", (unsigned long long)((i * 7919) % N));
        assert_int_equal(tp__kv_set(&kv, key, strlen(key), i + 1, "v", 1, 0), 0);
    }
    assert_int_equal(kv.n, N);
    for (uint64_t i = 0; i < N / 2; i++) {
        snprintf(key, sizeof key, "s%06llu", (unsigned long long)((i * 104729) % N));
        size_t pos;
        assert_non_null(tp__kv_find(&kv, key, strlen(key), &pos));
        tp__kv_remove_at(&kv, pos);
        assert_null(tp__kv_find(&kv, key, strlen(key), &pos));
    }
    assert_int_equal(kv.n, N / 2);
    assert_true(kv.hash == recompute(&kv));
    int64_t took_us = now_us() - t0;
    tp__kv_clear(&kv);
    assert_true(took_us < 15 * 1000000);
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
        cmocka_unit_test(test_kv_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
