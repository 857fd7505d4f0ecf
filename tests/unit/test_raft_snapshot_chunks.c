/* test_raft_snapshot_chunks.c: InstallSnapshot in chunks. A snapshot larger than the chunk size
 * reaches a follower in several chunks, one in flight at a time, and is installed once, with the
 * last byte; a snapshot larger than the transport's message limit (which one message could never
 * carry) still gets there; a lost chunk is sent again on a heartbeat reply; a leader change
 * mid-transfer never installs a mix of two snapshots; chunks out of order, at the wrong offset or
 * of another snapshot are refused with the offset the follower expects; bad chunk headers are
 * refused as invalid. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_raft_fixture.h"

#define SNAP_LEN 900
#define CHUNK 128

static uint8_t snap_a[SNAP_LEN], snap_b[SNAP_LEN];

static void fill(uint8_t *b, size_t n, uint8_t salt)
{
    for (size_t i = 0; i < n; i++) {
        b[i] = (uint8_t)(i * 7 + salt + (i >> 8));
    }
}

/* Leader 1 of three with chunks of `chunk` bytes; node 3 cut off while ten entries commit, then
 * the leader compacts at 11 with snap_a (SNAP_LEN bytes). */
static fx *lagging(uint32_t chunk, uint64_t seed)
{
    fill(snap_a, sizeof snap_a, 1);
    fill(snap_b, sizeof snap_b, 99);
    fx *f = fx_new_chunked(3, seed, chunk);
    fx_elect(f, 1);
    fx_isolate(f, 3, true);
    for (int k = 0; k < 10; k++) {
        fx_propose(f, 1, "e");
    }
    fx_settle(f);
    assert_int_equal(raft_get_applied(f->r[1]), 11);
    assert_int_equal(raft_compact(f->r[1], 11, raft_term_at(f->r[1], 11), snap_a, SNAP_LEN), 0);
    return f;
}

/* Every SNAPSHOT queued (still undelivered) holds at most `chunk` bytes. */
static void assert_chunks_fit(fx *f, uint32_t chunk)
{
    for (size_t k = 0; k < f->nq; k++) {
        if (f->q[k].live && f->q[k].m.type == RAFT_MSG_SNAPSHOT) {
            assert_true(f->q[k].m.snap_len <= chunk);
            assert_int_equal(f->q[k].m.snap_total, SNAP_LEN);
        }
    }
}

static void arrives_in_chunks_and_installs_once(void **state)
{
    (void)state;
    fx *f = lagging(CHUNK, 91);
    fx_isolate(f, 3, false);
    for (int ms = 0; ms < 3 * FX_HB; ms++) {
        fx_set_time(f, f->now + 1);
        for (int i = 1; i <= 3; i++) {
            fx_tick(f, i);
        }
        for (int round = 0; round < 100 && fx_queued(f) > 0; round++) {
            assert_chunks_fit(f, CHUNK);
            assert_true(f->sent[RAFT_MSG_SNAPSHOT] <= 1 + f->sent[RAFT_MSG_SNAPSHOT_RESP]); /* one in flight */
            fx_deliver_all(f);
        }
    }
    size_t chunks = (SNAP_LEN + CHUNK - 1) / CHUNK;
    assert_int_equal(f->sent[RAFT_MSG_SNAPSHOT], chunks);
    assert_int_equal(f->sent[RAFT_MSG_SNAPSHOT_RESP], chunks - 1); /* the last is answered by APPEND_RESP */
    assert_int_equal(f->snapshots_installed[3], 1);
    assert_int_equal(f->disk[3].snap_index, 11);
    assert_int_equal(f->disk[3].snap_len, SNAP_LEN);
    assert_memory_equal(f->disk[3].snap_data, snap_a, SNAP_LEN);
    assert_int_equal(f->applied[3], 11);
    assert_int_equal(raft_match_index(f->r[1], 3), 11);
    fx_propose(f, 1, "after");
    fx_settle(f);
    assert_int_equal(f->applied[3], 12);
    fx_free(f);
}

/* The transport drops a message over its limit. With the limit below the snapshot's size, a
 * snapshot sent whole (the old single-message path: max_snapshot_chunk larger than the limit)
 * never arrives; in chunks that fit, it does. */
