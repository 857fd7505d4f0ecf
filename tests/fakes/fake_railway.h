/* fake_railway.h: the parts of the fake Railway API (tests/fakes/fake_railway*.c) and what they
 * share: a small HTTP/1.1 server, the model of services and deployments with a real
 * flaky_service child per service, and the GraphQL subset over that model. One libuv loop,
 * single-threaded; every function here runs on it. */
#ifndef FAKE_RAILWAY_H
#define FAKE_RAILWAY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- fake_railway_http.c ---- */
typedef struct fr_conn fr_conn;
typedef struct {
    char method[16];
    char path[512];  /* without the query string */
    char query[512];
    char authorization[1024];      /* header values, "" when absent */
    char project_token[1024];
    char user_agent[256];
    const char *body;              /* NUL-terminated; owned by the connection */
    size_t body_len;
} fr_req;
typedef void (*fr_handler)(fr_conn *c, const fr_req *r);

/* fr_http_listen listens on host:port (an IPv4 address; 0 = any free port); *bound gets the port. */
int fr_http_listen(uv_loop_t *loop, const char *host, int port, fr_handler h, int *bound);
/* fr_reply answers once and closes the connection after writing. extra: header lines, each
 * ending in \r\n, or NULL. */
void fr_reply(fr_conn *c, int status, const char *ctype, const char *extra, const char *body, size_t len);
void fr_reply_json(fr_conn *c, int status, const char *extra, const cJSON *j);
/* fr_hang never answers; the connection stays until the client closes it. */
void fr_hang(fr_conn *c);
/* fr_http_close closes the listener and every connection. */
void fr_http_close(void);

/* ---- fake_railway_model.c ---- */
#define FR_ID 64
#define FR_MAX_DEPS 128
#define FR_MAX_SVCS 16

typedef enum {
    FR_BUILDING, FR_CRASHED, FR_DEPLOYING, FR_FAILED, FR_INITIALIZING, FR_NEEDS_APPROVAL, FR_QUEUED,
    FR_REMOVED, FR_REMOVING, FR_SKIPPED, FR_SLEEPING, FR_SUCCESS, FR_WAITING
} fr_status;
extern const char *const fr_status_names[]; /* the schema's DeploymentStatus spelling */

typedef enum { FR_OUT_SUCCESS, FR_OUT_FAIL, FR_OUT_HANG } fr_outcome;

typedef struct fr_svc fr_svc;
typedef struct {
    char id[FR_ID];
    fr_svc *svc;
    fr_status status;
    bool ever_success;       /* reached SUCCESS once: rollbackable while can_rollback_ok */
    bool can_rollback_ok;    /* cleared by control to model an expired image */
    char behaviour[64];      /* the flaky_service mode this deployment runs */
    int64_t created_ms, updated_ms, status_ms; /* wall clock */
    int64_t due_mono_ms;     /* next automatic status change, 0 = none */
    fr_outcome outcome;
} fr_dep;

struct fr_svc {
    char id[FR_ID];
    fr_dep *deps[FR_MAX_DEPS]; /* oldest first */
    int n_deps;
    fr_dep *active;            /* running, NULL before the first SUCCESS */
    int port, control_port;    /* the flaky child's, fixed after its first start */
    struct fr_child *child;
    bool crashed;              /* stays down until restart/redeploy/rollback */
    bool restart_pending;
    char redeploy_behaviour[64]; /* what a redeploy builds: "" = the source's behaviour */
    int overlap_ms;            /* a replaced deployment stays SUCCESS and active this long */
    fr_dep *draining;          /* the replaced one during the overlap, else NULL */
    int64_t drain_due_mono_ms;
    int deploy_delay_ms;
    fr_outcome outcome;
    unsigned restarts, redeploys, rollbacks, child_starts;
};

