/* test_storage_basic.c: unit tests of Raft storage (consensus/storage.h) in normal operation:
 * round trips of hard state, entries and snapshots across close and reopen, segment rollover,
 * compaction by snapshots, truncation, the meta check, the directory lock, argument checks and
 * the system calls each write makes (one write and one fdatasync per append batch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_storage_util.h"

static uint64_t term1(uint64_t i)
{
    (void)i;
    return 1;
}

static uint64_t term_by_ten(uint64_t i)
{
    return i / 10 + 1;
}

static void test_fresh_dir_is_empty(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL);
    raft_storage_state st;
    assert_int_equal(raft_storage_load(s, &st), 0);
    assert_int_equal(st.hs.term, 0);
    assert_int_equal(st.hs.vote, 0);
    assert_int_equal(st.hs.commit, 0);
    assert_int_equal(st.snap_index, 0);
    assert_null(st.snap_data);
    assert_int_equal(st.n_entries, 0);
    assert_null(st.entries);
    assert_int_equal(raft_storage_last_index(s), 0);
    assert_int_equal(raft_storage_failed(s), 0);
    assert_string_equal(raft_storage_recovery_note(s), "");
    raft_storage_state_free(&st);
    raft_storage_close(s);
    assert_true(file_exists(t->dir, "meta"));
}

static void test_round_trip(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL);
    raft_hard_state hs = {.term = 7, .vote = 3, .commit = 21};
    assert_int_equal(raft_storage_save_hard_state(s, &hs), 0);
    /* Batches of 1 to 4 entries, each within one term. */
    for (uint64_t i = 1; i <= 35;) {
        uint64_t to = i + (i % 4);
        while (to > 35 || term_by_ten(to) != term_by_ten(i)) {
            to--;
        }
        append_batch(s, i, to, term_by_ten(i), 0);
        i = to + 1;
    }
    assert_int_equal(raft_storage_last_index(s), 35);
    raft_storage_close(s);

    raft_storage_state st;
    reload(t->dir, &st);
    assert_int_equal(st.hs.term, 7);
    assert_int_equal(st.hs.vote, 3);
    assert_int_equal(st.hs.commit, 21);
    expect_entries(&st, 1, 35, term_by_ten, 0);
    raft_storage_state_free(&st);

    /* A snapshot in the middle: the entries after it stay readable. */
    s = open_ok(t->dir, NULL);
    const char snap[] = "state machine at 20";
    assert_int_equal(raft_storage_save_snapshot(s, 20, 3, snap, sizeof snap), 0);
    hs.commit = 30;
    assert_int_equal(raft_storage_save_hard_state(s, &hs), 0);
    raft_storage_close(s);
    reload(t->dir, &st);
    assert_int_equal(st.snap_index, 20);
    assert_int_equal(st.snap_term, 3);
    assert_int_equal(st.snap_len, sizeof snap);
    assert_memory_equal(st.snap_data, snap, sizeof snap);
    assert_int_equal(st.hs.commit, 30);
    expect_entries(&st, 21, 35, term_by_ten, 0);
    raft_storage_state_free(&st);
}

static void test_append_checks_indexes(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL);
    raft_entry e[2];
    make_entry(&e[0], 2, 1, 0);
    make_entry(&e[1], 3, 1, 0);
    assert_int_equal(raft_storage_append(s, e, 1), -EINVAL); /* must start at 1 */
    free_entries(e, 2);
    make_entry(&e[0], 1, 1, 0);
    make_entry(&e[1], 3, 1, 0);
    assert_int_equal(raft_storage_append(s, e, 2), -EINVAL); /* not consecutive */
    assert_int_equal(raft_storage_failed(s), 0);             /* a caller's bug, not the disk's */
    assert_non_null(strstr(raft_storage_errmsg(s), "expected 2"));
    assert_int_equal(raft_storage_append(s, e, 1), 0);
    assert_int_equal(raft_storage_append(s, e, 0), 0);
    free_entries(e, 2);
    assert_int_equal(raft_storage_truncate_from(s, 0), -EINVAL);
    assert_int_equal(raft_storage_save_snapshot(s, 0, 1, "x", 1), -EINVAL);
    assert_int_equal(raft_storage_save_snapshot(s, 1, 1, NULL, 5), -EINVAL);
    assert_int_equal(raft_storage_save_snapshot(s, 1, 1, NULL, 0), 0);
    assert_int_equal(raft_storage_last_index(s), 1);
    raft_storage_close(s);
}

