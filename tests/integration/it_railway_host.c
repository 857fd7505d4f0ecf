/* it_railway_host.c: test fixtures for the Railway client: a libuv loop hosting an rw_client over
 * the node's curl multi driver, and the fake Railway API process. See it_railway_host.h. */
#include "it_railway_host.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

int64_t rwt_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the host: the node's adapter (node/heal/rw_host.c), with the log captured ---- */

static void h_log(void *ctx, int level, const char *msg)
{
    rwt_host *h = ctx;
    (void)level;
    size_t n = strlen(msg);
    char *p = realloc(h->log, h->log_len + n + 2);
    if (!p)
        return;
    h->log = p;
    memcpy(h->log + h->log_len, msg, n);
    h->log_len += n;
    h->log[h->log_len++] = '\n';
    h->log[h->log_len] = '\0';
    if (getenv("RWT_VERBOSE"))
        fprintf(stderr, "  [rw] %s\n", msg);
}

int rwt_host_init(rwt_host *h, rw_config *cfg)
{
    memset(h, 0, sizeof *h);
    if (uv_loop_init(&h->loop) != 0)
        return -EIO;
    h->cl = md_curl_loop_new(&h->loop);
    if (!h->cl)
        return -ENOMEM;
    int rc = md_rw_host_new(&h->loop, h->cl, h_log, h, &h->rh);
    if (rc < 0)
        return rc;
    md_rw_host_bind(h->rh, &cfg->host);
    return rw_client_new(cfg, &h->c);
}

void rwt_host_fini(rwt_host *h)
{
    rw_client_free(h->c);
    h->c = NULL;
    if (h->cl)
        md_curl_loop_close(h->cl);
    for (int i = 0; i < 1000 && uv_loop_alive(&h->loop); i++)
        uv_run(&h->loop, UV_RUN_NOWAIT);
    if (h->rh && md_rw_host_live_timers(h->rh) != 0)
        fprintf(stderr, "rwt_host_fini: %d timers left\n", md_rw_host_live_timers(h->rh));
    md_rw_host_free(h->rh);
    h->rh = NULL;
    if (uv_loop_close(&h->loop) != 0)
        fprintf(stderr, "rwt_host_fini: loop still has handles\n");
    free(h->log);
    h->log = NULL;
}

static void on_done(const rw_result *r, void *arg)
{
    rwt_outcome *o = arg;
    o->r = *r;
    if (r->latest) {
        o->latest = *r->latest;
        o->r.latest = &o->latest;
    }
    size_t n = r->n_deployments < RW_LIST_MAX ? r->n_deployments : RW_LIST_MAX;
    if (n)
        memcpy(o->deps, r->deployments, n * sizeof o->deps[0]);
    o->r.deployments = o->deps;
    o->r.n_deployments = n;
    o->done = true;
}

static void on_guard(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

int rwt_run(rwt_host *h, rw_op_kind op, const rw_request *req, rwt_outcome *out, int wall_timeout_ms)
{
    memset(out, 0, sizeof *out);
    int e = rw_start(h->c, op, req, on_done, out, NULL);
    if (e)
        return e;
    bool expired = false;
    uv_timer_t guard;
    uv_timer_init(&h->loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, on_guard, (uint64_t)wall_timeout_ms, 0);
    while (!out->done && !expired)
        uv_run(&h->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&h->loop, UV_RUN_NOWAIT);
    return out->done ? 0 : -ETIMEDOUT;
}

static void on_spin(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

void rwt_spin(rwt_host *h, int ms)
{
    bool over = false;
    uv_timer_t t;
    uv_timer_init(&h->loop, &t);
    t.data = &over;
    uv_timer_start(&t, on_spin, (uint64_t)ms, 0);
    while (!over)
        uv_run(&h->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&h->loop, UV_RUN_NOWAIT);
}

/* ---- the fake ---- */

int rwt_fake_start(rwt_fake *f, const char *services, const char *const *extra)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/rwt-fake-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char errlog[128];
    snprintf(errlog, sizeof errlog, "%s/fake.log", f->dir);
    const char *argv[32] = {FAKE_RAILWAY_BIN, "--port", "0", "--state-dir", f->dir, "--flaky-bin", FLAKY_BIN,
                            "--services", services};
    int n = 9;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    if (md_proc_spawn((char *const *)argv, true, NULL, errlog, &f->proc) != 0)
        return -1;
    char line[512];
    if (md_proc_read_line(&f->proc, line, sizeof line, 10000) < 0 || sscanf(line, "ready port=%d", &f->port) != 1) {
        md_proc_stop(&f->proc, SIGKILL, 1000, NULL);
        return -1;
    }
    snprintf(f->endpoint, sizeof f->endpoint, "http://127.0.0.1:%d/graphql/v2", f->port);
    return 0;
}

int rwt_fake_stop(rwt_fake *f)
{
    int status = 0;
    int e = md_proc_stop(&f->proc, SIGTERM, 5000, &status);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (f->dir[0] && system(cmd) != 0)
        fprintf(stderr, "rwt_fake_stop: could not remove %s\n", f->dir);
    if (e != 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

typedef struct {
    char *p;
    size_t n;
} buf;

static size_t collect(char *p, size_t s, size_t n, void *ud)
{
    buf *b = ud;
    char *q = realloc(b->p, b->n + s * n + 1);
    if (!q)
        return 0;
    b->p = q;
    memcpy(b->p + b->n, p, s * n);
    b->n += s * n;
    b->p[b->n] = '\0';
    return s * n;
}

cJSON *rwt_fake_call(rwt_fake *f, const char *path, bool post, long *code)
{
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", f->port, path);
    CURL *e = curl_easy_init();
    buf b = {0};
    long c = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    if (post)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c);
    curl_easy_cleanup(e);
    if (code)
        *code = c;
    cJSON *j = b.p ? cJSON_Parse(b.p) : NULL;
    free(b.p);
    return j;
}

long rwt_fake_ctl(rwt_fake *f, const char *fmt, ...)
{
    char path[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    long code = 0;
    cJSON_Delete(rwt_fake_call(f, path, true, &code));
    return code;
}

cJSON *rwt_fake_service(rwt_fake *f, const char *svc)
{
    cJSON *all = rwt_fake_call(f, "/control/services", false, NULL);
    cJSON *s, *found = NULL;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(all, "services"))
    {
        const cJSON *id = cJSON_GetObjectItem(s, "serviceId");
        if (cJSON_IsString(id) && strcmp(id->valuestring, svc) == 0)
            found = cJSON_Duplicate(s, 1);
    }
    cJSON_Delete(all);
    return found;
}

cJSON *rwt_fake_requests(rwt_fake *f)
{
    cJSON *all = rwt_fake_call(f, "/control/requests", false, NULL);
    cJSON *r = cJSON_DetachItemFromObject(all, "requests");
    cJSON_Delete(all);
    return r;
}

long rwt_http_status(int port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    CURL *e = curl_easy_init();
    buf b = {0};
    long c = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c);
    curl_easy_cleanup(e);
    free(b.p);
    return c;
}
