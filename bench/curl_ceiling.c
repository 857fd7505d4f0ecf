/* curl_ceiling.c: the machine's ceiling for HTTP checks, a bare libcurl multi loop.
 *
 * One process, one thread (the same constraint as a medic node, which drives all probes from
 * one loop thread): C easy handles fetch the same URL; each is re-added as soon as it
 * completes, for D seconds. Keep-alive by default; --fresh opens a new connection per request
 * (CURLOPT_FRESH_CONNECT + CURLOPT_FORBID_REUSE), like medic's keepalive:false.
 * It does the least a check can do: GET, ceiling_discard the body, read the status. Whatever medic does
 * on top (scheduling, health state, history) is what the ratio to this figure measures.
 * With -n SERVICES it checks that many distinct URLs (URL followed by "s<i>", each its own
 * allocation, as a node's config holds them) in a fixed random order, and each result updates
 * that service's own 64-byte record: the least that any monitor of SERVICES services reads and
 * writes a check. At 10,000 services those are cache misses the one-URL loop never has, so the
 * distance between the two runs is what the number of services alone costs.
 *
 * Usage: curl_ceiling [-c CONCURRENCY] [-d SECONDS] [-n SERVICES] [--fresh] URL
 * Prints one line: "requests=N ok=N seconds=S rps=R cpu_s=C" (cpu_s = user+system of this
 * process over the run, from getrusage). Exit 0, or 1 on bad usage / libcurl setup failure. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <stdint.h>
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

/* One service's state: what a monitor must keep at least (aligned: one cache line each). */
typedef struct {
    _Alignas(64) uint64_t checks;
    uint64_t ok;
    long status;
    double latency_sum_s;
    double last_at_s;
} svc_rec;

typedef struct {
    long n;          /* 0: the one URL only */
    char **urls;     /* n, each malloc'd */
    svc_rec *rec;    /* n */
    uint32_t *order; /* n: a fixed random permutation, walked round and round */
    long next;
} services;

/* services_init builds sv's n URLs from base; returns 0 or -1 (out of memory). */
static int services_init(services *sv, long n, const char *base)
{
    sv->n = n;
    sv->next = 0;
    sv->urls = calloc((size_t)n, sizeof *sv->urls);
    sv->rec = aligned_alloc(64, (size_t)n * sizeof *sv->rec);
    sv->order = malloc((size_t)n * sizeof *sv->order);
    if (!sv->urls || !sv->rec || !sv->order)
        return -1;
    memset(sv->rec, 0, (size_t)n * sizeof *sv->rec);
    uint64_t r = 88172645463325252ULL;
    for (long i = 0; i < n; i++) {
        if (asprintf(&sv->urls[i], "%ss%ld", base, i) < 0)
            return -1;
        sv->order[i] = (uint32_t)i;
    }
    for (long i = n - 1; i > 0; i--) { /* Fisher-Yates with xorshift64 */
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        long j = (long)(r % (uint64_t)(i + 1));
        uint32_t t = sv->order[i];
        sv->order[i] = sv->order[j];
        sv->order[j] = t;
    }
    return 0;
}

/* services_next points e at the next service's URL. */
static void services_next(services *sv, CURL *e)
{
    uint32_t k = sv->order[sv->next];
    sv->next = (sv->next + 1) % sv->n;
    curl_easy_setopt(e, CURLOPT_URL, sv->urls[k]);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)(uintptr_t)k);
}

/* services_done records e's result in its service's record. */
static void services_done(services *sv, CURL *e, long status, bool ok)
{
    void *p = NULL;
    double t = 0;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &p);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &t);
    svc_rec *s = &sv->rec[(uintptr_t)p];
    s->checks++;
    s->ok += ok;
    s->status = status;
    s->latency_sum_s += t;
    s->last_at_s = ceiling_now_s();
}

static void services_free(services *sv)
{
    for (long i = 0; i < sv->n && sv->urls; i++)
        free(sv->urls[i]);
    free(sv->urls);
    free(sv->rec);
    free(sv->order);
}

int main(int argc, char **argv)
{
    long conc, n_svc = 0;
    double dur;
    const char *url;
    bool fresh = false;
    /* -n is this loop's own option: taken out before the shared parser sees the rest */
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "-n")) {
            n_svc = strtol(argv[i + 1], NULL, 10);
            memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 1) * sizeof *argv);
            argc -= 2;
            break;
        }
    }
    if (n_svc < 0 || n_svc > 1000000) {
        fprintf(stderr, "curl_ceiling: -n takes 1 to 1000000 services\n");
        return 1;
    }
    if (ceiling_args(argc, argv, "curl_ceiling", &conc, &dur, &url, &fresh) != 0)
        return 1;
    services sv = { 0 };
    if (n_svc > 0 && services_init(&sv, n_svc, url) != 0)
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
        if (sv.n)
            services_next(&sv, h[i]);
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
            bool good = msg->data.result == CURLE_OK && status >= 200 && status < 300;
            ok += good;
            /* Re-adding the same handle restarts the transfer; the connection stays pooled. */
            curl_multi_remove_handle(m, e);
            if (sv.n) {
                services_done(&sv, e, status, good);
                services_next(&sv, e);
            }
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
    services_free(&sv);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return 0;
}
