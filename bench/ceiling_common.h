/* ceiling_common.h: what curl_ceiling.c and loop_ceiling.c share, so the two bare loops do the
 * same per request (discard the body) and measure alike (monotonic time, the process's CPU). */
#ifndef BENCH_CEILING_COMMON_H
#define BENCH_CEILING_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* The ceilings' command line: -c CONCURRENCY (1-10000), -d SECONDS, URL, and --fresh where
 * fresh is non-NULL. Returns 0, or -1 after printing usage (named prog) to stderr. */
static inline int ceiling_args(int argc, char **argv, const char *prog, long *conc, double *dur,
                               const char **url, bool *fresh)
{
    *conc = 32;
    *dur = 5.0;
    *url = NULL;
    bool ok = true;
    for (int i = 1; i < argc && ok; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc)
            *conc = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-d") && i + 1 < argc)
            *dur = strtod(argv[++i], NULL);
        else if (fresh && !strcmp(argv[i], "--fresh"))
            *fresh = true;
        else if (argv[i][0] != '-' && !*url)
            *url = argv[i];
        else
            ok = false;
    }
    if (ok && *url && *conc >= 1 && *conc <= 10000 && *dur > 0)
        return 0;
    fprintf(stderr, "usage: %s [-c CONCURRENCY] [-d SECONDS]%s URL\n", prog, fresh ? " [--fresh]" : "");
    return -1;
}

static inline size_t ceiling_discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static inline double ceiling_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* user + system CPU seconds of this process so far */
static inline double ceiling_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

#endif
