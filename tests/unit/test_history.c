/* test_history.c: unit tests of the delta-coded result history (node/health/history.c): order,
 * wraparound, round trips (every result kind, irregular gaps across the wrap), latency saturation
 * and rounding, clamping, gaps too long for an entry, agreement with the fixed 7-byte ring it
 * replaced over random and hostile sequences, the bytes a steady service takes, each form of entry
 * at its edges, and clones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "health/health.h"

#define BASE_MS INT64_C(1700000000000)

static md_check_result res(int64_t at_ms, uint32_t latency_us, md_err_class err)
{
    return (md_check_result){.at_ms = at_ms, .latency_us = latency_us, .err = err, .http_status = 503};
}

static void test_empty(void **state)
{
    (void)state;
    md_history h;
    md_history_init(&h, BASE_MS);
    md_check_result out[4];
    assert_int_equal(md_history_get(&h, out, 4), 0);
    assert_int_equal(md_history_get(&h, NULL, 0), 0);
    md_history_free(&h);
}

/* Every error class, latencies from 0 to past saturation, gaps from 0 ms to 24 days, over three
 * wraps of the ring: what comes back is what went in (latency to 100 us), newest first, at every
 * step, the last MD_HISTORY_LEN only. */
static void test_round_trip_every_kind_across_wraps(void **state)
{
    (void)state;
    static const uint32_t lats[] = {0, 49, 50, 100, 1234, 999999, 3412000, 419430300, 419430351, UINT32_MAX};
    static const int64_t gaps[] = {0, 1, 7, 400, 10000, 60000, 3600000, 86400000, INT64_C(86400000) * 24};
    enum { N = MD_HISTORY_LEN * 3 + 17 };
    static md_check_result in[N];
    md_history h;
    md_history_init(&h, BASE_MS);
    int64_t at = BASE_MS;
    for (int i = 0; i < N; i++) {
        at += gaps[(i * 7) % (sizeof gaps / sizeof gaps[0])];
        in[i] = res(at, lats[(i * 3) % (sizeof lats / sizeof lats[0])], (md_err_class)(i % MD_ERR_COUNT));
        md_history_push(&h, &in[i]);
        md_check_result out[MD_HISTORY_LEN];
        size_t want = i + 1 < MD_HISTORY_LEN ? (size_t)i + 1 : MD_HISTORY_LEN;
        assert_int_equal(md_history_get(&h, out, MD_HISTORY_LEN), want);
        for (size_t k = 0; k < want; k++) {
            const md_check_result *e = &in[i - (int)k];
            uint64_t lat = ((uint64_t)e->latency_us + 50) / 100 * 100;
            assert_int_equal(out[k].at_ms, e->at_ms);
            assert_int_equal(out[k].latency_us, lat > 419430300 ? 419430300 : lat);
            assert_int_equal(out[k].err, e->err);
            assert_int_equal(out[k].http_status, 0);
        }
    }
    md_history_free(&h);
}

static void test_newest_first_partial(void **state)
{
    (void)state;
    md_history h;
    md_history_init(&h, BASE_MS);
    for (int i = 0; i < 5; i++)
        md_history_push(&h, &(md_check_result){.at_ms = BASE_MS + i * 1000, .latency_us = (uint32_t)(i + 1) * 1000});
    md_check_result out[10];
    assert_int_equal(md_history_get(&h, out, 10), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(out[i].at_ms, BASE_MS + (4 - i) * 1000);
        assert_int_equal(out[i].latency_us, (uint32_t)(5 - i) * 1000);
    }
    /* max smaller than count: the newest ones */
    assert_int_equal(md_history_get(&h, out, 2), 2);
    assert_int_equal(out[0].at_ms, BASE_MS + 4000);
    assert_int_equal(out[1].at_ms, BASE_MS + 3000);
    md_history_free(&h);
}

static void test_wraparound_keeps_last_100(void **state)
{
    (void)state;
    md_history h;
    md_history_init(&h, BASE_MS);
    const int n = MD_HISTORY_LEN * 2 + 37;
    for (int i = 0; i < n; i++)
        md_history_push(&h, &(md_check_result){.at_ms = BASE_MS + i * 10000,
                                                .err = (md_err_class)(i % MD_ERR_COUNT)});
    assert_int_equal(h.count, MD_HISTORY_LEN);
    md_check_result out[MD_HISTORY_LEN + 5];
    assert_int_equal(md_history_get(&h, out, MD_HISTORY_LEN + 5), MD_HISTORY_LEN);
    for (int i = 0; i < MD_HISTORY_LEN; i++) {
        int k = n - 1 - i;
        assert_int_equal(out[i].at_ms, BASE_MS + (int64_t)k * 10000);
        assert_int_equal(out[i].err, k % MD_ERR_COUNT);
    }
    md_history_free(&h);
}

