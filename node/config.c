/* config.c: the node's configuration loader. Reads one JSON document, substitutes ${VAR} from the
 * environment, validates every field (errors name the exact path), applies defaults, and renders
 * the effective config with secrets masked for `medic check-config`. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr, strcasestr: the build defines it, a bare compile may not */
#endif
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "trend.h"

/* Bounds on size and counts keep every loop here short (the duplicate checks are quadratic),
 * whatever the input holds. */
#define MAX_FILE_BYTES (16 * 1024 * 1024)
#define MAX_SERVICES 100000
#define MAX_HEADERS 64
#define MAX_VAR_NAME 128
/* One day: every duration is bounded so that arithmetic on them cannot overflow downstream. */
#define MAX_MS 86400000
#define PATH_LEN 320
#define NAME_RULE "must be 1-64 characters of A-Z a-z 0-9 . _ -"

typedef struct {
    md_config *cfg; /* being built; the secrets found so far mask error messages */
    const char *origin;
    char *err;
    size_t errlen;
} parser;

typedef struct {
    char *s; /* malloc'd, NUL-terminated once anything was put */
    size_t n, cap;
} sbuf;

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *t = realloc(b->s, cap);
        if (!t)
            return -ENOMEM;
        b->s = t;
        b->cap = cap;
    }
    if (n)
        memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return 0;
}

__attribute__((format(printf, 3, 4)))
static int fail(parser *p, const char *path, const char *fmt, ...)
{
    char msg[MD_CONFIG_ERR_LEN], raw[MD_CONFIG_ERR_LEN + 2 * PATH_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (path && *path)
        snprintf(raw, sizeof raw, "%s: %s: %s", p->origin, path, msg);
    else
        snprintf(raw, sizeof raw, "%s: %s", p->origin, msg);
    /* A message may quote a value that came from ${VAR}: mask it like everything else. */
    if (p->err && p->errlen)
        md_config_mask(p->cfg, raw, p->err, p->errlen);
    return -EINVAL;
}

static int oom(parser *p)
{
    if (p->err && p->errlen)
        snprintf(p->err, p->errlen, "%s: out of memory", p->origin);
    return -ENOMEM;
}

/* join writes "parent.key" (or "key" at top level) into buf, cut to fit, and returns buf. */
static const char *join(char *buf, size_t n, const char *parent, const char *key)
{
    size_t lp = parent ? strlen(parent) : 0, lk = key ? strlen(key) : 0, at = 0;
    assert(n > 0);
    /* Plain copies rather than snprintf: gcc -O2 flags every possible truncation of "%s.%s". */
    if (lp) {
        at = lp < n - 1 ? lp : n - 1;
        memcpy(buf, parent, at);
        if (at < n - 1)
            buf[at++] = '.';
    }
    if (lk > n - 1 - at)
        lk = n - 1 - at;
    if (lk)
        memcpy(buf + at, key, lk);
    buf[at + lk] = '\0';
    return buf;
}

static const cJSON *get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* ---- secrets and ${VAR} ---- */

/* add_secret remembers a substituted value for masking. Kept longest first, so a secret that
 * contains another one is masked whole rather than leaving its tail visible. */
static int add_secret(md_config *cfg, const char *v)
{
    size_t len = strlen(v), i;
    if (len == 0)
        return 0;
    for (i = 0; i < cfg->n_secrets; i++)
        if (strcmp(cfg->secrets[i], v) == 0)
            return 0;
    char **t = realloc(cfg->secrets, (cfg->n_secrets + 1) * sizeof *t);
    if (!t)
        return -ENOMEM;
    cfg->secrets = t;
    char *copy = strdup(v);
    if (!copy)
        return -ENOMEM;
    for (i = cfg->n_secrets; i > 0 && strlen(t[i - 1]) < len; i--)
        t[i] = t[i - 1];
    t[i] = copy;
    cfg->n_secrets++;
    return 0;
}

static bool var_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > MAX_VAR_NAME || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '_')
            return false;
    return true;
}

/* expand replaces every ${VAR} in s. On success *out is a malloc'd string the caller owns. */
static int expand(parser *p, const char *path, const char *s, char **out)
{
    sbuf b = {0};
    int rc = sb_put(&b, "", 0);
    while (rc == 0 && *s) {
        const char *ref = strstr(s, "${");
        if (!ref) {
            rc = sb_put(&b, s, strlen(s));
            break;
        }
        if ((rc = sb_put(&b, s, (size_t)(ref - s))))
            break;
        const char *name = ref + 2, *close = strchr(name, '}');
        if (!close) {
            rc = fail(p, path, "unterminated ${ (every ${ starts an environment variable reference)");
            break;
        }
        size_t n = (size_t)(close - name);
        if (!var_name_ok(name, n)) {
            rc = fail(p, path, "bad environment variable name in ${...} (use A-Z a-z 0-9 _)");
            break;
        }
        char var[MAX_VAR_NAME + 1];
        memcpy(var, name, n);
        var[n] = '\0';
        const char *val = getenv(var);
        if (!val) {
            rc = fail(p, path, "environment variable %s is not set", var);
            break;
        }
        rc = sb_put(&b, val, strlen(val));
        if (rc == 0)
            rc = add_secret(p->cfg, val);
        s = close + 1;
    }
    if (rc == -ENOMEM)
        rc = oom(p);
    if (rc) {
        free(b.s);
        return rc;
    }
    *out = b.s;
    return 0;
}

