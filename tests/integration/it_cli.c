/* it_cli.c: the medic command as a user runs it: version, help, check-config (exit 2 naming the
 * field, secrets masked), status as a table and as JSON, MEDIC_CONFIG, JSON logs, the status
 * block, and a clean stop on SIGTERM and SIGINT within a second. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

typedef struct {
    int code;
    char *out;
    char *err;
} run_result;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(m);
    fclose(f);
    return buf;
}

/* Runs medic with args (NULL-terminated) and waits at most 20 s. */
static run_result run_medic(const char *const *args)
{
    char *argv[16] = { MEDIC_BIN };
    int argc = 1;
    for (int i = 0; args[i] && argc < 15; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    char out[] = "/tmp/medic-cli-out-XXXXXX", err[] = "/tmp/medic-cli-err-XXXXXX";
    close(mkstemp(out));
    close(mkstemp(err));
    md_proc p;
    assert_int_equal(md_proc_spawn(argv, false, out, err, &p), 0);
    int status = 0;
    int64_t deadline = it_wall_ms() + 20000;
    while (md_proc_alive(&p, &status) && it_wall_ms() < deadline)
        it_sleep_ms(10);
    if (p.pid > 0) {
        md_proc_stop(&p, SIGKILL, 1000, &status);
        fail_msg("medic did not finish in time");
    }
    run_result r = { WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err) };
    unlink(out);
    unlink(err);
    return r;
}

static void free_result(run_result *r)
{
    free(r->out);
    free(r->err);
}

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/medic-cli-cfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_version_and_help(void **state)
{
    (void)state;
    run_result r = run_medic((const char *[]){ "--version", NULL });
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "medic " MD_VERSION));
    free_result(&r);
    r = run_medic((const char *[]){ "help", NULL });
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "medic node"));
    assert_non_null(strstr(r.out, "check-config"));
    free_result(&r);
    r = run_medic((const char *[]){ "frobnicate", NULL });
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "unknown command"));
    free_result(&r);
}

static void test_check_config_names_the_field(void **state)
{
    (void)state;
    char *path = write_temp("{\"services\":[{\"name\":\"a\",\"url\":\"http://127.0.0.1:1/\"},"
                            "{\"name\":\"b\",\"url\":\"http://127.0.0.1:1/\",\"interval_ms\":-5}]}");
    run_result r = run_medic((const char *[]){ "check-config", path, NULL });
    unlink(path);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "services[1].interval_ms"));
    free_result(&r);

    r = run_medic((const char *[]){ "check-config", "/nonexistent/medic.json", NULL });
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "/nonexistent/medic.json"));
    free_result(&r);

    /* A node refuses a bad config the same way, before doing anything. */
    path = write_temp("{\"services\":[], \"bogus\": 1}");
    r = run_medic((const char *[]){ "node", "--config", path, NULL });
    unlink(path);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "bogus"));
    free_result(&r);
}

static void test_check_config_masks_secrets(void **state)
{
    (void)state;
    setenv("MEDIC_IT_TOKEN", "s3cr3t-value-42", 1);
    char *path = write_temp("{\"services\":[{\"name\":\"a\",\"url\":\"http://127.0.0.1:1/?k=${MEDIC_IT_TOKEN}\","
                            "\"headers\":{\"Authorization\":\"Bearer ${MEDIC_IT_TOKEN}\"}}]}");
    run_result r = run_medic((const char *[]){ "check-config", path, NULL });
    unlink(path);
    assert_int_equal(r.code, 0);
    assert_null(strstr(r.out, "s3cr3t-value-42"));
    assert_null(strstr(r.err, "s3cr3t-value-42"));
    assert_non_null(strstr(r.out, "***"));
    cJSON *doc = cJSON_Parse(r.out);
    assert_non_null(doc);
    const cJSON *svc = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "services"), 0);
    assert_int_equal(cJSON_GetObjectItem(svc, "interval_ms")->valueint, 10000); /* the seed's default */
    assert_int_equal(cJSON_GetObjectItem(svc, "timeout_ms")->valueint, 5000);
    assert_int_equal(cJSON_GetObjectItem(svc, "failures_before_down")->valueint, 2);
    cJSON_Delete(doc);
    free_result(&r);
    unsetenv("MEDIC_IT_TOKEN");
}

static const char node_cfg_fmt[] =
    "{\"node\":{\"id\":\"cli\"},\"api\":{\"listen\":\"127.0.0.1:@API@\"},\"status_print_interval_ms\":%d,"
    "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":100,"
    "\"timeout_ms\":50}]}";

