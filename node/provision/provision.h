/* provision.h: the pure half of `medic railway provision`: what a medic cluster on Railway should
 * be (one service per region, each with a volume, its region, a health check and its variables),
 * what the project holds (read from the API's answers), and the plan between them. No I/O, no
 * clock, no randomness: the caller (node/cmd/railway_provision.c) reads the project, generates
 * fresh secrets, and runs the plan's actions in order.
 *
 * Node i (0-based) is node id "n<i+1>" in service "<prefix>-n<i+1>", in the i-th region given.
 * Every node gets the same MEDIC_CONFIG; what differs between them is in its own variables. */
#ifndef MD_PROVISION_H
#define MD_PROVISION_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define MD_PROV_MAX_NODES 7
#define MD_PROV_NAME_MAX 64
#define MD_PROV_PREFIX_MAX 40                 /* leaves room for "-n7" in a 63-character DNS label */
#define MD_PROV_MOUNT "/data"                 /* the volume's mount path, node.data_dir */
#define MD_PROV_HEALTH_PATH "/v1/health"
#define MD_PROV_RESTART "ON_FAILURE"          /* ALWAYS is not offered on Railway's Free/Trial plans */
#define MD_PROV_DOCKERFILE "deploy/docker/Dockerfile" /* for --repo sources */
#define MD_PROV_START "/usr/bin/medic node"  /* the image's binary; the config comes from MEDIC_CONFIG */
#define MD_PROV_RUN_UID "0"                   /* Railway mounts a volume owned by root: run as root there */
#define MD_PROV_CLUSTER_PORT 7000
#define MD_PROV_API_PORT "8700"               /* PORT: the API and Railway's health check */
#define MD_PROV_SECRET_MIN 16                 /* as the config requires of both secrets */

/* The variables every medic service gets. */
#define MD_PROV_VAR_CONFIG "MEDIC_CONFIG"
#define MD_PROV_VAR_NODE_ID "MEDIC_NODE_ID"
#define MD_PROV_VAR_REGION "MEDIC_REGION"
#define MD_PROV_VAR_PORT "PORT"
#define MD_PROV_VAR_SECRET "MEDIC_CLUSTER_SECRET"
#define MD_PROV_VAR_ADMIN "MEDIC_ADMIN_TOKEN"
#define MD_PROV_VAR_TOKEN "MEDIC_RAILWAY_TOKEN"
#define MD_PROV_VAR_RUN_UID "RAILWAY_RUN_UID"

typedef enum { MD_PROV_SRC_KEEP = 0, MD_PROV_SRC_IMAGE, MD_PROV_SRC_REPO } md_prov_source;

/* What the user asked for. Strings are borrowed. */
typedef struct {
    const char *prefix;                         /* service prefix and cluster name, e.g. "medic" */
    size_t n_nodes;                             /* 1..MD_PROV_MAX_NODES */
    const char *regions[MD_PROV_MAX_NODES];     /* deploy-region ids (regions { name }) */
    md_prov_source source_kind;                 /* KEEP: leave an existing source alone */
    const char *source;                         /* the image reference, or OWNER/NAME */
    const char *project_token;                  /* given for remediation, or NULL: kept or created */
    const char *fresh_secret, *fresh_admin;     /* the caller's CSPRNG output, used only when the
                                                 * services hold none yet */
    const char *medic_config;                   /* MEDIC_CONFIG (md_prov_node_config) */
} md_prov_desired;

/* One of our services as the project has it ("" for a null or absent field). */
typedef struct {
    char name[MD_PROV_NAME_MAX];
    bool exists;
    char id[MD_PROV_NAME_MAX];
    bool has_instance;      /* it has an instance in the environment */
    char region[MD_PROV_NAME_MAX], healthcheck[128], start[128], restart[16], dockerfile[256], image[512], repo[256];
    bool deployed;          /* latestDeployment is not null */
    bool has_volume;
    char mount[256], volume_region[MD_PROV_NAME_MAX];
    cJSON *vars;            /* its variables, name -> string (owned); NULL until read */
} md_prov_service;

typedef struct {
    size_t n;
    md_prov_service svc[MD_PROV_MAX_NODES];
} md_prov_state;