/* Table of packing round trips: what goes in, what comes out. */
static void test_packing_table(void **state)
{
    (void)state;
    static const struct {
        int64_t off_ms;
        uint32_t lat_in_us, lat_out_us;
        md_err_class err;
    } rows[] = {
        {0, 0, 0, MD_ERR_NONE},
        {1, 100, 100, MD_ERR_DNS},
        {999, 149, 100, MD_ERR_CONNECT},         /* rounds to nearest 100 us */
        {1000, 150, 200, MD_ERR_TIMEOUT},
        {86400000, 3412000, 3412000, MD_ERR_TLS},
        {INT64_C(86400000) * 365 * 8, 419430300, 419430300, MD_ERR_STATUS}, /* 8 years, top latency */
        {INT64_C(274877906943), 419430351, 419430300, MD_ERR_BODY},          /* 2^38-1, saturated */
        {5, 500000000, 419430300, MD_ERR_NONE},  /* 500 s saturates at ~419 s */
        {6, UINT32_MAX, 419430300, MD_ERR_TIMEOUT},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        md_history h;
        md_history_init(&h, BASE_MS);
        md_check_result in = res(BASE_MS + rows[i].off_ms, rows[i].lat_in_us, rows[i].err);
        md_history_push(&h, &in);
        md_check_result out;
        assert_int_equal(md_history_get(&h, &out, 1), 1);
        assert_int_equal(out.at_ms, in.at_ms);
        assert_int_equal(out.latency_us, rows[i].lat_out_us);
        assert_int_equal(out.err, rows[i].err);
        assert_int_equal(out.http_status, 0); /* not kept */
        md_history_free(&h);
    }
}

static void test_before_base_clamps_to_base(void **state)
{
    (void)state;
    md_history h;
    md_history_init(&h, BASE_MS);
    md_check_result in = res(BASE_MS - 5000, 1000, MD_ERR_CONNECT);
    md_history_push(&h, &in);
    md_check_result out;
    assert_int_equal(md_history_get(&h, &out, 1), 1);
    assert_int_equal(out.at_ms, BASE_MS);
    assert_int_equal(out.err, MD_ERR_CONNECT);
    md_history_free(&h);
}

/* Years after base, times are still exact: an entry keeps only the gap to the one before. A gap
 * longer than 2^31 ms (24.8 days) is kept as that long: the newer entries stay exact, the older
 * ones move forward by the excess. A result earlier than the newest is stored at the newest's time. */
static void test_long_gaps_and_steps_back(void **state)
{
    (void)state;
    md_history h;
    md_history_init(&h, BASE_MS);
    const int64_t far = BASE_MS + (INT64_C(1) << 38) + 12345;
    const int64_t cap = (INT64_C(1) << 31) - 1;
    md_check_result a = res(far - INT64_C(30) * 86400000, 1000, MD_ERR_DNS); /* 30 days before b */
    md_check_result b = res(far - 60000, 2000, MD_ERR_NONE);
    md_check_result c = res(far, 3000, MD_ERR_TLS);
    md_check_result d = res(far - 5000, 4000, MD_ERR_BODY); /* the clock stepped back */
    md_history_push(&h, &a);
    md_history_push(&h, &b);
    md_history_push(&h, &c);
    md_history_push(&h, &d);
    md_check_result out[4];
    assert_int_equal(md_history_get(&h, out, 4), 4);
    assert_int_equal(out[0].at_ms, far);
    assert_int_equal(out[0].err, MD_ERR_BODY);
    assert_int_equal(out[1].at_ms, far);
    assert_int_equal(out[1].err, MD_ERR_TLS);
    assert_int_equal(out[2].at_ms, far - 60000);
    assert_int_equal(out[2].latency_us, 2000);
    assert_int_equal(out[3].at_ms, far - 60000 - cap);
    assert_int_equal(out[3].err, MD_ERR_DNS);
    md_history_free(&h);
}

