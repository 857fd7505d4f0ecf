/* api.c: the node's HTTP API server on the loop: one request per connection, answered from the
 * published view only, then closed.
 *
 * Nothing a client does may stall the node: at most MAX_CONNS connections, of which one client
 * address holds at most MAX_PER_CLIENT (over its share, its own oldest idle connection is closed;
 * when all MAX_CONNS are taken, the busiest client's oldest idle one makes room for a client with
 * fewer), so one client reopening connections cannot starve the others; one timer per connection
 * bounds reading the head, writing the answer and lingering,
 * the head lives in a fixed buffer, and request bodies are never kept. Handlers never touch
 * live monitor state: each request takes a view reference, renders, and drops it. */
#include "api.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "http_parse.h"
#include "page.h"
#include "util.h"

#define MAX_CONNS 256
#define MAX_PER_CLIENT 64     /* one source address's share of MAX_CONNS */
#define CLOSING_SLACK 32      /* closed conns still held until their handles close (next loop turn) */
#define READ_TIMEOUT_MS 5000  /* from accept to a complete head; not reset by data (slowloris) */
#define WRITE_TIMEOUT_MS 5000 /* for the client to take the whole answer */
#define LINGER_MS 2000        /* after our answer, read and drop until the client closes */
#define MAX_BODY (64 * 1024)
#define LISTEN_BACKLOG 128

#define CT_JSON "application/json"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

typedef enum { C_READING, C_WRITING, C_LINGER, C_CLOSING } conn_state;

typedef struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    uv_shutdown_t sd;
    md_api *api;
    ut_link link;       /* on api->conns */
    conn_state st;
    int open_handles;   /* the conn is freed when both tcp and timer have closed */
    bool peer_eof;
    size_t len;         /* bytes of the head in buf */
    char *resp;         /* the answer's head (and small body) being written; owned by the conn */
    md_render_stream *stream; /* a big document still being written, chunk by chunk; owned */
    md_view *view;      /* the reference the stream renders from; owned */
    uint8_t client[16]; /* source address (IPv4 in the first 4 bytes), for the per-client share */
    char buf[MD_HTTP_MAX_HEAD];
} conn;

struct md_api {
    uv_loop_t *loop;
    uv_tcp_t listener;
    md_view_holder *holder; /* borrowed */
    ut_list conns;          /* of conn: every conn not yet freed, open or closing */
    int n_conns;            /* every conn in conns, closing ones included */
    int n_live;             /* ... not closing: what the share and MAX_CONNS count */
    uint64_t evicted;       /* conns closed to keep the per-client share */
    bool closing;
    bool listener_closed;
    int port;
    char *admin_token;          /* NULL: operator actions disabled */
    md_api_action_fn action_fn;
    void *action_ctx;
};

static void on_timer(uv_timer_t *t);
static void on_write(uv_write_t *req, int status);

static void maybe_free_api(md_api *api)
{
    if (api->closing && api->listener_closed && api->n_conns == 0) {
        free(api->admin_token);
        free(api);
    }
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    conn *c = h->data;
    assert(c->open_handles > 0);
    if (--c->open_handles > 0) {
        return;
    }
    md_api *api = c->api;
    ut_list_remove(&api->conns, &c->link);
    api->n_conns--;
    free(c->resp);
    md_render_stream_free(c->stream);
    md_view_unref(c->view);
    free(c);
    maybe_free_api(api);
}

/* close_conn closes c; reset sends RST instead of FIN, so a client reading a streamed document
 * (whose end is the connection's clean close) sees that it was cut short. */
