/* watch.h: the harness's view of one run, polled from the nodes' APIs (watch.c). */
#ifndef MD_CHAOS_WATCH_H
#define MD_CHAOS_WATCH_H

#include "chaos.h"

typedef struct {
    int64_t t0;                        /* the fault, wall ms */
    int64_t first_down, quorum_down;   /* wall ms, 0 = not yet */
    int64_t recovered;                 /* every answering node's verdict UP again after DOWN */
    bool verdict_down_seen;
    bool verdict_down_on[CH_MAX_NODES];
    bool node_down[CH_MAX_NODES];
    bool all_up;
    bool ignore[CH_MAX_NODES];         /* not read (an isolated minority: its verdict cannot be UP) */
    bool skewed[CH_MAX_NODES];         /* its wall clock is moved: its times are when the harness saw them */
    char state[CH_MAX_NODES][16];      /* each node's own state of the service, last poll */
    char incident[16];                 /* the newest incident since t0: its state, "" none */
    int incident_steps;
} ch_watch;

void ch_watch_init(ch_watch *wt, int64_t t0);
void ch_watch_poll(ch_watch *wt, ch_cluster *c);
void ch_watch_incident(ch_watch *wt, ch_cluster *c, int i);
bool ch_any_incident(ch_cluster *c, int64_t since_ms);

#endif
