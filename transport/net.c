/* net.c: nng sockets driven from the libuv loop. One pull0 socket listens on cfg->listen and
 * receives from every peer; each peer gets links_per_peer push0 sockets (links), each with its
 * own dialer, and every message to it is sent on each link that is up. The loop
 * polls the pull socket's NNG_OPT_RECVFD and drains it without blocking; sends never block. nng's
 * own threads never call into tp (the one pipe callback, in pipe_events.c, only sets a flag and wakes
 * the loop), and whether a peer is connected is read from nng's pipe statistics on the loop
 * thread. */
#include "tp_int.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include <stdarg.h>

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
}

static int errno_of(int nng_rv)
{
    switch (nng_rv) {
    case NNG_ENOMEM: return -ENOMEM;
    case NNG_EADDRINUSE: return -EADDRINUSE;
    case NNG_EADDRINVAL: return -EINVAL;
    case NNG_EINVAL: return -EINVAL;
    case NNG_ENOTSUP: return -ENOTSUP;
    case NNG_ENOENT: return -ENOENT;
    case NNG_EPERM: return -EACCES;
    case NNG_ECRYPTO: return -EPROTO;
    case NNG_EAGAIN: return -EAGAIN;
    default: return -EIO;
    }
}

static bool is_tls(const char *addr) { return strncmp(addr, "tls+tcp://", 10) == 0; }

