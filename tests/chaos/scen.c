/* scen.c: the scenarios: each starts a fresh cluster, injects its faults, waits (bounded) for the
 * outcome it states, measures, and checks the criteria every scenario shares: no false
 * remediation, no duplicate action (Railway's executed mutations against the ledger's steps),
 * the same ledger on every node afterwards, recovery within the scenario's bound. */
#include "chaos.h"
#include "watch.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern volatile int ch_interrupted;

typedef enum {
    K_LADDER, K_LEADER_KILLED, K_LEADER_FROZEN, K_CUT_ONE, K_CUT_LEADER, K_CUT_MAJORITY, K_SPLIT, K_LOSS,
    K_FLAPPING, K_STORM, K_DISK_FULL, K_CLOCK_JUMP,
} kind;

struct ch_scenario {
    const char *name;
    kind k;
    const char *arg;          /* the fake's bug, or the storm's fault */
    bool root;                /* needs namespaces */
    int nodes;                /* 0: as asked (3 or 5) */
    int bound_ms;             /* recovery bound (quick timings; doubled for the full ones) */
    const char *proves;
};

static const ch_scenario table[] = {
    { "crash", K_LADDER, "crash", false, 0, 10000,
      "the seed's crash: quorum DOWN, one restart through Railway, UP again" },
    { "bad_deploy", K_LADDER, "bad_deploy", false, 0, 20000,
      "the seed's bad deployment: three restarts that do not help, then a redeploy that does" },
    { "code_bug", K_LADDER, "code_bug", false, 0, 35000,
      "the seed's code bug: restarts and redeploys fail, the rollback to the last-known-good heals" },
    { "leader_killed", K_LEADER_KILLED, "bad_deploy", false, 0, 30000,
      "kill -9 of the leader mid-ladder: a new leader continues the ladder, no step repeated" },
    { "leader_frozen", K_LEADER_FROZEN, "bad_deploy", false, 0, 30000,
      "SIGSTOP of the leader mid-ladder, SIGCONT later: the stale leader never acts twice" },
    { "cut_one", K_CUT_ONE, NULL, true, 0, 10000,
      "one node cut from the service: its own DOWN never becomes the verdict, no action" },
    { "cut_leader", K_CUT_LEADER, NULL, true, 0, 10000,
      "the leader cut from the service: no action on one node's view, even the leader's" },
    { "cut_majority", K_CUT_MAJORITY, NULL, true, 0, 20000,
      "a majority cut from the service: they agree it is DOWN and the leader acts" },
    { "split_2_1", K_SPLIT, "crash", true, 0, 20000,
      "the leader isolated from the others and the service crashes: the majority acts, the old leader never does" },
    { "loss", K_LOSS, "crash", true, 0, 45000,
      "30% packet loss between every pair of nodes, both ways: the crash is still healed once" },
    { "flapping", K_FLAPPING, NULL, false, 0, 10000,
      "single failed checks over and over: never DOWN by quorum, no action" },
    { "storm_5xx", K_STORM, "status&code=503", false, 0, 25000,
      "Railway answers 503 to everything for a while: the restart is blocked, retried, counted once" },
    { "storm_429", K_STORM, "429&retry_after=1", false, 0, 25000,
      "Railway rate-limits everything for a while: medic waits and retries, counted once" },
    { "storm_auth", K_STORM, "auth", false, 0, 25000,
      "Railway refuses the token for a while: blocked, retried once the token works again" },
    { "disk_full", K_DISK_FULL, "crash", true, 0, 25000,
      "the leader's data dir full: the cluster still heals the crash, ledgers agree after" },
    { "clock_jump", K_CLOCK_JUMP, "crash", true, 0, 15000,
      "the leader's wall clock jumps 2 minutes ahead: no false action, the crash healed once" },
    { "single", K_LADDER, "crash", false, 1, 10000,
      "a cluster of one: it acts on its own view (quorum 1)" },
};

