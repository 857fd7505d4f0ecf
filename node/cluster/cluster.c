/* cluster.c: holds every node's observation of every service, feeds them to the verdict, and
 * moves our own observations to the peers through the transport's gossip. */
#include "cluster.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "health/health.h"
#include "transport.h"

#define DROP_LOG_EVERY_MS 60000
/* Services whose verdicts one loop turn recomputes: about a millisecond of work at full speed. */
#define MD_SWEEP_SLICE 2000
/* A public key: with --insecure-dev anyone who reads this can talk to the cluster. */
static const char insecure_key[] = "medic-insecure-dev-key-not-secret";

enum { OWN_SENT = 1, OWN_EXPIRED = 2 };

/* One a service and node: 56 bytes. */
typedef struct {
    md_obs obs;
    uint64_t version;
    int64_t fresh_ms; /* monotonic ms when we last knew it current */
    bool present;
} obs_slot;

typedef struct {
    const char *id;       /* borrowed from the config */
    const char *region;   /* borrowed from the config, replaced by gossip when it says */
    md_node_info info;
    bool have_info;
    tp_peer_state liveness;
    int64_t vouch_ms;     /* monotonic ms of its last digest that matched what we hold */
    int64_t drop_logged_ms;
    uint64_t drops_unlogged;
} node_rt;

/* One a service: packed (16 bytes, was 24); votes count nodes (at most MD_CLUSTER_MAX_NODES). */
typedef struct {
    int64_t since_ms; /* wall */
    md_verdict verdict;
    uint16_t up, down;
} verdict_rt;

struct md_cluster {
    uv_loop_t *loop;
    const md_config *cfg;
    tp *tp;               /* NULL for a cluster of one */
    md_consensus *cons;   /* NULL for a cluster of one */
    uv_timer_t timer;
    bool timer_open;
    uint64_t sweep_every_ms;   /* a sweep of every service's verdict starts this often */
    int64_t sweep_started_ms;  /* monotonic ms the sweep in progress (or the last) started */
    size_t sweep_next;         /* the next service of the sweep in progress; n_svc between sweeps */
    bool sweep_again;          /* a change asked for a whole sweep while one ran: another follows */
    bool closing;
    size_t n_nodes;       /* nodes[0] is self */
    node_rt *nodes;
    node_rt unknown_sender; /* rate limit for drops from ids we do not know or that the HMAC did not confirm */
    size_t n_svc;
    obs_slot *obs;        /* [node * n_svc + svc] */
    /* Our own observations are slot(c, 0, i): their fresh_ms is the monotonic ms of our last
     * completed check. What we last published is that obs in every field md_obs_differs compares
     * unless OWN_EXPIRED says it went out as UNKNOWN (expire_own). */
    uint8_t *own_pub;     /* OWN_* flags, one byte a service */
    verdict_rt *verdicts;
    uint32_t *by_name;    /* service indexes sorted by name (the config allows 100,000) */
    bool isolated;
    int64_t started_ms;
    void (*on_change)(void *);
    void *on_change_ctx;
    void (*on_suspect)(void *, size_t, size_t);
    void *on_suspect_ctx;
    uint8_t app_type;          /* one application message type besides Raft (remediation) */
    md_cluster_msg_fn app_fn;
    void *app_ctx;
    void (*done)(void *);
    void *done_arg;
};

static int64_t mono_ms(void) { return md_mono_us() / 1000; }

static void changed(md_cluster *c)
{
    if (c->on_change)
        c->on_change(c->on_change_ctx);
}

static obs_slot *slot(const md_cluster *c, size_t node, size_t svc) { return &c->obs[node * c->n_svc + svc]; }

/* ---- service names ---- */

static const md_config *sort_cfg; /* qsort has no context argument; only used during new */

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp(sort_cfg->services[*(const uint32_t *)a].name, sort_cfg->services[*(const uint32_t *)b].name);
}

