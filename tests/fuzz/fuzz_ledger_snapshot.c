/* fuzz_ledger_snapshot.c: libFuzzer target for ledger snapshots (read from disk and received
 * from the leader). The input is restored as is, and again with a valid CRC appended so that
 * mutations reach the structure decoder. Besides crashes it checks: a failed restore leaves
 * the ledger unchanged, and a restored state snapshots to bytes that restore to the same state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remedy/remedy.h"
#include "remedy/ledger_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_restore(const uint8_t *buf, size_t len)
{
    static const char *const names[] = { "web", "api", "db" };
    md_ledger *l, *m;
    uint8_t *before, *s1, *s2;
    size_t lb, l1, l2;
    if (md_ledger_new(names, 3, &l) || md_ledger_new(names, 3, &m) || md_ledger_snapshot(l, &before, &lb))
        abort();
    if (md_ledger_restore(l, buf, len) != 0) {
        if (md_ledger_snapshot(l, &s1, &l1) || l1 != lb || memcmp(s1, before, lb) != 0)
            abort();
    } else {
        if (md_ledger_snapshot(l, &s1, &l1) || md_ledger_restore(m, s1, l1) || md_ledger_snapshot(m, &s2, &l2))
            abort();
        if (l1 != l2 || memcmp(s1, s2, l1) != 0)
            abort();
        free(s2);
    }
    free(s1);
    free(before);
    md_ledger_free(l);
    md_ledger_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size + 4); /* exact sizes: ASan sees any read past the end */
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    try_restore(buf, size);
    uint32_t crc = md__ledger_crc32c(buf, size);
    for (int i = 0; i < 4; i++)
        buf[size + i] = (uint8_t)(crc >> (8 * i));
    try_restore(buf, size + 4);
    free(buf);
    return 0;
}
