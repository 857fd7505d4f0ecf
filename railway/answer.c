/* answer.c: turns one HTTP exchange with backboard into a class (retry or not, safe to resend a
 * mutation or not) and a one-line summary, and reads the schema's shapes out of the data.
 * Pure: no curl, no clock, no allocation beyond cJSON's. Everything here reads bytes from the
 * network, so nothing is trusted and nothing asserts on content; the fuzz target drives it. */
#include "rw_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MSG_MAX 200 /* of one server message quoted in a summary */

static bool has_ci(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle) != NULL;
}

static bool json_ctype(const char *ctype)
{
    /* application/json, application/graphql-response+json, ...; absent: try to parse anyway */
    return !ctype || !*ctype || has_ci(ctype, "json");
}

/* The <title> of an HTML page (Cloudflare's "Access denied | ..."), else its first bytes. */
static void html_gist(char *dst, size_t cap, const char *body, size_t len)
{
    const char *b = body, *end = body + len;
    for (const char *p = b; p + 7 <= end; p++) {
        if (strncasecmp(p, "<title>", 7) != 0)
            continue;
        const char *t = p + 7, *q = t;
        while (q + 8 <= end && strncasecmp(q, "</title>", 8) != 0)
            q++;
        rw__clean_text(dst, cap, t, (size_t)((q + 8 <= end ? q : end) - t));
        return;
    }
    rw__clean_text(dst, cap, body, len < 80 ? len : 80);
}

static bool auth_message(const char *m)
{
    return has_ci(m, "Not Authorized") || has_ci(m, "Project Token not found") ||
           has_ci(m, "Two Factor Authentication Required") || has_ci(m, "Unauthorized") ||
           has_ci(m, "invalid token");
}

/* Classifies a GraphQL errors[] array (the answer's first error decides, as the CLI does, but
 * any auth message among them wins: a token problem must never be retried). */
static void graphql_errors(rw__answer *a, const cJSON *errs, long http)
{
    const cJSON *first = cJSON_GetArrayItem(errs, 0);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(first, "message");
    const char *m = cJSON_IsString(msg) ? msg->valuestring : "(no message)";
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(first, "extensions");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(ext, "code");
    const char *cs = cJSON_IsString(code) ? code->valuestring : "";
    bool auth = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, errs)
    {
        const cJSON *em = cJSON_GetObjectItemCaseSensitive(e, "message");
        if (cJSON_IsString(em) && auth_message(em->valuestring)) {
            auth = true;
            m = em->valuestring;
        }
    }
    char clean[MSG_MAX];
    rw__clean_text(clean, sizeof clean, m, strlen(m));
    if (auth || http == 401 || http == 403 || strcmp(cs, "UNAUTHENTICATED") == 0 || strcmp(cs, "FORBIDDEN") == 0) {
        a->cls = RW_ERR_AUTH;
    } else if (http == 429 || strcmp(cs, "RATE_LIMITED") == 0 || has_ci(m, "rate limit")) {
        a->cls = RW_ERR_RATE_LIMIT;
        a->retryable = a->not_executed = true;
    } else if (http >= 500 || strcmp(cs, "INTERNAL_SERVER_ERROR") == 0) {
        a->cls = RW_ERR_SERVER;
        a->retryable = true;
    } else {
        a->cls = RW_ERR_GRAPHQL; /* parse, validation, bad input, not found: resending won't help */
    }
    snprintf(a->summary, sizeof a->summary, "HTTP %ld, GraphQL error%s%s%s: %s", http, *cs ? " (" : "", cs,
             *cs ? ")" : "", clean);
}

static void transport_failure(rw__answer *a, rw__transport tr, const char *detail)
{
    char d[MSG_MAX];
    rw__clean_text(d, sizeof d, detail ? detail : "", detail ? strlen(detail) : 0);
    a->retryable = true;
    a->cls = tr == RW_TR_TIMEOUT ? RW_ERR_TIMEOUT : RW_ERR_NETWORK;
    a->not_executed = tr == RW_TR_CONNECT;
    snprintf(a->summary, sizeof a->summary, "%s%s%s",
             tr == RW_TR_TIMEOUT   ? "request timed out"
             : tr == RW_TR_CONNECT ? "could not reach the API"
                                   : "connection failed mid-request",
             *d ? ": " : "", d);
}

