/* raft_driver.c: drives the pure Raft core on the loop: a timer at the core's next deadline,
 * messages in from the transport, and each ready batch persisted (fsync), sent, applied.
 *
 * Storage errors: a real disk error (EIO, ENOSPC, EROFS, ...) stops this node's part in consensus
 * for good (`failed`), since the disk no longer holds what the node promised. A transient one
 * (EMFILE, ENFILE, ENOMEM, EINTR, EAGAIN: out of descriptors or memory for a moment, as under a
 * connection flood) keeps the batch and retries it with backoff: the store is reopened (its
 * recovery drops a half-written batch) and the batch persisted again; nothing of it is sent before
 * that, so persist-before-send holds throughout. */
#include "cluster.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "commit_lat.h"
#include "raft.h"
#include "storage.h"

#define TRANSFER_WAIT_MS 800
#define RETRY_MIN_MS 20    /* first retry of a batch after a transient storage error */
#define RETRY_MAX_MS 5000  /* backoff doubles up to this */
/* What a Raft message's bytes may not use of cluster.max_message_bytes: the transport's envelope
 * (at most 2+1+255+1+64+1+64+5*8+4+32 = 464 bytes with the longest cluster name and node ids) and
 * the Raft header (60, and 12 more for a snapshot chunk), with room to spare. */
#define RAFT_MSG_OVERHEAD 1024
#define APPEND_BYTES_DEFAULT (512 * 1024) /* the core's default entry bytes per APPEND */

struct md_consensus {
    uv_loop_t *loop;
    const md_config *cfg;
    md_consensus_send_fn send;
    void *send_ctx;
    raft *r;
    raft_storage *st;
    uv_timer_t timer;
    uv_timer_t close_timer;
    uv_timer_t retry_timer;
    int open_handles;
    bool stopping;           /* md_consensus_close was called (a transfer may still run) */
    bool closing;            /* handles are closing: no more work */
    uint64_t transfer_deadline_ms;
    char *failed;            /* set once storage failed: we stop taking part */
    raft_update pending;     /* the batch that met a transient storage error, until persisted */
    bool has_pending;
    unsigned retries;        /* attempts at the pending batch so far */
    uint64_t retried_total;  /* transient storage errors since start */
    size_t n_nodes;
    const char *ids[MD_CLUSTER_MAX_NODES + 1]; /* raft id -> node id (index 0 unused); borrowed */
    raft_id self;
    raft_role role;
    uint64_t term;
    raft_id leader;
    uint64_t commit;
    uint64_t leader_changes;
    void (*on_change)(void *);
    void *on_change_ctx;
    void (*late_fn)(void *);  /* before a late tick: hear what arrived meanwhile */
    void *late_ctx;
    uint64_t due_ms;          /* when the armed tick is due */
    uint64_t late_ticks;      /* ticks that came late and heard the transport first */
    md_consensus_apply_fn apply;
    void *apply_ctx;
    md_consensus_take_fn take;
    md_consensus_restore_fn restore;
    void *snap_ctx;
    uint8_t *boot_snap;      /* the snapshot found on disk, until the application restores it */
    size_t boot_snap_len;
    uint64_t snap_index;     /* index of the newest snapshot saved or installed */
    md_commit_lat lat;       /* our own proposals' commit latencies, and entries committed */
    uint64_t too_large_logged_ms; /* last "message too large" error (rate limit) */
    uint64_t version_logged_ms; /* last message of another codec version (rate limit) */
    uint64_t snap_logged_index[MD_CLUSTER_MAX_NODES + 1]; /* snapshot_send_start: by raft id */
    uint64_t snap_logged_ms[MD_CLUSTER_MAX_NODES + 1];
    uint64_t snap_deferred_logged_ms; /* last snapshot put off by a transient error (rate limit) */
    bool recovering;         /* the data dir's "recovering" marker exists (see marker_write) */
    void (*done)(void *);
    void *done_arg;
};

