/* test_storage_util.h: helpers shared by the test_storage_* unit tests: temp directories,
 * deterministic entries, comparison of loaded states, file surgery, and a fault-injecting
 * raft_storage_io that fails (or "crashes" at) a chosen system call. Static functions only;
 * include after <cmocka.h>. */
#ifndef TEST_STORAGE_UTIL_H
#define TEST_STORAGE_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage.h"

#define CLUSTER "test-cluster"
#define NODE "n1"

/* ---- temp directories ---- */

static inline int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static inline void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh temp directory per test: t->root, and t->dir = root/data (not created: open does). */
typedef struct {
    char root[64];
    char dir[96];
} tdir;

static inline int tdir_setup(void **state)
{
    tdir *t = calloc(1, sizeof *t);
    assert_non_null(t);
    snprintf(t->root, sizeof t->root, "/tmp/medic-storage-XXXXXX");
    assert_non_null(mkdtemp(t->root));
    snprintf(t->dir, sizeof t->dir, "%s/data", t->root);
    *state = t;
    return 0;
}

static inline int tdir_teardown(void **state)
{
    tdir *t = *state;
    rm_rf(t->root);
    free(t);
    return 0;
}

static inline void path_in(const char *dir, const char *name, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

static inline bool file_exists(const char *dir, const char *name)
{
    char p[PATH_MAX];
    path_in(dir, name, p);
    return access(p, F_OK) == 0;
}

static inline void seg_file(uint64_t first, char out[64])
{
    snprintf(out, 64, "seg-%020" PRIu64, first);
}

/* Counts the seg-* files in dir. */
static inline int count_segments(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        n += strncmp(de->d_name, "seg-", 4) == 0 && strlen(de->d_name) == 24;
    }
    closedir(d);
    return n;
}

/* Whole-file read and write, for surgery on segment files. */
static inline uint8_t *slurp(const char *dir, const char *name, size_t *len)
{
    char p[PATH_MAX];
    path_in(dir, name, p);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static inline void spit(const char *dir, const char *name, const uint8_t *b, size_t len)
{
    char p[PATH_MAX];
    path_in(dir, name, p);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* ---- entries with contents derived from (index, salt) ---- */

static inline uint32_t ent_len(uint64_t index, int salt)
{
    return (uint32_t)((index * 7 + (uint64_t)salt * 3) % 40); /* includes 0-length entries */
}

/* Fills e with entry index of term; data is malloc'd (free with free_entries). */
static inline void make_entry(raft_entry *e, uint64_t index, uint64_t term, int salt)
{
    e->index = index;
    e->term = term;
    e->type = (uint8_t)((index + (uint64_t)salt) % 3);
    e->len = ent_len(index, salt);
    e->data = NULL;
    if (e->len > 0) {
        e->data = malloc(e->len);
        assert_non_null(e->data);
        for (uint32_t i = 0; i < e->len; i++) {
            e->data[i] = (uint8_t)(index * 31 + i * 7 + (uint64_t)salt);
        }
    }
}

static inline void free_entries(raft_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].data);
    }
}

/* Appends [from, to] in one batch, all of term, salt 0. */
static inline void append_batch(raft_storage *s, uint64_t from, uint64_t to, uint64_t term, int salt)
{
    size_t n = (size_t)(to - from + 1);
    raft_entry *e = calloc(n, sizeof *e);
    assert_non_null(e);
    for (size_t i = 0; i < n; i++) {
        make_entry(&e[i], from + i, term, salt);
    }
    int rc = raft_storage_append(s, e, n);
    if (rc != 0) {
        fprintf(stderr, "append %" PRIu64 "..%" PRIu64 ": %d %s\n", from, to, rc,
                raft_storage_errmsg(s));
    }
    assert_int_equal(rc, 0);
    free_entries(e, n);
    free(e);
}

/* Appends [from, to] one entry per batch. */
static inline void append_each(raft_storage *s, uint64_t from, uint64_t to, uint64_t term, int salt)
{
    for (uint64_t i = from; i <= to; i++) {
        append_batch(s, i, i, term, salt);
    }
}

/* Checks that st->entries hold exactly [from, to] made with term_of(index) and salt. */
static inline void expect_entries(const raft_storage_state *st, uint64_t from, uint64_t to,
                           uint64_t (*term_of)(uint64_t), int salt)
{
    assert_int_equal(st->n_entries, to >= from ? to - from + 1 : 0);
    for (size_t i = 0; i < st->n_entries; i++) {
        raft_entry want;
        make_entry(&want, from + i, term_of(from + i), salt);
        const raft_entry *got = &st->entries[i];
        assert_int_equal(got->index, want.index);
        assert_int_equal(got->term, want.term);
        assert_int_equal(got->type, want.type);
        assert_int_equal(got->len, want.len);
        if (want.len > 0) {
            assert_memory_equal(got->data, want.data, want.len);
        } else {
            assert_null(got->data);
        }
        free(want.data);
    }
}

