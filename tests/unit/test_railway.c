/* test_railway.c: unit tests for the Railway client's pure parts: answer classification (a table
 * of canned statuses, headers and bodies -> class, retry, safe-to-resend), the extractors over
 * the schema's shapes (live-since, the token check), jittered backoff with an injected PRNG,
 * the rate-limit headers, pacing and the poll backoff, the serving deployment, reached per
 * class, token scrubbing, the documents, and the operation machinery driven by a hand-cranked
 * host with its own clock (no network): a missing token, a refused transfer, no callback inside
 * rw_start, cancel, an unreachable API and the request budget ending an operation unreached. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rw_int.h"

/* ---- classification table ---- */

typedef struct {
    const char *name;
    rw__transport tr;
    long http;
    const char *ctype;
    const char *body;
    long retry_after_s;
    rw_class cls;
    bool retryable, not_executed;
    const char *in_summary; /* a fragment the summary must hold, or NULL */
} cls_case;

#define JSON "application/json; charset=utf-8"
#define GQLERR(msg, code) "{\"errors\":[{\"message\":\"" msg "\",\"extensions\":{\"code\":\"" code "\"}}],\"data\":null}"

static const cls_case cases[] = {
    {"ok", RW_TR_OK, 200, JSON, "{\"data\":{\"deploymentRestart\":true}}", -1, RW_OK, false, false, "HTTP 200"},
    {"ok without content type", RW_TR_OK, 200, NULL, "{\"data\":{}}", -1, RW_OK, false, false, NULL},
    {"ok with empty errors", RW_TR_OK, 200, JSON, "{\"errors\":[],\"data\":{}}", -1, RW_OK, false, false, NULL},
    {"not authorized", RW_TR_OK, 200, JSON, "{\"errors\":[{\"message\":\"Not Authorized\"}],\"data\":null}", -1,
     RW_ERR_AUTH, false, false, "Not Authorized"},
    {"project token not found", RW_TR_OK, 200, JSON,
     "{\"errors\":[{\"message\":\"Project Token not found\"}],\"data\":null}", -1, RW_ERR_AUTH, false, false,
     "Project Token not found"},
    {"two factor", RW_TR_OK, 200, JSON,
     "{\"errors\":[{\"message\":\"Two Factor Authentication Required\",\"extensions\":{\"workspaceName\":\"w\"}}]}",
     -1, RW_ERR_AUTH, false, false, NULL},
    {"auth in a later error wins", RW_TR_OK, 200, JSON,
     "{\"errors\":[{\"message\":\"boom\"},{\"message\":\"Not Authorized\"}],\"data\":null}", -1, RW_ERR_AUTH, false,
     false, "Not Authorized"},
    {"internal server error", RW_TR_OK, 200, JSON, GQLERR("Problem processing request", "INTERNAL_SERVER_ERROR"), -1,
     RW_ERR_SERVER, true, false, "INTERNAL_SERVER_ERROR"},
    {"validation 400", RW_TR_OK, 400, JSON, GQLERR("Cannot query field", "GRAPHQL_VALIDATION_FAILED"), -1,
     RW_ERR_GRAPHQL, false, false, "GRAPHQL_VALIDATION_FAILED"},
    {"bad user input", RW_TR_OK, 200, JSON, GQLERR("Deployment not found", "BAD_USER_INPUT"), -1, RW_ERR_GRAPHQL,
     false, false, "Deployment not found"},
    {"429 with Retry-After", RW_TR_OK, 429, JSON, "{\"errors\":[{\"message\":\"Rate limit\"}]}", 7, RW_ERR_RATE_LIMIT,
     true, true, "Retry-After 7s"},
    {"429 without Retry-After", RW_TR_OK, 429, "text/plain", "slow down", -1, RW_ERR_RATE_LIMIT, true, true,
     "no Retry-After"},
    {"rate limit as a GraphQL error", RW_TR_OK, 200, JSON, GQLERR("You hit the rate limit", "RATE_LIMITED"), -1,
     RW_ERR_RATE_LIMIT, true, true, NULL},
    {"503 html", RW_TR_OK, 503, "text/html", "<html><title>503 Service Unavailable</title></html>", -1, RW_ERR_SERVER,
     true, true, "503 Service Unavailable"},
    {"502 html", RW_TR_OK, 502, "text/html", "<html><title>502</title></html>", -1, RW_ERR_SERVER, true, false, NULL},
    {"500 json without errors", RW_TR_OK, 500, JSON, "{\"data\":null}", -1, RW_ERR_SERVER, true, false, "HTTP 500"},
    {"cloudflare 403", RW_TR_OK, 403, "text/html; charset=UTF-8",
     "<!DOCTYPE html><html><head><title>Access denied | backboard.railway.com used Cloudflare to restrict "
     "access</title></head></html>",
     -1, RW_ERR_NOT_JSON, true, true, "Access denied"},
    {"html 200", RW_TR_OK, 200, "text/html", "<html><body>hi</body></html>", -1, RW_ERR_NOT_JSON, true, false, NULL},
    {"truncated json", RW_TR_OK, 200, JSON, "{\"data\":{", -1, RW_ERR_NOT_JSON, true, false, NULL},
    {"json array", RW_TR_OK, 200, JSON, "[1,2]", -1, RW_ERR_NOT_JSON, true, false, NULL},
    {"empty body", RW_TR_OK, 200, JSON, "", -1, RW_ERR_NOT_JSON, true, false, NULL},
    {"no data object", RW_TR_OK, 200, JSON, "{\"data\":3}", -1, RW_ERR_BAD_ANSWER, false, false, "data"},
    {"redirect", RW_TR_OK, 301, "text/html", "{}", -1, RW_ERR_BAD_ANSWER, false, false, "redirected"},
    {"401 json", RW_TR_OK, 401, JSON, "{}", -1, RW_ERR_AUTH, false, false, "401"},
    {"401 plain", RW_TR_OK, 401, "text/plain", "nope", -1, RW_ERR_AUTH, false, false, NULL},
    {"connect refused", RW_TR_CONNECT, 0, NULL, NULL, -1, RW_ERR_NETWORK, true, true, "could not reach"},
    {"timeout", RW_TR_TIMEOUT, 0, NULL, NULL, -1, RW_ERR_TIMEOUT, true, false, "timed out"},
    {"reset", RW_TR_IO, 0, NULL, NULL, -1, RW_ERR_NETWORK, true, false, "mid-request"},
};