static uint64_t now_ms(void) { return (uint64_t)(md_mono_us() / 1000); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Raft ids are ranks of the node ids in sorted order: every node derives the same numbering
 * from the same membership, whatever order its config lists the peers in. */
static void number_nodes(md_consensus *c)
{
    const md_cluster_config *cc = &c->cfg->cluster;
    const char *all[MD_CLUSTER_MAX_NODES + 1];
    size_t n = 0;
    all[n++] = c->cfg->node_id;
    for (size_t i = 0; i < cc->n_peers; i++)
        all[n++] = cc->peers[i].id;
    qsort(all, n, sizeof all[0], cmp_str);
    c->n_nodes = n;
    for (size_t i = 0; i < n; i++) {
        c->ids[i + 1] = all[i];
        if (strcmp(all[i], c->cfg->node_id) == 0)
            c->self = (raft_id)(i + 1);
    }
}

static raft_id id_of(const md_consensus *c, const char *node_id)
{
    for (size_t i = 1; i <= c->n_nodes; i++)
        if (strcmp(c->ids[i], node_id) == 0)
            return (raft_id)i;
    return 0;
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return 0; /* the leaf is created by the storage itself */
}

static void changed(md_consensus *c)
{
    if (c->on_change)
        c->on_change(c->on_change_ctx);
}

static void fail_storage(md_consensus *c, const char *what, int rc)
{
    char msg[512];
    const char *detail = c->st && raft_storage_errmsg(c->st) && raft_storage_errmsg(c->st)[0] ? raft_storage_errmsg(c->st)
                                                                                                : strerror(-rc);
    snprintf(msg, sizeof msg, "%s: %s", what, detail);
    c->failed = strdup(msg);
    md_log(MD_LOG_ERROR, "consensus_stopped",
           MD_S("reason", "storage failed: this node no longer votes or acknowledges entries"), MD_S("error", msg),
           MD_S("data_dir", c->cfg->data_dir));
    uv_timer_stop(&c->timer);
    uv_timer_stop(&c->retry_timer);
    changed(c);
}

/* transient: an error that says nothing about the disk, only that the process was short of
 * descriptors or memory, or was interrupted: worth retrying. */
static bool transient(int rc)
{
    return rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM || rc == -EINTR || rc == -EAGAIN;
}

/* reopen_store replaces a store that a transient error failed (a failed store refuses every
 * call) with a freshly opened one; recovery at open drops a half-written batch. */
static int reopen_store(md_consensus *c)
{
    if (c->st && raft_storage_failed(c->st) == 0)
        return 0;
    char err[256] = "";
    raft_storage_close(c->st); /* first: the directory's lock is per open file */
    c->st = NULL;
    int rc = raft_storage_open(c->cfg->data_dir, c->cfg->cluster.name, c->cfg->node_id, NULL, &c->st, err, sizeof err);
    if (rc < 0) {
        c->st = NULL;
        md_log(MD_LOG_WARN, "storage_reopen_failed", MD_S("error", err[0] ? err : strerror(-rc)));
    }
    return rc;
}

static void note_role(md_consensus *c)
{
    raft_role role = raft_get_role(c->r);
    uint64_t term = raft_get_term(c->r), commit = raft_get_commit(c->r);
    raft_id leader = raft_get_leader(c->r);
    if (leader != c->leader && leader != 0) {
        c->leader_changes++;
        md_log(MD_LOG_INFO, "leader", MD_S("leader", c->ids[leader]), MD_I("term", term),
               MD_S("self_role", raft_role_name(role)));
    }
    if (role != c->role && c->role == RAFT_LEADER)
        md_commit_lat_forget(&c->lat);
    if (role != c->role)
        md_log(MD_LOG_INFO, "raft_role", MD_S("from", raft_role_name(c->role)), MD_S("to", raft_role_name(role)),
               MD_I("term", term));
    if (role != c->role || term != c->term || leader != c->leader || commit != c->commit)
        changed(c);
    c->role = role;
    c->term = term;
    c->leader = leader;
    c->commit = commit;
}

static void send_msg(md_consensus *c, const raft_message *m)
{
    if (m->to == 0 || m->to > c->n_nodes || m->to == c->self)
        return;
    size_t len = raft_msg_encoded_len(m);
    uint64_t now = now_ms();
    if (m->type == RAFT_MSG_SNAPSHOT && m->snap_offset == 0 &&
        (c->snap_logged_index[m->to] != m->index || now - c->snap_logged_ms[m->to] >= 60000)) {
        /* Once per snapshot and peer (a peer that stays away is sent it again every election
         * timeout: once a minute is enough to say so). */
        c->snap_logged_index[m->to] = m->index;
        c->snap_logged_ms[m->to] = now;
        md_log(MD_LOG_INFO, "snapshot_send_start", MD_S("peer", c->ids[m->to]), MD_I("index", (int64_t)m->index),
               MD_I("bytes", m->snap_total), MD_I("chunk_bytes", m->snap_len));
    }
    uint8_t stack[2048];
    uint8_t *buf = len <= sizeof stack ? stack : malloc(len);
    if (!buf)
        return; /* dropped: Raft resends */
    int rc = raft_msg_encode(m, buf, len) >= 0 ? c->send(c->send_ctx, c->ids[m->to], MD_MSG_RAFT, buf, len) : 0;
    if (buf != stack)
        free(buf);
    /* Too large for the transport: Raft would resend it forever in vain. Snapshot chunks and
     * APPENDs are sized to fit (payload_limit); one entry larger than the limit is what is left.
     * Say so, at most once a minute. */
    if (rc == -EMSGSIZE && (c->too_large_logged_ms == 0 || now - c->too_large_logged_ms >= 60000)) {
        c->too_large_logged_ms = now;
        md_log(MD_LOG_ERROR, "raft_message_too_large", MD_S("peer", c->ids[m->to]),
               MD_S("type", raft_msg_type_name(m->type)), MD_I("bytes", (int64_t)len),
               MD_I("max_message_bytes", (int64_t)c->cfg->cluster.max_message_bytes),
               MD_S("fix", "raise cluster.max_message_bytes on every node"));
    }
}

/* Every MD_CONSENSUS_SNAPSHOT_EVERY applied entries: save the application's state and let the
 * core drop the log before it (storage deletes the covered segments). */
static void maybe_snapshot(md_consensus *c)
{
    uint64_t applied = raft_get_applied(c->r);
    if (!c->take || c->failed || applied < c->snap_index + MD_CONSENSUS_SNAPSHOT_EVERY)
        return;
    uint64_t term = raft_term_at(c->r, applied);
    uint8_t *data = NULL;
    size_t len = 0;
    if (term == 0 || reopen_store(c) < 0 || c->take(c->snap_ctx, &data, &len) < 0)
        return;
    int rc = raft_storage_save_snapshot(c->st, applied, term, data, len);
    if (rc < 0) {
        free(data);
        if (!transient(rc)) {
            fail_storage(c, "saving a snapshot", rc);
        } else if (now_ms() - c->snap_deferred_logged_ms >= 60000) {
            c->snap_deferred_logged_ms = now_ms(); /* tried again after the next batch */
            md_log(MD_LOG_WARN, "snapshot_deferred", MD_S("error", strerror(-rc)), MD_I("index", applied));
        }
        return;
    }
    rc = raft_compact(c->r, applied, term, data, len);
    free(data);
    c->snap_index = applied;
    md_log(rc == 0 ? MD_LOG_INFO : MD_LOG_WARN, "snapshot_saved", MD_I("index", applied), MD_I("term", term),
           MD_I("bytes", len), MD_S("compacted", rc == 0 ? "yes" : raft_errmsg(c->r)));
}

/* persist writes what batch u says to persist (steps 1-4 of raft.h's loop). On a retry, a part
 * may already be on disk: entries the store already holds are not appended twice. Returns 0 or
 * the storage error, with *what naming the step. */
static int persist(md_consensus *c, const raft_update *u, const char **what)
{
    int rc = 0;
    *what = "reopening the store";
    if ((rc = reopen_store(c)) < 0)
        return rc;
    *what = "saving a snapshot";
    if (u->snapshot.present &&
        (rc = raft_storage_save_snapshot(c->st, u->snapshot.index, u->snapshot.term, u->snapshot.data,
                                         u->snapshot.len)) < 0)
        return rc;
    *what = "truncating the log";
    if (u->truncate_from && (rc = raft_storage_truncate_from(c->st, u->truncate_from)) < 0)
        return rc;
    *what = "appending to the log";
    size_t skip = 0;
    while (c->retries > 0 && skip < u->n_entries && u->entries[skip].index <= raft_storage_last_index(c->st))
        skip++; /* written before the error: recovery kept the whole batch */
    if (u->n_entries > skip && (rc = raft_storage_append(c->st, u->entries + skip, u->n_entries - skip)) < 0)
        return rc;
    *what = "saving term, vote and commit index";
    if (u->has_hard_state && (rc = raft_storage_save_hard_state(c->st, &u->hard_state)) < 0)
        return rc;
    return 0;
}

/* send_and_apply: steps 6-8 of raft.h's loop, once u is durable. */
static void send_and_apply(md_consensus *c, raft_update *u)
{
    for (size_t i = 0; i < u->n_msgs; i++)
        send_msg(c, &u->msgs[i]);
    if (u->snapshot.present) {
        c->snap_index = u->snapshot.index;
        md_log(MD_LOG_INFO, "snapshot_installed", MD_I("index", u->snapshot.index), MD_I("term", u->snapshot.term),
               MD_I("bytes", u->snapshot.len), MD_S("from", c->leader ? c->ids[c->leader] : "-"));
        if (c->restore && c->restore(c->snap_ctx, u->snapshot.data, u->snapshot.len) < 0)
            md_log(MD_LOG_ERROR, "snapshot_restore_failed", MD_I("index", u->snapshot.index));
    }
    int64_t now_us = md_mono_us();
    for (size_t i = 0; i < u->n_committed; i++) {
        const raft_entry *e = &u->committed[i];
        md_commit_lat_committed(&c->lat, e->index, now_us);
        md_log(MD_LOG_DEBUG, "raft_apply", MD_I("index", e->index), MD_I("term", e->term), MD_I("type", e->type),
               MD_I("bytes", e->len));
        if (e->type == RAFT_ENTRY_NORMAL && c->apply)
            c->apply(c->apply_ctx, e->index, e->data, e->len);
    }
    raft_advance(c->r, u);
}

static void on_retry(uv_timer_t *t);

/* storage_error: a transient error keeps the batch for a retry with backoff (the core may step
 * and tick meanwhile; it hands out no other batch); any other error stops us for good. */
static void storage_error(md_consensus *c, const raft_update *u, const char *what, int rc)
{
    if (!transient(rc)) {
        c->has_pending = false;
        fail_storage(c, what, rc);
        return;
    }
    c->pending = *u;
    c->has_pending = true;
    c->retried_total++;
    uint64_t delay = (uint64_t)RETRY_MIN_MS << (c->retries < 8 ? c->retries : 8);
    delay = delay < RETRY_MAX_MS ? delay : RETRY_MAX_MS;
    c->retries++;
    md_log(MD_LOG_WARN, "storage_retry", MD_S("step", what), MD_S("error", strerror(-rc)),
           MD_I("attempt", c->retries), MD_I("retry_in_ms", delay),
           MD_S("effect", "this node neither acknowledges nor votes until the batch is on disk"));
    uv_timer_start(&c->retry_timer, on_retry, delay, 0);
}

/* finish_batch persists, sends and applies u; false when it could not be persisted. */
static bool finish_batch(md_consensus *c, raft_update *u)
{
    const char *what;
    int rc = persist(c, u, &what);
    if (rc < 0) {
        storage_error(c, u, what, rc);
        return false;
    }
    if (c->retries > 0)
        md_log(MD_LOG_INFO, "storage_recovered", MD_I("attempts", c->retries + 1));
    c->has_pending = false;
    c->retries = 0;
    send_and_apply(c, u);
    return true;
}

/* Persist, then send, then apply: the order raft.h requires. */
static void process_ready(md_consensus *c)
{
    /* Bounded: each batch is advanced before the next; the core hands out finitely many. */
    while (!c->failed && !c->has_pending && raft_has_ready(c->r)) {
        raft_update u;
        if (raft_ready(c->r, &u) < 0)
            break;
        if (!finish_batch(c, &u))
            return;
    }
    if (!c->has_pending)
        maybe_snapshot(c);
    if (c->recovering && !raft_recovering(c->r)) {
        char path[4096];
        snprintf(path, sizeof path, "%s/recovering", c->cfg->data_dir);
        unlink(path); /* if this is lost, the next start recovers once more: safe */
        c->recovering = false;
        md_log(MD_LOG_INFO, "consensus_caught_up", MD_I("last_index", raft_last_index(c->r)),
               MD_I("commit", raft_get_commit(c->r)), MD_I("term", raft_get_term(c->r)));
    }
    note_role(c);
}

static void on_timer(uv_timer_t *t);

static void rearm(md_consensus *c)
{
    if (c->failed || c->closing)
        return;
    uint64_t next = raft_next_timeout(c->r), now = now_ms();
    uv_update_time(c->loop);
    c->due_ms = next > now ? next : now;
    uv_timer_start(&c->timer, on_timer, next > now ? next - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    md_consensus *c = t->data;
    if (c->failed || c->closing)
        return;
    /* A tick runs in the loop's timer phase, before the turn reads its sockets. After a long turn
     * (100,000 services' work, a starved process) the heartbeats and acknowledgements that arrived
     * meanwhile still wait there, and a tick now would take the silence for a dead leader
     * (campaign) or a lost quorum (step down). Hearing them first only moves messages earlier
     * than the next turn would have: liveness, never safety (a lease still counts from the send
     * time of what a majority acknowledged). */
    uint64_t now = now_ms();
    if (c->late_fn && now > c->due_ms + (uint64_t)c->cfg->cluster.heartbeat_ms / 2) {
        c->late_ticks++;
        c->late_fn(c->late_ctx);
        if (c->failed || c->closing)
            return;
        now = now_ms();
    }
    raft_tick(c->r, now);
    process_ready(c);
    rearm(c);
}

static void on_retry(uv_timer_t *t)
{
    md_consensus *c = t->data;
    if (c->failed || c->closing || !c->has_pending)
        return;
    raft_update u = c->pending;
    if (finish_batch(c, &u))
        process_ready(c);
    rearm(c);
}

void md_consensus_receive(md_consensus *c, const char *from_id, const uint8_t *body, size_t len)
{
    if (c->failed || c->closing)
        return;
    raft_message m;
    int rc = raft_msg_decode(body, len, &m);
    if (rc == -EPROTONOSUPPORT) {
        uint64_t now = now_ms();
        if (c->version_logged_ms == 0 || now - c->version_logged_ms >= 60000) {
            c->version_logged_ms = now;
            md_log(MD_LOG_ERROR, "raft_message_version", MD_S("peer", from_id), MD_I("version", len ? body[0] : 0),
                   MD_I("ours", RAFT_CODEC_VERSION),
                   MD_S("effect", "messages of that node are ignored: it runs another medic release"),
                   MD_S("fix", "run the same medic release on every node"));
        }
        return;
    }
    if (rc < 0) {
        md_log(MD_LOG_WARN, "raft_message_malformed", MD_S("peer", from_id), MD_I("bytes", len));
        return;
    }
    /* The envelope authenticated the sender; a Raft message must also claim to be from it. */
    raft_id from = id_of(c, from_id);
    if (from == 0 || m.from != from || m.to != c->self) {
        md_log(MD_LOG_WARN, "raft_message_misaddressed", MD_S("peer", from_id), MD_I("from", m.from),
               MD_I("to", m.to));
        raft_msg_release(&m);
        return;
    }
    rc = raft_step(c->r, &m, now_ms());
    if (rc < 0 && rc != -EINVAL)
        md_log(MD_LOG_WARN, "raft_message_rejected", MD_S("peer", from_id),
               MD_S("type", raft_msg_type_name(m.type)), MD_S("error", raft_errmsg(c->r)));
    raft_msg_release(&m);
    process_ready(c);
    rearm(c);
}

void md_consensus_peer_lost(md_consensus *c, const char *node_id)
{
    if (c->failed || c->closing)
        return;
    raft_id who = id_of(c, node_id);
    if (who == 0 || who == c->self)
        return;
    bool was_leader = raft_get_leader(c->r) == who && raft_get_role(c->r) == RAFT_FOLLOWER;
    raft_peer_lost(c->r, who, now_ms());
    if (was_leader)
        md_log(MD_LOG_INFO, "leader_connection_closed", MD_S("leader", node_id),
               MD_I("election_in_ms", (int64_t)(raft_next_timeout(c->r) - now_ms())));
    process_ready(c);
    rearm(c);
}

/* ---- lifecycle ---- */

/* The "recovering" marker: a node that starts without hard state (new, or its disk was lost)
 * votes only once it is safe (raft_recovering). The first hard state it saves would make the
 * next start look normal, so the marker is durable before that and stays until the core has
 * caught up. Returns 0 or a negative errno. */
static int marker_write(md_consensus *c, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    int dfd = rc == 0 ? open(c->cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (rc == 0 && dfd < 0)
        rc = -errno;
    if (dfd >= 0) {
        if (fsync(dfd) < 0)
            rc = -errno;
        close(dfd);
    }
    return rc;
}

/* A hard state file that is missing beside a log, or damaged, is a lost disk found at start: the
 * node goes on as recovering (storage.h), and says so at error level because a disk lost
 * something it had written. A node that was recovering already may lack one (it crashed between
 * its first entries and its first hard state): nothing new is lost then. */
static void log_hard_state_lost(md_consensus *c, bool had_marker)
{
    raft_storage_hs_found f = raft_storage_hard_state_found(c->st);
    if (f == RAFT_STORAGE_HS_OK || f == RAFT_STORAGE_HS_NONE || (f == RAFT_STORAGE_HS_MISSING && had_marker))
        return;
    md_log(MD_LOG_ERROR, "hardstate_lost", MD_S("data_dir", c->cfg->data_dir), MD_S("hardstate", raft_storage_hs_found_name(f)),
           MD_S("detail", f == RAFT_STORAGE_HS_DAMAGED ? raft_storage_recovery_note(c->st) : "no hardstate file beside the log"),
           MD_S("action", c->n_nodes > 1
                              ? "starting as a node that lost its disk: it never campaigns, votes only once more than "
                                "n - quorum peers asked it, and catches up from the leader; nothing to do unless another "
                                "node reports this too (docs/consensus.md, Damaged or missing files)"
                              : "a cluster of one has no peer to learn from: it goes on with what its log holds (the "
                                "term from the log); check the disk (docs/consensus.md, Damaged or missing files)"));
}

/* payload_limit: the most bytes of payload a Raft message may carry and still fit in
 * cluster.max_message_bytes (>= 4096 by the config, so this is >= 3072). */
static uint32_t payload_limit(const md_config *cfg)
{
    int64_t max = cfg->cluster.max_message_bytes > 0 ? cfg->cluster.max_message_bytes : MD_DEFAULT_MAX_MESSAGE_BYTES;
    int64_t room = max - RAFT_MSG_OVERHEAD;
    return room < 1024 ? 1024 : room > (int64_t)RAFT_MAX_SNAPSHOT_LEN ? RAFT_MAX_SNAPSHOT_LEN : (uint32_t)room;
}

static int open_core(md_consensus *c, char *err, size_t errlen)
{
    const md_cluster_config *cc = &c->cfg->cluster;
    raft_storage_state st;
    int rc = raft_storage_load(c->st, &st);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot read the consensus state: %s", c->cfg->data_dir, strerror(-rc));
        return rc;
    }
    raft_config rc_cfg = {
        .id = c->self,
        .n_nodes = (uint32_t)c->n_nodes,
        .heartbeat_ms = (uint32_t)cc->heartbeat_ms,
        .election_timeout_ms = (uint32_t)cc->election_timeout_ms,
        .lease_drift_ms = (uint32_t)cc->lease_drift_ms,
        /* Snapshots travel in chunks that fit the transport's limit; APPENDs too (one entry
         * always goes whole, and entries are far smaller than the limit). */
        .max_snapshot_chunk = payload_limit(c->cfg),
        .max_bytes_per_msg = payload_limit(c->cfg) < APPEND_BYTES_DEFAULT ? payload_limit(c->cfg) : APPEND_BYTES_DEFAULT,
        .seed = (uint64_t)md_mono_us() ^ ((uint64_t)c->self << 48) ^ 0x6a09e667f3bcc908ULL,
        .now_ms = now_ms(),
        .hard_state = st.hs,
        /* No hard state (none, missing or damaged: the same loss): a new node, or one whose disk
         * was lost (docs/consensus.md): it may have voted and acknowledged entries it no longer
         * holds, so it votes only once caught up. */
        .recovering = st.hs.term == 0 || raft_storage_hard_state_found(c->st) != RAFT_STORAGE_HS_OK,
        .snapshot = { .present = st.snap_index > 0, .index = st.snap_index, .term = st.snap_term,
                      .len = (uint32_t)st.snap_len, .data = st.snap_data },
        .entries = st.entries,
        .n_entries = st.n_entries,
    };
    char why[256] = "";
    char marker[4096];
    snprintf(marker, sizeof marker, "%s/recovering", c->cfg->data_dir);
    bool had_marker = access(marker, F_OK) == 0;
    rc_cfg.recovering = rc_cfg.recovering || had_marker;
    if (rc_cfg.recovering && !had_marker && (rc = marker_write(c, marker)) < 0) {
        snprintf(err, errlen, "%s: cannot write %s: %s", c->cfg->data_dir, marker, strerror(-rc));
        raft_storage_state_free(&st);
        return rc;
    }
    c->recovering = rc_cfg.recovering;
    log_hard_state_lost(c, had_marker);
    if (c->recovering)
        md_log(MD_LOG_INFO, "consensus_recovering", MD_S("data_dir", c->cfg->data_dir),
               MD_S("why", had_marker ? "not caught up before the last stop" : "no hard state: a new node or a lost disk"),
               MD_S("meaning", "votes only once caught up with the cluster"));
    if (st.snap_index > 0) {
        c->snap_index = st.snap_index;
        c->boot_snap = st.snap_data; /* kept for the application; freed once restored */
        c->boot_snap_len = st.snap_len;
        st.snap_data = NULL;
        st.snap_len = 0;
        rc_cfg.snapshot.data = c->boot_snap;
        rc_cfg.snapshot.len = (uint32_t)c->boot_snap_len;
    }
    rc = raft_new(&rc_cfg, &c->r, why, sizeof why);
    if (rc < 0)
        snprintf(err, errlen, "consensus: %s", why[0] ? why : strerror(-rc));
    else
        md_log(MD_LOG_INFO, "consensus_recovered", MD_S("data_dir", c->cfg->data_dir), MD_I("term", st.hs.term),
               MD_I("commit", st.hs.commit), MD_I("entries", st.n_entries), MD_I("snapshot_index", st.snap_index),
               MD_S("note", raft_storage_recovery_note(c->st) ? raft_storage_recovery_note(c->st) : ""));
    raft_storage_state_free(&st);
    return rc;
}

int md_consensus_new(uv_loop_t *loop, const md_config *cfg, md_consensus_send_fn send, void *send_ctx,
                     md_consensus **out, char *err, size_t errlen)
{
    assert(cfg->cluster.enabled && cfg->cluster.n_peers + 1 <= RAFT_MAX_NODES);
    md_consensus *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->loop = loop;
    c->cfg = cfg;
    c->send = send;
    c->send_ctx = send_ctx;
    number_nodes(c);
    int rc = mkdir_p(cfg->data_dir);
    if (rc == 0)
        rc = raft_storage_open(cfg->data_dir, cfg->cluster.name, cfg->node_id, NULL, &c->st, err, errlen);
    else
        snprintf(err, errlen, "%s: cannot create its parent directories: %s", cfg->data_dir, strerror(-rc));
    if (rc == 0)
        rc = open_core(c, err, errlen);
    if (rc < 0) {
        if (c->st)
            raft_storage_close(c->st);
        free(c);
        return rc;
    }
    c->role = raft_get_role(c->r);
    c->term = raft_get_term(c->r);
    md_commit_lat_init(&c->lat, raft_get_commit(c->r));
    uv_timer_init(loop, &c->timer);
    uv_timer_init(loop, &c->close_timer);
    uv_timer_init(loop, &c->retry_timer);
    c->timer.data = c->close_timer.data = c->retry_timer.data = c;
    c->open_handles = 3;
    *out = c;
    return 0;
}

void md_consensus_set_late_tick(md_consensus *c, void (*fn)(void *ctx), void *ctx)
{
    c->late_fn = fn;
    c->late_ctx = ctx;
}

uint64_t md_consensus_late_ticks(const md_consensus *c) { return c->late_ticks; }

void md_consensus_set_on_change(md_consensus *c, void (*fn)(void *ctx), void *ctx)
{
    c->on_change = fn;
    c->on_change_ctx = ctx;
}

void md_consensus_set_snapshots(md_consensus *c, md_consensus_take_fn take, md_consensus_restore_fn restore, void *ctx)
{
    c->take = take;
    c->restore = restore;
    c->snap_ctx = ctx;
    if (c->boot_snap && restore) {
        if (restore(ctx, c->boot_snap, c->boot_snap_len) < 0)
            md_log(MD_LOG_ERROR, "snapshot_restore_failed", MD_I("index", c->snap_index),
                   MD_S("data_dir", c->cfg->data_dir));
        free(c->boot_snap);
        c->boot_snap = NULL;
        c->boot_snap_len = 0;
    }
}

void md_consensus_set_apply(md_consensus *c, md_consensus_apply_fn fn, void *ctx)
{
    c->apply = fn;
    c->apply_ctx = ctx;
}

int md_consensus_propose(md_consensus *c, const void *data, size_t len, uint64_t *index)
{
    if (c->failed)
        return -EIO;
    if (c->stopping || c->closing)
        return -EBUSY;
    uint64_t at = 0;
    int rc = raft_propose(c->r, RAFT_ENTRY_NORMAL, data, len, &at);
    if (index)
        *index = at;
    if (rc == 0) {
        /* Timed before the local fsync, so the figure is what a caller waits for. */
        md_commit_lat_proposed(&c->lat, at, md_mono_us());
        process_ready(c);
        rearm(c);
    }
    return rc;
}

bool md_consensus_is_leader(const md_consensus *c)
{
    return !c->failed && raft_get_role(c->r) == RAFT_LEADER;
}

const char *md_consensus_leader_id(const md_consensus *c)
{
    raft_id l = raft_get_leader(c->r);
    return l ? c->ids[l] : NULL;
}

int md_consensus_start(md_consensus *c)
{
    process_ready(c);
    rearm(c);
    return 0;
}

bool md_consensus_lease_valid(const md_consensus *c)
{
    return !c->failed && raft_lease_valid(c->r, now_ms());
}

int md_consensus_fill_view(const md_consensus *c, md_view *s)
{
    md_view_consensus *o = &s->consensus;
    const md_cluster_config *cc = &c->cfg->cluster;
    o->enabled = true;
    o->role = raft_role_name(raft_get_role(c->r));
    o->term = raft_get_term(c->r);
    raft_id leader = raft_get_leader(c->r);
    o->leader_id = leader ? md_view_strdup(s, c->ids[leader]) : NULL;
    o->commit = raft_get_commit(c->r);
    o->applied = raft_get_applied(c->r);
    o->last_index = raft_last_index(c->r);
    o->snapshot_index = raft_snapshot_index(c->r);
    o->lease_valid = md_consensus_lease_valid(c);
    o->recovering = raft_recovering(c->r);
    o->leader_changes = c->leader_changes;
    o->failed = c->failed ? md_view_strdup(s, c->failed) : NULL;
    o->timing = md_view_strdup(s, cc->timing);
    o->heartbeat_ms = cc->heartbeat_ms;
    o->election_timeout_ms = cc->election_timeout_ms;
    o->committed_entries = c->lat.committed_total;
    md_commit_lat_summary(&c->lat, &o->commit_lat_samples, &o->commit_lat_p50_ms, &o->commit_lat_p99_ms);
    bool leads = raft_get_role(c->r) == RAFT_LEADER;
    for (size_t i = 0; i < s->n_nodes; i++) {
        raft_id id = id_of(c, s->nodes[i].id);
        s->nodes[i].match_index = !leads || id == 0 ? -1
                                  : id == c->self   ? (int64_t)raft_last_index(c->r)
                                                    : (int64_t)raft_match_index(c->r, id);
    }
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    md_consensus *c = h->data;
    if (--c->open_handles > 0)
        return;
    void (*done)(void *) = c->done;
    void *arg = c->done_arg;
    raft_free(c->r);
    raft_storage_close(c->st);
    free(c->boot_snap);
    free(c->failed);
    free(c);
    if (done)
        done(arg);
}

static void finish_close(md_consensus *c)
{
    c->closing = true;
    uv_timer_stop(&c->timer);
    uv_timer_stop(&c->close_timer);
    uv_timer_stop(&c->retry_timer);
    uv_close((uv_handle_t *)&c->timer, on_closed);
    uv_close((uv_handle_t *)&c->close_timer, on_closed);
    uv_close((uv_handle_t *)&c->retry_timer, on_closed);
}

/* While a leadership transfer runs, the core keeps running; this polls for its end. */
static void on_close_poll(uv_timer_t *t)
{
    md_consensus *c = t->data;
    bool handed_over = raft_get_role(c->r) != RAFT_LEADER;
    if (!handed_over && now_ms() < c->transfer_deadline_ms && !c->failed)
        return;
    if (handed_over)
        md_log(MD_LOG_INFO, "leadership_transferred",
               MD_S("to", raft_get_leader(c->r) ? c->ids[raft_get_leader(c->r)] : "-"), MD_I("term", raft_get_term(c->r)));
    else
        md_log(MD_LOG_WARN, "leadership_transfer_timeout", MD_I("waited_ms", TRANSFER_WAIT_MS),
               MD_S("note", "stopping anyway; the others elect a leader after their timeout"));
    finish_close(c);
}

void md_consensus_close(md_consensus *c, void (*done)(void *arg), void *arg)
{
    assert(!c->stopping);
    c->stopping = true;
    c->done = done;
    c->done_arg = arg;
    c->on_change = NULL;
    /* Hand over only while a majority still answers: with the others gone there is no one to
     * take over, and waiting would only delay the stop. */
    if (!c->failed && c->n_nodes > 1 && raft_get_role(c->r) == RAFT_LEADER && raft_lease_valid(c->r, now_ms()) &&
        raft_transfer(c->r, 0) == 0) {
        md_log(MD_LOG_INFO, "leadership_transfer", MD_S("reason", "stopping"), MD_I("term", raft_get_term(c->r)));
        c->transfer_deadline_ms = now_ms() + TRANSFER_WAIT_MS;
        process_ready(c);
        rearm(c);
        uv_timer_start(&c->close_timer, on_close_poll, 5, 5);
        return;
    }
    finish_close(c);
}
