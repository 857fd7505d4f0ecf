/* test_raft_codec.c: the wire codec of raft messages: every type round-trips; every proper
 * prefix of a valid encoding and any trailing byte is rejected; out-of-range fields are
 * rejected; another version is refused as such; random and mutated input never crashes, and
 * whatever decodes re-encodes to the same bytes (one encoding per message). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raft.h"

static uint8_t snap_bytes[] = "the state machine";
static raft_entry entries[3] = {
    {.term = 3, .index = 6, .type = RAFT_ENTRY_NOOP},
    {.term = 4, .index = 7, .type = RAFT_ENTRY_NORMAL, .len = 5, .data = (uint8_t *)"hello"},
    {.term = 4, .index = 8, .type = RAFT_ENTRY_NORMAL, .len = 1, .data = (uint8_t *)"!"},
};

/* One valid message of each type. */
static raft_message sample(uint8_t type)
{
    raft_message m = {.type = type, .from = 2, .to = 5, .term = 4, .index = 5, .log_term = 3,
                      .hint = 0x0102030405060708ull, .commit = 4, .sent_ms = 123456789};
    if (type == RAFT_MSG_APPEND) {
        m.entries = entries;
        m.n_entries = 3;
    } else if (type == RAFT_MSG_SNAPSHOT) {
        m.snap_data = snap_bytes; /* a chunk in the middle of a snapshot */
        m.snap_len = sizeof snap_bytes;
        m.snap_offset = 7;
        m.snap_total = 7 + sizeof snap_bytes + 3;
    } else if (type == RAFT_MSG_SNAPSHOT_RESP) {
        m.hint = 7; /* a byte offset into the snapshot */
    } else if (type == RAFT_MSG_VOTE) {
        m.transfer = 1;
    } else if (type == RAFT_MSG_APPEND_RESP) {
        m.reject = RAFT_REJECT_YES;
    }
    return m;
}

static uint8_t *encode(const raft_message *m, size_t *len)
{
    *len = raft_msg_encoded_len(m);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    assert_int_equal(raft_msg_encode(m, buf, *len), (int)*len);
    return buf;
}

static void assert_same(const raft_message *a, const raft_message *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->reject, b->reject);
    assert_int_equal(a->transfer, b->transfer);
    assert_int_equal(a->from, b->from);
    assert_int_equal(a->to, b->to);
    assert_int_equal(a->term, b->term);
    assert_int_equal(a->index, b->index);
    assert_int_equal(a->log_term, b->log_term);
    assert_int_equal(a->hint, b->hint);
    assert_int_equal(a->commit, b->commit);
    assert_int_equal(a->sent_ms, b->sent_ms);
    assert_int_equal(a->n_entries, b->n_entries);
    for (uint32_t k = 0; k < a->n_entries; k++) {
        assert_int_equal(a->entries[k].term, b->entries[k].term);
        assert_int_equal(a->entries[k].index, b->entries[k].index);
        assert_int_equal(a->entries[k].type, b->entries[k].type);
        assert_int_equal(a->entries[k].len, b->entries[k].len);
        if (a->entries[k].len) {
            assert_memory_equal(a->entries[k].data, b->entries[k].data, a->entries[k].len);
        }
    }
    assert_int_equal(a->snap_len, b->snap_len);
    assert_int_equal(a->snap_offset, b->snap_offset);
    assert_int_equal(a->snap_total, b->snap_total);
    if (a->snap_len) {
        assert_memory_equal(a->snap_data, b->snap_data, a->snap_len);
    }
}

static void round_trip_every_type(void **state)
{
    (void)state;
    for (uint8_t t = RAFT_MSG_APPEND; t <= RAFT_MSG_TYPE_MAX; t++) {
        raft_message m = sample(t), d;
        size_t len;
        uint8_t *buf = encode(&m, &len);
        assert_int_equal(raft_msg_decode(buf, len, &d), 0);
        assert_same(&m, &d);
        raft_msg_release(&d);
        assert_int_equal(raft_msg_encode(&m, buf, len - 1), -EMSGSIZE); /* too small a buffer */
        free(buf);
    }
}

