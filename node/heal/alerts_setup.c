/* alerts_setup.c: creating and closing the alert sender: webhook URLs checked and copied (with
 * the scheme://host[:port] that logs may show), extra headers validated, option defaults, and
 * the teardown that abandons pending deliveries. */
#include "alerts.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts_int.h"
#include "base/base.h"

/* Writes scheme://host[:port] of url into out; returns false when url is not http(s). */
static bool url_target(const char *url, char *out, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK
        && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
    if (ok) {
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT);
        snprintf(out, cap, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

static bool header_ok(const md_header *hd)
{
    if (!hd->name || !hd->name[0] || !hd->value)
        return false;
    for (const char *p = hd->name; *p; p++)
        if (*p <= 0x20 || *p >= 0x7F || *p == ':')
            return false;
    return strpbrk(hd->value, "\r\n") == NULL;
}

static int copy_hook(hook *dst, const md_webhook_config *src, size_t i, char *err, size_t errlen)
{
    if ((unsigned)src->format >= MD__ALERT_FORMATS) {
        snprintf(err, errlen, "webhooks[%zu].format: must be generic, slack or discord", i);
        return -EINVAL;
    }
    if (!src->url || !url_target(src->url, dst->target, sizeof(dst->target))) {
        snprintf(err, errlen, "webhooks[%zu].url: not an http(s) URL", i);
        return -EINVAL;
    }
    dst->format = src->format;
    if (!(dst->url = strdup(src->url)))
        return -ENOMEM;
    for (size_t j = 0; j < src->n_headers; j++) {
        const md_header *hd = &src->headers[j];
        if (!header_ok(hd)) {
            snprintf(err, errlen, "webhooks[%zu].headers[%zu]: needs a token name and a one-line value", i, j);
            return -EINVAL;
        }
        size_t len = strlen(hd->name) + strlen(hd->value) + 3;
        char *line = malloc(len);
        if (!line)
            return -ENOMEM;
        snprintf(line, len, "%s: %s", hd->name, hd->value);
        struct curl_slist *t = curl_slist_append(dst->extra, line);
        explicit_bzero(line, len); /* curl kept its own copy; this one held a secret */
        free(line);
        if (!t)
            return -ENOMEM;
        dst->extra = t;
    }
    return 0;
}

static void set_defaults(md_alerts_opts *o)
{
    if (o->queue_max == 0)
        o->queue_max = 1000;
    if (o->max_attempts <= 0)
        o->max_attempts = 8;
    if (o->backoff_base_ms <= 0)
        o->backoff_base_ms = 1000;
    if (o->backoff_max_ms <= 0)
        o->backoff_max_ms = 60000;
    if (o->backoff_max_ms < o->backoff_base_ms)
        o->backoff_max_ms = o->backoff_base_ms;
    if (o->deadline_ms <= 0)
        o->deadline_ms = 900000;
    if (o->request_timeout_ms <= 0)
        o->request_timeout_ms = 10000;
    if (o->retry_after_max_ms <= 0)
        o->retry_after_max_ms = 600000;
    if (o->max_inflight_per_hook <= 0)
        o->max_inflight_per_hook = 4;
    if (o->dedupe_keys == 0)
        o->dedupe_keys = 4096;
    if (o->seed == 0)
        o->seed = (uint64_t)md_mono_us() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
}

static void free_hooks(hook *hooks, size_t n)
{
    for (size_t i = 0; hooks && i < n; i++) {
        free(hooks[i].url);
        curl_slist_free_all(hooks[i].extra);
    }
    free(hooks);
}

int md_alerts_new(uv_loop_t *loop, md_curl_loop *cl, const md_webhook_config *hooks, size_t n_hooks,
                  const md_alerts_opts *opts, md_alerts **out, char *err, size_t errlen)
{
    assert(loop && cl && out && (hooks || n_hooks == 0));
    char dummy[8];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    md_alerts *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    if (opts)
        a->o = *opts;
    set_defaults(&a->o);
    a->rng = a->o.seed;
    a->loop = loop;
    a->cl = cl;
    a->n_hooks = n_hooks;
    a->keys = calloc(a->o.dedupe_keys, sizeof(char *));
    a->hooks = n_hooks ? calloc(n_hooks, sizeof(hook)) : NULL;
    int rc = (!a->keys || (n_hooks && !a->hooks)) ? -ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < n_hooks; i++)
        rc = copy_hook(&a->hooks[i], &hooks[i], i, err, errlen);
    if (rc != 0) {
        if (rc == -ENOMEM && !err[0])
            snprintf(err, errlen, "out of memory");
        free_hooks(a->hooks, n_hooks);
        free(a->keys);
        free(a);
        return rc;
    }
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    *out = a;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void md_alerts_close(md_alerts *a)
{
    if (!a)
        return;
    assert(!a->closing && !a->flushing);
    a->closing = true;
    while (!ut_list_empty(&a->items)) /* cancels requests in flight, no callbacks */
        md__alerts_item_free(a, ut_list_first(&a->items, item, link));
    for (ut_link *k; (k = ut_list_pop_front(&a->notices)) != NULL;)
        free(ut_list_entry(k, notice, link));
    for (size_t i = 0; i < a->o.dedupe_keys; i++)
        free(a->keys[i]);
    free(a->keys);
    free_hooks(a->hooks, a->n_hooks);
    a->hooks = NULL;
    uv_close((uv_handle_t *)&a->timer, on_timer_closed);
}
