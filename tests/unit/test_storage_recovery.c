/* test_storage_recovery.c: unit tests of what Raft storage does with what it finds at open:
 * CRC32C against RFC 3720's vectors; a torn last record, cut at every byte offset or filled with
 * garbage, is cut off and the rest survives; a batch whose last record is missing goes as a
 * whole; damage before a valid record, in an earlier segment, a gap or a misplaced index is
 * refused with the file and offset in the message, and the files are left as they were; a cut
 * below the commit index is refused; a missing and a damaged hard state are the same lost disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "storage_int.h"
#include "test_storage_util.h"

static uint64_t term1(uint64_t i)
{
    (void)i;
    return 1;
}

/* Offsets of the records in a segment's bytes; returns how many. */
static size_t rec_offsets(const uint8_t *b, size_t len, size_t *offs, size_t max)
{
    size_t n = 0, off = 0;
    while (off + 28 <= len && n < max) {
        offs[n++] = off;
        off += 28 + ut_get_le32(b + off);
    }
    return n;
}

static void test_crc32c_rfc3720_vectors(void **state)
{
    (void)state;
    uint8_t buf[48];
    memset(buf, 0, 32);
    assert_int_equal(raft__crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, 32);
    assert_int_equal(raft__crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) {
        buf[i] = (uint8_t)i;
    }
    assert_int_equal(raft__crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) {
        buf[i] = (uint8_t)(31 - i);
    }
    assert_int_equal(raft__crc32c(0, buf, 32), 0x113FDB5Cu);
    static const uint8_t iscsi_read[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
        0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    assert_int_equal(raft__crc32c(0, iscsi_read, 48), 0xD9963A56u);
    assert_int_equal(raft__crc32c(0, "123456789", 9), 0xE3069283u);
    /* Extending in pieces gives the same value as one pass. */
    assert_int_equal(raft__crc32c(raft__crc32c(0, iscsi_read, 17), iscsi_read + 17, 31),
                     0xD9963A56u);
    assert_int_equal(raft__crc32c(0, NULL, 0), 0);
}

static void build_log(const char *dir, uint64_t n)
{
    raft_storage *s = open_ok(dir, NULL);
    raft_hard_state hs = {.term = 4, .vote = 2, .commit = 3};
    assert_int_equal(raft_storage_save_hard_state(s, &hs), 0);
    append_each(s, 1, n, 1, 0);
    raft_storage_close(s);
}

static void test_torn_tail_every_offset(void **state)
{
    tdir *t = *state;
    build_log(t->dir, 10); /* entry 10 has 30 payload bytes: a 58-byte record */
    const char *seg = "seg-00000000000000000001";
    size_t len;
    uint8_t *orig = slurp(t->dir, seg, &len);
    size_t offs[16];
    assert_int_equal(rec_offsets(orig, len, offs, 16), 10);
    size_t last = offs[9];
    assert_true(len - last > 28);

    for (size_t cut = last; cut < len; cut++) {
        spit(t->dir, seg, orig, cut);
        raft_storage *s = open_ok(t->dir, NULL);
        raft_storage_state st;
        assert_int_equal(raft_storage_load(s, &st), 0);
        expect_entries(&st, 1, 9, term1, 0);
        assert_int_equal(st.hs.term, 4);
        assert_int_equal(raft_storage_last_index(s), 9);
        if (cut > last) {
            assert_non_null(strstr(raft_storage_recovery_note(s), seg));
        } else {
            assert_string_equal(raft_storage_recovery_note(s), ""); /* clean end */
        }
        raft_storage_state_free(&st);
        /* The cut is durable and the log goes on from there. */
        size_t now;
        free(slurp(t->dir, seg, &now));
        assert_int_equal(now, last);
        append_batch(s, 10, 10, 2, 7);
        raft_storage_close(s);
        reload(t->dir, &st);
        assert_int_equal(st.n_entries, 10);
        assert_int_equal(st.entries[9].term, 2);
        raft_storage_state_free(&st);
    }
    free(orig);
}

/* Issue 11 item 2: a bad tail below the hard state's commit index is not a torn write (those
 * entries were acknowledged and committed): open refuses, says how to recover, and cuts nothing. */
static void test_cut_below_commit_is_refused(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL);
    append_each(s, 1, 10, 1, 0);
    raft_hard_state hs = {.term = 4, .vote = 2, .commit = 10};
    assert_int_equal(raft_storage_save_hard_state(s, &hs), 0);
    raft_storage_close(s);
    const char *seg = "seg-00000000000000000001";
    size_t len;
    uint8_t *orig = slurp(t->dir, seg, &len);
    spit(t->dir, seg, orig, len - 5);
    char err[1024];
    s = NULL;
    assert_int_equal(raft_storage_open(t->dir, CLUSTER, NODE, NULL, &s, err, sizeof err), -EBADMSG);
    assert_null(s);
    print_message("refused: %s\n", err);
    assert_non_null(strstr(err, "committed"));
    assert_non_null(strstr(err, "empty its data dir"));
    size_t after;
    free(slurp(t->dir, seg, &after));
    assert_int_equal(after, len - 5);
    free(orig);
}

