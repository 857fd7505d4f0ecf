/* monitor.c: schedules every service's checks and pre-warm requests on one timer and a schedule,
 * folds results into health, logs changes, and builds views when readers ask. */
#include "probe.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "health/health.h"
#include "sched.h"

#define TICK_STARTS_MAX 500 /* checks started in one loop turn */
#define VIEW_MIN_GAP_US 100000 /* readers see state at most this old */
#define WANTS_FOR_US (30 * 1000000LL) /* after a reader asked for histories (or the incidents) */
#define N_WANTS 2                    /* MD_VIEW_WANT_HISTORIES, MD_VIEW_WANT_INCIDENTS */
#define FIRST_CHECK_JITTER_CAP_MS 10000
#define CERT_WARN_REPEAT_MS (24LL * 3600 * 1000)
#define CERT_RELEARN_MS (3600LL * 1000)
#define DAY_MS (24LL * 3600 * 1000)

/* EV_CHECK and EV_PREWARM recur at their interval; EV_EARLY (a retry after a failure, or a check
 * a peer asked for) runs once, and each service has at most one queued. */
enum { EV_CHECK = 0, EV_PREWARM = 1, EV_EARLY = 2 };


typedef struct svc_rt {
    md_monitor *m;
    const md_service_config *cfg;
    void *check_handle;   /* non-NULL while a check runs: checks of one service never overlap */
    void *prewarm_handle; /* likewise for pre-warm requests */
    int64_t cert_expiry_ms;
    uint32_t cert_learned_s;  /* wall seconds (to 2106), 0 = never: minutes matter here */
    uint32_t cert_warned_s;
    bool early_queued;    /* an EV_EARLY of this service is in the schedule */
    bool check_waiting;   /* in the monitor's queue of checks waiting for a prober slot: as good
                           * as running for "never two at once" */
    uint32_t wait_next;   /* the next service in that queue, NO_SVC at its end (these three sit
                           * in what was padding: a waiting check costs no byte of its own) */
    md_early_gate *gate;  /* early checks granted to each asking peer; allocated at the first
                           * ask (128 bytes a service that a cluster of one never asks for) */
    double dur_sum_s;
    md_counts counts;     /* results by class, durations by bucket (not cumulative; their count is
                           * the results'), pre-warm requests: C_* below */
    const char *cause;    /* the last change's cause: malloc'd and owned, or a static text */
    md_health health;
} svc_rt;

#define NO_SVC UINT32_MAX
/* One a service: 424 bytes on LP64 with md_health (the waiting queue's fields took padding). */
_Static_assert(sizeof(void *) != 8 || sizeof(svc_rt) <= 424, "svc_rt grew");

/* The counters in the view's order, so a view copies them as they are. */
enum {
    C_RESULT = MD_VIEW_C_RESULT,                /* + md_err_class */
    C_DUR = MD_VIEW_C_DUR,                      /* + duration bucket */
    C_PREWARM = MD_VIEW_C_PREWARM,
    C_PREWARM_FAILED = MD_VIEW_C_PREWARM_FAILED,
    C_END = MD_VIEW_C_N
};
_Static_assert(C_END == MD_COUNTS_N, "md_counts holds every counter");

static const char NO_CHECK_YET[] = "no check yet";
static const char CAUSE_OOM[] = "(not kept: out of memory)";
/* The causes most services have (a healthy one's is "first check ok" for as long as it stays up):
 * kept as these static texts instead of a 32-byte copy each. */
static const char *const COMMON_CAUSES[] = {
    NO_CHECK_YET, CAUSE_OOM, "first check ok", "recovered after 1 success",
    "recovered after 2 successes", "recovered after 3 successes",
};

static bool cause_owned(const char *c)
{
    if (!c)
        return false;
    for (size_t i = 0; i < sizeof COMMON_CAUSES / sizeof COMMON_CAUSES[0]; i++)
        if (c == COMMON_CAUSES[i])
            return false;
    return true;
}

/* set_cause keeps text as s's cause: one of COMMON_CAUSES, or a copy sized to it (most causes
 * are 20-40 bytes; a fixed buffer per service would be MD_HEALTH_CAUSE_LEN). Out of memory, the
 * cause says so. */
static void set_cause(svc_rt *s, const char *text)
{
    if (cause_owned(s->cause))
        free((char *)s->cause);
    for (size_t i = 0; i < sizeof COMMON_CAUSES / sizeof COMMON_CAUSES[0]; i++) {
        if (strcmp(text, COMMON_CAUSES[i]) == 0) {
            s->cause = COMMON_CAUSES[i];
            return;
        }
    }
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    s->cause = copy ? memcpy(copy, text, n) : CAUSE_OOM;
}

