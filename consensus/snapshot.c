/* snapshot.c: log compaction and InstallSnapshot in chunks (Raft 7, the paper's figure 13:
 * offset, data, done).
 *
 * The application saves its state at an applied index and hands the core a copy; the core
 * drops the log up to there and keeps the bytes for followers too far behind to be served
 * from the log. It sends them in chunks of at most max_chunk bytes, one chunk in flight per
 * follower: the next goes out when the follower says how much it holds (SNAPSHOT_RESP), a lost
 * one again on a heartbeat reply. The follower assembles the chunks in memory (one snapshot,
 * at most RAFT_MAX_SNAPSHOT_LEN bytes, from one leader in one term) and installs the snapshot
 * only with the last byte; a chunk that does not continue what it holds is refused with the
 * offset it expects. A follower that gets a snapshot beyond its commit index either already
 * holds the entry (it just commits up to it) or replaces its whole log and state machine. */
#include "raft_int.h"

#include <stdlib.h>
#include <string.h>

int raft_compact(raft *r, uint64_t index, uint64_t term, const void *data, size_t len)
{
    raft__check(r);
    if (index <= r->log.snap_index || index > r->applied) {
        return raft__error(r, -EINVAL, "compact at %lu: not in (snapshot %lu, applied %lu]", (unsigned long)index,
                           (unsigned long)r->log.snap_index, (unsigned long)r->applied);
    }
    if (raft__term_at(&r->log, index) != term) {
        return raft__error(r, -EINVAL, "compact at %lu: term %lu does not match the log's %lu", (unsigned long)index,
                           (unsigned long)term, (unsigned long)raft__term_at(&r->log, index));
    }
    if (len > RAFT_MAX_SNAPSHOT_LEN) {
        return raft__error(r, -EMSGSIZE, "snapshot of %zu bytes over the limit", len);
    }
    if (len > 0 && data == NULL) {
        return raft__error(r, -EINVAL, "snapshot data NULL");
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL) {
        return raft__error(r, -ENOMEM, "out of memory copying the snapshot");
    }
    if (len) {
        memcpy(copy, data, len);
    }
    assert(r->stable >= index); /* applied entries were persisted before they were applied */
    raft__log_compact(&r->log, index);
    free(r->snap_data);
    r->snap_data = copy;
    r->snap_len = (uint32_t)len;
    raft__check(r);
    return 0;
}

/* send_chunk sends `to` the chunk of our snapshot that starts at what it is known to hold. */
static void send_chunk(raft *r, raft_id to)
{
    raft_progress *pr = &r->pr[to];
    assert(r->role == RAFT_LEADER && r->snap_data != NULL && pr->state == RAFT_PR_SNAPSHOT);
    assert(pr->pending_snapshot == r->log.snap_index && pr->snap_offset <= r->snap_len);
    uint32_t left = r->snap_len - pr->snap_offset;
    uint32_t len = left < r->max_chunk ? left : r->max_chunk;
    pr->snap_chunk_ms = r->now; /* even if lost below: a heartbeat reply resends it */
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL) {
        return;
    }
    memcpy(copy, r->snap_data + pr->snap_offset, len);
    raft_message *m = raft__msg_new(r, RAFT_MSG_SNAPSHOT, to);
    if (m == NULL) {
        free(copy);
        return;
    }
    m->index = r->log.snap_index;
    m->log_term = r->log.snap_term;
    m->commit = r->commit;
    m->sent_ms = r->now;
    m->snap_offset = pr->snap_offset;
    m->snap_total = r->snap_len;
    m->snap_data = copy;
    m->snap_len = len;
}

/* raft__send_snapshot starts sending our snapshot to `to` from its first byte. */
void raft__send_snapshot(raft *r, raft_id to)
{
    assert(r->role == RAFT_LEADER && r->snap_data != NULL);
    raft__pr_become_snapshot(&r->pr[to], r->log.snap_index, r->now);
    send_chunk(r, to);
}

/* raft__snapshot_retransmit: the chunk in flight to `to` may be lost (a heartbeat came back but
 * no answer to the chunk): send it again, or start over if we compacted since the transfer began. */
void raft__snapshot_retransmit(raft *r, raft_id to)
{
    assert(r->role == RAFT_LEADER && r->pr[to].state == RAFT_PR_SNAPSHOT);
    if (r->pr[to].pending_snapshot != r->log.snap_index) {
        raft__send_snapshot(r, to);
    } else {
        send_chunk(r, to);
    }
}

void raft__handle_snapshot_resp(raft *r, const raft_message *m)
{
    raft_progress *pr = &r->pr[m->from];
    raft__note_reply(r, m->from, m->sent_ms);
    if (pr->state != RAFT_PR_SNAPSHOT || m->index != pr->pending_snapshot) {
        return; /* answers a transfer that is over */
    }
    if (pr->pending_snapshot != r->log.snap_index) {
        raft__send_snapshot(r, m->from); /* we compacted since: the newer snapshot, from 0 */
        return;
    }
    if (m->log_term != r->log.snap_term || m->hint > r->snap_len) {
        return; /* not about our snapshot: a confused peer; the timeout starts over */
    }
    if (m->reject) {
        if (m->sent_ms < pr->snap_chunk_ms) {
            return; /* refuses an older chunk (reordered); the newest may still fit */
        }
        pr->snap_offset = (uint32_t)m->hint; /* it lost its buffer or has a gap: from there */
    } else {
        if (m->hint <= pr->snap_offset || m->hint == r->snap_len) {
            return; /* a duplicate, or one overtaken by a later answer */
        }
        pr->snap_offset = (uint32_t)m->hint;
        pr->snap_sent_ms = r->now; /* progress: the transfer is alive */
    }
    send_chunk(r, m->from);
}

