/* cluster.c: one run's cluster in the chaos world: the fake Railway API (its deployment of "web"
 * is the service every node watches) in the services' namespace, one relay per directed pair of
 * nodes (the link's one-way delay and jitter) and one to the Railway API in each node's
 * namespace, and the medic nodes themselves; their APIs, read over the bridge. In loopback mode
 * the same pieces run on 127.0.0.1 without namespaces. */
#include "chaos.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

volatile int ch_interrupted;

void ch_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

const char *ch_jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

double ch_jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* spawn_in runs argv (a NULL-terminated list, argv[0] a path) in namespace ns ("" for here),
 * through `ip netns exec`, which execs the program itself: the pid we hold is the program's. */
static int spawn_in(const char *ns, char *const *argv, bool capture, const char *err_path, md_proc *p)
{
    char *full[40];
    int k = 0;
    if (ns[0]) {
        full[k++] = (char *)ch_ip_bin();
        full[k++] = "netns";
        full[k++] = "exec";
        full[k++] = (char *)ns;
    }
    for (int j = 0; argv[j] && k < 39; j++)
        full[k++] = argv[j];
    full[k] = NULL;
    p->out_fd = -1;
    return md_proc_spawn(full, capture, NULL, err_path, p);
}

static void node_ns(const ch_cluster *c, int i, char *out, size_t len)
{
    char part[16];
    snprintf(part, sizeof part, "n%d", i + 1);
    if (c->w->netns)
        ch_ns_name(c->w, part, out, len);
    else
        out[0] = '\0';
}

static int start_fake(ch_cluster *c)
{
    char ns[64] = "", bin[PATH_MAX + 32], flaky[PATH_MAX + 32], state[PATH_MAX + 16], err[PATH_MAX + 16];
    if (c->w->netns)
        ch_ns_name(c->w, "svc", ns, sizeof ns);
    snprintf(c->fake_ip, sizeof c->fake_ip, "%s", c->w->netns ? CH_SVC_IP : "127.0.0.1");
    snprintf(bin, sizeof bin, "%s/fake_railway", c->w->bindir);
    snprintf(flaky, sizeof flaky, "%s/flaky_service", c->w->bindir);
    snprintf(state, sizeof state, "%s/run/fake", c->w->dir);
    snprintf(err, sizeof err, "%s/run/fake.log", c->w->dir);
    char *argv[] = { bin, "--port", "0", "--host", c->fake_ip, "--state-dir", state, "--flaky-bin", flaky,
                     "--services", CH_SERVICE, "--deploy-delay-ms", "300", NULL };
    char line[512];
    if (spawn_in(ns, argv, true, err, &c->fake) < 0 || md_proc_read_line(&c->fake, line, sizeof line, 10000) < 0 ||
        sscanf(line, "ready port=%d services=" CH_SERVICE "@%d/%d", &c->fake_port, &c->svc_port, &c->svc_control) != 3) {
        fprintf(stderr, "medic chaos: the fake Railway API did not start (%s)\n", err);
        return -1;
    }
    return 0;
}

/* One relay: listen (port 0: any) in ns, forward to `to`; returns the port it listens on. */
static int start_relay(ch_cluster *c, const char *ns, int listen_port, const char *to, int delay_ms, int jitter_ms)
{
    if (c->relays >= (int)(sizeof c->relay / sizeof c->relay[0]))
        return -1;
    char bin[PATH_MAX + 16], lis[32], d[16], j[16], seed[16], err[PATH_MAX + 16];
    snprintf(bin, sizeof bin, "%s/relay", c->w->bindir);
    snprintf(lis, sizeof lis, "127.0.0.1:%d", listen_port);
    snprintf(d, sizeof d, "%d", delay_ms);
    snprintf(j, sizeof j, "%d", jitter_ms);
    snprintf(seed, sizeof seed, "%d", c->relays + 1);
    snprintf(err, sizeof err, "%s/run/relays.log", c->w->dir);
    char *argv[] = { bin, "--listen", lis, "--to", (char *)to, "--control-port", "0", "--delay-ms", d, "--jitter-ms", j,
                     "--seed", seed, NULL };
    md_proc *p = &c->relay[c->relays++];
    char line[128];
    int port = 0, ctl = 0;
    if (spawn_in(ns, argv, true, err, p) < 0 || md_proc_read_line(p, line, sizeof line, 5000) < 0 ||
        sscanf(line, "ready listen=%d control=%d", &port, &ctl) != 2)
        return -1;
    return port;
}