static void close_conn_how(conn *c, bool reset)
{
    if (c->st == C_CLOSING) {
        return;
    }
    c->st = C_CLOSING;
    c->api->n_live--;
    /* Pending write and shutdown requests complete with UV_ECANCELED before the close callbacks. */
    if (!reset || uv_tcp_close_reset(&c->tcp, on_conn_handle_closed) != 0)
        uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void close_conn(conn *c)
{
    close_conn_how(c, false);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 304: return "Not Modified";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 409: return "Conflict";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn *c = req->data;
    if (status < 0) {
        close_conn(c);
    }
}

/* write_next_chunk renders and sends the stream's next chunks; false once the document is complete.
 * Chunks the socket takes at once go out with uv_try_write (up to TURN_BYTES a loop turn, so a
 * big document neither waits a loop turn per chunk nor holds the loop); the first one it does not
 * take whole is queued with uv_write, whose completion calls back here. Each queued chunk restarts
 * the write timer: a client must keep taking the document, not take it all in WRITE_TIMEOUT_MS. */
#define TURN_BYTES (256 * 1024)
static bool write_next_chunk(conn *c)
{
    size_t sent = 0;
    for (;;) {
        const char *chunk = NULL;
        long n = md_render_stream_next(c->stream, &chunk);
        if (n < 0) {
            close_conn_how(c, true); /* out of memory mid-document: cut short, and said so */
            return true;
        }
        if (n == 0) {
            md_render_stream_free(c->stream);
            c->stream = NULL;
            md_view_unref(c->view);
            c->view = NULL;
            return false;
        }
        uv_buf_t b = uv_buf_init((char *)chunk, (unsigned)n);
        int took = sent < TURN_BYTES ? uv_try_write((uv_stream_t *)&c->tcp, &b, 1) : 0;
        if (took == n) {
            sent += (size_t)n;
            continue;
        }
        if (took < 0 && took != UV_EAGAIN) {
            close_conn_how(c, true);
            return true;
        }
        if (took > 0) {
            b = uv_buf_init((char *)chunk + took, (unsigned)(n - took));
        }
        uv_timer_start(&c->timer, on_timer, WRITE_TIMEOUT_MS, 0);
        if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
            close_conn_how(c, true);
        }
        return true;
    }
}

static void on_write(uv_write_t *req, int status)
{
    conn *c = req->data;
    if (status < 0 || c->st != C_WRITING) {
        close_conn_how(c, c->stream != NULL);
        return;
    }
    if (c->stream != NULL && write_next_chunk(c)) {
        return;
    }
    if (c->peer_eof) {
        close_conn(c);
        return;
    }
    /* Closing with unread bytes (a body, pipelined requests) would send RST and could destroy the
     * answer in flight; instead send FIN and drop whatever still comes until the client closes. */
    c->st = C_LINGER;
    uv_timer_start(&c->timer, on_timer, LINGER_MS, 0);
    c->sd.data = c;
    if (uv_shutdown(&c->sd, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        close_conn(c);
    }
}

/* A body_len for respond_cached: the body is c->stream's document, written after the head, its
 * length unknown: no Content-Length; the body ends where the connection closes (Connection: close).
 * With c->stream set and a real body_len, the head says that length and the stream follows. */
#define STREAMED SIZE_MAX

/* respond_cached writes the whole answer (body omitted for HEAD and 304) with the given
 * Cache-Control and then closes. body is borrowed. Every answer carries the page's CSP. */
static void respond_cached(conn *c, int status, const char *ctype, const char *body, size_t body_len,
                           bool head_only, const char *cache, const char *extra_headers)
{
    assert(c->st == C_READING);
    assert(body_len != STREAMED || c->stream != NULL);
    char head[1024], length[96] = "";
    if (status != 304 && body_len == STREAMED)
        snprintf(length, sizeof length, "Content-Type: %s\r\n", ctype);
    else if (status != 304) /* a 304 has no body and describes none */
        snprintf(length, sizeof length, "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype, body_len);
    head_only = head_only || status == 304;
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\n%sCache-Control: %s\r\nConnection: close\r\n"
                     "X-Content-Type-Options: nosniff\r\nContent-Security-Policy: " MD__CSP "\r\n%s\r\n",
                     status, reason(status), length, cache, extra_headers ? extra_headers : "");
    assert(n > 0 && (size_t)n < sizeof head);
    if (head_only || c->stream != NULL) {
        body_len = 0; /* a streamed body follows the head from on_write */
    }
    if (head_only) { /* nothing of a stream is sent */
        md_render_stream_free(c->stream);
        c->stream = NULL;
        md_view_unref(c->view);
        c->view = NULL;
    }
    size_t total = (size_t)n + body_len;
    c->resp = malloc(total);
    if (c->resp == NULL) {
        close_conn(c);
        return;
    }
    memcpy(c->resp, head, (size_t)n);
    if (body_len > 0) {
        memcpy(c->resp + n, body, body_len);
    }
    c->st = C_WRITING;
    uv_timer_start(&c->timer, on_timer, WRITE_TIMEOUT_MS, 0);
    uv_buf_t b = uv_buf_init(c->resp, (unsigned)total);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
        close_conn(c);
    }
}

