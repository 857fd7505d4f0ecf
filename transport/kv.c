/* kv.c: the item tables of gossip: one node's items sorted by key, each with its version and a
 * copy of its value, plus the xor of all item hashes that digests compare. */
#include "tp_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t tp__item_hash(const char *key, size_t klen, uint64_t version)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a over the key, then mixed with the version */
    for (size_t i = 0; i < klen; i++) {
        h = (h ^ (uint8_t)key[i]) * 0x100000001b3ULL;
    }
    return mix64(h ^ mix64(version));
}

static int cmp_key(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

tp__item *tp__kv_find(const tp__kv *kv, const char *key, size_t klen, size_t *pos)
{
    size_t lo = 0, hi = kv->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_key(kv->v[mid].key, kv->v[mid].klen, key, klen);
        if (c == 0) {
            *pos = mid;
            return &kv->v[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *pos = lo;
    return NULL;
}

int tp__kv_set(tp__kv *kv, const char *key, size_t klen, uint64_t version, const void *val, size_t vlen,
               uint32_t mark)
{
    size_t pos;
    tp__item *it = tp__kv_find(kv, key, klen, &pos);
    uint8_t *copy = NULL;
    if (vlen > 0) {
        if ((copy = malloc(vlen)) == NULL) {
            return -ENOMEM;
        }
        memcpy(copy, val, vlen);
    }
    if (it != NULL) {
        kv->hash ^= tp__item_hash(it->key, it->klen, it->version) ^ tp__item_hash(key, klen, version);
        free(it->val);
        it->val = copy;
        it->vlen = vlen;
        it->version = version;
        it->mark = mark;
        return 0;
    }
    char *kcopy = malloc(klen + 1);
    if (kcopy == NULL) {
        free(copy);
        return -ENOMEM;
    }
    memcpy(kcopy, key, klen);
    kcopy[klen] = '\0';
    if (kv->n == kv->cap) {
        size_t cap = kv->cap ? kv->cap * 2 : 16;
        tp__item *v = realloc(kv->v, cap * sizeof *v);
        if (v == NULL) {
            free(copy);
            free(kcopy);
            return -ENOMEM;
        }
        kv->v = v;
        kv->cap = cap;
    }
    memmove(&kv->v[pos + 1], &kv->v[pos], (kv->n - pos) * sizeof kv->v[0]);
    kv->v[pos] = (tp__item){.key = kcopy, .klen = klen, .version = version, .val = copy, .vlen = vlen, .mark = mark};
    kv->n++;
    kv->hash ^= tp__item_hash(key, klen, version);
    return 0;
}

void tp__kv_remove_at(tp__kv *kv, size_t pos)
{
    assert(pos < kv->n);
    tp__item *it = &kv->v[pos];
    kv->hash ^= tp__item_hash(it->key, it->klen, it->version);
    free(it->key);
    free(it->val);
    memmove(&kv->v[pos], &kv->v[pos + 1], (kv->n - pos - 1) * sizeof kv->v[0]);
    kv->n--;
}

void tp__kv_clear(tp__kv *kv)
{
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->v[i].key);
        free(kv->v[i].val);
    }
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}