/* Regions: node i is in region i % 3; the three pairs of regions have their own delay. */
static int link_delay(const ch_timing *tm, int i, int j)
{
    int a = i % 3, b = j % 3;
    if (a == b)
        return 1;
    int lo = a < b ? a : b, hi = a < b ? b : a;
    return tm->delay_ms[lo == 0 ? (hi == 1 ? 0 : 1) : 2];
}

static int write_config(ch_cluster *c, int i, const int *peer_port)
{
    ch_node *nd = &c->node[i];
    char peers[2048];
    size_t at = 0;
    for (int j = 0; j < c->n; j++) {
        char addr[64];
        if (j == i)
            snprintf(addr, sizeof addr, "tcp://%s:%d", nd->ip, nd->cluster_port);
        else
            snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", peer_port[j]);
        at += (size_t)snprintf(peers + at, sizeof peers - at, "%s{\"id\":\"n%d\",\"address\":\"%s\",\"region\":\"r%d\"}",
                               j ? "," : "", j + 1, addr, j % 3 + 1);
    }
    FILE *f = fopen(nd->cfg, "w");
    if (!f)
        return -errno;
    const ch_timing *tm = &c->tm;
    fprintf(f,
            "{\"node\":{\"id\":\"%s\",\"region\":\"r%d\",\"data_dir\":\"%s\"},\n"
            " \"api\":{\"listen\":\"%s:%d\"},\"status_print_interval_ms\":0,\n"
            " \"cluster\":{\"name\":\"chaos\",\"secret\":\"chaos-cluster-secret-0123456789\",\"listen\":\"tcp://%s:%d\",\n"
            "   \"peers\":[%s],\"gossip_interval_ms\":100,\"heartbeat_ms\":%d,\"election_timeout_ms\":%d},\n"
            " \"remediation\":{\"admin_token\":\"chaos-admin-token-0123456789\",\n"
            "   \"railway\":{\"endpoint\":\"http://127.0.0.1:%d/graphql/v2\",\"token\":\"chaos-railway-token-0123\",\n"
            "   \"token_kind\":\"project\",\"budget_per_hour\":36000}},\n"
            " \"services\":[{\"name\":\"" CH_SERVICE "\",\"url\":\"http://%s:%d/health\",\"interval_ms\":%d,\n"
            "   \"timeout_ms\":%d,\"failures_before_down\":%d,\"restart_interval_ms\":%d,\"verify_after_ms\":%d,\n"
            "   \"restart_timeout_ms\":%d,\"redeploy_timeout_ms\":%d,\"rollback_timeout_ms\":%d,\n"
            "   \"known_good_after_ms\":500,\"max_actions_per_hour\":100,\n"
            "   \"railway\":{\"service_id\":\"" CH_SERVICE "\",\"environment_id\":\"e7a10000-0000-4000-8000-0000000000e1\"}}]}\n",
            nd->id, i % 3 + 1, nd->data, nd->ip, nd->api_port, nd->ip, nd->cluster_port, peers, tm->heartbeat_ms,
            tm->election_ms, c->rw_port[i], c->fake_ip, c->svc_port, tm->interval_ms, tm->timeout_ms, tm->failures,
            tm->quick ? 1000 : 3000, tm->quick ? 400 : 2000, 5000, 8000, 8000);
    return fclose(f) == 0 ? 0 : -errno;
}

int ch_node_spawn(ch_cluster *c, int i)
{
    ch_node *nd = &c->node[i];
    char ns[64], medic[PATH_MAX + 16], pre[PATH_MAX + 32], file[PATH_MAX + 32], asan[512];
    node_ns(c, i, ns, sizeof ns);
    snprintf(medic, sizeof medic, "%s", c->w->medic);
    char *argv[16];
    int k = 0;
    if (nd->clock_file[0]) {
        /* libfaketime moves this node's wall clock when the harness writes an offset to its file;
         * the monotonic clock stays real (timeouts and leases use it). */
        const char *old = getenv("ASAN_OPTIONS");
        snprintf(pre, sizeof pre, "LD_PRELOAD=%s", c->w->faketime_lib);
        snprintf(file, sizeof file, "FAKETIME_TIMESTAMP_FILE=%s", nd->clock_file);
        snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", old ? old : "", old && *old ? ":" : "");
        static char env_bin[] = "/usr/bin/env", nocache[] = "FAKETIME_NO_CACHE=1",
                    mono[] = "FAKETIME_DONT_FAKE_MONOTONIC=1";
        argv[k++] = env_bin;
        argv[k++] = pre;
        argv[k++] = file;
        argv[k++] = nocache;
        argv[k++] = mono;
        argv[k++] = asan;
    }
    argv[k++] = medic;
    argv[k++] = "node";
    argv[k++] = "--config";
    argv[k++] = nd->cfg;
    argv[k] = NULL;
    if (spawn_in(ns, argv, false, nd->log, &nd->proc) < 0)
        return -1;
    nd->running = true;
    nd->stopped = false;
    /* Bounded: the API answers within seconds of a start. */
    for (int t = 0; t < 200 && !ch_interrupted; t++) {
        cJSON *h = ch_node_get(c, i, "/v1/health");
        cJSON_Delete(h);
        if (h)
            return 0;
        if (!md_proc_alive(&nd->proc, NULL))
            break;
        ch_sleep_ms(50);
    }
    fprintf(stderr, "medic chaos: node %s did not start (log %s)\n", nd->id, nd->log);
    return -1;
}