struct md_monitor {
    uv_loop_t *loop;
    const md_config *cfg;
    md_curl_loop *cl;
    void (*health_sink)(void *ctx, size_t i, const md_health *h);
    void *health_sink_ctx;
    void (*result_sink)(void *ctx, size_t i, const md_check_result *r);
    void *result_sink_ctx;
    struct {
        md_view_part_fn fill;
        void *ctx;
    } parts[MD_MONITOR_VIEW_PARTS];
    size_t n_parts;
    md_status_printer_fn status_printer;
    void *status_printer_ctx;
    md_view_part_fn status_part; /* the one view part the status block shows (failover's endpoints) */
    void *status_part_ctx;
    md_view *printing;    /* the status block's own view, NULL between blocks */
    size_t fill_next;     /* the next service of it to fill; n once filled */
    size_t print_next;    /* the next service of it to print */
    md_prober *prober;
    md_view_holder *holder;
    uv_timer_t tick;
    uv_timer_t status_timer;
    uv_timer_t status_step; /* the next slice of a block being printed */
    int open_handles;
    bool closing;
    bool dirty;           /* something changed since the last view */
    bool have_view;
    unsigned view_wants;  /* what the published view holds beyond every view's (MD_VIEW_WANT_*) */
    int64_t want_until_us[N_WANTS]; /* views carry want 1 << k until then (a reader asked for it) */
    int64_t built_us;
    int64_t started_ms;
    uint64_t rng;
    size_t n;
    svc_rt *svc;
    md_trend_sample *trend_samples; /* the services' trend windows, each trend_window long */
    md_health_params *params;       /* the services' distinct health thresholds (room for n) */
    size_t n_params;
    md_sched sched;                 /* every service's next check, pre-warm and early check */
    /* Services whose check is due while the prober is full, first due first: the request is
     * built when a slot frees (md_prober_set_feed). A check queued in the prober would hold a
     * ~200-byte copy of its request, and on a saturated node nearly every service has one. */
    uint32_t wait_head, wait_tail; /* NO_SVC when empty */
    void (*done)(void *);
    void *done_arg;
};

/* mark_dirty notes a change. A view older than VIEW_MIN_GAP_US is dropped now rather than at the
 * next read: the holder would otherwise keep a whole stale picture of the node (1-2 KB a service)
 * between scrapes, and the next read would build a new one while the old still lived. Readers
 * that hold it keep it until they let go. */
static void mark_dirty(md_monitor *m)
{
    m->dirty = true;
    if (m->have_view && md_mono_us() - m->built_us >= VIEW_MIN_GAP_US) {
        md_view_holder_publish(m->holder, NULL);
        m->have_view = false;
    }
}


static uint64_t next_random(md_monitor *m)
{
    /* xorshift64*: jitter only needs to spread load, not to be unpredictable. */
    m->rng ^= m->rng >> 12;
    m->rng ^= m->rng << 25;
    m->rng ^= m->rng >> 27;
    return m->rng * 2685821657736338717ULL;
}

/* ---- results ---- */

static void record_duration(svc_rt *s, double seconds)
{
    for (int b = 0; b < MD_DURATION_BUCKETS; b++) {
        if (seconds <= md_duration_bucket_le[b]) {
            md_counts_add(&s->counts, C_DUR + (size_t)b);
            break;
        }
    }
    s->dur_sum_s += seconds;
}

static uint32_t wall_s(int64_t wall_ms)
{
    int64_t sec = wall_ms / 1000;
    return sec <= 0 ? 1 : sec >= UINT32_MAX ? UINT32_MAX : (uint32_t)sec; /* never 0: that is "never" */
}

static void note_cert(svc_rt *s, int64_t expiry_ms, int64_t now_ms)
{
    s->cert_expiry_ms = expiry_ms;
    s->cert_learned_s = wall_s(now_ms);
    int64_t left_ms = expiry_ms - now_ms;
    if (left_ms >= (int64_t)s->cfg->cert_warn_days * DAY_MS)
        return;
    if (s->cert_warned_s != 0 && (int64_t)wall_s(now_ms) - s->cert_warned_s < CERT_WARN_REPEAT_MS / 1000)
        return;
    s->cert_warned_s = wall_s(now_ms);
    char when[40];
    md_format_time_ms(expiry_ms, when, sizeof when);
    md_log(MD_LOG_WARN, "cert_expiring", MD_S("service", s->cfg->name), MD_S("expires_at", when),
           MD_D("days_left", (double)left_ms / DAY_MS), MD_I("warn_days", s->cfg->cert_warn_days));
}

static md_log_level change_level(md_state to)
{
    return (to == MD_STATE_DOWN || to == MD_STATE_DEGRADED) ? MD_LOG_WARN : MD_LOG_INFO;
}

static void rearm(md_monitor *m);

/* queue_early queues s's one-shot check delay_us from now unless one is queued already. */
static void queue_early(md_monitor *m, svc_rt *s, int64_t delay_us)
{
    if (s->early_queued || m->closing)
        return;
    s->early_queued = true;
    md_sched_push(&m->sched, (md_sched_ev){ .due_us = md_mono_us() + delay_us, .svc = (uint32_t)(s - m->svc), .kind = EV_EARLY });
    rearm(m);
}

