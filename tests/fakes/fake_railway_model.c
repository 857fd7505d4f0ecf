/* fake_railway_model.c: the fake's services and deployments, and the real flaky_service child
 * that plays each service's running deployment (its mode is the deployment's "behaviour").
 * Restart kills the child and starts it again on the same ports; a redeploy or rollback creates
 * a deployment that moves BUILDING/DEPLOYING -> SUCCESS after the deploy delay and then replaces
 * the running one. Status changes are driven by one 10 ms ticker against due times. */
#include "fake_railway.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

fr_model FR;

const char *const fr_status_names[] = {
    [FR_BUILDING] = "BUILDING", [FR_CRASHED] = "CRASHED", [FR_DEPLOYING] = "DEPLOYING", [FR_FAILED] = "FAILED",
    [FR_INITIALIZING] = "INITIALIZING", [FR_NEEDS_APPROVAL] = "NEEDS_APPROVAL", [FR_QUEUED] = "QUEUED",
    [FR_REMOVED] = "REMOVED", [FR_REMOVING] = "REMOVING", [FR_SKIPPED] = "SKIPPED", [FR_SLEEPING] = "SLEEPING",
    [FR_SUCCESS] = "SUCCESS", [FR_WAITING] = "WAITING",
};

typedef struct fr_child {
    uv_process_t proc;
    uv_pipe_t out;
    fr_svc *svc;
    int open;       /* handles not yet closed */
    char buf[256];
    size_t len;
    bool ready;
} fr_child;

static uv_timer_t ticker, kill_timer;
static void (*on_all_exited)(void);

int64_t fr_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fr_iso_time(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char tmp[32];
    strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", tmp, (int)(ms % 1000));
}

fr_svc *fr_find_svc(const char *id)
{
    for (int i = 0; id && i < FR.n_svcs; i++)
        if (strcmp(FR.svcs[i]->id, id) == 0)
            return FR.svcs[i];
    return NULL;
}

fr_dep *fr_find_dep(const char *id)
{
    for (int i = 0; id && i < FR.n_svcs; i++)
        for (int k = 0; k < FR.svcs[i]->n_deps; k++)
            if (strcmp(FR.svcs[i]->deps[k]->id, id) == 0)
                return FR.svcs[i]->deps[k];
    return NULL;
}

bool fr_can_redeploy(const fr_dep *d)
{
    return d->status == FR_SUCCESS || d->status == FR_FAILED || d->status == FR_CRASHED || d->status == FR_SLEEPING;
}

bool fr_can_rollback(const fr_dep *d)
{
    return d->ever_success && d->can_rollback_ok && d != d->svc->active && d->status == FR_REMOVED;
}

static void set_status(fr_dep *d, fr_status st)
{
    d->status = st;
    d->status_ms = d->updated_ms = fr_wall_ms();
}

static fr_dep *new_dep(fr_svc *s, const char *behaviour, fr_status st)
{
    if (s->n_deps >= FR_MAX_DEPS)
        return NULL;
    fr_dep *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    unsigned n = ++FR.dep_seq;
    snprintf(d->id, sizeof d->id, "%08x-5a1e-4000-8000-%012x", 0xde9u + n, n);
    d->svc = s;
    d->can_rollback_ok = true;
    snprintf(d->behaviour, sizeof d->behaviour, "%s", behaviour);
    d->created_ms = fr_wall_ms();
    set_status(d, st);
    s->deps[s->n_deps++] = d;
    return d;
}

/* ---- children ---- */

static void check_all_ready(void)
{
    if (!FR.all_ready)
        return;
    for (int i = 0; i < FR.n_svcs; i++)
        if (!FR.svcs[i]->child || !FR.svcs[i]->child->ready)
            return;
    void (*cb)(void) = FR.all_ready;
    FR.all_ready = NULL;
    cb();
}

static void child_closed(uv_handle_t *h)
{
    fr_child *ch = h->data;
    if (--ch->open == 0)
        free(ch);
}

static void spawn_child(fr_svc *s);

