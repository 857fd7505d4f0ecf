/* segment.c: the log's segment files at run time: append a batch (one write, one fdatasync),
 * truncate a suffix, delete segments covered by the snapshot, read everything back. Recovery at
 * open is in recover.c.
 *
 * Crash ordering: segments stay a contiguous run of indexes on disk after a crash at any point.
 * A new segment is created (and the directory fsynced) before its first record is written;
 * truncation removes later segments first (directory fsynced) and only then shortens the one
 * holding the cut; compaction deletes from the front, and recovery deletes covered leftovers. */
#include "storage_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void raft__seg_name(uint64_t first, char out[RAFT__SEG_NAME])
{
    snprintf(out, RAFT__SEG_NAME, "seg-%020" PRIu64, first);
}

uint64_t raft__segs_last(const raft_storage *s)
{
    if (s->nsegs == 0) {
        return 0;
    }
    const raft__seg *g = &s->segs[s->nsegs - 1];
    return g->first + g->n - 1;
}

int raft__seg_reserve(raft__seg *g, size_t more)
{
    if (g->cap - g->n >= more) {
        return 0;
    }
    size_t cap = g->cap ? g->cap : 64;
    while (cap - g->n < more) {
        if (cap > SIZE_MAX / 2 / sizeof *g->off) {
            return -ENOMEM;
        }
        cap *= 2;
    }
    uint64_t *off = realloc(g->off, cap * sizeof *off);
    if (off == NULL) {
        return -ENOMEM;
    }
    g->off = off;
    g->cap = cap;
    return 0;
}

/* Makes room for one more segment in s->segs. */
int raft__segs_reserve(raft_storage *s)
{
    if (s->nsegs < s->capsegs) {
        return 0;
    }
    size_t cap = s->capsegs ? 2 * s->capsegs : 8;
    raft__seg *segs = realloc(s->segs, cap * sizeof *segs);
    if (segs == NULL) {
        return -ENOMEM;
    }
    s->segs = segs;
    s->capsegs = cap;
    return 0;
}

int raft__segs_open_last(raft_storage *s, const char *what)
{
    if (s->segfd >= 0 || s->nsegs == 0) {
        return 0;
    }
    char name[RAFT__SEG_NAME], path[PATH_MAX];
    raft__seg_name(s->segs[s->nsegs - 1].first, name);
    if (raft__st_path(s, name, path) < 0) {
        return raft__st_fail(s, -ENAMETOOLONG, "%s: open %s: path too long", what, name);
    }
    int fd = s->io.open(s->io.ctx, path, O_WRONLY | O_APPEND, 0);
    if (fd < 0) {
        return raft__st_fail(s, fd, "%s: open %s for appending", what, name);
    }
    s->segfd = fd;
    return 0;
}

static int close_last(raft_storage *s, const char *what)
{
    if (s->segfd < 0) {
        return 0;
    }
    int fd = s->segfd;
    s->segfd = -1;
    int rc = s->io.close(s->io.ctx, fd);
    return rc < 0 ? raft__st_fail(s, rc, "%s: close the last segment", what) : 0;
}

/* Starts segment first: created empty, then made durable in the directory, so a crash leaves at
 * worst an empty last segment, which recovery removes. */
static int new_segment(raft_storage *s, uint64_t first, const char *what)
{
    char name[RAFT__SEG_NAME], path[PATH_MAX];
    raft__seg_name(first, name);
    int rc = close_last(s, what);
    if (rc < 0) {
        return rc;
    }
    if (raft__st_path(s, name, path) < 0) {
        return raft__st_fail(s, -ENAMETOOLONG, "%s: create %s: path too long", what, name);
    }
    int fd = s->io.open(s->io.ctx, path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0600);
    if (fd < 0) {
        return raft__st_fail(s, fd, "%s: create %s", what, name);
    }
    s->segfd = fd;
    s->segs[s->nsegs++] = (raft__seg){.first = first};
    rc = s->io.fsync(s->io.ctx, s->dirfd);
    return rc < 0 ? raft__st_fail(s, rc, "%s: fsync of the directory after creating %s", what,
                                  name)
                  : 0;
}

