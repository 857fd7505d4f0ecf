/* test_config.c: unit tests of the config loader (node/config.c): defaults, overrides, ${VAR},
 * masking, loading from a file and from MEDIC_CONFIG, and one test per kind of bad input, each
 * asserting the exact message (and so the exact field path). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "config_test_util.h"

/* expect_err parses json_sq and requires exactly the message want, -EINVAL and *out untouched. */
static void expect_err(const char *json_sq, const char *want)
{
    const char *json = sq(json_sq);
    char err[MD_CONFIG_ERR_LEN] = "";
    md_config sentinel_storage, *cfg = &sentinel_storage;
    int rc = md_config_parse(json, strlen(json), "t.json", &cfg, err, sizeof err);
    assert_int_equal(rc, -EINVAL);
    assert_ptr_equal(cfg, &sentinel_storage);
    assert_string_equal(err, want);
}

/* A service list wrapped around one service's fields, e.g. svc1("'interval_ms':5"). */
static const char *svc1(const char *fields)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "{'services':[{'name':'a','url':'http://127.0.0.1:9/h'%s%s}]}",
             *fields ? "," : "", fields);
    return buf;
}

static void test_defaults_from_seed(void **state)
{
    (void)state;
    md_config *cfg = ok("{'services':[{'name':'web','url':'https://example.test/health'}]}");
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof host - 1), 0);
    assert_string_equal(cfg->node_id, host);
    assert_string_equal(cfg->node_region, "local");
    assert_string_equal(cfg->api_listen, MD_DEFAULT_API_LISTEN);
    assert_string_equal(cfg->api_host, "127.0.0.1");
    assert_int_equal(cfg->api_port, 8700);
    assert_int_equal(cfg->log_level, 1);
    assert_int_equal(cfg->log_format, MD_LOGFMT_TEXT);
    assert_int_equal(cfg->status_print_interval_ms, MD_DEFAULT_STATUS_PRINT_INTERVAL_MS);
    assert_int_equal(cfg->max_concurrent_checks, MD_DEFAULT_MAX_CONCURRENT_CHECKS);
    assert_string_equal(cfg->origin, "t.json");
    assert_int_equal(cfg->n_secrets, 0);
    assert_int_equal(cfg->n_services, 1);
    const md_service_config *s = &cfg->services[0];
    assert_string_equal(s->name, "web");
    assert_int_equal(s->kind, MD_CHECK_HTTP);
    assert_string_equal(s->url, "https://example.test/health");
    assert_string_equal(s->method, "GET");
    assert_int_equal(s->expect_status, 0);
    assert_null(s->expect_body);
    assert_int_equal(s->n_headers, 0);
    assert_true(s->tls_verify);
    assert_null(s->ca_file);
    assert_true(s->keepalive);
    assert_int_equal(s->interval_ms, MD_DEFAULT_INTERVAL_MS);
    assert_int_equal(s->timeout_ms, MD_DEFAULT_TIMEOUT_MS);
    assert_int_equal(s->slow_ms, MD_DEFAULT_SLOW_MS);
    assert_int_equal(s->failures_before_down, MD_DEFAULT_FAILURES_BEFORE_DOWN);
    assert_int_equal(s->successes_before_up, MD_DEFAULT_SUCCESSES_BEFORE_UP);
    assert_int_equal(s->cert_warn_days, MD_DEFAULT_CERT_WARN_DAYS);
    assert_int_equal(s->trend_window, MD_DEFAULT_TREND_WINDOW);
    assert_int_equal(s->trend_horizon_ms, MD_DEFAULT_TREND_HORIZON_MS);
    assert_true(s->ewma_alpha == MD_DEFAULT_EWMA_ALPHA);
    assert_false(s->prewarm);
    assert_null(s->prewarm_url);
    assert_int_equal(s->prewarm_interval_ms, MD_DEFAULT_PREWARM_INTERVAL_MS);
    /* The seed's numbers, so a changed macro is noticed. */
    assert_int_equal(s->interval_ms, 10000);
    assert_int_equal(s->failures_before_down, 2);
    assert_int_equal(s->slow_ms, 3000);
    assert_int_equal(s->prewarm_interval_ms, 30000);
    md_config_free(cfg);
}

static void test_defaults_and_service_override(void **state)
{
    (void)state;
    md_config *cfg = ok(
        "{'defaults':{'interval_ms':20000,'timeout_ms':4000,'failures_before_down':3,"
        "  'tls_verify':false,'ca_file':'/etc/ca.pem','ewma_alpha':0.5,'trend_window':32},"
        " 'services':["
        "  {'name':'a','url':'http://127.0.0.1:1/'},"
        "  {'name':'b','url':'http://127.0.0.1:2/','interval_ms':30000,'tls_verify':true,"
        "   'ca_file':'/other.pem','failures_before_down':1,'ewma_alpha':1}]}");
    const md_service_config *a = &cfg->services[0], *b = &cfg->services[1];
    assert_int_equal(a->interval_ms, 20000);
    assert_int_equal(a->timeout_ms, 4000);
    assert_int_equal(a->failures_before_down, 3);
    assert_false(a->tls_verify);
    assert_string_equal(a->ca_file, "/etc/ca.pem");
    assert_true(a->ewma_alpha == 0.5);
    assert_int_equal(a->trend_window, 32);
    assert_int_equal(a->slow_ms, MD_DEFAULT_SLOW_MS); /* not in defaults: built-in */
    assert_int_equal(b->interval_ms, 30000);
    assert_int_equal(b->timeout_ms, 4000);
    assert_int_equal(b->failures_before_down, 1);
    assert_true(b->tls_verify);
    assert_string_equal(b->ca_file, "/other.pem");
    assert_true(b->ewma_alpha == 1.0);
    md_config_free(cfg);
}