static inline raft_storage *open_ok(const char *dir, const raft_storage_io *io)
{
    raft_storage *s = NULL;
    char err[256];
    int rc = raft_storage_open(dir, CLUSTER, NODE, io, &s, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "open %s: %d %s\n", dir, rc, err);
    }
    assert_int_equal(rc, 0);
    assert_non_null(s);
    return s;
}

/* Reopens dir with the POSIX io and loads it into *st. */
static inline void reload(const char *dir, raft_storage_state *st)
{
    raft_storage *s = open_ok(dir, NULL);
    assert_int_equal(raft_storage_load(s, st), 0);
    raft_storage_close(s);
}

static inline bool states_equal(const raft_storage_state *a, const raft_storage_state *b)
{
    if (memcmp(&a->hs, &b->hs, sizeof a->hs) != 0 || a->snap_index != b->snap_index ||
        a->snap_term != b->snap_term || a->snap_len != b->snap_len ||
        (a->snap_len && memcmp(a->snap_data, b->snap_data, a->snap_len) != 0) ||
        a->n_entries != b->n_entries) {
        return false;
    }
    for (size_t i = 0; i < a->n_entries; i++) {
        const raft_entry *x = &a->entries[i], *y = &b->entries[i];
        if (x->index != y->index || x->term != y->term || x->type != y->type ||
            x->len != y->len || (x->len && memcmp(x->data, y->data, x->len) != 0)) {
            return false;
        }
    }
    return true;
}

/* ---- a fault-injecting io ---- */

typedef struct {
    bool armed;      /* count and fail only once armed (after open) */
    int calls;       /* calls made while armed */
    int fail_at;     /* the armed call that fails; -1 never */
    int err;         /* its errno (positive) */
    bool crash;      /* after the failure every call fails with EIO and does nothing */
    bool short_write;/* the failing call, if a write, writes half its bytes and returns that
                      * count instead; the failure (if err) then hits the next call */
    bool failed;     /* the failure happened */
    char trace[512]; /* names of the armed calls, space separated */
} fault;

static inline int fault_hit(fault *f, const char *op)
{
    if (!f->armed) {
        return 0;
    }
    size_t l = strlen(f->trace);
    snprintf(f->trace + l, sizeof f->trace - l, "%s%s", l ? " " : "", op);
    int k = f->calls++;
    if (f->failed && f->crash) {
        return -EIO;
    }
    if (k == f->fail_at) {
        f->failed = true;
        return -f->err;
    }
    return 0;
}

static inline int f_open(void *ctx, const char *path, int flags, mode_t mode)
{
    int rc = fault_hit(ctx, "open");
    return rc < 0 ? rc : raft_storage_io_posix()->open(NULL, path, flags, mode);
}

static inline ssize_t f_write(void *ctx, int fd, const void *buf, size_t len)
{
    fault *f = ctx;
    if (f->armed && f->short_write && f->calls == f->fail_at && !f->failed && len > 1) {
        f->fail_at = f->err ? f->calls + 1 : -1; /* the next call fails, if err is set */
        fault_hit(f, "write(short)");
        return raft_storage_io_posix()->write(NULL, fd, buf, len / 2);
    }
    int rc = fault_hit(f, "write");
    return rc < 0 ? rc : raft_storage_io_posix()->write(NULL, fd, buf, len);
}

static inline int f_fsync(void *ctx, int fd)
{
    int rc = fault_hit(ctx, "fsync");
    return rc < 0 ? rc : raft_storage_io_posix()->fsync(NULL, fd);
}

static inline int f_fdatasync(void *ctx, int fd)
{
    int rc = fault_hit(ctx, "fdatasync");
    return rc < 0 ? rc : raft_storage_io_posix()->fdatasync(NULL, fd);
}

static inline int f_ftruncate(void *ctx, int fd, off_t len)
{
    int rc = fault_hit(ctx, "ftruncate");
    return rc < 0 ? rc : raft_storage_io_posix()->ftruncate(NULL, fd, len);
}

static inline int f_rename(void *ctx, const char *from, const char *to)
{
    int rc = fault_hit(ctx, "rename");
    return rc < 0 ? rc : raft_storage_io_posix()->rename(NULL, from, to);
}

static inline int f_unlink(void *ctx, const char *path)
{
    int rc = fault_hit(ctx, "unlink");
    return rc < 0 ? rc : raft_storage_io_posix()->unlink(NULL, path);
}

/* A descriptor is always released, as a real close does even when it reports an error. */
static inline int f_close(void *ctx, int fd)
{
    int rc = fault_hit(ctx, "close");
    int rc2 = raft_storage_io_posix()->close(NULL, fd);
    return rc < 0 ? rc : rc2;
}

static inline raft_storage_io fault_io(fault *f)
{
    memset(f, 0, sizeof *f);
    f->fail_at = -1;
    return (raft_storage_io){.ctx = f, .open = f_open, .write = f_write, .fsync = f_fsync,
                             .fdatasync = f_fdatasync, .ftruncate = f_ftruncate,
                             .rename = f_rename, .unlink = f_unlink, .close = f_close};
}

#endif