/* ---- typed getters: each checks the JSON type and range, and names path on error ---- */

/* get_string: *out is the expanded string, malloc'd for the caller. */
static int get_string(parser *p, const char *path, const cJSON *it, char **out)
{
    if (!cJSON_IsString(it) || !it->valuestring)
        return fail(p, path, "must be a string");
    return expand(p, path, it->valuestring, out);
}

static int get_bool(parser *p, const char *path, const cJSON *it, bool *out)
{
    if (!cJSON_IsBool(it))
        return fail(p, path, "must be true or false");
    *out = cJSON_IsTrue(it);
    return 0;
}

static int get_int(parser *p, const char *path, const cJSON *it, int64_t min, int64_t max,
                   int64_t *out)
{
    const char *what = min == 1 ? "a positive integer" : min == 0 ? "a non-negative integer" : NULL;
    double d = cJSON_IsNumber(it) ? it->valuedouble : 0.5;
    /* JSON numbers are doubles: accept only whole values that convert exactly (this also
     * rejects NaN and infinities, for which every comparison is false). */
    bool whole = d >= -9007199254740992.0 && d <= 9007199254740992.0 && (double)(int64_t)d == d;
    int64_t v = whole ? (int64_t)d : 0;
    if (what && (!whole || v < min))
        return fail(p, path, "must be %s", what);
    if (!whole || v < min || v > max)
        return fail(p, path, "must be an integer from %lld to %lld", (long long)min, (long long)max);
    *out = v;
    return 0;
}

/* pick maps a string to its index in words (the allowed values, listed for the operator in list). */
static int pick(parser *p, const char *path, const cJSON *it, const char *const *words, size_t n,
                const char *list, int *out)
{
    char *s;
    int rc = get_string(p, path, it, &s);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, words[i]) == 0) {
            *out = (int)i;
            free(s);
            return 0;
        }
    }
    free(s);
    return fail(p, path, "must be one of %s", list);
}