static void test_all_fields(void **state)
{
    (void)state;
    md_config *cfg = ok(
        "{'node':{'id':'n1','region':'eu-west'},'api':{'listen':'[::1]:9000'},"
        " 'log':{'level':'debug','format':'json'},'status_print_interval_ms':0,"
        " 'services':["
        "  {'name':'api.v2_x-1','url':'https://u@h.test:8443/p?q=1','method':'POST',"
        "   'expect_status':204,'expect_body':'ok','headers':{'X-A':'1','Accept':'text/plain'},"
        "   'keepalive':false,'slow_ms':100,'successes_before_up':2,'cert_warn_days':30,"
        "   'trend_horizon_ms':0,'prewarm':true,'prewarm_interval_ms':5000},"
        "  {'name':'db','tcp':'[fe80::1%eth0]:5432','prewarm_url':'http://h.test/warm'},"
        "  {'name':'cache','tcp':'cache.internal:6379','prewarm':false}]}");
    assert_string_equal(cfg->node_id, "n1");
    assert_string_equal(cfg->node_region, "eu-west");
    assert_string_equal(cfg->api_host, "::1");
    assert_int_equal(cfg->api_port, 9000);
    assert_int_equal(cfg->log_level, 0);
    assert_int_equal(cfg->log_format, MD_LOGFMT_JSON);
    assert_int_equal(cfg->status_print_interval_ms, 0);
    const md_service_config *s = &cfg->services[0];
    assert_string_equal(s->method, "POST");
    assert_int_equal(s->expect_status, 204);
    assert_string_equal(s->expect_body, "ok");
    assert_int_equal(s->n_headers, 2);
    assert_string_equal(s->headers[0].name, "X-A");
    assert_string_equal(s->headers[0].value, "1");
    assert_string_equal(s->headers[1].name, "Accept");
    assert_false(s->keepalive);
    assert_int_equal(s->slow_ms, 100);
    assert_int_equal(s->successes_before_up, 2);
    assert_int_equal(s->cert_warn_days, 30);
    assert_int_equal(s->trend_horizon_ms, 0);
    assert_true(s->prewarm);
    assert_string_equal(s->prewarm_url, s->url); /* prewarm without prewarm_url: the check url */
    assert_int_equal(s->prewarm_interval_ms, 5000);
    s = &cfg->services[1];
    assert_int_equal(s->kind, MD_CHECK_TCP);
    assert_string_equal(s->tcp_host, "fe80::1%eth0");
    assert_int_equal(s->tcp_port, 5432);
    assert_null(s->url);
    assert_null(s->method);
    assert_true(s->prewarm); /* implied by prewarm_url */
    assert_string_equal(s->prewarm_url, "http://h.test/warm");
    s = &cfg->services[2];
    assert_string_equal(s->tcp_host, "cache.internal");
    assert_int_equal(s->tcp_port, 6379);
    assert_false(s->prewarm);
    assert_null(s->prewarm_url);
    md_config_free(cfg);
}

static void test_env_substitution_values(void **state)
{
    (void)state;
    setenv("MD_T_TOKEN", "s3cr3t-value", 1);
    setenv("MD_T_HOST", "127.0.0.1", 1);
    setenv("MD_T_EMPTY", "", 1);
    md_config *cfg = ok(
        "{'node':{'id':'n${MD_T_EMPTY}1'},'services':[{'name':'a',"
        "'url':'http://${MD_T_HOST}:8080/$x{}','expect_body':'${MD_T_TOKEN}${MD_T_TOKEN}',"
        "'headers':{'Authorization':'Bearer ${MD_T_TOKEN}'}}]}");
    const md_service_config *s = &cfg->services[0];
    assert_string_equal(cfg->node_id, "n1");
    assert_string_equal(s->url, "http://127.0.0.1:8080/$x{}");
    assert_string_equal(s->expect_body, "s3cr3t-values3cr3t-value");
    assert_string_equal(s->headers[0].value, "Bearer s3cr3t-value");
    /* The empty value is no secret; the others are recorded once each, longest first. */
    assert_int_equal(cfg->n_secrets, 2);
    assert_string_equal(cfg->secrets[0], "s3cr3t-value");
    assert_string_equal(cfg->secrets[1], "127.0.0.1");
    /* Every variable referenced is named once, empty ones too: exec commands do not inherit them. */
    assert_int_equal(cfg->n_env_names, 3);
    assert_string_equal(cfg->env_names[0], "MD_T_EMPTY");
    assert_string_equal(cfg->env_names[1], "MD_T_HOST");
    assert_string_equal(cfg->env_names[2], "MD_T_TOKEN");
    md_config_free(cfg);
}

static void test_env_missing(void **state)
{
    (void)state;
    unsetenv("API_TOKEN");
    expect_err("{'services':[{'name':'a','url':'http://127.0.0.1/',"
               "'headers':{'Authorization':'Bearer ${API_TOKEN}'}}]}",
               "t.json: services[0].headers.Authorization: environment variable API_TOKEN is not set");
    unsetenv("MD_T_NOPE");
    expect_err("{'defaults':{'ca_file':'${MD_T_NOPE}'},'services':[]}",
               "t.json: defaults.ca_file: environment variable MD_T_NOPE is not set");
}

