/* log.c: event lines as key=value text or JSON, one write per line so lines never interleave. */
#include "base.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


static int log_json;
static md_log_level log_min = MD_LOG_INFO;
static FILE *log_out;

static const char *level_name(md_log_level l)
{
    switch (l) {
    case MD_LOG_DEBUG: return "debug";
    case MD_LOG_INFO: return "info";
    case MD_LOG_WARN: return "warn";
    default: return "error";
    }
}

void md_log_setup(int json, md_log_level min, FILE *out)
{
    log_json = json;
    log_min = min;
    log_out = out;
}

int md_log_level_parse(const char *s)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void md_format_time_ms(int64_t wall_ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* strftime for the fields whose range the compiler cannot see (gcc -O3 warns that a
     * snprintf of struct tm's ints may be cut short), then the milliseconds, 0..999. */
    size_t n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0) {
        if (outlen > 0)
            out[0] = '\0';
        return;
    }
    unsigned ms = (unsigned)(((wall_ms % 1000) + 1000) % 1000);
    snprintf(out + n, outlen - n, ".%03uZ", ms);
}

/* A line buffer that never overflows: appends are cut at the end, and the cut is marked. */
typedef struct {
    char b[2048];
    size_t n;
    bool cut;
} line_buf;

static void put(line_buf *lb, const char *s, size_t len)
{
    size_t room = sizeof(lb->b) - 1 - lb->n;
    if (len > room) {
        len = room;
        lb->cut = true;
    }
    memcpy(lb->b + lb->n, s, len);
    lb->n += len;
}

static void puts_(line_buf *lb, const char *s) { put(lb, s, strlen(s)); }

static void putc_(line_buf *lb, char c) { put(lb, &c, 1); }

/* Text values are quoted when they hold blanks, quotes or '=' so that lines split unambiguously. */
static void put_text_value(line_buf *lb, const char *v)
{
    bool quote = *v == '\0' || strpbrk(v, " \t\"=\n\r\\") != NULL;
    if (!quote) {
        puts_(lb, v);
        return;
    }
    putc_(lb, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') {
            putc_(lb, '\\');
            putc_(lb, *p);
        } else if (*p == '\n') {
            puts_(lb, "\\n");
        } else if (*p == '\r') {
            puts_(lb, "\\r");
        } else {
            putc_(lb, *p);
        }
    }
    putc_(lb, '"');
}

static void put_json_string(line_buf *lb, const char *v)
{
    putc_(lb, '"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': puts_(lb, "\\\""); break;
        case '\\': puts_(lb, "\\\\"); break;
        case '\n': puts_(lb, "\\n"); break;
        case '\r': puts_(lb, "\\r"); break;
        case '\t': puts_(lb, "\\t"); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                puts_(lb, esc);
            } else {
                putc_(lb, (char)*p);
            }
        }
    }
    putc_(lb, '"');
}

static void format_number(const md_kv *kv, char *num, size_t len)
{
    if (kv->type == MD_KV_INT)
        snprintf(num, len, "%lld", kv->i);
    else
        snprintf(num, len, "%.3f", kv->d);
}

bool md_log_enabled(md_log_level lvl)
{
    return lvl >= log_min;
}

void md_log_kv(md_log_level lvl, const char *event, const md_kv *kv)
{
    if (lvl < log_min)
        return;
    FILE *out = log_out ? log_out : stderr;
    char ts[40];
    md_format_time_ms(md_wall_ms(), ts, sizeof ts);
    line_buf lb = { .n = 0 };

    if (log_json) {
        puts_(&lb, "{\"ts\":\"");
        puts_(&lb, ts);
        puts_(&lb, "\",\"level\":\"");
        puts_(&lb, level_name(lvl));
        puts_(&lb, "\",\"event\":");
        put_json_string(&lb, event);
    } else {
        puts_(&lb, ts);
        puts_(&lb, " level=");
        puts_(&lb, level_name(lvl));
        puts_(&lb, " event=");
        put_text_value(&lb, event);
    }
    size_t head_n = lb.n;
    for (; kv && kv->type != MD_KV_END; kv++) {
        char num[64];
        if (log_json) {
            putc_(&lb, ',');
            put_json_string(&lb, kv->k);
            putc_(&lb, ':');
            if (kv->type == MD_KV_STR) {
                put_json_string(&lb, kv->s ? kv->s : "");
            } else {
                format_number(kv, num, sizeof num);
                puts_(&lb, num);
            }
        } else {
            putc_(&lb, ' ');
            puts_(&lb, kv->k);
            putc_(&lb, '=');
            if (kv->type == MD_KV_STR) {
                put_text_value(&lb, kv->s ? kv->s : "");
            } else {
                format_number(kv, num, sizeof num);
                puts_(&lb, num);
            }
        }
    }
    if (log_json) {
        if (lb.cut) {
            /* A cut may fall inside a string or an escape: drop the fields, keep valid JSON. */
            lb.n = head_n;
            lb.cut = false;
            puts_(&lb, ",\"truncated\":true");
        }
        puts_(&lb, "}");
    } else if (lb.cut) {
        lb.n = sizeof(lb.b) - 8;
        lb.cut = false;
        puts_(&lb, " ...");
    }
    putc_(&lb, '\n');
    fwrite(lb.b, 1, lb.n, out);
    fflush(out);
}