static long find_service(const md_cluster *c, const char *name)
{
    size_t lo = 0, hi = c->n_svc;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int d = strcmp(c->cfg->services[c->by_name[mid]].name, name);
        if (d == 0)
            return (long)c->by_name[mid];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static long find_node(const md_cluster *c, const char *id)
{
    for (size_t i = 1; i < c->n_nodes; i++)
        if (strcmp(c->nodes[i].id, id) == 0)
            return (long)i;
    return -1;
}

/* ---- verdicts ---- */

static void fill_voter(const md_cluster *c, size_t node, size_t svc, int64_t now, md_voter *v)
{
    const obs_slot *s = slot(c, node, svc);
    const node_rt *n = &c->nodes[node];
    memset(v, 0, sizeof *v);
    v->present = s->present;
    if (!s->present)
        return;
    v->state = s->obs.state;
    if (node == 0) {
        v->alive = true;
        v->isolated = c->isolated;
        v->age_ms = now - s->fresh_ms;
    } else {
        v->alive = n->liveness == TP_PEER_ALIVE;
        v->isolated = n->have_info && n->info.isolated;
        int64_t fresh = s->fresh_ms > n->vouch_ms ? s->fresh_ms : n->vouch_ms;
        v->age_ms = now - fresh;
    }
}

static void votes_text(const md_cluster *c, const md_vote *votes, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->n_nodes && at < len; i++) {
        int w = snprintf(buf + at, len - at, "%s%s:%s", i ? "," : "", c->nodes[i].id, md_vote_name(votes[i]));
        if (w < 0)
            break;
        at += (size_t)w;
    }
}

static void compute_verdict(md_cluster *c, size_t svc, int64_t now)
{
    md_voter voters[MD_CLUSTER_MAX_NODES];
    md_vote votes[MD_CLUSTER_MAX_NODES];
    assert(c->n_nodes <= MD_CLUSTER_MAX_NODES);
    for (size_t i = 0; i < c->n_nodes; i++)
        fill_voter(c, i, svc, now, &voters[i]);
    const md_service_config *sc = &c->cfg->services[svc];
    md_verdict_result r = md_verdict_compute(voters, c->n_nodes, sc->quorum, 3 * sc->interval_ms, votes);
    verdict_rt *v = &c->verdicts[svc];
    bool moved = r.verdict != v->verdict;
    if (moved || r.up != v->up || r.down != v->down)
        changed(c);
    assert(r.up >= 0 && r.down >= 0 && r.up <= MD_CLUSTER_MAX_NODES && r.down <= MD_CLUSTER_MAX_NODES);
    v->up = (uint16_t)r.up;
    v->down = (uint16_t)r.down;
    if (!moved)
        return;
    char text[512];
    votes_text(c, votes, text, sizeof text);
    md_log(r.verdict == MD_VERDICT_DOWN || r.verdict == MD_VERDICT_SPLIT ? MD_LOG_WARN : MD_LOG_INFO,
           "verdict_change", MD_S("service", sc->name), MD_S("from", md_verdict_name(v->verdict)),
           MD_S("to", md_verdict_name(r.verdict)), MD_I("up", r.up), MD_I("down", r.down),
           MD_I("quorum", sc->quorum), MD_S("votes", text));
    v->verdict = r.verdict;
    v->since_ms = md_wall_ms();
}

static void on_timer(uv_timer_t *t);

/* compute_all recomputes every verdict after a change that touches them all (a peer's liveness,
 * its isolation, its restart): at once when they fit in one slice, else by starting a sweep now
 * (or, when one runs, another right after it), so a peer's change never holds the loop. */
static void compute_all(md_cluster *c)
{
    int64_t now = mono_ms();
    if (c->n_svc <= MD_SWEEP_SLICE || !c->timer_open || c->closing || c->sweep_every_ms == 0) {
        for (size_t i = 0; i < c->n_svc; i++)
            compute_verdict(c, i, now);
        return;
    }
    if (c->sweep_next >= c->n_svc)
        uv_timer_start(&c->timer, on_timer, 0, 0);
    else
        c->sweep_again = true;
}

/* ---- our own observations ---- */

static void publish_own(md_cluster *c, size_t svc, const md_obs *o)
{
    c->own_pub[svc] |= OWN_SENT;
    if (!c->tp)
        return;
    uint8_t buf[MD_OBS_ENCODED_MAX];
    size_t n = md_obs_encode(o, buf);
    int rc = tp_gossip_set(c->tp, c->cfg->services[svc].name, buf, n);
    if (rc < 0)
        md_log(MD_LOG_ERROR, "gossip_publish_failed", MD_S("service", c->cfg->services[svc].name),
               MD_S("error", strerror(-rc)));
}

