/* config_util.c: the config loader's building blocks: error messages naming the field, typed
 * getters with bounds, ${VAR} substitution that records secrets, key checks, names and addresses. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config_int.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>



bool md__cfg_is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int md__cfg_sb_put(md__cfg_sbuf *b, const char *s, size_t n)
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
int md__cfg_fail(md__cfg_parser *p, const char *path, const char *fmt, ...)
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

int md__cfg_oom(md__cfg_parser *p)
{
    if (p->err && p->errlen)
        snprintf(p->err, p->errlen, "%s: out of memory", p->origin);
    return -ENOMEM;
}

/* join writes "parent.key" (or "key" at top level) into buf, cut to fit, and returns buf. */
const char *md__cfg_join(char *buf, size_t n, const char *parent, const char *key)
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

const cJSON *md__cfg_get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* ---- secrets and ${VAR} ---- */

/* add_secret remembers a substituted value for masking. Kept longest first, so a secret that
 * contains another one is masked whole rather than leaving its tail visible. */
int md__cfg_add_secret(md_config *cfg, const char *v)
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

/* add_env_name remembers a variable the config referenced (once). */
static int add_env_name(md_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_env_names; i++)
        if (strcmp(cfg->env_names[i], name) == 0)
            return 0;
    char **t = realloc(cfg->env_names, (cfg->n_env_names + 1) * sizeof *t);
    if (!t)
        return -ENOMEM;
    cfg->env_names = t;
    if (!(t[cfg->n_env_names] = strdup(name)))
        return -ENOMEM;
    cfg->n_env_names++;
    return 0;
}

bool md__cfg_var_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > MAX_VAR_NAME || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!md__cfg_is_alnum(s[i]) && s[i] != '_')
            return false;
    return true;
}

/* expand replaces every ${VAR} in s. On success *out is a malloc'd string the caller owns. */
int md__cfg_expand(md__cfg_parser *p, const char *path, const char *s, char **out)
{
    md__cfg_sbuf b = {0};
    int rc = md__cfg_sb_put(&b, "", 0);
    while (rc == 0 && *s) {
        const char *ref = strstr(s, "${");
        if (!ref) {
            rc = md__cfg_sb_put(&b, s, strlen(s));
            break;
        }
        if ((rc = md__cfg_sb_put(&b, s, (size_t)(ref - s))))
            break;
        const char *name = ref + 2, *close = strchr(name, '}');
        if (!close) {
            rc = md__cfg_fail(p, path, "unterminated ${ (every ${ starts an environment variable reference)");
            break;
        }
        size_t n = (size_t)(close - name);
        if (!md__cfg_var_name_ok(name, n)) {
            rc = md__cfg_fail(p, path, "bad environment variable name in ${...} (use A-Z a-z 0-9 _)");
            break;
        }
        char var[MAX_VAR_NAME + 1];
        memcpy(var, name, n);
        var[n] = '\0';
        const char *val = p->env->lookup ? p->env->lookup(p->env->ctx, var) : NULL;
        if (!val) {
            rc = md__cfg_fail(p, path, "environment variable %s is not set", var);
            break;
        }
        rc = md__cfg_sb_put(&b, val, strlen(val));
        if (rc == 0)
            rc = md__cfg_add_secret(p->cfg, val);
        if (rc == 0)
            rc = add_env_name(p->cfg, var);
        s = close + 1;
    }
    if (rc == -ENOMEM)
        rc = md__cfg_oom(p);
    if (rc) {
        free(b.s);
        return rc;
    }
    /* Kept for the node's life, two or more a service: give back the buffer's growth room (a
     * 5-byte name would otherwise hold 64). */
    char *fit = b.n + 1 < b.cap ? realloc(b.s, b.n + 1) : NULL;
    *out = fit ? fit : b.s;
    return 0;
}

/* ---- typed getters: each checks the JSON type and range, and names path on error ---- */

/* get_string: *out is the expanded string, malloc'd for the caller. */
int md__cfg_get_string(md__cfg_parser *p, const char *path, const cJSON *it, char **out)
{
    if (!cJSON_IsString(it) || !it->valuestring)
        return md__cfg_fail(p, path, "must be a string");
    return md__cfg_expand(p, path, it->valuestring, out);
}

int md__cfg_get_bool(md__cfg_parser *p, const char *path, const cJSON *it, bool *out)
{
    if (!cJSON_IsBool(it))
        return md__cfg_fail(p, path, "must be true or false");
    *out = cJSON_IsTrue(it);
    return 0;
}

