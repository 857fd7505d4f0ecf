/* ledger.c: the ledger's lifecycle, its read accessors and the ring of closed incidents.
 * Applying entries is in ledger_apply.c, snapshots in ledger_snap.c. */
#include "ledger_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int md__ledger_strdup(const char *p, size_t n, const char **out)
{
    if (n == 0) {
        *out = ""; /* a literal, so md__ledger_strfree knows not to free it */
        return 0;
    }
    char *s = malloc(n + 1);
    if (!s)
        return -ENOMEM;
    memcpy(s, p, n);
    s[n] = '\0';
    *out = s;
    return 0;
}

void md__ledger_strfree(const char *s)
{
    /* Every non-empty text was malloc'd by md__ledger_strdup; empty ones are the literal. */
    if (s && s[0])
        free((char *)s);
}

const md_ledger_service_more md__ledger_more_empty = { .paused_by = "", .pause_reason = "", .known_good = "" };

md_ledger_service_more *md__ledger_more(md_ledger_service *s)
{
    if (s->more != &md__ledger_more_empty)
        return (md_ledger_service_more *)s->more; /* the ledger's own, allocated below */
    md_ledger_service_more *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    *m = md__ledger_more_empty;
    s->more = m;
    return m;
}

void md__ledger_more_free(md_ledger_service_more *m)
{
    md__ledger_strfree(m->paused_by);
    md__ledger_strfree(m->pause_reason);
    md__ledger_strfree(m->known_good);
    free(m->recent_intents_ms);
}

bool md__ledger_more_is_empty(const md_ledger_service_more *m)
{
    return !m->paused && !m->paused_by[0] && !m->pause_reason[0] && !m->known_good[0] && !m->known_good_at_ms &&
           !m->paused_at_ms && !m->last_closed.id && !m->n_recent && !m->recent_intents_ms && !m->incidents_total &&
           !m->actions_total;
}

void md__ledger_incident_free(md_ledger_incident *inc)
{
    if (!inc)
        return;
    md__ledger_strfree(inc->votes);
    md__ledger_strfree(inc->close_reason);
    md__ledger_strfree(inc->blocked_reason);
    for (size_t i = 0; i < inc->n_steps; i++)
        md__ledger_strfree(inc->steps[i].detail);
    for (size_t i = 0; i < inc->n_notes; i++)
        md__ledger_strfree(inc->notes[i].text);
    free(inc);
}

static void service_clear(md_ledger_service *s)
{
    if (s->more != &md__ledger_more_empty) {
        md_ledger_service_more *m = (md_ledger_service_more *)s->more;
        md__ledger_more_free(m);
        free(m);
        s->more = &md__ledger_more_empty;
    }
    md__ledger_incident_free((md_ledger_incident *)s->open);
    s->open = NULL;
}

void md__ledger_clear(md_ledger *l)
{
    for (size_t i = 0; i < l->n; i++)
        service_clear(&l->svc[i]);
    for (size_t k = 0; k < l->closed_n; k++)
        md__ledger_incident_free(l->closed[(l->closed_first + k) % MD_LEDGER_MAX_CLOSED]);
    memset(l->closed, 0, sizeof l->closed);
    l->closed_first = l->closed_n = 0;
    l->last_index = 0;
}

typedef struct {
    const char *name;
    uint32_t i;
} named_index;

static int named_index_cmp(const void *a, const void *b)
{
    return strcmp(((const named_index *)a)->name, ((const named_index *)b)->name);
}

/* sort_names fills by_name with the indexes of names in name order; -EINVAL on a duplicate.
 * Sorting once makes duplicates neighbours and lookups a binary search. */
static int sort_names(const char *const *names, size_t n, uint32_t *by_name)
{
    named_index *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        tmp[i] = (named_index){ names[i], (uint32_t)i };
    qsort(tmp, n, sizeof *tmp, named_index_cmp);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(tmp[i - 1].name, tmp[i].name) == 0)
            rc = -EINVAL;
        by_name[i] = tmp[i].i;
    }
    free(tmp);
    return rc;
}

int md__ledger_alloc(const char *const *names, size_t n, md_ledger **out)
{
    if (!names || n == 0 || n > MD_LEDGER_MAX_SERVICES)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!names[i] || !md__ledger_name_ok(names[i], strnlen(names[i], MD_LEDGER_NAME_MAX + 1), false))
            return -EINVAL;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(names[i]) + 1;
    md_ledger *l = calloc(1, sizeof *l);
    if (!l || !(l->svc = calloc(n, sizeof *l->svc)) || !(l->by_name = malloc(n * sizeof *l->by_name)) ||
        !(l->names = malloc(bytes))) {
        if (l) {
            free(l->svc);
            free(l->by_name);
        }
        free(l);
        return -ENOMEM;
    }
    /* The names in one block: one malloc each cost 16-24 bytes more than the name. */
    char *at = l->names;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]) + 1;
        memcpy(at, names[i], len);
        l->svc[i].name = at;
        l->svc[i].more = &md__ledger_more_empty;
        at += len;
    }
    l->n = n;
    int rc = sort_names(names, n, l->by_name);
    if (rc < 0) {
        md_ledger_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int md_ledger_new(const char *const *names, size_t n, md_ledger **out)
{
    assert(out);
    return md__ledger_alloc(names, n, out);
}

void md_ledger_free(md_ledger *l)
{
    if (!l)
        return;
    md__ledger_clear(l);
    free(l->names);
    free(l->svc);
    free(l->by_name);
    free(l);
}

void md__ledger_push_closed(md_ledger *l, md_ledger_incident *inc)
{
    assert(inc && inc->closed != MD_CLOSE_OPEN);
    if (l->closed_n == MD_LEDGER_MAX_CLOSED) {
        md__ledger_incident_free(l->closed[l->closed_first]);
        l->closed[l->closed_first] = NULL;
        l->closed_first = (l->closed_first + 1) % MD_LEDGER_MAX_CLOSED;
        l->closed_n--;
    }
    l->closed[(l->closed_first + l->closed_n) % MD_LEDGER_MAX_CLOSED] = inc;
    l->closed_n++;
}

size_t md_ledger_count(const md_ledger *l)
{
    return l->n;
}

const md_ledger_service *md_ledger_service_at(const md_ledger *l, size_t i)
{
    assert(i < l->n);
    return &l->svc[i];
}

int md_ledger_find(const md_ledger *l, const char *name, size_t *i)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, k = l->by_name[mid];
        int c = strcmp(l->svc[k].name, name);
        if (c == 0) {
            if (i)
                *i = k;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -ENOENT;
}

size_t md_ledger_closed_count(const md_ledger *l)
{
    return l->closed_n;
}

const md_ledger_incident *md_ledger_closed(const md_ledger *l, size_t k)
{
    assert(k < l->closed_n);
    return l->closed[(l->closed_first + l->closed_n - 1 - k) % MD_LEDGER_MAX_CLOSED];
}

uint64_t md_ledger_last_index(const md_ledger *l)
{
    return l->last_index;
}

const md_ledger_step *md_ledger_pending(const md_ledger_incident *inc)
{
    if (!inc || inc->n_steps == 0)
        return NULL;
    const md_ledger_step *last = &inc->steps[inc->n_steps - 1];
    return last->outcome == MD_OUTCOME_NONE ? last : NULL; /* only the last step can be pending */
}
