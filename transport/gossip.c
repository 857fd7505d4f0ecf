/* gossip.c: dissemination of versioned items. Each node publishes only its own items; a change
 * is pushed to every peer at once, and every gossip interval a DIGEST (count and xor-hash of our
 * items) lets each peer check what it holds of ours. A mismatch makes the peer PULL our whole set,
 * which we send as a chunked "complete set" so it can also drop what we removed. */
#include "tp_int.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

void tp__gossip_send_digest(tp *t, tp__peer *p)
{
    uint8_t buf[12];
    tp__wr w;
    tp__wr_fixed(&w, buf, sizeof buf);
    tp__digest_encode(&w, (uint32_t)t->own.n, t->own.hash);
    tp__net_send(t, p, TP__DIGEST, w.p, w.len, false);
}

void tp__gossip_reset_peer(tp *t, tp__peer *p, bool notify)
{
    tp__kv_clear(&p->items);
    p->sync_active = false;
    if (notify && t->cb.on_gossip_reset != NULL) {
        t->cb.on_gossip_reset(t->cb.ctx, p->id);
    }
}

/* chunk_limit: the body size an ITEMS message aims to stay under. */
static size_t chunk_limit(const tp *t) { return t->max_bytes / 2; }

/* send_all sends our whole item set to p as one complete set of chunks. */
static int send_all(tp *t, tp__peer *p)
{
    size_t limit = chunk_limit(t), cur = TP__ITEMS_HDR_LEN;
    uint32_t n_chunks = 1;
    for (size_t i = 0; i < t->own.n; i++) {
        size_t w = tp__item_wire_len(t->own.v[i].klen, t->own.v[i].vlen);
        if (cur + w > limit && cur > TP__ITEMS_HDR_LEN) {
            n_chunks++;
            cur = TP__ITEMS_HDR_LEN;
        }
        cur += w;
    }
    if (++t->sync_next == 0) {
        t->sync_next = 1;
    }
    tp__items_hdr h = {.complete = true, .sync_id = t->sync_next, .n_chunks = n_chunks};
    size_t i = 0;
    int rc = 0;
    for (uint32_t c = 0; c < n_chunks && rc == 0 && !t->closing; c++) {
        size_t first = i;
        cur = TP__ITEMS_HDR_LEN;
        while (i < t->own.n) {
            size_t w = tp__item_wire_len(t->own.v[i].klen, t->own.v[i].vlen);
            if (cur + w > limit && cur > TP__ITEMS_HDR_LEN) {
                break;
            }
            cur += w;
            i++;
        }
        tp__wr w;
        tp__wr_init(&w, t->max_bytes);
        h.chunk = c;
        h.count = (uint32_t)(i - first);
        tp__items_encode_hdr(&w, &h);
        for (size_t k = first; k < i; k++) {
            const tp__item *it = &t->own.v[k];
            tp__items_encode_item(&w, it->key, it->klen, it->version, it->val, it->vlen);
        }
        rc = w.bad ? -ENOMEM : tp__net_send(t, p, TP__ITEMS, w.p, w.len, false);
        tp__wr_free(&w);
    }
    assert(rc != 0 || t->closing || i == t->own.n);
    return rc;
}

int tp__gossip_on_digest(tp *t, tp__peer *p, const uint8_t *body, size_t len)
{
    uint32_t n;
    uint64_t hash;
    if (tp__digest_decode(body, len, &n, &hash) != 0) {
        return -EBADMSG;
    }
    if (n == p->items.n && hash == p->items.hash) {
        if (t->cb.on_gossip_vouch != NULL) {
            t->cb.on_gossip_vouch(t->cb.ctx, p->id);
        }
    } else {
        tp__net_send(t, p, TP__PULL, NULL, 0, false);
    }
    return 0;
}

int tp__gossip_on_pull(tp *t, tp__peer *p, const uint8_t *body, size_t len)
{
    if (tp__pull_decode(body, len) != 0) {
        return -EBADMSG;
    }
    send_all(t, p);
    return 0;
}

