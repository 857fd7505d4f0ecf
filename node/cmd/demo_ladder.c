/* demo_ladder.c: the demo's second scene: the service crashes again, the first restart does not
 * fix it, and the leader that ran it is killed with SIGKILL. A new leader must finish the ladder
 * from the replicated ledger without running restart #1 again; the restart log (one line per
 * execution, written by the restart command itself) proves that no step ran twice. Then the
 * killed node is started again and rejoins. */
#include "demo_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_RESTART_LINES = 32 };

int demo_leader(demo *d, int skip, uint64_t *term)
{
    char agreed[16] = "";
    int answered = 0;
    for (int i = 0; i < DEMO_NODES; i++) {
        if (i == skip)
            continue;
        cJSON *cl = demo_get_json(d->api_port[i], "/v1/cluster");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cl, "cluster"), "consensus");
        const char *leader = demo_str(k, "leader");
        bool disagree = cl && (!leader[0] || (agreed[0] && strcmp(agreed, leader) != 0));
        if (cl && !disagree) {
            snprintf(agreed, sizeof agreed, "%s", leader);
            *term = (uint64_t)demo_num(k, "term");
            answered++;
        }
        cJSON_Delete(cl);
        if (disagree)
            return -1;
    }
    int n = 0;
    if (answered < 2 || sscanf(agreed, "n%d", &n) != 1 || n < 1 || n > DEMO_NODES || n - 1 == skip)
        return -1;
    return n - 1;
}

/* The node ids in the restart log from line `from` on (0-based), as "n3,n1"; returns how many. */
static int restarts_since(const demo *d, int from, char *ids, size_t len)
{
    FILE *f = fopen(d->restarts_path, "r");
    char line[64];
    int n = 0;
    size_t at = 0;
    ids[0] = '\0';
    while (f && fgets(line, sizeof line, f) && n < MAX_RESTART_LINES) {
        line[strcspn(line, "\n")] = '\0';
        if (n++ >= from && at < len)
            at += (size_t)snprintf(ids + at, len - at, "%s%s", at ? "," : "", line);
    }
    if (f)
        fclose(f);
    return n - from;
}

/* This scene's incident as the node at port sees it (caller owns the result's parent, *doc). */
static const cJSON *scene_incident(demo *d, int port, cJSON **doc)
{
    *doc = demo_get_json(port, "/v1/incidents");
    const cJSON *lists[2] = { cJSON_GetObjectItemCaseSensitive(*doc, "open"),
                              cJSON_GetObjectItemCaseSensitive(*doc, "closed") };
    for (int l = 0; l < 2; l++) {
        const cJSON *it;
        cJSON_ArrayForEach(it, lists[l])
        {
            if ((int64_t)demo_num(it, "opened_at_ms") >= d->t0)
                return it;
        }
    }
    return NULL;
}

static const char *verdict_state(int port, int64_t *since)
{
    static char state[16];
    cJSON *doc = demo_get_json(port, "/v1/services/demo-api");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "service"), "verdict");
    snprintf(state, sizeof state, "%s", demo_str(v, "state"));
    *since = (int64_t)demo_num(v, "since_ms");
    cJSON_Delete(doc);
    return state;
}

typedef struct {
    int64_t quorum_down, opened, intent[2], result[2], killed, new_leader, up, resolved;
    char by[2][16];
    char label[2][32]; /* "restart #2": a reopened incident goes on counting where it stopped */
} scene_times;

/* Polls until the step'th step (0-based) of this scene's incident has a result, printing its
 * intent and its result as they appear. */
