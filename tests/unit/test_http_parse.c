/* test_http_parse.c: unit tests of the request-head parser (node/http_parse.c): valid heads,
 * incremental input, every error code, pipelining, header lookup, and oversized input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_parse.h"

/* parse copies s into an exact-size heap block, so ASan catches any read past len. */
static int parse_n(const char *s, size_t n, md_http_request *req)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    int rc = md_http_parse_request(copy, n, req);
    free(copy);
    return rc; /* req's spans point into freed memory now: callers read only its counts */
}

static int parse(const char *s)
{
    md_http_request req;
    return parse_n(s, strlen(s), &req);
}

static void assert_span(const char *p, size_t n, const char *want)
{
    assert_int_equal(n, strlen(want));
    assert_memory_equal(p, want, n);
}

static const char GOOD[] = "GET /v1/services/api%20x?verbose=1&a=b HTTP/1.1\r\n"
                           "Host: 127.0.0.1:8700\r\n"
                           "User-Agent:curl/7.88\r\n"
                           "Accept: \t */* \t\r\n"
                           "X-Empty:\r\n"
                           "\r\n";

static void test_valid_get(void **state)
{
    (void)state;
    md_http_request req;
    assert_int_equal(md_http_parse_request(GOOD, strlen(GOOD), &req), 1);
    assert_span(req.method, req.method_len, "GET");
    assert_span(req.target, req.target_len, "/v1/services/api%20x?verbose=1&a=b");
    assert_span(req.path, req.path_len, "/v1/services/api%20x");
    assert_span(req.query, req.query_len, "verbose=1&a=b");
    assert_int_equal(req.version_minor, 1);
    assert_int_equal(req.n_headers, 4);
    assert_span(req.headers[0].name, req.headers[0].name_len, "Host");
    assert_span(req.headers[0].value, req.headers[0].value_len, "127.0.0.1:8700");
    assert_span(req.headers[1].value, req.headers[1].value_len, "curl/7.88");
    assert_span(req.headers[2].value, req.headers[2].value_len, "*/*");
    assert_int_equal(req.headers[3].value_len, 0);
    assert_int_equal(req.head_len, strlen(GOOD));
    assert_int_equal(req.content_length, -1);
}

static void test_http10_no_headers_and_lone_lf(void **state)
{
    (void)state;
    md_http_request req;
    const char *s = "HEAD /metrics HTTP/1.0\n\n";
    assert_int_equal(md_http_parse_request(s, strlen(s), &req), 1);
    assert_int_equal(req.version_minor, 0);
    assert_int_equal(req.n_headers, 0);
    assert_int_equal(req.head_len, strlen(s));
    assert_int_equal(req.query_len, 0);
    assert_span(req.path, req.path_len, "/metrics");
    /* mixed terminators are fine too */
    s = "GET / HTTP/1.1\r\nA: b\n\r\n";
    assert_int_equal(md_http_parse_request(s, strlen(s), &req), 1);
    assert_int_equal(req.n_headers, 1);
    s = "OPTIONS * HTTP/1.1\r\n\r\n";
    assert_int_equal(md_http_parse_request(s, strlen(s), &req), 1);
    assert_span(req.path, req.path_len, "*");
}

static void test_content_length(void **state)
{
    (void)state;
    md_http_request req;
    const char *s = "POST /x HTTP/1.1\r\nContent-Length: 42\r\ncontent-length: 42\r\n\r\nBODY";
    assert_int_equal(md_http_parse_request(s, strlen(s), &req), 1);
    assert_int_equal(req.content_length, 42);
    assert_int_equal(req.head_len, strlen(s) - 4);
    s = "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(md_http_parse_request(s, strlen(s), &req), 1);
    assert_int_equal(req.content_length, 0);
    s = "POST /x HTTP/1.1\r\nContent-Length: 999999999999999999\r\n\r\n";
    assert_int_equal(md_http_parse_request(s, strlen(s), &req), 1);
    assert_true(req.content_length == 999999999999999999LL);
}

