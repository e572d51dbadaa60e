/* ratelimit.h: per-key limits decided on the head, after the key is known: a token bucket for
 * requests (at most `max` per `window_ms`, refilled continuously at max per window), a token
 * budget (tokens per minute, charged with the real usage of each finished request: a key in
 * debt waits until the budget refills past zero) and a cap on requests in flight; plus a
 * slowdown for peers that keep presenting wrong keys. Both tables are fixed-size arrays allocated once, so an entry's address is stable: an
 * exchange that holds a concurrency slot points at its entry until it is freed. */
#ifndef CG_HTTP_RATELIMIT_H
#define CG_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/errors.h"
#include "core/limits.h"

/* A key's limits; 0 = none of that kind. */
struct cg_ratelimit_limits {
    uint64_t max; /* requests per window_ms */
    uint64_t window_ms;
    uint64_t concurrent; /* requests in flight */
    uint64_t tpm;        /* tokens per minute */
};

/* A continuously refilled budget of `max` units per `window_ms`. `level` counts units ×
 * window_ms: each ms adds `max`, one unit costs window_ms. It is signed because the token
 * budget is charged after the fact and may go into debt. */
struct cg_ratelimit_meter {
    int64_t level;
    uint64_t last_ms; /* when `level` was last brought up to date */
    uint64_t max;     /* 0 = not in use */
    uint64_t window_ms;
};

struct cg_ratelimit_bucket {
    char key_id[CG_RATELIMIT_ID_MAX_BYTES];
    struct cg_ratelimit_meter requests;
    struct cg_ratelimit_meter tokens;
    uint64_t used_ms; /* last admission or charge, for reuse of idle entries */
    size_t active;    /* requests in flight */
};

struct cg_ratelimit_peer {
    char addr[CG_RATELIMIT_ID_MAX_BYTES];
    uint64_t minute_start_ms;
    uint64_t failures; /* in the minute that began at minute_start_ms */
    bool logged;       /* the slowdown was logged for this minute */
};

struct cg_ratelimit {
    bool enabled;
    struct cg_ratelimit_limits defaults; /* every key's, when enabled */
    uint64_t auth_failures_max; /* per peer per minute; 0 = no slowdown */
    uint64_t (*now_ms)(void);   /* the clock; injected by tests */
    struct cg_ratelimit_bucket *buckets;
    size_t bucket_count;
    size_t bucket_cap;
    struct cg_ratelimit_peer *peers;
    size_t peer_count;
    size_t peer_cap;
    /* Requests refused since start, for metrics: over the request bucket, in token debt, over a
     * concurrency cap, and from a peer held back by the failed-auth slowdown. */
    uint64_t refused_rate;
    uint64_t refused_tokens;
    uint64_t refused_concurrent;
    uint64_t refused_auth;
};

/* One meter's state as a request saw it, for the x-ratelimit-*-requests or -tokens headers. */
struct cg_ratelimit_view {
    uint64_t limit; /* 0 = no such limit: no headers */
    uint64_t remaining;
    uint64_t reset_ms; /* until the meter is full again */
};

/* What one request was told, for the x-ratelimit-* headers and Retry-After. */
struct cg_ratelimit_verdict {
    enum cg_err err; /* CG_OK or CG_ERR_RATE_LIMITED */
    struct cg_ratelimit_view requests;
    struct cg_ratelimit_view tokens;
    uint64_t retry_after_ms; /* when refused: until a request would be admitted */
    struct cg_ratelimit_bucket *slot; /* admitted with a concurrency slot: give it back */
};

/* `now_ms` NULL = the monotonic clock. `defaults` apply to every key only when `enabled` (the
 * auth slowdown applies when auth_failures_max > 0 either way). */
void cg_ratelimit_init(struct cg_ratelimit *rl, bool enabled,
                       const struct cg_ratelimit_limits *defaults, uint64_t auth_failures_max,
                       uint64_t (*now_ms)(void));
void cg_ratelimit_dispose(struct cg_ratelimit *rl);

/* Decides one request of `key_id` (its stable id, never the key). The key's `own` limits (NULL
 * or 0 = none of its own) apply whether or not the defaults are on; when `enabled` the
 * defaults fill in what the key does not set. A request is refused over the concurrency cap,
 * with no request left in its bucket, or while its token budget is at or below zero. On CG_OK
 * a request is spent and, with a concurrency cap, `out->slot` holds a slot to return with
 * cg_ratelimit_leave. A full table (only when far more keys than configured show up) admits
 * without counting rather than refusing a valid key. */
void cg_ratelimit_enter(struct cg_ratelimit *rl, const char *key_id,
                        const struct cg_ratelimit_limits *own, struct cg_ratelimit_verdict *out);
void cg_ratelimit_leave(struct cg_ratelimit_bucket *slot);

/* Charges `tokens` (a finished request's real usage) to the token budget of `key_id`, if it has
 * one; the budget may go below zero, which holds the key's next requests back until it has
 * refilled past zero. */
void cg_ratelimit_charge(struct cg_ratelimit *rl, const char *key_id, int64_t tokens);

/* The failed-auth slowdown for `peer`: true (and *retry_after_ms) while the peer has failed
 * more than auth_failures_max times in its current minute; logs once per peer per minute. */
bool cg_ratelimit_peer_blocked(struct cg_ratelimit *rl, const char *peer,
                               uint64_t *retry_after_ms);
void cg_ratelimit_peer_failed(struct cg_ratelimit *rl, const char *peer);

/* OpenAI's duration text for x-ratelimit-reset-*: "20ms", "1s", "1.5s", "6m0s", "1h2m3s". */
void cg_ratelimit_format_duration(uint64_t ms, char *out, size_t size);

#endif
