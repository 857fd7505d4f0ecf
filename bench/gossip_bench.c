/* gossip_bench.c: measures the cluster transport's gossip on loopback: steady-state bytes per
 * second per node, the time for a change to reach every node (median, p99), and CPU per node,
 * with N real processes (one per node, each with its own loop and sockets) and K items each.
 *
 * usage: gossip_bench --nodes N --items K [--steady-s S] [--changes C] [--interval-ms G]
 *
 * Node 0 is the writer: it changes items (one at a time for the latency run, then 10% of them at
 * once for the burst). Every process stamps events with CLOCK_MONOTONIC, which is one clock for
 * the whole machine, so a receive time minus a send time is a real propagation delay. Results
 * travel to the parent through a pipe, one line per measurement. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "transport.h"

#define MAX_NODES 7
#define VALUE_LEN 33 /* about the size of an encoded observation */
/* A node publishes this item once it holds every peer's items. A node's own convergence says
 * nothing about whether its peers hold *its* items: a peer that missed the initial push (pushes
 * to a peer not yet connected are skipped) pulls the whole set at the next digest, and that
 * one-time repair must not land in the steady-state window. So the window opens only when every
 * peer has said it converged, plus SETTLE_INTERVALS gossip intervals for a lost READY push to be
 * repaired by the digest/pull path before measuring. */
#define READY_KEY "~ready"
#define SETTLE_INTERVALS 2

typedef struct {
    int nodes, items, steady_s, changes, interval_ms;
    int ports[MAX_NODES];
} params;

typedef struct {
    const params *pr;
    int self;
    uv_loop_t loop;
    tp *t;
    uv_timer_t timer;
    FILE *out;
    int phase;          /* 0 converge, 5 wait for the cluster, 1 steady, 2 latency, 3 burst, 4 done */
    int step;
    int64_t phase_start_ns;
    uint64_t bytes_at_start;
    double cpu_at_start;
    long received;      /* items received in the current phase */
    long expected;
    int ready_peers;    /* peers whose READY_KEY item has arrived */
    int64_t all_ready_ns;
    char key[32];
} node;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static uint64_t bytes_out(const node *n)
{
    uint64_t b = 0;
    for (size_t i = 0; i < tp_peer_count(n->t); i++) {
        tp_peer_info pi;
        if (tp_peer_get(n->t, i, &pi) == 0)
            b += pi.bytes_out;
    }
    return b;
}

static void value_for(int item, int version, uint8_t *v)
{
    memset(v, 0, VALUE_LEN);
    snprintf((char *)v, VALUE_LEN, "i%d-v%d", item, version);
}

static void on_item(void *ctx, const char *owner, const char *key, const uint8_t *val, size_t len, uint64_t version)
{
    (void)owner;
    (void)val;
    (void)len;
    (void)version;
    node *n = ctx;
    if (strcmp(key, READY_KEY) == 0) {
        n->ready_peers++; /* published once per peer run; not one of the measured items */
        return;
    }
    n->received++;
    /* Changed items carry "-v<k>" with k > 0: report when each arrived. */
    const char *v = strstr((const char *)val, "-v");
    if (n->self != 0 && v && atoi(v + 2) > 0)
        fprintf(n->out, "recv %d %s %d %" PRId64 "\n", n->self, key, atoi(v + 2), now_ns());
}

