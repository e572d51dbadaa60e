/* usage_log.h: the first consumer of run outcomes: one JSON log line per model request,
 * {"event":"usage", req_id, route, model, key, status, error, outcome, ttfb_ms (time to the
 * first model output, null without one), worker (null when none took the turn), stream, ms, and
 * the token counts Codex reported}. The "access" line of the same req_id has the HTTP side
 * (method, path, bytes, peer); neither repeats the other's counts. Never a prompt, a body or a
 * key (only the key's label). */
#ifndef CG_API_USAGE_LOG_H
#define CG_API_USAGE_LOG_H

#include "api/run.h"

/* A cg_run_outcome_cb; `data` is unused. */
void cg_usage_log_outcome(const struct cg_run_outcome *o, void *data);

#endif