static size_t run_with_wire_limit(uint32_t chunk, size_t wire_limit, uint64_t seed)
{
    fx *f = lagging(chunk, seed);
    fx_isolate(f, 3, false);
    for (int ms = 0; ms < 4 * FX_T; ms++) {
        fx_set_time(f, f->now + 1);
        for (int i = 1; i <= 3; i++) {
            fx_tick(f, i);
        }
        for (int round = 0; round < 100 && fx_queued(f) > 0; round++) {
            for (size_t k = 0; k < f->nq; k++) {
                if (f->q[k].live && raft_msg_encoded_len(&f->q[k].m) > wire_limit) {
                    fx_drop(f, k);
                }
            }
            fx_deliver_all(f);
        }
    }
    size_t installed = f->snapshots_installed[3];
    if (installed) {
        assert_memory_equal(f->disk[3].snap_data, snap_a, SNAP_LEN);
    }
    fx_free(f);
    return installed;
}

static void larger_than_message_limit_arrives(void **state)
{
    (void)state;
    const size_t limit = 256; /* bytes per message on the wire; the snapshot is 900 */
    assert_int_equal(run_with_wire_limit(limit - 100, limit, 92), 1);
    assert_int_equal(run_with_wire_limit(SNAP_LEN, limit, 92), 0); /* one message: never */
}

/* Runs the cluster 1 ms at a time until a SNAPSHOT to node 3 is queued; returns its slot. */
static int next_chunk(fx *f)
{
    for (int ms = 0; ms < 4 * FX_T; ms++) {
        int k;
        while ((k = fx_find(f, 3, RAFT_MSG_SNAPSHOT)) < 0 && fx_find(f, 0, 0) >= 0) {
            fx_deliver_one(f, (size_t)fx_find(f, 0, 0));
        }
        if (k >= 0) {
            return k;
        }
        fx_set_time(f, f->now + 1);
        for (int i = 1; i <= f->n; i++) {
            fx_tick(f, i);
        }
    }
    fail_msg("no snapshot chunk within %d ms", 4 * FX_T);
    return -1;
}

static void lost_chunk_is_resent(void **state)
{
    (void)state;
    fx *f = lagging(CHUNK, 93);
    fx_isolate(f, 3, false);
    fx_deliver_one(f, (size_t)next_chunk(f)); /* chunk 0 arrives */
    int k = next_chunk(f);
    assert_int_equal(f->q[k].m.snap_offset, CHUNK);
    fx_drop(f, (size_t)k); /* chunk 1 is lost */
    uint64_t lost_at = f->now;
    k = next_chunk(f);
    assert_int_equal(f->q[k].m.snap_offset, CHUNK); /* the same chunk again ... */
    assert_true(f->now - lost_at <= 3 * FX_HB);   /* ... on a heartbeat reply, well before T */
    fx_run(f, 2 * FX_HB, 1);
    assert_int_equal(f->snapshots_installed[3], 1);
    assert_memory_equal(f->disk[3].snap_data, snap_a, SNAP_LEN);
    size_t chunks = (SNAP_LEN + CHUNK - 1) / CHUNK;
    assert_int_equal(f->sent[RAFT_MSG_SNAPSHOT], chunks + 1);
    fx_free(f);
}

/* Node 1 sends node 3 two chunks of snap_a, then is cut off; node 2, whose snapshot at the same
 * index holds other bytes (snap_b: as if its state machine encoded differently), is elected and
 * sends its own. Node 3 must install exactly snap_b, never a mix, even when node 1's later chunks
 * arrive after all. */
static void leader_change_never_mixes(void **state)
{
    (void)state;
    fx *f = lagging(CHUNK, 94);
    uint64_t term = raft_get_term(f->r[1]);
    assert_int_equal(raft_compact(f->r[2], 11, raft_term_at(f->r[2], 11), snap_b, SNAP_LEN), 0);
    fx_isolate(f, 3, false);
    fx_deliver_one(f, (size_t)next_chunk(f));
    fx_deliver_one(f, (size_t)next_chunk(f));
    int late = next_chunk(f); /* chunk 2 of snap_a: held back, delivered after the change */
    raft_message held;
    assert_int_equal(raft_msg_copy(&held, &f->q[late].m), 0);
    fx_drop(f, (size_t)late);
    assert_int_equal(f->snapshots_installed[3], 0);
    fx_isolate(f, 1, true);
    for (int ms = 0; ms < 6 * FX_T && fx_leader(f) != 2; ms += 5) {
        fx_run(f, 5, 1);
    }
    assert_int_equal(fx_leader(f), 2);
    assert_true(raft_get_term(f->r[2]) > term);
    /* Node 1's chunk from its old term changes nothing at node 3. */
    assert_int_equal(raft_step(f->r[3], &held, f->now), 0);
    fx_flush(f, 3);
    raft_msg_release(&held);
    fx_run(f, 4 * FX_T, 1);
    assert_int_equal(f->snapshots_installed[3], 1);
    assert_int_equal(f->disk[3].snap_len, SNAP_LEN);
    assert_memory_equal(f->disk[3].snap_data, snap_b, SNAP_LEN);
    fx_free(f);
}