static void test_classify_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const cls_case *c = &cases[i];
        rw__answer a;
        rw__classify(&a, c->tr, "detail", c->http, c->ctype, c->body, c->body ? strlen(c->body) : 0,
                     c->retry_after_s);
        if (a.cls != c->cls || a.retryable != c->retryable || a.not_executed != c->not_executed ||
            (c->in_summary && !strstr(a.summary, c->in_summary)))
            fail_msg("case '%s': got class %s retry %d safe %d summary '%s'", c->name, rw_class_name(a.cls),
                     a.retryable, a.not_executed, a.summary);
        if (c->cls == RW_OK)
            assert_non_null(a.data);
        rw__answer_free(&a);
    }
}

static void test_retry_after_ms(void **state)
{
    (void)state;
    rw__answer a;
    rw__classify(&a, RW_TR_OK, NULL, 429, NULL, "", 0, 3);
    assert_int_equal(a.retry_after_ms, 3000);
    rw__answer_free(&a);
    rw__classify(&a, RW_TR_OK, NULL, 429, NULL, "", 0, 999999); /* capped at a day */
    assert_int_equal(a.retry_after_ms, 86400u * 1000u);
    rw__answer_free(&a);
}

static void test_summary_is_one_clean_line(void **state)
{
    (void)state;
    rw__answer a;
    const char *body = "{\"errors\":[{\"message\":\"line1\\nline2\\r\\tx\"}]}";
    rw__classify(&a, RW_TR_OK, NULL, 200, JSON, body, strlen(body), -1);
    assert_null(strchr(a.summary, '\n'));
    assert_null(strchr(a.summary, '\r'));
    assert_non_null(strstr(a.summary, "line1 line2"));
    rw__answer_free(&a);
}

/* ---- extractors ---- */

static cJSON *data_of(const char *json, rw__answer *a)
{
    rw__classify(a, RW_TR_OK, NULL, 200, JSON, json, strlen(json), -1);
    assert_int_equal(a->cls, RW_OK);
    return (cJSON *)a->data;
}

#define DEP(id, st, rb) "{\"id\":\"" id "\",\"status\":\"" st "\",\"canRedeploy\":true,\"canRollback\":" rb \
                        ",\"createdAt\":\"2026-01-01T00:00:00.000Z\"}"

static void test_parse_instance(void **state)
{
    (void)state;
    rw__answer a;
    rw_deployment latest, active[4];
    bool has;
    size_t n;
    char err[128];
    cJSON *d = data_of("{\"data\":{\"serviceInstance\":{\"latestDeployment\":" DEP("d2", "BUILDING", "false")
                       ",\"activeDeployments\":[" DEP("d1", "SUCCESS", "false") "]}}}", &a);
    assert_int_equal(rw__parse_instance(d, &latest, &has, active, 4, &n, err, sizeof err), 0);
    assert_true(has);
    assert_string_equal(latest.id, "d2");
    assert_int_equal(latest.status, RW_ST_BUILDING);
    assert_int_equal(n, 1);
    assert_string_equal(active[0].id, "d1");
    assert_int_equal(active[0].status, RW_ST_SUCCESS);
    rw__answer_free(&a);

    d = data_of("{\"data\":{\"serviceInstance\":{\"latestDeployment\":null,\"activeDeployments\":[]}}}", &a);
    assert_int_equal(rw__parse_instance(d, &latest, &has, active, 4, &n, err, sizeof err), 0);
    assert_false(has);
    assert_int_equal(n, 0);
    rw__answer_free(&a);

    /* Schema violations are errors, not guesses. */
    static const char *const bad[] = {
        "{\"data\":{\"serviceInstance\":null}}",
        "{\"data\":{\"serviceInstance\":{\"activeDeployments\":[]}}}",
        "{\"data\":{\"serviceInstance\":{\"latestDeployment\":null,\"activeDeployments\":{}}}}",
        "{\"data\":{\"serviceInstance\":{\"latestDeployment\":{\"id\":\"x\"},\"activeDeployments\":[]}}}",
        "{\"data\":{\"serviceInstance\":{\"latestDeployment\":" DEP("d", "SUCCESS", "\"true\"") ",\"activeDeployments\":[]}}}",
        "{\"data\":{\"serviceInstance\":{\"latestDeployment\":" DEP("bad id;", "SUCCESS", "true") ",\"activeDeployments\":[]}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = data_of(bad[i], &a);
        if (rw__parse_instance(d, &latest, &has, active, 4, &n, err, sizeof err) == 0)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(err, "unexpected answer shape"));
        rw__answer_free(&a);
    }
}

static void test_parse_unknown_status_kept(void **state)
{
    (void)state;
    rw__answer a;
    rw_deployment dep;
    char err[128];
    cJSON *d = data_of("{\"data\":{\"deployment\":" DEP("d9", "HIBERNATING", "true") "}}", &a);
    assert_int_equal(rw__parse_deployment(cJSON_GetObjectItem(d, "deployment"), &dep, err, sizeof err), 0);
    assert_int_equal(dep.status, RW_ST_UNKNOWN);
    assert_true(dep.can_rollback);
    rw__answer_free(&a);
}