static bool any_child(void)
{
    for (int i = 0; i < FR.n_svcs; i++)
        if (FR.svcs[i]->child)
            return true;
    return false;
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    fr_child *ch = p->data;
    fr_svc *s = ch->svc;
    (void)status;
    (void)sig;
    if (s->child == ch)
        s->child = NULL;
    uv_close((uv_handle_t *)&ch->proc, child_closed);
    if (!uv_is_closing((uv_handle_t *)&ch->out))
        uv_close((uv_handle_t *)&ch->out, child_closed);
    if (FR.stopping) {
        if (!any_child()) {
            uv_timer_stop(&kill_timer);
            uv_close((uv_handle_t *)&kill_timer, NULL);
            uv_close((uv_handle_t *)&ticker, NULL);
            if (on_all_exited)
                on_all_exited();
        }
        return;
    }
    if (s->restart_pending) {
        s->restart_pending = false;
        spawn_child(s);
    } else if (!s->crashed && s->active) {
        s->crashed = true; /* died by itself: what Railway shows as CRASHED */
        set_status(s->active, FR_CRASHED);
    }
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    fr_child *ch = h->data;
    (void)sz;
    *b = uv_buf_init(ch->buf + ch->len, (unsigned)(sizeof ch->buf - 1 - ch->len));
}

static void on_out(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    fr_child *ch = st->data;
    (void)b;
    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)st))
            uv_close((uv_handle_t *)st, child_closed);
        return;
    }
    ch->len += (size_t)n;
    ch->buf[ch->len] = '\0';
    char *nl = strchr(ch->buf, '\n');
    if (!ch->ready && nl) {
        int p = 0, c = 0;
        if (sscanf(ch->buf, "ready port=%d control=%d", &p, &c) == 2) {
            ch->ready = true;
            ch->svc->port = p;
            ch->svc->control_port = c;
            check_all_ready();
        }
    }
    if (ch->len + 1 >= sizeof ch->buf || nl)
        ch->len = 0;
}

static void spawn_child(fr_svc *s)
{
    fr_child *ch = calloc(1, sizeof *ch);
    if (!ch)
        return;
    ch->svc = s;
    char port[16], cport[16], logp[1024];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(cport, sizeof cport, "%d", s->control_port);
    const char *mode = s->active ? s->active->behaviour : "healthy";
    char *args[] = {(char *)FR.flaky_bin, "--port", port, "--control-port", cport, "--mode", (char *)mode,
                    "--host", (char *)FR.host, NULL};
    snprintf(logp, sizeof logp, "%s/%s.flaky.log", FR.state_dir, s->id);
    int errfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    uv_pipe_init(FR.loop, &ch->out, 0);
    ch->out.data = ch->proc.data = ch;
    uv_stdio_container_t io[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&ch->out},
        {.flags = errfd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = errfd},
    };
    uv_process_options_t o = {.file = FR.flaky_bin, .args = args, .exit_cb = on_exit_cb, .stdio = io, .stdio_count = 3};
    int e = uv_spawn(FR.loop, &ch->proc, &o);
    if (errfd >= 0)
        close(errfd);
    ch->open = 1;
    if (e) {
        fprintf(stderr, "fake_railway: spawn %s: %s\n", FR.flaky_bin, uv_strerror(e));
        uv_close((uv_handle_t *)&ch->out, child_closed);
        return;
    }
    ch->open = 2;
    s->child = ch;
    s->child_starts++;
    s->crashed = false;
    uv_read_start((uv_stream_t *)&ch->out, on_alloc, on_out);
}

/* Kill + start on the same ports, with the active deployment's behaviour. */
static void restart_child(fr_svc *s)
{
    if (s->child) {
        s->restart_pending = true;
        uv_process_kill(&s->child->proc, SIGTERM);
    } else {
        spawn_child(s);
    }
}

/* ---- deployments ---- */

static void become_active(fr_dep *d)
{
    fr_svc *s = d->svc;
    fr_dep *old = s->active;
    set_status(d, FR_SUCCESS);
    d->ever_success = true;
    s->active = d;
    if (s->draining && s->draining != d)
        set_status(s->draining, FR_REMOVED);
    s->draining = NULL;
    if (old && old != d && s->overlap_ms > 0 && old->status == FR_SUCCESS) {
        /* Railway's overlap: the old deployment stays SUCCESS and active for a while. */
        s->draining = old;
        s->drain_due_mono_ms = (int64_t)uv_now(FR.loop) + s->overlap_ms;
    } else if (old && old != d) {
        set_status(old, FR_REMOVED); /* SUCCESS -> REMOVING -> REMOVED, collapsed */
    }
    s->crashed = false;
    restart_child(s);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    uv_update_time(FR.loop);
    int64_t now = (int64_t)uv_now(FR.loop);
    for (int i = 0; i < FR.n_svcs; i++) {
        fr_svc *s = FR.svcs[i];
        if (s->draining && s->drain_due_mono_ms <= now) {
            set_status(s->draining, FR_REMOVED);
            s->draining = NULL;
        }
        for (int k = 0; k < s->n_deps; k++) {
            fr_dep *d = s->deps[k];
            if (!d->due_mono_ms || d->due_mono_ms > now)
                continue;
            d->due_mono_ms = 0;
            if (d->status == FR_BUILDING) {
                set_status(d, FR_DEPLOYING);
                if (d->outcome != FR_OUT_HANG)
                    d->due_mono_ms = now + s->deploy_delay_ms / 2 + 1;
            } else if (d->outcome == FR_OUT_FAIL) {
                set_status(d, FR_FAILED);
            } else {
                become_active(d);
            }
        }
    }
}

