/* test_storage_faults.c: unit tests of Raft storage under disk errors. Through an injected
 * raft_storage_io, ENOSPC, EIO, a short write followed by ENOSPC, and a crash (every call from
 * the failing one on does nothing) hit each system call of append (with and without a new
 * segment), hard-state save, snapshot save and truncation in turn. Each time: the call fails
 * with that error, the store is failed and refuses every later write without touching the
 * disk, and a reopen finds either the state before the call or the state after it, never a
 * mix. Also: a crash between the temp file's write and its rename keeps the old hard state, and
 * a short write that is followed by success loses nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_storage_util.h"

#define MAX_CALLS 64

/* The state before each operation: hard state, a snapshot at 3, entries 1..10 in one-entry
 * batches over a few 200-byte segments, then 11..16 as one batch in a segment of its own. */
static void build_old(const char *dir)
{
    rm_rf(dir);
    raft_storage *s = open_ok(dir, NULL);
    raft_storage_set_segment_bytes(s, 200);
    raft_hard_state hs = {.term = 3, .vote = 1, .commit = 8};
    assert_int_equal(raft_storage_save_hard_state(s, &hs), 0);
    append_each(s, 1, 5, 1, 0);
    append_each(s, 6, 10, 2, 0);
    raft_storage_set_segment_bytes(s, 1);
    append_batch(s, 11, 16, 3, 0);
    assert_int_equal(raft_storage_save_snapshot(s, 3, 1, "snap-3", 6), 0);
    raft_storage_close(s);
    assert_true(count_segments(dir) >= 3);
    assert_true(file_exists(dir, "seg-00000000000000000011"));
}

typedef struct {
    const char *name;
    const char *what;  /* must appear in the error message */
    int (*op)(raft_storage *s, const char *dir);
    bool prefix_ok;    /* truncation: a log cut further than asked is also fine */
} op_case;

static int append_17_to_19(raft_storage *s)
{
    raft_entry e[3];
    for (int i = 0; i < 3; i++) {
        make_entry(&e[i], 17 + (uint64_t)i, 3, 0);
    }
    int rc = raft_storage_append(s, e, 3);
    free_entries(e, 3);
    return rc;
}

static int op_append_rollover(raft_storage *s, const char *dir)
{
    (void)dir;
    raft_storage_set_segment_bytes(s, 200); /* seg-11 is past it: a new segment starts */
    return append_17_to_19(s);
}

static int op_append_same_segment(raft_storage *s, const char *dir)
{
    (void)dir;
    raft_storage_set_segment_bytes(s, 1 << 20);
    return append_17_to_19(s);
}

static int op_hard_state(raft_storage *s, const char *dir)
{
    (void)dir;
    raft_hard_state hs = {.term = 4, .vote = 2, .commit = 9};
    return raft_storage_save_hard_state(s, &hs);
}

static int op_snapshot(raft_storage *s, const char *dir)
{
    (void)dir;
    static const char data[] = "snapshot at twelve, longer than the first one";
    return raft_storage_save_snapshot(s, 12, 3, data, sizeof data);
}

/* Cuts a one-entry-batch segment: drops seg-11, then shortens the holder of 9 and 10. */
static int op_truncate_short(raft_storage *s, const char *dir)
{
    return raft_storage_truncate_from(s, file_exists(dir, "seg-00000000000000000010") ? 9 : 10);
}

/* Cuts inside the batch 11..16: the kept part is rewritten and renamed into place. */
static int op_truncate_rewrite(raft_storage *s, const char *dir)
{
    (void)dir;
    return raft_storage_truncate_from(s, 14);
}

static const op_case ops[] = {
    {"append with a new segment", "append 3 entries", op_append_rollover, false},
    {"append", "append 3 entries", op_append_same_segment, false},
    {"hard state", "save hard state", op_hard_state, false},
    {"snapshot", "snapshot", op_snapshot, false},
    {"truncate (shorten)", "truncate", op_truncate_short, true},
    {"truncate (rewrite)", "truncate", op_truncate_rewrite, true},
};

typedef struct {
    const char *name;
    int err;
    bool crash, short_write;
} mode;

static const mode modes[] = {
    {"ENOSPC", ENOSPC, false, false},
    {"EIO", EIO, false, false},
    {"short write, then ENOSPC", ENOSPC, false, true},
    {"crash (EIO, then nothing)", EIO, true, false},
};

/* Whether st is old with its log cut between where new_st's ends and old's end: a truncation
 * that dropped later segments before it failed. */
static bool is_cut_old(const raft_storage_state *st, const raft_storage_state *old,
                       const raft_storage_state *new_st)
{
    if (st->n_entries < new_st->n_entries || st->n_entries > old->n_entries) {
        return false;
    }
    raft_storage_state v = *old;
    v.n_entries = st->n_entries;
    return states_equal(st, &v);
}

/* Every later write must fail with the first error, making no system call at all. */
static void expect_refuses_writes(raft_storage *s, fault *f, int err)
{
    int calls = f->calls;
    raft_hard_state hs = {.term = 9};
    raft_entry e;
    make_entry(&e, raft_storage_last_index(s) + 1, 9, 0);
    assert_int_equal(raft_storage_save_hard_state(s, &hs), err);
    assert_int_equal(raft_storage_append(s, &e, 1), err);
    assert_int_equal(raft_storage_truncate_from(s, 1), err);
    assert_int_equal(raft_storage_save_snapshot(s, 100, 9, "x", 1), err);
    assert_int_equal(raft_storage_failed(s), err);
    assert_int_equal(f->calls, calls);
    free_entries(&e, 1);
}

