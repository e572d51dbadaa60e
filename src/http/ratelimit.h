/* ratelimit.h: per-key request limits decided on the head, after the key is known: a token
 * bucket (at most `max` requests per `window_ms`, refilled continuously at max per window) and
 * a cap on requests in flight per key; plus a slowdown for peers that keep presenting wrong
 * keys. Both tables are fixed-size arrays allocated once, so an entry's address is stable: an
 * exchange that holds a concurrency slot points at its entry until it is freed. */
#ifndef CG_HTTP_RATELIMIT_H
#define CG_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/errors.h"
#include "core/limits.h"

struct cg_ratelimit_bucket {
    char key_id[CG_RATELIMIT_ID_MAX_BYTES];
    uint64_t level;   /* tokens × window_ms: each ms adds `max`, a request costs window_ms */
    uint64_t last_ms; /* when `level` was last brought up to date */
    uint64_t max;     /* this entry's limits (a keys-file entry may override the defaults) */
    uint64_t window_ms;
    size_t active; /* requests in flight */
};

struct cg_ratelimit_peer {
    char addr[CG_RATELIMIT_ID_MAX_BYTES];
    uint64_t minute_start_ms;
    uint64_t failures; /* in the minute that began at minute_start_ms */
    bool logged;       /* the slowdown was logged for this minute */
};

struct cg_ratelimit {
    bool enabled;
    uint64_t window_ms;
    uint64_t max;
    uint64_t concurrent; /* 0 = no cap */
    uint64_t auth_failures_max; /* per peer per minute; 0 = no slowdown */
    uint64_t (*now_ms)(void);   /* the clock; injected by tests */
    struct cg_ratelimit_bucket *buckets;
    size_t bucket_count;
    size_t bucket_cap;
    struct cg_ratelimit_peer *peers;
    size_t peer_count;
    size_t peer_cap;
    /* Requests refused since start, for metrics: over a bucket, over a concurrency cap, and
     * from a peer held back by the failed-auth slowdown. */
    uint64_t refused_rate;
    uint64_t refused_concurrent;
    uint64_t refused_auth;
};

/* What one request was told, for the x-ratelimit-* headers and Retry-After. */
struct cg_ratelimit_verdict {
    enum cg_err err; /* CG_OK or CG_ERR_RATE_LIMITED */
    uint64_t limit;
    uint64_t remaining;
    uint64_t reset_ms;       /* until the bucket is full again */
    uint64_t retry_after_ms; /* when refused: until a request would be admitted */
    struct cg_ratelimit_bucket *slot; /* admitted with a concurrency slot: give it back */
};

/* `now_ms` NULL = the monotonic clock. Limits off when !enabled (the auth slowdown still
 * applies when auth_failures_max > 0). */
void cg_ratelimit_init(struct cg_ratelimit *rl, bool enabled, uint64_t window_ms, uint64_t max,
                       uint64_t concurrent, uint64_t auth_failures_max, uint64_t (*now_ms)(void));
void cg_ratelimit_dispose(struct cg_ratelimit *rl);

/* Decides one request of `key_id` (its stable id, never the key). A key's own limits (`max` per
 * `window_ms`, `concurrent`; 0 = none of its own) apply whether or not the defaults are on;
 * the defaults fill in what the key does not set when `enabled`. On CG_OK a request token is
 * spent and, with a concurrency cap, `out->slot` holds a slot to return with
 * cg_ratelimit_leave. `out->limit` is 0 when no request limit applies (no headers to send).
 * A full table (only when far more keys than configured show up) admits without counting
 * rather than refusing a valid key. */
void cg_ratelimit_enter(struct cg_ratelimit *rl, const char *key_id, uint64_t max,
                        uint64_t window_ms, uint64_t concurrent,
                        struct cg_ratelimit_verdict *out);
void cg_ratelimit_leave(struct cg_ratelimit_bucket *slot);

/* The failed-auth slowdown for `peer`: true (and *retry_after_ms) while the peer has failed
 * more than auth_failures_max times in its current minute; logs once per peer per minute. */
bool cg_ratelimit_peer_blocked(struct cg_ratelimit *rl, const char *peer,
                               uint64_t *retry_after_ms);
void cg_ratelimit_peer_failed(struct cg_ratelimit *rl, const char *peer);

/* OpenAI's duration text for x-ratelimit-reset-*: "20ms", "1s", "1.5s", "6m0s", "1h2m3s". */
void cg_ratelimit_format_duration(uint64_t ms, char *out, size_t size);

#endif