/* check_keys rejects keys not in keys[] (at most 32) and keys given twice. */
static int check_keys(parser *p, const char *path, const cJSON *obj, const char *const *keys, size_t n)
{
    uint32_t seen = 0;
    const cJSON *it;
    assert(n <= 32);
    cJSON_ArrayForEach(it, obj) {
        char fp[PATH_LEN];
        size_t i = 0;
        join(fp, sizeof fp, path, it->string);
        while (i < n && (!it->string || strcmp(keys[i], it->string) != 0))
            i++;
        if (i == n)
            return fail(p, fp, "unknown key");
        if (seen & (UINT32_C(1) << i))
            return fail(p, fp, "duplicate key");
        seen |= UINT32_C(1) << i;
    }
    return 0;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

/* split_hostport parses "host:port" or "[ipv6]:port". Returns 0 (and *host, malloc'd, owned by
 * the caller), -EINVAL for bad text, or -ENOMEM. */
static int split_hostport(const char *s, int min_port, char **host, int *port)
{
    bool v6 = s[0] == '[';
    const char *h = v6 ? s + 1 : s;
    const char *hend = v6 ? strchr(s, ']') : strrchr(s, ':');
    if (!hend || (v6 && hend[1] != ':'))
        return -EINVAL;
    const char *digits = v6 ? hend + 2 : hend + 1;
    size_t hlen = (size_t)(hend - h), nd = 0;
    if (hlen == 0 || hlen > 253 || (v6 && !memchr(h, ':', hlen)))
        return -EINVAL;
    for (size_t i = 0; i < hlen; i++) {
        char c = h[i];
        if (!is_alnum(c) && c != '.' && c != '-' && c != '_' && !(v6 && (c == ':' || c == '%')))
            return -EINVAL;
    }
    long v = 0;
    for (; digits[nd]; nd++) {
        if (digits[nd] < '0' || digits[nd] > '9' || nd >= 5)
            return -EINVAL;
        v = v * 10 + (digits[nd] - '0');
    }
    if (nd == 0 || v < min_port || v > 65535)
        return -EINVAL;
    if (!(*host = strndup(h, hlen)))
        return -ENOMEM;
    *port = (int)v;
    return 0;
}

/* authority finds the host[:port] part of an http(s) URL: *len bytes from the return value. */
static const char *authority(const char *url, size_t *len)
{
    const char *a = strstr(url, "://");
    if (!a)
        return NULL;
    a += 3;
    *len = strcspn(a, "/?#");
    return a;
}

static int check_url(parser *p, const char *path, const char *u)
{
    if (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0)
        return fail(p, path, "must start with http:// or https://");
    for (const char *c = u; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return fail(p, path, "must not contain spaces or control characters");
    size_t alen = 0;
    const char *a = authority(u, &alen);
    assert(a); /* the scheme check above found "://" */
    const char *at = memrchr(a, '@', alen);
    const char *host = at ? at + 1 : a;
    if (host == a + alen || *host == ':')
        return fail(p, path, "must name a host (http://host[:port]/path)");
    return 0;
}

/* ---- service fields ---- */

typedef enum { F_SPECIAL, F_STR, F_BOOL, F_I64, F_INT, F_ALPHA } ftype;

typedef struct {
    const char *key;
    ftype type;
    bool in_defaults; /* may also appear in the top-level "defaults" object */
    size_t off;       /* where it lives in md_service_config (unused for F_SPECIAL) */
    int64_t min, max;
} field;

#define OFF(m) offsetof(md_service_config, m)
/* F_SPECIAL fields depend on other fields or need more than a type check; parse_service reads
 * them after apply_fields has rejected unknown and duplicate keys. */
static const field fields[] = {
    {"name", F_SPECIAL, false, 0, 0, 0},
    {"url", F_SPECIAL, false, 0, 0, 0},
    {"tcp", F_SPECIAL, false, 0, 0, 0},
    {"method", F_SPECIAL, false, 0, 0, 0},
    {"expect_status", F_SPECIAL, false, 0, 0, 0},
    {"expect_body", F_SPECIAL, false, 0, 0, 0},
    {"headers", F_SPECIAL, false, 0, 0, 0},
    {"prewarm_url", F_SPECIAL, false, 0, 0, 0},
    {"tls_verify", F_BOOL, true, OFF(tls_verify), 0, 0},
    {"ca_file", F_STR, true, OFF(ca_file), 0, 0},
    {"keepalive", F_BOOL, true, OFF(keepalive), 0, 0},
    {"interval_ms", F_I64, true, OFF(interval_ms), 1, MAX_MS},
    {"timeout_ms", F_I64, true, OFF(timeout_ms), 1, MAX_MS},
    {"slow_ms", F_I64, true, OFF(slow_ms), 1, MAX_MS},
    {"failures_before_down", F_INT, true, OFF(failures_before_down), 1, 1000},
    {"successes_before_up", F_INT, true, OFF(successes_before_up), 1, 1000},
    {"cert_warn_days", F_INT, true, OFF(cert_warn_days), 1, 3650},
    {"trend_window", F_INT, true, OFF(trend_window), 3, MD_TREND_MAX_WINDOW},
    {"trend_horizon_ms", F_I64, true, OFF(trend_horizon_ms), 0, MAX_MS},
    {"ewma_alpha", F_ALPHA, true, OFF(ewma_alpha), 0, 0},
    {"prewarm", F_BOOL, true, OFF(prewarm), 0, 0},
    {"prewarm_interval_ms", F_I64, true, OFF(prewarm_interval_ms), 1, MAX_MS},
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static void builtin_defaults(md_service_config *s)
{
    memset(s, 0, sizeof *s);
    s->tls_verify = true;
    s->keepalive = true;
    s->interval_ms = MD_DEFAULT_INTERVAL_MS;
    s->timeout_ms = MD_DEFAULT_TIMEOUT_MS;
    s->slow_ms = MD_DEFAULT_SLOW_MS;
    s->failures_before_down = MD_DEFAULT_FAILURES_BEFORE_DOWN;
    s->successes_before_up = MD_DEFAULT_SUCCESSES_BEFORE_UP;
    s->cert_warn_days = MD_DEFAULT_CERT_WARN_DAYS;
    s->trend_window = MD_DEFAULT_TREND_WINDOW;
    s->trend_horizon_ms = MD_DEFAULT_TREND_HORIZON_MS;
    s->ewma_alpha = MD_DEFAULT_EWMA_ALPHA;
    s->prewarm = false;
    s->prewarm_interval_ms = MD_DEFAULT_PREWARM_INTERVAL_MS;
}

static int set_field(parser *p, const char *path, const field *f, const cJSON *it, md_service_config *sc)
{
    char *at = (char *)sc + f->off;
    int64_t v;
    int rc = 0;
    switch (f->type) {
    case F_SPECIAL:
        return 0;
    case F_STR: {
        char *s;
        if ((rc = get_string(p, path, it, &s)))
            return rc;
        free(*(char **)at);
        *(char **)at = s;
        return 0;
    }
    case F_BOOL:
        return get_bool(p, path, it, (bool *)at);
    case F_I64:
        if ((rc = get_int(p, path, it, f->min, f->max, &v)) == 0)
            *(int64_t *)at = v;
        return rc;
    case F_INT:
        if ((rc = get_int(p, path, it, f->min, f->max, &v)) == 0)
            *(int *)at = (int)v;
        return rc;
    case F_ALPHA:
        if (!cJSON_IsNumber(it) || !(it->valuedouble > 0.0 && it->valuedouble <= 1.0))
            return fail(p, path, "must be a number above 0 and at most 1");
        *(double *)at = it->valuedouble;
        return 0;
    }
    return 0;
}

/* apply_fields sets every plain field present in obj (a service, or "defaults") on sc, after
 * rejecting unknown keys, keys given twice, and service-only keys in defaults. */
static int apply_fields(parser *p, const char *path, const cJSON *obj, md_service_config *sc,
                        bool in_defaults)
{
    bool seen[N_FIELDS] = {0};
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        char fp[PATH_LEN];
        size_t i = 0;
        join(fp, sizeof fp, path, it->string);
        while (i < N_FIELDS && (!it->string || strcmp(fields[i].key, it->string) != 0))
            i++;
        if (i == N_FIELDS)
            return fail(p, fp, "unknown key");
        if (seen[i])
            return fail(p, fp, "duplicate key");
        seen[i] = true;
        if (in_defaults && !fields[i].in_defaults)
            return fail(p, fp, "not allowed in defaults (set it on each service)");
        int rc = set_field(p, fp, &fields[i], it, sc);
        if (rc)
            return rc;
    }
    return 0;
}

static bool token_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!is_alnum(*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    return true;
}

static int parse_headers(parser *p, const char *path, const cJSON *obj, md_service_config *sc)
{
    if (!cJSON_IsObject(obj))
        return fail(p, path, "must be an object of header names to string values");
    int n = cJSON_GetArraySize(obj);
    if (n > MAX_HEADERS)
        return fail(p, path, "at most %d headers", MAX_HEADERS);
    if (n == 0)
        return 0;
    if (!(sc->headers = calloc((size_t)n, sizeof *sc->headers)))
        return oom(p);
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        const char *name = it->string ? it->string : "";
        char fp[PATH_LEN];
        join(fp, sizeof fp, path, name);
        if (!token_ok(name))
            return fail(p, fp, "not a valid header name");
        for (size_t j = 0; j < sc->n_headers; j++)
            if (strcasecmp(sc->headers[j].name, name) == 0)
                return fail(p, fp, "duplicate header (names are case-insensitive)");
        md_header *h = &sc->headers[sc->n_headers];
        if (!(h->name = strdup(name)))
            return oom(p);
        sc->n_headers++;
        int rc = get_string(p, fp, it, &h->value);
        if (rc)
            return rc;
        if (strpbrk(h->value, "\r\n"))
            return fail(p, fp, "must not contain CR or LF");
    }
    return 0;
}

static int parse_target(parser *p, const char *path, const cJSON *obj, md_service_config *sc)
{
    const cJSON *url = get(obj, "url"), *tcp = get(obj, "tcp");
    char fp[PATH_LEN];
    int rc;
    if (url && tcp)
        return fail(p, path, "set url or tcp, not both");
    if (!url && !tcp)
        return fail(p, path, "needs url (an HTTP check) or tcp (a TCP connect check)");
    if (url) {
        sc->kind = MD_CHECK_HTTP;
        join(fp, sizeof fp, path, "url");
        if ((rc = get_string(p, fp, url, &sc->url)))
            return rc;
        return check_url(p, fp, sc->url);
    }
    char *s;
    sc->kind = MD_CHECK_TCP;
    join(fp, sizeof fp, path, "tcp");
    if ((rc = get_string(p, fp, tcp, &s)))
        return rc;
    rc = split_hostport(s, 1, &sc->tcp_host, &sc->tcp_port);
    free(s);
    if (rc == -ENOMEM)
        return oom(p);
    if (rc)
        return fail(p, fp, "must be host:port with port 1-65535 (IPv6 as [::1]:5432)");
    return 0;
}

static int parse_http_only(parser *p, const char *path, const cJSON *obj, md_service_config *sc)
{
    static const char *const keys[] = {"method", "expect_status", "expect_body", "headers"};
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "OPTIONS"};
    char fp[PATH_LEN];
    const cJSON *it;
    int rc, m = 0;
    int64_t v;
    if (sc->kind == MD_CHECK_TCP) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (get(obj, keys[i]))
                return fail(p, join(fp, sizeof fp, path, keys[i]), "only for url checks");
        return 0;
    }
    if ((it = get(obj, "method")) &&
        (rc = pick(p, join(fp, sizeof fp, path, "method"), it, methods, 5,
                   "GET, HEAD, POST, PUT, OPTIONS", &m)))
        return rc;
    if (!(sc->method = strdup(methods[m])))
        return oom(p);
    if ((it = get(obj, "expect_status"))) {
        if ((rc = get_int(p, join(fp, sizeof fp, path, "expect_status"), it, 100, 599, &v)))
            return rc;
        sc->expect_status = (int)v;
    }
    if ((it = get(obj, "expect_body")) &&
        (rc = get_string(p, join(fp, sizeof fp, path, "expect_body"), it, &sc->expect_body)))
        return rc;
    if ((it = get(obj, "headers")))
        return parse_headers(p, join(fp, sizeof fp, path, "headers"), it, sc);
    return 0;
}

