/* probe.c: the probe engine. Runs HTTP(S) and TCP checks as libcurl transfers on the node's
 * curl loop and turns each outcome into an md_check_result. Checks and curl easy handles come
 * from free lists, so a steady check rate allocates nothing here; connections stay in the
 * multi's cache, so keep-alive works whichever easy handle runs the next check, and TLS sessions
 * sit in shares (one per bucket of servers), so a new HTTPS connection resumes a session whichever
 * handle made it. */
#include "probe.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "base/base.h"
#include "util.h"

#define BODY_MAX (64 * 1024) /* bytes of body kept to look for expect_body */
#define BODY_FIRST 4096
#define POOL_KEEP_CHECKS 1024
#define CA_CACHE_S 300 /* a changed CA file is read again within this */
#define PROBE_RECV_BUFFER 4096L /* curl's receive buffer per handle (its minimum is 1,024) */
/* libcurl 7.88 keeps at most 8 TLS sessions in a share and evicts the oldest, so one share resumes
 * nothing once new-connection checks go round more than 8 servers. Servers are spread over this
 * many shares by a hash of their URL's authority: room for about 500 servers' sessions (fewer where
 * the hash crowds a bucket). A share is made only when a server of its bucket is first checked. */
#define TLS_SHARES 64
#define MD_PROBE_USER_AGENT "medic/" MD_VERSION

/* A pooled easy handle and what its options are set for. A plain HTTP(S) check (GET or HEAD,
 * no extra headers, the system CA store, no certificate to read) that matches the profile only
 * gets a new URL and write target: curl_easy_reset and setting every option again cost about a
 * tenth of a keep-alive check's CPU. Anything else takes the full setup and clears the profile. */
typedef struct easy_slot {
    CURL *e;
    bool ready;               /* the fields below describe the options in force */
    bool head;                /* NOBODY (HEAD) rather than GET */
    bool tls_verify, keepalive;
    int64_t timeout_ms;
    CURLSH *share;            /* the TLS share attached (curl_easy_reset keeps it); NULL: none yet */
} easy_slot;

typedef struct check {
    md_prober *p;
    md_probe_request req;     /* pointers borrowed from the caller until cb runs */
    bool running;             /* false: waiting in p->waiting */
    md_probe_cb cb;
    void *ctx;
    easy_slot *h;             /* from p's pool while running; NULL while waiting */
    CURL *easy;               /* h->e */
    struct curl_slist *hdrs;  /* owned; built per check */
    char *body;               /* owned, kept across reuse; only filled when expect_body is set */
    size_t body_len, body_cap;
    uint64_t start_ms;        /* uv_now when it started: the latency of a failure curl did not time */
    ut_link link;             /* on p->running, p->waiting or p->free_checks */
} check;

struct md_prober {
    uv_loop_t *loop;
    md_curl_loop *cl;
    int max_inflight;
    int limit;                         /* the limit in force: MD_PROBE_SLOW_START..max_inflight */
    uint64_t win_start_ms;             /* the limit's current window: when it began (uv_now), */
    uint64_t win_idle_ns;              /* the loop's idle time then, */
    bool win_waited;                   /* and whether a check waited for a slot in it */
    bool feed_wants;                   /* the feed has checks waiting for a slot (md_prober_full) */
    bool (*feed)(void *ctx);           /* see md_prober_set_feed; NULL: none */
    void *feed_ctx;
    int n_running;
    int n_waiting;
    int depth;                         /* user callbacks on the stack */
    bool dead;                         /* md_prober_free ran inside a callback */
    ut_list running;                   /* of check */
    ut_list waiting;                   /* FIFO of checks waiting for a slot */
    ut_list free_checks;               /* a stack */
    int n_free_checks;
    int n_checks;                      /* check records in existence: running, waiting or pooled */
    easy_slot **free_easy;             /* stack of idle easy handles */
    int n_free_easy, cap_free_easy;
    int n_easy;                        /* easy handles in existence (idle or running) */
    CURLSH *tls_shares[TLS_SHARES];    /* TLS sessions by server bucket; made on first use, NULL
                                          while curl refuses one (handles then keep their own) */
    struct curl_slist *ua_header;      /* owned: "User-Agent: medic/<version>", for checks
                                          without headers of their own; NULL if out of memory */
};

