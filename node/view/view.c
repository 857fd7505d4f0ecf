/* view.c: refcounted immutable views and the holder that publishes the current one.
 *
 * The loop thread publishes; readers (the API on the loop, or any other thread) take a reference
 * and render from it. References are counted atomically, so the last unref may happen on any
 * thread; the holder's mutex only guards the pointer swap. */
#include "view.h"

#include <assert.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(MD_VIEW_C_N == MD_COUNTS_N, "a view keeps the monitor's counters as they are");

const double md_duration_bucket_le[MD_DURATION_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

/* The view's own memory: strings (md_view_strdup) and blocks (md_view_calloc) are cut from
 * chunks, each chunk one malloc, all freed with the view. A view of 10,000 services holds 40,000
 * small pieces (names, targets, causes, the cluster's observations): one calloc each cost 24-40
 * bytes of headers and rounding apiece, a tenth of the view. Chunks start small (a view of a few
 * services stays small) and double up to CHUNK_MAX; a block over a quarter of that gets a node of
 * its own. The union keeps blocks aligned for any type. */
#define CHUNK_MIN 1024
#define CHUNK_MAX (64 * 1024)
#define ALIGN_ANY (_Alignof(max_align_t))

/* Under AddressSanitizer a chunk is poisoned and each piece unpoisoned as it is cut, with a
 * poisoned gap after it, so an overrun of a piece is still caught as it was with one calloc each. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define PIECE_MIN_ALIGN 8
#define PIECE_GAP 8
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define PIECE_MIN_ALIGN 1
#define PIECE_GAP 0
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

typedef struct str_node {
    struct str_node *next;
    size_t used, cap;      /* bytes of u cut off, and u's size (0 for a block of its own) */
    union {
        char s[1];
        max_align_t align;
    } u;
} str_node;

struct md_shared_text {
    int refs;
    char *text;
};

/* One reference to a shared text a view holds; freed (and unref'd) with the view. */
typedef struct share_node {
    struct share_node *next;
    md_shared_text *t;
} share_node;

/* The public struct is the first member, so a md_view pointer converts back to this. */
typedef struct {
    md_view pub;
    str_node *strings;     /* every chunk and block, newest first */
    str_node *cur;         /* the chunk pieces are cut from, or NULL */
    size_t next_chunk;     /* the size of the next chunk */
    share_node *shared;
} view_priv;

struct md_view_holder {
    pthread_mutex_t mu;
    md_view *cur;         /* one reference owned by the holder, or NULL */
    md_view_refresh_fn refresh; /* optional; called by get before it takes the pointer */
    void *refresh_ctx;
};

md_view *md_view_alloc(size_t n_services)
{
    view_priv *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    if (n_services > 0) {
        p->pub.services = calloc(n_services, sizeof(*p->pub.services));
        if (p->pub.services == NULL) {
            free(p);
            return NULL;
        }
    }
    p->pub.n_services = n_services;
    p->pub.refs = 1;
    return &p->pub;
}

/* view_mem returns bytes of zeroed memory aligned to align (a power of two), or NULL. */
static void *view_mem(view_priv *p, size_t bytes, size_t align)
{
    if (align < PIECE_MIN_ALIGN) {
        align = PIECE_MIN_ALIGN;
    }
    str_node *c = p->cur;
    if (c != NULL) {
        size_t at = (c->used + align - 1) & ~(align - 1);
        if (at <= c->cap && bytes <= c->cap - at) {
            c->used = at + bytes + PIECE_GAP;
            UNPOISON(c->u.s + at, bytes);
            return c->u.s + at;
        }
    }
    if (bytes > CHUNK_MAX / 4) { /* a block of its own, behind the current chunk */
        str_node *node = calloc(1, offsetof(str_node, u) + bytes);
        if (node == NULL) {
            return NULL;
        }
        node->next = p->strings;
        p->strings = node;
        return node->u.s;
    }
    size_t cap = p->next_chunk ? p->next_chunk : CHUNK_MIN;
    while (cap < bytes) {
        cap *= 2;
    }
    str_node *node = calloc(1, offsetof(str_node, u) + cap);
    if (node == NULL) {
        return NULL;
    }
    POISON(node->u.s + bytes, cap - bytes);
    node->cap = cap;
    node->used = bytes + PIECE_GAP;
    node->next = p->strings;
    p->strings = node;
    p->cur = node;
    p->next_chunk = cap < CHUNK_MAX ? cap * 2 : CHUNK_MAX;
    return node->u.s;
}

const char *md_view_strdup(md_view *s, const char *str)
{
    assert(s != NULL);
    if (str == NULL) {
        return NULL;
    }
    size_t n = strlen(str);
    char *copy = view_mem((view_priv *)s, n + 1, 1);
    if (copy == NULL) {
        return NULL;
    }
    memcpy(copy, str, n + 1);
    return copy;
}

