/* demo.c: `medic demo`: three medic nodes on loopback watch a demo service; the demo crashes the
 * service and prints, as they happen, each node's detection, the quorum verdict, the incident,
 * the restart committed through Raft and executed by the leader (an exec actuator), and the
 * recovery; then a summary table. A second scene (demo_ladder.c) kills the leader mid-ladder.
 * It exits by itself and stops every process it started, unless --keep leaves them running. */
#include "cmd.h"
#include "demo_int.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NODES DEMO_NODES
#define INTERVAL_MS 500
#define TIMEOUT_MS 300
#define FAILURES 2
#define RESTART_INTERVAL_MS 2000
#define VERIFY_AFTER_MS 1000
#define WAIT_LIMIT_MS DEMO_WAIT_LIMIT_MS

/* One moment of the timeline: found by polling, printed once. */
typedef struct {
    const char *what;
    int64_t at_ms;  /* 0: not seen yet */
    char note[160];
} moment;

enum { M_FAULT, M_SEEN1, M_SEEN2, M_SEEN3, M_QUORUM, M_OPENED, M_INTENT, M_RESULT, M_UP, M_RESOLVED, M_COUNT };

void demo_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

cJSON *demo_get_json(int port, const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    char *body = NULL;
    long code = 0;
    if (md_fetch("GET", url, 1000, &code, &body, NULL, 0) < 0)
        return NULL;
    cJSON *doc = code == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    return doc;
}

double demo_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

const char *demo_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

int64_t demo_set_mode(demo *d, const char *mode)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/mode/%s", d->control_port, mode);
    long code = 0;
    char *body = NULL;
    if (md_fetch("POST", url, 5000, &code, &body, NULL, 0) < 0 || code != 200) {
        free(body);
        return -1;
    }
    cJSON *doc = cJSON_Parse(body);
    int64_t t = (int64_t)demo_num(doc, "changed_at_ms");
    cJSON_Delete(doc);
    free(body);
    return t > 0 ? t : md_wall_ms();
}

/* random_hex fills out (len - 1 hex digits and a NUL) from the kernel's random source. */
static int random_hex(char *out, size_t len)
{
    unsigned char raw[32];
    size_t n = (len - 1) / 2;
    assert(len >= 3 && n <= sizeof raw);
    if (getrandom(raw, n, 0) != (ssize_t)n)
        return -EIO;
    for (size_t k = 0; k < n; k++) {
        out[2 * k] = "0123456789abcdef"[raw[k] >> 4];
        out[2 * k + 1] = "0123456789abcdef"[raw[k] & 15];
    }
    out[2 * n] = '\0';
    return 0;
}

/* The demo's restart (run by the exec actuator on the leader): it notes which node ran it, one line
 * per run, so the second scene can prove no step ran twice; it heals the service only while the
 * fixable file exists, so the second scene can make the first restart fail to help. The paths are
 * our mkdtemp directory's: no quoting needed. */
static const char *restart_cmd(const demo *d, int i, char *out, size_t len)
{
    snprintf(out, len,
             "echo n%d >> %s; if [ -e %s ]; then exec curl -sS -X POST http://127.0.0.1:%d/mode/healthy; fi; "
             "echo 'still broken: this restart does not fix it'",
             i + 1, d->restarts_path, d->fixable_path, d->control_port);
    return out;
}

