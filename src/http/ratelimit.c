/* ratelimit.c: token buckets and concurrency slots per key id, failure counts per peer. */
#include "http/ratelimit.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"
#define LOG_COMPONENT "ratelimit"

enum { MINUTE_MS = 60000 };
/* The token budget is per minute; a debt is kept for at most a day's worth of windows. */
enum { TOKEN_WINDOW_MS = 60000, DEBT_WINDOWS_MAX = 1440 };

static void copy_id(char *dst, const char *src)
{
    size_t n = strnlen(src, CG_RATELIMIT_ID_MAX_BYTES - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static bool id_is(const char *stored, const char *id)
{
    return strncmp(stored, id, CG_RATELIMIT_ID_MAX_BYTES - 1) == 0;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

/* The bucket of `key_id`, or NULL. */
static struct cg_ratelimit_bucket *bucket_find(struct cg_ratelimit *rl, const char *key_id)
{
    for (size_t i = 0; i < rl->bucket_count; i++) {
        if (id_is(rl->buckets[i].key_id, key_id))
            return &rl->buckets[i];
    }
    return NULL;
}

/* The bucket of `key_id`, created with its meters unset; when the table is full the least
 * recently used idle bucket is reused. NULL when every bucket has requests in flight. */
static struct cg_ratelimit_bucket *bucket_for(struct cg_ratelimit *rl, const char *key_id,
                                              uint64_t now)
{
    struct cg_ratelimit_bucket *b = bucket_find(rl, key_id);
    if (b)
        return b;
    if (rl->bucket_count < rl->bucket_cap) {
        b = &rl->buckets[rl->bucket_count++];
    } else {
        for (size_t i = 0; i < rl->bucket_count; i++) {
            struct cg_ratelimit_bucket *c = &rl->buckets[i];
            if (c->active == 0 && (b == NULL || c->used_ms < b->used_ms))
                b = c;
        }
    }
    if (b == NULL)
        return NULL;
    memset(b, 0, sizeof(*b));
    copy_id(b->key_id, key_id);
    b->used_ms = now;
    return b;
}

static int64_t meter_full(const struct cg_ratelimit_meter *m)
{
    return (int64_t)(m->max * m->window_ms);
}

/* Adds the units earned since last_ms at the meter's current rate. */
static void meter_advance(struct cg_ratelimit_meter *m, uint64_t now)
{
    int64_t full = meter_full(m);
    uint64_t dt = now > m->last_ms ? now - m->last_ms : 0;
    uint64_t add;
    if (__builtin_mul_overflow(dt, m->max, &add) || m->level >= full ||
        add >= (uint64_t)(full - m->level))
        m->level = full;
    else
        m->level += (int64_t)add;
    m->last_ms = now;
}

/* Brings `m` up to `now`, then sets it to `max` per `window_ms`: a new meter starts full; a
 * changed limit (the keys file was edited) keeps the units (or the debt) the meter had, up to
 * its new size. */
static void meter_set(struct cg_ratelimit_meter *m, uint64_t max, uint64_t window_ms, uint64_t now)
{
    int64_t full = (int64_t)(max * window_ms);
    if (m->max == 0) {
        m->level = full;
    } else {
        meter_advance(m, now);
        if (m->max != max || m->window_ms != window_ms)
            m->level = CG_MIN(m->level / (int64_t)m->window_ms * (int64_t)window_ms, full);
    }
    m->max = max;
    m->window_ms = window_ms;
    m->last_ms = now;
}

/* Until the meter holds `need` (units × window_ms). */
static uint64_t meter_wait_ms(const struct cg_ratelimit_meter *m, int64_t need)
{
    if (m->level >= need)
        return 0;
    return ceil_div((uint64_t)(need - m->level), m->max);
}

static void meter_view(const struct cg_ratelimit_meter *m, struct cg_ratelimit_view *v)
{
    v->limit = m->max;
    v->remaining = m->level > 0 ? (uint64_t)m->level / m->window_ms : 0;
    v->reset_ms = meter_wait_ms(m, meter_full(m));
}

void cg_ratelimit_init(struct cg_ratelimit *rl, bool enabled,
                       const struct cg_ratelimit_limits *defaults, uint64_t auth_failures_max,
                       uint64_t (*now_ms)(void))
{
    memset(rl, 0, sizeof(*rl));
    rl->enabled = enabled;
    if (defaults)
        rl->defaults = *defaults;
    if (rl->defaults.window_ms == 0)
        rl->defaults.max = 0;
    rl->auth_failures_max = auth_failures_max;
    rl->now_ms = now_ms ? now_ms : cg_clock_mono_ms;
    rl->bucket_cap = CG_RATELIMIT_KEYS_MAX;
    rl->peer_cap = CG_RATELIMIT_PEERS_MAX;
    rl->buckets = cg_xcalloc(rl->bucket_cap, sizeof(*rl->buckets));
    rl->peers = cg_xcalloc(rl->peer_cap, sizeof(*rl->peers));
}

void cg_ratelimit_dispose(struct cg_ratelimit *rl)
{
    free(rl->buckets);
    free(rl->peers);
    rl->buckets = NULL;
    rl->peers = NULL;
}

static void refuse(struct cg_ratelimit_verdict *out, uint64_t retry_after_ms)
{
    out->err = CG_ERR_RATE_LIMITED;
    out->retry_after_ms = CG_MAX(retry_after_ms, 1);
}

/* The key's own limits, with the defaults in the gaps when they are on. */
static struct cg_ratelimit_limits effective(const struct cg_ratelimit *rl,
                                            const struct cg_ratelimit_limits *own)
{
    struct cg_ratelimit_limits l = own ? *own : (struct cg_ratelimit_limits){0};
    if (l.max == 0 || l.window_ms == 0) {
        l.max = rl->enabled ? rl->defaults.max : 0;
        l.window_ms = rl->enabled ? rl->defaults.window_ms : 0;
    }
    if (l.window_ms == 0)
        l.max = 0;
    if (l.concurrent == 0 && rl->enabled)
        l.concurrent = rl->defaults.concurrent;
    if (l.tpm == 0 && rl->enabled)
        l.tpm = rl->defaults.tpm;
    return l;
}

void cg_ratelimit_enter(struct cg_ratelimit *rl, const char *key_id,
                        const struct cg_ratelimit_limits *own, struct cg_ratelimit_verdict *out)
{
    memset(out, 0, sizeof(*out));
    out->err = CG_OK;
    struct cg_ratelimit_limits l = effective(rl, own);
    if (l.max == 0 && l.concurrent == 0 && l.tpm == 0)
        return;
    uint64_t now = rl->now_ms();
    struct cg_ratelimit_bucket *b = bucket_for(rl, key_id, now);
    out->requests = (struct cg_ratelimit_view){l.max, l.max, 0};
    out->tokens = (struct cg_ratelimit_view){l.tpm, l.tpm, 0};
    if (b == NULL)
        return;
    b->used_ms = now;
    if (l.max) {
        meter_set(&b->requests, l.max, l.window_ms, now);
        meter_view(&b->requests, &out->requests);
    } else {
        b->requests.max = 0;
    }
    if (l.tpm) {
        meter_set(&b->tokens, l.tpm, TOKEN_WINDOW_MS, now);
        meter_view(&b->tokens, &out->tokens);
    } else {
        b->tokens.max = 0;
    }
    /* A slot frees when some request ends; nothing says when, so ask for the next second. */
    if (l.concurrent && b->active >= l.concurrent) {
        rl->refused_concurrent++;
        refuse(out, 1000);
        return;
    }
    if (l.max && b->requests.level < (int64_t)l.window_ms) {
        rl->refused_rate++;
        refuse(out, meter_wait_ms(&b->requests, (int64_t)l.window_ms));
        return;
    }
    if (l.tpm && b->tokens.level <= 0) {
        rl->refused_tokens++;
        refuse(out, meter_wait_ms(&b->tokens, 1));
        return;
    }
    if (l.max) {
        b->requests.level -= (int64_t)l.window_ms;
        meter_view(&b->requests, &out->requests);
    }
    if (l.concurrent) {
        b->active++;
        out->slot = b;
    }
}

void cg_ratelimit_charge(struct cg_ratelimit *rl, const char *key_id, int64_t tokens)
{
    struct cg_ratelimit_bucket *b = key_id ? bucket_find(rl, key_id) : NULL;
    if (b == NULL || b->tokens.max == 0 || tokens <= 0)
        return;
    uint64_t now = rl->now_ms();
    meter_advance(&b->tokens, now);
    b->used_ms = now;
    /* A debt deeper than a day of budget says no more than one of a day. */
    int64_t floor = -(int64_t)(b->tokens.max * (uint64_t)DEBT_WINDOWS_MAX * TOKEN_WINDOW_MS);
    int64_t cost;
    if (__builtin_mul_overflow(tokens, (int64_t)TOKEN_WINDOW_MS, &cost) ||
        __builtin_sub_overflow(b->tokens.level, cost, &b->tokens.level) || b->tokens.level < floor)
        b->tokens.level = floor;
}

void cg_ratelimit_leave(struct cg_ratelimit_bucket *slot)
{
    if (slot == NULL)
        return;
    if (slot->active > 0)
        slot->active--;
}

static struct cg_ratelimit_peer *peer_for(struct cg_ratelimit *rl, const char *addr, bool create)
{
    struct cg_ratelimit_peer *oldest = NULL;
    for (size_t i = 0; i < rl->peer_count; i++) {
        struct cg_ratelimit_peer *p = &rl->peers[i];
        if (id_is(p->addr, addr))
            return p;
        if (oldest == NULL || p->minute_start_ms < oldest->minute_start_ms)
            oldest = p;
    }
    if (!create)
        return NULL;
    struct cg_ratelimit_peer *p = oldest;
    if (rl->peer_count < rl->peer_cap)
        p = &rl->peers[rl->peer_count++];
    memset(p, 0, sizeof(*p));
    copy_id(p->addr, addr);
    p->minute_start_ms = rl->now_ms();
    return p;
}

/* Starts a new minute for `p` once its current one has passed. */
static void roll_minute(struct cg_ratelimit_peer *p, uint64_t now)
{
    if (now - p->minute_start_ms < MINUTE_MS)
        return;
    p->minute_start_ms = now;
    p->failures = 0;
    p->logged = false;
}

bool cg_ratelimit_peer_blocked(struct cg_ratelimit *rl, const char *peer,
                               uint64_t *retry_after_ms)
{
    *retry_after_ms = 0;
    if (rl->auth_failures_max == 0)
        return false;
    struct cg_ratelimit_peer *p = peer_for(rl, peer, false);
    if (p == NULL)
        return false;
    uint64_t now = rl->now_ms();
    roll_minute(p, now);
    if (p->failures <= rl->auth_failures_max)
        return false;
    *retry_after_ms = MINUTE_MS - (now - p->minute_start_ms);
    rl->refused_auth++;
    if (!p->logged) {
        p->logged = true;
        cg_log_warn("peer %.64s failed authentication %" PRIu64
                    " times this minute: refused until the minute ends",
                    peer, p->failures);
    }
    return true;
}

void cg_ratelimit_peer_failed(struct cg_ratelimit *rl, const char *peer)
{
    if (rl->auth_failures_max == 0)
        return;
    struct cg_ratelimit_peer *p = peer_for(rl, peer, true);
    roll_minute(p, rl->now_ms());
    p->failures++;
}

void cg_ratelimit_format_duration(uint64_t ms, char *out, size_t size)
{
    if (ms < 1000) {
        snprintf(out, size, "%" PRIu64 "ms", ms);
        return;
    }
    uint64_t h = ms / 3600000;
    uint64_t m = ms / 60000 % 60;
    uint64_t s = ms / 1000 % 60;
    unsigned frac = (unsigned)(ms % 1000);
    char sec[16];
    if (frac == 0) {
        snprintf(sec, sizeof(sec), "%" PRIu64, s);
    } else {
        /* Go's time.Duration text, as OpenAI sends it: no trailing zeros in the fraction. */
        int digits = 3;
        while (frac % 10 == 0) {
            frac /= 10;
            digits--;
        }
        snprintf(sec, sizeof(sec), "%" PRIu64 ".%0*u", s, digits, frac);
    }
    if (h)
        snprintf(out, size, "%" PRIu64 "h%" PRIu64 "m%ss", h, m, sec);
    else if (m)
        snprintf(out, size, "%" PRIu64 "m%ss", m, sec);
    else
        snprintf(out, size, "%ss", sec);
}