typedef struct {
    uv_loop_t *loop;
    const char *flaky_bin;
    const char *state_dir;
    const char *host; /* where the API and the children listen (--host, default 127.0.0.1) */
    char env_id[FR_ID];
    fr_svc *svcs[FR_MAX_SVCS];
    int n_svcs;
    int deploy_delay_ms;
    unsigned dep_seq;
    bool stopping;
    void (*all_ready)(void); /* called once when every child printed its ports */
} fr_model;
extern fr_model FR;

int fr_model_init(uv_loop_t *loop, const char *services_csv);
void fr_model_stop(void (*all_exited)(void)); /* SIGTERM every child, SIGKILL after 3 s */
void fr_model_free(void); /* after the loop has ended */
fr_svc *fr_find_svc(const char *id);
fr_dep *fr_find_dep(const char *id);
bool fr_can_redeploy(const fr_dep *d);
bool fr_can_rollback(const fr_dep *d);
/* Mutations; return 0, or -1 with a message in err. */
int fr_restart(fr_dep *d, char *err, size_t len);
int fr_redeploy(fr_dep *d, fr_dep **out, char *err, size_t len);
int fr_rollback(fr_dep *d, char *err, size_t len);
/* Control: the seed's scenarios and knobs. */
int fr_bug(fr_svc *s, const char *mode, const char *broken, char *err, size_t len);
void fr_iso_time(int64_t wall_ms, char *buf, size_t len);
int64_t fr_wall_ms(void);
cJSON *fr_model_json(void);

/* ---- fake_railway_gql.c: parse and validate ---- */
typedef struct fr_field {
    char name[64], alias[64];
    cJSON *args; /* object: argument name -> value, variables substituted */
    struct fr_field *sel, *next;
    bool has_sel;
} fr_field;
/* fr_gq_parse parses one operation; NULL with a "Syntax Error: ..." in err. */
fr_field *fr_gq_parse(const char *s, size_t n, const cJSON *vars, bool *mutation, char *opname, size_t oplen, char *err,
                      size_t errlen);
/* fr_gq_validate checks fields, arguments and selections against the schema subset. */
int fr_gq_validate(const fr_field *root, bool mutation, char *err, size_t len);
void fr_gq_free(fr_field *f);

/* ---- fake_railway_exec.c: auth and execution ---- */
#define FR_MAX_PROJECTS 8
/* A Railway project (--project NAME:SVC[,SVC...]:TOKEN): its token reaches its services only. */
typedef struct {
    char name[64];
    char token[512];
    char services[FR_MAX_SVCS][FR_ID];
    int n_services;
} fr_project;
typedef struct {
    char token[512];        /* expected token ("" accepts any non-empty one, or with projects none) */
    int token_kind;         /* 0 either header, 1 bearer only (an account token), 2 project only,
                             * 3 bearer only, a workspace token (me is Not Authorized) */
    fr_project projects[FR_MAX_PROJECTS];
    int n_projects;
} fr_auth;
extern fr_auth FR_AUTH;
/* fr_add_project parses one --project value; 0, or -1 when malformed or too many. */
int fr_add_project(const char *spec);
/* fr_project_of: the project whose token the request carries (either header), or NULL. */
const fr_project *fr_project_of(const fr_req *r);
/* fr_graphql answers one POST /graphql/v2: *status and the JSON answer (caller frees). info
 * gets the operation name and root fields for the request log. */
cJSON *fr_graphql(const fr_req *r, int *status, cJSON *info);

/* ---- fake_railway_project.c: provisioning (regions, project, environment, variables and the
 * mutations `medic railway provision` sends) ---- */
/* fr_prov_field: a root field this part answers. */
bool fr_prov_field(const char *name);
/* fr_prov_exec runs one such field (project_id: the fake's project); NULL with err set. */
cJSON *fr_prov_exec(const fr_field *f, const char *project_id, char *err, size_t len);
/* fr_prov_json: GET /control/project: {"mutations","tokensCreated","services":[...]} */
cJSON *fr_prov_json(void);
void fr_prov_free(void);

#endif
