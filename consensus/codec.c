/* codec.c: the wire encoding of raft messages. The node sends them as opaque bytes over the
 * transport (which authenticates them); the decoder still treats every byte as hostile:
 * exact lengths, bounded counts, no trailing bytes, every field range-checked.
 *
 * Layout (little endian), version 1:
 *   u8 version, u8 type, u8 reject, u8 transfer, u32 from, u32 to,
 *   u64 term, u64 index, u64 log_term, u64 hint, u64 commit, u64 sent_ms
 *   APPEND:   u32 n, then n x (u64 term, u8 type, u32 len, len bytes); indexes are implied
 *   SNAPSHOT: u32 len, len bytes */
#include "raft_int.h"

#include <stdlib.h>
#include <string.h>

#define CODEC_VERSION 1
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
        n += 4 + m->snap_len;
    }
    return n;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        *p++ = (uint8_t)(v >> (8 * i));
    }
    return p;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        *p++ = (uint8_t)(v >> (8 * i));
    }
    return p;
}

int raft_msg_encode(const raft_message *m, uint8_t *buf, size_t cap)
{
    size_t len = raft_msg_encoded_len(m);
    if (len > cap || len > INT32_MAX) {
        return -EMSGSIZE;
    }
    uint8_t *p = buf;
    *p++ = CODEC_VERSION;
    *p++ = m->type;
    *p++ = m->reject;
    *p++ = m->transfer;
    p = put_u32(p, m->from);
    p = put_u32(p, m->to);
    p = put_u64(p, m->term);
    p = put_u64(p, m->index);
    p = put_u64(p, m->log_term);
    p = put_u64(p, m->hint);
    p = put_u64(p, m->commit);
    p = put_u64(p, m->sent_ms);
    if (m->type == RAFT_MSG_APPEND) {
        p = put_u32(p, m->n_entries);
        for (uint32_t i = 0; i < m->n_entries; i++) {
            const raft_entry *e = &m->entries[i];
            p = put_u64(p, e->term);
            *p++ = e->type;
            p = put_u32(p, e->len);
            if (e->len) {
                memcpy(p, e->data, e->len);
                p += e->len;
            }
        }
    } else if (m->type == RAFT_MSG_SNAPSHOT) {
        p = put_u32(p, m->snap_len);
        if (m->snap_len) {
            memcpy(p, m->snap_data, m->snap_len);
            p += m->snap_len;
        }
    }
    assert((size_t)(p - buf) == len);
    return (int)len;
}

typedef struct {
    const uint8_t *p;
    size_t left;
} reader;

static bool get_u8(reader *rd, uint8_t *v)
{
    if (rd->left < 1) {
        return false;
    }
    *v = *rd->p++;
    rd->left--;
    return true;
}

static bool get_u32(reader *rd, uint32_t *v)
{
    if (rd->left < 4) {
        return false;
    }
    *v = 0;
    for (int i = 0; i < 4; i++) {
        *v |= (uint32_t)rd->p[i] << (8 * i);
    }
    rd->p += 4;
    rd->left -= 4;
    return true;
}

static bool get_u64(reader *rd, uint64_t *v)
{
    if (rd->left < 8) {
        return false;
    }
    *v = 0;
    for (int i = 0; i < 8; i++) {
        *v |= (uint64_t)rd->p[i] << (8 * i);
    }
    rd->p += 8;
    rd->left -= 8;
    return true;
}

static bool decode_header(reader *rd, raft_message *m)
{
    uint8_t version;
    if (!get_u8(rd, &version) || version != CODEC_VERSION || !get_u8(rd, &m->type) || !get_u8(rd, &m->reject) ||
        !get_u8(rd, &m->transfer) || !get_u32(rd, &m->from) || !get_u32(rd, &m->to) || !get_u64(rd, &m->term) ||
        !get_u64(rd, &m->index) || !get_u64(rd, &m->log_term) || !get_u64(rd, &m->hint) ||
        !get_u64(rd, &m->commit) || !get_u64(rd, &m->sent_ms)) {
        return false;
    }
    return m->type >= RAFT_MSG_APPEND && m->type <= RAFT_MSG_TYPE_MAX && m->reject <= RAFT_REJECT_STALE &&
           m->transfer <= 1 && m->from >= 1 && m->from <= RAFT_MAX_NODES && m->to >= 1 &&
           m->to <= RAFT_MAX_NODES && m->from != m->to && (m->term >= 1 || raft__msg_is_response(m->type));
}

/* First pass over the entries: validates them and sums their payload. */
static bool scan_entries(reader rd, const raft_message *m, size_t *data_len)
{
    uint64_t prev_term = m->log_term;
    *data_len = 0;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        uint64_t term;
        uint8_t type;
        uint32_t len;
        if (!get_u64(&rd, &term) || !get_u8(&rd, &type) || !get_u32(&rd, &len)) {
            return false;
        }
        if (term < prev_term || term == 0 || term > m->term || type > RAFT_ENTRY_NORMAL ||
            len > RAFT_MAX_ENTRY_LEN || len > rd.left) {
            return false;
        }
        rd.p += len;
        rd.left -= len;
        *data_len += len;
        prev_term = term;
    }
    return rd.left == 0;
}

static int decode_entries(reader *rd, raft_message *m)
{
    size_t data_len;
    if (!get_u32(rd, &m->n_entries) || m->n_entries > RAFT_MAX_MSG_ENTRIES ||
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
        get_u64(rd, &e[i].term);
        get_u8(rd, &e[i].type);
        get_u32(rd, &e[i].len);
        e[i].index = m->index + 1 + i;
        e[i].data = NULL;
        if (e[i].len) {
            memcpy(data, rd->p, e[i].len);
            e[i].data = data;
            data += e[i].len;
            rd->p += e[i].len;
            rd->left -= e[i].len;
        }
    }
    m->entries = e;
    return 0;
}

static int decode_snapshot(reader *rd, raft_message *m)
{
    if (!get_u32(rd, &m->snap_len) || m->snap_len > RAFT_MAX_SNAPSHOT_LEN || m->snap_len != rd->left ||
        m->index == 0 || m->log_term == 0 || m->log_term > m->term) {
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
    reader rd = {.p = buf, .left = len};
    int rc = -EBADMSG;
    if (!decode_header(&rd, m)) {
        goto fail;
    }
    if (m->type == RAFT_MSG_APPEND) {
        rc = decode_entries(&rd, m);
    } else if (m->type == RAFT_MSG_SNAPSHOT) {
        rc = decode_snapshot(&rd, m);
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
