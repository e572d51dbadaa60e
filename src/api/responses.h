/* responses.h: POST /v1/responses, and the stored responses under /v1/responses/{id}. */
#ifndef CG_API_RESPONSES_H
#define CG_API_RESPONSES_H

#include "http/exchange.h"

void cg_responses_handle_create(struct cg_exchange *ex, void *ctx);
/* GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items. */
void cg_responses_handle_stored(struct cg_exchange *ex, void *ctx);

#endif
