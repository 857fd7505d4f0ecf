/* request.c: one GraphQL exchange of an operation, over the caller's curl: waits first when the
 * client's pacing says so (pace.c: Retry-After, the hourly budget, the server's window), builds
 * the POST, reads the rate-limit headers, classifies the answer, and on a retryable failure
 * waits (jittered exponential backoff, at least Retry-After) and tries again while the deadline
 * allows. A mutation is resent only when the failure proves the server did not run it;
 * otherwise the operation's reconcile step looks first, so a timeout after a redeploy never
 * creates a second deployment. */
#include "rw_op.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RESP_MAX (4u << 20)  /* the largest answer accepted: a 100-deployment list is ~30 KiB */
#define MIN_REQUEST_MS 100u  /* an exchange needs at least this much of the deadline left */

static void attempt(rw_op *op);

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    rw_op *op = ud;
    size_t len = size * n;
    if (op->resp_len + len + 1 > RESP_MAX) {
        op->resp_too_big = true;
        return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
    }
    if (op->resp_len + len + 1 > op->resp_cap) {
        size_t cap = op->resp_cap ? op->resp_cap : 4096;
        while (cap < op->resp_len + len + 1)
            cap *= 2;
        char *np = realloc(op->resp, cap);
        if (!np)
            return 0;
        op->resp = np;
        op->resp_cap = cap;
    }
    memcpy(op->resp + op->resp_len, p, len);
    op->resp_len += len;
    op->resp[op->resp_len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    rw_op *op = ud;
    size_t len = size * n;
    if (len >= 12 && strncasecmp(p, "Retry-After:", 12) == 0)
        op->has_retry_after = true;
    else
        rw__parse_rl_header(p, len, &op->rl);
    return len;
}

static rw__transport transport_of(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return RW_TR_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return RW_TR_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return RW_TR_TIMEOUT;
    default:
        return RW_TR_IO;
    }
}

static struct curl_slist *make_headers(const rw_client *c)
{
    struct curl_slist *h = NULL;
    for (const struct curl_slist *b = c->base_headers; b; b = b->next) {
        struct curl_slist *n = curl_slist_append(h, b->data);
        if (!n)
            goto fail;
        h = n;
    }
    /* The only place the token goes: this header list, freed (not logged) after the exchange. */
    size_t tl = strlen(c->token) + 32;
    char *line = malloc(tl);
    if (!line)
        goto fail;
    snprintf(line, tl, "%s%s", c->cfg.token_kind == RW_TOKEN_PROJECT ? "Project-Access-Token: " : "Authorization: Bearer ",
             c->token);
    struct curl_slist *n = curl_slist_append(h, line);
    explicit_bzero(line, strlen(line));
    free(line);
    if (!n)
        goto fail;
    return n;
fail:
    curl_slist_free_all(h);
    return NULL;
}

static CURL *make_easy(rw_op *op, uint64_t timeout_ms)
{
    rw_client *c = op->c;
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    long t = (long)timeout_ms;
    bool ok = curl_easy_setopt(e, CURLOPT_URL, c->endpoint) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_POSTFIELDS, op->body) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(op->body)) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_HTTPHEADER, op->headers) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_WRITEDATA, op) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_HEADERDATA, op) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_ERRORBUFFER, op->errbuf) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, t) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, t < 10000 ? t : 10000L) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              /* A redirect would not carry the POST (railway.app answers 301): report it instead. */
              curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    if (!ok) {
        curl_easy_cleanup(e);
        return NULL;
    }
    return e;
}

/* Drops the finished exchange's transfer state, keeping the body for a retry. */
static void end_exchange(rw_op *op)
{
    if (op->easy) {
        curl_easy_cleanup(op->easy);
        op->easy = NULL;
    }
    curl_slist_free_all(op->headers);
    op->headers = NULL;
    op->resp_len = 0;
    op->resp_too_big = op->has_retry_after = false;
    memset(&op->rl, 0, sizeof op->rl);
    op->errbuf[0] = '\0';
}

static void give_up(rw_op *op, const rw__answer *a, const char *why)
{
    /* Rate limited without a Retry-After: the caller may try again when the window resets. */
    if (a->cls == RW_ERR_RATE_LIMIT && !op->res.retry_after_ms) {
        uint64_t w = rw__pace_wait_ms(&op->c->pace, rw__now(op->c), rw__pace_cap(&op->c->pace, op->background));
        op->res.retry_after_ms = (uint32_t)(w > UINT32_MAX ? UINT32_MAX : w);
    }
    rw__finish(op, a->cls, "%s: %s after %u attempt%s (%s)", rw__docs[op->doc].name, a->summary, op->res.attempts,
               op->res.attempts == 1 ? "" : "s", why);
}

