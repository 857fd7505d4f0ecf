/* replay.c: per-sender replay windows. A sender's (epoch, sequence) is accepted once: a newer
 * epoch resets the window, an older one is a replay, and within an epoch a sliding bitmap of the
 * last TP__REPLAY_WINDOW sequence numbers admits reordering but no repeats. */
#include "tp_int.h"

#include <assert.h>
#include <string.h>

#define WORDS (TP__REPLAY_WINDOW / 64)

static bool test_bit(const tp__replay *r, uint64_t i) { return (r->bits[i / 64] >> (i % 64)) & 1; }

static void set_bit(tp__replay *r, uint64_t i) { r->bits[i / 64] |= (uint64_t)1 << (i % 64); }

/* shift moves the window up by n: bit i becomes bit i + n. */
static void shift(tp__replay *r, uint64_t n)
{
    if (n >= TP__REPLAY_WINDOW) {
        memset(r->bits, 0, sizeof r->bits);
        return;
    }
    int words = (int)(n / 64), bits = (int)(n % 64);
    for (int i = WORDS - 1; i >= 0; i--) {
        int from = i - words;
        uint64_t v = 0;
        if (from >= 0) {
            v = r->bits[from] << bits;
            if (bits != 0 && from >= 1) {
                v |= r->bits[from - 1] >> (64 - bits);
            }
        }
        r->bits[i] = v;
    }
}

static void restart(tp__replay *r, uint64_t epoch, uint64_t seq)
{
    r->known = true;
    r->epoch = epoch;
    r->top = seq;
    memset(r->bits, 0, sizeof r->bits);
    set_bit(r, 0);
}

int tp__replay_accept(tp__replay *r, uint64_t epoch, uint64_t seq)
{
    if (seq == 0) {
        return TP__RP_REPLAY;
    }
    if (!r->known) {
        restart(r, epoch, seq);
        return TP__RP_FIRST;
    }
    if (epoch < r->epoch) {
        return TP__RP_REPLAY;
    }
    if (epoch > r->epoch) {
        restart(r, epoch, seq);
        return TP__RP_NEW_EPOCH;
    }
    if (seq > r->top) {
        shift(r, seq - r->top);
        r->top = seq;
        set_bit(r, 0);
        return TP__RP_OK;
    }
    uint64_t back = r->top - seq;
    if (back >= TP__REPLAY_WINDOW) {
        return TP__RP_REPLAY;
    }
    if (test_bit(r, back)) {
        return TP__RP_DUP;
    }
    set_bit(r, back);
    assert(test_bit(r, 0));
    return TP__RP_OK;
}
