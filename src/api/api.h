/* api.h: what every endpoint handler gets as its context: the configuration, the model catalog,
 * and read access to the server and backend state it reports. */
#ifndef CG_API_API_H
#define CG_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "backend/job.h"
#include "core/catalog.h"

struct cg_server;
struct cg_router;
struct cg_pool;
struct cg_procs;
struct uv_loop_s;
struct cg_responses_store;
struct cg_ledger;
struct cg_metrics;
struct cg_run_outcome;
struct cg_home_check;

/* Hears of every finished model request, once (api/run.h). */
typedef void (*cg_run_outcome_cb)(const struct cg_run_outcome *o, void *data);

enum { CG_API_CONSUMERS_MAX = 8 };

struct cg_api {
    const struct cg_config *cfg;
    const struct cg_catalog *catalog;
    const struct cg_server *server;
    struct uv_loop_s *loop;
    /* The backend in use: app-server workers (pool) or a process per choice (procs); both
     * NULL: none (model routes answer 503). */
    struct cg_job_backend backend;
    struct cg_responses_store *store;       /* NULL: nothing is stored (stored ids are unknown) */
    struct cg_ledger *ledger;               /* NULL: usage is not recorded (/v1/usage fails) */
    uint64_t started_ms;                    /* monotonic */
    size_t streams_active;                  /* streamed runs not yet ended */
    const struct cg_metrics *metrics;       /* what /metrics renders; NULL when it is off */
    const struct cg_home_check *home_check; /* CODEX_HOME at start; NULL: not checked */
    /* The consumers of run outcomes (the usage log line, the usage ledger, metrics), called in
     * order; added with cg_run_subscribe. */
    struct {
        cg_run_outcome_cb cb;
        void *data;
    } consumers[CG_API_CONSUMERS_MAX];
    size_t consumer_count;
};

/* Fills `router` with the route table (static storage) and `api` as handler context, and
 * subscribes the usage log line and the usage ledger to run outcomes. */
void cg_routes_init(struct cg_router *router, struct cg_api *api);

#endif