static void reply(raft *r, const raft_message *m, uint64_t index)
{
    raft_message *o = raft__msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
    if (o) {
        o->index = index;
        o->sent_ms = m->sent_ms;
    }
}

static void reply_chunk(raft *r, const raft_message *m, uint8_t reject, uint32_t have)
{
    raft_message *o = raft__msg_new(r, RAFT_MSG_SNAPSHOT_RESP, m->from);
    if (o) {
        o->reject = reject;
        o->index = m->index;
        o->log_term = m->log_term;
        o->hint = have;
        o->sent_ms = m->sent_ms;
    }
}

void raft__snap_rx_drop(raft *r)
{
    free(r->rx_data);
    r->rx_data = NULL;
    r->rx_total = r->rx_have = 0;
    r->rx_index = r->rx_term = r->rx_in_term = 0;
    r->rx_from = 0;
}

/* Whether m continues the snapshot being assembled: same snapshot, same leader, same term. */
static bool same_transfer(const raft *r, const raft_message *m)
{
    return r->rx_data != NULL && r->rx_index == m->index && r->rx_term == m->log_term &&
           r->rx_total == m->snap_total && r->rx_from == m->from && r->rx_in_term == r->term;
}

typedef enum { CHUNK_TAKEN, CHUNK_REFUSED, CHUNK_NOMEM } chunk_result;

/* assemble adds m's chunk to the snapshot being received. A chunk at offset 0 of another
 * snapshot starts over; any other chunk of another snapshot, or one beyond what we hold, is
 * refused (what we held of another snapshot is dropped: its leader moved on). Bytes we already
 * hold (a duplicate or a resend) are taken and change nothing. */
static chunk_result assemble(raft *r, const raft_message *m)
{
    if (!same_transfer(r, m)) {
        raft__snap_rx_drop(r);
        if (m->snap_offset != 0) {
            return CHUNK_REFUSED;
        }
        assert(m->snap_total > 0 && m->snap_total <= RAFT_MAX_SNAPSHOT_LEN); /* validate_msg */
        if ((r->rx_data = malloc(m->snap_total)) == NULL) {
            return CHUNK_NOMEM;
        }
        r->rx_total = m->snap_total;
        r->rx_index = m->index;
        r->rx_term = m->log_term;
        r->rx_in_term = r->term;
        r->rx_from = m->from;
    }
    if (m->snap_offset > r->rx_have) {
        return CHUNK_REFUSED; /* a gap: a chunk before it was lost */
    }
    uint32_t end = m->snap_offset + m->snap_len; /* <= rx_total: validate_msg */
    if (end > r->rx_have) {
        memcpy(r->rx_data + r->rx_have, m->snap_data + (r->rx_have - m->snap_offset), end - r->rx_have);
        r->rx_have = end;
    }
    return CHUNK_TAKEN;
}

/* install replaces our log and state machine with the snapshot in data (taken: ours now). */
static void install(raft *r, const raft_message *m, uint8_t *data, uint32_t len)
{
    free(r->snap_data);
    r->snap_data = data;
    r->snap_len = len;
    raft__log_reset(&r->log, m->index, m->log_term);
    r->commit = m->index;
    r->apply_out = m->index;
    r->snap_unsent = true;
    r->truncate_from = 0;      /* the snapshot replaces the whole log */
    r->unsent_from = m->index + 1;
    r->stable = 0;             /* nothing of the new log is durable until the batch is */
    reply(r, m, m->index);
}

void raft__handle_snapshot(raft *r, const raft_message *m)
{
    assert(r->role == RAFT_FOLLOWER && r->leader == m->from);
    if (m->index <= r->commit) {
        raft__snap_rx_drop(r);
        reply(r, m, r->commit);
        return;
    }
    if (raft__term_at(&r->log, m->index) == m->log_term) {
        /* We hold that entry, so our log up to it is the leader's (log matching). */
        raft__snap_rx_drop(r);
        raft__commit_to(r, m->index);
        reply(r, m, m->index);
        return;
    }
    if (m->snap_offset == 0 && m->snap_len == m->snap_total) {
        /* The whole snapshot in one chunk: no buffer to assemble. */
        uint8_t *copy = malloc(m->snap_len ? m->snap_len : 1);
        if (copy == NULL) {
            return; /* no reply: the leader resends */
        }
        if (m->snap_len) {
            memcpy(copy, m->snap_data, m->snap_len);
        }
        raft__snap_rx_drop(r);
        install(r, m, copy, m->snap_len);
        return;
    }
    switch (assemble(r, m)) {
    case CHUNK_NOMEM:
        return; /* no reply: the leader resends */
    case CHUNK_REFUSED:
        reply_chunk(r, m, RAFT_REJECT_YES, same_transfer(r, m) ? r->rx_have : 0);
        return;
    case CHUNK_TAKEN:
        break;
    }
    if (r->rx_have < r->rx_total) {
        reply_chunk(r, m, RAFT_REJECT_NONE, r->rx_have);
        return;
    }
    uint8_t *data = r->rx_data;
    uint32_t len = r->rx_total;
    r->rx_data = NULL;
    raft__snap_rx_drop(r);
    install(r, m, data, len);
}