/* A retryable failure: wait, then resend (or reconcile an ambiguous mutation first). */
static void retry_later(rw_op *op, const rw__answer *a)
{
    rw_client *c = op->c;
    op->tries++;
    uint64_t delay = rw__backoff_ms(op->tries, c->cfg.backoff_base_ms, c->cfg.backoff_max_ms, &c->prng);
    if (a->cls == RW_ERR_RATE_LIMIT && a->retry_after_ms > delay)
        delay = a->retry_after_ms;
    uint64_t left = rw__time_left(op);
    if (delay + MIN_REQUEST_MS > left) {
        give_up(op, a, a->cls == RW_ERR_RATE_LIMIT && a->retry_after_ms > left ? "Retry-After is past the deadline"
                                                                                 : "deadline reached");
        return;
    }
    op->ambiguous = rw__docs[op->doc].write && !a->not_executed;
    rw__log(c, 1, "railway %s: %s; attempt %u, retrying in %llu ms%s", rw_op_name(op->kind), a->summary,
            op->res.attempts, (unsigned long long)delay, op->ambiguous ? " after checking whether it ran" : "");
    rw__after(op, delay, op->ambiguous && op->reconcile ? op->reconcile : attempt);
}

/* The client-wide bookkeeping of one answer: counters, the rate-limit state every operation
 * paces by, and whether a mutation ran or may have. */
static void note_answer(rw_op *op, const rw__answer *a, rw__transport tr)
{
    rw_client *c = op->c;
    c->stats.answers[(unsigned)a->cls < RW_CLASS_COUNT ? a->cls : RW_ERR_INTERNAL]++;
    rw__pace_observe(&c->pace, &op->rl, a->cls == RW_ERR_RATE_LIMIT ? a->retry_after_ms : 0, rw__now(c),
                     rw__wall(c));
    if (!rw__docs[op->doc].write)
        return;
    if (a->cls == RW_OK)
        op->accepted = true;
    else if ((tr == RW_TR_TIMEOUT || tr == RW_TR_IO) && !a->not_executed)
        op->maybe_ran = true; /* sent, and no answer says it did not run */
}

