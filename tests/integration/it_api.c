/* it_api.c: the node's HTTP API over real sockets: documents, errors, malformed requests,
 * the 100-result history, and pre-warm requests kept apart from checks. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

typedef struct {
    it_flaky flaky;
    it_node node;
} fixture;

static int setup_with(void **state, const char *service_json_fmt)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(it_flaky_start(&fx->flaky), 0);
    char svc[1024], cfg[2048];
    snprintf(svc, sizeof svc, service_json_fmt, fx->flaky.port, fx->flaky.port);
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"it-api\",\"region\":\"test\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
             "\"status_print_interval_ms\":0,\"services\":[%s]}",
             svc);
    if (it_node_start(&fx->node, cfg, NULL) != 0) {
        it_flaky_stop(&fx->flaky);
        free(fx);
        fail_msg("node did not start");
    }
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, "{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":30,"
                             "\"timeout_ms\":25}");
}

static int setup_prewarm(void **state)
{
    return setup_with(state, "{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":100,"
                             "\"timeout_ms\":50,\"prewarm_url\":\"http://127.0.0.1:%d/warm\","
                             "\"prewarm_interval_ms\":40}");
}

static int teardown(void **state)
{
    fixture *fx = *state;
    int status = 0;
    assert_int_equal(it_node_stop(&fx->node, SIGTERM, 3000, &status, NULL), 0);
    it_flaky_stop(&fx->flaky);
    free(fx);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return 0;
}

static void test_health_document(void **state)
{
    fixture *fx = *state;
    long code = 0;
    cJSON *doc = it_get_json(fx->node.api_port, "/v1/health", &code);
    assert_int_equal(code, 200);
    assert_string_equal(cJSON_GetObjectItem(doc, "status")->valuestring, "ok");
    const cJSON *node = cJSON_GetObjectItem(doc, "node");
    assert_string_equal(cJSON_GetObjectItem(node, "id")->valuestring, "it-api");
    assert_string_equal(cJSON_GetObjectItem(node, "region")->valuestring, "test");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(node, "pid")));
    cJSON_Delete(doc);
}

static void test_unknown_paths_get_json_404(void **state)
{
    fixture *fx = *state;
    long code = 0;
    cJSON *doc = it_get_json(fx->node.api_port, "/no/such/thing", &code);
    assert_int_equal(code, 404);
    const cJSON *err = cJSON_GetObjectItem(doc, "error");
    assert_non_null(err);
    assert_int_equal(cJSON_GetObjectItem(err, "code")->valueint, 404);
    cJSON_Delete(doc);
    doc = it_get_json(fx->node.api_port, "/v1/services/nope", &code);
    assert_int_equal(code, 404);
    assert_non_null(cJSON_GetObjectItem(doc, "error"));
    cJSON_Delete(doc);
}

static void test_history_is_capped_and_newest_first(void **state)
{
    fixture *fx = *state;
    /* 30 ms interval: wait (bounded) for more than 100 checks. */
    int64_t deadline = it_wall_ms() + 15000;
    while (it_wall_ms() < deadline && it_service_number(&fx->node, "web", "checks.total") <= 110)
        it_sleep_ms(50);
    assert_true(it_service_number(&fx->node, "web", "checks.total") > 110);
    long code = 0;
    cJSON *doc = it_get_json(fx->node.api_port, "/v1/services/web", &code);
    assert_int_equal(code, 200);
    const cJSON *hist = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "service"), "history");
    assert_true(cJSON_IsArray(hist));
    assert_int_equal(cJSON_GetArraySize(hist), 100);
    double prev = 1e300;
    const cJSON *h;
    cJSON_ArrayForEach(h, hist)
    {
        double at = cJSON_GetObjectItem(h, "at_ms")->valuedouble;
        assert_true(at <= prev);
        prev = at;
        assert_true(cJSON_IsString(cJSON_GetObjectItem(h, "result")));
    }
    cJSON_Delete(doc);
}