/* finish_sync drops p's items that the complete set just received did not contain. */
static void finish_sync(tp *t, tp__peer *p)
{
    p->sync_active = false;
    for (size_t i = p->items.n; i-- > 0 && !t->closing;) {
        if (p->items.v[i].mark == p->sync_gen) {
            continue;
        }
        char key[TP_MAX_KEY_LEN + 1];
        memcpy(key, p->items.v[i].key, p->items.v[i].klen + 1);
        tp__kv_remove_at(&p->items, i);
        if (t->cb.on_gossip_removed != NULL) {
            t->cb.on_gossip_removed(t->cb.ctx, p->id, key);
        }
    }
}

int tp__gossip_on_items(tp *t, tp__peer *p, const uint8_t *body, size_t len)
{
    tp__items_it it;
    if (tp__items_open(&it, body, len) != 0) {
        return -EBADMSG;
    }
    if (it.hdr.complete && (!p->sync_active || p->sync_id != it.hdr.sync_id)) {
        p->sync_active = true;
        p->sync_id = it.hdr.sync_id;
        p->sync_seen = 0;
        p->sync_gen++;
    }
    tp__wire_item wi;
    while (tp__items_next(&it, &wi) && !t->closing) {
        size_t pos;
        tp__item *cur = tp__kv_find(&p->items, wi.key, wi.klen, &pos);
        if (cur != NULL && wi.version <= cur->version) {
            cur->mark = p->sync_gen; /* still current: a complete set keeps it */
            continue;
        }
        if (tp__kv_set(&p->items, wi.key, wi.klen, wi.version, wi.val, wi.vlen, p->sync_gen) != 0) {
            /* Out of memory: we hold less than the owner has, so the next digest pulls again. */
            p->sync_active = false;
            return 0;
        }
        if (t->cb.on_gossip_item != NULL) {
            t->cb.on_gossip_item(t->cb.ctx, p->id, wi.key, wi.val, wi.vlen, wi.version);
        }
    }
    if (it.hdr.complete && p->sync_active && p->sync_id == it.hdr.sync_id && ++p->sync_seen == it.hdr.n_chunks &&
        !t->closing) {
        finish_sync(t, p);
    }
    return 0;
}

int tp_gossip_set(tp *t, const char *key, const void *val, size_t len)
{
    if (t == NULL || key == NULL || (val == NULL && len > 0)) {
        return -EINVAL;
    }
    assert(!t->closing);
    size_t klen = strlen(key);
    if (klen == 0 || klen > TP_MAX_KEY_LEN) {
        return -EINVAL;
    }
    if (TP__ITEMS_HDR_LEN + tp__item_wire_len(klen, len) > chunk_limit(t)) {
        return -EMSGSIZE;
    }
    size_t pos;
    const tp__item *cur = tp__kv_find(&t->own, key, klen, &pos);
    if (cur != NULL && cur->vlen == len && (len == 0 || memcmp(cur->val, val, len) == 0)) {
        return 0;
    }
    /* One counter for all our items: a key removed and set again still gets a newer version. */
    uint64_t version = t->own_version + 1;
    int rc = tp__kv_set(&t->own, key, klen, version, val, len, 0);
    if (rc != 0) {
        return rc;
    }
    t->own_version = version;
    tp__wr w;
    tp__wr_init(&w, chunk_limit(t));
    tp__items_hdr h = {.n_chunks = 1, .count = 1};
    tp__items_encode_hdr(&w, &h);
    tp__items_encode_item(&w, key, klen, version, val, len);
    if (w.bad) {
        tp__wr_free(&w);
        return 0; /* stored; the digest repairs what this push would have carried */
    }
    for (size_t i = 0; i < t->n_peers && !t->closing; i++) {
        tp__net_send(t, &t->peers[i], TP__ITEMS, w.p, w.len, false);
    }
    tp__wr_free(&w);
    return 0;
}

int tp_gossip_remove(tp *t, const char *key)
{
    if (t == NULL || key == NULL) {
        return -EINVAL;
    }
    size_t pos;
    if (tp__kv_find(&t->own, key, strlen(key), &pos) == NULL) {
        return -ENOENT;
    }
    tp__kv_remove_at(&t->own, pos);
    return 0;
}
