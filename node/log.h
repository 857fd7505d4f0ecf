/* log.h: one line per event, key=value text or JSON lines, with a level. Loop thread only. */
#ifndef MD_LOG_H
#define MD_LOG_H

#include <stdint.h>
#include <stdio.h>

typedef enum { MD_LOG_DEBUG = 0, MD_LOG_INFO, MD_LOG_WARN, MD_LOG_ERROR } md_log_level;

typedef enum { MD_KV_END = 0, MD_KV_STR, MD_KV_INT, MD_KV_DBL } md_kv_type;

typedef struct {
    const char *k;
    md_kv_type type;
    const char *s;
    long long i;
    double d;
} md_kv;

#define MD_S(key, val) ((md_kv){ .k = (key), .type = MD_KV_STR, .s = (val) })
#define MD_I(key, val) ((md_kv){ .k = (key), .type = MD_KV_INT, .i = (long long)(val) })
#define MD_D(key, val) ((md_kv){ .k = (key), .type = MD_KV_DBL, .d = (double)(val) })

/* md_log_setup: json selects JSON lines; lines below min are dropped; out defaults to stderr. */
void md_log_setup(int json, md_log_level min, FILE *out);

/* md_log_kv writes one event line: time, level, event, then the fields up to MD_KV_END.
 * Values are written as given: callers mask secrets before logging. */
void md_log_kv(md_log_level lvl, const char *event, const md_kv *kv);

#define md_log(lvl, event, ...) md_log_kv((lvl), (event), (const md_kv[]){ __VA_ARGS__, { .type = MD_KV_END } })
#define md_log0(lvl, event) md_log_kv((lvl), (event), (const md_kv[]){ { .type = MD_KV_END } })

/* md_log_level_parse maps "debug", "info", "warn", "error"; returns -1 for anything else. */
int md_log_level_parse(const char *s);

/* md_format_time_ms writes wall ms as RFC 3339 UTC with milliseconds ("2026-11-29T11:27:29.123Z"). */
void md_format_time_ms(int64_t wall_ms, char *out, size_t outlen);

#endif
