/* test_exec_actuator.c: the exec actuator against real child processes (/bin/sh, sleep, seq):
 * exit codes, the 4 KiB output tail, timeouts with SIGTERM then SIGKILL on the whole process
 * group, the MEDIC_* environment, commands that cannot start, and cancel. Each test runs its own
 * loop and closes it, so a leaked handle fails the test. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "heal/exec_actuator.h"

typedef struct {
    int calls;
    md_exec_result res;
} outcome;

static void on_done(const md_exec_result *res, void *ctx)
{
    outcome *o = ctx;
    o->calls++;
    o->res = *res;
}

static void on_guard(uv_timer_t *t)
{
    *(bool *)t->data = true;
    uv_stop(t->loop);
}

/* Runs loop until *flag is non-zero or max_ms pass; fails the test on the latter. */
static void run_until(uv_loop_t *loop, const int *flag, int max_ms)
{
    bool expired = false;
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, on_guard, (uint64_t)max_ms, 0);
    while (!*flag && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    assert_false(expired);
}

/* Lets every handle close, then checks none was left behind. */
static void finish_loop(uv_loop_t *loop)
{
    for (int i = 0; i < 1000 && uv_run(loop, UV_RUN_NOWAIT) != 0; i++)
        usleep(2000);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* group_alive says whether any process of group pgid is still running (zombies waiting for
 * their reaper do not count), polling up to 1 s for the kernel to finish the kills. */
static bool group_alive(pid_t pgid)
{
    for (int tries = 0; tries < 100; tries++) {
        bool alive = false;
        DIR *d = opendir("/proc");
        assert_non_null(d);
        struct dirent *e;
        while (!alive && (e = readdir(d)) != NULL) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9')
                continue;
            char path[300], buf[512];
            snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
            FILE *f = fopen(path, "r");
            if (!f)
                continue;
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            fclose(f);
            buf[n] = '\0';
            char *rp = strrchr(buf, ')'); /* after "pid (comm)": state ppid pgrp */
            char st;
            int ppid, pgrp;
            if (rp && sscanf(rp + 1, " %c %d %d", &st, &ppid, &pgrp) == 3 && pgrp == pgid && st != 'Z')
                alive = true;
        }
        closedir(d);
        if (!alive)
            return false;
        usleep(10000);
    }
    return true;
}

static md_exec_request req_of(char *const *argv, int64_t timeout_ms)
{
    return (md_exec_request){ .argv = argv, .service = "web", .incident_id = 42, .step = "restart",
                              .attempt = 2, .action_id = 57, .timeout_ms = timeout_ms };
}

/* Runs argv to completion and returns what the callback saw. */
static outcome run_cmd(char *const *argv, int64_t timeout_ms, int64_t grace_ms, int max_ms)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    outcome o = { 0 };
    md_exec_request rq = req_of(argv, timeout_ms);
    rq.kill_grace_ms = grace_ms;
    md_exec *h = NULL;
    assert_int_equal(md_exec_start(&loop, &rq, on_done, &o, &h), 0);
    assert_non_null(h);
    assert_int_equal(o.calls, 0); /* never from inside md_exec_start */
    run_until(&loop, &o.calls, max_ms);
    finish_loop(&loop);
    assert_int_equal(o.calls, 1);
    return o;
}

static void test_success_captures_output(void **state)
{
    (void)state;
    char *argv[] = { "/bin/sh", "-c", "echo hello; echo oops >&2; printf 'bad\\001byte \\377 \\303\\251\\n'", NULL };
    outcome o = run_cmd(argv, 5000, 0, 5000);
    assert_int_equal(o.res.outcome, MD_EXEC_OK);
    assert_int_equal(o.res.exit_status, 0);
    assert_int_equal(o.res.term_signal, 0);
    assert_int_equal(o.res.spawn_error, 0);
    assert_string_equal(o.res.output, "hello\noops\nbad?byte ? \xc3\xa9\n");
    assert_int_equal(o.res.output_len, strlen(o.res.output));
    assert_int_equal(o.res.output_total, 25);
    assert_string_equal(o.res.summary, "exit 0");
    assert_string_equal(md_exec_outcome_name(o.res.outcome), "ok");
    assert_true(o.res.duration_ms >= 0 && o.res.duration_ms < 5000);
}

