/* failover.c: breakers for every endpoint of every service with endpoints, fed by the monitor's
 * checks (the primary), this module's probes (the backups) and proxied traffic; the active
 * endpoint; and the view part that shows them. */
#include "failover_int.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t md__fo_now_ms(void)
{
    return md_mono_us() / 1000;
}

/* ---- breakers and the active endpoint ---- */

void md__fo_refresh(md_fo_service *s)
{
    int64_t now = md__fo_now_ms();
    md_breaker br[MD_MAX_ENDPOINTS]; /* the rule reads an array of breakers: copies, n is small */
    assert(s->n <= MD_MAX_ENDPOINTS);
    for (size_t i = 0; i < s->n; i++) {
        md_breaker_tick(&s->ep[i].br, now);
        br[i] = s->ep[i].br;
    }
    int was = s->active.index;
    if (!md_active_pick(&s->active, br, s->n, s->cfg->failover->failback_after_ms, now))
        return;
    int to = s->active.index;
    md_log(to < 0 ? MD_LOG_ERROR : MD_LOG_WARN, "failover_switch", MD_S("service", s->cfg->name),
           MD_S("from", was >= 0 ? s->ep[was].cfg->target : "none"),
           MD_S("to", to >= 0 ? s->ep[to].cfg->target : "none"), MD_I("from_index", was), MD_I("to_index", to));
    md_monitor_touch(s->f->mon);
}

/* ep_result folds one result into e's breaker; md_breaker_record is passed in via src. */
static void ep_result(md_fo_endpoint *e, md_breaker_source src, bool ok)
{
    md_fo_service *s = e->svc;
    bool changed = md_breaker_record(&e->br, src, ok, md__fo_now_ms());
    if (changed) {
        md_log(e->br.state == MD_BREAKER_CLOSED ? MD_LOG_INFO : MD_LOG_WARN, "breaker",
               MD_S("service", s->cfg->name), MD_S("endpoint", e->cfg->target),
               MD_S("state", md_breaker_state_name(e->br.state)),
               MD_S("by", src == MD_BREAKER_PROBE ? "probe" : "traffic"), MD_I("open_ms", e->br.period_ms));
        /* Live traffic found the primary failing before its checks did: check it now, so the
         * service's health (what remediation acts on) learns without waiting an interval. */
        if (e == &s->ep[0] && e->br.state == MD_BREAKER_OPEN && src == MD_BREAKER_TRAFFIC)
            md_monitor_check_now(s->f->mon, s->index);
        md_monitor_touch(s->f->mon);
    }
    md__fo_refresh(s);
    if (changed && e->br.state == MD_BREAKER_OPEN && s->proxy)
        md__fo_proxy_endpoint_opened(s->proxy, e);
}

void md__fo_traffic(md_fo_endpoint *e, bool ok)
{
    if (ok)
        e->traffic_ok++;
    else
        e->traffic_failed++;
    ep_result(e, MD_BREAKER_TRAFFIC, ok);
}

static void probe_result(md_fo_endpoint *e, const md_check_result *r)
{
    e->probes++;
    if (r->err != MD_ERR_NONE)
        e->probes_failed++;
    e->last_err = r->err;
    e->last_latency_ms = r->latency_us / 1000.0;
    ep_result(e, MD_BREAKER_PROBE, r->err == MD_ERR_NONE);
}

void md_failover_check_result(void *ctx, size_t i, const md_check_result *r)
{
    md_failover *f = ctx;
    /* n_svc first: this runs after every check, and with no failover configured (most nodes) the
     * lookup in by_index was a cache miss a check at 10,000 services (perf: 0.6% of the node). */
    if (f->n_svc == 0 || f->closing || i >= f->cfg->n_services || f->by_index[i] == SIZE_MAX)
        return;
    probe_result(&f->svc[f->by_index[i]].ep[0], r);
}

/* ---- probing the backups ---- */

static void on_probe_done(void *ctx, const md_check_result *r, const md_probe_extra *x)
{
    (void)x;
    md_fo_endpoint *e = ctx;
    e->probe_handle = NULL;
    probe_result(e, r);
}

