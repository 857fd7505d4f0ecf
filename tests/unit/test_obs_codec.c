/* test_obs_codec.c: gossip values: round trips, every truncation and trailing byte rejected,
 * out-of-range fields rejected, and which changes count as differences worth pushing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "health/health.h"

static const md_obs sample = {
    .state = MD_STATE_DOWN,
    .consecutive_failures = 3,
    .latency_us = 123456,
    .err = MD_ERR_TIMEOUT,
    .http_status = 0,
    .observed_at_ms = 1795952304197LL,
    .state_since_ms = 1795952300000LL,
};

static void test_obs_round_trip_and_truncation(void **state)
{
    (void)state;
    uint8_t buf[MD_OBS_ENCODED_MAX + 1];
    size_t n = md_obs_encode(&sample, buf);
    assert_true(n <= MD_OBS_ENCODED_MAX);
    md_obs o;
    assert_int_equal(md_obs_decode(buf, n, &o), 0);
    /* field by field: the struct's padding bytes carry no value */
    assert_int_equal(o.state, sample.state);
    assert_int_equal(o.consecutive_failures, sample.consecutive_failures);
    assert_int_equal(o.latency_us, sample.latency_us);
    assert_int_equal(o.err, sample.err);
    assert_int_equal(o.http_status, sample.http_status);
    assert_int_equal(o.observed_at_ms, sample.observed_at_ms);
    assert_int_equal(o.state_since_ms, sample.state_since_ms);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(md_obs_decode(buf, k, &o), -EINVAL);
    buf[n] = 0;
    assert_int_equal(md_obs_decode(buf, n + 1, &o), -EINVAL); /* trailing byte */
}

static void test_obs_rejects_bad_fields(void **state)
{
    (void)state;
    uint8_t buf[MD_OBS_ENCODED_MAX];
    size_t n = md_obs_encode(&sample, buf);
    md_obs o = { 0 };
    buf[0] = 2; /* another codec version */
    assert_int_equal(md_obs_decode(buf, n, &o), -EINVAL);
    n = md_obs_encode(&sample, buf);
    buf[1] = MD_STATE_COUNT;
    assert_int_equal(md_obs_decode(buf, n, &o), -EINVAL);
    n = md_obs_encode(&sample, buf);
    buf[2] = MD_ERR_COUNT;
    assert_int_equal(md_obs_decode(buf, n, &o), -EINVAL);
    assert_int_equal(o.consecutive_failures, 0); /* untouched on error */
}

static void test_node_info(void **state)
{
    (void)state;
    md_node_info in = { .isolated = true, .started_at_ms = 42 }, out;
    strcpy(in.region, "eu-west");
    uint8_t buf[MD_NODE_INFO_ENCODED_MAX];
    size_t n = md_node_info_encode(&in, buf);
    assert_int_equal(md_node_info_decode(buf, n, &out), 0);
    assert_true(out.isolated);
    assert_string_equal(out.region, "eu-west");
    assert_int_equal(out.started_at_ms, 42);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(md_node_info_decode(buf, k, &out), -EINVAL);
    buf[n - 1] = ' '; /* a blank in the region: it is shown and logged, so refused */
    assert_int_equal(md_node_info_decode(buf, n, &out), -EINVAL);
}

static void test_differs(void **state)
{
    (void)state;
    md_obs a = sample, b = sample;
    b.latency_us = 1;
    b.observed_at_ms = 7;
    assert_false(md_obs_differs(&a, &b)); /* latency alone is not pushed at once */
    b.consecutive_failures = 4;
    assert_true(md_obs_differs(&a, &b));
    b = sample;
    b.state = MD_STATE_UP;
    assert_true(md_obs_differs(&a, &b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_obs_round_trip_and_truncation),
        cmocka_unit_test(test_obs_rejects_bad_fields),
        cmocka_unit_test(test_node_info),
        cmocka_unit_test(test_differs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