static void run_case(tdir *t, const op_case *op, const mode *m)
{
    raft_storage_state old, new_st;
    build_old(t->dir);
    reload(t->dir, &old);
    raft_storage *s = open_ok(t->dir, NULL);
    assert_int_equal(op->op(s, t->dir), 0);
    raft_storage_close(s);
    reload(t->dir, &new_st);
    assert_false(states_equal(&old, &new_st));

    int saw_old = 0, saw_new = 0, saw_cut = 0, k;
    for (k = 0; k < MAX_CALLS; k++) {
        build_old(t->dir);
        fault f;
        raft_storage_io io = fault_io(&f);
        f.fail_at = k;
        f.err = m->err;
        f.crash = m->crash;
        f.short_write = m->short_write;
        s = open_ok(t->dir, &io);
        f.armed = true;
        int rc = op->op(s, t->dir);
        if (!f.failed) {
            assert_int_equal(rc, 0); /* past the operation's last call */
            raft_storage_close(s);
            break;
        }
        if (rc != -m->err) {
            fail_msg("%s, %s at call %d (%s): returned %d", op->name, m->name, k, f.trace, rc);
        }
        if (strstr(raft_storage_errmsg(s), op->what) == NULL) {
            fail_msg("message lacks \"%s\": %s", op->what, raft_storage_errmsg(s));
        }
        expect_refuses_writes(s, &f, rc);
        raft_storage_close(s);

        raft_storage_state st;
        reload(t->dir, &st);
        bool o = states_equal(&st, &old), n = states_equal(&st, &new_st);
        bool c = op->prefix_ok && is_cut_old(&st, &old, &new_st);
        if (!o && !n && !c) {
            fail_msg("%s, %s at call %d (%s): reopened state is neither old nor new "
                     "(%zu entries)", op->name, m->name, k, f.trace, st.n_entries);
        }
        saw_old += o;
        saw_new += n;
        saw_cut += c && !o && !n;
        raft_storage_state_free(&st);
    }
    assert_true(k > 0 && k < MAX_CALLS);
    assert_true(saw_old > 0); /* both outcomes occur: the injection reaches every step */
    assert_true(saw_new > 0);
    print_message("%-26s %-26s %2d calls: %d old, %d new, %d cut further\n", op->name, m->name,
                  k, saw_old, saw_new, saw_cut);
    raft_storage_state_free(&old);
    raft_storage_state_free(&new_st);
}

static void test_every_call_of_every_write_fails_cleanly(void **state)
{
    tdir *t = *state;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        for (size_t j = 0; j < sizeof modes / sizeof modes[0]; j++) {
            run_case(t, &ops[i], &modes[j]);
        }
    }
}

/* Finds the armed call index of the first write an operation makes. */
static int first_write(tdir *t, int (*op)(raft_storage *, const char *))
{
    build_old(t->dir);
    fault f;
    raft_storage_io io = fault_io(&f);
    raft_storage *s = open_ok(t->dir, &io);
    f.armed = true;
    assert_int_equal(op(s, t->dir), 0);
    raft_storage_close(s);
    const char *w = strstr(f.trace, "write");
    assert_non_null(w);
    int k = 0;
    for (const char *p = f.trace; p < w; p++) {
        k += *p == ' ';
    }
    return k;
}

/* The process dies right after writing the temp file: no fsync, no rename. */
static void test_crash_between_write_and_rename(void **state)
{
    tdir *t = *state;
    int (*const cases[])(raft_storage *, const char *) = {op_hard_state, op_snapshot};
    for (int i = 0; i < 2; i++) {
        int w = first_write(t, cases[i]);
        build_old(t->dir);
        raft_storage_state old;
        reload(t->dir, &old);
        fault f;
        raft_storage_io io = fault_io(&f);
        f.fail_at = w + 1;
        f.err = EIO;
        f.crash = true;
        raft_storage *s = open_ok(t->dir, &io);
        f.armed = true;
        assert_int_equal(cases[i](s, t->dir), -EIO);
        assert_null(strstr(f.trace, "rename")); /* it died before the rename */
        raft_storage_close(s);
        assert_true(file_exists(t->dir, i == 0 ? "hardstate.tmp" : "snapshot.tmp"));

        raft_storage_state st;
        reload(t->dir, &st);
        assert_true(states_equal(&st, &old));
        assert_int_equal(st.hs.term, 3);
        assert_false(file_exists(t->dir, i == 0 ? "hardstate.tmp" : "snapshot.tmp"));
        raft_storage_state_free(&st);
        raft_storage_state_free(&old);
    }
}

/* POSIX allows a write to write less than asked without an error: the rest must follow. */
static void test_short_write_then_success_loses_nothing(void **state)
{
    tdir *t = *state;
    build_old(t->dir);
    fault f;
    raft_storage_io io = fault_io(&f);
    f.fail_at = 0;
    f.short_write = true; /* err 0: the next call succeeds */
    raft_storage *s = open_ok(t->dir, &io);
    raft_storage_set_segment_bytes(s, 1 << 20);
    f.armed = true;
    assert_int_equal(op_append_same_segment(s, t->dir), 0);
    assert_string_equal(f.trace, "write(short) write fdatasync");
    raft_storage_close(s);
    raft_storage_state st;
    reload(t->dir, &st);
    assert_int_equal(st.n_entries, 16 - 3 + 3);
    assert_int_equal(st.entries[st.n_entries - 1].index, 19);
    raft_storage_state_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_call_of_every_write_fails_cleanly, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_write_and_rename, tdir_setup,
                                        tdir_teardown),
        cmocka_unit_test_setup_teardown(test_short_write_then_success_loses_nothing, tdir_setup,
                                        tdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
