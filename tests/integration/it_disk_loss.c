/* it_disk_loss.c: issue 11, items 1 and 2, end to end. Three real `medic node` processes on
 * loopback commit ledger entries (operator pause/resume through the API); then a follower loses
 * its disk: its data dir is wiped, or its hard state file damaged or removed. It must start as
 * recovering (consensus_recovering, and hardstate_lost at error level for a file that went
 * missing or bad), catch up with the leader within seconds, by appends while the leader's log
 * is whole and by a snapshot once the leader has compacted it, and then carry the cluster: with
 * the other follower stopped, a write must commit with its help. (Before the fix a wiped
 * follower never caught up, and a 202 from the API never committed.) A node whose last segment
 * lost committed entries must refuse to start, at error level, exit 1, and say how to recover;
 * following that advice brings it back.
 * Bounded: every wait polls with a deadline; every node is stopped by it_trio_stop. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "harness.h"

#define N 3
#define TOKEN "it-disk-loss-admin-token-01"
#define CATCH_UP_MS 15000 /* loose: a catch-up takes well under a second on loopback */
#define SNAPSHOT_EVERY 1000 /* MD_CONSENSUS_SNAPSHOT_EVERY */

static void start_node(it_trio *t, int i)
{
    char peers[1024] = "", cfg[4096];
    it_trio_peers(t, peers, sizeof peers);
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"%s\",\"data_dir\":\"@DIR@/data\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},"
             "\"status_print_interval_ms\":0,"
             "\"cluster\":{\"name\":\"itdl\",\"secret\":\"it-disk-loss-secret-0123\",\"peers\":[%s],"
             "\"gossip_interval_ms\":100,\"heartbeat_ms\":50,\"election_timeout_ms\":500},"
             "\"remediation\":{\"admin_token\":\"" TOKEN "\"},"
             "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":500,"
             "\"timeout_ms\":200}]}",
             it_trio_ids[i], peers, t->flaky.port);
    assert_int_equal(it_node_start(&t->node[i], cfg, NULL), 0);
    t->running[i] = true;
}

typedef struct {
    double last, commit, snap;
    bool recovering;
    char leader[16];
} cons;

/* Reads node i's consensus numbers from /v1/cluster; false if it did not answer. */
static bool read_cons(it_trio *t, int i, cons *out)
{
    memset(out, 0, sizeof *out);
    cJSON *doc = it_get_json(t->node[i].api_port, "/v1/cluster", NULL);
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "cluster"), "consensus");
    const cJSON *last = cJSON_GetObjectItem(c, "last_index"), *commit = cJSON_GetObjectItem(c, "commit_index");
    const cJSON *snap = cJSON_GetObjectItem(c, "snapshot_index"), *l = cJSON_GetObjectItem(c, "leader");
    bool ok = cJSON_IsNumber(last) && cJSON_IsNumber(commit);
    if (ok) {
        out->last = last->valuedouble;
        out->commit = commit->valuedouble;
        out->snap = cJSON_IsNumber(snap) ? snap->valuedouble : 0;
        out->recovering = cJSON_IsTrue(cJSON_GetObjectItem(c, "recovering"));
        snprintf(out->leader, sizeof out->leader, "%s", cJSON_IsString(l) ? l->valuestring : "");
    }
    cJSON_Delete(doc);
    return ok;
}

/* The node all running nodes name as leader, or -1 after timeout_ms. */
static int wait_leader(it_trio *t, int timeout_ms)
{
    for (int64_t deadline = it_wall_ms() + timeout_ms; it_wall_ms() < deadline; it_sleep_ms(20)) {
        int agreed = -1;
        bool all = true;
        for (int i = 0; i < N && all; i++) {
            cons c;
            if (!t->running[i])
                continue;
            int who = -1;
            bool read = read_cons(t, i, &c);
            for (int j = 0; read && j < N; j++)
                if (strcmp(c.leader, it_trio_ids[j]) == 0)
                    who = j;
            all = who >= 0 && (agreed < 0 || agreed == who);
            agreed = who;
        }
        if (all && agreed >= 0)
            return agreed;
    }
    return -1;
}

