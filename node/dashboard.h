/* dashboard.h: the status block printed every status_print_interval_ms, like the seed's dashboard. */
#ifndef MD_DASHBOARD_H
#define MD_DASHBOARD_H

#include <stdint.h>
#include <stdio.h>

#include "snapshot.h"

/* md_dashboard_print writes the block for snapshot s to out (text mode), or, when json is set,
 * one "status" log event per service. now_ms is wall ms. */
void md_dashboard_print(FILE *out, const md_snapshot *s, int64_t now_ms, int json);

#endif