static void test_parse_list_and_bool(void **state)
{
    (void)state;
    rw__answer a;
    rw_deployment deps[2];
    size_t n;
    bool b;
    char err[128];
    cJSON *d = data_of("{\"data\":{\"deployments\":{\"edges\":[{\"node\":" DEP("a", "SUCCESS", "false") "},{\"node\":"
                       DEP("b", "REMOVED", "true") "},{\"node\":" DEP("c", "REMOVED", "true") "}],"
                       "\"pageInfo\":{\"hasNextPage\":false,\"endCursor\":\"c\"}}}}", &a);
    assert_int_equal(rw__parse_list(d, deps, 2, &n, err, sizeof err), 0);
    assert_int_equal(n, 2); /* capped */
    assert_string_equal(deps[1].id, "b");
    assert_true(deps[1].can_rollback);
    rw__answer_free(&a);

    d = data_of("{\"data\":{\"deploymentRollback\":true}}", &a);
    assert_int_equal(rw__parse_bool(d, "deploymentRollback", &b, err, sizeof err), 0);
    assert_true(b);
    assert_int_not_equal(rw__parse_bool(d, "deploymentRestart", &b, err, sizeof err), 0);
    rw__answer_free(&a);
    d = data_of("{\"data\":{\"deploymentRollback\":1}}", &a); /* a number is not a Boolean */
    assert_int_not_equal(rw__parse_bool(d, "deploymentRollback", &b, err, sizeof err), 0);
    rw__answer_free(&a);
}

/* ---- backoff ---- */

static void test_backoff_bounds(void **state)
{
    (void)state;
    uint64_t prng = 42;
    for (unsigned r = 1; r <= 12; r++) {
        uint64_t full = 500ull << (r - 1);
        if (full > 8000)
            full = 8000;
        for (int k = 0; k < 200; k++) {
            uint64_t d = rw__backoff_ms(r, 500, 8000, &prng);
            if (d < full - full / 2 || d > full)
                fail_msg("retry %u: %llu outside [%llu, %llu]", r, (unsigned long long)d,
                         (unsigned long long)(full - full / 2), (unsigned long long)full);
        }
    }
    assert_int_equal(rw__backoff_ms(0, 100, 100, &prng) <= 100, 1); /* 0 counts as the first */
    prng = 1;
    assert_int_equal(rw__backoff_ms(1, 0, 0, &prng), 0);
}

static void test_backoff_seeded_and_jittered(void **state)
{
    (void)state;
    uint64_t s1 = 7, s2 = 7, seen[16];
    for (int i = 0; i < 16; i++) {
        seen[i] = rw__backoff_ms(4, 1000, 30000, &s1);
        assert_int_equal(seen[i], rw__backoff_ms(4, 1000, 30000, &s2)); /* same seed, same delays */
    }
    int distinct = 0;
    for (int i = 0; i < 16; i++) {
        bool dup = false;
        for (int k = 0; k < i; k++)
            dup = dup || seen[k] == seen[i];
        distinct += !dup;
    }
    assert_true(distinct >= 8); /* jitter spreads nodes out */
    uint64_t other = 8;
    int differ = 0;
    s1 = 7;
    for (int i = 0; i < 8; i++)
        differ += rw__backoff_ms(2, 1000, 30000, &s1) != rw__backoff_ms(2, 1000, 30000, &other);
    assert_true(differ >= 4);
}

/* ---- scrubbing ---- */

static void test_scrub(void **state)
{
    (void)state;
    char s[128] = "token abc123 and abc123 again";
    rw__scrub(s, sizeof s, "abc123");
    assert_string_equal(s, "token [redacted] and [redacted] again");
    char t[16] = "xxabcxx";
    rw__scrub(t, sizeof t, "abc"); /* the mark is longer than the secret: the tail is cut */
    assert_null(strstr(t, "abc"));
    assert_true(strlen(t) < sizeof t);
    char u[12] = "0123456789";
    rw__scrub(u, sizeof u, "89"); /* no room for the mark at all: cut there */
    assert_null(strstr(u, "89"));
    char v[32] = "nothing here";
    rw__scrub(v, sizeof v, "");
    assert_string_equal(v, "nothing here");
    rw__scrub(v, sizeof v, NULL);
    assert_string_equal(v, "nothing here");
}

static void test_valid_id(void **state)
{
    (void)state;
    assert_true(rw__valid_id("3f1e0000-0000-4000-8000-0000000000e1"));
    assert_false(rw__valid_id(""));
    assert_false(rw__valid_id("a\"b"));
    assert_false(rw__valid_id("a b"));
    char longid[RW_ID_MAX + 2];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_false(rw__valid_id(longid));
}

/* ---- documents ---- */

static void test_documents(void **state)
{
    (void)state;
    char *s = rw_documents_json();
    assert_non_null(s);
    cJSON *arr = cJSON_Parse(s);
    free(s);
    assert_int_equal(cJSON_GetArraySize(arr), RW_DOC_COUNT);
    for (int i = 0; i < RW_DOC_COUNT; i++) {
        const char *t = rw__docs[i].text;
        assert_non_null(strstr(t, rw__docs[i].name));
        assert_non_null(strstr(t, rw__docs[i].field));
        assert_int_equal(rw__docs[i].write, strncmp(t, "mutation", 8) == 0);
    }
    /* Boolean! returns take no sub-selection (the docs' rollback example is wrong). */
    assert_non_null(strstr(rw__docs[RW_DOC_ROLLBACK].text, "deploymentRollback(id: $id) }"));
    assert_non_null(strstr(rw__docs[RW_DOC_RESTART].text, "deploymentRestart(id: $id) }"));
    cJSON_Delete(arr);
}

