/* probe.h: checking services: the prober (one HTTP(S) or TCP check at a time per caller, on
 * the loop) and the monitor (every service's schedule, its health, and the views readers get). */
#ifndef MD_PROBE_H
#define MD_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "health/health.h"
#include "base/base.h"
#include "view/view.h"

/* Runs one HTTP(S) or TCP check at a time per caller, asynchronously on the loop.
 * Knows nothing of services or health: it takes a request and reports one md_check_result. */

typedef struct md_prober md_prober;

/* What to check. Every pointer is borrowed and must stay valid until the callback runs
 * (they normally point into the md_config). */
typedef struct {
    /* Small fields first, together: a waiting check holds a copy of this, and with 10,000
     * services most of them may wait at once (the padding of the old order was 40 bytes). */
    md_check_kind kind;
    int expect_status;        /* 0: any 2xx */
    int tcp_port;             /* TCP: port */
    bool tls_verify;
    bool keepalive;
    bool want_cert;           /* HTTPS: report the peer certificate's expiry when a handshake happens */
    const char *url;          /* HTTP: the URL; TCP: unused */
    const char *method;       /* HTTP: "GET", "HEAD", ...; NULL means GET */
    const char *expect_body;  /* NULL: body not checked */
    const md_header *headers;
    size_t n_headers;
    const char *ca_file;      /* NULL: system store */
    const char *tcp_host;     /* TCP: host */
    int64_t timeout_ms;
    int64_t dns_cache_ms;     /* > 0: a host name's cached address is used this long at most (curl
                               * keeps one 60 s by default); a failover endpoint behind a proxy uses
                               * proxy.resolve_ms, so its probes follow a moved name as the proxy does */
} md_probe_request;

/* Extra facts a check may learn besides its result. */
typedef struct {
    int64_t cert_expiry_ms;   /* wall ms of the leaf certificate's notAfter; 0 if not learned */
} md_probe_extra;

/* How a check's outcome maps to md_err_class (md_probe_classify has the curl part):
 *   dns      CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY
 *   timeout  CURLE_OPERATION_TIMEDOUT (whole check or its connect took over timeout_ms)
 *   tls      CURLE_SSL_* (handshake, cipher, CA/cert/CRL files, pinning, cert status, engine),
 *            CURLE_PEER_FAILED_VERIFICATION, CURLE_USE_SSL_FAILED
 *   body     CURLE_PARTIAL_FILE (server closed mid-response); or a complete answer whose
 *            first 64 KiB lack expect_body
 *   status   a complete answer whose status is not expect_status (or not 2xx when it is 0)
 *   connect  everything else: CURLE_COULDNT_CONNECT, CURLE_GOT_NOTHING, CURLE_SEND_ERROR,
 *            CURLE_RECV_ERROR, CURLE_WEIRD_SERVER_REPLY, out of memory, ...
 * TCP checks only connect (and close at once), so they end in none, dns, timeout or connect.
 * latency_us is curl's total time (to the answer, or to the failure); at_ms is the wall clock
 * when the check finished. http_status is the last status seen, also on failures after one. */

/* Called on the loop thread exactly once per started probe (never for a cancelled one). */
typedef void (*md_probe_cb)(void *ctx, const md_check_result *result, const md_probe_extra *extra);

/* md_prober_new: a prober that runs its transfers on the given curl multi. Returns NULL on OOM. */
struct md_curl_loop;
md_prober *md_prober_new(uv_loop_t *loop, struct md_curl_loop *cl);

/* md_probe_start starts one check; cb(ctx, ...) reports it. *handle_out (may be NULL) receives
 * an id usable with md_probe_cancel until cb runs: the prober reuses it afterwards, so forget it
 * in cb. Never calls cb before returning. When max_inflight checks run, the check waits its turn
 * (its timeout starts when it runs). May be called from a probe callback.
 * Returns 0, or a negative error (-ENOMEM, -EINVAL: bad kind, no URL/host, timeout_ms <= 0). */
