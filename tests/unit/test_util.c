/* test_util.c: util.h: little-endian round trips at the boundaries, the bounds-checked reader
 * and writer, the intrusive list, and the UTF-8 sanitiser (overlong forms, surrogates, truncated sequences,
 * NUL, control bytes, cuts, one line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static void test_le_round_trips(void **state)
{
    (void)state;
    static const uint16_t v16[] = { 0, 1, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xfffe, 0xffff };
    static const uint32_t v32[] = { 0, 1, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffffu, 0x80000000u, 0xffffffffu };
    static const uint64_t v64[] = { 0, 1, 0xffffffffull, 0x100000000ull, 0x7fffffffffffffffull,
                                    0x8000000000000000ull, 0xffffffffffffffffull };
    uint8_t b[8];
    for (size_t i = 0; i < sizeof v16 / sizeof v16[0]; i++) {
        assert_ptr_equal(ut_put_le16(b, v16[i]), b + 2);
        assert_int_equal(ut_get_le16(b), v16[i]);
    }
    for (size_t i = 0; i < sizeof v32 / sizeof v32[0]; i++) {
        assert_ptr_equal(ut_put_le32(b, v32[i]), b + 4);
        assert_int_equal(ut_get_le32(b), v32[i]);
    }
    for (size_t i = 0; i < sizeof v64 / sizeof v64[0]; i++) {
        assert_ptr_equal(ut_put_le64(b, v64[i]), b + 8);
        assert_true(ut_get_le64(b) == v64[i]);
    }
}

static void test_le_byte_order(void **state)
{
    (void)state;
    uint8_t b[14];
    uint8_t *p = ut_put_le16(b, 0x0102);
    p = ut_put_le32(p, 0x03040506u);
    p = ut_put_le64(p, 0x0708090a0b0c0d0eull);
    assert_ptr_equal(p, b + sizeof b);
    static const uint8_t want[] = { 0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0e,
                                    0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08, 0x07 };
    assert_memory_equal(b, want, sizeof want);
}

static void test_reader(void **state)
{
    (void)state;
    static const uint8_t buf[] = { 0xab, 0x34, 0x12, 0x04, 0x03, 0x02, 0x01, 0x88, 0x77,
                                   0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 'x', 'y', 'z' };
    ut_rd r;
    ut_rd_init(&r, buf, sizeof buf);
    assert_int_equal(ut_rd_u8(&r), 0xab);
    assert_int_equal(ut_rd_u16(&r), 0x1234);
    assert_int_equal(ut_rd_u32(&r), 0x01020304);
    assert_true(ut_rd_u64(&r) == 0x1122334455667788ull);
    assert_false(ut_rd_done(&r));
    assert_memory_equal(ut_rd_bytes(&r, 3), "xyz", 3);
    assert_true(ut_rd_done(&r));
    assert_non_null(ut_rd_bytes(&r, 0)); /* an empty read at the end is fine */
    assert_true(ut_rd_done(&r));

    /* A short read sets bad, which sticks: later reads return 0 even if bytes are left. */
    ut_rd_init(&r, buf, 3);
    assert_int_equal(ut_rd_u32(&r), 0);
    assert_true(r.bad);
    assert_int_equal(r.left, 3);
    assert_int_equal(ut_rd_u8(&r), 0);
    assert_null(ut_rd_bytes(&r, 1));
    assert_false(ut_rd_done(&r));

    /* Odd widths, and a NULL buffer reads as empty. */
    ut_rd_init(&r, buf + 1, 3);
    assert_int_equal(ut_rd_le(&r, 3), 0x041234);
    assert_true(ut_rd_done(&r));
    ut_rd_init(&r, NULL, 5);
    assert_int_equal(r.left, 0);
    assert_int_equal(ut_rd_u8(&r), 0);
    assert_true(r.bad);
}

