/* failover_int.h: failover's private state, shared by failover.c (breakers, probes, views) and
 * proxy.c (the TCP proxy). */
#ifndef MD_FAILOVER_INT_H
#define MD_FAILOVER_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "breaker/breaker.h"
#include "failover.h"

typedef struct md_fo_proxy md_fo_proxy;
typedef struct md_fo_service md_fo_service;

#define MD_FO_ADDRS 4           /* addresses of one endpoint the proxy tries, in order */

typedef struct {
    md_fo_service *svc;
    const md_endpoint_config *cfg;
    /* The proxy's addresses (resolve.c): an IP literal once; a host name at start, then again in
     * the background every proxy.resolve_ms and after a failed attempt. Unused without a proxy. */
    struct sockaddr_storage addr[MD_FO_ADDRS];
    int n_addr;
    int pref;                     /* the address tried first: the last one that connected */
    bool literal;                 /* the host is an IP address: never resolved again */
    bool stale;                   /* an attempt failed: resolve again on the next use */
    int64_t resolved_ms;          /* when addr was last resolved (or a resolution failed) */
    void *gai;                    /* the running uv_getaddrinfo_t, NULL when none */
    uint64_t resolves, resolves_failed, addr_changes;
    md_breaker br;
    void *probe_handle;           /* non-NULL while a probe runs */
    uint64_t probes, probes_failed, traffic_ok, traffic_failed;
    md_err_class last_err;
    double last_latency_ms;
} md_fo_endpoint;

struct md_fo_service {
    md_failover *f;
    size_t index;                 /* in cfg->services */
    const md_service_config *cfg;
    md_fo_endpoint *ep;           /* cfg->n_endpoints of them */
    size_t n;
    md_active active;
    uv_timer_t probe_timer;
    md_fo_proxy *proxy;           /* NULL without proxy.listen */
};

struct md_failover {
    uv_loop_t *loop;
    const md_config *cfg;
    md_monitor *mon;
    md_prober *prober;
    md_fo_service *svc;           /* one per service with endpoints */
    size_t n_svc;
    size_t *by_index;             /* cfg service index -> svc index, or SIZE_MAX */
    int open_handles;
    bool closing;
    void (*done)(void *);
    void *done_arg;
};

/* md__fo_now_ms: the monotonic ms clock breakers run on. */
int64_t md__fo_now_ms(void);

/* md__fo_traffic records one proxied connection attempt on endpoint e (ok or failed), then
 * re-picks the active endpoint. */
void md__fo_traffic(md_fo_endpoint *e, bool ok);

/* md__fo_refresh ticks s's breakers and re-picks its active endpoint (logging a switch). */
void md__fo_refresh(md_fo_service *s);

/* md__fo_release: one of f's handles (a probe timer, or a whole proxy) is closed; the last one
 * frees f and calls done. */
void md__fo_release(md_failover *f);

/* resolve.c. md__fo_resolve_start resolves e's host now (blocking: only at start), filling its
 * addresses; returns 0 or -ENOENT. md__fo_resolve_maybe starts a background resolution of e when
 * its addresses are older than proxy.resolve_ms or stale (never for an IP literal); the current
 * addresses stay in use until it answers. A running one counts in f->open_handles;
 * md__fo_resolve_cancel (on close) cancels it. */
int md__fo_resolve_start(md_fo_endpoint *e);
void md__fo_resolve_maybe(md_fo_endpoint *e);
void md__fo_resolve_cancel(md_fo_endpoint *e);

/* proxy.c. md__fo_proxy_new makes s's proxy (s->proxy) with its listener handle, counted in
 * f->open_handles; md__fo_proxy_start binds and listens (err names the field on failure);
 * md__fo_proxy_close closes the listener and every connection, then calls md__fo_release once for
 * the proxy as a whole; md__fo_proxy_view fills the counters. */
int md__fo_proxy_new(md_fo_service *s);
int md__fo_proxy_start(md_fo_proxy *px, char *err, size_t errlen);
void md__fo_proxy_close(md_fo_proxy *px);
/* md__fo_proxy_endpoint_opened: e's breaker just opened; connections still connecting to it (no
 * byte delivered yet, so safe to move) go to the next endpoint now instead of waiting out their
 * connect timeout, when there is one they have not tried (else they go on connecting). */
void md__fo_proxy_endpoint_opened(md_fo_proxy *px, md_fo_endpoint *e);
void md__fo_proxy_view(const md_fo_proxy *px, md_view_proxy *out);

#endif