md_err_class md_probe_classify(int curl_code)
{
    switch ((CURLcode)curl_code) {
    case CURLE_OK: return MD_ERR_NONE;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return MD_ERR_DNS;
    case CURLE_OPERATION_TIMEDOUT: return MD_ERR_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT: return MD_ERR_TLS;
    case CURLE_PARTIAL_FILE: return MD_ERR_BODY;
    default: return MD_ERR_CONNECT;
    }
}

int md_probe_parse_cert_time(const char *s, int64_t *ms_out)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    assert(s && ms_out);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) == 6) {
        tm.tm_mon -= 1;
    } else {
        /* OpenSSL's ASN1_TIME_print; the month name is not localised, so no strptime. */
        int m;
        for (m = 0; m < 12; m++)
            if (strncmp(s, months[m], 3) == 0)
                break;
        if (m == 12)
            return -EINVAL;
        tm.tm_mon = m;
        int fn = 0;
        if (sscanf(s + 3, " %2d %2d:%2d:%2d%n", &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                   &tm.tm_sec, &fn) != 4)
            return -EINVAL;
        const char *q = s + 3 + fn;
        if (*q == '.') /* GeneralizedTime may carry fractional seconds */
            while (*++q >= '0' && *q <= '9') {}
        int yn = 0;
        if (sscanf(q, " %4d%n", &tm.tm_year, &yn) != 1)
            return -EINVAL;
        n = (int)(q - s) + yn;
    }
    if (strncmp(s + n, " GMT", 4) != 0 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
        tm.tm_year < 1970)
        return -EINVAL;
    tm.tm_year -= 1900;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -EINVAL;
    *ms_out = (int64_t)t * 1000;
    return 0;
}

/* ---- pools ---- */

static check *check_get(md_prober *p)
{
    check *c = ut_list_entry(ut_list_pop_front(&p->free_checks), check, link);
    if (c) {
        p->n_free_checks--;
        return c;
    }
    c = calloc(1, sizeof(*c));
    if (c)
        p->n_checks++;
    return c;
}

static void check_put(md_prober *p, check *c)
{
    if (p->n_free_checks >= POOL_KEEP_CHECKS) {
        free(c->body);
        free(c);
        p->n_checks--;
        return;
    }
    ut_list_push_front(&p->free_checks, &c->link);
    p->n_free_checks++;
}

static easy_slot *easy_get(md_prober *p)
{
    if (p->n_free_easy > 0)
        return p->free_easy[--p->n_free_easy];
    if (p->n_easy == p->cap_free_easy) {
        /* Room for every handle that exists, so easy_put never has to drop one for space. */
        int cap = p->cap_free_easy ? p->cap_free_easy * 2 : 16;
        easy_slot **grown = realloc(p->free_easy, (size_t)cap * sizeof(*grown));
        if (!grown)
            return NULL;
        p->free_easy = grown;
        p->cap_free_easy = cap;
    }
    easy_slot *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    if (!(h->e = curl_easy_init())) {
        free(h);
        return NULL;
    }
    p->n_easy++;
    return h;
}

static void easy_free(easy_slot *h)
{
    curl_easy_cleanup(h->e);
    free(h);
}

static int limit_of(const md_prober *p);

/* Handles are kept for up to twice the checks the limit in force lets run (not for max_inflight):
 * each holds about 5 KB inside libcurl, and after the limit halves on a busy loop, or after a
 * burst, handles the limit no longer lets run would sit idle. Twice, because the limit moves by
 * halving and growing every 50 ms on a saturated loop: one halving keeps every handle (a new one
 * costs curl_easy_init and a full setup), a second frees the surplus as its checks finish. */
static void easy_put(md_prober *p, easy_slot *h)
{
    assert(p->n_free_easy < p->cap_free_easy);
    int keep = 2 * limit_of(p) < p->max_inflight ? 2 * limit_of(p) : p->max_inflight;
    if (p->n_easy <= keep) {
        p->free_easy[p->n_free_easy++] = h;
    } else {
        easy_free(h);
        p->n_easy--;
    }
}

static void unlink_running(md_prober *p, check *c)
{
    ut_list_remove(&p->running, &c->link);
    p->n_running--;
}

