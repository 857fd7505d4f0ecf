/* status_cmd.h: `medic status`: asks a node's API for its status and prints a table or JSON. */
#ifndef MD_STATUS_CMD_H
#define MD_STATUS_CMD_H

#include <stdbool.h>
#include <stdio.h>

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

#endif