void rw__classify(rw__answer *a, rw__transport tr, const char *detail, long http, const char *ctype,
                  const char *body, size_t len, long retry_after_s)
{
    memset(a, 0, sizeof *a);
    if (tr != RW_TR_OK) {
        transport_failure(a, tr, detail);
        return;
    }
    if (!body)
        len = 0;
    if (http == 429) {
        /* Checked before parsing, as the CLI does: the body of a 429 is not to be relied on. */
        a->cls = RW_ERR_RATE_LIMIT;
        a->retryable = a->not_executed = true;
        if (retry_after_s > 0)
            a->retry_after_ms = (uint64_t)(retry_after_s > 86400 ? 86400 : retry_after_s) * 1000u;
        if (retry_after_s >= 0)
            snprintf(a->summary, sizeof a->summary, "HTTP 429 rate limited, Retry-After %lds", retry_after_s);
        else
            snprintf(a->summary, sizeof a->summary, "HTTP 429 rate limited, no Retry-After");
        return;
    }
    if (http >= 300 && http < 400) {
        a->cls = RW_ERR_BAD_ANSWER; /* a redirect would not carry the POST (railway.app answers 301) */
        snprintf(a->summary, sizeof a->summary, "HTTP %ld: redirected; is the endpoint backboard.railway.com?", http);
        return;
    }
    cJSON *root = json_ctype(ctype) && len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        char gist[MSG_MAX];
        html_gist(gist, sizeof gist, body ? body : "", len);
        a->cls = http >= 500 ? RW_ERR_SERVER : http == 401 ? RW_ERR_AUTH : RW_ERR_NOT_JSON;
        a->retryable = a->cls != RW_ERR_AUTH;
        /* A proxy (Cloudflare) that refuses with 403/429/503 never passed the request on. */
        a->not_executed = http == 403 || http == 503;
        snprintf(a->summary, sizeof a->summary, "HTTP %ld, not a JSON answer (%s): %s", http,
                 ctype && *ctype ? ctype : "no content type", gist);
        return;
    }
    a->root = root;
    const cJSON *errs = cJSON_GetObjectItemCaseSensitive(root, "errors");
    if (cJSON_IsArray(errs) && cJSON_GetArraySize(errs) > 0) {
        graphql_errors(a, errs, http);
        return;
    }
    if (http >= 500) {
        a->cls = RW_ERR_SERVER;
        a->retryable = true;
        snprintf(a->summary, sizeof a->summary, "HTTP %ld from the API", http);
        return;
    }
    if (http == 401 || http == 403) {
        a->cls = RW_ERR_AUTH;
        snprintf(a->summary, sizeof a->summary, "HTTP %ld: token rejected", http);
        return;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (http != 200 || !cJSON_IsObject(data)) {
        a->cls = RW_ERR_BAD_ANSWER;
        snprintf(a->summary, sizeof a->summary, "HTTP %ld, answer without a data object", http);
        return;
    }
    a->cls = RW_OK;
    a->data = data;
    snprintf(a->summary, sizeof a->summary, "HTTP 200");
}

void rw__answer_free(rw__answer *a)
{
    if (!a)
        return;
    cJSON_Delete(a->root);
    a->root = NULL;
    a->data = NULL;
}

/* ---- extractors ---- */

static int bad(char *err, size_t errlen, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "unexpected answer shape: %s", what);
    return -EBADMSG;
}

static int get_bool(const cJSON *obj, const char *k, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, k);
    if (!cJSON_IsBool(v))
        return -1;
    *out = cJSON_IsTrue(v);
    return 0;
}

int rw__parse_deployment(const cJSON *obj, rw_deployment *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(obj))
        return bad(err, errlen, "deployment is not an object");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (!cJSON_IsString(id) || !rw__valid_id(id->valuestring))
        return bad(err, errlen, "deployment.id missing or malformed");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
    if (!cJSON_IsString(st))
        return bad(err, errlen, "deployment.status missing");
    if (get_bool(obj, "canRedeploy", &out->can_redeploy) || get_bool(obj, "canRollback", &out->can_rollback))
        return bad(err, errlen, "deployment.canRedeploy/canRollback not Boolean");
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(obj, "createdAt");
    if (!cJSON_IsString(ca))
        return bad(err, errlen, "deployment.createdAt missing");
    snprintf(out->id, sizeof out->id, "%s", id->valuestring);
    /* A status added after this client was written is kept as UNKNOWN, not rejected. */
    out->status = rw_status_parse(st->valuestring);
    rw__clean_text(out->created_at, sizeof out->created_at, ca->valuestring, strlen(ca->valuestring));
    if (rw__parse_time_ms(ca->valuestring, &out->created_ms))
        out->created_ms = 0;
    /* statusUpdatedAt is nullable in the schema; for a SUCCESS deployment it is when it went live
     * (or came back from CRASHED after a restart). A missing one leaves "live since" unknown (0),
     * which known-good tracking treats as not yet live long enough. */
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(obj, "statusUpdatedAt");
    if (su && !cJSON_IsNull(su) && !cJSON_IsString(su))
        return bad(err, errlen, "deployment.statusUpdatedAt not a DateTime");
    int64_t t = 0;
    if (out->status == RW_ST_SUCCESS && cJSON_IsString(su) && rw__parse_time_ms(su->valuestring, &t) == 0 && t > 0)
        out->live_since_ms = t;
    return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's days_from_civil. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int rw__parse_time_ms(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, se, ms = 0;
    if (!s || strlen(s) < 19 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -EINVAL;
    const char *p = s + 19;
    if (*p == '.') {
        int scale = 100;
        for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
            ms += scale > 0 ? (*p - '0') * scale : 0;
    }
    int64_t off_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        off_min = (*p == '-' ? -1 : 1) * (oh * 60 + om);
        p += 6;
    } else {
        return -EINVAL; /* a DateTime without a zone is not what the schema sends */
    }
    if (*p)
        return -EINVAL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off_min * 60;
    *out = secs * 1000 + ms;
    return 0;
}

