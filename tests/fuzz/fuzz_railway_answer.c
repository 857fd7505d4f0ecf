/* fuzz_railway_answer.c: libFuzzer target for the Railway client's answer handling: the
 * classifier (status, content type, Retry-After, body) and every extractor over the data (the
 * token check's too), the rate-limit header parser over each line of the body, the DateTime
 * reader, the serving-deployment choice, plus token scrubbing of the summary. Input: byte 0
 * picks the HTTP status, byte 1 the content type and transport outcome, byte 2 the Retry-After;
 * the rest is the body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../railway/rw_int.h"

static const long statuses[] = {200, 200, 200, 400, 401, 403, 429, 500, 502, 503, 301, 404};
static const char *const ctypes[] = {"application/json", NULL, "text/html", "application/graphql-response+json"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    long http = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
    const char *ctype = ctypes[data[1] % 4];
    rw__transport tr = (data[1] >> 2) % 8 == 0 ? (rw__transport)((data[1] >> 5) % 4) : RW_TR_OK;
    long ra = data[2] == 255 ? -1 : data[2];
    /* The body as header lines (curl hands them over one by one, not NUL-terminated). */
    const char *body = (const char *)data + 3, *end = body + (size - 3);
    rw__rl_headers h = {0};
    for (const char *line = body; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) + 1 : (size_t)(end - line);
        rw__parse_rl_header(line, len, &h);
        line += len;
    }
    if ((h.has_limit && h.limit < 0) || (h.has_remaining && h.remaining < 0))
        __builtin_trap();
    if (h.has_reset && rw__reset_in_ms(h.reset, 1767225600000LL) > 86400000ull)
        __builtin_trap();
    char *z = malloc(size - 2);
    if (z) {
        memcpy(z, body, size - 3);
        z[size - 3] = '\0';
        int64_t t;
        rw__parse_time_ms(z, &t);
        free(z);
    }
    rw__answer a;
    rw__classify(&a, tr, "fuzz", http, ctype, body, size - 3, ra);
    if (strlen(a.summary) >= sizeof a.summary)
        __builtin_trap();
    rw__scrub(a.summary, sizeof a.summary, "Bearer");
    if (strstr(a.summary, "Bearer"))
        __builtin_trap();
    if (a.cls == RW_OK && a.data) {
        static rw_deployment deps[RW_LIST_MAX];
        rw_deployment latest;
        bool has, b;
        size_t n;
        char err[160];
        rw__parse_instance(a.data, &latest, &has, deps, RW_LIST_MAX, &n, err, sizeof err);
        rw__parse_list(a.data, deps, RW_LIST_MAX, &n, err, sizeof err);
        rw__parse_bool(a.data, "deploymentRestart", &b, err, sizeof err);
        rw__parse_deployment(cJSON_GetObjectItemCaseSensitive(a.data, "deploymentRedeploy"), &latest, err, sizeof err);
        if (latest.id[0] && !rw__valid_id(latest.id))
            __builtin_trap();
        if (rw__parse_instance(a.data, &latest, &has, deps, RW_LIST_MAX, &n, err, sizeof err) == 0) {
            const rw_deployment *sv = rw_serving_deployment(deps, n);
            if (sv && sv->status != RW_ST_SUCCESS && sv->status != RW_ST_SLEEPING)
                __builtin_trap();
        }
        rw_token_info t;
        memset(&t, 0, sizeof t);
        rw__parse_project_token(a.data, &t, err, sizeof err);
        rw__parse_api_token(a.data, &t, err, sizeof err);
        rw__parse_me(a.data, err, sizeof err);
        if (t.n_workspaces > RW_WORKSPACES_MAX || t.n_workspaces > t.n_workspaces_total)
            __builtin_trap();
    }
    rw__answer_free(&a);
    return 0;
}