static void every_truncation_and_extension_rejected(void **state)
{
    (void)state;
    for (uint8_t t = RAFT_MSG_APPEND; t <= RAFT_MSG_TYPE_MAX; t++) {
        raft_message m = sample(t), d;
        size_t len;
        uint8_t *buf = encode(&m, &len);
        for (size_t cut = 0; cut < len; cut++) {
            uint8_t *exact = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
            memcpy(exact, buf, cut);
            assert_int_equal(raft_msg_decode(exact, cut, &d), -EBADMSG);
            assert_null(d.entries);
            assert_null(d.snap_data);
            free(exact);
        }
        uint8_t *longer = malloc(len + 1);
        memcpy(longer, buf, len);
        longer[len] = 0;
        assert_int_equal(raft_msg_decode(longer, len + 1, &d), -EBADMSG);
        free(longer);
        free(buf);
    }
    raft_message d;
    assert_int_equal(raft_msg_decode(NULL, 0, &d), -EBADMSG);
}

/* Encodes m after applying a change, and returns what decoding says. */
static int decode_modified(raft_message m)
{
    size_t len;
    uint8_t *buf = encode(&m, &len);
    raft_message d;
    int rc = raft_msg_decode(buf, len, &d);
    if (rc == 0) {
        raft_msg_release(&d);
    }
    free(buf);
    return rc;
}

static void out_of_range_fields_rejected(void **state)
{
    (void)state;
    raft_message m = sample(RAFT_MSG_APPEND);
    assert_int_equal(decode_modified(m), 0);
    raft_message x;
    x = m; x.type = 0; assert_int_equal(decode_modified(x), -EBADMSG);
    x = m; x.from = 0; assert_int_equal(decode_modified(x), -EBADMSG);
    x = m; x.from = RAFT_MAX_NODES + 1; assert_int_equal(decode_modified(x), -EBADMSG);
    x = m; x.to = x.from; assert_int_equal(decode_modified(x), -EBADMSG);
    x = m; x.reject = 3; assert_int_equal(decode_modified(x), -EBADMSG);
    x = m; x.transfer = 2; assert_int_equal(decode_modified(x), -EBADMSG);
    x = m; x.term = 0; assert_int_equal(decode_modified(x), -EBADMSG);   /* a request needs a term */
    x = m; x.log_term = 5; assert_int_equal(decode_modified(x), -EBADMSG); /* prev newer than the message */
    x = m; x.index = 0; assert_int_equal(decode_modified(x), -EBADMSG);  /* index 0 has term 0 */
    raft_entry bad[3];
    memcpy(bad, entries, sizeof bad);
    bad[1].term = 5; /* an entry newer than the message */
    x = m; x.entries = bad; assert_int_equal(decode_modified(x), -EBADMSG);
    memcpy(bad, entries, sizeof bad);
    bad[2].term = 3; /* terms decrease */
    x = m; x.entries = bad; assert_int_equal(decode_modified(x), -EBADMSG);
    memcpy(bad, entries, sizeof bad);
    bad[0].type = 7;
    x = m; x.entries = bad; assert_int_equal(decode_modified(x), -EBADMSG);
    raft_message resp = sample(RAFT_MSG_VOTE_RESP);
    resp.term = 0; /* a node still at term 0 may answer */
    assert_int_equal(decode_modified(resp), 0);
    raft_message snap = sample(RAFT_MSG_SNAPSHOT);
    x = snap; x.index = 0; assert_int_equal(decode_modified(x), -EBADMSG);
    x = snap; x.snap_total = 7 + x.snap_len - 1; assert_int_equal(decode_modified(x), -EBADMSG); /* past the end */
    x = snap; x.snap_offset = x.snap_total + 1; assert_int_equal(decode_modified(x), -EBADMSG);
    x = snap; x.snap_total = RAFT_MAX_SNAPSHOT_LEN + 1; assert_int_equal(decode_modified(x), -EBADMSG);
    x = snap; x.snap_len = 0; assert_int_equal(decode_modified(x), -EBADMSG); /* an empty chunk of 28 bytes */
    x = snap; x.snap_offset = 0; x.snap_total = x.snap_len; assert_int_equal(decode_modified(x), 0); /* whole */
    x = snap; x.snap_offset = x.snap_total = x.snap_len = 0; assert_int_equal(decode_modified(x), 0); /* empty SM */
    raft_message sr = sample(RAFT_MSG_SNAPSHOT_RESP);
    x = sr; x.hint = (uint64_t)RAFT_MAX_SNAPSHOT_LEN + 1; assert_int_equal(decode_modified(x), -EBADMSG);
    x = sr; x.index = 0; x.log_term = 0; assert_int_equal(decode_modified(x), -EBADMSG);
    /* A count of entries larger than the bytes that follow. */
    size_t len;
    uint8_t *buf = encode(&m, &len);
    buf[60] = 0xFF; /* n_entries, low byte */
    raft_message d;
    assert_int_equal(raft_msg_decode(buf, len, &d), -EBADMSG);
    buf[60] = 3;
    buf[63] = 0x7F; /* n_entries high byte: over RAFT_MAX_MSG_ENTRIES */
    assert_int_equal(raft_msg_decode(buf, len, &d), -EBADMSG);
    free(buf);
}

