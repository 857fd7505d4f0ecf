/* ceiling_common.h: what curl_ceiling.c and loop_ceiling.c share, so the two bare loops do the
 * same per request (discard the body) and measure alike (monotonic time, the process's CPU). */
#ifndef BENCH_CEILING_COMMON_H
#define BENCH_CEILING_COMMON_H

#include <stddef.h>
#include <sys/resource.h>
#include <time.h>

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
