/* usage.h: the usage ledger's two faces in the API: the run-outcome consumer that records each
 * model request, and GET /v1/usage (sums, optionally grouped) and GET /v1/usage/raw (the newest
 * rows). A key sees only its own rows; an admin (a key in PROXY_ADMIN_KEYS, or any loopback client
 * when no key is configured) sees every key's. */
#ifndef CG_API_USAGE_H
#define CG_API_USAGE_H

#include "http/exchange.h"

struct cg_run_outcome;

/* cg_run_outcome_cb; `data` is the struct cg_api (its ledger may be NULL: nothing recorded). */
void cg_usage_record(const struct cg_run_outcome *o, void *data);

/* GET /v1/usage?start=&end=&group_by=hour|day|model|key. start and end are Unix seconds or UTC
 * ISO 8601 dates (2026-12-01 or 2026-12-01T20:00:00Z); rows with start <= ts < end count. */
void cg_usage_handle(struct cg_exchange *ex, void *ctx);

/* GET /v1/usage/raw?limit= (1..10000, default 200). */
void cg_usage_handle_raw(struct cg_exchange *ex, void *ctx);

#endif
