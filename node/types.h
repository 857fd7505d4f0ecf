/* types.h: small value types shared by every part of the node (states, error classes, one check result). */
#ifndef MD_TYPES_H
#define MD_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Health of one service as this node sees it. UNKNOWN until the first verdict. */
typedef enum {
    MD_STATE_UNKNOWN = 0,
    MD_STATE_UP,
    MD_STATE_DEGRADED,
    MD_STATE_DOWN,
    MD_STATE_COUNT
} md_state;

/* Why a check failed. MD_ERR_NONE means the check succeeded. */
typedef enum {
    MD_ERR_NONE = 0,
    MD_ERR_DNS,     /* name did not resolve */
    MD_ERR_CONNECT, /* refused, reset, unreachable, closed before any answer */
    MD_ERR_TIMEOUT, /* no complete answer within timeout_ms */
    MD_ERR_TLS,     /* handshake or certificate verification failed */
    MD_ERR_STATUS,  /* answered with an unexpected HTTP status */
    MD_ERR_BODY,    /* answered, but the body was cut short or lacked expect_body */
    MD_ERR_COUNT
} md_err_class;

/* The outcome of one check. Times are wall-clock milliseconds since the Unix epoch. */
typedef struct {
    int64_t at_ms;        /* when the check finished */
    uint32_t latency_us;  /* time from start to finish (or to the failure) */
    md_err_class err;     /* MD_ERR_NONE on success */
    int http_status;      /* 0 when no HTTP answer (or a TCP check) */
} md_check_result;

/* md_state_name returns "UNKNOWN", "UP", "DEGRADED" or "DOWN". Never NULL. */
const char *md_state_name(md_state s);
/* md_err_name returns "none", "dns", "connect", "timeout", "tls", "status" or "body". Never NULL. */
const char *md_err_name(md_err_class e);

#endif
