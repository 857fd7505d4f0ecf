/* demo_int.h: what the demo's two scenes share: the demo's processes and ports, and the small
 * blocking helpers that read the nodes' API (the demo is a CLI command, never inside a node). */
#ifndef MD_DEMO_INT_H
#define MD_DEMO_INT_H

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

#define DEMO_NODES 3
#define DEMO_WAIT_LIMIT_MS 30000

typedef struct {
    char dir[64];
    char medic[PATH_MAX + 16];    /* the medic binary the nodes run */
    bool keep;                    /* --keep: the processes outlive the demo */
    int control_port, service_port;
    int api_port[DEMO_NODES], cluster_port[DEMO_NODES];
    char cfg_path[DEMO_NODES][PATH_MAX], log_path[DEMO_NODES][PATH_MAX], data_dir[DEMO_NODES][PATH_MAX];
    char admin_token[33];         /* random, for pause/resume on a --keep cluster */
    char restarts_path[PATH_MAX]; /* each executed restart appends the node's id: one line per run */
    char fixable_path[PATH_MAX];  /* while it exists, a restart heals the service */
    md_proc service;
    md_proc node[DEMO_NODES];
    int64_t t0;                   /* the current scene's fault, wall ms */
} demo;

void demo_sleep_ms(long ms);

/* demo_get_json GETs path from the node whose API listens on port; the caller owns the result.
 * NULL when the node does not answer 200 with JSON. */
cJSON *demo_get_json(int port, const char *path);
double demo_num(const cJSON *o, const char *k);
const char *demo_str(const cJSON *o, const char *k);

/* demo_set_mode switches the demo service; returns the wall ms of the switch, or -1. */
int64_t demo_set_mode(demo *d, const char *mode);

/* demo_spawn_node starts node i (0-based) from its config; 0 or a negative errno. */
int demo_spawn_node(demo *d, int i);

/* demo_leader returns the 0-based index of the leader that the live nodes other than skip agree
 * on (skip < 0: all), or -1; *term receives its term. */
int demo_leader(demo *d, int skip, uint64_t *term);

/* demo_print_event prints one timeline row: wall time, ms since the scene's fault, what, note. */
void demo_print_event(const demo *d, int64_t at_ms, const char *what, const char *note);

/* The second scene: a crash the first restart does not fix, and the leader killed after it. */
int demo_leader_killed(demo *d);

#endif
