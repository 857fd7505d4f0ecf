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

const double md_duration_bucket_le[MD_DURATION_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

/* One string copied by md_view_strdup, or a block from md_view_calloc; the list is freed
 * with the view. The union keeps blocks aligned for any type. */
typedef struct str_node {
    struct str_node *next;
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
    str_node *strings;
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

const char *md_view_strdup(md_view *s, const char *str)
{
    assert(s != NULL);
    if (str == NULL) {
        return NULL;
    }
    size_t n = strlen(str);
    char *copy = md_view_calloc(s, n + 1);
    if (copy == NULL) {
        return NULL;
    }
    memcpy(copy, str, n + 1);
    return copy;
}

void *md_view_calloc(md_view *s, size_t bytes)
{
    assert(s != NULL);
    view_priv *p = (view_priv *)s;
    str_node *node = calloc(1, sizeof(*node) + bytes);
    if (node == NULL) {
        return NULL;
    }
    node->next = p->strings;
    p->strings = node;
    return node->u.s;
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

static md_view *holder_get(md_view_holder *h, bool full)
{
    assert(h != NULL);
    pthread_mutex_lock(&h->mu);
    md_view_refresh_fn fn = h->refresh;
    void *ctx = h->refresh_ctx;
    pthread_mutex_unlock(&h->mu);
    if (fn != NULL) {
        fn(ctx, full); /* unlocked: the hook publishes, which takes the lock itself */
    }
    pthread_mutex_lock(&h->mu);
    md_view *s = h->cur ? md_view_ref(h->cur) : NULL;
    pthread_mutex_unlock(&h->mu);
    return s;
}

md_view *md_view_holder_get(md_view_holder *h)
{
    return holder_get(h, false);
}

md_view *md_view_holder_get_full(md_view_holder *h)
{
    return holder_get(h, true);
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
