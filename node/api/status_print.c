/* status_print.c: the periodic status block, the seed's "MONITOR STATUS" printout, from a view. */
#include "api.h"

#include "base/base.h"

#include <stdint.h>

static const char *state_mark(md_state s)
{
    switch (s) {
    case MD_STATE_UP: return "[ UP ]";
    case MD_STATE_DEGRADED: return "[SLOW]";
    case MD_STATE_DOWN: return "[DOWN]";
    default: return "[ ?? ]";
    }
}

static void print_json(const md_view *s, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        const md_view_service *v = &s->services[i];
        char last[40] = "never";
        if (v->last_success_ms)
            md_format_time_ms(v->last_success_ms, last, sizeof last);
        md_log(MD_LOG_INFO, "status", MD_S("service", v->name), MD_S("state", md_state_name(v->state)),
               MD_D("uptime_pct", md_view_uptime_pct(v)), MD_D("response_ms", v->last_latency_ms),
               MD_I("checks_ok", md_view_checks_ok(v)), MD_I("checks_total", md_view_checks_total(v)),
               MD_S("last_success", last));
    }
}

static void print_text(FILE *out, const md_view *s, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        const md_view_service *v = &s->services[i];
        char last[40] = "never";
        if (v->last_success_ms)
            md_format_time_ms(v->last_success_ms, last, sizeof last);
        fprintf(out, "\n%s %s\n", state_mark(v->state), v->name);
        const char *cause = v->state_cause ? v->state_cause : "";
        fprintf(out, "   Status: %s%s%s\n", md_state_name(v->state), cause[0] ? " - " : "", cause);
        fprintf(out, "   Uptime: %.2f%% (last hour %.2f%%)\n", md_view_uptime_pct(v), v->uptime_hour_pct);
        fprintf(out, "   Response: %.*fms (avg %.*fms)\n", v->last_latency_ms < 10 ? 1 : 0, v->last_latency_ms,
                v->avg_latency_ms < 10 ? 1 : 0, v->avg_latency_ms);
        fprintf(out, "   Checks: %llu/%llu\n", (unsigned long long)md_view_checks_ok(v),
                (unsigned long long)md_view_checks_total(v));
        fprintf(out, "   Last success: %s\n", last);
        if (v->trend_warning)
            fprintf(out, "   Warning: latency rising %.1f ms/s, slow in ~%llds\n", v->trend_slope_ms_per_s,
                    (long long)(v->trend_eta_ms / 1000));
        if (v->cert_warning)
            fprintf(out, "   Warning: certificate expires soon\n");
        const md_view_failover *f = v->failover;
        if (f)
            fprintf(out, "   Active endpoint: %s%s (%llu failovers)\n",
                    f->active_endpoint >= 0 ? f->endpoints[f->active_endpoint].target : "none",
                    f->active_endpoint > 0 ? " (backup)" : "", (unsigned long long)f->failovers);
    }
}

size_t md_status_print_part(FILE *out, const md_view *s, size_t from, size_t max, int64_t now_ms, int json)
{
    size_t to = from + max < s->n_services && from + max > from ? from + max : s->n_services;
    if (json) {
        print_json(s, from, to);
        return to;
    }
    if (from == 0) {
        char now[40];
        md_format_time_ms(now_ms, now, sizeof now);
        fprintf(out, "============================================================\n");
        fprintf(out, "MEDIC STATUS  node=%s  %s\n", s->node_id ? s->node_id : "-", now);
        fprintf(out, "============================================================\n");
    }
    print_text(out, s, from, to);
    if (to == s->n_services) {
        fprintf(out, "\n============================================================\n");
        fflush(out);
    }
    return to;
}

void md_status_print(FILE *out, const md_view *s, int64_t now_ms, int json)
{
    md_status_print_part(out, s, 0, SIZE_MAX, now_ms, json);
}