static int write_configs(demo *d)
{
    char peers[1024];
    size_t at = 0;
    for (int i = 0; i < NODES; i++)
        at += (size_t)snprintf(peers + at, sizeof peers - at, "%s{\"id\":\"n%d\",\"address\":\"tcp://127.0.0.1:%d\"}",
                               i ? "," : "", i + 1, d->cluster_port[i]);
    char secret[33];
    if (random_hex(secret, sizeof secret) < 0 || random_hex(d->admin_token, sizeof d->admin_token) < 0)
        return -EIO;
    char cmd[PATH_MAX * 2 + 256];
    for (int i = 0; i < NODES; i++) {
        FILE *f = fopen(d->cfg_path[i], "w");
        if (!f)
            return -errno;
        fprintf(f,
                "{\"node\":{\"id\":\"n%d\",\"region\":\"demo-%c\",\"data_dir\":\"%s\"},\n"
                " \"api\":{\"listen\":\"127.0.0.1:%d\"},\"status_print_interval_ms\":0,\n"
                " \"cluster\":{\"name\":\"demo\",\"secret\":\"%s\",\"peers\":[%s],\n"
                "   \"gossip_interval_ms\":100,\"heartbeat_ms\":50,\"election_timeout_ms\":500},\n"
                " \"services\":[{\"name\":\"demo-api\",\"url\":\"http://127.0.0.1:%d/health\",\n"
                "   \"interval_ms\":%d,\"timeout_ms\":%d,\"failures_before_down\":%d,\n"
                "   \"restart_interval_ms\":%d,\"verify_after_ms\":%d,\n"
                "   \"exec\":{\"restart\":[\"sh\",\"-c\",\"%s\"],\"timeout_ms\":5000}}],\n"
                " \"remediation\":{\"admin_token\":\"%s\"}}\n",
                i + 1, 'a' + i, d->data_dir[i], d->api_port[i], secret, peers, d->service_port, INTERVAL_MS,
                TIMEOUT_MS, FAILURES, RESTART_INTERVAL_MS, VERIFY_AFTER_MS, restart_cmd(d, i, cmd, sizeof cmd), d->admin_token);
        if (fclose(f) != 0)
            return -errno;
    }
    return 0;
}

int demo_spawn_node(demo *d, int i)
{
    char *argv[] = { d->medic, "node", "--config", d->cfg_path[i], NULL };
    if (d->keep)
        return md_proc_spawn_kept(argv, false, "/dev/null", d->log_path[i], &d->node[i]);
    return md_proc_spawn(argv, false, "/dev/null", d->log_path[i], &d->node[i]);
}

static int start_all(demo *d, const char *bindir)
{
    char flaky[PATH_MAX + 32];
    const char *env = getenv("MEDIC_FLAKY_BIN");
    md_helper_path("flaky_service", flaky, sizeof flaky); /* beside medic, or in ../libexec/medic */
    snprintf(d->medic, sizeof d->medic, "%s/medic", bindir);
    char *fargv[] = { env && *env ? (char *)env : flaky, "--port", "0", "--control-port", "0", NULL };
    if (access(fargv[0], X_OK) != 0) {
        fprintf(stderr, "medic demo: the demo service %s is missing (it is built and installed with medic: `make demo`, "
                        "or `cmake --install`), or set MEDIC_FLAKY_BIN\n",
                fargv[0]);
        return -1;
    }
    char line[256];
    int src = d->keep ? md_proc_spawn_kept(fargv, true, NULL, NULL, &d->service)
                      : md_proc_spawn(fargv, true, NULL, NULL, &d->service);
    if (src < 0 || md_proc_read_line(&d->service, line, sizeof line, 5000) < 0 ||
        sscanf(line, "ready port=%d control=%d", &d->service_port, &d->control_port) != 2) {
        fprintf(stderr, "medic demo: the demo service did not start\n");
        return -1;
    }
    for (int i = 0; i < NODES; i++) {
        d->api_port[i] = md_free_port();
        d->cluster_port[i] = md_free_port();
        if (d->api_port[i] < 0 || d->cluster_port[i] < 0)
            return -1;
    }
    if (write_configs(d) < 0)
        return -1;
    FILE *fix = fopen(d->fixable_path, "w");
    if (!fix || fclose(fix) != 0)
        return -1;
    for (int i = 0; i < NODES; i++)
        if (demo_spawn_node(d, i) < 0)
            return -1;
    return 0;
}

/* Waits for a leader every node agrees on and the service UP on every node. */
static int wait_ready(demo *d, char *leader, size_t len)
{
    int64_t deadline = md_wall_ms() + WAIT_LIMIT_MS;
    while (md_wall_ms() < deadline) {
        int ready = 0;
        leader[0] = '\0';
        for (int i = 0; i < NODES; i++) {
            cJSON *doc = demo_get_json(d->api_port[i], "/v1/services/demo-api");
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "service");
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "verdict");
            cJSON *cl = demo_get_json(d->api_port[i], "/v1/cluster");
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cl, "cluster"), "consensus");
            if (strcmp(demo_str(v, "state"), "UP") == 0 && demo_str(k, "leader")[0]) {
                ready++;
                snprintf(leader, len, "%s", demo_str(k, "leader"));
            }
            cJSON_Delete(doc);
            cJSON_Delete(cl);
        }
        if (ready == NODES)
            return 0;
        demo_sleep_ms(50);
    }
    return -1;
}

