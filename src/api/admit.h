/* admit.h: what every model request (chat, completions, responses) checks before its body is
 * parsed, and the per-request switches the runner reads from its headers. */
#ifndef CG_API_ADMIT_H
#define CG_API_ADMIT_H

#include <stdbool.h>
#include "api/api.h"
#include "http/exchange.h"

/* A JSON body, a configured backend and an account whose rate-limit windows are not used up;
 * false when the exchange has been answered. */
bool cg_admit_model_request(struct cg_exchange *ex, const struct cg_api *api);

/* The keys-file allow-list of the admitted key (ex->key_models): true when it may use `model`
 * (the id as the client wrote it); else the exchange is answered with 404 model_not_found, as
 * OpenAI answers a model a key has no access to, and false. */
bool cg_admit_model_allowed(struct cg_exchange *ex, const char *model);

/* X-No-Keepalive: 1 turns SSE comments off for clients that cannot parse them. */
bool cg_admit_keepalive_wanted(const struct cg_exchange *ex);

#endif