static int wait_step(demo *d, int port, int step, scene_times *t, const char *after)
{
    int64_t deadline = md_wall_ms() + DEMO_WAIT_LIMIT_MS;
    while (md_wall_ms() < deadline) {
        cJSON *doc;
        const cJSON *inc = scene_incident(d, port, &doc);
        const cJSON *st = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(inc, "steps"), step);
        char what[64], note[160];
        if (inc && !t->opened) {
            t->opened = (int64_t)demo_num(inc, "opened_at_ms");
            const cJSON *re = cJSON_GetObjectItemCaseSensitive(inc, "reopen_of");
            if (cJSON_IsNumber(re))
                snprintf(note, sizeof note, "incident %.0f, committed by leader %s; reopens %.0f: its ladder goes on",
                         demo_num(inc, "id"), demo_str(inc, "opened_by"), re->valuedouble);
            else
                snprintf(note, sizeof note, "incident %.0f, committed by leader %s", demo_num(inc, "id"),
                         demo_str(inc, "opened_by"));
            demo_print_event(d, t->opened, "incident opened (Raft)", note);
        }
        if (st && !t->intent[step]) {
            t->intent[step] = (int64_t)demo_num(st, "intent_at_ms");
            snprintf(t->by[step], sizeof t->by[step], "%s", demo_str(st, "proposed_by"));
            snprintf(t->label[step], sizeof t->label[step], "%s #%.0f", demo_str(st, "step"), demo_num(st, "attempt"));
            snprintf(what, sizeof what, "%s committed", t->label[step]);
            snprintf(note, sizeof note, "proposed by leader %s before acting", t->by[step]);
            demo_print_event(d, t->intent[step], what, note);
        }
        if (st && strcmp(demo_str(st, "outcome"), "pending") != 0) {
            t->result[step] = (int64_t)demo_num(st, "result_at_ms");
            snprintf(what, sizeof what, "%s executed", t->label[step]);
            snprintf(note, sizeof note, "%s on %s in %.0f ms%s", demo_str(st, "outcome"), demo_str(st, "result_by"),
                     demo_num(st, "duration_ms"), after);
            demo_print_event(d, t->result[step], what, note);
            cJSON_Delete(doc);
            return 0;
        }
        cJSON_Delete(doc);
        demo_sleep_ms(20);
    }
    fprintf(stderr, "medic demo: step %d of the second incident did not finish within %d s\n", step + 1,
            DEMO_WAIT_LIMIT_MS / 1000);
    return -1;
}

static int wait_verdict(int port, const char *want, int64_t *at)
{
    int64_t deadline = md_wall_ms() + DEMO_WAIT_LIMIT_MS;
    while (md_wall_ms() < deadline) {
        if (strcmp(verdict_state(port, at), want) == 0)
            return 0;
        demo_sleep_ms(20);
    }
    fprintf(stderr, "medic demo: the cluster verdict did not become %s within %d s\n", want, DEMO_WAIT_LIMIT_MS / 1000);
    return -1;
}

static int wait_resolved(demo *d, int port, scene_times *t)
{
    int64_t deadline = md_wall_ms() + DEMO_WAIT_LIMIT_MS;
    while (md_wall_ms() < deadline) {
        cJSON *doc;
        const cJSON *inc = scene_incident(d, port, &doc);
        bool done = inc && strcmp(demo_str(inc, "state"), "resolved") == 0;
        if (done) {
            char note[160];
            t->resolved = (int64_t)demo_num(inc, "closed_at_ms");
            snprintf(note, sizeof note, "incident %.0f closed: %s", demo_num(inc, "id"), demo_str(inc, "close_reason"));
            demo_print_event(d, t->resolved, "incident resolved", note);
        }
        cJSON_Delete(doc);
        if (done)
            return 0;
        demo_sleep_ms(20);
    }
    fprintf(stderr, "medic demo: the second incident was not resolved within %d s\n", DEMO_WAIT_LIMIT_MS / 1000);
    return -1;
}

/* Starts the killed node again and waits until it follows the current leader. */
static int rejoin(demo *d, int node, int64_t *ms)
{
    int64_t start = md_wall_ms();
    if (demo_spawn_node(d, node) < 0)
        return -1;
    while (md_wall_ms() < start + DEMO_WAIT_LIMIT_MS) {
        cJSON *cl = demo_get_json(d->api_port[node], "/v1/cluster");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cl, "cluster"), "consensus");
        bool following = strcmp(demo_str(k, "role"), "follower") == 0 && demo_str(k, "leader")[0];
        cJSON_Delete(cl);
        if (following) {
            *ms = md_wall_ms() - start;
            return 0;
        }
        demo_sleep_ms(50);
    }
    fprintf(stderr, "medic demo: n%d did not rejoin within %d s\n", node + 1, DEMO_WAIT_LIMIT_MS / 1000);
    return -1;
}

