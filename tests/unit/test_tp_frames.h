/* test_tp_frames.h: helpers for the transport's codec and receive tests: seal an envelope as a
 * given sender would (any secret, cluster, destination, version), and encode an ITEMS body.
 * Include after cmocka.h. */
#ifndef TEST_TP_FRAMES_H
#define TEST_TP_FRAMES_H

#include <string.h>

#include "tp_int.h"

#define SECRET "0123456789abcdef-secret"
#define CLUSTER "prod"

typedef struct {
    uint8_t version, type;
    const char *secret, *cluster, *sender, *dest;
    uint64_t epoch, seq;
    uint64_t nonce, echo; /* the sender's boot nonce (opts: the epoch) and the receiver's as echoed (opts: 0) */
    int64_t sent_at_ms;   /* 0: 1700000000000 (November 2023) */
} frame_opts;

static inline frame_opts opts(const char *sender, uint64_t epoch, uint64_t seq, uint8_t type)
{
    return (frame_opts){.version = TP_PROTOCOL_VERSION,
                        .type = type,
                        .secret = SECRET,
                        .cluster = CLUSTER,
                        .sender = sender,
                        .dest = "A",
                        .epoch = epoch,
                        .seq = seq,
                        .nonce = epoch};
}

/* frame seals body into out as o describes; returns its length. */
static inline size_t frame(uint8_t *out, size_t cap, frame_opts o, const void *body, size_t len)
{
    tp__mac mac;
    assert_int_equal(tp__mac_init(&mac, (const uint8_t *)o.secret, strlen(o.secret)), 0);
    tp__env e = {.version = o.version,
                 .type = o.type,
                 .cluster = (const uint8_t *)o.cluster,
                 .cluster_len = strlen(o.cluster),
                 .sender = (const uint8_t *)o.sender,
                 .sender_len = strlen(o.sender),
                 .dest = (const uint8_t *)o.dest,
                 .dest_len = strlen(o.dest),
                 .epoch = o.epoch,
                 .nonce = o.nonce,
                 .echo = o.echo,
                 .seq = o.seq,
                 .sent_at_ms = o.sent_at_ms ? o.sent_at_ms : 1700000000000,
                 .body = body,
                 .body_len = len};
    assert_int_equal(tp__env_seal(&e, &mac, out, cap), 0);
    tp__mac_free(&mac);
    return tp__env_size(&e);
}

static inline size_t items_body(uint8_t *out, size_t cap, tp__items_hdr h, const char *const *keys, const uint64_t *versions)
{
    ut_wr w;
    ut_wr_fixed(&w, out, cap);
    tp__items_encode_hdr(&w, &h);
    for (uint32_t i = 0; i < h.count; i++) {
        tp__items_encode_item(&w, keys[i], strlen(keys[i]), versions[i], keys[i], strlen(keys[i]));
    }
    assert_false(w.bad);
    return w.len;
}

#endif
