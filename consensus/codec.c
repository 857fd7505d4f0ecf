/* codec.c: the wire encoding of raft messages. The node sends them as opaque bytes over the
 * transport (which authenticates them); the decoder still treats every byte as hostile:
 * exact lengths, bounded counts, no trailing bytes, every field range-checked.
 *
 * Layout (little endian), version 2 (RAFT_CODEC_VERSION):
 *   u8 version, u8 type, u8 reject, u8 transfer, u32 from, u32 to,
 *   u64 term, u64 index, u64 log_term, u64 hint, u64 commit, u64 sent_ms
 *   APPEND:   u32 n, then n x (u64 term, u8 type, u32 len, len bytes); indexes are implied
 *   SNAPSHOT: u32 total, u32 offset, u32 len, len bytes (one chunk of the snapshot)
 * Version 1 sent a SNAPSHOT as u32 len, len bytes (the whole snapshot) and had no
 * SNAPSHOT_RESP. A message of another version is refused as such (-EPROTONOSUPPORT), never
 * read with the wrong layout: nodes of different versions do not talk Raft at all. */
#include "raft_int.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define HEADER_LEN (4 + 4 + 4 + 6 * 8)
#define ENTRY_HEADER_LEN (8 + 1 + 4)

size_t raft_msg_encoded_len(const raft_message *m)
{
    size_t n = HEADER_LEN;
    if (m->type == RAFT_MSG_APPEND) {
        n += 4;
        for (uint32_t i = 0; i < m->n_entries; i++) {
            n += ENTRY_HEADER_LEN + m->entries[i].len;
        }
    } else if (m->type == RAFT_MSG_SNAPSHOT) {
        n += 4 + 4 + 4 + m->snap_len;
    }
    return n;
}

int raft_msg_encode(const raft_message *m, uint8_t *buf, size_t cap)
{
    size_t len = raft_msg_encoded_len(m);
    if (len > cap || len > INT32_MAX) {
        return -EMSGSIZE;
    }
    uint8_t *p = buf;
    *p++ = RAFT_CODEC_VERSION;
    *p++ = m->type;
    *p++ = m->reject;
    *p++ = m->transfer;
    p = ut_put_le32(p, m->from);
    p = ut_put_le32(p, m->to);
    p = ut_put_le64(p, m->term);
    p = ut_put_le64(p, m->index);
    p = ut_put_le64(p, m->log_term);
    p = ut_put_le64(p, m->hint);
    p = ut_put_le64(p, m->commit);
    p = ut_put_le64(p, m->sent_ms);
    if (m->type == RAFT_MSG_APPEND) {
        p = ut_put_le32(p, m->n_entries);
        for (uint32_t i = 0; i < m->n_entries; i++) {
            const raft_entry *e = &m->entries[i];
            p = ut_put_le64(p, e->term);
            *p++ = e->type;
            p = ut_put_le32(p, e->len);
            if (e->len) {
                memcpy(p, e->data, e->len);
                p += e->len;
            }
        }
    } else if (m->type == RAFT_MSG_SNAPSHOT) {
        p = ut_put_le32(p, m->snap_total);
        p = ut_put_le32(p, m->snap_offset);
        p = ut_put_le32(p, m->snap_len);
        if (m->snap_len) {
            memcpy(p, m->snap_data, m->snap_len);
            p += m->snap_len;
        }
    }
    assert((size_t)(p - buf) == len);
    return (int)len;
}

/* decode_header: 0, -EBADMSG, or -EPROTONOSUPPORT for another version (whatever follows). */
static int decode_header(ut_rd *rd, raft_message *m)
{
    uint8_t version = ut_rd_u8(rd);
    if (!rd->bad && version != RAFT_CODEC_VERSION) {
        return version == 0 ? -EBADMSG : -EPROTONOSUPPORT;
    }
    m->type = ut_rd_u8(rd);
    m->reject = ut_rd_u8(rd);
    m->transfer = ut_rd_u8(rd);
    m->from = ut_rd_u32(rd);
    m->to = ut_rd_u32(rd);
    m->term = ut_rd_u64(rd);
    m->index = ut_rd_u64(rd);
    m->log_term = ut_rd_u64(rd);
    m->hint = ut_rd_u64(rd);
    m->commit = ut_rd_u64(rd);
    m->sent_ms = ut_rd_u64(rd);
    if (rd->bad) {
        return -EBADMSG;
    }
    bool ok = m->type >= RAFT_MSG_APPEND && m->type <= RAFT_MSG_TYPE_MAX && m->reject <= RAFT_REJECT_STALE &&
              m->transfer <= 1 && m->from >= 1 && m->from <= RAFT_MAX_NODES && m->to >= 1 &&
              m->to <= RAFT_MAX_NODES && m->from != m->to && (m->term >= 1 || raft__msg_is_response(m->type));
    return ok ? 0 : -EBADMSG;
}

