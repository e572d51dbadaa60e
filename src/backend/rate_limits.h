/* rate_limits.h: what one worker's Codex account last reported about its rate-limit windows
 * (`account/rateLimits/updated`), kept to tell a client that got 429 when to retry. */
#ifndef CG_BACKEND_RATE_LIMITS_H
#define CG_BACKEND_RATE_LIMITS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum { CG_RATE_LIMITS_WINDOWS = 2 }; /* primary, secondary */

struct cg_rate_limits {
    struct {
        bool known;
        int64_t used_percent;
        int64_t resets_at_s; /* unix seconds, 0 = not reported */
    } window[CG_RATE_LIMITS_WINDOWS];
};

/* Merges a RateLimitSnapshot (params.rateLimits, borrowed). Updates are sparse: a window that
 * is null or absent keeps what was reported before. */
void cg_rate_limits_update(struct cg_rate_limits *l, json_t *snapshot);

/* "primary" or "secondary": window `i` as Codex names it (and as headers and metrics show it). */
const char *cg_rate_limits_window_name(int i);

/* Seconds from `now_s` until the latest reset of a window reported as used up (>= 100%),
 * at least 1; 0 when no used-up window with a future reset is known. */
unsigned cg_rate_limits_retry_after_s(const struct cg_rate_limits *l, int64_t now_s);

#endif