static void publish_info(md_cluster *c)
{
    if (!c->tp)
        return;
    md_node_info info = { .isolated = c->isolated, .started_at_ms = c->started_ms };
    snprintf(info.region, sizeof info.region, "%s", c->cfg->node_region);
    uint8_t buf[MD_NODE_INFO_ENCODED_MAX];
    size_t n = md_node_info_encode(&info, buf);
    tp_gossip_set(c->tp, MD_NODE_INFO_KEY, buf, n);
}

void md_cluster_own(md_cluster *c, size_t i, const md_health *h)
{
    assert(i < c->n_svc);
    md_obs o = {
        .state = h->state,
        .consecutive_failures = (uint32_t)h->consecutive_failures,
        .latency_us = h->last_latency_us,
        .err = h->last_err,
        .http_status = (uint16_t)(h->last_http_status > 0 && h->last_http_status < 1000 ? h->last_http_status : 0),
        .observed_at_ms = h->last_check_ms,
        .state_since_ms = h->state_since_ms,
    };
    obs_slot *s = slot(c, 0, i);
    bool publish = c->own_pub[i] != OWN_SENT || md_obs_differs(&o, &s->obs);
    s->present = true;
    s->obs = o;
    s->fresh_ms = mono_ms();
    if (publish) {
        c->own_pub[i] &= (uint8_t)~OWN_EXPIRED;
        publish_own(c, i, &o);
        compute_verdict(c, i, s->fresh_ms);
    }
}

/* Our own observation goes stale when our checks stop completing (a stuck probe queue): tell
 * the peers, since they would otherwise keep trusting it through our digests. */
static void expire_own(md_cluster *c, int64_t now, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        const md_service_config *sc = &c->cfg->services[i];
        const obs_slot *s = slot(c, 0, i);
        if (c->own_pub[i] != OWN_SENT || s->obs.state == MD_STATE_UNKNOWN)
            continue;
        if (now - s->fresh_ms <= 3 * sc->interval_ms)
            continue;
        md_obs o = s->obs;
        o.state = MD_STATE_UNKNOWN;
        md_log(MD_LOG_WARN, "own_observation_stale", MD_S("service", sc->name),
               MD_I("since_check_ms", now - s->fresh_ms));
        c->own_pub[i] |= OWN_EXPIRED;
        publish_own(c, i, &o);
    }
}

/* Sentinel's TILT: reaching no peer while every check fails says more about us than about the
 * services, so our votes should not count. */
static void update_isolation(md_cluster *c)
{
    bool any_peer = false, all_fail = c->n_svc > 0;
    for (size_t i = 1; i < c->n_nodes; i++)
        any_peer = any_peer || c->nodes[i].liveness == TP_PEER_ALIVE;
    for (size_t i = 0; i < c->n_svc && all_fail; i++) {
        const obs_slot *s = slot(c, 0, i);
        all_fail = s->present && s->obs.consecutive_failures > 0;
    }
    bool iso = c->n_nodes > 1 && !any_peer && all_fail;
    if (iso == c->isolated)
        return;
    c->isolated = iso;
    md_log(iso ? MD_LOG_WARN : MD_LOG_INFO, iso ? "isolated" : "not_isolated",
           MD_S("reason", iso ? "no peer reachable and every check failing: own votes do not count"
                              : "a peer is reachable or a check succeeds again"));
    publish_info(c);
    changed(c);
}

/* The sweep: every sweep_every_ms, each service's own observation is checked for staleness and
 * its verdict recomputed (votes go stale with time alone). At 100,000 services that is 100,000
 * verdicts, far more than one loop turn should hold (the leader's heartbeats wait behind it), so
 * a sweep goes MD_SWEEP_SLICE services per turn. */
