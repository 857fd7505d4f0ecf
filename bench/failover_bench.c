/* failover_bench.c: how long three real medic nodes on loopback take to agree on a new Raft
 * leader after the leader fails, optionally with a userspace relay (tests/fakes/relay) on every
 * node-to-node link adding a one-way delay; then, in failover_commit.c, commit latency and
 * committed entries per second on the leader.
 *
 * Two kinds of failure, each --trials times, each with its own RESULT line:
 *   kill    kill -9 of the leader: the kernel closes its TCP connections, so the peers (through
 *           the relays too: they forward the close) see them close. It is started again after.
 *   silent  SIGSTOP of the leader: nothing closes; the peers only miss its heartbeats. Once a new
 *           leader is agreed the old one gets SIGCONT and must step down and follow it.
 * The time measured is from the signal to the first poll round in which every running,
 * non-stopped node names the same leader in a term above the old one and that leader reports
 * role leader (agreed); "elected" is from the signal to the first poll in which that winner
 * reports role leader. Every live node is polled (GET /v1/cluster) every 5 ms. The API renders
 * from snapshots rebuilt at most every 100 ms, so both figures may be late by up to 100 ms.
 *
 * Steady state before every failure (and before the commit phase), waited for up to 60 s: every
 * node runs and answers, all are in the same term and name the same leader, which reports role
 * leader; every node's commit_index equals the leader's, the leader has nothing uncommitted
 * (commit_index = last_index) and reports every node's match_index equal to its last_index; and
 * the most recently (re)started node has been up for at least the profile's election timeout
 * (1,000 ms lan, 3,000 ms wan) + 500 ms. Without it the bench would measure its own artefacts: a
 * node that has not caught up has its pre-vote refused on log grounds, and a node refuses votes
 * for one election timeout after its start (a Raft rule that protects leases).
 *
 * Percentiles are nearest rank: the median of 30 is the 15th value, the p99 of 30 the largest.
 *
 * usage: failover_bench --medic PATH --flaky PATH --relay PATH [--timing lan|wan] [--delay-ms D]
 *                       [--trials N] [--failure kill|silent|both] [--steady-s S]
 *                       [--commit-n N] [--load-s S] [--in-flight K] [--verbose] [--keep]
 *   --commit-n 0 skips the commit phase (default 200 sequential operator actions), --load-s the
 *   throughput window (default 5 s), --in-flight the concurrent requests in it (default 16). */
#include "failover_bench.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

#define STEADY_MARGIN_MS 500
#define STEADY_WAIT_MS 60000
#define FAILOVER_WAIT_MS 60000
#define STEPDOWN_WAIT_MS 30000
#define POLL_MS 5

const char *const fo_services[FO_N_SERVICES] = { "web", "api", "db" };

double fo_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void fo_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

