/* alert_bodies.c: the words and bodies of alerts: one human sentence per event, and the generic
 * JSON, Slack and Discord bodies around it. Pure (no I/O, no clock): the same alert always
 * renders the same bytes, which the tests rely on. */
#include "alerts.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/base.h"
#include "util.h"

#define DETAIL_LINE_MAX 200 /* of the detail, the sentence quotes the first line up to this */

const char *md_alert_event_name(md_alert_event e)
{
    static const char *const names[MD_ALERT_EVENT_COUNT] = {
        "incident_open", "step_intent", "step_result", "resolved", "exhausted", "split", "degraded", "rate_limited",
        "blocked",
    };
    return (unsigned)e < MD_ALERT_EVENT_COUNT ? names[e] : "unknown";
}

/* Copies in into out (cap bytes with the NUL), at most max bytes of it, as valid UTF-8 with
 * control bytes and invalid sequences replaced by '?'. With one_line, stops at the first line
 * break. Never cuts a character in two. Returns the length written. */
static size_t clean_text(const char *in, size_t max, bool one_line, char *out, size_t cap)
{
    assert(cap > 0);
    if (max > cap - 1)
        max = cap - 1;
    size_t n = ut_utf8_clean(out, max, in, in ? strlen(in) : 0, one_line ? UT_UTF8_ONE_LINE : 0);
    out[n] = '\0';
    return n;
}

/* A bounded sentence builder: appends are cut at the end of the buffer. */
typedef struct {
    char *b;
    size_t cap, n;
} sbuf;