/* Posts pause or resume for web to node i; returns the log index the leader proposed, or 0. */
static uint64_t post(it_trio *t, int i, const char *action)
{
    char url[128], *body = NULL;
    long code = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/services/web/%s", t->node[i].api_port, action);
    uint64_t index = 0;
    if (md_fetch_bearer("POST", url, TOKEN, 5000, &code, &body, NULL, 0) == 0 && code == 202) {
        cJSON *doc = cJSON_Parse(body);
        const cJSON *ix = cJSON_GetObjectItem(doc, "index");
        index = cJSON_IsNumber(ix) ? (uint64_t)ix->valuedouble : 0;
        cJSON_Delete(doc);
    } else {
        print_message("%s on %s -> %ld %s\n", action, it_trio_ids[i], code, body ? body : "");
    }
    free(body);
    return index;
}

/* n alternating pause/resume entries through the leader (ending resumed when n is even);
 * returns the index of the last. */
static uint64_t make_entries(it_trio *t, int leader, int n)
{
    uint64_t last = 0;
    for (int k = 0; k < n; k++) {
        last = post(t, leader, k % 2 ? "resume" : "pause");
        assert_true(last > 0);
    }
    return last;
}

/* Waits until node i holds and knows committed everything up to index; returns the wall ms at
 * which it was seen there, or -1 after timeout_ms. */
static int64_t wait_commit(it_trio *t, int i, double index, int timeout_ms)
{
    for (int64_t deadline = it_wall_ms() + timeout_ms; it_wall_ms() < deadline; it_sleep_ms(10)) {
        cons c;
        if (read_cons(t, i, &c) && c.commit >= index && c.last >= index)
            return it_wall_ms();
    }
    return -1;
}

static size_t log_size(const it_node *n)
{
    char *log = it_node_log(n);
    size_t len = strlen(log);
    free(log);
    return len;
}

/* Whether node n's stderr, from byte off on, holds every needle (NULL-terminated). */
static bool log_has(const it_node *n, size_t off, const char *const *needles)
{
    char *log = it_node_log(n);
    bool ok = strlen(log) >= off;
    for (int k = 0; ok && needles[k]; k++)
        ok = strstr(log + off, needles[k]) != NULL;
    free(log);
    return ok;
}

static void dump_log(const it_node *n, size_t off)
{
    char *log = it_node_log(n);
    fprintf(stderr, "---- %s log since its restart ----\n%s\n", n->dir, strlen(log) >= off ? log + off : log);
    free(log);
}

static void path_in(const it_node *n, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/data%s%s", n->dir, name[0] ? "/" : "", name);
}

typedef enum { WIPE, DAMAGE_HS, REMOVE_HS } loss;

static void lose(const it_node *n, loss how)
{
    char path[PATH_MAX];
    if (how == WIPE) {
        path_in(n, "", path, sizeof path);
        it_rmtree(path);
        return;
    }
    path_in(n, "hardstate", path, sizeof path);
    if (how == REMOVE_HS) {
        assert_int_equal(unlink(path), 0);
        return;
    }
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    unsigned char b[32];
    assert_int_equal(fread(b, 1, sizeof b, fp), sizeof b);
    b[12] ^= 0x5a; /* inside the term: the checksum no longer matches */
    rewind(fp);
    assert_int_equal(fwrite(b, 1, sizeof b, fp), sizeof b);
    assert_int_equal(fclose(fp), 0);
}

/* Stops follower v, makes it lose its disk (how), starts it and times its catch-up to index
 * (the last the test proposed; a view is up to 100 ms old, so the leader's may lag it) or the
 * leader's last index, whichever is higher. Asserts what it logs. Returns the time in ms. */
