/* config_int.h: the config loader's private helpers, shared by its files (config*.c) only. */
#ifndef MD_CONFIG_INT_H
#define MD_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"

/* One day: every duration is bounded so that arithmetic on them cannot overflow downstream. */
#define MAX_MS 86400000
#define PATH_LEN 320
#define NAME_RULE "must be 1-64 characters of A-Z a-z 0-9 . _ -"
#define MAX_VAR_NAME 128

typedef struct {
    md_config *cfg; /* being built; the secrets found so far mask error messages */
    const md_config_env *env; /* never NULL */
    const char *origin;
    char *err;
    size_t errlen;
} md__cfg_parser;

typedef struct {
    char *s; /* malloc'd, NUL-terminated once anything was put */
    size_t n, cap;
} md__cfg_sbuf;

bool md__cfg_is_alnum(char c);
int md__cfg_sb_put(md__cfg_sbuf *b, const char *s, size_t n);
__attribute__((format(printf, 3, 4)))
int md__cfg_fail(md__cfg_parser *p, const char *path, const char *fmt, ...);
int md__cfg_oom(md__cfg_parser *p);
const char *md__cfg_join(char *buf, size_t n, const char *parent, const char *key);
const cJSON *md__cfg_get(const cJSON *obj, const char *key);
int md__cfg_add_secret(md_config *cfg, const char *v);
bool md__cfg_var_name_ok(const char *s, size_t n);
int md__cfg_expand(md__cfg_parser *p, const char *path, const char *s, char **out);
int md__cfg_get_string(md__cfg_parser *p, const char *path, const cJSON *it, char **out);
int md__cfg_get_bool(md__cfg_parser *p, const char *path, const cJSON *it, bool *out);
int md__cfg_get_int(md__cfg_parser *p, const char *path, const cJSON *it, int64_t min, int64_t max,
                   int64_t *out);
int md__cfg_pick(md__cfg_parser *p, const char *path, const cJSON *it, const char *const *words, size_t n,
                const char *list, int *out);
int md__cfg_check_keys(md__cfg_parser *p, const char *path, const cJSON *obj, const char *const *keys, size_t n);
bool md__cfg_name_ok(const char *s);
int md__cfg_split_hostport(const char *s, int min_port, char **host, int *port);
const char *md__cfg_authority(const char *url, size_t *len);
int md__cfg_check_url(md__cfg_parser *p, const char *path, const char *u);
int md__cfg_want_object(md__cfg_parser *p, const char *path, const cJSON *it);

/* config_nul.c: true when a string of the (already parsed) JSON text holds a \u0000 escape;
 * path gets the field ("services[2].url"), *in_key whether the escape is in that field's name. */
bool md__cfg_find_nul(const char *text, size_t len, char *path, size_t cap, bool *in_key);

/* config_env.c: md__cfg_env_get returns variable name from p->env, or NULL when it is not set or
 * empty. md__cfg_env_node fills node.id, node.region and node.data_dir that the "node" section
 * left out; md__cfg_env_api_listen gives api.listen ("[::]:$PORT") when PORT is set, else NULL in
 * *out with 0 returned. Errors name the field and the variable. */
const char *md__cfg_env_get(const md__cfg_parser *p, const char *name);
int md__cfg_env_node_id(md__cfg_parser *p);
int md__cfg_env_node_region(md__cfg_parser *p);
int md__cfg_env_data_dir(md__cfg_parser *p);
int md__cfg_env_api_listen(md__cfg_parser *p, char **out);

/* config_timing.c: picks cluster.timing's profile when the config leaves it out: "wan" when the
 * nodes' regions (cluster.peers[].region, and node.region when this node's own entry gives none)
 * number two or more, else "lan"; sets c->timing and c->timing_reason. self_region: this node's
 * entry's region in cluster.peers (NULL: none given). */
int md__cfg_pick_timing(md__cfg_parser *p, const cJSON *cl, md_cluster_config *c, const char *self_region,
                        bool node_region_given);

/* config_cluster.c: the "cluster" section (absent: a cluster of one), then the rules that tie
 * services to it (quorum within the cluster size, gossip no slower than any check). */
int md__cfg_parse_cluster(md__cfg_parser *p, const cJSON *cl);
int md__cfg_check_cluster_services(md__cfg_parser *p);
void md__cfg_free_cluster(md_cluster_config *c);

/* config_remedy.c: the "remediation" section and each service's actuator. */
int md__cfg_parse_remedy(md__cfg_parser *p, const cJSON *o);
int md__cfg_parse_service_remedy(md__cfg_parser *p, const char *path, const cJSON *obj, md_service_remedy *rm);
int md__cfg_check_remedy_services(md__cfg_parser *p);
void md__cfg_free_remedy(md_remedy_config *r);
/* md__cfg_free_service_remedy frees what rm owns (not rm). md__cfg_same_remedy: a and b hold the
 * same values and a owns nothing (no actuator strings or commands), so a service may share b. */
void md__cfg_free_service_remedy(md_service_remedy *rm);
bool md__cfg_same_remedy(const md_service_remedy *a, const md_service_remedy *b);

/* config_failover.c: a service's endpoints, breaker and proxy (failback_after_ms is a plain field
 * of the same block).
 * md__cfg_primary_endpoint returns endpoints[0] when it is a string (a service may leave out url
 * or tcp and give only endpoints), else NULL. */
void md__cfg_failover_defaults(md_service_failover *fo);
const cJSON *md__cfg_primary_endpoint(const cJSON *obj);
int md__cfg_parse_service_failover(md__cfg_parser *p, const char *path, const cJSON *obj,
                                   const md_service_config *sc, md_service_failover *fo);
/* md__cfg_free_service_failover frees what fo owns (not fo). md__cfg_same_failover: a and b hold
 * the same values and a owns nothing (no endpoints, no proxy), so a service may share b. */
void md__cfg_free_service_failover(md_service_failover *fo);
bool md__cfg_same_failover(const md_service_failover *a, const md_service_failover *b);

extern const char *const md__cfg_log_levels[4];
extern const char *const md__cfg_log_formats[2];

#endif
