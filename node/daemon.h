/* daemon.h: runs one monitor node (`medic node`) until SIGTERM or SIGINT. */
#ifndef MD_DAEMON_H
#define MD_DAEMON_H

#include "config.h"

#include <stdbool.h>

/* md_daemon_run runs the node for cfg (borrowed) on a fresh loop and returns the process exit
 * code: 0 after a clean stop, 1 when the node could not start (the reason is logged).
 * insecure_dev lets a cluster run without cluster.secret (local demos only). */
int md_daemon_run(const md_config *cfg, bool insecure_dev);

#endif
