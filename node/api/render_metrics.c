/* render_metrics.c: /metrics in the Prometheus text exposition format 0.0.4, from a view only,
 * whole or as a stream of bounded chunks (one service of one family per step).
 *
 * Samples are grouped family by family (the format requires each family's samples together,
 * after its HELP and TYPE lines), services in config order within each family. */
#include "api.h"
#include "render_failover.h"
#include "render_int.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef md__buf buf;
#define put md__buf_put
#define puts_ md__buf_puts
#define putf md__buf_putf

/* Label values escape backslash, double quote and newline, as the format requires. */
static void put_label_value(buf *b, const char *v)
{
    put(b, "\"", 1);
    for (const char *c = v ? v : ""; *c; c++) {
        if (*c == '\\') {
            put(b, "\\\\", 2);
        } else if (*c == '"') {
            put(b, "\\\"", 2);
        } else if (*c == '\n') {
            put(b, "\\n", 2);
        } else {
            put(b, c, 1);
        }
    }
    put(b, "\"", 1);
}

static void put_double(buf *b, double v)
{
    if (isnan(v)) {
        puts_(b, "NaN");
    } else if (isinf(v)) {
        puts_(b, v > 0 ? "+Inf" : "-Inf");
    } else {
        putf(b, "%.15g", v);
    }
}

