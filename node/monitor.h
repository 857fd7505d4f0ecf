/* monitor.h: the node's probe scheduler and per-service state, owned by the loop thread.
 *
 * It runs every service's checks on a fixed start-to-start cadence (never two checks of one
 * service at once), feeds results to the health state machine, logs every state change once,
 * runs pre-warm requests, prints the periodic status block and builds snapshots for readers. */
#ifndef MD_MONITOR_H
#define MD_MONITOR_H

#include <uv.h>

#include "cluster.h"
#include "config.h"
#include "curl_loop.h"
#include "snapshot.h"

typedef struct md_monitor md_monitor;

/* md_monitor_new prepares a monitor for cfg (borrowed: must outlive the monitor) on loop,
 * probing through cl (borrowed), reporting each check to cluster (borrowed), and building
 * snapshots into holder (borrowed), lazily: a new snapshot is built when a reader asks and
 * something changed, at most every 100 ms. Returns 0 or -ENOMEM. */
int md_monitor_new(uv_loop_t *loop, const md_config *cfg, md_curl_loop *cl, md_cluster *cluster,
                   md_snap_holder *holder, md_monitor **out);

/* md_monitor_set_remedy: snapshots also carry remediation state from r (borrowed; may be NULL). */
struct md_remedy;
void md_monitor_set_remedy(md_monitor *m, struct md_remedy *r);

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
