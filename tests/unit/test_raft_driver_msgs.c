/* test_raft_driver_msgs.c: what the Raft driver says when storage fails (issue 11, item 5). The
 * hard state it writes holds the term, the vote and the commit index; a failed write used to be
 * reported as "saving term and vote" even when only the commit index had changed. A directory
 * planted where the hard state's temporary file goes makes that write fail, even as root. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster/cluster.h"
#include "config/config.h"
#include "view/view.h"

static int no_send(void *ctx, const char *peer, uint8_t type, const void *body, size_t len)
{
    (void)ctx, (void)peer, (void)type, (void)body, (void)len;
    return 0;
}

static void closed(void *arg) { *(int *)arg = 1; }

static void test_hard_state_failure_names_commit_index(void **state)
{
    (void)state;
    char dir[] = "/tmp/medic-rdmsg-XXXXXX", json[1024], err[256] = "", plant[512];
    assert_non_null(mkdtemp(dir));
    snprintf(json, sizeof json,
             "{\"node\":{\"id\":\"solo\",\"data_dir\":\"%s/data\"},\"cluster\":{\"name\":\"prod\","
             "\"secret\":\"raft-driver-msgs-secret-0123\",\"peers\":[{\"id\":\"solo\",\"address\":"
             "\"tcp://127.0.0.1:9\"}],\"heartbeat_ms\":20,\"election_timeout_ms\":100},"
             "\"services\":[{\"name\":\"a\",\"url\":\"http://127.0.0.1:9/\"}]}",
             dir);
    md_config *cfg = NULL;
    if (md_config_parse(json, strlen(json), "t.json", &cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    uv_loop_t loop;
    uv_loop_init(&loop);
    md_consensus *c = NULL;
    if (md_consensus_new(&loop, cfg, no_send, NULL, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    snprintf(plant, sizeof plant, "%s/data/hardstate.tmp", dir);
    assert_int_equal(mkdir(plant, 0700), 0);
    assert_int_equal(md_consensus_start(c), 0);

    char failed[512] = "";
    for (int i = 0; i < 300 && !failed[0]; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(10000);
        md_view *v = md_view_alloc(0);
        assert_non_null(v);
        assert_int_equal(md_consensus_fill_view(c, v), 0);
        if (v->consensus.failed)
            snprintf(failed, sizeof failed, "%s", v->consensus.failed);
        md_view_unref(v);
    }
    if (strncmp(failed, "saving term, vote and commit index: ", 36) != 0)
        fail_msg("consensus failure reported as '%s'", failed);

    int done = 0;
    md_consensus_close(c, closed, &done);
    while (!done)
        uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    md_config_free(cfg);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hard_state_failure_names_commit_index)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
