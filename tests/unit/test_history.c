/* test_history.c: unit tests of the packed result ring (node/history.c): order, wraparound,
 * packing round trips, latency saturation and rounding, clamping, and the offset rebase. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
}

static void test_entry_is_8_bytes(void **state)
{
    (void)state;
    md_history h;
    assert_int_equal(sizeof h.e[0], 8);
    assert_int_equal(sizeof h.e / sizeof h.e[0], MD_HISTORY_LEN);
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
        assert_int_equal(h.base_ms, BASE_MS);
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
}

/* Past 2^38 ms (8.7 years) from base, the base moves forward; recent entries keep exact times. */
static void test_offset_overflow_rebases(void **state)
{
    (void)state;
    md_history h;
    md_history_init(&h, BASE_MS);
    const int64_t far = BASE_MS + (INT64_C(1) << 38) + 12345;
    md_check_result a = res(far - 60000, 2000, MD_ERR_NONE);
    md_check_result b = res(far, 3000, MD_ERR_TLS);
    md_history_push(&h, &a);
    md_history_push(&h, &b);
    assert_true(h.base_ms > BASE_MS);
    md_check_result out[2];
    assert_int_equal(md_history_get(&h, out, 2), 2);
    assert_int_equal(out[0].at_ms, far);
    assert_int_equal(out[0].err, MD_ERR_TLS);
    assert_int_equal(out[1].at_ms, far - 60000);
    assert_int_equal(out[1].latency_us, 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_entry_is_8_bytes),
        cmocka_unit_test(test_newest_first_partial),
        cmocka_unit_test(test_wraparound_keeps_last_100),
        cmocka_unit_test(test_packing_table),
        cmocka_unit_test(test_before_base_clamps_to_base),
        cmocka_unit_test(test_offset_overflow_rebases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