/* ---- the follower's side, stepped by hand ---- */

static uint64_t snap_term; /* the term of the hand-made snapshots' last entry */

static raft_message chunk(uint64_t term, raft_id from, uint64_t index, uint32_t off, uint32_t len,
                          const uint8_t *data, uint32_t total)
{
    return (raft_message){.type = RAFT_MSG_SNAPSHOT, .from = from, .to = 3, .term = term, .index = index,
                          .log_term = snap_term, .sent_ms = 1, .snap_offset = off, .snap_len = len,
                          .snap_data = (uint8_t *)(data + off), .snap_total = total};
}

/* Steps m into node 3 and returns its answer: the hint (offset) of a SNAPSHOT_RESP, with *reject
 * set; -1 for an APPEND_RESP (installed); -2 for no answer. The answer is dropped. */
static int64_t step3(fx *f, raft_message m, int *reject)
{
    assert_int_equal(raft_step(f->r[3], &m, f->now), 0);
    fx_flush(f, 3);
    int64_t out = -2;
    int k = fx_find(f, (int)m.from, RAFT_MSG_SNAPSHOT_RESP);
    if (k >= 0) {
        *reject = f->q[k].m.reject;
        assert_int_equal(f->q[k].m.index, m.index);
        out = (int64_t)f->q[k].m.hint;
    } else if (fx_find(f, (int)m.from, RAFT_MSG_APPEND_RESP) >= 0) {
        out = -1;
    }
    fx_drop_all(f);
    return out;
}

/* Node 3 follows leader 1 (term t) with an empty log; returns t. */
static uint64_t follower(fx **out)
{
    fill(snap_a, sizeof snap_a, 1);
    fill(snap_b, sizeof snap_b, 99);
    fx *f = fx_new(3, 95);
    fx_isolate(f, 3, true);
    fx_elect(f, 1);
    fx_isolate(f, 3, false);
    fx_drop_all(f);
    *out = f;
    snap_term = raft_get_term(f->r[1]);
    return snap_term;
}

static void out_of_order_and_wrong_offset_refused(void **state)
{
    (void)state;
    fx *f;
    uint64_t t = follower(&f);
    int rej = -1;
    /* 30 bytes in chunks of 10, at index 50. */
    assert_int_equal(step3(f, chunk(t, 1, 50, 10, 10, snap_a, 30), &rej), 0); /* no start yet */
    assert_int_equal(rej, 1);
    assert_int_equal(step3(f, chunk(t, 1, 50, 0, 10, snap_a, 30), &rej), 10);
    assert_int_equal(rej, 0);
    assert_int_equal(step3(f, chunk(t, 1, 50, 20, 10, snap_a, 30), &rej), 10); /* a gap */
    assert_int_equal(rej, 1);
    assert_int_equal(step3(f, chunk(t, 1, 50, 0, 10, snap_a, 30), &rej), 10); /* a duplicate: kept */
    assert_int_equal(rej, 0);
    /* A chunk of another snapshot (index 51) past its start: refused, and what we held of the
     * other is dropped (its leader moved on), so its next chunk is refused too. */
    assert_int_equal(step3(f, chunk(t, 1, 51, 10, 10, snap_b, 30), &rej), 0);
    assert_int_equal(rej, 1);
    assert_int_equal(step3(f, chunk(t, 1, 50, 10, 10, snap_a, 30), &rej), 0);
    assert_int_equal(rej, 1);
    /* Another total for the same index is another snapshot: start over. */
    assert_int_equal(step3(f, chunk(t, 1, 50, 0, 10, snap_a, 30), &rej), 10);
    assert_int_equal(step3(f, chunk(t, 1, 50, 10, 10, snap_a, 31), &rej), 0);
    assert_int_equal(rej, 1);
    assert_int_equal(f->snapshots_installed[3], 0);
    /* In order, with an overlapping resend of another size: installs once, the right bytes. */
    assert_int_equal(step3(f, chunk(t, 1, 50, 0, 10, snap_a, 30), &rej), 10);
    assert_int_equal(step3(f, chunk(t, 1, 50, 5, 15, snap_a, 30), &rej), 20);
    assert_int_equal(step3(f, chunk(t, 1, 50, 20, 10, snap_a, 30), &rej), -1);
    assert_int_equal(f->snapshots_installed[3], 1);
    assert_int_equal(f->disk[3].snap_index, 50);
    assert_int_equal(f->disk[3].snap_len, 30);
    assert_memory_equal(f->disk[3].snap_data, snap_a, 30);
    assert_int_equal(raft_get_commit(f->r[3]), 50);
    /* A late chunk of it changes nothing. */
    assert_int_equal(step3(f, chunk(t, 1, 50, 10, 10, snap_a, 30), &rej), -1);
    assert_int_equal(f->snapshots_installed[3], 1);
    fx_free(f);
}