void demo_print_event(const demo *d, int64_t at_ms, const char *what, const char *note)
{
    char ts[40];
    md_format_time_ms(at_ms, ts, sizeof ts);
    printf("  %-12s %+7lld ms  %-34s %s\n", ts + 11, (long long)(at_ms - d->t0), what, note);
    fflush(stdout);
}

static void print_moment(const demo *d, moment *m)
{
    demo_print_event(d, m->at_ms, m->what, m->note);
}

/* One poll of every node: fills the moments not seen yet. */
static void poll_timeline(demo *d, moment *m)
{
    for (int i = 0; i < NODES; i++) {
        cJSON *doc = demo_get_json(d->api_port[i], "/v1/services/demo-api");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "service");
        if (!m[M_SEEN1 + i].at_ms && strcmp(demo_str(s, "state"), "DOWN") == 0) {
            m[M_SEEN1 + i].at_ms = (int64_t)demo_num(s, "state_since_ms");
            snprintf(m[M_SEEN1 + i].note, sizeof m[0].note, "%s", demo_str(s, "cause"));
        }
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "verdict");
        if (i == 0 && !m[M_QUORUM].at_ms && strcmp(demo_str(v, "state"), "DOWN") == 0) {
            m[M_QUORUM].at_ms = (int64_t)demo_num(v, "since_ms");
            snprintf(m[M_QUORUM].note, sizeof m[0].note, "%.0f of %d nodes vote DOWN (quorum %.0f)", demo_num(v, "down"),
                     NODES, demo_num(v, "quorum"));
        }
        if (i == 0 && m[M_RESULT].at_ms && !m[M_UP].at_ms && strcmp(demo_str(v, "state"), "UP") == 0) {
            m[M_UP].at_ms = (int64_t)demo_num(v, "since_ms");
            snprintf(m[M_UP].note, sizeof m[0].note, "%.0f of %d nodes vote UP", demo_num(v, "up"), NODES);
        }
        cJSON_Delete(doc);
    }
    cJSON *inc = demo_get_json(d->api_port[1], "/v1/incidents");
    const cJSON *lists[2] = { cJSON_GetObjectItemCaseSensitive(inc, "open"), cJSON_GetObjectItemCaseSensitive(inc, "closed") };
    for (int l = 0; l < 2; l++) {
        const cJSON *it;
        cJSON_ArrayForEach(it, lists[l])
        {
            if ((int64_t)demo_num(it, "opened_at_ms") < d->t0)
                continue;
            if (!m[M_OPENED].at_ms) {
                m[M_OPENED].at_ms = (int64_t)demo_num(it, "opened_at_ms");
                snprintf(m[M_OPENED].note, sizeof m[0].note, "incident %.0f, committed by leader %s, votes %s",
                         demo_num(it, "id"), demo_str(it, "opened_by"), demo_str(it, "votes"));
            }
            const cJSON *st = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(it, "steps"), 0);
            if (st && !m[M_INTENT].at_ms) {
                m[M_INTENT].at_ms = (int64_t)demo_num(st, "intent_at_ms");
                snprintf(m[M_INTENT].note, sizeof m[0].note, "%s #%.0f committed before acting (by %s)", demo_str(st, "step"),
                         demo_num(st, "attempt"), demo_str(st, "proposed_by"));
            }
            if (st && !m[M_RESULT].at_ms && strcmp(demo_str(st, "outcome"), "pending") != 0) {
                m[M_RESULT].at_ms = (int64_t)demo_num(st, "result_at_ms");
                snprintf(m[M_RESULT].note, sizeof m[0].note, "%s ran %.0f ms on %s (exec actuator)",
                         demo_str(st, "outcome"), demo_num(st, "duration_ms"), demo_str(st, "result_by"));
            }
            if (!m[M_RESOLVED].at_ms && strcmp(demo_str(it, "state"), "resolved") == 0) {
                m[M_RESOLVED].at_ms = (int64_t)demo_num(it, "closed_at_ms");
                snprintf(m[M_RESOLVED].note, sizeof m[0].note, "incident %.0f closed: %s", demo_num(it, "id"),
                         demo_str(it, "close_reason"));
            }
        }
    }
    cJSON_Delete(inc);
}