bool fo_live(const fo_bench *b, int i)
{
    return i >= 0 && i < FO_N && b->running[i] && !b->stopped[i];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double rank(const double *sorted, size_t n, double p)
{
    size_t k = (size_t)ceil(p * (double)n);
    return sorted[k > 0 ? k - 1 : 0];
}

void fo_quantiles(double *v, size_t n, double *p50, double *p99)
{
    *p50 = *p99 = -1;
    if (n == 0)
        return;
    qsort(v, n, sizeof *v, cmp_double);
    *p50 = rank(v, n, 0.50);
    *p99 = rank(v, n, 0.99);
}

/* ---- reading a node's view ---- */

static double num_or(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* "n2" -> 1; anything else -> -1. */
static int node_index(const cJSON *id)
{
    if (!cJSON_IsString(id) || id->valuestring[0] != 'n')
        return -1;
    int i = atoi(id->valuestring + 1) - 1;
    return i >= 0 && i < FO_N ? i : -1;
}

static void parse_view(const cJSON *cluster, fo_view *v)
{
    const cJSON *k = cJSON_GetObjectItem(cluster, "consensus");
    const cJSON *role = cJSON_GetObjectItem(k, "role");
    v->leader = node_index(cJSON_GetObjectItem(k, "leader"));
    v->leads = cJSON_IsString(role) && strcmp(role->valuestring, "leader") == 0;
    v->term = num_or(k, "term", -1);
    v->commit = num_or(k, "commit_index", -1);
    v->last_index = num_or(k, "last_index", -1);
    v->election_timeout_ms = num_or(k, "election_timeout_ms", 0);
    v->committed_total = num_or(k, "committed_entries_total", -1);
    const cJSON *lat = cJSON_GetObjectItem(k, "commit_latency_ms");
    v->lat_samples = num_or(lat, "samples", -1);
    v->lat_p50_ms = num_or(lat, "p50", -1);
    v->lat_p99_ms = num_or(lat, "p99", -1);
    for (int i = 0; i < FO_N; i++)
        v->match[i] = -1;
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItem(cluster, "nodes"))
    {
        int i = node_index(cJSON_GetObjectItem(n, "id"));
        if (i >= 0)
            v->match[i] = num_or(n, "match_index", -1);
    }
}

int fo_view_of(const fo_bench *b, int i, fo_view *v)
{
    char url[128], *body = NULL;
    long code = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/cluster", b->api_port[i]);
    int rc = md_fetch("GET", url, 500, &code, &body, NULL, 0);
    cJSON *doc = rc == 0 && code == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    const cJSON *cluster = cJSON_GetObjectItem(doc, "cluster");
    if (!cJSON_IsObject(cJSON_GetObjectItem(cluster, "consensus"))) {
        cJSON_Delete(doc);
        return -EIO;
    }
    parse_view(cluster, v);
    cJSON_Delete(doc);
    return 0;
}

/* ---- steady state ---- */

/* NULL when v[] (every node's view) is the steady state, with *leader set; else what is not. */
static const char *unsteady(const fo_bench *b, const fo_view *v, int *leader)
{
    int l = v[0].leader;
    if (l < 0)
        return "no leader named";
    for (int i = 0; i < FO_N; i++)
        if (v[i].leader != l || v[i].term != v[0].term)
            return "the nodes disagree on leader or term";
    if (!v[l].leads)
        return "the named leader does not report role leader";
    if (v[l].commit != v[l].last_index)
        return "the leader has uncommitted entries";
    for (int i = 0; i < FO_N; i++) {
        if (v[i].commit != v[l].commit)
            return "a node's commit_index differs from the leader's";
        if (v[l].match[i] != v[l].last_index)
            return "a node's match_index lags the leader's last_index";
    }
    double youngest = 0;
    for (int i = 0; i < FO_N; i++)
        youngest = b->started_ms[i] > youngest ? b->started_ms[i] : youngest;
    if (fo_now_ms() - youngest < v[l].election_timeout_ms + STEADY_MARGIN_MS)
        return "the latest (re)started node is younger than the election timeout + 500 ms";
    *leader = l;
    return NULL;
}

int fo_wait_steady(fo_bench *b, int timeout_ms, fo_view *lv)
{
    double t0 = fo_now_ms();
    const char *why = "not checked";
    while (fo_now_ms() - t0 < timeout_ms) {
        fo_view v[FO_N];
        int leader = -1;
        why = NULL;
        for (int i = 0; i < FO_N && !why; i++)
            if (!fo_live(b, i) || fo_view_of(b, i, &v[i]) < 0)
                why = "a node is down or does not answer";
        if (!why && !(why = unsteady(b, v, &leader))) {
            *lv = v[leader];
            if (b->verbose)
                printf("steady after %.0f ms: n%d leads term %.0f, commit_index %.0f everywhere\n", fo_now_ms() - t0,
                       leader + 1, lv->term, lv->commit);
            return leader;
        }
        fo_sleep_ms(20);
    }
    fprintf(stderr, "failover_bench: no steady state within %d ms: %s\n", timeout_ms, why);
    return -ETIMEDOUT;
}

/* ---- processes ---- */

static int start_relay(fo_bench *b, int to_port, int *listen_port)
{
    char to[64], delay[16];
    snprintf(to, sizeof to, "127.0.0.1:%d", to_port);
    snprintf(delay, sizeof delay, "%d", b->delay_ms);
    char *argv[] = { (char *)b->relay, "--listen", "127.0.0.1:0", "--to", to, "--control-port", "0", "--delay-ms",
                     delay, NULL };
    md_proc *p = &b->relays[b->n_relays];
    if (md_proc_spawn(argv, true, NULL, "/dev/null", p) < 0)
        return -EIO;
    b->n_relays++;
    char line[128];
    if (md_proc_read_line(p, line, sizeof line, 5000) < 0 || sscanf(line, "ready listen=%d", listen_port) != 1)
        return -EIO;
    return 0;
}

static int write_config(const fo_bench *b, int i, const char *path)
{
    char peers[1024] = "", services[1024] = "";
    size_t at = 0;
    for (int j = 0; j < FO_N; j++) {
        int port = j == i ? b->listen_port[j] : b->relay_port[i][j];
        at += (size_t)snprintf(peers + at, sizeof peers - at, "%s{\"id\":\"n%d\",\"address\":\"tcp://127.0.0.1:%d\"}",
                               j ? "," : "", j + 1, port);
    }
    at = 0;
    for (int k = 0; k < FO_N_SERVICES; k++)
        at += (size_t)snprintf(services + at, sizeof services - at,
                               "%s{\"name\":\"%s\",\"url\":\"http://127.0.0.1:%d/\",\"interval_ms\":5000,"
                               "\"timeout_ms\":1000}",
                               k ? "," : "", fo_services[k], b->svc_port);
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f,
            "{\"node\":{\"id\":\"n%d\",\"data_dir\":\"%s/data-n%d\"},\"api\":{\"listen\":\"127.0.0.1:%d\"},"
            "\"status_print_interval_ms\":0,\"log\":{\"level\":\"%s\"},"
            "\"cluster\":{\"name\":\"bench\",\"secret\":\"failover-bench-secret-0123\",\"timing\":\"%s\","
            "\"listen\":\"tcp://127.0.0.1:%d\",\"peers\":[%s]},"
            "\"remediation\":{\"admin_token\":\"" FO_ADMIN_TOKEN "\"},\"services\":[%s]}\n",
            i + 1, b->dir, i + 1, b->api_port[i], b->log_level, b->timing, b->listen_port[i], peers, services);
    return fclose(f) == 0 ? 0 : -EIO;
}

