/* obs_codec.h: the gossip values a node publishes: its observation of one service, and facts
 * about itself. These bytes come from peers, so decoding is strict and fuzzed (pure). */
#ifndef MD_OBS_CODEC_H
#define MD_OBS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "types.h"

#define MD_OBS_CODEC_VERSION 1
#define MD_OBS_ENCODED_MAX 64
#define MD_NODE_INFO_ENCODED_MAX 96
/* The gossip key of a node's facts; service names cannot start with '@'. */
#define MD_NODE_INFO_KEY "@node"

/* One node's latest observation of one service, as the observer saw it. */
typedef struct {
    md_state state;            /* UNKNOWN also when the observer's own checks went stale */
    uint32_t consecutive_failures;
    uint32_t latency_us;       /* of the last check */
    md_err_class err;          /* of the last check */
    uint16_t http_status;
    int64_t observed_at_ms;    /* the observer's wall clock: shown, never used for freshness */
    int64_t state_since_ms;    /* the observer's wall clock */
} md_obs;

/* Facts about the publishing node. */
typedef struct {
    bool isolated;             /* its own observations should not count */
    char region[65];
    int64_t started_at_ms;     /* the publisher's wall clock */
} md_node_info;

/* md_obs_encode writes o into buf (at least MD_OBS_ENCODED_MAX bytes); returns the length. */
size_t md_obs_encode(const md_obs *o, uint8_t *buf);
/* md_obs_decode parses len bytes; returns 0, or -EINVAL for anything malformed, truncated,
 * trailing, out of range, or of another codec version. *o is untouched on error. */
int md_obs_decode(const uint8_t *buf, size_t len, md_obs *o);

size_t md_node_info_encode(const md_node_info *n, uint8_t *buf);
int md_node_info_decode(const uint8_t *buf, size_t len, md_node_info *n);

/* md_obs_same_verdict_input: whether two observations differ in what peers act on (state,
 * failure count, error class, status): only such changes are pushed at once. */
bool md_obs_differs(const md_obs *a, const md_obs *b);

#endif
