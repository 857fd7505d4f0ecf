/* exec_actuator.c: one child process per action, driven by three libuv handles: the process,
 * the read end of its output pipe, and one timer reused for each phase (deferred failure report,
 * timeout, kill grace, output drain after exit). The result is reported once both the process
 * has exited and the pipe is done; the handles close afterwards and the last close frees it. */
#include "exec_actuator.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "util.h"

extern char **environ;

/* After argv[0] exits, how long to wait for the pipe's EOF: a grandchild that kept the pipe open
 * (a daemon it started) must not hold the result back. */
#define DRAIN_MS 250
#define READ_CHUNK 16384
#define N_MEDIC_VARS 5

typedef enum { PH_NONE, PH_DEFERRED, PH_TIMEOUT, PH_GRACE, PH_DRAIN } phase;

struct md_exec {
    uv_loop_t *loop;
    uv_process_t proc;
    uv_pipe_t out;
    uv_timer_t timer;
    md_exec_done_cb cb;
    void *ctx;
    int open_handles;          /* initialized uv handles not yet through their close callback */
    bool proc_inited, running, pipe_closed, timed_out, cancelled, finished;
    phase ph;
    pid_t pid;
    int64_t start_us, end_us, timeout_ms, grace_ms;
    int exit_status, term_signal, spawn_error;
    char argv0[96];            /* for the summary, cut */
    uint64_t total;            /* bytes the child wrote */
    size_t head;               /* next write position in ring */
    char ring[MD_EXEC_OUTPUT_MAX];
    char rbuf[READ_CHUNK];
};

static void on_closed(uv_handle_t *h)
{
    md_exec *x = h->data;
    assert(x->open_handles > 0);
    if (--x->open_handles == 0)
        free(x);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_closed);
}

/* Signals the child's whole process group (it is a session leader, so pgid == pid). */
static void kill_group(md_exec *x, int sig)
{
    if (x->pid <= 0)
        return;
    if (kill(-x->pid, sig) != 0 && errno == ESRCH && x->running)
        kill(x->pid, sig);
}

static void ring_put(md_exec *x, const char *p, size_t n)
{
    x->total += n;
    if (n >= sizeof(x->ring)) {
        memcpy(x->ring, p + n - sizeof(x->ring), sizeof(x->ring));
        x->head = 0;
        return;
    }
    size_t first = sizeof(x->ring) - x->head;
    if (first > n)
        first = n;
    memcpy(x->ring + x->head, p, first);
    memcpy(x->ring, p + first, n - first);
    x->head = (x->head + n) % sizeof(x->ring);
}

/* Copies the kept tail in order, made safe for logs and JSON (the ledger detail is shown in
 * /v1/incidents and alerts): control bytes and invalid UTF-8 become '?', and a character cut
 * by the ring at the front is dropped. */
static void ring_linearize(const md_exec *x, md_exec_result *r)
{
    size_t kept = x->total < sizeof(x->ring) ? (size_t)x->total : sizeof(x->ring);
    size_t start = x->total < sizeof(x->ring) ? 0 : x->head;
    unsigned char *raw = (unsigned char *)r->output;
    for (size_t i = 0; i < kept; i++)
        raw[i] = (unsigned char)x->ring[(start + i) % sizeof(x->ring)];
    size_t i = 0;
    if (x->total > sizeof(x->ring))
        while (i < kept && (raw[i] & 0xC0) == 0x80)
            i++;
    size_t n = ut_utf8_clean(r->output, kept, raw + i, kept - i, 0); /* in place */
    r->output[n] = '\0';
    r->output_len = n;
    r->output_total = x->total;
}

static void describe_status(const md_exec *x, char *out, size_t cap)
{
    if (x->term_signal) {
        const char *abbrev = sigabbrev_np(x->term_signal);
        if (abbrev)
            snprintf(out, cap, "killed by signal %d (SIG%s)", x->term_signal, abbrev);
        else
            snprintf(out, cap, "killed by signal %d", x->term_signal);
    } else {
        snprintf(out, cap, "exit %d", x->exit_status);
    }
}