/* md_prov_service_name writes "<prefix>-n<i+1>". */
void md_prov_service_name(const char *prefix, size_t i, char *out, size_t len);

/* md_prov_state_read fills s with desired's services as the MedicProject and MedicEnvironment
 * answers' data (JSON text) have them. 0, or -EBADMSG with why in err (an answer without the
 * schema's shape). s is zeroed first; free it with md_prov_state_free. */
int md_prov_state_read(md_prov_state *s, const md_prov_desired *d, const char *project_data, const char *env_data,
                       char *err, size_t errlen);
/* md_prov_state_vars takes node i's MedicVariables answer (data JSON text). 0 or -EBADMSG. */
int md_prov_state_vars(md_prov_state *s, size_t i, const char *variables_data, char *err, size_t errlen);
void md_prov_state_free(md_prov_state *s);

typedef enum {
    MD_PROV_CREATE_PROJECT_TOKEN, /* node -1: projectTokenCreate, then its value goes into every
                                   * node's MEDIC_RAILWAY_TOKEN (a null in vars until then) */
    MD_PROV_CREATE_SERVICE,
    MD_PROV_CREATE_VOLUME,
    MD_PROV_UPDATE_INSTANCE,
    MD_PROV_SET_VARIABLES,
    MD_PROV_DEPLOY,
} md_prov_kind;

typedef struct {
    md_prov_kind kind;
    int node;             /* index into the desired nodes, -1 for the project token */
    char what[512];       /* for people: settings or variable names, never a value of a secret */
} md_prov_action;

#define MD_PROV_MAX_ACTIONS (1 + 5 * MD_PROV_MAX_NODES)

typedef enum { MD_PROV_KEPT = 0, MD_PROV_GENERATED, MD_PROV_GIVEN, MD_PROV_TO_CREATE } md_prov_origin;

typedef struct {
    md_prov_action actions[MD_PROV_MAX_ACTIONS]; /* in the order to run them */
    size_t n_actions;
    cJSON *instance_input[MD_PROV_MAX_NODES];   /* ServiceInstanceUpdateInput to send, or NULL */
    cJSON *vars[MD_PROV_MAX_NODES];             /* the variables to set (only those that differ), or NULL */
    md_prov_origin secret_origin, admin_origin, token_origin;
    char notes[1024];     /* lines for people (a secret that differed between services...) */
} md_prov_plan;

/* md_prov_plan_make: the actions that turn s into d, in order: the project token (if one must be
 * created), then per node: create the service, its volume, update the instance, set variables,
 * deploy (when anything of it changed or it never deployed). Nothing that already matches is
 * touched, so a plan made from what the last run left is empty. Secrets are kept: the first
 * service (in node order) holding one gives it to all; only when none does are d's fresh ones
 * used. 0, -EINVAL with why in err for what no plan can fix (a volume in another region: a volume
 * cannot move; no source for a service that has none), -ENOMEM. */
int md_prov_plan_make(const md_prov_desired *d, const md_prov_state *s, md_prov_plan *p, char *err, size_t errlen);
void md_prov_plan_free(md_prov_plan *p);

/* md_prov_plan_print writes what exists and what will change, node by node, for people. */
void md_prov_plan_print(const md_prov_plan *p, const md_prov_desired *d, const md_prov_state *s, FILE *out);
const char *md_prov_kind_name(md_prov_kind k);

/* md_prov_node_config builds MEDIC_CONFIG from the user's config (JSON text): node, api and the
 * cluster's name, secret, listen and peers are set (peers by their private names
 * "<service>.railway.internal"), remediation.admin_token and remediation.railway's token and
 * token_kind point at the variables above; everything else is the user's. *out is malloc'd.
 * 0, or -EINVAL with why in err (not a JSON object, a section that is not an object). */
int md_prov_node_config(const char *user_json, const char *prefix, size_t n_nodes, const char *const *regions,
                        char **out, char *err, size_t errlen);

/* md_prov_foreign_refs lists (comma-separated into out) the ${VAR} references of text that are
 * none of the variables provisioning sets: they must be added to the services by hand. */
void md_prov_foreign_refs(const char *text, char *out, size_t len);

#endif
