/* rw_int.h: what the railway client's own files share: the GraphQL documents, the answer
 * classifier and extractors (pure: no curl, no clock), backoff with its PRNG, token scrubbing,
 * the rate-limit headers and the pacing decision (pure), and the operation record the request
 * layer and the operations both work on. Tests and the fuzz target may include it; nothing
 * outside railway/ and tests/ does. */
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
    RW_DOC_PROJECT_TOKEN,
    RW_DOC_API_TOKEN,
    RW_DOC_ME,
    /* RW_OP_CALL's documents, in rw_call_doc's order (RW_DOC_CALL_FIRST + call) */
    RW_DOC_REGIONS,
    RW_DOC_PROJECT,
    RW_DOC_ENVIRONMENT,
    RW_DOC_VARIABLES,
    RW_DOC_SERVICE_CREATE,
    RW_DOC_VOLUME_CREATE,
    RW_DOC_VARIABLES_UPSERT,
    RW_DOC_INSTANCE_UPDATE,
    RW_DOC_PROJECT_TOKEN_CREATE,
    RW_DOC_DEPLOY,
    RW_DOC_COUNT
} rw__doc_id;
#define RW_DOC_CALL_FIRST RW_DOC_REGIONS

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
/* The token check's answers: projectToken { projectId environmentId }, apiToken { workspaces
 * { id } }, me { id } (only that it is an object with an id). Fill the matching fields of t. */
int rw__parse_project_token(const cJSON *data, rw_token_info *t, char *err, size_t errlen);
int rw__parse_api_token(const cJSON *data, rw_token_info *t, char *err, size_t errlen);
int rw__parse_me(const cJSON *data, char *err, size_t errlen);
/* rw__parse_time_ms reads a GraphQL DateTime ("2026-12-07T00:50:00.123Z", an offset instead of
 * Z, fractions of any length) as epoch ms. 0, or -EINVAL for anything else. Pure. */
int rw__parse_time_ms(const char *s, int64_t *out);

/* ---- pace.c: the rate-limit headers and the request budget ---- */
/* One answer's rate-limit headers; has_* false when absent or malformed. */
typedef struct {
    bool has_limit, has_remaining, has_reset;
    int64_t limit, remaining;
    int64_t reset;   /* as sent: seconds until the reset, or an epoch time in s or ms */
} rw__rl_headers;

/* rw__parse_rl_header reads one raw header line (curl's "Name: value\r\n", not
 * NUL-terminated) into h when it is X-RateLimit-Limit, -Remaining or -Reset. Returns true when
 * it was one of them. Pure; the fuzz target drives it. */
bool rw__parse_rl_header(const char *line, size_t len, rw__rl_headers *h);
/* rw__reset_in_ms: a Reset value as ms from now. Railway's docs say only "when the window ends";
 * backboard may send seconds to go or an epoch time, told apart by size: at least 1e12 is epoch
 * ms, at least 1e9 epoch s (2001 onwards), smaller is seconds to go. Capped at a day, never
 * negative. Pure. */
uint64_t rw__reset_in_ms(int64_t reset, int64_t now_wall_ms);

#define RW_PACE_HOUR_MS 3600000u
#define RW_PACE_RESERVE_MIN 10 /* the last requests of a server window that are spread out */

/* The client's pacing state: the server's last word and this client's own budget. */
typedef struct {
    int64_t limit, remaining;  /* server's, -1 unknown; remaining counts down as we send */
    uint64_t reset_at_ms;      /* monotonic: when the server's window resets, 0 unknown */
    uint64_t retry_until_ms;   /* monotonic: no request before this (a 429's Retry-After) */
    uint64_t last_sent_ms;     /* monotonic, 0 = never */
    uint32_t budget;           /* per hour, >= 1 */
    uint64_t *sent;            /* ring of the last `budget` send times (monotonic ms) */
    uint32_t n_sent, head;     /* entries used; index of the oldest */
} rw__pace;

/* rw__pace_wait_ms: how long the next request must wait at now (0 = send now). The largest of:
 *  - a Retry-After still running (the server asked for it, for every request of this token);
 *  - the budget: with `cap` requests in the last hour, until enough have aged out of it, so no
 *    rolling hour ever holds more than cap requests (cap is the budget, or half of it for a
 *    background request, so lookups never eat what remediation needs);
 *  - the server's window: nothing left, until it resets; only a few left (at most a tenth of
 *    the limit, at least RW_PACE_RESERVE_MIN), spread evenly over what remains of the window
 *    (one every T/(R+1) after the last), so a burst early in the window cannot leave the node
 *    mute for the rest of it. Above that reserve, no wait: remediation should not be slowed
 *    while the window is roomy.
 * Pure. */
uint64_t rw__pace_wait_ms(const rw__pace *p, uint64_t now_ms, uint32_t cap);
/* rw__pace_cap: the budget a request may use: all of it, or half (at least 1) in the background. */
uint32_t rw__pace_cap(const rw__pace *p, bool background);
/* rw__pace_sent records a request sent at now. */
void rw__pace_sent(rw__pace *p, uint64_t now_ms);
/* rw__pace_observe takes one answer's headers (and a 429's Retry-After, 0 if none). */
void rw__pace_observe(rw__pace *p, const rw__rl_headers *h, uint64_t retry_after_ms, uint64_t now_ms,
                      int64_t now_wall_ms);
/* rw__pace_sent_in_hour counts sends in the hour before now. */
uint32_t rw__pace_sent_in_hour(const rw__pace *p, uint64_t now_ms);

/* rw__poll_interval_ms: the wait before status poll number n (0 = the first): first_ms, then 1.5
 * times longer each time, capped at max_ms. Pure. */
uint64_t rw__poll_interval_ms(unsigned n, uint32_t first_ms, uint32_t max_ms);

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
/* rw__reached: rw_result.reached of an operation that ended with cls, after a mutation was
 * accepted (or adopted) or may have run. Pure. */
bool rw__reached(rw_class cls, bool accepted, bool maybe_ran);
/* rw__valid_id: the shape of an id the client will put into a request or accept from one. */
bool rw__valid_id(const char *s);

#endif
