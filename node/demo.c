/* demo.c: `medic demo`: starts a flaky demo service and a node watching it, breaks the service in
 * three ways (down, slow, back), and prints when the node saw each change. It exits by itself and
 * stops every process it started. */
#include "demo.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fetch.h"
#include "log.h"
#include "proc.h"

#define DEMO_INTERVAL_MS 500
#define DEMO_TIMEOUT_MS 300
#define DEMO_SLOW_MS 150
#define DEMO_FAILURES 2
#define WAIT_LIMIT_MS 15000

typedef struct {
    char dir[64];
    char cfg_path[PATH_MAX];
    char log_path[PATH_MAX];
    int control_port;
    int service_port;
    int api_port;
    md_proc service;
    md_proc node;
    int64_t t_start_ms;
} demo;

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Switches the demo service's mode; returns the wall ms at which the service changed, or -1. */
static int64_t set_mode(demo *d, const char *mode)
{
    char url[256], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/mode/%s", d->control_port, mode);
    long code = 0;
    char *body = NULL;
    if (md_fetch("POST", url, 5000, &code, &body, err, sizeof err) < 0 || code != 200) {
        fprintf(stderr, "medic demo: cannot switch the demo service to %s: %s\n", mode, body ? body : err);
        free(body);
        return -1;
    }
    cJSON *doc = cJSON_Parse(body);
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(doc, "changed_at_ms");
    int64_t t = cJSON_IsNumber(at) ? (int64_t)at->valuedouble : md_wall_ms();
    cJSON_Delete(doc);
    free(body);
    return t;
}

/* Polls the node until the demo service is in state want; returns the node's state_since_ms,
 * or -1 after WAIT_LIMIT_MS. The cause of the state is copied into cause. */
static int64_t wait_state(demo *d, const char *want, char *cause, size_t cause_len)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/services/demo-api", d->api_port);
    int64_t deadline = md_wall_ms() + WAIT_LIMIT_MS;
    while (md_wall_ms() < deadline) {
        long code = 0;
        char *body = NULL;
        if (md_fetch("GET", url, 1000, &code, &body, NULL, 0) == 0 && code == 200) {
            cJSON *doc = cJSON_Parse(body);
            const cJSON *svc = cJSON_GetObjectItemCaseSensitive(doc, "service");
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(svc, "state");
            const cJSON *since = cJSON_GetObjectItemCaseSensitive(svc, "state_since_ms");
            const cJSON *why = cJSON_GetObjectItemCaseSensitive(svc, "cause");
            int64_t result = -1;
            if (cJSON_IsString(st) && strcmp(st->valuestring, want) == 0 && cJSON_IsNumber(since)) {
                result = (int64_t)since->valuedouble;
                snprintf(cause, cause_len, "%s", cJSON_IsString(why) ? why->valuestring : "");
            }
            cJSON_Delete(doc);
            free(body);
            if (result >= 0)
                return result;
        } else {
            free(body);
        }
        sleep_ms(20);
    }
    return -1;
}

static int write_config(demo *d)
{
    FILE *f = fopen(d->cfg_path, "w");
    if (!f)
        return -errno;
    fprintf(f,
            "{\n"
            "  \"node\": {\"id\": \"demo-node\", \"region\": \"local\"},\n"
            "  \"api\": {\"listen\": \"127.0.0.1:%d\"},\n"
            "  \"status_print_interval_ms\": 0,\n"
            "  \"defaults\": {\"interval_ms\": %d, \"timeout_ms\": %d, \"slow_ms\": %d,\n"
            "               \"failures_before_down\": %d, \"successes_before_up\": 1,\n"
            "               \"trend_horizon_ms\": 0},\n"
            "  \"services\": [\n"
            "    {\"name\": \"demo-api\", \"url\": \"http://127.0.0.1:%d/health\",\n"
            "     \"prewarm\": true, \"prewarm_url\": \"http://127.0.0.1:%d/warm\", \"prewarm_interval_ms\": 1000}\n"
            "  ]\n"
            "}\n",
            d->api_port, DEMO_INTERVAL_MS, DEMO_TIMEOUT_MS, DEMO_SLOW_MS, DEMO_FAILURES, d->service_port,
            d->service_port);
    return fclose(f) == 0 ? 0 : -errno;
}

static int start_service(demo *d, const char *bindir)
{
    char bin[PATH_MAX + 32];
    const char *env = getenv("MEDIC_FLAKY_BIN");
    snprintf(bin, sizeof bin, "%s/flaky_service", bindir);
    char *argv[] = { env && *env ? (char *)env : bin, "--port", "0", "--control-port", "0", NULL };
    if (access(argv[0], X_OK) != 0) {
        fprintf(stderr, "medic demo: the demo service %s is missing; build it with `make demo` "
                        "or set MEDIC_FLAKY_BIN\n", argv[0]);
        return -1;
    }
    if (md_proc_spawn(argv, true, NULL, NULL, &d->service) < 0)
        return -1;
    char line[256];
    if (md_proc_read_line(&d->service, line, sizeof line, 5000) < 0 ||
        sscanf(line, "ready port=%d control=%d", &d->service_port, &d->control_port) != 2) {
        fprintf(stderr, "medic demo: the demo service did not start\n");
        return -1;
    }
    return 0;
}

static int start_node(demo *d, const char *bindir)
{
    char bin[PATH_MAX + 16];
    snprintf(bin, sizeof bin, "%s/medic", bindir);
    char *argv[] = { bin, "node", "--config", d->cfg_path, NULL };
    if (md_proc_spawn(argv, false, "/dev/null", d->log_path, &d->node) < 0)
        return -1;
    return 0;
}

