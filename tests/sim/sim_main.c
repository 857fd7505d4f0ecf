/* sim_main.c: the `sim` command: run seeds of the deterministic cluster simulator, replay one
 * exactly, or run random seeds for a wall-clock time; on a failure print the seed, the
 * shortest failing prefix and its trace.
 *
 *   sim --seed N [--nodes K] [--steps S] [--trace]   replay one run (K defaults by seed: 3/5/7)
 *   sim --seeds A-B [--nodes K] [--steps S]          a range of seeds
 *   sim --long SECONDS                               random seeds until the time is up
 *   --remedy: every node also runs the remediation ledger and escalation core (sim_remedy.c).
 *   --nemesis bridge-reboot: one directed scenario instead of the general fault mix (sim.h).
 *   --expect-violation: succeed only if some seed breaks a safety invariant (for the
 *   deliberately broken builds, sim_buggy_*). --trace-lines N: trace lines shown on failure. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static size_t trace_lines = 200;
static const char *prog = "sim";

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int nodes_for(uint64_t seed, int forced)
{
    static const int sizes[] = {3, 5, 7};
    return forced ? forced : sizes[seed % 3];
}

static void print_ring(sim_world *w)
{
    if (w->ring_n == w->ring_cap) {
        printf("  ... (earlier events omitted; --trace-lines N shows more)\n");
    }
    for (size_t k = 0; k < w->ring_n; k++) {
        printf("  %s\n", w->ring[(w->ring_head + k) % w->ring_cap]);
    }
}

static void print_params(sim_world *w)
{
    const sim_params *p = &w->p;
    printf("  params: heartbeat %u ms, election %u ms, drift margin %u ms (clock rates +-%u ppm), "
           "drop %u/1000, dup %u/1000, long delay %u/1000, max delay %u ms, fsync <= %u ms, actions %u/1000, "
           "batch %u, inflight %u, snapshot chunk %u\n",
           p->heartbeat_ms, p->election_ms, p->drift_ms, p->max_ppm, p->drop_pm, p->dup_pm, p->long_pm,
           p->delay_max_ms, p->fsync_max_ms, p->action_pm, p->max_entries, p->max_inflight, p->snap_chunk);
}

static void dump_all(sim_world *w)
{
    print_params(w);
    print_ring(w);
}

/* Re-run a failure with tracing on; for a liveness failure first shrink the fault phase to
 * the shortest one that still fails (a safety failure is already at its first bad step). */
