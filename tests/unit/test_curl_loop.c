/* test_curl_loop.c: md_curl_loop (node/base/curl_loop.c), libcurl driven from a libuv loop.
 *
 * The property tested here is when finished transfers are reported. A done callback usually starts
 * the next transfer at once, and libcurl runs a transfer added "now" inside the next socket's
 * action; if each socket's completions were reported right after its action, the requests of one
 * loop turn would go out one between each two answers read, and the server would be woken for
 * every request (measured: 0.65 of the bare libcurl loop's checks a second against 0.89, bench/
 * sat_pair). So every answer that is ready in one turn is read before any of them is reported.
 * The server is this test's own blocking sockets, driven between loop turns, so that all answers
 * are in the client's sockets before the turn that reads them: no timing involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "base/base.h"

#define K 8 /* transfers whose answers arrive together */

typedef struct {
    CURL *easy[K];
    int done;                /* callbacks so far */
    int answered_at_first;   /* transfers that had read their answer when the first callback ran */
    CURLcode results[K];
} batch;

static void on_done(CURL *easy, CURLcode res, void *ctx)
{
    batch *b = ctx;
    if (b->done == 0) {
        for (int i = 0; i < K; i++) {
            long code = 0;
            curl_easy_getinfo(b->easy[i], CURLINFO_RESPONSE_CODE, &code);
            b->answered_at_first += code == 200;
        }
    }
    for (int i = 0; i < K; i++)
        if (b->easy[i] == easy)
            b->results[i] = res;
    b->done++;
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, K), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_answers_of_one_turn_are_all_read_before_any_is_reported(void **state)
{
    (void)state;
    int port;
    int lfd = listen_loopback(&port);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);

    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    md_curl_loop *cl = md_curl_loop_new(&loop);
    assert_non_null(cl);
    batch b = {0};
    for (int i = 0; i < K; i++) {
        b.easy[i] = curl_easy_init();
        assert_non_null(b.easy[i]);
        curl_easy_setopt(b.easy[i], CURLOPT_URL, url);
        curl_easy_setopt(b.easy[i], CURLOPT_WRITEFUNCTION, md_curl_discard);
        curl_easy_setopt(b.easy[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(b.easy[i], CURLOPT_TIMEOUT_MS, 10000L);
        assert_int_equal(md_curl_loop_add(cl, b.easy[i], on_done, &b), 0);
    }

    /* Turn the loop (never waiting) until every request has arrived whole. */
    int conn[K], n_conn = 0, n_req = 0;
    bool got[K] = {false};
    for (int spins = 0; n_req < K && spins < 200000; spins++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        int c;
        while (n_conn < K && (c = accept(lfd, NULL, NULL)) >= 0)
            conn[n_conn++] = c;
        for (int i = 0; i < n_conn; i++) {
            char buf[2048];
            ssize_t r;
            if (got[i] || (r = recv(conn[i], buf, sizeof buf - 1, MSG_DONTWAIT)) <= 0)
                continue;
            buf[r] = '\0';
            assert_non_null(strstr(buf, "\r\n\r\n")); /* a GET's request fits one read here */
            got[i] = true;
            n_req++;
        }
    }
    assert_int_equal(n_req, K);
    assert_int_equal(b.done, 0);

    /* All answers at once: on loopback each is in the client's socket when send returns. */
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
    for (int i = 0; i < K; i++)
        assert_int_equal(send(conn[i], answer, sizeof answer - 1, 0), (ssize_t)(sizeof answer - 1));

    for (int spins = 0; b.done < K && spins < 1000; spins++)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(b.done, K);
    for (int i = 0; i < K; i++)
        assert_int_equal(b.results[i], CURLE_OK);
    /* Every answer was read in the turn that found them ready, before the first report. */
    assert_int_equal(b.answered_at_first, K);

    md_curl_loop_close(cl);
    while (uv_run(&loop, UV_RUN_NOWAIT))
        ;
    assert_int_equal(uv_loop_close(&loop), 0);
    for (int i = 0; i < K; i++) {
        curl_easy_cleanup(b.easy[i]);
        close(conn[i]);
    }
    close(lfd);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_of_one_turn_are_all_read_before_any_is_reported),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