static void on_timer(uv_timer_t *t)
{
    md_cluster *c = t->data;
    int64_t now = mono_ms();
    if (c->sweep_next >= c->n_svc) {
        c->sweep_next = 0;
        c->sweep_started_ms = now;
        update_isolation(c);
    }
    size_t end = c->n_svc - c->sweep_next > MD_SWEEP_SLICE ? c->sweep_next + MD_SWEEP_SLICE : c->n_svc;
    expire_own(c, now, c->sweep_next, end);
    for (size_t i = c->sweep_next; i < end; i++)
        compute_verdict(c, i, now);
    c->sweep_next = end;
    uint64_t delay = 1; /* the rest of the sweep after this turn's I/O */
    if (end >= c->n_svc && !c->sweep_again) {
        int64_t next = c->sweep_started_ms + (int64_t)c->sweep_every_ms;
        delay = next > now ? (uint64_t)(next - now) : 1;
    }
    if (end >= c->n_svc)
        c->sweep_again = false;
    uv_timer_start(&c->timer, on_timer, delay, 0);
}

static void drain_transport(void *ctx)
{
    md_cluster *c = ctx;
    tp_drain(c->tp);
}

/* ---- transport callbacks ---- */

/* The transport saw our connection to a peer close: if it led us, Raft may stop waiting. */
static void on_peer_lost(void *ctx, const char *peer_id)
{
    md_cluster *c = ctx;
    md_log(MD_LOG_DEBUG, "peer_connection_closed", MD_S("peer", peer_id));
    if (c->cons)
        md_consensus_peer_lost(c->cons, peer_id);
}

static void on_peer_state(void *ctx, const char *peer_id, tp_peer_state from, tp_peer_state to)
{
    md_cluster *c = ctx;
    long n = find_node(c, peer_id);
    if (n < 0)
        return;
    c->nodes[n].liveness = to;
    md_log(to == TP_PEER_ALIVE ? MD_LOG_INFO : MD_LOG_WARN, "peer_state", MD_S("peer", peer_id),
           MD_S("from", tp_peer_state_name(from)), MD_S("to", tp_peer_state_name(to)));
    update_isolation(c);
    compute_all(c);
    changed(c);
}

static void on_gossip_item(void *ctx, const char *owner, const char *key, const uint8_t *val, size_t len,
                           uint64_t version)
{
    md_cluster *c = ctx;
    long n = find_node(c, owner);
    if (n < 0)
        return;
    if (strcmp(key, MD_NODE_INFO_KEY) == 0) {
        md_node_info info;
        if (md_node_info_decode(val, len, &info) < 0) {
            md_log(MD_LOG_WARN, "gossip_value_malformed", MD_S("peer", owner), MD_S("key", key));
            return;
        }
        c->nodes[n].info = info;
        c->nodes[n].have_info = true;
        compute_all(c);
        changed(c);
        return;
    }
    long svc = find_service(c, key);
    if (svc < 0)
        return; /* a service we do not watch: configs differ between nodes */
    md_obs o;
    if (md_obs_decode(val, len, &o) < 0) {
        md_log(MD_LOG_WARN, "gossip_value_malformed", MD_S("peer", owner), MD_S("service", key));
        return;
    }
    obs_slot *s = slot(c, (size_t)n, (size_t)svc);
    /* Only the step into suspicion asks: repeats of it (digest repair) would add nothing. */
    bool was_suspect = s->present && md_health_suspects(&s->obs);
    if (c->on_suspect && n > 0 && md_health_suspects(&o) && !was_suspect)
        c->on_suspect(c->on_suspect_ctx, (size_t)svc, (size_t)n);
    s->present = true;
    s->obs = o;
    s->version = version;
    s->fresh_ms = mono_ms();
    compute_verdict(c, (size_t)svc, s->fresh_ms);
    changed(c);
}

static void on_gossip_vouch(void *ctx, const char *owner)
{
    md_cluster *c = ctx;
    long n = find_node(c, owner);
    if (n < 0)
        return;
    c->nodes[n].vouch_ms = mono_ms();
}

