/* cmd.h: the `medic` commands: `node` (the daemon's wiring), `status`, `health`, `gen-certs` and `demo`. */
#ifndef MD_CMD_H
#define MD_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"

/* Runs one monitor node (`medic node`) until SIGTERM or SIGINT. */

/* md_daemon_run runs the node for cfg (borrowed) on a fresh loop and returns the process exit
 * code: 0 after a clean stop, 1 when the node could not start (the reason is logged).
 * insecure_dev lets a cluster run without cluster.secret (local demos only). */
int md_daemon_run(const md_config *cfg, bool insecure_dev);

/* md_identity_check: for a cluster node, refuses (-EPERM, err filled with a config error naming
 * node.id or cluster.name and both values) a data directory recorded for another node id or
 * cluster; 0 when it is this node's, new, or unreadable (storage reports that at start). Reads
 * the directory; changes nothing. The caller exits 2, as for any config error. */
int md_identity_check(const md_config *cfg, char *err, size_t errlen);

/* `medic status`: asks a node's API for its status and prints a table or JSON. */

/* md_status_cmd fetches node_url + "/v1/status" (blocking: this runs in the CLI, not a node).
 * Prints JSON when json is set, else a table. Returns the exit code: 0 ok, 1 node unreachable
 * or answered an error, 2 bad arguments. */
int md_status_cmd(const char *node_url, bool json, FILE *out);

/* md_status_render_table renders a /v1/status JSON document as a table. Returns 0, or -EINVAL
 * when the document is not a status document. */
int md_status_render_table(const char *json, FILE *out, bool color);

/* md_action_cmd: `medic pause|resume|ack SERVICE --node URL [--reason TEXT]`: POSTs the operator
 * action with the admin token (token, or $MEDIC_ADMIN_TOKEN). Returns the exit code: 0 accepted,
 * 1 refused or unreachable, 2 bad arguments. */
int md_action_cmd(const char *action, const char *node_url, const char *service, const char *reason,
                  const char *token, FILE *out);

/* md_health_cmd: `medic health [--node URL]`: GETs node_url + "/v1/health" (blocking, CLI only) and
 * prints the answer. Returns the exit code: 0 when the node answered 200 (it is up and serving), 1
 * when it is unreachable or not ready (503 while starting), 2 bad arguments. For container health
 * checks and scripts: no curl needed. */
int md_health_cmd(const char *node_url, FILE *out);

/* `medic gen-certs`: a CA and node certificates for mutual TLS (gen_certs.c). */

/* md_gen_certs_cmd runs `medic gen-certs` with argv[0] = "gen-certs". Returns the exit code: 0 done,
 * 1 a file could not be written or a key exists (without --force), 2 bad arguments. */
int md_gen_certs_cmd(int argc, char **argv);

/* `medic demo`: a node, a demo service, a failure, and the recovery timeline. */

/* md_demo_run runs the embedded demo and returns the exit code (0 when the timeline completed). */
int md_demo_run(int argc, char **argv);

/* `medic railway provision|regions|check`: medic deploying itself on Railway through the API. */

/* md_railway_cmd runs `medic railway ...` (argv[0] is "railway"). Returns the exit code: 0 ok,
 * 1 Railway refused or failed (the message says which and what to do), 2 bad arguments. */
int md_railway_cmd(int argc, char **argv);

/* `medic chaos`: runs the chaos harness (medic-chaos, built from tests/chaos/). */

/* md_chaos_run finds medic-chaos next to this program (a build tree) or in ../libexec/medic (an
 * installed medic) and execs it with argv[1..] and --medic <this program>. Returns only on
 * failure: 1 when it is missing. */
int md_chaos_run(int argc, char **argv);

/* md_helper_path writes the path of a helper program installed with medic (flaky_service,
 * fake_railway, relay, medic-chaos): next to this program, or in ../libexec/medic. Returns 0, or
 * -ENOENT with out set to the first place it looked. */
int md_helper_path(const char *name, char *out, size_t len);

#endif
