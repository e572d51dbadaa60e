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

/* The bucket of `key_id`, created full; when the table is full the least recently used idle
 * bucket is reused. NULL when every bucket has requests in flight. */
static struct cg_ratelimit_bucket *bucket_for(struct cg_ratelimit *rl, const char *key_id,
                                              uint64_t now)
{
    struct cg_ratelimit_bucket *idle = NULL;
    for (size_t i = 0; i < rl->bucket_count; i++) {
        struct cg_ratelimit_bucket *b = &rl->buckets[i];
        if (id_is(b->key_id, key_id))
            return b;
        if (b->active == 0 && (idle == NULL || b->last_ms < idle->last_ms))
            idle = b;
    }
    struct cg_ratelimit_bucket *b = idle;
    if (rl->bucket_count < rl->bucket_cap)
        b = &rl->buckets[rl->bucket_count++];
    if (b == NULL)
        return NULL;
    memset(b, 0, sizeof(*b));
    copy_id(b->key_id, key_id);
    b->last_ms = now;
    return b;
}

/* Adds the tokens earned since last_ms at the bucket's current rate. */
static void advance(struct cg_ratelimit_bucket *b, uint64_t now)
{
    uint64_t full = b->max * b->window_ms;
    uint64_t dt = now > b->last_ms ? now - b->last_ms : 0;
    uint64_t add;
    if (__builtin_mul_overflow(dt, b->max, &add) || add >= full - CG_MIN(b->level, full))
        b->level = full;
    else
        b->level += add;
    b->last_ms = now;
}

/* Refills `b` up to `now`, then sets it to `max` per `window_ms`: a new bucket starts full; a
 * changed limit (the keys file was edited) keeps the tokens the bucket had, up to its new size. */
static void refill(struct cg_ratelimit_bucket *b, uint64_t max, uint64_t window_ms, uint64_t now)
{
    uint64_t full = max * window_ms;
    if (b->max == 0) {
        b->level = full;
    } else {
        advance(b, now);
        if (b->max != max || b->window_ms != window_ms)
            b->level = CG_MIN(b->level / b->window_ms * window_ms, full);
    }
    b->max = max;
    b->window_ms = window_ms;
    b->last_ms = now;
}

void cg_ratelimit_init(struct cg_ratelimit *rl, bool enabled, uint64_t window_ms, uint64_t max,
                       uint64_t concurrent, uint64_t auth_failures_max, uint64_t (*now_ms)(void))
{
    memset(rl, 0, sizeof(*rl));
    rl->enabled = enabled && window_ms > 0 && max > 0;
    rl->window_ms = window_ms;
    rl->max = max;
    rl->concurrent = concurrent;
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
    out->retry_after_ms = retry_after_ms;
}

void cg_ratelimit_enter(struct cg_ratelimit *rl, const char *key_id, uint64_t max,
                        uint64_t window_ms, uint64_t concurrent,
                        struct cg_ratelimit_verdict *out)
{
    memset(out, 0, sizeof(*out));
    out->err = CG_OK;
    if ((max == 0 || window_ms == 0) && rl->enabled) {
        max = rl->max;
        window_ms = rl->window_ms;
    }
    if (window_ms == 0)
        max = 0;
    if (concurrent == 0 && rl->enabled)
        concurrent = rl->concurrent;
    if (max == 0 && concurrent == 0)
        return;
    uint64_t now = rl->now_ms();
    struct cg_ratelimit_bucket *b = bucket_for(rl, key_id, now);
    out->limit = max;
    out->remaining = max;
    if (b == NULL)
        return;
    uint64_t full = max * window_ms;
    if (max)
        refill(b, max, window_ms, now);
    if (max) {
        out->remaining = b->level / window_ms;
        out->reset_ms = ceil_div(full - b->level, max);
    }
    /* A slot frees when some request ends; nothing says when, so ask for the next second. */
    if (concurrent && b->active >= concurrent) {
        rl->refused_concurrent++;
        refuse(out, 1000);
        return;
    }
    if (max && b->level < window_ms) {
        rl->refused_rate++;
        refuse(out, ceil_div(window_ms - b->level, max));
        return;
    }
    if (max) {
        b->level -= window_ms;
        out->remaining = b->level / window_ms;
        out->reset_ms = ceil_div(full - b->level, max);
    }
    if (concurrent) {
        b->active++;
        out->slot = b;
    }
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
