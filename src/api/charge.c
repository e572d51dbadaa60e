/* charge.c: token budgets charged with real usage (see charge.h). */
#include "api/charge.h"
#include "api/run.h"
#include "http/ratelimit.h"
#include "http/router.h"

void cg_charge_outcome(const struct cg_run_outcome *o, void *data)
{
    const struct cg_router *router = data;
    if (router->ratelimit == NULL || o->key_id == NULL)
        return;
    cg_ratelimit_charge(router->ratelimit, o->key_id, o->usage.input + o->usage.output);
}