/* The fixed ring of 7-byte entries this coding replaced, as the reference: what a history gives
 * back must not depend on how it is stored (the API prints it). */
typedef struct {
    int64_t last_ms;
    size_t head, count;
    uint64_t gap[MD_HISTORY_LEN], lat[MD_HISTORY_LEN];
    md_err_class err[MD_HISTORY_LEN];
} ref_ring;

static void ref_push(ref_ring *f, const md_check_result *r)
{
    uint64_t gap = r->at_ms > f->last_ms ? (uint64_t)r->at_ms - (uint64_t)f->last_ms : 0;
    uint64_t lat = ((uint64_t)r->latency_us + 50) / 100;
    f->gap[f->head] = gap > 0x7FFFFFFF ? 0x7FFFFFFF : gap;
    f->lat[f->head] = lat > 0x3FFFFF ? 0x3FFFFF : lat;
    f->err[f->head] = r->err;
    if (r->at_ms > f->last_ms)
        f->last_ms = r->at_ms;
    f->head = (f->head + 1) % MD_HISTORY_LEN;
    if (f->count < MD_HISTORY_LEN)
        f->count++;
}

static void assert_same_as_ref(const md_history *h, const ref_ring *f)
{
    md_check_result out[MD_HISTORY_LEN];
    assert_int_equal(md_history_get(h, out, MD_HISTORY_LEN), f->count);
    int64_t at = f->last_ms;
    for (size_t i = 0; i < f->count; i++) {
        size_t k = (f->head + MD_HISTORY_LEN - 1 - i) % MD_HISTORY_LEN;
        assert_int_equal(out[i].at_ms, at);
        assert_int_equal(out[i].latency_us, f->lat[k] * 100);
        assert_int_equal(out[i].err, f->err[k]);
        assert_int_equal(out[i].http_status, 0);
        at -= (int64_t)f->gap[k];
    }
}

static uint64_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return *s >> 33;
}

/* Random sequences of every kind the coding treats differently: steady checks (gap and latency
 * changes of a few units: the one-byte header), jitter (varints of every length), timeouts among
 * fast answers (latency swinging from 0 to saturation and back), huge gaps (days, and past the
 * 24.8-day cap), the clock stepping back (gap 0), and results at the same millisecond; each
 * compared with the reference after every push, across many wraps of the 100 results. */
static void test_agrees_with_fixed_ring(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        uint64_t rs = seed;
        md_history h;
        md_history_init(&h, BASE_MS);
        static ref_ring f;
        memset(&f, 0, sizeof f);
        f.last_ms = BASE_MS;
        int64_t at = BASE_MS;
        uint32_t lat = 2000;
        for (int i = 0; i < 700; i++) {
            uint64_t pick = rnd(&rs) % 100;
            int64_t step = 10000 + (int64_t)(rnd(&rs) % 11) - 5;          /* steady */
            if (pick < 10)
                step = (int64_t)(rnd(&rs) % 100000);                      /* jitter */
            else if (pick < 13)
                step = (int64_t)(rnd(&rs) % (INT64_C(86400000) * 60));    /* days, past the cap */
            else if (pick < 16)
                step = -(int64_t)(rnd(&rs) % 100000);                     /* clock stepped back */
            else if (pick < 18)
                step = 0;
            at += step;
            if (pick % 7 == 0)
                lat = (uint32_t)(rnd(&rs) % 10 == 0 ? UINT32_MAX - rnd(&rs) % 3 : rnd(&rs) % 500000000);
            else
                lat = (uint32_t)((int64_t)lat + (int64_t)(rnd(&rs) % 2001) - 1000 > 0
                                     ? (int64_t)lat + (int64_t)(rnd(&rs) % 2001) - 1000 : 0);
            md_check_result r = res(at, lat, (md_err_class)(rnd(&rs) % MD_ERR_COUNT));
            md_history_push(&h, &r);
            ref_push(&f, &r);
            assert_same_as_ref(&h, &f);
        }
        md_history_free(&h);
    }
}

/* The extremes back to back: each change is the largest the coding has to hold (a full 31-bit
 * gap after a zero one, full-scale latency after zero), on both sides of the 100-result wrap. */