/* Sends raw bytes and returns the status code of the answer (0 if none). */
static int raw_request(int port, const char *bytes, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = { 3, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    ssize_t w = write(fd, bytes, len);
    (void)w;
    char buf[512] = "";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    int code = 0;
    if (n > 0)
        sscanf(buf, "HTTP/1.%*d %d", &code);
    return code;
}

static void test_malformed_requests_do_not_hurt(void **state)
{
    fixture *fx = *state;
    static const char garbage[] = "\x01\x02 NOT HTTP AT ALL\r\n\r\n";
    assert_int_equal(raw_request(fx->node.api_port, garbage, sizeof garbage - 1), 400);
    static const char badver[] = "GET /v1/status HTTP/9.9\r\n\r\n";
    int c = raw_request(fx->node.api_port, badver, sizeof badver - 1);
    assert_true(c == 505 || c == 400);
    char big[20000];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    assert_int_equal(raw_request(fx->node.api_port, big, sizeof big), 431);
    /* A client that connects and says nothing does not block others. */
    int idle = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)fx->node.api_port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(idle, (struct sockaddr *)&a, sizeof a), 0);
    static const char ok[] = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(raw_request(fx->node.api_port, ok, sizeof ok - 1), 200);
    close(idle);
    static const char post[] = "POST /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(raw_request(fx->node.api_port, post, sizeof post - 1), 405);
    static const char head[] = "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(raw_request(fx->node.api_port, head, sizeof head - 1), 200);
}

static void test_prewarm_is_separate_from_checks(void **state)
{
    fixture *fx = *state;
    int64_t deadline = it_wall_ms() + 10000;
    while (it_wall_ms() < deadline && it_service_number(&fx->node, "web", "prewarm.total") < 10)
        it_sleep_ms(50);
    double prewarms = it_service_number(&fx->node, "web", "prewarm.total");
    assert_true(prewarms >= 10);
    assert_true(it_service_number(&fx->node, "web", "prewarm.failed") == 0);
    /* The service saw /warm requests, and the node's check count matches /health requests, not
     * /health + /warm. Compare after stopping the node so no request is in flight. */
    it_node_stop(&fx->node, SIGTERM, 3000, NULL, NULL);
    long warm = it_flaky_path_count(&fx->flaky, "/warm");
    long health = it_flaky_path_count(&fx->flaky, "/health");
    printf("  service saw %ld /health and %ld /warm requests\n", health, warm);
    assert_true(warm >= 10);
    /* Pre-warm runs every 40 ms, checks every 100 ms: more warm-ups than checks. */
    assert_true(warm > health);
    /* Restart for teardown's sake. */
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"api\":{\"listen\":\"127.0.0.1:@API@\"},\"services\":[{\"name\":\"web\","
             "\"url\":\"http://127.0.0.1:%d/health\"}]}",
             fx->flaky.port);
    assert_int_equal(it_node_start(&fx->node, cfg, NULL), 0);
}

static void test_prewarm_not_counted_as_checks(void **state)
{
    fixture *fx = *state;
    int64_t deadline = it_wall_ms() + 10000;
    while (it_wall_ms() < deadline && it_service_number(&fx->node, "web", "checks.total") < 10)
        it_sleep_ms(50);
    double checks_before_stop = it_service_number(&fx->node, "web", "checks.total");
    long health_before = it_flaky_path_count(&fx->flaky, "/health");
    /* /health requests seen by the service and checks counted by the node move together. */
    assert_true(checks_before_stop >= 10);
    assert_true(health_before >= (long)checks_before_stop - 2 && health_before <= (long)checks_before_stop + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health_document, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_paths_get_json_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_is_capped_and_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_requests_do_not_hurt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prewarm_not_counted_as_checks, setup_prewarm, teardown),
        cmocka_unit_test_setup_teardown(test_prewarm_is_separate_from_checks, setup_prewarm, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
