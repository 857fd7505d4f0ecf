/* harness.c: process fixtures and HTTP helpers for the integration tests. */
#include "harness.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

int64_t it_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

void it_skip(const char *why)
{
    printf("SKIPPED: %s\n", why);
    fflush(stdout);
    exit(77);
}

char *it_get(int port, const char *path, long *code)
{
    return it_get_at("127.0.0.1", port, path, code);
}

char *it_get_at(const char *host, int port, const char *path, long *code)
{
    char url[512];
    snprintf(url, sizeof url, "http://%s:%d%s", host, port, path);
    char *body = NULL;
    long c = 0;
    if (md_fetch("GET", url, 5000, &c, &body, NULL, 0) < 0)
        return NULL;
    if (code)
        *code = c;
    return body;
}

cJSON *it_get_json(int port, const char *path, long *code)
{
    char *body = it_get(port, path, code);
    if (!body)
        return NULL;
    cJSON *doc = cJSON_Parse(body);
    free(body);
    return doc;
}

int it_flaky_start(it_flaky *f)
{
    memset(f, 0, sizeof *f);
    char *argv[] = { FLAKY_BIN, "--port", "0", "--control-port", "0", NULL };
    if (md_proc_spawn(argv, true, NULL, NULL, &f->proc) < 0)
        return -1;
    char line[256];
    if (md_proc_read_line(&f->proc, line, sizeof line, 10000) < 0 ||
        sscanf(line, "ready port=%d control=%d", &f->port, &f->control_port) != 2) {
        md_proc_stop(&f->proc, SIGKILL, 1000, NULL);
        return -1;
    }
    return 0;
}

int64_t it_flaky_mode(it_flaky *f, const char *mode)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/mode/%s", f->control_port, mode);
    char *body = NULL;
    long code = 0;
    if (md_fetch("POST", url, 5000, &code, &body, NULL, 0) < 0)
        return -1;
    int64_t at = -1;
    cJSON *doc = cJSON_Parse(body);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "changed_at_ms");
    if (code == 200 && cJSON_IsNumber(t))
        at = (int64_t)t->valuedouble;
    cJSON_Delete(doc);
    free(body);
    return at;
}

long it_flaky_path_count(it_flaky *f, const char *path)
{
    cJSON *doc = it_get_json(f->control_port, "/stats", NULL);
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(paths, path);
    long v = cJSON_IsNumber(n) ? (long)n->valuedouble : (doc ? 0 : -1);
    cJSON_Delete(doc);
    return v;
}

void it_flaky_stop(it_flaky *f)
{
    md_proc_stop(&f->proc, SIGTERM, 3000, NULL);
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return strdup("");
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    size_t got = buf ? fread(buf, 1, (size_t)len, fp) : 0;
    if (buf)
        buf[got] = '\0';
    fclose(fp);
    return buf;
}

char *it_node_log(const it_node *n) { return read_file(n->log_path); }
char *it_node_stdout(const it_node *n) { return read_file(n->out_path); }

static int write_config(it_node *n, const char *json)
{
    FILE *fp = fopen(n->cfg_path, "w");
    if (!fp)
        return -1;
    char port[16];
    snprintf(port, sizeof port, "%d", n->api_port);
    for (const char *p = json; *p;) {
        if (strncmp(p, "@API@", 5) == 0) {
            fputs(port, fp);
            p += 5;
        } else if (strncmp(p, "@DIR@", 5) == 0) {
            fputs(n->dir, fp);
            p += 5;
        } else {
            fputc(*p++, fp);
        }
    }
    return fclose(fp);
}

int it_node_start(it_node *n, const char *config_json, const char *const *extra_args)
{
    return it_node_start_at(n, "127.0.0.1", config_json, extra_args);
}