/* Checks the batch and encodes it into s->buf; nothing on disk changes. */
static int encode_batch(raft_storage *s, const raft_entry *e, size_t n, size_t *total)
{
    uint64_t next = (s->nsegs ? raft__segs_last(s) : 0) + 1;
    if (s->snap_index >= next) {
        next = s->snap_index + 1;
    }
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].index != next + i || e[i].len > RAFT_STORAGE_MAX_ENTRY ||
            (e[i].len > 0 && e[i].data == NULL)) {
            snprintf(s->errmsg, sizeof s->errmsg, "append: entry %zu has index %" PRIu64
                     " (expected %" PRIu64 "), len %" PRIu32, i, e[i].index, next + i, e[i].len);
            return -EINVAL;
        }
        if (sum > SIZE_MAX / 2) {
            return -ENOMEM;
        }
        sum += raft__rec_size(e[i].len);
    }
    if (sum > s->bufcap) {
        uint8_t *b = realloc(s->buf, sum);
        if (b == NULL) {
            return -ENOMEM;
        }
        s->buf = b;
        s->bufcap = sum;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        raft__rec_encode(s->buf + off, &e[i], i + 1 == n ? RAFT__REC_BATCH_END : 0);
        off += raft__rec_size(e[i].len);
    }
    *total = sum;
    return 0;
}

int raft__segs_append(raft_storage *s, const raft_entry *e, size_t n)
{
    assert(s->failed == 0 && n > 0);
    size_t total;
    int rc = encode_batch(s, e, n, &total);
    if (rc < 0) {
        return rc;
    }
    /* Grow the bookkeeping first: after the write, running out of memory must not be possible. */
    bool fresh = s->nsegs == 0 || s->segs[s->nsegs - 1].size >= s->seg_bytes;
    if (fresh && raft__segs_reserve(s) < 0) {
        return -ENOMEM;
    }
    raft__seg spare = {0};
    raft__seg *g = fresh ? &spare : &s->segs[s->nsegs - 1];
    if (raft__seg_reserve(g, n) < 0) {
        free(spare.off);
        return -ENOMEM;
    }
    char what[64], name[RAFT__SEG_NAME];
    snprintf(what, sizeof what, "append %zu entries at index %" PRIu64, n, e[0].index);
    if (fresh) {
        rc = new_segment(s, e[0].index, what);
        if (rc < 0) {
            free(spare.off);
            return rc;
        }
        g = &s->segs[s->nsegs - 1];
        g->off = spare.off;
        g->cap = spare.cap;
    }
    rc = raft__segs_open_last(s, what);
    if (rc < 0) {
        return rc;
    }
    raft__seg_name(g->first, name);
    rc = raft__st_write_all(s, s->segfd, s->buf, total);
    if (rc < 0) {
        return raft__st_fail(s, rc, "%s: write %s", what, name);
    }
    rc = s->io.fdatasync(s->io.ctx, s->segfd);
    if (rc < 0) {
        return raft__st_fail(s, rc, "%s: fdatasync %s", what, name);
    }
    uint64_t off = g->size;
    for (size_t i = 0; i < n; i++) {
        g->off[g->n++] = off;
        off += raft__rec_size(e[i].len);
    }
    g->size = off;
    return 0;
}

/* Removes the last segment from disk and memory (not durable until the directory is fsynced). */
static int drop_last(raft_storage *s, const char *what)
{
    assert(s->nsegs > 0);
    char name[RAFT__SEG_NAME], path[PATH_MAX];
    raft__seg *g = &s->segs[s->nsegs - 1];
    raft__seg_name(g->first, name);
    int rc = close_last(s, what);
    if (rc < 0) {
        return rc;
    }
    if (raft__st_path(s, name, path) < 0) {
        return raft__st_fail(s, -ENAMETOOLONG, "%s: path too long", what);
    }
    rc = s->io.unlink(s->io.ctx, path);
    if (rc < 0) {
        return raft__st_fail(s, rc, "%s: unlink %s", what, name);
    }
    free(g->off);
    s->nsegs--;
    return 0;
}

/* Cuts the last segment so that its last record is index - 1. If that record ends an append
 * batch, shortening the file is enough; otherwise recovery would drop it with the rest of its
 * batch, so the kept prefix is rewritten with the batch mark on it and renamed into place. */