static void fill_result(const md_exec *x, md_exec_result *r)
{
    memset(r, 0, sizeof(*r));
    r->exit_status = -1;
    r->spawn_error = x->spawn_error;
    r->duration_ms = (x->end_us - x->start_us) / 1000;
    if (x->spawn_error) {
        r->outcome = MD_EXEC_FAILED;
        snprintf(r->summary, sizeof(r->summary), "cannot start %s: %s", x->argv0, uv_strerror(x->spawn_error));
        r->output[0] = '\0';
        return;
    }
    r->term_signal = x->term_signal;
    if (!x->term_signal)
        r->exit_status = x->exit_status;
    char status[96];
    describe_status(x, status, sizeof(status));
    if (x->timed_out) {
        r->outcome = MD_EXEC_TIMEOUT;
        snprintf(r->summary, sizeof(r->summary), "timeout after %.1f s (%s)", (double)x->timeout_ms / 1000.0, status);
    } else {
        r->outcome = (x->term_signal == 0 && x->exit_status == 0) ? MD_EXEC_OK : MD_EXEC_FAILED;
        snprintf(r->summary, sizeof(r->summary), "%s", status);
    }
    ring_linearize(x, r);
}

static void close_all(md_exec *x)
{
    close_handle((uv_handle_t *)&x->timer);
    if (!x->pipe_closed) {
        x->pipe_closed = true;
        close_handle((uv_handle_t *)&x->out);
    }
    /* The process handle stays open until the child is reaped: a closed handle is never
     * waited for, and the child would stay a zombie. */
    if (x->proc_inited && !x->running)
        close_handle((uv_handle_t *)&x->proc);
}

/* Reports the result once the process is gone and the pipe is done, then closes everything. */
static void maybe_finish(md_exec *x)
{
    if (x->finished || x->running || !x->pipe_closed)
        return;
    x->finished = true;
    uv_timer_stop(&x->timer);
    if (!x->cancelled) {
        md_exec_result r; /* about 4.3 KiB: fine on the loop's stack, and nothing to fail */
        fill_result(x, &r);
        x->cb(&r, x->ctx);
    }
    close_all(x);
}