/* A last record of the right length whose bytes are garbage (zeros: a block that was allocated
 * but never written) is a torn write too. */
static void test_garbage_last_record_is_cut(void **state)
{
    tdir *t = *state;
    build_log(t->dir, 10);
    const char *seg = "seg-00000000000000000001";
    size_t len;
    uint8_t *b = slurp(t->dir, seg, &len);
    size_t offs[16];
    rec_offsets(b, len, offs, 16);
    for (int fill = 0; fill < 3; fill++) {
        uint8_t *c = malloc(len);
        memcpy(c, b, len);
        for (size_t i = offs[9] + (fill == 2 ? 8 : 0); i < len; i++) {
            c[i] = fill == 0 ? 0 : (uint8_t)(i * 37 + 11);
        }
        spit(t->dir, seg, c, len);
        free(c);
        raft_storage_state st;
        reload(t->dir, &st);
        expect_entries(&st, 1, 9, term1, 0);
        raft_storage_state_free(&st);
    }
    free(b);
}

/* A batch is all or nothing: whole records of a batch whose last record is missing go too. */
static void test_unfinished_batch_is_dropped(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL);
    append_each(s, 1, 5, 1, 0);
    append_batch(s, 6, 10, 1, 0);
    raft_storage_close(s);
    const char *seg = "seg-00000000000000000001";
    size_t len;
    uint8_t *b = slurp(t->dir, seg, &len);
    size_t offs[16];
    assert_int_equal(rec_offsets(b, len, offs, 16), 10);
    size_t cuts[] = {offs[7] + 3, offs[8], offs[9], len - 1, offs[5] + 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        spit(t->dir, seg, b, cuts[i]);
        s = open_ok(t->dir, NULL);
        assert_non_null(strstr(raft_storage_recovery_note(s), "whole records"));
        raft_storage_state st;
        assert_int_equal(raft_storage_load(s, &st), 0);
        expect_entries(&st, 1, 5, term1, 0);
        raft_storage_state_free(&st);
        raft_storage_close(s);
    }
    free(b);
}

/* Opens dir expecting corruption; checks the message names file and offset and that the
 * segment files are unchanged. */
static void expect_refused(const char *dir, const char *seg, size_t off)
{
    size_t before_len, after_len;
    uint8_t *before = slurp(dir, seg, &before_len);
    raft_storage *s = NULL;
    char err[256], want[64];
    int rc = raft_storage_open(dir, CLUSTER, NODE, NULL, &s, err, sizeof err);
    assert_int_equal(rc, -EBADMSG);
    assert_null(s);
    print_message("refused: %s\n", err);
    assert_non_null(strstr(err, seg));
    snprintf(want, sizeof want, "offset %zu:", off);
    if (strstr(err, want) == NULL) {
        fail_msg("message lacks \"%s\": %s", want, err);
    }
    assert_non_null(strstr(err, "refusing"));
    uint8_t *after = slurp(dir, seg, &after_len);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    free(before);
    free(after);
}

static void test_bad_crc_in_the_middle_is_refused(void **state)
{
    tdir *t = *state;
    build_log(t->dir, 3);
    const char *seg = "seg-00000000000000000001";
    size_t len;
    uint8_t *b = slurp(t->dir, seg, &len);
    size_t offs[4];
    assert_int_equal(rec_offsets(b, len, offs, 4), 3);

    b[offs[1] + 30] ^= 0x01; /* one bit of the middle record's payload */
    spit(t->dir, seg, b, len);
    expect_refused(t->dir, seg, offs[1]);
    b[offs[1] + 30] ^= 0x01;

    /* A damaged length makes the middle record look short: still damage, not a torn write. */
    b[offs[1] + 1] ^= 0x10;
    spit(t->dir, seg, b, len);
    expect_refused(t->dir, seg, offs[1]);
    b[offs[1] + 1] ^= 0x10;

    /* Repaired, it opens again: the refusal changed nothing on disk. */
    spit(t->dir, seg, b, len);
    raft_storage_state st;
    reload(t->dir, &st);
    expect_entries(&st, 1, 3, term1, 0);
    raft_storage_state_free(&st);
    free(b);
}