int ch_scenario_count(void) { return (int)(sizeof table / sizeof table[0]); }
const ch_scenario *ch_scenario_at(int k) { return &table[k]; }
const char *ch_scenario_name(const ch_scenario *s) { return s->name; }
const char *ch_scenario_proves(const ch_scenario *s) { return s->proves; }
bool ch_scenario_needs_root(const ch_scenario *s) { return s->root || s->k == K_CLOCK_JUMP; }
int ch_scenario_nodes(const ch_scenario *s, int asked) { return s->nodes ? s->nodes : asked; }

typedef struct {
    ch_cluster c;
    ch_watch wt;
    const ch_scenario *s;
    ch_result *r;
    void (*progress)(const char *);
    int bound_ms;
    int leader;
} run;

static void say(run *x, const char *fmt, const char *arg)
{
    char line[256];
    snprintf(line, sizeof line, fmt, arg);
    if (x->progress)
        x->progress(line);
}

static bool fail(run *x, const char *why)
{
    if (x->r->pass) {
        x->r->pass = false;
        snprintf(x->r->why, sizeof x->r->why, "%s", why);
    }
    return false;
}

/* Polls until done(x) or the bound from the fault; false on timeout or interrupt. */
static bool wait_for(run *x, bool (*done)(run *), int limit_ms)
{
    int64_t deadline = md_wall_ms() + limit_ms;
    while (!ch_interrupted && md_wall_ms() < deadline) {
        ch_watch_poll(&x->wt, &x->c);
        if (done(x))
            return true;
        ch_sleep_ms(50);
    }
    return false;
}

static bool resolved(run *x)
{
    int l = ch_leader(&x->c);
    if (l < 0 || !x->wt.recovered)
        return false;
    ch_watch_incident(&x->wt, &x->c, l);
    return strcmp(x->wt.incident, "resolved") == 0;
}

static bool first_step(run *x)
{
    int64_t at;
    return ch_count_mutations(&x->c, x->wt.t0, &at) > 0;
}

static bool quorum_down(run *x) { return x->wt.quorum_down != 0; }

/* Injects the fake's bug; the fault's moment is when the fake took it. */
static bool bug(run *x, const char *b)
{
    char path[128];
    snprintf(path, sizeof path, "/control/services/" CH_SERVICE "/bug?mode=%s", b);
    x->wt.t0 = md_wall_ms();
    return ch_fake_control(&x->c, path) == 200 || fail(x, "the fake Railway refused the bug");
}

/* Waits for a majority to name a leader other than old; returns it or -1. */
static int new_leader(run *x, int old, int limit_ms)
{
    int64_t deadline = md_wall_ms() + limit_ms;
    while (!ch_interrupted && md_wall_ms() < deadline) {
        int l = ch_leader(&x->c);
        if (l >= 0 && l != old)
            return l;
        ch_watch_poll(&x->wt, &x->c);
        ch_sleep_ms(50);
    }
    return -1;
}

static void leader_fault(run *x, bool freeze)
{
    bug(x, x->s->arg);
    if (!wait_for(x, first_step, x->bound_ms)) {
        fail(x, "no first action before the leader fault");
        return;
    }
    int old = x->leader = ch_leader(&x->c);
    if (old < 0) {
        fail(x, "no leader mid-ladder");
        return;
    }
    ch_node *nd = &x->c.node[old];
    int64_t t = md_wall_ms();
    say(x, freeze ? "SIGSTOP %s mid-ladder" : "kill -9 %s mid-ladder", nd->id);
    if (freeze) {
        kill(nd->proc.pid, SIGSTOP);
        nd->stopped = true;
    } else {
        ch_node_kill(&x->c, old);
    }
    int nl = new_leader(x, old, 10 * x->c.tm.election_ms);
    if (nl < 0) {
        fail(x, "no new leader after the leader fault");
        return;
    }
    x->r->failover = md_wall_ms() - t;
    if (freeze) {
        ch_sleep_ms(x->c.tm.election_ms);
        kill(nd->proc.pid, SIGCONT);
        nd->stopped = false;
    } else if (ch_node_spawn(&x->c, old) < 0) {
        fail(x, "the killed leader did not restart");
        return;
    }
    if (!wait_for(x, resolved, x->bound_ms))
        fail(x, "not resolved after the leader fault");
}