static int parse_prewarm(parser *p, const char *path, const cJSON *obj, md_service_config *sc)
{
    const cJSON *url = get(obj, "prewarm_url");
    char fp[PATH_LEN];
    int rc;
    if (url) {
        join(fp, sizeof fp, path, "prewarm_url");
        if (get(obj, "prewarm") && !sc->prewarm)
            return fail(p, fp, "set while prewarm is false");
        if ((rc = get_string(p, fp, url, &sc->prewarm_url)) || (rc = check_url(p, fp, sc->prewarm_url)))
            return rc;
        sc->prewarm = true;
        return 0;
    }
    if (!sc->prewarm)
        return 0;
    if (sc->kind == MD_CHECK_TCP)
        return fail(p, join(fp, sizeof fp, path, "prewarm"),
                    "a tcp check needs prewarm_url (the URL to keep warm)");
    if (!(sc->prewarm_url = strdup(sc->url)))
        return oom(p);
    return 0;
}

/* parse_service builds services[i] in sc, starting from base (built-in defaults with the
 * "defaults" object applied). sc is zeroed on entry and owned by the config whatever happens. */
static int parse_service(parser *p, size_t i, const cJSON *obj, const md_service_config *base,
                         md_service_config *sc)
{
    char path[PATH_LEN], fp[PATH_LEN];
    int rc;
    snprintf(path, sizeof path, "services[%zu]", i);
    if (!cJSON_IsObject(obj))
        return fail(p, path, "must be an object");
    *sc = *base;
    sc->ca_file = NULL; /* base keeps its own copy */
    if (base->ca_file && !(sc->ca_file = strdup(base->ca_file)))
        return oom(p);
    if ((rc = apply_fields(p, path, obj, sc, false)))
        return rc;
    const cJSON *name = get(obj, "name");
    join(fp, sizeof fp, path, "name");
    if (!name)
        return fail(p, fp, "required");
    if ((rc = get_string(p, fp, name, &sc->name)))
        return rc;
    if (!name_ok(sc->name))
        return fail(p, fp, NAME_RULE);
    for (size_t j = 0; j < i; j++)
        if (strcmp(p->cfg->services[j].name, sc->name) == 0)
            return fail(p, fp, "\"%s\" is already used by services[%zu]", sc->name, j);
    if ((rc = parse_target(p, path, obj, sc)) || (rc = parse_http_only(p, path, obj, sc)) ||
        (rc = parse_prewarm(p, path, obj, sc)))
        return rc;
    if (sc->timeout_ms >= sc->interval_ms)
        return fail(p, join(fp, sizeof fp, path, "timeout_ms"), "must be less than interval_ms (%lld)",
                    (long long)sc->interval_ms);
    return 0;
}