static void unlink_waiting(md_prober *p, check *c)
{
    ut_list_remove(&p->waiting, &c->link);
}

/* ---- one transfer ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    check *c = ud;
    size_t n = size * nmemb;
    if (!c->req.expect_body || c->body_len >= BODY_MAX)
        return n; /* discarded: nobody looks at it */
    size_t want = c->body_len + n < BODY_MAX ? c->body_len + n : BODY_MAX;
    if (want > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : BODY_FIRST;
        while (cap < want)
            cap *= 2;
        if (cap > BODY_MAX)
            cap = BODY_MAX;
        char *grown = realloc(c->body, cap);
        if (!grown)
            return n; /* judged on what we have */
        c->body = grown;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, data, want - c->body_len);
    c->body_len = want;
    return n;
}

static int build_headers(check *c)
{
    char small[512];
    for (size_t i = 0; i < c->req.n_headers; i++) {
        const md_header *h = &c->req.headers[i];
        /* "Name;" is curl's way to send an empty header; "Name:" would delete it. */
        bool empty = !h->value || !h->value[0];
        size_t len = strlen(h->name) + (empty ? 1 : 2 + strlen(h->value)) + 1;
        char *line = len <= sizeof(small) ? small : malloc(len);
        if (!line)
            return -ENOMEM;
        if (empty)
            snprintf(line, len, "%s;", h->name);
        else
            snprintf(line, len, "%s: %s", h->name, h->value);
        struct curl_slist *l = curl_slist_append(c->hdrs, line);
        if (line != small)
            free(line);
        if (!l)
            return -ENOMEM;
        c->hdrs = l;
    }
    return 0;
}

/* The share holding TLS sessions for url's server, made on first use; NULL for plain HTTP or when
 * curl refuses a share. The bucket is a hash of the authority ("host:port", case folded), so every
 * check of one server finds the sessions the others left; two spellings of one server (an implied
 * and an explicit port) may land in different buckets, which costs a handshake, nothing more. */
static CURLSH *tls_share_of(md_prober *p, const char *url)
{
    if (strncasecmp(url, "https://", 8) != 0)
        return NULL;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *q = url + 8; *q && *q != '/' && *q != '?' && *q != '#'; q++) {
        unsigned char ch = (unsigned char)*q;
        h = (h ^ (uint32_t)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch)) * 16777619u;
    }
    CURLSH **slot = &p->tls_shares[h % TLS_SHARES];
    if (!*slot) {
        /* Only the loop thread uses the handles, so the share needs no lock functions. */
        CURLSH *sh = curl_share_init();
        if (sh && curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
            curl_share_cleanup(sh);
            sh = NULL;
        }
        *slot = sh;
    }
    return *slot;
}

/* Whether r is a plain check the handle's profile can serve (see easy_slot). */
static bool plain(const md_probe_request *r)
{
    return r->kind == MD_CHECK_HTTP && r->n_headers == 0 && !r->ca_file && !r->want_cert &&
           (!r->method || strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0);
}

static bool is_head(const md_probe_request *r)
{
    return r->method && strcmp(r->method, "HEAD") == 0;
}

static int setup_full(check *c);

static int setup_easy(check *c)
{
    easy_slot *h = c->h;
    const md_probe_request *r = &c->req;
    if (h->ready && plain(r) && h->head == is_head(r) && h->tls_verify == r->tls_verify &&
        h->keepalive == r->keepalive && h->timeout_ms == r->timeout_ms) {
        /* The handle may have served another server: its sessions live in their own share. */
        CURLSH *share = tls_share_of(c->p, r->url);
        if (share && share != h->share && curl_easy_setopt(h->e, CURLOPT_SHARE, share) == CURLE_OK)
            h->share = share;
        curl_easy_setopt(h->e, CURLOPT_WRITEDATA, c);
        return curl_easy_setopt(h->e, CURLOPT_URL, r->url) == CURLE_OK ? 0 : -EINVAL;
    }
    int rc = setup_full(c);
    h->ready = rc == 0 && plain(r);
    h->head = is_head(r);
    h->tls_verify = r->tls_verify;
    h->keepalive = r->keepalive;
    h->timeout_ms = r->timeout_ms;
    return rc;
}

