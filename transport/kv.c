/* kv.c: the item tables of gossip: one node's items, each with its version and a copy of its
 * value, an index to find them by key, and the xor of all item hashes that digests compare. */
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

static uint64_t key_hash(const char *key, size_t klen)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < klen; i++) {
        h = (h ^ (uint8_t)key[i]) * 0x100000001b3ULL;
    }
    return h;
}

uint64_t tp__item_hash(const char *key, size_t klen, uint64_t version)
{
    return mix64(key_hash(key, klen) ^ mix64(version));
}

/* The index's home slot of a key hash (mixed: FNV's low bits alone cluster on similar keys). */
static size_t home(const tp__kv *kv, uint64_t kh) { return (size_t)mix64(kh) & (kv->idx_cap - 1); }

/* slot_of returns the index slot that holds key, or the empty slot where it would go. */
static size_t slot_of(const tp__kv *kv, const char *key, size_t klen, uint64_t kh)
{
    size_t mask = kv->idx_cap - 1;
    for (size_t s = home(kv, kh);; s = (s + 1) & mask) {
        uint32_t e = kv->idx[s];
        if (e == 0) {
            return s;
        }
        const tp__item *it = &kv->v[e - 1];
        if (it->kh == kh && it->klen == klen && memcmp(it->key, key, klen) == 0) {
            return s;
        }
    }
}

tp__item *tp__kv_find(const tp__kv *kv, const char *key, size_t klen, size_t *pos)
{
    *pos = kv->n;
    if (kv->n == 0) {
        return NULL;
    }
    uint32_t e = kv->idx[slot_of(kv, key, klen, key_hash(key, klen))];
    if (e == 0) {
        return NULL;
    }
    *pos = e - 1;
    return &kv->v[e - 1];
}

/* grow_index makes room for n items at under half load, re-indexing every item. */
static int grow_index(tp__kv *kv, size_t n)
{
    if (n > UINT32_MAX / 4) {
        return -ENOMEM;
    }
    size_t cap = kv->idx_cap ? kv->idx_cap : 32;
    while (cap < 2 * n) {
        cap *= 2;
    }
    if (cap == kv->idx_cap) {
        return 0;
    }
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (idx == NULL) {
        return -ENOMEM;
    }
    free(kv->idx);
    kv->idx = idx;
    kv->idx_cap = cap;
    for (size_t i = 0; i < kv->n; i++) {
        size_t s = home(kv, kv->v[i].kh);
        while (idx[s] != 0) {
            s = (s + 1) & (cap - 1);
        }
        idx[s] = (uint32_t)(i + 1);
    }
    return 0;
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
    if (kcopy == NULL || grow_index(kv, kv->n + 1) != 0) {
        free(copy);
        free(kcopy);
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
    uint64_t kh = key_hash(key, klen);
    kv->idx[slot_of(kv, key, klen, kh)] = (uint32_t)(kv->n + 1);
    kv->v[kv->n] = (tp__item){.key = kcopy, .klen = klen, .kh = kh, .version = version, .val = copy, .vlen = vlen,
                              .mark = mark};
    kv->n++;
    kv->hash ^= tp__item_hash(key, klen, version);
    return 0;
}

/* unindex empties slot s and shifts back the entries after it that could live there, so every
 * key stays reachable from its home slot without tombstones (linear probing's deletion). */
static void unindex(tp__kv *kv, size_t s)
{
    size_t mask = kv->idx_cap - 1;
    for (size_t j = (s + 1) & mask; kv->idx[j] != 0; j = (j + 1) & mask) {
        size_t h = home(kv, kv->v[kv->idx[j] - 1].kh);
        /* The entry at j may move to s unless its home lies cyclically in (s, j]. */
        bool stays = s <= j ? (s < h && h <= j) : (s < h || h <= j);
        if (!stays) {
            kv->idx[s] = kv->idx[j];
            s = j;
        }
    }
    kv->idx[s] = 0;
}

void tp__kv_remove_at(tp__kv *kv, size_t pos)
{
    assert(pos < kv->n);
    tp__item *it = &kv->v[pos];
    kv->hash ^= tp__item_hash(it->key, it->klen, it->version);
    unindex(kv, slot_of(kv, it->key, it->klen, it->kh));
    free(it->key);
    free(it->val);
    size_t last = kv->n - 1;
    if (pos != last) {
        /* The last item fills the hole: repoint its index entry. */
        const tp__item *m = &kv->v[last];
        kv->idx[slot_of(kv, m->key, m->klen, m->kh)] = (uint32_t)(pos + 1);
        kv->v[pos] = *m;
    }
    kv->n--;
}

void tp__kv_clear(tp__kv *kv)
{
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->v[i].key);
        free(kv->v[i].val);
    }
    free(kv->v);
    free(kv->idx);
    memset(kv, 0, sizeof *kv);
}
