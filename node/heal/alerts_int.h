/* alerts_int.h: the alert sender's state, shared by its files (alerts.c: queue, retries and
 * requests; alerts_setup.c: webhook copies, defaults, teardown). Private to the module. */
#ifndef MD_ALERTS_INT_H
#define MD_ALERTS_INT_H

#include "alerts.h"
#include "util.h"

#define MD__ALERT_FORMATS 3

typedef struct {
    char *url;                 /* secret: never logged */
    md_webhook_format format;
    struct curl_slist *extra;  /* "Name: value" lines from the config; values are secrets */
    char target[160];          /* scheme://host[:port], the only part of the URL logs show */
    int inflight;
} hook;

struct item;

typedef struct {
    struct item *it;
    size_t hook;
    int attempts;              /* requests started */
    int64_t next_us;           /* monotonic: may (re)start from then */
    CURL *easy;                /* non-NULL while in flight */
    struct curl_slist *hdrs;
    bool done;
} delivery;

typedef struct item {
    struct md_alerts *owner;
    ut_link link;              /* on owner->items */
    char *key;
    int64_t queued_us;
    size_t pending;            /* deliveries not done */
    char *bodies[MD__ALERT_FORMATS];   /* per webhook format in use; freed with the item */
    delivery d[];              /* one per webhook */
} item;

typedef struct notice {
    ut_link link;              /* on md_alerts.notices */
    size_t hook;
    md_alert_fate fate;
    char key[];
} notice;

struct md_alerts {
    uv_loop_t *loop;
    md_curl_loop *cl;
    uv_timer_t timer;
    hook *hooks;
    size_t n_hooks;
    md_alerts_opts o;
    ut_list items;             /* of item: FIFO, oldest at head */
    size_t n_items;
    char **keys;               /* ring of remembered keys, o.dedupe_keys long */
    size_t key_next;
    ut_list notices;           /* of notice: FIFO */
    bool flushing, closing;
    uint64_t rng;
    md_alerts_counters c;
};

/* md__alerts_item_free unlinks it, cancels its requests in flight (no callbacks) and frees it. */
void md__alerts_item_free(md_alerts *a, item *it);

#endif
