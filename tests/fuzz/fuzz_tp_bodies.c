/* fuzz_tp_bodies.c: libFuzzer target for the transport's body decoders: the first byte picks
 * ping/pong, digest, pull or items, the rest is the body. Besides crashes, leaks and reads past the
 * end (each body is an exact-size heap copy), it checks the contract:
 *  - fixed-size bodies decode exactly at their size and never otherwise;
 *  - an ITEMS body that opens yields exactly its count of items, each key 1..TP_MAX_KEY_LEN bytes
 *    without NUL, version >= 1, value inside the body; re-encoding them gives the body back;
 *  - applying the items to an item table keeps every item findable and its hash equal to a recomputation. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../transport/tp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_items(const uint8_t *body, size_t len)
{
    tp__items_it it;
    if (tp__items_open(&it, body, len) != 0) {
        return;
    }
    if (it.hdr.n_chunks == 0 || it.hdr.chunk >= it.hdr.n_chunks) {
        abort();
    }
    ut_wr w;
    ut_wr_init(&w, len + 1);
    tp__items_encode_hdr(&w, &it.hdr);
    tp__kv kv = {0};
    tp__wire_item wi;
    uint32_t n = 0;
    while (tp__items_next(&it, &wi)) {
        n++;
        if (wi.klen == 0 || wi.klen > TP_MAX_KEY_LEN || strlen(wi.key) != wi.klen || wi.version == 0) {
            abort();
        }
        if (wi.vlen > 0 && (wi.val < body || wi.val + wi.vlen > body + len)) {
            abort();
        }
        tp__items_encode_item(&w, wi.key, wi.klen, wi.version, wi.val, wi.vlen);
        size_t pos;
        tp__item *cur = tp__kv_find(&kv, wi.key, wi.klen, &pos);
        if ((cur == NULL || wi.version > cur->version) &&
            tp__kv_set(&kv, wi.key, wi.klen, wi.version, wi.val, wi.vlen, 0) != 0) {
            abort();
        }
    }
    if (n != it.hdr.count || w.bad || w.len != len || memcmp(w.p, body, len) != 0) {
        abort();
    }
    uint64_t h = 0;
    for (size_t i = 0; i < kv.n; i++) {
        h ^= tp__item_hash(kv.v[i].key, kv.v[i].klen, kv.v[i].version);
        size_t pos; /* every item is found where it is, so no key is there twice */
        if (tp__kv_find(&kv, kv.v[i].key, kv.v[i].klen, &pos) != &kv.v[i] || pos != i) {
            abort();
        }
    }
    if (h != kv.hash) {
        abort();
    }
    while (kv.n > 0) { /* removal keeps the hash right too */
        tp__kv_remove_at(&kv, kv.n / 2);
    }
    if (kv.hash != 0) {
        abort();
    }
    tp__kv_clear(&kv);
    ut_wr_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t mode = data[0] % 4;
    size_t len = size - 1;
    uint8_t *body = malloc(len ? len : 1);
    if (body == NULL) {
        return 0;
    }
    memcpy(body, data + 1, len);
    uint64_t t;
    uint32_t n;
    uint64_t h;
    switch (mode) {
    case 0:
        if ((tp__ping_decode(body, len, &t) == 0) != (len == 8)) {
            abort();
        }
        break;
    case 1:
        if ((tp__digest_decode(body, len, &n, &h) == 0) != (len == 12)) {
            abort();
        }
        break;
    case 2:
        if ((tp__pull_decode(body, len) == 0) != (len == 0)) {
            abort();
        }
        break;
    default: check_items(body, len); break;
    }
    free(body);
    return 0;
}