static void test_damage_in_an_earlier_segment_is_refused(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL);
    raft_storage_set_segment_bytes(s, 150);
    append_each(s, 1, 12, 1, 0);
    raft_storage_close(s);
    assert_true(count_segments(t->dir) >= 3);
    const char *seg = "seg-00000000000000000001";
    size_t len;
    uint8_t *b = slurp(t->dir, seg, &len);
    size_t offs[8];
    size_t n = rec_offsets(b, len, offs, 8);

    /* Its last record damaged: at the end of a file, but not of the log. */
    b[len - 1] ^= 0xff;
    spit(t->dir, seg, b, len);
    expect_refused(t->dir, seg, offs[n - 1]);
    b[len - 1] ^= 0xff;

    /* Cut short: same. */
    spit(t->dir, seg, b, len - 5);
    expect_refused(t->dir, seg, offs[n - 1]);
    spit(t->dir, seg, b, len);
    free(b);
}

static void test_gap_and_misplaced_index_are_refused(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL);
    raft_storage_set_segment_bytes(s, 150);
    append_each(s, 1, 12, 1, 0);
    raft_storage_close(s);
    /* Find the second segment. */
    uint64_t second = 0;
    for (uint64_t i = 2; i <= 12 && second == 0; i++) {
        char name[64];
        seg_file(i, name);
        if (file_exists(t->dir, name)) {
            second = i;
        }
    }
    assert_true(second > 0);
    char name[64], other[64], p1[PATH_MAX], p2[PATH_MAX];
    seg_file(second, name);
    seg_file(second + 1, other);
    path_in(t->dir, name, p1);
    path_in(t->dir, other, p2);

    /* Renamed: its first record's index disagrees with its name. */
    assert_int_equal(rename(p1, p2), 0);
    raft_storage *x = NULL;
    char err[256];
    assert_int_equal(raft_storage_open(t->dir, CLUSTER, NODE, NULL, &x, err, sizeof err),
                     -EBADMSG);
    assert_non_null(strstr(err, "gap"));

    /* Moved away: a gap between the first and the third segment. */
    char away[PATH_MAX];
    path_in(t->root, "away", away);
    assert_int_equal(rename(p2, away), 0);
    assert_int_equal(raft_storage_open(t->dir, CLUSTER, NODE, NULL, &x, err, sizeof err),
                     -EBADMSG);
    assert_non_null(strstr(err, "gap"));
    assert_int_equal(rename(away, p1), 0);

    /* A record with a valid checksum but the wrong index. */
    seg_file(1, name);
    size_t len;
    uint8_t *b = slurp(t->dir, name, &len);
    raft_entry e;
    make_entry(&e, 7, 1, 0);
    size_t rs = raft__rec_size(e.len);
    uint8_t *c = malloc(len + rs);
    memcpy(c, b, len);
    raft__rec_encode(c + len, &e, RAFT__REC_BATCH_END);
    free_entries(&e, 1);
    spit(t->dir, name, c, len + rs);
    assert_int_equal(raft_storage_open(t->dir, CLUSTER, NODE, NULL, &x, err, sizeof err),
                     -EBADMSG);
    assert_non_null(strstr(err, "expected"));
    free(b);
    free(c);
}

/* A damaged snapshot is refused: it is the only copy of what it covers. */
static void test_damaged_snapshot_is_refused(void **state)
{
    tdir *t = *state;
    build_log(t->dir, 3);
    raft_storage *s = open_ok(t->dir, NULL);
    assert_int_equal(raft_storage_save_snapshot(s, 2, 1, "snapshot data", 13), 0);
    raft_storage_close(s);
    size_t len;
    uint8_t *b = slurp(t->dir, "snapshot", &len);
    b[len - 3] ^= 0x40;
    spit(t->dir, "snapshot", b, len);
    raft_storage *x = NULL;
    char err[256];
    assert_int_equal(raft_storage_open(t->dir, CLUSTER, NODE, NULL, &x, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "snapshot"));
    assert_non_null(strstr(err, "damaged"));
    b[len - 3] ^= 0x40;
    spit(t->dir, "snapshot", b, len);
    free(b);
    raft_storage_state st;
    reload(t->dir, &st);
    assert_int_equal(st.snap_index, 2);
    expect_entries(&st, 3, 3, term1, 0);
    raft_storage_state_free(&st);
}

/* The ways a hard state can be lost: 0 missing, 1 flipped bit, 2 short, 3 empty, 4 longer. */
static void lose_hard_state(const char *dir, int how)
{
    if (how == 0) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/hardstate", dir);
        assert_int_equal(unlink(path), 0);
        return;
    }
    size_t len;
    uint8_t *b = slurp(dir, "hardstate", &len);
    uint8_t *c = calloc(1, len + 8);
    memcpy(c, b, len);
    if (how == 1) {
        c[len - 7] ^= 0x10;
    }
    spit(dir, "hardstate", c, how == 2 ? len - 5 : how == 3 ? 0 : how == 4 ? len + 8 : len);
    free(b);
    free(c);
}