static void on_check_done(void *ctx, const md_check_result *r, const md_probe_extra *x)
{
    svc_rt *s = ctx;
    md_monitor *m = s->m;
    assert(s->check_handle != NULL);
    s->check_handle = NULL;
    md_counts_add(&s->counts, C_RESULT + (size_t)(r->err < MD_ERR_COUNT ? r->err : MD_ERR_CONNECT));
    record_duration(s, r->latency_us / 1e6);
    if (x && x->cert_expiry_ms > 0)
        note_cert(s, x->cert_expiry_ms, r->at_ms);

    md_health_change ch;
    bool moved = md_health_observe(&s->health, r, &ch);
    if (m->health_sink)
        m->health_sink(m->health_sink_ctx, (size_t)(s - m->svc), &s->health);
    if (m->result_sink)
        m->result_sink(m->result_sink_ctx, (size_t)(s - m->svc), r);
    if (moved) {
        set_cause(s, ch.cause);
        md_log(change_level(ch.to), "state_change", MD_S("service", s->cfg->name),
               MD_S("from", md_state_name(ch.from)), MD_S("to", md_state_name(ch.to)),
               MD_S("cause", ch.cause), MD_D("latency_ms", r->latency_us / 1000.0),
               MD_S("error", md_err_name(r->err)), MD_I("http_status", r->http_status));
    } else {
        md_log(MD_LOG_DEBUG, "check", MD_S("service", s->cfg->name), MD_S("result", md_err_name(r->err)),
               MD_D("latency_ms", r->latency_us / 1000.0), MD_I("http_status", r->http_status));
    }
    int64_t next_ms = md_health_next_delay_ms(&s->health, s->cfg->interval_ms, s->cfg->retry_interval_ms);
    if (next_ms < s->cfg->interval_ms)
        queue_early(m, s, next_ms * 1000);
    mark_dirty(m);
}

static void on_prewarm_done(void *ctx, const md_check_result *r, const md_probe_extra *x)
{
    (void)x;
    svc_rt *s = ctx;
    s->prewarm_handle = NULL;
    md_counts_add(&s->counts, C_PREWARM);
    if (r->err != MD_ERR_NONE) {
        md_counts_add(&s->counts, C_PREWARM_FAILED);
        md_log(MD_LOG_DEBUG, "prewarm_failed", MD_S("service", s->cfg->name),
               MD_S("error", md_err_name(r->err)), MD_I("http_status", r->http_status));
    }
    mark_dirty(s->m);
}

static void fill_request(const md_service_config *c, md_probe_request *req)
{
    memset(req, 0, sizeof *req);
    req->kind = c->kind;
    req->url = c->url;
    req->method = c->method;
    req->expect_status = c->expect_status;
    req->expect_body = c->expect_body;
    req->headers = c->headers;
    req->n_headers = c->n_headers;
    req->tls_verify = c->tls_verify;
    req->ca_file = c->ca_file;
    req->keepalive = c->keepalive;
    req->tcp_host = c->tcp_host;
    req->tcp_port = c->tcp_port;
    req->timeout_ms = c->timeout_ms;
    req->dns_cache_ms = c->failover->proxy_listen ? c->failover->proxy_resolve_ms : 0;
}

/* run_check starts s's check on the prober now (a slot is free, or it waits there). */
static void run_check(md_monitor *m, svc_rt *s)
{
    assert(!s->check_handle && !s->check_waiting);
    md_probe_request req;
    fill_request(s->cfg, &req);
    /* The clock only for HTTPS: no clock read per plain check. */
    req.want_cert = s->cfg->url && strncmp(s->cfg->url, "https:", 6) == 0 &&
                    (s->cert_learned_s == 0 || (int64_t)wall_s(md_wall_ms()) - s->cert_learned_s >= CERT_RELEARN_MS / 1000);
    int rc = md_probe_start(m->prober, &req, on_check_done, s, &s->check_handle);
    if (rc < 0) {
        s->check_handle = NULL;
        md_log(MD_LOG_ERROR, "check_not_started", MD_S("service", s->cfg->name), MD_S("error", strerror(-rc)));
    }
}

static void wait_push(md_monitor *m, svc_rt *s)
{
    assert(!s->check_waiting);
    uint32_t i = (uint32_t)(s - m->svc);
    s->check_waiting = true;
    s->wait_next = NO_SVC;
    if (m->wait_head == NO_SVC)
        m->wait_head = i;
    else
        m->svc[m->wait_tail].wait_next = i;
    m->wait_tail = i;
}