static void test_rollover_names_segments_by_first_index(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL);
    raft_storage_set_segment_bytes(s, 256);
    append_each(s, 1, 60, 1, 0);
    append_batch(s, 61, 80, 1, 0); /* one batch never spans two segments */
    raft_storage_close(s);
    int nseg = count_segments(t->dir);
    assert_true(nseg > 5);
    assert_true(file_exists(t->dir, "seg-00000000000000000001"));

    /* Each segment's name is the index of its first record, and they chain without gaps. */
    uint64_t next = 1;
    int seen = 0, seg_of[81] = {0};
    while (next <= 80) {
        char name[64];
        seg_file(next, name);
        assert_true(file_exists(t->dir, name));
        size_t len;
        uint8_t *b = slurp(t->dir, name, &len);
        size_t off = 0;
        while (off < len) {
            uint32_t l = (uint32_t)b[off] | (uint32_t)b[off + 1] << 8;
            uint64_t idx = 0;
            for (int k = 7; k >= 0; k--) {
                idx = idx << 8 | b[off + 16 + (size_t)k];
            }
            assert_int_equal(idx, next);
            seg_of[next++] = seen;
            off += 28 + l;
        }
        free(b);
        seen++;
    }
    assert_int_equal(seen, nseg);
    for (uint64_t i = 62; i <= 80; i++) {
        assert_int_equal(seg_of[i], seg_of[61]); /* one batch, one segment */
    }

    raft_storage_state st;
    reload(t->dir, &st);
    expect_entries(&st, 1, 80, term1, 0);
    raft_storage_state_free(&st);
}

static void test_snapshot_deletes_covered_segments(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL);
    raft_storage_set_segment_bytes(s, 200);
    append_each(s, 1, 50, 1, 0);
    int before = count_segments(t->dir);
    assert_true(before >= 8);
    /* Which segment holds index 23? The last segment whose first index is <= 23. */
    uint64_t holder = 0;
    for (uint64_t i = 1; i <= 23; i++) {
        char name[64];
        seg_file(i, name);
        if (file_exists(t->dir, name)) {
            holder = i;
        }
    }
    assert_true(holder > 1);
    assert_int_equal(raft_storage_save_snapshot(s, 23, 1, "s23", 3), 0);
    for (uint64_t i = 1; i < holder; i++) {
        char name[64];
        seg_file(i, name);
        assert_false(file_exists(t->dir, name));
    }
    char name[64];
    seg_file(holder, name);
    assert_true(file_exists(t->dir, name)); /* holds 24.. too */
    assert_true(count_segments(t->dir) < before);
    append_each(s, 51, 55, 1, 0);
    raft_storage_close(s);

    raft_storage_state st;
    reload(t->dir, &st);
    assert_int_equal(st.snap_index, 23);
    expect_entries(&st, 24, 55, term1, 0);
    raft_storage_state_free(&st);

    /* A snapshot past the end of the log (installed from a leader) covers every segment. */
    s = open_ok(t->dir, NULL);
    assert_int_equal(raft_storage_save_snapshot(s, 70, 2, "s70", 3), 0);
    assert_int_equal(count_segments(t->dir), 0);
    assert_int_equal(raft_storage_last_index(s), 70);
    raft_entry e;
    make_entry(&e, 56, 2, 0);
    assert_int_equal(raft_storage_append(s, &e, 1), -EINVAL);
    free_entries(&e, 1);
    assert_int_equal(raft_storage_save_snapshot(s, 69, 2, "old", 3), -EINVAL);
    append_each(s, 71, 73, 2, 0);
    raft_storage_close(s);
    reload(t->dir, &st);
    assert_int_equal(st.snap_index, 70);
    assert_int_equal(st.snap_term, 2);
    assert_memory_equal(st.snap_data, "s70", 3);
    assert_int_equal(st.n_entries, 3);
    assert_int_equal(st.entries[0].index, 71);
    raft_storage_state_free(&st);
}