void ch_node_kill(ch_cluster *c, int i)
{
    ch_node *nd = &c->node[i];
    if (!nd->running)
        return;
    kill(nd->proc.pid, SIGKILL);
    md_proc_stop(&nd->proc, 0, 3000, NULL);
    nd->running = false;
    nd->stopped = false;
}

int ch_cluster_start(ch_cluster *c, ch_world *w, const ch_timing *tm, int nodes, bool faketime)
{
    memset(c, 0, sizeof *c);
    c->w = w;
    c->tm = *tm;
    c->n = nodes;
    c->fake.out_fd = -1;
    char run[270];
    snprintf(run, sizeof run, "%s/run", w->dir);
    if (ch_sh("rm -rf '%s' && mkdir -p '%s'", run, run) != 0 || ch_net_reset(w, CH_MAX_NODES) < 0)
        return -1;
    if (start_fake(c) < 0)
        return -1;
    int port[CH_MAX_NODES][CH_MAX_NODES]; /* port[i][j]: where node i reaches node j */
    for (int i = 0; i < nodes; i++) {
        ch_node *nd = &c->node[i];
        snprintf(nd->id, sizeof nd->id, "n%d", i + 1);
        node_ns(c, i, nd->ns, sizeof nd->ns);
        char base[300];
        snprintf(base, sizeof base, "%s/n%d", run, i + 1);
        snprintf(nd->dir, sizeof nd->dir, "%s", base);
        snprintf(nd->cfg, sizeof nd->cfg, "%s/node.json", base);
        snprintf(nd->log, sizeof nd->log, "%s/node.log", base);
        snprintf(nd->data, sizeof nd->data, "%s/data", base);
        if (faketime)
            snprintf(nd->clock_file, sizeof nd->clock_file, "%s/clock", base);
        if (mkdir(nd->dir, 0755) != 0)
            return -1;
        if (w->netns) {
            snprintf(nd->ip, sizeof nd->ip, CH_NET ".%d", 11 + i);
            nd->api_port = CH_API_PORT;
            nd->cluster_port = CH_CLUSTER_PORT;
            /* The data dir is a small tmpfs of its own, so a full disk is one node's. */
            if (ch_tmpfs(w, nd->data, tm->data_tmpfs_kb) < 0)
                return -1;
        } else {
            snprintf(nd->ip, sizeof nd->ip, "127.0.0.1");
            nd->api_port = md_free_port();
            nd->cluster_port = md_free_port();
            if (nd->api_port < 0 || nd->cluster_port < 0)
                return -1;
        }
        if (faketime) {
            FILE *f = fopen(nd->clock_file, "w");
            if (!f || fputs("+0\n", f) < 0 || fclose(f) != 0)
                return -1;
        }
    }
    for (int i = 0; i < nodes; i++) {
        char to[64];
        for (int j = 0; j < nodes; j++) {
            if (j == i)
                continue;
            snprintf(to, sizeof to, "%s:%d", c->node[j].ip, c->node[j].cluster_port);
            port[i][j] = start_relay(c, c->node[i].ns, w->netns ? CH_RELAY_BASE + j : 0, to, link_delay(tm, i, j),
                                     tm->jitter_ms);
            if (port[i][j] < 0)
                return -1;
        }
        if (w->netns) {
            snprintf(to, sizeof to, "%s:%d", c->fake_ip, c->fake_port);
            c->rw_port[i] = start_relay(c, c->node[i].ns, CH_RW_RELAY_PORT, to, 0, 0);
            if (c->rw_port[i] < 0)
                return -1;
        } else {
            c->rw_port[i] = c->fake_port;
        }
        if (write_config(c, i, port[i]) < 0)
            return -1;
    }
    for (int i = 0; i < nodes; i++)
        if (ch_node_spawn(c, i) < 0)
            return -1;
    return 0;
}

