/* test_railway.c: unit tests for the Railway client's pure parts: answer classification (a table
 * of canned statuses, headers and bodies -> class, retry, safe-to-resend), the extractors over
 * the schema's shapes, jittered backoff with an injected PRNG, token scrubbing, the documents,
 * and the operation machinery driven by a hand-cranked host (no network): a missing token, a
 * refused transfer, no callback inside rw_start, cancel. */
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

/* ---- the operation machinery with a hand-cranked host ---- */

typedef struct {
    void (*fire[8])(void *);
    void *arg[8];
    int n, started, cancelled_timers;
    int start_result;
} crank;

static int c_start(void *ctx, CURL *easy, rw_xfer_done_fn done, void *arg)
{
    crank *k = ctx;
    (void)easy, (void)done, (void)arg;
    k->started++;
    return k->start_result;
}
static void c_cancel(void *ctx, CURL *easy)
{
    (void)ctx, (void)easy;
}
static void *c_timer_start(void *ctx, uint64_t ms, void (*fire)(void *), void *arg)
{
    crank *k = ctx;
    (void)ms;
    if (k->n >= 8)
        return NULL;
    k->fire[k->n] = fire;
    k->arg[k->n] = arg;
    return &k->fire[k->n++];
}
static void c_timer_cancel(void *ctx, void *t)
{
    crank *k = ctx;
    (void)t;
    k->cancelled_timers++;
}
/* Fires the timers that are due, in order (a fired timer is dead). */
static void crank_timers(crank *k)
{
    int n = k->n;
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

static rw_client *crank_client(crank *k, const char *token)
{
    rw_config cfg = {.token = token, .token_env = "RW_TEST_NO_SUCH_VAR", .seed = 1,
                     .host = {.ctx = k, .start = c_start, .cancel = c_cancel, .timer_start = c_timer_start,
                              .timer_cancel = c_timer_cancel}};
    rw_client *c = NULL;
    assert_int_equal(rw_client_new(&cfg, &c), 0);
    return c;
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
