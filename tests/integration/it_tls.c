/* it_tls.c: a node watching a real HTTPS server (openssl s_server) whose certificate expires in
 * 10 days: the expiry shows in /v1/services and /metrics, and the node warns once in its log;
 * new connections resume TLS sessions (s_server's -www page says "Reused,") while the expiry is
 * still read from a full handshake. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

typedef struct {
    char dir[64];
    char cert[128];
    char key[128];
    md_proc server;
    int port;
    it_node node;
} fixture;

static int setup(void **state)
{
    if (system("openssl version >/dev/null 2>&1") != 0)
        it_skip("no openssl CLI to make a certificate and serve TLS (scripts/bootstrap installs it)");
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/medic-tls-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->cert, sizeof fx->cert, "%s/cert.pem", fx->dir);
    snprintf(fx->key, sizeof fx->key, "%s/key.pem", fx->dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 10 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
             fx->key, fx->cert);
    assert_int_equal(system(cmd), 0);
    fx->port = md_free_port();
    char accept[32];
    snprintf(accept, sizeof accept, "127.0.0.1:%d", fx->port);
    char *argv[] = { "/usr/bin/openssl", "s_server", "-accept", accept, "-cert", fx->cert, "-key", fx->key,
                     "-www", "-quiet", NULL };
    assert_int_equal(md_proc_spawn(argv, false, "/dev/null", "/dev/null", &fx->server), 0);
    /* openssl s_server answers one connection at a time, and both services check it: timeouts
     * generous enough that one check never times out waiting behind the other's handshake
     * (a TLS failure must be classified tls, not timeout, on a loaded machine too). */
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"api\":{\"listen\":\"127.0.0.1:@API@\"},\"status_print_interval_ms\":0,"
             "\"services\":[{\"name\":\"secure\",\"url\":\"https://127.0.0.1:%d/\",\"ca_file\":\"%s\","
             "\"interval_ms\":1000,\"timeout_ms\":900,\"cert_warn_days\":14},"
             "{\"name\":\"resumed\",\"url\":\"https://127.0.0.1:%d/\",\"ca_file\":\"%s\","
             "\"keepalive\":false,\"expect_body\":\"Reused,\",\"interval_ms\":1000,\"timeout_ms\":900},"
             "{\"name\":\"untrusted\",\"url\":\"https://127.0.0.1:%d/\","
             "\"interval_ms\":1000,\"timeout_ms\":900}]}",
             fx->port, fx->cert, fx->port, fx->cert, fx->port);
    assert_int_equal(it_node_start(&fx->node, cfg, NULL), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    it_node_stop(&fx->node, SIGTERM, 3000, NULL, NULL);
    md_proc_stop(&fx->server, SIGTERM, 2000, NULL);
    unlink(fx->cert);
    unlink(fx->key);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void test_expiry_is_recorded_and_warned(void **state)
{
    fixture *fx = *state;
    /* s_server answers one connection at a time; the node gets through within a few checks. */
    assert_true(it_wait_state(&fx->node, "secure", "UP", 10000) > 0);
    int64_t deadline = it_wall_ms() + 5000;
    double expires = -1;
    while (it_wall_ms() < deadline && (expires = it_service_number(&fx->node, "secure", "cert.expires_at_ms")) <= 0)
        it_sleep_ms(50);
    int64_t ten_days = 10LL * 24 * 3600 * 1000;
    int64_t now = it_wall_ms();
    printf("  certificate expires in %.2f days\n", (expires - now) / 86400000.0);
    assert_true(expires > now + ten_days - 86400000LL && expires < now + ten_days + 86400000LL);

    cJSON *doc = it_get_json(fx->node.api_port, "/v1/services/secure", NULL);
    const cJSON *cert = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "service"), "cert");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cert, "warning")));
    cJSON_Delete(doc);

    char *metrics = it_get(fx->node.api_port, "/metrics", NULL);
    assert_non_null(metrics);
    assert_non_null(strstr(metrics, "medic_cert_expiry_timestamp_seconds{service=\"secure\"}"));
    free(metrics);

    char *log = it_node_log(&fx->node);
    const char *first = strstr(log, "event=cert_expiring service=secure");
    assert_non_null(first);
    assert_null(strstr(first + 1, "event=cert_expiring service=secure")); /* once, not every check */
    free(log);
}

static void test_untrusted_certificate_is_a_tls_failure(void **state)
{
    fixture *fx = *state;
    assert_true(it_wait_state(&fx->node, "untrusted", "DOWN", 10000) > 0);
    cJSON *doc = it_get_json(fx->node.api_port, "/v1/services/untrusted", NULL);
    const cJSON *err = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "service"), "last_error");
    assert_true(cJSON_IsString(err));
    assert_string_equal(err->valuestring, "tls");
    cJSON_Delete(doc);
}

/* Every check of "resumed" opens a new connection, and s_server's page says whether its handshake
 * resumed a session: the service is UP only when a session made by an earlier check (of any
 * service with the same TLS settings) is offered again. The first check of each service still
 * makes a full handshake to read the certificate. */
static void test_new_connections_resume_sessions(void **state)
{
    fixture *fx = *state;
    assert_true(it_wait_state(&fx->node, "resumed", "UP", 15000) > 0);
    assert_true(it_service_number(&fx->node, "resumed", "cert.expires_at_ms") > it_wall_ms());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expiry_is_recorded_and_warned),
        cmocka_unit_test(test_untrusted_certificate_is_a_tls_failure),
        cmocka_unit_test(test_new_connections_resume_sessions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
