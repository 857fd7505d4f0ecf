/* util.h: medic's small shared helpers, one copy each for every module: little-endian integers
 * in byte buffers, a bounds-checked reader and a bounded writer over them (the codecs of
 * consensus/, transport/, the ledger and the observations), an intrusive doubly linked list (the
 * node's shells and the Railway client), and the UTF-8 sanitiser that makes outside text safe
 * for logs, JSON and the ledger (the actuators, the alerts, the ledger). Pure: libc only, no I/O
 * (the writer's heap buffer is its only allocation), so consensus/, transport/ and railway/ may
 * use it as well as node/. */
#ifndef UT_UTIL_H
#define UT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- little-endian integers ---- */

/* ut_put_le16 writes v at p in 2 little-endian bytes; returns p + 2. */
static inline uint8_t *ut_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

/* ut_put_le32 writes v at p in 4 little-endian bytes; returns p + 4. */
static inline uint8_t *ut_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}

/* ut_put_le64 writes v at p in 8 little-endian bytes; returns p + 8. */
static inline uint8_t *ut_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 8;
}

/* ut_get_le16 reads 2 little-endian bytes at p (the caller checked they are there). */
static inline uint16_t ut_get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* ut_get_le32 reads 4 little-endian bytes at p (the caller checked they are there). */
static inline uint32_t ut_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ut_get_le64 reads 8 little-endian bytes at p (the caller checked they are there). */
static inline uint64_t ut_get_le64(const uint8_t *p)
{
    return (uint64_t)ut_get_le32(p) | (uint64_t)ut_get_le32(p + 4) << 32;
}

/* ---- bounds-checked reader ---- */

/* A reader over borrowed bytes (not owned). It never reads past the end: the first short read
 * sets bad, which sticks, and every read after it returns 0 (or NULL), so a decoder may read all
 * its fields and check bad once. */
typedef struct {
    const uint8_t *p; /* the next unread byte */
    size_t left;      /* bytes left from p */
    bool bad;         /* a read ran short */
} ut_rd;

/* ut_rd_init sets r over len bytes at buf (borrowed); a NULL buf reads as empty. */
void ut_rd_init(ut_rd *r, const void *buf, size_t len);

/* ut_rd_bytes consumes n bytes and returns a pointer to them (into the buffer), or NULL and sets
 * bad when fewer than n are left. */
const uint8_t *ut_rd_bytes(ut_rd *r, size_t n);

/* ut_rd_le consumes an n-byte (1 to 8) little-endian unsigned integer; 0 and bad when short. */
uint64_t ut_rd_le(ut_rd *r, size_t n);

/* ut_rd_u8 consumes one byte; 0 and bad when short. */
static inline uint8_t ut_rd_u8(ut_rd *r) { return (uint8_t)ut_rd_le(r, 1); }

/* ut_rd_u16 consumes a little-endian u16; 0 and bad when short. */
static inline uint16_t ut_rd_u16(ut_rd *r) { return (uint16_t)ut_rd_le(r, 2); }

/* ut_rd_u32 consumes a little-endian u32; 0 and bad when short. */
static inline uint32_t ut_rd_u32(ut_rd *r) { return (uint32_t)ut_rd_le(r, 4); }

/* ut_rd_u64 consumes a little-endian u64; 0 and bad when short. */
static inline uint64_t ut_rd_u64(ut_rd *r) { return ut_rd_le(r, 8); }

/* ut_rd_done: every byte read, none left over, no short read. */
static inline bool ut_rd_done(const ut_rd *r) { return !r->bad && r->left == 0; }

/* ---- bounded writer ---- */

/* A writer appends into its own heap buffer (ut_wr_init: grows up to max bytes, owned by the
 * writer until ut_wr_free) or into a caller's fixed buffer (ut_wr_fixed: borrowed). Overflow or
 * out-of-memory sets bad, which sticks; the bytes are then garbage, so an encoder may write all
 * its fields and check bad once. */
typedef struct {
    uint8_t *p;  /* the bytes written so far */
    size_t len;  /* bytes written */
    size_t cap;  /* bytes allocated (or the fixed buffer's size) */
    size_t max;  /* len never exceeds this */
    bool owned;  /* p is the writer's own heap buffer */
    bool bad;    /* a write did not fit */
} ut_wr;

/* ut_wr_init starts an empty writer with its own heap buffer, which grows up to max bytes. */
void ut_wr_init(ut_wr *w, size_t max);

/* ut_wr_fixed starts an empty writer into buf (cap bytes, borrowed), which never grows. */
void ut_wr_fixed(ut_wr *w, uint8_t *buf, size_t cap);

/* ut_wr_room makes room for n more bytes and returns where they go (w->p + w->len; the caller
 * fills them and adds what it used to w->len), or NULL and sets bad when they do not fit. */
uint8_t *ut_wr_room(ut_wr *w, size_t n);