static void test_extreme_changes(void **state)
{
    (void)state;
    md_history h;
    md_history_init(&h, 0);
    static ref_ring f;
    memset(&f, 0, sizeof f);
    int64_t at = 0;
    for (int i = 0; i < 3 * MD_HISTORY_LEN + 1; i++) {
        at += i % 2 ? INT64_C(1) << 40 : 0;
        md_check_result r = res(at, i % 4 < 2 ? UINT32_MAX : 0, (md_err_class)(i % MD_ERR_COUNT));
        md_history_push(&h, &r);
        ref_push(&f, &r);
        assert_same_as_ref(&h, &f);
    }
    assert_true(md_history_bytes(&h) <= 10 * MD_HISTORY_LEN);
    md_history_free(&h);
}

/* What the coding is for: a steady service (checks every 10 s give or take a few ms, latency
 * within a few ms) keeps its 100 results in at most 2 bytes each, and the record stays small. */
static void test_steady_service_is_small(void **state)
{
    (void)state;
    assert_true(sizeof(md_history) <= 48);
    md_history h;
    md_history_init(&h, BASE_MS);
    uint64_t rs = 7;
    int64_t at = BASE_MS;
    int resized = 0;
    for (int i = 0; i < 5 * MD_HISTORY_LEN; i++) {
        at += 10000 + (int64_t)(rnd(&rs) % 7) - 3;
        md_check_result r = res(at, 40000 + (uint32_t)(rnd(&rs) % 3000), MD_ERR_NONE);
        uint16_t cap = h.cap;
        md_history_push(&h, &r);
        resized += h.cap != cap;
    }
    /* It grows to what the first results foretell, not a step at a time (8 reallocations). */
    assert_true(resized <= 4);
    assert_int_equal(h.count, MD_HISTORY_LEN);
    assert_true(md_history_bytes(&h) <= 2 * MD_HISTORY_LEN);
    assert_true(h.cap <= md_history_bytes(&h) + 3 * 32); /* the room given back as it steadied */
    md_history_free(&h);
    assert_null(h.b);
    assert_int_equal(h.count, 0);
}

static void assert_same_results(const md_check_result *a, const md_check_result *b, size_t n)
{
    for (size_t i = 0; i < n; i++) { /* field by field: the struct has padding */
        assert_int_equal(a[i].at_ms, b[i].at_ms);
        assert_int_equal(a[i].latency_us, b[i].latency_us);
        assert_int_equal(a[i].err, b[i].err);
        assert_int_equal(a[i].http_status, b[i].http_status);
    }
}

/* An internet service: checks start every 10 s to the ms, latency 30-70 ms at random, so each gap
 * moves by the change in latency (tens of ms). Coding the start gap keeps that out of the gap's
 * field: at most 3 bytes a result (5 when the gap itself is coded), and the results come back. */
static void test_jittery_latency_is_small(void **state)
{
    (void)state;
    md_history h;
    md_history_init(&h, BASE_MS);
    static ref_ring f;
    memset(&f, 0, sizeof f);
    f.last_ms = BASE_MS;
    uint64_t rs = 11;
    int64_t start = BASE_MS;
    for (int i = 0; i < 3 * MD_HISTORY_LEN; i++) {
        start += 10000;
        uint32_t lat_us = 30000 + (uint32_t)(rnd(&rs) % 40000) / 100 * 100;
        md_check_result r = res(start + lat_us / 1000, lat_us, MD_ERR_NONE);
        md_history_push(&h, &r);
        ref_push(&f, &r);
    }
    assert_same_as_ref(&h, &f);
    print_message("jittery latency: %zu bytes for %d results\n", md_history_bytes(&h), MD_HISTORY_LEN);
    assert_true(md_history_bytes(&h) <= 3 * MD_HISTORY_LEN);
    md_history_free(&h);
}

/* Each form of entry at its edges: a result whose start gap changes by d ms and latency by dl
 * units of 100 us takes the bytes of the first form those changes fit (history.c), and comes back. */
