/* obs_codec.c: fixed little-endian layouts with a version byte; every read is bounds-checked. */
#include "health.h"

#include <errno.h>
#include <string.h>

static void put_u16(uint8_t **p, uint16_t v)
{
    (*p)[0] = (uint8_t)v;
    (*p)[1] = (uint8_t)(v >> 8);
    *p += 2;
}

static void put_u32(uint8_t **p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        (*p)[i] = (uint8_t)(v >> (8 * i));
    *p += 4;
}

static void put_u64(uint8_t **p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        (*p)[i] = (uint8_t)(v >> (8 * i));
    *p += 8;
}

typedef struct {
    const uint8_t *p;
    size_t left;
    bool bad;
} reader;

static uint64_t get_n(reader *r, int n)
{
    if (r->bad || r->left < (size_t)n) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    r->left -= (size_t)n;
    return v;
}

size_t md_obs_encode(const md_obs *o, uint8_t *buf)
{
    uint8_t *p = buf;
    *p++ = MD_OBS_CODEC_VERSION;
    *p++ = (uint8_t)o->state;
    *p++ = (uint8_t)o->err;
    put_u16(&p, o->http_status);
    put_u32(&p, o->consecutive_failures);
    put_u32(&p, o->latency_us);
    put_u64(&p, (uint64_t)o->observed_at_ms);
    put_u64(&p, (uint64_t)o->state_since_ms);
    return (size_t)(p - buf);
}

int md_obs_decode(const uint8_t *buf, size_t len, md_obs *o)
{
    reader r = { buf, len, false };
    md_obs t;
    if (get_n(&r, 1) != MD_OBS_CODEC_VERSION)
        return -EINVAL;
    uint64_t state = get_n(&r, 1), err = get_n(&r, 1);
    t.http_status = (uint16_t)get_n(&r, 2);
    t.consecutive_failures = (uint32_t)get_n(&r, 4);
    t.latency_us = (uint32_t)get_n(&r, 4);
    t.observed_at_ms = (int64_t)get_n(&r, 8);
    t.state_since_ms = (int64_t)get_n(&r, 8);
    if (r.bad || r.left != 0 || state >= MD_STATE_COUNT || err >= MD_ERR_COUNT || t.http_status > 999)
        return -EINVAL;
    t.state = (md_state)state;
    t.err = (md_err_class)err;
    *o = t;
    return 0;
}

size_t md_node_info_encode(const md_node_info *n, uint8_t *buf)
{
    uint8_t *p = buf;
    size_t rl = strnlen(n->region, sizeof n->region - 1);
    *p++ = MD_OBS_CODEC_VERSION;
    *p++ = n->isolated ? 1 : 0;
    put_u64(&p, (uint64_t)n->started_at_ms);
    *p++ = (uint8_t)rl;
    memcpy(p, n->region, rl);
    p += rl;
    return (size_t)(p - buf);
}

int md_node_info_decode(const uint8_t *buf, size_t len, md_node_info *n)
{
    reader r = { buf, len, false };
    md_node_info t;
    memset(&t, 0, sizeof t);
    if (get_n(&r, 1) != MD_OBS_CODEC_VERSION)
        return -EINVAL;
    uint64_t iso = get_n(&r, 1);
    t.started_at_ms = (int64_t)get_n(&r, 8);
    uint64_t rl = get_n(&r, 1);
    if (r.bad || iso > 1 || rl > 64 || r.left != rl)
        return -EINVAL;
    for (size_t i = 0; i < rl; i++) {
        uint8_t c = r.p[i];
        if (c < 0x21 || c > 0x7e) /* printable, no blanks: it is shown and logged */
            return -EINVAL;
        t.region[i] = (char)c;
    }
    t.isolated = iso == 1;
    *n = t;
    return 0;
}

bool md_obs_differs(const md_obs *a, const md_obs *b)
{
    return a->state != b->state || a->consecutive_failures != b->consecutive_failures || a->err != b->err ||
           a->http_status != b->http_status;
}