/* Cut nodes [set] from the service; expect_action says whether a quorum does see it DOWN. */
static void cut_service(run *x, const int *set, int n, bool expect_action)
{
    x->wt.t0 = md_wall_ms();
    for (int k = 0; k < n; k++)
        if (ch_net_cut_service(x->c.w, set[k], x->c.fake_port) < 0) {
            fail(x, "nft: could not cut a node from the service");
            return;
        }
    const ch_timing *tm = &x->c.tm;
    /* Long enough for the cut nodes to count their failures, gossip and (would) vote. */
    int window = tm->failures * tm->interval_ms + 4 * tm->timeout_ms + 3000;
    if (expect_action) {
        if (!wait_for(x, first_step, x->bound_ms)) {
            fail(x, "a majority cut from the service: no action");
            return;
        }
    } else {
        int64_t end = md_wall_ms() + window;
        while (!ch_interrupted && md_wall_ms() < end) {
            ch_watch_poll(&x->wt, &x->c);
            ch_sleep_ms(50);
        }
        for (int k = 0; k < n; k++)
            if (!x->wt.node_down[set[k]])
                fail(x, "a cut node never saw the service DOWN (the cut did not work)");
        if (x->wt.verdict_down_seen)
            fail(x, "a minority's view became the cluster verdict DOWN");
    }
    ch_net_reset(x->c.w, x->c.n);
    say(x, "partition healed%s", "");
    if (expect_action && !wait_for(x, resolved, x->bound_ms))
        fail(x, "not resolved after the partition healed");
    if (!expect_action) {
        x->r->recovered = -1;
        int64_t end = md_wall_ms() + 5000;
        while (!ch_interrupted && md_wall_ms() < end && strcmp(x->wt.state[set[0]], "UP") != 0) {
            ch_watch_poll(&x->wt, &x->c);
            ch_sleep_ms(50);
        }
        if (strcmp(x->wt.state[set[0]], "UP") == 0)
            x->r->recovered = md_wall_ms() - x->wt.t0;
    }
}

static void split(run *x)
{
    int old = x->leader;
    for (int j = 0; j < x->c.n; j++)
        if (j != old && ch_net_cut_nodes(x->c.w, old, j) < 0) {
            fail(x, "nft: could not partition the nodes");
            return;
        }
    say(x, "%s isolated from the other nodes; the service crashes", x->c.node[old].id);
    x->wt.ignore[old] = true; /* alone it never has a quorum: its verdict stays UNKNOWN */
    bug(x, x->s->arg);
    int nl = new_leader(x, old, 10 * x->c.tm.election_ms);
    if (nl < 0) {
        fail(x, "the majority elected no leader");
        return;
    }
    x->r->failover = md_wall_ms() - x->wt.t0;
    if (!wait_for(x, resolved, x->bound_ms))
        fail(x, "the majority did not heal the service");
    char steps[512];
    int n = 0, by_old = 0;
    ch_incident_steps(&x->c, steps, sizeof steps, &n, &by_old, old);
    if (by_old)
        fail(x, "the isolated old leader proposed a step");
    ch_net_reset(x->c.w, x->c.n);
    x->wt.ignore[old] = false;
}

static bool no_action_window(run *x, int ms)
{
    int64_t end = md_wall_ms() + ms;
    while (!ch_interrupted && md_wall_ms() < end) {
        ch_watch_poll(&x->wt, &x->c);
        ch_sleep_ms(50);
    }
    int64_t at;
    if (ch_count_mutations(&x->c, x->wt.t0, &at) != 0)
        return fail(x, "an action without a failure (false remediation)");
    if (ch_any_incident(&x->c, x->wt.t0))
        return fail(x, "an incident without a failure");
    return true;
}

static void flapping(run *x)
{
    const ch_timing *tm = &x->c.tm;
    x->wt.t0 = md_wall_ms();
    /* Bounded: a burst of single failures (one per node) every other interval, 20 times. */
    char mode[32];
    snprintf(mode, sizeof mode, "fail?count=%d", x->c.n);
    for (int k = 0; k < 20 && !ch_interrupted; k++) {
        if (ch_svc_mode(&x->c, mode) < 0) {
            fail(x, "the service refused the flapping mode");
            return;
        }
        for (int t = 0; t < 2; t++) {
            ch_watch_poll(&x->wt, &x->c);
            ch_sleep_ms(tm->interval_ms);
        }
    }
    if (x->wt.verdict_down_seen)
        fail(x, "single failed checks made the verdict DOWN");
    no_action_window(x, 1000);
    x->r->recovered = -1;
}

