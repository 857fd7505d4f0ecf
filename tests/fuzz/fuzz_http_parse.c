/* fuzz_http_parse.c: libFuzzer target for the request-head parser: arbitrary bytes into
 * md_http_parse_request. Besides crashes, leaks and reads past len (ASan sees them: every buffer
 * handed to the parser is an exact-size heap copy), it checks the parser's contract:
 *  - the result is 1, 0 or one of the documented errors;
 *  - on 1, every span lies inside the head, head_len <= MD_HTTP_MAX_HEAD, and the head alone
 *    parses to the same result, while the head minus its last byte needs more input;
 *  - 0 only below MD_HTTP_MAX_HEAD bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_span(const char *base, size_t head_len, const char *p, size_t n)
{
    if (n > 0 && (p < base || p + n > base + head_len)) {
        abort();
    }
}

static int parse_copy(const uint8_t *data, size_t n, md_http_request *req, char **keep)
{
    char *copy = malloc(n ? n : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, n);
    int rc = md_http_parse_request(copy, n, req);
    *keep = copy;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    md_http_request req;
    char *buf;
    int rc = parse_copy(data, size, &req, &buf);
    if (rc != 1 && rc != 0 && rc != -400 && rc != -431 && rc != -501 && rc != -505) {
        abort();
    }
    if (rc == 0 && size >= MD_HTTP_MAX_HEAD) {
        abort();
    }
    if (rc == 1) {
        if (req.head_len == 0 || req.head_len > size || req.head_len > MD_HTTP_MAX_HEAD ||
            req.n_headers > MD_HTTP_MAX_HEADERS || req.method_len == 0 || req.target_len == 0 ||
            (req.version_minor != 0 && req.version_minor != 1) || req.content_length < -1) {
            abort();
        }
        check_span(buf, req.head_len, req.method, req.method_len);
        check_span(buf, req.head_len, req.target, req.target_len);
        check_span(buf, req.head_len, req.path, req.path_len);
        check_span(buf, req.head_len, req.query, req.query_len);
        for (size_t i = 0; i < req.n_headers; i++) {
            check_span(buf, req.head_len, req.headers[i].name, req.headers[i].name_len);
            check_span(buf, req.head_len, req.headers[i].value, req.headers[i].value_len);
            if (md_http_header_get(&req, "content-length") == NULL && req.content_length != -1) {
                abort();
            }
        }
        md_http_request again;
        char *b2, *b3;
        if (parse_copy(data, req.head_len, &again, &b2) != 1 || again.head_len != req.head_len ||
            again.n_headers != req.n_headers) {
            abort();
        }
        if (parse_copy(data, req.head_len - 1, &again, &b3) != 0) {
            abort();
        }
        free(b2);
        free(b3);
    }
    free(buf);
    return 0;
}