static void test_truncate_then_append_then_reopen(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL);
    raft_storage_set_segment_bytes(s, 200);
    append_each(s, 1, 20, 1, 0);
    append_batch(s, 21, 30, 1, 0);
    raft_storage_close(s);

    /* Cut inside the batch: the kept part must survive a reopen on its own. */
    s = open_ok(t->dir, NULL);
    assert_int_equal(raft_storage_truncate_from(s, 26), 0);
    assert_int_equal(raft_storage_last_index(s), 25);
    raft_storage_close(s);
    raft_storage_state st;
    reload(t->dir, &st);
    expect_entries(&st, 1, 25, term1, 0);
    raft_storage_state_free(&st);

    /* Cut across segments, then a new suffix of another term and contents. */
    s = open_ok(t->dir, NULL);
    raft_storage_set_segment_bytes(s, 200);
    assert_int_equal(raft_storage_truncate_from(s, 9), 0);
    assert_int_equal(raft_storage_truncate_from(s, 100), 0); /* past the end: nothing */
    append_each(s, 9, 14, 2, 5);
    raft_storage_close(s);
    reload(t->dir, &st);
    assert_int_equal(st.n_entries, 14);
    for (uint64_t i = 1; i <= 14; i++) {
        raft_entry want;
        make_entry(&want, i, i < 9 ? 1 : 2, i < 9 ? 0 : 5);
        assert_int_equal(st.entries[i - 1].term, want.term);
        assert_int_equal(st.entries[i - 1].len, want.len);
        if (want.len) {
            assert_memory_equal(st.entries[i - 1].data, want.data, want.len);
        }
        free(want.data);
    }
    raft_storage_state_free(&st);

    /* Everything: truncate at the first index. */
    s = open_ok(t->dir, NULL);
    assert_int_equal(raft_storage_truncate_from(s, 1), 0);
    assert_int_equal(count_segments(t->dir), 0);
    assert_int_equal(raft_storage_last_index(s), 0);
    append_each(s, 1, 2, 3, 9);
    raft_storage_close(s);
    reload(t->dir, &st);
    assert_int_equal(st.n_entries, 2);
    assert_int_equal(st.entries[1].term, 3);
    raft_storage_state_free(&st);
}

static void test_meta_mismatch_refused(void **state)
{
    tdir *t = *state;
    raft_storage *s = NULL;
    char err[256];
    assert_int_equal(raft_storage_open(t->dir, "A", "n2", NULL, &s, err, sizeof err), 0);
    append_each(s, 1, 1, 1, 0);
    raft_storage_close(s);

    assert_int_equal(raft_storage_open(t->dir, "B", "n1", NULL, &s, err, sizeof err), -EPERM);
    assert_null(s);
    char want[256];
    snprintf(want, sizeof want, "data dir %s belongs to node n2 of cluster A, not node n1 of cluster B "
             "(a node's id and cluster must not change across restarts)", t->dir);
    assert_string_equal(err, want);
    /* The owner is readable without opening (the node checks it before it starts). */
    char oc[RAFT_STORAGE_MAX_NAME + 1], on[RAFT_STORAGE_MAX_NAME + 1];
    assert_int_equal(raft_storage_owner(t->dir, oc, on, sizeof oc), 0);
    assert_string_equal(oc, "A");
    assert_string_equal(on, "n2");
    assert_int_equal(raft_storage_owner(t->dir, oc, on, 8), -EINVAL);
    assert_int_equal(raft_storage_open(t->dir, "A", "n1", NULL, &s, err, sizeof err), -EPERM);
    assert_int_equal(raft_storage_open(t->dir, "A", "n2", NULL, &s, err, sizeof err), 0);
    raft_storage_close(s);

    /* Raft files without a meta file: whose are they? Refuse rather than adopt them. */
    char p[PATH_MAX];
    path_in(t->dir, "meta", p);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(raft_storage_owner(t->dir, oc, on, sizeof oc), -ENOENT);
    assert_int_equal(raft_storage_open(t->dir, "A", "n2", NULL, &s, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "no meta"));

    assert_int_equal(raft_storage_open(t->dir, "", "n2", NULL, &s, err, sizeof err), -EINVAL);
    assert_int_equal(raft_storage_open(t->dir, "A\nB", "n2", NULL, &s, err, sizeof err), -EINVAL);
}

