/* storage_int.h: private to the storage files of consensus/: the store's state, the record and
 * file formats, and the helpers shared between storage.c, segment.c, files.c and record.c. */
#ifndef RAFT_STORAGE_INT_H
#define RAFT_STORAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage.h"
#include "util.h"

/* ---- CRC32C (Castagnoli), crc32c.c ---- */

/* raft__crc32c extends crc (0 to start) over n bytes: the standard CRC32C with its pre- and
 * post-inversion, so raft__crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t raft__crc32c(uint32_t crc, const void *buf, size_t n);

/* Every file of the store holds its integers little-endian: ut_put_le32/64 and ut_get_le32/64
 * (util.h). */

/* ---- log records, record.c (pure: bytes in, no I/O) ---- */

#define RAFT__REC_HDR 28          /* len, crc, term, index, type, flags, reserved */
#define RAFT__REC_BATCH_END 0x01u /* flags: the last record of an append batch */

/* raft__rec_size is the encoded size of a record with len payload bytes. */
static inline size_t raft__rec_size(uint32_t len)
{
    return RAFT__REC_HDR + (size_t)len;
}

/* raft__rec_encode writes e as a record at out (raft__rec_size(e->len) bytes). */
void raft__rec_encode(uint8_t *out, const raft_entry *e, uint8_t flags);

/* raft__rec_set_flags rewrites the flags of a valid record in place, checksum included. */
void raft__rec_set_flags(uint8_t *rec, uint8_t flags);

typedef enum {
    RAFT__REC_OK = 0,
    RAFT__REC_SHORT, /* fewer bytes than the header or the length says */
    RAFT__REC_BAD    /* checksum, reserved bits or length out of range */
} raft__rec_status;

/* raft__rec_decode reads one record at buf (avail bytes). On OK, *e views it (e->data points into
 * buf, not owned), *flags holds its flags and *size its encoded size. */
raft__rec_status raft__rec_decode(const uint8_t *buf, size_t avail, raft_entry *e,
                                  uint8_t *flags, size_t *size);

typedef enum {
    RAFT__SCAN_CLEAN = 0, /* valid records to the end */
    RAFT__SCAN_TORN,      /* valid records, then a short or bad tail with no valid record after */
    RAFT__SCAN_CORRUPT    /* a bad record followed by a valid one, or a record out of order */
} raft__scan_status;

/* What raft__seg_scan found in one segment's bytes. */
typedef struct {
    raft__scan_status status;
    size_t n;            /* valid records before the first problem */
    size_t valid_end;    /* offset just past them */
    size_t n_batch;      /* records up to and including the last batch end */
    size_t batch_end;    /* offset just past that record; 0 if none */
    size_t bad_off;      /* TORN or CORRUPT: offset of the first short, bad or misplaced record */
    size_t good_off;     /* CORRUPT after a bad record: offset of a valid record after it */
    char why[96];        /* what is wrong at bad_off, for messages */
} raft__scan;

/* raft__seg_scan_cb is called for each valid record in order with its offset; a negative
 * return stops the scan and is returned by raft__seg_scan. e->data points into the scanned bytes. */
typedef int (*raft__seg_scan_cb)(void *ctx, const raft_entry *e, uint8_t flags, size_t off);

/* raft__seg_scan checks the records of a segment whose first index is first: each valid record
 * must carry the next index. Fills *r; returns 0 or the callback's negative code. cb may be NULL. */
int raft__seg_scan(const uint8_t *buf, size_t len, uint64_t first, raft__seg_scan_cb cb,
                   void *ctx, raft__scan *r);

/* ---- small files, files.c ---- */

#define RAFT__HS_SIZE 32
#define RAFT__SNAP_HDR 40

/* raft__hs_encode / raft__hs_decode: the hardstate file. decode returns 0 or -EBADMSG. */
void raft__hs_encode(uint8_t out[RAFT__HS_SIZE], const raft_hard_state *hs);
int raft__hs_decode(const uint8_t *buf, size_t len, raft_hard_state *hs);

/* The snapshot file's header. decode checks magic, version and header CRC: 0 or -EBADMSG. */
typedef struct {
    uint64_t index, term, len;
    uint32_t data_crc;
} raft__snap_hdr;
void raft__snap_hdr_encode(uint8_t out[RAFT__SNAP_HDR], const raft__snap_hdr *h);
int raft__snap_hdr_decode(const uint8_t *buf, size_t len, raft__snap_hdr *h);

/* ---- the store ---- */