static void test_status_table_and_json(void **state)
{
    (void)state;
    it_flaky f;
    it_node n;
    assert_int_equal(it_flaky_start(&f), 0);
    char cfg[1024];
    snprintf(cfg, sizeof cfg, node_cfg_fmt, 300, f.port);
    assert_int_equal(it_node_start(&n, cfg, NULL), 0);
    assert_true(it_wait_state(&n, "web", "UP", 5000) > 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", n.api_port);

    run_result r = run_medic((const char *[]){ "status", "--node", url, NULL });
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "SERVICE"));
    assert_non_null(strstr(r.out, "web"));
    assert_non_null(strstr(r.out, "UP"));
    free_result(&r);

    r = run_medic((const char *[]){ "status", "--node", url, "--json", NULL });
    assert_int_equal(r.code, 0);
    cJSON *doc = cJSON_Parse(r.out);
    assert_non_null(doc);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "services"), 0), "name")->valuestring, "web");
    cJSON_Delete(doc);
    free_result(&r);

    /* medic health: the container health check (exit 0 while /v1/health answers 200) */
    r = run_medic((const char *[]){ "health", "--node", url, NULL });
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "\"status\":\"ok\""));
    free_result(&r);

    /* The status block is printed every status_print_interval_ms (300 ms here). */
    int64_t deadline = it_wall_ms() + 5000;
    char *out = NULL;
    while (it_wall_ms() < deadline) {
        free(out);
        out = it_node_stdout(&n);
        if (strstr(out, "Checks:"))
            break;
        it_sleep_ms(50);
    }
    assert_non_null(strstr(out, "MEDIC STATUS"));
    assert_non_null(strstr(out, "web"));
    assert_non_null(strstr(out, "Uptime:"));
    assert_non_null(strstr(out, "Last success:"));
    free(out);

    int status = 0;
    int64_t took = 0;
    assert_int_equal(it_node_stop(&n, SIGTERM, 3000, &status, &took), 0);
    printf("  SIGTERM: node exited %d in %lld ms\n", WEXITSTATUS(status), (long long)took);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(took < 1000);

    r = run_medic((const char *[]){ "status", "--node", url, NULL });
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "cannot reach"));
    free_result(&r);
    r = run_medic((const char *[]){ "health", "--node", url, NULL });
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "cannot reach"));
    free_result(&r);
    it_flaky_stop(&f);
}

static void test_medic_config_env_json_logs_and_sigint(void **state)
{
    (void)state;
    it_flaky f;
    assert_int_equal(it_flaky_start(&f), 0);
    /* Port chosen by hand: MEDIC_CONFIG has no @API@ substitution. */
    int port = md_free_port();
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"node\":{\"id\":\"envnode\"},\"api\":{\"listen\":\"127.0.0.1:%d\"},\"status_print_interval_ms\":0,"
             "\"services\":[{\"name\":\"web\",\"url\":\"http://127.0.0.1:%d/health\",\"interval_ms\":100,"
             "\"timeout_ms\":50}]}",
             port, f.port);
    setenv("MEDIC_CONFIG", cfg, 1);
    char err[] = "/tmp/medic-cli-log-XXXXXX";
    close(mkstemp(err));
    md_proc p;
    char *argv[] = { MEDIC_BIN, "node", "--log-format", "json", NULL };
    assert_int_equal(md_proc_spawn(argv, false, "/dev/null", err, &p), 0);
    unsetenv("MEDIC_CONFIG");
    int64_t deadline = it_wall_ms() + 5000;
    long code = 0;
    while (it_wall_ms() < deadline) {
        char *b = it_get(port, "/v1/health", &code);
        free(b);
        if (b && code == 200)
            break;
        it_sleep_ms(20);
    }
    assert_int_equal(code, 200);
    int status = 0;
    int64_t t0 = it_wall_ms();
    assert_int_equal(md_proc_stop(&p, SIGINT, 3000, &status), 0);
    int64_t took = it_wall_ms() - t0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(took < 1000);

    char *log = slurp(err);
    unlink(err);
    int lines = 0;
    bool saw_start = false;
    for (char *save = NULL, *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *doc = cJSON_Parse(line);
        if (!doc)
            fail_msg("not a JSON log line: %s", line);
        const cJSON *ev = cJSON_GetObjectItem(doc, "event");
        assert_true(cJSON_IsString(ev));
        assert_true(cJSON_IsString(cJSON_GetObjectItem(doc, "level")));
        if (strcmp(ev->valuestring, "node_started") == 0)
            saw_start = true;
        cJSON_Delete(doc);
        lines++;
    }
    free(log);
    assert_true(lines >= 2);
    assert_true(saw_start);
    it_flaky_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_help),
        cmocka_unit_test(test_check_config_names_the_field),
        cmocka_unit_test(test_check_config_masks_secrets),
        cmocka_unit_test(test_status_table_and_json),
        cmocka_unit_test(test_medic_config_env_json_logs_and_sigint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
