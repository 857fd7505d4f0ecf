/* test_config_failover.c: unit tests of a service's failover fields (node/config/config_failover.c):
 * endpoints and how they relate to url/tcp, the breaker, failback_after_ms, the proxy, defaults,
 * errors naming the field, and the rendered config parsing back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "config_test_util.h"

static void test_no_endpoints_no_failover(void **state)
{
    (void)state;
    md_config *c = ok("{'services':[{'name':'a','url':'http://127.0.0.1:1/h'}]}");
    assert_int_equal(c->services[0].failover->n_endpoints, 0);
    assert_null(c->services[0].failover->proxy_listen);
    assert_int_equal(c->services[0].failover->failback_after_ms, MD_DEFAULT_FAILBACK_AFTER_MS);
    md_config_free(c);
}

static void test_endpoints_defaults(void **state)
{
    (void)state;
    md_config *c = ok("{'services':[{'name':'a','url':'http://127.0.0.1:81/h',"
                      "'endpoints':['http://127.0.0.1:81/h','http://[::1]:82/h','https://b.example/h']}]}");
    const md_service_config *s = &c->services[0];
    assert_int_equal(s->failover->n_endpoints, 3);
    assert_string_equal(s->failover->endpoints[0].host, "127.0.0.1");
    assert_int_equal(s->failover->endpoints[0].port, 81);
    assert_string_equal(s->failover->endpoints[1].host, "::1");
    assert_int_equal(s->failover->endpoints[1].port, 82);
    assert_string_equal(s->failover->endpoints[2].host, "b.example");
    assert_int_equal(s->failover->endpoints[2].port, 0);
    assert_int_equal(s->failover->breaker_failures, MD_DEFAULT_BREAKER_FAILURES);
    assert_int_equal(s->failover->breaker_successes, MD_DEFAULT_BREAKER_SUCCESSES);
    assert_int_equal(s->failover->breaker_open_ms, MD_DEFAULT_BREAKER_OPEN_MS);
    assert_int_equal(s->failover->breaker_open_max_ms, MD_DEFAULT_BREAKER_OPEN_MAX_MS);
    assert_null(s->failover->proxy_listen);
    md_config_free(c);
}

static void test_url_from_endpoints(void **state)
{
    (void)state;
    md_config *c = ok("{'services':[{'name':'a','endpoints':['http://127.0.0.1:81/h','http://127.0.0.1:82/h']},"
                      "{'name':'t','endpoints':['127.0.0.1:5432','127.0.0.1:5433'],"
                      "'proxy':{'listen':'127.0.0.1:6432'}}]}");
    assert_int_equal(c->services[0].kind, MD_CHECK_HTTP);
    assert_string_equal(c->services[0].url, "http://127.0.0.1:81/h");
    assert_int_equal(c->services[1].kind, MD_CHECK_TCP);
    assert_string_equal(c->services[1].tcp_host, "127.0.0.1");
    assert_int_equal(c->services[1].tcp_port, 5432);
    assert_int_equal(c->services[1].failover->proxy_port, 6432);
    assert_int_equal(c->services[1].failover->proxy_max_connections, MD_DEFAULT_PROXY_MAX_CONNECTIONS);
    assert_int_equal(c->services[1].failover->proxy_connect_timeout_ms, MD_DEFAULT_PROXY_CONNECT_TIMEOUT_MS);
    assert_int_equal(c->services[1].failover->proxy_idle_timeout_ms, MD_DEFAULT_PROXY_IDLE_TIMEOUT_MS);
    assert_int_equal(c->services[1].failover->proxy_resolve_ms, MD_DEFAULT_PROXY_RESOLVE_MS);
    md_config_free(c);
}

static void test_all_fields(void **state)
{
    (void)state;
    md_config *c = ok("{'defaults':{'failback_after_ms':2000},'services':[{'name':'a',"
                      "'endpoints':['http://127.0.0.1:81/h','http://127.0.0.1:82/h'],"
                      "'breaker':{'failures':3,'successes':4,'open_ms':100,'open_max_ms':800},"
                      "'proxy':{'listen':'127.0.0.1:9000','max_connections':10,'connect_timeout_ms':50,"
                      "'idle_timeout_ms':7000,'resolve_ms':250}}]}");
    const md_service_config *s = &c->services[0];
    assert_int_equal(s->failover->failback_after_ms, 2000);
    assert_int_equal(s->failover->breaker_failures, 3);
    assert_int_equal(s->failover->breaker_successes, 4);
    assert_int_equal(s->failover->breaker_open_ms, 100);
    assert_int_equal(s->failover->breaker_open_max_ms, 800);
    assert_string_equal(s->failover->proxy_listen, "127.0.0.1:9000");
    assert_int_equal(s->failover->proxy_max_connections, 10);
    assert_int_equal(s->failover->proxy_connect_timeout_ms, 50);
    assert_int_equal(s->failover->proxy_idle_timeout_ms, 7000);
    assert_int_equal(s->failover->proxy_resolve_ms, 250);
    /* The effective config parses back to the same fields. */
    char *json = md_config_to_json(c, false);
    assert_non_null(json);
    char err[MD_CONFIG_ERR_LEN];
    md_config *c2 = NULL;
    md_config_env env = hermetic_env();
    if (md_config_parse_env(json, strlen(json), "r.json", &env, &c2, err, sizeof err) != 0)
        fail_msg("rendered config does not parse: %s\n%s", err, json);
    const md_service_config *r = &c2->services[0];
    assert_int_equal(r->failover->n_endpoints, 2);
    assert_string_equal(r->failover->endpoints[1].target, "http://127.0.0.1:82/h");
    assert_int_equal(r->failover->breaker_open_max_ms, 800);
    assert_int_equal(r->failover->failback_after_ms, 2000);
    assert_string_equal(r->failover->proxy_listen, "127.0.0.1:9000");
    assert_int_equal(r->failover->proxy_idle_timeout_ms, 7000);
    assert_int_equal(r->failover->proxy_resolve_ms, 250);
    free(json);
    md_config_free(c2);
    md_config_free(c);
}