static void on_done(CURL *easy, CURLcode rc, void *arg)
{
    rw_op *op = arg;
    assert(op->easy == easy);
    (void)easy;
    long http = 0, req_size = 0;
    char *ctype = NULL;
    curl_off_t ra = -1;
    curl_easy_getinfo(op->easy, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_getinfo(op->easy, CURLINFO_CONTENT_TYPE, &ctype);
    curl_easy_getinfo(op->easy, CURLINFO_REQUEST_SIZE, &req_size);
    if (op->has_retry_after)
        curl_easy_getinfo(op->easy, CURLINFO_RETRY_AFTER, &ra);
    rw__transport tr = transport_of(rc);
    /* An answer whose status line arrived counts as an answer even if the body broke off. */
    if (tr == RW_TR_IO && http > 0 && !op->resp_too_big)
        tr = RW_TR_OK;
    if (tr == RW_TR_TIMEOUT && req_size == 0)
        tr = RW_TR_CONNECT; /* nothing was sent: as safe to resend as a refused connect */
    rw__answer a;
    if (op->resp_too_big) {
        memset(&a, 0, sizeof a);
        a.cls = RW_ERR_BAD_ANSWER;
        snprintf(a.summary, sizeof a.summary, "answer larger than %u bytes", RESP_MAX);
    } else {
        rw__classify(&a, tr, op->errbuf[0] ? op->errbuf : curl_easy_strerror(rc), http, ctype, op->resp,
                     op->resp_len, op->has_retry_after ? (long)ra : -1);
    }
    op->res.http_status = http;
    if (a.retry_after_ms)
        op->res.retry_after_ms = (uint32_t)a.retry_after_ms; /* at most a day: fits */
    note_answer(op, &a, tr);
    end_exchange(op);
    if (a.cls == RW_ERR_AUTH && op->auth_is_answer) {
        op->auth_is_answer = false;
        op->tries = 0;
        op->on_answer(op, &a);
    } else if (a.cls != RW_OK && a.retryable) {
        retry_later(op, &a);
    } else if (a.cls != RW_OK) {
        give_up(op, &a, a.cls == RW_ERR_AUTH ? "not retried: check the token and its kind" : "not retried");
    } else {
        if (!op->ambiguous)
            op->tries = 0; /* a reconcile read keeps the backoff growing for the resend */
        op->ambiguous = false;
        op->auth_is_answer = false;
        op->on_answer(op, &a);
    }
    rw__answer_free(&a);
}

/* Pacing: false when the request must wait (a timer then calls attempt again, or the operation
 * ended because the wait is past its deadline). */
static bool paced(rw_op *op, uint64_t left)
{
    rw_client *c = op->c;
    uint64_t wait = rw__pace_wait_ms(&c->pace, rw__now(c), rw__pace_cap(&c->pace, op->background));
    if (wait == 0)
        return true;
    if (wait + MIN_REQUEST_MS > left) {
        op->res.retry_after_ms = (uint32_t)(wait > UINT32_MAX ? UINT32_MAX : wait);
        rw__finish(op, RW_ERR_RATE_LIMIT,
                   "%s: not sent: the request budget (%u an hour%s) or Railway's rate limit allows the next "
                   "request in %llu ms, past the deadline",
                   rw__docs[op->doc].name, rw__pace_cap(&c->pace, op->background),
                   op->background ? " in the background" : "", (unsigned long long)wait);
        return false;
    }
    c->stats.throttled++;
    c->stats.throttled_ms += wait;
    rw__log(c, 0, "railway %s: %s waits %llu ms for the request budget", rw_op_name(op->kind),
            rw__docs[op->doc].name, (unsigned long long)wait);
    rw__after(op, wait, attempt);
    return false;
}

static void attempt(rw_op *op)
{
    rw_client *c = op->c;
    assert(op->body && !op->easy && !op->timer);
    uint64_t left = rw__time_left(op);
    if (left < MIN_REQUEST_MS) {
        rw__finish(op, RW_ERR_TIMEOUT, "%s: deadline reached after %u attempts", rw__docs[op->doc].name,
                   op->res.attempts);
        return;
    }
    if (!paced(op, left))
        return;
    uint64_t timeout = left < c->cfg.request_timeout_ms ? left : c->cfg.request_timeout_ms;
    op->headers = make_headers(c);
    op->easy = op->headers ? make_easy(op, timeout) : NULL;
    if (!op->easy) {
        end_exchange(op);
        rw__finish(op, RW_ERR_INTERNAL, "could not set up an HTTP request");
        return;
    }
    op->res.attempts++;
    int e = c->cfg.host.start(c->cfg.host.ctx, op->easy, on_done, op);
    if (e) {
        end_exchange(op);
        rw__finish(op, RW_ERR_INTERNAL, "the loop refused the HTTP request (%d)", e);
        return;
    }
    c->stats.requests++;
    rw__pace_sent(&c->pace, rw__now(c));
}

void rw__send(rw_op *op, rw__doc_id doc, cJSON *vars, rw__step_fn on_answer)
{
    rw_client *c = op->c;
    assert(doc < RW_DOC_COUNT && on_answer);
    if (!c->token) {
        cJSON_Delete(vars);
        if (c->token_env[0])
            rw__finish(op, RW_ERR_AUTH, "no Railway token: environment variable %s is empty or unset", c->token_env);
        else
            rw__finish(op, RW_ERR_AUTH, "no Railway token configured");
        return;
    }
    cJSON *body = vars ? cJSON_CreateObject() : NULL;
    if (body && cJSON_AddStringToObject(body, "query", rw__docs[doc].text) &&
        cJSON_AddStringToObject(body, "operationName", rw__docs[doc].name)) {
        cJSON_AddItemToObject(body, "variables", vars);
        vars = NULL;
    } else {
        cJSON_Delete(body);
        body = NULL;
    }
    free(op->body);
    op->body = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    cJSON_Delete(vars);
    if (!op->body) {
        rw__finish(op, RW_ERR_INTERNAL, "out of memory building a request");
        return;
    }
    op->doc = doc;
    op->on_answer = on_answer;
    if (!rw__docs[doc].write)
        op->reconcile = NULL; /* set by the operation for the mutation it is about to send */
    attempt(op);
}