/* feed_check: the prober has a free slot (md_prober_set_feed): the longest waiting check takes it. */
static bool feed_check(void *ctx)
{
    md_monitor *m = ctx;
    if (m->wait_head == NO_SVC)
        return false;
    svc_rt *s = &m->svc[m->wait_head];
    assert(s->check_waiting);
    m->wait_head = s->wait_next;
    s->check_waiting = false;
    if (m->wait_head != NO_SVC) {
        /* The next in line's config, which its request is built from, is out of the cache at
         * 10,000 services: ask for it now, one check start ahead of its own. */
        const md_service_config *next = &m->cfg->services[m->wait_head];
        __builtin_prefetch(next);
        __builtin_prefetch((const char *)next + offsetof(md_service_config, timeout_ms));
        __builtin_prefetch(&m->svc[m->wait_head].cert_learned_s);
    }
    run_check(m, s);
    return true;
}

static void start_check(md_monitor *m, svc_rt *s)
{
    if (s->check_handle || s->check_waiting) {
        md_log(MD_LOG_DEBUG, "check_skipped", MD_S("service", s->cfg->name),
               MD_S("reason", "previous check still running"));
        return;
    }
    /* Behind others already waiting, or the prober is full: wait in our queue, in order. */
    if (m->wait_head != NO_SVC || md_prober_full(m->prober)) {
        wait_push(m, s);
        return;
    }
    run_check(m, s);
}

static void start_prewarm(md_monitor *m, svc_rt *s)
{
    if (s->prewarm_handle)
        return;
    md_probe_request req;
    memset(&req, 0, sizeof req);
    req.kind = MD_CHECK_HTTP;
    req.url = s->cfg->prewarm_url;
    req.method = "GET";
    req.headers = s->cfg->headers;
    req.n_headers = s->cfg->n_headers;
    req.tls_verify = s->cfg->tls_verify;
    req.ca_file = s->cfg->ca_file;
    req.keepalive = true;
    req.timeout_ms = s->cfg->timeout_ms;
    int rc = md_probe_start(m->prober, &req, on_prewarm_done, s, &s->prewarm_handle);
    if (rc < 0) {
        s->prewarm_handle = NULL;
        md_log(MD_LOG_ERROR, "prewarm_not_started", MD_S("service", s->cfg->name), MD_S("error", strerror(-rc)));
    }
}

/* ---- the timer ---- */

static void on_tick(uv_timer_t *t);

static void rearm(md_monitor *m)
{
    if (m->closing || m->sched.len == 0)
        return;
    int64_t wait_us = md_sched_first(&m->sched).due_us - md_mono_us();
    if (wait_us <= 0) {
        /* Overdue already (we are behind). A timer due at the loop's current time would run
         * again in this same timer phase (libuv before 1.48), and while we stay behind the loop
         * would never get to its I/O: the API and the checks' sockets would starve. One ms
         * counted from the start of this loop turn puts it after the turn's I/O. */
        uv_timer_start(&m->tick, on_tick, 1, 0);
        return;
    }
    /* The loop's clock is from the start of this turn; refresh it so the wait is not short. */
    uv_update_time(m->loop);
    uv_timer_start(&m->tick, on_tick, (uint64_t)((wait_us + 999) / 1000), 0);
}

#define TICK_BATCH 16 /* due events taken off the schedule before any of them starts */

static void on_tick(uv_timer_t *t)
{
    md_monitor *m = t->data;
    int64_t now_us = md_mono_us(), until_us = now_us + 500;
    md_sched_ev batch[TICK_BATCH];
    /* Bounded: each event is re-queued strictly in the future, so this loop ends; and at most
     * TICK_STARTS_MAX per turn: after a stall every service may be due at once, and starting
     * 100,000 checks in one turn would stall the loop again (rearm comes back after the I/O). */
    for (int started = 0; started < TICK_STARTS_MAX;) {
        /* Up to TICK_BATCH due events come off the schedule first, each asking the CPU for its
         * service's record, and then start: at 10,000 services the records are out of the
         * cache, and on a saturated node a start only joins the waiting queue, too short a step
         * to hide the next record's load behind (perf: the tick stood on that load, 2.4% of
         * the node's time). Re-queued before any starts, as a start may queue events. */
        int n = 0;
        while (n < TICK_BATCH && started + n < TICK_STARTS_MAX && m->sched.len > 0) {
            md_sched_ev ev = md_sched_first(&m->sched);
            if (ev.due_us > until_us)
                break;
            if (ev.kind == EV_EARLY) {
                (void)md_sched_pop(&m->sched); /* one-shot: the regular cadence stays as it was */
            } else {
                /* Start-to-start cadence; after a stall (SIGSTOP, a busy loop) skip missed slots
                 * instead of firing a burst. The period travels in the event: reading it from
                 * the config was another cache miss a check. */
                int64_t period_us = (int64_t)ev.period_ms * 1000;
                assert(period_us > 0);
                int64_t due_us = ev.due_us + period_us;
                if (due_us <= now_us)
                    due_us += ((now_us - due_us) / period_us + 1) * period_us;
                md_sched_requeue_first(&m->sched, due_us);
            }
            const svc_rt *s = &m->svc[ev.svc];
            __builtin_prefetch(s);
            __builtin_prefetch(&s->wait_next); /* the fields a start reads end here */
            batch[n++] = ev;
        }
        if (n == 0)
            break;
        for (int k = 0; k < n; k++) {
            svc_rt *s = &m->svc[batch[k].svc];
            if (batch[k].kind == EV_EARLY) {
                assert(s->early_queued);
                s->early_queued = false;
                start_check(m, s);
            } else if (batch[k].kind == EV_CHECK) {
                start_check(m, s);
            } else {
                start_prewarm(m, s);
            }
        }
        started += n;
    }
    rearm(m);
}

