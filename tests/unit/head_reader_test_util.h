/* head_reader_test_util.h: the read side of the unit tests' small libuv HTTP servers (test_probe,
 * test_monitor): a connection's bytes are buffered until a request head is complete, then taken
 * out one head at a time. Requests there have no body. Include after uv.h. */
#ifndef MD_HEAD_READER_TEST_UTIL_H
#define MD_HEAD_READER_TEST_UTIL_H

#include <stdbool.h>
#include <string.h>
#include <uv.h>

typedef struct {
    char buf[4096];
    size_t len;
} head_reader;

/* For a uv_alloc_cb: the free part of the buffer. */
static inline uv_buf_t head_reader_space(head_reader *r)
{
    return uv_buf_init(r->buf + r->len, (unsigned)(sizeof r->buf - r->len));
}

/* Takes the next complete head out of the buffer: its length (with the blank line), and *head
 * pointing at a copy valid until the next call; 0 when no head is complete yet. */
static inline size_t head_reader_next(head_reader *r, const char **head)
{
    static char copy[sizeof(((head_reader *)0)->buf) + 1];
    char *end = memmem(r->buf, r->len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t n = (size_t)(end + 4 - r->buf);
    memcpy(copy, r->buf, n);
    copy[n] = '\0';
    memmove(r->buf, r->buf + n, r->len - n);
    r->len -= n;
    *head = copy;
    return n;
}

/* A buffer full without a complete head: not a request of these tests. */
static inline bool head_reader_full(const head_reader *r)
{
    return r->len == sizeof r->buf;
}

#endif