static void test_names(void **state)
{
    (void)state;
    for (int s = RW_ST_BUILDING; s <= RW_ST_WAITING; s++)
        assert_int_equal(rw_status_parse(rw_status_name((rw_status)s)), s);
    assert_int_equal(rw_status_parse("success"), RW_ST_UNKNOWN);
    assert_string_equal(rw_class_name(RW_ERR_RATE_LIMIT), "rate_limit");
    assert_string_equal(rw_class_name((rw_class)99), "invalid");
    assert_string_equal(rw_op_name(RW_OP_ROLLBACK), "rollback");
}

/* ---- rate-limit headers, pacing, polls ---- */

static void test_rl_headers(void **state)
{
    (void)state;
    rw__rl_headers h = {0};
    static const char l1[] = "X-RateLimit-Limit: 1000\r\n", l2[] = "x-ratelimit-remaining:7\r\n",
                      l3[] = "X-RateLimit-Reset: 1767225600\r\n", other[] = "Content-Type: application/json\r\n",
                      bad1[] = "X-RateLimit-Remaining: lots\r\n", bad2[] = "X-RateLimit-Limit: -5\r\n",
                      bad3[] = "X-RateLimit-Limit: 99999999999999999999999\r\n", frac[] = "X-RateLimit-Reset: 12.5\r\n";
    assert_true(rw__parse_rl_header(l1, sizeof l1 - 1, &h));
    assert_true(rw__parse_rl_header(l2, sizeof l2 - 1, &h));
    assert_true(rw__parse_rl_header(l3, sizeof l3 - 1, &h));
    assert_false(rw__parse_rl_header(other, sizeof other - 1, &h));
    assert_true(h.has_limit && h.has_remaining && h.has_reset);
    assert_int_equal(h.limit, 1000);
    assert_int_equal(h.remaining, 7);
    assert_int_equal(h.reset, 1767225600);
    rw__rl_headers b = {0};
    assert_true(rw__parse_rl_header(bad1, sizeof bad1 - 1, &b));
    assert_true(rw__parse_rl_header(bad2, sizeof bad2 - 1, &b));
    assert_true(rw__parse_rl_header(bad3, sizeof bad3 - 1, &b));
    assert_false(b.has_limit || b.has_remaining); /* malformed: as if absent */
    assert_true(rw__parse_rl_header(frac, sizeof frac - 1, &b));
    assert_true(b.has_reset);
    assert_int_equal(b.reset, 12);
    /* Not NUL-terminated, and a name that only starts the same. */
    static const char pre[] = "X-RateLimit-Limitless: 3";
    assert_false(rw__parse_rl_header(pre, sizeof pre - 1, &b));
    assert_false(rw__parse_rl_header(l1, 10, &b));
}

static void test_reset_in_ms(void **state)
{
    (void)state;
    int64_t now = 1767225600000LL; /* 2026-01-01T00:00:00Z */
    assert_int_equal(rw__reset_in_ms(30, now), 30000);                  /* seconds to go */
    assert_int_equal(rw__reset_in_ms(1767225630LL, now), 30000);        /* epoch seconds */
    assert_int_equal(rw__reset_in_ms(1767225600500LL, now), 500);       /* epoch ms */
    assert_int_equal(rw__reset_in_ms(1767225500LL, now), 0);            /* past */
    assert_int_equal(rw__reset_in_ms(0, now), 0);
    assert_int_equal(rw__reset_in_ms(999999999LL, now), 86400000);      /* capped at a day */
}

static void test_pace_budget(void **state)
{
    (void)state;
    uint64_t ring[3];
    rw__pace p = {.limit = -1, .remaining = -1, .budget = 3, .sent = ring};
    uint64_t t = 5000;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rw__pace_wait_ms(&p, t, 3), 0);
        rw__pace_sent(&p, t);
        t += 1000;
    }
    /* Three in the last hour: the fourth waits until the first is an hour old. */
    assert_int_equal(rw__pace_wait_ms(&p, t, 3), 5000 + RW_PACE_HOUR_MS - t);
    assert_int_equal(rw__pace_sent_in_hour(&p, t), 3);
    /* A background request may use one of the three (half of 3, at least one): it waits until
     * the newest has aged out. */
    assert_int_equal(rw__pace_cap(&p, true), 1);
    assert_int_equal(rw__pace_wait_ms(&p, t, 1), 7000 + RW_PACE_HOUR_MS - t);
    assert_int_equal(rw__pace_wait_ms(&p, 5000 + RW_PACE_HOUR_MS, 3), 0);
    rw__pace_sent(&p, 5000 + RW_PACE_HOUR_MS);
    assert_int_equal(rw__pace_wait_ms(&p, 5000 + RW_PACE_HOUR_MS, 3), 1000); /* now the second */
    assert_int_equal(rw__pace_sent_in_hour(&p, 5000 + RW_PACE_HOUR_MS + 1500), 2);
    /* Never more than the budget in any hour, whatever the order of asking. */
    uint64_t ring2[5];
    rw__pace q = {.limit = -1, .remaining = -1, .budget = 5, .sent = ring2};
    uint64_t now = 1;
    for (int i = 0; i < 40; i++) {
        now += rw__pace_wait_ms(&q, now, 5);
        rw__pace_sent(&q, now);
        assert_true(rw__pace_sent_in_hour(&q, now) <= 5);
        now += 97;
    }
    /* Background requests alone never take more than half. */
    uint64_t ring3[10];
    rw__pace bg = {.limit = -1, .remaining = -1, .budget = 10, .sent = ring3};
    now = 1;
    for (int i = 0; i < 30; i++) {
        now += rw__pace_wait_ms(&bg, now, rw__pace_cap(&bg, true));
        rw__pace_sent(&bg, now);
        assert_true(rw__pace_sent_in_hour(&bg, now) <= 5);
        now += 1000;
    }
    assert_int_equal(rw__pace_wait_ms(&bg, now, rw__pace_cap(&bg, false)), 0); /* the rest is remediation's */
}