int md_probe_start(md_prober *p, const md_probe_request *req, md_probe_cb cb, void *ctx,
                   void **handle_out);

/* md_prober_full says whether a check started now would wait for a slot, for a caller that keeps
 * its waiting checks itself (md_prober_set_feed) rather than have the prober copy each request:
 * with 10,000 services on a saturated node nearly every service has a check waiting. When it
 * would, the prober counts a waiting check (the in-flight limit grows on that) and hands the next
 * free slot its own waiting checks have not taken to the feed. Needs a feed. */
bool md_prober_full(md_prober *p);

/* md_prober_set_feed: after md_prober_full said full, fn(ctx) runs on the loop each time a slot is
 * free and no check waits in the prober, until it returns false. Each call starts at most one
 * check with md_probe_start (which then runs at once, its timeout from then) and returns true, or
 * returns false when the caller has none waiting (then it is not asked again until the next
 * md_prober_full says full). fn may call md_prober_free. Set once, before md_prober_full. */
void md_prober_set_feed(md_prober *p, bool (*fn)(void *ctx), void *ctx);

/* md_probe_cancel stops a running or waiting check; its callback will not run. */
void md_probe_cancel(md_prober *p, void *handle);

/* md_prober_free cancels everything still running and frees the prober (not the curl loop).
 * Call it before md_curl_loop_close. May be called from a probe callback. */
void md_prober_free(md_prober *p);

/* md_prober_set_max_inflight bounds the checks running at once (default MD_PROBE_MAX_INFLIGHT),
 * which bounds the pooled curl handles and the connections a burst of checks opens. n >= 1.
 * The bound in force starts at MD_PROBE_SLOW_START and follows the loop's idle time: every 50 ms
 * it halves (not below MD_PROBE_SLOW_START) when the loop was idle less than 10% of the time,
 * and grows by MD_PROBE_SLOW_START (up to n) when checks waited for a slot while the loop was
 * idle 25% or more (a
 * saturated loop gains nothing from more checks in flight but longer latencies and timeouts;
 * slow or hung services cost no CPU while they wait, so they get the slots they need).
 * md_prober_limit says the bound in force. */
#define MD_PROBE_MAX_INFLIGHT 256
#define MD_PROBE_SLOW_START 64
void md_prober_set_max_inflight(md_prober *p, int n);
int md_prober_limit(const md_prober *p);
/* md_prober_easy_handles: curl handles in existence, running or pooled; at most twice the bound in
 * force once the checks the bound no longer covers have finished. */
int md_prober_easy_handles(const md_prober *p);
/* md_prober_checks: check records in existence (running, waiting or pooled for reuse: up to 1,024
 * kept); each is about 200 bytes with its copy of the request. */
int md_prober_checks(const md_prober *p);

/* md_probe_next_limit: the rule above, pure: the bound after a window in which the loop was idle
 * idle_share (0..1) of the time and a check waited for a slot (waited), kept within
 * [floor, max(cap, floor)]. */
int md_probe_next_limit(int limit, int floor, int cap, double idle_share, bool waited);

/* md_probe_classify maps a CURLcode (as int, so callers need not include curl.h) to its class
 * per the table above; CURLE_OK gives MD_ERR_NONE. Pure. */
md_err_class md_probe_classify(int curl_code);

/* md_probe_parse_cert_time parses curl's certificate date ("Jan  1 00:00:00 2027 GMT", or
 * "2027-01-01 00:00:00 GMT") into wall ms. Returns 0, or -EINVAL on anything else. Pure. */
int md_probe_parse_cert_time(const char *s, int64_t *ms_out);

/* The node's probe scheduler and per-service state, owned by the loop thread.
 *
 * It runs every service's checks on a fixed start-to-start cadence (never two checks of one
 * service at once), feeds results to the health state machine, logs every state change once,
 * runs pre-warm requests, builds views for readers and hands them to the status printer. */

typedef struct md_monitor md_monitor;

