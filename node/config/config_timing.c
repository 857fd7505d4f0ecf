/* config_timing.c: which consensus timing profile a cluster runs when cluster.timing is left
 * out: "wan" once the nodes sit in two regions or more (round trips of 50-300 ms would make the
 * lan profile's 1 s election timeout call elections on a healthy leader), else "lan". */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASON_LEN 256

/* add_region appends r to the distinct regions in set (of *n, room for MD_CLUSTER_MAX_NODES + 1);
 * "unknown" (the peers' default) and NULL say nothing and are skipped. */
static void add_region(const char **set, size_t *n, const char *r)
{
    if (!r || strcmp(r, "unknown") == 0)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(set[i], r) == 0)
            return;
    if (*n < MD_CLUSTER_MAX_NODES + 1)
        set[(*n)++] = r;
}

static int set_choice(md__cfg_parser *p, md_cluster_config *c, const char *profile, const char *reason)
{
    if (!(c->timing = strdup(profile)) || !(c->timing_reason = strdup(reason)))
        return md__cfg_oom(p);
    return 0;
}

int md__cfg_pick_timing(md__cfg_parser *p, const cJSON *cl, md_cluster_config *c, const char *self_region,
                        bool node_region_given)
{
    static const char *const profiles[] = { "lan", "wan" };
    const cJSON *t = md__cfg_get(cl, "timing");
    int prof = 0, rc;
    if (t) {
        if ((rc = md__cfg_pick(p, "cluster.timing", t, profiles, 2, "lan, wan", &prof)))
            return rc;
        return set_choice(p, c, profiles[prof], "set in cluster.timing");
    }
    /* Every node must run the same profile (a leader's lease assumes the followers wait as long
     * as it does), so the choice rests on what every node's config shares: the regions in
     * cluster.peers. This node's own region counts only when its entry there gives none. */
    const char *set[MD_CLUSTER_MAX_NODES + 1];
    size_t n = 0;
    for (size_t i = 0; i < c->n_peers; i++)
        add_region(set, &n, c->peers[i].region);
    add_region(set, &n, self_region ? self_region : node_region_given ? p->cfg->node_region : NULL);
    char reason[REASON_LEN];
    if (n < 2) {
        if (n == 1)
            snprintf(reason, sizeof reason, "every node with a known region is in %s (default lan)", set[0]);
        else
            snprintf(reason, sizeof reason, "no node regions known (default lan)");
        return set_choice(p, c, "lan", reason);
    }
    int at = snprintf(reason, sizeof reason, "nodes in %zu regions (", n);
    for (size_t i = 0; i < n && at > 0 && (size_t)at < sizeof reason; i++)
        at += snprintf(reason + at, sizeof reason - (size_t)at, "%s%s", i ? ", " : "", set[i]);
    if (at > 0 && (size_t)at < sizeof reason)
        snprintf(reason + at, sizeof reason - (size_t)at, ")");
    return set_choice(p, c, "wan", reason);
}