static int run(demo *d, const char *bindir)
{
    if (start_all(d, bindir) < 0)
        return -1;
    printf("medic demo: three nodes (n1, n2, n3) on loopback watch demo-api; their leader heals it.\n");
    printf("  checks every %d ms (timeout %d ms), DOWN after %d failures, a quorum of 2 of 3 to act;\n", INTERVAL_MS,
           TIMEOUT_MS, FAILURES);
    printf("  the seed's defaults are 10 s and 5 s: the same logic on a faster clock.\n");
    char leader[64];
    if (wait_ready(d, leader, sizeof leader) < 0) {
        fprintf(stderr, "medic demo: the cluster did not come up\n");
        return -1;
    }
    printf("  the cluster is up: leader %s, demo-api UP on every node.\n\n", leader);
    moment m[M_COUNT] = {
        [M_FAULT] = { "FAULT: demo-api crashes" },  [M_SEEN1] = { "n1 sees it DOWN" },
        [M_SEEN2] = { "n2 sees it DOWN" },          [M_SEEN3] = { "n3 sees it DOWN" },
        [M_QUORUM] = { "cluster verdict DOWN" },    [M_OPENED] = { "incident opened (Raft)" },
        [M_INTENT] = { "restart #1 committed" },    [M_RESULT] = { "restart executed" },
        [M_UP] = { "cluster verdict UP again" },    [M_RESOLVED] = { "incident resolved" },
    };
    printf("  %-12s %10s  %-34s %s\n", "wall clock", "since", "event", "");
    d->t0 = demo_set_mode(d, "down");
    if (d->t0 < 0)
        return -1;
    m[M_FAULT].at_ms = d->t0;
    snprintf(m[M_FAULT].note, sizeof m[0].note, "the service stops listening");
    print_moment(d, &m[M_FAULT]);
    bool printed[M_COUNT] = { [M_FAULT] = true };
    int64_t deadline = md_wall_ms() + WAIT_LIMIT_MS;
    while (md_wall_ms() < deadline && !printed[M_RESOLVED]) {
        poll_timeline(d, m);
        /* Print in time order: a moment waits until every earlier one is known. */
        for (;;) {
            int next = -1;
            for (int k = 0; k < M_COUNT; k++)
                if (m[k].at_ms && !printed[k] && (next < 0 || m[k].at_ms < m[next].at_ms))
                    next = k;
            if (next < 0)
                break;
            /* Once resolved, nothing unknown can still come: a node whose checks passed again
             * before it counted enough failures never sees the service DOWN. */
            bool earlier_unknown = false;
            for (int k = 0; k < next; k++)
                earlier_unknown |= !m[k].at_ms && k != M_UP;
            if (earlier_unknown && !m[M_RESOLVED].at_ms)
                break;
            print_moment(d, &m[next]);
            printed[next] = true;
        }
        demo_sleep_ms(20);
    }
    if (!printed[M_RESOLVED]) {
        fprintf(stderr, "medic demo: no recovery within %d s\n", WAIT_LIMIT_MS / 1000);
        return -1;
    }
    for (int i = 0; i < NODES; i++)
        if (!m[M_SEEN1 + i].at_ms)
            printf("  (n%d never saw it DOWN: the restart came before its %d failures in a row)\n", i + 1, FAILURES);
    printf("\nSummary (from the fault)           this demo      the seed (single process, defaults)\n");
    printf("  detection (quorum DOWN)         %7lld ms      10-20 s\n", (long long)(m[M_QUORUM].at_ms - d->t0));
    printf("  first restart executed          %7lld ms      20-30 s\n", (long long)(m[M_RESULT].at_ms - d->t0));
    printf("  recovered (cluster UP)          %7lld ms      30-50 s for a crash a restart fixes\n",
           (long long)((m[M_UP].at_ms ? m[M_UP].at_ms : m[M_RESOLVED].at_ms) - d->t0));
    return demo_leader_killed(d);
}

/* --keep: a script in the demo's directory stops what the demo left running and removes it. */
static int write_stop_script(const demo *d, char *path, size_t len)
{
    snprintf(path, len, "%s/stop", d->dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f, "#!/bin/sh\n# Stops the cluster `medic demo --keep` left running, and removes its directory.\n");
    fprintf(f, "kill -TERM");
    for (int i = 0; i < NODES; i++)
        fprintf(f, " %d", (int)d->node[i].pid);
    fprintf(f, " %d 2>/dev/null\nsleep 2\nkill -KILL", (int)d->service.pid);
    for (int i = 0; i < NODES; i++)
        fprintf(f, " %d", (int)d->node[i].pid);
    fprintf(f, " %d 2>/dev/null\nrm -rf '%s'\necho 'medic demo: the kept cluster is stopped and %s removed'\n",
            (int)d->service.pid, d->dir, d->dir);
    if (fclose(f) != 0 || chmod(path, 0755) != 0)
        return -errno;
    return 0;
}