static void on_timer(uv_timer_t *t)
{
    node *n = t->data;
    const params *pr = n->pr;
    int64_t now = now_ns();
    double elapsed_s = (now - n->phase_start_ns) / 1e9;
    switch (n->phase) {
    case 0: /* converge: everyone has everyone's items */
        if (n->received >= (long)pr->items * (pr->nodes - 1) || elapsed_s > 30) {
            fprintf(n->out, "converged %d %.3f %ld\n", n->self, elapsed_s, n->received);
            tp_gossip_set(n->t, READY_KEY, "ready", 5);
            n->phase = 5;
            n->phase_start_ns = now;
        }
        break;
    case 5: /* wait until every node holds every item (bounded), then let the gossip settle */
        if (n->all_ready_ns == 0 && (n->ready_peers >= pr->nodes - 1 || elapsed_s > 30))
            n->all_ready_ns = now;
        if (n->all_ready_ns != 0 && now - n->all_ready_ns >= (int64_t)SETTLE_INTERVALS * pr->interval_ms * 1000000) {
            n->phase = 1;
            n->phase_start_ns = now;
            n->bytes_at_start = bytes_out(n);
            n->cpu_at_start = cpu_s();
        }
        break;
    case 1: /* steady: nothing changes; only digests and pings flow */
        if (elapsed_s >= pr->steady_s) {
            fprintf(n->out, "steady %d %.1f %.4f\n", n->self, (bytes_out(n) - n->bytes_at_start) / elapsed_s,
                    (cpu_s() - n->cpu_at_start) / elapsed_s);
            n->phase = 2;
            n->phase_start_ns = now;
            n->step = 0;
        }
        break;
    case 2: /* single changes, spaced out: each one's time to reach every node */
        if (n->self == 0 && n->step < pr->changes) {
            uint8_t v[VALUE_LEN];
            int item = (n->step * 7919) % pr->items;
            value_for(item, n->step + 1, v);
            snprintf(n->key, sizeof n->key, "s%d", item);
            fprintf(n->out, "sent %s %d %" PRId64 "\n", n->key, n->step + 1, now_ns());
            tp_gossip_set(n->t, n->key, v, VALUE_LEN);
        }
        if (++n->step >= pr->changes + 10) { /* a few extra ticks to let the last one land */
            n->phase = 3;
            n->phase_start_ns = now;
            n->bytes_at_start = bytes_out(n);
            n->cpu_at_start = cpu_s();
            n->step = 0;
        }
        break;
    case 3: /* burst: 10% of the items change at once */
        if (n->self == 0 && n->step == 0) {
            int count = pr->items / 10;
            int64_t t0 = now_ns();
            for (int i = 0; i < count; i++) {
                uint8_t v[VALUE_LEN];
                char key[32];
                snprintf(key, sizeof key, "s%d", i);
                value_for(i, 1000000 + i, v);
                tp_gossip_set(n->t, key, v, VALUE_LEN);
            }
            fprintf(n->out, "burst_sent %d %" PRId64 "\n", count, t0);
        }
        n->step++;
        if (elapsed_s >= 3.0) {
            fprintf(n->out, "burst %d %.1f %.4f\n", n->self, (bytes_out(n) - n->bytes_at_start) / elapsed_s,
                    (cpu_s() - n->cpu_at_start) / elapsed_s);
            n->phase = 4;
            uv_timer_stop(&n->timer);
            tp_close(n->t, NULL, NULL);
            uv_close((uv_handle_t *)&n->timer, NULL);
        }
        break;
    }
    fflush(n->out);
}

static int run_node(const params *pr, int self, int out_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    node n = { .pr = pr, .self = self };
    n.out = fdopen(out_fd, "w");
    uv_loop_init(&n.loop);
    char listen[64], addrs[MAX_NODES][64], ids[MAX_NODES][16];
    tp_peer_config peers[MAX_NODES];
    size_t np = 0;
    for (int i = 0; i < pr->nodes; i++) {
        snprintf(ids[i], sizeof ids[i], "n%d", i);
        snprintf(addrs[i], sizeof addrs[i], "tcp://127.0.0.1:%d", pr->ports[i]);
        if (i != self)
            peers[np++] = (tp_peer_config){ .id = ids[i], .address = addrs[i] };
    }
    snprintf(listen, sizeof listen, "tcp://127.0.0.1:%d", pr->ports[self]);
    static const char secret[] = "gossip-bench-secret-0123456789";
    tp_config cfg = {
        .cluster_name = "bench", .self_id = ids[self], .listen = listen, .peers = peers, .n_peers = np,
        .secret = (const uint8_t *)secret, .secret_len = sizeof secret - 1,
        .gossip_interval_ms = pr->interval_ms, .peer_suspect_ms = 3 * pr->interval_ms,
        .peer_dead_ms = 9 * pr->interval_ms, .epoch = (uint64_t)now_ns(),
    };
    tp_callbacks cb = { .on_gossip_item = on_item, .ctx = &n };
    char err[256];
    if (tp_new(&n.loop, &cfg, &cb, &n.t, err, sizeof err) < 0 || tp_start(n.t, err, sizeof err) < 0) {
        fprintf(stderr, "node %d: %s\n", self, err);
        return 1;
    }
    for (int i = 0; i < pr->items; i++) {
        uint8_t v[VALUE_LEN];
        char key[32];
        snprintf(key, sizeof key, "s%d", i);
        value_for(i, 0, v);
        tp_gossip_set(n.t, key, v, VALUE_LEN);
    }
    n.phase_start_ns = now_ns();
    uv_timer_init(&n.loop, &n.timer);
    n.timer.data = &n;
    uv_timer_start(&n.timer, on_timer, 20, 20);
    uv_run(&n.loop, UV_RUN_DEFAULT);
    uv_loop_close(&n.loop);
    fclose(n.out);
    return 0;
}

