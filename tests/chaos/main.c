/* main.c: medic-chaos, the program behind `medic chaos`: builds the world (network namespaces as
 * root, loopback otherwise), runs each scenario N times, prints a row per scenario as it
 * completes (with a progress line while it runs), and writes the markdown table and the JSON of
 * the measurements to a results directory. Exit 0 when every run passed, 1 when one failed, 2 on
 * bad arguments, 77 with --need-root when not root (ctest counts it as skipped). */
#include "chaos.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern volatile int ch_interrupted;

static const char usage_text[] =
    "usage: medic chaos [--scenario NAME[,NAME...]] [--runs N] [--nodes 3|5] [--json] [--quick]\n"
    "                   [--results DIR] [--keep-logs DIR] [--loopback] [--need-root] [--list]\n"
    "  Builds a small world of regions on this machine (as root: one network namespace per node,\n"
    "  joined to a bridge, links delayed by relays, faults by nftables), breaks it, and prints the\n"
    "  times to detection, verdict, action and recovery. Without root it runs the loopback subset.\n"
    "  --quick       short timings (the `make test` run); default: the matrix's timings\n"
    "  --results DIR where the markdown table and JSON go (default ./chaos-results)\n"
    "  --keep-logs DIR  copy each run's node logs and configs to DIR/<scenario>-<n>\n"
    "  --loopback    the loopback subset even as root\n";

static bool tty;
static void progress(const char *line)
{
    if (tty)
        fprintf(stderr, "\r\033[K  ... %s", line);
    else
        fprintf(stderr, "  ... %s\n", line);
    fflush(stderr);
}

static bool wanted(const char *list, const char *name)
{
    if (!list)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (end ? 1 : 0);
    }
    return false;
}

static void timing(ch_timing *tm, bool quick, int nodes)
{
    memset(tm, 0, sizeof *tm);
    tm->quick = quick;
    tm->nodes = nodes;
    tm->failures = 2;
    tm->data_tmpfs_kb = 16384;
    if (quick) {
        *tm = (ch_timing){ .quick = true, .nodes = nodes, .interval_ms = 200, .timeout_ms = 150, .failures = 2,
                           .heartbeat_ms = 50, .election_ms = 500, .delay_ms = { 5, 10, 20 }, .jitter_ms = 2,
                           .data_tmpfs_kb = 16384 };
    } else {
        /* Regions 30, 80 and 150 ms apart (round trip): one-way 15, 40 and 75 ms. */
        *tm = (ch_timing){ .quick = false, .nodes = nodes, .interval_ms = 500, .timeout_ms = 400, .failures = 2,
                           .heartbeat_ms = 100, .election_ms = 1000, .delay_ms = { 15, 40, 75 }, .jitter_ms = 5,
                           .data_tmpfs_kb = 16384 };
    }
}

/* The helpers sit next to this program (a build tree, or ${prefix}/libexec/medic); medic itself
 * next to it too in a build tree, or in ${prefix}/bin when installed (`medic chaos` says which). */
static int find_bins(ch_world *w, const char *given, const char *medic)
{
    char self[PATH_MAX];
    if (given) {
        snprintf(w->bindir, sizeof w->bindir, "%s", given);
    } else {
        if (md_proc_self_dir(self, sizeof self) < 0)
            return -1;
        snprintf(w->bindir, sizeof w->bindir, "%s", self);
    }
    if (medic)
        snprintf(w->medic, sizeof w->medic, "%s", medic);
    else
        snprintf(w->medic, sizeof w->medic, "%s/medic", w->bindir);
    if (access(w->medic, X_OK) != 0) {
        fprintf(stderr, "medic chaos: %s is missing (--medic PATH)\n", w->medic);
        return -1;
    }
    static const char *const need[] = { "relay", "fake_railway", "flaky_service" };
    for (size_t k = 0; k < sizeof need / sizeof need[0]; k++) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof p, "%s/%s", w->bindir, need[k]);
        if (access(p, X_OK) != 0) {
            fprintf(stderr, "medic chaos: %s is missing (the harness looks next to itself; --bindir DIR)\n", p);
            return -1;
        }
    }
    static const char *const ft[] = { "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                                      "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                                      "/usr/lib/faketime/libfaketime.so.1" };
    for (size_t k = 0; k < sizeof ft / sizeof ft[0] && !w->faketime_lib[0]; k++)
        if (access(ft[k], R_OK) == 0)
            snprintf(w->faketime_lib, sizeof w->faketime_lib, "%s", ft[k]);
    return 0;
}