int rw__parse_instance(const cJSON *data, rw_deployment *latest, bool *has_latest, rw_deployment *active,
                       size_t cap, size_t *n_active, char *err, size_t errlen)
{
    *has_latest = false;
    *n_active = 0;
    const cJSON *si = cJSON_GetObjectItemCaseSensitive(data, "serviceInstance");
    if (!cJSON_IsObject(si))
        return bad(err, errlen, "serviceInstance is not an object");
    const cJSON *ld = cJSON_GetObjectItemCaseSensitive(si, "latestDeployment");
    if (!ld)
        return bad(err, errlen, "serviceInstance.latestDeployment missing");
    if (!cJSON_IsNull(ld)) {
        int e = rw__parse_deployment(ld, latest, err, errlen);
        if (e)
            return e;
        *has_latest = true;
    }
    const cJSON *ad = cJSON_GetObjectItemCaseSensitive(si, "activeDeployments");
    if (!cJSON_IsArray(ad))
        return bad(err, errlen, "serviceInstance.activeDeployments is not a list");
    const cJSON *d;
    cJSON_ArrayForEach(d, ad)
    {
        if (*n_active >= cap)
            break;
        int e = rw__parse_deployment(d, &active[*n_active], err, errlen);
        if (e)
            return e;
        (*n_active)++;
    }
    return 0;
}

int rw__parse_list(const cJSON *data, rw_deployment *deps, size_t cap, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    const cJSON *conn = cJSON_GetObjectItemCaseSensitive(data, "deployments");
    const cJSON *edges = cJSON_GetObjectItemCaseSensitive(conn, "edges");
    if (!cJSON_IsObject(conn) || !cJSON_IsArray(edges))
        return bad(err, errlen, "deployments.edges is not a list");
    const cJSON *e;
    cJSON_ArrayForEach(e, edges)
    {
        if (*n >= cap)
            break;
        int r = rw__parse_deployment(cJSON_GetObjectItemCaseSensitive(e, "node"), &deps[*n], err, errlen);
        if (r)
            return r;
        (*n)++;
    }
    return 0;
}

int rw__parse_bool(const cJSON *data, const char *field, bool *out, char *err, size_t errlen)
{
    if (get_bool(data, field, out))
        return bad(err, errlen, "the mutation did not return a Boolean");
    return 0;
}

static bool get_id(const cJSON *obj, const char *k, char dst[RW_ID_MAX])
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, k);
    if (!cJSON_IsString(v) || !rw__valid_id(v->valuestring))
        return false;
    snprintf(dst, RW_ID_MAX, "%s", v->valuestring);
    return true;
}

int rw__parse_project_token(const cJSON *data, rw_token_info *t, char *err, size_t errlen)
{
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(data, "projectToken");
    if (!cJSON_IsObject(pt) || !get_id(pt, "projectId", t->project_id) ||
        !get_id(pt, "environmentId", t->environment_id))
        return bad(err, errlen, "projectToken without projectId and environmentId");
    t->scope = RW_SCOPE_PROJECT;
    return 0;
}

int rw__parse_api_token(const cJSON *data, rw_token_info *t, char *err, size_t errlen)
{
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(data, "apiToken"), "workspaces");
    if (!cJSON_IsArray(ws))
        return bad(err, errlen, "apiToken.workspaces is not a list");
    t->n_workspaces = t->n_workspaces_total = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, ws)
    {
        if (t->n_workspaces < RW_WORKSPACES_MAX) {
            if (!get_id(w, "id", t->workspace_ids[t->n_workspaces]))
                return bad(err, errlen, "apiToken.workspaces[].id missing or malformed");
            t->n_workspaces++;
        }
        t->n_workspaces_total++;
    }
    return 0;
}

int rw__parse_me(const cJSON *data, char *err, size_t errlen)
{
    char id[RW_ID_MAX];
    if (!get_id(cJSON_GetObjectItemCaseSensitive(data, "me"), "id", id))
        return bad(err, errlen, "me.id missing or malformed");
    return 0;
}
