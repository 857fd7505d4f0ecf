/* util.c: the out-of-line parts of util.h: the bounds-checked reader, the bounded writer and the
 * UTF-8 sanitiser. */
#include "util.h"

#include <stdlib.h>
#include <string.h>

void ut_rd_init(ut_rd *r, const void *buf, size_t len)
{
    r->p = buf;
    r->left = buf ? len : 0;
    r->bad = false;
}

const uint8_t *ut_rd_bytes(ut_rd *r, size_t n)
{
    if (r->bad || n > r->left) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

uint64_t ut_rd_le(ut_rd *r, size_t n)
{
    const uint8_t *p = ut_rd_bytes(r, n);
    uint64_t v = 0;
    if (p == NULL)
        return 0;
    for (size_t i = 0; i < n && i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void ut_wr_init(ut_wr *w, size_t max)
{
    memset(w, 0, sizeof *w);
    w->max = max;
    w->owned = true;
}

void ut_wr_fixed(ut_wr *w, uint8_t *buf, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->p = buf;
    w->cap = cap;
    w->max = cap;
}

uint8_t *ut_wr_room(ut_wr *w, size_t n)
{
    if (w->bad || n > w->max - w->len) {
        w->bad = true;
        return NULL;
    }
    if (w->len + n > w->cap) {
        if (!w->owned) {
            w->bad = true;
            return NULL;
        }
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap = cap > w->max / 2 ? w->max : cap * 2;
        uint8_t *p = realloc(w->p, cap);
        if (p == NULL) {
            w->bad = true;
            return NULL;
        }
        w->p = p;
        w->cap = cap;
    }
    return w->p + w->len;
}

void ut_wr_bytes(ut_wr *w, const void *src, size_t n)
{
    uint8_t *to = n ? ut_wr_room(w, n) : NULL;
    if (to == NULL)
        return;
    memcpy(to, src, n);
    w->len += n;
}

void ut_wr_free(ut_wr *w)
{
    if (w->owned)
        free(w->p);
    memset(w, 0, sizeof *w);
}

size_t ut_utf8_len(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint8_t c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
        hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
    } else {
        return 0; /* a continuation byte, 0xC0/0xC1 (overlong) or 0xF5 and up */
    }
    if (len > n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* is_control: an ASCII byte that must not pass: NUL, C0 controls but '\t' and '\n', DEL. */
static bool is_control(uint8_t c)
{
    return (c < 0x20 && c != '\n' && c != '\t') || c == 0x7F;
}

size_t ut_utf8_clean(char *out, size_t max, const void *in, size_t n, unsigned flags)
{
    const uint8_t *s = in;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        if ((flags & UT_UTF8_ONE_LINE) && (s[i] == '\n' || s[i] == '\r'))
            break;
        size_t len = ut_utf8_len(s + i, n - i);
        if (w + (len ? len : 1) > max)
            break;
        if (len == 0 || (len == 1 && is_control(s[i]))) {
            out[w++] = '?';
            i++;
            continue;
        }
        memmove(out + w, s + i, len);
        w += len;
        i += len;
    }
    return w;
}

bool ut_utf8_is_clean(const void *p, size_t n)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < n;) {
        size_t len = ut_utf8_len(s + i, n - i);
        if (len == 0 || (len == 1 && is_control(s[i])))
            return false;
        i += len;
    }
    return true;
}
