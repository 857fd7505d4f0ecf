/* render_stream.c: the renderers' text buffer and the stream that hands a document out in
 * bounded chunks, so the API never holds a whole /metrics or /v1/status text in memory. */
#include "render_int.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void md__buf_put(md__buf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void md__buf_puts(md__buf *b, const char *s)
{
    md__buf_put(b, s, strlen(s));
}

void md__buf_putf(md__buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < sizeof tmp); /* only numbers and fixed names go through here */
    md__buf_put(b, tmp, (size_t)n);
}

md_render_stream *md__render_stream_new(const md_view *s, int64_t now_ms, bool (*step)(md_render_stream *))
{
    assert(s != NULL && step != NULL);
    md_render_stream *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return NULL;
    }
    st->s = s;
    st->now_ms = now_ms;
    st->step = step;
    return st;
}

long md_render_stream_next(md_render_stream *st, const char **out)
{
    assert(st != NULL && out != NULL);
    st->b.len = 0;
    while (st->b.len < MD__RENDER_CHUNK && !st->b.oom && st->step(st)) {
    }
    if (st->b.oom) {
        return -ENOMEM;
    }
    *out = st->b.p;
    return (long)st->b.len;
}

void md_render_stream_free(md_render_stream *st)
{
    if (st == NULL) {
        return;
    }
    free(st->b.p);
    free(st);
}

char *md__render_all(md_render_stream *st)
{
    if (st == NULL) {
        return NULL;
    }
    md__buf all = { 0 };
    /* One buffer for the whole document: steps append to it directly. */
    st->b = all;
    while (!st->b.oom && st->step(st)) {
    }
    if (!st->b.oom && st->b.p == NULL) {
        md__buf_put(&st->b, "", 0); /* an empty document is still a string */
    }
    char *doc = st->b.oom ? NULL : st->b.p;
    if (doc == NULL) {
        free(st->b.p);
    }
    st->b.p = NULL;
    md_render_stream_free(st);
    return doc;
}