static void line_out(const char *what, int64_t at_ms, int64_t since_ms, const char *note)
{
    char ts[40];
    md_format_time_ms(at_ms, ts, sizeof ts);
    if (since_ms >= 0)
        printf("  %-34s %s  %+7lld ms  %s\n", what, ts + 11, (long long)since_ms, note);
    else
        printf("  %-34s %s  %10s  %s\n", what, ts + 11, "", note);
}

/* Prints the node's log: only its state changes after a good run, everything after a bad one. */
static void print_node_log(const demo *d, bool all, FILE *out)
{
    FILE *f = fopen(d->log_path, "r");
    if (!f)
        return;
    char line[2048];
    fprintf(out, all ? "\nThe node's log:\n" : "\nWhat the node logged (one line per state change):\n");
    while (fgets(line, sizeof line, f))
        if (all || strstr(line, "event=state_change"))
            fprintf(out, "  %s", line);
    fclose(f);
}

/* One fault and its detection: returns 0 when the node saw it, with the timeline printed. */
static int act(demo *d, const char *mode, const char *what_fault, const char *want, const char *what_seen,
               long bound_ms)
{
    int64_t t0 = set_mode(d, mode);
    if (t0 < 0)
        return -1;
    line_out(what_fault, t0, 0, "");
    char cause[256] = "";
    int64_t seen = wait_state(d, want, cause, sizeof cause);
    if (seen < 0) {
        printf("  %-34s never (gave up after %d ms)\n", what_seen, WAIT_LIMIT_MS);
        return -1;
    }
    char note[400];
    snprintf(note, sizeof note, "(worst case %ld ms) %s", bound_ms, cause);
    line_out(what_seen, seen, seen - t0, note);
    return 0;
}

static int run(demo *d, const char *bindir)
{
    if (start_service(d, bindir) < 0)
        return -1;
    int port = md_free_port();
    if (port < 0)
        return -1;
    d->api_port = port;
    if (write_config(d) < 0 || start_node(d, bindir) < 0) {
        fprintf(stderr, "medic demo: cannot start the node\n");
        return -1;
    }
    printf("medic demo: one node watching one service (demo-api on 127.0.0.1:%d), API on "
           "http://127.0.0.1:%d\n",
           d->service_port, d->api_port);
    printf("  check every %d ms, timeout %d ms, DOWN after %d failures, slow above %d ms\n",
           DEMO_INTERVAL_MS, DEMO_TIMEOUT_MS, DEMO_FAILURES, DEMO_SLOW_MS);
    printf("  (the production defaults are 10 s, 5 s, 2 failures and 3 s: same logic, slower clock)\n\n");
    char cause[256];
    int64_t up = wait_state(d, "UP", cause, sizeof cause);
    if (up < 0) {
        fprintf(stderr, "medic demo: the node never saw the service UP\n");
        return -1;
    }
    printf("Timeline                             wall clock    since fault\n");
    line_out("node sees demo-api UP", up, -1, cause);
    /* Worst cases: a fault lands just after a check started, so the first failing check starts up
     * to one interval later; each later failure takes another interval; a hang costs the timeout. */
    long detect = DEMO_FAILURES * DEMO_INTERVAL_MS + DEMO_TIMEOUT_MS;
    long recover = DEMO_INTERVAL_MS + DEMO_TIMEOUT_MS;
    long slow = DEMO_INTERVAL_MS + 250 + 50;
    printf("(bounds are worst cases: a fault can land just after a check; each step is one check)\n");
    if (act(d, "down", "FAULT: service stops listening", "DOWN", "node: DOWN", detect) < 0 ||
        act(d, "healthy", "FIX: service listens again", "UP", "node: back UP", recover) < 0 ||
        act(d, "slow?ms=250", "FAULT: answers take 250 ms", "DEGRADED", "node: DEGRADED (slow)", slow) < 0 ||
        act(d, "healthy", "FIX: answers are fast again", "UP", "node: back UP", recover) < 0 ||
        act(d, "hang", "FAULT: service hangs (no answer)", "DOWN", "node: DOWN", detect) < 0 ||
        act(d, "healthy", "FIX: service answers again", "UP", "node: back UP", recover) < 0)
        return -1;
    return 0;
}

int md_demo_run(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "medic demo: takes no arguments\n");
        return 2;
    }
    demo d;
    memset(&d, 0, sizeof d);
    d.service.out_fd = d.node.out_fd = -1;
    char bindir[PATH_MAX];
    if (md_proc_self_dir(bindir, sizeof bindir) < 0)
        return 1;
    snprintf(d.dir, sizeof d.dir, "/tmp/medic-demo-XXXXXX");
    if (!mkdtemp(d.dir)) {
        perror("medic demo: mkdtemp");
        return 1;
    }
    snprintf(d.cfg_path, sizeof d.cfg_path, "%s/medic.json", d.dir);
    snprintf(d.log_path, sizeof d.log_path, "%s/node.log", d.dir);
    signal(SIGPIPE, SIG_IGN);

    int rc = run(&d, bindir);
    int64_t stop_at = md_mono_us();
    int status = 0;
    int killed = d.node.pid > 0 ? md_proc_stop(&d.node, SIGTERM, 3000, &status) : 0;
    int64_t stop_us = md_mono_us() - stop_at;
    print_node_log(&d, rc != 0, rc == 0 ? stdout : stderr);
    if (rc == 0) {
        printf("\nnode stopped on SIGTERM in %lld ms%s\n", (long long)(stop_us / 1000),
               killed ? " (had to be killed!)" : "");
    }
    md_proc_stop(&d.service, SIGTERM, 3000, NULL);
    unlink(d.cfg_path);
    unlink(d.log_path);
    rmdir(d.dir);
    if (rc == 0 && killed == 0)
        printf("demo complete: every process it started has stopped.\n");
    return rc == 0 && killed == 0 ? 0 : 1;
}