static int parse_services(parser *p, const cJSON *defaults, const cJSON *list)
{
    md_config *cfg = p->cfg;
    md_service_config base;
    int rc = 0;
    builtin_defaults(&base);
    if (defaults && !cJSON_IsObject(defaults))
        return fail(p, "defaults", "must be an object");
    if (defaults && (rc = apply_fields(p, "defaults", defaults, &base, true)))
        goto out;
    if (!list) {
        rc = fail(p, "services", "required (list at least one service)");
        goto out;
    }
    if (!cJSON_IsArray(list)) {
        rc = fail(p, "services", "must be an array of services");
        goto out;
    }
    int n = cJSON_GetArraySize(list);
    if (n == 0 || n > MAX_SERVICES) {
        rc = n ? fail(p, "services", "at most %d services", MAX_SERVICES)
               : fail(p, "services", "must list at least one service");
        goto out;
    }
    if (!(cfg->services = calloc((size_t)n, sizeof *cfg->services))) {
        rc = oom(p);
        goto out;
    }
    cfg->n_services = (size_t)n; /* zeroed entries are safe to free if we stop early */
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        if ((rc = parse_service(p, i, it, &base, &cfg->services[i])))
            goto out;
        i++;
    }
out:
    free(base.ca_file);
    return rc;
}

/* ---- node, api, log, and the document ---- */

static int want_object(parser *p, const char *path, const cJSON *it)
{
    return it && !cJSON_IsObject(it) ? fail(p, path, "must be an object") : 0;
}