static void on_gossip_reset(void *ctx, const char *owner)
{
    md_cluster *c = ctx;
    long n = find_node(c, owner);
    if (n < 0)
        return;
    for (size_t i = 0; i < c->n_svc; i++)
        slot(c, (size_t)n, i)->present = false;
    c->nodes[n].have_info = false;
    c->nodes[n].vouch_ms = 0;
    md_log(MD_LOG_INFO, "peer_restarted", MD_S("peer", owner));
    compute_all(c);
    changed(c);
}

/* vouched says whether a drop's peer id is known to be that peer's: the reasons the transport
 * gives only after the HMAC verified (or for our own sends). For the others (a failed HMAC, an
 * oversized, unparsable or newer-version frame) the id is whatever the frame claims. */
static bool vouched(tp_drop_reason why)
{
    return why == TP_DROP_REPLAY || why == TP_DROP_WRONG_CLUSTER || why == TP_DROP_SEND_QUEUE;
}

static void on_drop(void *ctx, const char *peer_hint, tp_drop_reason why, const char *detail)
{
    md_cluster *c = ctx;
    long n = peer_hint && vouched(why) ? find_node(c, peer_hint) : -1;
    /* Unknown ids and every claim the HMAC did not confirm share one bucket: an attacker can
     * neither flood the log by varying the id nor spend a real peer's line by naming it. */
    node_rt *bucket = n > 0 ? &c->nodes[n] : &c->unknown_sender;
    int64_t now = mono_ms();
    if (bucket->drop_logged_ms != 0 && now - bucket->drop_logged_ms < DROP_LOG_EVERY_MS) {
        bucket->drops_unlogged++;
        return;
    }
    if (n > 0)
        md_log(MD_LOG_WARN, "message_dropped", MD_S("peer", c->nodes[n].id), MD_S("reason", tp_drop_reason_name(why)),
               MD_S("detail", detail ? detail : ""), MD_I("dropped_since_last_log", bucket->drops_unlogged));
    else
        md_log(MD_LOG_WARN, "message_dropped", MD_S("peer", "unknown"),
               MD_S("claimed_peer", peer_hint ? peer_hint : "?"), MD_S("reason", tp_drop_reason_name(why)),
               MD_S("detail", detail ? detail : ""), MD_I("dropped_since_last_log", bucket->drops_unlogged));
    bucket->drop_logged_ms = now;
    bucket->drops_unlogged = 0;
    changed(c);
}

static void on_message(void *ctx, const char *from, uint8_t type, const uint8_t *body, size_t len)
{
    md_cluster *c = ctx;
    if (type == MD_MSG_RAFT && c->cons) {
        md_consensus_receive(c->cons, from, body, len);
        return;
    }
    if (c->app_fn && type == c->app_type) {
        c->app_fn(c->app_ctx, from, body, len);
        return;
    }
    md_log(MD_LOG_DEBUG, "message_ignored", MD_S("peer", from), MD_I("type", type));
}

static int send_raft(void *ctx, const char *peer_id, uint8_t type, const void *body, size_t len)
{
    md_cluster *c = ctx;
    return c->tp ? tp_send(c->tp, peer_id, type, body, len) : -ENOTCONN;
}

static void consensus_changed(void *ctx)
{
    changed(ctx);
}

/* ---- lifecycle ---- */

static void free_cluster(md_cluster *c)
{
    free(c->nodes);
    free(c->obs);
    free(c->own_pub);
    free(c->verdicts);
    free(c->by_name);
    free(c);
}

