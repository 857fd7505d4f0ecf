/* resolve.c: the addresses the proxy connects to for each endpoint. A host name is resolved at
 * start (blocking, so a name that does not resolve fails the node with the field named), then again
 * in the background (uv_getaddrinfo on libuv's thread pool) once its addresses are older than
 * proxy.resolve_ms or an attempt on them failed: a backup whose DNS name moves is followed without
 * the loop ever waiting on DNS, and without a restart. */
#include "failover_int.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uv_getaddrinfo_t req;
    md_fo_endpoint *e;
    md_failover *f;
} fo_gai;

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr, &((const struct sockaddr_in *)b)->sin_addr,
                      sizeof(struct in_addr)) == 0;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
}

/* take_addrs copies up to MD_FO_ADDRS TCP addresses of res into e (with e's port). Returns how
 * many; e is unchanged when none. A new list that differs from the old one restarts at its first
 * address and is counted (and logged) as a change. */
static int take_addrs(md_fo_endpoint *e, const struct addrinfo *res)
{
    struct sockaddr_storage a[MD_FO_ADDRS];
    int n = 0;
    for (const struct addrinfo *r = res; r && n < MD_FO_ADDRS; r = r->ai_next) {
        if ((r->ai_family != AF_INET && r->ai_family != AF_INET6) || r->ai_addrlen > sizeof a[0])
            continue;
        memset(&a[n], 0, sizeof a[n]);
        memcpy(&a[n], r->ai_addr, r->ai_addrlen);
        if (r->ai_family == AF_INET)
            ((struct sockaddr_in *)&a[n])->sin_port = htons((uint16_t)e->cfg->port);
        else
            ((struct sockaddr_in6 *)&a[n])->sin6_port = htons((uint16_t)e->cfg->port);
        n++;
    }
    if (n == 0)
        return 0;
    bool changed = n != e->n_addr;
    for (int i = 0; !changed && i < n; i++)
        changed = !same_addr(&a[i], &e->addr[i]);
    if (changed) {
        if (e->n_addr > 0) {
            char ip[INET6_ADDRSTRLEN] = "";
            const void *src = a[0].ss_family == AF_INET ? (const void *)&((struct sockaddr_in *)&a[0])->sin_addr
                                                         : (const void *)&((struct sockaddr_in6 *)&a[0])->sin6_addr;
            inet_ntop(a[0].ss_family, src, ip, sizeof ip);
            md_log(MD_LOG_INFO, "endpoint_address_changed", MD_S("service", e->svc->cfg->name),
                   MD_S("host", e->cfg->host), MD_S("address", ip), MD_I("addresses", n));
            e->addr_changes++;
        }
        memcpy(e->addr, a, (size_t)n * sizeof a[0]);
        e->n_addr = n;
        e->pref = 0;
    }
    return n;
}

static void hints_for(struct addrinfo *h)
{
    memset(h, 0, sizeof *h);
    h->ai_family = AF_UNSPEC;
    h->ai_socktype = SOCK_STREAM;
}

int md__fo_resolve_start(md_fo_endpoint *e)
{
    struct addrinfo hints, *res = NULL;
    hints_for(&hints);
    hints.ai_flags = AI_NUMERICHOST;
    e->literal = getaddrinfo(e->cfg->host, NULL, &hints, &res) == 0;
    if (!e->literal) {
        hints.ai_flags = 0;
        if (getaddrinfo(e->cfg->host, NULL, &hints, &res) != 0)
            res = NULL;
    }
    int n = res ? take_addrs(e, res) : 0;
    if (res)
        freeaddrinfo(res);
    e->resolves++;
    e->resolved_ms = md__fo_now_ms();
    return n > 0 ? 0 : -ENOENT;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    fo_gai *g = req->data;
    md_failover *f = g->f;
    md_fo_endpoint *e = g->e;
    if (!f->closing) {
        e->gai = NULL;
        e->resolved_ms = md__fo_now_ms();
        if (status == 0 && res && take_addrs(e, res) > 0) {
            e->stale = false;
        } else {
            /* Keep the old addresses: a name that stops resolving for a moment (a DNS hiccup)
             * must not take a working endpoint away; try again after resolve_ms. */
            e->resolves_failed++;
            md_log(MD_LOG_WARN, "endpoint_resolve_failed", MD_S("service", e->svc->cfg->name),
                   MD_S("host", e->cfg->host), MD_S("error", status < 0 ? uv_strerror(status) : "no address"));
        }
    }
    uv_freeaddrinfo(res);
    free(g);
    md__fo_release(f);
}

void md__fo_resolve_maybe(md_fo_endpoint *e)
{
    md_failover *f = e->svc->f;
    if (e->literal || e->gai || f->closing || e->n_addr == 0)
        return;
    int64_t age = md__fo_now_ms() - e->resolved_ms;
    if (!e->stale && age < e->svc->cfg->failover->proxy_resolve_ms)
        return;
    if (e->stale && age < 100)
        return; /* a burst of failures asks once, not once per connection */
    fo_gai *g = calloc(1, sizeof *g);
    if (!g)
        return;
    g->e = e;
    g->f = f;
    g->req.data = g;
    struct addrinfo hints;
    hints_for(&hints);
    e->resolves++;
    if (uv_getaddrinfo(f->loop, &g->req, on_resolved, e->cfg->host, NULL, &hints) < 0) {
        free(g);
        e->resolved_ms = md__fo_now_ms();
        return;
    }
    e->gai = g;
    f->open_handles++;
}

void md__fo_resolve_cancel(md_fo_endpoint *e)
{
    fo_gai *g = e->gai;
    if (!g)
        return;
    e->gai = NULL;
    /* The callback still runs (UV_ECANCELED, or the answer if it was already being looked up)
     * and releases f's count then. */
    uv_cancel((uv_req_t *)&g->req);
}