/* respond: an answer no cache may keep (every API document). */
static void respond(conn *c, int status, const char *ctype, const char *body, size_t body_len,
                    bool head_only, const char *extra_headers)
{
    respond_cached(c, status, ctype, body, body_len, head_only, "no-store", extra_headers);
}

/* respond_tagged answers body with ETag etag, or 304 when the request's If-None-Match has it. */
static void respond_tagged(conn *c, const md_http_request *req, const char *ctype, const char *body,
                           size_t body_len, bool head_only, const char *cache, const char *etag)
{
    char extra[96];
    snprintf(extra, sizeof extra, "ETag: %s\r\n", etag);
    const md_http_header *inm = md_http_header_get(req, "If-None-Match");
    bool fresh = inm && md__etag_matches(inm->value, inm->value_len, etag);
    respond_cached(c, fresh ? 304 : 200, ctype, body, body_len, head_only, cache, extra);
}

/* respond_error answers {"error":{"code":status,"message":msg}}. */
static void respond_error(conn *c, int status, const char *msg, bool head_only, const char *extra)
{
    char *body = md_render_error_json(status, msg);
    if (body == NULL) {
        close_conn(c);
        return;
    }
    respond(c, status, CT_JSON, body, strlen(body), head_only, extra);
    free(body);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* percent_decode writes src[0..n) decoded and NUL-terminated into out (room for n + 1).
 * Returns 0, or -EINVAL for a broken escape or an encoded NUL. */
static int percent_decode(const char *src, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] != '%') {
            out[o++] = src[i];
            continue;
        }
        if (n - i < 3) {
            return -EINVAL;
        }
        int hi = hexval(src[i + 1]);
        int lo = hexval(src[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            return -EINVAL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return 0;
}

typedef enum {
    EP_NONE, EP_HEALTH, EP_STATUS, EP_SERVICE, EP_METRICS, EP_CLUSTER, EP_INCIDENTS, EP_HISTORY, EP_RESOLVE
} endpoint;

#define SERVICES_PREFIX "/v1/services/"
#define RESOLVE_PREFIX "/v1/resolve/"

static bool path_is(const md_http_request *req, const char *p)
{
    return req->path_len == strlen(p) && memcmp(req->path, p, req->path_len) == 0;
}

static endpoint route_of(const md_http_request *req)
{
    size_t pl = strlen(SERVICES_PREFIX);
    if (path_is(req, "/v1/health")) return EP_HEALTH;
    if (path_is(req, "/v1/status")) return EP_STATUS;
    if (path_is(req, "/metrics")) return EP_METRICS;
    if (path_is(req, "/v1/cluster")) return EP_CLUSTER;
    if (path_is(req, "/v1/incidents")) return EP_INCIDENTS;
    if (path_is(req, "/v1/history")) return EP_HISTORY;
    if (req->path_len >= pl && memcmp(req->path, SERVICES_PREFIX, pl) == 0) return EP_SERVICE;
    if (req->path_len > strlen(RESOLVE_PREFIX) && memcmp(req->path, RESOLVE_PREFIX, strlen(RESOLVE_PREFIX)) == 0)
        return EP_RESOLVE;
    return EP_NONE;
}

/* serve_named answers /v1/services/{name} (resolve false) or /v1/resolve/{name} (resolve true)
 * from view s (borrowed). A resolve answers 200 with the active endpoint, 503 with the same
 * document when no endpoint's breaker is closed, and 404 for a service without endpoints. */
static void serve_named(conn *c, const md_http_request *req, const md_view *s, bool head_only, bool resolve)
{
    size_t pl = strlen(resolve ? RESOLVE_PREFIX : SERVICES_PREFIX);
    const char *raw = req->path + pl;
    size_t raw_len = req->path_len - pl;
    char name[MD_HTTP_MAX_HEAD + 1];
    char msg[MD_HTTP_MAX_HEAD + 64];
    if (percent_decode(raw, raw_len, name) < 0) {
        respond_error(c, 400, "malformed percent-encoding in service name", head_only, NULL);
        return;
    }
    const md_view_service *v = md_view_find(s, name);
    if (v == NULL || (resolve && !v->failover)) {
        /* The raw form: it is printable ASCII, while the decoded bytes may not be valid UTF-8. */
        snprintf(msg, sizeof msg, v ? "service has no endpoints: %.*s" : "no such service: %.*s", (int)raw_len, raw);
        respond_error(c, 404, msg, head_only, NULL);
        return;
    }
    char *body = resolve ? md_render_resolve_json(s, name, md_wall_ms()) : md_render_service_json(s, name, md_wall_ms());
    if (body == NULL) {
        respond_error(c, 500, "out of memory", head_only, NULL);
        return;
    }
    respond(c, resolve && v->failover->active_endpoint < 0 ? 503 : 200, CT_JSON, body, strlen(body), head_only, NULL);
    free(body);
}

/* Constant time in the length of the expected token, so the comparison leaks nothing useful. */
static bool token_matches(const char *want, const char *got, size_t got_len)
{
    size_t n = strlen(want);
    unsigned diff = (unsigned)(n ^ got_len);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < got_len ? got[i] : 0);
    return diff == 0;
}

