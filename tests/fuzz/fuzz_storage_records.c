/* fuzz_storage_records.c: libFuzzer target for the decoders of Raft storage files, whose bytes
 * come from disk and are treated as outside input: the segment scan (raft__seg_scan, record by
 * record, with the search for valid records after a bad one), the hardstate file and the
 * snapshot header. Input: one control byte, then the file bytes (an exact-size heap copy, so
 * ASan sees any read past the end). Control bit 0x80 repairs the checksum of every record whose
 * length fits before scanning, so that mutated headers reach the checks behind the CRC (index
 * order, flags, batch ends); bits 0..1 pick the segment's first index (1, 2, 2^32, 2^64-2).
 * Besides crashes and leaks it checks the scanner's contract:
 *  - the callback sees consecutive indexes from first, at increasing offsets, each record's
 *    payload inside the buffer, and re-encoding a record gives back its exact bytes;
 *  - n_batch <= n, batch_end <= valid_end <= size; CLEAN ends at size; otherwise the problem
 *    is at valid_end, and a CORRUPT verdict's valid record lies after it and decodes;
 *  - the valid prefix alone scans CLEAN with the same count;
 *  - hardstate and snapshot headers that decode re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../consensus/storage_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *buf;
    size_t len;
    uint64_t want;
    size_t next_off;
    size_t n;
} check_ctx;

static int check_record(void *ctx, const raft_entry *e, uint8_t flags, size_t off)
{
    check_ctx *c = ctx;
    if (e->index != c->want || off != c->next_off || off >= c->len) {
        abort();
    }
    size_t sz = raft__rec_size(e->len);
    if (sz > c->len - off || (e->len > 0 && e->data != c->buf + off + RAFT__REC_HDR) ||
        (e->len == 0 && e->data != NULL)) {
        abort();
    }
    uint8_t *again = malloc(sz);
    if (again == NULL) {
        return -1;
    }
    raft__rec_encode(again, e, flags);
    if (memcmp(again, c->buf + off, sz) != 0) {
        abort();
    }
    free(again);
    c->want++;
    c->next_off = off + sz;
    c->n++;
    return 0;
}

/* Recomputes the CRC of each record whose length fits, walking by the length fields. */
static void repair(uint8_t *b, size_t len)
{
    size_t off = 0;
    while (len - off >= RAFT__REC_HDR) {
        uint32_t l = ut_get_le32(b + off);
        if (l > RAFT_STORAGE_MAX_ENTRY || len - off - RAFT__REC_HDR < l) {
            return;
        }
        uint32_t crc = raft__crc32c(0, b + off, 4);
        ut_put_le32(b + off + 4, raft__crc32c(crc, b + off + 8, RAFT__REC_HDR - 8 + (size_t)l));
        off += RAFT__REC_HDR + l;
    }
}

static void scan_segment(uint8_t *buf, size_t len, uint8_t ctl)
{
    static const uint64_t firsts[4] = {1, 2, (uint64_t)1 << 32, UINT64_MAX - 1};
    uint64_t first = firsts[ctl & 3];
    if (ctl & 0x80) {
        repair(buf, len);
    }
    check_ctx c = {.buf = buf, .len = len, .want = first};
    raft__scan r;
    if (raft__seg_scan(buf, len, first, check_record, &c, &r) < 0) {
        return; /* out of memory in the callback */
    }
    if (c.n != r.n || r.n_batch > r.n || r.batch_end > r.valid_end || r.valid_end > len ||
        (r.n > 0 && c.next_off != r.valid_end)) {
        abort();
    }
    if (r.status == RAFT__SCAN_CLEAN && r.valid_end != len) {
        abort();
    }
    if (r.status != RAFT__SCAN_CLEAN && r.bad_off != r.valid_end) {
        abort();
    }
    if (r.status == RAFT__SCAN_CORRUPT && r.good_off != 0) {
        raft_entry e;
        uint8_t fl;
        size_t sz;
        if (r.good_off <= r.bad_off || r.good_off >= len ||
            raft__rec_decode(buf + r.good_off, len - r.good_off, &e, &fl, &sz) != RAFT__REC_OK) {
            abort();
        }
    }
    raft__scan again;
    if (raft__seg_scan(buf, r.valid_end, first, NULL, NULL, &again) != 0 ||
        again.status != RAFT__SCAN_CLEAN || again.n != r.n || again.batch_end != r.batch_end) {
        abort();
    }
}

static void small_files(const uint8_t *buf, size_t len)
{
    raft_hard_state hs;
    if (raft__hs_decode(buf, len, &hs) == 0) {
        uint8_t out[RAFT__HS_SIZE];
        raft__hs_encode(out, &hs);
        if (memcmp(out, buf, RAFT__HS_SIZE) != 0) {
            abort();
        }
    }
    raft__snap_hdr h;
    if (raft__snap_hdr_decode(buf, len, &h) == 0) {
        uint8_t out[RAFT__SNAP_HDR];
        raft__snap_hdr_encode(out, &h);
        if (memcmp(out, buf, RAFT__SNAP_HDR) != 0 || h.index == 0) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data + 1, len);
    small_files(buf, len);
    scan_segment(buf, len, data[0]);
    free(buf);
    return 0;
}