/* One segment file. off[k] is the offset of the record with index first + k. */
typedef struct {
    uint64_t first;
    uint64_t *off;
    size_t n, cap;
    uint64_t size;  /* bytes of valid records: the file's length */
} raft__seg;

struct raft_storage {
    raft_storage_io io;
    char *dir;              /* owned */
    int dirfd;              /* for fsync of the directory */
    int lockfd;
    int segfd;              /* the last segment, open for appending; -1 if none open */
    raft__seg *segs;        /* owned, in index order, contiguous */
    size_t nsegs, capsegs;
    raft_hard_state hs;     /* as on disk; zero when hs_found is not OK */
    raft_storage_hs_found hs_found;
    uint64_t snap_index, snap_term;
    uint64_t seg_bytes;
    int failed;             /* 0 or the first write error */
    uint8_t *buf;           /* owned encode buffer, reused by appends */
    size_t bufcap;
    char errmsg[256];
    char note[512];         /* what recovery found and repaired, for raft_storage_load's caller */
};

/* raft__st_fail puts s in the failed state (keeping the first error) and returns err (< 0). */
int raft__st_fail(raft_storage *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* raft__st_path writes dir/name to out (PATH_MAX bytes): 0 or -ENAMETOOLONG. */
int raft__st_path(const raft_storage *s, const char *name, char *out);
/* raft__st_write_all writes all len bytes through io: 0, or the error (-EIO if no progress). */
int raft__st_write_all(raft_storage *s, int fd, const void *buf, size_t len);
/* raft__st_read_file reads a whole file (caller frees *out; NULL for an empty file): 0 or -errno. */
int raft__st_read_file(const char *path, uint8_t **out, size_t *len);
/* raft__st_atomic_write replaces dir/name with a followed by b (b may be NULL): temp file, write,
 * fsync, close, rename, fsync dir. Fails the store on any error; what names the operation. */
int raft__st_atomic_write(raft_storage *s, const char *what, const char *name, const void *a,
                       size_t alen, const void *b, size_t blen);
/* raft__meta_check writes meta on first use or compares it: 0, -EPERM, -EBADMSG or -errno. */
int raft__meta_check(raft_storage *s, const char *cluster, const char *node_id, bool fresh,
                     char *err, size_t errlen);
/* raft__load_hard_state reads the hardstate file into s->hs and sets s->hs_found; missing or
 * damaged: zeros, NONE or DAMAGED (raft__segs_recover turns NONE into MISSING when the log or a
 * snapshot exist), and a damaged file is described in s->note.
 * raft__load_snapshot checks the snapshot file and returns its index and term (0 if none) and,
 * with data != NULL, its data (caller frees). Both: 0, -EBADMSG or -errno, with err set. */
int raft__load_hard_state(raft_storage *s, char *err, size_t errlen);
int raft__load_snapshot(raft_storage *s, uint64_t *index, uint64_t *term, uint8_t **data,
                        size_t *len, char *err, size_t errlen);

/* ---- segments, segment.c (run time) and recover.c (open and load) ---- */

#define RAFT__SEG_NAME 32 /* "seg-" + 20 digits + NUL, rounded up */

/* raft__seg_name formats the file name of the segment whose first index is first. */
void raft__seg_name(uint64_t first, char out[RAFT__SEG_NAME]);
/* raft__segs_last is the index of the last record in the segments (0 if none). */
uint64_t raft__segs_last(const raft_storage *s);
/* Room for more offsets in g, or one more segment in s: 0 or -ENOMEM. */
int raft__seg_reserve(raft__seg *g, size_t more);
int raft__segs_reserve(raft_storage *s);
/* raft__segs_open_last opens the last segment for appending if it is not open. */
int raft__segs_open_last(raft_storage *s, const char *what);
/* Run-time operations; each fails the store on a write error. */
int raft__segs_append(raft_storage *s, const raft_entry *e, size_t n);
int raft__segs_truncate(raft_storage *s, uint64_t index);
/* raft__segs_compact deletes the segments whose records all lie at or below s->snap_index. */
int raft__segs_compact(raft_storage *s, const char *what);
void raft__segs_free(raft_storage *s);
/* raft__dir_prepare removes leftover temp files and says whether any raft file exists. */
int raft__dir_prepare(raft_storage *s, bool *fresh, char *err, size_t errlen);
/* raft__segs_recover scans every segment at open: see storage.h for what it repairs. */
int raft__segs_recover(raft_storage *s, char *err, size_t errlen);
/* raft__segs_read copies the entries after the snapshot into st (caller-owned). */
int raft__segs_read(raft_storage *s, raft_storage_state *st);

#endif
