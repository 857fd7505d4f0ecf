/* raft_log.c: the core's in-memory log: the entries after the last snapshot, each owning a
 * copy of its data. Storage keeps the durable copy; this one answers term and entry lookups. */
#include "raft_int.h"

#include <stdlib.h>
#include <string.h>

uint64_t raft__last_index(const raft_log *l)
{
    return l->snap_index + l->n;
}

uint64_t raft__last_term(const raft_log *l)
{
    return l->n ? l->e[l->n - 1].term : l->snap_term;
}

raft_entry *raft__entry(const raft_log *l, uint64_t index)
{
    if (index <= l->snap_index || index > raft__last_index(l)) {
        return NULL;
    }
    raft_entry *e = &l->e[index - l->snap_index - 1];
    assert(e->index == index);
    return e;
}

uint64_t raft__term_at(const raft_log *l, uint64_t index)
{
    if (index == l->snap_index) {
        return l->snap_term;
    }
    const raft_entry *e = raft__entry(l, index);
    return e ? e->term : 0;
}

int raft__log_append(raft_log *l, uint64_t term, uint8_t type, const void *data, uint32_t len)
{
    assert(term >= raft__last_term(l));
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        raft_entry *e = realloc(l->e, cap * sizeof *e);
        if (e == NULL) {
            return -ENOMEM;
        }
        l->e = e;
        l->cap = cap;
    }
    uint8_t *copy = NULL;
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL) {
            return -ENOMEM;
        }
        memcpy(copy, data, len);
    }
    l->e[l->n] = (raft_entry){.term = term, .index = raft__last_index(l) + 1, .type = type, .len = len, .data = copy};
    l->n++;
    return 0;
}

void raft__log_truncate(raft_log *l, uint64_t from)
{
    assert(from > l->snap_index);
    while (raft__last_index(l) >= from) {
        l->n--;
        free(l->e[l->n].data);
    }
}

void raft__log_compact(raft_log *l, uint64_t upto)
{
    assert(upto > l->snap_index && upto <= raft__last_index(l));
    size_t drop = (size_t)(upto - l->snap_index);
    uint64_t term = l->e[drop - 1].term;
    for (size_t i = 0; i < drop; i++) {
        free(l->e[i].data);
    }
    memmove(l->e, l->e + drop, (l->n - drop) * sizeof *l->e);
    l->n -= drop;
    l->snap_index = upto;
    l->snap_term = term;
}

void raft__log_reset(raft_log *l, uint64_t snap_index, uint64_t snap_term)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->e[i].data);
    }
    l->n = 0;
    l->snap_index = snap_index;
    l->snap_term = snap_term;
}

void raft__log_free(raft_log *l)
{
    raft__log_reset(l, 0, 0);
    free(l->e);
    l->e = NULL;
    l->cap = 0;
}

/* The largest index <= index whose term is <= term (etcd's findConflictByTerm): the leader's
 * and the follower's logs cannot match above it, so a probe can skip a whole term at once. */
uint64_t raft__find_conflict_by_term(const raft_log *l, uint64_t index, uint64_t term)
{
    if (index > raft__last_index(l)) {
        index = raft__last_index(l);
    }
    while (index > l->snap_index) {
        if (raft__term_at(l, index) <= term) {
            return index;
        }
        index--;
    }
    return index;
}

raft_entry *raft__entries_dup(const raft_entry *src, size_t n)
{
    size_t bytes = n * sizeof(raft_entry);
    for (size_t i = 0; i < n; i++) {
        bytes += src[i].len;
    }
    raft_entry *out = malloc(bytes ? bytes : 1);
    if (out == NULL) {
        return NULL;
    }
    uint8_t *data = (uint8_t *)(out + n);
    for (size_t i = 0; i < n; i++) {
        out[i] = src[i];
        out[i].data = NULL;
        if (src[i].len > 0) {
            memcpy(data, src[i].data, src[i].len);
            out[i].data = data;
            data += src[i].len;
        }
    }
    return out;
}
