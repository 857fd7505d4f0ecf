/* test_raft_fixture.c: the hand-driven cluster of test_raft_fixture.h. It plays the caller's
 * side of the core's contract exactly: persist a batch (snapshot, truncation, entries, hard
 * state), then queue its messages, then "apply", then advance. */
#include "test_raft_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what)
{
    fprintf(stderr, "fixture: %s\n", what);
    abort();
}

static fx *make(int n, uint64_t seed, uint32_t max_entries, uint32_t max_chunk)
{
    fx *f = calloc(1, sizeof *f);
    if (f == NULL) {
        die("out of memory");
    }
    f->n = n;
    f->seed = seed;
    f->max_entries = max_entries;
    f->max_chunk = max_chunk;
    for (int i = 1; i <= n; i++) {
        fx_restart(f, i);
    }
    return f;
}

fx *fx_new_opts(int n, uint64_t seed, uint32_t max_entries)
{
    return make(n, seed, max_entries, 0);
}

fx *fx_new_chunked(int n, uint64_t seed, uint32_t max_chunk)
{
    return make(n, seed, 0, max_chunk);
}

fx *fx_new(int n, uint64_t seed)
{
    return make(n, seed, 0, 0);
}

void fx_free(fx *f)
{
    for (int i = 1; i <= f->n; i++) {
        raft_free(f->r[i]);
    }
    fx_drop_all(f);
    free(f);
}

void fx_restart(fx *f, int i)
{
    fx_disk *d = &f->disk[i];
    raft_free(f->r[i]);
    f->r[i] = NULL;
    raft_config c = {
        .id = (raft_id)i,
        .n_nodes = (uint32_t)f->n,
        .heartbeat_ms = FX_HB,
        .election_timeout_ms = FX_T,
        .lease_drift_ms = FX_DRIFT,
        .max_entries_per_msg = f->max_entries,
        .max_snapshot_chunk = f->max_chunk,
        .seed = f->seed * 100 + (uint64_t)i,
        .now_ms = f->now,
        .hard_state = d->hs,
        .recovering = f->recovering[i],
        .entries = d->log,
        .n_entries = d->n,
    };
    if (d->has_snap) {
        c.snapshot = (raft_snapshot){.present = true, .index = d->snap_index, .term = d->snap_term,
                                     .len = d->snap_len, .data = d->snap_data};
    }
    char err[128];
    if (raft_new(&c, &f->r[i], err, sizeof err) != 0) {
        fprintf(stderr, "fixture: raft_new: %s\n", err);
        abort();
    }
    f->applied[i] = d->has_snap ? d->snap_index : 0;
}

void fx_set_log(fx *f, int i, const uint64_t *terms, size_t k, uint64_t hs_term)
{
    fx_disk *d = &f->disk[i];
    memset(d, 0, sizeof *d);
    for (size_t j = 0; j < k; j++) {
        d->log[j] = (raft_entry){.term = terms[j], .index = j + 1, .type = RAFT_ENTRY_NORMAL, .len = 1,
                                 .data = d->bytes[j]};
        d->bytes[j][0] = (uint8_t)(terms[j] * 16 + j);
    }
    d->n = k;
    d->hs.term = hs_term;
    fx_restart(f, i);
}

static uint64_t disk_last(const fx_disk *d)
{
    return d->snap_index + d->n;
}

static void persist(fx *f, int i, const raft_update *u)
{
    fx_disk *d = &f->disk[i];
    if (u->snapshot.present) {
        if (u->snapshot.len > sizeof d->snap_data) {
            die("snapshot too large for the fixture");
        }
        d->has_snap = true;
        d->snap_index = u->snapshot.index;
        d->snap_term = u->snapshot.term;
        memcpy(d->snap_data, u->snapshot.data, u->snapshot.len);
        d->snap_len = u->snapshot.len;
        d->n = 0;
        f->snapshots_installed[i]++;
    }
    if (u->truncate_from && u->truncate_from <= disk_last(d)) {
        d->n = (size_t)(u->truncate_from - d->snap_index - 1);
    }
    for (size_t k = 0; k < u->n_entries; k++) {
        const raft_entry *e = &u->entries[k];
        if (e->index != disk_last(d) + 1 || d->n >= 512 || e->len > 32) {
            die("batch entries do not follow the disk");
        }
        d->log[d->n] = *e;
        d->log[d->n].data = e->len ? d->bytes[d->n] : NULL;
        if (e->len) {
            memcpy(d->bytes[d->n], e->data, e->len);
        }
        d->n++;
    }
    if (u->has_hard_state) {
        d->hs = u->hard_state;
    }
}