int main(int argc, char **argv)
{
    const char *only = NULL, *results = "chaos-results", *bindir = NULL, *medic = NULL, *keep = NULL;
    int runs = 1, nodes = 3;
    bool json = false, quick = false, loopback = false, need_root = false, list = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--scenario") == 0 && v) only = argv[++i];
        else if (strcmp(a, "--runs") == 0 && v) runs = atoi(argv[++i]);
        else if (strcmp(a, "--nodes") == 0 && v) nodes = atoi(argv[++i]);
        else if (strcmp(a, "--results") == 0 && v) results = argv[++i];
        else if (strcmp(a, "--keep-logs") == 0 && v) keep = argv[++i];
        else if (strcmp(a, "--bindir") == 0 && v) bindir = argv[++i];
        else if (strcmp(a, "--medic") == 0 && v) medic = argv[++i];
        else if (strcmp(a, "--json") == 0) json = true;
        else if (strcmp(a, "--quick") == 0) quick = true;
        else if (strcmp(a, "--loopback") == 0) loopback = true;
        else if (strcmp(a, "--need-root") == 0) need_root = true;
        else if (strcmp(a, "--list") == 0) list = true;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { fputs(usage_text, stdout); return 0; }
        else {
            fprintf(stderr, "medic chaos: unknown or incomplete argument '%s'\n%s", a, usage_text);
            return 2;
        }
    }
    if (runs < 1 || runs > 64 || (nodes != 3 && nodes != 5)) {
        fprintf(stderr, "medic chaos: --runs must be 1-64 and --nodes 3 or 5\n");
        return 2;
    }
    /* Every name asked for must be a scenario, before anything starts. */
    for (const char *p = only; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool known = false;
        for (int k = 0; k < ch_scenario_count(); k++)
            known |= strlen(ch_scenario_name(ch_scenario_at(k))) == len &&
                     strncmp(p, ch_scenario_name(ch_scenario_at(k)), len) == 0;
        if (!known) {
            fprintf(stderr, "medic chaos: unknown scenario '%.*s' (--list names them)\n", (int)len, p);
            return 2;
        }
        p += len + (end ? 1 : 0);
    }
    if (list) {
        for (int k = 0; k < ch_scenario_count(); k++)
            printf("%-14s %s%s\n", ch_scenario_name(ch_scenario_at(k)), ch_scenario_proves(ch_scenario_at(k)),
                   ch_scenario_needs_root(ch_scenario_at(k)) ? " (root)" : "");
        return 0;
    }
    bool root = geteuid() == 0;
    if (need_root && !root) {
        printf("medic chaos: skipped: network namespaces need root (run as root, or without --need-root for the "
               "loopback subset)\n");
        return 77;
    }
    ch_world w;
    memset(&w, 0, sizeof w);
    if (find_bins(&w, bindir, medic) < 0)
        return 1;
    if (keep && (strchr(keep, '\'') || snprintf(w.keep_dir, sizeof w.keep_dir, "%s", keep) >= (int)sizeof w.keep_dir)) {
        fprintf(stderr, "medic chaos: --keep-logs: a directory without quotes, shorter than %zu\n", sizeof w.keep_dir);
        return 2;
    }
    bool netns = root && !loopback;
    if (!netns) {
        char skipped[512] = "";
        size_t at = 0;
        for (int k = 0; k < ch_scenario_count(); k++)
            if (ch_scenario_needs_root(ch_scenario_at(k)) && wanted(only, ch_scenario_name(ch_scenario_at(k))))
                at += (size_t)snprintf(skipped + at, sizeof skipped - at, "%s%s", at ? ", " : "",
                                       ch_scenario_name(ch_scenario_at(k)));
        printf("medic chaos: %s: the loopback subset (kill, stop, service faults, Railway API storms).\n",
               root ? "--loopback" : "not root, so no network namespaces");
        if (at)
            printf("  skipped (they need namespaces, nftables, tmpfs or a private clock, hence root): %s\n", skipped);
    }
    tty = isatty(2);
    if (netns)
        ch_world_sweep();
    int rc = ch_world_open(&w, netns);
    if (rc < 0) {
        fprintf(stderr, "medic chaos: could not build the world: %s\n", strerror(-rc));
        ch_world_close(&w);
        return 1;
    }
    ch_timing tm;
    timing(&tm, quick, nodes);
    if (!json) {
        printf("medic chaos: %s, %d node(s), %d run(s) each, %s timings; times in ms from the fault (median / p95)\n",
               netns ? "network namespaces" : "loopback", nodes, runs, quick ? "short" : "matrix");
        ch_row_print_header();
    }
    static ch_row rows[32];
    int nrows = 0, failed = 0;
    for (int k = 0; k < ch_scenario_count() && !ch_interrupted; k++) {
        const ch_scenario *s = ch_scenario_at(k);
        if (!wanted(only, ch_scenario_name(s)) || (!netns && ch_scenario_needs_root(s)))
            continue;
        if (ch_scenario_needs_root(s) && strcmp(ch_scenario_name(s), "clock_jump") == 0 && !w.faketime_lib[0]) {
            printf("%-14s skipped: libfaketime is not installed (Debian package faketime)\n", ch_scenario_name(s));
            continue;
        }
        ch_row *row = &rows[nrows++];
        row->name = ch_scenario_name(s);
        row->proves = ch_scenario_proves(s);
        row->nodes = ch_scenario_nodes(s, nodes);
        for (int r = 0; r < runs && !ch_interrupted; r++) {
            char line[128];
            snprintf(line, sizeof line, "%s run %d of %d", row->name, r + 1, runs);
            progress(line);
            ch_scenario_run(s, &w, &tm, row->nodes, &row->res[r], progress);
            row->runs++;
            row->passed += row->res[r].pass;
        }
        if (tty)
            fprintf(stderr, "\r\033[K");
        failed += row->passed != row->runs;
        if (json) {
            cJSON *o = ch_row_json(row);
            char *t = cJSON_PrintUnformatted(o);
            printf("%s\n", t);
            fflush(stdout);
            free(t);
            cJSON_Delete(o);
        } else {
            ch_row_print(row);
        }
    }
    ch_world_close(&w);
    if (only && nrows == 0 && !ch_interrupted)
        printf("medic chaos: none of '%s' can run here (see what was skipped above)\n", only);
    char md[PATH_MAX];
    if (nrows && ch_report_write(results, rows, nrows, &tm, md, sizeof md) == 0 && !json)
        printf("results: %s (and .json beside it)\n", md);
    if (ch_interrupted) {
        fprintf(stderr, "medic chaos: interrupted; everything it started is stopped and removed\n");
        return 130;
    }
    if (!json)
        printf("%s\n", failed ? "medic chaos: some runs FAILED" : "medic chaos: every run passed");
    return failed ? 1 : 0;
}
