/* health.c: probe handlers. */
#include "api/health.h"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "api/api.h"
#include "api/quota.h"
#include "backend/home_check.h"
#include "backend/pool.h"
#include "backend/procs.h"
#include "http/server.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/json.h"

enum { HEALTH_BODY_MAX_BYTES = 64 * 1024, READYZ_IDS_MAX = 64 };

/* Not live once every worker has given up: restarting the process is the only way back. */
void cg_health_livez(struct cg_exchange *ex, void *ctx)
{
    const struct cg_api *api = ctx;
    if (api->backend.pool && !cg_pool_live(api->backend.pool)) {
        static const char dead[] = "{\"live\":false,\"reason\":\"workers_failed\"}";
        cg_exchange_send_json_as(ex, CG_ERR_BACKEND_UNAVAILABLE, dead, sizeof(dead) - 1);
        return;
    }
    static const char body[] = "{\"live\":true}";
    cg_exchange_send_json(ex, body, sizeof(body) - 1);
}

/* Ready while one worker can take turns; workers that missed a liveness ping are named even
 * then, so a probe sees a degraded pool before it is down. */
void cg_health_readyz(struct cg_exchange *ex, void *ctx)
{
    const struct cg_api *api = ctx;
    const char *reason = api->backend.pool    ? cg_pool_reason(api->backend.pool)
                         : api->backend.procs ? cg_procs_reason(api->backend.procs)
                                              : "no_backend";
    bool ready = strcmp(reason, "ready") == 0;
    struct cg_buf b;
    cg_buf_init(&b, HEALTH_BODY_MAX_BYTES);
    int err = ready ? cg_buf_append_str(&b, "{\"ready\":true")
                    : cg_buf_appendf(&b, "{\"ready\":false,\"reason\":\"%s\"", reason);
    unsigned ids[READYZ_IDS_MAX];
    size_t n =
        api->backend.pool ? cg_pool_unhealthy(api->backend.pool, ids, CG_ARRAY_SIZE(ids)) : 0;
    if (!err && n > 0) {
        err = cg_buf_append_str(&b, ",\"unhealthy_workers\":[");
        for (size_t i = 0; i < CG_MIN(n, CG_ARRAY_SIZE(ids)) && !err; i++)
            err = cg_buf_appendf(&b, "%s%u", i ? "," : "", ids[i]);
        if (!err)
            err = cg_buf_append_char(&b, ']');
    }
    if (!err)
        err = cg_buf_append_char(&b, '}');
    if (err)
        cg_exchange_fail_code(ex, CG_ERR_INTERNAL);
    else if (ready)
        cg_exchange_send_json(ex, b.data, b.len);
    else
        cg_exchange_send_json_as(ex, CG_ERR_BACKEND_UNAVAILABLE, b.data, b.len);
    cg_buf_dispose(&b);
}

/* The backend's own status object, opened with which backend it is and why. */
static int append_backend(const struct cg_api *api, struct cg_buf *b)
{
    struct cg_buf inner;
    cg_buf_init(&inner, HEALTH_BODY_MAX_BYTES);
    int err = 0;
    if (api->backend.pool)
        err = cg_pool_status_json(api->backend.pool, &inner);
    else if (api->backend.procs)
        err = cg_procs_status_json(api->backend.procs, &inner);
    else
        err = cg_buf_append_str(&inner, "{\"ready\":false,\"reason\":\"no_backend\"}");
    if (!err)
        err = cg_buf_appendf(b, "{\"kind\":\"%s\",\"kind_reason\":\"%s\",",
                             cg_config_backend_name(api->cfg->backend_kind),
                             api->cfg->backend_reason ? api->cfg->backend_reason : "default");
    /* inner is an object: its members follow ours. */
    if (!err)
        err = cg_buf_append(b, inner.data + 1, inner.len - 1);
    cg_buf_dispose(&inner);
    return err;
}

void cg_health_healthz(struct cg_exchange *ex, void *ctx)
{
    const struct cg_api *api = ctx;
    struct cg_buf b;
    cg_buf_init(&b, HEALTH_BODY_MAX_BYTES);
    uint64_t uptime_ms = cg_clock_mono_ms() - api->started_ms;
    bool ready = api->backend.pool    ? cg_pool_ready(api->backend.pool)
                 : api->backend.procs ? cg_procs_ready(api->backend.procs)
                                      : false;
    int err = cg_buf_appendf(&b, "{\"status\":\"%s\",\"version\":\"%s\",\"uptime_s\":%" PRIu64,
                             ready ? "ok" : "degraded", CG_VERSION, uptime_ms / 1000);
    if (!err && api->home_check) {
        /* auth.json again: a login or a chmod since the start shows at once. */
        struct cg_home_check now = *api->home_check;
        cg_home_check_auth(api->cfg->codex_home, &now);
        err = cg_buf_append_str(&b, ",\"codex_home\":");
        if (!err)
            err = cg_home_check_json(&now, api->cfg->codex_home, &b);
    }
    if (!err)
        err = cg_buf_append_str(&b, ",\"backend\":");
    if (!err)
        err = append_backend(api, &b);
    if (!err)
        err = cg_buf_append_str(&b, ",\"account_quota\":");
    if (!err)
        err = cg_quota_json(api, &b);
    if (!err && api->server)
        err = cg_buf_appendf(&b, ",\"http\":{\"connections\":%zu,\"requests_total\":%" PRIu64 "}",
                             cg_server_connections(api->server), api->server->stats.requests_total);
    if (!err)
        err = cg_buf_append_char(&b, '}');
    if (err)
        cg_exchange_fail_code(ex, CG_ERR_INTERNAL);
    else
        cg_exchange_send_json(ex, b.data, b.len);
    cg_buf_dispose(&b);
}
