/* routes.c: the route table: every URL the gateway answers, its methods and access rule. */
#include "api/api.h"
#include <assert.h>
#include "api/chat.h"
#include "api/charge.h"
#include "api/health.h"
#include "api/metrics.h"
#include "api/models.h"
#include "api/responses.h"
#include "api/run.h"
#include "api/usage.h"
#include "api/access_log.h"
#include "http/router.h"

static const struct cg_route routes[] = {
    {"/v1/chat/completions", false, CG_METHOD_POST, CG_ACCESS_KEY, "chat", cg_chat_handle},
    {"/v1/completions", false, CG_METHOD_POST, CG_ACCESS_KEY, "completions",
     cg_completions_handle},
    {"/v1/responses", false, CG_METHOD_POST, CG_ACCESS_KEY, "responses",
     cg_responses_handle_create},
    {"/v1/responses", true, CG_METHOD_GET | CG_METHOD_DELETE, CG_ACCESS_KEY, "response",
     cg_responses_handle_stored},
    {"/v1/usage", false, CG_METHOD_GET, CG_ACCESS_KEY, "usage", cg_usage_handle},
    {"/v1/usage/raw", false, CG_METHOD_GET, CG_ACCESS_KEY, "usage_raw", cg_usage_handle_raw},
    {"/v1/models", true, CG_METHOD_GET, CG_ACCESS_MODELS, "models", cg_models_handle},
    {"/livez", false, CG_METHOD_GET, CG_ACCESS_OPEN, "livez", cg_health_livez},
    {"/readyz", false, CG_METHOD_GET, CG_ACCESS_OPEN, "readyz", cg_health_readyz},
    {"/healthz", false, CG_METHOD_GET, CG_ACCESS_KEY, "healthz", cg_health_healthz},
    /* Last: PROXY_ENABLE_METRICS=false leaves it out of the table, so it answers 404. */
    {"/metrics", false, CG_METHOD_GET, CG_ACCESS_METRICS, "metrics", cg_metrics_handle},
};

/* One per process, like the table: outcomes arrive for the life of the server. */
static struct cg_metrics metrics;

void cg_routes_init(struct cg_router *router, struct cg_api *api)
{
    router->routes = routes;
    router->count = CG_ARRAY_SIZE(routes) - (api->cfg->enable_metrics ? 0 : 1);
    router->ctx = api;
    router->metrics_token = api->cfg->metrics_token;
    bool added = cg_run_subscribe(api, cg_access_log_outcome, NULL);
    added = added && cg_run_subscribe(api, cg_usage_record, api);
    cg_metrics_init(&metrics, api);
    if (api->cfg->enable_metrics) {
        added = added && cg_run_subscribe(api, cg_metrics_outcome, &metrics);
        router->on_done = cg_metrics_request_done;
        router->on_done_data = &metrics;
        api->metrics = &metrics;
    }
    added = added && cg_run_subscribe(api, cg_charge_outcome, router);
    assert(added); /* at most the first four of CG_API_CONSUMERS_MAX */
    (void)added;
}
