/* pace.c: how fast the railway client may talk to backboard: the X-RateLimit-* headers of each
 * answer, this client's own hourly budget, and the wait before the next request; also the
 * growing interval between status polls. Pure: the caller passes the time in. */
#include "rw_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define DAY_MS 86400000ull

/* Reads an optional sign and digits (spaces around allowed) into *out; false otherwise. */
static bool parse_int(const char *v, size_t n, int64_t *out)
{
    size_t i = 0;
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    bool neg = i < n && v[i] == '-';
    if (neg)
        i++;
    int64_t x = 0;
    size_t digits = 0;
    for (; i < n && isdigit((unsigned char)v[i]); i++, digits++) {
        if (x > (INT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (v[i] - '0');
    }
    /* A fraction ("1.5") is cut: pacing needs no better than a second. */
    if (i < n && v[i] == '.')
        for (i++; i < n && isdigit((unsigned char)v[i]); i++)
            ;
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
        i++;
    if (digits == 0 || i != n)
        return false;
    *out = neg ? -x : x;
    return true;
}

bool rw__parse_rl_header(const char *line, size_t len, rw__rl_headers *h)
{
    static const struct {
        const char *name;
        int which;
    } names[] = {{"X-RateLimit-Limit", 0}, {"X-RateLimit-Remaining", 1}, {"X-RateLimit-Reset", 2}};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        size_t nl = strlen(names[k].name);
        if (len <= nl || strncasecmp(line, names[k].name, nl) != 0 || line[nl] != ':')
            continue;
        int64_t v;
        if (!parse_int(line + nl + 1, len - nl - 1, &v) || v < 0)
            return true; /* ours, but unusable: left as absent */
        switch (names[k].which) {
        case 0: h->limit = v, h->has_limit = true; break;
        case 1: h->remaining = v, h->has_remaining = true; break;
        default: h->reset = v, h->has_reset = true; break;
        }
        return true;
    }
    return false;
}

uint64_t rw__reset_in_ms(int64_t reset, int64_t now_wall_ms)
{
    int64_t ms;
    if (reset >= 1000000000000LL)
        ms = reset - now_wall_ms;
    else if (reset >= 1000000000LL)
        ms = reset * 1000 - now_wall_ms;
    else
        ms = reset * 1000;
    if (ms <= 0)
        return 0;
    return (uint64_t)ms > DAY_MS ? DAY_MS : (uint64_t)ms;
}

uint32_t rw__pace_sent_in_hour(const rw__pace *p, uint64_t now_ms)
{
    uint32_t n = 0;
    for (uint32_t i = 0; p->sent && i < p->n_sent; i++) {
        uint64_t t = p->sent[(p->head + i) % p->budget];
        n += t + RW_PACE_HOUR_MS > now_ms;
    }
    return n;
}

static uint64_t until(uint64_t t, uint64_t now_ms)
{
    return t > now_ms ? t - now_ms : 0;
}

/* The server's window: spread the last few requests over what is left of it. */
static uint64_t window_wait(const rw__pace *p, uint64_t now_ms)
{
    if (p->remaining < 0 || !p->reset_at_ms || p->reset_at_ms <= now_ms)
        return 0; /* unknown, or the window has reset since */
    uint64_t left = p->reset_at_ms - now_ms;
    if (p->remaining == 0)
        return left;
    int64_t reserve = p->limit > 0 ? p->limit / 10 : 0;
    if (reserve < RW_PACE_RESERVE_MIN)
        reserve = RW_PACE_RESERVE_MIN;
    if (p->remaining > reserve || !p->last_sent_ms)
        return 0;
    uint64_t gap = left / (uint64_t)(p->remaining + 1);
    return until(p->last_sent_ms + gap, now_ms);
}

uint32_t rw__pace_cap(const rw__pace *p, bool background)
{
    if (!background)
        return p->budget;
    return p->budget / 2 ? p->budget / 2 : 1;
}

uint64_t rw__pace_wait_ms(const rw__pace *p, uint64_t now_ms, uint32_t cap)
{
    uint64_t w = until(p->retry_until_ms, now_ms);
    /* The budget: the ring holds the last `budget` sends, oldest first. With cap or more of
     * them, the one `cap` places from the newest must age out of the hour first. */
    if (cap > p->budget)
        cap = p->budget;
    if (p->sent && cap && p->n_sent >= cap) {
        uint64_t t = p->sent[(p->head + p->n_sent - cap) % p->budget];
        uint64_t b = until(t + RW_PACE_HOUR_MS, now_ms);
        if (b > w)
            w = b;
    }
    uint64_t s = window_wait(p, now_ms);
    return s > w ? s : w;
}

void rw__pace_sent(rw__pace *p, uint64_t now_ms)
{
    p->last_sent_ms = now_ms ? now_ms : 1;
    if (p->remaining > 0)
        p->remaining--; /* until the answer says better, so spacing holds between answers */
    if (!p->sent || !p->budget)
        return;
    if (p->n_sent < p->budget) {
        p->sent[(p->head + p->n_sent) % p->budget] = now_ms;
        p->n_sent++;
    } else {
        p->sent[p->head] = now_ms;
        p->head = (p->head + 1) % p->budget;
    }
}

void rw__pace_observe(rw__pace *p, const rw__rl_headers *h, uint64_t retry_after_ms, uint64_t now_ms,
                      int64_t now_wall_ms)
{
    if (h->has_limit)
        p->limit = h->limit;
    if (h->has_remaining)
        p->remaining = h->remaining;
    if (h->has_reset)
        p->reset_at_ms = now_ms + rw__reset_in_ms(h->reset, now_wall_ms);
    if (retry_after_ms) {
        if (retry_after_ms > DAY_MS)
            retry_after_ms = DAY_MS;
        if (now_ms + retry_after_ms > p->retry_until_ms)
            p->retry_until_ms = now_ms + retry_after_ms;
    }
}

uint64_t rw__poll_interval_ms(unsigned n, uint32_t first_ms, uint32_t max_ms)
{
    if (max_ms < first_ms)
        max_ms = first_ms;
    uint64_t d = first_ms;
    for (unsigned i = 0; i < n && d < max_ms; i++)
        d = d + d / 2;
    return d > max_ms ? max_ms : d;
}