/* Issue 11 item 2: a missing hard state and a damaged one are the same loss. Both open (nothing
 * is refused), report it, load a zero hard state with the log intact, and a torn tail is cut even
 * beyond the old commit index (unknown now: the node starts as one that lost its disk). The first
 * save replaces a damaged file, and the next open finds it ok. */
static void test_missing_or_damaged_hard_state_is_a_lost_disk(void **state)
{
    tdir *t = *state;
    static const raft_storage_hs_found want[] = {RAFT_STORAGE_HS_MISSING, RAFT_STORAGE_HS_DAMAGED,
                                                 RAFT_STORAGE_HS_DAMAGED, RAFT_STORAGE_HS_DAMAGED,
                                                 RAFT_STORAGE_HS_DAMAGED};
    const char *seg = "seg-00000000000000000001";
    for (int how = 0; how < 5; how++) {
        raft_storage *s = open_ok(t->dir, NULL);
        if (how == 0) {
            assert_int_equal(raft_storage_hard_state_found(s), RAFT_STORAGE_HS_NONE);
            append_each(s, 1, 10, 1, 0);
        }
        raft_hard_state hs = {.term = 4, .vote = 2, .commit = 10};
        assert_int_equal(raft_storage_save_hard_state(s, &hs), 0);
        raft_storage_close(s);
        s = open_ok(t->dir, NULL);
        assert_int_equal(raft_storage_hard_state_found(s), RAFT_STORAGE_HS_OK);
        raft_storage_close(s);

        lose_hard_state(t->dir, how);
        size_t len;
        uint8_t *orig = slurp(t->dir, seg, &len);
        spit(t->dir, seg, orig, len - 5); /* below the old commit: refused with a hard state */
        s = open_ok(t->dir, NULL);
        assert_int_equal(raft_storage_hard_state_found(s), want[how]);
        const char *note = raft_storage_recovery_note(s);
        print_message("%s: note: %s\n", raft_storage_hs_found_name(want[how]), note);
        assert_non_null(strstr(note, "cut"));
        assert_true((strstr(note, "hardstate is damaged") != NULL) == (how > 0));
        raft_storage_state st;
        assert_int_equal(raft_storage_load(s, &st), 0);
        assert_int_equal(st.hs.term, 0);
        assert_int_equal(st.hs.vote, 0);
        assert_int_equal(st.hs.commit, 0);
        expect_entries(&st, 1, 9, term1, 0);
        raft_storage_state_free(&st);
        /* the node goes on: entry 10 again, then its first hard state */
        append_batch(s, 10, 10, 1, 0);
        raft_storage_close(s);
        free(orig);
    }
}

/* A store that never saved a hard state and holds no log is new, not lost (NONE), even when a
 * torn first batch was all it had; a snapshot alone without a hard state is MISSING. */
static void test_no_hard_state_and_no_log_is_new(void **state)
{
    tdir *t = *state;
    raft_storage *s = open_ok(t->dir, NULL);
    assert_int_equal(raft_storage_hard_state_found(s), RAFT_STORAGE_HS_NONE);
    append_batch(s, 1, 3, 1, 0);
    raft_storage_close(s);
    const char *seg = "seg-00000000000000000001";
    size_t len;
    uint8_t *b = slurp(t->dir, seg, &len);
    spit(t->dir, seg, b, len - 1); /* the batch never completed: all of it goes */
    free(b);
    s = open_ok(t->dir, NULL);
    assert_int_equal(raft_storage_hard_state_found(s), RAFT_STORAGE_HS_NONE);
    assert_int_equal(raft_storage_last_index(s), 0);
    append_each(s, 1, 3, 1, 0);
    assert_int_equal(raft_storage_save_snapshot(s, 3, 1, "x", 1), 0);
    raft_storage_close(s);
    s = open_ok(t->dir, NULL);
    assert_int_equal(raft_storage_hard_state_found(s), RAFT_STORAGE_HS_MISSING);
    raft_storage_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_rfc3720_vectors),
        cmocka_unit_test_setup_teardown(test_torn_tail_every_offset, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(test_cut_below_commit_is_refused, tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_last_record_is_cut, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_unfinished_batch_is_dropped, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_bad_crc_in_the_middle_is_refused, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_damage_in_an_earlier_segment_is_refused, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_gap_and_misplaced_index_are_refused, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_snapshot_is_refused, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_missing_or_damaged_hard_state_is_a_lost_disk,
                                        tdir_setup, tdir_teardown),
        cmocka_unit_test_setup_teardown(test_no_hard_state_and_no_log_is_new, tdir_setup,
                                        tdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
