/* envelope.c: the authenticated envelope around every cluster message: HMAC-SHA256 (mbedtls),
 * sealing, and the checks a received frame must pass before anything in it is trusted. */
#include "tp_int.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

int tp__mac_init(tp__mac *m, const uint8_t *key, size_t len)
{
    memset(m, 0, sizeof *m);
    mbedtls_md_init(&m->ctx);
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    /* The HMAC key schedule is done once here; each message then only resets the context. */
    if (info == NULL || mbedtls_md_setup(&m->ctx, info, 1) != 0 || mbedtls_md_hmac_starts(&m->ctx, key, len) != 0) {
        mbedtls_md_free(&m->ctx);
        return -ENOMEM;
    }
    m->ready = true;
    return 0;
}

void tp__mac_compute(tp__mac *m, const uint8_t *data, size_t len, uint8_t out[TP__MAC_LEN])
{
    assert(m->ready);
    int rc = mbedtls_md_hmac_reset(&m->ctx);
    rc |= mbedtls_md_hmac_update(&m->ctx, data, len);
    rc |= mbedtls_md_hmac_finish(&m->ctx, out);
    /* These only fail on bad arguments, which would be a bug here, not bad input. */
    assert(rc == 0);
    (void)rc;
}

void tp__mac_free(tp__mac *m)
{
    if (m->ready) {
        mbedtls_md_free(&m->ctx);
    }
    m->ready = false;
}

size_t tp__env_size(const tp__env *e)
{
    return 2 + 1 + e->cluster_len + 1 + e->sender_len + 1 + e->dest_len + 8 + 8 + 8 + 8 + 8 + 4 + e->body_len + TP__MAC_LEN;
}

int tp__env_seal(const tp__env *e, tp__mac *mac, uint8_t *out, size_t cap)
{
    assert(e->cluster_len <= 255 && e->sender_len <= 255 && e->dest_len <= 255);
    if (e->body_len > UINT32_MAX || tp__env_size(e) > cap) {
        return -EMSGSIZE;
    }
    ut_wr w;
    ut_wr_fixed(&w, out, cap);
    ut_wr_u8(&w, e->version);
    ut_wr_u8(&w, e->type);
    ut_wr_u8(&w, (uint8_t)e->cluster_len);
    ut_wr_bytes(&w, e->cluster, e->cluster_len);
    ut_wr_u8(&w, (uint8_t)e->sender_len);
    ut_wr_bytes(&w, e->sender, e->sender_len);
    ut_wr_u8(&w, (uint8_t)e->dest_len);
    ut_wr_bytes(&w, e->dest, e->dest_len);
    ut_wr_u64(&w, e->epoch);
    ut_wr_u64(&w, e->nonce);
    ut_wr_u64(&w, e->echo);
    ut_wr_u64(&w, e->seq);
    ut_wr_u64(&w, (uint64_t)e->sent_at_ms);
    ut_wr_u32(&w, (uint32_t)e->body_len);
    ut_wr_bytes(&w, e->body, e->body_len);
    assert(!w.bad && w.len + TP__MAC_LEN <= cap);
    tp__mac_compute(mac, out, w.len, out + w.len);
    return 0;
}

static bool equal_ct(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < n; i++) {
        diff |= a[i] ^ b[i];
    }
    return diff == 0;
}

static bool mac_ok(tp__mac *m, const uint8_t *buf, size_t len, const uint8_t *mac)
{
    uint8_t want[TP__MAC_LEN];
    tp__mac_compute(m, buf, len - TP__MAC_LEN, want);
    return equal_ct(want, mac, TP__MAC_LEN);
}

static bool equal_str(const uint8_t *p, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* parse reads the structure only; true when every field is present and nothing follows. */
static bool parse(const uint8_t *buf, size_t len, tp__env *e, const uint8_t **mac)
{
    ut_rd r;
    ut_rd_init(&r, buf, len);
    e->version = ut_rd_u8(&r);
    e->type = ut_rd_u8(&r);
    e->cluster_len = ut_rd_u8(&r);
    e->cluster = ut_rd_bytes(&r, e->cluster_len);
    size_t sender_len = ut_rd_u8(&r);
    const uint8_t *sender = ut_rd_bytes(&r, sender_len);
    if (sender != NULL) {
        e->sender = sender;
        e->sender_len = sender_len;
    }
    e->dest_len = ut_rd_u8(&r);
    e->dest = ut_rd_bytes(&r, e->dest_len);
    e->epoch = ut_rd_u64(&r);
    e->nonce = ut_rd_u64(&r);
    e->echo = ut_rd_u64(&r);
    e->seq = ut_rd_u64(&r);
    e->sent_at_ms = (int64_t)ut_rd_u64(&r);
    e->body_len = ut_rd_u32(&r);
    e->body = ut_rd_bytes(&r, e->body_len);
    *mac = ut_rd_bytes(&r, TP__MAC_LEN);
    return ut_rd_done(&r);
}

int tp__env_open(const tp__verifier *v, const uint8_t *buf, size_t len, tp__env *e, tp_drop_reason *why,
                 const char **detail)
{
    memset(e, 0, sizeof *e);
    const uint8_t *mac = NULL;
    if (len > v->max_bytes) {
        *why = TP_DROP_TOO_LARGE;
        *detail = "message over max_message_bytes";
    } else if (!parse(buf, len, e, &mac)) {
        *why = TP_DROP_MALFORMED;
        *detail = "envelope truncated or with trailing bytes";
    } else if (e->version > TP_PROTOCOL_VERSION) {
        *why = TP_DROP_VERSION;
        *detail = "newer protocol version";
    } else if (e->version == 0) {
        *why = TP_DROP_MALFORMED;
        *detail = "protocol version 0";
    } else if (e->version != TP_PROTOCOL_VERSION) {
        /* an older node (version 1 had no nonce and echo): upgrade every node together */
        *why = TP_DROP_VERSION;
        *detail = "older protocol version";
    } else if (!mac_ok(v->mac, buf, len, mac)) {
        *why = TP_DROP_AUTH;
        *detail = "HMAC does not verify";
    } else if (!equal_str(e->cluster, e->cluster_len, v->cluster)) {
        *why = TP_DROP_WRONG_CLUSTER;
        *detail = "another cluster name";
    } else if (!equal_str(e->dest, e->dest_len, v->self_id)) {
        *why = TP_DROP_REPLAY;
        *detail = "addressed to another node";
    } else if (e->seq == 0) {
        *why = TP_DROP_MALFORMED;
        *detail = "sequence number 0";
    } else {
        return 0;
    }
    return -EBADMSG;
}