static void test_entry_forms(void **state)
{
    (void)state;
    static const struct {
        int d_ms, dl;
        md_err_class err;
        size_t bytes;
    } rows[] = {
        {0, 0, MD_ERR_NONE, 1},     {3, 0, MD_ERR_NONE, 1},     {-4, 0, MD_ERR_NONE, 1},
        {4, 0, MD_ERR_NONE, 2},     {0, 7, MD_ERR_NONE, 1},     {0, -8, MD_ERR_NONE, 1},
        {0, 8, MD_ERR_NONE, 2},     {31, 0, MD_ERR_NONE, 2},    {-32, 127, MD_ERR_NONE, 2},
        {32, 0, MD_ERR_NONE, 3},    {0, 128, MD_ERR_NONE, 3},   {15, -32768, MD_ERR_NONE, 3},
        {-16, 32767, MD_ERR_NONE, 3}, {16, 128, MD_ERR_NONE, 4}, {0, 32768, MD_ERR_NONE, 5},
        {2047, 127, MD_ERR_NONE, 3}, {-2048, -128, MD_ERR_NONE, 3}, {2048, 0, MD_ERR_NONE, 4},
        {0, 0, MD_ERR_TIMEOUT, 3},  {0, 0, MD_ERR_BODY, 3},     {-9000, 60000, MD_ERR_CONNECT, 7},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        md_history h;
        md_history_init(&h, BASE_MS);
        const uint32_t lat0 = 5000000; /* 5 s in us: room to go down */
        int64_t at = BASE_MS;
        for (int k = 0; k < 2; k++) { /* the start gap settles at 10 s */
            md_check_result r = res(at += 10000, lat0, MD_ERR_NONE);
            md_history_push(&h, &r);
        }
        size_t before = md_history_bytes(&h);
        /* The gap is the start gap plus the latency's change in ms (history.c's lat_change_ms). */
        int64_t gap = 10000 + rows[i].d_ms + (int64_t)rows[i].dl * 100 / 1000;
        uint32_t lat = (uint32_t)((int64_t)lat0 + (int64_t)rows[i].dl * 100);
        md_check_result in = res(at + gap, lat, rows[i].err), out[3];
        md_history_push(&h, &in);
        assert_int_equal(md_history_bytes(&h) - before, rows[i].bytes);
        assert_int_equal(md_history_get(&h, out, 3), 3);
        assert_int_equal(out[0].at_ms, in.at_ms);
        assert_int_equal(out[0].latency_us, lat);
        assert_int_equal(out[0].err, rows[i].err);
        assert_int_equal(out[1].at_ms, at);
        assert_int_equal(out[1].latency_us, lat0);
        assert_int_equal(out[2].at_ms, at - 10000);
        md_history_free(&h);
    }
}

/* A clone reads the same and does not follow its source afterwards; an empty one needs no bytes. */
static void test_clone(void **state)
{
    (void)state;
    md_history h;
    md_history_init(&h, BASE_MS);
    md_history empty;
    md_history_clone(&empty, &h, NULL);
    assert_int_equal(md_history_get(&empty, NULL, 0), 0);
    for (int i = 0; i < 150; i++)
        md_history_push(&h, &(md_check_result){.at_ms = BASE_MS + i * 1000, .latency_us = (uint32_t)i * 777,
                                                .err = (md_err_class)(i % MD_ERR_COUNT)});
    uint8_t *storage = malloc(md_history_bytes(&h));
    assert_non_null(storage);
    md_history c;
    md_history_clone(&c, &h, storage);
    md_check_result a[MD_HISTORY_LEN], b[MD_HISTORY_LEN];
    assert_int_equal(md_history_get(&c, b, MD_HISTORY_LEN), MD_HISTORY_LEN);
    assert_int_equal(md_history_get(&h, a, MD_HISTORY_LEN), MD_HISTORY_LEN);
    assert_same_results(a, b, MD_HISTORY_LEN);
    md_history_push(&h, &(md_check_result){.at_ms = BASE_MS + 999999, .latency_us = 5});
    assert_int_equal(md_history_get(&c, b, MD_HISTORY_LEN), MD_HISTORY_LEN);
    assert_same_results(a, b, MD_HISTORY_LEN);
    assert_ptr_equal(c.b, storage);
    free(storage);
    md_history_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_round_trip_every_kind_across_wraps),
        cmocka_unit_test(test_newest_first_partial),
        cmocka_unit_test(test_wraparound_keeps_last_100),
        cmocka_unit_test(test_packing_table),
        cmocka_unit_test(test_before_base_clamps_to_base),
        cmocka_unit_test(test_long_gaps_and_steps_back),
        cmocka_unit_test(test_agrees_with_fixed_ring),
        cmocka_unit_test(test_extreme_changes),
        cmocka_unit_test(test_steady_service_is_small),
        cmocka_unit_test(test_jittery_latency_is_small),
        cmocka_unit_test(test_entry_forms),
        cmocka_unit_test(test_clone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
