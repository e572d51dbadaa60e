/* quota.h: the Codex account's own rate-limit windows (primary, secondary), as Codex last
 * reported them, shown to clients: headers on every model response, a member of /healthz, and
 * a 429 at once while a window is used up, instead of a turn that is bound to fail. */
#ifndef CG_API_QUOTA_H
#define CG_API_QUOTA_H

#include <stdbool.h>
#include "api/api.h"
#include "core/errors.h"
#include "http/exchange.h"
#include "util/buf.h"

/* True when a window is used up and resets later: `err` is then 429 insufficient_quota with
 * Retry-After set to the reset. */
bool cg_quota_exhausted(const struct cg_api *api, struct cg_error *err);

/* x-codex-<window>-used-percent and x-codex-<window>-reset-after-seconds for each window Codex
 * has reported. Call before the response's head goes out. */
void cg_quota_add_headers(const struct cg_api *api, struct cg_exchange *ex);

/* {"primary":{"used_percent","resets_at","reset_after_seconds"} or null, "secondary":...}. */
int cg_quota_json(const struct cg_api *api, struct cg_buf *out) CG_MUST_CHECK;

#endif