static void schedule(fr_dep *d, fr_status first)
{
    fr_svc *s = d->svc;
    d->outcome = s->outcome;
    set_status(d, first);
    int64_t step = first == FR_BUILDING ? s->deploy_delay_ms / 2 : s->deploy_delay_ms;
    if (d->outcome == FR_OUT_HANG && first != FR_BUILDING)
        return; /* stays DEPLOYING */
    d->due_mono_ms = (int64_t)uv_now(FR.loop) + step + 1;
}

int fr_restart(fr_dep *d, char *err, size_t len)
{
    fr_svc *s = d->svc;
    if (d != s->active) {
        snprintf(err, len, "Deployment %s is not running", d->id);
        return -1;
    }
    s->restarts++;
    if (d->status == FR_CRASHED)
        set_status(d, FR_SUCCESS);
    restart_child(s);
    return 0;
}

int fr_redeploy(fr_dep *d, fr_dep **out, char *err, size_t len)
{
    fr_svc *s = d->svc;
    if (!fr_can_redeploy(d)) {
        snprintf(err, len, "Deployment %s cannot be redeployed while %s", d->id, fr_status_names[d->status]);
        return -1;
    }
    const char *b = s->redeploy_behaviour[0] ? s->redeploy_behaviour : d->behaviour;
    fr_dep *n = new_dep(s, b, FR_BUILDING);
    if (!n) {
        snprintf(err, len, "too many deployments");
        return -1;
    }
    s->redeploys++;
    schedule(n, FR_BUILDING);
    *out = n;
    return 0;
}

int fr_rollback(fr_dep *d, char *err, size_t len)
{
    fr_svc *s = d->svc;
    if (!fr_can_rollback(d)) {
        snprintf(err, len, "Deployment %s cannot be rolled back", d->id);
        return -1;
    }
    fr_dep *n = new_dep(s, d->behaviour, FR_DEPLOYING);
    if (!n) {
        snprintf(err, len, "too many deployments");
        return -1;
    }
    s->rollbacks++;
    schedule(n, FR_DEPLOYING); /* the image exists: no build */
    return 0;
}

int fr_bug(fr_svc *s, const char *mode, const char *broken, char *err, size_t len)
{
    if (!broken || !*broken)
        broken = "error";
    if (strcmp(mode, "crash") == 0) {
        /* (1) the process dies; the deployment is fine: a restart fixes it */
        if (s->child) {
            s->crashed = true;
            uv_process_kill(&s->child->proc, SIGKILL);
        }
        if (s->active)
            set_status(s->active, FR_CRASHED);
    } else if (strcmp(mode, "bad_deploy") == 0 || strcmp(mode, "code_bug") == 0) {
        /* (2) a broken build of good code: a fresh build fixes it. (3) broken code: every build
         * of it is broken, only the earlier deployment is good. Both arrive as a new deploy. */
        fr_dep *d = new_dep(s, broken, FR_SUCCESS);
        if (!d) {
            snprintf(err, len, "too many deployments");
            return -1;
        }
        snprintf(s->redeploy_behaviour, sizeof s->redeploy_behaviour, "%s",
                 strcmp(mode, "bad_deploy") == 0 ? (s->active ? s->active->behaviour : "healthy") : "");
        become_active(d);
    } else if (strcmp(mode, "none") == 0) {
        s->redeploy_behaviour[0] = '\0';
    } else {
        snprintf(err, len, "unknown bug mode (crash, bad_deploy, code_bug, none)");
        return -1;
    }
    return 0;
}

