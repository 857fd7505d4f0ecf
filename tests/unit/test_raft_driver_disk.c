/* test_raft_driver_disk.c: what the Raft driver makes of a lost hard state (issue 11, item 2).
 * A data dir holds a log (terms 1-2) and a hard state of term 3. With the hard state intact the
 * node starts as usual; with it missing, or damaged (a flipped bit, cut short), it starts as a
 * node that lost its disk: the durable `recovering` marker is written and the term comes from
 * the log. Before, a damaged file was refused while a missing one started recovering. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster/cluster.h"
#include "config/config.h"
#include "storage.h"
#include "view/view.h"

static int no_send(void *ctx, const char *peer, uint8_t type, const void *body, size_t len)
{
    (void)ctx, (void)peer, (void)type, (void)body, (void)len;
    return 0;
}

static void closed(void *arg) { *(int *)arg = 1; }

typedef struct {
    char dir[64], data[128], marker[160], hs[160];
    md_config *cfg;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/md-drvdisk-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->marker, sizeof f->marker, "%s/recovering", f->data);
    snprintf(f->hs, sizeof f->hs, "%s/hardstate", f->data);
    char json[1024], err[256];
    snprintf(json, sizeof json,
             "{\"node\":{\"id\":\"n1\",\"data_dir\":\"%s\"},\"cluster\":{\"name\":\"drv\",\"secret\":"
             "\"driver-disk-secret-0123\",\"peers\":[{\"id\":\"n1\",\"address\":\"tcp://127.0.0.1:1\"},"
             "{\"id\":\"n2\",\"address\":\"tcp://127.0.0.1:2\"},{\"id\":\"n3\",\"address\":\"tcp://127.0.0.1:3\"}]},"
             "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:1/health\"}]}",
             f->data);
    if (md_config_parse(json, strlen(json), "t.json", &f->cfg, err, sizeof err) != 0)
        fail_msg("config: %s", err);
    raft_storage *s = NULL;
    if (raft_storage_open(f->data, "drv", "n1", NULL, &s, err, sizeof err) != 0)
        fail_msg("storage: %s", err);
    raft_entry e[3] = { { .term = 1, .index = 1, .type = RAFT_ENTRY_NORMAL },
                        { .term = 2, .index = 2, .type = RAFT_ENTRY_NORMAL },
                        { .term = 2, .index = 3, .type = RAFT_ENTRY_NORMAL } };
    assert_int_equal(raft_storage_append(s, e, 3), 0);
    raft_hard_state hs = { .term = 3, .vote = 2, .commit = 3 };
    assert_int_equal(raft_storage_save_hard_state(s, &hs), 0);
    raft_storage_close(s);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    md_config_free(f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Starts the driver on the data dir and stops it; returns the term it started in and whether
 * it left the recovering marker. */
static uint64_t open_driver(fx *f, bool *marker)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    md_consensus *c = NULL;
    char err[1024] = "";
    if (md_consensus_new(&loop, f->cfg, no_send, NULL, &c, err, sizeof err) != 0)
        fail_msg("consensus: %s", err);
    md_view *v = md_view_alloc(0);
    assert_non_null(v);
    assert_int_equal(md_consensus_fill_view(c, v), 0);
    uint64_t term = v->consensus.term;
    md_view_unref(v);
    *marker = access(f->marker, F_OK) == 0;
    int done = 0;
    md_consensus_close(c, closed, &done);
    while (!done)
        uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return term;
}

static void rewrite_hs(fx *f, size_t keep, int flip)
{
    FILE *fp = fopen(f->hs, "rb");
    assert_non_null(fp);
    unsigned char b[64];
    size_t n = fread(b, 1, sizeof b, fp);
    fclose(fp);
    assert_int_equal(n, 32);
    if (flip >= 0)
        b[flip] ^= 0x01;
    fp = fopen(f->hs, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, keep, fp), keep);
    assert_int_equal(fclose(fp), 0);
}

static void test_intact_hard_state_is_not_recovering(void **state)
{
    fx *f = *state;
    bool marker;
    assert_int_equal(open_driver(f, &marker), 3);
    assert_false(marker);
}

static void test_missing_hard_state_is_recovering(void **state)
{
    fx *f = *state;
    assert_int_equal(unlink(f->hs), 0);
    bool marker;
    assert_int_equal(open_driver(f, &marker), 2); /* from the log */
    assert_true(marker);
}

static void test_damaged_hard_state_is_recovering(void **state)
{
    fx *f = *state;
    rewrite_hs(f, 32, 9); /* a bit of the term: the checksum fails */
    bool marker;
    assert_int_equal(open_driver(f, &marker), 2);
    assert_true(marker);
}

static void test_short_hard_state_is_recovering(void **state)
{
    fx *f = *state;
    rewrite_hs(f, 20, -1);
    bool marker;
    assert_int_equal(open_driver(f, &marker), 2);
    assert_true(marker);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_intact_hard_state_is_not_recovering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_hard_state_is_recovering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_hard_state_is_recovering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_hard_state_is_recovering, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