static bool health_ok(const fo_bench *b, int i)
{
    char url[128], *body = NULL;
    long code = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/health", b->api_port[i]);
    int rc = md_fetch("GET", url, 500, &code, &body, NULL, 0);
    free(body);
    return rc == 0 && code == 200;
}

static int start_node(fo_bench *b, int i)
{
    char path[PATH_MAX], log[PATH_MAX];
    snprintf(path, sizeof path, "%s/n%d.json", b->dir, i + 1);
    snprintf(log, sizeof log, "%s/n%d.log", b->dir, i + 1);
    if (write_config(b, i, path) < 0)
        return -EIO;
    char *argv[] = { (char *)b->medic, "node", "--config", path, NULL };
    if (md_proc_spawn(argv, false, "/dev/null", log, &b->node[i]) < 0)
        return -EIO;
    b->running[i] = true;
    b->stopped[i] = false;
    b->started_ms[i] = fo_now_ms();
    for (int k = 0; k < 500; k++) { /* 10 s */
        if (health_ok(b, i))
            return 0;
        fo_sleep_ms(20);
    }
    return -ETIMEDOUT;
}

static int start_all(fo_bench *b)
{
    char line[128];
    char *fargv[] = { (char *)b->flaky, "--port", "0", "--control-port", "0", NULL };
    if (md_proc_spawn(fargv, true, NULL, NULL, &b->flaky_proc) < 0 ||
        md_proc_read_line(&b->flaky_proc, line, sizeof line, 5000) < 0 || sscanf(line, "ready port=%d", &b->svc_port) != 1)
        return -EIO;
    for (int i = 0; i < FO_N; i++) {
        b->listen_port[i] = md_free_port();
        b->api_port[i] = md_free_port();
    }
    for (int i = 0; i < FO_N; i++)
        for (int j = 0; j < FO_N; j++) {
            if (i == j)
                continue;
            b->relay_port[i][j] = b->listen_port[j];
            if (b->delay_ms > 0 && start_relay(b, b->listen_port[j], &b->relay_port[i][j]) < 0)
                return -EIO;
        }
    for (int i = 0; i < FO_N; i++)
        if (start_node(b, i) < 0)
            return -EIO;
    return 0;
}

