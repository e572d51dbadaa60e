/* metrics.h: GET /metrics in the Prometheus text format (0.0.4). The router's done hook counts
 * every request; a consumer of run outcomes counts model requests' latency and time to first
 * output, stream outcomes, errors and tokens;
 * the exposition adds what the server, the pool and /proc/self report at scrape time. Every
 * label set is bounded: routes and key labels as first seen up to a cap (then "other"), models
 * from the catalog (unknown ones fold to "other"). No request ids, no paths, no keys. */
#ifndef CG_API_METRICS_H
#define CG_API_METRICS_H

#include <stdint.h>
#include "api/api.h"
#include "api/run.h"
#include "core/errors.h"
#include "http/exchange.h"
#include "util/buf.h"
#include "util/histogram.h"

enum {
    CG_METRICS_ROUTES_MAX = 24,
    CG_METRICS_KEYS_MAX = 64,
    CG_METRICS_LABEL_BYTES = 64,
    CG_METRICS_MODELS = CG_CATALOG_MAX_MODELS + 1, /* the last is "other" */
    CG_METRICS_NO_MODEL = CG_METRICS_MODELS,       /* requests slot for "none" */
    CG_METRICS_METHODS = 8,                        /* enum cg_method's bits */
    CG_METRICS_CLASSES = 5,                        /* 1xx..5xx */
    CG_METRICS_OUTCOMES = CG_RUN_ENDS,             /* enum cg_run_end */
    CG_METRICS_TOKEN_KINDS = 4,                    /* input, cached, output, reasoning */
};

/* Names seen so far; slot `max` (one past the cap) is "other". */
struct cg_metrics_names {
    char v[CG_METRICS_KEYS_MAX + 1][CG_METRICS_LABEL_BYTES];
    size_t count;
};

/* Embedded or static (about 200 KB); zeroed by cg_metrics_init. */
struct cg_metrics {
    const struct cg_api *api; /* borrowed: the catalog, server and pool read at scrape time */
    struct cg_metrics_names routes;
    struct cg_metrics_names keys;
    uint64_t requests[CG_METRICS_ROUTES_MAX + 1][CG_METRICS_METHODS][CG_METRICS_CLASSES]
                     [CG_METRICS_MODELS + 1];
    uint64_t streams[CG_METRICS_ROUTES_MAX + 1][CG_METRICS_OUTCOMES];
    uint64_t errors[CG_METRICS_ROUTES_MAX + 1][CG_ERR__COUNT];
    uint64_t tokens[CG_METRICS_MODELS][CG_METRICS_KEYS_MAX + 1][CG_METRICS_TOKEN_KINDS];
    struct cg_histogram latency[CG_METRICS_ROUTES_MAX + 1];
    struct cg_histogram ttfb[CG_METRICS_ROUTES_MAX + 1];
    struct cg_histogram stream_duration[CG_METRICS_ROUTES_MAX + 1];
};

void cg_metrics_init(struct cg_metrics *m, const struct cg_api *api);

/* A cg_exchange_done_cb (the router's on_done); `data` is the struct cg_metrics. Counts every
 * routed request by route ("unmatched" for an unknown path), method, status class and model
 * ("none" when the request named none, or was refused before its body was read). */
void cg_metrics_request_done(const struct cg_exchange *ex, void *data);

/* A cg_run_outcome_cb; `data` is the struct cg_metrics. */
void cg_metrics_outcome(const struct cg_run_outcome *o, void *data);

/* Appends the whole exposition. */
int cg_metrics_render(const struct cg_metrics *m, struct cg_buf *out) CG_MUST_CHECK;

/* Appends `s` as a quoted label value: backslash, double quote and newline escaped. */
int cg_metrics_label_value(struct cg_buf *out, const char *s) CG_MUST_CHECK;

/* The route handler; `ctx` is the cg_api whose `metrics` it renders (500 when that is NULL). */
void cg_metrics_handle(struct cg_exchange *ex, void *ctx);

#endif
