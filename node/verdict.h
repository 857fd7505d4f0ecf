/* verdict.h: the cluster verdict for one service from every node's observation (pure).
 *
 * Redis Sentinel's split: a node's own view is subjective (its md_state); the verdict is
 * objective only when a quorum of healthy nodes agrees. Every node computes it the same way
 * from the same observations, so the nodes agree once gossip has converged. */
#ifndef MD_VERDICT_H
#define MD_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "types.h"

typedef enum {
    MD_VERDICT_UNKNOWN = 0, /* fewer than quorum nodes have a fresh, countable observation */
    MD_VERDICT_UP,          /* a quorum reports UP (DEGRADED counts as UP: it answers) */
    MD_VERDICT_DOWN,        /* a quorum reports DOWN */
    MD_VERDICT_SPLIT,       /* enough fresh votes, but neither side has a quorum (never acted on) */
    MD_VERDICT_COUNT
} md_verdict;

/* Why a node's observation did or did not count. */
typedef enum {
    MD_VOTE_UP = 0,
    MD_VOTE_DOWN,
    MD_VOTE_NONE,      /* the node has no opinion yet (UNKNOWN state) */
    MD_VOTE_MISSING,   /* we hold no observation from it */
    MD_VOTE_STALE,     /* older than the freshness limit, by our clock */
    MD_VOTE_DEAD,      /* the node is not alive (suspect or dead) */
    MD_VOTE_ISOLATED,  /* the node says its own observations should not count */
    MD_VOTE_COUNT
} md_vote;

/* One node's input to the verdict. */
typedef struct {
    bool present;      /* we hold an observation from this node */
    bool alive;        /* self is always alive; peers per liveness tracking */
    bool isolated;
    md_state state;
    int64_t age_ms;    /* now - when we last knew it current, by our own clock */
} md_voter;

typedef struct {
    md_verdict verdict;
    int up;            /* counted UP votes */
    int down;          /* counted DOWN votes */
    int counted;       /* up + down */
    int quorum;
} md_verdict_result;

/* md_vote_of classifies one voter given the freshness limit. */
md_vote md_vote_of(const md_voter *v, int64_t fresh_ms);

/* md_verdict_compute: n voters (every configured node, self included), quorum in [1, n],
 * fresh_ms the freshness limit (3 x the service's interval). votes_out (may be NULL) receives
 * each voter's classification. If both sides reach quorum (possible only when quorum <= n/2),
 * the verdict is SPLIT: a contradiction is never a reason to act. */
md_verdict_result md_verdict_compute(const md_voter *voters, size_t n, int quorum, int64_t fresh_ms,
                                     md_vote *votes_out);

/* md_default_quorum: a majority of n nodes (n/2 + 1). */
int md_default_quorum(int n);

const char *md_verdict_name(md_verdict v);  /* "UNKNOWN", "UP", "DOWN", "SPLIT" */
const char *md_vote_name(md_vote v);        /* "up", "down", "none", "missing", "stale", "dead", "isolated" */

#endif
