/* report.c: the measurements of a scenario's runs: median and p95 (nearest rank) of each time,
 * a row of the printed table, the markdown table and the JSON file in the results directory. */
#include "chaos.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { F_DOWN, F_QUORUM, F_ACTION, F_RECOVERED, F_FAILOVER, F_COUNT };
static const char *const field_names[F_COUNT] = { "first_down_ms", "quorum_down_ms", "first_action_ms", "recovered_ms",
                                                  "failover_ms" };

static int64_t field(const ch_result *r, int f)
{
    switch (f) {
    case F_DOWN: return r->first_down;
    case F_QUORUM: return r->quorum_down;
    case F_ACTION: return r->first_action;
    case F_RECOVERED: return r->recovered;
    default: return r->failover;
    }
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Median and p95 (nearest rank) of the runs that saw the moment; false when none did. */
static bool stats(const ch_row *row, int f, int64_t *med, int64_t *p95)
{
    int64_t v[64];
    int n = 0;
    for (int k = 0; k < row->runs; k++)
        if (field(&row->res[k], f) >= 0)
            v[n++] = field(&row->res[k], f);
    if (!n)
        return false;
    qsort(v, (size_t)n, sizeof v[0], cmp64);
    *med = v[(n - 1) / 2];
    int rank = (95 * n + 99) / 100;
    *p95 = v[rank > 0 ? rank - 1 : 0];
    return true;
}

static void cell(const ch_row *row, int f, char *out, size_t len)
{
    int64_t med, p95;
    if (!stats(row, f, &med, &p95))
        snprintf(out, len, "-");
    else if (row->runs == 1)
        snprintf(out, len, "%lld", (long long)med);
    else
        snprintf(out, len, "%lld / %lld", (long long)med, (long long)p95);
}

static void actions_cell(const ch_row *row, char *out, size_t len)
{
    int lo = 1 << 30, hi = 0;
    for (int k = 0; k < row->runs; k++) {
        lo = row->res[k].actions < lo ? row->res[k].actions : lo;
        hi = row->res[k].actions > hi ? row->res[k].actions : hi;
    }
    /* A cell is short; a run count that does not fit is cut, which the -O3 build wants said. */
    int n = lo == hi ? snprintf(out, len, "%d", lo) : snprintf(out, len, "%d-%d", lo, hi);
    if (n < 0 || (size_t)n >= len)
        snprintf(out, len, "many");
}

void ch_row_print_header(void)
{
    printf("%-14s %5s %6s %13s %13s %13s %13s %13s %7s\n", "scenario", "nodes", "pass", "first DOWN", "quorum DOWN",
           "first action", "recovered", "failover", "actions");
}

void ch_row_print(const ch_row *row)
{
    char c[F_COUNT][32], pass[16], act[16];
    for (int f = 0; f < F_COUNT; f++)
        cell(row, f, c[f], sizeof c[f]);
    actions_cell(row, act, sizeof act);
    snprintf(pass, sizeof pass, "%d/%d", row->passed, row->runs);
    printf("%-14s %5d %6s %13s %13s %13s %13s %13s %7s\n", row->name, row->nodes, pass, c[F_DOWN], c[F_QUORUM],
           c[F_ACTION], c[F_RECOVERED], c[F_FAILOVER], act);
    for (int k = 0; k < row->runs; k++)
        if (!row->res[k].pass)
            printf("  run %d failed: %s\n", k + 1, row->res[k].why);
    fflush(stdout);
}

cJSON *ch_row_json(const ch_row *row)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "scenario", row->name);
    cJSON_AddStringToObject(o, "proves", row->proves);
    cJSON_AddNumberToObject(o, "nodes", row->nodes);
    cJSON_AddNumberToObject(o, "runs", row->runs);
    cJSON_AddNumberToObject(o, "passed", row->passed);
    for (int f = 0; f < F_COUNT; f++) {
        int64_t med, p95;
        cJSON *s = cJSON_AddObjectToObject(o, field_names[f]);
        if (stats(row, f, &med, &p95)) {
            cJSON_AddNumberToObject(s, "median", (double)med);
            cJSON_AddNumberToObject(s, "p95", (double)p95);
        }
    }
    cJSON *runs = cJSON_AddArrayToObject(o, "each_run");
    for (int k = 0; k < row->runs; k++) {
        const ch_result *r = &row->res[k];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddBoolToObject(e, "pass", r->pass);
        if (!r->pass)
            cJSON_AddStringToObject(e, "why", r->why);
        for (int f = 0; f < F_COUNT; f++)
            if (field(r, f) >= 0)
                cJSON_AddNumberToObject(e, field_names[f], (double)field(r, f));
        cJSON_AddNumberToObject(e, "actions", r->actions);
        cJSON_AddItemToArray(runs, e);
    }
    return o;
}

/* ch_report_write writes results-<time>.md and .json under dir (created). */
int ch_report_write(const char *dir, const ch_row *rows, int nrows, const ch_timing *tm, char *md_path, size_t len)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    char stamp[32], json_path[PATH_MAX + 64];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", gmtime(&now));
    snprintf(md_path, len, "%s/chaos-%s.md", dir, stamp);
    snprintf(json_path, sizeof json_path, "%s/chaos-%s.json", dir, stamp);
    FILE *f = fopen(md_path, "w");
    if (!f)
        return -errno;
    fprintf(f, "Times in ms from the fault, median / p95 over the runs (one number for one run).\n");
    fprintf(f, "Timings: checks every %d ms (timeout %d ms), DOWN after %d failures, heartbeat %d ms, election "
               "timeout %d ms, one-way delays %d/%d/%d ms between the regions (jitter %d ms).\n\n",
            tm->interval_ms, tm->timeout_ms, tm->failures, tm->heartbeat_ms, tm->election_ms, tm->delay_ms[0],
            tm->delay_ms[1], tm->delay_ms[2], tm->jitter_ms);
    fprintf(f, "| scenario | nodes | passed | first DOWN | quorum DOWN | first action | recovered | failover | actions |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|---|\n");
    cJSON *all = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(all, "scenarios");
    cJSON_AddBoolToObject(all, "quick", tm->quick);
    for (int k = 0; k < nrows; k++) {
        char c[F_COUNT][32], act[16];
        for (int x = 0; x < F_COUNT; x++)
            cell(&rows[k], x, c[x], sizeof c[x]);
        actions_cell(&rows[k], act, sizeof act);
        fprintf(f, "| %s | %d | %d/%d | %s | %s | %s | %s | %s | %s |\n", rows[k].name, rows[k].nodes, rows[k].passed,
                rows[k].runs, c[F_DOWN], c[F_QUORUM], c[F_ACTION], c[F_RECOVERED], c[F_FAILOVER], act);
        cJSON_AddItemToArray(arr, ch_row_json(&rows[k]));
    }
    fclose(f);
    char *s = cJSON_Print(all);
    cJSON_Delete(all);
    FILE *j = fopen(json_path, "w");
    if (!j || !s || fputs(s, j) < 0) {
        free(s);
        if (j)
            fclose(j);
        return -EIO;
    }
    free(s);
    return fclose(j) == 0 ? 0 : -errno;
}