/* First pass over the entries: validates them and sums their payload. */
static bool scan_entries(ut_rd rd, const raft_message *m, size_t *data_len)
{
    uint64_t prev_term = m->log_term;
    *data_len = 0;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        uint64_t term = ut_rd_u64(&rd);
        uint8_t type = ut_rd_u8(&rd);
        uint32_t len = ut_rd_u32(&rd);
        if (rd.bad) {
            return false;
        }
        if (term < prev_term || term == 0 || term > m->term || type > RAFT_ENTRY_NORMAL ||
            len > RAFT_MAX_ENTRY_LEN || len > rd.left) {
            return false;
        }
        ut_rd_bytes(&rd, len);
        *data_len += len;
        prev_term = term;
    }
    return rd.left == 0;
}

static int decode_entries(ut_rd *rd, raft_message *m)
{
    size_t data_len;
    m->n_entries = ut_rd_u32(rd);
    if (rd->bad || m->n_entries > RAFT_MAX_MSG_ENTRIES ||
        (m->index == 0) != (m->log_term == 0) || m->log_term > m->term ||
        m->index > UINT64_MAX - RAFT_MAX_MSG_ENTRIES || !scan_entries(*rd, m, &data_len)) {
        return -EBADMSG;
    }
    if (m->n_entries == 0) {
        return 0;
    }
    raft_entry *e = malloc(m->n_entries * sizeof *e + data_len);
    if (e == NULL) {
        return -ENOMEM;
    }
    uint8_t *data = (uint8_t *)(e + m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        e[i].term = ut_rd_u64(rd);
        e[i].type = ut_rd_u8(rd);
        e[i].len = ut_rd_u32(rd);
        e[i].index = m->index + 1 + i;
        e[i].data = NULL;
        if (e[i].len) {
            memcpy(data, ut_rd_bytes(rd, e[i].len), e[i].len);
            e[i].data = data;
            data += e[i].len;
        }
    }
    m->entries = e;
    return 0;
}

static int decode_snapshot(ut_rd *rd, raft_message *m)
{
    m->snap_total = ut_rd_u32(rd);
    m->snap_offset = ut_rd_u32(rd);
    m->snap_len = ut_rd_u32(rd);
    if (rd->bad || m->snap_total > RAFT_MAX_SNAPSHOT_LEN || m->snap_offset > m->snap_total ||
        m->snap_len > m->snap_total - m->snap_offset || m->snap_len != rd->left ||
        (m->snap_len == 0 && m->snap_total != 0) || m->index == 0 || m->log_term == 0 || m->log_term > m->term) {
        return -EBADMSG;
    }
    m->snap_data = malloc(m->snap_len ? m->snap_len : 1);
    if (m->snap_data == NULL) {
        return -ENOMEM;
    }
    if (m->snap_len) {
        memcpy(m->snap_data, rd->p, m->snap_len);
    }
    rd->left = 0;
    return 0;
}

int raft_msg_decode(const uint8_t *buf, size_t len, raft_message *m)
{
    memset(m, 0, sizeof *m);
    if (buf == NULL && len > 0) {
        return -EBADMSG;
    }
    ut_rd rd;
    ut_rd_init(&rd, buf, len);
    int rc = decode_header(&rd, m);
    if (rc != 0) {
        goto fail;
    }
    if (m->type == RAFT_MSG_APPEND) {
        rc = decode_entries(&rd, m);
    } else if (m->type == RAFT_MSG_SNAPSHOT) {
        rc = decode_snapshot(&rd, m);
    } else if (m->type == RAFT_MSG_SNAPSHOT_RESP) {
        /* index/log_term name a snapshot; hint is a byte offset into it */
        bool ok = rd.left == 0 && m->index >= 1 && m->log_term >= 1 && m->hint <= RAFT_MAX_SNAPSHOT_LEN;
        rc = ok ? 0 : -EBADMSG;
    } else {
        rc = rd.left == 0 ? 0 : -EBADMSG;
    }
    if (rc != 0) {
        goto fail;
    }
    assert(rd.left == 0);
    return 0;
fail:
    raft_msg_release(m);
    return rc;
}

void raft_msg_release(raft_message *m)
{
    free(m->entries);
    free(m->snap_data);
    m->entries = NULL;
    m->snap_data = NULL;
    m->n_entries = 0;
    m->snap_len = 0;
    m->snap_offset = m->snap_total = 0;
}

int raft_msg_copy(raft_message *dst, const raft_message *src)
{
    *dst = *src;
    dst->entries = NULL;
    dst->snap_data = NULL;
    if (src->n_entries > 0 && (dst->entries = raft__entries_dup(src->entries, src->n_entries)) == NULL) {
        return -ENOMEM;
    }
    if (src->snap_data != NULL) {
        dst->snap_data = malloc(src->snap_len ? src->snap_len : 1);
        if (dst->snap_data == NULL) {
            free(dst->entries);
            dst->entries = NULL;
            return -ENOMEM;
        }
        memcpy(dst->snap_data, src->snap_data, src->snap_len);
    }
    return 0;
}