static void test_errors_name_the_field(void **state)
{
    (void)state;
    bad("{'services':[{'name':'a','url':'http://127.0.0.1:81/h','endpoints':['http://127.0.0.1:82/h']}]}",
        "services[0].endpoints[0]: must equal the service's url");
    bad("{'services':[{'name':'a','tcp':'127.0.0.1:81','endpoints':['127.0.0.1:82']}]}",
        "services[0].endpoints[0]: must equal the service's tcp");
    bad("{'services':[{'name':'a','url':'http://127.0.0.1:81/h','endpoints':[]}]}",
        "services[0].endpoints: must be a list of 1-16 endpoints");
    bad("{'services':[{'name':'a','url':'http://127.0.0.1:81/h','endpoints':'x'}]}",
        "services[0].endpoints: must be a list");
    bad("{'services':[{'name':'a','endpoints':['http://127.0.0.1:81/h','ftp://x']}]}",
        "services[0].endpoints[1]: must start with http:// or https://");
    bad("{'services':[{'name':'a','endpoints':['127.0.0.1:81','http://127.0.0.1:82/']}]}",
        "services[0].endpoints[1]: must be host:port like the service's tcp");
    bad("{'services':[{'name':'a','endpoints':['127.0.0.1:81','127.0.0.1:81']}]}",
        "services[0].endpoints[1]: listed twice");
    bad("{'services':[{'name':'a','endpoints':['127.0.0.1']}]}",
        "services[0].endpoints[0]: must be host:port");
    bad("{'services':[{'name':'a','url':'http://127.0.0.1:81/h','breaker':{}}]}",
        "services[0].breaker: needs endpoints");
    bad("{'services':[{'name':'a','url':'http://127.0.0.1:81/h','proxy':{'listen':'127.0.0.1:1'}}]}",
        "services[0].proxy: needs endpoints");
    bad("{'services':[{'name':'a','endpoints':['127.0.0.1:81'],'breaker':{'failures':0}}]}",
        "services[0].breaker.failures:");
    bad("{'services':[{'name':'a','endpoints':['127.0.0.1:81'],'breaker':{'open_ms':500,'open_max_ms':100}}]}",
        "services[0].breaker.open_max_ms: must be at least open_ms (500)");
    bad("{'services':[{'name':'a','endpoints':['127.0.0.1:81'],'breaker':{'fails':1}}]}",
        "services[0].breaker.fails: unknown key");
    bad("{'services':[{'name':'a','endpoints':['127.0.0.1:81'],'proxy':{}}]}",
        "services[0].proxy.listen: required");
    bad("{'services':[{'name':'a','endpoints':['127.0.0.1:81'],'proxy':{'listen':'nope'}}]}",
        "services[0].proxy.listen: must be host:port");
    bad("{'services':[{'name':'a','endpoints':['127.0.0.1:81'],'proxy':{'listen':'127.0.0.1:9','max_connections':0}}]}",
        "services[0].proxy.max_connections:");
    bad("{'services':[{'name':'a','endpoints':['127.0.0.1:81'],'proxy':{'listen':'127.0.0.1:9','resolve_ms':5}}]}",
        "services[0].proxy.resolve_ms:");
    bad("{'services':[{'name':'a','endpoints':['http://127.0.0.1:81/h','https://b.example/h'],"
        "'proxy':{'listen':'127.0.0.1:9'}}]}",
        "services[0].endpoints[1]: needs an explicit port");
    bad("{'services':[{'name':'a','url':'http://127.0.0.1:81/h','failback_after_ms':-1}]}",
        "services[0].failback_after_ms:");
    bad("{'defaults':{'endpoints':['127.0.0.1:81']},'services':[{'name':'a','tcp':'127.0.0.1:81'}]}",
        "defaults.endpoints: not allowed in defaults");
    bad("{'services':[{'name':'a'}]}", "services[0]: needs url (an HTTP check), tcp (a TCP connect check) or endpoints");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_endpoints_no_failover),
        cmocka_unit_test(test_endpoints_defaults),
        cmocka_unit_test(test_url_from_endpoints),
        cmocka_unit_test(test_all_fields),
        cmocka_unit_test(test_errors_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