void ch_cluster_stop(ch_cluster *c)
{
    for (int i = 0; i < c->n; i++) {
        ch_node *nd = &c->node[i];
        if (nd->proc.pid > 0) {
            kill(nd->proc.pid, SIGCONT);
            kill(nd->proc.pid, SIGTERM);
        }
    }
    for (int i = 0; i < c->n; i++)
        if (c->node[i].proc.pid > 0)
            md_proc_stop(&c->node[i].proc, 0, 5000, NULL);
    for (int k = 0; k < c->relays; k++)
        md_proc_stop(&c->relay[k], SIGTERM, 2000, NULL);
    if (c->fake.pid > 0)
        md_proc_stop(&c->fake, SIGTERM, 5000, NULL);
    for (int i = 0; i < c->n; i++) {
        if (!c->w->netns)
            continue;
        umount2(c->node[i].data, MNT_DETACH);
    }
}

cJSON *ch_node_get(const ch_cluster *c, int i, const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "http://%s:%d%s", c->node[i].ip, c->node[i].api_port, path);
    char *body = NULL;
    long code = 0;
    if (md_fetch("GET", url, 1000, &code, &body, NULL, 0) < 0)
        return NULL;
    cJSON *doc = code == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    return doc;
}

static int fake_call(ch_cluster *c, const char *method, const char *path, cJSON **doc)
{
    char url[256];
    snprintf(url, sizeof url, "http://%s:%d%s", c->fake_ip, c->fake_port, path);
    char *body = NULL;
    long code = 0;
    if (md_fetch(method, url, 5000, &code, &body, NULL, 0) < 0)
        return -1;
    if (doc)
        *doc = code == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    return (int)code;
}

int ch_fake_control(ch_cluster *c, const char *path)
{
    return fake_call(c, "POST", path, NULL);
}

cJSON *ch_fake_get(ch_cluster *c, const char *path)
{
    cJSON *doc = NULL;
    fake_call(c, "GET", path, &doc);
    return doc;
}

/* The current deployment's flaky_service control port (a redeploy or rollback starts another). */
int ch_svc_mode(ch_cluster *c, const char *mode)
{
    cJSON *doc = ch_fake_get(c, "/control/services");
    const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "services"), 0);
    int ctl = (int)ch_jnum(s, "controlPort");
    if (ctl <= 0)
        ctl = c->svc_control;
    cJSON_Delete(doc);
    char url[256];
    snprintf(url, sizeof url, "http://%s:%d/mode/%s", c->fake_ip, ctl, mode);
    char *body = NULL;
    long code = 0;
    int rc = md_fetch("POST", url, 3000, &code, &body, NULL, 0);
    free(body);
    return rc < 0 || code != 200 ? -1 : 0;
}

/* The leader a majority of the answering nodes names, as an index, or -1. */
int ch_leader(const ch_cluster *c)
{
    int votes[CH_MAX_NODES] = { 0 }, answered = 0;
    for (int i = 0; i < c->n; i++) {
        if (!c->node[i].running || c->node[i].stopped)
            continue;
        cJSON *cl = ch_node_get(c, i, "/v1/cluster");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cl, "cluster"), "consensus");
        const char *l = ch_jstr(k, "leader");
        if (cl)
            answered++;
        if (l[0] == 'n' && atoi(l + 1) >= 1 && atoi(l + 1) <= c->n)
            votes[atoi(l + 1) - 1]++;
        cJSON_Delete(cl);
    }
    for (int i = 0; i < c->n; i++)
        if (votes[i] * 2 > answered && c->node[i].running && !c->node[i].stopped)
            return i;
    return -1;
}

/* Every node sees the service UP, agrees on a leader, and the leader recorded the running
 * deployment as last-known-good (the rollback target). */
int ch_wait_ready(ch_cluster *c, int timeout_ms)
{
    int64_t deadline = md_wall_ms() + timeout_ms;
    while (md_wall_ms() < deadline && !ch_interrupted) {
        int up = 0;
        for (int i = 0; i < c->n; i++) {
            cJSON *doc = ch_node_get(c, i, "/v1/services/" CH_SERVICE);
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "service"), "verdict");
            up += strcmp(ch_jstr(v, "state"), "UP") == 0;
            cJSON_Delete(doc);
        }
        int l = up == c->n ? ch_leader(c) : -1;
        if (l >= 0) {
            cJSON *inc = ch_node_get(c, l, "/v1/incidents");
            const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(inc, "services"), 0);
            bool kg = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(s, "known_good_deployment"));
            cJSON_Delete(inc);
            if (kg)
                return 0;
        }
        ch_sleep_ms(100);
    }
    return -1;
}
