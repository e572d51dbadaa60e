/* charge.h: the run-outcome consumer that charges each finished model request's real tokens
 * (input + output, as Codex counted them) to its key's token budget (http/ratelimit.h). */
#ifndef CG_API_CHARGE_H
#define CG_API_CHARGE_H

struct cg_run_outcome;

/* A cg_run_outcome_cb; `data` is the struct cg_router whose rate limiter (may be NULL) admitted
 * the request. */
void cg_charge_outcome(const struct cg_run_outcome *o, void *data);

#endif
