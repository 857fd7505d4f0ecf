/* failover_bench.c: time from kill -9 of the Raft leader to a new leader, with three real medic
 * nodes on loopback, optionally with a userspace relay (tests/fakes/relay) on every node-to-node
 * link adding a one-way delay. Prints the median and p99 over the trials, and, with
 * --steady-s, counts elections during that long a quiet run (there should be none).
 *
 * usage: failover_bench --medic PATH --flaky PATH --relay PATH [--timing lan|wan] [--delay-ms D]
 *                       [--trials N] [--steady-s S] */
#include <cjson/cJSON.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "proc.h"

#define N 3

typedef struct {
    const char *medic, *flaky, *relay, *timing;
    int delay_ms, trials, steady_s;
    char dir[64];
    int listen_port[N], api_port[N];
    int relay_port[N][N]; /* i -> j goes through relay_port[i][j] */
    md_proc node[N], relays[N * N], flaky_proc;
    int n_relays;
    int svc_port;
    bool running[N];
} bench;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The leader node i reports, its term and role; -1 when it does not answer or knows none. */
static int leader_seen_by(bench *b, int i, double *term, bool *self_leads, double *changes)
{
    char url[128], *body = NULL;
    long code = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/cluster", b->api_port[i]);
    if (md_fetch("GET", url, 500, &code, &body, NULL, 0) < 0 || code != 200) {
        free(body);
        return -1;
    }
    cJSON *doc = cJSON_Parse(body);
    free(body);
    const cJSON *k = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "cluster"), "consensus");
    const cJSON *l = cJSON_GetObjectItem(k, "leader");
    int who = -1;
    if (cJSON_IsString(l) && l->valuestring[0] == 'n')
        who = atoi(l->valuestring + 1) - 1;
    if (term)
        *term = cJSON_GetObjectItem(k, "term") ? cJSON_GetObjectItem(k, "term")->valuedouble : 0;
    if (self_leads)
        *self_leads = cJSON_IsString(cJSON_GetObjectItem(k, "role")) &&
                      strcmp(cJSON_GetObjectItem(k, "role")->valuestring, "leader") == 0;
    if (changes)
        *changes = cJSON_GetObjectItem(k, "leader_changes") ? cJSON_GetObjectItem(k, "leader_changes")->valuedouble : 0;
    cJSON_Delete(doc);
    return who >= 0 && who < N ? who : -1;
}

/* A leader all running nodes agree on, with a term above min_term; -1 after timeout_ms. */
static int agreed_leader(bench *b, double min_term, int timeout_ms, double *term_out)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        int leader = -1;
        bool agree = true;
        double term = 0;
        for (int i = 0; i < N && agree; i++) {
            if (!b->running[i])
                continue;
            double t = 0;
            int l = leader_seen_by(b, i, &t, NULL, NULL);
            if (l < 0 || (leader >= 0 && l != leader) || !b->running[l])
                agree = false;
            leader = l;
            term = t;
        }
        if (agree && leader >= 0 && term > min_term) {
            bool leads = false;
            leader_seen_by(b, leader, term_out, &leads, NULL);
            if (leads)
                return leader;
        }
        sleep_ms(5);
    }
    return -1;
}

static int start_relay(bench *b, int to_port, int *listen_port)
{
    char to[64], delay[16];
    snprintf(to, sizeof to, "127.0.0.1:%d", to_port);
    snprintf(delay, sizeof delay, "%d", b->delay_ms);
    char *argv[] = { (char *)b->relay, "--listen", "127.0.0.1:0", "--to", to, "--control-port", "0", "--delay-ms",
                     delay, NULL };
    md_proc *p = &b->relays[b->n_relays];
    if (md_proc_spawn(argv, true, NULL, "/dev/null", p) < 0)
        return -1;
    b->n_relays++;
    char line[128];
    if (md_proc_read_line(p, line, sizeof line, 5000) < 0 || sscanf(line, "ready listen=%d", listen_port) != 1)
        return -1;
    return 0;
}