/* ut_wr_bytes appends n bytes from src; nothing (and bad set) when they do not fit. */
void ut_wr_bytes(ut_wr *w, const void *src, size_t n);

/* ut_wr_u8 appends one byte. */
static inline void ut_wr_u8(ut_wr *w, uint8_t v) { ut_wr_bytes(w, &v, 1); }

/* ut_wr_u16 appends v in 2 little-endian bytes. */
static inline void ut_wr_u16(ut_wr *w, uint16_t v)
{
    uint8_t b[2];
    ut_wr_bytes(w, b, (size_t)(ut_put_le16(b, v) - b));
}

/* ut_wr_u32 appends v in 4 little-endian bytes. */
static inline void ut_wr_u32(ut_wr *w, uint32_t v)
{
    uint8_t b[4];
    ut_wr_bytes(w, b, (size_t)(ut_put_le32(b, v) - b));
}

/* ut_wr_u64 appends v in 8 little-endian bytes. */
static inline void ut_wr_u64(ut_wr *w, uint64_t v)
{
    uint8_t b[8];
    ut_wr_bytes(w, b, (size_t)(ut_put_le64(b, v) - b));
}

/* ut_wr_free frees the writer's own buffer (not a fixed one) and empties it. */
void ut_wr_free(ut_wr *w);

/* ---- intrusive doubly linked list ---- */

/* A link lives inside the listed struct; the list owns nothing. A link is on at most one list at
 * a time; ut_list_entry gets the struct back from its link. */
typedef struct ut_link {
    struct ut_link *prev, *next; /* NULL at the ends */
} ut_link;

/* A list: zero-initialised ({0}) is empty. */
typedef struct {
    ut_link *head, *tail;
} ut_list;

/* ut_list_push_front puts e (not on any list) first in l. */
static inline void ut_list_push_front(ut_list *l, ut_link *e)
{
    e->prev = NULL;
    e->next = l->head;
    if (l->head)
        l->head->prev = e;
    else
        l->tail = e;
    l->head = e;
}

/* ut_list_push_back puts e (not on any list) last in l. */
static inline void ut_list_push_back(ut_list *l, ut_link *e)
{
    e->next = NULL;
    e->prev = l->tail;
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
}

/* ut_list_remove takes e, which is on l, off it (its pointers are then NULL). */
static inline void ut_list_remove(ut_list *l, ut_link *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
}

/* ut_list_pop_front takes the first link off l and returns it; NULL when l is empty. */
static inline ut_link *ut_list_pop_front(ut_list *l)
{
    ut_link *e = l->head;
    if (e)
        ut_list_remove(l, e);
    return e;
}

/* ut_list_empty: l holds no link. */
static inline bool ut_list_empty(const ut_list *l) { return l->head == NULL; }

/* ut__owner is the struct whose link member at offset off is e; NULL for a NULL e. */
static inline void *ut__owner(const ut_link *e, size_t off)
{
    return e ? (void *)((char *)(uintptr_t)e - off) : NULL;
}

/* ut_list_entry(link, type, member): the type that holds link as its member; NULL for NULL. */
#define ut_list_entry(link, type, member) ((type *)ut__owner((link), offsetof(type, member)))

/* ut_list_first(list, type, member): the first entry of *list, or NULL. */
#define ut_list_first(list, type, member) ut_list_entry((list)->head, type, member)

/* ut_list_next(e, type, member): the entry after e (a type *), or NULL. */
#define ut_list_next(e, type, member) ut_list_entry((e)->member.next, type, member)

/* ---- UTF-8 ---- */

/* ut_utf8_clean flags. */
enum {
    UT_UTF8_ONE_LINE = 1 /* stop at the first '\n' or '\r' (not copied) */
};

/* ut_utf8_len is the length (1 to 4) of the valid UTF-8 character at p (n > 0 bytes there), or 0
 * when it is not one: a stray continuation byte, an overlong form, a surrogate, a code point
 * above U+10FFFF, or a sequence cut by the end. Any ASCII byte, NUL included, is length 1. */
size_t ut_utf8_len(const void *p, size_t n);

/* ut_utf8_clean copies n bytes from in to out (room for max bytes; no NUL is added), making them
 * valid UTF-8 without control bytes: every invalid sequence byte, NUL, control byte other than
 * '\t' and '\n', and DEL becomes one '?'. It stops before a character that would not fit in max,
 * so it never cuts one in two. in and out may be the same buffer (the output never runs ahead of
 * the input). Returns the bytes written. */
size_t ut_utf8_clean(char *out, size_t max, const void *in, size_t n, unsigned flags);

/* ut_utf8_is_clean: the n bytes at p are what ut_utf8_clean leaves unchanged (valid UTF-8, no
 * NUL, no control byte other than '\t' and '\n', no DEL). */
bool ut_utf8_is_clean(const void *p, size_t n);

#endif