void fx_flush(fx *f, int i)
{
    raft *r = f->r[i];
    while (r && raft_has_ready(r)) {
        raft_update u;
        if (raft_ready(r, &u) != 0) {
            die("raft_ready");
        }
        persist(f, i, &u);
        for (size_t k = 0; k < u.n_msgs; k++) {
            if (f->nq == sizeof f->q / sizeof f->q[0]) {
                die("message queue full");
            }
            fx_msg *q = &f->q[f->nq++];
            if (raft_msg_copy(&q->m, &u.msgs[k]) != 0) {
                die("raft_msg_copy");
            }
            q->live = true;
            f->sent[u.msgs[k].type]++;
        }
        if (u.snapshot.present) {
            f->applied[i] = u.snapshot.index;
        }
        for (size_t k = 0; k < u.n_committed; k++) {
            if (u.committed[k].index != f->applied[i] + 1) {
                die("committed entries out of order");
            }
            f->applied[i] = u.committed[k].index;
        }
        raft_advance(r, &u);
    }
}

void fx_flush_all(fx *f)
{
    for (int i = 1; i <= f->n; i++) {
        fx_flush(f, i);
    }
}

int fx_deliver_one(fx *f, size_t k)
{
    fx_msg *q = &f->q[k];
    if (!q->live) {
        return 1;
    }
    q->live = false;
    int to = (int)q->m.to;
    int rc = 1;
    if (!f->cut[q->m.from][to] && f->r[to] != NULL) {
        rc = raft_step(f->r[to], &q->m, f->now);
        fx_flush(f, to);
    }
    raft_msg_release(&q->m);
    return rc;
}

size_t fx_deliver_all(fx *f)
{
    size_t end = f->nq, n = 0;
    for (size_t k = 0; k < end; k++) {
        if (f->q[k].live) {
            fx_deliver_one(f, k);
            n++;
        }
    }
    /* Compact the queue: keep what is still live, in order. */
    size_t w = 0;
    for (size_t k = 0; k < f->nq; k++) {
        if (f->q[k].live) {
            f->q[w++] = f->q[k];
        }
    }
    f->nq = w;
    return n;
}

void fx_settle(fx *f)
{
    fx_flush_all(f);
    for (int round = 0; round < 1000; round++) {
        if (fx_deliver_all(f) == 0) {
            return;
        }
    }
    die("messages never settle");
}

int fx_find(fx *f, int to, int type)
{
    for (size_t k = 0; k < f->nq; k++) {
        if (f->q[k].live && (to == 0 || (int)f->q[k].m.to == to) && (type == 0 || f->q[k].m.type == type)) {
            return (int)k;
        }
    }
    return -1;
}

void fx_drop(fx *f, size_t k)
{
    if (f->q[k].live) {
        f->q[k].live = false;
        raft_msg_release(&f->q[k].m);
    }
}

void fx_drop_all(fx *f)
{
    for (size_t k = 0; k < f->nq; k++) {
        fx_drop(f, k);
    }
    f->nq = 0;
}

size_t fx_queued(fx *f)
{
    size_t n = 0;
    for (size_t k = 0; k < f->nq; k++) {
        n += f->q[k].live;
    }
    return n;
}

void fx_set_time(fx *f, uint64_t t)
{
    if (t > f->now) {
        f->now = t;
    }
}

void fx_tick(fx *f, int i)
{
    if (f->r[i]) {
        raft_tick(f->r[i], f->now);
        fx_flush(f, i);
    }
}

void fx_run(fx *f, uint64_t ms, uint64_t step_ms)
{
    uint64_t end = f->now + ms;
    while (f->now < end) {
        f->now = f->now + step_ms < end ? f->now + step_ms : end;
        for (int i = 1; i <= f->n; i++) {
            fx_tick(f, i);
        }
        fx_settle(f);
    }
}

void fx_elect(fx *f, int i)
{
    uint64_t t = raft_next_timeout(f->r[i]);
    fx_set_time(f, t > FX_T ? t : FX_T);
    fx_tick(f, i);
    fx_settle(f);
}

int fx_leader(fx *f)
{
    int best = 0;
    for (int i = 1; i <= f->n; i++) {
        if (f->r[i] && raft_get_role(f->r[i]) == RAFT_LEADER &&
            (best == 0 || raft_get_term(f->r[i]) > raft_get_term(f->r[best]))) {
            best = i;
        }
    }
    return best;
}

void fx_isolate(fx *f, int i, bool cut)
{
    for (int j = 1; j <= f->n; j++) {
        if (j != i) {
            f->cut[i][j] = cut;
            f->cut[j][i] = cut;
        }
    }
}

void fx_heal(fx *f)
{
    memset(f->cut, 0, sizeof f->cut);
}

int fx_propose(fx *f, int i, const char *text)
{
    int rc = raft_propose(f->r[i], RAFT_ENTRY_NORMAL, text, strlen(text), NULL);
    fx_flush(f, i);
    return rc;
}