static int new_transport(md_cluster *c, bool insecure_dev, char *err, size_t errlen)
{
    const md_cluster_config *cc = &c->cfg->cluster;
    tp_peer_config peers[MD_CLUSTER_MAX_NODES];
    for (size_t i = 0; i < cc->n_peers; i++)
        peers[i] = (tp_peer_config){ .id = cc->peers[i].id, .address = cc->peers[i].address };
    const char *secret = cc->secret;
    if (!secret) {
        if (!insecure_dev) {
            snprintf(err, errlen, "cluster.secret: is required (or run with --insecure-dev for a local demo)");
            return -EINVAL;
        }
        secret = insecure_key;
        md_log(MD_LOG_WARN, "insecure_dev",
               MD_S("reason", "no cluster.secret: messages are signed with a public key; anyone can join"));
    }
    tp_config tc = {
        .cluster_name = cc->name,
        .self_id = c->cfg->node_id,
        .listen = cc->listen,
        .peers = peers,
        .n_peers = cc->n_peers,
        .secret = (const uint8_t *)secret,
        .secret_len = strlen(secret),
        .max_message_bytes = (size_t)cc->max_message_bytes,
        .gossip_interval_ms = cc->gossip_interval_ms,
        .peer_suspect_ms = cc->peer_suspect_ms,
        .peer_dead_ms = cc->peer_dead_ms,
        .links_per_peer = (size_t)cc->links_per_peer,
        /* A peer that comes back must be redialled within about a gossip interval, so that it
         * catches up that fast; on loopback or a LAN a retry every interval costs nothing. */
        .redial_min_ms = cc->gossip_interval_ms < 100 ? cc->gossip_interval_ms : 100,
        .redial_max_ms = cc->gossip_interval_ms,
        .tls_cert_file = cc->tls_cert_file,
        .tls_key_file = cc->tls_key_file,
        .tls_ca_file = cc->tls_ca_file,
        .epoch = (uint64_t)md_wall_ms(),
    };
    tp_callbacks cb = {
        .on_message = on_message,
        .on_peer_state = on_peer_state,
        .on_peer_lost = on_peer_lost,
        .on_gossip_item = on_gossip_item,
        .on_gossip_vouch = on_gossip_vouch,
        .on_gossip_reset = on_gossip_reset,
        .on_drop = on_drop,
        .ctx = c,
    };
    return tp_new(c->loop, &tc, &cb, &c->tp, err, errlen);
}

