/* http_parse.c: a strict, allocation-free parser of one HTTP/1.0 or HTTP/1.1 request head.
 *
 * The bytes come from anyone who can reach the API port, so every byte is checked and nothing
 * is read at or past len. Only complete lines are judged: a line still missing its terminator
 * means "need more bytes" (0), unless the head limit is already reached (-431).
 *
 * Accepted on purpose (documented in docs/api.md): a lone LF ends a line just like CRLF (as
 * RFC 9112 section 2.2 allows); Host is not required; any well-formed header name and value is
 * kept. Rejected: a CR not followed by LF, leading blank lines, obs-fold continuation lines,
 * whitespace before a header's colon, control bytes in the target or in values, targets that
 * are not origin-form ("/...") or "*", any Transfer-Encoding (-501), a Content-Length that is
 * not plain digits or that disagrees with an earlier one (-400), versions other than 1.0 and
 * 1.1 (-505), more than MD_HTTP_MAX_HEADERS headers or a head over MD_HTTP_MAX_HEAD (-431). */
#include "http_parse.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#define ERR_BAD (-400)
#define ERR_TOO_LARGE (-431)
#define ERR_NOT_IMPL (-501)
#define ERR_VERSION (-505)

/* Content-Length values above this are refused as malformed rather than risking overflow. */
#define MAX_CL_DIGITS 18

/* RFC 9110 tchar: the characters of a method or a header name. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field values may hold visible ASCII, blanks and obs-text, but no other control byte. */
static bool is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static bool ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen) {
        return false;
    }
    for (size_t i = 0; i < alen; i++) {
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) {
            return false;
        }
    }
    return true;
}

/* find_line looks for the end of the line starting at pos, within buf[0..lim).
 * Returns 1 with *content_end (exclusive, before any CR) and *next (after the LF) set,
 * 0 when the terminator is not there yet, or ERR_BAD for a CR not followed by LF. */
static int find_line(const char *buf, size_t lim, size_t pos, size_t *content_end, size_t *next)
{
    for (size_t i = pos; i < lim; i++) {
        if (buf[i] == '\n') {
            *content_end = i;
            *next = i + 1;
            return 1;
        }
        if (buf[i] == '\r') {
            if (i + 1 >= lim) {
                return 0;
            }
            if (buf[i + 1] != '\n') {
                return ERR_BAD;
            }
            *content_end = i;
            *next = i + 2;
            return 1;
        }
    }
    return 0;
}

static int parse_version(const char *v, size_t n, md_http_request *req)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' ||
        v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9') {
        return ERR_BAD;
    }
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
        return ERR_VERSION;
    }
    req->version_minor = v[7] - '0';
    return 0;
}

/* request-line = method SP request-target SP HTTP-version, in line[0..n). */
static int parse_request_line(const char *line, size_t n, md_http_request *req)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)line[i])) {
        i++;
    }
    if (i == 0 || i >= n || line[i] != ' ') {
        return ERR_BAD;
    }
    req->method = line;
    req->method_len = i;
    size_t t0 = ++i;
    while (i < n && (unsigned char)line[i] > 0x20 && (unsigned char)line[i] < 0x7f) {
        i++;
    }
    if (i == t0 || i >= n || line[i] != ' ') {
        return ERR_BAD; /* empty target, a control byte, or no version after it */
    }
    req->target = line + t0;
    req->target_len = i - t0;
    if (req->target[0] != '/' && !(req->target_len == 1 && req->target[0] == '*')) {
        return ERR_BAD;
    }
    const char *q = memchr(req->target, '?', req->target_len);
    req->path = req->target;
    req->path_len = q ? (size_t)(q - req->target) : req->target_len;
    req->query = q ? q + 1 : req->target + req->target_len;
    req->query_len = q ? req->target_len - req->path_len - 1 : 0;
    i++;
    return parse_version(line + i, n - i, req);
}

static int parse_content_length(const char *v, size_t n, long long *out)
{
    if (n == 0 || n > MAX_CL_DIGITS) {
        return ERR_BAD;
    }
    long long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return ERR_BAD;
        }
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 0;
}

/* header-field = field-name ":" OWS field-value OWS, in line[0..n). */
static int parse_header_line(const char *line, size_t n, md_http_request *req)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)line[i])) {
        i++;
    }
    if (i == 0 || i >= n || line[i] != ':') {
        return ERR_BAD; /* also rejects obs-fold and "Name : value" */
    }
    size_t name_len = i++;
    for (size_t k = i; k < n; k++) {
        if (!is_value_char((unsigned char)line[k])) {
            return ERR_BAD;
        }
    }
    while (i < n && (line[i] == ' ' || line[i] == '\t')) {
        i++;
    }
    size_t end = n;
    while (end > i && (line[end - 1] == ' ' || line[end - 1] == '\t')) {
        end--;
    }
    if (req->n_headers >= MD_HTTP_MAX_HEADERS) {
        return ERR_TOO_LARGE;
    }
    md_http_header *h = &req->headers[req->n_headers++];
    h->name = line;
    h->name_len = name_len;
    h->value = line + i;
    h->value_len = end - i;

    if (ieq(h->name, h->name_len, "transfer-encoding")) {
        return ERR_NOT_IMPL; /* chunked or any other coding: we never read bodies */
    }
    if (ieq(h->name, h->name_len, "content-length")) {
        long long cl;
        int rc = parse_content_length(h->value, h->value_len, &cl);
        if (rc < 0) {
            return rc;
        }
        if (req->content_length >= 0 && req->content_length != cl) {
            return ERR_BAD; /* conflicting lengths are a request-smuggling signature */
        }
        req->content_length = cl;
    }
    return 0;
}

int md_http_parse_request(const char *buf, size_t len, md_http_request *req)
{
    assert(req != NULL);
    assert(buf != NULL || len == 0);
    memset(req, 0, sizeof(*req));
    req->content_length = -1;

    /* Bytes beyond the head limit are never looked at: the head must end within it. */
    size_t lim = len < MD_HTTP_MAX_HEAD ? len : MD_HTTP_MAX_HEAD;
    size_t pos = 0, end, next;
    int rc = find_line(buf, lim, pos, &end, &next);
    if (rc <= 0) {
        return rc < 0 ? rc : (len >= MD_HTTP_MAX_HEAD ? ERR_TOO_LARGE : 0);
    }
    rc = parse_request_line(buf, end, req);
    if (rc < 0) {
        return rc;
    }
    pos = next;
    for (;;) {
        rc = find_line(buf, lim, pos, &end, &next);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            return len >= MD_HTTP_MAX_HEAD ? ERR_TOO_LARGE : 0;
        }
        if (end == pos) {
            req->head_len = next;
            assert(req->head_len <= len && req->head_len <= MD_HTTP_MAX_HEAD);
            return 1;
        }
        rc = parse_header_line(buf + pos, end - pos, req);
        if (rc < 0) {
            return rc;
        }
        pos = next;
    }
}

const md_http_header *md_http_header_get(const md_http_request *req, const char *name)
{
    assert(req != NULL && name != NULL);
    for (size_t i = 0; i < req->n_headers; i++) {
        if (ieq(req->headers[i].name, req->headers[i].name_len, name)) {
            return &req->headers[i];
        }
    }
    return NULL;
}