static int64_t lose_and_catch_up(it_trio *t, int leader, int v, loss how, uint64_t index)
{
    cons lc;
    assert_true(read_cons(t, leader, &lc));
    if (lc.last < (double)index)
        lc.last = (double)index;
    assert_true(wait_commit(t, v, lc.last, 5000) > 0); /* it had everything before it lost it */
    t->node[v].keep_dir = true;
    it_node_stop(&t->node[v], SIGKILL, 3000, NULL, NULL);
    t->running[v] = false;
    lose(&t->node[v], how);
    size_t off = log_size(&t->node[v]);
    int64_t t0 = it_wall_ms();
    assert_int_equal(it_node_restart(&t->node[v], NULL), 0);
    t->running[v] = true;
    int64_t at = wait_commit(t, v, lc.last, CATCH_UP_MS);
    static const char *const caught[] = { "event=consensus_recovering", "event=consensus_caught_up", NULL };
    bool logged = false;
    for (int64_t deadline = it_wall_ms() + 5000; !logged && it_wall_ms() < deadline; it_sleep_ms(20))
        logged = log_has(&t->node[v], off, caught);
    static const char *const lost[] = { "level=error event=hardstate_lost", "starting as a node that lost its disk", NULL };
    bool error_logged = how == WIPE || log_has(&t->node[v], off, lost);
    if (at < 0 || !logged || !error_logged)
        dump_log(&t->node[v], off);
    assert_true(at > 0);
    assert_true(logged);
    assert_true(error_logged);
    /* Caught up, it says so in /v1/cluster too (the view is at most 100 ms old). */
    cons vc = { .recovering = true };
    for (int64_t deadline = it_wall_ms() + 2000; vc.recovering && it_wall_ms() < deadline; it_sleep_ms(20))
        assert_true(read_cons(t, v, &vc));
    assert_false(vc.recovering);
    static const char *const hs_kind[] = { NULL, "hardstate=damaged", "hardstate=missing" };
    if (how != WIPE) {
        const char *const want[] = { hs_kind[how], NULL };
        assert_true(log_has(&t->node[v], off, want));
        char *log = it_node_log(&t->node[v]);
        const char *line = strstr(log + off, "level=error event=hardstate_lost");
        print_message("%.*s\n", (int)strcspn(line, "\n"), line);
        free(log);
    }
    return at - t0;
}

/* With follower `other` stopped, a write through the leader commits only with the repaired
 * node's acknowledgement. Returns the commit time in ms. */
static int64_t write_with_repaired(it_trio *t, int leader, int repaired, int other)
{
    it_node_stop(&t->node[other], SIGKILL, 3000, NULL, NULL);
    t->running[other] = false;
    int64_t t0 = it_wall_ms();
    uint64_t ix = post(t, leader, "pause");
    assert_true(ix > 0);
    int64_t at = wait_commit(t, leader, (double)ix, 5000);
    if (at < 0)
        dump_log(&t->node[repaired], 0);
    assert_true(at > 0);
    assert_true(wait_commit(t, repaired, (double)ix, 5000) > 0);
    return at - t0;
}

static int setup(void **state)
{
    it_trio *t = calloc(1, sizeof *t);
    assert_non_null(t);
    assert_int_equal(it_trio_init(t, true), 0);
    for (int i = 0; i < N; i++) /* a new cluster elects once all three are up (docs/cluster.md) */
        start_node(t, i);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    it_trio *t = *state;
    it_trio_stop(t);
    free(t);
    return 0;
}

static int pick_leader(it_trio *t, int *f1, int *f2)
{
    int leader = wait_leader(t, 15000);
    assert_true(leader >= 0);
    *f1 = (leader + 1) % N;
    *f2 = (leader + 2) % N;
    return leader;
}

/* Item 1: a wiped follower is repaired by appends (the leader's log is whole). */
static void test_wiped_follower_repaired_by_append(void **state)
{
    it_trio *t = *state;
    int f1, f2, leader = pick_leader(t, &f1, &f2);
    uint64_t last = make_entries(t, leader, 40);
    int64_t ms = lose_and_catch_up(t, leader, f1, WIPE, last);
    cons c;
    assert_true(read_cons(t, f1, &c));
    print_message("wiped follower %s caught up by appends with %llu entries in %lld ms (snapshot_index %.0f)\n",
                  it_trio_ids[f1], (unsigned long long)last, (long long)ms, c.snap);
    assert_true(c.snap == 0);
    ms = write_with_repaired(t, leader, f1, f2);
    print_message("with %s stopped, a write committed in %lld ms with %s's help\n", it_trio_ids[f2], (long long)ms,
                  it_trio_ids[f1]);
}

/* Item 1: once the leader compacted its log, a wiped follower is repaired by a snapshot. */
static void test_wiped_follower_repaired_by_snapshot(void **state)
{
    it_trio *t = *state;
    int f1, f2, leader = pick_leader(t, &f1, &f2);
    int64_t t0 = it_wall_ms();
    uint64_t last = make_entries(t, leader, SNAPSHOT_EVERY + 100);
    print_message("%d entries in %lld ms\n", SNAPSHOT_EVERY + 100, (long long)(it_wall_ms() - t0));
    cons lc;
    for (int64_t deadline = it_wall_ms() + 10000; it_wall_ms() < deadline; it_sleep_ms(20))
        if (read_cons(t, leader, &lc) && lc.snap > 0)
            break;
    assert_true(lc.snap >= SNAPSHOT_EVERY);
    int64_t ms = lose_and_catch_up(t, leader, f1, WIPE, last);
    cons c;
    assert_true(read_cons(t, f1, &c));
    print_message("wiped follower %s caught up by a snapshot (index %.0f) and appends to %llu in %lld ms\n",
                  it_trio_ids[f1], c.snap, (unsigned long long)last, (long long)ms);
    assert_true(c.snap >= SNAPSHOT_EVERY);
    ms = write_with_repaired(t, leader, f1, f2);
    print_message("with %s stopped, a write committed in %lld ms with %s's help\n", it_trio_ids[f2], (long long)ms,
                  it_trio_ids[f1]);
}

