/* call.c: RW_OP_CALL, one provisioning document with the caller's variables, answered with the
 * answer's data as JSON text. The request layer's retries apply as for every operation (5xx,
 * 429, connection failures), with one difference for mutations: after a failure that leaves it
 * unknown whether one ran, it is not resent (serviceCreate twice would make two services) but
 * ended, and the caller reads the project again before it tries anything else. */
#include "rw_op.h"

#include <stdlib.h>

static void call_done(rw_op *op, const rw__answer *a)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->data, rw__docs[op->doc].field);
    if (!v || cJSON_IsNull(v)) {
        rw__finish(op, RW_ERR_BAD_ANSWER, "%s: the answer has no %s", rw__docs[op->doc].name, rw__docs[op->doc].field);
        return;
    }
    op->data_json = cJSON_PrintUnformatted(a->data);
    if (!op->data_json) {
        rw__finish(op, RW_ERR_INTERNAL, "out of memory reading the answer");
        return;
    }
    op->res.data_json = op->data_json;
    rw__finish(op, RW_OK, "%s answered", rw__docs[op->doc].name);
}

/* The mutation may have run: say so rather than risk running it twice. */
static void call_ambiguous(rw_op *op)
{
    op->maybe_ran = true;
    rw__finish(op, op->res.http_status ? RW_ERR_SERVER : RW_ERR_TIMEOUT,
               "%s: no definite answer (it may have run); not resent: read the project again before retrying",
               rw__docs[op->doc].name);
}

void rw__call_begin(rw_op *op)
{
    rw__doc_id doc = (rw__doc_id)(RW_DOC_CALL_FIRST + op->call);
    cJSON *vars = cJSON_Parse(op->vars_json ? op->vars_json : "{}");
    if (!cJSON_IsObject(vars)) {
        cJSON_Delete(vars);
        rw__finish(op, RW_ERR_INTERNAL, "%s: the variables are not a JSON object", rw__docs[doc].name);
        return;
    }
    if (rw__docs[doc].write)
        op->reconcile = call_ambiguous;
    rw__send(op, doc, vars, call_done);
}

const char *rw_call_name(rw_call_doc d)
{
    if ((unsigned)d >= RW_CALL_COUNT)
        return "?";
    return rw__docs[RW_DOC_CALL_FIRST + d].name;
}