/* Copies the query parameter key of req (percent-decoded) into out; "" if absent or bad. */
static void query_param(const md_http_request *req, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    out[0] = '\0';
    const char *q = req->query, *end = req->query + req->query_len;
    while (q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > kl && memcmp(q, key, kl) == 0 && q[kl] == '=') {
            char raw[MD_HTTP_MAX_HEAD + 1];
            size_t rl = (size_t)(stop - q) - kl - 1;
            char dec[MD_HTTP_MAX_HEAD + 1];
            memcpy(raw, q + kl + 1, rl);
            for (size_t i = 0; i < rl; i++)
                if (raw[i] == '+')
                    raw[i] = ' ';
            if (percent_decode(raw, rl, dec) == 0) {
                size_t dl = strlen(dec) < outlen - 1 ? strlen(dec) : outlen - 1;
                memcpy(out, dec, dl);
                out[dl] = '\0';
            }
            return;
        }
        q = amp ? amp + 1 : end;
    }
}

/* POST /v1/services/{name}/{pause|resume|ack}: returns true when the request was one. */
static bool serve_action(conn *c, const md_http_request *req)
{
    size_t pl = strlen(SERVICES_PREFIX);
    if (req->path_len <= pl || memcmp(req->path, SERVICES_PREFIX, pl) != 0)
        return false;
    const char *rest = req->path + pl, *slash = memchr(rest, '/', req->path_len - pl);
    if (!slash)
        return false;
    size_t name_len = (size_t)(slash - rest), act_len = req->path_len - pl - name_len - 1;
    static const char *const actions[] = { "pause", "resume", "ack" };
    const char *action = NULL;
    for (size_t i = 0; i < 3; i++)
        if (act_len == strlen(actions[i]) && memcmp(slash + 1, actions[i], act_len) == 0)
            action = actions[i];
    if (!action)
        return false;
    bool is_post = req->method_len == 4 && memcmp(req->method, "POST", 4) == 0;
    if (!is_post) {
        respond_error(c, 405, "use POST", false, "Allow: POST\r\n");
        return true;
    }
    md_api *api = c->api;
    if (!api->admin_token || !api->action_fn) {
        respond_error(c, 403, "operator actions are disabled: set remediation.admin_token", false, NULL);
        return true;
    }
    const md_http_header *auth = md_http_header_get(req, "Authorization");
    if (!auth || auth->value_len < 7 || strncasecmp(auth->value, "Bearer ", 7) != 0 ||
        !token_matches(api->admin_token, auth->value + 7, auth->value_len - 7)) {
        respond_error(c, 401, "missing or wrong admin token (Authorization: Bearer ...)", false,
                      "WWW-Authenticate: Bearer\r\n");
        return true;
    }
    char name[MD_HTTP_MAX_HEAD + 1], reason[256];
    if (percent_decode(rest, name_len, name) < 0) {
        respond_error(c, 400, "malformed percent-encoding in service name", false, NULL);
        return true;
    }
    md_view *s = md_view_holder_get(api->holder);
    bool known = s && md_view_find(s, name) != NULL;
    md_view_unref(s);
    if (!known) {
        char msg[MD_HTTP_MAX_HEAD + 64];
        snprintf(msg, sizeof msg, "no such service: %.*s", (int)name_len, rest);
        respond_error(c, 404, msg, false, NULL);
        return true;
    }
    query_param(req, "reason", reason, sizeof reason);
    int status = 500;
    char body[1024] = "{\"error\":{\"code\":500,\"message\":\"no answer\"}}";
    api->action_fn(api->action_ctx, action, name, reason, &status, body, sizeof body);
    respond(c, status, CT_JSON, body, strlen(body), false, NULL);
    return true;
}