static void test_pace_window(void **state)
{
    (void)state;
    uint64_t ring[100];
    rw__pace p = {.limit = -1, .remaining = -1, .budget = 100, .sent = ring};
    rw__rl_headers h = {.has_limit = true, .limit = 100, .has_remaining = true, .remaining = 50,
                        .has_reset = true, .reset = 60};
    rw__pace_observe(&p, &h, 0, 10000, 0);
    assert_int_equal(p.reset_at_ms, 70000);
    rw__pace_sent(&p, 10000);
    assert_int_equal(p.remaining, 49); /* counted down until the next answer */
    assert_int_equal(rw__pace_wait_ms(&p, 10000, 100), 0); /* roomy: no wait */
    /* Few left: spread over the rest of the window, one every T/(R+1) after the last. */
    h.remaining = 5;
    rw__pace_observe(&p, &h, 0, 10000, 0);
    assert_int_equal(rw__pace_wait_ms(&p, 10000, 100), 10000);
    assert_int_equal(rw__pace_wait_ms(&p, 15000, 100), 19166 - 15000); /* 55 s left / 6 */
    /* None left: until the reset; after it, no wait. */
    h.remaining = 0;
    rw__pace_observe(&p, &h, 0, 10000, 0);
    assert_int_equal(rw__pace_wait_ms(&p, 10000, 100), 60000);
    assert_int_equal(rw__pace_wait_ms(&p, 70000, 100), 0);
    /* A small plan: the reserve is RW_PACE_RESERVE_MIN, not a tenth of the limit. */
    rw__rl_headers small = {.has_limit = true, .limit = 20, .has_remaining = true, .remaining = 10,
                            .has_reset = true, .reset = 11};
    rw__pace_observe(&p, &small, 0, 100000, 0);
    rw__pace_sent(&p, 100000); /* remaining 9 */
    assert_int_equal(rw__pace_wait_ms(&p, 100000, 100), 1100);
}

static void test_pace_retry_after(void **state)
{
    (void)state;
    uint64_t ring[10];
    rw__pace p = {.limit = -1, .remaining = -1, .budget = 10, .sent = ring};
    rw__rl_headers none = {0};
    rw__pace_observe(&p, &none, 5000, 1000, 0);
    assert_int_equal(rw__pace_wait_ms(&p, 1000, 10), 5000);
    assert_int_equal(rw__pace_wait_ms(&p, 4000, 10), 2000);
    rw__pace_observe(&p, &none, 1000, 2000, 0); /* a shorter one does not cut the first */
    assert_int_equal(rw__pace_wait_ms(&p, 2000, 10), 4000);
    assert_int_equal(rw__pace_wait_ms(&p, 6000, 10), 0);
}

static void test_poll_interval(void **state)
{
    (void)state;
    static const uint64_t want[] = {2000, 3000, 4500, 6750, 10125, 15000, 15000, 15000};
    for (unsigned n = 0; n < sizeof want / sizeof want[0]; n++)
        assert_int_equal(rw__poll_interval_ms(n, 2000, 15000), want[n]);
    assert_int_equal(rw__poll_interval_ms(100000, 2000, 15000), 15000); /* bounded loop, capped */
    assert_int_equal(rw__poll_interval_ms(3, 500, 100), 500);           /* max below first: first */
}

/* ---- dates, live-since, the serving deployment ---- */

