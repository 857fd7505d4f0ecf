/* test_tp_util.c: the live-test harness of test_tp_util.h: real tp instances on one loop. */
#include "test_tp_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

int tpt_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

int tpt_index(const char *id) { return id[0] - 'A'; }

void tpt_init(tpt_cluster *c, int n, int64_t gossip_ms, int64_t suspect_ms, int64_t dead_ms)
{
    assert_true(n >= 1 && n <= TPT_MAX_NODES);
    memset(c, 0, sizeof *c);
    assert_int_equal(uv_loop_init(&c->loop), 0);
    c->n = n;
    c->scheme = "tcp";
    c->secret = "test-cluster-secret-0123456789";
    c->gossip_ms = gossip_ms;
    c->suspect_ms = suspect_ms;
    c->dead_ms = dead_ms;
    for (int i = 0; i < n; i++) {
        tpt_node *nd = &c->node[i];
        nd->c = c;
        nd->index = i;
        nd->id[0] = (char)('A' + i);
        nd->port = tpt_free_port();
    }
}

static tpt_node *self(void *ctx) { return ctx; }

static void on_message(void *ctx, const char *from, uint8_t type, const uint8_t *body, size_t len)
{
    tpt_node *n = self(ctx);
    n->messages++;
    n->last_type = type;
    snprintf(n->last_from, sizeof n->last_from, "%s", from);
    snprintf(n->last_msg, sizeof n->last_msg, "%.*s", (int)len, (const char *)body);
}

static void on_peer_state(void *ctx, const char *peer, tp_peer_state from, tp_peer_state to)
{
    tpt_node *n = self(ctx);
    int i = tpt_index(peer);
    assert_true(i >= 0 && i < TPT_MAX_NODES);
    assert_int_equal(n->state_of[i], from);
    n->state_of[i] = to;
    uint64_t now = uv_hrtime();
    if (to == TP_PEER_SUSPECT) {
        n->suspect_at_ns[i] = now;
    } else if (to == TP_PEER_DEAD) {
        n->dead_at_ns[i] = now;
    } else if (to == TP_PEER_ALIVE) {
        n->alive_at_ns[i] = now;
    }
}

static void on_item(void *ctx, const char *owner, const char *key, const uint8_t *val, size_t len, uint64_t version)
{
    tpt_node *n = self(ctx);
    if (n->n_items == n->cap_items) {
        n->cap_items = n->cap_items ? n->cap_items * 2 : 64;
        n->items = realloc(n->items, n->cap_items * sizeof *n->items);
        assert_non_null(n->items);
    }
    tpt_item *it = &n->items[n->n_items++];
    snprintf(it->owner, sizeof it->owner, "%s", owner);
    snprintf(it->key, sizeof it->key, "%s", key);
    snprintf(it->val, sizeof it->val, "%.*s", (int)len, (const char *)val);
    it->version = version;
    it->at_ns = uv_hrtime();
    n->items_from[tpt_index(owner)]++;
}

static void on_vouch(void *ctx, const char *owner) { self(ctx)->vouches_from[tpt_index(owner)]++; }
static void on_reset(void *ctx, const char *owner) { self(ctx)->resets_from[tpt_index(owner)]++; }

static void on_removed(void *ctx, const char *owner, const char *key)
{
    tpt_node *n = self(ctx);
    n->removed_from[tpt_index(owner)]++;
    snprintf(n->last_removed, sizeof n->last_removed, "%s", key);
}

static void on_drop(void *ctx, const char *hint, tp_drop_reason why, const char *detail)
{
    (void)hint, (void)why, (void)detail;
    self(ctx)->drops_cb++;
}

int tpt_try_start(tpt_cluster *c, int i, uint64_t epoch, char *err, size_t errlen)
{
    tpt_node *n = &c->node[i];
    assert_null(n->t);
    char listen[64], addrs[TPT_MAX_NODES][64];
    tp_peer_config peers[TPT_MAX_NODES];
    size_t np = 0;
    snprintf(listen, sizeof listen, "%s://127.0.0.1:%d", c->scheme, n->port);
    for (int j = 0; j < c->n; j++) {
        if (j != i) {
            snprintf(addrs[np], sizeof addrs[np], "%s://127.0.0.1:%d", c->scheme,
                     n->via_port[j] ? n->via_port[j] : c->node[j].port);
            peers[np] = (tp_peer_config){.id = c->node[j].id, .address = addrs[np]};
            np++;
        }
    }
    const char *secret = n->secret ? n->secret : c->secret;
    tp_config cfg = {.cluster_name = "test",
                     .self_id = n->id,
                     .listen = listen,
                     .peers = peers,
                     .n_peers = np,
                     .secret = (const uint8_t *)secret,
                     .secret_len = strlen(secret),
                     .gossip_interval_ms = c->gossip_ms,
                     .peer_suspect_ms = c->suspect_ms,
                     .peer_dead_ms = c->dead_ms,
                     .links_per_peer = n->links,
                     .redial_min_ms = 20,
                     .redial_max_ms = 200,
                     .tls_cert_file = n->cert,
                     .tls_key_file = n->key,
                     .tls_ca_file = n->ca,
                     .epoch = epoch};
    tp_callbacks cb = {.on_message = on_message,
                       .on_peer_state = on_peer_state,
                       .on_gossip_item = on_item,
                       .on_gossip_vouch = on_vouch,
                       .on_gossip_reset = on_reset,
                       .on_gossip_removed = on_removed,
                       .on_drop = on_drop,
                       .ctx = n};
    for (int j = 0; j < TPT_MAX_NODES; j++) {
        n->state_of[j] = TP_PEER_UNKNOWN;
    }
    tp *t;
    int rc = tp_new(&c->loop, &cfg, &cb, &t, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if ((rc = tp_start(t, err, errlen)) != 0) {
        tp_close(t, NULL, NULL);
        uv_run(&c->loop, UV_RUN_NOWAIT);
        return rc;
    }
    n->t = t;
    return 0;
}

void tpt_start(tpt_cluster *c, int i, uint64_t epoch)
{
    char err[256] = "";
    int rc = tpt_try_start(c, i, epoch, err, sizeof err);
    if (rc != 0) {
        fail_msg("node %s: %s (%d)", c->node[i].id, err, rc);
    }
}

static void closed(void *arg) { *(bool *)arg = true; }

/* A close that never finishes has been seen only in CI, rarely: print every thread's stack so the
 * next one says where it waits (the sockets close on libuv's thread pool, inside nng). */
static void print_threads(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd,
             "command -v gdb >/dev/null && gdb -p %d -batch -ex 'thread apply all bt' </dev/null 2>/dev/null | "
             "grep -v '^\\[' >&2",
             (int)getpid());
    if (system(cmd) != 0)
        print_message("(no thread stacks: gdb is missing or could not attach)\n");
}