static void test_env_bad_reference(void **state)
{
    (void)state;
    expect_err("{'node':{'region':'x${MD_T_TOKEN'},'services':[]}",
               "t.json: node.region: unterminated ${ (every ${ starts an environment variable reference)");
    expect_err("{'node':{'region':'${}'},'services':[]}",
               "t.json: node.region: bad environment variable name in ${...} (use A-Z a-z 0-9 _)");
    expect_err("{'node':{'region':'${A-B}'},'services':[]}",
               "t.json: node.region: bad environment variable name in ${...} (use A-Z a-z 0-9 _)");
}

static void test_secret_masked_in_errors(void **state)
{
    (void)state;
    setenv("MD_T_CRLF", "abc\r\nX-Evil: 1", 1);
    expect_err(svc1("'headers':{'X-A':'${MD_T_CRLF}'}"),
               "t.json: services[0].headers.X-A: must not contain CR or LF");
    setenv("MD_T_NAME", "dup-name-secret", 1);
    expect_err("{'services':[{'name':'${MD_T_NAME}','tcp':'h:1'},{'name':'${MD_T_NAME}','tcp':'h:1'}]}",
               "t.json: services[1].name: \"***\" is already used by services[0]");
}

static void test_mask_to_json(void **state)
{
    (void)state;
    setenv("MD_T_SECRET", "hunter2-zz", 1);
    setenv("MD_T_PLAIN", "visible-in-raw", 1);
    md_config *cfg = ok(
        "{'services':[{'name':'a','url':'https://bob:pa55word@h.test/x',"
        "'expect_body':'body ${MD_T_SECRET} end',"
        "'headers':{'X-Custom':'${MD_T_PLAIN}','Authorization':'Basic literal-auth',"
        "'Proxy-Authorization':'lit-proxy','Cookie':'sid=lit-cookie','X-Api-Key':'lit-key',"
        "'X-Auth-Token':'lit-token','Client-Secret':'lit-secret','Db-Password':'lit-pw',"
        "'Accept':'text/plain'}},"
        "{'name':'b','tcp':'h:1','prewarm_url':'http://u:pw2@h.test/w'}]}");
    static const char *const hidden[] = {"hunter2-zz", "visible-in-raw", "literal-auth", "lit-proxy",
                                         "lit-cookie", "lit-key", "lit-token", "lit-secret",
                                         "lit-pw", "pa55word", "pw2@"};
    char *raw = md_config_to_json(cfg, false);
    char *masked = md_config_to_json(cfg, true);
    assert_non_null(raw);
    assert_non_null(masked);
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
        if (!strstr(raw, hidden[i]))
            fail_msg("unmasked output lacks %s:\n%s", hidden[i], raw);
        if (strstr(masked, hidden[i]))
            fail_msg("masked output shows %s:\n%s", hidden[i], masked);
    }
    assert_non_null(strstr(masked, "\"body *** end\""));
    assert_non_null(strstr(masked, "\"X-Custom\":\t\"***\""));
    assert_non_null(strstr(masked, "\"Authorization\":\t\"***\""));
    assert_non_null(strstr(masked, "https://bob:***@h.test/x"));
    assert_non_null(strstr(masked, "http://u:***@h.test/w"));
    assert_non_null(strstr(masked, "\"Accept\":\t\"text/plain\""));
    assert_null(strstr(masked, "\"defaults\""));
    free(raw);
    free(masked);
    md_config_free(cfg);
}

static void test_mask_function(void **state)
{
    (void)state;
    setenv("MD_T_S1", "abc", 1);
    setenv("MD_T_S2", "abcdef", 1);
    setenv("MD_T_S3", "x", 1);
    md_config *cfg = ok("{'node':{'region':'${MD_T_S1}${MD_T_S2}${MD_T_S3}'},"
                              "'services':[{'name':'a','tcp':'h:1'}]}");
    char out[64];
    md_config_mask(cfg, "1abcdef2abc3x4", out, sizeof out);
    assert_string_equal(out, "1***2***3***4");
    /* Truncation keeps the output terminated and never shows part of a secret. */
    md_config_mask(cfg, "abcdef-abcdef", out, 6);
    assert_string_equal(out, "***-");
    md_config_mask(cfg, "no secrets here", out, sizeof out);
    assert_string_equal(out, "no secrets here");
    md_config_free(cfg);
    assert_true(md_config_header_is_sensitive("authorization"));
    assert_true(md_config_header_is_sensitive("X-API-KEY"));
    assert_false(md_config_header_is_sensitive("Accept"));
}

static void test_to_json_roundtrip(void **state)
{
    (void)state;
    md_config *cfg = ok(
        "{'node':{'id':'n1'},'log':{'level':'warn'},"
        "'defaults':{'interval_ms':15000,'ewma_alpha':0.125,'ca_file':'/ca'},"
        "'services':[{'name':'a','url':'http://127.0.0.1:1/','headers':{'X-A':'v'},'expect_status':301,"
        "'prewarm':true},{'name':'b','tcp':'[::1]:22','keepalive':false}]}");
    char *one = md_config_to_json(cfg, false);
    assert_non_null(one);
    md_config *again = NULL;
    char err[MD_CONFIG_ERR_LEN];
    assert_int_equal(md_config_parse(one, strlen(one), "rt", &again, err, sizeof err), 0);
    char *two = md_config_to_json(again, false);
    assert_string_equal(one, two);
    assert_non_null(strstr(one, "\"tcp\":\t\"[::1]:22\""));
    free(one);
    free(two);
    md_config_free(again);
    md_config_free(cfg);
}

