/* alerts.c: delivers rendered alerts to webhooks over the node's curl multi. Each alert is an
 * item in a FIFO holding one delivery per webhook; one timer wakes the pump when the earliest
 * backoff ends. Fate notifications are queued and flushed after the state is consistent, so a
 * callback may send new alerts (which may drop old ones) without pulling anything from under
 * the code that called it. */
#include "alerts.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts_int.h"
#include "base/base.h"

#ifndef MD_VERSION
#define MD_VERSION "dev"
#endif

static void pump(md_alerts *a);

/* ---- small helpers ---- */

static uint64_t next_rand(md_alerts *a)
{
    a->rng ^= a->rng << 13; /* xorshift64 */
    a->rng ^= a->rng >> 7;
    a->rng ^= a->rng << 17;
    return a->rng;
}

/* Equal jitter: half the exponential delay, plus a random part of the other half, so retries
 * from many nodes or alerts spread out but never come sooner than half the schedule. */
static int64_t backoff_ms(md_alerts *a, int failures)
{
    int64_t d = a->o.backoff_base_ms;
    for (int i = 1; i < failures && d < a->o.backoff_max_ms; i++)
        d *= 2;
    if (d > a->o.backoff_max_ms)
        d = a->o.backoff_max_ms;
    int64_t half = d / 2;
    return half + (int64_t)(next_rand(a) % (uint64_t)(d - half + 1));
}

static bool key_valid(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    if (n == 0 || n > MD_ALERT_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7E)
            return false;
    return true;
}

static int remember(md_alerts *a, const char *key)
{
    char *copy = strdup(key);
    if (!copy)
        return -ENOMEM;
    free(a->keys[a->key_next]);
    a->keys[a->key_next] = copy;
    a->key_next = (a->key_next + 1) % a->o.dedupe_keys;
    return 0;
}

bool md_alerts_seen(const md_alerts *a, const char *key)
{
    assert(a);
    for (size_t i = 0; key && i < a->o.dedupe_keys; i++)
        if (a->keys[i] && strcmp(a->keys[i], key) == 0)
            return true;
    return false;
}

/* ---- fate notices ---- */

static void notify(md_alerts *a, const item *it, size_t h, md_alert_fate fate)
{
    if (!a->o.on_fate)
        return;
    size_t klen = strlen(it->key);
    notice *n = malloc(sizeof(*n) + klen + 1);
    if (!n) {
        md_log(MD_LOG_ERROR, "alert_notice_lost", MD_S("key", it->key), MD_S("reason", "out of memory"));
        return;
    }
    n->hook = h;
    n->fate = fate;
    memcpy(n->key, it->key, klen + 1);
    ut_list_push_back(&a->notices, &n->link);
}

/* Runs the queued callbacks; nested calls (a callback that sends) leave it to the outer one. */
static void flush(md_alerts *a)
{
    if (a->flushing)
        return;
    a->flushing = true;
    for (ut_link *k; (k = ut_list_pop_front(&a->notices)) != NULL;) {
        notice *n = ut_list_entry(k, notice, link);
        a->o.on_fate(n->key, n->hook, n->fate, a->o.fate_ctx);
        free(n);
    }
    a->flushing = false;
}

/* ---- items ---- */

static void cancel_transfer(md_alerts *a, delivery *d)
{
    if (!d->easy)
        return;
    md_curl_loop_cancel(a->cl, d->easy);
    curl_easy_cleanup(d->easy);
    curl_slist_free_all(d->hdrs);
    d->easy = NULL;
    d->hdrs = NULL;
    a->hooks[d->hook].inflight--;
}

void md__alerts_item_free(md_alerts *a, item *it)
{
    ut_list_remove(&a->items, &it->link);
    a->n_items--;
    for (size_t h = 0; h < a->n_hooks; h++)
        cancel_transfer(a, &it->d[h]);
    for (int f = 0; f < MD__ALERT_FORMATS; f++)
        free(it->bodies[f]);
    free(it->key);
    free(it);
}

/* Ends one delivery. Returns true when that freed its item. */
static bool finish(md_alerts *a, delivery *d, md_alert_fate fate)
{
    assert(!d->done && !d->easy);
    item *it = d->it;
    d->done = true;
    a->c.queued--;
    if (fate == MD_ALERT_DELIVERED)
        a->c.sent++;
    else if (fate == MD_ALERT_GAVE_UP)
        a->c.failed++;
    else
        a->c.dropped++;
    notify(a, it, d->hook, fate);
    if (--it->pending > 0)
        return false;
    md__alerts_item_free(a, it);
    return true;
}