static void family(buf *b, const char *name, const char *type, const char *help)
{
    putf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Starts a sample line: name{service="..." and leaves the brace open for more labels. */
static void open_sample(buf *b, const char *name, const md_view_service *v)
{
    puts_(b, name);
    puts_(b, "{service=");
    put_label_value(b, v->name);
}

static void sample_d(buf *b, const char *name, const md_view_service *v, double val)
{
    open_sample(b, name, v);
    puts_(b, "} ");
    put_double(b, val);
    puts_(b, "\n");
}

static void sample_u(buf *b, const char *name, const md_view_service *v, const char *label,
                     const char *label_val, uint64_t val)
{
    open_sample(b, name, v);
    putf(b, ",%s=", label);
    put_label_value(b, label_val);
    putf(b, "} %" PRIu64 "\n", val);
}

static void node_families(buf *b, const md_view *s)
{
    family(b, "medic_node_info", "gauge", "Constant 1, labelled with the node's identity.");
    puts_(b, "medic_node_info{node=");
    put_label_value(b, s->node_id);
    puts_(b, ",region=");
    put_label_value(b, s->node_region);
    puts_(b, ",version=");
    put_label_value(b, s->version);
    puts_(b, "} 1\n");
    family(b, "medic_node_start_time_seconds", "gauge", "When the node started, in seconds since the Unix epoch.");
    puts_(b, "medic_node_start_time_seconds ");
    put_double(b, (double)s->started_ms / 1000.0);
    puts_(b, "\n");
}

/* ---- per-service samples: one service of one family at a time ---- */

static void each_up(buf *b, const md_view *s, const md_view_service *v)
{
    (void)s;
    sample_d(b, "medic_service_up", v, v->state == MD_STATE_UP || v->state == MD_STATE_DEGRADED);
}

static void each_state(buf *b, const md_view *s, const md_view_service *v)
{
    (void)s;
    for (int st = 0; st < MD_STATE_COUNT; st++) {
        sample_u(b, "medic_service_state", v, "state", md_state_name((md_state)st), v->state == (md_state)st);
    }
}

static void each_uptime(buf *b, const md_view *s, const md_view_service *v)
{
    (void)s;
    sample_d(b, "medic_service_uptime_ratio", v, md_view_uptime_pct(v) / 100.0);
}

static void each_latency(buf *b, const md_view *s, const md_view_service *v)
{
    (void)s;
    sample_d(b, "medic_service_latency_seconds", v, v->last_latency_ms / 1000.0);
}

static void each_duration(buf *b, const md_view *s, const md_view_service *v)
{
    (void)s;
    char le[32];
    for (int k = 0; k < MD_DURATION_BUCKETS; k++) {
        snprintf(le, sizeof le, "%g", md_duration_bucket_le[k]);
        sample_u(b, "medic_check_duration_seconds_bucket", v, "le", le, md_view_duration_le(v, k));
    }
    uint64_t count = md_view_duration_count(v);
    sample_u(b, "medic_check_duration_seconds_bucket", v, "le", "+Inf", count);
    sample_d(b, "medic_check_duration_seconds_sum", v, v->duration_sum_s);
    open_sample(b, "medic_check_duration_seconds_count", v);
    putf(b, "} %" PRIu64 "\n", count);
}

static void each_checks(buf *b, const md_view *s, const md_view_service *v)
{
    (void)s;
    for (int e = 0; e < MD_ERR_COUNT; e++) {
        sample_u(b, "medic_checks_total", v, "result", e == MD_ERR_NONE ? "ok" : md_err_name((md_err_class)e),
                 md_view_count(v, MD_VIEW_C_RESULT + (size_t)e));
    }
}

static void each_prewarm(buf *b, const md_view *s, const md_view_service *v)
{
    (void)s;
    uint64_t total = md_view_count(v, MD_VIEW_C_PREWARM), failed = md_view_count(v, MD_VIEW_C_PREWARM_FAILED);
    if (failed > total)
        failed = total;
    sample_u(b, "medic_prewarm_total", v, "result", "ok", total - failed);
    sample_u(b, "medic_prewarm_total", v, "result", "failed", failed);
}

static void each_cert(buf *b, const md_view *s, const md_view_service *v)
{
    (void)s;
    if (v->cert_expiry_ms != 0) {
        sample_d(b, "medic_cert_expiry_timestamp_seconds", v, (double)v->cert_expiry_ms / 1000.0);
    }
}

static void each_trend(buf *b, const md_view *s, const md_view_service *v)
{
    (void)s;
    sample_d(b, "medic_service_trend_warning", v, v->trend_warning);
}

static void each_verdict(buf *b, const md_view *s, const md_view_service *v)
{
    (void)s;
    for (int d = 0; d < MD_VERDICT_COUNT; d++) {
        sample_u(b, "medic_service_verdict", v, "verdict", md_verdict_name((md_verdict)d), v->verdict == (md_verdict)d);
    }
}

static void each_paused(buf *b, const md_view *s, const md_view_service *v)
{
    (void)s;
    sample_d(b, "medic_service_paused", v, v->paused);
}

static void each_incident(buf *b, const md_view *s, const md_view_service *v)
{
    (void)s;
    sample_d(b, "medic_service_incident_open", v, v->incident_id != 0);
}

/* ---- node-wide families ---- */

/* A family of one unlabelled gauge; its sample is left out when there is no value. */
static void lone_gauge(buf *b, const char *name, const char *help, bool present, double val)
{
    family(b, name, "gauge", help);
    if (!present)
        return;
    puts_(b, name);
    puts_(b, " ");
    put_double(b, val);
    puts_(b, "\n");
}

/* The quantiles are gauges over the leader's newest proposals, not a summary: they cover a
 * sliding window and a follower has none, so their samples are left out rather than faked. */
static void commit_families(buf *b, const md_view_consensus *k)
{
    family(b, "medic_raft_committed_entries_total", "counter",
           "Log entries this node saw committed since it started (not those replayed at start).");
    putf(b, "medic_raft_committed_entries_total %" PRIu64 "\n", k->committed_entries);
    bool some = k->commit_lat_samples > 0;
    lone_gauge(b, "medic_raft_commit_latency_p50_seconds",
               "Median time from the leader's proposal to its commit, over its latest proposals.", some,
               k->commit_lat_p50_ms / 1000.0);
    lone_gauge(b, "medic_raft_commit_latency_p99_seconds",
               "99th percentile time from the leader's proposal to its commit, over its latest proposals.", some,
               k->commit_lat_p99_ms / 1000.0);
}

/* A Railway client's sample name and labels (the services that use it, never its token); the
 * caller writes the value. */
static void railway_labels(buf *b, const char *name, const md_view_actuator *a)
{
    puts_(b, name);
    puts_(b, "{services=");
    put_label_value(b, a->services ? a->services : "");
    puts_(b, "} ");
}

static void railway_families(buf *b, const md_view *s)
{
    if (s->n_actuators == 0)
        return;
    family(b, "medic_railway_requests_total", "counter", "HTTP requests sent to the Railway API.");
    for (size_t i = 0; i < s->n_actuators; i++) {
        railway_labels(b, "medic_railway_requests_total", &s->actuators[i]);
        putf(b, "%" PRIu64 "\n", s->actuators[i].requests);
    }
    family(b, "medic_railway_throttled_waits_total", "counter",
           "Requests that waited for the request budget or Railway's rate limit.");
    for (size_t i = 0; i < s->n_actuators; i++) {
        railway_labels(b, "medic_railway_throttled_waits_total", &s->actuators[i]);
        putf(b, "%" PRIu64 "\n", s->actuators[i].throttled);
    }
    family(b, "medic_railway_throttled_wait_seconds_total", "counter", "Time requests spent waiting for the budget.");
    for (size_t i = 0; i < s->n_actuators; i++) {
        railway_labels(b, "medic_railway_throttled_wait_seconds_total", &s->actuators[i]);
        putf(b, "%.3f\n", (double)s->actuators[i].throttled_ms / 1000.0);
    }
    family(b, "medic_railway_token_ok", "gauge",
           "1 while the client's token works (checked at start, then from every answer); 0 refused or failing.");
    for (size_t i = 0; i < s->n_actuators; i++) {
        railway_labels(b, "medic_railway_token_ok", &s->actuators[i]);
        putf(b, "%d\n", strcmp(s->actuators[i].state, "ok") == 0);
    }
}

static void peer_families(buf *b, const md_view *s)
{
    family(b, "medic_peer_up", "gauge", "1 when the peer is alive (heard from recently), else 0.");
    for (size_t i = 1; i < s->n_nodes; i++) {
        puts_(b, "medic_peer_up{peer=");
        put_label_value(b, s->nodes[i].id);
        putf(b, "} %d\n", strcmp(s->nodes[i].liveness, "alive") == 0);
    }
    family(b, "medic_peer_rtt_seconds", "gauge", "Last measured round trip to the peer.");
    for (size_t i = 1; i < s->n_nodes; i++) {
        if (s->nodes[i].rtt_us < 0)
            continue;
        puts_(b, "medic_peer_rtt_seconds{peer=");
        put_label_value(b, s->nodes[i].id);
        puts_(b, "} ");
        put_double(b, s->nodes[i].rtt_us / 1e6);
        puts_(b, "\n");
    }
    if (s->loop_turns > 0) {
        family(b, "medic_loop_turn_max_seconds", "gauge",
               "The longest turn of the node's loop since start (work between two waits: timers run late by as much).");
        puts_(b, "medic_loop_turn_max_seconds ");
        put_double(b, s->loop_turn_max_ms / 1000.0);
        puts_(b, "\n");
        family(b, "medic_loop_stalls_total", "counter", "Turns of the loop that worked medic_loop_stall_warn_seconds or longer.");
        putf(b, "medic_loop_stalls_total %" PRIu64 "\n", s->loop_stalls);
        family(b, "medic_loop_stall_warn_seconds", "gauge", "The turn length counted as a stall (and logged as loop_stall).");
        puts_(b, "medic_loop_stall_warn_seconds ");
        put_double(b, (double)s->loop_stall_warn_ms / 1000.0);
        puts_(b, "\n");
        family(b, "medic_loop_busy_seconds_total", "counter", "Time the loop worked (did not wait), summed over its turns.");
        puts_(b, "medic_loop_busy_seconds_total ");
        put_double(b, s->loop_busy_s);
        puts_(b, "\n");
    }
    family(b, "medic_node_isolated", "gauge", "1 when this node reaches no peer and every check fails.");
    putf(b, "medic_node_isolated %d\n", s->n_nodes > 0 && s->nodes[0].isolated);
    const md_view_consensus *k = &s->consensus;
    if (k->enabled) {
        family(b, "medic_raft_term", "gauge", "The node's current Raft term.");
        putf(b, "medic_raft_term %" PRIu64 "\n", k->term);
        family(b, "medic_raft_leader", "gauge", "1 while this node is the Raft leader.");
        putf(b, "medic_raft_leader %d\n", strcmp(k->role, "leader") == 0);
        family(b, "medic_raft_lease_valid", "gauge", "1 while this node leads with a valid lease.");
        putf(b, "medic_raft_lease_valid %d\n", k->lease_valid);
        family(b, "medic_raft_recovering", "gauge",
               "1 while this node lost its disk (or is new) and has not caught up with the cluster.");
        putf(b, "medic_raft_recovering %d\n", k->recovering);
        family(b, "medic_raft_commit_index", "gauge", "The highest log index known committed.");
        putf(b, "medic_raft_commit_index %" PRIu64 "\n", k->commit);
        family(b, "medic_raft_leader_changes_total", "counter", "Leaders this node has seen since it started.");
        putf(b, "medic_raft_leader_changes_total %" PRIu64 "\n", k->leader_changes);
        family(b, "medic_raft_failed", "gauge", "1 when a disk error stopped this node from taking part.");
        putf(b, "medic_raft_failed %d\n", k->failed != NULL);
        commit_families(b, k);
    }
}

static void tail_families(buf *b, const md_view *s)
{
    family(b, "medic_remediation_actions_started_total", "counter", "Actions this node started as leader.");
    putf(b, "medic_remediation_actions_started_total %" PRIu64 "\n", s->actions_started);
    railway_families(b, s);
    family(b, "medic_alerts_total", "counter", "Webhook deliveries by fate.");
    putf(b, "medic_alerts_total{fate=\"sent\"} %" PRIu64 "\n", s->alerts_sent);
    putf(b, "medic_alerts_total{fate=\"failed\"} %" PRIu64 "\n", s->alerts_failed);
    putf(b, "medic_alerts_total{fate=\"dropped\"} %" PRIu64 "\n", s->alerts_dropped);
    family(b, "medic_cluster_messages_dropped_total", "counter", "Cluster messages dropped, by reason.");
    for (int r = 0; s->drop_reason_names && r < MD_VIEW_DROP_REASONS; r++) {
        puts_(b, "medic_cluster_messages_dropped_total{reason=");
        put_label_value(b, s->drop_reason_names[r]);
        putf(b, "} %" PRIu64 "\n", s->drops[r]);
    }
}

/* The failover families (render_failover.c): few services have endpoints, so they are rendered in
 * one piece. */
static void failover_families(buf *b, const md_view *s)
{
    char *fo = md__render_failover_metrics(s);
    if (fo == NULL) {
        b->oom = true;
        return;
    }
    puts_(b, fo);
    free(fo);
}

/* ---- the document: its sections in order ---- */

/* A section writes its family's HELP and TYPE (when name is set), then once (node-wide samples,
 * or whole node-wide families), then each for every service in config order. A new per-service
 * family is one row here and one each_ function. */
typedef struct {
    const char *name, *type, *help;
    void (*once)(buf *b, const md_view *s);
    void (*each)(buf *b, const md_view *s, const md_view_service *v);
} section;

static const section sections[] = {
    { NULL, NULL, NULL, node_families, NULL },
    { "medic_service_up", "gauge", "1 when the service is UP or DEGRADED, else 0.", NULL, each_up },
    { "medic_service_state", "gauge", "1 for the service's current state, 0 for the others.", NULL, each_state },
    { "medic_service_uptime_ratio", "gauge", "Successful checks over all checks since the node started.", NULL,
      each_uptime },
    { "medic_service_latency_seconds", "gauge", "Duration of the last check.", NULL, each_latency },
    { "medic_check_duration_seconds", "histogram", "Duration of checks, successful or not.", NULL, each_duration },
    { "medic_checks_total", "counter", "Checks by result: ok or the class of failure.", NULL, each_checks },
    { "medic_prewarm_total", "counter", "Pre-warm requests by result.", NULL, each_prewarm },
    { "medic_cert_expiry_timestamp_seconds", "gauge",
      "When the service's TLS certificate expires, in seconds since the Unix epoch.", NULL, each_cert },
    { "medic_service_trend_warning", "gauge", "1 when the latency trend predicts crossing the slow threshold soon.",
      NULL, each_trend },
    { "medic_service_verdict", "gauge", "1 for the cluster verdict of the service, 0 for the others.", NULL,
      each_verdict },
    { NULL, NULL, NULL, peer_families, NULL },
    { "medic_service_paused", "gauge", "1 while an operator has paused remediation of the service.", NULL,
      each_paused },
    { "medic_service_incident_open", "gauge", "1 while the service has an open incident.", NULL, each_incident },
    { NULL, NULL, NULL, tail_families, NULL },
    { NULL, NULL, NULL, failover_families, NULL },
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

static bool metrics_step(md_render_stream *st)
{
    if (st->section >= N_SECTIONS) {
        return false;
    }
    const section *sec = &sections[st->section];
    const md_view *s = st->s;
    if (st->item == 0) {
        if (sec->name != NULL) {
            family(&st->b, sec->name, sec->type, sec->help);
        }
        if (sec->once != NULL) {
            sec->once(&st->b, s);
        }
    } else {
        sec->each(&st->b, s, &s->services[st->item - 1]);
    }
    st->item++;
    if (sec->each == NULL || st->item > s->n_services) {
        st->section++;
        st->item = 0;
    }
    return true;
}

md_render_stream *md_render_metrics_stream(const md_view *s, int64_t now_ms)
{
    assert(s != NULL);
    (void)now_ms; /* every value is a property of the view; no sample carries a timestamp */
    return md__render_stream_new(s, now_ms, metrics_step);
}

char *md_render_metrics(const md_view *s, int64_t now_ms)
{
    return md__render_all(md_render_metrics_stream(s, now_ms));
}
