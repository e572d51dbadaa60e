/* rate_limits.c: the account's rate-limit windows as Codex reports them. */
#include "backend/rate_limits.h"
#include <limits.h>

static const char *const window_names[CG_RATE_LIMITS_WINDOWS] = {"primary", "secondary"};

const char *cg_rate_limits_window_name(int i)
{
    return i >= 0 && i < CG_RATE_LIMITS_WINDOWS ? window_names[i] : "unknown";
}

void cg_rate_limits_update(struct cg_rate_limits *l, json_t *snapshot)
{
    for (int i = 0; i < CG_RATE_LIMITS_WINDOWS; i++) {
        json_t *w = json_object_get(snapshot, window_names[i]);
        if (!json_is_object(w))
            continue;
        json_t *used = json_object_get(w, "usedPercent");
        json_t *resets = json_object_get(w, "resetsAt");
        l->window[i].known = true;
        l->window[i].used_percent = json_is_integer(used) ? json_integer_value(used) : 0;
        l->window[i].resets_at_s = json_is_integer(resets) ? json_integer_value(resets) : 0;
    }
}

unsigned cg_rate_limits_retry_after_s(const struct cg_rate_limits *l, int64_t now_s)
{
    int64_t latest = 0;
    for (int i = 0; i < CG_RATE_LIMITS_WINDOWS; i++) {
        if (l->window[i].known && l->window[i].used_percent >= 100 &&
            l->window[i].resets_at_s > latest)
            latest = l->window[i].resets_at_s;
    }
    if (latest <= now_s)
        return 0;
    int64_t in = latest - now_s;
    return in > UINT_MAX ? UINT_MAX : (unsigned)in;
}
