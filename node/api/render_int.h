/* render_int.h: what the renderers share inside node/api: a growing text buffer and the
 * resumable document stream that the API writes in bounded chunks. */
#ifndef MD_RENDER_INT_H
#define MD_RENDER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

/* A growing output buffer; oom sticks once set, so writers need not check each call. */
typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} md__buf;

void md__buf_put(md__buf *b, const char *s, size_t n);
void md__buf_puts(md__buf *b, const char *s);
__attribute__((format(printf, 2, 3))) void md__buf_putf(md__buf *b, const char *fmt, ...);

/* One document being rendered piece by piece. step renders the next piece (one node section, or
 * one service of one family or array) into b, advancing the cursor; it returns false once the
 * document is complete (nothing appended). A piece is small (a few KB at most), so a chunk never
 * holds much more than MD__RENDER_CHUNK bytes. */
struct md_render_stream {
    const md_view *s;   /* borrowed: the caller holds a reference for the stream's life */
    int64_t now_ms;
    size_t section;     /* which part of the document */
    size_t item;        /* 0: the section's head is next; k > 0: service k-1 is next */
    md__buf b;
    bool (*step)(md_render_stream *st);
};

#define MD__RENDER_CHUNK (64 * 1024)

/* md__render_stream_new returns a stream over s driven by step, or NULL on OOM. */
md_render_stream *md__render_stream_new(const md_view *s, int64_t now_ms, bool (*step)(md_render_stream *));

/* md__render_all runs a stream to its end and returns the whole document (malloc'd, the caller
 * frees), or NULL on OOM; it frees st. For the small documents and the tests. */
char *md__render_all(md_render_stream *st);

#endif
