/* chaos.h: the medic-chaos harness's own header: the world (network namespaces, or loopback
 * without root), the cluster it runs in it (medic nodes, relays, the fake Railway API), the
 * scenarios and their measurements. Private to tests/chaos/. */
#ifndef MD_CHAOS_H
#define MD_CHAOS_H

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

#define CH_MAX_NODES 5
#define CH_SERVICE "web"
#define CH_NET "10.213.0"        /* the /24 inside the run's own namespaces (never the root's) */
#define CH_SVC_IP CH_NET ".2"    /* the services' namespace: fake Railway and its deployments */
#define CH_API_PORT 8700         /* inside a node's namespace */
#define CH_CLUSTER_PORT 8710
#define CH_RELAY_BASE 9000       /* node i's relay to peer j listens on 127.0.0.1:9000+j */
#define CH_RW_RELAY_PORT 9100    /* node i's relay to the fake Railway API */

/* The world: namespaces (root) or loopback. */
typedef struct {
    bool netns;                  /* false: loopback only (not root) */
    char run_id[16];             /* the prefix on every namespace and mount: "mchaos<pid>" */
    char dir[256];               /* the run's scratch directory (mkdtemp under /tmp) */
    char bindir[PATH_MAX];       /* where relay, fake_railway, flaky_service are */
    char medic[PATH_MAX + 16];   /* the medic program the nodes run */
    char faketime_lib[PATH_MAX]; /* libfaketime, or "" when absent */
    char keep_dir[512];          /* --keep-logs: where each run's logs are copied; "" for none */
    int root_ns_fd;              /* the harness's own network namespace (root), -1 in loopback */
} ch_world;

/* The tunables of one run: short ones for `make test`, longer ones for the matrix. */
typedef struct {
    bool quick;
    int nodes;
    int interval_ms, timeout_ms, failures;
    int heartbeat_ms, election_ms;
    int delay_ms[3];             /* one-way delay between the three regions' pairs (ab, ac, bc) */
    int jitter_ms;
    int data_tmpfs_kb;           /* each node's data dir is a tmpfs this big (netns only) */
} ch_timing;

typedef struct {
    md_proc proc;
    bool running, stopped;       /* stopped: SIGSTOPped */
    char id[16];
    char ip[32];                 /* where its API and cluster port are */
    int api_port, cluster_port;
    char ns[48];                 /* its namespace ("" in loopback) */
    char dir[300], cfg[320], log[320], data[320], clock_file[320];
} ch_node;

/* One run's cluster. */
typedef struct {
    ch_world *w;
    ch_timing tm;
    int n;
    ch_node node[CH_MAX_NODES];
    md_proc relay[CH_MAX_NODES * CH_MAX_NODES + CH_MAX_NODES];
    int relays;
    md_proc fake;
    char fake_ip[32];
    int fake_port, svc_port, svc_control;
    int rw_port[CH_MAX_NODES];   /* the Railway endpoint's port as node i sees it */
} ch_cluster;

/* What one run measured; -1 = not applicable or not seen. Times in ms from the fault. */
typedef struct {
    int64_t first_down, quorum_down, first_action, recovered, failover;
    int actions;                 /* executed Railway mutations */
    bool pass;
    char why[256];               /* the first failed criterion */
} ch_result;

/* world.c */
int ch_world_open(ch_world *w, bool want_netns);
void ch_world_close(ch_world *w);
void ch_world_sweep(void);
int ch_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *ch_ip_bin(void);
void ch_ns_name(const ch_world *w, const char *what, char *out, size_t len);
/* Faults inside namespaces (nft tables named "chaos" in node namespaces). */
int ch_net_reset(ch_world *w, int nodes);
int ch_net_cut_nodes(ch_world *w, int a, int b);
int ch_net_cut_service(ch_world *w, int node, int fake_port);
int ch_net_loss(ch_world *w, int node, int nodes, int percent);
int ch_tmpfs(ch_world *w, const char *path, int kb);
int ch_fill(const char *dir);
void ch_unfill(const char *dir);

/* cluster.c */
int ch_cluster_start(ch_cluster *c, ch_world *w, const ch_timing *tm, int nodes, bool faketime);
void ch_cluster_stop(ch_cluster *c);
int ch_node_spawn(ch_cluster *c, int i);
void ch_node_kill(ch_cluster *c, int i);
int ch_fake_control(ch_cluster *c, const char *path);
cJSON *ch_fake_get(ch_cluster *c, const char *path);
cJSON *ch_node_get(const ch_cluster *c, int i, const char *path);
int ch_leader(const ch_cluster *c);
int ch_wait_ready(ch_cluster *c, int timeout_ms);
int ch_svc_mode(ch_cluster *c, const char *mode);
void ch_sleep_ms(long ms);
const char *ch_jstr(const cJSON *o, const char *k);
double ch_jnum(const cJSON *o, const char *k);

/* checks.c */
int ch_count_mutations(ch_cluster *c, int64_t since_ms, int64_t *first_at);
int ch_ledgers_agree(ch_cluster *c, int timeout_ms, char *why, size_t len);
int ch_incident_steps(ch_cluster *c, char *out, size_t len, int *steps, int *acted_by_minority, int minority);

/* scen.c */
typedef struct ch_scenario ch_scenario;
int ch_scenario_count(void);
const ch_scenario *ch_scenario_at(int k);
const char *ch_scenario_name(const ch_scenario *s);
const char *ch_scenario_proves(const ch_scenario *s);
bool ch_scenario_needs_root(const ch_scenario *s);
int ch_scenario_nodes(const ch_scenario *s, int asked);
void ch_scenario_run(const ch_scenario *s, ch_world *w, const ch_timing *tm, int nodes, ch_result *r,
                     void (*progress)(const char *));

/* report.c */
typedef struct {
    const char *name;
    const char *proves;
    int nodes, runs, passed;
    ch_result res[64];
} ch_row;
void ch_row_print_header(void);
void ch_row_print(const ch_row *row);
int ch_report_write(const char *dir, const ch_row *rows, int nrows, const ch_timing *tm, char *md_path, size_t len);
cJSON *ch_row_json(const ch_row *row);

#endif