/* Item 2: a damaged hard state file and a missing one are the same lost disk: the node starts as
 * recovering (said at error level), catches up, and then carries the cluster. */
static void test_damaged_or_missing_hard_state(void **state)
{
    it_trio *t = *state;
    int f1, f2, leader = pick_leader(t, &f1, &f2);
    uint64_t last = make_entries(t, leader, 20);
    int64_t ms = lose_and_catch_up(t, leader, f1, DAMAGE_HS, last);
    print_message("%s with a damaged hardstate caught up in %lld ms\n", it_trio_ids[f1], (long long)ms);
    last = make_entries(t, leader, 20);
    ms = lose_and_catch_up(t, leader, f1, REMOVE_HS, last);
    print_message("%s with no hardstate caught up in %lld ms\n", it_trio_ids[f1], (long long)ms);
    ms = write_with_repaired(t, leader, f1, f2);
    print_message("with %s stopped, a write committed in %lld ms with %s's help\n", it_trio_ids[f2], (long long)ms,
                  it_trio_ids[f1]);
}

/* Item 2: a last segment that lost committed entries is refused: the node exits 1 at error level
 * with how to recover; emptying the data dir, as it says, brings it back. */
static void test_cut_below_commit_refuses_to_start(void **state)
{
    it_trio *t = *state;
    int f1, f2, leader = pick_leader(t, &f1, &f2);
    (void)f2;
    uint64_t last = make_entries(t, leader, 10);
    /* Its hard state holds the commit index once a heartbeat told it (persisted before the
     * loop publishes its view); a clean stop keeps it. */
    assert_true(wait_commit(t, f1, (double)last, 5000) > 0);
    t->node[f1].keep_dir = true;
    assert_int_equal(it_node_stop(&t->node[f1], SIGTERM, 3000, NULL, NULL), 0);
    t->running[f1] = false;
    char seg[PATH_MAX];
    path_in(&t->node[f1], "seg-00000000000000000001", seg, sizeof seg);
    FILE *fp = fopen(seg, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long len = ftell(fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(truncate(seg, len - 5), 0);

    size_t off = log_size(&t->node[f1]);
    char *argv[] = { MEDIC_BIN, "node", "--config", t->node[f1].cfg_path, NULL };
    md_proc p;
    memset(&p, 0, sizeof p);
    assert_int_equal(md_proc_spawn(argv, false, t->node[f1].out_path, t->node[f1].log_path, &p), 0);
    int status = 0;
    int killed = md_proc_stop(&p, 0, 10000, &status); /* it exits by itself */
    if (killed != 0)
        dump_log(&t->node[f1], off);
    assert_int_equal(killed, 0);
    static const char *const refused[] = { "level=error event=node_start_failed", "drop committed entries",
                                           "empty its data dir and start it", "catches up from the others", NULL };
    if (!log_has(&t->node[f1], off, refused))
        dump_log(&t->node[f1], off);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_true(log_has(&t->node[f1], off, refused));
    char *log = it_node_log(&t->node[f1]);
    const char *line = strstr(log + off, "event=node_start_failed");
    print_message("refused, exit %d: %.*s\n", WEXITSTATUS(status), (int)strcspn(line, "\n"), line);
    free(log);

    /* as it says: empty its data dir and start it */
    path_in(&t->node[f1], "", seg, sizeof seg);
    it_rmtree(seg);
    assert_int_equal(it_node_restart(&t->node[f1], NULL), 0);
    t->running[f1] = true;
    assert_true(wait_commit(t, f1, (double)last, CATCH_UP_MS) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wiped_follower_repaired_by_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wiped_follower_repaired_by_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_or_missing_hard_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_below_commit_refuses_to_start, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