static void storm(run *x)
{
    char path[128];
    snprintf(path, sizeof path, "/control/fault?kind=%s&count=0", x->s->arg);
    if (ch_fake_control(&x->c, path) != 200) {
        fail(x, "the fake Railway refused the storm");
        return;
    }
    bug(x, "crash");
    /* The storm lasts until the verdict has been DOWN for three seconds. */
    if (!wait_for(x, quorum_down, x->bound_ms)) {
        fail(x, "no quorum DOWN");
        return;
    }
    int64_t end = md_wall_ms() + 3000;
    while (!ch_interrupted && md_wall_ms() < end) {
        ch_watch_poll(&x->wt, &x->c);
        ch_sleep_ms(50);
    }
    ch_fake_control(&x->c, "/control/faults/clear");
    say(x, "storm over%s", "");
    if (!wait_for(x, resolved, x->bound_ms))
        fail(x, "not resolved after the storm");
}

static void disk_full(run *x)
{
    ch_node *nd = &x->c.node[x->leader];
    say(x, "filling %s's data dir", nd->id);
    ch_fill(nd->data);
    bug(x, x->s->arg);
    if (!wait_for(x, resolved, x->bound_ms))
        fail(x, "not resolved with the leader's disk full");
    /* A node whose storage failed with a real disk error stays out of consensus until it is
     * restarted (docs/cluster.md): the operator frees the disk and restarts it. */
    ch_unfill(nd->data);
    say(x, "disk freed; restarting %s", nd->id);
    kill(nd->proc.pid, SIGTERM);
    md_proc_stop(&nd->proc, 0, 5000, NULL);
    nd->running = false;
    if (ch_node_spawn(&x->c, x->leader) < 0)
        fail(x, "the node did not restart after its disk was freed");
}

static void clock_jump(run *x)
{
    ch_node *nd = &x->c.node[x->leader];
    say(x, "%s's wall clock jumps +120 s", nd->id);
    x->wt.skewed[x->leader] = true;
    FILE *f = fopen(nd->clock_file, "w");
    if (!f || fputs("+120\n", f) < 0 || fclose(f) != 0) {
        fail(x, "could not move the clock");
        return;
    }
    x->wt.t0 = md_wall_ms();
    if (!no_action_window(x, 3000))
        return;
    bug(x, x->s->arg);
    if (!wait_for(x, resolved, x->bound_ms))
        fail(x, "not resolved after the clock jump");
}

static void inject(run *x)
{
    int set[CH_MAX_NODES], q = x->c.n / 2 + 1;
    switch (x->s->k) {
    case K_LADDER:
        bug(x, x->s->arg);
        if (!wait_for(x, resolved, x->bound_ms))
            fail(x, "not resolved within the bound");
        break;
    case K_LEADER_KILLED: leader_fault(x, false); break;
    case K_LEADER_FROZEN: leader_fault(x, true); break;
    case K_CUT_ONE:
        set[0] = (x->leader + 1) % x->c.n;
        cut_service(x, set, 1, false);
        break;
    case K_CUT_LEADER:
        set[0] = x->leader;
        cut_service(x, set, 1, false);
        break;
    case K_CUT_MAJORITY:
        for (int k = 0; k < q; k++)
            set[k] = (x->leader + k) % x->c.n;
        cut_service(x, set, q, true);
        break;
    case K_SPLIT: split(x); break;
    case K_LOSS:
        /* 30% on every link, both ways, with either timings: the nodes ride through it on two
         * connections per peer, each replaced when it stalls (docs/chaos.md, transport/README.md). */
        for (int i = 0; i < x->c.n; i++)
            ch_net_loss(x->c.w, i, x->c.n, 30);
        bug(x, x->s->arg);
        if (!wait_for(x, resolved, x->bound_ms))
            fail(x, "not resolved with packet loss between the nodes");
        ch_net_reset(x->c.w, x->c.n);
        break;
    case K_FLAPPING: flapping(x); break;
    case K_STORM: storm(x); break;
    case K_DISK_FULL: disk_full(x); break;
    case K_CLOCK_JUMP: clock_jump(x); break;
    }
}