int md__cfg_get_int(md__cfg_parser *p, const char *path, const cJSON *it, int64_t min, int64_t max,
                   int64_t *out)
{
    const char *what = min == 1 ? "a positive integer" : min == 0 ? "a non-negative integer" : NULL;
    double d = cJSON_IsNumber(it) ? it->valuedouble : 0.5;
    /* JSON numbers are doubles: accept only whole values (NaN and infinities are not, since
     * every comparison with them is false). A whole value too large to convert exactly is still
     * a whole number: it is told the maximum, not that it is no integer. */
    bool exact = d >= -9007199254740992.0 && d <= 9007199254740992.0;
    bool finite = d - d == 0; /* false for NaN and infinities */
    bool whole = finite && (!exact || d == (double)(int64_t)d); /* every double past 2^53 is whole */
    if (!whole || (what && d < (double)min)) /* (min is 0 or 1 there: exact as a double) */
        return what ? md__cfg_fail(p, path, "must be %s", what)
                    : md__cfg_fail(p, path, "must be an integer from %lld to %lld", (long long)min, (long long)max);
    int64_t v = exact ? (int64_t)d : 0;
    if (!exact || v < min || v > max)
        return md__cfg_fail(p, path, "must be an integer from %lld to %lld", (long long)min, (long long)max);
    *out = v;
    return 0;
}

/* pick maps a string to its index in words (the allowed values, listed for the operator in list). */
int md__cfg_pick(md__cfg_parser *p, const char *path, const cJSON *it, const char *const *words, size_t n,
                const char *list, int *out)
{
    char *s;
    int rc = md__cfg_get_string(p, path, it, &s);
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
    return md__cfg_fail(p, path, "must be one of %s", list);
}

/* check_keys rejects keys not in keys[] (at most 32) and keys given twice. */
int md__cfg_check_keys(md__cfg_parser *p, const char *path, const cJSON *obj, const char *const *keys, size_t n)
{
    uint32_t seen = 0;
    const cJSON *it;
    assert(n <= 32);
    cJSON_ArrayForEach(it, obj) {
        char fp[PATH_LEN];
        size_t i = 0;
        md__cfg_join(fp, sizeof fp, path, it->string);
        while (i < n && (!it->string || strcmp(keys[i], it->string) != 0))
            i++;
        if (i == n)
            return md__cfg_fail(p, fp, "unknown key");
        if (seen & (UINT32_C(1) << i))
            return md__cfg_fail(p, fp, "duplicate key");
        seen |= UINT32_C(1) << i;
    }
    return 0;
}

bool md__cfg_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!md__cfg_is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

/* split_hostport parses "host:port" or "[ipv6]:port". Returns 0 (and *host, malloc'd, owned by
 * the caller), -EINVAL for bad text, or -ENOMEM. */
int md__cfg_split_hostport(const char *s, int min_port, char **host, int *port)
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
        if (!md__cfg_is_alnum(c) && c != '.' && c != '-' && c != '_' && !(v6 && (c == ':' || c == '%')))
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
const char *md__cfg_authority(const char *url, size_t *len)
{
    const char *a = strstr(url, "://");
    if (!a)
        return NULL;
    a += 3;
    *len = strcspn(a, "/?#");
    return a;
}

int md__cfg_check_url(md__cfg_parser *p, const char *path, const char *u)
{
    if (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0)
        return md__cfg_fail(p, path, "must start with http:// or https://");
    for (const char *c = u; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return md__cfg_fail(p, path, "must not contain spaces or control characters");
    size_t alen = 0;
    const char *a = md__cfg_authority(u, &alen);
    assert(a); /* the scheme check above found "://" */
    const char *at = memrchr(a, '@', alen);
    const char *host = at ? at + 1 : a;
    if (host == a + alen || *host == ':')
        return md__cfg_fail(p, path, "must name a host (http://host[:port]/path)");
    return 0;
}

/* ---- service fields ---- */

int md__cfg_want_object(md__cfg_parser *p, const char *path, const cJSON *it)
{
    return it && !cJSON_IsObject(it) ? md__cfg_fail(p, path, "must be an object") : 0;
}

const char *const md__cfg_log_levels[4] = {"debug", "info", "warn", "error"};
const char *const md__cfg_log_formats[2] = {"text", "json"};