static void stop_all(fo_bench *b)
{
    for (int i = 0; i < FO_N; i++) {
        if (b->stopped[i])
            kill(b->node[i].pid, SIGCONT); /* else SIGTERM would wait, and SIGKILL end it unclean */
        b->stopped[i] = false;
        if (b->running[i])
            md_proc_stop(&b->node[i], SIGTERM, 3000, NULL);
        b->running[i] = false;
    }
    for (int i = 0; i < b->n_relays; i++)
        md_proc_stop(&b->relays[i], SIGTERM, 3000, NULL);
    md_proc_stop(&b->flaky_proc, SIGTERM, 3000, NULL);
}

/* ---- the quiet run ---- */

static int steady_run(fo_bench *b)
{
    fo_view before, after;
    int leader = fo_wait_steady(b, STEADY_WAIT_MS, &before);
    if (leader < 0)
        return leader;
    printf("steady run: %d s with leader n%d at term %.0f ...\n", b->steady_s, leader + 1, before.term);
    fflush(stdout);
    fo_sleep_ms((long)b->steady_s * 1000);
    int l1 = fo_wait_steady(b, 10000, &after);
    printf("RESULT steady_s=%d elections=%.0f leader_before=n%d leader_after=n%d term_before=%.0f term_after=%.0f\n",
           b->steady_s, l1 < 0 ? -1 : after.term - before.term, leader + 1, l1 < 0 ? 0 : l1 + 1, before.term,
           l1 < 0 ? -1 : after.term);
    return l1 < 0 ? l1 : 0;
}

/* ---- failover trials ---- */

typedef struct {
    double agreed_ms, elected_ms, stepdown_ms;
    int winner;
} trial;

/* One poll round over the live nodes: records when each first reports leading in a term above
 * term; returns the leader all of them name in one such term, which leads, or -1. */
static int poll_round(const fo_bench *b, double term, double t0, double first_lead[FO_N])
{
    int winner = -1;
    double wterm = -1;
    bool agree = true, winner_leads = false;
    for (int i = 0; i < FO_N; i++) {
        fo_view v;
        if (!fo_live(b, i))
            continue;
        if (fo_view_of(b, i, &v) < 0) {
            agree = false;
            continue;
        }
        if (v.leads && v.term > term && first_lead[i] < 0)
            first_lead[i] = fo_now_ms() - t0;
        bool differs = winner >= 0 && (v.leader != winner || v.term != wterm);
        if (v.leader < 0 || v.term <= term || !fo_live(b, v.leader) || differs)
            agree = false;
        winner = winner < 0 ? v.leader : winner;
        wterm = wterm < 0 ? v.term : wterm;
        winner_leads = winner_leads || (i == winner && v.leads);
    }
    return agree && winner >= 0 && winner_leads ? winner : -1;
}

static int await_new_leader(const fo_bench *b, double term, double t0, trial *t)
{
    double first_lead[FO_N];
    for (int i = 0; i < FO_N; i++)
        first_lead[i] = -1;
    while (fo_now_ms() - t0 < FAILOVER_WAIT_MS) {
        int w = poll_round(b, term, t0, first_lead);
        if (w >= 0) {
            t->agreed_ms = fo_now_ms() - t0;
            t->elected_ms = first_lead[w];
            t->winner = w;
            return 0;
        }
        fo_sleep_ms(POLL_MS);
    }
    return -ETIMEDOUT;
}

