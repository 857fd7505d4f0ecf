/* test_tp_util.h: a small harness for the transport's live tests: up to four tp instances
 * ("A".."D") on one libuv loop in this process, real sockets on 127.0.0.1, callbacks recorded
 * per node, and bounded loop runs until a condition holds. */
#ifndef TEST_TP_UTIL_H
#define TEST_TP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport.h"

#define TPT_MAX_NODES 4

typedef struct {
    char owner[TP_MAX_ID_LEN + 1];
    char key[TP_MAX_KEY_LEN + 1];
    char val[128];
    uint64_t version;
    uint64_t at_ns; /* uv_hrtime when it arrived */
} tpt_item;

typedef struct tpt_cluster tpt_cluster;

typedef struct {
    tpt_cluster *c;
    int index;
    char id[2];
    int port;
    tp *t; /* NULL while stopped */
    const char *secret; /* NULL: the cluster's */
    const char *cert, *key, *ca; /* TLS files, or NULL */
    int via_port[TPT_MAX_NODES]; /* non-zero: dial node j at this port (a proxy) instead of its own */
    size_t links;                /* links_per_peer (0: the transport's default) */

    int messages;
    char last_msg[256];
    char last_from[TP_MAX_ID_LEN + 1];
    uint8_t last_type;

    tpt_item *items; /* every on_gossip_item, in order (owned) */
    size_t n_items, cap_items;
    int items_from[TPT_MAX_NODES];
    int resets_from[TPT_MAX_NODES];
    int vouches_from[TPT_MAX_NODES];
    int removed_from[TPT_MAX_NODES];
    char last_removed[TP_MAX_KEY_LEN + 1];
    int drops_cb;

    tp_peer_state state_of[TPT_MAX_NODES];
    uint64_t suspect_at_ns[TPT_MAX_NODES]; /* last transition into SUSPECT, DEAD, ALIVE */
    uint64_t dead_at_ns[TPT_MAX_NODES];
    uint64_t alive_at_ns[TPT_MAX_NODES];
} tpt_node;

struct tpt_cluster {
    uv_loop_t loop;
    int n;
    tpt_node node[TPT_MAX_NODES];
    const char *scheme; /* "tcp" or "tls+tcp" */
    const char *secret;
    int64_t gossip_ms, suspect_ms, dead_ms;
};

/* tpt_free_port binds 127.0.0.1:0 and returns the port the kernel chose (then closes it). */
int tpt_free_port(void);
/* tpt_init sets up n nodes (not started) with the given timing; the loop is initialised. */
void tpt_init(tpt_cluster *c, int n, int64_t gossip_ms, int64_t suspect_ms, int64_t dead_ms);
/* tpt_start creates and starts node i with epoch; fails the test on error. */
void tpt_start(tpt_cluster *c, int i, uint64_t epoch);
/* tpt_try_start is tpt_start returning tp_new/tp_start's result instead (err filled). */
int tpt_try_start(tpt_cluster *c, int i, uint64_t epoch, char *err, size_t errlen);
/* tpt_stop closes node i and runs the loop until it is freed. */
void tpt_stop(tpt_cluster *c, int i);
/* tpt_fini stops every node, closes the loop (fails the test if handles remain), frees records. */
void tpt_fini(tpt_cluster *c);

/* tpt_run_until runs the loop until pred(c, arg) holds or timeout_ms passes; returns pred. */
bool tpt_run_until(tpt_cluster *c, bool (*pred)(tpt_cluster *c, void *arg), void *arg, int timeout_ms);
void tpt_run_for(tpt_cluster *c, int ms);

/* Predicates. */
bool tpt_all_alive(tpt_cluster *c, void *arg);   /* every running node sees every other running node ALIVE, rtt known, connected */
int tpt_index(const char *id);                   /* "A" -> 0 */
const tpt_item *tpt_find_item(const tpt_node *n, const char *owner, const char *key); /* newest record */
tp_peer_info tpt_peer(const tpt_node *n, const char *peer_id);
uint64_t tpt_drops(const tpt_node *n, tp_drop_reason why);

#endif
