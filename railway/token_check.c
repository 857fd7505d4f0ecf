/* token_check.c: RW_OP_CHECK_TOKEN, which kind of token the client holds and what it reaches,
 * without revealing it: a project token answers projectToken { projectId environmentId }; a
 * Bearer token answers apiToken { workspaces { id } }, and only an account token may then call
 * me { id }, so "Not Authorized" there means a workspace (or OAuth) token. */
#include "rw_op.h"

#include <stdio.h>

static void token_summary(rw_op *op)
{
    const rw_token_info *t = &op->res.token;
    if (t->scope == RW_SCOPE_PROJECT) {
        rw__finish(op, RW_OK, "project token for project %s, environment %s", t->project_id, t->environment_id);
        return;
    }
    char ids[RW_SUMMARY_MAX / 2] = "";
    size_t at = 0;
    for (size_t i = 0; i < t->n_workspaces && at + RW_ID_MAX + 2 < sizeof ids; i++)
        at += (size_t)snprintf(ids + at, sizeof ids - at, "%s%s", i ? ", " : "", t->workspace_ids[i]);
    rw__finish(op, RW_OK, "%s token (Bearer) reaching %zu workspace%s%s%s%s", rw_token_scope_name(t->scope),
               t->n_workspaces_total, t->n_workspaces_total == 1 ? "" : "s", at ? ": " : "", ids,
               t->n_workspaces < t->n_workspaces_total ? ", ..." : "");
}

static void me_done(rw_op *op, const rw__answer *a)
{
    char err[160];
    if (a->cls == RW_ERR_AUTH) {
        /* The token works (apiToken answered) but may not call me: not an account token. */
        op->res.token.scope = RW_SCOPE_WORKSPACE;
    } else if (rw__parse_me(a->data, err, sizeof err)) {
        rw__finish(op, RW_ERR_BAD_ANSWER, "me: %s", err);
        return;
    } else {
        op->res.token.scope = RW_SCOPE_ACCOUNT;
    }
    token_summary(op);
}

static void api_token_done(rw_op *op, const rw__answer *a)
{
    char err[160];
    if (rw__parse_api_token(a->data, &op->res.token, err, sizeof err)) {
        rw__finish(op, RW_ERR_BAD_ANSWER, "apiToken: %s", err);
        return;
    }
    op->auth_is_answer = true;
    rw__send(op, RW_DOC_ME, cJSON_CreateObject(), me_done);
}

static void project_token_done(rw_op *op, const rw__answer *a)
{
    char err[160];
    if (rw__parse_project_token(a->data, &op->res.token, err, sizeof err)) {
        rw__finish(op, RW_ERR_BAD_ANSWER, "projectToken: %s", err);
        return;
    }
    token_summary(op);
}

void rw__check_token_begin(rw_op *op)
{
    if (op->c->cfg.token_kind == RW_TOKEN_PROJECT)
        rw__send(op, RW_DOC_PROJECT_TOKEN, cJSON_CreateObject(), project_token_done);
    else
        rw__send(op, RW_DOC_API_TOKEN, cJSON_CreateObject(), api_token_done);
}