static void test_writer(void **state)
{
    (void)state;
    ut_wr w;
    ut_wr_init(&w, 1000);
    ut_wr_u8(&w, 0xab);
    ut_wr_u16(&w, 0x0102);
    ut_wr_u32(&w, 0x03040506u);
    ut_wr_u64(&w, 0x0708090a0b0c0d0eull);
    ut_wr_bytes(&w, "xyz", 3);
    ut_wr_bytes(&w, NULL, 0);
    assert_false(w.bad);
    static const uint8_t want[] = { 0xab, 0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0e, 0x0d,
                                    0x0c, 0x0b, 0x0a, 0x09, 0x08, 0x07, 'x', 'y', 'z' };
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.p, want, sizeof want);
    /* Grows past its first buffer, up to max exactly, and not a byte further. */
    uint8_t big[600];
    memset(big, 0x5a, sizeof big);
    ut_wr_bytes(&w, big, sizeof big);
    uint8_t *room = ut_wr_room(&w, 1000 - w.len);
    assert_non_null(room);
    memset(room, 0x11, 1000 - w.len);
    w.len = 1000;
    assert_false(w.bad);
    ut_wr_u8(&w, 1);
    assert_true(w.bad);
    assert_int_equal(w.len, 1000);
    ut_wr_free(&w);
    assert_null(w.p);

    /* A fixed buffer never grows; bad sticks even for a write that would fit. */
    uint8_t buf[6];
    ut_wr_fixed(&w, buf, sizeof buf);
    ut_wr_u32(&w, 0xdeadbeefu);
    assert_false(w.bad);
    ut_wr_u32(&w, 1);
    assert_true(w.bad);
    ut_wr_u8(&w, 2);
    assert_int_equal(w.len, 4);
    assert_null(ut_wr_room(&w, 1));
    assert_int_equal(ut_get_le32(buf), 0xdeadbeefu);
    ut_wr_free(&w); /* does not free a fixed buffer */
}

typedef struct {
    int v;
    ut_link link;
} node;

/* Checks l holds exactly want[0..n) in order, walking both ways. */
static void check_list(const ut_list *l, const int *want, size_t n)
{
    size_t i = 0;
    for (node *e = ut_list_first(l, node, link); e; e = ut_list_next(e, node, link)) {
        assert_true(i < n);
        assert_int_equal(e->v, want[i++]);
    }
    assert_int_equal(i, n);
    for (ut_link *k = l->tail; k; k = k->prev) {
        assert_true(i > 0);
        assert_int_equal(ut_list_entry(k, node, link)->v, want[--i]);
    }
    assert_int_equal(i, 0);
    assert_int_equal(ut_list_empty(l), n == 0);
}

static void test_list(void **state)
{
    (void)state;
    node a = { .v = 1 }, b = { .v = 2 }, c = { .v = 3 }, d = { .v = 4 };
    ut_list l = { 0 };
    check_list(&l, NULL, 0);
    assert_null(ut_list_first(&l, node, link));
    assert_null(ut_list_pop_front(&l));

    ut_list_push_back(&l, &b.link);
    check_list(&l, (int[]){ 2 }, 1);
    ut_list_push_front(&l, &a.link);
    ut_list_push_back(&l, &c.link);
    ut_list_push_back(&l, &d.link);
    check_list(&l, (int[]){ 1, 2, 3, 4 }, 4);

    ut_list_remove(&l, &c.link); /* middle */
    assert_null(c.link.prev);
    assert_null(c.link.next);
    check_list(&l, (int[]){ 1, 2, 4 }, 3);
    ut_list_remove(&l, &a.link); /* head */
    check_list(&l, (int[]){ 2, 4 }, 2);
    ut_list_remove(&l, &d.link); /* tail */
    check_list(&l, (int[]){ 2 }, 1);
    ut_list_remove(&l, &b.link); /* the only one */
    check_list(&l, NULL, 0);
    assert_null(l.tail);

    /* Reinsert after removal; pop from the front in order. */
    ut_list_push_front(&l, &c.link);
    ut_list_push_front(&l, &b.link);
    ut_list_push_back(&l, &d.link);
    check_list(&l, (int[]){ 2, 3, 4 }, 3);
    assert_ptr_equal(ut_list_entry(ut_list_pop_front(&l), node, link), &b);
    assert_ptr_equal(ut_list_entry(ut_list_pop_front(&l), node, link), &c);
    assert_ptr_equal(ut_list_entry(ut_list_pop_front(&l), node, link), &d);
    assert_null(ut_list_pop_front(&l));
    check_list(&l, NULL, 0);

    /* Removing while iterating, with the next entry taken first. */
    node e[5];
    for (int i = 0; i < 5; i++) {
        e[i].v = i;
        ut_list_push_back(&l, &e[i].link);
    }
    for (node *it = ut_list_first(&l, node, link), *nx; it; it = nx) {
        nx = ut_list_next(it, node, link);
        if (it->v % 2 == 0)
            ut_list_remove(&l, &it->link);
    }
    check_list(&l, (int[]){ 1, 3 }, 2);
}

