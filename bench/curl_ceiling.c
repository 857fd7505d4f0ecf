/* curl_ceiling.c: the machine's ceiling for HTTP checks, a bare libcurl multi loop.
 *
 * One process, one thread (the same constraint as a medic node, which drives all probes from
 * one loop thread): C easy handles fetch the same URL; each is re-added as soon as it
 * completes, for D seconds. Keep-alive by default; --fresh opens a new connection per request
 * (CURLOPT_FRESH_CONNECT + CURLOPT_FORBID_REUSE), like medic's keepalive:false.
 * It does the least a check can do: GET, ceiling_discard the body, read the status. Whatever medic does
 * on top (scheduling, health state, history) is what the ratio to this figure measures.
 *
 * Usage: curl_ceiling [-c CONCURRENCY] [-d SECONDS] [--fresh] URL
 * Prints one line: "requests=N ok=N seconds=S rps=R cpu_s=C" (cpu_s = user+system of this
 * process over the run, from getrusage). Exit 0, or 1 on bad usage / libcurl setup failure. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ceiling_common.h"

static CURL *new_handle(const char *url, bool fresh)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ceiling_discard);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    if (fresh) {
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    return e;
}

int main(int argc, char **argv)
{
    long conc;
    double dur;
    const char *url;
    bool fresh = false;
    if (ceiling_args(argc, argv, "curl_ceiling", &conc, &dur, &url, &fresh) != 0)
        return 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return 1;
    CURLM *m = curl_multi_init();
    CURL **h = calloc((size_t)conc, sizeof *h);
    if (!m || !h)
        return 1;
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conc);
    for (long i = 0; i < conc; i++) {
        if (!(h[i] = new_handle(url, fresh)))
            return 1;
        curl_multi_add_handle(m, h[i]);
    }

    unsigned long long done = 0, ok = 0;
    double t0 = ceiling_now_s(), c0 = ceiling_cpu_s(), end = t0 + dur;
    int running = 1;
    while (ceiling_now_s() < end) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            long status = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
            done++;
            if (msg->data.result == CURLE_OK && status >= 200 && status < 300)
                ok++;
            /* Re-adding the same handle restarts the transfer; the connection stays pooled. */
            curl_multi_remove_handle(m, e);
            curl_multi_add_handle(m, e);
        }
        curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double secs = ceiling_now_s() - t0, cpu = ceiling_cpu_s() - c0;
    printf("requests=%llu ok=%llu seconds=%.3f rps=%.0f cpu_s=%.3f\n", done, ok, secs,
           (double)done / secs, cpu);

    for (long i = 0; i < conc; i++) {
        curl_multi_remove_handle(m, h[i]);
        curl_easy_cleanup(h[i]);
    }
    free(h);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return 0;
}
