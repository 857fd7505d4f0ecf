/* failover.h: failover on the node's loop: every endpoint probed through its breaker, the active
 * endpoint of each service, and the TCP proxy that sends new connections to it. */
#ifndef MD_FAILOVER_H
#define MD_FAILOVER_H

#include <stddef.h>
#include <uv.h>

#include "base/base.h"
#include "config/config.h"
#include "health/health.h"
#include "probe/probe.h"
#include "view/view.h"

/* For every service with endpoints (docs/failover.md):
 *   - each endpoint has a breaker (breaker/breaker.h). The monitor's checks of the service are
 *     the primary's probes (md_failover_check_result is the monitor's result sink); the backups
 *     are probed here with the same check at the same interval, which also keeps them warm;
 *   - the active endpoint follows md_active_pick, evaluated on every result and every new
 *     proxied connection;
 *   - a service with proxy.listen gets a TCP proxy: each new connection goes to the active
 *     endpoint; a connection attempt that fails (refused, timeout, closed or reset before any
 *     byte came back) is retried at once on the next endpoint, replaying what the client sent;
 *     each attempt's outcome feeds that endpoint's breaker (as traffic).
 * When live traffic opens the primary's breaker, the monitor checks the primary at once
 * (md_monitor_check_now): the service's health, and so remediation, still come from the
 * primary's checks alone; the breaker only brings the next one forward.
 * Everything runs on the loop thread; nothing here blocks, except resolving endpoint host
 * names in md_failover_new (later resolutions run on libuv's thread pool: resolve.c). */

typedef struct md_failover md_failover;

/* md_failover_new prepares failover for cfg (borrowed, must outlive it) on loop, probing backups
 * through cl and using mon (both borrowed) for md_monitor_check_now and md_monitor_touch; resolves
 * the endpoints of every service with a proxy now (and again in the background every
 * proxy.resolve_ms). Returns 0; -ENOMEM; or -ENOENT with err
 * naming the field ("services[0].endpoints[2]: cannot resolve b.example"). A config without
 * endpoints gives a failover that does nothing. */
int md_failover_new(uv_loop_t *loop, const md_config *cfg, md_curl_loop *cl, md_monitor *mon,
                    md_failover **out, char *err, size_t errlen);

/* md_failover_check_result: the monitor's result sink (ctx is the md_failover). */
void md_failover_check_result(void *ctx, size_t i, const md_check_result *r);

/* md_failover_fill_view: a view part (ctx is the md_failover): endpoints, breakers, the active
 * endpoint and proxy counters of every service with endpoints. Returns 0 or -ENOMEM. */
int md_failover_fill_view(void *ctx, md_view *v);

/* md_failover_start starts probing backups, binds every proxy and accepts connections. Returns 0
 * or a negative uv error with err naming the field ("services[1].proxy.listen: 127.0.0.1:9000:
 * address already in use"). */
int md_failover_start(md_failover *f, char *err, size_t errlen);

/* md_failover_close (also after a failed start) stops probes, closes every listener and proxied connection, and frees f once
 * its handles are closed; done(arg) runs then (may be NULL). */
void md_failover_close(md_failover *f, void (*done)(void *arg), void *arg);

#endif
