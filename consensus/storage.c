/* storage.c: the public face of Raft storage (storage.h): opening a data directory (create,
 * lock, check whose it is, recover), loading what it holds, and the write calls with their
 * failed state. The files themselves are handled in files.c, segment.c and recover.c. */
#include "storage_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static bool valid_name(const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (n == 0 || n > RAFT_STORAGE_MAX_NAME) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
            return false; /* meta is one name per line */
        }
    }
    return true;
}

static bool valid_io(const raft_storage_io *io)
{
    return io->open && io->write && io->fsync && io->fdatasync && io->ftruncate && io->rename &&
           io->unlink && io->close;
}

/* Creates dir if it is missing, and makes its entry in the parent durable. */
static int make_dir(raft_storage *s, char *err, size_t errlen)
{
    if (mkdir(s->dir, 0700) < 0) {
        if (errno == EEXIST) {
            return 0;
        }
        int e = -errno;
        snprintf(err, errlen, "data dir %s: cannot create it: %s", s->dir, strerror(-e));
        return e;
    }
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", s->dir);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 || fsync(fd) < 0 ? -errno : 0;
    if (fd >= 0) {
        close(fd);
    }
    if (rc < 0) {
        snprintf(err, errlen, "data dir %s: fsync of its parent: %s", s->dir, strerror(-rc));
    }
    return rc;
}

/* One process per data directory: two nodes appending to one log would corrupt it. */
static int take_lock(raft_storage *s, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (raft__st_path(s, "lock", path) < 0) {
        snprintf(err, errlen, "data dir %s: path too long", s->dir);
        return -ENAMETOOLONG;
    }
    s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lockfd < 0) {
        int e = -errno;
        snprintf(err, errlen, "data dir %s: cannot open its lock file: %s", s->dir, strerror(-e));
        return e;
    }
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno == EWOULDBLOCK ? -EBUSY : -errno;
        snprintf(err, errlen, "data dir %s is in use by another process (lock held)", s->dir);
        return e;
    }
    return 0;
}

static int open_steps(raft_storage *s, const char *cluster, const char *node_id, char *err,
                      size_t errlen)
{
    int rc = make_dir(s, err, errlen);
    if (rc == 0) {
        rc = take_lock(s, err, errlen);
    }
    if (rc < 0) {
        return rc;
    }
    s->dirfd = s->io.open(s->io.ctx, s->dir, O_RDONLY | O_DIRECTORY, 0);
    if (s->dirfd < 0) {
        rc = s->dirfd;
        snprintf(err, errlen, "data dir %s: cannot open it: %s", s->dir, strerror(-rc));
        return rc;
    }
    bool fresh;
    rc = raft__dir_prepare(s, &fresh, err, errlen);
    if (rc == 0) {
        rc = raft__meta_check(s, cluster, node_id, fresh, err, errlen);
    }
    if (rc == 0) {
        rc = raft__load_hard_state(s, err, errlen);
    }
    if (rc == 0) {
        rc = raft__load_snapshot(s, &s->snap_index, &s->snap_term, NULL, NULL, err, errlen);
    }
    if (rc == 0) {
        rc = raft__segs_recover(s, err, errlen);
    }
    return rc;
}