static bool give_up(md_alerts *a, delivery *d, const char *reason, long status)
{
    md_log(MD_LOG_WARN, "alert_gave_up", MD_I("webhook", d->hook), MD_S("target", a->hooks[d->hook].target),
           MD_S("key", d->it->key), MD_I("attempts", d->attempts), MD_S("reason", reason), MD_I("status", status));
    return finish(a, d, MD_ALERT_GAVE_UP);
}

static void drop_oldest(md_alerts *a)
{
    item *it = ut_list_first(&a->items, item, link);
    assert(it);
    md_log(MD_LOG_WARN, "alert_dropped", MD_S("key", it->key), MD_S("reason", "queue full"),
           MD_I("queue_max", a->o.queue_max));
    for (size_t h = 0; h < a->n_hooks; h++) {
        delivery *d = &it->d[h];
        if (d->done)
            continue;
        cancel_transfer(a, d);
        if (finish(a, d, MD_ALERT_DROPPED))
            break;
    }
}

/* Plans the next request after a failed one, or gives up. Returns true when the item was freed. */
static bool retry_later(md_alerts *a, delivery *d, int64_t retry_after_ms, long status, const char *why)
{
    if (d->attempts >= a->o.max_attempts)
        return give_up(a, d, "attempts exhausted", status);
    int64_t delay = retry_after_ms > 0 ? retry_after_ms : backoff_ms(a, d->attempts);
    int64_t now = md_mono_us();
    if (now + delay * 1000 > d->it->queued_us + a->o.deadline_ms * 1000)
        return give_up(a, d, "deadline", status);
    d->next_us = now + delay * 1000;
    a->c.retries++;
    md_log(MD_LOG_INFO, "alert_retry", MD_I("webhook", d->hook), MD_S("target", a->hooks[d->hook].target),
           MD_S("key", d->it->key), MD_I("attempt", d->attempts), MD_I("status", status), MD_S("error", why),
           MD_I("delay_ms", delay));
    return false;
}

/* ---- requests ---- */

static void on_done(CURL *easy, CURLcode res, void *ctx)
{
    delivery *d = ctx;
    md_alerts *a = d->it->owner;
    assert(d->easy == easy && !a->closing);
    long status = 0;
    curl_off_t retry_after = 0;
    if (res == CURLE_OK) {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after);
    }
    curl_easy_cleanup(easy);
    curl_slist_free_all(d->hdrs);
    d->easy = NULL;
    d->hdrs = NULL;
    a->hooks[d->hook].inflight--;

    if (res == CURLE_UNSUPPORTED_PROTOCOL || res == CURLE_URL_MALFORMAT) {
        give_up(a, d, curl_easy_strerror(res), 0); /* the URL itself is wrong */
    } else if (res != CURLE_OK) {
        retry_later(a, d, 0, 0, curl_easy_strerror(res));
    } else if (status >= 200 && status < 300) {
        md_log(MD_LOG_INFO, "alert_delivered", MD_I("webhook", d->hook), MD_S("target", a->hooks[d->hook].target),
               MD_S("key", d->it->key), MD_I("attempts", d->attempts), MD_I("status", status));
        finish(a, d, MD_ALERT_DELIVERED);
    } else if (status == 408 || status == 429 || status >= 500) {
        int64_t ra_ms = 0; /* Retry-After (seconds or a date; curl gives seconds) on 429 and 503 */
        if ((status == 429 || status == 503) && retry_after > 0)
            ra_ms = retry_after > a->o.retry_after_max_ms / 1000 ? a->o.retry_after_max_ms : (int64_t)retry_after * 1000;
        retry_later(a, d, ra_ms, status, "http status");
    } else {
        give_up(a, d, "rejected", status); /* 4xx (and anything else): sending it again cannot help */
    }
    pump(a);
    flush(a);
}

static struct curl_slist *build_headers(const hook *h, const char *key)
{
    char idem[MD_ALERT_KEY_MAX + 32];
    snprintf(idem, sizeof(idem), "Idempotency-Key: %s", key);
    struct curl_slist *l = NULL, *t;
    const char *fixed[] = { "Content-Type: application/json", "Expect:", idem };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (!(t = curl_slist_append(l, fixed[i])))
            goto fail;
        l = t;
    }
    for (const struct curl_slist *e = h->extra; e; e = e->next) {
        if (!(t = curl_slist_append(l, e->data)))
            goto fail;
        l = t;
    }
    return l;
fail:
    curl_slist_free_all(l);
    return NULL;
}

