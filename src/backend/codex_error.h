/* codex_error.h: Codex's errors as ours. A TurnError ({message, codexErrorInfo,
 * additionalDetails}) from `error` notifications and failed `turn/completed` becomes the cg_err
 * an OpenAI client expects (context length, quota, upstream rate limit, auth, ...). */
#ifndef CG_BACKEND_CODEX_ERROR_H
#define CG_BACKEND_CODEX_ERROR_H

#include <jansson.h>
#include <stdbool.h>
#include "core/errors.h"

/* Fills `out` from `turn_error` (borrowed; any JSON, NULL included). */
void cg_codex_error_map(json_t *turn_error, struct cg_error *out);

/* Whether `code` says the upstream account is out of requests or quota for now, so a client
 * should be told when to retry. */
bool cg_codex_error_is_rate_limit(enum cg_err code);

#endif
