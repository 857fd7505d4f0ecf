/* recover.c: reading the data directory: at open, list it, check every segment, cut a torn
 * tail and refuse corruption; on load, read the entries back for the core.
 *
 * The rule that matters: only the end of the last segment can be torn, because a segment is
 * complete and fsynced before the next one is created and every append is fsynced before it is
 * acknowledged. So a short or bad record there, with no valid record after it, is a write that
 * never completed: cut it off, with the rest of its batch. Anything else (a bad record before a
 * valid one, damage in an earlier segment, an index out of order or a gap) is damage to what
 * was acknowledged: refuse to start and say where, instead of silently losing committed entries. */
#include "storage_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses "seg-" followed by exactly 20 digits; other names are not segments. */
static bool parse_seg_name(const char *name, uint64_t *first)
{
    if (strncmp(name, "seg-", 4) != 0 || strlen(name) != 24) {
        return false;
    }
    uint64_t v = 0;
    for (const char *p = name + 4; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *first = v;
    return v > 0;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

int raft__dir_prepare(raft_storage *s, bool *fresh, char *err, size_t errlen)
{
    DIR *d = opendir(s->dir);
    if (d == NULL) {
        int e = -errno;
        snprintf(err, errlen, "data dir %s: cannot list it: %s", s->dir, strerror(-e));
        return e;
    }
    *fresh = true;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t first;
        char path[PATH_MAX];
        if (has_suffix(de->d_name, ".tmp")) {
            /* An atomic replacement that never reached its rename: the old file is intact. */
            if (raft__st_path(s, de->d_name, path) == 0 && (rc = s->io.unlink(s->io.ctx, path)) < 0) {
                snprintf(err, errlen, "data dir %s: cannot remove %s: %s", s->dir, de->d_name,
                         strerror(-rc));
                break;
            }
        } else if (strcmp(de->d_name, "hardstate") == 0 || strcmp(de->d_name, "snapshot") == 0 ||
                   parse_seg_name(de->d_name, &first)) {
            *fresh = false;
        }
    }
    closedir(d);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int list_segments(raft_storage *s, uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(s->dir);
    if (d == NULL) {
        return -errno;
    }
    size_t cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t first;
        if (!parse_seg_name(de->d_name, &first)) {
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            uint64_t *v = realloc(*out, cap * sizeof *v);
            if (v == NULL) {
                rc = -ENOMEM;
                break;
            }
            *out = v;
        }
        (*out)[(*n)++] = first;
    }
    closedir(d);
    if (*n > 1) {
        qsort(*out, *n, sizeof **out, cmp_u64);
    }
    return rc;
}

static int record_offset(void *ctx, const raft_entry *e, uint8_t flags, size_t off)
{
    (void)e;
    (void)flags;
    raft__seg *g = ctx;
    if (raft__seg_reserve(g, 1) < 0) {
        return -ENOMEM;
    }
    g->off[g->n++] = off;
    return 0;
}

/* Shortens the last segment to keep bytes (or removes it when nothing is kept), durably. */
static int cut_tail(raft_storage *s, const char *name, const char *path, size_t keep, bool *dir)
{
    if (keep == 0) {
        int rc = s->io.unlink(s->io.ctx, path);
        *dir = true;
        return rc < 0 ? raft__st_fail(s, rc, "recovery: unlink %s", name) : 0;
    }
    int fd = s->io.open(s->io.ctx, path, O_WRONLY, 0);
    if (fd < 0) {
        return raft__st_fail(s, fd, "recovery: open %s", name);
    }
    int rc = s->io.ftruncate(s->io.ctx, fd, (off_t)keep);
    if (rc < 0) {
        raft__st_fail(s, rc, "recovery: truncate %s at offset %zu", name, keep);
    } else if ((rc = s->io.fdatasync(s->io.ctx, fd)) < 0) {
        raft__st_fail(s, rc, "recovery: fdatasync %s", name);
    }
    int crc = s->io.close(s->io.ctx, fd);
    if (rc == 0 && crc < 0) {
        rc = raft__st_fail(s, crc, "recovery: close %s", name);
    }
    return rc;
}

/* Checks one segment and adds it to s->segs (unless it was all torn). */
static int recover_one(raft_storage *s, uint64_t first, bool last, bool *dir, char *err,
                       size_t errlen)
{
    char name[RAFT__SEG_NAME], path[PATH_MAX];
    raft__seg_name(first, name);
    if (raft__st_path(s, name, path) < 0) {
        snprintf(err, errlen, "data dir %s: path too long", s->dir);
        return -ENAMETOOLONG;
    }
    if (s->nsegs > 0 && first != raft__segs_last(s) + 1) {
        snprintf(err, errlen, "data dir %s: %s starts at index %" PRIu64 " but the previous "
                 "segment ends at %" PRIu64 "; refusing to start with a gap in the log",
                 s->dir, name, first, raft__segs_last(s));
        return -EBADMSG;
    }
    uint8_t *buf;
    size_t len;
    raft__seg g = {.first = first};
    raft__scan r;
    int rc = raft__st_read_file(path, &buf, &len);
    if (rc == 0) {
        rc = raft__seg_scan(buf, len, first, record_offset, &g, &r);
    }
    free(buf);
    if (rc == 0 && raft__segs_reserve(s) < 0) {
        rc = -ENOMEM;
    }
    if (rc < 0) {
        free(g.off);
        snprintf(err, errlen, "data dir %s: cannot read %s: %s", s->dir, name, strerror(-rc));
        return rc;
    }
    const char *bad = NULL;
    if (r.status == RAFT__SCAN_CORRUPT) {
        bad = "this is damage, not a torn write";
    } else if (!last && r.status == RAFT__SCAN_TORN) {
        bad = "not the last segment, so not a torn write";
    } else if (!last && (r.batch_end != len || len == 0)) {
        r.bad_off = r.batch_end;
        snprintf(r.why, sizeof r.why, "%s", len ? "segment ends inside an append batch"
                                               : "empty segment");
        bad = "not the last segment, so not a torn write";
    }
    if (bad != NULL) {
        free(g.off);
        snprintf(err, errlen, "data dir %s: %s offset %zu: %s (%s); refusing to start rather "
                 "than drop committed entries", s->dir, name, r.bad_off, r.why, bad);
        return -EBADMSG;
    }
    uint64_t kept = first + r.n_batch - 1;
    if (r.batch_end < len && kept < s->hs.commit) {
        /* The hard state says entries past what a cut would keep were committed: whatever broke
         * the tail, it was not a write that never completed. (Without a hard state the commit
         * reads 0 and the tail is cut: the node starts as one that lost its disk; storage.h.) */
        free(g.off);
        snprintf(err, errlen, "data dir %s: %s offset %zu: %s; cutting there would drop committed "
                 "entries (the hard state's commit is %" PRIu64 ", the log would end at %" PRIu64
                 "); refusing to start. To recover, stop the node, empty its data dir and start it: "
                 "it rejoins as a node that lost its disk and catches up from the others "
                 "(docs/consensus.md)", s->dir, name, r.batch_end,
                 r.status == RAFT__SCAN_TORN ? r.why : "a batch without its end", s->hs.commit, kept);
        return -EBADMSG;
    }
    if (r.batch_end < len) {
        /* A torn write, or whole records of a batch whose last record never arrived. */
        size_t at = strlen(s->note); /* after what files.c said of the hard state */
        snprintf(s->note + at, sizeof s->note - at, "%scut %zu bytes (%zu whole records, then %s) "
                 "from the end of %s at offset %zu", at ? "; " : "", len - r.batch_end, r.n - r.n_batch,
                 r.status == RAFT__SCAN_TORN ? r.why : "no batch end", name, r.batch_end);
    }
    if (r.batch_end == 0 || r.batch_end < len) {
        rc = cut_tail(s, name, path, r.batch_end, dir);
        if (rc < 0 || r.batch_end == 0) {
            free(g.off);
            if (rc < 0) {
                snprintf(err, errlen, "%s", s->errmsg);
            }
            return rc;
        }
    }
    g.n = r.n_batch;
    g.size = r.batch_end;
    s->segs[s->nsegs++] = g;
    return 0;
}

int raft__segs_recover(raft_storage *s, char *err, size_t errlen)
{
    uint64_t *firsts;
    size_t n;
    int rc = list_segments(s, &firsts, &n);
    if (rc < 0) {
        snprintf(err, errlen, "data dir %s: cannot list segments: %s", s->dir, strerror(-rc));
        free(firsts);
        return rc;
    }
    /* A segment whose successor starts at or before the snapshot's next index is wholly
     * covered: a compaction that a crash interrupted. */
    bool dir = false;
    size_t k = 0;
    for (; k + 1 < n && firsts[k + 1] <= s->snap_index + 1; k++) {
        char name[RAFT__SEG_NAME], path[PATH_MAX];
        raft__seg_name(firsts[k], name);
        if (raft__st_path(s, name, path) < 0 || (rc = s->io.unlink(s->io.ctx, path)) < 0) {
            rc = raft__st_fail(s, rc < 0 ? rc : -ENAMETOOLONG, "recovery: unlink covered %s", name);
            snprintf(err, errlen, "%s", s->errmsg);
            free(firsts);
            return rc;
        }
        dir = true;
    }
    for (; k < n && rc == 0; k++) {
        rc = recover_one(s, firsts[k], k + 1 == n, &dir, err, errlen);
    }
    free(firsts);
    if (rc == 0 && s->nsegs > 0 && s->segs[0].first > s->snap_index + 1) {
        snprintf(err, errlen, "data dir %s: the log starts at index %" PRIu64 " but the "
                 "snapshot ends at %" PRIu64 "; refusing to start with entries missing",
                 s->dir, s->segs[0].first, s->snap_index);
        return -EBADMSG;
    }
    if (rc == 0 && s->hs_found == RAFT_STORAGE_HS_NONE && (s->nsegs > 0 || s->snap_index > 0)) {
        s->hs_found = RAFT_STORAGE_HS_MISSING; /* it had a log, so it had a hard state */
    }
    if (rc == 0) {
        rc = raft__segs_compact(s, "recovery");
    }
    if (rc == 0 && dir && (rc = s->io.fsync(s->io.ctx, s->dirfd)) < 0) {
        raft__st_fail(s, rc, "recovery: fsync of the directory");
    }
    if (rc == 0) {
        rc = raft__segs_open_last(s, "recovery");
    }
    if (rc < 0 && s->failed) {
        snprintf(err, errlen, "%s", s->errmsg);
    }
    return rc;
}

typedef struct {
    raft_storage_state *st;
    uint64_t after;
    size_t cap;
} load_ctx;

static int copy_entry(void *ctx, const raft_entry *e, uint8_t flags, size_t off)
{
    (void)flags;
    (void)off;
    load_ctx *c = ctx;
    if (e->index <= c->after) {
        return 0;
    }
    if (c->st->n_entries == c->cap) {
        return -EBADMSG;
    }
    raft_entry *d = &c->st->entries[c->st->n_entries];
    *d = *e;
    if (e->len > 0) {
        d->data = malloc(e->len);
        if (d->data == NULL) {
            return -ENOMEM;
        }
        memcpy(d->data, e->data, e->len);
    }
    c->st->n_entries++;
    return 0;
}

int raft__segs_read(raft_storage *s, raft_storage_state *st)
{
    uint64_t last = raft__segs_last(s);
    load_ctx c = {.st = st, .after = s->snap_index};
    c.cap = s->nsegs > 0 && last > s->snap_index ? (size_t)(last - s->snap_index) : 0;
    if (c.cap == 0) {
        return 0;
    }
    st->entries = calloc(c.cap, sizeof *st->entries);
    if (st->entries == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->nsegs; i++) {
        const raft__seg *g = &s->segs[i];
        char name[RAFT__SEG_NAME], path[PATH_MAX];
        raft__seg_name(g->first, name);
        if (raft__st_path(s, name, path) < 0) {
            return -ENAMETOOLONG;
        }
        uint8_t *buf;
        size_t len;
        raft__scan r;
        int rc = raft__st_read_file(path, &buf, &len);
        if (rc == 0 && len < g->size) {
            rc = -EBADMSG;
        }
        if (rc == 0) {
            rc = raft__seg_scan(buf, (size_t)g->size, g->first, copy_entry, &c, &r);
        }
        free(buf);
        if (rc == 0 && (r.status != RAFT__SCAN_CLEAN || r.n != g->n)) {
            rc = -EBADMSG;
        }
        if (rc < 0) {
            snprintf(s->errmsg, sizeof s->errmsg, "data dir %s: load: %s changed since open "
                     "or cannot be read: %s", s->dir, name, strerror(-rc));
            return rc;
        }
    }
    return c.st->n_entries == c.cap ? 0 : -EBADMSG;
}