static void report(uint64_t seed, int n, uint64_t steps, const sim_result *res)
{
    printf("FAIL seed %lu nodes %d steps %lu: at step %lu: %s\n", (unsigned long)seed, n, (unsigned long)steps,
           (unsigned long)res->fail_step, res->why);
    uint64_t s = res->fail_step;
    if (res->liveness) {
        uint64_t lo = 0, hi = steps;
        for (int tries = 0; tries < 20 && lo < hi; tries++) {
            uint64_t mid = lo + (hi - lo) / 2;
            sim_result r2 = sim_run(seed, n, mid, false, false, 0, NULL);
            if (r2.failed && r2.liveness) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        s = hi;
        printf("  shortest fault phase that still fails liveness: %lu steps\n", (unsigned long)s);
    }
    printf("  replay: %s --seed %lu --nodes %d --steps %lu%s%s%s --trace\n", prog, (unsigned long)seed, n,
           (unsigned long)s, sim_opt_remedy ? " --remedy" : "", sim_opt_bridge_reboot ? " --nemesis bridge-reboot" : "",
           sim_opt_disk_loss ? " --disk-loss" : "");
    printf("  last %zu events of the failing run:\n", trace_lines);
    sim_result again = sim_run(seed, n, s, true, false, trace_lines, dump_all);
    if (!again.failed) {
        printf("  (the shortened replay did not fail: the run is not deterministic -- a simulator bug)\n");
    }
    fflush(stdout);
}

static void usage(void)
{
    fprintf(stderr, "usage: sim (--seed N | --seeds A-B | --long SECONDS) [--nodes 3|5|7] [--steps S]\n"
                    "           [--trace] [--trace-lines N] [--expect-violation] [--determinism] [--quiet] [--remedy]\n"
                    "           [--nemesis bridge-reboot] [--disk-loss]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t first = 1, last = 0, steps = 20000;
    double long_s = 0;
    int forced_n = 0;
    bool have_seeds = false, trace = false, expect = false, quiet = false, determinism = false;
    prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--seed") && v) {
            first = last = strtoull(v, NULL, 10);
            have_seeds = true;
            i++;
        } else if (!strcmp(a, "--seeds") && v) {
            if (sscanf(v, "%lu-%lu", (unsigned long *)&first, (unsigned long *)&last) != 2 || last < first) {
                usage();
            }
            have_seeds = true;
            i++;
        } else if (!strcmp(a, "--long") && v) {
            long_s = strtod(v, NULL);
            i++;
        } else if (!strcmp(a, "--nodes") && v) {
            forced_n = atoi(v);
            if (forced_n < 1 || forced_n > SIM_MAX_NODES) {
                usage();
            }
            i++;
        } else if (!strcmp(a, "--steps") && v) {
            steps = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--trace-lines") && v) {
            trace_lines = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--trace")) {
            trace = true;
        } else if (!strcmp(a, "--expect-violation")) {
            expect = true;
        } else if (!strcmp(a, "--determinism")) {
            determinism = true;
        } else if (!strcmp(a, "--remedy")) {
            sim_opt_remedy = true;
        } else if (!strcmp(a, "--nemesis") && v && !strcmp(v, "bridge-reboot")) {
            sim_opt_bridge_reboot = true;
            i++;
        } else if (!strcmp(a, "--disk-loss")) {
            sim_opt_disk_loss = true;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else {
            usage();
        }
    }
    if (!have_seeds && long_s <= 0) {
        usage();
    }
    if (trace && have_seeds && first == last) {
        sim_result res = sim_run(first, nodes_for(first, forced_n), steps, true, true, 0, NULL);
        printf("%s seed %lu: %s\n", res.failed ? "FAIL" : "ok", (unsigned long)first,
               res.failed ? res.why : "all invariants held");
        return res.failed ? 1 : 0;
    }
    if (determinism && have_seeds) {
        /* Each seed twice, hashing every trace line: a replay must be the same run. */
        for (uint64_t seed = first; seed <= last; seed++) {
            int n = nodes_for(seed, forced_n);
            sim_result a = sim_run(seed, n, steps, true, false, 0, NULL);
            sim_result b = sim_run(seed, n, steps, true, false, 0, NULL);
            if (a.digest != b.digest || a.failed != b.failed || a.steps_done != b.steps_done) {
                printf("FAIL seed %lu: two runs differ (digest %016lx vs %016lx)\n", (unsigned long)seed,
                       (unsigned long)a.digest, (unsigned long)b.digest);
                return 1;
            }
        }
        printf("ok: seeds %lu-%lu replay identically\n", (unsigned long)first, (unsigned long)last);
        return 0;
    }
    if (long_s > 0) {
        first = ((uint64_t)time(NULL) << 20) ^ ((uint64_t)getpid() << 4);
        last = UINT64_MAX;
    }
    double t0 = wall(), next_report = t0 + 10;
    uint64_t done = 0, total_steps = 0, total_elections = 0, max_live = 0, vms = 0;
    uint64_t intents = 0, executions = 0, lost = 0, chunks = 0, installs = 0;
    double max_live_t = 0, max_commit_t = 0;
    for (uint64_t seed = first;; seed++) {
        int n = nodes_for(seed, forced_n);
        sim_result res = sim_run(seed, n, steps, false, false, 0, NULL);
        done++;
        total_steps += res.steps_done;
        total_elections += res.elections;
        vms += res.virtual_ms;
        intents += res.intents;
        executions += res.executions;
        lost += res.results_lost;
        chunks += res.snap_chunks;
        installs += res.snap_installs;
        if (res.liveness_ms > max_live) {
            max_live = res.liveness_ms;
        }
        if (res.election_ms > 0 && (double)res.liveness_ms / res.election_ms > max_live_t) {
            max_live_t = (double)res.liveness_ms / res.election_ms;
        }
        if (res.election_ms > 0 && (double)res.commit_ms / res.election_ms > max_commit_t) {
            max_commit_t = (double)res.commit_ms / res.election_ms;
        }
        if (res.failed) {
            if (expect && !res.liveness) {
                printf("violation found as expected after %lu seeds: seed %lu nodes %d step %lu: %s\n",
                       (unsigned long)done, (unsigned long)seed, n, (unsigned long)res.fail_step, res.why);
                if (!quiet) {
                    report(seed, n, steps, &res);
                }
                return 0;
            }
            report(seed, n, steps, &res);
            return 1;
        }
        double now = wall();
        if (long_s > 0 && now >= next_report && !quiet) {
            printf("  %lu seeds, %.1f seeds/s, last seed %lu\n", (unsigned long)done, done / (now - t0),
                   (unsigned long)seed);
            fflush(stdout);
            next_report = now + 10;
        }
        if ((long_s > 0 && now - t0 >= long_s) || (long_s <= 0 && seed == last)) {
            break;
        }
    }
    double dt = wall() - t0;
    printf("%s %lu seeds (first %lu), %lu steps each: %.1f s, %.1f seeds/s, %.0f steps/s, %lu elections, "
           "%.0f virtual s, slowest liveness %lu ms (commit at most %.1f T after the faults, bound 20 T; applied "
           "everywhere at most %.1f T, bound 20 T after the commit plus catch-up)\n",
           expect ? "NO VIOLATION in" : "ok", (unsigned long)done, (unsigned long)first, (unsigned long)steps, dt,
           done / dt, total_steps / dt, (unsigned long)total_elections, vms / 1000.0, (unsigned long)max_live,
           max_commit_t, max_live_t);
    printf("  snapshots: %lu installed from a leader's; %lu partial chunks sent\n", (unsigned long)installs,
           (unsigned long)chunks);
    if (sim_opt_remedy) {
        printf("  remedy: %lu intents committed, %lu actions executed, %lu results lost\n", (unsigned long)intents,
               (unsigned long)executions, (unsigned long)lost);
    }
    return expect ? 1 : 0;
}
