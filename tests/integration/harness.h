/* harness.h: integration-test fixtures: real flaky_service and medic node processes on loopback,
 * their APIs, and bounded waits. Every process a fixture starts, its stop function stops (and the
 * child is SIGKILLed if the test process dies first). */
#ifndef MD_HARNESS_H
#define MD_HARNESS_H

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

typedef struct {
    md_proc proc;
    int port;          /* the service port */
    int control_port;
} it_flaky;

typedef struct {
    md_proc proc;
    int api_port;
    char api_host[48]; /* as in a URL: "127.0.0.1", "[::1]" */
    char dir[64];
    char cfg_path[PATH_MAX];
    char log_path[PATH_MAX];
    char out_path[PATH_MAX];
    bool keep_dir;   /* it_node_stop leaves the directory (data_dir) for a restart */
} it_node;

/* it_flaky_start starts flaky_service on free ports in mode healthy. Returns 0 or -1. */
int it_flaky_start(it_flaky *f);
/* it_flaky_mode switches the mode ("down", "slow?ms=300", ...); returns the wall ms at which the
 * service changed, or -1. */
int64_t it_flaky_mode(it_flaky *f, const char *mode);
/* it_flaky_path_count returns how many requests the service got for path, or -1. */
long it_flaky_path_count(it_flaky *f, const char *path);
void it_flaky_stop(it_flaky *f);

/* it_node_start writes config_json (with the literal "@API@" replaced by a free port, and
 * "@DIR@" by the node's own temp dir, for node.data_dir) to that temp dir, starts `medic node --config` with extra args (NULL-terminated, may be NULL), stderr to a
 * log file and stdout to another, and waits up to 10 s for /v1/health to answer. Returns 0 or -1. */
int it_node_start(it_node *n, const char *config_json, const char *const *extra_args);
/* it_node_start_at: it_node_start for a node whose API listens on api_host (as in a URL: "[::1]"). */
int it_node_start_at(it_node *n, const char *api_host, const char *config_json, const char *const *extra_args);
/* it_node_restart starts the node again on the same config and directory (stopped with
 * keep_dir set) and waits for its API. Returns 0 or -1. */
int it_node_restart(it_node *n, const char *const *extra_args);
/* it_rmtree removes dir and everything below it. */
void it_rmtree(const char *dir);
/* it_node_stop sends sig and waits up to timeout_ms. Returns 0 when the node exited by itself,
 * 1 when it had to be killed. *status gets the wait status, *elapsed_ms how long it took. */
int it_node_stop(it_node *n, int sig, int timeout_ms, int *status, int64_t *elapsed_ms);
/* it_node_log returns the node's stderr so far (malloc'd), for assertions and failure output. */
char *it_node_log(const it_node *n);
char *it_node_stdout(const it_node *n);

/* it_get GETs http://127.0.0.1:port + path; returns the body (malloc'd) and *code, or NULL. */
char *it_get(int port, const char *path, long *code);
/* it_get_at GETs http://host:port + path (host as in a URL: "[::1]", "localhost"). */
char *it_get_at(const char *host, int port, const char *path, long *code);
/* it_get_json GETs and parses; NULL unless the answer parsed as JSON. */
cJSON *it_get_json(int port, const char *path, long *code);

/* it_wait_state polls /v1/services/{svc} until its state is want, for at most timeout_ms.
 * Returns the service's state_since_ms, or -1 on timeout. */
int64_t it_wait_state(it_node *n, const char *svc, const char *want, int timeout_ms);
/* it_service_field returns a number from /v1/status's entry for svc (dotted path like
 * "checks.total"), or -1 when absent. */
double it_service_number(it_node *n, const char *svc, const char *dotted);

int64_t it_wall_ms(void);
void it_sleep_ms(long ms);
/* Three nodes n1, n2, n3 on loopback, as the cluster tests run them. */
#define IT_TRIO 3
typedef struct {
    it_flaky flaky;            /* the service they watch, when it_trio_init started one */
    bool has_flaky;
    int cluster_port[IT_TRIO]; /* where each node listens for its peers */
    it_node node[IT_TRIO];
    bool running[IT_TRIO];     /* started and not (yet) stopped or killed by the test */
} it_trio;
extern const char *const it_trio_ids[IT_TRIO];
/* it_trio_init picks a free cluster port for each node and, with_flaky, starts a flaky_service.
 * Returns 0 or -1. */
int it_trio_init(it_trio *t, bool with_flaky);
/* it_trio_peers writes the members of cluster.peers: {"id":"n1","address":"tcp://..."},... */
void it_trio_peers(const it_trio *t, char *out, size_t cap);
/* it_trio_peers_at: it_trio_peers with host in every address ("[::1]", "localhost"). */
void it_trio_peers_at(const it_trio *t, const char *host, char *out, size_t cap);
/* it_trio_stop resumes (SIGCONT) and stops every running node, removes every node's dir, and
 * stops the flaky_service. */
void it_trio_stop(it_trio *t);

/* The fake Railway API (tests/fakes/fake_railway) as a real process, with one service per name in
 * services (comma-separated), each a flaky_service child playing its running deployment. */
typedef struct {
    md_proc proc;
    char dir[64];
    int port;          /* the fake's API: http://127.0.0.1:port/graphql/v2 */
    int svc_port;      /* the first service's child */
    char ready[512];   /* its ready line: "ready port=P services=NAME@PORT/CONTROL,..." */
} it_fake_railway;
/* it_fake_railway_start: extra args (NULL-terminated, may be NULL) go to the fake. 0 or -1. */
int it_fake_railway_start(it_fake_railway *f, const char *services, const char *const *extra);
/* it_fake_railway_control POSTs a /control/... path; returns the HTTP status or -1. */
int it_fake_railway_control(it_fake_railway *f, const char *path);
void it_fake_railway_stop(it_fake_railway *f);

/* it_trio_agreed_leader polls every running node's /v1/cluster (on its api_host) until all name
 * the same leader and that node says it leads; returns its index, or -1 after timeout_ms. */
int it_trio_agreed_leader(it_trio *t, int timeout_ms);

/* it_has_ipv6_loopback: whether ::1 is configured (/proc/net/if_inet6 lists it). */
bool it_has_ipv6_loopback(void);

/* it_wait_leader polls n's /v1/cluster (on its api_host) until it names a Raft leader; false after timeout_ms. */
bool it_wait_leader(const it_node *n, int timeout_ms);

/* it_wait_closed_incident polls node port's /v1/incidents until its newest closed incident opened
 * at or after t0 (wall ms); returns it, inside *doc (the caller frees *doc), or NULL after
 * timeout_ms (*doc NULL then). */
const cJSON *it_wait_closed_incident(int port, int64_t t0, int timeout_ms, cJSON **doc);

/* it_skip prints why and exits 77 (ctest counts it as skipped). */
void it_skip(const char *why);

#endif
