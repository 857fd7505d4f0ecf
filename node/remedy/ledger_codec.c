/* ledger_codec.c: the ledger's wire primitives and its entry codec. An entry is
 *   u8 version | u8 type | name service | i64 at_ms | name actor | body | u32 crc32c
 * names: u8 length + printable ASCII; texts: u16 length + clean UTF-8. Decoding is strict:
 * anything a decoder accepts re-encodes to the same bytes. */
#include "ledger_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer ---- */

void md__lw_name(md__lw *w, const char *s)
{
    size_t n = strnlen(s, MD_LEDGER_NAME_MAX + 1);
    assert(md__ledger_name_ok(s, n, true));
    md__lw_u8(w, (uint8_t)n);
    ut_wr_bytes(w, s, n);
}

/* text_ok: clean UTF-8 (no NUL, no control character but tab and newline), not too long. */
static bool text_ok(const uint8_t *p, size_t n)
{
    return n <= MD_LEDGER_TEXT_MAX && ut_utf8_is_clean(p, n);
}

void md__lw_text(md__lw *w, const char *p, size_t n)
{
    size_t at = w->len, room = n < MD_LEDGER_TEXT_MAX ? n : MD_LEDGER_TEXT_MAX;
    md__lw_u16(w, 0); /* patched below, once the cleaned length is known */
    uint8_t *to = ut_wr_room(w, room);
    if (w->bad)
        return;
    size_t out = ut_utf8_clean((char *)to, room, p, n, 0);
    w->len += out;
    ut_put_le16(w->p + at, (uint16_t)out);
}

int md__lw_finish(md__lw *w)
{
    if (!w->bad)
        md__lw_u32(w, md__ledger_crc32c(w->p, w->len));
    if (w->bad) {
        ut_wr_free(w);
        return -ENOMEM;
    }
    return 0;
}

/* ---- reader ---- */

uint64_t md__lr_n(md__lr *r, int n) { return ut_rd_le(r, (size_t)n); }

bool md__lr_bool(md__lr *r)
{
    uint64_t v = md__lr_n(r, 1);
    if (v > 1)
        r->bad = true;
    return v == 1;
}

int64_t md__lr_time(md__lr *r)
{
    uint64_t v = md__lr_n(r, 8);
    if (v > (uint64_t)MD_LEDGER_TIME_MAX) {
        r->bad = true;
        return 0;
    }
    return (int64_t)v;
}

void md__lr_name(md__lr *r, char *out, bool allow_empty)
{
    size_t n = (size_t)md__lr_n(r, 1);
    out[0] = '\0';
    if (r->bad || n > r->left || !md__ledger_name_ok((const char *)r->p, n, allow_empty)) {
        r->bad = true;
        return;
    }
    memcpy(out, r->p, n);
    out[n] = '\0';
    r->p += n;
    r->left -= n;
}

md_ledger_text md__lr_text(md__lr *r)
{
    md_ledger_text t = { "", 0 };
    size_t n = (size_t)md__lr_n(r, 2);
    if (r->bad || n > r->left || !text_ok(r->p, n)) {
        r->bad = true;
        return t;
    }
    t.p = (const char *)r->p;
    t.len = n;
    r->p += n;
    r->left -= n;
    return t;
}

bool md__lr_open(md__lr *r, const uint8_t *buf, size_t len)
{
    r->p = buf;
    r->left = 0;
    r->bad = true;
    if (!buf || len < 5)
        return false;
    uint32_t want = ut_get_le32(buf + len - 4);
    if (md__ledger_crc32c(buf, len - 4) != want)
        return false;
    r->left = len - 4;
    r->bad = false;
    return true;
}

/* ---- shared checks ---- */

uint32_t md__ledger_crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return ~c;
}

bool md__ledger_name_ok(const char *s, size_t n, bool allow_empty)
{
    if (n > MD_LEDGER_NAME_MAX || (n == 0 && !allow_empty))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) /* shown and logged: no blanks */
            return false;
    return true;
}

bool md__ledger_time_ok(int64_t t)
{
    return t >= 0 && t <= MD_LEDGER_TIME_MAX;
}

static bool name_field_ok(const char *s, bool allow_empty)
{
    size_t n = strnlen(s, MD_LEDGER_NAME_MAX + 1);
    return md__ledger_name_ok(s, n, allow_empty);
}

md_ledger_text md_ledger_text_of(const char *s)
{
    md_ledger_text t = { s ? s : "", s ? strlen(s) : 0 };
    return t;
}

/* ---- entries ---- */

