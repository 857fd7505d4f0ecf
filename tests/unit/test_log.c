/* test_log.c: event lines: key=value quoting, JSON validity (escapes, truncation), levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "base/base.h"

static char *capture(int json, md_log_level min, void (*emit)(void))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    md_log_setup(json, min, f);
    emit();
    fclose(f);
    md_log_setup(0, MD_LOG_INFO, NULL);
    return buf;
}

static void emit_change(void)
{
    md_log(MD_LOG_WARN, "state_change", MD_S("service", "api"), MD_S("cause", "2 failures (last: \"connect\")"),
           MD_I("failures", 2), MD_D("latency_ms", 12.5));
}

static void test_text_line(void **state)
{
    (void)state;
    char *line = capture(0, MD_LOG_INFO, emit_change);
    assert_non_null(strstr(line, " level=warn event=state_change service=api "));
    assert_non_null(strstr(line, "cause=\"2 failures (last: \\\"connect\\\")\""));
    assert_non_null(strstr(line, "failures=2 latency_ms=12.500\n"));
    assert_int_equal(line[strlen(line) - 1], '\n');
    assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1); /* exactly one line */
    free(line);
}

static void test_json_line(void **state)
{
    (void)state;
    char *line = capture(1, MD_LOG_INFO, emit_change);
    cJSON *doc = cJSON_Parse(line);
    assert_non_null(doc);
    assert_string_equal(cJSON_GetObjectItem(doc, "level")->valuestring, "warn");
    assert_string_equal(cJSON_GetObjectItem(doc, "event")->valuestring, "state_change");
    assert_string_equal(cJSON_GetObjectItem(doc, "cause")->valuestring, "2 failures (last: \"connect\")");
    assert_int_equal(cJSON_GetObjectItem(doc, "failures")->valueint, 2);
    assert_true(cJSON_GetObjectItem(doc, "latency_ms")->valuedouble == 12.5);
    cJSON_Delete(doc);
    free(line);
}

static void emit_debug(void) { md_log(MD_LOG_DEBUG, "check", MD_S("service", "api")); }

static void test_level_filter(void **state)
{
    (void)state;
    char *line = capture(0, MD_LOG_INFO, emit_debug);
    assert_int_equal(strlen(line), 0);
    free(line);
    line = capture(0, MD_LOG_DEBUG, emit_debug);
    assert_non_null(strstr(line, "level=debug"));
    free(line);
    assert_int_equal(md_log_level_parse("warn"), MD_LOG_WARN);
    assert_int_equal(md_log_level_parse("loud"), -1);
}

static void emit_huge(void)
{
    static char big[5000];
    memset(big, '"', sizeof big - 1);
    md_log(MD_LOG_ERROR, "huge", MD_S("value", big));
}

static void test_huge_values_stay_one_valid_line(void **state)
{
    (void)state;
    char *line = capture(1, MD_LOG_INFO, emit_huge);
    cJSON *doc = cJSON_Parse(line);
    assert_non_null(doc);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(doc, "truncated")));
    cJSON_Delete(doc);
    assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
    free(line);
    line = capture(0, MD_LOG_INFO, emit_huge);
    assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
    assert_non_null(strstr(line, " ...\n"));
    free(line);
}

static void test_time_format(void **state)
{
    (void)state;
    char ts[40];
    md_format_time_ms(1798457249123LL, ts, sizeof ts);
    assert_string_equal(ts, "2026-12-28T11:27:29.123Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_line),
        cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_huge_values_stay_one_valid_line),
        cmocka_unit_test(test_time_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
