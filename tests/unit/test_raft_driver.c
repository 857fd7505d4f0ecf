/* test_raft_driver.c: the Raft driver's storage-error handling (issue 11, item 3). A one-node
 * cluster leads at once; then every descriptor below a lowered RLIMIT_NOFILE is taken, as a
 * connection flood did, so the next commit cannot open the store's files (EMFILE). The driver
 * must keep the batch and retry it with backoff rather than set `failed` for good: proposals are
 * still taken, and once descriptors are back every entry commits and is applied. Before the fix
 * the first EMFILE stopped consensus until a restart (propose returned -EIO). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "cluster/cluster.h"
#include "config/config.h"
#include "view/view.h"

typedef struct {
    uv_loop_t loop;
    md_config *cfg;
    md_consensus *c;
    char dir[64];
    int applied;
    bool closed;
} fx;

static int no_send(void *ctx, const char *peer, uint8_t type, const void *body, size_t len)
{
    (void)ctx, (void)peer, (void)type, (void)body, (void)len;
    return 0;
}

static void on_apply(void *ctx, uint64_t index, const uint8_t *data, size_t len)
{
    (void)index, (void)data, (void)len;
    ((fx *)ctx)->applied++;
}

static void run_ms(fx *f, int ms, bool (*until)(fx *f))
{
    for (int waited = 0; waited < ms && !(until && until(f)); waited += 5) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(5000);
    }
}

static bool leads(fx *f) { return md_consensus_is_leader(f->c); }
static bool applied_3(fx *f) { return f->applied >= 3; }

static void start(fx *f)
{
    strcpy(f->dir, "/tmp/md-driver-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char json[1024], err[256];
    snprintf(json, sizeof json,
             "{\"node\":{\"id\":\"n1\",\"data_dir\":\"%s/data\"},\"cluster\":{\"name\":\"drv\",\"listen\":\"tcp://127.0.0.1:1\","
             "\"secret\":\"driver-test-secret-0123\",\"peers\":[],\"heartbeat_ms\":20,\"election_timeout_ms\":100},"
             "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:1/health\"}]}",
             f->dir);
    int rc = md_config_parse(json, strlen(json), "t.json", &f->cfg, err, sizeof err);
    if (rc != 0)
        fail_msg("config: %s", err);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    rc = md_consensus_new(&f->loop, f->cfg, no_send, NULL, &f->c, err, sizeof err);
    if (rc != 0)
        fail_msg("consensus: %s", err);
    md_consensus_set_apply(f->c, on_apply, f);
    assert_int_equal(md_consensus_start(f->c), 0);
    run_ms(f, 3000, leads);
    assert_true(md_consensus_is_leader(f->c));
}

static void on_done(void *arg) { ((fx *)arg)->closed = true; }

static void stop(fx *f)
{
    md_consensus_close(f->c, on_done, f);
    for (int i = 0; i < 400 && !f->closed; i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_true(f->closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    md_config_free(f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
}

/* exhaust takes every free descriptor below a soft limit of used + 32; returns how many. */
static int exhaust(int *fds, int cap, struct rlimit *saved)
{
    assert_int_equal(getrlimit(RLIMIT_NOFILE, saved), 0);
    int probe = open("/dev/null", O_RDONLY);
    assert_true(probe >= 0);
    close(probe);
    struct rlimit low = {(rlim_t)probe + 32, saved->rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int n = 0;
    while (n < cap && (fds[n] = open("/dev/null", O_RDONLY)) >= 0)
        n++;
    assert_int_equal(errno, EMFILE);
    return n;
}

static void release(int *fds, int n, const struct rlimit *saved)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, saved), 0);
}

static void test_emfile_is_retried(void **state)
{
    (void)state;
    fx f = {0};
    start(&f);
    uint64_t idx;
    assert_int_equal(md_consensus_propose(f.c, "one", 3, &idx), 0);
    run_ms(&f, 2000, NULL);
    assert_int_equal(f.applied, 1);

    int fds[256];
    struct rlimit saved;
    int n = exhaust(fds, 256, &saved);
    assert_int_equal(md_consensus_propose(f.c, "two", 3, &idx), 0);
    run_ms(&f, 400, NULL); /* several retries meet EMFILE */
    int rc = md_consensus_propose(f.c, "three", 5, &idx);
    release(fds, n, &saved);
    assert_int_equal(rc, 0); /* before the fix: -EIO, consensus stopped for good */

    run_ms(&f, 8000, applied_3);
    assert_int_equal(f.applied, 3);
    assert_true(md_consensus_is_leader(f.c));
    stop(&f);
}

int main(void)
{
    md_log_setup(0, MD_LOG_INFO, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emfile_is_retried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
