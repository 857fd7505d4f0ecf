/* http_parse.h: parses one HTTP/1.x request head from untrusted bytes (pure, fuzzed). */
#ifndef MD_HTTP_PARSE_H
#define MD_HTTP_PARSE_H

#include <stddef.h>

#define MD_HTTP_MAX_HEAD 8192
#define MD_HTTP_MAX_HEADERS 32

typedef struct {
    const char *name;   /* points into the caller's buffer, not NUL-terminated */
    size_t name_len;
    const char *value;  /* leading/trailing blanks removed */
    size_t value_len;
} md_http_header;

typedef struct {
    const char *method;  size_t method_len;
    const char *target;  size_t target_len; /* as sent, including any query */
    const char *path;    size_t path_len;   /* target up to '?' */
    const char *query;   size_t query_len;  /* after '?', 0 length if none */
    int version_minor;   /* 0 or 1 */
    size_t n_headers;
    md_http_header headers[MD_HTTP_MAX_HEADERS];
    size_t head_len;     /* bytes of the head including the blank line */
    long long content_length; /* -1 if absent */
} md_http_request;

/* md_http_parse_request parses buf[0..len).
 * Returns 1 when a complete head was parsed into *req, 0 when more bytes are needed (and len is
 * still below MD_HTTP_MAX_HEAD), or a negative error: -400 malformed, -431 head too large or too
 * many headers, -505 unsupported version, -501 chunked bodies (any Transfer-Encoding).
 * Lines end with CRLF or a lone LF. An error is reported as soon as the offending line is complete;
 * bytes after the head (a body, pipelined requests) are never looked at, nor buf[len] and beyond. */
int md_http_parse_request(const char *buf, size_t len, md_http_request *req);

/* md_http_header_get finds a header by case-insensitive name; returns NULL if absent. */
const md_http_header *md_http_header_get(const md_http_request *req, const char *name);

#endif
