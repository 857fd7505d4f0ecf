/* codec.c: the bounds-checked little-endian writer (the reader is util.h's ut_rd), and the
 * encoders and decoders of the transport's own message bodies (ping/pong, digest, pull, items).
 * Every decoder treats its input as hostile: exact lengths, no reads past the end, no trailing
 * bytes. */
#include "tp_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void tp__wr_init(tp__wr *w, size_t max)
{
    memset(w, 0, sizeof *w);
    w->max = max;
    w->owned = true;
}

void tp__wr_fixed(tp__wr *w, uint8_t *buf, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->p = buf;
    w->cap = cap;
    w->max = cap;
}

/* reserve makes room for n more bytes, or marks the writer bad. */
static bool reserve(tp__wr *w, size_t n)
{
    if (w->bad || n > w->max - w->len) {
        w->bad = true;
        return false;
    }
    if (w->len + n <= w->cap) {
        return true;
    }
    if (!w->owned) {
        w->bad = true;
        return false;
    }
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + n) {
        cap = cap > w->max / 2 ? w->max : cap * 2;
    }
    uint8_t *p = realloc(w->p, cap);
    if (p == NULL) {
        w->bad = true;
        return false;
    }
    w->p = p;
    w->cap = cap;
    return true;
}

void tp__wr_bytes(tp__wr *w, const void *src, size_t n)
{
    if (n == 0 || !reserve(w, n)) {
        return;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

void tp__wr_u8(tp__wr *w, uint8_t v) { tp__wr_bytes(w, &v, 1); }

void tp__wr_u32(tp__wr *w, uint32_t v)
{
    uint8_t b[4];
    ut_put_le32(b, v);
    tp__wr_bytes(w, b, sizeof b);
}

void tp__wr_u64(tp__wr *w, uint64_t v)
{
    uint8_t b[8];
    ut_put_le64(b, v);
    tp__wr_bytes(w, b, sizeof b);
}

void tp__wr_free(tp__wr *w)
{
    if (w->owned) {
        free(w->p);
    }
    memset(w, 0, sizeof *w);
}

void tp__ping_encode(tp__wr *w, uint64_t t_ns) { tp__wr_u64(w, t_ns); }

int tp__ping_decode(const uint8_t *body, size_t len, uint64_t *t_ns)
{
    ut_rd r;
    ut_rd_init(&r, body, len);
    *t_ns = ut_rd_u64(&r);
    return ut_rd_done(&r) ? 0 : -EBADMSG;
}

void tp__digest_encode(tp__wr *w, uint32_t n_items, uint64_t hash)
{
    tp__wr_u32(w, n_items);
    tp__wr_u64(w, hash);
}

int tp__digest_decode(const uint8_t *body, size_t len, uint32_t *n_items, uint64_t *hash)
{
    ut_rd r;
    ut_rd_init(&r, body, len);
    *n_items = ut_rd_u32(&r);
    *hash = ut_rd_u64(&r);
    return ut_rd_done(&r) ? 0 : -EBADMSG;
}

int tp__pull_decode(const uint8_t *body, size_t len)
{
    (void)body;
    return len == 0 ? 0 : -EBADMSG;
}

size_t tp__item_wire_len(size_t klen, size_t vlen) { return 1 + klen + 8 + 4 + vlen; }

void tp__items_encode_hdr(tp__wr *w, const tp__items_hdr *h)
{
    assert(h->n_chunks >= 1 && h->chunk < h->n_chunks);
    tp__wr_u8(w, h->complete ? 1 : 0);
    tp__wr_u32(w, h->sync_id);
    tp__wr_u32(w, h->chunk);
    tp__wr_u32(w, h->n_chunks);
    tp__wr_u32(w, h->count);
}

void tp__items_encode_item(tp__wr *w, const char *key, size_t klen, uint64_t version, const void *val,
                           size_t vlen)
{
    assert(klen >= 1 && klen <= TP_MAX_KEY_LEN && vlen <= UINT32_MAX);
    tp__wr_u8(w, (uint8_t)klen);
    tp__wr_bytes(w, key, klen);
    tp__wr_u64(w, version);
    tp__wr_u32(w, (uint32_t)vlen);
    tp__wr_bytes(w, val, vlen);
}

/* read_item reads one item; false when it is short or breaks a rule. */
static bool read_item(ut_rd *r, tp__wire_item *out)
{
    size_t klen = ut_rd_u8(r);
    const uint8_t *key = ut_rd_bytes(r, klen);
    uint64_t version = ut_rd_u64(r);
    size_t vlen = ut_rd_u32(r);
    const uint8_t *val = ut_rd_bytes(r, vlen);
    if (r->bad || klen == 0 || klen > TP_MAX_KEY_LEN || version == 0 || memchr(key, '\0', klen) != NULL) {
        return false;
    }
    if (out != NULL) {
        memcpy(out->key, key, klen);
        out->key[klen] = '\0';
        out->klen = klen;
        out->version = version;
        out->val = val;
        out->vlen = vlen;
    }
    return true;
}

int tp__items_open(tp__items_it *it, const uint8_t *body, size_t len)
{
    memset(it, 0, sizeof *it);
    ut_rd_init(&it->rd, body, len);
    uint8_t complete = ut_rd_u8(&it->rd);
    it->hdr.complete = complete == 1;
    it->hdr.sync_id = ut_rd_u32(&it->rd);
    it->hdr.chunk = ut_rd_u32(&it->rd);
    it->hdr.n_chunks = ut_rd_u32(&it->rd);
    it->hdr.count = ut_rd_u32(&it->rd);
    if (it->rd.bad || complete > 1 || it->hdr.n_chunks == 0 || it->hdr.chunk >= it->hdr.n_chunks) {
        return -EBADMSG;
    }
    /* Each item takes at least 14 bytes: a huge count cannot make us loop long. */
    ut_rd scan = it->rd;
    for (uint32_t i = 0; i < it->hdr.count; i++) {
        if (!read_item(&scan, NULL)) {
            return -EBADMSG;
        }
    }
    if (!ut_rd_done(&scan)) {
        return -EBADMSG;
    }
    it->left = it->hdr.count;
    return 0;
}

bool tp__items_next(tp__items_it *it, tp__wire_item *out)
{
    if (it->left == 0) {
        return false;
    }
    it->left--;
    bool ok = read_item(&it->rd, out);
    assert(ok); /* tp__items_open validated every item */
    return ok;
}