static void test_every_split_point_needs_more(void **state)
{
    (void)state;
    md_http_request req;
    size_t n = strlen(GOOD);
    for (size_t i = 0; i < n; i++) {
        if (parse_n(GOOD, i, &req) != 0) {
            fail_msg("prefix of %zu bytes did not return 0", i);
        }
    }
    /* and a LF-only head, where the last LF alone completes it */
    const char *lf = "GET /a HTTP/1.1\nHost: x\n\n";
    for (size_t i = 0; i < strlen(lf); i++) {
        assert_int_equal(parse_n(lf, i, &req), 0);
    }
    assert_int_equal(parse_n(lf, strlen(lf), &req), 1);
}

static void test_pipelined_bytes_not_consumed(void **state)
{
    (void)state;
    md_http_request req;
    const char *s = "GET /v1/health HTTP/1.1\r\nHost: a\r\n\r\nGET /v1/status HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(md_http_parse_request(s, strlen(s), &req), 1);
    assert_int_equal(req.head_len, strlen("GET /v1/health HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert_span(req.path, req.path_len, "/v1/health");
    assert_int_equal(req.n_headers, 1);
    /* the second request parses on its own from head_len */
    md_http_request req2;
    assert_int_equal(md_http_parse_request(s + req.head_len, strlen(s) - req.head_len, &req2), 1);
    assert_span(req2.path, req2.path_len, "/v1/status");
    /* garbage after the head is not looked at */
    const char *g = "GET / HTTP/1.1\r\n\r\n\x01\x02 not http";
    assert_int_equal(md_http_parse_request(g, strlen(g), &req), 1);
    assert_int_equal(req.head_len, 18);
}

static void test_header_lookup_case_insensitive(void **state)
{
    (void)state;
    md_http_request req;
    assert_int_equal(md_http_parse_request(GOOD, strlen(GOOD), &req), 1);
    const md_http_header *h = md_http_header_get(&req, "hOsT");
    assert_non_null(h);
    assert_span(h->value, h->value_len, "127.0.0.1:8700");
    h = md_http_header_get(&req, "USER-AGENT");
    assert_non_null(h);
    assert_span(h->value, h->value_len, "curl/7.88");
    assert_null(md_http_header_get(&req, "Hos"));
    assert_null(md_http_header_get(&req, "Host2"));
    assert_null(md_http_header_get(&req, "Content-Length"));
}

static void test_malformed_400(void **state)
{
    (void)state;
    static const char *bad[] = {
        "GET /\r\n\r\n",                             /* missing version */
        "GET  / HTTP/1.1\r\n\r\n",                   /* double space */
        "GET / HTTP/1.1 \r\n\r\n",                   /* trailing space */
        "GET /a\x01 HTTP/1.1\r\n\r\n",               /* control byte in target */
        "GET /a\tb HTTP/1.1\r\n\r\n",                /* tab in target */
        "GET /\x7f HTTP/1.1\r\n\r\n",                /* DEL in target */
        "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",            /* raw non-ASCII in target */
        "GET http://x/ HTTP/1.1\r\n\r\n",            /* absolute-form */
        " GET / HTTP/1.1\r\n\r\n",                   /* empty method */
        "G(T / HTTP/1.1\r\n\r\n",                    /* bad method char */
        "GET / HTTP/1.x\r\n\r\n",                    /* bad version digits */
        "GET / HTTX/1.1\r\n\r\n",
        "GET / HTTP/11\r\n\r\n",
        "\r\nGET / HTTP/1.1\r\n\r\n",                /* leading blank line */
        "GET / HTTP/1.1\rX\r\n\r\n",                 /* bare CR */
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",        /* space before colon */
        "GET / HTTP/1.1\r\nHost a\r\n\r\n",          /* no colon */
        "GET / HTTP/1.1\r\n: a\r\n\r\n",             /* empty name */
        "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",      /* obs-fold */
        "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",        /* control byte in value */
        "GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",        /* DEL in value */
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", /* 19 digits */
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", /* conflicting */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i]);
        if (rc != -400) {
            fail_msg("case %zu returned %d, want -400", i, rc);
        }
    }
    /* A NUL byte inside the target (strlen would stop there) */
    md_http_request req;
    static const char nul[] = "GET /a\0b HTTP/1.1\r\n\r\n";
    assert_int_equal(parse_n(nul, sizeof nul - 1, &req), -400);
    /* errors show up as soon as the bad line is complete, before the head ends */
    assert_int_equal(parse("GET /\r\n"), -400);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost a\r\n"), -400);
}

static void test_version_505(void **state)
{
    (void)state;
    assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n"), -505);
    assert_int_equal(parse("GET / HTTP/0.9\r\n\r\n"), -505);
    assert_int_equal(parse("GET / HTTP/1.2\r\n\r\n"), -505);
    assert_int_equal(parse("GET / HTTP/3.0\r\n\r\n"), -505);
}

static void test_transfer_encoding_501(void **state)
{
    (void)state;
    assert_int_equal(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), -501);
    assert_int_equal(parse("POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n"), -501);
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nTRANSFER-ENCODING: chunked\r\n\r\n"),
                     -501);
}

