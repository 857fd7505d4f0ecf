/* heal_rw.c: the Railway clients of the services that act through Railway: one client per
 * distinct (endpoint, token, token kind), shared by every service that uses it. A client paces
 * its requests against Railway's rate limit, so one per service would defeat the pacing; services
 * in different Railway projects still need their own project tokens, so one for all cannot do. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "heal_int.h"

/* What tells two clients apart. The endpoint is remediation.railway.endpoint for every service,
 * so the token and its kind are enough. */
typedef struct {
    const char *token; /* owned by the config */
    bool project;
} rw_key;

static int client_new(md_heal *r, const rw_key *key, rw_client **out)
{
    rw_config rc = {
        .endpoint = r->cfg->remedy.railway_endpoint,
        .token = key->token,
        .token_kind = key->project ? RW_TOKEN_PROJECT : RW_TOKEN_BEARER,
        .user_agent = "medic/" MD_VERSION,
        /* distinct seeds, so clients created in the same microsecond do not jitter in step */
        .seed = ((uint64_t)md_mono_us() ^ 0x9e3779b97f4a7c15ULL) + (uint64_t)r->n_rw_clients * 0x100000001b3ULL,
    };
    md_rw_host_bind(r->rw_host, &rc.host);
    return rw_client_new(&rc, out);
}

/* client_for returns the index of key's client in r->rw_clients, creating it when it is new.
 * keys runs parallel to r->rw_clients. Linear: there are as many keys as Railway projects in
 * the config, a handful, however many services share them. */
static int client_for(md_heal *r, rw_key *keys, const rw_key *key, size_t *at)
{
    size_t k = 0;
    while (k < r->n_rw_clients && !(keys[k].project == key->project && strcmp(keys[k].token, key->token) == 0))
        k++;
    if (k == r->n_rw_clients) {
        int e = client_new(r, key, &r->rw_clients[k]);
        if (e < 0)
            return e;
        keys[k] = *key;
        r->n_rw_clients++;
    }
    *at = k;
    return 0;
}

int md__heal_rw_new(md_heal *r, char *err, size_t errlen)
{
    size_t n_rw_svc = 0;
    for (size_t i = 0; i < r->n; i++)
        n_rw_svc += r->cfg->services[i].actuator == MD_ACTUATOR_RAILWAY;
    if (n_rw_svc == 0)
        return 0;
    /* At most one client per Railway service. */
    rw_key *keys = calloc(n_rw_svc, sizeof *keys);
    r->rw_clients = calloc(n_rw_svc, sizeof *r->rw_clients);
    int e = keys && r->rw_clients ? md_rw_host_new(r->loop, r->cl, NULL, NULL, &r->rw_host) : -ENOMEM;
    for (size_t i = 0; e == 0 && i < r->n; i++) {
        const md_service_config *c = &r->cfg->services[i];
        rw_key key;
        size_t k;
        if (c->actuator != MD_ACTUATOR_RAILWAY)
            continue;
        key.token = md_config_railway_token(r->cfg, c, &key.project);
        if (!key.token) /* the config refuses this; no client is better than a wrong one */
            continue;
        if ((e = client_for(r, keys, &key, &k)) == 0)
            r->svc[i].rw = r->rw_clients[k];
    }
    free(keys);
    if (e < 0) {
        snprintf(err, errlen, "railway client: %s", strerror(-e));
        md__heal_rw_free(r);
        return e;
    }
    md_log(MD_LOG_INFO, "railway_clients", MD_I("clients", r->n_rw_clients), MD_I("services", n_rw_svc));
    return 0;
}

void md__heal_rw_free(md_heal *r)
{
    for (size_t k = 0; k < r->n_rw_clients; k++)
        rw_client_free(r->rw_clients[k]);
    free(r->rw_clients);
    r->rw_clients = NULL;
    r->n_rw_clients = 0;
    for (size_t i = 0; i < r->n; i++)
        r->svc[i].rw = NULL;
    md_rw_host_free(r->rw_host); /* after the clients, which cancel its timers */
    r->rw_host = NULL;
}
