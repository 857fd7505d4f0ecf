/* loop_ceiling.c: curl_ceiling's bare loop, driven through medic's own libcurl-on-libuv loop.
 *
 * curl_ceiling (bench/curl_ceiling.c) runs its transfers with curl_multi_perform and
 * curl_multi_poll, the least a process can do per HTTP request. A medic node cannot: it drives
 * libcurl from its one libuv loop through curl_multi_socket_action (node/base's md_curl_loop),
 * because the same loop serves the API, the cluster and the proxies. This program does exactly
 * what curl_ceiling does (C easy handles fetching one URL, each re-added as soon as it completes)
 * through md_curl_loop, with nothing of medic above it: no scheduler, prober, health or views.
 * So curl_ceiling -> loop_ceiling is what the event-loop path costs, and loop_ceiling -> a
 * medic node is what medic's own layers add on top.
 *
 * Usage: loop_ceiling [-c CONCURRENCY] [-d SECONDS] URL
 * Prints one line in curl_ceiling's format: "requests=N ok=N seconds=S rps=R cpu_s=C".
 * Exit 0, or 1 on bad usage or a setup failure. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/base.h"
#include "ceiling_common.h"

typedef struct {
    md_curl_loop *cl;
    double end;
    unsigned long long done, ok;
    int running; /* transfers added and not finished */
} ceiling;

static void on_done(CURL *easy, CURLcode res, void *ctx)
{
    ceiling *c = ctx;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    c->done++;
    c->running--;
    if (res == CURLE_OK && status >= 200 && status < 300)
        c->ok++;
    /* As curl_ceiling: the same handle again at once, its connection kept in the pool. The
     * clock is read per completion there too. */
    if (ceiling_now_s() < c->end && md_curl_loop_add(c->cl, easy, on_done, c) == 0)
        c->running++;
}

static void on_end(uv_timer_t *t)
{
    uv_stop(t->loop);
}

int main(int argc, char **argv)
{
    long conc;
    double dur;
    const char *url;
    if (ceiling_args(argc, argv, "loop_ceiling", &conc, &dur, &url, NULL) != 0)
        return 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return 1;
    uv_loop_t *loop = uv_default_loop();
    ceiling c = {.cl = md_curl_loop_new(loop)};
    CURL **h = calloc((size_t)conc, sizeof *h);
    if (!c.cl || !h)
        return 1;
    curl_multi_setopt(md_curl_loop_multi(c.cl), CURLMOPT_MAXCONNECTS, conc);
    double t0 = ceiling_now_s(), c0 = ceiling_cpu_s();
    c.end = t0 + dur;
    for (long i = 0; i < conc; i++) {
        /* curl_ceiling's options, no more */
        if (!(h[i] = curl_easy_init()))
            return 1;
        curl_easy_setopt(h[i], CURLOPT_URL, url);
        curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, ceiling_discard);
        curl_easy_setopt(h[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h[i], CURLOPT_TIMEOUT_MS, 5000L);
        if (md_curl_loop_add(c.cl, h[i], on_done, &c) != 0)
            return 1;
        c.running++;
    }
    uv_timer_t stop;
    uv_timer_init(loop, &stop);
    uv_timer_start(&stop, on_end, (uint64_t)(dur * 1000), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    double secs = ceiling_now_s() - t0, cpu = ceiling_cpu_s() - c0;
    printf("requests=%llu ok=%llu seconds=%.3f rps=%.0f cpu_s=%.3f\n", c.done, c.ok, secs,
           (double)c.done / secs, cpu);

    md_curl_loop_close(c.cl); /* cancels the transfers still running: the handles are ours again */
    uv_close((uv_handle_t *)&stop, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    for (long i = 0; i < conc; i++)
        curl_easy_cleanup(h[i]);
    free(h);
    uv_loop_close(loop);
    curl_global_cleanup();
    return 0;
}
