/* access_log.h: the first consumer of run outcomes writes the access line of a model request
 * (its exchange's own line is switched off while a run answers it): the exchange's fields
 * (req_id, method, path, route, model, key, status, bytes, ms, peer, aborted) and the run's:
 * error, outcome, ttfb_ms (time to the first model output, null without one), worker (null
 * when none took the turn), stream and the token counts Codex reported. One line per request;
 * never a prompt, a body or a key (only the key's label). */
#ifndef CG_API_ACCESS_LOG_H
#define CG_API_ACCESS_LOG_H

#include "api/run.h"

/* A cg_run_outcome_cb; `data` is unused. */
void cg_access_log_outcome(const struct cg_run_outcome *o, void *data);

#endif
