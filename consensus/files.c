/* files.c: the store's small files: meta (whose directory this is), hardstate (term, vote,
 * commit) and snapshot. Each is replaced only atomically (raft__st_atomic_write), so a crash leaves
 * either the old or the new one; a bad checksum therefore means damage, never a torn write. */
#include "storage_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_MAGIC "medic-raft-storage 1\n"
#define HS_MAGIC "MDHS"
#define SNAP_MAGIC "MDSN"
#define FORMAT_VERSION 1u

/* hardstate: magic, version, term u64, vote u32, commit u64, CRC32C of the 28 bytes before. */
void raft__hs_encode(uint8_t out[RAFT__HS_SIZE], const raft_hard_state *hs)
{
    memcpy(out, HS_MAGIC, 4);
    ut_put_le32(out + 4, FORMAT_VERSION);
    ut_put_le64(out + 8, hs->term);
    ut_put_le32(out + 16, hs->vote);
    ut_put_le64(out + 20, hs->commit);
    ut_put_le32(out + 28, raft__crc32c(0, out, 28));
}

int raft__hs_decode(const uint8_t *buf, size_t len, raft_hard_state *hs)
{
    if (len != RAFT__HS_SIZE || memcmp(buf, HS_MAGIC, 4) != 0 ||
        ut_get_le32(buf + 4) != FORMAT_VERSION ||
        raft__crc32c(0, buf, 28) != ut_get_le32(buf + 28)) {
        return -EBADMSG;
    }
    hs->term = ut_get_le64(buf + 8);
    hs->vote = ut_get_le32(buf + 16);
    hs->commit = ut_get_le64(buf + 20);
    return 0;
}

/* snapshot header: magic, version, index, term, data length, data CRC, header CRC. */
void raft__snap_hdr_encode(uint8_t out[RAFT__SNAP_HDR], const raft__snap_hdr *h)
{
    memcpy(out, SNAP_MAGIC, 4);
    ut_put_le32(out + 4, FORMAT_VERSION);
    ut_put_le64(out + 8, h->index);
    ut_put_le64(out + 16, h->term);
    ut_put_le64(out + 24, h->len);
    ut_put_le32(out + 32, h->data_crc);
    ut_put_le32(out + 36, raft__crc32c(0, out, 36));
}

int raft__snap_hdr_decode(const uint8_t *buf, size_t len, raft__snap_hdr *h)
{
    if (len < RAFT__SNAP_HDR || memcmp(buf, SNAP_MAGIC, 4) != 0 ||
        ut_get_le32(buf + 4) != FORMAT_VERSION ||
        raft__crc32c(0, buf, 36) != ut_get_le32(buf + 36)) {
        return -EBADMSG;
    }
    h->index = ut_get_le64(buf + 8);
    h->term = ut_get_le64(buf + 16);
    h->len = ut_get_le64(buf + 24);
    h->data_crc = ut_get_le32(buf + 32);
    return h->index == 0 ? -EBADMSG : 0;
}

/* Copies the value of the line "key VALUE\n" starting at *p into out; advances *p. */
static bool meta_line(const char **p, const char *end, const char *key, char *out)
{
    size_t klen = strlen(key);
    if ((size_t)(end - *p) <= klen || memcmp(*p, key, klen) != 0 || (*p)[klen] != ' ') {
        return false;
    }
    const char *v = *p + klen + 1;
    const char *nl = memchr(v, '\n', (size_t)(end - v));
    if (nl == NULL || nl == v || nl - v > RAFT_STORAGE_MAX_NAME || memchr(v, '\0', (size_t)(nl - v))) {
        return false;
    }
    memcpy(out, v, (size_t)(nl - v));
    out[nl - v] = '\0';
    *p = nl + 1;
    return true;
}

/* meta_parse reads the meta file's text into c and n (RAFT_STORAGE_MAX_NAME + 1 bytes each). */
static bool meta_parse(const uint8_t *buf, size_t len, char *c, char *n)
{
    const char *p = (const char *)buf, *end = p + len;
    size_t ml = strlen(META_MAGIC);
    if (buf == NULL || len <= ml || memcmp(p, META_MAGIC, ml) != 0) {
        return false;
    }
    p += ml;
    return meta_line(&p, end, "cluster", c) && meta_line(&p, end, "node", n) && p == end;
}