/* Starts one request. Returns true when a failure to start made it give up and freed the item. */
static bool start(md_alerts *a, delivery *d)
{
    hook *h = &a->hooks[d->hook];
    d->attempts++;
    d->hdrs = build_headers(h, d->it->key);
    d->easy = d->hdrs ? curl_easy_init() : NULL;
    if (!d->easy) {
        curl_slist_free_all(d->hdrs);
        d->hdrs = NULL;
        return retry_later(a, d, 0, 0, "out of memory");
    }
    const char *body = d->it->bodies[h->format];
    CURL *e = d->easy;
    curl_easy_setopt(e, CURLOPT_URL, h->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body); /* owned by the item, which outlives the request */
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "medic/" MD_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, md_curl_discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)a->o.request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)a->o.request_timeout_ms);
    if (md_curl_loop_add(a->cl, e, on_done, d) != 0) {
        curl_easy_cleanup(e);
        curl_slist_free_all(d->hdrs);
        d->easy = NULL;
        d->hdrs = NULL;
        return retry_later(a, d, 0, 0, "curl refused the request");
    }
    if (d->attempts > 1)
        md_log(MD_LOG_DEBUG, "alert_attempt", MD_I("webhook", d->hook), MD_S("target", h->target),
               MD_S("key", d->it->key), MD_I("attempt", d->attempts));
    h->inflight++;
    return false;
}

static void on_timer(uv_timer_t *t)
{
    md_alerts *a = t->data;
    pump(a);
    flush(a);
}

/* Starts every delivery that is due and has a free slot, oldest alert first, gives up on those
 * past their deadline, and sets the timer for the earliest backoff still running. */
static void pump(md_alerts *a)
{
    int64_t now = md_mono_us(), wake = INT64_MAX;
    for (item *it = ut_list_first(&a->items, item, link), *nx; it; it = nx) {
        nx = ut_list_next(it, item, link);
        for (size_t h = 0; h < a->n_hooks; h++) {
            delivery *d = &it->d[h];
            if (d->done || d->easy)
                continue;
            bool freed = false;
            if (now >= it->queued_us + a->o.deadline_ms * 1000)
                freed = give_up(a, d, "deadline", 0);
            else if (d->next_us > now)
                wake = d->next_us < wake ? d->next_us : wake;
            else if (a->hooks[h].inflight < a->o.max_inflight_per_hook)
                freed = start(a, d);
            /* else: a slot frees when a request ends, and on_done pumps again */
            if (freed)
                break;
        }
    }
    if (wake == INT64_MAX) {
        uv_timer_stop(&a->timer);
        return;
    }
    uint64_t ms = (uint64_t)((wake - now + 999) / 1000);
    uv_timer_start(&a->timer, on_timer, ms, 0);
}

/* ---- public ---- */

int md_alerts_send(md_alerts *a, const md_alert *al)
{
    assert(a && al && !a->closing);
    if ((unsigned)al->event >= MD_ALERT_EVENT_COUNT || !al->service || !al->service[0] || !key_valid(al->idempotency_key))
        return -EINVAL;
    if (md_alerts_seen(a, al->idempotency_key)) {
        a->c.duplicates++;
        md_log(MD_LOG_DEBUG, "alert_duplicate", MD_S("key", al->idempotency_key));
        return -EALREADY;
    }
    if (a->n_hooks == 0)
        return remember(a, al->idempotency_key);
    item *it = calloc(1, sizeof(*it) + a->n_hooks * sizeof(delivery));
    int rc = it ? 0 : -ENOMEM;
    for (size_t h = 0; rc == 0 && h < a->n_hooks; h++) {
        md_webhook_format f = a->hooks[h].format;
        if (!it->bodies[f])
            rc = md_alert_render(al, f, &it->bodies[f]);
    }
    if (rc == 0 && !(it->key = strdup(al->idempotency_key)))
        rc = -ENOMEM;
    if (rc == 0)
        rc = remember(a, al->idempotency_key);
    if (rc != 0) {
        if (it) {
            for (int f = 0; f < MD__ALERT_FORMATS; f++)
                free(it->bodies[f]);
            free(it->key);
            free(it);
        }
        return rc;
    }
    while (a->n_items >= a->o.queue_max)
        drop_oldest(a);
    it->owner = a;
    it->queued_us = md_mono_us();
    it->pending = a->n_hooks;
    for (size_t h = 0; h < a->n_hooks; h++)
        it->d[h] = (delivery){ .it = it, .hook = h, .next_us = it->queued_us };
    ut_list_push_back(&a->items, &it->link);
    a->n_items++;
    a->c.queued += a->n_hooks;
    pump(a);
    flush(a);
    return 0;
}

int md_alerts_mark_sent(md_alerts *a, const char *key)
{
    assert(a);
    if (!key_valid(key))
        return -EINVAL;
    return md_alerts_seen(a, key) ? 0 : remember(a, key);
}

void md_alerts_get_counters(const md_alerts *a, md_alerts_counters *out)
{
    assert(a && out);
    *out = a->c;
}
