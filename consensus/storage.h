/* storage.h: durable Raft storage: hard state, the log as CRC32C-checked segment files, and
 * snapshots, in one data directory. Blocking POSIX file I/O only (no libuv); every call that
 * writes returns only once what it wrote is on stable storage.
 *
 * On disk (all integers little-endian):
 *   meta          "medic-raft-storage 1\ncluster NAME\nnode ID\n", written on first use
 *   hardstate     term, vote, commit + CRC32C; replaced atomically (temp, fsync, rename, fsync dir)
 *   snapshot      index, term, length, data CRC32C, header CRC32C, then the data; replaced atomically
 *   seg-<index>   log records, named by the index of the first (20 decimal digits); a new segment
 *                 starts when the last one has reached the segment size (default 8 MiB)
 *   lock          held with flock while a process has the directory open
 * A record is: u32 payload length, u32 CRC32C (of the length and everything after the CRC),
 * u64 term, u64 index, u8 type, u8 flags (bit 0: last record of an append batch), u16 zero,
 * payload. An append batch is all or nothing across crashes: recovery drops a batch whose last
 * record is missing.
 *
 * Recovery (in raft_storage_open): a short or bad record at the end of the last segment is a torn
 * write and is cut off, together with the rest of its batch, unless the hard state's commit index
 * says entries it would drop were committed: then open fails with -EBADMSG and a message that says
 * how to recover. A bad record followed by a valid one, a bad record in any other segment, or a
 * gap in the indexes is corruption: open fails with -EBADMSG and a message naming the file and
 * offset, rather than drop committed entries.
 *
 * A hard state file that is missing (while the log or a snapshot exist) or damaged (short, bad
 * checksum or format) is the same loss: term, vote and commit index are unknown. Open succeeds
 * with a zero hard state, as for a new store, and says so (raft_storage_hard_state_found); the
 * caller must start the node as one that lost its disk (raft_config.recovering). The commit
 * index is unknown then, so a torn tail is cut whatever it held: a recovering node may lack
 * entries it acknowledged, and the leader repairs it. A damaged file stays until the next
 * raft_storage_save_hard_state replaces it.
 *
 * Failure: any error of a write, fsync, rename, truncate or unlink puts the store in a failed
 * state; from then on every call that writes returns that error without touching the disk.
 * A failed call may or may not have reached the disk: after reopening, the state is either the
 * one before the call or the one after it, never a mix. The node stops voting and reports it.
 *
 * Threads: a raft_storage is used by one thread at a time. Every call may block on the disk. */
#ifndef RAFT_STORAGE_H
#define RAFT_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "raft_types.h"

#define RAFT_STORAGE_SEGMENT_BYTES (8u << 20) /* default size at which a segment is closed */
#define RAFT_STORAGE_MAX_ENTRY (64u << 20)    /* largest entry payload, bytes */
#define RAFT_STORAGE_MAX_NAME 128             /* longest cluster name or node id, bytes */

typedef struct raft_storage raft_storage;

/* raft_storage_io: the system calls through which the store changes the disk, so that tests can
 * inject ENOSPC, EIO, short writes and crashes at any call. Each returns what its POSIX namesake
 * returns on success and -errno on failure (never -1 with errno). ctx is passed through.
 * raft_storage_io_posix() gives the real ones. Reading (at open and in raft_storage_load) uses
 * POSIX directly. */
typedef struct raft_storage_io {
    void *ctx;
    int (*open)(void *ctx, const char *path, int flags, mode_t mode); /* fd */
    ssize_t (*write)(void *ctx, int fd, const void *buf, size_t len);  /* may be short */
    int (*fsync)(void *ctx, int fd);     /* files just created or renamed, and directories */
    int (*fdatasync)(void *ctx, int fd); /* appends and truncations of a segment */
    int (*ftruncate)(void *ctx, int fd, off_t len);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*close)(void *ctx, int fd);
} raft_storage_io;

/* raft_storage_io_posix returns the default table (static storage, never NULL). */
const raft_storage_io *raft_storage_io_posix(void);

/* What recovery found, handed to the core at start. Everything in it is owned by the caller and
 * freed by raft_storage_state_free; to keep a buffer, take it and set the field to NULL. */
typedef struct {
    raft_hard_state hs;     /* zeros when none was ever saved */
    uint64_t snap_index;    /* 0: no snapshot */
    uint64_t snap_term;
    uint8_t *snap_data;     /* snap_len bytes (malloc'd), NULL when no snapshot or empty */
    size_t snap_len;
    raft_entry *entries;    /* the log after snap_index, in index order (malloc'd array) */
    size_t n_entries;       /* entries[i].index == snap_index + 1 + i */
} raft_storage_state;

/* What raft_storage_open found of the hard state. */
typedef enum {
    RAFT_STORAGE_HS_OK = 0,  /* read and checked */
    RAFT_STORAGE_HS_NONE,    /* no file, and no log entry or snapshot either: a new store, or one
                              * whose node never saved a hard state */
    RAFT_STORAGE_HS_MISSING, /* no file, but log segments or a snapshot exist */
    RAFT_STORAGE_HS_DAMAGED  /* the file is short, or its checksum or format is wrong */
} raft_storage_hs_found;

