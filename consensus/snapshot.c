/* snapshot.c: log compaction and InstallSnapshot (Raft 7).
 *
 * The application saves its state at an applied index and hands the core a copy; the core
 * drops the log up to there and keeps the bytes for followers too far behind to be served
 * from the log. A follower that receives a snapshot beyond its commit index either already
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

void raft__send_snapshot(raft *r, raft_id to)
{
    assert(r->role == RAFT_LEADER && r->snap_data != NULL);
    uint8_t *copy = malloc(r->snap_len ? r->snap_len : 1);
    if (copy == NULL) {
        return; /* as if lost; the snapshot state times out and retries */
    }
    memcpy(copy, r->snap_data, r->snap_len);
    raft_message *m = raft__msg_new(r, RAFT_MSG_SNAPSHOT, to);
    if (m == NULL) {
        free(copy);
        return;
    }
    m->index = r->log.snap_index;
    m->log_term = r->log.snap_term;
    m->commit = r->commit;
    m->sent_ms = r->now;
    m->snap_data = copy;
    m->snap_len = r->snap_len;
    raft__pr_become_snapshot(&r->pr[to], r->log.snap_index, r->now);
}

static void reply(raft *r, const raft_message *m, uint64_t index)
{
    raft_message *o = raft__msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
    if (o) {
        o->index = index;
        o->sent_ms = m->sent_ms;
    }
}

void raft__handle_snapshot(raft *r, const raft_message *m)
{
    assert(r->role == RAFT_FOLLOWER && r->leader == m->from);
    if (m->index <= r->commit) {
        reply(r, m, r->commit);
        return;
    }
    if (raft__term_at(&r->log, m->index) == m->log_term) {
        /* We hold that entry, so our log up to it is the leader's (log matching). */
        raft__commit_to(r, m->index);
        reply(r, m, m->index);
        return;
    }
    uint8_t *copy = malloc(m->snap_len ? m->snap_len : 1);
    if (copy == NULL) {
        return; /* no reply: the leader retries */
    }
    memcpy(copy, m->snap_data, m->snap_len);
    free(r->snap_data);
    r->snap_data = copy;
    r->snap_len = m->snap_len;
    raft__log_reset(&r->log, m->index, m->log_term);
    r->commit = m->index;
    r->apply_out = m->index;
    r->snap_unsent = true;
    r->truncate_from = 0;      /* the snapshot replaces the whole log */
    r->unsent_from = m->index + 1;
    r->stable = 0;             /* nothing of the new log is durable until the batch is */
    reply(r, m, m->index);
}
