/* chat.h: POST /v1/chat/completions and the legacy POST /v1/completions. */
#ifndef CG_API_CHAT_H
#define CG_API_CHAT_H

#include "http/exchange.h"

void cg_chat_handle(struct cg_exchange *ex, void *ctx);
void cg_completions_handle(struct cg_exchange *ex, void *ctx);

#endif