/* ---- the parent: start the nodes, collect their lines, summarise ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0)
        return -1;
    qsort(v, n, sizeof *v, cmp_d);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

typedef struct {
    int version;
    int64_t sent;
    int64_t last_recv;
    int receivers;
} change;

int main(int argc, char **argv)
{
    params pr = { .nodes = 3, .items = 1000, .steady_s = 10, .changes = 200, .interval_ms = 1000 };
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (strcmp(argv[i], "--nodes") == 0) pr.nodes = v;
        else if (strcmp(argv[i], "--items") == 0) pr.items = v;
        else if (strcmp(argv[i], "--steady-s") == 0) pr.steady_s = v;
        else if (strcmp(argv[i], "--changes") == 0) pr.changes = v;
        else if (strcmp(argv[i], "--interval-ms") == 0) pr.interval_ms = v;
        else {
            fprintf(stderr, "usage: gossip_bench --nodes N --items K [--steady-s S] [--changes C] [--interval-ms G]\n");
            return 2;
        }
    }
    if (pr.nodes < 2 || pr.nodes > MAX_NODES || pr.items < 10 || pr.changes < 1) {
        fprintf(stderr, "gossip_bench: nodes 2-%d, items >= 10, changes >= 1\n", MAX_NODES);
        return 2;
    }
    for (int i = 0; i < pr.nodes; i++)
        pr.ports[i] = free_port();
    int fds[MAX_NODES];
    pid_t pids[MAX_NODES];
    for (int i = 0; i < pr.nodes; i++) {
        int p[2];
        if (pipe(p) < 0)
            return 1;
        pids[i] = fork();
        if (pids[i] == 0) {
            close(p[0]);
            _exit(run_node(&pr, i, p[1]));
        }
        close(p[1]);
        fds[i] = p[0];
    }
    /* Everything the nodes say, in one file per node, read after they exit (bounded by alarm). */
    alarm((unsigned)(pr.steady_s + pr.changes / 50 + 60 + SETTLE_INTERVALS * pr.interval_ms / 1000));
    FILE *in[MAX_NODES];
    for (int i = 0; i < pr.nodes; i++)
        in[i] = fdopen(fds[i], "r");
    change *ch = calloc((size_t)pr.changes + 1, sizeof *ch);
    double steady_bps[MAX_NODES] = { 0 }, steady_cpu[MAX_NODES] = { 0 }, burst_bps[MAX_NODES] = { 0 },
           burst_cpu[MAX_NODES] = { 0 }, conv[MAX_NODES] = { 0 };
    size_t burst_cap = (size_t)pr.items * (size_t)pr.nodes + 16, n_burst = 0;
    double *burst_lat = calloc(burst_cap, sizeof *burst_lat);
    int64_t burst_t0 = 0, burst_last = 0;
    /* Lines of different nodes interleave only by node: read node 0 (the writer) first so every
     * "sent" is known before the receivers' lines are matched. */
    char line[256];
    for (int i = 0; i < pr.nodes; i++) {
        while (fgets(line, sizeof line, in[i])) {
            int node_i, ver, count;
            char key[64];
            int64_t t;
            double a, b;
            if (sscanf(line, "sent %63s %d %" SCNd64, key, &ver, &t) == 3 && ver <= pr.changes) {
                ch[ver].version = ver;
                ch[ver].sent = t;
            } else if (sscanf(line, "recv %d %63s %d %" SCNd64, &node_i, key, &ver, &t) == 4) {
                if (ver >= 1000000) {
                    if (n_burst < burst_cap)
                        burst_lat[n_burst++] = (t - burst_t0) / 1e6;
                    if (t > burst_last)
                        burst_last = t;
                } else if (ver <= pr.changes && ch[ver].sent) {
                    ch[ver].receivers++;
                    if (t > ch[ver].last_recv)
                        ch[ver].last_recv = t;
                }
            } else if (sscanf(line, "burst_sent %d %" SCNd64, &count, &t) == 2) {
                burst_t0 = t;
            } else if (sscanf(line, "steady %d %lf %lf", &node_i, &a, &b) == 3) {
                steady_bps[node_i] = a;
                steady_cpu[node_i] = b;
            } else if (sscanf(line, "burst %d %lf %lf", &node_i, &a, &b) == 3) {
                burst_bps[node_i] = a;
                burst_cpu[node_i] = b;
            } else if (sscanf(line, "converged %d %lf", &node_i, &a) == 2) {
                conv[node_i] = a;
            }
        }
        fclose(in[i]);
    }
    for (int i = 0; i < pr.nodes; i++)
        waitpid(pids[i], NULL, 0);
    double *reach = calloc((size_t)pr.changes, sizeof *reach);
    size_t n_reach = 0, lost = 0;
    for (int v = 1; v <= pr.changes; v++) {
        if (ch[v].receivers == pr.nodes - 1)
            reach[n_reach++] = (ch[v].last_recv - ch[v].sent) / 1e6;
        else
            lost++;
    }
    double max_steady = 0, max_cpu = 0, max_burst = 0, max_bcpu = 0, max_conv = 0;
    for (int i = 0; i < pr.nodes; i++) {
        if (steady_bps[i] > max_steady) max_steady = steady_bps[i];
        if (steady_cpu[i] > max_cpu) max_cpu = steady_cpu[i];
        if (burst_bps[i] > max_burst) max_burst = burst_bps[i];
        if (burst_cpu[i] > max_bcpu) max_bcpu = burst_cpu[i];
        if (conv[i] > max_conv) max_conv = conv[i];
    }
    double burst_all_ms = burst_last ? (burst_last - burst_t0) / 1e6 : -1;
    printf("nodes=%d items=%d gossip_interval_ms=%d\n", pr.nodes, pr.items, pr.interval_ms);
    printf("  initial convergence: %.3f s (slowest node)\n", max_conv);
    printf("  steady state: %.0f bytes/s sent per node (max over nodes), CPU %.2f%% of a core per node\n",
           max_steady, 100 * max_cpu);
    printf("  one change reaches every node: median %.2f ms, p99 %.2f ms (%zu changes, %zu incomplete)\n",
           pct(reach, n_reach, 0.5), pct(reach, n_reach, 0.99), n_reach, lost);
    printf("  burst of %d changes: all on every node after %.1f ms; per item median %.1f ms, p99 %.1f ms; "
           "%.0f bytes/s and CPU %.1f%% per node over 3 s\n",
           pr.items / 10, burst_all_ms, pct(burst_lat, n_burst, 0.5), pct(burst_lat, n_burst, 0.99), max_burst,
           100 * max_bcpu);
    printf("RESULT nodes=%d items=%d steady_bps=%.0f steady_cpu_pct=%.2f reach_median_ms=%.2f reach_p99_ms=%.2f "
           "burst_all_ms=%.1f burst_bps=%.0f burst_cpu_pct=%.1f\n",
           pr.nodes, pr.items, max_steady, 100 * max_cpu, pct(reach, n_reach, 0.5), pct(reach, n_reach, 0.99),
           burst_all_ms, max_burst, 100 * max_bcpu);
    free(ch);
    free(reach);
    free(burst_lat);
    return lost > (size_t)pr.changes / 100 ? 1 : 0;
}
