/* railway_sync.c: the Railway client for `medic railway ...`: its own loop, the node's curl
 * driver and host adapter (md_heal's md_rw_host), and calls that wait for their answer. */
#include "railway_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/base.h"
#include "heal/heal.h"

struct md_rwc {
    uv_loop_t loop;
    md_curl_loop *cl;
    md_rw_host *rh;
    rw_client *c;
    bool verbose;
};

typedef struct {
    bool done;
    rw_class cls;
    char *data;
    char summary[RW_SUMMARY_MAX];
    rw_token_info token;
} outcome;

static void log_line(void *ctx, int level, const char *msg)
{
    const md_rwc *c = ctx;
    if (c->verbose || level >= 2)
        fprintf(stderr, "  railway: %s\n", msg);
}

int md_rwc_open(const char *endpoint, const char *token, rw_token_kind kind, bool verbose, md_rwc **out)
{
    *out = NULL;
    md_rwc *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->verbose = verbose;
    if (uv_loop_init(&c->loop) != 0) {
        free(c);
        return -EIO;
    }
    int rc = -ENOMEM;
    c->cl = md_curl_loop_new(&c->loop);
    if (!c->cl || (rc = md_rw_host_new(&c->loop, c->cl, log_line, c, &c->rh)) < 0)
        goto fail;
    /* A fresh budget each run: provisioning three nodes takes about 25 requests; Railway's own
     * X-RateLimit headers still pace the client. */
    rw_config cfg = { .endpoint = endpoint, .token = token, .token_kind = kind, .budget_per_hour = 300,
                      .seed = (uint64_t)uv_hrtime() };
    md_rw_host_bind(c->rh, &cfg.host);
    if ((rc = rw_client_new(&cfg, &c->c)) < 0)
        goto fail;
    *out = c;
    return 0;
fail:
    md_rwc_close(c);
    return rc;
}

void md_rwc_close(md_rwc *c)
{
    if (!c)
        return;
    rw_client_free(c->c);
    if (c->cl)
        md_curl_loop_close(c->cl);
    while (uv_loop_alive(&c->loop))
        uv_run(&c->loop, UV_RUN_NOWAIT);
    md_rw_host_free(c->rh);
    uv_loop_close(&c->loop);
    free(c);
}

static void on_done(const rw_result *r, void *arg)
{
    outcome *o = arg;
    o->done = true;
    o->cls = r->cls;
    o->token = r->token;
    snprintf(o->summary, sizeof o->summary, "%s", r->summary);
    if (r->cls == RW_OK && r->data_json)
        o->data = strdup(r->data_json);
    if (r->cls == RW_OK && r->op == RW_OP_CALL && !o->data) {
        o->cls = RW_ERR_INTERNAL;
        snprintf(o->summary, sizeof o->summary, "out of memory");
    }
}

/* Turns the loop until the operation ended; the client's deadline bounds it. */
static rw_class run(md_rwc *c, rw_op_kind op, const rw_request *req, outcome *o)
{
    int e = rw_start(c->c, op, req, on_done, o, NULL);
    if (e) {
        snprintf(o->summary, sizeof o->summary, "could not start the request (%s)", strerror(-e));
        return RW_ERR_INTERNAL;
    }
    while (!o->done)
        uv_run(&c->loop, UV_RUN_ONCE);
    return o->cls;
}

rw_class md_rwc_call(md_rwc *c, rw_call_doc doc, const char *vars_json, char **data, char *summary, size_t len)
{
    outcome o = { 0 };
    rw_request req = { .call = doc, .vars_json = vars_json };
    rw_class cls = run(c, RW_OP_CALL, &req, &o);
    snprintf(summary, len, "%s", o.summary);
    if (data)
        *data = o.data;
    else
        free(o.data);
    return cls;
}

rw_class md_rwc_check_token(md_rwc *c, rw_token_info *info, char *summary, size_t len)
{
    outcome o = { 0 };
    rw_request req = { 0 };
    rw_class cls = run(c, RW_OP_CHECK_TOKEN, &req, &o);
    *info = o.token;
    snprintf(summary, len, "%s", o.summary);
    return cls;
}