/* entry_ok: the checks shared by encoder and decoder, beyond what the wire format enforces. */
static bool entry_ok(const md_ledger_entry *e)
{
    if (!name_field_ok(e->service, false) || !name_field_ok(e->actor, false) || !md__ledger_time_ok(e->at_ms))
        return false;
    switch (e->type) {
    case MD_LEDGER_INCIDENT_OPEN:
        return true;
    case MD_LEDGER_INTENT:
        return e->u.intent.incident && e->u.intent.step > MD_STEP_NONE && e->u.intent.step < MD_STEP_COUNT &&
               e->u.intent.attempt >= 1 && e->u.intent.attempt <= UINT16_MAX && e->u.intent.timeout_ms > 0 &&
               md__ledger_time_ok(e->u.intent.timeout_ms) && name_field_ok(e->u.intent.target, true);
    case MD_LEDGER_RESULT:
        return e->u.result.action && e->u.result.outcome > MD_OUTCOME_NONE &&
               e->u.result.outcome < MD_OUTCOME_COUNT && md__ledger_time_ok(e->u.result.duration_ms) &&
               name_field_ok(e->u.result.new_deployment, true);
    case MD_LEDGER_RESOLVED:
        return e->u.resolved.incident != 0;
    case MD_LEDGER_EXHAUSTED:
        return e->u.exhausted.incident != 0;
    case MD_LEDGER_PAUSE:
        return name_field_ok(e->u.pause.by, false);
    case MD_LEDGER_RESUME:
        return name_field_ok(e->u.resume.by, false);
    case MD_LEDGER_ACK:
        return e->u.ack.incident && name_field_ok(e->u.ack.by, false);
    case MD_LEDGER_NOTE:
        return e->u.note.text.len > 0;
    case MD_LEDGER_KNOWN_GOOD:
        return name_field_ok(e->u.known_good.deployment, false);
    case MD_LEDGER_BLOCKED:
        return e->u.blocked.action != 0 && e->u.blocked.reason.len > 0;
    default:
        return false;
    }
}

int md_ledger_entry_encode(const md_ledger_entry *e, uint8_t **out, size_t *len)
{
    assert(e && out && len);
    if (!entry_ok(e))
        return -EINVAL;
    md__lw w;
    md__lw_start(&w);
    md__lw_u8(&w, MD_LEDGER_VERSION);
    md__lw_u8(&w, (uint8_t)e->type);
    md__lw_name(&w, e->service);
    md__lw_u64(&w, (uint64_t)e->at_ms);
    md__lw_name(&w, e->actor);
    switch (e->type) {
    case MD_LEDGER_INCIDENT_OPEN:
        md__lw_text(&w, e->u.open.votes.p, e->u.open.votes.len);
        md__lw_u64(&w, e->u.open.reopen_of);
        break;
    case MD_LEDGER_INTENT:
        md__lw_u64(&w, e->u.intent.incident);
        md__lw_u8(&w, (uint8_t)e->u.intent.step);
        md__lw_u16(&w, (uint16_t)e->u.intent.attempt);
        md__lw_u64(&w, (uint64_t)e->u.intent.timeout_ms);
        md__lw_u8(&w, e->u.intent.shadow ? 1 : 0);
        md__lw_name(&w, e->u.intent.target);
        break;
    case MD_LEDGER_RESULT:
        md__lw_u64(&w, e->u.result.action);
        md__lw_u8(&w, (uint8_t)e->u.result.outcome);
        md__lw_text(&w, e->u.result.detail.p, e->u.result.detail.len);
        md__lw_u64(&w, (uint64_t)e->u.result.duration_ms);
        md__lw_name(&w, e->u.result.new_deployment);
        break;
    case MD_LEDGER_RESOLVED:
        md__lw_u64(&w, e->u.resolved.incident);
        md__lw_text(&w, e->u.resolved.reason.p, e->u.resolved.reason.len);
        break;
    case MD_LEDGER_EXHAUSTED:
        md__lw_u64(&w, e->u.exhausted.incident);
        break;
    case MD_LEDGER_PAUSE:
        md__lw_name(&w, e->u.pause.by);
        md__lw_text(&w, e->u.pause.reason.p, e->u.pause.reason.len);
        break;
    case MD_LEDGER_RESUME:
        md__lw_name(&w, e->u.resume.by);
        break;
    case MD_LEDGER_ACK:
        md__lw_u64(&w, e->u.ack.incident);
        md__lw_name(&w, e->u.ack.by);
        break;
    case MD_LEDGER_NOTE:
        md__lw_text(&w, e->u.note.text.p, e->u.note.text.len);
        break;
    case MD_LEDGER_KNOWN_GOOD:
        md__lw_name(&w, e->u.known_good.deployment);
        break;
    case MD_LEDGER_BLOCKED:
        md__lw_u64(&w, e->u.blocked.action);
        md__lw_text(&w, e->u.blocked.reason.p, e->u.blocked.reason.len);
        break;
    default:
        assert(0 && "entry_ok let an unknown type through");
    }
    int rc = md__lw_finish(&w);
    if (rc)
        return rc;
    *out = w.p;
    *len = w.len;
    return 0;
}