/* serve_streamed answers /v1/status or /metrics from view s (whose reference it takes) a chunk
 * at a time: the conn keeps the view and the stream until the last chunk is written, so at most
 * one chunk of the text exists at once, however many services the node has. */
static void serve_streamed(conn *c, const md_http_request *req, endpoint ep, md_view *s, int64_t now_ms,
                           const char *etag, bool head_only)
{
    assert(c->stream == NULL && c->view == NULL);
    c->stream = ep == EP_STATUS ? md_render_status_stream(s, now_ms) : md_render_metrics_stream(s, now_ms);
    if (c->stream == NULL) {
        md_view_unref(s);
        respond_error(c, 500, "out of memory", head_only, NULL);
        return;
    }
    const char *ctype = ep == EP_METRICS ? CT_METRICS : CT_JSON;
    if (head_only) {
        /* HEAD says how long GET's body would be: render it once, a chunk at a time, counting. */
        size_t total = 0;
        const char *chunk;
        long n;
        while ((n = md_render_stream_next(c->stream, &chunk)) > 0)
            total += (size_t)n;
        md_render_stream_free(c->stream);
        c->stream = NULL;
        md_view_unref(s);
        if (n < 0) {
            respond_error(c, 500, "out of memory", true, NULL);
        } else if (etag[0]) {
            respond_tagged(c, req, ctype, NULL, total, true, "no-store", etag);
        } else {
            respond(c, 200, ctype, NULL, total, true, NULL);
        }
        return;
    }
    c->view = s;
    if (etag[0])
        respond_tagged(c, req, ctype, NULL, STREAMED, false, "no-store", etag);
    else
        respond(c, 200, ctype, NULL, STREAMED, false, NULL);
}

/* serve_history answers /v1/history from view s (whose reference it takes). Its strong ETag is a
 * hash of the document (no "now" in it: equal bytes, nothing new), so the document is rendered
 * twice a chunk at a time: once to hash and count it, then (unless the client has it: 304) again
 * as it is written, with its Content-Length. */
static void serve_history(conn *c, const md_http_request *req, md_view *s, bool head_only)
{
    assert(c->stream == NULL && c->view == NULL);
    md_render_stream *pass = md_render_history_stream(s);
    uint64_t h = MD__ETAG_SEED;
    size_t total = 0;
    long n = -ENOMEM;
    const char *chunk;
    while (pass != NULL && (n = md_render_stream_next(pass, &chunk)) > 0) {
        h = md__etag_fold(h, chunk, (size_t)n);
        total += (size_t)n;
    }
    md_render_stream_free(pass);
    if (n < 0 || (!head_only && (c->stream = md_render_history_stream(s)) == NULL)) {
        md_view_unref(s);
        respond_error(c, 500, "out of memory", head_only, NULL);
        return;
    }
    char etag[64];
    md__etag_of_hash(h, etag);
    if (c->stream != NULL)
        c->view = s;
    else
        md_view_unref(s);
    respond_tagged(c, req, CT_JSON, NULL, total, head_only, "no-store", etag);
}

