/* health.h: the probes. /livez: 200 while the process serves. /readyz: 200 once a Codex worker
 * can take turns, else 503 with the reason. /healthz: a JSON summary for operators. */
#ifndef CG_API_HEALTH_H
#define CG_API_HEALTH_H

#include "http/exchange.h"

void cg_health_livez(struct cg_exchange *ex, void *ctx);
void cg_health_readyz(struct cg_exchange *ex, void *ctx);
void cg_health_healthz(struct cg_exchange *ex, void *ctx);

#endif
