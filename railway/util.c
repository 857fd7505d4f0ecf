/* util.c: the railway client's small pure helpers: names of classes, statuses, operations and
 * token scopes, the serving deployment, the seeded PRNG and backoff, token scrubbing, text
 * cleaning and id checks. */
#include "rw_int.h"

#include <assert.h>
#include <string.h>

static const char *const class_names[] = {
    [RW_OK] = "ok",
    [RW_ERR_AUTH] = "auth",
    [RW_ERR_RATE_LIMIT] = "rate_limit",
    [RW_ERR_SERVER] = "server",
    [RW_ERR_NETWORK] = "network",
    [RW_ERR_TIMEOUT] = "timeout",
    [RW_ERR_GRAPHQL] = "graphql",
    [RW_ERR_NOT_JSON] = "not_json",
    [RW_ERR_BAD_ANSWER] = "bad_answer",
    [RW_ERR_PRECONDITION] = "precondition",
    [RW_ERR_DEPLOY_FAILED] = "deploy_failed",
    [RW_ERR_INTERNAL] = "internal",
};

static const char *const status_names[] = {
    [RW_ST_UNKNOWN] = "UNKNOWN",
    [RW_ST_BUILDING] = "BUILDING",
    [RW_ST_CRASHED] = "CRASHED",
    [RW_ST_DEPLOYING] = "DEPLOYING",
    [RW_ST_FAILED] = "FAILED",
    [RW_ST_INITIALIZING] = "INITIALIZING",
    [RW_ST_NEEDS_APPROVAL] = "NEEDS_APPROVAL",
    [RW_ST_QUEUED] = "QUEUED",
    [RW_ST_REMOVED] = "REMOVED",
    [RW_ST_REMOVING] = "REMOVING",
    [RW_ST_SKIPPED] = "SKIPPED",
    [RW_ST_SLEEPING] = "SLEEPING",
    [RW_ST_SUCCESS] = "SUCCESS",
    [RW_ST_WAITING] = "WAITING",
};

static const char *const op_names[] = {
    [RW_OP_RESTART] = "restart",
    [RW_OP_REDEPLOY] = "redeploy",
    [RW_OP_ROLLBACK] = "rollback",
    [RW_OP_DEPLOYMENT] = "deployment",
    [RW_OP_INSTANCE] = "instance",
    [RW_OP_LIST] = "list",
    [RW_OP_CHECK_TOKEN] = "check_token",
    [RW_OP_CALL] = "call",
};

static const char *const scope_names[] = {
    [RW_SCOPE_UNKNOWN] = "unknown",
    [RW_SCOPE_PROJECT] = "project",
    [RW_SCOPE_ACCOUNT] = "account",
    [RW_SCOPE_WORKSPACE] = "workspace",
};

const char *rw_token_scope_name(rw_token_scope s)
{
    if ((unsigned)s >= sizeof scope_names / sizeof scope_names[0])
        return "unknown";
    return scope_names[s];
}

/* Went live later, else created later; equal: the first listed stays. */
static bool newer(const rw_deployment *a, const rw_deployment *b)
{
    if (a->live_since_ms != b->live_since_ms)
        return a->live_since_ms > b->live_since_ms;
    return a->created_ms > b->created_ms;
}

bool rw__reached(rw_class cls, bool accepted, bool maybe_ran)
{
    if (accepted || maybe_ran)
        return true;
    switch (cls) {
    case RW_ERR_AUTH:
    case RW_ERR_RATE_LIMIT:
    case RW_ERR_SERVER:
    case RW_ERR_NETWORK:
    case RW_ERR_TIMEOUT:
    case RW_ERR_NOT_JSON:
    case RW_ERR_INTERNAL:
        return false; /* Railway never got the request, or never answered it: no attempt */
    default:
        return true; /* it answered, definitively: trying again gets the same answer */
    }
}

const rw_deployment *rw_serving_deployment(const rw_deployment *active, size_t n)
{
    const rw_deployment *best = NULL, *sleeping = NULL;
    for (size_t i = 0; active && i < n; i++) {
        const rw_deployment *d = &active[i];
        if (d->status == RW_ST_SUCCESS && (!best || newer(d, best)))
            best = d;
        else if (d->status == RW_ST_SLEEPING && (!sleeping || newer(d, sleeping)))
            sleeping = d;
    }
    return best ? best : sleeping;
}

const char *rw_class_name(rw_class c)
{
    if ((unsigned)c >= sizeof class_names / sizeof class_names[0])
        return "invalid";
    return class_names[c];
}

const char *rw_status_name(rw_status s)
{
    if ((unsigned)s >= sizeof status_names / sizeof status_names[0])
        return "UNKNOWN";
    return status_names[s];
}

const char *rw_op_name(rw_op_kind k)
{
    if ((unsigned)k >= sizeof op_names / sizeof op_names[0])
        return "invalid";
    return op_names[k];
}

rw_status rw_status_parse(const char *s)
{
    if (!s)
        return RW_ST_UNKNOWN;
    for (size_t i = 1; i < sizeof status_names / sizeof status_names[0]; i++)
        if (strcmp(s, status_names[i]) == 0)
            return (rw_status)i;
    return RW_ST_UNKNOWN;
}

uint64_t rw__prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t rw__backoff_ms(unsigned retry, uint32_t base_ms, uint32_t max_ms, uint64_t *prng)
{
    assert(prng);
    if (retry == 0)
        retry = 1;
    if (max_ms < base_ms)
        max_ms = base_ms;
    uint64_t d = base_ms;
    for (unsigned i = 1; i < retry && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    uint64_t half = d / 2;
    uint64_t r = rw__prng_next(prng);
    return (d - half) + (half ? r % (half + 1) : 0);
}

void rw__scrub(char *s, size_t cap, const char *secret)
{
    static const char mark[] = "[redacted]";
    if (!s || !secret || !*secret || cap == 0)
        return;
    size_t sl = strlen(secret), ml = sizeof mark - 1;
    char *p = s;
    while ((p = strstr(p, secret)) != NULL) {
        size_t tail = strlen(p + sl);
        size_t at = (size_t)(p - s);
        /* The mark may be longer than the secret: the tail is cut to fit, never the mark. */
        if (at + ml >= cap) {
            *p = '\0';
            return;
        }
        if (at + ml + tail >= cap)
            tail = cap - 1 - at - ml;
        memmove(p + ml, p + sl, tail);
        memcpy(p, mark, ml);
        p[ml + tail] = '\0';
        p += ml;
    }
}

void rw__clean_text(char *dst, size_t cap, const char *src, size_t len)
{
    if (cap == 0)
        return;
    size_t n = 0;
    for (size_t i = 0; src && i < len && n + 1 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch == '\0')
            break;
        dst[n++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    dst[n] = '\0';
}

bool rw__valid_id(const char *s)
{
    if (!s || !*s)
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                  ch == '_' || ch == '.';
        if (!ok || n + 1 >= RW_ID_MAX)
            return false;
    }
    return true;
}