static void test_parse_time(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(rw__parse_time_ms("2026-01-01T00:00:00.000Z", &t), 0);
    assert_int_equal(t, 1767225600000LL);
    assert_int_equal(rw__parse_time_ms("2026-01-01T00:00:01.5Z", &t), 0);
    assert_int_equal(t, 1767225601500LL);
    assert_int_equal(rw__parse_time_ms("2026-01-01T01:00:00+01:00", &t), 0);
    assert_int_equal(t, 1767225600000LL);
    assert_int_equal(rw__parse_time_ms("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(rw__parse_time_ms("2024-02-29T12:00:00.123456Z", &t), 0);
    assert_int_equal(t, 1709208000123LL);
    static const char *const bad[] = {"", "2026-01-01", "2026-01-01T00:00:00", "2026-13-01T00:00:00Z",
                                      "2026-01-01T00:00:00Zjunk", "2026-01-01T00:00:00+0100", "yesterday"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(rw__parse_time_ms(bad[i], &t), -EINVAL);
    assert_int_equal(rw__parse_time_ms(NULL, &t), -EINVAL);
}

#define DEPT(id, st, at) "{\"id\":\"" id "\",\"status\":\"" st "\",\"canRedeploy\":true,\"canRollback\":false," \
                         "\"createdAt\":\"2026-01-01T00:00:00.000Z\",\"statusUpdatedAt\":" at "}"

static void test_parse_live_since(void **state)
{
    (void)state;
    rw__answer a;
    rw_deployment latest, active[4];
    bool has;
    size_t n;
    char err[128];
    cJSON *d = data_of("{\"data\":{\"serviceInstance\":{\"latestDeployment\":" DEPT("b", "BUILDING",
                       "\"2026-01-01T00:10:00.000Z\"") ",\"activeDeployments\":[" DEPT("a", "SUCCESS",
                       "\"2026-01-01T00:05:00.000Z\"") "," DEPT("c", "SUCCESS", "null") "]}}}", &a);
    assert_int_equal(rw__parse_instance(d, &latest, &has, active, 4, &n, err, sizeof err), 0);
    assert_int_equal(latest.live_since_ms, 0); /* not live: only SUCCESS has a live-since */
    assert_int_equal(latest.created_ms, 1767225600000LL);
    assert_int_equal(active[0].live_since_ms, 1767225600000LL + 300000);
    assert_int_equal(active[1].live_since_ms, 0); /* statusUpdatedAt is nullable */
    rw__answer_free(&a);
    d = data_of("{\"data\":{\"deployment\":" DEPT("x", "SUCCESS", "42") "}}", &a);
    rw_deployment dep;
    assert_int_not_equal(rw__parse_deployment(cJSON_GetObjectItem(d, "deployment"), &dep, err, sizeof err), 0);
    rw__answer_free(&a);
}

static rw_deployment dep_of(const char *id, rw_status st, int64_t live, int64_t created)
{
    rw_deployment d;
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "%s", id);
    d.status = st;
    d.live_since_ms = live;
    d.created_ms = created;
    return d;
}

static void test_serving_deployment(void **state)
{
    (void)state;
    /* The overlap: the old one still SUCCESS and listed first; the one that went live last serves. */
    rw_deployment two[] = {dep_of("old", RW_ST_SUCCESS, 1000, 10), dep_of("new", RW_ST_SUCCESS, 5000, 20)};
    assert_string_equal(rw_serving_deployment(two, 2)->id, "new");
    rw_deployment rev[] = {two[1], two[0]};
    assert_string_equal(rw_serving_deployment(rev, 2)->id, "new");
    /* Live-since unknown on both: the newer build. */
    rw_deployment unk[] = {dep_of("a", RW_ST_SUCCESS, 0, 10), dep_of("b", RW_ST_SUCCESS, 0, 30)};
    assert_string_equal(rw_serving_deployment(unk, 2)->id, "b");
    /* Crashed serves nothing; sleeping serves when nothing is SUCCESS. */
    rw_deployment crashed[] = {dep_of("c", RW_ST_CRASHED, 0, 10)};
    assert_null(rw_serving_deployment(crashed, 1));
    rw_deployment mix[] = {dep_of("c", RW_ST_CRASHED, 0, 10), dep_of("s", RW_ST_SLEEPING, 0, 5)};
    assert_string_equal(rw_serving_deployment(mix, 2)->id, "s");
    rw_deployment mix2[] = {dep_of("s", RW_ST_SLEEPING, 0, 50), dep_of("ok", RW_ST_SUCCESS, 100, 5)};
    assert_string_equal(rw_serving_deployment(mix2, 2)->id, "ok");
    assert_null(rw_serving_deployment(NULL, 0));
}

static void test_reached_per_class(void **state)
{
    (void)state;
    static const struct {
        rw_class cls;
        bool reached;
    } t[] = {
        {RW_OK, true}, {RW_ERR_AUTH, false}, {RW_ERR_RATE_LIMIT, false}, {RW_ERR_SERVER, false},
        {RW_ERR_NETWORK, false}, {RW_ERR_TIMEOUT, false}, {RW_ERR_GRAPHQL, true}, {RW_ERR_NOT_JSON, false},
        {RW_ERR_BAD_ANSWER, true}, {RW_ERR_PRECONDITION, true}, {RW_ERR_DEPLOY_FAILED, true},
        {RW_ERR_INTERNAL, false},
    };
    assert_int_equal(sizeof t / sizeof t[0], RW_CLASS_COUNT);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (rw__reached(t[i].cls, false, false) != t[i].reached)
            fail_msg("%s: reached should be %d", rw_class_name(t[i].cls), t[i].reached);
        /* After an accepted mutation (polls failing), or one that may have run: always reached. */
        assert_true(rw__reached(t[i].cls, true, false));
        assert_true(rw__reached(t[i].cls, false, true));
    }
}

static void test_parse_token_check(void **state)
{
    (void)state;
    rw__answer a;
    char err[128];
    rw_token_info t;
    memset(&t, 0, sizeof t);
    cJSON *d = data_of("{\"data\":{\"projectToken\":{\"projectId\":\"p-1\",\"environmentId\":\"e-1\"}}}", &a);
    assert_int_equal(rw__parse_project_token(d, &t, err, sizeof err), 0);
    assert_int_equal(t.scope, RW_SCOPE_PROJECT);
    assert_string_equal(t.project_id, "p-1");
    assert_string_equal(t.environment_id, "e-1");
    rw__answer_free(&a);
    d = data_of("{\"data\":{\"apiToken\":{\"workspaces\":[{\"id\":\"w1\"},{\"id\":\"w2\"},{\"id\":\"w3\"},"
                "{\"id\":\"w4\"},{\"id\":\"w5\"},{\"id\":\"w6\"},{\"id\":\"w7\"},{\"id\":\"w8\"},{\"id\":\"w9\"}]}}}", &a);
    assert_int_equal(rw__parse_api_token(d, &t, err, sizeof err), 0);
    assert_int_equal(t.n_workspaces, RW_WORKSPACES_MAX);
    assert_int_equal(t.n_workspaces_total, 9);
    assert_string_equal(t.workspace_ids[1], "w2");
    rw__answer_free(&a);
    d = data_of("{\"data\":{\"me\":{\"id\":\"u-1\"}}}", &a);
    assert_int_equal(rw__parse_me(d, err, sizeof err), 0);
    rw__answer_free(&a);
    static const char *const bad[] = {
        "{\"data\":{\"projectToken\":{\"projectId\":\"p 1\",\"environmentId\":\"e\"}}}",
        "{\"data\":{\"projectToken\":null}}",
        "{\"data\":{\"apiToken\":{\"workspaces\":[{\"name\":\"x\"}]}}}",
        "{\"data\":{\"apiToken\":{}}}",
        "{\"data\":{\"me\":{}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = data_of(bad[i], &a);
        int e = rw__parse_project_token(d, &t, err, sizeof err) == 0 || rw__parse_api_token(d, &t, err, sizeof err) == 0 ||
                rw__parse_me(d, err, sizeof err) == 0;
        if (e)
            fail_msg("accepted %s", bad[i]);
        rw__answer_free(&a);
    }
}

/* ---- the operation machinery with a hand-cranked host ---- */

typedef struct {
    void (*fire[8])(void *);
    void *arg[8];
    uint64_t delay[8];
    int n, started, cancelled_timers;
    int start_result;
    uint64_t now;     /* the client's clock: crank_timers moves it on */
    CURL *easy;       /* the transfer in flight, to answer with crank_fail */
    rw_xfer_done_fn done;
    void *xarg;
} crank;

static int c_start(void *ctx, CURL *easy, rw_xfer_done_fn done, void *arg)
{
    crank *k = ctx;
    k->started++;
    if (k->start_result == 0) {
        k->easy = easy;
        k->done = done;
        k->xarg = arg;
    }
    return k->start_result;
}
static uint64_t c_now(void *ctx)
{
    return ((crank *)ctx)->now;
}
/* Ends the transfer in flight with a transport failure (nothing was performed: no HTTP status). */
static void crank_fail(crank *k, CURLcode rc)
{
    rw_xfer_done_fn d = k->done;
    assert_non_null(d);
    k->done = NULL;
    d(k->easy, rc, k->xarg);
}
static void c_cancel(void *ctx, CURL *easy)
{
    (void)ctx, (void)easy;
}
static void *c_timer_start(void *ctx, uint64_t ms, void (*fire)(void *), void *arg)
{
    crank *k = ctx;
    if (k->n >= 8)
        return NULL;
    k->fire[k->n] = fire;
    k->arg[k->n] = arg;
    k->delay[k->n] = ms;
    return &k->fire[k->n++];
}
static void c_timer_cancel(void *ctx, void *t)
{
    crank *k = ctx;
    (void)t;
    k->cancelled_timers++;
}
/* Moves the clock to the latest of the timers and fires them, in order (a fired timer is dead). */
static void crank_timers(crank *k)
{
    int n = k->n;
    uint64_t longest = 0;
    for (int i = 0; i < n; i++)
        longest = k->delay[i] > longest ? k->delay[i] : longest;
    k->now += longest;
    k->n = 0;
    for (int i = 0; i < n; i++)
        k->fire[i](k->arg[i]);
}

typedef struct {
    int calls;
    rw_result r;
} got;
static void on_done(const rw_result *r, void *arg)
{
    got *g = arg;
    g->calls++;
    g->r = *r;
}

static rw_client *crank_client_budget(crank *k, const char *token, uint32_t budget)
{
    if (!k->now)
        k->now = 1000000;
    rw_config cfg = {.token = token, .token_env = "RW_TEST_NO_SUCH_VAR", .seed = 1, .budget_per_hour = budget,
                     .host = {.ctx = k, .start = c_start, .cancel = c_cancel, .timer_start = c_timer_start,
                              .timer_cancel = c_timer_cancel, .now_ms = c_now}};
    rw_client *c = NULL;
    assert_int_equal(rw_client_new(&cfg, &c), 0);
    return c;
}

static rw_client *crank_client(crank *k, const char *token)
{
    return crank_client_budget(k, token, 0);
}

static void test_no_token_is_auth(void **state)
{
    (void)state;
    crank k = {0};
    unsetenv("RW_TEST_NO_SUCH_VAR");
    rw_client *c = crank_client(&k, NULL);
    got g = {0};
    rw_request req = {.service_id = "s", .environment_id = "e"};
    assert_int_equal(rw_start(c, RW_OP_RESTART, &req, on_done, &g, NULL), 0);
    assert_int_equal(g.calls, 0); /* never inside rw_start */
    crank_timers(&k);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.r.cls, RW_ERR_AUTH);
    assert_false(g.r.reached);
    assert_int_equal(g.r.attempts, 0);
    assert_non_null(strstr(g.r.summary, "RW_TEST_NO_SUCH_VAR"));
    assert_int_equal(k.started, 0);
    assert_int_equal(rw_running(c), 0);
    rw_client_free(c);
}