/* The criteria every scenario shares, after its own. */
static void common_checks(run *x)
{
    bool acts = x->s->k != K_CUT_ONE && x->s->k != K_CUT_LEADER && x->s->k != K_FLAPPING;
    int64_t first = 0;
    int done = ch_count_mutations(&x->c, x->wt.t0, &first);
    char steps[160], why[256];
    int n = 0, minority = 0;
    ch_incident_steps(&x->c, steps, sizeof steps, &n, &minority, -1);
    x->r->actions = done;
    x->r->first_action = first ? first - x->wt.t0 : -1;
    x->r->first_down = x->wt.first_down ? x->wt.first_down - x->wt.t0 : -1;
    x->r->quorum_down = x->wt.quorum_down ? x->wt.quorum_down - x->wt.t0 : -1;
    if (acts)
        x->r->recovered = x->wt.recovered ? x->wt.recovered - x->wt.t0 : -1;
    if (done < 0)
        fail(x, "the fake Railway's request log could not be read");
    if (!acts && done > 0)
        fail(x, "false remediation: an action where none was due");
    if (done > n) {
        snprintf(why, sizeof why, "duplicate action: Railway executed %d, the ledger has %d step(s) (%s)", done, n, steps);
        fail(x, why);
    }
    if (acts && x->r->recovered > (int64_t)x->bound_ms) {
        snprintf(why, sizeof why, "recovered in %lld ms, over the bound of %d ms", (long long)x->r->recovered, x->bound_ms);
        fail(x, why);
    }
    if (ch_ledgers_agree(&x->c, 10000, why, sizeof why) < 0)
        fail(x, why);
}

void ch_scenario_run(const ch_scenario *s, ch_world *w, const ch_timing *tm, int nodes, ch_result *r,
                     void (*progress)(const char *))
{
    run x;
    memset(&x, 0, sizeof x);
    memset(r, 0, sizeof *r);
    r->pass = true;
    r->failover = r->recovered = -1;
    x.s = s;
    x.r = r;
    x.progress = progress;
    x.bound_ms = s->bound_ms * (tm->quick ? 1 : 2);
    say(&x, "starting %s", nodes == 1 ? "one node" : "the cluster");
    if (ch_cluster_start(&x.c, w, tm, nodes, s->k == K_CLOCK_JUMP) < 0) {
        fail(&x, "the cluster did not start");
    } else if (ch_wait_ready(&x.c, 30000) < 0) {
        fail(&x, "the cluster did not become ready (leader, service UP, known-good)");
    } else {
        x.leader = ch_leader(&x.c);
        ch_watch_init(&x.wt, md_wall_ms());
        say(&x, "fault: %s", s->name);
        inject(&x);
        if (!ch_interrupted) {
            say(&x, "checking ledgers and actions%s", "");
            common_checks(&x);
        }
    }
    if (ch_interrupted)
        fail(&x, "interrupted");
    if (!r->pass) {
        char keep[PATH_MAX + 64];
        snprintf(keep, sizeof keep, "%s/run", w->dir);
        fprintf(stderr, "medic chaos: %s failed: %s\n", s->name, r->why);
        for (int i = 0; i < x.c.n; i++) {
            char cmd[PATH_MAX + 64];
            snprintf(cmd, sizeof cmd, "tail -n 15 '%s' >&2", x.c.node[i].log);
            fprintf(stderr, "--- %s's log, last lines ---\n", x.c.node[i].id);
            if (system(cmd) != 0)
                fprintf(stderr, "(no log)\n");
        }
    }
    ch_cluster_stop(&x.c);
    if (w->keep_dir[0]) {
        /* --keep-logs: each run's logs and configs, for reading after the world is gone */
        static int kept;
        ch_sh("mkdir -p '%s' && cp -r '%s/run' '%s/%s-%d'", w->keep_dir, w->dir, w->keep_dir, s->name, ++kept);
    }
}