static void test_second_open_is_refused(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL), *s2 = NULL;
    char err[256];
    assert_int_equal(raft_storage_open(t->dir, CLUSTER, NODE, NULL, &s2, err, sizeof err), -EBUSY);
    assert_non_null(strstr(err, "in use"));
    raft_storage_close(s);
    s = open_ok(t->dir, NULL); /* released on close */
    raft_storage_close(s);
}

/* The system calls behind each write: durability before return, and no more than needed. */
static void test_calls_per_operation(void **state)
{
    tdir *t = *state;
    fault f;
    raft_storage_io io = fault_io(&f);
    raft_storage *s = open_ok(t->dir, &io);
    raft_storage_set_segment_bytes(s, 1 << 20);
    append_each(s, 1, 1, 1, 0);

    f.armed = true;
    append_batch(s, 2, 65, 1, 0);
    assert_string_equal(f.trace, "write fdatasync"); /* 64 entries, one write, one sync */

    f.trace[0] = '\0';
    raft_hard_state hs = {.term = 2, .vote = 1, .commit = 3};
    assert_int_equal(raft_storage_save_hard_state(s, &hs), 0);
    assert_string_equal(f.trace, "open write fsync close rename fsync");

    f.trace[0] = '\0';
    raft_storage_set_segment_bytes(s, 1);
    append_batch(s, 66, 66, 1, 0);
    assert_string_equal(f.trace, "close open fsync write fdatasync"); /* new segment: dir sync */

    f.trace[0] = '\0';
    assert_int_equal(raft_storage_truncate_from(s, 66), 0);
    assert_string_equal(f.trace, "close unlink fsync"); /* dir synced before returning */
    raft_storage_close(s);
}

static void test_leftovers_are_cleaned_at_open(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL);
    raft_storage_set_segment_bytes(s, 200);
    append_each(s, 1, 30, 1, 0);
    raft_storage_close(s);
    size_t len;
    uint8_t *first = slurp(t->dir, "seg-00000000000000000001", &len);

    s = open_ok(t->dir, NULL);
    assert_int_equal(raft_storage_save_snapshot(s, 25, 1, "x", 1), 0);
    raft_storage_close(s);
    assert_false(file_exists(t->dir, "seg-00000000000000000001"));

    /* A compaction cut short by a crash leaves a covered segment; a crash between creating a
     * segment and writing to it leaves an empty one; a crash before a rename leaves a temp. */
    spit(t->dir, "seg-00000000000000000001", first, len);
    spit(t->dir, "seg-00000000000000000031", (const uint8_t *)"", 0);
    spit(t->dir, "hardstate.tmp", (const uint8_t *)"junk", 4);
    free(first);
    raft_storage_state st;
    reload(t->dir, &st);
    assert_int_equal(st.snap_index, 25);
    expect_entries(&st, 26, 30, term1, 0);
    raft_storage_state_free(&st);
    assert_false(file_exists(t->dir, "seg-00000000000000000001"));
    assert_false(file_exists(t->dir, "seg-00000000000000000031"));
    assert_false(file_exists(t->dir, "hardstate.tmp"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_dir_is_empty, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(test_append_checks_indexes, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(test_rollover_names_segments_by_first_index, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_deletes_covered_segments, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_truncate_then_append_then_reopen, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_meta_mismatch_refused, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(test_second_open_is_refused, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(test_calls_per_operation, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(test_leftovers_are_cleaned_at_open, tdir_setup,
                                        tdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
