/* cluster_test_util.h: what the unit tests of real md_cluster nodes on loopback share (test_cluster_drops,
 * test_cluster_own): running the loop for a while, and catching the node's log in memory. */
#ifndef MD_CLUSTER_TEST_UTIL_H
#define MD_CLUSTER_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "base/base.h"

/* Runs loop without blocking for ms milliseconds. */
static inline void cluster_test_run_ms(uv_loop_t *loop, int ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (uv_hrtime() < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
}

/* The log at WARN and above, caught in memory: text is what was logged so far after a fflush(f),
 * and all of it after cluster_test_log_stop (free it then). */
typedef struct {
    char *text;
    size_t len;
    FILE *f;
} cluster_test_log;

static inline void cluster_test_log_start(cluster_test_log *l)
{
    l->text = NULL;
    l->len = 0;
    l->f = open_memstream(&l->text, &l->len);
    md_log_setup(0, MD_LOG_WARN, l->f);
}

/* Gives the log back to stderr at the default level. */
static inline void cluster_test_log_stop(cluster_test_log *l)
{
    md_log_setup(0, MD_LOG_INFO, NULL);
    fclose(l->f);
    l->f = NULL;
}

#endif
