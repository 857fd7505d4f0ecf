/* curl_mem.c: libcurl's allocator in a node (curl_global_init_mem): freed blocks of up to 1 KiB
 * are kept by size class and handed out again, on the loop thread only.
 *
 * Why: libcurl makes about 90 allocations a transfer, and a node keeps 64 transfers in flight, so
 * blocks of one size are freed in bursts of dozens. glibc keeps 7 a size in its per-thread cache;
 * the rest go to its bins, where freeing merges them with their neighbours and the next large
 * request sorts them all again (malloc_consolidate), touching memory that at 10,000 services is
 * out of the cache. Measured with bench/check_instr CACHE=1 at 10,000 services: glibc with a
 * per-thread cache of 1,000 blocks a size took 6% fewer instructions and 28% fewer simulated L2
 * misses a check; that cache can only be set from the environment before the process starts,
 * so this file keeps one for libcurl's blocks. Other threads (libcurl's resolver) allocate and
 * free through malloc directly, so the lists need no lock. */
#include "base.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define GRAIN 16                            /* malloc's alignment, and the header's size */
#define CLASS_MAX 1024                      /* larger blocks are not kept */
#define N_CLASSES (CLASS_MAX / GRAIN)       /* class k holds (k + 1) * GRAIN bytes */
#define KEEP_PER_CLASS 128                  /* two a transfer in flight, at the default 64 */
#define KEEP_BYTES_MAX (512 * 1024)         /* what the lists may hold in all */
#define NO_CLASS UINT32_MAX
#define MAGIC 0x6d63u                       /* "mc": a header this file wrote */

/* Before every block handed to libcurl: GRAIN bytes, so the block keeps malloc's alignment. */
typedef struct {
    uint64_t cap;  /* bytes the block holds */
    uint32_t cls;  /* its class, or NO_CLASS */
    uint32_t magic;
} block_head;
_Static_assert(sizeof(block_head) == GRAIN, "the header keeps blocks aligned");

typedef struct free_block {
    struct free_block *next;
} free_block;

static _Thread_local bool on_cache_thread; /* the thread that installed: the loop's */
static free_block *lists[N_CLASSES];
static uint16_t list_len[N_CLASSES];
static size_t kept_bytes;

static block_head *head_of(void *p)
{
    block_head *h = (block_head *)((char *)p - GRAIN);
    assert(h->magic == MAGIC);
    return h;
}

static void *cm_malloc(size_t n)
{
    if (n == 0)
        n = 1;
    if (n <= CLASS_MAX) {
        uint32_t k = (uint32_t)((n - 1) / GRAIN);
        if (on_cache_thread && lists[k]) {
            free_block *b = lists[k];
            UNPOISON(b, (size_t)(k + 1) * GRAIN);
            lists[k] = b->next;
            list_len[k]--;
            kept_bytes -= (size_t)(k + 1) * GRAIN;
            return b;
        }
        block_head *h = malloc(GRAIN + (size_t)(k + 1) * GRAIN);
        if (!h)
            return NULL;
        *h = (block_head){ .cap = (uint64_t)(k + 1) * GRAIN, .cls = k, .magic = MAGIC };
        return (char *)h + GRAIN;
    }
    if (n > SIZE_MAX - GRAIN)
        return NULL;
    block_head *h = malloc(GRAIN + n);
    if (!h)
        return NULL;
    *h = (block_head){ .cap = n, .cls = NO_CLASS, .magic = MAGIC };
    return (char *)h + GRAIN;
}

static void cm_free(void *p)
{
    if (!p)
        return;
    block_head *h = head_of(p);
    if (h->cls != NO_CLASS && on_cache_thread && list_len[h->cls] < KEEP_PER_CLASS &&
        kept_bytes + h->cap <= KEEP_BYTES_MAX) {
        free_block *b = p;
        b->next = lists[h->cls];
        lists[h->cls] = b;
        list_len[h->cls]++;
        kept_bytes += h->cap;
        POISON(p, h->cap); /* a use after free of a kept block still reports */
        return;
    }
    free(h);
}

static void *cm_realloc(void *p, size_t n)
{
    if (!p)
        return cm_malloc(n);
    block_head *h = head_of(p);
    if (n <= h->cap)
        return p;
    if (h->cls == NO_CLASS) {
        if (n > SIZE_MAX - GRAIN)
            return NULL;
        block_head *g = realloc(h, GRAIN + n);
        if (!g)
            return NULL;
        g->cap = n;
        return (char *)g + GRAIN;
    }
    void *q = cm_malloc(n);
    if (!q)
        return NULL;
    memcpy(q, p, h->cap);
    cm_free(p);
    return q;
}

static void *cm_calloc(size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size)
        return NULL;
    void *p = cm_malloc(nmemb * size);
    if (p)
        memset(p, 0, nmemb * size);
    return p;
}

static char *cm_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = cm_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int md_curl_global_init(void)
{
    on_cache_thread = true;
    return curl_global_init_mem(CURL_GLOBAL_DEFAULT, cm_malloc, cm_free, cm_realloc, cm_strdup, cm_calloc) == CURLE_OK
               ? 0
               : -EIO;
}

void md_curl_global_cleanup(void)
{
    curl_global_cleanup();
    for (size_t k = 0; k < N_CLASSES; k++) {
        while (lists[k]) {
            free_block *b = lists[k];
            UNPOISON(b, (k + 1) * GRAIN);
            lists[k] = b->next;
            free((char *)b - GRAIN);
        }
        list_len[k] = 0;
    }
    kept_bytes = 0;
    on_cache_thread = false;
}

size_t md_curl_mem_kept_bytes(void)
{
    return kept_bytes;
}