static void test_refused_transfer_is_internal(void **state)
{
    (void)state;
    crank k = {.start_result = -5};
    rw_client *c = crank_client(&k, "sekrit-token");
    got g = {0};
    rw_request req = {.deployment_id = "d1"};
    assert_int_equal(rw_start(c, RW_OP_DEPLOYMENT, &req, on_done, &g, NULL), 0);
    crank_timers(&k);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.r.cls, RW_ERR_INTERNAL);
    assert_false(g.r.reached);
    assert_int_equal(k.started, 1);
    assert_null(strstr(g.r.summary, "sekrit-token"));
    rw_client_free(c);
}

static void test_bad_requests_and_cancel(void **state)
{
    (void)state;
    crank k = {0};
    rw_client *c = crank_client(&k, "t");
    got g = {0};
    rw_request none = {0};
    assert_int_equal(rw_start(c, RW_OP_RESTART, &none, on_done, &g, NULL), -EINVAL);
    rw_request inj = {.service_id = "s\"}", .environment_id = "e"};
    assert_int_equal(rw_start(c, RW_OP_RESTART, &inj, on_done, &g, NULL), -EINVAL);
    const char *av[] = {"ok", NULL};
    rw_request badavoid = {.service_id = "s", .environment_id = "e", .avoid = av, .n_avoid = 2};
    assert_int_equal(rw_start(c, RW_OP_ROLLBACK, &badavoid, on_done, &g, NULL), -EINVAL);
    assert_int_equal(rw_start(c, RW_OP_DEPLOYMENT, &none, on_done, &g, NULL), -EINVAL);
    assert_int_equal(rw_running(c), 0);
    uint64_t id = 0;
    rw_request ok = {.service_id = "s", .environment_id = "e"};
    assert_int_equal(rw_start(c, RW_OP_LIST, &ok, on_done, &g, &id), 0);
    assert_int_equal(rw_running(c), 1);
    assert_int_equal(rw_cancel(c, id), 0);
    assert_int_equal(k.cancelled_timers, 1);
    assert_int_equal(rw_cancel(c, id), -ENOENT);
    assert_int_equal(rw_running(c), 0);
    assert_int_equal(g.calls, 0);
    /* rw_client_free with one still running: no callback, nothing leaks. */
    assert_int_equal(rw_start(c, RW_OP_LIST, &ok, on_done, &g, &id), 0);
    rw_client_free(c);
    assert_int_equal(g.calls, 0);
}