static uint64_t rng = 0x1234;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* If bytes decode, they are canonical: encoding the result gives them back. */
static void check_canonical(const uint8_t *buf, size_t len)
{
    raft_message d;
    int rc = raft_msg_decode(buf, len, &d);
    assert_true(rc == 0 || rc == -EBADMSG || rc == -EPROTONOSUPPORT);
    if (rc == 0) {
        size_t n = raft_msg_encoded_len(&d);
        assert_int_equal(n, len);
        uint8_t *again = malloc(n);
        assert_int_equal(raft_msg_encode(&d, again, n), (int)n);
        assert_memory_equal(again, buf, n);
        free(again);
        raft_msg_release(&d);
    }
}

static void random_and_mutated_input(void **state)
{
    (void)state;
    for (int k = 0; k < 20000; k++) {
        size_t len = next_rand() % 200;
        uint8_t *buf = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) {
            buf[i] = (uint8_t)next_rand();
        }
        if (len > 2) {
            buf[0] = RAFT_CODEC_VERSION; /* the right version, so the parser gets further */
            buf[1] = (uint8_t)(1 + next_rand() % RAFT_MSG_TYPE_MAX);
        }
        check_canonical(buf, len);
        free(buf);
    }
    int decoded = 0;
    for (uint8_t t = RAFT_MSG_APPEND; t <= RAFT_MSG_TYPE_MAX; t++) {
        raft_message m = sample(t);
        size_t len;
        uint8_t *buf = encode(&m, &len);
        for (size_t i = 0; i < len; i++) {
            for (int bit = 0; bit < 8; bit++) {
                buf[i] ^= (uint8_t)(1u << bit);
                raft_message d;
                if (raft_msg_decode(buf, len, &d) == 0) {
                    decoded++;
                    raft_msg_release(&d);
                }
                check_canonical(buf, len);
                buf[i] ^= (uint8_t)(1u << bit);
            }
        }
        free(buf);
    }
    assert_true(decoded > 0); /* many single-bit changes still make valid messages */
}

/* A node of another release: its messages are refused as another version, whatever they hold
 * (version 1 sent a snapshot as one message, in a layout this one would misread). */
static void other_version_refused(void **state)
{
    (void)state;
    for (uint8_t t = RAFT_MSG_APPEND; t <= RAFT_MSG_TYPE_MAX; t++) {
        raft_message m = sample(t), d;
        size_t len;
        uint8_t *buf = encode(&m, &len);
        assert_int_equal(buf[0], RAFT_CODEC_VERSION);
        buf[0] = 1;
        assert_int_equal(raft_msg_decode(buf, len, &d), -EPROTONOSUPPORT);
        assert_null(d.snap_data);
        buf[0] = RAFT_CODEC_VERSION + 1;
        assert_int_equal(raft_msg_decode(buf, len, &d), -EPROTONOSUPPORT);
        buf[0] = 0;
        assert_int_equal(raft_msg_decode(buf, len, &d), -EBADMSG);
        assert_int_equal(raft_msg_decode(buf, 1, &d), -EBADMSG);
        free(buf);
    }
    /* A version 1 snapshot: u32 len then the bytes. */
    uint8_t v1[60 + 4 + 3] = {1, RAFT_MSG_SNAPSHOT, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3};
    v1[12 + 8] = 3; /* index */
    v1[12 + 16] = 2; /* log_term */
    v1[60] = 3;
    raft_message d;
    assert_int_equal(raft_msg_decode(v1, sizeof v1, &d), -EPROTONOSUPPORT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_every_type),
        cmocka_unit_test(every_truncation_and_extension_rejected),
        cmocka_unit_test(out_of_range_fields_rejected),
        cmocka_unit_test(random_and_mutated_input),
        cmocka_unit_test(other_version_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