int md_cluster_new(uv_loop_t *loop, const md_config *cfg, bool insecure_dev, md_cluster **out, char *err,
                   size_t errlen)
{
    md_cluster *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->loop = loop;
    c->cfg = cfg;
    c->n_nodes = 1 + cfg->cluster.n_peers;
    c->n_svc = cfg->n_services;
    c->started_ms = md_wall_ms();
    size_t ns = c->n_svc ? c->n_svc : 1;
    c->nodes = calloc(c->n_nodes, sizeof *c->nodes);
    c->obs = calloc(c->n_nodes * ns, sizeof *c->obs);
    c->own_pub = calloc(ns, sizeof *c->own_pub);
    c->verdicts = calloc(ns, sizeof *c->verdicts);
    c->by_name = calloc(ns, sizeof *c->by_name);
    if (!c->nodes || !c->obs || !c->own_pub || !c->verdicts ||
        !c->by_name) {
        free_cluster(c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->nodes[0].id = cfg->node_id;
    c->nodes[0].region = cfg->node_region;
    c->nodes[0].liveness = TP_PEER_ALIVE;
    for (size_t i = 0; i < cfg->cluster.n_peers; i++) {
        c->nodes[i + 1].id = cfg->cluster.peers[i].id;
        c->nodes[i + 1].region = cfg->cluster.peers[i].region;
    }
    for (size_t i = 0; i < c->n_svc; i++) {
        c->by_name[i] = (uint32_t)i;
        c->verdicts[i].since_ms = c->started_ms;
    }
    sort_cfg = cfg;
    qsort(c->by_name, c->n_svc, sizeof *c->by_name, cmp_by_name);
    sort_cfg = NULL;
    if (cfg->cluster.enabled) {
        int rc = new_transport(c, insecure_dev, err, errlen);
        if (rc == 0 && (rc = md_consensus_new(loop, cfg, send_raft, c, &c->cons, err, errlen)) < 0) {
            tp_close(c->tp, NULL, NULL);
            c->tp = NULL;
        }
        if (rc < 0) {
            free_cluster(c);
            return rc;
        }
        md_consensus_set_on_change(c->cons, consensus_changed, c);
        md_consensus_set_late_tick(c->cons, drain_transport, c);
    }
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->timer_open = true;
    *out = c;
    return 0;
}

void md_cluster_set_on_suspect(md_cluster *c, void (*fn)(void *ctx, size_t svc, size_t peer), void *ctx)
{
    c->on_suspect = fn;
    c->on_suspect_ctx = ctx;
}

void md_cluster_set_on_change(md_cluster *c, void (*fn)(void *ctx), void *ctx)
{
    c->on_change = fn;
    c->on_change_ctx = ctx;
}

int md_cluster_start(md_cluster *c, char *err, size_t errlen)
{
    if (c->tp) {
        int rc = tp_start(c->tp, err, errlen);
        if (rc < 0)
            return rc;
        publish_info(c);
        md_consensus_start(c->cons);
    }
    /* Often enough that a stale vote stops counting within half a gossip interval. */
    uint64_t every = (uint64_t)(c->cfg->cluster.gossip_interval_ms / 2);
    if (every < 10)
        every = 10;
    c->sweep_every_ms = every;
    c->sweep_next = c->n_svc;
    c->sweep_started_ms = mono_ms();
    return uv_timer_start(&c->timer, on_timer, every, 0);
}

/* ---- what remediation reads ---- */

md_verdict md_cluster_verdict(const md_cluster *c, size_t i, int64_t *since_ms)
{
    assert(i < c->n_svc);
    if (since_ms)
        *since_ms = c->verdicts[i].since_ms;
    return c->verdicts[i].verdict;
}

void md_cluster_votes_text(const md_cluster *c, size_t i, char *buf, size_t len, int *down, int *total)
{
    md_voter voters[MD_CLUSTER_MAX_NODES];
    md_vote votes[MD_CLUSTER_MAX_NODES];
    int64_t now = mono_ms();
    for (size_t k = 0; k < c->n_nodes; k++)
        fill_voter(c, k, i, now, &voters[k]);
    const md_service_config *sc = &c->cfg->services[i];
    md_verdict_result r = md_verdict_compute(voters, c->n_nodes, sc->quorum, 3 * sc->interval_ms, votes);
    votes_text(c, votes, buf, len);
    if (down)
        *down = r.down;
    if (total)
        *total = (int)c->n_nodes;
}

md_state md_cluster_own_state(const md_cluster *c, size_t i, int64_t *since_ms)
{
    const obs_slot *s = slot(c, 0, i);
    if (since_ms)
        *since_ms = s->present ? s->obs.state_since_ms : 0;
    return s->present ? s->obs.state : MD_STATE_UNKNOWN;
}

struct md_consensus *md_cluster_consensus(md_cluster *c)
{
    return c->cons;
}

int md_cluster_send(md_cluster *c, const char *peer_id, uint8_t type, const void *body, size_t len)
{
    return c->tp ? tp_send(c->tp, peer_id, type, body, len) : -ENOTCONN;
}

void md_cluster_on_message(md_cluster *c, uint8_t type, md_cluster_msg_fn fn, void *ctx)
{
    c->app_type = type;
    c->app_fn = fn;
    c->app_ctx = ctx;
}

/* ---- views ---- */

static const char *liveness_name(tp_peer_state s)
{
    switch (s) {
    case TP_PEER_ALIVE: return "alive";
    case TP_PEER_SUSPECT: return "suspect";
    case TP_PEER_DEAD: return "dead";
    default: return "unknown";
    }
}

static const char *const drop_names[MD_VIEW_DROP_REASONS] = { "auth", "unknown_sender", "wrong_cluster", "replay",
                                                              "too_large", "version", "malformed", "send_queue",
                                                              "unauth_conn" };

static int fill_nodes(const md_cluster *c, md_view *s, int64_t now_mono, int64_t now_wall)
{
    s->n_nodes = c->n_nodes;
    s->nodes = md_view_calloc(s, c->n_nodes * sizeof *s->nodes);
    if (!s->nodes)
        return -ENOMEM;
    for (size_t i = 0; i < c->n_nodes; i++) {
        const node_rt *n = &c->nodes[i];
        md_view_node *o = &s->nodes[i];
        o->id = md_view_strdup(s, n->id);
        o->region = md_view_strdup(s, n->have_info ? n->info.region : n->region);
        o->is_self = i == 0;
        o->liveness = i == 0 ? "self" : liveness_name(n->liveness);
        o->isolated = i == 0 ? c->isolated : n->have_info && n->info.isolated;
        o->rtt_us = -1;
        if (i == 0 || !c->tp)
            continue;
        tp_peer_info pi;
        if (tp_peer_get(c->tp, i - 1, &pi) == 0) {
            o->connected = pi.connected;
            o->rtt_us = pi.rtt_us;
            o->last_seen_ms = pi.last_seen_ms > 0 ? now_wall - ((int64_t)uv_now(c->loop) - pi.last_seen_ms) : 0;
            o->msgs_in = pi.msgs_in;
            o->msgs_out = pi.msgs_out;
            o->bytes_in = pi.bytes_in;
            o->bytes_out = pi.bytes_out;
        }
    }
    (void)now_mono;
    return 0;
}

int md_cluster_fill_view(const md_cluster *c, md_view *s)
{
    int64_t now = mono_ms(), wall = md_wall_ms();
    s->cluster_name = c->cfg->cluster.enabled ? md_view_strdup(s, c->cfg->cluster.name) : NULL;
    s->cluster_quorum = c->cfg->cluster.quorum;
    s->drop_reason_names = drop_names;
    if (c->tp) {
        uint64_t d[TP_DROP_COUNT];
        tp_drops(c->tp, d);
        for (int i = 0; i < TP_DROP_COUNT && i < MD_VIEW_DROP_REASONS; i++)
            s->drops[i] = d[i];
    }
    if (fill_nodes(c, s, now, wall) < 0)
        return -ENOMEM;
    if (c->cons && md_consensus_fill_view(c->cons, s) < 0)
        return -ENOMEM;
    assert(s->n_services == c->n_svc);

    for (size_t j = 0; j < c->n_svc; j++) {
        md_view_service *ss = &s->services[j];
        const verdict_rt *v = &c->verdicts[j];
        const md_service_config *sc = &c->cfg->services[j];
        ss->verdict = v->verdict;
        ss->verdict_since_ms = v->since_ms;
        ss->votes_up = (int16_t)v->up;
        ss->votes_down = (int16_t)v->down;
        ss->quorum = (int16_t)sc->quorum;
        ss->obs = md_view_calloc(s, c->n_nodes * sizeof *ss->obs);
        if (!ss->obs)
            return -ENOMEM;
        for (size_t i = 0; i < c->n_nodes; i++) {
            md_voter voter;
            fill_voter(c, i, j, now, &voter);
            const obs_slot *sl = slot(c, i, j);
            md_view_obs *o = &ss->obs[i];
            o->present = sl->present;
            o->vote = (uint8_t)md_vote_of(&voter, 3 * sc->interval_ms);
            o->age_ms = sl->present ? voter.age_ms : -1;
            if (!sl->present)
                continue;
            o->state = (uint8_t)sl->obs.state;
            o->consecutive_failures = (int32_t)sl->obs.consecutive_failures;
            o->latency_us = sl->obs.latency_us;
            o->err = (uint8_t)sl->obs.err;
            o->http_status = sl->obs.http_status;
            o->observed_at_ms = sl->obs.observed_at_ms;
        }
    }
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    md_cluster *c = h->data;
    c->timer_open = false;
    if (c->tp)
        return; /* the transport's done callback finishes */
    void (*done)(void *) = c->done;
    void *arg = c->done_arg;
    free_cluster(c);
    if (done)
        done(arg);
}

static void on_tp_closed(void *arg)
{
    md_cluster *c = arg;
    c->tp = NULL;
    if (c->timer_open)
        return;
    void (*done)(void *) = c->done;
    void *done_arg = c->done_arg;
    free_cluster(c);
    if (done)
        done(done_arg);
}

/* Consensus first (a leader hands over while the transport still carries messages), then
 * the transport. */
static void on_consensus_closed(void *arg)
{
    md_cluster *c = arg;
    c->cons = NULL;
    tp_close(c->tp, on_tp_closed, c);
}

void md_cluster_close(md_cluster *c, void (*done)(void *arg), void *arg)
{
    assert(!c->closing);
    c->closing = true;
    c->done = done;
    c->done_arg = arg;
    c->on_change = NULL;
    uv_timer_stop(&c->timer);
    if (c->cons)
        md_consensus_close(c->cons, on_consensus_closed, c);
    else if (c->tp)
        tp_close(c->tp, on_tp_closed, c);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}
