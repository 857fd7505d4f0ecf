/* record.c: encoding and checking of log records, and the scan of one segment's bytes that
 * tells a torn tail (cut it off) from corruption (refuse to start). Pure: bytes in, no I/O, so
 * it is fuzzed directly (tests/fuzz/fuzz_storage_records.c). Segment bytes come from disk and
 * are treated as outside input: nothing here trusts a length before checking it. */
#include "storage_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Bound on the bytes checksummed while looking for a valid record after a bad one, so that
 * hostile segment contents cannot make recovery quadratic. Past it we cannot rule out a valid
 * record, so we call it corruption: refusing is the safe side. */
#define RESYNC_BUDGET ((uint64_t)256 << 20)

/* The CRC covers the length and everything after the CRC field, payload included. */
static uint32_t rec_crc(const uint8_t *rec, uint32_t len)
{
    uint32_t c = raft__crc32c(0, rec, 4);
    return raft__crc32c(c, rec + 8, RAFT__REC_HDR - 8 + (size_t)len);
}

void raft__rec_encode(uint8_t *out, const raft_entry *e, uint8_t flags)
{
    assert(e->len <= RAFT_STORAGE_MAX_ENTRY);
    assert(e->len == 0 || e->data != NULL);
    assert((flags & ~RAFT__REC_BATCH_END) == 0);
    ut_put_le32(out, e->len);
    ut_put_le64(out + 8, e->term);
    ut_put_le64(out + 16, e->index);
    out[24] = e->type;
    out[25] = flags;
    out[26] = 0;
    out[27] = 0;
    if (e->len > 0) {
        memcpy(out + RAFT__REC_HDR, e->data, e->len);
    }
    ut_put_le32(out + 4, rec_crc(out, e->len));
}

void raft__rec_set_flags(uint8_t *rec, uint8_t flags)
{
    assert((flags & ~RAFT__REC_BATCH_END) == 0);
    rec[25] = flags;
    ut_put_le32(rec + 4, rec_crc(rec, ut_get_le32(rec)));
}

raft__rec_status raft__rec_decode(const uint8_t *buf, size_t avail, raft_entry *e,
                                  uint8_t *flags, size_t *size)
{
    if (avail < RAFT__REC_HDR) {
        return RAFT__REC_SHORT;
    }
    uint32_t len = ut_get_le32(buf);
    if (len > RAFT_STORAGE_MAX_ENTRY) {
        return RAFT__REC_BAD;
    }
    if (avail - RAFT__REC_HDR < len) {
        return RAFT__REC_SHORT;
    }
    if (rec_crc(buf, len) != ut_get_le32(buf + 4)) {
        return RAFT__REC_BAD;
    }
    if ((buf[25] & ~RAFT__REC_BATCH_END) != 0 || buf[26] != 0 || buf[27] != 0) {
        return RAFT__REC_BAD; /* checksummed but not ours: a newer format or a bug */
    }
    e->term = ut_get_le64(buf + 8);
    e->index = ut_get_le64(buf + 16);
    e->type = buf[24];
    e->len = len;
    /* A view into buf: the caller must not write through it. */
    e->data = len > 0 ? (uint8_t *)(uintptr_t)(buf + RAFT__REC_HDR) : NULL;
    *flags = buf[25];
    *size = RAFT__REC_HDR + (size_t)len;
    return RAFT__REC_OK;
}

/* find_valid_after looks for a valid record starting after bad whose index could follow the
 * records before it (want is the index expected at bad). A torn write leaves garbage only at
 * the end, so such a record means the bad one is damage inside the log. Returns true and its
 * offset in *good, or true with *good == bad when the search budget ran out. */
static bool find_valid_after(const uint8_t *buf, size_t len, size_t bad, uint64_t want,
                             size_t *good)
{
    uint64_t spent = 0;
    for (size_t p = bad + 1; p < len && len - p >= RAFT__REC_HDR; p++) {
        uint64_t idx = ut_get_le64(buf + p + 16);
        /* Every record between bad and p takes at least a header's bytes. */
        if (idx < want || idx - want > (p - bad) / RAFT__REC_HDR + 1) {
            continue;
        }
        uint32_t rlen = ut_get_le32(buf + p);
        if (rlen > RAFT_STORAGE_MAX_ENTRY || len - p - RAFT__REC_HDR < rlen) {
            continue;
        }
        spent += RAFT__REC_HDR + (uint64_t)rlen;
        if (spent > RESYNC_BUDGET) {
            *good = bad;
            return true;
        }
        raft_entry e;
        uint8_t fl;
        size_t sz;
        if (raft__rec_decode(buf + p, len - p, &e, &fl, &sz) == RAFT__REC_OK) {
            *good = p;
            return true;
        }
    }
    return false;
}

static void stop_at_bad(const uint8_t *buf, size_t len, size_t off, uint64_t want,
                        raft__rec_status st, raft__scan *r)
{
    const char *what = st == RAFT__REC_SHORT ? "short record" : "bad record (checksum or header)";
    r->bad_off = off;
    size_t good;
    if (!find_valid_after(buf, len, off, want, &good)) {
        r->status = RAFT__SCAN_TORN;
        snprintf(r->why, sizeof r->why, "%s", what);
    } else if (good == off) {
        r->status = RAFT__SCAN_CORRUPT;
        snprintf(r->why, sizeof r->why, "%s followed by too much data to check", what);
    } else {
        r->status = RAFT__SCAN_CORRUPT;
        r->good_off = good;
        snprintf(r->why, sizeof r->why, "%s followed by a valid record at offset %zu", what,
                 good);
    }
}

int raft__seg_scan(const uint8_t *buf, size_t len, uint64_t first, raft__seg_scan_cb cb,
                   void *ctx, raft__scan *r)
{
    memset(r, 0, sizeof *r);
    size_t off = 0;
    uint64_t want = first;
    while (off < len) {
        raft_entry e;
        uint8_t fl;
        size_t sz;
        raft__rec_status st = raft__rec_decode(buf + off, len - off, &e, &fl, &sz);
        if (st != RAFT__REC_OK) {
            stop_at_bad(buf, len, off, want, st, r);
            return 0;
        }
        if (e.index != want) {
            r->status = RAFT__SCAN_CORRUPT;
            r->bad_off = off;
            snprintf(r->why, sizeof r->why, "record has index %" PRIu64 ", expected %" PRIu64,
                     e.index, want);
            return 0;
        }
        if (cb != NULL) {
            int rc = cb(ctx, &e, fl, off);
            if (rc < 0) {
                return rc;
            }
        }
        off += sz;
        want++;
        r->n++;
        r->valid_end = off;
        if (fl & RAFT__REC_BATCH_END) {
            r->n_batch = r->n;
            r->batch_end = off;
        }
    }
    r->status = RAFT__SCAN_CLEAN;
    return 0;
}