static int setup_full(check *c)
{
    CURL *e = c->easy;
    const md_probe_request *r = &c->req;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    /* A pooled handle keeps its receive buffer (16 KiB by default) while it waits; health answers
     * are small, and with up to 1,024 handles pooled the default is most of the node's memory. */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, PROBE_RECV_BUFFER);
    if (r->dns_cache_ms > 0) /* whole seconds, at least one */
        curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, (long)((r->dns_cache_ms + 999) / 1000));
    if (r->kind == MD_CHECK_TCP) {
        char url[320];
        bool v6 = strchr(r->tcp_host, ':') && r->tcp_host[0] != '[';
        int n = snprintf(url, sizeof(url), v6 ? "http://[%s]:%d/" : "http://%s:%d/",
                         r->tcp_host, r->tcp_port);
        if (n < 0 || (size_t)n >= sizeof(url))
            return -EINVAL;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
        /* Connect and close: never park the socket in the cache or take a parked one. */
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
        return 0;
    }
    if (curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK)
        return -EINVAL;
    if (r->method && strcmp(r->method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (r->method && strcmp(r->method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    if (r->n_headers) {
        if (build_headers(c) != 0)
            return -ENOMEM;
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
        /* A User-Agent among the check's headers replaces this one. */
        curl_easy_setopt(e, CURLOPT_USERAGENT, MD_PROBE_USER_AGENT);
    } else if (c->p->ua_header) {
        /* As a ready-made header line: curl formats CURLOPT_USERAGENT into a new string for every
         * request and then formats it again into the request, byte by byte (bench/RESULTS.md). */
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->p->ua_header);
    } else {
        curl_easy_setopt(e, CURLOPT_USERAGENT, MD_PROBE_USER_AGENT);
    }
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, r->tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, r->tls_verify ? 2L : 0L);
    if (r->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, r->ca_file);
    /* One CA file (ca_file or the system bundle) and no CA directory: curl then keeps the parsed
     * CA store in the multi instead of reading and parsing the PEM file for every new
     * connection, which cost more than the handshake itself. Debian's bundle holds every
     * certificate of its directory. The store is read again at most CA_CACHE_S after a change. */
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
#if LIBCURL_VERSION_NUM >= 0x075700 /* 7.87.0 */
    curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, (long)CA_CACHE_S);
#endif
    if (!r->keepalive) {
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    CURLSH *share = tls_share_of(c->p, r->url);
    if (share && curl_easy_setopt(e, CURLOPT_SHARE, share) == CURLE_OK)
        c->h->share = share;
    if (r->want_cert) {
        /* A resumed session (and a kept-alive connection) carries no certificate: reading the
         * expiry takes a full handshake on a new connection, once per relearn period. */
        curl_easy_setopt(e, CURLOPT_CERTINFO, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    }
    return 0;
}

/* The leaf's notAfter, when this transfer did a handshake; 0 otherwise (a reused connection). */
static int64_t cert_expiry(CURL *e)
{
    struct curl_certinfo *ci = NULL;
    if (curl_easy_getinfo(e, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci || ci->num_of_certs < 1)
        return 0;
    static const char key[] = "Expire date:";
    for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next) {
        int64_t ms;
        if (strncmp(s->data, key, sizeof(key) - 1) == 0 &&
            md_probe_parse_cert_time(s->data + sizeof(key) - 1, &ms) == 0)
            return ms;
    }
    return 0;
}

static void judge(const check *c, CURLcode rc, md_check_result *r, md_probe_extra *x)
{
    CURL *e = c->easy;
    long status = 0;
    curl_off_t total_us = 0;
    if (c->req.kind == MD_CHECK_HTTP)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total_us);
    if (total_us <= 0) /* failed before curl's clock started */
        total_us = (curl_off_t)((uv_now(c->p->loop) - c->start_ms) * 1000);
    r->at_ms = md_wall_ms();
    r->latency_us = total_us < 1 ? 1 : total_us > UINT32_MAX ? UINT32_MAX : (uint32_t)total_us;
    r->http_status = (int)status;
    r->err = md_probe_classify(rc);
    if (r->err == MD_ERR_NONE && c->req.kind == MD_CHECK_HTTP) {
        bool ok_status = c->req.expect_status ? status == c->req.expect_status
                                              : status >= 200 && status <= 299;
        if (!ok_status)
            r->err = MD_ERR_STATUS;
        else if (c->req.expect_body && c->req.expect_body[0] &&
                 (c->body_len == 0 || !memmem(c->body, c->body_len, c->req.expect_body,
                                              strlen(c->req.expect_body))))
            r->err = MD_ERR_BODY;
    }
    x->cert_expiry_ms = c->req.want_cert ? cert_expiry(e) : 0;
}

static void start_waiting(md_prober *p);

/* Calls a user callback; returns false when the callback freed p (then p is gone). */
static bool call_user(md_prober *p, md_probe_cb cb, void *ctx, const md_check_result *r,
                      const md_probe_extra *x)
{
    p->depth++;
    cb(ctx, r, x);
    p->depth--;
    if (p->dead) {
        if (p->depth == 0)
            free(p);
        return false;
    }
    return true;
}

/* Releases c's resources and returns it to the pool. */
static void finish(md_prober *p, check *c)
{
    if (c->hdrs) {
        curl_slist_free_all(c->hdrs);
        c->hdrs = NULL;
    }
    if (c->h) {
        easy_put(p, c->h);
        c->h = NULL;
        c->easy = NULL;
    }
    c->running = false;
    check_put(p, c);
}

/* The in-flight limit follows the loop's idle time. On one thread a transfer's latency is about
 * (checks in flight) x (CPU per check), so when the loop has no idle time left, more checks in
 * flight only make each slower (and curl's connection cache longer): past their timeouts they
 * time out, a timed-out transfer loses its connection, the next check pays for a new one, and
 * the node stays there. So every LIMIT_WINDOW_MS the limit halves (down to
 * MD_PROBE_SLOW_START) when the loop was busy almost all the window, and grows by
 * MD_PROBE_SLOW_START (up to max_inflight) when checks waited for a slot while the loop had time
 * to spare (additive increase, multiplicative decrease: it hovers below the point where the
 * loop saturates instead of swinging across it): services that
 * answer slowly or hang (they cost no CPU while they wait) still get all the slots they need,
 * and after a burst of timeouts the limit grows back as soon as the loop is idle again. */
#define LIMIT_WINDOW_MS 50
#define LIMIT_BUSY_IDLE 0.10 /* idle share below which the loop is saturated */
#define LIMIT_GROW_IDLE 0.25 /* idle share from which more in flight is affordable */

int md_probe_next_limit(int limit, int floor, int cap, double idle_share, bool waited)
{
    assert(floor >= 1 && cap >= 1);
    int top = cap > floor ? cap : floor;
    if (idle_share < LIMIT_BUSY_IDLE)
        limit /= 2;
    else if (waited && idle_share >= LIMIT_GROW_IDLE)
        limit = limit > top - floor ? top : limit + floor;
    return limit < floor ? floor : limit > top ? top : limit;
}

static int limit_of(const md_prober *p)
{
    return p->limit < p->max_inflight ? p->limit : p->max_inflight;
}

/* Ends the limit's window when it is due; called on every start and completion, so a window
 * ends with the first event after its time (no timer: with no events nothing needs a slot). */
static void limit_tick(md_prober *p)
{
    uint64_t now = uv_now(p->loop); /* this loop turn's time: no clock read per check */
    uint64_t span = now - p->win_start_ms;
    if (span < LIMIT_WINDOW_MS)
        return;
    uint64_t idle = md_curl_loop_idle_ns(p->cl);
    double share = (double)(idle - p->win_idle_ns) / ((double)span * 1e6);
    int next = md_probe_next_limit(p->limit, MD_PROBE_SLOW_START, p->max_inflight, share, p->win_waited);
    if (next != p->limit)
        md_log(MD_LOG_DEBUG, "probe_limit", MD_I("from", p->limit), MD_I("to", next),
               MD_D("loop_idle_share", share), MD_I("running", p->n_running), MD_I("waiting", p->n_waiting));
    p->limit = next;
    p->win_start_ms = now;
    p->win_idle_ns = idle;
    p->win_waited = p->n_waiting > 0 || p->feed_wants;
}

int md_prober_limit(const md_prober *p)
{
    assert(p);
    return limit_of(p);
}

int md_prober_easy_handles(const md_prober *p)
{
    assert(p);
    return p->n_easy;
}

int md_prober_checks(const md_prober *p)
{
    assert(p);
    return p->n_checks;
}

static void on_done(CURL *easy, CURLcode rc, void *ctx)
{
    check *c = ctx;
    md_prober *p = c->p;
    (void)easy; /* the same handle as c->easy, which only the assert compares */
    assert(c->running && c->easy == easy);
    md_check_result r = {0};
    md_probe_extra x = {0};
    judge(c, rc, &r, &x);
    limit_tick(p);
    md_probe_cb cb = c->cb;
    void *cb_ctx = c->ctx;
    unlink_running(p, c);
    finish(p, c);
    if (call_user(p, cb, cb_ctx, &r, &x))
        start_waiting(p);
}

/* Starts c on the multi. On failure c is back in the pool and the caller reports it. */
static int run(md_prober *p, check *c)
{
    c->h = easy_get(p);
    c->easy = c->h ? c->h->e : NULL;
    if (!c->h) {
        finish(p, c);
        return -ENOMEM;
    }
    c->body_len = 0;
    int rc = setup_easy(c);
    if (rc == 0) {
        c->start_ms = uv_now(p->loop); /* the loop's time: no clock read per check */
        rc = md_curl_loop_add(p->cl, c->easy, on_done, c);
    }
    if (rc != 0) {
        finish(p, c);
        return rc;
    }
    c->running = true;
    ut_list_push_front(&p->running, &c->link);
    p->n_running++;
    return 0;
}

/* Asks the feed for one check; returns false when it had none, or when it freed p (p->dead). */
static bool call_feed(md_prober *p)
{
    p->depth++;
    bool more = p->feed(p->feed_ctx);
    p->depth--;
    if (p->dead) {
        if (p->depth == 0)
            free(p);
        return false;
    }
    if (!more)
        p->feed_wants = false;
    return more;
}

/* Fills free slots from the waiting queue, then from the feed (the prober's own waiting checks
 * came first: the feed only asked for a slot once they were queued). A check that cannot start
 * (out of memory) is reported as a connect failure; this never runs inside md_probe_start. */
static void start_waiting(md_prober *p)
{
    while (p->n_running < limit_of(p)) {
        if (ut_list_empty(&p->waiting)) {
            /* Each call starts one check or says it has none, so this ends. A feed check that
             * could not start was reported to its caller by md_probe_start's return. */
            if (!p->feed_wants || !call_feed(p))
                return;
            continue;
        }
        check *c = ut_list_first(&p->waiting, check, link);
        unlink_waiting(p, c);
        p->n_waiting--;
        md_probe_cb cb = c->cb;
        void *cb_ctx = c->ctx;
        uint64_t t0 = uv_hrtime();
        if (run(p, c) != 0) {
            md_check_result r = {.at_ms = md_wall_ms(), .err = MD_ERR_CONNECT,
                                 .latency_us = (uint32_t)((uv_hrtime() - t0) / 1000) + 1};
            md_probe_extra x = {0};
            if (!call_user(p, cb, cb_ctx, &r, &x))
                return;
        }
    }
}

static int validate(const md_probe_request *req)
{
    if (!req || req->timeout_ms <= 0 || req->timeout_ms > INT32_MAX)
        return -EINVAL;
    if (req->kind == MD_CHECK_HTTP) {
        if (!req->url || !req->url[0] || (req->n_headers && !req->headers))
            return -EINVAL;
        for (size_t i = 0; i < req->n_headers; i++) {
            const md_header *h = &req->headers[i];
            /* a CR or LF would let a header smuggle more lines into the request */
            if (!h->name || !h->name[0] || strpbrk(h->name, "\r\n:;") ||
                (h->value && strpbrk(h->value, "\r\n")))
                return -EINVAL;
        }
        return 0;
    }
    if (req->kind == MD_CHECK_TCP)
        return req->tcp_host && req->tcp_host[0] && strlen(req->tcp_host) < 256 &&
                       req->tcp_port > 0 && req->tcp_port < 65536
                   ? 0
                   : -EINVAL;
    return -EINVAL;
}

int md_probe_start(md_prober *p, const md_probe_request *req, md_probe_cb cb, void *ctx,
                   void **handle_out)
{
    assert(p && !p->dead && cb);
    int rc = validate(req);
    if (rc != 0)
        return rc;
    check *c = check_get(p);
    if (!c)
        return -ENOMEM;
    c->p = p;
    c->req = *req;
    c->cb = cb;
    c->ctx = ctx;
    c->hdrs = NULL;
    c->h = NULL;
    c->easy = NULL;
    c->running = false;
    limit_tick(p);
    if (p->n_running < limit_of(p) && ut_list_empty(&p->waiting)) {
        rc = run(p, c);
        if (rc != 0)
            return rc;
    } else {
        ut_list_push_back(&p->waiting, &c->link);
        p->n_waiting++;
        p->win_waited = true;
    }
    if (handle_out)
        *handle_out = c;
    return 0;
}

bool md_prober_full(md_prober *p)
{
    assert(p && !p->dead && p->feed);
    limit_tick(p);
    if (p->n_running < limit_of(p) && ut_list_empty(&p->waiting))
        return false;
    /* As for a check queued here: the window saw one wait, and a freed slot goes to the feed. */
    p->feed_wants = true;
    p->win_waited = true;
    return true;
}

void md_prober_set_feed(md_prober *p, bool (*fn)(void *ctx), void *ctx)
{
    assert(p && !p->dead && fn && !p->feed_wants);
    p->feed = fn;
    p->feed_ctx = ctx;
}

void md_probe_cancel(md_prober *p, void *handle)
{
    assert(p && !p->dead);
    check *c = handle;
    if (!c)
        return;
    assert(c->p == p);
    if (c->running) {
        md_curl_loop_cancel(p->cl, c->easy);
        unlink_running(p, c);
        finish(p, c);
        start_waiting(p);
    } else {
        unlink_waiting(p, c);
        p->n_waiting--;
        finish(p, c);
    }
}

md_prober *md_prober_new(uv_loop_t *loop, struct md_curl_loop *cl)
{
    assert(loop && cl);
    md_prober *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->loop = loop;
    p->cl = cl;
    p->max_inflight = MD_PROBE_MAX_INFLIGHT;
    p->limit = MD_PROBE_SLOW_START;
    p->win_start_ms = uv_now(loop);
    p->win_idle_ns = md_curl_loop_idle_ns(cl);
    p->ua_header = curl_slist_append(NULL, "User-Agent: " MD_PROBE_USER_AGENT);
    return p;
}

void md_prober_set_max_inflight(md_prober *p, int n)
{
    assert(p && n >= 1);
    p->max_inflight = n;
    start_waiting(p);
}

void md_prober_free(md_prober *p)
{
    if (!p || p->dead)
        return;
    while (!ut_list_empty(&p->running)) {
        check *c = ut_list_first(&p->running, check, link);
        md_curl_loop_cancel(p->cl, c->easy);
        unlink_running(p, c);
        finish(p, c);
    }
    while (!ut_list_empty(&p->waiting)) {
        check *c = ut_list_first(&p->waiting, check, link);
        unlink_waiting(p, c);
        finish(p, c);
    }
    for (ut_link *k; (k = ut_list_pop_front(&p->free_checks)) != NULL;) {
        check *c = ut_list_entry(k, check, link);
        free(c->body);
        free(c);
    }
    while (p->n_free_easy > 0)
        easy_free(p->free_easy[--p->n_free_easy]);
    free(p->free_easy);
    /* Every handle is gone (running ones were cancelled into the free list above). */
    for (int i = 0; i < TLS_SHARES; i++) {
        if (!p->tls_shares[i])
            continue;
        CURLSHcode src = curl_share_cleanup(p->tls_shares[i]);
        assert(src == CURLSHE_OK);
        (void)src;
        p->tls_shares[i] = NULL;
    }
    curl_slist_free_all(p->ua_header); /* after the handles that pointed at it */
    p->ua_header = NULL;
    p->dead = true;
    if (p->depth == 0)
        free(p);
}