static void serve(conn *c, const md_http_request *req)
{
    bool is_get = req->method_len == 3 && memcmp(req->method, "GET", 3) == 0;
    bool is_head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    if (req->content_length > MAX_BODY) {
        respond_error(c, 413, "request body too large", is_head, NULL);
        return;
    }
    if (serve_action(c, req))
        return;
    const md__asset *asset = md__page_find(req->path, req->path_len);
    if (asset && !is_get && !is_head) {
        respond_error(c, 405, "method not allowed", false, "Allow: GET, HEAD\r\n");
        return;
    }
    if (asset) {
        /* The page's own files: revalidated (no-cache), so a new binary's page shows at once. */
        respond_tagged(c, req, asset->content_type, (const char *)asset->data, asset->len, is_head, "no-cache",
                       asset->etag);
        return;
    }
    endpoint ep = route_of(req);
    if (ep == EP_NONE) {
        char msg[MD_HTTP_MAX_HEAD + 64];
        snprintf(msg, sizeof msg, "no such endpoint: %.*s", (int)req->path_len, req->path);
        respond_error(c, 404, msg, is_head, NULL);
        return;
    }
    if (!is_get && !is_head) {
        char msg[128];
        snprintf(msg, sizeof msg, "method not allowed: %.*s", (int)(req->method_len > 32 ? 32 : req->method_len),
                 req->method);
        respond_error(c, 405, msg, false, "Allow: GET, HEAD\r\n");
        return;
    }
    /* Only the documents that show results need the services' histories in the view, and only
     * /v1/incidents the incidents document. */
    md_view *s = ep == EP_SERVICE || ep == EP_HISTORY ? md_view_holder_get_full(c->api->holder)
                 : ep == EP_INCIDENTS                ? md_view_holder_get_for(c->api->holder, MD_VIEW_WANT_INCIDENTS)
                                                     : md_view_holder_get(c->api->holder);
    if (s == NULL) {
        if (ep == EP_HEALTH) {
            static const char starting[] = "{\"status\":\"starting\"}";
            respond(c, 503, CT_JSON, starting, sizeof starting - 1, is_head, NULL);
        } else {
            respond_error(c, 503, "the node is starting: no status yet", is_head, NULL);
        }
        return;
    }
    if (ep == EP_SERVICE) {
        serve_named(c, req, s, is_head, false);
        md_view_unref(s);
        return;
    }
    if (ep == EP_RESOLVE) {
        serve_named(c, req, s, is_head, true);
        md_view_unref(s);
        return;
    }
    if (ep == EP_INCIDENTS) {
        static const char none[] = "{\"open\":[],\"closed\":[],\"services\":[],\"note\":\"remediation needs a "
                                   "cluster section\"}";
        const char *doc = s->incidents_json ? s->incidents_json : none;
        char etag[64];
        md__etag_bytes(doc, strlen(doc), etag); /* the document changes only with the ledger */
        respond_tagged(c, req, CT_JSON, doc, strlen(doc), is_head, "no-store", etag);
        md_view_unref(s);
        return;
    }
    int64_t now_ms = md_wall_ms();
    char etag[64] = "";
    if (ep == EP_STATUS || ep == EP_CLUSTER)
        md__etag_view(s, etag);
    if (ep == EP_STATUS || ep == EP_METRICS) {
        serve_streamed(c, req, ep, s, now_ms, etag, is_head);
        return;
    }
    if (ep == EP_HISTORY) {
        serve_history(c, req, s, is_head);
        return;
    }
    char *body = ep == EP_HEALTH ? md_render_health_json(s, now_ms) : md_render_cluster_json(s, now_ms);
    md_view_unref(s);
    if (body == NULL) {
        respond_error(c, 500, "out of memory", is_head, NULL);
        return;
    }
    if (etag[0])
        respond_tagged(c, req, CT_JSON, body, strlen(body), is_head, "no-store", etag);
    else
        respond(c, 200, CT_JSON, body, strlen(body), is_head, NULL);
    free(body);
}

