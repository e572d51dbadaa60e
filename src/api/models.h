/* models.h: GET /v1/models and GET /v1/models/{id} in OpenAI's shapes. */
#ifndef CG_API_MODELS_H
#define CG_API_MODELS_H

#include "http/exchange.h"

void cg_models_handle(struct cg_exchange *ex, void *ctx);

#endif