/* read_pem reads a whole PEM file into a NUL-terminated heap string (caller frees). Startup only. */
static int read_pem(const char *path, char **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -ENOENT;
    }
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap + 1);
    if (buf != NULL) {
        len = fread(buf, 1, cap, f);
    }
    bool too_big = buf != NULL && len == cap && fgetc(f) != EOF;
    fclose(f);
    if (buf == NULL || too_big) {
        free(buf);
        set_err(err, errlen, "%s: %s", path, buf == NULL ? "out of memory" : "over 64 KiB");
        return buf == NULL ? -ENOMEM : -EFBIG;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

/* server_name copies the host of "tls+tcp://host:port" (brackets stripped) into out. */
static void server_name(const char *addr, char *out, size_t outlen)
{
    const char *h = addr + 10;
    const char *end = strrchr(h, ':');
    if (end == NULL) {
        end = h + strlen(h);
    }
    if (*h == '[' && end > h && end[-1] == ']') {
        h++;
        end--;
    }
    size_t n = (size_t)(end - h) < outlen - 1 ? (size_t)(end - h) : outlen - 1;
    memcpy(out, h, n);
    out[n] = '\0';
}

/* tls_make builds a mutual-TLS config: our certificate and key, the CA, verification required. */
static int tls_make(nng_tls_mode mode, const char *name, const char *cert, const char *key, const char *ca_file,
                    nng_tls_config **out, char *err, size_t errlen)
{
    nng_tls_config *c;
    int rv = nng_tls_config_alloc(&c, mode);
    if (rv != 0) {
        set_err(err, errlen, "tls: %s", nng_strerror(rv));
        return errno_of(rv);
    }
    const char *what = "tls_cert_file/tls_key_file";
    if ((rv = nng_tls_config_own_cert(c, cert, key, NULL)) == 0) {
        what = "tls_ca_file";
        if ((rv = nng_tls_config_ca_file(c, ca_file)) == 0) {
            what = "tls auth mode";
            if ((rv = nng_tls_config_auth_mode(c, NNG_TLS_AUTH_MODE_REQUIRED)) == 0 && name != NULL) {
                what = "tls server name";
                rv = nng_tls_config_server_name(c, name);
            }
        }
    }
    if (rv != 0) {
        set_err(err, errlen, "%s: %s", what, nng_strerror(rv));
        nng_tls_config_free(c);
        return errno_of(rv) == -EIO ? -EINVAL : errno_of(rv);
    }
    *out = c;
    return 0;
}

static int open_listener(tp *t, const char *cert, const char *key, const char *ca, char *err, size_t errlen)
{
    int rv = nng_pull0_open(&t->pull);
    if (rv != 0) {
        set_err(err, errlen, "listen: %s", nng_strerror(rv));
        return errno_of(rv);
    }
    t->pull_open = true;
    if (tp__guard_watch(t) != 0) {
        set_err(err, errlen, "listen: cannot watch incoming connections");
        return -EIO;
    }
    /* nng drops (and disconnects) far larger frames itself; we count those a little over. */
    nng_socket_set_size(t->pull, NNG_OPT_RECVMAXSZ, t->max_bytes + TP__RECV_SLACK);
    if ((rv = nng_listener_create(&t->listener, t->pull, t->listen)) != 0) {
        set_err(err, errlen, "listen: %s: %s", t->listen, nng_strerror(rv));
        return -EINVAL;
    }
    if (is_tls(t->listen)) {
        int rc = tls_make(NNG_TLS_MODE_SERVER, NULL, cert, key, ca, &t->tls_server, err, errlen);
        if (rc != 0) {
            return rc;
        }
        if ((rv = nng_listener_set_ptr(t->listener, NNG_OPT_TLS_CONFIG, t->tls_server)) != 0) {
            set_err(err, errlen, "listen: %s: tls: %s", t->listen, nng_strerror(rv));
            return errno_of(rv);
        }
    }
    return 0;
}

/* make_dialer gives a link's push socket a dialer to its peer's address (not started). */
static int make_dialer(tp *t, tp__link *l, char *err, size_t errlen)
{
    tp__peer *p = l->peer;
    int rv;
    if ((rv = nng_dialer_create(&l->dialer, l->push, p->address)) != 0) {
        set_err(err, errlen, "peers[%s].address: %s: %s", p->id, p->address, nng_strerror(rv));
        return -EINVAL;
    }
    nng_dialer_set_ms(l->dialer, NNG_OPT_RECONNMINT, (nng_duration)t->redial_min_ms);
    nng_dialer_set_ms(l->dialer, NNG_OPT_RECONNMAXT, (nng_duration)t->redial_max_ms);
    if (p->tls != NULL && (rv = nng_dialer_set_ptr(l->dialer, NNG_OPT_TLS_CONFIG, p->tls)) != 0) {
        set_err(err, errlen, "peer %s: tls: %s", p->id, nng_strerror(rv));
        return errno_of(rv);
    }
    return 0;
}

int tp__net_redial(tp *t, tp__link *l)
{
    char err[128];
    assert(t->started && l->open);
    nng_dialer_close(l->dialer); /* aborts a connect still waiting on its SYN retransmissions */
    int rc = make_dialer(t, l, err, sizeof err);
    if (rc == 0) {
        int rv = nng_dialer_start(l->dialer, NNG_FLAG_NONBLOCK);
        rc = rv == 0 ? 0 : errno_of(rv);
    }
    return rc;
}

static int open_dialer(tp *t, tp__peer *p, const char *cert, const char *key, const char *ca, char *err,
                       size_t errlen)
{
    if (is_tls(p->address)) {
        char name[256];
        server_name(p->address, name, sizeof name);
        int rc = tls_make(NNG_TLS_MODE_CLIENT, name, cert, key, ca, &p->tls, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    for (size_t k = 0; k < t->n_links; k++) {
        tp__link *l = &p->link[k];
        int rv = nng_push0_open(&l->push);
        if (rv != 0) {
            set_err(err, errlen, "peer %s: %s", p->id, nng_strerror(rv));
            return errno_of(rv);
        }
        l->open = true;
        if (tp__hangup_watch(t, l) != 0) {
            set_err(err, errlen, "peer %s: cannot watch its connection", p->id);
            return -EIO;
        }
        nng_socket_set_int(l->push, NNG_OPT_SENDBUF, TP__SEND_BUF);
        nng_socket_set_size(l->push, NNG_OPT_RECVMAXSZ, 1024); /* a push socket never expects data */
        if ((rv = make_dialer(t, l, err, errlen)) != 0) {
            return rv;
        }
    }
    return 0;
}

int tp__net_open(tp *t, const tp_config *cfg, char *err, size_t errlen)
{
    bool tls = is_tls(t->listen);
    for (size_t i = 0; i < t->n_peers; i++) {
        tls = tls || is_tls(t->peers[i].address);
    }
    int files = (cfg->tls_cert_file != NULL) + (cfg->tls_key_file != NULL) + (cfg->tls_ca_file != NULL);
    if (files != 0 && files != 3) {
        set_err(err, errlen, "tls_cert_file, tls_key_file, tls_ca_file: give all three or none");
        return -EINVAL;
    }
    if (tls && files != 3) {
        set_err(err, errlen, "tls+tcp:// needs tls_cert_file, tls_key_file and tls_ca_file");
        return -EINVAL;
    }
    char *cert = NULL, *key = NULL;
    int rc = 0;
    if (tls && ((rc = read_pem(cfg->tls_cert_file, &cert, err, errlen)) != 0 ||
                (rc = read_pem(cfg->tls_key_file, &key, err, errlen)) != 0)) {
        goto out;
    }
    if ((rc = open_listener(t, cert, key, cfg->tls_ca_file, err, errlen)) != 0) {
        goto out;
    }
    for (size_t i = 0; i < t->n_peers && rc == 0; i++) {
        rc = open_dialer(t, &t->peers[i], cert, key, cfg->tls_ca_file, err, errlen);
    }
out:
    if (key != NULL) {
        explicit_bzero(key, strlen(key)); /* the private key stays in nng's copy only */
    }
    free(key);
    free(cert);
    return rc;
}

/* msgs_accepted: authenticated messages from every peer so far; grows iff tp__rx accepted one. */
static uint64_t msgs_accepted(const tp *t)
{
    uint64_t n = 0;
    for (size_t i = 0; i < t->n_peers; i++) {
        n += t->peers[i].msgs_in;
    }
    return n;
}

/* drain handles queued messages, at most TP__DRAIN_MAX of them or TP__DRAIN_BYTES of bodies: a
 * full gossip set at 100,000 items is several 512 KiB chunks, and handling all of them in one turn
 * would hold back the Raft messages behind them. What is left keeps the descriptor readable. */
static void drain(tp *t)
{
    size_t bytes = 0;
    for (int i = 0; i < TP__DRAIN_MAX && bytes < TP__DRAIN_BYTES && !t->closing; i++) {
        nng_msg *m;
        if (nng_recvmsg(t->pull, &m, NNG_FLAG_NONBLOCK) != 0) {
            break; /* NNG_EAGAIN: drained */
        }
        uint64_t before = msgs_accepted(t);
        bytes += nng_msg_len(m);
        tp__rx(t, nng_msg_body(m), nng_msg_len(m));
        if (msgs_accepted(t) != before) {
            tp__guard_authed(t, nng_pipe_id(nng_msg_get_pipe(m))); /* a peer: no longer a guest */
        }
        nng_msg_free(m);
    }
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    tp *t = h->data;
    (void)events;
    if (status < 0) {
        return; /* nng's notification fd does not fail; if it did, the next wakeup retries */
    }
    drain(t);
}

void tp_drain(tp *t)
{
    if (t != NULL && t->started && !t->closing) {
        drain(t);
    }
}

int tp__net_start(tp *t, char *err, size_t errlen)
{
    int rv = nng_listener_start(t->listener, 0);
    if (rv != 0) {
        set_err(err, errlen, "listen: %s: %s", t->listen, nng_strerror(rv));
        return errno_of(rv);
    }
    int fd;
    if ((rv = nng_socket_get_int(t->pull, NNG_OPT_RECVFD, &fd)) != 0) {
        set_err(err, errlen, "listen: recv fd: %s", nng_strerror(rv));
        return errno_of(rv);
    }
    int uv_rc = uv_poll_init(t->loop, &t->rx_poll, fd);
    if (uv_rc != 0) {
        set_err(err, errlen, "listen: poll: %s", uv_strerror(uv_rc));
        return uv_rc;
    }
    t->rx_poll.data = t;
    t->rx_poll_init = true;
    if ((uv_rc = uv_poll_start(&t->rx_poll, UV_READABLE, on_readable)) != 0) {
        set_err(err, errlen, "listen: poll: %s", uv_strerror(uv_rc));
        return uv_rc;
    }
    for (size_t i = 0; i < t->n_peers; i++) {
        for (size_t k = 0; k < t->n_links; k++) {
            /* Non-blocking: a peer that is down now is redialled in the background with backoff. */
            if ((rv = nng_dialer_start(t->peers[i].link[k].dialer, NNG_FLAG_NONBLOCK)) != 0) {
                set_err(err, errlen, "peer %s: dial: %s", t->peers[i].id, nng_strerror(rv));
                return errno_of(rv);
            }
        }
    }
    return 0;
}

/* socket_pipes returns the "pipes" statistic of socket id, or -1 when it is not there. We walk
 * the snapshot ourselves: nng 1.5.2's nng_stat_find_socket finds only the first socket. */
static int64_t socket_pipes(nng_stat *root, int id)
{
    for (nng_stat *s = nng_stat_child(root); s != NULL; s = nng_stat_next(s)) {
        if (strcmp(nng_stat_name(s), "socket") != 0) {
            continue;
        }
        nng_stat *sid = nng_stat_find(s, "id"), *pipes = nng_stat_find(s, "pipes");
        if (sid != NULL && pipes != NULL && nng_stat_value(sid) == (uint64_t)id) {
            return (int64_t)nng_stat_value(pipes);
        }
    }
    return -1;
}

void tp__net_refresh(tp *t)
{
    t->conn_checked_ms = uv_now(t->loop);
    nng_stat *all = NULL;
    if (nng_stats_get(&all) != 0) {
        all = NULL;
    }
    for (size_t i = 0; i < t->n_peers; i++) {
        tp__peer *p = &t->peers[i];
        p->connected = false;
        for (size_t k = 0; k < t->n_links; k++) {
            tp__link *l = &p->link[k];
            int64_t pipes = all != NULL ? socket_pipes(all, nng_socket_id(l->push)) : -1;
            /* Without statistics we cannot tell; then sends are queued and nng delivers them later. */
            l->connected = t->started && pipes != 0;
            p->connected = p->connected || l->connected;
        }
    }
    if (all != NULL) {
        nng_stats_free(all);
    }
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* send_on seals one envelope for p and queues a copy on every link in mask that is up; all copies
 * carry the same sequence number, so the receiver keeps the first and drops the others. */
static int send_on(tp *t, tp__peer *p, unsigned mask, uint8_t type, const void *body, size_t len,
                   bool count_unconnected)
{
    assert(!t->closing);
    if (!p->connected && uv_now(t->loop) - t->conn_checked_ms >= TP__CONN_RECHECK_MS) {
        tp__net_refresh(t);
    }
    if (!p->connected) {
        if (count_unconnected) {
            tp__drop(t, p->id, TP_DROP_SEND_QUEUE, "peer not connected");
        }
        return -EAGAIN;
    }
    tp__env e = {.version = TP_PROTOCOL_VERSION,
                 .type = type,
                 .cluster = (const uint8_t *)t->cluster,
                 .cluster_len = strlen(t->cluster),
                 .sender = (const uint8_t *)t->self_id,
                 .sender_len = strlen(t->self_id),
                 .dest = (const uint8_t *)p->id,
                 .dest_len = p->id_len,
                 .epoch = t->epoch,
                 .nonce = t->nonce,
                 .echo = p->nonce_in,
                 .seq = p->seq_out + 1,
                 .sent_at_ms = wall_ms(),
                 .body = body,
                 .body_len = len};
    size_t n = tp__env_size(&e);
    if (n > t->max_bytes) {
        return -EMSGSIZE;
    }
    nng_msg *m;
    if (nng_msg_alloc(&m, n) != 0) {
        return -ENOMEM;
    }
    int rc = tp__env_seal(&e, &t->mac, nng_msg_body(m), n);
    assert(rc == 0);
    (void)rc;
    p->seq_out++;
    size_t sent = 0, up = 0;
    for (size_t k = 0; k < t->n_links; k++) {
        tp__link *l = &p->link[k];
        nng_msg *copy;
        if (!(mask & (1u << k)) || !l->connected) {
            continue;
        }
        up++;
        if (nng_msg_dup(&copy, m) != 0) {
            continue;
        }
        /* A send that succeeds takes the message; one that fails leaves it with us. */
        if (nng_sendmsg(l->push, copy, NNG_FLAG_NONBLOCK) != 0) {
            nng_msg_free(copy);
        } else {
            sent++;
        }
    }
    nng_msg_free(m);
    if (sent == 0) {
        if (up > 0 || count_unconnected) {
            tp__drop(t, p->id, TP_DROP_SEND_QUEUE, up > 0 ? "send queue full" : "peer not connected");
        }
        return -EAGAIN;
    }
    p->msgs_out++;
    p->bytes_out += n;
    return 0;
}

int tp__net_send(tp *t, tp__peer *p, uint8_t type, const void *body, size_t len, bool count_unconnected)
{
    return send_on(t, p, ~0u, type, body, len, count_unconnected);
}

int tp__net_send_link(tp *t, tp__peer *p, size_t link, uint8_t type, const void *body, size_t len)
{
    assert(link < t->n_links);
    return send_on(t, p, 1u << link, type, body, len, false);
}

void tp__net_close(tp *t)
{
    /* The poll handle is already closed; this may run on a worker thread (see tp_close). */
    for (size_t i = 0; i < t->n_peers; i++) {
        tp__peer *p = &t->peers[i];
        for (size_t k = 0; k < TP_MAX_LINKS; k++) {
            if (p->link[k].open) {
                nng_close(p->link[k].push);
                p->link[k].open = false;
            }
        }
        if (p->tls != NULL) {
            nng_tls_config_free(p->tls);
            p->tls = NULL;
        }
    }
    if (t->pull_open) {
        nng_close(t->pull);
        t->pull_open = false;
    }
    tp__guard_free(t); /* nng_close returned: no pipe callback runs any more */
    if (t->tls_server != NULL) {
        nng_tls_config_free(t->tls_server);
        t->tls_server = NULL;
    }
}