static void test_exit_code_recorded(void **state)
{
    (void)state;
    char *argv[] = { "/bin/sh", "-c", "echo failing; exit 3", NULL };
    outcome o = run_cmd(argv, 5000, 0, 5000);
    assert_int_equal(o.res.outcome, MD_EXEC_FAILED);
    assert_int_equal(o.res.exit_status, 3);
    assert_string_equal(o.res.summary, "exit 3");
    char detail[64];
    md_exec_format_detail(&o.res, detail, sizeof(detail));
    assert_string_equal(detail, "exit 3\nfailing\n");
    assert_string_equal(md_exec_outcome_name(o.res.outcome), "failed");
}

static void test_killed_by_signal_is_failure(void **state)
{
    (void)state;
    char *argv[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
    outcome o = run_cmd(argv, 5000, 0, 5000);
    assert_int_equal(o.res.outcome, MD_EXEC_FAILED);
    assert_int_equal(o.res.term_signal, SIGKILL);
    assert_int_equal(o.res.exit_status, -1);
    assert_string_equal(o.res.summary, "killed by signal 9 (SIGKILL)");
}

/* seq 1 200000 writes about 1.3 MB; the result must hold exactly its last 4096 bytes. */
static void test_megabytes_keep_only_the_tail(void **state)
{
    (void)state;
    size_t cap = 2u << 20, n = 0;
    char *expect = malloc(cap);
    assert_non_null(expect);
    for (int i = 1; i <= 200000; i++)
        n += (size_t)snprintf(expect + n, cap - n, "%d\n", i);
    char *argv[] = { "seq", "1", "200000", NULL }; /* found through PATH */
    outcome o = run_cmd(argv, 20000, 0, 20000);
    assert_int_equal(o.res.outcome, MD_EXEC_OK);
    assert_int_equal(o.res.output_total, n);
    assert_true(n > 1000000);
    /* The ring cut mid-line; what is kept is byte for byte the end of the stream. */
    assert_int_equal(o.res.output_len, MD_EXEC_OUTPUT_MAX);
    assert_memory_equal(o.res.output, expect + n - MD_EXEC_OUTPUT_MAX, MD_EXEC_OUTPUT_MAX);
    assert_non_null(strstr(o.res.output, "199999\n200000\n"));
    free(expect);

    /* The ledger detail keeps the summary and the end of the output within its cap. */
    char detail[512];
    size_t len = md_exec_format_detail(&o.res, detail, sizeof(detail));
    assert_int_equal(len, sizeof(detail) - 1);
    assert_int_equal(strncmp(detail, "exit 0\n", 7), 0);
    assert_string_equal(detail + len - 14, "199999\n200000\n");
}

static void test_timeout_sigterm(void **state)
{
    (void)state;
    char *argv[] = { "sleep", "30", NULL };
    int64_t t0 = md_mono_us();
    outcome o = run_cmd(argv, 300, 2000, 10000);
    int64_t took_ms = (md_mono_us() - t0) / 1000;
    assert_int_equal(o.res.outcome, MD_EXEC_TIMEOUT);
    assert_int_equal(o.res.term_signal, SIGTERM);
    assert_string_equal(o.res.summary, "timeout after 0.3 s (killed by signal 15 (SIGTERM))");
    assert_string_equal(md_exec_outcome_name(o.res.outcome), "timeout");
    assert_true(took_ms >= 290);
    assert_true(took_ms < 300 + 2000 + 1500);
}

/* A script that ignores SIGTERM (and so does its sleep, which inherits the disposition) is
 * SIGKILLed after the grace, the sleep with it: the whole group goes. */
static void test_timeout_sigkill_after_grace(void **state)
{
    (void)state;
    char *argv[] = { "/bin/sh", "-c", "trap '' TERM; echo waiting; sleep 30; echo never", NULL };
    uv_loop_t loop;
    uv_loop_init(&loop);
    outcome o = { 0 };
    md_exec_request rq = req_of(argv, 300);
    rq.kill_grace_ms = 400;
    md_exec *h = NULL;
    int64_t t0 = md_mono_us();
    assert_int_equal(md_exec_start(&loop, &rq, on_done, &o, &h), 0);
    pid_t pid = md_exec_pid(h);
    assert_true(pid > 0);
    run_until(&loop, &o.calls, 10000);
    int64_t took_ms = (md_mono_us() - t0) / 1000;
    finish_loop(&loop);
    assert_int_equal(o.res.outcome, MD_EXEC_TIMEOUT);
    assert_int_equal(o.res.term_signal, SIGKILL);
    assert_string_equal(o.res.output, "waiting\n");
    assert_true(took_ms >= 690);
    assert_true(took_ms < 300 + 400 + 1500);
    /* No member of the group survived (the sleep held the pipe; the result came anyway). */
    assert_false(group_alive(pid));
}

static void test_environment(void **state)
{
    (void)state;
    setenv("MEDIC_SERVICE", "stale-value-from-parent", 1);
    setenv("MEDIC_TEST_INHERITED", "kept", 1);
    char *argv[] = { "/bin/sh", "-c",
                     "echo $MEDIC_SERVICE $MEDIC_INCIDENT $MEDIC_STEP $MEDIC_ATTEMPT $MEDIC_ACTION $MEDIC_TEST_INHERITED; "
                     "env | grep -c '^MEDIC_SERVICE='; read x; echo \"stdin:[$x]\"",
                     NULL };
    outcome o = run_cmd(argv, 5000, 0, 5000);
    unsetenv("MEDIC_SERVICE");
    unsetenv("MEDIC_TEST_INHERITED");
    assert_int_equal(o.res.outcome, MD_EXEC_OK); /* stdin is /dev/null: read gets EOF at once */
    assert_string_equal(o.res.output, "web 42 restart 2 57 kept\n1\nstdin:[]\n");
}

static void test_secrets_are_not_passed_on(void **state)
{
    (void)state;
    setenv("MEDIC_TEST_TOKEN", "tok-9f2c7a", 1);
    setenv("MEDIC_TEST_TOKENS", "kept: only exact names are withheld", 1);
    setenv("MEDIC_TEST_PLAIN", "visible", 1);
    setenv("MEDIC_CONFIG", "{\"cluster\":{\"secret\":\"inline\"}}", 1);
    char *argv[] = { "/bin/sh", "-c",
                     "env | grep -c -e '^MEDIC_TEST_TOKEN=' -e '^MEDIC_CONFIG='; env | grep -c '^MEDIC_TEST_TOKENS=';"
                     "echo $MEDIC_TEST_PLAIN $MEDIC_STEP",
                     NULL };
    char *withhold[] = { "MEDIC_TEST_TOKEN", "MEDIC_TEST_UNSET" };
    uv_loop_t loop;
    uv_loop_init(&loop);
    outcome o = { 0 };
    md_exec_request rq = req_of(argv, 5000);
    rq.withhold = withhold;
    rq.n_withhold = 2;
    assert_int_equal(md_exec_start(&loop, &rq, on_done, &o, NULL), 0);
    run_until(&loop, &o.calls, 5000);
    finish_loop(&loop);
    unsetenv("MEDIC_TEST_TOKEN");
    unsetenv("MEDIC_TEST_TOKENS");
    unsetenv("MEDIC_TEST_PLAIN");
    unsetenv("MEDIC_CONFIG");
    assert_int_equal(o.calls, 1);
    assert_string_equal(o.res.output, "0\n1\nvisible restart\n");
}

static void test_enoent_is_a_failed_result(void **state)
{
    (void)state;
    char *argv[] = { "/nonexistent/medic-restart-cmd", "--now", NULL };
    outcome o = run_cmd(argv, 5000, 0, 5000);
    assert_int_equal(o.res.outcome, MD_EXEC_FAILED);
    assert_int_equal(o.res.spawn_error, UV_ENOENT);
    assert_int_equal(o.res.exit_status, -1);
    assert_string_equal(o.res.summary, "cannot start /nonexistent/medic-restart-cmd: no such file or directory");
    assert_int_equal(o.res.output_len, 0);
    char detail[128];
    md_exec_format_detail(&o.res, detail, sizeof(detail));
    assert_string_equal(detail, o.res.summary);
}

static void on_tick(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

static void test_cancel(void **state)
{
    (void)state;
    char *argv[] = { "/bin/sh", "-c", "sleep 30 & sleep 30; wait", NULL };
    uv_loop_t loop;
    uv_loop_init(&loop);
    outcome o = { 0 };
    md_exec_request rq = req_of(argv, 60000);
    md_exec *h = NULL;
    assert_int_equal(md_exec_start(&loop, &rq, on_done, &o, &h), 0);
    pid_t pid = md_exec_pid(h);
    assert_true(pid > 0);
    int ticked = 0;
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    tick.data = &ticked;
    uv_timer_start(&tick, on_tick, 200, 0);
    run_until(&loop, &ticked, 5000);
    uv_close((uv_handle_t *)&tick, NULL);
    assert_true(group_alive(pid)); /* still running */
    int64_t t0 = md_mono_us();
    md_exec_cancel(h);
    /* The loop ends by itself once the child is reaped and every handle closed. */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_true((md_mono_us() - t0) / 1000 < 3000);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(o.calls, 0);
    assert_false(group_alive(pid)); /* the group (both sleeps) is gone */
}

/* Cancelling a command that could not start: still no callback, still nothing left open. */
static void test_cancel_failed_start(void **state)
{
    (void)state;
    char *argv[] = { "/nonexistent/medic-cmd", NULL };
    uv_loop_t loop;
    uv_loop_init(&loop);
    outcome o = { 0 };
    md_exec_request rq = req_of(argv, 1000);
    md_exec *h = NULL;
    assert_int_equal(md_exec_start(&loop, &rq, on_done, &o, &h), 0);
    assert_int_equal(md_exec_pid(h), 0);
    md_exec_cancel(h);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(o.calls, 0);
}

/* A command that starts a background process holding the pipe still reports promptly. */
static void test_background_child_does_not_hold_result(void **state)
{
    (void)state;
    char *argv[] = { "/bin/sh", "-c", "sleep 20 & echo started", NULL };
    uv_loop_t loop;
    uv_loop_init(&loop);
    outcome o = { 0 };
    md_exec_request rq = req_of(argv, 10000);
    md_exec *h = NULL;
    int64_t t0 = md_mono_us();
    assert_int_equal(md_exec_start(&loop, &rq, on_done, &o, &h), 0);
    pid_t pid = md_exec_pid(h);
    run_until(&loop, &o.calls, 5000);
    finish_loop(&loop);
    assert_true((md_mono_us() - t0) / 1000 < 2000);
    assert_int_equal(o.res.outcome, MD_EXEC_OK);
    assert_string_equal(o.res.output, "started\n");
    kill(-pid, SIGKILL); /* the test's own leftover: stop what it started */
}

static void test_invalid_requests(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    outcome o = { 0 };
    char *empty[] = { "", NULL };
    char *none[] = { NULL };
    char *ok[] = { "/bin/true", NULL };
    md_exec_request rq = req_of(none, 1000);
    assert_int_equal(md_exec_start(&loop, &rq, on_done, &o, NULL), -EINVAL);
    rq = req_of(empty, 1000);
    assert_int_equal(md_exec_start(&loop, &rq, on_done, &o, NULL), -EINVAL);
    rq = req_of(ok, 0);
    assert_int_equal(md_exec_start(&loop, &rq, on_done, &o, NULL), -EINVAL);
    char **many = calloc(MD_EXEC_MAX_ARGS + 2, sizeof(char *));
    assert_non_null(many);
    for (int i = 0; i <= MD_EXEC_MAX_ARGS; i++)
        many[i] = "x";
    rq = req_of(many, 1000);
    assert_int_equal(md_exec_start(&loop, &rq, on_done, &o, NULL), -EINVAL);
    free(many);
    assert_int_equal(o.calls, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_captures_output),
        cmocka_unit_test(test_exit_code_recorded),
        cmocka_unit_test(test_killed_by_signal_is_failure),
        cmocka_unit_test(test_megabytes_keep_only_the_tail),
        cmocka_unit_test(test_timeout_sigterm),
        cmocka_unit_test(test_timeout_sigkill_after_grace),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_secrets_are_not_passed_on),
        cmocka_unit_test(test_enoent_is_a_failed_result),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cancel_failed_start),
        cmocka_unit_test(test_background_child_does_not_hold_result),
        cmocka_unit_test(test_invalid_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
