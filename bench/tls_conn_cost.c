/* tls_conn_cost.c: what a new connection per request costs the client, by how it is made.
 *
 * bench/probe_https runs it against its nginx (--conn-cost) to put a floor under medic's figures:
 * the same request (GET, Connection: close) with a new connection each time, made four ways, one
 * after the other in one process, CPU of this process per request (CLOCK_PROCESS_CPUTIME_ID):
 *   plain     a blocking socket, no library: the least an HTTP check can cost;
 *   curl-http libcurl, one easy handle, CURLOPT_FRESH_CONNECT + CURLOPT_FORBID_REUSE (medic's
 *             keepalive:false);
 *   curl-tls  the same over HTTPS with medic's TLS settings (one CA file, CA cache, a session
 *             share): libcurl builds an SSL_CTX for every connection;
 *   kept-ctx  OpenSSL directly with one SSL_CTX kept for every connection, resuming the last
 *             session, at TLS 1.3 and then capped at TLS 1.2 (no (EC)DHE on resumption).
 * The ratio of curl-tls to curl-http is medic's ratio without medic; kept-ctx says what a client
 * that keeps its context would reach with this OpenSSL.
 *
 * Usage: tls_conn_cost [-n REQUESTS] HTTP_PORT HTTPS_PORT CA_FILE   (servers on 127.0.0.1)
 * Prints one line per way: "<way> us_per_request=U resumed=R/N" (R: handshakes resumed, "-" where
 * this process cannot tell). Exit 0, or 1 on bad usage or a failed request. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char REQ[] = "GET /cost HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

static double cpu_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int dial(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(s);
        return -1;
    }
    return s;
}

static int plain_once(int port)
{
    int s = dial(port);
    if (s < 0)
        return -1;
    char buf[4096];
    ssize_t n = write(s, REQ, sizeof(REQ) - 1);
    while (n > 0)
        n = read(s, buf, sizeof(buf));
    close(s);
    return n == 0 ? 0 : -1;
}

/* One request over a new TLS connection from ctx, offering *sess and keeping the newest
 * resumable session in it. Returns 1 when the handshake resumed, 0 when not, -1 on failure. */
static int tls_once(SSL_CTX *ctx, SSL_SESSION **sess, int port)
{
    int s = dial(port);
    if (s < 0)
        return -1;
    SSL *ssl = SSL_new(ctx);
    int rc = -1;
    if (!ssl)
        goto out;
    SSL_set_fd(ssl, s);
    SSL_set1_host(ssl, "127.0.0.1");
    if (*sess)
        SSL_set_session(ssl, *sess);
    if (SSL_connect(ssl) != 1 || SSL_write(ssl, REQ, (int)sizeof(REQ) - 1) <= 0)
        goto out;
    char buf[4096];
    while (SSL_read(ssl, buf, sizeof(buf)) > 0) {}
    rc = SSL_session_reused(ssl) ? 1 : 0;
    /* TLS 1.3 tickets arrive after the handshake: the session worth keeping is the newest. */
    SSL_SESSION *got = SSL_get1_session(ssl);
    if (got && SSL_SESSION_is_resumable(got)) {
        SSL_SESSION_free(*sess);
        *sess = got;
    } else {
        SSL_SESSION_free(got);
    }
    SSL_shutdown(ssl);
out:
    if (rc < 0)
        ERR_print_errors_fp(stderr);
    SSL_free(ssl);
    close(s);
    return rc;
}

static size_t discard(char *d, size_t size, size_t n, void *ud)
{
    (void)d;
    (void)ud;
    return size * n;
}

static int curl_once(CURL *e, const char *url)
{
    curl_easy_setopt(e, CURLOPT_URL, url);
    return curl_easy_perform(e) == CURLE_OK ? 0 : -1;
}

/* resumed < 0: not known here (nginx's log of $ssl_session_reused says it for curl). */
static void report(const char *way, double t0, int n, int resumed)
{
    if (resumed < 0)
        printf("%s us_per_request=%.1f resumed=-\n", way, (cpu_us() - t0) / n);
    else
        printf("%s us_per_request=%.1f resumed=%d/%d\n", way, (cpu_us() - t0) / n, resumed, n);
}

int main(int argc, char **argv)
{
    int n = 1000, a = 1;
    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        n = atoi(argv[2]);
        a = 3;
    }
    if (argc - a != 3 || n < 1) {
        fprintf(stderr, "usage: tls_conn_cost [-n REQUESTS] HTTP_PORT HTTPS_PORT CA_FILE\n");
        return 1;
    }
    int hp = atoi(argv[a]), sp = atoi(argv[a + 1]);
    const char *ca = argv[a + 2];
    char http_url[64], https_url[64];
    snprintf(http_url, sizeof(http_url), "http://127.0.0.1:%d/cost", hp);
    snprintf(https_url, sizeof(https_url), "https://127.0.0.1:%d/cost", sp);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    CURLSH *sh = curl_share_init();
    CURL *e = curl_easy_init();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!sh || !e || !ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        return 1;
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 300L);
    curl_easy_setopt(e, CURLOPT_SHARE, sh);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    double t0 = cpu_us();
    for (int i = 0; i < n; i++)
        if (plain_once(hp) != 0)
            return 1;
    report("plain", t0, n, -1);
    t0 = cpu_us();
    for (int i = 0; i < n; i++)
        if (curl_once(e, http_url) != 0)
            return 1;
    report("curl-http", t0, n, -1);
    t0 = cpu_us();
    for (int i = 0; i < n; i++)
        if (curl_once(e, https_url) != 0)
            return 1;
    report("curl-tls", t0, n, -1);
    for (int max = 0; max <= 1; max++) {
        SSL_CTX_set_max_proto_version(ctx, max ? TLS1_2_VERSION : 0);
        SSL_SESSION *sess = NULL;
        int resumed = 0;
        if (tls_once(ctx, &sess, sp) < 0) /* the first, full handshake: not counted */
            return 1;
        t0 = cpu_us();
        for (int i = 0; i < n; i++) {
            int r = tls_once(ctx, &sess, sp);
            if (r < 0)
                return 1;
            resumed += r;
        }
        report(max ? "kept-ctx-tls1.2" : "kept-ctx-tls1.3", t0, n, resumed);
        SSL_SESSION_free(sess);
    }
    SSL_CTX_free(ctx);
    curl_easy_cleanup(e);
    curl_share_cleanup(sh);
    curl_global_cleanup();
    return 0;
}