/* raft_storage_open opens (creating if needed) the data directory dir for this cluster and
 * node, recovers the log and takes the directory's lock. io may be NULL (POSIX); the table is
 * copied, its ctx must outlive the store. On success *out is the new store (free with
 * raft_storage_close). On failure err holds a sentence for the operator.
 * Errors: -EINVAL bad arguments; -EPERM the directory belongs to another cluster or node;
 * -EBUSY another process has it open; -EBADMSG corruption (file and offset in err);
 * -ENOMEM; other negative errno from the file system. */
int raft_storage_open(const char *dir, const char *cluster, const char *node_id,
                      const raft_storage_io *io, raft_storage **out, char *err, size_t errlen);

/* raft_storage_owner reads which cluster and node the data directory dir belongs to (recorded by
 * the first raft_storage_open), without opening, locking or changing anything. cluster and node_id
 * get the names (each cap >= RAFT_STORAGE_MAX_NAME + 1 bytes). A node checks it before it starts,
 * so that one that comes back under another id is refused, naming both.
 * Errors: -ENOENT no record (a new or empty directory); -EBADMSG a record this version cannot
 * read; -EINVAL cap too small; other negative errno from reading the file. */
int raft_storage_owner(const char *dir, char *cluster, char *node_id, size_t cap);

/* raft_storage_close releases the store; s may be NULL. Nothing is pending: writes are durable
 * when their call returns. */
void raft_storage_close(raft_storage *s);

/* raft_storage_load fills *st with the hard state, the latest snapshot and the entries after it,
 * read from disk (caller-owned, see raft_storage_state). May be called at any time.
 * Errors: -ENOMEM, -EIO, -EBADMSG (a file changed since open). *st is zeroed on error. */
int raft_storage_load(raft_storage *s, raft_storage_state *st);

/* raft_storage_state_free frees everything st holds and zeroes it; st may be NULL. */
void raft_storage_state_free(raft_storage_state *st);

/* raft_storage_save_hard_state replaces the hard state; durable on return.
 * Errors: the failed state's error, or a new write error (which fails the store). */
int raft_storage_save_hard_state(raft_storage *s, const raft_hard_state *hs);

/* raft_storage_append appends n >= 1 entries as one batch: one write and one fdatasync; durable
 * on return. e[0].index must be raft_storage_last_index(s) + 1 and the indexes consecutive (drop
 * a conflicting suffix first with raft_storage_truncate_from). Data is copied; e stays the
 * caller's. Errors: -EINVAL (indexes, len > RAFT_STORAGE_MAX_ENTRY), -ENOMEM (nothing written,
 * store not failed), the failed state's error, or a new write error (which fails the store). */
int raft_storage_append(raft_storage *s, const raft_entry *e, size_t n);

/* raft_storage_truncate_from drops every entry with index >= index; durable on return, so new
 * entries appended after it can be acknowledged. A no-op past the last index. If it fails, a
 * reopen finds the log as it was, as asked, or cut somewhere in between (later segments are
 * removed first): never a gap, never an entry below index lost.
 * Errors: -EINVAL (index 0), the failed state's error, or a new write error. */
int raft_storage_truncate_from(raft_storage *s, uint64_t index);

/* raft_storage_save_snapshot durably replaces the snapshot with (index, term, data) and then
 * deletes the segments whose entries all lie at or below index. Entries after index stay.
 * If the log holds entries after index that conflict with the snapshot, truncate them first.
 * data is copied (NULL allowed when len is 0). Errors: -EINVAL (index 0, or below the current
 * snapshot), the failed state's error, or a new write error (which fails the store). */
int raft_storage_save_snapshot(raft_storage *s, uint64_t index, uint64_t term, const void *data,
                               size_t len);

/* raft_storage_failed returns 0, or the negative error that failed the store. */
int raft_storage_failed(const raft_storage *s);

/* raft_storage_errmsg says what failed the store or the last rejected call ("" if nothing).
 * Owned by s, valid until the next call on s. */
const char *raft_storage_errmsg(const raft_storage *s);

/* raft_storage_recovery_note says what recovery at open repaired, e.g. "cut 37 bytes (0 whole
 * records, then short record) from the end of seg-... at offset 4096", or "" if nothing; for the
 * node's log. Owned by s. */
const char *raft_storage_recovery_note(const raft_storage *s);

/* raft_storage_hard_state_found says what open found of the hard state. Anything but
 * RAFT_STORAGE_HS_OK leaves the loaded hard state zero: term, vote and commit are unknown. */
raft_storage_hs_found raft_storage_hard_state_found(const raft_storage *s);

/* raft_storage_hs_found_name: "ok", "none", "missing", "damaged" (static strings). */
const char *raft_storage_hs_found_name(raft_storage_hs_found f);

/* raft_storage_last_index returns the index of the last entry, or the snapshot index when the
 * log after it is empty (0 for a new store). */
uint64_t raft_storage_last_index(const raft_storage *s);

/* raft_storage_set_segment_bytes sets the size at which a new segment is started (tests use a
 * small one). bytes > 0. Applies to the next append. */
void raft_storage_set_segment_bytes(raft_storage *s, size_t bytes);

#endif
