/* rw_int.h: what the railway client's own files share: the GraphQL documents, the answer
 * classifier and extractors (pure: no curl, no clock), backoff with its PRNG, token scrubbing,
 * and the operation record the request layer and the operations both work on. Tests and the
 * fuzz target may include it; nothing outside railway/ and tests/ does. */
#ifndef RW_INT_H
#define RW_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "railway.h"

/* ---- documents.c ---- */
typedef enum {
    RW_DOC_INSTANCE = 0,
    RW_DOC_DEPLOYMENT,
    RW_DOC_LIST,
    RW_DOC_RESTART,
    RW_DOC_REDEPLOY,
    RW_DOC_ROLLBACK,
    RW_DOC_COUNT
} rw__doc_id;

typedef struct {
    const char *name;  /* operationName, also sent in the request body */
    const char *field; /* the root field the answer's data carries */
    bool write;        /* a mutation: retried only where it certainly did not run */
    const char *text;
    const char *example_vars; /* JSON, for the schema test */
} rw__doc;

extern const rw__doc rw__docs[RW_DOC_COUNT];

/* ---- answer.c: classify one HTTP exchange ---- */
typedef enum {
    RW_TR_OK = 0,  /* an HTTP answer arrived */
    RW_TR_CONNECT, /* never reached the server (resolve, connect): certainly not executed */
    RW_TR_TIMEOUT, /* timed out after sending, perhaps executed */
    RW_TR_IO,      /* reset, send or receive error mid-exchange, perhaps executed */
} rw__transport;

typedef struct {
    rw_class cls;
    bool retryable;     /* worth another try while the deadline allows */
    bool not_executed;  /* the server certainly did not run it (safe to resend a mutation) */
    uint64_t retry_after_ms;
    cJSON *root;        /* the parsed answer (owned; rw__answer_free) */
    const cJSON *data;  /* root's "data" object when cls == RW_OK */
    char summary[RW_SUMMARY_MAX];
} rw__answer;

/* rw__classify fills a from one exchange. body need not be NUL-terminated; ctype may be NULL;
 * retry_after_s < 0 when absent; detail is curl's error text for a transport failure (may be
 * NULL). Never fails: anything odd becomes a class. */
void rw__classify(rw__answer *a, rw__transport tr, const char *detail, long http, const char *ctype,
                  const char *body, size_t len, long retry_after_s);
void rw__answer_free(rw__answer *a);

/* Extractors over a classified answer's data. Return 0, or -EBADMSG with why in err. */
int rw__parse_deployment(const cJSON *obj, rw_deployment *out, char *err, size_t errlen);
/* serviceInstance: *has_latest says whether latestDeployment was non-null; active gets at most
 * cap entries (the rest are ignored). */
int rw__parse_instance(const cJSON *data, rw_deployment *latest, bool *has_latest, rw_deployment *active,
                       size_t cap, size_t *n_active, char *err, size_t errlen);
int rw__parse_list(const cJSON *data, rw_deployment *deps, size_t cap, size_t *n, char *err, size_t errlen);
int rw__parse_bool(const cJSON *data, const char *field, bool *out, char *err, size_t errlen);

/* ---- util.c ---- */
/* rw__prng_next: splitmix64 over the caller-seeded state. */
uint64_t rw__prng_next(uint64_t *state);
/* rw__backoff_ms: the delay before retry number `retry` (1 = first retry): exponential from
 * base_ms, capped at max_ms, with "equal jitter" (half fixed, half random) so retries from
 * several nodes spread out but never come back at once. Pure. */
uint64_t rw__backoff_ms(unsigned retry, uint32_t base_ms, uint32_t max_ms, uint64_t *prng);
/* rw__scrub replaces every occurrence of secret in s (NUL-terminated, buffer of cap bytes)
 * with "[redacted]". Empty or NULL secret: nothing. */
void rw__scrub(char *s, size_t cap, const char *secret);
/* rw__clean_text copies at most cap-1 bytes of src (len bytes) into dst, replacing control
 * characters with spaces, so server text cannot forge log lines. */
void rw__clean_text(char *dst, size_t cap, const char *src, size_t len);
/* rw__valid_id: the shape of an id the client will put into a request or accept from one. */
bool rw__valid_id(const char *s);

#endif
