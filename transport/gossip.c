/* gossip.c: dissemination of versioned items. Each node publishes only its own items; a change
 * is pushed to every peer at once, and every gossip interval a DIGEST (count and xor-hash of our
 * items) lets each peer check what it holds of ours. Changes made in one loop turn are pushed
 * together. A mismatch makes the peer PULL our whole set,
 * which we send as a chunked "complete set" so it can also drop what we removed. */
#include "tp_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void tp__gossip_send_digest(tp *t, tp__peer *p)
{
    uint8_t buf[12];
    ut_wr w;
    ut_wr_fixed(&w, buf, sizeof buf);
    tp__digest_encode(&w, (uint32_t)t->own.n, t->own.hash);
    tp__net_send(t, p, TP__DIGEST, w.p, w.len, false);
}

void tp__gossip_reset_peer(tp *t, tp__peer *p, bool notify)
{
    tp__kv_clear(&p->items);
    p->sync_active = false;
    p->pulled_ms = 0; /* a PULL to its earlier run will not be answered */
    if (notify && t->cb.on_gossip_reset != NULL) {
        t->cb.on_gossip_reset(t->cb.ctx, p->id);
    }
}

/* chunk_limit: the body size an ITEMS message aims to stay under. */
static size_t chunk_limit(const tp *t) { return t->max_bytes / 2; }

/* The items a send covers: every one of ours (sel NULL), or those at the positions in sel. */
typedef struct {
    const size_t *sel;
    size_t n;
} selection;

static const tp__item *sel_item(const tp *t, selection s, size_t k) { return &t->own.v[s.sel ? s.sel[k] : k]; }

/* next_chunk finds the end of the chunk that starts at the selection's k-th item: the items that
 * fit under chunk_limit, at least one. *count gets how many. */
static size_t next_chunk(const tp *t, selection s, size_t k, uint32_t *count)
{
    size_t cur = TP__ITEMS_HDR_LEN;
    *count = 0;
    for (; k < s.n; k++) {
        const tp__item *it = sel_item(t, s, k);
        size_t w = tp__item_wire_len(it->klen, it->vlen);
        if (cur + w > chunk_limit(t) && *count > 0) {
            break;
        }
        cur += w;
        (*count)++;
    }
    return k;
}

/* send_items sends the selected items of ours to one peer or to every peer (to == NULL). A
 * complete set is numbered so the receiver knows when it has all of it. */
static void send_items(tp *t, tp__peer *to, selection s, bool complete)
{
    tp__items_hdr h = {.complete = complete, .n_chunks = 1};
    uint32_t count;
    if (complete) {
        h.n_chunks = 0;
        for (size_t k = 0; h.n_chunks == 0 || k < s.n; h.n_chunks++) {
            k = next_chunk(t, s, k, &count);
        }
        if (++t->sync_next == 0) {
            t->sync_next = 1;
        }
        h.sync_id = t->sync_next;
    }
    size_t k = 0;
    for (uint32_t c = 0; (c == 0 || k < s.n) && !t->closing; c++) {
        size_t first = k;
        k = next_chunk(t, s, first, &count);
        if (count == 0 && !complete) {
            break;
        }
        ut_wr w;
        ut_wr_init(&w, t->max_bytes);
        h.chunk = complete ? c : 0;
        h.count = count;
        tp__items_encode_hdr(&w, &h);
        for (size_t j = first; j < k; j++) {
            const tp__item *it = sel_item(t, s, j);
            tp__items_encode_item(&w, it->key, it->klen, it->version, it->val, it->vlen);
        }
        for (size_t p = 0; !w.bad && p < t->n_peers && !t->closing; p++) {
            if (to == NULL || to == &t->peers[p]) {
                tp__net_send(t, &t->peers[p], TP__ITEMS, w.p, w.len, false);
            }
        }
        ut_wr_free(&w);
    }
}

void tp__gossip_flush(tp *t)
{
    if (t->n_pending == 0) {
        return;
    }
    uv_idle_stop(&t->flush);
    send_items(t, NULL, (selection){.sel = t->pending, .n = t->n_pending}, false);
    for (size_t k = 0; k < t->n_pending; k++) {
        t->own.v[t->pending[k]].mark = 0;
    }
    t->n_pending = 0;
}

static void on_flush(uv_idle_t *h) { tp__gossip_flush(h->data); }

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
        /* One PULL at a time: a large set takes a while on a slow link, and the digests that
         * arrive meanwhile do not match yet. Ask again only once it is overdue (lost). */
        int64_t now = (int64_t)uv_now(t->loop);
        if (p->pulled_ms != 0 && now - p->pulled_ms < TP__PULL_PATIENCE * t->gossip_ms) {
            return 0;
        }
        if (tp__net_send(t, p, TP__PULL, NULL, 0, false) == 0) {
            p->pulled_ms = now > 0 ? now : 1;
        }
    }
    return 0;
}

int tp__gossip_on_pull(tp *t, tp__peer *p, const uint8_t *body, size_t len)
{
    if (tp__pull_decode(body, len) != 0) {
        return -EBADMSG;
    }
    tp__gossip_flush(t); /* pushes first, so none arrives after the complete set */
    send_items(t, p, (selection){.sel = NULL, .n = t->own.n}, true);
    return 0;
}

/* finish_sync drops p's items that the complete set just received did not contain. */
static void finish_sync(tp *t, tp__peer *p)
{
    p->sync_active = false;
    p->pulled_ms = 0;
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
    bool was_pending = cur != NULL && cur->mark != 0;
    if (cur != NULL && cur->vlen == len && (len == 0 || memcmp(cur->val, val, len) == 0)) {
        return 0;
    }
    if (!was_pending && t->n_pending == t->pending_cap) {
        size_t cap = t->pending_cap ? 2 * t->pending_cap : 64;
        size_t *pv = realloc(t->pending, cap * sizeof *pv);
        if (pv == NULL) {
            return -ENOMEM;
        }
        t->pending = pv;
        t->pending_cap = cap;
    }
    /* One counter for all our items: a key removed and set again still gets a newer version. */
    uint64_t version = t->own_version + 1;
    int rc = tp__kv_set(&t->own, key, klen, version, val, len, 1);
    if (rc != 0) {
        return rc;
    }
    t->own_version = version;
    if (!was_pending) {
        t->pending[t->n_pending++] = cur != NULL ? pos : t->own.n - 1;
    }
    /* The push goes out once this loop turn's callbacks are done (an idle handle keeps the loop
     * from blocking until then), so a burst of changes travels as one ITEMS message. */
    if (t->started) {
        uv_idle_start(&t->flush, on_flush);
    }
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
    /* Rare (a service leaves the config): fixing the pending positions by a walk is fine. */
    size_t last = t->own.n - 1;
    for (size_t k = 0; k < t->n_pending;) {
        if (t->pending[k] == pos) {
            t->pending[k] = t->pending[--t->n_pending];
            continue;
        }
        if (t->pending[k] == last) {
            t->pending[k] = pos; /* the last item moves into the hole */
        }
        k++;
    }
    tp__kv_remove_at(&t->own, pos);
    return 0;
}