static void test_utf8_len(void **state)
{
    (void)state;
    assert_int_equal(ut_utf8_len("A", 1), 1);
    assert_int_equal(ut_utf8_len("\0", 1), 1);       /* NUL is a character; clean() replaces it */
    assert_int_equal(ut_utf8_len("\x7f", 1), 1);
    assert_int_equal(ut_utf8_len("\xc2\x80", 2), 2); /* U+0080, the smallest two-byte */
    assert_int_equal(ut_utf8_len("\xdf\xbf", 2), 2); /* U+07FF */
    assert_int_equal(ut_utf8_len("\xe0\xa0\x80", 3), 3); /* U+0800 */
    assert_int_equal(ut_utf8_len("\xed\x9f\xbf", 3), 3); /* U+D7FF, just below the surrogates */
    assert_int_equal(ut_utf8_len("\xee\x80\x80", 3), 3); /* U+E000, just above */
    assert_int_equal(ut_utf8_len("\xef\xbf\xbf", 3), 3); /* U+FFFF */
    assert_int_equal(ut_utf8_len("\xf0\x90\x80\x80", 4), 4); /* U+10000 */
    assert_int_equal(ut_utf8_len("\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF */

    assert_int_equal(ut_utf8_len("\x80", 1), 0);             /* stray continuation */
    assert_int_equal(ut_utf8_len("\xbf", 1), 0);
    assert_int_equal(ut_utf8_len("\xc0\xaf", 2), 0);         /* overlong '/' */
    assert_int_equal(ut_utf8_len("\xc1\xbf", 2), 0);
    assert_int_equal(ut_utf8_len("\xe0\x9f\xbf", 3), 0);     /* overlong three-byte */
    assert_int_equal(ut_utf8_len("\xf0\x8f\xbf\xbf", 4), 0); /* overlong four-byte */
    assert_int_equal(ut_utf8_len("\xed\xa0\x80", 3), 0);     /* U+D800 */
    assert_int_equal(ut_utf8_len("\xed\xbf\xbf", 3), 0);     /* U+DFFF */
    assert_int_equal(ut_utf8_len("\xf4\x90\x80\x80", 4), 0); /* U+110000 */
    assert_int_equal(ut_utf8_len("\xf5\x80\x80\x80", 4), 0);
    assert_int_equal(ut_utf8_len("\xff", 1), 0);
    assert_int_equal(ut_utf8_len("\xe2\x82\xac", 2), 0);     /* truncated by n */
    assert_int_equal(ut_utf8_len("\xe2\x82" "A", 3), 0);     /* truncated by a non-continuation */
    assert_int_equal(ut_utf8_len("\xf0\x9f\x98", 3), 0);
    assert_int_equal(ut_utf8_len("\xc3", 1), 0);
}

/* clean_is runs ut_utf8_clean over in (len bytes) with max and flags and checks the result. */
static void clean_is(const char *in, size_t len, size_t max, unsigned flags, const char *want)
{
    char out[64];
    assert_true(max <= sizeof out);
    size_t n = ut_utf8_clean(out, max, in, len, flags);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_true(ut_utf8_is_clean(out, n));
}

static void test_utf8_clean(void **state)
{
    (void)state;
    clean_is("", 0, 64, 0, "");
    clean_is("plain text", 10, 64, 0, "plain text");
    clean_is("tab\there\nnext", 13, 64, 0, "tab\there\nnext");
    clean_is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, 64, 0, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* NUL, control bytes, CR and DEL: one '?' each. */
    clean_is("a\0b\x01\x1f\r\x7f" "c", 8, 64, 0, "a?b????c");
    /* Invalid sequences: one '?' per byte. */
    clean_is("x\xc0\xafy", 4, 64, 0, "x??y");              /* overlong */
    clean_is("\xe0\x80\xaf", 3, 64, 0, "???");
    clean_is("\xed\xa0\x80z", 4, 64, 0, "???z");           /* surrogate */
    clean_is("\xf4\x90\x80\x80", 4, 64, 0, "????");        /* above U+10FFFF */
    clean_is("\x80\xbf", 2, 64, 0, "??");                  /* stray continuations */
    clean_is("ab\xe2\x82", 4, 64, 0, "ab??");              /* truncated at the end */
    clean_is("\xe2\x82" "A\xc3\xa9", 5, 64, 0, "??A\xc3\xa9"); /* truncated in the middle */
    clean_is("\xfe\xff", 2, 64, 0, "??");
    /* The cut never splits a character, and is exact at the boundary. */
    clean_is("ab\xc3\xa9", 4, 4, 0, "ab\xc3\xa9");
    clean_is("ab\xc3\xa9", 4, 3, 0, "ab");
    clean_is("a\xf0\x9f\x98\x80" "b", 6, 4, 0, "a");
    clean_is("abc\x01", 4, 4, 0, "abc?");
    clean_is("abcdef", 6, 0, 0, "");
    /* One line: stops at LF or CR, not at other controls. */
    clean_is("first\nsecond", 12, 64, UT_UTF8_ONE_LINE, "first");
    clean_is("first\r\nsecond", 13, 64, UT_UTF8_ONE_LINE, "first");
    clean_is("a\tb\x01" "c\n", 6, 64, UT_UTF8_ONE_LINE, "a\tb?c");
    clean_is("\nx", 2, 64, UT_UTF8_ONE_LINE, "");
}

static void test_utf8_clean_in_place(void **state)
{
    (void)state;
    char buf[] = "\x80ok\xed\xa0\x80\xc3\xa9\x01";
    size_t n = ut_utf8_clean(buf, sizeof buf - 1, buf, sizeof buf - 1, 0);
    assert_int_equal(n, 9);
    assert_memory_equal(buf, "?ok???\xc3\xa9?", n);
    /* Output shorter than the input start (the exec actuator skips a cut character first). */
    char ring[] = "\xa9xy\xff";
    n = ut_utf8_clean(ring, 3, ring + 1, 3, 0);
    assert_int_equal(n, 3);
    assert_memory_equal(ring, "xy?", 3);
}

static void test_utf8_is_clean(void **state)
{
    (void)state;
    assert_true(ut_utf8_is_clean("", 0));
    assert_true(ut_utf8_is_clean(NULL, 0));
    assert_true(ut_utf8_is_clean("a\tb\nc \xc3\xa9\xf4\x8f\xbf\xbf", 12));
    assert_false(ut_utf8_is_clean("a\0b", 3));
    assert_false(ut_utf8_is_clean("a\rb", 3));
    assert_false(ut_utf8_is_clean("\x7f", 1));
    assert_false(ut_utf8_is_clean("\xc0\x80", 2));
    assert_false(ut_utf8_is_clean("\xed\xb0\x80", 3));
    assert_false(ut_utf8_is_clean("\xc3", 1));
    assert_false(ut_utf8_is_clean("\xc3\xa9", 1)); /* cut by n */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_le_round_trips),
        cmocka_unit_test(test_le_byte_order),
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_utf8_len),
        cmocka_unit_test(test_utf8_clean),
        cmocka_unit_test(test_utf8_clean_in_place),
        cmocka_unit_test(test_utf8_is_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