static int parse_node(parser *p, const cJSON *node)
{
    static const char *const keys[] = {"id", "region"};
    md_config *cfg = p->cfg;
    const cJSON *id = get(node, "id"), *region = get(node, "region");
    int rc;
    if ((rc = want_object(p, "node", node)) || (rc = check_keys(p, "node", node, keys, 2)))
        return rc;
    if (id) {
        if ((rc = get_string(p, "node.id", id, &cfg->node_id)))
            return rc;
        if (!name_ok(cfg->node_id))
            return fail(p, "node.id", NAME_RULE);
    } else {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0 || !name_ok(host))
            return fail(p, "node.id", "not set, and the host name is not a valid id; set node.id");
        if (!(cfg->node_id = strdup(host)))
            return oom(p);
    }
    if (region) {
        if ((rc = get_string(p, "node.region", region, &cfg->node_region)))
            return rc;
        if (!name_ok(cfg->node_region))
            return fail(p, "node.region", NAME_RULE);
    } else if (!(cfg->node_region = strdup("local"))) {
        return oom(p);
    }
    return 0;
}

static int parse_api(parser *p, const cJSON *api)
{
    static const char *const keys[] = {"listen"};
    md_config *cfg = p->cfg;
    const cJSON *listen = get(api, "listen");
    int rc;
    if ((rc = want_object(p, "api", api)) || (rc = check_keys(p, "api", api, keys, 1)))
        return rc;
    if (listen) {
        if ((rc = get_string(p, "api.listen", listen, &cfg->api_listen)))
            return rc;
    } else if (!(cfg->api_listen = strdup(MD_DEFAULT_API_LISTEN))) {
        return oom(p);
    }
    rc = split_hostport(cfg->api_listen, 0, &cfg->api_host, &cfg->api_port);
    if (rc == -ENOMEM)
        return oom(p);
    if (rc)
        return fail(p, "api.listen", "must be host:port with port 0-65535 (IPv6 as [::1]:8700)");
    return 0;
}

static const char *const log_levels[] = {"debug", "info", "warn", "error"};
static const char *const log_formats[] = {"text", "json"};

static int parse_log(parser *p, const cJSON *lg)
{
    static const char *const keys[] = {"level", "format"};
    const cJSON *level = get(lg, "level"), *format = get(lg, "format");
    int rc, f = MD_LOGFMT_TEXT;
    p->cfg->log_level = 1;
    if ((rc = want_object(p, "log", lg)) || (rc = check_keys(p, "log", lg, keys, 2)))
        return rc;
    if (level && (rc = pick(p, "log.level", level, log_levels, 4, "debug, info, warn, error",
                            &p->cfg->log_level)))
        return rc;
    if (format && (rc = pick(p, "log.format", format, log_formats, 2, "text, json", &f)))
        return rc;
    p->cfg->log_format = (md_log_format)f;
    return 0;
}

static int parse_root(parser *p, const cJSON *root)
{
    static const char *const keys[] = {"node", "api", "log", "status_print_interval_ms",
                                       "max_concurrent_checks", "defaults", "services"};
    const cJSON *spi = get(root, "status_print_interval_ms");
    const cJSON *mcc = get(root, "max_concurrent_checks");
    int rc;
    if (!cJSON_IsObject(root))
        return fail(p, NULL, "the document must be a JSON object");
    if ((rc = check_keys(p, "", root, keys, 7)) || (rc = parse_node(p, get(root, "node"))) ||
        (rc = parse_api(p, get(root, "api"))) || (rc = parse_log(p, get(root, "log"))))
        return rc;
    p->cfg->status_print_interval_ms = MD_DEFAULT_STATUS_PRINT_INTERVAL_MS;
    if (spi && (rc = get_int(p, "status_print_interval_ms", spi, 0, MAX_MS,
                             &p->cfg->status_print_interval_ms)))
        return rc;
    int64_t max_checks = MD_DEFAULT_MAX_CONCURRENT_CHECKS;
    if (mcc && (rc = get_int(p, "max_concurrent_checks", mcc, 1, 65536, &max_checks)))
        return rc;
    p->cfg->max_concurrent_checks = (int)max_checks;
    return parse_services(p, get(root, "defaults"), get(root, "services"));
}

static int fail_json(parser *p, const char *text, size_t off)
{
    size_t line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return fail(p, NULL, "malformed JSON at byte %zu (line %zu, column %zu)", off, line, col);
}