int raft__meta_check(raft_storage *s, const char *cluster, const char *node_id, bool fresh,
                     char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (raft__st_path(s, "meta", path) < 0) {
        snprintf(err, errlen, "data dir %s: path too long", s->dir);
        return -ENAMETOOLONG;
    }
    uint8_t *buf;
    size_t len;
    int rc = raft__st_read_file(path, &buf, &len);
    if (rc == -ENOENT) {
        if (!fresh) {
            snprintf(err, errlen, "data dir %s holds raft files but no meta file; "
                     "refusing to guess which cluster and node they belong to", s->dir);
            return -EBADMSG;
        }
        char text[2 * RAFT_STORAGE_MAX_NAME + 64];
        int n = snprintf(text, sizeof text, META_MAGIC "cluster %s\nnode %s\n", cluster, node_id);
        rc = raft__st_atomic_write(s, "write meta", "meta", text, (size_t)n, NULL, 0);
        if (rc < 0) {
            snprintf(err, errlen, "%s", s->errmsg);
        }
        return rc;
    }
    if (rc < 0) {
        snprintf(err, errlen, "data dir %s: cannot read meta: %s", s->dir, strerror(-rc));
        return rc;
    }
    char c[RAFT_STORAGE_MAX_NAME + 1], n[RAFT_STORAGE_MAX_NAME + 1];
    bool ok = meta_parse(buf, len, c, n);
    free(buf);
    if (!ok) {
        snprintf(err, errlen, "data dir %s: meta file is not one this version understands",
                 s->dir);
        return -EBADMSG;
    }
    if (strcmp(c, cluster) != 0 || strcmp(n, node_id) != 0) {
        snprintf(err, errlen, "data dir %s belongs to node %s of cluster %s, not node %s of cluster %s "
                 "(a node's id and cluster must not change across restarts)", s->dir, n, c, node_id, cluster);
        return -EPERM;
    }
    return 0;
}

int raft_storage_owner(const char *dir, char *cluster, char *node_id, size_t cap)
{
    char path[PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    char c[RAFT_STORAGE_MAX_NAME + 1], n[RAFT_STORAGE_MAX_NAME + 1];
    if (cap < RAFT_STORAGE_MAX_NAME + 1) {
        return -EINVAL;
    }
    int w = snprintf(path, sizeof path, "%s/meta", dir);
    if (w < 0 || (size_t)w >= sizeof path) {
        return -ENAMETOOLONG;
    }
    int rc = raft__st_read_file(path, &buf, &len);
    if (rc < 0) {
        return rc;
    }
    bool ok = meta_parse(buf, len, c, n);
    free(buf);
    if (!ok) {
        return -EBADMSG;
    }
    memcpy(cluster, c, sizeof c);
    memcpy(node_id, n, sizeof n);
    return 0;
}

int raft__load_hard_state(raft_storage *s, char *err, size_t errlen)
{
    char path[PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = raft__st_path(s, "hardstate", path);
    if (rc == 0) {
        rc = raft__st_read_file(path, &buf, &len);
    }
    memset(&s->hs, 0, sizeof s->hs);
    s->hs_found = RAFT_STORAGE_HS_OK;
    if (rc == -ENOENT) {
        s->hs_found = RAFT_STORAGE_HS_NONE;
        return 0;
    }
    if (rc == 0) {
        rc = raft__hs_decode(buf, len, &s->hs);
        free(buf);
        if (rc < 0) {
            /* Lost like a missing file (storage.h): the caller starts the node as recovering. */
            memset(&s->hs, 0, sizeof s->hs);
            s->hs_found = RAFT_STORAGE_HS_DAMAGED;
            snprintf(s->note, sizeof s->note, "hardstate is damaged (%zu bytes, bad checksum or "
                     "format): term, vote and commit unknown", len);
        }
        return 0;
    }
    snprintf(err, errlen, "data dir %s: cannot read hardstate: %s", s->dir, strerror(-rc));
    return rc;
}

int raft__load_snapshot(raft_storage *s, uint64_t *index, uint64_t *term, uint8_t **data,
                        size_t *dlen, char *err, size_t errlen)
{
    char path[PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    if (data != NULL) {
        *data = NULL;
        *dlen = 0;
    }
    int rc = raft__st_path(s, "snapshot", path);
    if (rc == 0) {
        rc = raft__st_read_file(path, &buf, &len);
    }
    *index = *term = 0;
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc < 0) {
        snprintf(err, errlen, "data dir %s: cannot read snapshot: %s", s->dir, strerror(-rc));
        return rc;
    }
    raft__snap_hdr h;
    if (raft__snap_hdr_decode(buf, len, &h) < 0 || h.len != len - RAFT__SNAP_HDR ||
        raft__crc32c(0, buf + RAFT__SNAP_HDR, (size_t)h.len) != h.data_crc) {
        snprintf(err, errlen, "data dir %s: snapshot is damaged (%zu bytes, bad checksum, "
                 "length or format)", s->dir, len);
        free(buf);
        return -EBADMSG;
    }
    *index = h.index;
    *term = h.term;
    if (data != NULL && h.len > 0) {
        memmove(buf, buf + RAFT__SNAP_HDR, (size_t)h.len);
        *data = buf; /* the caller's now; the slack at the end is harmless */
        *dlen = (size_t)h.len;
        return 0;
    }
    free(buf);
    return 0;
}