static int start_node(bench *b, int i)
{
    char path[PATH_MAX], log[PATH_MAX], peers[1024] = "";
    size_t at = 0;
    for (int j = 0; j < N; j++) {
        int port = j == i ? b->listen_port[j] : b->relay_port[i][j];
        at += (size_t)snprintf(peers + at, sizeof peers - at, "%s{\"id\":\"n%d\",\"address\":\"tcp://127.0.0.1:%d\"}",
                               j ? "," : "", j + 1, port);
    }
    snprintf(path, sizeof path, "%s/n%d.json", b->dir, i + 1);
    snprintf(log, sizeof log, "%s/n%d.log", b->dir, i + 1);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "{\"node\":{\"id\":\"n%d\",\"data_dir\":\"%s/data-n%d\"},\"api\":{\"listen\":\"127.0.0.1:%d\"},"
            "\"status_print_interval_ms\":0,\"log\":{\"level\":\"warn\"},"
            "\"cluster\":{\"name\":\"bench\",\"secret\":\"failover-bench-secret-0123\",\"timing\":\"%s\","
            "\"listen\":\"tcp://127.0.0.1:%d\",\"peers\":[%s]},"
            "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/\",\"interval_ms\":5000,\"timeout_ms\":1000}]}\n",
            i + 1, b->dir, i + 1, b->api_port[i], b->timing, b->listen_port[i], peers, b->svc_port);
    fclose(f);
    char *argv[] = { (char *)b->medic, "node", "--config", path, NULL };
    if (md_proc_spawn(argv, false, "/dev/null", log, &b->node[i]) < 0)
        return -1;
    b->running[i] = true;
    for (int k = 0; k < 500; k++) {
        if (leader_seen_by(b, i, NULL, NULL, NULL) >= -1) {
            char url[128], *body = NULL;
            long code = 0;
            snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/health", b->api_port[i]);
            int rc = md_fetch("GET", url, 500, &code, &body, NULL, 0);
            free(body);
            if (rc == 0 && code == 200)
                return 0;
        }
        sleep_ms(20);
    }
    return -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int run(bench *b)
{
    char line[128];
    char *fargv[] = { (char *)b->flaky, "--port", "0", "--control-port", "0", NULL };
    if (md_proc_spawn(fargv, true, NULL, NULL, &b->flaky_proc) < 0 ||
        md_proc_read_line(&b->flaky_proc, line, sizeof line, 5000) < 0 || sscanf(line, "ready port=%d", &b->svc_port) != 1)
        return -1;
    for (int i = 0; i < N; i++) {
        b->listen_port[i] = md_free_port();
        b->api_port[i] = md_free_port();
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (i != j) {
                if (b->delay_ms > 0) {
                    if (start_relay(b, b->listen_port[j], &b->relay_port[i][j]) < 0)
                        return -1;
                } else {
                    b->relay_port[i][j] = b->listen_port[j];
                }
            }
    for (int i = 0; i < N; i++)
        if (start_node(b, i) < 0)
            return -1;
    double term = 0;
    int leader = agreed_leader(b, 0, 60000, &term);
    if (leader < 0)
        return -1;
    if (b->steady_s > 0) {
        double before = 0, after = 0;
        leader_seen_by(b, leader, NULL, NULL, &before);
        double t0 = term;
        printf("steady run: %d s with leader n%d at term %.0f ...\n", b->steady_s, leader + 1, t0);
        fflush(stdout);
        sleep_ms((long)b->steady_s * 1000);
        double t1 = 0;
        int l1 = agreed_leader(b, 0, 10000, &t1);
        leader_seen_by(b, leader, NULL, NULL, &after);
        printf("RESULT steady_s=%d elections=%.0f leader_before=n%d leader_after=n%d term_before=%.0f term_after=%.0f\n",
               b->steady_s, t1 - t0, leader + 1, l1 + 1, t0, t1);
    }
    int64_t *took = calloc((size_t)b->trials, sizeof *took);
    int done = 0;
    for (int k = 0; k < b->trials; k++) {
        md_proc_stop(&b->node[leader], SIGKILL, 1000, NULL);
        b->running[leader] = false;
        int64_t t0 = now_ms();
        double new_term = 0;
        int next = agreed_leader(b, term, 60000, &new_term);
        if (next < 0)
            break;
        took[done++] = now_ms() - t0;
        if (start_node(b, leader) < 0)
            break;
        leader = agreed_leader(b, new_term - 1, 60000, &term);
        if (leader < 0)
            break;
    }
    qsort(took, (size_t)done, sizeof *took, cmp_i64);
    int64_t p99 = done ? took[(size_t)((done - 1) * 0.99 + 0.5)] : -1;
    printf("RESULT timing=%s delay_ms=%d trials=%d median_ms=%lld p99_ms=%lld min_ms=%lld max_ms=%lld\n", b->timing,
           b->delay_ms, done, done ? (long long)took[done / 2] : -1, (long long)p99, done ? (long long)took[0] : -1,
           done ? (long long)took[done - 1] : -1);
    free(took);
    return done == b->trials ? 0 : -1;
}

int main(int argc, char **argv)
{
    bench b = { .timing = "lan", .trials = 30 };
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--medic") == 0) b.medic = argv[i + 1];
        else if (strcmp(argv[i], "--flaky") == 0) b.flaky = argv[i + 1];
        else if (strcmp(argv[i], "--relay") == 0) b.relay = argv[i + 1];
        else if (strcmp(argv[i], "--timing") == 0) b.timing = argv[i + 1];
        else if (strcmp(argv[i], "--delay-ms") == 0) b.delay_ms = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--trials") == 0) b.trials = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--steady-s") == 0) b.steady_s = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "failover_bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!b.medic || !b.flaky || !b.relay || b.trials < 1) {
        fprintf(stderr, "usage: failover_bench --medic PATH --flaky PATH --relay PATH [--timing lan|wan] "
                        "[--delay-ms D] [--trials N] [--steady-s S]\n");
        return 2;
    }
    snprintf(b.dir, sizeof b.dir, "/tmp/medic-failover-XXXXXX");
    if (!mkdtemp(b.dir))
        return 1;
    int rc = run(&b);
    for (int i = 0; i < N; i++)
        if (b.running[i])
            md_proc_stop(&b.node[i], SIGTERM, 3000, NULL);
    for (int i = 0; i < b.n_relays; i++)
        md_proc_stop(&b.relays[i], SIGTERM, 3000, NULL);
    md_proc_stop(&b.flaky_proc, SIGTERM, 3000, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", b.dir);
    return rc == 0 ? 0 : 1;
}