int md_config_parse(const char *json, size_t len, const char *origin, md_config **out, char *err,
                    size_t errlen)
{
    assert(out);
    assert(json || len == 0);
    parser p = {NULL, origin ? origin : "config", err, errlen};
    if (err && errlen)
        err[0] = '\0';
    /* cJSON wants a terminated buffer; the copy also keeps the caller's bytes untouched. */
    char *text = malloc(len + 1);
    if (!text || !(p.cfg = calloc(1, sizeof *p.cfg))) {
        free(text);
        return oom(&p);
    }
    if (len)
        memcpy(text, json, len);
    text[len] = '\0';
    const char *end = NULL;
    int rc;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        rc = fail_json(&p, text, end && end >= text && end <= text + len ? (size_t)(end - text) : 0);
    } else {
        size_t off = (size_t)(end - text);
        while (off < len && strchr(" \t\r\n", text[off]) && text[off])
            off++;
        rc = off < len ? fail_json(&p, text, off) : parse_root(&p, root);
    }
    if (rc == 0 && !(p.cfg->origin = strdup(p.origin)))
        rc = oom(&p);
    cJSON_Delete(root);
    free(text);
    if (rc) {
        md_config_free(p.cfg);
        return rc;
    }
    *out = p.cfg;
    return 0;
}

/* read_file reads at most MAX_FILE_BYTES. *out is malloc'd for the caller (NULL when empty). */
static int read_file(const char *path, char **out, size_t *len)
{
    struct stat st;
    sbuf b = {0};
    int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0)
        rc = -errno;
    else if (S_ISDIR(st.st_mode))
        rc = -EISDIR;
    while (rc == 0) {
        char chunk[8192];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        if (b.n + (size_t)n > MAX_FILE_BYTES)
            rc = -EFBIG;
        else
            rc = sb_put(&b, chunk, (size_t)n);
    }
    close(fd);
    if (rc) {
        free(b.s);
        return rc;
    }
    *out = b.s;
    *len = b.n;
    return 0;
}

int md_config_load(const char *path, md_config **out, char *err, size_t errlen)
{
    assert(out);
    if (!path) {
        const char *env = getenv("MEDIC_CONFIG");
        if (!env) {
            if (err && errlen)
                snprintf(err, errlen, "MEDIC_CONFIG: not set (give a config file, or put the JSON "
                                      "config in MEDIC_CONFIG)");
            return -ENOENT;
        }
        return md_config_parse(env, strlen(env), "MEDIC_CONFIG", out, err, errlen);
    }
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len);
    if (rc) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read: %s", path,
                     rc == -EFBIG ? "larger than 16 MiB" : strerror(-rc));
        return rc;
    }
    rc = md_config_parse(text, len, path, out, err, errlen);
    free(text);
    return rc;
}

static void free_service(md_service_config *s)
{
    free(s->name);
    free(s->url);
    free(s->method);
    free(s->expect_body);
    for (size_t i = 0; i < s->n_headers; i++) {
        free(s->headers[i].name);
        free(s->headers[i].value);
    }
    free(s->headers);
    free(s->ca_file);
    free(s->tcp_host);
    free(s->prewarm_url);
}

void md_config_free(md_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->node_id);
    free(cfg->node_region);
    free(cfg->api_listen);
    free(cfg->api_host);
    for (size_t i = 0; i < cfg->n_services; i++)
        free_service(&cfg->services[i]);
    free(cfg->services);
    free(cfg->origin);
    for (size_t i = 0; i < cfg->n_secrets; i++)
        free(cfg->secrets[i]);
    free(cfg->secrets);
    free(cfg);
}

/* ---- masking and rendering ---- */

static size_t secret_at(const md_config *cfg, const char *s)
{
    for (size_t i = 0; cfg && i < cfg->n_secrets; i++) {
        size_t n = strlen(cfg->secrets[i]);
        if (strncmp(s, cfg->secrets[i], n) == 0)
            return n;
    }
    return 0;
}

void md_config_mask(const md_config *cfg, const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    assert(s && (out || outlen == 0));
    if (outlen == 0)
        return;
    while (*s) {
        size_t m = secret_at(cfg, s);
        const char *piece = m ? "***" : s;
        size_t plen = m ? 3 : 1;
        /* Stop rather than cut a piece: a cut never shows secret bytes, but stars are clearer. */
        if (n + plen >= outlen)
            break;
        memcpy(out + n, piece, plen);
        n += plen;
        s += m ? m : 1;
    }
    out[n] = '\0';
}

bool md_config_header_is_sensitive(const char *name)
{
    static const char *const words[] = {"auth", "cookie", "token", "secret", "key", "passw"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(name, words[i]))
            return true;
    return false;
}

typedef struct {
    const md_config *cfg;
    bool mask;
    bool ok; /* false once any allocation failed */
} emitter;

static void put_str(emitter *e, cJSON *obj, const char *key, const char *v)
{
    char *m = NULL;
    if (e->mask) {
        size_t n = 3 * strlen(v) + 1; /* every byte could be a one-byte secret */
        if (!(m = malloc(n))) {
            e->ok = false;
            return;
        }
        md_config_mask(e->cfg, v, m, n);
        v = m;
    }
    if (!cJSON_AddStringToObject(obj, key, v))
        e->ok = false;
    free(m);
}