static void test_no_timer_no_callback(void **state)
{
    (void)state;
    crank k = {.n = 8}; /* the host cannot start another timer */
    rw_client *c = crank_client(&k, "t");
    got g = {0};
    rw_request ok = {.service_id = "s", .environment_id = "e"};
    assert_int_equal(rw_start(c, RW_OP_INSTANCE, &ok, on_done, &g, NULL), -ENOMEM);
    assert_int_equal(g.calls, 0);
    assert_int_equal(rw_running(c), 0);
    rw_client_free(c);
}

/* An API that cannot be reached: retried until the deadline, then NETWORK, and no attempt. */
static void test_unreachable_is_not_reached(void **state)
{
    (void)state;
    crank k = {0};
    rw_client *c = crank_client(&k, "t");
    got g = {0};
    rw_request req = {.service_id = "s", .environment_id = "e", .deadline_ms = 10000};
    assert_int_equal(rw_start(c, RW_OP_RESTART, &req, on_done, &g, NULL), 0);
    for (int i = 0; i < 100 && g.calls == 0; i++) {
        crank_timers(&k);
        if (k.done)
            crank_fail(&k, CURLE_COULDNT_CONNECT);
    }
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.r.cls, RW_ERR_NETWORK);
    assert_false(g.r.reached);
    assert_true(g.r.attempts >= 3);
    struct rw_stats st;
    rw_stats(c, &st);
    assert_int_equal(st.requests, g.r.attempts);
    assert_int_equal(st.answers[RW_ERR_NETWORK], g.r.attempts);
    assert_int_equal(st.budget_per_hour, RW_DEFAULT_BUDGET_PER_HOUR);
    assert_int_equal(st.limit, -1);
    rw_client_free(c);
}

/* The client's own budget: once spent, a request that would have to wait past the deadline is
 * not sent; the operation ends RATE_LIMIT, unreached, saying when to try again. */
static void test_budget_ends_operation_unreached(void **state)
{
    (void)state;
    crank k = {0};
    rw_client *c = crank_client_budget(&k, "budget-test-token", 2); /* scrubbed from summaries: not "t" */
    got g = {0};
    rw_request req = {.service_id = "s", .environment_id = "e", .deadline_ms = 60000};
    assert_int_equal(rw_start(c, RW_OP_INSTANCE, &req, on_done, &g, NULL), 0);
    for (int i = 0; i < 10 && g.calls == 0; i++) {
        crank_timers(&k);
        if (k.done)
            crank_fail(&k, CURLE_COULDNT_CONNECT);
    }
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.r.cls, RW_ERR_RATE_LIMIT);
    assert_false(g.r.reached);
    assert_int_equal(g.r.attempts, 2);
    assert_true(g.r.retry_after_ms > 3500000 && g.r.retry_after_ms <= 3600000);
    assert_non_null(strstr(g.r.summary, "budget"));
    struct rw_stats st;
    rw_stats(c, &st);
    assert_int_equal(st.requests, 2);
    assert_int_equal(st.sent_last_hour, 2);
    /* With a deadline past the wait, the request waits instead (a throttled wait). */
    got g2 = {0};
    rw_request later = {.service_id = "s", .environment_id = "e", .deadline_ms = 2 * 3600000};
    assert_int_equal(rw_start(c, RW_OP_INSTANCE, &later, on_done, &g2, NULL), 0);
    crank_timers(&k); /* rw_start's first step: paced */
    assert_int_equal(k.started, 2);
    crank_timers(&k); /* the wait */
    assert_int_equal(k.started, 3);
    rw_stats(c, &st);
    assert_int_equal(st.throttled, 1);
    assert_true(st.throttled_ms > 3500000);
    rw_client_free(c);
    assert_int_equal(g2.calls, 0);
}

static void test_config_checks(void **state)
{
    (void)state;
    crank k = {0};
    rw_client *c = NULL;
    rw_config cfg = {.endpoint = "ftp://x", .host = {.ctx = &k, .start = c_start, .cancel = c_cancel,
                                                    .timer_start = c_timer_start, .timer_cancel = c_timer_cancel}};
    assert_int_equal(rw_client_new(&cfg, &c), -EINVAL);
    rw_config nohost = {0};
    assert_int_equal(rw_client_new(&nohost, &c), -EINVAL);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_table),
        cmocka_unit_test(test_retry_after_ms),
        cmocka_unit_test(test_summary_is_one_clean_line),
        cmocka_unit_test(test_parse_instance),
        cmocka_unit_test(test_parse_unknown_status_kept),
        cmocka_unit_test(test_parse_list_and_bool),
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_backoff_seeded_and_jittered),
        cmocka_unit_test(test_scrub),
        cmocka_unit_test(test_valid_id),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_no_token_is_auth),
        cmocka_unit_test(test_refused_transfer_is_internal),
        cmocka_unit_test(test_bad_requests_and_cancel),
        cmocka_unit_test(test_no_timer_no_callback),
        cmocka_unit_test(test_config_checks),
        cmocka_unit_test(test_unreachable_is_not_reached),
        cmocka_unit_test(test_budget_ends_operation_unreached),
        cmocka_unit_test(test_rl_headers),
        cmocka_unit_test(test_reset_in_ms),
        cmocka_unit_test(test_pace_budget),
        cmocka_unit_test(test_pace_window),
        cmocka_unit_test(test_pace_retry_after),
        cmocka_unit_test(test_poll_interval),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_live_since),
        cmocka_unit_test(test_serving_deployment),
        cmocka_unit_test(test_reached_per_class),
        cmocka_unit_test(test_parse_token_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