static void probe_endpoint(md_failover *f, md_fo_endpoint *e)
{
    const md_service_config *c = e->svc->cfg;
    md_probe_request req;
    memset(&req, 0, sizeof req);
    req.kind = c->kind;
    req.url = c->kind == MD_CHECK_HTTP ? e->cfg->target : NULL;
    req.method = c->method;
    req.expect_status = c->expect_status;
    req.expect_body = c->expect_body;
    req.headers = c->headers;
    req.n_headers = c->n_headers;
    req.tls_verify = c->tls_verify;
    req.ca_file = c->ca_file;
    req.keepalive = c->keepalive; /* a kept-alive connection is the warm path traffic takes */
    req.tcp_host = e->cfg->host;
    req.tcp_port = e->cfg->port;
    req.timeout_ms = c->timeout_ms;
    req.dns_cache_ms = c->failover->proxy_listen ? c->failover->proxy_resolve_ms : 0;
    int rc = md_probe_start(f->prober, &req, on_probe_done, e, &e->probe_handle);
    if (rc < 0) {
        e->probe_handle = NULL;
        md_log(MD_LOG_ERROR, "endpoint_probe_not_started", MD_S("service", c->name),
               MD_S("endpoint", e->cfg->target), MD_S("error", strerror(-rc)));
    }
}

static void on_probe_timer(uv_timer_t *t)
{
    md_fo_service *s = t->data;
    for (size_t i = 1; i < s->n; i++) /* the monitor checks the primary */
        if (!s->ep[i].probe_handle)
            probe_endpoint(s->f, &s->ep[i]);
    if (s->proxy) /* addresses kept fresh ahead of connections, not only when one needs them */
        for (size_t i = 0; i < s->n; i++)
            md__fo_resolve_maybe(&s->ep[i]);
    md__fo_refresh(s);
}

/* ---- the view ---- */

static int64_t to_wall(int64_t mono_ms, int64_t now_mono, int64_t now_wall)
{
    return now_wall - (now_mono - mono_ms);
}

static int fill_service(md_fo_service *s, md_view *v, md_view_service *o)
{
    int64_t mono = md__fo_now_ms(), wall = md_wall_ms();
    md__fo_refresh(s);
    md_view_failover *f = md_view_calloc(v, sizeof *f);
    if (!f)
        return -ENOMEM;
    o->failover = f;
    f->n_endpoints = s->n;
    f->endpoints = md_view_calloc(v, s->n * sizeof *f->endpoints);
    if (!f->endpoints)
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        const md_fo_endpoint *e = &s->ep[i];
        md_view_endpoint *ve = &f->endpoints[i];
        char masked[1024];
        md_config_mask(s->f->cfg, e->cfg->target, masked, sizeof masked);
        ve->target = md_view_strdup(v, masked);
        ve->breaker = md_breaker_state_name(e->br.state);
        ve->breaker_since_ms = to_wall(e->br.since_ms, mono, wall);
        ve->half_open_at_ms = e->br.state == MD_BREAKER_OPEN ? to_wall(e->br.open_until_ms, mono, wall) : 0;
        ve->open_period_ms = e->br.period_ms;
        ve->opens = e->br.opens;
        ve->probes = e->probes;
        ve->probes_failed = e->probes_failed;
        ve->traffic_ok = e->traffic_ok;
        ve->traffic_failed = e->traffic_failed;
        ve->last_err = e->last_err;
        ve->last_latency_ms = e->last_latency_ms;
        if (!ve->target)
            return -ENOMEM;
    }
    f->active_endpoint = s->active.index;
    f->active_since_ms = to_wall(s->active.since_ms, mono, wall);
    f->failovers = s->active.switches;
    if (s->proxy) {
        if (!(f->proxy = md_view_calloc(v, sizeof *f->proxy)))
            return -ENOMEM;
        md__fo_proxy_view(s->proxy, f->proxy);
        if (!(f->proxy->listen = md_view_strdup(v, s->cfg->failover->proxy_listen)))
            return -ENOMEM;
    }
    return 0;
}

