/* history.c: a service's last MD_HISTORY_LEN check results, delta-coded in a buffer sized to them
 * (pure: no clock, no I/O). */
#include "health.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define ERR_MASK 7u         /* error classes fit 3 bits */
#define LAT_MAX ((UINT32_C(1) << 22) - 1)   /* units of LAT_UNIT_US: ~419 s */
#define GAP_MAX ((UINT32_C(1) << 31) - 1)   /* ms: 24.8 days */
#define LAT_UNIT_US 100
#define ENTRY_MAX 10       /* a tag byte + a 5-byte start gap varint + a 4-byte latency varint */
#define STEP 32            /* the buffer grows and shrinks in steps of this many bytes */

_Static_assert(MD_ERR_COUNT - 1 <= ERR_MASK, "every error class fits");
_Static_assert(MD_HISTORY_LEN * ENTRY_MAX + 2 * STEP <= UINT16_MAX, "lengths fit 16 bits");

/* Zigzag: small changes either way become small unsigned numbers. */
static uint64_t zz(int64_t d)
{
    return ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
}

static int64_t unzz(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static size_t put_varint(uint8_t *o, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        o[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    o[n++] = (uint8_t)v;
    return n;
}

static size_t get_varint(const uint8_t *p, uint64_t *v)
{
    uint64_t x = 0;
    size_t n = 0;
    for (int shift = 0;; shift += 7) {
        uint8_t b = p[n++];
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            break;
        assert(shift < 35); /* our own bytes: no value needs more than 5 */
    }
    *v = x;
    return n;
}

/* What a check's gap is made of: the time between the two checks' starts (about the interval,
 * steady to a few ms) plus the change in latency. Coding the gap less that change (the "start
 * gap") keeps a service whose latency jitters by tens of ms at one byte for it. In ms, from the
 * latencies in units of LAT_UNIT_US; any fixed function would do, since the decoder applies the
 * same one. Start gaps are kept mod 2^32: the gap they give back is exact all the same. */
static uint32_t lat_change_ms(uint32_t lat, uint32_t prev_lat)
{
    return (uint32_t)(((int64_t)lat - (int64_t)prev_lat) * LAT_UNIT_US / 1000);
}

/* One entry, coded against the one before it (its start gap prev_sg and latency prev_lat): the
 * zigzag changes of start gap (g) and latency (l), in the first of these forms they fit, which
 * the leading bits of the tag byte name:
 *   0ggg llll                      a success, g < 8, l < 16 (a steady service: one byte)
 *   10gg gggg  llllllll            a success, g < 64, l < 256
 *   110g gggg  l (2 bytes, LE)     a success, g < 32, l < 65536 (steady starts, jittery latency)
 *   1110 gggg  gggggggg  llllllll  a success, g < 4096, l < 256 (a busy loop's late starts)
 *   1111 eee0  g varint  l varint  anything else, and every failure (eee: its error class)
 * Measured on results of nodes: a quiet one's 100 results took 1.04 bytes each (2.02 with the
 * coding before, a byte of class and start gap then a latency varint), a saturated one's 2.54
 * (2.99), and latencies jittering by tens of ms 2.41 (2.76). */
static size_t encode(uint8_t *o, unsigned err, uint32_t sg, uint32_t lat, uint32_t prev_sg,
                     uint32_t prev_lat)
{
    uint64_t g = zz((int32_t)(sg - prev_sg)); /* mod 2^32: see lat_change_ms */
    uint64_t l = zz((int64_t)lat - (int64_t)prev_lat);
    size_t n;
    if (err == MD_ERR_NONE && g < 8 && l < 16) {
        o[0] = (uint8_t)(g << 4 | l);
        n = 1;
    } else if (err == MD_ERR_NONE && g < 64 && l < 256) {
        o[0] = (uint8_t)(0x80 | g);
        o[1] = (uint8_t)l;
        n = 2;
    } else if (err == MD_ERR_NONE && g < 32 && l < 65536) {
        o[0] = (uint8_t)(0xC0 | g);
        o[1] = (uint8_t)l;
        o[2] = (uint8_t)(l >> 8);
        n = 3;
    } else if (err == MD_ERR_NONE && g < 4096 && l < 256) {
        o[0] = (uint8_t)(0xE0 | g >> 8);
        o[1] = (uint8_t)g;
        o[2] = (uint8_t)l;
        n = 3;
    } else {
        o[0] = (uint8_t)(0xF0 | err << 1);
        n = 1 + put_varint(o + 1, g);
        n += put_varint(o + n, l);
    }
    assert(n <= ENTRY_MAX);
    return n;
}

/* Decodes the entry at p against (*sg, *lat), the one before it, replacing them with its own;
 * *gap gets its gap. */
static size_t decode(const uint8_t *p, unsigned *err, uint32_t *sg, uint32_t *lat, uint32_t *gap)
{
    uint64_t g, l;
    size_t n;
    *err = MD_ERR_NONE;
    if (p[0] < 0x80) {
        g = p[0] >> 4;
        l = p[0] & 0x0F;
        n = 1;
    } else if (p[0] < 0xC0) {
        g = p[0] & 0x3F;
        l = p[1];
        n = 2;
    } else if (p[0] < 0xE0) {
        g = p[0] & 0x1F;
        l = p[1] | (uint64_t)p[2] << 8;
        n = 3;
    } else if (p[0] < 0xF0) {
        g = (uint64_t)(p[0] & 0x0F) << 8 | p[1];
        l = p[2];
        n = 3;
    } else {
        *err = (p[0] >> 1) & ERR_MASK;
        n = 1 + get_varint(p + 1, &g);
        n += get_varint(p + n, &l);
    }
    int64_t nl = (int64_t)*lat + unzz(l);
    assert(nl >= 0 && nl <= (int64_t)LAT_MAX && g <= UINT32_MAX);
    uint32_t prev_lat = *lat;
    *sg += (uint32_t)unzz(g);
    *lat = (uint32_t)nl;
    *gap = *sg + lat_change_ms(*lat, prev_lat);
    assert(*gap <= GAP_MAX);
    return n;
}

void md_history_init(md_history *h, int64_t base_ms)
{
    assert(h);
    memset(h, 0, sizeof *h);
    h->last_ms = base_ms;
}

void md_history_free(md_history *h)
{
    if (!h)
        return;
    assert(h->cap > 0 || h->b == NULL); /* a clone's bytes are its owner's */
    free(h->b);
    h->b = NULL;
    h->len = h->cap = h->count = 0;
}

/* The oldest entry leaves: the next is coded against it, so its values become the base. */
static void drop_oldest(md_history *h)
{
    assert(h->count > 0);
    unsigned err;
    uint32_t gap;
    size_t n = decode(h->b, &err, &h->base_sg, &h->base_lat, &gap);
    assert(n <= h->len);
    memmove(h->b, h->b + n, h->len - n);
    h->len = (uint16_t)(h->len - n);
    h->count--;
    assert(h->count > 0 || (h->len == 0 && h->base_sg == h->last_sg && h->base_lat == h->last_lat));
}

static int resize(md_history *h, size_t cap)
{
    uint8_t *b = realloc(h->b, cap);
    if (!b)
        return -1;
    h->b = b;
    h->cap = (uint16_t)cap;
    return 0;
}

/* The room to grow to for need bytes: once a few entries show what this service's cost, the
 * size the full history will need, so a history takes two or three reallocations to fill instead
 * of one a step (each left a hole in the heap that only a chunk of that size could reuse). */
static size_t grown_cap(const md_history *h, size_t need)
{
    if (h->count >= 8 && h->count < MD_HISTORY_LEN) {
        size_t full = need * MD_HISTORY_LEN / (h->count + 1u);
        if (full > need)
            need = full;
    }
    if (need > MD_HISTORY_LEN * ENTRY_MAX)
        need = MD_HISTORY_LEN * ENTRY_MAX;
    return (need + STEP - 1) / STEP * STEP;
}

void md_history_push(md_history *h, const md_check_result *r)
{
    assert(h && r);
    assert(h->count <= MD_HISTORY_LEN && h->len <= h->cap);
    assert(h->cap > 0 || h->b == NULL); /* never a clone */
    assert((unsigned)r->err <= ERR_MASK);
    /* Unsigned difference: at_ms - last_ms cannot overflow int64 for any sane pair, but a hostile
     * clock must not be undefined behaviour either. The first entry's gap is never read. */
    uint64_t gap = r->at_ms > h->last_ms ? (uint64_t)r->at_ms - (uint64_t)h->last_ms : 0;
    if (gap > GAP_MAX)
        gap = GAP_MAX;
    uint64_t lat = ((uint64_t)r->latency_us + LAT_UNIT_US / 2) / LAT_UNIT_US;
    if (lat > LAT_MAX)
        lat = LAT_MAX;
    uint8_t e[ENTRY_MAX];
    uint32_t sg = (uint32_t)gap - lat_change_ms((uint32_t)lat, h->last_lat);
    size_t n = encode(e, (unsigned)r->err, sg, (uint32_t)lat, h->last_sg, h->last_lat);
    if (h->count == MD_HISTORY_LEN)
        drop_oldest(h);
    if (h->len + n > h->cap && resize(h, grown_cap(h, h->len + n)) != 0) {
        /* Out of memory: older results make room (an empty history keeps base == last, so e is
         * still coded right); with none left, this one is not kept. */
        while (h->count > 0 && h->len + n > h->cap)
            drop_oldest(h);
        if (h->len + n > h->cap)
            return;
    }
    memcpy(h->b + h->len, e, n);
    h->len = (uint16_t)(h->len + n);
    h->count++;
    h->last_sg = sg;
    h->last_lat = (uint32_t)lat;
    if (r->at_ms > h->last_ms)
        h->last_ms = r->at_ms;
    /* Results got cheaper to code (steadier): give the room back once full, keeping a step in
     * hand so a history at the edge does not reallocate on every push. */
    if (h->count == MD_HISTORY_LEN && h->cap - h->len >= 3 * STEP)
        (void)resize(h, (h->len + STEP - 1) / STEP * STEP + STEP);
}

size_t md_history_get(const md_history *h, md_check_result *out, size_t max)
{
    assert(h && (out || max == 0));
    size_t n = h->count < max ? h->count : max;
    if (n == 0)
        return 0;
    uint32_t gaps[MD_HISTORY_LEN], lats[MD_HISTORY_LEN];
    uint8_t errs[MD_HISTORY_LEN];
    uint32_t sg = h->base_sg, lat = h->base_lat;
    size_t off = 0;
    for (size_t i = 0; i < h->count; i++) { /* oldest first: each is coded against the one before */
        unsigned err;
        off += decode(h->b + off, &err, &sg, &lat, &gaps[i]);
        lats[i] = lat;
        errs[i] = (uint8_t)err;
    }
    assert(off == h->len && sg == h->last_sg && lat == h->last_lat);
    int64_t at = h->last_ms;
    for (size_t i = 0; i < n; i++) {
        size_t k = h->count - 1 - i;
        out[i] = (md_check_result){
            .at_ms = at,
            .latency_us = lats[k] * LAT_UNIT_US,
            .err = (md_err_class)errs[k],
            .http_status = 0,
        };
        at -= (int64_t)gaps[k];
    }
    return n;
}

size_t md_history_bytes(const md_history *h)
{
    assert(h);
    return h->len;
}

void md_history_clone(md_history *dst, const md_history *src, uint8_t *storage)
{
    assert(dst && src && (storage || src->len == 0));
    *dst = *src;
    dst->b = src->len ? storage : NULL;
    dst->cap = 0; /* read-only: push and free refuse it */
    if (src->len)
        memcpy(storage, src->b, src->len);
}