static cJSON *dep_json(const fr_dep *d)
{
    cJSON *o = cJSON_CreateObject();
    char t[40];
    cJSON_AddStringToObject(o, "id", d->id);
    cJSON_AddStringToObject(o, "status", fr_status_names[d->status]);
    cJSON_AddStringToObject(o, "behaviour", d->behaviour);
    cJSON_AddBoolToObject(o, "canRollback", fr_can_rollback(d));
    cJSON_AddBoolToObject(o, "canRedeploy", fr_can_redeploy(d));
    fr_iso_time(d->created_ms, t, sizeof t);
    cJSON_AddStringToObject(o, "createdAt", t);
    fr_iso_time(d->status_ms, t, sizeof t);
    cJSON_AddStringToObject(o, "statusUpdatedAt", t);
    cJSON_AddBoolToObject(o, "active", d == d->svc->active || d == d->svc->draining);
    return o;
}

cJSON *fr_model_json(void)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "environmentId", FR.env_id);
    cJSON *arr = cJSON_AddArrayToObject(root, "services");
    for (int i = 0; i < FR.n_svcs; i++) {
        fr_svc *s = FR.svcs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "serviceId", s->id);
        cJSON_AddStringToObject(o, "environmentId", FR.env_id);
        cJSON_AddNumberToObject(o, "port", s->port);
        cJSON_AddNumberToObject(o, "controlPort", s->control_port);
        cJSON_AddBoolToObject(o, "running", s->child != NULL);
        cJSON_AddBoolToObject(o, "crashed", s->crashed);
        cJSON_AddNumberToObject(o, "restarts", s->restarts);
        cJSON_AddNumberToObject(o, "redeploys", s->redeploys);
        cJSON_AddNumberToObject(o, "rollbacks", s->rollbacks);
        cJSON_AddNumberToObject(o, "childStarts", s->child_starts);
        cJSON_AddStringToObject(o, "redeployBuilds", s->redeploy_behaviour[0] ? s->redeploy_behaviour : "same");
        cJSON_AddItemToObject(o, "deployment", s->active ? dep_json(s->active) : cJSON_CreateNull());
        cJSON *deps = cJSON_AddArrayToObject(o, "deployments");
        for (int k = s->n_deps - 1; k >= 0; k--)
            cJSON_AddItemToArray(deps, dep_json(s->deps[k]));
        cJSON_AddItemToArray(arr, o);
    }
    return root;
}

int fr_model_init(uv_loop_t *loop, const char *csv)
{
    FR.loop = loop;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", csv);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (FR.n_svcs >= FR_MAX_SVCS || strlen(t) >= FR_ID || fr_find_svc(t))
            return -EINVAL;
        fr_svc *s = calloc(1, sizeof *s);
        if (!s)
            return -ENOMEM;
        snprintf(s->id, sizeof s->id, "%s", t);
        s->deploy_delay_ms = FR.deploy_delay_ms;
        FR.svcs[FR.n_svcs++] = s;
        /* The deployment that is running when the fake starts, from an hour ago. */
        fr_dep *d = new_dep(s, "healthy", FR_SUCCESS);
        if (!d)
            return -ENOMEM;
        d->created_ms -= 3600 * 1000;
        d->status_ms = d->updated_ms = d->created_ms + 60 * 1000; /* live for 59 minutes */
        d->ever_success = true;
        s->active = d;
    }
    if (FR.n_svcs == 0)
        return -EINVAL;
    uv_timer_init(loop, &ticker);
    uv_timer_start(&ticker, on_tick, 10, 10);
    for (int i = 0; i < FR.n_svcs; i++)
        spawn_child(FR.svcs[i]);
    return 0;
}

static void on_kill_timer(uv_timer_t *t)
{
    (void)t;
    for (int i = 0; i < FR.n_svcs; i++)
        if (FR.svcs[i]->child)
            uv_process_kill(&FR.svcs[i]->child->proc, SIGKILL);
}

void fr_model_stop(void (*all_exited)(void))
{
    FR.stopping = true;
    on_all_exited = all_exited;
    uv_timer_stop(&ticker);
    if (!any_child()) {
        uv_close((uv_handle_t *)&ticker, NULL);
        all_exited();
        return;
    }
    uv_timer_init(FR.loop, &kill_timer);
    uv_timer_start(&kill_timer, on_kill_timer, 3000, 0);
    for (int i = 0; i < FR.n_svcs; i++)
        if (FR.svcs[i]->child)
            uv_process_kill(&FR.svcs[i]->child->proc, SIGTERM);
}

void fr_model_free(void)
{
    for (int i = 0; i < FR.n_svcs; i++) {
        for (int k = 0; k < FR.svcs[i]->n_deps; k++)
            free(FR.svcs[i]->deps[k]);
        free(FR.svcs[i]);
    }
    FR.n_svcs = 0;
}
