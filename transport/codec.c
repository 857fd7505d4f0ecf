/* codec.c: the encoders and decoders of the transport's own message bodies (ping/pong, digest,
 * pull, items), over util.h's bounds-checked little-endian reader and writer. Every decoder
 * treats its input as hostile: exact lengths, no reads past the end, no trailing bytes. */
#include "tp_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void tp__ping_encode(ut_wr *w, uint64_t t_ns) { ut_wr_u64(w, t_ns); }

int tp__ping_decode(const uint8_t *body, size_t len, uint64_t *t_ns)
{
    ut_rd r;
    ut_rd_init(&r, body, len);
    *t_ns = ut_rd_u64(&r);
    return ut_rd_done(&r) ? 0 : -EBADMSG;
}

void tp__digest_encode(ut_wr *w, uint32_t n_items, uint64_t hash)
{
    ut_wr_u32(w, n_items);
    ut_wr_u64(w, hash);
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

void tp__items_encode_hdr(ut_wr *w, const tp__items_hdr *h)
{
    assert(h->n_chunks >= 1 && h->chunk < h->n_chunks);
    ut_wr_u8(w, h->complete ? 1 : 0);
    ut_wr_u32(w, h->sync_id);
    ut_wr_u32(w, h->chunk);
    ut_wr_u32(w, h->n_chunks);
    ut_wr_u32(w, h->count);
}

void tp__items_encode_item(ut_wr *w, const char *key, size_t klen, uint64_t version, const void *val,
                           size_t vlen)
{
    assert(klen >= 1 && klen <= TP_MAX_KEY_LEN && vlen <= UINT32_MAX);
    ut_wr_u8(w, (uint8_t)klen);
    ut_wr_bytes(w, key, klen);
    ut_wr_u64(w, version);
    ut_wr_u32(w, (uint32_t)vlen);
    ut_wr_bytes(w, val, vlen);
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
