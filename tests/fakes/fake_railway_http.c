/* fake_railway_http.c: the fake Railway API's HTTP/1.1 server on libuv: one request per
 * connection (answers carry Connection: close), bodies by Content-Length, 1 MiB at most. A
 * handler answers with fr_reply, or fr_hang to never answer (the "timeout" fault). */
#include "fake_railway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IN_MAX (1u << 20)

struct fr_conn {
    uv_tcp_t tcp;
    uv_write_t wr;
    char *in;
    size_t len, cap;
    char *out;
    bool dispatched, closing, hanging;
    fr_conn *prev, *next;
};

static uv_tcp_t listener;
static bool listening;
static fr_handler handler;
static fr_conn *conns;

static void on_closed(uv_handle_t *h)
{
    fr_conn *c = h->data;
    free(c->in);
    free(c->out);
    free(c);
}

static void conn_close(fr_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    conn_close(w->data);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

void fr_reply(fr_conn *c, int status, const char *ctype, const char *extra, const char *body, size_t len)
{
    if (c->closing || c->out)
        return;
    size_t cap = len + 512 + (extra ? strlen(extra) : 0);
    c->out = malloc(cap);
    if (!c->out) {
        conn_close(c);
        return;
    }
    int n = snprintf(c->out, cap,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                     status, reason(status), ctype, len, extra ? extra : "");
    memcpy(c->out + n, body, len);
    uv_buf_t b = uv_buf_init(c->out, (unsigned)(n + len));
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
        conn_close(c);
}

void fr_reply_json(fr_conn *c, int status, const char *extra, const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (!s) {
        fr_reply(c, 500, "text/plain", NULL, "oom\n", 4);
        return;
    }
    fr_reply(c, status, "application/json; charset=utf-8", extra, s, strlen(s));
    free(s);
}

void fr_hang(fr_conn *c)
{
    c->hanging = true; /* reading goes on, so a closing client is noticed and the socket freed */
}

static void header_value(const char *head, const char *name, char *out, size_t len)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *l = p + 2;
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= len)
                n = len - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return;
        }
    }
}

/* Parses the request once its head and body are in; returns false while more is needed. */
static bool try_dispatch(fr_conn *c)
{
    char *end = strstr(c->in, "\r\n\r\n");
    if (!end)
        return false;
    size_t head_len = (size_t)(end - c->in) + 4;
    char cl[32];
    end[2] = '\0'; /* the head as a string, its last header line still ends in \r\n */
    header_value(c->in, "Content-Length", cl, sizeof cl);
    size_t blen = (size_t)strtoul(cl, NULL, 10);
    if (blen > IN_MAX || head_len + blen > c->len) {
        end[2] = '\r';
        if (blen > IN_MAX) {
            c->dispatched = true;
            fr_reply(c, 413, "text/plain", NULL, "too large\n", 10);
        }
        return blen > IN_MAX;
    }
    fr_req *r = calloc(1, sizeof *r);
    if (!r) {
        conn_close(c);
        return true;
    }
    char target[1024] = "";
    sscanf(c->in, "%15s %1023s", r->method, target);
    char *q = strchr(target, '?');
    if (q) {
        *q = '\0';
        snprintf(r->query, sizeof r->query, "%.511s", q + 1);
    }
    snprintf(r->path, sizeof r->path, "%.511s", target);
    header_value(c->in, "Authorization", r->authorization, sizeof r->authorization);
    header_value(c->in, "Project-Access-Token", r->project_token, sizeof r->project_token);
    header_value(c->in, "User-Agent", r->user_agent, sizeof r->user_agent);
    r->body = c->in + head_len;
    r->body_len = blen;
    c->in[head_len + blen] = '\0';
    c->dispatched = true;
    handler(c, r);
    free(r);
    return true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    fr_conn *c = h->data;
    (void)suggested;
    if (c->cap - c->len < 65536 + 1) {
        size_t cap = c->cap ? c->cap * 2 : 65536 * 2;
        char *n = cap <= IN_MAX * 2 ? realloc(c->in, cap) : NULL;
        if (!n) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->in = n;
        c->cap = cap;
    }
    *buf = uv_buf_init(c->in + c->len, (unsigned)(c->cap - c->len - 1));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    fr_conn *c = s->data;
    (void)buf;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (n == 0 || c->dispatched)
        return; /* after the request: drain (a hanging client's close shows up as n < 0) */
    c->len += (size_t)n;
    c->in[c->len] = '\0';
    try_dispatch(c);
}

static void on_conn(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    fr_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

int fr_http_listen(uv_loop_t *loop, const char *host, int port, fr_handler h, int *bound)
{
    struct sockaddr_in a;
    handler = h;
    if (uv_ip4_addr(host, port, &a) != 0)
        return UV_EINVAL;
    uv_tcp_init(loop, &listener);
    listening = true;
    int e = uv_tcp_bind(&listener, (const struct sockaddr *)&a, 0);
    if (e == 0)
        e = uv_listen((uv_stream_t *)&listener, 128, on_conn);
    if (e)
        return e;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&listener, (struct sockaddr *)&ss, &len);
    *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

void fr_http_close(void)
{
    if (listening) {
        listening = false;
        uv_close((uv_handle_t *)&listener, NULL);
    }
    while (conns)
        conn_close(conns);
}