/* SIGCONT the stopped old leader; it must come back as a follower of the winner. */
static int resume_old(fo_bench *b, int old, trial *t)
{
    double t0 = fo_now_ms();
    kill(b->node[old].pid, SIGCONT);
    b->stopped[old] = false;
    while (fo_now_ms() - t0 < STEPDOWN_WAIT_MS) {
        fo_view v;
        if (fo_view_of(b, old, &v) == 0 && !v.leads && v.leader == t->winner) {
            t->stepdown_ms = fo_now_ms() - t0;
            return 0;
        }
        fo_sleep_ms(POLL_MS);
    }
    fprintf(stderr, "failover_bench: n%d did not follow n%d within %d ms of SIGCONT\n", old + 1, t->winner + 1,
            STEPDOWN_WAIT_MS);
    return -ETIMEDOUT;
}

static int one_trial(fo_bench *b, bool silent, trial *t)
{
    fo_view lv;
    int leader = fo_wait_steady(b, STEADY_WAIT_MS, &lv);
    if (leader < 0)
        return leader;
    double t0 = fo_now_ms();
    if (silent) {
        kill(b->node[leader].pid, SIGSTOP);
        b->stopped[leader] = true;
    } else {
        md_proc_stop(&b->node[leader], SIGKILL, 1000, NULL);
        b->running[leader] = false;
    }
    int rc = await_new_leader(b, lv.term, t0, t);
    if (rc < 0) {
        fprintf(stderr, "failover_bench: no agreed leader within %d ms of stopping n%d\n", FAILOVER_WAIT_MS,
                leader + 1);
        return rc;
    }
    if (b->verbose) {
        printf("%s: n%d %s; n%d agreed in term > %.0f after %.0f ms (leading after %.0f ms)\n",
               silent ? "silent" : "kill", leader + 1, silent ? "stopped" : "killed", t->winner + 1, lv.term,
               t->agreed_ms, t->elected_ms);
        fflush(stdout);
    }
    t->stepdown_ms = -1;
    return silent ? resume_old(b, leader, t) : start_node(b, leader);
}

static void print_trials(const fo_bench *b, bool silent, const trial *t, int done, double *agreed, double *elected,
                         double *back)
{
    for (int k = 0; k < done; k++) {
        agreed[k] = t[k].agreed_ms;
        elected[k] = t[k].elected_ms;
        back[k] = t[k].stepdown_ms;
    }
    double a50, a99, e50, e99, s50, s99;
    fo_quantiles(agreed, (size_t)done, &a50, &a99);
    fo_quantiles(elected, (size_t)done, &e50, &e99);
    fo_quantiles(back, (size_t)done, &s50, &s99);
    printf("RESULT failure=%s timing=%s delay_ms=%d trials=%d median_ms=%.0f p99_ms=%.0f min_ms=%.0f max_ms=%.0f "
           "elected_median_ms=%.0f elected_p99_ms=%.0f",
           silent ? "silent" : "kill", b->timing, b->delay_ms, done, a50, a99, done ? agreed[0] : -1,
           done ? agreed[done - 1] : -1, e50, e99);
    if (silent)
        printf(" stepdown_median_ms=%.0f stepdown_max_ms=%.0f", s50, done ? back[done - 1] : -1);
    printf("\n");
    fflush(stdout);
}

static int run_trials(fo_bench *b, bool silent)
{
    trial *t = calloc((size_t)b->trials, sizeof *t);
    double *figures = calloc(3 * (size_t)b->trials, sizeof *figures);
    if (!t || !figures) {
        free(t);
        free(figures);
        return -ENOMEM;
    }
    int done = 0, rc = 0;
    while (done < b->trials && (rc = one_trial(b, silent, &t[done])) == 0)
        done++;
    size_t n = (size_t)b->trials;
    print_trials(b, silent, t, done, figures, figures + n, figures + 2 * n);
    free(figures);
    free(t);
    return rc;
}