static void new_term_discards_partial_snapshot(void **state)
{
    (void)state;
    fx *f;
    uint64_t t = follower(&f);
    int rej = -1;
    assert_int_equal(step3(f, chunk(t, 1, 50, 0, 10, snap_a, 30), &rej), 10);
    assert_int_equal(step3(f, chunk(t, 1, 50, 10, 10, snap_a, 30), &rej), 20);
    /* Node 2 leads term t + 1: the continuation of the same snapshot (index, term and length) is
     * refused from it: what came from node 1 in term t is gone. */
    fx_set_time(f, f->now + 2 * FX_T); /* past node 3's stickiness: it may hear a new leader */
    assert_int_equal(step3(f, chunk(t + 1, 2, 50, 20, 10, snap_b, 30), &rej), 0);
    assert_int_equal(rej, 1);
    assert_int_equal(raft_get_term(f->r[3]), t + 1);
    assert_int_equal(step3(f, chunk(t + 1, 2, 50, 0, 10, snap_b, 30), &rej), 10);
    /* The old leader's last chunk, delayed: another term, refused as stale. */
    raft_message late = chunk(t, 1, 50, 20, 10, snap_a, 30);
    assert_int_equal(raft_step(f->r[3], &late, f->now), 0);
    fx_flush(f, 3);
    fx_drop_all(f);
    assert_int_equal(f->snapshots_installed[3], 0);
    assert_int_equal(step3(f, chunk(t + 1, 2, 50, 10, 10, snap_b, 30), &rej), 20);
    assert_int_equal(step3(f, chunk(t + 1, 2, 50, 20, 10, snap_b, 30), &rej), -1);
    assert_int_equal(f->snapshots_installed[3], 1);
    assert_memory_equal(f->disk[3].snap_data, snap_b, 30);
    fx_free(f);
}

static void bad_chunk_headers_invalid(void **state)
{
    (void)state;
    fx *f;
    uint64_t t = follower(&f);
    raft_message m = chunk(t, 1, 50, 0, 10, snap_a, 30);
    m.snap_total = RAFT_MAX_SNAPSHOT_LEN + 1; /* over the memory bound */
    assert_int_equal(raft_step(f->r[3], &m, f->now), -EINVAL);
    m = chunk(t, 1, 50, 25, 10, snap_a, 30); /* past the end */
    assert_int_equal(raft_step(f->r[3], &m, f->now), -EINVAL);
    m = chunk(t, 1, 50, 31, 0, snap_a, 30);
    assert_int_equal(raft_step(f->r[3], &m, f->now), -EINVAL);
    m = chunk(t, 1, 50, 10, 0, snap_a, 30); /* an empty chunk of a non-empty snapshot */
    assert_int_equal(raft_step(f->r[3], &m, f->now), -EINVAL);
    m = (raft_message){.type = RAFT_MSG_APPEND, .from = 1, .to = 3, .term = t, .snap_total = 5};
    assert_int_equal(raft_step(f->r[3], &m, f->now), -EINVAL);
    assert_int_equal(f->snapshots_installed[3], 0);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arrives_in_chunks_and_installs_once),
        cmocka_unit_test(larger_than_message_limit_arrives),
        cmocka_unit_test(lost_chunk_is_resent),
        cmocka_unit_test(leader_change_never_mixes),
        cmocka_unit_test(out_of_order_and_wrong_offset_refused),
        cmocka_unit_test(new_term_discards_partial_snapshot),
        cmocka_unit_test(bad_chunk_headers_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