static int cut_last(raft_storage *s, uint64_t index)
{
    raft__seg *g = &s->segs[s->nsegs - 1];
    assert(index > g->first && index <= g->first + g->n - 1);
    size_t keep = (size_t)(index - g->first);
    uint64_t cut = g->off[keep];
    char name[RAFT__SEG_NAME], path[PATH_MAX];
    raft__seg_name(g->first, name);
    if (raft__st_path(s, name, path) < 0) {
        return raft__st_fail(s, -ENAMETOOLONG, "truncate: path too long");
    }
    uint8_t *buf;
    size_t len;
    int rc = raft__st_read_file(path, &buf, &len);
    raft_entry e;
    uint8_t fl;
    size_t sz;
    if (rc == 0 && (len < cut ||
                    raft__rec_decode(buf + g->off[keep - 1], (size_t)(cut - g->off[keep - 1]), &e,
                                     &fl, &sz) != RAFT__REC_OK || e.index != index - 1)) {
        rc = -EIO; /* the file no longer holds what we wrote */
    }
    if (rc < 0) {
        free(buf);
        return raft__st_fail(s, rc, "truncate at index %" PRIu64 ": read %s", index, name);
    }
    if (fl & RAFT__REC_BATCH_END) {
        free(buf);
        rc = raft__segs_open_last(s, "truncate");
        if (rc == 0 && (rc = s->io.ftruncate(s->io.ctx, s->segfd, (off_t)cut)) < 0) {
            return raft__st_fail(s, rc, "truncate %s at offset %" PRIu64, name, cut);
        }
        if (rc == 0 && (rc = s->io.fdatasync(s->io.ctx, s->segfd)) < 0) {
            return raft__st_fail(s, rc, "truncate: fdatasync %s", name);
        }
    } else {
        raft__rec_set_flags(buf + g->off[keep - 1], fl | RAFT__REC_BATCH_END);
        rc = close_last(s, "truncate");
        if (rc == 0) {
            rc = raft__st_atomic_write(s, "truncate", name, buf, (size_t)cut, NULL, 0);
        }
        free(buf);
        if (rc == 0) {
            rc = raft__segs_open_last(s, "truncate");
        }
    }
    if (rc == 0) {
        g->n = keep;
        g->size = cut;
    }
    return rc;
}

int raft__segs_truncate(raft_storage *s, uint64_t index)
{
    assert(s->failed == 0 && index > 0);
    if (s->nsegs == 0 || index > raft__segs_last(s)) {
        return 0;
    }
    bool dropped = false;
    while (s->nsegs > 0 && s->segs[s->nsegs - 1].first >= index) {
        int rc = drop_last(s, "truncate");
        if (rc < 0) {
            return rc;
        }
        dropped = true;
    }
    /* Later segments must be gone for good before the cut, or a crash could leave a gap. */
    if (dropped) {
        int rc = s->io.fsync(s->io.ctx, s->dirfd);
        if (rc < 0) {
            return raft__st_fail(s, rc, "truncate: fsync of the directory");
        }
    }
    if (s->nsegs > 0 && index <= raft__segs_last(s)) {
        int rc = cut_last(s, index);
        if (rc < 0) {
            return rc;
        }
    }
    return raft__segs_compact(s, "truncate");
}

int raft__segs_compact(raft_storage *s, const char *what)
{
    size_t k = 0;
    while (k < s->nsegs && s->segs[k].first + s->segs[k].n - 1 <= s->snap_index) {
        k++;
    }
    if (k == 0) {
        return 0;
    }
    if (k == s->nsegs) {
        int rc = close_last(s, what);
        if (rc < 0) {
            return rc;
        }
    }
    /* Front first: a crash leaves covered leftovers, which recovery deletes again. */
    size_t done = 0;
    int rc = 0;
    for (; done < k; done++) {
        char name[RAFT__SEG_NAME], path[PATH_MAX];
        raft__seg_name(s->segs[done].first, name);
        if (raft__st_path(s, name, path) < 0) {
            rc = raft__st_fail(s, -ENAMETOOLONG, "%s: path too long", what);
            break;
        }
        rc = s->io.unlink(s->io.ctx, path);
        if (rc < 0) {
            rc = raft__st_fail(s, rc, "%s: unlink covered %s", what, name);
            break;
        }
        free(s->segs[done].off);
    }
    memmove(s->segs, s->segs + done, (s->nsegs - done) * sizeof *s->segs);
    s->nsegs -= done;
    return rc;
}

void raft__segs_free(raft_storage *s)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        free(s->segs[i].off);
    }
    free(s->segs);
    s->segs = NULL;
    s->nsegs = s->capsegs = 0;
}
