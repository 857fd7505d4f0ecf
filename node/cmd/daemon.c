/* daemon.c: wires the loop, the curl multi, the monitor and the API together, and stops them in
 * reverse order on SIGTERM/SIGINT so that every handle closes and nothing leaks. */
#include "cmd.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "failover/failover.h"
#include "cluster/cluster.h"
#include "base/base.h"
#include "probe/probe.h"
#include "heal/heal.h"
#include "view/view.h"

#define SHUTDOWN_GUARD_MS 3000
/* A turn of the loop this long delays heartbeats past a quarter of the lan election timeout:
 * worth a warning with how long it was. */
#define LOOP_STALL_WARN_MS 250

typedef struct {
    uv_loop_t loop;
    const md_config *cfg;
    bool insecure_dev;
    md_curl_loop *cl;
    md_cluster *cluster;
    md_heal *remedy;
    md_view_holder *holder;
    md_monitor *monitor;
    md_failover *failover;
    bool bad_config;  /* start failed on a field of the config (a proxy port taken): exit 2 */
    md_api *api;
    md_loop_meter *meter;
    uv_signal_t sig_term;
    uv_signal_t sig_int;
    uv_timer_t guard;
    bool stopping;
} daemon_ctx;

/* raise_fd_limit raises the soft descriptor limit to the hard one and returns it (-1: none). */
static int64_t raise_fd_limit(void)
{
    /* Thousands of services with keep-alive mean thousands of sockets. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -1;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    return rl.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_cur;
}

/* check_fd_budget warns when the limit cannot hold what the node may open at once: the API's
 * 256 connections (plus closing ones), the cluster port's 64 unauthenticated connections and
 * 64-descriptor headroom, a connection per peer each way, storage, and a socket per service.
 * Past the limit the node degrades (refuses connections, retries storage), never stops. */
static void check_fd_budget(const md_config *cfg, int64_t limit)
{
    int64_t need = 256 + 32 + 64 + 64 + 2 * (int64_t)cfg->cluster.n_peers + 32 + 2 * (int64_t)cfg->n_services;
    for (size_t i = 0; i < cfg->n_services; i++) { /* a proxied connection holds two sockets */
        const md_service_failover *fo = cfg->services[i].failover;
        if (fo->proxy_listen)
            need += 2 * (int64_t)fo->proxy_max_connections + (int64_t)fo->n_endpoints;
    }
    if (limit >= 0 && limit < need) {
        md_log(MD_LOG_WARN, "fd_limit_low", MD_I("limit", limit), MD_I("suggested", need),
               MD_S("effect", "under load connections are refused and storage writes retried"),
               MD_S("fix", "raise the hard limit (ulimit -Hn, LimitNOFILE=)"));
    }
}

static void on_guard(uv_timer_t *t)
{
    (void)t;
    md_log(MD_LOG_ERROR, "shutdown_stuck", MD_I("after_ms", SHUTDOWN_GUARD_MS));
    _exit(1);
}

static void close_transport_and_curl(void *arg)
{
    daemon_ctx *d = arg;
    d->remedy = NULL;
    if (d->cluster) {
        md_cluster_close(d->cluster, NULL, NULL);
        d->cluster = NULL;
    }
    if (d->cl) {
        md_curl_loop_close(d->cl);
        d->cl = NULL;
    }
}

/* Remediation first (it cancels its actions and alerts, which use the curl loop and the
 * consensus), then the cluster (a leader hands over) and the curl loop. */
static void close_rest(daemon_ctx *d)
{
    if (d->remedy)
        md_heal_close(d->remedy, close_transport_and_curl, d);
    else
        close_transport_and_curl(d);
}

static void on_monitor_closed(void *arg)
{
    /* The prober is gone, so no transfer is left on the multi handle, and nothing reports to
     * the cluster any more. */
    close_rest(arg);
}

static void stop(daemon_ctx *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    md_log(MD_LOG_INFO, "node_stopping", MD_S("reason", why));
    uv_timer_start(&d->guard, on_guard, SHUTDOWN_GUARD_MS, 0);
    uv_unref((uv_handle_t *)&d->guard);
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    md_loop_meter_close(d->meter);
    d->meter = NULL;
    if (d->api) {
        md_api_close(d->api);
        d->api = NULL;
    }
    if (d->failover) {
        /* Before the monitor: failover calls into it. Its prober goes at once, its sockets close
         * on the loop. */
        md_failover_close(d->failover, NULL, NULL);
        d->failover = NULL;
    }
    if (d->monitor) {
        md_monitor_close(d->monitor, on_monitor_closed, d);
        d->monitor = NULL;
    } else {
        close_rest(d);
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    stop(s->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- what the monitor hands on: checks to the cluster view, views filled by every part ---- */

static void own_health(void *ctx, size_t i, const md_health *h) { md_cluster_own(ctx, i, h); }

/* A peer's first failure asks us to check now (the monitor bounds how often). */
static void peer_suspects(void *ctx, size_t svc, size_t peer) { (void)md_monitor_check_soon(ctx, svc, peer); }

static int cluster_view_part(void *ctx, md_view *v) { return md_cluster_fill_view(ctx, v); }

static int heal_view_part(void *ctx, md_view *v) { return md_heal_fill_view(ctx, v); }

static int failover_view_part(void *ctx, md_view *v) { return md_failover_fill_view(ctx, v); }

static int loop_view_part(void *ctx, md_view *v)
{
    daemon_ctx *d = ctx;
    if (!d->meter)
        return 0;
    md_loop_stats st;
    md_loop_meter_stats(d->meter, &st);
    v->loop_turns = st.turns;
    v->loop_stalls = st.stalls;
    v->loop_stall_warn_ms = LOOP_STALL_WARN_MS;
    v->loop_turn_max_ms = (double)st.max_us / 1000.0;
    v->loop_busy_s = (double)st.busy_us / 1e6;
    return 0;
}

static size_t print_status(void *ctx, const md_view *v, size_t from)
{
    daemon_ctx *d = ctx;
    return md_status_print_part(stdout, v, from, MD_STATUS_SLICE, md_wall_ms(), d->cfg->log_format == MD_LOGFMT_JSON);
}

/* start_api listens where the config says. An address taken from PORT ("[::]") on a host
 * without IPv6 falls back to every IPv4 address rather than failing the platform's health check. */
static int start_api(daemon_ctx *d, char *err, size_t errlen)
{
    const md_config *cfg = d->cfg;
    int rc = md_api_start(&d->loop, cfg->api_host, cfg->api_port, d->holder, &d->api, err, errlen);
    bool from_port = cfg->api_listen_from && strcmp(cfg->api_listen_from, "PORT") == 0;
    if (rc == UV_EAFNOSUPPORT || rc == UV_EADDRNOTAVAIL) {
        if (!from_port)
            return rc;
        md_log(MD_LOG_WARN, "api_ipv6_unavailable", MD_S("api_listen", cfg->api_listen),
               MD_S("error", uv_strerror(rc)), MD_S("fallback", "0.0.0.0"));
        err[0] = '\0';
        rc = md_api_start(&d->loop, "0.0.0.0", cfg->api_port, d->holder, &d->api, err, errlen);
    }
    return rc;
}

/* log_identity says who this node is and where each part of that came from (the config, a
 * platform variable, the host name, a default), and which consensus timing runs and why. */
static void log_identity(const md_config *cfg)
{
    md_log(MD_LOG_INFO, "node_identity", MD_S("node", cfg->node_id), MD_S("id_from", cfg->node_id_from),
           MD_S("region", cfg->node_region), MD_S("region_from", cfg->node_region_from),
           MD_S("api_listen", cfg->api_listen), MD_S("api_listen_from", cfg->api_listen_from));
    if (!cfg->cluster.enabled)
        return;
    md_log(MD_LOG_INFO, "data_dir", MD_S("path", cfg->data_dir), MD_S("from", cfg->data_dir_from));
    if (cfg->node_id_from && strcmp(cfg->node_id_from, "host name") == 0)
        md_log(MD_LOG_WARN, "node_id_from_host_name", MD_S("node", cfg->node_id),
               MD_S("why", "a cluster node's id must stay the same across restarts: set node.id or MEDIC_NODE_ID "
                           "unless the host name is stable (a StatefulSet pod's is)"));
    md_log(MD_LOG_INFO, "timing_profile", MD_S("profile", cfg->cluster.timing),
           MD_S("reason", cfg->cluster.timing_reason), MD_I("heartbeat_ms", cfg->cluster.heartbeat_ms),
           MD_I("election_timeout_ms", cfg->cluster.election_timeout_ms));
}

static int start(daemon_ctx *d)
{
    char err[1024] = ""; /* storage's refusals say how to recover: room for the whole sentence */
    d->cl = md_curl_loop_new(&d->loop);
    d->holder = md_view_holder_new();
    if (!d->cl || !d->holder) {
        md_log(MD_LOG_ERROR, "node_start_failed", MD_S("error", "out of memory"));
        return -1;
    }
    int rc = md_cluster_new(&d->loop, d->cfg, d->insecure_dev, &d->cluster, err, sizeof err);
    if (rc < 0) {
        md_log(MD_LOG_ERROR, "node_start_failed", MD_S("error", err));
        return -1;
    }
    if (md_monitor_new(&d->loop, d->cfg, d->cl, d->holder, &d->monitor) < 0) {
        md_log(MD_LOG_ERROR, "node_start_failed", MD_S("error", "out of memory"));
        return -1;
    }
    md_cluster_set_on_change(d->cluster, md_monitor_touch, d->monitor);
    rc = md_heal_new(&d->loop, d->cfg, d->cluster, d->cl, &d->remedy, err, sizeof err);
    if (rc < 0) {
        md_log(MD_LOG_ERROR, "node_start_failed", MD_S("error", err));
        return -1;
    }
    md_heal_set_on_change(d->remedy, md_monitor_touch, d->monitor);
    md_monitor_set_health_sink(d->monitor, own_health, d->cluster);
    md_cluster_set_on_suspect(d->cluster, peer_suspects, d->monitor);
    md_monitor_add_view_part(d->monitor, cluster_view_part, d->cluster);
    md_monitor_add_view_part(d->monitor, heal_view_part, d->remedy);
    rc = md_failover_new(&d->loop, d->cfg, d->cl, d->monitor, &d->failover, err, sizeof err);
    if (rc < 0) {
        d->bad_config = rc != -ENOMEM;
        md_log(MD_LOG_ERROR, "node_start_failed", MD_S("error", rc == -ENOMEM ? "out of memory" : err));
        return -1;
    }
    md_monitor_set_result_sink(d->monitor, md_failover_check_result, d->failover);
    md_monitor_add_view_part(d->monitor, failover_view_part, d->failover);
    md_monitor_set_status_part(d->monitor, failover_view_part, d->failover);
    md_monitor_add_view_part(d->monitor, loop_view_part, d);
    md_monitor_set_status_printer(d->monitor, print_status, d);
    rc = start_api(d, err, sizeof err);
    if (rc < 0) {
        md_log(MD_LOG_ERROR, "node_start_failed", MD_S("error", err[0] ? err : uv_strerror(rc)),
               MD_S("api_listen", d->cfg->api_listen));
        return -1;
    }
    if (md_api_set_actions(d->api, d->cfg->remedy.admin_token, md_heal_action, d->remedy) < 0) {
        md_log(MD_LOG_ERROR, "node_start_failed", MD_S("error", "out of memory"));
        return -1;
    }
    rc = md_cluster_start(d->cluster, err, sizeof err);
    if (rc < 0) {
        md_log(MD_LOG_ERROR, "node_start_failed", MD_S("error", err[0] ? err : uv_strerror(rc)),
               MD_S("cluster_listen", d->cfg->cluster.listen ? d->cfg->cluster.listen : "-"));
        return -1;
    }
    rc = md_failover_start(d->failover, err, sizeof err);
    if (rc < 0) {
        d->bad_config = true;
        md_log(MD_LOG_ERROR, "node_start_failed", MD_S("error", err[0] ? err : uv_strerror(rc)));
        return -1;
    }
    rc = md_heal_start(d->remedy);
    if (rc == 0)
        rc = md_monitor_start(d->monitor);
    if (rc < 0) {
        md_log(MD_LOG_ERROR, "node_start_failed", MD_S("error", uv_strerror(rc)));
        return -1;
    }
    md_log(MD_LOG_INFO, "node_started", MD_S("node", d->cfg->node_id), MD_S("version", MD_VERSION),
           MD_S("api_listen", d->cfg->api_listen), MD_I("api_port", md_api_bound_port(d->api)),
           MD_I("services", d->cfg->n_services), MD_I("pid", getpid()));
    return 0;
}

int md_daemon_run(const md_config *cfg, bool insecure_dev)
{
    daemon_ctx d;
    memset(&d, 0, sizeof d);
    d.cfg = cfg;
    d.insecure_dev = insecure_dev;
    signal(SIGPIPE, SIG_IGN);
    int64_t fd_limit = raise_fd_limit();
    check_fd_budget(cfg, fd_limit);
    if (uv_loop_init(&d.loop) < 0)
        return 1;
    if (md_curl_global_init() < 0) {
        uv_loop_close(&d.loop);
        return 1;
    }
    if (md_loop_meter_new(&d.loop, LOOP_STALL_WARN_MS, &d.meter) < 0)
        md_log0(MD_LOG_WARN, "loop_meter_unavailable"); /* the node runs; /metrics lacks the loop figures */
    uv_signal_init(&d.loop, &d.sig_term);
    uv_signal_init(&d.loop, &d.sig_int);
    uv_timer_init(&d.loop, &d.guard);
    d.sig_term.data = d.sig_int.data = d.guard.data = &d;
    uv_signal_start(&d.sig_term, on_signal, SIGTERM);
    uv_signal_start(&d.sig_int, on_signal, SIGINT);

    int exit_code = 0;
    log_identity(cfg);
    if (start(&d) < 0) {
        exit_code = d.bad_config ? 2 : 1;
        stop(&d, "start failed");
    }
    uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&d.guard, NULL);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&d.loop);
    if (rc != 0)
        md_log(MD_LOG_ERROR, "loop_not_closed", MD_S("error", uv_strerror(rc)));
    if (d.holder)
        md_view_holder_free(d.holder);
    md_curl_global_cleanup();
    if (exit_code == 0)
        md_log0(MD_LOG_INFO, "node_stopped");
    return exit_code;
}