/* ---- views ---- */

/* full: the view holds the services' histories. Returns false when one did not fit in memory. */
static bool fill_snap_service(md_monitor *m, md_view *snap, md_view_service *o, const svc_rt *s,
                              bool full, int64_t now_ms)
{
    const md_service_config *c = s->cfg;
    const md_health *h = &s->health;
    char masked[1024];
    /* The config outlives every view (no reload; the daemon frees it after the holder and the
     * API): its strings are referenced, not copied into each view. */
    o->name = c->name;
    o->kind = c->kind == MD_CHECK_TCP ? "tcp" : "http";
    if (c->kind == MD_CHECK_TCP) {
        char hp[300];
        snprintf(hp, sizeof hp, "%s:%d", c->tcp_host, c->tcp_port);
        md_config_mask(m->cfg, hp, masked, sizeof masked);
        o->target = md_view_strdup(snap, masked);
    } else {
        md_config_mask(m->cfg, c->url, masked, sizeof masked);
        o->target = strcmp(masked, c->url) == 0 ? c->url : md_view_strdup(snap, masked);
    }
    o->state = h->state;
    o->state_since_ms = h->state_since_ms;
    /* A static cause outlives every view: no copy. */
    o->state_cause = cause_owned(s->cause) ? md_view_strdup(snap, s->cause) : s->cause;
    if (!o->state_cause)
        o->state_cause = ""; /* out of memory: the view is still whole */
    o->consecutive_failures = h->consecutive_failures;
    o->consecutive_successes = h->consecutive_successes;
    o->uptime_hour_pct = md_health_uptime_hour_pct(h, now_ms);
    o->last_check_ms = h->last_check_ms;
    o->last_success_ms = h->last_success_ms;
    o->last_latency_ms = h->last_latency_us / 1000.0;
    o->avg_latency_ms = md_health_avg_latency_ms(h);
    o->ewma_latency_ms = h->trend.ewma_ms;
    o->trend_slope_ms_per_s = md_trend_slope(&h->trend);
    o->trend_warning = h->trend_warning;
    o->trend_eta_ms = h->trend_eta_ms;
    o->last_err = h->last_err;
    o->last_http_status = (int16_t)(h->last_http_status > 0 && h->last_http_status < 1000 ? h->last_http_status : 0);
    o->interval_ms = (int32_t)c->interval_ms; /* the config's limit (a day) fits */
    o->timeout_ms = (int32_t)c->timeout_ms;
    o->slow_ms = (int32_t)c->slow_ms;
    o->cert_expiry_ms = s->cert_expiry_ms;
    o->cert_warning = s->cert_expiry_ms > 0 && s->cert_expiry_ms - now_ms < (int64_t)c->cert_warn_days * DAY_MS;
    memcpy(o->counts.lo, s->counts.lo, sizeof o->counts.lo);
    if (s->counts.hi) { /* a counter wrapped (years of checks) */
        uint32_t *hi = md_view_calloc(snap, MD_COUNTS_N * sizeof *hi);
        if (!hi)
            return false;
        memcpy(hi, s->counts.hi, MD_COUNTS_N * sizeof *hi);
        o->counts.hi = hi;
    }
    o->duration_sum_s = s->dur_sum_s;
    if (full)
        o->history = md_view_history(snap, &h->history);
    return !full || o->history != NULL;

}

static md_view *build_view(md_monitor *m, unsigned wants)
{
    bool full = wants & MD_VIEW_WANT_HISTORIES;
    md_view *snap = md_view_alloc(m->n);
    if (!snap)
        return NULL;
    snap->wants = wants;
    int64_t now_ms = md_wall_ms();
    snap->built_ms = now_ms;
    snap->node_id = md_view_strdup(snap, m->cfg->node_id);
    snap->node_region = md_view_strdup(snap, m->cfg->node_region);
    snap->version = MD_VERSION;
    snap->started_ms = m->started_ms;
    snap->pid = (int)getpid();
    for (size_t i = 0; i < m->n; i++) {
        if (!fill_snap_service(m, snap, &snap->services[i], &m->svc[i], full, now_ms)) {
            md_view_unref(snap);
            return NULL;
        }
    }
    for (size_t k = 0; k < m->n_parts; k++) {
        if (m->parts[k].fill(m->parts[k].ctx, snap) < 0) {
            md_view_unref(snap);
            return NULL;
        }
    }
    return snap;
}

