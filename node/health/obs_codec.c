/* obs_codec.c: fixed little-endian layouts with a version byte; every read is bounds-checked. */
#include "health.h"

#include <errno.h>
#include <string.h>

#include "util.h"

size_t md_obs_encode(const md_obs *o, uint8_t *buf)
{
    uint8_t *p = buf;
    *p++ = MD_OBS_CODEC_VERSION;
    *p++ = (uint8_t)o->state;
    *p++ = (uint8_t)o->err;
    p = ut_put_le16(p, o->http_status);
    p = ut_put_le32(p, o->consecutive_failures);
    p = ut_put_le32(p, o->latency_us);
    p = ut_put_le64(p, (uint64_t)o->observed_at_ms);
    p = ut_put_le64(p, (uint64_t)o->state_since_ms);
    return (size_t)(p - buf);
}

int md_obs_decode(const uint8_t *buf, size_t len, md_obs *o)
{
    ut_rd r;
    ut_rd_init(&r, buf, len);
    md_obs t;
    memset(&t, 0, sizeof t); /* padding too: the tests compare observations bytewise */
    if (ut_rd_le(&r, 1) != MD_OBS_CODEC_VERSION)
        return -EINVAL;
    uint64_t state = ut_rd_le(&r, 1), err = ut_rd_le(&r, 1);
    t.http_status = (uint16_t)ut_rd_le(&r, 2);
    t.consecutive_failures = (uint32_t)ut_rd_le(&r, 4);
    t.latency_us = (uint32_t)ut_rd_le(&r, 4);
    t.observed_at_ms = (int64_t)ut_rd_le(&r, 8);
    t.state_since_ms = (int64_t)ut_rd_le(&r, 8);
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
    p = ut_put_le64(p, (uint64_t)n->started_at_ms);
    *p++ = (uint8_t)rl;
    memcpy(p, n->region, rl);
    p += rl;
    return (size_t)(p - buf);
}

int md_node_info_decode(const uint8_t *buf, size_t len, md_node_info *n)
{
    ut_rd r;
    ut_rd_init(&r, buf, len);
    md_node_info t;
    memset(&t, 0, sizeof t);
    if (ut_rd_le(&r, 1) != MD_OBS_CODEC_VERSION)
        return -EINVAL;
    uint64_t iso = ut_rd_le(&r, 1);
    t.started_at_ms = (int64_t)ut_rd_le(&r, 8);
    uint64_t rl = ut_rd_le(&r, 1);
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
