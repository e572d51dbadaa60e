/* quota.c: the account's rate-limit windows for clients (see quota.h). */
#include "api/quota.h"
#include <inttypes.h>
#include <stdio.h>
#include "backend/pool.h"
#include "backend/rate_limits.h"
#include "util/clock.h"

static const struct cg_rate_limits *limits_of(const struct cg_api *api)
{
    return api->backend.pool ? &api->backend.pool->limits : NULL;
}

static int64_t reset_after_s(int64_t resets_at_s, int64_t now_s)
{
    return resets_at_s > now_s ? resets_at_s - now_s : 0;
}

bool cg_quota_exhausted(const struct cg_api *api, struct cg_error *err)
{
    const struct cg_rate_limits *l = limits_of(api);
    if (l == NULL)
        return false;
    unsigned after = cg_rate_limits_retry_after_s(l, cg_clock_unix_s());
    if (after == 0)
        return false;
    cg_error_set(err, CG_ERR_QUOTA_EXCEEDED, NULL,
                 "The Codex account has used up its rate-limit window; it resets in %u s.", after);
    err->retry_after_s = after;
    return true;
}

void cg_quota_add_headers(const struct cg_api *api, struct cg_exchange *ex)
{
    const struct cg_rate_limits *l = limits_of(api);
    if (l == NULL)
        return;
    int64_t now = cg_clock_unix_s();
    for (int i = 0; i < CG_RATE_LIMITS_WINDOWS; i++) {
        if (!l->window[i].known)
            continue;
        const char *window = cg_rate_limits_window_name(i);
        char name[64];
        char value[32];
        snprintf(name, sizeof(name), "x-codex-%s-used-percent", window);
        snprintf(value, sizeof(value), "%" PRId64, l->window[i].used_percent);
        cg_exchange_add_header(ex, name, value);
        if (l->window[i].resets_at_s == 0)
            continue;
        snprintf(name, sizeof(name), "x-codex-%s-reset-after-seconds", window);
        snprintf(value, sizeof(value), "%" PRId64, reset_after_s(l->window[i].resets_at_s, now));
        cg_exchange_add_header(ex, name, value);
    }
}

int cg_quota_json(const struct cg_api *api, struct cg_buf *out)
{
    const struct cg_rate_limits *l = limits_of(api);
    int64_t now = cg_clock_unix_s();
    int err = cg_buf_append_char(out, '{');
    for (int i = 0; i < CG_RATE_LIMITS_WINDOWS && !err; i++) {
        err = cg_buf_appendf(out, "%s\"%s\":", i ? "," : "", cg_rate_limits_window_name(i));
        if (err)
            break;
        if (l == NULL || !l->window[i].known) {
            err = cg_buf_append_str(out, "null");
            continue;
        }
        int64_t at = l->window[i].resets_at_s;
        err = cg_buf_appendf(
            out, "{\"used_percent\":%" PRId64 ",\"resets_at\":", l->window[i].used_percent);
        if (!err && at)
            err = cg_buf_appendf(out, "%" PRId64 ",\"reset_after_seconds\":%" PRId64 "}", at,
                                 reset_after_s(at, now));
        else if (!err)
            err = cg_buf_append_str(out, "null,\"reset_after_seconds\":null}");
    }
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}
