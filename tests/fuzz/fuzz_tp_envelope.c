/* fuzz_tp_envelope.c: libFuzzer target for the transport's envelope checks: arbitrary bytes into
 * tp__env_open with a fixed secret, cluster and node id, then the replay window. The first input
 * byte picks a mode: odd modes re-seal the bytes (a valid HMAC over whatever precedes the last 32
 * bytes) so the fuzzer also reaches the checks after authentication. Besides crashes, leaks and
 * reads past the end (each input is an exact-size heap copy), it checks the contract:
 *  - the result is 0, or -EBADMSG with a reason below TP_DROP_COUNT and a detail;
 *  - a re-sealed input never fails authentication; an input over max_bytes is too_large;
 *  - on 0, every span lies inside the input and sealing the parsed envelope gives the input back;
 *  - the replay window accepts a (epoch, seq) at most once (a second time it is a duplicate).
 * The seeds in corpus/tp_envelope are protocol version 2 (with nonce and echo); a seed of an older
 * layout would stop at the structure check and never reach the HMAC or the checks after it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../transport/tp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "fuzzing-secret-0123456789"
#define MAX_BYTES 2048

static void check_span(const uint8_t *buf, size_t len, const uint8_t *p, size_t n)
{
    if (n > 0 && (p == NULL || p < buf || p + n > buf + len)) {
        abort();
    }
}

static void check_replay(const tp__env *e)
{
    tp__replay r = {0};
    if (tp__replay_accept(&r, e->epoch, e->seq) != TP__RP_FIRST ||
        tp__replay_accept(&r, e->epoch, e->seq) != TP__RP_DUP) {
        abort();
    }
    /* walk the window with the body as signed sequence steps */
    uint64_t seq = e->seq;
    for (size_t i = 0; i < e->body_len; i++) {
        seq += (uint64_t)(int64_t)(int8_t)e->body[i];
        int a = tp__replay_accept(&r, e->epoch, seq);
        if (a == TP__RP_FIRST || a == TP__RP_NEW_EPOCH || (a == TP__RP_OK && seq == 0)) {
            abort();
        }
        if (a == TP__RP_OK && tp__replay_accept(&r, e->epoch, seq) != TP__RP_DUP) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tp__mac mac;
    static bool ready;
    if (!ready) {
        if (tp__mac_init(&mac, (const uint8_t *)SECRET, strlen(SECRET)) != 0) {
            abort();
        }
        ready = true;
    }
    if (size < 1) {
        return 0;
    }
    bool reseal = data[0] & 1;
    size--;
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data + 1, size);
    if (reseal && size >= TP__MAC_LEN) {
        tp__mac_compute(&mac, buf, size - TP__MAC_LEN, buf + size - TP__MAC_LEN);
    }
    tp__verifier v = {.mac = &mac, .cluster = "fuzz", .self_id = "A", .max_bytes = MAX_BYTES};
    tp__env e;
    tp_drop_reason why = TP_DROP_COUNT;
    const char *detail = NULL;
    int rc = tp__env_open(&v, buf, size, &e, &why, &detail);
    if (rc == 0) {
        check_span(buf, size, e.cluster, e.cluster_len);
        check_span(buf, size, e.sender, e.sender_len);
        check_span(buf, size, e.dest, e.dest_len);
        check_span(buf, size, e.body, e.body_len);
        if (e.version != TP_PROTOCOL_VERSION || e.seq == 0 || tp__env_size(&e) != size) {
            abort();
        }
        uint8_t *again = malloc(size);
        if (again != NULL) {
            if (tp__env_seal(&e, &mac, again, size) != 0 || memcmp(again, buf, size) != 0) {
                abort();
            }
            free(again);
        }
        check_replay(&e);
    } else {
        if (rc != -EBADMSG || why >= TP_DROP_COUNT || detail == NULL) {
            abort();
        }
        if (size > MAX_BYTES && why != TP_DROP_TOO_LARGE) {
            abort();
        }
        if (reseal && size <= MAX_BYTES && why == TP_DROP_AUTH) {
            abort();
        }
        if (why != TP_DROP_TOO_LARGE && why != TP_DROP_MALFORMED && e.sender != NULL) {
            check_span(buf, size, e.sender, e.sender_len);
        }
    }
    free(buf);
    return 0;
}