static void test_medic_config_env(void **state)
{
    (void)state;
    char err[MD_CONFIG_ERR_LEN];
    md_config *cfg = NULL;
    setenv("MEDIC_CONFIG", sq("{'node':{'id':'from-env'},'services':[{'name':'a','tcp':'h:1'}]}"), 1);
    assert_int_equal(md_config_load(NULL, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg->origin, "MEDIC_CONFIG");
    assert_string_equal(cfg->node_id, "from-env");
    md_config_free(cfg);
    cfg = NULL;
    setenv("MEDIC_CONFIG", sq("{'services':[]}"), 1);
    assert_int_equal(md_config_load(NULL, &cfg, err, sizeof err), -EINVAL);
    assert_string_equal(err, "MEDIC_CONFIG: services: must list at least one service");
    assert_null(cfg);
    unsetenv("MEDIC_CONFIG");
    assert_int_equal(md_config_load(NULL, &cfg, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "MEDIC_CONFIG: not set"));
    assert_null(cfg);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/md_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *json = sq("{'services':[{'name':'f','url':'http://127.0.0.1:1/'}]}\n");
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    char err[MD_CONFIG_ERR_LEN];
    md_config *cfg = NULL;
    assert_int_equal(md_config_load(path, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg->origin, path);
    assert_string_equal(cfg->services[0].name, "f");
    md_config_free(cfg);
    cfg = NULL;
    /* Errors from a file name the file. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\n  \"services\": [,]\n}\n", f);
    fclose(f);
    assert_int_equal(md_config_load(path, &cfg, err, sizeof err), -EINVAL);
    char want[MD_CONFIG_ERR_LEN];
    snprintf(want, sizeof want, "%s: malformed JSON at byte 17 (line 2, column 16)", path);
    assert_string_equal(err, want);
    assert_null(cfg);
    unlink(path);
}

static void test_load_missing_file(void **state)
{
    (void)state;
    char err[MD_CONFIG_ERR_LEN];
    md_config *cfg = NULL;
    assert_int_equal(md_config_load("/nonexistent/medic.json", &cfg, err, sizeof err), -ENOENT);
    assert_string_equal(err, "/nonexistent/medic.json: cannot read: No such file or directory");
    assert_null(cfg);
    assert_int_equal(md_config_load("/tmp", &cfg, err, sizeof err), -EISDIR);
    assert_string_equal(err, "/tmp: cannot read: Is a directory");
    assert_null(cfg);
}

static void test_malformed_json(void **state)
{
    (void)state;
    expect_err("{'services': [}", "t.json: malformed JSON at byte 14 (line 1, column 15)");
    expect_err("{\n'services':\n  [1,,2]}", "t.json: malformed JSON at byte 19 (line 3, column 6)");
    expect_err("", "t.json: malformed JSON at byte 0 (line 1, column 1)");
    expect_err("{'services':[]} x", "t.json: malformed JSON at byte 16 (line 1, column 17)");
}

static void test_not_an_object(void **state)
{
    (void)state;
    expect_err("[{'name':'a'}]", "t.json: the document must be a JSON object");
    expect_err("42", "t.json: the document must be a JSON object");
    expect_err("null", "t.json: the document must be a JSON object");
}

static void test_unknown_keys(void **state)
{
    (void)state;
    expect_err("{'service':[]}", "t.json: service: unknown key");
    expect_err("{'node':{'name':'x'},'services':[]}", "t.json: node.name: unknown key");
    expect_err("{'api':{'port':1},'services':[]}", "t.json: api.port: unknown key");
    expect_err("{'log':{'lvl':'info'},'services':[]}", "t.json: log.lvl: unknown key");
    expect_err("{'defaults':{'intervall_ms':1},'services':[]}", "t.json: defaults.intervall_ms: unknown key");
    expect_err(svc1("'Interval_ms':1"), "t.json: services[0].Interval_ms: unknown key");
}

static void test_service_only_keys_in_defaults(void **state)
{
    (void)state;
    expect_err("{'defaults':{'url':'http://x/'},'services':[]}",
               "t.json: defaults.url: not allowed in defaults (set it on each service)");
    expect_err("{'defaults':{'headers':{}},'services':[]}",
               "t.json: defaults.headers: not allowed in defaults (set it on each service)");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    expect_err(svc1("'interval_ms':20000,'interval_ms':30000"), "t.json: services[0].interval_ms: duplicate key");
    expect_err("{'log':{'level':'info','level':'warn'},'services':[]}", "t.json: log.level: duplicate key");
    expect_err(svc1("'headers':{'X-A':'1','x-a':'2'}"),
               "t.json: services[0].headers.x-a: duplicate header (names are case-insensitive)");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_err(svc1("'interval_ms':'10000'"), "t.json: services[0].interval_ms: must be a positive integer");
    expect_err(svc1("'tls_verify':'yes'"), "t.json: services[0].tls_verify: must be true or false");
    expect_err(svc1("'headers':{'X-A':1}"), "t.json: services[0].headers.X-A: must be a string");
    expect_err(svc1("'headers':['X-A']"),
               "t.json: services[0].headers: must be an object of header names to string values");
    expect_err(svc1("'ca_file':null"), "t.json: services[0].ca_file: must be a string");
    expect_err(svc1("'ewma_alpha':'0.3'"), "t.json: services[0].ewma_alpha: must be a number above 0 and at most 1");
    expect_err("{'services':[{'name':7,'url':'http://h/'}]}", "t.json: services[0].name: must be a string");
    expect_err("{'node':'n1','services':[]}", "t.json: node: must be an object");
    expect_err("{'api':[],'services':[]}", "t.json: api: must be an object");
    expect_err("{'defaults':1,'services':[]}", "t.json: defaults: must be an object");
    expect_err("{'services':{'name':'a'}}", "t.json: services: must be an array of services");
    expect_err("{'services':['a']}", "t.json: services[0]: must be an object");
    expect_err("{'status_print_interval_ms':true,'services':[]}",
               "t.json: status_print_interval_ms: must be a non-negative integer");
}

/* A \u0000 escape would make cJSON cut the string short: it is refused, naming the field. */
static void test_nul_escape(void **state)
{
    (void)state;
    expect_err("{'services':[{'name':'a','url':'http://x/\\u0000file'}]}",
               "t.json: services[0].url: contains \\u0000 (a NUL character), which would cut the string short");
    expect_err(svc1("'headers':{'X-A':'v','X-B':'a\\u0000b'}"),
               "t.json: services[0].headers.X-B: contains \\u0000 (a NUL character), which would cut the string short");
    expect_err(svc1("'headers':{'X-\\u0000':'v'}"),
               "t.json: services[0].headers.X-\\u0000: the key contains \\u0000 (a NUL character)");
    expect_err("{'node':{'id':'n1'},'services':[{'name':'a','url':'http://127.0.0.1:9/'},"
               "{'name':'b','url':'http://127.0.0.1:9/','headers':{'k':['x',{'y':'\\u0000'}]}}]}",
               "t.json: services[1].headers.k[1].y: contains \\u0000 (a NUL character), which would cut the string short");
    /* an escaped backslash before "u0000", other escapes, and \u0000 spelt out are fine */
    md_config *cfg = ok(svc1("'headers':{'X-A':'\\\\u0000 \\\" \\u0041'}"));
    assert_string_equal(cfg->services[0].headers[0].value, "\\u0000 \" A");
    md_config_free(cfg);
}

/* many_services writes n services named s0..s{n-1}, except that service i is named after
 * service rename[i] when rename is given (-1: its own name). */
static char *many_services(size_t n, const long *rename)
{
    size_t cap = n * 64 + 64, at = 0;
    char *json = malloc(cap);
    assert_non_null(json);
    at += (size_t)snprintf(json + at, cap - at, "{\"services\":[");
    for (size_t i = 0; i < n; i++) {
        long name = rename && rename[i] >= 0 ? rename[i] : (long)i;
        at += (size_t)snprintf(json + at, cap - at, "%s{\"name\":\"s%ld\",\"url\":\"http://127.0.0.1:9/\"}",
                               i ? "," : "", name);
    }
    snprintf(json + at, cap - at, "]}");
    return json;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 100,000 services (the most allowed) parse in about linear time: the duplicate-name check
 * compared each name with all before it (5.9 s for 40,000 in a release build, minutes under
 * the sanitizers). The bound is loose for a loaded machine and a sanitized build. */
static void test_many_services(void **state)
{
    (void)state;
    enum { N = 100000 };
    char err[MD_CONFIG_ERR_LEN] = "";
    md_config *cfg = NULL;
    char *json = many_services(N, NULL);
    double t0 = now_s();
    int rc = md_config_parse(json, strlen(json), "t.json", &cfg, err, sizeof err);
    double took = now_s() - t0;
    free(json);
    if (rc != 0)
        fail_msg("%s", err);
    assert_int_equal(cfg->n_services, N);
    md_config_free(cfg);
    if (took > 20.0)
        fail_msg("100,000 services took %.1f s", took);

    /* Duplicates far apart are found; the first duplicate in the file is the one named. */
    long *rename = malloc(N * sizeof *rename);
    assert_non_null(rename);
    for (size_t i = 0; i < N; i++)
        rename[i] = -1;
    rename[N - 1] = 5;
    rename[70000] = 60000;
    rename[80000] = 60000;
    json = many_services(N, rename);
    assert_int_equal(md_config_parse(json, strlen(json), "t.json", &cfg, err, sizeof err), -EINVAL);
    assert_string_equal(err, "t.json: services[70000].name: \"s60000\" is already used by services[60000]");
    free(json);
    free(rename);
}

static void test_fractional_numbers(void **state)
{
    (void)state;
    expect_err(svc1("'interval_ms':1000.5"), "t.json: services[0].interval_ms: must be a positive integer");
    expect_err(svc1("'failures_before_down':2.5"),
               "t.json: services[0].failures_before_down: must be a positive integer");
    expect_err(svc1("'timeout_ms':1e400"), "t.json: services[0].timeout_ms: must be a positive integer");
    /* whole numbers past what a double holds exactly are too large, not "no integer" */
    expect_err(svc1("'interval_ms':9223372036854775807"),
               "t.json: services[0].interval_ms: must be an integer from 1 to 86400000");
    expect_err(svc1("'interval_ms':9007199254740993"),
               "t.json: services[0].interval_ms: must be an integer from 1 to 86400000");
    expect_err(svc1("'interval_ms':1e300"), "t.json: services[0].interval_ms: must be an integer from 1 to 86400000");
    expect_err("{'defaults':{'trend_window':3.1},'services':[]}",
               "t.json: defaults.trend_window: must be an integer from 3 to 32");
    expect_err(svc1("'expect_status':200.5"), "t.json: services[0].expect_status: must be an integer from 100 to 599");
}

static void test_nonpositive_numbers(void **state)
{
    (void)state;
    expect_err(svc1("'interval_ms':0"), "t.json: services[0].interval_ms: must be a positive integer");
    expect_err(svc1("'timeout_ms':-1"), "t.json: services[0].timeout_ms: must be a positive integer");
    expect_err(svc1("'slow_ms':0"), "t.json: services[0].slow_ms: must be a positive integer");
    expect_err(svc1("'failures_before_down':0"), "t.json: services[0].failures_before_down: must be a positive integer");
    expect_err(svc1("'successes_before_up':-2"), "t.json: services[0].successes_before_up: must be a positive integer");
    expect_err(svc1("'prewarm_interval_ms':0"), "t.json: services[0].prewarm_interval_ms: must be a positive integer");
    expect_err(svc1("'cert_warn_days':0"), "t.json: services[0].cert_warn_days: must be a positive integer");
    expect_err(svc1("'trend_horizon_ms':-1"), "t.json: services[0].trend_horizon_ms: must be a non-negative integer");
    expect_err("{'defaults':{'interval_ms':-5},'services':[]}", "t.json: defaults.interval_ms: must be a positive integer");
    expect_err("{'status_print_interval_ms':-1,'services':[]}",
               "t.json: status_print_interval_ms: must be a non-negative integer");
}

static void test_out_of_range(void **state)
{
    (void)state;
    expect_err(svc1("'trend_window':2"), "t.json: services[0].trend_window: must be an integer from 3 to 32");
    expect_err(svc1("'trend_window':33"), "t.json: services[0].trend_window: must be an integer from 3 to 32");
    expect_err(svc1("'ewma_alpha':0"), "t.json: services[0].ewma_alpha: must be a number above 0 and at most 1");
    expect_err(svc1("'ewma_alpha':1.01"), "t.json: services[0].ewma_alpha: must be a number above 0 and at most 1");
    expect_err(svc1("'expect_status':99"), "t.json: services[0].expect_status: must be an integer from 100 to 599");
    expect_err(svc1("'expect_status':600"), "t.json: services[0].expect_status: must be an integer from 100 to 599");
    expect_err(svc1("'interval_ms':86400001"), "t.json: services[0].interval_ms: must be an integer from 1 to 86400000");
    expect_err(svc1("'method':'get'"), "t.json: services[0].method: must be one of GET, HEAD, POST, PUT, OPTIONS");
    expect_err(svc1("'method':'PATCH'"), "t.json: services[0].method: must be one of GET, HEAD, POST, PUT, OPTIONS");
    expect_err("{'max_concurrent_checks':70000,'services':[{'name':'a','tcp':'h:1'}]}",
               "t.json: max_concurrent_checks: must be an integer from 1 to 65536");
    md_config *cfg = ok("{'max_concurrent_checks':7,'services':[{'name':'a','tcp':'h:1'}]}");
    assert_int_equal(cfg->max_concurrent_checks, 7);
    md_config_free(cfg);
}

static void test_timeout_not_below_interval(void **state)
{
    (void)state;
    expect_err(svc1("'interval_ms':5000"), "t.json: services[0].timeout_ms: must be less than interval_ms (5000)");
    expect_err("{'defaults':{'timeout_ms':20000},'services':[{'name':'a','tcp':'h:1','interval_ms':30000},"
               "{'name':'b','tcp':'h:1'}]}",
               "t.json: services[1].timeout_ms: must be less than interval_ms (10000)");
}

static void test_duplicate_names(void **state)
{
    (void)state;
    expect_err("{'services':[{'name':'a','tcp':'h:1'},{'name':'b','tcp':'h:1'},{'name':'a','tcp':'h:1'}]}",
               "t.json: services[2].name: \"a\" is already used by services[0]");
}

static void test_bad_names(void **state)
{
    (void)state;
    expect_err("{'services':[{'url':'http://h/'}]}", "t.json: services[0].name: required");
    expect_err("{'services':[{'name':'','url':'http://h/'}]}",
               "t.json: services[0].name: must be 1-64 characters of A-Z a-z 0-9 . _ -");
    expect_err("{'services':[{'name':'a b','url':'http://h/'}]}",
               "t.json: services[0].name: must be 1-64 characters of A-Z a-z 0-9 . _ -");
    expect_err("{'services':[{'name':'a1234567890123456789012345678901234567890123456789012345678901234',"
               "'url':'http://h/'}]}",
               "t.json: services[0].name: must be 1-64 characters of A-Z a-z 0-9 . _ -");
    expect_err("{'node':{'id':'a/b'},'services':[]}", "t.json: node.id: must be 1-64 characters of A-Z a-z 0-9 . _ -");
}

static void test_url_and_tcp(void **state)
{
    (void)state;
    expect_err("{'services':[{'name':'a','url':'http://h/','tcp':'h:1'}]}",
               "t.json: services[0]: set url or tcp, not both");
    expect_err("{'services':[{'name':'a'}]}",
               "t.json: services[0]: needs url (an HTTP check), tcp (a TCP connect check) or endpoints");
    expect_err("{'services':[{'name':'a','tcp':'h:1','method':'GET'}]}",
               "t.json: services[0].method: only for url checks");
    expect_err("{'services':[{'name':'a','tcp':'h:1','prewarm':true}]}",
               "t.json: services[0].prewarm: a tcp check needs prewarm_url (the URL to keep warm)");
    expect_err(svc1("'prewarm':false,'prewarm_url':'http://h/'"),
               "t.json: services[0].prewarm_url: set while prewarm is false");
}

/* retry_interval_ms: default 1 s, set per service or in defaults; a service's own value above its
 * interval is an error naming it, an inherited one is cut to the interval. */
static void test_retry_interval(void **state)
{
    (void)state;
    md_config *cfg = ok(svc1(""));
    assert_int_equal(cfg->services[0].retry_interval_ms, MD_DEFAULT_RETRY_INTERVAL_MS);
    assert_int_equal(cfg->services[0].retry_interval_ms, 1000);
    md_config_free(cfg);
    cfg = ok(svc1("'retry_interval_ms':250"));
    assert_int_equal(cfg->services[0].retry_interval_ms, 250);
    md_config_free(cfg);
    cfg = ok(svc1("'interval_ms':400,'timeout_ms':100")); /* the default retry is cut to 400 */
    assert_int_equal(cfg->services[0].retry_interval_ms, 400);
    md_config_free(cfg);
    cfg = ok("{'defaults':{'retry_interval_ms':5000},'services':[{'name':'a','url':'http://127.0.0.1:9/h',"
             "'interval_ms':2000,'timeout_ms':1000}]}");
    assert_int_equal(cfg->services[0].retry_interval_ms, 2000);
    md_config_free(cfg);
    expect_err(svc1("'interval_ms':2000,'timeout_ms':1000,'retry_interval_ms':3000"),
               "t.json: services[0].retry_interval_ms: must not be more than interval_ms (2000)");
    expect_err(svc1("'retry_interval_ms':0"), "t.json: services[0].retry_interval_ms: must be a positive integer");
    expect_err("{'defaults':{'retry_interval_ms':'x'},'services':[{'name':'a','url':'http://127.0.0.1:9/h'}]}",
               "t.json: defaults.retry_interval_ms: must be a positive integer");
}

static void test_bad_tcp(void **state)
{
    (void)state;
    static const char *const bad[] = {"localhost", "localhost:", "localhost:0", "localhost:65536", ":80",
                                      "::1:80", "[::1]80", "[::1]:", "h:8a", "h:123456", "h h:80",
                                      "[localhost]:80", "h:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[256];
        snprintf(json, sizeof json, "{'services':[{'name':'a','tcp':'%s'}]}", bad[i]);
        expect_err(json, "t.json: services[0].tcp: must be host:port with port 1-65535 (IPv6 as [::1]:5432)");
    }
    md_config *cfg = ok("{'services':[{'name':'a','tcp':'h:65535'}]}");
    assert_int_equal(cfg->services[0].tcp_port, 65535);
    md_config_free(cfg);
}

static void test_bad_url(void **state)
{
    (void)state;
    expect_err("{'services':[{'name':'a','url':'ftp://h/'}]}",
               "t.json: services[0].url: must start with http:// or https://");
    expect_err("{'services':[{'name':'a','url':'h.test/health'}]}",
               "t.json: services[0].url: must start with http:// or https://");
    expect_err("{'services':[{'name':'a','url':'http:///x'}]}",
               "t.json: services[0].url: must name a host (http://host[:port]/path)");
    expect_err("{'services':[{'name':'a','url':'http://u:p@/x'}]}",
               "t.json: services[0].url: must name a host (http://host[:port]/path)");
    expect_err("{'services':[{'name':'a','url':'http://h/a b'}]}",
               "t.json: services[0].url: must not contain spaces or control characters");
    expect_err(svc1("'prewarm_url':'gopher://h/'"), "t.json: services[0].prewarm_url: must start with http:// or https://");
    md_config *cfg = ok("{'services':[{'name':'a','url':'HTTPS://h.test'}]}");
    md_config_free(cfg);
}

static void test_bad_api_listen(void **state)
{
    (void)state;
    static const char *const bad[] = {"localhost", "127.0.0.1:65536", "[::1]", "::1:8700", ":8700", "127.0.0.1:x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[256];
        snprintf(json, sizeof json, "{'api':{'listen':'%s'},'services':[]}", bad[i]);
        expect_err(json, "t.json: api.listen: must be host:port with port 0-65535 (IPv6 as [::1]:8700)");
    }
    expect_err("{'api':{'listen':8700},'services':[]}", "t.json: api.listen: must be a string");
    /* names are refused here as the server refuses them at start (docs/config.md) */
    static const char *const names[] = {"localhost", "my-host.example", "[fe80::zz]"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char json[256], want[512];
        snprintf(json, sizeof json, "{'api':{'listen':'%s:8700'},'services':[]}", names[i]);
        snprintf(want, sizeof want,
                 "t.json: api.listen: \"%.*s\" is not an IP address: the API listens on a literal address only, "
                 "never a name (127.0.0.1:8700 for this machine alone, 0.0.0.0:8700 for every IPv4 address, [::1]:8700, "
                 "[::]:8700 for every address); host names are for cluster addresses",
                 names[i][0] == '[' ? (int)strlen(names[i]) - 2 : (int)strlen(names[i]), names[i] + (names[i][0] == '['));
        expect_err(json, want);
    }
    md_config *v6 = ok("{'api':{'listen':'[::1]:8700'},'services':[{'name':'a','tcp':'h:1'}]}");
    assert_string_equal(v6->api_host, "::1");
    md_config_free(v6);
    v6 = ok("{'api':{'listen':'[::]:8700'},'services':[{'name':'a','tcp':'h:1'}]}");
    assert_string_equal(v6->api_host, "::");
    md_config_free(v6);
    md_config *cfg = ok("{'api':{'listen':'0.0.0.0:0'},'services':[{'name':'a','tcp':'h:1'}]}");
    assert_string_equal(cfg->api_host, "0.0.0.0");
    assert_int_equal(cfg->api_port, 0);
    md_config_free(cfg);
}

static void test_bad_log(void **state)
{
    (void)state;
    expect_err("{'log':{'level':'verbose'},'services':[]}", "t.json: log.level: must be one of debug, info, warn, error");
    expect_err("{'log':{'level':'INFO'},'services':[]}", "t.json: log.level: must be one of debug, info, warn, error");
    expect_err("{'log':{'format':'xml'},'services':[]}", "t.json: log.format: must be one of text, json");
}

static void test_services_required(void **state)
{
    (void)state;
    expect_err("{'services':[]}", "t.json: services: must list at least one service");
    expect_err("{}", "t.json: services: required (list at least one service)");
}

static void test_bad_headers(void **state)
{
    (void)state;
    expect_err(svc1("'headers':{'X A':'1'}"), "t.json: services[0].headers.X A: not a valid header name");
    expect_err(svc1("'headers':{'':'1'}"), "t.json: services[0].headers.: not a valid header name");
}

/* One record a service: its fields are paired so alignment wastes nothing (440 B before), and the
 * failover and remediation fields (230 B) are out of line (392 B before). */
static void test_service_record_size(void **state)
{
    (void)state;
    assert_true(sizeof(md_service_config) <= 184);
}

/* Services that keep the defaults (with "defaults" applied) share the config's failover and
 * remediation blocks; one with values of its own there has a block of its own, and the
 * other block is still the shared one. */
static void test_blocks_shared(void **state)
{
    (void)state;
    const char *json = sq("{'defaults':{'restart_attempts':5,'failback_after_ms':7000},'services':["
                          "{'name':'a','url':'http://127.0.0.1:9/a'},"
                          "{'name':'b','url':'http://127.0.0.1:9/b','restart_attempts':5,'failback_after_ms':7000},"
                          "{'name':'c','url':'http://127.0.0.1:9/c','redeploy_attempts':0},"
                          "{'name':'d','url':'http://127.0.0.1:9/d','endpoints':['http://127.0.0.1:9/d',"
                          "'http://127.0.0.1:10/d']},"
                          "{'name':'e','url':'http://127.0.0.1:9/e','exec':{'restart':['/bin/true']}}]}");
    md_config *cfg = NULL;
    char err[MD_CONFIG_ERR_LEN] = "";
    if (md_config_parse(json, strlen(json), "t.json", &cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    const md_service_config *s = cfg->services;
    assert_non_null(cfg->failover_shared);
    assert_non_null(cfg->remedy_shared);
    assert_int_equal(cfg->remedy_shared->restart_attempts, 5);
    assert_int_equal(cfg->failover_shared->failback_after_ms, 7000);
    for (size_t i = 0; i < 2; i++) { /* the defaults, also when written out again */
        assert_ptr_equal(s[i].failover, cfg->failover_shared);
        assert_ptr_equal(s[i].remedy, cfg->remedy_shared);
    }
    assert_ptr_equal(s[2].failover, cfg->failover_shared);
    assert_ptr_not_equal(s[2].remedy, cfg->remedy_shared);
    assert_int_equal(s[2].remedy->redeploy_attempts, 0);
    assert_int_equal(s[2].remedy->restart_attempts, 5);
    assert_ptr_not_equal(s[3].failover, cfg->failover_shared);
    assert_ptr_equal(s[3].remedy, cfg->remedy_shared);
    assert_int_equal(s[3].failover->n_endpoints, 2);
    assert_int_equal(s[3].failover->failback_after_ms, 7000);
    assert_ptr_equal(s[4].failover, cfg->failover_shared);
    assert_ptr_not_equal(s[4].remedy, cfg->remedy_shared);
    assert_int_equal(s[4].remedy->actuator, MD_ACTUATOR_EXEC);
    assert_string_equal(s[4].remedy->exec_restart[0], "/bin/true");
    /* the method is one static text, not a copy a service */
    assert_string_equal(s[0].method, "GET");
    assert_ptr_equal(s[0].method, s[4].method);
    md_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_from_seed),
        cmocka_unit_test(test_retry_interval),
        cmocka_unit_test(test_defaults_and_service_override),
        cmocka_unit_test(test_all_fields),
        cmocka_unit_test(test_env_substitution_values),
        cmocka_unit_test(test_env_missing),
        cmocka_unit_test(test_env_bad_reference),
        cmocka_unit_test(test_secret_masked_in_errors),
        cmocka_unit_test(test_mask_to_json),
        cmocka_unit_test(test_mask_function),
        cmocka_unit_test(test_to_json_roundtrip),
        cmocka_unit_test(test_medic_config_env),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_service_only_keys_in_defaults),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_nul_escape),
        cmocka_unit_test(test_many_services),
        cmocka_unit_test(test_fractional_numbers),
        cmocka_unit_test(test_nonpositive_numbers),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_timeout_not_below_interval),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_url_and_tcp),
        cmocka_unit_test(test_bad_tcp),
        cmocka_unit_test(test_bad_url),
        cmocka_unit_test(test_bad_api_listen),
        cmocka_unit_test(test_bad_log),
        cmocka_unit_test(test_services_required),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_service_record_size),
        cmocka_unit_test(test_blocks_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
