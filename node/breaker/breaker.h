/* breaker.h: circuit breakers and the active-endpoint rule, as pure code (no clock, no I/O). */
#ifndef MD_BREAKER_H
#define MD_BREAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A service with endpoints (primary first, then backups) gives each endpoint a breaker:
 *
 *   closed    -> open       after `failures` consecutive failures of probes, or `failures`
 *                           consecutive failures of live proxied traffic, whichever comes first
 *                           (each source counts on its own: a proxied success does not hide
 *                           failing probes, nor a probe success failing traffic)
 *   open      -> half-open  once the open period has passed (md_breaker_tick)
 *   half-open -> closed     after `successes` consecutive successes (probes or traffic)
 *   half-open -> open       on any failure, with the open period doubled (up to open_max_ms)
 *
 * A closed breaker that opens again within its current open period of having closed (a flapping
 * endpoint) also doubles the period; one that stayed closed longer starts again at open_ms.
 * Results that arrive while open are ignored: the period is the endpoint's rest.
 *
 * Every call takes now_ms (any monotonic ms clock); nothing here reads a clock. */

typedef enum { MD_BREAKER_CLOSED = 0, MD_BREAKER_OPEN, MD_BREAKER_HALF_OPEN } md_breaker_state;

typedef struct {
    int failures;        /* >= 1 */
    int successes;       /* >= 1 */
    int64_t open_ms;     /* >= 1: the first open period */
    int64_t open_max_ms; /* >= open_ms: the cap on doubling */
} md_breaker_params;

/* Where a result came from: each source has its own run of failures. */
typedef enum { MD_BREAKER_PROBE = 0, MD_BREAKER_TRAFFIC = 1 } md_breaker_source;

typedef struct {
    md_breaker_params p;
    md_breaker_state state;
    int fails[2];            /* consecutive failures while closed, per md_breaker_source */
    int oks;                 /* consecutive successes while half-open */
    int64_t period_ms;       /* the open period in force (doubles on re-open) */
    int64_t open_until_ms;   /* when open: when it turns half-open */
    int64_t since_ms;        /* when it entered its state */
    uint64_t opens;          /* times it opened */
} md_breaker;

/* md_breaker_init: a closed breaker, closed since now_ms. p must satisfy the bounds above. */
void md_breaker_init(md_breaker *b, const md_breaker_params *p, int64_t now_ms);

/* md_breaker_tick moves an open breaker whose period has passed to half-open. Returns whether
 * the state changed. Call it before reading the state or recording a result. */
bool md_breaker_tick(md_breaker *b, int64_t now_ms);

/* md_breaker_record folds in one result (ok or failed) from src at now_ms (ticking first).
 * Returns whether the state changed. */
bool md_breaker_record(md_breaker *b, md_breaker_source src, bool ok, int64_t now_ms);

/* md_breaker_state_name: "closed", "open", "half-open" (static). */
const char *md_breaker_state_name(md_breaker_state s);

/* The active endpoint of a service: which one traffic goes to, chosen locally on each node.
 *
 *   - while the active endpoint's breaker is closed, it stays active, unless an endpoint listed
 *     before it has been closed for at least failback_after_ms: then the first such one takes
 *     over (failback; "before" means nearer the primary);
 *   - when the active endpoint's breaker is not closed (or none is active), the first endpoint
 *     whose breaker is closed takes over at once, however briefly it has been closed;
 *   - when no breaker is closed, none is active (-1).
 * So a primary that flaps never gets traffic back until it has stayed closed failback_after_ms:
 * no ping-pong. */
typedef struct {
    int index;           /* the active endpoint, -1 none */
    int64_t since_ms;    /* when it became active */
    uint64_t switches;   /* times index changed (to another endpoint, or to or from none) */
} md_active;

/* md_active_init: the primary active from now_ms (breakers start closed). */
void md_active_init(md_active *a, int64_t now_ms);

/* md_active_pick applies the rule to the n breakers (already ticked to now_ms) and updates a.
 * Returns whether the active endpoint changed. */
bool md_active_pick(md_active *a, const md_breaker *b, size_t n, int64_t failback_after_ms, int64_t now_ms);

#endif