static void refresh_view(void *ctx, unsigned wants)
{
    md_monitor *m = ctx;
    int64_t now_us = md_mono_us();
    /* Once a reader wanted histories (the dashboard polls /v1/history beside /v1/status) or the
     * incidents, every view carries them for a while: otherwise each change would build a lean
     * view for /v1/status and then a full one for /v1/history, and the page would see two new
     * ETags per change. */
    for (int k = 0; k < N_WANTS; k++) {
        if (wants & (1u << k))
            m->want_until_us[k] = now_us + WANTS_FOR_US;
        if (now_us < m->want_until_us[k])
            wants |= 1u << k;
    }
    if (m->have_view && !(wants & ~m->view_wants) && (!m->dirty || now_us - m->built_us < VIEW_MIN_GAP_US))
        return;
    /* The old view goes first, so two whole views never live at once only because of us (a reader
     * still holding the old one keeps it). Out of memory, readers get no view (503) until a
     * build succeeds. */
    md_view_holder_publish(m->holder, NULL);
    m->have_view = false;
    md_view *snap = build_view(m, wants);
    if (!snap)
        return;
    m->view_wants = wants;
    md_view_holder_publish(m->holder, snap);
    m->have_view = true;
    m->dirty = false;
    m->built_us = now_us;
}

/* The status block has a view of its own, filled MD_STATUS_SLICE services per loop turn and then
 * printed as many per turn: a whole view of 100,000 services (the cluster's votes, remediation)
 * built in one turn held the loop for seconds on a busy machine. It holds only what the block shows
 * (the monitor's fields, failover's endpoints), each service as it was when its slice was filled. */
static void on_status_step(uv_timer_t *t)
{
    md_monitor *m = t->data;
    md_view *v = m->printing;
    if (!v)
        return;
    if (m->fill_next < m->n) {
        size_t to = m->n - m->fill_next > MD_STATUS_SLICE ? m->fill_next + MD_STATUS_SLICE : m->n;
        int64_t now_ms = md_wall_ms();
        for (size_t i = m->fill_next; i < to; i++)
            (void)fill_snap_service(m, v, &v->services[i], &m->svc[i], false, now_ms);
        m->fill_next = to;
        if (to == m->n && m->status_part && m->status_part(m->status_part_ctx, v) < 0)
            m->print_next = v->n_services; /* out of memory: no block this time */
    } else {
        m->print_next = m->status_printer(m->status_printer_ctx, v, m->print_next);
    }
    if (m->print_next < v->n_services) {
        /* 1 ms, not 0: a 0 ms timer would run again in this turn's timer phase (libuv before
         * 1.48), and the point is to let the turn's I/O (heartbeats, votes) in between. */
        uv_timer_start(&m->status_step, on_status_step, 1, 0);
        return;
    }
    md_view_unref(v);
    m->printing = NULL;
}

static void on_status_timer(uv_timer_t *t)
{
    md_monitor *m = t->data;
    if (m->printing || !m->status_printer)
        return; /* the last block is still being printed */
    md_view *v = md_view_alloc(m->n);
    if (!v)
        return;
    v->built_ms = md_wall_ms();
    v->node_id = md_view_strdup(v, m->cfg->node_id);
    v->node_region = md_view_strdup(v, m->cfg->node_region);
    v->version = MD_VERSION;
    v->started_ms = m->started_ms;
    v->pid = (int)getpid();
    m->printing = v;
    m->fill_next = 0;
    m->print_next = 0;
    if (m->n == 0) { /* the header and the footer */
        m->status_printer(m->status_printer_ctx, v, 0);
        md_view_unref(v);
        m->printing = NULL;
        return;
    }
    on_status_step(&m->status_step);
}

/* ---- lifecycle ---- */

void md_monitor_set_health_sink(md_monitor *m, void (*fn)(void *ctx, size_t i, const md_health *h), void *ctx)
{
    m->health_sink = fn;
    m->health_sink_ctx = ctx;
}

void md_monitor_set_result_sink(md_monitor *m, void (*fn)(void *ctx, size_t i, const md_check_result *r),
                                void *ctx)
{
    m->result_sink = fn;
    m->result_sink_ctx = ctx;
}

void md_monitor_check_now(md_monitor *m, size_t i)
{
    assert(i < m->n);
    if (!m->closing)
        start_check(m, &m->svc[i]);
}

int md_monitor_add_view_part(md_monitor *m, md_view_part_fn fill, void *ctx)
{
    assert(fill != NULL);
    if (m->n_parts == MD_MONITOR_VIEW_PARTS)
        return -ENOSPC;
    m->parts[m->n_parts].fill = fill;
    m->parts[m->n_parts].ctx = ctx;
    m->n_parts++;
    return 0;
}

void md_monitor_set_status_part(md_monitor *m, md_view_part_fn fill, void *ctx)
{
    m->status_part = fill;
    m->status_part_ctx = ctx;
}

void md_monitor_set_status_printer(md_monitor *m, md_status_printer_fn fn, void *ctx)
{
    m->status_printer = fn;
    m->status_printer_ctx = ctx;
}