int it_node_start_at(it_node *n, const char *api_host, const char *config_json, const char *const *extra_args)
{
    memset(n, 0, sizeof *n);
    n->proc.out_fd = -1;
    snprintf(n->api_host, sizeof n->api_host, "%s", api_host);
    snprintf(n->dir, sizeof n->dir, "/tmp/medic-it-XXXXXX");
    if (!mkdtemp(n->dir))
        return -1;
    snprintf(n->cfg_path, sizeof n->cfg_path, "%s/medic.json", n->dir);
    snprintf(n->log_path, sizeof n->log_path, "%s/node.log", n->dir);
    snprintf(n->out_path, sizeof n->out_path, "%s/node.out", n->dir);
    n->api_port = md_free_port();
    if (n->api_port < 0 || write_config(n, config_json) < 0)
        return -1;
    char *argv[16] = { MEDIC_BIN, "node", "--config", n->cfg_path };
    int argc = 4;
    for (int i = 0; extra_args && extra_args[i] && argc < 15; i++)
        argv[argc++] = (char *)extra_args[i];
    argv[argc] = NULL;
    int rc = md_proc_spawn(argv, false, n->out_path, n->log_path, &n->proc);
    if (rc < 0)
        return -1;
    int64_t deadline = it_wall_ms() + 10000;
    while (it_wall_ms() < deadline) {
        long code = 0;
        char *body = it_get_at(n->api_host, n->api_port, "/v1/health", &code);
        free(body);
        if (body && code == 200)
            return 0;
        if (!md_proc_alive(&n->proc, NULL))
            break;
        it_sleep_ms(20);
    }
    char *log = it_node_log(n);
    fprintf(stderr, "node did not come up; its log:\n%s\n", log);
    free(log);
    it_node_stop(n, SIGKILL, 1000, NULL, NULL);
    return -1;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void it_rmtree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int it_node_stop(it_node *n, int sig, int timeout_ms, int *status, int64_t *elapsed_ms)
{
    int64_t t0 = it_wall_ms();
    int rc = md_proc_stop(&n->proc, sig, timeout_ms, status);
    if (elapsed_ms)
        *elapsed_ms = it_wall_ms() - t0;
    if (!n->keep_dir)
        it_rmtree(n->dir);
    return rc;
}

int it_node_restart(it_node *n, const char *const *extra_args)
{
    char *argv[16] = { MEDIC_BIN, "node", "--config", n->cfg_path };
    int argc = 4;
    for (int i = 0; extra_args && extra_args[i] && argc < 15; i++)
        argv[argc++] = (char *)extra_args[i];
    argv[argc] = NULL;
    if (md_proc_spawn(argv, false, n->out_path, n->log_path, &n->proc) < 0)
        return -1;
    int64_t deadline = it_wall_ms() + 10000;
    while (it_wall_ms() < deadline) {
        long code = 0;
        char *body = it_get_at(n->api_host, n->api_port, "/v1/health", &code);
        free(body);
        if (body && code == 200)
            return 0;
        if (!md_proc_alive(&n->proc, NULL))
            return -1;
        it_sleep_ms(20);
    }
    return -1;
}

int64_t it_wait_state(it_node *n, const char *svc, const char *want, int timeout_ms)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/services/%s", svc);
    int64_t deadline = it_wall_ms() + timeout_ms;
    while (it_wall_ms() < deadline) {
        cJSON *doc = it_get_json(n->api_port, path, NULL);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "service");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, "state");
        const cJSON *since = cJSON_GetObjectItemCaseSensitive(s, "state_since_ms");
        int64_t r = -1;
        if (cJSON_IsString(st) && strcmp(st->valuestring, want) == 0 && cJSON_IsNumber(since))
            r = (int64_t)since->valuedouble;
        cJSON_Delete(doc);
        if (r >= 0)
            return r;
        it_sleep_ms(10);
    }
    return -1;
}

double it_service_number(it_node *n, const char *svc, const char *dotted)
{
    cJSON *doc = it_get_json(n->api_port, "/v1/status", NULL);
    const cJSON *services = cJSON_GetObjectItemCaseSensitive(doc, "services");
    const cJSON *s = NULL, *it;
    cJSON_ArrayForEach(it, services)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (cJSON_IsString(name) && strcmp(name->valuestring, svc) == 0)
            s = it;
    }
    char key[128];
    snprintf(key, sizeof key, "%s", dotted);
    const cJSON *cur = s;
    for (char *save = NULL, *part = strtok_r(key, ".", &save); part && cur; part = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, part);
    double v = cJSON_IsNumber(cur) ? cur->valuedouble : -1;
    cJSON_Delete(doc);
    return v;
}

const char *const it_trio_ids[IT_TRIO] = { "n1", "n2", "n3" };

int it_trio_init(it_trio *t, bool with_flaky)
{
    for (int i = 0; i < IT_TRIO; i++)
        t->cluster_port[i] = md_free_port();
    if (with_flaky && it_flaky_start(&t->flaky) != 0)
        return -1;
    t->has_flaky = with_flaky;
    return 0;
}

void it_trio_peers(const it_trio *t, char *out, size_t cap)
{
    it_trio_peers_at(t, "127.0.0.1", out, cap);
}

void it_trio_peers_at(const it_trio *t, const char *host, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (int j = 0; j < IT_TRIO && at < cap; j++)
        at += (size_t)snprintf(out + at, cap - at, "%s{\"id\":\"%s\",\"address\":\"tcp://%s:%d\"}",
                               j ? "," : "", it_trio_ids[j], host, t->cluster_port[j]);
}