int md_failover_fill_view(void *ctx, md_view *v)
{
    md_failover *f = ctx;
    for (size_t k = 0; k < f->n_svc; k++) {
        md_fo_service *s = &f->svc[k];
        if (s->index >= v->n_services)
            continue;
        int rc = fill_service(s, v, &v->services[s->index]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- lifecycle ---- */

static int init_service(md_failover *f, md_fo_service *s, size_t index, char *err, size_t errlen)
{
    const md_service_config *c = &f->cfg->services[index];
    const md_service_failover *fo = c->failover;
    md_breaker_params bp = {.failures = fo->breaker_failures, .successes = fo->breaker_successes,
                            .open_ms = fo->breaker_open_ms, .open_max_ms = fo->breaker_open_max_ms};
    int64_t now = md__fo_now_ms();
    s->f = f;
    s->index = index;
    s->cfg = c;
    s->n = c->failover->n_endpoints;
    if (!(s->ep = calloc(s->n, sizeof *s->ep)))
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        md_fo_endpoint *e = &s->ep[i];
        e->svc = s;
        e->cfg = &c->failover->endpoints[i];
        md_breaker_init(&e->br, &bp, now);
        if (c->failover->proxy_listen && md__fo_resolve_start(e) < 0) {
            /* At start only (blocking): a name that never resolved is a configuration error;
             * later resolutions run in the background (resolve.c). */
            snprintf(err, errlen, "services[%zu].endpoints[%zu]: cannot resolve %s", index, i, e->cfg->host);
            return -ENOENT;
        }
    }
    md_active_init(&s->active, now);
    return 0;
}

static void free_all(md_failover *f)
{
    for (size_t k = 0; k < f->n_svc; k++)
        free(f->svc[k].ep);
    if (f->prober)
        md_prober_free(f->prober);
    free(f->svc);
    free(f->by_index);
    free(f);
}

int md_failover_new(uv_loop_t *loop, const md_config *cfg, md_curl_loop *cl, md_monitor *mon,
                    md_failover **out, char *err, size_t errlen)
{
    md_failover *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->loop = loop;
    f->cfg = cfg;
    f->mon = mon;
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_services; i++)
        n += cfg->services[i].failover->n_endpoints > 0;
    f->svc = calloc(n ? n : 1, sizeof *f->svc);
    f->by_index = malloc((cfg->n_services ? cfg->n_services : 1) * sizeof *f->by_index);
    f->prober = md_prober_new(loop, cl);
    if (!f->svc || !f->by_index || !f->prober) {
        free_all(f);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_services; i++) {
        f->by_index[i] = SIZE_MAX;
        if (cfg->services[i].failover->n_endpoints == 0)
            continue;
        f->by_index[i] = f->n_svc;
        int rc = init_service(f, &f->svc[f->n_svc++], i, err, errlen);
        if (rc < 0) {
            free_all(f); /* no handle exists yet */
            return rc;
        }
    }
    /* Handles from here on: freed through md_failover_close only. */
    for (size_t k = 0; k < f->n_svc; k++) {
        md_fo_service *s = &f->svc[k];
        uv_timer_init(loop, &s->probe_timer);
        s->probe_timer.data = s;
        f->open_handles++;
        if (s->cfg->failover->proxy_listen) {
            int rc = md__fo_proxy_new(s);
            if (rc < 0) {
                md_failover_close(f, NULL, NULL);
                return rc;
            }
        }
    }
    *out = f;
    return 0;
}

int md_failover_start(md_failover *f, char *err, size_t errlen)
{
    for (size_t k = 0; k < f->n_svc; k++) {
        md_fo_service *s = &f->svc[k];
        uint64_t every = (uint64_t)s->cfg->interval_ms;
        int rc = uv_timer_start(&s->probe_timer, on_probe_timer, 0, every);
        if (rc == 0 && s->proxy)
            rc = md__fo_proxy_start(s->proxy, err, errlen);
        if (rc < 0)
            return rc;
        md_log(MD_LOG_INFO, "failover_started", MD_S("service", s->cfg->name), MD_I("endpoints", s->n),
               MD_S("proxy", s->cfg->failover->proxy_listen ? s->cfg->failover->proxy_listen : "none"));
    }
    return 0;
}

void md__fo_release(md_failover *f)
{
    assert(f->open_handles > 0);
    if (--f->open_handles > 0)
        return;
    void (*done)(void *) = f->done;
    void *arg = f->done_arg;
    free_all(f);
    if (done)
        done(arg);
}

static void on_timer_closed(uv_handle_t *h)
{
    md__fo_release(h->data);
}

void md_failover_close(md_failover *f, void (*done)(void *arg), void *arg)
{
    assert(!f->closing);
    f->closing = true;
    f->done = done;
    f->done_arg = arg;
    if (f->prober)
        md_prober_free(f->prober); /* cancels running probes without callbacks */
    f->prober = NULL;
    if (f->open_handles == 0) {
        free_all(f);
        if (done)
            done(arg);
        return;
    }
    for (size_t k = 0; k < f->n_svc; k++) {
        md_fo_service *s = &f->svc[k];
        uv_timer_stop(&s->probe_timer);
        s->probe_timer.data = f;
        uv_close((uv_handle_t *)&s->probe_timer, on_timer_closed);
        if (s->proxy)
            md__fo_proxy_close(s->proxy);
        for (size_t i = 0; i < s->n; i++)
            md__fo_resolve_cancel(&s->ep[i]);
    }
}
