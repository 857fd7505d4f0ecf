/* rw_op.h: one running operation, shared by the request layer (client.c, request.c: HTTP exchanges,
 * retries, timers) and the operations (ops.c: what to ask next). Private to railway/. */
#ifndef RW_OP_H
#define RW_OP_H

#include <curl/curl.h>

#include "rw_int.h"
#include "util.h"

#define RW_CUR_MAX 8 /* current deployments (latest + active) a rollback remembers to skip */

typedef struct rw_op rw_op;
/* Called with the final answer of an exchange (OK, or an error retries could not cure). The
 * answer is freed by the caller afterwards. The callee must end with exactly one of rw__send,
 * rw__after or rw__finish, and must not touch op after that. */
typedef void (*rw__step_fn)(rw_op *op, const rw__answer *a);
typedef void (*rw__op_fn)(rw_op *op);

struct rw_client {
    rw_config cfg;  /* strings below are our copies */
    char *endpoint;
    char *user_agent;
    char *token;    /* NULL when the environment had none; wiped at free */
    char token_env[64];
    struct curl_slist *base_headers; /* without the token */
    uint64_t prng;
    uint64_t next_id;
    ut_list ops;    /* of rw_op: running */
    size_t n_ops;
    rw__pace pace;  /* one budget for every operation and service this client serves */
    struct rw_stats stats; /* counters; rw_stats() adds the pacing state */
};

struct rw_op {
    rw_client *c;
    ut_link link;   /* on c->ops */
    uint64_t id;
    rw_op_kind kind;
    rw_done_fn done;
    void *arg;
    /* the request, copied */
    char service_id[RW_ID_MAX], environment_id[RW_ID_MAX], given_id[RW_ID_MAX], target[RW_ID_MAX];
    char (*avoid)[RW_ID_MAX];
    size_t n_avoid;
    bool wait;
    bool background;        /* may use only half the budget (rw_request.background) */
    unsigned first;
    uint64_t t0, deadline;
    /* the exchange in flight */
    rw__doc_id doc;
    char *body;             /* JSON request body (owned) */
    rw__step_fn on_answer;
    rw__op_fn reconcile;    /* for a mutation whose failure leaves it unknown whether it ran */
    bool ambiguous;         /* the last failure was such a one */
    unsigned tries;         /* consecutive failed exchanges: the backoff exponent */
    CURL *easy;
    struct curl_slist *headers;
    char *resp;
    size_t resp_len, resp_cap;
    bool resp_too_big, has_retry_after;
    rw__rl_headers rl;      /* this exchange's X-RateLimit-* headers */
    char errbuf[CURL_ERROR_SIZE];
    void *timer;
    rw__op_fn timer_fn;
    /* what the operation learned */
    rw_result res;
    rw_deployment latest;
    bool has_latest;
    rw_deployment *deps;    /* RW_LIST_MAX entries: activeDeployments or the list */
    size_t n_deps;
    char cur[RW_CUR_MAX][RW_ID_MAX]; /* ids running before a rollback */
    size_t n_cur;
    char pre_latest[RW_ID_MAX];      /* latestDeployment before a mutation */
    char source[RW_ID_MAX];          /* the deployment a mutation names */
    char known_good[RW_ID_MAX];      /* REDEPLOY: the caller's last healthy deployment */
    rw_status last_status;
    unsigned polls;                  /* status polls so far: the poll backoff's exponent */
    bool accepted;   /* a mutation of this operation was accepted (or adopted after a reconcile) */
    bool maybe_ran;  /* a mutation was sent and its fate is unknown (timeout, broken connection) */
    bool auth_is_answer; /* the exchange in flight: an auth refusal is an answer for on_answer
                          * (the token check's me query), not the end of the operation */
    rw_call_doc call;    /* CALL: the document */
    char *vars_json;     /* CALL: its variables (owned) */
    char *data_json;     /* CALL: the answer's data (owned until rw__finish hands it to done) */
};

/* client.c */
uint64_t rw__now(const rw_client *c);
uint64_t rw__time_left(const rw_op *op);
int64_t rw__wall(const rw_client *c); /* epoch ms */
void rw__log(const rw_client *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* rw__send starts an exchange for doc with vars (taken, even on failure). To have an auth
 * refusal passed to on_answer instead of ending the operation, set op->auth_is_answer before;
 * it is cleared when the exchange ends. */
void rw__send(rw_op *op, rw__doc_id doc, cJSON *vars, rw__step_fn on_answer);
/* rw__after calls fn(op) after delay_ms (a backoff or a status poll); the caller checks the
 * deadline first. */
void rw__after(rw_op *op, uint64_t delay_ms, rw__op_fn fn);
/* rw__finish reports the result (summary from fmt, scrubbed) and frees op. It sets
 * res.reached from the class and what the operation sent (see rw_result.reached). */
void rw__finish(rw_op *op, rw_class cls, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ops.c */
void rw__op_begin(rw_op *op);
/* token_check.c */
void rw__check_token_begin(rw_op *op);
/* call.c */
void rw__call_begin(rw_op *op);

#endif
