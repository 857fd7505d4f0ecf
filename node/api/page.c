/* page.c: finds the dashboard's embedded files and compares and makes the ETags the API sends, so
 * a page polling the node is answered 304 when nothing changed. */
#include "page.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const md__asset *md__page_find(const char *path, size_t len)
{
    for (size_t i = 0; i < md__n_assets; i++) {
        if (strlen(md__assets[i].path) == len && memcmp(md__assets[i].path, path, len) == 0)
            return &md__assets[i];
    }
    return NULL;
}

/* opaque_of strips W/ from tag[0..len) and returns the rest (quotes included) in *b and *n. */
static void opaque_of(const char *tag, size_t len, const char **b, size_t *n)
{
    if (len >= 2 && tag[0] == 'W' && tag[1] == '/') {
        tag += 2;
        len -= 2;
    }
    *b = tag;
    *n = len;
}

bool md__etag_matches(const char *value, size_t len, const char *etag)
{
    assert(etag != NULL);
    const char *want;
    size_t want_len;
    opaque_of(etag, strlen(etag), &want, &want_len);
    size_t i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t start = i;
        while (i < len && value[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (end == start)
            continue;
        if (end - start == 1 && value[start] == '*')
            return true;
        const char *got;
        size_t got_len;
        opaque_of(value + start, end - start, &got, &got_len);
        if (got_len == want_len && memcmp(got, want, got_len) == 0)
            return true;
    }
    return false;
}

void md__etag_view(const md_view *s, char out[64])
{
    assert(s != NULL);
    /* built_ms alone could repeat after a restart (or a clock stepped back): the pid and the
     * start time tell two runs apart, and views are built at most every ~100 ms. */
    snprintf(out, 64, "W/\"v%d-%" PRId64 "-%" PRId64 "\"", s->pid, s->started_ms, s->built_ms);
}

uint64_t md__etag_fold(uint64_t h, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)data[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void md__etag_of_hash(uint64_t h, char out[64])
{
    snprintf(out, 64, "\"d%016" PRIx64 "\"", h);
}

void md__etag_bytes(const char *data, size_t len, char out[64])
{
    md__etag_of_hash(md__etag_fold(MD__ETAG_SEED, data, len), out);
}
