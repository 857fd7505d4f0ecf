/* ledger_int.h: what the ledger's own files share: the state behind md_ledger, and the wire
 * primitives of its entry and snapshot codecs (little-endian, CRC-32C trailer). */
#ifndef MD_LEDGER_INT_H
#define MD_LEDGER_INT_H

#include "remedy.h"
#include "util.h"

struct md_ledger {
    size_t n;
    md_ledger_service *svc;                          /* n, in the order given to md_ledger_new */
    uint32_t *by_name;                               /* n indexes into svc, sorted by name (lookups) */
    char *names;                                     /* the services' names, one block (svc[i].name) */
    md_ledger_incident *closed[MD_LEDGER_MAX_CLOSED]; /* a ring, closed_first the oldest */
    size_t closed_first;
    size_t closed_n;
    uint64_t last_index;
};

/* Growable output buffer (util.h's writer: start it with md__lw_start); bad sticks, so writes
 * need no checks until the end. */
typedef ut_wr md__lw;

static inline void md__lw_start(md__lw *w) { ut_wr_init(w, SIZE_MAX); }
static inline void md__lw_u8(md__lw *w, uint8_t v) { ut_wr_u8(w, v); }
static inline void md__lw_u16(md__lw *w, uint16_t v) { ut_wr_u16(w, v); }
static inline void md__lw_u32(md__lw *w, uint32_t v) { ut_wr_u32(w, v); }
static inline void md__lw_u64(md__lw *w, uint64_t v) { ut_wr_u64(w, v); }
void md__lw_name(md__lw *w, const char *s);            /* u8 length + bytes; s already valid */
void md__lw_text(md__lw *w, const char *p, size_t n);  /* u16 length + bytes, cleaned and cut */
/* md__lw_finish appends the CRC of everything written; returns 0 or -ENOMEM (buffer freed). */
int md__lw_finish(md__lw *w);

/* Bounds-checked input (util.h's reader); bad sticks, reads after it return zeros. */
typedef ut_rd md__lr;

uint64_t md__lr_n(md__lr *r, int n);                   /* ut_rd_le: n bytes, little-endian */
bool md__lr_bool(md__lr *r);
int64_t md__lr_time(md__lr *r);                        /* in [0, MD_LEDGER_TIME_MAX] */
/* md__lr_name reads a name into out (MD_LEDGER_NAME_MAX + 1 bytes); empty only if allowed. */
void md__lr_name(md__lr *r, char *out, bool allow_empty);
/* md__lr_text reads a text, borrowed from the input, which must already be clean. */
md_ledger_text md__lr_text(md__lr *r);
/* md__lr_open checks the CRC trailer and sets r over what precedes it; false if bad. */
bool md__lr_open(md__lr *r, const uint8_t *buf, size_t len);

uint32_t md__ledger_crc32c(const uint8_t *p, size_t n);
bool md__ledger_name_ok(const char *s, size_t n, bool allow_empty);
bool md__ledger_time_ok(int64_t t);

/* md__ledger_strdup: a NUL-terminated copy of n bytes into *out; n == 0 gives a shared "".
 * Returns 0 or -ENOMEM. md__ledger_strfree frees only what md__ledger_strdup allocated. */
int md__ledger_strdup(const char *p, size_t n, const char **out);
void md__ledger_strfree(const char *s);

/* md__ledger_alloc: an empty ledger over the given names (checked as in md_ledger_new). */
int md__ledger_alloc(const char *const *names, size_t n, md_ledger **out);
/* md__ledger_clear frees every incident and text, leaving the services empty. */
void md__ledger_clear(md_ledger *l);
void md__ledger_incident_free(md_ledger_incident *inc);
/* md__ledger_more_empty: the state of a service that never had an entry, shared by all of them. */
extern const md_ledger_service_more md__ledger_more_empty;
/* md__ledger_more: s's own (writable) state beyond its open incident, allocated (empty) if s still
 * shares md__ledger_more_empty; NULL out of memory, with s unchanged. */
md_ledger_service_more *md__ledger_more(md_ledger_service *s);
/* md__ledger_more_free frees what m holds (texts, intent times) but not m itself. */
void md__ledger_more_free(md_ledger_service_more *m);
/* md__ledger_more_is_empty: m says nothing md__ledger_more_empty does not. */
bool md__ledger_more_is_empty(const md_ledger_service_more *m);
/* md__ledger_push_closed appends to the ring, freeing the oldest when full (takes inc). */
void md__ledger_push_closed(md_ledger *l, md_ledger_incident *inc);

#endif