static void print_kept(const demo *d, const char *stop)
{
    printf("\nThe cluster keeps running (--keep): nodes n1..n3, demo-api on port %d.\n", d->service_port);
    printf("  open http://127.0.0.1:%d/ in a browser                the dashboard (n2: %d, n3: %d)\n", d->api_port[0],
           d->api_port[1], d->api_port[2]);
    printf("  %s status --node http://127.0.0.1:%d        services as rows, nodes as columns\n", d->medic,
           d->api_port[0]);
    printf("  curl -s http://127.0.0.1:%d/v1/incidents               every step, who acted, when\n", d->api_port[0]);
    printf("  curl -s -X POST http://127.0.0.1:%d/mode/down          crash demo-api again\n", d->control_port);
    printf("  MEDIC_ADMIN_TOKEN=%s %s pause demo-api --node http://127.0.0.1:%d\n", d->admin_token, d->medic,
           d->api_port[0]);
    printf("  logs and data: %s\n", d->dir);
    printf("To stop it: %s\n", stop);
}

int md_demo_run(int argc, char **argv)
{
    demo d;
    memset(&d, 0, sizeof d);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keep") == 0) {
            d.keep = true;
        } else {
            fprintf(stderr, "medic demo: unknown argument '%s' (the only option is --keep)\n", argv[i]);
            return 2;
        }
    }
    d.service.out_fd = -1;
    for (int i = 0; i < NODES; i++)
        d.node[i].out_fd = -1;
    char bindir[PATH_MAX];
    if (md_proc_self_dir(bindir, sizeof bindir) < 0)
        return 1;
    snprintf(d.dir, sizeof d.dir, "/tmp/medic-demo-XXXXXX");
    if (!mkdtemp(d.dir)) {
        perror("medic demo: mkdtemp");
        return 1;
    }
    for (int i = 0; i < NODES; i++) {
        snprintf(d.cfg_path[i], sizeof d.cfg_path[i], "%s/n%d.json", d.dir, i + 1);
        snprintf(d.log_path[i], sizeof d.log_path[i], "%s/n%d.log", d.dir, i + 1);
        snprintf(d.data_dir[i], sizeof d.data_dir[i], "%s/data-n%d", d.dir, i + 1);
    }
    snprintf(d.restarts_path, sizeof d.restarts_path, "%s/restarts.log", d.dir);
    snprintf(d.fixable_path, sizeof d.fixable_path, "%s/fixable", d.dir);
    signal(SIGPIPE, SIG_IGN);
    int rc = run(&d, bindir);
    if (rc != 0) {
        for (int i = 0; i < NODES; i++) {
            fprintf(stderr, "\n--- n%d's log ---\n", i + 1);
            FILE *f = fopen(d.log_path[i], "r");
            char line[2048];
            while (f && fgets(line, sizeof line, f))
                fputs(line, stderr);
            if (f)
                fclose(f);
        }
    }
    char stop[PATH_MAX];
    if (rc == 0 && d.keep && write_stop_script(&d, stop, sizeof stop) == 0) {
        print_kept(&d, stop);
        return 0;
    }
    if (rc == 0 && !d.keep)
        printf("\n`medic demo --keep` leaves such a cluster running for you to look around.\n");
    int killed = 0;
    int64_t t = md_mono_us();
    /* All at once, as an operator's `systemctl stop` on three machines would. */
    for (int i = 0; i < NODES; i++)
        if (d.node[i].pid > 0)
            kill(d.node[i].pid, SIGTERM);
    for (int i = 0; i < NODES; i++)
        if (d.node[i].pid > 0)
            killed += md_proc_stop(&d.node[i], 0, 3000, NULL) > 0;
    int64_t stop_ms = (md_mono_us() - t) / 1000;
    md_proc_stop(&d.service, SIGTERM, 3000, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d.dir); /* our own mkdtemp directory */
    if (system(cmd) != 0)
        fprintf(stderr, "medic demo: could not remove %s\n", d.dir);
    if (rc == 0)
        printf("\nall three nodes stopped on SIGTERM in %lld ms%s; demo complete: every process it started has "
               "stopped.\n",
               (long long)stop_ms, killed ? " (some had to be killed!)" : "");
    return rc == 0 && killed == 0 ? 0 : 1;
}