int md_monitor_check_soon(md_monitor *m, size_t svc, size_t peer)
{
    assert(svc < m->n);
    if (peer >= MD_EARLY_MAX_PEERS)
        return -EINVAL;
    svc_rt *s = &m->svc[svc];
    /* Running, queued, or our own retry is coming anyway: nothing to add, nothing spent. */
    if (m->closing || s->check_handle || s->check_waiting || s->early_queued ||
        s->health.consecutive_failures > 0)
        return -EALREADY;
    if (!s->gate && !(s->gate = calloc(1, sizeof *s->gate)))
        return -ENOMEM;
    if (!md_early_gate_allow(s->gate, peer, md_mono_us() / 1000 + 1, s->cfg->interval_ms))
        return -EAGAIN;
    md_log(MD_LOG_DEBUG, "early_check", MD_S("service", s->cfg->name), MD_S("reason", "a peer saw it fail"));
    queue_early(m, s, 0);
    return 0;
}

void md_monitor_touch(void *m)
{
    mark_dirty(m);
}

/* params_of returns the stored thresholds equal to *p, storing them first when none of the last
 * PARAMS_LOOKBACK distinct ones is. Services mostly share the defaults, so m->params (calloc'd
 * room for n, its untouched pages never resident) holds a few: 8 bytes a service instead of a
 * 40-byte copy each. Compared field by field: the struct has padding. */
#define PARAMS_LOOKBACK 16
static bool same_params(const md_health_params *a, const md_health_params *b)
{
    return a->failures_before_down == b->failures_before_down &&
           a->successes_before_up == b->successes_before_up && a->slow_ms == b->slow_ms &&
           a->trend_horizon_ms == b->trend_horizon_ms && a->trend_window == b->trend_window &&
           a->ewma_alpha == b->ewma_alpha;
}

static const md_health_params *params_of(md_monitor *m, const md_health_params *p)
{
    for (size_t k = 0; k < m->n_params && k < PARAMS_LOOKBACK; k++) {
        const md_health_params *q = &m->params[m->n_params - 1 - k];
        if (same_params(p, q))
            return q;
    }
    assert(m->n_params < (m->n ? m->n : 1));
    m->params[m->n_params] = *p;
    return &m->params[m->n_params++];
}

/* add_lanes gives the schedule a lane for each of the first MD_SCHED_LANES periods the config's
 * recurring events have (most configs have one or two: the default interval and a pre-warm's),
 * each with room for every event of its period. Returns 0 or -ENOMEM. */