static void handle_head(conn *c)
{
    md_http_request req;
    int rc = md_http_parse_request(c->buf, c->len, &req);
    if (rc == 0) {
        return;
    }
    switch (rc) {
    case 1: serve(c, &req); break;
    case -431: respond_error(c, 431, "request head too large", false, NULL); break;
    case -501: respond_error(c, 501, "transfer encodings are not supported", false, NULL); break;
    case -505: respond_error(c, 505, "only HTTP/1.0 and HTTP/1.1 are supported", false, NULL); break;
    default: respond_error(c, 400, "malformed request", false, NULL); break;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    conn *c = h->data;
    if (c->st == C_READING) {
        assert(c->len < sizeof c->buf); /* a full buffer makes the parser answer -431 */
        *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
    } else {
        *b = uv_buf_init(c->buf, sizeof c->buf); /* the head is no longer needed: drop into it */
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    conn *c = stream->data;
    if (nread == 0 || c->st == C_CLOSING) {
        return;
    }
    if (nread < 0) {
        if (c->st == C_WRITING && nread == UV_EOF) {
            c->peer_eof = true; /* a half-close: the client may still read our answer */
            uv_read_stop(stream);
        } else {
            close_conn(c);
        }
        return;
    }
    if (c->st != C_READING) {
        return; /* body or pipelined bytes after the head: dropped */
    }
    c->len += (size_t)nread;
    assert(c->len <= sizeof c->buf);
    handle_head(c);
}

static void on_timer(uv_timer_t *t)
{
    conn *c = t->data;
    if (c->st == C_READING && c->len > 0) {
        respond_error(c, 408, "request head not received in time", false, NULL);
    } else {
        close_conn(c);
    }
}

static void on_reject_closed(uv_handle_t *h)
{
    free(h);
}

/* Over the limit: accept (or the listener keeps firing) and close at once. */
static void reject(md_api *api)
{
    uv_tcp_t *t = malloc(sizeof(*t));
    if (t == NULL) {
        return;
    }
    uv_tcp_init(api->loop, t);
    (void)uv_accept((uv_stream_t *)&api->listener, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, on_reject_closed);
}

static void client_of(uv_tcp_t *tcp, uint8_t out[16])
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    memset(out, 0, 16);
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) {
        return; /* unknown: such clients share one bucket */
    }
    if (ss.ss_family == AF_INET) {
        memcpy(out, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
        memcpy(out, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    }
}

/* idle: nothing of a request arrived yet, or the answer is out and we only linger. */
static bool idle(const conn *c) { return (c->st == C_READING && c->len == 0) || c->st == C_LINGER; }

/* oldest_of returns the oldest live conn of client (an idle one if any), other than skip. */
static conn *oldest_of(md_api *api, const uint8_t client[16], const conn *skip, int *count)
{
    conn *oldest = NULL, *oldest_idle = NULL;
    *count = 0;
    /* The list is newest first: the last match is the oldest. */
    for (conn *c = ut_list_first(&api->conns, conn, link); c != NULL; c = ut_list_next(c, conn, link)) {
        if (c == skip || c->st == C_CLOSING || memcmp(c->client, client, 16) != 0) {
            continue;
        }
        ++*count;
        oldest = c;
        oldest_idle = idle(c) ? c : oldest_idle;
    }
    return oldest_idle != NULL ? oldest_idle : oldest;
}

/* make_room keeps the shares once c is accepted: over MAX_PER_CLIENT, c's client loses its own
 * oldest (idle first) conn; over MAX_CONNS, the busiest client with more than c's loses one;
 * otherwise c itself is closed. */
static void make_room(md_api *api, conn *c)
{
    int mine;
    conn *victim = oldest_of(api, c->client, c, &mine);
    if (mine < MAX_PER_CLIENT && api->n_live <= MAX_CONNS) {
        return;
    }
    if (mine < MAX_PER_CLIENT) {
        int most = mine;
        victim = NULL;
        for (conn *o = ut_list_first(&api->conns, conn, link); o != NULL; o = ut_list_next(o, conn, link)) {
            int n;
            conn *cand = o->st != C_CLOSING && o != c ? oldest_of(api, o->client, c, &n) : NULL;
            if (cand != NULL && n > most) {
                most = n;
                victim = cand;
            }
        }
    }
    api->evicted++;
    close_conn(victim != NULL ? victim : c);
}

static void on_connection(uv_stream_t *server, int status)
{
    md_api *api = server->data;
    if (status < 0 || api->closing) {
        return;
    }
    if (api->n_conns >= MAX_CONNS + CLOSING_SLACK) {
        reject(api); /* descriptors are still held by closing conns: a hard bound */
        return;
    }
    conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        reject(api);
        return;
    }
    c->api = api;
    uv_tcp_init(api->loop, &c->tcp);
    uv_timer_init(api->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    ut_list_push_front(&api->conns, &c->link);
    api->n_conns++;
    api->n_live++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        close_conn(c);
        return;
    }
    client_of(&c->tcp, c->client);
    make_room(api, c);
    if (c->st == C_CLOSING) {
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, on_timer, READ_TIMEOUT_MS, 0);
}

static void on_listener_closed(uv_handle_t *h)
{
    md_api *api = h->data;
    api->listener_closed = true;
    maybe_free_api(api);
}

/* parse_addr accepts an IPv4 or IPv6 literal, the latter optionally in brackets. */
static int parse_addr(const char *host, int port, struct sockaddr_storage *ss)
{
    char h[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof h) {
        return UV_EINVAL;
    }
    memcpy(h, host, n);
    h[n] = '\0';
    if (uv_ip4_addr(h, port, (struct sockaddr_in *)ss) == 0) {
        return 0;
    }
    return uv_ip6_addr(h, port, (struct sockaddr_in6 *)ss) == 0 ? 0 : UV_EINVAL;
}

int md_api_set_actions(md_api *api, const char *admin_token, md_api_action_fn fn, void *ctx)
{
    free(api->admin_token);
    api->admin_token = NULL;
    if (admin_token && !(api->admin_token = strdup(admin_token)))
        return -ENOMEM;
    api->action_fn = fn;
    api->action_ctx = ctx;
    return 0;
}

int md_api_start(uv_loop_t *loop, const char *host, int port, md_view_holder *holder,
                 md_api **out, char *err, size_t errlen)
{
    assert(loop && host && holder && out && (err || errlen == 0));
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (port < 0 || port > 65535 || parse_addr(host, port, &ss) < 0) {
        snprintf(err, errlen, "api listen address %s:%d: need an IPv4 or IPv6 literal and a port 0-65535",
                 host, port);
        return UV_EINVAL;
    }
    md_api *api = calloc(1, sizeof(*api));
    if (api == NULL) {
        snprintf(err, errlen, "out of memory");
        return UV_ENOMEM;
    }
    api->loop = loop;
    api->holder = holder;
    uv_tcp_init(loop, &api->listener);
    api->listener.data = api;
    int rc = uv_tcp_bind(&api->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&api->listener, LISTEN_BACKLOG, on_connection);
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if (rc == 0) {
        rc = uv_tcp_getsockname(&api->listener, (struct sockaddr *)&bound, &blen);
    }
    if (rc < 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
        api->closing = true; /* freed by on_listener_closed once the loop runs */
        uv_close((uv_handle_t *)&api->listener, on_listener_closed);
        return rc;
    }
    api->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                            : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    *out = api;
    return 0;
}

int md_api_bound_port(const md_api *api)
{
    assert(api != NULL);
    return api->port;
}

void md_api_close(md_api *api)
{
    if (api == NULL) {
        return;
    }
    assert(!api->closing);
    api->closing = true;
    uv_close((uv_handle_t *)&api->listener, on_listener_closed);
    for (conn *c = ut_list_first(&api->conns, conn, link); c != NULL; c = ut_list_next(c, conn, link)) {
        close_conn(c); /* unlinks only later, in the close callbacks */
    }
}
