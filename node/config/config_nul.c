/* config_nul.c: finds a \u0000 escape inside a JSON string, which cJSON decodes to a NUL that
 * silently cuts the string short ("http://x/\u0000file" became "http://x/"). cJSON keeps no
 * string lengths, so the check reads the document's own text and names the field it is in. */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bool is_obj;
    size_t idx;  /* arrays: the element being read */
    size_t plen; /* path length of the container itself */
} level;

typedef struct {
    char *buf;
    size_t cap;
} pathbuf;

/* set_path makes buf the first plen bytes, then ".key" (or "key" at the top) or "[idx]". */
static void set_path(pathbuf *pb, const level *top, const char *key, size_t klen)
{
    size_t at = top->plen < pb->cap - 1 ? top->plen : pb->cap - 1;
    char tail[PATH_LEN];
    if (top->is_obj)
        snprintf(tail, sizeof tail, "%s%.*s", at ? "." : "", (int)(klen < PATH_LEN - 2 ? klen : PATH_LEN - 2), key);
    else
        snprintf(tail, sizeof tail, "[%zu]", top->idx);
    snprintf(pb->buf + at, pb->cap - at, "%s", tail);
}

/* scan_string reads the string whose opening quote is at text[i]; returns the index after its
 * closing quote and whether it holds a \u0000 escape. */
static size_t scan_string(const char *text, size_t len, size_t i, bool *nul)
{
    *nul = false;
    for (i++; i < len && text[i] != '"'; i++) {
        if (text[i] != '\\' || i + 1 >= len)
            continue;
        if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
            *nul = true;
        i++; /* the escaped character, so \" and \\ are skipped whole */
    }
    return i + 1;
}

bool md__cfg_find_nul(const char *text, size_t len, char *path, size_t cap, bool *in_key)
{
    /* cJSON accepted the text, so it nests at most CJSON_NESTING_LIMIT (1000) deep. */
    enum { MAX_DEPTH = 1024 };
    level *st = malloc(MAX_DEPTH * sizeof *st);
    pathbuf pb = {path, cap};
    size_t depth = 0;
    bool want_key = false, found = false;
    path[0] = '\0';
    *in_key = false;
    if (!st)
        return false; /* out of memory: the check is skipped, cJSON's parse still stands */
    for (size_t i = 0; i < len && !found;) {
        char c = text[i];
        level *top = depth ? &st[depth - 1] : NULL;
        if (c == '"') {
            bool nul;
            size_t end = scan_string(text, len, i, &nul);
            if (top && top->is_obj && want_key) {
                set_path(&pb, top, text + i + 1, end - i - 2);
                want_key = false;
                *in_key = found = nul;
            } else {
                if (top && !top->is_obj)
                    set_path(&pb, top, NULL, 0);
                found = nul;
            }
            i = end;
            continue;
        }
        if ((c == '{' || c == '[') && depth < MAX_DEPTH) {
            if (top && !top->is_obj)
                set_path(&pb, top, NULL, 0);
            st[depth++] = (level){c == '{', 0, strlen(path)};
            want_key = c == '{';
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        } else if (c == ',' && top) {
            if (top->is_obj)
                want_key = true;
            else
                top->idx++;
        }
        i++;
    }
    free(st);
    return found;
}