int raft_storage_open(const char *dir, const char *cluster, const char *node_id,
                      const raft_storage_io *io, raft_storage **out, char *err, size_t errlen)
{
    char ebuf[256];
    if (err == NULL || errlen == 0) {
        err = ebuf;
        errlen = sizeof ebuf;
    }
    err[0] = '\0';
    *out = NULL;
    if (io == NULL) {
        io = raft_storage_io_posix();
    }
    size_t dlen = dir ? strlen(dir) : 0;
    if (dlen == 0 || dlen > PATH_MAX - 64 || !valid_name(cluster) || !valid_name(node_id) ||
        !valid_io(io)) {
        snprintf(err, errlen, "raft storage: bad arguments (data dir, cluster name or node id "
                 "empty, too long or with control characters)");
        return -EINVAL;
    }
    raft_storage *s = calloc(1, sizeof *s);
    if (s == NULL || (s->dir = strdup(dir)) == NULL) {
        free(s);
        snprintf(err, errlen, "raft storage: out of memory");
        return -ENOMEM;
    }
    while (dlen > 1 && s->dir[dlen - 1] == '/') {
        s->dir[--dlen] = '\0';
    }
    s->io = *io;
    s->dirfd = s->lockfd = s->segfd = -1;
    s->seg_bytes = RAFT_STORAGE_SEGMENT_BYTES;
    int rc = open_steps(s, cluster, node_id, err, errlen);
    if (rc < 0) {
        raft_storage_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void raft_storage_close(raft_storage *s)
{
    if (s == NULL) {
        return;
    }
    /* Close errors change nothing here: every write was fsynced when its call returned. */
    if (s->segfd >= 0) {
        s->io.close(s->io.ctx, s->segfd);
    }
    if (s->dirfd >= 0) {
        s->io.close(s->io.ctx, s->dirfd);
    }
    if (s->lockfd >= 0) {
        close(s->lockfd); /* releases the lock */
    }
    raft__segs_free(s);
    free(s->buf);
    free(s->dir);
    free(s);
}

int raft_storage_load(raft_storage *s, raft_storage_state *st)
{
    assert(s != NULL && st != NULL);
    memset(st, 0, sizeof *st);
    st->hs = s->hs;
    int rc = raft__load_snapshot(s, &st->snap_index, &st->snap_term, &st->snap_data,
                                 &st->snap_len, s->errmsg, sizeof s->errmsg);
    if (rc == 0 && (st->snap_index != s->snap_index || st->snap_term != s->snap_term)) {
        snprintf(s->errmsg, sizeof s->errmsg, "load: data dir %s: snapshot changed since open",
                 s->dir);
        rc = -EBADMSG;
    }
    if (rc == 0) {
        rc = raft__segs_read(s, st);
    }
    if (rc < 0) {
        raft_storage_state_free(st);
    }
    return rc;
}

void raft_storage_state_free(raft_storage_state *st)
{
    if (st == NULL) {
        return;
    }
    for (size_t i = 0; i < st->n_entries; i++) {
        free(st->entries[i].data);
    }
    free(st->entries);
    free(st->snap_data);
    memset(st, 0, sizeof *st);
}

int raft_storage_save_hard_state(raft_storage *s, const raft_hard_state *hs)
{
    assert(s != NULL && hs != NULL);
    if (s->failed) {
        return s->failed;
    }
    uint8_t b[RAFT__HS_SIZE];
    raft__hs_encode(b, hs);
    int rc = raft__st_atomic_write(s, "save hard state", "hardstate", b, sizeof b, NULL, 0);
    if (rc == 0) {
        s->hs = *hs;
    }
    return rc;
}

int raft_storage_append(raft_storage *s, const raft_entry *e, size_t n)
{
    assert(s != NULL && (n == 0 || e != NULL));
    if (s->failed) {
        return s->failed;
    }
    return n == 0 ? 0 : raft__segs_append(s, e, n);
}

int raft_storage_truncate_from(raft_storage *s, uint64_t index)
{
    assert(s != NULL);
    if (s->failed) {
        return s->failed;
    }
    if (index == 0) {
        snprintf(s->errmsg, sizeof s->errmsg, "truncate: index 0");
        return -EINVAL;
    }
    return raft__segs_truncate(s, index);
}

int raft_storage_save_snapshot(raft_storage *s, uint64_t index, uint64_t term, const void *data,
                               size_t len)
{
    assert(s != NULL);
    if (s->failed) {
        return s->failed;
    }
    if (index == 0 || index < s->snap_index || (data == NULL && len > 0)) {
        snprintf(s->errmsg, sizeof s->errmsg, "save snapshot: index %" PRIu64 " (current %"
                 PRIu64 ") or data NULL with length %zu", index, s->snap_index, len);
        return -EINVAL;
    }
    raft__snap_hdr h = {.index = index, .term = term, .len = len,
                        .data_crc = raft__crc32c(0, data, len)};
    uint8_t hdr[RAFT__SNAP_HDR];
    raft__snap_hdr_encode(hdr, &h);
    int rc = raft__st_atomic_write(s, "save snapshot", "snapshot", hdr, sizeof hdr, data, len);
    if (rc < 0) {
        return rc;
    }
    s->snap_index = index;
    s->snap_term = term;
    return raft__segs_compact(s, "save snapshot");
}

int raft_storage_failed(const raft_storage *s)
{
    return s->failed;
}

const char *raft_storage_errmsg(const raft_storage *s)
{
    return s->errmsg;
}

const char *raft_storage_recovery_note(const raft_storage *s)
{
    return s->note;
}

raft_storage_hs_found raft_storage_hard_state_found(const raft_storage *s)
{
    return s->hs_found;
}

const char *raft_storage_hs_found_name(raft_storage_hs_found f)
{
    switch (f) {
    case RAFT_STORAGE_HS_OK:
        return "ok";
    case RAFT_STORAGE_HS_NONE:
        return "none";
    case RAFT_STORAGE_HS_MISSING:
        return "missing";
    case RAFT_STORAGE_HS_DAMAGED:
        return "damaged";
    }
    return "?";
}

uint64_t raft_storage_last_index(const raft_storage *s)
{
    uint64_t last = raft__segs_last(s);
    return last > s->snap_index ? last : s->snap_index;
}

void raft_storage_set_segment_bytes(raft_storage *s, size_t bytes)
{
    assert(bytes > 0);
    s->seg_bytes = bytes;
}