void *md_view_calloc(md_view *s, size_t bytes)
{
    assert(s != NULL);
    return view_mem((view_priv *)s, bytes ? bytes : 1, ALIGN_ANY);
}

const md_history *md_view_history(md_view *s, const md_history *h)
{
    assert(s != NULL && h != NULL);
    md_history *copy = md_view_calloc(s, sizeof(*copy) + md_history_bytes(h));
    if (copy == NULL) {
        return NULL;
    }
    md_history_clone(copy, h, (uint8_t *)(copy + 1));
    return copy;
}

md_shared_text *md_shared_text_adopt(char *text)
{
    if (text == NULL) {
        return NULL;
    }
    md_shared_text *t = malloc(sizeof(*t));
    if (t == NULL) {
        free(text);
        return NULL;
    }
    t->refs = 1;
    t->text = text;
    return t;
}

const char *md_shared_text_str(const md_shared_text *t)
{
    assert(t != NULL);
    return t->text;
}

void md_shared_text_unref(md_shared_text *t)
{
    if (t == NULL) {
        return;
    }
    int after = __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL);
    assert(after >= 0);
    if (after == 0) {
        free(t->text);
        free(t);
    }
}

const char *md_view_share(md_view *s, md_shared_text *t)
{
    assert(s != NULL);
    if (t == NULL) {
        return NULL;
    }
    view_priv *p = (view_priv *)s;
    share_node *node = malloc(sizeof(*node));
    if (node == NULL) {
        return NULL;
    }
    int before = __atomic_fetch_add(&t->refs, 1, __ATOMIC_RELAXED);
    assert(before > 0);
    (void)before;
    node->t = t;
    node->next = p->shared;
    p->shared = node;
    return t->text;
}

const md_view_service *md_view_find(const md_view *s, const char *name)
{
    assert(s != NULL && name != NULL);
    for (size_t i = 0; i < s->n_services; i++) {
        if (s->services[i].name != NULL && strcmp(s->services[i].name, name) == 0) {
            return &s->services[i];
        }
    }
    return NULL;
}

md_view *md_view_ref(md_view *s)
{
    assert(s != NULL);
    int before = __atomic_fetch_add(&s->refs, 1, __ATOMIC_RELAXED);
    assert(before > 0);
    (void)before;
    return s;
}

static void view_free(md_view *s)
{
    view_priv *p = (view_priv *)s;
    free(s->services);
    while (p->strings != NULL) {
        str_node *next = p->strings->next;
        UNPOISON(p->strings->u.s, p->strings->cap); /* free's own checks read no further */
        free(p->strings);
        p->strings = next;
    }
    while (p->shared != NULL) {
        share_node *next = p->shared->next;
        md_shared_text_unref(p->shared->t);
        free(p->shared);
        p->shared = next;
    }
    free(p);
}

void md_view_unref(md_view *s)
{
    if (s == NULL) {
        return;
    }
    /* acq_rel: the thread that frees must see every other thread's reads as finished. */
    int after = __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
    assert(after >= 0);
    if (after == 0) {
        view_free(s);
    }
}

md_view_holder *md_view_holder_new(void)
{
    md_view_holder *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

void md_view_holder_publish(md_view_holder *h, md_view *s)
{
    assert(h != NULL);
    pthread_mutex_lock(&h->mu);
    md_view *old = h->cur;
    h->cur = s;
    pthread_mutex_unlock(&h->mu);
    md_view_unref(old); /* outside the lock: freeing may take a while */
}

static md_view *holder_get(md_view_holder *h, unsigned wants)
{
    assert(h != NULL);
    pthread_mutex_lock(&h->mu);
    md_view_refresh_fn fn = h->refresh;
    void *ctx = h->refresh_ctx;
    pthread_mutex_unlock(&h->mu);
    if (fn != NULL) {
        fn(ctx, wants); /* unlocked: the hook publishes, which takes the lock itself */
    }
    pthread_mutex_lock(&h->mu);
    md_view *s = h->cur ? md_view_ref(h->cur) : NULL;
    pthread_mutex_unlock(&h->mu);
    return s;
}

md_view *md_view_holder_get(md_view_holder *h)
{
    return holder_get(h, 0);
}

md_view *md_view_holder_get_full(md_view_holder *h)
{
    return holder_get(h, MD_VIEW_WANT_HISTORIES);
}

md_view *md_view_holder_get_for(md_view_holder *h, unsigned wants)
{
    return holder_get(h, wants);
}

void md_view_holder_set_refresh(md_view_holder *h, md_view_refresh_fn fn, void *ctx)
{
    assert(h != NULL);
    pthread_mutex_lock(&h->mu);
    h->refresh = fn;
    h->refresh_ctx = ctx;
    pthread_mutex_unlock(&h->mu);
}

void md_view_holder_free(md_view_holder *h)
{
    if (h == NULL) {
        return;
    }
    md_view_unref(h->cur);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
