/* heal.h: the remediation shell on the loop: applies the ledger, proposes what the escalation
 * core decides, runs committed intents through the exec and Railway actuators, sends alerts. */
#ifndef MD_HEAL_H
#define MD_HEAL_H

#include <stddef.h>
#include <uv.h>

#include "cluster/cluster.h"
#include "config/config.h"
#include "base/base.h"
#include "view/view.h"
#include "railway.h"

/* The remediation driver. On every node it applies the committed ledger entries; on the
 * Raft leader it also runs the escalation core over the cluster verdicts, proposes incidents,
 * intents, results and closings, executes an intent only after it is committed and only inside
 * the leader lease, and sends the alerts. Loop thread only.
 *
 * Exactly once across leaders: an intent is committed before its action starts and a result
 * after it ends; a new leader that finds an intent without a result waits for that action's
 * timeout, records it as attempted (outcome unknown) and goes on with the ladder. */

/* Application message carrying a ledger entry from a follower to the leader (operator actions,
 * and results of actions that finished after their node stopped leading). */
#define MD_MSG_FORWARD 17

typedef struct md_heal md_heal;

/* md_heal_new prepares the driver for cfg (borrowed) over cluster (borrowed; remediation needs
 * its consensus, so without a cluster section the driver only answers that operator actions are
 * unavailable). Returns 0, or a negative error with err filled. */
int md_heal_new(uv_loop_t *loop, const md_config *cfg, md_cluster *cluster, md_curl_loop *cl, md_heal **out,
                  char *err, size_t errlen);

void md_heal_set_on_change(md_heal *r, void (*fn)(void *ctx), void *ctx);

int md_heal_start(md_heal *r);

/* md_heal_action is the API's operator action hook (see md_api_action_fn): pause, resume, ack. */
void md_heal_action(void *ctx, const char *action, const char *service, const char *reason, int *status,
                      char *body, size_t body_len);

/* md_heal_fill_view adds per-service remediation state to s, and the /v1/incidents document when
 * s->wants has MD_VIEW_WANT_INCIDENTS (else it lets its copy go). */
int md_heal_fill_view(md_heal *r, md_view *s);

/* md_heal_close cancels running actions (their results are left to the next leader's timeout
 * rule) and frees the driver once its handles closed; done(arg) runs then. */
void md_heal_close(md_heal *r, void (*done)(void *arg), void *arg);

/* The Railway client's host on a libuv loop (rw_host in railway.h): transfers through cl's curl
 * driver, one-shot uv timers, log lines to log(ctx, level, msg) or, when log is NULL, to the
 * node's log. The node and the Railway tests share it. Loop thread only. */
typedef struct md_rw_host md_rw_host;
typedef void (*md_rw_host_log_fn)(void *ctx, int level, const char *msg);

/* md_rw_host_new: loop and cl are borrowed and must outlive the host and its timers. 0 or -ENOMEM. */
int md_rw_host_new(uv_loop_t *loop, md_curl_loop *cl, md_rw_host_log_fn log, void *log_ctx, md_rw_host **out);
/* md_rw_host_bind fills *host (an rw_config's host) with h's callbacks. */
void md_rw_host_bind(md_rw_host *h, rw_host *host);
/* md_rw_host_live_timers: timers started and not yet closed (0 once everything settled). */
int md_rw_host_live_timers(const md_rw_host *h);
/* md_rw_host_free releases h once its last timer has closed (free the rw_client first, which
 * cancels them). NULL is ignored. */
void md_rw_host_free(md_rw_host *h);

#endif
