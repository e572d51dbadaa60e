/* chat_encode.h: the Chat Completions shapes: `chat.completion.chunk` SSE frames and the
 * `chat.completion` body, from normalized events.
 *
 * Stream rules: one stable id/created/model on every chunk; a role chunk per choice first;
 * `finish_reason: null` on every non-final chunk; tool-call deltas carry `index`, with `id`, `type`
 * and `function.name` in the first delta of each call; a finish chunk per choice; a usage chunk
 * (`choices: []`) only when include_usage was asked for; then `data: [DONE]`. */
#ifndef CG_API_CHAT_ENCODE_H
#define CG_API_CHAT_ENCODE_H

#include <stdbool.h>
#include <stdint.h>
#include "api/chat_opts.h"
#include "api/encoder.h"

struct cg_chat_encode_params {
    const char *id;    /* "chatcmpl-..." */
    int64_t created;   /* unix seconds */
    const char *model; /* as the client asked */
    unsigned n;
    bool stream;
    bool include_usage;
    bool expose_reasoning; /* delta.reasoning_content / message.reasoning_content */
    const struct cg_chat_opts *opts;
};

extern const struct cg_encoder_ops cg_chat_encoder_ops;

/* A new encoder (free it through cg_chat_encoder_ops.free). */
void *cg_chat_encoder_new(const struct cg_chat_encode_params *p);

#endif