static int run(fo_bench *b)
{
    int rc = start_all(b);
    if (rc < 0)
        return rc;
    if (b->steady_s > 0 && (rc = steady_run(b)) < 0)
        return rc;
    bool kill9 = strcmp(b->failure, "silent") != 0, silent = strcmp(b->failure, "kill") != 0;
    int rk = kill9 ? run_trials(b, false) : 0;
    int rs = silent ? run_trials(b, true) : 0;
    int rcm = b->commit_n > 0 ? fo_commit_phase(b) : 0;
    return rk < 0 ? rk : rs < 0 ? rs : rcm;
}

/* ---- options ---- */

static int usage(void)
{
    fprintf(stderr, "usage: failover_bench --medic PATH --flaky PATH --relay PATH [--timing lan|wan] [--delay-ms D] "
                    "[--trials N] [--failure kill|silent|both] [--steady-s S] [--commit-n N] [--load-s S] "
                    "[--in-flight K] [--verbose] [--keep]\n");
    return 2;
}

static bool set_value(fo_bench *b, const char *opt, const char *val)
{
    const char **s = strcmp(opt, "--medic") == 0     ? &b->medic
                     : strcmp(opt, "--flaky") == 0   ? &b->flaky
                     : strcmp(opt, "--relay") == 0   ? &b->relay
                     : strcmp(opt, "--timing") == 0  ? &b->timing
                     : strcmp(opt, "--failure") == 0 ? &b->failure
                                                     : NULL;
    int *n = strcmp(opt, "--delay-ms") == 0    ? &b->delay_ms
             : strcmp(opt, "--trials") == 0    ? &b->trials
             : strcmp(opt, "--steady-s") == 0  ? &b->steady_s
             : strcmp(opt, "--commit-n") == 0  ? &b->commit_n
             : strcmp(opt, "--load-s") == 0    ? &b->load_s
             : strcmp(opt, "--in-flight") == 0 ? &b->in_flight
                                               : NULL;
    if (s)
        *s = val;
    if (n)
        *n = atoi(val);
    return s || n;
}

static int parse_args(fo_bench *b, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keep") == 0) {
            b->keep = true; /* leave the logs and data directories for a look */
        } else if (strcmp(argv[i], "--verbose") == 0) {
            b->verbose = true; /* one line per trial, and the nodes log at info */
            b->log_level = "info";
        } else if (i + 1 >= argc || !set_value(b, argv[i], argv[i + 1])) {
            fprintf(stderr, "failover_bench: unknown option or missing value: %s\n", argv[i]);
            return usage();
        } else {
            i++;
        }
    }
    bool failure_ok = strcmp(b->failure, "kill") == 0 || strcmp(b->failure, "silent") == 0 ||
                      strcmp(b->failure, "both") == 0;
    if (!b->medic || !b->flaky || !b->relay || b->trials < 1 || !failure_ok || b->commit_n < 0 || b->load_s < 1 ||
        b->in_flight < 1 || b->in_flight > 64)
        return usage();
    return 0;
}

int main(int argc, char **argv)
{
    fo_bench b = { .timing = "lan", .trials = 30, .log_level = "warn", .failure = "both", .commit_n = 200,
                   .load_s = 5, .in_flight = 16 };
    int prc = parse_args(&b, argc, argv);
    if (prc != 0)
        return prc;
    snprintf(b.dir, sizeof b.dir, "/tmp/medic-failover-XXXXXX");
    if (!mkdtemp(b.dir))
        return 1;
    int rc = run(&b);
    stop_all(&b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b.dir);
    if (b.keep)
        printf("kept %s\n", b.dir);
    else if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", b.dir);
    return rc == 0 ? 0 : 1;
}
