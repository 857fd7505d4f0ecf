/* fuzz_ledger_entry.c: libFuzzer target for ledger entries, the Raft log's payloads. The input
 * is decoded whole (CRC and all), then read as a script of entries (u16 length + bytes, each
 * given a valid CRC so that mutations reach the body decoder and the apply code) applied to a
 * ledger. Besides crashes it checks: a decoded entry re-encodes to the same bytes, and the
 * state after the script survives a snapshot round trip byte for byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remedy/remedy.h"
#include "remedy/ledger_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const uint8_t *buf, size_t len)
{
    md_ledger_entry e;
    if (md_ledger_entry_decode(buf, len, &e) != 0)
        return;
    uint8_t *again;
    size_t n;
    if (md_ledger_entry_encode(&e, &again, &n) != 0)
        abort();
    if (n != len || memcmp(again, buf, n) != 0)
        abort();
    free(again);
}

static void check_snapshot(const md_ledger *l, const char *const *names, size_t n_names)
{
    uint8_t *s1, *s2;
    size_t l1, l2;
    md_ledger *copy;
    if (md_ledger_snapshot(l, &s1, &l1) || md_ledger_new(names, n_names, &copy))
        abort();
    if (md_ledger_restore(copy, s1, l1) || md_ledger_snapshot(copy, &s2, &l2))
        abort();
    if (l1 != l2 || memcmp(s1, s2, l1) != 0)
        abort();
    free(s1);
    free(s2);
    md_ledger_free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = { "web", "api", "db" };
    uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees any read past the end */
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    check_round_trip(copy, size);
    free(copy);

    md_ledger *l;
    if (md_ledger_new(names, 3, &l))
        abort();
    uint64_t index = 1;
    for (size_t at = 0; at + 2 <= size;) {
        size_t n = (size_t)data[at] | (size_t)data[at + 1] << 8;
        at += 2;
        if (n > size - at)
            n = size - at;
        uint8_t *e = malloc(n + 4);
        if (!e)
            break;
        memcpy(e, data + at, n);
        uint32_t crc = md__ledger_crc32c(e, n);
        for (int i = 0; i < 4; i++)
            e[n + i] = (uint8_t)(crc >> (8 * i));
        check_round_trip(e, n + 4);
        md_ledger_event ev;
        (void)md_ledger_apply(l, index++, e, n + 4, &ev);
        free(e);
        at += n;
    }
    check_snapshot(l, names, 3);
    md_ledger_free(l);
    return 0;
}