/* put_url shows a password in the URL's userinfo (https://user:pass@host) as *** when masking. */
static void put_url(emitter *e, cJSON *obj, const char *key, const char *url)
{
    size_t alen = 0;
    const char *a = e->mask ? authority(url, &alen) : NULL;
    const char *at = a ? memrchr(a, '@', alen) : NULL;
    const char *colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
    if (!colon) {
        put_str(e, obj, key, url);
        return;
    }
    sbuf b = {0};
    if (sb_put(&b, url, (size_t)(colon + 1 - url)) || sb_put(&b, "***", 3) || sb_put(&b, at, strlen(at)))
        e->ok = false;
    else
        put_str(e, obj, key, b.s);
    free(b.s);
}

static void put_num(emitter *e, cJSON *obj, const char *key, double v)
{
    if (!cJSON_AddNumberToObject(obj, key, v))
        e->ok = false;
}

static void put_bool(emitter *e, cJSON *obj, const char *key, bool v)
{
    if (!cJSON_AddBoolToObject(obj, key, v))
        e->ok = false;
}

static void http_json(emitter *e, cJSON *o, const md_service_config *s)
{
    put_url(e, o, "url", s->url);
    put_str(e, o, "method", s->method);
    if (s->expect_status)
        put_num(e, o, "expect_status", s->expect_status);
    if (s->expect_body)
        put_str(e, o, "expect_body", s->expect_body);
    if (s->n_headers) {
        cJSON *h = cJSON_AddObjectToObject(o, "headers");
        for (size_t i = 0; i < s->n_headers; i++) {
            bool hide = e->mask && md_config_header_is_sensitive(s->headers[i].name);
            put_str(e, h, s->headers[i].name, hide ? "***" : s->headers[i].value);
        }
    }
}

static cJSON *service_json(emitter *e, const md_service_config *s)
{
    cJSON *o = cJSON_CreateObject();
    put_str(e, o, "name", s->name);
    if (s->kind == MD_CHECK_HTTP) {
        http_json(e, o, s);
    } else {
        char hp[300];
        snprintf(hp, sizeof hp, strchr(s->tcp_host, ':') ? "[%s]:%d" : "%s:%d", s->tcp_host, s->tcp_port);
        put_str(e, o, "tcp", hp);
    }
    put_bool(e, o, "tls_verify", s->tls_verify);
    if (s->ca_file)
        put_str(e, o, "ca_file", s->ca_file);
    put_bool(e, o, "keepalive", s->keepalive);
    put_num(e, o, "interval_ms", (double)s->interval_ms);
    put_num(e, o, "timeout_ms", (double)s->timeout_ms);
    put_num(e, o, "slow_ms", (double)s->slow_ms);
    put_num(e, o, "failures_before_down", s->failures_before_down);
    put_num(e, o, "successes_before_up", s->successes_before_up);
    put_num(e, o, "cert_warn_days", s->cert_warn_days);
    put_num(e, o, "trend_window", s->trend_window);
    put_num(e, o, "trend_horizon_ms", (double)s->trend_horizon_ms);
    put_num(e, o, "ewma_alpha", s->ewma_alpha);
    put_bool(e, o, "prewarm", s->prewarm);
    if (s->prewarm_url)
        put_url(e, o, "prewarm_url", s->prewarm_url);
    put_num(e, o, "prewarm_interval_ms", (double)s->prewarm_interval_ms);
    return o;
}

char *md_config_to_json(const md_config *cfg, bool mask_secrets)
{
    assert(cfg);
    emitter e = {cfg, mask_secrets, true};
    cJSON *root = cJSON_CreateObject(), *o;
    if (!root)
        return NULL;
    o = cJSON_AddObjectToObject(root, "node");
    put_str(&e, o, "id", cfg->node_id);
    put_str(&e, o, "region", cfg->node_region);
    o = cJSON_AddObjectToObject(root, "api");
    put_str(&e, o, "listen", cfg->api_listen);
    o = cJSON_AddObjectToObject(root, "log");
    put_str(&e, o, "level", log_levels[cfg->log_level & 3]);
    put_str(&e, o, "format", log_formats[cfg->log_format == MD_LOGFMT_JSON]);
    put_num(&e, root, "status_print_interval_ms", (double)cfg->status_print_interval_ms);
    put_num(&e, root, "max_concurrent_checks", (double)cfg->max_concurrent_checks);
    o = cJSON_AddArrayToObject(root, "services");
    for (size_t i = 0; i < cfg->n_services; i++) {
        cJSON *s = service_json(&e, &cfg->services[i]);
        if (!s || !cJSON_AddItemToArray(o, s)) {
            cJSON_Delete(s);
            e.ok = false;
        }
    }
    /* cJSON_Print allocates with malloc (default hooks), so the caller frees with free(). */
    char *out = e.ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return out;
}