static void add(sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(sbuf *sb, const char *fmt, ...)
{
    if (sb->n + 1 >= sb->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(sb->b + sb->n, sb->cap - sb->n, fmt, ap);
    va_end(ap);
    if (w > 0)
        sb->n += (size_t)w < sb->cap - sb->n ? (size_t)w : sb->cap - sb->n - 1;
}

static void fmt_duration(int64_t ms, char *out, size_t cap)
{
    if (ms < 60000)
        snprintf(out, cap, "%.1f s", (double)ms / 1000.0);
    else if (ms < 3600000)
        snprintf(out, cap, "%" PRId64 " min %" PRId64 " s", ms / 60000, (ms % 60000) / 1000);
    else
        snprintf(out, cap, "%" PRId64 " h %" PRId64 " min", ms / 3600000, (ms % 3600000) / 60000);
}

static const char *step_verb(const char *step)
{
    return step && strcmp(step, "rollback") == 0 ? "roll back" : (step ? step : "act");
}

/* "restart #2 of 3", "restart #2" or "restart". */
static void step_label(const md_alert *a, const char *step, char *out, size_t cap)
{
    if (a->attempt > 0 && a->attempts_max > 0)
        snprintf(out, cap, "%s #%d of %d", step, a->attempt, a->attempts_max);
    else if (a->attempt > 0)
        snprintf(out, cap, "%s #%d", step, a->attempt);
    else
        snprintf(out, cap, "%s", step);
}

static void text_step_result(sbuf *sb, const md_alert *a, const char *label, const char *line)
{
    char dur[48] = "";
    if (a->duration_ms >= 0)
        fmt_duration(a->duration_ms, dur, sizeof(dur));
    const char *o = a->outcome ? a->outcome : "";
    const char *after = a->duration_ms >= 0 ? " after " : "";
    if (strcmp(o, "ok") == 0)
        add(sb, "%s completed%s%s", label, after, dur);
    else if (strcmp(o, "failed") == 0)
        add(sb, "%s failed%s%s", label, after, dur);
    else if (strcmp(o, "timeout") == 0)
        add(sb, "%s timed out%s%s", label, after, dur);
    else if (strcmp(o, "unknown") == 0)
        add(sb, "%s has no result; counted as attempted", label); /* the detail says why */
    else if (strcmp(o, "not-attempted") == 0)
        add(sb, "%s was not attempted and does not count; the ladder stays on this step", label);
    else if (strcmp(o, "skipped") == 0) {
        add(sb, "%s skipped (shadow mode): nothing was done", label);
        return;
    } else
        add(sb, "%s finished (%s)", label, o[0] ? o : "no outcome");
    if (line[0])
        add(sb, ": %s", line);
}

static void text_body(sbuf *sb, const md_alert *a, const char *line)
{
    char label[96], dur[48];
    char step[24];
    clean_text(a->step ? a->step : "step", sizeof(step) - 1, true, step, sizeof(step));
    step_label(a, step, label, sizeof(label));
    switch (a->event) {
    case MD_ALERT_INCIDENT_OPEN:
        add(sb, "incident %" PRIu64 " opened", a->incident);
        if (a->reopen_of)
            add(sb, ", continuing incident %" PRIu64 "'s ladder", a->reopen_of);
        if (a->votes_total > 0)
            add(sb, " (%d of %d nodes see it DOWN)", a->votes_down, a->votes_total);
        if (a->shadow)
            add(sb, "; shadow mode: medic will only say what it would do");
        break;
    case MD_ALERT_STEP_INTENT:
        if (a->shadow)
            add(sb, "WOULD %s (shadow mode) \xE2\x80\x94 %s", step_verb(a->step), label);
        else
            add(sb, "%s starting", label);
        if (a->incident)
            add(sb, " (incident %" PRIu64 ")", a->incident);
        break;
    case MD_ALERT_STEP_RESULT:
        text_step_result(sb, a, label, line);
        break;
    case MD_ALERT_RESOLVED:
        add(sb, "incident %" PRIu64 " resolved", a->incident);
        if (line[0])
            add(sb, ": %s", line);
        else
            add(sb, ", the service is UP again");
        break;
    case MD_ALERT_EXHAUSTED:
        add(sb, "incident %" PRIu64 " exhausted: every step of the ladder has been tried; medic stops "
                "acting until the service recovers or an operator resumes it", a->incident);
        break;
    case MD_ALERT_SPLIT:
        fmt_duration(a->split_for_ms, dur, sizeof(dur));
        add(sb, "nodes disagree about it for %s", dur);
        if (a->votes_total > 0)
            add(sb, " (%d of %d see it DOWN)", a->votes_down, a->votes_total);
        add(sb, "; medic will not act without a quorum");
        break;
    case MD_ALERT_DEGRADED:
        add(sb, "DEGRADED warning: latency is rising");
        if (a->eta_ms > 0) {
            fmt_duration(a->eta_ms, dur, sizeof(dur));
            add(sb, " and should cross the slow threshold in about %s", dur);
        }
        if (line[0])
            add(sb, " (%s)", line);
        break;
    case MD_ALERT_RATE_LIMITED:
        add(sb, "action limit reached (%d per hour)", a->limit);
        if (a->retry_in_ms > 0) {
            fmt_duration(a->retry_in_ms, dur, sizeof(dur));
            add(sb, "; next action possible in %s", dur);
        }
        if (a->incident)
            add(sb, " (incident %" PRIu64 ")", a->incident);
        break;
    case MD_ALERT_BLOCKED:
        add(sb, "%s blocked: %s; it does not count as an attempt, and medic tries again with backoff (at most "
                "every 30 s) until it gets through, the service recovers or an operator pauses it",
            label, line[0] ? line : "its target cannot be reached");
        if (a->incident)
            add(sb, " (incident %" PRIu64 ")", a->incident);
        break;
    default:
        add(sb, "%s", line);
        break;
    }
}

size_t md_alert_text(const md_alert *a, char *out, size_t cap)
{
    assert(a && out && cap > 0);
    char service[128], line[DETAIL_LINE_MAX + 1];
    clean_text(a->service ? a->service : "?", sizeof(service) - 1, true, service, sizeof(service));
    clean_text(a->detail, DETAIL_LINE_MAX, true, line, sizeof(line));
    sbuf sb = { out, cap, 0 };
    out[0] = '\0';
    add(&sb, "%s: ", service);
    text_body(&sb, a, line);
    return sb.n;
}

/* Slack reads &, < and > as markup (links, <!channel> mentions); everything else is literal. */
static char *slack_escape(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : 1;
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = s; *p; p++) {
        const char *rep = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
        if (rep) {
            memcpy(o, rep, strlen(rep));
            o += strlen(rep);
        } else
            *o++ = *p;
    }
    *o = '\0';
    return out;
}

static cJSON *str_or_null(const char *s, size_t max)
{
    if (!s)
        return cJSON_CreateNull();
    char *buf = malloc(max + 1);
    if (!buf)
        return NULL;
    clean_text(s, max, false, buf, max + 1);
    cJSON *j = cJSON_CreateString(buf);
    free(buf);
    return j;
}

static bool put(cJSON *o, const char *k, cJSON *v)
{
    if (!v)
        return false;
    cJSON_AddItemToObject(o, k, v);
    return true;
}

static bool generic_fields(cJSON *o, const md_alert *a, const char *text)
{
    char at[40];
    md_format_time_ms(a->at_ms, at, sizeof(at));
    bool ok = put(o, "event", cJSON_CreateString(md_alert_event_name(a->event)))
        && put(o, "service", str_or_null(a->service, 256))
        && put(o, "incident", a->incident ? cJSON_CreateNumber((double)a->incident) : cJSON_CreateNull())
        && put(o, "step", str_or_null(a->step, 32))
        && put(o, "attempt", a->attempt > 0 ? cJSON_CreateNumber(a->attempt) : cJSON_CreateNull())
        && put(o, "attempts_max", a->attempts_max > 0 ? cJSON_CreateNumber(a->attempts_max) : cJSON_CreateNull())
        && put(o, "outcome", str_or_null(a->outcome, 32))
        && put(o, "detail", str_or_null(a->detail, MD_ALERT_DETAIL_MAX))
        && put(o, "node", str_or_null(a->node, 256))
        && put(o, "at", cJSON_CreateString(at))
        && put(o, "at_ms", cJSON_CreateNumber((double)a->at_ms))
        && put(o, "idempotency_key", str_or_null(a->idempotency_key, MD_ALERT_KEY_MAX))
        && put(o, "shadow", cJSON_CreateBool(a->shadow))
        && put(o, "text", cJSON_CreateString(text));
    if (ok && a->event == MD_ALERT_STEP_RESULT && a->duration_ms >= 0)
        ok = put(o, "duration_ms", cJSON_CreateNumber((double)a->duration_ms));
    if (ok && a->reopen_of)
        ok = put(o, "reopen_of", cJSON_CreateNumber((double)a->reopen_of));
    if (ok && a->votes_total > 0) {
        cJSON *v = cJSON_CreateObject();
        ok = put(o, "votes", v) && put(v, "down", cJSON_CreateNumber(a->votes_down))
            && put(v, "total", cJSON_CreateNumber(a->votes_total));
    }
    if (ok && a->event == MD_ALERT_SPLIT)
        ok = put(o, "split_for_ms", cJSON_CreateNumber((double)a->split_for_ms));
    if (ok && a->event == MD_ALERT_DEGRADED && a->eta_ms > 0)
        ok = put(o, "eta_ms", cJSON_CreateNumber((double)a->eta_ms));
    if (ok && a->event == MD_ALERT_RATE_LIMITED)
        ok = put(o, "limit", cJSON_CreateNumber(a->limit)) && put(o, "retry_in_ms", cJSON_CreateNumber((double)a->retry_in_ms));
    return ok;
}

int md_alert_render(const md_alert *a, md_webhook_format fmt, char **body)
{
    assert(a && body);
    if (!a->service || !a->service[0] || !a->idempotency_key || !a->idempotency_key[0])
        return -EINVAL;
    char text[MD_ALERT_TEXT_MAX];
    md_alert_text(a, text, sizeof(text));
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return -ENOMEM;
    bool ok;
    if (fmt == MD_WEBHOOK_SLACK) {
        char *esc = slack_escape(text);
        ok = esc && put(o, "text", cJSON_CreateString(esc));
        free(esc);
    } else if (fmt == MD_WEBHOOK_DISCORD) {
        char cut[MD_ALERT_DISCORD_MAX + 1]; /* bytes >= UTF-16 units, so this is within the limit */
        clean_text(text, MD_ALERT_DISCORD_MAX, false, cut, sizeof(cut));
        cJSON *am = cJSON_CreateObject();
        ok = put(o, "content", cJSON_CreateString(cut)) && put(o, "allowed_mentions", am)
            && put(am, "parse", cJSON_CreateArray());
    } else {
        ok = generic_fields(o, a, text);
    }
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s)
        return -ENOMEM;
    *body = s;
    return 0;
}
