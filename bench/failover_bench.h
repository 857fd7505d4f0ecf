/* failover_bench.h: what bench/failover_bench.c (the processes, steady state, the failover
 * trials) and bench/failover_commit.c (commit latency and throughput) share: the bench's state
 * and each node's view of the cluster as its GET /v1/cluster answer gives it. */
#ifndef FO_BENCH_H
#define FO_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

#define FO_N 3
#define FO_N_SERVICES 3
#define FO_ADMIN_TOKEN "failover-bench-admin-token-0123"

extern const char *const fo_services[FO_N_SERVICES];

typedef struct {
    const char *medic, *flaky, *relay, *timing, *log_level, *failure;
    bool keep, verbose;
    int delay_ms, trials, steady_s, commit_n, load_s, in_flight;
    char dir[64];
    int listen_port[FO_N], api_port[FO_N];
    int relay_port[FO_N][FO_N]; /* i -> j goes through relay_port[i][j] */
    md_proc node[FO_N], relays[FO_N * FO_N], flaky_proc;
    int n_relays;
    int svc_port;
    bool running[FO_N];         /* started and not killed */
    bool stopped[FO_N];         /* SIGSTOPped: its process exists but it is silent */
    double started_ms[FO_N];    /* fo_now_ms() of its latest start */
} fo_bench;

/* One node's answer to GET /v1/cluster, the fields the bench reads. */
typedef struct {
    int leader;                 /* the node it names as leader, -1 when none */
    bool leads;                 /* its role is leader */
    double term, commit, last_index, election_timeout_ms, committed_total;
    double match[FO_N];         /* per node; only the leader reports them, -1 otherwise */
    double lat_samples, lat_p50_ms, lat_p99_ms; /* its commit latency record; -1 when null */
} fo_view;

/* Monotonic milliseconds, with microsecond resolution. */
double fo_now_ms(void);
void fo_sleep_ms(long ms);

/* A node that runs and is not stopped: it should answer. */
bool fo_live(const fo_bench *b, int i);

/* fo_view_of fetches node i's view (500 ms timeout). Returns 0, or -EIO when it does not answer
 * with a consensus object. */
int fo_view_of(const fo_bench *b, int i, fo_view *v);

/* fo_wait_steady waits (at most timeout_ms) for the steady state described in
 * failover_bench.c's first comment. Returns the leader with *lv its view, or -ETIMEDOUT. */
int fo_wait_steady(fo_bench *b, int timeout_ms, fo_view *lv);

/* fo_quantiles sorts v[0..n) and gives its median and 99th percentile (nearest rank, the same
 * rule as the node's commit latency record); -1 for both when n is 0. */
void fo_quantiles(double *v, size_t n, double *p50, double *p99);

/* fo_commit_phase measures commit latency and throughput on the leader; prints one
 * RESULT commit line. Returns 0 or a negative errno. */
int fo_commit_phase(fo_bench *b);

#endif