bool it_has_ipv6_loopback(void)
{
    FILE *fp = fopen("/proc/net/if_inet6", "r");
    char line[256];
    bool found = false;
    while (fp && !found && fgets(line, sizeof line, fp))
        found = strncmp(line, "00000000000000000000000000000001 ", 33) == 0;
    if (fp)
        fclose(fp);
    return found;
}

void it_trio_stop(it_trio *t)
{
    for (int i = 0; i < IT_TRIO; i++) {
        if (t->running[i]) {
            kill(t->node[i].proc.pid, SIGCONT); /* a test may have frozen it */
            it_node_stop(&t->node[i], SIGTERM, 3000, NULL, NULL);
            t->running[i] = false;
        }
        if (t->node[i].dir[0])
            it_rmtree(t->node[i].dir);
    }
    if (t->has_flaky) {
        it_flaky_stop(&t->flaky);
        t->has_flaky = false;
    }
}

/* ---- the fake Railway API ---- */

int it_fake_railway_start(it_fake_railway *f, const char *services, const char *const *extra)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/medic-itfr-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char *argv[32] = { FAKE_RAILWAY_BIN, "--port", "0", "--state-dir", f->dir, "--flaky-bin", FLAKY_BIN,
                       "--services", (char *)services };
    int n = 9;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    if (md_proc_spawn(argv, true, NULL, NULL, &f->proc) != 0)
        return -1;
    char first[64] = "";
    if (md_proc_read_line(&f->proc, f->ready, sizeof f->ready, 10000) <= 0)
        return -1;
    if (sscanf(f->ready, "ready port=%d services=%63[^@]@%d", &f->port, first, &f->svc_port) != 3)
        return -1;
    return 0;
}

int it_fake_railway_control(it_fake_railway *f, const char *path)
{
    char url[512], *body = NULL;
    long code = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", f->port, path);
    int rc = md_fetch("POST", url, 5000, &code, &body, NULL, 0);
    free(body);
    return rc == 0 ? (int)code : -1;
}

void it_fake_railway_stop(it_fake_railway *f)
{
    md_proc_stop(&f->proc, SIGTERM, 5000, NULL);
    if (f->dir[0])
        it_rmtree(f->dir);
    f->dir[0] = '\0';
}

const cJSON *it_wait_closed_incident(int port, int64_t t0, int timeout_ms, cJSON **doc)
{
    int64_t deadline = it_wall_ms() + timeout_ms;
    while (it_wall_ms() < deadline) {
        *doc = it_get_json(port, "/v1/incidents", NULL);
        const cJSON *inc = cJSON_GetArrayItem(cJSON_GetObjectItem(*doc, "closed"), 0);
        if (inc && cJSON_GetObjectItem(inc, "opened_at_ms")->valuedouble >= (double)t0)
            return inc;
        cJSON_Delete(*doc);
        *doc = NULL;
        it_sleep_ms(50);
    }
    return NULL;
}

/* consensus_field: a string of n's /v1/cluster "cluster.consensus" object into out ("" if none). */
static void consensus_field(const it_node *n, const char *key, char *out, size_t cap)
{
    char *body = it_get_at(n->api_host, n->api_port, "/v1/cluster", NULL);
    cJSON *doc = body ? cJSON_Parse(body) : NULL;
    free(body);
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "cluster"), "consensus"), key);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(doc);
}

int it_trio_agreed_leader(it_trio *t, int timeout_ms)
{
    for (int64_t deadline = it_wall_ms() + timeout_ms; it_wall_ms() < deadline; it_sleep_ms(20)) {
        char first[64] = "", leader[64], role[32];
        bool agree = true;
        for (int i = 0; i < IT_TRIO && agree; i++) {
            if (!t->running[i])
                continue;
            consensus_field(&t->node[i], "leader", leader, sizeof leader);
            agree = leader[0] && (!first[0] || strcmp(first, leader) == 0);
            snprintf(first, sizeof first, "%s", leader);
        }
        for (int i = 0; agree && i < IT_TRIO; i++) {
            if (!t->running[i] || strcmp(it_trio_ids[i], first) != 0)
                continue;
            consensus_field(&t->node[i], "role", role, sizeof role);
            if (strcmp(role, "leader") == 0)
                return i;
        }
    }
    return -1;
}

bool it_wait_leader(const it_node *n, int timeout_ms)
{
    for (int64_t deadline = it_wall_ms() + timeout_ms; it_wall_ms() < deadline; it_sleep_ms(20)) {
        char *body = it_get_at(n->api_host, n->api_port, "/v1/cluster", NULL);
        cJSON *doc = body ? cJSON_Parse(body) : NULL;
        free(body);
        const cJSON *l = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "cluster"), "consensus"), "leader");
        bool led = cJSON_IsString(l);
        cJSON_Delete(doc);
        if (led)
            return true;
    }
    return false;
}