static void test_too_many_headers_431(void **state)
{
    (void)state;
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < MD_HTTP_MAX_HEADERS; i++) {
        n += (size_t)snprintf(buf + n, sizeof buf - n, "H%d: v\r\n", i);
    }
    memcpy(buf + n, "\r\n", 3);
    md_http_request req;
    assert_int_equal(parse_n(buf, n + 2, &req), 1);
    assert_int_equal(req.n_headers, MD_HTTP_MAX_HEADERS);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "One-More: v\r\n\r\n");
    assert_int_equal(parse_n(buf, n, &req), -431);
}

static void test_huge_inputs(void **state)
{
    (void)state;
    md_http_request req;
    size_t big = 1 << 20;
    char *buf = malloc(big);
    assert_non_null(buf);

    /* no line end at all */
    memset(buf, 'A', big);
    assert_int_equal(parse_n(buf, big, &req), -431);
    assert_int_equal(parse_n(buf, MD_HTTP_MAX_HEAD, &req), -431);
    assert_int_equal(parse_n(buf, MD_HTTP_MAX_HEAD - 1, &req), 0);

    /* a valid request line, then one endless header */
    const char *rl = "GET / HTTP/1.1\r\nX-Big: ";
    memcpy(buf, rl, strlen(rl));
    assert_int_equal(parse_n(buf, big, &req), -431);

    /* a head of exactly MD_HTTP_MAX_HEAD bytes is fine, one more byte is not */
    size_t fill = MD_HTTP_MAX_HEAD - strlen(rl) - 4;
    memset(buf + strlen(rl), 'v', fill);
    memcpy(buf + strlen(rl) + fill, "\r\n\r\n", 4);
    assert_int_equal(parse_n(buf, MD_HTTP_MAX_HEAD, &req), 1);
    assert_int_equal(req.head_len, MD_HTTP_MAX_HEAD);
    assert_int_equal(parse_n(buf, big, &req), 1); /* followed by 1 MiB of body */
    memset(buf + strlen(rl), 'v', fill + 1);
    memcpy(buf + strlen(rl) + fill + 1, "\r\n\r\n", 4);
    assert_int_equal(parse_n(buf, MD_HTTP_MAX_HEAD + 1, &req), -431);
    assert_int_equal(parse_n(buf, big, &req), -431);

    /* a complete, valid head followed by lots of bytes: only the head is read */
    const char *h = "GET /metrics HTTP/1.1\r\n\r\n";
    memcpy(buf, h, strlen(h));
    assert_int_equal(parse_n(buf, big, &req), 1);
    assert_int_equal(req.head_len, strlen(h));
    free(buf);
}

static void test_empty_input(void **state)
{
    (void)state;
    md_http_request req;
    assert_int_equal(md_http_parse_request(NULL, 0, &req), 0);
    assert_int_equal(md_http_parse_request("", 0, &req), 0);
    assert_int_equal(parse("\r"), 0);
    assert_int_equal(parse("\r\n"), -400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_get),
        cmocka_unit_test(test_http10_no_headers_and_lone_lf),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_every_split_point_needs_more),
        cmocka_unit_test(test_pipelined_bytes_not_consumed),
        cmocka_unit_test(test_header_lookup_case_insensitive),
        cmocka_unit_test(test_malformed_400),
        cmocka_unit_test(test_version_505),
        cmocka_unit_test(test_transfer_encoding_501),
        cmocka_unit_test(test_too_many_headers_431),
        cmocka_unit_test(test_huge_inputs),
        cmocka_unit_test(test_empty_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