int demo_leader_killed(demo *d)
{
    uint64_t term = 0;
    int leader = demo_leader(d, -1, &term);
    if (leader < 0) {
        fprintf(stderr, "medic demo: the nodes do not agree on a leader\n");
        return -1;
    }
    int watcher = (leader + 1) % DEMO_NODES; /* a node that survives the scene */
    int port = d->api_port[watcher];
    printf("\nSecond incident: the leader is killed mid-ladder.\n"
           "  demo-api crashes again and this time the next restart does not fix it; right after running\n"
           "  it, leader n%d is killed with SIGKILL. The new leader must take the next step, not repeat it.\n\n",
           leader + 1);
    printf("  %-12s %10s  %-34s %s\n", "wall clock", "since", "event", "");
    char ids[128];
    int before = restarts_since(d, 0, ids, sizeof ids);
    if (unlink(d->fixable_path) < 0)
        return -1;
    scene_times t = { 0 };
    d->t0 = demo_set_mode(d, "down");
    if (d->t0 < 0)
        return -1;
    demo_print_event(d, d->t0, "FAULT: demo-api crashes", "and a restart will not fix it for now");
    if (wait_verdict(port, "DOWN", &t.quorum_down) < 0)
        return -1;
    demo_print_event(d, t.quorum_down, "cluster verdict DOWN", "a quorum of nodes vote DOWN");
    if (wait_step(d, port, 0, &t, ", did not fix it") < 0)
        return -1;

    md_proc_stop(&d->node[leader], SIGKILL, 2000, NULL);
    t.killed = md_wall_ms();
    char note[160];
    snprintf(note, sizeof note, "mid-ladder, its term %llu", (unsigned long long)term);
    char what[64];
    snprintf(what, sizeof what, "FAULT: leader n%d killed (SIGKILL)", leader + 1);
    demo_print_event(d, t.killed, what, note);
    FILE *fix = fopen(d->fixable_path, "w"); /* from now on a restart heals the service */
    if (!fix || fclose(fix) != 0)
        return -1;

    int next = -1;
    uint64_t new_term = 0;
    while (md_wall_ms() < t.killed + DEMO_WAIT_LIMIT_MS && (next = demo_leader(d, leader, &new_term)) < 0)
        demo_sleep_ms(20);
    if (next < 0) {
        fprintf(stderr, "medic demo: no new leader within %d s\n", DEMO_WAIT_LIMIT_MS / 1000);
        return -1;
    }
    t.new_leader = md_wall_ms();
    snprintf(what, sizeof what, "new leader n%d", next + 1);
    snprintf(note, sizeof note, "term %llu, %lld ms after the kill, from the replicated ledger",
             (unsigned long long)new_term, (long long)(t.new_leader - t.killed));
    demo_print_event(d, t.new_leader, what, note);
    if (wait_step(d, port, 1, &t, "") < 0 || wait_verdict(port, "UP", &t.up) < 0)
        return -1;
    demo_print_event(d, t.up, "cluster verdict UP again", "a quorum of nodes vote UP");
    if (wait_resolved(d, port, &t) < 0)
        return -1;

    /* The proof: one execution per step, the first by the old leader, the second by the new. */
    int ran = restarts_since(d, before, ids, sizeof ids);
    char want[64];
    snprintf(want, sizeof want, "n%d,n%d", leader + 1, next + 1);
    if (ran != 2 || strcmp(ids, want) != 0) {
        fprintf(stderr, "medic demo: the restart command ran %d times (%s), expected twice (%s)\n", ran, ids, want);
        return -1;
    }
    int64_t rejoin_ms = 0;
    if (rejoin(d, leader, &rejoin_ms) < 0)
        return -1;
    printf("\n  n%d started again: it rejoined as a follower in %lld ms.\n", leader + 1, (long long)rejoin_ms);
    printf("  The restart command ran exactly twice (%s): %s on the old leader, %s on the new one;\n"
           "  no step was repeated.\n",
           ids, t.label[0], t.label[1]);
    printf("\nSummary (from the second fault)   this demo\n");
    printf("  detection (quorum DOWN)         %7lld ms\n", (long long)(t.quorum_down - d->t0));
    char row[64];
    snprintf(row, sizeof row, "%s executed (n%d)", t.label[0], leader + 1);
    printf("  %-30s  %7lld ms   did not fix it\n", row, (long long)(t.result[0] - d->t0));
    printf("  leader killed -> new leader     %7lld ms   (n%d -> n%d)\n", (long long)(t.new_leader - t.killed),
           leader + 1, next + 1);
    snprintf(row, sizeof row, "%s executed (%s)", t.label[1], t.by[1]);
    printf("  %-30s  %7lld ms\n", row, (long long)(t.result[1] - d->t0));
    printf("  recovered (cluster UP)          %7lld ms\n", (long long)(t.up - d->t0));
    return 0;
}