static void pipe_done(md_exec *x)
{
    if (x->pipe_closed)
        return;
    x->pipe_closed = true;
    close_handle((uv_handle_t *)&x->out);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    md_exec *x = h->data;
    *b = uv_buf_init(x->rbuf, sizeof(x->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    md_exec *x = s->data;
    if (n > 0) {
        ring_put(x, b->base, (size_t)n);
        return;
    }
    if (n < 0) { /* EOF, or an error: either way nothing more will come */
        pipe_done(x);
        maybe_finish(x);
    }
}

static void on_timer(uv_timer_t *t)
{
    md_exec *x = t->data;
    phase p = x->ph;
    x->ph = PH_NONE;
    switch (p) {
    case PH_TIMEOUT:
        x->timed_out = true;
        kill_group(x, SIGTERM);
        x->ph = PH_GRACE;
        uv_timer_start(&x->timer, on_timer, (uint64_t)x->grace_ms, 0);
        break;
    case PH_GRACE:
        kill_group(x, SIGKILL);
        break;
    case PH_DEFERRED:
    case PH_DRAIN:
        pipe_done(x);
        maybe_finish(x);
        break;
    case PH_NONE:
        break;
    }
}

static void on_exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
    md_exec *x = p->data;
    x->running = false;
    x->end_us = md_mono_us();
    x->exit_status = (int)exit_status;
    x->term_signal = term_signal;
    if (x->cancelled) { /* everything else is already closing; only the process was left */
        close_handle((uv_handle_t *)&x->proc);
        return;
    }
    /* A timed-out command is condemned with everything it started. */
    if (x->timed_out)
        kill_group(x, SIGKILL);
    uv_timer_stop(&x->timer);
    x->ph = PH_NONE;
    if (!x->pipe_closed) {
        x->ph = PH_DRAIN;
        uv_timer_start(&x->timer, on_timer, DRAIN_MS, 0);
    }
    maybe_finish(x);
}

/* Whether NAME=VALUE stays out of the child's environment: the config itself (it may hold
 * secrets inline) and the variables the config references. */
static bool withheld(const char *var, const md_exec_request *req)
{
    if (strncmp(var, "MEDIC_CONFIG=", 13) == 0)
        return true;
    const char *eq = strchr(var, '=');
    size_t n = eq ? (size_t)(eq - var) : strlen(var);
    for (size_t i = 0; i < req->n_withhold; i++)
        if (req->withhold[i] && strlen(req->withhold[i]) == n && strncmp(var, req->withhold[i], n) == 0)
            return true;
    return false;
}

/* The child's environment: ours minus any MEDIC_ variables we set and what is withheld, plus
 * ours. One allocation holds the pointer array and our five strings; the caller frees it after
 * uv_spawn. */
static char **build_env(const md_exec_request *req)
{
    static const char *const names[N_MEDIC_VARS] = { "MEDIC_SERVICE=", "MEDIC_INCIDENT=", "MEDIC_STEP=",
                                                     "MEDIC_ATTEMPT=", "MEDIC_ACTION=" };
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    const char *service = req->service ? req->service : "";
    const char *step = req->step ? req->step : "";
    size_t strs = strlen(service) + strlen(step) + 3 * 24 + 5 * 16 + 5;
    char **env = malloc((n + N_MEDIC_VARS + 1) * sizeof(char *) + strs);
    if (!env)
        return NULL;
    size_t k = 0;
    for (char **e = environ; e && *e; e++) {
        bool ours = false;
        for (int i = 0; i < N_MEDIC_VARS && !ours; i++)
            ours = strncmp(*e, names[i], strlen(names[i])) == 0;
        if (!ours && !withheld(*e, req))
            env[k++] = *e;
    }
    char *p = (char *)(env + n + N_MEDIC_VARS + 1), *end = p + strs;
    char vals[N_MEDIC_VARS][24];
    snprintf(vals[1], sizeof(vals[1]), "%llu", (unsigned long long)req->incident_id);
    snprintf(vals[3], sizeof(vals[3]), "%d", req->attempt);
    snprintf(vals[4], sizeof(vals[4]), "%llu", (unsigned long long)req->action_id);
    const char *v[N_MEDIC_VARS] = { service, vals[1], step, vals[3], vals[4] };
    for (int i = 0; i < N_MEDIC_VARS; i++) {
        int w = snprintf(p, (size_t)(end - p), "%s%s", names[i], v[i]);
        assert(w > 0 && p + w < end);
        env[k++] = p;
        p += w + 1;
    }
    env[k] = NULL;
    return env;
}

static int validate(const md_exec_request *req)
{
    if (!req || !req->argv || !req->argv[0] || !req->argv[0][0] || req->timeout_ms <= 0 || req->kill_grace_ms < 0)
        return -EINVAL;
    size_t n = 0;
    while (req->argv[n])
        if (++n > MD_EXEC_MAX_ARGS)
            return -EINVAL;
    return 0;
}

/* Spawns with stdout and stderr on one pipe we made ourselves (libuv cannot give one created
 * pipe to two descriptors). Returns 0 or a negative UV error; on error nothing is left open
 * except the process handle, when uv_spawn initialized it. */
static int spawn_child(md_exec *x, const md_exec_request *req, char **env)
{
    uv_file fds[2];
    int err = uv_pipe(fds, UV_NONBLOCK_PIPE, 0);
    if (err)
        return err;
    uv_stdio_container_t stdio[3] = {
        { .flags = UV_IGNORE },
        { .flags = UV_INHERIT_FD, .data.fd = fds[1] },
        { .flags = UV_INHERIT_FD, .data.fd = fds[1] },
    };
    uv_process_options_t opt = {
        .exit_cb = on_exit_cb,
        .file = req->argv[0],
        .args = (char **)req->argv,
        .env = env,
        .cwd = req->cwd,
        .flags = UV_PROCESS_DETACHED, /* setsid: its own process group, for kill_group */
        .stdio_count = 3,
        .stdio = stdio,
    };
    x->start_us = md_mono_us();
    err = uv_spawn(x->loop, &x->proc, &opt);
    x->proc_inited = true; /* uv_spawn initializes the handle even when it fails */
    x->open_handles++;
    x->proc.data = x;
    close(fds[1]); /* the child has its copies; EOF comes when the last one closes */
    if (err) {
        close(fds[0]);
        return err;
    }
    x->running = true;
    x->pid = x->proc.pid;
    uv_pipe_init(x->loop, &x->out, 0);
    x->out.data = x;
    x->open_handles++;
    x->pipe_closed = false;
    if (uv_pipe_open(&x->out, fds[0]) != 0) {
        close(fds[0]);
        pipe_done(x);
    } else if (uv_read_start((uv_stream_t *)&x->out, on_alloc, on_read) != 0) {
        pipe_done(x);
    }
    return 0;
}

int md_exec_start(uv_loop_t *loop, const md_exec_request *req, md_exec_done_cb cb, void *ctx, md_exec **handle)
{
    assert(loop && cb);
    int rc = validate(req);
    if (rc)
        return rc;
    md_exec *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    char **env = build_env(req);
    if (!env) {
        free(x);
        return -ENOMEM;
    }
    x->loop = loop;
    x->cb = cb;
    x->ctx = ctx;
    x->timeout_ms = req->timeout_ms;
    x->grace_ms = req->kill_grace_ms > 0 ? req->kill_grace_ms : MD_EXEC_DEFAULT_GRACE_MS;
    x->pipe_closed = true;
    snprintf(x->argv0, sizeof(x->argv0), "%s", req->argv[0]);
    uv_timer_init(loop, &x->timer);
    x->timer.data = x;
    x->open_handles = 1;

    int err = spawn_child(x, req, env);
    free(env);
    if (err) {
        x->spawn_error = err;
        x->end_us = md_mono_us();
        if (x->start_us == 0)
            x->start_us = x->end_us;
        x->ph = PH_DEFERRED; /* report from the loop, never from inside this call */
        uv_timer_start(&x->timer, on_timer, 0, 0);
    } else {
        x->ph = PH_TIMEOUT;
        uv_timer_start(&x->timer, on_timer, (uint64_t)x->timeout_ms, 0);
    }
    if (handle)
        *handle = x;
    return 0;
}

void md_exec_cancel(md_exec *x)
{
    if (!x)
        return;
    assert(!x->finished && !x->cancelled);
    x->cancelled = true;
    x->finished = true;
    uv_timer_stop(&x->timer);
    if (x->running)
        kill_group(x, SIGKILL);
    close_all(x);
}

pid_t md_exec_pid(const md_exec *x)
{
    return x ? x->pid : 0;
}

const char *md_exec_outcome_name(md_exec_outcome o)
{
    switch (o) {
    case MD_EXEC_OK: return "ok";
    case MD_EXEC_TIMEOUT: return "timeout";
    default: return "failed";
    }
}

size_t md_exec_format_detail(const md_exec_result *res, char *out, size_t cap)
{
    assert(res && out && cap > 0);
    int w = snprintf(out, cap, "%s", res->summary);
    size_t n = w < 0 ? 0 : ((size_t)w >= cap ? cap - 1 : (size_t)w);
    if (res->output_len == 0 || n + 2 >= cap)
        return n;
    size_t room = cap - n - 2; /* newline and NUL */
    const char *tail = res->output;
    size_t len = res->output_len;
    if (len > room) {
        tail += len - room;
        len = room;
        while (len > 0 && ((unsigned char)*tail & 0xC0) == 0x80) { /* keep UTF-8 whole */
            tail++;
            len--;
        }
    }
    out[n++] = '\n';
    memcpy(out + n, tail, len);
    n += len;
    out[n] = '\0';
    return n;
}