static int add_lanes(md_sched *sched, const md_config *cfg)
{
    uint32_t period[MD_SCHED_LANES];
    size_t count[MD_SCHED_LANES], n = 0;
    for (size_t i = 0; i < cfg->n_services; i++) {
        const md_service_config *c = &cfg->services[i];
        int64_t p[2] = { c->interval_ms, c->prewarm && c->prewarm_url ? c->prewarm_interval_ms : 0 };
        for (int k = 0; k < 2 && p[k] > 0; k++) {
            size_t j = 0;
            while (j < n && period[j] != (uint32_t)p[k])
                j++;
            if (j == n && n < MD_SCHED_LANES) {
                period[n] = (uint32_t)p[k];
                count[n++] = 0;
            }
            if (j < n)
                count[j]++;
        }
    }
    for (size_t j = 0; j < n; j++) {
        int rc = md_sched_add_lane(sched, period[j], count[j]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int md_monitor_new(uv_loop_t *loop, const md_config *cfg, md_curl_loop *cl, md_view_holder *holder,
                   md_monitor **out)
{
    md_monitor *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->loop = loop;
    m->cfg = cfg;
    m->cl = cl;
    m->holder = holder;
    m->n = cfg->n_services;
    m->started_ms = md_wall_ms();
    m->rng = (uint64_t)md_mono_us() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    m->svc = calloc(m->n ? m->n : 1, sizeof *m->svc);
    size_t n_samples = 0; /* every service's trend window, in one block */
    for (size_t i = 0; i < m->n; i++)
        n_samples += (size_t)cfg->services[i].trend_window;
    m->trend_samples = calloc(n_samples ? n_samples : 1, sizeof *m->trend_samples);
    m->params = calloc(m->n ? m->n : 1, sizeof *m->params);
    int sched_rc = md_sched_init(&m->sched, 3 * (m->n ? m->n : 1)); /* a check, a pre-warm and an early check each */
    if (sched_rc == 0)
        sched_rc = add_lanes(&m->sched, cfg);
    m->wait_head = m->wait_tail = NO_SVC;
    m->prober = md_prober_new(loop, cl);
    if (m->prober) {
        md_prober_set_max_inflight(m->prober, cfg->max_concurrent_checks);
        md_prober_set_feed(m->prober, feed_check, m);
    }
    if (!m->svc || !m->trend_samples || !m->params || sched_rc != 0 || !m->prober) {
        if (m->prober)
            md_prober_free(m->prober);
        free(m->svc);
        free(m->trend_samples);
        free(m->params);
        md_sched_free(&m->sched);
        free(m);
        return -ENOMEM;
    }
    n_samples = 0;
    for (size_t i = 0; i < m->n; i++) {
        svc_rt *s = &m->svc[i];
        const md_service_config *c = &cfg->services[i];
        s->m = m;
        s->cfg = c;
        md_health_params p = {
            .failures_before_down = c->failures_before_down,
            .successes_before_up = c->successes_before_up,
            .slow_ms = c->slow_ms,
            .trend_horizon_ms = c->trend_horizon_ms,
            .trend_window = c->trend_window,
            .ewma_alpha = c->ewma_alpha,
        };
        md_health_init(&s->health, m->trend_samples + n_samples, params_of(m, &p), m->started_ms);
        n_samples += (size_t)c->trend_window;
        s->cause = NO_CHECK_YET;
    }
    uv_timer_init(loop, &m->tick);
    uv_timer_init(loop, &m->status_timer);
    uv_timer_init(loop, &m->status_step);
    m->tick.data = m;
    m->status_timer.data = m;
    m->status_step.data = m;
    m->open_handles = 3;
    m->dirty = true;
    md_view_holder_set_refresh(holder, refresh_view, m);
    *out = m;
    return 0;
}

int md_monitor_start(md_monitor *m)
{
    int64_t now_us = md_mono_us();
    for (size_t i = 0; i < m->n; i++) {
        const md_service_config *c = m->svc[i].cfg;
        /* The config bounds both to a day. */
        assert(c->interval_ms > 0 && c->interval_ms <= MD_SCHED_PERIOD_MAX_MS);
        assert(!c->prewarm || (c->prewarm_interval_ms > 0 && c->prewarm_interval_ms <= MD_SCHED_PERIOD_MAX_MS));
        int64_t cap_ms = c->interval_ms < FIRST_CHECK_JITTER_CAP_MS ? c->interval_ms : FIRST_CHECK_JITTER_CAP_MS;
        int64_t jitter_us = (int64_t)(next_random(m) % (uint64_t)(cap_ms * 1000));
        md_sched_push(&m->sched, (md_sched_ev){ .due_us = now_us + jitter_us, .svc = (uint32_t)i,
                                                .period_ms = (uint32_t)c->interval_ms, .kind = EV_CHECK });
        if (c->prewarm && c->prewarm_url) {
            int64_t pcap_ms = c->prewarm_interval_ms < FIRST_CHECK_JITTER_CAP_MS ? c->prewarm_interval_ms
                                                                                 : FIRST_CHECK_JITTER_CAP_MS;
            int64_t pj_us = (int64_t)(next_random(m) % (uint64_t)(pcap_ms * 1000));
            md_sched_push(&m->sched, (md_sched_ev){ .due_us = now_us + pj_us, .svc = (uint32_t)i,
                                                    .period_ms = (uint32_t)c->prewarm_interval_ms, .kind = EV_PREWARM });
        }
    }
    rearm(m);
    if (m->cfg->status_print_interval_ms > 0) {
        uint64_t every = (uint64_t)m->cfg->status_print_interval_ms;
        int rc = uv_timer_start(&m->status_timer, on_status_timer, every, every);
        if (rc < 0)
            return rc;
    }
    md_log(MD_LOG_INFO, "monitor_started", MD_I("services", m->n));
    return 0;
}

/* free_services frees what each service allocated on its own. */
static void free_services(md_monitor *m)
{
    for (size_t i = 0; i < m->n; i++) {
        svc_rt *s = &m->svc[i];
        if (cause_owned(s->cause))
            free((char *)s->cause);
        free(s->gate);
        md_health_free(&s->health);
        md_counts_free(&s->counts);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    md_monitor *m = h->data;
    if (--m->open_handles > 0)
        return;
    void (*done)(void *) = m->done;
    void *arg = m->done_arg;
    free_services(m);
    md_sched_free(&m->sched);
    free(m->svc);
    free(m->trend_samples);
    free(m->params);
    free(m);
    if (done)
        done(arg);
}

void md_monitor_close(md_monitor *m, void (*done)(void *arg), void *arg)
{
    assert(!m->closing);
    m->closing = true;
    m->done = done;
    m->done_arg = arg;
    md_view_holder_set_refresh(m->holder, NULL, NULL);
    /* Freeing the prober cancels its running checks without callbacks. */
    md_prober_free(m->prober);
    m->prober = NULL;
    uv_timer_stop(&m->tick);
    uv_timer_stop(&m->status_timer);
    uv_timer_stop(&m->status_step);
    if (m->printing) {
        md_view_unref(m->printing);
        m->printing = NULL;
    }
    uv_close((uv_handle_t *)&m->tick, on_handle_closed);
    uv_close((uv_handle_t *)&m->status_timer, on_handle_closed);
    uv_close((uv_handle_t *)&m->status_step, on_handle_closed);
}
