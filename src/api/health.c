/* health.c: probe handlers. */
#include "api/health.h"
#include <inttypes.h>
#include "api/api.h"
#include "http/server.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/json.h"

enum { HEALTH_BODY_MAX_BYTES = 64 * 1024 };

void cg_health_livez(struct cg_exchange *ex, void *ctx)
{
    static const char body[] = "{\"live\":true}";
    cg_exchange_send_json(ex, body, sizeof(body) - 1);
}

void cg_health_readyz(struct cg_exchange *ex, void *ctx)
{
    static const char body[] = "{\"ready\":false,\"reason\":\"no_backend\"}";
    cg_exchange_send_json_as(ex, CG_ERR_BACKEND_UNAVAILABLE, body, sizeof(body) - 1);
}

void cg_health_healthz(struct cg_exchange *ex, void *ctx)
{
    const struct cg_api *api = ctx;
    struct cg_buf b;
    cg_buf_init(&b, HEALTH_BODY_MAX_BYTES);
    uint64_t uptime_ms = cg_clock_mono_ms() - api->started_ms;
    int err = cg_buf_appendf(&b, "{\"status\":\"degraded\",\"version\":\"%s\",\"uptime_s\":%" PRIu64,
                             CG_VERSION, uptime_ms / 1000);
    if (!err)
        err = cg_buf_append_str(&b, ",\"backend\":{\"ready\":false,\"reason\":\"no_backend\"}");
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