static void decode_body(md__lr *r, md_ledger_entry *e)
{
    switch (e->type) {
    case MD_LEDGER_INCIDENT_OPEN:
        e->u.open.votes = md__lr_text(r);
        e->u.open.reopen_of = md__lr_n(r, 8);
        break;
    case MD_LEDGER_INTENT:
        e->u.intent.incident = md__lr_n(r, 8);
        e->u.intent.step = (md_step)md__lr_n(r, 1);
        e->u.intent.attempt = (uint32_t)md__lr_n(r, 2);
        e->u.intent.timeout_ms = md__lr_time(r);
        e->u.intent.shadow = md__lr_bool(r);
        md__lr_name(r, e->u.intent.target, true);
        break;
    case MD_LEDGER_RESULT:
        e->u.result.action = md__lr_n(r, 8);
        e->u.result.outcome = (md_outcome)md__lr_n(r, 1);
        e->u.result.detail = md__lr_text(r);
        e->u.result.duration_ms = md__lr_time(r);
        md__lr_name(r, e->u.result.new_deployment, true);
        break;
    case MD_LEDGER_RESOLVED:
        e->u.resolved.incident = md__lr_n(r, 8);
        e->u.resolved.reason = md__lr_text(r);
        break;
    case MD_LEDGER_EXHAUSTED:
        e->u.exhausted.incident = md__lr_n(r, 8);
        break;
    case MD_LEDGER_PAUSE:
        md__lr_name(r, e->u.pause.by, false);
        e->u.pause.reason = md__lr_text(r);
        break;
    case MD_LEDGER_RESUME:
        md__lr_name(r, e->u.resume.by, false);
        break;
    case MD_LEDGER_ACK:
        e->u.ack.incident = md__lr_n(r, 8);
        md__lr_name(r, e->u.ack.by, false);
        break;
    case MD_LEDGER_NOTE:
        e->u.note.text = md__lr_text(r);
        break;
    case MD_LEDGER_KNOWN_GOOD:
        md__lr_name(r, e->u.known_good.deployment, false);
        break;
    case MD_LEDGER_BLOCKED:
        e->u.blocked.action = md__lr_n(r, 8);
        e->u.blocked.reason = md__lr_text(r);
        break;
    default:
        r->bad = true;
    }
}

int md_ledger_entry_decode(const uint8_t *buf, size_t len, md_ledger_entry *e)
{
    assert(e);
    md__lr r;
    memset(e, 0, sizeof *e);
    if (!md__lr_open(&r, buf, len) || md__lr_n(&r, 1) != MD_LEDGER_VERSION)
        return -EINVAL;
    e->type = (md_ledger_entry_type)md__lr_n(&r, 1);
    md__lr_name(&r, e->service, false);
    e->at_ms = md__lr_time(&r);
    md__lr_name(&r, e->actor, false);
    if (r.bad)
        return -EINVAL;
    decode_body(&r, e);
    if (r.bad || r.left != 0 || !entry_ok(e))
        return -EINVAL;
    return 0;
}

/* ---- names ---- */

const char *md_step_name(md_step s)
{
    static const char *const names[] = { "none", "restart", "redeploy", "rollback" };
    return (unsigned)s < MD_STEP_COUNT ? names[s] : "?";
}

const char *md_outcome_name(md_outcome o)
{
    static const char *const names[] = { "pending", "ok", "failed", "timeout", "unknown", "skipped", "not-attempted" };
    return (unsigned)o < MD_OUTCOME_COUNT ? names[o] : "?";
}

bool md_outcome_attempted(md_outcome o)
{
    return o != MD_OUTCOME_NOT_ATTEMPTED;
}

const char *md_ledger_entry_type_name(md_ledger_entry_type t)
{
    static const char *const names[] = { "?", "incident-open", "intent", "result", "resolved", "exhausted",
                                         "pause", "resume", "ack", "note", "known-good", "blocked" };
    return (unsigned)t < MD_LEDGER_TYPE_COUNT ? names[t] : "?";
}

const char *md_close_name(md_close c)
{
    static const char *const names[] = { "open", "resolved", "acked", "resumed" };
    return (unsigned)c < MD_CLOSE_COUNT ? names[c] : "?";
}

const char *md_ledger_ev_name(md_ledger_ev_kind k)
{
    static const char *const names[] = { "?", "opened", "intent", "result", "resolved", "exhausted", "paused",
                                         "resumed", "acked", "noted", "known-good", "blocked", "rejected", "ignored" };
    return (unsigned)k <= MD_LEDGER_EV_IGNORED ? names[k] : "?";
}