void tpt_stop(tpt_cluster *c, int i)
{
    tpt_node *n = &c->node[i];
    assert_non_null(n->t);
    bool done = false;
    tp_close(n->t, closed, &done);
    n->t = NULL;
    /* the sockets close on a worker thread; its completion wakes the loop */
    uint64_t deadline = uv_hrtime() + 10 * 1000000000ull;
    while (!done && uv_hrtime() < deadline) {
        uv_run(&c->loop, UV_RUN_NOWAIT);
        if (!done) {
            usleep(1000);
        }
    }
    if (!done) {
        print_message("node %s: tp_close did not finish within 10 s; the threads:\n", n->id);
        print_threads();
    }
    assert_true(done);
}

void tpt_fini(tpt_cluster *c)
{
    for (int i = 0; i < c->n; i++) {
        if (c->node[i].t != NULL) {
            tpt_stop(c, i);
        }
        free(c->node[i].items);
    }
    uv_run(&c->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&c->loop), 0);
}

typedef struct {
    tpt_cluster *c;
    bool (*pred)(tpt_cluster *c, void *arg);
    void *arg;
    uint64_t deadline_ns;
    bool met;
} waiter;

static void on_check(uv_timer_t *h)
{
    waiter *w = h->data;
    if ((w->pred != NULL && w->pred(w->c, w->arg)) || uv_hrtime() >= w->deadline_ns) {
        w->met = w->pred != NULL && w->pred(w->c, w->arg);
        uv_stop(h->loop);
    }
}

bool tpt_run_until(tpt_cluster *c, bool (*pred)(tpt_cluster *c, void *arg), void *arg, int timeout_ms)
{
    waiter w = {.c = c, .pred = pred, .arg = arg, .deadline_ns = uv_hrtime() + (uint64_t)timeout_ms * 1000000u};
    if (pred != NULL && pred(c, arg)) {
        return true;
    }
    uv_timer_t check;
    uv_timer_init(&c->loop, &check);
    check.data = &w;
    uv_timer_start(&check, on_check, 1, 1);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&check, NULL);
    uv_run(&c->loop, UV_RUN_NOWAIT);
    return w.met;
}

void tpt_run_for(tpt_cluster *c, int ms) { tpt_run_until(c, NULL, NULL, ms); }

tp_peer_info tpt_peer(const tpt_node *n, const char *peer_id)
{
    tp_peer_info info = {0};
    for (size_t i = 0; i < tp_peer_count(n->t); i++) {
        assert_int_equal(tp_peer_get(n->t, i, &info), 0);
        if (strcmp(info.id, peer_id) == 0) {
            return info;
        }
    }
    fail_msg("no peer %s", peer_id);
    return info;
}

bool tpt_all_alive(tpt_cluster *c, void *arg)
{
    (void)arg;
    for (int i = 0; i < c->n; i++) {
        for (int j = 0; j < c->n; j++) {
            if (i == j || c->node[i].t == NULL || c->node[j].t == NULL) {
                continue;
            }
            tp_peer_info p = tpt_peer(&c->node[i], c->node[j].id);
            if (p.state != TP_PEER_ALIVE || p.rtt_us <= 0 || !p.connected) {
                return false;
            }
        }
    }
    return true;
}

const tpt_item *tpt_find_item(const tpt_node *n, const char *owner, const char *key)
{
    for (size_t i = n->n_items; i-- > 0;) {
        if (strcmp(n->items[i].owner, owner) == 0 && strcmp(n->items[i].key, key) == 0) {
            return &n->items[i];
        }
    }
    return NULL;
}

uint64_t tpt_drops(const tpt_node *n, tp_drop_reason why)
{
    uint64_t d[TP_DROP_COUNT];
    tp_drops(n->t, d);
    return d[why];
}
