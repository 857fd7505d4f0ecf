/* io.c: the POSIX system-call table the store writes through by default, and the small helpers
 * every storage file uses: paths, complete writes, whole-file reads, the failed state, and the
 * atomic replacement of a small file (temp, fsync, rename, fsync dir). */
#include "storage_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int px_open(void *ctx, const char *path, int flags, mode_t mode)
{
    (void)ctx;
    int fd;
    do {
        fd = open(path, flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static ssize_t px_write(void *ctx, int fd, const void *buf, size_t len)
{
    (void)ctx;
    ssize_t n;
    do {
        n = write(fd, buf, len);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static int px_fsync(void *ctx, int fd)
{
    (void)ctx;
    return fsync(fd) < 0 ? -errno : 0;
}

static int px_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int px_ftruncate(void *ctx, int fd, off_t len)
{
    (void)ctx;
    return ftruncate(fd, len) < 0 ? -errno : 0;
}

static int px_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    return rename(from, to) < 0 ? -errno : 0;
}

static int px_unlink(void *ctx, const char *path)
{
    (void)ctx;
    return unlink(path) < 0 ? -errno : 0;
}

/* close is not retried on EINTR: on Linux the descriptor is gone either way. */
static int px_close(void *ctx, int fd)
{
    (void)ctx;
    return close(fd) < 0 ? -errno : 0;
}

static const raft_storage_io posix_io = {
    .ctx = NULL,
    .open = px_open,
    .write = px_write,
    .fsync = px_fsync,
    .fdatasync = px_fdatasync,
    .ftruncate = px_ftruncate,
    .rename = px_rename,
    .unlink = px_unlink,
    .close = px_close,
};

const raft_storage_io *raft_storage_io_posix(void)
{
    return &posix_io;
}

int raft__st_fail(raft_storage *s, int err, const char *fmt, ...)
{
    assert(err < 0);
    if (s->failed == 0) {
        s->failed = err;
        char what[192];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        snprintf(s->errmsg, sizeof s->errmsg, "data dir %s: %s: %s; storage failed", s->dir,
                 what, strerror(-err));
    }
    return err;
}

int raft__st_path(const raft_storage *s, const char *name, char *out)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", s->dir, name);
    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int raft__st_write_all(raft_storage *s, int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = s->io.write(s->io.ctx, fd, p, len);
        if (n < 0) {
            return (int)n;
        }
        if (n == 0 || (size_t)n > len) {
            return -EIO; /* no progress (or a lying write): never loop, never claim it */
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int raft__st_read_file(const char *path, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (st.st_size == 0) {
        close(fd);
        return 0;
    }
    if ((uint64_t)st.st_size > SIZE_MAX / 2) {
        close(fd);
        return -EFBIG;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int e = n < 0 ? -errno : -EIO; /* shrank under us */
            free(buf);
            close(fd);
            return e;
        }
        got += (size_t)n;
    }
    close(fd);
    *out = buf;
    *len = size;
    return 0;
}

/* Every step can fail; the old file stays in place until the rename, which is atomic. The
 * directory fsync makes the rename itself durable. */
int raft__st_atomic_write(raft_storage *s, const char *what, const char *name, const void *a,
                       size_t alen, const void *b, size_t blen)
{
    char tmp[PATH_MAX], dst[PATH_MAX], tname[64];
    snprintf(tname, sizeof tname, "%s.tmp", name);
    if (raft__st_path(s, tname, tmp) < 0 || raft__st_path(s, name, dst) < 0) {
        return raft__st_fail(s, -ENAMETOOLONG, "%s: path too long", what);
    }
    int fd = s->io.open(s->io.ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        return raft__st_fail(s, fd, "%s: create %s", what, tname);
    }
    int rc = raft__st_write_all(s, fd, a, alen);
    if (rc == 0 && blen > 0) {
        rc = raft__st_write_all(s, fd, b, blen);
    }
    if (rc < 0) {
        s->io.close(s->io.ctx, fd);
        return raft__st_fail(s, rc, "%s: write %s", what, tname);
    }
    rc = s->io.fsync(s->io.ctx, fd);
    if (rc < 0) {
        s->io.close(s->io.ctx, fd);
        return raft__st_fail(s, rc, "%s: fsync %s", what, tname);
    }
    rc = s->io.close(s->io.ctx, fd);
    if (rc < 0) {
        return raft__st_fail(s, rc, "%s: close %s", what, tname);
    }
    rc = s->io.rename(s->io.ctx, tmp, dst);
    if (rc < 0) {
        return raft__st_fail(s, rc, "%s: rename %s to %s", what, tname, name);
    }
    rc = s->io.fsync(s->io.ctx, s->dirfd);
    if (rc < 0) {
        return raft__st_fail(s, rc, "%s: fsync of the directory", what);
    }
    return 0;
}