/* md_monitor_new prepares a monitor for cfg (borrowed: must outlive the monitor) on loop,
 * probing through cl (borrowed), and building views into holder (borrowed), lazily: a new view
 * is built when a reader asks and something changed, at most every 100 ms. Returns 0 or -ENOMEM. */
int md_monitor_new(uv_loop_t *loop, const md_config *cfg, md_curl_loop *cl, md_view_holder *holder,
                   md_monitor **out);

/* md_monitor_set_health_sink: fn(ctx, i, h) runs after every check of service i with its health
 * (borrowed for the call); the daemon hands it to the cluster view. */
void md_monitor_set_health_sink(md_monitor *m, void (*fn)(void *ctx, size_t i, const md_health *h), void *ctx);

/* md_monitor_set_result_sink: fn(ctx, i, r) runs after every check of service i with its result
 * (borrowed for the call); the daemon hands it to failover, whose primary breaker it feeds. */
void md_monitor_set_result_sink(md_monitor *m, void (*fn)(void *ctx, size_t i, const md_check_result *r),
                                void *ctx);

/* md_monitor_check_now starts a check of service i at once (unless one runs), outside its
 * cadence, which goes on as before: failover calls it when live traffic opens the primary's
 * breaker, so the service's health (and remediation) learn of it without waiting an interval. */
void md_monitor_check_now(md_monitor *m, size_t i);

/* md_monitor_add_view_part: every view the monitor builds is also filled by fill(ctx, v) (the
 * cluster's nodes and verdicts, remediation state), in the order added; a part that fails
 * (returns < 0) drops that view. At most MD_MONITOR_VIEW_PARTS; returns 0 or -ENOSPC. */
#define MD_MONITOR_VIEW_PARTS 4
typedef int (*md_view_part_fn)(void *ctx, md_view *v);
int md_monitor_add_view_part(md_monitor *m, md_view_part_fn fill, void *ctx);

/* md_monitor_set_status_printer: every status_print_interval_ms the monitor fills a view of its own
 * for the status block, MD_STATUS_SLICE services per loop turn (the monitor's fields, and the part
 * set with md_monitor_set_status_part once all are filled), then calls fn(ctx, v, from) with from 0,
 * and again on later turns with the index fn returned, until fn returns v->n_services: a printer
 * prints a slice of the services per call. So 100,000 services never hold the loop for seconds.
 * v is borrowed for the call; a block that has not finished when the next is due skips that one. */
#define MD_STATUS_SLICE 1000
typedef size_t (*md_status_printer_fn)(void *ctx, const md_view *v, size_t from);
/* md_monitor_set_status_part: the one view part the status block shows (failover's endpoints). */
void md_monitor_set_status_part(md_monitor *m, md_view_part_fn fill, void *ctx);
void md_monitor_set_status_printer(md_monitor *m, md_status_printer_fn fn, void *ctx);

/* md_monitor_check_soon: a peer (index < MD_EARLY_MAX_PEERS, as the caller numbers them) saw
 * service svc fail: check it at once. Bounded to one such check per service per interval per
 * peer. Returns 0 when queued, -EALREADY when a check is running or queued or our own retry is
 * due (the allowance is not spent), -EAGAIN when the peer's allowance is spent, -EINVAL for a
 * peer index out of range, -ENOMEM when the per-service gate (allocated at the first ask) cannot
 * be. Never starts the check before returning. */
int md_monitor_check_soon(md_monitor *m, size_t svc, size_t peer);

/* md_monitor_touch marks what readers see as changed (m is a md_monitor; the signature fits
 * md_cluster_set_on_change). */
void md_monitor_touch(void *m);

/* md_monitor_start schedules the first check of every service (jittered within its interval,
 * capped at 10 s, so a large config does not burst at start). Returns 0 or a negative uv error. */
int md_monitor_start(md_monitor *m);

/* md_monitor_close cancels running checks, stops its timers and frees the monitor once its
 * handles are closed; done(arg) runs then (may be NULL). */
void md_monitor_close(md_monitor *m, void (*done)(void *arg), void *arg);

#endif
